"""Foreground un-mixing: comps over a new background without the old background's halo."""
import cv2
import numpy as np
import pytest

from samatte.errors import JobSpecError
from samatte.matte.foreground import edge_band_box, estimate_foreground, premultiplied_foreground

H, W = 90, 120


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    F = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), 6.0)
    F = 0.2 + 0.8 * (F - F.min()) / (F.max() - F.min()) * np.array([1.0, 0.6, 0.3], np.float32)
    B = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), 3.0)
    B = 0.05 + 0.9 * (B - B.min()) / (B.max() - B.min()) * np.array([0.2, 0.5, 1.0], np.float32)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    r = np.hypot(x - 60, y - 45)
    # a soft disk with hair-like wisps: a wide semi-transparent edge
    wisps = 0.5 + 0.5 * np.sin(np.arctan2(y - 45, x - 60) * 14)
    alpha = np.clip((28 - r) / 8.0 + 0.5 * wisps, 0, 1).astype(np.float32)
    I = alpha[..., None] * F + (1 - alpha[..., None]) * B
    return I.astype(np.float32), alpha, F.astype(np.float32), B.astype(np.float32)


def test_comp_over_new_background_has_less_edge_error_than_naive():
    I, a, F, B = _scene()
    new_bg = np.zeros_like(I)
    new_bg[..., 1] = 0.8
    gt = a[..., None] * F + (1 - a[..., None]) * new_bg
    P = premultiplied_foreground(I, a)
    ours = P + (1 - a[..., None]) * new_bg
    naive = a[..., None] * I + (1 - a[..., None]) * new_bg
    edge = (a > 0.05) & (a < 0.95)
    err_ours = np.abs(ours - gt)[edge].mean()
    err_naive = np.abs(naive - gt)[edge].mean()
    assert err_ours < 0.5 * err_naive, (err_ours, err_naive)


def test_premultiplied_is_plate_where_solid_and_zero_outside():
    I, a, _, _ = _scene(1)
    P = premultiplied_foreground(I, a)
    assert P.dtype == np.float32 and P.shape == I.shape
    np.testing.assert_array_equal(P[a >= 1.0], I[a >= 1.0])
    assert np.all(P[a <= 0.0] == 0.0)
    # premultiplied colour never exceeds what alpha allows of the plate's range
    assert np.all(P <= a[..., None] * I.max() + 1e-5)


def test_scene_linear_scale_invariance():
    """Scene-linear plates go above 1: the un-mixing must not clip them (F(kI) = k F(I))."""
    I, a, _, _ = _scene(2)
    P1 = premultiplied_foreground(I, a)
    P8 = premultiplied_foreground(I * 8.0, a)
    np.testing.assert_allclose(P8, 8.0 * P1, rtol=1e-3, atol=1e-4)


def test_binary_alpha_and_band_box():
    I, a, _, _ = _scene(3)
    hard = (a > 0.5).astype(np.float32)
    assert edge_band_box(hard) is None
    F, B = estimate_foreground(I, hard)
    np.testing.assert_array_equal(F, I)
    np.testing.assert_array_equal(premultiplied_foreground(I, hard), I * hard[..., None])
    y0, y1, x0, x1 = edge_band_box(a, margin=0)
    soft = (a > 1 / 1024) & (a < 1 - 1 / 1024)
    assert soft[y0:y1, x0:x1].sum() == soft.sum()


def test_bad_input_raises():
    with pytest.raises(JobSpecError):
        premultiplied_foreground(np.zeros((4, 4, 3), np.float32), np.zeros((5, 4), np.float32))
    with pytest.raises(JobSpecError):
        estimate_foreground(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.float32), method="nope")
