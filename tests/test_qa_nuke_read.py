"""The Read feeding the SAMatte node, as Nuke defines it: the job must show the plate frames Nuke shows
on each script frame, with the colour handling the Read applies.

Sources for the Read's knobs (Foundry, Nuke reference guide, Image nodes > Read):
* ``before`` / ``after``: what Nuke shows on frames outside the Read's first..last ("hold - show a still
  picture of the first frame of the frame range", loop, bounce, black). samatte cannot reproduce that
  from the files, so such a range is rendered by Nuke (what the node's output shows).
* ``on_error`` (missing frames): error, black, checkerboard, nearest frame. Nuke shows something on a
  missing file unless 'error': the plate is then rendered; with 'error' the node refuses, naming it.
* ``raw`` (raw data): the file's values without a colour conversion: the job names no colourspace.
* ``format``: "usually guessed correctly from the file header"; a Read whose format is not the file's
  size places prompts in a format samatte's reading of the file would not have: rendered.
* ``%V`` / ``%v`` in the file name: one file per view (Foundry, Stereoscopic scripts): refused clearly.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte.errors import SamatteError  # noqa: E402
from samatte_nuke import node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("readshot")
    return make_shot(str(d), frames=4, size=(96, 64), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    renders = []
    nuke._set_render_hook(lambda w, first, last: renders.append((w["file"].value(), first, last)))
    nuke._renders = renders
    return nuke


def _node(nuke, read, tmp_path, frames=None):
    """Read -> SAMatte <- Roto (a shape on every script frame the test asks for)."""
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    s = rp.Shape(roto["curves"], name="B")
    for x, y in ((5, 5), (30, 6), (20, 25)):
        cp = rp.ShapeControlPoint()
        for t in range(-5, 10):
            cp.center.addPositionKey(t, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    if frames:
        g["range_mode"].setValue("custom")
        g["custom_range"].setValue(frames)
    return g


def _trimmed(shot, **kw):
    """Files 1001-1004 on disk, the Read trimmed to 1002-1003 (origfirst/origlast 1001/1004), start at 1."""
    r = nuke_env.make_read(shot["plate"], 1002, 1003, width=96, height=64, mode="start at", value=1, **kw)
    r["origfirst"].setValue(1001)
    r["origlast"].setValue(1004)
    return r


def _rendered(job):
    return "/plate_" in job["plate"]["path"].replace("\\", "/")


def test_trimmed_read_inside_its_range_is_used_directly(nk, shot, tmp_path):
    # 'start at 1' puts the Read's first frame (1002, not origfirst 1001) at script frame 1
    g = _node(nk, _trimmed(shot), tmp_path)
    job, info = snode.build(g)
    assert not _rendered(job) and job["plate"]["frames"] == "1002-1003" and info["frames"] == [1, 2]
    assert not nk._renders


@pytest.mark.parametrize("frames", ["1-3", "0-2"])
@pytest.mark.parametrize("mode", ["hold", "loop", "bounce", "black"])
def test_script_frames_outside_the_read_range_are_what_nuke_shows_not_the_file_beyond(nk, shot, tmp_path, frames, mode):
    # script frame 3 would be file 1004 and frame 0 file 1001: both exist on disk, but Nuke shows the
    # Read's before/after there (file 1003 held, 1002 looped, ... or black), never files outside first..last
    read = _trimmed(shot)
    read["before"].setValue(mode)
    read["after"].setValue(mode)
    job, info = snode.build(_node(nk, read, tmp_path, frames))
    assert _rendered(job), job["plate"]
    assert job["plate"]["frames"] == frames and info["offset"] == 0
    assert nk._renders


@pytest.fixture
def holed(shot, tmp_path):
    """A copy of the shot's plate with file 1003 missing."""
    d = tmp_path / "holed"
    d.mkdir()
    for f in (1001, 1002, 1004):
        shutil.copy(shot["plate"].replace("####", "%04d" % f), str(d / ("plate.%04d.exr" % f)))
    return str(d / "plate.####.exr")


@pytest.mark.parametrize("on_error", ["black", "checkerboard", "nearest frame"])
def test_a_missing_frame_nuke_fills_is_rendered_by_nuke(nk, holed, tmp_path, on_error):
    read = nuke_env.make_read(holed, 1001, 1004, width=96, height=64, mode="offset", value=-1000)
    read["on_error"].setValue(on_error)
    job, _ = snode.build(_node(nk, read, tmp_path))
    if on_error == "nearest frame":   # a picture of the plate: rendered as Nuke shows it
        assert _rendered(job) and job["plate"]["frames"] == "1-4"
    else:   # black / checkerboard: no plate to matte there, the frame is left out (tests/test_qa_nuke_day9.py)
        assert not _rendered(job) and job["plate"]["frames"] == "1001-1002,1004"


def test_a_missing_frame_with_on_error_error_is_refused_naming_it(nk, holed, tmp_path):
    read = nuke_env.make_read(holed, 1001, 1004, width=96, height=64, mode="offset", value=-1000)
    read["on_error"].setValue("error")
    with pytest.raises(SamatteError) as e:
        snode.build(_node(nk, read, tmp_path))
    assert "plate.1003.exr" in e.value.message and "missing" in e.value.message
    assert e.value.code == "FRAME_MISSING"   # a user's error with its stable code, not SAMATTE_ERROR (a bug)
    assert "3" in e.value.message        # the script frame, as the artist sees it
    assert not nk._renders
    # a range that avoids the hole is fine
    job, _ = snode.build(_node(nk, read, tmp_path, "1-2"))
    assert job["plate"]["frames"] == "1001-1002" and not _rendered(job)


def test_raw_data_names_no_colourspace(nk, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=96, height=64, colourspace="sRGB")
    g = _node(nk, read, tmp_path)
    # (the project's config known: with none, a nuke-default name is COLOUR_INVALID, tests/test_qa169_nuke_day14.py)
    cfg = tmp_path / "nuke-default.ocio"
    cfg.write_text("ocio_profile_version: 1\n")
    nk.root()["OCIOConfigPath"].setValue(str(cfg))
    assert snode.build(g)[0]["plate"]["colourspace"] == "sRGB"
    read["raw"].setValue(True)
    job, _ = snode.build(g)
    assert job["plate"]["colourspace"] == "scene_linear" and not _rendered(job)


def test_a_read_whose_format_is_not_the_file_s_is_rendered(nk, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=192, height=128)   # files are 96x64
    job, _ = snode.build(_node(nk, read, tmp_path))
    assert _rendered(job)
    # a pixel aspect alone (the knob's documented use) keeps stored pixels: used directly
    read2 = nuke_env.make_read(shot["plate"], 1001, 1004, width=96, height=64, pixel_aspect=2.0)
    assert not _rendered(snode.build(_node(nk, read2, tmp_path))[0])


@pytest.mark.parametrize("token", ["%V", "%v"])
def test_a_per_view_path_is_refused_clearly(nk, shot, tmp_path, token):
    path = shot["plate"].replace("plate.####", "plate_%s.####" % token)
    read = nuke_env.make_read(path, 1001, 1004, width=96, height=64)
    with pytest.raises(SamatteError) as e:
        snode.build(_node(nk, read, tmp_path))
    assert "view" in e.value.message and "OneView" in e.value.message
    assert e.value.code == "PLATE_INVALID"


def test_a_relative_read_path_is_rendered_by_nuke_not_looked_up_here(nk, shot, tmp_path, monkeypatch):
    """A Read path relative to the script's project directory (which Nuke resolves) cannot be looked up
    from samatte's working directory: the plate is rendered by Nuke instead of refused as missing."""
    folder, name = os.path.split(shot["plate"])
    monkeypatch.chdir(str(tmp_path))            # not the plate's folder
    read = nuke_env.make_read(os.path.join(os.path.basename(folder), name), 1001, 1004, width=96, height=64)
    read["on_error"].setValue("error")
    job, _ = snode.build(_node(nk, read, tmp_path))
    assert _rendered(job)

