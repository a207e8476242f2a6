"""Foreground colour: un-mix the background out of the semi-transparent edge pixels of a matte.

A pixel of the plate is ``I = a*F + (1-a)*B`` (in scene-linear light, where light adds). Where
``0 < a < 1`` the plate colour is a mix of the object and what is behind it; multiplying the plate by
alpha (the naive premultiply) keeps the old background in the edges, which shows as a halo when the
object is comped over something else. We estimate ``F`` (and ``B``) there and return the
*premultiplied* foreground ``a*F``, with ``F`` = the plate where ``a == 1`` and 0 where ``a == 0``.

The solver is the multilevel foreground estimation of Germer et al. ("Fast multi-level foreground
estimation", ICPR 2020; pymatting's ``estimate_foreground_ml``), vectorised in numpy: coarse-to-fine
over a pyramid, at each level a few Jacobi sweeps of the per-pixel 2x2 system (data term
``a*F + (1-a)*B = I`` plus a smoothness term towards the 4 neighbours weighted by
``eps + |grad a|``). It runs only on the crop around the edge band (``0 < a < 1``), so its cost
scales with the edge, not the frame. ``method="pymatting"`` runs pymatting's numba version on the
same crop instead (its JIT takes 30-60 s on first use in a process).
"""
import cv2
import numpy as np

from ..errors import DependencyError, JobSpecError
from ..progress import checkpoint
from .regions import reach_box

__all__ = ["estimate_foreground", "premultiplied_foreground", "edge_band_box"]

_EPS_ALPHA = 1.0 / 1024.0


def _check(image, alpha):
    image = np.asarray(image, dtype=np.float32)
    alpha = np.asarray(alpha, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or alpha.shape != image.shape[:2]:
        raise JobSpecError("foreground: image must be (H, W, 3) and alpha (H, W) of the same size",
                           image_shape=list(image.shape), alpha_shape=list(alpha.shape))
    return image, np.clip(alpha, 0.0, 1.0)


def edge_band_box(alpha, *, margin=16):
    """(y0, y1, x0, x1) of the pixels with 0 < alpha < 1, grown by ``margin``; None when there are none."""
    return reach_box((alpha > _EPS_ALPHA) & (alpha < 1.0 - _EPS_ALPHA), margin)


def _shift_views(a):
    """Neighbour values (left, right, up, down) with replicated borders, as full-size arrays."""
    p = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    return (p[1:-1, :-2], p[1:-1, 2:], p[:-2, 1:-1], p[2:, 1:-1])


def _neighbour_index(h, w, idx):
    """Flat indices (N, 4) of the left/right/up/down neighbours of flat pixels ``idx`` (clamped)."""
    ys, xs = np.divmod(idx, w)
    return np.stack([ys * w + np.maximum(xs - 1, 0), ys * w + np.minimum(xs + 1, w - 1),
                     np.maximum(ys - 1, 0) * w + xs, np.minimum(ys + 1, h - 1) * w + xs], axis=1)


def _level_dense(img, a, F, B, n_iter, regularization, gradient_weight, lo, hi):
    a1 = 1.0 - a
    # Per-neighbour smoothness weights (constant over the iterations of a level).
    weights = [regularization + gradient_weight * np.abs(a - an) for an in _shift_views(a)]
    wsum = sum(weights)
    a00 = a * a + wsum
    a11 = a1 * a1 + wsum
    a01 = a * a1
    inv_det = 1.0 / (a00 * a11 - a01 * a01)
    c_ff, c_fb, c_bb = (inv_det * a11)[..., None], (inv_det * a01)[..., None], (inv_det * a00)[..., None]
    b0_data = a[..., None] * img
    b1_data = a1[..., None] * img
    for _ in range(n_iter):
        b0 = b0_data.copy()
        b1 = b1_data.copy()
        for wn, fn, bn in zip(weights, _shift_views(F), _shift_views(B)):
            b0 += wn[..., None] * fn
            b1 += wn[..., None] * bn
        F = c_ff * b0 - c_fb * b1
        B = c_bb * b1 - c_fb * b0
        np.clip(F, lo, hi, out=F)
        np.clip(B, lo, hi, out=B)
    return F, B


def _level_sparse(img, a, F, B, n_iter, regularization, gradient_weight, lo, hi):
    """The same Jacobi sweeps, on the edge band only (plus a 2 px rim); other pixels keep their
    value (F = image where a == 1, B = image where a == 0, the coarser level's estimate elsewhere)."""
    h, w = a.shape
    frac = (a > _EPS_ALPHA) & (a < 1.0 - _EPS_ALPHA)
    active = cv2.dilate(frac.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return F, B
    nb = _neighbour_index(h, w, idx)
    af = a.reshape(-1)
    ai = af[idx]
    a1 = 1.0 - ai
    wn = regularization + gradient_weight * np.abs(ai[:, None] - af[nb])      # (N, 4)
    wsum = wn.sum(axis=1)
    a00 = ai * ai + wsum
    a11 = a1 * a1 + wsum
    a01 = ai * a1
    inv_det = 1.0 / (a00 * a11 - a01 * a01)
    c_ff, c_fb, c_bb = (inv_det * a11)[:, None], (inv_det * a01)[:, None], (inv_det * a00)[:, None]
    Ii = img.reshape(-1, 3)[idx]
    b0_data = ai[:, None] * Ii
    b1_data = a1[:, None] * Ii
    Ff = F.reshape(-1, 3)
    Bf = B.reshape(-1, 3)
    # the neighbours' columns made contiguous once for the sweeps (gathers on a column of ``nb`` are
    # strided); the weighted sum runs over the 4 neighbours in order, as ``(w * X[nb]).sum(axis=1)``
    # does, so the sums are the same to the bit
    nbs = [np.ascontiguousarray(nb[:, k]) for k in range(4)]
    wns = [np.ascontiguousarray(wn[:, k:k + 1]) for k in range(4)]
    tmp = np.empty((idx.size, 3), Ff.dtype)

    def neighbour_sum(X):
        if X.dtype != tmp.dtype or wn.dtype != tmp.dtype:   # (mixed precision: numpy's own promotion)
            return (wn[:, :, None] * X[nb]).sum(axis=1)
        s = wns[0] * X[nbs[0]]
        for k in range(1, 4):
            np.take(X, nbs[k], axis=0, out=tmp)
            np.multiply(tmp, wns[k], out=tmp)
            s += tmp
        return s

    for _ in range(n_iter):
        b0 = b0_data + neighbour_sum(Ff)
        b1 = b1_data + neighbour_sum(Bf)
        Ff[idx] = np.clip(c_ff * b0 - c_fb * b1, lo, hi)
        Bf[idx] = np.clip(c_bb * b1 - c_fb * b0, lo, hi)
    return F, B


def _estimate_fb_ml_numpy(image, alpha, *, regularization=1e-5, gradient_weight=1.0,
                          n_small_iterations=10, n_big_iterations=3, small_size=32, dense_pixels=1 << 16):
    h0, w0, _ = image.shape
    # Initial colours: mean foreground / background colour (from a small copy: it is only a start).
    s = min(1.0, 128.0 / max(h0, w0))
    small_size_wh = (max(1, int(w0 * s)), max(1, int(h0 * s)))
    img_s = cv2.resize(image, small_size_wh, interpolation=cv2.INTER_AREA).reshape(-1, 3)
    a_s = cv2.resize(alpha, small_size_wh, interpolation=cv2.INTER_AREA).reshape(-1)
    fg_sel = a_s > 0.9
    bg_sel = a_s < 0.1
    f_mean = img_s[fg_sel].mean(axis=0) if fg_sel.any() else img_s.mean(axis=0)
    b_mean = img_s[bg_sel].mean(axis=0) if bg_sel.any() else img_s.mean(axis=0)
    F = np.broadcast_to(f_mean.astype(np.float32), (1, 1, 3)).copy()
    B = np.broadcast_to(b_mean.astype(np.float32), (1, 1, 3)).copy()
    lo = float(min(0.0, image.min()))
    hi = float(max(1.0, image.max()))
    n_levels = max(1, int(np.ceil(np.log2(max(w0, h0)))))
    for level in range(n_levels + 1):
        checkpoint()   # (a cancelled job stops here: a 4K edge band's finest levels take a second)
        w = max(1, int(round(w0 ** (level / n_levels))))
        h = max(1, int(round(h0 ** (level / n_levels))))
        if (h, w) == (h0, w0):
            img, a = image, alpha
        else:
            img = cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST)
            a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_NEAREST)
        F = cv2.resize(F, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, 3)
        B = cv2.resize(B, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, 3)
        n_iter = n_small_iterations if (w <= small_size and h <= small_size) else n_big_iterations
        if h * w <= dense_pixels:
            F, B = _level_dense(img, a, F, B, n_iter, regularization, gradient_weight, lo, hi)
        else:
            # Where alpha is 0 or 1 the data term decides: F (resp. B) is the image itself.
            np.copyto(F, img, where=(a >= 1.0 - _EPS_ALPHA)[..., None])
            np.copyto(B, img, where=(a <= _EPS_ALPHA)[..., None])
            F, B = _level_sparse(img, a, F, B, n_iter, regularization, gradient_weight, lo, hi)
    return F.astype(np.float32, copy=False), B.astype(np.float32, copy=False)


def _estimate_fb_pymatting(image, alpha):
    try:
        from .numbacache import import_pymatting
        estimate_foreground_ml = import_pymatting("pymatting").estimate_foreground_ml  # lazy: numba JIT
    except ImportError as exc:  # pragma: no cover - pymatting is a declared dependency
        raise DependencyError("foreground method 'pymatting' needs the pymatting package") from exc
    # pymatting clips F and B to [0, 1]: map scene-linear values into that range and back, negatives
    # included (I = a F + (1 - a) B holds as well for (I - lo) / scale, F and B mapped the same way). Before,
    # only highlights were scaled: a negative channel (saturated ACEScg colours) was clipped to 0 in F on the
    # edge band (0.21 off, where the "ml" method is exact). For a plate without negatives ``lo`` is 0: the
    # same numbers as before.
    lo = float(min(0.0, image.min()))
    scale = float(max(1.0, image.max())) - lo
    F, B = estimate_foreground_ml(np.ascontiguousarray((image - lo) / scale, dtype=np.float64),
                                  np.ascontiguousarray(alpha, dtype=np.float64), return_background=True)
    return (F * scale + lo).astype(np.float32), (B * scale + lo).astype(np.float32)


def _solve_crop(image, alpha, method, margin):
    """(box, F_crop, B_crop) for the edge band's crop, or (None, None, None) when alpha is binary."""
    box = edge_band_box(alpha, margin=margin)
    if box is None:
        return None, None, None
    y0, y1, x0, x1 = box
    img_c = np.ascontiguousarray(image[y0:y1, x0:x1])
    a_c = np.ascontiguousarray(alpha[y0:y1, x0:x1])
    if method == "ml":
        Fc, Bc = _estimate_fb_ml_numpy(img_c, a_c)
    else:
        Fc, Bc = _estimate_fb_pymatting(img_c, a_c)
    return box, Fc, Bc


def _check_method(method):
    if method not in ("ml", "pymatting"):
        raise JobSpecError("unknown foreground method %r (use 'ml' or 'pymatting')" % (method,), field="method")


def estimate_foreground(image, alpha, *, method="ml", margin=16):
    """Estimate foreground and background colours ``(F, B)``, each float32 (H, W, 3).

    Only the crop around the pixels with ``0 < alpha < 1`` (grown by ``margin``) is solved; elsewhere
    ``F = B = image``. ``F`` equals the image where ``alpha == 1`` and ``B`` where ``alpha == 0`` up to
    the solver's regularisation. ``method``: ``"ml"`` (numpy, default) or ``"pymatting"``.
    """
    image, alpha = _check(image, alpha)
    _check_method(method)
    F = image.copy()
    B = image.copy()
    box, Fc, Bc = _solve_crop(image, alpha, method, margin)
    if box is not None:
        y0, y1, x0, x1 = box
        F[y0:y1, x0:x1] = Fc
        B[y0:y1, x0:x1] = Bc
    return F, B


def premultiplied_foreground(image, alpha, *, method="ml", margin=16, return_background=False):
    """``alpha * F`` (float32 (H, W, 3), scene-linear when ``image`` is), the premultiplied foreground.

    ``F`` is the plate itself where ``alpha == 1`` (exactly), the un-mixed estimate where
    ``0 < alpha < 1``; the result is 0 where ``alpha == 0``. With ``return_background=True`` returns
    ``(premult, crop)`` where ``crop`` is None (binary alpha) or ``(box, F_crop, B_crop)`` with
    ``box = (y0, y1, x0, x1)``: the solver's foreground and background on the edge band's crop (used
    by the quality map, which reads them on the band's pixels).
    """
    image, alpha = _check(image, alpha)
    _check_method(method)
    premult = alpha[..., None] * image          # exact where alpha is 0 or 1
    box, Fc, Bc = _solve_crop(image, alpha, method, margin)
    if box is not None:
        # only the edge band (eps < alpha < 1 - eps) takes the un-mixed colour: elsewhere alpha * F is
        # already alpha * plate (F is the plate where alpha is 1; nothing shows where it is 0)
        y0, y1, x0, x1 = box
        a_c = alpha[y0:y1, x0:x1]
        ys, xs = np.nonzero((a_c > _EPS_ALPHA) & (a_c < 1.0 - _EPS_ALPHA))
        premult[ys + y0, xs + x0] = a_c[ys, xs, None] * Fc[ys, xs]
    premult = premult.astype(np.float32, copy=False)
    if return_background:
        return premult, (None if box is None else (box, Fc, Bc))
    return premult
