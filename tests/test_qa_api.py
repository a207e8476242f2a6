"""QA (pipeline TD scripting): what a TD's script gets from samatte's Python API and from the
WorkerClient a host uses: callbacks that raise or are slow, iterators left early, errors rebuilt from
the wire. The client tests use the stand-in pipeline (tests/cli_fake_pipeline.py), so they exercise
the process boundary itself and stay fast."""
import os
import pickle
import time

import pytest

from samatte import errors, protocol
from samatte.client import WorkerClient

TESTS = os.path.dirname(os.path.abspath(__file__))


def fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}


def fake_worker(**kw):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(env=env, worker_args=["--pipeline", "cli_fake_pipeline"], startup_timeout=60, **kw)


class Boom(Exception):
    pass


def test_a_callback_that_raises_leaves_the_worker_free_for_the_next_job():
    # the TD's progress callback raised: the exception reaches the script, and the same client runs
    # the next job (before, the abandoned job kept the client BUSY for ever: nobody read its end)
    def bad(p):
        raise Boom("ui gone")
    with fake_worker() as w:
        with pytest.raises(Boom):
            w.run(fake_job(frames=20, delay=0.05), on_progress=bad)
        assert w.run(fake_job(frames=2))["frames"] == [1001, 1002]
        with pytest.raises(Boom):
            w.run(fake_job(frames=20, delay=0.05), on_event=bad)
        assert w.run(fake_job(frames=1))["frames"] == [1001]


def test_iter_job_left_early_leaves_the_worker_free():
    with fake_worker() as w:
        for msg in w.iter_job(fake_job(frames=20, delay=0.05)):
            assert msg["type"] == "progress"
            break
        assert w.run(fake_job(frames=1))["frames"] == [1001]


def test_a_slow_callback_is_not_a_silent_worker():
    # timeout = seconds the worker sends nothing; the host's own time in a callback is not the
    # worker's silence (before: killed after the first slow callback, WORKER_FAILED)
    seen = []

    def slow(p):
        seen.append(p.frame)
        time.sleep(2.5)
    with fake_worker(timeout=2.0) as w:
        res = w.run(fake_job(frames=2, delay=0.05), on_progress=slow)
        assert res["frames"] == [1001, 1002] and seen == [1001, 1002] and w.alive()


def test_a_rare_poll_gets_what_arrived_instead_of_a_timeout():
    # Blender/Nuke poll from a timer; a poll later than the timeout still gets the job's messages
    with fake_worker(timeout=1.0) as w:
        h = w.start_job(fake_job(frames=3, delay=0.05))
        time.sleep(1.8)
        events = h.poll()
        assert [m["type"] for m in events] == ["progress"] * 3 + ["result"]
        assert h.done and h.error is None and h.result["frames"] == [1001, 1002, 1003]
        assert w.alive()


@pytest.mark.parametrize("code", sorted(errors.ERROR_CODES) + ["SOME_NEWER_CODE"])
def test_an_error_whose_details_hold_a_message_key_is_rebuilt(code):
    # any JSON-safe details dict is valid on the wire; a "message" key in it made the host's
    # to_exception raise TypeError (not a samatte error) instead of the worker's error
    msg = protocol.error("job1", code, "it failed", {"message": "from a newer worker", "frame": 1001})
    e = protocol.to_exception(msg)
    assert isinstance(e, errors.ERROR_CODES.get(code, errors.SamatteError))
    assert e.code == code and e.message == "it failed"
    assert e.details == {"message": "from a newer worker", "frame": 1001}
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and e2.code == code and e2.details == e.details and str(e2) == str(e)


def test_readme_worker_protocol_example_runs(tmp_path_factory, tmp_path, capsys):
    # README "Worker protocol": the client example as written (its paths and frames swapped for a
    # small demo shot's); its non-blocking part used the worker after the with block had closed it
    import re
    import sys

    from demo_shots import demo_job, make_demo_shot
    readme = os.path.join(os.path.dirname(TESTS), "README.md")
    text = open(readme, encoding="utf-8").read()
    section = re.search(r"^## Worker protocol\n(.*?)(?=^## )", text, re.S | re.M).group(1)
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    shot = make_demo_shot(tmp_path_factory, "qa_api_readme", 4)
    s, _ = shot
    for old, new in (("/opt/samatte/.venv/bin/python", sys.executable), ("/shots/sh010/plate.####.exr", s["plate"]),
                     ('"1040"', '"1002"'), ('"1001-1010"', '"1001-1003"')):
        assert old in code
        code = code.replace(old, new)
    ns = {"job": demo_job(shot, tmp_path / "m.####.exr")}
    exec(compile(code, "README.md (Worker protocol)", "exec"), ns)
    assert ns["info"]["frames_on_disk"] == "1001-1004" and ns["check"]["valid"] is True
    assert ns["result"]["status"] == "done" and len(ns["result"]["written"]) == 4
    assert isinstance(ns["events"], list) and ns["handle"].id
    assert "1001 written" in capsys.readouterr().out


def test_close_of_a_dead_worker_s_client_releases_its_pipes():
    # a host keeps its clients (a pool); close() of one whose worker died (crash, kill, the client's own
    # timeout) left the worker's stdin pipe open: one fd per dead client for the host's lifetime
    import signal

    def fds():
        return len(os.listdir("/proc/self/fd"))
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    import gc
    kept = []
    gc.collect()        # clients of earlier tests finalised now, not while this one counts (a full run)
    base = fds()
    for i in range(3):
        w = fake_worker()
        if i == 0:
            os.kill(w.pid, signal.SIGKILL)
            w._wait_exit(10.0)
        else:
            w.kill()
        w.close()
        kept.append(w)
    gc.collect()
    assert fds() == base
