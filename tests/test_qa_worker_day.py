"""A host keeps one samatte worker for an artist's whole day: what survives a worker killed mid-job, and
what the worker keeps across many jobs (fds, threads, temp files)."""
import os
import signal
import sys
import time

import pytest

from samatte.client import WorkerClient

TESTS = os.path.dirname(os.path.abspath(__file__))


def _fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}


def _fake_worker(python=None):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(env=env, worker_args=["--pipeline", "cli_fake_pipeline"], startup_timeout=60)


class _Nuke:
    """What samatte_nuke.runner.JobRunner uses of the nuke module."""

    class ProgressTask:
        def __init__(self, name):
            pass

        def setMessage(self, m):
            pass

        def setProgress(self, p):
            pass

        def isCancelled(self):
            return False

    @staticmethod
    def executeInMainThread(call, args=()):
        pass


def _until(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.01)
    return pred()


def test_nuke_a_worker_killed_mid_job_fails_that_job_only_the_queued_one_runs_in_a_new_worker():
    """Node A's job runs, node B's waits for the shared worker; the worker is killed (OOM killer, kill -9).
    A fails WORKER_FAILED naming the signal; B runs to its end in a new worker, which A's failure must not
    end (before: A's runner dropped whatever worker the pool held by then, B's new one, and B failed too)."""
    sys.path.insert(0, os.path.join(os.path.dirname(TESTS), "nuke_plugin"))
    from samatte_nuke.runner import JobRunner, WorkerPool
    pool = WorkerPool(factory=_fake_worker)
    py = sys.executable
    try:
        # A looks at its worker every 0.5 s (a busy Nuke), B every 0.01 s: B sees the death first and starts a
        # new worker, then A's failure comes
        a = JobRunner(_Nuke(), title="A", job=_fake_job(frames=400, delay=0.05), python=py, pool=pool, poll_s=0.5)
        a.start()
        assert _until(lambda: a.last_progress is not None)
        first = pool.get(py)
        b = JobRunner(_Nuke(), title="B", job=_fake_job(frames=3, delay=0.4), python=py, pool=pool, poll_s=0.01)
        b.start()
        assert _until(lambda: (b.last_progress or {}).get("stage") == "queued")
        os.kill(first.pid, signal.SIGKILL)
        a.join(60)
        b.join(60)
        assert a.outcome[0] == "failed" and a.outcome[1] == "WORKER_FAILED", a.outcome
        assert "SIGKILL" in a.outcome[2]
        assert b.outcome[0] == "done", b.outcome
        assert b.outcome[1]["frames"] == [1001, 1002, 1003]
        # the new worker B ran in is the pool's, alive, warm for the next job
        assert b.client is not first and b.client.alive() and pool.get(py) is b.client
    finally:
        pool.close_all()


def test_nuke_a_worker_that_dies_just_before_the_job_is_sent_is_replaced():
    """The pool handed out its worker, which died (killed while idle, or under another node's job) before the
    job was sent: the job goes to a new worker (before: it failed, "the samatte worker is not running (exit
    status -9)", though it had never been sent)."""
    sys.path.insert(0, os.path.join(os.path.dirname(TESTS), "nuke_plugin"))
    from samatte_nuke.runner import JobRunner, WorkerPool

    class DyingPool(WorkerPool):
        killed = []

        def get(self, python):
            c = WorkerPool.get(self, python)
            if not self.killed:   # the first one handed out dies on its way to the job
                os.kill(c.pid, signal.SIGKILL)
                c._proc.wait(10)
                self.killed.append(c)
            return c

    pool = DyingPool(factory=_fake_worker)
    try:
        r = JobRunner(_Nuke(), title="A", job=_fake_job(frames=2), python=sys.executable, pool=pool, poll_s=0.01)
        r.start()
        r.join(60)
        assert r.outcome[0] == "done", r.outcome
        assert r.outcome[1]["frames"] == [1001, 1002]
        assert r.client is not pool.killed[0] and r.client.alive()
    finally:
        pool.close_all()


def _worker_state(pid, tmpdir):
    """(open fds, threads, child processes, files in its TMPDIR) of a worker, the fewest threads of a few looks
    (a request's thread or a read-ahead thread ends a moment after its work)."""
    threads = []
    for _ in range(10):
        threads.append(len(os.listdir("/proc/%d/task" % pid)))
        time.sleep(0.05)
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        kids = f.read().split()
    return len(os.listdir("/proc/%d/fd" % pid)), min(threads), len(kids), sorted(os.listdir(tmpdir))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_kept_all_day_holds_no_more_after_20_jobs_than_after_4(tmp_path):
    """One worker, real jobs (flow, tiny plates): done, cancelled mid-matte, failing on a corrupt frame, three
    objects, requests between and during them. Its open files, threads, children and temp files after 20 jobs
    are those after the first 4, one of each kind (a library's thread pool may start on its first use of some
    call; measured: 4 fds, 7 threads, no child, nothing in TMPDIR after 2, 20, 50 and 100 jobs)."""
    from samatte import jobspec
    from samatte.demo import make_shot
    from samatte.errors import SamatteError
    shot = make_shot(str(tmp_path / "shot"), frames=3, size=(64, 64))
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in shot["frames"]:
        with open(shot["plate"].replace("####", "%04d" % f), "rb") as src:
            data = src.read()
        (bad / ("p.%04d.exr" % f)).write_bytes(data[:200] if f == 1002 else data)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()

    def job(i, objects=1, plate=None):
        j = jobspec.new_job(plate or shot["plate"], str(tmp_path / ("o%d" % i) / "m.####.exr"), frames="1001-1003",
                            tracker="flow", matte="refine", quality="draft", name="day%d" % i)
        for k in range(objects):
            jobspec.add_object(j, "b%d" % k, [jobspec.polygon_prompt(
                shot["prompt_frame"], [[x + 2 * k, y] for x, y in shot["polygon"]])])
        return j

    seen = {}
    with WorkerClient(timeout=120, env={"TMPDIR": str(tmpdir)}) as w:
        for i in range(20):
            kind = i % 4
            if kind == 0:
                assert w.run(job(i))["status"] == "done"
            elif kind == 1:
                h = w.start_job(job(i, objects=2))
                for ev in h.events():
                    if ev["type"] == "progress" and ev["stage"] == "matte":
                        assert w.status(job(i))["frames"]   # a request beside the job
                        h.cancel()
                        break
                for ev in h.events():
                    pass
                assert h.error is not None and h.error.code == "CANCELLED"
            elif kind == 2:
                with pytest.raises(SamatteError) as ei:
                    w.run(job(i, plate=str(bad / "p.####.exr")))
                assert ei.value.code == "FRAME_CORRUPT"
            else:
                assert w.run(job(i, objects=3))["status"] == "done"
                w.probe(shot["plate"])
                assert w.validate(job(i))["valid"]
            if i + 1 in (4, 20):
                seen[i + 1] = _worker_state(w.pid, str(tmpdir))
        assert w.alive()
    fds4, threads4, kids4, tmp4 = seen[4]
    fds20, threads20, kids20, tmp20 = seen[20]
    assert fds20 == fds4, seen
    assert threads20 <= threads4, seen
    assert kids20 == kids4 == 0 and tmp20 == tmp4 == [], seen
    left = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert left == []
