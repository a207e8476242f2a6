"""Prompt gathering from Roto, RotoPaint and Tracker4 (the double in tests/nuke), tested directly."""
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


def _square(curves, name, keys, *, tangent=(0, 0)):
    """A 4-point shape keyed at ``keys`` {frame: (x0, y0, size)} (Nuke coordinates)."""
    s = rp.Shape(curves, name=name)
    for i, (dx, dy) in enumerate(((0, 0), (1, 0), (1, 1), (0, 1))):
        cp = rp.ShapeControlPoint()
        for t, (x0, y0, size) in keys.items():
            cp.center.addPositionKey(t, (x0 + dx * size, y0 + dy * size))
        cp.leftTangent.setPosition((-tangent[0], -tangent[1]))
        cp.rightTangent.setPosition(tangent)
        cp.featherCenter.setPosition(((2 * dx - 1) * 3, (2 * dy - 1) * 4))   # 5 px out of the corner
        s.append(cp)
    return s


@pytest.fixture
def nk():
    return nuke_env.fresh()


def test_roto_layers_objects_keys_transforms_and_frames(nk):
    read = nuke_env.make_read("/p/plate.####.exr", 1001, 1010, width=200, height=100, mode="start at", value=1)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    curves = roto["curves"]
    hero = rp.Layer(curves, name="hero layer")
    hero.getTransform().addTranslationKey(0, 10, 0)            # layer moves everything right by 10
    hero.append(_square(curves, "Bezier1", {2: (20, 10, 30), 4: (40, 10, 30)}, tangent=(2, 0)))
    hole = _square(curves, "-hole", {2: (25, 15, 5)})
    hero.append(hole)
    curves.rootLayer.append(hero)
    loose = _square(curves, "Bezier2", {3: (100, 50, 20)})
    curves.rootLayer.append(loose)

    geom = Geometry.from_node(read)
    fmap = FrameMap.from_read(read)
    got = gather.gather_roto(roto, geom, fmap, list(range(1, 11)), rp)
    assert set(got) == {"hero layer", roto.name()}
    hp = got["hero layer"]
    # the hole (keyed on 2 only) is held on 4, where Nuke draws Bezier1 minus it: prompted there too
    assert sorted((q["frame"], q["mode"]) for q in hp) == [(1002, "add"), (1002, "subtract"), (1004, "add"),
                                                           (1004, "subtract")]
    first = [q for q in hp if q["frame"] == 1002 and q["mode"] == "add"][0]
    assert first["type"] == "bezier" and first["closed"] is True
    # control point 0 at Nuke (20, 10) + layer (10, 0) -> JobSpec (30, 100 - 10) with handles -/+ 2 in x
    assert first["points"][0] == [30.0, 90.0, 28.0, 90.0, 32.0, 90.0]
    assert first["feather"] == pytest.approx(5.0)
    assert [q["frame"] for q in got[roto.name()]] == [1003]


def test_hidden_shape_frames_and_unkeyed_shape(nk):
    roto = nk.nodes.Roto()
    curves = roto["curves"]
    s = _square(curves, "B", {5: (10, 10, 10), 6: (12, 10, 10)})
    s.getAttributes().set("vis", 1.0, time=5)
    s.getAttributes().set("vis", 0.0, time=6)
    curves.rootLayer.append(s)
    static = rp.Shape(curves, (10, 10), (30, 10), (20, 30), name="static")
    curves.rootLayer.append(static)
    got = gather.gather_roto(roto, Geometry(100, 100), FrameMap(0), [4, 5, 6, 7], rp)
    frames = sorted((q["frame"], q["label"].split("/")[1]) for q in got[roto.name()])
    # the static shape sits on the range's first frame; frame 6 is hidden. Both shapes are at the root (one
    # object): each one's frame is an anchor of that object, where Nuke draws the other too (B held from 5)
    assert frames == [(4, "B"), (4, "static"), (5, "B"), (5, "static")]


def test_rotopaint_open_stroke_and_subtract_stroke(nk):
    rpn = nk.nodes.RotoPaint()
    curves = rpn["curves"]
    st = rp.Stroke(curves, name="Brush1")
    for x in (10, 20, 30):
        p = rp.AnimControlPoint()
        p.addPositionKey(7, (x, 40))
        st.append(p)
    neg = rp.Stroke(curves, (5, 5), (8, 9), name="-bg")
    layer = rp.Layer(curves, name="fg")
    layer.append(st)
    layer.append(neg)
    curves.rootLayer.append(layer)
    got = gather.gather_roto(rpn, Geometry(64, 64), FrameMap(0), [7, 8], rp)
    qs = got["fg"]
    stroke = [q for q in qs if q["mode"] == "add"][0]
    assert stroke["type"] == "polygon" and stroke["closed"] is False
    assert stroke["points"] == [[10.0, 24.0], [20.0, 24.0], [30.0, 24.0]]
    assert [q["mode"] for q in qs if q["frame"] == 7].count("subtract") == 1


def test_tracker4_tracks_objects_negatives_disabled(nk):
    read = nuke_env.make_read("/p/plate.%04d.exr", 1001, 1005, width=100, height=80, mode="offset", value=-1000)
    tr = nk.nodes.Tracker4()
    tr.setInput(0, read)
    k = tr["tracks"]
    k._add_track("hero/eye", {1: (10, 70), 2: (11, 70), 3: (12, 70)})
    k._add_track("hero/-wall", {2: (90, 10)})
    k._add_track("track 3", {1: (50, 40)})
    k._add_track("hero/off", {1: (20, 20)}, enabled=False)
    k._add_track("hero/late", {1: (30, 30), 2: (31, 30)}, enabled={1: False, 2: True})
    table = gather.TrackerTable(k)
    assert table.names == ["hero/eye", "hero/-wall", "track 3", "hero/off", "hero/late"]
    assert table.columns[:4] == ["enable", "name", "track_x", "track_y"]
    got = gather.gather_tracker(tr, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4, 5])
    hero = {q["frame"]: q for q in got["hero"]}
    assert sorted(hero) == [1001, 1002, 1003]
    assert hero[1001]["points"] == [[10.0, 10.0]] and hero[1001]["labels"] == [1]
    assert hero[1002]["labels"] == [1, 0, 1]              # eye, -wall (negative), late (enabled at 2)
    assert hero[1002]["points"][1] == [90.0, 70.0]
    assert got[tr.name()][0]["frame"] == 1001


def test_prompt_chain_and_objects_validate(nk):
    read = nuke_env.make_read("/p/plate.####.exr", 1, 10, width=100, height=100)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    roto["curves"].rootLayer.append(_square(roto["curves"], "B", {3: (10, 10, 40)}))
    tr = nk.nodes.Tracker4()
    tr.setInput(0, roto)
    tr["tracks"]._add_track("%s/pt" % roto.name(), {5: (30, 30)})
    dot = nk.nodes.Dot()
    dot.setInput(0, tr)
    found = gather.prompt_nodes(dot)
    assert [n.Class() for n in found] == ["Tracker4", "Roto"]
    objs = gather.gather_objects(found, Geometry.from_node(read), FrameMap(0), list(range(1, 11)), rp,
                                 safe_name=safe_name)
    assert len(objs) == 1 and objs[0]["name"] == roto.name()
    assert [q["type"] for q in objs[0]["prompts"]] == ["bezier", "points"]
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr", frames="1-10")
    for ob in objs:
        jobspec.add_object(job, ob["name"], ob["prompts"], host_name=ob["host_name"])
    v = jobspec.validate(job)
    assert v["objects"][0]["host_name"] == roto.name()


def test_safe_names_for_host_names(nk):
    roto = nk.nodes.Roto()
    c = roto["curves"]
    for nm in ("my roto.001", "Alpha"):
        layer = rp.Layer(c, name=nm)
        layer.append(_square(c, "B", {1: (10, 10, 20)}))
        c.rootLayer.append(layer)
    objs = gather.gather_objects([roto], Geometry(64, 64), FrameMap(0), [1], rp, safe_name=safe_name)
    assert [(o["name"], o["host_name"]) for o in objs] == [("my_roto_001", "my roto.001"),
                                                            ("Alpha_layer", "Alpha")]


def test_tracker_key_times_from_the_curve_text_when_animation_is_unavailable(nk, monkeypatch):
    tr = nk.nodes.Tracker4()
    k = tr["tracks"]
    k._add_track("a", {5: (1, 2), 6: (2, 2), 9: (3, 3)})
    monkeypatch.setattr(type(k), "animation", lambda self, i=0: None)
    table = gather.TrackerTable(k)
    assert table.key_times(0) == [5, 6, 9]
    assert gather.TrackerTable.curve_key_times("{curve K x1001 10 11 x1010 12}") == [1001, 1002, 1010]
    assert gather.TrackerTable.curve_key_times("{}") == []
