"""QA of many objects in one pass (a crowd, debris, every leaf: 10, 30, 60 objects): what the matte
stage holds per object while it mattes a frame."""

import tracemalloc

import numpy as np

from samatte.matte import stage as mstage
from samatte.stages import ObjectTrack, TrackFrame

H, W = 128, 192
FRAME_BYTES = H * W * 4   # one frame-sized float32 array


class _Plate:
    def __init__(self, frame, img):
        self.frame, self.display, self.linear, self.info = frame, img, img, None


def _refiner(image, coarse, **kw):
    return coarse


_refiner.uses_prior = True   # so the carried matte's edge-preferred warp is made, as the default refiner's


def _frames(n):
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for f in range(2):
        img = (0.05 + 0.1 * rng.random((H, W, 3))).astype(np.float32)
        objs = {}
        for i in range(n):
            cx, cy = 10 + (i * 37) % (W - 20) + f, 10 + (i * 23) % (H - 20)
            m = np.hypot(xx - cx, yy - cy) <= 6
            img[m] = (0.9, 0.5, 0.2)
            objs["o%d" % i] = m
        out.append((_Plate(1001 + f, img), objs))
    return out


def _peak_of_second_frame(n):
    (p0, o0), (p1, o1) = _frames(n)
    m = mstage.RefineMatter(quality="draft", refiner=_refiner, quality_map=False, foreground=False)
    _, st = m.step(p0, TrackFrame(1001, {k: ObjectTrack(mask=v) for k, v in o0.items()}))
    tf = TrackFrame(1002, {k: ObjectTrack(mask=v) for k, v in o1.items()}, ref=1001)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        mf, _ = m.step(p1, tf, st)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert set(mf.alphas) == set(o1)
    return peak


def test_matting_a_frame_holds_one_objects_intermediates_at_a_time():
    """The carry, the estimate and the fusion each made frame-sized arrays per object (the warped
    previous matte, its edge-preferred copy and confidence, the see-through doubt, the estimate) and
    every object's were held until all were fused: ~4 frame-sized float32 arrays per object at the
    peak (60 objects on a UHD plate: ~8 GB, on top of the outputs). Now each object is carried,
    estimated and fused in turn, and what stays per object is its fused alpha and its state (2)."""
    a, b = _peak_of_second_frame(4), _peak_of_second_frame(16)
    per_object = (b - a) / 12.0 / FRAME_BYTES
    assert per_object < 3.0, "%.2f frame-sized arrays held per object" % per_object
