"""Review of the 0.2.16 merges (QA67): fixes found there, each with the test that failed before it."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import gather as ngather  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

W, H = 96, 64
BODY = [(20, 20), (50, 20), (50, 45), (20, 45)]
ARM = [(66, 26), (84, 26), (84, 44), (66, 44)]


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _read():
    return nuke_env.make_read("/p/plate.####.exr", 1001, 1004, width=W, height=H, mode="start at", value=1)


def _objects(nodes, read):
    from samatte.jobspec import object_anchors
    from samatte.names import safe_name
    obs = ngather.gather_objects(nodes, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4], rp,
                                 safe_name=safe_name)
    return {o["host_name"]: (sorted((q["frame"], q["label"].split("/")[1]) for q in o["prompts"]), object_anchors(o))
            for o in obs}


def test_nuke_shapes_at_a_rotos_root_share_their_anchors(nk):
    """Shapes drawn at the Roto node's root (Nuke's default; one object named after the node): 'Bezier1'
    keyed on script frame 2, 'Bezier2' added on frame 3. Frame 3 is an anchor (the track restarts there
    from its prompts alone) and Nuke draws both there. Before, 757a868's rule held within a layer only:
    frame 1003 was prompted with Bezier2 alone and Bezier1 vanished from the matte from 1003 on."""
    read = _read()
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    curves = roto["curves"]
    curves.rootLayer.append(nuke_env.polygon_shape(curves, BODY, 2, H, name="Bezier1"))
    curves.rootLayer.append(nuke_env.polygon_shape(curves, ARM, 3, H, name="Bezier2"))
    got = ngather.gather_roto(roto, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4], rp)
    assert sorted((q["frame"], q["label"].split("/")[1]) for q in got[roto.name()]) == [
        (1002, "Bezier1"), (1002, "Bezier2"), (1003, "Bezier1"), (1003, "Bezier2")]
    # a subtract shape or an open stroke at the root makes no anchor, but is prompted on the anchors it is shown on
    hole = nuke_env.polygon_shape(curves, [(30, 28), (36, 28), (36, 34), (30, 34)], 4, H, name="-hole")
    curves.rootLayer.append(hole)
    got = ngather.gather_roto(roto, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4], rp)
    assert sorted((q["frame"], q["label"].split("/")[1]) for q in got[roto.name()]) == [
        (1002, "-hole"), (1002, "Bezier1"), (1002, "Bezier2"), (1003, "-hole"), (1003, "Bezier1"),
        (1003, "Bezier2"), (1004, "-hole")]


def test_nuke_an_object_in_two_roto_nodes_shares_its_anchors(nk):
    """Two Roto nodes in a chain, each with a layer 'Layer1' (Nuke's default name): objects are merged by
    name, so Roto2's 'arm' keyed on frame 3 makes 1003 an anchor of the merged object, where Nuke draws
    Roto1's 'body' too. Before: 1003 held the arm alone (and 1002 the body alone)."""
    read = _read()
    r1 = nk.nodes.Roto()
    r1.setInput(0, read)
    c1 = r1["curves"]
    l1 = rp.Layer(c1, name="Layer1")
    l1.append(nuke_env.polygon_shape(c1, BODY, 2, H, name="body"))
    c1.rootLayer.append(l1)
    r2 = nk.nodes.Roto()
    r2.setInput(0, r1)
    c2 = r2["curves"]
    l2 = rp.Layer(c2, name="Layer1")
    l2.append(nuke_env.polygon_shape(c2, ARM, 3, H, name="arm"))
    c2.rootLayer.append(l2)
    l3 = rp.Layer(c2, name="other")        # another object: its anchors are its own
    l3.append(nuke_env.polygon_shape(c2, BODY, 4, H, name="x"))
    c2.rootLayer.append(l3)
    got = _objects(ngather.prompt_sources(r2), read)
    assert got["Layer1"] == ([(1002, "arm"), (1002, "body"), (1003, "arm"), (1003, "body")], [1002, 1003])
    assert got["other"] == ([(1004, "x")], [1004])


# --- Blender: a Replace / Difference layer cuts the objects before it on their own frames too ------------

def _blender_plain():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
    import test_blender_plain as bp
    return bp


@pytest.mark.parametrize("blend, cut", [("MERGE_SUBTRACT", ("subtract", False)), ("DARKEN", ("subtract", True)),
                                        ("REPLACE", ("subtract", True)), ("DIFFERENCE", ("subtract", False))])
def test_blender_a_cutting_object_layer_cuts_on_the_earlier_objects_frames(blend, cut):
    """Layer 'hero' (Merge Add) keyed on scene frames 3 and 6, then a layer 'rep' keyed on 3 only. Blender
    draws 'rep' held on frame 6, so it cuts hero there as on 3 (Replace: hero keeps what lies inside rep's
    shape; Difference: hero loses it), and frame 6 is an anchor of hero (its track restarts from that
    frame's prompts alone). 436695c did this for the layers that only cut (Subtract, Darken); a Replace or
    Difference layer, being an object too, was still read on its own keys only: hero's frame 1006 had no
    cut and hero's matte from there on was its whole shape. rep's own prompts stay on its own key."""
    bp = _blender_plain()
    info = bp.info_landscape()
    hero = bp.ns(name="hero", hide_render=False, blend="MERGE_ADD", use_fill_holes=False,
                 splines=[bp.spline(bp.SQUARE, info)])
    rep = bp.ns(name="rep", hide_render=False, blend=blend, use_fill_holes=False, invert=False,
                splines=[bp.spline(bp.HOLE, info)])
    mask = bp.make_mask([hero, rep], {"hero": [3, 6], "rep": [3]})
    objs, _sub, _notes = bp.gather.gather_mask_objects(mask, info, scene_frames=range(1, 9),
                                                       read_mask_at=lambda f: mask, current_frame=3)
    got = {o["host_name"]: sorted((p["frame"], p.get("mode", "add"), bool(p.get("invert"))) for p in o["prompts"])
           for o in objs}
    assert got["hero"] == [(1003, "add", False), (1003,) + cut, (1006, "add", False), (1006,) + cut]
    if blend in ("REPLACE", "DIFFERENCE"):
        assert {p[0] for p in got["rep"]} == {1003}
    else:
        assert "rep" not in got


# --- farm task: the localised job a killed task left in the temp folder ----------------------------------

def test_farm_task_removes_the_local_job_a_killed_task_left(tmp_path, monkeypatch):
    """A farm task killed by SIGKILL (or by SIGTERM before the run installs its handler) never reaches the
    ``finally`` that removes its localised job from the temp folder: before, each such task left its
    ``samatte_job.local.<random>.json`` there for good (hundreds of kB for a Nuke script's roto). The next task
    on the node removes those of dead processes of this host; a live task's, and another host's, stay."""
    import subprocess
    import tempfile

    from samatte import cli, jobspec
    from samatte.farm import run_task
    from samatte.farm.openjd import export_openjd
    from samatte.io.writer import host_tag

    job = jobspec.new_job(str(tmp_path / "shots" / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1002", name="local", tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=2, preroll=0, python=sys.executable, models_dir="/m")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    roots = {n: "/mnt/a/%s" % n for n in res["parameters"]}

    # a task SIGKILLed in its run (a real process, this module's code): its localised job stays behind
    code = ("import os, signal, sys; from samatte import cli; from samatte.farm import run_task; "
            "cli.main = lambda argv: os.kill(os.getpid(), signal.SIGKILL); "
            "run_task(sys.argv[1], dict(a.split('=', 1) for a in sys.argv[2:]), stage='matte', frames='1001-1002')")
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join(d for d in sys.path if d))
    run = subprocess.run([sys.executable, "-c", code, doc] + ["%s=%s" % kv for kv in roots.items()], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == -9, run.stderr
    left = os.listdir(str(tmp))
    assert len(left) == 1 and left[0].startswith("samatte_job.local."), left
    live = "samatte_job.local.%s.%d.abc_12xy.json" % (host_tag(), os.getppid())     # a task running now
    other = "samatte_job.local.otherhost-12345678.%d.abc_12xy.json" % _pid_in(left[0])
    for n in (live, other):
        (tmp / n).write_text("{}")
    ran = []
    monkeypatch.setattr(cli, "main", lambda argv: ran.append(argv[1]) or 0)
    assert run_task(doc, roots, stage="matte", frames="1001-1002") == 0
    assert os.path.dirname(ran[0]) == str(tmp)
    assert sorted(os.listdir(str(tmp))) == sorted([live, other])   # the killed task's file is gone


def _pid_in(name):
    """The pid in a localised job's name, else 1 (the old names carried none)."""
    parts = name.split(".")
    return int(parts[3]) if len(parts) > 5 and parts[3].isdigit() else 1
