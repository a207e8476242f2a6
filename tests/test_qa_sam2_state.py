"""QA of the SAM 2 tracker over a host's session (SAM2.1-tiny, random weights, 128 px, tiny frames).

* One ``Sam2Tracker`` (what the worker keeps warm) runs job after job: a 3-object job with prompts on
  both sides and corrections, then a 1-object job on another plate size and frame range prompted on
  its last frame only, then the first again, also after a cancelled job and a job that failed: every
  track must be byte-identical to the same job on a fresh tracker, and a cancelled job leaves no
  inference state alive (on a GPU it would hold the memory until Python's cycle collector ran).
* Both directions and corrections against upstream's ``SAM2VideoPredictor`` on the same frames and
  weights (the harness of tests/test_sam2_equivalence.py): a prompt on the last frame only, several
  keyframes of one object, a negative click on a frame the backward pass reaches, a keyframe with a
  mask and a click plus two corrections before it.
* ``release``: the worker gives the freed host memory back to the OS (it kept it in malloc's heap).
"""
import gc
import io
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.errors import CancelledError, PromptError  # noqa: E402
from samatte.progress import CancelToken  # noqa: E402
from samatte.stages import TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import UPSTREAM_COMPAT, SyntheticSource, obj  # noqa: E402
from test_sam2_equivalence import _collect, _compare, _ours, _set_upstream_options, _upstream_state  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread
pred = test_sam2_fakes.pred  # SAM2.1-tiny, random weights, 128 px


def _pts(xy, labels):
    return {"type": "points", "points": [list(p) for p in xy], "labels": list(labels)}


def _job_a():
    """3 objects: a mask keyframe mid-shot with a negative click after it and a positive one before it,
    a box object with two keyframes, a clicks-seeded object on the middle frame."""
    src = SyntheticSource(range(1001, 1007), 128, 96)
    return src, [
        obj("hero", {1004: [{"type": "mask", "mask_array": src.mask(1004)}],
                     1005: [_pts([(30.0, 60.0)], [0])], 1002: [_pts([(50.0, 40.0)], [1])]}),
        obj("crate", {1005: [{"type": "box", "box": [5.0, 5.0, 40.0, 30.0]}],
                      1006: [{"type": "box", "box": [10.0, 5.0, 50.0, 40.0]}]}),
        obj("dot", {1003: [_pts([(90.0, 70.0), (10.0, 10.0)], [1, 0])]})]


def _job_b():
    """1 object, another plate size and frame range, prompted on its last frame only."""
    src = SyntheticSource(range(51, 55), 96, 64)
    return src, [obj("solo", {54: [{"type": "box", "box": [20.0, 10.0, 70.0, 50.0]}]})]


def _run(tracker, job, *, cancel_after=None):
    src, objects = job()
    token = CancelToken()
    out = {}
    for ev in tracker.track(src, objects, src.frames, cancel=token):
        if isinstance(ev, TrackFrame):
            out[ev.frame] = (ev.ref, {n: (o.logits.copy(), o.mask.copy(), o.score, o.keyframe)
                                      for n, o in ev.objects.items()})
            if cancel_after is not None and len(out) >= cancel_after:
                token.cancel()
    return out


def _assert_same(got, want):
    assert sorted(got) == sorted(want)
    for f in want:
        assert got[f][0] == want[f][0], f
        assert sorted(got[f][1]) == sorted(want[f][1])
        for name, (logits, mask, score, key) in want[f][1].items():
            g = got[f][1][name]
            assert g[0].tobytes() == logits.tobytes(), (f, name)
            assert np.array_equal(g[1], mask) and g[2] == score and g[3] == key, (f, name)


def _live_states():
    return sum(1 for o in gc.get_objects() if type(o) is dict and "output_dict_per_obj" in o)


def test_warm_tracker_jobs_equal_fresh_ones(pred):
    fresh_a = _run(Sam2Tracker(predictor=pred), _job_a)
    fresh_b = _run(Sam2Tracker(predictor=pred), _job_b)
    assert sorted(fresh_b) == [51, 52, 53, 54] and fresh_b[54][1]["solo"][3]
    warm = Sam2Tracker(predictor=pred)
    _assert_same(_run(warm, _job_a), fresh_a)
    _assert_same(_run(warm, _job_b), fresh_b)
    _assert_same(_run(warm, _job_a), fresh_a)
    # a job cancelled mid-propagation: no state is left behind, the next jobs are unchanged
    with pytest.raises(CancelledError):
        _run(warm, _job_a, cancel_after=3)
    assert _live_states() == 0   # without a gc.collect(): nothing keeps a cancelled job's state alive

    # a job that fails (a prompt outside the frames tracked, a subtract shape removing the whole object)
    def bad_frame():
        src = SyntheticSource(range(1, 4), 64, 48)
        return src, [obj("x", {9: [{"type": "box", "box": [0.0, 0.0, 5.0, 5.0]}]})]

    def bad_subtract():
        src = SyntheticSource(range(1, 4), 64, 48)
        return src, [obj("x", {2: [_pts([(20.0, 20.0)], [1]),
                                   {"type": "box", "box": [0.0, 0.0, 64.0, 48.0], "mode": "subtract"}]})]
    for bad in (bad_frame, bad_subtract):
        with pytest.raises(PromptError):
            _run(warm, bad)
    _assert_same(_run(warm, _job_b), fresh_b)
    _assert_same(_run(warm, _job_a), fresh_a)
    assert _live_states() == 0


# -- both directions and corrections against upstream's predictor ----------------------------------------

def _upstream(pred, src, tmp_path):
    _set_upstream_options(pred)
    return _upstream_state(pred, src, tmp_path)


def test_last_frame_prompt_matches_upstream(pred, tmp_path):
    src = SyntheticSource(range(1, 6))
    ours, _ = _ours(pred, src, [obj("h", {5: [{"type": "mask", "mask_array": src.mask(5)}]})])
    assert [tf.frame for tf in ours] == [5, 4, 3, 2, 1] and [tf.ref for tf in ours] == [None, 5, 4, 3, 2]
    st = _upstream(pred, src, tmp_path)
    pred.add_new_mask(st, 4, 0, src.mask(5))
    ref = _collect(pred.propagate_in_video(st), {0: "h"})
    ref = _collect(pred.propagate_in_video(st, reverse=True), {0: "h"}, ref)
    _compare(ours, ref, src)


def test_several_keyframes_match_upstream(pred, tmp_path):
    src = SyntheticSource(range(1, 9))
    box = [10.0, 10.0, 60.0, 50.0]
    ours, _ = _ours(pred, src, [obj("h", {3: [{"type": "mask", "mask_array": src.mask(3)}],
                                          6: [{"type": "box", "box": box}],
                                          8: [{"type": "mask", "mask_array": src.mask(8)}]})])
    assert [tf.frame for tf in ours] == [3, 4, 5, 6, 7, 8, 2, 1]
    st = _upstream(pred, src, tmp_path)
    pred.add_new_mask(st, 2, 0, src.mask(3))
    pred.add_new_points_or_box(st, 5, 0, box=box)
    pred.add_new_mask(st, 7, 0, src.mask(8))
    ref = _collect(pred.propagate_in_video(st), {0: "h"})
    ref = _collect(pred.propagate_in_video(st, reverse=True), {0: "h"}, ref)
    _compare(ours, ref, src)


def _click(st, pred, idx, p):
    pred.add_new_points_or_box(st, idx, 0, points=np.array(p["points"], np.float32),
                               labels=np.array(p["labels"], np.int32), clear_old_points=True)


def test_backward_corrections_match_upstream_refinement(pred, tmp_path):
    """A keyframe with a mask and a negative click, then a negative and a positive correction on frames the
    backward pass reaches: upstream's interactive flow (propagate both ways, click on a tracked frame,
    propagate backward again from it)."""
    src = SyntheticSource(range(1, 8))
    key_click, neg, pos = _pts([(60.0, 40.0)], [0]), _pts([(30.0, 60.0)], [0]), _pts([(20.0, 20.0)], [1])
    objects = [obj("h", {5: [{"type": "mask", "mask_array": src.mask(5)}, key_click], 3: [neg], 2: [pos]})]
    ours, _ = _ours(pred, src, objects, dict(UPSTREAM_COMPAT, refine_points=True))
    assert [tf.frame for tf in ours] == [5, 6, 7, 4, 3, 2, 1]
    assert [tf.objects["h"].keyframe for tf in ours] == [True, False, False, False, True, True, False]
    st = _upstream(pred, src, tmp_path)
    pred.add_new_mask(st, 4, 0, src.mask(5))
    _click(st, pred, 4, key_click)
    ref = _collect(pred.propagate_in_video(st), {0: "h"})
    ref = _collect(pred.propagate_in_video(st, reverse=True), {0: "h"}, ref)
    before = ref[2]["h"].copy()
    _click(st, pred, 2, neg)
    ref = _collect(pred.propagate_in_video(st, start_frame_idx=2, reverse=True), {0: "h"}, ref)
    assert np.abs(ref[2]["h"] - before).max() > 0   # the click changed upstream's frame
    _click(st, pred, 1, pos)
    ref = _collect(pred.propagate_in_video(st, start_frame_idx=1, reverse=True), {0: "h"}, ref)
    _compare(ours, ref, src)


# -- release gives the host memory back ----------------------------------------------------------------------

def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2 ** 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc, glibc's malloc_trim")
def test_release_returns_freed_memory_to_the_os():
    """Freed tensors of a dropped model stay in malloc's heap (glibc trims only its top): on Linux a
    released worker kept ~200 MB of what a SAM2.1-tiny job had added (540 MB, 334 MB once trimmed).
    Here 150 MB of 100 KB blocks freed below live ones stand for them."""
    import ctypes
    try:
        ctypes.CDLL(None).malloc_trim
    except AttributeError:
        pytest.skip("no malloc_trim (not glibc)")
    from samatte.worker import Worker
    worker = Worker(io.BytesIO(), io.BytesIO())
    blocks = [bytearray(100 * 1024) for _ in range(1500)]   # touched (zeroed): resident
    pins = blocks[::50]                                        # live blocks keep the heap from shrinking
    before = _rss_mb()
    del blocks
    freed = _rss_mb()
    worker.release()
    after = _rss_mb()
    del pins
    assert freed > before - 50, (before, freed)   # free() alone kept most of it
    assert after < freed - 100, (before, freed, after)
