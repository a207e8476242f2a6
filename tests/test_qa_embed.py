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


def test_interrupts_leave_a_handler_the_host_installed_in_c_alone(monkeypatch):
    # Inside an embedding host (Blender initialises Python without its signal handlers and installs its
    # own in C) signal.getsignal / signal.signal report such a handler as None, and signal.signal(sig,
    # None) raises TypeError. Before, Interrupts (samatte.demo.run_demo, cli.main run in-process) took
    # the None as "the old handler", and on exit raised TypeError after the job had finished, leaving
    # samatte's handler installed in place of the host's for good.
    import signal as real
    from samatte import runner
    from samatte.progress import CancelToken

    installed = {real.SIGINT: None, real.SIGTERM: None}   # None: a C handler, as CPython reports it

    class FakeSignal:
        SIGINT, SIGTERM = real.SIGINT, real.SIGTERM

        @staticmethod
        def getsignal(sig):
            return installed[sig]

        @staticmethod
        def signal(sig, handler):
            if handler is None:
                raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
            old, installed[sig] = installed[sig], handler
            return old

    monkeypatch.setattr(runner, "signal", FakeSignal)
    with runner.Interrupts(CancelToken(), quiet=True):
        pass
    assert installed == {real.SIGINT: None, real.SIGTERM: None}


def test_interrupts_put_back_the_python_handlers_and_work_off_the_main_thread():
    import signal
    from samatte import runner
    from samatte.progress import CancelToken

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with runner.Interrupts(CancelToken(), quiet=True):
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
    assert {s: signal.getsignal(s) for s in before} == before
    errors = []

    def off_main():
        try:
            with runner.Interrupts(CancelToken(), quiet=True):
                pass
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    t = threading.Thread(target=off_main)
    t.start()
    t.join()
    assert errors == [] and {s: signal.getsignal(s) for s in before} == before
