"""The worker protocol: encoding, decoding, validation, and errors crossing the wire."""
import json
import subprocess
import sys

import pytest

from samatte import errors, protocol
from samatte.errors import ProtocolError
from samatte.progress import Progress


def roundtrip(msg):
    line = protocol.encode(msg)
    assert line.endswith("\n") and line.count("\n") == 1
    return protocol.decode(line)


def test_every_constructor_roundtrips():
    msgs = [
        protocol.hello("0.1.0", "3.11.7", {"trackers": ["flow"]}, pid=12),
        protocol.progress("j1", Progress("track", 1012, 3, 24, "fwd")),
        protocol.progress("j1", Progress("read")),
        protocol.log("j1", "WARNING", "careful"),
        protocol.result("j1", {"job": "x", "frames": [1001], "scores": {"1001": 0.5}}),
        protocol.error("j1", "PLATE_INVALID", "bad plate", {"path": "/x"}),
        protocol.pong(), protocol.bye(), protocol.job("j1", {"samatte_job": 1}),
        protocol.cancel("j1"), protocol.cancel(), protocol.ping(), protocol.shutdown(),
        protocol.job("j2", {"samatte_job": 1}, stage="matte", frames="1001-1010", preroll=4),
        protocol.frame("j1", {"frame": 1001, "status": "written", "score": 0.9, "path": "/o/m.1001.exr"}),
        protocol.probe("r1", "/p/plate.####.exr", frames=[1001, 1002], layer="rgba"),
        protocol.validate_request("r2", {"samatte_job": 1}), protocol.status("r3", {"samatte_job": 1}),
        protocol.release(), protocol.release("r4"),
        protocol.reply("probe", "r1", {"first": 1001}), protocol.reply("validate", "r2", {"ok": True}),
        protocol.reply("status", "r3", {"frames": {}}), protocol.released("r4", ["tracker"]),
    ]
    for m in msgs:
        back = roundtrip(m)
        assert back == json.loads(json.dumps(m))
        assert back["v"] == protocol.PROTOCOL_VERSION
        assert "id" in back and "type" in back
    assert {m["type"] for m in msgs} == set(protocol.MESSAGE_TYPES)


def test_progress_fields():
    m = roundtrip(protocol.progress("j", Progress("matte", 1001, 2, 10, "hi")))
    assert (m["stage"], m["frame"], m["done"], m["total"], m["message"]) == ("matte", 1001, 2, 10, "hi")
    p = protocol.progress_from_message(m)
    assert p == Progress("matte", 1001, 2, 10, "hi")


def test_log_levels_normalised():
    assert protocol.log(None, "WARN", "x")["level"] == "warning"
    assert protocol.log(None, "CRITICAL", "x")["level"] == "error"
    with pytest.raises(ProtocolError):
        protocol.validate({"type": "log", "v": 1, "id": None, "level": "loud", "message": "x"})


def test_result_is_made_json_safe():
    class P:
        def __fspath__(self):
            return "/a/b"
    m = protocol.result("j", {"t": (1, 2), "s": {3, 1}, "nan": float("nan"), "p": P(), 5: "int key"})
    back = roundtrip(m)["result"]
    assert back == {"t": [1, 2], "s": [1, 3], "nan": None, "p": "/a/b", "5": "int key"}


def test_numpy_values_in_results_encode():
    np = pytest.importorskip("numpy")
    m = protocol.result("j", {"score": np.float32(0.5), "n": np.int64(3), "a": np.arange(3)})
    assert roundtrip(m)["result"] == {"score": 0.5, "n": 3, "a": [0, 1, 2]}


@pytest.mark.parametrize("line, why", [
    ("", "empty"),
    ("   \n", "empty"),
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"v": 1, "id": null}', "no 'type'"),
    ('{"type": "frobnicate", "v": 1, "id": null}', "unknown protocol message type"),
    ('{"type": "ping", "id": null}', "'v'"),
    ('{"type": "ping", "v": true, "id": null}', "'v'"),
    ('{"type": "ping", "v": 99, "id": null}', "not supported"),
    ('{"type": "ping", "v": 1}', "no 'id'"),
    ('{"type": "ping", "v": 1, "id": 7}', "string or null"),
    ('{"type": "job", "v": 1, "id": null, "job": {}}', "needs a job 'id'"),
    ('{"type": "job", "v": 1, "id": "j"}', "misses field 'job'"),
    ('{"type": "job", "v": 1, "id": "j", "job": "text"}', "wrong type"),
    ('{"type": "progress", "v": 1, "id": "j", "stage": "x", "done": "1", "total": 2}', "wrong type"),
    ('{"type": "progress", "v": 1, "id": "j", "stage": "x", "done": true, "total": 2}', "wrong type"),
    ('{"type": "error", "v": 1, "id": "j", "message": "m"}', "misses field 'code'"),
    ('{"type": "hello", "v": 1, "id": null, "protocol": 1, "samatte": "x", "python": "3"}', "capabilities"),
])
def test_bad_lines_raise_protocol_error(line, why):
    with pytest.raises(ProtocolError) as ei:
        protocol.decode(line)
    assert why in str(ei.value)
    assert ei.value.code == "PROTOCOL_INVALID"
    assert isinstance(ei.value, errors.WorkerError)


def test_bad_bytes_and_huge_lines():
    with pytest.raises(ProtocolError):
        protocol.decode(b"\xff\xfe{}")
    with pytest.raises(ProtocolError):
        protocol.decode(b"x" * (protocol.MAX_LINE + 1))
    with pytest.raises(ProtocolError):
        protocol.decode(None)
    assert protocol.decode(b'{"type":"ping","v":1,"id":null}\n')["type"] == "ping"


def test_encode_refuses_invalid_and_unencodable():
    with pytest.raises(ProtocolError):
        protocol.encode({"type": "ping"})
    with pytest.raises(ProtocolError):
        protocol.encode(protocol.message("job", "j", job={"x": object()}))
    with pytest.raises(ProtocolError):  # NaN is not JSON
        protocol.encode(protocol.message("job", "j", job={"x": float("nan")}))


@pytest.mark.parametrize("code", sorted(errors.ERROR_CODES))
def test_every_error_class_roundtrips_through_the_wire(code):
    cls = errors.ERROR_CODES[code]
    err = cls("something went wrong", frame=1012, path="/shots/a.1012.exr")
    back = protocol.to_exception(roundtrip(protocol.error_from_exception("j", err)))
    assert type(back) is cls
    assert back.code == code
    assert back.message == "something went wrong"
    assert back.details == {"frame": 1012, "path": "/shots/a.1012.exr"}
    assert errors.EXIT_CODES[back.code] == err.exit_code


def test_unknown_code_and_plain_exceptions():
    back = protocol.to_exception(roundtrip(protocol.error("j", "FUTURE_CODE", "new", {"a": 1})))
    assert isinstance(back, errors.SamatteError) and back.code == "FUTURE_CODE" and back.details == {"a": 1}
    try:
        raise ValueError("boom")
    except ValueError as e:
        m = roundtrip(protocol.error_from_exception("j", e))
    assert m["code"] == "SAMATTE_ERROR" and "boom" in m["message"]
    assert m["details"]["exception"] == "ValueError" and "Traceback" in m["details"]["traceback"]
    with pytest.raises(ProtocolError):
        protocol.to_exception(protocol.pong())


def test_protocol_and_client_import_on_stdlib_only():
    """Adapters import these inside Nuke/Blender: no numpy, no third-party modules at import."""
    code = ("import sys; import samatte.protocol, samatte.client, samatte.jobspec, samatte.errors, "
            "samatte.frames, samatte.progress, samatte.registry, samatte.names, samatte.runner, "
            "samatte.exrheader, samatte.cachekey, samatte.inputfile; "
            "bad = [m for m in ('numpy', 'torch', 'cv2', 'OpenImageIO', 'PyOpenColorIO', 'scipy') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sources_are_python39_syntax():
    """No 3.10+ syntax (match, X | Y annotations) in the modules hosts import."""
    import ast
    import os
    import samatte
    base = os.path.dirname(samatte.__file__)
    for name in ("protocol.py", "client.py", "jobspec.py", "errors.py", "frames.py", "progress.py",
                 "__init__.py", "registry.py", "names.py", "runner.py", "exrheader.py", "atomic.py",
                 "cachekey.py", "inputfile.py"):
        with open(os.path.join(base, name)) as f:
            tree = ast.parse(f.read(), feature_version=(3, 9))
        for node in ast.walk(tree):
            assert type(node).__name__ != "Match", name
            ann = getattr(node, "annotation", None) or getattr(node, "returns", None)
            if ann is not None:
                assert not any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(ann)), name
