"""Points and subtract shapes on frames without a shape are corrections (hints), not new shapes
(issue 10 item 4): in the flow and shape trackers, in seed.apply_hints, and on the demo shot."""
import math

import numpy as np
import pytest

from samatte.errors import PromptError
from samatte.stages import TrackerObject
from samatte.track.flow import FlowTracker
from samatte.track.seed import apply_hints, keyframe_soft, object_roles, to_u8
from samatte.track.shapes import ShapeTracker

from track_clips import iou, mask_object, moving_squares, run

FRAMES = list(range(1001, 1010))


@pytest.fixture(scope="module")
def clip():
    return moving_squares(FRAMES)


def _centre(m):
    ys, xs = np.nonzero(m)
    return [float(xs.mean()) + 0.5, float(ys.mean()) + 0.5]


def _with_points(ob, points_by_frame, labels=None):
    prompts = {f: list(ps) for f, ps in ob.prompts.items()}
    for f, pts in points_by_frame.items():
        prompts.setdefault(f, []).append({"frame": f, "type": "points", "points": pts,
                                          "labels": labels or [1] * len(pts)})
    return TrackerObject(ob.name, prompts)


def test_roles_shape_keyframes_and_hints():
    sq = np.zeros((8, 8), bool)
    sq[2:5, 2:5] = True
    ob = _with_points(mask_object("o", {3: sq}), {1: [[3.0, 3.0]], 3: [[3.0, 3.0]], 5: [[3.0, 3.0]]})
    assert object_roles(ob) == ([3], [1, 5])
    pts_only = TrackerObject("p", {2: [{"type": "points", "points": [[1.0, 1.0]], "labels": [0]}],
                                   4: [{"type": "points", "points": [[1.0, 1.0]], "labels": [1]}],
                                   6: [{"type": "points", "points": [[1.0, 1.0]], "labels": [1]}]})
    assert object_roles(pts_only) == ([4], [2, 6])  # the first frame with a positive point seeds
    sub_only = TrackerObject("s", {2: [{"type": "box", "box": [0, 0, 2, 2], "mode": "subtract"}]})
    with pytest.raises(PromptError) as ei:
        object_roles(sub_only)
    assert ei.value.code == "PROMPT_INVALID"


@pytest.mark.parametrize("tracker", [FlowTracker, ShapeTracker])
def test_agreeing_point_on_every_frame_changes_nothing(clip, tracker):
    """A correct point on every frame (a Tracker4 track) gives exactly the shape-only result, and
    the frames stay one track (no restart of the matte's temporal state)."""
    src, truth = clip
    k = 1005
    base = mask_object("sq", {k: truth[k][0]})
    plain, _ = run(tracker(), src, [base], FRAMES)
    hinted, _ = run(tracker(), src, [_with_points(base, {f: [_centre(truth[f][0])] for f in FRAMES})], FRAMES)
    for f in FRAMES:
        a, b = plain[f].objects["sq"], hinted[f].objects["sq"]
        assert np.array_equal(a.mask, b.mask), f
        assert b.keyframe == (f == k) and hinted[f].ref == plain[f].ref, f


def test_points_only_object_seeds_once_then_hints():
    frames = list(range(1001, 1007))
    src, truth = moving_squares(frames, squares=((30, 30, 34, 1.0, 0.0),), seed=2)
    ob = TrackerObject("o", {f: [{"frame": f, "type": "points", "points": [_centre(truth[f][0])], "labels": [1]}]
                             for f in frames})
    out, _ = run(FlowTracker(), src, [ob], frames)
    for f in frames:
        ot = out[f].objects["o"]
        assert ot.keyframe == (f == frames[0])
        assert iou(ot.mask, truth[f][0]) > 0.6, f
    assert [out[f].ref for f in frames] == [None] + frames[:-1]


def test_apply_hints_fixes_only_contradictions():
    src, truth = moving_squares([1001], squares=((10, 10, 24, 0, 0), (60, 56, 22, 0, 0)), seed=3)
    img = to_u8(src.images[1001])
    a, b = truth[1001]
    same, changed = apply_hints(a, img, [_centre(a)], [1])
    assert same is a and not changed  # a positive click inside the mask: nothing to do
    same, changed = apply_hints(a, img, [[80.0, 10.0]], [0])
    assert same is a and not changed  # a negative click outside it: nothing to do
    grown, changed = apply_hints(a, img, [_centre(b)], [1])  # a positive click on the missed square
    assert changed and grown[a].all()
    assert iou(grown & ~a, b) > 0.6  # the part added is (mostly) the other square
    both = a | b
    shrunk, changed = apply_hints(both, img, [_centre(b)], [0])  # a negative click on the wrong part
    assert changed and shrunk[a].all() and (shrunk & b).sum() < 0.4 * b.sum()


def test_negative_click_correction_in_the_flow_tracker(clip):
    """A wrong keyframe mask (the square plus a patch of background) corrected by a negative-only
    click on a later frame: the frames after it lose the patch."""
    src, truth = clip
    k = 1001
    wrong = truth[k][0].copy()
    wrong[70:90, 70:90] = True  # a static background patch, far from the square
    base = mask_object("sq", {k: wrong})
    plain, _ = run(FlowTracker(), src, [base], FRAMES)
    fixed, _ = run(FlowTracker(), src, [_with_points(base, {1004: [[80.0, 80.0]]}, labels=[0])], FRAMES)
    patch = np.zeros((96, 96), bool)
    patch[72:88, 72:88] = True
    assert (plain[1004].objects["sq"].mask & patch).sum() > 0.5 * patch.sum()  # the flow carries the patch
    for f in (1004, 1005, 1006, 1009):
        assert (fixed[f].objects["sq"].mask & patch).sum() < 0.2 * patch.sum(), f
        assert iou(fixed[f].objects["sq"].mask & ~patch, truth[f][0]) > 0.8, f
        assert not fixed[f].objects["sq"].keyframe


def test_subtract_shapes_make_holes_and_correct(clip):
    src, truth = clip
    k = 1001
    hole = [28.0, 20.0, 36.0, 28.0]  # inside the square at frame k (x 22..48, y 14..40)
    ob = TrackerObject("sq", {k: [{"frame": k, "type": "mask", "mask_array": truth[k][0],
                                   "soft_array": truth[k][0].astype(np.float32)},
                                  {"frame": k, "type": "box", "box": hole, "mode": "subtract"}]})
    soft = keyframe_soft(ob.prompts[k], (96, 96), image=None, box_mode="rect")
    assert soft[24, 32] == 0.0 and soft[16, 24] == 1.0
    out, _ = run(ShapeTracker(), src, [ob], FRAMES[:3])
    assert not out[k].objects["sq"].mask[20:28, 28:36].any()
    # a subtract-only frame corrects the nearest shape on that frame only (shape tracker)
    ob2 = TrackerObject("sq", {k: [{"frame": k, "type": "mask", "mask_array": truth[k][0]}],
                               1003: [{"frame": 1003, "type": "box", "box": hole, "mode": "subtract"}]})
    out2, _ = run(ShapeTracker(), src, [ob2], FRAMES[:4])
    assert out2[1002].objects["sq"].mask[24, 32] and not out2[1003].objects["sq"].mask[24, 32]
    assert out2[1004].objects["sq"].mask[24, 32] and not out2[1003].objects["sq"].keyframe
    # in the flow tracker the correction is carried on from its frame
    out3, _ = run(FlowTracker(), src, [ob2], FRAMES[:5])
    assert out3[1003].objects["sq"].mask.sum() < out3[1002].objects["sq"].mask.sum() - 40
    assert out3[1003].ref == 1002


def _demo_mads(shot, matte, with_points):
    import os
    from samatte import jobspec, pipeline
    from samatte.demo import read_alpha
    w, h = shot["size"]
    fl = shot["frames"]
    out = os.path.join(os.path.dirname(os.path.dirname(shot["plate"])), "out_%d" % with_points)
    job = jobspec.new_job(shot["plate"], os.path.join(out, "m.####.exr"), frames="%d-%d" % (fl[0], fl[-1]),
                          tracker="flow", matte=matte, foreground=False, quality_map=False)
    prompts = [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])]
    if with_points:  # the subject's true centre on every frame, as a Tracker4 track gives it
        for i, f in enumerate(fl):
            u = i / (len(fl) - 1)
            prompts.append(jobspec.points_prompt(f, [[w * (0.28 + 0.44 * u), h * (0.55 + 0.08 * math.sin(2 * math.pi * u))]]))
    jobspec.add_object(job, "ball", prompts)
    pipeline.run(job)
    return np.mean([np.abs(read_alpha(os.path.join(out, "m.%04d.exr" % f))
                           - read_alpha(shot["gt"].replace("####", "%04d" % f))).mean() for f in fl]) * 1e3


def test_demo_shot_point_on_every_frame_is_no_worse(tmp_path):
    """The demo shot with its polygon on the middle frame, with and without a correct positive point
    on every frame: MAD within 10 % (it was about 4x worse when every point frame was a keyframe)."""
    from samatte.demo import make_shot
    shot = make_shot(str(tmp_path), frames=10, size=(160, 90))
    shape_only = _demo_mads(shot, "refine", False)
    with_points = _demo_mads(shot, "refine", True)
    assert with_points <= 1.1 * shape_only + 0.1, (shape_only, with_points)
