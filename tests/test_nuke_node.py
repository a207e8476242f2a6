"""The SAMatte node's flow against the Nuke double, with a REAL samatte worker process.

A small EXR shot (samatte.demo's shot maker, 4 frames 96x64, files 1001-1004) is read by a Read with
frame mode 'start at 1' (script frames 1-4); a Roto shape on the middle frame is the prompt; the
weights-free backends run in ``python -m samatte.worker`` of the project venv.
"""
import inspect
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode, runner as srunner  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
pytestmark = pytest.mark.skipif(not os.path.exists(VENV_PY), reason="the project venv is needed")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("nukeshot")
    return make_shot(str(d), frames=4, size=(96, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    yield nuke
    pool.close_all()


def _comp(nuke, shot, tmp_path):
    """Read (start at 1) -> SAMatte <- Roto (the demo's polygon on the middle frame)."""
    w, h = shot["size"]
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=w, height=h, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero ball")
    shape = nuke_env.polygon_shape(roto["curves"], shot["polygon"], shot["prompt_frame"] - 1000, h, name="Bezier1")
    layer.append(shape)
    roto["curves"].rootLayer.append(layer)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return read, roto, g


def _wait(nuke, runner, timeout=180):
    return nuke_env.wait_runner(nuke, runner, timeout)


def test_create_gather_run_read_back(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    assert g.inputs() == 2 and g["samatte_uid"].value()
    assert (g["quality"].value(), g["device"].value(), g["range_mode"].value()) == ("default", "auto", "input")
    assert [n.name() for n in g.nodes()][:2] == ["Source", "Prompts"]
    job, info = snode.build(g)
    assert job["plate"]["frames"] == "1001-1004" and info["offset"] == -1000
    assert job["objects"][0]["name"] == "hero_ball" and job["objects"][0]["host_name"] == "hero ball"
    assert job["objects"][0]["prompts"][0]["frame"] == shot["prompt_frame"]
    pts = job["objects"][0]["prompts"][0]["points"]
    assert [p[:2] for p in pts] == [[float(x), float(y)] for x, y in shot["polygon"]]

    t0 = time.monotonic()
    r = snode.on_track(g)
    outcome = _wait(nk, r)
    took = time.monotonic() - t0
    assert outcome[0] == "done", outcome
    print("track & matte, 4 frames 96x64, cold worker: %.1f s" % took)
    assert g["status"].value().startswith("done: 4 frame(s) written")
    rd = g.node("samatte_cache_read")
    assert "frame_path" in rd["file"].value() and rd["first"].value() == 1 and rd["last"].value() == 4
    assert not g.node("samatte_copy")["disable"].value()
    stored = farm.stored_job(g)
    assert stored["output"]["path"].endswith("matte.####.exr")
    # the read-back is frame-aligned: script frame 2 shows file 1002
    p = farm.frame_path(g, 2)
    assert p.endswith("matte.1002.exr") and os.path.exists(p)
    attrs = farm.exr_attributes(p)
    assert any(k.startswith("samatte/") for k in attrs)
    assert farm.stored_scores(g)
    tasks = nk._progress_tasks()
    assert tasks and tasks[-1].progress == 100

    # a second job while one runs: BUSY, not a second worker job
    r2 = snode.on_track(g)
    assert snode.on_track(g) is None and "BUSY" in g["status"].value()
    _wait(nk, r2)

    # Matte this frame: stage "matte" on the current frame's file number, from the stored track
    params = inspect.signature(srunner.POOL.get(VENV_PY).start_job).parameters
    if "stage" not in params:
        pytest.skip("samatte.client has no stage= yet (host-and-farm contract not landed)")
    nk.frame(3)
    others = {t: open(farm.frame_path(g, t), "rb").read() for t in (1, 2, 4)}
    g["quality"].setValue("draft")          # a matte setting changes: only matting re-runs, on frame 3
    t0 = time.monotonic()
    r3 = snode.on_matte_frame(g)
    assert r3.stage == "matte" and r3.frames == "1003"
    outcome = _wait(nk, r3)
    print("matte this frame (warm worker, 96x64): %.2f s" % (time.monotonic() - t0))
    assert outcome[0] == "done", outcome
    res = outcome[1]
    assert res.get("stage") == "matte" and [os.path.basename(p) for p in res["written"]] == ["matte.1003.exr"]
    assert farm.stored_job(g)["matte"]["quality"] == "draft"
    for t, data in others.items():   # the other frames' files are untouched (and now stale for the render)
        path = farm.stored_job(g)["output"]["path"].replace("####", "%04d" % (t + 1000))
        assert open(path, "rb").read() == data
    assert farm.frame_state(farm.stored_job_text(g), 1003, fresh=True)[0] == "complete"
    assert farm.frame_state(farm.stored_job_text(g), 1004, fresh=True)[0] == "stale"


def test_render_reads_cache_without_tracking(nk, shot, tmp_path, monkeypatch):
    read, roto, g = _comp(nk, shot, tmp_path)
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[0] == "done", outcome
    # a render session: no GUI, nothing may start a worker
    nk.GUI = False
    import samatte.client

    def no_worker(*a, **kw):
        raise AssertionError("a render must never start a samatte worker")
    monkeypatch.setattr(samatte.client, "WorkerClient", no_worker)
    monkeypatch.setattr(srunner.JobRunner, "start", no_worker)
    for t in (1, 2, 3, 4):
        assert os.path.exists(farm.frame_path(g, t))
    job_text = farm.stored_job_text(g)
    state, path = farm.frame_state(job_text, 1002, fresh=True)
    if state == "unknown":
        pytest.skip("no manifest with the resolved backends yet (cache contract not landed)")
    assert state == "complete"
    # the plate frame is re-rendered under the same path: that frame's key changes -> stale, refused
    plate = shot["plate"].replace("####", "1002")
    data = open(plate, "rb").read()
    with open(plate, "wb") as fh:
        fh.write(data + b"\0")
    try:
        state, _ = farm.frame_state(job_text, 1002, fresh=True)
        assert state == "stale"
        with pytest.raises(farm.StaleFrameError, match="samatte run .*--frames 1002"):
            farm.frame_path(g, 2)
    finally:
        with open(plate, "wb") as fh:
            fh.write(data)
        farm.frame_state(job_text, 1002, fresh=True)


def test_cancel(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    g["tracker"].setValue("flow")
    r = snode.on_track(g)
    snode.on_cancel(g)
    outcome = _wait(nk, r)
    assert outcome[:2] == ("failed", "CANCELLED"), outcome
    assert "CANCELLED" in g["status"].value()
    assert any("CANCELLED" in m for m in nk._messages())


def test_dead_worker(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    g["tracker"].setValue("flow")
    r = snode.on_track(g)
    t0 = time.monotonic()
    while r.handle is None and r.is_alive():
        time.sleep(0.02)
        assert time.monotonic() - t0 < 60
    os.kill(srunner.POOL.get(VENV_PY).pid, signal.SIGKILL)   # the warm worker dies mid-job
    outcome = _wait(nk, r)
    assert outcome[:2] == ("failed", "WORKER_FAILED"), outcome
    assert "WORKER_FAILED" in g["status"].value()
    # the dead worker is dropped: the next job starts a fresh one and succeeds
    g["tracker"].setValue("shapes")
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[0] == "done", outcome
    # Release GPU and Clear cache
    snode.on_release(g)
    assert g["status"].value() == "GPU released (1 worker(s))"
    folder = os.path.dirname(os.path.dirname(farm.stored_job(g)["output"]["path"]))
    assert os.path.isdir(folder)
    snode.on_clear_cache(g)
    assert not os.path.exists(folder) and g.node("samatte_copy")["disable"].value()
    assert farm.frame_path(g, 1) == ""


def test_wrong_samatte_python(nk, shot, tmp_path, monkeypatch):
    read, roto, g = _comp(nk, shot, tmp_path)
    # the worker inherits the environment: a PYTHONPATH naming samatte's core (how the QA runs are told to
    # run) would put samatte, but not numpy, into the Python without samatte below
    monkeypatch.delenv("PYTHONPATH", raising=False)
    g["samatte_python"].setValue(str(tmp_path / "no" / "python"))
    assert snode.on_track(g) is None
    assert "WORKER_FAILED" in g["status"].value() and "not an executable" in g["status"].value()
    py39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")
    if not os.path.exists(py39):
        pytest.skip("no second interpreter to stand for a Python without samatte")
    g["samatte_python"].setValue(py39)           # a real Python, but samatte is not installed in it
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[:2] == ("failed", "WORKER_FAILED"), outcome
    assert "samatte" in outcome[2]
    assert any("WORKER_FAILED" in m for m in nk._messages())


def test_no_prompts_and_no_source(nk, shot, tmp_path):
    g = snode.create()
    assert snode.on_track(g) is None and "Source" in g["status"].value()
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=96, height=64)
    g.setInput(0, read)
    g.setInput(1, nk.nodes.Roto())
    assert snode.on_track(g) is None and "no shape" in g["status"].value()


def _render_hook(nuke, shot):
    """What nuke.execute of the node's Write would write: the Source is the demo plate (the Grade in
    the tests is an identity), the Prompts' alpha is the shot's true alpha (a perfect animated roto)."""
    from samatte.io.exr import read_rgb, write_image
    import numpy as np

    def hook(w, first, last):
        src = w.input(0).name()
        k = int(w["frame"].value() or 0) if w["frame_mode"].value() == "offset" else 0
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % (t + k))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if src == "Source":
                with open(shot["plate"].replace("####", "%04d" % (t + 1000)), "rb") as fh:
                    data = fh.read()
                with open(out, "wb") as fh:
                    fh.write(data)
            else:
                a = read_rgb(shot["gt"].replace("####", "%04d" % (t + 1000)))[..., 0]
                write_image(out, np.ascontiguousarray(a), channels=("A",), pixel_type="half")
    nuke._set_render_hook(hook)


def test_non_read_source_is_rendered_once_per_upstream_state(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    grade.addKnob(nk.Double_Knob("white", "gain", 1.0))
    g.setInput(0, grade)
    _render_hook(nk, shot)
    job, info = snode.build(g)
    assert info["offset"] == 0 and job["plate"]["frames"] == "1-4"       # script frames now
    assert "/plate_" in job["plate"]["path"] and job["plate"]["colourspace"] == "scene_linear"
    assert job["objects"][0]["prompts"][0]["frame"] == shot["prompt_frame"] - 1000
    assert nk._state["executed"][-1][1:] == (1, 4)
    assert not [n for n in g.nodes() if n.Class() == "Write"]           # the Write is removed again
    snode.build(g)
    assert len(nk._state["executed"]) == 1                               # unchanged upstream: no re-render
    grade["white"].setValue(1.5)
    job2, _ = snode.build(g)
    assert len(nk._state["executed"]) == 2 and job2["plate"]["path"] != job["plate"]["path"]
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[0] == "done", outcome
    assert farm.frame_path(g, 2).endswith("matte.0002.exr")


def test_refine_only_every_frame_of_the_roto(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    _render_hook(nk, shot)
    g["roto_mode"].setValue(snode.REFINE_ONLY)
    job, info = snode.build(g)
    ob = job["objects"][0]
    assert ob["masks"]["soft"] is True and ob["masks"]["channel"] == "A" and not ob.get("prompts")
    assert os.path.exists(ob["masks"]["path"].replace("####", "1001"))  # numbered like the plate's files
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[0] == "done", outcome
    assert "every frame" in g["objects_info"].value()


def test_custom_range_overscan_and_pixel_aspect(nk, shot, tmp_path):
    w, h = shot["size"]
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=w, height=h, pixel_aspect=2.0, mode="offset",
                              value=-1000, bbox=(-4, -2, w + 8, h + 4))
    roto = nk.nodes.Roto()
    s = rp.Shape(roto["curves"], name="B")
    for x, y in ((-3, -1), (40, 10), (20, 60)):          # one point in the overscan
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(2, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "c"))
    g["range_mode"].setValue("custom")
    g["custom_range"].setValue("2-3")
    layer = rp.Layer(roto["curves"], name="extra object")
    layer.append(rp.Shape(roto["curves"], (10, 10), (30, 10), (20, 30), name="C"))
    roto["curves"].rootLayer.append(layer)
    g["skip_objects"].setValue("extra object")
    job, info = snode.build(g)
    assert [o["host_name"] for o in job["objects"]] == [roto.name()]
    assert job["plate"]["frames"] == "1002-1003"
    q = job["objects"][0]["prompts"][0]
    assert q["frame"] == 1002
    assert [p[:2] for p in q["points"]] == [[-3.0, h + 1.0], [40.0, h - 10.0], [20.0, h - 60.0]]


def test_cancel_from_the_progress_bar(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    g["tracker"].setValue("flow")
    r = snode.on_track(g)
    t0 = time.monotonic()
    while not nk._progress_tasks():
        time.sleep(0.01)
        assert time.monotonic() - t0 < 30
    nk._progress_tasks()[-1].cancelled = True      # the artist presses cancel on Nuke's progress bar
    outcome = _wait(nk, r)
    assert outcome[:2] == ("failed", "CANCELLED"), outcome


def test_export_then_farm_run_then_comp_render(nk, shot, tmp_path, monkeypatch):
    """The farm flow: Export JobSpec in the GUI (no job run there), `samatte run job.json` on the farm,
    then the comp render (no GUI) reads the frames through the node, checking each frame's key."""
    import subprocess
    read, roto, g = _comp(nk, shot, tmp_path)
    path = snode.on_export(g)
    from samatte import jobspec
    job = jobspec.load(path)
    assert job["plate"]["path"] == shot["plate"] and job["objects"][0]["host_name"] == "hero ball"
    assert "farm template" in g["status"].value(), g["status"].value()
    assert os.listdir(os.path.join(os.path.dirname(path), "openjd"))
    assert not snode.RUNNERS                                   # exporting ran nothing
    with pytest.raises(farm.StaleFrameError, match="missing"):
        farm.frame_path(g, 1)                                  # nothing made yet: the render refuses
    out = subprocess.run([VENV_PY, "-m", "samatte", "run", path], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nk.GUI = False
    monkeypatch.setattr(srunner.JobRunner, "start", lambda *a: (_ for _ in ()).throw(AssertionError("no jobs")))
    for t in (1, 2, 3, 4):
        p = farm.frame_path(g, t)
        assert p.endswith("matte.%d.exr" % (1000 + t))
        assert farm.frame_state(farm.stored_job_text(g), 1000 + t, fresh=(t == 1))[0] == "complete"


def test_matte_this_frame_after_a_roto_edit_asks_for_tracking(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot, tmp_path)
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[0] == "done", outcome
    shape = list(roto["curves"].rootLayer)[0][0]
    t = shot["prompt_frame"] - 1000
    shape[0].center.addPositionKey(t, (5, 5))          # the artist moves a point: the stored track is stale
    nk.frame(t)
    outcome = _wait(nk, snode.on_matte_frame(g))
    assert outcome[:2] == ("failed", "TRACK_MISSING"), outcome
    assert "TRACK_MISSING" in g["status"].value()


def test_a_read_colourspace_comes_with_the_config_nuke_uses(nk, shot, tmp_path, monkeypatch):
    """A Read set to ``linear`` (a nuke-default name) went into the job with no config: samatte's
    built-in ACES config has no such colourspace, so every such job failed (COLOUR_INVALID). The job
    now carries the config Nuke uses for the project (Root ``OCIOConfigPath``) when the Read names a
    colourspace, and the run reads the plate in it. ``$OCIO`` overrides the project settings, as in
    Nuke; with no colourspace named the job keeps samatte's default config."""
    import PyOpenColorIO as ocio
    from samatte.colour import ColourTransform
    monkeypatch.delenv("OCIO", raising=False)
    cfg = ocio.Config.CreateRaw()             # a nuke-default-like config: 'linear', 'sRGB', display 'default'
    for name, tr in (("linear", None),
                     ("sRGB", ocio.ExponentWithLinearTransform(gamma=[2.4] * 3 + [1], offset=[0.055] * 3 + [0],
                                                               direction=ocio.TRANSFORM_DIR_INVERSE))):
        cs = ocio.ColorSpace(name=name)
        if tr is not None:
            cs.setTransform(tr, ocio.COLORSPACE_DIR_FROM_REFERENCE)
        cfg.addColorSpace(cs)
    cfg.setRole("scene_linear", "linear")
    cfg.addDisplayView("default", "sRGB", "sRGB")
    cfg.setActiveDisplays("default")
    path = tmp_path / "nuke-default" / "config.ocio"
    path.parent.mkdir()
    path.write_text(cfg.serialize())
    read, roto, g = _comp(nk, shot, tmp_path)
    nk.root()["OCIOConfigPath"].setValue(str(path))
    job, _ = snode.build(g)
    assert job["plate"]["colourspace"] == "scene_linear" and job["plate"]["ocio_config"] is None   # default: unchanged
    read["colorspace"].setValue("linear")
    job, _ = snode.build(g)
    assert job["plate"]["colourspace"] == "linear" and job["plate"]["ocio_config"] == str(path)
    ct = ColourTransform(job["plate"]["ocio_config"], colourspace=job["plate"]["colourspace"])
    assert ct.describe()["colourspace"] == "linear" and ct.describe()["display"] == "default"
    other = tmp_path / "studio.ocio"
    other.write_text(cfg.serialize())
    monkeypatch.setenv("OCIO", str(other))
    assert snode.build(g)[0]["plate"]["ocio_config"] == str(other)
    monkeypatch.delenv("OCIO")
    nk.root()["colorManagement"].setValue("OCIO")
    nk.root()["OCIO_config"].setValue("custom")
    nk.root()["customOCIOConfigPath"].setValue(str(other))
    assert snode.build(g)[0]["plate"]["ocio_config"] == str(other)
    outcome = _wait(nk, snode.on_track(g))
    assert outcome[0] == "done", outcome
