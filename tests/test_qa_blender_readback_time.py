"""QA: the matte Blender's compositor shows, in time (real bpy 5.0.1 and 4.2.23; a test skips when its
``.venv-bpyXX`` is absent; tests/blender/setup_bpy.sh makes them).

The add-on's compositor (``blender_addon/compositor.py``) reads the matte sequence with an Image node
whose frame mapping (frame_start / frame_offset / frame_duration) must show, on every scene frame, the
matte of the plate file the Movie Clip node shows there. Measured here by rendering the compositor over
the scene range (``render.render(animation=True)``, as a TD does) with a plate whose files carry their
number in red (file n: R = (n - 1000) / 16) and mattes whose files carry theirs in alpha (file n:
A = MATTE(n)): under Time Stretching (100 -> 200, 200 -> 100), a frame step of 2, a scene range wider than
the clip, a clip Start Frame / Offset, and runs that left some files without a matte.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_readback_time.py CONFIG.json``
runs the step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "blender"))
from bpy_common import (VERSIONS, bpy_main, enable_addon, render_anim, render_compositor, run_script_in_blender,  # noqa: E402
                        step_scenario)

SIZE = (8, 8)
FILES = range(1001, 1009)       # the plate's files


def plate_value(n):
    return (n - 1000) / 16.0


def matte_value(n):
    return 0.3 + 0.05 * (n - 1000)


# --- the bpy side ----------------------------------------------------------------------------------


def _movie_clip_only(addon, sc):
    """The add-on's tree with the output fed by the Movie Clip node alone (which plate Blender shows)."""
    tree = addon.compositor.existing_tree(sc)
    out = tree.nodes[addon.compositor.NODE_OUTPUT] if addon.compositor.NODE_OUTPUT in tree.nodes else next(
        n for n in tree.nodes if n.bl_idname in ("CompositorNodeComposite", "NodeGroupOutput"))
    for lk in list(out.inputs[0].links):
        tree.links.remove(lk)
    tree.links.new(tree.nodes[addon.compositor.NODE_PLATE].outputs["Image"], out.inputs[0])


def step_readback(cfg, res):
    """The clip of files 1001-1008 with Start Frame / Offset ``cfg["clip"]``, the scene range / frame step
    ``cfg["scene"]``, Time Stretching ``cfg["map"]``; the add-on wires the compositor as a finished run of
    the job frames ``cfg["job"]`` does (ops.finish_run: wired_frames, then compositor.wire); then the
    animation rendered through it, and again with the Movie Clip node alone."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.frame_start, clip.frame_offset = cfg["clip"]
    sc.active_clip = clip
    sc.frame_start, sc.frame_end, sc.frame_step = cfg["scene"]
    sc.render.frame_map_old, sc.render.frame_map_new = cfg["map"]
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    pattern = cfg["matte"]
    frames = addon.ops.wired_frames(info, pattern, cfg["job"])
    addon.compositor.wire(sc, clip, info, pattern, frames)
    node = addon.compositor.existing_tree(sc).nodes[addon.compositor.NODE_MATTE]
    res["node"] = {"frame_start": node.frame_start, "frame_offset": node.frame_offset,
                   "frame_duration": node.frame_duration}
    res["wired"] = frames
    res["files"] = {f: info.file(f) for f in range(sc.frame_start, sc.frame_end + 1)}
    res["stretch"] = [sc.render.frame_map_old, sc.render.frame_map_new]
    res["step"] = sc.frame_step
    res["comp"] = render_anim(sc, os.path.join(cfg["out"], "comp"))
    res["stills"] = {}
    for f in (sc.frame_start + sc.frame_step, sc.frame_end - (sc.frame_end - sc.frame_start) % sc.frame_step):
        sc.frame_set(f)
        res["stills"][f] = render_compositor(sc, os.path.join(cfg["out"], "still_%d.exr" % f))
    _movie_clip_only(addon, sc)
    res["clip"] = render_anim(sc, os.path.join(cfg["out"], "clip"))


STEPS = {"readback": step_readback}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


def _write(path, rgba):
    import numpy as np
    import OpenImageIO as oiio
    w, h = SIZE
    spec = oiio.ImageSpec(w, h, len(rgba), oiio.HALF)
    spec.attribute("compression", "zip")
    if len(rgba) == 4:
        spec.channelnames = ("R", "G", "B", "A")
        spec.alpha_channel = 3
    buf = oiio.ImageBuf(spec)
    buf.set_pixels(oiio.ROI(), np.tile(np.array(rgba, np.float32), (h, w, 1)))
    assert buf.write(path), buf.geterror()


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    d = tmp_path_factory.mktemp("readback_plates")
    for n in FILES:
        _write(str(d / ("plate.%04d.exr" % n)), (plate_value(n), 0.5, 0.25))
    return str(d / "plate.####.exr")


def _mattes(folder, files):
    """Mattes as samatte writes them (MatteWriter: the merged matte in ``A``, a layer per object, the
    premultiplied foreground, the quality map), file n flat at alpha MATTE(n)."""
    import numpy as np
    from samatte.io.writer import MatteWriter
    from samatte.stages import MatteFrame, PlateInfo, Window
    w, h = SIZE
    info = PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h))
    pattern = os.path.join(folder, "plate.####.exr")
    writer = MatteWriter(pattern, info)
    for n in files:
        a = np.full((h, w), matte_value(n), np.float32)
        writer.write(MatteFrame(frame=n, alphas={"hero": a}, alpha=a, foreground=np.zeros((h, w, 3), np.float32),
                                quality=np.zeros((h, w), np.float32)))
    return pattern


def _pixel(path):
    """The RGBA of a flat render's centre pixel, or None when the frame was not rendered."""
    import OpenImageIO as oiio
    if not os.path.isfile(path):
        return None
    px = oiio.ImageBuf(path).get_pixels(oiio.FLOAT)
    return [float(v) for v in px[SIZE[1] // 2, SIZE[0] // 2]]


def _identify(value, of):
    """The file number whose ``of`` value is ``value`` (half-float precision), or None."""
    return next((n for n in range(1001, 1020) if abs(of(n) - value) < 2e-3), None)


def readback(v, tmp_path, plates, *, clip=(1, 0), scene=(1, 8, 1), stretch=(100, 100), job=FILES,
             on_disk=FILES):
    """{scene frame: (plate file shown, matte file shown, alpha)} over the rendered scene frames, and the
    result of the bpy step."""
    pattern = _mattes(str(tmp_path / "mattes"), on_disk)
    cfg = {"python": sys.executable, "plate": plates.replace("####", "1001"), "matte": pattern,
           "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"), "step": "readback",
           "clip": list(clip), "scene": list(scene), "map": list(stretch), "job": list(job)}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    shown = {}
    for f in range(scene[0], scene[1] + 1, scene[2]):
        comp = _pixel(os.path.join(res["comp"], "r_%04d.exr" % f))
        plate = _pixel(os.path.join(res["clip"], "r_%04d.exr" % f))
        assert comp is not None and plate is not None, f
        pfile = _identify(plate[0], plate_value) if plate[3] > 0.5 else None
        alpha = comp[3]
        mfile = _identify(alpha, matte_value)
        shown[f] = (pfile, mfile, round(alpha, 4))
    return shown, res


CASES = {
    # Time Stretching: both the Movie Clip and the Image node follow the scene frame, unstretched
    "stretch_100_200": dict(stretch=(100, 200), scene=(1, 16, 1)),
    "stretch_200_100": dict(stretch=(200, 100), scene=(1, 8, 1)),
    "step_2": dict(scene=(1, 8, 2)),
    # Start Frame 4, Offset 2, the scene wider than the clip: scene frames 4-9 show files 1003-1008, and
    # (both versions) frames 2-3 show files 1001-1002, which are not the clip's job frames
    "start_offset_wide": dict(clip=(4, 2), scene=(1, 12, 1), on_disk=range(1003, 1009), job=range(1003, 1009)),
    # a Frame range run of files 1001-1004 on an 8-file clip (the bug: 1005-1008 showed the matte of 1004)
    "frame_range_run": dict(job=range(1001, 1005), on_disk=range(1001, 1005)),
    "frame_range_run_stretched_offset": dict(clip=(3, 1), scene=(1, 24, 1), stretch=(100, 200),
                                             job=range(1002, 1006), on_disk=range(1002, 1006)),
    "frame_range_run_step_2": dict(scene=(1, 8, 2), job=range(1003, 1006), on_disk=range(1003, 1006)),
    # a run cancelled with holes: the span is the job's, files without a matte read as missing
    "holes": dict(on_disk=(1001, 1002, 1005)),
}


@pytest.mark.parametrize("v", sorted(VERSIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_matte_shown_is_the_matte_of_the_plate_shown(v, tmp_path, plates, case):
    """On every rendered scene frame the compositor's alpha is the matte of the plate file the Movie Clip
    node shows there, or no matte (alpha 0, in both versions: the add-on's gate) when that file has none,
    never another file's matte. Before the fix, after a Frame range run
    of files 1001-1004 of an 8-file clip, scene frames 5-8 (plates 1005-1008) showed the matte of 1004
    (alpha 0.5 everywhere), in 5.0 and 4.2: the matte node spanned the job's files only, and Blender's
    Image node holds its last file past its span."""
    kw = CASES[case]
    on_disk = set(kw.get("on_disk", FILES))
    shown, res = readback(v, tmp_path, plates, **kw)
    stretch = kw.get("stretch", (100, 100))
    assert res["stretch"] == list(stretch) and res["step"] == kw.get("scene", (1, 8, 1))[2]
    plate_frames = [f for f, (pfile, _m, _a) in shown.items() if pfile is not None]
    assert plate_frames, shown
    for f, (pfile, mfile, alpha) in shown.items():
        if pfile is None:           # no plate shown: nothing (Set Alpha's Apply Mask multiplies)
            assert alpha == 0.0, (f, shown)
            continue
        # the Movie Clip shows the file the add-on's gather computes for this frame (unstretched)
        assert pfile == res["files"][str(f)], (f, shown)
        if pfile in on_disk:
            assert mfile == pfile, (f, shown)
        else:   # the gate (before it, 4.2 showed its missing-file placeholder: alpha 2/3)
            assert mfile is None and alpha == 0.0, (f, shown)
    # the interactive path (frame_set, then a still render) agrees with the animation render
    for f, got in res["stills"].items():
        assert got is None or shown[int(f)][2] == pytest.approx(_pixel(got)[3], abs=1e-4), (f, shown)
