"""QA regressions of the Blender add-on, in real Blender (PyPI's bpy 5.0.1 and 4.2.23) like
test_blender_bpy.py: a test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender.py CONFIG.json`` runs
:func:`scenario` inside Blender (pytest never imports bpy).
"""
import os
import sys

from bpy_common import MOD, REPO, VERSIONS, bpy_main, run_script_in_blender  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# --- the bpy side ----------------------------------------------------------------------------------

def scenario(cfg):
    import shutil
    import types

    import bpy  # first: it puts Blender's script modules (addon_utils) on sys.path
    import addon_utils
    res = {"blender": bpy.app.version_string}
    sys.path.insert(0, os.path.join(REPO, "install"))
    import blender as blender_install
    blender_install.install(REPO, python=cfg["python"], models_dir="")

    # enable / disable: no timer of the add-on is left behind
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    res["timer_enabled"] = bpy.app.timers.is_registered(addon.props._fill_later)
    addon_utils.disable(MOD, default_set=True, handle_error=None)
    res["timer_disabled"] = bpy.app.timers.is_registered(addon.props._fill_later)
    addon_utils.enable(MOD, default_set=True, handle_error=None)
    addon = sys.modules[MOD]
    ops, HostError, describe = addon.ops, addon.hosterrors.HostError, addon.hosterrors.describe
    ctx = bpy.context
    prefs = ctx.preferences.addons[MOD].preferences
    errs = res["errors"] = {}

    def err(name, fn):
        try:
            fn()
            errs[name] = None
        except HostError as e:
            errs[name] = describe(e)

    plates = os.path.join(cfg["out"], "plates")
    shutil.copytree(os.path.dirname(cfg["plate"]), plates)
    scene_a = ctx.scene
    clip = bpy.data.movieclips.load(os.path.join(plates, os.path.basename(cfg["plate"])))
    scene_a.active_clip = clip
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    layer = mask.layers.new(name="hero")
    sp = layer.splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for p, xy in zip(sp.points, cfg["polygon"]):
        co = addon.convert.px_to_mask(xy, info.size, info.origin)
        p.co = p.handle_left = p.handle_right = co
    s = scene_a.samatte
    s.mask = mask
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"

    # an unsaved .blend: the default Output "//samatte/" has no folder (it was the current directory)
    err("unsaved_output", lambda: ops.start_run(ctx))
    try:
        bpy.ops.samatte.farm_export()
        res["unsaved_farm_op"] = None
    except RuntimeError as e:
        res["unsaved_farm_op"] = str(e)
    s.output_dir = os.path.join(cfg["out"], "mattes") + os.sep

    # the samatte Python: "~" expanded (it was resolved against the current directory when the worker
    # started), a folder named as such
    venv = os.path.dirname(os.path.dirname(cfg["python"]))          # <venv>/bin/python
    os.symlink(venv, os.path.join(os.path.expanduser("~"), "samatte_venv"))
    prefs.python = "~/samatte_venv/bin/" + os.path.basename(cfg["python"])
    res["tilde_python"] = ops.settings_from(ctx).python
    res["tilde_check"] = sorted(bpy.ops.samatte.check())
    addon.jobs.release_worker()
    prefs.python = os.path.dirname(cfg["python"])
    err("python_folder", lambda: ops.start_run(ctx))
    prefs.python = cfg["python"]

    # every mask layer hidden in renders: the error says so
    layer.hide_render = True
    err("all_hidden", lambda: ops.start_run(ctx))
    res["scan_all_hidden"] = ops.scan(ctx)
    layer.hide_render = False

    # a tracking object that does not exist: the error names those that do
    s.tracks, s.tracks_object = "OBJECT", "nope"
    err("no_tracking_object", lambda: ops.start_run(ctx))
    s.tracks = "SELECTED"

    # an empty Frame range; plate files gone: two different errors
    s.use_range, s.frame_start, s.frame_end = True, 5, 2
    err("empty_range", lambda: ops.start_run(ctx))
    s.use_range = False
    for name in os.listdir(plates):
        os.remove(os.path.join(plates, name))
    err("files_missing", lambda: ops.start_run(ctx))
    shutil.rmtree(plates)
    shutil.copytree(os.path.dirname(cfg["plate"]), plates)

    # a run started from scene A ends while scene B is shown: A's compositor is wired, not B's
    scene_b = bpy.data.scenes.new("other")
    run = ops.start_run(ctx)
    run.wait(timeout=300)
    level, _msg = ops.finish_run(types.SimpleNamespace(scene=scene_b), run)
    res["scene_run"] = {"level": level, "error": run.error, "a_result": scene_a.samatte.last_result,
                        "b_result": scene_b.samatte.last_result,
                        "a_nodes": _node_names(addon, scene_a), "b_nodes": _node_names(addon, scene_b)}
    addon.jobs.release_worker()
    addon_utils.disable(MOD, default_set=True, handle_error=None)
    res["ok"] = True
    return res


def _node_names(addon, scene):
    if addon.compositor.legacy_tree():
        tree = scene.node_tree
    else:
        tree = scene.compositing_node_group
    return sorted(n.name for n in tree.nodes) if tree is not None else []


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(scenario, on_error=lambda: sys.modules[MOD].jobs.release_worker())


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot")), frames=6, size=(128, 72))


def run_in_blender(v, tmp_path, shot):
    cfg = {"python": sys.executable, "plate": shot["plate"].replace("####", "%04d" % shot["frames"][0]),
           "polygon": shot["polygon"], "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json")}
    res, home = run_script_in_blender(__file__, v, tmp_path, cfg)
    return res, cfg, home


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_addon_as_a_user_drives_it(v, tmp_path, shot):
    res, cfg, home = run_in_blender(v, tmp_path, shot)
    # disabling the add-on removes the timer that fills its preferences
    assert res["timer_enabled"] is True and res["timer_disabled"] is False
    e = res["errors"]
    # unsaved .blend: no job writing into Blender's current directory, a message that says what to do
    assert e["unsaved_output"].startswith("[OUTPUT_INVALID]") and "save the .blend" in e["unsaved_output"]
    assert "OUTPUT_INVALID" in res["unsaved_farm_op"]
    assert not (tmp_path / "samatte").exists()
    # "~" in the samatte Python works for the worker too
    assert res["tilde_python"] == str(home / "samatte_venv" / "bin" / os.path.basename(sys.executable))
    assert res["tilde_check"] == ["FINISHED"]
    assert "is a folder" in e["python_folder"] and "bin/python" in e["python_folder"]
    assert e["all_hidden"].startswith("[PROMPT_INVALID]") and "hidden in renders" in e["all_hidden"]
    assert "hidden in renders" in res["scan_all_hidden"]
    assert e["no_tracking_object"].startswith("[PROMPT_INVALID]") and "one of" in e["no_tracking_object"]
    assert e["empty_range"].startswith("[FRAME_RANGE_INVALID]") and "Frame range" in e["empty_range"]
    assert e["files_missing"].startswith("[FRAME_RANGE_INVALID]") and "moved or deleted" in e["files_missing"]
    # the run is applied to the scene it was started from
    r = res["scene_run"]
    assert r["error"] is None and r["level"] == "INFO"
    assert "frames written" in r["a_result"] and r["b_result"] == ""
    assert {"samatte plate", "samatte matte", "samatte set alpha"} <= set(r["a_nodes"])
    assert not any(n.startswith("samatte") for n in r["b_nodes"])


def test_sequence_pattern_ignores_digits_of_the_extension():
    """Blender reads a sequence's frame number before the extension (BLI_path_sequence_decode, as
    os.path.splitext): a JPEG 2000 sequence plate.1001.jp2 is frame 1001, not 2."""
    sys.path.insert(0, HERE)
    from addon_plain import plain
    convert = plain("convert")
    assert convert.sequence_pattern("/a/plate.1001.jp2") == ("/a/plate.####.jp2", 1001)
    assert convert.sequence_pattern("/a/sh010.0007.j2c") == ("/a/sh010.####.j2c", 7)
    assert convert.sequence_pattern("/a/plate.1001.exr") == ("/a/plate.####.exr", 1001)
    assert convert.sequence_pattern("/a/take2.mp4") == ("/a/take#.mp4", 2)
