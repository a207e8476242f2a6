"""QA, Nuke day 8 (the Nuke double, the real samatte pipeline in-process on 4-frame 64x64 shots, ``shapes``
tracker): the SAMatte node's read-back never shows a matte that is not this plate's.

* After a Track & Matte, the artist points the Source Read at another plate (its ``file`` knob changed to shot
  B's sequence, or another Read plugged in): the node kept showing shot A's 4 mattes over shot B, with no
  message (the keys were computed from the job's own plate path, whose files had not changed), in the Viewer
  and in a farm render. Now each frame refuses, naming both plates and saying to press Track & Matte. The same
  plate read through another path (the project moved with its file times, a farm's path mapping) still reads
  back. For a plate the node renders (Read -> Grade -> Source), a Read upstream pointed at other files is
  refused the same way (its first and last files' size and mtime, hidden knob ``samatte_plate``).
* A SAMatte node copied into another shot's script showed the original's mattes over the new shot's plate until
  it ran: now refused by the same check (over the same plate it reads back).
* A project moved (script, plate and cache together) without a re-run: the stored job holds the old absolute
  paths, so every frame said "missing in the cache ... Track & Matte" though the mattes sat next to the script.
  Now the read-back looks in the node's cache folder as it resolves now (and reads the plate where the Source
  reads it), each frame still checked by its key.
* A relative cache folder knob (``mattes``) resolved against Nuke's working folder (where Nuke was started):
  the same script wrote its cache in another place in each session. Now it is relative to the Root's
  ``project_directory`` (Foundry), else the script's folder; an absolute one is unchanged.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode  # noqa: E402


@pytest.fixture
def shots(tmp_path):
    from samatte.demo import make_shot
    return (make_shot(str(tmp_path / "shA"), frames=4, size=(64, 64), first=1001),
            make_shot(str(tmp_path / "shB"), frames=4, size=(64, 64), first=1001, seed=7))


@pytest.fixture
def nk(tmp_path):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "shA_v001.nk"))
    farm._memo.clear()

    def render(w, first, last):   # the node's Write: the Source's Read files, numbered in script frames
        src = w.input(0)._parent.input(0)
        while src.Class() != "Read":
            src = src.input(0)
        pattern = nuke.filename(src)
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(pattern.replace("####", "%04d" % (t + 1000)), out)
    nuke._set_render_hook(render)
    yield nuke
    nuke._reset()


def _comp(nuke, plate, polygon, *, source=None):
    read = nuke_env.make_read(plate, 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    src = read
    if source is not None:
        src = source(read)
    g.setInput(0, src)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, roto, g


def _track(g):
    """Track & Matte, the job run in-process (what the worker runs), then the node's read-back aligned."""
    from samatte import pipeline
    job, info = snode.build(g)
    res = pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    return res


def _shown(g, frames=range(1, 5)):
    """{script frame: the matte file the read-back gives (its file number), or the refusal's text}."""
    farm._memo.clear()
    out = {}
    for t in frames:
        try:
            p = farm.frame_path(g, t)
        except farm.StaleFrameError as e:
            out[t] = str(e)
            continue
        out[t] = (int(p.rsplit(".", 2)[-2]), p) if p else None
    return out


def _files(g, frames=range(1, 5)):
    got = _shown(g, frames)
    assert all(not isinstance(v, str) for v in got.values()), got
    return {t: v[0] if v else None for t, v in got.items()}


def _refused(got, *words):
    for t, what in got.items():
        assert isinstance(what, str), (t, what)
        assert "script frame %d of SAMatte1" % t in what and "Press Track & Matte on SAMatte1" in what, what
        for w in words:
            assert w in what, what


def test_the_source_read_pointed_at_another_plate_after_the_run_is_refused(nk, shots):
    a, b = shots
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    assert len(_track(g)["written"]) == 4
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    read["file"].setValue(b["plate"])     # the artist swaps in shot B's plate
    # before: shot A's 4 mattes over shot B, no message
    _refused(_shown(g), "Source %s reads %s" % (read.name(), b["plate"]), "made on %s" % a["plate"])
    read["file"].setValue(a["plate"])     # back to shot A: read back as before
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    # another Read of shot B plugged into the Source
    read_b = nuke_env.make_read(b["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    g.setInput(0, read_b)
    _refused(_shown(g), "Source %s reads %s" % (read_b.name(), b["plate"]))
    # Track & Matte on shot B: its own mattes
    assert len(_track(g)["written"]) == 4
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    assert b["plate"] == farm.stored_job(g)["plate"]["path"]


def test_the_same_plate_at_another_path_reads_back_and_a_rewritten_copy_does_not(nk, shots, tmp_path):
    a, _ = shots
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    # the plate copied with its file times (a project moved, a farm's mount): the same files
    moved = tmp_path / "mount" / "shA"
    shutil.copytree(os.path.dirname(os.path.dirname(a["plate"])), str(moved))
    read["file"].setValue(str(moved / "plate" / "plate.####.exr"))
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    # a plate file written again there (another take under the same name): never its old matte
    p2 = str(moved / "plate" / "plate.1002.exr")
    data = open(p2, "rb").read()
    os.remove(p2)
    with open(p2, "wb") as fh:
        fh.write(data)
    os.utime(p2, ns=(os.stat(p2).st_atime_ns, os.stat(p2).st_mtime_ns + 5_000_000_000))
    got = _shown(g)
    assert isinstance(got[2], str) and "reads %s" % read["file"].value() in got[2], got[2]


def test_a_rendered_plate_s_read_pointed_at_another_plate_is_refused(nk, shots):
    a, b = shots

    def graded(read):
        grade = nk.nodes.Grade()
        grade.addKnob(nk.Double_Knob("white", "gain", 1.0))
        grade.setInput(0, read)
        return grade
    read, roto, g = _comp(nk, a["plate"], a["polygon"], source=graded)
    _track(g)
    assert "/plate_" in farm.stored_job(g)["plate"]["path"]
    assert _files(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    g.input(0)["white"].setValue(1.2)   # a pixel-only change: still read back (day 7's rule)
    assert _files(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    read["file"].setValue(b["plate"])
    # before: the mattes of shot A's rendered plate over shot B, no message
    _refused(_shown(g), "%s reads %s, was %s" % (read.name(), b["plate"], a["plate"]), "Source %s" % g.input(0).name())
    read["file"].setValue(a["plate"])
    assert _files(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    # a node aligned by an older samatte (no samatte_plate knob value): as before, and the knob comes back
    g["samatte_plate"].setValue("")
    read["file"].setValue(b["plate"])
    assert _files(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    _track(g)
    assert farm.decode_state(g["samatte_plate"].value())[0][1] == b["plate"]


def test_a_node_pasted_into_another_shots_script_shows_no_matte_over_its_plate(nk, shots, tmp_path):
    a, b = shots
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    g["selected"].setValue(True)
    nk.nodeCopy("%clipboard%")
    for n in list(nk.allNodes()):
        nk.delete(n)
    nk.root()["name"].setValue(str(tmp_path / "comp" / "shB_v001.nk"))
    read_b = nuke_env.make_read(b["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    g2 = nk.nodePaste("%clipboard%")
    g2.setInput(0, read_b)
    # before: shot A's mattes over shot B until the copy ran
    _refused(_shown(g2), "reads %s" % b["plate"], "made on %s" % a["plate"])
    g2.setInput(0, nuke_env.make_read(a["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1))
    assert _files(g2) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}


def test_a_moved_project_reads_its_mattes_back_where_they_are(nk, shots, tmp_path):
    a, b = shots
    proj = tmp_path / "projA"
    shutil.copytree(os.path.dirname(os.path.dirname(a["plate"])), str(proj / "shot"))
    nk.root()["name"].setValue(str(proj / "comp_v001.nk"))
    read, roto, g = _comp(nk, "[file dirname [value root.name]]/shot/plate/plate.####.exr", a["polygon"])
    _track(g)
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    # the whole project moved (its file times kept), opened there, not run again
    projb = tmp_path / "moved" / "projA"
    shutil.move(str(proj), str(projb))
    nk.root()["name"].setValue(str(projb / "comp_v001.nk"))
    got = _shown(g)
    # before: "frame 1001 (script frame 1) of SAMatte1 is missing in the cache; make it with: Track & Matte"
    assert {t: v[0] for t, v in got.items()} == {1: 1001, 2: 1002, 3: 1003, 4: 1004}, got
    assert all(v[1].startswith(str(projb / "samatte_cache") + os.sep) for v in got.values()), got
    # moved, then another plate copied in over its path (new files): refused, never the old mattes
    pdir = projb / "shot" / "plate"
    for f in range(1001, 1005):
        shutil.copyfile(b["plate"].replace("####", "%04d" % f), str(pdir / ("plate.%04d.exr" % f)))
    _refused(_shown(g), "made on %s" % str(proj / "shot" / "plate" / "plate.####.exr"))


def test_a_relative_cache_folder_is_relative_to_the_project_directory_or_the_script(nk, shots, tmp_path,
                                                                                   monkeypatch):
    a, _ = shots
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(str(elsewhere))    # where Nuke was started from
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    g["cache_dir"].setValue("mattes")
    folder = snode.build(g)[1]["folder"]
    # before: <cwd>/mattes/SAMatte1_<uid>
    assert folder.startswith(str(tmp_path / "comp" / "mattes") + os.sep), folder
    nk.root()["project_directory"].setValue(str(tmp_path / "proj"))
    assert snode.build(g)[1]["folder"].startswith(str(tmp_path / "proj" / "mattes") + os.sep)
    # Foundry's Script Directory button
    nk.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    nk.root()["name"].setValue(str(tmp_path / "comp2" / "shA_v001.nk"))
    assert snode.build(g)[1]["folder"].startswith(str(tmp_path / "comp2" / "mattes") + os.sep)
    g["cache_dir"].setValue(str(tmp_path / "abs"))      # absolute: as it was
    assert snode.build(g)[1]["folder"].startswith(str(tmp_path / "abs") + os.sep)
    # the read-back finds the mattes in the relative folder as it resolves now (script saved elsewhere)
    g["cache_dir"].setValue("../mattes")
    nk.root()["project_directory"].setValue("")
    _track(g)
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    assert farm.frame_path(g, 1).startswith(str(tmp_path / "mattes") + os.sep)


def test_another_plate_with_another_timing_names_both_changes(nk, shots):
    a, b = shots
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    read_b = nuke_env.make_read(b["plate"], 1001, 1004, width=64, height=64, mode="start at", value=3)
    g.setInput(0, read_b)
    _refused(_shown(g, range(3, 7)), "file 1001 on script frame 3, was 1",
             "it reads %s, its mattes were made on %s" % (b["plate"], a["plate"]))


def test_a_moved_project_with_a_rendered_plate_reads_back_and_its_read_still_counts(nk, shots, tmp_path):
    a, b = shots
    proj = tmp_path / "projR"
    shutil.copytree(os.path.dirname(os.path.dirname(a["plate"])), str(proj / "shot"))
    nk.root()["name"].setValue(str(proj / "comp.nk"))

    def graded(read):
        grade = nk.nodes.Grade()
        grade.setInput(0, read)
        return grade
    read, roto, g = _comp(nk, "[file dirname [value root.name]]/shot/plate/plate.####.exr", a["polygon"],
                          source=graded)
    _track(g)
    assert "/plate_" in farm.stored_job(g)["plate"]["path"]
    moved = tmp_path / "elsewhere" / "projR"
    shutil.move(str(proj), str(moved))
    nk.root()["name"].setValue(str(moved / "comp.nk"))
    got = _shown(g)
    # before: every frame "missing in the cache"
    assert {t: v[0] for t, v in got.items()} == {1: 1, 2: 2, 3: 3, 4: 4}, got
    assert all(v[1].startswith(str(moved / "samatte_cache") + os.sep) for v in got.values())
    read["file"].setValue(b["plate"])
    _refused(_shown(g), "reads %s, was %s" % (b["plate"], proj / "shot" / "plate" / "plate.####.exr"))


def test_another_plate_with_the_same_file_sizes_and_times_is_still_refused(nk, shots, tmp_path):
    """Plates unpacked from one delivery can share size and mtime (uncompressed EXRs of one format, times kept
    to the second): the keys (size + mtime) cannot tell them apart; the head of the Source's first and last files
    recorded at the run can."""
    a, b = shots
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    twin = tmp_path / "delivery" / "shB" / "plate.####.exr"
    twin.parent.mkdir(parents=True)
    for f in range(1001, 1005):
        src = a["plate"].replace("####", "%04d" % f)
        data = bytearray(open(src, "rb").read())
        data[-20:] = bytes(20)             # other pixels, the same size
        out = str(twin).replace("####", "%04d" % f)
        with open(out, "wb") as fh:
            fh.write(bytes(data))
        st = os.stat(src)
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    read["file"].setValue(str(twin))
    # before (keys alone): shot A's mattes over the twin plate
    _refused(_shown(g), "reads %s" % twin, "made on %s" % a["plate"])


def test_a_cache_folder_knob_set_back_without_a_run_still_reads_the_run_s_mattes(nk, shots, tmp_path):
    """The node ran in the default folder, then (another quality) in a cache folder set on the knob; the knob is
    set back without a run: the default folder holds the first run's frames, not current for the stored job.
    The read-back shows the stored run's own frames (from where they were written), never refuses them."""
    a, _ = shots
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    g["cache_dir"].setValue(str(tmp_path / "fast"))
    g["quality"].setValue("draft")
    _track(g)
    g["cache_dir"].setValue("")
    got = _shown(g)
    assert {t: v[0] for t, v in got.items() if not isinstance(v, str)} == {1: 1001, 2: 1002, 3: 1003, 4: 1004}, got
    assert all(v[1].startswith(str(tmp_path / "fast") + os.sep) for v in got.values())
