"""The worker survives anything on its pipe and ends cleanly (issue 10 item 6, issue 11 item 3):
deeply nested and over-long lines, errors carrying the message's id, BUSY, SIGTERM, requests while a
job runs, release and the warm model."""
import json
import os
import signal
import sys
import threading


import worker_pipes
from samatte import protocol
from worker_pipes import fake_job

DEEP = ("[" * 100000 + "]" * 100000).encode()


class RawWorker(worker_pipes.RawWorker):
    """Reads the hello first; ``send_line`` ends a line that lacks its newline."""

    def __init__(self, *args):
        super().__init__(*args)
        self.hello = self.read()

    def send_line(self, data):
        data = data if isinstance(data, bytes) else data.encode()
        super().send_line(data if data.endswith(b"\n") else data + b"\n")

    def close(self):
        return self.finish(timeout=60)


def is_type(*types, id=None):
    return lambda m: m["type"] in types and (id is None or m["id"] == id)


def test_hello_lists_requests_and_versions():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    h = w.hello
    assert h["protocol"] == 1 and h["protocol_min"] == 1
    assert {"job", "cancel", "probe", "validate", "status", "release"} <= set(h["requests"])
    caps = h["capabilities"]
    assert caps["tracker_options"]["flow"]["work_size"]["default"] == 640
    assert "band" in caps["matte_options"] and "zip" in caps["compressions"]
    assert w.close()[0] == 0


def test_deeply_nested_line_is_answered_and_the_worker_goes_on():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.send_line(DEEP)
    m = w.read()
    assert m["type"] == "error" and m["code"] == "PROTOCOL_INVALID" and m["id"] is None
    w.send_line(b'{"type": "job", "v": 1, "id": "j", "job": ' + b'{"a":' * 100000 + b'1' + b'}' * 100001)
    assert w.read()["code"] == "PROTOCOL_INVALID"
    w.send(protocol.ping("p"))
    assert w.read() == protocol.pong("p")
    rc, rest = w.close()
    assert rc == 0 and [m["type"] for m in rest] == ["bye"]


def test_deeply_nested_line_while_a_job_runs_does_not_hurt_the_job():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.send(protocol.job("j1", fake_job(frames=20, delay=0.02)))
    assert w.read()["type"] == "progress"
    w.send_line(DEEP)
    msgs = w.read_until(is_type("result", "error", id="j1"))
    errs = [m for m in msgs if m["type"] == "error"]
    assert [e["code"] for e in errs] == ["PROTOCOL_INVALID"] and errs[0]["id"] is None
    assert msgs[-1]["type"] == "result" and msgs[-1]["id"] == "j1"
    rc, rest = w.close()
    assert rc == 0 and [m["type"] for m in rest] == ["bye"]


def test_over_long_line_is_answered():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.send_line(b'{"type": "ping", "v": 1, "id": "' + b"x" * (protocol.MAX_LINE + 10) + b'"}')
    m = w.read()
    assert m["code"] == "PROTOCOL_INVALID" and "longer" in m["message"]
    w.send(protocol.ping("after"))
    assert w.read()["id"] == "after"
    assert w.close()[0] == 0


def test_errors_about_a_job_message_carry_its_id():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.send_line('{"type": "job", "v": 1, "id": "j5", "job": "not an object"}')
    m = w.read()
    assert m["type"] == "error" and m["id"] == "j5" and m["code"] == "PROTOCOL_INVALID"
    w.send_line('{"type": "job", "v": 1, "id": "j6", "job": {}, "stage": "paint"}')
    assert w.read()["id"] == "j6"
    w.send_line('{"type": "frobnicate", "v": 1, "id": "q1"}')
    m = w.read()
    assert m["id"] == "q1" and m["code"] == "PROTOCOL_INVALID"
    assert w.close()[0] == 0


def test_busy_release_and_requests_while_a_job_runs():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.send(protocol.job("j1", fake_job(frames=2000, delay=0.02)))
    assert w.read()["type"] == "progress"
    w.send(protocol.job("j2", fake_job(frames=1)))
    busy = w.read_until(is_type("error"))[-1]
    assert busy["id"] == "j2" and busy["code"] == "BUSY" and "j1" not in json.dumps(busy)
    w.send(protocol.release("r1"))
    m = w.read_until(is_type("error", "released"))[-1]
    assert m["type"] == "error" and m["code"] == "BUSY" and m["id"] == "r1"
    # validate is answered while the job runs; an invalid job is an answer, not an error
    w.send(protocol.validate_request("v1", fake_job()))
    w.send(protocol.validate_request("v2", {"samatte_job": 1, "plate": {"path": "p.####.exr"}, "objects": [],
                                            "output": {"path": "o.####.exr"}}))
    w.send(protocol.validate_request("v3", dict(fake_job(), device="cuda:abc")))
    replies = {}
    while len(replies) < 3:
        m = w.read()
        if m["type"] == "validate_result":
            replies[m["id"]] = m["result"]
    assert replies["v1"]["valid"] is True and replies["v1"]["job"]["name"] == "fake"
    assert replies["v2"]["valid"] is False and replies["v2"]["error"]["code"] == "JOBSPEC_INVALID"
    assert replies["v3"]["valid"] is False and "cuda:abc" in replies["v3"]["error"]["message"]
    # the fake pipeline cannot probe: a coded error with the request's id
    w.send(protocol.probe("p1", "/plates/p.####.exr"))
    m = w.read_until(is_type("error", "probe_result", id="p1"))[-1]
    assert m["type"] == "error" and m["code"] == "DEPENDENCY_MISSING"
    w.send(protocol.cancel("j1"))
    end = w.read_until(is_type("result", "error", id="j1"))[-1]
    assert end["code"] == "CANCELLED"
    w.send(protocol.release("r2"))
    m = w.read_until(is_type("released", "error", id="r2"))[-1]
    assert m["type"] == "released" and isinstance(m["dropped"], list)
    assert w.close()[0] == 0


def test_sigterm_cancels_the_running_job_then_bye_and_exit_0():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.send(protocol.job("j1", fake_job(frames=2000, delay=0.02)))
    assert w.read()["type"] == "progress"
    w.proc.send_signal(signal.SIGTERM)
    msgs = w.read_until(is_type("bye"))
    errs = [m for m in msgs if m["type"] == "error"]
    assert len(errs) == 1 and errs[0]["id"] == "j1" and errs[0]["code"] == "CANCELLED"
    assert w.proc.wait(timeout=30) == 0
    assert b"Traceback" not in w.proc.stderr.read()


def test_sigterm_when_idle():
    w = RawWorker("--pipeline", "cli_fake_pipeline")
    w.proc.send_signal(signal.SIGTERM)
    assert w.read()["type"] == "bye"
    assert w.proc.wait(timeout=30) == 0


# --- the warm model, in process ---------------------------------------------------------------------

class _FakeSam2:
    name = "sam2"
    built = 0

    def __init__(self):
        _FakeSam2.built += 1
        self.serial = _FakeSam2.built   # not id(): a dropped instance's id may be reused by the next one
        self.closed = False

    def close(self):
        self.closed = True


class _Pipeline:
    """A pipeline whose jobs resolve to SAM 2 and that reports the tracker instance it was given."""

    @staticmethod
    def load_job(spec):
        from samatte.jobspec import validate
        return validate(spec)

    @staticmethod
    def resolve_backends(job):
        return {"tracker": "sam2", "model": job["tracker"]["model"], "model_sha256": None, "matte": "refine"}

    @staticmethod
    def run_iter(job, *, cancel=None, tracker=None, stage="all", frames=None, preroll=None, events=False):
        from samatte.progress import FrameEvent, Progress
        yield Progress("matte", 1001, 1, 1)
        if events:
            yield FrameEvent(1001, "written", 0.5, "/out/m.1001.exr")
        return {"tracker_id": getattr(tracker, "serial", None), "stage": stage, "frames": frames, "preroll": preroll}


def test_warm_model_is_kept_across_jobs_and_released(monkeypatch):
    import samatte.track
    from samatte.worker import Worker
    monkeypatch.setattr(samatte.track, "get_tracker", lambda *a, **k: _FakeSam2())
    monkeypatch.setitem(sys.modules, "fake_sam2_pipeline", _Pipeline)
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    worker = Worker(os.fdopen(r_in, "rb"), os.fdopen(w_out, "wb", buffering=0), pipeline="fake_sam2_pipeline")
    t = threading.Thread(target=worker.serve, daemon=True)
    t.start()
    host_in = os.fdopen(r_out, "rb")
    host_out = os.fdopen(w_in, "wb", buffering=0)

    def until(pred):
        while True:
            m = protocol.decode(host_in.readline())
            if pred(m):
                return m

    def job(jid, **over):
        spec = dict(fake_job(), tracker=dict({"backend": "sam2"}, **over))
        host_out.write(protocol.encode(protocol.job(jid, spec, stage="matte", frames="1001", preroll=2)).encode())
        return until(is_type("result", "error", id=jid))

    until(is_type("hello"))
    _FakeSam2.built = 0
    r1, r2 = job("a"), job("b")
    assert r1["type"] == r2["type"] == "result"
    assert r1["result"]["tracker_id"] == r2["result"]["tracker_id"] and _FakeSam2.built == 1
    assert r1["result"]["stage"] == "matte" and r1["result"]["frames"] == "1001" and r1["result"]["preroll"] == 2
    r3 = job("c", options={"fill_hole_area": 4})   # other options: another model instance
    assert r3["result"]["tracker_id"] != r1["result"]["tracker_id"] and _FakeSam2.built == 2
    warm = worker._warm[1]
    host_out.write(protocol.encode(protocol.release("rel")).encode())
    m = until(is_type("released", "error"))
    assert m["type"] == "released" and m["dropped"][0] == "tracker:sam2" and warm.closed
    assert worker._warm is None
    host_out.close()
    t.join(30)
    assert not t.is_alive()


def test_frame_events_and_fraction_reach_the_host(monkeypatch):
    from samatte.runner import drain
    sent = []
    res = drain(fake_job(), emit=sent.append, job_id="j", pipeline=_Pipeline, frames="1001")
    assert res["frames"] == "1001" and res["stage"] == "all"
    assert [m["type"] for m in sent] == ["progress", "frame"]
    assert sent[0]["fraction"] == 1.0 and sent[1]["status"] == "written" and sent[1]["score"] == 0.5
