"""QA (samatte embedded in a long-lived host process: Nuke, Blender, a TD's script looping over
shots): what samatte leaves behind in the process -- worker processes, threads, file descriptors,
process-global state -- after imports, jobs run from other threads, errors and cancels."""
import gc
import os
import sys
import threading
import time

import pytest

from samatte.client import WorkerClient

TESTS = os.path.dirname(os.path.abspath(__file__))


def fake_worker(**kw):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(env=env, worker_args=["--pipeline", "cli_fake_pipeline"], startup_timeout=60, **kw)


def fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}


def _state(pid):
    """The /proc state letter of a process (``Z`` a zombie), None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _fds():
    return len(os.listdir("/proc/self/fd"))


def _wait_for(cond, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        gc.collect()
        time.sleep(0.05)
    return cond()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_client_dropped_without_close_ends_its_worker():
    # a TD's loop `for shot in shots: WorkerClient(py).run(job)` (no with, no close): each dropped client
    # ends its worker. Before, the client's reader threads held it, so __del__ never ran: every dropped
    # client left a live worker process (a warm model on the GPU), 2 threads and 3 fds for the rest of
    # the host's session (measured: 3 dropped clients -> 3 workers alive, +9 fds, +6 threads)
    fds0, threads0 = _fds(), threading.active_count()
    pids = []
    for _ in range(3):
        w = fake_worker()
        assert w.run(fake_job(frames=1))["frames"] == [1001]
        pids.append(w.pid)
        del w
    assert _wait_for(lambda: all(_state(p) is None for p in pids)), [_state(p) for p in pids]
    assert _wait_for(lambda: threading.active_count() <= threads0), threading.enumerate()
    assert _fds() <= fds0
