"""Band-restricted closed-form solve: agreement with pymatting, and its two preconditioners."""
import cv2
import numpy as np

from samatte.matte import cfsolve


def _scene(h=72, w=96, seed=3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    alpha = np.clip((22 - np.hypot(x - w / 2, y - h / 2)) / 3.0 + 0.5, 0, 1)
    bg = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0) * 0.6 + 0.2
    img = alpha[..., None] * np.array([0.9, 0.5, 0.1], np.float32) + (1 - alpha[..., None]) * bg
    hard = alpha >= 0.5
    k = np.ones((9, 9), np.uint8)
    unknown = (cv2.dilate(hard.astype(np.uint8), k) > 0) & ~(cv2.erode(hard.astype(np.uint8), k) > 0)
    a0 = np.where(hard, 1.0, 0.0)
    return img.astype(np.float64), alpha, unknown, a0


def test_matches_pymatting_closed_form_inside_the_frame():
    import pymatting
    img, alpha, unknown, a0 = _scene()
    tri = a0.copy()
    tri[unknown] = 0.5
    ref = np.clip(pymatting.estimate_alpha_cf(img, tri), 0, 1)
    ours = cfsolve.solve_crop(img, unknown, a0, eps=1e-7, tol=1e-8, maxiter=5000)
    assert np.abs(ours - ref)[unknown].max() < 0.02
    assert np.abs(ours - alpha)[unknown].mean() < 0.05


def test_jacobi_and_ichol_agree_and_jacobi_falls_back(monkeypatch):
    img, alpha, unknown, a0 = _scene()
    prior = cv2.GaussianBlur(a0, (0, 0), 2.0)
    w = np.full(a0.shape, 0.01)
    jac = cfsolve.solve_crop(img, unknown, a0, prior=prior, weight=w, tol=1e-7)
    # with no data term the factorised preconditioner is used; force it with the data term too
    A, b, x0, idx = cfsolve.solve_crop(img, unknown, a0, prior=prior, weight=w, return_system=True)
    x_ichol = cfsolve._solve(A, b, x0, tol=1e-7, maxiter=2000, jacobi_first=False)
    assert np.abs(jac.ravel()[idx] - np.clip(x_ichol, 0, 1)).max() < 1e-3
    # Jacobi that does not converge hands over to ichol: the answer is the same
    monkeypatch.setattr(cfsolve, "_jacobi_cg", lambda *a, **k: (np.zeros_like(b), False))
    fb = cfsolve.solve_crop(img, unknown, a0, prior=prior, weight=w, tol=1e-7)
    assert np.abs(fb.ravel()[idx] - np.clip(x_ichol, 0, 1)).max() < 1e-3


def test_inv3_of_a_window_whose_float32_determinant_is_not_positive():
    """An edge of strongly correlated channels over a tiny regulariser: float32 cancellation gave this
    window's covariance a determinant <= 0 (exact bits from a 1080p composite), the inverse inf or of
    the wrong sign, and NaN alpha over ~2800 px after the guided filter's box average. It is inverted
    again in float64: a finite, positive definite inverse."""
    hexes = ['0x1.3d01520000000p-6', '0x1.6061780000000p-6', '0x1.67c29a0000000p-6', '0x1.6061780000000p-6',
             '0x1.87d6160000000p-6', '0x1.8ffb7a0000000p-6', '0x1.67c29a0000000p-6', '0x1.8ffb7a0000000p-6',
             '0x1.986b560000000p-6']
    a = np.array([float.fromhex(h) for h in hexes], np.float32).reshape(1, 3, 3)
    with np.errstate(all="ignore"):
        _raw, det = cfsolve._inv3_raw(a)
    assert not det[0] > 0                      # the case: float32 says <= 0
    inv = cfsolve._inv3(a)
    assert inv.dtype == np.float32 and np.isfinite(inv).all()
    assert np.linalg.eigvalsh(inv[0].astype(np.float64)).min() > 0
    ref = np.linalg.inv(a[0].astype(np.float64))
    assert np.allclose(inv[0], ref, rtol=1e-5, atol=0)
    good = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]], np.float32)[None]
    assert np.array_equal(cfsolve._inv3(good), cfsolve._inv3_raw(good)[0])   # the usual case: untouched


def test_guided_filter_on_a_flat_guide_without_regulariser_is_the_local_mean():
    """Windows with no colour variation and no regulariser: singular covariances (float32 and float64),
    which gave inf coefficients and NaN; pseudo-inverted, the filter is the local mean of the source."""
    import cv2
    from samatte.matte.refine import guided_filter
    g = np.full((24, 24, 3), 0.25, np.float32)
    src = np.zeros((24, 24), np.float32)
    src[:, 12:] = 1.0
    out = guided_filter(g, src, 2, 0.0)
    assert np.isfinite(out).all()
    mean = cv2.boxFilter(cv2.boxFilter(src, -1, (5, 5), borderType=cv2.BORDER_REFLECT), -1, (5, 5),
                         borderType=cv2.BORDER_REFLECT)
    assert np.allclose(out, mean, atol=1e-6)
