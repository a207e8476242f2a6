"""Second speed pass (tracking and the closed-form system), outputs bit-identical.

Each rewritten helper is checked against the formula it replaced (kept here, as it was) on random
inputs, bit for bit; and a small job tracked with the flow tracker from mask prompts and matted is
written once with the new helpers and once with the old ones patched back in: the track cache and
the EXR files are byte-identical. (The closed-form system's int32 indices are checked against the old
int64 assembly, matrix and answer, by tests/test_qa_perf_refine.py.)
"""
import os

import cv2
import numpy as np

from samatte import jobspec, pipeline
from samatte.matte import cfsolve as CF
from samatte.track import flow as FL
from samatte.track import seed as SD


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


# -- the formulas as they were -------------------------------------------------------------------

def old_to_u8(display):
    return np.clip(np.asarray(display, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def old_dilate_disc(mask, r):
    return cv2.dilate(mask.astype(np.uint8), FL._disc(r)).astype(bool)


# -- helpers against the old formulas --------------------------------------------------------------

def test_to_u8_bit_identical():
    rng = np.random.default_rng(11)
    for k in range(6):
        x = (rng.random((41, 57, 3)) * (1.4 if k % 2 else 300.0) - 0.2).astype(np.float64 if k == 3 else np.float32)
        flat = x.reshape(-1)
        for v in (np.inf, -np.inf, -0.0, 0.0, 1.0, 254.5 / 255.0, 0.5 / 255.0, -0.5 / 255.0, 1e30):
            flat[rng.integers(0, flat.size, 15)] = v
        if k >= 4:
            flat[rng.integers(0, flat.size, 15)] = np.nan
        for a in (x, x[::2, 1::3], x[..., 1]):          # contiguous, strided, one channel
            with np.errstate(invalid="ignore"):         # NaN cast to uint8 (both formulas)
                got, want = SD.to_u8(a), old_to_u8(a)
            assert same_bits(got, want) and got.flags.c_contiguous
    # the integer grid points and their half-way values, where the rounding lives
    g = (np.arange(0, 256 * 8, dtype=np.float32) / np.float32(8 * 255)).reshape(32, 64)
    assert same_bits(SD.to_u8(g), old_to_u8(g))
    assert SD.to_u8(g).max() == 255 and not np.shares_memory(SD.to_u8(g), g)


def test_dilate_disc_bit_identical():
    rng = np.random.default_rng(12)
    h, w = 90, 160
    cases = [np.zeros((h, w), bool), np.ones((h, w), bool)]
    for k in range(8):
        m = np.zeros((h, w), np.uint8)
        cx, cy = int(rng.integers(-10, w + 10)), int(rng.integers(-10, h + 10))   # on, near and past the edges
        cv2.ellipse(m, (cx, cy), (int(rng.integers(1, 30)), int(rng.integers(1, 20))), 20, 0, 360, 1, -1)
        m[rng.integers(0, h, 3), rng.integers(0, w, 3)] = 1                        # stray pixels
        cases.append(m.astype(bool))
    single = np.zeros((h, w), bool)
    single[45, 80] = True
    cases.append(single)
    for m in cases:
        for r in (0, 1, 3, 17, 48, 200):
            assert same_bits(FL._dilate_disc(m, r), old_dilate_disc(m, r))


def test_closed_form_indices_int32_same_matrix():
    """The system's row / column numbers are made int32 directly; scipy made them int32 from int64
    before: the same matrix (the full comparison against the old assembly is in test_qa_perf_refine)."""
    rng = np.random.default_rng(13)
    h, w = 40, 52
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.abs(np.hypot(yy - 20, xx - 26) - 12) < 3
    alpha = (np.hypot(yy - 20, xx - 26) < 12).astype(np.float64)
    img = rng.random((h, w, 3))
    A, b, x0, f = CF.solve_crop(img, edge, alpha, return_system=True)
    assert A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
    assert A.shape == (int(edge.sum()),) * 2 and A.has_canonical_format
    assert np.allclose((A - A.T).data, 0.0, atol=1e-12)          # the matting Laplacian block is symmetric


# -- a tracked and matted job, new helpers against the old ones: the same bytes ----------------------

def _shot(d, n=4, size=(200, 112)):
    from samatte.demo import make_shot
    s = make_shot(str(d / "shot"), frames=n, size=size)
    w, h = size
    import OpenImageIO as oiio
    a = oiio.ImageBuf(s["gt"].replace("####", "%04d" % s["frames"][0])).get_pixels(oiio.FLOAT)[..., 0]
    cv2.imwrite(str(d / "hero.png"), (a > 0.5).astype(np.uint8) * 255)
    disc = np.zeros((h, w), np.uint8)
    cv2.ellipse(disc, (w // 4, int(h * 0.7)), (w // 9, h // 7), 15, 0, 360, 255, -1)
    cv2.imwrite(str(d / "disc.png"), disc)
    return s


def _run(s, d, out):
    fr = s["frames"]
    job = jobspec.new_job(s["plate"], str(out / "matte.####.exr"), frames="%d-%d" % (fr[0], fr[-1]),
                          tracker="flow", matte="refine", quality="draft", name="perf2")
    jobspec.add_object(job, "hero", prompts=[{"frame": fr[0], "type": "mask", "path": str(d / "hero.png")}])
    jobspec.add_object(job, "disc", prompts=[{"frame": fr[0], "type": "mask", "path": str(d / "disc.png")}])
    return pipeline.run(job)


def _files(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            if f.endswith((".exr", ".npz")):
                p = os.path.join(root, f)
                out[os.path.relpath(p, folder)] = open(p, "rb").read()
    return out


def test_tracked_job_bytes_identical_to_the_old_formulas(tmp_path, monkeypatch):
    s = _shot(tmp_path)
    new = tmp_path / "new"
    _run(s, tmp_path, new)
    with monkeypatch.context() as m:
        m.setattr(SD, "to_u8", old_to_u8)
        m.setattr(FL, "to_u8", old_to_u8)
        m.setattr(FL, "_dilate_disc", old_dilate_disc)
        old = tmp_path / "old"
        _run(s, tmp_path, old)
    got, want = _files(new), _files(old)
    assert sum(k.endswith(".exr") for k in want) == len(s["frames"])
    assert sum(k.endswith(".npz") for k in want) == 2 * len(s["frames"])
    assert got.keys() == want.keys() and all(got[k] == want[k] for k in want)
