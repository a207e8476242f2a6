"""QA163 (a Blender user's day 14) in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): a
studio on ACES starts Blender with ``OCIO=ocio://studio-config-latest`` (OCIO's built-in ACES studio config, no file
to deploy), which Blender 4.2 and 5.0 load: the clip's Color Space menu lists the studio config's colourspaces, and
the camera plate is set to ``ARRI LogC4``.

Before: the add-on took ``$OCIO`` only when it named a file, so the job named Blender's bundled config and Run failed
``[COLOUR_INVALID] colourspace 'ARRI LogC4' is not in OCIO config .../datafiles/colormanagement/config.ocio`` (a name
both configs have, e.g. ``ACEScg``, was decoded by the bundled config's definition). Now the job names the config
Blender uses, ``ocio://studio-config-latest``, and the Run matte the plate.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa163_ocio_builtin_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, op_result, scene_for, step_scenario  # noqa: E402


def step_studio(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    res["ocio"] = os.environ.get("OCIO")
    res["spaces"] = [i.identifier for i in clip.colorspace_settings.bl_rna.properties["name"].enum_items]
    clip.colorspace_settings.name = "ARRI LogC4"
    s = scene_for(sc, clip, box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size)),
                  os.path.join(cfg["out"], "mattes"))
    s.tracks = "NONE"
    res["job_plate"] = addon.ops._build(bpy.context)[1]["plate"]
    op_result(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result
    op_result(res, "status", bpy.ops.samatte.status)
    res["status_text"] = s.status_result


STEPS = {"studio": step_studio}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa163_ocio")), frames=4, size=(64, 64), seed=3)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_built_in_ocio_config_from_the_environment_is_the_jobs(v, tmp_path, shot, monkeypatch):
    from bpy_common import run_step_in_blender
    monkeypatch.setenv("OCIO", "ocio://studio-config-latest")
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "studio")
    assert res["ocio"] == "ocio://studio-config-latest"
    assert "ARRI LogC4" in res["spaces"], res["spaces"][:10]        # Blender itself uses the studio config
    assert res["job_plate"]["ocio_config"] == "ocio://studio-config-latest", res["job_plate"]   # before: the bundled file
    assert res["job_plate"]["colourspace"] == "ARRI LogC4", res["job_plate"]
    # before: '[COLOUR_INVALID] colourspace 'ARRI LogC4' is not in OCIO config .../colormanagement/config.ocio'
    assert res["run"] == ["ok", ["FINISHED"]], res["run"]
    assert res["last"].startswith("plate: 4 frames written"), res["last"]
    assert res["status_text"] == "mattes: all 4 frames current", res["status_text"]
