"""Sam2Tracker and the compositor prompts (issue 10 items 4, 7): subtract shapes (mask input = add
minus subtract on a keyframe; cut out of the tracked mask on a correction frame), negative-only
clicks and points on frames without a shape as corrections of the tracked mask, click-seeded objects.
SAM2.1-tiny with random weights at 128 px (fast on CPU)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.errors import PromptError  # noqa: E402
from samatte.stages import TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import SyntheticSource, obj  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread
pred = test_sam2_fakes.pred  # SAM2.1-tiny, random weights, 128 px


def _track(pred, src, objects, **opts):
    tr = Sam2Tracker(predictor=pred, options=opts or None)
    return {e.frame: e for e in tr.track(src, objects, src.frames) if isinstance(e, TrackFrame)}, tr


def _full(src):
    return np.ones(src.info.shape, bool)


def test_subtract_on_a_keyframe_is_a_hole_in_the_mask_input(pred):
    src = SyntheticSource(range(1, 4))
    hole = np.zeros(src.info.shape, bool)
    hole[30:60, 40:80] = True
    out, _ = _track(pred, src, [obj("o", {1: [{"type": "mask", "mask_array": _full(src)},
                                              {"type": "mask", "mask_array": hole, "mode": "subtract"}]})])
    m = out[1].objects["o"].mask
    assert out[1].objects["o"].keyframe
    assert not m[35:55, 45:75].any() and m[5:20, 5:20].all()  # SAM2 returns the mask input on its frame
    # a subtract box with only boxes: the boxes' rectangle minus the subtract shape becomes the mask input
    out2, _ = _track(pred, src, [obj("o", {1: [{"type": "box", "box": [0, 0, 128, 96]},
                                               {"type": "box", "box": [40, 30, 80, 60], "mode": "subtract"}]})])
    m2 = out2[1].objects["o"].mask
    assert not m2[35:55, 45:75].any() and m2[5:20, 5:20].all()


def test_subtract_only_frame_cuts_the_tracked_mask(pred):
    src = SyntheticSource(range(1, 5))
    cut = np.zeros(src.info.shape, bool)
    cut[:, :64] = True
    out, _ = _track(pred, src, [obj("o", {1: [{"type": "mask", "mask_array": _full(src)}],
                                          3: [{"type": "box", "box": [0, 0, 64, 96], "mode": "subtract"}]})])
    assert out[3].objects["o"].keyframe  # a correction: a conditioning frame, as SAM2's refinement
    assert not out[3].objects["o"].mask[:, :60].any()


def test_negative_only_and_early_points_are_corrections(pred):
    src = SyntheticSource(range(1, 6))
    tr = Sam2Tracker(predictor=pred)
    objects = [obj("o", {1: [{"type": "points", "points": [[60.0, 40.0]], "labels": [1]}],
                         3: [{"type": "mask", "mask_array": src.mask(3)}],
                         4: [{"type": "points", "points": [[10.0, 10.0]], "labels": [0]}]})]
    ops = tr._collect_prompts(objects, {f: i for i, f in enumerate(src.frames)}, src.info.shape)
    assert sorted(ops[0].anchors) == [2] and sorted(ops[0].corrections) == [0, 3]
    out, _ = _track(pred, src, objects)
    assert [out[f].objects["o"].keyframe for f in src.frames] == [True, False, True, True, False]


def test_click_seeded_object_and_negative_only_object(pred):
    src = SyntheticSource(range(1, 5))
    tr = Sam2Tracker(predictor=pred)
    idx = {f: i for i, f in enumerate(src.frames)}
    seeded = [obj("o", {1: [{"type": "points", "points": [[5.0, 5.0]], "labels": [0]}],
                        2: [{"type": "points", "points": [[60.0, 40.0]], "labels": [1]}],
                        4: [{"type": "points", "points": [[60.0, 40.0]], "labels": [1]}]})]
    ops = tr._collect_prompts(seeded, idx, src.info.shape)
    assert sorted(ops[0].anchors) == [1] and sorted(ops[0].corrections) == [0, 3]
    # with refine_points off, every frame with a positive click is a keyframe (upstream's behaviour)
    ops = Sam2Tracker(predictor=pred, options={"refine_points": False})._collect_prompts(seeded, idx, src.info.shape)
    assert sorted(ops[0].anchors) == [1, 3] and sorted(ops[0].corrections) == [0]
    out, _ = _track(pred, src, seeded)
    assert set(out) == set(src.frames)
    with pytest.raises(PromptError):
        tr._collect_prompts([obj("n", {2: [{"type": "points", "points": [[5.0, 5.0]], "labels": [0]}]})], idx,
                            src.info.shape)
    with pytest.raises(PromptError):  # subtract shapes that remove the whole shape
        tr._collect_prompts([obj("s", {2: [{"type": "mask", "mask_array": src.mask(2)},
                                           {"type": "mask", "mask_array": _full(src), "mode": "subtract"}]})],
                            idx, src.info.shape)


def test_click_seeded_object_with_a_subtract_shape_on_its_seed_frame(pred):
    src = SyntheticSource(range(1, 4))
    cut = np.zeros(src.info.shape, bool)
    cut[:, :64] = True
    out, _ = _track(pred, src, [obj("o", {2: [{"type": "points", "points": [[70.0, 40.0], [20.0, 40.0]],
                                               "labels": [1, 1]},
                                              {"type": "mask", "mask_array": cut, "mode": "subtract"}]})])
    m = out[2].objects["o"].mask
    assert out[2].objects["o"].keyframe and not m[:, :64].any()
