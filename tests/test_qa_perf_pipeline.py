"""Pipeline-level speed pass: a frame's objects matted in threads (``stage.OBJECT_THREADS``).

The code before is the same code with the objects matted one after another (``OBJECT_THREADS = 1``).
Every EXR of a job (pixels and metadata) must be byte-identical to it: flow + refine with one and two
objects, a lossy compression (whose state goes through the written file), resume, farm chunks out of
order, cancel. And the loop's semantics stay: a frame is reported written (result, Progress,
FrameEvent) only once its file is in place; a cancel leaves whole frames only (those reported); an
error (matting an object, or writing) stops before later frames are written; no thread outlives the
run. (A background EXR writer was measured too and dropped: bench/RESULTS.md.)
"""
import os
import threading
import time

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.errors import CancelledError, OutputError, PlateError
from samatte.io.writer import MatteWriter
from samatte.matte import stage as mstage
from samatte.progress import FrameEvent


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("perf_pipeline")
    return make_shot(str(d), frames=5, size=(128, 72))


def _job(shot, out, n_objects=2, compression="zip"):
    f0, f1 = shot["frames"][0], shot["frames"][-1]
    job = jobspec.new_job(shot["plate"], str(out / "m.####.exr"), frames="%d-%d" % (f0, f1), tracker="flow",
                          matte="refine", compression=compression, name="perf")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    if n_objects > 1:
        jobspec.add_object(job, "patch", [jobspec.box_prompt(f0, [4, 40, 44, 70])])
    job["work_dir"] = str(out / "work")
    return jobspec.validate(job)


@pytest.fixture
def old_code(monkeypatch):
    """Turns the pass off: the objects one after another."""
    def on():
        monkeypatch.setattr(mstage, "OBJECT_THREADS", 1)
    return on


def _files(folder):
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder)) if n.endswith(".exr")}


def _run(job, **kw):
    events = []
    res = pipeline.run(job, on_event=events.append, **kw)
    res = {k: v for k, v in res.items() if k != "elapsed_s"}
    return res, [(e.frame, e.status, e.score, os.path.basename(e.path)) for e in events]


def _strip(res, folder):
    """A result dict with its folder's paths made relative (two runs in two folders)."""
    def rel(v):
        if isinstance(v, str):
            return v.replace(str(folder), "<out>")
        if isinstance(v, list):
            return [rel(x) for x in v]
        if isinstance(v, dict):
            return {k: rel(x) for k, x in v.items()}
        return v
    return rel(res)


@pytest.mark.parametrize("n_objects,compression", [(1, "zip"), (2, "zip"), (2, "b44")])
def test_a_whole_run_is_byte_identical_to_the_code_before(shot, tmp_path, old_code, n_objects, compression):
    new = tmp_path / "new"
    res_new, ev_new = _run(_job(shot, new, n_objects, compression))
    old_code()
    old = tmp_path / "old"
    res_old, ev_old = _run(_job(shot, old, n_objects, compression))
    got, want = _files(new), _files(old)
    assert len(want) == len(shot["frames"]) and got == want
    assert _strip(res_new, new) == _strip(res_old, old)
    assert ev_new == ev_old   # the same events, frame order, scores


def test_resume_and_farm_chunks_out_of_order_are_byte_identical_to_the_code_before(shot, tmp_path, old_code):
    f = shot["frames"]

    def steps(out):
        job = _job(shot, out)
        pipeline.run(job, frames=f[:2])                    # a run stopped after two frames
        pipeline.run(job)                                   # resumed
        chunks = out / "chunks"
        cjob = _job(shot, chunks)
        pipeline.run(cjob, stage="track")
        pipeline.run(cjob, stage="matte", frames=f[3:], preroll=2)   # the later chunk first
        pipeline.run(cjob, stage="matte", frames=f[:3])
        return _files(out), _files(chunks)
    new = steps(tmp_path / "new")
    old_code()
    old = steps(tmp_path / "old")
    assert new[0] == old[0] and len(new[0]) == len(f)
    assert new[1] == old[1] and len(new[1]) == len(f)


def test_a_frame_is_reported_written_only_once_its_file_is_in_place(shot, tmp_path, monkeypatch):
    """With a slow write (a busy file server) each 'written' (Progress with the frame's count,
    FrameEvent, result) comes after the file is there, and one write runs at a time."""
    real = MatteWriter.write
    state = {"busy": 0, "most": 0}

    def slow_write(self, mf, **kw):
        state["busy"] += 1
        state["most"] = max(state["most"], state["busy"])
        try:
            time.sleep(0.3)
            return real(self, mf, **kw)
        finally:
            state["busy"] -= 1
    monkeypatch.setattr(MatteWriter, "write", slow_write)
    out = tmp_path / "o"
    job = _job(shot, out)
    checker = MatteWriter(job["output"]["path"], _info(job), prepare=False)
    reported = []

    def on_event(e):
        assert isinstance(e, FrameEvent) and e.status == "written"
        assert os.path.isfile(e.path) and checker.file_status(e.frame) == "complete"   # a whole frame
        reported.append(e.frame)

    def on_progress(p):
        if p.stage == "matte" and p.message == "":
            assert os.path.isfile(checker.path(p.frame))
    res = pipeline.run(job, on_event=on_event, on_progress=on_progress)
    assert reported == shot["frames"] and [os.path.basename(p) for p in res["written"]] == \
        ["m.%04d.exr" % g for g in shot["frames"]]
    assert state["most"] == 1           # one write at a time


def _info(job):
    from samatte.io.sequence import SequencePattern
    from samatte.io.source import plate_canvas
    seq = SequencePattern(job["plate"]["path"])
    return plate_canvas(seq, seq.frames_on_disk())[0]


def _exrs(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".exr"))


def _no_temps(folder):
    return [n for n in os.listdir(folder) if n.startswith(".") and n != ".samatte"] == []


def test_cancel_leaves_the_frames_reported_whole_and_the_rerun_is_byte_identical(shot, tmp_path, old_code,
                                                                                  monkeypatch):
    real = MatteWriter.write

    def slow_write(self, mf, **kw):
        time.sleep(0.2)
        return real(self, mf, **kw)
    monkeypatch.setattr(MatteWriter, "write", slow_write)
    f = shot["frames"]
    out = tmp_path / "o"
    seen, written = [], []
    # Cancel pressed while the third frame's objects are matted (in threads)
    with pytest.raises(CancelledError):
        pipeline.run(_job(shot, out), on_progress=seen.append, on_event=lambda e: written.append(e.frame),
                     cancel=lambda: any(p.frame == f[2] and "matte " in p.message for p in seen))
    assert written == f[:2]
    assert _exrs(out) == ["m.%04d.exr" % g for g in f[:2]] and _no_temps(out)
    res = pipeline.run(_job(shot, out))
    assert len(res["skipped"]) == 2 and len(res["written"]) == len(f) - 2
    old_code()
    ref = tmp_path / "ref"
    pipeline.run(_job(shot, ref))
    assert _files(out) == _files(ref)


def test_an_error_matting_a_frame_reports_the_frame_written_before_it_and_writes_nothing_after(shot, tmp_path,
                                                                                                monkeypatch):
    f = shot["frames"]
    real = mstage.RefineMatter.step_iter

    def step_iter(self, plate, track, state=None):
        if plate.frame == f[2]:
            time.sleep(0.1)
            raise PlateError("broken frame", frame=plate.frame)
        return (yield from real(self, plate, track, state))
    monkeypatch.setattr(mstage.RefineMatter, "step_iter", step_iter)
    out = tmp_path / "o"
    written = []
    with pytest.raises(PlateError):
        pipeline.run(_job(shot, out), on_event=lambda e: written.append(e.frame))
    assert written == f[:2] and _exrs(out) == ["m.%04d.exr" % g for g in f[:2]] and _no_temps(out)


def test_a_write_error_stops_the_job_before_the_next_frame_is_written(shot, tmp_path, monkeypatch):
    f = shot["frames"]
    real = MatteWriter.write

    def write(self, mf, **kw):
        if mf.frame == f[1]:
            raise OutputError("disk full", path=self.path(mf.frame), frame=mf.frame)
        return real(self, mf, **kw)
    monkeypatch.setattr(MatteWriter, "write", write)
    out = tmp_path / "o"
    written, seen = [], []
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, out), on_event=lambda ev: written.append(ev.frame), on_progress=seen.append)
    assert "disk full" in str(e.value)
    assert written == f[:1] and _exrs(out) == ["m.%04d.exr" % f[0]] and _no_temps(out)
    assert not any(p.stage == "matte" and p.frame == f[3] for p in seen)   # stopped at the next frame's write


def test_the_objects_of_a_frame_in_threads_give_the_same_frame_and_state_bit_for_bit(shot, monkeypatch):
    """RefineMatter.step with three objects, in threads and one after another: the same alphas, stats
    (order too, timings aside), score and state."""
    from samatte.io.sequence import SequencePattern
    from samatte.io.source import FrameSource
    from samatte.stages import ObjectTrack, TrackFrame
    src = FrameSource(SequencePattern(shot["plate"]), shot["frames"])
    try:
        f0, f1 = shot["frames"][:2]
        p0, p1 = src.get(f0), src.get(f1)
        h, w = np.asarray(p0.display).shape[:2]
        masks = {}
        for k, (y, x) in enumerate([(10, 20), (30, 60), (5, 90)]):
            m = np.zeros((h, w), bool)
            m[y:y + 25, x:x + 30] = True
            masks["o%d" % k] = m
        t0 = TrackFrame(f0, {n: ObjectTrack(m) for n, m in masks.items()})
        t1 = TrackFrame(f1, {n: ObjectTrack(np.roll(m, 2, axis=1)) for n, m in masks.items()}, ref=f0)

        def two_frames(threads):
            monkeypatch.setattr(mstage, "OBJECT_THREADS", threads)
            m = mstage.RefineMatter()
            a0, s0 = m.step(p0, t0)
            a1, s1 = m.step(p1, t1, s0)
            return a1, s1
        (a_new, s_new), (a_old, s_old) = two_frames(3), two_frames(1)
    finally:
        src.close()
    assert list(a_new.alphas) == list(a_old.alphas)
    for n in a_old.alphas:
        assert np.array_equal(a_new.alphas[n], a_old.alphas[n])
    for x, y in ((a_new.alpha, a_old.alpha), (a_new.foreground, a_old.foreground), (a_new.quality, a_old.quality)):
        assert np.array_equal(x, y)
    assert a_new.score == a_old.score
    st_new = {k: v for k, v in a_new.stats.items() if not k.startswith("ms.")}
    st_old = {k: v for k, v in a_old.stats.items() if not k.startswith("ms.")}
    assert list(st_new) == list(st_old) and st_new == st_old
    assert s_new.objects == s_old.objects
    for n in s_old.alphas:
        assert np.array_equal(s_new.alphas[n], s_old.alphas[n])


def test_an_object_s_error_in_a_thread_is_the_frame_s_error_and_no_thread_outlives_it(shot, tmp_path,
                                                                                     monkeypatch):
    real = mstage.RefineMatter._estimate_one

    def estimate(self, plate, name, obj, *a, **kw):
        if name == "patch" and plate.frame == shot["frames"][1]:
            raise PlateError("bad object", frame=plate.frame)
        return real(self, plate, name, obj, *a, **kw)
    monkeypatch.setattr(mstage.RefineMatter, "_estimate_one", estimate)
    out = tmp_path / "o"
    with pytest.raises(PlateError, match="bad object"):
        pipeline.run(_job(shot, out))
    assert _exrs(out) == ["m.%04d.exr" % shot["frames"][0]] and _no_temps(out)
    assert not [t for t in threading.enumerate() if t.name.startswith("samatte-object")]


def test_object_threads_follow_samattes_thread_budget(monkeypatch):
    """``--threads 1`` (or ``SAMATTE_THREADS=1``) mattes a frame's objects one after another: the object
    threads take samatte's thread budget (before: the CPUs, whatever the TD set)."""
    from samatte import threads
    monkeypatch.setattr(mstage, "OBJECT_THREADS", None)
    monkeypatch.setattr(threads, "_configured", (1, "--threads"))
    assert mstage.object_threads() == 1
    monkeypatch.setattr(threads, "_configured", (8, "SAMATTE_THREADS"))
    assert mstage.object_threads() == 2
    monkeypatch.setattr(threads, "_configured", None)
    monkeypatch.setenv("SAMATTE_THREADS", "1")
    assert mstage.object_threads() == 1
    monkeypatch.setattr(mstage, "OBJECT_THREADS", 3)
    assert mstage.object_threads() == 3
