"""Frame ranges in host frame numbers ("1001-1100", "1001-1100x2", "1001,1005,1010-1020").

Standard library only, Python 3.9 (adapters and the JobSpec use it). Frames are always the host's
numbers, never 0-based indices.
"""
import operator
import re
from collections.abc import Iterable, Mapping

from .errors import FrameRangeError, JobSpecError

__all__ = ["parse_frames", "format_frames", "whole_number", "MAX_FRAMES"]

#: A sanity limit so that a typo ("1-1000000000") fails fast instead of allocating.
MAX_FRAMES = 1000000

_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:[xX:]\s*(-?\d+)\s*)?)?$")


def _whole(f):
    """``f`` as an int when it is a whole-number type (int, numpy's integers: ``operator.index``; never a
    bool, numpy's included (``operator.index(np.True_)`` is 1), a float, a string or an array of several),
    else None."""
    if isinstance(f, (bool, str, bytes, bytearray)) or getattr(getattr(f, "dtype", None), "kind", None) == "b":
        return None
    try:
        return operator.index(f)
    except TypeError:
        return None


def whole_number(value, field, *, minimum=0):
    """``value`` as an int >= ``minimum`` for a count given from Python (a chunk size, a pre-roll, a
    timeout): an int (numpy's integers too) or a float with no fraction (``10.0``, as a Nuke knob gives
    it); a bool, a fraction, a string, NaN or a smaller number is JobSpecError (JOBSPEC_INVALID,
    ``field``), never cut or coerced to some other number."""
    n = _whole(value)
    if n is None and isinstance(value, float) and value.is_integer():
        n = int(value)
    if n is None or n < minimum:
        raise JobSpecError("%s must be a whole number >= %d, not %r" % (field, minimum, value), field=field)
    return n


def _frame_number(f, spec):
    """``f`` as an int (:func:`_whole`), else FrameRangeError."""
    n = _whole(f)
    if n is not None:
        return n
    raise FrameRangeError("frame list must contain only whole numbers (ints), got %r (%s)"
                          % (f, type(f).__name__), value=repr(spec)[:200])


def parse_frames(spec):
    """Parse a frame range into a sorted list of unique ints.

    Accepts an int, a list/tuple (or any other iterable: a ``range``, a set, a numpy array) of ints
    (numpy's integer types too), or a string of comma-separated parts, each ``N``, ``A-B`` or
    ``A-BxSTEP`` (also ``A-B:STEP``); negative frames are allowed (``-5--1``).
    Raises :class:`FrameRangeError` for anything else (a bool, a float, a dict) or an empty result.
    """
    frames: "set[int]" = set()
    if isinstance(spec, bool):
        raise FrameRangeError("frame range must be a string, an int or a list of ints, not a bool",
                              value=repr(spec))
    if isinstance(spec, str):
        if not spec.strip():
            raise FrameRangeError("frame range is empty", value=spec)
        for part in spec.split(","):
            if not part.strip():
                continue
            m = _PART.match(part)
            if not m:
                raise FrameRangeError("cannot parse frame range part %r (use e.g. 1001-1100, 1001-1100x2, 1001,1005)"
                                      % part.strip(), value=spec)
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) is not None else a
            step = int(m.group(3)) if m.group(3) is not None else 1
            if step <= 0:
                raise FrameRangeError("frame step must be positive in %r" % part.strip(), value=spec)
            if b < a:
                raise FrameRangeError("frame range %r ends before it starts" % part.strip(), value=spec)
            if (b - a) // step + 1 + len(frames) > MAX_FRAMES:
                raise FrameRangeError("frame range %r has more than %d frames" % (spec, MAX_FRAMES), value=spec)
            frames.update(range(a, b + 1, step))
    elif _whole(spec) is not None:   # an int, or numpy's integer scalars (a TD's np.int64 frame)
        frames.add(_whole(spec))
    elif isinstance(spec, (bytes, bytearray, Mapping)) or not isinstance(spec, Iterable):
        raise FrameRangeError("frame range must be a string, an int or a list of ints, not %s"
                              % type(spec).__name__, value=repr(spec)[:200])
    else:   # a list, tuple, range, set, numpy array...
        try:
            items = iter(spec)
        except TypeError:   # a 0-d numpy array that is no whole number (np.array(1.5), np.array(True))
            raise FrameRangeError("frame range must be a string, an int or a list of ints, not %r" % (spec,),
                                  value=repr(spec)[:200]) from None
        for f in items:
            frames.add(_frame_number(f, spec))
            if len(frames) > MAX_FRAMES:
                break
    if not frames:
        raise FrameRangeError("frame range %r contains no frames" % (spec,), value=repr(spec)[:200])
    if len(frames) > MAX_FRAMES:
        raise FrameRangeError("frame range has more than %d frames" % MAX_FRAMES)
    return sorted(frames)


def format_frames(frames, step_sep="x"):
    """Compact string for a list of frames: [1001..1100] -> "1001-1100", steps -> "1001-1099x2" (a run
    of three or more frames one step apart; ``step_sep=":"`` writes OpenJD's "1001-1099:2")."""
    frames = sorted(set(int(f) for f in frames))
    if not frames:
        return ""
    parts = []
    i = 0
    n = len(frames)
    while i < n:
        j = i
        if i + 1 < n:
            step = frames[i + 1] - frames[i]
            while j + 1 < n and frames[j + 1] - frames[j] == step:
                j += 1
        if j - i >= 2 or (j - i == 1 and step == 1):
            if step == 1:
                parts.append("%d-%d" % (frames[i], frames[j]))
            else:
                parts.append("%d-%d%s%d" % (frames[i], frames[j], step_sep, step))
            i = j + 1
        else:
            parts.append("%d" % frames[i])
            i += 1
    return ",".join(parts)
