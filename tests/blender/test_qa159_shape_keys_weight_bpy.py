"""QA159 (a Blender user's day 13): a roto animated with mask shape keys (the I key in the Clip Editor's mask mode)
on which the artist also keyed one point's feather **Weight** (I over the field: an F-curve on
``layers["hero"].splines[0].points[0].weight``).

The add-on reads a layer on the frames its F-curves are keyed on, and samples the motion of a layer with none (shape
keys are not visible to Python). Any F-curve on the layer's splines counted as keys, so the weight's F-curve hid the
shape keys: a roto keyed on scene frames 2 and 5 (moving 6 px between them) was prompted on frame 1 only (the
weight's key), its shape there, and its move to frame 5 never sent; with the weight keyed only outside the frame
range, on the range's last frame only. Now a layer whose F-curves key no point position (``co``, handles) is also
sampled for its shape keys: prompts on 2 and 5 (and the weight's frame 1, as Blender draws it there).

Measured here too: Blender moves the points by the shape keys with the weight's F-curve in place (frame 5's points
6.4 px right of frame 2's).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa159_shape_keys_weight_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, load_clip, run_step_in_blender, step_scenario  # noqa: E402

KEYS = ((2, 0.0), (5, 0.1))     # scene frame, the shape's move in mask units (x) since the previous key


def _shape_keyed(addon, clip, polygon):
    """Mask ``Roto``, layer ``hero``: ``polygon`` (Vector handles) keyed with the I key (mask.shape_key_insert in a
    Clip Editor, through a context override) on the frames of KEYS, moved in x between them."""
    import bpy
    sc = bpy.context.scene
    mask = box_mask(addon, "Roto", "hero", polygon, tuple(clip.size))
    pts = mask.layers["hero"].splines[0].points
    win = bpy.context.window_manager.windows[0]
    area = win.screen.areas[0]
    area.type = "CLIP_EDITOR"
    space = area.spaces.active
    space.mode, space.clip, space.mask = "MASK", clip, mask
    region = next(r for r in area.regions if r.type == "WINDOW")
    for p in pts:
        p.select = True         # the I key keys the selected points' layers
    for f, dx in KEYS:
        sc.frame_set(f)
        for p in pts:
            p.co.x += dx
            p.handle_left.x += dx
            p.handle_right.x += dx
        with bpy.context.temp_override(window=win, area=area, region=region, space_data=space):
            bpy.ops.mask.shape_key_insert()
    return mask


def _prompts(addon, res, key):
    import bpy
    _c, info, objects, _frames, notes = addon.ops.collect(bpy.context)
    res[key] = {"frames": [info.scene_frame(q["frame"]) for q in objects[0]["prompts"]],
                "x0": {str(info.scene_frame(q["frame"])): q["points"][0][0] for q in objects[0]["prompts"]},
                "notes": notes}


def step_weight_key(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    mask = _shape_keyed(addon, clip, [tuple(p) for p in cfg["polygon"]])
    s = sc.samatte
    s.clip, s.mask, s.tracks = clip, mask, "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    sc.frame_set(1)
    _prompts(addon, res, "shape_keys")
    pts = mask.layers["hero"].splines[0].points
    # Blender's own reading of the shape: frame 5's points moved from frame 2's by the shape keys
    path = 'layers["hero"].splines[0].points[0].weight'
    pts[0].weight = 0.5
    mask.keyframe_insert(path, frame=1)
    for f in (2, 5):
        sc.frame_set(f)
        addon.ops.settle_mask(mask)
        res["blender_x_%d" % f] = pts[0].co.x * clip.size[0]
    sc.frame_set(1)
    _prompts(addon, res, "weight_key")
    # the weight keyed only outside the range (the clip's 6 frames: scene frames 1-6)
    mask.animation_data.action = None
    mask.keyframe_insert(path, frame=40)
    sc.frame_set(1)
    _prompts(addon, res, "weight_key_outside")


STEPS = {"weight": step_weight_key}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa159_shapekeys")), frames=6, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_keyed_feather_weight_does_not_hide_the_rotos_shape_keys(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "weight")
    assert res["shape_keys"]["frames"] == [2, 5], res["shape_keys"]       # (as before: shape keys alone)
    moved = res["blender_x_5"] - res["blender_x_2"]
    assert abs(moved - 6.4) < 0.01, res                                    # Blender moves it, weight keyed or not
    # before: [1], frame 1's shape alone (the move to frame 5 never sent)
    got = res["weight_key"]
    assert got["frames"] == [1, 2, 5], got
    assert abs(got["x0"]["5"] - got["x0"]["2"] - moved) < 0.01, got
    # before: [6] ('keyed only outside the frame range': the range's last frame alone)
    assert res["weight_key_outside"]["frames"] == [2, 5], res["weight_key_outside"]
