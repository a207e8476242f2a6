"""QA: an artist's day tracking with SAM 2 (SAM2.1-tiny, random weights, 128 px, the 8-frame 128x72 demo
shot): objects added and removed between runs, and upstream's predictor on a case the equivalence tests
do not cover. Behaviour (which frames, which objects, what is reused), not mask quality."""
import copy

import numpy as np
import pytest

from samatte import jobspec
from samatte.cachekey import frame_keys

SAM2 = {"tracker": "sam2", "model": "sam2.1_hiera_tiny", "model_sha256": None, "matte": "none"}
POLY = [[40.0, 20.0], [90.0, 20.0], [90.0, 60.0], [40.0, 60.0]]


def _job(plate, objects, frames="1001-1008"):
    job = jobspec.new_job(plate, "/tmp/never/m.####.exr", frames=frames, tracker="sam2", matte="none")
    for name, prompts in objects:
        jobspec.add_object(job, name, prompts)
    return job


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa_sam2_day")), frames=8, size=(128, 72))


HERO = ("hero", [jobspec.polygon_prompt(1006, POLY)])
PROP = ("prop", [jobspec.box_prompt(1002, [5.0, 5.0, 40.0, 30.0])])
LATE = ("late", [jobspec.box_prompt(1007, [5.0, 5.0, 40.0, 30.0])])


def _hero_keys(job):
    keys = frame_keys(jobspec.validate(job), resolved=SAM2)
    return {f: k["track_objects"][0] for f, k in keys.items()}


# -- keys (stdlib only) --------------------------------------------------------------------------------------

def test_an_object_keyed_later_than_another_is_keyed_by_where_the_passes_start(plate):
    """SAM 2's passes start at the earliest anchor of any object (k0): an object keyed later is tracked
    forward from k0, so adding, moving or removing the object keyed earliest changes its masks and must
    change its stored track's key; an object keyed at k0, or a later object added, leaves it as it was."""
    alone = _hero_keys(_job(plate["plate"], [HERO]))
    with_prop = _hero_keys(_job(plate["plate"], [HERO, PROP]))
    assert all(alone[f] != with_prop[f] for f in alone)   # before: equal, the stored track reused
    moved = copy.deepcopy(PROP[1])
    moved[0]["frame"] = 1003
    assert _hero_keys(_job(plate["plate"], [HERO, ("prop", moved)])) != with_prop
    # what does not move k0 keeps the keys it always had
    assert _hero_keys(_job(plate["plate"], [HERO, LATE])) == alone
    prop_first = frame_keys(jobspec.validate(_job(plate["plate"], [PROP, HERO])), resolved=SAM2)
    prop_alone = frame_keys(jobspec.validate(_job(plate["plate"], [PROP])), resolved=SAM2)
    assert all(prop_first[f]["track_objects"][0] == prop_alone[f]["track_objects"][0] for f in prop_alone)


# -- through the pipeline ------------------------------------------------------------------------------------

@pytest.fixture()
def sam2():
    """SAM2.1-tiny, random weights, 128 px (skipped without torch / sam2: the key tests above need neither)."""
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    import torch
    from test_sam2_fakes import tiny_predictor
    n = torch.get_num_threads()
    torch.set_num_threads(1)   # 2 shared cores: one thread is several times faster than two here
    yield tiny_predictor(128)
    torch.set_num_threads(n)


def _track(job, work_dir, pred):
    from samatte import pipeline
    from samatte.track.sam2_backend import Sam2Tracker
    job = dict(job, work_dir=str(work_dir))
    return pipeline.run(job, tracker=Sam2Tracker(predictor=pred), stage="track")


def _masks(work_dir, frames, index=0):
    from samatte.trackcache import TrackCache
    cache = TrackCache(str(work_dir), create=False)
    return {f: np.load(cache.path(f, index))["mask"] for f in frames}


def test_removing_the_earliest_keyed_object_retracks_the_others_as_a_fresh_run(plate, tmp_path, sam2):
    """The artist adds a prop keyed on 1002 beside the hero keyed on 1006, tracks, then deletes the prop
    and tracks again in the same work dir: the hero's frames are what a fresh hero-only job gives. Before,
    all 8 were reused from the two-object run (tracked forward from 1002): 1001-1005 differed from a fresh
    run (up to 193 of 9216 pixels a frame)."""
    frames = plate["frames"]
    _track(_job(plate["plate"], [HERO]), tmp_path / "fresh", sam2)
    _track(_job(plate["plate"], [HERO, PROP]), tmp_path / "edited", sam2)
    again = _track(_job(plate["plate"], [HERO]), tmp_path / "edited", sam2)
    fresh, edited = _masks(tmp_path / "fresh", frames), _masks(tmp_path / "edited", frames)
    assert {f: int((fresh[f] != edited[f]).sum()) for f in frames if not np.array_equal(fresh[f], edited[f])} == {}
    assert again["tracked"] == frames and not again["track_reused"]


def test_two_objects_keyed_mid_shot_on_different_frames_match_upstream_both_ways(sam2, tmp_path):
    """Upstream's own predictor, one session: a mask on frame 5 and an overlapping box on frame 3 of 7 frames,
    ``propagate_in_video`` forward then in reverse (both start at the earliest keyframe, 3: the reverse pass
    segments the disc on frame 3 again, and frames 1-2 attend to that). The equivalence tests cover two
    objects forward only and mid-shot keyframes of one object."""
    from samatte.stages import TrackFrame
    from samatte.track.sam2_backend import Sam2Tracker
    from test_sam2_equivalence import _collect, _compare, _set_upstream_options, _upstream_state
    from test_sam2_fakes import UPSTREAM_COMPAT, SyntheticSource, obj
    src = SyntheticSource(range(1, 8))
    box = [20.0, 15.0, 70.0, 60.0]   # over the disc
    objects = [obj("disc", {5: [{"type": "mask", "mask_array": src.mask(5)}]}),
               obj("corner", {3: [{"type": "box", "box": box}]})]
    ours = [x for x in Sam2Tracker(predictor=sam2, options=UPSTREAM_COMPAT).track(src, objects, src.frames)
            if isinstance(x, TrackFrame)]
    # frame 3 comes once, after the forward pass: the disc there is upstream's reverse pass's (before, the
    # forward pass's: 252 of 12288 pixels apart, and frames 1-2 attended to it, 4 pixels each)
    assert [tf.frame for tf in ours] == [4, 5, 6, 7, 3, 2, 1]
    assert [tf.ref for tf in ours] == [3, None, 5, 6, None, 3, 2]
    assert [sorted(n for n, o in tf.objects.items() if o.keyframe) for tf in ours] == [
        [], ["disc"], [], [], ["corner"], [], []]
    _set_upstream_options(sam2)
    st = _upstream_state(sam2, src, tmp_path)
    sam2.add_new_mask(st, 4, 0, src.mask(5))
    sam2.add_new_points_or_box(st, 2, 1, box=box)
    names = {0: "disc", 1: "corner"}
    ref = _collect(sam2.propagate_in_video(st), names)
    ref = _collect(sam2.propagate_in_video(st, reverse=True), names, ref)
    _compare(ours, ref, src)


@pytest.mark.parametrize("absent", [frozenset(), frozenset({1002})])
def test_subtract_shapes_that_remove_a_click_seeded_object_name_the_hosts_frame(sam2, absent):
    """An object seeded by a click on 1003 whose subtract shape there covers all that the click selects:
    PROMPT_INVALID naming frame 1003 (details ``frame``). Before: "on frame index 2" (or, with the object
    absent on 1002, "index 0": the index in its segment), a 0-based index no host shows."""
    from samatte.errors import PromptError
    from samatte.stages import TrackerObject
    from samatte.track.sam2_backend import Sam2Tracker
    from test_sam2_fakes import SyntheticSource
    src = SyntheticSource(range(1001, 1005))
    everything = np.ones(src.info.shape, bool)
    ob = TrackerObject(name="prop", absent=absent, prompts={1003: [
        {"type": "points", "points": [[40.0, 40.0]], "labels": [1]},
        {"type": "mask", "mask_array": everything, "mode": "subtract"}]})
    with pytest.raises(PromptError) as e:
        list(Sam2Tracker(predictor=sam2).track(src, [ob], src.frames))
    assert e.value.code == "PROMPT_INVALID"
    assert e.value.details["frame"] == 1003 and e.value.details["object"] == "prop"
    assert "frame 1003" in str(e.value) and "index" not in str(e.value)
