"""Temporal stability for per-frame mattes: region-adaptive fusion with the previous frame's alpha.

The idea is MatAnyone's (Yang et al., CVPR 2025) region-adaptive memory fusion, in a form that needs
no learned weights:

- *Core* regions, well inside or well outside the object, where the tracker's mask and the previous
  frame's alpha agree and the picture did not change: the previous alpha is carried over, so the
  interior does not flicker when the per-frame refiner is noisy.
- *Boundary* regions are re-estimated every frame (they carry the detail), and blended with the
  previous alpha only where the picture there is unchanged, robustly (a pixel whose new estimate
  differs a lot from the old one takes the new one).
- Nothing is carried where things moved. Motion is found from the frame difference after motion
  compensation: the previous frame is warped onto the current one with dense optical flow (DIS,
  OpenCV); where the warped previous frame does not match the current one (occlusion, wrong flow,
  lighting change), the confidence drops to 0 and the current estimate is used as is. So a moving
  object is followed without lag and leaves no ghost: at worst (flow failure) the fusion falls back
  to the per-frame estimate.

The boundary of a moving object needs more than the dense flow: at a soft edge the plate mixes the
object with what is behind it, so the flow there follows the background and a photometric check of
the edge pixels fails whenever the background changes. :func:`object_edge_motion` predicts the edge's
motion from the object's interior (one similarity transform when it explains the interior flow, else
the interior flow extended smoothly to the edge) and verifies it where the picture is not mixed (an
opaque ring inside the edge must match after warping) and against the tracker's masks (the warped
previous mask must land on this one). Without such support (thin or tiny objects, flat objects whose
mask moved, occlusion) the weight falls to 0 and the edge is the per-frame estimate.

MatAnyone's first-frame warm-up (running the first frame several times so that its memory is filled
before propagation) has no counterpart to fill here: the per-frame estimate needs no memory, and the
state of a (re)start frame is its own estimate. Its useful part is kept: when a tracker runs backward
and then forward from a keyframe, both passes start from the same keyframe state (the ``start`` slot
of :class:`StateStore`), so the two directions agree where they meet.

State is kept per *direction*: trackers may run forward from a keyframe and then backward from it;
each frame's :class:`~samatte.stages.TrackFrame` names its ``ref`` (the frame it was propagated
from). The caller (the pipeline) keeps the states in a :class:`samatte.stages.StateStore`: the state
of the most recent frame processed in each direction plus that of the last (re)start frame, so memory
is constant (3 frames at most) whatever the shot length.
"""
from dataclasses import dataclass, field
from typing import Dict

import cv2
import numpy as np

from ..stages import StateStore  # noqa: F401 - the store lives with the Matter interface; kept importable here
from ..track.flow import dis_flow
from .regions import reach_box

__all__ = ["warp_alpha", "pack_image", "unpack_image", "FrameState", "StateStore", "MotionModel", "motion_compensate", "object_edge_motion", "fuse_alpha",
           "to_gray"]


def to_gray(display):
    """Luma (Rec.709 weights) of a display-referred image, float32 (H, W) in [0, 1]."""
    d = np.asarray(display, dtype=np.float32)
    if d.ndim == 2:
        return np.clip(d, 0.0, 1.0)
    # the same sum, in one buffer: (r * 0.2126 + g * 0.7152) + b * 0.0722, clipped
    y = d[..., 0] * 0.2126
    y += d[..., 1] * 0.7152
    y += d[..., 2] * 0.0722
    return np.clip(y, 0.0, 1.0, out=y)


def _channel_max(x):
    """``x.max(axis=2)`` of an (H, W, C) array, as C - 1 element-wise maxima (the same values, NaN
    included; numpy's reduction over a short last axis is several times slower)."""
    m = np.maximum(x[..., 0], x[..., 1]) if x.shape[2] > 1 else x[..., 0].copy()
    for c in range(2, x.shape[2]):
        np.maximum(m, x[..., c], out=m)
    return m


def pack_image(display):
    """Display-referred float image -> uint8 for the frame state (a quarter of the memory; the
    motion check's tolerance is several 8-bit code values)."""
    d = np.ascontiguousarray(np.asarray(display, np.float32)[..., :3])
    # negatives to 0 first: convertScaleAbs takes |x| (then rounds and saturates at 255)
    return cv2.convertScaleAbs(cv2.max(d, 0.0), alpha=255.0)


def unpack_image(packed):
    return packed.astype(np.float32) * np.float32(1.0 / 255.0)


@dataclass
class FrameState:
    """What the matter remembers of one processed frame (no more than this per frame)."""
    frame: int
    image: np.ndarray                                     # uint8 (H, W, 3) display-referred (see pack_image)
    alphas: Dict[str, np.ndarray] = field(default_factory=dict)   # final per-object alpha
    masks: Dict[str, np.ndarray] = field(default_factory=dict)    # tracker's masks (bool)
    objects: Dict[str, dict] = field(default_factory=dict)        # per-object stats for quality
    age: int = 0                                         # frames since the track (re)started


def _working_size(h, w, max_side):
    """(scale, (width, height)) that brings the long side of an (h, w) image to at most ``max_side``."""
    scale = min(1.0, max_side / float(max(h, w)))
    return scale, (max(8, int(round(w * scale))), max(8, int(round(h * scale))))


class MotionModel:
    """Dense optical flow from the current frame to the previous one, at a bounded working size."""

    def __init__(self, *, max_side=640):
        self.max_side = int(max_side)
        self._dis = None

    def flow(self, gray, prev_gray):
        """Flow (H, W, 2) so that ``prev(x + flow(x)) ~ cur(x)``."""
        h, w = gray.shape
        scale, size = _working_size(h, w, self.max_side)
        if scale < 1.0:
            g0 = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            g1 = cv2.resize(prev_gray, size, interpolation=cv2.INTER_AREA)
        else:
            g0, g1 = gray, prev_gray
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        u0 = np.clip(g0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
        u1 = np.clip(g1 * 255.0 + 0.5, 0, 255).astype(np.uint8)
        f = dis_flow(self._dis, u0, u1)   # tiny plates: enlarged for DIS and scaled back
        if scale < 1.0:
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) * (1.0 / scale)
        return f


def _warp(img, flow, origin=(0, 0), *, interpolation=cv2.INTER_LINEAR):
    """``img`` sampled at ``x + flow(x)``; ``flow`` may cover a crop whose top-left is ``origin``
    (y, x) in ``img``'s coordinates (the result has the crop's size)."""
    h, w = flow.shape[:2]
    gx = np.arange(w, dtype=np.float32)[None, :] + np.float32(origin[1])
    gy = np.arange(h, dtype=np.float32)[:, None] + np.float32(origin[0])
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interpolation=interpolation,
                     borderMode=cv2.BORDER_REPLICATE)


def warp_alpha(alpha, flow, origin=(0, 0)):
    """Warp an alpha matte: bicubic (the fused state is resampled every frame, bilinear would blur
    it a little more each time), clipped back to [0, 1]."""
    out = _warp(np.asarray(alpha, np.float32), flow, origin, interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0, out=out)


class Compensated:
    """The previous frame warped onto the current one, and a per-pixel confidence that it matches."""

    def __init__(self, flow, confidence, image=None, prev_image=None):
        self.flow = flow
        self.confidence = confidence
        self.image = image
        self.prev_image = prev_image

    def warp(self, alpha):
        """The previous frame's alpha warped onto this frame with the dense flow."""
        if self.flow is None:
            return alpha
        return warp_alpha(alpha, self.flow)


def motion_compensate(image, prev_image, *, motion=None, tau=0.03, sigma=1.5):
    """Warp the previous frame onto this one and say where it matches.

    ``image``, ``prev_image``: display-referred float32 (H, W, 3) (or (H, W)) in [0, 1]. The flow is
    found on their luma with ``motion`` (a :class:`MotionModel`; None = no motion compensation, plain
    frame difference). Returns a :class:`Compensated` whose ``confidence`` (float32 (H, W) in [0, 1])
    is ``exp(-(r / tau)^2)`` of the residual ``r`` = the largest per-channel absolute difference
    between this frame and the warped previous one, smoothed and taken as the worst in a 3x3
    neighbourhood. Colour, not luma alone: an object and its background often have the same
    brightness. ``tau`` is the largest difference still taken for "unchanged": a few code values of
    8-bit display (grain, compression) and far below any visible motion. Pixels whose source lies
    outside the previous frame get confidence 0.
    """
    image = np.asarray(image, dtype=np.float32)
    prev_image = np.asarray(prev_image, dtype=np.float32)
    flow = motion.flow(to_gray(image), to_gray(prev_image)) if motion is not None else None
    # The residual is judged at (at most) the flow's working size: cheap at 4K, and finer detail
    # is below what the smoothing keeps anyway.
    h, w = image.shape[:2]
    max_side = motion.max_side if motion is not None else 640
    scale, size = _working_size(h, w, max_side)
    if scale < 1.0:
        img_s = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        prev_s = cv2.resize(prev_image, size, interpolation=cv2.INTER_AREA)
        flow_s = None if flow is None else cv2.resize(flow, size, interpolation=cv2.INTER_AREA) * scale
    else:
        img_s, prev_s, flow_s = image, prev_image, flow
    warped = _warp(prev_s, flow_s) if flow_s is not None else prev_s
    r = np.abs(img_s - warped)
    if r.ndim == 3:
        r = _channel_max(r)
    if flow_s is not None:
        hs, ws = r.shape
        gx = np.arange(ws, dtype=np.float32)[None, :] + flow_s[..., 0]
        gy = np.arange(hs, dtype=np.float32)[:, None] + flow_s[..., 1]
        outside = (gx < 0) | (gx > ws - 1) | (gy < 0) | (gy > hs - 1)
        r[outside] = 1.0
    r = cv2.GaussianBlur(r, (0, 0), sigma)
    # A pixel is only as trustworthy as its worst close neighbour (edges of moving things).
    r = cv2.dilate(r, np.ones((3, 3), np.uint8))
    conf = np.exp(-np.square(r / float(tau))).astype(np.float32)
    if scale < 1.0:
        conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
    return Compensated(flow, conf, image, prev_image)


def _smooth(x, sigma):
    """Gaussian blur with a large ``sigma``, computed at a reduced size (sigma ~ 2 px there)."""
    f = max(1, int(sigma // 2))
    if f == 1:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def object_edge_motion(comp, mask, prev_alpha, *, band, prev_mask=None, tau=0.03, min_inliers=0.6,
                       max_points=4000):
    """Warp the previous alpha onto this frame with the *object's* motion, for its boundary.

    At a soft edge the plate mixes the object with whatever is behind it, so neither the dense flow
    (it follows the background there) nor a photometric check of the edge pixels can be trusted when
    the object moves over a moving background. The boundary moves with the object's body: its motion
    is predicted from the flow of the object's interior (pixels more than ``band`` inside the mask),
    as one similarity transform when that explains the interior (RANSAC inlier share >=
    ``min_inliers``, 1.5 px tolerance) or else as the interior flow extended smoothly to the edge
    (normalised convolution, sigma = 2 band) for non-rigid objects. It is verified where the picture
    is not mixed: on a ring of opaque interior pixels (band..3 band inside the edge) the previous
    frame, warped with this motion, must match this one; that match (smoothed along the edge, the
    same ``exp(-(r / tau)^2)`` as :func:`motion_compensate`) is the confidence at the edge. A flat
    coloured object cannot be verified that way (any motion matches), so the tracker's masks are the
    second check: the previous mask warped with this motion must land on this frame's mask; the mean
    local edge displacement ``d`` (px, XOR area per edge length) gives ``exp(-(d / d0)^2)`` with
    ``d0 = max(1, band / 4)`` (the masks' own jitter: a tracker works at a fixed resolution, so its
    mask edges are quantised in proportion to the plate size, like ``band``).

    Returns ``(warped_alpha, confidence, box, info)`` on the crop ``box = (y0, y1, x0, x1)`` around
    the object, or None when the object has no interior (too small or thin) or no previous image.
    ``info["prev_warped"]`` is the previous frame moved with this motion, on the crop.
    """
    if comp.image is None or comp.prev_image is None:
        return None
    m8 = np.asarray(mask, bool).astype(np.uint8)
    H, W = m8.shape
    box = reach_box(m8, int(np.ceil(6 * band)) + 2)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    mc = m8[y0:y1, x0:x1]
    d_in = cv2.distanceTransform(mc, cv2.DIST_L2, 3)
    inner = d_in > band
    ys, xs = np.nonzero(inner)
    if ys.size < 30:
        return None
    if comp.flow is not None:
        fc = comp.flow[y0:y1, x0:x1]
    else:
        fc = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
    step = max(1, ys.size // max_points)
    sx, sy = xs[::step].astype(np.float32), ys[::step].astype(np.float32)
    src = np.stack([sx, sy], axis=1)
    dst = src + fc[ys[::step], xs[::step]]
    M, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.5,
                                         maxIters=500, confidence=0.99, refineIters=10)
    share = float(inl.mean()) if inl is not None else 0.0
    h, w = mc.shape
    if M is not None and share >= min_inliers:
        gx = np.arange(w, dtype=np.float32)[None, :]
        gy = np.arange(h, dtype=np.float32)[:, None]
        of = np.empty((h, w, 2), np.float32)
        of[..., 0] = M[0, 0] * gx + M[0, 1] * gy + M[0, 2] - gx
        of[..., 1] = M[1, 0] * gx + M[1, 1] * gy + M[1, 2] - gy
        kind = 1.0
    else:
        wgt = inner.astype(np.float32)
        sig = 2.0 * band
        den = _smooth(wgt, sig)
        of = np.stack([_smooth(fc[..., i] * wgt, sig) for i in range(2)], axis=-1)
        of /= np.maximum(den, 1e-6)[..., None]
        of[inner] = fc[inner]
        kind = 0.0
    origin = (y0, x0)
    ring = inner & (d_in <= 3 * band)
    if ring.sum() < 10:
        ring = inner
    img = comp.image[y0:y1, x0:x1]
    prev_w = _warp(comp.prev_image, of, origin)
    r = np.abs(img - prev_w)
    if r.ndim == 3:
        r = _channel_max(r)
    rw = ring.astype(np.float32)
    sig = 2.0 * band
    num = _smooth(r * rw, sig)
    den = _smooth(rw, sig)
    local = num / np.maximum(den, 1e-6)
    conf = np.exp(-np.square(local / float(tau))).astype(np.float32)
    conf[den < 1e-3] = 0.0                     # no opaque interior nearby: nothing verified
    warped = warp_alpha(prev_alpha, of, origin)
    info = {"similarity": kind, "inliers": share, "ring_residual": float(np.median(r[ring])),
            "prev_warped": prev_w}
    if prev_mask is not None:
        pm = _warp(np.asarray(prev_mask, np.float32), of, origin) > 0.5
        xor = (pm != mc.astype(bool)).astype(np.float32)
        edge_px = (mc - cv2.erode(mc, np.ones((3, 3), np.uint8))).astype(np.float32)
        disp = _smooth(xor, sig) / np.maximum(_smooth(edge_px, sig), 1e-3)
        d0 = max(1.0, band / 4.0)
        conf *= np.exp(-np.square(disp / d0)).astype(np.float32)
        info["edge_displacement"] = float(disp[edge_px > 0].mean()) if edge_px.any() else 0.0
    return warped, conf, (y0, y1, x0, x1), info


def _shift_tolerant(img, ref, reach=1, max_side=640):
    """Per pixel, the smallest largest-channel difference between ``img`` and ``ref`` shifted by up
    to ``reach`` px each way (f32): a fine texture moved with a motion that is a fraction of a pixel
    off still matches, what is not the same picture (background behind a see-through part) does not.
    Crops longer than ``max_side`` are compared at that size (INTER_AREA) and the answer resized back."""
    img = np.asarray(img, np.float32)
    ref = np.asarray(ref, np.float32)
    h, w = img.shape[:2]
    scale, size = _working_size(h, w, max_side)
    if scale < 1.0:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
    hs, ws = img.shape[:2]
    pad = cv2.copyMakeBorder(ref, reach, reach, reach, reach, cv2.BORDER_REPLICATE)
    # channel by channel (each split once, not each shift's difference): the same absolute
    # differences, maxima and minima in the same order
    imgs, pads = (cv2.split(img), cv2.split(pad)) if img.ndim == 3 else ([img], [pad])
    best = None
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            d = None
            for im_c, pad_c in zip(imgs, pads):
                dc = cv2.absdiff(im_c, pad_c[reach + dy:reach + dy + hs, reach + dx:reach + dx + ws])
                d = dc if d is None else cv2.max(d, dc)
            best = d if best is None else cv2.min(best, d)
    if scale < 1.0:
        best = cv2.resize(best, (w, h), interpolation=cv2.INTER_LINEAR)
    return best


def motion_residuals(comp, edge):
    """For :func:`object_edge_motion`'s answer ``edge``: on its crop, how far this frame is from the
    previous one moved with the object's motion, and (None without a flow) with the dense flow's
    (what the background does) -- each the largest per-channel difference, tolerant of a pixel's
    error in the motion (:func:`_shift_tolerant`): near 0 where that motion explains the picture."""
    y0, y1, x0, x1 = edge[2]
    img = comp.image[y0:y1, x0:x1]
    r_obj = _shift_tolerant(img, edge[3]["prev_warped"])
    r_flow = None
    if comp.flow is not None:
        r_flow = _shift_tolerant(img, _warp(comp.prev_image, comp.flow[y0:y1, x0:x1], (y0, x0)))
    return r_obj, r_flow


def prefer_edge_motion(prev, confidence, edge, origin=(0, 0)):
    """The previous alpha warped with the dense flow (``prev``, ``confidence``: arrays whose pixel
    (0, 0) is the frame's pixel ``origin``) with :func:`object_edge_motion`'s answer (``edge``, or
    None) taken wherever that is more confident. Returns new ``(alpha, confidence)``."""
    if edge is None:
        return prev, confidence
    warped_e, conf_e, (ey0, ey1, ex0, ex1), _ = edge
    sl = (slice(ey0 - origin[0], ey1 - origin[0]), slice(ex0 - origin[1], ex1 - origin[1]))
    better = conf_e > confidence[sl]
    prev, confidence = prev.copy(), confidence.copy()
    prev[sl] = np.where(better, warped_e, prev[sl])
    confidence[sl] = np.where(better, conf_e, confidence[sl])
    return prev, confidence


def _distance_to_edge(mask):
    m = mask.astype(np.uint8)
    d_in = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return np.where(mask, d_in, d_out)


def fuse_alpha(current, mask, prev_alpha, confidence, *, band=8.0, blend=0.5, agree=0.02,
               robust=0.6, edge=None, merged=None, doubt=None):
    """Region-adaptive fusion of this frame's alpha with the (motion-compensated) previous alpha.

    ``current``: this frame's per-frame estimate, float32 (H, W). ``mask``: the tracker's mask, bool.
    ``prev_alpha``: the previous frame's final alpha warped onto this frame with the dense flow.
    ``confidence``: float32 (H, W) in [0, 1], 1 where the previous frame matches this one (from
    :func:`motion_compensate`). ``edge``: optional result of :func:`object_edge_motion` (previous
    alpha warped with the object's motion, and its confidence, on a crop). ``merged``: optional
    full-frame :func:`prefer_edge_motion` of ``prev_alpha``, ``confidence`` and ``edge``, when the caller
    has it already. ``doubt``: optional (H, W), non-zero where the mask's label is in doubt (the
    stage's see-through test): never core there, the new estimate is not overwritten by the old one.

    Only the crop around non-zero alpha / mask is computed (outside it both alphas are 0).

    - core = farther than ``band`` px from the mask edge, previous alpha within ``agree`` of the mask
      value, and confidence > 0.5: the previous alpha is carried over (weight = confidence).
    - boundary = the rest: ``blend * c * g`` of the previous alpha and the rest of the current one,
      where ``c`` is the confidence (the object-motion one where ``edge`` covers the pixel and says
      more than the dense one) and ``g = clip(2 - 2 |current - prev| / robust, 0, 1)`` (1 up to
      ``robust / 2``, 0 from ``robust``) so a real change (a mask correction, something new) is taken
      at once.

    Returns ``(alpha, info)``; info holds ``core`` (bool map), ``carried`` (fraction of the frame
    carried over), ``core_instability`` (float32 map |current - prev| on the core: how much the
    per-frame estimate wobbles where it should not), ``weight_mean``, ``edge_weight``.
    """
    current = np.asarray(current, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    H, W = current.shape
    # Work on the crop where anything is non-zero (plus a margin): elsewhere both alphas are 0.
    nz = (current > 0) | (prev_alpha > 0) | mask
    box = reach_box(nz, int(np.ceil(band)) + 2)
    if box is None:
        empty = np.zeros((H, W), np.float32)
        return current.copy(), {"core": np.zeros((H, W), bool), "carried": 0.0,
                                "core_instability": empty, "weight_mean": 0.0, "edge_weight": 0.0}
    y0, y1, x0, x1 = box
    if edge is not None:
        ey0, ey1, ex0, ex1 = edge[2]
        y0, y1, x0, x1 = min(y0, ey0), max(y1, ey1), min(x0, ex0), max(x1, ex1)
    cur = current[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1]
    prev = prev_alpha[y0:y1, x0:x1]
    conf = confidence[y0:y1, x0:x1]
    dist = _distance_to_edge(m)
    core = (dist > band) & (np.abs(prev - m.astype(np.float32)) <= agree) & (conf > 0.5)
    if doubt is not None:
        core &= ~(doubt[y0:y1, x0:x1] > 0)
    if merged is not None:   # the caller already made prefer_edge_motion(prev_alpha, confidence, edge)
        prev_b, conf_b = merged[0][y0:y1, x0:x1], merged[1][y0:y1, x0:x1]
    else:
        prev_b, conf_b = prefer_edge_motion(prev, conf, edge, origin=(y0, x0))
    diff = np.abs(cur - prev)
    g = np.clip(2.0 - 2.0 * np.abs(cur - prev_b) / float(robust), 0.0, 1.0)
    w_b = float(blend) * conf_b * g
    fused = np.where(core, cur + conf * (prev - cur), cur + w_b * (prev_b - cur))
    alpha = current.copy()
    alpha[y0:y1, x0:x1] = np.clip(fused, 0.0, 1.0)
    instability = np.zeros((H, W), np.float32)
    instability[y0:y1, x0:x1] = np.where(core, diff, 0.0)
    core_full = np.zeros((H, W), bool)
    core_full[y0:y1, x0:x1] = core
    boundary = ~core & (dist <= band)
    info = {"core": core_full, "carried": float(core.sum()) / float(H * W), "core_instability": instability,
            "weight_mean": float(np.where(core, conf, w_b).sum()) / float(H * W),
            "edge_weight": float(w_b[boundary].mean()) if boundary.any() else 0.0}
    return alpha.astype(np.float32, copy=False), info
