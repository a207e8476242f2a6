"""QA163 (a Blender user's day 14) in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): two
shots in one .blend, scene ``B`` (its clip, roto and Output) run and wired; a Run started in scene ``A``, then scene
``A`` deleted while its job runs (Scene > Delete: the artist made it by mistake, or took it back with Ctrl+Z) and the
artist working in ``B`` when the job ends.

Before: ``finish_run`` wired the scene shown then, so ``B``'s compositor was re-wired to ``A``'s clip and mattes (its own
``samatte plate`` / ``samatte matte`` now showing another shot) and ``B``'s Last result overwritten with ``A``'s, "the
compositor now shows clip ... instead of ...". Now a run whose scene is gone is wired nowhere and its report says so;
``B`` is left as it was, and a Run there still wires ``B``.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa163_scene_deleted_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, op_result, scene_for, step_scenario  # noqa: E402


def _shown(addon, sc):
    tree = addon.compositor.existing_tree(sc)
    return [tree.nodes[addon.compositor.NODE_PLATE].clip.name, tree.nodes[addon.compositor.NODE_MATTE].image.filepath]


def step_deleted(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    a = bpy.context.scene
    a.name = "A"
    clip_a = bpy.data.movieclips.load(cfg["plate"])
    clip_a.name = "shotA"
    size = tuple(clip_a.size)
    sa = scene_for(a, clip_a, box_mask(addon, "RotoA", "hero", cfg["polygon"], size), os.path.join(cfg["out"], "A"))
    sa.tracks = "NONE"
    b = bpy.data.scenes.new("B")
    clip_b = bpy.data.movieclips.load(cfg["plate"])
    clip_b.name = "shotB"
    sb = scene_for(b, clip_b, box_mask(addon, "RotoB", "car", cfg["polygon"], size), os.path.join(cfg["out"], "B"))
    sb.tracks = "NONE"
    with bpy.context.temp_override(scene=b):
        op_result(res, "run_b", bpy.ops.samatte.run)
    res["b_before"] = _shown(addon, b)
    res["b_last_before"] = sb.last_result
    # A's Run, A deleted while it runs, the artist in B when it ends
    run = addon.ops.start_run(bpy.context)
    res["run_scene"] = run.scene_name
    bpy.data.scenes.remove(a)
    run.wait(timeout=120)
    with bpy.context.temp_override(scene=b):
        res["finish"] = list(addon.ops.finish_run(bpy.context, run))
    res["b_after"] = _shown(addon, b)
    res["b_last_after"] = sb.last_result
    res["a_mattes"] = sorted(n for n in os.listdir(os.path.join(cfg["out"], "A", "plate")) if n.endswith(".exr"))
    # B's own Run still wires B (its mattes reused)
    with bpy.context.temp_override(scene=b):
        op_result(res, "run_b2", bpy.ops.samatte.run)
    res["b_last2"] = sb.last_result
    res["b_after2"] = _shown(addon, b)


STEPS = {"deleted": step_deleted}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa163_scene_deleted")), frames=4, size=(64, 64), seed=3)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_run_whose_scene_was_deleted_leaves_the_shown_scene_alone(v, tmp_path, shot):
    from bpy_common import run_step_in_blender
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "deleted")
    assert res["run_b"] == ["ok", ["FINISHED"]], res["run_b"]
    b_matte = os.path.join(cfg["out"], "B", "plate", "plate_matte.1001.exr")
    assert res["b_before"] == ["shotB", b_matte], res["b_before"]
    assert res["run_scene"] == "A"
    level, msg = res["finish"]
    assert level == "WARNING", res["finish"]
    assert msg.startswith("samatte: plate: 4 frames written, 0 reused -> %s" % os.path.join(
        cfg["out"], "A", "plate", "plate_matte.####.exr")), msg
    assert "scene 'A' is gone (deleted while the job ran): not wired into a compositor" in msg, msg
    # before: ['shotA', <A's matte>], and B's Last result A's with 'the compositor now shows clip 'shotA' instead of
    # 'shotB''
    assert res["b_after"] == res["b_before"], res["b_after"]
    assert res["b_last_after"] == res["b_last_before"], res["b_last_after"]
    assert res["a_mattes"] == ["plate_matte.%d.exr" % n for n in range(1001, 1005)], res["a_mattes"]   # kept on disk
    assert res["run_b2"] == ["ok", ["FINISHED"]] and res["b_last2"].startswith("plate: 0 frames written, 4 reused"), res
    assert res["b_after2"] == res["b_before"], res["b_after2"]
