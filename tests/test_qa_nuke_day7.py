"""QA, Nuke day 7 (the Nuke double): a compositor's week in a real script; regressions for what the artist saw.

* The artist slips the plate in time after a Track & Matte (the Source Read's ``start at`` 1 -> 3, or its
  ``offset``, range or before / after changed): the node's read-back kept the old mapping and showed, on
  script frame 3, the matte of plate file 1003 over plate 1001 (and 1004's over 1002), with no message, in
  the Viewer and in a farm render. Now every frame refuses with a message that names the change and says to
  press Track & Matte, which re-aligns it (script frame 3 then shows 1001's matte). The same for a Source whose
  plate the node renders (Read -> Grade -> Source): a Read's frame / range / before-after or a time node upstream
  changed after the run (a Grade tweak is not a change in time: still read back).
* A Source that is not a plain Read (Read -> Grade) is rendered by ``nuke.execute`` of a Write inside the node
  when the artist presses Track & Matte (Refresh objects, Export JobSpec, Matte this frame too). Cancelling
  that render in Nuke's progress bar, or an error upstream (Foundry's own render code: ``nuke.execute`` raises
  RuntimeError, "Cancelled" for a cancel), raised Nuke's RuntimeError out of the button: a Python traceback,
  the node's status line unchanged ("not run yet"), and the frame Nuke was writing when it stopped (perhaps
  half written) taken for a rendered one by the next run. Now the node says ``[CANCELLED]`` /
  ``[PLATE_INVALID]`` (``[PROMPT_INVALID]`` for refine only's Prompts render) naming the node and the script
  frames, the last frame written is removed and the whole ones are kept (the next run renders the rest).
* A SAMatte node copied from shot A's script and pasted into shot B's script in the same folder (or with a cache
  folder knob shared by the show) kept its uid (Nuke's onCreate sees no node with it in B), so both nodes had
  one cache folder and job name: B's Track & Matte wrote its 4 mattes over A's (A's renders then failed, all 4
  stale, and A's re-run went over B's), and B's Clear cache deleted A's mattes. Now a node whose folder holds
  another script's mattes of another plate takes a uid and folder of its own (a v002 of the script with the
  same plate still shares, and reuses, v001's frames).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode, runner as srunner  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("day7")
    return make_shot(str(d), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch):
    nuke = nuke_env.fresh()
    nuke._set_render_hook(lambda w, first, last: None)
    # every matte the job makes is there and current: these tests are about which one each frame shows
    monkeypatch.setattr(farm, "frame_state", lambda job_text, f, fresh=False: ("complete", "/c/matte.%04d.exr" % f))
    yield nuke
    nuke._reset()


def _aligned_node(nuke, source, tmp_path):
    """Roto (a triangle keyed on every frame) on ``source`` -> SAMatte; its job built and read back, as the
    end of a Track & Matte does (node._point_read)."""
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
    _realign(g)
    return g


def _realign(g):
    job, info = snode.build(g)
    snode._point_read(g, job, info)
    return job


def _shown(g, frames):
    """{script frame: the plate file whose matte the read-back gives (None: none), or the error's text}."""
    out = {}
    for t in frames:
        try:
            p = farm.frame_path(g, t)
        except farm.StaleFrameError as e:
            out[t] = str(e)
            continue
        out[t] = int(p.rsplit(".", 2)[-2]) if p else None
    return out


@pytest.mark.parametrize("knob,value,shows", [
    ("frame", "3", {3: 1001, 4: 1002, 5: 1003, 6: 1004}),       # start at 1 -> 3: two frames later
    ("last", 1003, {2: 1002, 3: 1003, 4: 1003, 5: 1003}),       # trimmed: 1003 held after it
    ("after", "loop", {4: 1004, 5: 1001, 6: 1002}),             # hold -> loop after the last file
])
def test_a_source_read_changed_in_time_after_the_run_never_shows_another_files_matte(nk, shot, tmp_path, knob, value,
                                                                                       shows):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    g = _aligned_node(nk, read, tmp_path)
    assert _shown(g, range(1, 5)) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    read[knob].setValue(value)   # the artist changes the plate's timing after the run
    # before: script frame 3 showed file 1003's matte over plate 1001 (start at 3), no message
    got = _shown(g, range(-1, 9))
    for t, what in got.items():
        assert isinstance(what, str), (t, what)
        assert "SAMatte1" in what and "Track & Matte" in what and "script frame %d" % t in what
    if knob == "frame":
        assert "file 1001 on script frame 3, was 1" in got[3]
    elif knob == "after":
        assert "after loop, was hold" in got[3]
    else:
        assert "range 1-3, was 1-4" in got[3]
    # Track & Matte (its end: the job and the read-back of the Source as it is now) re-aligns the node
    _realign(g)
    assert _shown(g, shows) == shows


def test_an_unchanged_source_reads_back_as_before(nk, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="offset", value=-1000)
    g = _aligned_node(nk, read, tmp_path)
    assert farm.realigned(g, farm.source_view(g, farm.stored_job(g), -1000), -1000) is None
    assert _shown(g, range(0, 6)) == {0: 1001, 1: 1001, 2: 1002, 3: 1003, 4: 1004, 5: 1004}


def test_a_rendered_plate_s_mattes_are_refused_once_the_source_shows_other_frames(nk, shot, tmp_path):
    """Read -> Grade -> Source: the plate is rendered into the cache, numbered in script frames. The artist
    slips the Read two frames (start at 1 -> 3): before, script frame 3 showed the matte of the picture
    rendered there (file 1003) over the Grade's new picture (file 1001), no message."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    grade = nk.nodes.Grade()
    grade.addKnob(nk.Double_Knob("white", "gain", 1.0))
    grade.setInput(0, read)
    g = _aligned_node(nk, grade, tmp_path)
    assert "/plate_" in farm.stored_job(g)["plate"]["path"]
    assert _shown(g, range(1, 5)) == {1: 1, 2: 2, 3: 3, 4: 4}
    grade["white"].setValue(1.3)          # a pixel-only change: each matte still sits on its frame
    assert _shown(g, range(1, 5)) == {1: 1, 2: 2, 3: 3, 4: 4}
    read["frame"].setValue("3")
    got = _shown(g, range(1, 7))
    assert all(isinstance(v, str) and "Track & Matte on SAMatte1" in v and "Source Grade" in v for v in got.values()), got
    assert "a Read's frame, range or before / after, or a time node" in got[3]
    _realign(g)                           # Track & Matte: the plate rendered as the Source shows it now
    assert _shown(g, range(3, 7)) == {3: 3, 4: 4, 5: 5, 6: 6}
    # a time node put upstream of the Source after the run: the same
    t_off = nk.nodes.TimeOffset()
    t_off.setInput(0, read)
    grade.setInput(0, t_off)
    assert "Track & Matte" in _shown(g, [4])[4]
    t_off["time_offset"].setValue(0)
    _realign(g)
    t_off["time_offset"].setValue(2)
    assert "Track & Matte" in _shown(g, [4])[4]
    # a change made while the job ran (between its build and its end) counts too
    job, info = snode.build(g)
    t_off["time_offset"].setValue(0)
    snode._point_read(g, job, info)
    assert "Track & Matte" in _shown(g, [4])[4]


def _grade_comp(nuke, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    grade = nuke.nodes.Grade()
    grade.setInput(0, read)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, grade)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    g["tracker"].setValue("shapes")
    return g


def _stopping_hook(shot, stop_at, message, written):
    """nuke.execute of the node's Write: copies the plate's frames until script frame ``stop_at``, of which it
    writes half a file, then stops as Nuke does (RuntimeError ``message``); ``written``: the paths it wrote."""
    def hook(w, first, last):
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(shot["plate"].replace("####", "%04d" % (t + 1000)), "rb") as fh:
                data = fh.read()
            with open(out, "wb") as fh:
                fh.write(data[:len(data) // 2] if t == stop_at else data)
            written.append(out)
            if t == stop_at:
                raise RuntimeError(message)
    return hook


# (Refresh objects renders nothing since qa158: tests/test_qa158_nuke_day12.py::test_refresh_objects_renders_nothing)
@pytest.mark.parametrize("button", ["on_track", "on_export", "on_matte_frame"])
def test_a_cancelled_source_render_says_cancelled_and_keeps_only_whole_frames(nk, shot, tmp_path, button):
    g = _grade_comp(nk, shot, tmp_path)
    written = []
    nk._set_render_hook(_stopping_hook(shot, 3, "Cancelled", written))
    # before: RuntimeError('Cancelled') out of the button, the status line still 'not run yet'
    assert getattr(snode, button)(g) is None
    status = g["status"].value()
    assert status.startswith("error [CANCELLED] rendering the Source of SAMatte1 (script frames 1-4)"), status
    assert [os.path.basename(p) for p in written] == ["plate.0001.exr", "plate.0002.exr", "plate.0003.exr"]
    assert [os.path.exists(p) for p in written] == [True, True, False]   # the half frame is gone
    assert not [n for n in g.nodes() if n.Class() == "Write"]
    # the next run renders the frames that are not whole yet, and the job reads whole frames only
    nk._set_render_hook(_stopping_hook(shot, None, "", written))
    job, _ = snode.build(g)
    assert nk._state["executed"][-1][1:] == (3, 4)
    from samatte.io.exr import read_rgb
    for t in range(1, 5):
        assert read_rgb(job["plate"]["path"].replace("####", "%04d" % t)).shape[:2] == (64, 64)


def test_a_source_nuke_cannot_render_is_plate_invalid_and_refine_only_prompts_invalid(nk, shot, tmp_path):
    g = _grade_comp(nk, shot, tmp_path)
    nk._set_render_hook(_stopping_hook(shot, 1, "Read1: Read error: /plates/missing.0001.exr: No such file", []))
    assert snode.on_track(g) is None
    status = g["status"].value()
    assert status.startswith("error [PLATE_INVALID] Nuke could not render the Source of SAMatte1 (script frames "
                             "1-4) for samatte: Read1: Read error"), status

    def masks_fail(w, first, last):
        if w.input(0).name() == "Source":
            return _stopping_hook(shot, None, "", [])(w, first, last)
        raise RuntimeError("Roto1: bad shape")
    nk._set_render_hook(masks_fail)
    g["roto_mode"].setValue(snode.REFINE_ONLY)
    assert snode.on_track(g) is None
    assert g["status"].value().startswith("error [PROMPT_INVALID] Nuke could not render the Prompts input of "
                                          "SAMatte1"), g["status"].value()


def _roto_comp(nuke, plate, polygon):
    read = nuke_env.make_read(plate, 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    return read, roto


def _open_script(nuke, path):
    """File > Close, then File > Open (or New, saved as) ``path``: the nodes go, the clipboard stays."""
    for n in list(nuke.allNodes()):
        nuke.delete(n)
    nuke.root()["name"].setValue(str(path))


@pytest.fixture
def shots(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("day7shots")
    return (make_shot(str(d / "shA"), frames=4, size=(64, 64), first=1001),
            make_shot(str(d / "shB"), frames=4, size=(64, 64), first=1001, seed=7))


@pytest.mark.skipif(not os.path.exists(VENV_PY), reason="the project venv is needed")
def test_a_node_pasted_into_another_shots_script_never_writes_over_the_first_shots_mattes(monkeypatch, tmp_path, shots):
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        snode.register_callbacks()
        a, b = shots
        _open_script(nuke, tmp_path / "comp" / "shA_v001.nk")
        read, roto = _roto_comp(nuke, a["plate"], a["polygon"])
        g = snode.create("SAMatte1")
        g.setInput(0, read)
        g.setInput(1, roto)
        g["tracker"].setValue("shapes")
        assert nuke_env.wait_runner(nuke, snode.on_track(g), 240)[0] == "done"
        job_a = farm.stored_job_text(g)
        g["selected"].setValue(True)
        nuke.nodeCopy("%clipboard%")
        # shot B's script, in the same folder: the artist pastes the setup and plugs in shot B
        _open_script(nuke, tmp_path / "comp" / "shB_v001.nk")
        read_b, roto_b = _roto_comp(nuke, b["plate"], b["polygon"])
        g2 = nuke.nodePaste("%clipboard%")
        g2.setInput(0, read_b)
        g2.setInput(1, roto_b)
        snode.on_clear_cache(g2)      # before: deleted shot A's folder
        assert [farm.frame_state(job_a, f, fresh=True)[0] for f in range(1001, 1005)] == ["complete"] * 4
        outcome = nuke_env.wait_runner(nuke, snode.on_track(g2), 240)
        assert outcome[0] == "done" and len(outcome[1]["written"]) == 4, outcome
        # before: the same folder, and shot A's 4 mattes stale (replaced by shot B's)
        job_b = farm.stored_job(g2)
        assert os.path.dirname(job_b["output"]["path"]) != os.path.dirname(json_of(job_a)["output"]["path"])
        assert job_b["name"] != json_of(job_a)["name"]
        assert [farm.frame_state(job_a, f, fresh=True)[0] for f in range(1001, 1005)] == ["complete"] * 4
        assert [farm.frame_state(farm.stored_job_text(g2), f, fresh=True)[0] for f in range(1001, 1005)] == \
            ["complete"] * 4
    finally:
        pool.close_all()
        nuke._reset()


def json_of(text):
    import json
    return json.loads(text)


def test_a_script_saved_as_v002_on_the_same_plate_keeps_sharing_its_folder(nk, shots, tmp_path):
    a, b = shots
    _open_script(nk, tmp_path / "comp" / "shA_v001.nk")
    read, roto = _roto_comp(nk, a["plate"], a["polygon"])
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    uid = g["samatte_uid"].value()
    job, info = snode.build(g)
    snode._point_read(g, job, info)          # the end of a Track & Matte: job.json written
    assert job["meta"] == {"nuke_script": str(tmp_path / "comp" / "shA_v001.nk")}
    nk.root()["name"].setValue(str(tmp_path / "comp" / "shA_v002.nk"))      # File > Save As v002
    job2, info2 = snode.build(g)
    assert info2["folder"] == info["folder"] and job2["name"] == job["name"] and g["samatte_uid"].value() == uid
    # v002 with a new plate (another delivery): v001's mattes stay v001's
    read["file"].setValue(b["plate"])
    job3, info3 = snode.build(g)
    assert info3["folder"] != info["folder"] and g["samatte_uid"].value() != uid
    assert job3["output"]["path"].startswith(str(tmp_path / "comp" / "samatte_cache") + os.sep)
