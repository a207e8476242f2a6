"""Progress events and cancellation, shared by every long-running stage.

Standard library only, Python 3.9: the worker protocol serialises these and adapters read them.
"""
import threading
from collections import namedtuple

from .errors import CancelledError

__all__ = ["Progress", "FrameEvent", "CancelToken", "check_cancel", "is_cancel"]


class Progress(namedtuple("Progress", "stage frame done total message")):
    """One step of work: ``stage`` (e.g. "read", "track", "matte", "write"), the host ``frame`` number
    (or None), ``done`` of ``total`` units for that stage, and an optional human ``message``."""

    __slots__ = ()

    def __new__(cls, stage, frame=None, done=0, total=0, message=""):
        return super().__new__(cls, stage, frame, int(done), int(total), message or "")

    @property
    def fraction(self):
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
    """Whether ``token`` can cancel a job: a :class:`CancelToken` (anything with ``check()``) or a callable
    that returns true to cancel."""
    return callable(getattr(token, "check", None)) or callable(token)


def check_cancel(token):
    """``token.check()`` when a token is given (a :class:`CancelToken` or anything with ``check()``); a
    plain callable cancels when it returns true (``cancel=lambda: flag.is_set()``); a no-op for None."""
    if token is None:
        return
    if not is_cancel(token):
        raise TypeError("cancel must be a CancelToken, an object with check() or a callable, not %s"
                        % type(token).__name__)
    check = getattr(token, "check", None)
    if callable(check):
        check()
    elif token():
        raise CancelledError("job cancelled")
