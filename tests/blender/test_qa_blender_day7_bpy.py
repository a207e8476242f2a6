"""QA, day 7: a Blender artist's week with real files, in real bpy 5.0.1 and 4.2.23 (a test skips when its
``.venv-bpyXX`` is absent).

* The artist works in the compositor samatte wired: a Math node halving the matte between ``samatte gated Alpha``
  and ``samatte set alpha``, a Reroute between Set Alpha and the output. Before, every Run (a re-run that reused
  every frame included) linked samatte's nodes directly again: both were bypassed, the render's alpha went back
  from 0.5 x matte to the matte with nothing said. Now a chain that still starts at samatte's node is kept; a
  link the artist removed (or a node deleted) is made again.
* The .blend saved elsewhere (File > Save As) with a ``//`` Output: Check mattes told the artist to "set Output
  to" the clip's own matte subfolder (``projA/samatte/plate``); done, the job's mattes became
  ``projA/samatte/plate/plate/...``: 0 of 6 current, a Run would make them all again. It now names the Output
  folder that makes those mattes (``projA/samatte``): set, all 6 current. The clip's source replaced by a
  sequence with another name (``clip.filepath`` to ``plate_v2.####.exr``) after a Run: Check mattes called the
  old plate's mattes "this clip's mattes" and said to set Output to their folder to reuse them; it now says they
  are the mattes of other plate files.
* Ctrl+Z: no samatte operator was an undo step, so what Run or Check mattes changed in the .blend went into the
  artist's next undo step: Ctrl+Z of a roto point moved after a Run removed the compositor's samatte nodes, and
  after Check mattes had re-mapped the matte node to a changed clip Offset, it took the re-mapping back (the
  Offset stayed): the matte of file 1003 over the plate of file 1004, with nothing said. Run, Check mattes, Find
  objects and Send to farm are now undo steps of their own (``bl_options = {"UNDO"}``).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day7_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, box_mask, bpy_main, enable_addon, op_result, render_compositor,  # noqa: E402
                        run_step_in_blender, scene_for, step_scenario)


# --- the bpy side ----------------------------------------------------------------------------------

def _shot(cfg, out):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, out)
    s.tracks = "NONE"
    return addon, sc, clip, s


def _links(tree):
    return sorted("%s:%s -> %s:%s" % (lk.from_node.name, lk.from_socket.name, lk.to_node.name, lk.to_socket.name)
                  for lk in tree.links if not lk.from_node.name.startswith(("samatte gate ", "samatte frame")))


def step_chain(cfg, res):
    """Run; the artist's Math (x 0.5) on the matte and a Reroute after Set Alpha; Run again; Set Alpha deleted,
    Run again. The compositor's links and its render of scene frame 3 after each."""
    import bpy
    addon, sc, clip, s = _shot(cfg, cfg["out"])
    C = addon.compositor
    sc.frame_set(3)

    def render(key):
        res["render_" + key] = render_compositor(sc, os.path.join(cfg["out"], "r_%s.exr" % key))

    op_result(res, "run1", bpy.ops.samatte.run)
    res["pattern"] = C.shown_pattern(sc, clip)
    tree = C.existing_tree(sc)
    render("run1")
    # the artist's nodes: the matte halved before Set Alpha, a Reroute (their grade, say) before the output
    sa = tree.nodes[C.NODE_SETALPHA]
    out = next(lk.to_node for lk in sa.outputs[0].links)
    half = tree.nodes.new("CompositorNodeMath" if C.legacy_tree() else "ShaderNodeMath")
    half.name = "artist half"
    half.operation = "MULTIPLY"
    half.inputs[1].default_value = 0.5
    tree.links.new(tree.nodes[C.gated_node_name("Alpha")].outputs[0], half.inputs[0])
    tree.links.new(half.outputs[0], sa.inputs[1])
    rr = tree.nodes.new("NodeReroute")
    rr.name = "artist reroute"
    tree.links.new(sa.outputs[0], rr.inputs[0])
    tree.links.new(rr.outputs[0], out.inputs[0])
    res["links_artist"] = _links(tree)
    render("artist")
    op_result(res, "run2", bpy.ops.samatte.run)
    res["last2"] = s.last_result
    res["links_run2"] = _links(tree)
    render("run2")
    # the artist deletes samatte's Set Alpha node: a Run makes it again and wires it to the output
    tree.nodes.remove(tree.nodes[C.NODE_SETALPHA])
    op_result(res, "run3", bpy.ops.samatte.run)
    res["links_run3"] = _links(tree)
    render("run3")


def step_moved(cfg, res):
    """Run with Output ``//samatte/`` in projA; File > Save As into projB; Check mattes, its advice followed,
    Check mattes; then the clip's source replaced by ``plate_v2.####.exr`` files; Check mattes."""
    import bpy
    a, b = (os.path.join(cfg["out"], p) for p in ("projA", "projB"))
    os.makedirs(a)
    os.makedirs(b)
    addon, sc, clip, s = _shot(cfg, "//samatte/")
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(a, "shot_v001.blend"))
    op_result(res, "run", bpy.ops.samatte.run)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(b, "shot_v002.blend"))
    op_result(res, "status_b_op", bpy.ops.samatte.status)
    res["status_b"] = s.status_result
    line = [x for x in s.status_result.splitlines() if "set Output to " in x]
    res["advice"] = line[0].split("set Output to ", 1)[1].split(" to check and reuse", 1)[0] if line else None
    if res["advice"] == "that folder":      # before: the folder it reads them from, named earlier in the line
        res["advice"] = line[0].split("mattes from ", 1)[1].split(", not from Output", 1)[0]
    if res["advice"]:
        s.output_dir = res["advice"]                         # the artist does what it says
        op_result(res, "status_followed_op", bpy.ops.samatte.status)
        res["status_followed"] = s.status_result
        res["job_output"] = addon.ops._build(bpy.context)[1]["output"]["path"]
    s.output_dir = "//samatte/"
    clip.filepath = cfg["plate_v2"]                          # the plates re-delivered under another name
    res["clip_v2"] = [clip.filepath, clip.frame_duration, list(clip.size)]
    op_result(res, "status_v2_op", bpy.ops.samatte.status)
    res["status_v2"] = s.status_result


def step_undo(cfg, res):
    """Each operator clicked as in the UI (``bpy.ops.samatte.x("EXEC_DEFAULT", True)``: an undo step when the
    operator is an undoable one) and each of the artist's own edits followed by the undo step the UI pushes:
    Run, a roto point moved, Ctrl+Z; then the clip's Offset changed, Check mattes, a point moved, Ctrl+Z. The
    compositor's samatte nodes and the matte node's frame mapping after each Ctrl+Z, and a render."""
    import bpy
    addon, sc, clip, s = _shot(cfg, cfg["out"])
    C = addon.compositor
    bpy.ops.ed.undo_push(message="set up")

    def edit_point(message):
        bpy.data.masks["Roto"].layers[0].splines[0].points[0].co.x += 0.02
        bpy.ops.ed.undo_push(message=message)

    def node_map():
        tree = C.existing_tree(bpy.context.scene)
        m = tree.nodes.get(C.NODE_MATTE) if tree is not None else None
        return None if m is None else [m.frame_start, m.frame_offset, m.frame_duration]

    op_result(res, "run", bpy.ops.samatte.run, "EXEC_DEFAULT", True)
    res["map_run"] = node_map()
    res["pattern"] = C.shown_pattern(sc, clip)
    edit_point("move point")
    bpy.ops.ed.undo()                                # the artist takes the point move back
    res["map_undo1"] = node_map()
    res["last_undo1"] = bpy.context.scene.samatte.last_result
    bpy.data.movieclips[0].frame_offset = 1          # plate file 1001 + f on scene frame f
    bpy.ops.ed.undo_push(message="offset")
    op_result(res, "status", bpy.ops.samatte.status, "EXEC_DEFAULT", True)   # re-maps the matte node
    res["map_status"] = node_map()
    edit_point("move point again")
    bpy.ops.ed.undo()
    sc = bpy.context.scene
    res["offset_undo2"] = bpy.data.movieclips[0].frame_offset
    res["map_undo2"] = node_map()
    sc.frame_set(3)
    res["render_undo2"] = render_compositor(sc, os.path.join(cfg["out"], "r_undo2.exr")) if res["map_undo2"] else None


STEPS = {"chain": step_chain, "moved": step_moved, "undo": step_undo}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day7_bpy")), frames=6, size=(64, 64))


def _rgba(path):
    import OpenImageIO as oiio
    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_rerun_keeps_the_artists_nodes_in_samattes_chain(v, tmp_path, shot):
    import numpy as np
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "chain")
    assert res["run1"] == res["run2"] == res["run3"] == ["ok", ["FINISHED"]], res
    assert "0 frames written, 6 reused" in res["last2"], res["last2"]
    matte = _rgba(res["pattern"].replace("####", "1003"))[..., 3]
    assert matte.max() > 0.9
    r1, ra, r2, r3 = (_rgba(res["render_" + k])[..., 3] for k in ("run1", "artist", "run2", "run3"))
    assert float(np.abs(r1 - matte).max()) == 0.0
    assert float(np.abs(ra - 0.5 * matte).max()) < 1e-6          # the artist's comp: half the matte
    kept = ["artist half:Value -> samatte set alpha:Alpha", "samatte gated Alpha:Value -> artist half:Value",
            "samatte set alpha:Image -> artist reroute:Input"]
    for link in kept:
        assert link in res["links_artist"] and link in res["links_run2"], (link, res["links_run2"])
    assert [x for x in res["links_run2"] if x.startswith("artist reroute:Output -> ")], res["links_run2"]
    # before: the re-run linked Set Alpha from the gated Alpha and to the output again: the render was the matte
    assert res["links_run2"] == res["links_artist"], res["links_run2"]
    assert float(np.abs(r2 - ra).max()) == 0.0, float(np.abs(r2 - matte).max())
    # Set Alpha deleted by the artist: made again, fed by the plate and the gated matte, wired to the output
    assert "samatte gated Alpha:Value -> samatte set alpha:Alpha" in res["links_run3"], res["links_run3"]
    assert "samatte plate:Image -> samatte set alpha:Image" in res["links_run3"], res["links_run3"]
    assert float(np.abs(r3 - matte).max()) == 0.0


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_check_mattes_names_the_output_folder_to_reuse_and_says_when_the_plate_changed(v, tmp_path, shot):
    import shutil
    v2 = tmp_path / "v2"
    v2.mkdir()
    for f in shot["frames"]:
        shutil.copy(shot["plate"].replace("####", "%04d" % f), v2 / ("plate_v2.%04d.exr" % f))
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "moved", plate_v2=str(v2 / "plate_v2.1001.exr"))
    assert res["run"] == ["ok", ["FINISHED"]], res
    a = os.path.join(cfg["out"], "projA", "samatte")
    b = os.path.join(cfg["out"], "projB", "samatte")
    assert res["status_b"].startswith("mattes: 0 of 6 frames current"), res["status_b"]
    assert "the compositor shows this clip's mattes from %s, not from Output (%s)" % (
        os.path.join(a, "plate"), os.path.join(b, "plate")) in res["status_b"], res["status_b"]
    # before: 'set Output to that folder' (projA/samatte/plate): done, the job's mattes became
    # .../plate/plate/plate_matte.####.exr, 'mattes: 0 of 6 frames current'
    assert res["status_followed"] == "mattes: all 6 frames current", (res["status_followed"], res["job_output"])
    assert res["advice"] == a, res["status_b"]
    assert res["job_output"] == os.path.join(a, "plate", "plate_matte.####.exr"), res["job_output"]
    # the clip's files replaced by plate_v2.####.exr: the compositor still shows plate's mattes; they are no
    # mattes of this clip's files, and no Output reuses them (before: "this clip's mattes ... set Output to
    # that folder to check and reuse those")
    assert res["clip_v2"][1:] == [6, [64, 64]], res["clip_v2"]
    assert res["status_v2"].startswith("mattes: 0 of 6 frames current"), res["status_v2"]
    assert ("the compositor shows the mattes of other plate files (plate_matte.####.exr in %s), not of this "
            "clip's plate_v2.####.exr" % os.path.join(a, "plate")) in res["status_v2"], res["status_v2"]
    assert "reuse" not in res["status_v2"] and "this clip's mattes" not in res["status_v2"], res["status_v2"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_ctrl_z_of_the_next_edit_keeps_what_run_and_check_mattes_did(v, tmp_path, shot):
    import numpy as np
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "undo")
    assert res["run"] == res["status"] == ["ok", ["FINISHED"]], res
    assert res["map_run"] == [1, 1000, 6], res
    # before: Run was no undo step, its wiring went into the point move's: Ctrl+Z of the move removed samatte's
    # nodes (None) and the panel's Last result
    assert res["map_undo1"] == [1, 1000, 6], res["map_undo1"]
    assert res["last_undo1"].startswith("plate: 6 frames written"), res["last_undo1"]
    # Check mattes re-mapped the matte node to the Offset (scene frame 0 shows file 1001); before, Ctrl+Z of the
    # next edit took that back with it while the Offset stayed: [1, 1000, 6], the matte of file 1003 over the
    # plate of file 1004 on scene frame 3
    assert res["map_status"] == [0, 1000, 7], res             # files 1001-1007 from scene frame 0
    assert res["offset_undo2"] == 1 and res["map_undo2"] == [0, 1000, 7], res
    alpha = _rgba(res["render_undo2"])[..., 3]
    shown = _rgba(res["pattern"].replace("####", "1004"))[..., 3]      # plate file 1004 on scene frame 3
    other = _rgba(res["pattern"].replace("####", "1003"))[..., 3]
    assert float(np.abs(shown - other).max()) > 0.5                    # the ball moves between the two
    assert float(np.abs(alpha - shown).max()) == 0.0, float(np.abs(alpha - other).max())
