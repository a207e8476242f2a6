"""The Blender add-on's bpy-free side (through ``addon_plain``), day 10: a mask layer parented to a tracking track
(Ctrl+P) is read on the frames where Blender draws it moving, not as a still shape. ``point.co`` stays where the roto
was drawn; Blender adds the track's motion since parenting on every frame. The add-on found an unkeyed layer's frames
from the motion of ``point.co`` alone: a parented roto looked still and was prompted on the current frame only (a keyed
one on its keys only). Now its motion is read with the parent applied (``gather._layer_coords``). The same in real
bpy: ``test_qa_blender_day10_bpy.py``."""
import types

from addon_plain import plain

convert = plain("convert")
gather = plain("gather")

SIZE = (200, 100)
SQUARE = [(50, 20), (150, 20), (150, 80), (50, 80)]


def ns(**kw):
    return types.SimpleNamespace(**kw)


class Named(list):
    def __getitem__(self, k):
        if isinstance(k, str):
            return next(x for x in self if x.name == k)
        return list.__getitem__(self, k)

    def get(self, k):
        return next((x for x in self if x.name == k), None)


class Markers(list):
    def find_frame(self, frame, exact=True):
        on = [m for m in self if m.frame == frame]
        if on or exact:
            return on[0] if on else None
        before = [m for m in self if m.frame <= frame]
        return before[-1] if before else self[0]


def track_x(cf):
    """The track (normalised x): 0.02 right per clip frame up to clip frame 3, still after."""
    return 0.3 + 0.02 * (min(cf, 3) - 1)


def _setup(keys=()):
    info = gather.ClipInfo(size=SIZE, first_file=1001, duration=6, pattern="/shots/plate.####.exr")
    track = ns(name="anchor", offset=(0.0, 0.0), markers=Markers(ns(frame=f, co=(track_x(f), 0.5), mute=False)
                                                                 for f in range(1, 7)))
    clip = ns(frame_start=1, size=SIZE, tracking=ns(objects=Named([ns(name="Camera", tracks=Named([track]))]),
                                                    camera=ns(pixel_aspect=1.0)))
    orig = convert.px_to_mask(convert.marker_to_px((track_x(1), 0.5), SIZE), SIZE)
    pts = []
    for x, y in SQUARE:
        co = convert.px_to_mask((x, y), SIZE)
        pts.append(ns(co=co, handle_left=co, handle_right=co,
                      parent=ns(id=clip, type="POINT_TRACK", parent="Camera", sub_parent="anchor", parent_orig=orig)))
    layer = ns(name="hero", hide_render=False, blend="MERGE_ADD", use_fill_holes=False,
               splines=[ns(points=pts, use_cyclic=True, use_fill=True)])
    fcurves = [ns(data_path='layers["hero"].splines[0].points[0].co', keyframe_points=[ns(co=(f, 0.0)) for f in keys])]
    mask = ns(layers=Named([layer]), animation_data=ns(action=ns(fcurves=fcurves)) if keys else None)
    return info, mask


def _prompts(info, mask, **kw):
    objs, _sub, _notes = gather.gather_mask_objects(mask, info, scene_frames=range(1, 7), read_mask_at=lambda f: mask,
                                                    current_frame=5, **kw)
    return {p["frame"]: [q[:2] for q in p["points"]] for p in objs[0]["prompts"]}


def test_an_unkeyed_layer_parented_to_a_track_is_read_where_its_motion_changes():
    info, mask = _setup()
    got = _prompts(info, mask)
    # it moves from frame 1 and stops on frame 3 (before: {1005: ...}, the current frame alone)
    assert sorted(got) == [1001, 1003]
    for f, pts in got.items():      # where Blender draws it there: the square moved by the track since frame 1
        dx = (track_x(f - 1000) - track_x(1)) * SIZE[0]
        assert all(abs(a - (x + dx)) < 1e-6 and abs(b - y) < 1e-6 for (a, b), (x, y) in zip(pts, SQUARE)), (f, pts)
    # without shape-key sampling (the caller's choice) the current frame, as for any unkeyed layer
    assert sorted(_prompts(info, mask, sample_shape_keys=False)) == [1005]


def test_a_keyed_layer_parented_to_a_track_keeps_its_keys_and_adds_the_tracks():
    info, mask = _setup(keys=(1, 6))
    # before: [1001, 1006], its keys alone
    assert sorted(_prompts(info, mask)) == [1001, 1003, 1006]


def test_a_layer_not_parented_is_read_as_before():
    info, mask = _setup()
    for p in mask.layers[0].splines[0].points:
        p.parent = ns(id=None)
    assert sorted(_prompts(info, mask)) == [1005]
