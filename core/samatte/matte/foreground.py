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
    unknown = (alpha > _EPS_ALPHA) & (alpha < 1.0 - _EPS_ALPHA)
    rows = np.flatnonzero(unknown.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(unknown.any(axis=0))
    h, w = alpha.shape
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))


def _shift_views(a):
    """Neighbour values (left, right, up, down) with replicated borders, as full-size arrays."""
    p = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    return (p[1:-1, :-2], p[1:-1, 2:], p[:-2, 1:-1], p[2:, 1:-1])


def _estimate_fb_ml_numpy(image, alpha, *, regularization=1e-5, gradient_weight=1.0,
                          n_small_iterations=10, n_big_iterations=3, small_size=32):
    h0, w0, _ = image.shape
    fg_sel = alpha > 0.9
    bg_sel = alpha < 0.1
    f_mean = image[fg_sel].mean(axis=0) if fg_sel.any() else image.reshape(-1, 3).mean(axis=0)
    b_mean = image[bg_sel].mean(axis=0) if bg_sel.any() else image.reshape(-1, 3).mean(axis=0)
    F = np.broadcast_to(f_mean.astype(np.float32), (1, 1, 3)).copy()
    B = np.broadcast_to(b_mean.astype(np.float32), (1, 1, 3)).copy()
    lo = float(min(0.0, image.min()))
    hi = float(max(1.0, image.max()))
    n_levels = max(1, int(np.ceil(np.log2(max(w0, h0)))))
    for level in range(n_levels + 1):
        w = max(1, int(round(w0 ** (level / n_levels))))
        h = max(1, int(round(h0 ** (level / n_levels))))
        if (h, w) == (h0, w0):
            img, a = image, alpha
        else:
            img = cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST)
            a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_NEAREST)
        F = cv2.resize(F, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, 3)
        B = cv2.resize(B, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, 3)
        a1 = 1.0 - a
        # Per-neighbour smoothness weights (constant over the iterations of a level).
        weights = [regularization + gradient_weight * np.abs(a - an) for an in _shift_views(a)]
        wsum = sum(weights)
        a00 = a * a + wsum
        a11 = a1 * a1 + wsum
        a01 = a * a1
        inv_det = 1.0 / (a00 * a11 - a01 * a01)
        b0_data = a[..., None] * img
        b1_data = a1[..., None] * img
        n_iter = n_small_iterations if (w <= small_size and h <= small_size) else n_big_iterations
        for _ in range(n_iter):
            b0 = b0_data.copy()
            b1 = b1_data.copy()
            for wn, fn, bn in zip(weights, _shift_views(F), _shift_views(B)):
                b0 += wn[..., None] * fn
                b1 += wn[..., None] * bn
            F = (inv_det * a11)[..., None] * b0 - (inv_det * a01)[..., None] * b1
            B = (inv_det * a00)[..., None] * b1 - (inv_det * a01)[..., None] * b0
            np.clip(F, lo, hi, out=F)
            np.clip(B, lo, hi, out=B)
    return F.astype(np.float32, copy=False), B.astype(np.float32, copy=False)


def _estimate_fb_pymatting(image, alpha):
    try:
        from pymatting import estimate_foreground_ml  # lazy: numba JIT on first import
    except ImportError as exc:  # pragma: no cover - pymatting is a declared dependency
        raise DependencyError("foreground method 'pymatting' needs the pymatting package") from exc
    # pymatting clips F and B to [0, 1]: scale scene-linear values into that range and back.
    scale = float(max(1.0, image.max()))
    F, B = estimate_foreground_ml(np.ascontiguousarray(image / scale, dtype=np.float64),
                                  np.ascontiguousarray(alpha, dtype=np.float64), return_background=True)
    return (F * scale).astype(np.float32), (B * scale).astype(np.float32)


def estimate_foreground(image, alpha, *, method="ml", margin=16):
    """Estimate foreground and background colours ``(F, B)``, each float32 (H, W, 3).

    Only the crop around the pixels with ``0 < alpha < 1`` (grown by ``margin``) is solved; elsewhere
    ``F = B = image``. ``F`` equals the image where ``alpha == 1`` and ``B`` where ``alpha == 0`` up to
    the solver's regularisation. ``method``: ``"ml"`` (numpy, default) or ``"pymatting"``.
    """
    image, alpha = _check(image, alpha)
    if method not in ("ml", "pymatting"):
        raise JobSpecError("unknown foreground method %r (use 'ml' or 'pymatting')" % (method,), field="method")
    F = image.copy()
    B = image.copy()
    box = edge_band_box(alpha, margin=margin)
    if box is None:
        return F, B
    y0, y1, x0, x1 = box
    img_c = np.ascontiguousarray(image[y0:y1, x0:x1])
    a_c = np.ascontiguousarray(alpha[y0:y1, x0:x1])
    if method == "ml":
        Fc, Bc = _estimate_fb_ml_numpy(img_c, a_c)
    else:
        Fc, Bc = _estimate_fb_pymatting(img_c, a_c)
    F[y0:y1, x0:x1] = Fc
    B[y0:y1, x0:x1] = Bc
    return F, B


def premultiplied_foreground(image, alpha, *, method="ml", margin=16, return_background=False):
    """``alpha * F`` (float32 (H, W, 3), scene-linear when ``image`` is), the premultiplied foreground.

    ``F`` is the plate itself where ``alpha == 1`` (exactly), the un-mixed estimate where
    ``0 < alpha < 1``; the result is 0 where ``alpha == 0``. With ``return_background=True`` also
    returns the background estimate ``B`` (used by the quality map).
    """
    image, alpha = _check(image, alpha)
    F, B = estimate_foreground(image, alpha, method=method, margin=margin)
    solid = alpha >= 1.0 - _EPS_ALPHA
    F[solid] = image[solid]
    premult = alpha[..., None] * F
    premult[alpha <= _EPS_ALPHA] = 0.0
    if return_background:
        return premult.astype(np.float32, copy=False), B
    return premult.astype(np.float32, copy=False)
