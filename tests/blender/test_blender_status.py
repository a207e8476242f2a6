"""Check mattes (``samatte.status``) in real bpy 5.0.1 and 4.2.23: after a run every frame is current; a roto
point moved on the last keyframe, a plate file replaced, or the quality changed make exactly the frames
samatte would remake stale, in scene frames; a run brings them back. Nuke refuses a stale frame when it
renders; a Blender compositor shows whatever file is on disk, so this is how an artist finds out.
A test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_blender_status.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402


# --- the bpy side ----------------------------------------------------------------------------------

def step_status(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    n = clip.frame_duration
    sc.frame_start, sc.frame_end = 1, n
    clip.frame_start = 11           # scene frames 11.. show the files 1001..: the panel speaks scene frames
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    name = "hero"
    sp = mask.layers.new(name=name).splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)

    def key(frame, dx):
        for j, xy in enumerate(cfg["polygon"]):
            pt = sp.points[j]
            pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask((xy[0] + dx, xy[1]), info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=frame)
        mask.update_tag()
    key(11, 0)
    key(10 + n, 0)
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))

    def check(label):
        assert bpy.ops.samatte.status() in ({"FINISHED"}, {"CANCELLED"})
        res.setdefault("checks", []).append([label, s.status_result])

    def run(label):
        r = addon.ops.start_run(bpy.context)
        r.wait(timeout=300)
        addon.ops.finish_run(bpy.context, r)
        res.setdefault("runs", []).append([label, s.last_result, s.status_result])

    check("before any run")
    run("first")
    check("after the run")
    key(10 + n, 3)                    # the artist moves the shape on the last keyframe
    check("after an edit")
    run("after the edit")
    check("after the second run")
    plate2 = cfg["plate"].replace("%04d" % cfg["first"], "%04d" % (cfg["first"] + 1))
    st = os.stat(plate2)
    os.utime(plate2, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10 ** 9))   # the second plate file replaced
    check("after a plate change")
    s.quality = "default"
    check("after a quality change")


STEPS = {"status": step_status}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("status")), frames=4, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_check_mattes_names_the_frames_a_run_would_remake(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "status", first=shot["frames"][0])
    checks = dict(res["checks"])
    print(res["checks"], res["runs"])
    assert checks["before any run"].splitlines() == [
        "mattes: 0 of 4 frames current; Run to update the others", "not made 11-14", "to track again: 11-14"]
    assert checks["after the run"] == "mattes: all 4 frames current"
    # the last keyframe (14) moved: the flow track of 12-14 (between the two keyframes and on it) is
    # remade, and every matte after the first, whose temporal state chains from 11
    assert checks["after an edit"].splitlines() == [
        "mattes: 1 of 4 frames current; Run to update the others",
        "out of date (plate, roto, tracks or settings changed) 12-14", "to track again: 12-14"]
    for label, _last, status in res["runs"]:
        assert status == "", label      # a run clears the check: what it said no longer holds
    assert "3 frames written, 1 reused" in res["runs"][1][1], res["runs"][1]
    assert checks["after the second run"] == "mattes: all 4 frames current"
    # the second plate file (scene frame 12) replaced: the tracks that carry the shape across it (12-13,
    # between the keyframes 11 and 14, each its own shape) and their mattes (14 is a keyframe: its matte
    # starts afresh)
    assert checks["after a plate change"].splitlines() == [
        "mattes: 2 of 4 frames current; Run to update the others",
        "out of date (plate, roto, tracks or settings changed) 12-13", "to track again: 12-13"]
    assert checks["after a quality change"].splitlines() == [
        "mattes: 0 of 4 frames current; Run to update the others",
        "out of date (plate, roto, tracks or settings changed) 11-14", "to track again: 12-13"]
