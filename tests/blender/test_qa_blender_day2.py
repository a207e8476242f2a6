"""QA: a second afternoon of a compositing artist in real bpy 5.0.1 and 4.2.23, the add-on driven only through
its operators (``bpy.ops.samatte.*``), its panel properties and preferences. A test skips when its
``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day2.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender, step_scenario, op_result as _op  # noqa: E402


def _setup(cfg, addon, plate=None):
    import bpy
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(plate or cfg["plate"])
    sc.active_clip = clip
    n = clip.frame_duration
    sc.frame_start, sc.frame_end = 1, n
    sc.render.resolution_x, sc.render.resolution_y = clip.size
    sc.render.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    layer = mask.layers.new(name="hero")
    sp = layer.splines.new()
    sp.use_cyclic = True
    poly = cfg["polygon"]
    sp.points.add(len(poly) - 1)
    for f in (1, n):
        for j, (x, y) in enumerate(poly):
            pt = sp.points[j]
            pt.handle_left_type = pt.handle_right_type = "FREE"
            pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask((x, y), info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (j, attr), frame=f)
    mask.update_tag()
    s = sc.samatte
    s.mask = mask
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    return clip, mask, info


def _png_plate(shot, folder):
    """The shot's EXR frames as 8-bit PNGs (display-referred sRGB, as a client's plate) in ``folder``; the
    first file's path."""
    import glob
    import OpenImageIO as oiio
    os.makedirs(folder, exist_ok=True)
    for f in sorted(glob.glob(shot["plate"].replace("####", "*"))):
        oiio.ImageBuf(f).write(os.path.join(folder, os.path.basename(f)[:-4] + ".png"), "uint8")
    return os.path.join(folder, os.path.basename(shot["plate"]).replace("####", "%04d" % shot["frames"][0])[:-4]
                        + ".png")


def step_save_as(cfg, res):
    """A PNG clip run with a relative Output in project A, saved; saved as project B (another folder) and
    reopened; project A copied whole to C and reopened."""
    import shutil
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    clip, _mask, _info = _setup(cfg, addon)
    res["clip"] = [clip.colorspace_settings.name, list(clip.size)]
    a, b, c = (os.path.join(cfg["out"], p) for p in ("projA", "projB", "projC"))
    os.makedirs(a)
    os.makedirs(b)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(a, "shot.blend"))
    s = bpy.context.scene.samatte
    s.output_dir = "//samatte/"
    _op(res, "run", bpy.ops.samatte.run)
    res["run_last"] = s.last_result
    _op(res, "status_a", bpy.ops.samatte.status)
    res["status_a"] = s.status_result
    bpy.ops.wm.save_mainfile()
    shutil.copytree(a, c)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(b, "shot.blend"))
    for name, folder in (("b", b), ("c", c)):
        bpy.ops.wm.open_mainfile(filepath=os.path.join(folder, "shot.blend"))
        sc = bpy.context.scene
        _op(res, "status_op_" + name, bpy.ops.samatte.status)
        res["status_" + name] = sc.samatte.status_result
        sc.frame_set(3)
        res["render_" + name] = render_compositor(sc, os.path.join(cfg["out"], "render_%s.exr" % name))


def step_masks(cfg, res):
    """Two masks in the file, none picked in the panel (and no Clip Editor): Find objects and Run."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    _clip, _mask, _info = _setup(cfg, addon)
    bpy.data.masks.new("Garbage")
    s = bpy.context.scene.samatte
    s.mask = None
    _op(res, "scan", bpy.ops.samatte.scan)
    res["scan"] = s.scan_result
    _op(res, "run", bpy.ops.samatte.run)


def step_pythons(cfg, res):
    """The preferences' samatte Python: missing, a folder, a program that fails silently, one that worked and
    went away (a venv moved): what Check samatte, Run and Check mattes report."""
    import bpy
    addon = enable_addon(cfg)
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.device = "cpu"
    _setup(cfg, addon)
    # the venv under another name (a link to its folder: a link to its python alone is not that venv, whose
    # packages Python finds by the pyvenv.cfg beside the path it was started by; Check samatte says so)
    venv = os.path.join(cfg["out"], "py")
    os.symlink(os.path.dirname(os.path.dirname(cfg["python"])), venv)
    gone = os.path.join(venv, "bin", os.path.basename(cfg["python"]))
    prefs.python = gone
    _op(res, "gone_ok", bpy.ops.samatte.check)
    addon.jobs.release_worker()
    os.remove(venv)
    for name, py in (("missing", "/nonexistent/bin/python"), ("folder", cfg["out"]), ("false", "/bin/false"),
                     ("gone", gone)):
        prefs.python = py
        for op in ("check", "run", "status", "farm_export"):
            _op(res, "%s_%s" % (name, op), getattr(bpy.ops.samatte, op))
    prefs.python = cfg["python"]


def step_held(cfg, res):
    """What held: Matte this frame off the clip, a named tracking object with muted markers, a proxy with a
    timecode, the frame rate and Time Stretching changed after a run, an Output that is a file."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip, _mask, _info = _setup(cfg, addon)
    s = sc.samatte
    clip.use_proxy = True
    clip.proxy.build_25 = True
    clip.proxy.timecode = "RECORD_RUN"
    ob = clip.tracking.objects.new("Car")
    tr = ob.tracks.new(name="hero wheel", frame=1)
    for f in range(1, 7):
        tr.markers.insert_frame(f, co=(0.5, 0.5)).mute = f in (3, 4)
    s.tracks, s.tracks_object = "OBJECT", "Car"
    _op(res, "scan", bpy.ops.samatte.scan)
    res["scan"] = s.scan_result
    sc.frame_set(20)
    _op(res, "this_frame", bpy.ops.samatte.run, this_frame=True)
    sc.frame_set(1)
    afile = os.path.join(cfg["out"], "afile")
    with open(afile, "w") as f:
        f.write("not samatte's")
    s.output_dir = afile
    _op(res, "file_run", bpy.ops.samatte.run)
    s.output_dir = cfg["out"]
    _op(res, "run", bpy.ops.samatte.run)
    res["run_last"] = s.last_result
    sc.render.fps = 30
    _op(res, "status_fps", bpy.ops.samatte.status)
    res["status_fps"] = s.status_result
    sc.render.fps = 24
    sc.render.frame_map_old, sc.render.frame_map_new = 100, 200
    _op(res, "status_stretch", bpy.ops.samatte.status)
    res["status_stretch"] = s.status_result


STEPS = {"save_as": step_save_as, "masks": step_masks, "pythons": step_pythons, "held": step_held}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day2_shot")), frames=6, size=(64, 64), first=1001)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_check_mattes_after_save_as_elsewhere_says_where_the_compositor_reads(v, tmp_path, shot):
    """A PNG clip run with Output ``//samatte/`` in project A, then File > Save As into B: Blender re-points the
    matte node at A's files (``//../projA/...``: the render still shows them), but Output resolves beside the
    new .blend, so Check mattes said ``0 of 6 frames current ... not made 1-6`` with nothing saying the
    compositor's mattes were A's. It now says where the compositor reads them from. A project copied whole
    (C) finds its own mattes: all current, no such line; both renders' alpha equal the mattes exactly."""
    import numpy as np
    import OpenImageIO as oiio
    png = _png_plate(shot, str(tmp_path / "png"))
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "save_as", plate=png)
    assert res["clip"] == ["sRGB", [64, 64]]
    assert "6 frames written" in res["run_last"], res["run_last"]
    assert res["status_a"] == "mattes: all 6 frames current"
    a = os.path.join(cfg["out"], "projA", "samatte", "plate")
    b = os.path.join(cfg["out"], "projB", "samatte", "plate")
    assert res["status_b"].startswith("mattes: 0 of 6 frames current"), res["status_b"]
    assert "the compositor shows this clip's mattes from %s, not from Output (%s)" % (a, b) in res["status_b"], \
        res["status_b"]                                                     # before: absent
    assert res["status_c"] == "mattes: all 6 frames current", res["status_c"]
    for name, folder in (("b", "projA"), ("c", "projC")):
        alpha = oiio.ImageBuf(res["render_" + name]).get_pixels(oiio.FLOAT)[..., 3]
        m = oiio.ImageBuf(os.path.join(cfg["out"], folder, "samatte", "plate", "plate_matte.1003.exr"))
        want = m.get_pixels(oiio.FLOAT)[..., 3]
        assert want.max() > 0.9 and float(np.abs(alpha - want).max()) == 0.0, name


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_no_mask_picked_says_so_and_names_the_files_masks(v, tmp_path, shot):
    """Two masks in the file, none picked in the panel: Find objects and Run said ``no prompts: draw a closed
    mask shape or select tracks`` to an artist whose roto is drawn. They now say no Mask is picked and name
    the file's masks."""
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "masks")
    note = "no Mask picked in the samatte panel: the file has 2 ('Garbage', 'Roto')"
    assert res["scan"].startswith("[PROMPT_INVALID] no prompts") and note in res["scan"], res["scan"]
    assert res["run"][0] == "raised" and "PROMPT_INVALID" in res["run"][2] and note in res["run"][2], res["run"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_broken_samatte_python_gets_a_clear_report(v, tmp_path, shot):
    """A samatte Python that fails silently (``/bin/false``, a broken wrapper) was reported as ``import samatte
    failed: )``: the reason empty. It now gives the exit status. Missing, a folder, or gone since it worked:
    WORKER_FAILED naming the path, from every operator, no traceback."""
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "pythons")
    assert res["gone_ok"] == ["ok", ["FINISHED"]]
    for name in ("missing", "folder", "false", "gone"):
        for op in ("check", "run", "status", "farm_export"):
            got = res["%s_%s" % (name, op)]
            assert got[0] == "raised" and "[WORKER_FAILED]" in got[2] and "Traceback" not in got[2], (name, op, got)
    assert "/nonexistent/bin/python does not exist" in res["missing_run"][2]
    assert "is a folder" in res["folder_run"][2]
    assert "failed: )" not in res["false_run"][2] and "exit status 1" in res["false_run"][2], res["false_run"]
    assert os.path.join(cfg["out"], "py") in res["gone_run"][2]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_what_held_on_day_two(v, tmp_path, shot):
    """Held (no fix): Matte this frame on scene frame 20 of a 6-frame clip names the job's frames; a named
    tracking object's track with two muted markers is read on its 4 live frames (noted); a proxy with a
    timecode changes nothing; an Output that is a file is OUTPUT_INVALID before any frame; after a run the
    frame rate changes nothing, Time Stretching 100 -> 200 makes every matte stale (the roto moves in time)."""
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "held")
    assert "hero -> hero: bezier/points on 1, 2, 5, 6" in res["scan"], res["scan"]
    assert "track 'hero wheel': 2 disabled or off-frame marker(s) dropped" in res["scan"]
    assert "[FRAME_RANGE_INVALID] Matte this frame: scene frame 20" in res["this_frame"][2]
    assert "(scene frames 1-6)" in res["this_frame"][2]
    assert "[OUTPUT_INVALID]" in res["file_run"][2] and open(os.path.join(cfg["out"], "afile")).read() == \
        "not samatte's"
    assert "6 frames written" in res["run_last"]
    assert res["status_fps"] == "mattes: all 6 frames current"
    assert res["status_stretch"].startswith("mattes: 0 of 6 frames current"), res["status_stretch"]
