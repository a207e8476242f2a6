"""samatte.client.WorkerClient against a real worker subprocess (with a stand-in pipeline, so these
tests are fast and exercise the process boundary itself; test_worker.py runs the real pipeline)."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from samatte.client import WorkerClient
from samatte.errors import CancelledError, MissingFrameError, PromptError, WorkerError
from samatte.progress import Progress

TESTS = os.path.dirname(os.path.abspath(__file__))


def fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}


@pytest.fixture
def worker():
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    w = WorkerClient(env=env, worker_args=["--pipeline", "cli_fake_pipeline"], startup_timeout=60)
    yield w
    w.close()


def test_hello_and_capabilities(worker):
    h = worker.hello
    assert h["type"] == "hello" and h["protocol"] == 1
    caps = worker.capabilities
    assert "flow" in caps["trackers"] and "refine" in caps["mattes"] and "cpu" in caps["devices"]
    assert isinstance(caps["models"], dict)
    assert worker.alive() and worker.ping()


def test_run_reports_progress_and_result(worker):
    seen, events = [], []
    res = worker.run(fake_job(frames=4, print=True), on_progress=seen.append, on_event=events.append)
    assert res["status"] == "done" and res["frames"] == [1001, 1002, 1003, 1004]
    assert seen == [Progress("matte", 1001 + i, i + 1, 4) for i in range(4)]
    assert [e["type"] for e in events] == ["progress"] * 4 + ["result"]
    # stray prints went to stderr, never into the protocol (stderr is read by a thread of its own,
    # which a loaded machine may run after the result has come back: wait for it, a few seconds)
    deadline = time.monotonic() + 10.0
    while "stray print" not in worker.stderr_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "stray print" in worker.stderr_tail()
    # the same worker runs the next job
    assert worker.run(fake_job(frames=1))["frames"] == [1001]


def test_iter_job(worker):
    types = [e["type"] for e in worker.iter_job(fake_job(frames=2))]
    assert types == ["progress", "progress", "result"]


def test_job_errors_come_back_as_their_class(worker):
    with pytest.raises(MissingFrameError) as ei:
        worker.run(fake_job(frames=3, fail="FRAME_MISSING"))
    assert ei.value.details == {"frame": 1002}
    bad = fake_job()
    bad["objects"] = [{"name": "hero", "prompts": []}]
    with pytest.raises(PromptError):
        worker.run(bad)
    assert worker.run(fake_job(frames=1))["status"] == "done"


def test_start_job_poll_is_non_blocking(worker):
    handle = worker.start_job(fake_job(frames=5, delay=0.2))
    t0 = time.monotonic()
    first = handle.poll()
    assert time.monotonic() - t0 < 0.1
    events = list(first)
    deadline = time.monotonic() + 30
    while not handle.done and time.monotonic() < deadline:
        events.extend(handle.poll())
        time.sleep(0.05)
    assert handle.done and handle.error is None
    assert handle.result["frames"][-1] == 1005
    assert [e["type"] for e in events].count("progress") == 5 and events[-1]["type"] == "result"
    with pytest.raises(WorkerError):  # only one job at a time, enforced on the host side too
        h1 = worker.start_job(fake_job(frames=3, delay=0.3))
        worker.start_job(fake_job())
    h1.wait()


def test_cancel_from_another_thread(worker):
    handle = worker.start_job(fake_job(frames=50, delay=0.1))
    seen = []
    threading.Timer(0.5, worker.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(CancelledError) as ei:
        handle.wait(on_progress=seen.append)
    assert ei.value.code == "CANCELLED"
    assert 0 < len(seen) < 50 and time.monotonic() - t0 < 10
    assert worker.alive() and worker.run(fake_job(frames=1))["status"] == "done"


def test_crash_gives_worker_error_with_stderr_tail(worker):
    with pytest.raises(WorkerError) as ei:
        worker.run(fake_job(frames=5, crash_at=2))
    err = ei.value
    assert err.code == "WORKER_FAILED" and err.details["returncode"] == 3
    assert "simulated crash in frame 1003" in err.details["stderr_tail"]
    assert "simulated crash" in str(err)
    assert not worker.alive()
    with pytest.raises(WorkerError):
        worker.start_job(fake_job())


def test_no_progress_timeout_kills_the_worker():
    env = {"PYTHONPATH": TESTS}
    w = WorkerClient(env=env, worker_args=["--pipeline", "cli_fake_pipeline"], timeout=1.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(WorkerError) as ei:
            w.run(fake_job(hang=30))
        assert time.monotonic() - t0 < 10
        assert "sent nothing" in ei.value.message and ei.value.details["timeout_s"] == 1.0
        assert not w.alive()
    finally:
        w.close()


def test_timeout_with_poll():
    w = WorkerClient(env={"PYTHONPATH": TESTS}, worker_args=["--pipeline", "cli_fake_pipeline"], timeout=0.5)
    try:
        h = w.start_job(fake_job(hang=30))
        deadline = time.monotonic() + 10
        while not h.done and time.monotonic() < deadline:
            h.poll()
            time.sleep(0.05)
        assert isinstance(h.error, WorkerError)
    finally:
        w.close()


def test_worker_that_cannot_start():
    with pytest.raises(WorkerError) as ei:
        WorkerClient(python="/nonexistent/python3")
    assert "cannot start" in ei.value.message
    with pytest.raises(WorkerError) as ei:  # starts, then dies on a bad argument
        WorkerClient(worker_args=["--no-such-flag"])
    assert "exited during start-up" in ei.value.message
    assert "--no-such-flag" in ei.value.details["stderr_tail"]


def test_close_is_clean_and_idempotent(worker):
    assert worker.close() == 0
    assert worker.close() == 0


def test_close_cancels_a_running_job():
    w = WorkerClient(env={"PYTHONPATH": TESTS}, worker_args=["--pipeline", "cli_fake_pipeline"])
    h = w.start_job(fake_job(frames=100, delay=0.1))
    time.sleep(0.3)
    t0 = time.monotonic()
    assert w.close() == 0
    assert time.monotonic() - t0 < 8
    with pytest.raises(CancelledError):
        h.wait()


def test_job_from_json_file(worker, tmp_path):
    import json
    p = tmp_path / "job.json"
    p.write_text(json.dumps(fake_job(frames=2)))
    assert worker.run(str(p))["frames"] == [1001, 1002]
    assert worker.run(json.dumps(fake_job(frames=1)))["frames"] == [1001]


def test_default_python_is_this_interpreter(worker):
    assert worker.python == sys.executable


def _find_python39():
    import glob
    import shutil
    cands = [shutil.which("python3.9")] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for p in cands:
        if p and subprocess.run([p, "-c", "import sys; assert sys.version_info[:2] == (3, 9)"],
                                capture_output=True).returncode == 0:
            return p
    return None


def test_host_side_on_python39_drives_the_venv_worker(tmp_path):
    """What Nuke/Blender do: a Python 3.9 host with only the standard library imports samatte's
    client from the source tree and runs a job in a worker started with the venv's interpreter."""
    py39 = _find_python39()
    if py39 is None:
        pytest.skip("no python3.9 on this machine")
    import samatte
    core = os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))
    script = tmp_path / "host.py"
    script.write_text(
        "import json, sys\n"
        "from samatte.client import WorkerClient\n"
        "from samatte.errors import CancelledError\n"
        "from samatte import jobspec\n"
        "job = json.loads(sys.argv[2])\n"
        "jobspec.validate(job)\n"
        "with WorkerClient(sys.argv[1], env={'PYTHONPATH': %r}, worker_args=['--pipeline', 'cli_fake_pipeline']) as w:\n"
        "    seen = []\n"
        "    res = w.run(job, on_progress=seen.append)\n"
        "    h = w.start_job(dict(job, meta={'fake': {'frames': 500, 'delay': 0.05}}))\n"
        "    h.cancel()\n"
        "    try:\n"
        "        h.wait()\n"
        "    except CancelledError:\n"
        "        print('cancelled')\n"
        "print(sys.version_info[:2], len(seen), res['status'], 'numpy' in sys.modules)\n" % TESTS)
    p = subprocess.run([py39, "-I", "-c", "import sys; sys.path.insert(0, %r); sys.argv = sys.argv[1:]; "
                        "exec(open(sys.argv[0]).read())" % core, str(script), sys.executable,
                        json.dumps(fake_job(frames=3))], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "cancelled" in p.stdout
    assert "(3, 9) 3 done False" in p.stdout


def test_close_delivers_the_cancelled_job_s_last_messages_to_a_slow_reader(monkeypatch):
    """close() waited for the worker to exit and then closed the pipes under the reader thread: the
    job's last lines (its CANCELLED error) were lost when the reader lagged (under load), and the job
    ended as a dead worker's (WORKER_FAILED). The readers now finish before the pipes close."""
    from samatte import client as client_mod
    slow = client_mod.protocol.decode

    def decode(line, **kw):      # a reader that lags behind the worker, as on a loaded machine
        time.sleep(0.05)
        return slow(line, **kw)
    w = WorkerClient(env={"PYTHONPATH": TESTS}, worker_args=["--pipeline", "cli_fake_pipeline"])
    monkeypatch.setattr(client_mod.protocol, "decode", decode)
    h = w.start_job(fake_job(frames=100, delay=0.05))
    time.sleep(0.5)
    assert w.close() == 0
    with pytest.raises(CancelledError):
        h.wait()
