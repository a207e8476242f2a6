"""Where samatte's Python is: the interpreter that runs the worker (never Nuke's own).

Looked up in order: the node's ``samatte_python`` knob (unless it names another OS's interpreter: a script
shared between workstations); ``$SAMATTE_PYTHON``; the ``python`` entry of
the config file ``install.sh --nuke`` writes (``$SAMATTE_NUKE_CONFIG``, default ``~/.nuke/samatte.json``).
"""
import json
import os

from samatte.errors import WorkerError

__all__ = ["config_path", "read_config", "samatte_python"]


def config_path():
    return os.environ.get("SAMATTE_NUKE_CONFIG") or os.path.join(os.path.expanduser("~"), ".nuke", "samatte.json")


def read_config():
    try:
        with open(config_path(), "r", encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def samatte_python(knob_value=""):
    """The samatte venv's python; raises WorkerError (WORKER_FAILED) when none is set or it is not an
    executable file."""
    knob = (knob_value or "").strip()
    theirs = ""
    if knob:
        from .job import foreign_path
        if foreign_path(knob):
            # the knob set on a workstation of another OS (C:\\samatte\\...\\python.exe in a script opened on Linux):
            # no interpreter of that OS runs here; this machine's own install serves (before: WORKER_FAILED "not
            # an executable file" on every button, though $SAMATTE_PYTHON / the config named this machine's)
            theirs, knob = knob, ""
    py = knob or os.environ.get("SAMATTE_PYTHON") or read_config().get("python") or ""
    if not py:
        raise WorkerError("samatte's Python is not set%s: run 'bash install/install.sh --nuke', set "
                          "SAMATTE_PYTHON, or fill the node's 'samatte python' knob"
                          % (" on this machine (the node's 'samatte python' knob names %s, another OS's)" % theirs
                             if theirs else ""), **({"python": theirs} if theirs else {}))
    if not (os.path.isfile(py) and os.access(py, os.X_OK)):
        raise WorkerError("samatte's Python %r is not an executable file (re-run 'bash install/install.sh "
                          "--nuke' or fix the node's 'samatte python' knob)" % py, python=py)
    return py
