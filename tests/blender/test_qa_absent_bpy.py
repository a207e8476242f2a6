"""A mask layer whose Hide in render is keyed on for some frames, in real bpy 5.0.1 and 4.2.23: the add-on sends
those frames as the object's ``absent`` and the written matte is 0 there (its layer, the merged ``A``, the
foreground). Before, the layer got no prompt on those frames but samatte tracked and matted the object through
them: the ball stayed in the matte where the artist had hidden it. A test skips when its ``.venv-bpyXX`` is
absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_absent_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario, clip_on_scene_frames  # noqa: E402


# --- the bpy side ----------------------------------------------------------------------------------

def step_hidden(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc, clip, info, n = clip_on_scene_frames(cfg, addon, 11)   # scene frames 11..16 show the files 1001..1006
    mask = bpy.data.masks.new("Roto")
    layer = mask.layers.new(name="hero")
    sp = layer.splines.new()
    sp.use_cyclic = True
    poly = cfg["polygon"]
    sp.points.add(len(poly) - 1)
    for j, xy in enumerate(poly):
        pt = sp.points[j]
        pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask(xy, info.size)
    for f in (11, 10 + n):
        for j in range(len(poly)):
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (j, attr), frame=f)
    for f, hidden in ((11, False), (13, True), (15, False)):    # hidden in renders on scene frames 13-14
        layer.hide_render = hidden
        mask.keyframe_insert('layers["hero"].hide_render', frame=f)
    mask.update_tag()
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = cfg["tracker"], "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))
    sc.frame_set(11)
    r = addon.ops.start_run(bpy.context)
    r.wait(timeout=300)
    addon.ops.finish_run(bpy.context, r)
    res["absent"] = [o.get("absent") for o in r.job["objects"]]
    res["output"] = r.result["output"]
    res["last"] = s.last_result


STEPS = {"hidden": step_hidden}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("absent_bpy")), frames=6, size=(64, 64))


def _channels(path):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    px = buf.get_pixels(oiio.FLOAT)
    return {c: px[..., i] for i, c in enumerate(buf.spec().channelnames)}


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_layer_keyed_hidden_in_render_is_absent_and_its_matte_is_0_there(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "hidden", tracker="flow")
    print(res["absent"], res["last"])
    assert res["absent"] == ["1003-1004"]
    for f in range(1001, 1007):
        ch = _channels(res["output"].replace("####", "%04d" % f))
        if f in (1003, 1004):     # scene frames 13-14, where the layer is hidden in renders
            for c in ("hero.A", "A", "R", "G", "B"):
                assert float(abs(ch[c]).max()) == 0.0, (f, c)
        else:
            assert int((ch["hero.A"] > 0.5).sum()) > 100, f
