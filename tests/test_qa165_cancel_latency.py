"""qa165: a Cancel is honoured inside a frame's long phases, and progress keeps coming while objects are matted.

Measured before (bench/bench_cancel_latency.py): a Cancel waited for the whole of the phase under way, up to
7-8 s at 4K (one object's solve at high quality, or a frame's objects matted two at a time: the generator
waited for all of them without a word), and the host's bar sat still as long. Now the refiner's solves
(between their phases and their tiles), the foreground's levels and each object's carry / estimate / fuse
are checkpoints of the pipeline's cancel (``samatte.progress.checkpoint``), threads included, and a frame's
objects matted in threads name their phase again every ``HEARTBEAT_S``. The mechanisms are tested on a
small shot, the solves slowed down so a phase takes seconds; a cancelled frame is never written."""
import os
import threading
import time

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.errors import CancelledError
from samatte.matte import cfsolve, foreground
from samatte.matte import stage as mstage
from samatte.progress import CancelToken, Progress


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa165")
    return make_shot(str(d), frames=2, size=(160, 90))


def _job(shot, out, objects=1, quality="draft"):
    job = jobspec.new_job(shot["plate"], str(out / "m.####.exr"),
                          frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]),
                          tracker="flow", matte="refine", quality=quality)
    poly = shot["polygon"]
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], poly)])
    for i in range(1, objects):
        pts = [[x * 0.5 + 8 * i, y * 0.5 + 4] for x, y in poly]
        jobspec.add_object(job, "o%d" % i, [jobspec.polygon_prompt(shot["prompt_frame"], pts)])
    job["work_dir"] = str(out / "work")
    return job


class _Slow:
    """Wraps a function: each call sleeps ``pause`` s first and is counted; the first call of the first frame
    matted cancels the token (a Cancel pressed while that solve runs)."""

    def __init__(self, real, token, pause):
        self.real, self.token, self.pause = real, token, pause
        self.calls = 0
        self.after_cancel = 0
        self.cancelled_at = None
        self.lock = threading.Lock()

    def __call__(self, *a, **kw):
        with self.lock:
            self.calls += 1
            if self.cancelled_at is None:
                self.cancelled_at = time.monotonic()
                self.token.cancel()
            else:
                self.after_cancel += 1
        time.sleep(self.pause)
        return self.real(*a, **kw)


def _run_until_cancel(job, token):
    seen = []
    with pytest.raises(CancelledError):
        for p in pipeline.run_iter(job, cancel=token):
            if isinstance(p, Progress):
                seen.append(p.message)
    return seen, time.monotonic()


def _not_written(out):
    left = sorted(os.listdir(out)) if os.path.isdir(out) else []
    assert not [n for n in left if n.startswith("m.")], left   # no frame, whole or half, nor a temp file


@pytest.mark.parametrize("threads,inline", [(1, False), (1, True), (2, False)])
def test_a_cancel_during_an_objects_solve_stops_at_its_next_tile(shot, tmp_path, monkeypatch, threads, inline):
    monkeypatch.setattr(mstage, "OBJECT_THREADS", threads)
    if inline:   # (numba's workqueue layer: the object is matted in the pipeline's thread, as before)
        monkeypatch.setattr(mstage, "_NUMBA_THREADS", False)
    token = CancelToken()
    slow = _Slow(cfsolve.solve_crop, token, 0.3)
    monkeypatch.setattr(cfsolve, "solve_crop", slow)
    # one object at high quality (its refine runs twice: the second pass's solve came after the cancel), or two
    # objects at once (the other object's solve did)
    job = _job(shot, tmp_path / "o", objects=threads, quality="high" if threads == 1 else "draft")
    seen, end = _run_until_cancel(job, token)
    # before: the object's whole refine ran on (and the other object's), 0.3 s a solve and the rest of the
    # refine, and the cancel was seen at the next phase
    assert slow.after_cancel == 0, (slow.calls, seen[-3:])
    assert end - slow.cancelled_at < 1.0, end - slow.cancelled_at
    assert any("matte ball" in m for m in seen), seen
    assert not any(m.endswith(": foreground") for m in seen), seen
    _not_written(tmp_path / "o")


def test_a_cancel_during_the_foreground_stops_at_its_next_level(shot, tmp_path, monkeypatch):
    token = CancelToken()
    slow = _Slow(foreground._level_dense, token, 0.2)
    monkeypatch.setattr(foreground, "_level_dense", slow)
    seen, end = _run_until_cancel(_job(shot, tmp_path / "o"), token)
    assert any(m.endswith(": foreground") for m in seen), seen
    # before: every level of the pyramid (a dozen at this size), then the quality map, ran on
    assert slow.after_cancel == 0 and slow.calls == 1, slow.calls
    assert end - slow.cancelled_at < 1.0
    assert not any(m.endswith(": quality") for m in seen), seen
    _not_written(tmp_path / "o")


def test_a_cancel_during_the_objects_scores_stops_before_the_next_one_and_the_quality_map(shot, tmp_path,
                                                                                         monkeypatch):
    from samatte.matte import quality
    token = CancelToken()
    slow = _Slow(quality.object_geometry, token, 0.2)
    monkeypatch.setattr(quality, "object_geometry", slow)
    doubt = []
    monkeypatch.setattr(quality, "pixel_doubt", lambda *a, **kw: doubt.append(1))
    seen, end = _run_until_cancel(_job(shot, tmp_path / "o", objects=2), token)
    assert any(m.endswith(": foreground") for m in seen), seen
    # before: the other object's score and the frame's quality map were computed after the cancel
    assert slow.calls == 1 and not doubt, (slow.calls, doubt)
    _not_written(tmp_path / "o")


@pytest.mark.parametrize("objects,threads", [(2, 2), (1, None), (2, 1)])
def test_objects_matted_in_threads_name_their_phase_again_while_they_run(shot, tmp_path, monkeypatch, objects,
                                                                         threads):
    monkeypatch.setattr(mstage, "OBJECT_THREADS", threads)
    monkeypatch.setattr(mstage, "HEARTBEAT_S", 0.1)
    real = cfsolve.solve_crop

    def slow(*a, **kw):
        time.sleep(0.15)
        return real(*a, **kw)
    monkeypatch.setattr(cfsolve, "solve_crop", slow)
    job = _job(shot, tmp_path / "o", objects=objects)
    times, msgs, parts = [], [], []
    for p in pipeline.run_iter(job, frames=[shot["frames"][0]]):
        if isinstance(p, Progress) and p.stage == "matte":
            times.append(time.monotonic())
            msgs.append(p.message)
            parts.append(p.fraction)
    i0 = next(i for i, m in enumerate(msgs) if ": matte " in m)   # the first object's start
    i1 = next(i for i, m in enumerate(msgs) if m.endswith(": foreground"))
    gaps = np.diff(times[i0:i1 + 1])
    # before: each object's phase named once, nothing while it ran (the objects' whole solve); now named again
    # while they run (how often depends on how long each object's solves take: a small one may end before
    # its second heartbeat, so the count is over the objects, not the last one's)
    repeats = sum(1 for a, b in zip(msgs[i0:i1], msgs[i0 + 1:i1]) if a == b)
    assert repeats >= 1, msgs
    assert gaps.max() < 0.6, (gaps, msgs)
    assert parts == sorted(parts), parts       # a heartbeat never moves the bar back
    assert os.path.exists(str(tmp_path / "o" / ("m.%04d.exr" % shot["frames"][0])))


def test_a_heartbeat_changes_no_pixel(shot, tmp_path, monkeypatch):
    """Objects matted in threads with heartbeats every 10 ms (and cancel checkpoints, never cancelled) give
    the same pixels as one after another in the pipeline's thread with none (as before)."""
    from qa_cli import read_exr
    monkeypatch.setattr(mstage, "OBJECT_THREADS", 1)
    monkeypatch.setattr(mstage, "_NUMBA_THREADS", False)
    pipeline.run(_job(shot, tmp_path / "a", objects=2))
    monkeypatch.setattr(mstage, "_NUMBA_THREADS", None)
    monkeypatch.setattr(mstage, "OBJECT_THREADS", 2)
    monkeypatch.setattr(mstage, "HEARTBEAT_S", 0.01)
    pipeline.run(_job(shot, tmp_path / "b", objects=2), cancel=CancelToken())
    for f in shot["frames"]:
        na, pa, _ = read_exr(tmp_path / "a" / ("m.%04d.exr" % f))
        nb, pb, _ = read_exr(tmp_path / "b" / ("m.%04d.exr" % f))
        assert na == nb and np.array_equal(pa, pb)


def test_checkpoint_is_a_no_op_outside_a_cancel_scope_and_raises_inside_a_cancelled_one():
    from samatte.progress import cancel_scope, checkpoint
    token = CancelToken()
    token.cancel()
    checkpoint()                        # a script's Matter.step: nothing to cancel
    with cancel_scope(None):
        checkpoint()
    with cancel_scope(lambda: False):
        checkpoint()
    with cancel_scope(token):
        with pytest.raises(CancelledError):
            checkpoint()
    checkpoint()                        # the scope ends with its block
