"""Turn validated JobSpec prompts into tracker prompts on the canvas.

:func:`prepare_objects` converts every prompt of every tracked object (objects with ``prompts``) from
display-window pixels to canvas pixels (:meth:`samatte.stages.PlateInfo.display_to_canvas`) and
rasterises the dense ones:

* ``polygon`` / ``bezier``: rasterised with sub-pixel precision (area coverage from 4x4 samples per pixel); the prompt gets a bool
  ``"mask_array"`` (H, W) (the pixels whose centre is inside the shape, non-zero winding; a centre
  exactly on a left / top edge is inside, on a right / bottom edge outside, so a rectangle takes the
  same pixels as a ``box`` with its corners and as the same bezier with zero handles, whatever the
  order or direction of its points) and a float32 ``"soft_array"`` in [0, 1] (the coverage, on the
  mask's side of 0.5 where the two disagree, widened by the prompt's ``feather``); ``invert`` flips
  both.
* ``mask``: read with :func:`samatte.io.masks.read_mask` (float [0, 1] on the canvas), thresholded at
  the prompt's ``threshold`` (``value >= threshold``; ``invert`` flips) into ``"mask_array"``; the
  float image is kept as ``"soft_array"``.
* ``box`` / ``points``: stay coordinates, converted to canvas pixels. Boxes are clipped to the canvas;
  points outside the canvas are dropped (with their labels). A points prompt may be negative-only (a
  correction click).
* an open ``polygon`` / ``bezier`` (``closed: false``): becomes a ``points`` prompt (with ``"stroke"``
  set to the original type) of points evenly spaced along the stroke (at most
  :data:`STROKE_MAX_POINTS`, at least :data:`STROKE_MIN_SPACING` px apart), positive, or negative for
  ``mode: subtract``.
* ``mode`` (add / subtract) is kept on dense prompts and boxes; the trackers combine them
  (:mod:`samatte.track.seed`: subtract shapes are removed from the union of the frame's add shapes;
  points and subtract-only frames correct the tracked mask, they are not new shapes).

Coordinate convention: continuous pixel coordinates, pixel (i, j) covers [i, i+1) x [j, j+1) and its
centre is (i + 0.5, j + 0.5), as in Nuke. So the polygon [[0,0],[10,0],[10,10],[0,10]] covers exactly
the 10x10 pixels at the corner, and a shape takes a pixel when the pixel's centre is inside it.

The rasters are lazy: a prepared polygon / bezier / mask prompt holds its geometry (or its file's
path), and ``"mask_array"`` / ``"soft_array"`` are computed when a tracker reads them (``p["mask_array"]``,
``p.get(...)``, ``"mask_array" in p`` as before; :class:`LazyRasterPrompt`), with the same bytes; the
last few computed stay in a cache of at most :data:`RASTER_CACHE_BYTES`. So the memory of a job no
longer grows with the number of keyed prompts (a roto keyed on every frame of a long shot). Every
check below still runs up front, in :func:`prepare_objects`, before any frame is tracked or written
(each prompt rasterised or read once there, the raster dropped).

Raises :class:`samatte.errors.PromptError` (code ``PROMPT_INVALID``) for a prompt that lies entirely
outside the canvas, rasterises to nothing (or to everything once inverted), a mask image whose
thresholded area is 0, points that all fall outside the canvas, or a prompt on a frame outside the job.
"""
import itertools
import math
import threading
import weakref
from collections import OrderedDict, deque

import numpy as np

from .errors import PlateError, PromptError
from .stages import TrackerObject

__all__ = ["prepare_objects", "require_prompt_frames", "prepare_prompt", "subtract_shapes", "subtract_cuts", "rasterise_polygon", "bezier_to_polygon",
           "feather_mask", "sample_polyline", "agree_with_mask", "LazyRasterPrompt", "RASTER_CACHE_BYTES",
           "clear_raster_cache"]

#: supersampling factor for the anti-aliased coverage of polygons
_AA = 4

#: the most bytes of computed prompt rasters kept for reuse (the newest one is always kept); past it the
#: least recently used are dropped and computed again when asked for, with the same bytes
RASTER_CACHE_BYTES = 64 << 20
_RASTER_KEYS = ("mask_array", "soft_array")
_raster_cache = OrderedDict()   # prompt token -> (mask_array, soft_array)
_raster_lock = threading.Lock()
_tokens = itertools.count()
#: tokens of prompts collected, whose rasters leave the cache at its next use (see :func:`_cache_drop`)
_dropped = deque()


def _drain():
    """Drop the cached rasters of the prompts collected since (with ``_raster_lock`` held)."""
    while _dropped:
        _raster_cache.pop(_dropped.popleft(), None)


def clear_raster_cache():
    """Drop every cached prompt raster (they are computed again when read)."""
    with _raster_lock:
        _drain()
        _raster_cache.clear()


def _cache_put(token, arrays):
    with _raster_lock:
        _drain()
        _raster_cache[token] = arrays
        _raster_cache.move_to_end(token)
        total = sum(a.nbytes + b.nbytes for a, b in _raster_cache.values())
        while total > RASTER_CACHE_BYTES and len(_raster_cache) > 1:
            _, (a, b) = _raster_cache.popitem(last=False)
            total -= a.nbytes + b.nbytes


def _cache_drop(token):
    """A prompt's finaliser: its rasters leave the cache. It never waits for ``_raster_lock``: the cyclic
    collector runs it on whichever thread allocates, which may be one inside the lock (a prompt in a reference
    cycle collected while its thread reads another prompt's raster): waiting there hung that thread for good.
    When the lock is busy the token waits in ``_dropped`` for the cache's next use."""
    _dropped.append(token)
    if _raster_lock.acquire(blocking=False):
        try:
            _drain()
        finally:
            _raster_lock.release()


class LazyRasterPrompt(dict):
    """A prepared polygon / bezier / mask prompt (a dict, as the trackers expect) whose ``"mask_array"``
    (bool (H, W)) and ``"soft_array"`` (float32 (H, W)) are computed on access by ``make()`` and shared
    through a small bounded cache, instead of being held for the whole job. ``p["mask_array"]``,
    ``p.get("soft_array")`` and ``"mask_array" in p`` work as on a plain dict holding the arrays; the
    arrays are read-only (a tracker that wants to change one copies it). Iteration, ``len``, ``keys`` and
    ``dict(p)`` see the other keys only; :meth:`materialise` gives a plain dict with both arrays."""

    def __init__(self, data, make, arrays=None):
        super().__init__(data)
        self._make = make
        self._token = next(_tokens)
        weakref.finalize(self, _cache_drop, self._token)
        if arrays is not None:
            self._store(arrays)

    def _store(self, arrays):
        mask, soft = arrays
        for a in (mask, soft):
            a.flags.writeable = False
        _cache_put(self._token, (mask, soft))
        return mask, soft

    def arrays(self):
        """(mask_array, soft_array), from the cache or computed now."""
        with _raster_lock:
            _drain()
            hit = _raster_cache.get(self._token)
            if hit is not None:
                _raster_cache.move_to_end(self._token)
                return hit
        return self._store(self._make())

    def _raster(self, key):
        return self.arrays()[_RASTER_KEYS.index(key)]

    def __missing__(self, key):
        if key in _RASTER_KEYS:
            return self._raster(key)
        raise KeyError(key)

    def __contains__(self, key):
        return key in _RASTER_KEYS or dict.__contains__(self, key)

    def get(self, key, default=None):
        if key in _RASTER_KEYS and not dict.__contains__(self, key):
            return self._raster(key)
        return dict.get(self, key, default)

    def materialise(self):
        """A plain dict of this prompt with its ``mask_array`` and ``soft_array``."""
        out = dict(self)
        out["mask_array"], out["soft_array"] = self.arrays()
        return out

    def copy(self):
        return LazyRasterPrompt(dict(self), self._make)

    def __reduce__(self):
        return (dict, (self.materialise(),))


def prepare_objects(job_objects, info, frames, *, origins=None):
    """Validated JobSpec objects -> list of :class:`samatte.stages.TrackerObject` (canvas coordinates).

    ``job_objects``: the ``objects`` list of a validated JobSpec (objects with ``masks`` — refine-only —
    are skipped). ``info``: the plate's :class:`PlateInfo`. ``frames``: the job's frames (host
    numbers); a prompt on another frame is a PromptError. ``origins`` (optional, one per object of
    ``job_objects``): ``(index of the object in the job's objects, [index in its prompts of each of
    its prompts here])``, for a caller that hands over some objects or some prompts of a job, so an
    error names the job's ``objects[i].prompts[j]``; default: their positions here.
    """
    fset = set(int(f) for f in frames) if frames is not None else None
    out = []
    for oi, ob in enumerate(job_objects):
        if not ob.get("prompts"):
            continue
        ji, pidx = origins[oi] if origins is not None else (oi, None)
        name = ob.get("name") or "object%d" % (ji + 1)
        by_frame = {}
        for pi, p in enumerate(ob["prompts"]):
            where = "objects[%d].prompts[%d]" % (ji, pi if pidx is None else pidx[pi])
            frame = int(p["frame"])
            if fset is not None and frame not in fset:
                raise _outside_frames(name, frame, where)
            q = prepare_prompt(p, info, where=where, object_name=name)
            by_frame.setdefault(frame, []).append(q)
        from .jobspec import object_absent
        tob = TrackerObject(name=name, prompts=dict(sorted(by_frame.items())), absent=frozenset(object_absent(ob)))
        from .track.seed import object_roles
        object_roles(tob)  # PromptError: no shape and no positive point left inside the canvas
        out.append(tob)
    return out


def require_prompt_frames(job_objects, frames):
    """PromptError (the one :func:`prepare_objects` gives) for the first prompt, in job order, on a frame
    not in ``frames``; for checks made before the prompts are prepared (cache keys, status)."""
    fset = set(int(f) for f in frames)
    for oi, ob in enumerate(job_objects):
        for pi, q in enumerate(ob.get("prompts") or ()):
            frame = int(q["frame"])
            if frame not in fset:
                raise _outside_frames(ob.get("name") or "object%d" % (oi + 1), frame,
                                      "objects[%d].prompts[%d]" % (oi, pi))


def subtract_shapes(job_objects):
    """frame -> [(object name, where, JobSpec prompt)] of the tracked objects' subtract shapes (closed
    ``mode: "subtract"`` mask / polygon / bezier / box prompts; an open stroke is negative points, not a
    shape), for :func:`subtract_cuts`."""
    from .jobspec import is_subtract_shape
    out = {}
    for oi, ob in enumerate(job_objects):
        if not ob.get("prompts"):
            continue
        name = ob.get("name") or "object%d" % (oi + 1)
        for pi, p in enumerate(ob["prompts"]):
            if is_subtract_shape(p):
                out.setdefault(int(p["frame"]), []).append((name, "objects[%d].prompts[%d]" % (oi, pi), p))
    return out


def subtract_cuts(entries, info):
    """object name -> its cut (float32 (H, W) in [0, 1], :func:`samatte.track.seed.subtract_cut`: the
    shapes rasterised as the trackers rasterise them, a polygon / bezier's feather a soft ramp) for one
    frame's entries of :func:`subtract_shapes`. The matting stage multiplies the object's alpha by
    ``1 - cut`` (``ObjectTrack.cut``)."""
    from .track.seed import subtract_cut
    by_name = {}
    for name, where, p in entries:
        by_name.setdefault(name, []).append(prepare_prompt(p, info, where=where, object_name=name))
    return {name: subtract_cut(qs, info.shape) for name, qs in by_name.items()}


def _outside_frames(name, frame, where):
    return PromptError("prompt of object %r on frame %d is outside the job's frames (at %s)"
                       % (name, frame, where), field=where, frame=frame, object=name)


def prepare_prompt(p, info, *, where="prompt", object_name=None):
    """One validated prompt dict -> the tracker form (canvas coordinates, rasterised masks)."""
    ptype = p["type"]
    q = {k: v for k, v in p.items() if k not in ("points", "box", "labels")}
    ctx = dict(field=where, frame=p.get("frame"), object=object_name)

    def conv(x, y):
        cx, cy = info.display_to_canvas(float(x), float(y))
        return [float(cx), float(cy)]

    if ptype in ("polygon", "bezier") and p.get("closed") is False:
        return _stroke_points(p, q, conv, info, where, ctx)
    prep = {"box": _prep_box, "points": _prep_points, "polygon": _prep_shape, "bezier": _prep_shape,
            "mask": _prep_mask}.get(ptype)
    if prep is None:
        raise PromptError("unknown prompt type %r (at %s)" % (ptype, where), **ctx)
    return prep(p, q, conv, info, where, ctx)


def _prep_box(p, q, conv, info, where, ctx):
    H, W = info.shape
    x0, y0 = conv(p["box"][0], p["box"][1])
    x1, y1 = conv(p["box"][2], p["box"][3])
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(W)), min(y1, float(H))
    if cx1 - cx0 < 1.0 or cy1 - cy0 < 1.0:
        raise PromptError("box prompt %r lies outside the canvas (%dx%d) (at %s)"
                          % (p["box"], W, H, where), **ctx)
    q["box"] = [cx0, cy0, cx1, cy1]
    return q


def _prep_points(p, q, conv, info, where, ctx):
    H, W = info.shape
    labels = p.get("labels") or [1] * len(p["points"])
    pts, labs = [], []
    for (x, y), lab in zip(p["points"], labels):
        cx, cy = conv(x, y)
        if 0.0 <= cx < W and 0.0 <= cy < H:
            pts.append([cx, cy])
            labs.append(int(lab))
    if not pts:
        raise PromptError("all points of the points prompt lie outside the canvas (%dx%d) (at %s)"
                          % (W, H, where), **ctx)
    q["points"] = pts
    q["labels"] = labs
    return q


def _canvas_points(p, conv):
    """A polygon prompt's vertices (N, 2) float64, or a bezier prompt's control points (one list of six
    per point: point, in handle, out handle), in canvas pixels."""
    if p["type"] == "polygon":
        return np.array([conv(x, y) for x, y in p["points"]], np.float64)
    return [conv(c[0], c[1]) + conv(c[2], c[3]) + conv(c[4], c[5]) for c in p["points"]]


def _prep_shape(p, q, conv, info, where, ctx):
    H, W = info.shape
    ptype = p["type"]
    pts = _canvas_points(p, conv)
    if ptype == "polygon":
        poly = pts
        q["points"] = poly.tolist()
    else:
        q["points"] = pts
        poly = bezier_to_polygon(pts)
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    if x1 <= 0 or y1 <= 0 or x0 >= W or y0 >= H:
        raise PromptError("%s prompt lies entirely outside the canvas (%dx%d) (at %s)"
                          % (ptype, W, H, where), **ctx)
    mask = rasterise_polygon(poly, (H, W), aa=1) > 0  # pixel centres inside
    if not mask.any():
        raise PromptError("%s prompt covers no pixel of the canvas (at %s)" % (ptype, where), **ctx)
    if p.get("invert") and mask.all():
        raise PromptError("inverted %s prompt leaves no pixel of the canvas (at %s)" % (ptype, where),
                          **ctx)
    del mask, poly  # checked; the rasters are made when a tracker reads them
    feather = float(p.get("feather", 0.0) or 0.0)
    invert = bool(p.get("invert"))

    def make():
        return _shape_arrays(pts if ptype == "polygon" else bezier_to_polygon(pts), (H, W), feather, invert)
    return LazyRasterPrompt(q, make)


def _shape_arrays(poly, shape, feather, invert):
    """(mask_array, soft_array) of a closed polygon (canvas pixels), see the module docstring."""
    mask = rasterise_polygon(poly, shape, aa=1) > 0  # pixel centres inside
    cov = agree_with_mask(rasterise_polygon(poly, shape), mask)
    soft = feather_mask(cov, feather)  # float32
    if invert:
        mask = ~mask
        soft = 1.0 - soft
    return mask, soft


def _prep_mask(p, q, conv, info, where, ctx):
    thr = float(p.get("threshold", 0.5))
    mask, soft = _mask_arrays(p, info, where, ctx)
    if not mask.any():
        raise PromptError("mask prompt %s is empty at threshold %g%s (at %s)"
                          % (p["path"], thr, " (inverted)" if p.get("invert") else "", where),
                          path=p["path"], **ctx)
    # read again when a tracker reads it after the cache dropped it (as plates are read when needed)
    return LazyRasterPrompt(q, lambda: _mask_arrays(p, info, where, ctx), arrays=(mask, soft))


def _mask_arrays(p, info, where, ctx):
    """(mask_array, soft_array) of a mask prompt: its file read onto the canvas and thresholded."""
    from .io.masks import read_mask, threshold_mask  # lazy: io may pull OpenImageIO
    try:
        m = read_mask(p["path"], info, channel=p.get("channel"))  # f32 (H, W) in [0, 1] on the canvas
    except PlateError as e:  # missing/corrupt file, wrong size, no such channel
        raise PromptError("mask prompt %s cannot be used: %s (at %s)" % (p["path"], e.message, where),
                          path=p["path"], cause=e.code, **ctx) from e
    mask = threshold_mask(m, float(p.get("threshold", 0.5)))
    soft = m
    if p.get("invert"):
        mask = ~mask
        soft = 1.0 - m
    return mask, soft


#: the float32 values next to 0.5: a coverage moved to the mask's side of 0.5 stays there once inverted
_HALF_UP = np.nextafter(np.float32(0.5), np.float32(1.0))
_HALF_DOWN = np.nextafter(np.float32(0.5), np.float32(0.0))


def agree_with_mask(cov, mask):
    """``cov`` (float32 coverage) moved just across 0.5 where it disagrees with the bool ``mask`` (a pixel
    whose centre is inside a shape but less than half covered, at a sharp corner, or the reverse), so that
    ``soft >= 0.5`` is the mask, and ``1 - soft >= 0.5`` its inverse. Returns float32."""
    cov = np.asarray(cov, np.float32)
    return np.where(mask, np.maximum(cov, _HALF_UP), np.minimum(cov, _HALF_DOWN)).astype(np.float32)


#: an open stroke becomes at most this many points, at least this many pixels apart
STROKE_MAX_POINTS = 48
STROKE_MIN_SPACING = 4.0


def sample_polyline(line, *, max_points=STROKE_MAX_POINTS, min_spacing=STROKE_MIN_SPACING):
    """Points evenly spaced along an open polyline (N, 2), both ends included: at most ``max_points``,
    at least ``min_spacing`` pixels apart (a short stroke gives fewer points). Returns (M, 2) float64."""
    line = np.asarray(line, np.float64).reshape(-1, 2)
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(cum[-1])
    if total <= 0:
        return line[:1].copy()
    n = int(max(2, min(max_points, math.floor(total / min_spacing) + 1)))
    t = np.linspace(0.0, total, n)
    return np.stack([np.interp(t, cum, line[:, 0]), np.interp(t, cum, line[:, 1])], axis=1)


def _stroke_points(p, q, conv, info, where, ctx):
    """An open polygon / bezier (``closed: false``): a points prompt with points sampled along the stroke,
    positive (negative for ``mode: subtract``); the points outside the canvas are dropped."""
    H, W = info.shape
    line = _canvas_points(p, conv)
    if p["type"] == "bezier":
        line = bezier_to_polygon(line, closed=False)
    pts = [[float(x), float(y)] for x, y in sample_polyline(line) if 0.0 <= x < W and 0.0 <= y < H]
    if not pts:
        raise PromptError("open %s stroke lies entirely outside the canvas (%dx%d) (at %s)"
                          % (p["type"], W, H, where), **ctx)
    lab = 0 if p.get("mode") == "subtract" else 1
    for k in ("invert", "feather", "mode", "closed"):
        q.pop(k, None)
    q.update(type="points", stroke=p["type"], points=pts, labels=[lab] * len(pts))
    return q


def bezier_to_polygon(cps, *, tolerance=0.25, closed=True):
    """Cubic bezier -> polygon (N, 2) float64 (an open polyline when ``closed`` is False).

    ``cps``: [x, y, in_x, in_y, out_x, out_y] per control point, handles absolute. Segment i runs from
    point i through its out handle and the in handle of point i+1 to point i+1; the last segment
    closes the shape (no closing segment, and the last point included, when open). Each segment is
    sampled finely enough that the chord error stays below ``tolerance`` pixels; a segment whose handles
    sit on its points (a corner point's zero handles) is the straight edge between them, one vertex,
    so such a bezier is exactly the polygon of its points.
    """
    c = np.asarray(cps, np.float64)
    n = len(c)
    out = []
    for i in range(n if closed else n - 1):
        p0 = c[i, 0:2]
        p1 = c[i, 4:6]
        p2 = c[(i + 1) % n, 2:4]
        p3 = c[(i + 1) % n, 0:2]
        if np.array_equal(p1, p0) and np.array_equal(p2, p3):
            out.append(p0[None, :])
            continue
        # control-polygon length bounds the curve length; the deviation bound of a cubic gives steps
        ln = np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p1) + np.linalg.norm(p3 - p2)
        dd = max(np.linalg.norm(p0 - 2 * p1 + p2), np.linalg.norm(p1 - 2 * p2 + p3))
        steps = int(min(4096, max(2, math.ceil(math.sqrt(3.0 * dd / (4.0 * tolerance))) if dd > 0 else 1,
                                  math.ceil(ln / 8.0))))
        t = np.linspace(0.0, 1.0, steps + 1)[:-1, None]
        mt = 1.0 - t
        pts = (mt ** 3) * p0 + 3 * (mt ** 2) * t * p1 + 3 * mt * (t ** 2) * p2 + (t ** 3) * p3
        out.append(pts)
    if not closed:
        out.append(c[n - 1:n, 0:2])
    return np.concatenate(out, axis=0)


def rasterise_polygon(poly, shape, *, aa=_AA):
    """Area coverage in [0, 1] (float32 (H, W)) of a closed polygon in continuous canvas coordinates.

    Exact point sampling at ``aa`` x ``aa`` sub-pixel sample centres per pixel with the non-zero
    winding rule (a vectorised scanline: each edge adds +-1 at the first sample right of its crossing
    on every sample row it spans, a cumulative sum along the row gives the winding number), then
    box-averaged: unbiased, so the coverage sums to the polygon's area up to sampling noise. Only the
    polygon's bounding box is sampled, in bands of rows, so memory stays small on large canvases.
    ``aa=1`` samples the pixel centres: 1 where a pixel's centre is inside (a centre on a left or top
    edge is inside, on a right or bottom edge outside). Each edge's crossings are computed from its
    upper end, so the result does not depend on the direction of the points or where they start.
    """
    H, W = shape
    poly = np.asarray(poly, np.float64).reshape(-1, 2)
    cov = np.zeros((H, W), np.float32)
    x0 = int(max(0, math.floor(poly[:, 0].min())))
    y0 = int(max(0, math.floor(poly[:, 1].min())))
    x1 = int(min(W, math.ceil(poly[:, 0].max())))
    y1 = int(min(H, math.ceil(poly[:, 1].max())))
    if x1 <= x0 or y1 <= y0 or len(poly) < 3:
        return cov
    p = poly
    q = np.roll(poly, -1, axis=0)
    keep = p[:, 1] != q[:, 1]
    p, q = p[keep], q[keep]
    direction = np.where(q[:, 1] > p[:, 1], 1, -1).astype(np.int16)
    # each edge from its upper (smaller y) end: the same crossings whichever way it is traversed
    down = (direction > 0)[:, None]
    p, q = np.where(down, p, q), np.where(down, q, p)
    ylo = p[:, 1]
    yhi = q[:, 1]
    # sample row j (global, in sample units) has its centre at (j + 0.5) / aa; rows with centre in
    # [ylo, yhi) cross the edge
    ncols = (x1 - x0) * aa
    band = 64  # canvas rows per band
    for by in range(y0, y1, band):
        by1 = min(y1, by + band)
        r0, r1 = by * aa, by1 * aa
        js = np.clip(np.ceil(ylo * aa - 0.5), r0, r1).astype(np.int64)
        je = np.clip(np.ceil(yhi * aa - 0.5), r0, r1).astype(np.int64)
        cnt = je - js
        sel = cnt > 0
        if not sel.any():
            continue
        cnt, jss = cnt[sel], js[sel]
        pe, qe, de = p[sel], q[sel], direction[sel]
        e = np.repeat(np.arange(len(cnt)), cnt)
        rows = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + jss[e]
        yc = (rows + 0.5) / aa
        t = (yc - pe[e, 1]) / (qe[e, 1] - pe[e, 1])
        xc = pe[e, 0] + t * (qe[e, 0] - pe[e, 0])
        # first sample column (local) whose centre (i + 0.5) / aa + x0 is >= the crossing
        col = np.clip(np.ceil((xc - x0) * aa - 0.5), 0, ncols).astype(np.int64)
        diff = np.zeros((r1 - r0, ncols + 1), np.int16)
        np.add.at(diff, (rows - r0, col), de[e])
        inside = np.cumsum(diff[:, :ncols], axis=1, dtype=np.int16) != 0
        cov[by:by1, x0:x1] = inside.reshape(by1 - by, aa, x1 - x0, aa).mean(axis=(1, 3), dtype=np.float32)
    return cov


def feather_mask(cov, feather):
    """Widen a coverage map by a linear falloff of ``feather`` pixels (Nuke-style: positive feathers
    outward, negative inward). Returns float32 in [0, 1]; ``feather == 0`` returns ``cov``."""
    if not feather:
        return cov.astype(np.float32)
    import cv2
    inside = (cov >= 0.5).astype(np.uint8)
    f = abs(float(feather))
    # the ratio in float64: a feather below float32's range (1e-46) is not 0 there (d / 0: NaN, inf)
    if feather > 0:
        d = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5).astype(np.float64)  # distance outside
        with np.errstate(over="ignore"):
            soft = np.clip(1.0 - d / f, 0.0, 1.0)
        return np.maximum(soft, cov).astype(np.float32)
    d = cv2.distanceTransform(inside, cv2.DIST_L2, 5).astype(np.float64)  # distance inside the shape
    with np.errstate(over="ignore"):
        soft = np.clip(d / f, 0.0, 1.0)
    return np.minimum(soft, cov).astype(np.float32)
