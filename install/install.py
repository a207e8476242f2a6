#!/usr/bin/env python3
"""Set up samatte: a virtual environment with pinned dependencies, samatte itself, and model weights.

Standard library only. Usage (from anywhere)::

    python3 install/install.py                      # venv in <repo>/.venv, SAM2 stack, weights
    python3 install/install.py --venv /opt/samatte/venv --offline /studio/weights
    python3 install/install.py --no-sam2 --no-weights

Steps:
 1. make the venv (``--venv DIR``, default ``<repo>/.venv``, with ``--python``, default this Python) unless it
    exists; its Python must be a 3.11 or 3.12, the pins' (install.sh's rule), else exit 7 before anything is made;
 2. ``pip install -r install/requirements.txt`` (the core, pinned; includes pytest);
 3. unless ``--no-sam2``: torch and the SAM2 helpers from ``install/requirements-sam2.txt``, then
    ``SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps sam2==1.1.0``;
 4. ``pip install -e <repo> --no-deps``;
 5. unless ``--no-weights``: ``samatte models download NAME`` for each ``--model`` (default
    sam2.1_hiera_tiny), from ``--offline DIR`` when given (no network), checked against SHA-256.
    Without weights samatte still runs (flow tracker + refine matter) and this script says so and
    exits 0; corrupt weights from ``--offline`` fail with exit status 6.

Re-running is fast: steps 2-4 are skipped when a stamp in the venv shows the same requirements,
options and repo and the installed packages import.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STAMP = "samatte-install.json"
SAM2_PIN = "sam2==1.1.0"
MIN_PY = (3, 9)
# The Pythons the pins of install/requirements*.txt have wheels for (install.sh's ok_py): scipy 1.17.1
# needs 3.11+, numpy 1.26.4 stops at 3.12. Another one is refused before a venv is made (exit 7).
VENV_PY = ((3, 11), (3, 12))
WRONG_PYTHON = 7


def say(msg):
    print("[samatte install] %s" % msg, flush=True)


def venv_python(venv):
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def venv_samatte(venv):
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "samatte.exe")
    return os.path.join(venv, "bin", "samatte")


def run(cmd, *, env=None, verbose=False, check=True):
    """Run a command, echoing it; output is shown only on failure unless ``verbose``."""
    say("$ " + " ".join(cmd))
    full_env = dict(os.environ)
    full_env.update(env or {})
    t0 = time.monotonic()
    if verbose:
        proc = subprocess.run(cmd, env=full_env)
        out = ""
    else:
        proc = subprocess.run(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        out = proc.stdout or ""
    if check and proc.returncode != 0:
        if out:
            sys.stdout.write(out[-6000:])
        raise SystemExit("[samatte install] failed (exit status %d): %s" % (proc.returncode, " ".join(cmd)))
    say("  done in %.1f s" % (time.monotonic() - t0))
    return proc.returncode, out


def pip(py, args, *, verbose=False, env=None):
    base = [py, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if not verbose:
        base.append("-q")
    return run(base + list(args), verbose=verbose, env=env)


def file_hash(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def stamp_key(args):
    files = [os.path.join(HERE, "requirements.txt"), os.path.join(REPO, "pyproject.toml")]
    if not args.no_sam2:
        files.append(os.path.join(HERE, "requirements-sam2.txt"))
    return {"requirements": file_hash(*files), "sam2": not args.no_sam2, "repo": REPO,
            "installer": file_hash(os.path.abspath(__file__))}


def read_stamp(venv):
    try:
        with open(os.path.join(venv, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_stamp(venv, key):
    tmp = os.path.join(venv, STAMP + ".tmp")
    with open(tmp, "w") as f:
        json.dump(key, f, indent=2)
    os.replace(tmp, os.path.join(venv, STAMP))


def imports_ok(py, sam2):
    mods = "numpy, OpenImageIO, PyOpenColorIO, cv2, scipy, PIL, samatte"
    code = "import %s" % mods
    if sam2:
        code += "; import importlib.util as u; assert u.find_spec('torch') and u.find_spec('sam2')"
    return subprocess.run([py, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def python_version(python):
    """``(major, minor)`` of an interpreter, or None when it does not run."""
    try:
        proc = subprocess.run([python, "-c", "import sys; print('%d %d' % sys.version_info[:2])"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True,
                              timeout=120)
        major, minor = proc.stdout.split()
        return int(major), int(minor)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def check_venv_python(python, what, fix):
    """Exit 7, as install.sh does, when ``python`` is not one the pins have wheels for: pip would
    otherwise fail on them after the venv is made (3.10: no scipy 1.17.1; 3.13: numpy 1.26.4 built from
    source for minutes first)."""
    version = python_version(python)
    if version is not None and VENV_PY[0] <= version <= VENV_PY[1]:
        return
    sys.stderr.write("[samatte install] %s is %s, not a Python %d.%d or %d.%d: samatte's pinned packages "
                     "(install/requirements*.txt) have wheels for those only (the host-side modules alone run "
                     "on 3.9+); %s\n" % ((what, "%d.%d" % version if version else "not a Python that runs")
                                         + VENV_PY[0] + VENV_PY[1] + (fix,)))
    raise SystemExit(WRONG_PYTHON)


def make_venv(venv, python):
    py = venv_python(venv)
    if os.path.exists(py):
        check_venv_python(py, "the venv %s's Python" % venv,
                          "remove the venv, or give another --venv, and run the installer with a Python 3.11 "
                          "or 3.12 (or --python PY)")
        say("venv %s exists" % venv)
        return py
    check_venv_python(python, "%s (the Python that makes the venv: --python, else the one running install.py)"
                      % python,
                      "give --python /path/to/python3.11 (or run install/install.sh, which finds one)")
    say("creating venv %s with %s" % (venv, python))
    run([python, "-m", "venv", venv])
    if not os.path.exists(py):
        raise SystemExit("[samatte install] venv creation did not produce %s" % py)
    return py


def install_packages(py, args):
    pip(py, ["-r", os.path.join(HERE, "requirements.txt")], verbose=args.verbose)
    if not args.no_sam2:
        pip(py, ["-r", os.path.join(HERE, "requirements-sam2.txt")], verbose=args.verbose)
        # sam2's setup.py imports torch, so it builds against the venv (no isolation); without
        # SAM2_BUILD_CUDA=0 it would try to compile a CUDA extension. --no-deps: keep our torch.
        have = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('sam2'))"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
        if have.returncode == 0 and have.stdout.strip() == SAM2_PIN.split("==")[1]:
            say("%s already installed" % SAM2_PIN)
        else:
            pip(py, ["setuptools>=61", "wheel"], verbose=args.verbose)
            pip(py, ["--no-build-isolation", "--no-deps", SAM2_PIN], verbose=args.verbose,
                env={"SAM2_BUILD_CUDA": "0"})
    pip(py, ["-e", REPO, "--no-deps"], verbose=args.verbose)


def fetch_weights(venv, args):
    """Returns the exit status for the weights step (0 also when weights could not be fetched)."""
    samatte = venv_samatte(venv)
    py = venv_python(venv)
    cmd = [samatte] if os.path.exists(samatte) else [py, "-m", "samatte"]
    missing = []
    for name in args.model or ["sam2.1_hiera_tiny"]:
        full = cmd + ["models", "download", name]
        if args.offline:
            # a file:// URL goes through as written (samatte reads it as its path); a folder is made absolute
            off = args.offline if args.offline.startswith("file:") else os.path.abspath(args.offline)
            full += ["--offline", off]
        if args.models_dir:
            full += ["--dest", os.path.abspath(args.models_dir)]
        say("$ " + " ".join(full))
        proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        text = (proc.stdout or "").strip()
        if proc.returncode == 0:
            say("weights ready: %s" % text.splitlines()[-1] if text else name)
            continue
        lines = text.splitlines()
        why = [ln for ln in lines if "error [" in ln] or lines[-1:] or ["exit status %d" % proc.returncode]
        if "WEIGHTS_CORRUPT" in text:
            print(text)
            say("the weights for %s failed verification (size or SHA-256); nothing was installed. Check "
                "the source%s and try again" % (name, (" file in %s" % args.offline) if args.offline else ""))
            return 6
        missing.append((name, why[0].strip()))
    for name, why in missing:
        say("no weights for %s: %s" % (name, why))
    if missing:
        say("samatte works without weights: the 'flow' tracker and the 'refine' matter need none.")
        say("To add SAM2 later: %s models download NAME   (or --offline DIR with files you copied in)"
            % (venv_samatte(venv)))
    return 0


def models_dir_note(py, models_dir):
    """A warning when samatte in the venv (with this environment) would not look in ``models_dir`` for
    weights (``--models-dir`` elsewhere than beside the venv, without ``SAMATTE_MODELS``), else None."""
    code = "from samatte import models; print('\\n'.join(str(d) for d in models.search_dirs()))"
    try:
        proc = subprocess.run([py, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True)
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    dirs = [os.path.realpath(d) for d in proc.stdout.splitlines() if d.strip()]
    if os.path.realpath(models_dir) in dirs:
        return None
    models_dir = os.path.abspath(models_dir)
    return ("NOTE: samatte does not look for weights in %s (it looks in %s). Set SAMATTE_MODELS=%s wherever "
            "samatte runs (the shell, Nuke's environment; the farm: samatte farm export --models-dir; Blender: "
            "the add-on's Models folder), or the 'auto' tracker will not find these weights and use 'flow'"
            % (models_dir, ", ".join(dirs), models_dir))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Install samatte into a virtual environment.")
    ap.add_argument("--venv", default=os.path.join(REPO, ".venv"), help="venv folder (default <repo>/.venv)")
    ap.add_argument("--python", default=sys.executable, help="interpreter that creates the venv")
    ap.add_argument("--no-sam2", action="store_true", help="skip torch and SAM2 (weights-free backends only)")
    ap.add_argument("--no-weights", action="store_true", help="do not fetch model weights")
    ap.add_argument("--offline", metavar="DIR", help="take weights from this folder instead of the network")
    ap.add_argument("--model", action="append", help="model weights to fetch (repeatable; default "
                                                     "sam2.1_hiera_tiny; 'all' for every known model)")
    ap.add_argument("--models-dir", help="where weights go (default: a 'models' folder beside the venv, "
                                         "e.g. <repo>/models, where samatte looks first)")
    ap.add_argument("--force", action="store_true", help="reinstall packages even if the stamp matches")
    ap.add_argument("--verbose", action="store_true", help="show pip's output")
    ap.add_argument("--nuke", nargs="?", const=os.path.join(os.path.expanduser("~"), ".nuke"), metavar="DIR",
                    help="also register the Nuke plugin in DIR/init.py (default ~/.nuke) and record this "
                         "venv's python for the SAMatte node")
    ap.add_argument("--blender", action="store_true", help="also install the Blender add-on into Blender's "
                                                           "user extensions and fill in its preferences")
    ap.add_argument("--blender-dir", help="with --blender: this extensions folder instead (e.g. "
                                          ".../extensions/user_default)")
    ap.add_argument("--blender-copy", action="store_true", help="with --blender: copy instead of link")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    if sys.version_info < MIN_PY:
        raise SystemExit("[samatte install] Python %d.%d or newer is needed" % MIN_PY)
    venv = os.path.abspath(args.venv)
    py = make_venv(venv, args.python)
    key = stamp_key(args)
    if not args.force and read_stamp(venv) == key and imports_ok(py, not args.no_sam2):
        say("packages are up to date (stamp %s); use --force to reinstall" % os.path.join(venv, STAMP))
    else:
        install_packages(py, args)
        if not imports_ok(py, not args.no_sam2):
            raise SystemExit("[samatte install] the installed packages do not import; rerun with --verbose")
        write_stamp(venv, key)
    # samatte.models looks for weights in <venv parent>/models when that folder exists.
    if not args.models_dir:
        args.models_dir = os.path.join(os.path.dirname(venv), "models")
    try:
        os.makedirs(args.models_dir, exist_ok=True)
    except OSError as e:
        raise SystemExit("[samatte install] cannot create the models folder %s: %s (the venv is installed; give "
                         "a --models-dir you can write, or make that folder, and run the installer again)"
                         % (args.models_dir, e.strerror or e))
    status = 0
    if args.no_weights:
        say("--no-weights: no model weights fetched. samatte runs with the weights-free backends "
            "(flow tracker, refine matter); add SAM2 weights later with: %s models download sam2.1_hiera_tiny"
            % venv_samatte(venv))
    else:
        status = fetch_weights(venv, args)
    note = models_dir_note(py, args.models_dir)
    if note:
        say(note)
    if args.nuke:
        sys.path.insert(0, os.path.join(REPO, "nuke_plugin", "samatte_nuke"))
        import setup_nuke
        try:
            init, cfg = setup_nuke.install(args.nuke, py)
        except (setup_nuke.SetupError, OSError) as e:
            raise SystemExit("[samatte install] Nuke: cannot register the plugin in %s: %s (the venv is "
                             "installed; fix this and run the installer again)" % (args.nuke, e))
        say("Nuke: %s loads nuke_plugin/; samatte's Python is recorded in %s" % (init, cfg))
    if args.blender:
        sys.path.insert(0, HERE)
        import blender as _blender
        try:
            paths = _blender.install(REPO, python=py, models_dir=args.models_dir, target=args.blender_dir,
                                     copy=args.blender_copy)
        except OSError as e:
            raise SystemExit("[samatte install] Blender: cannot install the add-on: %s (the venv is installed; "
                             "fix this and run the installer again)" % e)
        for path in paths:
            say("Blender add-on: %s (enable 'samatte' in Blender's Preferences > Add-ons)" % path)
    say("samatte is installed in %s (%.0f s). Try: %s demo" % (venv, time.monotonic() - t0, venv_samatte(venv)))
    return status


if __name__ == "__main__":
    sys.exit(main())
