"""A thread-safe way to hush a library's prints to stdout (pymatting's "PERFORMANCE WARNING").

``contextlib.redirect_stdout`` swaps the process-wide ``sys.stdout`` and puts back whatever it saw on
entry: two jobs matting in two threads interleave their swaps and leave ``sys.stdout`` pointing at a
dead ``StringIO`` for good (every later ``print`` of the program vanishes). :func:`quiet_stdout`
instead installs one filter while any thread is inside it; the filter drops only the writes of the
threads that are inside and passes every other thread's through, and the last thread out puts the
original stream back (unless someone else replaced ``sys.stdout`` meanwhile).
"""
import contextlib
import sys
import threading

__all__ = ["quiet_stdout"]

_lock = threading.Lock()
_depth = {}          # thread id -> nesting depth inside quiet_stdout
_state = {"orig": None, "filter": None}


class _Filter(object):
    def __init__(self, target):
        self._target = target

    def write(self, s):
        if _depth.get(threading.get_ident()):
            return len(s)
        return self._target.write(s)

    def flush(self):
        if not _depth.get(threading.get_ident()):
            self._target.flush()

    def __getattr__(self, name):
        return getattr(self._target, name)


@contextlib.contextmanager
def quiet_stdout():
    tid = threading.get_ident()
    with _lock:
        if not _depth:
            _state["orig"] = sys.stdout
            _state["filter"] = _Filter(sys.stdout)
            sys.stdout = _state["filter"]
        _depth[tid] = _depth.get(tid, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _depth[tid] -= 1
            if not _depth[tid]:
                del _depth[tid]
            if not _depth:
                if sys.stdout is _state["filter"]:
                    sys.stdout = _state["orig"]
                _state["orig"] = _state["filter"] = None
