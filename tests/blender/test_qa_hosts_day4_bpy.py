"""An artist's day with 'absent' in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent).

* A mask layer hidden in renders on **every** frame of the range (Hide in render keyed on, or just on) is
  skipped, noted; a tracking track named after it (``ghost.pt``) went to the panel's Tracks object (the first
  layer, ``side``) because ownership was decided among the layers that draw only: ``side`` got positive points
  where the hidden object is, on every frame, and its matte took in what the artist had hidden. Now the track
  is the hidden layer's and its points are dropped, noted.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_hosts_day4_bpy.py CONFIG.json``.
"""

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario, clip_on_scene_frames  # noqa: E402

GHOST = [[40, 40], [60, 40], [60, 60], [40, 60]]
SIDE = [[2, 2], [20, 2], [20, 20], [2, 20]]


# --- the bpy side ----------------------------------------------------------------------------------

def _layer(mask, name, poly, conv, info):
    layer = mask.layers.new(name=name)
    sp = layer.splines.new()
    sp.use_cyclic = True
    sp.points.add(len(poly) - 1)
    for j, xy in enumerate(poly):
        pt = sp.points[j]
        pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask(xy, info.size)
    for j in range(len(poly)):
        for attr in ("co", "handle_left", "handle_right"):
            mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=11)
    return layer


def step_ghost_track(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc, clip, info, n = clip_on_scene_frames(cfg, addon, 11)   # scene frames 11..16 show the files 1001..1006
    mask = bpy.data.masks.new("Roto")
    _layer(mask, "side", SIDE, conv, info)
    ghost = _layer(mask, "ghost", GHOST, conv, info)
    ghost.hide_render = True
    if cfg["keyed"]:    # Hide in render keyed on at the range's start (animated visibility: read on each frame)
        mask.keyframe_insert('layers["ghost"].hide_render', frame=11)
    mask.update_tag()
    tr = clip.tracking.tracks.new(name="ghost.pt", frame=1)
    for cf in range(1, n + 1):
        tr.markers.insert_frame(cf).co = (50.0 / info.size[0], 1 - 50.0 / info.size[1])
    tr.select = True
    s = sc.samatte
    s.mask = mask
    s.tracks = "SELECTED"
    sc.frame_set(11)
    _clip, _info, objects, frames, notes = addon.ops.collect(bpy.context)
    res["objects"] = {o["host_name"]: sorted({(p["frame"], p["type"]) for p in o["prompts"]}) for o in objects}
    res["notes"] = notes


STEPS = {"ghost_track": step_ghost_track}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day4_bpy")), frames=6, size=(64, 64))


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "static"])
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_track_of_a_layer_hidden_on_every_frame_is_no_prompt_of_another_object(v, keyed, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "ghost_track", keyed=keyed)
    # before: {"side": [(1001, "bezier"), (1001, "points"), ..., (1006, "points")]}: the ghost's points in side
    assert res["objects"] == {"side": [[1001, "bezier"]]}, res
    assert any("'ghost'" in t and "hidden in renders" in t for t in res["notes"]), res["notes"]
    assert any("'ghost'" in t and "points of its tracks on 6 frame(s) dropped" in t for t in res["notes"]), res["notes"]
