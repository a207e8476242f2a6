"""QA of scripting samatte from a long-lived Python process (a TD's pipeline daemon) and on the farm, at
the edges: two jobs on one output at once in threads, roto file names and frames / counts given from
Python (numpy, ranges, fractions), Ctrl-C while a file is saved, and a file system without hard links."""
import glob
import os
import subprocess
import sys
import threading

import pytest

from samatte import jobspec
from samatte.errors import OutputError
from samatte.pipeline import run


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_td_day4")
    return make_shot(str(d), frames=6, size=(64, 64), seed=5)


def _job(s, out, *, name="td4", quality="draft", frames=None):
    job = jobspec.new_job(s["plate"], str(out), frames=frames or "%d-%d" % (s["frames"][0], s["frames"][-1]),
                          name=name, tracker="flow", matte="refine", quality=quality)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _attr(path, name):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        return inp.spec().getattribute(name)
    finally:
        inp.close()


def test_two_jobs_in_threads_writing_one_frame_at_the_same_moment_do_not_both_succeed(shot, tmp_path, monkeypatch):
    """Two jobs (other names, other settings) run in threads of one process on one output pattern. Each
    asked the frame's name before its write, found it free, and renamed its finished temp over it: when
    both temps were finished before either rename (jobs in lockstep: the window is a whole EXR write),
    both returned "done" with the frame in ``written`` and the frame on disk was the one renamed last (a
    job reported a frame it had lost; two `samatte run` processes have the same window). Now the frame takes
    its name with a hard link (no-clobber) after one more look: the job that comes second is
    OUTPUT_INVALID and the frame on disk is the one the other job reports."""
    s = shot
    frame = s["prompt_frame"]
    out = tmp_path / "shared" / "m.####.exr"
    import samatte.io.writer as w
    real = w._check_whole
    barrier = threading.Barrier(2, timeout=60)

    def both_ready(path):   # both temps finished before either takes the frame's name: the lockstep case
        real(path)
        barrier.wait()
    monkeypatch.setattr(w, "_check_whole", both_ready)
    res = {}

    def go(name, quality):
        try:
            res[name] = run(_job(s, out, name=name, quality=quality, frames=str(frame)))
        except Exception as e:   # noqa: BLE001 - what the TD's thread sees
            res[name] = e
    ts = [threading.Thread(target=go, args=a) for a in (("td4_a", "draft"), ("td4_b", "default"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    failed = {n: r for n, r in res.items() if isinstance(r, Exception)}
    done = {n: r for n, r in res.items() if not isinstance(r, Exception)}
    assert len(failed) == 1 and len(done) == 1, res
    (loser, err), = failed.items()
    (winner, result), = done.items()
    assert isinstance(err, OutputError) and err.code == "OUTPUT_INVALID", err
    assert winner in err.message
    path = str(out).replace("####", str(frame))
    assert result["written"] == [path]
    assert _attr(path, "samatte/job") == winner
    assert _attr(path, "samatte/key") == result["keys"][str(frame)]["matte"]
    assert not glob.glob(str(tmp_path / "shared" / ".*tmp.exr"))   # the loser's temp is gone


def test_a_roto_file_named_with_a_dash_before_its_frame_is_that_frame_not_a_negative_one(shot, tmp_path):
    """``api.job(prompts={"hero": ["roto/hero-1004.png"]})`` (a dash between name and number, what the
    pattern ``hero-####.png`` writes) put the prompt on frame -1004: the run stopped with
    PROMPT_INVALID "prompt of object 'hero' on frame -1004 is outside the job's frames". The dash is a
    sign only where no letter or digit comes before it (``hero.-005.png`` is still frame -5)."""
    import numpy as np
    from PIL import Image

    from samatte import api
    from samatte.io.exr import read_rgb
    s = shot
    f = s["prompt_frame"]
    alpha = read_rgb(s["gt"].replace("####", "%04d" % f))[:, :, 0]
    roto = tmp_path / "roto" / ("hero-%d.png" % f)
    roto.parent.mkdir()
    Image.fromarray(((alpha > 0.5) * 255).astype(np.uint8)).save(str(roto))
    job = api.job(s["plate"], str(tmp_path / "out" / "m.####.exr"), prompts={"hero": [str(roto)]},
                  tracker="flow", matte="refine", quality="draft")
    assert [p["frame"] for p in job["objects"][0]["prompts"]] == [f]
    res = api.run(job, frames=str(f))
    assert res["written"] == [str(tmp_path / "out" / ("m.%d.exr" % f))]
    assert [api.frame_from_path(n) for n in ("hero.-005.png", "hero--005.png", "hero_v2-1004.png", "-3.png")] \
        == [-5, -5, 1004, -3]


def test_frames_from_python_take_numpy_and_ranges_and_refuse_fractions(shot, tmp_path):
    """A TD's frames computed with numpy or ``range``: ``api.run(job, frames=np.array([...]))`` raised a
    bare ValueError ("truth value of an array ... is ambiguous": SAMATTE_ERROR, exit 1 in a worker),
    ``api.job(frames=range(...))`` / ``[np.int64(1001), ...]`` were FRAME_RANGE_INVALID ("must contain
    only integers, got 1001"), and ``frames=[1002.7]`` silently matted frame 1002. One rule now
    (``samatte.frames.parse_frames``): whole numbers of any type (numpy's too) in any iterable; a float
    or a bool is FRAME_RANGE_INVALID, nothing written."""
    import numpy as np

    from samatte import api
    from samatte.errors import FrameRangeError
    from samatte.frames import parse_frames
    s = shot
    f0, f1 = s["frames"][0], s["frames"][1]
    assert parse_frames(np.arange(f0, f0 + 3)) == parse_frames(range(f0, f0 + 3)) == [f0, f0 + 1, f0 + 2]
    assert parse_frames(np.int64(f0)) == [f0]
    assert parse_frames([np.int64(f1), np.int32(f0)]) == [f0, f1]
    job = api.job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames=range(f0, f0 + 4),
                  prompts={"ball": [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])]},
                  tracker="flow", matte="refine", quality="draft")
    assert job["plate"]["frames"] == "%d-%d" % (f0, f0 + 3)
    for bad in ([f1 + 0.7], [True], np.array([f1 + 0.5])):
        with pytest.raises(FrameRangeError) as e:
            api.run(job, frames=bad)
        assert e.value.code == "FRAME_RANGE_INVALID" and "whole numbers" in e.value.message
    assert not (tmp_path / "out").exists() or not glob.glob(str(tmp_path / "out" / "m.*.exr"))
    res = api.run(job, frames=np.array([f0, f1]))
    assert res["frames"] == [f0, f1] and len(res["written"]) == 2
    # the same frames sent to a worker (WorkerClient.run / start_job build this message): numpy's
    # integers were PROTOCOL_INVALID, and preroll=2.5 was cut to 2, True sent as 1
    from samatte import protocol
    from samatte.errors import JobSpecError
    msg = protocol.decode(protocol.encode(protocol.job("j1", job, frames=np.array([f0, f1]), preroll=np.int64(2))))
    assert msg["frames"] == [f0, f1] and msg["preroll"] == 2
    for bad in (2.5, True):
        with pytest.raises(JobSpecError):
            protocol.job("j1", job, preroll=bad)


def test_ctrl_c_while_a_job_file_is_saved_leaves_no_temp_beside_it(tmp_path, monkeypatch):
    """``jobspec.save`` / ``api.save`` (and the farm bundle's and QC report's files: one shared
    ``samatte.atomic.write_atomically``) interrupted by Ctrl-C, or by any error that is not an OSError,
    left ``job.json.tmp<pid>.<thread>`` beside the TD's job file for good (only OSErrors cleaned up).
    Now the temp goes whatever stops the write, and the job file keeps what it held."""
    import samatte.jobspec as js
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "o" / "m.####.exr"), frames="1-3",
                          name="kept")
    jobspec.add_object(job, "a", [jobspec.box_prompt(1, [0, 0, 4, 4])])
    path = jobspec.save(job, str(tmp_path / "job.json"))

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(js, "dumps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        jobspec.save(dict(job, name="changed"), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json"]
    assert jobspec.load(path)["name"] == "kept"


def test_farm_export_counts_from_python_are_checked_not_cut(shot, tmp_path):
    """``export_openjd`` / ``api.export`` took ``int()`` of its counts: ``chunk=True`` made chunks of
    one frame, ``preroll=2.5`` a pre-roll of 2, ``task_timeout=0.4`` or ``-5`` wrote a bundle whose
    template ``openjd check`` refuses ("timeout must be a positive integer", every task unsubmittable),
    and ``chunk="abc"`` / ``None`` were a bare ValueError / TypeError (SAMATTE_ERROR). Now each is
    JOBSPEC_INVALID naming the field before the bundle folder is made; whole numbers of any type (numpy's,
    ``10.0`` from a knob) still export, and ``pipeline.run(preroll=np.int64(2))`` runs (it was refused
    as "not 2")."""
    import numpy as np

    from samatte import api
    from samatte.errors import JobSpecError
    from samatte.farm import export_openjd
    from samatte.pipeline import run
    job = _job(shot, tmp_path / "out" / "m.####.exr")
    bundle = tmp_path / "farm"
    for field, kw in (("chunk", {"chunk": True}), ("chunk", {"chunk": "abc"}), ("chunk", {"chunk": None}),
                      ("preroll", {"preroll": 2.5}), ("preroll", {"preroll": float("nan")}),
                      ("task_timeout", {"task_timeout": 0.4}), ("task_timeout", {"task_timeout": -5})):
        with pytest.raises(JobSpecError) as e:
            export_openjd(job, str(bundle), **kw)
        assert e.value.code == "JOBSPEC_INVALID" and e.value.details.get("field") == field, (kw, e.value)
        assert not bundle.exists()
    res = export_openjd(job, str(bundle), chunk=np.int64(2), preroll=2.0, task_timeout=np.int32(600))
    assert res["parameters"]["ChunkSize"] == 2 and res["parameters"]["Preroll"] == 2
    assert '"timeout": 600' in open(res["template"], encoding="utf-8").read()
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if os.path.isfile(openjd):
        check = subprocess.run([openjd, "check", res["template"]], capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
    assert api.export(job, str(bundle), chunk=3.0) == str(bundle)
    f = shot["frames"][2]
    assert run(job, frames=[f], preroll=np.int64(2))["frames"] == [f]


def test_without_hard_links_the_frame_is_still_asked_for_before_the_rename(shot, tmp_path, monkeypatch):
    """A file system without hard links (FAT, some SMB / FUSE mounts: ``os.link`` fails) falls back to the
    rename, after the same look: another job's frame that arrived at the name is not replaced."""
    import shutil

    import samatte.io.writer as w
    s = shot
    frame = s["prompt_frame"]
    other = run(_job(s, tmp_path / "other" / "m.####.exr", name="td4_other", quality="default",
                     frames=str(frame)))["written"][0]
    out = tmp_path / "mine" / "m.####.exr"
    path = str(out).replace("####", str(frame))
    real = w._check_whole

    def others_frame_arrives(p):   # the other job's frame lands after this job's start and pre-write checks
        real(p)
        shutil.copyfile(other, path)

    def no_links(*a, **k):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(w, "_check_whole", others_frame_arrives)
    monkeypatch.setattr(os, "link", no_links)
    with pytest.raises(OutputError) as e:
        run(_job(s, out, name="td4_mine", frames=str(frame)))
    assert e.value.code == "OUTPUT_INVALID" and "td4_other" in e.value.message
    assert _attr(path, "samatte/job") == "td4_other"
    assert not glob.glob(str(tmp_path / "mine" / ".*tmp.exr"))
