"""QA review of 4abc345..83653f6 (Blender day 7), in real bpy 5.0.1 and 4.2.23 (a test skips when its
``.venv-bpyXX`` is absent).

* Day 7 kept the artist's nodes between samatte's gated matte and Set Alpha, and between Set Alpha and the
  output, but a node the artist put on the matte itself (dropped on the link ``samatte matte`` ->
  ``samatte gated Alpha``, as Blender inserts a node dragged onto a link) was bypassed again by every Run and
  every Check mattes (``_gated_outputs`` re-linked the matte's output to the gated node directly): the render's
  alpha went back from 0.5 x matte to the matte, nothing said.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_review_s33_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, box_mask, bpy_main, enable_addon, op_result, render_compositor,  # noqa: E402
                        run_step_in_blender, scene_for, step_scenario)


# --- the bpy side ----------------------------------------------------------------------------------

def _links(tree):
    return sorted("%s:%s -> %s:%s" % (lk.from_node.name, lk.from_socket.name, lk.to_node.name, lk.to_socket.name)
                  for lk in tree.links if not lk.from_node.name.startswith(("samatte gate ", "samatte frame")))


def step_on_matte(cfg, res):
    """Run; the artist's Math (x 0.5) dropped on the link matte -> gated Alpha; Check mattes; Run again. The
    links and a render of scene frame 3 after each."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = scene_for(sc, clip, mask, cfg["out"])
    s.tracks = "NONE"
    C = addon.compositor
    sc.frame_set(3)
    op_result(res, "run1", bpy.ops.samatte.run)
    res["pattern"] = C.shown_pattern(sc, clip)
    tree = C.existing_tree(sc)
    gated = tree.nodes[C.gated_node_name("Alpha")]
    src = gated.inputs[0].links[0].from_socket
    half = tree.nodes.new("CompositorNodeMath" if C.legacy_tree() else "ShaderNodeMath")
    half.name = "artist half"
    half.operation = "MULTIPLY"
    half.inputs[1].default_value = 0.5
    tree.links.new(src, half.inputs[0])
    tree.links.new(half.outputs[0], gated.inputs[0])
    res["links_artist"] = _links(tree)
    res["render_artist"] = render_compositor(sc, os.path.join(cfg["out"], "r_artist.exr"))
    op_result(res, "status", bpy.ops.samatte.status)
    res["links_status"] = _links(tree)
    op_result(res, "run2", bpy.ops.samatte.run)
    res["links_run2"] = _links(tree)
    res["render_run2"] = render_compositor(sc, os.path.join(cfg["out"], "r_run2.exr"))


STEPS = {"on_matte": step_on_matte}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("s33_bpy")), frames=6, size=(64, 64))


def _alpha(path):
    import OpenImageIO as oiio
    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., 3]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_node_on_the_matte_before_its_gate_is_kept_by_check_mattes_and_a_rerun(v, tmp_path, shot):
    import numpy as np
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "on_matte")
    assert res["run1"] == res["run2"] == res["status"][:1] + [["FINISHED"]], res
    matte = _alpha(res["pattern"].replace("####", "1003"))
    assert matte.max() > 0.9
    ra, r2 = _alpha(res["render_artist"]), _alpha(res["render_run2"])
    assert float(np.abs(ra - 0.5 * matte).max()) < 1e-6          # the artist's comp: half the matte
    assert "artist half:Value -> samatte gated Alpha:Value" in res["links_artist"], res["links_artist"]
    # before: Check mattes and the Run linked samatte matte -> gated Alpha again, the Math left dangling
    assert res["links_status"] == res["links_artist"], res["links_status"]
    assert res["links_run2"] == res["links_artist"], res["links_run2"]
    assert float(np.abs(r2 - ra).max()) == 0.0, float(np.abs(r2 - matte).max())
