"""Find objects with an object absent on some frames, in real bpy 5.0.1 and 4.2.23: the panel's objects
summary names the scene frames where the object is absent (its mask layer hidden in renders there), and a
layer hidden on every frame of the range says why it is skipped. A test skips when its ``.venv-bpyXX`` is
absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day5_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender, step_scenario,  # noqa: E402
                        clip_on_scene_frames)


# --- the bpy side ----------------------------------------------------------------------------------

def _hero(cfg, addon, info, n, hidden_keys, *, shape_keys=(11, 16)):
    import bpy
    conv = addon.convert
    mask = bpy.data.masks.new("Roto")
    layer = mask.layers.new(name="hero")
    sp = layer.splines.new()
    sp.use_cyclic = True
    poly = cfg["polygon"]
    sp.points.add(len(poly) - 1)
    for j, xy in enumerate(poly):
        pt = sp.points[j]
        pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask(xy, info.size)
    for f in shape_keys:
        for j in range(len(poly)):
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (j, attr), frame=f)
    for f, hidden in hidden_keys:
        layer.hide_render = hidden
        mask.keyframe_insert('layers["hero"].hide_render', frame=f)
    mask.update_tag()
    return mask


def step_scan(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc, clip, info, n = clip_on_scene_frames(cfg, addon, 11)   # scene frames 11..16 show the files 1001..1006
    s = sc.samatte
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.mask = _hero(cfg, addon, info, n, ((11, False), (13, True), (15, False)))   # hidden on scene frames 13-14
    sc.frame_set(11)
    res["partly"] = addon.ops.scan(bpy.context)
    s.mask = _hero(cfg, addon, info, n, ((11, True),))                             # hidden on every frame
    res["every"] = addon.ops.scan(bpy.context)
    try:
        addon.ops.start_run(bpy.context)
    except addon.hosterrors.HostError as e:
        res["every_run"] = addon.hosterrors.describe(e)


def step_stretch(cfg, res):
    """Time Stretching 100 -> 200 (the mask's animation at half speed, the clip unstretched) and the layer keyed
    hidden in renders at animation times 6.5-7 (scene frames 13-14): Run, Check mattes, the compositor."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc, clip, info, n = clip_on_scene_frames(cfg, addon, 11)
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    sc.render.frame_map_old, sc.render.frame_map_new = cfg.get("map", (100, 200))
    s = sc.samatte
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    s.mask = _hero(cfg, addon, info, n, cfg["hidden_keys"], shape_keys=cfg.get("shape_keys", (11, 16)))
    sc.frame_set(11)
    res["scan"] = addon.ops.scan(bpy.context)
    if cfg.get("this_frame"):
        sc.frame_set(cfg["this_frame"])
    run = addon.ops.start_run(bpy.context, this_frame=bool(cfg.get("this_frame")))
    run.wait(timeout=300)
    res["last"] = addon.ops.finish_run(bpy.context, run)
    res["absent"] = [o.get("absent") for o in run.job["objects"]]
    res["status"] = addon.ops.matte_status(bpy.context)
    if cfg.get("remap"):
        sc.render.frame_map_old, sc.render.frame_map_new = cfg["remap"]
        res["status_remapped"] = addon.ops.matte_status(bpy.context)
        res["scan_remapped"] = addon.ops.scan(bpy.context)
    if cfg.get("rekey"):
        layer = s.mask.layers["hero"]
        for f, hidden in cfg["rekey"]:
            layer.hide_render = hidden
            s.mask.keyframe_insert('layers["hero"].hide_render', frame=f)
        s.mask.update_tag()
        res["status_rekeyed"] = addon.ops.matte_status(bpy.context)
        res["scan_rekeyed"] = addon.ops.scan(bpy.context)
    if cfg.get("start"):
        clip.frame_start = cfg["start"]
        res["status_moved"] = addon.ops.matte_status(bpy.context)
        info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
        if cfg.get("rerun"):
            res["scan_moved"] = addon.ops.scan(bpy.context)
            run = addon.ops.start_run(bpy.context)
            run.wait(timeout=300)
            res["last_moved"] = addon.ops.finish_run(bpy.context, run)
            res["absent_moved"] = [o.get("absent") for o in run.job["objects"]]
            res["status_rerun"] = addon.ops.matte_status(bpy.context)
    res["renders"] = {}
    for f in cfg["render"]:
        sc.frame_set(f)
        res["renders"][f] = [info.file(f), render_compositor(sc, os.path.join(cfg["out"], "r_%d.exr" % f))]


STEPS = {"scan": step_scan, "stretch": step_stretch}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day5_bpy")), frames=6, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_find_objects_names_an_objects_absent_scene_frames_and_why_a_hidden_layer_is_skipped(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "scan")
    print(res["partly"])
    print(res["every"])
    line = [x for x in res["partly"].splitlines() if x.startswith("hero ->")][0]
    assert line.endswith("; absent 13-14"), line
    # before: '[PROMPT_INVALID] no prompts: draw a closed mask shape or select tracks (mask layer 'hero' is hidden
    # in renders or under 0.5 opacity on every frame of the range: skipped)'
    assert res["every"].startswith("[PROMPT_INVALID] no prompts: mask layer 'hero' is hidden in renders (or under "
                                   "0.5 opacity) on every frame of the range (scene frames 11-16): its object is "
                                   "absent on all of them"), res["every"]
    assert "draw a closed mask shape" not in res["every"], res["every"]
    assert res["every_run"] == res["every"], res["every_run"]


def _alpha(path):
    import OpenImageIO as oiio
    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., 3]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_time_stretching_an_absent_objects_scene_frames_are_0_in_the_compositor(v, tmp_path, shot):
    """Checked fine (no fix): under Time Stretching 100 -> 200 the layer keyed hidden at animation times 6.5-7
    is absent on scene frames 13-14 (files 1003-1004), Find objects says so, Check mattes finds every frame
    current after the Run and the compositor's alpha is 0 on exactly those scene frames."""
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "stretch", hidden_keys=[[5, False], [6.5, True],
                                                                                          [7.5, False]],
                                    render=[12, 13, 14, 15])
    assert "; absent 13-14" in res["scan"], res["scan"]
    assert res["absent"] == ["1003-1004"] and res["status"] == ["mattes: all 6 frames current"], res
    for f, (n, path) in res["renders"].items():
        a = _alpha(path)
        assert (float(a.max()) == 0.0) == (int(f) in (13, 14)), (f, n, float(a.max()))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_an_absent_object_after_the_clips_start_frame_moves(v, tmp_path, shot):
    """Checked fine (no fix): the layer hidden on scene frames 13-14, the clip's Start Frame moved 11 -> 12 after
    a Run: Check mattes says the mattes out of date (scene frames 12-17: the shape keys stay on scene frames), and the Run then makes files 1002-1003 (now on scene frames
    13-14) the absent ones, alpha 0 there in the compositor and only there."""
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "stretch", hidden_keys=[[11, False], [13, True],
                                                                                          [15, False]],
                                    render=[12, 13, 14, 15, 16], map=[100, 100], start=12, rerun=True)
    assert res["absent"] == ["1003-1004"] and res["absent_moved"] == ["1002-1003"], res
    assert "out of date" in res["status_moved"][1] and res["status_moved"][1].endswith(" 12-17"), res["status_moved"]
    assert "; absent 13-14" in res["scan_moved"] and res["status_rerun"] == ["mattes: all 6 frames current"], res
    for f, (n, path) in res["renders"].items():
        a = _alpha(path)
        assert (float(a.max()) == 0.0) == (int(f) in (13, 14)), (f, n, float(a.max()))
