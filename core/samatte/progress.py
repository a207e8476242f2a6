"""Progress events and cancellation, shared by every long-running stage.

Standard library only, Python 3.9: the worker protocol serialises these and adapters read them.
"""
import contextlib
import contextvars
import threading
import time
from collections import namedtuple
from typing import Optional

from .errors import CancelledError

__all__ = ["Progress", "FrameEvent", "CancelToken", "check_cancel", "is_cancel", "checkpoint", "cancel_scope",
           "TimeLeft", "duration_text"]


class Progress(namedtuple("Progress", "stage frame done total message")):
    """One step of work: ``stage`` (e.g. "read", "track", "matte", "write"), the host ``frame`` number
    (or None), ``done`` of ``total`` units for that stage, and an optional human ``message``.

    ``part`` (keyword, optional, not a tuple field): the stage's share done in [0, 1] where it is not ``done /
    total``, because some of the stage's work is not counted in ``done``: the flow tracker reading a plate's
    frames before its passes keeps ``done`` at 0 (the time left's pace, :class:`TimeLeft`, is the passes'),
    while ``part`` moves the whole job's fraction (:class:`samatte.runner.JobFraction`) through the reading.
    None (the default): ``done / total``. It is not sent on the wire: the ``fraction`` it yields is."""

    # (no __slots__: ``part`` is an attribute beside the five fields, so the tuple, its equality and its
    # unpacking stay those of older samattes)
    part: Optional[float] = None

    def __new__(cls, stage, frame=None, done=0, total=0, message="", *, part=None):
        self = super().__new__(cls, stage, frame, int(done), int(total), message or "")
        if part is not None:
            self.part = min(1.0, max(0.0, float(part)))
        return self

    @property
    def fraction(self):
        """The stage's share done: ``part`` when given, else ``done / total`` (0 without a total)."""
        if self.part is not None:
            return self.part
        return (self.done / self.total) if self.total else 0.0

    def to_dict(self):
        return {"stage": self.stage, "frame": self.frame, "done": self.done, "total": self.total,
                "message": self.message}


class FrameEvent(namedtuple("FrameEvent", "frame status score path stage")):
    """One requested frame finished: ``status`` "written" (computed now) or "skipped" (already
    complete and current), its ``score`` (None when unknown), the file ``path``, and the ``stage``
    ("matte": an output EXR; "track": a stored track in the work dir). Not a :class:`Progress`:
    ``pipeline.run_iter(..., events=True)`` yields both, consumers tell them apart by type."""

    __slots__ = ()

    def __new__(cls, frame, status="written", score=None, path=None, stage="matte"):
        return super().__new__(cls, int(frame), str(status), None if score is None else float(score),
                               path, stage)

    def to_dict(self):
        return {"frame": self.frame, "status": self.status, "score": self.score, "path": self.path,
                "stage": self.stage}


class CancelToken:
    """Thread-safe cancellation flag. Long loops call :meth:`check` between frames."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self):
        self._event.set()

    @property
    def cancelled(self):
        return self._event.is_set()

    def check(self):
        if self._event.is_set():
            raise CancelledError("job cancelled")


def is_cancel(token):
    """Whether ``token`` can cancel a job: a :class:`CancelToken` (anything with ``check()``), an event
    (anything with ``is_set()``: ``threading.Event``, ``multiprocessing.Event``) or a callable that returns
    true to cancel."""
    return (callable(getattr(token, "check", None)) or callable(getattr(token, "is_set", None))
            or callable(token))


def check_cancel(token):
    """``token.check()`` when a token is given (a :class:`CancelToken` or anything with ``check()``); an
    event (``threading.Event()``: anything with ``is_set()``) cancels once set (before: refused, "cancel must
    be a CancelToken..."); a plain callable cancels when it returns true (``cancel=lambda: flag.is_set()``);
    a no-op for None."""
    if token is None:
        return
    if not is_cancel(token):
        raise TypeError("cancel must be a CancelToken, an object with check() or is_set() or a callable, not %s"
                        % type(token).__name__)
    check = getattr(token, "check", None)
    is_set = getattr(token, "is_set", None)
    if callable(check):
        check()
    elif callable(is_set):
        if is_set():
            raise CancelledError("job cancelled")
    elif token():
        raise CancelledError("job cancelled")


#: the cancel of the job whose code runs in this context (:func:`cancel_scope`), for :func:`checkpoint`
_SCOPE = contextvars.ContextVar("samatte_cancel_scope", default=None)


@contextlib.contextmanager
def cancel_scope(cancel):
    """Within the block, :func:`checkpoint` checks ``cancel`` (as :func:`check_cancel`). The pipeline wraps
    each phase of a frame in one, so that the long computations inside a phase (a 4K object's solve takes
    seconds) stop at their next checkpoint on a Cancel. Code run in other threads sees it only when run in a
    copy of this context (``contextvars.copy_context().run``). Never enter it across a ``yield``."""
    tok = _SCOPE.set(cancel)
    try:
        yield
    finally:
        _SCOPE.reset(tok)


def checkpoint():
    """A safe point to stop a long computation: raises :class:`CancelledError` when the job whose
    :func:`cancel_scope` this runs in is cancelled; a no-op outside one (a script's ``Matter.step``). It
    changes nothing it does not stop: a computation that passes its checkpoints gives the same result."""
    cancel = _SCOPE.get()
    if cancel is not None:
        check_cancel(cancel)


#: the stages whose time left is told (the others: setup, done, queued are short or not frames)
TIMED_STAGES = ("track", "matte")
#: stages whose ``done`` counts frames skipped as already complete: their pace is taken from the frames written
#: (:meth:`TimeLeft.frame`), never from ``done``, which a run of skipped frames would make look fast
_COUNTED_BY_FRAMES = ("matte",)


def duration_text(seconds):
    """``"45s"``, ``"3m05s"``, ``"2h07m"``: a short time for a progress line."""
    s = max(0, int(round(float(seconds))))
    if s < 60:
        return "%ds" % s
    if s < 3600:
        return "%dm%02ds" % divmod(s, 60)
    return "%dh%02dm" % (s // 3600, (s % 3600) // 60)


class TimeLeft:
    """The time left in the running stage of a job, from the pace of the frames computed so far in that stage
    (host-agnostic arithmetic for the hosts' progress lines; ``clock``: seconds, ``time.monotonic`` by default).

    Feed it every ``progress`` event (:meth:`progress`: stage, done, total) and every ``frame`` event
    (:meth:`frame`). Per stage (a new stage starts afresh: tracking and matting run at different rates). The
    first frame computed in a stage is not timed (it pays imports, model loading, JIT): the pace is that of the
    frames after it, so :meth:`text` says ``estimating time left`` until 2 are done. In the matte stage, whose
    ``done`` counts frames skipped as already complete, the pace comes from the frames written only; the skipped
    ones shorten what is left, never make the pace look faster. Within a frame the time left counts down."""

    def __init__(self, clock=None):
        self._clock = clock or time.monotonic
        self.stage = None
        self.done = 0
        self.total = 0
        self._computed = 0
        self._first = None   # (time, computed) when the stage's first frame was computed
        self._last = None    # (time, computed) of its latest
        self._moved = None   # when ``done`` last grew (a frame finished: its ``frame`` event comes just after)

    def _start(self, stage):
        self.stage, self.done, self.total, self._computed, self._first, self._last = stage, 0, 0, 0, None, None
        self._moved = None

    def _tick(self, computed):
        if computed <= self._computed:
            return
        now = self._clock()
        self._computed = computed
        if self._first is None:
            self._first = (now, computed)
        self._last = (now, computed)

    def progress(self, stage, done, total):
        """A ``progress`` event of ``stage``: ``done`` of ``total`` units."""
        if stage != self.stage:
            self._start(stage)
        done = max(0, int(done or 0))
        if done > self.done:
            self._moved = self._clock()
        self.done, self.total = done, max(0, int(total or 0))
        if stage not in _COUNTED_BY_FRAMES:
            self._tick(self.done)

    def frame(self, status, stage="matte"):
        """A ``frame`` event: ``status`` "written" (computed now) or "skipped", of ``stage``."""
        if stage == self.stage and stage in _COUNTED_BY_FRAMES and status == "written":
            self._tick(self._computed + 1)

    def seconds_per_frame(self):
        """The stage's pace (seconds a frame, its first frame left out), or None before 2 frames are computed."""
        first, last = self._first, self._last
        if first is None or last is None or last[1] <= first[1]:
            return None
        return max(0.0, last[0] - first[0]) / (last[1] - first[1])

    def seconds_left(self):
        """Seconds left in the stage, or None while estimating."""
        pace, last = self.seconds_per_frame(), self._last
        if pace is None or last is None or not self.total:
            return None
        since = max(last[0], self._moved if self._moved is not None else last[0])
        left = max(0, self.total - self.done) * pace - (self._clock() - since)
        return max(0.0, left)

    def text(self):
        """``"1m05s left, 1.3 s/frame"`` (``"4.0 frames/s"`` when faster than one a second), ``"estimating time
        left"``, or ``""`` outside :data:`TIMED_STAGES` and before a stage with a total."""
        if self.stage not in TIMED_STAGES or not self.total:
            return ""
        left = self.seconds_left()
        if left is None:
            return "estimating time left"
        pace = self.seconds_per_frame()
        rate = ("%.1f s/frame" % pace) if pace >= 1.0 or pace == 0 else ("%.1f frames/s" % (1.0 / pace))
        return "%s left, %s" % (duration_text(left), rate)
