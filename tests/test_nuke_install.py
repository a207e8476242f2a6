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
PY310 = os.path.expanduser("~/.pyenv/versions/3.10.13/bin/python")


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


@pytest.mark.parametrize("host_py,minor", [(PY39, 9), (PY310, 10)], ids=["py3.9-nuke14", "py3.10-nuke15"])
def test_adapter_on_host_python_stdlib_only_drives_a_real_worker(tmp_path, host_py, minor):
    """Nuke 14's and 15's Pythons: the adapter imports with the standard library alone (``-S``: no site-packages),
    gathers prompts, builds the JobSpec and runs Track & Matte through the venv's worker."""
    venv_py = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
    code = r"""
import os, sys, time
sys.path[:0] = [%(double)r, %(plugin)r, %(core)r]
os.environ["SAMATTE_PYTHON"] = %(venv)r
import nuke, nuke.rotopaint as rp
import samatte_nuke.node as snode, samatte_nuke.farm as farm
plate = os.path.join(%(tmp)r, "plate.####.exr")
r = nuke.nodes.Read(file=plate, first=1001, last=1004)
r["format"]._value = nuke.Format(96, 64)
r["frame_mode"].setValue("start at"); r["frame"].setValue("1")
roto = nuke.nodes.Roto()
s = rp.Shape(roto["curves"], name="B")
for x, y in ((20, 10), (70, 12), (45, 55)):
    cp = rp.ShapeControlPoint(); cp.center.addPositionKey(2, (x, y)); s.append(cp)
roto["curves"].rootLayer.append(s)
g = snode.create(); g.setInput(0, r); g.setInput(1, roto)
g["tracker"].setValue("shapes"); g["cache_dir"].setValue(os.path.join(%(tmp)r, "cache"))
job, info = snode.build(g)
print("JOB", job["plate"]["frames"], job["objects"][0]["prompts"][0]["frame"])
run = snode.on_track(g)
t0 = time.time()
while run.is_alive() and time.time() - t0 < 120:
    nuke._process_main_queue(timeout=0.05)
run.join(); nuke._process_main_queue()
print("OUTCOME", run.outcome[0], os.path.basename(farm.frame_path(g, 2)))
heavy = ("numpy", "torch", "cv2", "OpenImageIO", "PyOpenColorIO", "scipy")
print("BAD", sorted(m for m in sys.modules if m.split(".")[0] in heavy))
print("PY", sys.version_info[:2])
snode.POOL.close_all()
""" % {"double": os.path.join(nuke_env.REPO, "tests", "nuke"), "plugin": nuke_env.PLUGIN,
       "core": os.path.join(nuke_env.REPO, "core"), "venv": venv_py, "tmp": str(tmp_path)}
    if not os.path.exists(venv_py) or not os.path.exists(host_py):
        pytest.skip("the project venv and %s are needed" % host_py)
    from samatte.demo import make_shot
    shot = make_shot(str(tmp_path / "shot"), frames=4, size=(96, 64), first=1001)
    for f in range(1001, 1005):
        os.link(shot["plate"].replace("####", str(f)), str(tmp_path / ("plate.%d.exr" % f)))
    out = subprocess.run([host_py, "-S", "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "JOB 1001-1004 1002" in out.stdout
    assert "OUTCOME done matte.1002.exr" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "BAD []" in out.stdout and "PY (3, %d)" % minor in out.stdout


def test_install_py_nuke_option_wires_setup_nuke(tmp_path, monkeypatch):
    """install.py --nuke DIR: after the (stubbed) venv steps, DIR/init.py and DIR/samatte.json are written."""
    import importlib.util
    installer = os.path.join(nuke_env.REPO, "install", "install.py")
    spec = importlib.util.spec_from_file_location("samatte_installer", installer)
    inst = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inst)
    fake_py = str(tmp_path / "venv" / "bin" / "python")
    monkeypatch.setattr(inst, "make_venv", lambda venv, python: fake_py)
    monkeypatch.setattr(inst, "read_stamp", lambda venv: inst.stamp_key(type("A", (), {"no_sam2": True})()))
    monkeypatch.setattr(inst, "imports_ok", lambda py, sam2: True)
    monkeypatch.setattr(inst, "install_packages", lambda py, args: (_ for _ in ()).throw(AssertionError("no pip")))
    nuke_dir = tmp_path / "dotnuke"
    rc = inst.main(["--venv", str(tmp_path / "venv"), "--no-sam2", "--no-weights", "--models-dir",
                    str(tmp_path / "models"), "--nuke", str(nuke_dir)])
    assert rc == 0
    assert setup_nuke.BEGIN in (nuke_dir / "init.py").read_text()
    assert json.loads((nuke_dir / "samatte.json").read_text())["python"] == fake_py
