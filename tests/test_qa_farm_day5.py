"""QA of the farm as a pipeline TD puts a shot on Deadline Cloud (day 5): the thread count of a task set
from the job (the ``Threads`` job parameter reaching ``samatte farm task --threads``), checked with
openjd-cli's own validation and run."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.errors import JobSpecError
from samatte.farm import export_openjd

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
needs_openjd = pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qafarm5")
    s = make_shot(str(d / "shots" / "sh010" / "plates"), frames=3, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "shots" / "sh010" / "out" / "m.####.exr"), frames="1001-1003",
                          name="sh010", tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job, d


def _template(res):
    yaml = pytest.importorskip("yaml")
    with open(res["template"], encoding="utf-8") as f:
        return yaml.safe_load(f)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SAMATTE_THREADS", "OMP_NUM_THREADS")}
    env.update(extra)
    return env


def _threads_line(out):
    return [ln.split("samatte farm task: ", 1)[1] for ln in out.splitlines() if "samatte farm task: " in ln]


def test_the_template_has_a_threads_parameter_every_task_passes_on(shot, tmp_path):
    """A 4K shot on nodes that run several tasks at once needs each task's thread count; `--threads`
    and $SAMATTE_THREADS existed but the template had no way to set them: a TD had to edit every
    worker's environment. Now ``Threads`` (INT, default 0: the node's own choice) is a job parameter,
    and every step's command passes it as ``--threads=``."""
    job, _ = shot
    res = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2, preroll=1, threads=3)
    t = _template(res)
    params = {p["name"]: p for p in t["parameterDefinitions"]}
    assert params["Threads"]["type"] == "INT" and params["Threads"]["minValue"] == 0
    assert params["Threads"]["default"] == 3 and res["parameters"]["Threads"] == 3
    for step in t["steps"]:
        assert "--threads={{Param.Threads}}" in step["script"]["actions"]["onRun"]["args"], step["name"]
    with open(res["parameter_values"], encoding="utf-8") as f:
        assert "Threads" in f.read()
    assert json.load(open(res["openjd_params"]))["Threads"] == 3
    # the default: 0, the node's own choice
    res0 = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle0"), chunk=2)
    assert res0["parameters"]["Threads"] == 0
    assert {p["name"]: p for p in _template(res0)["parameterDefinitions"]}["Threads"]["default"] == 0
    # a count from a TD's script is a whole number >= 0, never coerced
    for bad in (True, -1, 2.5, "4"):
        with pytest.raises(JobSpecError) as e:
            export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bad"), threads=bad)
        assert e.value.code == "JOBSPEC_INVALID" and e.value.details.get("field") == "threads"


def test_farm_export_cli_sets_the_threads_value(shot, tmp_path):
    from samatte import cli
    job, _ = shot
    jobspec.save(job, str(tmp_path / "sh010.json"))
    assert cli.main(["farm", "export", str(tmp_path / "sh010.json"), "--openjd", str(tmp_path / "b"),
                     "--task-threads", "2"]) == 0
    assert json.load(open(str(tmp_path / "b" / "openjd_params.json")))["Threads"] == 2
    assert cli.main(["farm", "export", str(tmp_path / "sh010.json"), "--openjd", str(tmp_path / "c"),
                     "--task-threads", "-2"]) != 0
    assert not os.path.exists(str(tmp_path / "c" / "template.yaml"))


@needs_openjd
def test_openjd_checks_and_runs_the_threads_parameter(shot, tmp_path):
    """`openjd check` accepts the template; `openjd run` of the Track step gives the task the parameter's
    count (1), or with 0 the node's $SAMATTE_THREADS; a negative count fails the task with samatte's
    [JOBSPEC_INVALID] reason (openjd-cli 0.8.0 does not apply the parameter's minValue in `run`)."""
    job, _ = shot
    res = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2, preroll=1)
    r = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

    def run(threads, env):
        params = dict(res["parameters"], Threads=threads)
        return subprocess.run([OPENJD, "run", res["template"], "--step", "Track", "--no-run-dependencies",
                               "-p", json.dumps(params)], capture_output=True, text=True, timeout=300, env=env)
    r = run(1, _env(SAMATTE_THREADS="3"))
    assert r.returncode == 0, r.stdout[-3000:]
    lines = _threads_line(r.stdout)
    assert len(lines) == 1 and lines[0].endswith("(threads 1 from --threads)"), lines
    r = run(0, _env(SAMATTE_THREADS="3"))
    assert r.returncode == 0, r.stdout[-3000:]
    assert _threads_line(r.stdout)[0].endswith("(threads 3 from SAMATTE_THREADS)")
    r = run(-1, _env())
    assert r.returncode != 0
    assert "openjd_fail: [JOBSPEC_INVALID] --threads must be a whole number" in r.stdout
    assert not _threads_line(r.stdout)                                  # refused before the job was read
