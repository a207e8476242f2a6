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


STEPS = {"windows": step_windows}


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
