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
