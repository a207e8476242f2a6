"""QA, Nuke day 11 (the Nuke double; 4-frame 64x64 shots, ``shapes`` tracker): a compositor's eleventh day.

* A script opened from a place this machine cannot write (a published or another artist's folder: the node's
  default cache folder is ``samatte_cache`` next to the script), or a cache folder knob naming a read-only share
  or a path with a file in the way: Export JobSpec, and Track & Matte on a Source whose plate the node renders
  (a Grade above the Read), raised Python's OSError as it was (``NotADirectoryError`` / ``PermissionError``): a
  traceback in the Script Editor, the node's status line untold, no stable code. Now OUTPUT_INVALID on the
  status line, naming the folder and what to set, before anything is rendered.
* Clear cache while a file in the cache folder is open elsewhere (a farm render reading a matte over NFS, which
  keeps a ``.nfs`` file so the folder cannot be removed; Windows refuses to delete an open file), or on a shared
  cache without permission: ``shutil.rmtree``'s OSError went up as it was (a traceback, the status untold). Now
  OUTPUT_INVALID naming the folder and the file; the node keeps its read-back (a frame already deleted says it is
  missing and what makes it).
* Two SAMatte nodes one below the other (Read1 -> SAMatte1 -> SAMatte2: one per object, or per setting, sharing
  the Roto drawn on Read1 with skip objects): SAMatte2 was refused (PROMPT_INVALID "the Source shows Read1 through
  more than one path": SAMatte1's Prompts input walked as if SAMatte1 showed its picture, and a SAMatte node counted
  as a node that may move pixels); a Roto drawn on SAMatte1 as the message advised was refused all the same
  (SAMatte1's own Prompts roto gathered as SAMatte2's prompt node). Now a SAMatte node shows its Source's picture
  only and moves no pixel. And SAMatte1's status line, objects text and scores were in SAMatte2's plate hash: a
  Refresh objects, a Release GPU or any progress of SAMatte1's job made SAMatte2 render its whole plate again into
  another folder and re-matte every frame; they are words, not pixels, and are left out.
* And SAMatte2 rendered SAMatte1's output into its cache as its plate (a whole copy of Read1; a render Nuke refuses
  while any frame of SAMatte1 is stale, i.e. after every roto tweak there), hashed with SAMatte1's job: each run of
  SAMatte1 made SAMatte2 render it again and re-matte every frame. SAMatte1's output is its Source's picture, its
  mattes added as channels samatte does not read: SAMatte2 now sees through it (job.source_node) and reads Read1's
  files as SAMatte1 does; its read-back checks Read1.
"""
import errno
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day11")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path, monkeypatch):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "published" / "sh_v001.nk"))
    farm._memo.clear()
    renders = []
    nuke._set_render_hook(lambda w, first, last: renders.append((w["file"].value(), first, last)))
    nuke._renders = renders
    monkeypatch.setenv("SAMATTE_PYTHON", sys.executable)
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    snode.RUNNERS.clear()
    yield nuke
    nuke._reset()


def _comp(nuke, shot):
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


@pytest.fixture
def read_only_script_folder(tmp_path, monkeypatch):
    """The script's folder as a read-only share looks to its user (the tests run as any user, root included):
    making a folder inside it fails with EACCES."""
    ro = str(tmp_path / "published")
    real = os.makedirs

    def makedirs(path, *a, **kw):
        if os.path.abspath(str(path)).startswith(ro + os.sep):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *a, **kw)
    monkeypatch.setattr(os, "makedirs", makedirs)
    return ro


def _refused(g, *words):
    st = g["status"].value()
    assert st.startswith("error [OUTPUT_INVALID] cannot make the cache folder "), st
    assert "set the node's cache folder" in st, st
    for w in words:
        assert w in st, st


def test_export_jobspec_with_a_file_in_the_cache_folder_s_way_says_output_invalid(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot)
    (tmp_path / "cache").write_text("not a folder")
    g["cache_dir"].setValue(str(tmp_path / "cache" / "sub"))
    # before: NotADirectoryError raised out of the button, the status line still 'not run yet'
    g["export"].execute()
    _refused(g, "Not a directory", str(tmp_path / "cache" / "sub"))
    assert not g["samatte_job"].value()          # nothing stored: the read-back is not pointed anywhere


def test_export_jobspec_of_a_script_in_a_read_only_folder_says_output_invalid(nk, shot, read_only_script_folder):
    read, roto, g = _comp(nk, shot)
    assert snode.on_export(g) is None           # before: PermissionError out of the button
    _refused(g, "Permission denied", os.path.join(read_only_script_folder, "samatte_cache"))


def test_track_and_matte_on_a_rendered_plate_in_a_read_only_folder_is_refused_before_rendering(
        nk, shot, read_only_script_folder):
    read, roto, g = _comp(nk, shot)
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g.setInput(0, grade)                         # the plate is rendered into the cache folder first
    assert snode.on_track(g) is None             # before: PermissionError out of the button
    _refused(g, "Permission denied", os.path.join(read_only_script_folder, "samatte_cache"))
    assert nk._renders == []                     # nothing rendered
    assert not snode.RUNNERS                     # no job started


def test_a_writable_cache_folder_is_as_before(nk, shot, tmp_path):
    read, roto, g = _comp(nk, shot)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    path = snode.on_export(g)
    assert path and os.path.isfile(path) and g["status"].value().startswith("exported ")


# --- Clear cache that cannot delete everything ----------------------------------------------------------------
def _tracked(nuke, shot, tmp_path):
    from samatte import pipeline
    read, roto, g = _comp(nuke, shot)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job, info = snode.build(g)
    pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    return g, info["folder"]


def test_clear_cache_that_cannot_delete_a_file_says_so_and_keeps_the_read_back(nk, shot, tmp_path, monkeypatch):
    """A farm render (or another artist's Nuke) reads frame 1002 over NFS while the artist presses Clear cache: the
    client keeps a .nfs file for it, and the folder cannot be removed (EBUSY). shutil.rmtree had deleted 1001."""
    import errno
    import shutil
    g, folder = _tracked(nk, shot, tmp_path)
    frames_dir = os.path.join(folder, "matte")

    def rmtree(path, *a, **kw):
        os.remove(os.path.join(frames_dir, "matte.1001.exr"))
        raise OSError(errno.EBUSY, "Device or resource busy", os.path.join(frames_dir, ".nfs000000000123"))
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    snode.on_clear_cache(g)                      # before: OSError out of the button, the status line untold
    st = g["status"].value()
    assert st.startswith("error [OUTPUT_INVALID] Clear cache could not delete all of %s" % folder), st
    assert "Device or resource busy" in st and ".nfs000000000123" in st and "press Clear cache again" in st, st
    # the node still reads back what is left; the frame deleted says what makes it again
    assert g["samatte_job"].value() and not g.node("samatte_copy")["disable"].value()
    assert farm.frame_path(g, 2).endswith("matte.1002.exr")
    with pytest.raises(farm.StaleFrameError) as e:
        farm.frame_path(g, 1)
    assert "frame 1001 (script frame 1) of SAMatte1 is missing in the cache; make it with" in str(e.value)


def test_clear_cache_that_can_delete_all_is_as_before(nk, shot, tmp_path):
    g, folder = _tracked(nk, shot, tmp_path)
    snode.on_clear_cache(g)
    assert g["status"].value() == "cache cleared" and not os.path.exists(folder)
    assert not g["samatte_job"].value() and g.node("samatte_copy")["disable"].value()


# --- a SAMatte node below another (one per object, or per setting: Read -> SAMatte1 -> SAMatte2) ----------------
def _two_layer_roto(nuke, shot, on, names=("hero", "car")):
    roto = nuke.nodes.Roto()
    roto.setInput(0, on)
    for i, name in enumerate(names):
        layer = rp.Layer(roto["curves"], name=name)
        poly = [(x + 3 * i, y) for x, y in shot["polygon"]]
        layer.append(nuke_env.polygon_shape(roto["curves"], poly, 2, 64, name="Bezier_%s" % name))
        roto["curves"].rootLayer.append(layer)
    return roto


def _chain(nuke, shot, roto2_on=None, grade=False):
    """Read1 -> SAMatte1 (Prompts Roto1: 'hero' and 'car', car skipped) -> SAMatte2 (car; Prompts Roto1, hero
    skipped, or ``roto2_on``: a Roto 'car' drawn on SAMatte1, or "free": one with no input). ``grade``: a Grade
    between Read1 and SAMatte1 (a plate the nodes render)."""
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = _two_layer_roto(nuke, shot, read)
    g1 = snode.create("SAMatte1")
    if grade:
        gr = nuke.nodes.Grade()
        gr.setInput(0, read)
        g1.setInput(0, gr)
    else:
        g1.setInput(0, read)
    g1.setInput(1, roto)
    g1["skip_objects"].setValue("car")
    g2 = snode.create("SAMatte2")
    g2.setInput(0, g1)
    if roto2_on is None:
        g2.setInput(1, roto)
        g2["skip_objects"].setValue("hero")
    else:
        g2.setInput(1, _two_layer_roto(nuke, shot, g1 if roto2_on == "SAMatte1" else None, names=("car",)))
    for g in (g1, g2):
        g["tracker"].setValue("shapes")
    return read, roto, g1, g2


def _prompts(job, name):
    (ob,) = [o for o in job["objects"] if o["name"] == name]
    return ob["prompts"]


def test_a_second_samatte_node_below_the_first_takes_the_roto_both_share(nk, shot):
    read, roto, g1, g2 = _chain(nk, shot)
    job1, _ = snode.build(g1)
    # before: PROMPT_INVALID "Roto1 is drawn on Read1, which the Source (SAMatte1) shows through SAMatte1 (Group):
    # the Source shows Read1 through more than one path" (SAMatte1's Prompts input taken for a path to its picture)
    job2, info2 = snode.build(g2)
    assert [o["name"] for o in job1["objects"]] == ["hero"]
    assert [o["name"] for o in job2["objects"]] == ["car"]
    # the car's shape where SAMatte1 would put it: SAMatte1 shows Read1's pixels where Read1 has them
    g1["skip_objects"].setValue("hero")
    job1car, _ = snode.build(g1)
    assert _prompts(job2, "car") == _prompts(job1car, "car")


def test_a_roto_drawn_on_the_first_samatte_node_gives_the_second_its_own_shapes_only(nk, shot):
    """The error's own advice (connect the roto to SAMatte1): before, refused all the same, SAMatte1's Prompts roto
    gathered as a prompt node of SAMatte2 (walked through SAMatte1's Prompts input, whose shapes SAMatte1 does not
    draw)."""
    read, roto, g1, g2 = _chain(nk, shot, roto2_on="SAMatte1")
    job2, _ = snode.build(g2)
    assert [o["name"] for o in job2["objects"]] == ["car"]
    assert len(_prompts(job2, "car")) == 1


def test_the_first_node_s_status_and_objects_text_do_not_render_the_second_node_s_plate_again(nk, shot):
    import shutil
    made = []

    def render(w, first, last):   # the Write renders what SAMatte1 shows: Read1's files, in script frames
        made.append(w["file"].value())
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(shot["plate"].replace("####", "%04d" % (t + 1000)), out)
    nk._set_render_hook(render)

    def mine():   # SAMatte2's renders (a Refresh objects on SAMatte1 renders its own plate)
        return [m for m in made if "%sSAMatte2_" % os.sep in m]
    # (a Grade above SAMatte1: both render their plate; a roto with no input: drawn over what is viewed)
    read, roto, g1, g2 = _chain(nk, shot, roto2_on="free", grade=True)
    job, _ = snode.build(g2)
    assert len(mine()) == 1
    # what changes SAMatte1's words, not its picture: a Refresh objects, a Release GPU, its job's progress, scores
    snode.on_refresh(g1)
    g1["status"].setValue("running: matte 52%")
    g1["status"].setValue("GPU released (1 worker(s))")
    g1["samatte_scores"].setValue(farm.encode_state({"1001": 0.9}))
    again, _ = snode.build(g2)
    # before: a new plate_<hash> folder after each of these, the whole plate rendered again and every frame re-matted
    assert again["plate"]["path"] == job["plate"]["path"] and len(mine()) == 1
    # what may change the picture still does: a knob of SAMatte1's job, a Read upstream
    read["colorspace"].setValue("sRGB")
    moved, _ = snode.build(g2)
    assert moved["plate"]["path"] != job["plate"]["path"] and len(mine()) == 2


def test_the_second_node_reads_the_plate_the_first_reads_and_keeps_it_when_the_first_runs_again(nk, shot):
    """SAMatte1's output is its Source's picture (its mattes added as channels samatte does not read): SAMatte2
    reads Read1's files as SAMatte1 does. Before: it rendered SAMatte1's output into its own cache (a whole copy
    of the plate; Nuke refuses that render while any frame of SAMatte1 is stale, i.e. after each roto tweak on
    it), under a hash of SAMatte1's job: each run of SAMatte1 made SAMatte2 render it again and re-matte every
    frame."""
    read, roto, g1, g2 = _chain(nk, shot)
    job1, info1 = snode.build(g1)
    snode._point_read(g1, job1, info1)          # SAMatte1 has run
    job2, info2 = snode.build(g2)
    assert job2["plate"]["path"] == job1["plate"]["path"] == shot["plate"]
    assert job2["plate"]["frames"] == "1001-1004" and info2["offset"] == info1["offset"] == -1000
    assert nk._renders == []                     # nothing rendered
    # SAMatte1 run again with another setting (its job knob changes): SAMatte2's job is the same
    g1["quality"].setValue("high")
    job1b, info1b = snode.build(g1)
    snode._point_read(g1, job1b, info1b)
    assert job1b != job1 and snode.build(g2)[0] == job2 and nk._renders == []
    # the read-back of SAMatte2 checks Read1: a slip of Read1 in time is refused on SAMatte2 as on SAMatte1
    snode._point_read(g2, job2, info2)
    read["frame"].setValue("2")
    with pytest.raises(farm.StaleFrameError) as e:
        farm.frame_path(g2, 2)
    assert "its Source %s no longer shows the frames its mattes were made on" % read.name() in str(e.value)



def test_refine_only_of_another_samatte_node_s_output_still_renders_its_matte_as_masks(nk, shot):
    """Prompts = SAMatte1 in refine only: its alpha (a matte) is the mask. A SAMatte node no longer shows its own
    Prompts roto, so no Roto is found behind it: the job is as before, not PROMPT_INVALID 'no enabled Roto'."""
    read, roto, g1, g2 = _chain(nk, shot)
    g2.setInput(0, read)
    g2.setInput(1, g1)
    g2["roto_mode"].setValue(snode.REFINE_ONLY)
    job, _ = snode.build(g2)
    (ob,) = job["objects"]
    assert ob["name"] == "SAMatte1" and ob["masks"]["soft"] and "%sroto_" % os.sep in ob["masks"]["path"]
    g1["disable"].setValue(True)                 # (disabled, it shows Read1: no matte, nothing to refine)
    with pytest.raises(Exception) as e:
        snode.build(g2)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID"
