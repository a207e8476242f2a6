"""QA of a pipeline TD's day 9: a shot laid out one folder per frame (``plates/####/plate.exr``, a render
written as ``renders/####/matte.exr``), exported for the farm.

The export made each such folder, token included, a root: ``Output`` = ``.../renders/####``, the job's output
``<Output>/matte.exr``. A node that gets its own folder for a root (Deadline's job attachments give each root
a session folder; any path mapping to a folder of another name) then had no frame token left: every task
stopped with OUTPUT_INVALID ("has no frame number token"), and ``asset_references.yaml`` named a folder
``####`` that nothing writes. Now the root is the folder above the token's folder."""
import json
import os
import shutil

import pytest

from samatte import cli, jobspec
from samatte.farm import export_openjd


@pytest.fixture
def shot(tmp_path):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "src"), frames=3, size=(64, 64), first=1001)
    plates = tmp_path / "studio" / "plates"
    for f in (1001, 1002, 1003):
        (plates / str(f)).mkdir(parents=True)
        shutil.copy(s["plate"].replace("####", str(f)), str(plates / str(f) / "plate.exr"))
    job = jobspec.new_job(str(plates / "####" / "plate.exr"), str(tmp_path / "studio" / "renders" / "%04d" / "m.exr"),
                          name="sh010", tracker="flow", matte="none")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job, tmp_path


def test_the_roots_are_the_folders_above_the_frame_folders(shot):
    job, tmp = shot
    res = export_openjd(job, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    with open(os.path.join(res["bundle"], "samatte_farm_job.json")) as f:
        doc = json.load(f)
    assert doc["roots"] == {"Plate": {"dir": str(tmp / "studio" / "plates"), "flow": "IN"},
                            "Output": {"dir": str(tmp / "studio" / "renders"), "flow": "OUT"}}
    assert doc["job"]["plate"]["path"] == "<Plate>/####/plate.exr"
    assert doc["job"]["output"]["path"] == "<Output>/%04d/m.exr"
    assert "#" not in res["parameters"]["Plate"] and "%" not in res["parameters"]["Output"]
    with open(res["asset_references"]) as f:
        refs = f.read()
    assert "####" not in refs and "%04d" not in refs


def test_a_node_with_its_own_folders_for_the_roots_runs_every_task(shot, capsys):
    job, tmp = shot
    res = export_openjd(job, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    # what job attachments give a node: each root's files in a session folder of another name
    shutil.copytree(str(tmp / "studio" / "plates"), str(tmp / "session" / "assetroot-1"))
    roots = ["--root", "Plate=%s" % (tmp / "session" / "assetroot-1"),
             "--root", "Output=%s" % (tmp / "session" / "assetroot-2")]
    assert cli.main(["farm", "task", doc] + roots + ["--stage", "track", "--frames=1001-1003"]) == 0
    assert cli.main(["farm", "task", doc] + roots + ["--stage", "matte", "--frames=1001-1003"]) == 0
    assert cli.main(["farm", "task", doc] + roots + ["--qc", "--frames=1001-1003"]) == 0
    for f in (1001, 1002, 1003):
        assert os.path.isfile(str(tmp / "session" / "assetroot-2" / ("%04d" % f) / "m.exr"))
    assert not os.path.exists(str(tmp / "studio" / "renders"))
    capsys.readouterr()
