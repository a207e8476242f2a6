"""QA170 (a Blender user's day 15) in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent).

* A lens (an eye, a lens flare's ghost, a pupil): two clicks in the Mask editor and their handles dragged, Fill on.
  Blender fills it (its Mask node); the add-on dropped every filled spline under 3 points (``a spline with fewer than
  3 points ... was dropped``), so a layer of lenses was 'no prompts'. Now its first segment is split in two (the same
  outline in 3 points, samatte's closed bezier); a filled two-point spline with straight handles (a line: Blender
  draws nothing) is still dropped, noted.
* Blender 5, a compositor with two Group Outputs, the artist's second one active (a slap comp): a Run fed the first
  and made it active, switching the render and the backdrop away from the artist's. Now a Run feeds the active one
  and leaves the choice as it is.
* A roto moved off the plate on a key: the worker refuses it; the error names the mask layer and the scene frame.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa170_day15_bpy.py CONFIG.json``.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, op_result, render_mask, scene_for, step_scenario  # noqa: E402,E501


def _two_point(addon, mask, name, ends, handles, size, cyclic=True, fill=True):
    """A layer ``name`` of ``mask``: one spline through the points ``ends`` (clip pixels), ``handles``:
    ((p0 left, p0 right), (p1 left, p1 right), ...) in clip pixels."""
    sp = mask.layers.new(name=name).splines.new()
    sp.use_cyclic, sp.use_fill = cyclic, fill
    sp.points.add(len(ends) - 1)
    for p, xy, (hl, hr) in zip(sp.points, ends, handles):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = addon.convert.px_to_mask(xy, size)
        p.handle_left = addon.convert.px_to_mask(hl, size)
        p.handle_right = addon.convert.px_to_mask(hr, size)
    return sp


LENS = (((14, 32), (50, 32)), (((14, 54), (14, 10)), ((50, 10), (50, 54))))
HALF = (((14, 32), (50, 32)), (((14, 32), (14, 60)), ((50, 60), (50, 32))))
# the lens's outline in three points (its first segment split in half), as an artist would click it
LENS3 = (((14, 32), (32, 15.5), (50, 32)), (((14, 54), (14, 21)), ((23, 15.5), (41, 15.5)), ((50, 21), (50, 54))))
FLAT = (((14, 32), (50, 32)), (((14, 32), (14, 32)), ((50, 32), (50, 32))))


def step_lens(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    size = tuple(clip.size)
    masks = {}
    for name, (ends, handles), cyclic in (("lens", LENS, True), ("half", HALF, False), ("flat", FLAT, True),
                                   ("lens3", LENS3, True)):
        m = bpy.data.masks.new(name)
        _two_point(addon, m, name, ends, handles, size, cyclic=cyclic)
        m.update_tag()
        masks[name] = m
    s = scene_for(sc, clip, masks["lens"], os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    sc.frame_set(1)
    for name, m in masks.items():
        res["render_" + name] = render_mask(m, os.path.join(cfg["out"], name + ".exr"))
        s.mask = m
        got = addon.ops.collect(bpy.context)
        res["objects_" + name], res["notes_" + name] = got[2], got[4]
    s.mask = masks["lens"]
    op_result(res, "scan", bpy.ops.samatte.scan)
    res["scan_text"] = s.scan_result


def step_outputs(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    tree = addon.compositor.compositor_tree(sc)
    a = tree.nodes.new("NodeGroupOutput")
    a.name = "first output"
    b = tree.nodes.new("NodeGroupOutput")
    b.name = "slap comp"
    b.is_active_output = True
    res["before"] = {n.name: n.is_active_output for n in (a, b)}
    sc.frame_set(1)
    for key in ("run", "rerun"):
        op_result(res, key, bpy.ops.samatte.run)
        outs = [n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"]
        setalpha = tree.nodes[addon.compositor.NODE_SETALPHA]
        res[key + "_active"] = {n.name: n.is_active_output for n in outs}
        res[key + "_fed"] = sorted(n.name for n in outs if addon.compositor._feeds(setalpha.outputs[0], n.inputs[0]))


def step_offplate(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    out = os.path.join(cfg["out"], "mattes")
    s = scene_for(sc, clip, mask, out)
    s.tracks = "NONE"
    clip.frame_start = 11                   # files 1001-1004 on scene frames 11-14
    sc.frame_start, sc.frame_end = 11, 14
    sp = mask.layers["hero"].splines[0]
    drawn = [tuple(p.co) for p in sp.points]
    for f, dx in ((11, 0.0), (13, 3.0)):     # keyed as drawn on 11, dragged far off the plate on 13
        for i, p in enumerate(sp.points):
            p.co = (drawn[i][0] + dx, drawn[i][1])
            mask.keyframe_insert('layers["hero"].splines[0].points[%d].co' % i, frame=f)
    sc.frame_set(11)
    op_result(res, "status", bpy.ops.samatte.status)
    res["status_text"] = s.status_result
    op_result(res, "farm", bpy.ops.samatte.farm_export)
    op_result(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result
    res["written"] = sorted(os.listdir(os.path.join(out, "plate"))) if os.path.isdir(os.path.join(out, "plate")) else []


def step_viewer(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    sc.frame_set(1)
    C = addon.compositor

    def viewers(key):
        tree = C.existing_tree(sc)
        res[key] = sorted((n.name, [lk.from_node.name for lk in n.inputs[0].links])
                          for n in tree.nodes if n.bl_idname == "CompositorNodeViewer")
    op_result(res, "run", bpy.ops.samatte.run)
    viewers("first")
    tree = C.existing_tree(sc)
    # the artist looks at the plate alone (Ctrl+Shift+click on it moves the Viewer's link): a re-run leaves it
    tree.links.new(tree.nodes[C.NODE_PLATE].outputs["Image"], tree.nodes[C.NODE_VIEWER].inputs[0])
    op_result(res, "rerun", bpy.ops.samatte.run)
    viewers("moved")
    # the artist's own Viewer instead of samatte's: no second one
    tree.nodes.remove(tree.nodes[C.NODE_VIEWER])
    own = tree.nodes.new("CompositorNodeViewer")
    own.name = "my viewer"
    tree.links.new(tree.nodes[C.NODE_PLATE].outputs["Image"], own.inputs[0])
    op_result(res, "third", bpy.ops.samatte.run)
    viewers("own")


STEPS = {"lens": step_lens, "outputs": step_outputs, "offplate": step_offplate, "viewer": step_viewer}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa170_day15")), frames=4, size=(64, 64), seed=3)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_filled_two_point_lens_is_the_shape_blender_fills(v, tmp_path, shot):
    from bpy_common import prompts_mask, render_alpha, run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "lens")
    for name in ("lens", "half"):
        drawn = render_alpha(res["render_" + name]) > 0.5
        assert drawn.sum() > 300, (name, drawn.sum())       # Blender fills it
        obs = res["objects_" + name]
        # before: PROMPT_INVALID no prompts ('a spline with fewer than 3 points ... was dropped')
        assert isinstance(obs, list) and len(obs) == 1, (name, obs)
        (p,) = obs[0]["prompts"]
        assert p["type"] == "bezier" and p.get("closed", True) and len(p["points"]) == 3, p
        ours = prompts_mask([p], (64, 64), feather=0.0)
        iou = (ours & drawn).sum() / float((ours | drawn).sum())
        assert iou > 0.9, (name, iou, ours.sum(), drawn.sum())
    # the two-point lens is the three-point one: the same pixels in Blender, the same prompt in samatte
    import numpy as np
    a2, a3 = render_alpha(res["render_lens"]), render_alpha(res["render_lens3"])
    assert ((a2 > 0.5) != (a3 > 0.5)).sum() <= 4 and np.abs(a2 - a3).max() < 0.25, np.abs(a2 - a3).max()
    (p2,), (p3,) = res["objects_lens"][0]["prompts"], res["objects_lens3"][0]["prompts"]
    assert np.allclose(p2["points"], p3["points"], atol=1e-3), (p2, p3)
    # a filled two-point line with straight handles: Blender draws nothing; dropped, said so
    assert (render_alpha(res["render_flat"]) > 0.5).sum() <= 5   # a few specks of a 36 px line
    assert res["objects_flat"] == [] and any("a filled spline of 2 points with straight handles" in n
                                             for n in res["notes_flat"]), res["notes_flat"]
    assert res["scan"] == ["ok", ["FINISHED"]] and res["scan_text"].endswith("lens -> lens: bezier on 1"), res


@pytest.mark.skipif("50" not in VERSIONS, reason="Blender 5's Group Output")
def test_a_run_keeps_the_artists_active_group_output(tmp_path, shot):
    from bpy_common import run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, "50", tmp_path, shot, "outputs")
    assert res["before"] == {"first output": False, "slap comp": True}, res
    for key in ("run", "rerun"):
        assert res[key] == ["ok", ["FINISHED"]], res
        # before: {'first output': True, 'slap comp': False}, samatte feeding the first output
        assert res[key + "_active"] == {"first output": False, "slap comp": True}, res
        assert res[key + "_fed"] == ["slap comp"], res


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_roto_dragged_off_the_plate_on_a_key_names_its_layer(v, tmp_path, shot):
    from bpy_common import run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "offplate")
    assert res["run"][0] == "raised", res["run"]
    # before: '[PROMPT_INVALID] bezier prompt lies entirely outside the canvas (64x64) (at objects[0].prompts[1])
    # (scene frame 13)'
    assert "(at objects[0].prompts[1]): mask layer 'hero' on scene frame 13 (its shape there lies off the clip's " \
        "picture" in res["run"][2], res["run"]
    assert "mask layer 'hero' on scene frame 13" in res["last"], res["last"]
    # Check mattes and Send to farm refuse it too, the same words (before: 'mattes: 0 of 4 frames current; Run to
    # update the others', and a farm bundle whose every Track task failed PROMPT_INVALID)
    want = "[PROMPT_INVALID] bezier prompt lies entirely outside the canvas (64x64) (at objects[0].prompts[1]): " \
        "mask layer 'hero' on scene frame 13"
    assert res["status"][0] == "raised" and want in res["status"][2] and res["status_text"].startswith(want), res
    assert res["farm"][0] == "raised" and want in res["farm"][2], res["farm"]
    assert not [n for n in res["written"] if n.endswith("_openjd") or n.endswith(".json")], res["written"]
    assert not [n for n in res["written"] if n.endswith(".exr")], res["written"]     # refused before any frame


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_run_wires_a_viewer_for_the_backdrop_unless_there_is_one(v, tmp_path, shot):
    from bpy_common import run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "viewer")
    assert [res[k] for k in ("run", "rerun", "third")] == [["ok", ["FINISHED"]]] * 3, res
    # before: [] (the backdrop, which shows a Viewer's input, stayed empty after a Run)
    assert res["first"] == [["samatte viewer", ["samatte set alpha"]]], res["first"]
    assert res["moved"] == [["samatte viewer", ["samatte plate"]]], res["moved"]
    assert res["own"] == [["my viewer", ["samatte plate"]]], res["own"]
