"""QA of a pipeline TD's day 7 (qa171): ``samatte.api`` given what a TD's script gives it: a list where the
prompts dict was meant, a misspelt option, a job file's path to ``api.save``, a dict job with relative paths
saved into a jobs folder: each an error with a stable code (or the right file), never a
bare Python error or a job file that names other files."""
import json
import os

import pytest

from samatte import api, jobspec
from samatte.errors import JobSpecError


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa171in")
    return make_shot(str(d / "plates"), frames=2, size=(64, 64))


def _job(s, out, plate=None):
    job = jobspec.new_job(plate or s["plate"], out, frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


@pytest.mark.parametrize("kw, field", [({"prompts": ["roto/hero.1004.png"]}, "prompts"),
                                       ({"masks": ["roto/car.####.png"]}, "masks")])
def test_api_job_refuses_prompts_or_masks_that_are_no_dict(shot, kw, field):
    """``api.job(..., prompts=["roto/hero.1004.png"])`` was ``AttributeError: 'list' object has no attribute
    'items'`` (no code)."""
    with pytest.raises(JobSpecError) as e:
        api.job(shot["plate"], "m.####.exr", **kw)
    assert e.value.details["field"] == field and "dict" in e.value.message


def test_api_job_names_a_misspelt_option(shot):
    """``api.job(..., qualty="draft")`` was ``TypeError: new_job() got an unexpected keyword argument`` (no code,
    and ``new_job`` is no name the TD used)."""
    with pytest.raises(JobSpecError) as e:
        api.job(shot["plate"], "m.####.exr", qualty="draft")
    assert e.value.details["field"] == "qualty" and "'quality'" in e.value.message
    job = api.job(shot["plate"], "m.####.exr", quality="draft", tracker="flow", masks={"car": "car.####.png"})
    assert job["matte"]["quality"] == "draft"


def test_api_save_copies_a_job_file_given_by_its_path(shot, tmp_path):
    """``api.save("sh010.json", "v2/sh010.json")`` was JOBSPEC_INVALID "JobSpec is not valid JSON" (the path read as
    JSON text), though every other ``api`` call takes a job file's path."""
    src = api.save(_job(shot, str(tmp_path / "m.####.exr")), str(tmp_path / "sh010.json"))
    dst = api.save(src, tmp_path / "v2" / "sh010.json")
    assert jobspec.load(dst)["plate"]["path"] == shot["plate"]


def test_api_save_of_a_dict_with_relative_paths_into_another_folder_names_the_same_files(shot, tmp_path,
                                                                                          monkeypatch):
    """A dict job's relative paths are the current folder's (README); ``api.save(job, "jobs/sh010.json")`` wrote
    them as they were, so the file read them from ``jobs/``: ``plates/...`` became ``jobs/plates/...``,
    FRAME_MISSING, and the mattes would have gone to ``jobs/mattes``. Saved next to the current folder they stay
    relative (a portable job), and ``~`` stays ``~``."""
    monkeypatch.chdir(os.path.dirname(os.path.dirname(shot["plate"])))
    here = os.getcwd()
    job = _job(shot, "mattes/m.####.exr", plate=os.path.relpath(shot["plate"]))
    job["work_dir"] = "~/samatte_work"
    os.makedirs("jobs", exist_ok=True)
    path = api.save(job, os.path.join("jobs", "sh010.json"))
    with open(path) as f:
        doc = json.load(f)
    assert doc["plate"]["path"] == shot["plate"]
    assert doc["output"]["path"] == os.path.join(here, "mattes", "m.####.exr")
    assert doc["work_dir"] == "~/samatte_work"
    assert set(api.status(path)["frames"].values()) == {"missing"}   # the plate is found: no FRAME_MISSING
    with open(api.save(job, "sh010.json")) as f:
        assert json.load(f)["plate"]["path"] == os.path.relpath(shot["plate"])
