"""QA of a pipeline TD's day 7: a thread count with a typo (``--threads 99999``, a farm job's Threads
parameter of 5000) on the command line, in the environment and in a farm export."""
import os

import pytest

from samatte import threads
from samatte.errors import JobSpecError


@pytest.mark.parametrize("value", [1025, "5000", "99999"])
def test_a_thread_count_over_the_limit_is_refused_naming_its_source(value):
    """``--threads 99999`` was taken: every library started a pool that size (OpenCV at once), the run
    spent two minutes starting threads on a 2-CPU machine, wrote ~68000 lines of OpenCV's "Can't spawn
    new thread" and failed DEPENDENCY_MISSING (scipy's import out of memory), a wrong cause. Over
    ``MAX_THREADS`` is JOBSPEC_INVALID naming the flag or variable, as any other bad count."""
    assert threads.MAX_THREADS == 1024
    with pytest.raises(JobSpecError) as e:
        threads.parse_threads(value)
    assert e.value.details["field"] == "--threads" and "at most 1024" in e.value.message
    with pytest.raises(JobSpecError) as e:
        threads.budget(environ={"SAMATTE_THREADS": str(value)})
    assert e.value.details["field"] == "SAMATTE_THREADS"
    assert threads.parse_threads(1024) == 1024 and threads.parse_threads("auto") is None


def test_omp_num_threads_over_the_limit_is_the_limit():
    """Another program's OMP_NUM_THREADS (samatte does not refuse it: a non-number is ignored) is capped."""
    assert threads.budget(environ={"OMP_NUM_THREADS": "99999"}) == (1024, "OMP_NUM_THREADS")
    assert threads.budget(environ={"OMP_NUM_THREADS": "8,2"}) == (8, "OMP_NUM_THREADS")


@pytest.fixture(scope="module")
def job_file(tmp_path_factory):
    from samatte import jobspec
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151t")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    jobspec.save(job, str(d / "job.json"))
    return d


def test_the_cli_and_a_farm_export_refuse_it_before_anything_is_written(job_file, tmp_path, monkeypatch, capsys):
    from samatte import api, cli
    job = str(job_file / "job.json")
    monkeypatch.delenv("SAMATTE_THREADS", raising=False)
    assert cli.main(["run", job, "--threads", "99999"]) == 2
    err = capsys.readouterr().err
    assert "[JOBSPEC_INVALID] --threads asks for 99999 threads: at most 1024" in err, err
    assert not os.path.exists(str(job_file / "out"))
    assert cli.main(["farm", "export", job, "--openjd", str(tmp_path / "b1"), "--task-threads", "5000"]) == 2
    assert "--task-threads asks for 5000" in capsys.readouterr().err
    with pytest.raises(JobSpecError) as e:
        api.export(job, str(tmp_path / "b2"), threads=5000)
    assert e.value.details["field"] == "threads"
    assert not os.path.exists(str(tmp_path / "b1")) and not os.path.exists(str(tmp_path / "b2"))
    api.export(job, str(tmp_path / "b3"), threads=1024)   # the limit itself is a count a task takes
    assert os.path.isfile(str(tmp_path / "b3" / "template.yaml"))


OPENJD = os.path.join(os.path.dirname(__import__("sys").executable), "openjd")


def test_the_templates_threads_parameter_stops_at_the_limit(job_file, tmp_path):
    """The Threads job parameter had a minimum (0) and no maximum: a submitter's 5000 made every task of the
    job fail on its node (JOBSPEC_INVALID from `farm task --threads=5000`). Its maxValue is the limit, so the
    job is refused when it is made (openjd-cli: "must be at most 1024"), before a task runs."""
    import json
    import subprocess
    from samatte.farm import export_openjd
    yaml = pytest.importorskip("yaml")
    res = export_openjd(str(job_file / "job.json"), str(tmp_path / "b"), threads=8)
    with open(res["template"], encoding="utf-8") as f:
        param = {p["name"]: p for p in yaml.safe_load(f)["parameterDefinitions"]}["Threads"]
    assert (param["minValue"], param["maxValue"], param["default"]) == (0, 1024, 8)
    if not os.path.isfile(OPENJD):
        return
    assert subprocess.run([OPENJD, "check", res["template"]], capture_output=True).returncode == 0
    params = dict(res["parameters"], Threads=5000)
    p = subprocess.run([OPENJD, "run", res["template"], "--step", "Track", "-p", json.dumps(params)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "must be at most 1024" in p.stdout + p.stderr, p.stdout + p.stderr
    assert not os.path.exists(str(job_file / "out"))
