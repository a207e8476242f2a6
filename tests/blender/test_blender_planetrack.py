"""Mask points parented to a plane track, read where Blender shows them (real bpy 5.0.1 and 4.2.23; a
test skips when its ``.venv-bpyXX`` is absent), and the homography they move by (plain tests, no bpy).

A roto parented to a planar track (a screen insert) moves in Blender by the homography from the
plane's corners when it was parented to its corners on the frame (``BKE_mask_point_parent_matrix_get``,
``MASK_PARENT_PLANE_TRACK``); ``point.co`` stays where it was drawn. The add-on sent the drawn shape,
with a note. Here the plane's corners move per frame (translation + rotation + perspective), the
prompt gathered on a later frame is rasterised by samatte and compared with Blender's own Mask node
render of the same mask on that frame: alpha centroid, area and every decided pixel.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_blender_planetrack.py CONFIG.json``
runs the step named in CONFIG inside Blender (pytest never imports bpy).
"""
import math
import os

from bpy_common import (VERSIONS, bpy_main, enable_addon, prompts_mask, render_alpha, render_mask,  # noqa: E402
                        run_step_in_blender, step_scenario)

HERE = os.path.dirname(os.path.abspath(__file__))

QUAD = [(40.0, 20.0), (92.0, 18.0), (95.0, 56.0), (38.0, 52.0)]     # plane corners (px) on clip frame 1
# the roto as drawn (px): corner points, each with its two bezier handles (in, out), some curved
SHAPE = [((50.0, 28.0), (47.0, 33.0), (55.0, 26.0)),
         ((80.0, 27.0), (75.0, 25.0), (84.0, 31.0)),
         ((82.0, 46.0), (84.0, 41.0), (78.0, 48.0)),
         ((52.0, 45.0), (56.0, 47.0), (50.0, 40.0))]
PARENT_FRAME = 2            # scene frame the points are parented on
READ_FRAME = 5              # scene frame the prompt is read (and Blender renders) on


def quad_on(cf, quad=QUAD):
    """The plane's corners (px) on clip frame ``cf``: rotated 4 deg per frame about the quad's centre,
    moved (3, 1.5) px per frame, and its top-right corner pulled in (perspective)."""
    t = cf - 1
    cx = sum(p[0] for p in quad) / 4
    cy = sum(p[1] for p in quad) / 4
    a = math.radians(4.0 * t)
    out = []
    for i, (x, y) in enumerate(quad):
        if i == 1:
            x, y = x - 1.5 * t, y + 1.0 * t
        dx, dy = x - cx, y - cy
        out.append((cx + dx * math.cos(a) - dy * math.sin(a) + 3.0 * t,
                    cy + dx * math.sin(a) + dy * math.cos(a) + 1.5 * t))
    return out


# --- the bpy side ----------------------------------------------------------------------------------

def _plane_track(clip, size, conv):
    """A plane track made as in the Clip Editor (4 tracks selected, Create Plane Track), its corners
    then set on every clip frame to :func:`quad_on`."""
    import bpy
    win = bpy.context.window_manager.windows[0]
    area = win.screen.areas[0]
    area.type = "CLIP_EDITOR"
    space = area.spaces.active
    space.clip = clip
    space.mode = "TRACKING"
    for t in clip.tracking.tracks:
        t.select = False
    for i, xy in enumerate(QUAD):
        tr = clip.tracking.tracks.new(name="corner%d" % i, frame=1)
        tr.markers[0].co = conv.px_to_marker(xy, size)
        tr.select = True
    region = [r for r in area.regions if r.type == "WINDOW"][0]
    with bpy.context.temp_override(window=win, area=area, region=region, space_data=space, edit_movieclip=clip):
        bpy.ops.clip.create_plane_track()
    plane = clip.tracking.plane_tracks[-1]
    for cf in range(1, clip.frame_duration + 1):
        mk = plane.markers.find_frame(cf) or plane.markers.insert_frame(cf)
        for i, xy in enumerate(quad_on(cf)):
            mk.corners[i] = conv.px_to_marker(xy, size)
    for t in clip.tracking.tracks:
        t.select = False
    return plane


def _parented_mask(name, clip, plane, size, conv):
    import bpy
    mask = bpy.data.masks.new(name)
    sp = mask.layers.new(name="screen").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(SHAPE) - 1)
    for p, (co, hl, hr) in zip(sp.points, SHAPE):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = conv.px_to_mask(co, size)
        p.handle_left = conv.px_to_mask(hl, size)
        p.handle_right = conv.px_to_mask(hr, size)
        p.parent.id_type = "MOVIECLIP"
        p.parent.id = clip
        p.parent.type = "PLANE_TRACK"
        p.parent.parent = clip.tracking.objects[0].name
        p.parent.sub_parent = plane.name       # RNA stores the plane's corners on this frame
    return mask


def _control_mask(name, points, size, conv):
    """The prompt's shape as an unparented mask: Blender's rasterisation of where samatte put the
    points, to compare with its rasterisation of the parented mask (same rasteriser, only the
    parenting differs)."""
    import bpy
    mask = bpy.data.masks.new(name)
    sp = mask.layers.new(name="control").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(points) - 1)
    for p, q in zip(sp.points, points):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = conv.px_to_mask(q[0:2], size)
        p.handle_left = conv.px_to_mask(q[2:4], size)
        p.handle_right = conv.px_to_mask(q[4:6], size)
    return mask


def _case(addon, cfg, res, name, plate, clip_start=1):
    """Clip ``plate`` (Start Frame ``clip_start``), a plane track, a mask parented on PARENT_FRAME; the
    prompt gathered on READ_FRAME and Blender's render of the mask there."""
    import bpy
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(plate, check_existing=False)
    clip.frame_start = clip_start
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, 8
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    size = tuple(clip.size)
    plane = _plane_track(clip, size, conv)
    sc.frame_set(PARENT_FRAME)
    mask = _parented_mask(name, clip, plane, size, conv)
    par = mask.layers[0].splines[0].points[0].parent
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    sc.frame_set(READ_FRAME)
    _clip, info, objects, _frames, notes = addon.ops.collect(bpy.context)
    # the prompt on READ_FRAME (a parented layer is prompted where its motion changes: here on every frame)
    read = [p for p in objects[0]["prompts"] if p["frame"] == info.file(READ_FRAME)] if objects else []
    res[name] = {"objects": objects, "notes": notes, "size": list(size), "read": read,
                 "corners_orig": addon.gather.parent_corners_origin(par),
                 "plane": {str(m.frame): [list(c) for c in m.corners] for m in plane.markers},
                 "render": render_mask(mask, os.path.join(cfg["out"], "%s.exr" % name))}
    if read:
        control = _control_mask(name + "_control", read[0]["points"], size, conv)
        res[name]["control"] = render_mask(control, os.path.join(cfg["out"], "%s_control.exr" % name))


def step_plane(cfg, res):
    addon = enable_addon(cfg)
    _case(addon, cfg, res, "landscape", cfg["plate"])
    _case(addon, cfg, res, "clip_start3", cfg["plate"], clip_start=3)
    _case(addon, cfg, res, "portrait", cfg["plate_portrait"])


STEPS = {"plane": step_plane}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("planeshot")), frames=6, size=(128, 72))


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("planeportrait")), frames=6, size=(112, 128))


def _centroid(a):
    import numpy as np
    h, w = a.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    m = float(a.sum())
    return m, float((a * xs).sum()) / m, float((a * ys).sum()) / m


def _dilate(m):
    """``m`` grown by one pixel (8 neighbours)."""
    import numpy as np
    p = np.pad(m, 1)
    h, w = m.shape
    return np.any([p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


def _plain(name):
    from addon_plain import plain
    return plain(name)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_mask_parented_to_a_plane_track_is_read_where_blender_renders_it(v, tmp_path, shot, portrait):
    import numpy as np
    gather = _plain("gather")
    res = run_step_in_blender(__file__, v, tmp_path, shot, "plane",
                              plate_portrait=portrait["plate"].replace("####", "%04d" % portrait["frames"][0]))[0]
    report = {}
    for case in ("landscape", "clip_start3", "portrait"):
        r = res[case]
        size = tuple(r["size"])
        assert not r["notes"], (case, r["notes"])
        assert r["corners_orig"] is not None, case
        [ob] = r["objects"]
        [prompt] = r["read"]
        got = prompts_mask([prompt], size, feather=0.0)
        alpha = render_alpha(r["render"])
        area, cx, cy = _centroid(alpha)
        garea, gx, gy = _centroid(got.astype(float))
        report[case] = {"area": (area, garea), "centroid": (cx - gx, cy - gy)}
        assert area > 300, case
        # Blender's render of the parented mask = its render of the prompt's points unparented
        control = render_alpha(r["control"])
        carea, ccx, ccy = _centroid(control)
        report[case]["control"] = (float(np.abs(alpha - control).max()), cx - ccx, cy - ccy)
        assert np.abs(alpha - control).max() < 0.02, case
        assert abs(cx - ccx) < 0.005 and abs(cy - ccy) < 0.005 and abs(area - carea) < 0.01 * area, case
        # and samatte's rasterisation of the prompt sits there: same centroid; every pixel Blender
        # draws decided (< 0.1 or > 0.9) agrees, but for Blender's anti-aliasing, which draws the
        # pixels just outside an edge (its alpha sum is the shape grown by ~0.5 px; a rectangle on
        # whole pixels gets 0.5 there, test_blender_invert.py): those lie within 1 px of samatte's
        assert abs(cx - gx) < 0.1 and abs(cy - gy) < 0.1, (case, cx, gx, cy, gy)
        want = alpha >= 0.5
        decided = (alpha < 0.1) | (alpha > 0.9)
        assert decided.sum() > 0.9 * alpha.size, case
        assert np.count_nonzero(got & ~want & decided) == 0, case
        assert np.count_nonzero(want & ~_dilate(got) & decided) == 0, case
        # the drawn shape moved: the prompt is not where the points were drawn
        drawn = [list(co) for co, _, _ in SHAPE]
        assert max(abs(p[0] - d[0]) + abs(p[1] - d[1]) for p, d in zip(prompt["points"], drawn)) > 5, case
    # landscape, pixel aspect 1: the mask-space homography is the pixel one, from the plane's
    # corners on the frame of parenting to those of the frame read (clip frames = scene frames)
    m = _plain("gather").homography(quad_on(PARENT_FRAME), quad_on(READ_FRAME))
    want = []
    for co, hl, hr in SHAPE:
        want.append([c for q in (co, hl, hr) for c in gather.apply_homography(m, q)])
    pts = res["landscape"]["read"][0]["points"]
    assert np.abs(np.array(pts) - np.array(want)).max() < 0.01, (pts, want)
    # Start Frame 3: Blender stores the corners of the clip frame of parenting (scene 2 -> clip 0,
    # before the first marker: clip frame 1's), but reads the plane's corners on the scene frame
    # number itself (5), not the clip frame (3)
    m = _plain("gather").homography(quad_on(1), quad_on(READ_FRAME))
    want = [[c for q in (co, hl, hr) for c in gather.apply_homography(m, q)] for co, hl, hr in SHAPE]
    pts = res["clip_start3"]["read"][0]["points"]
    assert np.abs(np.array(pts) - np.array(want)).max() < 0.01, (pts, want)
    print(report)


# --- plain (no bpy) --------------------------------------------------------------------------------

def test_homography_maps_the_four_corners_and_keeps_lines_straight():
    gather = _plain("gather")
    src = [(0.1, 0.2), (0.8, 0.15), (0.9, 0.7), (0.2, 0.8)]
    dst = [(0.3, 0.1), (0.7, 0.25), (0.75, 0.9), (0.15, 0.6)]
    m = gather.homography(src, dst)
    for a, b in zip(src, dst):
        x, y = gather.apply_homography(m, a)
        assert abs(x - b[0]) < 1e-12 and abs(y - b[1]) < 1e-12
    # the midpoint of a side maps onto the mapped side (a projective map keeps lines)
    mid = gather.apply_homography(m, ((src[0][0] + src[1][0]) / 2, (src[0][1] + src[1][1]) / 2))
    (x0, y0), (x1, y1) = dst[0], dst[1]
    assert abs((x1 - x0) * (mid[1] - y0) - (y1 - y0) * (mid[0] - x0)) < 1e-12
    ident = gather.homography(src, src)
    assert all(abs(ident[i][j] - (i == j)) < 1e-12 for i in range(3) for j in range(3))
    assert gather.homography([(0, 0), (1, 1), (2, 2), (0, 1)], dst) is None      # 3 collinear


def test_homography_of_a_translation_and_rotation_is_that_motion():
    gather = _plain("gather")
    a = math.radians(30)
    src = [(0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (0.0, 1.0)]

    def move(p):
        return (p[0] * math.cos(a) - p[1] * math.sin(a) + 5, p[0] * math.sin(a) + p[1] * math.cos(a) - 1)
    m = gather.homography(src, [move(p) for p in src])
    for p in [(0.3, 0.7), (1.5, -2.0), (10.0, 4.0)]:
        q, w = gather.apply_homography(m, p), move(p)
        assert abs(q[0] - w[0]) < 1e-9 and abs(q[1] - w[1]) < 1e-9
    assert abs(m[2][0]) < 1e-12 and abs(m[2][1]) < 1e-12


def test_plane_corners_are_read_as_blender_reads_them():
    from types import SimpleNamespace as ns
    gather = _plain("gather")
    c = {f: [(f, 0.0), (f + 1, 0.0), (f + 1, 1.0), (f, 1.0)] for f in (3, 4, 8)}
    ms = [ns(frame=f, corners=c[f]) for f in (8, 3, 4)]
    assert gather.plane_corners(ms, 4) == c[4]
    assert gather.plane_corners(ms, 6) == c[4]          # none on 6: the nearest before
    assert gather.plane_corners(ms, 1) == c[3]          # before the first: the first
    assert gather.plane_corners(ms, 20) == c[8]
    assert gather.plane_corners(ms, 3.25)[0] == (3.25, 0.0)     # sub-frame towards the next frame's
    assert gather.plane_corners(ms, 4.5) == c[4]        # the next marker is not on frame 5
    assert gather.plane_corners([], 4) is None


def test_plane_parent_matrix_in_mask_space():
    """Landscape: mask space is clip space with y scaled by h/w about 0.5, so the matrix maps the
    mask-space images of the corners onto each other. Portrait: Blender's matrix scales x by h/w
    (its mask coordinates by w/h): kept as Blender has it."""
    gather, convert = _plain("gather"), _plain("convert")
    src = [(0.2, 0.2), (0.7, 0.25), (0.75, 0.8), (0.25, 0.7)]
    dst = [(0.3, 0.1), (0.7, 0.25), (0.8, 0.9), (0.15, 0.6)]
    size = (128, 72)

    def to_mask(c):      # normalised clip -> mask
        return convert.px_to_mask(convert.marker_to_px(c, size), size)
    m = gather.plane_parent_matrix(src, dst, size)
    for a, b in zip(src, dst):
        x, y = gather.apply_homography(m, to_mask(a))
        bx, by = to_mask(b)
        assert abs(x - bx) < 1e-12 and abs(y - by) < 1e-12
    # same corners: identity, whatever the frame's shape
    for sz, pa in (((128, 72), 1.0), ((72, 128), 1.0), ((100, 100), 1.0), ((128, 72), 2.0)):
        ident = gather.plane_parent_matrix(src, src, sz, pa)
        assert all(abs(ident[i][j] - (i == j)) < 1e-12 for i in range(3) for j in range(3))
    # portrait: conjugated by x -> (x - 0.5) * h/w + 0.5, as Blender's source has it
    size = (72, 128)
    k = 128 / 72
    m = gather.plane_parent_matrix(src, dst, size)
    for a, b in zip(src, dst):
        x, y = gather.apply_homography(m, ((a[0] - 0.5) * k + 0.5, a[1]))
        assert abs(x - ((b[0] - 0.5) * k + 0.5)) < 1e-12 and abs(y - b[1]) < 1e-12
    assert gather.plane_parent_matrix(src, [(0, 0), (1, 1), (2, 2), (0, 1)], (128, 72)) is None


def test_a_plane_parent_whose_struct_cannot_be_read_is_noted():
    """A stand-in with no DNA behind it (or a Blender whose MaskParent layout differs): the shape as
    drawn, with a note."""
    from types import SimpleNamespace as ns
    gather = _plain("gather")
    plane = ns(markers=[ns(frame=1, corners=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)])])
    clip = ns(tracking=ns(objects={"Camera": ns(plane_tracks={"screen": plane}, tracks={})},
                          camera=ns(pixel_aspect=1.0)), size=(128, 72), frame_start=1)
    par = ns(id=clip, type="PLANE_TRACK", parent="Camera", sub_parent="screen")
    m, note = gather.parent_matrix(ns(parent=par), 3)
    assert m is None and "could not be read" in note
    # a stand-in that exposes parent_corners_orig (as RNA might one day) is used
    par.parent_corners_orig = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
    plane.markers.append(ns(frame=3, corners=[(0.2, 0.1), (1.0, 0.1), (1.0, 0.9), (0.2, 0.9)]))
    m, note = gather.parent_matrix(ns(parent=par), 3)
    assert note is None
    x, y = gather.apply_homography(m, (0.5, 0.5))
    assert abs(x - 0.6) < 1e-9 and abs(y - 0.5) < 1e-9
    # unparented
    assert gather.parent_matrix(ns(parent=ns(id=None)), 3) == (None, None)
