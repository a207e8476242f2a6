"""Where alpha may be fractional: the critical (unknown) band around a coarse mask.

:func:`critical_regions` turns a coarse mask (plus, when available, the tracker's logits and a motion
map) into a trimap-like :class:`Regions`: solid foreground, solid background and an unknown band
whose width follows the object -- wide where the boundary looks soft (hair, fur, motion blur, colour
overlap between the object and what is behind it), where the tracker's logits are uncertain, where
the mask boundary misses the image edge (a low-resolution or simplified mask), narrow on crisp edges.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import cv2

from ..errors import SamatteError

__all__ = ["Regions", "critical_regions", "distance_to_boundary", "band_width_map", "component_cores",
           "reach_box", "inner_edge", "local_limit"]


@dataclass
class Regions:
    """Trimap-like answer. ``fg``/``bg``/``unknown`` are disjoint bool (H, W) maps covering the frame;
    ``width`` is the band half-width in pixels that was used at each pixel (float32 (H, W)); ``dist``
    the :func:`distance_to_boundary` of the mask the band was measured from."""
    fg: np.ndarray
    bg: np.ndarray
    unknown: np.ndarray
    width: Optional[np.ndarray] = None
    dist: Optional[np.ndarray] = None

    def trimap(self):
        """float32 trimap: 1 = foreground, 0 = background, 0.5 = unknown."""
        t = np.where(self.fg, 1.0, 0.0).astype(np.float32)
        t[self.unknown] = 0.5
        return t


def reach_box(mask, pad):
    """(y0, y1, x0, x1): the bounding box of the True pixels of ``mask`` grown by ``pad`` px and
    clipped to the frame, or None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    H, W = mask.shape
    return (max(0, rows[0] - pad), min(H, rows[-1] + 1 + pad),
            max(0, cols[0] - pad), min(W, cols[-1] + 1 + pad))


def distance_to_boundary(hard):
    """Signed-free distance (px, float32) of every pixel to the boundary of a bool mask."""
    m = hard.astype(np.uint8)
    if m.all() or not m.any():
        return np.full(hard.shape, np.inf, np.float32)
    d_in = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    d_out = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    # a pixel inside is at d_in from the nearest outside pixel; boundary sits half a pixel away
    return np.where(m > 0, d_in, d_out).astype(np.float32) - 0.5


def inner_edge(hard):
    """The mask's pixels with a neighbour outside it (8-connected): its edge, one pixel wide, inside."""
    return hard & ~(cv2.erode(hard.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)


def local_limit(hard, dist, base, factor):
    """How deep the band may reach into the mask (px, f32 (H, W)) at every pixel
    (RefineParams.depth_local): ``factor`` x the local depth of the part whose edge is nearest, half
    the deepest distance to the edge within the band's widest reach (4 ``base``) of that edge point (a
    strip of half-width h gets h / 2, its mean depth). It binds only on parts thinner than 2 ``base``
    / ``factor`` (a medial radius); None when it binds nowhere. ``dist``: the mask's
    :func:`distance_to_boundary`."""
    from scipy.ndimage import distance_transform_edt
    if hard.all() or not hard.any():
        return None
    d_in = np.where(hard, dist + 0.5, 0.0).astype(np.float32)     # the distance to the nearest outside pixel
    r = int(np.ceil(4.0 * base))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    lim = (0.5 * factor) * cv2.dilate(d_in, k)
    edge = inner_edge(hard)
    if not (edge & (lim < base)).any():
        return None
    _, (iy, ix) = distance_transform_edt(~edge, return_indices=True)
    return np.maximum(lim[iy, ix], 1.0).astype(np.float32)


def component_cores(hard, dist, unknown, min_depth=1.0):
    """Pixels that stay known so that no connected part of the mask (or of its complement: holes,
    gaps) vanishes entirely into the band: in every component the band would swallow, the pixels
    at least 60% as deep as its deepest pixel stay solid. Without such seeds the matting solve has
    no evidence that a small hole or a thin part exists and fills it in. ``min_depth``: a part of the
    mask whose deepest pixel is shallower keeps no core (``dist`` is :func:`distance_to_boundary`: 0.5
    for a part 1-2 px across, 1.5 for 3-4 px; RefineParams.core_depth); a hole, 1.0."""
    keep = np.zeros(hard.shape, bool)
    for side, md in ((hard, float(min_depth)), (~hard, 1.0)):
        n, lab = cv2.connectedComponents(side.astype(np.uint8), connectivity=4)
        if n <= 1:
            continue
        has_known = np.bincount(lab[(~unknown) & side], minlength=n) > 0
        need = ~has_known
        need[0] = False
        if not need.any():
            continue
        sel = need[lab] & side
        depth = np.zeros(n, np.float32)
        np.maximum.at(depth, lab[sel], dist[sel])
        thr = np.where(need & (depth >= md), 0.6 * depth, np.inf).astype(np.float32)
        keep |= sel & (dist >= thr[lab])
    return keep


def _check(image, coarse):
    image = np.asarray(image)
    coarse = np.asarray(coarse)
    if coarse.ndim != 2:
        raise SamatteError("coarse mask must be 2-D (H, W), got shape %s" % (coarse.shape,))
    if image.ndim != 3 or image.shape[2] < 3 or image.shape[:2] != coarse.shape:
        raise SamatteError("image must be (H, W, 3) matching the mask %s, got %s"
                           % (coarse.shape, image.shape))
    return image[..., :3], coarse


def _resize_to(x, shape, interp=cv2.INTER_LINEAR):
    x = np.asarray(x, np.float32)
    if x.shape[:2] == tuple(shape):
        return x
    return cv2.resize(x, (shape[1], shape[0]), interpolation=interp)


def band_width_map(image, hard, *, base, logits=None, motion=None, max_width=None, gain=1.0):
    """Per-pixel band half-width (float32, px) near the boundary of ``hard``.

    Starts at ``base`` and widens where the local evidence says the true edge may be soft or far:
    image texture/colour spread relative to the FG/BG colour separation across the edge (hair, fur,
    blur), a mask boundary that does not sit on the strongest nearby image edge (a mask upsampled
    from low resolution or a coarse polygon), uncertain logits and motion. ``gain`` scales the
    image-evidence terms. Values are smoothed along the boundary.
    """
    H, W = hard.shape
    if max_width is None:
        max_width = 4 * base
    hm = hard.astype(np.float32)
    g = max(3, int(2 * base) | 1)
    img = np.asarray(image, np.float32)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    # local FG/BG colour statistics near the boundary: mean colours on both sides within ~2*base
    k = (2 * g + 1, 2 * g + 1)
    wf = cv2.boxFilter(hm, -1, k)
    wb = 1.0 - wf
    mf = cv2.boxFilter(img * hm[..., None], -1, k) / np.maximum(wf, 1e-3)[..., None]
    mb = cv2.boxFilter(img * (1 - hm)[..., None], -1, k) / np.maximum(wb, 1e-3)[..., None]
    sep = np.sqrt(((mf - mb) ** 2).sum(-1))                      # colour separation of the sides
    var = cv2.boxFilter(img * img, -1, k) - cv2.boxFilter(img, -1, k) ** 2
    spread = np.sqrt(np.maximum(var.sum(-1), 0))                   # local colour spread
    # high-frequency texture (hair/fur): energy of the Laplacian relative to the edge step
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=3))
    tex = cv2.boxFilter(lap, -1, k)
    softness = np.clip(spread / (sep + 0.05) - 0.5, 0, 2) * 0.5 + np.clip(tex / (sep + 0.05) - 0.5, 0, 2) * 0.25
    # misalignment: does the mask boundary sit on the strongest image edge nearby? A mask that was
    # drawn/tracked on the true edge sees gradients at its boundary as strong as any around it; a
    # low-resolution or simplified mask does not.
    gs = cv2.GaussianBlur(img, (0, 0), 1.0)
    gx = cv2.Sobel(gs, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gs, cv2.CV_32F, 0, 1, ksize=3)
    gm = np.sqrt((gx * gx + gy * gy).sum(-1))
    r = int(max(2, round(2 * base)))
    gmax = cv2.dilate(gm, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    edge = (cv2.morphologyEx(hard.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0)
    ef = edge.astype(np.float32)
    ratio = np.where(edge, gm / np.maximum(gmax, 1e-4), 0).astype(np.float32)
    kb = (4 * r + 1, 4 * r + 1)
    align = cv2.boxFilter(ratio, -1, kb) / np.maximum(cv2.boxFilter(ef, -1, kb), 1e-6)
    misalign = np.clip(1.0 - align, 0, 1)
    width = base * (1.0 + gain * (softness + 3.0 * misalign))
    if logits is not None:
        lg = _resize_to(logits, (H, W))
        unc = np.exp(-np.abs(lg) / 2.0)                              # 1 at logit 0, small when sure
        width = width + base * 2.0 * cv2.boxFilter(unc, -1, k)
    if motion is not None:
        mv = _resize_to(motion, (H, W))
        if mv.ndim == 3:
            mv = np.sqrt((mv ** 2).sum(-1))
        width = width + np.clip(np.abs(mv), 0, max_width)
    width = cv2.GaussianBlur(width.astype(np.float32), (0, 0), base)
    return np.clip(width, base, max_width).astype(np.float32)


def critical_regions(image, coarse, *, logits=None, motion=None, base_width=None, max_width=None,
                     adaptive=True, gain=1.0, doubt=None, depth_local=0.0, core_depth=1.0):
    """Split the frame into solid foreground, solid background and an unknown band.

    image: display-referred f32 (H, W, 3) in [0, 1]; coarse: f32 (H, W) in [0, 1] (thresholded at 0.5);
    logits: optional tracker logits (any resolution, resized); motion: optional per-pixel motion
    magnitude in px (H, W) or flow (H, W, 2); doubt: optional (H, W) in [0, 1], pixels (> 0.5) whose
    label the video doubts: they and their neighbours join the band, up to ``max_width`` from the
    mask's edge. ``base_width`` defaults to ~1% of the frame diagonal
    (at least 3 px). Pixels whose coarse value is already fractional are always unknown.
    ``depth_local`` > 0: inside the mask, the band's width is at most that many times the local depth
    of the part (:func:`local_limit`); what the video, the logits or a fractional mask add is not.
    """
    image, coarse = _check(image, coarse)
    H, W = coarse.shape
    coarse = coarse.astype(np.float32)
    if coarse.max(initial=0) > 1.0 + 1e-6:   # 0-255 values
        coarse = coarse / 255.0
    hard = coarse >= 0.5
    if base_width is None:
        base_width = max(3.0, 0.01 * float(np.hypot(H, W)))
    if max_width is None:
        max_width = 4.0 * base_width
    dist = distance_to_boundary(hard)
    if adaptive:
        width = band_width_map(image, hard, base=base_width, logits=logits, motion=motion,
                               max_width=max_width, gain=gain)
    else:
        width = np.full((H, W), base_width, np.float32)
    if depth_local > 0:
        # thin parts: the band reaches into a part no deeper than the part's local depth allows
        limit = local_limit(hard, dist, base_width, depth_local)
        if limit is not None:
            width = np.where(hard, np.minimum(width, limit), width).astype(np.float32)
    unknown = dist <= width
    if doubt is not None:
        # pixels the video doubts (and their neighbours) join the band, within its widest reach
        dz = cv2.dilate((_resize_to(doubt, (H, W)) > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        unknown |= dz & (dist <= max_width)
    unknown |= (coarse > 0.02) & (coarse < 0.98)
    if logits is not None:
        lg = _resize_to(logits, (H, W))
        unknown |= (np.abs(lg) < 1.0) & (dist <= max_width)
    unknown &= ~component_cores(hard, dist, unknown, core_depth)
    fg = hard & ~unknown
    bg = ~hard & ~unknown
    return Regions(fg=fg, bg=bg, unknown=unknown, width=width, dist=dist)
