"""QA (eighth pass) of the Blender add-on as a shot moves through a studio (real bpy 5.0.1 and 4.2.23):
the shot folder copied elsewhere and opened through another mount point (Check mattes, Run, Send to
farm there); a TD rendering the animation through the compositor with a clip Start Frame / Offset and a
scene range wider than the clip; a clip and mask linked from a library .blend in another folder; an
appended clip and Matte this frame on a shot with no matte yet; another .blend opened (File > Open,
Revert) while a job runs or after it ran. A test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender8.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import json
import os
import shutil
import time

from bpy_common import (MOD, VERSIONS, bpy_main, enable_addon, render_anim, render_compositor, run_step_in_blender,  # noqa: E402
                        step_scenario)


# --- the bpy side ----------------------------------------------------------------------------------

def _roto(addon, cfg, info, name="hero", frames=(1, 4)):
    import bpy
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name=name).splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for f in frames:
        for i, (p, xy) in enumerate(zip(sp.points, cfg["polygon"])):
            p.handle_left_type = p.handle_right_type = "FREE"
            p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, i, attr), frame=f)
    return mask


def _project(cfg, folder, *, clip_start=1, clip_offset=0, scene_range=None, keys=(1, 4)):
    """A saved .blend in ``out/<folder>`` with a copy of the plates in ``plates/`` (clip path ``//``), a
    mask layer ``hero`` keyed on scene frames ``keys``, no tracks, flow + refine at draft, Output
    ``//samatte/``, render size = the clip's. Returns ``(addon, scene, clip, info, mask)``."""
    import bpy
    addon = enable_addon(cfg)
    proj = os.path.join(cfg["out"], folder)
    shutil.copytree(os.path.dirname(cfg["plate"]), os.path.join(proj, "plates"))     # copy2: mtimes kept
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(os.path.join(proj, "plates", os.path.basename(cfg["plate"])))
    clip.frame_start, clip.frame_offset = clip_start, clip_offset
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = scene_range or (clip_start, clip_start + clip.frame_duration - 1)
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = _roto(addon, cfg, info, frames=keys)
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(proj, "shot.blend"))
    clip.filepath = bpy.path.relpath(clip.filepath)
    bpy.ops.wm.save_mainfile()
    return addon, sc, clip, info, mask


def _compositor(addon, sc):
    """The matte node's image path (as stored and resolved) and frame mapping, or None."""
    import bpy
    tree = addon.compositor.existing_tree(sc)
    node = tree.nodes.get(addon.compositor.NODE_MATTE) if tree is not None else None
    img = getattr(node, "image", None)
    if img is None:
        return None
    return {"filepath": img.filepath, "abspath": os.path.normpath(bpy.path.abspath(img.filepath)),
            "frame_start": node.frame_start, "frame_offset": node.frame_offset,
            "frame_duration": node.frame_duration}


def _render(sc, cfg, frames, prefix):
    """Render the compositor on each scene frame of ``frames``: {frame: path}."""
    out = {}
    for f in frames:
        sc.frame_set(f)
        out[f] = render_compositor(sc, os.path.join(cfg["out"], "%s_%d.exr" % (prefix, f)))
    return out


def _temps(folder):
    return sorted(f for _d, _s, files in os.walk(folder) for f in files if ".tmp" in f or f.startswith("."))


def _tree_files(root):
    return {os.path.relpath(os.path.join(d, f), root): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _s, files in os.walk(root) for f in files}


def step_copy_shot(cfg, res):
    """Run in ``sh010``, save; the shot folder copied to another place (rsync -a: mtimes kept; the
    original stays), opened there through a symlinked mount point: the compositor, Check mattes, Run,
    Send to farm."""
    import bpy
    addon, sc, clip, info, mask = _project(cfg, "sh010")
    run, report = addon.ops.run_blocking(bpy.context)
    res["first"] = {"report": list(report), "written": run.written}
    bpy.ops.wm.save_mainfile()
    proj = os.path.dirname(bpy.data.filepath)
    before = _tree_files(proj)
    bpy.ops.wm.read_homefile(app_template="")
    other = os.path.join(cfg["out"], "studio2", "shots")
    os.makedirs(other)
    shutil.copytree(proj, os.path.join(other, "sh010"), symlinks=True)
    mnt = os.path.join(cfg["out"], "mnt")
    os.symlink(other, mnt)
    new = os.path.join(mnt, "sh010")
    bpy.ops.wm.open_mainfile(filepath=os.path.join(new, "shot.blend"))
    sc = bpy.context.scene
    res["new"] = new
    res["compositor"] = _compositor(addon, sc)
    res["renders"] = _render(sc, cfg, (1, 3), "moved")
    res["status"] = addon.ops.matte_status(bpy.context)
    run, report = addon.ops.run_blocking(bpy.context)
    res["rerun"] = {"report": list(report), "written": run.written, "skipped": run.skipped,
                    "plate": run.job["plate"]["path"], "output": run.job["output"]["path"]}
    exp = addon.ops.farm_export(bpy.context, chunk=2)
    res["farm"] = {k: exp.get(k) for k in ("bundle", "job_file", "steps")}
    with open(exp["job_file"]) as f:
        job = json.load(f)
    res["farm_job"] = {"plate": job["plate"]["path"], "output": job["output"]["path"]}
    res["original_changed"] = sorted(k for k, m in _tree_files(proj).items() if before.get(k) != m)


def step_render_offsets(cfg, res):
    """Clip Start Frame 5, Offset 1 (scene frames 4-7 show files 1001-1004, 8 file 1005, which does not
    exist), the scene range 2-11: Run, then render the animation through the compositor as a TD does
    (``render.render(animation=True)``, every frame of the scene range)."""
    import bpy
    addon, sc, clip, info, mask = _project(cfg, "sh020", clip_start=5, clip_offset=1, scene_range=(2, 11),
                                           keys=(5, 7))
    res["files"] = {f: info.file(f) for f in range(2, 12)}
    run, report = addon.ops.run_blocking(bpy.context)
    res["first"] = {"report": list(report), "written": run.written, "frames": run.job["plate"]["frames"],
                    "output": run.job["output"]["path"]}
    res["anim"] = render_anim(sc, os.path.join(cfg["out"], "anim"))


def step_linked_clip(cfg, res):
    """A clip (``//plates/...``, relative to its library) and a mask in ``lib/assets.blend``, linked into
    ``shots/sh010/sh010.blend``: Find objects, Run, Check mattes, the compositor."""
    import bpy
    addon = enable_addon(cfg)
    lib = os.path.join(cfg["out"], "lib")
    shutil.copytree(os.path.dirname(cfg["plate"]), os.path.join(lib, "plates"))
    clip = bpy.data.movieclips.load(os.path.join(lib, "plates", os.path.basename(cfg["plate"])))
    clip.name = "plateclip"
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = _roto(addon, cfg, info)
    mask.use_fake_user = clip.use_fake_user = True
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(lib, "assets.blend"))
    clip.filepath = bpy.path.relpath(clip.filepath)
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.read_homefile(app_template="")
    shot = os.path.join(cfg["out"], "shots", "sh010")
    os.makedirs(shot)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(shot, "sh010.blend"))
    with bpy.data.libraries.load(os.path.join(lib, "assets.blend"), link=True, relative=True) as (_src, dst):
        dst.movieclips = ["plateclip"]
        dst.masks = ["Roto"]
    clip = bpy.data.movieclips["plateclip"]
    sc = bpy.context.scene
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    res["linked_clip"] = [clip.filepath, clip.library.filepath, list(clip.size)]
    s = sc.samatte
    s.mask = bpy.data.masks["Roto"]
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    res["scan"] = addon.ops.scan(bpy.context)
    try:
        run, report = addon.ops.run_blocking(bpy.context)
        res["run"] = {"report": list(report), "written": run.written, "plate": run.job["plate"]["path"],
                      "output": run.job["output"]["path"]}
    except addon.hosterrors.HostError as e:
        res["run"] = {"error": addon.hosterrors.describe(e)}
        return
    res["status"] = addon.ops.matte_status(bpy.context)
    res["renders"] = _render(sc, cfg, (2,), "linked")


def step_this_frame(cfg, res):
    """A clip appended from a library .blend in another folder (Blender rebases its ``//`` path), Start
    Frame 5, the scene range 1-10; no matte yet: Matte this frame on scene frame 2 (before the clip), then
    on 6; the compositor rendered on 5, 6, 7."""
    import bpy
    addon = enable_addon(cfg)
    lib = os.path.join(cfg["out"], "lib")
    shutil.copytree(os.path.dirname(cfg["plate"]), os.path.join(lib, "plates"))
    clip = bpy.data.movieclips.load(os.path.join(lib, "plates", os.path.basename(cfg["plate"])))
    clip.name = "plateclip"
    clip.use_fake_user = True
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(lib, "assets.blend"))
    clip.filepath = bpy.path.relpath(clip.filepath)
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.read_homefile(app_template="")
    shot = os.path.join(cfg["out"], "shots", "sh010")
    os.makedirs(shot)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(shot, "sh010.blend"))
    with bpy.data.libraries.load(os.path.join(lib, "assets.blend"), link=False, relative=True) as (_src, dst):
        dst.movieclips = ["plateclip"]
    clip = bpy.data.movieclips["plateclip"]
    res["appended"] = clip.filepath
    sc = bpy.context.scene
    sc.active_clip = clip
    clip.frame_start = 5
    sc.frame_start, sc.frame_end = 1, 10
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    s = sc.samatte
    s.mask = _roto(addon, cfg, info, frames=(5,))
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    for f in (2, 6):
        sc.frame_set(f)
        try:
            run, report = addon.ops.run_blocking(bpy.context, this_frame=True)
            res["this_%d" % f] = {"report": list(report), "written": [os.path.basename(p) for p in
                                                                      run.result["written"]]}
        except addon.hosterrors.HostError as e:
            res["this_%d" % f] = {"error": addon.hosterrors.describe(e)}
        except RuntimeError as e:   # before: Blender could not load the missing first matte file
            res["this_%d" % f] = {"crash": str(e)}
    res["compositor"] = _compositor(addon, sc)
    res["output"] = os.path.join(shot, "samatte", "plate")
    res["renders"] = _render(sc, cfg, (5, 6, 7), "this") if res["compositor"] else {}


def step_load_while_running(cfg, res):
    """A job running (after its first frame): the .blend saved meanwhile, then another .blend opened
    (File > Open); the shot reopened and run; then File > Revert after a finished run."""
    import bpy
    import addon_utils
    import sys
    bpy.ops.wm.read_homefile(app_template="")
    os.makedirs(cfg["out"], exist_ok=True)
    other = os.path.join(cfg["out"], "other.blend")
    bpy.ops.wm.save_as_mainfile(filepath=other)      # its scene is called "Scene" too
    addon, sc, clip, info, mask = _project(cfg, "sh030")
    # one handler, also after the add-on is disabled and enabled again
    addon_utils.disable(MOD, default_set=True, handle_error=None)
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    res["handlers"] = sum(1 for h in bpy.app.handlers.load_pre if getattr(h, "__module__", "").startswith(MOD))
    sc.samatte.quality = "high"
    run = addon.ops.start_run(bpy.context)
    t0 = time.monotonic()
    while not run.done and not run.written and time.monotonic() - t0 < 120:
        run.poll()
        time.sleep(0.01)
    res["written_before_open"] = run.written
    bpy.ops.wm.save_mainfile()
    run.poll()
    res["after_save"] = {"done": run.done, "error": run.error}
    bpy.ops.wm.open_mainfile(filepath=other)
    res["after_open"] = {"running": addon.ops.running_job() is not None,
                         "current": addon.ops.current_run() is not None, "old_run_done": run.done,
                         "old_run_error": run.error, "scene": bpy.context.scene.name}
    try:
        res["run_in_other"] = addon.ops.start_run(bpy.context) and "started"
    except Exception as e:  # noqa: BLE001 - the HostError of the module Blender enabled last
        res["run_in_other"] = str(e)
    proj = os.path.join(cfg["out"], "sh030")
    res["temps"] = _temps(os.path.join(proj, "samatte"))
    bpy.ops.wm.open_mainfile(filepath=os.path.join(proj, "shot.blend"))
    try:
        run2, report = addon.ops.run_blocking(bpy.context)
        res["rerun"] = {"report": list(report), "written": run2.written, "skipped": run2.skipped}
    except Exception as e:  # noqa: BLE001
        res["rerun"] = {"error": str(e)}
        return
    # File > Revert after the finished run: the reverted scene has no run of its own to show
    bpy.ops.wm.revert_mainfile()
    sc = bpy.context.scene
    res["after_revert"] = {"current": addon.ops.current_run() is not None, "last": sc.samatte.last_result,
                           "compositor": _compositor(addon, sc)}
    res["status_after_revert"] = addon.ops.matte_status(bpy.context)
    run3, report = addon.ops.run_blocking(bpy.context)
    res["after_revert_rerun"] = {"report": list(report), "written": run3.written, "skipped": run3.skipped,
                                 "compositor": _compositor(addon, sc) is not None}


STEPS = {"copy_shot": step_copy_shot, "render_offsets": step_render_offsets, "linked_clip": step_linked_clip,
         "this_frame": step_this_frame, "load_while_running": step_load_while_running}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot8")), frames=4, size=(64, 64))


def run_in_blender(*args, **extra):   # (v, tmp_path, shot, step, **extra) -> (result, cfg)
    return run_step_in_blender(__file__, *args, **extra)


def _channel(path, name="A"):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    return buf.get_pixels(oiio.FLOAT)[..., buf.spec().channelindex(name)]


def _matte(pattern, f):
    return _channel(pattern.replace("####", "%04d" % f))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_shot_folder_copied_and_opened_from_another_mount(v, tmp_path, shot):
    """The shot folder (.blend, plates, ``//samatte/``) copied elsewhere, the original kept, and opened
    through a symlinked mount point: the compositor reads the copy's mattes, Check mattes says all
    current, Run reuses every frame (keys hash no path), Send to farm writes a job with the new paths,
    and nothing of the original is touched."""
    import numpy as np
    res, _ = run_in_blender(v, tmp_path, shot, "copy_shot")
    new = res["new"]
    assert res["first"]["written"] == 4
    comp = res["compositor"]
    assert comp["filepath"].startswith("//samatte/") and comp["abspath"].startswith(new + os.sep), comp
    assert res["status"] == ["mattes: all 4 frames current"]
    rr = res["rerun"]
    assert rr["written"] == 0 and rr["skipped"] == 4 and rr["report"][0] == "INFO", rr
    assert rr["plate"].startswith(new + os.sep) and rr["output"].startswith(new + os.sep), rr
    assert res["farm"]["bundle"].startswith(new + os.sep) and res["farm"]["steps"] == ["Track", "Matte", "QC"]
    assert res["farm_job"] == {"plate": rr["plate"], "output": rr["output"]}
    assert res["original_changed"] == []
    out = rr["output"]
    for f, path in res["renders"].items():
        want = _matte(out, 1000 + int(f))
        assert want.max() > 0.5 and float(np.abs(_channel(path) - want).max()) == 0.0, f


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_td_renders_the_animation_with_clip_start_and_offset(v, tmp_path, shot):
    """``render.render(animation=True)`` over a scene range wider than the clip (Start Frame 5, Offset
    1): each scene frame whose plate file exists shows exactly the matte of that file; the others (before
    the first file, past the last one) render empty. Scene frame 4, one frame before the Start Frame, shows
    file 1001 in Blender 5.0.1 and 4.2.23 alike (tests/test_qa_blender_job_frames.py): it is a job frame now
    (before: the job was 1002-1004, and there 5.0 rendered alpha 0, 4.2 its missing-file placeholder, alpha
    2/3, over a plate that was shown)."""
    import numpy as np
    res, _ = run_in_blender(v, tmp_path, shot, "render_offsets")
    files = {int(k): n for k, n in res["files"].items()}
    assert files[4] == 1001 and files[5] == 1002 and files[7] == 1004 and files[8] == 1005
    assert res["first"]["frames"] == "1001-1004" and res["first"]["written"] == 4
    out = res["first"]["output"]
    for f in range(2, 12):
        got = _channel(os.path.join(res["anim"], "r_%04d.exr" % f))
        if 1001 <= files[f] <= 1004:
            want = _matte(out, files[f])
            assert want.max() > 0.5 and float(np.abs(got - want).max()) == 0.0, f
        else:
            assert float(got.max()) == 0.0, f


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_linked_clip_reads_its_files_beside_its_library(v, tmp_path, shot):
    """A clip linked from ``lib/assets.blend`` keeps its path relative to that library (``//plates/...``).
    Blender shows it; the add-on resolved the path against the shot's .blend
    (``shots/sh010/plates/...``): Find objects and Run said '[FRAME_RANGE_INVALID] no plate file of clip
    'plateclip' exists ... were the files moved or deleted?'."""
    import numpy as np
    res, _ = run_in_blender(v, tmp_path, shot, "linked_clip")
    path, lib, size = res["linked_clip"]
    assert path == "//plates/plate.1001.exr" and lib.endswith("assets.blend") and size == [64, 64]
    assert res["scan"].splitlines()[0] == "plateclip: scene frames 1-4 (files 1001-1004), 4 frames, 64x64", res["scan"]
    run = res["run"]
    assert "error" not in run, run
    assert run["written"] == 4 and run["plate"].endswith(os.path.join("lib", "plates", "plate.####.exr")), run
    assert res["status"] == ["mattes: all 4 frames current"]
    want = _matte(run["output"], 1002)
    assert want.max() > 0.5 and float(np.abs(_channel(res["renders"]["2"]) - want).max()) == 0.0


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_matte_this_frame_on_a_shot_with_no_matte_yet(v, tmp_path, shot):
    """Matte this frame before any Run: the job wrote the one matte, then wiring the compositor failed
    with a Python error (RuntimeError "Cannot read '.../plate_matte.1001.exr'": the matte image was loaded
    from the job's first file, which does not exist), the compositor stayed empty. On a scene frame
    before the clip it said '(file 998) is outside the job's frames' in file numbers only."""
    import numpy as np
    res, _ = run_in_blender(v, tmp_path, shot, "this_frame")
    assert res["appended"] == "//../../lib/plates/plate.1001.exr"     # Blender rebased it: checked fine
    err = res["this_2"].get("error", "")
    assert err.startswith("[FRAME_RANGE_INVALID] Matte this frame: scene frame 2 (plate file 998)"), res["this_2"]
    assert "scene frames 5-8" in err, err
    assert res["this_6"].get("written") == ["plate_matte.1002.exr"], res["this_6"]
    assert res["this_6"]["report"][0] == "INFO"
    comp = res["compositor"]
    assert comp["frame_start"] == 5 and comp["frame_offset"] == 1000 and comp["frame_duration"] == 4, comp
    want = _matte(os.path.join(res["output"], "plate_matte.####.exr"), 1002)
    got = {int(f): _channel(p) for f, p in res["renders"].items()}
    assert want.max() > 0.5 and float(np.abs(got[6] - want).max()) == 0.0
    for f in (5, 7):   # no matte yet: never another frame's matte (5.0: alpha 0; 4.2 draws its missing-file image)
        assert float(np.abs(got[f] - want).max()) > 0.5, f
        if v == "50":
            assert float(got[f].max()) == 0.0, f


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_opening_another_blend_while_a_job_runs(v, tmp_path, shot):
    """File > Open while a job runs: Blender ends the Run operator's modal handler with the old file, so
    nothing polled the run any more: it stayed 'running' for ever (every Run, in any file, answered
    '[BUSY] a samatte job is already running (Cancel it first)', Cancel did not end it, and the new file's
    scene 'Scene' showed the old run's status and objects as its own). The job is cancelled when its .blend
    is closed (finished frames kept, no temp file), a Run there resumes; after File > Revert no run of
    the file before is shown."""
    res, _ = run_in_blender(v, tmp_path, shot, "load_while_running")
    assert res["handlers"] == 1
    assert res["written_before_open"] >= 1
    assert res["after_save"] == {"done": False, "error": None}     # saving does not disturb the job
    ao = res["after_open"]
    assert ao["running"] is False and ao["current"] is False, ao
    assert ao["old_run_done"] is True and ao["old_run_error"].startswith("[CANCELLED]"), ao
    assert res["run_in_other"].startswith("[PLATE_INVALID]"), res["run_in_other"]   # its own answer, not BUSY
    assert res["temps"] == []
    rr = res["rerun"]
    assert "error" not in rr, rr
    assert rr["written"] + rr["skipped"] == 4 and rr["skipped"] >= res["written_before_open"], rr
    ar = res["after_revert"]
    assert ar["current"] is False and ar["compositor"] is None, ar
    # (the reverted file's compositor was never wired: Check mattes says so, and that a Run shows them; day 10)
    assert res["status_after_revert"][0] == "mattes: all 4 frames current" and len(res["status_after_revert"]) == 2
    assert res["status_after_revert"][1].startswith("the compositor does not show these mattes"), res
    arr = res["after_revert_rerun"]
    assert arr["written"] == 0 and arr["skipped"] == 4 and arr["compositor"] is True, arr
