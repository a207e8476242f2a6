"""QA159 (a Blender user's day 13): Tracker **SAM 2** (or Matte **SAM 2 matte**) picked in the samatte panel on a
machine without the weights. The Run failed with samatte's own advice, a shell user's: ``[WEIGHTS_MISSING] SAM2
weights sam2.1_hiera_tiny.pt not found (...). Install them with:  python -m samatte.models download
sam2.1_hiera_tiny (or set SAMATTE_MODELS to a folder ...)`` (``python``: which one, from Blender? SAMATTE_MODELS: no
setting Blender shows; the matte head's: ``give matte.options.checkpoint``, which the panel has not). Now the report
and Last result add what to do in Blender: the command with the samatte Python the add-on runs, the add-on's Models
folder preference (it sets SAMATTE_MODELS), and the weights-free backends.

bpy-free tests of ``jobs.host_hint``, and in real bpy 5.0.1 / 4.2.23 (skips without its ``.venv-bpyXX``, and where
the weights are installed).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa159_weights_hint_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, load_clip, run_step_in_blender, step_scenario  # noqa: E402


def step_sam2_without_weights(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    s = sc.samatte
    s.clip = clip
    s.mask = box_mask(addon, "Roto", "hero", [tuple(p) for p in cfg["polygon"]], tuple(clip.size))
    s.quality = "draft"
    s.output_dir = cfg["out"]
    for key, tracker, matte in (("tracker", "sam2", "refine"), ("matte", "flow", "sam2matte")):
        s.tracker, s.matte = tracker, matte
        try:
            res[key + "_op"] = sorted(bpy.ops.samatte.run())
        except RuntimeError as e:   # bpy raises a CANCELLED operator's ERROR report
            res[key + "_op"] = ["raised", str(e)]
        res[key] = s.last_result
    res["python"] = addon.ops.settings_from(bpy.context).python


STEPS = {"sam2": step_sam2_without_weights}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import types  # noqa: E402

import pytest  # noqa: E402

from addon_plain import plain  # noqa: E402


def _error(message, **details):
    return types.SimpleNamespace(code="WEIGHTS_MISSING", message=message, details=details)


def test_the_hint_names_the_samatte_python_the_models_folder_and_the_weights_free_backends():
    jobs = plain("jobs")
    e = _error("SAM2 weights sam2.1_hiera_tiny.pt not found (...)", model="sam2.1_hiera_tiny",
               file="sam2.1_hiera_tiny.pt", command="python -m samatte.models download sam2.1_hiera_tiny")
    hint = jobs.host_hint(e, "/opt/samatte/.venv/bin/python")
    assert hint.startswith("; in Blender: "), hint
    assert "/opt/samatte/.venv/bin/python -m samatte.models download sam2.1_hiera_tiny" in hint, hint
    assert "Models folder in the add-on's preferences" in hint and "holds sam2.1_hiera_tiny.pt" in hint, hint
    assert "Tracker Flow, Matte Refine" in hint, hint
    # without the Python (Check mattes' call) the command is left out, not given with a bare 'python'
    assert "download" not in jobs.host_hint(e), jobs.host_hint(e)


def test_the_matte_heads_hint_names_its_file():
    hint = plain("jobs").host_hint(_error("SAM2-Matte weights not found: ...", model="sam2matte"), "/x/python")
    assert "holds sam2matte.pt" in hint and "download" not in hint, hint


def test_other_errors_get_no_such_hint():
    jobs = plain("jobs")
    assert jobs.host_hint(types.SimpleNamespace(code="PLATE_INVALID", message="x", details={}), "/x/python") == ""


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa159_weights")), frames=2, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_in_blender_a_run_without_the_weights_says_what_to_do_there(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "sam2")
    if not res["tracker"].startswith("[WEIGHTS_MISSING]"):
        pytest.skip("SAM 2's weights are installed here: %s" % res["tracker"][:200])
    assert res["tracker_op"][0] == "raised" and "[WEIGHTS_MISSING]" in res["tracker_op"][1], res
    # before: samatte's advice alone ('python -m samatte.models download ...', 'set SAMATTE_MODELS')
    assert "; in Blender: download them with %s -m samatte.models download sam2.1_hiera_tiny" % res["python"] \
        in res["tracker"], res["tracker"]
    assert "Models folder in the add-on's preferences" in res["tracker"], res["tracker"]
    if res["matte"].startswith("[WEIGHTS_MISSING]"):
        assert "holds sam2matte.pt" in res["matte"], res["matte"]
        assert "Tracker Flow, Matte Refine" in res["matte"], res["matte"]
