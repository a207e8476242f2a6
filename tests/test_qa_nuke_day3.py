"""QA: a third day in Nuke with the SAMatte node (the Nuke double), regressions for what the artist saw.

* A **Reformat** between the Read and the SAMatte node (a 96x64 plate matted at 48x32), the Roto / Tracker4
  left connected to the Read the artist drew on: its shapes are pixels of the 96x64 image, and the node read
  them as pixels of the 48x32 Source (a shape at x 24-61, y -9..17 on a 48x32 plate): the job ran and the
  matte missed the object entirely (IoU 0.0 against the reformatted roto, no message). Now refused before
  anything is rendered, PROMPT_INVALID naming both sizes and the fix; a Roto connected to the Reformat (what
  Nuke draws on the Source) is matted in the Source's pixels (IoU checked below). Refine only: the Prompts
  input's render must be the Source's size too (before: rendered, then the worker's PLATE_INVALID).
* A **disabled** Roto in the prompt chain (Nuke draws none of its shapes; it passes its input through) was
  prompted all the same, and so were both rotos behind a **Switch** (two versions of a roto, one shown). They
  now give nothing (the Source's per-view check already followed that rule: ``convert.shown_inputs``).
* A **feathered shape on a scaled layer** (or with its own, or the root's, scale): the points were
  transformed, the feather was not (a 5 px feather in a layer scaled 3x, drawn 15 px wide by Nuke, went into
  the job as 5). The feather points now go through the same transforms.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import node as snode  # noqa: E402

W, H = 96, 64


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day3")), frames=3, size=(W, H), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _half_hook(nuke, shot):
    """What nuke.execute of the node's Write writes for a Source that is the plate behind a Reformat to half
    size (every other pixel: the same pixel grid a 2:1 Reformat gives) and a Prompts render of the true alpha
    at that size."""
    from samatte.io.exr import read_rgb, write_image

    def hook(w, first, last):
        src = w.input(0).name()
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if src == "Source":
                rgb = read_rgb(shot["plate"].replace("####", "%04d" % t))[1::2, 1::2]
                write_image(out, np.ascontiguousarray(rgb), channels=("R", "G", "B"), pixel_type="half")
            else:
                a = read_rgb(shot["gt"].replace("####", "%04d" % t))[1::2, 1::2, 0]
                write_image(out, np.ascontiguousarray(a), channels=("A",), pixel_type="half")
    nuke._set_render_hook(hook)


def _comp(nuke, shot, tmp_path, *, roto_on="read"):
    """Read (96x64, files 1001-1003) -> Reformat (48x32) -> SAMatte <- Roto (layer 'hero', the demo's polygon
    on the middle frame, drawn on the Read or, ``roto_on="reformat"``, on the Reformat at half size)."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    ref = nuke.nodes.Reformat()
    ref.setInput(0, read)
    ref["format"].setValue(nuke.Format(W // 2, H // 2, 1.0))
    roto = nuke.nodes.Roto()
    layer = rp.Layer(roto["curves"], name="hero")
    if roto_on == "read":
        roto.setInput(0, read)
        layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], shot["prompt_frame"], H, name="B"))
    else:
        roto.setInput(0, ref)
        half = [(x / 2.0, y / 2.0) for x, y in shot["polygon"]]
        layer.append(nuke_env.polygon_shape(roto["curves"], half, shot["prompt_frame"], H // 2, name="B"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create()
    g.setInput(0, ref)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    _half_hook(nuke, shot)
    return read, ref, roto, g


def _refused(g, nk, tmp_path, *words):
    with pytest.raises(Exception) as e:
        snode.build(g)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID", e.value
    for w in words:
        assert w in str(e.value), e.value
    assert nk._state["executed"] == []                      # nothing rendered
    assert not os.path.exists(str(tmp_path / "cache"))     # nothing written
    assert snode.on_refresh(g) is None and "[PROMPT_INVALID]" in g["status"].value()


def test_a_roto_drawn_on_the_read_behind_a_reformat_is_refused_before_anything_is_rendered(nk, shot, tmp_path):
    read, ref, roto, g = _comp(nk, shot, tmp_path)
    _refused(g, nk, tmp_path, roto.name(), "96x64", "48x32", ref.name())


def test_a_tracker_on_the_read_behind_a_reformat_is_refused_too(nk, shot, tmp_path):
    read, ref, roto, g = _comp(nk, shot, tmp_path, roto_on="reformat")
    tr = nk.nodes.Tracker4()
    tr.setInput(0, read)                                    # tracked on the full-size plate
    tr["tracks"]._add_track("hero/eye", {1002: (20.0, 10.0)})
    merge = nk.nodes.Merge2()
    merge.setInput(0, roto)
    merge.setInput(1, tr)
    g.setInput(1, merge)
    _refused(g, nk, tmp_path, tr.name(), "96x64", "48x32")
    tr.setInput(0, ref)                                     # tracked on the Source: its pixels
    job, _ = snode.build(g)
    pts = [q for ob in job["objects"] for q in ob["prompts"] if q["type"] == "points"]
    assert [q["points"] for q in pts] == [[[20.0, H // 2 - 10.0]]]


def test_refine_only_refuses_a_prompts_render_of_another_size(nk, shot, tmp_path):
    read, ref, roto, g = _comp(nk, shot, tmp_path)
    g["roto_mode"].setValue(snode.REFINE_ONLY)
    _refused(g, nk, tmp_path, roto.name(), "rendered from", "96x64", "48x32")
    # the roto reformatted like the plate: what Nuke shows on the Prompts input fits the Source
    ref2 = nk.nodes.Reformat()
    ref2.setInput(0, roto)
    ref2["format"].setValue(nk.Format(W // 2, H // 2, 1.0))
    g.setInput(1, ref2)
    job, _ = snode.build(g)
    assert job["objects"][0]["masks"]["soft"] is True


def test_a_roto_drawn_on_the_reformat_is_matted_in_the_source_pixels(nk, shot, tmp_path):
    from samatte import pipeline
    from samatte.io.exr import read_rgb
    from samatte.io.writer import MatteWriter
    from samatte.io.exr import read_info
    read, ref, roto, g = _comp(nk, shot, tmp_path, roto_on="reformat")
    job, info = snode.build(g)
    q = job["objects"][0]["prompts"][0]
    assert q["frame"] == shot["prompt_frame"]
    assert [p[:2] for p in q["points"]] == [[x / 2.0, y / 2.0] for x, y in shot["polygon"]]
    pipeline.run(job)
    f = shot["prompt_frame"]
    plate_info = read_info(job["plate"]["path"].replace("####", "%04d" % f))
    alpha = MatteWriter(job["output"]["path"], plate_info).read_alphas(f)
    a = alpha[job["objects"][0]["name"]] if isinstance(alpha, dict) else alpha
    truth = read_rgb(shot["gt"].replace("####", "%04d" % f))[1::2, 1::2, 0]
    got, want = np.asarray(a) >= 0.5, truth >= 0.5
    iou = (got & want).sum() / float((got | want).sum())
    print("IoU of the matte against the reformatted truth: %.3f" % iou)
    assert iou >= 0.7, iou


# --- prompt nodes Nuke does not draw ----------------------------------------------------------------------
TRIANGLE = [(20.5, 10.5), (70.5, 12.5), (45.5, 50.5)]
BOX = [(2.5, 40.5), (30.5, 40.5), (30.5, 62.5), (2.5, 62.5)]


def _roto(nk, up, layer_name, polygon, *, key=1002):
    roto = nk.nodes.Roto()
    if up is not None:
        roto.setInput(0, up)
    layer = rp.Layer(roto["curves"], name=layer_name)
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, key, H, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    return roto


def _coverage(prompts):
    """The union of a job object's bezier prompts, rasterised on the 96x64 display window (what samatte takes
    as the object's shape on that frame)."""
    from samatte.prompts import bezier_to_polygon, rasterise_polygon
    out = np.zeros((H, W), np.float32)
    for q in prompts:
        poly = bezier_to_polygon(q["points"], closed=True)
        out = np.maximum(out, rasterise_polygon(poly, (H, W)))
    return out >= 0.5


def _iou(a, b):
    return (a & b).sum() / float((a | b).sum())


def _hero(job):
    return [q for ob in job["objects"] if ob["host_name"] == "hero" for q in ob["prompts"]]


def test_a_disabled_roto_in_the_prompt_chain_prompts_nothing(nk, shot, tmp_path):
    """Read -> Roto1 (hero: a triangle) -> Roto2 (hero: a garbage box; disabled) -> SAMatte: Nuke draws the
    triangle alone; before, the box was prompted too (hero's shape IoU 0.60 against what Nuke draws)."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    r1 = _roto(nk, read, "hero", TRIANGLE)
    r2 = _roto(nk, r1, "hero", BOX)
    r3 = _roto(nk, r2, "extra", BOX)                       # a whole object in a disabled node
    r2["disable"].setValue(True)
    r3["disable"].setValue(True)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, r3)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job, info = snode.build(g)
    assert [ob["host_name"] for ob in job["objects"]] == ["hero"]
    labels = [q["label"] for q in _hero(job)]
    assert labels == ["%s/Bezier1" % r1.name()], labels
    drawn = _coverage([{"points": [[x, y, x, y, x, y] for x, y in TRIANGLE]}])
    assert _iou(_coverage(_hero(job)), drawn) > 0.99
    r2["disable"].setValue(False)                           # enabled again: both shapes, as Nuke draws them
    job2, _ = snode.build(g)
    assert sorted(q["label"] for q in _hero(job2)) == sorted(["%s/Bezier1" % r1.name(), "%s/Bezier1" % r2.name()])
    print("hero's shape IoU against the triangle alone, both rotos prompted: %.2f"
          % _iou(_coverage(_hero(job2)), drawn))
    # every prompt node disabled: a clear PROMPT_INVALID, not a job
    for r in (r1, r2):
        r["disable"].setValue(True)
    with pytest.raises(Exception) as e:
        snode.build(g)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID" and "disabled" in str(e.value)


def test_a_switch_prompts_only_the_roto_it_shows(nk, shot, tmp_path):
    """Two versions of the roto behind a Switch (which 1): Nuke shows v2 alone; before, both were prompted."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    v1 = _roto(nk, read, "hero", BOX)
    v2 = _roto(nk, read, "hero", TRIANGLE)
    sw = nk.nodes.Switch(which=1)
    sw.setInput(0, v1)
    sw.setInput(1, v2)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, sw)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job, _ = snode.build(g)
    assert [q["label"] for q in _hero(job)] == ["%s/Bezier1" % v2.name()]
    sw["which"].setValue(0)
    job, _ = snode.build(g)
    assert [q["label"] for q in _hero(job)] == ["%s/Bezier1" % v1.name()]


def test_a_read_named_from_the_script_directory_with_percent_d_is_read_directly(nk, shot, tmp_path):
    """``[python nuke.script_directory()]/plate/plate.%04d.exr`` (Foundry's nuke.utils.script_directory: the
    root name's folder; added to the double): the Read is used as it is, its files by their full path."""
    nk.root()["name"].setValue(os.path.join(os.path.dirname(os.path.dirname(shot["plate"])), "comp.nk"))
    read = nuke_env.make_read("[python nuke.script_directory()]/plate/plate.%04d.exr", 1001, 1003, width=W,
                              height=H, mode="offset", value=-1000)
    roto = _roto(nk, read, "hero", TRIANGLE, key=2)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job, info = snode.build(g)
    assert job["plate"]["path"] == shot["plate"].replace("####", "%04d")
    assert job["plate"]["frames"] == "1001-1003" and info["offset"] == -1000
    assert job["objects"][0]["prompts"][0]["frame"] == 1002
    assert nk._state["executed"] == []                      # nothing rendered


# --- a feathered shape on a transformed layer --------------------------------------------------------------
def _feathered_square(curves, name, feather):
    """A 20 px square keyed on frame 1 (Nuke coordinates, corner 10, 10) whose feather points sit ``feather``
    px out of each corner along the diagonal."""
    s = rp.Shape(curves, name=name)
    d = feather / 2 ** 0.5
    for dx, dy in ((0, 0), (1, 0), (1, 1), (0, 1)):
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(1, (10 + 20 * dx, 10 + 20 * dy))
        cp.featherCenter.setPosition(((2 * dx - 1) * d, (2 * dy - 1) * d))
        s.append(cp)
    return s


@pytest.mark.parametrize("where,scale", [("layer", 3.0), ("shape", 0.5), ("root", 2.0), ("mirrored layer", -3.0)])
def test_a_feather_is_scaled_with_the_transforms_around_its_shape(nk, where, scale):
    """Nuke transforms a shape's feather points with the shape (its own transform, its layers', the root's):
    a 5 px feather in a layer scaled 3x is drawn 15 px wide. The points were transformed, the feather was not
    (5.0 where Nuke draws 15; 5.0 where a shape scaled to half draws 2.5)."""
    from samatte_nuke import gather
    from samatte_nuke.convert import FrameMap, Geometry
    roto = nk.nodes.Roto()
    curves = roto["curves"]
    layer = rp.Layer(curves, name="hero")
    shape = _feathered_square(curves, "B", 5.0)
    layer.append(shape)
    curves.rootLayer.append(layer)
    tr = {"layer": layer, "mirrored layer": layer, "shape": shape, "root": curves.rootLayer}[where].getTransform()
    tr.addScaleKey(1, scale, abs(scale))
    q, = gather.gather_roto(roto, Geometry(200, 100), FrameMap(0), [1], rp)["hero"]
    assert q["feather"] == pytest.approx(5.0 * abs(scale), abs=1e-3), q["feather"]
    # and inward stays inward
    for cp in shape:
        f = cp.featherCenter.getPosition(1)
        cp.featherCenter.setPosition((-f.x, -f.y))
    q, = gather.gather_roto(roto, Geometry(200, 100), FrameMap(0), [1], rp)["hero"]
    assert q["feather"] == pytest.approx(-5.0 * abs(scale), abs=1e-3), q["feather"]
