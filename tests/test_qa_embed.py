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


_SIGPIPE_HOST = r'''
import os, signal, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # a host that never set SIGPIPE to SIG_IGN
sys.path.insert(0, sys.argv[1])
from test_qa_embed import fake_job, fake_worker
w = fake_worker()
h = w.start_job(fake_job(frames=200, delay=0.05))
time.sleep(0.3)
os.kill(w.pid, 9)           # the OOM killer takes the worker
w._proc.wait()
time.sleep(0.2)             # its pipe is closed for good
h.cancel()                  # the user clicks Cancel
try:
    w.release()
except Exception as e:
    print("release:", type(e).__name__)
print("host alive")
'''


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGPIPE"), reason="no SIGPIPE")
def test_talking_to_a_dead_worker_does_not_kill_a_host_that_keeps_sigpipe_default(tmp_path):
    # Before: the host process died of SIGPIPE (exit -13, no message, the scene unsaved) on the Cancel
    # click after its worker had died, when the host leaves SIGPIPE at its default as an embedded Python
    # started without its signal handlers does.
    import subprocess
    script = tmp_path / "host.py"
    script.write_text(_SIGPIPE_HOST)
    import samatte
    core = os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([core, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(script), TESTS], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "release: WorkerError" in out.stdout and "host alive" in out.stdout
