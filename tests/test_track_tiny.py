"""Tiny plates (1x1, 8x8, 13x5) through the flow and shape trackers and the whole pipeline (issue 11
item 2): they track and matte instead of failing inside OpenCV's optical flow."""
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.prompts import prepare_objects
from samatte.track.flow import FlowTracker
from samatte.track.shapes import ShapeTracker

from track_clips import MemorySource, run


def _prompts(w, h):
    return [{"frame": 2, "type": "polygon", "points": [[0, 0], [w, 0], [w, h], [0, h]]},
            {"frame": 1, "type": "points", "points": [[w / 2.0, h / 2.0]], "labels": [1]},
            {"frame": 3, "type": "box", "box": [0, 0, max(1, w // 2), h], "mode": "subtract"}]


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (13, 5), (5, 40)])
@pytest.mark.parametrize("tracker", [FlowTracker, ShapeTracker])
def test_tiny_plates_track(size, tracker):
    w, h = size
    rng = np.random.default_rng(0)
    frames = [1, 2, 3]
    src = MemorySource({f: rng.random((h, w, 3)).astype(np.float32) for f in frames})
    job = jobspec.validate({"samatte_job": 1, "plate": {"path": "p.####.exr", "frames": "1-3"},
                            "objects": [{"name": "o", "prompts": _prompts(w, h)}], "output": {"path": "o.####.exr"}})
    obs = prepare_objects(job["objects"], src.info, frames)
    out, order = run(tracker(), src, obs, frames)
    assert order == frames
    for f in frames:
        assert out[f].objects["o"].mask.shape == (h, w)
    assert out[2].objects["o"].mask.all()          # the polygon covers the plate
    assert not out[3].objects["o"].mask[:, :max(1, w // 2)].any()  # the subtract box on frame 3


@pytest.mark.parametrize("n", [1, 8])
@pytest.mark.parametrize("tracker", ["flow", "shapes"])
def test_tiny_plates_through_the_pipeline(tmp_path, n, tracker):
    from samatte.io.exr import write_image
    rng = np.random.default_rng(1)
    for f in (1001, 1002, 1003):
        write_image(str(tmp_path / ("p.%04d.exr" % f)), rng.random((n, n, 3)).astype(np.float32),
                    channels=("R", "G", "B"), pixel_type="half")
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "out" / "o.####.exr"), frames="1001-1003",
                          tracker=tracker, matte="refine", quality="draft")
    jobspec.add_object(job, "o", [jobspec.polygon_prompt(1002, [[0, 0], [n, 0], [n, n], [0, n]]),
                                  jobspec.points_prompt(1003, [[n / 2.0, n / 2.0]])])
    res = pipeline.run(job)
    assert len(res["written"]) == 3 and all(os.path.exists(p) for p in res["written"])


@pytest.mark.parametrize("options", [{"work_size": "big"}, {"work_size": 0}, {"work_size": -1},
                                     {"band": -5}, {"band": 0}, {"logit_clip": float("nan")},
                                     {"occluded_trust": "nan"}, {"flow_preset": "slow"}, {"fb_check": 1},
                                     {"grabcut_iters": 2.5}, "work_size=5"])
def test_bad_flow_options_are_coded_errors_before_tracking(options):
    from samatte.errors import JobSpecError
    with pytest.raises(JobSpecError) as ei:
        FlowTracker(options=options)
    assert ei.value.code == "JOBSPEC_INVALID"


def test_flow_options_of_other_backends_are_ignored_and_good_ones_kept():
    t = FlowTracker(options={"work_size": 320.0, "band": 0.05, "max_cond_frames": 2})
    assert t.opts["work_size"] == 320 and isinstance(t.opts["work_size"], int) and t.opts["band"] == 0.05


@pytest.mark.parametrize("options", [{"work_size": "big"}, {"work_size": 0}, {"work_size": float("inf")}])
def test_bad_shape_tracker_options(options):
    from samatte.errors import JobSpecError
    with pytest.raises(JobSpecError):
        ShapeTracker(options=options)
