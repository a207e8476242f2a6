"""Two jobs pointed at one explicit work_dir replace each other's stored tracks (one file per frame and
object position). The farm's matte step of the first then fails with TRACK_MISSING, and the error says
why: the work dir was last used by the other job (before: only "run --stage track first", which the
TD had just done)."""
import pytest

from samatte import jobspec, pipeline
from samatte.errors import TrackMissingError


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("wdshot")), frames=3, size=(64, 64))


def _job(s, out, name, work_dir, dx=0):
    job = jobspec.new_job(s["plate"], str(out), frames="1001-1003", name=name, tracker="shapes",
                          matte="refine", quality="draft")
    job["work_dir"] = str(work_dir)
    poly = [[x + dx, y] for x, y in s["polygon"]]
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], poly)])
    return job


def test_a_work_dir_shared_by_two_jobs_is_named_in_the_error(shot, tmp_path):
    wd = tmp_path / "shared_work"
    a = _job(shot, tmp_path / "a" / "m.####.exr", "shotA", wd)
    b = _job(shot, tmp_path / "b" / "m.####.exr", "shotB", wd, dx=3)
    pipeline.run(a, stage="track")
    pipeline.run(b, stage="track")          # B's tracks replace A's in the shared folder
    with pytest.raises(TrackMissingError) as e:
        pipeline.run(a, stage="matte")
    msg = str(e.value)
    assert "last used by job 'shotB'" in msg and "its own work_dir" in msg, msg
    assert e.value.code == "TRACK_MISSING"
    # the job's own stale track (an edit after its track step) says nothing of other jobs
    pipeline.run(b, stage="track")
    b2 = _job(shot, tmp_path / "b" / "m.####.exr", "shotB", wd, dx=5)
    with pytest.raises(TrackMissingError) as e:
        pipeline.run(b2, stage="matte")
    assert "last used by job" not in str(e.value), str(e.value)
    # each job with its own work dir: both matte from their own tracks
    a["work_dir"], b["work_dir"] = str(tmp_path / "wa"), str(tmp_path / "wb")
    for j in (a, b):
        pipeline.run(j, stage="track")
    for j in (a, b):
        assert pipeline.run(j, stage="matte")["status"] == "done"
