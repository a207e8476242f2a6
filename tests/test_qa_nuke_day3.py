"""QA: a third day in Nuke with the SAMatte node (the Nuke double), regressions for what the artist saw.

* A **Reformat** between the Read and the SAMatte node (a 96x64 plate matted at 48x32), the Roto / Tracker4
  left connected to the Read the artist drew on: its shapes are pixels of the 96x64 image, and the node read
  them as pixels of the 48x32 Source (a shape at x 24-61, y -9..17 on a 48x32 plate): the job ran and the
  matte missed the object entirely (IoU 0.0 against the reformatted roto, no message). Now refused before
  anything is rendered, PROMPT_INVALID naming both sizes and the fix; a Roto connected to the Reformat (what
  Nuke draws on the Source) is matted in the Source's pixels (IoU checked below). Refine only: the Prompts
  input's render must be the Source's size too (before: rendered, then the worker's PLATE_INVALID).
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
    tr["tracks"]._add_track("hero/eye", {1002: (50.0, 30.0)})
    merge = nk.nodes.Merge2()
    merge.setInput(0, roto)
    merge.setInput(1, tr)
    g.setInput(1, merge)
    _refused(g, nk, tmp_path, tr.name(), "96x64", "48x32")


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
