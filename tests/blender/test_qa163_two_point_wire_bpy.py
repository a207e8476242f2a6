"""QA163 (a Blender user's day 14) in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): a wire
(a cable, a pole, a rig to remove) rotoed as artists do, two clicks in the Mask editor and Fill off, its width the
feather. Blender draws it as a line (its Mask node: the same pixels as the line with a third point in its middle).

Before: the add-on dropped every spline under 3 points, so the wire was ``[PROMPT_INVALID] no prompts ... (mask layer
'wire': a spline with fewer than 3 points on frame 1 was dropped ...)``, while the same line with 3 points was an open
stroke prompt. Now a spline with Fill off needs 2 points (samatte's open stroke), a filled one still 3.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa163_two_point_wire_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, op_result, render_mask, scene_for, step_scenario  # noqa: E402

LINE = ((10.0, 10.0), (54.0, 50.0))     # clip pixels


def _wire(addon, name, points, size):
    import bpy
    m = bpy.data.masks.new(name)
    sp = m.layers.new(name="wire").splines.new()
    sp.use_cyclic = False
    sp.use_fill = False
    sp.points.add(len(points) - 1)
    for p, xy in zip(sp.points, points):
        p.handle_left_type = p.handle_right_type = "VECTOR"
        p.co = addon.convert.px_to_mask(xy, size)
        p.weight = 0.05
    m.update_tag()
    return m


def step_wire(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    size = tuple(clip.size)
    mid = ((LINE[0][0] + LINE[1][0]) / 2, (LINE[0][1] + LINE[1][1]) / 2)
    two = _wire(addon, "Wire2", LINE, size)
    three = _wire(addon, "Wire3", (LINE[0], mid, LINE[1]), size)
    s = scene_for(sc, clip, two, os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    sc.frame_set(1)
    res["render2"] = render_mask(two, os.path.join(cfg["out"], "wire2.exr"))
    res["render3"] = render_mask(three, os.path.join(cfg["out"], "wire3.exr"))
    s.mask = three
    res["objects3"] = addon.ops.collect(bpy.context)[2]
    s.mask = two
    op_result(res, "scan", bpy.ops.samatte.scan)
    res["scan_text"] = s.scan_result
    res["objects2"] = addon.ops.collect(bpy.context)[2]
    op_result(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result


STEPS = {"wire": step_wire}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa163_wire")), frames=4, size=(64, 64), seed=3)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_two_point_line_with_fill_off_is_a_stroke_prompt(v, tmp_path, shot):
    import numpy as np
    from bpy_common import render_alpha, run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "wire")
    # Blender draws the two-point wire, as the three-point one
    a2, a3 = render_alpha(res["render2"]), render_alpha(res["render3"])
    assert (a2 > 0.5).sum() > 50 and np.abs(a2 - a3).max() < 1e-3, ((a2 > 0.5).sum(), np.abs(a2 - a3).max())
    # before: '[PROMPT_INVALID] no prompts: ... a spline with fewer than 3 points on frame 1 was dropped ...'
    assert res["scan"] == ["ok", ["FINISHED"]] and res["scan_text"].endswith("wire -> wire: bezier on 1"), res
    (ob2,), (ob3,) = res["objects2"], res["objects3"]
    (p2,), (p3,) = ob2["prompts"], ob3["prompts"]
    assert p2["closed"] is False and len(p2["points"]) == 2, p2
    # samatte reads both as the same stroke: positive points along the line
    from samatte.prompts import prepare_prompt
    from samatte.stages import PlateInfo, Window
    info = PlateInfo(data=Window(0, 0, 64, 64), display=Window(0, 0, 64, 64))
    q2, q3 = prepare_prompt(p2, info), prepare_prompt(p3, info)
    assert q2["type"] == "points" and len(q2["points"]) > 2, q2
    assert np.allclose(q2["points"], q3["points"], atol=1e-3) and q2["labels"] == q3["labels"], (q2, q3)
    assert res["run"] == ["ok", ["FINISHED"]] and res["last"].startswith("plate: 4 frames written"), res
