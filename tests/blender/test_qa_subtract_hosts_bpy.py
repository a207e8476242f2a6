"""QA of subtract shapes that stick, end to end from Blender (real bpy 5.0.1 and 4.2.23): a roto layer
plus a Subtract-blend garbage layer keyed on one frame and a Subtract hole layer inside the ball keyed on
another, Run (flow tracker, refine matte, draft), then the compositor rendered on every frame. The written
matte and the composite's alpha must be 0 inside the shapes on the frames the add-on sends them (the
hero's keys, where Blender draws the garbage layer held, and the garbage layer's own key), and the matte
outside them must match the run without them. A test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_subtract_hosts_bpy.py CONFIG.json``.
"""
import json
import os
import shutil

from bpy_common import VERSIONS, bpy_main, enable_addon, render_compositor, run_step_in_blender, step_scenario  # noqa: E402

#: display pixels, top-left origin, on the 64x64 demo shot: a garbage matte over the ball's right side,
#: and a hole inside the ball
GARBAGE = [(40, 0), (64, 0), (64, 64), (40, 64)]
HOLE = [(26, 28), (34, 28), (34, 36), (26, 36)]
N = 4


# --- the bpy side ----------------------------------------------------------------------------------

def step_loop(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration       # scene frames 1.. show files 1001..
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")

    def layer_with(name, keys, blend=None):
        """a layer of one closed spline keyed on each scene frame of ``keys`` ({frame: polygon})"""
        layer = mask.layers.new(name=name)
        if blend:
            layer.blend = blend
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(len(next(iter(keys.values()))) - 1)
        for f, poly in keys.items():
            for j, xy in enumerate(poly):
                pt = sp.points[j]
                pt.handle_left_type = pt.handle_right_type = "FREE"
                pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask(xy, info.size)
                for attr in ("co", "handle_left", "handle_right"):
                    mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=f)
        mask.update_tag()
        return layer
    layer_with("hero", {1: cfg["hero"][0], N: cfg["hero"][1]})     # the ball's outline on 1 and 4
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))

    def run_and_render(label):
        run, report = addon.ops.run_blocking(bpy.context)
        pattern = run.result["output"]
        with open(os.path.join(cfg["out"], "%s_job.json" % label), "w") as f:
            json.dump(run.job, f, indent=1)
        out = {"report": list(report), "prompts": sorted(
            (p["frame"], p["type"], p.get("mode", "add"), p.get("closed", True))
            for ob in run.job["objects"] for p in ob.get("prompts", ()))}
        for f in range(1, N + 1):
            sc.frame_set(f)
            render = render_compositor(sc, os.path.join(cfg["out"], "%s_render_%d.exr" % (label, f)))
            matte = os.path.join(cfg["out"], "%s_matte_%d.exr" % (label, f))
            shutil.copyfile(pattern.replace("####", "%04d" % (1000 + f)), matte)
            out[f] = [render, matte]
        res[label] = out

    run_and_render("plain")
    layer_with("garbage", {3: cfg["garbage"]}, blend="MERGE_SUBTRACT")   # a garbage matte keyed on 3
    layer_with("hole", {2: cfg["hole"]}, blend="SUBTRACT")               # a hole keyed on 2
    run_and_render("cut")


STEPS = {"loop": step_loop}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("subhosts_bpy")), frames=N, size=(64, 64))


def _outline(shot, frame, n=16):
    """The ball's outline on ``frame`` (samatte.demo's roto polygon of its true alpha) resampled to ``n``
    points evenly along its perimeter (a Blender spline keeps its point count across keys)."""
    import numpy as np
    from samatte.demo import _roto_polygon
    from samatte.io.exr import read_info
    from samatte.io.masks import read_mask
    path = shot["gt"].replace("####", "%04d" % frame)
    poly = np.asarray(_roto_polygon(read_mask(path, read_info(path))), float)
    seg = np.linalg.norm(np.roll(poly, -1, 0) - poly, axis=1)
    at = np.concatenate([[0.0], np.cumsum(seg)])
    out = []
    for t in np.linspace(0.0, at[-1], n, endpoint=False):
        i = int(np.searchsorted(at, t, side="right") - 1)
        u = (t - at[i]) / max(seg[i], 1e-9)
        out.append([float(c) for c in poly[i] + u * (poly[(i + 1) % len(poly)] - poly[i])])
    return out


def _channels(path):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    px = buf.get_pixels(oiio.FLOAT)
    return {c: px[..., i] for i, c in enumerate(buf.spec().channelnames)}


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_blender_garbage_and_hole_layers_are_0_in_the_matte_and_the_composite(v, tmp_path, shot):
    import numpy as np
    from bpy_common import prompts_mask
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "loop", first=shot["frames"][0],
                                    garbage=[list(p) for p in GARBAGE], hole=[list(p) for p in HOLE],
                                    hero=[_outline(shot, 1001), _outline(shot, 1000 + N)])
    size = shot["size"]

    def region(poly):
        return prompts_mask([{"frame": 1, "type": "polygon", "points": [list(p) for p in poly]}], size,
                            feather=0.0)
    garbage, hole = region(GARBAGE), region(HOLE)
    print(res["cut"]["prompts"])
    figures = {}
    for f in range(1, N + 1):
        plain = _channels(res["plain"][str(f)][1])["A"]
        ch = _channels(res["cut"][str(f)][1])
        render = _channels(res["cut"][str(f)][0])
        figures[f] = {k: (int((plain[m] > 0.5).sum()), int((ch["A"][m] > 0.5).sum()),
                          int((render["A"][m] > 0.5).sum()), float(np.abs(render["R"][m]).max()))
                      for k, m in (("garbage", garbage), ("hole", hole))}
        rest = ~(garbage | hole)
        figures[f]["rest"] = (int(((plain > 0.5) & rest).sum()), int(((ch["A"] > 0.5) & rest).sum()),
                              int(((plain > 0.5) != (ch["A"] > 0.5))[rest].sum()))
    print(v, figures)
    # the garbage layer is sent on its key (3) and on the hero's keys (1, 4), where Blender draws it held;
    # the hole on its key (2) and the hero's keys: closed subtract polygons, nowhere else
    subs = sorted((p[0], p[1], p[3]) for p in res["cut"]["prompts"] if p[2] == "subtract")
    assert [p[0] for p in subs] == [1001, 1001, 1002, 1003, 1004, 1004], subs
    assert all(p[1] in ("polygon", "bezier") and p[2] is True for p in subs), subs
    sent = {1: ("garbage", "hole"), 2: ("hole",), 3: ("garbage",), 4: ("garbage", "hole")}
    over_ball = {(1, "hole"), (2, "hole"), (3, "garbage"), (4, "garbage")}   # the ball moves left to right
    for f, names in sent.items():
        for k in names:
            plain_n, matte_n, render_n, rgb = figures[f][k]
            if (f, k) in over_ball:
                assert plain_n > 30, (f, k, figures[f])      # the ball is there without the cut
            # the written matte, the composite's alpha and its colour: nothing inside the shape
            assert matte_n == 0 and render_n == 0 and rgb == 0.0, (f, k, figures[f])
    for f in (1, 2):   # the ball outside the shapes is kept (467 / 443 of 479 / 450 px at bpy 5.0.1 / 4.2.23)
        plain_n, cut_n, differ = figures[f]["rest"]
        assert cut_n > 0.9 * plain_n and differ < 0.05 * plain_n, (f, figures[f])
