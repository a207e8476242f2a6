"""Blender mask layers whose visibility in renders (``hide_render``) or opacity (``alpha``) is keyed or driven,
with the add-on's plain stand-ins (real bpy: ``tests/blender/test_qa_blender_visibility_bpy.py``, where Blender's
Mask node render shows it draws a layer only on the frames where it is shown, at its opacity there). The
add-on reads both on each frame for such a layer only: a mask without animated visibility is read on its
keyed frames alone, as before."""
import os
import sys
import types

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
from addon_plain import plain  # noqa: E402

convert, gather = plain("convert"), plain("gather")
ns = types.SimpleNamespace
INFO = gather.ClipInfo(size=(200, 100), first_file=1001, frame_start=1, frame_offset=0, duration=20,
                       pattern="/shots/plate.####.exr", name="plate")


class Layers(list):
    def __getitem__(self, k):
        return next(x for x in self if x.name == k) if isinstance(k, str) else list.__getitem__(self, k)


def _layer(name, box, blend="MERGE_ADD"):
    x0, y0, x1, y1 = box
    pts = []
    for xy in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        co = convert.px_to_mask(xy, INFO.size, INFO.origin)
        pts.append(ns(co=co, handle_left=co, handle_right=co))
    return ns(name=name, hide_render=False, alpha=1.0, blend=blend, use_fill_holes=False, invert=False,
              splines=[ns(points=pts, use_cyclic=True, use_fill=True)])


def _mask(layers, shape_keys, animated=(), drivers=()):
    """``shape_keys``: layer -> keyed frames (F-curves on its points); ``animated``: (layer, prop) keyed in the
    action; ``drivers``: (layer, prop) driven."""
    fcs = [ns(data_path='layers["%s"].splines[0].points[0].co' % n, keyframe_points=[ns(co=(f, 0.0)) for f in fr])
           for n, fr in shape_keys.items()]
    fcs += [ns(data_path='layers["%s"].%s' % (n, prop), keyframe_points=[ns(co=(1, 0.0))]) for n, prop in animated]
    return ns(layers=Layers(layers), animation_data=ns(
        action=ns(fcurves=fcs), drivers=[ns(data_path='layers["%s"].%s' % (n, p)) for n, p in drivers]))


def _reader(mask, hidden=None, alpha=None):
    """read_mask_at: sets each layer's hide_render / alpha for the frame (``hidden``: layer -> frames where it is
    hidden; ``alpha``: layer -> {frame: opacity}, 1 elsewhere), records the frames read."""
    hidden, alpha = hidden or {}, alpha or {}
    read = []

    def read_at(f):
        read.append(f)
        for layer in mask.layers:
            layer.hide_render = f in hidden.get(layer.name, ())
            layer.alpha = alpha.get(layer.name, {}).get(f, 1.0)
        return mask
    return read_at, read


def _frames(objs):
    return {o["host_name"]: sorted({p["frame"] - 1000 for p in o["prompts"] if p.get("mode") != "subtract"})
            for o in objs}


def _cuts(objs):
    return {o["host_name"]: sorted({p["frame"] - 1000 for p in o["prompts"] if p.get("mode") == "subtract"})
            for o in objs}


@pytest.mark.parametrize("current", [2, 5])
def test_a_layer_keyed_hidden_is_prompted_only_where_shown(current):
    """hero keyed on 2, 5, 9, hidden in renders on 4-6; prop keyed on 5 only (hidden there). Before: read
    on the frame the scene was left on, hero on 2, 5, 9 (5 hidden) or skipped whole, prop on 5 (hidden)
    or skipped."""
    hero, prop = _layer("hero", (50, 20, 150, 80)), _layer("prop", (5, 5, 30, 30))
    mask = _mask([hero, prop], {"hero": [2, 5, 9], "prop": [5]}, animated=[("hero", "hide_render"),
                                                                          ("prop", "hide_render")])
    read_at, read = _reader(mask, hidden={"hero": range(4, 7), "prop": range(4, 7)})
    read_at(current)
    objs, _sub, notes = gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 11), read_mask_at=read_at,
                                                   current_frame=current)
    assert _frames(objs) == {"hero": [2, 9], "prop": [3]}, notes     # prop: the shown frame nearest 5 (3 and 7 tie)
    assert any("'prop'" in n and "frame 3" in n for n in notes), notes


def test_opacity_under_half_on_a_frame_is_not_drawn_there_and_every_frame_skips_it():
    """alpha keyed 1 -> 0: Blender draws the layer times its opacity; at samatte's 0.5 threshold a frame at
    opacity under 0.5 draws nothing (the rule of a static layer). Before: the whole layer kept or skipped by
    its opacity on one frame."""
    fade = _layer("fade", (50, 20, 150, 80))
    mask = _mask([fade], {"fade": [1, 4, 8]}, animated=[("fade", "alpha")])
    read_at, _read = _reader(mask, alpha={"fade": {f: max(0.0, 1 - (f - 1) / 6.0) for f in range(1, 11)}})
    read_at(10)
    objs, _sub, notes = gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 11), read_mask_at=read_at,
                                                   current_frame=10)
    assert _frames(objs) == {"fade": [1, 4]}, notes          # opacity 0.5 on 4, 0 from 7
    objs, _sub, notes = gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 11), read_mask_at=read_at,
                                                   current_frame=10, every_frame=True)
    assert _frames(objs) == {"fade": [1, 2, 3, 4]}, notes
    assert any("opacity 0.50" in n for n in notes), notes


def test_a_garbage_layer_hidden_on_a_frame_cuts_nothing_there():
    """A Subtract layer (unkeyed) driven hidden on 5: the hero's key there gets no cut, the other keys do.
    Before: cut on all of them, or on none (hidden on the frame read)."""
    # (5 is not cut in either case)
    hero, garbage = _layer("hero", (50, 20, 150, 80)), _layer("garbage", (120, 0, 200, 100), "MERGE_SUBTRACT")
    mask = _mask([hero, garbage], {"hero": [2, 5, 9]}, drivers=[("garbage", "hide_render")])
    read_at, _read = _reader(mask, hidden={"garbage": [5]})
    for current in (2, 5):
        read_at(current)
        objs, _sub, notes = gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 11), read_mask_at=read_at,
                                                       current_frame=current)
        # (the unkeyed garbage layer is also read on the current frame, a correction there; hidden on 5: on 4)
        assert _cuts(objs) == {"hero": [2, 9] if current == 2 else [2, 4, 9]}, (current, notes)


def test_a_layer_hidden_on_every_frame_of_the_range_is_skipped_with_a_note():
    hero, late = _layer("hero", (50, 20, 150, 80)), _layer("late", (5, 5, 30, 30))
    mask = _mask([hero, late], {"hero": [2], "late": [2]}, animated=[("late", "hide_render")])
    read_at, _read = _reader(mask, hidden={"late": range(1, 11)})
    objs, _sub, notes = gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 11), read_mask_at=read_at,
                                                   current_frame=2)
    assert _frames(objs) == {"hero": [2]}
    assert any("'late'" in n and "every frame of the range" in n for n in notes), notes


def test_no_per_frame_scene_change_without_animated_visibility():
    """Cost: a mask whose layers are keyed on their points and whose visibility is not animated is read on
    its keyed frames only; one with animated visibility gets one pass over the range, whatever the number of
    such layers (not one per layer)."""
    layers = [_layer("a", (50, 20, 150, 80)), _layer("b", (5, 5, 30, 30)), _layer("c", (160, 5, 190, 30))]
    mask = _mask(layers, {"a": [2, 9], "b": [3], "c": [9]})
    read_at, read = _reader(mask)
    gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 201), read_mask_at=read_at, current_frame=2)
    assert sorted(read) == [2, 3, 9]
    mask = _mask(layers, {"a": [2, 9], "b": [3], "c": [9]}, animated=[("a", "alpha"), ("b", "hide_render"),
                                                                      ("c", "hide_render")])
    read_at, read = _reader(mask)
    gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 201), read_mask_at=read_at, current_frame=2)
    assert len(read) == 200 + 3
