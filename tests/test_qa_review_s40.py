"""QA review (session 40) of the flow tracker's flat frames.

A step across flat frames spans several frame steps; the object's motion it measures (``v``, used to move
the mask over flat frames that end a pass and for pixels near the border, where an object leaves) is the
motion per frame step, not the motion over the whole span: a flat frame after a flat frame at the end of
a pass was moved twice as far as the object went."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_qa_flow_flat import _shot  # noqa: E402
from track_clips import mask_object, run  # noqa: E402

from samatte.track.flow import FlowTracker  # noqa: E402


def _iou(a, b):
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_flat_frame_ending_a_pass_after_an_across_step_moves_one_step_a_frame():
    frames = list(range(1, 13))
    src, truth = _shot(frames, {10, 12}, 0.0)
    out, _ = run(FlowTracker(), src, [mask_object("o", {1: truth[1]})], frames)
    # frame 12 (flat, no textured frame after it) continues from frame 11 by the motion of one step
    assert _iou(out[11].objects["o"].mask, truth[11]) > 0.8
    assert _iou(out[12].objects["o"].mask, truth[12]) > 0.8


def _lowkey_then_bright(frames, dark_until, *, H=72, W=120, side=20, step=2):
    """A textured square moving ``step`` px a frame over a textured background; the frames before
    ``dark_until`` are low-key (the same content at a few grey levels of spread, textured: not flat),
    the later ones full range. Returns (source, truth)."""
    from track_clips import MemorySource
    rng = np.random.default_rng(5)
    bg = rng.random((H, W, 3)).astype(np.float32) * 0.6
    ft = (0.4 + 0.6 * rng.random((side, side, 3))).astype(np.float32) * np.float32([1.0, 0.3, 0.2])
    imgs, truth = {}, {}
    for f in frames:
        x, y = 12 + step * (f - frames[0]), 26
        m = np.zeros((H, W), bool)
        m[y:y + side, x:x + side] = True
        img = bg.copy()
        img[y:y + side, x:x + side] = ft
        if f < dark_until:
            img = 0.02 + 0.06 * img
        imgs[f] = img.astype(np.float32)
        truth[f] = m
    return MemorySource(imgs), truth


def test_a_track_of_an_anchor_span_is_the_whole_runs():
    """README "Cache and resume": a frame between two anchors depends on that span alone, and the pipeline
    re-tracks only the ranges that serve the stale frames (pipeline._track_ranges); the flat-frame test
    took its reference from every frame the tracker was given, so the same span tracked alone (a resume
    after a correction there, a farm Track task) and inside the whole shot gave other masks."""
    frames = list(range(1, 21))
    src, truth = _lowkey_then_bright(frames, 10)
    keys = {1: truth[1], 10: truth[10], 20: truth[20]}
    whole, _ = run(FlowTracker(), src, [mask_object("o", keys)], frames)
    part, _ = run(FlowTracker(), src, [mask_object("o", {1: truth[1], 10: truth[10]})], frames[:10])
    for f in frames[:10]:
        a, b = whole[f].objects["o"], part[f].objects["o"]
        assert np.array_equal(a.mask, b.mask), f
        assert np.array_equal(a.logits, b.logits), f


def test_the_low_key_part_of_a_shot_that_brightens_is_not_flat():
    """Keyed on a low-key frame (textured, a few grey levels of spread) of a shot whose later frames are
    full range: against the shot's median spread the low-key frames were flat, the pass stepped from the
    keyframe straight to the first bright frame and lost the object there (IoU 0.0 from frame 11 on; 0.18
    at the end before flat frames were stepped across). Against the keyframe's own spread they are
    tracked."""
    frames = list(range(1, 21))
    src, truth = _lowkey_then_bright(frames, 10)
    out, _ = run(FlowTracker(), src, [mask_object("o", {1: truth[1]})], frames)
    assert _iou(out[12].objects["o"].mask, truth[12]) > 0.25
    assert out[20].objects["o"].mask.any()


def _leaving(frames, flat, *, H=72, W=120, side=20, step=4):
    """A textured square moving ``step`` px a frame to the right and out of the frame; ``flat`` frames
    black. Returns (source, truth)."""
    from test_qa_flow_flat import _tex
    from track_clips import MemorySource
    rng = np.random.default_rng(3)
    bg = _tex(rng, H, W, 2.0, (0.6, 0.9, 0.7))
    ft = np.clip(_tex(rng, side, side, 1.5, (1.6, 0.4, 0.3)) * 1.3, 0, 1)
    imgs, truth = {}, {}
    for f in frames:
        x = 12 + step * (f - frames[0])
        m = np.zeros((H, W), bool)
        img = bg.copy()
        if x < W:
            x1 = min(W, x + side)
            m[26:26 + side, x:x1] = True
            img[26:26 + side, x:x1] = ft[:, :x1 - x]
        if f in flat:
            img = np.zeros((H, W, 3), np.float32)
        imgs[f] = img.astype(np.float32)
        truth[f] = m
    return MemorySource(imgs), truth


def test_an_object_leaving_the_frame_across_flat_frames_leaves_no_ghost():
    """The step across flat frames 26-27 (25 -> 28, three steps) judged the object's exit by one step's
    motion (4 px of the 12 it moves): the 12 px still in the frame on 25 were carried into 28, where the
    object has gone, and stayed there to the end of the shot (a ghost on 28-30, IoU 0.0)."""
    frames = list(range(1, 31))
    src, truth = _leaving(frames, {26, 27})
    out, _ = run(FlowTracker(), src, [mask_object("o", {1: truth[1]})], frames)
    assert _iou(out[25].objects["o"].mask, truth[25]) > 0.8
    for f in (28, 29, 30):
        assert not truth[f].any()
        assert not out[f].objects["o"].mask.any(), f


def test_the_low_key_part_of_a_shot_that_brightens_is_not_flat_from_a_bright_anchor():
    """The pass running backward from a bright keyframe into the low-key stretch judged those frames flat
    against the anchor's spread (a few grey levels against ~50) and stepped across them: IoU on frame 3 0.32
    with keys on 1, 10 and 20 (0.67 before flat frames were stepped across). Flatness is a contrast (spread
    over mean grey), the same at any exposure: the low-key frames are tracked."""
    from samatte.track.flow import _contrast, _spread, flat_frames
    frames = list(range(1, 21))
    src, truth = _lowkey_then_bright(frames, 10)
    out, _ = run(FlowTracker(), src, [mask_object("o", {f: truth[f] for f in (1, 10, 20)})], frames)
    assert _iou(out[3].objects["o"].mask, truth[3]) > 0.6
    # the measure itself: a low-key copy of a frame keeps its contrast, a flash or black frame loses it
    img = (np.random.default_rng(1).random((40, 60, 3)) * 200 + 20).astype(np.uint8)
    low = (img * 0.1 + 2).astype(np.uint8)
    flash = np.full_like(img, 250)
    flash[::7, ::9] = 240
    assert _spread(low) < 0.15 * _spread(img) and _contrast(low) > 0.5 * _contrast(img)
    assert flat_frames([img, low, flash, np.zeros_like(img)], ref=_contrast(img)) == {2, 3}
