"""Single-frame alpha refinement: a coarse (binary, possibly misplaced) mask -> soft alpha.

:func:`refine_alpha` works only around the object's boundary (bounded memory at 4K: the frame is
cropped to the reach of the band, and solves are tiled):

1. Working scale: the crop is downscaled so that the base band (~1% of the frame diagonal, at most
   ~8% of the object's size) is ``work_width`` px wide.
2. :func:`samatte.matte.regions.critical_regions` (at that scale) gives solid FG/BG and an unknown
   band, widened by logits uncertainty, motion, and (mildly) image evidence of a soft or misplaced
   edge. Components of the mask or its holes that the band would swallow keep a solid core. Parts
   of the solid foreground coloured like the background (gaps the mask filled) join the band.
3. The band *grows* where the alpha still runs into the fixed region (the mask was wrong there):
   shared matting (Gastal & Oliveira 2010, pymatting) estimates alpha in the band, pixels of the
   band's rim whose alpha disagrees with the adjacent fixed label seed a growth step, a few rounds,
   never farther from the mask's edge than a tenth of the object's size.
4. Closed-form matting (Levin et al. 2008; our band-restricted Laplacian, pymatting's ichol + CG) of
   the final band, with the sampling estimate as a weak data term, and the coarse mask's own label
   as a second one wherever the sampling estimate agrees with it.
5. Full resolution: the fast guided filter (He & Sun 2015) -- colour->alpha linear coefficients fitted
   at the working scale, upsampled and applied to the full-resolution plate inside the band -- or,
   with ``fine="cf"``, a closed-form pyramid anchored to the coarser level.
6. A small snap of faint / near-solid alpha to exact 0 / 1.
"""
import numpy as np
import cv2

from ..errors import SamatteError
from .regions import critical_regions, distance_to_boundary, component_cores, reach_box
from .cfsolve import solve_band

__all__ = ["refine_alpha", "mask_kind", "QUALITIES", "MASK_KINDS", "AUTO_LEAK"]

QUALITIES = {
    # work_width: band half-width (px) at the coarsest (working) scale, which sets that scale;
    # grow/step: band-growth rounds and their step (working px); leak/leak_run: what counts as alpha
    # running into the fixed region; solver: "sm+cf" (shared-matting samples drive the growth, then
    # closed-form with them as a weak prior, weight prior_weight) or "cf"; fine: "guided" (fast
    # guided filter up to full resolution) or "cf" (closed-form pyramid, refine_prior anchors it);
    # rim: px around fractional alpha re-solved at finer levels; gain: how much image evidence
    # (texture, colour overlap, edge misalignment) widens the initial band; tol/maxiter: solver;
    # snap_lo/snap_hi: final snap of faint / near-solid alpha to 0 / 1; passes: 2 = refine again from
    # the first answer's own edge (alpha >= 0.5, its kind told anew) and average the two answers
    # (alphamatting ds8/ds32/polygon: 0.549/0.458/0.440 -> 0.566/0.451/0.428 of the mask's MAD, at
    # twice the time: better on rough masks, not on ds8); mask_weight: weight of the coarse mask's
    # label as a data term where the samples agree with it (0.605/0.540/0.508 ->
    # 0.543/0.525/0.493); sm_expand: radius (working px)
    # of shared matting's trimap expansion, about the band's half-width (pymatting's default, 10,
    # reaches across the whole band: 0.543/0.525/0.493 -> 0.550/0.492/0.483); grow_reach: the band
    # grows at most this fraction of the object's size (sqrt of its area) from the mask's edge
    # (DAVIS frames with ds8 masks, IoU of alpha >= 0.5 against the truth: 0.68 -> 0.84; the mask
    # itself 0.92); gaps/gap_typical: background seen through gaps the mask filled joins the band
    # (see _seen_through; 0.548/0.500/0.482 -> 0.549/0.458/0.440, DAVIS IoU 0.842 -> 0.839);
    # thin_cores: min depth (working px) of the kept middle of parts thinner than the band (tight masks
    # only, see MASK_KINDS; 0 = off). default's solver tolerance 1e-4 (was 1e-5): same figures on the
    # stills and synthvideo (0.548/0.458/0.440 -> 0.549/0.458/0.440; 1.421 -> 1.420); the 1080p GT04
    # solve 0.64 -> 0.46 s CPU, GT05 0.46 -> 0.41.
    "draft": dict(work_width=3.0, grow=2, step=6.0, leak=0.05, leak_run=1, grow_reach=0.1,
                  solver="sm+cf", sm_expand=4, prior_weight=0.01, mask_weight=0.02, gaps=8.0,
                  gap_typical=0.5, thin_cores=0.0, fine="guided", gf_eps=1e-4, gf_radius=2, refine_prior=0.05,
                  rim=1, gain=0.3, tol=1e-4, maxiter=300, finest=1.0, snap_lo=0.05, snap_hi=0.95,
                  passes=1),
    "default": dict(work_width=4.0, grow=4, step=6.0, leak=0.05, leak_run=1, grow_reach=0.1,
                    solver="sm+cf", sm_expand=5, prior_weight=0.01, mask_weight=0.02, gaps=8.0,
                    gap_typical=0.5, thin_cores=0.0, fine="guided", gf_eps=1e-4, gf_radius=2, refine_prior=0.05,
                    rim=2, gain=0.3, tol=1e-4, maxiter=800, finest=1.0, snap_lo=0.05, snap_hi=0.95,
                    passes=1),
    "high": dict(work_width=4.0, grow=4, step=6.0, leak=0.05, leak_run=1, grow_reach=0.1,
                 solver="sm+cf", sm_expand=5, prior_weight=0.01, mask_weight=0.02, gaps=8.0,
                 gap_typical=0.5, thin_cores=0.0, fine="guided", gf_eps=1e-4, gf_radius=2, refine_prior=0.05,
                 rim=2, gain=0.3, tol=1e-5, maxiter=800, finest=1.0, snap_lo=0.05, snap_hi=0.95,
                 passes=2),
}


#: What the coarse mask is, and so how far its edge may be from the true one (``mask=`` of
#: :func:`refine_alpha`; the matte option ``masks``):
#: "rough": roto shapes, polygons, masks from a much smaller resolution -- the edge may be off by 1-3 %
#: of the frame: a wide base band, and the band grows wherever the alpha runs into the fixed region.
#: "tight": a segmentation model's mask at its own resolution (SAM2's 256-px logits, or masks made
#: like them) -- off by a few plate pixels: a narrow base band (0.3 % of the diagonal, at least 3 px),
#: grown only where the leak is clear and persistent along the rim (image evidence and the tracker's
#: logit uncertainty still widen it). On tight masks the rough settings pull background texture into
#: the band (synthvideo MAD 6.8 against 2.3 for the mask itself; tight: 1.1).
MASK_KINDS = {
    "rough": {},
    # sm_expand: pymatting's default trimap expansion (10 px) for the narrow band: a smaller radius
    # leaves more pixels to sample (1080p GT05: 0.74 -> 1.01 s) for little gain (synthvideo
    # 0.96/1.62 -> 0.94/1.59)
    # thin_cores: the middle of mask parts (and of background gaps) that the band swallows whole keeps
    # its label (see _thin_cores): synthvideo 0.96/1.62 -> 0.92/1.57
    "tight": dict(base_frac=0.003, leak=0.15, leak_run=5, sm_expand=10, thin_cores=2.0),
}

#: ``mask="auto"``: a narrow band (the tight kind's) is solved once by sampling at a scale where it is
#: DETECT_PX px wide, and the share of its rim where the alpha contradicts the adjacent solid label is
#: measured (FG side + BG side). A mask whose edge follows the true one leaks only at spots of hair or
#: blur; one whose edge wanders (a polygon, a mask from a much lower resolution) leaks along much of
#: its length. Measured: <= 0.035 on tracker-like masks (synthvideo, 256 px -> 854 px), >= 0.12 on
#: the ds32 and polygon masks of the alphamatting stills (medians 0.25 / 0.22); ds8 masks fall on both
#: sides (0.02-0.3) and refine about equally well either way. Above AUTO_LEAK the mask is rough.
AUTO_LEAK = 0.06
#: width (px) of the narrow band at the scale the detection solves it
DETECT_PX = 2.0


def mask_kind(image, coarse):
    """"tight" or "rough": what the coarse mask looks like (see :data:`AUTO_LEAK`), and the measured
    rim leak share. ``image``: f32 (H, W, 3) in [0, 1]; ``coarse``: (H, W) mask."""
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
    share = (np.count_nonzero(near_fg & (a < 0.5)) / max(1, np.count_nonzero(near_fg))
             + np.count_nonzero(near_bg & (a > 0.5)) / max(1, np.count_nonzero(near_bg)))
    return ("rough" if share > AUTO_LEAK else "tight"), float(share)


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
    if m.dtype == np.uint8:
        m = m.astype(np.float32) / 255.0
    return np.clip(np.nan_to_num(np.asarray(m, np.float32), nan=0.0), 0, 1)


def _clean_image(img):
    """f32 (h, w, 3) in [0, 1] from a crop of the input (uint8 scaled, non-finite fixed)."""
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    img = np.nan_to_num(np.asarray(img[..., :3], np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(img, 0, 1)


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
    s += eps * np.eye(3, dtype=np.float32)
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
#: sample refinement and local smoothing -- faster (1080p hair frame: 1.50 -> 1.06 s) and closer to the
#: truth on band-limited solves (alphamatting ds8/ds32/polygon: 0.647/0.550/0.525 -> 0.618/0.537/0.511
#: of the mask's MAD; synthvideo per-frame MAD 1.13 -> 1.09)
SM_PARAMS = dict(sample_refinement_radius=3, local_smoothing_radius1=3, local_smoothing_radius2=3,
                 local_smoothing_radius3=3)


def _shared_matting():
    """pymatting's shared matting (numba, imported lazily and cached) or None."""
    global _SM
    if _SM is None:
        try:
            from pymatting import estimate_alpha_sm
            _SM = estimate_alpha_sm
        except Exception:  # pragma: no cover - pymatting missing or broken
            _SM = False
    return _SM or None


def _sampling_alpha(im, fg, unknown, *, margin, expand=None):
    """Shared matting (Gastal & Oliveira) of the unknown pixels, on the bbox of the band plus a
    margin of known pixels. Returns f64 alpha over the whole image (known pixels 0/1)."""
    import contextlib
    import io
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
    with contextlib.redirect_stdout(io.StringIO()):
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


def _seen_through(im, fg, bg, *, ratio, typical, bins=16, min_px=4):
    """Pixels of the solid foreground that look like the background seen through a gap the coarse
    mask filled (a polygon across the gap between two legs, a downsampled mask over the holes of a
    basket or between leaves): their colour is ``ratio`` times likelier under the background's
    colour histogram than under the foreground's, *and* common in the background (at least its
    ``typical`` quantile of likelihood: a dark detail of a light object is rare in the object but
    not thereby background). Small specks (under ``min_px``) are dropped; the rest, grown by 1 px,
    is returned as bool (h, w), or None."""
    from scipy.ndimage import uniform_filter
    if not fg.any() or not bg.any():
        return None
    qc = np.clip((im * bins).astype(np.int32), 0, bins - 1)
    idx = (qc[..., 0] * bins + qc[..., 1]) * bins + qc[..., 2]

    def density(sel):
        h = np.bincount(idx[sel], minlength=bins ** 3).astype(np.float64).reshape((bins,) * 3)
        h = uniform_filter(h, size=3, mode="reflect")         # neighbouring colour bins share counts
        return (h.ravel() + 1e-3) / (h.sum() + 1e-3 * bins ** 3)

    pf, pb = density(fg), density(bg)
    like_b = pb[idx]
    cand = fg & (like_b > ratio * pf[idx]) & (like_b >= np.quantile(like_b[bg], typical))
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
    leak = (near_fg & (alpha < hi)) | (near_bg & (alpha > lo))
    if min_run > 1:
        # sampling estimates are noisy: only grow where leaks persist along the band's rim
        dens = cv2.boxFilter(leak.astype(np.float32), -1, (min_run, min_run), normalize=False)
        rim = cv2.boxFilter((near_fg | near_bg).astype(np.float32), -1, (min_run, min_run), normalize=False)
        leak &= dens >= 0.5 * np.maximum(rim, 1)
    if not leak.any():
        return None
    grown = _dilate(leak, width)
    add = grown & (fg | bg)
    return add if add.any() else None


def _object_size(hard):
    """sqrt of the mask's area, or of the background's when the mask fills most of the frame (px)."""
    area = float(np.count_nonzero(hard))
    return float(np.sqrt(min(area, hard.size - area)))


def _base_width(size, H, W, frac=0.01):
    """Band half-width (px) before adaptation: ~1% of the frame diagonal, but at most ~8% of the
    object's size (``size``, from :func:`_object_size`), so that small objects are not swallowed by
    the band; at least 3 px."""
    return float(max(3.0, min(frac * np.hypot(H, W), 0.08 * size)))


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


def refine_alpha(image, coarse, *, logits=None, quality="default", motion=None, tile=384,
                 options=None, mask="rough", prior=None, prior_weight=None, doubt=None):
    """Soft alpha f32 (H, W) in [0, 1] from a coarse mask.

    image: display-referred f32 (H, W, 3) in [0, 1]; coarse: f32 (H, W) in [0, 1] (binary or soft;
    thresholded at 0.5 for the solid regions); logits: optional tracker logits (any resolution
    covering the frame); motion: optional motion magnitude (H, W) or flow (H, W, 2) in px;
    quality: "draft", "default" or "high"; tile: tile size of the solver (memory bound);
    options: dict overriding entries of :data:`QUALITIES`; mask: what the coarse mask is, "rough" or
    "tight" (see :data:`MASK_KINDS`), or "auto" (:func:`mask_kind` tells from the image);
    prior, prior_weight: an outside estimate (H, W) and its per-pixel weight, a data term of the
    solve; doubt: optional (H, W) in [0, 1], the video's evidence that the mask's label is wrong at a
    pixel (the matte stage's see-through test: inside the object the picture changed in a way the
    object's own motion does not explain) -- those pixels join the band, up to its maximum width.
    """
    if quality not in QUALITIES:
        raise SamatteError("quality must be one of %s, got %r" % (sorted(QUALITIES), quality))
    q = dict(QUALITIES[quality])
    if mask == "auto":
        mask = mask_kind(image, coarse)[0]
    if mask not in MASK_KINDS:
        raise SamatteError("mask must be one of %s or 'auto', got %r" % (sorted(MASK_KINDS), mask))
    q.update(MASK_KINDS[mask])
    if options:
        unknown = sorted(set(options) - set(q) - {"adaptive", "base_frac"})
        if unknown:
            raise SamatteError("unknown refine option(s) %s" % ", ".join(unknown))
        q.update(options)
    image, coarse = _check_inputs(image, coarse)
    if int(q.get("passes", 1)) > 1:
        kw = dict(logits=logits, quality=quality, motion=motion, tile=tile, prior=prior,
                  prior_weight=prior_weight, doubt=doubt)
        one = dict(options or {}, passes=1)
        a1 = refine_alpha(image, coarse, options=one, mask=mask, **kw)
        a2 = refine_alpha(image, (a1 >= 0.5).astype(np.float32), options=one, mask="auto", **kw)
        return (0.5 * (a1 + a2)).astype(np.float32)
    H, W = coarse.shape
    hard = _hard(coarse)
    if not hard.any() or hard.all():
        return hard.astype(np.float32)

    size = _object_size(hard)
    base = _base_width(size, H, W, q.get("base_frac", 0.01))
    max_w = 4.0 * base
    # crop to the part of the frame the band can reach (bounded work for a small object at 4K)
    y0, y1, x0, x1 = reach_box(hard, int(np.ceil(2 * max_w + 8)))
    img_c = _clean_image(image[y0:y1, x0:x1])
    coarse_c = _clean_mask(coarse[y0:y1, x0:x1])
    lg_c = None
    if logits is not None:
        lg = np.asarray(logits, np.float32)
        if lg.ndim != 2:
            raise SamatteError("logits must be 2-D, got shape %s" % (lg.shape,))
        # sample the logits at the crop's pixel centres (same mapping as cv2.resize to (W, H))
        lg_c = _resize_box(lg, (H, W), (y0, y1, x0, x1))
    mo_c = None if motion is None else np.asarray(motion, np.float32)[y0:y1, x0:x1]
    do_c = None if doubt is None else np.asarray(doubt, np.float32)[y0:y1, x0:x1]

    h, w = coarse_c.shape
    s0 = min(1.0, q["work_width"] / base)
    # the regions are found at the coarsest working scale (cheap; that is where they are used)
    h0, w0 = max(8, int(round(h * s0))), max(8, int(round(w * s0)))
    im0 = _resize(img_c, (h0, w0), cv2.INTER_AREA)
    co0 = _resize(coarse_c, (h0, w0), cv2.INTER_AREA)
    lg0 = None if lg_c is None else _resize(lg_c, (h0, w0), cv2.INTER_AREA)
    mo0 = None
    if mo_c is not None:
        mo0 = _resize(mo_c, (h0, w0), cv2.INTER_AREA) * s0
    do0 = None if do_c is None else _resize(do_c, (h0, w0), cv2.INTER_AREA)
    reg = critical_regions(im0, co0, logits=lg0, motion=mo0, base_width=max(1.5, base * s0),
                           max_width=max_w * s0, adaptive=q.get("adaptive", True),
                           gain=q.get("gain", 1.0), doubt=do0)

    scales = _scales(s0, q["finest"], q["fine"])

    alpha = None
    alpha0 = None
    coeffs = None
    for li, s in enumerate(scales):
        hs, ws = (h0, w0) if li == 0 else (max(8, int(round(h * s))), max(8, int(round(w * s))))
        im = im0 if li == 0 else _resize(img_c, (hs, ws), cv2.INTER_AREA)
        if q["fine"] != "guided" or li == 0:
            im = im.astype(np.float64)
        if li == 0:
            fgm = reg.fg.copy()
            bgm = reg.bg.copy()
            unk = reg.unknown.copy()
            if q["thin_cores"] > 0:
                for side, lab in ((co0 >= 0.5, fgm), (co0 < 0.5, bgm)):
                    ridge = _thin_cores(side, unk, q["thin_cores"])
                    lab |= ridge
                    unk &= ~ridge
            # background seen through gaps the mask filled joins the band (samples decide there)
            seen = None
            if q["gaps"] > 0:
                seen = _seen_through(im0, fgm, bgm, ratio=q["gaps"], typical=q["gap_typical"])
                if seen is not None:
                    unk |= seen
                    fgm &= ~seen
            a = np.where(fgm, 1.0, 0.0)
            a[unk] = co0[unk]
            # growth step in working px, relative to the base band (which is work_width px unless the
            # object is so small that the working scale is the full resolution)
            step = q["step"] * min(1.0, base * s0 / q["work_width"])
            hard_lo = co0 >= 0.5
            dist_lo = distance_to_boundary(hard_lo)
            use_sm = q["solver"] == "sm+cf" and _shared_matting() is not None
            fresh = None
            reach = None
            for it in range(q["grow"] + 1):
                if use_sm:
                    a = _sampling_alpha(im, fgm, unk, margin=int(2 * step + 8), expand=q["sm_expand"])
                else:
                    a = solve_band(im, unk, a, tile=tile, tol=q["tol"], maxiter=q["maxiter"])
                if it == q["grow"]:
                    break
                add = _grow_band(a, unk, fgm, bgm, step, lo=q["leak"], hi=1.0 - q["leak"],
                                 min_run=q["leak_run"])
                if add is None:
                    break
                add &= ~component_cores(hard_lo, dist_lo, unk | add)
                if reach is None:
                    # a rough mask is off by a fraction of the object's size, not more: growth stays
                    # within grow_reach x size of the mask's edge (or of a gap found above); without
                    # this bound, noisy samples on a busy background let it eat a small object
                    src = dist_lo <= 1.0
                    if seen is not None:
                        src |= seen
                    reach = cv2.distanceTransform((~src).astype(np.uint8), cv2.DIST_L2, 3) <= max(
                        q["grow_reach"] * size * s0, 1.5)
                add &= reach
                if not add.any():
                    break
                unk = unk | add
                a[add] = 0.5
                fgm &= ~add
                bgm &= ~add
                if use_sm and it == q["grow"] - 1:
                    # no new samples after the last growth step: the closed-form solve alone decides
                    # the pixels it added (as good on the stills and synthvideo; 16% less time on a
                    # 1080p hair frame)
                    fresh = add
                    break
            if use_sm:
                # closed-form matting with the sampling estimate as a weak data term: colour-line
                # smoothness where the image has structure, the samples where it has none
                sampled = unk if fresh is None else unk & ~fresh
                pa, pw = a, np.where(sampled, q["prior_weight"], 0.0)
                if q["mask_weight"] > 0:
                    # the coarse mask's own label as a second weak data term, only where the sampling
                    # estimate agrees with it (same side of 0.5): a region the picture leaves
                    # ambiguous (an object part coloured like the background) is not left half
                    # transparent when both the mask and the samples call it solid, and the mask is
                    # never imposed where the samples contradict it (it is wrong there)
                    wm = np.where(sampled & ((a >= 0.5) == hard_lo), q["mask_weight"], 0.0)
                    pa, pw = _mix_terms(pa, pw, hard_lo, wm)
                if prior is not None:
                    # an outside estimate (the previous frame's matte, motion-compensated) as a second
                    # data term, weighted per pixel
                    ext = _resize(np.asarray(prior, np.float32)[y0:y1, x0:x1], (h0, w0), cv2.INTER_LINEAR)
                    ew = _resize(np.asarray(prior_weight, np.float32)[y0:y1, x0:x1], (h0, w0), cv2.INTER_LINEAR)
                    pa, pw = _mix_terms(pa, pw, ext, ew)
                a = solve_band(im, unk, a, prior=pa, weight=pw, tile=tile, tol=q["tol"], maxiter=q["maxiter"])
            alpha = a
            alpha0 = a
        else:
            up = _resize(alpha.astype(np.float32), (hs, ws), cv2.INTER_LINEAR).astype(np.float64)
            frac = (up > 0.01) & (up < 0.99)
            r = int(q["rim"] + np.ceil(scales[li] / scales[li - 1]))
            ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            unk = cv2.dilate(frac.astype(np.uint8), ker) > 0
            hard_l = up >= 0.5
            unk &= ~component_cores(hard_l, distance_to_boundary(hard_l), unk)
            a = np.where(unk, up, np.round(up))
            # the coarser level's answer anchors the solve (weak data term): large fractional areas
            # (foliage, hair clouds) otherwise drift when solved with no known pixel nearby
            if q["fine"] == "guided":
                # fast path: the fast guided filter -- linear colour->alpha coefficients fitted to
                # the coarse solve at the working scale, upsampled, applied to the full-res plate
                if coeffs is None:
                    coeffs = guided_coeffs(im0, alpha0.astype(np.float32), q["gf_radius"], q["gf_eps"])
                ys_, xs_ = np.nonzero(unk)
                if ys_.size:
                    by0, by1, bx0, bx1 = ys_.min(), ys_.max() + 1, xs_.min(), xs_.max() + 1
                    Au = _resize_box(coeffs[0], (hs, ws), (by0, by1, bx0, bx1))
                    bu = _resize_box(coeffs[1], (hs, ws), (by0, by1, bx0, bx1))
                    g = (Au * img_c[by0:by1, bx0:bx1]).sum(-1) + bu
                    sub = unk[by0:by1, bx0:bx1]
                    a[by0:by1, bx0:bx1][sub] = np.clip(g[sub], 0, 1)
                alpha = a
                continue
            # only away from solid pixels: thin bands along crisp edges stay free to sharpen
            dk = cv2.distanceTransform(unk.astype(np.uint8), cv2.DIST_L2, 3)
            wgt = q["refine_prior"] * np.clip((dk - r) / float(r), 0.0, 1.0)
            alpha = solve_band(im, unk, a, prior=up, weight=wgt,
                               tile=tile, tol=q["tol"], maxiter=q["maxiter"])
    if alpha.shape != (h, w):
        alpha = _resize(alpha.astype(np.float32), (h, w), cv2.INTER_LINEAR)
    alpha = np.asarray(alpha, np.float32)
    lo, hi = q["snap_lo"], q["snap_hi"]
    alpha[alpha < lo] = 0.0
    alpha[alpha > hi] = 1.0
    out = hard.astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(alpha, 0, 1)
    return out
