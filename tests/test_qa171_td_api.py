"""QA of a pipeline TD's day 7 (qa171): ``samatte.api`` and ``WorkerClient`` as a TD scripts them: a
``threading.Event`` as ``cancel``, a worker started in another folder, ``api.export(frames=)``,
``api.save`` into a new shot folder or onto a file samatte did not write, and QC's hint for frames of an
edited job."""
import json
import os
import threading

import pytest

from samatte import api, jobspec
from samatte.errors import CancelledError, OutputError

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa171")
    return make_shot(str(d / "plates"), frames=2, size=(64, 64))


def _job(s, out):
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def test_a_threading_event_cancels_api_run(shot, tmp_path):
    """``api.run(job, cancel=threading.Event())`` was JOBSPEC_INVALID ("cancel must be a CancelToken, an object
    with check() or a callable ... not Event"): a set event now cancels before a frame is written, a clear one
    lets the job run."""
    ev = threading.Event()
    ev.set()
    with pytest.raises(CancelledError):
        api.run(_job(shot, tmp_path / "a"), cancel=ev)
    assert not (tmp_path / "a").exists() or not any(n.endswith(".exr") for n in os.listdir(tmp_path / "a"))
    seen = []

    def on_frame(e):   # set from the job's own callback: the next check stops it
        seen.append(e.frame)
        ev2.set()
    ev2 = threading.Event()
    with pytest.raises(CancelledError):
        api.run(_job(shot, tmp_path / "b"), cancel=ev2, on_frame=on_frame)
    assert seen == [1001]
    import samatte
    res = None
    it = samatte.run_iter(_job(shot, tmp_path / "c"), cancel=threading.Event())
    try:
        while True:
            next(it)
    except StopIteration as stop:
        res = stop.value
    assert res["status"] == "done" and len(res["written"]) == 2


def test_something_with_neither_check_is_set_nor_call_is_still_refused(shot, tmp_path):
    from samatte.errors import JobSpecError
    with pytest.raises(JobSpecError) as e:
        api.run(_job(shot, tmp_path), cancel=42)
    assert e.value.details["field"] == "cancel"


def test_a_worker_started_in_another_folder_reads_a_dict_job_s_paths_from_the_caller_s(shot, tmp_path, monkeypatch):
    """``WorkerClient(cwd=elsewhere).run(job)`` with ``plates/p.####.exr`` relative: FRAME_MISSING (pattern
    ``plates/...`` of the worker's folder), the mattes, had it found a plate, written under ``elsewhere``. Now
    the caller's current folder, as ``api.run`` and the CLI read a dict job."""
    from samatte.client import WorkerClient
    here = tmp_path / "shot"
    here.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(here)
    job = _job(shot, here / "x")
    job["plate"]["path"] = os.path.relpath(shot["plate"], str(here))
    job["output"]["path"] = "mattes/m.####.exr"
    with WorkerClient(env={"PYTHONPATH": CORE}, cwd=str(elsewhere), startup_timeout=120) as w:
        check = w.validate(json.dumps(job))
        assert check["valid"], check["error"]
        res = w.run(job)
        probe = w.probe(os.path.relpath(shot["plate"], str(here)))
    assert res["output"] == str(here / "mattes" / "m.####.exr")
    assert {"m.1001.exr", "m.1002.exr"} <= set(os.listdir(here / "mattes"))
    assert os.listdir(elsewhere) == []
    assert probe["frames_on_disk"]


def test_api_export_takes_frames_as_farm_export_does(shot, tmp_path):
    """``api.export(job, folder, frames="1001")`` was a TypeError (no such keyword), while ``api.run`` and
    ``samatte farm export --frames`` take a subset."""
    bundle = api.export(_job(shot, tmp_path / "o"), str(tmp_path / "farm"), frames="1001")
    with open(os.path.join(bundle, "openjd_params.json")) as f:
        params = json.load(f)
    frames = params["Frames"] if isinstance(params, dict) else dict(p.split("=", 1) for p in params)["Frames"]
    assert str(frames) == "1001"
    from samatte.errors import FrameRangeError
    with pytest.raises(FrameRangeError):
        api.export(_job(shot, tmp_path / "o"), str(tmp_path / "farm2"), frames="2001")


def test_api_save_makes_a_new_shot_s_folders(shot, tmp_path):
    """``api.save(job, "shots/sh010/samatte/job.json")`` in a new shot was OUTPUT_INVALID "No such file or
    directory"; now the folders are made and the job written (and read back the same)."""
    path = tmp_path / "shots" / "sh010" / "samatte" / "job.json"
    job = _job(shot, tmp_path / "o")
    assert api.save(job, path) == str(path)
    assert jobspec.load(str(path))["plate"]["path"] == job["plate"]["path"]
    # a re-save replaces samatte's own JobSpec
    job["matte"]["quality"] = "high"
    api.save(job, str(path))
    assert jobspec.load(str(path))["matte"]["quality"] == "high"
    assert sorted(os.listdir(path.parent)) == ["job.json"]   # no temp left


def test_api_save_keeps_a_file_samatte_did_not_write(shot, tmp_path):
    """A ``job.json`` of another tool at the path was replaced without a word; now OUTPUT_INVALID naming it,
    its bytes kept, unless ``overwrite=True``; an invalid job makes no folder."""
    other = tmp_path / "job.json"
    other.write_text('{"shotgrid_task": 1234}\n')
    job = _job(shot, tmp_path / "o")
    with pytest.raises(OutputError) as e:
        api.save(job, str(other))
    assert e.value.code == "OUTPUT_INVALID" and str(other) in str(e.value)
    assert other.read_text() == '{"shotgrid_task": 1234}\n'
    api.save(job, str(other), overwrite=True)
    assert jobspec.load(str(other))["name"] == "sh010"
    from samatte.errors import JobSpecError
    with pytest.raises(JobSpecError):
        api.save(dict(job, samatte_job=99), str(tmp_path / "new" / "job.json"))
    assert not (tmp_path / "new").exists()


def test_qc_s_hint_for_frames_of_an_edited_job_says_to_re_export_the_farm_job(shot, tmp_path):
    """After ``job.json`` was edited (quality draft -> default), QC's ``rerun`` hint said "re-run the job (samatte
    run JOB.json, or the farm job's Matte step)": the farm job's Matte step embeds the old job and skips the
    frames as current, so QC failed again. Stale frames now get a hint that says to re-export first; missing
    frames keep the plain one."""
    from samatte.farm.qc import FIX_HINTS
    job = _job(shot, tmp_path / "o")
    api.run(job)
    job["matte"]["quality"] = "default"
    rep = api.qc(job, report_dir=str(tmp_path / "qc1"))
    assert rep["fixes"]["rerun"]["frames"] == "1001-1002"
    hint = rep["fixes"]["rerun"]["hint"]
    assert "farm export" in hint and "re-export" in hint
    job2 = _job(shot, tmp_path / "never")
    rep2 = api.qc(job2, report_dir=str(tmp_path / "qc2"))
    assert rep2["fixes"]["rerun"]["hint"] == FIX_HINTS["rerun"]


def test_api_qc_and_status_take_frames_as_the_commands_do(shot, tmp_path):
    """``api.qc(job, frames="1001")`` and ``api.status(job, frames=...)`` were TypeErrors, while ``samatte qc
    --frames`` and ``samatte status --frames`` take a subset (a farm chunk's frames, a shot's re-done range)."""
    job = _job(shot, tmp_path / "o")
    api.run(job, frames="1001")
    rep = api.qc(job, report_dir=str(tmp_path / "qc"), frames="1001")
    assert rep["ok"] and list(rep["frames"]) == ["1001"]
    assert api.qc(job, report_dir=str(tmp_path / "qc2"))["failed"] == [1002]
    st = api.status(job, frames=[1002])
    assert st["frames"] == {"1002": "missing"}
    from samatte.errors import FrameRangeError
    with pytest.raises(FrameRangeError):
        api.status(job, frames="2001")


def test_api_run_s_callbacks_arrive_on_the_calling_thread_and_their_errors_are_raised_as_they_are(shot, tmp_path):
    """What ``api.run``'s docstring now says a Qt tool's worker thread gets: every callback on that thread (two
    objects matted at once use a pool, yet never call back from it); a callback's own exception ends the job and
    reaches the caller unchanged, the frames written before it kept, and a re-run (a notebook cell run again)
    reuses them."""
    job = _job(shot, tmp_path / "o")
    jobspec.add_object(job, "ball2", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    seen, out = set(), {}

    class Boom(Exception):
        pass

    def on_frame(e):
        seen.add(threading.get_ident())
        raise Boom(e.frame)

    def work():
        try:
            api.run(job, progress=lambda p: seen.add(threading.get_ident()), on_frame=on_frame)
        except Boom as e:
            out["boom"] = e.args[0]
    t = threading.Thread(target=work)
    t.start()
    t.join(120)
    assert out == {"boom": 1001} and seen == {t.ident}
    res = api.run(job)
    assert len(res["skipped"]) == 1 and len(res["written"]) == 1
