"""Property-based tests (hypothesis) of the worker protocol: random lines (wrong types, huge and
non-finite numbers, deep nesting, odd strings, bytes that are not UTF-8) decode to a valid message or
raise PROTOCOL_INVALID; a live worker fed such lines answers each with valid protocol whose error
codes are documented, and keeps serving."""
import json
import os
import subprocess
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from samatte import protocol  # noqa: E402
from samatte.errors import ERROR_CODES, ProtocolError  # noqa: E402

TESTS = os.path.dirname(os.path.abspath(__file__))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=True)

ODD = ["", "nan", "\x00", "\udcff", "../x", "#" * 100, "cuda:abc", "job", "j1", "\u202e", "\U0001F600"]
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(10 ** 30), 10 ** 30),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(ODD))
jvals = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)
FIELDS = sorted({k for t in protocol._FIELDS.values() for k in t} - {"type", "v", "id"})
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(list(protocol.MESSAGE_TYPES) + ["frobnicate", ""]) | leaves,
     "v": st.sampled_from([1, 1, 1, 0, 2, True, "1", None]), "id": st.sampled_from([None, "x1", "", 7, []])},
    optional={k: jvals for k in FIELDS})


def deep(n):
    return "[" * n + "]" * n


def to_line(msg):
    return json.dumps(msg, allow_nan=True)


lines = st.one_of(
    messages.map(to_line),
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    st.integers(500, 200000).map(deep),
    st.integers(500, 50000).map(lambda n: '{"type": "job", "v": 1, "id": "jd", "job": %s}' % ('{"a":' * n + "1" + "}" * n)),
    st.text(max_size=100).map(lambda t: t.replace("\n", " ")),
)


@settings(max_examples=500, **SETTINGS)
@given(lines)
def test_decode_gives_a_message_or_protocol_invalid(line):
    data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    try:
        msg = protocol.decode(data)
    except ProtocolError as e:
        assert e.code == "PROTOCOL_INVALID"
        mid = getattr(e, "msg_id", None)
        assert mid is None or isinstance(mid, str)
        return
    assert msg["type"] in protocol.MESSAGE_TYPES
    # what decodes, re-encodes (unless it carries NaN in free-form fields, which encode refuses cleanly)
    try:
        protocol.encode(msg)
    except ProtocolError as e:
        assert e.code == "PROTOCOL_INVALID"


@pytest.fixture(scope="module")
def worker():
    env = dict(os.environ)
    env["PYTHONPATH"] = TESTS + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, "-m", "samatte.worker", "--pipeline", "cli_fake_pipeline"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    hello = protocol.decode(proc.stdout.readline())
    assert hello["type"] == "hello"
    yield proc
    proc.stdin.close()
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    assert [protocol.decode(x)["type"] for x in rest.splitlines() if x.strip()][-1] == "bye"


_count = [0]


@settings(max_examples=250, **SETTINGS)
@given(lines)
def test_a_live_worker_answers_any_line_and_keeps_serving(worker, line):
    data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    try:
        hypothesis.assume(protocol.decode(data)["type"] != "shutdown")   # that one ends the worker
    except ProtocolError:
        pass
    _count[0] += 1
    token = "probe-%d" % _count[0]
    worker.stdin.write(data + b"\n")
    worker.stdin.write(protocol.encode(protocol.ping(token)).encode())
    worker.stdin.flush()
    while True:
        raw = worker.stdout.readline()
        assert raw, "the worker died"
        msg = protocol.decode(raw)          # every line it writes is valid protocol
        if msg["type"] == "error":
            assert msg["code"] in ERROR_CODES, msg
        if msg["type"] == "pong" and msg["id"] == token:
            break
    # a job the line may have started is cancelled, so the next example starts from an idle worker
    worker.stdin.write(protocol.encode(protocol.cancel()).encode())
    worker.stdin.flush()


_plates = st.one_of(st.sampled_from(ODD + ["/nonexistent/p.####.exr", "/", "####", "p.%d.exr", "/tmp"]),
                    st.text(max_size=30))


@settings(max_examples=150, **SETTINGS)
@given(_plates, st.one_of(st.none(), jvals), st.one_of(st.none(), jvals))
def test_probe_requests_of_anything_answer_or_give_a_documented_code(plate, frames, layer):
    """A probe message that passes the protocol reaches the real pipeline's probe: it answers or raises
    a samatte error (found by this test: frame lists holding non-numbers raised ValueError)."""
    from samatte.errors import SamatteError
    from samatte.worker import Worker
    msg = {"type": "probe", "v": 1, "id": "r", "plate": plate, "frames": frames, "layer": layer}
    try:
        protocol.decode(json.dumps(msg).encode("utf-8", "surrogatepass"))
    except ProtocolError:
        return
    try:
        res = Worker(None, None)._handle(msg)
    except SamatteError as e:
        assert e.code in ERROR_CODES
        return
    assert isinstance(res, dict)
