"""ShapeTracker (nearest keyframe, no motion), keyframe seeding, and get_tracker."""
import sys

import numpy as np
import pytest

from samatte.errors import CancelledError, DependencyError, JobSpecError
from samatte.progress import CancelToken, Progress
from samatte.stages import TrackerObject
from samatte.track import get_tracker
from samatte.track.flow import FlowTracker
from samatte.track.seed import grabcut_points, keyframe_soft, to_u8
from samatte.track.shapes import ShapeTracker, nearest_keyframe

from track_clips import iou, mask_object, moving_squares, run


def test_nearest_keyframe_ties_go_earlier():
    ks = [1001, 1005, 1011]
    assert [nearest_keyframe(f, ks) for f in (990, 1001, 1002, 1003, 1004, 1008, 1009, 1020)] == \
        [1001, 1001, 1001, 1001, 1005, 1005, 1011, 1011]


def _box(f, box):
    return {"frame": f, "type": "box", "box": box}


def test_shape_tracker_holds_nearest_keyframe_shape():
    frames = list(range(1001, 1009))
    src, truth = moving_squares(frames)
    a = np.zeros((96, 96), bool)
    a[10:30, 10:30] = True
    ob = TrackerObject("o", {1001: [{"frame": 1001, "type": "mask", "mask_array": a}],
                             1005: [_box(1005, [40.0, 50.0, 70.0, 60.0])]})
    out, order = run(ShapeTracker(), src, [ob], frames)
    assert order == frames
    rect = np.zeros((96, 96), bool)
    rect[50:60, 40:70] = True
    for f in frames:
        expect = a if f <= 1003 else rect
        m = out[f].objects["o"].mask
        assert np.array_equal(m, expect), f
        assert out[f].objects["o"].logits is None
        assert out[f].objects["o"].edge == "rough"
        assert out[f].objects["o"].keyframe == (f in (1001, 1005))
    assert out[1001].ref is None and out[1002].ref == 1001 and out[1005].ref is None
    assert src.gets == []  # masks and boxes need no pixels


def test_shape_tracker_cancel():
    frames = list(range(1001, 1006))
    src, truth = moving_squares(frames)
    tok = CancelToken()
    with pytest.raises(CancelledError):
        for item in ShapeTracker().track(src, [mask_object("o", {1001: truth[1001][0]})], frames, cancel=tok):
            if isinstance(item, Progress):
                tok.cancel()


def test_points_seed_with_grabcut():
    frames = [1001]
    # a clip where one click suffices (single clicks are fragile for grabCut, see track.seed)
    src, truth = moving_squares(frames, squares=((30, 30, 34, 0.0, 0.0),), seed=2)
    img = to_u8(src.images[1001])
    m = grabcut_points(img, [[47, 47]], [1])
    assert iou(m, truth[1001][0]) > 0.6
    # a negative click in the square's corner removes it from the result
    soft = keyframe_soft([{"type": "points", "points": [[47.0, 47.0], [33.0, 33.0]], "labels": [1, 0]}],
                         (96, 96), image=lambda: src.images[1001])
    assert soft.dtype == np.float32 and soft[47, 47] == 1.0 and soft[33, 33] == 0.0
    out, _ = run(ShapeTracker(), src, [TrackerObject("o", {1001: [{"frame": 1001, "type": "points",
                                                                     "points": [[47.0, 47.0]], "labels": [1]}]})],
                 frames)
    assert iou(out[1001].objects["o"].mask, truth[1001][0]) > 0.6


def test_get_tracker(monkeypatch):
    import samatte.track as track
    assert isinstance(get_tracker("flow", options={"work_size": 320}), FlowTracker)
    assert isinstance(get_tracker("shapes"), ShapeTracker)
    with pytest.raises(JobSpecError):
        get_tracker("nope")
    monkeypatch.setattr(track, "_have_weights", lambda model: False)
    assert isinstance(get_tracker("auto"), FlowTracker)
    # weights present but the SAM2 backend cannot be imported: auto falls back, sam2 is an error
    monkeypatch.setattr(track, "_have_weights", lambda model: True)
    monkeypatch.setitem(sys.modules, "samatte.track.sam2_backend", None)
    assert isinstance(get_tracker("auto"), FlowTracker)
    with pytest.raises(DependencyError) as ei:
        get_tracker("sam2")
    assert ei.value.code == "DEPENDENCY_MISSING"
