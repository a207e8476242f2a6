"""WorkerClient: requests (probe, validate, status, release), frame events, stage/frames, version
checks, a newer worker's unknown messages, and the samatte Python required inside a host."""
import os
import stat
import sys

import pytest

from demo_shots import demo_job, make_demo_shot
from samatte import client as client_mod
from samatte.client import WorkerClient
from samatte.errors import JobSpecError, WorkerError

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "client_req_shot", 6)


@pytest.mark.slow
def test_requests_and_a_job_with_frame_events(shot, tmp_path):
    s, _ = shot
    out = tmp_path / "m" / "matte.####.exr"
    job = demo_job(shot, out, name="req_test")
    with WorkerClient(timeout=300) as w:
        p = w.probe(s["plate"])
        assert p["display_window"] == [0, 0, 128, 72] and p["data_window"] == [0, 0, 128, 72]
        assert p["pixel_aspect"] == 1.0 and p["first"] == 1001 and p["last"] == 1006
        assert {"R", "G", "B"} <= set(p["channels"]) and "i + 0.5" in p["coordinates"]
        v = w.validate(job)
        assert v["valid"] and v["job"]["name"] == "req_test" and v["resolved"]["tracker"] == "flow"
        bad = w.validate(dict(job, tracker={"backend": "flow", "options": {"work_size": "big"}}))
        assert not bad["valid"] and bad["error"]["details"]["field"] == "tracker.options.work_size"
        st = w.status(job)
        assert set(st["frames"].values()) == {"missing"}
        events = []
        res = w.run(job, on_event=events.append, frames="1001-1003")
        frames = [e for e in events if e["type"] == "frame"]
        assert sorted(e["frame"] for e in frames if e.get("stage", "matte") == "matte") == [1001, 1002, 1003]
        assert all(e["status"] == "written" and e["path"].endswith(".exr") for e in frames
                   if e.get("stage", "matte") == "matte")
        fr = [e["fraction"] for e in events if e["type"] == "progress"]
        assert fr == sorted(fr) and fr[-1] == 1.0
        assert len(res["written"]) == 3
        st = w.status(job)
        assert [st["frames"][str(f)] for f in range(1001, 1007)] == ["complete"] * 3 + ["missing"] * 3
        # the rest: 1001-1003 are skipped, 1004-1006 written
        events = []
        w.run(job, on_event=events.append)
        got = {e["frame"]: e["status"] for e in events if e["type"] == "frame" and e.get("stage", "matte") == "matte"}
        assert got == {1001: "skipped", 1002: "skipped", 1003: "skipped", 1004: "written", 1005: "written",
                       1006: "written"}
        assert isinstance(w.release(), list)
        with pytest.raises(JobSpecError):
            w.run(dict(job, device="cuda:abc"))
        assert w.ping()


def test_python_is_required_inside_a_host(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/usr/local/Nuke15.1v2/Nuke15.1")
    with pytest.raises(WorkerError) as ei:
        WorkerClient()
    assert "samatte Python" in ei.value.message
    monkeypatch.setattr(sys, "executable", "C:\\Program Files\\Blender Foundation\\Blender 4.2\\blender.exe")
    with pytest.raises(WorkerError):
        WorkerClient()
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    assert client_mod._default_python() == "/usr/bin/python3"


FAKE = r'''
import json, sys
hello = {"type": "hello", "v": %(v)d, "id": None, "protocol": %(p)d, "protocol_min": %(pmin)d,
         "samatte": "9.9", "python": "3.99.0", "capabilities": {}, "requests": ["job", "cancel", "ping",
         "shutdown", "telepathy"], "future_field": {"x": 1}}
print(json.dumps(hello), flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    if msg["type"] == "job":
        jid = msg["id"]
        print(json.dumps({"type": "thumbnail", "v": 2, "id": jid, "png": "AAAA"}), flush=True)
        print(json.dumps({"type": "progress", "v": 2, "id": jid, "stage": "matte", "frame": 1, "done": 1,
                          "total": 1, "eta_s": 0, "fraction": 1.0}), flush=True)
        print(json.dumps({"type": "frame", "v": 2, "id": jid, "frame": 1, "status": "written", "score": 0.5,
                          "path": "/x", "gpu": "H200"}), flush=True)
        print(json.dumps({"type": "result", "v": 2, "id": jid, "result": {"status": "done"}, "extra": 1}),
              flush=True)
    elif msg["type"] == "shutdown":
        print(json.dumps({"type": "bye", "v": 2, "id": None}), flush=True)
        break
'''


def fake_worker(tmp_path, *, v=2, p=2, pmin=1):
    # (the tests give it 120 s to say hello: it takes ~0.1 s, but a fresh-clone CI run on a loaded
    # 2-core machine once took over 30 s and failed on the start-up time, not on what is tested)
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE % {"v": v, "p": p, "pmin": pmin})
    launcher = tmp_path / "fakepython"
    launcher.write_text("#!/bin/sh\nexec %s %s\n" % (sys.executable, script))
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    return str(launcher)


@pytest.mark.skipif(os.name != "posix", reason="uses a shell launcher")
def test_a_newer_worker_that_still_speaks_1(tmp_path):
    with WorkerClient(fake_worker(tmp_path), startup_timeout=120) as w:
        events = []
        assert w.run({"samatte_job": 1}, on_event=events.append) == {"status": "done"}
        assert [e["type"] for e in events] == ["progress", "frame", "result"]
        with pytest.raises(WorkerError) as ei:   # it does not offer probe
            w.probe("/p.####.exr")
        assert "does not answer" in ei.value.message


@pytest.mark.skipif(os.name != "posix", reason="uses a shell launcher")
def test_a_worker_that_cannot_talk_to_us(tmp_path):
    with pytest.raises(WorkerError) as ei:
        WorkerClient(fake_worker(tmp_path, v=3, p=3, pmin=3), startup_timeout=120)
    assert "protocol mismatch" in ei.value.message and "3..3" in ei.value.message
