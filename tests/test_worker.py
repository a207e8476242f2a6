"""``python -m samatte.worker`` through a real subprocess: the raw protocol on its pipes, and real jobs
through the real pipeline (a tiny synthetic EXR shot from samatte.demo)."""
import json
import os
import time

import pytest

from demo_shots import demo_job, make_demo_shot
from samatte import protocol
from samatte.client import WorkerClient
from samatte.errors import CancelledError, MissingFrameError
from worker_pipes import RawWorker, fake_job



def test_hello_first_then_clean_exit_on_eof():
    w = RawWorker()
    hello = w.read()
    assert hello["type"] == "hello" and hello["v"] == protocol.PROTOCOL_VERSION and hello["id"] is None
    assert hello["pid"] == w.proc.pid and hello["python"].count(".") == 2
    rc, rest = w.finish()
    assert rc == 0 and [m["type"] for m in rest] == ["bye"]


def test_malformed_lines_get_errors_and_the_worker_keeps_going():
    w = RawWorker()
    w.read()
    w.send_line(b"this is not json\n")
    m = w.read()
    assert m["type"] == "error" and m["code"] == "PROTOCOL_INVALID" and m["id"] is None
    w.send_line(b'{"type": "job", "v": 1, "id": "j"}\n')  # misses the job
    assert w.read()["code"] == "PROTOCOL_INVALID"
    w.send_line(b'{"type": "ping", "v": 2, "id": null}\n')  # a future protocol version
    assert "not supported" in w.read()["message"]
    w.send(protocol.bye())  # a worker-only message sent to the worker
    assert w.read()["code"] == "PROTOCOL_INVALID"
    w.send_line(b"\n")  # blank lines are ignored
    w.send(protocol.ping("p1"))
    assert w.read() == protocol.pong("p1")
    w.send(protocol.shutdown())
    assert w.read()["type"] == "bye"
    assert w.proc.wait(timeout=30) == 0


def test_stray_prints_never_reach_the_protocol_pipe():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.read()
    w.send(protocol.job("j1", fake_job(frames=2, print=True)))
    msgs = w.read_until("result")  # read() asserts every line decodes
    assert [m["type"] for m in msgs] == ["progress", "progress", "result"]
    assert all(m["id"] == "j1" for m in msgs)
    rc, rest = w.finish()
    assert rc == 0 and [m["type"] for m in rest] == ["bye"]


def test_one_job_at_a_time_and_cancel_by_id():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.read()
    w.send(protocol.job("j1", fake_job(frames=2000, delay=0.05)))
    assert w.read()["type"] == "progress"
    w.send(protocol.job("j2", fake_job(frames=1)))
    busy = w.read_until("error")[-1]
    # BUSY, with the refused job's id; the running job's id appears nowhere in it
    assert busy["id"] == "j2" and busy["code"] == "BUSY" and "busy" in busy["message"]
    assert "j1" not in json.dumps(busy)
    w.send(protocol.cancel("other"))  # another id: ignored
    w.send(protocol.cancel("j1"))
    end = w.read_until(("error", "result"))[-1]
    assert end["type"] == "error" and end["id"] == "j1" and end["code"] == "CANCELLED"
    w.send(protocol.job("j3", fake_job(frames=1)))
    assert w.read_until("result")[-1]["id"] == "j3"
    w.finish()


def test_shutdown_cancels_the_running_job():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.read()
    w.send(protocol.job("j1", fake_job(frames=1000, delay=0.05)))
    w.read()
    w.send(protocol.shutdown())
    msgs = w.read_until("bye")
    errs = [m for m in msgs if m["type"] == "error"]
    assert len(errs) == 1 and errs[0]["code"] == "CANCELLED"
    assert w.proc.wait(timeout=30) == 0


def test_bad_jobspec_is_an_error_event_not_a_crash():
    w = RawWorker()
    w.read()
    w.send(protocol.job("j1", {"samatte_job": 99}))
    m = w.read_until("error")[-1]
    assert m["code"] == "JOBSPEC_INVALID" and m["id"] == "j1"
    w.send(protocol.ping())
    assert w.read()["type"] == "pong"
    w.finish()


# --- the real pipeline ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "worker_shot", 12)


def real_job(shot, out, **over):
    job = demo_job(shot, out, name="worker_test")
    job.update(over)
    return job


@pytest.mark.slow
def test_real_job_succeeds(shot, tmp_path):
    out = tmp_path / "m" / "matte.####.exr"
    seen = []
    with WorkerClient(timeout=300) as w:
        res = w.run(real_job(shot, out), on_progress=seen.append)
    assert res["status"] == "done" and res["frames"] == shot[0]["frames"]
    assert len(res["written"]) == 12 and all(os.path.exists(p) for p in res["written"])
    assert res["tracker"] == "flow" and res["matte"]
    assert set(res["scores"]) == {str(f) for f in shot[0]["frames"]}
    stages = {p.stage for p in seen}
    assert "matte" in stages
    assert json.loads(json.dumps(res)) == res


@pytest.mark.slow
def test_real_job_cancel_mid_job(shot, tmp_path):
    out_dir = tmp_path / "m"
    with WorkerClient(timeout=300) as w:
        handle = w.start_job(real_job(shot, out_dir / "matte.####.exr"))
        cancelled_at = None
        with pytest.raises(CancelledError):
            for ev in handle.events():
                if ev["type"] == "progress" and ev["stage"] == "matte" and cancelled_at is None:
                    handle.cancel()
                    cancelled_at = time.monotonic()
            assert handle.done and ev["type"] == "error" and ev["code"] == "CANCELLED"
            raise handle.error
        assert cancelled_at is not None and time.monotonic() - cancelled_at < 120
        assert w.alive()
        # missing frames fail with the plate error class, through the same worker
        bad = real_job(shot, out_dir / "other.####.exr")
        bad["plate"]["frames"] = "1001-1020"
        with pytest.raises(MissingFrameError):
            w.run(bad)
    written = sorted(os.listdir(out_dir)) if out_dir.exists() else []
    assert len([n for n in written if n.startswith("matte.")]) < 12
    assert not [n for n in written if n.endswith(".tmp.exr")]
