"""QA of the farm as a pipeline TD puts a shot on Deadline Cloud (day 6): the render nodes' own paths a
bundle carries (``SamattePython``, ``ModelsDir``: ``--python`` / ``--models-dir``, ``export_openjd(...,
python=, models_dir=)``). A relative one failed every task on the farm (the nodes run each task in a
session folder of their own: ``exec: venv/bin/python: not found``, exit 127), and a ``pathlib.Path``
from a TD's script was a TypeError with half the bundle written. An empty ``ModelsDir`` (the template's own
description: "empty: the nodes' own lookup") became ``<bundle>/models``, a folder of the submitting machine
that every node then looked in first (``SAMATTE_MODELS`` wins over the weights beside the node's venv)."""
import json
import os
import pathlib
import sys

import pytest

from samatte import cli, jobspec
from samatte.errors import JobSpecError
from samatte.farm import export_openjd


def _job(tmp_path):
    job = jobspec.new_job(str(tmp_path / "shots" / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1003", name="day6", tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    return job


def _files(folder):
    if not os.path.isdir(folder):
        return {}
    out = {}
    for n in sorted(os.listdir(folder)):
        with open(os.path.join(folder, n), "rb") as f:
            out[n] = f.read()
    return out


def test_pathlib_paths_for_the_nodes_python_and_models_are_written_as_their_text(tmp_path):
    py, models = pathlib.Path(sys.executable), pathlib.Path("/studio/samatte/models")
    res = export_openjd(_job(tmp_path), tmp_path / "bundle", chunk=2, preroll=0, python=py, models_dir=models)
    assert res["parameters"]["SamattePython"] == str(py)
    assert res["parameters"]["ModelsDir"] == str(models)
    with open(res["openjd_params"], encoding="utf-8") as f:
        params = json.load(f)
    assert params["SamattePython"] == str(py) and params["ModelsDir"] == str(models)
    with open(res["parameter_values"], encoding="utf-8") as f:
        assert str(models) in f.read()


@pytest.mark.parametrize("kw", [
    {"python": "venv/bin/python"}, {"python": "./python"}, {"python": "../samatte/venv/bin/python"},
    {"python": "~/samatte/venv/bin/python"}, {"python": "venv\\Scripts\\python.exe"},
    {"python": pathlib.Path("venv/bin/python")}, {"python": 3},
    {"models_dir": "models"}, {"models_dir": "./models"}, {"models_dir": pathlib.Path("m")},
    {"models_dir": ["/studio/models"]},
])
def test_a_relative_or_non_path_node_path_is_refused_before_anything_is_written(tmp_path, kw):
    job = _job(tmp_path)
    fresh = tmp_path / "fresh"
    with pytest.raises(JobSpecError) as e:
        export_openjd(job, str(fresh), chunk=2, python=kw.get("python", "/opt/samatte/bin/python"),
                      models_dir=kw.get("models_dir", "/opt/samatte/models"))
    field = "python" if "python" in kw else "models_dir"
    assert e.value.code == "JOBSPEC_INVALID" and e.value.details.get("field") == field
    assert not fresh.exists()
    # a re-export into an earlier bundle leaves it whole (not a new template beside old parameter values)
    old = export_openjd(job, str(tmp_path / "b"), chunk=5, python="/opt/samatte/bin/python",
                        models_dir="/opt/samatte/models")["bundle"]
    before = _files(old)
    with pytest.raises(JobSpecError):
        export_openjd(job, old, chunk=2, python=kw.get("python", "/opt/samatte/bin/python"),
                      models_dir=kw.get("models_dir", "/opt/samatte/models"))
    assert _files(old) == before


@pytest.mark.parametrize("python,models", [
    ("/opt/samatte/venv/bin/python", "/studio/models"),
    ("C:\\samatte\\venv\\Scripts\\python.exe", "\\\\server\\share\\samatte\\models"),   # Windows nodes
    ("python3", "~/.samatte/models"),     # the node's PATH; samatte expands ~ in SAMATTE_MODELS on the node
])
def test_absolute_paths_of_either_os_command_names_and_home_folders_are_kept(tmp_path, python, models):
    res = export_openjd(_job(tmp_path), str(tmp_path / "bundle"), chunk=2, python=python, models_dir=models)
    assert res["parameters"]["SamattePython"] == python
    assert res["parameters"]["ModelsDir"] == models


def test_cli_export_with_a_relative_python_is_a_usage_error_naming_the_flag(tmp_path, capsys):
    job_file = str(tmp_path / "day6.json")
    jobspec.save(_job(tmp_path), job_file)
    rc = cli.main(["farm", "export", job_file, "--openjd", str(tmp_path / "bundle"), "--python", "venv/bin/python"])
    err = capsys.readouterr().err
    assert rc == 2 and "[JOBSPEC_INVALID]" in err and "--python" in err and "venv/bin/python" in err
    assert not (tmp_path / "bundle").exists()
    rc = cli.main(["farm", "export", job_file, "--openjd", str(tmp_path / "bundle"), "--python", sys.executable,
                   "--models-dir", "models"])
    err = capsys.readouterr().err
    assert rc == 2 and "--models-dir" in err
    assert not (tmp_path / "bundle").exists()


def test_an_empty_models_dir_leaves_the_weights_to_the_nodes_own_lookup(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    res = export_openjd(_job(tmp_path), str(bundle), chunk=2, python="/opt/samatte/bin/python", models_dir="")
    assert res["parameters"]["ModelsDir"] == ""
    with open(res["openjd_params"], encoding="utf-8") as f:
        assert json.load(f)["ModelsDir"] == ""
    # what a node's task then gets: SAMATTE_MODELS set empty (the job environment), its own lookup
    from samatte import models
    monkeypatch.delenv("SAMATTE_MODELS", raising=False)
    own = models.models_dir()
    monkeypatch.setenv("SAMATTE_MODELS", res["parameters"]["ModelsDir"])
    assert models.models_dir() == own
    assert str(bundle) not in str(models.models_dir())
