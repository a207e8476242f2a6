"""QA163 (a Blender user's day 14) in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): a new
plate version is delivered (``plates/v002/plate.####.exr``, the same file names in another folder) and the artist
re-points the clip's file path to it (Clip Editor > Footage Settings), then clicks Check mattes, then Run.

samatte keeps the mattes made from another plate (``output.keep_other_plates``, which the add-on sets: two shots
whose plates share their file names must not overwrite each other), so Run refuses the job (OUTPUT_INVALID, "made from
another plate ...: set another Output folder"). But Check mattes said ``mattes: 0 of 4 frames current; Run to update
the others`` / ``out of date (plate, roto, tracks or settings changed) 1-4``: the artist clicked Run and got the
refusal. Now Check mattes reads the worker's ``problems`` and names those frames as files a Run does not replace,
why, and what to do; with another Output folder set as it says, Run mattes v002 and Check mattes is all current.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa163_new_plate_version_bpy.py CONFIG.json``.
"""
import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpy_common import REPO, VERSIONS, box_mask, bpy_main, enable_addon, op_result, scene_for, step_scenario  # noqa: E402


def step_version(cfg, res):
    import shutil
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    v1, v2 = os.path.join(cfg["out"], "plates", "v001"), os.path.join(cfg["out"], "plates", "v002")
    shutil.copytree(os.path.dirname(cfg["plate"]), v1)
    shutil.copytree(os.path.dirname(cfg["plate2"]), v2)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))
    clip = bpy.data.movieclips.load(os.path.join(v1, os.path.basename(cfg["plate"])))
    s = scene_for(sc, clip, box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size)), "//samatte/")
    s.tracks = "NONE"
    op_result(res, "run1", bpy.ops.samatte.run)
    res["last1"] = s.last_result
    clip.filepath = os.path.join(v2, os.path.basename(cfg["plate2"]))      # the new version
    op_result(res, "status", bpy.ops.samatte.status)
    res["status_text"] = s.status_result
    op_result(res, "run2", bpy.ops.samatte.run)
    s.output_dir = "//samatte_v2/"                                      # as Check mattes says
    op_result(res, "run3", bpy.ops.samatte.run)
    res["last3"] = s.last_result
    op_result(res, "status3", bpy.ops.samatte.status)
    res["status3_text"] = s.status_result


STEPS = {"version": step_version}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402

REFUSES = ("Run refuses to write over those files: set another Output folder in the samatte panel for this clip (e.g. "
           "//samatte_v2/), or move those files away")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    from samatte.demo import make_shot
    root = tmp_path_factory.mktemp("qa163_version")
    return [make_shot(str(root / name), frames=4, size=(64, 64), seed=seed) for name, seed in (("v1", 3), ("v2", 4))]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_check_mattes_says_a_run_will_not_replace_the_mattes_of_the_old_plate_version(v, tmp_path, shots):
    from bpy_common import run_step_in_blender
    plate2 = shots[1]["plate"].replace("####", "1001")
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shots[0], "version", plate2=plate2)
    assert res["run1"] == ["ok", ["FINISHED"]] and res["last1"].startswith("plate: 4 frames written"), res
    v1 = os.path.join(cfg["out"], "plates", "v001", "plate.####.exr")
    # before: 'mattes: 0 of 4 frames current; Run to update the others\nout of date (plate, roto, tracks or settings
    # changed) 1-4\nto track again: 1-4', and the Run below refused
    assert res["status_text"].split("\n") == [
        "mattes: 0 of 4 frames current", "to track again: 1-4",
        "not replaced by a Run, made from another plate (%s): 1-4" % v1, REFUSES], res["status_text"]
    assert res["run2"][0] == "raised" and "[OUTPUT_INVALID]" in res["run2"][2], res["run2"]     # as it says
    assert res["run3"] == ["ok", ["FINISHED"]], res["run3"]
    assert res["last3"].startswith("plate: 4 frames written, 0 reused -> %s" % os.path.join(
        cfg["out"], "samatte_v2", "plate", "plate_matte.####.exr")), res["last3"]
    assert res["status3_text"] == "mattes: all 4 frames current", res["status3_text"]


def _summarise():
    """ops.summarise_status, a plain function, taken out of the bpy module."""
    src = open(os.path.join(REPO, "blender_addon", "ops.py"), encoding="utf-8").read()
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "summarise_status")
    ns = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "ops.py", "exec"), ns)
    return ns["summarise_status"]


class _Info:
    @staticmethod
    def scene_frame(n):
        return n - 990


def test_summary_of_stale_missing_and_foreign_frames():
    summarise = _summarise()
    frames = {"1001": "complete", "1002": "stale", "1003": "stale", "1004": "stale", "1005": "missing"}
    track = dict.fromkeys(frames, "complete")
    problems = {"1002": {"status": "stale", "problem": "stale: cache key differs"},
                "1003": {"status": "foreign", "problem": "not written by samatte (no samatte metadata)"},
                "1004": {"status": "foreign", "problem": "written by another job ('sh020')"}}
    assert summarise({"frames": frames, "track": track, "problems": problems}, _Info) == [
        "mattes: 1 of 5 frames current",
        "out of date (plate, roto, tracks or settings changed) 12",
        "not made 15",
        "not replaced by a Run, not written by samatte (no samatte metadata): 13",
        "not replaced by a Run, written by another job ('sh020'): 14",
        REFUSES]
    # no foreign file: as before
    del problems["1003"], problems["1004"]
    assert summarise({"frames": frames, "track": track, "problems": problems}, _Info) == [
        "mattes: 1 of 5 frames current; Run to update the others",
        "out of date (plate, roto, tracks or settings changed) 12-14", "not made 15"]
