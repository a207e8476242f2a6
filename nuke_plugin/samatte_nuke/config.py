"""Where samatte's Python is: the interpreter that runs the worker (never Nuke's own).

Looked up in order (:func:`find_python` says which rule picked it):

1. the node's ``samatte_python`` knob (unless it names another OS's interpreter: a script shared between
   workstations);
2. ``$SAMATTE_PYTHON``;
3. the install the loaded plugin belongs to (``<install>/nuke_plugin`` on ``NUKE_PATH`` or in ``init.py``): the
   interpreter ``install.sh --nuke`` recorded for this very plugin in the config file, else the venv beside it
   (``<install>/.venv``, the installer's default);
4. the ``python`` entry of the config file ``install.sh --nuke`` writes (``$SAMATTE_NUKE_CONFIG``, default
   ``~/.nuke/samatte.json``): the last install made on this machine, which may be another version's.

A studio with one install per version on a share (``/studio/samatte/0.2.19/nuke_plugin`` on a show's
``NUKE_PATH``) so runs each show's own version, whatever install this machine made last.
"""
import json
import os

from samatte.errors import WorkerError

__all__ = ["config_path", "read_config", "samatte_python", "find_python", "python_rule", "plugin_dir",
           "install_python", "RULE_KNOB", "RULE_ENV", "RULE_INSTALL", "RULE_CONFIG"]

RULE_KNOB = "knob"
RULE_ENV = "env"
RULE_INSTALL = "install"
RULE_CONFIG = "config"

#: the plugin folder this module was loaded from (``<install>/nuke_plugin``); tests point it elsewhere
PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PICKED = {}   # python -> the words of the rule that last picked it (the version check names it)


def config_path():
    return os.environ.get("SAMATTE_NUKE_CONFIG") or os.path.join(os.path.expanduser("~"), ".nuke", "samatte.json")


def read_config():
    try:
        with open(config_path(), "r", encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def plugin_dir():
    return PLUGIN_DIR


def _venv_python(venv):
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def _runs(py):
    return bool(py) and os.path.isfile(py) and os.access(py, os.X_OK)


def _same_dir(a, b):
    try:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))
    except (TypeError, ValueError, OSError):
        return False


def install_python(cfg=None):
    """``(python, words)`` of the install the loaded plugin belongs to, or ``(None, None)``: the interpreter the
    config file records for this very plugin (its ``plugin`` entry, compared by real path), else the venv beside
    the plugin (``<install>/.venv``)."""
    here = plugin_dir()
    cfg = read_config() if cfg is None else cfg
    py = cfg.get("python") if isinstance(cfg.get("python"), str) else ""
    if py and isinstance(cfg.get("plugin"), str) and _same_dir(cfg["plugin"], here) and _runs(py):
        return py, "recorded for this plugin (%s) in %s" % (here, config_path())
    venv = os.path.join(os.path.dirname(here), ".venv")
    py = _venv_python(venv)
    if _runs(py):
        return py, "the venv beside the loaded plugin (%s)" % here
    return None, None


def find_python(knob_value=""):
    """``(python, rule, words)``: the samatte Python, the rule that picked it (``RULE_*``) and that rule in words
    for messages. Raises WorkerError (WORKER_FAILED) when none is set or the one picked is not an executable
    file (the message names the rule)."""
    knob = (knob_value or "").strip()
    theirs = ""
    if knob:
        from .job import foreign_path
        if foreign_path(knob):
            # the knob set on a workstation of another OS (C:\\samatte\\...\\python.exe in a script opened on Linux):
            # no interpreter of that OS runs here; this machine's own install serves (before: WORKER_FAILED "not
            # an executable file" on every button, though $SAMATTE_PYTHON / the config named this machine's)
            theirs, knob = knob, ""
    if knob:
        py, rule, words = knob, RULE_KNOB, "the node's 'samatte python' knob"
    elif os.environ.get("SAMATTE_PYTHON"):
        py, rule, words = os.environ["SAMATTE_PYTHON"], RULE_ENV, "$SAMATTE_PYTHON"
    else:
        cfg = read_config()
        py, words = install_python(cfg)
        rule = RULE_INSTALL
        if not py:
            py = cfg.get("python") if isinstance(cfg.get("python"), str) else ""
            rule = RULE_CONFIG
            words = "%s (install.sh --nuke%s; no samatte Python beside the loaded plugin %s)" % (
                config_path(), " of %s" % cfg["plugin"] if isinstance(cfg.get("plugin"), str) else "", plugin_dir())
    if not py:
        raise WorkerError("samatte's Python is not set%s: run 'bash install/install.sh --nuke', set "
                          "SAMATTE_PYTHON, or fill the node's 'samatte python' knob (no venv beside the loaded "
                          "plugin %s)"
                          % (" on this machine (the node's 'samatte python' knob names %s, another OS's)" % theirs
                             if theirs else "", plugin_dir()), **({"python": theirs} if theirs else {}))
    if not _runs(py):
        raise WorkerError("samatte's Python %r (from %s) is not an executable file (re-run 'bash install/install.sh "
                          "--nuke' or fix the node's 'samatte python' knob)" % (py, words), python=py,
                          python_rule=rule)
    _PICKED[py] = words
    return py, rule, words


def samatte_python(knob_value=""):
    """The samatte venv's python (:func:`find_python`); raises WorkerError (WORKER_FAILED) when none is set or it
    is not an executable file."""
    return find_python(knob_value)[0]


def python_rule(python):
    """The words of the rule that last picked ``python`` (None: not picked by :func:`find_python`)."""
    return _PICKED.get(python)
