"""QA, Nuke day 5 (the Nuke double): three gaps of the adapter.

* A Switch whose ``which`` is animated counted every input as shown on every frame: prompts of two versions of a
  roto mixed (v1's box and v2's triangle both prompted on each key frame). Now each input counts on the frames
  where ``which`` shows it (a non-integer value taken down, out of range clamped: the rule of an unanimated
  ``which``), and an object whose every shape is behind an unshown input there is ``absent`` there.
* Worker log lines printed to the Script Editor named file numbers ("frame 1004: the tracker's temporal reference
  1003 ...") on a Read with 'start at' 1 (script frame 4); now the script frames are added, as for errors.
* The objects list (Refresh objects' ``objects_info``, the panel's table) did not say when an object is absent;
  now "...; absent 4-5" in script frames.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import gather, node as snode  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

W, H = 96, 64
TRIANGLE = [(20.5, 10.5), (70.5, 12.5), (45.5, 50.5)]
BOX = [(2.5, 40.5), (30.5, 40.5), (30.5, 62.5), (2.5, 62.5)]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day5")), frames=5, size=(W, H), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _roto(nk, up, layer_name, polygon, key):
    roto = nk.nodes.Roto()
    roto.setInput(0, up)
    layer = rp.Layer(roto["curves"], name=layer_name)
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, key, H, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    return roto


def _switched(nk, shot, second_layer="hero", keys=((2, 0), (3, 1))):
    """Read (files 1001-1005, 'start at' 1: script 1-5) -> v1 (hero: a box keyed on 1), v2 (``second_layer``: a
    triangle keyed on 4) -> Switch, 'which' keyed (frame, value): input 0 on 1-2, input 1 on 3-5."""
    read = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    v1 = _roto(nk, read, "hero", BOX, 1)
    v2 = _roto(nk, read, second_layer, TRIANGLE, 4)
    sw = nk.nodes.Switch(which=0)
    sw.setInput(0, v1)
    sw.setInput(1, v2)
    for t, v in keys:
        sw["which"].setValueAt(v, t)
    return read, v1, v2, sw


def _gather(read, sw, logs=None):
    from samatte.names import safe_name
    return gather.gather_objects(gather.prompt_sources(sw), Geometry.from_node(read), FrameMap.from_read(read),
                                 [1, 2, 3, 4, 5], rp, safe_name=safe_name, log=(logs or []).append)


def test_an_animated_switch_prompts_each_roto_only_on_the_frames_it_shows_it(nk, shot):
    read, v1, v2, sw = _switched(nk, shot)
    (hero,) = _gather(read, sw)
    got = [(q["frame"], q["label"].split("/")[0]) for q in hero["prompts"]]
    # before: [(1001, v1), (1001, v2), (1004, v1), (1004, v2)]: both versions on both key frames
    assert got == [(1001, v1.name()), (1004, v2.name())], got
    assert not hero.get("absent")


def test_a_non_integer_which_is_taken_down(nk, shot):
    """'which' 0 on frame 1 to 1 on frame 5 (0.25, 0.5, 0.75 between): input 0 on 1-4, input 1 on 5 alone."""
    read, v1, v2, sw = _switched(nk, shot, keys=((1, 0), (5, 1)))
    (hero,) = _gather(read, sw)
    got = [(q["frame"], q["label"].split("/")[0]) for q in hero["prompts"]]
    # v2's key (4) is not shown: v2 is prompted on the first frame it is shown, 5 (v2 interpolated / held there)
    assert got == [(1001, v1.name()), (1005, v2.name())], got


def test_an_object_behind_the_unshown_input_is_absent_there(nk, shot, tmp_path):
    read, v1, v2, sw = _switched(nk, shot, second_layer="ghost")
    obs = {ob["host_name"]: ob for ob in _gather(read, sw)}
    # before: hero (v1) and ghost (v2) both present on every frame, each prompted on 1 and 4
    assert obs["hero"]["absent"] == [1003, 1004, 1005] and obs["ghost"]["absent"] == [1001, 1002]
    assert [q["frame"] for q in obs["hero"]["prompts"]] == [1001]
    assert [q["frame"] for q in obs["ghost"]["prompts"]] == [1004]
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, sw)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job = snode.on_refresh(g)
    assert job is not None, g["status"].value()
    assert {ob["host_name"]: ob.get("absent") for ob in job["objects"]} == {"hero": "1003-1005", "ghost": "1001-1002"}


def test_an_animated_switch_is_followed_when_the_source_is_retimed(nk, shot):
    """Read -> TimeOffset(0) -> Source, the rotos drawn on the Read (carried through the Source's TimeOffset):
    the Switch still decides; before, the carried frame map replaced the Switch's and both versions mixed."""
    from samatte.names import safe_name
    read, v1, v2, sw = _switched(nk, shot)
    to = nk.nodes.TimeOffset()
    to["time_offset"].setValue(0)
    to.setInput(0, read)
    sources = gather.carry_to_source(gather.prompt_sources(sw), to)
    (hero,) = gather.gather_objects(sources, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4, 5],
                                    rp, safe_name=safe_name)
    got = [(q["frame"], q["label"].split("/")[0]) for q in hero["prompts"]]
    assert got == [(1001, v1.name()), (1004, v2.name())], got


def test_refresh_objects_says_where_an_object_is_absent(nk, shot, tmp_path):
    read, v1, v2, sw = _switched(nk, shot, second_layer="ghost")
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, sw)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    assert snode.on_refresh(g) is not None, g["status"].value()
    text = g["objects_info"].value()
    # before: "hero (hero): 1 prompt(s) on 1" (nothing on the absent frames)
    assert "hero (hero): 1 prompt(s) on 1; absent 3-5" in text, text
    assert "ghost (ghost): 1 prompt(s) on 4; absent 1-2" in text, text


def test_the_panel_table_says_absent_in_script_frames():
    from samatte_nuke.convert import absent_text
    assert absent_text({"absent": "1020-1030"}, -1000) == "20-30"      # a JobSpec object (the node's stored job)
    assert absent_text({"absent": [1004, 1005]}, -1000) == "4-5"        # a gathered one (file numbers)
    assert absent_text({"prompts": []}, -1000) == ""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    pytest.importorskip("PySide6")
    from PySide6 import QtWidgets
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from samatte_nuke import panel as spanel
    p = spanel.SamattePanel("SAMatte1")
    p.load([{"name": "hero", "host_name": "hero", "prompts": [{"frame": 1003}, {"frame": 1010}],
             "absent": "1020-1030"}], list(range(1001, 1031)), offset=0)
    # before: "1003, 1010"
    assert p.table.item(0, 3).text() == "1003, 1010; absent 1020-1030"
    p.deleteLater()
    assert app is not None


def test_worker_log_lines_name_script_frames(nk, shot, monkeypatch):
    read = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    info = {"offset": -1000, "fmap": FrameMap.from_read(read)}
    line = ("frame 1004: the tracker's temporal reference 1003 is not the keyed one 1002; restarting the temporal "
            "state there")
    said = snode._in_script_terms("LOG", line, None, info)
    # before: the line as the worker wrote it (file numbers only)
    assert said == ("frame 1004 (script frame 4): the tracker's temporal reference 1003 (script frame 3) is not the "
                    "keyed one 1002 (script frame 2); restarting the temporal state there"), said
    other = "frame 1002: replaced 12 non-finite pixel values (NaN, -inf with 0, +inf with 65504)"
    assert snode._in_script_terms("LOG", other, None, info) == (
        "frame 1002 (script frame 2): replaced 12 non-finite pixel values (NaN, -inf with 0, +inf with 65504)")
    assert snode._in_script_terms("LOG", "frames 1002-1004 dropped", None, info) == (
        "frames 1002-1004 (script frames 2-4) dropped")
    same = {"offset": 0, "fmap": None}
    assert snode._in_script_terms("LOG", line, None, same) == line
    # through the node: the line the Script Editor gets
    printed = []
    monkeypatch.setattr(snode.nuke, "tprint", lambda *a: printed.append(" ".join(str(x) for x in a)))
    seen = {}

    class FakeRunner(object):
        def __init__(self, nuke, *, on_event, **kw):
            seen["on_event"] = on_event

        def start(self):
            pass

    monkeypatch.setattr(snode, "JobRunner", FakeRunner)
    monkeypatch.setattr(snode.config, "samatte_python", lambda v: "python")
    g = snode.create()
    snode._start(g, {"name": "j"}, info, stage="all", frames=None, title="t")
    seen["on_event"]("log", {"level": "warning", "message": line})
    snode.RUNNERS.pop(g.fullName(), None)
    assert any("frame 1004 (script frame 4)" in p for p in printed), printed
