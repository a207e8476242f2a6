"""QA159 (a Blender user's day 13): a render saved as **OpenEXR MultiLayer** (``ViewLayer.Combined.R/G/B/A``,
``ViewLayer.Depth.Z``...) opened as a Movie Clip, to roto and matte it: the usual way a Blender render is matted.

Blender's Movie Clip shows such a file by taking, for each of R, G and B, the first channel (in the header's sorted
order) whose name ends in that letter (``exr_rgba_channelname``): the first layer's Combined. The add-on named no
layer in the job, so the worker looked for plain R, G, B channels and every Run failed: ``[CHANNELS_INVALID] no R,
G, B channels in .../render.1001.exr (give a layer); it has ViewLayer.Combined.R, ...``, a layer the panel has no
way to give. Now the clip's EXR header is read (standard library) and the job's ``plate.layer`` is the layer Blender
shows (none when that is the plain R, G, B, or when Blender mixes channels of several layers: as before); Find
objects names it.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa159_multilayer_exr_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, load_clip, step_scenario  # noqa: E402

#: the layers of the test's render: (name, grey level); Blender shows the first in the header's (sorted) order
LAYERS = (("Aux.Combined", 0.3), ("ViewLayer.Combined", 0.8))


def step_multilayer(cfg, res):
    import os
    import bpy
    from bpy_common import cleared_compositor, render_still
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["render"])
    clip.colorspace_settings.name = "Linear Rec.709"
    sc.view_settings.view_transform = "Standard"
    w, h = clip.size
    s = sc.samatte
    s.clip = clip
    s.mask = box_mask(addon, "Roto", "hero", [(8, 8), (w // 2, 8), (w // 2, h // 2), (8, h // 2)], (w, h))
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    res["scan"] = addon.ops.scan(bpy.context)
    try:
        res["run"] = sorted(bpy.ops.samatte.run())
    except RuntimeError as e:
        res["run"] = ["raised", str(e)]
    res["last_result"] = s.last_result
    run = addon.ops.current_run()
    res["job_layer"] = run.job["plate"].get("layer") if run is not None else None
    folder = os.path.join(cfg["out"], "render")
    res["mattes"] = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    # what Blender's Movie Clip shows of the file (the compositor's Movie Clip node, frame 1)
    tree, dst = cleared_compositor(sc, "shown")
    node = tree.nodes.new("CompositorNodeMovieClip")
    node.clip = clip
    tree.links.new(node.outputs[0], dst.inputs[0])
    sc.frame_set(1)
    res["shown"] = render_still(sc, os.path.join(cfg["out"], "shown.exr"))


STEPS = {"multilayer": step_multilayer}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import pytest  # noqa: E402

from addon_plain import plain  # noqa: E402


@pytest.mark.parametrize("channels,layer", [
    (["A", "B", "G", "R"], None),                                         # a plain RGBA file: samatte's default
    (["ViewLayer.Combined.A", "ViewLayer.Combined.B", "ViewLayer.Combined.G", "ViewLayer.Combined.R",
      "ViewLayer.Depth.Z"], "ViewLayer.Combined"),                        # a Blender MultiLayer render
    (["Aux.Combined.B", "Aux.Combined.G", "Aux.Combined.R", "ViewLayer.Combined.B", "ViewLayer.Combined.G",
      "ViewLayer.Combined.R"], "Aux.Combined"),                           # the first layer in the header's order
    (["AO.R", "B", "G", "R"], None),                                      # Blender mixes layers: as before
    (["BY", "RY", "Y"], None),                                            # luminance / chroma
])
def test_the_layer_blender_shows(channels, layer):
    assert plain("convert").blender_rgb_layer(channels)[0] == layer


def _render_sequence(folder, frames=3, size=(64, 48)):
    import os
    import numpy as np
    oiio = pytest.importorskip("OpenImageIO")
    os.makedirs(folder, exist_ok=True)
    w, h = size
    chans = []
    for name, _grey in LAYERS:
        chans += ["%s.%s" % (name, c) for c in "RGBA"]
    chans.append("ViewLayer.Depth.Z")
    for i in range(frames):
        a = np.zeros((h, w, len(chans)), np.float32)
        for k, (_name, grey) in enumerate(LAYERS):
            a[..., 4 * k:4 * k + 3] = grey
            a[8:h // 2, 8 + i:w // 2 + i, 4 * k:4 * k + 3] = 1.0     # a bright subject moving right
            a[..., 4 * k + 3] = 1.0
        a[..., -1] = 5.0
        spec = oiio.ImageSpec(w, h, len(chans), oiio.HALF)
        spec.channelnames = chans
        out = oiio.ImageOutput.create("x.exr")
        assert out.open(os.path.join(folder, "render.%04d.exr" % (1001 + i)), spec), oiio.geterror()
        out.write_image(a)
        out.close()
    return os.path.join(folder, "render.1001.exr")


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_multilayer_render_is_matted_from_the_layer_blender_shows(v, tmp_path):
    import sys
    from bpy_common import render_alpha, run_script_in_blender
    render = _render_sequence(str(tmp_path / "renders"))
    cfg = {"python": sys.executable, "render": render, "out": str(tmp_path / "out"),
           "result": str(tmp_path / "res.json"), "step": "multilayer"}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    # Blender shows the first layer (its grey outside the subject), the one the job names
    assert abs(float(render_alpha(res["shown"])[-2, -2]) - LAYERS[0][1]) < 0.01, res
    # before: ['raised', '... [CHANNELS_INVALID] no R, G, B channels in .../render.1001.exr (give a layer) ...']
    assert res["run"] == ["FINISHED"], res
    assert res["job_layer"] == LAYERS[0][0], res
    assert len([m for m in res["mattes"] if m.endswith(".exr")]) == 3, res
    assert "layer Aux.Combined" in res["scan"].splitlines()[0], res["scan"]
