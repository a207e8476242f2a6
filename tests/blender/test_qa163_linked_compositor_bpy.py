"""QA163 (a Blender user's day 14) in real bpy 5.0.1 (a test skips when its ``.venv-bpy50`` is absent; Blender 4.2's
compositor is the scene's own node tree, never linked on its own): the studio's comp template, a compositor node group
``StudioComp`` linked from ``lib/comp.blend`` (File > Link, or an asset library set to Link), picked as the scene's
compositor, then Run.

Before: Run said ``plate: 4 frames written`` (FINISHED) but samatte's nodes went into the linked, read-only group in
memory with no matte image (Blender keeps a linked node from pointing at a local Image): the render showed no matte,
Check mattes said ``the compositor does not show these mattes ... Run to show them`` after every Run, and the nodes
were gone once the .blend was saved and re-opened. Now the scene gets a local copy of the group (the library's
unchanged, as for a group shared with another scene), which shows the mattes, and the Last result says so.

This file is also the bpy side: ``<venv-bpy50>/bin/python test_qa163_linked_compositor_bpy.py CONFIG.json``.
"""
import os

from bpy_common import bpy_main, box_mask, enable_addon, op_result, render_compositor, scene_for, step_scenario  # noqa: E402


def step_linked_group(cfg, res):
    import sys
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    lib_dir, work_dir = os.path.join(cfg["out"], "lib"), os.path.join(cfg["out"], "work")
    os.makedirs(lib_dir)
    os.makedirs(work_dir)
    # the studio's template: a compositor group with its output, saved in lib/comp.blend
    g = bpy.data.node_groups.new("StudioComp", "CompositorNodeTree")
    g.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    g.nodes.new("NodeGroupOutput")
    lib = os.path.join(lib_dir, "comp.blend")
    bpy.data.libraries.write(lib, {g}, fake_user=True)
    bpy.data.node_groups.remove(g)
    # the artist's shot: the template linked and picked as the scene's compositor
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    s = scene_for(sc, clip, box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size)), "//samatte/")
    s.tracks = "NONE"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(work_dir, "shot.blend"))
    with bpy.data.libraries.load(lib, link=True, relative=True) as (_src, dst):
        dst.node_groups = ["StudioComp"]
    linked = next(t for t in bpy.data.node_groups if t.name == "StudioComp" and t.library is not None)
    sc.compositing_node_group = linked
    op_result(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result
    tree = sc.compositing_node_group
    res["tree"] = [tree.name, tree.library is not None]
    res["linked_nodes"] = sorted(n.name for n in linked.nodes)
    matte = tree.nodes.get(addon.compositor.NODE_MATTE)
    res["matte_image"] = getattr(getattr(matte, "image", None), "filepath", None)
    op_result(res, "status", bpy.ops.samatte.status)
    res["status_text"] = s.status_result
    sc.frame_set(3)
    res["render"] = render_compositor(sc, os.path.join(cfg["out"], "comp_f3.exr"))
    # saved and re-opened: the local copy (and its matte) is in the .blend (back on frame 1: an unkeyed roto is
    # prompted on the current frame)
    sc.frame_set(1)
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=os.path.join(work_dir, "shot.blend"))
    addon = sys.modules[addon.__name__]
    sc = bpy.context.scene
    tree = sc.compositing_node_group
    res["reopened_tree"] = [tree.name, tree.library is not None]
    matte = tree.nodes.get(addon.compositor.NODE_MATTE)
    res["reopened_image"] = getattr(getattr(matte, "image", None), "filepath", None)
    op_result(res, "status2", bpy.ops.samatte.status)
    res["status2_text"] = sc.samatte.status_result


STEPS = {"linked_group": step_linked_group}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa163_linked_comp")), frames=4, size=(64, 64), seed=3)


def test_run_with_a_linked_compositor_group_wires_a_local_copy(tmp_path, shot):
    import numpy as np
    from bpy_common import run_step_in_blender
    res, cfg = run_step_in_blender(__file__, "50", tmp_path, shot, "linked_group")
    assert res["run"] == ["ok", ["FINISHED"]], res["run"]
    assert res["last"].startswith("plate: 4 frames written"), res["last"]
    lib = os.path.join(cfg["out"], "lib", "comp.blend")
    assert "scene 'Scene''s compositor 'StudioComp' is linked from %s (read-only here): it has a local copy of it now, " \
        "which shows the mattes (the library's unchanged)" % lib \
        in res["last"], res["last"]
    # the scene's compositor is now a local group that shows the mattes; the library's group is untouched
    assert res["tree"][1] is False, res["tree"]
    assert res["linked_nodes"] == ["Group Output"], res["linked_nodes"]
    assert res["matte_image"] == "//samatte/plate/plate_matte.1001.exr", res["matte_image"]
    # before: 'the compositor does not show these mattes (...): Run to show them'
    assert res["status"] == ["ok", ["FINISHED"]] and res["status_text"] == "mattes: all 4 frames current", res
    # the render through it has the matte of file 1003 on scene frame 3 (before: no matte image in the compositor)
    import OpenImageIO as oiio
    written = os.path.join(cfg["out"], "work", "samatte", "plate", "plate_matte.1003.exr")
    matte = oiio.ImageBuf(written).get_pixels(oiio.FLOAT)
    matte = matte[..., list(oiio.ImageBuf(written).spec().channelnames).index("A")]
    alpha = render_alpha_channel(res["render"])
    assert matte.max() > 0.9 and matte.min() < 0.1, (matte.min(), matte.max())
    assert np.abs(alpha - matte).max() < 0.01, np.abs(alpha - matte).max()
    assert res["reopened_tree"] == [res["tree"][0], False], res["reopened_tree"]
    assert res["reopened_image"] == res["matte_image"], res["reopened_image"]
    assert res["status2_text"] == "mattes: all 4 frames current", res["status2_text"]


def render_alpha_channel(path):
    """The alpha channel of a render (float32, (H, W))."""
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    return buf.get_pixels(oiio.FLOAT)[..., buf.spec().nchannels - 1]
