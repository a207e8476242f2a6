"""QA: an afternoon of a compositing artist in real bpy 5.0.1 and 4.2.23, the add-on driven only through its
operators (``bpy.ops.samatte.*``), its panel properties and preferences. A test skips when its
``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender, step_scenario  # noqa: E402

GARBAGE = [(40, 0), (64, 0), (64, 64), (40, 64)]


# --- the bpy side ----------------------------------------------------------------------------------

def _setup(cfg, addon, name_suffix=""):
    import bpy
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    n = clip.frame_duration
    sc.frame_start, sc.frame_end = 1, n
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto" + name_suffix)

    def layer_with(name, poly, frames, blend=None, dx=0):
        layer = mask.layers.new(name=name)
        if blend:
            layer.blend = blend
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(len(poly) - 1)
        for k, f in enumerate(frames):
            for j, (x, y) in enumerate(poly):
                pt = sp.points[j]
                pt.handle_left_type = pt.handle_right_type = "FREE"
                pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask((x + dx * k, y), info.size)
                for attr in ("co", "handle_left", "handle_right"):
                    mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=f)
        mask.update_tag()
        return layer
    layer_with("hero", cfg["polygon"], (1, n), dx=1)
    layer_with("garbage", GARBAGE, (2, n - 1), blend="MERGE_SUBTRACT")
    cx = sum(p[0] for p in cfg["polygon"]) / len(cfg["polygon"])
    cy = sum(p[1] for p in cfg["polygon"]) / len(cfg["polygon"])
    tr = clip.tracking.tracks.new(name="hero dot", frame=1)
    for cf in range(1, n + 1):
        tr.markers.insert_frame(cf, co=(cx / info.size[0], 1.0 - cy / info.size[1]))
    tr.select = True
    s = sc.samatte
    s.mask = mask
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    return clip, mask, info


def step_rename(cfg, res):
    """While a run goes the artist renames the clip (its default name is its first file's) and the scene, and
    switches to another scene; a second run's clip is deleted while it goes."""
    import time
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    ctx = bpy.context
    sc = ctx.scene
    clip, mask, info = _setup(cfg, addon)
    s = sc.samatte
    s.output_dir = cfg["out"]
    other = bpy.data.scenes.new("Other")
    run = addon.ops.start_run(ctx)
    clip.name = "hero plate"
    sc.name = "Shot 10"
    ctx.window.scene = other
    log = []
    addon.panels.draw_panel(_Layout(log), ctx)
    res["panel_other"] = log
    ctx.window.scene = sc
    log = []
    addon.panels.draw_panel(_Layout(log), ctx)
    res["panel_own"] = log
    ctx.window.scene = other
    while not run.done:
        run.poll()
        time.sleep(0.02)
    res["finish"] = addon.ops.finish_run(ctx, run)
    tree = addon.compositor.existing_tree(sc)
    res["plate_clip"] = getattr(tree.nodes["samatte plate"].clip, "name", None) if tree is not None else None
    res["other_tree"] = addon.compositor.existing_tree(other) is not None and \
        addon.compositor.NODE_PLATE in addon.compositor.existing_tree(other).nodes
    res["last"] = s.last_result
    # a clip deleted while the job runs: the mattes are kept, the report says it is not wired
    ctx.window.scene = sc
    s.quality = "default"
    run = addon.ops.start_run(ctx)
    bpy.data.movieclips.remove(clip)
    run.wait(timeout=120)
    res["gone"] = addon.ops.finish_run(ctx, run)


class _Layout:
    def __init__(self, log):
        self.log = log
        self.enabled = self.active = True

    def column(self, **kw):
        return self

    row = box = column

    def prop(self, *a, **kw):
        pass

    def operator(self, *a, **kw):
        import types
        return types.SimpleNamespace()

    def label(self, text="", **kw):
        self.log.append(text)


def step_slide(cfg, res):
    """After a run the artist slides the clip in time (its Offset), clicks Check mattes and renders."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip, mask, info = _setup(cfg, addon)
    s = sc.samatte
    s.output_dir = cfg["out"]
    res["run1"] = (sorted(bpy.ops.samatte.run()), s.last_result)
    clip.frame_offset = cfg["offset"]
    res["status"] = (sorted(bpy.ops.samatte.status()), s.status_result)
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    res["renders"] = {}
    for f in range(sc.frame_start, sc.frame_end + 1):
        sc.frame_set(f)
        res["renders"][f] = [info.file(f), render_compositor(sc, os.path.join(cfg["out"], "slide_%d.exr" % f))]
    res["output"] = addon.ops.current_run().job["output"]["path"] if addon.ops.current_run() else None


def step_second_clip(cfg, res):
    """A second clip in the same scene, run after the first: the scene's one set of samatte nodes shows it."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip_a, _mask, _info = _setup(cfg, addon)
    s = sc.samatte
    s.output_dir = cfg["out"]
    res["run_a"] = (sorted(bpy.ops.samatte.run()), s.last_result)
    res["rerun_a"] = (sorted(bpy.ops.samatte.run()), s.last_result)
    _setup(dict(cfg, plate=cfg["plate2"]), addon, ".B")
    s.clip = bpy.context.scene.active_clip
    s.output_dir = os.path.join(cfg["out"], "b")
    res["run_b"] = (sorted(bpy.ops.samatte.run()), s.last_result)
    tree = addon.compositor.existing_tree(sc)
    res["plate"] = tree.nodes[addon.compositor.NODE_PLATE].clip.name
    res["names"] = [clip_a.name, s.clip.name]


STEPS = {"rename": step_rename, "slide": step_slide, "second_clip": step_second_clip}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day_shot")), frames=6, size=(64, 64), first=1001)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_clip_and_scene_renamed_while_running(v, tmp_path, shot):
    """Renaming the clip while its job runs (its default name is its first file's: an artist names it while
    waiting) left the compositor's plate node empty (found by its old name: None), the report saying the
    mattes were wired: the render showed nothing. The scene renamed and another shown: the other was wired.
    Now both are found by their session_uid; a clip deleted meanwhile gets an ERROR that says so."""
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "rename")
    assert res["finish"][0] == "INFO", res["finish"]
    assert res["plate_clip"] == "hero plate"            # before: None
    assert res["other_tree"] is False                  # before: the shown scene was wired
    assert any("(scene 'Shot 10')" in t for t in res["panel_other"]), res["panel_other"]
    assert not any("(scene" in t for t in res["panel_own"]) and any("hero -> hero" in t for t in res["panel_own"])
    assert res["gone"][0] == "ERROR" and "is gone" in res["gone"][1], res["gone"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_check_mattes_after_offset_change_shows_each_plates_own_matte(v, tmp_path, shot):
    """After a run the clip's Offset is set to 2 (scene frame 1 shows plate 1003): the matte node kept its
    mapping, so the compositor showed the matte of file 1001 over plate 1003 (alpha off by up to 1.0 on
    every frame), Check mattes included, until the next Run. Check mattes now re-maps the node to the clip's
    timing: each plate frame shows its own file's matte (it says they are out of date: the roto did not move)."""
    import numpy as np
    import OpenImageIO as oiio
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "slide", offset=2)
    assert "6 frames written" in res["run1"][1], res["run1"]
    assert res["status"][1].startswith("mattes: 0 of 4 frames current"), res["status"]
    pattern = os.path.join(cfg["out"], "plate", "plate_matte.####.exr")
    for f, (n, path) in sorted(res["renders"].items(), key=lambda kv: int(kv[0])):
        alpha = oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., 3]
        m = pattern.replace("####", "%04d" % n)
        want = oiio.ImageBuf(m).get_pixels(oiio.FLOAT)[..., 3] if os.path.exists(m) else np.zeros_like(alpha)
        assert float(np.abs(alpha - want).max()) == 0.0, (f, n, float(np.abs(alpha - want).max()))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_second_clip_in_a_scene_says_which_clip_the_compositor_shows(v, tmp_path, shot):
    """A scene's compositor has one set of samatte nodes: a second clip's Run re-wires them to it (kept: the
    scene renders one output; re-runs find the nodes by name). Before, nothing said the first clip's mattes
    were no longer shown; the report now names both clips (not on a re-run of the same clip)."""
    from samatte.demo import make_shot
    shot_b = make_shot(str(tmp_path / "shot_b"), frames=6, size=(64, 64), first=1001, seed=3)
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "second_clip",
                                   plate2=shot_b["plate"].replace("####", "1001"))
    a, b = res["names"]
    assert "instead" not in res["run_a"][1] and "instead" not in res["rerun_a"][1], res["rerun_a"]
    assert res["plate"] == b
    assert "the compositor now shows clip %r instead of %r" % (b, a) in res["run_b"][1], res["run_b"]
