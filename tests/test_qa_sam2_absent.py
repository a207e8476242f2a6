"""QA: the SAM 2 tracker honours an object's ``absent`` frames (JobSpec object field, README "Prompts").

Before, SAM 2 tracked an absent object straight through the span with its own memory (its masks there were
discarded by the pipeline, the matte was 0), so after the span it carried whatever it had tracked while the
object was gone. Now each run of present frames (a *segment*) is its own SAM 2 session: a segment with
anchors is exactly upstream SAM 2 run on that segment's frames alone (same weights, same prompts); one
without is seeded with the held mask of the nearest present frame (the flow tracker's rule); the other
objects are tracked as if no object were absent. SAM2.1-tiny with random weights (fixed seed), 128 px.
"""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.stages import TrackerObject, TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import UPSTREAM_COMPAT, SyntheticSource, tiny_predictor  # noqa: E402
from test_sam2_equivalence import _collect, _compare, _set_upstream_options, _upstream_state  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread

FRAMES = list(range(1, 10))
GONE = frozenset({4, 5})


class NoisySource(SyntheticSource):
    """The same shot, but noise on ``noisy`` frames (what the object's absent frames show is irrelevant)."""

    def __init__(self, frames, noisy):
        super().__init__(frames)
        self.noisy = set(noisy)

    def get(self, frame):
        p = super().get(frame)
        if frame in self.noisy:
            rng = np.random.default_rng(frame)
            d = rng.random(p.display.shape).astype(np.float32)
            p = type(p)(frame=frame, linear=d, display=d, info=p.info)
        return p


def _mask(src, f):
    return [{"type": "mask", "mask_array": src.mask(f)}]


def _run(pred, src, objects, options=UPSTREAM_COMPAT):
    """{frame: {name: ObjectTrack}} and {frame: [ref of each TrackFrame]} of our tracker."""
    out, refs = {}, {}
    for ev in Sam2Tracker(predictor=pred, options=options).track(src, objects, src.frames):
        if isinstance(ev, TrackFrame):
            for name, ot in ev.objects.items():
                assert name not in out.setdefault(ev.frame, {}), (ev.frame, name)   # each once
                out[ev.frame][name] = ot
            refs.setdefault(ev.frame, []).append(ev.ref)
    return out, refs


def _upstream(pred, frames, tmp_path, prompt_idx, mask, *, forward=True, backward=True):
    src = SyntheticSource(frames)
    _set_upstream_options(pred)
    st = _upstream_state(pred, src, tmp_path)
    pred.add_new_mask(st, prompt_idx, 0, mask)
    ref = {}
    if forward:
        ref = _collect(pred.propagate_in_video(st), {0: "hero"})
    if backward:
        ref = _collect(pred.propagate_in_video(st, reverse=True), {0: "hero"}, ref)
    return src, ref


def _frames_of(out, frames):
    return [TrackFrame(frame=f, objects=out[f]) for f in frames]


def _assert_absent_empty(out):
    for f in GONE:
        ot = out[f]["hero"]
        assert not ot.mask.any() and ot.score == 0.0 and not ot.keyframe, f


def test_each_segment_with_a_keyframe_equals_upstream_on_its_own_frames(tmp_path):
    pred = tiny_predictor(128)
    src = SyntheticSource(FRAMES)
    hero = TrackerObject("hero", {2: _mask(src, 2), 7: _mask(src, 7)}, absent=GONE)
    out, _ = _run(pred, src, [hero])
    assert sorted(out) == FRAMES
    _assert_absent_empty(out)
    for seg, key in (([1, 2, 3], 2), ([6, 7, 8, 9], 7)):
        d = tmp_path / str(seg[0])
        d.mkdir()
        usrc, ref = _upstream(pred, seg, d, seg.index(key), src.mask(key))
        _compare(_frames_of(out, seg), ref, usrc)


@pytest.mark.parametrize("key,seg,seed_from", [(2, [6, 7, 8, 9], 3), (8, [1, 2, 3], 6)])
def test_a_segment_without_a_keyframe_is_seeded_with_the_held_mask(tmp_path, key, seg, seed_from):
    """After the first keyframe the segment starts (forward) from the last present frame's mask; before it
    (backward) from the first present frame's after the span: upstream seeded with that mask on the
    segment's frames alone gives the same masks."""
    pred = tiny_predictor(128)
    src = SyntheticSource(FRAMES)
    out, _ = _run(pred, src, [TrackerObject("hero", {key: _mask(src, key)}, absent=GONE)])
    _assert_absent_empty(out)
    held = out[seed_from]["hero"].mask
    after = seg[0] > key
    s = seg[0] if after else seg[-1]
    assert not out[s]["hero"].keyframe and out[s]["hero"].edge == "rough"   # a held mask, not a roto shape
    usrc, ref = _upstream(pred, seg, tmp_path, seg.index(s), held, forward=after, backward=not after)
    _compare(_frames_of(out, seg), ref, usrc)


def test_memory_does_not_cross_the_span_and_other_objects_are_unaffected():
    """Default options. Whatever the absent frames show, the absent object's masks elsewhere are the same
    (before: SAM 2 carried what it tracked there across the span); an object present throughout gets
    the masks it gets when no object is absent."""
    pred = tiny_predictor(128)
    clean, noisy = SyntheticSource(FRAMES), NoisySource(FRAMES, GONE)
    box = [{"type": "box", "box": [5.0, 5.0, 40.0, 30.0]}]

    def objects(src, absent=GONE):
        return [TrackerObject("hero", {2: _mask(src, 2)}, absent=absent), TrackerObject("corner", {3: box})]
    a, refs = _run(pred, clean, objects(clean), options=None)
    b, _ = _run(pred, noisy, objects(noisy), options=None)
    plain, _ = _run(pred, clean, objects(clean, frozenset()), options=None)
    _assert_absent_empty(a)
    for f in FRAMES:
        if f not in GONE:
            assert np.array_equal(a[f]["hero"].logits, b[f]["hero"].logits), f
            assert np.array_equal(a[f]["hero"].mask, b[f]["hero"].mask), f
        assert np.array_equal(a[f]["corner"].logits, plain[f]["corner"].logits), f
        assert a[f]["corner"].score == plain[f]["corner"].score
    # the references combine (any None: None) into the keyed chain (samatte.cachekey.temporal_refs)
    from samatte.cachekey import temporal_refs
    job = {"tracker": {"options": {}},
           "objects": [{"name": "hero", "absent": "4-5", "prompts": [{"frame": 2, "type": "box", "box": [1, 1, 9, 9]}]},
                       {"name": "corner", "prompts": [{"frame": 3, "type": "box", "box": [5, 5, 40, 30]}]}]}
    merged = {f: (None if any(r is None for r in rs) else rs[0]) for f, rs in refs.items()}
    assert merged == temporal_refs(job, FRAMES, "sam2")
    assert merged[6] is None and merged[5] == 4 and merged[1] == 2


def test_a_long_absent_shot_stays_bounded_and_a_job_without_absent_is_tracked_as_before():
    pred = tiny_predictor(128)
    src = SyntheticSource(range(1, 31))
    tr = Sam2Tracker(predictor=pred)
    gone = frozenset(range(12, 15)) | frozenset(range(22, 24))
    evs = list(tr.track(src, [TrackerObject("hero", {1: _mask(src, 1)}, absent=gone)], src.frames))
    assert tr.stats["max_non_cond"] <= tr.stats["window"] + 1 and tr.stats["sessions"] == 3
    tfs = [e for e in evs if isinstance(e, TrackFrame)]
    assert sorted(tf.frame for tf in tfs) == list(range(1, 31))
    assert [tf.frame for tf in tfs if not tf.objects["hero"].mask.any()] == sorted(gone)
    done = [e.done for e in evs if not isinstance(e, TrackFrame) and e.frame is not None]
    assert done == sorted(done) and done[-1] == evs[-1].total == 30
    # no absent: the frames come once each, in the passes' order, as always
    plain = [e for e in Sam2Tracker(predictor=pred).track(src, [TrackerObject("hero", {3: _mask(src, 3)})],
                                                             src.frames) if isinstance(e, TrackFrame)]
    assert [tf.frame for tf in plain] == list(range(3, 31)) + [2, 1]


# -- cache keys (stdlib only) -----------------------------------------------------------------------------
SAM2 = {"tracker": "sam2", "model": "sam2.1_hiera_tiny", "model_sha256": "x", "matte": "refine"}


def _box(frame, dx=0.0):
    return {"frame": frame, "type": "box", "box": [10 + dx, 10, 40 + dx, 40]}


@pytest.fixture
def job(tmp_path):
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in range(1001, 1011):
        (plate / ("p.%04d.exr" % f)).write_bytes(b"plate %d" % f)
    return {"samatte_job": 1, "name": "sh010",
            "plate": {"path": str(plate / "p.####.exr"), "frames": "1001-1010"},
            "objects": [{"name": "hero", "prompts": [_box(1001), _box(1008)], "absent": "1004-1005"},
                        {"name": "car", "prompts": [_box(1002)]}],
            "tracker": {"backend": "sam2", "model": "sam2.1_hiera_tiny", "options": {}},
            "matte": {"backend": "auto", "quality": "default", "options": {}},
            "output": {"path": str(tmp_path / "out" / "m.####.exr"), "object_layers": True, "foreground": True,
                       "quality_map": True, "compression": "zip", "overwrite": False},
            "device": "auto", "work_dir": None}


def test_an_absent_objects_segment_keys_hold_its_own_frames(job):
    from samatte.cachekey import dependency_interval, frame_keys
    frames = list(range(1001, 1011))
    hero = job["objects"][0]
    assert [dependency_interval(f, hero, frames, "sam2") for f in (1001, 1003, 1004, 1006, 1010)] == \
        [(1001, 1003), (1001, 1003), (1004, 1004), (1006, 1010), (1006, 1010)]
    # no keyframe after the span: seeded from the segment before, so it depends on it too
    seeded = dict(hero, prompts=[_box(1001)])
    assert dependency_interval(1007, seeded, frames, "sam2") == (1001, 1010)
    car = job["objects"][1]
    assert dependency_interval(1007, car, frames, "sam2") == (1001, 1010)   # present throughout: the shot

    k0 = frame_keys(job, resolved=SAM2)
    j = copy.deepcopy(job)
    j["objects"][0]["prompts"][1] = _box(1008, dx=3.0)   # edit the keyframe after the span
    k1 = frame_keys(j, resolved=SAM2)
    changed = [f for f in frames if k0[f]["track_objects"][0] != k1[f]["track_objects"][0]]
    assert changed == [1006, 1007, 1008, 1009, 1010]
    assert all(k0[f]["track_objects"][1] == k1[f]["track_objects"][1] for f in frames)
    j["objects"][0]["absent"] = "1004"   # a shorter span: the frames it gives back and their segment re-track
    k2 = frame_keys(j, resolved=SAM2)
    assert [f for f in frames if k2[f]["track_objects"][0] != k1[f]["track_objects"][0]] == list(range(1005, 1011))


def test_through_the_pipeline_alpha_0_no_reference_warning_and_a_rerun_reuses_every_frame(tmp_path, caplog):
    """The 6-frame demo shot, keyframe on 1004, the ball absent on 1002: its alpha is 0 there, 1001 (seeded
    from 1003's mask, backward) is matted, no frame's tracker reference disagrees with the keyed one, and
    a second run finds every frame finished (the keys are those the run stored)."""
    import logging

    import OpenImageIO as oiio

    from samatte import jobspec, pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=6, size=(128, 72))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="1001-1006", tracker="sam2",
                          matte="none", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], [list(map(float, p)) for p in s["polygon"]])],
                       absent="1002")
    assert s["prompt_frame"] == 1004
    with caplog.at_level(logging.WARNING, logger="samatte"):
        pipeline.run(job, tracker=Sam2Tracker(predictor=tiny_predictor(128)))
    assert not [r for r in caplog.records if "temporal reference" in r.getMessage()]
    def pixels(f):
        inp = oiio.ImageInput.open(str(tmp_path / "out" / ("m.%04d.exr" % f)))
        px = np.asarray(inp.read_image(0, 0, 0, inp.spec().nchannels, "float"))
        names = list(inp.spec().channelnames)
        inp.close()
        return px, px[..., names.index("A")]
    for f in range(1001, 1007):
        assert (float(pixels(f)[1].max()) == 0.0) == (f == 1002), f
    again = pipeline.run(job, tracker=Sam2Tracker(predictor=tiny_predictor(128)))
    assert len(again["skipped"]) == 6 and not again["tracked"]
    # the plate where the ball is absent re-rendered (noise): the keyframed run 1003-1006 is not re-tracked,
    # and 1001 (whose key spans 1001-1006: seeded from 1003) gets the same pixels; before, SAM 2 tracked 1001
    # through 1002, so every frame depended on it and 1001's matte changed
    from samatte.io.exr import write_image
    before = pixels(1001)[0]
    noise = np.random.default_rng(0).random((72, 128, 3)).astype(np.float32)
    write_image(s["plate"].replace("####", "1002"), noise, channels=("R", "G", "B"), pixel_type="half")
    third = pipeline.run(job, tracker=Sam2Tracker(predictor=tiny_predictor(128)))
    assert third["tracked"] == [1001, 1002] and len(third["skipped"]) == 4
    assert np.array_equal(pixels(1001)[0], before)
