"""QA of the host-facing paths (worker protocol through samatte.client, farm bundles): regressions for
bugs found by adversarial runs."""
import os
import shutil
import subprocess
import sys
import time

import pytest

from samatte import jobspec
from samatte.client import WorkerClient
from samatte.errors import BusyError, JobSpecError
from samatte.farm import export_openjd
from samatte.farm.openjd import template_name

TESTS = os.path.dirname(os.path.abspath(__file__))
OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
needs_openjd = pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")


def _job(tmp_path, name):
    """A small tracked job (nothing is read: the frames are given, the plate need not exist)."""
    job = jobspec.new_job(str(tmp_path / "plates" / "p.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1003", tracker="flow", matte="refine", quality="draft", name=name)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1002, [[10, 10], [40, 10], [40, 30]])])
    return job


@needs_openjd
@pytest.mark.parametrize("name, shown", [
    ("{{Param.Frames}}", "samatte { {Param.Frames} }"),      # was substituted: 'samatte 1001-1003'
    ("a{{b}}c", "samatte a{ {b} }c"),                         # was a failed check (no variable b)
    ("}}{{{", "samatte } }{ { {"),                            # was a failed check (braces mismatch)
    ("sh010\thero\n", "samatte sh010 hero "),                 # was a failed check (control characters)
])
def test_job_name_is_not_read_as_an_openjd_expression(tmp_path, name, shown):
    res = export_openjd(_job(tmp_path, name), str(tmp_path / "bundle"), chunk=2, python=sys.executable)
    check = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    summary = subprocess.run([OPENJD, "summary", res["template"], "-p", "file://" + res["openjd_params"]],
                             capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stdout + summary.stderr
    assert "Summary for '%s'" % shown in summary.stdout
    # the job itself keeps its name (the embedded farm document)
    import json
    with open(os.path.join(res["bundle"], "samatte_farm_job.json"), encoding="utf-8") as f:
        assert json.load(f)["job"]["name"] == name


@needs_openjd
def test_long_job_name_fits_openjds_limit(tmp_path):
    res = export_openjd(_job(tmp_path, "x" * 300), str(tmp_path / "bundle"), python=sys.executable)
    check = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr   # was: name must be at most 128 characters
    name = template_name("x" * 300)
    assert len(name) == 128 and name.endswith("\u2026") and name.startswith("samatte xxx")
    assert template_name("sh010 ショット") == "samatte sh010 ショット"   # ordinary names unchanged


def test_job_name_with_a_lone_surrogate_is_jobspec_invalid(tmp_path):
    job = _job(tmp_path, "sh010\ud800")
    with pytest.raises(JobSpecError) as ei:
        jobspec.validate(job)
    assert ei.value.details.get("field") == "job.name"
    # was a UnicodeEncodeError traceback writing template.yaml (and, in `samatte run`, making the
    # default work dir's folder)
    with pytest.raises(JobSpecError):
        export_openjd(job, str(tmp_path / "bundle"), python=sys.executable)
    assert not os.path.exists(tmp_path / "bundle")


def test_more_objects_than_openjd_lists_in_a_task_parameter_get_one_track_task(tmp_path):
    from samatte.farm.openjd import build_template, farm_document
    job = _job(tmp_path, "crowd")
    poly = job["objects"][0]["prompts"]
    job["objects"] = [{"name": "o%04d" % i, "prompts": poly} for i in range(1025)]
    doc = farm_document(job)
    track = [s for s in build_template(doc)["steps"] if s["name"] == "Track"][0]
    # was an `Object` task parameter of 1025 values: a template openjd check refuses (at most 1024)
    assert "parameterSpace" not in track
    assert not any(a.startswith("--objects") for a in track["script"]["actions"]["onRun"]["args"])
    job["objects"] = job["objects"][:1024]
    track = [s for s in build_template(farm_document(job))["steps"] if s["name"] == "Track"][0]
    assert len(track["parameterSpace"]["taskParameterDefinitions"][0]["range"]) == 1024


def _fake_worker(python=None):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(python, env=env, worker_args=["--pipeline", "cli_fake_pipeline"], startup_timeout=60)


def _fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}


def test_second_job_on_a_busy_client_is_busy_not_worker_failed():
    with _fake_worker() as w:
        h = w.start_job(_fake_job(frames=4, delay=0.2))
        with pytest.raises(BusyError) as ei:     # was WorkerError, code WORKER_FAILED ("the worker died")
            w.start_job(_fake_job(frames=1))
        assert ei.value.code == "BUSY"
        assert h.wait()["frames"] == [1001, 1002, 1003, 1004]
        assert w.run(_fake_job(frames=1))["frames"] == [1001]


class _Nuke:
    """What samatte_nuke.runner.JobRunner uses of the nuke module."""

    class ProgressTask:
        def __init__(self, name):
            pass

        def setMessage(self, m):
            pass

        def setProgress(self, p):
            pass

        def isCancelled(self):
            return False

    @staticmethod
    def executeInMainThread(call, args=()):
        pass


def test_nuke_second_node_does_not_kill_the_first_nodes_job():
    """Two samatte nodes share the pool's worker: the second node's Track while the first runs used to
    fail as WORKER_FAILED, and the runner then dropped (killed) the worker, failing the first job too."""
    sys.path.insert(0, os.path.join(os.path.dirname(TESTS), "nuke_plugin"))
    from samatte_nuke.runner import JobRunner, WorkerPool
    pool = WorkerPool(factory=_fake_worker)
    try:
        a = JobRunner(_Nuke(), title="A", job=_fake_job(frames=8, delay=0.25), python=sys.executable, pool=pool)
        a.start()
        deadline = time.monotonic() + 30
        while a.handle is None and time.monotonic() < deadline:
            time.sleep(0.02)
        b = JobRunner(_Nuke(), title="B", job=_fake_job(frames=1), python=sys.executable, pool=pool)
        b.start()
        b.join(60)
        a.join(60)
        # the second waits for the shared worker, then runs (test_qa_nuke_day2; before: BUSY)
        assert b.outcome[0] == "done", b.outcome
        assert a.outcome[0] == "done" and a.outcome[1]["frames"] == list(range(1001, 1009))
    finally:
        pool.close_all()


@needs_openjd
def test_a_job_on_twos_exports_a_frames_parameter_openjd_accepts(tmp_path):
    from samatte.frames import parse_frames
    job = _job(tmp_path, "ontwos")
    job["plate"]["frames"] = "1001-2199x2"                   # 600 frames
    job["objects"][0]["prompts"][0]["frame"] = 1001
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=10, python=sys.executable)
    # was '1001,1003,1005,...': 2999 characters, over OpenJD's 1024 (openjd check refused the template)
    assert res["frames"] == "1001-2199:2" and parse_frames(res["frames"]) == list(range(1001, 2200, 2))
    check = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_frames_that_do_not_fit_openjd_are_a_coded_error(tmp_path):
    import random
    from samatte.errors import FrameRangeError
    from samatte.farm.openjd import frames_to_range_expr
    from samatte.frames import parse_frames
    rng = random.Random(5)
    for _ in range(200):   # the expression reads back as the same frames
        fr = sorted(set(rng.sample(range(-40, 80), rng.randint(1, 50)) + list(range(0, 60, rng.randint(1, 5)))))
        assert parse_frames(frames_to_range_expr(fr)) == fr
    assert frames_to_range_expr([1, 3, 5, 6, 7, 10]) == "1-5:2,6-7,10"
    job = _job(tmp_path, "scattered")
    frames = sorted(rng.sample(range(1001, 9001), 400))     # no pattern: about 2000 characters
    job["plate"]["frames"] = ",".join(str(f) for f in frames)
    job["objects"][0]["prompts"][0]["frame"] = frames[0]
    with pytest.raises(FrameRangeError) as ei:   # was a bundle whose template openjd check refused
        export_openjd(job, str(tmp_path / "bundle"), python=sys.executable)
    assert ei.value.details["field"] == "frames"
    res = export_openjd(job, str(tmp_path / "bundle"), python=sys.executable, frames=frames[:100])
    assert parse_frames(res["frames"]) == frames[:100]
