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

Additions, still version 1 (a version-1 peer that does not know them keeps working):

* ``job`` may carry ``stage`` ("all", "track", "matte"), ``frames`` (a range string or a list of frame
  numbers: a subset of the job's frames), ``preroll`` (an integer >= 0) and ``objects`` (with stage
  "track": a list of tracked object names, or a comma-separated string, to track only those).
* requests ``probe`` (``plate``, optional ``frames``, ``layer``), ``validate`` (``job``), ``status``
  (``job``) and ``release`` (drop the warm model, free GPU memory); they need an ``id`` (release may
  use null) and are answered with ``probe_result`` / ``validate_result`` / ``status_result``
  (``result``: a dict) or ``released`` (``dropped``: what was released) with the same id, or an
  ``error`` with that id.
* the worker sends ``frame`` messages (``frame``, ``status`` "written" or "skipped", ``score``,
  ``path``, ``stage``: "matte" for an output EXR, "track" for a stored track) as each frame of a job
  is finished, and ``progress`` carries ``fraction`` (0..1, the
  whole job, never decreasing).
* ``hello`` carries ``protocol_min`` (the oldest version the worker still speaks) and ``requests``
  (the message types it accepts).
* a second ``job`` while one runs, or ``release`` while one runs, is answered with an ``error`` of
  code ``BUSY`` carrying the id of the refused message (never the running job's).
* an ``error`` about a message that could not be used carries that message's ``id`` when it could be
  read, else null.

Compatibility: a host checks ``hello`` with :func:`check_hello`; the two sides can talk when their
version ranges ``[protocol_min, protocol]`` overlap. A host decodes with ``decode(line, lenient=True)``:
unknown fields are ignored (always), unknown message types are returned for the host to skip.
"""
import json
import traceback

from .errors import ProtocolError, SamatteError, error_from_code, known_failure

__all__ = [
    "PROTOCOL_VERSION", "PROTOCOL_MIN", "HOST_TYPES", "WORKER_TYPES", "MESSAGE_TYPES", "REQUEST_TYPES",
    "REPLY_TYPES", "STAGES", "encode", "decode", "validate", "message", "hello", "progress", "log",
    "result", "error", "error_from_exception", "pong", "bye", "job", "cancel", "ping", "shutdown",
    "frame", "probe", "validate_request", "status", "release", "reply", "released", "to_exception",
    "progress_from_message", "check_hello", "message_id",
]

PROTOCOL_VERSION = 1
#: The oldest protocol version this side still speaks.
PROTOCOL_MIN = 1

#: Requests a host may send besides jobs, and the reply type of each.
REPLY_TYPES = {"probe": "probe_result", "validate": "validate_result", "status": "status_result",
               "release": "released"}
REQUEST_TYPES = tuple(REPLY_TYPES)
#: Messages a host sends to the worker.
HOST_TYPES = ("job", "cancel", "ping", "shutdown") + REQUEST_TYPES
#: Messages the worker sends to a host.
WORKER_TYPES = ("hello", "progress", "log", "result", "error", "pong", "bye", "frame") + tuple(
    REPLY_TYPES.values())
MESSAGE_TYPES = HOST_TYPES + WORKER_TYPES
#: ``job.stage`` values
STAGES = ("all", "track", "matte")
FRAME_STATUSES = ("written", "skipped")

LOG_LEVELS = ("debug", "info", "warning", "error")

# type -> {field: (allowed types, required)}; ``None`` in the types allows JSON null.
_STR = (str,)
_INT = (int,)
_NONE = type(None)
_NUM = (int, float)
_FIELDS: dict = {
    "hello": {"protocol": (_INT, True), "samatte": (_STR, True), "python": (_STR, True),
              "capabilities": ((dict,), True), "pid": (_INT, False), "protocol_min": (_INT, False),
              "requests": ((list,), False)},
    "progress": {"stage": (_STR, True), "frame": ((int, _NONE), False), "done": (_INT, True),
                 "total": (_INT, True), "message": (_STR, False), "fraction": ((int, float, _NONE), False)},
    "log": {"level": (_STR, True), "message": (_STR, True)},
    "result": {"result": ((dict,), True)},
    "error": {"code": (_STR, True), "message": (_STR, True), "details": ((dict,), False)},
    "pong": {},
    "bye": {},
    "frame": {"frame": (_INT, True), "status": (_STR, True), "score": ((int, float, _NONE), False),
              "path": ((str, _NONE), False), "stage": ((str, _NONE), False)},
    "job": {"job": ((dict,), True), "stage": ((str, _NONE), False), "frames": ((str, list, _NONE), False),
            "preroll": ((int, _NONE), False), "objects": ((str, list, _NONE), False)},
    "cancel": {},
    "ping": {},
    "shutdown": {},
    "probe": {"plate": (_STR, True), "frames": ((str, list, _NONE), False), "layer": ((str, _NONE), False)},
    "validate": {"job": ((dict,), True)},
    "status": {"job": ((dict,), True)},
    "release": {},
    "probe_result": {"result": ((dict,), True)},
    "validate_result": {"result": ((dict,), True)},
    "status_result": {"result": ((dict,), True)},
    "released": {"dropped": ((list,), False)},
}
# Messages that must name their job (or request).
_NEEDS_ID = ("progress", "result", "job", "frame", "probe", "validate", "status", "probe_result",
             "validate_result", "status_result")

#: The largest line either side accepts (a JobSpec with many prompts is still far below this).
MAX_LINE = 16 * 1024 * 1024


def message_id(msg):
    """The ``id`` of a decoded message when it is readable (a string), else None: errors about a
    message that cannot be used carry it."""
    if isinstance(msg, dict):
        mid = msg.get("id")
        if isinstance(mid, str):
            return mid
    return None


def _fail(text, msg, **details):
    err = ProtocolError(text, **details)
    err.msg_id = message_id(msg)
    return err


def _check_version(msg, mtype, lenient):
    v = msg.get("v")
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail("protocol message %r has no integer 'v' version" % mtype, msg, field="v")
    if v < PROTOCOL_MIN or (v > PROTOCOL_VERSION and not lenient):
        raise _fail("protocol version %r is not supported (this side speaks %d..%d)"
                    % (v, PROTOCOL_MIN, PROTOCOL_VERSION), msg, field="v", value=v)


def _check_field(msg, mtype, key, types, required):
    if key not in msg:
        if required:
            raise _fail("protocol message %r misses field %r" % (mtype, key), msg, field=key)
        return
    val = msg[key]
    if val is None and _NONE in types:
        return
    if isinstance(val, bool) or not isinstance(val, types):
        raise _fail("field %r of protocol message %r has the wrong type (%s)"
                    % (key, mtype, type(val).__name__), msg, field=key)
    if isinstance(val, float) and (val != val or val in (float("inf"), float("-inf"))):
        raise _fail("field %r of protocol message %r is not a finite number" % (key, mtype), msg, field=key)


def _check_values(msg, mtype):
    if mtype == "log" and msg["level"] not in LOG_LEVELS:
        raise _fail("log level %r is not one of %s" % (msg["level"], ", ".join(LOG_LEVELS)), msg, field="level")
    if mtype == "job":
        if msg.get("stage") is not None and msg["stage"] not in STAGES:
            raise _fail("job stage %r is not one of %s" % (msg["stage"][:40], ", ".join(STAGES)), msg,
                        field="stage")
        if msg.get("preroll") is not None and not 0 <= msg["preroll"] <= 100000:
            raise _fail("job preroll must be an integer from 0 to 100000", msg, field="preroll")
        if isinstance(msg.get("objects"), list) and any(not isinstance(n, str) for n in msg["objects"]):
            raise _fail("job objects must be a list of object names", msg, field="objects")
    if mtype in ("job", "probe") and isinstance(msg.get("frames"), list):
        if not msg["frames"] or any(isinstance(f, bool) or not isinstance(f, int) for f in msg["frames"]):
            raise _fail("%s frames must be a range string or a non-empty list of frame numbers" % mtype, msg,
                        field="frames")
    if mtype == "frame" and msg["status"] not in FRAME_STATUSES:
        raise _fail("frame status %r is not one of %s" % (msg["status"][:40], ", ".join(FRAME_STATUSES)), msg,
                    field="status")


def validate(msg, *, lenient=False):
    """Check a decoded message; return it unchanged or raise :class:`ProtocolError` (its ``msg_id``
    attribute: the message's id when readable).

    ``lenient`` (hosts reading a possibly newer worker): a newer ``v`` and unknown message types are
    accepted (unknown types are returned unchecked, for the caller to skip). Unknown fields are
    always ignored."""
    if not isinstance(msg, dict):
        raise ProtocolError("a protocol message must be a JSON object, not %s" % type(msg).__name__)
    mtype = msg.get("type")
    if not isinstance(mtype, str):
        raise _fail("protocol message has no 'type'", msg, field="type")
    if mtype not in _FIELDS:
        if lenient:
            return msg
        raise _fail("unknown protocol message type %r" % mtype[:100], msg, field="type", value=mtype[:100])
    _check_version(msg, mtype, lenient)
    if "id" not in msg:
        raise _fail("protocol message %r has no 'id'" % mtype, msg, field="id")
    mid = msg["id"]
    if mid is not None and not isinstance(mid, str):
        raise _fail("'id' must be a string or null", msg, field="id")
    if mtype in _NEEDS_ID and not mid:
        raise _fail("protocol message %r needs a job 'id'" % mtype, msg, field="id")
    for key, (types, required) in _FIELDS[mtype].items():
        _check_field(msg, mtype, key, types, required)
    _check_values(msg, mtype)
    return msg


def encode(msg):
    """Validate ``msg`` and return it as one line of JSON text ending in a newline."""
    validate(msg)
    try:
        text = json.dumps(msg, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise ProtocolError("protocol message %r is nested too deeply to encode" % msg.get("type")) from None
    except (TypeError, ValueError) as e:
        raise ProtocolError("protocol message %r cannot be encoded as JSON: %s" % (msg.get("type"), e))
    return text + "\n"


def decode(line, *, lenient=False):
    """Parse and validate one line (str or bytes); raises :class:`ProtocolError` for anything that is
    not a valid message (bad UTF-8, bad JSON, JSON nested too deeply to parse, a wrong field), never
    another exception. ``lenient``: see :func:`validate`."""
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
    except RecursionError:
        raise ProtocolError("protocol line is nested too deeply", line=text[:200]) from None
    except ValueError as e:
        raise ProtocolError("protocol line is not valid JSON: %s" % e, line=text[:200])
    return validate(msg, lenient=lenient)


# --- constructors -----------------------------------------------------------------------------------

def message(mtype, job_id=None, **fields):
    """A message dict of type ``mtype`` (not validated until encoded)."""
    msg = {"type": mtype, "v": PROTOCOL_VERSION, "id": job_id}
    msg.update(fields)
    return msg


def hello(samatte_version, python_version, capabilities, *, pid=None, requests=None):
    msg = message("hello", None, protocol=PROTOCOL_VERSION, protocol_min=PROTOCOL_MIN,
                  samatte=str(samatte_version), python=str(python_version), capabilities=dict(capabilities),
                  requests=list(HOST_TYPES if requests is None else requests))
    if pid is not None:
        msg["pid"] = int(pid)
    return msg


def check_hello(msg):
    """Raise :class:`samatte.errors.WorkerError` ("protocol mismatch") when a worker's ``hello`` says
    it cannot talk to this side: the version ranges ``[protocol_min, protocol]`` do not overlap."""
    from .errors import WorkerError
    theirs = msg.get("protocol")
    theirs_min = msg.get("protocol_min", theirs)
    if isinstance(theirs, bool) or not isinstance(theirs, int):
        raise WorkerError("protocol mismatch: the worker's hello has no protocol version", hello=msg)
    if isinstance(theirs_min, bool) or not isinstance(theirs_min, int):
        theirs_min = theirs
    if theirs < PROTOCOL_MIN or theirs_min > PROTOCOL_VERSION:
        raise WorkerError("protocol mismatch: the worker (samatte %s) speaks protocol %d..%d, this host side "
                          "speaks %d..%d; install the same samatte version on both sides"
                          % (msg.get("samatte"), theirs_min, theirs, PROTOCOL_MIN, PROTOCOL_VERSION),
                          worker_protocol=[theirs_min, theirs], host_protocol=[PROTOCOL_MIN, PROTOCOL_VERSION])
    return msg


def progress(job_id, prog, *, fraction=None):
    """A progress message from a :class:`samatte.progress.Progress` (or a dict with its fields);
    ``fraction``: the whole job's progress in [0, 1]."""
    d = prog.to_dict() if hasattr(prog, "to_dict") else dict(prog)
    frame = d.get("frame")
    msg = message("progress", job_id, stage=str(d.get("stage", "")),
                  frame=None if frame is None else int(frame),
                  done=int(d.get("done", 0)), total=int(d.get("total", 0)),
                  message=str(d.get("message") or ""))
    if fraction is not None:
        msg["fraction"] = round(min(1.0, max(0.0, float(fraction))), 4)
    return msg


def frame(job_id, event):
    """A ``frame`` message from a :class:`samatte.progress.FrameEvent` (or any object or dict with
    ``frame``, ``status``, ``score``, ``path``)."""
    get = event.get if isinstance(event, dict) else (lambda k, d=None: getattr(event, k, d))
    score = get("score")
    path = get("path")
    if score is not None:
        score = float(score)
        if score != score or score in (float("inf"), float("-inf")):
            score = None
    msg = message("frame", job_id, frame=int(get("frame", 0)), status=str(get("status")),
                  score=None if score is None else round(score, 4),
                  path=None if path is None else str(path))
    if get("stage") is not None:
        msg["stage"] = str(get("stage"))  # "matte" (an output EXR) or "track" (a stored track)
    return msg


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
    exc = known_failure(exc)   # an incomplete install: DEPENDENCY_MISSING; memory: OUT_OF_MEMORY; not bugs
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


def _frames_value(frames):
    """``frames`` as the message carries them: a range string, or a list whose whole numbers (numpy's
    too, as ``samatte.frames.parse_frames`` takes them) are ints; anything else stays as it is and is
    refused when encoded."""
    if isinstance(frames, str):
        return frames
    from .frames import _whole
    out = []
    for f in frames:
        n = _whole(f)
        out.append(f if n is None else n)
    return out


def job(job_id, jobspec, *, stage=None, frames=None, preroll=None, objects=None):
    msg = message("job", str(job_id), job=jobspec)
    if stage is not None:
        msg["stage"] = stage
    if frames is not None:
        msg["frames"] = _frames_value(frames)  # checked when encoded
    if preroll is not None:
        from .frames import whole_number
        msg["preroll"] = whole_number(preroll, "preroll")   # True, 2.5, "abc": JOBSPEC_INVALID, never cut
    if objects is not None:
        msg["objects"] = objects if isinstance(objects, str) else [str(n) for n in objects]
    return msg


def probe(req_id, plate, *, frames=None, layer=None):
    msg = message("probe", str(req_id), plate=plate)
    if frames is not None:
        msg["frames"] = _frames_value(frames)  # checked when encoded
    if layer is not None:
        msg["layer"] = layer
    return msg


def validate_request(req_id, jobspec):
    """A ``validate`` request (named so as not to shadow :func:`validate`)."""
    return message("validate", str(req_id), job=jobspec)


def status(req_id, jobspec):
    return message("status", str(req_id), job=jobspec)


def release(req_id=None):
    return message("release", req_id)


def reply(request_type, req_id, res):
    """The reply to a ``probe`` / ``validate`` / ``status`` request."""
    return message(REPLY_TYPES[request_type], req_id, result=_json_safe(res))


def released(req_id=None, dropped=()):
    return message("released", req_id, dropped=[str(d) for d in dropped])


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
    strings, non-finite floats -> None) so that a result dict always encodes; a structure nested too
    deeply becomes a short string saying so."""
    try:
        return _json_safe_inner(obj)
    except RecursionError:
        return "<nested too deeply>"


def _json_safe_inner(obj):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe_inner(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        seq = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [_json_safe_inner(v) for v in seq]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        try:
            return _json_safe_inner(obj.item())
        except (TypeError, ValueError):
            pass
    if hasattr(obj, "tolist") and callable(obj.tolist):  # small numpy array
        return _json_safe_inner(obj.tolist())
    if hasattr(obj, "__fspath__"):
        return str(obj.__fspath__())
    return str(obj)
