"""QA round 15: the README's promises (command lines, exit codes, error codes, Python API, worker
protocol) checked against the code where they disagreed. Fast: tiny synthetic data only."""
import io
import json
import os
import subprocess
import sys
import types

import pytest

from samatte import errors, jobspec, protocol


def _job(tmp_path):
    job = jobspec.new_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1002")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    return job


# -- QC_FAILED is a documented code: in the tables hosts and scripts look codes up in ---------------

def test_qc_failed_is_in_the_error_and_exit_tables():
    # `samatte qc` exits 5 with QC_FAILED; a script mapping a code with samatte.errors.EXIT_CODES, or a
    # host rebuilding it with error_from_code, got a KeyError / a plain SamatteError and exit 1
    assert errors.EXIT_CODES["QC_FAILED"] == 5
    err = errors.error_from_code("QC_FAILED", "QC failed", {"report": "/x/qc.json"})
    assert isinstance(err, errors.OutputError) and err.code == "QC_FAILED"
    from samatte import runner
    assert runner.exit_code_for(err) == 5
    from samatte.farm.qc import QcError
    assert QcError is errors.QcError


# -- jobspec.save: errors are samatte errors with a code --------------------------------------------

def test_jobspec_save_into_a_missing_folder_is_output_invalid(tmp_path):
    job = _job(tmp_path)
    with pytest.raises(errors.OutputError) as ei:
        jobspec.save(job, str(tmp_path / "no_such_folder" / "sh010.json"))
    assert ei.value.code == "OUTPUT_INVALID" and "sh010.json" in ei.value.details["path"]
    (tmp_path / "adir.json").mkdir()
    with pytest.raises(errors.OutputError):
        jobspec.save(job, str(tmp_path / "adir.json"))
    assert [p.name for p in tmp_path.iterdir()] == ["adir.json"]  # no temp file left behind
    assert jobspec.save(job, str(tmp_path / "ok.json")) == str(tmp_path / "ok.json")


# -- worker: a request is answered, also when shutdown or the end of stdin follows it at once ----------

def _slow_pipeline(monkeypatch):
    mod = types.ModuleType("qa_contract_slow_pipeline")

    def probe(plate, *, frames=None, layer=None):
        import time
        time.sleep(0.5)
        return {"path": plate}
    mod.probe = probe
    monkeypatch.setitem(sys.modules, "qa_contract_slow_pipeline", mod)
    return "qa_contract_slow_pipeline"


@pytest.mark.parametrize("last", ["shutdown", "eof"])
def test_worker_answers_a_request_before_bye(monkeypatch, last):
    from samatte.worker import Worker
    lines = [protocol.encode({"type": "probe", "v": 1, "id": "q1", "plate": "/x/plate.####.exr"})]
    if last == "shutdown":
        lines.append(protocol.encode({"type": "shutdown", "v": 1, "id": None}))
    out = io.BytesIO()
    w = Worker(io.BytesIO(("\n".join(lines) + "\n").encode()), out, pipeline=_slow_pipeline(monkeypatch))
    assert w.serve() == 0
    msgs = [json.loads(x) for x in out.getvalue().decode().splitlines()]
    types_ = [m["type"] for m in msgs]
    assert types_ == ["hello", "probe_result", "bye"], types_
    assert msgs[1]["id"] == "q1" and msgs[1]["result"] == {"path": "/x/plate.####.exr"}


def test_worker_process_answers_probe_then_eof(tmp_path):
    # as a TD script pipes it: one request line, then stdin closes
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    line = protocol.encode({"type": "probe", "v": 1, "id": "q1", "plate": s["plate"]}) + "\n"
    r = subprocess.run([sys.executable, "-m", "samatte.worker"], input=line, capture_output=True, text=True,
                       timeout=120)
    types_ = [json.loads(x)["type"] for x in r.stdout.splitlines()]
    assert r.returncode == 0 and types_ == ["hello", "probe_result", "bye"], (types_, r.stderr[-500:])


# -- the result dict has the same keys whatever the run did (docs/CONTRACTS.md: run_iter adds "preroll") --

def test_result_has_preroll_on_every_path(tmp_path):
    from samatte import pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(s["frames"][0], [10, 10, 40, 40])])
    track = pipeline.run(job, stage="track")
    first = pipeline.run(job)
    again = pipeline.run(job)  # every frame complete: the early return
    for r in (track, first, again):
        assert r["preroll"] == [], sorted(r)
    assert again["written"] == [] and len(again["skipped"]) == 2


# -- the README's command-line synopsis and each command's --help agree -----------------------------

def _subparser(parser, words):
    import argparse
    for w in words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[w]
    return parser


def test_readme_synopsis_flags_are_in_the_help():
    import os
    import re
    from samatte import cli
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md"),
                  encoding="utf-8").read()
    block = re.search(r"^## Command line\n.*?```text\n(.*?)```", readme, re.S | re.M).group(1)
    commands = re.split(r"\n(?=samatte )", block.strip())
    parser = cli.build_parser()
    seen = set()
    for text in commands:
        words = text.split()[1:]
        path = [words[0]] + ([words[1]] if words[0] in ("models", "farm") else [])
        sub = _subparser(parser, path)
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
        known = {o for a in sub._actions for o in a.option_strings}
        assert flags <= known, (path, sorted(flags - known))
        seen.add(" ".join(path))
    assert {"run", "qc", "farm export", "farm task", "models download"} <= seen
    # the help names every tracker that takes --objects (flow too, since issue 14)
    from samatte.cachekey import INDEPENDENT_TRACKERS
    help_text = _subparser(parser, ["run"]).format_help()
    assert all(t in " ".join(help_text.split()) for t in INDEPENDENT_TRACKERS)


def test_a_python_without_samattes_requirements_is_dependency_missing(tmp_path):
    """A samatte Python whose install is incomplete (samatte importable, numpy not: a host's Python given
    by mistake, a half-made venv) failed its jobs as SAMATTE_ERROR, "unexpected error (a bug)", exit 1.
    Now DEPENDENCY_MISSING (exit 7) naming the package and that Python, on stderr and as the --json
    error message; other import errors stay what they were."""
    from samatte.errors import DependencyError, missing_dependency
    e = missing_dependency(ModuleNotFoundError("No module named 'numpy'", name="numpy"))
    assert isinstance(e, DependencyError) and e.details["package"] == "numpy" and e.exit_code == 7
    assert missing_dependency(ModuleNotFoundError("No module named 'foo'", name="foo")) is None
    assert missing_dependency(ValueError("numpy")) is None
    py39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")
    if not os.path.exists(py39) or subprocess.run([py39, "-c", "import numpy"], capture_output=True).returncode == 0:
        pytest.skip("no Python without numpy to stand for an incomplete install")
    job = {"samatte_job": 1, "plate": {"path": str(tmp_path / "p.####.exr"), "frames": "1001"},
           "objects": [{"name": "a", "masks": str(tmp_path / "m.####.png")}], "matte": {"backend": "none"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    (tmp_path / "job.json").write_text(json.dumps(job))
    core = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")
    env = dict(os.environ, PYTHONPATH=core)
    proc = subprocess.run([py39, "-m", "samatte", "run", str(tmp_path / "job.json"), "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 7, proc.stderr
    assert "[DEPENDENCY_MISSING]" in proc.stderr and "numpy" in proc.stderr and "unexpected" not in proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["type"] == "error" and last["code"] == "DEPENDENCY_MISSING"
