"""QA review of 4abc345..83653f6 (Nuke day 7, Blender day 7, TD day 4): regressions for what the review found.

* ``job.time_signature`` (the read-back of a rendered plate refuses every frame once it changes) hashed each
  upstream Read's and time node's *name*, every knob of a time node but six (``hide_input``, ``postage_stamp``,
  ``gl_color``, ``note_font_size``... are node-graph looks, not time), and the nodes in the order the graph walk
  met them (a Grade put on one branch of a Merge reorders the Reads behind it). Renaming the plate's Read
  (``Read1`` -> ``plate_hero``), hiding a TimeOffset's input or inserting a Grade made every frame of the node
  refuse in the Viewer and a farm render, though no picture moved in time.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402

from samatte_nuke import farm, node as snode  # noqa: E402
# day 7's Nuke double set-up: a shot or two, the double with every matte current, a node aligned on a Source,
# the plate file each script frame reads back, shot A / B's Read + Roto
import test_qa_nuke_day7 as day7  # noqa: E402
from test_qa_nuke_day7 import _aligned_node, _roto_comp, _shown  # noqa: E402

nk, shot, shots = day7.nk, day7.shot, day7.shots   # its fixtures


def _aligned(nuke, source, tmp_path):
    g = _aligned_node(nuke, source, tmp_path)
    assert "/plate_" in farm.stored_job(g)["plate"]["path"]   # a rendered plate, numbered in script frames
    return g


def _graph_knobs(nuke, n):
    """Knobs every real Nuke node has (its look in the node graph), which the double leaves out."""
    for name in ("hide_input", "postage_stamp"):
        n.addKnob(nuke.Boolean_Knob(name, name, False))
    n.addKnob(nuke.Int_Knob("gl_color", "gl_color", 0))
    n.addKnob(nuke.Int_Knob("note_font_size", "note_font_size", 11))


def test_renaming_or_restyling_the_nodes_upstream_keeps_a_rendered_plates_mattes(nk, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    t_off = nk.nodes.TimeOffset()
    t_off.addKnob(nk.Int_Knob("time_offset", "time_offset", 0))
    _graph_knobs(nk, t_off)
    t_off.setInput(0, read)
    grade = nk.nodes.Grade()
    grade.setInput(0, t_off)
    g = _aligned(nk, grade, tmp_path)
    want = {1: 1, 2: 2, 3: 3, 4: 4}
    assert _shown(g, range(1, 5)) == want
    read.setName("plate_hero")                # before: every frame refused ("a Read's frame ... changed")
    assert _shown(g, range(1, 5)) == want
    t_off.setName("slip")
    t_off["hide_input"].setValue(True)
    t_off["postage_stamp"].setValue(True)
    t_off["gl_color"].setValue(0xFF0000FF)
    t_off["note_font_size"].setValue(20)
    assert _shown(g, range(1, 5)) == want
    # what does move the pictures in time still refuses
    t_off["time_offset"].setValue(2)
    assert all("Track & Matte" in v for v in _shown(g, range(1, 5)).values())


def test_a_grade_put_on_one_branch_of_a_merge_keeps_a_rendered_plates_mattes(nk, shot, tmp_path):
    fg = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    bg = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="offset", value=-1000)
    merge = nk.nodes.Merge2()
    merge.setInput(0, bg)
    merge.setInput(1, fg)
    g = _aligned(nk, merge, tmp_path)
    assert _shown(g, range(1, 5)) == {1: 1, 2: 2, 3: 3, 4: 4}
    bg_grade = nk.nodes.Grade()              # a pixel-only node, on the other branch
    bg_grade.setInput(0, bg)
    merge.setInput(0, bg_grade)
    # before: the walk met the Reads in the other order: every frame refused
    assert _shown(g, range(1, 5)) == {1: 1, 2: 2, 3: 3, 4: 4}
    bg["frame"].setValue("-998")             # the background slipped two frames: refused
    assert all("Track & Matte" in v for v in _shown(g, range(1, 5)).values())


# --- a SAMatte node pasted into an unsaved script (File > New) -----------------------------------------------


def _node_of_shot_a(nuke, a, tmp_path):
    """Shot A's saved script with a show-wide cache folder: its node built and read back (job.json written, as
    at the end of a Track & Matte). Returns (node, Read, job, info)."""
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "shA_v001.nk"))
    read, roto = _roto_comp(nuke, a["plate"], a["polygon"])
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "show_cache"))
    job, info = snode.build(g)
    snode._point_read(g, job, info)
    return g, read, job, info


@pytest.mark.parametrize("untitled", ["", "Root"])
def test_a_node_pasted_into_an_unsaved_script_on_another_plate_takes_its_own_folder(nk, shots, tmp_path, untitled):
    """Shot A's script (saved) has a cache folder set for the whole show; the artist copies its SAMatte node,
    File > New, pastes it and plugs in shot B before saving. Before, the unsaved script was taken as A's own
    (``_own_folder`` returned at once without a script path): B's Track & Matte wrote over A's mattes and its
    Clear cache deleted them, as for a saved shot B before day 7's fix."""
    a, b = shots
    g, read, job, info = _node_of_shot_a(nk, a, tmp_path)
    uid = g["samatte_uid"].value()
    nk.root()["name"].setValue(untitled)     # File > New: an unsaved script, the pasted node keeps A's uid
    read["file"].setValue(b["plate"])        # shot B's plate
    job2, info2 = snode.build(g)
    assert info2["folder"] != info["folder"] and g["samatte_uid"].value() != uid
    assert job2["name"] != job["name"]
    # its Clear cache leaves A's folder alone
    snode.on_clear_cache(g)
    assert os.path.exists(os.path.join(info["folder"], "job.json"))


def test_an_unsaved_script_on_the_same_plate_shares_the_folder(nk, shots, tmp_path):
    g, _, _, info = _node_of_shot_a(nk, shots[0], tmp_path)
    nk.root()["name"].setValue("")
    _, info2 = snode.build(g)
    assert info2["folder"] == info["folder"]


# --- numpy's bools given as frames or counts from Python ------------------------------------------------------


def test_numpy_bools_are_no_frames_and_no_counts():
    """``frames._whole`` refused Python's bool but took numpy's (``operator.index(np.True_)`` is 1): a TD's
    ``chunk=np.True_`` (a mask element) made chunks of 1, ``preroll=np.False_`` no pre-roll, and a boolean mask
    given as frames (``frames=mask`` for ``frames=frames[mask]``) became frames 0 and 1, which is the bug day 4
    fixed for ``True``. Now JOBSPEC_INVALID / FRAME_RANGE_INVALID, as for Python's bools."""
    np = pytest.importorskip("numpy")
    from samatte.errors import FrameRangeError, JobSpecError
    from samatte.frames import parse_frames, whole_number
    from samatte.farm.openjd import build_template
    for v in (np.True_, np.False_, np.array(True)):
        with pytest.raises(JobSpecError):
            whole_number(v, "chunk", minimum=0)
        with pytest.raises(FrameRangeError):
            parse_frames(v)
    with pytest.raises(FrameRangeError):
        parse_frames(np.array([True, False, True]))
    with pytest.raises(FrameRangeError):
        parse_frames([1001, np.True_])
    with pytest.raises(JobSpecError) as e:
        build_template({"frames": "1-4"}, chunk=np.True_)
    assert e.value.code == "JOBSPEC_INVALID" and "chunk" in e.value.message
    # numpy's integers are still whole numbers
    assert parse_frames(np.array([1002, 1001], dtype=np.int32)) == [1001, 1002]
    assert whole_number(np.int64(3), "preroll") == 3 and whole_number(np.uint8(10), "chunk", minimum=1) == 10


def test_an_appendclip_upstream_moved_in_time_refuses_a_rendered_plates_mattes(nk, shot, tmp_path):
    """AppendClip (Nuke's Time menu: its inputs one after another from ``firstFrame``) decides which picture
    the Source shows on each script frame, but was in no list of time nodes: its ``firstFrame`` moved by two
    after the run, script frame 3 showed the matte of the picture rendered there over the picture two frames
    earlier, with no message."""
    a = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    b = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    app = nk.nodes.AppendClip()
    app.addKnob(nk.Int_Knob("firstFrame", "First Frame", 1))
    _graph_knobs(nk, app)
    app.setInput(0, a)
    app.setInput(1, b)
    g = _aligned(nk, app, tmp_path)
    assert _shown(g, range(1, 5)) == {1: 1, 2: 2, 3: 3, 4: 4}
    app["postage_stamp"].setValue(True)      # its look: still read back
    assert _shown(g, range(1, 5)) == {1: 1, 2: 2, 3: 3, 4: 4}
    app["firstFrame"].setValue(3)            # the whole clip two frames later
    assert all("Track & Matte" in v for v in _shown(g, range(1, 5)).values())
