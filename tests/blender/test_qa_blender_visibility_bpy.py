"""Mask layers whose visibility in renders (``hide_render``) or opacity (``alpha``) is keyed, in real bpy 5.0.1
and 4.2.23. Blender's Mask node reads both on each frame (measured here with ``render_mask``): a layer keyed
hidden draws nothing on those frames (held until its next key), a keyed opacity is interpolated and
multiplies it; the viewport's ``hide`` changes nothing in a render. Before, the add-on read both on the
current frame only: a layer hidden there was skipped whole, one shown there was prompted on every key,
hidden ones included, and a garbage layer cut on frames where it is hidden. A test skips when its
``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_visibility_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, render_mask, run_step_in_blender, step_scenario  # noqa: E402

GARBAGE = [(40, 0), (64, 0), (64, 64), (40, 64)]     # over the right part of the ball
PROP = [(2, 48), (20, 48), (20, 62), (2, 62)]         # bottom left, clear of the ball
FADE = [(2, 2), (14, 2), (14, 14), (2, 14)]           # top left


# --- the bpy side ----------------------------------------------------------------------------------

def step_keyed(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    clip.frame_start = 11                 # scene frames 11..14 show the files 1001..1004
    sc.frame_start, sc.frame_end = 11, 14
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")

    def layer_with(name, poly, frames, blend=None, **keyed):
        layer = mask.layers.new(name=name)
        if blend:
            layer.blend = blend
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(len(poly) - 1)
        for j, xy in enumerate(poly):
            pt = sp.points[j]
            pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask(xy, info.size)
        for f in frames:
            for j in range(len(poly)):
                for attr in ("co", "handle_left", "handle_right"):
                    mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=f)
        for prop, keys in keyed.items():
            for f, v in keys:
                setattr(layer, prop, v)
                mask.keyframe_insert('layers["%s"].%s' % (name, prop), frame=f)
        mask.update_tag()
        return layer
    # hero: keyed on 11, 12, 14, hidden on 12 only
    layer_with("hero", cfg["polygon"], (11, 12, 14), hide_render=[(11, False), (12, True), (13, False)])
    # prop: keyed on 12 only, where it is hidden (shown on 11, 13, 14)
    layer_with("prop", PROP, (12,), hide_render=[(11, False), (12, True), (13, False)])
    # fade: keyed on 11 and 14, opacity 1 on 11-12, 0 from 13
    layer_with("fade", FADE, (11, 14), alpha=[(11, 1.0), (12, 1.0), (13, 0.0)])
    # garbage (subtract, unkeyed shape): hidden on 14
    layer_with("garbage", GARBAGE, (), blend="MERGE_SUBTRACT", hide_render=[(11, False), (14, True)])
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    sc.render.resolution_x, sc.render.resolution_y = info.size
    sc.render.resolution_percentage = 100
    for f in range(11, 15):
        sc.frame_set(f)
        render_mask(mask, os.path.join(cfg["out"], "blender_mask.%d.exr" % f))   # what Blender draws on f
    res["runs"] = {}
    for current in (11, 12):
        sc.frame_set(current)
        _clip, _info, objects, frames, notes = addon.ops.collect(bpy.context)
        res["frames"] = frames
        res["runs"][str(current)] = {
            "notes": notes, "raw": {o["name"]: o["prompts"] for o in objects},
            "prompts": {o["name"]: sorted([p["frame"], p.get("mode", "add")] for p in o["prompts"]) for o in objects}}


STEPS = {"keyed": step_keyed}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("vis_bpy")), frames=4, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_keyed_visibility_and_opacity_are_read_on_each_frame_as_blender_draws_them(v, tmp_path, shot):
    import OpenImageIO as oiio
    from bpy_common import prompts_mask
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "keyed")
    assert res["frames"] == [1001, 1002, 1003, 1004]
    w, h = shot["size"]

    def region(poly):
        return prompts_mask([{"frame": 1001, "type": "polygon", "points": [list(p) for p in poly]}], (w, h),
                            feather=0.0)
    hero, prop, fade, garbage = region(shot["polygon"]), region(PROP), region(FADE), region(GARBAGE)
    drawn = {f: oiio.ImageBuf(os.path.join(cfg["out"], "blender_mask.%d.exr" % f)).get_pixels(oiio.FLOAT)[..., 0]
             for f in range(11, 15)}
    # what Blender draws: hero not on 12 (hidden), prop not on 12, fade at opacity 0 on 13-14, garbage cuts the
    # hero on 11-13 but not on 14 (hidden there)
    assert (drawn[11][hero & ~garbage] > 0.9).mean() > 0.9 and (drawn[12][hero] < 0.1).all()
    assert (drawn[11][prop] > 0.9).mean() > 0.8 and (drawn[12][prop] < 0.1).all()
    assert (drawn[12][fade] > 0.9).mean() > 0.8 and (drawn[14][fade] < 0.1).all()
    assert (drawn[11][hero & garbage] < 0.1).mean() > 0.8 and (drawn[14][hero & garbage] > 0.9).mean() > 0.8
    for current, run in res["runs"].items():
        print(current, run["prompts"], run["notes"])
        # hero: prompts on its keys where shown (11, 14; not 12), cut by the garbage on 11 only (hidden on 14);
        # before: on 11, 12 and 14, cut on all three (current frame 11), or skipped whole (current frame 12)
        assert run["prompts"]["hero"] == [[1001, "add"], [1001, "subtract"], [1004, "add"]], current
        # prop, keyed only on 12 where it is hidden: on the shown frame nearest its key (11), as Blender draws it
        # there; before: on 12, where Blender draws nothing (current 11), or skipped (current 12)
        assert run["prompts"]["prop"] == [[1001, "add"], [1001, "subtract"]], current
        ours = prompts_mask([p for p in run["raw"]["prop"] if p.get("mode") != "subtract"], (w, h), feather=0.0)
        theirs = (drawn[11] > 0.5) & ~hero & ~fade
        assert (ours & theirs).sum() / float((ours | theirs).sum()) > 0.9
        # fade: on 11 only (opacity 0 on its key 14); before: on 11 and 14. The unkeyed garbage layer is read on the
        # current frame, a correction there of the objects drawn there (fade on 12; not hero or prop, hidden on 12)
        assert run["prompts"]["fade"] == [[1001, "add"], [1001, "subtract"]] + (
            [[1002, "subtract"]] if current == "12" else []), current
        assert any("'prop'" in n and "frame 11" in n for n in run["notes"]), run["notes"]
        assert not any("skipped" in n for n in run["notes"]), run["notes"]
