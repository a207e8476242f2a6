"""Nuke plugin set-up: install.sh --nuke's init.py block (idempotent), init.py/menu.py in the double,
and the adapter's imports: standard library + samatte's stdlib-only modules, on Python 3.9."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402

sys.path.insert(0, os.path.join(nuke_env.PLUGIN, "samatte_nuke"))
import setup_nuke  # noqa: E402

PY39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")


def test_init_block_is_idempotent_and_keeps_user_lines(tmp_path):
    d = tmp_path / ".nuke"
    d.mkdir()
    (d / "init.py").write_text("import nuke\nnuke.pluginAddPath('/studio/tools')\n")
    setup_nuke.install(str(d), "/opt/samatte/.venv/bin/python")
    first = (d / "init.py").read_text()
    setup_nuke.install(str(d), "/opt/samatte/.venv/bin/python")
    assert (d / "init.py").read_text() == first
    assert first.count(setup_nuke.BEGIN) == 1 and "/studio/tools" in first
    assert "nuke.pluginAddPath(%r)" % nuke_env.PLUGIN in first
    setup_nuke.install(str(d), "/other/python", plugin_dir="/moved/nuke_plugin")
    text = (d / "init.py").read_text()
    assert text.count(setup_nuke.BEGIN) == 1 and "/moved/nuke_plugin" in text and "/studio/tools" in text
    cfg = json.loads((d / "samatte.json").read_text())
    assert cfg["python"] == "/other/python" and cfg["core"].endswith("core")
    assert setup_nuke.main(["--python", "/p/python", "--nuke-dir", str(tmp_path / "fresh")]) == 0
    assert (tmp_path / "fresh" / "init.py").exists()


def test_plugin_init_and_menu_in_the_double():
    nuke = nuke_env.fresh()
    for name in ("init.py", "menu.py"):
        path = os.path.join(nuke_env.PLUGIN, name)
        exec(compile(open(path).read(), path, "exec"), {"__file__": path, "__name__": "__main__"})
    assert os.path.join(nuke_env.PLUGIN, "icons") in nuke.pluginPath()
    assert os.path.join(nuke_env.REPO, "core") in nuke.pluginPath()
    sub = nuke.menu("Nodes").items["samatte"]
    assert sub.icon == "samatte.png" and sub.items["SAMatte"]["icon"] == "samatte.png"
    assert os.path.exists(os.path.join(nuke_env.PLUGIN, "icons", "samatte.png"))
    g = None
    exec(sub.items["SAMatte"]["command"], {})
    g = [n for n in nuke.allNodes("Group")][-1]
    assert g.knob("samatte_node") is not None and g["track"].label() == "Track && Matte"


def test_buttons_run_their_command_with_this_node(tmp_path, monkeypatch):
    nuke = nuke_env.fresh()
    from samatte_nuke import node as snode
    g = snode.create()
    g["track"].execute()                   # no inputs: the error shows on the node, no exception
    assert "Source" in g["status"].value() and nuke._messages()


@pytest.mark.skipif(not os.path.exists(PY39), reason="no Python 3.9 interpreter here")
def test_adapter_imports_on_python39_with_stdlib_only():
    code = r"""
import sys
sys.path[:0] = [%r, %r, %r]
import samatte_nuke, samatte_nuke.node, samatte_nuke.gather, samatte_nuke.convert, samatte_nuke.job
import samatte_nuke.farm, samatte_nuke.runner, samatte_nuke.config, samatte_nuke.setup_nuke
import nuke
g = samatte_nuke.node.create()
heavy = ('numpy', 'torch', 'cv2', 'OpenImageIO', 'PyOpenColorIO', 'scipy')
bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)
print('BAD', bad)
print('OK', sys.version_info[:2], g.Class())
""" % (os.path.join(nuke_env.REPO, "tests", "nuke"), nuke_env.PLUGIN, os.path.join(nuke_env.REPO, "core"))
    out = subprocess.run([PY39, "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "BAD []" in out.stdout and "OK (3, 9) Group" in out.stdout
