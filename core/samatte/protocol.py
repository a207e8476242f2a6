"""The worker protocol: JSON lines between a host and ``python -m samatte.worker``.

Standard library only and importable on Python 3.9 (Nuke and Blender adapters import it).

One message per line, UTF-8 JSON objects, on the worker's stdin (host -> worker) and stdout
(worker -> host). The worker's stderr carries human logs only. Every message has:

* ``"type"``: one of :data:`HOST_TYPES` or :data:`WORKER_TYPES`;
* ``"v"``: the protocol version (:data:`PROTOCOL_VERSION`);
* ``"id"``: the job id the message belongs to (a string), or null for messages about the worker
  itself (hello, bye, ping/pong, shutdown, an error about an unreadable line).

Worker -> host::

    {"type": "hello", "v": 1, "id": null, "protocol": 1, "samatte": "0.1.0", "python": "3.11.7",
     "pid": 1234, "capabilities": {"trackers": [...], "mattes": [...], "devices": [...],
                                   "models": {"sam2.1_hiera_tiny": "/path/or/null"}}}
    {"type": "progress", "v": 1, "id": "job1", "stage": "track", "frame": 1012, "done": 12,
     "total": 24, "message": ""}
    {"type": "log", "v": 1, "id": "job1", "level": "info", "message": "..."}
    {"type": "result", "v": 1, "id": "job1", "result": {... the pipeline's result dict ...}}
    {"type": "error", "v": 1, "id": "job1", "code": "PLATE_INVALID", "message": "...", "details": {}}
    {"type": "pong", "v": 1, "id": null}
    {"type": "bye", "v": 1, "id": null}

Host -> worker::

    {"type": "job", "v": 1, "id": "job1", "job": {... a JobSpec ...}}
    {"type": "cancel", "v": 1, "id": "job1"}        (id null: cancel whatever runs)
    {"type": "ping", "v": 1, "id": null}
    {"type": "shutdown", "v": 1, "id": null}

A job ends with exactly one ``result`` or one ``error`` message with its id. A cancelled job ends
with an ``error`` whose code is ``CANCELLED``. Errors are rebuilt on the host as the matching
:mod:`samatte.errors` class with :func:`to_exception`.
"""
import json
import traceback

from .errors import ProtocolError, SamatteError, error_from_code

__all__ = [
    "PROTOCOL_VERSION", "HOST_TYPES", "WORKER_TYPES", "MESSAGE_TYPES", "encode", "decode", "validate",
    "message", "hello", "progress", "log", "result", "error", "error_from_exception", "pong", "bye",
    "job", "cancel", "ping", "shutdown", "to_exception", "progress_from_message",
]

PROTOCOL_VERSION = 1

#: Messages a host sends to the worker.
HOST_TYPES = ("job", "cancel", "ping", "shutdown")
#: Messages the worker sends to a host.
WORKER_TYPES = ("hello", "progress", "log", "result", "error", "pong", "bye")
MESSAGE_TYPES = HOST_TYPES + WORKER_TYPES

LOG_LEVELS = ("debug", "info", "warning", "error")

# type -> {field: (allowed types, required)}; ``None`` in the types allows JSON null.
_STR = (str,)
_INT = (int,)
_FIELDS = {
    "hello": {"protocol": (_INT, True), "samatte": (_STR, True), "python": (_STR, True),
              "capabilities": ((dict,), True), "pid": (_INT, False)},
    "progress": {"stage": (_STR, True), "frame": ((int, type(None)), False), "done": (_INT, True),
                 "total": (_INT, True), "message": (_STR, False)},
    "log": {"level": (_STR, True), "message": (_STR, True)},
    "result": {"result": ((dict,), True)},
    "error": {"code": (_STR, True), "message": (_STR, True), "details": ((dict,), False)},
    "pong": {},
    "bye": {},
    "job": {"job": ((dict,), True)},
    "cancel": {},
    "ping": {},
    "shutdown": {},
}
# Messages that must name their job.
_NEEDS_ID = ("progress", "result", "job")

#: The largest line either side accepts (a JobSpec with many prompts is still far below this).
MAX_LINE = 16 * 1024 * 1024


def validate(msg):
    """Check a decoded message; return it unchanged or raise :class:`ProtocolError`."""
    if not isinstance(msg, dict):
        raise ProtocolError("a protocol message must be a JSON object, not %s" % type(msg).__name__)
    mtype = msg.get("type")
    if not isinstance(mtype, str):
        raise ProtocolError("protocol message has no 'type'", field="type")
    if mtype not in _FIELDS:
        raise ProtocolError("unknown protocol message type %r" % mtype, field="type", value=mtype)
    v = msg.get("v")
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProtocolError("protocol message %r has no integer 'v' version" % mtype, field="v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError("protocol version %r is not supported (this side speaks %d)"
                            % (v, PROTOCOL_VERSION), field="v", value=v)
    if "id" not in msg:
        raise ProtocolError("protocol message %r has no 'id'" % mtype, field="id")
    mid = msg["id"]
    if mid is not None and not isinstance(mid, str):
        raise ProtocolError("'id' must be a string or null", field="id")
    if mtype in _NEEDS_ID and not mid:
        raise ProtocolError("protocol message %r needs a job 'id'" % mtype, field="id")
    for key, (types, required) in _FIELDS[mtype].items():
        if key not in msg:
            if required:
                raise ProtocolError("protocol message %r misses field %r" % (mtype, key), field=key)
            continue
        val = msg[key]
        if val is None and type(None) in types:
            continue
        if isinstance(val, bool) or not isinstance(val, types):
            raise ProtocolError("field %r of protocol message %r has the wrong type (%s)"
                                % (key, mtype, type(val).__name__), field=key)
    if mtype == "log" and msg["level"] not in LOG_LEVELS:
        raise ProtocolError("log level %r is not one of %s" % (msg["level"], ", ".join(LOG_LEVELS)),
                            field="level")
    return msg


def encode(msg):
    """Validate ``msg`` and return it as one line of JSON text ending in a newline."""
    validate(msg)
    try:
        text = json.dumps(msg, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ProtocolError("protocol message %r cannot be encoded as JSON: %s" % (msg.get("type"), e))
    return text + "\n"


def decode(line):
    """Parse and validate one line (str or bytes); raises :class:`ProtocolError`."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            raise ProtocolError("protocol line is too long (%d bytes)" % len(line))
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError("protocol line is not UTF-8: %s" % e)
    if not isinstance(line, str):
        raise ProtocolError("protocol line must be text, not %s" % type(line).__name__)
    if len(line) > MAX_LINE:
        raise ProtocolError("protocol line is too long (%d characters)" % len(line))
    text = line.strip()
    if not text:
        raise ProtocolError("empty protocol line")
    try:
        msg = json.loads(text)
    except ValueError as e:
        raise ProtocolError("protocol line is not valid JSON: %s" % e, line=text[:200])
    return validate(msg)


# --- constructors -----------------------------------------------------------------------------------

def message(mtype, job_id=None, **fields):
    """A message dict of type ``mtype`` (not validated until encoded)."""
    msg = {"type": mtype, "v": PROTOCOL_VERSION, "id": job_id}
    msg.update(fields)
    return msg


def hello(samatte_version, python_version, capabilities, *, pid=None):
    msg = message("hello", None, protocol=PROTOCOL_VERSION, samatte=str(samatte_version),
                  python=str(python_version), capabilities=dict(capabilities))
    if pid is not None:
        msg["pid"] = int(pid)
    return msg


def progress(job_id, prog):
    """A progress message from a :class:`samatte.progress.Progress` (or a dict with its fields)."""
    d = prog.to_dict() if hasattr(prog, "to_dict") else dict(prog)
    frame = d.get("frame")
    return message("progress", job_id, stage=str(d.get("stage", "")),
                   frame=None if frame is None else int(frame),
                   done=int(d.get("done", 0)), total=int(d.get("total", 0)),
                   message=str(d.get("message") or ""))


def log(job_id, level, text):
    level = str(level).lower()
    if level not in LOG_LEVELS:
        level = "warning" if level == "warn" else ("error" if level == "critical" else "info")
    return message("log", job_id, level=level, message=str(text))


def result(job_id, res):
    return message("result", job_id, result=_json_safe(res))


def error(job_id, code, text, details=None):
    return message("error", job_id, code=str(code), message=str(text), details=_json_safe(details or {}))


def error_from_exception(job_id, exc):
    """An error message for any exception: samatte errors keep their code and details; anything
    else becomes ``SAMATTE_ERROR`` with the exception type and a traceback tail in ``details``."""
    if isinstance(exc, SamatteError):
        d = exc.to_dict()
        return error(job_id, d["code"], d["message"], d["details"])
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return error(job_id, SamatteError.code, "%s: %s" % (type(exc).__name__, exc),
                 {"exception": type(exc).__name__, "traceback": tb[-4000:]})


def pong(job_id=None):
    return message("pong", job_id)


def bye():
    return message("bye", None)


def job(job_id, jobspec):
    return message("job", str(job_id), job=jobspec)


def cancel(job_id=None):
    return message("cancel", job_id)


def ping(job_id=None):
    return message("ping", job_id)


def shutdown():
    return message("shutdown", None)


# --- host side helpers ------------------------------------------------------------------------------

def to_exception(msg):
    """The samatte error (right subclass, same code, message and details) an ``error`` message carries."""
    validate(msg)
    if msg["type"] != "error":
        raise ProtocolError("not an error message: %r" % msg["type"])
    return error_from_code(msg["code"], msg["message"], msg.get("details") or {})


def progress_from_message(msg):
    """The :class:`samatte.progress.Progress` a ``progress`` message carries."""
    from .progress import Progress
    return Progress(msg["stage"], msg.get("frame"), msg.get("done", 0), msg.get("total", 0),
                    msg.get("message") or "")


def _json_safe(obj):
    """Deep-copy ``obj`` into plain JSON types (tuples -> lists, numpy scalars -> numbers, paths ->
    strings, non-finite floats -> None) so that a result dict always encodes."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seq = sorted(obj) if isinstance(obj, (set, frozenset)) else obj
        return [_json_safe(v) for v in seq]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        try:
            return _json_safe(obj.item())
        except (TypeError, ValueError):
            pass
    if hasattr(obj, "tolist") and callable(obj.tolist):  # small numpy array
        return _json_safe(obj.tolist())
    if hasattr(obj, "__fspath__"):
        return str(obj.__fspath__())
    return str(obj)
