"""QA: which plate files a Blender job covers, against the files Blender's Movie Clip node shows (real bpy
5.0.1 and 4.2.23; a test skips when its ``.venv-bpyXX`` is absent; tests/blender/setup_bpy.sh makes them).

Measured here by rendering the compositor's Movie Clip node alone on every scene frame, with plates whose
files carry their number in red (file n: R = (n - 1000) / 16): Blender shows file
``first + (f - frame_start) + frame_offset`` on every scene frame f where that file exists, inside the
clip's range (Start Frame over ``frame_duration`` frames) or not. So with an Offset > 0 the first files
show on the frames before the Start Frame, with an Offset < 0 the last files past its end, and in a
sequence with a missing file every file after the gap (``frame_duration`` counts the files before it).
The add-on's job (``ops.collect``: Run, Check mattes, Matte this frame) covered the clip's range only:
those plates were shown, in a scene range that includes them, and never matted.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_job_frames.py CONFIG.json``
runs the step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "blender"))
from bpy_common import (VERSIONS, bpy_main, cleared_compositor, enable_addon, render_compositor, run_script_in_blender,  # noqa: E402
                        step_scenario)

SIZE = (8, 8)


def plate_value(n):
    return (n - 1000) / 16.0


# --- the bpy side ----------------------------------------------------------------------------------

def _clip_only_tree(sc):
    """A compositor that shows the scene's Movie Clip node alone (4.2: scene.node_tree; 5.0: a group)."""
    tree, dst = cleared_compositor(sc, "clip only")
    node = tree.nodes.new("CompositorNodeMovieClip")
    tree.links.new(node.outputs["Image"], dst.inputs[0])
    return node


def step_mapping(cfg, res):
    """Each case: a clip (Start Frame, Offset), the scene range; the job's frames as the add-on collects
    them (file numbers, or its error) and the Movie Clip node rendered on every scene frame of ``probe``."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    s = sc.samatte
    s.mask, s.tracks = None, "NONE"
    node = _clip_only_tree(sc)
    r = sc.render
    r.resolution_percentage = 100
    for case in cfg["cases"]:
        clip = bpy.data.movieclips.load(case["plate"])
        clip.frame_start, clip.frame_offset = case["clip"]
        node.clip = sc.active_clip = s.clip = clip
        r.resolution_x, r.resolution_y = clip.size
        sc.frame_start, sc.frame_end = case["scene"]
        s.use_range = case.get("range") is not None
        if s.use_range:
            s.frame_start, s.frame_end = case["range"]
        out = {"duration": clip.frame_duration, "scene": [sc.frame_start, sc.frame_end]}   # Blender: >= 0
        try:
            _clip, info, _objects, frames, _notes = addon.ops.collect(bpy.context)
            out["job"] = frames
            out["files"] = {f: info.file(f) for f in range(*case["probe"])}
        except addon.hosterrors.HostError as e:
            out["error"] = addon.hosterrors.describe(e)
        out["renders"] = {}
        for f in range(*case["probe"]):
            sc.frame_set(f)
            out["renders"][f] = render_compositor(sc, os.path.join(cfg["out"], "%s_%d.exr" % (case["name"], f)))
        res[case["name"]] = out
        s.clip = sc.active_clip = node.clip = None
        bpy.data.movieclips.remove(clip)


def step_this_frame(cfg, res):
    """A demo shot of files 1001-1006 as a clip with Start Frame 4, Offset 2 (scene frames 2-7 show files
    1001-1006), the scene range 1-10, a roto keyed on scene frame 5: Find objects, Matte this frame on
    scene frame 2 (file 1001, before the Start Frame), Check mattes, the compositor on scene frames 2 and 3."""
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.frame_start, clip.frame_offset = 4, 2
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, 10
    r = sc.render
    r.resolution_x, r.resolution_y = clip.size
    r.resolution_percentage = 100
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    for i, (p, xy) in enumerate(zip(sp.points, cfg["polygon"])):
        p.handle_left_type = p.handle_right_type = "FREE"
        p.co = p.handle_left = p.handle_right = addon.convert.px_to_mask(xy, info.size)
        for attr in ("co", "handle_left", "handle_right"):
            mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (i, attr), frame=5)
    s = sc.samatte
    s.mask, s.tracks = mask, "NONE"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = os.path.join(cfg["out"], "samatte")
    res["scan"] = addon.ops.scan(bpy.context)
    sc.frame_set(2)
    try:
        run, report = addon.ops.run_blocking(bpy.context, this_frame=True)
        res["this_2"] = {"report": list(report), "written": run.result["written"],
                         "frames": run.job["plate"]["frames"],
                         "prompts": sorted({p["frame"] for o in run.job["objects"] for p in o["prompts"]})}
    except addon.hosterrors.HostError as e:
        res["this_2"] = {"error": addon.hosterrors.describe(e)}
    res["status"] = addon.ops.matte_status(bpy.context)
    res["renders"] = {}
    for f in (2, 3):
        sc.frame_set(f)
        res["renders"][f] = render_compositor(sc, os.path.join(cfg["out"], "comp_%d.exr" % f))


STEPS = {"mapping": step_mapping, "this_frame": step_this_frame}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


def _write(path, n):
    import numpy as np
    import OpenImageIO as oiio
    w, h = SIZE
    spec = oiio.ImageSpec(w, h, 3, oiio.HALF)
    spec.attribute("compression", "zip")
    buf = oiio.ImageBuf(spec)
    buf.set_pixels(oiio.ROI(), np.tile(np.array([plate_value(n), 0.5, 0.25], np.float32), (h, w, 1)))
    assert buf.write(path), buf.geterror()


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    """``full``: files 1001-1008; ``gap``: 1001-1003 and 1005-1008 (1004 missing)."""
    out = {}
    for name, files in (("full", range(1001, 1009)), ("gap", (1001, 1002, 1003, 1005, 1006, 1007, 1008))):
        d = tmp_path_factory.mktemp("jobframes_" + name)
        for n in files:
            _write(str(d / ("plate.%04d.exr" % n)), n)
        out[name] = str(d / "plate.1001.exr")
    return out


def _case(name, plate, clip, scene, rng=None):
    lo = min(scene[0], clip[0]) - 4
    hi = max(scene[1], clip[0] + 8) + 4
    return {"name": name, "plate": plate, "clip": list(clip), "scene": list(scene), "range": rng,
            "probe": [lo, hi + 1]}


def _cases(plates):
    cases = []
    for start in (1, 4, -3):
        for offset in (0, 2, -2):
            for label, scene in (("wide", (start - 5, start + 12)), ("narrow", (start + 2, start + 5))):
                cases.append(_case("s%d_o%d_%s" % (start, offset, label), plates["full"], (start, offset), scene))
    for clip in ((1, 0), (4, 2), (1, -2)):
        cases.append(_case("gap_s%d_o%d" % clip, plates["gap"], clip, (clip[0] - 4, clip[0] + 12)))
    # the panel's Frame range on the frames before the Start Frame that show files 1001-1002
    cases.append(_case("range_before_start", plates["full"], (4, 2), (4, 11), rng=(1, 3)))
    return cases


def _pixel(path):
    import OpenImageIO as oiio
    px = oiio.ImageBuf(path).get_pixels(oiio.FLOAT)
    return [float(v) for v in px[SIZE[1] // 2, SIZE[0] // 2]]


def _shown(renders):
    """{scene frame: the plate file the Movie Clip node shows there} (frames showing none left out)."""
    out = {}
    for f, path in renders.items():
        r, _g, _b, a = _pixel(path)
        if a > 0.5:
            out[int(f)] = int(round(r * 16)) + 1000
    return out


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_the_job_covers_every_plate_file_blender_shows(v, tmp_path, plates):
    """For Start Frame 1 / 4 / -3, Offset 0 / 2 / -2, a scene range wider and narrower than the clip, and a
    sequence with a missing file: the add-on's file of each scene frame is the file the Movie Clip node
    shows there; the job's files are exactly the files Blender shows on the frames of the clip's range
    and of the scene's range (with the panel's Frame range: on its frames), each once.

    Before the fix (bpy 5.0.1 and 4.2.23 alike) the job was the clip's range only: Start Frame 4, Offset
    2, scene 1-12: files 1001-1002 shown on scene frames 2-3 and not in the job (1003-1008); Offset -2:
    files 1007-1008 shown past the clip's end, not in the job; the gap: 1005-1008 shown on scene frames
    5-8, the job 1001-1003; a Frame range of 1-3 with Start Frame 4: FRAME_RANGE_INVALID."""
    cases = _cases(plates)
    cfg = {"python": sys.executable, "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": "mapping", "cases": cases}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    for case in cases:
        got = res[case["name"]]
        shown = _shown(got["renders"])
        assert shown, case["name"]
        assert "error" not in got, (case["name"], got.get("error"))
        files = {int(f): n for f, n in got["files"].items()}
        for f, n in shown.items():          # the mapping: the file the add-on gives is the file shown
            assert files[f] == n, (case["name"], f, n, files[f])
        if case["range"] is not None:
            ranges = [case["range"]]
        else:
            start, dur = case["clip"][0], got["duration"]
            ranges = [(start, start + dur - 1), got["scene"]]
        want = sorted(n for f, n in shown.items() if any(lo <= f <= hi for lo, hi in ranges))
        assert got["job"] == want, (case["name"], got["job"], want, shown)
    # the measurement itself (both versions): files shown before the Start Frame, past its end, after a gap
    assert _shown(res["s4_o2_wide"]["renders"])[2] == 1001
    assert _shown(res["s1_o-2_wide"]["renders"])[10] == 1008 and res["s1_o-2_wide"]["duration"] == 8
    gap = _shown(res["gap_s1_o0"]["renders"])
    assert res["gap_s1_o0"]["duration"] == 3 and 4 not in gap and gap[5] == 1005 and gap[8] == 1008
    assert res["range_before_start"]["job"] == [1001, 1002]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("jobframes_shot")), frames=6, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_matte_this_frame_and_check_mattes_before_the_start_frame(v, tmp_path, shot):
    """Start Frame 4, Offset 2, the scene range 1-10: scene frame 2 shows file 1001. Matte this frame
    there writes the matte of 1001 (the roto keyed on scene frame 5 lands on file 1004, the file shown
    there), Check mattes counts the six files shown (1 current, scene frames 3-7 not made), and the compositor shows
    the matte of 1001 on scene frame 2 and no matte on 3. Before: '[FRAME_RANGE_INVALID] Matte this
    frame: scene frame 2 (plate file 1001) is not one of the job's frames (scene frames 4-7)', Check
    mattes counted 4 frames."""
    import numpy as np
    import OpenImageIO as oiio
    cfg = {"python": sys.executable, "plate": shot["plate"].replace("####", "1001"), "polygon": shot["polygon"],
           "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"), "step": "this_frame"}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    assert res["scan"].splitlines()[0] == "plate.1001.exr: scene frames 2-7 (files 1001-1006), 6 frames, 64x64", res["scan"]
    run = res["this_2"]
    assert "error" not in run, run
    assert [os.path.basename(p) for p in run["written"]] == ["plate_matte.1001.exr"], run
    assert run["frames"] == "1001-1006" and run["prompts"] == [1004], run
    assert res["status"][:2] == ["mattes: 1 of 6 frames current; Run to update the others", "not made 3-7"], \
        res["status"]

    def alpha(path):
        buf = oiio.ImageBuf(path)
        return buf.get_pixels(oiio.FLOAT)[..., buf.spec().channelindex("A")]
    want = alpha(run["written"][0])
    got = {int(f): alpha(p) for f, p in res["renders"].items()}
    assert want.max() > 0.5 and float(np.abs(got[2] - want).max()) == 0.0
    assert float(np.abs(got[3] - want).max()) > 0.5     # no matte of 1002 yet: never 1001's


def test_sequence_numbers_are_the_files_blender_reads(tmp_path):
    """``convert.sequence_numbers`` (no bpy): the numbers whose file Blender reads exist (its name for n is
    ``%0*d``: a wrongly padded or negative name is not one), never another sequence's files."""
    from addon_plain import plain
    convert = plain("convert")
    for name in ("plate.1001.exr", "plate.1003.exr", "plate.10000.exr", "plate.01002.exr", "plate.-001.exr",
                 "plate.1004.exr.tmp", "other.1005.exr", "plate.1006.png"):
        (tmp_path / name).write_bytes(b"")
    assert convert.sequence_numbers(str(tmp_path / "plate.####.exr")) == [1001, 1003, 10000]
    assert convert.sequence_numbers(str(tmp_path / "gone" / "plate.####.exr")) == []
