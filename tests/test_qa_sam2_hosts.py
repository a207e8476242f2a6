"""QA: SAM 2 as the hosts hand it over (Blender tracking markers, Nuke Tracker4 points: a click on every
frame of an object, which are corrections of the tracked mask after its first frame).

Each correction frame becomes a SAM 2 conditioning output, and those were never dropped: the tracker's
state held every frame's memory, growing with the shot (30 frames: 30 outputs, 1000 frames at 1024 px:
about 1.3 GB per object). Now the ones attention can no longer reach are dropped, with the same masks.
SAM2.1-tiny with random weights (fixed seed), 64 px.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.stages import TrackerObject, TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import SyntheticSource, tiny_predictor  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread

N = 40


def _objects(src):
    """A shape on frame 8 (a backward pass follows), a click on every frame (a host's track), a subtract
    box on 20; a second object from a box on 3."""
    hero = {f: [{"type": "points", "points": [[20.0 + f % 5, 15.0]], "labels": [1]}] for f in src.frames}
    hero[8] = [{"type": "mask", "mask_array": src.mask(8)}]
    hero[20] = hero[20] + [{"type": "box", "box": [0.0, 0.0, 12.0, 12.0], "mode": "subtract"}]
    return [TrackerObject("hero", hero), TrackerObject("corner", {3: [{"type": "box", "box": [5.0, 5.0, 40.0, 30.0]}]})]


def _run(pred, src):
    tr = Sam2Tracker(predictor=pred)
    most = [0]
    prune = tr._prune

    def spy(state, idx, reverse, k0):
        prune(state, idx, reverse, k0)
        most[0] = max([most[0]] + [len(od["cond_frame_outputs"]) for od in state["output_dict_per_obj"].values()])
    tr._prune = spy
    out = {}
    for ev in tr.track(src, _objects(src), src.frames):
        if isinstance(ev, TrackFrame):
            out[ev.frame] = ev.objects
    return out, most[0], tr.memory_window()


def test_points_on_every_frame_keep_a_bounded_state_and_the_same_masks(monkeypatch):
    pred = tiny_predictor(64)
    src = SyntheticSource(range(1, N + 1))
    out, most, w = _run(pred, src)
    assert sorted(out) == list(range(1, N + 1))
    assert most <= 2 * w + 3, (most, w)      # window behind + kept for the backward pass; before: N
    # the masks are those of a tracker that keeps every output (the state before)
    monkeypatch.setattr(Sam2Tracker, "_prune_cond", staticmethod(lambda *a: None), raising=False)
    ref, most_all, _ = _run(pred, src)
    assert most_all >= N - 1
    for f in out:
        for name in ("hero", "corner"):
            assert np.array_equal(out[f][name].logits, ref[f][name].logits), (f, name)
            assert out[f][name].score == ref[f][name].score, (f, name)
