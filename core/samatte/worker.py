"""``python -m samatte.worker``: runs JobSpecs for a host over JSON lines (see :mod:`samatte.protocol`).

The worker reads one protocol message per line on stdin and writes protocol messages on stdout,
one per line, flushed. Nothing else is ever written to stdout: at start the real stdout file
descriptor is kept for the protocol and fd 1 (and ``sys.stdout``) is pointed at stderr, so stray
prints from libraries (SAM2, hydra, numba...) land in the log instead of corrupting the pipe.

One job runs at a time, in a thread (through :mod:`samatte.runner`, like ``samatte run --json``);
the main thread keeps reading stdin so that ``cancel`` (the job stops between frames and ends with
an error ``CANCELLED``), ``ping``, ``shutdown`` and the requests ``probe``, ``validate``, ``status``
and ``release`` are handled while it runs. A second ``job`` (or a ``release``) while one runs is
answered with an error ``BUSY`` carrying the refused message's id. Any line that is not a valid
message (bad JSON, JSON nested 100000 levels deep, a line over 16 MiB...) is answered with
``PROTOCOL_INVALID`` (with the message's id when it can be read) and the worker goes on.

On ``shutdown``, end of stdin or SIGTERM the running job is cancelled (its ``CANCELLED`` error is
sent), the worker says ``bye`` and exits with status 0.

Warm model: a job whose tracker resolves to SAM 2 loads the model once; the next job with the same
model, device and tracker options reuses it. ``release`` drops it, empties torch's GPU cache and gives
the freed host memory back to the OS (:func:`trim_heap`).

Options: ``--pipeline MODULE`` runs jobs with ``MODULE.run_iter(job, *, cancel=None, ...)`` instead
of :func:`samatte.pipeline.run_iter` (tests and custom studio pipelines use it).
"""
import argparse
import gc
import importlib
import importlib.util
import json
import logging
import os
import platform
import signal
import sys
import threading
import time

from . import __version__, protocol, registry
from .errors import REQUIRED_MODULES, BusyError, DependencyError, ProtocolError, SamatteError, WorkerError
from .progress import CancelToken
from .runner import protect_stdout, run_job

__all__ = ["Worker", "capabilities", "main"]

log = logging.getLogger("samatte.worker")

#: the longest the worker waits, on shutdown, for requests (probe, validate, status) still being answered
REQUEST_GRACE_S = 30.0


def _has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


#: samatte's requirements that the hello imports, not only finds: a job imports each of them on its first
#: frame anyway (0.3 s in all), and one that is found but cannot be imported (a wheel for another Python, a
#: missing system library such as libGL for cv2) failed that frame while the hello said the install was
#: complete. pymatting is found only: its import compiles numba code (1 s), and samatte runs without it.
_IMPORTED_AT_HELLO = ("numpy", "OpenImageIO", "PyOpenColorIO", "cv2", "scipy", "PIL")


def _usable_module(name):
    """Whether ``name`` is found and, for :data:`_IMPORTED_AT_HELLO`, imports."""
    if not _has_module(name):
        return False
    if name not in _IMPORTED_AT_HELLO:
        return True
    try:
        importlib.import_module(name)
        return True
    except Exception as e:  # noqa: BLE001 - any failure to import is an incomplete install
        log.warning("samatte's requirement %s is installed but does not import: %s: %s",
                    name, type(e).__name__, e)
        return False


def _cheap_devices():
    """Devices that are probably usable, without importing torch (which takes seconds)."""
    devices = ["cpu"]
    if not _has_module("torch"):
        return devices
    if (os.path.exists("/proc/driver/nvidia/version") or os.environ.get("CUDA_VISIBLE_DEVICES")
            not in (None, "", "-1")) and sys.platform != "darwin":
        devices.insert(0, "cuda")
    if sys.platform == "darwin" and platform.machine() == "arm64":
        devices.insert(0, "mps")
    return devices


def probe_devices():
    """Devices as torch sees them (imports torch: slow); ``["cpu"]`` when torch is not installed."""
    devices = []
    try:
        import torch
    except Exception:  # noqa: BLE001 - a broken torch install is "no torch" here
        return ["cpu"]
    try:
        if torch.cuda.is_available():
            devices.extend("cuda:%d" % i for i in range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001
        pass
    try:
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            devices.append("mps")
    except Exception:  # noqa: BLE001
        pass
    devices.append("cpu")
    return devices


def models_found():
    """Model name -> path of its weights (or None) for every model :mod:`samatte.models` knows;
    an empty dict when that module is missing."""
    try:
        from . import models
    except ImportError:
        return {}
    out = {}
    for name in getattr(models, "MODELS", {}):
        try:
            p = models.find_weights(name)
        except Exception:  # noqa: BLE001 - a broken models folder must not stop the worker
            p = None
        out[name] = str(p) if p else None
    return out


def _sam2matte_weights():
    """Path of the learned matte head's weights (``sam2matte.pt`` in a models folder), or None."""
    try:
        from . import models
        dirs = models.search_dirs() if hasattr(models, "search_dirs") else [models.models_dir()]
        for d in dirs:
            p = os.path.join(str(d), "sam2matte.pt")
            if os.path.isfile(p) and os.path.getsize(p) > 0:
                return p
    except Exception:  # noqa: BLE001 - a broken models folder must not stop the worker
        pass
    return None


def capabilities(*, probe=False):
    """What this worker can do: tracker and matte backends, devices, models with weights found.

    Cheap by default (no torch import); ``probe=True`` asks torch for the real device list.
    """
    torch_ok = _has_module("torch")
    sam2_ok = torch_ok and _has_module("sam2")
    found = models_found()
    has_weights = any(found.values())
    matte_weights = _sam2matte_weights() if sam2_ok else None
    trackers = [t for t in registry.TRACKER_BACKENDS if t != "sam2" or sam2_ok]
    mattes = [m for m in registry.MATTE_BACKENDS
              if m not in ("sam2matte", "matanyone") or (m == "sam2matte" and matte_weights)]
    return {
        # samatte's own requirements this Python cannot find or import (``errors.REQUIRED_MODULES``,
        # :func:`_usable_module`): a host's check says so before a Run fails with DEPENDENCY_MISSING
        "missing": [m for m in REQUIRED_MODULES if not _usable_module(m)],
        "trackers": trackers,
        "mattes": mattes,
        "devices": probe_devices() if probe else _cheap_devices(),
        "devices_probed": bool(probe),
        "models": found,
        "sam2": bool(sam2_ok and has_weights),
        "sam2matte_weights": matte_weights,
        "pymatting": _has_module("pymatting"),
        "qualities": list(registry.MATTE_QUALITIES),
        "compressions": list(registry.COMPRESSIONS),
        "tracker_options": {b: {k: o.to_dict() for k, o in opts.items()}
                            for b, opts in registry.TRACKER_OPTIONS.items()},
        "matte_options": {k: o.to_dict() for k, o in registry.MATTE_OPTIONS.items()},
    }


class _ProtocolLogHandler(logging.Handler):
    """Forwards samatte log records to the host as ``log`` messages tagged with the running job."""

    def __init__(self, worker, level=logging.WARNING):
        super().__init__(level)
        self._worker = worker

    def emit(self, record):
        try:
            self._worker.send_log(protocol.log(self._worker.job_id, record.levelname, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never kill the worker
            pass


class _Terminate(BaseException):
    """Raised in the main thread by SIGTERM: stop reading, cancel the job, say bye."""


def free_gpu_memory():
    """Empty torch's GPU caches when torch is already loaded (never imports it). Returns True when
    torch was there."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing memory must never fail the worker
        pass
    try:
        mps = getattr(torch, "mps", None)
        if mps is not None and hasattr(mps, "empty_cache") and torch.backends.mps.is_available():
            mps.empty_cache()
    except Exception:  # noqa: BLE001
        pass
    return True


def trim_heap():
    """Give the free pages of the C heap back to the operating system (glibc's ``malloc_trim``; Linux
    only, a no-op elsewhere). Freed tensors of a dropped model (its weights, its last job's buffers) stay
    in the process's resident memory otherwise: on Linux a released worker kept ~200 MB of the
    ~470 MB a SAM 2.1 tiny job had added (measured 540 MB, 334 MB once trimmed). Returns True when
    the heap was trimmed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        trim = ctypes.CDLL(None).malloc_trim   # glibc; musl has none
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    try:
        trim(0)
    except Exception:  # noqa: BLE001 - freeing memory must never fail the worker
        return False
    return True


def package_stamp(root=None):
    """(file, mtime_ns, size) of every ``.py`` file of the samatte package this worker runs: what an
    upgrade in place (``git pull``, a share synced over the install) changes under a running worker."""
    root = root or os.path.dirname(os.path.abspath(__file__))
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out.append((os.path.relpath(path, root), st.st_mtime_ns, st.st_size))
    return tuple(out)


def package_digest(root=None):
    """sha256 over the relative path and bytes of every ``.py`` file of the samatte package (the files of
    :func:`package_stamp`): what decides the code a worker imports. A changed :func:`package_stamp` with the
    same digest is a touch, not an update (a ``git checkout`` back to the same commit, an editor's save of an
    unchanged file, a share re-copied or a reinstall of the same version without its files' times)."""
    import hashlib
    root = root or os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for rel, _mtime, _size in package_stamp(root):
        try:
            with open(os.path.join(root, rel), "rb") as f:
                data = f.read()
        except OSError:
            continue
        name = rel.encode("utf-8", "surrogateescape")
        h.update(b"%d:%s%d:" % (len(name), name, len(data)))
        h.update(data)
    return h.hexdigest()


def installed_version(root=None):
    """The ``__version__`` written in the samatte package's ``__init__.py`` on disk now, or None."""
    import re
    root = root or os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(root, "__init__.py"), encoding="utf-8") as f:
            m = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", f.read(), re.M)
    except OSError:
        return None
    return m.group(1) if m else None


class Worker:
    """The worker loop over a binary input stream and a binary output stream."""

    def __init__(self, inp, out, *, pipeline="samatte.pipeline"):
        self._in = inp
        self._out = out
        self._pipeline_name = pipeline
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self._hello_lock = threading.Lock()   # its own: a record logged under another lock must not wait
        self._thread = None
        self._token = None
        self._warm = None   # (key, tracker) of the warm model, or None
        self.job_id = None   # set while a job runs (a job message always carries a non-empty id)
        self._broken = False
        self._terminate = False   # SIGTERM seen
        self._in_read = False     # the main thread is blocked reading stdin
        self._requests = set()    # threads answering probe/validate/status requests
        self._before_hello = None  # while serve() builds its hello: the log messages held until it is sent
        self._stamp = package_stamp()   # samatte's files as this process loaded them
        self._digest = package_digest()   # ... and their bytes (a touch alone is no update)
        self._updated = False           # they changed under it: answer, then stop (see _outdated)

    # -- output --------------------------------------------------------------------------------------
    def send(self, msg):
        try:
            line = protocol.encode(msg).encode("utf-8")
        except ProtocolError as e:  # never lose a reply: say why it could not be sent
            line = protocol.encode(protocol.error_from_exception(msg.get("id"), e)).encode("utf-8")
        with self._write_lock:
            if self._broken:
                return
            try:
                self._out.write(line)
                self._out.flush()
            except (BrokenPipeError, OSError, ValueError):
                # The host went away: keep going quietly, the stdin EOF will end us.
                self._broken = True

    def send_log(self, msg):
        """Send a ``log`` message; while the hello is being built (its import check logs a requirement
        that does not import) it is held and sent right after the hello, which is the first line."""
        with self._hello_lock:
            if self._before_hello is not None:
                self._before_hello.append(msg)
                return
        self.send(msg)

    def _error(self, msg_id, err):
        self.send(protocol.error_from_exception(msg_id, err))

    # -- jobs ----------------------------------------------------------------------------------------
    def _busy(self):
        return self.job_id is not None

    def _start_job(self, msg):
        with self._state_lock:
            if self._busy():
                self._error(msg["id"], BusyError("the worker is busy with another job; send this one when "
                                                 "that job has ended (or cancel it)", request=msg["type"]))
                return
            self.job_id = msg["id"]
            self._token = CancelToken()
            self._thread = threading.Thread(target=self._run_job, args=(msg, self._token),
                                            name="samatte-job", daemon=True)
            self._thread.start()

    def _pipeline(self):
        return importlib.import_module(self._pipeline_name)

    def _run_job(self, msg, token):
        job_id = msg["id"]
        final = None
        try:
            pipeline = self._pipeline()
            token.check()   # a cancel that came with the job: no model loaded for it (the pipeline checks it too)
            tracker = self._warm_tracker(pipeline, msg["job"])
            final = run_job(msg["job"], emit=self.send, job_id=job_id, stage=msg.get("stage"),
                            frames=msg.get("frames"), preroll=msg.get("preroll"), cancel=token,
                            objects=msg.get("objects"),
                            pipeline=pipeline, tracker=tracker)[0]
        except BaseException as e:  # noqa: BLE001 - every failure must reach the host as a message
            log.debug("job %s failed", job_id, exc_info=True)
            final = protocol.error_from_exception(job_id, e)
        finally:
            # Free the worker *before* the final message: a host may send its next job the moment
            # it reads the result.
            with self._state_lock:
                self.job_id = None
            if final is not None:
                self.send(final)

    # -- warm model ----------------------------------------------------------------------------------
    def _warm_tracker(self, pipeline, spec):
        """The SAM 2 tracker for this job, loaded once and kept for the next job with the same model,
        device and tracker options; None for every other tracker (cheap to build: the pipeline
        builds them) and for a job the pipeline will refuse anyway."""
        load_job = getattr(pipeline, "load_job", None)
        resolve = getattr(pipeline, "resolve_backends", None)
        if load_job is None or resolve is None:
            return None
        try:
            job = load_job(spec)
            if resolve(job).get("tracker") != "sam2":
                return None
        except SamatteError:
            return None  # the pipeline reports it with its code
        tr = job["tracker"]
        opts = registry.resolved_tracker_options("sam2", tr["options"])  # an auto job's flow options: not sam2's
        key = json.dumps(["sam2", tr["model"], job["device"], opts], sort_keys=True, default=str)
        with self._warm_lock:
            if self._warm is not None and self._warm[0] == key:
                return self._warm[1]
            self._drop_warm()
            from .track import get_tracker
            tracker = get_tracker("sam2", model=tr["model"], options=opts, device=job["device"])
            self._warm = (key, tracker)
            return tracker

    def _drop_warm(self):
        """Close the warm model (call with ``_warm_lock`` held); returns what was dropped."""
        if self._warm is None:
            return []
        key, tracker = self._warm
        self._warm = None
        try:
            tracker.close()
        except Exception:  # noqa: BLE001 - closing must not stop the release
            log.warning("closing the warm tracker failed", exc_info=True)
        return ["tracker:%s" % getattr(tracker, "name", type(tracker).__name__)]

    def release(self):
        """Drop the warm model and empty torch's GPU cache; returns what was dropped."""
        with self._warm_lock:
            dropped = self._drop_warm()
        if free_gpu_memory():
            dropped.append("torch_cache")
        trim_heap()   # after gc: the dropped model's host memory goes back to the OS, not only to malloc
        return dropped

    def _cancel(self, msg):
        with self._state_lock:
            if self._busy() and (msg["id"] is None or msg["id"] == self.job_id):
                self._token.cancel()

    def _stop_running(self):
        with self._state_lock:
            thread, token = self._thread, self._token
        if thread is not None and thread.is_alive():
            token.cancel()
            thread.join()

    # -- requests ------------------------------------------------------------------------------------
    def _request(self, msg):
        if msg["type"] == "release":
            with self._state_lock:
                busy = self._busy()
            if busy:
                self._error(msg["id"], BusyError("release refused: a job is running (cancel it first)",
                                                 request="release"))
                return
            self.send(protocol.released(msg["id"], self.release()))
            return
        t = threading.Thread(target=self._answer, args=(msg,), name="samatte-request", daemon=True)
        with self._state_lock:
            self._requests.add(t)
        t.start()

    def _answer(self, msg):
        try:
            try:  # an unencodable reply becomes an error with its id in send()
                reply = protocol.reply(msg["type"], msg["id"], self._handle(msg))
            except BaseException as e:  # noqa: BLE001 - every failure must reach the host as a message
                reply = protocol.error_from_exception(msg["id"], e)
            self.send(reply)
        finally:  # after the reply is out: serve() says bye only when no request is left
            with self._state_lock:
                self._requests.discard(threading.current_thread())

    def _finish_requests(self, timeout=REQUEST_GRACE_S):
        """Wait (at most ``timeout`` seconds in all) for the requests still being answered: every
        request gets its reply before ``bye`` (a ``probe`` followed at once by ``shutdown`` or the end
        of stdin was never answered); one stuck on a hung file system does not hold the exit."""
        deadline = time.monotonic() + timeout
        while True:
            with self._state_lock:
                pending = list(self._requests)
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                return
            for t in pending:
                t.join(max(0.0, deadline - time.monotonic()))

    def _handle(self, msg):
        mtype = msg["type"]
        if mtype == "validate":
            return self._validate(msg["job"])
        pipeline = self._pipeline()
        fn = getattr(pipeline, "probe" if mtype == "probe" else "frame_status", None)
        if fn is None:
            raise DependencyError("the worker's pipeline %s cannot answer %r requests" % (self._pipeline_name, mtype))
        if mtype == "probe":
            return fn(msg["plate"], frames=msg.get("frames"), layer=msg.get("layer"))
        return fn(msg["job"])

    def _validate(self, spec):
        """``{"valid": bool, "job": normalised JobSpec or None, "error": {code, message, details} or
        None, "resolved": backends "auto" becomes (when valid)}``: an invalid job is an answer, not an
        error of the request."""
        from .jobspec import validate
        try:
            job = validate(spec)
        except SamatteError as e:
            return {"valid": False, "job": None, "error": e.to_dict(), "resolved": None}
        resolved = None
        try:
            resolve = getattr(self._pipeline(), "resolve_backends", None)
            resolved = resolve(job) if resolve is not None else None
        except Exception:  # noqa: BLE001 - a report extra, never a reason to fail validation
            log.debug("resolve_backends failed", exc_info=True)
        return {"valid": True, "job": job, "error": None, "resolved": resolved}

    # -- loop ----------------------------------------------------------------------------------------
    def _readline(self):
        """One line (bytes, b"" at EOF). A line over protocol.MAX_LINE is read to its end and
        returned as None (answered with PROTOCOL_INVALID)."""
        self._in_read = True
        try:
            if self._terminate:
                raise _Terminate()
            line = self._in.readline(protocol.MAX_LINE + 1)
            if len(line) <= protocol.MAX_LINE or line.endswith(b"\n"):
                return line
            while True:  # skip the rest of the over-long line
                chunk = self._in.readline(1 << 20)
                if not chunk or chunk.endswith(b"\n"):
                    return None
        except (OSError, ValueError):
            return b""
        finally:
            self._in_read = False

    def _outdated(self, msg):
        """True (after answering ``msg`` with WORKER_FAILED) when samatte's files changed since this worker
        started: an upgrade in place under a running worker (a Nuke or Blender session keeps its worker).
        Its next job or request would import modules of the new version into the old process (a job failed
        with "ImportError: cannot import name ... from samatte.registry", or mixed code ran); instead the
        worker stops after this answer and the host's next run starts a worker of the installed version."""
        if self._busy():
            return False   # the running job loaded what it needs; never stop it for a request beside it
        if not self._updated:
            stamp = package_stamp()
            if stamp == self._stamp:
                return False
            if package_digest() == self._digest:
                self._stamp = stamp   # touched, not changed (same bytes): the code this worker runs is current
                return False
            self._updated = True
        now = installed_version()
        self._error(msg["id"], WorkerError(
            "samatte was updated while this worker ran (its files in %s changed; installed now: samatte %s, "
            "this worker: %s): the worker stops; run again to start one of the installed version"
            % (os.path.dirname(os.path.abspath(__file__)), now or "?", __version__),
            reason="updated", worker_version=__version__, installed_version=now))
        return True

    def _dispatch(self, msg):
        mtype = msg["type"]
        if (mtype == "job" or mtype in protocol.REQUEST_TYPES) and self._outdated(msg):
            return
        if mtype == "job":
            self._start_job(msg)
        elif mtype == "cancel":
            self._cancel(msg)
        elif mtype == "ping":
            self.send(protocol.pong(msg["id"]))
        elif mtype in protocol.REQUEST_TYPES:
            self._request(msg)
        else:
            self._error(msg["id"], ProtocolError("message type %r is sent by the worker, not to it" % mtype,
                                                 field="type"))

    def _serve_lines(self):
        while True:
            line = self._readline()
            if line is None:
                self._error(None, ProtocolError("protocol line is longer than %d bytes" % protocol.MAX_LINE))
                continue
            if not line:
                return  # EOF: the host is gone or done
            if not line.strip():
                continue
            try:
                msg = protocol.decode(line)
            except ProtocolError as e:
                self._error(getattr(e, "msg_id", None), e)
                continue
            except Exception as e:  # noqa: BLE001 - no line may kill the worker
                self._error(None, ProtocolError("protocol line could not be read: %s: %s"
                                                % (type(e).__name__, str(e)[:200])))
                continue
            if msg["type"] == "shutdown":
                return
            try:
                self._dispatch(msg)
            except Exception as e:  # noqa: BLE001 - answer, and keep serving
                log.exception("handling a %s message failed", msg["type"])
                self._error(protocol.message_id(msg), e)
            if self._updated:
                return  # samatte was updated under this worker: bye (the host starts a new one)

    def serve(self):
        with self._hello_lock:
            self._before_hello = []
        try:
            self.send(protocol.hello(__version__, platform.python_version(), capabilities(), pid=os.getpid()))
        finally:
            with self._hello_lock:
                held, self._before_hello = self._before_hello, None
            for msg in held:
                self.send(msg)
        try:
            self._serve_lines()
        except _Terminate:
            log.info("SIGTERM: cancelling the running job and stopping")
        self._stop_running()
        self._finish_requests()
        self.send(protocol.bye())
        return 0


_protect_stdout = protect_stdout  # the old private name (kept for scripts that used it)


def _install_sigterm(worker):
    """SIGTERM ends the worker like ``shutdown``: the running job is cancelled (CANCELLED), then bye,
    exit 0. The handler only interrupts the main thread while it waits for stdin (elsewhere the loop
    sees the flag before its next read). A second SIGTERM while stopping exits at once (143)."""

    def handler(signum, frame):
        if worker._terminate:
            os._exit(143)
        worker._terminate = True
        if worker._in_read:
            raise _Terminate()

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError, AttributeError):  # not the main thread / no SIGTERM
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m samatte.worker",
                                     description="samatte worker: JSON lines on stdin/stdout")
    parser.add_argument("--pipeline", default="samatte.pipeline",
                        help="module whose run_iter(job, *, cancel=None) runs jobs")
    parser.add_argument("--log-level", default=os.environ.get("SAMATTE_LOG_LEVEL", "INFO"),
                        help="what its log messages carry: DEBUG, INFO (default; $SAMATTE_LOG_LEVEL), WARNING, ERROR")
    parser.add_argument("--threads", metavar="N", help="CPU threads for every library (samatte.threads; "
                        "auto or 0: the default, $SAMATTE_THREADS, else $OMP_NUM_THREADS, else the CPUs this "
                        "process may use)")
    args = parser.parse_args(argv)
    from .threads import configure
    try:
        configure(args.threads)
    except SamatteError as e:
        parser.error(e.message)
    out = protect_stdout()
    from .cli import log_level
    level, problem = log_level(args.log_level, logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format="samatte-worker %(levelname)s %(name)s: %(message)s")
    if problem:
        logging.getLogger("samatte").warning("%s", problem.replace("SAMATTE_LOG_LEVEL", "--log-level / SAMATTE_LOG_LEVEL"))
    worker = Worker(sys.stdin.buffer, out, pipeline=args.pipeline)
    handler = _ProtocolLogHandler(worker)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("samatte").addHandler(handler)
    _install_sigterm(worker)
    try:
        return worker.serve()
    except KeyboardInterrupt:
        worker._stop_running()
        worker.send(protocol.bye())
        return 130


if __name__ == "__main__":
    sys.exit(main())
