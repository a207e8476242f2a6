"""QA, Nuke day 10 (the Nuke double; 4-frame 64x64 shots, ``shapes`` tracker): a compositor's tenth day.

* A Roto (or Tracker4) whose **disable** is keyed (on for some frames, off for others: the artist turns a roto
  off where its object has left the shot, a common Nuke habit) was read as disabled or enabled on every frame
  by the value of its ``disable`` knob on the frame the Viewer stood on when Track & Matte was pressed (Foundry:
  ``Knob.getValue``, "Return value at the current frame"; the double gave the last value set, whatever the
  frame, and now models this). Parked on a frame where it is on, its shapes were prompted on the frames where
  Nuke draws none of them (the object not ``absent`` there: tracked into frames where the artist had switched
  it off); parked where it is off, Track & Matte refused the whole job (PROMPT_INVALID "no enabled Roto ...")
  though the roto draws on half the range. The job changed with the frame the artist stood on. Now a prompt
  node with an animated ``disable`` counts on the frames where it is enabled (read at its own frame, behind
  a TimeOffset too), as an animated Switch's inputs do: its objects are absent where it is disabled, and the
  job is the same from whatever frame it is built. The same for a TimeOffset / FrameHold or a Transform with a
  keyed ``disable`` between a Roto and the Prompts input (or on the Source's way to the image it is drawn on):
  applied on the frames where it is enabled, passed through where it is not (before: on every frame or on none).
* Proxy mode on, a Source Read whose file knob holds TCL (``$env(SHOT)/plate.####.exr``) and that has a proxy file:
  Nuke names only the proxy file then, and the read-back took the Read for a rendered plate: a Read looping (or
  bouncing) after its range showed its last file's matte over the looped files (frames 5-7: 1004's matte over plates
  1001-1003), in proxy mode only; a slip of the Read in time was refused without saying what changed. Now the same
  mattes as at full size, and the slip named.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte.errors import SamatteError  # noqa: E402
from samatte_nuke import farm, node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day10")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "sh_v001.nk"))
    farm._memo.clear()
    yield nuke
    nuke._reset()


def _comp(nuke, shot, *, keys=(1, 2, 3, 4)):
    """Read (files 1001-1004 at script frames 1-4) -> Roto (layer 'hero', one shape keyed on ``keys``) -> SAMatte."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    shape = rp.Shape(roto["curves"], name="Bezier1")
    for X, Y in shot["polygon"]:
        cp = rp.ShapeControlPoint()
        for t in keys:
            cp.center.addPositionKey(t, (X, 64 - Y))
        shape.append(cp)
    layer.append(shape)
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, roto, g


def _key_disable(node, on_frames, frames=range(1, 5)):
    for t in frames:
        node["disable"].setValueAt(1.0 if t in on_frames else 0.0, t)


def _hero(job):
    (ob,) = [o for o in job["objects"] if o["name"] == "hero"]
    return ob


def _prompt_files(ob):
    return sorted({q["frame"] for q in ob["prompts"]})


def test_a_roto_keyed_off_on_some_frames_counts_only_where_it_is_on_whatever_frame_is_viewed(nk, shot):
    read, roto, g = _comp(nk, shot)
    _key_disable(roto, on_frames={3, 4})          # the roto is switched off on script frames 3-4
    nk.frame(1)                                   # ... the artist parked on frame 1, where it is on
    assert roto["disable"].value() is False
    job1, info1 = snode.build(g)
    # before: prompted on all 4 files, 'absent' nowhere (the object tracked into 1003-1004)
    assert _prompt_files(_hero(job1)) == [1001, 1002]
    assert _hero(job1)["absent"] == "1003-1004"
    nk.frame(4)                                   # parked on frame 4, where it is off
    assert roto["disable"].value() is True
    # before: PROMPT_INVALID "no enabled Roto, RotoPaint or Tracker4 node found upstream of the Prompts input"
    job4, _ = snode.build(g)
    assert job4 == job1                           # the job does not depend on the frame the Viewer shows
    assert "absent 3-4" in snode._objects_text(info1["objects"], info1["offset"])


def test_a_roto_keyed_off_everywhere_in_the_range_is_refused_before_anything_runs(nk, shot):
    read, roto, g = _comp(nk, shot)
    _key_disable(roto, on_frames={1, 2, 3, 4})
    roto["disable"].setValueAt(0.0, 10)          # on again only after the range
    nk.frame(10)                                  # (parked where it is on: before, prompted on frames 1-4)
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    assert e.value.code == "PROMPT_INVALID" and "inside the frame range" in e.value.message


def test_a_roto_keyed_behind_a_time_offset_is_read_at_its_own_frames(nk, shot):
    """The roto's disable is read on the roto's own frame: behind a TimeOffset of +1 (Prompts frame t shows the
    roto's frame t - 1), the roto off on its frames 3-4 hides the object on script frames 4 (and 5, outside)."""
    read, roto, g = _comp(nk, shot, keys=(0, 1, 2, 3, 4))
    _key_disable(roto, on_frames={3, 4}, frames=range(0, 5))
    off = nk.nodes.TimeOffset()
    off["time_offset"].setValue(1)
    off.setInput(0, roto)
    g.setInput(1, off)
    for t in (1, 4):
        nk.frame(t)
        job, _ = snode.build(g)
        assert _prompt_files(_hero(job)) == [1001, 1002, 1003]
        assert _hero(job)["absent"] == "1004"


def test_a_roto_not_animated_is_as_before(nk, shot):
    read, roto, g = _comp(nk, shot)
    job, _ = snode.build(g)
    assert _prompt_files(_hero(job)) == [1001, 1002, 1003, 1004] and "absent" not in _hero(job)
    roto["disable"].setValue(True)
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    assert e.value.code == "PROMPT_INVALID" and "no enabled Roto" in e.value.message


def test_the_track_and_matte_run_makes_no_matte_of_the_object_where_its_roto_is_off(nk, shot):
    """End to end, in-process: the job's mattes on script frames 3-4 hold no alpha of the object."""
    from samatte import pipeline
    from samatte.demo import read_alpha
    read, roto, g = _comp(nk, shot)
    _key_disable(roto, on_frames={3, 4})
    nk.frame(1)
    job, info = snode.build(g)
    pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    alpha = {}
    for t in range(1, 5):
        path = farm.frame_path(g, t)
        alpha[t] = float(read_alpha(path).max())
    assert alpha[1] > 0.5 and alpha[2] > 0.5
    assert alpha[3] == 0.0 and alpha[4] == 0.0    # before: the object's matte on 1003-1004


def _points(ob, f):
    (q,) = [q for q in ob["prompts"] if q["frame"] == f]
    return [(round(p[0], 3), round(p[1], 3)) for p in q["points"]]   # (a bezier's centres)


def test_a_time_offset_keyed_off_on_the_prompts_path_shifts_only_where_it_is_on(nk, shot):
    """Read -> Roto (the shape 3 px further right on each of its frames 0-4) -> TimeOffset +1, disabled on frames
    3-4 -> Prompts: frames 1-2 show the roto's frames 0-1, frames 3-4 its frames 3-4 (Nuke: a disabled node
    passes its input through). Before, by the frame the Viewer stood on: all shifted (parked on 1) or none (on 3)."""
    read, roto, g = _comp(nk, shot, keys=())
    (layer,) = list(roto["curves"].rootLayer)
    (shape,) = list(layer)
    for i, cp in enumerate(shape):
        X, Y = shot["polygon"][i]
        for s in range(0, 5):
            cp.center.addPositionKey(s, (X + 3 * s, 64 - Y))
    off = nk.nodes.TimeOffset()
    off["time_offset"].setValue(1)
    off.setInput(0, roto)
    _key_disable(off, on_frames={3, 4})
    g.setInput(1, off)
    nk.frame(1)
    job1, _ = snode.build(g)
    nk.frame(3)
    job3, _ = snode.build(g)
    assert job1 == job3
    hero = _hero(job1)
    assert _prompt_files(hero) == [1001, 1002, 1003, 1004]
    first = _points(hero, 1001)              # the roto's frame 0
    for f, s in ((1002, 1), (1003, 3), (1004, 4)):
        assert _points(hero, f) == [pytest.approx((x + 3 * s, y)) for x, y in first], (f, s)


def test_a_transform_keyed_off_between_the_roto_and_the_prompts_input_moves_only_where_it_is_on(nk, shot):
    """Read -> Roto -> Transform (10 px right), disabled on frames 3-4 -> Prompts: the shapes moved on 1-2 only."""
    read, roto, g = _comp(nk, shot)
    plain = _hero(snode.build(g)[0])
    tr = nk.nodes.Transform()
    tr.setInput(0, roto)
    tr["translate"].setValue([10.0, 0.0])
    _key_disable(tr, on_frames={3, 4})
    g.setInput(1, tr)
    for parked in (1, 4):
        nk.frame(parked)
        hero = _hero(snode.build(g)[0])
        for f in (1001, 1002, 1003, 1004):
            dx = 10.0 if f < 1003 else 0.0
            assert _points(hero, f) == [pytest.approx((x + dx, y)) for x, y in _points(plain, f)], (parked, f)


# --- proxy mode: the read-back of a Read named by TCL with a proxy file -----------------------------------------
def _shown_files(g, frames):
    farm._memo.clear()
    out = {}
    for t in frames:
        try:
            p = farm.frame_path(g, t)
        except farm.StaleFrameError as e:
            out[t] = str(e)
            continue
        out[t] = int(p.rsplit(".", 2)[-2]) if p else None
    return out


def test_proxy_mode_reads_back_a_looping_tcl_read_with_a_proxy_file_as_at_full_size(nk, shot, tmp_path, monkeypatch):
    """Read '$env(QA10_SHOT)/plate.####.exr' (files 1001-1004 on frames 1-4, looping after them) with a proxy file.
    In proxy mode (Ctrl/Cmd+P) Nuke names only its proxy file; the read-back took the Source for a rendered plate:
    frames 5-7 (the Read shows files 1001-1003 looped) showed file 1004's matte, and a slip of the Read in time
    was refused without naming it. Now the same mattes as at full size, and the slip named."""
    from samatte import pipeline
    folder, name = os.path.split(shot["plate"])
    monkeypatch.setenv("QA10_SHOT", folder)
    read = nuke_env.make_read("$env(QA10_SHOT)/" + name, 1001, 1004, width=64, height=64, mode="start at", value=1)
    read["proxy"].setValue(str(tmp_path / "proxy" / "plate_half.####.exr"))
    read["after"].setValue("loop")
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    job, info = snode.build(g)
    pipeline.run(job)
    snode._point_read(g, job, info)
    full = _shown_files(g, range(1, 8))
    assert full == {1: 1001, 2: 1002, 3: 1003, 4: 1004, 5: 1001, 6: 1002, 7: 1003}
    nk.root()["proxy"].setValue(True)
    # before: {5: 1004, 6: 1004, 7: 1004}: the last file's matte over the looped 1001-1003
    assert _shown_files(g, range(1, 8)) == full
    read["frame"].setValue("3")                   # the artist slips the plate by 2 frames, still in proxy mode
    got = _shown_files(g, range(1, 5))
    # before: "... a Read's frame, range or before / after, or a time node, upstream of it changed since its plate
    # was rendered" (it renders no plate)
    assert all(isinstance(v, str) and "file 1001 on script frame 3, was 1" in v for v in got.values()), got
