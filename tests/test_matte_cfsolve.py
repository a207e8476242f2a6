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
