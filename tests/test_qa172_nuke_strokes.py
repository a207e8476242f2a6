"""QA, Nuke day 15 (the Nuke double): what a RotoPaint paint stroke really draws.

* A paint stroke animated with **write on** (the Stroke tab's write on start / end, keyed: a stroke drawn on
  over the shot) was prompted whole on every frame it was prompted: on a frame where Nuke draws its first half,
  the prompt ran along the whole stroke (a 100 px line where 50 px are drawn), and on a frame where it is written
  off entirely (start = end) the object counted as present and got a line Nuke does not draw. The adapter now
  reads the two attributes through AnimAttributes' documented constants (``kWriteOnStartAttribute``,
  ``kWriteOnEndAttribute``, Foundry's nuke.curvelib.AnimAttributes reference; only where ``name in attributes``)
  and prompts the part between them (fractions of the stroke's parameter, 0 its first point, 1 its last); a stroke
  written off is not drawn there (absent, as a hidden one).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import gather  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry, written_part  # noqa: E402

GEOM = Geometry(200, 100)
FRAMES = list(range(1, 6))


@pytest.fixture
def paint():
    nk = nuke_env.fresh()
    return nk.nodes.RotoPaint()


def _stroke(node, name="Brush1", layer="hero"):
    """A straight stroke from x=10 to x=110 at y=50 (Nuke), 11 points 10 px apart, keyed on frame 1, in a layer."""
    c = node["curves"]
    st = rp.Stroke(c, name=name)
    for i in range(11):
        p = rp.AnimControlPoint()
        p.addPositionKey(1, (10 + 10 * i, 50))
        st.append(p)
    lay = rp.Layer(c, name=layer)
    lay.append(st)
    c.rootLayer.append(lay)
    return st


def _by_frame(got, obj="hero"):
    return {q["frame"]: q for q in got.get(obj, [])}


def test_a_stroke_half_written_on_is_prompted_along_its_drawn_half(paint):
    st = _stroke(paint)
    attrs = st.getAttributes()
    attrs.set(attrs.kWriteOnEndAttribute, 0.5, time=1)      # half drawn on frame 1
    got = gather.gather_roto(paint, GEOM, FrameMap(0), FRAMES, rp)
    q = _by_frame(got)[1]
    xs = [p[0] for p in q["points"]]
    # before: 10 .. 110, the whole stroke
    assert q["closed"] is False and min(xs) == 10.0 and max(xs) == 60.0
    assert all(p[1] == 50.0 for p in q["points"])


def test_a_stroke_written_off_from_its_start_is_prompted_along_what_is_left(paint):
    st = _stroke(paint)
    attrs = st.getAttributes()
    attrs.set(attrs.kWriteOnStartAttribute, 0.25, time=1)
    got = gather.gather_roto(paint, GEOM, FrameMap(0), FRAMES, rp)
    xs = [p[0] for p in _by_frame(got)[1]["points"]]
    assert min(xs) == 35.0 and max(xs) == 110.0


def test_a_stroke_not_yet_written_on_is_not_drawn_there(paint):
    """Write on end 0 on frames 1-2, 1 from frame 3: nothing is drawn on 1-2 (the object is absent there, as
    where a stroke is hidden), the stroke is prompted on the first frame it is drawn."""
    st = _stroke(paint)
    attrs = st.getAttributes()
    attrs.set(attrs.kWriteOnEndAttribute, 0.0, time=1)
    attrs.set(attrs.kWriteOnEndAttribute, 1.0, time=3)
    got = gather.gather_roto(paint, GEOM, FrameMap(0), FRAMES, rp)
    assert sorted(_by_frame(got)) == [3]                    # before: [1], a line Nuke does not draw
    plan = gather._roto_plan(paint, FRAMES, rp, None)
    absent = gather._absent_frames({"n": plan}, rp, FRAMES, FrameMap(0))
    assert absent == {"hero": {1, 2}}                        # before: {} (present on every frame)


def test_a_stroke_drawn_whole_is_prompted_as_before(paint):
    _stroke(paint)
    got = gather.gather_roto(paint, GEOM, FrameMap(0), FRAMES, rp)
    q = _by_frame(got)[1]
    assert [p[0] for p in q["points"]] == [10.0 + 10 * i for i in range(11)]


def test_a_stroke_without_write_on_attributes_is_drawn_whole(paint):
    """An older Nuke, or an element without the attributes: read whole, as before."""
    st = _stroke(paint)
    attrs = st.getAttributes()
    del attrs._v[attrs.kWriteOnStartAttribute], attrs._v[attrs.kWriteOnEndAttribute]
    got = gather.gather_roto(paint, GEOM, FrameMap(0), FRAMES, rp)
    assert len(_by_frame(got)[1]["points"]) == 11


def test_written_part():
    pts = [(0, 0), (10, 0), (20, 0), (30, 0)]
    assert written_part(pts, 0.0, 1.0) == [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (30.0, 0.0)]
    assert written_part(pts, 0.0, 0.5) == [(0.0, 0.0), (10.0, 0.0), (15.0, 0.0)]
    assert written_part(pts, 0.5, 1.0) == [(15.0, 0.0), (20.0, 0.0), (30.0, 0.0)]
    assert written_part(pts, 0.4, 0.4) == [] and written_part(pts, 0.6, 0.2) == []


def test_write_on_is_read_on_paint_strokes_only(paint):
    """A Roto shape carrying attributes of those names (whatever Nuke keeps on it) is drawn as before: write on
    is the Stroke tab's, a paint stroke's."""
    c = paint["curves"]
    shape = rp.Shape(c, (10, 10), (60, 10), (35, 40), name="Bezier1")
    for cp in shape:
        cp.center.addPositionKey(2, (cp.center.getPosition(2).x, cp.center.getPosition(2).y))
    attrs = shape.getAttributes()
    attrs.set(attrs.kWriteOnStartAttribute, 0.0)
    attrs.set(attrs.kWriteOnEndAttribute, 0.0)
    lay = rp.Layer(c, name="hero")
    lay.append(shape)
    c.rootLayer.append(lay)
    got = gather.gather_roto(paint, GEOM, FrameMap(0), FRAMES, rp)
    assert sorted(_by_frame(got)) == [2] and _by_frame(got)[2]["closed"] is True
