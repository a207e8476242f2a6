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

State is kept per *direction*: trackers may run forward from a keyframe and then backward from it;
each frame's :class:`~samatte.stages.TrackFrame` names its ``ref`` (the frame it was propagated
from). :class:`StateStore` keeps the state of the most recent frame processed in each direction plus
that of the last (re)start frame, so memory is constant (3 frames at most) whatever the shot length.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional

import cv2
import numpy as np

__all__ = ["FrameState", "StateStore", "MotionModel", "motion_compensate", "fuse_alpha", "to_gray"]


def to_gray(display):
    """Luma (Rec.709 weights) of a display-referred image, float32 (H, W) in [0, 1]."""
    d = np.asarray(display, dtype=np.float32)
    if d.ndim == 2:
        return np.clip(d, 0.0, 1.0)
    return np.clip(d[..., 0] * 0.2126 + d[..., 1] * 0.7152 + d[..., 2] * 0.0722, 0.0, 1.0)


@dataclass
class FrameState:
    """What the matter remembers of one processed frame (no more than this per frame)."""
    frame: int
    image: np.ndarray                                     # float32 (H, W, 3) display-referred
    alphas: Dict[str, np.ndarray] = field(default_factory=dict)   # final per-object alpha
    masks: Dict[str, np.ndarray] = field(default_factory=dict)    # tracker's masks (bool)
    objects: Dict[str, dict] = field(default_factory=dict)        # per-object stats for quality
    age: int = 0                                         # frames since the track (re)started


class StateStore:
    """Constant-memory frame states keyed by direction: forward (+1), backward (-1) and the last
    (re)start frame. ``get(ref)`` finds the state of frame ``ref`` if it is still held."""

    def __init__(self):
        self._slots = {}

    def get(self, frame) -> Optional[FrameState]:
        if frame is None:
            return None
        for st in self._slots.values():
            if st.frame == frame:
                return st
        return None

    def put(self, state: FrameState, ref=None):
        if ref is None:
            self._slots["start"] = state
        else:
            self._slots["fwd" if state.frame > ref else "bwd"] = state

    def clear(self):
        self._slots.clear()

    def __len__(self):
        return len(self._slots)


class MotionModel:
    """Dense optical flow from the current frame to the previous one, at a bounded working size."""

    def __init__(self, *, max_side=640):
        self.max_side = int(max_side)
        self._dis = None

    def flow(self, gray, prev_gray):
        """Flow (H, W, 2) so that ``prev(x + flow(x)) ~ cur(x)``."""
        h, w = gray.shape
        scale = min(1.0, self.max_side / float(max(h, w)))
        if scale < 1.0:
            size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
            g0 = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            g1 = cv2.resize(prev_gray, size, interpolation=cv2.INTER_AREA)
        else:
            g0, g1 = gray, prev_gray
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        u0 = np.clip(g0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
        u1 = np.clip(g1 * 255.0 + 0.5, 0, 255).astype(np.uint8)
        f = self._dis.calc(u0, u1, None)
        if scale < 1.0:
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) * (1.0 / scale)
        return f


def _warp(img, flow):
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


class Compensated:
    """The previous frame warped onto the current one, and a per-pixel confidence that it matches."""

    def __init__(self, flow, confidence):
        self.flow = flow
        self.confidence = confidence

    def warp(self, img):
        if self.flow is None:
            return img
        return _warp(img, self.flow)


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
    warped = _warp(prev_image, flow) if flow is not None else prev_image
    r = np.abs(image - warped)
    if r.ndim == 3:
        r = r.max(axis=2)
    if flow is not None:
        h, w = r.shape
        gx = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
        gy = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
        outside = (gx < 0) | (gx > w - 1) | (gy < 0) | (gy > h - 1)
        r[outside] = 1.0
    r = cv2.GaussianBlur(r, (0, 0), sigma)
    # A pixel is only as trustworthy as its worst close neighbour (edges of moving things).
    r = cv2.dilate(r, np.ones((3, 3), np.uint8))
    conf = np.exp(-np.square(r / float(tau))).astype(np.float32)
    return Compensated(flow, conf)


def _distance_to_edge(mask):
    m = mask.astype(np.uint8)
    d_in = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return np.where(mask, d_in, d_out)


def fuse_alpha(current, mask, prev_alpha, confidence, *, band=8.0, blend=0.5, agree=0.02,
               robust=0.6):
    """Region-adaptive fusion of this frame's alpha with the (motion-compensated) previous alpha.

    ``current``: this frame's per-frame estimate, float32 (H, W). ``mask``: the tracker's mask, bool.
    ``prev_alpha``: the previous frame's final alpha warped onto this frame. ``confidence``: float32
    (H, W) in [0, 1], 1 where the previous frame matches this one (from :func:`motion_compensate`).

    - core = farther than ``band`` px from the mask edge, previous alpha within ``agree`` of the mask
      value, and confidence > 0.5: the previous alpha is carried over (weight = confidence).
    - boundary = the rest: ``blend * confidence * g`` of the previous alpha and the rest of the
      current one, where ``g = clip(2 - 2 |current - prev| / robust, 0, 1)`` (1 up to ``robust / 2``,
      0 from ``robust``) so a real change (a mask correction, something new) is taken at once.

    Returns ``(alpha, info)``; info holds ``core`` (bool map), ``carried`` (fraction of the frame
    carried over), ``core_instability`` (float32 map |current - prev| on the core: how much the
    per-frame estimate wobbles where it should not).
    """
    current = np.asarray(current, dtype=np.float32)
    dist = _distance_to_edge(mask)
    target = mask.astype(np.float32)
    core = (dist > band) & (np.abs(prev_alpha - target) <= agree) & (confidence > 0.5)
    diff = np.abs(current - prev_alpha)
    g = np.clip(2.0 - 2.0 * diff / float(robust), 0.0, 1.0)
    w = np.where(core, confidence, float(blend) * confidence * g).astype(np.float32)
    alpha = current + w * (prev_alpha - current)
    instability = np.where(core, diff, 0.0).astype(np.float32)
    info = {"core": core, "carried": float(core.mean()), "core_instability": instability,
            "weight_mean": float(w.mean())}
    return np.clip(alpha, 0.0, 1.0).astype(np.float32), info
