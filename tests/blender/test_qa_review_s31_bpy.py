"""Review s31, real bpy (5.0.1 and 4.2.23; a test skips when its ``.venv-bpyXX`` is absent): two scenes of one
clip, one whose panel names the Mask and one whose panel names none (it takes the Clip Editor's), made the same
mattes but were refused depending on which scene ran second: 'mask 'Roto' here, None there' (OUTPUT_INVALID).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_review_s31_bpy.py CONFIG.json``."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario, op_result as _op, box_mask as _box_mask, scene_for as _scene_for  # noqa: E402


def step_named_here_none_there(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    a = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    roto = _box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    sa = _scene_for(a, clip, roto, cfg["out"])
    _op(res, "run_a", bpy.ops.samatte.run)
    sa.mask = None          # scene A now takes the Clip Editor's Mask (no editor here: the one B's job reads)
    b = bpy.data.scenes.new("Shot B")
    bpy.context.window.scene = b
    sb = _scene_for(b, clip, roto, cfg["out"])     # B names it
    _op(res, "run_b", bpy.ops.samatte.run)
    res["last_b"] = sb.last_result


STEPS = {"named_here_none_there": step_named_here_none_there}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("s31_shot")), frames=3, size=(64, 64), first=1001)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_scene_naming_the_mask_the_other_takes_from_the_editor_is_not_refused(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "named_here_none_there")
    assert res.get("ok"), res
    assert res["run_a"] == ["ok", ["FINISHED"]], res["run_a"]
    # before: ['raised', ..., "[OUTPUT_INVALID] scene 'Shot B' would overwrite ... (mask 'Roto' here, None there)"]
    assert res["run_b"] == ["ok", ["FINISHED"]], res["run_b"]
    assert "0 frames written, 3 reused" in res["last_b"], res["last_b"]
