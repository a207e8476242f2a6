"""QA168: Windows folders compare without regard to case when a farm export groups a job's paths into roots.

On Windows ``Z:\\Shots\\sh010`` and ``z:\\shots\\SH010`` are one folder, and artists' jobs mix spellings (a
plate picked in a file browser, an output typed by hand, a roto from another tool). A Windows job exported
with its plate at ``Z:\\Shots\\sh010\\plate``, its output at ``z:\\shots\\sh010\\plate\\matte`` and its roto at
``Z:\\SHOTS\\sh010\\Plate`` got three roots (``Plate``, ``Output``, ``Input1``) for one folder: three PATH
parameters for the farm to map, the same folder twice among the job attachments' inputs, and an output root
nested in an input root. Now they share the first spelling's root, and the rest of each path keeps the
user's own spelling.
"""
import json
import os
import sys

import pytest

from samatte import cli, jobspec
from samatte.farm import export_openjd
from samatte.farm.openjd import _under


def test_under_compares_windows_folders_without_case_posix_ones_with_it():
    assert _under("z:\\shots\\SH010\\plate\\p.exr", "Z:\\Shots\\sh010")
    assert _under("Z:\\Shots\\sh010", "z:\\shots\\SH010")
    assert _under("\\\\NAS\\Show\\SH010\\a.exr", "\\\\nas\\show\\sh010")
    assert not _under("Z:\\Shots\\sh0101\\p.exr", "z:\\shots\\sh010")
    assert not _under("Y:\\Shots\\sh010\\p.exr", "Z:\\Shots")
    if os.name != "nt":     # a POSIX folder is case-sensitive
        assert not _under("/mnt/Shots/sh010/p.exr", "/mnt/shots")
        assert _under("/mnt/shots/sh010/p.exr", "/mnt/shots")


@pytest.fixture
def mixed_case_job(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "node" / "sh010"), frames=2, size=(64, 64), first=1001)
    job = jobspec.new_job("Z:\\Shots\\sh010\\plate\\" + os.path.basename(s["plate"]),
                          "z:\\shots\\sh010\\plate\\Matte\\m.####.exr", name="sh010", frames="1001-1002",
                          tracker="shapes", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    job["work_dir"] = "Z:\\SHOTS\\SH010\\plate\\Work"
    monkeypatch.chdir(str(tmp_path))
    return job, s, tmp_path


def test_one_root_for_one_windows_folder_in_several_spellings(mixed_case_job):
    job, s, tmp = mixed_case_job
    res = export_openjd(job, str(tmp / "bundle"), chunk=2, python="C:\\samatte\\python.exe", models_dir="")
    with open(os.path.join(res["bundle"], "samatte_farm_job.json")) as f:
        doc = json.load(f)
    assert doc["roots"] == {"Plate": {"dir": "Z:\\Shots\\sh010\\plate", "flow": "INOUT"}}
    assert doc["job"]["plate"]["path"] == "<Plate>/" + os.path.basename(s["plate"])
    assert doc["job"]["output"]["path"] == "<Plate>/Matte/m.####.exr"      # the user's own spelling kept
    assert doc["job"]["work_dir"] == "<Plate>/Work"
    assert res["parameters"]["Plate"] == "Z:\\Shots\\sh010\\plate"
    with open(res["asset_references"]) as f:
        refs = f.read()
    assert refs.count("sh010") == 2        # one input and one output folder: the same one, once each


def test_its_tasks_run_on_a_linux_node_with_the_one_mapped_root(mixed_case_job):
    job, s, tmp = mixed_case_job
    res = export_openjd(job, str(tmp / "bundle"), chunk=2, python=sys.executable, models_dir="")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    root = ["--root", "Plate=%s" % (tmp / "node" / "sh010" / "plate")]
    assert cli.main(["farm", "task", doc] + root + ["--stage", "all", "--frames=1001-1002"]) == 0
    assert cli.main(["farm", "task", doc] + root + ["--qc", "--frames=1001-1002"]) == 0
    assert sorted(os.listdir(str(tmp / "node" / "sh010" / "plate" / "Matte"))) == ["m.1001.exr", "m.1002.exr"]
