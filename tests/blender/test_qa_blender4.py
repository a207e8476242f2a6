"""QA regressions (fourth pass) of the Blender add-on: the artist's working loop in real Blender (PyPI's
bpy 5.0.1 and 4.2.23) like test_qa_blender3.py: run, correct, re-run (only stale frames recompute, the
compositor shows the new result), save and move the project, two clips and two scenes in one .blend,
the add-on disabled mid-run, a plate replaced by another resolution. A test skips when its
``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender4.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os
import shutil
import sys
import time
import types

from bpy_common import MOD, VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender, step_scenario  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = list(range(1001, 1007))


# --- the bpy side ----------------------------------------------------------------------------------

def _mtimes(pattern):
    out = {}
    for f in FILES:
        p = pattern.replace("####", "%04d" % f)
        out[f] = os.stat(p).st_mtime_ns if os.path.exists(p) else None
    return out


def _changed(before, after):
    return sorted(f for f in before if before[f] != after[f])


def _project(cfg, res, *, folder="proj", layer="hero"):
    """A saved .blend in ``out/<folder>`` with a copy of the plates in ``plates/`` (clip path ``//``), a
    mask layer keyed on scene frames 1 and 4 and a track of the layer on every frame, Output ``//samatte/``,
    flow + refine at draft, render size = the clip's: ``(addon, scene, clip, info, mask, track)``."""
    import bpy
    addon = enable_addon(cfg)
    proj = os.path.join(cfg["out"], folder)
    plates = os.path.join(proj, "plates")
    shutil.copytree(os.path.dirname(cfg["plate"]), plates)     # copy2: the plates keep their mtime
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(os.path.join(plates, os.path.basename(cfg["plate"])))
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name=layer).splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for f, dx in ((1, 0.0), (4, 2.0)):
        for i, (p, xy) in enumerate(zip(sp.points, cfg["polygon"])):
            p.handle_left_type = p.handle_right_type = "FREE"
            p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask((xy[0] + dx, xy[1]), info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (layer, i, attr), frame=f)
    cx = sum(p[0] for p in cfg["polygon"]) / len(cfg["polygon"])
    cy = sum(p[1] for p in cfg["polygon"]) / len(cfg["polygon"])
    tr = clip.tracking.tracks.new(name=layer + " centre", frame=1)
    for cf in range(1, clip.frame_duration + 1):
        tr.markers.insert_frame(cf, co=addon.convert.px_to_marker((cx, cy), info.size))
    tr.select = True
    s = sc.samatte
    s.mask = mask
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(proj, "shot.blend"))
    clip.filepath = bpy.path.relpath(clip.filepath)
    sc.frame_set(2)
    return addon, sc, clip, info, mask, tr


def _run(addon, context, log, label, pattern=None):
    before = _mtimes(pattern) if pattern else None
    run, report = addon.ops.run_blocking(context)
    pattern = pattern or (run.result or {}).get("output")
    log[label] = {"report": list(report), "written": run.written, "skipped": run.skipped,
                  "changed": _changed(before, _mtimes(pattern)) if before else None}
    return pattern


def _render(sc, cfg, label, scene_frame, pattern, renders):
    """Render the compositor on ``scene_frame``; keep a copy of the matte file on disk for it then:
    ``renders[label] = [render, matte copy]``."""
    import bpy
    shown, current = bpy.context.window.scene, sc.frame_current
    bpy.context.window.scene = sc       # the render operator renders the window's scene
    sc.frame_set(scene_frame)
    path = render_compositor(sc, os.path.join(cfg["out"], "render_%s.exr" % label))
    matte = os.path.join(cfg["out"], "matte_%s.exr" % label)
    shutil.copy(pattern.replace("####", "%04d" % (scene_frame + 1000)), matte)
    renders[label] = [path, matte]
    sc.frame_set(current)
    bpy.context.window.scene = shown


def step_loop_and_move(cfg, res):
    """Run; correct the key of scene frame 4, delete the marker of frame 5, change Quality, re-running
    after each (rendering the compositor); save, move the project folder (.blend, plates, mattes) elsewhere,
    reopen it there: render, then re-run."""
    import bpy
    addon, sc, clip, info, mask, tr = _project(cfg, res)
    ctx = bpy.context
    log, renders = res["log"], res["renders"] = {}, {}
    pattern = _run(addon, ctx, log, "first")
    _run(addon, ctx, log, "again", pattern)
    sc.frame_set(4)
    p = mask.layers["hero"].splines[0].points[0]
    p.co = (p.co[0] + 3.0 / info.size[0], p.co[1])
    mask.keyframe_insert('layers["hero"].splines[0].points[0].co', frame=4)
    sc.frame_set(2)
    _run(addon, ctx, log, "edit_key_4", pattern)
    _render(sc, cfg, "edit_key_4", 5, pattern, renders)
    tr.markers.delete_frame(5)
    _run(addon, ctx, log, "marker_5_deleted", pattern)
    sc.samatte.quality = "default"
    _run(addon, ctx, log, "quality", pattern)
    _render(sc, cfg, "quality", 3, pattern, renders)
    bpy.ops.wm.save_mainfile()
    proj = os.path.dirname(bpy.data.filepath)
    moved = os.path.join(cfg["out"], "elsewhere", "proj_v2")
    bpy.ops.wm.read_homefile(app_template="")
    shutil.move(proj, moved)
    bpy.ops.wm.open_mainfile(filepath=os.path.join(moved, "shot.blend"))
    sc = bpy.context.scene
    res["moved_pattern"] = pattern.replace(proj, moved)
    _render(sc, cfg, "moved", 3, res["moved_pattern"], renders)
    sc.frame_set(2)
    _run(addon, bpy.context, log, "moved_rerun", res["moved_pattern"])


def _scene_b(addon, cfg, clip_b, size, output_dir):
    """Scene B: clip B, its own mask (layer ``car``), no tracks, Output ``output_dir``; a context for it."""
    import bpy
    sc = bpy.data.scenes.new("B")
    sc.active_clip = clip_b
    sc.frame_start, sc.frame_end = 1, clip_b.frame_duration
    mask = bpy.data.masks.new("RotoB")
    sp = mask.layers.new(name="car").splines.new()
    sp.use_cyclic = True
    sp.points.add(3)
    for p, xy in zip(sp.points, [(10, 10), (50, 10), (50, 40), (10, 40)]):
        p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, size)
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = output_dir
    r = sc.render
    r.resolution_x, r.resolution_y = size
    r.resolution_percentage = 100
    sc.frame_set(2)
    return sc, types.SimpleNamespace(scene=sc, preferences=bpy.context.preferences, space_data=None)


def step_two_clips(cfg, res):
    """Two shots whose plates have the same file names (``plates/plate.####.exr``, ``shotB/plate.####.exr``),
    scene A for shot A, scene B for shot B: B with its own Output folder, then (a second scene C for shot
    B) with the same Output folder as A."""
    import bpy
    addon, sc_a, clip, info, mask, tr = _project(cfg, res)
    ctx_a = types.SimpleNamespace(scene=sc_a, preferences=bpy.context.preferences, space_data=None)
    proj = os.path.dirname(bpy.data.filepath)
    shutil.copytree(os.path.join(proj, "plates"), os.path.join(proj, "shotB"))
    clip_b = bpy.data.movieclips.load(os.path.join(proj, "shotB", os.path.basename(cfg["plate"])))
    log, renders = res["log"], res["renders"] = {}, {}
    pattern_a = _run(addon, ctx_a, log, "A")
    sc_b, ctx_b = _scene_b(addon, cfg, clip_b, info.size, "//samatte_B/")
    pattern_b = _run(addon, ctx_b, log, "B")
    res["patterns"] = [pattern_a, pattern_b]
    _render(sc_a, cfg, "A_after_B", 3, pattern_a, renders)
    _render(sc_b, cfg, "B", 3, pattern_b, renders)
    # scene C: shot B again, Output the same folder as A's: A's mattes must not be overwritten
    sc_b.name = "C"
    sc_b.samatte.output_dir = "//samatte/"
    before = _mtimes(pattern_a)
    try:
        run = addon.ops.start_run(ctx_b)
        run.wait(timeout=300)
        addon.ops.finish_run(ctx_b, run)
        res["same_folder"] = None
    except addon.hosterrors.HostError as e:
        res["same_folder"] = addon.hosterrors.describe(e)
    res["A_changed_by_C"] = _changed(before, _mtimes(pattern_a))
    _run(addon, ctx_a, log, "A_again", pattern_a)


def step_disable_mid_run(cfg, res):
    """The add-on disabled while a job runs (after its first frame), enabled again, Run."""
    import bpy
    import addon_utils
    addon, sc, clip, info, mask, tr = _project(cfg, res)
    sc.samatte.quality = "high"
    run = addon.ops.start_run(bpy.context)
    t0 = time.monotonic()
    while not run.done and not run.written and time.monotonic() - t0 < 120:
        run.poll()
        time.sleep(0.01)
    res["written_before_disable"] = run.written
    addon_utils.disable(MOD, default_set=True, handle_error=None)
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    res["timer_registered"] = bpy.app.timers.is_registered(addon.props._fill_later)
    try:
        run, report = addon.ops.run_blocking(bpy.context)
        res["rerun"] = {"report": list(report), "written": run.written, "skipped": run.skipped}
    except addon.hosterrors.HostError as e:
        res["rerun"] = {"error": addon.hosterrors.describe(e)}
    try:
        res["op"] = sorted(bpy.ops.samatte.run())
    except RuntimeError as e:
        res["op"] = str(e)


def step_resized_plate(cfg, res):
    """A run; the plate files replaced on disk by a 160x90 render under the same names; Run in the same
    session (Blender still holds the clip at 128x72, also after saving and reopening the .blend); then the
    clip reloaded and run."""
    import bpy
    addon, sc, clip, info, mask, tr = _project(cfg, res)
    log = res["log"] = {}
    _run(addon, bpy.context, log, "first")
    plates = os.path.dirname(bpy.path.abspath(clip.filepath))
    for f in FILES:
        shutil.copy(cfg["big_plate"].replace("####", "%04d" % f), os.path.join(plates, "plate.%04d.exr" % f))
    res["size_in_session"] = list(clip.size)
    try:
        run, report = addon.ops.run_blocking(bpy.context)
        res["in_session"] = {"report": list(report), "prompt": run.job["objects"][0]["prompts"][0]["points"][0]}
    except addon.hosterrors.HostError as e:
        res["in_session"] = {"error": addon.hosterrors.describe(e)}
    try:
        res["in_session_op"] = sorted(bpy.ops.samatte.run())
    except RuntimeError as e:
        res["in_session_op"] = str(e)
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=bpy.data.filepath)
    clip = bpy.context.scene.active_clip
    res["size_reopened"] = list(clip.size)
    bpy.context.scene.frame_set(2)
    clip.filepath = clip.filepath    # what Clip > Reload does (BKE_movieclip_reload, on the depsgraph update)
    bpy.context.view_layer.update()
    res["size_reloaded"] = list(clip.size)
    run, report = addon.ops.run_blocking(bpy.context)
    res["reloaded"] = {"report": list(report), "prompt": run.job["objects"][0]["prompts"][0]["points"][0]}


STEPS = {"loop_and_move": step_loop_and_move, "two_clips": step_two_clips, "disable_mid_run": step_disable_mid_run,
         "resized_plate": step_resized_plate}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot4")), frames=6, size=(128, 72))


def run_in_blender(*args, **extra):   # (v, tmp_path, shot, step, **extra) -> (result, cfg)
    return run_step_in_blender(__file__, *args, **extra)


def _channel(path, name):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    return buf.get_pixels(oiio.FLOAT)[..., buf.spec().channelindex(name)]


def _assert_render_shows(render, matte):
    """The compositor's alpha is the matte on disk when it rendered, exactly."""
    import numpy as np
    want = _channel(matte, "A")
    got = _channel(render, "A")
    assert want.max() > 0.5
    assert float(np.abs(got - want).max()) == 0.0, (render, float(got.max()), float(want.max()))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_correct_rerun_then_move_the_project_and_reopen(v, tmp_path, shot):
    """The working loop: a re-run recomputes only the frames an edit touches (files' mtime_ns), and the
    compositor shows the new mattes. Then the project folder (.blend, plates, mattes under ``//samatte/``)
    is moved and reopened: the compositor showed alpha 0 on every frame (the matte image kept the old
    absolute path) until a re-run; it must find the mattes beside the moved .blend, and the re-run must
    reuse all 6 frames."""
    res, _ = run_in_blender(v, tmp_path, shot, "loop_and_move")
    log = res["log"]
    assert log["first"]["written"] == 6 and log["first"]["report"][0] == "INFO"
    assert log["again"]["written"] == 0 and log["again"]["changed"] == []
    # the key of scene frame 4 (file 1004) is the end of the span 1001-1004 and the start of 1004-1006
    assert log["edit_key_4"]["changed"] == [1002, 1003, 1004, 1005, 1006]
    assert log["marker_5_deleted"]["changed"] == [1005, 1006]
    assert log["quality"]["changed"] == FILES
    for label in ("edit_key_4", "quality", "moved"):
        _assert_render_shows(*res["renders"][label])
    assert log["moved_rerun"]["written"] == 0 and log["moved_rerun"]["changed"] == []


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_two_clips_with_the_same_file_names_keep_their_own_mattes(v, tmp_path, shot):
    """Two shots whose plates are both ``plate.####.exr`` (other folders), in two scenes of one .blend.
    With its own Output folder, B's run re-pointed the matte image of scene A's compositor to B's mattes
    (one Image found by its name ``plate_matte.####.exr``): scene A showed shot A x shot B's matte. With
    the same Output folder, B's job (same name ``plate``) overwrote A's 6 mattes silently. Each scene must
    keep its own image, and a run that would overwrite another clip's mattes is refused with a message."""
    res, _ = run_in_blender(v, tmp_path, shot, "two_clips")
    pattern_a, pattern_b = res["patterns"]
    assert pattern_a != pattern_b
    assert res["log"]["B"]["written"] == 6
    _assert_render_shows(*res["renders"]["A_after_B"])
    _assert_render_shows(*res["renders"]["B"])
    err = res["same_folder"]
    assert err is not None and err.startswith("[OUTPUT_INVALID]"), err
    assert "Output folder" in err and "plate.1001.exr" in err, err
    assert res["A_changed_by_C"] == []
    assert res["log"]["A_again"]["written"] == 0


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_addon_disabled_mid_run_then_enabled_runs_again(v, tmp_path, shot):
    """Disabling the add-on while a job runs ends its worker; the run object stayed 'running' in the
    module (which Blender keeps), so after enabling it again every Run answered BUSY "a samatte job is
    already running (Cancel it first)", and Cancel could not end it. The re-run must resume."""
    res, _ = run_in_blender(v, tmp_path, shot, "disable_mid_run")
    assert res["written_before_disable"] >= 1
    assert res["timer_registered"] is True
    r = res["rerun"]
    assert "error" not in r, r
    assert r["report"][0] == "INFO" and r["written"] + r["skipped"] == 6
    assert r["skipped"] >= res["written_before_disable"]
    assert res["op"] == ["FINISHED"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_plate_replaced_by_another_resolution(v, tmp_path, shot, tmp_path_factory):
    """The plate files re-rendered at 160x90 under the same names: Blender keeps the clip's size
    (128x72) for the session, so the prompts were converted at 128x72 and sent with a 160x90 plate: a
    matte from a mask 20 % too small and shifted to the top left, reported as a success. The run must
    stop with a message that says to reload the clip; reloaded, the prompts are at 160x90."""
    from samatte.demo import make_shot
    big = make_shot(str(tmp_path_factory.mktemp("qabig4")), frames=6, size=(160, 90))
    res, _ = run_in_blender(v, tmp_path, shot, "resized_plate", big_plate=big["plate"])
    assert res["log"]["first"]["written"] == 6
    assert res["size_in_session"] == [128, 72]
    err = res["in_session"].get("error")
    assert err is not None and err.startswith("[PLATE_INVALID]"), res["in_session"]
    assert "128x72" in err and "160x90" in err and "eload" in err
    assert "PLATE_INVALID" in res["in_session_op"]
    assert res["size_reopened"] == [128, 72]      # the size read before is saved in the .blend
    assert res["size_reloaded"] == [160, 90]
    assert res["reloaded"]["report"][0] == "INFO"
    x0, y0 = shot["polygon"][0]
    assert res["reloaded"]["prompt"][:2] == pytest.approx([x0 * 1.25, y0 * 1.25], abs=1e-3)
