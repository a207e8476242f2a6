"""Closed-form (Levin et al. 2008) matting restricted to a band of unknown pixels, tiled.

The matting Laplacian is built only from the 3x3 windows that touch an unknown pixel, with numpy
(no JIT), so memory grows with the band, never with the frame. Large bands are solved tile by tile:
each tile solves its unknown pixels with the pixels around it held at the current estimate
(block Gauss-Seidel), and tiles overlap so that seams are invisible.

An optional data term ``weight * (alpha - prior)^2`` ties the solution to a prior alpha where the image
says little (it also makes the system well conditioned).
"""
import numpy as np
import cv2
import scipy.sparse
import scipy.sparse.linalg

from ..progress import checkpoint
from .quiet import quiet_stdout
from .regions import reach_box

__all__ = ["solve_band", "solve_crop"]

_OFFS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])


def _inv3(a):
    """Inverse of a stack of symmetric positive definite 3x3 matrices (N,3,3), vectorised. A matrix
    whose determinant comes out <= 0 (not finite, or float32 cancellation on a nearly singular window:
    an edge of strongly correlated channels over a small regulariser) is inverted again in float64, or
    pseudo-inverted where it is singular there too: one such window gave inf and then NaN, which the
    guided filter's box average spread over ~2800 px of alpha (a hole in the written matte)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv, det = _inv3_raw(a)
    bad = ~(det > 0)
    if bad.any():
        sub = a[bad]
        if sub.dtype != np.float64:
            inv[bad] = _inv3(sub.astype(np.float64)).astype(a.dtype)
        else:
            inv[bad] = np.linalg.pinv(np.nan_to_num(sub, nan=0.0, posinf=0.0, neginf=0.0), hermitian=True)
    return inv


def _inv3_raw(a):
    a00, a01, a02 = a[:, 0, 0], a[:, 0, 1], a[:, 0, 2]
    a11, a12, a22 = a[:, 1, 1], a[:, 1, 2], a[:, 2, 2]
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    det = a00 * c00 + a01 * c01 + a02 * c02
    inv = np.empty_like(a)
    r = 1.0 / det
    inv[:, 0, 0] = c00 * r
    inv[:, 0, 1] = inv[:, 1, 0] = c01 * r
    inv[:, 0, 2] = inv[:, 2, 0] = c02 * r
    inv[:, 1, 1] = c11 * r
    inv[:, 1, 2] = inv[:, 2, 1] = c12 * r
    inv[:, 2, 2] = c22 * r
    return inv, det


def solve_crop(img, unknown, alpha, *, eps=1e-6, prior=None, weight=None, tol=1e-5, maxiter=2000,
               return_system=False):
    """Solve closed-form matting on one crop.

    img: f64 (h,w,3); unknown: bool (h,w) (windows are centred on interior pixels only, so pixels
    on the outermost ring are constrained by fewer windows);
    alpha: f64 (h,w) values of the known pixels and initial guess of the unknown ones;
    prior/weight: optional f64 (h,w) data term. Returns a new alpha (h,w).
    """
    h, w = unknown.shape
    unk = unknown  # only read
    out = alpha.astype(np.float64, copy=True)
    n = int(unk.sum())
    if n == 0:
        return out
    # window centres: interior pixels whose 3x3 window holds an unknown pixel
    cen = cv2.dilate(unk.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    cen[0, :] = cen[-1, :] = cen[:, 0] = cen[:, -1] = False
    cy, cx = np.nonzero(cen)
    img = np.ascontiguousarray(img, dtype=np.float64)
    py = cy[:, None] + _OFFS[None, :, 0]
    px = cx[:, None] + _OFFS[None, :, 1]
    idx = (py * w + px).astype(np.int64)                # (N,9)
    P = img[py, px]                                     # (N,9,3) window colours
    C = P - P.mean(1, keepdims=True)
    cov = np.matmul(C.transpose(0, 2, 1), C) / 9.0 + (eps / 9.0) * np.eye(3)
    G = np.matmul(np.matmul(C, _inv3(cov)), C.transpose(0, 2, 1))
    del P, C, cov
    # (N,9,9): L entries of window pairs, eye(9) - (1 + G) / 9, computed in G's buffer
    G += 1.0
    G /= 9.0
    vals = np.subtract(np.eye(9), G, out=G)
    # int32 row/column numbers (a crop has far fewer than 2^31 pixels): the sparse matrix keeps int32
    # indices, which it would otherwise make by checking and copying int64 ones (the same matrix)
    uidx = np.full(h * w, -1, np.int32)
    flat_unk = np.flatnonzero(unk.ravel())
    uidx[flat_unk] = np.arange(n, dtype=np.int32)
    rowu = uidx[idx]                                    # (N,9)
    win, row = np.nonzero(rowu >= 0)                    # (window, its pixel) of the rows that are unknown
    ru = np.repeat(rowu[win, row], 9)
    cols = idx[win].ravel()                             # each such row's 9 columns (the window's pixels)
    cu = rowu[win].ravel()                              # = uidx[cols]
    vals = vals[win, row].ravel()
    inner = cu >= 0
    outer = ~inner
    A = scipy.sparse.csr_matrix((vals[inner], (ru[inner], cu[inner])), shape=(n, n))
    a_flat = out.ravel()
    b = -np.bincount(ru[outer], weights=vals[outer] * a_flat[cols[outer]], minlength=n)
    x0 = a_flat[flat_unk].copy()
    if weight is not None:
        wv = weight.ravel()[flat_unk]
        pv = (prior if prior is not None else alpha).ravel()[flat_unk]
        A = A + scipy.sparse.diags(wv)
        b = b + wv * pv
    if return_system:
        return A.tocsr(), b, x0, flat_unk
    # with a data term on most unknown pixels the system is diagonally weighted enough for Jacobi-
    # preconditioned CG, which skips the incomplete Cholesky factorisation (same answers on the
    # stills and synthvideo, ~20% less time per 1080p frame); it falls back to ichol if it stalls
    jacobi = weight is not None and np.count_nonzero(wv > 0) >= 0.5 * n
    x = _solve(A.tocsr(), b, x0, tol=tol, maxiter=maxiter, jacobi_first=jacobi)
    a_flat[flat_unk] = np.clip(x, 0.0, 1.0)
    return a_flat.reshape(h, w)


_RTOL = None
_PM = None


def _pymatting_solvers():
    """(ichol, cg) from pymatting (numba; imported lazily and cached), or None when unavailable."""
    global _PM
    if _PM is None:
        try:
            from .numbacache import import_pymatting
            _PM = (import_pymatting("pymatting.preconditioner.ichol").ichol,
                   import_pymatting("pymatting.solver.cg").cg)
        except MemoryError:   # memory, not a missing pymatting: never a silent switch of solver
            raise
        except Exception:  # pragma: no cover - pymatting missing or broken
            _PM = False
    return _PM or None


def _jacobi_cg(A, b, x0, *, tol, maxiter):
    """(x, converged) of CG with the diagonal as preconditioner."""
    d = A.diagonal()
    M = scipy.sparse.diags(1.0 / np.maximum(d, 1e-12))
    if _cg_has_rtol():
        x, info = scipy.sparse.linalg.cg(A, b, x0=x0, M=M, rtol=tol, maxiter=maxiter)
    else:  # pragma: no cover - old scipy
        x, info = scipy.sparse.linalg.cg(A, b, x0=x0, M=M, tol=tol, maxiter=maxiter)
    return x, info == 0


def _solve(A, b, x0, *, tol, maxiter, jacobi_first=False):
    if jacobi_first:
        x, ok = _jacobi_cg(A, b, x0, tol=tol, maxiter=maxiter)
        if ok:
            return x
    pm = _pymatting_solvers()
    if pm is not None:
        ichol, cg = pm
        # bound the factor's storage by the problem (pymatting reserves 4 GB by default)
        for fill in (6, 30, 150):
            try:
                with quiet_stdout():  # its "PERFORMANCE WARNING" prints
                    pre = ichol(A.tocsc(), max_nnz=int(fill * A.nnz + 1000))
                return cg(A, b, x0=x0, rtol=tol, maxiter=maxiter, M=pre)
            except ValueError:
                continue
    return _jacobi_cg(A, b, x0, tol=tol, maxiter=maxiter)[0]


def _cg_has_rtol():
    global _RTOL
    if _RTOL is None:
        import inspect
        _RTOL = "rtol" in inspect.signature(scipy.sparse.linalg.cg).parameters
    return _RTOL


def solve_band(img, unknown, alpha, *, eps=1e-6, prior=None, weight=None, tile=384, overlap=24,
               tol=1e-5, maxiter=2000, sweeps=1):
    """Closed-form matting of the ``unknown`` pixels of a full image, tile by tile.

    Only tiles holding unknown pixels are solved; each sees ``overlap`` extra pixels on each side
    and writes back its core. Returns f64 (H,W) alpha (known pixels keep ``alpha``'s values).
    """
    H, W = unknown.shape
    out = alpha.astype(np.float64, copy=True)
    box = reach_box(unknown, 0)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    for _ in range(max(1, sweeps)):
        for ty in range(y0, y1, tile):
            for tx in range(x0, x1, tile):
                cy0, cy1 = ty, min(ty + tile, y1)
                cx0, cx1 = tx, min(tx + tile, x1)
                if not unknown[cy0:cy1, cx0:cx1].any():
                    continue
                checkpoint()   # (a cancelled job stops between tiles: a 4K band has dozens)
                ey0, ey1 = max(0, cy0 - overlap), min(H, cy1 + overlap)
                ex0, ex1 = max(0, cx0 - overlap), min(W, cx1 + overlap)
                sl = (slice(ey0, ey1), slice(ex0, ex1))
                unk = unknown[sl].copy()
                # keep the outer ring fixed except where the crop touches the frame edge
                if ey0 > 0:
                    unk[0, :] = False
                if ey1 < H:
                    unk[-1, :] = False
                if ex0 > 0:
                    unk[:, 0] = False
                if ex1 < W:
                    unk[:, -1] = False
                res = solve_crop(img[sl], unk, out[sl], eps=eps,
                                 prior=None if prior is None else prior[sl],
                                 weight=None if weight is None else weight[sl], tol=tol, maxiter=maxiter)
                ry0, rx0 = cy0 - ey0, cx0 - ex0
                core = (slice(ry0, ry0 + (cy1 - cy0)), slice(rx0, rx0 + (cx1 - cx0)))
                out[cy0:cy1, cx0:cx1] = res[core]
    return out
