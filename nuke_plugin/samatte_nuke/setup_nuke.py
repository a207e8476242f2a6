"""Register the samatte Nuke plugin for a user (standard library only; called by ``install.sh --nuke``).

* adds ``nuke.pluginAddPath("<repo>/nuke_plugin")`` to ``<nuke dir>/init.py`` (default ``~/.nuke``)
  inside a marked block, replaced in place on every run (idempotent; the rest of the file is kept);
* records the samatte Python (the venv's interpreter) and the core path in ``<nuke dir>/samatte.json``,
  which the node reads (``$SAMATTE_PYTHON`` or the node's knob override it; the venv beside the plugin Nuke
  loaded wins over another plugin's entry: ``config.find_python``).

Standalone: ``python nuke_plugin/samatte_nuke/setup_nuke.py --python /path/.venv/bin/python
[--nuke-dir ~/.nuke]``.
"""
import argparse
import json
import os
import sys

BEGIN = "# >>> samatte (added by install.sh --nuke; edits inside this block are replaced) >>>"
END = "# <<< samatte <<<"
HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.dirname(HERE)
REPO = os.path.dirname(PLUGIN)


def block(plugin_dir):
    """The init.py block: adds ``plugin_dir`` unless Nuke's plugin path already holds a samatte plugin (a show's
    ``NUKE_PATH`` naming one version's ``nuke_plugin``: Nuke runs ``~/.nuke/init.py`` last, and this block's
    ``pluginAddPath`` went in front of it, so the machine's last personal install shadowed the show's version)."""
    return ("%s\nimport nuke\nimport os as _samatte_os\n"
            "_samatte_on_path = [_d for _d in nuke.pluginPath()\n"
            "                    if _samatte_os.path.isfile(_samatte_os.path.join(_d, 'samatte_nuke', '__init__.py'))]\n"
            "if not _samatte_on_path:\n"
            "    nuke.pluginAddPath(%r)\n"
            "elif _samatte_os.path.realpath(_samatte_on_path[0]) != _samatte_os.path.realpath(%r):\n"
            "    # a show's NUKE_PATH chose samatte's version: it wins over this machine's own install\n"
            "    print('samatte: %%s leaves %%s out: Nuke loads the samatte plugin %%s (NUKE_PATH)'\n"
            "          %% (__file__ if '__file__' in globals() else 'init.py', %r, _samatte_on_path[0]))\n"
            "%s\n") % ((BEGIN,) + (plugin_dir.replace("\\", "/"),) * 3 + (END,))


class SetupError(Exception):
    """The user's init.py cannot be updated safely (its samatte block is broken)."""


def update_init(text, plugin_dir):
    """``text`` of an init.py with exactly one samatte block pointing at ``plugin_dir``.

    A begin marker without an end marker after it (the end line deleted by hand) is a
    :class:`SetupError`: what follows it is the user's, and guessing where the block ends loses it."""
    new = block(plugin_dir)
    if BEGIN in text:
        start = text.index(BEGIN)
        if END not in text[start:]:
            raise SetupError("its samatte block has the line %r but not the line %r after it; restore that "
                             "line (or remove the block) and run this again" % (BEGIN, END))
        end = text.index(END, start) + len(END)
        if end < len(text) and text[end] == "\n":
            end += 1
        return text[:start] + new + text[end:]
    if text and not text.endswith("\n"):
        text += "\n"
    return text + new


def _atomic_write(path, text):
    """Write ``text`` (read by :func:`_read`: bytes that are not UTF-8 and the line endings come back as
    they were) to a temp file beside ``path`` and rename it; a symlink (a dotfiles repo's init.py) is
    written through, not replaced by a copy."""
    path = os.path.realpath(path)
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _read(path):
    with open(path, "r", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return fh.read()


def install(nuke_dir, python, *, plugin_dir=PLUGIN, core_dir=None):
    nuke_dir = os.path.abspath(os.path.expanduser(nuke_dir))
    os.makedirs(nuke_dir, exist_ok=True)
    init = os.path.join(nuke_dir, "init.py")
    old = ""
    if os.path.exists(init):
        old = _read(init)
    try:
        new = update_init(old, os.path.abspath(plugin_dir))
    except SetupError as e:
        raise SetupError("%s: %s" % (init, e))
    if new != old:
        _atomic_write(init, new)
    cfg = {"python": os.path.abspath(python), "core": os.path.abspath(core_dir or os.path.join(REPO, "core")),
           "plugin": os.path.abspath(plugin_dir)}
    _atomic_write(os.path.join(nuke_dir, "samatte.json"), json.dumps(cfg, indent=2) + "\n")
    return init, os.path.join(nuke_dir, "samatte.json")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Register the samatte Nuke plugin.")
    ap.add_argument("--python", required=True, help="samatte's venv python")
    ap.add_argument("--nuke-dir", default=os.path.join(os.path.expanduser("~"), ".nuke"),
                    help="the .nuke folder whose init.py loads the plugin (default ~/.nuke)")
    args = ap.parse_args(argv)
    try:
        init, cfg = install(args.nuke_dir, args.python)
    except (SetupError, OSError) as e:
        sys.stderr.write("[samatte install] Nuke: cannot register the plugin: %s\n" % e)
        return 1
    print("[samatte install] Nuke: %s loads the plugin; samatte's Python recorded in %s" % (init, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
