"""`samatte farm task --root NAME=PATH` with a NAME the farm job has no root of (a TD's typo, `--root
Ouput=/mnt/out` beside the right ones, or a wrapper's root for another job) was ignored without a word: the
folder it meant mapped nothing. It is JOBSPEC_INVALID naming the unknown root and the job's own, before the task
runs."""
import json
import os
import sys

import pytest

from samatte import cli, jobspec
from samatte.errors import JobSpecError
from samatte.farm import run_task
from samatte.farm.openjd import TEMPLATE_PARAMETERS, export_openjd, localize


def _bundle(tmp_path):
    job = jobspec.new_job(str(tmp_path / "shots" / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1002", name="roots", tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=2, preroll=0, python=sys.executable, models_dir="/m")
    return os.path.join(res["bundle"], "samatte_farm_job.json"), res


def test_an_unknown_root_is_jobspec_invalid_naming_it_and_the_known_ones(tmp_path, monkeypatch, capsys):
    doc, res = _bundle(tmp_path)
    with open(doc, encoding="utf-8") as f:
        farm = json.load(f)
    assert sorted(farm["roots"]) == ["Output", "Plate"]
    good = {"Plate": "/mnt/a/shots", "Output": "/mnt/a/out"}
    assert localize(farm, good)["output"]["path"].startswith("/mnt/a/out")
    with pytest.raises(JobSpecError) as e:
        localize(farm, dict(good, Ouput="/mnt/b/out"))
    assert "--root Ouput" in str(e.value) and "Output, Plate" in str(e.value)
    assert e.value.details["roots"] == ["Ouput"]
    # the template's other parameters (a wrapper passing each one whose value is a path) are no typo
    assert set(res["parameters"]) - set(farm["roots"]) == set(TEMPLATE_PARAMETERS)
    assert localize(farm, dict(good, SamattePython="/opt/py", ModelsDir="/m")) == localize(farm, good)

    real_main = cli.main
    ran = []
    monkeypatch.setattr(cli, "main", lambda argv: ran.append(argv) or 0)
    with pytest.raises(JobSpecError):
        run_task(doc, dict(good, Bogus="/mnt/x"), qc=True)
    assert ran == []   # the task's command never ran
    # the command line: the render manager's failure reason, exit 2
    rc = real_main(["farm", "task", doc, "--root", "Plate=/mnt/a/shots", "--root", "Output=/mnt/a/out",
                   "--root", "Bogus=/mnt/x", "--qc"])
    assert rc == 2 and ran == []
    captured = capsys.readouterr()
    assert "openjd_fail: [JOBSPEC_INVALID] --root Bogus: the farm job has no root of that name (its roots: " \
           "Output, Plate)" in captured.out
