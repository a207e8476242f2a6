"""Mask features a Blender artist uses, read as Blender draws them (real bpy 5.0.1 and 4.2.23; a test
skips when its ``.venv-bpyXX`` is absent): splines with Fill off (cyclic and not), an open spline with
Fill on, layer blend modes (Add, Lighten, Darken, Multiply, Replace, Difference, and a Subtract layer
below an add layer), a layer's opacity between 0 and 1, self-intersecting splines (Calculate Overlap
on and off) and feather.

The prompts the add-on gathers for every object are rasterised by samatte (each object: the union of
its add shapes minus its subtract shapes; the objects together: their union) and compared with
Blender's own Mask node render of the same mask on every pixel Blender draws decided (< 0.1 or > 0.9).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_blender_masks2.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, load_clip, render_alpha, render_mask,  # noqa: E402
                        run_step_in_blender, step_scenario)

HERE = os.path.dirname(os.path.abspath(__file__))

BIG = [(20.0, 10.0), (60.0, 10.0), (60.0, 50.0), (20.0, 50.0)]
SIDE = [(80.0, 30.0), (110.0, 30.0), (110.0, 60.0), (80.0, 60.0)]
SMALL = [(40.0, 25.0), (90.0, 25.0), (90.0, 45.0), (40.0, 45.0)]
CUP = [(70.0, 10.0), (70.0, 60.0), (120.0, 60.0), (120.0, 10.0)]     # open: a U (chord across the top)
# a pentagram (one spline crossing itself: its centre is wound twice) and a bow tie (+1 / -1)
STAR = [(64.0, 4.0), (82.0, 66.0), (32.0, 26.0), (96.0, 26.0), (46.0, 66.0)]
BOWTIE = [(20.0, 10.0), (60.0, 50.0), (60.0, 10.0), (20.0, 50.0)]

# name -> [(layer name, [polygons], layer props, spline props, point weight)]
CASES = {
    "nofill_cyclic": [("hero", [BIG], {}, {}, 0.0), ("ring", [SIDE], {}, dict(use_fill=False), 0.0)],
    "nofill_open": [("hero", [BIG], {}, {}, 0.0), ("line", [CUP], {}, dict(use_fill=False, use_cyclic=False), 0.0)],
    "open_fill": [("cup", [CUP], {}, dict(use_cyclic=False), 0.0)],
    "add": [("a", [BIG], {}, {}, 0.0), ("b", [SMALL], dict(blend="ADD"), {}, 0.0)],
    "lighten": [("a", [BIG], {}, {}, 0.0), ("b", [SMALL], dict(blend="LIGHTEN"), {}, 0.0)],
    "darken": [("a", [BIG], {}, {}, 0.0), ("b", [SMALL], dict(blend="DARKEN"), {}, 0.0)],
    "mul": [("a", [BIG, SIDE], {}, {}, 0.0), ("b", [SMALL], dict(blend="MUL"), {}, 0.0)],
    "replace": [("a", [BIG, SIDE], {}, {}, 0.0), ("b", [SMALL], dict(blend="REPLACE"), {}, 0.0)],
    "difference": [("a", [BIG], {}, {}, 0.0), ("b", [SMALL], dict(blend="DIFFERENCE"), {}, 0.0)],
    "darken_first": [("b", [SMALL], dict(blend="DARKEN"), {}, 0.0), ("a", [SIDE], {}, {}, 0.0)],
    "sub_below": [("g", [SMALL], dict(blend="MERGE_SUBTRACT"), {}, 0.0), ("a", [BIG], {}, {}, 0.0),
                  ("c", [SIDE], {}, {}, 0.0)],
    "alpha03": [("a", [BIG], {}, {}, 0.0), ("faint", [SIDE], dict(alpha=0.3), {}, 0.0)],
    "alpha07": [("a", [BIG], {}, {}, 0.0), ("half", [SIDE], dict(alpha=0.7), {}, 0.0)],
    "star": [("star", [STAR], dict(use_fill_overlap=False), {}, 0.0)],
    "star_overlap": [("star", [STAR], dict(use_fill_overlap=True), {}, 0.0)],
    "bowtie": [("tie", [BOWTIE], dict(use_fill_overlap=False), {}, 0.0)],
    "bowtie_overlap": [("tie", [BOWTIE], dict(use_fill_overlap=True), {}, 0.0)],
    "feather": [("soft", [SMALL], {}, {}, 0.05)],
    "feather_rev": [("soft", [SMALL[::-1]], {}, {}, 0.05)],
}


# --- the bpy side ----------------------------------------------------------------------------------

def _layer(addon, mask, name, polys, size, props, spline_props, weight):
    layer = mask.layers.new(name=name)
    for poly in polys:
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(len(poly) - 1)
        for p, xy in zip(sp.points, poly):
            p.handle_left_type = p.handle_right_type = "FREE"
            p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, size)
            p.weight = weight
        for k, val in spline_props.items():
            setattr(sp, k, val)
    for k, val in props.items():
        setattr(layer, k, val)
    return layer


def step_masks(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    size = addon.gather.clip_info(clip, abspath=bpy.path.abspath).size
    s = sc.samatte
    s.tracks = "NONE"
    sc.frame_set(3)
    for name in cfg["cases"]:
        mask = bpy.data.masks.new(name)
        for spec in CASES[name]:
            _layer(addon, mask, *spec[:1], spec[1], size, *spec[2:])
        s.mask = mask
        try:
            _clip, _info, objects, _frames, notes = addon.ops.collect(bpy.context)
        except Exception as e:  # noqa: BLE001 - a case may leave no prompt at all
            objects, notes = [], ["collect: %s" % e]
        res[name] = {"objects": objects, "notes": notes,
                     "render": render_mask(mask, os.path.join(cfg["out"], "%s.exr" % name))}
    res["size"] = list(size)


STEPS = {"masks": step_masks}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("masks2shot")), frames=4, size=(128, 72))


def objects_mask(objects, size, frame=None):
    """The union of the objects' keyframe masks on ``frame`` (default: each object's first) as the
    trackers seed them (:func:`samatte.track.seed.keyframe_soft` >= 0.5: the add shapes' soft
    coverage, feather included, minus the subtract shapes); points prompts (open strokes) draw nothing."""
    import numpy as np
    from samatte.prompts import prepare_prompt
    from samatte.stages import PlateInfo, Window
    from samatte.track.seed import keyframe_soft
    w, h = size
    info = PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h))
    out = np.zeros((h, w), bool)
    for ob in objects:
        f = frame if frame is not None else min(p["frame"] for p in ob["prompts"])
        shapes = [prepare_prompt(p, info) for p in ob["prompts"]
                  if p["frame"] == f and p["type"] != "points" and p.get("closed") is not False]
        if shapes:
            out |= keyframe_soft(shapes, (h, w)) >= 0.5
    return out


def edge_band(m):
    """Pixels on the outline of bool ``m`` (its 3x3 dilation minus its 3x3 erosion)."""
    import cv2
    import numpy as np
    k = np.ones((3, 3), np.uint8)
    u = m.astype(np.uint8)
    return cv2.dilate(u, k).astype(bool) & ~cv2.erode(u, k).astype(bool)


def disagreement(case, size):
    """``(pixels decided otherwise, of them on samatte's outline, decided pixels)``: the pixels Blender
    draws decided (< 0.1 or > 0.9) that samatte's rasterisation of the prompts decides otherwise. On
    an outline the two rasterisers differ by design (Blender samples pixel centres and adds a one-pixel
    outward ramp, its Add mode summing two ramps to 1 where two edges meet; samatte measures area
    coverage): a pixel there is not a reading of the prompts."""
    alpha = render_alpha(case["render"])
    got = objects_mask(case["objects"], size)
    decided = (alpha < 0.1) | (alpha > 0.9)
    bad = (got != (alpha >= 0.5)) & decided
    return int(bad.sum()), int((bad & edge_band(got)).sum()), int(decided.sum())


#: the cases Blender draws as samatte reads the prompts; (star, bowtie: Blender's scan-fill of a spline
#: crossing itself leaves parts unfilled: samatte fills by non-zero winding, noted; see the test below)
EXACT = sorted(set(CASES) - {"star", "bowtie", "bowtie_overlap"})


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_masks_are_read_as_blender_draws_them(v, tmp_path, shot):
    res = run_step_in_blender(__file__, v, tmp_path, shot, "masks", cases=sorted(CASES))[0]
    size = tuple(res["size"])
    for name in EXACT:
        bad, on_edge, decided = disagreement(res[name], size)
        assert decided > 0.85 * size[0] * size[1], name
        # before: nofill_cyclic 788, open_fill 2500, darken 1719, mul 2269, replace 1864, difference 400,
        # darken_first 825, sub_below 550, feather 144 pixels decided otherwise; now only outline pixels
        # (star_overlap, a self-overlapping star: 59 outline pixels with coverage >= 0.5, 61 with pixel
        # centres, samatte 0.2.15's rule; the bound is a sanity check on the outline, not a target)
        assert bad == on_edge and on_edge <= 70, (name, bad, on_edge)
    objs = {name: {o["host_name"]: o for o in res[name]["objects"]} for name in CASES}
    # Fill off: a line, read as a stroke (positive points); cyclic: closed on its first point
    ring = objs["nofill_cyclic"]["ring"]["prompts"][0]
    assert ring["closed"] is False and ring["points"][0] == ring["points"][-1]
    assert objs["nofill_open"]["line"]["prompts"][0]["closed"] is False
    # an open spline with Fill on is filled across its chord
    assert objs["open_fill"]["cup"]["prompts"][0].get("closed") is not False
    # cutting layers are no objects; a first Darken layer draws nothing
    assert set(objs["darken"]) == set(objs["mul"]) == {"a"} and set(objs["darken_first"]) == {"a"}
    assert set(objs["replace"]) == {"a", "b"}
    # a Subtract layer cuts the layers before it only
    assert [p.get("mode") for p in objs["sub_below"]["a"]["prompts"]] == [None]
    # opacity: under 0.5 skipped, 0.5 or more read as opaque, both noted
    assert set(objs["alpha03"]) == {"a"} and any("opacity 0.30" in n for n in res["alpha03"]["notes"])
    assert set(objs["alpha07"]) == {"a", "half"} and any("opacity 0.70" in n for n in res["alpha07"]["notes"])
    # feather: 0.05 mask units = 6.4 px outward; wound the other way Blender draws it hard
    assert objs["feather"]["soft"]["prompts"][0]["feather"] == pytest.approx(6.4, abs=1e-3)
    assert "feather" not in objs["feather_rev"]["soft"]["prompts"][0]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_spline_crossing_itself_is_filled_by_nonzero_winding_and_noted(v, tmp_path, shot):
    import numpy as np
    cases = ["star", "star_overlap", "bowtie"]
    res = run_step_in_blender(__file__, v, tmp_path, shot, "masks", cases=cases)[0]
    size = tuple(res["size"])
    # Calculate Overlap on: Blender fills the pentagram's centre too, as samatte does
    bad, on_edge, _ = disagreement(res["star_overlap"], size)
    assert bad == on_edge
    assert any("crosses itself" in n for n in res["star_overlap"]["notes"])
    # off: Blender leaves the centre (and more) unfilled; samatte fills it, and says so
    alpha = render_alpha(res["star"]["render"])
    assert alpha[40, 64] < 0.1 and objects_mask(res["star"]["objects"], size)[40, 64]
    for name in ("star", "bowtie"):
        assert any("crosses itself" in n and "Calculate Overlap on" in n for n in res[name]["notes"]), name
    assert np.count_nonzero(objects_mask(res["bowtie"]["objects"], size)) >= 780     # both lobes


# --- plain (no Blender) --------------------------------------------------------------------------

def _plain_gather():
    from addon_plain import plain
    return plain("gather")


def test_layer_roles_follow_blenders_blend_modes():
    from types import SimpleNamespace as ns
    g = _plain_gather()
    role = {b: g.layer_role(ns(blend=b, invert=False)) for b in g.BLEND_ROLES}
    assert role["MERGE_ADD"] == role["ADD"] == role["LIGHTEN"] == (True, None)
    assert role["SUBTRACT"] == role["MERGE_SUBTRACT"] == (False, "remove")
    assert role["DARKEN"] == role["MUL"] == (False, "keep")
    assert role["REPLACE"] == (True, "keep") and role["DIFFERENCE"] == (True, "remove")
    assert g.layer_role(ns(blend="DARKEN", invert=True)) == (False, "remove")
    assert g.layer_role(ns(blend="MERGE_SUBTRACT", invert=True)) == (False, "keep")


def test_crosses_itself():
    g = _plain_gather()

    def pts(poly):
        return [[x, y, x, y, x, y] for x, y in poly]
    assert not g.crosses_itself(pts([(0, 0), (10, 0), (10, 10), (0, 10)]))
    assert g.crosses_itself(pts(BOWTIE)) and g.crosses_itself(pts(STAR))


def test_open_spline_with_fill_is_closed_by_a_straight_chord_and_feather_follows_winding():
    from types import SimpleNamespace as ns
    g = _plain_gather()
    info = g.ClipInfo(size=(128, 72), first_file=1)
    from addon_plain import plain
    conv = plain("convert")

    def spline(poly, **kw):
        points = []
        for xy in poly:
            co = conv.px_to_mask(xy, (128, 72))
            points.append(ns(co=co, handle_left=(co[0] - 0.01, co[1]), handle_right=(co[0] + 0.01, co[1]),
                             weight=kw.get("weight", 0.0), feather_points=kw.get("uw", [])))
        return ns(points=points, use_cyclic=kw.get("cyclic", True), use_fill=kw.get("fill", True))
    p = g._spline_prompt(spline(CUP, cyclic=False), info, 1)
    assert p.get("closed") is None
    assert p["points"][-1][4:6] == p["points"][-1][0:2] and p["points"][0][2:4] == p["points"][0][0:2]
    p = g._spline_prompt(spline(CUP, cyclic=False, fill=False), info, 1)
    assert p["closed"] is False and len(p["points"]) == 4
    p = g._spline_prompt(spline(SMALL, fill=False), info, 1)
    assert p["closed"] is False and len(p["points"]) == 5
    notes = []
    p = g._spline_prompt(spline(SMALL, weight=0.05), info, 1, notes=notes)
    assert p["feather"] == pytest.approx(6.4) and not notes
    p = g._spline_prompt(spline(SMALL, weight=0.05, uw=[ns(weight=0.15)]), info, 1, notes=notes)
    assert p["feather"] == pytest.approx(0.1 * 128) and notes
    assert "feather" not in g._spline_prompt(spline(SMALL[::-1], weight=0.05), info, 1)
