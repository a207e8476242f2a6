"""QA: what an artist's Roto / RotoPaint shapes become as prompts, against what Nuke does.

The double (tests/nuke/nuke/rotopaint.py) was extended for these tests where it lacked something real
Nuke has; each addition is listed in that module's docstring with its source.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte import jobspec  # noqa: E402
from samatte.names import safe_name  # noqa: E402
from samatte_nuke import gather  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

GEOM = Geometry(200, 100)


def _tri(curves, name, keys=None, *, at=(10, 10)):
    """A triangle, unkeyed or keyed (same place) on ``keys``."""
    x0, y0 = at
    s = rp.Shape(curves, name=name)
    for dx, dy in ((0, 0), (30, 0), (15, 30)):
        cp = rp.ShapeControlPoint()
        if keys:
            for t in keys:
                cp.center.addPositionKey(t, (x0 + dx, y0 + dy))
        else:
            cp.center.setPosition((x0 + dx, y0 + dy))
        s.append(cp)
    return s


@pytest.fixture
def roto():
    nk = nuke_env.fresh()
    return nk.nodes.Roto()


def _frames(got, obj):
    return sorted(q["frame"] for q in got.get(obj, []))


def test_keys_on_a_layers_transform_are_prompt_frames(roto):
    """A static shape inside a layer whose transform is keyed (a layer linked to a track, the usual way
    to move a group of shapes) moves on the layer's keys: like keys on the shape's own transform, they
    must become prompt frames, each with the layer's matrix at that frame."""
    c = roto["curves"]
    layer = rp.Layer(c, name="hero")
    layer.getTransform().addTranslationKey(3, 0, 0)
    layer.getTransform().addTranslationKey(7, 40, 0)
    layer.append(_tri(c, "static"))
    c.rootLayer.append(layer)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(1, 11)), rp)
    assert _frames(got, "hero") == [3, 7]
    by = {q["frame"]: q for q in got["hero"]}
    assert by[3]["points"][0][:2] == [10.0, 90.0]
    assert by[7]["points"][0][:2] == [50.0, 90.0]      # the layer's +40 at frame 7


def test_keys_on_the_root_layer_and_nested_layers_and_skew_count_too(roto):
    c = roto["curves"]
    outer = rp.Layer(c, name="outer")
    inner = rp.Layer(c, name="inner")
    inner.getTransform().addRotationKey(4, 0)
    inner.getTransform().addRotationKey(6, 10)
    inner.append(_tri(c, "s"))
    outer.append(inner)
    c.rootLayer.append(outer)
    c.rootLayer.getTransform().addScaleKey(9, 1, 1)
    c.rootLayer.getTransform().addScaleKey(10, 1.1, 1.1)
    sk = _tri(c, "skewed")
    sk.getTransform().addSkewXKey(2, 0)
    sk.getTransform().addSkewXKey(5, 0.2)
    c.rootLayer.append(sk)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(1, 11)), rp)
    assert _frames(got, "outer") == [4, 6, 9, 10]
    assert _frames(got, roto.name()) == [2, 5, 9, 10]


def test_shapes_in_a_hidden_layer_give_no_prompts(roto):
    """Hiding a layer (its eye in the curves list) hides everything in it, as a layer's own lifetime
    does; its shapes' own visibility is left as it was."""
    c = roto["curves"]
    hidden = rp.Layer(c, name="hidden")
    hidden.getAttributes().set("vis", 0.0)
    hidden.append(_tri(c, "a", keys=(2, 4)))
    c.rootLayer.append(hidden)
    part = rp.Layer(c, name="part")
    part.getAttributes().set("vis", 1.0, time=1)
    part.getAttributes().set("vis", 0.0, time=4)
    nested = rp.Layer(c, name="nested")
    nested.append(_tri(c, "b", keys=(2, 4)))
    part.append(nested)
    c.rootLayer.append(part)
    short = rp.Layer(c, name="short")
    for k, v in (("ltt", 4), ("ltn", 1), ("ltm", 3)):
        short.getAttributes().set(k, v)
    short.append(_tri(c, "c", keys=(2, 4)))
    c.rootLayer.append(short)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(1, 11)), rp)
    assert "hidden" not in got
    assert _frames(got, "part") == [2]
    assert _frames(got, "short") == [2]


def test_a_shape_at_opacity_zero_gives_no_prompt(roto):
    c = roto["curves"]
    s = _tri(c, "fade", keys=(2, 4, 6))
    s.getAttributes().set("opc", 1.0, time=1)
    s.getAttributes().set("opc", 0.0, time=4)
    c.rootLayer.append(s)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(1, 11)), rp)
    assert _frames(got, roto.name()) == [2]


def test_blending_mode_minus_subtracts(roto):
    """A hole cut with the shape's blending mode set to minus (bm 12) is a subtract prompt, as a
    shape named '-hole' is; over (0) and the others add."""
    c = roto["curves"]
    body = _tri(c, "body", keys=(2,), at=(10, 10))
    hole = _tri(c, "hole", keys=(2,), at=(15, 12))
    hole.getAttributes().set("bm", 12)
    c.rootLayer.append(body)
    c.rootLayer.append(hole)
    rpn = nuke_env.nuke.nodes.RotoPaint()
    st = rp.Stroke(rpn["curves"], (10, 10), (60, 20), name="erase")
    st.getAttributes().set("bm", 12)
    rpn["curves"].rootLayer.append(st)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(1, 11)), rp)
    modes = {q["label"].split("/")[1]: q["mode"] for q in got[roto.name()]}
    assert modes == {"body": "add", "hole": "subtract"}
    got = gather.gather_roto(rpn, GEOM, FrameMap(0), list(range(1, 11)), rp)
    assert [q["mode"] for q in got[rpn.name()]] == ["subtract"]


def test_an_open_spline_is_an_open_stroke_not_a_filled_shape(roto):
    """Nuke 12.2's open splines are Shapes with FlagType.eOpenFlag set; Nuke draws them as a line.
    Closed, the adapter filled the area between the first and last points."""
    c = roto["curves"]
    line = rp.Shape(c, name="line")
    for p in ((10, 10), (60, 50), (110, 10)):
        cp = rp.ShapeControlPoint(center=p, left=(-5, 0), right=(5, 0))
        cp.center.addPositionKey(3, p)
        line.append(cp)
    line.setFlag(rp.FlagType.eOpenFlag, True)
    c.rootLayer.append(line)
    two = rp.Shape(c, (10, 80), (90, 80), name="two")      # an open spline of 2 points is a line too
    two.setFlag(rp.FlagType.eOpenFlag, True)
    c.rootLayer.append(two)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(1, 11)), rp)
    qs = {q["label"].split("/")[1]: q for q in got[roto.name()]}
    assert set(qs) == {"line", "two"}
    q = qs["line"]
    assert q["type"] == "bezier" and q["closed"] is False and q["frame"] == 3
    assert q["points"][1] == [60.0, 50.0, 55.0, 50.0, 65.0, 50.0]
    assert qs["two"]["closed"] is False and len(qs["two"]["points"]) == 2
    objects = gather.gather_objects([roto], GEOM, FrameMap(0), list(range(1, 11)), rp, safe_name=safe_name)
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr", frames="1-10")
    for ob in objects:
        jobspec.add_object(job, ob["name"], ob["prompts"], host_name=ob["host_name"])
    jobspec.validate(job)


def test_a_shape_keyed_only_outside_the_range_is_prompted_where_it_holds(roto):
    """Keys before the range (a shape keyed on frame 1 over a plate at 1001-1100) hold their last
    position over the whole range: the shape is drawn there, so it gives a prompt on the range's first
    frame it is shown, as an unkeyed shape does (it gave no prompt: the object vanished)."""
    c = roto["curves"]
    early = _tri(c, "early", keys=(1, 5))
    c.rootLayer.append(early)
    inside = _tri(c, "inside", keys=(1, 12))    # one key inside the range: that key only
    c.rootLayer.append(inside)
    got = gather.gather_roto(roto, GEOM, FrameMap(0), list(range(10, 21)), rp)
    by = sorted((q["label"].split("/")[1], q["frame"]) for q in got[roto.name()])
    # both at the root (one object): each one's frame is an anchor of it, where Nuke draws the other too
    assert by == [("early", 10), ("early", 12), ("inside", 10), ("inside", 12)]


def test_a_prompt_node_behind_a_retime_is_named():
    """A Roto behind a TimeOffset (or any Time node) reaches the Prompts input retimed, but samatte
    reads its shapes at their own frames: ``retimed_prompt_nodes`` names it (and the Time node), so the
    node warns instead of silently placing the keys d frames off. A Roto also reached directly is not
    named; one upstream of a Tracker behind the retime is."""
    nk = nuke_env.fresh()
    read = nuke_env.make_read("/p/plate.####.exr", 1, 10, width=100, height=100)
    direct = nk.nodes.Roto()
    direct.setInput(0, read)
    behind = nk.nodes.Roto()
    behind.setInput(0, read)
    tr = nk.nodes.Tracker4()
    tr.setInput(0, behind)
    off = nk.nodes.TimeOffset(time_offset=5)
    off.setInput(0, tr)
    merge = nk.nodes.Merge2()
    merge.setInput(0, direct)
    merge.setInput(1, off)
    assert {n.name() for n in gather.prompt_nodes(merge)} == {direct.name(), behind.name(), tr.name()}
    got = gather.retimed_prompt_nodes(merge)
    assert sorted((p.name(), t.name()) for p, t in got) == sorted([(tr.name(), off.name()),
                                                                   (behind.name(), off.name())])
    assert gather.retimed_prompt_nodes(direct) == []
