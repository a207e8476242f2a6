"""QA, day 11 in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): two shots whose plates
share a file name in different folders (``shots/sh010/plate.####.exr``, ``shots/sh020/plate.####.exr``) get the same
job name ``plate`` and output ``<Output>/plate/plate_matte.####.exr``. The add-on's guard (``ops._check_output_is_ours``)
sees only the compositors of the open .blend: a Run of sh020's clip in another .blend (here: the same file after
sh010's wiring is gone) silently re-matted over sh010's frames. Now the Run is refused before anything is written
(OUTPUT_INVALID naming sh010's plate, saying to set another Output folder); sh010's clip re-run after a roto edit
still rewrites its own frames, and sh020 with its own Output folder runs.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day11_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, box_mask, bpy_main, cleared_compositor, enable_addon, op_result,  # noqa: E402
                        scene_for, step_scenario)


def step_other_plate(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    out = os.path.join(cfg["out"], "mattes")
    clip1 = bpy.data.movieclips.load(cfg["plate"])
    size = tuple(clip1.size)
    mask1 = box_mask(addon, "Roto1", "hero", cfg["polygon"], size)
    s = scene_for(sc, clip1, mask1, out)
    s.tracks = "NONE"
    op_result(res, "run1", bpy.ops.samatte.run)
    res["last1"] = s.last_result
    folder = os.path.join(out, "plate")
    res["files1"] = {n: os.path.getmtime(os.path.join(folder, n)) for n in sorted(os.listdir(folder))
                     if n.endswith(".exr")}
    # sh010's clip re-run after a roto edit: its own frames, rewritten
    pt = mask1.layers[0].splines[0].points[0]
    pt.co = (pt.co[0] + 0.02, pt.co[1])
    op_result(res, "run1_edit", bpy.ops.samatte.run)
    res["last1_edit"] = s.last_result
    res["files1"] = {n: os.path.getmtime(os.path.join(folder, n)) for n in sorted(os.listdir(folder))
                     if n.endswith(".exr")}
    # another .blend (or a scene whose compositor is not wired): sh020's clip, the same Output folder
    cleared_compositor(sc)
    clip2 = bpy.data.movieclips.load(cfg["plate2"])
    mask2 = box_mask(addon, "Roto2", "hero", cfg["polygon"], size)
    s = scene_for(sc, clip2, mask2, out)
    op_result(res, "run2", bpy.ops.samatte.run)
    res["last2"] = s.last_result
    res["files2"] = {n: os.path.getmtime(os.path.join(folder, n)) for n in sorted(os.listdir(folder))
                     if n.endswith(".exr")}
    s.output_dir = os.path.join(cfg["out"], "mattes_sh020")
    op_result(res, "run2_own", bpy.ops.samatte.run)
    res["last2_own"] = s.last_result


def step_slow_start(cfg, res):
    """The Run as the panel's button starts it (``start_run(background=True)``, what the modal operator calls) with
    a samatte Python whose worker takes 2 s to start; Cancel (Esc) during that; then Run to the end."""
    import threading
    import time
    import bpy
    addon = enable_addon(cfg)
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.device = "cpu"
    prefs.python = cfg["slow_python"]
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    s = scene_for(sc, clip, box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size)),
                  os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    addon.jobs.release_worker()
    t = time.monotonic()
    run = addon.ops.start_run(bpy.context, background=True)
    res["start_s"] = time.monotonic() - t
    res["status"] = run.status
    res["main_thread"] = threading.current_thread() is threading.main_thread()
    starter = run._starter
    op_result(res, "cancel", bpy.ops.samatte.cancel)
    res["ended"] = [run.done, run.error_code]
    res["finish"] = list(addon.ops.finish_run(bpy.context, run))
    starter.thread.join(timeout=60)
    folder = os.path.join(cfg["out"], "mattes", "plate")
    res["exr_after_cancel"] = sorted(n for n in os.listdir(folder) if n.endswith(".exr")) if os.path.isdir(folder) else []
    op_result(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result


STEPS = {"other_plate": step_other_plate, "slow_start": step_slow_start}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    import shutil
    from samatte.demo import make_shot
    root = tmp_path_factory.mktemp("day11_bpy")
    out = {}
    for i, name in enumerate(("sh010", "sh020")):
        s = make_shot(str(root / ("src_" + name)), frames=4, size=(64, 64), seed=3 + i)
        folder = root / "shots" / name
        shutil.copytree(os.path.dirname(s["plate"]), str(folder))
        out[name] = dict(s, plate=str(folder / "plate.####.exr"))
    return out


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_run_of_another_plate_with_the_same_file_names_does_not_rematte_over_the_first(v, tmp_path, shots):
    from bpy_common import run_step_in_blender
    sh020 = shots["sh020"]["plate"].replace("####", "1001")
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shots["sh010"], "other_plate", plate2=sh020)
    assert res["run1"] == ["ok", ["FINISHED"]], res["run1"]
    assert res["last1"].startswith("plate: 4 frames written"), res["last1"]
    assert res["run1_edit"] == ["ok", ["FINISHED"]] and res["last1_edit"].startswith("plate: 4 frames written"), res
    # before: FINISHED, 'plate: 4 frames written' over sh010's mattes
    assert res["run2"][0] == "raised" and "[OUTPUT_INVALID]" in res["run2"][2], res["run2"]
    assert "made from another plate (%s)" % shots["sh010"]["plate"] in res["run2"][2], res["run2"]
    assert "set another Output folder in the samatte panel" in res["run2"][2], res["run2"]
    assert res["files2"] == res["files1"]       # nothing written over sh010's frames
    assert res["run2_own"] == ["ok", ["FINISHED"]] and res["last2_own"].startswith("plate: 4 frames written"), res


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_run_starts_its_worker_without_freezing_blender_and_esc_cancels_the_start(v, tmp_path, shots):
    """Before: the Run button waited on Blender's main thread for the worker's hello (2 s here; seconds to a minute
    on a real machine), Esc unheard. Now ``start_run(background=True)`` returns at once, the status says the worker
    is starting, Cancel then ends the run (CANCELLED, no job sent, no frame written)."""
    import sys
    from bpy_common import run_step_in_blender
    slow = tmp_path / "slow_python"
    slow.write_text('#!/bin/sh\nif [ "$2" = "samatte.worker" ]; then sleep 2; fi\nexec "%s" "$@"\n' % sys.executable)
    slow.chmod(0o755)
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shots["sh010"], "slow_start", slow_python=str(slow))
    assert res["main_thread"] and res["start_s"] < 1.0, res["start_s"]
    assert "starting the worker" in res["status"], res["status"]
    assert res["cancel"] == ["ok", ["FINISHED"]] and res["ended"] == [True, "CANCELLED"], res
    assert res["finish"][0] == "WARNING" and "cancelled; no frame was finished" in res["finish"][1], res["finish"]
    assert res["exr_after_cancel"] == [], res["exr_after_cancel"]
    assert res["run"] == ["ok", ["FINISHED"]] and res["last"].startswith("plate: 4 frames written"), res
