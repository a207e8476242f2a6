"""QA: time in the hosts when time is remapped (real bpy 5.0.1 and 4.2.23; a test skips when its
``.venv-bpyXX`` is absent; tests/blender/setup_bpy.sh makes them).

Blender's Time Stretching (Output properties > Frame Range > Time Stretching: ``render.frame_map_old`` /
``frame_map_new``) evaluates animation at ``ctime = scene frame * old / new``, while a Movie Clip (the
Clip Editor, the compositor's Movie Clip node) shows clip frame ``scene frame - frame_start + 1``
whatever the stretch (both measured below in bpy). So a mask key at fcurve time k is shown over the
plate of scene frame ``k * new / old``. The add-on prompted the key's fcurve time as a scene frame: with
100 -> 200 the key drawn over scene frame 8 (file 1008) was never prompted, and scene frame 4 (file 1004)
got the in-between shape Blender shows there as if it were a key.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_time_remap.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "blender"))
from bpy_common import (VERSIONS, bpy_main, cleared_compositor, enable_addon, load_clip, render_still,  # noqa: E402
                        run_step_in_blender, step_scenario)

DX = 6.0    # the shape moves DX pixels right per key


# --- the bpy side ----------------------------------------------------------------------------------

def _movie_clip_render(sc, clip, path):
    """Render the compositor's Movie Clip node alone (which plate file Blender shows on this frame)."""
    tree, dst = cleared_compositor(sc, "clipcheck")
    node = tree.nodes.new("CompositorNodeMovieClip")
    node.clip = clip
    tree.links.new(node.outputs[0], dst.inputs[0])
    sc.render.use_compositing = True
    return render_still(sc, path)


def step_stretch(cfg, res):
    """A clip of files 1001-1008 on scene frames 1-8, Time Stretching ``cfg["map"]``, a mask layer ``hero``
    keyed at fcurve times ``cfg["keys"]`` (the polygon moved DX px per key): the job's prompts, the first
    point of the shape Blender shows on each scene frame, and the plate file its Movie Clip node shows on
    scene frame ``cfg["probe"]``."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for i, k in enumerate(cfg["keys"]):
        for j, (p, xy) in enumerate(zip(sp.points, cfg["polygon"])):
            p.handle_left_type = p.handle_right_type = "FREE"
            p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask((xy[0] + DX * i, xy[1]), info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (j, attr), frame=k)
    sc.render.frame_map_old, sc.render.frame_map_new = cfg["map"]
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    sc.frame_set(3)
    _clip, _info, objects, frames, notes = addon.ops.collect(bpy.context)
    res.update(objects=objects, frames=frames, notes=notes, size=list(info.size))
    shown = {}
    for f in range(1, clip.frame_duration + 1):
        sc.frame_set(f)
        shown[str(info.file(f))] = list(info.mask_px(mask.layers["hero"].splines[0].points[0].co))
    res["shown"] = shown
    sc.frame_set(cfg["probe"])
    res["probe_render"] = _movie_clip_render(sc, clip, os.path.join(cfg["out"], "clip.exr"))
    res["probe_file"] = info.file(cfg["probe"])


def step_parented(cfg, res):
    """A clip of files 1001-1008, a track moving 0.05 (mask units) right per clip frame, an unkeyed square
    whose points are parented to it, Time Stretching ``cfg["map"]``, current scene frame ``cfg["probe"]``:
    the job's prompts and Blender's own Mask node render of the layer on that frame."""
    import bpy
    from bpy_common import render_mask
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    cam = clip.tracking.objects[0]
    tr = cam.tracks.new(name="t", frame=1)
    for f in range(1, clip.frame_duration + 1):
        tr.markers.insert_frame(f, co=(0.2 + 0.05 * f, 0.5))
    sc.frame_set(1)
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(3)
    for p, co in zip(sp.points, ((0.2, 0.45), (0.35, 0.45), (0.35, 0.6), (0.2, 0.6))):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = p.handle_left = p.handle_right = co
        p.parent.id_type, p.parent.id, p.parent.type = "MOVIECLIP", clip, "POINT_TRACK"
        p.parent.parent, p.parent.sub_parent = cam.name, "t"
    sc.render.frame_map_old, sc.render.frame_map_new = cfg["map"]
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    sc.frame_set(cfg["probe"])
    _clip, info, objects, frames, notes = addon.ops.collect(bpy.context)
    res.update(objects=objects, notes=notes, probe_file=info.file(cfg["probe"]))
    sc.frame_set(cfg["probe"])
    res["render"] = render_mask(mask, os.path.join(cfg["out"], "mask.exr"))


STEPS = {"stretch": step_stretch, "parented": step_parented}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("remapshot")), frames=8, size=(96, 64))


def _prompt_x(objects):
    """{file frame: x of the first point} of the one object's bezier prompts."""
    [ob] = objects
    return {p["frame"]: p["points"][0][0] for p in ob["prompts"] if p["type"] == "bezier"}


@pytest.mark.parametrize("stretch,keys,want", [
    ((100, 200), (1, 4), {1002: 0, 1008: 1}),     # slowed down 2x: key k shows on scene frame 2k
    ((200, 100), (2, 6), {1001: 0, 1003: 1}),     # sped up 2x: key k shows on scene frame k / 2
])
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_mask_keys_are_prompted_on_the_scene_frames_that_show_them_under_time_stretching(
        v, tmp_path, shot, stretch, keys, want):
    """Before: 100 -> 200 prompted files 1001 and 1004 (on 1004 the in-between shape Blender draws there,
    1.6 px from the first key and 4.4 px from the second, taken as a keyframe; the second key, drawn over
    1008, was not prompted); 200 -> 100 prompted 1002 (the half-way shape) and 1006 (the second key, drawn
    over 1003)."""
    import numpy as np
    import OpenImageIO as oiio
    res, _ = run_step_in_blender(__file__, v, tmp_path, shot, "stretch", map=list(stretch), keys=list(keys),
                                 probe=max(want) - 1000)
    # Blender's own behaviour the rule rests on: the Movie Clip is not stretched (scene frame n shows file
    # 1000 + n) ...
    got = oiio.ImageBuf(res["probe_render"]).get_pixels(oiio.FLOAT)[..., :3]
    plate = oiio.ImageBuf(shot["plate"].replace("####", "%04d" % res["probe_file"])).get_pixels(oiio.FLOAT)[..., :3]
    assert res["probe_file"] == max(want) and float(np.abs(got - plate).max()) < 1e-4
    # ... and the mask is: key i (its first point at x0 + DX * i) is drawn over the file ``want`` names
    x0 = shot["polygon"][0][0]
    for f, i in want.items():
        assert res["shown"][str(f)][0] == pytest.approx(x0 + DX * i, abs=1e-3), (f, res["shown"])
    # the job: a prompt on each of those files, the key's own shape (what Blender shows there)
    px = _prompt_x(res["objects"])
    assert sorted(px) == sorted(want), (px, res["notes"])
    for f, i in want.items():
        assert px[f] == pytest.approx(x0 + DX * i, abs=1e-3)
        assert px[f] == pytest.approx(res["shown"][str(f)][0], abs=1e-3)


@pytest.mark.parametrize("stretch", [(100, 100), (100, 200)])
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_points_parented_to_a_track_follow_it_as_blender_draws_them_under_time_stretching(v, tmp_path, shot, stretch):
    """Blender moves a parented point by its track at the animation time (scene frame 8 under 100 -> 200:
    the track's clip frame 4, 19.2 px left of its clip frame 8). The add-on read the track at the scene
    frame: its prompt on 1008 lay 19.2 px right of the shape Blender draws there (columns 53-66 against
    Blender's 34-47)."""
    import numpy as np
    from bpy_common import render_alpha
    res, _ = run_step_in_blender(__file__, v, tmp_path, shot, "parented", map=list(stretch), probe=8)
    [ob] = res["objects"]
    # (the unkeyed parented layer is prompted where its motion, the track's, changes; day 10): the probe's prompt
    [p] = [p for p in ob["prompts"] if p["type"] == "bezier" and p["frame"] == res["probe_file"]]
    assert p["frame"] == res["probe_file"] == 1008
    xs = [row[0] for row in p["points"]]
    cols = np.nonzero(render_alpha(res["render"]) > 0.5)[1]
    # Blender samples pixel centres: the columns it fills are those whose centre is inside the prompt
    assert cols.min() == pytest.approx(min(xs) + 0.5, abs=1.0), (sorted(xs), cols.min(), cols.max())
    assert cols.max() == pytest.approx(max(xs) - 0.5, abs=1.0), (sorted(xs), cols.min(), cols.max())
