"""QA (sixth pass) of the Blender add-on's colour: a Movie Clip's colourspace (``colorspace_settings.name``)
and Blender's own bundled config, as the add-on puts them in the JobSpec, read by samatte the way Blender
reads the clip (real bpy 5.0.1 and 4.2.23). A test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender6.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402

SPACES = ("Linear Rec.709", "sRGB", "Non-Color", "AgX Log", "Filmic Log")


# --- the bpy side ----------------------------------------------------------------------------------

def step_clip_colour(cfg, res):
    """The shot's clip with a mask layer ``hero``; per colourspace the job the add-on builds, and the
    first plate file as Blender decodes it (an Image in the same colourspace: scene-linear pixels)."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for p, xy in zip(sp.points, cfg["polygon"]):
        p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, info.size)
    mask.update_tag()
    s = sc.samatte
    s.mask = mask
    s.tracks = "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))
    res["spaces"] = {}
    for cs in SPACES:
        clip.colorspace_settings.name = cs
        _settings, job, _collected = addon.ops._build(bpy.context)
        img = bpy.data.images.load(cfg["plate"], check_existing=False)
        img.colorspace_settings.name = cs
        w, h = img.size
        px = list(img.pixels[:])
        res["spaces"][cs] = {"plate": job["plate"], "size": [w, h], "pixels": px}
        bpy.data.images.remove(img)
    res["config"] = addon.ops.ocio_config()


STEPS = {"clip_colour": step_clip_colour}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot6")), frames=2, size=(96, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_clip_s_colourspace_reads_as_blender_reads_it(v, tmp_path, shot):
    """The add-on passes Blender's bundled config (not samatte's built-in ACES one) and the clip's
    colourspace name, and every name resolves there. The plate's scene-linear pixels samatte works on
    (the linear solves, the foreground layer) equal Blender's own decoding of the clip's file: a float
    EXR marked sRGB, AgX Log or Filmic Log was kept as code values before (Blender's config gives no
    encodings), e.g. sRGB 0.5 taken for light 0.5 where Blender decodes 0.214."""
    import numpy as np
    from samatte.colour import ColourTransform
    from samatte.io.source import FrameSource
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "clip_colour")
    config = res["config"]
    assert config.endswith(os.path.join("datafiles", "colormanagement", "config.ocio")), config
    for cs, got in res["spaces"].items():
        plate = got["plate"]
        assert plate["colourspace"] == cs and plate["ocio_config"] == config, plate
        w, h = got["size"]
        blender = np.array(got["pixels"], np.float32).reshape(h, w, 4)[::-1, :, :3]   # bottom-up rows
        ct = ColourTransform(plate["ocio_config"], plate["colourspace"])
        assert ct.colourspace == cs
        with FrameSource(plate["path"], str(shot["frames"][0]), colour=ct) as src:
            p = src.get(shot["frames"][0])
        # where Blender decodes a code value past the log curve's range to NaN / inf (AgX Log in 5.0),
        # samatte makes it 0 / 65504 (its non-finite policy): compared where Blender's is finite
        ok = np.isfinite(blender)
        assert ok.mean() > 0.99, (cs, ok.mean())
        scale = max(1.0, float(np.abs(blender[ok]).max()))
        err = float(np.abs(p.linear[ok] - blender[ok]).max())
        assert err <= 2e-3 * scale, (cs, err, p.linear[0, 0], blender[0, 0])
        if cs in ("Linear Rec.709", "Non-Color"):       # scene-linear and data: as stored
            assert ct.nonlinear is False
        else:
            assert ct.nonlinear is True
