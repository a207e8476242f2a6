"""``python -m samatte.worker``: runs JobSpecs for a host over JSON lines (see :mod:`samatte.protocol`).

The worker reads one protocol message per line on stdin and writes protocol messages on stdout,
one per line, flushed. Nothing else is ever written to stdout: at start the real stdout file
descriptor is kept for the protocol and fd 1 (and ``sys.stdout``) is pointed at stderr, so stray
prints from libraries (SAM2, hydra, numba...) land in the log instead of corrupting the pipe.

One job runs at a time, in a thread; the main thread keeps reading stdin so that ``cancel`` (the job
stops between frames and ends with an error ``CANCELLED``), ``ping`` and ``shutdown`` are handled
while it runs. On ``shutdown`` or end of stdin the running job is cancelled, the worker says
``bye`` and exits with status 0.

Options: ``--pipeline MODULE`` runs jobs with ``MODULE.run_iter(job, *, cancel=None)`` instead of
:func:`samatte.pipeline.run_iter` (tests and custom studio pipelines use it).
"""
import argparse
import importlib
import importlib.util
import logging
import os
import platform
import sys
import threading

from . import __version__, protocol
from .errors import ProtocolError
from .progress import CancelToken

__all__ = ["Worker", "capabilities", "main"]

log = logging.getLogger("samatte.worker")


def _has_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
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
    trackers = ["auto", "flow", "shapes"] + (["sam2"] if sam2_ok else [])
    mattes = ["auto", "refine", "none"] + (["sam2matte"] if matte_weights else [])
    return {
        "trackers": trackers,
        "mattes": mattes,
        "devices": probe_devices() if probe else _cheap_devices(),
        "devices_probed": bool(probe),
        "models": found,
        "sam2": bool(sam2_ok and has_weights),
        "sam2matte_weights": matte_weights,
        "pymatting": _has_module("pymatting"),
    }


class _ProtocolLogHandler(logging.Handler):
    """Forwards samatte log records to the host as ``log`` messages tagged with the running job."""

    def __init__(self, worker, level=logging.WARNING):
        super().__init__(level)
        self._worker = worker

    def emit(self, record):
        try:
            self._worker.send(protocol.log(self._worker.job_id, record.levelname, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never kill the worker
            pass


class Worker:
    """The worker loop over a binary input stream and a binary output stream."""

    def __init__(self, inp, out, *, pipeline="samatte.pipeline"):
        self._in = inp
        self._out = out
        self._pipeline_name = pipeline
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._thread = None
        self._token = None
        self.job_id = None   # set while a job runs (a job message always carries a non-empty id)
        self._broken = False

    # -- output --------------------------------------------------------------------------------------
    def send(self, msg):
        line = protocol.encode(msg).encode("utf-8")
        with self._write_lock:
            if self._broken:
                return
            try:
                self._out.write(line)
                self._out.flush()
            except (BrokenPipeError, OSError, ValueError):
                # The host went away: keep going quietly, the stdin EOF will end us.
                self._broken = True

    # -- jobs ----------------------------------------------------------------------------------------
    def _busy(self):
        return self.job_id is not None

    def _start_job(self, msg):
        with self._state_lock:
            if self._busy():
                self.send(protocol.error_from_exception(msg["id"], ProtocolError(
                    "the worker is busy with job %r; send one job at a time" % self.job_id,
                    running=self.job_id)))
                return
            self.job_id = msg["id"]
            self._token = CancelToken()
            self._thread = threading.Thread(target=self._run_job, args=(msg["id"], msg["job"], self._token),
                                            name="samatte-job", daemon=True)
            self._thread.start()

    def _run_job(self, job_id, spec, token):
        final = None
        try:
            pipeline = importlib.import_module(self._pipeline_name)
            gen = pipeline.run_iter(spec, cancel=token)
            while True:
                try:
                    prog = next(gen)
                except StopIteration as stop:
                    res = stop.value
                    break
                self.send(protocol.progress(job_id, prog))
            final = protocol.result(job_id, res if res is not None else {})
            protocol.encode(final)  # an unencodable result becomes an error message below
        except BaseException as e:  # noqa: BLE001 - every failure must reach the host as a message
            if not isinstance(e, Exception):
                log.error("job %s stopped by %s", job_id, type(e).__name__)
            else:
                log.debug("job %s failed", job_id, exc_info=True)
            final = protocol.error_from_exception(job_id, e)
        finally:
            # Free the worker *before* the final message: a host may send its next job the moment
            # it reads the result.
            with self._state_lock:
                self.job_id = None
            if final is not None:
                self.send(final)

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

    # -- loop ----------------------------------------------------------------------------------------
    def serve(self):
        self.send(protocol.hello(__version__, platform.python_version(), capabilities(), pid=os.getpid()))
        while True:
            try:
                line = self._in.readline()
            except (OSError, ValueError):
                line = b""
            if not line:
                break  # EOF: the host is gone or done
            if not line.strip():
                continue
            try:
                msg = protocol.decode(line)
            except ProtocolError as e:
                self.send(protocol.error_from_exception(None, e))
                continue
            mtype = msg["type"]
            if mtype == "job":
                self._start_job(msg)
            elif mtype == "cancel":
                self._cancel(msg)
            elif mtype == "ping":
                self.send(protocol.pong(msg["id"]))
            elif mtype == "shutdown":
                break
            else:
                self.send(protocol.error_from_exception(msg["id"], ProtocolError(
                    "message type %r is sent by the worker, not to it" % mtype, field="type")))
        self._stop_running()
        self.send(protocol.bye())
        return 0


def _protect_stdout():
    """Keep the real stdout for the protocol and send fd 1 / sys.stdout to stderr. Returns the
    binary stream to write protocol lines to."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "wb", buffering=0)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m samatte.worker",
                                     description="samatte worker: JSON lines on stdin/stdout")
    parser.add_argument("--pipeline", default="samatte.pipeline",
                        help="module whose run_iter(job, *, cancel=None) runs jobs")
    parser.add_argument("--log-level", default=os.environ.get("SAMATTE_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    out = _protect_stdout()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="samatte-worker %(levelname)s %(name)s: %(message)s")
    worker = Worker(sys.stdin.buffer, out, pipeline=args.pipeline)
    handler = _ProtocolLogHandler(worker)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("samatte").addHandler(handler)
    try:
        return worker.serve()
    except KeyboardInterrupt:
        worker._stop_running()
        worker.send(protocol.bye())
        return 130


if __name__ == "__main__":
    sys.exit(main())
