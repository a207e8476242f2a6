"""QA, Nuke day 14 (the Nuke double; 4-frame 64x64 shots, ``shapes`` tracker): every check before any render.

The rule: bad input gets its error, with a stable code, before anything is rendered or written. The double records
every ``nuke.execute`` (the node's internal Write rendering the plate or refine only's masks into the cache).

* **Matte this frame** on a script frame outside the node's range (Read -> Grade -> SAMatte: a plate the node
  renders) rendered the whole plate into the cache, then said FRAME_RANGE_INVALID.
* **Track & Matte** with the samatte python knob naming no interpreter (a path of a deleted venv) rendered the whole
  plate, then said WORKER_FAILED; pressed while a job runs on the node, it rendered the plate of a changed graph
  (into the folder the running job reads) before saying BUSY. Both are now said before the build.
* A Source **Read whose colorspace is a name of Nuke's own config** (``linear``, ``sRGB``, ``rec709``: nuke-default)
  in a project where samatte knows no OCIO config (no ``$OCIO``, no custom config, the Root's ``OCIOConfigPath`` not a
  file here) made a job naming that colourspace with samatte's default config (OCIO's built-in ACES config, which has
  none of them): the worker failed COLOUR_INVALID once it ran, after refine only's masks were rendered. It is now
  COLOUR_INVALID at the build, before anything is rendered.
* A **TransformMasked** between the Read a Roto is drawn on and the Source was refused as an unknown node
  (PROMPT_INVALID "it may move pixels"). Foundry's reference: it moves its picture "in the same way as the Transform
  node" (same knobs), on its 'channels' only, and where a mask is set only in the mask's non-black areas. Now: one
  that moves nothing of the colours (its transform the identity, or 'channels' without rgb) is seen through; one that
  moves the whole picture carries the shapes as a Transform does; one with a mask is refused, saying the mask.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day14")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path, shot, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.setenv("SAMATTE_PYTHON", sys.executable)
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "sh_v001.nk"))
    farm._memo.clear()
    snode.RUNNERS.clear()
    renders = []

    def render(w, first, last):   # the node's Write: the Read's files (start at 1) in script frames
        renders.append((w["file"].value(), first, last))
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(shot["plate"].replace("####", "%04d" % (t + 1000)), out)
    nuke._set_render_hook(render)
    nuke._renders = renders
    started = []
    monkeypatch.setattr(snode, "_start", lambda *a, **kw: started.append((a, kw)) or "started")
    nuke._started = started
    yield nuke
    snode.RUNNERS.clear()
    nuke._reset()


def _comp(nuke, shot, *, between=None, colourspace="default", **knobs):
    """Read (files 1001-1004 at script frames 1-4) -> [between] -> SAMatte1 <- Roto (layer 'hero') on the Read."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1,
                              colourspace=colourspace)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    up = read
    if between:
        up = getattr(nuke.nodes, between)()
        up.setInput(0, read)
        for k, v in knobs.items():
            up[k].setValue(v)
    g = snode.create("SAMatte1")
    g.setInput(0, up)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, up, g


# --- Matte this frame outside the range --------------------------------------------------------------------
def test_matte_this_frame_outside_the_range_renders_nothing(nk, shot):
    _comp(nk, shot, between="Grade")
    g = nk.toNode("SAMatte1")
    nk.frame(50)
    assert snode.on_matte_frame(g) is None
    assert g["status"].value().startswith("error [FRAME_RANGE_INVALID] frame 50 is outside"), g["status"].value()
    assert nk._renders == [] and not nk._started          # before: the whole plate rendered first


def test_matte_this_frame_inside_the_range_renders_the_plate_and_starts_that_frame(nk, shot):
    _comp(nk, shot, between="Grade")
    g = nk.toNode("SAMatte1")
    nk.frame(3)
    assert snode.on_matte_frame(g) == "started"
    assert len(nk._renders) == 1
    (args, kw), = nk._started
    assert kw["stage"] == "matte" and kw["frames"] == "3"    # (the rendered plate: file numbers = script frames)


def test_matte_this_frame_on_a_frame_with_no_plate_file_says_frame_missing_before_any_render(nk, shot, tmp_path):
    plate = tmp_path / "holey" / "plate.####.exr"
    plate.parent.mkdir()
    for f in (1001, 1002, 1004):
        shutil.copyfile(shot["plate"].replace("####", "%04d" % f), str(plate).replace("####", "%04d" % f))
    read = nuke_env.make_read(str(plate), 1001, 1004, width=64, height=64, mode="start at", value=1)
    read["on_error"].setValue("black")
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grade)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    nk.frame(3)
    assert snode.on_matte_frame(g) is None
    assert g["status"].value().startswith("error [FRAME_MISSING] frame 3 has no plate"), g["status"].value()
    assert nk._renders == [] and not nk._started


# --- no samatte Python, a job running: said before the build -----------------------------------------------
@pytest.mark.parametrize("button", ["on_track", "on_matte_frame"])
def test_a_samatte_python_knob_naming_no_interpreter_renders_nothing(nk, shot, tmp_path, button):
    read, grade, g = _comp(nk, shot, between="Grade")
    g["samatte_python"].setValue(str(tmp_path / "gone_venv" / "bin" / "python"))
    nk.frame(2)
    assert getattr(snode, button)(g) is None
    assert g["status"].value().startswith("error [WORKER_FAILED]") and "gone_venv" in g["status"].value()
    assert nk._renders == [] and not nk._started             # before (Track & Matte): the plate rendered first


def test_the_job_s_own_errors_still_come_before_the_samatte_python_s(nk, shot, tmp_path):
    """(as before) a Prompts input with nothing drawn says PROMPT_INVALID, whatever the samatte python knob says."""
    read, grade, g = _comp(nk, shot, between="Grade")
    empty = nk.nodes.Roto()
    empty.setInput(0, read)
    g.setInput(1, empty)
    g["samatte_python"].setValue(str(tmp_path / "gone_venv" / "bin" / "python"))
    assert snode.on_track(g) is None
    assert g["status"].value().startswith("error [PROMPT_INVALID]"), g["status"].value()
    assert nk._renders == []


class _Running:
    """A job runner alive on the node (as samatte_nuke.runner.JobRunner is while its job runs)."""
    cancelling = False

    def __init__(self, uid):
        self.node_uid = uid

    def is_alive(self):
        return True


@pytest.mark.parametrize("button", ["on_track", "on_matte_frame"])
def test_a_button_pressed_while_a_job_runs_says_busy_and_renders_nothing(nk, shot, button):
    read, grade, g = _comp(nk, shot, between="Grade")
    snode.RUNNERS[g.fullName()] = _Running(g["samatte_uid"].value())
    nk.frame(2)
    assert getattr(snode, button)(g) is None
    assert g["status"].value().startswith("error [BUSY] a job is already running"), g["status"].value()
    assert nk._renders == [] and not nk._started             # before: the plate of the graph rendered, then BUSY


def test_export_jobspec_needs_no_samatte_python(nk, shot, tmp_path):
    """(unchanged) Export JobSpec writes the farm's job.json with no samatte Python on this machine."""
    read, grade, g = _comp(nk, shot, between="Grade")
    g["samatte_python"].setValue(str(tmp_path / "gone_venv" / "bin" / "python"))
    path = snode.on_export(g)
    assert path and os.path.isfile(path) and g["status"].value().startswith("exported")


# --- a Read in a nuke-default colourspace with no config known -----------------------------------------------
@pytest.mark.parametrize("cs", ["linear", "sRGB", "rec709"])
def test_a_nuke_default_colourspace_with_no_config_known_is_refused_before_any_render(nk, shot, cs):
    read, roto, g = _comp(nk, shot, colourspace=cs)
    g["roto_mode"].setValue(snode.REFINE_ONLY)                 # (its masks are rendered by the build)
    assert snode.on_track(g) is None
    status = g["status"].value()
    assert status.startswith("error [COLOUR_INVALID]") and "'%s'" % cs in status and "Read" in status, status
    assert nk._renders == [] and not nk._started              # before: the masks rendered, the job started


def test_that_job_would_fail_in_samatte(shot):
    """Why it is refused: the job named the colourspace with no config, and samatte's default config has none."""
    from samatte.colour import ColourTransform
    from samatte.errors import ColourError
    with pytest.raises(ColourError):
        ColourTransform(config=None, colourspace="linear")


def test_a_nuke_default_colourspace_with_its_config_known_is_as_before(nk, shot, tmp_path):
    cfg = tmp_path / "nuke-default" / "config.ocio"
    cfg.parent.mkdir()
    cfg.write_text("ocio_profile_version: 1\n")
    nk.root()["OCIOConfigPath"].setValue(str(cfg))
    read, roto, g = _comp(nk, shot, colourspace="linear")
    job, _ = snode.build(g, render=False)
    assert job["plate"]["colourspace"] == "linear" and job["plate"]["ocio_config"] == str(cfg)
    assert snode.on_track(g) == "started"


def test_a_read_left_on_default_with_no_config_is_as_before(nk, shot):
    read, roto, g = _comp(nk, shot, colourspace="default (linear)")
    assert snode.on_track(g) == "started"


# --- TransformMasked -----------------------------------------------------------------------------------------
def _first_points(job):
    return job["objects"][0]["prompts"][0]["points"]


def test_a_transform_masked_that_moves_nothing_is_seen_through(nk, shot):
    _comp(nk, shot)
    plain = _first_points(snode.build(nk.toNode("SAMatte1"), render=False)[0])
    for knobs in ({}, {"translate": [5, 3], "channels": "alpha"}):
        nk = nuke_env.fresh()
        _comp(nk, shot, between="TransformMasked", **knobs)
        job, _ = snode.build(nk.toNode("SAMatte1"), render=False)   # before: PROMPT_INVALID "it may move pixels"
        assert _first_points(job) == plain, knobs


def test_a_transform_masked_moving_the_whole_picture_carries_the_shapes_as_a_transform(nk, shot):
    _comp(nk, shot, between="Transform", translate=[5, 3], rotate=10.0)
    moved = _first_points(snode.build(nk.toNode("SAMatte1"), render=False)[0])
    nk = nuke_env.fresh()
    _comp(nk, shot, between="TransformMasked", translate=[5, 3], rotate=10.0)
    job, _ = snode.build(nk.toNode("SAMatte1"), render=False)
    assert _first_points(job) == moved


def test_a_transform_masked_with_a_mask_is_refused_naming_the_mask_before_any_render(nk, shot):
    _comp(nk, shot, between="TransformMasked", translate=[5, 3], maskChannelInput="rgba.alpha")
    g = nk.toNode("SAMatte1")
    assert snode.on_track(g) is None
    status = g["status"].value()
    assert status.startswith("error [PROMPT_INVALID]") and "(TransformMasked)" in status and "its mask (rgba.alpha)" in status, \
        status
    assert nk._renders == [] and not nk._started


# --- a plate file missing under a Read set to 'error', behind a Grade ----------------------------------------
def _holey(nk, shot, tmp_path, on_error, *, grade=True):
    plate = tmp_path / "holey" / "plate.####.exr"
    plate.parent.mkdir(exist_ok=True)
    for f in (1001, 1002, 1004):
        shutil.copyfile(shot["plate"].replace("####", "%04d" % f), str(plate).replace("####", "%04d" % f))
    read = nuke_env.make_read(str(plate), 1001, 1004, width=64, height=64, mode="start at", value=1)
    read["on_error"].setValue(on_error)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    up = read
    if grade:
        up = nk.nodes.Grade()
        up.setInput(0, read)
    g = snode.create("SAMatte1")
    g.setInput(0, up)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, g


@pytest.mark.parametrize("button", ["on_track", "on_export"])
def test_a_missing_plate_file_under_a_read_set_to_error_behind_a_grade_renders_nothing(nk, shot, tmp_path, button):
    """Nuke's render of the plate stops on that frame (the Read's missing frames 'error'): before, the plate was
    rendered (the double writes every frame; Nuke would stop on script frame 3 with its error), now FRAME_MISSING
    naming the Read, the frame and the file, as for that Read used as the Source directly."""
    read, g = _holey(nk, shot, tmp_path, "error")
    assert getattr(snode, button)(g) is None
    status = g["status"].value()
    assert status.startswith("error [FRAME_MISSING] %s, upstream of the Source" % read.name()), status
    assert "script frame 3" in status and "plate.1003.exr" in status
    assert nk._renders == [] and not nk._started
    assert not os.path.exists(os.path.join(str(tmp_path), "comp", "samatte_cache"))   # nothing written


def test_the_same_read_set_to_nearest_frame_is_rendered_as_before(nk, shot, tmp_path):
    read, g = _holey(nk, shot, tmp_path, "nearest frame")
    assert snode.on_track(g) == "started" and len(nk._renders) == 1


def test_a_custom_range_without_the_missing_frame_is_rendered(nk, shot, tmp_path):
    read, g = _holey(nk, shot, tmp_path, "error")
    g["range_mode"].setValue("custom")
    g["custom_range"].setValue("1-2")
    assert snode.on_track(g) == "started" and len(nk._renders) == 1


# --- a Source Read of an EXR with no colour channels ---------------------------------------------------------
def _exr(path, names):
    import numpy as np
    import OpenImageIO as oiio
    spec = oiio.ImageSpec(64, 64, len(names), oiio.HALF)
    spec.channelnames = tuple(names)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.zeros((64, 64, len(names)), np.float32))
    out.close()


@pytest.mark.parametrize("names, refused", [(("A", "Z"), True), (("R", "G", "B", "A"), False), (("Y", "A"), False),
                                             (("Z",), False)])
def test_a_source_read_with_no_colour_channels_is_refused_before_any_render(nk, shot, tmp_path, names, refused):
    """A utility pass (Z and A) plugged into the Source: Nuke shows black in rgb; samatte reads R, G, B (a single
    channel or Y as grey) and its worker failed CHANNELS_INVALID once the job ran, refine only's masks rendered first.
    Now refused at the build, naming the Read and the channels."""
    d = tmp_path / "pass"
    d.mkdir()
    for f in range(1001, 1005):
        _exr(str(d / ("p.%04d.exr" % f)), names)
    read = nuke_env.make_read(str(d / "p.####.exr"), 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    g["roto_mode"].setValue(snode.REFINE_ONLY)                 # (its masks are rendered by the build)
    if not refused:
        assert snode.on_track(g) == "started"
        return
    assert snode.on_track(g) is None
    status = g["status"].value()
    assert status.startswith("error [CHANNELS_INVALID] the Source Read %s" % read.name()), status
    assert "(it has A, Z)" in status
    assert nk._renders == [] and not nk._started


# --- a Tracker4 whose every point lies outside the image ------------------------------------------------------
def test_a_track_outside_the_image_is_named_in_the_error_on_the_node(nk, shot):
    """A Tracker4 track at x=500 on a 64-pixel plate (tracked on a plate of another format): refused before any
    render as before, but the node's status said only "no ... enabled track inside the frame range" (the track is
    enabled and in range); the reason was in the Script Editor alone. Now the status names the point skipped."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    tracker = nk.nodes.Tracker4()
    tracker.setInput(0, read)
    tracker["tracks"]._add_track("hero/eye", {2: (500, 40)})
    g = snode.create("SAMatte1")
    g.setInput(0, grade)
    g.setInput(1, tracker)
    g["tracker"].setValue("shapes")
    assert snode.on_track(g) is None
    status = g["status"].value()
    assert status.startswith("error [PROMPT_INVALID]"), status
    assert "lies outside the image" in status and "'hero/eye' on frame 2" in status, status
    assert nk._renders == [] and not nk._started
