"""The SAMatte node's internal Read shows the matte of the frame it is evaluated at: a TimeOffset or a
FrameHold downstream of the node asks for another frame than the viewer's (root) frame. Tested against the
Nuke double's TCL: ``[frame]`` is the evaluation context's frame, ``nuke.frame()`` the root's."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from samatte_nuke import farm, node as snode  # noqa: E402


@pytest.fixture
def group(monkeypatch):
    nk = nuke_env.fresh()
    g = nk.nodes.Group()
    g.addKnob(nk.String_Knob("samatte_job", "job", ""))
    g.addKnob(nk.Int_Knob("samatte_offset", "offset", 0))
    job = {"plate": {"path": "/p/plate.####.exr", "frames": "1001-1010"},
           "output": {"path": "/c/matte/matte.####.exr"}, "name": "n"}
    g["samatte_job"].setValue(farm.encode_state(job))
    g["samatte_offset"].setValue(-1000)          # script frame t shows file t + 1000
    monkeypatch.setattr(farm, "frame_state", lambda job_text, f, fresh=False: ("complete", "/c/matte/matte.%04d.exr" % f))
    monkeypatch.setattr(farm, "expected_keys", lambda job: {})
    g.begin()
    rd = nk.nodes.Read(name="samatte_cache_read")
    g.end()
    rd["file"].setValue(snode.READ_EXPR)
    return nk, rd


def test_the_read_back_follows_the_frame_it_is_evaluated_at_not_the_viewer_frame(group):
    nk, rd = group
    nk.frame(2)                                   # the viewer (root) is on script frame 2
    for asked in (2, 5, 9):                       # a TimeOffset / FrameHold downstream asks for these
        got = rd["file"].getEvaluatedValue(nk.OutputContext(asked))
        assert os.path.basename(got) == "matte.%04d.exr" % (1000 + asked)


def test_a_sub_frame_context_reads_its_whole_frame(group):
    nk, rd = group
    got = rd["file"].getEvaluatedValue(nk.OutputContext(4.25))      # motion-blur sample
    assert os.path.basename(got) == "matte.1004.exr"
