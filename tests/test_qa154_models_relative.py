"""A relative ``SAMATTE_MODELS`` (``models``, ``../shared/models``) was looked up from whatever folder was current at
each look, and `samatte farm export` sent it as it stood as the job's ModelsDir: every render node took it from its
task's session folder (no weights there: the flow fallback, or MODEL_ERROR), though export refuses a relative
--models-dir for that reason. It is now taken from the folder samatte first read it in, once (what `samatte info`
shows), and exported as that absolute folder."""
import json
import os
import sys

from samatte import cli, jobspec, models
from samatte.farm.openjd import export_openjd


def test_a_relative_samatte_models_is_resolved_once_from_the_starting_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models, "_RESOLVED_MODELS", {}, raising=False)
    start, other = tmp_path / "shot", tmp_path / "session"
    start.mkdir()
    other.mkdir()
    monkeypatch.chdir(str(start))
    monkeypatch.setenv("SAMATTE_MODELS", "weights")
    assert models.models_dir() == start / "weights"
    monkeypatch.chdir(str(other))   # a later look from another folder: the same folder
    assert models.models_dir() == start / "weights"
    assert models.search_dirs()[0] == start / "weights"

    capsys.readouterr()
    assert cli.main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models_dir"] == str(start / "weights")

    job = jobspec.new_job(str(tmp_path / "plates" / "p.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1002", name="rel", tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=2, python=sys.executable)
    assert res["parameters"]["ModelsDir"] == str(start / "weights")
    assert os.path.isabs(res["parameters"]["ModelsDir"])
