"""The matting order (``samatte.cachekey._matte_order``) with several (re)starts and backward chains:
each start's backward chain runs right after its forward chain, so the 3-slot caller-owned
:class:`samatte.stages.StateStore` still holds the start's state when its backward chain begins, and a
resumed run (or a chunk) equals an unbroken one byte for byte."""
import shutil

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.cachekey import _matte_order, temporal_refs
from samatte.progress import Progress
from samatte.stages import ObjectTrack, StateStore, TrackFrame, Tracker

from test_pipeline_state import CarryMatter, _digest, _written

N = 12
FIRST = 1001
KEYS = (FIRST + 3, FIRST + 7)   # two keyframes: 1001-1003 run backward from 1004 (the SAM 2 rule)


def _check_chain(order, refs):
    """Every frame once, every reference before its frame, and a 3-slot store holds every reference's
    state when its frame comes."""
    assert sorted(order) == sorted(refs)
    pos = {f: i for i, f in enumerate(order)}
    st = StateStore()
    for f in order:
        r = refs[f]
        if r is not None:
            assert pos[r] < pos[f], (f, r)
            assert st.get(r) == ("state", r), (f, r)
        st.put(("state", f), ref=r, frame=f)
        assert len(st) <= 3


def test_two_keyframes_backward_chain_right_after_forward_chain():
    frames = list(range(1, 31))
    # keyframes 10 and 20; 1-9 backward from 10; 11-14 forward from 10; 15-19 backward from 20; 21-30 forward
    refs = {}
    for f in frames:
        if f in (10, 20):
            refs[f] = None
        elif f < 10 or 15 <= f < 20:
            refs[f] = f + 1
        else:
            refs[f] = f - 1
    order = _matte_order(frames, refs)
    assert order == ([10] + list(range(11, 15)) + list(range(9, 0, -1)) +
                     [20] + list(range(21, 31)) + list(range(19, 14, -1)))
    _check_chain(order, refs)


def test_sam2_refs_and_forward_only_refs():
    frames = list(range(FIRST, FIRST + N))
    job = {"objects": [{"name": "a", "prompts": [{"frame": k, "type": "polygon"} for k in KEYS]}]}
    refs = temporal_refs(job, frames, "sam2")
    assert refs[FIRST] == FIRST + 1 and refs[KEYS[0]] is None and refs[KEYS[1]] is None
    order = _matte_order(frames, refs)
    assert order == (list(range(KEYS[0], KEYS[1])) + list(range(KEYS[0] - 1, FIRST - 1, -1)) +
                     list(range(KEYS[1], FIRST + N)))
    _check_chain(order, refs)
    # forward-only chains (flow, shapes, masks: restarts at anchors): ascending, as before
    fw = {f: (None if f in (FIRST, FIRST + 5) else f - 1) for f in frames}
    assert _matte_order(frames, fw) == frames
    _check_chain(frames, fw)


def test_unresolved_chain_keeps_the_earlier_order():
    frames = [1, 2, 3, 4, 5]
    refs = {1: None, 2: 1, 3: 99, 4: 3, 5: 4}   # 3 refers to a frame that is not there: 3-5 lead to no start
    assert _matte_order(frames, refs) == [1, 2, 4, 5, 3]


# -- through the pipeline ------------------------------------------------------------------------------

class KeyframeTracker(Tracker):
    """A stand-in for SAM 2 (name "sam2", so the keys use its temporal references): a disc whose centre
    moves with the frame; every prompted frame restarts the track, frames before the first prompt are
    tracked backward from it, the others forward."""

    name = "sam2"

    def track(self, source, objects, frames, *, cancel=None):
        H, W = source.info.shape
        yy, xx = np.mgrid[0:H, 0:W]
        prompted = sorted({f for o in objects for f in o.prompts})
        k0 = prompted[0]
        frames = list(frames)
        order = [f for f in frames if f >= k0] + [f for f in reversed(frames) if f < k0]
        for f in order:
            i = frames.index(f)
            ref = None if f in prompted else (frames[i + 1] if f < k0 else frames[i - 1])
            objs = {}
            for j, o in enumerate(objects):
                cx, cy = 20 + 6 * (f - FIRST) + 9 * j, 30 + 2 * j
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (10 + j) ** 2
                objs[o.name] = ObjectTrack(mask=mask, keyframe=f in o.prompts)
            yield Progress("track", f, 0, len(frames), "")
            yield TrackFrame(frame=f, objects=objs, ref=ref)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("order_shot")
    return make_shot(str(d), frames=N, size=(128, 72), first=FIRST)


def _job(s, out):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (FIRST, FIRST + N - 1), tracker="sam2",
                          matte="refine", quality="draft", name="order")
    poly = [[10, 10], [60, 10], [60, 50], [10, 50]]
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(k, poly) for k in KEYS])
    jobspec.add_object(job, "crate", [jobspec.polygon_prompt(KEYS[0], poly)])
    return job


class RecordingMatter(CarryMatter):
    """CarryMatter that records which frames were given a state."""

    def __init__(self):
        super().__init__()
        self.given = {}

    def step(self, plate, track, state=None):
        self.given[plate.frame] = (track.ref, None if state is None else state.frame)
        return super().step(plate, track, state)


def _same(tmp_path, d, frames):
    for f in frames:
        a = str(tmp_path / "single" / ("m.%04d.exr" % f))
        assert _digest(a) == _digest(str(tmp_path / d / ("m.%04d.exr" % f))), (d, f)


def test_unbroken_run_carries_state_across_keyframes_and_resume_matches(shot, tmp_path):
    frames = list(range(FIRST, FIRST + N))
    single = RecordingMatter()
    r = pipeline.run(_job(shot, tmp_path / "single" / "m.####.exr"), matter=single, tracker=KeyframeTracker())
    assert _written(r) == frames and single.restored == []
    order = (list(range(KEYS[0], KEYS[1])) + list(range(KEYS[0] - 1, FIRST - 1, -1)) + list(range(KEYS[1], FIRST + N)))
    assert single.stepped == order
    for f in frames:   # every frame that refers to another got that frame's state
        ref, given = single.given[f]
        assert given == ref, (f, ref, given)
        assert (ref is None) == (f in KEYS)
    assert len({r["scores"][str(f)] for f in frames}) > 1   # the state matters to the output

    # resume after a killed run: the files of the frames matted before the kill (in the run's order),
    # among them the first keyframe's forward chain only (its backward chain is still to do), or its whole group
    # (restored: the finished frame whose state the first frame to do continues from)
    for n, restored in ((KEYS[1] - KEYS[0], [KEYS[0]]), (KEYS[1] - FIRST, []), (KEYS[1] - FIRST + 2, [KEYS[1] + 1])):
        d = "re%d" % n
        (tmp_path / d).mkdir()
        for f in order[:n]:
            shutil.copy(str(tmp_path / "single" / ("m.%04d.exr" % f)), str(tmp_path / d))
        m = RecordingMatter()
        r = pipeline.run(_job(shot, tmp_path / d / "m.####.exr"), matter=m, tracker=KeyframeTracker())
        assert _written(r) == sorted(order[n:])
        assert m.stepped == order[n:] and m.restored == restored
        _same(tmp_path, d, frames)

    # chunks: the later frames first, then the backward frames, seeded from the finished keyframe
    job = _job(shot, tmp_path / "chunks" / "m.####.exr")
    pipeline.run(job, stage="track", tracker=KeyframeTracker())
    m = RecordingMatter()
    pipeline.run(job, stage="matte", frames="%d-%d" % (KEYS[0], FIRST + N - 1), matter=m)
    m = RecordingMatter()
    r = pipeline.run(job, stage="matte", frames="%d-%d" % (FIRST, KEYS[0] - 1), matter=m)
    assert m.restored == [KEYS[0]] and r["preroll"] == []
    _same(tmp_path, "chunks", frames)

    # a pre-roll cut short on the forward chain does not take the keyframe's place in the store: frame
    # KEYS[0] - 1 still continues from the pre-rolled keyframe and equals the unbroken run's
    job = _job(shot, tmp_path / "cut" / "m.####.exr")
    m = RecordingMatter()
    r = pipeline.run(job, frames=[KEYS[0] - 1, KEYS[0] + 3], preroll=1, matter=m, tracker=KeyframeTracker())
    assert r["preroll"] == [KEYS[0], KEYS[0] + 2] and _written(r) == [KEYS[0] - 1, KEYS[0] + 3]
    assert m.stepped == [KEYS[0], KEYS[0] + 2, KEYS[0] + 3, KEYS[0] - 1]
    assert m.given[KEYS[0] - 1] == (KEYS[0], KEYS[0])
    _same(tmp_path, "cut", [KEYS[0] - 1])

    # the same with finished frames: a restored frame on the forward chain whose own reference is not at
    # hand (KEYS[0] + 2) does not push the restored keyframe out either
    (tmp_path / "seeded").mkdir()
    for f in range(KEYS[0], KEYS[0] + 3):
        shutil.copy(str(tmp_path / "single" / ("m.%04d.exr" % f)), str(tmp_path / "seeded"))
    m = RecordingMatter()
    r = pipeline.run(_job(shot, tmp_path / "seeded" / "m.####.exr"), frames=[KEYS[0] - 1, KEYS[0] + 3], preroll=0,
                     matter=m, tracker=KeyframeTracker())
    assert m.restored == [KEYS[0], KEYS[0] + 2] and m.stepped == [KEYS[0] + 3, KEYS[0] - 1]
    assert _written(r) == [KEYS[0] - 1, KEYS[0] + 3]
    _same(tmp_path, "seeded", [KEYS[0] - 1, KEYS[0] + 3])
