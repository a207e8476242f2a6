"""QA156: ``samatte qc`` with a bad ``$SAMATTE_TEMP_MAX_AGE`` (``abc``) or ``$SAMATTE_MAX_PIXELS`` created its
report folder and read every frame before refusing with JOBSPEC_INVALID (at the report's temp clean-up, or the first
frame read): a supervisor's mistyped environment left an empty report folder beside the outputs. ``run_qc`` now
checks both before anything is created or read, as ``pipeline.run`` does."""
import json
import os

import pytest

from samatte import jobspec


@pytest.fixture()
def job_file(tmp_path):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    p = tmp_path / "job.json"
    p.write_text(json.dumps(job))
    return str(p)


@pytest.mark.parametrize("var, value", [("SAMATTE_TEMP_MAX_AGE", "abc"), ("SAMATTE_MAX_PIXELS", "400M")])
def test_qc_refuses_a_bad_environment_before_making_its_report_folder(job_file, tmp_path, monkeypatch, capsys,
                                                                      var, value):
    from samatte import cli
    monkeypatch.setenv(var, value)
    report = tmp_path / "report"
    rc = cli.main(["qc", job_file, "--report", str(report), "--json"])
    out = capsys.readouterr()
    assert rc != 0
    assert "JOBSPEC_INVALID" in out.out + out.err and var in out.out + out.err
    assert not report.exists()


def test_run_qc_refuses_it_too(job_file, tmp_path, monkeypatch):
    from samatte.errors import JobSpecError
    from samatte.farm.qc import run_qc
    monkeypatch.setenv("SAMATTE_TEMP_MAX_AGE", "abc")
    report = tmp_path / "report"
    with pytest.raises(JobSpecError) as e:
        run_qc(job_file, report_dir=str(report), raise_on_failure=False)
    assert e.value.details["field"] == "SAMATTE_TEMP_MAX_AGE"
    assert not os.path.exists(str(report))
