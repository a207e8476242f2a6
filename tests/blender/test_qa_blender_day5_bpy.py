"""Find objects with an object absent on some frames, in real bpy 5.0.1 and 4.2.23: the panel's objects
summary names the scene frames where the object is absent (its mask layer hidden in renders there), and a
layer hidden on every frame of the range says why it is skipped. A test skips when its ``.venv-bpyXX`` is
absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day5_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario, clip_on_scene_frames  # noqa: E402


# --- the bpy side ----------------------------------------------------------------------------------

def _hero(cfg, addon, info, n, hidden_keys):
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
    for f in (11, 10 + n):
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


STEPS = {"scan": step_scan}


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
    assert "absent" in res["every"] and "hidden in render" in res["every"], res["every"]
