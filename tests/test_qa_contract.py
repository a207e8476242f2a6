"""QA round 15: the README's promises (command lines, exit codes, error codes, Python API, worker
protocol) checked against the code where they disagreed. Fast: tiny synthetic data only."""
import io
import json
import subprocess
import sys
import types

import pytest

from samatte import errors, jobspec, protocol


def _job(tmp_path):
    job = jobspec.new_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1002")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    return job


# -- QC_FAILED is a documented code: in the tables hosts and scripts look codes up in ---------------

def test_qc_failed_is_in_the_error_and_exit_tables():
    # `samatte qc` exits 5 with QC_FAILED; a script mapping a code with samatte.errors.EXIT_CODES, or a
    # host rebuilding it with error_from_code, got a KeyError / a plain SamatteError and exit 1
    assert errors.EXIT_CODES["QC_FAILED"] == 5
    err = errors.error_from_code("QC_FAILED", "QC failed", {"report": "/x/qc.json"})
    assert isinstance(err, errors.OutputError) and err.code == "QC_FAILED"
    from samatte import runner
    assert runner.exit_code_for(err) == 5
    from samatte.farm.qc import QcError
    assert QcError is errors.QcError


# -- jobspec.save: errors are samatte errors with a code --------------------------------------------

def test_jobspec_save_into_a_missing_folder_is_output_invalid(tmp_path):
    job = _job(tmp_path)
    with pytest.raises(errors.OutputError) as ei:
        jobspec.save(job, str(tmp_path / "no_such_folder" / "sh010.json"))
    assert ei.value.code == "OUTPUT_INVALID" and "sh010.json" in ei.value.details["path"]
    (tmp_path / "adir.json").mkdir()
    with pytest.raises(errors.OutputError):
        jobspec.save(job, str(tmp_path / "adir.json"))
    assert [p.name for p in tmp_path.iterdir()] == ["adir.json"]  # no temp file left behind
    assert jobspec.save(job, str(tmp_path / "ok.json")) == str(tmp_path / "ok.json")
