"""QA of a pipeline TD's day 7 on the farm: ``samatte status`` / ``qc`` / ``run`` pointed at the farm
bundle's ``samatte_farm_job.json`` of a half-rendered farm job (the file the TD finds in the bundle)."""
import os

import pytest

from samatte import jobspec
from samatte.farm import export_openjd


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151f")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return export_openjd(job, str(d / "bundle"), chunk=1), d


@pytest.mark.parametrize("argv", [["status"], ["qc"], ["run"], ["validate"]])
def test_a_farm_job_file_given_for_a_jobspec_says_what_it_is_and_what_to_give(bundle, argv, capsys):
    """It said "not a samatte JobSpec: missing 'samatte_job' version field", of a file samatte wrote
    whose ``job`` field holds one: a TD took it for a damaged file. It now says it is a farm job and what
    each command takes instead; the same code and exit (JOBSPEC_INVALID, 2), nothing written."""
    from samatte import cli
    res, d = bundle
    farm_job = os.path.join(res["bundle"], "samatte_farm_job.json")
    before = sorted(os.listdir(res["bundle"]))
    assert cli.main(argv + [farm_job]) == 2
    err = capsys.readouterr().err
    assert "[JOBSPEC_INVALID] not a samatte JobSpec but a farm job (samatte_farm_job.json" in err, err
    assert "the JobSpec it was exported from" in err and "samatte farm task FILE --root" in err, err
    assert sorted(os.listdir(res["bundle"])) == before and not os.path.exists(str(d / "out"))


def test_any_other_json_is_still_missing_its_version_field():
    from samatte.errors import JobSpecError
    with pytest.raises(JobSpecError) as e:
        jobspec.validate({"name": "x", "samatte_farm": 1})
    assert "missing 'samatte_job' version field" in e.value.message
