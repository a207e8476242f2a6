"""What the real-bpy tests share: the repo, the Blender versions and their venvs, a polygon's
centroid, and Blender's own rasterisation of a mask (run inside bpy). Importable by pytest and by the
test files when they run inside Blender as scripts (their folder is on sys.path either way)."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
VERSIONS = {"50": "5.0.1", "42": "4.2.23"}
MOD = "bl_ext.user_default.samatte"


def bpy_python(v):
    """The Python of the ``.venv-bpy<v>`` venv (``tests/blender/setup_bpy.sh``), or None."""
    p = os.path.join(REPO, ".venv-bpy%s" % v, "bin", "python")
    return p if os.path.isfile(p) else None


def polygon_area_centroid(poly):
    """(area, cx, cy) of a simple polygon [(x, y), ...] (the shoelace formula)."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1]):
        c = x0 * y1 - x1 * y0
        a += c
        cx += (x0 + x1) * c
        cy += (y0 + y1) * c
    return abs(a) / 2, cx / (3 * a), cy / (3 * a)


def cleared_compositor(sc, name="check"):
    """Inside bpy: ``(tree, output node)`` of an empty compositor for scene ``sc``: 4.2's scene node tree
    (cleared) with a Composite node, or 5.0's new compositing node group with a group output."""
    import bpy
    if "node_tree" in bpy.types.Scene.bl_rna.properties:
        sc.use_nodes = True
        tree = sc.node_tree
        for n in list(tree.nodes):
            tree.nodes.remove(n)
        return tree, tree.nodes.new("CompositorNodeComposite")
    tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
    sc.compositing_node_group = tree
    tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    return tree, tree.nodes.new("NodeGroupOutput")


def render_mask(mask, path):
    """Inside bpy: render the compositor's Mask node of ``mask`` (Blender's own rasterisation) on the
    current frame to the 32-bit EXR ``path``, in a cleared compositor (:func:`cleared_compositor`).
    Returns ``path``."""
    import bpy
    sc = bpy.context.scene
    tree, dst = cleared_compositor(sc, "maskcheck")
    node = tree.nodes.new("CompositorNodeMask")
    node.mask = mask
    tree.links.new(node.outputs[0], dst.inputs[0])
    return render_still(sc, path)


def render_anim(sc, folder):
    """Inside bpy: render scene ``sc``'s animation (its range and frame step) through its compositor
    (Cycles, 1 sample, no dither) to 32-bit RGBA EXRs ``folder/r_####.exr``; returns ``folder``."""
    import bpy
    r = sc.render
    r.use_compositing = True
    r.engine = "CYCLES"
    sc.cycles.samples = 1
    r.dither_intensity = 0.0
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.image_settings.color_mode = "RGBA"
    r.filepath = os.path.join(folder, "r_")
    bpy.ops.render.render(animation=True)
    return folder


def render_still(sc, path):
    """Inside bpy: render scene ``sc``'s current frame (Cycles, 1 sample, no dither) to the 32-bit
    EXR ``path``; returns ``path``."""
    import bpy
    r = sc.render
    r.engine = "CYCLES"
    sc.cycles.samples = 1
    r.dither_intensity = 0.0
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.filepath = path
    bpy.ops.render.render(write_still=True)
    return path


def bpy_main(scenario, on_error=None):
    """The bpy side of a test file run as a script: ``scenario(CONFIG)``'s result dict (or the
    traceback, after ``on_error()``) written to CONFIG["result"]; exits 0 (the pytest side judges)."""
    import json
    import sys
    import traceback
    with open(sys.argv[1]) as f:
        config = json.load(f)
    try:
        result = scenario(config)
    except Exception:  # noqa: BLE001 - reported to the test
        result = {"ok": False, "traceback": traceback.format_exc()}
        if on_error is not None:
            try:
                on_error()
            except Exception:  # noqa: BLE001
                pass
    with open(config["result"], "w") as f:
        json.dump(result, f, indent=1, default=str)
    sys.exit(0)


def run_script_in_blender(script, v, tmp_path, cfg, *, samatte_core=False):
    """The pytest side: run ``script`` (a test file's bpy side) in the ``.venv-bpy<v>`` Python with
    ``cfg`` as its CONFIG.json, HOME and BLENDER_USER_RESOURCES in ``tmp_path / "home"`` (no user
    configuration touched; ``samatte_core``: the worker the add-on starts imports this checkout's
    samatte); returns ``(result dict, home)``. Skips when the venv is absent."""
    import json
    import subprocess
    import pytest
    py = bpy_python(v)
    if py is None:
        pytest.skip("no .venv-bpy%s (bash tests/blender/setup_bpy.sh)" % v)
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {k: val for k, val in os.environ.items() if not k.startswith(("PYTHON", "BLENDER"))}
    env.update(HOME=str(home), BLENDER_USER_RESOURCES=str(home / "blender"))
    if samatte_core:
        env["PYTHONPATH"] = os.path.join(REPO, "core")
    proc = subprocess.run([py, os.path.abspath(script), str(tmp_path / "cfg.json")], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=500)
    assert os.path.isfile(cfg["result"]), proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(cfg["result"]) as f:
        res = json.load(f)
    assert res.get("ok"), res.get("traceback")
    assert res["blender"].startswith(VERSIONS[v])
    return res, home


def step_scenario(steps, cfg):
    """Inside bpy: run the step ``cfg["step"]`` of ``steps`` (name -> fn(cfg, res)) and return its result
    dict (``ok`` once it finished), releasing the add-on's worker whatever happened."""
    import sys
    import bpy
    res = {"blender": bpy.app.version_string}
    os.makedirs(cfg["out"], exist_ok=True)
    try:
        steps[cfg["step"]](cfg, res)
    finally:
        try:
            sys.modules[MOD].jobs.release_worker()
        except Exception:  # noqa: BLE001
            pass
    res["ok"] = True
    return res


def run_step_in_blender(script, v, tmp_path, shot, step, **extra):
    """The pytest side of a step file: ``(result, cfg)`` of step ``step`` of ``script`` run in bpy
    ``v`` on a demo ``shot`` (its first plate file, its polygon), ``extra`` added to the config."""
    import sys
    cfg = {"python": sys.executable, "plate": shot["plate"].replace("####", "%04d" % shot["frames"][0]),
           "polygon": shot["polygon"], "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": step}
    cfg.update(extra)
    res, _home = run_script_in_blender(script, v, tmp_path, cfg, samatte_core=True)
    return res, cfg


def enable_addon(cfg):
    """Inside bpy: install this checkout's add-on (install/blender.py) with samatte's Python
    ``cfg["python"]``, enable it and point its preferences at that Python; returns the add-on module."""
    import sys
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


def render_compositor(sc, path):
    """Inside bpy: render scene ``sc`` through its compositor, RGBA, to the 32-bit EXR ``path``."""
    sc.render.use_compositing = True
    sc.render.image_settings.color_mode = "RGBA"
    return render_still(sc, path)


def prompts_mask(prompts, size, *, feather=None):
    """The pytest side: what the trackers make of one frame's JobSpec prompts on a ``size`` (w, h)
    canvas, rasterised by samatte: the union of the add shapes minus the subtract ones (``feather``:
    override each prompt's, e.g. 0.0 to compare shapes alone)."""
    import numpy as np
    from samatte.prompts import prepare_prompt
    from samatte.stages import PlateInfo, Window
    w, h = size
    info = PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h))
    add = np.zeros((h, w), bool)
    sub = np.zeros((h, w), bool)
    for p in prompts:
        q = prepare_prompt(dict(p, feather=p.get("feather", 0.0) if feather is None else feather), info)
        if q.get("mode") == "subtract":
            sub |= q["mask_array"]
        else:
            add |= q["mask_array"]
    return add & ~sub


def render_alpha(path):
    """The pytest side: the first channel of a render written by :func:`render_mask` (float32, (H, W))."""
    import OpenImageIO as oiio
    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., 0]


def load_clip(path):
    """Inside bpy: the movie clip of plate file ``path`` loaded and made the scene's active clip, the
    scene's range its frames and its render size the clip's at 100 %. Returns the clip."""
    import bpy
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(path)
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    return clip


# --- the artist's clicks (shared by the bpy sides of the day / review tests) ----------------------

def op_result(res, key, fn, *a, **kw):
    """Run an operator as the artist clicks it: ``res[key]`` is its result, or the report it raised (bpy
    raises the ERROR report of a CANCELLED operator as RuntimeError)."""
    try:
        res[key] = ["ok", sorted(fn(*a, **kw))]
    except Exception as e:  # noqa: BLE001 - what the artist saw
        res[key] = ["raised", type(e).__name__, str(e)]


def box_mask(addon, name, layer_name, box, size):
    """A new Mask ``name`` with one layer ``layer_name``: a closed polygon through ``box`` (clip pixels)."""
    import bpy
    mask = bpy.data.masks.new(name)
    layer = mask.layers.new(name=layer_name)
    sp = layer.splines.new()
    sp.use_cyclic = True
    sp.points.add(len(box) - 1)
    for j, (x, y) in enumerate(box):
        pt = sp.points[j]
        pt.handle_left_type = pt.handle_right_type = "VECTOR"
        pt.co = addon.convert.px_to_mask((x, y), size)
    mask.update_tag()
    return mask


def scene_for(sc, clip, mask, out):
    """Scene ``sc`` set up for ``clip`` (its frames and size) and samatte's panel: ``mask``, flow + refine,
    draft, Output ``out``. Returns the panel's settings."""
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    s = sc.samatte
    s.mask = mask
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = out
    return s


def clip_on_scene_frames(cfg, addon, start):
    """The shot's clip loaded as the scene's active clip, its files shown from scene frame ``start`` (Start
    Frame) and the scene's range set to them: ``(scene, clip, clip_info, frame_count)``."""
    import bpy
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    n = clip.frame_duration
    clip.frame_start = start
    sc.frame_start, sc.frame_end = start, start - 1 + n
    return sc, clip, addon.gather.clip_info(clip, abspath=bpy.path.abspath), n
