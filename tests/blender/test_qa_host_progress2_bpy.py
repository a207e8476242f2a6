"""A cancelled first Run in real bpy 5.0.1 and 4.2.23: the compositor shows the mattes of the frames it
finished (before: finish_run wired samatte's nodes only after a success; a cancelled first Run left the
compositor without them, no matte at all, although those frames were complete and current on disk). The
frames it did not finish are gated to 0, as a Frame range run's others. A test skips when its
``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_host_progress2_bpy.py CONFIG.json``.
"""
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender, step_scenario,  # noqa: E402
                        box_mask, clip_on_scene_frames)


# --- the bpy side ----------------------------------------------------------------------------------

def step_cancel(cfg, res):
    import time
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc, clip, info, n = clip_on_scene_frames(cfg, addon, 11)   # scene frames 11..16 show the files 1001..1006
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    s = sc.samatte
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    xs = [p[0] for p in cfg["polygon"]]
    ys = [p[1] for p in cfg["polygon"]]
    s.mask = box_mask(addon, "Roto", "hero", [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)),
                                               (min(xs), max(ys))], info.size)
    sc.frame_set(11)
    run = addon.ops.start_run(bpy.context)
    t0 = time.monotonic()
    while not run.done and run.written < 2:
        run.poll()
        time.sleep(0.02)
        assert time.monotonic() - t0 < 300
    run.cancel()
    run.wait(timeout=300)
    res["cancelled"], res["written"] = run.cancelled, run.written
    res["last"] = addon.ops.finish_run(bpy.context, run)
    res["mattes"] = sorted(f for f in os.listdir(os.path.dirname(run.job["output"]["path"])) if f.endswith(".exr"))
    tree = addon.compositor.existing_tree(sc)
    res["matte_node"] = tree is not None and tree.nodes.get(addon.compositor.NODE_MATTE) is not None
    pattern = run.job["output"]["path"]
    made = [f for f in range(1001, 1001 + n) if os.path.exists(addon.convert.sequence_path(pattern, f))]
    res["renders"] = {}
    for kind, f in (("finished", made[0]), ("unfinished", min(set(range(1001, 1001 + n)) - set(made)))):
        sc.frame_set(info.scene_frame(f))
        res["renders"][kind] = render_compositor(sc, os.path.join(cfg["out"], "r_%d.exr" % f))


STEPS = {"cancel": step_cancel}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("progress2_bpy")), frames=6, size=(64, 64))


def _alpha(path):
    import OpenImageIO as oiio
    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., 3]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_cancelled_first_run_shows_the_frames_it_finished(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "cancel")
    assert res["cancelled"] and 2 <= res["written"] < 6, res
    assert res["last"][0] == "WARNING" and "frames it finished are kept" in res["last"][1], res["last"]
    assert len(res["mattes"]) == res["written"], res["mattes"]
    assert res["matte_node"], res        # before: no samatte node in the compositor
    # a frame it finished shows its matte; one it never made shows alpha 0 (never another frame's matte)
    assert float(_alpha(res["renders"]["finished"]).max()) > 0.5, res["renders"]
    assert float(_alpha(res["renders"]["unfinished"]).max()) == 0.0, res["renders"]
