"""QA of responsiveness on big frames: progress while a frame is matted, and Cancel honoured inside it.

A UHD frame with the default refine matter took 4.5-9.4 s here (phases of 0.2-2.3 s: carry, the refine
of each object, foreground, quality map, EXR write), and the pipeline reported and checked for cancel
only between frames: the host's status sat on the previous frame for the whole frame, and Cancel waited
for its end (7.8 s measured). The mechanisms are tested on a small shot where they reproduce."""
import functools
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline, runner
from samatte.errors import CancelledError
from samatte.matte import stage as mstage

from qa_cli import read_exr


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("responsive")
    return make_shot(str(d), frames=3, size=(128, 72))


def _job(shot, out):
    job = jobspec.new_job(shot["plate"], str(out / "m.####.exr"),
                          frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    job["work_dir"] = str(out / "work")
    return job


def _pixels(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".exr"):
            names, px, _ = read_exr(folder / name)
            out[name] = (names, px)
    return out


def test_a_frame_being_matted_reports_its_phases_and_the_job_fraction_never_goes_back(shot, tmp_path):
    msgs = []
    runner.drain(_job(shot, tmp_path / "o"), emit=msgs.append)
    prog = [m for m in msgs if m["type"] == "progress"]
    fractions = [m["fraction"] for m in prog]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    matte = [m for m in prog if m["stage"] == "matte"]
    for f in shot["frames"]:
        # before: one message per frame, after it was written (the host showed the previous frame
        # while this one was matted); now: what is happening to this frame, phase by phase
        said = [m["message"] for m in matte if m["frame"] == f]
        assert "frame %d: reading" % f in said, said
        assert "frame %d: matte ball" % f in said, said
        assert "frame %d: foreground" % f in said and "frame %d: writing" % f in said, said
        assert len(said) >= 5, said
    # the counts stay frames: a phase message carries the frames finished so far
    done = [m["done"] for m in matte]
    assert done == sorted(done) and done[-1] == len(shot["frames"])
    assert {m["total"] for m in matte} == {len(shot["frames"])}


def test_cancel_inside_a_frame_stops_before_it_is_written_and_the_rerun_resumes_exactly(shot, tmp_path,
                                                                                        monkeypatch):
    ref = tmp_path / "ref"
    pipeline.run(_job(shot, ref))

    # Cancel pressed while the second frame's refine runs (on a 4K frame, seconds before its end)
    calls = {"n": 0}
    real = mstage._default_refiner

    @functools.wraps(real)   # its uses_prior / uses_doubt / uses_info flags too
    def refiner(*a, **kw):
        calls["n"] += 1
        return real(*a, **kw)
    monkeypatch.setattr(mstage, "_default_refiner", refiner)
    out = tmp_path / "o"
    with pytest.raises(CancelledError):
        pipeline.run(_job(shot, out), cancel=lambda: calls["n"] >= 2)
    assert calls["n"] == 2   # no third refine: the job stopped inside the frame, not after the next one
    written = sorted(n for n in os.listdir(out) if n.endswith(".exr"))
    # before: the cancelled frame was finished and written (Cancel honoured only between frames)
    assert len(written) == 1, written
    assert [n for n in os.listdir(out) if n not in written and n != "work"] == []   # no temporary files

    res = pipeline.run(_job(shot, out))
    assert len(res["skipped"]) == 1 and len(res["written"]) == 2
    got, want = _pixels(out), _pixels(ref)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name][0] == want[name][0]
        np.testing.assert_array_equal(got[name][1], want[name][1])


def test_cancel_before_the_write_leaves_no_frame(shot, tmp_path):
    # a Cancel that arrives when the frame is computed, before its EXR is written (1-2 s at 4K)
    seen = []

    def on_progress(p):
        seen.append(p)

    def cancel():
        return any(p.stage == "matte" and p.message.endswith(": writing") for p in seen)
    out = tmp_path / "o"
    with pytest.raises(CancelledError):
        pipeline.run(_job(shot, out), on_progress=on_progress, cancel=cancel)
    assert not [n for n in os.listdir(out) if n.endswith(".exr")]


def test_the_phases_are_the_step_bit_for_bit(shot):
    # step_iter (the pipeline's way) and step (the API's) give the same frame and state
    from samatte.io.sequence import SequencePattern
    from samatte.io.source import FrameSource
    from samatte.stages import ObjectTrack, TrackFrame
    src = FrameSource(SequencePattern(shot["plate"]), shot["frames"])
    try:
        f0, f1 = shot["frames"][:2]
        p0, p1 = src.get(f0), src.get(f1)
        h, w = np.asarray(p0.display).shape[:2]
        mask = np.zeros((h, w), bool)
        mask[20:50, 40:90] = True
        tracks = [TrackFrame(f0, {"a": ObjectTrack(mask)}), TrackFrame(f1, {"a": ObjectTrack(mask)}, ref=f0)]
        m = mstage.RefineMatter(quality="draft")
        a0, s0 = m.step(p0, tracks[0])
        a1, _ = m.step(p1, tracks[1], s0)
        gen = m.step_iter(p0, tracks[0])
        phases = []
        while True:
            try:
                phases.append(next(gen))
            except StopIteration as stop:
                b0, t0 = stop.value
                break
        assert phases[0] == "matte a" and "foreground" in phases
        gen = m.step_iter(p1, tracks[1], t0)
        phases = []
        while True:
            try:
                phases.append(next(gen))
            except StopIteration as stop:
                b1, _ = stop.value
                break
        assert phases[0] == "carry"
        for x, y in ((a0, b0), (a1, b1)):
            np.testing.assert_array_equal(x.alpha, y.alpha)
            np.testing.assert_array_equal(x.foreground, y.foreground)
            np.testing.assert_array_equal(x.quality, y.quality)
            assert x.score == y.score
    finally:
        src.close()
