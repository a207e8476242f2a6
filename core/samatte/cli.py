"""The ``samatte`` command line (also ``python -m samatte``).

Commands (documented in the README; scripts outside the repo call them exactly as written)::

    samatte run JOB.json [--json] [--overwrite] [--device D] [--stage S] [--frames RANGE] [--preroll K]
                [--objects NAMES] [--openjd] [--threads N]
    samatte probe PATTERN [...] | samatte status JOB.json [...]
    samatte demo [--out DIR] [--frames N] [--size WxH] [--threads N]
    samatte info [--json]
    samatte track --plate PATTERN [--frames RANGE] --mask-prompt FRAME=PNG_OR_EXR [--mask-prompt ...]
                  [--object NAME] --out PATTERN [--tracker auto|flow|sam2|shapes] [--colourspace CS]
                  [--ocio CONFIG] [--device D] [--threads N]
    samatte refine --plate PATTERN --masks PATTERN --out PATTERN [--frames RANGE] [--quality Q]
                   [--mask-edges auto|rough|tight] [--threads N]
    samatte validate JOB.json
    samatte models list [--json] | samatte models download NAME [--offline DIR]
    samatte qc ... | samatte farm export ... | samatte farm task ...   (samatte.farm.cli)

The README's "Command line" is the full synopsis. ``--threads N`` (also ``$SAMATTE_THREADS``) on every
command that runs a job: :mod:`samatte.threads`.

Exit status: 0 ok; the error's code mapped by :data:`samatte.errors.EXIT_CODES` (2 bad JobSpec,
prompt, frames or usage; 3 plate; 4 colour; 5 output or QC; 6 model; 7 dependency; 8 worker; 9 stored
track missing; 10 out of memory; 130 cancelled or Ctrl-C); 1 anything unexpected (``samatte --help``
lists them: :func:`exit_status_text`). With ``--json`` the run commands write the worker protocol's
``progress`` / ``result`` / ``error`` messages on stdout, one JSON object per line; every other
command taking ``--json`` prints one JSON document on stdout: its result, or (failing, a usage error
included) the protocol's ``error`` message (``code``, ``message``, ``details``).
"""
import argparse
import contextlib
import json
import logging
import os
import platform
import re
import sys
import threading

from . import __version__, registry
from .cachekey import INDEPENDENT_TRACKERS
from .errors import DependencyError, JobSpecError, PromptError, known_failure
from .runner import ProgressPrinter as _ProgressPrinter  # also used by `models download`
from .runner import exit_code_for
from .runner import report_error as _report_error

__all__ = ["main", "build_parser", "exit_code_for"]

_USAGE_EXIT = 2


def _eprint(*args):
    print(*args, file=sys.stderr)
    sys.stderr.flush()


# --- running a job ------------------------------------------------------------------------------------

def run_job(job, *, json_mode=False, quiet=False, **kwargs):
    """Run a validated job in this process with progress on stderr (or protocol lines on stdout with
    ``json_mode``), Ctrl-C cancelling between frames. Returns the exit status."""
    return execute_job(job, json_mode=json_mode, quiet=quiet, **kwargs)[0]


def execute_job(job, *, json_mode=False, quiet=False, summary=True, **kwargs):
    """:func:`run_job` returning ``(exit_status, result dict or None)`` (see :func:`samatte.runner.execute`)."""
    from .runner import execute
    return execute(job, json_mode=json_mode, quiet=quiet, summary=summary, **kwargs)


def _finish_job(job, args):
    """Apply common overrides, validate, and run."""
    from .jobspec import validate
    if getattr(args, "overwrite", False):
        job["output"]["overwrite"] = True
    if getattr(args, "device", None):
        job["device"] = args.device
    job = validate(job)
    # `run --stage/--frames/--preroll` (track and refine use --frames for the plate's range instead)
    is_run = getattr(args, "command", None) == "run"
    return run_job(job, json_mode=getattr(args, "json", False), stage=getattr(args, "stage", None),
                   frames=getattr(args, "frames", None) if is_run else None,
                   preroll=getattr(args, "preroll", None), objects=getattr(args, "objects", None) if is_run else None,
                   openjd=bool(getattr(args, "openjd", False)) and is_run)


# --- commands ---------------------------------------------------------------------------------------

def cmd_run(args):
    from .jobspec import load
    if getattr(args, "openjd", False) and args.json:
        raise JobSpecError("--openjd and --json both write stdout: give one")
    from .runner import openjd_failure
    with openjd_failure(getattr(args, "openjd", False)):   # (a job's own failure is told by the runner)
        return _finish_job(load(args.job), args)


def cmd_validate(args):
    from .jobspec import absent_outside, dumps, load, plate_frames
    job = load(args.job)
    print(dumps(job))
    for text in absent_outside(job, plate_frames(job)):
        print("samatte validate: warning: %s" % text, file=sys.stderr)
    return 0


def _abs(p):
    return None if p is None else os.path.abspath(os.path.expanduser(p))


def _parse_mask_prompt(spec):
    frame, sep, path = spec.partition("=")
    if not sep or not path.strip():
        raise PromptError("--mask-prompt must be FRAME=PATH (e.g. 1012=/tmp/hero.1012.png), got %r" % spec,
                          value=spec)
    try:
        frame = int(frame.strip())
    except ValueError:
        raise PromptError("--mask-prompt frame %r is not an integer frame number" % frame, value=spec)
    return frame, _abs(path.strip())


def cmd_track(args):
    from .jobspec import add_object, mask_prompt, new_job
    if not args.mask_prompt:
        raise PromptError("track needs at least one --mask-prompt FRAME=PATH")
    job = new_job(_abs(args.plate), _abs(args.out), frames=args.frames, colourspace=args.colourspace,
                  ocio_config=_ocio(args.ocio), layer=args.layer, name=args.name, tracker=args.tracker,
                  matte="none", device=args.device or "auto", overwrite=args.overwrite,
                  foreground=False, quality_map=False)
    prompts = []
    for spec in args.mask_prompt:
        frame, path = _parse_mask_prompt(spec)
        prompts.append(mask_prompt(frame, path, channel=args.mask_channel))
    add_object(job, args.object, prompts)
    return _finish_job(job, args)


def cmd_refine(args):
    from .jobspec import add_object, new_job
    job = new_job(_abs(args.plate), _abs(args.out), frames=args.frames, colourspace=args.colourspace,
                  ocio_config=_ocio(args.ocio), layer=args.layer, name=args.name, tracker="auto",
                  matte=args.matte, quality=args.quality, device=args.device or "auto",
                  overwrite=args.overwrite)
    masks = {"path": _abs(args.masks)}
    if args.mask_channel:
        masks["channel"] = args.mask_channel
    add_object(job, args.object, masks=masks)
    job["matte"]["options"]["masks"] = args.mask_edges
    return _finish_job(job, args)


def _ocio(cfg):
    if cfg is None or cfg.startswith("ocio://"):
        return cfg
    return _abs(cfg)


def _dist_version(name, module=None):
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        metadata = None
    if metadata is not None:
        try:
            return metadata.version(name)
        except Exception:  # noqa: BLE001
            pass
    if module:
        import importlib.util
        if importlib.util.find_spec(module) is not None:
            return "installed (version unknown)"
    return "not installed"


def gather_info(*, probe_devices=True):
    """Everything ``samatte info`` reports, as a JSON-safe dict."""
    from .worker import capabilities
    info = {
        "samatte": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": {
            "numpy": _dist_version("numpy", "numpy"),
            "torch": _dist_version("torch", "torch"),
            "sam2": _dist_version("sam2", "sam2"),
            "OpenImageIO": _dist_version("OpenImageIO", "OpenImageIO"),
            "opencolorio": _dist_version("opencolorio", "PyOpenColorIO"),
            "opencv": _dist_version("opencv-python-headless", "cv2"),
            "scipy": _dist_version("scipy", "scipy"),
            "pymatting": _dist_version("PyMatting", "pymatting"),
        },
    }
    caps = capabilities(probe=probe_devices)
    info["devices"] = caps["devices"]
    info["trackers"] = caps["trackers"]
    info["mattes"] = caps["mattes"]
    info["models"] = caps["models"]
    info["missing"] = caps["missing"]
    try:
        from . import models
        info["models_dir"] = str(models.models_dir())
        # weights found that a job would refuse (truncated, unreadable): name -> what is wrong
        info["models_problems"] = {n: p for n in info["models"]
                                   for p in [models.weights_status(n)["problem"]] if p}
    except Exception as e:  # noqa: BLE001 - the models module is optional here
        info["models_dir"] = None
        info["models_error"] = "%s: %s" % (type(e).__name__, e)
    try:
        from .colour import ColourTransform
        info["ocio"] = ColourTransform().describe()
    except Exception as e:  # noqa: BLE001
        info["ocio"] = {"error": "%s: %s" % (type(e).__name__, e)}
    return info


def cmd_info(args):
    info = gather_info()
    from .threads import describe
    info["threads"] = describe()
    if args.json:
        json_document(args, info, indent=2, default=str)
        return 0
    print("samatte %s  (python %s, %s)" % (info["samatte"], info["python"], info["executable"]))
    print("packages:")
    for k, v in info["packages"].items():
        print("  %-12s %s" % (k, v))
    if info.get("missing"):
        print("missing:  %s (the install is incomplete: run install/install.sh)" % ", ".join(info["missing"]))
    print("devices:  %s" % ", ".join(info["devices"]))
    print("threads:  %(threads)d (from %(source)s; %(cpus)d CPU(s) this process may use)" % info["threads"])
    print("trackers: %s" % ", ".join(info["trackers"]))
    print("mattes:   %s" % ", ".join(info["mattes"]))
    print("models (folder %s):" % info.get("models_dir"))
    if not info["models"]:
        print("  (none known)")
    for name, path in info["models"].items():
        problem = (info.get("models_problems") or {}).get(name)
        print("  %-22s %s" % (name, ("%s: %s" % (problem, path)) if problem else (path or "not downloaded")))
    o = info.get("ocio") or {}
    if "error" in o:
        print("ocio:     unavailable (%s)" % o["error"])
    else:
        print("ocio:     config %s, colourspace %s, display %s, view %s"
              % (o.get("config"), o.get("colourspace"), o.get("display"), o.get("view")))
    return 0


def cmd_models(args):
    try:
        from . import models
    except ImportError as e:
        raise DependencyError("samatte.models cannot be imported: %s" % e)
    if args.models_cmd == "list":
        rows = []
        problems = {}
        for name, mi in models.MODELS.items():
            st = models.weights_status(name)
            path = st["path"]
            problems[name] = st["problem"]
            rows.append({"name": name, "path": str(path) if path else None,
                         "size": getattr(mi, "size", None), "url": getattr(mi, "url", None),
                         "sha256": getattr(mi, "sha256", None),
                         # a truncated copy is found but would be refused when loaded (WEIGHTS_CORRUPT)
                         "complete": st["complete"],
                         "installed_size": st["installed_size"],
                         # found, but this user may not read it (a share's permissions): MODEL_ERROR in a job
                         "readable": st["readable"]})
        if args.json:
            json_document(args, {"models_dir": str(models.models_dir()), "models": rows}, indent=2)
            return 0
        print("models folder: %s" % models.models_dir())
        for r in rows:
            size = ("%.0f MB" % (r["size"] / 1e6)) if isinstance(r["size"], (int, float)) and r["size"] else ""
            where = r["path"] or "not downloaded"
            if problems[r["name"]]:
                where = "%s: %s" % (problems[r["name"]], r["path"])
            print("  %-22s %-8s %s" % (r["name"], size, where))
        return 0
    # download
    names = list(models.MODELS) if args.name == "all" else [models.get_model(args.name).name]
    for name in names:
        printer = _ProgressPrinter()
        path = models.download(name, dest=_abs(args.dest), offline_dir=_abs(models.offline_path(args.offline)),
                                progress=printer)
        printer.end_line()
        print("%s: %s" % (name, path))
    return 0


def cmd_demo(args):
    from .demo import run_demo
    size = args.size
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise JobSpecError("--size must be WIDTHxHEIGHT, e.g. 640x360, not %r" % size)
    report = run_demo(args.out, frames=args.frames, size=(w, h), first=args.first, quiet=args.quiet,
                      overwrite=args.overwrite)
    return report.get("exit_code", 0)


# --- parser -----------------------------------------------------------------------------------------

def add_threads_arg(p):
    """``--threads N``: the CPU threads of every library the command runs (samatte.threads)."""
    p.add_argument("--threads", metavar="N",
                   help="CPU threads for every library samatte runs (OpenBLAS, OpenCV, OpenImageIO, numba, "
                        "torch; 2 or more: a frame's objects are matted two at a time); auto or 0: the default, "
                        "$SAMATTE_THREADS, else $OMP_NUM_THREADS, else the CPUs this process may use (affinity, "
                        "cgroup quota)")


def _add_plate_args(p):
    p.add_argument("--plate", required=True, help="plate EXR pattern, e.g. /shots/sh010/plate.####.exr")
    p.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: the range in the plate pattern, "
                   "else the frames on disk)")
    p.add_argument("--out", required=True, help="output EXR pattern, e.g. /out/sh010_matte.####.exr")
    p.add_argument("--object", default="object", help="object (layer) name (default: object)")
    p.add_argument("--name", default="samatte", help="job name (written in the EXR metadata)")
    p.add_argument("--colourspace", help="the plate's OCIO colourspace (default: what a float EXR's header names, "
                   "when the config resolves it, else the config's scene_linear)")
    p.add_argument("--ocio", help="OCIO config path or ocio:// URI (default: $OCIO, else built-in)")
    p.add_argument("--layer", help="EXR layer of the plate to read (default: RGB)")
    p.add_argument("--mask-channel", help="channel to read from mask files, e.g. A, hero.A, rgba.alpha (default: the alpha unless it is "
                   "opaque, else a one-channel file's channel, else the maximum of R, G, B)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    p.add_argument("--overwrite", action="store_true", help="rewrite frames that are already complete")
    p.add_argument("--json", action="store_true", help="JSON-lines events on stdout instead of a progress bar")
    add_threads_arg(p)


# --- probe / status (cache owner) --------------------------------------------------------------------

def cmd_probe(args):
    from .pipeline import probe
    res = probe(args.plate, frames=args.frames, layer=args.layer, ocio_config=_ocio(args.ocio))
    if args.json:
        json_document(args, res, sort_keys=True)
    else:
        for k in ("path", "display_window", "data_window", "pixel_aspect", "channels", "layers", "frames_on_disk",
                  "first", "last", "colourspace", "chromaticities", "pixel_type"):
            print("%-15s %s" % (k, res.get(k)))
        ra = res.get("read_as") or {}
        print("%-15s %s (%s%s)" % ("read_as", ra.get("colourspace"), ra.get("from"),
                                   ": %s" % ra["note"] if ra.get("note") else ""))
        print("coordinates:    %s" % res["coordinates"])
    return 0


def cmd_status(args):
    from .frames import format_frames
    from .jobspec import load
    from .pipeline import frame_status
    res = frame_status(load(args.job), frames=args.frames)
    if args.json:
        json_document(args, res, sort_keys=True)
        return 0
    print("tracker %(tracker)s, matte %(matte)s" % res["resolved"])
    for what in ("frames", "track"):
        by = {}
        for f, st in res[what].items():
            by.setdefault(st, []).append(int(f))
        print("%-7s %s" % ("output" if what == "frames" else "track",
                           ", ".join("%s %s" % (st, format_frames(sorted(fs))) for st, fs in sorted(by.items()))))
    foreign = sorted(int(f) for f, p in res.get("problems", {}).items() if p["status"] == "foreign")
    if foreign:   # counted as stale above, but a re-run refuses them (not samatte's, or another job's)
        print("foreign %s: not this job's samatte frames, a re-run does not replace them (move them away, or "
              "--overwrite)" % format_frames(foreign))
    if res.get("absent"):
        print("absent  %s" % ", ".join("%s %s" % kv for kv in res["absent"].items()))
    for t in res.get("temps") or []:   # a pre-empted node's frame in flight, or one being written now
        print("temp    %s (host %s, pid %d, %s): %s" % (t["path"], t["host"] or "unknown", t["pid"],
                                                     "dated in the future" if t["age_s"] < 0 else
                                                     "%.0f s old" % t["age_s"], t["note"]))
    return 0


def _add_cache_commands(sub, run_parser):
    """``run --stage/--frames/--preroll``; ``probe``; ``status``."""
    from .protocol import STAGES
    run_parser.add_argument("--stage", choices=STAGES, default=None,
                            help="track: store the track in the work dir; matte: matte from the stored track "
                                 "(TRACK_MISSING if absent or stale); all (default): both, reusing a current track")
    run_parser.add_argument("--frames", help="a subset of the job's frames, e.g. 1040-1060 (cache keys do not "
                                             "change with it)")
    run_parser.add_argument("--preroll", type=int, default=None,
                            help="frames matted but not written before a chunk whose previous frame is not "
                                 "finished (default 4: bench/bench_chunks.py)")
    run_parser.add_argument("--openjd", action="store_true",
                            help="also print Open Job Description's progress / status / fail lines on stdout "
                                 "(openjd_progress: N, openjd_status: ..., openjd_fail: ...; farm task does)")
    run_parser.add_argument("--objects", metavar="NAME[,NAME]", default=None,
                            help="with --stage track: track only these objects (trackers that treat objects "
                                 "independently: %s; one farm task per object)" % ", ".join(INDEPENDENT_TRACKERS))
    p = sub.add_parser("probe", help="a plate's windows, pixel aspect, channels, layers and frames on disk")
    p.add_argument("plate", metavar="PATTERN")
    p.add_argument("--frames", help="frames to check (default: those on disk)")
    p.add_argument("--layer", help="EXR layer")
    p.add_argument("--ocio", help="OCIO config for read_as (what a job naming no colourspace reads the plate as; "
                   "default: $OCIO, else the built-in config)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_probe)
    p = sub.add_parser("status", help="per frame of a job: complete, stale or missing (output and track)")
    p.add_argument("job", metavar="JOB.json")
    p.add_argument("--frames", help="a subset of the job's frames")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_status)


class _Parser(argparse.ArgumentParser):
    """argparse's parser that keeps its usage error's text (``usage_error``) for ``main``: a `run
    --json` with a bad flag still ends its event stream with an error message."""

    usage_error = None

    def error(self, message):
        _Parser.usage_error = "%s: error: %s" % (self.prog, message)
        super().error(message)


# commands whose --json output is the worker protocol's event stream (README "Command line"); every
# other command taking --json prints one JSON document: its result, or the protocol's error message
_STREAM_COMMANDS = ("run", "track", "refine")


def _asks_json(argv):
    """Whether a command line asks for --json (also spelled as argparse's unambiguous prefix, --js)."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    return any(w == "--json" or (len(w) >= 3 and "--json".startswith(w)) or w.startswith("--json=")
               for w in words)


def _asks_openjd(argv):
    """Whether a command line refused by argparse is an OpenJD task's: `run` / `qc` with the --openjd flag
    (or argparse's unambiguous prefix of it, --op...), or `farm task` (what a farm template runs)."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    cmd = [w for w in words if not w.startswith("-")][:2]
    if cmd[:2] == ["farm", "task"]:
        return True
    return cmd[:1] in (["run"], ["qc"]) and any(
        w == "--openjd" or (len(w) >= 4 and "--openjd".startswith(w)) for w in words)


def _usage_error_document(argv):
    """After argparse refused ``argv`` (exit 2): a command line asking for --json gets the refusal
    on stdout as the protocol's one `error` message (JOBSPEC_INVALID, the code of exit status 2):
    for `run`/`track`/`refine` the event stream's end, for the others their one JSON document. An OpenJD
    task's (:func:`_asks_openjd`) gets it as its ``openjd_fail:`` line, the render manager's failure reason
    (before: none, the task's reason read only "exit status 2")."""
    argv = [str(a) for a in argv]
    if not _asks_json(argv):
        if _asks_openjd(argv):
            from .runner import OpenJDProgress
            OpenJDProgress().fail(JobSpecError(_Parser.usage_error or "invalid command line"))
        return
    from . import protocol
    text = _Parser.usage_error or "invalid command line"
    _write_stdout(protocol.encode(protocol.error("samatte", JobSpecError.code, text,
                                                 {"field": "command line"})))


def _write_stdout(text):
    """Write ``text`` on stdout; a reader that went away is not a failure (the exit status stands); a stdout
    that cannot be written (a full disk) is told by :class:`_Stdout` when the command ends."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):   # (a stdout that is not main's :class:`_Stdout`: a host's, a test's)
        from .runner import silence_stdout
        silence_stdout()


def json_document(args, doc, **dumps_kwargs):
    """What a non-streaming command prints with --json: kept until the command returns (``main`` prints
    ``json.dumps(doc, **dumps_kwargs)`` then; while the command runs stdout goes to stderr, so nothing
    a library prints joins it). Failing afterwards (`qc`), the document gets the error's fields."""
    args._json_document = (doc, dumps_kwargs)


def _document_mode(args):
    return bool(getattr(args, "json", False)) and args.command not in _STREAM_COMMANDS


@contextlib.contextmanager
def _stdout_to_stderr():
    """While a --json command runs: fd 1 and ``sys.stdout`` go to stderr (libraries' chatter), both
    put back afterwards for the one document: :func:`samatte.runner.protect_stdout` and
    :func:`samatte.runner.restore_stdout`, as around a ``run --json`` job (a process with no fd 1 to
    duplicate: ``sys.stdout`` alone)."""
    from .runner import protect_stdout, restore_stdout
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    saved = sys.stdout
    try:
        out = protect_stdout()
    except OSError:
        out = None
        sys.stdout = sys.stderr
    try:
        yield
    finally:
        if out is not None:
            restore_stdout(out, saved)
        else:
            sys.stdout = saved


def _error_document(args, e):
    """The one JSON document of a failed non-streaming --json command: the protocol's error message
    (``type`` error, ``code``, ``message``, ``details``), added to the command's own document when it
    made one before failing (`qc`: the report)."""
    from . import protocol
    msg = protocol.error_from_exception("samatte", e)
    doc, kwargs = getattr(args, "_json_document", None) or (None, {})
    if isinstance(doc, dict):
        merged = dict(doc)
        merged.update(msg)
        try:
            return json.dumps(merged, **kwargs) + "\n"
        except (TypeError, ValueError):
            pass
    return protocol.encode(msg)


# fd 1 and ``sys.stdout`` are the process's: a second --json command run in another thread meanwhile (a host
# or a test calling ``main`` in threads) saved the redirected fd 1 and put it back after the first had restored
# it, so its document went to stderr and so did the program's stdout from then on. One at a time instead.
_DOCUMENT_LOCK = threading.RLock()


def _run_document(args):
    """Run a non-streaming --json command: its document, or its error's, is the only text on stdout
    (one such command at a time in a process: :data:`_DOCUMENT_LOCK`)."""
    with _DOCUMENT_LOCK:
        return _run_document_locked(args)


def _run_document_locked(args):
    try:
        with _stdout_to_stderr():
            from .threads import configure
            configure(getattr(args, "threads", None))
            rc = args.func(args)
        doc, kwargs = getattr(args, "_json_document", None) or (None, None)
        text = None if kwargs is None else json.dumps(doc, **kwargs) + "\n"
    except BrokenPipeError:
        raise
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            from .errors import CancelledError
            err = CancelledError("interrupted")
        elif isinstance(e, Exception):
            err = known_failure(e)
        else:
            raise
        _write_stdout(_error_document(args, err))
        raise
    if text is not None:
        _write_stdout(text)
    return rc


def exit_status_text():
    """``samatte --help``'s list of exit statuses, from :data:`samatte.errors.EXIT_CODES` (README "Exit status")."""
    from .errors import EXIT_CODES
    by_status = {}
    for code, status in EXIT_CODES.items():
        by_status.setdefault(status, []).append(code)
    return "exit status: 0 success; " + "; ".join(
        "%d %s" % (status, ", ".join(sorted(by_status[status]))) for status in sorted(by_status)) + \
        " (README.md, Exit status)"


def build_parser():
    parser = _Parser(prog="samatte", description="AI tracking and matting for compositors.",
                     epilog=exit_status_text())
    parser.add_argument("--version", action="version", version="samatte %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a JobSpec")
    p.add_argument("job", metavar="JOB.json")
    p.add_argument("--json", action="store_true", help="JSON-lines events on stdout instead of a progress bar")
    p.add_argument("--overwrite", action="store_true", help="rewrite frames that are already complete")
    p.add_argument("--device", help="override the job's device (auto, cpu, cuda, cuda:N, mps)")
    add_threads_arg(p)
    p.set_defaults(func=cmd_run)
    _add_cache_commands(sub, p)

    p = sub.add_parser("demo", help="make a synthetic EXR shot, matte it, write a contact sheet")
    p.add_argument("--out", default="samatte_demo", help="output folder (default: ./samatte_demo)")
    p.add_argument("--frames", type=int, default=24, help="number of frames (default 24)")
    p.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
    p.add_argument("--first", type=int, default=1001, help="first frame number (default 1001)")
    p.add_argument("--overwrite", action="store_true", help="redo the matte even if it is on disk")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_arg(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("info", help="versions, devices, threads, models and OCIO config")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("track", help="track masks from mask prompts (writes binary-ish mask EXRs, no matting)")
    _add_plate_args(p)
    p.add_argument("--mask-prompt", action="append", default=[], metavar="FRAME=PNG_OR_EXR",
                   help="a mask of the object on one frame (repeatable)")
    p.add_argument("--tracker", default="auto", choices=registry.TRACKER_BACKENDS,
                   help="tracker (default auto: sam2 when its weights are installed, else flow)")
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("refine", help="turn existing per-frame masks into soft mattes (refine-only)")
    _add_plate_args(p)
    p.add_argument("--masks", required=True, help="mask pattern (PNG or EXR), e.g. /roto/car.####.png")
    p.add_argument("--quality", default="default", choices=registry.MATTE_QUALITIES,
                   help="matte quality (default: default; high refines twice, about twice the time)")
    p.add_argument("--matte", default="auto", choices=registry.MATTE_BACKENDS,
                   help="matte backend (default auto)")
    p.add_argument("--mask-edges", default="auto", choices=registry.MATTE_OPTIONS["masks"].choices,
                   help="how close the masks' edges are to the real ones: rough (roto shapes, masks from a "
                        "much smaller resolution), tight (a segmentation model's masks) or auto (default: "
                        "told per frame from how the image agrees with the mask's edge)")
    p.set_defaults(func=cmd_refine)

    p = sub.add_parser("validate", help="check a JobSpec and print it normalised")
    p.add_argument("job", metavar="JOB.json")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("models", help="list or download model weights")
    msub = p.add_subparsers(dest="models_cmd", metavar="list|download")
    m = msub.add_parser("list", help="known models and where their weights are (INCOMPLETE / UNREADABLE: "
                                     "weights a job would refuse)")
    m.add_argument("--json", action="store_true", help="one JSON object on stdout")
    m = msub.add_parser("download", help="download (or copy from --offline DIR) and verify weights")
    m.add_argument("name", help="model name, or 'all'")
    m.add_argument("--offline", "--offline-dir", dest="offline", metavar="DIR",
                   help="take the weights file from this folder (no network); --offline-dir is the same")
    m.add_argument("--dest", metavar="DIR", help="models folder (default: samatte's models folder)")
    p.set_defaults(func=cmd_models)

    from .farm.cli import add_commands as _farm_commands  # `samatte farm ...`, `samatte qc` (farm owner)
    _farm_commands(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and hosts swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def log_level(value, default=logging.WARNING):
    """(level, problem): ``$SAMATTE_LOG_LEVEL``'s level (a name :mod:`logging` knows, any case: DEBUG, INFO,
    WARNING / WARN, ERROR, CRITICAL / FATAL, NOTSET, or a level's number), else ``default`` and, for a value
    that is neither, the sentence that says so (``verbose`` or ``trace`` was WARNING without a word)."""
    text = str(value or "").strip().upper()
    if not text:
        return default, None
    if text.isdigit():
        return int(text), None
    # (FATAL and NOTSET, which the environment variable took before it was checked, are logging's names too)
    level = logging.getLevelName(text)
    if isinstance(level, int):
        return level, None
    return default, ("SAMATTE_LOG_LEVEL %r is not a level (DEBUG, INFO, WARNING, ERROR, or a number): %s is used"
                     % (value, logging.getLevelName(default)))


def _setup_logging():
    root = logging.getLogger()
    if any(isinstance(h, _StderrHandler) for h in root.handlers) or root.handlers:
        return
    level, problem = log_level(os.environ.get("SAMATTE_LOG_LEVEL"))
    h = _StderrHandler()
    h.setFormatter(logging.Formatter("samatte %(levelname)s %(name)s: %(message)s"))
    root.addHandler(h)
    root.setLevel(level)
    if problem:
        logging.getLogger("samatte").warning("%s", problem)


def _usable_std_streams():
    """A closed stdout or stderr (``samatte run job.json >&-``; Python then sets ``sys.stdout`` /
    ``sys.stderr`` to None) becomes the null device: output nobody reads never fails a job. Characters
    the streams' encoding cannot hold (a unicode path on a cp1252 or ASCII console) are written as
    backslash escapes instead of raising UnicodeEncodeError."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is None:
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
                setattr(sys, name, open(fd, "w", closefd=False))
            except OSError:
                continue
        else:
            try:
                stream.reconfigure(errors="backslashreplace")
            except (AttributeError, OSError, ValueError):  # not a TextIOWrapper (a host's or a test's stream)
                pass


def _group_usage(parser, group):
    """``samatte models`` / ``samatte farm`` without a subcommand: the group's help on stderr, exit 2."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices[group].print_help(sys.stderr)
    return _USAGE_EXIT


class _Stdout:
    """``sys.stdout`` while a command runs (:func:`main`). A reader that went away (``samatte validate job.json
    | head -1``, ``samatte models list | grep -q tiny``) is not a failure: the rest is dropped and the command's
    own exit status stands, as for ``run`` (before: exit 1, a bug's status, with no message, for a command
    that had done its work). A stdout that cannot be written (a full disk or quota, an I/O error: ``samatte
    status job.json --json > /full/status.json``) is OUTPUT_INVALID, exit 5, for a command whose stdout is
    its result (before: a text command's traceback, exit 1; a --json document lost with exit 0, an empty
    file for the script's ``jq``). A job's own run (``run``, ``track``, ``refine``, ``farm task``: frames
    written) keeps its status either way. Writing never raises; what failed is kept in ``error``."""

    def __init__(self, stream):
        self.stream = stream
        self.gone = False
        self.error = None

    def write(self, text):
        if self.gone or self.error is not None:
            return len(text)
        try:
            return self.stream.write(text)
        except UnicodeError:   # (text the stream cannot encode: not the stdout's fault)
            raise
        except (OSError, ValueError) as e:
            self._failed(e)
            return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self.gone or self.error is not None:
            return
        try:
            self.stream.flush()
        except (OSError, ValueError) as e:
            self._failed(e)

    def _failed(self, e):
        import errno
        from .runner import silence_stdout
        silence_stdout()   # what the stream still holds goes to the null device: no error again at exit
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass
        if isinstance(e, (BrokenPipeError, ValueError)) or getattr(e, "errno", None) in (errno.EPIPE, errno.EBADF):
            self.gone = True
        else:
            self.error = e

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def exit_status(self, rc, args):
        """The command's exit status ``rc``, or 5 when it succeeded but its result could not be written."""
        if self.error is None or rc or args is None or not _stdout_is_result(args):
            return rc
        from .errors import OutputError
        e = self.error
        command = " ".join(c for c in (args.command, getattr(args, "models_cmd", None),
                                       getattr(args, "farm_cmd", None)) if c)
        err = OutputError("cannot write the output of samatte %s on stdout: %s" % (
            command, getattr(e, "strerror", None) or e), command=command, errno=getattr(e, "errno", None))
        _report_error(err)
        return exit_code_for(err)


def _stdout_is_result(args):
    """Whether a command's stdout is its result (its text or --json document), not a job's progress."""
    return args.command not in _STREAM_COMMANDS + ("demo",) and not (
        args.command == "farm" and getattr(args, "farm_cmd", None) == "task")


def main(argv=None):
    _usable_std_streams()
    if isinstance(sys.stdout, _Stdout) or sys.stdout is None:   # (``farm task`` runs ``main`` inside ``main``)
        return _main(argv, None)
    out = sys.stdout = _Stdout(sys.stdout)
    state = {"args": None}
    try:
        rc = _main(argv, state)
    finally:
        out.flush()   # (--help, --version, a usage error too: their text flushed here, not failing at exit)
        if sys.stdout is out:
            sys.stdout = out.stream
    return out.exit_status(rc, state["args"])


#: options whose value may start with a minus: a range of negative frames (``--frames -10-20``, a shot with
#: pre-roll before 0) was argparse's "expected one argument" (it took ``-10-20`` for an option); only a lone
#: negative number (``-5``) passed. ``--frames=-10-20`` always worked.
_SIGNED_VALUE_FLAGS = ("--frames", "--first")
_SIGNED_VALUE = re.compile(r"^-\d[\d\s,:x-]*$")


def _join_signed_values(argv):
    """``argv`` with ``--frames -10-20`` given as ``--frames=-10-20`` (a value that is a frame range)."""
    out = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(argv[i:])
            break
        if a in _SIGNED_VALUE_FLAGS and i + 1 < len(argv) and _SIGNED_VALUE.match(str(argv[i + 1])):
            out.append("%s=%s" % (a, argv[i + 1]))
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def _main(argv, state):
    parser = build_parser()
    argv = _join_signed_values(sys.argv[1:] if argv is None else list(argv))
    _Parser.usage_error = None
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code == _USAGE_EXIT:
            _usage_error_document(argv)
        raise
    if state is not None:
        state["args"] = args
    _setup_logging()
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return _USAGE_EXIT
    if args.command == "models" and not args.models_cmd:
        return _group_usage(parser, "models")
    if args.command == "farm" and not getattr(args, "farm_cmd", None):
        return _group_usage(parser, "farm")
    try:
        if _document_mode(args):
            return _run_document(args)      # the thread budget is set inside: a bad one is its error document
        from .runner import openjd_failure
        from .threads import configure
        # a bad --threads / $SAMATTE_THREADS is an OpenJD task's failure reason too (run / qc --openjd, farm task)
        with openjd_failure(_asks_openjd(argv) and not getattr(args, "json", False)):
            configure(getattr(args, "threads", None))
        return args.func(args)
    except KeyboardInterrupt:
        if getattr(args, "json", False) and args.command in _STREAM_COMMANDS:
            from . import protocol
            _write_stdout(protocol.encode(protocol.error("samatte", "CANCELLED", "interrupted")))
        _eprint("samatte: interrupted")
        return 130
    except BrokenPipeError:
        # Whoever read our stdout went away (a job's own output never ends here: see runner.execute; main's
        # _Stdout never raises it: a stdout a host or a test gave)
        from .runner import silence_stdout
        silence_stdout()
        return 1
    except Exception as e:  # noqa: BLE001 - mapped to documented exit codes
        e = known_failure(e)   # an incomplete install: DEPENDENCY_MISSING (exit 7), memory: OUT_OF_MEMORY
        if getattr(args, "json", False) and args.command in _STREAM_COMMANDS:
            # Hosts reading --json events get the error as a protocol message too.
            from . import protocol
            _write_stdout(protocol.encode(protocol.error_from_exception("samatte", e)))
        _report_error(e)
        return exit_code_for(e)


if __name__ == "__main__":
    sys.exit(main())
