"""QA reliability day (qa166): a JobSpec file whose name starts with ``{`` (``{shot}_job.json``, a template a
pipeline tool left unfilled) is a file to every command. ``samatte qc``, ``samatte farm export`` and
``samatte.api`` (``status``, ``scores``, ``qc``, ``export``, ``run``) took any string starting with ``{`` for
JSON text and failed "JobSpec is not valid JSON", while ``samatte run``, ``status`` and ``validate`` read the
same file."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from samatte import api, jobspec, pipeline
from samatte.errors import JobSpecError

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


@pytest.fixture(scope="module")
def brace_job(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa166_brace")
    s = make_shot(str(d / "shot"), frames=3, size=(64, 64), seed=2)
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft", name="brace")
    jobspec.add_object(job, "ball", [jobspec.box_prompt(s["frames"][0], [8, 6, 30, 24])])
    path = d / "{sh010}_job.json"
    path.write_text(json.dumps(job))
    return str(path)


def _cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=CORE)
    return subprocess.run([sys.executable, "-m", "samatte", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_every_command_reads_a_job_file_named_with_a_brace(brace_job, tmp_path):
    folder, name = os.path.split(brace_job)
    r = _cli("run", name, cwd=folder)                 # a relative name, as typed in the shot folder
    assert r.returncode == 0, r.stderr[-1500:]
    r = _cli("qc", name, "--report", str(tmp_path / "qc"), cwd=folder)
    assert r.returncode == 0 and "not valid JSON" not in r.stderr, r.stderr[-1500:]
    assert (tmp_path / "qc" / "qc.json").is_file()
    r = _cli("farm", "export", name, "--openjd", str(tmp_path / "bundle"), cwd=folder)
    assert r.returncode == 0 and "not valid JSON" not in r.stderr, r.stderr[-1500:]
    assert (tmp_path / "bundle" / "template.yaml").is_file()


def test_the_api_reads_a_job_file_named_with_a_brace(brace_job, monkeypatch):
    folder, name = os.path.split(brace_job)
    monkeypatch.chdir(folder)         # the file by its name, as a script in the shot folder gives it
    api.run(name)
    st = api.status(name)
    assert set(st["frames"].values()) == {"complete"}, st["frames"]
    assert all(v is not None for v in api.scores(name).values())
    assert pipeline.load_job(pathlib.Path(name))["name"] == "brace"


def test_json_text_is_still_json_text(brace_job, monkeypatch):
    with open(brace_job) as f:
        text = f.read()
    assert pipeline.load_job(text)["name"] == "brace"
    assert pipeline.load_job("  " + text)["name"] == "brace"
    with pytest.raises(JobSpecError, match="not valid JSON"):
        pipeline.load_job("{not json")
    # a Path is a file, whatever its name: a missing one says so, not "not valid JSON"
    monkeypatch.chdir(os.path.dirname(brace_job))
    with pytest.raises(JobSpecError, match="cannot read JobSpec"):
        pipeline.load_job(pathlib.Path("{nope}.json"))


def test_the_worker_client_reads_a_job_file_named_with_a_brace(brace_job, monkeypatch):
    """samatte.client took the same name (and any Path, made a string first) for JSON text."""
    from samatte import client
    folder, name = os.path.split(brace_job)
    monkeypatch.chdir(folder)
    assert client._as_dict(name)["name"] == "brace"
    assert client._as_dict(pathlib.Path(name))["name"] == "brace"
    with open(name) as f:
        assert client._as_dict(f.read())["name"] == "brace"          # JSON text is still text
    with pytest.raises(JobSpecError, match="cannot read JobSpec"):
        client._as_dict(pathlib.Path("{nope}.json"))
    env = {"PYTHONPATH": CORE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with client.WorkerClient(env=env, startup_timeout=120) as w:
        assert w.validate(name)["job"]["name"] == "brace"
