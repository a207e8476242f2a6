"""One runner: drains a pipeline run and turns it into worker-protocol messages.

Used by ``samatte run --json`` (and the other run commands), the worker (:mod:`samatte.worker`) and
``samatte demo``. Standard library only at import (the pipeline is imported when a job runs), so the
worker and the CLI start fast.

* :func:`drain` runs ``pipeline.run_iter`` and emits ``progress`` (with the whole job's ``fraction``)
  and ``frame`` messages; it returns the result dict or raises what the pipeline raised.
* :func:`run_job` wraps :func:`drain` and builds the job's final message (``result``, or ``error``
  for any exception: samatte errors keep their code, Ctrl-C becomes ``CANCELLED``); the caller sends it.
* :func:`execute` is the command line's way to run a job in this process: a progress bar on stderr
  (or protocol lines on stdout with ``json_mode``), SIGINT/SIGTERM cancelling between frames, a
  closed stdout (``samatte run job.json | head -c 0``) not counted as a failure of the job.
"""
import contextlib
import inspect
import json
import os
import signal
import sys
import time
import traceback

from . import protocol
from .errors import EXIT_CODES, CancelledError, JobSpecError, SamatteError, known_failure

__all__ = ["drain", "run_job", "execute", "exit_code_for", "report_error", "protect_stdout", "restore_stdout",
           "ProgressPrinter", "Interrupts", "JobFraction", "run_iter_kwargs"]


def exit_code_for(err):
    """The documented process exit status for an exception."""
    if isinstance(err, KeyboardInterrupt):
        return 130
    if isinstance(err, Exception):
        err = known_failure(err)
    if isinstance(err, SamatteError):
        return EXIT_CODES.get(err.code, getattr(err, "exit_code", 1))
    return 1


def _eprint(*args):
    try:
        print(*args, file=sys.stderr)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def report_error(e):
    """Print an error for a person on stderr: samatte errors as ``[CODE] message`` with their details,
    anything else as a bug report with its traceback."""
    if isinstance(e, Exception):
        e = known_failure(e)
    if isinstance(e, SamatteError):
        _eprint("samatte: error %s" % e)
        extra = {k: v for k, v in e.details.items() if k not in ("traceback", "stderr_tail")}
        if extra:
            _eprint("  details: %s" % json.dumps(extra, default=str, sort_keys=True)[:2000])
    else:
        _eprint("samatte: unexpected error (a bug; please report it with this output):")
        try:
            traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
        except (OSError, ValueError):
            pass


def protect_stdout():
    """Keep the real stdout for protocol lines and send fd 1 / ``sys.stdout`` to stderr, so stray
    prints from libraries (SAM2, hydra, numba...) never corrupt the protocol. Returns the binary
    stream to write protocol lines to."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(proto_fd, "wb", buffering=0)


def silence_stdout():
    """After the reader of stdout went away: point fd 1 at the null device so that nothing (not even
    the interpreter's final flush) fails on the closed pipe."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass


# --- progress -------------------------------------------------------------------------------------

class JobFraction:
    """The whole job's progress in [0, 1] from the pipeline's per-stage Progress events (an estimate
    that never goes back): setup 0-2 %; with ``stage="all"`` tracking takes the first half when it
    runs ahead of matting and matting the rest; a single stage takes 2-100 %."""

    def __init__(self, stage=None):
        self.stage = stage or "all"
        self.value = 0.0
        self._tracked = False

    def update(self, p):
        part = getattr(p, "part", None)   # work of the stage not counted in done (samatte.progress.Progress)
        frac = float(part) if part is not None else ((p.done / p.total) if p.total else 0.0)
        frac = min(1.0, max(0.0, frac))
        if p.stage == "done":
            est = 1.0
        elif p.stage == "track":
            self._tracked = True
            est = 0.02 + (0.98 if self.stage == "track" else 0.48) * frac
        elif p.stage in ("matte", "write"):
            start = 0.5 if (self._tracked and self.stage == "all") else 0.02
            est = start + (1.0 - start) * frac
        else:
            est = 0.02 * frac
        self.value = max(self.value, min(1.0, est))
        return self.value


def _is_progress(item):
    return all(hasattr(item, k) for k in ("stage", "done", "total", "message"))


def _is_frame_event(item):
    return all(hasattr(item, k) for k in ("frame", "status", "path")) and not _is_progress(item)


def run_iter_kwargs(run_iter, **wanted):
    """The keyword arguments of ``wanted`` to pass to ``run_iter``: ``None`` values are left out, so
    a pipeline without stages or frame subsets still runs plain jobs; ``events=True`` is passed
    when the pipeline takes it. A stage/frames/preroll the pipeline cannot take is JOBSPEC_INVALID."""
    try:
        params = inspect.signature(run_iter).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind == p.VAR_KEYWORD for p in params.values())
    out = {}
    for k, v in wanted.items():
        if v is None:
            continue
        if k == "events":
            if takes_all or k in params:
                out[k] = v
            continue
        if not (takes_all or k in params):
            if k in ("tracker", "matter"):
                continue
            raise JobSpecError("this samatte's pipeline cannot run with %s=%r" % (k, v), field=k)
        out[k] = v
    return out


def drain(job, *, emit, job_id="samatte", stage=None, frames=None, preroll=None, cancel=None,
          pipeline=None, tracker=None, matter=None, on_progress=None, on_frame=None, objects=None):
    """Run ``job`` through ``pipeline.run_iter`` (default :mod:`samatte.pipeline`), emitting
    ``progress`` and ``frame`` protocol messages (dicts) with ``emit``; returns the result dict.
    ``stage``/``frames``/``preroll``/``objects`` are passed only when given. ``on_progress`` / ``on_frame`` get
    the pipeline's own events too (the CLI's progress bar)."""
    if pipeline is None:
        from . import pipeline
    kwargs = run_iter_kwargs(pipeline.run_iter, stage=stage, frames=frames, preroll=preroll, cancel=cancel,
                             tracker=tracker, matter=matter, events=True, objects=objects)
    fraction = JobFraction(stage)
    gen = pipeline.run_iter(job, **kwargs)
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value if stop.value is not None else {}
        if _is_progress(item):
            if on_progress is not None:
                on_progress(item)
            emit(protocol.progress(job_id, item, fraction=fraction.update(item)))
        elif _is_frame_event(item):
            if on_frame is not None:
                on_frame(item)
            emit(protocol.frame(job_id, item))


def run_job(job, *, emit, job_id="samatte", **kwargs):
    """:func:`drain` and the job's final message: returns ``(final_message, result or None, error or
    None)``; the caller sends the final message (the worker frees itself first). Never raises
    (except SystemExit)."""
    try:
        res = drain(job, emit=emit, job_id=job_id, **kwargs)
        final = protocol.result(job_id, res)
        protocol.encode(final)  # an unencodable result becomes an error message below
        return final, res, None
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - every failure must reach the host as a message
        if isinstance(e, KeyboardInterrupt):
            e = CancelledError("interrupted")
        e = known_failure(e)   # an incomplete install: DEPENDENCY_MISSING; memory: OUT_OF_MEMORY; not bugs
        return protocol.error_from_exception(job_id, e), None, e


# --- the command line's runner --------------------------------------------------------------------

class ProgressPrinter:
    """A one-line progress bar on a terminal; a line per stage and per ~10 % otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.stage = None
        self.last_pct = -1
        self.stage_pct = {}
        self.t0 = time.monotonic()
        self._open = False

    def __call__(self, p):
        try:
            self._show(p)
        except (OSError, ValueError):  # a closed stderr must not fail the job
            pass

    def _show(self, p):
        if p.stage != self.stage:
            self.end_line()
            self.stage = p.stage
            self.last_pct = self.stage_pct.get(p.stage, -1)
        pct = int(100 * p.done / p.total) if p.total else 0
        self.stage_pct[p.stage] = pct
        frame = "" if p.frame is None else " frame %s" % p.frame
        msg = (" " + p.message) if p.message else ""
        if self.tty:
            width = 24
            filled = int(width * p.done / p.total) if p.total else 0
            line = "\r%-8s [%s%s] %d/%d%s%s" % (p.stage, "#" * filled, "." * (width - filled), p.done, p.total,
                                              frame, msg)
            self.stream.write(line[:120].ljust(80))
            self._open = True
        elif pct // 10 != self.last_pct // 10 or p.done == p.total or self.last_pct < 0:
            self.stream.write("%-8s %3d%% %d/%d%s%s\n" % (p.stage, pct, p.done, p.total, frame, msg))
        self.last_pct = pct
        self.stream.flush()

    def end_line(self):
        if self._open:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._open = False


class OpenJDProgress:
    """Open Job Description's stdout messages for a farm task (what ``samatte farm task`` runs): an
    ``openjd_progress: <0-100>`` line as the job's :class:`JobFraction` passes each whole percent, an
    ``openjd_status: <stage> <done>/<total> ...`` line as the stage or frame changes, and, from
    :meth:`fail`, ``openjd_fail: [CODE] message``. A render manager (Deadline Cloud's worker agent, any
    OpenJD runtime) shows them as the task's progress, status and failure reason; before, a samatte task
    sat at 0 % until it ended and its failure read "exit status 4"."""

    def __init__(self, stage=None, stream=None):
        self.stream = stream
        self.fraction = JobFraction(stage)
        self.pct = -1
        self.where = None

    def _line(self, text):
        stream = self.stream or sys.stdout
        try:
            stream.write(text.replace("\r", " ").replace("\n", " ") + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stdout must not fail the job
            pass

    def __call__(self, p):
        pct = int(100 * self.fraction.update(p))
        where = (p.stage, p.frame)
        if where != self.where and p.stage not in ("setup", "done"):
            self.where = where
            frame = "" if p.frame is None else " frame %s" % p.frame
            self._line("openjd_status: %s %d/%d%s" % (p.stage, p.done, p.total, frame))
        if pct > self.pct:
            self.pct = pct
            self._line("openjd_progress: %d" % pct)

    def checked(self, done, total, frame, stage="qc"):
        """``samatte qc --openjd``: a status line per frame and ``openjd_progress`` (0 to 100) as it rises."""
        if self.pct < 0:
            self.pct = 0
            self._line("openjd_progress: 0")
        self._line("openjd_status: %s %d/%d frame %s" % (stage, done, total, frame))
        pct = int(100 * done / total) if total else 100
        if pct > self.pct:
            self.pct = pct
            self._line("openjd_progress: %d" % pct)

    def fail(self, e):
        # an incomplete install is DEPENDENCY_MISSING, as its exit status says; an unexpected exception (a
        # bug) carries the code its exit status has, SAMATTE_ERROR, like every other failure: a render
        # manager or a TD's log filter reads the reason as "[CODE] message"
        e = known_failure(e)
        self._line("openjd_fail: %s" % (e if isinstance(e, SamatteError) else "[%s] %s: %s"
                                        % (SamatteError.code, type(e).__name__, e)))


@contextlib.contextmanager
def openjd_failure(enabled=True):
    """Around a command's work before (or instead of) a run's own runner: an exception raised inside is told
    as OpenJD's ``openjd_fail`` line (``enabled``: the command was asked for ``--openjd``), then re-raised."""
    try:
        yield
    except Exception as e:
        if enabled:
            OpenJDProgress().fail(e)
        raise


class Interrupts:
    """First SIGINT/SIGTERM cancels the job between frames; a second one stops at once."""

    def __init__(self, token, *, quiet=False):
        self.token = token
        self.quiet = quiet
        self.old = {}

    def _handler(self, signum, frame):
        if self.token.cancelled:
            raise KeyboardInterrupt
        self.token.cancel()
        if not self.quiet:
            if signum == getattr(signal, "SIGTERM", None):   # a farm's cancel or a kill, not a person's Ctrl-C
                _eprint("\nsamatte: terminated (SIGTERM): cancelling (the frame under way stops at its next checkpoint "
                        "and is not written; finished frames stay; a second SIGTERM stops at once)")
            else:
                _eprint("\nsamatte: cancelling (press Ctrl-C again to stop now)")

    def __enter__(self):
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is None:
                continue
            try:
                if signal.getsignal(sig) is None:
                    # the host (Blender, Nuke, an embedding app) installed this handler in C: Python
                    # cannot put it back (signal.signal(sig, None) raises TypeError), so leave it be
                    continue
                self.old[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self.old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass


def _summary(job_id, result):
    written = result.get("written") or []
    skipped = result.get("skipped") or []
    try:
        if result.get("stage") == "track":
            # `--stage track` writes no output frame: say what it tracked, where (not "0 frame(s) written")
            frames = result.get("frames") or []
            n = len(set(frames) & set(result.get("tracked") or []))
            print("samatte: %s done: %d frame(s) tracked, %d already current -> %s (tracker %s, %.1f s)"
                  % (job_id, n, len(frames) - n, result.get("work_dir"), result.get("tracker"),
                     float(result.get("elapsed_s") or 0.0)))
            sys.stdout.flush()
            return
        print("samatte: %s done: %d frame(s) written, %d already complete -> %s (tracker %s, matte %s, %.1f s)"
              % (job_id, len(written), len(skipped), result.get("output"), result.get("tracker"),
                 result.get("matte"), float(result.get("elapsed_s") or 0.0)))
        sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        # Nobody reads stdout any more (``| head -c 0``): the job itself succeeded.
        silence_stdout()


def execute(job, *, json_mode=False, quiet=False, summary=True, stage=None, frames=None, preroll=None,
            pipeline=None, objects=None, openjd=False):
    """Run a validated job in this process with progress on stderr (or protocol lines on stdout with
    ``json_mode``), SIGINT/SIGTERM cancelling between frames. Returns ``(exit_status, result or None)``.
    A reader of stdout that goes away never fails the job. ``openjd``: also Open Job Description's
    progress / status / fail lines on stdout (:class:`OpenJDProgress`; not with ``json_mode``)."""
    job_id = str(job.get("name") or "samatte")
    saved_stdout = sys.stdout
    out = protect_stdout() if json_mode else None
    state = {"broken": False}
    try:
        return _execute(job, job_id, out, state, json_mode=json_mode, quiet=quiet, summary=summary, stage=stage,
                        frames=frames, preroll=preroll, pipeline=pipeline, objects=objects,
                        openjd=OpenJDProgress(stage) if openjd and not json_mode else None)
    finally:
        if out is not None:
            restore_stdout(out, saved_stdout, broken=state["broken"])


def restore_stdout(out, saved_stdout, *, broken=False):
    """After a ``json_mode`` job (or a --json command's document, samatte.cli): fd 1 and ``sys.stdout`` back
    as they were before :func:`protect_stdout`
    (before: left pointed at stderr, so in a process that goes on (a host or a test calling ``samatte.cli.main``)
    the next --json command's document and every later print went to stderr); the null device on fd 1 when
    the reader went away."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    try:
        if broken:
            silence_stdout()
        else:
            os.dup2(out.fileno(), 1)
    except (OSError, ValueError):
        pass
    finally:
        try:
            out.close()
        except OSError:
            pass
        sys.stdout = saved_stdout


def _execute(job, job_id, out, state, *, json_mode, quiet, summary, stage, frames, preroll, pipeline, objects,
             openjd=None):
    from .progress import CancelToken

    def emit(msg):
        if out is None or state["broken"]:
            return
        try:
            out.write(protocol.encode(msg).encode("utf-8"))
            out.flush()
        except (BrokenPipeError, OSError, ValueError):
            state["broken"] = True

    printer = None if (json_mode or quiet) else ProgressPrinter()
    on_progress = printer
    if openjd is not None:
        def on_progress(p):
            if printer is not None:
                printer(p)
            openjd(p)
    token = CancelToken()
    with Interrupts(token, quiet=json_mode or quiet):
        final, result, err = run_job(job, emit=emit, job_id=job_id, stage=stage, frames=frames, preroll=preroll,
                                     cancel=token, pipeline=pipeline, on_progress=on_progress, objects=objects)
    if printer is not None:
        printer.end_line()
    emit(final)
    if err is not None:
        if openjd is not None:
            openjd.fail(err)
        report_error(err)
        return exit_code_for(err), None
    if not json_mode and not quiet and summary:
        _summary(job_id, result)
    return 0, result
