"""QA of a pipeline TD's day 9: a crowd shot whose script wrote each object's roto into a folder of its own
(``roto/<object>/<object>.1004.exr``), 45 objects, exported for the farm.

Each of those folders became a root, a PATH job parameter of its own: 45 + Plate + Output + the template's six
other parameters is more than the 50 job parameters OpenJD allows, so ``openjd check`` (and a Deadline Cloud
submission) refused the bundle samatte had written ("parameterDefinitions must have at most 50 elements").
Now input folders are merged into the folder above them until the template fits: here one ``Input1`` root,
``roto``."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.farm import export_openjd, localize


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa164crowd")
    s = make_shot(str(d / "src"), frames=3, size=(64, 64), first=1001)
    gt = s["gt"].replace("####", str(s["prompt_frame"]))
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), name="crowd", tracker="flow", matte="none")
    for i in range(45):
        folder = d / "roto" / ("obj%02d" % i)
        folder.mkdir(parents=True)
        path = folder / ("obj%02d.%d.exr" % (i, s["prompt_frame"]))
        shutil.copy(gt, str(path))
        jobspec.add_object(job, "obj%02d" % i, [jobspec.mask_prompt(s["prompt_frame"], str(path))])
    return job, d


def test_the_bundle_of_a_job_reading_many_folders_passes_openjd_check(crowd, tmp_path):
    job, d = crowd
    res = export_openjd(job, str(tmp_path / "bundle"), python="/opt/samatte/bin/python")
    with open(res["template"]) as f:
        text = f.read()
    assert len(yaml_params(text)) <= 50   # OpenJD's limit
    assert res["parameters"]["Input1"] == str(d / "roto") and "Input2" not in res["parameters"]
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if os.path.exists(openjd):
        r = subprocess.run([openjd, "check", res["template"]], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_every_roto_file_maps_back_to_itself_and_to_a_nodes_folder(crowd, tmp_path):
    job, d = crowd
    res = export_openjd(job, str(tmp_path / "bundle"), python="/opt/samatte/bin/python")
    with open(os.path.join(res["bundle"], "samatte_farm_job.json")) as f:
        doc = json.load(f)
    roots = {n: r["dir"] for n, r in doc["roots"].items()}
    here = localize(doc, roots)
    assert [o["prompts"][0]["path"] for o in here["objects"]] == [o["prompts"][0]["path"] for o in job["objects"]]
    there = localize(doc, dict(roots, Input1="/mnt/node/roto"))
    assert there["objects"][7]["prompts"][0]["path"] == "/mnt/node/roto/obj07/obj07.%d.exr" % job["objects"][7][
        "prompts"][0]["frame"]


def yaml_params(text):
    """The names of the template's job parameters (the block before its job environments)."""
    block = text.split('"parameterDefinitions":', 1)[1].split('"jobEnvironments":', 1)[0]
    return [line.split('"name": ', 1)[1] for line in block.splitlines() if line.lstrip().startswith('- "name": ')]


def test_few_folders_keep_a_root_each():
    from samatte.farm.openjd import _fewer_roots
    roots = {"Plate": {"dir": "/s/plate"}, "Output": {"dir": "/s/out"},
             "Input1": {"dir": "/s/roto/a"}, "Input2": {"dir": "/s/roto/b"}}
    assert _fewer_roots(roots) is roots


def test_folders_far_apart_meet_where_they_share_a_folder():
    from samatte.farm.openjd import MAX_ROOTS, _fewer_roots
    roots = {"Plate": {"dir": "/s/plate"}, "Output": {"dir": "/s/out"}}
    for i in range(30):
        roots["Input%d" % (i + 1)] = {"dir": "/s/roto/deep/a%d" % i}
    for i in range(20):
        roots["Input%d" % (i + 31)] = {"dir": "/t/b%d" % i}
    out = _fewer_roots(roots)
    assert len(out) <= MAX_ROOTS
    assert list(out)[:2] == ["Plate", "Output"] and out["Input1"] == {"dir": "/s/roto/deep"}
    assert [r["dir"] for n, r in out.items() if n.startswith("Input")][1:] == ["/t/b%d" % i for i in range(20)]
