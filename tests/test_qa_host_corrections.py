"""QA of corrections that stick, in the hosts: the artist runs a shot, sees the matte drift on a frame, adds a
correction there in the host (Nuke: a Roto key / a new shape; Blender: a garbage matte layer keyed there),
runs again. The corrected frame's matte must follow what the host draws there, only the span the correction
decides is remade (the frames before it keep their files: same inode and mtime), and undoing the
correction brings the first run's mattes back, remade, not kept from the corrected run.

The Nuke tests use the Nuke double (tests/nuke) with a REAL samatte worker on a 4-frame 96x64 shot and the
weights-free ``shapes`` tracker (the Blender loop, in real bpy: tests/blender/test_qa_host_corrections_bpy.py).
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, gather as ngather, node as snode, runner as srunner  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
W, H = 96, 64
#: the "arm" the artist adds: a square to the right of the ball (JobSpec pixels, top-left origin)
ARM = [(66, 26), (84, 26), (84, 44), (66, 44)]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("hostcorr")), frames=4, size=(W, H), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    if not os.path.exists(VENV_PY):
        pytest.skip("the project venv is needed (.venv)")
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    yield nuke
    pool.close_all()
    nuke._reset()


def _raster(polys):
    """The union of closed polygons (JobSpec pixels) on the W x H canvas, as samatte rasterises prompts."""
    from samatte.prompts import prepare_prompt
    from samatte.stages import PlateInfo, Window
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    out = np.zeros((H, W), bool)
    for poly in polys:
        q = prepare_prompt({"frame": 1, "type": "polygon", "points": [list(p) for p in poly], "feather": 0.0}, info)
        out |= q["mask_array"]
    return out


def _alpha(path):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    names = list(buf.spec().channelnames)
    return buf.get_pixels(oiio.FLOAT)[..., names.index("A")]


def _iou(a, b):
    return float((a & b).sum()) / max(1, float((a | b).sum()))


def _stats(g):
    pat = farm.stored_job(g)["output"]["path"]
    out = {}
    for f in range(1001, 1005):
        st = os.stat(pat.replace("####", "%04d" % f))
        out[f] = (st.st_ino, st.st_mtime_ns)
    return out


def _run(nuke, g):
    r = snode.on_track(g)
    assert r is not None, g["status"].value()
    outcome = nuke_env.wait_runner(nuke, r, 240)
    assert outcome[0] == "done", outcome
    return outcome[1]


def _arm_shape(curves, t, *, name="arm"):
    return nuke_env.polygon_shape(curves, ARM, t, H, name=name)


def test_nuke_a_shape_keyed_on_a_frame_keeps_the_other_shapes_of_its_layer_there(nk):
    """Gathering: layer 'hero' holds 'body' keyed on script frame 2 and 'arm' keyed on frame 3 (a shape the
    artist added there). Nuke draws body + arm on frame 3 (body held from its key); the frame is an anchor
    (the track restarts there from its prompts alone), so it must carry both. Before: arm alone, and the
    body vanished from the matte from frame 3 on."""
    read = nuke_env.make_read("/p/plate.####.exr", 1001, 1004, width=W, height=H, mode="start at", value=1)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    curves = roto["curves"]
    layer = rp.Layer(curves, name="hero")
    body = [(20, 20), (50, 20), (50, 45), (20, 45)]
    layer.append(nuke_env.polygon_shape(curves, body, 2, H, name="body"))
    hole = nuke_env.polygon_shape(curves, [(30, 28), (36, 28), (36, 34), (30, 34)], 2, H, name="-hole")
    layer.append(hole)
    arm = _arm_shape(curves, 3)
    layer.append(arm)
    curves.rootLayer.append(layer)

    def prompts():
        got = ngather.gather_roto(roto, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4], rp)
        return sorted((q["frame"], q["label"].split("/")[1], q["mode"]) for q in got["hero"])
    # lifetime 'all frames': Nuke draws the arm, held from its key, on frame 2 too
    assert prompts() == [(1002, "-hole", "subtract"), (1002, "arm", "add"), (1002, "body", "add"),
                         (1003, "-hole", "subtract"), (1003, "arm", "add"), (1003, "body", "add")]
    for k, v in (("ltt", 3), ("ltn", 3)):      # lifetime 'frame to end' from 3
        arm.getAttributes().set(k, v)
    assert prompts() == [(1002, "-hole", "subtract"), (1002, "body", "add"),
                         (1003, "-hole", "subtract"), (1003, "arm", "add"), (1003, "body", "add")]
    hole.getAttributes().set("vis", 1.0, time=2)     # the hole hidden from frame 3 on: not on frame 3
    hole.getAttributes().set("vis", 0.0, time=3)
    assert prompts() == [(1002, "-hole", "subtract"), (1002, "body", "add"),
                         (1003, "arm", "add"), (1003, "body", "add")]


def test_nuke_a_shape_added_on_a_frame_sticks_and_undoing_it_brings_the_first_mattes_back(nk, shot, tmp_path):
    """The loop with the SAMatte node: Track & Matte (hero = the ball's shape keyed on script frame 2), add
    a shape 'arm' to the hero layer on frame 3 (lifetime 3-4), Track & Matte again, remove it, again.
    Before: frame 3 was prompted with the arm alone, its matte the arm (IoU 0.34 against body + arm, what
    Nuke draws there; now 0.94)."""
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=W, height=H, mode="start at", value=1)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    curves = roto["curves"]
    layer = rp.Layer(curves, name="hero")
    layer.append(nuke_env.polygon_shape(curves, shot["polygon"], 2, H, name="body"))
    curves.rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    g["quality"].setValue("draft")
    assert len(_run(nk, g)["written"]) == 4
    pat = farm.stored_job(g)["output"]["path"]
    first = {f: _alpha(pat.replace("####", "%04d" % f)) for f in range(1001, 1005)}
    before = _stats(g)

    arm = _arm_shape(curves, 3)
    for k, v in (("ltt", 4), ("ltn", 3), ("ltm", 4)):
        arm.getAttributes().set(k, v)
    layer.append(arm)
    res = _run(nk, g)
    after = _stats(g)
    assert sorted(f for f in after if after[f] != before[f]) == [1003, 1004], res
    want = _raster([shot["polygon"], ARM])
    got = _alpha(pat.replace("####", "1003")) > 0.5
    assert _iou(got, want) > 0.8, _iou(got, want)
    assert [farm.frame_state(farm.stored_job_text(g), f, fresh=True)[0] for f in range(1001, 1005)] == ["complete"] * 4

    layer._items.remove(arm)            # the artist deletes the shape again
    res = _run(nk, g)
    undone = _stats(g)
    assert sorted(f for f in undone if undone[f] != after[f]) == [1003, 1004], res
    for f in range(1001, 1005):
        assert np.array_equal(_alpha(pat.replace("####", "%04d" % f)), first[f]), f
