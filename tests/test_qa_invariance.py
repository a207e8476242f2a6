"""A job's output must not depend on how the machine ran it: the written EXRs (pixels and samatte/*
metadata) and the stored track files are byte-identical whatever the memory budget (the flow tracker
spilling frames, logits, keyframe masks and flows to disk, or not; flows past the disk budget computed
again), OpenCV / BLAS / OpenMP thread counts, the plate read-ahead thread on or off, the caller (the
API in-process, ``samatte run`` with or without ``--json``, a warm ``samatte.client`` worker that ran
another job before), the hash seed, and a JobSpec in another folder with relative paths run from
another working directory. Tiny plates (96x64, 6 frames), flow and shapes trackers, refine matte."""
import glob
import hashlib
import json
import os
import subprocess
import sys

import pytest

from samatte import jobspec, pipeline
from samatte.demo import make_shot

FRAMES = "1001-1006"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    base = tmp_path_factory.mktemp("inv")
    s = make_shot(str(base / "shot"), frames=6, size=(96, 64))
    s["base"] = str(base)
    return s


def _job(s, out, *, tracker="flow", options=None, compression="zip"):
    """Two tracked objects (a polygon on the middle frame: backward and forward passes; a box on the
    first), a mask-prompt object and a refine-only roto sequence (the true alpha)."""
    job = jobspec.new_job(s["plate"], os.path.join(out, "m.####.exr"), frames=FRAMES, name="inv",
                          tracker=tracker, matte="refine", compression=compression)
    if options:
        job["tracker"]["options"] = dict(options)
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    jobspec.add_object(job, "box", [jobspec.box_prompt(1001, [3, 3, 20, 18])])
    jobspec.add_object(job, "mk", [jobspec.mask_prompt(1004, s["gt"].replace("####", "1004"), channel="A")])
    jobspec.add_object(job, "roto", masks={"path": s["gt"], "channel": "A"})
    return job


def _digest(out):
    """{file name: sha256} of the output EXRs and the stored track files under ``out``."""
    d = {}
    for p in sorted(glob.glob(os.path.join(out, "*.exr"))):
        d[os.path.basename(p)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    for p in sorted(glob.glob(os.path.join(out, ".samatte", "*", "*", "track", "*.npz"))):
        d["track/" + os.path.basename(p)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return d


_REF = {}


def _reference(s, tracker):
    """The plain in-process run (default budget, default threads, read-ahead on)."""
    if tracker not in _REF:
        out = os.path.join(s["base"], "ref_" + tracker)
        assert pipeline.run(_job(s, out, tracker=tracker))["status"] == "done"
        d = _digest(out)
        assert len(d) == 6 + 6 * 3, sorted(d)   # 6 EXRs, 6 frames x 3 tracked objects
        _REF[tracker] = d
    return _REF[tracker]


def _same(ref, got):
    assert sorted(got) == sorted(ref)
    diff = sorted(n for n in ref if ref[n] != got[n])
    assert diff == [], "differs from the plain run: %s" % diff


def test_flow_spills_give_the_same_bytes(shot, monkeypatch):
    """ram_mb 0 (everything spilled: frames and logits memory-mapped, keyframe masks and flows as
    .npy), a budget that keeps some in RAM and spills the rest, and flows past the disk budget
    (computed again) write the files a run in RAM writes."""
    from samatte.track import flow
    ref = _reference(shot, "flow")
    made = []
    real = flow.spill_folder

    def spy(prefix, work_dir=None):
        made.append(prefix)
        return real(prefix, work_dir)
    monkeypatch.setattr(flow, "spill_folder", spy)
    for tag, opts in (("ram0", {"ram_mb": 0}), ("ramtiny", {"ram_mb": 0.002})):
        made.clear()
        out = os.path.join(shot["base"], tag)
        pipeline.run(_job(shot, out, options=opts))
        assert "samatte_flow" in made and "samatte_flows" in made, (tag, made)   # the spill path ran
        _same(ref, _digest(out))
    monkeypatch.setattr(flow, "FLOW_DISK_BYTES", 0)      # no flow kept at all: each computed again
    out = os.path.join(shot["base"], "nodisk")
    pipeline.run(_job(shot, out, options={"ram_mb": 0}))
    _same(ref, _digest(out))


def test_one_opencv_thread_and_no_read_ahead_give_the_same_bytes(shot, monkeypatch):
    import cv2

    from samatte.io import source
    ref = _reference(shot, "flow")

    class NoReadAhead(source.FrameSource):
        def __init__(self, *a, **k):
            k.update(readahead=0, cache_frames=1)
            super().__init__(*a, **k)
    monkeypatch.setattr(source, "FrameSource", NoReadAhead)
    n = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        out = os.path.join(shot["base"], "cv1")
        pipeline.run(_job(shot, out))
    finally:
        cv2.setNumThreads(n)
    _same(ref, _digest(out))


@pytest.mark.parametrize("tracker", ["flow", "shapes"])
def test_cli_from_another_folder_with_relative_paths_and_one_thread(shot, tracker):
    """``samatte run`` (``--json`` for flow, plain text for shapes) of a JobSpec whose paths (plate, output, mask prompt, roto sequence,
    work_dir) are relative to its own folder, run from ``/`` with one thread everywhere, another hash
    seed and ram_mb 0 (a cosmetic option: not in the keys, so the metadata match too)."""
    ref = _reference(shot, tracker)
    out = os.path.join(shot["base"], "cli_" + tracker)
    folder = os.path.join(shot["base"], "jobs_" + tracker, "deep")
    os.makedirs(folder)
    job = _job(shot, out, tracker=tracker, options={"ram_mb": 0} if tracker == "flow" else None)

    def rel(p):
        return os.path.relpath(p, folder)
    default_wd = jobspec.default_work_dir(job)
    job["plate"]["path"] = rel(job["plate"]["path"])
    job["output"]["path"] = rel(job["output"]["path"])
    job["objects"][2]["prompts"][0]["path"] = rel(job["objects"][2]["prompts"][0]["path"])
    job["objects"][3]["masks"]["path"] = rel(job["objects"][3]["masks"]["path"])
    job["work_dir"] = rel(default_wd)   # where the default puts it
    path = os.path.join(folder, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENCV_FOR_THREADS_NUM="1", NUMBA_NUM_THREADS="1", PYTHONHASHSEED="12345")
    as_json = tracker == "flow"
    r = subprocess.run([sys.executable, "-m", "samatte", "run", path] + (["--json"] if as_json else []), cwd="/",
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    if as_json:
        last = json.loads(r.stdout.strip().splitlines()[-1])
        assert last["type"] == "result" and last["result"]["status"] == "done", last
    _same(ref, _digest(out))


def test_warm_worker_and_api_give_the_same_bytes(shot):
    """The worker process (``samatte.client``), after another job with other options on another
    plate, and a track stage (spilling) and matte stage run as two jobs, against the in-process run."""
    from samatte import api
    from samatte.client import WorkerClient
    ref = _reference(shot, "flow")
    other = make_shot(os.path.join(shot["base"], "other"), frames=4, size=(128, 64), seed=3)
    with WorkerClient(timeout=120) as w:
        oj = jobspec.new_job(other["plate"], os.path.join(shot["base"], "other_out", "o.####.exr"),
                             name="other", tracker="flow", matte="refine")
        oj["tracker"]["options"] = {"ram_mb": 0, "work_size": 48}
        jobspec.add_object(oj, "x", [jobspec.polygon_prompt(other["prompt_frame"], other["polygon"])])
        w.run(oj)
        out = os.path.join(shot["base"], "worker")
        w.run(_job(shot, out))
        _same(ref, _digest(out))
        out = os.path.join(shot["base"], "stages")
        w.run(_job(shot, out, options={"ram_mb": 0}), stage="track")
        w.run(_job(shot, out), stage="matte")
        _same(ref, _digest(out))
    out = os.path.join(shot["base"], "api")
    api.run(_job(shot, out))
    _same(ref, _digest(out))


def _relative_job_file(s, folder, out, **opts):
    """A JobSpec file in ``folder`` whose paths are all relative to it."""
    os.makedirs(folder, exist_ok=True)
    job = jobspec.new_job(os.path.relpath(s["plate"], folder), os.path.relpath(os.path.join(out, "m.####.exr"), folder),
                          frames=FRAMES, name="rel", tracker="flow", matte="refine")
    job["tracker"]["options"] = dict(opts.get("tracker") or {})
    job["matte"]["options"] = dict(opts.get("matte") or {})
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    path = os.path.join(folder, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def test_a_relative_tracker_work_dir_is_the_job_file_s_folder_whatever_the_cwd(shot, tmp_path, monkeypatch):
    """tracker.options.work_dir "scratch" (the flow tracker's spill folder) in a JobSpec beside a
    ``scratch`` folder: before, it was relative to the process's working directory, so ``samatte run
    jobs/job.json`` from anywhere but ``jobs/`` failed with OUTPUT_INVALID "the flow tracker cannot
    spill to scratch" (exit 5) where the same file run from its folder worked."""
    from samatte.track import flow
    folder = tmp_path / "jobs"
    (folder / "scratch").mkdir(parents=True)
    path = _relative_job_file(shot, str(folder), str(tmp_path / "out"), tracker={"ram_mb": 0, "work_dir": "scratch"})
    made = []
    real = flow.spill_folder

    def spy(prefix, work_dir=None):
        made.append(work_dir)
        return real(prefix, work_dir)
    monkeypatch.setattr(flow, "spill_folder", spy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(str(elsewhere))
    assert pipeline.run(path)["status"] == "done"
    assert made and set(made) == {str(folder / "scratch")}, made
    assert os.listdir(str(elsewhere)) == [] and os.listdir(str(folder / "scratch")) == []   # spills removed
    assert jobspec.load(path)["tracker"]["options"]["work_dir"] == str(folder / "scratch")
    # and a "~/..." work_dir is the user's home, not joined to the folder
    doc = json.load(open(path))
    doc["tracker"]["options"]["work_dir"] = "~/samatte_scratch"
    with open(path, "w") as f:
        json.dump(doc, f)
    assert jobspec.load(path)["tracker"]["options"]["work_dir"] == os.path.expanduser("~/samatte_scratch")


def test_a_relative_matte_checkpoint_gives_the_same_keys_whatever_the_cwd(shot, tmp_path, monkeypatch):
    """matte.options.checkpoint is stamped into every frame's key (and with matte "auto" decides
    whether sam2matte runs): before, a relative one was looked for from the working directory, so the
    same JobSpec had other keys (and frames "stale") when run or queried from another folder."""
    from samatte.cachekey import frame_keys
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "weights.pt").write_bytes(b"not really weights")
    path = _relative_job_file(shot, str(folder), str(tmp_path / "out"), matte={"checkpoint": "weights.pt"})

    def keys(cwd):
        monkeypatch.chdir(str(cwd))
        job = jobspec.load(path)
        return frame_keys(job, resolved=pipeline.resolve_backends(job))
    here = keys(folder)
    assert keys(tmp_path) == here
    assert jobspec.load(path)["matte"]["options"]["checkpoint"] == str(folder / "weights.pt")
