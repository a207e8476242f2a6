"""QA, a pipeline TD's day 3 (JobSpec ``absent`` from the command line and Python, farm chunks, run
--openjd): regression tests for the defects found."""
import glob
import os

import pytest

from demo_shots import make_demo_shot
from samatte import jobspec, pipeline


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "qa_td_day3", 6)


def _two_objects(shot, out, name="td3", corner=True, tracker="flow"):
    """The ball (keyed on the shot's prompt frame) absent on 1002-1003, and a box in the corner present
    throughout: draft refine."""
    s, _ = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1006", tracker=tracker,
                          matte="refine", quality="draft", name=name)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])], absent="1002-1003")
    if corner:
        jobspec.add_object(job, "corner", [jobspec.box_prompt(1001, [2, 2, 30, 20])])
    return job


def _bytes(folder):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(str(folder / "*.exr")))}


@pytest.mark.parametrize("corner,tracker", [(True, "flow"), (True, "shapes"), (False, "flow")])
def test_tracking_an_absent_span_on_its_own_leaves_the_mattes_of_one_run(shot, tmp_path, corner, tracker):
    """``--stage track --frames`` over frames where an object is absent (a TD tracking the shot in parts, a
    resumed track whose stale frames are that span) stored the object's track there with no temporal
    reference (the range's first frame), and the matte stage restarted every object's state on it: the
    other object's matte on 1002-1003 moved by up to 0.30 (145 px > 0.01) against one run of the same job,
    with the same keys (status said complete, so no re-run fixed it). Alone, the ball's own state records
    (``samatte/state``) of those frames changed."""
    pipeline.run(_two_objects(shot, tmp_path / "one", corner=corner, tracker=tracker))
    ref = _bytes(tmp_path / "one")
    assert len(ref) == 6

    job = _two_objects(shot, tmp_path / "parts", corner=corner, tracker=tracker)
    pipeline.run(job, stage="track", frames="1002-1003")     # the ball's absent span, tracked on its own
    pipeline.run(job, stage="track")                         # the rest
    pipeline.run(job, stage="matte")
    got = _bytes(tmp_path / "parts")
    assert sorted(got) == sorted(ref)
    assert [n for n in sorted(ref) if got[n] != ref[n]] == []
