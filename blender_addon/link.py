"""Find samatte's host-side modules from the samatte Python (the installer's venv interpreter) and
import them into Blender (standard library only; no bpy).

Blender's own Python cannot import the venv's packages (numpy, torch...), and must not: only the
stdlib-only modules (``samatte.jobspec``, ``client``, ``names``...) are imported here, from the
folder that holds the ``samatte`` package the given Python uses.
"""
import importlib.util
import os
import subprocess
import sys

from .hosterrors import HostError

__all__ = ["samatte_root", "ensure_samatte", "client_module", "pick_python", "follow_installer", "picked_by"]

_CACHE = {}
_PICKED = {}   # absolute python -> the words of the rule that last picked it (errors name it)
#: the add-on folder as installed (a linked add-on: ``<install>/blender_addon``); tests point it elsewhere
ADDON_DIR = os.path.dirname(os.path.realpath(__file__))


def _venv_python(venv):
    return os.path.join(venv, "Scripts", "python.exe") if os.name == "nt" else os.path.join(venv, "bin", "python")


def follow_installer(current, filled, installed):
    """``(value, filled)`` of a preference the installer's ``samatte_install.json`` fills: ``installed`` when the
    preference is empty, or still holds what an earlier install filled in (``filled``) and the installer now
    names another (``install.sh --blender`` of a newer version); a value set by hand (not ``filled``) stays."""
    if installed and (not current or current in (filled, installed)):
        return installed, installed      # (equal to what the installer names: filled by an earlier add-on too)
    return current, filled


def pick_python(pref, *, auto=False, environ=None):
    """``(python, words)``: the samatte Python Blender runs and the rule that picked it: the preferences'
    samatte Python set by hand; else ``$SAMATTE_PYTHON``; else the one the installer filled in (``auto``: the
    preference holds what ``samatte_install.json`` named); else the venv beside the add-on's install
    (``<install>/.venv``, a linked add-on). ``("", None)`` when none."""
    environ = os.environ if environ is None else environ
    if pref and not auto:
        python, words = pref, "Preferences > samatte Python"
    elif environ.get("SAMATTE_PYTHON"):
        python, words = environ["SAMATTE_PYTHON"], "$SAMATTE_PYTHON"
    elif pref:
        python, words = pref, "Preferences > samatte Python, as the installer filled it in"
    else:
        python = _venv_python(os.path.join(os.path.dirname(ADDON_DIR), ".venv"))
        if not os.path.isfile(python):
            return "", None
        words = "the venv beside the add-on's install (%s)" % os.path.dirname(ADDON_DIR)
    _PICKED[os.path.abspath(os.path.expanduser(python))] = words
    return python, words


def picked_by(python):
    """The words of the rule that picked ``python`` (None: not picked by :func:`pick_python`)."""
    return _PICKED.get(os.path.abspath(os.path.expanduser(python))) if python else None


def _from(python):
    words = picked_by(python)
    return " (from %s)" % words if words else ""
_PROBE = "import os, samatte; print(os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__))))"


def samatte_root(python, *, timeout=60):
    """The folder holding the ``samatte`` package that ``python`` imports (cached per path)."""
    if not python:
        raise HostError("WORKER_FAILED", "no samatte Python is set: Preferences > Add-ons > samatte > "
                        "samatte Python (the venv's python, e.g. <samatte>/.venv/bin/python), or $SAMATTE_PYTHON")
    python = os.path.abspath(os.path.expanduser(python))
    if python in _CACHE:
        return _CACHE[python]
    if os.path.isdir(python):
        raise HostError("WORKER_FAILED", "the samatte Python %s is a folder: pick the venv's python file "
                        "(e.g. <samatte>/.venv/bin/python) in Preferences > samatte Python%s" % (python, _from(python)))
    if not os.path.isfile(python):
        raise HostError("WORKER_FAILED", "the samatte Python %s does not exist (%s)"
                        % (python, "from " + picked_by(python) if picked_by(python) else "Preferences > samatte Python"))
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        raise HostError("WORKER_FAILED", "cannot run the samatte Python %s: %s%s" % (python, e, _from(python)))
    if out.returncode != 0:
        # a program that fails silently (not a Python: /bin/false, a broken wrapper) says why by its status only
        tail = (out.stderr or "").strip().splitlines()[-1:] or ["it printed nothing, exit status %d"
                                                                   % out.returncode]
        raise HostError("WORKER_FAILED", "%s has no samatte (import samatte failed: %s); set the Python of "
                        "the venv samatte's installer made%s" % (python, tail[0], _from(python)))
    root = out.stdout.strip().splitlines()[-1]
    _CACHE[python] = root
    return root


def ensure_samatte(python):
    """Make ``import samatte`` work in this (Blender's) Python, from ``python``'s installation.

    Only the ``samatte`` package is loaded (by its folder, without adding the venv's site-packages
    to ``sys.path``, so the venv's numpy, OpenCV or torch never shadow Blender's); its stdlib-only
    modules are what the add-on imports."""
    root = samatte_root(python)
    if "samatte" not in sys.modules:
        pkg = os.path.join(root, "samatte")
        spec = importlib.util.spec_from_file_location("samatte", os.path.join(pkg, "__init__.py"),
                                                      submodule_search_locations=[pkg])
        if spec is None or spec.loader is None:
            raise HostError("WORKER_FAILED", "no samatte package in %s" % root)
        module = importlib.util.module_from_spec(spec)
        sys.modules["samatte"] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - shown to the user
            del sys.modules["samatte"]
            raise HostError("WORKER_FAILED", "cannot import samatte from %s: %s" % (root, e))
    try:
        import samatte.client  # noqa: F401
        import samatte.jobspec  # noqa: F401
    except ImportError as e:
        raise HostError("WORKER_FAILED", "cannot import samatte's host modules from %s: %s" % (root, e))
    return root


def client_module(python):
    ensure_samatte(python)
    import samatte.client
    return samatte.client
