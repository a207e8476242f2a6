"""The SAMatte node in Nuke (the API double in tests/nuke):

* a custom frame range typed in the files' numbers (1001-1004) on a Read whose frame offset shows them as script
  frames 1-4: the node rendered the plate on script frames 1001-1004, where Nuke holds the last file, and
  matted four copies of one held picture without a word. Every frame outside the Source's range is now
  FRAME_RANGE_INVALID saying the range is in script frames; a range reaching past it is a warning, logged and on
  the node's status line when the job ends.
* a Tracker4 object whose tracks are all disabled on the range (beside a Roto object) left the job without a log
  or status line. It is now said, logged and on the status line."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte.errors import FrameRangeError  # noqa: E402
from samatte_nuke import node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("q154nk")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    nuke._set_render_hook(lambda w, first, last: None)
    return nuke


def _roto(nuke, source, name="B"):
    roto = nuke.nodes.Roto()
    roto.setInput(0, source)
    s = rp.Shape(roto["curves"], name=name)
    for x, y in ((5, 5), (30, 6), (20, 25)):
        cp = rp.ShapeControlPoint()
        for t in list(range(-5, 12)) + list(range(995, 1010)):
            cp.center.addPositionKey(t, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    return roto


def _node(nuke, source, prompts, tmp_path, frames=None):
    g = snode.create()
    g.setInput(0, source)
    g.setInput(1, prompts)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    if frames:
        g["range_mode"].setValue("custom")
        g["custom_range"].setValue(frames)
    return g


def _read(shot):
    """Files 1001-1004 shown on script frames 1-4 (offset -1000)."""
    return nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="offset", value=-1000)


def test_a_custom_range_in_file_numbers_is_refused_saying_script_frames(nk, shot, tmp_path):
    r = _read(shot)
    g = _node(nk, r, _roto(nk, r), tmp_path, "1001-1004")
    with pytest.raises(FrameRangeError) as e:
        snode.build(g)
    assert "1001-1004 lie outside the Source's frames 1-4" in e.value.message
    assert "not the files' numbers" in e.value.message
    # the node's button says it on the status line, with the stable code
    snode.on_track(g)
    assert g["status"].value().startswith("error [FRAME_RANGE_INVALID]"), g["status"].value()
    # the range in script frames: the Read used as it is, no warning
    g["custom_range"].setValue("1-4")
    job, info = snode.build(g)
    assert info["warnings"] == [] and job["plate"]["path"] == shot["plate"]


def test_a_custom_range_past_the_plate_warns_on_the_status_line(nk, shot, tmp_path):
    r = _read(shot)
    g = _node(nk, r, _roto(nk, r), tmp_path, "3-6")
    job, info = snode.build(g)
    assert len(info["warnings"]) == 1 and "script frame(s) 5-6 lie outside the Source's frames 1-4" in \
        info["warnings"][0]
    snode._show_result(g, job, info, {}, {"written": [], "skipped": []},
                       warnings=list(info["warnings"]))
    assert "1 warning(s), first: the custom range's script frame(s) 5-6" in g["status"].value()


def test_a_tracker4_object_with_every_track_disabled_is_said(nk, shot, tmp_path, monkeypatch):
    r = _read(shot)
    roto = _roto(nk, r, name="B")
    tr = nk.nodes.Tracker4()
    tr.setInput(0, roto)
    k = tr["tracks"]
    k._add_track("hero/eye", {1: (10, 50), 2: (11, 50)}, enabled=False)
    k._add_track("hero/nose", {2: (20, 40)}, enabled=False)
    said = []
    monkeypatch.setattr(nk, "tprint", lambda *a: said.append(" ".join(str(x) for x in a)), raising=False)
    g = _node(nk, r, tr, tmp_path)
    job, info = snode.build(g)
    assert [o["host_name"] for o in job["objects"]] == [roto.name()]     # hero: no enabled track
    text = "%s: every track of object 'hero' is disabled on the frames of the range" % tr.name()
    assert any(text in w for w in info["warnings"]), info["warnings"]
    assert any(text in s for s in said), said
    # an object with one enabled track is not said
    k._add_track("hero/ear", {2: (30, 30)})
    job, info = snode.build(g)
    assert sorted(o["host_name"] for o in job["objects"]) == sorted([roto.name(), "hero"])
    assert info["warnings"] == []
