"""QA of progress and cancel in the hosts, day 2 (day 1: test_qa_host_progress.py).

* A cancelled first Track & Matte on a SAMatte node left it without any matte: the read-back was set up
  only when a job succeeded, so the frames the job had finished (complete and current on disk) were not
  shown. The node now reads back the frames a cancelled (or failed) job wrote, the others as unfinished.
* A cancel pressed while the worker was still starting (before its hello) was honoured only once the job
  had been sent and had made its tracker (the model loaded: seconds and GPU memory on a cold machine). The
  node now sends no job; a job whose cancel came with it stops before any backend is made.
"""
import os
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm as sfarm, node as snode, runner as srunner  # noqa: E402

# samatte's Python: the project venv's, else this one (which runs samatte: the tests import it)
VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
if not os.path.exists(VENV_PY):
    VENV_PY = sys.executable
N = 12


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("progress2")), frames=N, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    yield nuke
    for r in list(snode.RUNNERS.values()):
        r.cancel()
        r.join(30)
    nuke._reset()


def _comp(nuke, shot):
    """Read (files 1001-1012 on script frames 1-12) -> SAMatte <- Roto (layer 'hero')."""
    read = nuke_env.make_read(shot["plate"], 1001, 1000 + N, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], shot["prompt_frame"] - 1000, 64,
                                        name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("flow")
    g["quality"].setValue("draft")
    return g


def test_a_cancelled_first_run_reads_back_the_frames_it_wrote(nk, shot, tmp_path, monkeypatch):
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        g = _comp(nk, shot)
        written = []

        def cancel_after_two_frames(name, kind, payload):
            if kind == "frame" and payload[0].get("status") == "written":
                written.append(payload[0]["frame"])
                if len(written) == 2:
                    snode.on_cancel(g)
        snode.LISTENERS.append(cancel_after_two_frames)
        try:
            outcome = nuke_env.wait_runner(nk, snode.on_track(g), 120)
        finally:
            snode.LISTENERS.pop()
        assert outcome[:2] == ("failed", "CANCELLED"), outcome
        assert g["status"].value().startswith("error [CANCELLED]")
        folder = os.path.dirname(snode.build(g)[0]["output"]["path"])
        kept = sorted(f for f in os.listdir(folder) if f.endswith(".exr"))
        assert 2 <= len(kept) < N, kept
        # the node shows the frames the cancelled job finished (before: no read-back at all, "" everywhere)
        shown = {}
        for t in range(1, N + 1):
            try:
                shown[t] = sfarm.frame_path(g, t)
            except sfarm.StaleFrameError as e:
                shown[t] = e
        done = [t for t, p in shown.items() if isinstance(p, str) and p]
        assert len(done) == len(kept), shown
        for t in done:
            assert os.path.basename(shown[t]) in kept and str(1000 + t) in os.path.basename(shown[t])
        assert not snode._inner(g, "samatte_copy")["disable"].value()   # the matte is copied into the stream
        # the frames it did not finish say so (as an unfinished frame of any job), never another frame's matte
        rest = [p for t, p in shown.items() if t not in done]
        assert rest and all(isinstance(p, sfarm.StaleFrameError) for p in rest), rest
    finally:
        pool.close_all()


def _slow_python(tmp_path, seconds):
    """A samatte Python whose worker says hello ``seconds`` late (a cold machine's imports)."""
    path = tmp_path / "slow-python"
    path.write_text("#!/bin/sh\nsleep %s\nexec '%s' \"$@\"\n" % (seconds, VENV_PY))
    path.chmod(0o755)
    return str(path)


@pytest.mark.skipif(os.name != "posix", reason="a shell wrapper")
def test_a_cancel_while_the_worker_starts_stops_the_job_before_it_starts(nk, shot, tmp_path, monkeypatch):
    python = _slow_python(tmp_path, 1.5)
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, python)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        g = _comp(nk, shot)
        r = snode.on_track(g)
        time.sleep(0.3)
        assert r.is_alive() and r.handle is None          # the worker is still starting
        snode.on_cancel(g)
        outcome = nuke_env.wait_runner(nk, r, 120)
        assert outcome[:2] == ("failed", "CANCELLED"), outcome
        assert r.handle is None                            # no job was sent to the worker
        folder = os.path.dirname(snode.build(g)[0]["output"]["path"])
        assert not os.path.isdir(folder) or not [f for f in os.listdir(folder) if f.endswith(".exr")]
        status = g["status"].value()
        assert status.startswith("error [CANCELLED]") and "before the job started" in status, status
        assert "no frame was finished by it" in status
        # the worker it started stays warm: the next Track & Matte runs in it
        assert nuke_env.wait_runner(nk, snode.on_track(g), 120)[0] == "done"
    finally:
        pool.close_all()


def test_a_job_cancelled_before_it_starts_makes_no_backend(shot, tmp_path, monkeypatch):
    """The worker's job thread receives its cancel with the job (a client that cancels right after sending it):
    the pipeline made the tracker (loading its model) before its first cancel check."""
    import samatte.matte as smatte
    import samatte.track as strack
    from samatte import jobspec, pipeline
    from samatte.errors import CancelledError
    from samatte.progress import CancelToken
    made = []
    monkeypatch.setattr(strack, "get_tracker", lambda *a, **k: made.append("tracker") or pytest.fail("tracker made"))
    monkeypatch.setattr(smatte, "get_matter", lambda *a, **k: made.append("matter") or pytest.fail("matter made"))
    job = jobspec.new_job(shot["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="flow", matte="refine",
                          quality="draft", work_dir=str(tmp_path / "work"))
    jobspec.add_object(job, "hero", [{"frame": shot["prompt_frame"], "type": "polygon",
                                      "points": shot["polygon"]}])
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        for _ in pipeline.run_iter(job, cancel=token):
            pass
    assert made == []
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.exr"))


# --- the time left (samatte.progress.TimeLeft, with a fake clock) -------------------------------------
class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _matte_frame(tl, clock, done, total, seconds, status="written"):
    """One frame of the matte stage as the worker reports it: progress while it runs, then done and its event."""
    tl.progress("matte", done, total)
    clock.t += seconds
    tl.progress("matte", done + 1, total)
    tl.frame(status)


def test_time_left_ignores_the_first_frame_and_estimates_until_two_are_done():
    from samatte.progress import TimeLeft
    clock = _Clock()
    tl = TimeLeft(clock)
    assert tl.text() == ""
    tl.progress("matte", 0, 10)
    assert tl.text() == "estimating time left"
    _matte_frame(tl, clock, 0, 10, 30.0)          # the first frame pays the imports: not timed
    assert tl.text() == "estimating time left" and tl.seconds_left() is None
    _matte_frame(tl, clock, 1, 10, 2.0)
    assert tl.seconds_per_frame() == pytest.approx(2.0)
    assert tl.seconds_left() == pytest.approx(16.0) and tl.text() == "16s left, 2.0 s/frame"
    _matte_frame(tl, clock, 2, 10, 4.0)           # 3 s a frame over the frames after the first
    assert tl.seconds_left() == pytest.approx(21.0)
    clock.t += 5.0                                 # within the next frame it counts down
    assert tl.text() == "16s left, 3.0 s/frame"
    clock.t += 60.0                                # a slow frame: never below 0
    assert tl.seconds_left() == 0.0


def test_time_left_is_per_stage_and_fast_stages_say_frames_a_second():
    from samatte.progress import TimeLeft
    clock = _Clock()
    tl = TimeLeft(clock)
    for done in range(0, 41):                      # tracking: 0.25 s a step (its first step left out)
        tl.progress("track", done, 100)
        clock.t += 0.25 if done else 9.0
    assert tl.seconds_per_frame() == pytest.approx(0.25)
    assert tl.text().endswith("left, 4.0 frames/s") and tl.seconds_left() == pytest.approx(60 * 0.25 - 0.25)
    tl.progress("matte", 0, 200)                   # matting starts afresh: the track's pace is not its
    assert tl.text() == "estimating time left"
    _matte_frame(tl, clock, 0, 200, 5.0)
    _matte_frame(tl, clock, 1, 200, 70.0)
    assert tl.text() == "3h51m left, 70.0 s/frame"
    tl.progress("done", 200, 200)
    assert tl.text() == ""


def test_time_left_skipped_frames_shorten_it_but_never_quicken_the_pace():
    from samatte.progress import TimeLeft
    clock = _Clock()
    tl = TimeLeft(clock)
    _matte_frame(tl, clock, 0, 20, 10.0)
    _matte_frame(tl, clock, 1, 20, 2.0)
    _matte_frame(tl, clock, 2, 20, 2.0)
    for done in range(3, 13):                      # 10 frames already complete: skipped in 10 ms each
        tl.progress("matte", done, 20)
        clock.t += 0.01
        tl.progress("matte", done + 1, 20)
        tl.frame("skipped")
        assert tl.seconds_per_frame() == pytest.approx(2.0)
    _matte_frame(tl, clock, 13, 20, 2.0)
    assert tl.seconds_per_frame() == pytest.approx((2.0 * 3 + 0.1) / 3)
    assert tl.seconds_left() == pytest.approx(6 * tl.seconds_per_frame())


class _Task:
    def __init__(self):
        self.said = []

    def setMessage(self, text):
        self.said.append(text)

    def setProgress(self, n):
        pass


def _worker_events(first, seconds, clock, *, skipped=()):
    """The matte stage of a 6-frame job as the worker sends it, the clock moved ``seconds`` a frame written (the
    first ``first``); frames in ``skipped`` already complete."""
    n = 6
    done = 0
    for i in range(n):
        f = 1001 + i
        yield {"type": "progress", "stage": "matte", "frame": f, "done": done, "total": n,
               "message": "frame %d: matte hero" % f}
        done += 1
        if f in skipped:
            yield {"type": "progress", "stage": "matte", "frame": f, "done": done, "total": n,
                   "message": "complete, skipped"}
            yield {"type": "frame", "frame": f, "status": "skipped", "stage": "matte"}
            continue
        clock.t += first if i == 0 else seconds
        yield {"type": "progress", "stage": "matte", "frame": f, "done": done, "total": n, "message": ""}
        yield {"type": "frame", "frame": f, "status": "written", "stage": "matte", "score": 0.9}


def test_nuke_progress_window_and_status_say_the_time_left(nk, monkeypatch):
    """Nuke's progress window said ``matte frame 4 (3/6 done): matte hero``, no time left."""
    from samatte.progress import TimeLeft
    g = snode.create("SAMatte1")
    clock = _Clock()
    r = srunner.JobRunner(nk, title="t", job={}, python=sys.executable, frame_label=lambda f: f - 1000,
                          on_event=lambda kind, *p: snode._update_node(g, kind, p, {}, {}, {}, []))
    r.time_left = TimeLeft(clock)
    task = _Task()
    for ev in _worker_events(20.0, 4.0, clock):
        r._event(ev, task)
    nk._process_main_queue()
    said = task.said
    assert said[0] == "matte frame 1 (0/6 done; estimating time left): matte hero", said
    assert "matte frame 2 (1/6 done; estimating time left): matte hero" in said   # the first frame is not timed
    assert "matte frame 4 (3/6 done; 12s left, 4.0 s/frame): matte hero" in said, said
    assert "matte frame 6 (5/6 done; 4s left, 4.0 s/frame): matte hero" in said, said
    assert g["status"].value() == "running: matte 100%, 0s left, 4.0 s/frame", g["status"].value()


def test_nuke_time_left_is_not_quickened_by_skipped_frames(nk):
    from samatte.progress import TimeLeft
    clock = _Clock()
    r = srunner.JobRunner(nk, title="t", job={}, python=sys.executable, frame_label=lambda f: f - 1000)
    r.time_left = TimeLeft(clock)
    task = _Task()
    for ev in _worker_events(20.0, 4.0, clock, skipped=(1003, 1004)):
        r._event(ev, task)
    # frames 3 and 4 already complete: skipped at once; the pace stays the written frames' 4 s
    assert task.said[4:] == [
        "matte frame 3 (2/6 done; 16s left, 4.0 s/frame): matte hero",
        "matte frame 3 (3/6 done; 12s left, 4.0 s/frame): complete, skipped",
        "matte frame 4 (3/6 done; 12s left, 4.0 s/frame): matte hero",
        "matte frame 4 (4/6 done; 8s left, 4.0 s/frame): complete, skipped",
        "matte frame 5 (4/6 done; 8s left, 4.0 s/frame): matte hero",
        "matte frame 5 (5/6 done; 4s left, 4.0 s/frame)",
        "matte frame 6 (5/6 done; 4s left, 4.0 s/frame): matte hero",
        "matte frame 6 (6/6 done; 0s left, 4.0 s/frame)"], task.said


def test_blender_status_line_says_the_time_left():
    """Blender's status bar (the bpy-free JobRun) said ``samatte: matte 4/6 frame 13``, no time left."""
    import types
    sys.path.insert(0, os.path.join(TESTS, "blender"))
    from addon_plain import plain
    from samatte.progress import TimeLeft
    jobs = plain("jobs")
    clock = _Clock()
    run = jobs.JobRun({}, None, scene_frame=lambda n: n - 991)
    run.time_left = TimeLeft(clock)
    seen = []
    for ev in _worker_events(20.0, 4.0, clock, skipped=(1004,)):
        run.handle = types.SimpleNamespace(done=False, error=None, result=None, poll=lambda e=ev: [e])
        run.poll()
        seen.append(run.status)
    assert seen[0] == "samatte: matte 0/6 frame 10, estimating time left", seen
    assert "samatte: matte 2/6 frame 12, 16s left, 4.0 s/frame" in seen, seen
    assert seen[-1] == "samatte: matte 6/6 frame 15, 0s left, 4.0 s/frame", seen
    assert all("4.0 s/frame" in s for s in seen[seen.index("samatte: matte 2/6 frame 12, 16s left, 4.0 s/frame"):])
    assert run.written == 5 and run.skipped == 1
