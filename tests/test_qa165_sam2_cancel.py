"""qa165: a Cancel stops a SAM 2 frame inside its image encoder, not after the whole frame.

Measured before: SAM2.1-tiny on this 2-core machine (busy) took 40-85 s a 1080p frame, and a Cancel 0.5 s
into one took 50.5 s (the tracker checked only between frames). Now each block of the image encoder's trunk
and each memory-attention layer is a checkpoint of the job's cancel (a forward pre-hook; the tracker runs
each frame in the cancel's scope). SAM2.1-tiny, random weights, 128 px."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.errors import CancelledError  # noqa: E402
from samatte.progress import CancelToken  # noqa: E402
from samatte.stages import TrackFrame  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402
import test_sam2_fakes  # noqa: E402
from test_sam2_fakes import SyntheticSource, obj  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread


@pytest.fixture(scope="module")
def pred():
    return test_sam2_fakes.tiny_predictor(128)


def test_a_cancel_stops_a_frame_inside_its_image_encoder_and_the_tracker_stays_usable(pred):
    src = SyntheticSource(range(1, 5))
    objects = [obj("hero", {1: [{"type": "mask", "mask_array": src.mask(1)}]})]
    blocks = pred.image_encoder.trunk.blocks
    token = CancelToken()
    state = {"armed": False, "last_block": 0}

    def press(module, args):        # the Cancel, pressed as the next frame's encoder starts
        if state["armed"]:
            token.cancel()

    def count(module, args):
        if state["armed"]:
            state["last_block"] += 1
    h1 = blocks[0].register_forward_pre_hook(press)
    h2 = blocks[-1].register_forward_pre_hook(count)
    try:
        tr = Sam2Tracker(predictor=pred)
        got = []
        with pytest.raises(CancelledError):
            for ev in tr.track(src, objects, src.frames, cancel=token):
                if isinstance(ev, TrackFrame):
                    got.append(ev.frame)
                    state["armed"] = True
        assert got == [1]
        # before: the frame's whole encoder (and its memory attention, decoder, memory encoder) ran on
        assert state["last_block"] == 0
    finally:
        h1.remove()
        h2.remove()
    # the same tracker (a warm worker's) tracks the next job as a fresh one does
    again = [e for e in tr.track(src, objects, src.frames) if isinstance(e, TrackFrame)]
    fresh = [e for e in Sam2Tracker(predictor=pred).track(src, objects, src.frames) if isinstance(e, TrackFrame)]
    assert [e.frame for e in again] == [1, 2, 3, 4]
    for a, b in zip(again, fresh):
        np.testing.assert_array_equal(a.objects["hero"].logits, b.objects["hero"].logits)


def test_checkpoints_are_installed_once_per_predictor(pred):
    tr = Sam2Tracker(predictor=pred)
    tr.load()
    tr.load()
    n = len(pred.image_encoder.trunk.blocks[0]._forward_pre_hooks)
    Sam2Tracker(predictor=pred).load()
    assert len(pred.image_encoder.trunk.blocks[0]._forward_pre_hooks) == n == 1
