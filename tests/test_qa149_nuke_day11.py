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
