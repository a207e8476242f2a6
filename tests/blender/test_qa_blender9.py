"""QA (ninth pass) of the Blender add-on's responsiveness at production scale (real bpy 5.0.1 and 4.2.23):
a 500-frame Movie Clip with 30 mask layers, keyed on 50 frames each or not keyed at all (a garbage matte
drawn once, or a layer animated with the Mask editor's shape keys, which Python cannot see: the add-on
then finds its keys from the layer's motion, reading it on every frame). What Find objects, Run's
gathering and Check mattes cost (wall time, and ``scene.frame_set`` calls, counted with a
``frame_change_pre`` handler), what the panel's draw function reads from disk, and the compositor wiring
on a 1000-frame clip. A test skips when its ``.venv-bpyXX`` is absent.

Regression: every unkeyed layer was sampled on every frame of the range on its own (30 layers x 500
frames: 15000 ``frame_set`` calls, 30 s and more in a real scene, before the frames with shapes were read);
now the unkeyed layers are sampled together, one ``frame_set`` per frame.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender9.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os
import shutil
import time

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402

N_LAYERS = 30
N_FRAMES = 500
N_KEYS = 50


# --- the bpy side ----------------------------------------------------------------------------------

def _plate(cfg, n, name):
    folder = os.path.join(cfg["out"], name)
    os.makedirs(folder, exist_ok=True)
    for f in range(1001, 1001 + n):
        shutil.copyfile(cfg["plate"], os.path.join(folder, "plate.%04d.exr" % f))
    return os.path.join(folder, "plate.1001.exr")


class _Layout:
    """A UILayout stand-in for the panel's draw function (records what it is asked to show)."""

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        if name in ("column", "row", "box"):
            return lambda *a, **k: self
        if name in ("prop", "label", "operator"):
            return lambda *a, **k: self.calls.append((name, a, k)) or self
        raise AttributeError(name)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)


def _mask(addon, clip, info, keyed):
    import bpy
    conv = addon.convert
    mask = bpy.data.masks.new("Roto_%s" % ("keyed" if keyed else "static"))
    step = N_FRAMES // N_KEYS
    for i in range(N_LAYERS):
        name = "layer %02d" % i
        layer = mask.layers.new(name=name)
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(3)
        for p in sp.points:
            p.handle_left_type = p.handle_right_type = "FREE"
        x0, y0 = 3 + (i % 6) * 10, 3 + (i // 6) * 10
        for k in range(N_KEYS if keyed else 1):
            for j, (ax, ay) in enumerate(((0, 0), (1, 0), (1, 1), (0, 1))):
                co = conv.px_to_mask((x0 + 6 * ax + k % 3, y0 + 6 * ay), info.size, info.origin)
                pt = sp.points[j]
                pt.co = pt.handle_left = pt.handle_right = co
                for attr in ("co", "handle_left", "handle_right") if keyed else ():
                    mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=1 + k * step)
    mask.update_tag()
    return mask


def step_scale(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(_plate(cfg, N_FRAMES, "plate"))
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    sc.frame_set(1)
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    calls = []

    def count(scene, *_a):
        calls.append(scene.frame_current)
    bpy.app.handlers.frame_change_pre.append(count)
    s = sc.samatte
    s.tracks = "SELECTED"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))
    res["cases"] = {}
    for keyed in (True, False):
        t0 = time.perf_counter()
        mask = _mask(addon, clip, info, keyed)
        built = time.perf_counter() - t0
        s.mask = mask
        case = res["cases"]["keyed" if keyed else "static"] = {"build_s": built}
        del calls[:]
        t0 = time.perf_counter()
        _clip, _info, objects, frames, notes = addon.ops.collect(bpy.context)
        case["collect_s"] = time.perf_counter() - t0
        case["frame_sets"] = len(calls)
        case["distinct_frames"] = len(set(calls))
        case["objects"] = [(o["name"], sorted({q["frame"] for q in o["prompts"]})) for o in objects]
        case["notes"] = notes
        case["frame_after"] = sc.frame_current
        del calls[:]
        t0 = time.perf_counter()
        addon.ops.scan(bpy.context)
        case["scan_s"] = time.perf_counter() - t0
        case["scan_frame_sets"] = len(calls)
        t0 = time.perf_counter()
        lines = addon.ops.matte_status(bpy.context)
        case["status_s"] = time.perf_counter() - t0
        case["status"] = lines[:2]
    bpy.app.handlers.frame_change_pre.remove(count)
    # the panel's draw, as on every redraw: what it reads from disk
    import builtins
    opened = []
    real_open, real_stat, real_exists = builtins.open, os.stat, os.path.exists
    builtins.open = lambda *a, **k: opened.append(("open", a[0])) or real_open(*a, **k)
    os.stat = lambda *a, **k: opened.append(("stat", a[0])) or real_stat(*a, **k)
    os.path.exists = lambda p: opened.append(("exists", p)) or real_exists(p)
    shown = []
    try:
        t0 = time.perf_counter()
        for _ in range(100):
            addon.panels.draw_panel(_Layout(shown), bpy.context)
        res["draw_ms"] = (time.perf_counter() - t0) * 10
    finally:
        builtins.open, os.stat, os.path.exists = real_open, real_stat, real_exists
    res["draw_io"] = opened[:20]
    res["draw_items"] = len(shown) // 100
    # the compositor wiring on a 1000-frame clip
    clip2 = bpy.data.movieclips.load(_plate(cfg, 1000, "plate1000"))
    info2 = addon.gather.clip_info(clip2, abspath=bpy.path.abspath)
    frames2 = list(range(1001, 2001))
    pattern = os.path.join(cfg["out"], "m1000", "matte.####.exr")
    os.makedirs(os.path.dirname(pattern))
    shutil.copyfile(cfg["plate"], pattern.replace("####", "2000"))   # Matte this frame on the last one
    t0 = time.perf_counter()
    addon.compositor.wire(sc, clip2, info2, pattern, frames2)
    res["wire_s"] = time.perf_counter() - t0


STEPS = {"scale": step_scale}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot9")), frames=2, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_gathering_30_layers_on_500_frames(v, tmp_path, shot):
    import json
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "scale")
    print(json.dumps({k: x for k, x in res.items() if k != "cases"}, indent=1))
    for name, case in res["cases"].items():
        print(name, {k: x for k, x in case.items() if k not in ("objects", "notes")})
    keyed, static = res["cases"]["keyed"], res["cases"]["static"]
    step = N_FRAMES // N_KEYS
    assert len(keyed["objects"]) == N_LAYERS and not keyed["notes"], keyed["notes"][:3]
    for _name, frames in keyed["objects"]:
        assert frames == [1001 + k * step for k in range(N_KEYS)]
    # a frame change per keyed frame (and one back to the current frame), never one on a frame with no key
    assert keyed["frame_sets"] == N_KEYS + 1 and keyed["distinct_frames"] == N_KEYS
    # unkeyed layers: every frame read once for all of them (their motion), each layer prompted on the
    # current frame (they never move); then the current frame read and restored
    assert len(static["objects"]) == N_LAYERS
    assert all(frames == [1001] for _name, frames in static["objects"])
    assert static["frame_sets"] <= N_FRAMES + 3, static["frame_sets"]     # was 15002 (one per frame and layer)
    assert static["scan_frame_sets"] <= N_FRAMES + 3
    assert keyed["frame_after"] == static["frame_after"] == 1
    # the panel's draw reads nothing from disk
    assert res["draw_io"] == [], res["draw_io"]
    assert res["wire_s"] < 30


# --- bpy-free: the same plan as sampling each layer on its own --------------------------------------

def _plain():
    from addon_plain import plain
    return plain("convert"), plain("gather")


def test_unkeyed_layers_are_sampled_together_with_the_same_keys():
    import types
    convert, gather = _plain()
    ns = types.SimpleNamespace
    info = gather.ClipInfo(size=(200, 100), first_file=1001, frame_start=1, frame_offset=0, duration=40,
                           pattern="/shots/plate.####.exr", name="plate")

    class Layers(list):
        def __getitem__(self, k):
            return next(x for x in self if x.name == k) if isinstance(k, str) else list.__getitem__(self, k)

    def square(x0, y0):
        pts = []
        for ax, ay in ((0, 0), (1, 0), (1, 1), (0, 1)):
            co = convert.px_to_mask((x0 + 20 * ax, y0 + 20 * ay), info.size, info.origin)
            pts.append(ns(co=co, handle_left=co, handle_right=co))
        return ns(points=pts, use_cyclic=True, use_fill=True)

    # "shape keys" (what Python cannot see) of each unkeyed layer: frame -> x offset, linear between, held
    # outside; one layer never moves, one is hidden, one keyed with an F-curve (read on its keys only)
    shape_keys = {"a": {3: 0.0, 10: 30.0, 20: 10.0}, "b": {1: 0.0, 40: 60.0}, "still": {},
                  "c": {15: 0.0, 16: 5.0, 30: -10.0}, "hidden": {5: 0.0, 9: 9.0}}
    layers = [ns(name=n, hide_render=(n == "hidden"), blend="MERGE_ADD", use_fill_holes=False, splines=[square(10, 10)])
              for n in ("a", "b", "still", "keyed", "c", "hidden")]
    base = {layer.name: [tuple(p.co) for p in layer.splines[0].points] for layer in layers}
    fc = ns(data_path='layers["keyed"].splines[0].points[0].co', keyframe_points=[ns(co=(f, 0.0)) for f in (4, 12)])
    mask = ns(layers=Layers(layers), animation_data=ns(action=ns(fcurves=[fc])))

    def x_at(keys, f):
        if not keys:
            return 0.0
        ks = sorted(keys)
        if f <= ks[0]:
            return keys[ks[0]]
        if f >= ks[-1]:
            return keys[ks[-1]]
        k0 = max(k for k in ks if k <= f)
        k1 = min(k for k in ks if k > f)
        return keys[k0] + (keys[k1] - keys[k0]) * (f - k0) / (k1 - k0)
    reads = []

    def read_at(f):
        reads.append(f)
        for layer in layers:
            dx = x_at(shape_keys.get(layer.name), f) / info.size[0]
            for p, (x, y) in zip(layer.splines[0].points, base[layer.name]):
                p.co = p.handle_left = p.handle_right = (x + dx, y)
        return mask
    scene = range(1, 41)
    objs, _sub, notes = gather.gather_mask_objects(mask, info, scene_frames=scene, read_mask_at=read_at,
                                                   current_frame=7)
    got = {o["host_name"]: sorted({q["frame"] for q in o["prompts"]}) for o in objs}
    want = {"a": [3, 10, 20], "b": [1, 40], "still": [7], "keyed": [4, 12], "c": [15, 16, 30]}
    assert got == {n: [info.file(f) for f in fr] for n, fr in want.items()}, got
    # the shapes read on those frames are the layers' shapes there
    a = next(o for o in objs if o["host_name"] == "a")
    on10 = next(q for q in a["prompts"] if q["frame"] == info.file(10))
    assert min(pt[0] for pt in on10["points"]) == pytest.approx(10 + 30, abs=1e-6)
    # one read per frame of the range for the four unkeyed layers together (was 40 per layer: 160), then
    # one per frame with a shape
    sampling, rest = reads[:len(scene)], reads[len(scene):]
    assert sampling == list(scene)
    assert rest == sorted({f for fr in want.values() for f in fr})
    assert any("hidden in renders" in n for n in notes)
    # a caller of the per-layer rule gets the same frames as before
    one, note = gather._layer_frames(mask, layers[0], set(scene), read_mask_at=read_at, current_frame=7,
                                     every_frame=False, sample_shape_keys=True)
    assert one == want["a"] and note is None
