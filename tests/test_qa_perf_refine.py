"""Speed changes of the matte stage change no output bit.

Each optimised helper is checked against the straightforward formula it replaced (kept here, as it
was) on random inputs with NaN, +-inf and -0.0 where they can occur, bit for bit; and a small job
(two mask objects, temporal state, resume) is written once with the optimised helpers and once with
the old formulas patched back in: the EXR files are byte-identical.
"""
import os

import cv2
import numpy as np
import scipy.sparse

from samatte import jobspec, pipeline
from samatte.io import masks as M
from samatte.matte import cfsolve as CF
from samatte.matte import foreground as FG
from samatte.matte import stage as S
from samatte.matte import temporal as T

_MERGE = S.merge_alphas


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


# -- the formulas as they were -------------------------------------------------------------------

def old_soft_clip(x, knee=0.9):
    x = np.maximum(np.asarray(x, np.float32), 0.0)
    over = x > knee
    if over.any():
        r = 1.0 - knee
        x = x.copy()
        x[over] = knee + r * (1.0 - np.exp(-(x[over] - knee) / r))
    return x


def old_linear_image(plate):
    lin = np.nan_to_num(np.asarray(plate.linear, np.float32)[..., :3], nan=0.0, posinf=1.0, neginf=0.0)
    return old_soft_clip(lin * S.exposure_gain(lin))


def old_merge_alphas(alphas, shape, masks=None):
    if masks is not None and len(list(alphas)) > 1:
        # the sum where the objects' masks meet (0.2.20) has no older formula: the job's merge as it is
        return _MERGE(alphas, shape, masks)
    out = np.ones(shape, np.float32)
    for a in alphas:
        out *= 1.0 - a
    return (1.0 - out).astype(np.float32)


def old_to_gray(display):
    d = np.asarray(display, dtype=np.float32)
    if d.ndim == 2:
        return np.clip(d, 0.0, 1.0)
    return np.clip(d[..., 0] * 0.2126 + d[..., 1] * 0.7152 + d[..., 2] * 0.0722, 0.0, 1.0)


def old_shift_tolerant(img, ref, reach=1, max_side=640):
    img = np.asarray(img, np.float32)
    ref = np.asarray(ref, np.float32)
    h, w = img.shape[:2]
    scale, size = T._working_size(h, w, max_side)
    if scale < 1.0:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
    hs, ws = img.shape[:2]
    pad = cv2.copyMakeBorder(ref, reach, reach, reach, reach, cv2.BORDER_REPLICATE)
    best = None
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            d = cv2.absdiff(img, pad[reach + dy:reach + dy + hs, reach + dx:reach + dx + ws])
            if d.ndim == 3:
                ch = cv2.split(d)
                d = ch[0]
                for c in ch[1:]:
                    d = cv2.max(d, c)
            best = d if best is None else cv2.min(best, d)
    if scale < 1.0:
        best = cv2.resize(best, (w, h), interpolation=cv2.INTER_LINEAR)
    return best


def old_level_sparse(img, a, F, B, n_iter, regularization, gradient_weight, lo, hi):
    h, w = a.shape
    frac = (a > FG._EPS_ALPHA) & (a < 1.0 - FG._EPS_ALPHA)
    active = cv2.dilate(frac.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return F, B
    nb = FG._neighbour_index(h, w, idx)
    af = a.reshape(-1)
    ai = af[idx]
    a1 = 1.0 - ai
    wn = regularization + gradient_weight * np.abs(ai[:, None] - af[nb])
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
    wn3 = wn[:, :, None]
    for _ in range(n_iter):
        b0 = b0_data + (wn3 * Ff[nb]).sum(axis=1)
        b1 = b1_data + (wn3 * Bf[nb]).sum(axis=1)
        Ff[idx] = np.clip(c_ff * b0 - c_fb * b1, lo, hi)
        Bf[idx] = np.clip(c_bb * b1 - c_fb * b0, lo, hi)
    return F, B


def old_solve_system(img, unknown, alpha, *, eps=1e-6, prior=None, weight=None):
    """solve_crop's system (A, b, x0, flat_unk) as it was built."""
    h, w = unknown.shape
    unk = unknown
    out = alpha.astype(np.float64, copy=True)
    n = int(unk.sum())
    cen = cv2.dilate(unk.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    cen[0, :] = cen[-1, :] = cen[:, 0] = cen[:, -1] = False
    cy, cx = np.nonzero(cen)
    img = np.ascontiguousarray(img, dtype=np.float64)
    py = cy[:, None] + CF._OFFS[None, :, 0]
    px = cx[:, None] + CF._OFFS[None, :, 1]
    idx = (py * w + px).astype(np.int64)
    P = img[py, px]
    C = P - P.mean(1, keepdims=True)
    cov = np.matmul(C.transpose(0, 2, 1), C) / 9.0 + (eps / 9.0) * np.eye(3)
    G = np.matmul(np.matmul(C, CF._inv3(cov)), C.transpose(0, 2, 1))
    vals = np.eye(9)[None] - (1.0 + G) / 9.0
    uidx = -np.ones(h * w, np.int64)
    flat_unk = np.flatnonzero(unk.ravel())
    uidx[flat_unk] = np.arange(n)
    rowu = uidx[idx]
    sel = rowu >= 0
    ru = np.repeat(rowu[sel], 9)
    cols = np.broadcast_to(idx[:, None, :], vals.shape)[sel].ravel()
    vals = vals[sel].ravel()
    cu = uidx[cols]
    inner = cu >= 0
    A = scipy.sparse.csr_matrix((vals[inner], (ru[inner], cu[inner])), shape=(n, n))
    a_flat = out.ravel()
    b = -np.bincount(ru[~inner], weights=vals[~inner] * a_flat[cols[~inner]], minlength=n)
    x0 = a_flat[flat_unk].copy()
    if weight is not None:
        wv = weight.ravel()[flat_unk]
        pv = (prior if prior is not None else alpha).ravel()[flat_unk]
        A = A + scipy.sparse.diags(wv)
        b = b + wv * pv
    return A.tocsr(), b, x0, flat_unk


def old_extend(img, x0, y0, shape):
    rows = np.clip(np.arange(shape[0]) - y0, 0, img.shape[0] - 1)
    cols = np.clip(np.arange(shape[1]) - x0, 0, img.shape[1] - 1)
    return np.ascontiguousarray(img[rows[:, None], cols[None, :]], dtype=np.float32)


# -- helpers against the old formulas --------------------------------------------------------------

def _specials(x, rng, n=20):
    flat = x.reshape(-1)
    for v in (np.nan, np.inf, -np.inf, -0.0, 0.0):
        flat[rng.integers(0, flat.size, n)] = v
    return x


class _Plate:
    def __init__(self, linear):
        self.linear = linear


def test_linear_image_and_soft_clip_bit_identical():
    rng = np.random.default_rng(1)
    for k in range(6):
        lin = (rng.random((37, 53, 4), np.float32) * (3.0 if k % 2 else 0.05) - 0.02).astype(np.float32)
        if k >= 2:
            _specials(lin, rng)
        p = _Plate(lin if k % 3 else np.ascontiguousarray(lin[..., :3]))
        assert same_bits(S._linear_image(p), old_linear_image(p))
        assert same_bits(S.soft_clip(lin[..., :3] * 1.7), old_soft_clip(lin[..., :3] * 1.7))
    assert not np.isnan(lin).all()   # (the plate still had its NaNs: _linear_image copies, never edits)


def test_merge_alphas_and_to_gray_bit_identical():
    rng = np.random.default_rng(2)
    alphas = [rng.random((30, 40), np.float32) for _ in range(3)]
    assert same_bits(S.merge_alphas(alphas, (30, 40)), old_merge_alphas(alphas, (30, 40)))
    assert same_bits(S.merge_alphas([], (30, 40)), old_merge_alphas([], (30, 40)))
    img = _specials(rng.random((30, 40, 3), np.float32) * 1.4 - 0.2, rng)
    assert same_bits(T.to_gray(img), old_to_gray(img))
    assert same_bits(T.to_gray(img[..., 1]), old_to_gray(img[..., 1]))


def test_channel_max_and_shift_tolerant_bit_identical():
    rng = np.random.default_rng(3)
    r = np.abs(_specials(rng.random((50, 70, 3), np.float32) - 0.5, rng))
    assert same_bits(T._channel_max(r), r.max(axis=2))
    assert same_bits(T._channel_max(r[..., :1]), r[..., :1].max(axis=2))
    for shape in ((40, 60, 3), (700, 90, 3), (45, 66)):    # small, resized (> max_side), one channel
        img = rng.random(shape, np.float32)
        ref = np.clip(img + rng.normal(0, 0.05, shape).astype(np.float32), 0, 1)
        assert same_bits(T._shift_tolerant(img, ref), old_shift_tolerant(img, ref))


def test_level_sparse_bit_identical():
    rng = np.random.default_rng(4)
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.clip((30 - np.hypot(yy - 30, xx - 40)) / 6.0 + rng.normal(0, 0.05, (h, w)), 0, 1)
    img = rng.random((h, w, 3)) * 1.5
    for dt in (np.float32, np.float64):
        F0 = rng.random((h, w, 3)).astype(dt)
        B0 = rng.random((h, w, 3)).astype(dt)
        args = (img.astype(dt), a.astype(dt))
        got = FG._level_sparse(*args, F0.copy(), B0.copy(), 3, 1e-5, 1.0, 0.0, 1.5)
        want = old_level_sparse(*args, F0.copy(), B0.copy(), 3, 1e-5, 1.0, 0.0, 1.5)
        assert same_bits(got[0], want[0]) and same_bits(got[1], want[1])
    # mixed precision (float32 image and estimates, float64 alpha) keeps numpy's own promotion
    got = FG._level_sparse(img.astype(np.float32), a, F0.astype(np.float32), B0.astype(np.float32), 2, 1e-5, 1.0, 0.0, 1.5)
    want = old_level_sparse(img.astype(np.float32), a, F0.astype(np.float32), B0.astype(np.float32), 2, 1e-5, 1.0, 0.0, 1.5)
    assert same_bits(got[0], want[0]) and same_bits(got[1], want[1])


def test_solve_crop_system_and_answer_bit_identical():
    rng = np.random.default_rng(5)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.abs(np.hypot(yy - 24, xx - 30) - 14) < 4
    img = rng.random((h, w, 3))
    alpha = (np.hypot(yy - 24, xx - 30) < 14).astype(np.float64)
    prior = rng.random((h, w))
    weight = np.where(rng.random((h, w)) < 0.7, 0.03, 0.0)
    for kw in ({}, {"prior": prior, "weight": weight}):
        A1, b1, x1, f1 = CF.solve_crop(img, edge, alpha, return_system=True, **kw)
        A0, b0, x0, f0 = old_solve_system(img, edge, alpha, **kw)
        for g, e in ((A1.data, A0.data), (A1.indices, A0.indices), (A1.indptr, A0.indptr), (b1, b0), (x1, x0),
                     (f1, f0)):
            assert same_bits(g, e)
        x = CF._solve(A0, b0, x0, tol=1e-5, maxiter=2000, jacobi_first="weight" in kw)
        out = alpha.copy().ravel()
        out[f0] = np.clip(x, 0.0, 1.0)
        assert same_bits(CF.solve_crop(img, edge, alpha, **kw), out.reshape(h, w))


def test_extend_bit_identical():
    rng = np.random.default_rng(6)
    img = rng.random((20, 30), np.float32)
    for x0, y0, shape in ((0, 0, (20, 30)), (2, 3, (25, 36)), (-1, 0, (20, 30)), (0, 0, (20, 31))):
        got = M._extend(img, x0, y0, shape)
        assert same_bits(got, old_extend(img, x0, y0, shape)) and got.flags.c_contiguous


# -- a small job, written with the optimised helpers and with the old ones: the same bytes ----------

def _write_shot(d, n=4, size=(192, 120)):
    from samatte.demo import make_shot
    s = make_shot(str(d / "shot"), frames=n, size=size)
    w, h = size
    os.makedirs(d / "m", exist_ok=True)
    import OpenImageIO as oiio
    for i, f in enumerate(s["frames"]):
        a = oiio.ImageBuf(s["gt"].replace("####", "%04d" % f)).get_pixels(oiio.FLOAT)[..., 0]
        cv2.imwrite(str(d / "m" / ("hero.%04d.png" % f)), np.roll((a > 0.5).astype(np.uint8) * 255, 2, axis=1))
        disc = np.zeros((h, w), np.uint8)
        cv2.ellipse(disc, (int(w * (0.25 + 0.03 * i)), int(h * 0.7)), (w // 8, h // 7), 15, 0, 360, 255, -1)
        cv2.imwrite(str(d / "m" / ("disc.%04d.png" % f)), disc)
    return s


def _run(s, d, out):
    fr = s["frames"]
    job = jobspec.new_job(s["plate"], str(out / "matte.####.exr"), frames="%d-%d" % (fr[0], fr[-1]),
                          tracker="flow", matte="refine", quality="draft", name="perf")
    jobspec.add_object(job, "hero", masks=str(d / "m" / "hero.####.png"))
    jobspec.add_object(job, "disc", masks=str(d / "m" / "disc.####.png"))
    return pipeline.run(job)


def _bytes(folder):
    return {p: (folder / p).read_bytes() for p in sorted(os.listdir(folder)) if p.endswith(".exr")}


def test_job_bytes_identical_to_the_old_formulas(tmp_path, monkeypatch):
    s = _write_shot(tmp_path)
    # the foreground's sparse levels (frames above 2^16 px) run on this small shot too, in both runs
    monkeypatch.setattr(FG, "_estimate_fb_ml_numpy", _ml_sparse_always)
    new = tmp_path / "new"
    _run(s, tmp_path, new)
    # resume: two frames removed and matted again from the states on disk
    for f in (s["frames"][1], s["frames"][3]):
        os.remove(new / ("matte.%04d.exr" % f))
    res = _run(s, tmp_path, new)
    assert len(res["written"]) == 2
    with monkeypatch.context() as m:
        m.setattr(S, "_linear_image", old_linear_image)
        m.setattr(S, "merge_alphas", old_merge_alphas)
        m.setattr(T, "to_gray", old_to_gray)
        m.setattr(T, "_shift_tolerant", old_shift_tolerant)
        m.setattr(T, "_channel_max", lambda r: r.max(axis=2))
        m.setattr(FG, "_level_sparse", old_level_sparse)
        m.setattr(CF, "solve_crop", _old_solve_crop)
        m.setattr(M, "_extend", old_extend)
        old = tmp_path / "old"
        _run(s, tmp_path, old)
    got, want = _bytes(new), _bytes(old)
    assert len(want) == len(s["frames"]) and got.keys() == want.keys()
    assert all(got[k] == want[k] for k in want)


_ORIG_ML = FG._estimate_fb_ml_numpy


def _ml_sparse_always(image, alpha, **kw):
    return _ORIG_ML(image, alpha, **dict(kw, dense_pixels=0))


def _old_solve_crop(img, unknown, alpha, *, eps=1e-6, prior=None, weight=None, tol=1e-5, maxiter=2000,
                    return_system=False):
    out = alpha.astype(np.float64, copy=True)
    if int(unknown.sum()) == 0:
        return out
    A, b, x0, flat_unk = old_solve_system(img, unknown, alpha, eps=eps, prior=prior, weight=weight)
    if return_system:
        return A, b, x0, flat_unk
    n = flat_unk.size
    jacobi = weight is not None and np.count_nonzero(weight.ravel()[flat_unk] > 0) >= 0.5 * n
    x = CF._solve(A, b, x0, tol=tol, maxiter=maxiter, jacobi_first=jacobi)
    a_flat = out.ravel()
    a_flat[flat_unk] = np.clip(x, 0.0, 1.0)
    return a_flat.reshape(out.shape)
