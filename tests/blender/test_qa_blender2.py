"""QA regressions (second pass) of the Blender add-on's prompts and compositor result, in real Blender
(PyPI's bpy 5.0.1 and 4.2.23) like test_qa_blender.py: a test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender2.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, load_clip, render_compositor, polygon_area_centroid, render_mask,  # noqa: E402
                        run_step_in_blender, step_scenario)

HERE = os.path.dirname(os.path.abspath(__file__))


# --- the bpy side ----------------------------------------------------------------------------------

def _load_clip(cfg):
    return load_clip(cfg["plate"])


def step_parented(cfg, res):
    """A mask parented to a moving track (Ctrl+P in the Clip Editor): the prompt is where Blender shows
    the shape on the frame it is read on, not where its un-parented points sit."""
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    clip = _load_clip(cfg)
    sc = bpy.context.scene
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    size = info.size

    def track_px(cf):        # 3 px right and 1 px down per clip frame
        return (40.0 + 3 * (cf - 1), 30.0 + (cf - 1))
    tr = clip.tracking.tracks.new(name="anchor", frame=1)
    for cf in range(1, clip.frame_duration + 1):
        tr.markers.insert_frame(cf, co=conv.px_to_marker(track_px(cf), size))
    tr.select = False
    rect = [(30.3, 20.0), (70.0, 20.0), (70.0, 50.0), (30.3, 50.0)]     # as shown on frame 1
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(rect) - 1)
    sc.frame_set(1)         # parented on frame 1: RNA stores the track's position there as the origin
    for p, xy in zip(sp.points, rect):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = p.handle_left = p.handle_right = conv.px_to_mask(xy, size)
        p.parent.id_type = "MOVIECLIP"
        p.parent.id = clip
        p.parent.type = "POINT_TRACK"
        p.parent.parent = clip.tracking.objects[0].name
        p.parent.sub_parent = "anchor"
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    sc.frame_set(4)
    _clip, _info, objects, _frames, notes = addon.ops.collect(bpy.context)
    res["objects"] = objects
    res["notes"] = notes
    # the track moves linearly on every frame: the layer's motion keys are the range's ends (day 10), so the
    # prompt compared with Blender's render is the one on frame 6
    res["expected"] = [[x + 15.0, y + 5.0] for x, y in rect]
    sc.frame_set(6)
    res["render"] = render_mask(mask, os.path.join(cfg["out"], "parented_6.exr"))
    res["size"] = list(size)


def _add_layer(addon, mask, name, poly, size):
    sp = mask.layers.new(name=name).splines.new()
    sp.use_cyclic = True
    sp.points.add(len(poly) - 1)
    for p, xy in zip(sp.points, poly):
        p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, size)


def step_partial(cfg, res):
    """A whole run, then a run of a Frame range (frames 3-4): the compositor still shows the other
    frames' mattes, which are on disk."""
    import bpy
    addon = enable_addon(cfg)
    clip = _load_clip(cfg)
    sc = bpy.context.scene
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    _add_layer(addon, mask, "hero", cfg["polygon"], info.size)
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = os.path.join(cfg["out"], "mattes") + os.sep
    sc.frame_set(4)
    run, report = addon.ops.run_blocking(bpy.context)
    res["full"] = {"report": report, "written": run.written}
    s.use_range, s.frame_start, s.frame_end = True, 3, 4
    run, report = addon.ops.run_blocking(bpy.context)
    res["range"] = {"report": report, "written": run.written, "skipped": run.skipped}
    tree = addon.compositor.compositor_tree(sc)
    node = tree.nodes[addon.compositor.NODE_MATTE]
    res["node"] = [node.frame_start, node.frame_offset, node.frame_duration]
    res["output"] = run.result["output"]
    res["renders"] = {}
    for f in (1, 6):
        sc.frame_set(f)
        res["renders"][info.file(f)] = render_compositor(sc, os.path.join(cfg["out"], "render_%d.exr" % f))


STEPS = {"parented": step_parented, "partial": step_partial}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot2")), frames=6, size=(128, 72))


def run_in_blender(*args, **extra):   # (v, tmp_path, shot, step, **extra) -> (result, cfg)
    return run_step_in_blender(__file__, *args, **extra)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_mask_parented_to_a_track_is_read_where_blender_shows_it(v, tmp_path, shot):
    """A roto drawn on frame 1 and parented to a track: Blender moves it with the track, ``point.co``
    stays where it was drawn. The prompt sat there (on frame 4: 9 px left and 3 px up of what Blender
    shows); it must match Blender's own rasterisation. (Unkeyed, it is prompted where its motion, the
    track's, changes: here the range's ends, tests/blender/test_qa_blender_day10_bpy.py.)"""
    import numpy as np
    import OpenImageIO as oiio
    res, _ = run_in_blender(v, tmp_path, shot, "parented")
    [ob] = res["objects"]
    assert [p["frame"] for p in ob["prompts"]] == [1001, 1006]
    prompt = ob["prompts"][1]
    pts = [p[:2] for p in prompt["points"]]
    assert np.allclose(pts, res["expected"], atol=1e-3), (pts, res["expected"])
    buf = oiio.ImageBuf(res["render"])
    alpha = buf.get_pixels(oiio.FLOAT)[..., 0]
    h, w = alpha.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    area = float(alpha.sum())
    _, cx, cy = polygon_area_centroid([tuple(p) for p in pts])
    assert abs(float((alpha * xs).sum()) / area - cx) < 0.1
    assert abs(float((alpha * ys).sum()) / area - cy) < 0.1


def _channel(path, name):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    return buf.get_pixels(oiio.FLOAT)[..., buf.spec().channelindex(name)]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_frame_range_run_keeps_the_other_mattes_in_the_compositor(v, tmp_path, shot):
    """After a whole run, a run of frames 3-4 (Frame range) re-wired the matte node to those two
    files only: the other frames, whose mattes are on disk, showed alpha 0 or a held matte."""
    import numpy as np
    res, _ = run_in_blender(v, tmp_path, shot, "partial")
    assert res["full"]["written"] == 6 and res["range"]["written"] + res["range"]["skipped"] == 2
    assert res["node"] == [1, 1000, 6]
    for f, render in res["renders"].items():
        want = _channel(res["output"].replace("####", "%04d" % int(f)), "A")
        got = _channel(render, "A")
        assert want.max() > 0.5
        assert np.abs(got - want).max() < 1e-3, f
