"""FlowTracker on small synthetic clips: forward/backward, correction keyframes, objects, cancel, gaps."""
import numpy as np
import pytest

from samatte.errors import CancelledError, PromptError
from samatte.progress import CancelToken, Progress
from samatte.stages import ObjectTrack, TrackerObject, TrackFrame
from samatte.track.flow import FlowTracker

from track_clips import iou, mask_object, moving_squares, run

FRAMES = list(range(1001, 1010))


@pytest.fixture(scope="module")
def clip():
    return moving_squares(FRAMES)


def test_forward_and_backward_from_a_middle_keyframe(clip):
    src, truth = clip
    k = 1005
    out, order = run(FlowTracker(), src, [mask_object("sq", {k: truth[k][0]})], FRAMES)
    assert sorted(order) == FRAMES and order == FRAMES  # one TrackFrame per frame, ascending
    for f in FRAMES:
        tf = out[f]
        assert isinstance(tf, TrackFrame) and set(tf.objects) == {"sq"}
        ot = tf.objects["sq"]
        assert isinstance(ot, ObjectTrack)
        assert ot.mask.dtype == bool and ot.mask.shape == (96, 96)
        assert ot.logits.dtype == np.float32 and ot.logits.ndim == 2
        assert 0.0 <= ot.score <= 1.0
        assert ot.keyframe == (f == k)
        assert ot.edge == "rough"  # the artist's shape carried by flow: the matte may reach past it
        assert iou(ot.mask, truth[f][0]) > 0.9, (f, iou(ot.mask, truth[f][0]))
        # logits are positive inside, negative well outside
        assert ot.logits[truth[f][0]].mean() > 0 > ot.logits[~truth[f][0]].mean()
    assert out[k].ref is None and out[1006].ref == 1005 and out[1001].ref is None
    assert np.array_equal(out[k].objects["sq"].mask, truth[k][0])  # the prompt itself on its keyframe


def test_correction_keyframe_sticks(clip):
    src, truth = clip
    wrong = np.zeros((96, 96), bool)
    wrong[60:84, 62:86] = True  # the artist first picked a static patch of background
    only_wrong, _ = run(FlowTracker(), src, [mask_object("sq", {1001: wrong})], FRAMES)
    fixed, _ = run(FlowTracker(), src, [mask_object("sq", {1001: wrong, 1007: truth[1007][0]})], FRAMES)
    for f in (1006, 1007, 1008, 1009):
        assert iou(only_wrong[f].objects["sq"].mask, truth[f][0]) < 0.2
        assert iou(fixed[f].objects["sq"].mask, truth[f][0]) > 0.85, f
    # frames nearer the first keyframe still follow it (the correction is blended by distance)
    assert iou(fixed[1002].objects["sq"].mask, only_wrong[1002].objects["sq"].mask) > 0.6
    assert iou(fixed[1002].objects["sq"].mask, truth[1002][0]) < 0.3
    assert fixed[1007].ref is None and fixed[1007].objects["sq"].keyframe


def test_two_objects_do_not_overlap():
    src, truth = moving_squares(FRAMES, squares=((8, 10, 24, 3.0, 1.0), (60, 56, 22, -3.0, -2.0)), seed=3)
    objs = [mask_object("a", {1001: truth[1001][0]}), mask_object("b", {1001: truth[1001][1]})]
    out, _ = run(FlowTracker(), src, objs, FRAMES)
    for f in FRAMES:
        a, b = out[f].objects["a"].mask, out[f].objects["b"].mask
        assert not (a & b).any()
        assert iou(a, truth[f][0]) > 0.85 and iou(b, truth[f][1]) > 0.85, f


def test_cancel_between_frames(clip):
    src, truth = clip
    tok = CancelToken()
    gen = FlowTracker().track(src, [mask_object("sq", {1001: truth[1001][0]})], FRAMES, cancel=tok)
    seen = 0
    with pytest.raises(CancelledError):
        for item in gen:
            if isinstance(item, Progress):
                seen += 1
                assert item.stage == "track" and item.total > 0
                if seen == 3:
                    tok.cancel()
    assert seen == 3


def test_frames_with_gaps():
    frames = list(range(1001, 1019, 2))  # 1001-1017x2: the square moves 5 px per listed step
    src, truth = moving_squares(frames, squares=((10, 12, 26, 2.5, 1.5),), seed=1)
    out, order = run(FlowTracker(), src, [mask_object("sq", {1009: truth[1009][0]})], frames)
    assert order == frames
    for f in frames:
        assert iou(out[f].objects["sq"].mask, truth[f][0]) > 0.85, f
    assert out[1011].ref == 1009


def test_box_prompt_and_progress_totals(clip):
    src, truth = clip
    ys, xs = np.nonzero(truth[1001][0])
    ob = TrackerObject("sq", {1001: [{"frame": 1001, "type": "box",
                                      "box": [xs.min() - 2.0, ys.min() - 2.0, xs.max() + 3.0, ys.max() + 3.0]}]})
    items = list(FlowTracker().track(src, [ob], FRAMES))
    prog = [i for i in items if isinstance(i, Progress)]
    assert prog[-1].done == prog[-1].total and all(p.done <= p.total for p in prog)
    frames = {i.frame: i for i in items if isinstance(i, TrackFrame)}
    assert iou(frames[1001].objects["sq"].mask, truth[1001][0]) > 0.8  # grabCut inside the box
    assert iou(frames[1009].objects["sq"].mask, truth[1009][0]) > 0.75


def test_prompt_outside_frames_is_an_error(clip):
    src, truth = clip
    with pytest.raises(PromptError):
        list(FlowTracker().track(src, [mask_object("sq", {999: truth[1001][0]})], FRAMES))


def test_disk_backed_store_matches_ram(clip, tmp_path):
    src, truth = clip
    objs = [mask_object("sq", {1005: truth[1005][0]})]
    ram, _ = run(FlowTracker(), src, objs, FRAMES)
    disk, _ = run(FlowTracker(options={"ram_mb": 0, "work_dir": str(tmp_path)}), src, objs, FRAMES)
    for f in FRAMES:
        assert np.array_equal(ram[f].objects["sq"].mask, disk[f].objects["sq"].mask)
    assert list(tmp_path.iterdir()) == []  # the temporary folder is removed


def test_jobspec_polygon_prompt_through_prepare_objects_with_overscan():
    from samatte import jobspec
    from samatte.prompts import prepare_objects
    from samatte.stages import PlateInfo, Window
    src, truth = moving_squares(FRAMES, size=112, squares=((30, 26, 26, 3.0, 2.0),))
    # the plate has 8 px of overscan on every side: display (0, 0) is canvas (8, 8)
    src.info = PlateInfo(data=Window(-8, -8, 112, 112), display=Window(0, 0, 96, 96))
    x0, y0 = 30 - 8, 26 - 8
    poly = [[x0, y0], [x0 + 26, y0], [x0 + 26, y0 + 26], [x0, y0 + 26]]
    objs = prepare_objects([{"name": "sq", "prompts": [jobspec.polygon_prompt(1001, poly)]}], src.info, FRAMES)
    assert np.array_equal(objs[0].prompts[1001][0]["mask_array"], truth[1001][0])
    out, _ = run(FlowTracker(), src, objs, FRAMES)
    for f in FRAMES:
        assert iou(out[f].objects["sq"].mask, truth[f][0]) > 0.85, f


def test_keyframe_on_every_frame_spills_to_disk(clip, tmp_path):
    src, truth = clip
    objs = [mask_object("sq", {f: truth[f][0] for f in FRAMES})]
    out, _ = run(FlowTracker(options={"ram_mb": 0, "work_dir": str(tmp_path)}), src, objs, FRAMES)
    for f in FRAMES:  # roto on every frame comes back exactly
        assert np.array_equal(out[f].objects["sq"].mask, truth[f][0]) and out[f].objects["sq"].keyframe
    assert list(tmp_path.iterdir()) == []
