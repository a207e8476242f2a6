"""QA of the Nuke artist's script lifecycle and re-runs (the SAMatte node against the Nuke double, with a
REAL samatte worker on a 4-frame 96x64 shot, weights-free ``shapes`` tracker): regressions for the bugs
found.

* A Read whose file is a TCL expression (``[file dirname [value root.name]]/plate/plate.####.exr``, the
  usual way to keep a script's paths relative) went into the JobSpec as typed: every job failed with
  FRAME_MISSING naming the bracketed text. The same text in the node's cache folder made a folder
  literally called ``[file dirname [value root.name]]`` under Nuke's working folder.
* A SAMatte node pasted as a copy (alone, or inside a copied Group) kept the original's hidden uid: a
  copied Group's SAMatte1 then had the original's cache folder and job name, and its run overwrote the
  frames the original had made (the original's read-back then refused them as stale).
* Renaming a node between runs moved its cache to a new ``<name>_<uid>`` folder: every frame was
  recomputed, and Clear cache afterwards deleted nothing (the frames were in the old folder).
* With a Source that is not a plain Read (Read -> Grade), the plate is rendered into the cache under a
  hash of the upstream knobs only: a plate re-rendered under the same path was never rendered again,
  so a re-run reused every matte made from the old pixels (4 reused, 0 written).
* A stale frame after Track & Matte told the artist to run ``samatte run <cache>/job.json``, a file
  only Export JobSpec writes.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode, runner as srunner  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
pytestmark = pytest.mark.skipif(not os.path.exists(VENV_PY), reason="the project venv is needed")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("lifecycle")
    return make_shot(str(d), frames=4, size=(96, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    yield nuke
    pool.close_all()
    nuke._reset()


def _comp(nuke, plate, h, polygon, *, name="SAMatte1"):
    """Read (start at 1) -> SAMatte <- Roto (layer 'hero', the polygon keyed on script frame 2)."""
    read = nuke_env.make_read(plate, 1001, 1004, width=96, height=h, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, 2, h, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create(name)
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, roto, g


def _run(nuke, g):
    r = snode.on_track(g)
    assert r is not None, g["status"].value()
    outcome = nuke_env.wait_runner(nuke, r, 240)
    assert outcome[0] == "done", outcome
    return outcome[1]


def _mtimes(g):
    pat = farm.stored_job(g)["output"]["path"]
    return {f: os.stat(pat.replace("####", "%04d" % f)).st_mtime_ns for f in range(1001, 1005)}


def _states(g, frames=range(1001, 1005)):
    text = farm.stored_job_text(g)
    return [farm.frame_state(text, f, fresh=True)[0] for f in frames]


def test_tcl_paths_follow_the_script_through_save_as_to_another_folder(nk, shot, tmp_path):
    """The artist keeps the plate next to the script with ``[file dirname [value root.name]]``, runs, then
    copies the whole project to another folder and opens the copy there: the job reads the copy's plate,
    finds its cache next to the copied script and reuses every frame."""
    proj = tmp_path / "projA"
    shutil.copytree(os.path.dirname(os.path.dirname(shot["plate"])), str(proj / "shot"))
    nk.root()["name"].setValue(str(proj / "comp_v001.nk"))
    read, roto, g = _comp(nk, "[file dirname [value root.name]]/shot/plate/plate.####.exr", 64, shot["polygon"])
    job, info = snode.build(g)
    assert job["plate"]["path"] == str(proj / "shot" / "plate" / "plate.####.exr")
    assert info["folder"].startswith(str(proj / "samatte_cache") + os.sep)
    res = _run(nk, g)
    assert len(res["written"]) == 4
    # a cache folder given as TCL is evaluated too, never made as a folder named after the text
    g["cache_dir"].setValue("[file dirname [value root.name]]/comp_cache")
    assert snode.build(g)[1]["folder"].startswith(str(proj / "comp_cache") + os.sep)
    g["cache_dir"].setValue("")

    # Save As to another folder (the whole project, file times kept), reopened there
    projb = tmp_path / "projB"
    shutil.copytree(str(proj), str(projb))
    nk.root()["name"].setValue(str(projb / "comp_v001.nk"))
    job, info = snode.build(g)
    assert job["plate"]["path"] == str(projb / "shot" / "plate" / "plate.####.exr")
    res = _run(nk, g)
    assert res["written"] == [] and len(res["skipped"]) == 4, res
    assert farm.frame_path(g, 2).startswith(str(projb / "samatte_cache") + os.sep)
    assert _states(g) == ["complete"] * 4
    assert not [p for p in os.listdir(os.getcwd()) if p.startswith("[")]


def test_a_copied_group_s_samatte_node_never_writes_over_the_original_s_frames(nk, shot, tmp_path):
    """Group1 holds Read, Roto and SAMatte1; the artist copies Group1, pastes it (Group2, with its own
    SAMatte1 inside), edits the copy's roto and runs it. The copy kept the original's uid, so both
    SAMatte1 nodes had one cache folder and one job name: the copy's run replaced all 4 of the original's
    frames (the original's read-back then refused them as stale)."""
    snode.register_callbacks()            # what menu.py does at start-up
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    grp = nk.nodes.Group(name="Group1")
    with grp:
        read, roto, g1 = _comp(nk, shot["plate"], 64, shot["polygon"])
    _run(nk, g1)
    before = _mtimes(g1)
    grp["selected"].setValue(True)
    nk.nodeCopy("%clipboard%")
    grp2 = nk.nodePaste("%clipboard%")
    assert grp2.name() == "Group2"
    g2 = grp2.node("SAMatte1")
    assert g2 is not None and g2.fullName() == "Group2.SAMatte1"
    assert g2["samatte_uid"].value() != g1["samatte_uid"].value()
    assert not snode._busy(g2)
    # the copy shows what the original made until it runs
    assert farm.frame_path(g2, 2) == farm.frame_path(g1, 2)
    roto2 = grp2.node(roto.name())
    shape2 = list(roto2["curves"].rootLayer)[0][0]
    for cp in shape2:                      # the artist moves the copy's shape on frame 2
        p = cp.center.getPosition(2)
        cp.center.addPositionKey(2, (p.x + 4, p.y))
    res = _run(nk, g2)
    assert len(res["written"]) == 4
    assert farm.stored_job(g2)["output"]["path"] != farm.stored_job(g1)["output"]["path"]
    assert _mtimes(g1) == before            # the original's frames are untouched ...
    assert _states(g1) == ["complete"] * 4  # ... and still shown
    assert _states(g2) == ["complete"] * 4


def test_a_pasted_node_gets_its_own_uid_and_a_fresh_node_keeps_its_own(nk):
    menu = os.path.join(nuke_env.PLUGIN, "menu.py")
    for _ in range(2):                     # menu.py registers the callback, once however often it runs
        exec(compile(open(menu).read(), menu, "exec"), {"__file__": menu, "__name__": "__main__"})
    assert len(nk._callbacks["onCreate"]["Group"]) == 1
    a = snode.create("SAMatte1")
    uid = a["samatte_uid"].value()
    a["selected"].setValue(True)
    nk.nodeCopy("%clipboard%")
    b = nk.nodePaste("%clipboard%")
    assert b.name() == "SAMatte2" and b["samatte_uid"].value() != uid
    assert a["samatte_uid"].value() == uid
    # cut and paste (the original is gone): the node keeps its uid, so its cache stays its own
    nk.delete(a)
    c = nk.nodePaste("%clipboard%")
    assert c.name() == "SAMatte1" and c["samatte_uid"].value() == uid


def test_a_renamed_node_keeps_its_cache(nk, shot, tmp_path):
    """Renaming a node between runs recomputed every frame into a new folder (4 written, 0 reused), and
    Clear cache then left the frames where they were."""
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    read, roto, g = _comp(nk, shot["plate"], 64, shot["polygon"])
    _run(nk, g)
    before = _mtimes(g)
    folder = os.path.dirname(os.path.dirname(farm.stored_job(g)["output"]["path"]))
    g.setName("hero_matte")
    res = _run(nk, g)
    assert res["written"] == [] and len(res["skipped"]) == 4, res
    assert _mtimes(g) == before
    snode.on_clear_cache(g)
    assert not os.path.exists(folder)
    assert os.listdir(str(tmp_path / "samatte_cache")) == []


def test_a_stale_frame_after_track_and_matte_names_a_job_file_that_remakes_it(nk, shot, tmp_path):
    """The read-back's error for a stale frame says ``make it with: samatte run <cache>/job.json --frames
    1002``; only Export JobSpec wrote that file, so after Track & Matte in the GUI the command named a file
    that did not exist. The node now writes job.json whenever it stores a job, and the command remakes the
    frame; a job.json that holds another job (a script sharing the cache folder) is not offered."""
    import subprocess
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    plate = tmp_path / "plate"
    shutil.copytree(os.path.dirname(shot["plate"]), str(plate))
    read, roto, g = _comp(nk, str(plate / "plate.####.exr"), 64, shot["polygon"])
    _run(nk, g)
    f = plate / "plate.1002.exr"
    f.write_bytes(f.read_bytes() + b"\0")           # the plate frame is re-rendered
    farm.frame_state(farm.stored_job_text(g), 1002, fresh=True)
    with pytest.raises(farm.StaleFrameError) as ei:
        farm.frame_path(g, 2)
    msg = str(ei.value)
    job_file = os.path.join(os.path.dirname(os.path.dirname(farm.stored_job(g)["output"]["path"])), "job.json")
    assert msg.endswith("make it with: samatte run %s --frames 1002" % job_file), msg
    out = subprocess.run([VENV_PY, "-m", "samatte", "run", job_file, "--frames", "1002"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    farm.frame_state(farm.stored_job_text(g), 1002, fresh=True)
    assert farm.frame_path(g, 2).endswith("matte.1002.exr")
    # job.json holds another job now (another script's node in this cache folder): not offered
    from samatte import jobspec
    other = farm.stored_job(g)
    other["matte"]["quality"] = "draft"
    jobspec.save(other, job_file)
    f.write_bytes(f.read_bytes() + b"\0")
    farm.frame_state(farm.stored_job_text(g), 1002, fresh=True)
    with pytest.raises(farm.StaleFrameError, match="make it with: Track & Matte on SAMatte1"):
        farm.frame_path(g, 2)


def test_a_plate_rerendered_under_the_same_path_behind_a_grade_is_matted_again(nk, shot, tmp_path):
    from samatte.demo import make_shot
    other = make_shot(str(tmp_path / "other"), frames=4, size=(96, 64), first=1001, seed=11)
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    plate = tmp_path / "plate"
    shutil.copytree(os.path.dirname(shot["plate"]), str(plate))
    read, roto, g = _comp(nk, str(plate / "plate.####.exr"), 64, shot["polygon"])
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g.setInput(0, grade)

    def render(w, first, last):          # what rendering Read -> Grade (identity) writes: the Read's files
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(str(plate / ("plate.%04d.exr" % (t + 1000))), out)
    nk._set_render_hook(render)
    assert len(_run(nk, g)["written"]) == 4
    assert len(_run(nk, g)["skipped"]) == 4 and len(nk._state["executed"]) == 1   # unchanged: nothing redone
    shutil.copyfile(other["plate"].replace("####", "1002"), str(plate / "plate.1002.exr"))
    res = _run(nk, g)
    assert any(p.endswith("matte.0002.exr") for p in res["written"]), res
    assert _states(g, range(1, 5)) == ["complete"] * 4

