"""Sam2Tracker behaviour beyond upstream equivalence: frame numbering, order, refs, progress, cancel,
prompt handling, bounded state. SAM2.1-tiny, random weights, 128 px (fast on CPU)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.errors import CancelledError, JobSpecError, PromptError  # noqa: E402
from samatte.progress import CancelToken, Progress  # noqa: E402
from samatte.stages import TrackFrame  # noqa: E402
from samatte.track.sam2_backend import (FrameTensorCache, Sam2Tracker, _fill_holes,  # noqa: E402
                                        preprocess_display)
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import SyntheticSource, obj  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread
pred = test_sam2_fakes.pred  # SAM2.1-tiny, random weights, 128 px


def _mask_prompt(src, frame):
    return [{"type": "mask", "mask_array": src.mask(frame)}]


def test_frames_with_gaps_order_refs_progress(pred):
    src = SyntheticSource([1, 2, 5, 6, 9])
    tr = Sam2Tracker(predictor=pred)
    events = list(tr.track(src, [obj("hero", {5: _mask_prompt(src, 5)})], src.frames))
    tfs = [e for e in events if isinstance(e, TrackFrame)]
    assert [tf.frame for tf in tfs] == [5, 6, 9, 2, 1]
    assert [tf.ref for tf in tfs] == [None, 5, 6, 5, 2]
    assert src.prefetched[-5:] == [5, 6, 9, 2, 1]
    prog = [e for e in events if isinstance(e, Progress) and e.frame is not None]
    assert [p.done for p in prog] == [1, 2, 3, 4, 5] and all(p.total == 5 and p.stage == "track" for p in prog)
    # Progress comes between frames, after each TrackFrame
    kinds = [type(e).__name__ for e in events if not (isinstance(e, Progress) and e.frame is None)]
    assert kinds == ["TrackFrame", "Progress"] * 5
    for tf in tfs:
        ot = tf.objects["hero"]
        assert ot.mask.shape == (96, 128) and ot.mask.dtype == bool
        assert ot.logits.shape == (32, 32) and ot.logits.dtype == np.float32
        assert 0.0 <= ot.score <= 1.0
        assert ot.keyframe == (tf.frame == 5)
    # the mask prompt's own frame: the keyframe wins (its mask is close to the prompt)
    m = tfs[0].objects["hero"].mask
    gt = src.mask(5)
    assert (m & gt).sum() / (m | gt).sum() > 0.7
    # lazy: each frame read about once (the keyframe twice at most), never the whole shot at once
    assert len(src.gets) <= len(src.frames) + 1
    assert tr.stats["max_images"] <= 2


def test_cancel_between_frames(pred):
    src = SyntheticSource(range(1, 6))
    token = CancelToken()
    tr = Sam2Tracker(predictor=pred)
    gen = tr.track(src, [obj("hero", {1: _mask_prompt(src, 1)})], src.frames, cancel=token)
    got = []
    with pytest.raises(CancelledError):
        for ev in gen:
            if isinstance(ev, TrackFrame):
                got.append(ev.frame)
                token.cancel()
    assert got == [1]


def test_keyframe_output_does_not_depend_on_other_keyframes(pred):
    """A later mask keyframe is an initial conditioning frame: its output is the prompt's own, and
    propagation never overwrites it."""
    src = SyntheticSource(range(1, 6))
    both = {1: _mask_prompt(src, 1), 4: _mask_prompt(src, 4)}
    tr = Sam2Tracker(predictor=pred)
    a = {tf.frame: tf for tf in tr.track(src, [obj("o", both)], src.frames) if isinstance(tf, TrackFrame)}
    b = {tf.frame: tf for tf in tr.track(src, [obj("o", {4: _mask_prompt(src, 4)})], src.frames)
         if isinstance(tf, TrackFrame)}
    np.testing.assert_array_equal(a[4].objects["o"].logits, b[4].objects["o"].logits)
    assert a[4].ref is None and a[4].objects["o"].keyframe
    assert a[5].ref == 4
    # frames after the second keyframe differ from a run that only knows the first one
    c = {tf.frame: tf for tf in tr.track(src, [obj("o", {1: _mask_prompt(src, 1)})], src.frames)
         if isinstance(tf, TrackFrame)}
    assert not np.array_equal(a[5].objects["o"].logits, c[5].objects["o"].logits)


def test_prompt_validation(pred):
    src = SyntheticSource(range(1, 4))
    tr = Sam2Tracker(predictor=pred)
    with pytest.raises(PromptError):
        list(tr.track(src, [obj("o", {7: _mask_prompt(src, 1)})], src.frames))
    with pytest.raises(PromptError):
        list(tr.track(src, [], src.frames))
    with pytest.raises(PromptError):
        list(tr.track(src, [obj("o", {1: _mask_prompt(src, 1)}), obj("o", {2: _mask_prompt(src, 2)})], src.frames))
    with pytest.raises(PromptError):
        list(tr.track(src, [obj("o", {1: [{"type": "mask", "mask_array": np.zeros((5, 5), bool)}]})], src.frames))
    with pytest.raises(PromptError):
        list(tr.track(src, [obj("o", {1: [{"type": "mask", "mask_array": np.zeros((96, 128), bool)}]})],
                      src.frames))
    # options written for another backend ("auto") are ignored, not fatal
    assert "warp_speed" not in Sam2Tracker(predictor=pred, options={"warp_speed": True}).options
    assert Sam2Tracker(predictor=pred, options={"max_cond_frames": -1}).options["max_cond_frames"] == -1
    with pytest.raises(JobSpecError):
        Sam2Tracker(predictor=pred, options={"max_cond_frames": 1})
    with pytest.raises(JobSpecError):
        Sam2Tracker(predictor=pred, options={"refine_points": "yes"})


def test_prompt_kinds_combine(pred):
    """Polygon (mask_array) + points on one frame, several boxes on another, corrections."""
    src = SyntheticSource(range(1, 5))
    poly = {"type": "polygon", "points": [[1, 1], [50, 1], [50, 40]], "mask_array": src.mask(1)}
    tr = Sam2Tracker(predictor=pred)
    objs = [obj("a", {1: [poly, {"type": "points", "points": [[60, 40]], "labels": [1]}],
                      3: [{"type": "points", "points": [[20, 20]], "labels": [0]}]}),
            obj("b", {2: [{"type": "box", "box": [10, 10, 30, 30]}, {"type": "box", "box": [20, 5, 60, 25]}]})]
    tfs = [e for e in tr.track(src, objs, src.frames) if isinstance(e, TrackFrame)]
    assert [tf.frame for tf in tfs] == [1, 2, 3, 4]
    assert [tf.objects["a"].keyframe for tf in tfs] == [True, False, True, False]
    assert [tf.objects["b"].keyframe for tf in tfs] == [False, True, False, False]
    assert [tf.ref for tf in tfs] == [None, None, None, 3]


def test_prune_keeps_window_and_backward_context(pred):
    tr = Sam2Tracker(predictor=pred)
    tr.load()
    w = tr.memory_window()
    assert w == 16  # max_obj_ptrs_in_encoder of SAM2.1; maskmem reach is 6
    st = {"output_dict_per_obj": {0: {"cond_frame_outputs": {5: {}}, "non_cond_frame_outputs":
                                      {t: {} for t in range(5, 41)}}},
          "frames_tracked_per_obj": {0: {}}, "images": FrameTensorCache(None, [], 64)}
    tr.stats = {}
    tr._prune(st, 40, False, 5)  # forward pass at 40, first keyframe at 5, a backward pass will follow
    kept = sorted(st["output_dict_per_obj"][0]["non_cond_frame_outputs"])
    assert kept == list(range(5, 5 + w)) + list(range(40 - w, 41))
    assert st["output_dict_per_obj"][0]["cond_frame_outputs"] == {5: {}}
    tr._prune(st, 3, True, 5)  # backward pass at 3: forward context near 5 still reachable
    kept = sorted(st["output_dict_per_obj"][0]["non_cond_frame_outputs"])
    assert kept == list(range(5, 3 + w + 1))


def test_frame_cache_and_preprocess():
    src = SyntheticSource(range(1, 6), width=40, height=30)
    cache = FrameTensorCache(src, src.frames, 64, capacity=2)
    assert len(cache) == 5
    a = cache[0]
    assert tuple(a.shape) == (3, 64, 64) and a.dtype == torch.float32
    cache[1]
    cache[0]
    cache[2]  # evicts 1
    assert sorted(cache._cache) == [0, 2] and cache.loads == 3
    grey = np.empty((10, 20, 3), np.float32)
    grey[:] = (0.485, 0.456, 0.406)
    assert float(preprocess_display(grey, 32).abs().max()) < 1e-6
    white = np.ones((10, 20, 3), np.float32)
    np.testing.assert_allclose(preprocess_display(white, 32)[:, 5, 5].numpy(),
                               (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]), rtol=1e-5)


def test_fill_holes():
    lg = np.full((20, 20), 5.0, np.float32)
    lg[0:8, 0:8] = -5  # 64 px background: not a hole
    lg[12:14, 12:14] = -5  # 4 px hole
    out = _fill_holes(lg, 8)
    assert (out[12:14, 12:14] > 0).all() and (out[0:8, 0:8] < 0).all()
    assert out is not lg and (lg[12:14, 12:14] < 0).all()


def test_loads_a_checkpoint_file_safely(tmp_path):
    """The real loading path: build from the registry config, torch.load(weights_only=True), strict
    state dict; results equal those of the same weights handed in directly. A corrupt file raises
    WeightsCorruptError when the model loads."""
    from samatte.errors import WeightsCorruptError
    from samatte.track.sam2_backend import build_predictor
    torch.manual_seed(3)
    ref = build_predictor("sam2.1_hiera_tiny", device="cpu", image_size=128, random_init=True)
    ckpt = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": ref.state_dict()}, str(ckpt))
    src = SyntheticSource(range(1, 3))
    objects = [obj("o", {1: _mask_prompt(src, 1)})]
    a = [e for e in Sam2Tracker(predictor=ref).track(src, objects, src.frames) if isinstance(e, TrackFrame)]
    tr = Sam2Tracker("tiny", checkpoint=ckpt, device="cpu", options={"image_size": 128})
    events = list(tr.track(src, objects, src.frames))
    assert isinstance(events[0], Progress) and "loading" in events[0].message
    b = [e for e in events if isinstance(e, TrackFrame)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.objects["o"].logits, y.objects["o"].logits)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(ckpt.read_bytes()[: 1 << 20])
    with pytest.raises(WeightsCorruptError):
        list(Sam2Tracker("tiny", checkpoint=bad, device="cpu", options={"image_size": 128}).track(
            src, objects, src.frames))
