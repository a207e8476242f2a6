"""QA of the SAM2 tracker path (SAM2.1-tiny, random weights, 64x48 px clips: structure, not quality).

The pipeline keys and orders the matting stage by :func:`samatte.cachekey.temporal_refs`, which must
give exactly the ``ref`` of each TrackFrame the SAM2 tracker yields; a correction (a click, a subtract
shape) on a frame before every object's first shape keyframe used to be taken as the start of the
tracker's passes, so the frames between it and the first keyframe were keyed forward from the
correction while the tracker ran them backward from the keyframe (a warning per frame, and the
matte's temporal state restarted on each)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.cachekey import temporal_refs  # noqa: E402
from samatte.prompts import prepare_objects  # noqa: E402
from samatte.stages import TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import SyntheticSource  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread
pred = test_sam2_fakes.pred  # SAM2.1-tiny, random weights, 128 px

FRAMES = list(range(1001, 1007))


def _pts(frame, xy, labels):
    return {"frame": frame, "type": "points", "points": [list(xy)], "labels": labels}


def _box(frame, box):
    return {"frame": frame, "type": "box", "box": box}


CASES = [
    # a negative click before the first shape keyframe: a correction, the passes start at 1003
    ({}, [{"name": "a", "prompts": [_pts(1001, (20, 20), [0]), _box(1003, [10, 8, 50, 40])]},
          {"name": "b", "prompts": [_box(1005, [0, 0, 64, 48])]}]),
    # a positive click before the shape keyframe is a correction too (refine_points on)
    ({}, [{"name": "a", "prompts": [_pts(1002, (30, 20), [1]), _box(1004, [10, 8, 50, 40]),
                                    _pts(1006, (5, 5), [0])]}]),
    # with refine_points off every positive click is a keyframe, negative-only clicks are not
    ({"refine_points": False}, [{"name": "a", "prompts": [_pts(1001, (5, 5), [0]), _pts(1002, (30, 20), [1]),
                                                          _box(1005, [10, 8, 50, 40])]}]),
    # an open stroke seeds a shape-less object; a subtract box before it is a correction
    ({}, [{"name": "s", "prompts": [{"frame": 1001, "type": "box", "box": [0, 0, 30, 48], "mode": "subtract"},
                                    {"frame": 1003, "type": "polygon", "closed": False,
                                     "points": [[10, 10], [40, 30]]}]}]),
]


@pytest.mark.parametrize("opts,objects", CASES)
def test_keyed_refs_are_the_trackers_refs(pred, opts, objects):
    src = SyntheticSource(FRAMES, 64, 48)
    job = {"tracker": {"backend": "sam2", "options": dict(opts)}, "objects": objects}
    tobjs = prepare_objects(objects, src.info, FRAMES)
    tfs = [e for e in Sam2Tracker(predictor=pred, options=opts or None).track(src, tobjs, FRAMES)
           if isinstance(e, TrackFrame)]
    assert sorted(tf.frame for tf in tfs) == FRAMES
    for tf in tfs:
        assert set(tf.objects) == {o["name"] for o in objects}
        for ot in tf.objects.values():
            assert ot.mask.shape == (48, 64) and ot.mask.dtype == bool
            assert ot.logits.dtype == np.float32 and np.isfinite(ot.logits).all()
    assert {tf.frame: tf.ref for tf in tfs} == temporal_refs(job, FRAMES, "sam2")
