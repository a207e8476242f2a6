"""QA (flow tracker review): corner cases of the weights-free tracker ``backend="flow"``."""
import cv2
import numpy as np
import pytest

from samatte.stages import TrackerObject
from samatte.track.flow import FlowTracker, key_soft

from track_clips import MemorySource, mask_object, moving_squares, run

FRAMES = list(range(1, 11))


@pytest.fixture(scope="module")
def clip():
    return moving_squares(FRAMES, squares=((20, 20, 30, 1.0, 0.0),), seed=1)


@pytest.mark.parametrize("key, absent, hint", [(1, {5, 6}, 7), (10, {4, 5}, 3)])
def test_a_correction_on_the_frame_an_absent_object_comes_back_on_is_applied(clip, key, absent, hint):
    """An object absent for some frames is held across the span from the nearest present frame; the
    frame the held pass starts on (the return frame after the span, or the frame before it for a pass
    running backward to the first frames) may carry a correction, and it is applied there and carried on
    like any other. Before, the held pass copied the logits onto that frame and stepped on from it, so a
    subtract shape there was ignored (450 of its pixels left in the mask, the whole top half)."""
    src, truth = clip
    sub = {"frame": hint, "type": "box", "box": [0.0, 0.0, 96.0, 35.0], "mode": "subtract"}
    ob = mask_object("o", {key: truth[key][0]})
    prompts = dict(ob.prompts)
    prompts[hint] = [sub]
    out, _ = run(FlowTracker(), src, [TrackerObject("o", prompts, absent=frozenset(absent))], FRAMES)
    for f in absent:
        assert not out[f].objects["o"].mask.any()
    m = out[hint].objects["o"].mask
    assert m[35:].sum() > 400, "the rest of the object stays"
    assert not m[:35].any(), "the subtract shape on frame %d was ignored" % hint
    # carried on: the next frame in the pass's direction keeps (most of) the cut
    nxt = hint + (1 if hint > key else -1)
    assert out[nxt].objects["o"].mask[:33].sum() < 30


def _static_plate(m, n=5):
    rng = np.random.default_rng(0)
    t = cv2.GaussianBlur(rng.random(m.shape + (3,)).astype(np.float32), (0, 0), 1.5)
    img = 0.2 + 0.3 * (t - t.min()) / (t.max() - t.min())
    img[m] = 0.9
    return MemorySource({f: img.copy() for f in range(1, n + 1)})


@pytest.mark.parametrize("box", [(40, 42, 60, 62), (50, 51, 10, 110), (10, 90, 64, 65)],
                         ids=["dot_2px", "wire_1px_row", "wire_1px_column"])
def test_an_object_under_half_a_working_pixel_across_is_not_lost_after_its_keyframe(box):
    """A 2x2 dot or a 1 px wire on a 96x128 plate tracked at work_size 40 (a working pixel is 3.2 canvas
    px): the keyframe's area average had no working pixel above 0.5, so no positive logit, and the
    object was empty (score 0) on every frame after the keyframe, though nothing moved. Now it is kept
    (as wide as a working pixel) on every frame, over the object and near it."""
    H, W = 96, 128
    m = np.zeros((H, W), bool)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = True
    frames = [1, 2, 3, 4, 5]
    out, _ = run(FlowTracker(options={"work_size": 40}), _static_plate(m), [mask_object("o", {1: m})], frames)
    assert np.array_equal(out[1].objects["o"].mask, m)   # the keyframe itself: the prompt's mask
    near = cv2.dilate(m.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)  # within 4 canvas px
    for f in frames[1:]:
        ot = out[f].objects["o"]
        assert ot.mask.any() and ot.score > 0.5, f
        assert (ot.mask & m).sum() >= 0.9 * m.sum(), f
        assert not (ot.mask & ~near).any(), f


def test_a_keyframe_at_least_half_a_working_pixel_across_is_unchanged():
    """key_soft changes only a keyframe with no working pixel above 0.5: otherwise it is the area
    average, byte for byte (every job that tracked its object before gives the same pixels)."""
    soft = np.zeros((96, 128), np.float32)
    soft[40:47, 60:70] = 1.0
    soft[20, 5] = 0.7    # a stray sub-pixel speck beside a real object stays as it was
    assert np.array_equal(key_soft(soft, (30, 40)), cv2.resize(soft, (40, 30), interpolation=cv2.INTER_AREA))
