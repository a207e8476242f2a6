"""A quality map and a per-frame score for a matte, without ground truth.

MatAnyone 2 learns a quality evaluator; here the same job (tell the artist *where* and *which frames*
need a correction) is done with signals we can compute:

Per pixel (``MatteFrame.quality``, 0 = confident, 1 = doubtful):

- **compositing residual**: ``|I - (a*F + (1-a)*B)|`` with ``F`` and ``B`` from the foreground
  solver, relative to the local contrast ``|F - B|``: an alpha that does not explain the picture;
- **ambiguity**: on the edge band, where ``F`` and ``B`` have almost the same colour the alpha is
  not determined by the picture (its error is ``~ noise / |F - B|``);
- **temporal instability**: on the core regions (which should be stable), how far the per-frame
  estimate moved from the carried-over alpha;
- **refiner/tracker disagreement**: where the refined alpha contradicts the tracker's mask far from
  its edge.

Per frame (``MatteFrame.score``, 1 = good): the tracker's score times penalties for jumps in mask
area and centroid versus the last trusted frame (objects do not grow by a third or teleport between
neighbouring frames; a broken mask does; the centroid is predicted at constant velocity so steady
fast motion is not a jump), for the share of the object where the matte contradicts the tracker's
mask (one of them is wrong there), and for the mean doubt on the edge band.
"""
import math

import cv2
import numpy as np

from .regions import reach_box

__all__ = ["object_geometry", "disagreement", "jump_score", "pixel_doubt", "frame_score"]

#: relative area change in one frame that halves... (exp(-(x/s)^2) = e^-1 at s)
AREA_SCALE = 0.25
#: centroid shift in units of the object's size (sqrt(area)) per frame, at e^-1
SHIFT_SCALE = 0.35
#: share of the object's area where the matte contradicts the tracker's mask, at e^-1
DISAGREE_SCALE = 0.1


def object_geometry(mask):
    """``{"area": pixels, "cx": .., "cy": ..}`` of a bool mask (centroid None when empty)."""
    m = np.asarray(mask, dtype=bool)
    area = int(m.sum())
    if area == 0:
        return {"area": 0, "cx": None, "cy": None}
    mom = cv2.moments(m.astype(np.uint8), binaryImage=True)
    return {"area": area, "cx": mom["m10"] / mom["m00"], "cy": mom["m01"] / mom["m00"]}


def disagreement(alpha, mask, *, margin=2):
    """Share of the mask's area where the alpha contradicts the mask (``|alpha - mask| > 0.5``)
    farther than ``margin`` px from the mask's edge, and its score ``exp(-(share / DISAGREE_SCALE)^2)``.

    The matte may move the edge by a few pixels (that is its job) but a large region that the
    tracker calls object and the matte calls background (or the reverse) means one of them is wrong
    there: a frame to check."""
    m = np.asarray(mask, dtype=bool)
    area = int(m.sum())
    a = np.asarray(alpha, dtype=np.float32)
    box = reach_box((a > 0.5) | m, margin + 2)
    if box is None or area == 0:
        return 0.0, 1.0
    y0, y1, x0, x1 = box
    mc = m[y0:y1, x0:x1].astype(np.uint8)
    k = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    near = cv2.dilate(mc, k).astype(bool) & ~cv2.erode(mc, k).astype(bool)
    wrong = (np.abs(a[y0:y1, x0:x1] - mc) > 0.5) & ~near
    share = float(wrong.sum()) / float(area)
    return share, float(math.exp(-(share / DISAGREE_SCALE) ** 2))


def jump_score(geom, ref_geom, *, frame_gap=1, velocity=None):
    """Score in [0, 1] for how plausible ``geom`` follows ``ref_geom`` ``frame_gap`` frames later,
    and the components ``(score, area_jump, shift)``. No reference -> 1.

    ``frame_gap`` is signed (negative on a backward pass). ``velocity`` (px per frame, (vx, vy)), when
    known, predicts the centroid at constant velocity, so steady fast motion is not a jump; ``shift``
    is the distance from that prediction in units of the object's size (sqrt of its area)."""
    if ref_geom is None:
        return 1.0, 0.0, 0.0
    a0, a1 = ref_geom["area"], geom["area"]
    if a0 == 0 and a1 == 0:
        return 1.0, 0.0, 0.0
    if a0 == 0 or a1 == 0:
        return 0.0, 1.0, 0.0  # appeared or vanished in one step: check it
    step = int(frame_gap) if frame_gap else 1
    gap = max(1, abs(step))
    area_jump = abs(a1 - a0) / float(max(a0, a1))
    size = math.sqrt(max(a0, a1))
    px, py = ref_geom["cx"], ref_geom["cy"]
    if velocity is not None:
        px += velocity[0] * step
        py += velocity[1] * step
    shift = math.hypot(geom["cx"] - px, geom["cy"] - py) / size
    s = math.exp(-(area_jump / (AREA_SCALE * gap)) ** 2) * math.exp(-(shift / (SHIFT_SCALE * gap)) ** 2)
    return float(s), float(area_jump), float(shift)


def pixel_doubt(image, alpha, F, B, *, box=None, core_instability=None, mask=None, noise=0.02):
    """Per-pixel doubt float32 (H, W) in [0, 1] and its components' means.

    ``image`` float32 (H, W, 3) and ``alpha`` (H, W): the plate (scene-linear) and merged alpha.
    ``F``, ``B``: the foreground/background estimates in the same space, either full frame or, with
    ``box = (y0, y1, x0, x1)``, on that crop only (the edge band lies inside it); None when the
    alpha is binary. ``core_instability`` (optional) float32 (H, W) from temporal fusion; ``mask``
    (optional, bool) the union of the tracker's masks. ``noise``: picture noise relative to the local
    brightness, used to judge residuals and ambiguity.

    Every component is zero away from the object (alpha, mask and instability all zero there), so
    the map is computed on the crop that holds them (plus a margin for the final blur) and, for the
    residual and ambiguity, on the edge band's pixels only.
    """
    a = np.asarray(alpha, dtype=np.float32)
    H, W = a.shape
    stats = {"residual": 0.0, "ambiguity": 0.0}
    doubt = np.zeros((H, W), np.float32)
    ci = None
    if core_instability is not None:
        ci = np.asarray(core_instability, np.float32)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    live = a > 0
    if m is not None:
        live |= m
    if ci is not None:
        live |= ci > 0
    # the blur (sigma 1) reaches 4 px; 8 px of zeros inside the crop's edge keep it exact
    crop = reach_box(live, 8)
    if crop is None:
        if ci is not None:
            stats["core_instability"] = 0.0
        if m is not None:
            stats["disagreement"] = 0.0
        stats["band_doubt"] = 0.0
        return doubt, stats
    cy0, cy1, cx0, cx1 = crop
    a_o = a[cy0:cy1, cx0:cx1]
    d_o = doubt[cy0:cy1, cx0:cx1]
    band_o = (a_o > 1.0 / 255.0) & (a_o < 1.0 - 1.0 / 255.0)   # the edge band (inside the crop)
    if F is not None and B is not None:
        y0, x0 = (box[0], box[2]) if box is not None else (0, 0)
        if band_o.any():
            ys, xs = np.nonzero(band_o)
            ys += cy0
            xs += cx0
            Fb = np.asarray(F, np.float32)[ys - y0, xs - x0]
            Bb = np.asarray(B, np.float32)[ys - y0, xs - x0]
            Ib = np.asarray(image, np.float32)[ys, xs, :3]
            ab = a[ys, xs][:, None]
            scale = np.maximum(np.maximum(Fb, Bb).max(axis=1), 1e-3)   # local brightness (linear light)
            d = Fb - Bb
            contrast = np.sqrt(np.einsum("ij,ij->i", d, d)) / scale
            r = Ib - (ab * Fb + (1.0 - ab) * Bb)
            residual = np.sqrt(np.einsum("ij,ij->i", r, r)) / scale
            res_d = np.clip(residual / (residual + np.maximum(contrast, noise)), 0.0, 1.0)
            amb_d = np.exp(-np.square(contrast / (4.0 * noise)))
            bad = ~(np.isfinite(res_d) & np.isfinite(amb_d))
            if bad.any():
                # a plate whose values reach float32's range (a linear plate read as a log colourspace
                # decodes to ~1e38): the squares above overflow to inf and inf / inf is NaN, which made
                # the frame's score NaN (written to the EXR, null in the result). The same measures in
                # float64, each vector divided by its scale before it is squared; only those pixels, so
                # every finite one keeps its bits.
                s64 = scale[bad].astype(np.float64)[:, None]
                d64 = (Fb[bad].astype(np.float64) - Bb[bad].astype(np.float64)) / s64
                r64 = (Ib[bad].astype(np.float64) - (ab[bad].astype(np.float64) * Fb[bad]
                                                      + (1.0 - ab[bad].astype(np.float64)) * Bb[bad])) / s64
                c64 = np.sqrt(np.einsum("ij,ij->i", d64, d64))
                q64 = np.sqrt(np.einsum("ij,ij->i", r64, r64))
                with np.errstate(invalid="ignore", divide="ignore"):
                    rd = q64 / (q64 + np.maximum(c64, noise))
                res_d[bad] = np.clip(np.nan_to_num(rd, nan=1.0, posinf=1.0), 0.0, 1.0)
                amb_d[bad] = np.nan_to_num(np.exp(-np.square(c64 / (4.0 * noise))), nan=1.0)
            doubt[ys, xs] = np.maximum(res_d, amb_d)
            stats["residual"] = float(res_d.mean())
            stats["ambiguity"] = float(amb_d.mean())
    if ci is not None:
        ci_o = np.clip(ci[cy0:cy1, cx0:cx1] * 2.0, 0.0, 1.0)
        np.maximum(d_o, ci_o, out=d_o)
        stats["core_instability"] = float(ci_o.sum(dtype=np.float64)) / float(H * W)
    if m is not None:
        m_o = m[cy0:cy1, cx0:cx1].astype(np.uint8)
        k = np.ones((5, 5), np.uint8)
        near = cv2.dilate(m_o, k).astype(bool) & ~cv2.erode(m_o, k).astype(bool)
        dis = np.abs(a_o - m_o.astype(np.float32))
        dis[near] = 0.0
        np.maximum(d_o, dis, out=d_o)
        stats["disagreement"] = float(dis.sum(dtype=np.float64)) / float(H * W)
    d_o[...] = np.clip(cv2.GaussianBlur(d_o, (0, 0), 1.0), 0.0, 1.0)
    stats["band_doubt"] = float(d_o[band_o].mean()) if band_o.any() else 0.0
    return doubt, stats


def frame_score(object_scores, band_doubt=0.0):
    """Per-frame score: the worst object's score times ``1 - band_doubt / 2``."""
    s = min(object_scores) if object_scores else 1.0
    v = s * (1.0 - 0.5 * float(band_doubt))
    # never NaN: a NaN score is written to the EXR's samatte/score and sent as null, which hosts read as
    # "no score"; a measure that could not be made is the worst one
    return float(np.clip(v, 0.0, 1.0)) if math.isfinite(v) else 0.0
