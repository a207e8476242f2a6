"""QA: which plate file's matte the SAMatte node shows on each script frame, against what Nuke shows.

The node copies the matte its internal Read gives (``farm.frame_path``) onto the Source's picture. On every
script frame that matte must be the one of the plate file the Source shows there, and none where the
Source shows black or a file the job did not matte. Foundry's Read reference: outside ``first`` / ``last``
a Read shows its ``before`` / ``after`` (hold: "a still picture of the first frame of the frame range",
loop: "start over and keep looping the span of the frame range", bounce, black); TimeClip's reference
(same knobs) counts them: a 20-frame clip starting at 5 shows 17, 18, 19, 20, 1, 2 (loop), 5, 4, 3, 2, 1,
2 (bounce) before it.

Before the fix the read-back held the job's end frame past it and showed a gap's nearest job frame,
whatever the Source showed: a custom range 2-3 on a 4-file Read showed 1003's matte over plate 1004 and
1002's over 1001; a Read looping after its last file showed 1004's matte over the looped 1001-1003;
one black before its first file showed 1001's matte over black; Matte this frame refused a looped frame.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import convert, farm, node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("jobframes")
    return make_shot(str(d), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch):
    nuke = nuke_env.fresh()
    nuke._set_render_hook(lambda w, first, last: None)
    # every matte the job makes is there and current: the test is about which one each frame shows
    monkeypatch.setattr(farm, "frame_state", lambda job_text, f, fresh=False: ("complete", "/c/matte.%04d.exr" % f))
    return nuke


def _node(nuke, source, tmp_path, frames=None):
    roto = nuke.nodes.Roto()
    roto.setInput(0, source)
    s = rp.Shape(roto["curves"], name="B")
    for x, y in ((5, 5), (30, 6), (20, 25)):
        cp = rp.ShapeControlPoint()
        for t in range(-5, 12):
            cp.center.addPositionKey(t, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    g = snode.create()
    g.setInput(0, source)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    if frames:
        g["range_mode"].setValue("custom")
        g["custom_range"].setValue(frames)
    job, info = snode.build(g)
    snode._point_read(g, job, info)
    return g, job


def _read(shot, before="hold", after="hold"):
    """Files 1001-1004 shown on script frames 1-4 (offset -1000)."""
    r = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="offset", value=-1000)
    r["before"].setValue(before)
    r["after"].setValue(after)
    return r


def _shown(g, frames):
    """{script frame: the matte file number the read-back gives, or None for no matte}."""
    out = {}
    for t in frames:
        p = farm.frame_path(g, t)
        out[t] = int(p.rsplit(".", 2)[-2]) if p else None
    return out


def test_read_shown_file_follows_foundrys_examples():
    # TimeClip's worked example: a 20-frame clip (files 1-20) starting at frame 5: file f = frame - 4
    seq = [convert.read_shown_file(t - 4, 1, 20, before="loop") for t in range(1, 7)]
    assert seq == [17, 18, 19, 20, 1, 2]
    seq = [convert.read_shown_file(t - 4, 1, 20, before="bounce") for t in range(1, 7)]
    assert seq == [5, 4, 3, 2, 1, 2]
    assert [convert.read_shown_file(t - 4, 1, 20) for t in range(1, 7)] == [1, 1, 1, 1, 1, 2]
    assert [convert.read_shown_file(t - 4, 1, 20, before="black") for t in range(4, 7)] == [None, 1, 2]
    assert [convert.read_shown_file(f, 1, 4, after="bounce") for f in range(4, 10)] == [4, 3, 2, 1, 2, 3]
    assert [convert.read_shown_file(f, 1, 4, after="loop") for f in range(4, 10)] == [4, 1, 2, 3, 4, 1]


def test_a_custom_range_shows_no_matte_over_plates_it_did_not_matte(nk, shot, tmp_path):
    g, job = _node(nk, _read(shot), tmp_path, "2-3")
    assert job["plate"]["frames"] == "1002-1003" and "/plate_" not in job["plate"]["path"]
    # Nuke shows plates 1001-1004 on frames 1-4 (held before / after): only 1002-1003 have a matte
    assert _shown(g, range(-1, 7)) == {-1: None, 0: None, 1: None, 2: 1002, 3: 1003, 4: None, 5: None, 6: None}


def test_a_gap_in_the_custom_range_shows_no_matte(nk, shot, tmp_path):
    g, job = _node(nk, _read(shot), tmp_path, "1,4")
    assert job["plate"]["frames"] == "1001,1004"
    assert _shown(g, range(1, 5)) == {1: 1001, 2: None, 3: None, 4: 1004}


@pytest.mark.parametrize("before,after,want", [
    ("hold", "hold", {-2: 1001, 0: 1001, 5: 1004, 9: 1004}),
    ("loop", "loop", {-2: 1002, 0: 1004, 5: 1001, 6: 1002, 9: 1001}),
    ("bounce", "bounce", {-2: 1004, 0: 1002, 5: 1003, 7: 1001, 8: 1002}),
    ("black", "black", {-2: None, 0: None, 5: None, 9: None}),
])
def test_outside_the_read_range_the_matte_is_that_of_the_file_nuke_shows(nk, shot, tmp_path, before, after, want):
    g, job = _node(nk, _read(shot, before, after), tmp_path)
    assert job["plate"]["frames"] == "1001-1004"
    assert _shown(g, range(1, 5)) == {t: 1000 + t for t in range(1, 5)}
    assert _shown(g, want) == want
    # the internal Read spans the Source Read's frames and repeats its before / after (in Nuke's hands
    # too, the frames past its range are the Source's files)
    rd = g.node("samatte_cache_read")
    assert (rd["first"].value(), rd["last"].value(), rd["before"].value(), rd["after"].value()) == (1, 4, before, after)


def test_a_rendered_plate_shows_no_matte_on_source_frames_the_job_left_out(nk, shot, tmp_path):
    grade = nk.nodes.Grade()
    grade.setInput(0, _read(shot))
    g, job = _node(nk, grade, tmp_path, "2-3")
    assert "/plate_" in job["plate"]["path"] and job["plate"]["frames"] == "2-3"
    got = _shown(g, (1, 2, 3, 4, 7))
    assert got[1] is None and got[4] is None and got[2] == 2 and got[3] == 3
    assert got[7] == 3          # past the Source's own range: what it shows there is not known, held as before
    rd = g.node("samatte_cache_read")
    assert (rd["first"].value(), rd["last"].value()) == (1, 4)


def test_matte_this_frame_takes_the_file_the_source_shows(nk, shot, tmp_path, monkeypatch):
    g, job = _node(nk, _read(shot, after="loop"), tmp_path, "1-4")
    started = []
    monkeypatch.setattr(snode, "_start", lambda group, job, info, **kw: started.append(kw["frames"]) or "started")
    nk.frame(6)                     # the looping Read shows file 1002 on frame 6
    assert snode.on_matte_frame(g) == "started" and started == ["1002"]
    g2, _ = _node(nk, _read(shot, after="black"), tmp_path, "1-4")
    nk.frame(6)                     # black there: nothing to matte
    assert snode.on_matte_frame(g2) is None and "outside" in g2["status"].value()
