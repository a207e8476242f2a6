"""QA, Nuke day 12 (the Nuke double, the real samatte pipeline in-process on 4-frame 64x64 shots, ``shapes``
tracker): a compositor's twelfth day.

* A Read routed to the SAMatte node's Source through a Dot (a tidy node graph), a NoOp or a node the artist
  disabled (a Grade switched off to compare) was taken for "anything else": Track & Matte rendered the whole plate
  into the cache first (a Write over every frame: minutes and gigabytes at 4K) and matted that half-float copy.
  And a Dot put in after a run (tidying the graph) made a new job (the rendered copy, frames in script numbers) that
  rendered the plate and re-matted every frame. These nodes show their input 0 as it is: the node now sees through
  them to the Read, whose files it uses as they are; a Dot in or out changes nothing of the job.
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
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day12")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path, shot):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "sh_v001.nk"))
    farm._memo.clear()
    renders = []

    def render(w, first, last):   # the node's Write: the Read's files (start at 1) in script frames
        renders.append((w["file"].value(), first, last))
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(shot["plate"].replace("####", "%04d" % (t + 1000)), out)
    nuke._set_render_hook(render)
    nuke._renders = renders
    yield nuke
    nuke._reset()


def _comp(nuke, shot):
    """Read (files 1001-1004 at script frames 1-4) -> Roto (layer 'hero') ; SAMatte1 with its Source on the Read."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, roto, g


def _tidy(nuke, read):
    """Read -> Dot -> NoOp -> Grade (disabled): what the Source shows is the Read's picture."""
    dot = nuke.nodes.Dot()
    dot.setInput(0, read)
    noop = nuke.nodes.NoOp()
    noop.setInput(0, dot)
    grade = nuke.nodes.Grade()
    grade.setInput(0, noop)
    grade["disable"].setValue(True)
    return dot, noop, grade


def _run(g):
    from samatte import pipeline
    job, info = snode.build(g)
    pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    return job


def test_a_read_through_a_dot_a_noop_and_a_disabled_node_is_used_as_it_is(nk, shot):
    read, roto, g = _comp(nk, shot)
    *_, grade = _tidy(nk, read)
    g.setInput(0, grade)
    job, info = snode.build(g)
    # before: plate <cache>/SAMatte1_<uid>/plate_<hash>/plate.####.exr, frames 1-4, after a render of every frame
    assert job["plate"]["path"] == shot["plate"] and job["plate"]["frames"] == "1001-1004"
    assert nk._renders == []
    assert info["offset"] == -1000 and info["frames"] == [1, 2, 3, 4]
    assert jobmod.source_node(g) == read


def test_a_dot_put_in_after_a_run_changes_nothing_of_the_job_and_the_mattes_read_back(nk, shot):
    read, roto, g = _comp(nk, shot)
    job = _run(g)
    before = [farm.frame_path(g, t) for t in range(1, 5)]
    assert all(p.endswith("matte.%04d.exr" % (t + 1000)) for t, p in zip(range(1, 5), before))
    dot, noop, grade = _tidy(nk, read)
    g.setInput(0, grade)
    farm._memo.clear()
    assert [farm.frame_path(g, t) for t in range(1, 5)] == before
    job2, _ = snode.build(g)
    assert job2 == job and nk._renders == []   # before: a render of the plate and a job whose every frame was new
    # each frame of the job is complete for the job built now: Track & Matte makes none again
    for f in range(1001, 1005):
        assert farm.frame_state(farm._stored(g)[1], f, fresh=True)[0] == "complete"


def test_a_node_that_changes_the_picture_or_is_disabled_on_some_frames_still_renders_the_plate(nk, shot):
    read, roto, g = _comp(nk, shot)
    *_, grade = _tidy(nk, read)
    g.setInput(0, grade)
    grade["disable"].setValue(False)              # the Grade on: another picture
    job, _ = snode.build(g)
    assert "plate_" in job["plate"]["path"] and len(nk._renders) == 1
    for t in (1, 2, 3, 4):                        # on on frames 3-4 only
        grade["disable"].setValueAt(0.0 if t >= 3 else 1.0, t)
    job, _ = snode.build(g)
    assert "plate_" in job["plate"]["path"]


def test_a_node_aligned_on_a_plate_rendered_through_a_dot_still_reads_back(nk, shot, monkeypatch):
    """A node whose last run rendered the plate through the Dot (before this change) keeps showing its mattes: the
    read-back now meets the Read, and its timing and plate checks still hold (a Dot moves nothing in time)."""
    read, roto, g = _comp(nk, shot)
    dot = nk.nodes.Dot()
    dot.setInput(0, read)
    g.setInput(0, dot)
    with monkeypatch.context() as m:
        m.setattr(jobmod, "_passes_through", lambda node: False, raising=False)   # the rule before this change
        job = _run(g)
    assert "plate_" in job["plate"]["path"] and len(nk._renders) == 1
    farm._memo.clear()
    paths = [farm.frame_path(g, t) for t in range(1, 5)]
    assert all(p.endswith("matte.%04d.exr" % t) for t, p in zip(range(1, 5), paths))


def _two_nodes(nuke, shot, *, via_dot):
    """Read1 -> Roto (layers 'hero', 'car'); SAMatte1 (hero) ; SAMatte2 (car) below it, its Source and Prompts
    dragged from SAMatte1, through Dots when ``via_dot`` (a tidy graph)."""
    read, roto, g = _comp(nuke, shot)
    layer = rp.Layer(roto["curves"], name="car")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 3, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g["skip_objects"].setValue("car")
    g2 = snode.create("SAMatte2")
    g2["tracker"].setValue("shapes")
    g2["skip_objects"].setValue("hero")
    src, prm = g, g
    if via_dot:
        src, prm = nuke.nodes.Dot(), nuke.nodes.Dot()
        src.setInput(0, g)
        prm.setInput(0, g)
    g2.setInput(0, src)
    g2.setInput(1, prm)
    return read, roto, g, g2


def test_a_second_node_s_prompts_through_a_dot_to_the_first_take_the_roto_it_lends(nk, shot):
    *_, direct = _two_nodes(nk, shot, via_dot=False)
    want, _ = snode.build(direct)
    nk._reset()
    farm._memo.clear()
    read, roto, g, g2 = _two_nodes(nk, shot, via_dot=True)
    # before: PROMPT_INVALID "no enabled Roto, RotoPaint or Tracker4 node found upstream of the Prompts input"
    job, _ = snode.build(g2)
    assert [o["name"] for o in job["objects"]] == ["car"]
    def bare(objects):   # (a prompt's label names its Roto node, another one in the second script)
        return [dict(o, prompts=[{k: v for k, v in q.items() if k != "label"} for q in o["prompts"]]) for o in objects]
    assert bare(job["objects"]) == bare(want["objects"])
    # and its Source through the Dot is Read1's files, as SAMatte1 reads them (before: SAMatte1's output rendered)
    assert job["plate"]["path"] == shot["plate"] and nk._renders == []


@pytest.mark.parametrize("typed, script", [
    ("1-2 4", [1, 2, 4]),                      # Nuke's parts separated by spaces (Foundry: Defining Frame Ranges)
    ("1 3 4", [1, 3, 4]),
    ("1-2x1 4-4x1", [1, 2, 4]),
    ("1-4\u00d72", [1, 3]),                    # the step as Foundry's page prints it
    ("1-2, 4", [1, 2, 4]),                     # samatte's own syntax, as before
    ("2 - 4", [2, 3, 4]),
])
def test_a_custom_range_typed_in_nuke_s_own_syntax_is_read(nk, shot, typed, script):
    read, roto, g = _comp(nk, shot)
    g["range_mode"].setValue("custom")
    g["custom_range"].setValue(typed)
    # before: FRAME_RANGE_INVALID "cannot parse frame range part '1-2 4'" for Nuke's syntax
    job, info = snode.build(g)
    assert info["frames"] == script
    from samatte.frames import parse_frames
    assert parse_frames(job["plate"]["frames"]) == [t + 1000 for t in script]


@pytest.mark.parametrize("typed, words", [("1-2 abc", "'abc'"), ("4-1 5", "'4-1' ends before it starts"),
                                          ("abc", "'abc'")])
def test_a_custom_range_neither_syntax_reads_is_still_frame_range_invalid_on_the_node(nk, shot, typed, words):
    read, roto, g = _comp(nk, shot)
    g["range_mode"].setValue("custom")
    g["custom_range"].setValue(typed)
    assert snode.on_track(g) is None
    status = g["status"].value()
    assert status.startswith("error [FRAME_RANGE_INVALID]") and words in status


def test_a_switch_that_picks_the_plate_is_seen_through_unless_its_which_is_animated(nk, shot):
    read, roto, g = _comp(nk, shot)
    other = nk.nodes.Constant(format=nk.Format(64, 64))
    sw = nk.nodes.Switch(which=1)             # (Foundry: Switch, knob which) the plate on input 1
    sw.setInput(0, other)
    sw.setInput(1, read)
    g.setInput(0, sw)
    g["range_mode"].setValue("custom")        # (the double's Switch has its input 0's range: the Constant's)
    g["custom_range"].setValue("1-4")
    job = _run(g)
    # before: the Switch's picture rendered into the cache and matted
    assert job["plate"]["path"] == shot["plate"] and nk._renders == []
    assert all(farm.frame_path(g, t).endswith("matte.%04d.exr" % (t + 1000)) for t in range(1, 5))
    sw["which"].setValue(0)                   # the other input picked: no matte of the plate over it
    farm._memo.clear()
    with pytest.raises(farm.StaleFrameError):
        farm.frame_path(g, 2)
    for t in (1, 2, 3, 4):                    # which animated: each frame may show another input
        sw["which"].setValueAt(1.0, t)
    job2, _ = snode.build(g)
    assert "plate_" in job2["plate"]["path"]


def _graded(nuke, shot, *, refine=False):
    """Read -> Grade -> SAMatte1 (the plate rendered into the cache), the Roto on the Read."""
    read, roto, g = _comp(nuke, shot)
    grade = nuke.nodes.Grade()
    grade.setInput(0, read)
    g.setInput(0, grade)
    if refine:
        g["roto_mode"].setValue(snode.REFINE_ONLY)
    return read, roto, g


@pytest.mark.parametrize("refine", [False, True], ids=["keyframes", "refine_only"])
def test_refresh_objects_renders_nothing(nk, shot, tmp_path, refine):
    read, roto, g = _graded(nk, shot, refine=refine)
    g["refresh"].execute()
    assert ("hero (hero): 1 prompt(s) on 2" if not refine else "every frame, refine only") in g["objects_info"].value()
    # before: the whole plate (and refine only's masks) rendered into the cache by a Refresh
    assert nk._renders == [] and not (tmp_path / "comp").exists()
    listed = snode.on_refresh(g)
    job, _ = snode.build(g)   # Track & Matte's job names the very files Refresh objects named
    assert listed == job and len(nk._renders) == (2 if refine else 1)


def test_a_prompt_error_behind_a_rendered_plate_is_said_before_anything_is_rendered(nk, shot, tmp_path):
    read, roto, g = _graded(nk, shot)
    g["skip_objects"].setValue("hero")
    assert snode.on_track(g) is None
    assert g["status"].value().startswith("error [PROMPT_INVALID] every object is left out by skip objects")
    assert nk._renders == [] and not (tmp_path / "comp").exists()   # before: the plate rendered, then the error


def _relative_comp(nuke, shot, tmp_path, *, project_dir="[python {nuke.script_directory()}]"):
    """The script saved next to the plate's folder, its Read's file relative ('plate/plate.####.exr'), the project
    directory set by the Project Settings' Script Directory button (or ``project_dir``)."""
    shot_dir = os.path.dirname(os.path.dirname(shot["plate"]))
    nuke.root()["name"].setValue(os.path.join(shot_dir, "comp_v001.nk"))
    nuke.root()["project_directory"].setValue(project_dir)
    read, roto, g = _comp(nuke, shot)
    read["file"].setValue(os.path.relpath(shot["plate"], shot_dir))
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return read, roto, g


def test_a_read_with_a_path_relative_to_the_project_directory_is_used_as_it_is(nk, shot, tmp_path):
    read, roto, g = _relative_comp(nk, shot, tmp_path)
    assert not os.path.isabs(read["file"].value())
    job = _run(g)
    # before: the whole plate rendered into the cache (Nuke resolves the relative path, the node did not)
    assert job["plate"]["path"] == shot["plate"] and nk._renders == []
    assert all(farm.frame_path(g, t).endswith("matte.%04d.exr" % (t + 1000)) for t in range(1, 5))


def test_a_relative_read_without_a_project_directory_is_rendered_as_before(nk, shot, tmp_path):
    read, roto, g = _relative_comp(nk, shot, tmp_path, project_dir="")
    job, _ = snode.build(g)
    assert "plate_" in job["plate"]["path"] and len(nk._renders) == 1


def test_a_node_aligned_on_a_relative_read_s_rendered_plate_still_reads_back(nk, shot, tmp_path, monkeypatch):
    read, roto, g = _relative_comp(nk, shot, tmp_path)
    with monkeypatch.context() as m:
        m.setattr(jobmod, "from_project", lambda path: path, raising=False)   # the rule before this change
        job = _run(g)
    assert "plate_" in job["plate"]["path"]
    farm._memo.clear()
    assert all(farm.frame_path(g, t).endswith("matte.%04d.exr" % t) for t in range(1, 5))


def test_a_node_aligned_on_a_plate_rendered_through_a_switch_of_two_reads_still_reads_back(nk, shot, monkeypatch):
    """Its timing was recorded for the Switch (both its inputs' Reads); the Source is now the Read the Switch shows:
    the timing of what is plugged in still counts as the node's, so its mattes read back until they change."""
    read, roto, g = _comp(nk, shot)
    other = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    other["after"].setValue("loop")           # (another Read: its own timing knobs)
    sw = nk.nodes.Switch(which=1)
    sw.setInput(0, other)
    sw.setInput(1, read)
    g.setInput(0, sw)
    g["range_mode"].setValue("custom")        # (the double's Switch has its input 0's range)
    g["custom_range"].setValue("1-4")
    with monkeypatch.context() as m:
        m.setattr(jobmod, "_passes_through", lambda node: None, raising=False)   # the rule before this change
        job = _run(g)
    assert "plate_" in job["plate"]["path"]
    farm._memo.clear()
    assert all(farm.frame_path(g, t).endswith("matte.%04d.exr" % t) for t in range(1, 5))
    read["frame"].setValue("2")               # the plate slipped in time: refused, as before
    farm._memo.clear()
    with pytest.raises(farm.StaleFrameError):
        farm.frame_path(g, 2)
