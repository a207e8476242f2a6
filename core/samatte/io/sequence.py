"""Frame sequence patterns: one path per host frame number.

Accepted frame tokens (exactly one per pattern, in the file name or anywhere in the path)::

    plate.####.exr     Nuke style: one '#' per digit of padding  -> plate.1001.exr  ("#" = no padding)
    plate.@@@@.exr     one '@' per digit of padding (same as '#'); an '@' with a letter or digit on
                       both sides is part of the name (``GoogleDrive-me@gmail.com``, ``user@host``)
    plate.%04d.exr     printf style ("%d" = no padding)
    plate.$F4.exr      Houdini style ("$F" = no padding)

Padding follows printf (``%0Nd``) semantics everywhere: the width counts the sign, so frame -5 with
``####`` is ``-005``; frame 12345 with ``####`` is ``12345`` (padding never truncates). Frames are the
host's numbers (1001...); negative frames are allowed.

A fileseq-style frame range (with a ``-`` or a ``,``) may stand right before a ``#``/``@`` token:
``plate.1001-1100x2####.exr`` or ``plate.1001-1010,1020####.exr``; it is exposed as
:attr:`SequencePattern.frames` (sorted, unique) and removed from the pattern. A lone number before the
token stays part of the name (``take2####`` is not frame 2).

A pattern without a frame token names one file that serves every frame (a still):
``has_frame_token`` is False and :meth:`SequencePattern.frames_on_disk` returns [] (give the frames).

fileseq is not needed: this module follows the hosts' own conventions (fileseq's ``#`` means four
digits by default, Nuke's means one).
"""
import os
import re

from ..errors import FrameRangeError, PlateError
from ..frames import parse_frames

__all__ = ["SequencePattern", "as_pattern"]

# one frame token: '#' runs, '@' runs (not one inside a word: an e-mail address or user@host, as in
# Google Drive's CloudStorage/GoogleDrive-me@gmail.com folder), %0Nd / %d, $FN / $F
_AT = r"(?<![^\W_])(?<!@)@+|@+(?![^\W_])(?!@)"
_TOKEN = re.compile(r"(?P<hash>#+|%s)|%%(?P<pct>0?\d*)d|\$F(?P<houdini>\d*)(?![A-Za-z_])" % _AT)
# a fileseq-style range just before a hash/@ token: 1001-1100x2 / 1001,1005 / -5--1
_RANGE = re.compile(r"(?P<range>-?\d+(?:--?\d+(?:[xX:]\d+)?)?(?:,-?\d+(?:--?\d+(?:[xX:]\d+)?)?)*)$")


def _where(pattern, matches):
    """Where each frame token of ``pattern`` lies: ``'#' in folder 'job #12', '####' in the file name``."""
    seps = os.sep + (os.altsep or "")
    out = []
    for m in matches:
        if any(c in pattern[m.end():] for c in seps):
            start = max(pattern.rfind(c, 0, m.start()) for c in seps) + 1
            end = min(i for i in (pattern.find(c, m.end()) for c in seps) if i >= 0)
            out.append("%r in folder %r" % (m.group(0), pattern[start:end]))
        else:
            out.append("%r in the file name" % m.group(0))
    return ", ".join(out)


def _folder_advice(pattern, matches):
    """What to do when a token lies in a folder's name (a project in ``Shot #3``): samatte has no escape."""
    seps = os.sep + (os.altsep or "")
    if not any(any(c in pattern[m.end():] for c in seps) for m in matches):
        return ""
    return (": a '#', '%d', '$F' or '@' (alone) in a folder's name is read as a frame token too; rename that "
            "folder, or use one without it")


class SequencePattern:
    """A frame-numbered path pattern (see the module docstring for the accepted forms).

    ``path(frame)`` gives the file of a host frame; ``frames_on_disk()`` lists the frames whose file
    exists, sorted; ``frames`` is the explicit range written in the pattern, or None.
    """

    def __init__(self, pattern):
        if isinstance(pattern, SequencePattern):
            pattern = pattern.pattern
        if not isinstance(pattern, (str, os.PathLike)):
            raise PlateError("a sequence pattern must be a string or a path, not %s" % type(pattern).__name__)
        pattern = os.fspath(pattern)
        if not pattern.strip():
            raise PlateError("sequence pattern is empty")
        self.source = pattern
        self.frames = None
        matches = list(_TOKEN.finditer(pattern))
        if len(matches) > 1:
            raise PlateError("sequence pattern %r has %d frame tokens (%s); use exactly one (####, %%04d, $F4 or @)%s"
                             % (pattern, len(matches), _where(pattern, matches), _folder_advice(pattern, matches)),
                             path=pattern)
        if not matches:
            self._prefix, self._suffix, self.padding, self.has_frame_token = pattern, "", 0, False
            self.pattern = pattern
            return
        m = matches[0]
        prefix, suffix = pattern[:m.start()], pattern[m.end():]
        if m.group("hash") is not None:
            pad = len(m.group("hash"))
            pad = 0 if pad == 1 else pad
            rm = _RANGE.search(prefix)
            if rm and ("-" in rm.group("range")[1:] or "," in rm.group("range")):
                try:
                    self.frames = parse_frames(rm.group("range"))
                except FrameRangeError as e:
                    raise FrameRangeError("cannot parse the frame range in pattern %r: %s" % (pattern, e.message),
                                          path=pattern)
                prefix = prefix[:rm.start()]
        elif m.group("pct") is not None:
            pad = int(m.group("pct") or 0)
        else:
            pad = int(m.group("houdini") or 0)
        self._prefix, self._suffix, self.padding, self.has_frame_token = prefix, suffix, pad, True
        self.pattern = prefix + ("%%0%dd" % pad if pad > 1 else "%d") + suffix

    # -- paths -----------------------------------------------------------------------------------
    def format_frame(self, frame):
        """The frame number as it appears in file names (printf padding, sign included)."""
        return "%0*d" % (self.padding, int(frame)) if self.padding > 1 else "%d" % int(frame)

    def path(self, frame):
        """The path of host frame ``frame``."""
        if not self.has_frame_token:
            return self._prefix
        if isinstance(frame, bool) or not isinstance(frame, (int,)) and not hasattr(frame, "__index__"):
            raise FrameRangeError("frame must be an integer, got %r" % (frame,))
        return self._prefix + self.format_frame(int(frame)) + self._suffix

    __call__ = path

    @property
    def directory(self):
        """The folder part of the pattern before any frame token (or "" for the current folder)."""
        return os.path.dirname(self._prefix) if os.sep in self._prefix or (os.altsep and os.altsep in self._prefix) \
            else ""

    def default_frames(self):
        """The frames a job takes when it names none: the pattern's own range, else those on disk."""
        return list(self.frames or self.frames_on_disk())

    def frames_on_disk(self):
        """Sorted host frames whose file exists. Files whose number is not written the way
        :meth:`path` writes it (wrong padding) are not counted. A still (no token) gives []."""
        if not self.has_frame_token:
            return []
        prefix, suffix = self._prefix, self._suffix
        if os.sep in suffix or (os.altsep and os.altsep in suffix):
            # the token is in a folder name: match the folders, then check each frame's file exists
            return self._scan(os.path.dirname(prefix), os.path.basename(prefix), suffix.split(os.sep, 1)[0],
                              lambda f: os.path.exists(self.path(f)))
        return self._scan(os.path.dirname(prefix), os.path.basename(prefix), suffix)

    def padding_hint(self):
        """For an error about missing frames: when files of this sequence are on disk with their number
        written another way (``plate.01001.exr`` for ``plate.####.exr``: another padding), a clause
        naming one and the pattern that reads it; else "". Those files are never read as the
        pattern's frames (a host would not either)."""
        if not self.has_frame_token or os.sep in self._suffix or (os.altsep and os.altsep in self._suffix):
            return ""
        folder, head = os.path.dirname(self._prefix), os.path.basename(self._prefix)
        try:
            names = os.listdir(folder or ".")
        except OSError:
            return ""
        rx = re.compile(re.escape(head) + r"(-?\d+)" + re.escape(self._suffix) + r"$")
        other = []
        for n in names:
            m = rx.match(n)
            if m and self.format_frame(int(m.group(1))) != m.group(1):
                other.append((int(m.group(1)), n, len(m.group(1))))
        if not other:
            return ""
        _, name, width = min(other)
        return "; files numbered with another padding are there (%s): the pattern for them is %s" % (
            name, self._prefix + ("#" * width if width > 1 else "#") + self._suffix)

    def _scan(self, folder, head, tail, keep=None):
        """Frames f for which ``head + format_frame(f) + tail`` is an entry of ``folder`` (and
        ``keep(f)``, when given), sorted."""
        try:
            names = os.listdir(folder or ".")
        except OSError:
            return []
        rx = re.compile(re.escape(head) + r"(-?\d+)" + re.escape(tail) + r"$")
        out = set()
        for n in names:
            m = rx.match(n)
            if m:
                f = int(m.group(1))
                if self.format_frame(f) == m.group(1) and (keep is None or keep(f)):
                    out.add(f)
        return sorted(out)

    def __repr__(self):
        return "SequencePattern(%r)" % self.source

    def __eq__(self, other):
        return isinstance(other, SequencePattern) and other.pattern == self.pattern

    def __hash__(self):
        return hash(self.pattern)


def as_pattern(pattern):
    """A :class:`SequencePattern` from a pattern string, a path or a SequencePattern."""
    return pattern if isinstance(pattern, SequencePattern) else SequencePattern(pattern)
