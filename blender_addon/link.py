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

__all__ = ["samatte_root", "ensure_samatte", "client_module"]

_CACHE = {}
_PROBE = "import os, samatte; print(os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__))))"


def samatte_root(python, *, timeout=60):
    """The folder holding the ``samatte`` package that ``python`` imports (cached per path)."""
    if not python:
        raise HostError("WORKER_FAILED", "no samatte Python is set: Preferences > Add-ons > samatte > "
                        "samatte Python (the venv's python, e.g. <samatte>/.venv/bin/python)")
    python = os.path.abspath(os.path.expanduser(python))
    if python in _CACHE:
        return _CACHE[python]
    if os.path.isdir(python):
        raise HostError("WORKER_FAILED", "the samatte Python %s is a folder: pick the venv's python file "
                        "(e.g. <samatte>/.venv/bin/python) in Preferences > samatte Python" % python)
    if not os.path.isfile(python):
        raise HostError("WORKER_FAILED", "the samatte Python %s does not exist (Preferences > samatte Python)"
                        % python)
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        raise HostError("WORKER_FAILED", "cannot run the samatte Python %s: %s" % (python, e))
    if out.returncode != 0:
        # a program that fails silently (not a Python: /bin/false, a broken wrapper) says why by its status only
        tail = (out.stderr or "").strip().splitlines()[-1:] or ["it printed nothing, exit status %d"
                                                                   % out.returncode]
        raise HostError("WORKER_FAILED", "%s has no samatte (import samatte failed: %s); set the Python of "
                        "the venv samatte's installer made" % (python, tail[0]))
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
