"""QA150 (a Blender user's day 12) in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): a
lighting artist links the comp scene of a shot (File > Link, ``Scene/Shot`` of ``lib/shot.blend``, whose Run made its
mattes in ``lib/samatte/``) into their own ``work/light.blend``.

Blender reads every ``//`` path of linked data relative to its library (the scene's clip, the mattes its compositor
shows), but the add-on read the linked scene's ``//samatte/`` Output relative to the open .blend: Check mattes there said
``mattes: 0 of 4 frames current ... set Output to lib/samatte`` (an Output a linked scene cannot take) and Run matted
all 4 frames again into ``work/samatte/`` and wired them into the linked compositor, which Blender does not save with
``light.blend``: re-opened, nothing showed those mattes. Now the Output is the library's (all 4 current; Run reuses
them), and Run leaves a linked scene's compositor alone, saying so when it does not show the mattes.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa150_linked_scene_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, scene_for, step_scenario  # noqa: E402


def _tree_state(addon, sc):
    """What the scene's compositor holds of samatte's: its matte node's image (path, from a library or not) and
    node count."""
    tree = addon.compositor.existing_tree(sc)
    if tree is None:
        return None
    matte = tree.nodes.get(addon.compositor.NODE_MATTE)
    img = getattr(matte, "image", None)
    return {"nodes": len(tree.nodes), "image": getattr(img, "filepath", None),
            "image_linked": getattr(img, "library", None) is not None}


def step_linked(cfg, res):
    import types
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    lib_dir, work_dir = os.path.join(cfg["out"], "lib"), os.path.join(cfg["out"], "work")
    os.makedirs(lib_dir)
    os.makedirs(work_dir)
    # the comp artist's shot.blend: scene 'Shot' run (mattes in lib/samatte), scene 'Bare' of the same clip, never run
    sc = bpy.context.scene
    sc.name = "Shot"
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, "//samatte/")
    s.tracks, s.tracker = "NONE", "shapes"
    bare = bpy.data.scenes.new("Bare")
    b = scene_for(bare, clip, mask, "//samatte/")
    b.tracks, b.tracker = "NONE", "shapes"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(lib_dir, "shot.blend"))
    res["lib_run"] = sorted(bpy.ops.samatte.run())
    res["lib_last"] = s.last_result
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(lib_dir, "shot.blend"))
    lib_folder = os.path.join(lib_dir, "samatte", "plate")
    res["lib_mtimes"] = {n: os.path.getmtime(os.path.join(lib_folder, n)) for n in sorted(os.listdir(lib_folder))
                         if n.endswith(".exr")}
    # the lighting artist's light.blend, in another folder: both scenes linked
    bpy.ops.wm.read_homefile(use_empty=True)
    addon = __import__("sys").modules[addon.__name__]
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(work_dir, "light.blend"))
    with bpy.data.libraries.load(os.path.join(lib_dir, "shot.blend"), link=True, relative=True) as (_src, dst):
        dst.scenes = ["Shot", "Bare"]
    shot, bare = dst.scenes
    res["linked"] = [shot.library is not None, bare.library is not None]
    res["tree_before"] = _tree_state(addon, shot)
    prefs = bpy.context.preferences

    def ctx(scene):     # what the operators get in a Clip Editor showing that scene (they call these functions)
        return types.SimpleNamespace(scene=scene, space_data=None, preferences=prefs,
                                     window_manager=bpy.context.window_manager)
    res["output"] = addon.ops.output_folder(shot)
    res["status"] = addon.ops.matte_status(ctx(shot))
    run, rep = addon.ops.run_blocking(ctx(shot))
    res["run"] = [run.written, run.skipped, list(rep)]
    res["tree_after"] = _tree_state(addon, shot)
    res["bare_run"] = list(addon.ops.run_blocking(ctx(bare))[1])
    res["bare_tree"] = _tree_state(addon, bare)
    res["bare_status"] = addon.ops.matte_status(ctx(bare))
    res["work_listing"] = sorted(os.listdir(work_dir))
    res["lib_mtimes_after"] = {n: os.path.getmtime(os.path.join(lib_folder, n)) for n in sorted(os.listdir(lib_folder))
                               if n.endswith(".exr")}
    res["lib_folder"] = lib_folder


STEPS = {"linked": step_linked}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa150_linked") / "shot"), frames=4, size=(64, 64), seed=5)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_linked_scene_reads_and_reuses_its_librarys_mattes(v, tmp_path, shot):
    from bpy_common import run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "linked")
    assert res["lib_run"] == ["FINISHED"] and res["lib_last"].startswith("plate: 4 frames written"), res
    assert res["linked"] == [True, True]
    lib_folder = res["lib_folder"]
    # before: ['mattes: 0 of 4 frames current; ...', 'not made 1-4', ..., 'set Output to .../lib/samatte ...']
    assert res["status"] == ["mattes: all 4 frames current"], res["status"]
    # before: 4 written, 0 reused into work/samatte/plate, and the linked compositor re-wired to them
    assert res["run"][:2] == [0, 4], res["run"]
    assert res["run"][2][0] == "INFO" and os.path.join(lib_folder, "plate_matte.####.exr") in res["run"][2][1], res
    assert "linked from" not in res["run"][2][1], res["run"]     # its compositor shows them: nothing to say
    assert res["tree_after"] == res["tree_before"] and res["tree_before"]["image_linked"], res
    assert res["work_listing"] == ["light.blend"], res["work_listing"]   # nothing written beside light.blend
    assert res["lib_mtimes_after"] == res["lib_mtimes"]                  # the library's mattes reused, not rewritten
    # a linked scene whose compositor never showed them: not wired here (lost on save), and it says so
    assert res["bare_run"][0] == "INFO", res["bare_run"]
    assert "scene 'Bare' is linked from" in res["bare_run"][1] and "Run there" in res["bare_run"][1], res["bare_run"]
    assert res["bare_tree"] is None or res["bare_tree"]["image"] is None, res["bare_tree"]
    assert res["bare_status"][0] == "mattes: all 4 frames current", res["bare_status"]
    assert "scene 'Bare' is linked from" in res["bare_status"][-1], res["bare_status"]
    assert os.path.normpath(res["output"]) == os.path.dirname(lib_folder)
