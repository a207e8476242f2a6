"""Our streaming SAM2 path gives the same masks as upstream's ``init_state`` + ``propagate_in_video``.

SAM2.1-tiny with random weights (fixed seed): garbage masks, but deterministic, which is all an
equivalence check needs. Upstream's state is built the way upstream builds it (``init_state`` on a
folder of JPEGs), then its ``images`` are replaced by exactly the normalised tensor our lazy path
makes, so the comparison measures the tracking code, not JPEG compression. Upstream options are set
to match (``Sam2Tracker`` with ``UPSTREAM_COMPAT``). Tolerance: mask IoU >= 0.999 per object and
frame and max |logit difference| <= 1e-3 at canvas resolution (observed: identical, 0.0).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")
from PIL import Image  # noqa: E402

from samatte.stages import TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker, preprocess_display  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import UPSTREAM_COMPAT, SyntheticSource, obj, tiny_predictor  # noqa: E402

IOU_MIN = 0.999
LOGIT_TOL = 1e-3

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread


def _set_upstream_options(pred):
    pred.max_cond_frames_in_attn = -1
    pred.fill_hole_area = 0
    pred.clear_non_cond_mem_around_input = False
    pred.add_all_frames_to_correct_as_cond = True


def _upstream_state(pred, src, tmp_path):
    d = tmp_path / "jpg"
    d.mkdir()
    for i, f in enumerate(src.frames):
        Image.fromarray((src.get(f).display * 255).round().astype(np.uint8)).save(str(d / ("%d.jpg" % i)))
    st = pred.init_state(str(d))
    assert st["video_height"] == src.info.height and st["video_width"] == src.info.width
    st["images"] = torch.stack([preprocess_display(src.get(f).display, pred.image_size) for f in src.frames])
    st["cached_features"] = {}  # init_state cached frame 0's features from the JPEG
    return st


def _collect(gen, names, out=None):
    out = {} if out is None else out
    for fidx, obj_ids, masks in gen:
        out[fidx] = {names[o]: masks[k, 0].float().numpy().copy() for k, o in enumerate(obj_ids)}
    return out


def _ours(pred, src, objects, options=UPSTREAM_COMPAT):
    tr = Sam2Tracker(predictor=pred, options=options)
    return [ev for ev in tr.track(src, objects, src.frames) if isinstance(ev, TrackFrame)], tr


def _compare(ours, ref, src):
    H, W = src.info.shape
    assert sorted(tf.frame for tf in ours) == list(src.frames)
    worst_iou, worst_diff = 1.0, 0.0
    for tf in ours:
        idx = src.frames.index(tf.frame)
        assert set(tf.objects) == set(ref[idx])
        for name, ot in tf.objects.items():
            up = ref[idx][name]
            up_mask = up > 0
            inter = np.logical_and(ot.mask, up_mask).sum()
            union = np.logical_or(ot.mask, up_mask).sum()
            iou = 1.0 if union == 0 else inter / union
            lt = torch.nn.functional.interpolate(torch.from_numpy(ot.logits)[None, None], size=(H, W),
                                                 mode="bilinear", align_corners=False)[0, 0].numpy()
            diff = float(np.abs(lt - up).max())
            worst_iou, worst_diff = min(worst_iou, iou), max(worst_diff, diff)
            assert ot.mask.shape == (H, W) and ot.mask.dtype == bool
            assert ot.logits.dtype == np.float32
    print("equivalence: worst IoU %.6f, worst |logit diff| %.3g" % (worst_iou, worst_diff))
    assert worst_iou >= IOU_MIN, worst_iou
    assert worst_diff <= LOGIT_TOL, worst_diff
    return worst_iou, worst_diff


def test_forward_mask_prompt_matches_upstream(tmp_path):
    pred = tiny_predictor(256)
    src = SyntheticSource(range(1001, 1005))
    objects = [obj("hero", {1001: [{"type": "mask", "mask_array": src.mask(1001)}]})]
    ours, _ = _ours(pred, src, objects)
    assert [tf.frame for tf in ours] == [1001, 1002, 1003, 1004]
    _set_upstream_options(pred)
    st = _upstream_state(pred, src, tmp_path)
    pred.add_new_mask(st, 0, 0, src.mask(1001))
    ref = _collect(pred.propagate_in_video(st), {0: "hero"})
    _compare(ours, ref, src)


def test_mid_keyframe_forward_then_backward_matches_upstream(tmp_path):
    """Prompt in the middle: upstream propagates forward, then in reverse on the same state (the
    reverse pass attends to forward-pass memories next to the keyframe, which we must keep)."""
    pred = tiny_predictor(256)
    src = SyntheticSource([2001, 2002, 2003, 2004, 2005])
    pts = [{"type": "points", "points": [[40.0, 50.0], [100.0, 20.0]], "labels": [1, 0]}]
    objects = [obj("hero", {2003: pts})]
    ours, _ = _ours(pred, src, objects)
    assert [tf.frame for tf in ours] == [2003, 2004, 2005, 2002, 2001]
    assert [tf.ref for tf in ours] == [None, 2003, 2004, 2003, 2002]
    _set_upstream_options(pred)
    st = _upstream_state(pred, src, tmp_path)
    pred.add_new_points_or_box(st, 2, 0, points=np.array(pts[0]["points"], np.float32),
                               labels=np.array(pts[0]["labels"], np.int32))
    ref = _collect(pred.propagate_in_video(st), {0: "hero"})
    ref = _collect(pred.propagate_in_video(st, reverse=True), {0: "hero"}, ref)
    _compare(ours, ref, src)


def test_two_objects_on_different_frames_match_upstream(tmp_path):
    pred = tiny_predictor(256)
    src = SyntheticSource(range(11, 15))
    objects = [obj("disc", {11: [{"type": "mask", "mask_array": src.mask(11)}]}),
               obj("corner", {12: [{"type": "box", "box": [5.0, 5.0, 40.0, 30.0]}]})]
    ours, _ = _ours(pred, src, objects)
    _set_upstream_options(pred)
    st = _upstream_state(pred, src, tmp_path)
    pred.add_new_mask(st, 0, 0, src.mask(11))
    pred.add_new_points_or_box(st, 1, 1, box=[5.0, 5.0, 40.0, 30.0])
    ref = _collect(pred.propagate_in_video(st), {0: "disc", 1: "corner"})
    _compare(ours, ref, src)
    assert ours[0].objects["disc"].keyframe and not ours[0].objects["corner"].keyframe
    assert ours[1].objects["corner"].keyframe


def test_correction_sticks_like_upstream_refinement(tmp_path):
    """A points-only prompt after the first keyframe refines the tracked mask and becomes a
    conditioning frame -- the same as upstream's interactive flow: propagate, click on the tracked
    frame (add_all_frames_to_correct_as_cond), propagate again from there."""
    pred = tiny_predictor(256)
    src = SyntheticSource(range(101, 105))
    click = {"type": "points", "points": [[30.0, 60.0]], "labels": [0]}
    objects = [obj("hero", {101: [{"type": "mask", "mask_array": src.mask(101)}], 103: [click]})]
    ours, tr = _ours(pred, src, objects, dict(UPSTREAM_COMPAT, refine_points=True))
    assert [tf.objects["hero"].keyframe for tf in ours] == [True, False, True, False]
    assert ours[2].ref is None
    _set_upstream_options(pred)
    st = _upstream_state(pred, src, tmp_path)
    pred.add_new_mask(st, 0, 0, src.mask(101))
    ref = _collect(pred.propagate_in_video(st), {0: "hero"})
    before = ref[2]["hero"].copy()
    pred.add_new_points_or_box(st, 2, 0, points=np.array(click["points"], np.float32),
                               labels=np.array(click["labels"], np.int32), clear_old_points=True)
    ref = _collect(pred.propagate_in_video(st, start_frame_idx=2), {0: "hero"}, ref)
    assert np.abs(ref[2]["hero"] - before).max() > 0  # the click changed upstream's frame
    _compare(ours, ref, src)


def test_pruned_state_matches_upstream_over_a_longer_shot(tmp_path):
    """A small memory window (num_maskmem 3, 4 object pointers) so a 10-frame shot exercises pruning
    in both directions; upstream keeps everything."""
    from sam2.build_sam import build_sam2_video_predictor
    torch.manual_seed(1)
    pred = build_sam2_video_predictor(
        "configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu",
        hydra_overrides_extra=["++model.image_size=128", "++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4"])
    src = SyntheticSource(range(1, 11))
    objects = [obj("hero", {5: [{"type": "mask", "mask_array": src.mask(5)}]})]
    ours, tr = _ours(pred, src, objects)
    assert tr.stats["window"] == 4
    assert tr.stats["max_non_cond"] <= tr.stats["window"] + 1  # bounded, and pruning did happen
    _set_upstream_options(pred)
    st = _upstream_state(pred, src, tmp_path)
    pred.add_new_mask(st, 4, 0, src.mask(5))
    ref = _collect(pred.propagate_in_video(st), {0: "hero"})
    ref = _collect(pred.propagate_in_video(st, reverse=True), {0: "hero"}, ref)
    assert len(st["output_dict_per_obj"][0]["non_cond_frame_outputs"]) == 9  # upstream keeps all
    _compare(ours, ref, src)
