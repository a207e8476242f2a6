"""QA, three gaps a TD met with the JobSpec object field ``absent`` and a farm QC task:

* an ``absent`` that names none of the job's frames (a typo, ``102-103`` for a job of 1001-1004) was
  accepted silently: a run now logs a warning naming the object, its ``absent`` and the job's frames, and
  ``samatte validate`` prints the same text on stderr (not an error: a TD may narrow a job on purpose);
* ``samatte qc --openjd`` printed no ``openjd_progress`` (a farm QC task sat at 0 % until it ended): it
  prints one per frame checked, 0 to 100, as ``run --openjd`` does;
* ``samatte status`` (text and ``--json``) now names the frames each object is absent on."""
import json
import logging
import re

import pytest

from samatte import jobspec, pipeline
from samatte.cli import main
from samatte.frames import parse_frames


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_td_polish")
    return make_shot(str(d / "plates"), frames=4, size=(96, 64)), d


def _job(shot, absent, name="polish"):
    s, d = shot
    job = jobspec.new_job(s["plate"], str(d / name / "m.####.exr"), frames="1001-1004", name=name,
                          tracker="shapes", matte="refine", quality="draft")
    gone = set(parse_frames(absent))
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(f, s["polygon"]) for f in s["frames"] if f not in gone],
                       absent=absent)
    jpath = str(d / ("%s.json" % name))
    jobspec.save(job, jpath)
    return job, jpath


WARN = "object 'ball': its absent '102-103' names none of the job's frames 1001-1004"


def test_absent_naming_no_frame_of_the_job_warns_at_run_start_and_in_validate(shot, caplog, capsys):
    job, jpath = _job(shot, "102-103", name="typo")
    with caplog.at_level(logging.WARNING, logger="samatte"):
        it = pipeline.run_iter(job)
        next(it)            # the run's first progress ("setup")
        next(it)            # past the frames' resolution
        it.close()
    assert any(WARN in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert main(["validate", jpath]) == 0
    out, err = capsys.readouterr()
    assert WARN in err and WARN not in out
    json.loads(out)         # stdout stays the JSON document


def test_absent_within_the_job_does_not_warn(shot, capsys):
    _job_, jpath = _job(shot, "1002-1003", name="fine")
    assert main(["validate", jpath]) == 0
    assert "absent" not in capsys.readouterr().err
    assert jobspec.absent_outside(_job_, [1001, 1002, 1003, 1004]) == []


def test_qc_openjd_prints_progress_per_frame(shot, capsys):
    job, jpath = _job(shot, "1002-1003", name="qc")
    pipeline.run(job)
    capsys.readouterr()
    assert main(["qc", jpath, "--openjd"]) == 0
    out = capsys.readouterr().out
    pct = [int(m) for m in re.findall(r"^openjd_progress: (\d+)$", out, re.M)]
    assert pct == [0, 25, 50, 75, 100], out
    assert re.findall(r"^openjd_status: (.+)$", out, re.M)[0] == "qc 1/4 frame 1001", out


def test_status_names_the_frames_an_object_is_absent_on(shot, capsys):
    job, jpath = _job(shot, "1002-1003,1010", name="status")
    assert main(["status", jpath, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["absent"] == {"ball": "1002-1003"}
    assert main(["status", jpath]) == 0
    assert "absent  ball 1002-1003" in capsys.readouterr().out.splitlines()
    assert main(["status", jpath, "--frames", "1001"]) == 0   # none of the frames asked: no line
    assert "absent" not in capsys.readouterr().out
