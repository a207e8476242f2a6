"""QA, day 8: a .blend set up on Windows, opened on Linux / macOS (a studio sharing projects), in real bpy 5.0.1
and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent).

* Its ``//`` paths carry Windows separators: the clip ``//..\\..\\shot\\plate\\plate.1001.exr``, the Output
  ``//samatte\\``. Blender itself reads such a clip (measured: it shows its 6 frames), but the add-on took the
  path through ``bpy.path.abspath``, which keeps the backslashes (a file name here): Run said
  ``[FRAME_RANGE_INVALID] no plate file of clip ... were the files moved or deleted?`` and, the clip re-opened,
  the mattes went into a folder named ``samatte\\`` beside the .blend. A matte image a Windows Run wired
  (``//samatte\\plate\\plate_matte.1001.exr``) was, for Check mattes, 'the mattes of other plate files'. Now
  a ``//`` path is read with this OS's separators (``ops.abspath``), as Blender does.
* Windows absolute paths (``Z:\\shows\\...``): an Output there said 'relative to the .blend file, which is not
  saved yet' (of a saved .blend); a clip there 'has no image (size (0, 0))'. Both now say it is a Windows path
  and what to do, before any file is written.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day8_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, box_mask, bpy_main, enable_addon, op_result, run_step_in_blender,  # noqa: E402
                        scene_for, step_scenario)


# --- the bpy side ----------------------------------------------------------------------------------

def _listing(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _s, fs in os.walk(folder) for f in fs + _s)


def step_windows(cfg, res):
    """A .blend in ``out/proj`` whose clip and Output are ``//`` paths with backslashes; Run, Check mattes (with
    the matte image's path as a Windows Run stores it), Send to farm; then Windows absolute paths."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    proj = os.path.join(cfg["out"], "proj")
    os.makedirs(proj)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(proj, "shot.blend"))
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.filepath = "//" + os.path.relpath(cfg["plate"], proj).replace(os.sep, "\\")    # as Windows saves it
    res["clip"] = [clip.filepath, clip.frame_duration, list(clip.size)]
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, "//samatte\\")
    s.tracks = "NONE"
    op_result(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result
    res["listing"] = _listing(proj)
    C = addon.compositor
    tree = C.existing_tree(sc)
    img = tree.nodes[C.NODE_MATTE].image if tree is not None else None
    res["image"] = getattr(img, "filepath", None)
    if img is not None:
        img.filepath = "//" + img.filepath[2:].replace("/", "\\")    # the matte image as a Run on Windows stores it
    op_result(res, "status", bpy.ops.samatte.status)
    res["status_result"] = s.status_result
    op_result(res, "farm", bpy.ops.samatte.farm_export)
    res["farm_last"] = s.last_result
    job_file = os.path.join(proj, "samatte", "plate", "plate.samatte.json")
    if os.path.isfile(job_file):
        import json
        with open(job_file) as f:
            job = json.load(f)
        res["farm_job"] = [job["plate"]["path"], job["output"]["path"]]
    # Windows absolute paths
    res["listing_before_abs"] = _listing(cfg["out"])
    s.output_dir = "Z:\\shows\\sh010\\samatte\\"
    op_result(res, "run_z_output", bpy.ops.samatte.run)
    op_result(res, "farm_z_output", bpy.ops.samatte.farm_export)
    s.output_dir = "//samatte/"
    clip.filepath = "Z:\\shows\\sh010\\plate\\plate.1001.exr"
    op_result(res, "run_z_clip", bpy.ops.samatte.run)
    op_result(res, "status_z_clip", bpy.ops.samatte.status)
    res["status_z_clip_result"] = s.status_result
    res["listing_after_abs"] = _listing(cfg["out"])
    res["cwd_z"] = [n for n in os.listdir(os.getcwd()) if n.startswith("Z:")]


def step_undo_failed(cfg, res):
    """As the artist clicks (each operator an undo step when it is one; each own edit followed by the UI's push):
    Run, Check mattes; a plate file spoilt on disk, Run (the worker fails), a roto point moved, Ctrl+Z; the clip's
    Offset changed, Check mattes with the worker failing after the re-mapping, a point moved, Ctrl+Z."""
    import shutil

    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    plates = os.path.join(cfg["out"], "plates")
    os.makedirs(plates)
    src = os.path.dirname(cfg["plate"])
    for n in sorted(os.listdir(src)):
        shutil.copy(os.path.join(src, n), plates)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(os.path.join(plates, os.path.basename(cfg["plate"])))
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    C = addon.compositor
    bpy.ops.ed.undo_push(message="set up")

    def edit_point(message):
        bpy.data.masks["Roto"].layers[0].splines[0].points[0].co.x += 0.02
        bpy.ops.ed.undo_push(message=message)

    def panel(key):
        p = bpy.context.scene.samatte
        res[key] = [p.last_result, p.status_result]

    def node_map():
        tree = C.existing_tree(bpy.context.scene)
        m = tree.nodes.get(C.NODE_MATTE) if tree is not None else None
        return None if m is None else [m.frame_start, m.frame_offset, m.frame_duration]

    op_result(res, "run", bpy.ops.samatte.run, "EXEC_DEFAULT", True)
    op_result(res, "status", bpy.ops.samatte.status, "EXEC_DEFAULT", True)
    panel("panel_ok")
    with open(os.path.join(plates, "plate.1003.exr"), "wb") as f:      # a plate re-rendered badly
        f.write(b"not an exr")
    op_result(res, "run_failed", bpy.ops.samatte.run, "EXEC_DEFAULT", True)
    panel("panel_failed")
    edit_point("move point")
    bpy.ops.ed.undo()
    panel("panel_undo1")
    shutil.copy(os.path.join(src, "plate.1003.exr"), plates)          # the plate put right
    bpy.data.movieclips[0].frame_offset = 1
    bpy.ops.ed.undo_push(message="offset")
    real = addon.jobs.get_worker

    def dead_worker(settings, **kw):
        raise addon.hosterrors.HostError("WORKER_FAILED", "the samatte worker ended (exit status -9)")
    addon.jobs.get_worker = dead_worker
    try:
        op_result(res, "status_failed", bpy.ops.samatte.status, "EXEC_DEFAULT", True)
    finally:
        addon.jobs.get_worker = real
    res["map_status"] = node_map()
    panel("panel_status_failed")
    edit_point("move point again")
    bpy.ops.ed.undo()
    res["offset_undo2"] = bpy.data.movieclips[0].frame_offset
    res["map_undo2"] = node_map()
    panel("panel_undo2")


def step_threads(cfg, res):
    """Preferences > CPU threads 1: Check samatte's lines, and the environment of the worker it started."""
    import bpy
    addon = enable_addon(cfg)
    p = bpy.context.preferences.addons[addon.__name__].preferences
    res["default"] = p.threads
    p.threads = 1
    op_result(res, "check", bpy.ops.samatte.check)
    res["check_result"] = p.check_result
    w = addon.jobs.get_worker(addon.ops.settings_from(bpy.context), start=False)
    pid = w.hello["pid"] if w is not None else None
    if pid is not None:
        with open("/proc/%d/environ" % pid, "rb") as f:
            res["worker_env"] = [e.decode() for e in f.read().split(b"\0") if e.startswith(b"SAMATTE_THREADS=")]
    addon.jobs.release_worker()


STEPS = {"windows": step_windows, "undo_failed": step_undo_failed, "threads": step_threads}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day8_bpy")), frames=4, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_blend_set_up_on_windows_runs_here_and_says_what_to_fix(v, tmp_path, shot):
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "windows")
    proj = os.path.join(cfg["out"], "proj")
    assert res["clip"][1:] == [4, [64, 64]], res["clip"]          # Blender reads the clip
    # before: [FRAME_RANGE_INVALID] no plate file of clip 'plate.1001.exr' exists ... moved or deleted?
    assert res["run"] == ["ok", ["FINISHED"]], res["run"]
    assert "4 frames written" in res["last"], res["last"]
    # the mattes in proj/samatte/plate/, no folder named 'samatte\' (nor any other name with a backslash)
    assert os.path.join("samatte", "plate", "plate_matte.1003.exr") in res["listing"], res["listing"]
    assert not [n for n in res["listing"] if "\\" in n], res["listing"]
    assert res["image"] == "//samatte/plate/plate_matte.1001.exr", res["image"]
    # the image path as Windows stores it is the same mattes (before: 'the mattes of other plate files')
    assert res["status"] == ["ok", ["FINISHED"]], res["status"]
    assert res["status_result"] == "mattes: all 4 frames current", res["status_result"]
    assert res["farm"] == ["ok", ["FINISHED"]], res["farm"]
    plate = shot["plate"]
    assert res["farm_job"] == [plate, os.path.join(proj, "samatte", "plate", "plate_matte.####.exr")], res
    # Windows absolute paths: coded errors naming the path and what to do, nothing written
    for key in ("run_z_output", "farm_z_output"):
        assert res[key][0] == "raised" and "[OUTPUT_INVALID]" in res[key][2], res[key]
        assert "'Z:\\\\shows\\\\sh010\\\\samatte\\\\' of the samatte panel is a Windows path" in res[key][2], res[key]
        assert "not saved yet" not in res[key][2], res[key]
    for key in ("run_z_clip",):
        assert res[key][0] == "raised" and "[PLATE_INVALID]" in res[key][2], res[key]
        assert "Z:\\shows\\sh010\\plate\\plate.1001.exr, a Windows path" in res[key][2], res[key]
    assert res["status_z_clip_result"].startswith("[PLATE_INVALID]"), res["status_z_clip_result"]
    assert "a Windows path" in res["status_z_clip_result"], res["status_z_clip_result"]
    assert res["listing_after_abs"] == res["listing_before_abs"] and res["cwd_z"] == [], res


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_ctrl_z_after_a_failed_run_or_check_keeps_what_they_changed(v, tmp_path, shot):
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "undo_failed")
    assert res["run"] == res["status"] == ["ok", ["FINISHED"]], res
    assert res["panel_ok"][1] == "mattes: all 4 frames current", res["panel_ok"]
    assert res["run_failed"][0] == "raised" and "[FRAME_CORRUPT]" in res["run_failed"][2], res["run_failed"]
    failed = res["panel_failed"]
    assert failed[0].startswith("[FRAME_CORRUPT]") and failed[1] == "", failed
    # before: the failed Run was no undo step: Ctrl+Z of the next edit brought back the first Run's 'plate: 4 frames
    # written' and 'mattes: all 4 frames current' (over a plate that no longer made them)
    assert res["panel_undo1"] == failed, res["panel_undo1"]
    # Check mattes re-mapped the matte node to the Offset, then the worker failed
    assert res["status_failed"][0] == "raised" and "[WORKER_FAILED]" in res["status_failed"][2], res
    assert res["map_status"] == [0, 1000, 5], res["map_status"]
    assert res["panel_status_failed"][1].startswith("[WORKER_FAILED]"), res["panel_status_failed"]
    # before: Ctrl+Z of the next edit took the re-mapping back while the Offset stayed: [1, 1000, 4], the matte of
    # file 1003 under the plate of file 1004, and the panel's Mattes back to the failed Run's ''
    assert res["offset_undo2"] == 1 and res["map_undo2"] == [0, 1000, 5], res
    assert res["panel_undo2"] == res["panel_status_failed"], res["panel_undo2"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the worker's environment from /proc")
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_the_cpu_threads_preference_reaches_the_worker(v, tmp_path, shot):
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "threads")
    assert res["default"] == 0, res                  # samatte's default: every CPU
    assert res["check"] == ["ok", ["FINISHED"]], res
    assert "CPU threads: 1 (Preferences)" in res["check_result"].splitlines(), res["check_result"]
    assert res["worker_env"] == ["SAMATTE_THREADS=1"], res
