"""QA (flow tracker): a static shot is a fixed point.

On a static plate (every frame the same image, a static object, one keyframe) DIS reads exactly zero
motion, yet every step added the colour model's log-likelihood ratio and grabCut's vote to the carried
logits once more: the same evidence, counted again each frame, so a weak vote against the keyframe
(colours the object shares with its background) overturned the keyframe's boundary after two steps and
the mask crept on for frames (here about 200-600 px of a 180x320 plate wrong by frame 10). With no
motion and no change in the image the evidence that decided the previous frame has not changed, so the
previous frame's answer stands.
"""
import cv2
import numpy as np

from samatte.track.flow import FlowPropagator, FlowTracker, _options

from track_clips import MemorySource, mask_object, run

H, W = 180, 320


def _plate():
    """A soft-edged ellipse whose colours overlap its background's (the colour model is unsure there)."""
    rng = np.random.default_rng(1)
    bg = cv2.resize(rng.integers(40, 200, (H // 6, W // 6, 3)).astype(np.uint8), (W, H),
                    interpolation=cv2.INTER_CUBIC).astype(np.float32)
    obj = cv2.resize(np.random.default_rng(7).integers(60, 210, (12, 20, 3)).astype(np.uint8),
                     (W, H)).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    mask = ((xx - 160) / 50.0) ** 2 + ((yy - 90) / 40.0) ** 2 < 1
    a = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)[..., None]
    img = np.clip(bg * (1 - a) + obj * a, 0, 255).astype(np.uint8)
    return img, mask


def test_static_plate_mask_does_not_drift():
    img, truth = _plate()
    lin = (img.astype(np.float32) / 255.0)
    frames = list(range(1001, 1013))
    src = MemorySource({f: lin.copy() for f in frames})
    out, _ = run(FlowTracker(), src, [mask_object("o", {1001: truth})], frames)
    key = out[1001].objects["o"].mask
    for f in frames[1:]:
        m = out[f].objects["o"].mask
        assert int((m != key).sum()) == 0, (f, int((m != key).sum()))
        assert out[f].objects["o"].score > 0.5


def test_propagator_step_on_the_same_image_is_a_fixed_point():
    img, truth = _plate()
    o = _options({})
    K = o["logit_clip"]
    p = FlowPropagator((H, W), o)
    p.start(img, np.where(truth, K + 1, -K - 1).astype(np.float32))
    L1, s1 = p.step(img, img)
    for _ in range(4):
        L, s = p.step(img, img)
        np.testing.assert_array_equal(L, L1)
        assert s == s1
    assert np.array_equal(L1 > 0, truth)
