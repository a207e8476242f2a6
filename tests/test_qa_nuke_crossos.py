"""QA: a Nuke script shared between Windows, macOS and Linux workstations (the Nuke double, the real samatte pipeline
in-process on 4-frame 64x64 shots, ``shapes`` tracker).

This machine is Linux: a node "made on Windows" is a node run here whose stored job, plate knob, Read and job.json
are then written as a Windows Nuke writes them (``Z:/shows/...`` in file knobs, ``Z:\\shows\\...`` where samatte
joined paths with ``os.path``), the script opened again from the Linux mount of the same share (``<tmp>/mnt/shows``),
the files, and so their sizes and times, the same. The studio maps ``Z:`` to the mount with Nuke's Preferences >
Path Substitutions or a ``nuke.addFilenameFilter`` (Foundry's documented ways; the double models both).
"""
import json
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

from test_qa_nuke_day8 import _comp, _shown  # noqa: E402
import test_qa_nuke_day8 as day8  # noqa: E402

from samatte import jobspec  # noqa: E402
from samatte_nuke import farm, job as jobmod, node as snode  # noqa: E402

nk, shots = day8.nk, day8.shots   # its fixtures


def _clear():
    farm._memo.clear()
    farm._decoded.clear()
    farm._relocated.clear()


@pytest.fixture
def studio(nk, shots, tmp_path):
    """Shot A's plate on the share (its Linux mount ``<tmp>/mnt/shows``), the script in ``sh010/comp``."""
    a, b = shots
    mount = str(tmp_path / "mnt" / "shows")
    shutil.copytree(os.path.dirname(a["plate"]), os.path.join(mount, "sh010", "plate"))   # (file times kept)
    nk.root()["name"].setValue(os.path.join(mount, "sh010", "comp", "sh010.nk"))
    plate = os.path.join(mount, "sh010", "plate", "plate.####.exr")
    read, roto, g = _comp(nk, plate, a["polygon"])

    def render(w, first, last):   # the node's Write: what Nuke shows, a Z:/shows path read where Nuke maps it
        src = w.input(0)._parent.input(0)
        while src.Class() != "Read":
            src = src.input(0)
        pattern = nk.filename(src)
        if pattern.startswith("Z:/shows/"):
            pattern = mount + pattern[len("Z:/shows"):]
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(pattern.replace("####", "%04d" % (t + 1000)), out)
    nk._set_render_hook(render)
    return mount, read, g, a, b


def _run(g):
    from samatte import pipeline
    job, info = snode.build(g)
    res = pipeline.run(job)
    snode._point_read(g, job, info)
    _clear()
    return job, info, res


def _windows(mount, p, sep="\\"):
    """``p`` (a path on the Linux mount) as a Windows workstation names it (the share on ``Z:``)."""
    assert p.startswith(mount + "/"), p
    return ("Z:" + sep + "shows" + p[len(mount):]).replace("/", sep)


def _made_on_windows(g, read, mount, info):
    """Turn the node just run here into the node a Windows artist saved: its hidden knobs, its Source Read and the
    job.json in its cache folder as a Windows Nuke and samatte write them."""
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return _windows(mount, v) if isinstance(v, str) and v.startswith(mount + "/") else v
    job = walk(farm.stored_job(g))
    if "\\samatte_cache\\" not in job["plate"]["path"]:   # the Read's file knob: Nuke's spelling
        job["plate"]["path"] = job["plate"]["path"].replace("\\", "/")
    job["meta"]["nuke_script"] = job["meta"]["nuke_script"].replace("\\", "/")   # (Nuke's root.name)
    assert "\\" in job["output"]["path"] and job["output"]["path"].startswith("Z:\\shows\\sh010\\comp\\")
    g["samatte_job"].setValue(farm.encode_state(job))
    plate = farm.decode_state(g["samatte_plate"].value())
    for e in plate:
        e[1] = _windows(mount, e[1], "/")
    g["samatte_plate"].setValue(farm.encode_state(plate))
    if read["file"].value().startswith(mount):
        read["file"].setValue(_windows(mount, read["file"].value(), "/"))
    with open(os.path.join(info["folder"], "job.json"), "w", encoding="utf-8") as fh:
        json.dump(job, fh)
    _clear()
    return job


def _substitute(nk, mount):
    """Preferences > Path Substitutions: Z:/shows (Windows) <-> the share's Mac and Linux mounts."""
    nk.toNode("preferences")["platformPathRemaps"].fromScript("Z:/shows;/Volumes/shows;%s;" % mount)
    _clear()


def _matte_files(got):
    assert all(not isinstance(v, str) for v in got.values()), got
    return {t: v[0] for t, v in got.items()}


# --- the read-back on the other OS ------------------------------------------------------------------------------

def test_a_node_made_on_windows_reads_its_mattes_back_on_linux_with_path_substitutions(nk, studio):
    """Before: every frame "frame 1001 (script frame 1) of SAMatte1 is missing in the cache; make it with: Track &
    Matte" (the stored ``Z:\\shows\\...`` paths were one file name on Linux, nothing re-rooted, nothing mapped)."""
    mount, read, g, a, _ = studio
    _, info, res = _run(g)
    assert len(res["written"]) == 4
    _made_on_windows(g, read, mount, info)
    _substitute(nk, mount)
    got = _shown(g)
    assert _matte_files(got) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}, got
    assert all(v[1].startswith(mount + "/sh010/comp/samatte_cache/") for v in got.values()), got


def test_a_node_made_on_windows_reads_back_through_a_studio_filename_filter(nk, studio):
    """The same with the studio's ``nuke.addFilenameFilter`` (Foundry's cross-platform example: a prefix replaced), one
    written for Nuke's own ``/`` spelling: the job's ``\\`` paths are given to it with ``/`` too."""
    mount, read, g, a, _ = studio
    _, info, _res = _run(g)
    _made_on_windows(g, read, mount, info)
    nk.addFilenameFilter(lambda p: mount + p[len("Z:/shows"):] if p.startswith("Z:/shows/") else None)
    _clear()
    assert _matte_files(_shown(g)) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}


def test_on_the_other_os_another_plate_under_the_mapped_path_is_still_refused(nk, studio):
    """Mapped paths never stand for the files: each frame is still checked by its key (plate frames by size, mtime)."""
    mount, read, g, a, b = studio
    _, info, _res = _run(g)
    _made_on_windows(g, read, mount, info)
    _substitute(nk, mount)
    for f in range(1001, 1005):   # shot B's plate copied over shot A's on the share (new files, new times)
        shutil.copyfile(b["plate"].replace("####", "%04d" % f), os.path.join(mount, "sh010", "plate",
                                                                             "plate.%04d.exr" % f))
    got = _shown(g)
    assert all(isinstance(v, str) and "stale" in v for v in got.values()), got


def test_without_a_mapping_the_node_says_what_to_set_not_missing(nk, studio):
    """Before: "frame 1001 (script frame 1) of SAMatte1 is missing in the cache; make it with: Track & Matte"."""
    mount, read, g, a, _ = studio
    _, info, _res = _run(g)
    _made_on_windows(g, read, mount, info)
    got = _shown(g)
    for t, what in got.items():
        assert isinstance(what, str), (t, what)
        assert "missing in the cache" not in what and "made on another OS" in what, what
        assert "Z:/shows/sh010/plate/plate.####.exr" in what and "Path Substitutions" in what, what
        assert "addFilenameFilter" in what and "Track & Matte on SAMatte1" in what, what


# --- the buttons on the other OS ----------------------------------------------------------------------------------

def test_track_and_matte_on_linux_rebuilds_the_job_with_linux_paths_and_reuses_the_frames(nk, studio):
    """Before: the Read's ``Z:/shows/...`` was taken for a relative path, so the plate was rendered into the cache
    (another plate to samatte: all 4 frames tracked and matted again from the render) and the job kept ``Z:``."""
    mount, read, g, a, _ = studio
    job0, info, _res = _run(g)
    _made_on_windows(g, read, mount, info)
    _substitute(nk, mount)
    job, info2, res = _run(g)
    assert job["plate"]["path"] == job0["plate"]["path"] == mount + "/sh010/plate/plate.####.exr"
    assert info2["folder"] == info["folder"] and job["output"]["path"] == job0["output"]["path"]
    assert (len(res["written"]), len(res["skipped"])) == (0, 4), res
    assert _matte_files(_shown(g)) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    # Send to farm from this machine: the exported JobSpec holds this OS's paths only
    _made_on_windows(g, read, mount, info)
    path = snode.on_export(g)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert "Z:" not in text and "\\\\" not in text, text
    assert jobspec.loads(text)["plate"]["path"] == mount + "/sh010/plate/plate.####.exr"


def test_a_windows_cache_folder_knob_nothing_maps_is_refused_before_anything_is_written(nk, studio):
    """Before: ``Z:/cache`` was taken for a folder relative to the script's: Track & Matte on Linux wrote its mattes
    to ``<sh010/comp>/Z:/cache/SAMatte1_<uid>``. Now OUTPUT_INVALID naming the folder and what to set; mapped, it
    is the mount's folder."""
    mount, read, g, a, _ = studio
    _run(g)
    kept = g["samatte_job"].value()
    g["cache_dir"].setValue("Z:/shows/cache")
    from samatte.errors import OutputError
    with pytest.raises(OutputError) as ei:
        snode.build(g)
    assert ei.value.code == "OUTPUT_INVALID" and "Z:/shows/cache" in ei.value.message
    assert "Path Substitutions" in ei.value.message
    assert not os.path.exists(os.path.join(mount, "sh010", "comp", "Z:"))
    # Clear cache: refused the same way, the node's job kept (before: "cache cleared", the job forgotten, while the
    # folder it named, <sh010/comp>/Z:/shows/cache/..., was not the cache)
    snode.on_clear_cache(g)
    assert g["status"].value().startswith("error [OUTPUT_INVALID]") and g["samatte_job"].value() == kept
    _substitute(nk, mount)
    assert snode.build(g)[1]["folder"].startswith(mount + "/cache/SAMatte1_")


# --- the mapping itself -------------------------------------------------------------------------------------------

def test_host_path_maps_windows_paths_with_either_separator(nk, monkeypatch):
    monkeypatch.setattr(os, "name", "posix")
    monkeypatch.setattr(sys, "platform", "linux")
    nk.toNode("preferences")["platformPathRemaps"].fromScript(
        "Z:/;/Volumes/shows/;/mnt/shows/;\\\\server\\share;-;/mnt/share;")
    hp = jobmod.host_path
    assert hp("Z:\\shows\\sh010\\p.####.exr") == "/mnt/shows/shows/sh010/p.####.exr"
    assert hp("z:/a/b") == "/mnt/shows/a/b"                      # a drive letter's case
    assert hp("\\\\server\\share\\x\\y.exr") == "/mnt/share/x/y.exr"
    assert hp("\\\\server\\shared\\y.exr") == "\\\\server/shared/y.exr"   # whole folder names only; still Windows
    assert jobmod.foreign_path(hp("\\\\server\\shared\\y.exr"))
    assert hp("/Volumes/shows/a") == "/mnt/shows/a"              # a Mac path on Linux
    assert hp("/mnt/shows/a") == "/mnt/shows/a" and hp("rel/a") == "rel/a"
    assert hp("Y:\\x") == "Y:/x" and jobmod.foreign_path("Y:/x")


def test_a_rendered_plate_node_made_on_windows_reads_back_and_re_builds_on_linux_reusing_its_plate(nk, studio):
    """Read -> Grade -> SAMatte made on Windows (the share's mtimes seen in 100 ns units over SMB), opened on Linux
    (the same files over NFS: the server's nanoseconds). The read-back maps the rendered plate in the cache. Track &
    Matte hashed the Read's files into the rendered plate's folder by size and raw mtime_ns: on Linux another hash, so
    the plate was rendered again into a new folder and all 4 frames tracked and matted again (before: 4 written, 0
    reused). Now the mtime counts in whole 100 ns there too, as samatte's keys and the node's plate stamps do."""
    mount, read, g, a, _ = studio
    pdir = os.path.join(mount, "sh010", "plate")
    for f in range(1001, 1005):   # the Windows artist's view of the share
        p = os.path.join(pdir, "plate.%04d.exr" % f)
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - st.st_mtime_ns % 100 + 1_000_000_000))
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g.setInput(0, grade)
    read["file"].setValue(_windows(mount, read["file"].value(), "/"))   # saved on Windows: its knob says Z:/shows

    def drive(p):   # (Windows' own Z: drive, for the run "on Windows")
        return mount + p[len("Z:/shows"):] if p.startswith("Z:/shows/") else None
    nk.addFilenameFilter(drive)
    job0, info, res = _run(g)
    assert "/plate_" in job0["plate"]["path"] and len(res["written"]) == 4
    _made_on_windows(g, read, mount, info)
    nk.removeFilenameFilter(drive)
    assert farm.stored_job(g)["plate"]["path"].startswith("Z:\\shows\\sh010\\comp\\samatte_cache\\")
    for f in range(1001, 1005):   # the Linux workstation's view of the same files: nanoseconds
        p = os.path.join(pdir, "plate.%04d.exr" % f)
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 37))
    _substitute(nk, mount)
    assert _matte_files(_shown(g)) == {1: 1, 2: 2, 3: 3, 4: 4}
    job, _info, res = _run(g)
    assert job["plate"]["path"] == job0["plate"]["path"]
    assert (len(res["written"]), len(res["skipped"])) == (0, 4), res


def test_the_project_s_custom_ocio_config_of_another_os_is_mapped(nk, studio, monkeypatch):
    """The Project Settings' custom OCIO config saved on Windows (``Z:/shows/ocio/config.ocio``): before, the job took
    it as it was typed, a file the worker on Linux could not open; now as Nuke opens it here."""
    mount, read, g, a, _ = studio
    monkeypatch.delenv("OCIO", raising=False)
    root = nk.root()
    root["colorManagement"].setValue("OCIO")
    root["OCIO_config"].setValue("custom")
    root["customOCIOConfigPath"].setValue("Z:/shows/ocio/config.ocio")
    _substitute(nk, mount)
    assert jobmod.ocio_config(root) == mount + "/ocio/config.ocio"


def test_a_samatte_python_knob_of_another_os_gives_way_to_this_machine_s(monkeypatch, tmp_path):
    """The node's 'samatte python' knob set on Windows: on Linux every button failed with WORKER_FAILED "samatte's
    Python 'C:\\\\samatte\\\\...' is not an executable file", though $SAMATTE_PYTHON named this machine's."""
    from samatte.errors import WorkerError
    from samatte_nuke import config
    theirs = "C:\\samatte\\.venv\\Scripts\\python.exe"
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    monkeypatch.setattr(config, "PLUGIN_DIR", str(tmp_path / "nuke_plugin"))   # no venv beside the plugin either
    monkeypatch.setenv("SAMATTE_PYTHON", sys.executable)
    assert config.samatte_python(theirs) == sys.executable
    assert config.samatte_python(sys.executable) == sys.executable
    monkeypatch.delenv("SAMATTE_PYTHON")
    with pytest.raises(WorkerError) as ei:
        config.samatte_python(theirs)
    assert "not set on this machine" in ei.value.message and theirs in ei.value.message
