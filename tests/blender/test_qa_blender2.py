"""QA regressions (second pass) of the Blender add-on's prompts and compositor result, in real Blender
(PyPI's bpy 5.0.1 and 4.2.23) like test_qa_blender.py: a test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender2.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
VERSIONS = {"50": "5.0.1", "42": "4.2.23"}
MOD = "bl_ext.user_default.samatte"


def bpy_python(v):
    p = os.path.join(REPO, ".venv-bpy%s" % v, "bin", "python")
    return p if os.path.isfile(p) else None


# --- the bpy side ----------------------------------------------------------------------------------

def _enable(cfg):
    import bpy  # first: it puts Blender's script modules (addon_utils) on sys.path
    import addon_utils
    sys.path.insert(0, os.path.join(REPO, "install"))
    import blender as blender_install
    blender_install.install(REPO, python=cfg["python"], models_dir="")
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    addon.link.ensure_samatte(cfg["python"])
    bpy.context.preferences.addons[MOD].preferences.python = cfg["python"]
    return addon


def _load_clip(cfg):
    import bpy
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    return clip


def _render_mask(mask, path):
    """The compositor's Mask node (Blender's own rasterisation) of ``mask`` on the current frame."""
    import bpy
    sc = bpy.context.scene
    if "node_tree" in bpy.types.Scene.bl_rna.properties:
        sc.use_nodes = True
        tree = sc.node_tree
        for n in list(tree.nodes):
            tree.nodes.remove(n)
        dst = tree.nodes.new("CompositorNodeComposite")
    else:
        tree = bpy.data.node_groups.new("maskcheck", "CompositorNodeTree")
        sc.compositing_node_group = tree
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        dst = tree.nodes.new("NodeGroupOutput")
    node = tree.nodes.new("CompositorNodeMask")
    node.mask = mask
    tree.links.new(node.outputs[0], dst.inputs[0])
    r = sc.render
    r.engine = "CYCLES"
    sc.cycles.samples = 1
    r.dither_intensity = 0.0
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.filepath = path
    bpy.ops.render.render(write_still=True)
    return path


def step_parented(cfg, res):
    """A mask parented to a moving track (Ctrl+P in the Clip Editor): the prompt is where Blender shows
    the shape on the frame it is read on, not where its un-parented points sit."""
    import bpy
    addon = _enable(cfg)
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
    res["expected"] = [[x + 9.0, y + 3.0] for x, y in rect]
    res["render"] = _render_mask(mask, os.path.join(cfg["out"], "parented_4.exr"))
    res["size"] = list(size)


def _add_layer(addon, mask, name, poly, size):
    sp = mask.layers.new(name=name).splines.new()
    sp.use_cyclic = True
    sp.points.add(len(poly) - 1)
    for p, xy in zip(sp.points, poly):
        p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, size)


def _render(sc, path):
    import bpy
    r = sc.render
    r.use_compositing = True
    r.dither_intensity = 0.0
    r.engine = "CYCLES"
    sc.cycles.samples = 1
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.image_settings.color_mode = "RGBA"
    r.filepath = path
    bpy.ops.render.render(write_still=True)
    return path


def step_partial(cfg, res):
    """A whole run, then a run of a Frame range (frames 3-4): the compositor still shows the other
    frames' mattes, which are on disk."""
    import bpy
    addon = _enable(cfg)
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
        res["renders"][info.file(f)] = _render(sc, os.path.join(cfg["out"], "render_%d.exr" % f))


STEPS = {"parented": step_parented, "partial": step_partial}


def scenario(cfg):
    import bpy
    res = {"blender": bpy.app.version_string}
    os.makedirs(cfg["out"], exist_ok=True)
    try:
        STEPS[cfg["step"]](cfg, res)
    finally:
        try:
            sys.modules[MOD].jobs.release_worker()
        except Exception:  # noqa: BLE001
            pass
    res["ok"] = True
    return res


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    import traceback
    config = json.load(open(sys.argv[1]))
    try:
        result = scenario(config)
    except Exception:  # noqa: BLE001 - reported to the test
        result = {"ok": False, "traceback": traceback.format_exc()}
    with open(config["result"], "w") as f:
        json.dump(result, f, indent=1, default=str)
    sys.exit(0)


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot2")), frames=6, size=(128, 72))


def run_in_blender(v, tmp_path, shot, step, **extra):
    py = bpy_python(v)
    if py is None:
        pytest.skip("no .venv-bpy%s (bash tests/blender/setup_bpy.sh)" % v)
    home = tmp_path / "home"
    home.mkdir()
    cfg = {"python": sys.executable, "plate": shot["plate"].replace("####", "%04d" % shot["frames"][0]),
           "polygon": shot["polygon"], "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": step}
    cfg.update(extra)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {k: val for k, val in os.environ.items() if not k.startswith(("PYTHON", "BLENDER"))}
    # the worker the add-on starts runs this checkout's samatte
    env.update(HOME=str(home), BLENDER_USER_RESOURCES=str(home / "blender"), PYTHONPATH=os.path.join(REPO, "core"))
    proc = subprocess.run([py, os.path.abspath(__file__), str(tmp_path / "cfg.json")], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=500)
    assert os.path.isfile(cfg["result"]), proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "res.json").read_text())
    assert res.get("ok"), res.get("traceback")
    assert res["blender"].startswith(VERSIONS[v])
    return res, cfg


def _centroid(points):
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        c = x0 * y1 - x1 * y0
        a += c
        cx += (x0 + x1) * c
        cy += (y0 + y1) * c
    return cx / (3 * a), cy / (3 * a)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_mask_parented_to_a_track_is_read_where_blender_shows_it(v, tmp_path, shot):
    """A roto drawn on frame 1 and parented to a track: Blender moves it with the track, ``point.co``
    stays where it was drawn. The prompt on frame 4 sat there (9 px left and 3 px up of what Blender
    shows on frame 4); it must match Blender's own rasterisation."""
    import numpy as np
    import OpenImageIO as oiio
    res, _ = run_in_blender(v, tmp_path, shot, "parented")
    [ob] = res["objects"]
    [prompt] = ob["prompts"]
    assert prompt["frame"] == 1004
    pts = [p[:2] for p in prompt["points"]]
    assert np.allclose(pts, res["expected"], atol=1e-3), (pts, res["expected"])
    buf = oiio.ImageBuf(res["render"])
    alpha = buf.get_pixels(oiio.FLOAT)[..., 0]
    h, w = alpha.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    area = float(alpha.sum())
    cx, cy = _centroid([tuple(p) for p in pts])
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
