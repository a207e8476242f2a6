"""`samatte farm task --root NAME=PATH` with a NAME the farm job has no root of (a TD's typo, `--root
Ouput=/mnt/out` beside the right ones, or a wrapper's root for another job) was ignored without a word: the
folder it meant mapped nothing. It is named in a warning on stderr with the job's own roots, before the task
runs; the task still runs (a studio wrapper passing a wider set of roots than this job's is not refused; a root
the job needs and lacks is JOBSPEC_INVALID, as before)."""
import json
import os
import sys

import pytest

from samatte import cli, jobspec
from samatte.errors import JobSpecError
from samatte.farm import run_task
from samatte.farm.openjd import TEMPLATE_PARAMETERS, export_openjd, localize, unknown_roots


def _bundle(tmp_path):
    job = jobspec.new_job(str(tmp_path / "shots" / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1002", name="roots", tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=2, preroll=0, python=sys.executable, models_dir="/m")
    return os.path.join(res["bundle"], "samatte_farm_job.json"), res


def test_an_unknown_root_is_named_in_a_warning_with_the_known_ones(tmp_path, monkeypatch, capsys):
    doc, res = _bundle(tmp_path)
    with open(doc, encoding="utf-8") as f:
        farm = json.load(f)
    assert sorted(farm["roots"]) == ["Output", "Plate"]
    good = {"Plate": "/mnt/a/shots", "Output": "/mnt/a/out"}
    assert localize(farm, good)["output"]["path"].startswith("/mnt/a/out")
    capsys.readouterr()
    assert unknown_roots(farm, dict(good, Ouput="/mnt/b/out")) == ["Ouput"]
    assert localize(farm, dict(good, Ouput="/mnt/b/out")) == localize(farm, good)
    err = capsys.readouterr().err
    assert "warning: --root Ouput: the farm job has no root of that name (its roots: Output, Plate); ignored" in err
    # the template's other parameters (a wrapper passing each one whose value is a path) are no typo
    assert set(res["parameters"]) - set(farm["roots"]) == set(TEMPLATE_PARAMETERS)
    assert localize(farm, dict(good, SamattePython="/opt/py", ModelsDir="/m")) == localize(farm, good)
    assert "warning" not in capsys.readouterr().err
    # a root the job needs and lacks is still refused
    with pytest.raises(JobSpecError):
        localize(farm, {"Plate": "/mnt/a/shots", "Ouput": "/mnt/a/out"})

    ran = []
    monkeypatch.setattr(cli, "main", lambda argv: ran.append(argv) or 0)
    assert run_task(doc, dict(good, Bogus="/mnt/x"), qc=True) == 0
    assert len(ran) == 1   # the task ran, told
    assert "--root Bogus: the farm job has no root of that name" in capsys.readouterr().err
