"""Mask layers with Invert on, and at opacity 0, read as Blender draws them (real bpy 5.0.1 and 4.2.23;
a test skips when its ``.venv-bpyXX`` is absent).

The prompts the add-on gathers are rasterised by samatte (union of the add shapes minus the subtract
shapes, as the trackers combine them) and compared with Blender's own Mask node render of the same
mask. Before, Invert was ignored: an inverted layer prompted its shapes instead of the frame around them.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_blender_invert.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, load_clip, prompts_mask, render_alpha, render_mask,  # noqa: E402
                        run_step_in_blender, step_scenario)

HERE = os.path.dirname(os.path.abspath(__file__))

BIG = [(20.0, 10.0), (60.0, 10.0), (60.0, 50.0), (20.0, 50.0)]
HOLE = [(30.0, 20.0), (45.0, 20.0), (45.0, 35.0), (30.0, 35.0)]
SIDE = [(80.0, 30.0), (110.0, 30.0), (110.0, 60.0), (80.0, 60.0)]
SMALL = [(40.0, 25.0), (90.0, 25.0), (90.0, 45.0), (40.0, 45.0)]


# --- the bpy side ----------------------------------------------------------------------------------

def _layer(addon, mask, name, polys, size, **props):
    layer = mask.layers.new(name=name)
    for poly in polys:
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(len(poly) - 1)
        for p, xy in zip(sp.points, poly):
            p.handle_left_type = p.handle_right_type = "FREE"
            p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, size)
    for k, val in props.items():
        setattr(layer, k, val)
    return layer


def step_inverted(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    size = addon.gather.clip_info(clip, abspath=bpy.path.abspath).size
    cases = {
        # the frame minus two shapes, one with a hole ("Holes" on): the hole is drawn
        "inverted": [("hero", [BIG, HOLE, SIDE], dict(invert=True, use_fill_holes=True))],
        # a plain shape, cut by an inverted garbage matte: only what lies inside the garbage shape stays
        "garbage": [("hero", [BIG, SIDE], dict(use_fill_holes=False)),
                    ("garbage", [SMALL], dict(blend="MERGE_SUBTRACT", invert=True))],
        # a layer at opacity 0 draws nothing: not an object
        "alpha0": [("hero", [BIG], {}), ("ghost", [SIDE], dict(alpha=0.0))],
    }
    s = sc.samatte
    s.tracks = "NONE"
    sc.frame_set(3)
    for name, layers in cases.items():
        mask = bpy.data.masks.new(name)
        for lname, polys, props in layers:
            _layer(addon, mask, lname, polys, size, **props)
        s.mask = mask
        _clip, _info, objects, _frames, notes = addon.ops.collect(bpy.context)
        res[name] = {"objects": objects, "notes": notes,
                     "render": render_mask(mask, os.path.join(cfg["out"], "%s.exr" % name))}
    res["size"] = list(size)


STEPS = {"inverted": step_inverted}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("invshot")), frames=4, size=(128, 72))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_inverted_layers_and_opacity_0_are_read_as_blender_draws_them(v, tmp_path, shot):
    import numpy as np
    res = run_step_in_blender(__file__, v, tmp_path, shot, "inverted")[0]
    size = tuple(res["size"])
    for case in ("inverted", "garbage"):
        [ob] = res[case]["objects"]
        got = prompts_mask(ob["prompts"], size)
        alpha = render_alpha(res[case]["render"])
        want = alpha >= 0.5
        assert want.sum() > 500, case
        # Blender anti-aliases the shapes' edges (the pixels beside an edge on whole pixels get ~0.5);
        # every pixel it draws decided (< 0.1 or > 0.9) agrees
        decided = (alpha < 0.1) | (alpha > 0.9)
        assert decided.sum() > 0.9 * alpha.size
        assert np.count_nonzero((got != want) & decided) == 0, case
    inv = res["inverted"]["objects"][0]["prompts"]
    assert [bool(p.get("invert")) for p in inv].count(True) == 1
    [ob] = res["alpha0"]["objects"]
    assert ob["host_name"] == "hero"
    assert any("opacity 0" in n for n in res["alpha0"]["notes"])
