"""QA: what the compositor shows on the frames samatte did not matte (real bpy 5.0.1 and 4.2.23; a test
skips when its ``.venv-bpyXX`` is absent; tests/blender/setup_bpy.sh makes them).

A clip of files 1001-1008 on scene frames 1-12 (four frames past the clip's end), mattes on disk for files
1001, 1002, 1005 and 1008 only (a cancelled run, a Frame range run) with two objects (``hero`` at
MATTE(n), ``prop`` at MATTE(n) / 2), wired as a finished run of 1001-1008 does, with a relative (``//``)
Output. Rendered through the compositor over the scene range: Set Alpha's result and each object's gated
output; then re-wired (a re-run), re-wired after a later run filled the gap 1006-1007, saved, re-opened
and rendered again; a matte written outside Blender shows after Check mattes.

Before: 4.2 showed Blender's missing-file placeholder on the files with no matte (Set Alpha kept 2/3 of
the plate; every matte socket read 1.0), and in both versions the matte node's ``Alpha`` and object sockets
held the matte of 1008 (0.7) on frames 9-12, past the clip's end.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_readback2.py CONFIG.json``.
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpy_common import VERSIONS, bpy_main, enable_addon, render_anim, run_script_in_blender, step_scenario  # noqa: E402

SIZE = (8, 8)
FILES = range(1001, 1009)
ON_DISK = (1001, 1002, 1005, 1008)
SCENE = (1, 12)
OBJECTS = {"hero": 1.0, "prop": 0.5}
FILLED = (1006, 1007)     # written by a later run, before the re-open
LATER = 1003              # written outside Blender after the re-open, then Check mattes


def matte_value(n):
    return 0.3 + 0.05 * (n - 1000)


# --- the bpy side ----------------------------------------------------------------------------------


def _show(tree, C, socket):
    """Feed the output node the object ``socket`` as the add-on offers it: its gated node (the fix), else
    the matte node's own socket (before)."""
    out = next(n for n in tree.nodes if n.bl_idname in ("CompositorNodeComposite", "NodeGroupOutput"))
    for lk in list(out.inputs[0].links):
        tree.links.remove(lk)
    gated = tree.nodes.get("samatte gated " + socket)
    src = gated.outputs[0] if gated is not None else tree.nodes[C.NODE_MATTE].outputs[socket]
    tree.links.new(src, out.inputs[0])


def _renders(addon, sc, folder, sockets):
    C = addon.compositor
    tree = C.existing_tree(sc)
    got = {"setalpha": render_anim(sc, os.path.join(folder, "setalpha"))}
    for s in sockets:
        _show(tree, C, s)
        got[s] = render_anim(sc, os.path.join(folder, s))
    out = next(n for n in tree.nodes if n.bl_idname in ("CompositorNodeComposite", "NodeGroupOutput"))
    for lk in list(out.inputs[0].links):
        tree.links.remove(lk)
    tree.links.new(tree.nodes[C.NODE_SETALPHA].outputs[0], out.inputs[0])
    return got


def step_gaps(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    C = addon.compositor
    bpy.ops.wm.save_as_mainfile(filepath=cfg["blend"])
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(bpy.path.relpath(cfg["plate"]))
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = SCENE
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    frames = addon.ops.wired_frames(info, cfg["matte"], list(FILES))
    tree = C.wire(sc, clip, info, cfg["matte"], frames, relative=True)
    res["image_path"] = tree.nodes[C.NODE_MATTE].image.filepath
    res["first"] = _renders(addon, sc, os.path.join(cfg["out"], "first"), list(OBJECTS))
    # a user's node fed by a gated output, then a re-run: the same nodes, the user's link kept
    user = tree.nodes.new("CompositorNodeViewer")
    user.name = "user viewer"
    if tree.nodes.get("samatte gated hero") is not None:
        tree.links.new(tree.nodes["samatte gated hero"].outputs[0], user.inputs[0])
    names = sorted(n.name for n in tree.nodes)
    C.wire(sc, clip, info, cfg["matte"], frames, relative=True)
    res["rewire_same_nodes"] = sorted(n.name for n in tree.nodes) == names
    # a later run fills the gap 1006-1007 (copies of 1005 here): its re-wire joins the runs 1005 and 1008
    for n in FILLED:
        shutil.copyfile(cfg["matte"].replace("####", "1005"), cfg["matte"].replace("####", "%04d" % n))
    C.wire(sc, clip, info, cfg["matte"], frames, relative=True)
    res["gate_nodes"] = sorted(n.name for n in tree.nodes if n.name.startswith("samatte gate"))
    res["user_link"] = [lk.from_node.name for lk in user.inputs[0].links]
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=cfg["blend"])
    sc = bpy.context.scene
    res["reopened"] = _renders(addon, sc, os.path.join(cfg["out"], "reopened"), ["hero"])
    # a matte written outside Blender (the farm, the command line): shown after Check mattes
    shutil.copyfile(cfg["matte"].replace("####", "1005"), cfg["matte"].replace("####", "%04d" % LATER))
    res["unchecked"] = _renders(addon, sc, os.path.join(cfg["out"], "unchecked"), [])
    res["check"] = addon.ops.matte_status(bpy.context)
    res["checked"] = _renders(addon, sc, os.path.join(cfg["out"], "checked"), [])


STEPS = {"gaps": step_gaps}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


def _write(path, rgb):
    import numpy as np
    import OpenImageIO as oiio
    w, h = SIZE
    buf = oiio.ImageBuf(oiio.ImageSpec(w, h, 3, oiio.HALF))
    buf.set_pixels(oiio.ROI(), np.tile(np.array(rgb, np.float32), (h, w, 1)))
    assert buf.write(path), buf.geterror()


def _mattes(pattern):
    import numpy as np
    from samatte.io.writer import MatteWriter
    from samatte.stages import MatteFrame, PlateInfo, Window
    w, h = SIZE
    writer = MatteWriter(pattern, PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h)))
    for n in ON_DISK:
        a = np.full((h, w), matte_value(n), np.float32)
        writer.write(MatteFrame(frame=n, alphas={k: a * f for k, f in OBJECTS.items()}, alpha=a,
                                foreground=np.zeros((h, w, 3), np.float32), quality=np.zeros((h, w), np.float32)))


def _values(folder, channel):
    import OpenImageIO as oiio
    got = []
    for f in range(SCENE[0], SCENE[1] + 1):
        px = oiio.ImageBuf(os.path.join(folder, "r_%04d.exr" % f)).get_pixels(oiio.FLOAT)
        got.append(round(float(px[SIZE[1] // 2, SIZE[0] // 2, channel]), 3))
    return got


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_frames_without_a_matte_show_none_in_both_versions(v, tmp_path):
    """Set Alpha and every object's gated output show the matte of the file on scene frames 1, 2, 5, 8
    and 0 elsewhere (the holes 3, 4, 6, 7 and frames 9-12 past the clip's end); after a later run filled
    6-7, a save and a re-open, those frames too; the matte image's path stays relative, a re-run keeps the
    nodes and the user's link from a gated output."""
    project = tmp_path / "project"
    (project / "plates").mkdir(parents=True)
    for n in FILES:
        _write(str(project / "plates" / ("plate.%04d.exr" % n)), ((n - 1000) / 16.0, 0.5, 0.25))
    pattern = str(project / "samatte" / "plate.####.exr")
    _mattes(pattern)
    cfg = {"python": sys.executable, "plate": str(project / "plates" / "plate.1001.exr"), "matte": pattern,
           "blend": str(project / "shot.blend"), "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": "gaps"}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    want = {}
    for name, factor in [("setalpha", 1.0)] + list(OBJECTS.items()):
        want[name] = [round(matte_value(1000 + f) * factor, 3) if 1000 + f in ON_DISK else 0.0
                      for f in range(SCENE[0], SCENE[1] + 1)]
    got = {"setalpha": _values(res["first"]["setalpha"], 3)}
    got.update({k: _values(res["first"][k], 0) for k in OBJECTS})
    assert got == {k: want[k] for k in got}
    assert res["rewire_same_nodes"] and res["user_link"] == ["samatte gated hero"]
    assert res["image_path"].startswith("//")
    # 4.2: two runs of files left (1001-1002, 1005-1008): two Compares and one sum, the third run's nodes
    # removed; 5.0 (a missing file reads as 0): one Compare, the span
    assert [n for n in res["gate_nodes"] if "range" in n or "sum" in n] == (
        ["samatte gate range 1", "samatte gate range 2", "samatte gate sum 1"] if v == "42"
        else ["samatte gate range 1"])
    filled = [a if 1000 + f not in FILLED else round(matte_value(1005), 3)
              for f, a in zip(range(SCENE[0], SCENE[1] + 1), want["setalpha"])]
    again = {"setalpha": _values(res["reopened"]["setalpha"], 3), "hero": _values(res["reopened"]["hero"], 0)}
    assert again == {"setalpha": filled, "hero": filled}
    checked = [a if 1000 + f != LATER else round(matte_value(1005), 3)
               for f, a in zip(range(SCENE[0], SCENE[1] + 1), filled)]
    assert _values(res["checked"]["setalpha"], 3) == checked, res["check"]
    # before Check mattes: 5.0 shows the matte that landed at once; 4.2's gate still hides it (documented)
    assert _values(res["unchecked"]["setalpha"], 3) == (filled if v == "42" else checked)
