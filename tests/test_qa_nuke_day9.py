"""QA, Nuke day 9 (the Nuke double, the real samatte pipeline in-process on 4-frame 64x64 shots, ``shapes``
tracker): a compositor's ninth day: groups, gizmos, missing plate frames, old nodes.

* A Group (or gizmo) upstream of the Source (Read -> PlatePrep group {TimeOffset, Grade} -> SAMatte): the walk
  upstream stopped at the Group's edge, so a TimeOffset changed inside it was in no timing signature (the node
  kept showing each frame's old matte over another frame's picture, no message) and a Grade changed inside it
  was in no upstream hash (Track & Matte reused the plate rendered before the change). Now the walk enters a
  Group through its Output node: the inner TimeOffset is refused like one outside, the inner Grade re-renders.
* A SAMatte node inside a Group whose Source is the Group's Input: nothing above that Input counted, so another
  plate plugged into the Group read back the first plate's mattes with no message, and Track & Matte matted the
  first plate's render again (the same upstream hash). Now an Input node inside a Group leads to what is
  connected to the Group: refused, then a new render of the new plate.
* A plate delivered short of a frame, the Read's missing frames set to black (or checkerboard): the whole plate
  was rendered and Nuke's black frame matted as a plate frame (the tracker carried the object across it). Now
  that script frame is left out of the job (named in the Script Editor; the Read used directly when nothing else
  needs a render), the read-back shows no matte there, and Matte this frame there says FRAME_MISSING.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, job as jobmod, node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("day9")
    return (make_shot(str(d / "shA"), frames=4, size=(64, 64), first=1001),
            make_shot(str(d / "shB"), frames=4, size=(64, 64), first=1001, seed=7))


def _read_above(n):
    """The Read whose files reach ``n`` (through input 0, into Groups by their Output, out by their Input)."""
    while n.Class() != "Read":
        if n.Class() == "Input" and n._parent is not None and n._parent.Class() == "Group":
            n = n._parent.input(int(n["number"].value()))
        elif [c for c in n.nodes() if c.Class() == "Output"] and n.knob("samatte_node") is None:
            n = [c for c in n.nodes() if c.Class() == "Output"][0].input(0)
        else:
            n = n.input(0)
    return n


@pytest.fixture
def nk(tmp_path):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "shA_v001.nk"))
    farm._memo.clear()
    renders = []

    def render(w, first, last):   # the node's Write: the files of the Read above its Source, in script frames
        pattern = nuke.filename(_read_above(w.input(0)))
        renders.append(w["file"].value())
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if os.path.exists(pattern.replace("####", "%04d" % (t + 1000))):   # (Nuke: black for a missing one)
                shutil.copyfile(pattern.replace("####", "%04d" % (t + 1000)), out)
    nuke._set_render_hook(render)
    nuke._renders = renders
    yield nuke
    nuke._reset()


def _roto(nuke, on, polygon, name="Roto1"):
    roto = nuke.nodes.Roto(name=name)
    roto.setInput(0, on)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    return roto


def _read(plate):
    return nuke_env.make_read(plate, 1001, 1004, width=64, height=64, mode="start at", value=1)


def _track(g):
    from samatte import pipeline
    job, info = snode.build(g)
    res = pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    return job, res


def _shown(g, frames=range(1, 5)):
    farm._memo.clear()
    out = {}
    for t in frames:
        try:
            p = farm.frame_path(g, t)
        except farm.StaleFrameError as e:
            out[t] = str(e)
            continue
        out[t] = int(p.rsplit(".", 2)[-2]) if p else None
    return out


def _refused(got, node, *words):
    for t, what in got.items():
        assert isinstance(what, str), (t, what)
        assert "script frame %d of %s" % (t, node) in what and "Press Track & Matte on %s" % node in what, what
        for w in words:
            assert w in what, what


def _plate_prep(nuke, read):
    grp = nuke.nodes.Group(name="PlatePrep")
    grp.setInput(0, read)
    with grp:
        i = nuke.nodes.Input(name="Input1")
        i["number"].setValue(0)
        to = nuke.nodes.TimeOffset(name="TimeOffset1")
        to.setInput(0, i)
        gr = nuke.nodes.Grade(name="Grade1")
        gr.addKnob(nuke.Double_Knob("white", "gain", 1.0))
        gr.setInput(0, to)
        o = nuke.nodes.Output(name="Output1")
        o.setInput(0, gr)
    return grp, to, gr


def test_a_time_node_inside_a_group_upstream_is_in_the_timing_check(nk, shots):
    a, _ = shots
    read = _read(a["plate"])
    grp, to, gr = _plate_prep(nk, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grp)
    g.setInput(1, _roto(nk, grp, a["polygon"]))
    g["tracker"].setValue("shapes")
    _track(g)
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    gr["white"].setValue(1.3)          # a pixel-only change inside the group: still read back
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    to["time_offset"].setValue(2)      # the plate slipped two frames inside the group
    # before: the old mattes on every frame, each over another frame's picture, no message
    _refused(_shown(g), "SAMatte1", "no longer shows the frames", "time node")
    to["time_offset"].setValue(0)
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}


def test_a_change_inside_a_group_upstream_renders_the_plate_again(nk, shots):
    a, _ = shots
    read = _read(a["plate"])
    grp, to, gr = _plate_prep(nk, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grp)
    g.setInput(1, _roto(nk, grp, a["polygon"]))
    g["tracker"].setValue("shapes")
    job1, _ = _track(g)
    gr["white"].setValue(1.3)
    job2, info = snode.build(g)
    # before: the same plate_<hash> folder, the plate rendered before the grade reused (and its mattes)
    assert job2["plate"]["path"] != job1["plate"]["path"]
    assert len(nk._renders) == 2


def test_a_samatte_node_inside_a_group_sees_the_plate_plugged_into_the_group(nk, shots):
    a, b = shots
    read = _read(a["plate"])
    comp = nk.nodes.Group(name="Comp")
    comp.setInput(0, read)
    with comp:
        i = nk.nodes.Input(name="Input1")
        i["number"].setValue(0)
        gr = nk.nodes.Grade(name="Grade1")   # a plate the node renders
        gr.setInput(0, i)
        g = snode.create("SAMatte1")
        g.setInput(0, gr)
        g.setInput(1, _roto(nk, gr, a["polygon"]))
        g["tracker"].setValue("shapes")
        o = nk.nodes.Output(name="Output1")
        o.setInput(0, g)
    job1, res = _track(g)
    assert "/plate_" in job1["plate"]["path"]
    assert len(res["written"]) == 4
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    comp.setInput(0, _read(b["plate"]))     # shot B plugged into the group
    # before: shot A's mattes over shot B, no message
    _refused(_shown(g), "SAMatte1", "shows other plate files", b["plate"])
    job2, res2 = _track(g)
    # before: the same plate folder (its hash saw only the Input node): shot A's render matted again
    assert job2["plate"]["path"] != job1["plate"]["path"]
    assert len(res2["written"]) == 4
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    comp.setInput(0, read)
    _refused(_shown(g), "SAMatte1", "shows other plate files", a["plate"])


def test_graph_inputs_crosses_group_edges_both_ways(nk, shots):
    a, _ = shots
    read = _read(a["plate"])
    grp, to, gr = _plate_prep(nk, read)
    assert [n.name() for n in jobmod.graph_inputs(grp)] == ["Output1"]
    assert jobmod.graph_inputs(grp.node("Input1")) == [read]
    grp["disable"].setValue(True)      # a disabled group passes its input through
    assert jobmod.graph_inputs(grp) == [read]
    assert [n.name() for n in jobmod._upstream(gr)] == ["Grade1", "TimeOffset1", "Input1", read.name()]


@pytest.fixture
def holed(shots, tmp_path):
    """Shot A's plate with file 1003 missing (a delivery short of a frame)."""
    a, _ = shots
    d = tmp_path / "holed"
    d.mkdir()
    for f in (1001, 1002, 1004):
        shutil.copy2(a["plate"].replace("####", "%04d" % f), str(d / ("plate.%04d.exr" % f)))
    return str(d / "plate.####.exr")


@pytest.mark.parametrize("on_error", ["black", "checkerboard"])
@pytest.mark.parametrize("graded", [False, True])
def test_a_missing_plate_file_nuke_shows_black_for_is_not_matted(nk, shots, holed, on_error, graded):
    a, _ = shots
    read = _read(holed)
    read["on_error"].setValue(on_error)
    src = read
    if graded:
        src = nk.nodes.Grade()
        src.setInput(0, read)
    g = snode.create("SAMatte1")
    g.setInput(0, src)
    g.setInput(1, _roto(nk, src, a["polygon"]))
    g["tracker"].setValue("shapes")
    job, info = snode.build(g)
    # before: script frame 3 rendered (black) and matted as a plate frame, the track carried across it
    if graded:
        assert job["plate"]["frames"] == "1-2,4" and "/plate_" in job["plate"]["path"]
    else:   # the Read's own files, used directly (before: the whole plate rendered by Nuke)
        assert job["plate"]["frames"] == "1001-1002,1004" and job["plate"]["path"] == holed
        assert not nk._renders
    assert info["frames"] == [1, 2, 4]
    _, res = _track(g)
    assert len(res["written"]) == 3
    # the read-back: a matte on each frame with a plate, none where Nuke shows black
    assert _shown(g) == ({1: 1, 2: 2, 3: None, 4: 4} if graded else {1: 1001, 2: 1002, 3: None, 4: 1004})


def test_the_missing_frames_are_said_and_a_range_with_none_is_refused(nk, shots, holed, monkeypatch):
    from samatte.errors import SamatteError
    a, _ = shots
    read = _read(holed)
    read["on_error"].setValue("black")
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, _roto(nk, read, a["polygon"]))
    g["tracker"].setValue("shapes")
    said = []
    monkeypatch.setattr(snode, "_log", lambda group: said.append)
    snode.build(g)
    assert any("script frame 3" in s and "plate.1003.exr" in s and "'black'" in s and "not matted" in s
               for s in said), said
    g["range_mode"].setValue("custom")
    g["custom_range"].setValue("3")
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    assert e.value.code == "FRAME_MISSING" and "plate.1003.exr" in e.value.message
    read["on_error"].setValue("nearest frame")   # a picture of the plate: rendered as Nuke shows it, as before
    g["custom_range"].setValue("1-4")
    job, _ = snode.build(g)
    assert job["plate"]["frames"] == "1-4" and "/plate_" in job["plate"]["path"]
    # Matte this frame on the hole: said so (before: "outside the node's range", on a frame inside it)
    read["on_error"].setValue("black")
    nk.frame(3)
    assert snode.on_matte_frame(g) is None
    assert "FRAME_MISSING" in g["status"].value() and "plate.1003.exr" in g["status"].value()


def test_the_read_back_walks_the_comp_above_the_source_once_per_frame_and_sees_an_edit_at_once(nk, shots,
                                                                                               monkeypatch):
    a, _ = shots
    read = _read(a["plate"])
    grp, to, gr = _plate_prep(nk, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grp)
    g.setInput(1, _roto(nk, grp, a["polygon"]))
    g["tracker"].setValue("shapes")
    _track(g)
    walks = []
    real = jobmod._walk
    monkeypatch.setattr(jobmod, "_walk", lambda n: walks.append(n) or real(n))
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    # the timing and the plate signatures of one Source: one walk per evaluation (before: two)
    assert len(walks) == 4 and all(n == grp for n in walks)
    to["time_offset"].setValue(1)      # nothing kept between evaluations: refused on the next one
    _refused(_shown(g, [2]), "SAMatte1", "no longer shows the frames")


def test_a_per_view_read_set_to_black_is_still_refused_as_per_view(nk, shots):
    from samatte.errors import SamatteError
    a, _ = shots
    read = _read(a["plate"].replace("plate.####", "plate_%V.####"))
    read["on_error"].setValue("black")
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, _roto(nk, read, a["polygon"]))
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    # not FRAME_MISSING for files named per view: the per-view refusal, which says what to do (a OneView)
    assert e.value.code == "PLATE_INVALID" and "OneView" in e.value.message


@pytest.mark.parametrize("moved", [False, True])
def test_a_samatte_node_inside_a_group_finds_the_roto_plugged_into_the_group(nk, shots, moved):
    """Comp group {Input1 -> Source, Input2 -> Prompts}, fed a plate (through a Transform or not) and a Roto drawn
    on the Read outside. Before: PROMPT_INVALID 'no enabled Roto ... found upstream of the Prompts input'."""
    a, _ = shots
    read = _read(a["plate"])
    src = read
    if moved:
        src = nk.nodes.Transform()
        src.setInput(0, read)
        src["translate"].setValue([10, 0])
    roto = _roto(nk, read, a["polygon"])
    comp = nk.nodes.Group(name="Comp")
    comp.setInput(0, src)
    comp.setInput(1, roto)
    with comp:
        i1 = nk.nodes.Input(name="Input1")
        i1["number"].setValue(0)
        i2 = nk.nodes.Input(name="Input2")
        i2["number"].setValue(1)
        g = snode.create("SAMatte1")
        g.setInput(0, i1)
        g.setInput(1, i2)
        g["tracker"].setValue("shapes")
    job, info = snode.build(g)
    (ob,) = job["objects"]
    # (the Read itself is the plate when nothing moves it: file numbers; else the rendered plate: script frames)
    assert ob["host_name"] == "hero" and [p["frame"] for p in ob["prompts"]] == [2 if moved else 1002]
    xs = [pt[0] for pt in ob["prompts"][0]["points"]]
    want = [x + (10 if moved else 0) for x, _ in a["polygon"]]
    assert xs == pytest.approx(want)   # the Transform between the Read and the Group carried


def test_a_samatte_node_inside_a_group_fed_by_a_read_uses_its_files_directly(nk, shots):
    a, b = shots
    read = _read(a["plate"])
    comp = nk.nodes.Group(name="Comp")
    comp.setInput(0, read)
    with comp:
        i = nk.nodes.Input(name="Input1")
        i["number"].setValue(0)
        g = snode.create("SAMatte1")
        g.setInput(0, i)
        g.setInput(1, _roto(nk, i, a["polygon"]))
        g["tracker"].setValue("shapes")
    job, res = _track(g)
    # before: the whole plate rendered first into the cache (the Source, an Input node, is not a Read)
    assert job["plate"]["path"] == a["plate"] and job["plate"]["frames"] == "1001-1004" and not nk._renders
    assert _shown(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    read["frame"].setValue("3")          # the plate slipped in time outside the group: refused
    _refused(_shown(g), "SAMatte1", "Source %s no longer shows" % read.name())
    read["frame"].setValue("1")
    comp.setInput(0, _read(b["plate"]))  # another plate plugged into the group: refused, both named
    _refused(_shown(g), "SAMatte1", "reads %s" % b["plate"], "made on %s" % a["plate"])


def _old_node(nk, plate, polygon):
    """Read -> Grade -> SAMatte, tracked, then made like a node aligned by a samatte without the read-back's timing
    and plate checks (no samatte_timing / samatte_plate knobs)."""
    read = _read(plate)
    grade = nk.nodes.Grade()
    grade.addKnob(nk.Double_Knob("white", "gain", 1.0))
    grade.setInput(0, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grade)
    g.setInput(1, _roto(nk, grade, polygon))
    g["tracker"].setValue("shapes")
    _track(g)
    for name in ("samatte_timing", "samatte_plate"):
        g.removeKnob(g[name])
    snode.register_callbacks()     # menu.py, at start-up
    return read, grade, g


def test_an_old_node_opened_on_its_unchanged_graph_gets_the_read_back_checks(nk, shots):
    a, b = shots
    read, grade, g = _old_node(nk, a["plate"], a["polygon"])
    nk._script_loaded()            # the artist opens the script with this samatte
    assert g["samatte_timing"].value() and g["samatte_plate"].value()
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    read["frame"].setValue("3")    # the plate slipped in time: refused (before: the old mattes, no message)
    _refused(_shown(g), "SAMatte1", "no longer shows the frames")
    read["frame"].setValue("1")
    read["file"].setValue(b["plate"])   # another plate: refused (before: shot A's mattes over shot B)
    _refused(_shown(g), "SAMatte1", "shows other plate files", b["plate"])


def test_an_old_node_whose_graph_changed_before_it_was_opened_reads_back_as_before(nk, shots):
    a, _ = shots
    read, grade, g = _old_node(nk, a["plate"], a["polygon"])
    grade["white"].setValue(1.5)   # changed since the render (not known when: nothing is recorded)
    nk._script_loaded()
    assert g.knob("samatte_timing") is None and g.knob("samatte_plate") is None
    assert _shown(g) == {1: 1, 2: 2, 3: 3, 4: 4}
