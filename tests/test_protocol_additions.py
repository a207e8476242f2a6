"""Protocol version-1 additions and hardening (issue 10 item 6, issue 11 item 3) at the message level."""
import json

import pytest

from samatte import protocol
from samatte.errors import BusyError, ProtocolError, WorkerError
from samatte.progress import FrameEvent, Progress


def deep(n):
    return "[" * n + "]" * n


def test_deeply_nested_lines_are_protocol_errors():
    for line in (deep(100000), '{"type": "job", "v": 1, "id": "j", "job": %s}' % ("{\"a\":" * 100000 + "1"
                                                                                     + "}" * 100000)):
        with pytest.raises(ProtocolError) as ei:
            protocol.decode(line)
        assert ei.value.code == "PROTOCOL_INVALID"


def test_unencodable_deep_result_is_a_protocol_error_not_a_crash():
    d = x = {}
    for _ in range(100000):
        x["a"] = {}
        x = x["a"]
    with pytest.raises(ProtocolError):
        protocol.encode(protocol.message("result", "j", result=d))
    r = protocol.result("j", d)   # making it JSON-safe never raises...
    assert r["result"] == "<nested too deeply>"
    with pytest.raises(ProtocolError):   # ...and encoding says what is wrong
        protocol.encode(r)


def test_errors_about_a_message_carry_its_id_when_readable():
    with pytest.raises(ProtocolError) as ei:
        protocol.decode('{"type": "job", "v": 1, "id": "j7", "job": "not an object"}')
    assert ei.value.msg_id == "j7"
    with pytest.raises(ProtocolError) as ei:
        protocol.decode('{"type": "job", "v": 1, "id": 5, "job": {}}')
    assert ei.value.msg_id is None
    with pytest.raises(ProtocolError) as ei:
        protocol.decode('{"type": "job", "v": 1, "id": "j8", "job": {}, "stage": "paint"}')
    assert ei.value.msg_id == "j8"


@pytest.mark.parametrize("msg", [
    {"type": "job", "v": 1, "id": "j", "job": {}, "preroll": -1},
    {"type": "job", "v": 1, "id": "j", "job": {}, "preroll": True},
    {"type": "job", "v": 1, "id": "j", "job": {}, "frames": 3},
    {"type": "job", "v": 1, "id": "j", "job": {}, "frames": [1001, "x"]},
    {"type": "job", "v": 1, "id": "j", "job": {}, "frames": []},
    {"type": "probe", "v": 1, "id": "r", "plate": "/p.####.exr", "frames": [True]},
    {"type": "probe", "v": 1, "id": "r", "plate": "/p.####.exr", "frames": [{"a": 1}]},
    {"type": "frame", "v": 1, "id": "j", "frame": 1001, "status": "painted"},
    {"type": "frame", "v": 1, "id": "j", "frame": 1001, "status": "written", "score": float("nan")},
    {"type": "progress", "v": 1, "id": "j", "stage": "x", "done": 1, "total": 2, "fraction": float("inf")},
    {"type": "probe", "v": 1, "id": None, "plate": "/p.####.exr"},
    {"type": "probe", "v": 1, "id": "r", "plate": 7},
    {"type": "validate", "v": 1, "id": "r", "job": []},
    {"type": "hello", "v": 1, "id": None, "protocol": 1, "samatte": "x", "python": "3", "capabilities": {},
     "requests": "all"},
])
def test_new_fields_are_checked(msg):
    with pytest.raises(ProtocolError):
        protocol.validate(msg)


def test_lenient_decoding_for_hosts_reading_a_newer_worker():
    future = '{"type": "thumbnail", "v": 2, "id": "j", "png": "..."}'
    with pytest.raises(ProtocolError):
        protocol.decode(future)
    assert protocol.decode(future, lenient=True)["type"] == "thumbnail"
    newer = '{"type": "progress", "v": 2, "id": "j", "stage": "matte", "done": 1, "total": 2, "eta_s": 3}'
    assert protocol.decode(newer, lenient=True)["eta_s"] == 3   # unknown fields kept, ignored
    with pytest.raises(ProtocolError):   # known types keep their checks
        protocol.decode('{"type": "progress", "v": 2, "id": "j", "stage": 1, "done": 1, "total": 2}',
                        lenient=True)


def test_check_hello_version_ranges():
    h = protocol.hello("0.2", "3.11", {})
    assert h["protocol"] == protocol.PROTOCOL_VERSION and h["protocol_min"] == protocol.PROTOCOL_MIN
    assert set(h["requests"]) >= {"job", "probe", "validate", "status", "release"}
    assert protocol.check_hello(h) is h
    assert protocol.check_hello(dict(h, protocol=3, protocol_min=1))    # newer, still speaks 1
    old = {k: v for k, v in h.items() if k not in ("protocol_min", "requests")}
    assert protocol.check_hello(old)                                      # a plain v1 worker
    with pytest.raises(WorkerError) as ei:
        protocol.check_hello(dict(h, protocol=3, protocol_min=2))
    assert "protocol mismatch" in ei.value.message
    with pytest.raises(WorkerError):
        protocol.check_hello(dict(h, protocol=0))


def test_frame_and_fraction_messages():
    m = protocol.frame("j", FrameEvent(1001, "skipped", 0.91234, "/o/m.1001.exr", "matte"))
    assert protocol.decode(protocol.encode(m)) == {"type": "frame", "v": 1, "id": "j", "frame": 1001,
                                                   "status": "skipped", "score": 0.9123,
                                                   "path": "/o/m.1001.exr", "stage": "matte"}
    assert protocol.frame("j", {"frame": 3, "status": "written", "score": float("nan")})["score"] is None
    p = protocol.progress("j", Progress("matte", 1001, 1, 4), fraction=1.7)
    assert p["fraction"] == 1.0
    assert "fraction" not in protocol.progress("j", Progress("matte", 1001, 1, 4))


def test_busy_is_its_own_code():
    e = protocol.to_exception(protocol.error_from_exception("j2", BusyError("busy")))
    assert isinstance(e, BusyError) and e.code == "BUSY"


def test_request_reply_roundtrip():
    for rtype in ("probe", "validate", "status"):
        r = protocol.reply(rtype, "r1", {"x": (1, 2)})
        assert protocol.decode(protocol.encode(r))["result"] == {"x": [1, 2]}
    assert protocol.decode(protocol.encode(protocol.released(None, ["tracker:sam2"])))["dropped"] == ["tracker:sam2"]
    assert json.loads(protocol.encode(protocol.job("j", {}, stage="track", frames=(1001, 1002))))["frames"] == [
        1001, 1002]
