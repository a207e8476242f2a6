"""QA160 (pipeline TD, day 8): a JobSpec saved by a Windows workstation, exported for the farm on Linux.

``samatte run`` of such a job on Linux stops with JOBSPEC_INVALID and says to "export it for the farm
(samatte farm export; its --root folders are mapped per node)". Doing that on a Linux machine (the
TD's submission box, a submission service) made a bundle with one root, ``Plate``, set to the current
folder, and job paths ``<Plate>/Z:\\shots\\sh010\\plate\\plate.####.exr`` and no ``Output`` root:
exit 0, and no path mapping rule could ever turn that into a node's folder (each node then looked for
``<its plate folder>/Z:\\shots\\...``, and the QC / matte tasks wrote there). Now a Windows absolute path
is worked out with ``ntpath`` wherever the export runs: the roots are the Windows folders (what an
export on Windows gives), mapped per node like any other.
"""
import json
import os
import subprocess
import sys

import pytest

from samatte import cli, jobspec
from samatte.farm import export_openjd


@pytest.fixture
def win_job(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    d = tmp_path / "studio"
    s = make_shot(str(d / "sh010"), frames=3, size=(64, 64), first=1001)
    job = jobspec.new_job("Z:\\sh010\\plate\\plate.####.exr", "Z:\\sh010\\matte\\m.####.exr", name="sh010",
                          frames="1001-1003", tracker="flow", matte="refine", quality="draft")
    assert 1001 <= s["prompt_frame"] <= 1003
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    path = tmp_path / "jobs" / "sh010.json"
    path.parent.mkdir()
    path.write_text(json.dumps(job))
    monkeypatch.chdir(str(tmp_path))
    return str(path), d


def test_a_windows_jobs_roots_are_its_windows_folders(win_job, tmp_path):
    path, _d = win_job
    res = export_openjd(path, str(tmp_path / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    with open(os.path.join(res["bundle"], "samatte_farm_job.json")) as f:
        doc = json.load(f)
    assert doc["roots"] == {"Plate": {"dir": "Z:\\sh010\\plate", "flow": "IN"},
                            "Output": {"dir": "Z:\\sh010\\matte", "flow": "OUT"}}
    assert doc["job"]["plate"]["path"] == "<Plate>/plate.####.exr"
    assert doc["job"]["output"]["path"] == "<Output>/m.####.exr"
    assert res["parameters"]["Plate"] == "Z:\\sh010\\plate" and res["parameters"]["Output"] == "Z:\\sh010\\matte"
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith("Z:")]
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if os.path.exists(openjd):
        r = subprocess.run([openjd, "check", res["template"]], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_its_tasks_run_on_a_linux_node_with_the_mapped_folders(win_job, tmp_path, capsys):
    path, d = win_job
    res = export_openjd(path, str(tmp_path / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    # what a node's path mapping rule Z:\ -> <studio> gives each PATH parameter
    roots = ["--root", "Plate=%s" % (d / "sh010" / "plate"), "--root", "Output=%s" % (d / "sh010" / "matte")]
    assert cli.main(["farm", "task", doc] + roots + ["--stage", "track", "--frames=1001-1003"]) == 0
    assert cli.main(["farm", "task", doc] + roots + ["--stage", "matte", "--frames=1001-1002",
                                                     "--preroll", "1"]) == 0
    assert cli.main(["farm", "task", doc] + roots + ["--stage", "matte", "--frames=1003", "--preroll", "1"]) == 0
    assert cli.main(["farm", "task", doc] + roots + ["--qc", "--frames=1001-1003"]) == 0
    assert sorted(n for n in os.listdir(str(d / "sh010" / "matte")) if n.endswith(".exr")) == [
        "m.1001.exr", "m.1002.exr", "m.1003.exr"]
    capsys.readouterr()


def test_a_windows_job_without_frames_says_to_name_them(win_job, tmp_path):
    from samatte.errors import MissingFrameError
    path, _d = win_job
    with open(path) as f:
        job = json.load(f)
    job["plate"]["frames"] = None
    with pytest.raises(MissingFrameError) as e:
        export_openjd(job, str(tmp_path / "bundle"), python="/opt/samatte/bin/python")
    assert "Windows path" in str(e.value) and e.value.details.get("field") == "plate.frames"
    assert not os.path.exists(str(tmp_path / "bundle"))
