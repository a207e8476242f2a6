"""Runs inside a bpy venv (Blender as a Python module): the add-on end to end with the real worker.

    <venv-bpyXX>/bin/python bpy_scenario.py CONFIG.json

CONFIG: {"addon": dir, "python": the samatte venv python, "plate": first plate file, "polygon": [[x, y]...]
(display pixels), "prompt_frames": [file numbers], "out": folder, "result": where to write the JSON
result, "step": "main" | "errors"}. HOME and BLENDER_USER_RESOURCES are set by the caller to a temp
folder. Writes everything the pytest side checks into the result JSON.
"""
import json
import os
import sys
import time
import traceback
import types

import bpy  # first: it puts Blender's script modules on sys.path
import addon_utils  # noqa: E402
from bpy_common import cleared_compositor, render_mask, render_still  # noqa: E402  (this script's folder is on sys.path)

cfg = json.load(open(sys.argv[1]))
RES = {"blender": bpy.app.version_string}
MOD = "bl_ext.user_default.samatte"


def save():
    with open(cfg["result"], "w") as f:
        json.dump(RES, f, indent=1, default=str)


def install_link():
    """What ``install.sh --blender`` does (install/blender.py), into BLENDER_USER_RESOURCES."""
    sys.path.insert(0, os.path.join(os.path.dirname(cfg["addon"]), "install"))
    import blender as blender_install
    blender_install.install(os.path.dirname(cfg["addon"]), python=cfg["python"], models_dir="")


def register_twice():
    out = []
    for _ in range(2):
        m = addon_utils.enable(MOD, default_set=True, handle_error=None)
        out.append([m is not None, hasattr(bpy.types, "SAMATTE_OT_run"), hasattr(bpy.types.Scene, "samatte")])
        addon_utils.disable(MOD, default_set=True, handle_error=None)
        out.append([hasattr(bpy.types, "SAMATTE_OT_run"), hasattr(bpy.types.Scene, "samatte")])
    m = addon_utils.enable(MOD, default_set=True, handle_error=None)
    RES["register"] = out
    return m


def load_clip():
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc = bpy.context.scene
    clip.frame_start = cfg.get("clip_frame_start", 1)
    sc.frame_start = clip.frame_start
    sc.frame_end = clip.frame_start + clip.frame_duration - 1
    sc.active_clip = clip
    return clip


def add_mask(addon, clip, info):
    """A mask layer (a name with a space and a dot) keyed on two frames, the polygon shifted by 2 px."""
    conv = addon.convert
    sc = bpy.context.scene
    mask = bpy.data.masks.new("Roto")
    layer = mask.layers.new(name="hero ball.v1")
    sp = layer.splines.new()
    sp.use_cyclic = True
    poly = cfg["polygon"]
    sp.points.add(len(poly) - 1)
    for p in sp.points:
        p.handle_left_type = "FREE"
        p.handle_right_type = "FREE"
    for k, fnum in enumerate(cfg["prompt_frames"]):
        sf = info.scene_frame(fnum)
        for i, (x, y) in enumerate(poly):
            co = conv.px_to_mask((x + 2 * k, y), info.size, info.origin)
            pt = sp.points[i]
            pt.co = co
            pt.handle_left = co
            pt.handle_right = co
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero ball.v1"].splines[0].points[%d].%s' % (i, attr), frame=sf)
    sc.samatte.mask = mask
    return mask


def add_tracks(clip, info):
    """Two tracks of the layer's object (name prefix), on all frames; one marker muted."""
    cx = sum(p[0] for p in cfg["polygon"]) / len(cfg["polygon"])
    cy = sum(p[1] for p in cfg["polygon"]) / len(cfg["polygon"])
    tr_all = []
    for name, dx in (("hero ball.v1 centre", 0.0), ("hero ball.v1 left", -4.0)):
        tr = clip.tracking.tracks.new(name=name, frame=1)
        for cf in range(1, clip.frame_duration + 1):
            mk = tr.markers.insert_frame(cf, co=((cx + dx - info.origin[0]) / info.size[0],
                                                  1.0 - (cy - info.origin[1]) / info.size[1]))
            if name.endswith("left") and cf == 2:
                mk.mute = True
        tr.select = True
        tr_all.append(tr)
    return tr_all


class CheckLayout:
    """Stands in for a UILayout: checks every property and operator the panel draws exists."""

    def __init__(self, log):
        self.log = log
        self.enabled = self.active = True

    def column(self, **kw):
        return self

    row = box = column

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.log.append("prop " + name)

    def operator(self, idname, **kw):
        mod, op = idname.split(".")
        assert getattr(getattr(bpy.ops, mod), op).poll is not None, idname
        self.log.append("op " + idname)
        return types.SimpleNamespace()

    def label(self, text="", **kw):
        self.log.append("label " + text)


def check_panels(addon, ctx):
    log = []
    addon.panels.draw_panel(CheckLayout(log), ctx)
    return log


def main():
    install_link()
    register_twice()
    addon = sys.modules[MOD]
    prefs = bpy.context.preferences.addons[MOD].preferences
    prefs.python = cfg["python"]
    prefs.device = "cpu"
    ops = addon.ops
    ctx = bpy.context
    # check
    hello, lines = addon.jobs.check_worker(ops.settings_from(ctx))
    RES["check"] = lines
    RES["samatte_from"] = sys.modules["samatte"].__file__
    RES["root_on_sys_path"] = addon.link.samatte_root(cfg["python"]) in sys.path
    clip = load_clip()
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    RES["clip"] = {"size": list(clip.size), "origin": list(info.origin), "first": info.first_file,
                   "duration": clip.frame_duration, "colourspace": info.colourspace}
    add_mask(addon, clip, info)
    add_tracks(clip, info)
    s = ctx.scene.samatte
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    # a saved .blend with the clip's path relative to it ("//"): the job gets absolute paths
    os.makedirs(cfg["out"], exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))
    clip.filepath = bpy.path.relpath(cfg["plate"])
    RES["clip_filepath"] = clip.filepath
    s.output_dir = "//"
    _clip, _info, objects, frames, notes = ops.collect(ctx)
    RES["objects"] = objects
    RES["frames"] = frames
    RES["notes"] = notes
    RES["scan"] = ops.scan(ctx)
    t0 = time.monotonic()
    run = ops.start_run(ctx)
    RES["job"] = run.job
    n_polls = 0
    while not run.done:
        run.poll()
        n_polls += 1
        time.sleep(0.05)
    RES["run_s"] = time.monotonic() - t0
    level, msg = ops.finish_run(ctx, run)
    RES["report"] = [level, msg]
    RES["scores"] = run.scores
    RES["result"] = run.result
    tree = addon.compositor.compositor_tree(ctx.scene)
    RES["nodes"] = sorted(n.name for n in tree.nodes)
    RES["sockets"] = addon.compositor.object_sockets(tree)
    mnode = tree.nodes[addon.compositor.NODE_MATTE]
    RES["matte_node"] = {"frame_start": mnode.frame_start, "frame_offset": mnode.frame_offset,
                         "frame_duration": mnode.frame_duration, "source": mnode.image.source,
                         "filepath": mnode.image.filepath}
    sa = tree.nodes[addon.compositor.NODE_SETALPHA]
    RES["setalpha_mode"] = getattr(sa, "mode", None) or sa.inputs["Type"].default_value
    RES["links"] = sorted("%s.%s->%s.%s" % (lk.from_node.name, lk.from_socket.name, lk.to_node.name,
                                            lk.to_socket.name) for lk in tree.links)
    # a re-run (resume) re-wires the same nodes
    run2 = ops.start_run(ctx)
    run2.wait(timeout=300)
    ops.finish_run(ctx, run2)
    RES["rerun"] = {"written": run2.written, "skipped": run2.skipped, "nodes": len(tree.nodes),
                    "links": len(tree.links), "error": run2.error}
    # the operator itself (in bpy as a module INVOKE_DEFAULT runs execute(): a blocking run)
    RES["op_run"] = sorted(bpy.ops.samatte.run("INVOKE_DEFAULT"))
    # matte this frame (a frame subset of the same job: needs a samatte client with frames=)
    s.quality = "default"
    sc0 = ctx.scene.frame_current
    ctx.scene.frame_set(info.scene_frame(1003))
    try:
        run3 = ops.start_run(ctx, this_frame=True)
        run3.wait(timeout=300)
        RES["this_frame"] = {"written": (run3.result or {}).get("written"), "error": run3.error}
        ops.finish_run(ctx, run3)
    except addon.hosterrors.HostError as e:
        RES["this_frame"] = {"host_error": addon.hosterrors.describe(e)}
    ctx.scene.frame_set(sc0)
    s.quality = "draft"
    RES["panel"] = check_panels(addon, ctx)
    # render one frame through the compositor
    sc = ctx.scene
    f_file = cfg["render_file"]
    sc.frame_set(info.scene_frame(f_file))
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    r.use_compositing = True
    r.dither_intensity = 0.0
    try:
        r.engine = "CYCLES"
        sc.cycles.samples = 1
        sc.cycles.device = "CPU"
    except Exception:  # noqa: BLE001
        pass
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.image_settings.color_mode = "RGBA"
    r.filepath = os.path.join(cfg["out"], "render_%d.exr" % f_file)
    bpy.ops.render.render(write_still=True)
    RES["render"] = r.filepath
    RES["render_frame_file"] = f_file


def cancel_and_errors():
    install_link()
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    RES["prefs_from_installer"] = addon.props.prefs().python     # filled from samatte_install.json
    prefs = bpy.context.preferences.addons[MOD].preferences
    ops = addon.ops
    HostError = addon.hosterrors.HostError
    ctx = bpy.context
    errs = {}
    prefs.python = cfg["python"]
    # no clip
    try:
        ops.start_run(ctx)
    except HostError as e:
        errs["no_clip"] = addon.hosterrors.describe(e)
    try:
        bpy.ops.samatte.run()
    except RuntimeError as e:   # an operator's ERROR report reaches a script as RuntimeError
        RES["op_no_clip"] = str(e)
    clip = load_clip()
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    s = ctx.scene.samatte
    s.tracks = "NONE"
    s.output_dir = cfg["out"]
    s.tracker, s.matte, s.quality = "flow", "refine", "default"
    try:
        ops.start_run(ctx)
    except HostError as e:
        errs["no_prompts"] = addon.hosterrors.describe(e)
    add_mask(addon, clip, info)
    # wrong samatte Python
    prefs.python = "/nonexistent/samatte/.venv/bin/python"
    try:
        ops.start_run(ctx)
    except HostError as e:
        errs["wrong_python"] = addon.hosterrors.describe(e)
    prefs.python = cfg.get("bad_python") or sys.executable   # this bpy venv: no samatte in it
    try:
        ops.start_run(ctx)
    except HostError as e:
        errs["python_without_samatte"] = addon.hosterrors.describe(e)
    prefs.python = cfg["python"]
    # cancel mid-run: right after the first frame event (written), at quality high (slow frames)
    s.quality = "high"
    run = ops.start_run(ctx)
    patt = run.job["output"]["path"]
    t0 = time.monotonic()
    written_at_cancel = None
    while not run.done and time.monotonic() - t0 < 300:
        run.poll()
        if written_at_cancel is None and run.written:
            run.cancel()
            folder = os.path.dirname(patt)
            written_at_cancel = sorted(os.listdir(folder))
        time.sleep(0.01)
    RES["cancel"] = {"error": run.error, "code": run.error_code, "cancelled": run.cancelled,
                     "files_at_cancel": written_at_cancel, "output": patt,
                     "files_after": sorted(os.listdir(os.path.dirname(patt)))}
    RES["cancel_report"] = list(ops.finish_run(ctx, run))
    # a worker that dies mid-job
    s.quality = "default"    # a different job: nothing to resume
    run = ops.start_run(ctx)
    w = addon.jobs.get_worker(ops.settings_from(ctx))
    t0 = time.monotonic()
    while not run.done and not run.written and time.monotonic() - t0 < 120:   # mid-job: after its first frame
        run.poll()
        time.sleep(0.01)
    RES["died_after_frames"] = run.written
    os.kill(w.pid, 9)
    run.wait(timeout=60)
    RES["died"] = {"error": run.error, "code": run.error_code}
    RES["died_report"] = list(ops.finish_run(ctx, run))
    # an overscan EXR: is the clip sized by the data window or the display window?
    if cfg.get("overscan"):
        oc = bpy.data.movieclips.load(cfg["overscan"])
        oi = addon.gather.clip_info(oc, abspath=bpy.path.abspath)
        RES["overscan"] = {"size": list(oc.size), "origin": list(oi.origin),
                           "display_window": list(oi.display_window), "data_window": list(oi.data_window),
                           "top_left_marker_px": list(oi.marker_px((0.0, 1.0)))}
    # release
    RES["release_op"] = sorted(bpy.ops.samatte.release())
    RES["errors"] = errs
    addon_utils.disable(MOD, default_set=True, handle_error=None)


def mask_check():
    """Blender's own rasterisation (the compositor's Mask node) of masks drawn at pixel positions
    through convert.px_to_mask: landscape and portrait, each in a fresh scene's compositor."""
    sys.path.insert(0, os.path.dirname(cfg["addon"]))
    import importlib
    import types
    pkg = types.ModuleType("samatte_blender_plain")
    pkg.__path__ = [cfg["addon"]]
    sys.modules["samatte_blender_plain"] = pkg
    conv = importlib.import_module("samatte_blender_plain.convert")
    out = []
    for w, h in ((160, 90), (90, 160)):
        sc = bpy.context.scene
        r = sc.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = w, h, 100
        mask = bpy.data.masks.new("check%dx%d" % (w, h))
        sp = mask.layers.new(name="L").splines.new()
        sp.use_cyclic = True
        poly = [(0.2 * w + 0.3, 0.1 * h), (0.7 * w, 0.1 * h), (0.7 * w, 0.8 * h - 0.2), (0.2 * w + 0.3, 0.8 * h - 0.2)]
        sp.points.add(len(poly) - 1)
        for p, xy in zip(sp.points, poly):
            co = conv.px_to_mask(xy, (w, h))
            p.handle_left_type = p.handle_right_type = "FREE"
            p.co = p.handle_left = p.handle_right = co
        path = render_mask(mask, os.path.join(cfg["out"], "mask_%dx%d.exr" % (w, h)))
        out.append({"size": [w, h], "polygon": poly, "render": path})
    RES["mask_check"] = out


def _fresh_tree(sc):
    return cleared_compositor(sc, "check")


def _render(sc, path, size):
    r = sc.render
    r.resolution_x, r.resolution_y = size
    r.resolution_percentage = 100
    return render_still(sc, path)


def frame_check():
    """Which file and which marker Blender shows on a scene frame, with clip.frame_start 5 and
    clip.frame_offset 1: the compositor's Movie Clip node (pixels, matched to the files by the
    pytest side) and its Track Position node (the marker's position in pixels)."""
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.frame_start, clip.frame_offset = 5, 1
    tr = clip.tracking.tracks.new(name="t", frame=1)
    for cf in range(1, 7):
        tr.markers.insert_frame(cf, co=(0.1 * cf, 0.25))
    tree, dst = _fresh_tree(sc)
    mc = tree.nodes.new("CompositorNodeMovieClip")
    mc.clip = clip
    link = tree.links.new(mc.outputs["Image"], dst.inputs[0])
    out = {"size": list(clip.size), "clip": {}, "track": {}}
    for f in (6, 8):
        sc.frame_set(f)
        out["clip"][f] = _render(sc, os.path.join(cfg["out"], "clip_%d.exr" % f), tuple(clip.size))
    tree.links.remove(link)
    tp = tree.nodes.new("CompositorNodeTrackPos")
    tp.clip = clip
    tp.tracking_object = clip.tracking.objects[0].name
    tp.track_name = "t"
    cc = tree.nodes.new("CompositorNodeCombineColor")
    tree.links.new(tp.outputs["X"], cc.inputs[0])
    tree.links.new(tp.outputs["Y"], cc.inputs[1])
    tree.links.new(cc.outputs[0], dst.inputs[0])
    for f in (6, 8):
        sc.frame_set(f)
        out["track"][f] = _render(sc, os.path.join(cfg["out"], "track_%d.exr" % f), (4, 4))
    RES["frame_check"] = out


def _enabled_with_mask():
    """The add-on installed and enabled, its worker Python set, the clip loaded with the test mask on it:
    (addon module, context, clip, clip info)."""
    install_link()
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    ctx = bpy.context
    ctx.preferences.addons[MOD].preferences.python = cfg["python"]
    clip = load_clip()
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    add_mask(addon, clip, info)
    return addon, ctx, clip, info


def overscan_run():
    """The same mask and tracks on a plate with or without overscan: a job through the real worker."""
    addon, ctx, clip, info = _enabled_with_mask()
    add_tracks(clip, info)
    s = ctx.scene.samatte
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    run, (level, msg) = addon.ops.run_blocking(ctx)
    RES["overscan_run"] = {"origin": list(info.origin), "size": list(clip.size), "report": [level, msg],
                           "output": run.job["output"]["path"], "prompts": run.job["objects"][0]["prompts"]}


def farm_export():
    """The Send to farm operator: an OpenJD bundle beside the job's output (no worker involved)."""
    addon, ctx, clip, info = _enabled_with_mask()
    s = ctx.scene.samatte
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    RES["farm_op"] = sorted(bpy.ops.samatte.farm_export(chunk=2))
    RES["farm_last_result"] = s.last_result
    RES["panel"] = check_panels(addon, ctx)


try:
    if cfg["step"] == "framecheck":
        os.makedirs(cfg["out"], exist_ok=True)
        frame_check()
    elif cfg["step"] == "overscan_run":
        overscan_run()
    elif cfg["step"] == "maskcheck":
        mask_check()
    elif cfg["step"] == "farm_export":
        farm_export()
    elif cfg["step"] == "main":
        main()
    else:
        cancel_and_errors()
    RES["ok"] = True
except Exception:  # noqa: BLE001 - reported to the test
    RES["ok"] = False
    RES["traceback"] = traceback.format_exc()
finally:
    try:
        sys.modules[MOD].jobs.release_worker()
    except Exception:  # noqa: BLE001
        pass
    save()
