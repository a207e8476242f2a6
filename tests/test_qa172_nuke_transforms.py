"""QA, Nuke day 15 (the Nuke double): do the prompts land where Nuke draws the shapes, frame by frame?

* A shape in a layer whose transform's **extra matrix** is keyed (the Transform tab's extra matrix: a layer driven
  by a planar track or a corner pin) was prompted on the range's first frame only: the extra matrix's keys were
  not prompt frames (the translate / rotate / scale / skew / pivot keys were), so a shape Nuke draws 40 and 80 px
  to the right on frames 3 and 5 had no prompt there. Its keys are now read through Foundry's documented
  ``AnimCTransform.getExtraMatrixAnimCurve(i, j)`` (AnimCurve.getNumberOfKeys / getKey(k).time) and prompted
  with the matrix Nuke draws there.
* Checked and found right (kept as regressions): a shape's own transform keyed and a layer's transform keyed
  (both applied, each key a prompt frame), visibility keyed off on a frame (no prompt there), a frame-range
  lifetime (prompts inside it only).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import gather  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

GEOM = Geometry(200, 100)
FRAMES = list(range(1, 7))
TRI = ((10, 10), (40, 10), (25, 40))


@pytest.fixture
def roto():
    nk = nuke_env.fresh()
    return nk.nodes.Roto()


def _layer(node, *shapes, name="hero"):
    c = node["curves"]
    lay = rp.Layer(c, name=name)
    for s in shapes:
        lay.append(s)
    c.rootLayer.append(lay)
    return lay


def _xy(q):
    return [tuple(p[:2]) for p in q["points"]]


def _moved(dx, dy):
    """TRI moved by (dx, dy) in Nuke pixels, as JobSpec points (y down from the 100 px format's top)."""
    return [(x + dx, 100.0 - (y + dy)) for x, y in TRI]


def test_a_layer_moved_by_its_extra_matrix_is_prompted_on_its_keys_where_nuke_draws_it(roto):
    lay = _layer(roto, rp.Shape(roto["curves"], *TRI, name="tri"))
    curve = lay.getTransform().getExtraMatrixAnimCurve(0, 3)     # x translation of the extra matrix
    for t, v in ((1, 0), (3, 40), (5, 80)):
        curve.addKey(t, v)
    got = {q["frame"]: q for q in gather.gather_roto(roto, GEOM, FrameMap(0), FRAMES, rp)["hero"]}
    assert sorted(got) == [1, 3, 5]                              # before: [1]
    assert _xy(got[3]) == _moved(40, 0) and _xy(got[5]) == _moved(80, 0)


def test_a_shape_s_own_extra_matrix_keys_are_prompt_frames_too(roto):
    shape = rp.Shape(roto["curves"], *TRI, name="tri")
    curve = shape.getTransform().getExtraMatrixAnimCurve(1, 3)   # y translation
    curve.addKey(2, 0)
    curve.addKey(4, 10)
    _layer(roto, shape)
    got = {q["frame"]: q for q in gather.gather_roto(roto, GEOM, FrameMap(0), FRAMES, rp)["hero"]}
    assert sorted(got) == [2, 4] and _xy(got[4]) == _moved(0, 10)


def test_shape_and_layer_transforms_keyed_visibility_and_lifetime(roto):
    shape = rp.Shape(roto["curves"], *TRI, name="tri")
    shape.getTransform().addTranslationKey(2, 0, 0)
    shape.getTransform().addTranslationKey(4, 30, 0)
    lay = _layer(roto, shape)
    lay.getTransform().addTranslationKey(1, 0, 0)
    lay.getTransform().addTranslationKey(5, 0, 20)
    attrs = shape.getAttributes()
    attrs.set("vis", 1, time=1)
    attrs.set("vis", 0, time=3)
    attrs.set("vis", 1, time=4)
    got = {q["frame"]: q for q in gather.gather_roto(roto, GEOM, FrameMap(0), FRAMES, rp)["hero"]}
    assert sorted(got) == [1, 2, 4, 5]                            # 3: hidden
    assert _xy(got[2]) == _moved(0, 5) and _xy(got[4]) == _moved(30, 15) and _xy(got[5]) == _moved(30, 20)
    attrs.set("ltt", 4)                                           # frame range 2-4
    attrs.set("ltn", 2)
    attrs.set("ltm", 4)
    got = {q["frame"]: q for q in gather.gather_roto(roto, GEOM, FrameMap(0), FRAMES, rp)["hero"]}
    assert sorted(got) == [2, 4]
