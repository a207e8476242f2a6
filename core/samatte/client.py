"""Host side of the worker protocol: start ``python -m samatte.worker`` and run jobs in it.

Standard library only, Python 3.9: Nuke and Blender adapters import this module inside the host.

Blocking use (a TD script, a Nuke thread)::

    from samatte.client import WorkerClient
    with WorkerClient("/opt/samatte/.venv/bin/python", timeout=600) as w:
        result = w.run(job, on_progress=lambda p: print(p.stage, p.done, p.total))

Non-blocking use (Blender: drain from ``bpy.app.timers``)::

    handle = w.start_job(job)
    ...                                   # every 0.2 s, on the UI thread:
    for ev in handle.poll():              # protocol messages (dicts), never blocks
        ...
    if handle.done:
        handle.result or handle.error

``cancel()`` may be called from any thread: the worker stops between frames and the job ends with
:class:`samatte.errors.CancelledError`. A worker that dies (crash, kill, OOM) gives a
:class:`samatte.errors.WorkerError` carrying the tail of its stderr; with ``timeout`` set, a job
that sends nothing for that many seconds has its worker killed and fails the same way.

Inside a host (Nuke, Blender) ``sys.executable`` is the host's own binary: give the samatte venv's
Python as ``python`` there (a :class:`samatte.errors.WorkerError` says so otherwise).

Requests besides jobs (answered while a job runs, except ``release``): ``probe(plate)`` (windows,
pixel aspect, channels, layers, frames on disk), ``validate(job)`` (``{"valid", "job", "error",
"resolved"}``), ``status(job)`` (per frame complete / stale / missing), ``release()`` (drop the warm
model, free GPU memory). A job's events include ``frame`` messages (frame, status written/skipped,
score, path) and ``progress`` with ``fraction`` (the whole job, 0..1).

Compatibility: the worker's ``hello`` is checked (:func:`samatte.protocol.check_hello`); fields and
message types this side does not know (a newer worker) are ignored.
"""
import collections
import io
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from typing import Any

from . import protocol
from .errors import BusyError, JobSpecError, ProtocolError, SamatteError, WorkerError, check_callbacks

_HOST_BINARIES = ("nuke", "blender", "maya", "houdini", "hython", "katana", "resolve", "natron")

__all__ = ["WorkerClient", "JobHandle"]

_EOF = object()


def _buffered(stream):
    """``stream`` read through a buffer. The worker's pipes are unbuffered (``bufsize=0``), and a line read
    from an unbuffered pipe is read a byte a system call: a 1 MB log line took 1.7 s, a 50 MB line on stderr
    38 s, during which the worker, its stderr pipe full, could not go on (its job stalled)."""
    if isinstance(stream, io.RawIOBase):
        return io.BufferedReader(stream, 1 << 16)
    return stream


def _lines(stream, limit=-1):
    """The lines of a pipe until it closes (or breaks); a line longer than ``limit`` bytes comes in pieces
    of ``limit`` bytes (only its last piece ends with a newline)."""
    stream = _buffered(stream)
    while True:
        try:
            line = stream.readline(limit)
        except (OSError, ValueError):
            return
        if not line:
            return
        yield line


def _read_stdout(ref, stream):
    """The worker's stdout -> ``ref()._on_line``; ``ref`` is a weak reference to the client, held
    strongly only while a line is handled."""
    for line in _lines(stream):
        client = ref()
        if client is None:
            return
        client._on_line(line)
        del client
    client = ref()
    if client is not None:
        client._dispatch(_EOF)


#: the bytes of one stderr line the client keeps from its start, and from its end
_STDERR_HEAD = 2000
_STDERR_END = 500


def _read_stderr(tail, stream):
    """The worker's stderr lines -> ``tail``, each cut to its first and last bytes: a library that writes a
    huge line (an array printed whole, a progress bar without newlines) gave a WORKER_FAILED message of that
    size, which the hosts put in a message box and on the node (a 50 MB line: a 50 MB message)."""
    head: Any = None
    end, cut = b"", 0

    def flush():
        if not cut:   # (a line of up to _STDERR_HEAD + _STDERR_END bytes is kept whole: before, one of 2001-2499
            # bytes lost its end, where a crash's words are, with nothing said)
            tail.append((head + end).decode("utf-8", "replace").rstrip("\n"))
            return
        tail.append("%s ... [%d bytes of this line left out] ... %s" % (
            head.decode("utf-8", "replace").rstrip("\n"), cut, end.decode("utf-8", "replace").rstrip("\n")))
    for piece in _lines(stream, _STDERR_HEAD):
        if head is None:
            head = piece
        else:   # (a piece after the first of a long line; its newline is no byte of the line's end)
            both = end + (piece[:-1] if piece.endswith(b"\n") else piece)
            cut += len(both) - min(len(both), _STDERR_END)
            end = both[-_STDERR_END:]
        if piece.endswith(b"\n"):
            flush()
            head, end, cut = None, b"", 0
    if head is not None:   # a last line with no newline
        flush()


def _write_without_sigpipe(stream, data):
    """``stream.write(data)`` to the worker's stdin, which never kills the host with SIGPIPE.

    A plain Python program ignores SIGPIPE, but an embedding host may not (a Python initialised
    without its signal handlers leaves SIGPIPE at its default, which ends the process): a write to a
    worker that has died (a Cancel after the OOM killer took it) then killed Nuke or Blender outright,
    with no message and the scene unsaved. SIGPIPE is held off for this thread during the write, and
    the one the failed write raised is taken (BrokenPipeError as usual)."""
    block = getattr(signal, "pthread_sigmask", None)
    take = getattr(signal, "sigtimedwait", None)
    sigpipe = getattr(signal, "SIGPIPE", None)
    if block is None or take is None or sigpipe is None:   # Windows (no SIGPIPE), macOS (below)
        stream.write(data)
        stream.flush()
        return
    old = block(signal.SIG_BLOCK, {sigpipe})
    try:
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        if sigpipe not in old:
            take([sigpipe], 0)   # the write's own SIGPIPE, pending for this thread
        raise
    finally:
        block(signal.SIG_SETMASK, old)


def _no_sigpipe_on(stream):
    """macOS has no sigtimedwait: mark the pipe F_SETNOSIGPIPE (73) instead (best effort)."""
    if sys.platform != "darwin":
        return
    try:
        import fcntl
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETNOSIGPIPE", 73), 1)
    except (ImportError, OSError, ValueError):
        pass


def _signal_words(code):
    """What a negative exit status (a POSIX signal) means to an artist: "-9" alone said nothing."""
    if not isinstance(code, int) or code >= 0:
        return ""
    try:
        name = signal.Signals(-code).name
    except (ValueError, AttributeError):
        return ": killed by signal %d" % -code
    why = {"SIGKILL": "killed from outside: often the system's out-of-memory killer (Linux: dmesg says so), "
                      "or a kill -9",
           "SIGSEGV": "it crashed (a segmentation fault in a library)",
           "SIGABRT": "a library aborted it",
           "SIGBUS": "it crashed (a bus error: a file it had mapped changed or vanished?)",
           "SIGTERM": "stopped from outside (SIGTERM)"}.get(name)
    return ": %s, %s" % (name, why) if why else ": killed by %s" % name


_STDERR_LINES = 200
_ids = itertools.count(1)

#: seconds a job has to end once cancelled before the client ends its worker (:attr:`JobHandle.cancel_grace`): a
#: worker stuck in a library call (a hung GPU driver or network file system) never reaches its check between a
#: frame's phases, and the host said "cancelling" for good (Nuke: no timeout; its Release GPU answered BUSY)
CANCEL_GRACE_S = 60.0


class JobHandle:
    """One job running in a worker. Events are protocol message dicts (``progress``, ``log``,
    ``result``, ``error``); the last one is always ``result`` or ``error``."""

    def __init__(self, client, job_id):
        self._client = client
        self.id = job_id
        self.done = False
        self.result = None
        self.error = None
        self._events: queue.Queue = queue.Queue()
        self._last_activity = time.monotonic()
        self._cancelled_at = None
        #: seconds after :meth:`cancel` before the worker is ended, if the job has not ended by then (None: never)
        self.cancel_grace = CANCEL_GRACE_S

    # Called by the client's reader thread.
    def _push(self, msg):
        # the inactivity timeout counts from the worker's last message, not from when the host took
        # it: a slow callback or a rare poll() must not make a talking worker look silent
        self._last_activity = time.monotonic()
        self._events.put(msg)

    def _finish_event(self, msg):
        if msg["type"] == "result":
            self.result = msg["result"]
        elif msg["type"] == "error":
            self.error = protocol.to_exception(msg)
        self.done = True

    def _take(self, timeout):
        """One event (or None on timeout), enforcing the client's inactivity timeout."""
        if self.done:
            return None
        limit = self._client.timeout
        try:
            msg = self._events.get_nowait()  # what has arrived is delivered first, whatever the time
        except queue.Empty:
            wait = timeout
            if limit is not None:
                left = self._last_activity + limit - time.monotonic()
                if left <= 0:
                    return self._timed_out()
                wait = left if wait is None else min(wait, left)
            stop = self._stop_deadline()
            if stop is not None:
                if stop <= time.monotonic():
                    return self._not_stopping()
                wait = stop - time.monotonic() if wait is None else min(wait, stop - time.monotonic())
            try:
                if wait is not None and wait <= 0:
                    raise queue.Empty
                msg = self._events.get(timeout=wait)
            except queue.Empty:
                if limit is not None and time.monotonic() - self._last_activity >= limit:
                    return self._timed_out()
                if stop is not None and stop <= time.monotonic():
                    return self._not_stopping()
                return None
        if msg is _EOF:
            return self._crashed()
        if msg["type"] in ("result", "error"):
            self._finish_event(msg)
            self._client._job_finished(self)
        return msg

    def _fail(self, err):
        self.error = err
        self.done = True
        self._client._job_finished(self)
        return protocol.error_from_exception(self.id, err)

    def _timed_out(self):
        limit = self._client.timeout
        self._client.kill()
        return self._fail(WorkerError("the worker sent nothing for %.0f s and was stopped" % limit,
                                      timeout_s=limit, stderr_tail=self._client.stderr_tail()))

    def _crashed(self):
        return self._fail(self._client._exit_error("unexpectedly"))

    def _stop_deadline(self):
        """When the worker is ended if this cancelled job has not ended by then (None: not cancelled, or never)."""
        if self._cancelled_at is None or self.cancel_grace is None:
            return None
        return self._cancelled_at + float(self.cancel_grace)

    def _not_stopping(self):
        """The job was cancelled :attr:`cancel_grace` seconds ago and goes on: its worker is ended (its frames are
        whole, written atomically) and the job ends CANCELLED saying so."""
        from .errors import CancelledError
        self._client.kill()
        return self._fail(CancelledError(
            "job cancelled; the worker did not stop within %.0f s of the cancel (stuck in a library call?) and was "
            "ended: the frames it finished are kept, and the next job starts a new worker" % float(self.cancel_grace),
            grace_s=float(self.cancel_grace), worker_ended=True, stderr_tail=self._client.stderr_tail()))

    def poll(self):
        """All events that have arrived, without blocking (a list, maybe empty)."""
        out = []
        while not self.done:
            msg = self._take(0)
            if msg is None:
                break
            out.append(msg)
        return out

    def events(self, *, tick=0.25):
        """Iterate over events until the job ends (blocking)."""
        while not self.done:
            msg = self._take(tick)
            if msg is not None:
                yield msg

    def wait(self, *, on_progress=None, on_event=None):
        """Block until the job ends; return the result dict or raise the job's error. A callback that
        raises cancels the job and waits for its end (the worker is free again), then re-raises. A callback that
        is not callable is JOBSPEC_INVALID naming it, before any event is taken (the job is cancelled the same
        way: it was a bare TypeError at the first event)."""
        try:
            check_callbacks(on_progress=on_progress, on_event=on_event)
            for msg in self.events():
                if on_event is not None:
                    on_event(msg)
                if on_progress is not None and msg["type"] == "progress":
                    on_progress(protocol.progress_from_message(msg))
        except BaseException:
            self._abandon()
            raise
        if self.error is not None:
            raise self.error
        return self.result

    def _abandon(self):
        """The caller stops reading this job (a callback raised, an iterator was closed): cancel it and
        take its events to its end, so the client is not left BUSY with a job nobody reads."""
        if self.done:
            return
        self.cancel()
        for _ in self.events():
            pass

    def cancel(self):
        """Ask the worker to stop this job between frames (thread-safe; a no-op once done). A job that has not
        ended :attr:`cancel_grace` seconds later has its worker ended (by the next :meth:`poll` or wait)."""
        if not self.done:
            if self._cancelled_at is None:
                self._cancelled_at = time.monotonic()
            self._client._send(protocol.cancel(self.id), quiet=True)


def _looks_like_host(executable):
    """True inside a host application: its binary's name (Nuke, Blender, Maya...), or Blender's ``bpy``
    loaded (Blender's ``sys.executable`` is its bundled Python, which has no samatte stack)."""
    name = os.path.basename(str(executable or "")).lower()
    return any(h in name for h in _HOST_BINARIES) or "bpy" in sys.modules


def _default_python():
    """This interpreter, unless it is a host application's (Nuke, Blender...): then the samatte
    Python must be given explicitly."""
    if _looks_like_host(sys.executable):
        raise WorkerError("inside a host application (%s) WorkerClient needs the samatte Python: "
                          "WorkerClient(python='/path/to/samatte/.venv/bin/python')" % sys.executable,
                          executable=str(sys.executable))
    return sys.executable


def _as_dict(job):
    """A JobSpec given as a JSON text (str or bytes) or a path to a .json file (str or ``os.PathLike``) -> dict;
    a dict as is. (A ``pathlib.Path`` was sent as it was: PROTOCOL_INVALID "field 'job' ... has the wrong type
    (PosixPath)", where ``samatte.api`` and ``samatte.pipeline`` take one.)"""
    if isinstance(job, os.PathLike):   # a file, whatever its name
        from .jobspec import load
        return load(os.fspath(job))
    from .jobspec import is_json_text, load, loads
    if isinstance(job, str):
        # text, unless it names a file: "{sh010}_job.json" in the shot folder was parsed as JSON ("not valid JSON")
        is_text = is_json_text(job)
    elif isinstance(job, bytes):
        is_text = job.lstrip().startswith(b"{")
    else:
        return _callers_paths(job)
    return _callers_paths(loads(job)) if is_text else load(job)


def _callers_paths(job):
    """A job given as a dict or JSON text with its relative paths made absolute from the caller's current
    folder, as ``samatte.api`` and the CLI read them (before: from the worker's, so ``WorkerClient(cwd=...)``,
    or a script that changed folder after starting its worker, ran ``plates/p.####.exr`` of the worker's
    folder: FRAME_MISSING, or mattes written elsewhere). A job that does not validate is sent as it is: the
    worker's answer says what is wrong with it."""
    if not isinstance(job, dict):
        return job
    from .jobspec import resolve_paths, validate
    try:
        return resolve_paths(validate(job), os.getcwd())
    except (SamatteError, OSError):   # invalid (the worker says why), or no current folder (it was removed)
        return job


def _seconds(value, field):
    """A time limit given from Python: None for None, 0 or less (no limit; ``timeout=0`` killed the worker as
    its job started); JobSpecError naming ``field`` for anything but a number (``"600"`` from a config file
    raised a bare TypeError at the job's first wait)."""
    if value is None:
        return None
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise JobSpecError("%s must be a number of seconds (or None: no limit), not %r" % (field, value),
                           field=field)
    return value if float(value) > 0 else None


class WorkerClient:
    """A running ``python -m samatte.worker`` process.

    ``python``: the interpreter to run it with (the installer's venv python; default: this one, except
    inside a host application, where it must be given).
    ``env``: extra environment variables. ``timeout``: seconds without any message from a running
    job before the worker is killed (None, 0 or less: no limit, as ``startup_timeout``'s 0; anything but a
    number is JOBSPEC_INVALID). ``startup_timeout``: seconds to wait for the worker's ``hello`` (the same:
    None, 0 or less no limit; ``-1`` failed at once, "did not start within -1 s", and ``"60"`` was a bare
    TypeError with the worker started). ``worker_args``: extra command line arguments for the worker.
    """

    def __init__(self, python=None, *, env=None, cwd=None, timeout=None, startup_timeout=60,
                 worker_args=None):
        self.timeout = _seconds(timeout, "timeout")   # before a worker is started
        startup_timeout = _seconds(startup_timeout, "startup_timeout")
        self.python = python or _default_python()
        self._pending = {}   # request id -> queue of its reply
        self.hello = None
        self._job = None
        #: kill() was called: the worker is done with, whether or not its process has gone yet (see alive())
        self._ended = False
        self._lock = threading.Lock()
        self._wlock = threading.Lock()
        self._stderr: collections.deque = collections.deque(maxlen=_STDERR_LINES)
        self._queue: queue.Queue = queue.Queue()
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONIOENCODING", "utf-8")
        full_env["PYTHONUNBUFFERED"] = "1"
        cmd = [self.python, "-m", "samatte.worker"] + list(worker_args or [])
        kwargs: dict = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # a Ctrl-C in the host's terminal is the host's to handle
        elif os.name == "nt":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            self._proc: Any = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=full_env, cwd=cwd, bufsize=0, **kwargs)
        except OSError as e:
            raise WorkerError("cannot start the samatte worker with %s: %s" % (self.python, e),
                              python=str(self.python))
        _no_sigpipe_on(self._proc.stdin)
        # the reader threads hold the client only weakly: a client the host drops without close() (a
        # TD's loop over shots) is collected, and its __del__ ends the worker (with a strong reference
        # the blocked readers kept it, and its worker, alive for the rest of the host's session)
        ref = weakref.ref(self)
        self._reader = threading.Thread(target=_read_stdout, args=(ref, self._proc.stdout),
                                        name="samatte-client-out", daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=_read_stderr, args=(self._stderr, self._proc.stderr),
                                            name="samatte-client-err", daemon=True)
        self._err_reader.start()
        self._wait_hello(startup_timeout)

    # -- plumbing ------------------------------------------------------------------------------------
    def _on_line(self, line):
        if not line.strip():
            return
        try:
            msg = protocol.decode(line, lenient=True)
        except ProtocolError as e:
            self._stderr.append("[samatte client] bad line from worker: %s" % e)
            return
        if msg["type"] not in protocol.WORKER_TYPES:
            return  # a newer worker's message type: ignored
        self._dispatch(msg)

    def _dispatch(self, msg):
        with self._lock:
            job = self._job
            pending = list(self._pending.values()) if msg is _EOF else None
            waiter = None if msg is _EOF else self._pending.get(msg.get("id"))
        if msg is _EOF:
            self._queue.put(_EOF)
            for q in pending or ():
                q.put(_EOF)
            if job is not None:
                job._push(_EOF)
            return
        mid = msg.get("id")
        if waiter is not None:
            waiter.put(msg)
        elif job is not None and mid is not None and mid == job.id and msg["type"] in (
                "progress", "log", "result", "error", "frame"):
            job._push(msg)
        else:
            if msg["type"] == "error":
                self._stderr.append("[samatte client] worker error: %s %s" % (msg["code"], msg["message"]))
            self._queue.put(msg)

    def _wait_hello(self, startup_timeout):
        deadline = time.monotonic() + (startup_timeout if startup_timeout else 1e9)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerError("the samatte worker did not start within %s s" % startup_timeout,
                                  stderr_tail=self.stderr_tail())
            try:
                msg = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if msg is _EOF:
                raise self._exit_error("during start-up", python=str(self.python))
            if msg["type"] == "hello":
                try:
                    protocol.check_hello(msg)
                except WorkerError:
                    self.kill()
                    raise
                self.hello = msg
                return msg

    def _exit_error(self, when, **details):
        """The WorkerError for a worker that exited ``when`` ("unexpectedly", "during start-up"),
        with its exit status and the tail of its stderr."""
        code = self._wait_exit(5.0)
        if code is not None:
            # the exit closes the pipe, but the reader thread may not have taken its last lines yet
            self._err_reader.join(timeout=2.0)
        tail = self.stderr_tail()
        return WorkerError("the samatte worker exited %s (exit status %s%s)%s"
                           % (when, code, _signal_words(code), (":\n" + tail) if tail else ""), returncode=code,
                           stderr_tail=tail, **details)

    def _send(self, msg, *, quiet=False):
        if self._ended and not quiet:   # (a request to a worker this client ended: no answer would come)
            raise WorkerError("the samatte worker was ended; start a new WorkerClient", stderr_tail=self.stderr_tail())
        data = protocol.encode(msg).encode("utf-8")
        try:
            with self._wlock:
                _write_without_sigpipe(self._proc.stdin, data)
        except (BrokenPipeError, OSError, ValueError) as e:
            if not quiet:
                raise WorkerError("cannot talk to the samatte worker: %s" % e, stderr_tail=self.stderr_tail())

    def _job_finished(self, job):
        with self._lock:
            if self._job is job:
                self._job = None

    def _wait_exit(self, seconds):
        try:
            return self._proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    # -- public --------------------------------------------------------------------------------------
    @property
    def pid(self):
        return self._proc.pid

    @property
    def capabilities(self):
        return dict((self.hello or {}).get("capabilities") or {})

    def alive(self):
        """True while the worker runs and may be given work: False once it exited, and once this client ended
        it (:meth:`kill`, the cancel grace, a timeout) even if its process has not gone yet: one stuck in a
        system call (a hung network file system or GPU driver, what the cancel grace is for) outlives SIGKILL
        until that call returns, and a host that took it for alive sent it its next job, which waited forever."""
        return not self._ended and self._proc.poll() is None

    def stderr_tail(self, lines=40):
        """The last ``lines`` lines the worker wrote on stderr."""
        tail = list(self._stderr)[-lines:]
        return "\n".join(tail)

    def start_job(self, job, *, job_id=None, stage=None, frames=None, preroll=None, objects=None):
        """Send a JobSpec (a dict, a JSON string, or a path to a .json file) and return a
        :class:`JobHandle` at once. One job at a time per worker (:class:`samatte.errors.BusyError`,
        code BUSY, while this client's previous job has not ended). ``stage`` ("all", "track",
        "matte"), ``frames`` (a subset of the job's frames: range string or list) and ``preroll``
        are sent only when given; ``objects`` (stage "track": the object names to track) likewise."""
        job = _as_dict(job)
        if not self.alive():
            code = self._proc.poll()
            raise WorkerError(("the samatte worker is not running (exit status %s)" % code) if code is not None else
                              "the samatte worker was ended (its process has not gone yet: stuck in a system "
                              "call?); start a new WorkerClient", stderr_tail=self.stderr_tail())
        job_id = job_id or "job%d-%d" % (os.getpid(), next(_ids))
        handle = JobHandle(self, job_id)
        with self._lock:
            if self._job is not None:
                # BUSY (a WorkerError), as the worker itself answers: WORKER_FAILED would say the worker
                # is dead, and a host that then drops it kills the running job
                raise BusyError("this worker is already running job %r; send this one when that job has "
                                "ended (or cancel it)" % self._job.id, running=self._job.id)
            self._job = handle
        try:
            self._send(protocol.job(job_id, job, stage=None if stage == "all" else stage, frames=frames,
                                    preroll=preroll, objects=objects))
        except SamatteError:
            self._job_finished(handle)
            raise
        return handle

    def run(self, job, on_progress=None, on_event=None, *, stage=None, frames=None, preroll=None, objects=None):
        """Run a job to the end and return its result dict; raises the job's samatte error. A callback that
        is not callable is JOBSPEC_INVALID naming it, before the job is sent."""
        check_callbacks(on_progress=on_progress, on_event=on_event)
        return self.start_job(job, stage=stage, frames=frames, preroll=preroll, objects=objects).wait(
            on_progress=on_progress, on_event=on_event)

    # -- requests ------------------------------------------------------------------------------------
    def _request(self, msg, timeout):
        """Send a request and wait for the message with its id: the reply, or its error raised. ``timeout``: None,
        the client's ``timeout`` (else 300 s); 0 or less no limit, as the client's (``timeout=0`` failed at once,
        "did not answer ... within 0 s", -1 was a bare ValueError and ``"5"`` a TypeError, each after the request
        was sent); anything but a number JOBSPEC_INVALID before it is sent."""
        limit = (self.timeout or 300.0) if timeout is None else _seconds(timeout, "timeout")
        q: queue.Queue = queue.Queue()
        rid = msg["id"]
        with self._lock:
            self._pending[rid] = q
        try:
            self._send(msg)
            try:
                reply = q.get(timeout=limit)
            except queue.Empty:
                raise WorkerError("the samatte worker did not answer a %r request within %.0f s"
                                  % (msg["type"], limit), stderr_tail=self.stderr_tail())
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        if reply is _EOF:
            raise self._exit_error("unexpectedly")
        if reply["type"] == "error":
            raise protocol.to_exception(reply)
        return reply

    def _request_id(self):
        return "req%d-%d" % (os.getpid(), next(_ids))

    def _needs(self, request):
        offered = (self.hello or {}).get("requests")
        if offered is not None and request not in offered:
            raise WorkerError("the samatte worker (samatte %s) does not answer %r requests; update it"
                              % ((self.hello or {}).get("samatte"), request), request=request)

    def probe(self, plate, *, frames=None, layer=None, timeout=None):
        """What the worker reads from a plate (display/data windows, pixel aspect, channels, layers,
        frames on disk, the coordinate rules) as a dict; the host needs no OpenImageIO."""
        self._needs("probe")
        if isinstance(plate, os.PathLike):   # a pathlib.Path: PROTOCOL_INVALID before
            plate = os.fspath(plate)
        if isinstance(plate, str) and plate and not plate.startswith("~"):
            from .jobspec import _WIN_ABS
            if not (os.sep == "/" and _WIN_ABS.match(plate)):
                try:
                    plate = os.path.abspath(plate)   # the caller's folder's, as a job's paths (the worker's before)
                except OSError:
                    pass
        return self._request(protocol.probe(self._request_id(), plate, frames=frames, layer=layer),
                             timeout)["result"]

    def validate(self, job, *, timeout=None):
        """``{"valid": bool, "job": normalised JobSpec or None, "error": {code, message, details} or
        None, "resolved": what "auto" becomes}`` (an invalid job is an answer, not an exception)."""
        self._needs("validate")
        return self._request(protocol.validate_request(self._request_id(), _as_dict(job)), timeout)["result"]

    def status(self, job, *, timeout=None):
        """Per frame of the job: complete / stale / missing (output and stored track)."""
        self._needs("status")
        return self._request(protocol.status(self._request_id(), _as_dict(job)), timeout)["result"]

    def release(self, *, timeout=None):
        """Drop the worker's warm model and free its GPU memory; returns what was dropped. Raises
        :class:`samatte.errors.BusyError` while a job runs."""
        self._needs("release")
        return self._request(protocol.release(self._request_id()), timeout).get("dropped", [])

    def iter_job(self, job):
        """Iterator form of :meth:`run`: yields each event dict; raises the job's error at the end."""
        handle = self.start_job(job)
        try:
            for msg in handle.events():
                yield msg
        finally:
            handle._abandon()  # the caller broke out of the loop (or it raised): end the job
        if handle.error is not None:
            raise handle.error
        return handle.result

    def cancel(self):
        """Cancel the running job, if any (thread-safe)."""
        with self._lock:
            job = self._job
        if job is not None:
            job.cancel()

    def ping(self, timeout=10.0):
        """True when an idle worker answers a ping within ``timeout`` seconds."""
        with self._lock:
            if self._job is not None:
                raise WorkerError("ping is only for an idle worker")
        self._send(protocol.ping())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if msg is _EOF:
                return False
            if msg["type"] == "pong":
                return True
        return False

    def kill(self):
        """Stop the worker process now (frees its GPU memory). The client is then no longer :meth:`alive`."""
        self._ended = True
        try:
            self._proc.kill()
        except OSError:
            pass
        self._wait_exit(5.0)

    def close(self, timeout=10.0):
        """Ask the worker to finish (a running job is cancelled) and wait for it; kill it if it hangs."""
        if self._proc.poll() is None:
            self._send(protocol.shutdown(), quiet=True)
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            if self._wait_exit(timeout) is None:
                self.kill()
        # the exit closes the pipes' far ends, but the readers may not have taken the last lines yet (a
        # cancelled job's CANCELLED error, then bye): closing our ends under them dropped those lines, and
        # the job ended as a dead worker's (seen under load)
        for t in (self._reader, self._err_reader):
            if t is not threading.current_thread():
                t.join(timeout=5.0)
        for s in (self._proc.stdin, self._proc.stdout, self._proc.stderr):  # stdin too: a dead worker's
            try:
                s.close()
            except (OSError, ValueError):  # a broken pipe's unflushed bytes
                pass
        return self._proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # a client dropped without close(): end its worker and reap it (no zombie left in the host)
        try:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(timeout=2.0)
        except Exception:  # noqa: BLE001
            pass
