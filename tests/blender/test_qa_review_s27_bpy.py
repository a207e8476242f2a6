"""QA review of session 27 in real bpy 5.0.1 and 4.2.23: a garbage (Subtract) mask layer keyed only outside
the job's frames is drawn by Blender on every frame, held from its key, so the add-on cuts the roto layers
before it there too. Before: the layer was skipped ("has no keys inside the frame range"), its garbage area
kept in the matte. A test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_review_s27_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, render_mask, run_step_in_blender, step_scenario, clip_on_scene_frames  # noqa: E402

#: the garbage matte over the right part of the ball (display pixels, top-left origin)
GARBAGE = [(40, 0), (64, 0), (64, 64), (40, 64)]


# --- the bpy side ----------------------------------------------------------------------------------

def step_held(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc, clip, info, n = clip_on_scene_frames(cfg, addon, 11)   # scene frames 11.. show the files 1001..
    mask = bpy.data.masks.new("Roto")

    def layer_with(name, poly, frames, blend=None):
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
        mask.update_tag()
        return layer
    layer_with("hero", cfg["polygon"], (11, 10 + n))
    if cfg.get("garbage"):
        layer_with("garbage", cfg["garbage"], (cfg["garbage_key"],), blend="MERGE_SUBTRACT")
    if cfg.get("prop"):     # an object layer keyed only outside the job's frames
        layer_with("prop", cfg["prop"], (cfg["prop_key"],))
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    sc.render.resolution_x, sc.render.resolution_y = info.size
    sc.render.resolution_percentage = 100
    for f in (11, 10 + n):
        sc.frame_set(f)
        render_mask(mask, os.path.join(cfg["out"], "blender_mask.%d.exr" % f))   # what Blender draws on f
    sc.frame_set(11)
    _clip, _info, objects, frames, notes = addon.ops.collect(bpy.context)
    res["frames"] = frames
    res["notes"] = notes
    res["prompts"] = {o["name"]: sorted([p["frame"], p.get("mode", "add")] for p in o["prompts"]) for o in objects}
    res["raw"] = {o["name"]: o["prompts"] for o in objects}


STEPS = {"held": step_held}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("s27_bpy")), frames=4, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_garbage_layer_keyed_only_outside_the_job_cuts_where_blender_draws_it(v, tmp_path, shot):
    import numpy as np
    import OpenImageIO as oiio
    from bpy_common import prompts_mask
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "held", garbage=[list(p) for p in GARBAGE],
                                   garbage_key=30)
    print(res["prompts"], res["notes"])
    assert res["frames"] == [1001, 1002, 1003, 1004]
    # Blender draws the garbage layer (keyed on scene frame 30 only) held on frame 11: its area is 0 there
    buf = oiio.ImageBuf(os.path.join(cfg["out"], "blender_mask.11.exr"))
    drawn = buf.get_pixels(oiio.FLOAT)[..., 0] > 0.5
    w, h = shot["size"]
    garbage = prompts_mask([{"frame": 1001, "type": "polygon", "points": [list(p) for p in GARBAGE]}], (w, h),
                           feather=0.0)
    hero = prompts_mask([{"frame": 1001, "type": "polygon", "points": shot["polygon"]}], (w, h), feather=0.0)
    inside = hero & garbage & np.roll(garbage, 1, axis=1) & np.roll(garbage, -1, axis=1)   # off its edge
    assert inside.sum() > 20 and not drawn[inside].any()
    assert (drawn & hero & ~garbage).sum() > 50
    # and the job cuts it on the hero's frames (scene 11 and 14: files 1001 and 1004)
    assert res["prompts"] == {"hero": [[1001, "add"], [1001, "subtract"], [1004, "add"], [1004, "subtract"]]}
    assert not any("skipped" in n for n in res["notes"]), res["notes"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_an_object_layer_keyed_only_outside_the_job_is_matted_as_blender_holds_it(v, tmp_path, shot):
    """A roto layer keyed once on scene frame 30, the job on scene frames 11-14: Blender draws it held on
    every frame of the job. Before, the add-on skipped it ("has no keys inside the frame range: skipped"):
    the object was not matted at all. Now it is prompted on the job's frame nearest its key (scene 14,
    file 1004) with the shape Blender draws there."""
    import OpenImageIO as oiio
    from bpy_common import prompts_mask
    prop = [[4, 40], [20, 40], [20, 60], [4, 60]]
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "held", prop=prop, prop_key=30)
    assert res["prompts"]["prop"] == [[1004, "add"]], res["prompts"]
    assert any("prop" in n and "frame 14" in n for n in res["notes"]), res["notes"]
    w, h = shot["size"]
    drawn = oiio.ImageBuf(os.path.join(cfg["out"], "blender_mask.14.exr")).get_pixels(oiio.FLOAT)[..., 0] > 0.5
    hero = prompts_mask([{"frame": 1004, "type": "polygon", "points": shot["polygon"]}], (w, h), feather=0.0)
    ours = prompts_mask(res["raw"]["prop"], (w, h), feather=0.0)
    drawn_prop = drawn & ~hero
    assert drawn_prop.sum() > 200
    assert (ours & drawn_prop).sum() / float((ours | drawn_prop).sum()) > 0.9
