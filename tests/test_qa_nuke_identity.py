"""QA: how the Nuke adapter tells nodes apart while it walks the comp.

Real Nuke hands out a new Python wrapper of a node from each ``input()``, ``nuke.toNode()``, ``allNodes()``,
``nodes()``, ``dependencies()`` call (wrappers of one node compare equal with ``==``; ``is`` and ``id()`` tell
them apart, and a freed wrapper's id may be reused by another node's). The double does so with
``nuke.FRESH_WRAPPERS`` (tests/nuke/nuke/__init__.py). The adapter keyed its walks by ``id()``: a node reached
by two paths was visited twice (a comp of Merges sharing their inputs once per path, cut at 20000 nodes, the Read
above them never reached), a chain of Grades above a Roto lost the Roto (a freed Grade wrapper's id reused by the
Roto's) and ``one_walk``'s memo never hit. Now every walk keys nodes by ``convert.node_key`` (the full name).
"""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402

from samatte_nuke import convert, gather  # noqa: E402
from samatte_nuke import job as jobmod  # noqa: E402


@pytest.fixture
def nk(monkeypatch):
    nuke = nuke_env.fresh()
    monkeypatch.setattr(nuke, "FRESH_WRAPPERS", True)
    return nuke


def test_the_double_hands_out_a_fresh_wrapper_equal_to_the_node(nk):
    read = nk.nodes.Read(name="Read1")
    grade = nk.nodes.Grade(name="Grade1")
    grade.setInput(0, read)
    a, b = grade.input(0), nk.toNode("Read1")
    assert a is not b and a == b and a == read and a != grade
    assert a.name() == "Read1" and a.fullName() == "Read1"
    a["label"].setValue("seen through another wrapper")   # (one node behind every wrapper)
    assert b["label"].value() == "seen through another wrapper"
    assert grade.dependencies() == [read] and read.dependent() == [grade]


def _diamond(nk, levels, top):
    """``levels`` Merges, each with both inputs on the one below (2**levels paths down to ``top``)."""
    prev = top
    for i in range(levels):
        m = nk.nodes.Merge2(name="Over%d" % (i + 1))
        m.setInput(0, prev)
        m.setInput(1, prev)
        prev = m
    return prev.name()


def test_a_comp_of_30_merges_sharing_their_inputs_is_walked_once_and_reaches_the_read(nk):
    read = nuke_env.make_read("/shots/a/plate.####.exr", 1001, 1004, width=64, height=64)
    read.setName("Plate")
    end = _diamond(nk, 30, nk.toNode("Plate"))
    t0 = time.perf_counter()
    up = jobmod._upstream(nk.toNode(end))
    took = time.perf_counter() - t0
    # before: 20000 nodes walked (the cap), the Read never reached: not in the plate signature / hashes
    assert len(up) == 31 and up[-1].name() == "Plate", len(up)
    assert took < 0.5, took
    assert [s[0] for s in jobmod.plate_signature(nk.toNode(end))] == ["Plate"]


def test_a_chain_of_grades_above_a_roto_keeps_the_roto(nk):
    """A freed wrapper's id reused by the next node's wrapper: before, the Roto at the top of a plain chain of
    Grades was skipped (no prompts, no job)."""
    prev = nk.nodes.Roto(name="Roto1")
    for i in range(6):
        g = nk.nodes.Grade(name="Grade%d" % i)
        g.setInput(0, prev)
        prev = g
    start = nk.toNode(prev.name())
    assert [n.name() for n in gather.prompt_nodes(start)] == ["Roto1"]
    assert [n.name() for n, _t in gather.prompt_sources(start)] == ["Roto1"]


def test_a_roto_reached_by_two_paths_is_one_prompt_node(nk):
    roto = nk.nodes.Roto(name="Roto1")
    a, b = nk.nodes.Grade(name="GradeA"), nk.nodes.Grade(name="GradeB")
    a.setInput(0, roto)
    b.setInput(0, roto)
    m = nk.nodes.Merge2(name="Merge1")
    m.setInput(0, a)
    m.setInput(1, b)
    start = nk.toNode("Merge1")
    # before: [Roto1, Roto1] (its shapes prompted twice: a second object 'hero_2')
    assert [n.name() for n in gather.prompt_nodes(start)] == ["Roto1"]
    assert [n.name() for n, _t in gather.prompt_sources(start)] == ["Roto1"]
    # and behind a diamond of 12 Merges (4096 paths; before: cut at 500 nodes, the Roto never reached)
    end = _diamond(nk, 12, nk.toNode("Merge1"))
    assert [n.name() for n in gather.prompt_nodes(nk.toNode(end))] == ["Roto1"]


def test_one_walk_walks_a_source_once_whatever_wrapper_names_it(nk, monkeypatch):
    read = nk.nodes.Read(name="Read1")
    grade = nk.nodes.Grade(name="Grade1")
    grade.setInput(0, read)
    walks = []
    real = jobmod._walk
    monkeypatch.setattr(jobmod, "_walk", lambda n: walks.append(n.name()) or real(n))
    with jobmod.one_walk():
        first = jobmod._upstream(nk.toNode("Grade1"))
        again = jobmod._upstream(nk.toNode("Grade1"))
    assert walks == ["Grade1"] and [n.name() for n in again] == [n.name() for n in first] == ["Grade1", "Read1"]
    jobmod._upstream(nk.toNode("Grade1"))        # (nothing kept after the block)
    assert walks == ["Grade1", "Grade1"]


def test_node_key_is_the_full_name(nk):
    grp = nk.nodes.Group(name="Group1")
    with grp:
        inner = nk.nodes.Read(name="Read1")
    top = nk.nodes.Read(name="Read1")
    assert convert.node_key(inner) == "Group1.Read1" and convert.node_key(top) == "Read1"
    assert convert.node_key(nk.toNode("Group1.Read1")) == convert.node_key(grp.node("Read1"))
    stand_in = object()
    assert convert.node_key(stand_in) == convert.node_key(stand_in) != convert.node_key(object())


def test_to_node_resolves_a_name_in_the_current_group_context(nk):
    grp = nk.nodes.Group(name="Group1")
    with grp:
        blur = nk.nodes.Blur(name="Blur1")
    assert nk.toNode("Group1.Blur1") == blur and nk.toNode("Blur1") is None
    with grp:
        assert nk.toNode("Blur1") == blur and nk.toNode("Group1") is None
        assert nk.toNode("root.Group1.Blur1") == blur and nk.toNode("root.Group1") == grp


def test_a_group_input_finds_its_group_from_inside_a_group_context(nk):
    """``convert.group_input`` looked its Group up by the relative full name: evaluated inside a Group context
    (a knob of the SAMatte group read, a ``with group:`` block) it found nothing, and the walk stopped at the
    Group's Input: the Read plugged into the Group was in no hash and no check."""
    read = nuke_env.make_read("/shots/a/plate.####.exr", 1001, 1004, width=64, height=64)
    read.setName("Plate")
    grp = nk.nodes.Group(name="Group1")
    grp.setInput(0, read)
    with grp:
        inp = nk.nodes.Input(name="Input1", number=0)
        grade = nk.nodes.Grade(name="Grade1")
        grade.setInput(0, inp)
    assert convert.group_input(nk.toNode("Group1.Input1")) == read
    with grp:
        assert convert.group_input(nk.toNode("Input1")) == read
        names = [n.name() for n in jobmod._upstream(nk.toNode("Grade1"))]
    assert names == ["Grade1", "Input1", "Plate"], names


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("identity") / "sh"), frames=4, size=(64, 64), first=1001)


def test_a_samatte_node_in_a_group_builds_its_job_from_its_own_button_context(nk, shot, tmp_path):
    """SAMatte1 inside a comp Group, fed through the Group's Inputs. Its buttons run inside its own Group context
    (``nuke.thisGroup()`` is the node): there the Group's Input looked 'Comp' up relative to it, found nothing,
    and the walk saw nothing above the Input (before: PLATE_INVALID "connect a plate to the Source input", a plate
    connected)."""
    from samatte_nuke import node as snode
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nk.nodes.Roto(name="Roto1")
    roto.setInput(0, read)
    layer = nuke_env.rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    comp = nk.nodes.Group(name="Comp")
    comp.setInput(0, read)
    comp.setInput(1, roto)
    with comp:
        nk.nodes.Input(name="Input1", number=0)
        nk.nodes.Input(name="Input2", number=1)
        g = snode.create("SAMatte1")
        g.setInput(0, nk.toNode("Input1"))
        g.setInput(1, nk.toNode("Input2"))
        g["tracker"].setValue("shapes")
    with nk.toNode("Comp.SAMatte1"):           # (as while one of its knobs or buttons runs)
        job, _info = snode.build(nk.toNode("root.Comp.SAMatte1"))
    (ob,) = job["objects"]
    assert ob["host_name"] == "hero" and [p["frame"] for p in ob["prompts"]] == [1002]
    assert job["plate"]["path"].startswith(os.path.dirname(shot["plate"]))


VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")


@pytest.mark.skipif(not os.path.exists(VENV_PY), reason="the project venv is needed")
def test_a_job_s_events_reach_its_node_while_the_artist_works_inside_another_group(nk, shot, tmp_path, monkeypatch):
    """The job's events come through ``executeInMainThread`` in whatever Group context is current (the artist
    inside a Group's node graph). ``node._node_of`` looked the node up by a relative name and among the current
    Group's nodes: it found none, took the node for deleted and cancelled the job (before: outcome ('failed',
    'CANCELLED', 'job cancelled'), the node's status line never told)."""
    from samatte_nuke import node as snode, runner as srunner
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
        roto = nk.nodes.Roto(name="Roto1")
        roto.setInput(0, read)
        layer = nuke_env.rp.Layer(roto["curves"], name="hero")
        layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
        roto["curves"].rootLayer.append(layer)
        g = snode.create("SAMatte1")
        g.setInput(0, read)
        g.setInput(1, roto)
        g["tracker"].setValue("shapes")
        other = nk.nodes.Group(name="Other")
        with other:
            nk.nodes.Blur(name="Blur1")
        r = snode.on_track(g)
        with other:                               # (the artist inside Other's node graph while the job runs)
            outcome = nuke_env.wait_runner(nk, r, 120)
        assert outcome[0] == "done", outcome
        assert g["status"].value().startswith("done"), g["status"].value()
    finally:
        pool.close_all()
