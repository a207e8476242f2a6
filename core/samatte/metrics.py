"""Matting and segmentation quality metrics.

Alpha metrics follow the RobustVideoMatting / MatAnyone evaluation code (the conventions in
``shared/eval/README.md``): inputs are alpha mattes as float arrays in [0, 1] (uint8 arrays in
0-255 are scaled by 1/255), compared over the whole frame.

- :func:`mad`  mean |a - g| x 1e3
- :func:`mse`  mean (a - g)^2 x 1e3
- :func:`grad` sum (|grad a| - |grad g|)^2 / 1000, both mattes min-max normalised, derivative-of-Gaussian
  filter (sigma 1.4, size from sigma -> 9x9, unit L2 norm), replicate border
- :func:`conn` sum |phi(a) - phi(g)| / 1000 (threshold step 0.1, theta 0.15, largest 4-connected
  component of the intersection)
- :func:`dtssd` sqrt(sum((a_t - a_t-1) - (g_t - g_t-1))^2 / (H W)) x 1e2, averaged over frames with
  frame 0 counted as 0

Segmentation (DAVIS): :func:`davis_j` (IoU) and :func:`davis_f` (boundary F-measure, tolerance
ceil(0.008 x image diagonal) px).
"""
import math

import numpy as np

from .errors import SamatteError

__all__ = ["mad", "mse", "grad", "conn", "dtssd", "davis_j", "davis_f", "as_alpha"]


def as_alpha(a):
    """float64 copy of a matte in [0, 1]; uint8 (0-255) and bool inputs are converted."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    a = a.astype(np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return a


def _pair(a, g):
    a, g = as_alpha(a), as_alpha(g)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if g.ndim == 3 and g.shape[2] == 1:
        g = g[..., 0]
    if a.shape != g.shape or a.ndim != 2:
        raise SamatteError("metric inputs must be 2-D mattes of the same shape, got %s and %s"
                           % (a.shape, g.shape))
    return a, g


def mad(a, g):
    a, g = _pair(a, g)
    return float(np.abs(a - g).mean() * 1e3)


def mse(a, g):
    a, g = _pair(a, g)
    return float(((a - g) ** 2).mean() * 1e3)


def _gaussian(x, sigma):
    return np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))


def _dgaussian(x, sigma):
    return -x * _gaussian(x, sigma) / sigma ** 2


_FILTERS = {}


def gauss_filters(sigma=1.4, epsilon=1e-2):
    """(filter_x, filter_y) derivative-of-Gaussian kernels as in the evaluation code (9x9 at 1.4)."""
    key = (sigma, epsilon)
    if key not in _FILTERS:
        half = np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon)))
        size = int(2 * half + 1)
        i = np.arange(size) - half
        fx = _gaussian(i, sigma)[:, None] * _dgaussian(i, sigma)[None, :]  # rows: y, cols: x
        fx = fx / np.sqrt((fx ** 2).sum())
        _FILTERS[key] = (fx, fx.T.copy())
    return _FILTERS[key]


def _minmax(x):
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 0:
        return np.zeros_like(x)
    return (x - lo) / (hi - lo)


def _gauss_gradient(img, sigma):
    import cv2
    fx, fy = gauss_filters(sigma)
    gx = cv2.filter2D(img, -1, fx, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(img, -1, fy, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx ** 2 + gy ** 2)


def grad(a, g, *, sigma=1.4):
    a, g = _pair(a, g)
    ga = _gauss_gradient(_minmax(a), sigma).astype(np.float32)
    gg = _gauss_gradient(_minmax(g), sigma).astype(np.float32)
    return float(((gg - ga) ** 2).sum() / 1000)


def conn(a, g, *, step=0.1, theta=0.15):
    import cv2
    a, g = _pair(a, g)
    steps = np.arange(0, 1 + step, step)
    round_down = -np.ones_like(g)
    for i in range(1, len(steps)):
        inter = ((g >= steps[i]) & (a >= steps[i])).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(inter, connectivity=4)
        sizes = stats[1:, -1]
        omega = np.zeros(g.shape, bool)
        if len(sizes):
            omega = labels == (int(np.argmax(sizes)) + 1)
        m = (round_down == -1) & ~omega
        round_down[m] = steps[i - 1]
    round_down[round_down == -1] = 1
    gd = g - round_down
    ad = a - round_down
    g_phi = 1 - gd * (gd >= theta)
    a_phi = 1 - ad * (ad >= theta)
    return float(np.abs(g_phi - a_phi).sum() / 1000)


def dtssd(alphas, gts):
    """Temporal coherence error of a clip: sequences (or T x H x W arrays) of predicted and GT mattes."""
    alphas, gts = list(alphas), list(gts)
    if len(alphas) != len(gts) or not alphas:
        raise SamatteError("dtssd needs two non-empty sequences of the same length (%d, %d)"
                           % (len(alphas), len(gts)))
    pairs = [_pair(a, g) for a, g in zip(alphas, gts)]   # each frame converted once
    vals = [0.0]
    for t in range(1, len(pairs)):
        (a, g), (ap, gp) = pairs[t], pairs[t - 1]
        d = ((a - ap) - (g - gp)) ** 2
        vals.append(math.sqrt(d.sum() / g.size) * 1e2)
    return float(np.mean(vals))


def _binary(m):
    m = np.asarray(m)
    if m.dtype == bool:
        return m
    return as_alpha(m) >= 0.5


def davis_j(mask, gt):
    """Region similarity J: intersection over union (1.0 when both are empty)."""
    m, g = _binary(mask), _binary(gt)
    if m.shape != g.shape:
        raise SamatteError("davis_j: shapes differ %s vs %s" % (m.shape, g.shape))
    union = np.logical_or(m, g).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(m, g).sum() / union)


def _seg2bmap(seg):
    """One-pixel-wide boundary map of a binary segmentation (DAVIS ``seg2bmap`` at native size)."""
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def _disk(r):
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return ((x * x + y * y) <= r * r).astype(np.uint8)


def davis_f(mask, gt, *, tolerance=None):
    """Contour accuracy F: boundary precision/recall with a tolerance of ceil(0.008 x diagonal) px
    (or ``tolerance`` px)."""
    import cv2
    m, g = _binary(mask), _binary(gt)
    if m.shape != g.shape:
        raise SamatteError("davis_f: shapes differ %s vs %s" % (m.shape, g.shape))
    if tolerance is None:
        tolerance = int(math.ceil(0.008 * math.hypot(*m.shape)))
    tolerance = int(tolerance)
    fb = _seg2bmap(m)
    gb = _seg2bmap(g)
    k = _disk(tolerance)
    fd = cv2.dilate(fb.astype(np.uint8), k) > 0
    gd = cv2.dilate(gb.astype(np.uint8), k) > 0
    n_f, n_g = int(fb.sum()), int(gb.sum())
    if n_f == 0 and n_g == 0:
        return 1.0
    if n_f == 0:
        precision, recall = 1.0, 0.0
    elif n_g == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = float((fb & gd).sum()) / n_f
        recall = float((gb & fd).sum()) / n_g
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
