"""QA of a pipeline TD's day 9: a JobSpec with several objects, one of them with a bad prompt (a polygon that
lies entirely outside the plate, as a script converting another tool's coordinates makes). The error names
that object before anything is tracked: with an independent tracker (flow, shapes: one pass per object) the
second object's prompts were checked only when its pass came, after the first object had been tracked through
the whole shot and its track stored (minutes on a real shot, a farm Track task failing at its end)."""
import copy
import glob
import os

import pytest

from samatte import jobspec
from samatte.errors import PromptError
from samatte.progress import Progress


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa164obj")
    return make_shot(str(d / "plates"), frames=5, size=(64, 64))


def _job(shot, out, tracker, bad="outside"):
    job = jobspec.new_job(shot["plate"], str(out / "m.####.exr"), name="sh", tracker=tracker, matte="none")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    if bad == "outside":
        prompt = jobspec.polygon_prompt(shot["prompt_frame"], [(500, 500), (600, 500), (600, 600)])
    else:   # a roto file the script named and nobody rendered
        prompt = jobspec.mask_prompt(shot["prompt_frame"], str(out.parent / "roto" / ("car.%d.png" % shot["prompt_frame"])))
    jobspec.add_object(job, "car", [prompt])
    return job


@pytest.mark.parametrize("tracker, bad", [("flow", "outside"), ("shapes", "outside"), ("flow", "missing file")])
def test_a_later_objects_bad_prompt_stops_the_run_before_the_first_object_is_tracked(shot, tmp_path, tracker, bad):
    from samatte import pipeline
    job = _job(shot, tmp_path / "out", tracker, bad)
    seen = []
    with pytest.raises(PromptError) as e:
        for p in pipeline.run_iter(copy.deepcopy(job)):
            if isinstance(p, Progress):
                seen.append(p.stage)
    assert "objects[1].prompts[0]" in str(e.value) and ("car" in str(e.value) or e.value.details.get("object") == "car")
    assert "track" not in seen, seen                       # nothing was tracked
    assert glob.glob(str(tmp_path / "out" / ".samatte" / "**" / "*.npz"), recursive=True) == []
    assert not glob.glob(str(tmp_path / "out" / "m.*.exr"))


def test_the_good_objects_alone_still_run(shot, tmp_path):
    from samatte import pipeline
    job = _job(shot, tmp_path / "out", "flow")
    del job["objects"][1]
    r = pipeline.run(job)
    assert len(r["written"]) == 5 and all(os.path.isfile(p) for p in r["written"])
