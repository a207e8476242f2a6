"""QA of a pipeline TD's day 7: a shot whose frames run through 0 (a handle of pre-roll before frame 0, as a
Blender or Houdini scene starts), its negative frames given on the command line the way every other range is
(``--frames -3--1``, with a space)."""
import json
import os

import pytest

from samatte import jobspec


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte import pipeline
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151neg")
    s = make_shot(str(d / "plates"), frames=5, size=(64, 64), first=-3)
    assert os.path.isfile(s["plate"].replace("####", "-003"))
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="-3-1", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    jobspec.save(job, str(d / "job.json"))
    pipeline.run(job, frames="-3--2")
    return d


@pytest.mark.parametrize("frames, want", [("-3--2", {"-3": "complete", "-2": "complete"}),
                                          ("-1-0", {"-1": "missing", "0": "missing"}),
                                          ("-3,-1", {"-3": "complete", "-1": "missing"})])
def test_status_takes_a_negative_range_after_a_space(shot, capsys, frames, want):
    """``samatte status job.json --frames -3--2`` was "argument --frames: expected one argument" (exit 2):
    argparse took ``-3--2`` for an option (a lone ``-3`` passed); only ``--frames=-3--2`` worked."""
    from samatte import cli
    assert cli.main(["status", str(shot / "job.json"), "--frames", frames, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == want


def test_run_qc_and_farm_export_take_it_too(shot, tmp_path, capsys):
    from samatte import cli
    job = str(shot / "job.json")
    assert cli.main(["run", job, "--frames", "-1-0"]) == 0
    assert os.path.isfile(str(shot / "out" / "m.-001.exr")) and os.path.isfile(str(shot / "out" / "m.0000.exr"))
    capsys.readouterr()
    assert cli.main(["qc", job, "--frames", "-3-0", "--report", str(tmp_path / "qc"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["ok"] == 4
    assert cli.main(["farm", "export", job, "--openjd", str(tmp_path / "b"), "--frames", "-2-0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == "-2-0"


def test_an_option_after_the_flag_is_still_a_missing_value(shot, capsys):
    """Only a value that reads as a frame range is taken: ``--frames --json`` is still a usage error."""
    from samatte import cli
    with pytest.raises(SystemExit) as e:
        cli.main(["status", str(shot / "job.json"), "--frames", "--json"])
    assert e.value.code == 2 and "expected one argument" in capsys.readouterr().out
