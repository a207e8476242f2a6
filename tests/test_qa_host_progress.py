"""QA of progress and cancel as the artist sees them in the hosts (the SAMatte node against the Nuke double).

* Nuke's progress window (the job's ``ProgressTask``) said ``track frame 1146`` / ``matte frame 1012``: the
  plate's file numbers on a Read with ``start at 1`` (script frames 1-200), no count of the frames done and
  nothing of what the worker said it was doing (which object, which phase) although the worker sends it
  (``frame 1012: matte hero``, ``hero backward from 1101``). It now says ``matte frame 12 (11/200 done): matte
  hero`` and ``track frame 5: hero backward from 101``, in script frames; so does the panel's status.
* After Cancel, the progress the worker still reported until it stopped put the node's status back to
  ``running: matte 52%`` and the progress window's ``cancelling (between frames)`` back to ``matte frame 1012``
  (measured: up to the length of a frame's phase, seconds on a 4K plate).
* A cancelled Track & Matte said ``[CANCELLED] job cancelled``: nothing on the frames it had finished, which
  are kept and which the next Track & Matte reuses; it now says how many.
"""
import os
import re
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte.client import WorkerClient  # noqa: E402
from samatte_nuke import node as snode, runner as srunner  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
N = 30


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("progress")), frames=N, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    said = []
    real = nuke.ProgressTask.setMessage

    def set_message(self, text):   # every text the progress window showed, in order
        said.append(text)
        real(self, text)
    monkeypatch.setattr(nuke.ProgressTask, "setMessage", set_message)
    nuke._said = said
    yield nuke
    for r in list(snode.RUNNERS.values()):
        r.cancel()
        r.join(30)
    nuke._reset()


def _comp(nuke, shot):
    """Read (start at 1: files 1001-1030 on script frames 1-30) -> SAMatte <- Roto (layer 'hero')."""
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


def test_progress_window_names_script_frames_the_count_and_the_phase(nk, shot, tmp_path, monkeypatch):
    if not os.path.exists(VENV_PY):
        pytest.skip("the project venv is needed")
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        g = _comp(nk, shot)
        texts = []
        snode.LISTENERS.append(lambda name, kind, payload: texts.append(payload[0].get("text"))
                               if kind == "progress" else None)
        try:
            outcome = nuke_env.wait_runner(nk, snode.on_track(g), 120)
        finally:
            snode.LISTENERS.pop()
        assert outcome[0] == "done" and len(outcome[1]["written"]) == N, outcome
        said = [t for t in nk._said if t.startswith(("track", "matte"))]
        # file numbers (1001-1030) never reach the artist: the script frames 1-30 do
        assert said and not [t for t in said if re.search(r"\b10[0-3]\d\b", t)], said[:10]
        # (with the time left in the stage since test_qa_host_progress2: "; 12s left, 1.3 s/frame")
        eta = r"(; (estimating time left|\d+(h|m|s)\S* left, \S+ (s/frame|frames/s)))"
        assert [t for t in said if re.match(r"matte frame 3 \(2/%d done%s\): matte hero$" % (N, eta), t)], said
        assert [t for t in said if re.match(r"matte frame 3 \(2/%d done%s\): writing$" % (N, eta), t)], said
        assert any(re.match(r"track frame \d+( \(%s\))?: hero (backward|forward) from %d$"
                            % (eta[3:-1], shot["prompt_frame"] - 1000), t) for t in said), said
        # the panel (a node listener) gets the same words
        assert [t for t in texts if re.match(r"matte frame 3 \(2/%d done%s\): matte hero$" % (N, eta), t or "")]
    finally:
        pool.close_all()


def test_a_cancel_says_the_frames_kept_and_the_next_run_resumes_them(nk, shot, tmp_path, monkeypatch):
    if not os.path.exists(VENV_PY):
        pytest.skip("the project venv is needed")
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        g = _comp(nk, shot)

        def cancel_after_first_frame(name, kind, payload):
            if kind == "frame" and payload[0].get("status") == "written":
                snode.on_cancel(g)
        snode.LISTENERS.append(cancel_after_first_frame)
        try:
            outcome = nuke_env.wait_runner(nk, snode.on_track(g), 120)
        finally:
            snode.LISTENERS.pop()
        assert outcome[:2] == ("failed", "CANCELLED"), outcome
        folder = os.path.dirname(snode.build(g)[0]["output"]["path"])
        kept = [f for f in os.listdir(folder) if f.endswith(".exr")]
        assert 1 <= len(kept) < N
        status = g["status"].value()
        assert status.startswith("error [CANCELLED]"), status
        assert "the %d frame(s) it finished are kept: Track & Matte resumes from them" % len(kept) in status, status
        assert not [t for t in nk._said[nk._said.index("cancelling (between frames)"):]
                    if t != "cancelling (between frames)"], nk._said[-5:]
        again = nuke_env.wait_runner(nk, snode.on_track(g), 120)
        assert again[0] == "done" and len(again[1]["skipped"]) == len(kept), again
    finally:
        pool.close_all()


# --- the stand-in pipeline: steps with a delay ------------------------------------------------------
def _fake_worker(python=None):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(sys.executable, env=env, worker_args=["--pipeline", "cli_fake_pipeline"],
                        startup_timeout=60)


def test_after_cancel_the_status_never_goes_back_to_running(nk, tmp_path, monkeypatch):
    """The artist presses Cancel while progress the worker sent is still on its way to Nuke's main thread
    (and while the worker finishes the phase it is in): the node said ``cancelling...``, then ``running:
    matte 52%`` again until the job ended."""
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(factory=_fake_worker), tmp_path, sys.executable)
    try:
        g = snode.create("SAMatte1")
        job = {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1040"},
               "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
               "output": {"path": "/out/m.####.exr"}, "meta": {"fake": {"frames": 40, "delay": 0.05}}}
        info = {"offset": -1000, "frames": list(range(1, 41)), "folder": "/out", "objects": []}
        r = snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1")
        t0 = time.monotonic()
        while r.last_progress is None or r.last_progress.get("stage") != "matte":
            time.sleep(0.01)
            assert time.monotonic() - t0 < 60
        time.sleep(0.3)                 # Nuke's main thread busy: progress events wait in its queue
        snode.on_cancel(g)
        seen = []
        while r.is_alive():
            nk._process_main_queue(timeout=0.05)
            seen.append(g["status"].value())
        r.join()
        while nk._process_main_queue():
            seen.append(g["status"].value())
        assert r.outcome[:2] == ("failed", "CANCELLED")
        assert not [s for s in seen if s.startswith("running")], seen
        assert seen[-1].startswith("error [CANCELLED]")
        # the fake job writes no frame: the message says none was finished by it
        assert "no frame was finished by it" in seen[-1]
    finally:
        pool.close_all()


def test_a_worker_that_dies_after_a_huge_stderr_line_gives_a_short_message(tmp_path):
    """A library in the worker writes a 3 MB line on stderr, then the worker dies: the client read its stderr
    a byte a system call (a 50 MB line: 38 s before the host heard of the crash, the worker stalled on its
    full pipe meanwhile) and the WORKER_FAILED message held the whole line (3 MB into Nuke's message box and
    the node's status). Now each line keeps its first and last bytes; the crash's own line is there."""
    from samatte.errors import WorkerError
    w = _fake_worker()
    try:
        job = {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1004"},
               "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}], "output": {"path": "/out/m.####.exr"},
               "meta": {"fake": {"frames": 4, "crash_at": 1, "stderr_junk": 3000000}}}
        with pytest.raises(WorkerError) as e:
            w.run(job)
    finally:
        w.close()
    msg = e.value.message
    assert e.value.code == "WORKER_FAILED" and len(msg) < 10000, len(msg)
    assert "simulated crash in frame 1002" in msg
    assert re.search(r"junk x{100}.* \.\.\. \[\d+ bytes of this line left out\] \.\.\. x{100}", msg), msg[:300]
    assert len(e.value.details["stderr_tail"]) < 10000


def test_blender_run_cancelled_or_failed_midway_says_the_frames_it_kept():
    """Blender (the bpy-free JobRun, whose words ``finish_run`` puts in the panel's Last result and the report):
    a Run cancelled after 2 frames said ``cancelled (finished frames kept)``, one cancelled before any frame the
    same, and one whose worker was killed after 3 frames only its error."""
    import types
    sys.path.insert(0, os.path.join(TESTS, "blender"))
    from addon_plain import plain
    from samatte.errors import CancelledError, WorkerError
    jobs = plain("jobs")

    def ended(n, err):
        run = jobs.JobRun({}, None)
        frames = [{"type": "frame", "frame": 1001 + i, "status": "written", "score": 0.9} for i in range(n)]
        run.handle = types.SimpleNamespace(done=True, error=err, poll=lambda: frames, result=None)
        run.poll()
        assert run.done and run.written == n
        return run.ended_text()
    assert ended(2, CancelledError("job cancelled")) == "cancelled; 2 frames it finished are kept: Run resumes from them"
    assert ended(0, CancelledError("job cancelled")) == ("cancelled; no frame was finished by it (frames made "
                                                         "before are kept)")
    died = ended(3, WorkerError("the samatte worker exited unexpectedly (exit status -9)"))
    assert died.startswith("[WORKER_FAILED] the samatte worker exited unexpectedly")
    assert died.endswith("; 3 frames it finished are kept: Run resumes from them"), died


def test_a_worker_killed_from_outside_is_said_in_words(nk, tmp_path, monkeypatch):
    """The worker is killed (kill -9, the out-of-memory killer) while a node's job runs: the node said
    ``[WORKER_FAILED] the samatte worker exited unexpectedly (exit status -9)``; it now says what -9 is. The
    node is free at once, and its next job starts a new worker."""
    import signal
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(factory=_fake_worker), tmp_path, sys.executable)
    try:
        g = snode.create("SAMatte1")
        job = {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1040"},
               "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
               "output": {"path": "/out/m.####.exr"}, "meta": {"fake": {"frames": 40, "delay": 0.05}}}
        info = {"offset": -1000, "frames": list(range(1, 41)), "folder": "/out", "objects": []}
        r = snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1")
        t0 = time.monotonic()
        while r.last_progress is None:
            time.sleep(0.01)
            assert time.monotonic() - t0 < 60
        os.kill(pool.get(sys.executable).pid, signal.SIGKILL)
        assert nuke_env.wait_runner(nk, r, 30)[:2] == ("failed", "WORKER_FAILED")
        status = g["status"].value()
        assert "exit status -9: SIGKILL, killed from outside" in status and "out-of-memory" in status, status
        job["meta"]["fake"] = {"frames": 2}
        r = snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1")
        assert nuke_env.wait_runner(nk, r, 60)[0] == "done"
    finally:
        pool.close_all()


def _hung_job():
    # the stand-in pipeline sleeps 60 s in one call before its first frame: a library call that never returns
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1004"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}], "output": {"path": "/out/m.####.exr"},
            "meta": {"fake": {"frames": 4, "hang": 60}}}


def test_a_cancelled_job_whose_worker_is_stuck_ends_and_frees_the_host(monkeypatch):
    """Cancel while the worker is stuck in a library call (a hung driver or file system): the job never ended,
    so Nuke's node said 'cancelling...' for good, its Release GPU answered BUSY and every other node's job queued
    behind it (Blender's Run waited for the 10 minutes of its silence timeout). Now the worker is ended
    ``cancel_grace`` seconds after the cancel and the job ends CANCELLED saying so."""
    w = _fake_worker()
    try:
        h = w.start_job(_hung_job())
        h.cancel_grace = 1.0
        time.sleep(0.3)
        t0 = time.monotonic()
        h.cancel()
        h.cancel()                         # twice, quickly: one deadline
        while not h.done:
            h.poll()
            time.sleep(0.05)
            assert time.monotonic() - t0 < 15, "the cancelled job never ended"
        assert time.monotonic() - t0 < 8
        assert h.error.code == "CANCELLED" and "did not stop within 1 s of the cancel" in h.error.message
        assert h.error.details["worker_ended"] is True and not w.alive()
    finally:
        w.close()


def test_nuke_node_cancelled_on_a_stuck_worker_is_free_again(nk, tmp_path, monkeypatch):
    import samatte.client as sclient
    monkeypatch.setattr(sclient, "CANCEL_GRACE_S", 1.0, raising=False)
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(factory=_fake_worker), tmp_path, sys.executable)
    try:
        g = snode.create("SAMatte1")
        info = {"offset": -1000, "frames": list(range(1, 5)), "folder": "/out", "objects": []}
        r = snode._start(g, _hung_job(), info, stage="all", frames=None, title="SAMatte SAMatte1")
        while r.handle is None:
            time.sleep(0.01)
        snode.on_cancel(g)
        outcome = nuke_env.wait_runner(nk, r, 15)
        assert outcome[:2] == ("failed", "CANCELLED") and "was ended" in outcome[2], outcome
        assert g["status"].value().startswith("error [CANCELLED]")
        job = _hung_job()
        job["meta"]["fake"] = {"frames": 2}
        r = snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1")
        assert nuke_env.wait_runner(nk, r, 60)[0] == "done"       # a new worker
    finally:
        pool.close_all()


def test_blender_run_cancelled_on_a_stuck_worker_says_it_was_ended():
    import types
    sys.path.insert(0, os.path.join(TESTS, "blender"))
    from addon_plain import plain
    from samatte.errors import CancelledError
    jobs = plain("jobs")
    run = jobs.JobRun({}, None)
    err = CancelledError("job cancelled; the worker did not stop within 60 s of the cancel", worker_ended=True)
    run.handle = types.SimpleNamespace(done=True, error=err, poll=lambda: [], result=None)
    run.poll()
    assert run.cancelled and run.ended_text() == (
        "cancelled (the worker did not stop in time and was ended: the next Run starts a new one); no frame was "
        "finished by it (frames made before are kept)")


def test_blender_status_stays_cancelling_after_cancel():
    """Blender's status bar said ``samatte: cancelling`` at Esc / Cancel, then ``samatte: matte 3/6 frame 11``
    again with the next progress the worker sent before it stopped."""
    import types
    sys.path.insert(0, os.path.join(TESTS, "blender"))
    from addon_plain import plain
    jobs = plain("jobs")
    sent = []
    events = [[{"type": "progress", "stage": "matte", "done": 2, "total": 6, "frame": 1002}],
              [{"type": "progress", "stage": "matte", "done": 3, "total": 6, "frame": 1003}]]
    run = jobs.JobRun({}, None, scene_frame=lambda n: n - 992)
    run.handle = types.SimpleNamespace(done=False, error=None, result=None, poll=lambda: events.pop(0),
                                       cancel=lambda: sent.append(1))
    run.poll()
    assert run.status == "samatte: matte 2/6 frame 10, estimating time left"
    run.cancel()
    run.poll()
    assert sent and run.status == "samatte: cancelling", run.status


def test_run_again_while_the_cancelled_job_stops_says_so(nk, tmp_path, monkeypatch):
    """Track & Matte pressed again right after Cancel, while the job still stops: '[BUSY] a job is already
    running on this node (Cancel it first)' to an artist who had."""
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(factory=_fake_worker), tmp_path, sys.executable)
    try:
        g = snode.create("SAMatte1")
        info = {"offset": -1000, "frames": list(range(1, 5)), "folder": "/out", "objects": []}
        job = _hung_job()
        job["meta"]["fake"] = {"frames": 40, "delay": 0.5}
        r = snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1")
        snode.on_cancel(g)
        assert snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1") is None
        assert "still stopping" in g["status"].value() and "Cancel it first" not in g["status"].value()
        assert nuke_env.wait_runner(nk, r, 30)[:2] == ("failed", "CANCELLED")
    finally:
        pool.close_all()
