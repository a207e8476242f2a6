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


def _run_python(script, *args):
    """``script`` in a fresh interpreter that imports this checkout's samatte."""
    import subprocess

    import samatte
    core = os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([core, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(script)] + list(args), capture_output=True, text=True,
                          timeout=60, env=env)


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
    script = tmp_path / "host.py"
    script.write_text(_SIGPIPE_HOST)
    out = _run_python(script, TESTS)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "release: WorkerError" in out.stdout and "host alive" in out.stdout


_IMPORT_STATE = r'''
import json, logging, os, signal, sys, threading, warnings
import numpy as np
def state():
    u = os.umask(0); os.umask(u)
    return repr([[signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD)],
                 logging.getLogger().handlers, logging.getLogger().level, logging.getLogger("samatte").handlers,
                 list(sys.path), sorted(os.environ.items()), os.getcwd(), u, sys.stdout, sys.stderr,
                 np.geterr(), sys.excepthook, threading.excepthook, sys.getrecursionlimit(),
                 warnings.filters[:]])
before = state()
import samatte, samatte.api, samatte.jobspec, samatte.protocol, samatte.client, samatte.names
import samatte.errors, samatte.cachekey, samatte.registry, samatte.frames, samatte.progress
print(json.dumps(state() == before))
'''


def test_importing_samatte_changes_no_process_global_state(tmp_path):
    script = tmp_path / "imp.py"
    script.write_text(_IMPORT_STATE)
    out = _run_python(script)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "true"


def test_two_jobs_in_two_threads_match_the_same_jobs_run_alone(tmp_path):
    # a TD's script runs two shots at once from worker threads: both outputs are byte-for-byte those of
    # the same jobs run one at a time, a cancel of one leaves the other alone, progress goes to its own
    # job, and nothing global is left changed (signal handlers, logging, sys.stdout)
    import glob
    import logging
    import signal

    from samatte import api, jobspec
    from samatte.demo import make_shot
    from samatte.errors import CancelledError
    from samatte.progress import CancelToken

    shots = [make_shot(str(tmp_path / ("s%d" % i)), frames=6, size=(64, 64)) for i in range(2)]

    def job(i, out):
        s = shots[i]
        j = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                            tracker="flow", matte="refine", quality="draft")
        jobspec.add_object(j, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
        return j

    def frames_of(pattern):
        return [open(p, "rb").read() for p in sorted(glob.glob(pattern))]

    for i in range(2):
        api.run(job(i, tmp_path / ("alone%d" % i) / "m.####.exr"))
    before = (signal.getsignal(signal.SIGINT), logging.getLogger().handlers[:], sys.stdout, sys.stderr)
    seen, res, token = {0: set(), 1: set()}, {}, CancelToken()

    def go(i):
        def progress(p):
            seen[i].add(threading.current_thread().name)
            if i == 2 and p.stage == "matte":
                token.cancel()
        try:
            res[i] = api.run(job(i % 2, tmp_path / ("conc%d" % i) / "m.####.exr"), progress=progress,
                             cancel=token if i == 2 else None)
        except Exception as e:  # noqa: BLE001
            res[i] = e
    seen[2] = set()
    threads = [threading.Thread(target=go, args=(i,), name="td%d" % i) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert isinstance(res[2], CancelledError)
    for i in range(2):
        assert res[i]["status"] == "done" and seen[i] == {"td%d" % i}
        alone, conc = frames_of(str(tmp_path / ("alone%d" % i) / "m.*.exr")), frames_of(
            str(tmp_path / ("conc%d" % i) / "m.*.exr"))
        assert len(alone) == 6 and alone == conc
    assert (signal.getsignal(signal.SIGINT), logging.getLogger().handlers[:], sys.stdout, sys.stderr) == before
