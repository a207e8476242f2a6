"""QA regressions (third pass) of the Blender add-on: geometry and frame mapping between a Movie Clip,
its tracks / masks and the job, in real Blender (PyPI's bpy 5.0.1 and 4.2.23) like
test_qa_blender2.py: a test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender3.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender,  # noqa: E402
                        step_scenario)

HERE = os.path.dirname(os.path.abspath(__file__))


# --- the bpy side ----------------------------------------------------------------------------------

def _probe_origin(addon, clip, tracking_object, track_name):
    """Blender's own position of a track in mask space: the ``parent_orig`` it stores when a mask point
    is parented to the track (``BKE_mask_coord_from_movieclip`` of the track's position)."""
    import bpy
    mask = bpy.data.masks.new("probe")
    sp = mask.layers.new(name="probe").splines.new()
    p = sp.points[0]
    p.parent.id_type = "MOVIECLIP"
    p.parent.id = clip
    p.parent.type = "POINT_TRACK"
    p.parent.parent = tracking_object
    p.parent.sub_parent = track_name
    orig = list(addon.gather.parent_origin(p.parent))
    bpy.data.masks.remove(mask)
    return orig


def step_tracks(cfg, res):
    """A camera track with an ``offset`` and a track of a second tracking object, on a clip whose
    pixel aspect is ``cfg["pixel_aspect"]``: the job's points, and Blender's own mask-space position of
    each track (a probe point parented to it)."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.tracking.camera.pixel_aspect = cfg["pixel_aspect"]
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    size = tuple(clip.size)
    cam = clip.tracking.objects[0]
    eye = cam.tracks.new(name="hero eye", frame=1)
    for cf, co in cfg["eye"].items():
        eye.markers.insert_frame(int(cf), co=co)
    eye.offset = cfg["offset"]
    eye.select = True
    obj = clip.tracking.objects.new("obj")
    chin = obj.tracks.new(name="hero chin", frame=1)
    chin.markers.insert_frame(4, co=cfg["chin"])
    chin.select = True
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for p, xy in zip(sp.points, cfg["polygon"]):
        p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, size, pixel_aspect=cfg["pixel_aspect"])
    s = sc.samatte
    s.mask, s.tracks = mask, "SELECTED"
    sc.frame_set(4)
    _clip, _info, objects, frames, notes = addon.ops.collect(bpy.context)
    res.update(objects=objects, frames=frames, notes=notes, size=list(size))
    sc.frame_set(4)
    res["blender_mask_pos"] = {"eye": _probe_origin(addon, clip, cam.name, "hero eye"),
                               "chin": _probe_origin(addon, clip, "obj", "hero chin")}


def step_offset_roto(cfg, res):
    """A 1001-1006 sequence as a clip with frame_start 3 and frame_offset 1 (scene frames 3-8 show files
    1002-1007; 1007 does not exist; scene frame 2, before the Start Frame, shows 1001), a scene range 1-20 with frame step 2, a roto keyed on scene
    frames 4 and 8 (its last frame): a whole run, then the compositor at 50 % on scene frame 7."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.frame_start, clip.frame_offset = 3, 1
    sc.active_clip = clip
    sc.frame_start, sc.frame_end, sc.frame_step = 1, 20, 2
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for f, dx in ((4, 0.0), (8, 3.0)):
        for i, (p, xy) in enumerate(zip(sp.points, cfg["polygon"])):
            p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask((xy[0] + dx, xy[1]), info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (i, attr), frame=f)
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    s.tracker, s.matte, s.quality = "flow", "none", "draft"
    s.output_dir = os.path.join(cfg["out"], "mattes") + os.sep
    sc.frame_set(5)
    res["duration"] = clip.frame_duration
    run, report = addon.ops.run_blocking(bpy.context)
    res["report"] = list(report)
    res["frames"] = run.job["plate"]["frames"] if run.job else None
    res["prompt_frames"] = sorted({p["frame"] for ob in run.job["objects"] for p in ob["prompts"]})
    res["output"] = (run.result or {}).get("output")
    r = sc.render
    r.resolution_x, r.resolution_y = info.size
    r.resolution_percentage = 50
    sc.frame_set(7)
    res["render_file"] = info.file(7)
    res["render"] = render_compositor(sc, os.path.join(cfg["out"], "render_7.exr"))


STEPS = {"tracks": step_tracks, "offset_roto": step_offset_roto}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot3")), frames=6, size=(128, 72))


def run_in_blender(*args, **extra):   # (v, tmp_path, shot, step, **extra) -> (result, cfg)
    return run_step_in_blender(__file__, *args, **extra)


def _points(objects, frame):
    [ob] = objects
    return sorted([tuple(pt), lab] for p in ob["prompts"] if p["type"] == "points" and p["frame"] == frame
                  for pt, lab in zip(p["points"], p["labels"]))


@pytest.mark.parametrize("pixel_aspect", [1.0, 2.0])
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_track_offset_and_object_tracks_give_blenders_track_position(v, pixel_aspect, tmp_path, shot):
    """A track's position is ``marker.co + track.offset`` in Blender (what the Clip Editor draws as the
    track's point, what camera solving, the Keying Screen node and mask parenting use, off-frame test
    included). The job took ``marker.co`` alone: a track with an offset prompted the point it was
    tracking, not the point the user set. A track of a second tracking object counts as the camera's.
    Blender's own mask-space position of each track (the ``parent_orig`` it stores when a point is
    parented to it) is where convert puts the prompt, pixel aspect 1 and 2 (BKE_mask_coord_from_movieclip)."""
    from addon_plain import plain
    convert = plain("convert")
    offset = (6.0 / 128, -3.0 / 72)
    eye = {1: (0.30, 0.60), 2: (0.97, 0.60), 4: (0.40, 0.55)}    # clip frame 2: co inside, co + offset outside
    chin = (0.45, 0.35)
    res, _ = run_in_blender(v, tmp_path, shot, "tracks", pixel_aspect=pixel_aspect, offset=offset,
                            eye={str(k): c for k, c in eye.items()}, chin=chin)
    size = res["size"]
    eye4 = (eye[4][0] + offset[0], eye[4][1] + offset[1])
    want = sorted([[tuple(convert.marker_to_px(eye4, size)), 1], [tuple(convert.marker_to_px(chin, size)), 1]])
    got = _points(res["objects"], 1004)
    assert len(got) == 2 and all(g[1] == 1 for g in got)
    assert [g[0] for g in got] == [pytest.approx(w[0], abs=1e-3) for w in want], (got, want)
    assert _points(res["objects"], 1002) == [], "a marker whose position (co + offset) is off the frame is dropped"
    for name, co in (("eye", eye4), ("chin", chin)):
        mine = convert.px_to_mask(convert.marker_to_px(co, size), size, pixel_aspect=pixel_aspect)
        assert res["blender_mask_pos"][name] == pytest.approx(list(mine), abs=1e-5), name


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_clip_offset_roto_keyed_past_the_last_file_and_compositor_at_50_percent(v, tmp_path, shot):
    """With clip.frame_offset 1 the clip's last scene frame shows a file past the sequence's end. A roto
    keyed there gave a prompt on that file (1007), which is not in the job's frames: the whole run
    failed with PROMPT_INVALID. Prompts are read only on scene frames whose plate file exists.
    Then Blender's compositor (render at 50 %, frame step 2, scene range 1-20) shows on scene frame 7
    the plate of file 1006 times the matte of file 1006, pixel for pixel (both centred in the smaller
    frame by Blender)."""
    import numpy as np
    import OpenImageIO as oiio
    res, _ = run_in_blender(v, tmp_path, shot, "offset_roto")
    assert res["report"][0] == "INFO", res["report"]
    # Blender also shows file 1001 on scene frame 2, before the Start Frame (Offset 1): the job covers it
    # (tests/test_qa_blender_job_frames.py)
    assert res["frames"] == "1001-1006" and res["prompt_frames"] == [1003]
    assert res["render_file"] == 1006
    mb = oiio.ImageBuf(res["output"].replace("####", "1006"))
    matte = mb.get_pixels(oiio.FLOAT)[..., mb.spec().channelindex("A")]
    plate = oiio.ImageBuf(shot["plate"].replace("####", "1006")).get_pixels(oiio.FLOAT)[..., :3]
    got = oiio.ImageBuf(res["render"]).get_pixels(oiio.FLOAT)
    h, w = matte.shape
    assert got.shape[:2] == (h // 2, w // 2)
    y0, x0 = h // 4, w // 4                # Blender centres the clip and the matte in the 50 % frame
    crop = (slice(y0, y0 + h // 2), slice(x0, x0 + w // 2))
    assert matte[crop].max() > 0.5
    assert float(np.abs(got[..., 3] - matte[crop]).max()) == 0.0
    assert float(np.abs(got[..., :3] - plate[crop] * matte[crop][..., None]).max()) < 1e-3
