"""QA (flow tracker review): corner cases of the weights-free tracker ``backend="flow"``."""
import pytest

from samatte.stages import TrackerObject
from samatte.track.flow import FlowTracker

from track_clips import mask_object, moving_squares, run

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
