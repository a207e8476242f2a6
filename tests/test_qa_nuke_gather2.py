"""QA (second pass): prompts from Nuke that the adapter used to leave alone, where Foundry's documentation
or widely used public tools settle what the artist sees.

* A prompt node behind a TimeOffset or FrameHold: the SAMatte node sees its keys on other frames (Foundry:
  "Offsetting Clips" -- a positive time offset adds frames to the head of the clip; FrameHold reference --
  first_frame / increment). The keys are now prompted on the frames the Prompts input shows them on.
* A shape's feather: samatte's ``feather`` is positive outward, negative inward; feather points inside the
  shape (Foundry: featherCenter is "the feather point offsets, relative to the center point") were counted
  as an outward feather.
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
from samatte_nuke.convert import FrameMap, Geometry, framehold_source, signed_feather, timeoffset_source  # noqa: E402

GEOM = Geometry(200, 100)


def _tri(curves, name, keys):
    """A triangle keyed on ``keys`` {frame: x0} (its left corner moves in x)."""
    s = rp.Shape(curves, name=name)
    for dx, dy in ((0, 0), (30, 0), (15, 30)):
        cp = rp.ShapeControlPoint()
        for t, x0 in keys.items():
            cp.center.addPositionKey(t, (x0 + dx, 10 + dy))
        s.append(cp)
    return s


def _roto_behind(nk, keys, *time_nodes):
    """Roto (one shape keyed on ``keys``) -> time nodes (first is nearest the Roto) -> returns the last."""
    roto = nk.nodes.Roto()
    roto["curves"].rootLayer.append(_tri(roto["curves"], "s", keys))
    up = roto
    for tn in time_nodes:
        tn.setInput(0, up)
        up = tn
    return roto, up


def _prompted(start, frames, *, log=None):
    """{SAMatte frame: x of the shape's first point} for what ``start`` feeds the Prompts input."""
    out = {}
    for node, time in gather.prompt_sources(start, log=log):
        got = gather.gather_roto(node, GEOM, FrameMap(0), frames, rp, time=time)
        for q in got.get(node.name(), []):
            out[q["frame"]] = q["points"][0][0]
    return out


@pytest.fixture
def nk():
    return nuke_env.fresh()


def test_frame_maps_from_foundrys_time_nodes():
    assert timeoffset_source(15, 5) == 10         # a key on frame 10 behind TimeOffset +5 shows on 15
    assert timeoffset_source(15, -5) == 20
    assert framehold_source(3, 10, 0) == 10       # increment 0: first_frame on every frame
    assert [framehold_source(t, 1, 5) for t in (1, 5, 6, 10, 11, 16)] == [1, 1, 6, 6, 11, 16]
    assert framehold_source(0, 1, 5) is None      # before first_frame with an increment: not documented
    assert framehold_source(7, 1, -2) is None


def test_a_roto_behind_a_timeoffset_is_prompted_on_the_frames_the_samatte_node_sees_it(nk):
    """Keys on roto frames 10 and 12 behind TimeOffset +5 show on frames 15 and 17 of the Prompts input;
    they were prompted on 10 and 12, 5 frames before the plate shows the shape there."""
    roto, off = _roto_behind(nk, {10: 10, 12: 30}, nk.nodes.TimeOffset(time_offset=5))
    assert _prompted(off, range(1, 31)) == {15: 10.0, 17: 30.0}
    _, back = _roto_behind(nk, {10: 10, 12: 30}, nk.nodes.TimeOffset(time_offset=-5))
    assert _prompted(back, range(1, 31)) == {5: 10.0, 7: 30.0}


def test_a_key_moved_out_of_the_range_by_the_offset_is_not_prompted(nk):
    roto, off = _roto_behind(nk, {2: 10, 8: 30}, nk.nodes.TimeOffset(time_offset=5))
    # range 1-10: roto frame 2 shows on 7 (kept), roto frame 8 on 13 (outside the range)
    assert _prompted(off, range(1, 11)) == {7: 10.0}


def test_a_framehold_prompts_the_held_shape_once(nk):
    """FrameHold on frame 10 (increment 0) shows roto frame 10 on every frame: the shape there (between
    keys 5 and 15, so interpolated) is one static prompt on the range's first frame, not the keys on 5
    and 15 that the Prompts input never shows."""
    _, hold = _roto_behind(nk, {5: 10, 15: 30}, nk.nodes.FrameHold(first_frame=10))
    assert _prompted(hold, range(1, 21)) == {1: 20.0}


def test_a_framehold_with_an_increment_prompts_each_held_frame(nk):
    keys = {t: 10 + t for t in range(1, 21)}      # a shape keyed on every frame (a tracked roto)
    _, hold = _roto_behind(nk, keys, nk.nodes.FrameHold(first_frame=1, increment=5))
    assert _prompted(hold, range(1, 21)) == {1: 11.0, 6: 16.0, 11: 21.0, 16: 26.0}


def test_time_nodes_compose_nearest_the_samatte_node_first(nk):
    """Roto -> TimeOffset +5 -> FrameHold 20 -> SAMatte: every frame shows the FrameHold's frame 20, which
    is the roto's frame 15 (x halfway between the keys on 10 and 20)."""
    _, last = _roto_behind(nk, {10: 10, 20: 30}, nk.nodes.TimeOffset(time_offset=5),
                           nk.nodes.FrameHold(first_frame=20))
    assert _prompted(last, range(1, 11)) == {1: 20.0}


def test_a_tracker_behind_a_timeoffset(nk):
    tr = nk.nodes.Tracker4()
    tr["tracks"]._add_track("hero/eye", {1: (10, 70), 2: (11, 70), 3: (12, 70)})
    off = nk.nodes.TimeOffset(time_offset=-1)
    off.setInput(0, tr)
    (node, time), = gather.prompt_sources(off)
    got = gather.gather_tracker(node, Geometry(100, 80), FrameMap(-1000), list(range(1, 6)), time=time)
    # tracker frames 2 and 3 show on SAMatte frames 1 and 2 (file 1001, 1002); tracker frame 1 on frame 0
    assert [(q["frame"], q["points"]) for q in got["hero"]] == [(1001, [[11.0, 10.0]]), (1002, [[12.0, 10.0]])]


def test_undocumented_retimes_are_logged_and_read_at_their_own_frames(nk):
    """Retime, TimeWarp and a TimeOffset with reverse input (how it combines with the offset and the input's
    range is not documented by Foundry) keep the old behaviour: the node's log names them. A disabled
    TimeOffset passes frames through."""
    logs = []
    _, rev = _roto_behind(nk, {10: 10}, nk.nodes.TimeOffset(time_offset=5, reverse_input=True))
    assert _prompted(rev, range(1, 31), log=logs.append) == {10: 10.0}
    _, warp = _roto_behind(nk, {10: 10}, nk.nodes.Retime())
    assert _prompted(warp, range(1, 31), log=logs.append) == {10: 10.0}
    assert len(logs) == 2 and all("retime is not applied" in m for m in logs)
    off = nk.nodes.TimeOffset(time_offset=5)
    off["disable"].setValue(True)
    _, dis = _roto_behind(nk, {10: 10}, off)
    assert _prompted(dis, range(1, 31)) == {10: 10.0}


def test_gather_objects_takes_prompt_sources_and_the_job_validates(nk):
    read = nuke_env.make_read("/p/plate.####.exr", 1001, 1030, width=200, height=100, mode="start at", value=1)
    roto, off = _roto_behind(nk, {10: 10}, nk.nodes.TimeOffset(time_offset=5))
    roto.setInput(0, read)
    direct = nk.nodes.Roto()
    direct.setInput(0, read)
    direct["curves"].rootLayer.append(_tri(direct["curves"], "d", {3: 50}))
    merge = nk.nodes.Merge2()
    merge.setInput(0, direct)
    merge.setInput(1, off)
    sources = gather.prompt_sources(merge)
    objs = gather.gather_objects(sources, Geometry.from_node(read), FrameMap.from_read(read), list(range(1, 31)),
                                 rp, safe_name=safe_name)
    frames = {o["host_name"]: [q["frame"] for q in o["prompts"]] for o in objs}
    assert frames == {direct.name(): [1003], roto.name(): [1015]}
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr", frames="1001-1030")
    for ob in objs:
        jobspec.add_object(job, ob["name"], ob["prompts"], host_name=ob["host_name"])
    jobspec.validate(job)


def _square_feathered(curves, name, feather, *, clockwise=False):
    """A 40 px square keyed on frame 1 whose feather points sit ``feather`` px out of each corner along
    the diagonal (inward when negative)."""
    corners = [(0, 0), (1, 0), (1, 1), (0, 1)]
    if clockwise:
        corners.reverse()
    s = rp.Shape(curves, name=name)
    d = feather / 2 ** 0.5
    for dx, dy in corners:
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(1, (20 + 40 * dx, 20 + 40 * dy))
        cp.featherCenter.setPosition(((2 * dx - 1) * d, (2 * dy - 1) * d))
        s.append(cp)
    return s


@pytest.mark.parametrize("clockwise", [False, True])
def test_feather_points_inside_the_shape_give_an_inward_feather(nk, clockwise):
    """Nuke draws a shape's falloff between its curve and its feather curve: feather points pulled inside
    the shape soften it inward. samatte's ``feather`` is negative inward; the adapter took the distance
    only, so an inward feather widened the prompt outward. The winding of the points does not matter."""
    roto = nk.nodes.Roto()
    c = roto["curves"]
    c.rootLayer.append(_square_feathered(c, "out", 6.0, clockwise=clockwise))
    c.rootLayer.append(_square_feathered(c, "in", -6.0, clockwise=clockwise))
    c.rootLayer.append(_square_feathered(c, "hard", 0.0, clockwise=clockwise))
    got = gather.gather_roto(roto, GEOM, FrameMap(0), [1, 2], rp)
    feathers = {q["label"].split("/")[1]: q["feather"] for q in got[roto.name()]}
    assert feathers == {"out": pytest.approx(6.0), "in": pytest.approx(-6.0), "hard": 0.0}


def test_signed_feather_per_point():
    square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert signed_feather(square, [(-1, -1), (1, -1), (1, 1), (-1, 1)]) == pytest.approx(2 ** 0.5)
    # two points feathered out by 4, two in by 2: the mean signed distance
    assert signed_feather(square, [(-4, 0), (4, 0), (-2, 0), (2, 0)]) == pytest.approx((4 + 4 - 2 - 2) / 4)
    assert signed_feather([], []) == 0.0


def test_the_samatte_node_prompts_a_roto_behind_a_timeoffset_on_the_shifted_frame(tmp_path, monkeypatch):
    """The node's own gathering (node.build) applies the TimeOffset and says so in the Script Editor;
    it named the TimeOffset and prompted the roto's own frame."""
    pytest.importorskip("numpy")
    from samatte.demo import make_shot
    from samatte_nuke import node as snode
    nk = nuke_env.fresh()
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    shot = make_shot(str(tmp_path / "shot"), frames=4, size=(96, 64), first=1001)
    w, h = shot["size"]
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=w, height=h, mode="start at", value=1)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    roto["curves"].rootLayer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, h, name="B"))
    off = nk.nodes.TimeOffset(time_offset=1)
    off.setInput(0, roto)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, off)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    printed = []
    monkeypatch.setattr(nk, "tprint", lambda *a: printed.append(" ".join(str(x) for x in a)))
    job, _ = snode.build(g)
    assert [q["frame"] for q in job["objects"][0]["prompts"]] == [1003]     # roto frame 2 is seen on 3
    assert any(off.name() in m and "sees them on" in m for m in printed)
