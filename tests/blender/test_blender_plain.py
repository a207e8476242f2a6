"""The add-on's conversions, prompt gathering and job building, without Blender (fast)."""
import os
import sys
import types

import pytest

from addon_plain import plain

convert = plain("convert")
gather = plain("gather")
jobs = plain("jobs")
link = plain("link")
hosterrors = plain("hosterrors")

VENV_PY = sys.executable


def ns(**kw):
    return types.SimpleNamespace(**kw)


# --- conversions ---------------------------------------------------------------------------------

def test_marker_landscape_and_origin():
    assert convert.marker_to_px((0.5, 0.5), (1920, 1080)) == (960.0, 540.0)
    assert convert.marker_to_px((0.0, 1.0), (1920, 1080)) == (0.0, 0.0)          # top-left
    assert convert.marker_to_px((0.25, 0.0), (1920, 1080)) == (480.0, 1080.0)     # bottom
    # overscan: the clip shows the data window whose corner is (-8, -4) in display pixels
    assert convert.marker_to_px((0.0, 1.0), (72, 44), (-8, -4)) == (-8.0, -4.0)
    assert convert.px_to_marker((100.0, 300.0), (1920, 1080)) == pytest.approx((100 / 1920, 1 - 300 / 1080))


def test_mask_landscape_formula():
    w, h = 1920, 1080
    for px, py in ((0, 0), (960, 540), (1919.5, 1079.5), (123.25, 777.0)):
        my = ((1 - py / h) - 0.5) * h / w + 0.5      # the measured formula (bpy 5.0.1)
        assert convert.mask_to_px((px / w, my), (w, h)) == pytest.approx((px, py))
    assert convert.mask_to_px((0.5, 0.78125), (w, h)) == pytest.approx((960, 0))


def test_mask_portrait_swaps_roles():
    w, h = 1080, 1920
    for px, py in ((0, 0), (540, 960), (1000, 17)):
        mx = (px / w - 0.5) * w / h + 0.5
        my = 1 - py / h
        assert convert.mask_to_px((mx, my), (w, h)) == pytest.approx((px, py))
    assert convert.mask_to_px((0.21875, 1.0), (w, h)) == pytest.approx((0, 0))


def test_mask_square_and_roundtrip_overscan():
    assert convert.mask_to_px((0.25, 0.75), (100, 100)) == pytest.approx((25, 25))
    for size, origin in (((72, 44), (-8, -4)), ((44, 72), (3, 5)), ((64, 64), (0, 0))):
        for p in ((0.0, 0.0), (10.5, 20.25), (50, 30)):
            m = convert.px_to_mask(p, size, origin)
            assert convert.mask_to_px(m, size, origin) == pytest.approx(p)


def test_frames_with_offsets():
    # clip starts on scene frame 10, first file 1001, frame offset 2
    kw = dict(clip_frame_start=10, first_file=1001, frame_offset=2)
    assert convert.clip_frame(10, 10) == 1
    assert convert.file_number(10, **kw) == 1003
    assert convert.file_number(14, **kw) == 1007
    assert convert.scene_frame_of_file(1007, **kw) == 14
    assert convert.file_number(1, clip_frame_start=1, first_file=1) == 1
    assert convert.file_number(5, clip_frame_start=3, first_file=1001, frame_offset=-1) == 1001 + 3 - 1 - 1


def test_sequence_pattern():
    assert convert.sequence_pattern("/a/b.c/plate.1001.exr") == ("/a/b.c/plate.####.exr", 1001)
    assert convert.sequence_pattern("/a/sh010_v2_00017.exr") == ("/a/sh010_v2_#####.exr", 17)
    assert convert.sequence_pattern("/a/plate.exr") == ("/a/plate.exr", None)


def test_exr_windows_from_header(tmp_path):
    oiio = pytest.importorskip("OpenImageIO")
    import numpy as np
    spec = oiio.ImageSpec(72, 44, 3, "half")
    spec.x, spec.y = -8, -4
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 64, 36
    p = str(tmp_path / "over.0001.exr")
    out = oiio.ImageOutput.create(p)
    out.open(p, spec)
    out.write_image(np.zeros((44, 72, 3), np.float32))
    out.close()
    win = convert.exr_windows(p)
    assert win["display_window"] == (0, 0, 64, 36)
    assert win["data_window"] == (-8, -4, 72, 44)
    assert win["pixel_aspect"] == 1.0
    (tmp_path / "x.exr").write_bytes(b"not an exr")
    assert convert.exr_windows(str(tmp_path / "x.exr")) is None


# --- gathering -----------------------------------------------------------------------------------

def info_landscape(**kw):
    base = dict(size=(200, 100), first_file=1001, frame_start=1, frame_offset=0, duration=10,
                pattern="/shots/plate.####.exr", name="plate")
    base.update(kw)
    return gather.ClipInfo(**base)


def spline(points_px, info, cyclic=True, fill=True):
    pts = []
    for x, y in points_px:
        co = convert.px_to_mask((x, y), info.size, info.origin)
        pts.append(ns(co=co, handle_left=co, handle_right=co))
    return ns(points=pts, use_cyclic=cyclic, use_fill=fill)


class Layers(list):
    def __getitem__(self, k):
        if isinstance(k, str):
            return next(x for x in self if x.name == k)
        return list.__getitem__(self, k)


def fcurve(path, frames):
    return ns(data_path=path, keyframe_points=[ns(co=(f, 0.0)) for f in frames])


def make_mask(layers, keys):
    action = ns(fcurves=[fcurve('layers["%s"].splines[0].points[0].co' % n, fr) for n, fr in keys.items()])
    return ns(layers=Layers(layers), animation_data=ns(action=action))


SQUARE = [(50, 20), (150, 20), (150, 80), (50, 80)]
HOLE = [(90, 40), (110, 40), (110, 60), (90, 60)]


def test_mask_layers_become_objects_on_keyed_frames():
    info = info_landscape(frame_start=5, frame_offset=1)       # scene 5 -> file 1002
    hero = ns(name="hero layer", hide_render=False, blend="MERGE_ADD", use_fill_holes=True,
              splines=[spline(SQUARE, info), spline(HOLE, info)])
    garbage = ns(name="garbage", hide_render=False, blend="MERGE_SUBTRACT", use_fill_holes=False,
                 splines=[spline([(0, 0), (20, 0), (20, 20)], info)])
    hidden = ns(name="hidden", hide_render=True, blend="MERGE_ADD", splines=[])
    open_ = ns(name="MaskLayer.001", hide_render=False, blend="MERGE_ADD", use_fill_holes=False,
               splines=[spline([(10, 10), (30, 40), (60, 50)], info, cyclic=False, fill=False),
                        spline([(1, 1), (2, 2)], info)])
    mask = make_mask([hero, garbage, hidden, open_], {"hero layer": [6, 9], "garbage": [6]})
    read = []

    def read_at(f):
        read.append(f)
        return mask
    objs, sub, notes = gather.gather_mask_objects(mask, info, scene_frames=range(5, 15), read_mask_at=read_at,
                                                  current_frame=7)
    assert {6, 7, 9} <= set(read)      # the unkeyed layer is also sampled for shape keys (it never moves)
    names = [(o["name"], o["host_name"]) for o in objs]
    assert names == [("hero_layer", "hero layer"), ("MaskLayer_001", "MaskLayer.001")]
    hero_p = objs[0]["prompts"]
    # scene 6 -> file 1001 + (6-5+1) - 1 + 1 = 1003; scene 9 -> 1006
    assert sorted({p["frame"] for p in hero_p}) == [1003, 1006]
    on6 = [p for p in hero_p if p["frame"] == 1003]
    modes = sorted(p.get("mode", "add") for p in on6)
    assert modes == ["add", "subtract", "subtract"]   # the square, its hole, the garbage layer
    on9 = [p for p in hero_p if p["frame"] == 1006]
    # no garbage key on 9, but Blender draws it there (held from 6) and 9 is hero's anchor: it cuts there too
    assert sorted(p.get("mode", "add") for p in on9) == ["add", "subtract", "subtract"]
    sq = next(p for p in on6 if p.get("mode") is None)
    assert sq["type"] == "bezier"
    assert [c for q in sq["points"] for c in q[:2]] == pytest.approx([c for p in SQUARE for c in p])
    # the unkeyed layer: read on the current frame (7 -> file 1004), an open stroke
    ob = objs[1]
    assert [p["frame"] for p in ob["prompts"]] == [1004]
    assert ob["prompts"][0]["closed"] is False
    assert any("a filled spline of 2 points with straight handles" in n for n in notes)
    assert any("hidden" in n for n in notes)
    assert sub[1003][0]["mode"] == "subtract"


def test_every_frame_sends_each_frame():
    info = info_landscape()
    hero = ns(name="hero", hide_render=False, blend="MERGE_ADD", use_fill_holes=False, splines=[spline(SQUARE, info)])
    mask = make_mask([hero], {"hero": [3]})
    objs, _, _ = gather.gather_mask_objects(mask, info, scene_frames=range(2, 6), read_mask_at=lambda f: mask,
                                            current_frame=1, every_frame=True)
    assert [p["frame"] for p in objs[0]["prompts"]] == [1002, 1003, 1004, 1005]


def test_action_fcurves_layered_action():
    bag = ns(fcurves=[fcurve('layers["a"].splines[0].points[0].co', [2, 4])])
    action = ns(layers=[ns(strips=[ns(channelbags=[bag])])])       # Blender 5 layered action
    mask = ns(animation_data=ns(action=action))
    assert gather.layer_keyframes(mask, "a") == [2, 4]
    assert gather.layer_keyframes(mask, "b") == []
    assert gather.layer_keyframes(ns(animation_data=None), "a") == []


def marker(frame, x, y, mute=False):
    return ns(frame=frame, co=(x, y), mute=mute)


def test_tracks_become_points_with_owners_and_negatives():
    info = info_landscape(frame_start=3, first_file=1001, frame_offset=0)   # clip frame 1 = file 1001
    tracks = [ns(name="hero.eye", markers=[marker(1, 0.5, 0.5), marker(2, 0.25, 0.75, mute=True),
                                           marker(3, 1.5, 0.5), marker(4, 0.1, 0.9)]),
              ns(name="-hero bg", markers=[marker(1, 0.9, 0.1)]),
              ns(name="Track.002", markers=[marker(2, 0.5, 0.5)]),
              ns(name="heroic", markers=[marker(99, 0.5, 0.5)])]
    pts, notes = gather.gather_track_points(tracks, info, file_frames=range(1001, 1011),
                                            layer_names=["hero", "hero.eye.l"], default_object="tracks")
    assert pts["hero"][1001] == [[100.0, 50.0, 1], [180.0, 90.0, 0]]
    assert len(pts["hero"][1004]) == 1 and pts["hero"][1004][0] == pytest.approx([20.0, 10.0, 1])
    assert 1002 not in pts["hero"] and 1003 not in pts["hero"]     # muted, off-frame
    assert pts["tracks"][1002] == [[100.0, 50.0, 1]]
    assert "heroic" not in pts and all(f in range(1001, 1011) for f in pts.get("tracks", {}))
    assert any("2 disabled or off-frame" in n for n in notes)


def test_merge_points_and_negative_only():
    shape = {"name": "hero", "host_name": "hero", "prompts": [{"frame": 1005, "type": "bezier", "points": []}]}
    pts = {"hero": {1001: [[1, 2, 0]], 1006: [[3, 4, 1], [5, 6, 0]]}, "other": {1002: [[7, 8, 0]]},
           "tracks": {1003: [[9, 9, 1]]}}
    objs, notes = gather.merge_objects([shape], pts, default_object="tracks")
    by = {o["host_name"]: o for o in objs}
    assert [p["frame"] for p in by["hero"]["prompts"]] == [1001, 1005, 1006]   # negative-only kept: has a shape
    assert "other" not in by and any("negative-only" in n for n in notes)
    assert by["tracks"]["prompts"] == [{"frame": 1003, "type": "points", "points": [[9, 9]], "labels": [1]}]


def test_clip_info_from_a_clip_standin(tmp_path):
    oiio = pytest.importorskip("OpenImageIO")
    import numpy as np
    for n in (1, 2):
        spec = oiio.ImageSpec(72, 44, 3, "half")
        spec.x, spec.y = -8, -4
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 64, 36
        p = str(tmp_path / ("over.%04d.exr" % n))
        out = oiio.ImageOutput.create(p)
        out.open(p, spec)
        out.write_image(np.zeros((44, 72, 3), np.float32))
        out.close()
    clip = ns(name="over.0001.exr", filepath="//over.0001.exr", source="SEQUENCE", size=(72, 44), frame_start=1,
              frame_offset=0, frame_duration=2, colorspace_settings=ns(name="Linear Rec.709"),
              tracking=ns(camera=ns(pixel_aspect=1.0)))
    info = gather.clip_info(clip, abspath=lambda p: str(tmp_path / p[2:]))
    assert info.origin == (-8, -4) and info.first_file == 1
    assert info.pattern.endswith("over.####.exr")
    assert info.marker_px((0.0, 1.0)) == (-8.0, -4.0)
    with pytest.raises(hosterrors.HostError) as e:
        gather.clip_info(ns(**dict(clip.__dict__, source="MOVIE")), abspath=lambda p: str(tmp_path / p[2:]))
    assert e.value.code == "PLATE_INVALID"


# --- jobs ----------------------------------------------------------------------------------------

def test_build_job_validates_and_keeps_host_names(tmp_path):
    info = info_landscape()
    objs = [{"name": "hero_layer", "host_name": "hero layer",
             "prompts": [{"frame": 1002, "type": "bezier",
                          "points": [[50, 20] * 3, [150, 20] * 3, [150, 80] * 3]}]}]
    st = jobs.Settings(python=VENV_PY, output_dir=str(tmp_path), tracker="flow", matte="refine", quality="draft")
    job = jobs.build_job(info, objs, st, frames=list(range(1001, 1011)))
    assert job["plate"]["frames"] == "1001-1010"
    assert job["output"]["path"] == os.path.join(str(tmp_path), "plate", "plate_matte.####.exr")
    assert job["objects"][0]["name"] == "hero_layer"
    with pytest.raises(hosterrors.HostError) as e:
        jobs.build_job(info, [], st, frames=[1001])
    assert e.value.code == "PROMPT_INVALID" and "no prompts" in e.value.message
    bad = [dict(objs[0], prompts=[dict(objs[0]["prompts"][0], frame=2000)])]
    with pytest.raises(hosterrors.HostError) as e:
        jobs.build_job(info, bad, st, frames=list(range(1001, 1011)))
    assert e.value.code == "PROMPT_INVALID" and "2000" in e.value.message
    st2 = jobs.Settings(python=VENV_PY, every_frame=True)
    assert st2.tracker == "shapes"


def test_send_to_farm_writes_a_bundle_that_openjd_checks(tmp_path):
    import shutil
    import subprocess
    from samatte.demo import make_shot
    shot = make_shot(str(tmp_path / "shot"), frames=4, size=(96, 64))
    info = info_landscape(size=(96, 64), pattern=shot["plate"], duration=4)
    objs = [{"name": "ball", "host_name": "ball layer",
             "prompts": [{"frame": shot["prompt_frame"], "type": "polygon", "points": shot["polygon"],
                          "invert": False, "feather": 0.0, "mode": "add", "closed": True}]}]
    st = jobs.Settings(python=VENV_PY, output_dir=str(tmp_path / "out"), tracker="auto", matte="refine",
                       quality="draft")
    job = jobs.build_job(info, objs, st, frames=shot["frames"])
    res = jobs.export_farm(job, st, chunk=2)
    job_file, bundle = jobs.farm_paths(job)
    assert res["job_file"] == job_file and os.path.isfile(job_file)
    assert res["bundle"] == bundle and res["steps"] == ["Track", "Matte", "QC"]
    assert res["resolved"]["tracker"] in ("flow", "sam2") and res["parameters"]["ChunkSize"] == 2
    openjd = shutil.which("openjd") or os.path.join(os.path.dirname(VENV_PY), "openjd")
    if os.path.isfile(openjd):
        r = subprocess.run([openjd, "check", res["template"]], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    with pytest.raises(hosterrors.HostError) as e:   # samatte's own error code comes back
        jobs.export_farm(dict(job, plate=dict(job["plate"], frames="1-3")), st)
    assert e.value.code in ("JOBSPEC_INVALID", "PROMPT_INVALID", "FRAME_RANGE_INVALID"), e.value
    with pytest.raises(hosterrors.HostError) as e:
        jobs.export_farm(job, jobs.Settings(python=str(tmp_path / "no" / "python")))
    assert e.value.code == "WORKER_FAILED"


def test_wrong_samatte_python_is_a_clear_error(tmp_path):
    with pytest.raises(hosterrors.HostError) as e:
        link.samatte_root(str(tmp_path / "nope" / "python"))
    assert e.value.code == "WORKER_FAILED" and "does not exist" in e.value.message
    with pytest.raises(hosterrors.HostError) as e:
        link.samatte_root("")
    assert "no samatte Python is set" in e.value.message
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named samatte' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(hosterrors.HostError) as e:
        link.samatte_root(str(fake))
    assert "has no samatte" in e.value.message and "No module named samatte" in e.value.message
    assert hosterrors.describe(e.value).startswith("[WORKER_FAILED] ")


def test_motion_keyframes_finds_linear_keys():
    def shape(f):     # keys at 3 (x=0), 7 (x=4), 9 (x=0); held before 3 and after 9
        if f <= 3:
            x = 0.0
        elif f <= 7:
            x = f - 3.0
        elif f <= 9:
            x = 4.0 - 2.0 * (f - 7)
        else:
            x = 0.0
        return [x, 1.0]
    samples = [(f, shape(f)) for f in range(1, 13)]
    assert gather.motion_keyframes(samples) == [3, 7, 9]
    assert gather.motion_keyframes([(f, shape(f)) for f in range(5, 9)]) == [5, 7, 8]   # moving at both ends
    assert gather.motion_keyframes([(f, [1.0, 2.0]) for f in range(1, 6)]) == []
    assert gather.motion_keyframes([(1, [0.0])]) == []


def test_unkeyed_layer_keys_come_from_its_motion():
    info = info_landscape()
    sq = spline(SQUARE, info)
    layer = ns(name="roto", hide_render=False, blend="MERGE_ADD", use_fill_holes=False, splines=[sq])
    mask = ns(layers=Layers([layer]), animation_data=None)
    base = [p.co for p in sq.points]

    def read_at(f):   # shape keys on 2 and 5: linear between, held outside
        dx = 0.0 if f <= 2 else (0.03 * (f - 2) if f <= 5 else 0.09)
        for p, (x, y) in zip(sq.points, base):
            p.co = p.handle_left = p.handle_right = (x + dx, y)
        return mask
    objs, _, _ = gather.gather_mask_objects(mask, info, scene_frames=range(1, 9), read_mask_at=read_at,
                                            current_frame=4)
    assert [p["frame"] for p in objs[0]["prompts"]] == [1002, 1005]
    objs, _, _ = gather.gather_mask_objects(mask, info, scene_frames=range(1, 9), read_mask_at=read_at,
                                            current_frame=4, sample_shape_keys=False)
    assert [p["frame"] for p in objs[0]["prompts"]] == [1004]


def test_an_inverted_garbage_matte_with_several_shapes_is_skipped_with_a_note():
    """An inverted subtract layer keeps only what is inside its shape; with two shapes that is the
    intersection of their outsides, which add / subtract prompts cannot say: skipped, with a note
    (one shape: an inverted subtract prompt; tests/blender/test_blender_invert.py checks it in bpy)."""
    info = info_landscape()
    hero = ns(name="hero", hide_render=False, blend="MERGE_ADD", use_fill_holes=False, splines=[spline(SQUARE, info)])
    garbage = ns(name="garbage", hide_render=False, blend="MERGE_SUBTRACT", use_fill_holes=False, invert=True,
                 splines=[spline(HOLE, info), spline([(0, 0), (20, 0), (20, 20)], info)])
    mask = make_mask([hero, garbage], {"hero": [3], "garbage": [3]})
    objs, sub, notes = gather.gather_mask_objects(mask, info, scene_frames=range(1, 6), read_mask_at=lambda f: mask,
                                                  current_frame=3)
    assert [p.get("mode", "add") for p in objs[0]["prompts"]] == ["add"]
    assert any("inverted garbage matte" in n for n in notes)
