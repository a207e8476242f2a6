"""FrameSource: lazy, bounded, read-ahead access to the frames of a plate.

    with FrameSource("/shots/sh010/plate.####.exr", "1001-1100", colour=ColourTransform()) as src:
        src.prefetch(reversed(src.frames))        # optional: the order frames will be asked for
        plate = src.get(1100)                     # stages.Plate (linear + display, canvas sized)

* Memory is bounded: at most ``max(cache_frames, readahead + 1)`` decoded frames are held (an LRU
  cache that also holds the read-ahead frames), whatever the shot length.
* Read-ahead: after each ``get(f)`` a background thread decodes the next ``readahead`` frames that
  follow ``f`` in the prefetch order (ascending frames unless :meth:`FrameSource.prefetch` gave
  another order). An error met in the background is re-raised by ``get()`` of that frame.
* Each frame is read once straight into float32 by OIIO and its display image made once (OCIO, or
  the sRGB OETF when ``colour`` is None; display-referred files such as PNG/JPEG keep their own
  values, unless ``colour`` names their colourspace explicitly: then OCIO decodes them from it, the
  linear pixels in the config's ``scene_linear``). The arrays of a returned Plate are shared with the
  cache and marked read-only: copy them before changing them.
* Thread-safe: ``get`` may be called from several threads.
* Flat memory: on Linux/glibc the first FrameSource fixes malloc's mmap threshold at 4 MiB
  (``mallopt(M_MMAP_THRESHOLD)``, unless ``MALLOC_MMAP_THRESHOLD_`` is set). glibc otherwise raises the
  threshold to the size of the first freed frame buffer (up to 32 MiB) and later frames come from
  per-thread heaps that fragment: measured here, peak RSS over 60 frames of 2048x1080 was 9 % above
  that over 10 frames; with the fixed threshold both were equal (437 MB).
"""
import bisect
import logging
import os
import sys
import threading
from collections import OrderedDict, deque
from dataclasses import replace

from ..colour import srgb_oetf
from ..errors import MissingFrameError, PlateError, SamatteError
from ..frames import parse_frames
from ..stages import Plate
from .exr import _check_windows, _wstr, check_header, fix_nonfinite, read_frame, read_header, read_info
from .sequence import as_pattern

__all__ = ["FrameSource", "plate_canvas"]

log = logging.getLogger("samatte.io")

_MALLOC_TUNED = False


def _fix_mmap_threshold():
    """Keep large buffers on mmap so freed frames go back to the OS (see the module docstring)."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD = -3 (glibc malloc.h)
    except (OSError, AttributeError):  # not glibc
        pass


def plate_canvas(pattern, frames, *, layer=None, first_info=None):
    """The canvas of a plate's ``frames``: ``(info, place, headers)``.

    The first frame's data window when every frame has it (the usual plate, overscan or a constant
    bbox, kept as the file stores it; ``place`` False); when data windows vary from frame to frame
    (what Nuke writes for a plate whose bbox moves -- behind an animated Transform or a stabilise --
    or a renderer's auto-crop), the display window, every frame to be read into it (``place`` True):
    black outside the frame's own data window, as Nuke shows it, and a frame's pixels past the format
    left out. Decided from the headers of all of ``frames``, so every chunk of a farm job, whatever
    frames it runs, and ``samatte status`` work on the same canvas. ``headers``: frame -> its header's
    PlateInfo, or the SamatteError opening it raised (for the caller to raise when it needs the frame).
    ``first_info``: the first frame's PlateInfo, when the caller has it."""
    pattern = as_pattern(pattern)
    frames = list(frames)
    first = frames[0]
    info = first_info if first_info is not None else read_info(pattern.path(first), layer=layer)
    headers = {}
    varies = None
    for f in frames[1:]:
        try:
            h = read_header(pattern.path(f), layer=layer, frame=int(f))
        except SamatteError as e:   # raised again by check_headers / get
            headers[int(f)] = e
            continue
        headers[int(f)] = h
        if varies is None and h.display == info.display and h.data != info.data:
            varies = (f, h.data)
    if varies is None:
        return info, False, headers
    d = info.display
    log.info("%s: data windows vary from frame to frame (frame %s %s, frame %s %s): every frame is read "
             "into the display window %dx%d (black outside a frame's own data window)",
             pattern.source, first, _wstr(info.data), varies[0], _wstr(varies[1]), d.width, d.height)
    return replace(info, data=d), True, headers


class FrameSource:
    """Frames of one plate, see the module docstring.

    ``FrameSource(pattern, frames=None, *, layer=None, colour=None, on_nonfinite="fix",
    cache_frames=6, readahead=3)``: ``pattern`` a path pattern (``####``, ``%04d``, ``$F4``, ``@``) or
    a :class:`SequencePattern`; ``frames`` a frame range (anything :func:`samatte.frames.parse_frames`
    takes) or None for the range written in the pattern, else the frames on disk; ``colour`` a
    :class:`samatte.colour.ColourTransform` or None (plain sRGB OETF).
    """

    _IDLE_EXIT_S = 2.0

    def __init__(self, pattern, frames=None, *, layer=None, colour=None, on_nonfinite="fix", cache_frames=6,
                 readahead=3):
        _fix_mmap_threshold()
        self.pattern = as_pattern(pattern)
        if on_nonfinite not in ("fix", "error"):
            raise PlateError("on_nonfinite must be 'fix' or 'error', not %r" % (on_nonfinite,))
        for name, v, lo in (("cache_frames", cache_frames, 1), ("readahead", readahead, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise PlateError("%s must be an integer >= %d, not %r" % (name, lo, v))
        if frames is None:
            frames = self.pattern.default_frames()
            if not frames:
                raise MissingFrameError("no frames found on disk for %s%s"
                                        % (self.pattern.source, self.pattern.padding_hint()),
                                        path=self.pattern.source)
        self.frames = parse_frames(list(frames) if not isinstance(frames, (str, int)) else frames)
        self.layer = layer
        self.colour = colour
        self.on_nonfinite = on_nonfinite
        self.cache_frames = cache_frames
        self.readahead = readahead
        #: the most decoded frames held at once
        self.capacity = max(cache_frames, readahead + 1)
        first = self.frames[0]
        try:
            self.info = read_info(self.pattern.path(first), layer=layer)
        except PlateError as e:
            e.details.setdefault("frame", first)
            raise
        # the canvas (the display window when data windows vary: plate_canvas), whether frames are read
        # into it, and frame -> its header's PlateInfo or the SamatteError opening it raised (the first
        # look at every frame, reused by check_headers)
        self.info, self._place, self._headers = plate_canvas(self.pattern, self.frames, layer=layer,
                                                             first_info=self.info)
        self._cond = threading.Condition()
        self._cache = OrderedDict()
        self._loading = set()
        self._errors = {}
        self._queue = deque()
        self._thread = None
        self._closed = False
        self._set_order(self.frames)
        #: counters: frames decoded, by the read-ahead thread, cache hits, the most held at once,
        #: non-finite values fixed
        self.stats = {"decoded": 0, "prefetched": 0, "hits": 0, "max_cached": 0, "nonfinite": 0}
        #: the frames whose pixels were decoded whole in this source's life (read, or checked)
        self._read_whole = set()

    # -- public ----------------------------------------------------------------------------------
    def path(self, frame):
        return self.pattern.path(frame)

    def get(self, frame):
        """The :class:`samatte.stages.Plate` of host frame ``frame`` (decoded now, or taken from the
        cache / read-ahead). Raises the frame's MissingFrameError, CorruptFrameError, PlateError,
        ChannelError or NaNPixelError."""
        frame = int(frame)
        with self._cond:
            while True:
                if self._closed:
                    raise PlateError("the frame source of %s is closed" % self.pattern.source)
                plate = self._cache.get(frame)
                if plate is not None:
                    self._cache.move_to_end(frame)
                    self.stats["hits"] += 1
                    break
                if frame in self._errors:
                    err = self._errors.pop(frame)
                    self._schedule_after(frame)
                    raise err
                if frame in self._loading:
                    self._cond.wait()
                    continue
                self._loading.add(frame)
                break
            self._schedule_after(frame)
        if plate is not None:
            return plate
        try:
            plate = self._load(frame)
        except BaseException:
            with self._cond:
                self._loading.discard(frame)
                self._cond.notify_all()
            raise
        with self._cond:
            self._loading.discard(frame)
            self._store(frame, plate)
            self._cond.notify_all()
        return plate

    __getitem__ = get

    def check_headers(self, frames):
        """Open each frame's header (no pixels): the MissingFrameError, CorruptFrameError, ChannelError
        or PlateError (a display window unlike the first frame's) that reading it would raise, now."""
        for f in frames:
            f = int(f)
            got = self._headers.get(f)
            if got is None:
                check_header(self.pattern.path(f), layer=self.layer, expect=self.info, frame=f, place=self._place)
            elif isinstance(got, SamatteError):
                raise got
            else:
                _check_windows(got, self.info, self.pattern.path(f), f, self._place)

    def check_pixels(self, frames):
        """Decode the pixels of each of ``frames`` not decoded yet (kept nowhere: one frame at a time per caller):
        the CorruptFrameError of a file damaged past a good header (truncated, a bad chunk) and, with
        ``on_nonfinite="error"``, the NaNPixelError that reading it would raise, now. Returns the frames
        decoded."""
        todo = [int(f) for f in frames if int(f) not in self._read_whole]
        for f in todo:
            path = self.pattern.path(f)
            fd = read_frame(path, layer=self.layer, expect=self.info, frame=f, place=self._place)
            if self.on_nonfinite == "error":
                fix_nonfinite(fd.linear, mode="error", frame=f, path=path, stored=len(fd.info.channels))
            del fd
            with self._cond:
                self._read_whole.add(f)
        return todo

    def prefetch(self, frames_in_order):
        """Tell the source the order frames will be asked for (e.g. descending for a backward pass;
        a frame may appear more than once, e.g. keyframes first, then the pass); read-ahead follows
        it from now on, from its start, and starts on its first frames at once."""
        order = [int(f) for f in frames_in_order]
        with self._cond:
            self._set_order(order)
            self._queue = deque(f for f in order[:self.readahead] if f not in self._cache and f not in self._loading)
            self._errors = {f: e for f, e in self._errors.items() if f in self._pos}
            self._wake()

    def cached_frames(self):
        """Frames decoded and held right now (oldest use first)."""
        with self._cond:
            return list(self._cache)

    def close(self):
        """Stop the read-ahead thread and drop the cache. Safe to call twice."""
        with self._cond:
            self._closed = True
            self._cache.clear()
            self._queue.clear()
            self._errors.clear()
            self._cond.notify_all()
            t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __len__(self):
        return len(self.frames)

    def __iter__(self):
        """Plates of every frame, in order."""
        for f in self.frames:
            yield self.get(f)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- internals -------------------------------------------------------------------------------
    def _set_order(self, order):
        self._order = order
        self._pos = {}  # frame -> every index where it occurs in the order (a frame may come twice)
        for i, f in enumerate(order):
            self._pos.setdefault(f, []).append(i)
        self._cursor = 0  # where in the order the last get() was

    def _schedule_after(self, frame):
        """(lock held) queue the ``readahead`` frames that follow ``frame`` in the prefetch order."""
        if self.readahead <= 0:
            return
        where = self._pos.get(frame)
        if where is None:
            return
        k = bisect.bisect_left(where, self._cursor)
        i = where[k] if k < len(where) else where[0]
        self._cursor = i + 1
        upcoming = self._order[i + 1:i + 1 + self.readahead]
        self._queue = deque(f for f in upcoming if f not in self._cache and f not in self._loading
                            and f not in self._errors)
        keep = set(upcoming)
        keep.add(frame)
        self._errors = {f: e for f, e in self._errors.items() if f in keep}
        if self._queue:
            self._wake()

    def _wake(self):
        if self._thread is None and not self._closed and self.readahead > 0:
            self._thread = threading.Thread(target=self._worker, name="samatte-readahead", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def _store(self, frame, plate):
        """(lock held) put a plate in the LRU cache, evicting the least recently used."""
        if self._closed:
            return
        self._cache[frame] = plate
        self._cache.move_to_end(frame)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        if len(self._cache) > self.stats["max_cached"]:
            self.stats["max_cached"] = len(self._cache)

    def _worker(self):
        while True:
            with self._cond:
                if not self._closed and not self._queue:
                    # idle: wait a little, then end the thread so an unclosed source can be freed
                    self._cond.wait(timeout=self._IDLE_EXIT_S)
                if self._closed or not self._queue:
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return
                f = self._queue.popleft()
                if f in self._cache or f in self._loading or f in self._errors:
                    continue
                self._loading.add(f)
            err = plate = None
            try:
                plate = self._load(f)
            except Exception as e:  # re-raised by get(f)
                err = e
            with self._cond:
                self._loading.discard(f)
                if self._closed:
                    self._cond.notify_all()
                    return
                if err is not None:
                    self._errors[f] = err
                else:
                    self._store(f, plate)
                    self.stats["prefetched"] += 1
                self._cond.notify_all()

    def _load(self, frame):
        path = self.pattern.path(frame)
        fd = read_frame(path, layer=self.layer, expect=self.info, frame=frame, place=self._place)
        linear = fd.linear
        # a greyscale plate's one channel is read into R, G and B: its values are counted once
        n = fix_nonfinite(linear, mode=self.on_nonfinite, frame=frame, path=path, stored=len(fd.info.channels))
        if fd.display is not None and not getattr(self.colour, "colourspace_explicit", False):
            display = fd.display   # an integer file (PNG, JPEG) in no named colourspace: sRGB as stored
        elif self.colour is not None:
            # the file's own values: an integer file's as stored, a float file's (linear). Decoded with
            # OCIO from the colourspace the job names when they are not scene-linear light: any integer
            # file (a log DPX, a linear 16-bit TIFF), a float one in a log or video colourspace (ACEScct,
            # an sRGB-encoded EXR), so the linear solves and the foreground layer get scene-linear light
            stored = fd.display if fd.display is not None else linear
            display = self.colour.to_display(stored)
            if fd.display is not None or getattr(self.colour, "nonlinear", False):
                linear = self.colour.to_scene_linear(stored, out=linear)
                # a log code value past float's range (ACEScct 8, or the 65504 a stored +inf became)
                # decodes to inf: it becomes 65504 as a linear plate's +inf does (inf would turn the
                # foreground solve's whole edge band to NaN)
                n += fix_nonfinite(linear, mode="fix", frame=frame, path=path)
        else:
            display = srgb_oetf(linear)
        linear.flags.writeable = False
        display.flags.writeable = False
        with self._cond:
            self.stats["decoded"] += 1
            self.stats["nonfinite"] += n
            self._read_whole.add(frame)
        return Plate(frame=frame, linear=linear, display=display, info=self.info)

    def __repr__(self):
        return "FrameSource(%r, %d frames, %dx%d)" % (self.pattern.source, len(self.frames), self.info.width,
                                                       self.info.height)
