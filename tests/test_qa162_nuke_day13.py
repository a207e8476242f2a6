"""QA, Nuke day 13 (the Nuke double; 4-frame 64x64 shots, ``shapes`` tracker): a compositor's thirteenth day.

* A plate the node renders from the graph (Read -> Grade -> SAMatte: ``plate_<hash>/plate.####.exr``, written raw,
  i.e. in the project's working space) was named by the hash of the nodes upstream only. The values Nuke writes
  there also depend on the project's colour settings (Project Settings > Color: Nuke or OCIO colour management,
  the OCIO config, the working space, the default LUTs a Read on ``default`` uses; ``$OCIO``). After the show moved
  from nuke-default to an ACES config (or the working space changed, or the script was opened on a machine whose
  ``$OCIO`` names another config) Track & Matte rendered nothing: it reused the plate rendered in the old space
  and the job named it with the new one (five builds over four colour changes: one render, the job saying
  ``ACES - ACEScg`` of values written as linear Rec.709). The plate folder's hash now counts those settings.
* A name in **skip objects** that names no object (typed ``Hero`` for ``hero``, or ``hero car`` for ``hero, car``)
  left nothing out and was said only in the Script Editor: Track & Matte tracked and matted the object, and the
  node's status line said ``done`` with no word of it. It is now one of the build's warnings, on the status line.
* The artist's usual graph, Read -> Roto -> SAMatte (the node connects to the selected node: the Roto just drawn; its
  Prompts on the same Roto), rendered the whole plate into the cache before every job, though a Roto drawing into
  alpha only (its default output) shows its input's colours as they are. Worse, the plate's folder hash counted the
  Roto's shapes: every roto tweak (a key added) rendered the whole plate again into a new folder and matted every
  frame again (two builds, two renders, two folders). A Roto that draws into no colour channel (output without rgb,
  premultiply none, clip to not format) is now seen through to the Read; behind a Grade, the plate's hash starts at
  the node the Source shows, so a roto tweak reuses the rendered plate. The same for a Tracker4 whose transform is
  ``none`` (Read -> Tracker4 -> SAMatte: every track re-run rendered the plate again).
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
    return make_shot(str(tmp_path_factory.mktemp("day13")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path, shot, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
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
    """Read (files 1001-1004 at script frames 1-4) -> Grade -> SAMatte1 <- Roto (layer 'hero') on the Read."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    grade = nuke.nodes.Grade()
    grade.setInput(0, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grade)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, grade, g


def _plate_dir(job):
    return os.path.dirname(job["plate"]["path"])


def test_a_rendered_plate_is_rendered_again_after_the_project_s_colour_settings_change(nk, shot):
    read, grade, g = _comp(nk, shot)
    job, _ = snode.build(g)
    assert "/plate_" in job["plate"]["path"].replace("\\", "/") and len(nk._renders) == 1
    seen = {_plate_dir(job)}
    for knob, value in (("colorManagement", "OCIO"), ("OCIO_config", "aces_1.2"),
                        ("workingSpaceLUT", "ACES - ACEScg")):
        nk.root()[knob].setValue(value)
        job, _ = snode.build(g)
        # before: the same folder, nothing rendered (the plate of the old settings reused)
        assert _plate_dir(job) not in seen, knob
        seen.add(_plate_dir(job))
    assert len(nk._renders) == 4
    job2, _ = snode.build(g)                      # unchanged settings: the plate is reused, as before
    assert _plate_dir(job2) == _plate_dir(job) and len(nk._renders) == 4


def test_an_ocio_environment_naming_another_config_renders_the_plate_again(nk, shot, tmp_path, monkeypatch):
    """``$OCIO`` overrides the project's config (as in Nuke): a script opened where it names another config (another
    show's, another machine's) renders its plate again, in that config's working space; the same config file (by its
    content, whatever its path) reuses it."""
    read, grade, g = _comp(nk, shot)
    a = tmp_path / "a" / "config.ocio"
    a.parent.mkdir()
    a.write_text("ocio_profile_version: 1\nroles:\n  scene_linear: lin\n")
    monkeypatch.setenv("OCIO", str(a))
    job_a, _ = snode.build(g)
    b = tmp_path / "b" / "config.ocio"
    b.parent.mkdir()
    b.write_text("ocio_profile_version: 1\nroles:\n  scene_linear: acescg\n")
    monkeypatch.setenv("OCIO", str(b))
    job_b, _ = snode.build(g)
    assert _plate_dir(job_b) != _plate_dir(job_a) and len(nk._renders) == 2   # before: 1, the same folder
    monkeypatch.setenv("OCIO", str(a))
    assert _plate_dir(snode.build(g)[0]) == _plate_dir(job_a) and len(nk._renders) == 2


def test_a_source_read_used_as_it_is_is_not_rendered_whatever_the_colour_settings(nk, shot):
    read, grade, g = _comp(nk, shot)
    g.setInput(0, read)
    nk.root()["workingSpaceLUT"].setValue("ACES - ACEScg")
    job, _ = snode.build(g)
    assert job["plate"]["path"] == shot["plate"] and not nk._renders


def test_refresh_objects_names_the_folder_track_and_matte_renders(nk, shot):
    read, grade, g = _comp(nk, shot)
    nk.root()["workingSpaceLUT"].setValue("ACES - ACEScg")
    named, _ = snode.build(g, render=False)
    made, _ = snode.build(g)
    assert named["plate"]["path"] == made["plate"]["path"]
    assert os.path.basename(_plate_dir(made)) == "plate_%s" % jobmod.plate_hash(grade)


def _two_layers(nuke, shot):
    read, grade, g = _comp(nuke, shot)
    roto = g.input(1)
    car = rp.Layer(roto["curves"], name="car")
    car.append(nuke_env.polygon_shape(roto["curves"], [(2, 2), (12, 2), (7, 10)], 2, 64, name="Bezier2"))
    roto["curves"].rootLayer.append(car)
    g.setInput(0, read)
    return g


@pytest.mark.parametrize("typed", ["Hero", "hero car"])
def test_a_skip_objects_name_that_names_no_object_is_said_on_the_status_line(nk, shot, typed):
    g = _two_layers(nk, shot)
    g["skip_objects"].setValue(typed)
    job, info = snode.build(g)
    assert sorted(ob["name"] for ob in job["objects"]) == ["car", "hero"]    # nothing left out, as before
    (text,) = info["warnings"]                                                # before: no warning
    assert "skip objects: no object named %s" % typed in text and "the objects: hero, car" in text
    snode._show_result(g, job, info, {}, {"written": [1001], "skipped": []}, warnings=list(info["warnings"]))
    assert "1 warning(s), first: skip objects: no object named %s" % typed in g["status"].value()


def test_skip_objects_that_name_objects_warn_of_nothing(nk, shot):
    g = _two_layers(nk, shot)
    g["skip_objects"].setValue("car")
    job, info = snode.build(g)
    assert [ob["name"] for ob in job["objects"]] == ["hero"] and info["warnings"] == []


def _roto_source(nuke, shot):
    """Read -> Roto (layer 'hero'), the SAMatte node's Source and Prompts both on the Roto."""
    read, grade, g = _comp(nuke, shot)
    roto = g.input(1)
    g.setInput(0, roto)
    return read, roto, g


def _add_key(roto, shot, t, name):
    layer = list(roto["curves"].rootLayer)[0]
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], t, 64, name=name))


def test_a_roto_drawing_into_alpha_between_the_read_and_the_source_is_seen_through(nk, shot):
    read, roto, g = _roto_source(nk, shot)
    assert roto["output"].value() == "alpha"                     # the Roto's default
    job, info = snode.build(g)
    # before: plate_<hash>/plate.####.exr rendered from the Roto, a Write over every frame
    assert job["plate"]["path"] == shot["plate"] and not nk._renders
    assert info["offset"] == -1000 and job["plate"]["frames"] == "1001-1004"
    _add_key(roto, shot, 3, "Bezier2")                           # a roto tweak: the plate stays the Read's files
    job2, _ = snode.build(g)
    assert job2["plate"] == job["plate"] and not nk._renders
    assert sorted({q["frame"] for q in job2["objects"][0]["prompts"]}) == [1002, 1003]


@pytest.mark.parametrize("knob, value", [("output", "rgba"), ("output", "{rgba.red -rgba.green -rgba.blue rgba.alpha}"),
                                         ("premultiply", "rgb"), ("cliptype", "format"), ("disable_keyed", None)])
def test_a_roto_that_changes_the_colours_still_renders_the_plate(nk, shot, knob, value):
    read, roto, g = _roto_source(nk, shot)
    if knob == "disable_keyed":
        roto["disable"].setValueAt(1.0, 1)
        roto["disable"].setValueAt(0.0, 2)
    else:
        roto[knob].setValue(value)
    job, _ = snode.build(g)
    assert "/plate_" in job["plate"]["path"].replace("\\", "/") and len(nk._renders) == 1


def test_a_rotopaint_is_never_seen_through(nk, shot):
    read, grade, g = _comp(nk, shot)
    paint = nk.nodes.RotoPaint()
    paint.setInput(0, read)
    assert paint["output"].value() == "rgba"                     # its default: paint strokes change the colours
    g.setInput(0, paint)
    job, _ = snode.build(g)
    assert "/plate_" in job["plate"]["path"].replace("\\", "/") and len(nk._renders) == 1


def test_a_roto_tweak_behind_a_grade_reuses_the_rendered_plate(nk, shot):
    read, grade, g = _comp(nk, shot)
    roto = g.input(1)
    roto.setInput(0, grade)
    g.setInput(0, roto)                                           # Read -> Grade -> Roto -> SAMatte
    job, _ = snode.build(g)
    assert "/plate_" in job["plate"]["path"].replace("\\", "/") and len(nk._renders) == 1
    _add_key(roto, shot, 3, "Bezier2")
    job2, _ = snode.build(g)
    # before: another plate folder (the hash counted the Roto's shapes) and the whole plate rendered again
    assert job2["plate"]["path"] == job["plate"]["path"] and len(nk._renders) == 1
    grade["disable"].setValue(True)                               # (the Grade off: the Read's files, as they are)
    assert snode.build(g)[0]["plate"]["path"] == shot["plate"]


def _run(g):
    from samatte import pipeline
    job, info = snode.build(g)
    pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    return job


def test_the_mattes_of_a_read_seen_through_a_roto_read_back(nk, shot):
    from samatte.demo import read_alpha
    read, roto, g = _roto_source(nk, shot)
    job = _run(g)
    assert job["plate"]["path"] == shot["plate"]
    paths = [farm.frame_path(g, t) for t in range(1, 5)]
    assert all(p.endswith("matte.%04d.exr" % (t + 1000)) for t, p in zip(range(1, 5), paths))
    assert float(read_alpha(paths[1]).max()) > 0.5


def test_a_node_aligned_on_a_plate_rendered_through_the_roto_still_reads_back(nk, shot, monkeypatch):
    """A node whose last run rendered the plate from the Roto (before this change) keeps showing its mattes: the
    read-back now meets the Read, and its timing and plate checks still hold (a Roto moves nothing in time)."""
    read, roto, g = _roto_source(nk, shot)
    with monkeypatch.context() as m:
        m.setattr(jobmod, "_keeps_rgb", lambda node: None)        # the rule before this change
        job = _run(g)
    assert "/plate_" in job["plate"]["path"].replace("\\", "/") and len(nk._renders) == 1
    farm._memo.clear()
    paths = [farm.frame_path(g, t) for t in range(1, 5)]
    assert all(p.endswith("matte.%04d.exr" % t) for t, p in zip(range(1, 5), paths))


def _tracker_source(nuke, shot, transform="none"):
    """Read -> Tracker4 (one track 'hero/eye' on the object, files 1001-1004 at script frames 1-4) -> SAMatte, its
    Prompts on the Tracker4."""
    read, grade, g = _comp(nuke, shot)
    tr = nuke.nodes.Tracker4()
    tr.setInput(0, read)
    tr["transform"].setValue(transform)
    X, Y = shot["polygon"][0]
    cx = sum(p[0] for p in shot["polygon"]) / len(shot["polygon"])
    cy = sum(p[1] for p in shot["polygon"]) / len(shot["polygon"])
    tr["tracks"]._add_track("hero/eye", {t: (cx, 64 - cy) for t in (1, 2, 3, 4)})
    g.setInput(0, tr)
    g.setInput(1, tr)
    return read, tr, g


def test_a_tracker_that_does_not_transform_is_seen_through_and_a_track_re_run_renders_nothing(nk, shot):
    read, tr, g = _tracker_source(nk, shot)
    job, _ = snode.build(g)
    assert job["plate"]["path"] == shot["plate"] and not nk._renders     # before: the plate rendered
    tr["tracks"]._add_track("hero/ear", {2: (20, 40), 3: (21, 40)})         # tracked again, more tracks
    job2, _ = snode.build(g)
    assert job2["plate"] == job["plate"] and not nk._renders
    assert [len(q["points"]) for q in job2["objects"][0]["prompts"]] == [1, 2, 2, 1]


def test_a_tracker_that_moves_the_picture_is_not_seen_through(nk, shot):
    for transform in ("stabilize", "match-move"):
        read, tr, g = _tracker_source(nk, shot, transform=transform)
        assert jobmod.source_node(g) == tr and jobmod._keeps_rgb(tr) is None
    tr["transform"].setValue("none")
    assert jobmod.source_node(g) == read
