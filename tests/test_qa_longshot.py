"""QA (long shots, many objects, prompts both ways, corrections, progress and cancel) through the
product path: ``samatte.pipeline.run`` / ``run_iter``, the runner the CLI and the worker share."""
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.runner import JobFraction

W, H = 48, 32


def _plate(folder, n, first=1001):
    """A tiny scene-linear EXR shot: a bright square drifting right over a noisy background."""
    import OpenImageIO as oiio
    os.makedirs(str(folder), exist_ok=True)
    rng = np.random.default_rng(7)
    bg = (0.1 + 0.05 * rng.random((H, W, 3))).astype(np.float32)
    for i in range(n):
        img = bg.copy()
        img[4:12, 4 + i:12 + i] = (0.8, 0.3, 0.1)
        path = os.path.join(str(folder), "plate.%04d.exr" % (first + i))
        spec = oiio.ImageSpec(W, H, 3, "half")
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(path)
        assert out.open(path, spec) and out.write_image(img), oiio.geterror()
        out.close()
    return os.path.join(str(folder), "plate.####.exr")


@pytest.fixture(scope="module")
def plate8(tmp_path_factory):
    return _plate(tmp_path_factory.mktemp("longshot_plate"), 8)


def _job(plate, out, objects, *, tracker="flow", matte="none", name="qa_long"):
    job = jobspec.new_job(plate, os.path.join(str(out), "m.####.exr"), tracker=tracker, matte=matte,
                          quality="draft", name=name)
    for oname, prompts in objects:
        jobspec.add_object(job, oname, prompts)
    return job


def _track_fractions(events):
    return [p.done / p.total for p in events if p.stage == "track"]


@pytest.mark.parametrize("tracker", ["flow", "shapes"])
def test_track_progress_of_many_objects_never_goes_back(plate8, tmp_path, tracker):
    """Independent trackers run one pass per object: the track stage's done/total restarted at 1 for
    every object, so the whole-job fraction hosts show (runner.JobFraction, never decreasing) sat at
    the end of tracking after the first object (50 %, or 100 % for ``--stage track``) while the
    others were tracked."""
    objs = [("o%d" % k, [jobspec.box_prompt(1008 if k % 2 else 1001, [3 * k + 4, 4, 3 * k + 12, 12])])
            for k in range(4)]
    events = []
    pipeline.run(_job(plate8, tmp_path, objs, tracker=tracker), on_progress=events.append, stage="track")
    fr = _track_fractions(events)
    assert fr and all(0.0 <= x <= 1.0 for x in fr)
    assert all(b >= a for a, b in zip(fr, fr[1:])), fr
    assert fr[-1] == 1.0
    # the whole job's fraction: still short of the end when the last object's pass starts
    jf = JobFraction("track")
    seen = [jf.update(p) for p in events if p.stage in ("track", "setup")]
    assert seen.index(max(seen)) == len(seen) - 1, seen


def test_track_progress_of_several_ranges_never_goes_back(plate8, tmp_path):
    """Re-tracking two separate spans of one object (two corrections edited) is two tracker passes:
    one progress over both."""
    def objs(x):
        return [("a", [jobspec.polygon_prompt(1001, [[4, 4], [12, 4], [12, 12], [4, 12]]),
                       jobspec.points_prompt(1002, [[x, 8]], [1]),
                       jobspec.polygon_prompt(1003, [[6, 4], [14, 4], [14, 12], [6, 12]]),
                       jobspec.polygon_prompt(1005, [[8, 4], [16, 4], [16, 12], [8, 12]]),
                       jobspec.points_prompt(1006, [[x + 5, 8]], [1]),
                       jobspec.polygon_prompt(1008, [[11, 4], [19, 4], [19, 12], [11, 12]])])]
    pipeline.run(_job(plate8, tmp_path, objs(8)), stage="track")
    events = []
    res = pipeline.run(_job(plate8, tmp_path, objs(9)), on_progress=events.append, stage="track")
    assert res["tracked"] == [1002, 1006, 1007]  # spans 1001-1003 and 1005-1008
    fr = _track_fractions(events)
    assert fr and all(b >= a for a, b in zip(fr, fr[1:])), fr
    assert fr[-1] == 1.0


def test_cancel_may_be_a_callable_and_anything_else_is_refused_before_any_write(plate8, tmp_path):
    """``cancel=lambda: ...`` failed with AttributeError ('function' object has no attribute 'check', exit
    1) at the first frame, after the work dir was made; any other object too. A callable that returns
    true now cancels between frames, one that returns false runs the job, anything else is
    JOBSPEC_INVALID before anything is created."""
    from samatte.errors import CancelledError, JobSpecError
    objs = [("a", [jobspec.box_prompt(1001, [4, 4, 12, 12])])]
    with pytest.raises(JobSpecError) as e:
        pipeline.run(_job(plate8, tmp_path / "bad", objs), cancel=object())
    assert e.value.details.get("field") == "cancel" and not (tmp_path / "bad").exists()
    calls = []

    def stop_at_matte():
        calls.append(1)
        return os.path.exists(str(tmp_path / "c" / "m.1003.exr"))
    with pytest.raises(CancelledError):
        pipeline.run(_job(plate8, tmp_path / "c", objs), cancel=stop_at_matte)
    assert sorted(os.listdir(str(tmp_path / "c"))) == [".samatte", "m.1001.exr", "m.1002.exr", "m.1003.exr"]
    res = pipeline.run(_job(plate8, tmp_path / "c", objs), cancel=lambda: False)
    assert len(res["written"]) == 5 and len(res["skipped"]) == 3 and calls


def test_resumed_run_with_a_stateless_matter_reports_every_frame(plate8, tmp_path):
    """Resume with a matter that cannot restore a state (``process`` only): the finished frame before
    the first one to do is matted again for its state and not written. It got a FrameEvent but no
    Progress (done jumped by 2 past it); every requested frame now has one matte Progress, in order."""
    from samatte.errors import CancelledError
    from samatte.stages import MatteFrame

    class Plain:
        name = "plain"

        def process(self, plate, track):
            al = {n: np.asarray(o.mask, np.float32) for n, o in track.objects.items()}
            return MatteFrame(frame=plate.frame, alphas=al, alpha=np.maximum.reduce(list(al.values())),
                              score=1.0, stats={})

    objs = [("a", [jobspec.box_prompt(1001, [4, 4, 12, 12])])]
    out = tmp_path / "out"
    with pytest.raises(CancelledError):
        pipeline.run(_job(plate8, out, objs), matter=Plain(),
                     cancel=lambda: os.path.exists(str(out / "m.1003.exr")))
    events, frames = [], []
    pipeline.run(_job(plate8, out, objs), matter=Plain(), on_progress=events.append, on_event=frames.append)
    # (the messages of a frame's phases, "frame N: ...", say what is happening to it before it is done)
    matte = [(p.frame, p.done) for p in events if p.stage == "matte" and not p.message.startswith("frame ")]
    # every requested frame has its matte Progress, in order; done counts the frames finished, the complete
    # ones only skipped (1001, 1002) from the first message (qa152: so the time left is that of the frames still
    # to matte), the one matted again for its state (1003) as it is
    assert [f for f, _d in matte] == list(range(1001, 1009)), matte
    assert [d for _f, d in matte] == [2, 2, 3, 4, 5, 6, 7, 8], matte
    assert [(e.frame, e.status) for e in frames] == [(f, "skipped" if f <= 1003 else "written")
                                                     for f in range(1001, 1009)]
