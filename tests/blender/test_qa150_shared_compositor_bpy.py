"""QA150 (a Blender user's day 12) in real bpy 5.0.1 (a test skips when its ``.venv-bpy50`` is absent; Blender 4.2's
compositor is each scene's own node tree, never shared): two shots in one .blend, scene ``A`` (clip ``plate``) run,
then scene ``B`` (clip ``other``) set to A's compositor node group (the artist reuses their comp set-up: Blender 5's
compositor is a node group any scene can pick) and run.

Before: B's Run re-wired the shared group: scene A's render showed B's plate and B's mattes (``samatte plate`` clip
``other.1001.exr``), and A's Check mattes told the artist to Run A to show its mattes again, which flipped B back.
Now B gets its own copy of the group (the artist's nodes included) before samatte wires it, the Last result says so,
A's compositor is unchanged; so does a scene of A's own shot with its own roto and Output (D). A scene sharing a group
that already shows its mattes (two scenes of one shot, one roto: C) keeps sharing it.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa150_shared_compositor_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, scene_for, step_scenario  # noqa: E402


def _shows(addon, sc):
    tree = sc.compositing_node_group
    plate = tree.nodes.get(addon.compositor.NODE_PLATE)
    return {"group": tree.name, "clip": getattr(getattr(plate, "clip", None), "name", None),
            "matte": addon.compositor.image_pattern(getattr(tree.nodes.get(addon.compositor.NODE_MATTE), "image", None))}


def step_shared(cfg, res):
    import types
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    prefs = bpy.context.preferences
    out = os.path.join(cfg["out"], "mattes")

    def setup(sc, path, mask_name):
        clip = bpy.data.movieclips.load(path)
        s = scene_for(sc, clip, box_mask(addon, mask_name, "hero", cfg["polygon"], tuple(clip.size)), out)
        s.tracks, s.tracker = "NONE", "shapes"
        return s

    def run(sc):
        ctx = types.SimpleNamespace(scene=sc, space_data=None, preferences=prefs,
                                    window_manager=bpy.context.window_manager)
        r, rep = addon.ops.run_blocking(ctx)
        return [r.written, r.skipped, list(rep)]

    a = bpy.context.scene
    a.name = "A"
    sa = setup(a, cfg["plate"], "RotoA")
    res["run_a"] = run(a)
    res["a_before"] = _shows(addon, a)
    b = bpy.data.scenes.new("B")
    setup(b, cfg["plate2"], "RotoB")
    b.compositing_node_group = a.compositing_node_group      # the artist picks A's compositor in B
    res["run_b"] = run(b)
    res["a_after"] = _shows(addon, a)
    res["b_after"] = _shows(addon, b)
    res["b_last"] = b.samatte.last_result
    res["a_status"] = addon.ops.matte_status(types.SimpleNamespace(scene=a, space_data=None, preferences=prefs))
    # a scene of A's own shot sharing A's group: the same wiring, kept shared
    c = bpy.data.scenes.new("C")
    sc_ = scene_for(c, sa.clip or a.active_clip, sa.mask, out)
    sc_.tracks, sc_.tracker = "NONE", "shapes"
    c.compositing_node_group = a.compositing_node_group
    res["run_c"] = run(c)
    res["c_after"] = _shows(addon, c)
    # a scene of A's shot with its own roto, given A's group: refused on A's Output, run on its own (as samatte asks)
    d = bpy.data.scenes.new("D")
    sd = scene_for(d, a.active_clip, box_mask(addon, "RotoD", "hero", [(x + 2, y) for x, y in cfg["polygon"]],
                                              tuple(a.active_clip.size)), out)
    sd.tracks, sd.tracker = "NONE", "shapes"
    d.compositing_node_group = a.compositing_node_group
    try:
        run(d)
        res["run_d_same_output"] = "ran"
    except Exception as e:  # noqa: BLE001 - what the artist reads
        res["run_d_same_output"] = str(e)
    sd.output_dir = os.path.join(cfg["out"], "mattes_d")
    res["run_d"] = run(d)
    res["d_after"] = _shows(addon, d)
    res["d_last"] = d.samatte.last_result
    res["a_final"] = _shows(addon, a)


STEPS = {"shared": step_shared}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    import shutil
    from samatte.demo import make_shot
    root = tmp_path_factory.mktemp("qa150_shared")
    s = make_shot(str(root / "src"), frames=4, size=(64, 64), seed=7)
    folder = os.path.dirname(s["plate"])
    other = root / "other"
    other.mkdir()
    for n in s["frames"]:
        shutil.copy(os.path.join(folder, "plate.%04d.exr" % n), str(other / ("other.%04d.exr" % n)))
    return dict(s, plate2=str(other / "other.1001.exr"))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_scene_given_another_scenes_compositor_gets_its_own_before_a_run_rewires_it(v, tmp_path, shots):
    if v == "42":
        pytest.skip("Blender 4.2's compositor is each scene's own node tree (never shared)")
    from bpy_common import run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shots, "shared", plate2=shots["plate2"])
    assert res["run_a"][0] == 4 and res["run_b"][0] == 4, res
    assert res["a_before"]["clip"] == "plate.1001.exr", res["a_before"]
    # before: A's render showed clip 'other.1001.exr' and its mattes
    assert res["a_after"] == res["a_before"], res["a_after"]
    assert res["b_after"]["clip"] == "other.1001.exr" and res["b_after"]["group"] != res["a_before"]["group"], res
    assert res["b_after"]["matte"].endswith(os.path.join("other", "other_matte.####.exr")), res["b_after"]
    assert ("scene 'B' had the compositor %r of scene 'A', which shows clip 'plate.1001.exr': it has its own copy now"
            % res["a_before"]["group"]) in res["b_last"], res["b_last"]
    assert res["a_status"] == ["mattes: all 4 frames current"], res["a_status"]     # before: '... Run to show ...'
    # the same shot's scene keeps sharing A's group (nothing to change in it)
    assert res["run_c"][:2] == [0, 4], res["run_c"]
    assert res["c_after"] == res["a_final"] == res["a_before"], res
    # the same shot with another roto: its own Output, and (before: A's group re-wired to D's mattes) its own copy
    assert "set another Output folder in the samatte panel for this scene" in res["run_d_same_output"], res
    assert res["run_d"][0] == 4 and res["d_after"]["clip"] == "plate.1001.exr", res
    assert res["d_after"]["matte"].startswith(os.path.join(_cfg["out"], "mattes_d")), res["d_after"]
    assert res["d_after"]["group"] not in (res["a_before"]["group"], res["b_after"]["group"]), res
    assert "which shows this clip's mattes from %s" % os.path.dirname(res["a_before"]["matte"]) in res["d_last"], res
