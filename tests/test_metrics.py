"""samatte.metrics on tiny hand-computed cases."""
import math

import numpy as np
import pytest

from samatte import metrics as M
from samatte.errors import SamatteError


def square(n=20, lo=5, hi=15):
    a = np.zeros((n, n))
    a[lo:hi, lo:hi] = 1.0
    return a


def test_mad_mse_hand_values():
    g = np.zeros((2, 2))
    a = np.array([[0.5, 0.0], [0.0, 0.1]])
    assert M.mad(a, g) == pytest.approx((0.5 + 0.1) / 4 * 1e3)
    assert M.mse(a, g) == pytest.approx((0.25 + 0.01) / 4 * 1e3)
    assert M.mad(g, g) == 0.0


def test_uint8_inputs_are_scaled():
    g = np.zeros((2, 2), np.uint8)
    a = np.full((2, 2), 255, np.uint8)
    assert M.mad(a, g) == pytest.approx(1000.0)
    assert M.mad(a, np.ones((2, 2))) == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(SamatteError):
        M.mad(np.zeros((2, 2)), np.zeros((3, 2)))


def test_gauss_filter_matches_evaluation_code():
    fx, fy = M.gauss_filters(1.4)
    assert fx.shape == (9, 9)
    assert (fx ** 2).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(fy, fx.T)
    # odd in x, even in y; x-derivative of a Gaussian: negative for positive x offset
    np.testing.assert_allclose(fx, -fx[:, ::-1], atol=1e-15)
    np.testing.assert_allclose(fx, fx[::-1, :], atol=1e-15)
    assert fx[4, 5] < 0 < fx[4, 3]
    assert fx[:, 4].sum() == 0


def test_grad_zero_for_identical_and_invariant_to_scale():
    g = square()
    assert M.grad(g, g) == 0.0
    # min-max normalisation: a matte scaled to [0, 0.5] has the same gradient magnitude profile
    assert M.grad(g * 0.5, g) == pytest.approx(0.0, abs=1e-9)
    assert M.grad(np.zeros_like(g), g) > 0


def test_grad_hand_value_single_step():
    # a vertical step edge: |grad| is the column profile of the x filter response
    g = np.zeros((9, 9))
    g[:, 5:] = 1
    a = np.zeros_like(g)  # constant -> normalised to zeros, gradient 0
    fx, _ = M.gauss_filters()
    # response to a step at columns >= 5 with replicate border, away from top/bottom rows it is
    # the column sums of fx convolved with the step; compute it independently with numpy
    pad = np.pad(g, 4, mode="edge")
    resp = np.zeros_like(g)
    for y in range(9):
        for x in range(9):
            resp[y, x] = (pad[y:y + 9, x:x + 9] * fx).sum()  # cv2.filter2D is correlation
    assert M.grad(a, g) == pytest.approx((resp.astype(np.float32) ** 2).sum() / 1000, rel=1e-5)


def test_conn_hand_value():
    g = square()
    a = g.copy()
    a[5, 5] = 0.5
    # pixel drops out of the largest component at threshold 0.6 -> l = 0.5;
    # phi(g) = 1 - (1 - 0.5) = 0.5, phi(a) = 1 - 0 = 1 (0 < theta)
    assert M.conn(a, g) == pytest.approx(0.5 / 1000)
    assert M.conn(g, g) == 0.0


def test_conn_disconnected_blob_is_penalised():
    g = square()
    a = g.copy()
    a[0:2, 0:2] = 1.0   # an island not connected to the object
    # island in a: l = 0 (never in the intersection), phi(a) = 1 - 1 = 0, phi(g) = 1 - 0 = 1
    assert M.conn(a, g) == pytest.approx(4 / 1000)


def test_dtssd_hand_value():
    g0 = np.zeros((2, 2))
    g1 = np.zeros((2, 2))
    a0 = np.zeros((2, 2))
    a1 = np.zeros((2, 2))
    a1[0, 0] = 0.4
    # frame 0 counts 0; frame 1: sqrt(0.16 / 4) * 100 = 20 -> mean 10
    assert M.dtssd([a0, a1], [g0, g1]) == pytest.approx(10.0)
    assert M.dtssd([a0, a1, a1], [g0, g1, g1]) == pytest.approx(20.0 / 3)
    with pytest.raises(SamatteError):
        M.dtssd([a0], [g0, g1])


def test_davis_j():
    g = np.zeros((4, 4), bool)
    g[:2, :2] = True
    m = np.zeros((4, 4), bool)
    m[:2, :] = True
    assert M.davis_j(m, g) == pytest.approx(4 / 8)
    assert M.davis_j(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert M.davis_j(np.full((2, 2), 255, np.uint8), np.ones((2, 2), bool)) == 1.0


def test_davis_f_identical_shifted_and_empty():
    g = square(100, 20, 80)
    assert M.davis_f(g, g) == 1.0
    # tolerance ceil(0.008 * sqrt(2) * 100) = 2 px: a 1 px shift is still perfect, 10 px is not
    sh1 = np.roll(g, 1, axis=1)
    assert M.davis_f(sh1, g) == 1.0
    sh10 = np.roll(g, 10, axis=1)
    assert M.davis_f(sh10, g) < 0.8
    assert M.davis_f(sh10, g, tolerance=10) == pytest.approx(1.0)
    assert M.davis_f(np.zeros_like(g), g) == 0.0
    assert M.davis_f(np.zeros_like(g), np.zeros_like(g)) == 1.0
    assert math.ceil(0.008 * math.hypot(100, 100)) == 2
