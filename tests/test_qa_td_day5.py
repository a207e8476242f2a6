"""QA of a pipeline TD's fifth day: a shot-batch tool that writes JobSpec files from hand-edited templates
and drives ``samatte`` in shell pipelines (``status --json > file``, ``validate | head -1`` under
``set -o pipefail``), where an empty ``work_dir`` and a stdout that cannot be written were mishandled."""
import json
import os
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.errors import JobSpecError
from samatte.trackcache import default_work_dir

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_td_day5")
    return make_shot(str(d), frames=3, size=(64, 64), seed=5)


def _job(s, out, *, name="td5"):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          name=name, tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _samatte(*argv, **kw):
    env = dict(os.environ, PYTHONPATH=CORE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "samatte"] + list(argv), env=env, **kw)


def test_an_empty_work_dir_in_a_job_file_is_the_default_not_the_job_file_s_folder(shot, tmp_path):
    # a template's "work_dir": "$WORK" with the variable unset: two job files in one folder
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    for name in ("sh010", "sh020"):
        doc = _job(shot, tmp_path / name / "m.####.exr", name=name)
        doc["work_dir"] = ""
        (jobs / (name + ".json")).write_text(json.dumps(doc))
    loaded = jobspec.load(str(jobs / "sh010.json"))
    as_dict = json.loads((jobs / "sh010.json").read_text())
    # the file and the same document given as a dict agree: <output folder>/.samatte/<job name>/<output file name>
    assert default_work_dir(loaded) == default_work_dir(jobspec.validate(as_dict)) == \
        str(tmp_path / "sh010" / ".samatte" / "sh010" / "m..exr")
    from samatte.cli import main
    assert main(["run", str(jobs / "sh010.json"), "--stage", "track"]) == 0
    assert main(["qc", str(jobs / "sh010.json")]) == 5   # nothing matted yet: its report is written all the same
    # nothing of samatte's among the job files (before: manifest.json, track/ and qc/ were written here,
    # one work dir for every job file of the folder)
    assert sorted(os.listdir(jobs)) == ["sh010.json", "sh020.json"]
    assert os.path.isfile(tmp_path / "sh010" / ".samatte" / "sh010" / "m..exr" / "manifest.json")
    assert os.path.isfile(tmp_path / "sh010" / ".samatte" / "sh010" / "m..exr" / "qc" / "qc.json")


def _job_file(shot, tmp_path):
    path = tmp_path / "job.json"
    jobspec.save(_job(shot, tmp_path / "out" / "m.####.exr"), str(path))
    return str(path)


def _to_gone_reader(*argv):
    """Run samatte with stdout a pipe whose reader has gone (``| head -1`` once head has its line)."""
    r, w = os.pipe()
    os.close(r)
    try:
        return _samatte(*argv, stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)


@pytest.mark.parametrize("argv", [["validate"], ["status"], ["status", "--json"]])
def test_a_reader_that_went_away_is_not_a_failure_of_a_command_that_did_its_work(shot, tmp_path, argv):
    # `set -o pipefail; samatte validate job.json | head -1`: before, exit 1 (a bug's status) with no message
    p = _to_gone_reader(argv[0], _job_file(shot, tmp_path), *argv[1:])
    assert (p.returncode, p.stderr) == (0, "")


def test_a_reader_that_went_away_leaves_a_failed_command_s_own_status(shot, tmp_path):
    p = _to_gone_reader("qc", _job_file(shot, tmp_path))      # nothing written yet: QC_FAILED, exit 5
    assert p.returncode == 5 and "[QC_FAILED]" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a disk that is full)")
@pytest.mark.parametrize("argv", [["status", "--json"], ["validate"]])
def test_a_result_that_cannot_be_written_on_stdout_is_output_invalid(shot, tmp_path, argv):
    # `samatte status job.json --json > /full/status.json && jq ...`: before, exit 0 and an empty file (--json),
    # or a traceback and exit 1 (a bug's status) for a text command
    with open("/dev/full", "w") as full:
        p = _samatte(argv[0], _job_file(shot, tmp_path), *argv[1:], stdout=full, stderr=subprocess.PIPE,
                     text=True, timeout=120)
    assert p.returncode == 5, p.stderr
    assert "samatte: error [OUTPUT_INVALID] cannot write the output of samatte %s on stdout" % argv[0] in p.stderr
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a disk that is full)")
def test_a_job_s_run_keeps_its_status_when_its_summary_cannot_be_written(shot, tmp_path):
    with open("/dev/full", "w") as full:
        p = _samatte("run", _job_file(shot, tmp_path), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert sorted(os.listdir(tmp_path / "out")) == [".samatte", "m.1001.exr", "m.1002.exr", "m.1003.exr"]


@pytest.mark.parametrize("where", ["job", "object"])
@pytest.mark.parametrize("value, what", [(float("nan"), "finite number"), ([1, {"y": float("inf")}], "finite number"),
                                         ({1, 2}, "got set"), (b"raw", "got bytes")])
def test_meta_that_is_not_json_data_is_refused_with_its_field(shot, tmp_path, where, value, what):
    # a batch tool's meta={"shot_len": frames / fps} with fps 0, or a set of tags: before, validate passed it, save
    # raised TypeError (set) or wrote NaN that jq refuses, and the worker refused the job as PROTOCOL_INVALID
    job = _job(shot, tmp_path / "m.####.exr")
    (job if where == "job" else job["objects"][0])["meta"] = {"shot": "sh010", "x": value}
    field = ("meta" if where == "job" else "objects[0].meta") + ".x"
    with pytest.raises(JobSpecError) as ei:
        jobspec.save(job, str(tmp_path / "job.json"))
    assert ei.value.code == "JOBSPEC_INVALID" and what in ei.value.message
    assert ei.value.details["field"].startswith(field)
    assert not os.listdir(tmp_path)                      # nothing written


def test_meta_that_is_json_data_still_round_trips(shot, tmp_path):
    job = _job(shot, tmp_path / "m.####.exr")
    job["meta"] = {"shot": "sh010 é", "tags": ["hero", None, True], "fps": 23.976, "n": 10 ** 30, "deep": {"a": [{}]}}
    path = jobspec.save(job, str(tmp_path / "job.json"))
    assert json.loads(open(path).read(), parse_constant=lambda c: pytest.fail(c))["meta"] == job["meta"]
    assert jobspec.load(path)["meta"] == job["meta"]


def test_numbers_a_script_computed_with_numpy_are_taken_as_their_values(shot, tmp_path):
    # a batch tool edits a template's dict with numpy results: before, "expected a finite number, got 2.0"
    # (a numpy float32 feather) and "option tracker.options.ram_mb must be a number, got 100" (a numpy int64)
    np = pytest.importorskip("numpy")
    plain = _job(shot, tmp_path / "m.####.exr")
    plain["objects"][0]["prompts"][0]["feather"] = 2.0
    plain["tracker"]["options"]["ram_mb"] = 512
    plain["matte"]["options"]["band"] = 8
    computed = json.loads(json.dumps(plain))
    computed["objects"][0]["prompts"][0]["feather"] = np.float32(2.0)
    computed["objects"][0]["prompts"][0]["points"][0] = list(np.asarray(plain["objects"][0]["prompts"][0]["points"][0],
                                                                        dtype=np.float32))
    computed["tracker"]["options"]["ram_mb"] = np.int64(512)
    computed["matte"]["options"]["band"] = np.int32(8)
    assert jobspec.validate(computed) == jobspec.validate(plain)
    path = jobspec.save(computed, str(tmp_path / "job.json"))          # JSON numbers in the file
    assert jobspec.load(path) == jobspec.validate(plain)
    computed["objects"][0]["prompts"][0]["feather"] = np.float32("nan")   # still refused, by its value
    with pytest.raises(JobSpecError, match="finite number, got nan"):
        jobspec.validate(computed)
