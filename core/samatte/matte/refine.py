"""Single-frame alpha refinement: a coarse (binary, possibly misplaced) mask -> soft alpha.

:func:`refine_alpha` works only around the object's boundary (bounded memory at 4K: the frame is
cropped to the reach of the band, and solves are tiled). Every number it uses is a field of one
frozen record, :class:`samatte.matte.params.RefineParams` (presets as differences from the default;
measurements in bench/RESULTS.md). Its phases, one function each (``_trust``, ``_crop``, ``_regions``,
``_grow``, ``_solve``, ``_self_check`` / ``_coverage_check``, ``_fine``, ``_check_ramp``, ``_evidence_check``,
``_typical_check``, ``_tie_break``, ``_finish``), passing typed records
(:class:`Crop`, :class:`Work`, :class:`Band`):

0. Trust (``RefineParams.auto_evidence``): the colour overlap of the mask's inner and outer rings
   (:func:`colour_overlap`) sets the strength of the evidence check of 5b.
1. Crop and working scale: the crop is downscaled so that the base band (~1% of the frame diagonal, at most
   ~8% of the object's size) is ``work_width`` px wide.
2. :func:`samatte.matte.regions.critical_regions` (at that scale) gives solid FG/BG and an unknown
   band, widened by logits uncertainty, motion, and (mildly) image evidence of a soft or misplaced
   edge. Components of the mask or its holes that the band would swallow keep a solid core. Parts
   of the solid foreground coloured like the background (gaps the mask filled) join the band: colours
   far likelier under the background than under the foreground (the whole foreground's, or, for a
   colour missing from the rest of the object, the foreground's away from the pixel) and common in
   the background (the whole background's, or the background's near the pixel).
3. The band *grows* where the alpha still runs into the fixed region (the mask was wrong there):
   shared matting (Gastal & Oliveira 2010, pymatting) estimates alpha in the band, pixels of the
   band's rim whose alpha disagrees with the adjacent fixed label seed a growth step, a few rounds,
   never farther from the mask's edge than a tenth of the object's size. For tight masks
   (``RefineParams.leak_calib``) the first round also samples rings of the mask's known background
   and foreground 2-3 band widths away, and a leak must exceed what they get nearby to grow (and,
   with ``leak_crisp``, off by default, the floor of a leak into the background falls as the object
   measures soft: a fringe of wool or hair trails out past its mask).
4. Closed-form matting (Levin et al. 2008; our band-restricted Laplacian, pymatting's ichol + CG) of
   the final band, with the sampling estimate as a weak data term, and the coarse mask's own label
   as a second one wherever the sampling estimate agrees with it. The band, growth and samples are
   decided on ``image``; the solves (here and in 5) run on ``solve_image`` when given (the stage's
   "hybrid" space: scene-linear light, where compositing mixes colours). Two optional self-checks
   (off by default: they failed the fold test) can pull runaway growth or a matte whose coverage
   left the mask's back towards the mask.
5. Full resolution: the fast guided filter (He & Sun 2015) -- colour->alpha linear coefficients fitted
   at the working scale, upsampled and applied to the full-resolution plate inside the band -- or,
   with ``fine="cf"``, a closed-form pyramid anchored to the coarser level.
5b. Evidence check (strength ``RefineParams.evidence``, 0 by default, raised by phase 0 where colours
   overlap): departures from the mask's label that the compositing residual with the local
   mask-solid colours does not explain are pulled back to a mask-anchored ramp (helps real footage, costs
   textured stills at a fixed strength; bench/RESULTS.md) -- unless the solve decided them and most of
   its band (``RefineParams.decisive``: then the rings overlap because the mask is far off, not because
   the colours are shared); in that case an undecided departure stands too when its colour is typical
   of the side it moves to (``RefineParams.decisive_typical``: background seen through a gap).
5c. Typical-colour check (``RefineParams.typical``): a pixel flipped against the mask's label in a colour
   typical of the mask's side is pulled back to the same ramp.
5d. Ties go to the mask (``RefineParams.tie``): a pixel the matte leaves within ``tie`` of 0.5 on the
   other side of the middle from the mask's label is put at the middle on the mask's side. An
   undecided matte does not overturn the mask's label; a decided one does. With tight masks
   (``RefineParams.tie_crisp``) the tie widens as the object measures soft: across motion blur, fur
   or wool the solve's value is the less certain one.
6. A small snap of faint / near-solid alpha to exact 0 / 1.
"""
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
import cv2

from ..colour import _clip01  # in place: fmax drops NaN, then fmin
from ..errors import SamatteError
from ..progress import checkpoint
from .regions import critical_regions, distance_to_boundary, component_cores, reach_box, inner_edge
from .cfsolve import solve_band
from .params import DEFAULT, MASK_KINDS, QUALITIES, RefineParams, params_for

__all__ = ["refine_alpha", "mask_kind", "QUALITIES", "MASK_KINDS", "AUTO_LEAK", "RefineParams", "params_for"]

#: quality presets and mask kinds live in :mod:`samatte.matte.params` (one frozen record, presets as
#: differences from the default); re-exported here for callers of the older names
#: ``mask="auto"``: a narrow band (the tight kind's) is solved once by sampling at a scale where it is
#: DETECT_PX px wide, and the share of its rim where the alpha contradicts the adjacent solid label is
#: measured (FG side + BG side) in a window around each rim pixel (AUTO_WINDOW), and the median over
#: the rim is the mask's leak share. A mask whose edge follows the true one leaks only at spots of
#: hair or blur; one whose edge wanders (a polygon, a mask from a much lower resolution) leaks along
#: much of its length -- the median tells the two apart where the rim's mean share does not (an
#: accurate mask of a head with a fringe of hair along a third of its outline leaks as much on the
#: mean as a wandering one). Measured: 0.000 on tracker-like masks (synthvideo, 256 px -> 854 px;
#: means <= 0.035), >= 0.10 on the ds32 and polygon masks of the alphamatting stills (means >= 0.12);
#: ds8 masks fall on both sides. Above AUTO_LEAK (midway between 0 and 0.10) the mask is rough. The
#: mean rule's 0.06, kept at first, called the do-no-harm test's net (0.059) tight, and it came out
#: 0.6 % worse than its mask; bench/RESULTS.md has the figures.
AUTO_LEAK = 0.05
#: half-size (px, at the detection scale: 4 narrow bands) of the window of the local leak share
AUTO_WINDOW = 8
#: width (px) of the narrow band at the scale the detection solves it
DETECT_PX = 2.0


def colour_overlap(image, hard, bins=16, px=4.0, min_px=64, depth_cap=DEFAULT.depth_cap, depth=None):
    """How well colour tells the object from what is behind it near the mask's edge: the Bayes
    overlap (sum of min) of the colour histograms (``bins``^3, neighbouring bins sharing counts) of
    the mask's inner ring (1-3 base bands inside its edge) and outer ring (1-3 outside), on the
    display image at a scale where the base band is ``px`` px. 0: disjoint colours, 1: identical.
    A ring with fewer than ``min_px`` pixels there is taken at full resolution instead, and an object
    too thin to have an inner ring gives all its pixels (a thin or small object is where a departure
    costs most; an empty sample must not read as "colours disjoint"). Both rings empty: 0.
    ``depth``: the mask's :func:`_part_depth` when the caller has it."""
    base = _base_for(hard, replace(DEFAULT, depth_cap=depth_cap), depth=depth)
    y0, y1, x0, x1 = reach_box(hard, int(np.ceil(3 * base + 2)))
    h, w = y1 - y0, x1 - x0
    for s in (min(1.0, px / base), 1.0):
        hs, ws = max(8, int(round(h * s))), max(8, int(round(w * s)))
        im = _resize(_clean_image(image[y0:y1, x0:x1]), (hs, ws), cv2.INTER_AREA)
        hd = _resize(hard[y0:y1, x0:x1].astype(np.float32), (hs, ws), cv2.INTER_AREA) >= 0.5
        b = base * s
        din = cv2.distanceTransform(hd.astype(np.uint8), cv2.DIST_L2, 3)
        dout = cv2.distanceTransform((~hd).astype(np.uint8), cv2.DIST_L2, 3)
        fg = hd & (din > b) & (din <= 3 * b)
        bg = ~hd & (dout > b) & (dout <= 3 * b)
        if np.count_nonzero(fg) < min_px:
            fg = hd
        if (np.count_nonzero(fg) >= min_px and np.count_nonzero(bg) >= min_px) or s >= 1.0:
            break
    if not fg.any() or not bg.any():
        return 0.0
    idx = _colour_index(im, bins)

    def density(sel):
        hh = np.maximum(_colour_hist(idx, sel, bins), 0.0)
        return hh / max(hh.sum(), 1e-12)

    return float(np.minimum(density(fg), density(bg)).sum())


def _trust(image, hard, p, info=None, depth=None):
    """Phase 0 (RefineParams.auto_evidence): the evidence check's strength from the colour overlap
    near the mask's edge. Returns the record to use."""
    if p.auto_evidence <= 0:
        return p
    ov = colour_overlap(image, hard, depth_cap=p.depth_cap, depth=depth)
    distrust = float(np.clip((ov - p.overlap_lo) / max(p.overlap_hi - p.overlap_lo, 1e-6), 0.0, 1.0))
    if info is not None:
        info["overlap"] = round(ov, 4)
        info["distrust"] = round(distrust, 4)
    if p.auto_evidence * distrust > p.evidence:
        p = replace(p, evidence=p.auto_evidence * distrust)
    return p


def mask_kind(image, coarse):
    """"tight" or "rough": what the coarse mask looks like (see :data:`AUTO_LEAK`), and the measured
    rim leak share (the median over the rim of the local share). ``image``: f32 (H, W, 3) in [0, 1];
    ``coarse``: (H, W) mask."""
    image, coarse = _check_inputs(image, coarse)
    hard = _hard(coarse)
    H, W = hard.shape
    if not hard.any() or hard.all() or _shared_matting() is None:
        return "rough", float("nan")
    base = _base_width(_object_size(hard), H, W, MASK_KINDS["tight"]["base_frac"])
    y0, y1, x0, x1 = reach_box(hard, int(np.ceil(2 * base + 8)))
    s = min(1.0, DETECT_PX / base)
    h, w = y1 - y0, x1 - x0
    hs, ws = max(8, int(round(h * s))), max(8, int(round(w * s)))
    im = _resize(_clean_image(image[y0:y1, x0:x1]), (hs, ws), cv2.INTER_AREA)
    co = _resize(_clean_mask(coarse[y0:y1, x0:x1]), (hs, ws), cv2.INTER_AREA)
    reg = critical_regions(im, co, base_width=max(1.5, base * s), max_width=max(1.5, base * s),
                           adaptive=False)
    a = _sampling_alpha(im.astype(np.float64), reg.fg, reg.unknown, margin=16)
    near_fg, near_bg = _rims(reg.unknown, reg.fg, reg.bg)
    rim = near_fg | near_bg
    if not rim.any():
        return "tight", 0.0
    k = (2 * AUTO_WINDOW + 1,) * 2

    def local(leak, side):    # the share of the side's rim pixels in the window that leak
        num = cv2.boxFilter(leak.astype(np.float32), -1, k, normalize=False)
        return num / np.maximum(cv2.boxFilter(side.astype(np.float32), -1, k, normalize=False), 1.0)

    both = local(near_fg & (a < 0.5), near_fg) + local(near_bg & (a > 0.5), near_bg)
    share = float(np.median(both[rim]))
    return ("rough" if share > AUTO_LEAK else "tight"), share


def _check_inputs(image, coarse):
    image = np.asarray(image)
    coarse = np.asarray(coarse)
    if coarse.ndim == 3 and coarse.shape[2] == 1:
        coarse = coarse[..., 0]
    if coarse.ndim != 2:
        raise SamatteError("coarse mask must be (H, W), got %s" % (coarse.shape,))
    if image.ndim != 3 or image.shape[2] < 3 or image.shape[:2] != coarse.shape:
        raise SamatteError("image must be (H, W, 3) matching the mask %s, got %s"
                           % (coarse.shape, image.shape))
    return image, coarse


def _hard(coarse):
    """coarse >= 0.5 without a full-frame float copy (uint8 masks are 0-255)."""
    if coarse.dtype == bool:
        return coarse.copy()
    if coarse.dtype == np.uint8:
        return coarse >= 128
    return coarse >= 0.5


def _clean_mask(m):
    """f32 copy of a crop of the mask in [0, 1] (uint8 scaled, NaN -> 0: colour's in-place clip)."""
    m = m.astype(np.float32) / 255.0 if m.dtype == np.uint8 else np.array(m, np.float32)
    return _clip01(m)


def _clean_image(img):
    """f32 (h, w, 3) copy of a crop of the input in [0, 1] (uint8 scaled, NaN -> 0, +-inf -> 1 / 0)."""
    img = img[..., :3]
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else np.array(img, np.float32)
    return _clip01(img)


def _resize(x, shape, interp):
    if x.shape[:2] == tuple(shape):
        return x
    return cv2.resize(x, (shape[1], shape[0]), interpolation=interp)


def guided_coeffs(guide, src, radius, eps):
    """Box-averaged linear coefficients (A (h, w, 3), b (h, w)) of the colour guided filter
    (He et al. 2013): the filtered output is ``(A * guide).sum(-1) + b``. They are smooth, so they
    can be computed at low resolution and upsampled (the fast guided filter, He & Sun 2015)."""
    from .cfsolve import _inv3
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    I = np.asarray(guide, np.float32)
    p = np.asarray(src, np.float32)
    mI = box(I)
    mp = box(p)
    cIp = box(I * p[..., None]) - mI * mp[..., None]
    s = np.empty(I.shape[:2] + (3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            s[..., a, b] = s[..., b, a] = box(I[..., a] * I[..., b]) - mI[..., a] * mI[..., b]
    if np.ndim(eps) == 0:
        s += eps * np.eye(3, dtype=np.float32)
    else:
        # per-pixel regulariser (relative to the local brightness: see RefineParams.gf_relative)
        s += np.asarray(eps, np.float32)[..., None, None] * np.eye(3, dtype=np.float32)
    inv = _inv3(s.reshape(-1, 3, 3))
    A = np.matmul(inv, cIp.reshape(-1, 3, 1)).reshape(I.shape)
    bb = mp - (A * mI).sum(-1)
    return box(A), box(bb)


def guided_filter(guide, src, radius, eps):
    """Colour guided filter: f32 (h, w)."""
    A, b = guided_coeffs(guide, src, radius, eps)
    return (A * np.asarray(guide, np.float32)).sum(-1) + b


_SM = None
#: parameters of pymatting's estimate_alpha_sm: its defaults, except 7x7 instead of 11x11 windows for
#: sample refinement and local smoothing (faster, and closer to the truth on band-limited solves; see
#: bench/RESULTS.md)
SM_PARAMS = dict(sample_refinement_radius=3, local_smoothing_radius1=3, local_smoothing_radius2=3,
                 local_smoothing_radius3=3)


def _shared_matting():
    """pymatting's shared matting (numba, imported lazily and cached) or None."""
    global _SM
    if _SM is None:
        try:
            from .numbacache import import_pymatting
            _SM = import_pymatting("pymatting").estimate_alpha_sm
        except MemoryError:   # memory, not a missing pymatting: never a silent switch of method
            raise
        except Exception:  # pragma: no cover - pymatting missing or broken
            _SM = False
    return _SM or None


def _sampling_alpha(im, fg, unknown, *, margin, expand=None):
    """Shared matting (Gastal & Oliveira) of the unknown pixels, on the bbox of the band plus a
    margin of known pixels. Returns f64 alpha over the whole image (known pixels 0/1)."""
    from .quiet import quiet_stdout
    a = np.where(fg, 1.0, 0.0)
    if not unknown.any():
        return a
    ys = np.flatnonzero(unknown.any(1))
    xs = np.flatnonzero(unknown.any(0))
    H, W = unknown.shape
    y0, y1 = max(0, ys[0] - margin), min(H, ys[-1] + 1 + margin)
    x0, x1 = max(0, xs[0] - margin), min(W, xs[-1] + 1 + margin)
    tri = a[y0:y1, x0:x1].copy()
    tri[unknown[y0:y1, x0:x1]] = 0.5
    if not (tri == 1.0).any() or not (tri == 0.0).any():
        a[unknown] = 0.5 if not (tri == 1.0).any() and not (tri == 0.0).any() else float((tri == 1.0).any())
        return a
    with quiet_stdout():  # thread-safe (two jobs in threads)
        params = SM_PARAMS if expand is None else dict(SM_PARAMS, trimap_expansion_radius=int(expand))
        res = _shared_matting()(np.ascontiguousarray(im[y0:y1, x0:x1], np.float64), tri, **params)
    a[y0:y1, x0:x1] = np.where(unknown[y0:y1, x0:x1], res, a[y0:y1, x0:x1])
    return a


def _thin_cores(side, unknown, min_depth):
    """The medial ridge of ``side`` (bool: the mask, or its complement) inside the ``unknown`` band,
    at least ``min_depth`` px from its edge: where a mask part (a leg, a pole, a strap) or a gap of
    background is thinner than the band, the band swallows it whole and the solvers have no solid
    pixel of it nearby to sample its colour from, so a thin dark leg in front of a dark sign fades to
    half transparent. A tight mask is right to within a pixel or two, so the middle of a part at
    least ``2 * min_depth`` px wide is still that part; it is kept solid. Parts of rough masks may be
    off by more than their width: not used for them."""
    d = cv2.distanceTransform(side.astype(np.uint8), cv2.DIST_L2, 5)
    ridge = (d >= min_depth) & (d >= cv2.dilate(d, np.ones((3, 3), np.uint8)) - 1e-4)
    return ridge & unknown


def _colour_index(im, bins):
    """The colour bin (0 .. bins^3 - 1) of every pixel of an image in [0, 1]."""
    qc = np.clip((im * bins).astype(np.int32), 0, bins - 1)
    return (qc[..., 0] * bins + qc[..., 1]) * bins + qc[..., 2]


def _colour_hist(idx, sel, bins):
    """Counts of the selected pixels' colour bins, neighbouring bins sharing counts (a 3x3x3 box),
    flattened f64 (bins^3,): the colour histograms of the gap test and of :func:`colour_overlap`."""
    from scipy.ndimage import uniform_filter
    h = np.bincount(idx[sel], minlength=bins ** 3).astype(np.float64).reshape((bins,) * 3)
    return uniform_filter(h, size=3, mode="reflect").ravel()


def _tile_windows(where, half):
    """The tiles of ``half`` px holding a ``where`` pixel, each with its window (the 3 x 3 tiles around
    it, cut at the image's edge): pairs of (rows, columns) slices (tile, window)."""
    h, w = where.shape
    t = max(4, int(round(half)))
    for y in range(0, h, t):
        for x in range(0, w, t):
            if where[y:y + t, x:x + t].any():
                yield ((slice(y, y + t), slice(x, x + t)),
                       (slice(max(0, y - t), min(h, y + 2 * t)), slice(max(0, x - t), min(w, x + 2 * t))))


def _likelihood(hist, n, bins):
    """Colour likelihoods from a histogram of ``n`` pixels (:func:`_colour_hist`), with a floor."""
    return (hist + 1e-3) / (n + 1e-3 * bins ** 3)


def _local_quantile(v, sel, where, q, half, default, min_px=32):
    """The ``q`` quantile of ``v`` over the ``sel`` pixels near each pixel of ``where`` (by tiles of
    ``half`` px, over the 3 x 3 tiles around: a window ~3 ``half`` px wide), f32 (h, w), +inf away
    from ``where``; ``default`` where fewer than ``min_px`` are near."""
    out = np.full(v.shape, np.inf, np.float32)
    for tile, win in _tile_windows(where, half):
        s = sel[win]
        out[tile] = np.quantile(v[win][s], q) if s.sum() >= min_px else default
    return out


def _far_likelihood(idx, fg, hist, whole, half, bins, min_share=0.5):
    """The foreground's colour likelihood at each of its pixels counting only the foreground away
    from it (outside the 3 x 3 tiles of ``half`` px around it; ``hist``: the whole foreground's
    :func:`_colour_hist`), f64 (h, w): a region of the mask does not vouch for its own colour. Where
    less than ``min_share`` of the foreground lies away (the window holds most of a small object),
    ``whole`` (the whole foreground's likelihood at each pixel, as the caller has it)."""
    n = float(fg.sum())
    out = whole.copy()
    for tile, win in _tile_windows(fg, half):
        near = float(fg[win].sum())
        if n - near < min_share * n:
            continue
        far = np.maximum(hist - _colour_hist(idx[win], fg[win], bins), 0.0)
        out[tile] = _likelihood(far, n - near, bins)[idx[tile]]
    return out


def _seen_through(im, fg, bg, *, ratio, typical, bins=16, min_px=4, local=0.0, far=0.0,
                  far_ratio=DEFAULT.gap_far_ratio):
    """Pixels of the solid foreground that look like the background seen through a gap the coarse
    mask filled (a polygon across the gap between two legs, a downsampled mask over the holes of a
    basket or between leaves): their colour is ``ratio`` times likelier under the background's
    colour histogram than under the foreground's, *and* common in the background (at least its
    ``typical`` quantile of likelihood: a dark detail of a light object is rare in the object but
    not thereby background), over the whole background or, with ``local`` > 0 (px), over the
    background within ~``local`` px of it (:func:`_local_quantile`). With ``far`` > 0 (px) a colour
    also passes the ratio test at ``far_ratio`` against the foreground away from the pixel
    (:func:`_far_likelihood`): missing from the rest of the object. Small specks (under ``min_px``)
    are dropped; the rest, grown by 1 px, is returned as bool (h, w), or None."""
    if not fg.any() or not bg.any():
        return None
    idx = _colour_index(im, bins)
    hf, hb = _colour_hist(idx, fg, bins), _colour_hist(idx, bg, bins)
    like_b = _likelihood(hb, hb.sum(), bins)[idx]
    like_f = _likelihood(hf, hf.sum(), bins)[idx]
    ratio_ok = fg & (like_b > ratio * like_f)
    if far > 0:
        # ... or a colour missing from the rest of the object: a gap the mask filled is itself
        # foreground to the mask, and a large one (between two legs under a polygon) makes its own
        # colours common enough there to pass for the object's
        ratio_ok |= fg & (like_b > far_ratio * _far_likelihood(idx, fg, hf, like_f, far, bins))
    thr = float(np.quantile(like_b[bg], typical))
    if local > 0:
        # ... or as common in the background near it: a textured surface (sand, foliage) spreads its
        # colours over many bins, so none of them is as common as a smooth one's (sky, a wall) over
        # the whole background, though it is what the background shows there
        thr = np.minimum(thr, _local_quantile(like_b, bg, ratio_ok, typical, local, thr))
    cand = ratio_ok & (like_b >= thr)
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    n, lab, st, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    keep = st[:, cv2.CC_STAT_AREA] >= min_px
    keep[0] = False
    cand = keep[lab]
    if not cand.any():
        return None
    return (cv2.dilate(cand.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & fg


def _resize_box(x, shape, box):
    """Rows y0:y1, columns x0:x1 of ``cv2.resize(x, shape[::-1], INTER_LINEAR)`` without making the
    whole resized array."""
    y0, y1, x0, x1 = box
    H, W = shape
    sy, sx = x.shape[0] / float(H), x.shape[1] / float(W)
    mx = (np.arange(x0, x1, dtype=np.float32) + 0.5) * sx - 0.5
    my = (np.arange(y0, y1, dtype=np.float32) + 0.5) * sy - 0.5
    mx, my = np.meshgrid(mx, my)
    return cv2.remap(np.ascontiguousarray(x, np.float32), mx, my, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _dilate(mask, r):
    """Disc dilation by r px (distance transform: cost independent of r)."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) <= r


def _rims(unknown, fg, bg):
    """The unknown pixels touching the solid foreground, and those touching the solid background."""
    k3 = np.ones((3, 3), np.uint8)
    return ((cv2.dilate(fg.astype(np.uint8), k3) > 0) & unknown,
            (cv2.dilate(bg.astype(np.uint8), k3) > 0) & unknown)


def _grow_band(alpha, unknown, fg, bg, width, *, lo=0.05, hi=0.95, min_run=1):
    """Pixels to add to the band: where unknown pixels touching the fixed FG (BG) region have alpha
    well below 1 (above 0), the true edge lies in the fixed region; grow there by ``width``."""
    near_fg, near_bg = _rims(unknown, fg, bg)
    leak = _leaks(alpha, unknown, fg, bg, lo, hi, rims=(near_fg, near_bg))
    if leak is not None and min_run > 1:
        # sampling estimates are noisy: only grow where leaks persist along the band's rim
        dens = cv2.boxFilter(leak.astype(np.float32), -1, (min_run, min_run), normalize=False)
        rim = cv2.boxFilter((near_fg | near_bg).astype(np.float32), -1, (min_run, min_run), normalize=False)
        leak &= dens >= 0.5 * np.maximum(rim, 1)
    if leak is None or not leak.any():
        return None
    grown = _dilate(leak, width)
    add = grown & (fg | bg)
    return add if add.any() else None


def _object_size(hard):
    """sqrt of the mask's area, or of the background's when the mask fills most of the frame (px)."""
    area = float(np.count_nonzero(hard))
    return float(np.sqrt(min(area, hard.size - area)))


def _part_depth(hard):
    """The mask's mean depth (px): the mean distance of its pixels to its edge (the frame's border is
    not an edge). A strip of half-width h has depth h / 2, a disc of radius r has r / 3; a mask made
    of many small or thin parts has a small depth however large its area."""
    y0, y1, x0, x1 = reach_box(hard, 1)
    sub = hard[y0:y1, x0:x1]
    if sub.all():
        return float("inf")
    d = cv2.distanceTransform(sub.astype(np.uint8), cv2.DIST_L2, 3)
    return float(d[sub].mean()) if sub.any() else 0.0


def _base_width(size, H, W, frac=0.01, depth=float("inf"), depth_cap=float("inf")):
    """Band half-width (px) before adaptation: ~1% of the frame diagonal, but at most ~8% of the
    object's size (``size``, from :func:`_object_size`), so that small objects are not swallowed by
    the band, and at most ``depth_cap`` x the mask's mean depth (``depth``, from
    :func:`_part_depth`), so that thin or small parts are not either; at least 3 px."""
    return float(max(3.0, min(frac * np.hypot(H, W), 0.08 * size, depth_cap * depth)))


def _base_for(hard, p, size=None, depth=None):
    """The base band half-width (px) of mask ``hard`` under RefineParams ``p``; ``size`` and
    ``depth`` (:func:`_object_size`, :func:`_part_depth`) when the caller has them."""
    H, W = hard.shape
    cap = float(p.depth_cap) if p.depth_cap > 0 else float("inf")
    if not np.isfinite(cap):
        depth = float("inf")
    elif depth is None:
        depth = _part_depth(hard)
    return _base_width(_object_size(hard) if size is None else size, H, W, p.base_frac, depth, cap)


def _scales(s0, finest, fine):
    """The pyramid's scales: the working scale ``s0`` (where the base band is ~work_width px), then
    doublings up to ``finest`` (the guided fine level jumps straight there). A working scale below
    ``finest`` always gets a fine level, however close (a 720p plate's tight mask works at 0.8: its
    answer must not be merely resized)."""
    if s0 >= finest:
        return [s0]
    n_up = 1
    while s0 * (2 ** n_up) < finest * 0.75:
        n_up += 1
    scales = [s0 * 2 ** i for i in range(n_up)] + [finest]
    return [scales[0], scales[-1]] if fine == "guided" else scales


def _mix_terms(value, weight, other, other_weight):
    """Two weighted data terms ``weight * (alpha - value)^2 + other_weight * (alpha - other)^2`` as
    one, ``(value', weight')`` (the same minimiser); where both weights are 0, ``value`` is kept."""
    tot = weight + other_weight
    return np.where(tot > 0, (weight * value + other_weight * other) / np.maximum(tot, 1e-12), value), tot



# -- the phases of refine_alpha ---------------------------------------------------------------------
# crop -> regions -> growth -> solve (with the self-check) -> fine level -> finish. Each phase takes
# and returns typed records, so a reader (or a tuner) can follow one concern at a time.

@dataclass
class Crop:
    """Phase 1: the part of the frame the band can reach, at full resolution."""
    box: tuple                # (y0, y1, x0, x1) in the frame
    image: np.ndarray         # f32 (h, w, 3) in [0, 1]
    coarse: np.ndarray        # f32 (h, w) in [0, 1]
    hard: np.ndarray          # bool (h, w): the mask's label, the frame's (:func:`_hard`) cropped
    logits: Optional[np.ndarray]
    motion: Optional[np.ndarray]
    doubt: Optional[np.ndarray]
    solve_image: np.ndarray   # f32 (h, w, 3): the image the colour-line solves run on (see refine_alpha)
    size: float               # the object's size, sqrt of its area (px)
    base: float               # base band half-width (px)
    max_width: float          # widest band (px)


@dataclass
class Work:
    """Phase 2: the working scale (base band ~work_width px) and the trimap found there."""
    scale: float
    image: np.ndarray         # f32 (h0, w0, 3)
    coarse: np.ndarray        # f32 (h0, w0)
    hard: np.ndarray          # bool: coarse >= 0.5
    dist: np.ndarray          # distance to the mask's edge (work px)
    fg: np.ndarray            # solid foreground (bool)
    bg: np.ndarray            # solid background (bool)
    unknown: np.ndarray       # the base band (bool), before growth
    seen: Optional[np.ndarray]  # background seen through gaps the mask filled (bool) or None
    step: float               # growth step (work px)
    solve_image: np.ndarray   # f32 (h0, w0, 3)


@dataclass
class Band:
    """Phase 3: the band after growth, the sampling estimate, and what the growth left undecided."""
    fg: np.ndarray
    bg: np.ndarray
    unknown: np.ndarray
    alpha: np.ndarray         # f64 (h0, w0): the sampling estimate on the band, labels elsewhere
    sampled: np.ndarray       # bool: band pixels that have a sampling estimate
    pending: Optional[np.ndarray]  # bool: rim pixels still leaking when growth stopped, or None
    final: bool = False       # alpha is already the answer (closed-form growth, no samples to fuse)
    _width: Optional[float] = field(default=None, repr=False, compare=False)

    def width(self, hard, p):
        """The object's transition width on this band's samples (:func:`_transition_width`; what
        ``mask_crisp`` and ``tie_crisp`` scale by), measured once per band."""
        if self._width is None:
            self._width = _transition_width(self.alpha, self.sampled, hard, p)
        return self._width


def _crop(image, coarse, hard, p, logits, motion, doubt, solve_image=None, depth=None):
    H, W = hard.shape
    size = _object_size(hard)
    base = _base_for(hard, p, size, depth)
    max_w = 4.0 * base
    y0, y1, x0, x1 = reach_box(hard, int(np.ceil(2 * max_w + 8)))
    lg_c = None
    if logits is not None:
        lg = np.asarray(logits, np.float32)
        if lg.ndim != 2:
            raise SamatteError("logits must be 2-D, got shape %s" % (lg.shape,))
        # sample the logits at the crop's pixel centres (same mapping as cv2.resize to (W, H))
        lg_c = _resize_box(lg, (H, W), (y0, y1, x0, x1))
    mo_c = None if motion is None else np.asarray(motion, np.float32)[y0:y1, x0:x1]
    do_c = None if doubt is None else np.asarray(doubt, np.float32)[y0:y1, x0:x1]
    img_c = _clean_image(image[y0:y1, x0:x1])
    sol_c = img_c if solve_image is None else _clean_image(np.asarray(solve_image)[y0:y1, x0:x1])
    return Crop(box=(y0, y1, x0, x1), image=img_c, solve_image=sol_c,
                coarse=_clean_mask(coarse[y0:y1, x0:x1]), hard=hard[y0:y1, x0:x1], logits=lg_c,
                motion=mo_c, doubt=do_c,
                size=size, base=base, max_width=max_w)


def _regions(c, p):
    """The working scale, the critical regions there, thin cores kept, gaps seen through opened."""
    h, w = c.coarse.shape
    s0 = min(1.0, p.work_width / c.base)
    h0, w0 = max(8, int(round(h * s0))), max(8, int(round(w * s0)))
    im0 = _resize(c.image, (h0, w0), cv2.INTER_AREA)
    co0 = _resize(c.coarse, (h0, w0), cv2.INTER_AREA)
    lg0 = None if c.logits is None else _resize(c.logits, (h0, w0), cv2.INTER_AREA)
    mo0 = None if c.motion is None else _resize(c.motion, (h0, w0), cv2.INTER_AREA) * s0
    do0 = None if c.doubt is None else _resize(c.doubt, (h0, w0), cv2.INTER_AREA)
    base0 = max(1.5, c.base * s0)       # the base band at the working scale (work px)
    reg = critical_regions(im0, co0, logits=lg0, motion=mo0, base_width=base0,
                           max_width=c.max_width * s0, adaptive=p.adaptive, gain=p.gain, doubt=do0,
                           depth_local=p.depth_local, core_depth=p.core_depth)
    fg, bg, unk = reg.fg.copy(), reg.bg.copy(), reg.unknown.copy()
    if p.thin_cores > 0:
        for side, lab in ((co0 >= 0.5, fg), (co0 < 0.5, bg)):
            ridge = _thin_cores(side, unk, p.thin_cores)
            lab |= ridge
            unk &= ~ridge
    # background seen through gaps the mask filled joins the band (samples decide there)
    seen = None
    if p.gaps > 0:
        seen = _seen_through(im0, fg, bg, ratio=p.gaps, typical=p.gap_typical,
                             local=p.gap_local * base0, far=p.gap_far * base0,
                             far_ratio=p.gap_far_ratio)
        if seen is not None:
            unk |= seen
            fg &= ~seen
    hard0 = co0 >= 0.5
    dist0 = reg.dist          # distance_to_boundary(hard0): the band was measured from the same mask
    # growth step in working px, relative to the base band (which is work_width px unless the object
    # is so small that the working scale is the full resolution)
    step = p.step * min(1.0, c.base * s0 / p.work_width)
    sol0 = im0 if c.solve_image is c.image else _resize(c.solve_image, (h0, w0), cv2.INTER_AREA)
    return Work(scale=s0, image=im0, solve_image=sol0, coarse=co0, hard=hard0, dist=dist0, fg=fg, bg=bg,
                unknown=unk, seen=seen, step=step)


def _grow(wk, c, p, tile):
    """Band growth: sample, and grow where the alpha runs into the fixed region, within reach (the
    leak thresholds calibrated on the image for tight masks: :func:`_calibrated_leaks`)."""
    im = wk.image.astype(np.float64)
    fgm, bgm, unk = wk.fg.copy(), wk.bg.copy(), wk.unknown.copy()
    a = np.where(fgm, 1.0, 0.0)
    a[unk] = wk.coarse[unk]
    use_sm = p.solver == "sm+cf" and _shared_matting() is not None
    fresh = None
    reach = None
    pending = None
    step = wk.step
    lo, hi = p.leak, 1.0 - p.leak
    # tight masks: the leak thresholds calibrated on rings whose labels the mask knows, sampled in
    # the first round beside the band (RefineParams.leak_calib)
    rings = _leak_rings(wk, c) if use_sm and p.leak_calib > 0 else None
    for it in range(p.grow + 1):
        checkpoint()
        if use_sm:
            calib = it == 0 and rings is not None
            ring = (rings[0] | rings[1]) if calib else None
            a = _sampling_alpha(im, fgm, unk | ring if calib else unk, expand=p.sm_expand,
                                margin=int((max(2 * step, 3 * rings[2]) if calib else 2 * step) + 8))
            if it == 0 and p.leak_crisp > 0:
                # a soft object's fringe trails out past its mask: the floor of a leak into the
                # background falls as the object measures soft (RefineParams.leak_crisp)
                lo = p.leak * min(1.0, p.leak_crisp / max(_transition_width(a, unk, wk.hard, p), 1e-6))
            if calib:
                lo, hi = _calibrated_leaks(a, rings, p, lo, hi)
                a[ring] = fgm[ring]      # the rings' own labels back
        else:
            a = solve_band(im, unk, a, tile=tile, tol=p.tol, maxiter=p.maxiter)
        if it == p.grow:
            pending = _leaks(a, unk, fgm, bgm, lo, hi)
            break
        add = _grow_band(a, unk, fgm, bgm, step, lo=lo, hi=hi, min_run=p.leak_run)
        if add is None:
            break
        add &= ~component_cores(wk.hard, wk.dist, unk | add, p.core_depth)
        if reach is None:
            # a rough mask is off by a fraction of the object's size, not more: growth stays within
            # grow_reach x size of the mask's edge (or of a gap found above); without this bound,
            # noisy samples on a busy background let it eat a small object
            src = wk.dist <= 1.0
            if wk.seen is not None:
                src |= wk.seen
            reach = cv2.distanceTransform((~src).astype(np.uint8), cv2.DIST_L2, 3) <= max(
                p.grow_reach * c.size * wk.scale, 1.5)
        cut = add & ~reach
        add &= reach
        if cut.any():
            # the growth wanted to go past its reach there: it found no edge within it
            pending = cut if pending is None else pending | cut
        if not add.any():
            break
        unk = unk | add
        a[add] = 0.5
        fgm &= ~add
        bgm &= ~add
        if use_sm and it == p.grow - 1:
            # no new samples after the last growth step: the closed-form solve alone decides the
            # pixels it added (as good on the stills and synthvideo; 16 % less time on a 1080p hair
            # frame); the leaks that made this last step are what the growth left undecided
            fresh = add
            pending = add if pending is None else pending | add
            break
    if not use_sm:
        return Band(fg=fgm, bg=bgm, unknown=unk, alpha=a, sampled=np.zeros_like(unk), pending=pending,
                    final=True)
    sampled = unk if fresh is None else unk & ~fresh
    return Band(fg=fgm, bg=bgm, unknown=unk, alpha=a, sampled=sampled, pending=pending)


def _leak_rings(wk, c):
    """Phase 3 (RefineParams.leak_calib): the rings whose labels the mask knows, sampled beside the
    band as if unknown: its background 2-3 band widths past its edge and its foreground as far
    inside. Returns (outer ring, inner ring, band width in work px) or None when both are empty."""
    w = max(1.0, c.base * wk.scale)
    ring = (wk.dist > 2.0 * w) & (wk.dist <= 2.0 * w + max(2.0, w))
    ring &= ~_dilate(wk.unknown, w)     # at least a band width clear of the band (widened or not)
    out_r, in_r = ring & wk.bg, ring & wk.fg
    return (out_r, in_r, w) if out_r.any() or in_r.any() else None


def _calibrated_leaks(a, rings, p, lo, hi):
    """The leak thresholds ``lo`` / ``hi`` raised, pixel by pixel, to the alpha the samples ``a``
    gave the rings of :func:`_leak_rings`: a leak where there is none (a busy background, colours the
    object shares with what is behind it). Within ``p.leak_calib`` band widths of such a pixel a leak
    must exceed it to grow. Returns (lo, hi): maps."""
    out_r, in_r, w = rings
    r = int(np.ceil(p.leak_calib * w))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    lo_m = cv2.dilate(np.where(out_r, a, 0.0).astype(np.float32), k)
    hi_m = 1.0 - cv2.dilate(np.where(in_r, 1.0 - a, 0.0).astype(np.float32), k)
    return np.maximum(lo, lo_m), np.minimum(hi, hi_m)


def _leaks(a, unk, fg, bg, lo, hi, rims=None):
    """The band's rim pixels whose alpha contradicts the adjacent fixed label (below ``hi`` next to
    the foreground, above ``lo`` next to the background; scalars or maps), or None. ``rims``:
    :func:`_rims` of the band when the caller has them."""
    near_fg, near_bg = _rims(unk, fg, bg) if rims is None else rims
    leak = (near_fg & (a < hi)) | (near_bg & (a > lo))
    return leak if leak.any() else None


def _transition_width(a, counted, hard, p):
    """The object's transition width (px of ``a``'s scale): the ``counted`` pixels of ``a`` between
    ``snap_lo`` and ``snap_hi`` per pixel of the mask's edge (``hard``'s :func:`inner_edge`). On the
    samples (``counted`` = the sampled pixels: RefineParams.mask_crisp; the first round's band:
    RefineParams.leak_crisp) a crisp edge measures ~2 (its anti-aliased pixel and the mask's own
    offset), fur or wool its soft margin; on the matte, where the image explains it, it is the
    checks' ramp (:func:`_measured_half`)."""
    soft = counted & (a > p.snap_lo) & (a < p.snap_hi)
    return float(np.count_nonzero(soft)) / float(max(1, np.count_nonzero(inner_edge(hard))))


def _data_terms(wk, bd, c, p, prior, prior_weight):
    """The closed-form solve's weak data terms: the samples, the mask's label where they agree, and
    an outside estimate (the previous frame's matte)."""
    sampled = bd.sampled
    a = bd.alpha
    pa, pw = a, np.where(sampled, p.prior_weight, 0.0)
    if p.mask_weight > 0:
        # the coarse mask's own label, only where the sampling estimate agrees with it (same side of
        # 0.5): a region the picture leaves ambiguous is not left half transparent when both the mask
        # and the samples call it solid, and the mask is never imposed where the samples contradict it
        mw = p.mask_weight
        if p.mask_crisp > 0:
            # ... and less across a soft object's transition (RefineParams.mask_crisp)
            mw *= min(1.0, p.mask_crisp / max(bd.width(wk.hard, p), 1e-6)) ** 2
        wm = np.where(sampled & ((a >= 0.5) == wk.hard), mw, 0.0)
        pa, pw = _mix_terms(pa, pw, wk.hard, wm)
    if prior is not None:
        y0, y1, x0, x1 = c.box
        shp = wk.hard.shape
        ext = _resize(np.asarray(prior, np.float32)[y0:y1, x0:x1], shp, cv2.INTER_LINEAR)
        ew = _resize(np.asarray(prior_weight, np.float32)[y0:y1, x0:x1], shp, cv2.INTER_LINEAR)
        pa, pw = _mix_terms(pa, pw, ext, ew)
    return pa, pw


def _solve(wk, bd, c, p, tile, prior, prior_weight):
    """Closed-form matting of the band with the weak data terms (colour-line smoothness where the
    image has structure, the samples where it has none)."""
    if bd.final:
        return bd.alpha
    im = wk.solve_image.astype(np.float64)
    pa, pw = _data_terms(wk, bd, c, p, prior, prior_weight)
    return solve_band(im, bd.unknown, bd.alpha, prior=pa, weight=pw, tile=tile, tol=p.tol, maxiter=p.maxiter)


def _self_check(a, wk, bd, c, p, tile, prior, prior_weight, info=None):
    """Do no harm: a grown region whose growth did not close -- the rim of the band there still leaks
    when the growth stopped (out of rounds or of reach) -- found no edge within reach. Its estimate
    has left the evidence (alpha soft over a large area, fine structure all over, a busy background
    the samples mistake for the object), so that region falls back to the base band's answer: the
    same solve on the band before growth, where the mask's label holds outside it.
    Returns the checked alpha (work scale)."""
    if bd.pending is None or p.runaway >= 1.0:
        return a
    grown = bd.unknown & ~wk.unknown
    if not grown.any():
        return a
    n, lab = cv2.connectedComponents(grown.astype(np.uint8), connectivity=8)
    if n <= 1:
        return a
    k3 = np.ones((3, 3), np.uint8)
    near = cv2.dilate(lab.astype(np.float32), k3).astype(np.int32)   # rim pixels next to a region
    near_fg, near_bg = _rims(bd.unknown, bd.fg, bd.bg)
    rim = near_fg | near_bg
    rim_n = np.bincount(near[rim], minlength=n).astype(np.float64)
    pend = bd.pending & rim
    pend_n = np.bincount(near[pend], minlength=n).astype(np.float64)
    # pixels added in the last step (or cut by the reach) are pending wherever they lie
    pend_any = np.bincount(lab[bd.pending & grown], minlength=n).astype(np.float64)
    grown_n = np.bincount(lab[grown], minlength=n).astype(np.float64)
    share = np.maximum(pend_n / np.maximum(rim_n, 1.0), pend_any / np.maximum(grown_n, 1.0))
    bad = share > p.runaway
    bad[0] = False
    if info is not None:
        info["regions"] = int(n - 1)
        info["fallback"] = int(bad.sum())
    if not bad.any():
        return a
    region = bad[lab] & grown
    # the neighbourhood of a runaway region, within the base band, falls back too (the full solve
    # there was pulled by the region)
    r = max(1, int(np.ceil(wk.step)))
    region = _dilate(region, r) & bd.unknown
    if info is not None:
        info["fallback_px"] = int(region.sum())
    # the base band with the samples it had: fixed labels are the base regions' (the mask's)
    alpha = np.where(wk.fg, 1.0, 0.0)
    alpha[wk.unknown] = bd.alpha[wk.unknown]
    narrow = Band(fg=wk.fg, bg=wk.bg, unknown=wk.unknown, alpha=alpha, sampled=wk.unknown & bd.sampled,
                  pending=None, final=bd.final)
    base_a = _solve(wk, narrow, c, p, tile, prior, prior_weight)
    out = a.copy()
    out[region] = base_a[region]
    return out


def _coverage_check(a, wk, p, info=None):
    """Do no harm, at the mask's own scale: see RefineParams.coverage. ``a``: the working-scale
    alpha; returns it pulled towards the mask where the blurred coverages disagree."""
    if p.coverage >= 1.0:
        return a
    sigma = max(1.0, p.work_width)
    hard = wk.hard.astype(np.float32)
    d = np.abs(cv2.GaussianBlur(a.astype(np.float32), (0, 0), sigma) - cv2.GaussianBlur(hard, (0, 0), sigma))
    w = np.clip((d - p.coverage) / max(p.coverage, 1e-3), 0.0, 1.0)
    if info is not None:
        info["coverage_px"] = int(np.count_nonzero(w > 0))
    if not w.any():
        return a
    # spread the pull over the patch that disagreed (the blur's reach)
    w = np.maximum(w, cv2.GaussianBlur(w, (0, 0), sigma) * 2.0).clip(0.0, 1.0)
    return a + w * (hard - a)


def _colour_models(wk, p):
    """Phase 5b (RefineParams.evidence), at the working scale: the local mean colours (F, B) of the
    mask's solid foreground and background, Gaussian-weighted at twice the base band's width, f32
    (h0, w0, 3) each; None when the check is off or a side has no solid pixel. They come from the
    mask's labels only, not from the estimate being checked."""
    if p.evidence <= 0 or not wk.fg.any() or not wk.bg.any():
        return None
    sigma = 2.0 * max(1.0, p.work_width)
    im = wk.image.astype(np.float32)
    out = []
    for side in (wk.fg, wk.bg):
        w = side.astype(np.float32)
        den = np.maximum(cv2.GaussianBlur(w, (0, 0), sigma), 1e-6)[..., None]
        out.append(cv2.GaussianBlur(im * w[..., None], (0, 0), sigma) / den)
    return out[0], out[1]


def _support(alpha, c, p, models, sel):
    """The evidence check's support of ``alpha`` on the bounding box of ``sel`` (bool, crop shape):
    ``1 - evidence x r``, clipped to [0, 1], with ``r = |I - (a F + (1 - a) B)| / |F - B|`` the
    compositing residual of each pixel with its alpha and the local colours. Returns (box, support
    f32 on the box)."""
    ys, xs = np.nonzero(sel)
    box = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    y0, y1, x0, x1 = box
    shape = c.coarse.shape
    F = np.dstack([_resize_box(models[0][..., k], shape, box) for k in range(3)])
    B = np.dstack([_resize_box(models[1][..., k], shape, box) for k in range(3)])
    a = alpha[y0:y1, x0:x1]
    d = F - B
    dd = (d * d).sum(-1)
    res = np.sqrt(((c.image[y0:y1, x0:x1] - B - a[..., None] * d) ** 2).sum(-1) / np.maximum(dd, 1e-6))
    # where the local colours do not differ (a black or flat frame) the picture says nothing about
    # alpha: a residual of 0 over a contrast of 0 is no support, not a perfect fit
    support = np.where(dd < 1e-6, 0.0, np.clip(1.0 - p.evidence * res, 0.0, 1.0))
    return box, support.astype(np.float32)


def _measured_half(alpha, c, p, models, decided=False):
    """Half the object's mean transition width (px) where the image explains the matte
    (RefineParams.ramp_measured): the matte's soft pixels (between ``snap_lo`` and ``snap_hi``) with
    support >= 0.5, per pixel of the mask's edge. A crisp object's edge gives ~1, smoke or a wide
    fringe the width of its soft margin. ``decided``: the solve decided most of its band
    (:func:`_decisive`), so all its soft pixels count: they are the object's (a plant's leaf edges
    seen through), whether or not the local mean colours explain them. The width is
    :func:`_transition_width`'s, counted over the explained pixels."""
    soft = (alpha > p.snap_lo) & (alpha < p.snap_hi)
    if not soft.any():
        return 0.0
    counted = soft
    if not decided:
        (y0, y1, x0, x1), support = _support(alpha, c, p, models, soft)
        counted = np.zeros_like(soft)
        counted[y0:y1, x0:x1] = support >= 0.5
    return 0.5 * _transition_width(alpha, counted, c.hard, p)


def _check_ramp(alpha, c, p, models, info=None, decided=False):
    """Phase 5a: the anchor of the do-no-harm checks, the mask-anchored ramp (0.5 at the mask's edge,
    its label ``p.ramp`` x one base band inside / outside), narrowed to half the object's measured
    transition width (:func:`_measured_half`, ``decided`` passed on) where ``ramp_measured`` and the
    evidence check runs (``models``); f32 (h, w) of the crop."""
    half = float(p.ramp) * c.base
    if p.ramp_measured and models is not None:
        half = min(_measured_half(alpha, c, p, models, decided), half)
        if info is not None:
            info["ramp_half"] = round(max(1.0, half), 2)
    return _ramp(c, half)


def _ramp(c, half):
    """The mask-anchored ramp of half-width ``half`` (px): 0.5 at the mask's edge, its label ``half``
    px inside / outside; f32 (h, w) of the crop."""
    hard = c.hard
    din = cv2.distanceTransform(hard.astype(np.uint8), cv2.DIST_L2, 3)
    dout = cv2.distanceTransform((~hard).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(0.5 + np.where(hard, din - 0.5, 0.5 - dout) / (2.0 * max(1.0, half)), 0.0, 1.0)


def _decisive(undecided, ramp, p, info=None):
    """Whether the solve decided its band (RefineParams.decisive): the share of the ramp's band
    (0.02 < ramp < 0.98) that is ``undecided`` (bool: alpha between ``decided`` and 1 - ``decided``)
    is below ``decisive``."""
    band = (ramp > 0.02) & (ramp < 0.98)
    share = np.count_nonzero(undecided & band) / max(1, np.count_nonzero(band))
    if info is not None:
        info["undecided"] = round(share, 4)
    return share < p.decisive


def _evidence_check(alpha, c, wk, p, models, info=None, ramp=None):
    """Do no harm where the image gives no evidence (RefineParams.evidence), at full resolution.
    ``alpha``: f32 (h, w) of the crop. Where it departs from the checks' ramp (:func:`_check_ramp`,
    made here unless given), the compositing residual of the pixel with its alpha and the local
    colours (:func:`_support`) says whether the image explains the departure; without that support
    the pixel is pulled back to the ramp -- unless the solve decided it and most of its band
    (:func:`_decisive`), or decided most of its band and left the pixel undecided in a colour typical
    of the side it moves to (``decisive_typical``, :func:`_typicality` on ``wk``, the working scale's
    record)."""
    if models is None:
        return alpha
    hard = c.hard
    if ramp is None:
        ramp = _check_ramp(alpha, c, p, models, info)
    decisive = False
    if p.decisive > 0:
        undecided = (alpha > p.decided) & (alpha < 1.0 - p.decided)
        # judged on the base band's ramp; with ramp_measured a decisive solve's ramp counts all its
        # soft pixels: they are the object's, and a ramp measured on the supported ones alone would
        # make them solid
        base = _ramp(c, float(p.ramp) * c.base) if p.ramp_measured else ramp
        decisive = _decisive(undecided, base, p, info)
        if decisive and p.ramp_measured:
            ramp = _check_ramp(alpha, c, p, models, info, decided=True)
    cand = np.where(hard, alpha < ramp, alpha > ramp)
    if not cand.any():
        return alpha
    (y0, y1, x0, x1), support = _support(alpha, c, p, models, cand)
    a = alpha[y0:y1, x0:x1]
    if decisive:
        # the solve decided most of the band: the overlap is the mask's error, not shared colours,
        # and what the solve decided stands -- and so does what it left undecided in a colour
        # typical of the side it moves the pixel to (background seen through a gap)
        support = np.maximum(support, (~undecided[y0:y1, x0:x1]).astype(np.float32))
        if p.decisive_typical > 0:
            k = _typicality(wk, c.image[y0:y1, x0:x1], ~hard[y0:y1, x0:x1], p)
            support = np.maximum(support, (min(1.0, float(p.decisive_typical)) * k).astype(np.float32))
    r, h = ramp[y0:y1, x0:x1], hard[y0:y1, x0:x1]
    anch = np.where(h, np.maximum(a, r), np.minimum(a, r))
    sub = cand[y0:y1, x0:x1]
    out = alpha.copy()
    out[y0:y1, x0:x1][sub] = (a + (1.0 - support) * (anch - a))[sub]
    if info is not None:
        info["evidence_px"] = int(np.count_nonzero(sub & (support < 0.5)))
    return out


def _typicality(wk, colours, side, p, bins=16):
    """How typical ``colours`` (any shape, last axis RGB) are of ``side`` (bool, their shape less the
    last axis: True the foreground, False the background), 0-1: that side's share of the two colour
    likelihoods under the solid foreground and background at the working scale (their 16^3
    histograms, neighbouring bins sharing counts, each summing to 1), none up to 0.5, fully from
    ``p.typical_hi``; a colour neither side shows is typical of neither. The do-no-harm checks'
    measure of which side a colour belongs to."""
    idx0 = _colour_index(wk.image, bins)
    pf = np.maximum(_colour_hist(idx0, wk.fg, bins), 0.0)
    pb = np.maximum(_colour_hist(idx0, wk.bg, bins), 0.0)
    pf /= max(pf.sum(), 1e-12)
    pb /= max(pb.sum(), 1e-12)
    idx = _colour_index(colours, bins)
    f, b = pf[idx], pb[idx]
    share = np.where(side, f, b) / np.maximum(f + b, 1e-12)
    return np.clip((share - 0.5) / max(p.typical_hi - 0.5, 1e-6), 0.0, 1.0)


def _typical_check(alpha, c, wk, p, info=None, bins=16, ramp=None):
    """Do no harm where a flipped pixel's colour is typical of the side the mask puts it on
    (RefineParams.typical, typical_hi, typical_flip), at full resolution. ``alpha``: f32 (h, w) of the
    crop. The colour likelihoods are the solid foreground's and background's 16^3 histograms at the
    working scale (neighbouring bins sharing counts); the pull goes to the checks' ramp
    (:func:`_check_ramp`, the base one made here unless given). Pixels the video doubts (``c.doubt``, the see-through test) are left
    alone: there the mask's label is what is in question."""
    if p.typical <= 0 or not wk.fg.any() or not wk.bg.any():
        return alpha
    hard = c.hard
    flip = float(p.typical_flip)
    cand = np.where(hard, alpha < flip, alpha > 1.0 - flip)
    if c.doubt is not None:
        cand &= ~(c.doubt > 0)       # where the video doubts the mask's label, its side is no evidence
    if not cand.any():
        return alpha
    if ramp is None:
        ramp = _check_ramp(alpha, c, p, None)
    cand &= np.where(hard, alpha < ramp, alpha > ramp)
    ys, xs = np.nonzero(cand)
    if ys.size == 0:
        return alpha
    inside = hard[ys, xs]
    k = min(1.0, float(p.typical)) * _typicality(wk, c.image[ys, xs], inside, p, bins)
    a, r = alpha[ys, xs], ramp[ys, xs]
    anch = np.where(inside, np.maximum(a, r), np.minimum(a, r))
    out = alpha.copy()
    out[ys, xs] = a + k * (anch - a)
    if info is not None:
        info["typical_px"] = int(np.count_nonzero(k >= 0.5))
    return out


#: the largest value below 0.5 that a half-float EXR keeps below 0.5 (a pixel outside the mask left
#: undecided just over the middle goes here: float32's nextafter(0.5, 0) rounds to 0.5 in half)
BELOW_HALF = float(np.nextafter(np.float16(0.5), np.float16(0.0)))


def _tie_width(wk, bd, p, info=None):
    """The tie's width (RefineParams.tie), widened as the object measures soft
    (RefineParams.tie_crisp): ``tie x max(1, W / tie_crisp)``, at most ``0.5 - decided``, W the
    transition width of the final band's samples (:meth:`Band.width`, as ``mask_crisp``)."""
    t = float(p.tie)
    if t <= 0 or p.tie_crisp <= 0 or bd.final or not bd.sampled.any():
        return t
    w = bd.width(wk.hard, p)
    t = min(0.5 - float(p.decided), t * max(1.0, w / float(p.tie_crisp)))
    if info is not None:
        info["tie"] = round(t, 4)
    return t


def _tie_break(alpha, c, p, info=None, tie=None):
    """Do no harm at the middle (RefineParams.tie), at full resolution. ``alpha``: f32 (h, w) of the
    crop. A pixel the matte puts within ``p.tie`` of 0.5 on the other side of the middle from the
    mask's label (inside the mask: ``0.5 - tie <= alpha < 0.5``; outside: ``0.5 <= alpha <= 0.5 +
    tie``) goes to the middle on the mask's side (0.5 inside, :data:`BELOW_HALF` outside): the matte
    was undecided there, and a tie goes to the mask. Decided departures (further from the middle)
    and partial alpha on the mask's own side are left as they are. Pixels the video doubts
    (``c.doubt``, the see-through test) are left alone: there the mask's label is what is in
    question. ``tie``: the width (:func:`_tie_width`; default ``p.tie``)."""
    t = float(p.tie if tie is None else tie)
    if t <= 0:
        return alpha
    hard = c.hard
    inside = hard & (alpha >= 0.5 - t) & (alpha < 0.5)
    outside = ~hard & (alpha >= 0.5) & (alpha <= 0.5 + t)
    if c.doubt is not None:
        free = ~(c.doubt > 0)
        inside &= free
        outside &= free
    if info is not None:
        info["tie_px"] = int(np.count_nonzero(inside) + np.count_nonzero(outside))
    if not (inside.any() or outside.any()):
        return alpha
    out = alpha.copy()
    out[inside] = 0.5
    out[outside] = BELOW_HALF
    return out


def _fine(c, wk, alpha0, p, tile):
    """Full resolution: the fast guided filter (``fine="guided"``) or a closed-form pyramid."""
    h, w = c.coarse.shape
    scales = _scales(wk.scale, p.finest, p.fine)
    alpha = alpha0
    coeffs = None
    for li in range(1, len(scales)):
        checkpoint()
        s = scales[li]
        hs, ws = max(8, int(round(h * s))), max(8, int(round(w * s)))
        up = _resize(alpha.astype(np.float32), (hs, ws), cv2.INTER_LINEAR).astype(np.float64)
        frac = (up > 0.01) & (up < 0.99)
        r = int(p.rim + np.ceil(scales[li] / scales[li - 1]))
        ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        unk = cv2.dilate(frac.astype(np.uint8), ker) > 0
        hard_l = up >= 0.5
        unk &= ~component_cores(hard_l, distance_to_boundary(hard_l), unk, p.core_depth)
        a = np.where(unk, up, np.round(up))
        if p.fine == "guided":
            # fast path: linear colour->alpha coefficients fitted to the coarse solve at the working
            # scale, upsampled, applied to the full-resolution plate
            if coeffs is None:
                eps = p.gf_eps
                if p.gf_relative and wk.solve_image is not wk.image:
                    # linear light: colour variation scales with brightness, so the regulariser does
                    # too (gf_eps at mid-grey 0.5, as in the display image it was chosen for)
                    k = (2 * p.gf_radius + 1,) * 2
                    m = cv2.boxFilter(wk.solve_image.mean(-1), -1, k)
                    eps = p.gf_eps * (m / 0.5) ** 2 + 1e-8
                coeffs = guided_coeffs(wk.solve_image, alpha0.astype(np.float32), p.gf_radius, eps)
            ys_, xs_ = np.nonzero(unk)
            if ys_.size:
                by0, by1, bx0, bx1 = ys_.min(), ys_.max() + 1, xs_.min(), xs_.max() + 1
                Au = _resize_box(coeffs[0], (hs, ws), (by0, by1, bx0, bx1))
                bu = _resize_box(coeffs[1], (hs, ws), (by0, by1, bx0, bx1))
                g = (Au * c.solve_image[by0:by1, bx0:bx1]).sum(-1) + bu
                sub = unk[by0:by1, bx0:bx1]
                a[by0:by1, bx0:bx1][sub] = np.clip(g[sub], 0, 1)
            alpha = a
            continue
        # the coarser level's answer anchors the solve (weak data term), only away from solid pixels:
        # large fractional areas otherwise drift; thin bands along crisp edges stay free to sharpen
        im = _resize(c.solve_image, (hs, ws), cv2.INTER_AREA).astype(np.float64)
        dk = cv2.distanceTransform(unk.astype(np.uint8), cv2.DIST_L2, 3)
        wgt = p.refine_prior * np.clip((dk - r) / float(r), 0.0, 1.0)
        alpha = solve_band(im, unk, a, prior=up, weight=wgt, tile=tile, tol=p.tol, maxiter=p.maxiter)
    if alpha.shape != (h, w):
        alpha = _resize(alpha.astype(np.float32), (h, w), cv2.INTER_LINEAR)
    return np.asarray(alpha, np.float32)


def _finish(alpha, hard, c, p):
    """Snap faint / near-solid alpha to 0 / 1 (faint alpha next to the edge's soft pixels stays where
    colour is trusted: RefineParams.snap_keep) and paste the crop into the frame."""
    alpha = alpha.copy()
    faint = alpha < p.snap_lo
    if p.snap_keep > 0 and p.evidence <= 0:
        # the faint end of a soft edge (within snap_keep px of alpha >= snap_lo) is the edge's, not
        # noise -- where colour separates the sides; where the evidence check runs it may be haze
        faint &= ~_dilate(~faint, p.snap_keep)
    alpha[faint] = 0.0
    alpha[alpha > p.snap_hi] = 1.0
    out = hard.astype(np.float32)
    y0, y1, x0, x1 = c.box
    out[y0:y1, x0:x1] = np.clip(alpha, 0, 1)
    return out


def _consensus(image, coarse, p, *, mask, info, **kw):
    """RefineParams.consensus: the matte from the mask, and from the mask grown / shrunk by
    ``p.consensus`` px (a disk); a pixel the first flips against the mask's label (alpha crossing 0.5)
    keeps the flip only where the estimate from the mask moved toward it flips it too (inside the
    mask: the grown mask's estimate; outside: the shrunk one's), else it takes that estimate's
    alpha. f32 (H, W)."""
    one = replace(p, consensus=0.0)
    a = refine_alpha(image, coarse, options=one, mask=mask, info=info, **kw)
    hard = _hard(coarse)
    if not hard.any() or hard.all():
        return a
    d = max(1, int(round(float(p.consensus))))
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * d + 1, 2 * d + 1))
    co = np.asarray(coarse, np.float32)
    out = a.copy()
    if (hard & (a < 0.5)).any():
        grown = refine_alpha(image, cv2.dilate(co, ker), options=one, mask=mask, **kw)
        back = hard & (a < 0.5) & (grown >= (1.0 - float(p.decided) if p.consensus_decided else 0.5))
        out[back] = grown[back]
    else:
        back = np.zeros_like(hard)
    if (~hard & (a >= 0.5)).any():
        shrunk = refine_alpha(image, cv2.erode(co, ker), options=one, mask=mask, **kw)
        back2 = ~hard & (a >= 0.5) & (shrunk < (float(p.decided) if p.consensus_decided else 0.5))
        out[back2] = shrunk[back2]
        back = back | back2
    if info is not None:
        info["consensus_px"] = int(np.count_nonzero(back))
    return out


def refine_alpha(image, coarse, *, logits=None, quality="default", motion=None, tile=384,
                 options=None, mask="rough", prior=None, prior_weight=None, doubt=None, info=None,
                 solve_image=None):
    """Soft alpha f32 (H, W) in [0, 1] from a coarse mask.

    image: f32 (H, W, 3) in [0, 1] (the matting image: display-referred by default, see the matte
    option ``space``); coarse: f32 (H, W) in [0, 1] (binary or soft; thresholded at 0.5 for the solid
    regions); logits: optional tracker logits (any resolution covering the frame); motion: optional
    motion magnitude (H, W) or flow (H, W, 2) in px; quality: "draft", "default" or "high"; tile: tile
    size of the solver (memory bound); options: a dict overriding fields of
    :class:`samatte.matte.params.RefineParams` (or a whole record); mask: what the coarse mask is,
    "rough" or "tight" (see :data:`MASK_KINDS`), or "auto" (:func:`mask_kind` tells from the image);
    prior, prior_weight: an outside estimate (H, W) and its per-pixel weight, a data term of the
    solve; doubt: optional (H, W) in [0, 1], the video's evidence that the mask's label is wrong at a
    pixel (those pixels join the band, up to its maximum width); info: optional dict that receives
    what the phases decided (mask kind, the self-check's regions and fallbacks).

    Phases: trust -> crop -> regions -> growth -> solve -> self-check -> fine level -> evidence check
    -> typical-colour check -> tie break -> finish.
    """
    if quality not in QUALITIES:
        raise SamatteError("quality must be one of %s, got %r" % (sorted(QUALITIES), quality))
    if mask == "auto":
        mask = mask_kind(image, coarse)[0]
    p = params_for(quality, mask, options)
    if info is not None:
        info["mask"] = mask
    image, coarse = _check_inputs(image, coarse)
    if int(p.passes) > 1:
        kw = dict(logits=logits, quality=quality, motion=motion, tile=tile, prior=prior,
                  prior_weight=prior_weight, doubt=doubt, solve_image=solve_image)
        one = dict(options or {}, passes=1) if not isinstance(options, RefineParams) else \
            replace(options, passes=1)
        a1 = refine_alpha(image, coarse, options=one, mask=mask, **kw)
        a2 = refine_alpha(image, (a1 >= 0.5).astype(np.float32), options=one, mask="auto", **kw)
        return (0.5 * (a1 + a2)).astype(np.float32)
    if float(p.consensus) > 0:
        return _consensus(image, coarse, p, mask=mask, info=info, logits=logits, quality=quality,
                          motion=motion, tile=tile, prior=prior, prior_weight=prior_weight, doubt=doubt,
                          solve_image=solve_image)
    hard = _hard(coarse)
    if not hard.any() or hard.all():
        return hard.astype(np.float32)
    # (checkpoint(): a cancelled job stops between the phases, the solves also between their tiles; a
    # 4K object takes seconds)
    checkpoint()
    depth = _part_depth(hard) if p.depth_cap > 0 else None             # (both phases' band cap)
    p = _trust(image, hard, p, info, depth)                            # 0. how far colour can be trusted
    c = _crop(image, coarse, hard, p, logits, motion, doubt, solve_image, depth)  # 1. crop
    checkpoint()
    wk = _regions(c, p)                                                # 2. regions
    if not wk.fg.any():
        # no solid foreground left to sample (an object 1-2 px across, a wire or a dot: the band swallows
        # it): the solve has no foreground colour and gave alpha 0 for all of it. The mask is the answer.
        if info is not None:
            info["no_core"] = True
        return hard.astype(np.float32)
    bd = _grow(wk, c, p, tile)                                         # 3. growth
    a0 = _solve(wk, bd, c, p, tile, prior, prior_weight)               # 4. solve
    a0 = _self_check(a0, wk, bd, c, p, tile, prior, prior_weight, info)  # 4b. do no harm: growth
    a0 = _coverage_check(a0, wk, p, info)                              # 4c. do no harm: coverage
    alpha = _fine(c, wk, a0, p, tile)                                  # 5. fine level
    checkpoint()
    models = _colour_models(wk, p)                                     # 5a. the checks' anchor
    ramp = _check_ramp(alpha, c, p, models, info) if models is not None else None   # (else made if needed)
    alpha = _evidence_check(alpha, c, wk, p, models, info, ramp=ramp)  # 5b. do no harm: evidence
    alpha = _typical_check(alpha, c, wk, p, info, ramp=ramp)           # 5c. do no harm: typical colours
    checkpoint()
    alpha = _tie_break(alpha, c, p, info, _tie_width(wk, bd, p, info))  # 5d. do no harm: ties go to the mask
    return _finish(alpha, hard, c, p)                                  # 6. finish
