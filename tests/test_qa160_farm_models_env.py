"""QA160 (pipeline TD, day 8): a studio configures its render nodes by environment only.

``SAMATTE_MODELS`` in the nodes' worker environment names the studio's weights folder (README
*Environment variables*), and a bundle exported with an empty ``ModelsDir`` promises "the nodes' own
lookup". But the template's job environment set ``SAMATTE_MODELS: "{{Param.ModelsDir}}"``, which OpenJD
applies over the node's own: measured with ``openjd run`` (openjd-cli 0.8) under
``SAMATTE_MODELS=/net/models``, the task saw ``SAMATTE_MODELS=`` (empty: the default lookup), and a SAM 2
job failed WEIGHTS_MISSING "looked in <venv>/models, ~/.samatte/models", never the studio's folder. Now
``ModelsDir`` reaches each task as ``samatte farm task --models-dir=...``: set as the task's
``$SAMATTE_MODELS`` when not empty, else the node's own stays.
"""
import json
import os
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.farm import export_openjd

OPENJD = os.path.join(os.path.dirname(sys.executable), "openjd")


@pytest.fixture
def sam2_job(tmp_path):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "sh010"), frames=2, size=(64, 64), first=1001)
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), name="sh010", tracker="sam2",
                          matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    return job


def _bundle(job, tmp_path, models_dir):
    return export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2, python=sys.executable,
                         models_dir=models_dir)


def test_the_template_passes_models_dir_to_each_task_not_the_job_environment(sam2_job, tmp_path):
    res = _bundle(sam2_job, tmp_path, "")
    with open(os.path.join(res["bundle"], "samatte_farm_job.json")) as f:
        assert json.load(f)["job"]["tracker"]["backend"] == "sam2"
    from samatte.farm import build_template, load_farm_document
    t = build_template(load_farm_document(os.path.join(res["bundle"], "samatte_farm_job.json")))
    assert "SAMATTE_MODELS" not in t["jobEnvironments"][0]["variables"]
    assert all("--models-dir={{Param.ModelsDir}}" in s["script"]["actions"]["onRun"]["args"] for s in t["steps"])


@pytest.mark.parametrize("models_dir, node, seen", [
    ("", "/net/models", "/net/models"),            # the node's own stays
    ("", None, None),
    ("/opt/weights", "/net/models", "/opt/weights"),   # the job's ModelsDir wins for the task
    ("/opt/weights", None, "/opt/weights"),
])
def test_a_task_sees_the_jobs_models_dir_else_the_nodes_own(sam2_job, tmp_path, monkeypatch, models_dir, node, seen):
    from samatte import cli
    res = _bundle(sam2_job, tmp_path, models_dir)
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    if node is None:
        monkeypatch.delenv("SAMATTE_MODELS", raising=False)
    else:
        monkeypatch.setenv("SAMATTE_MODELS", node)
    got = []
    real = cli.main

    def main(argv):
        if argv and argv[0] in ("run", "qc"):       # the task's own command: what it runs with
            got.append(os.environ.get("SAMATTE_MODELS"))
            return 0
        return real(argv)
    monkeypatch.setattr(cli, "main", main)
    roots = ["--root=%s=%s" % (n, res["parameters"][n]) for n in ("Plate", "Output")]
    assert real(["farm", "task", doc] + roots + ["--stage", "track", "--frames=1001-1002",
                                                  "--models-dir=%s" % res["parameters"]["ModelsDir"]]) == 0
    assert got == [seen]
    assert os.environ.get("SAMATTE_MODELS") == node     # the process's environment as it was


@pytest.mark.skipif(not os.path.exists(OPENJD), reason="openjd-cli is not installed")
def test_openjd_run_looks_for_weights_in_the_nodes_own_folder(sam2_job, tmp_path):
    res = _bundle(sam2_job, tmp_path, "")
    studio = tmp_path / "net" / "models"
    studio.mkdir(parents=True)
    env = dict(os.environ, SAMATTE_MODELS=str(studio), PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([OPENJD, "run", res["template"], "--step", "Track", "-p", "file://" + res["openjd_params"]],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode != 0    # no weights anywhere here: the task fails, saying where it looked
    assert "WEIGHTS_MISSING" in r.stdout, r.stdout[-3000:]
    assert "looked in %s" % studio in r.stdout, r.stdout[-3000:]
