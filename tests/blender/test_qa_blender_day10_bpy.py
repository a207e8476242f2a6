"""QA, day 10 in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): a roto parented to a
tracking track (Ctrl+P in the Clip Editor), the shape drawn once and following the track, as an artist sets up a
roto that rides a tracked feature.

Blender draws a parented layer moving with its track on every frame, keyed or not, but ``point.co`` stays where
the shape was drawn. The add-on found a layer's frames from its keys, and for an unkeyed layer from the motion of
``point.co`` (mask shape keys): a parented roto looked still, so it was read on the current frame alone (unkeyed),
or on its keys alone (keyed): the frames where Blender draws it somewhere else (the track moved, then stopped) were
no prompt, and editing the track there changed nothing a Run or Check mattes saw (Nuke's adapter prompts a shape in
a layer linked to a track on the track's keys). Now the layer's motion is read as Blender draws it, parent applied
(``gather._layer_coords``): prompts on the frames where its motion changes, plus its own keys.

Also: Check mattes right after Ctrl+Z of a Run (its wiring taken back, the mattes kept on disk) said only 'mattes: all
6 frames current' while the compositor showed no matte; now it says the compositor does not show them (Run shows them,
every frame reused).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day10_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, box_mask, bpy_main, enable_addon, load_clip, op_result, render_mask,  # noqa: E402
                        run_step_in_blender, scene_for, step_scenario)

RECT = [(20.3, 14.0), (44.0, 14.0), (44.0, 34.0), (20.3, 34.0)]     # as drawn on frame 1 (clip pixels)


def track_px(cf):
    """The track: 3 px right and 1 px down per clip frame up to frame 3, still after it."""
    k = min(cf, 3) - 1
    return (30.0 + 3 * k, 24.0 + k)


# --- the bpy side ----------------------------------------------------------------------------------

def _parented_layer(addon, mask, clip, name, size, key_frames=()):
    import bpy
    sc = bpy.context.scene
    conv = addon.convert
    sc.frame_set(1)         # parented on frame 1: RNA stores the track's position there as the origin
    sp = mask.layers.new(name=name).splines.new()
    sp.use_cyclic = True
    sp.points.add(len(RECT) - 1)
    for p, xy in zip(sp.points, RECT):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = p.handle_left = p.handle_right = conv.px_to_mask(xy, size)
        p.parent.id_type = "MOVIECLIP"
        p.parent.id = clip
        p.parent.type = "POINT_TRACK"
        p.parent.parent = clip.tracking.objects[0].name
        p.parent.sub_parent = "anchor"
    for f in key_frames:      # keys of the drawn shape itself (unchanged: the track alone moves it)
        for j in range(len(RECT)):
            mask.keyframe_insert('layers["%s"].splines[0].points[%d].co' % (name, j), frame=f)


def step_parented(cfg, res):
    """A track moving on clip frames 1-3 and still after; a Mask with an unkeyed layer ``still`` and a layer ``keyed``
    (keys on frames 1 and 6), both parented to it on frame 1; the current frame 5. The prompts Find objects reads,
    Blender's render of the mask on each of their frames; then Run, the track's marker on frame 3 moved, Check
    mattes."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    conv = addon.convert
    clip = load_clip(cfg["plate"])
    sc = bpy.context.scene
    size = tuple(clip.size)
    tr = clip.tracking.tracks.new(name="anchor", frame=1)
    for cf in range(1, clip.frame_duration + 1):
        tr.markers.insert_frame(cf, co=conv.px_to_marker(track_px(cf), size))
    tr.select = False
    res["size"] = list(size)
    res["prompts"] = {}
    res["renders"] = {}
    for name, keys in (("still", ()), ("keyed", (1, 6))):
        mask = bpy.data.masks.new("Roto_" + name)
        _parented_layer(addon, mask, clip, name, size, keys)
        s = sc.samatte
        s.mask = mask
        s.tracks = "NONE"
        s.tracker, s.matte, s.quality = "flow", "refine", "draft"
        s.output_dir = os.path.join(cfg["out"], "mattes_" + name)
        sc.frame_set(5)
        _clip, info, objects, _frames, notes = addon.ops.collect(bpy.context)
        [ob] = objects
        res["prompts"][name] = [dict(q, scene_frame=info.scene_frame(q["frame"])) for q in ob["prompts"]]
        res["renders"][name] = {}
        for f in range(1, clip.frame_duration + 1):
            sc.frame_set(f)
            res["renders"][name][str(f)] = render_mask(mask, os.path.join(cfg["out"], "%s_%d.exr" % (name, f)))
        sc.frame_set(5)
        if name == "still" and cfg.get("run"):
            op_result(res, "run", bpy.ops.samatte.run)
            op_result(res, "status1", bpy.ops.samatte.status)
            res["status1"] = s.status_result
            # the artist nudges the track on frame 3: Blender draws the roto 4 px further right there
            mk = tr.markers.find_frame(3, exact=True)
            mk.co = conv.px_to_marker((track_px(3)[0] + 4.0, track_px(3)[1]), size)
            op_result(res, "status2", bpy.ops.samatte.status)
            res["status2"] = s.status_result
            mk.co = conv.px_to_marker(track_px(3), size)


def step_undo(cfg, res):
    """Run as the panel's button does (an undo step), Ctrl+Z right after it, Check mattes; Run again, Check mattes."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    clip = load_clip(cfg["plate"])
    sc = bpy.context.scene
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    bpy.ops.ed.undo_push(message="set up")
    op_result(res, "run", bpy.ops.samatte.run, "EXEC_DEFAULT", True)
    bpy.ops.ed.undo()                                # Ctrl+Z right after the Run: its wiring taken back
    s = bpy.context.scene.samatte
    res["wired_after_undo"] = addon.compositor.shown_pattern(bpy.context.scene, bpy.data.movieclips[0])
    op_result(res, "status_undo_op", bpy.ops.samatte.status)
    res["status_undo"] = s.status_result
    op_result(res, "run2", bpy.ops.samatte.run)
    res["last2"] = s.last_result
    op_result(res, "status2_op", bpy.ops.samatte.status)
    res["status2"] = s.status_result


STEPS = {"parented": step_parented, "undo": step_undo}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day10_bpy")), frames=6, size=(64, 64))


def _centroid(alpha):
    import numpy as np
    h, w = alpha.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    a = float(alpha.sum())
    return float((alpha * xs).sum()) / a, float((alpha * ys).sum()) / a


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_roto_parented_to_a_track_is_read_where_blender_moves_it(v, tmp_path, shot):
    from bpy_common import polygon_area_centroid, render_alpha
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "parented", run=True)
    frames = {name: [q["scene_frame"] for q in res["prompts"][name]] for name in ("still", "keyed")}
    # the frames where the roto's motion (the track's) changes: it moves from frame 1, stops on frame 3; the keyed
    # layer's own keys too. Before: [5] (the current frame) and [1, 6] (its keys): frame 3, where Blender draws
    # the roto 6 px right and 2 px down of frame 1, was no prompt of either.
    assert frames == {"still": [1, 3], "keyed": [1, 3, 6]}, frames
    for name, prompts in res["prompts"].items():
        for q in prompts:
            f = q["scene_frame"]
            dx, dy = (a - b for a, b in zip(track_px(f), track_px(1)))
            assert [c for p in q["points"] for c in p[:2]] == pytest.approx([c for x, y in RECT for c in (x + dx, y + dy)],
                                                                             abs=1e-3)
            # where Blender's own Mask node draws it on that frame
            alpha = render_alpha(res["renders"][name][str(f)])
            cx, cy = _centroid(alpha)
            _, px, py = polygon_area_centroid([tuple(p[:2]) for p in q["points"]])
            assert abs(cx - px) < 0.1 and abs(cy - py) < 0.1, (name, f, (cx, cy), (px, py))
    assert res["run"] == ["ok", ["FINISHED"]], res["run"]
    assert res["status1"] == "mattes: all 6 frames current", res["status1"]
    # the track edited on frame 3 moves the roto Blender draws there: the mattes it decides are out of date (before:
    # 'all 6 frames current', and a Run reused them)
    assert res["status2"].startswith("mattes: 2 of 6 frames current") or "out of date" in res["status2"], res["status2"]
    assert "out of date" in res["status2"], res["status2"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_check_mattes_after_ctrl_z_of_a_run_says_the_compositor_does_not_show_them(v, tmp_path, shot):
    """Ctrl+Z right after a Run takes back its wiring and keeps the mattes on disk (README). Check mattes then said
    'mattes: all 6 frames current' alone, while a render had no matte: now a line says the compositor does not show
    them and that a Run shows them, reusing every frame (it does)."""
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "undo")
    assert res["run"] == ["ok", ["FINISHED"]] and res["wired_after_undo"] is None, res
    lines = res["status_undo"].splitlines()
    assert lines[0] == "mattes: all 6 frames current", lines
    assert len(lines) == 2 and lines[1].startswith("the compositor does not show these mattes"), lines
    assert "Run to show them" in lines[1] and "Ctrl+Z" in lines[1], lines
    assert res["last2"].startswith("plate: 0 frames written, 6 reused"), res["last2"]
    assert res["status2"] == "mattes: all 6 frames current", res["status2"]
