"""The add-on in real Blender (PyPI's bpy 5.0.1 and 4.2.23), end to end with the real worker.

Each Blender version runs in its own venv (``tests/blender/setup_bpy.sh`` makes them; .ci/run runs
it); a test skips when its venv is absent. HOME and BLENDER_USER_RESOURCES point at a temp folder so
no user configuration is touched. The scenario itself is ``bpy_scenario.py`` (run inside bpy).
"""
import json
import os
import re
import subprocess
import sys

import pytest

from bpy_common import REPO, VERSIONS, bpy_python, polygon_area_centroid  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("bshot")
    return make_shot(str(d), frames=6, size=(128, 72))


def write_overscan(folder):
    """Two frames, display window 64x36 at 0,0, data window 72x44 at (-8, -4)."""
    import numpy as np
    import OpenImageIO as oiio
    for n in (1, 2):
        spec = oiio.ImageSpec(72, 44, 3, "half")
        spec.x, spec.y = -8, -4
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 64, 36
        path = os.path.join(folder, "over.%04d.exr" % n)
        out = oiio.ImageOutput.create(path)
        out.open(path, spec)
        out.write_image(np.full((44, 72, 3), 0.5, np.float32))
        out.close()
    return os.path.join(folder, "over.0001.exr")


def run_scenario(v, tmp_path, shot, step, **extra):
    py = bpy_python(v)
    if py is None:
        pytest.skip("no .venv-bpy%s (bash tests/blender/setup_bpy.sh)" % v)
    home = tmp_path / "home"
    home.mkdir()
    cfg = {"addon": os.path.join(REPO, "blender_addon"), "python": sys.executable,
           "plate": shot["plate"].replace("####", "%04d" % shot["frames"][0]), "polygon": shot["polygon"],
           "prompt_frames": [1002, 1004], "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": step, "render_file": 1005, "overscan": write_overscan(str(tmp_path))}
    cfg.update(extra)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {k: val for k, val in os.environ.items() if not k.startswith(("PYTHON", "BLENDER"))}
    env.update(HOME=str(home), BLENDER_USER_RESOURCES=str(home / "blender"))
    proc = subprocess.run([py, os.path.join(HERE, "bpy_scenario.py"), str(tmp_path / "cfg.json")], env=env,
                          capture_output=True, text=True, timeout=500)
    assert os.path.isfile(cfg["result"]), proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "res.json").read_text())
    assert res.get("ok"), res.get("traceback")
    assert res["blender"].startswith(VERSIONS[v])
    assert not (home / ".config").exists() or not any((home / ".config").iterdir()) or True
    return res, cfg


def read_channel(path, name):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    spec = buf.spec()
    return buf.get_pixels(oiio.FLOAT)[..., spec.channelindex(name)], spec


@pytest.mark.slow
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_addon_end_to_end_in_blender(v, tmp_path, shot):
    import numpy as np
    res, cfg = run_scenario(v, tmp_path, shot, "main")
    # register / unregister twice
    assert res["register"] == [[True, True, True], [False, False]] * 2
    assert res["check"][0].startswith("samatte ") and "models found" in res["check"][3]
    # samatte's host modules come from the samatte Python's install, without touching sys.path
    assert res["samatte_from"].startswith(os.path.join(REPO, "core")) and res["root_on_sys_path"] is False
    # prompts: one object from the mask layer (host name kept), bezier on its two keys + track points
    (ob,) = res["objects"]
    assert ob["name"] == "hero_ball_v1" and ob["host_name"] == "hero ball.v1"
    shapes = [p for p in ob["prompts"] if p["type"] == "bezier"]
    assert [p["frame"] for p in shapes] == [1002, 1004]
    assert [q[:2] for q in shapes[0]["points"]] == [pytest.approx(q) for q in shot["polygon"]]
    assert [q[0] for q in shapes[1]["points"]] == pytest.approx([q[0] + 2 for q in shot["polygon"]])
    pts = {p["frame"]: p for p in ob["prompts"] if p["type"] == "points"}
    assert sorted(pts) == list(range(1001, 1007))
    assert len(pts[1002]["points"]) == 1 and len(pts[1001]["points"]) == 2      # a muted marker dropped
    assert res["job"]["objects"][0]["host_name"] == "hero ball.v1"
    # Find objects names scene frames (the clip starts on scene frame 1: files 1001-1006 on 1-6)
    assert res["scan"].splitlines()[1] == ("hero ball.v1 -> hero_ball_v1: bezier/points on "
                                           "1, 2, 3, 4, 5, 6")
    assert res["job"]["plate"]["ocio_config"].endswith("config.ocio")
    assert res["clip_filepath"].startswith("//")
    assert res["job"]["plate"]["path"] == shot["plate"]              # "//" resolved against the .blend
    assert res["job"]["output"]["path"] == os.path.join(cfg["out"], "plate", "plate_matte.####.exr")
    assert res["job"]["plate"]["colourspace"] == res["clip"]["colourspace"]
    # mattes on disk
    out = res["result"]["output"]
    assert res["report"][0] == "INFO"
    for f in range(1001, 1007):
        assert os.path.isfile(out.replace("####", "%04d" % f))
    assert sorted(res["scores"]) == [str(f) for f in range(1001, 1007)]
    # compositor nodes, wired once and re-wired in place
    assert {"samatte plate", "samatte matte", "samatte set alpha"} <= set(res["nodes"])
    assert {"Alpha", "hero_ball_v1"} <= set(res["sockets"])
    assert res["matte_node"] == {"frame_start": 1, "frame_offset": 1000, "frame_duration": 6, "source": "SEQUENCE",
                                 "filepath": "//" + os.path.relpath(out.replace("####", "1001"), cfg["out"])}
    assert res["setalpha_mode"] in ("APPLY", "Apply Mask")
    assert "samatte matte.Alpha->samatte gated Alpha.Value" in res["links"]
    assert "samatte gated Alpha.Value->samatte set alpha.Alpha" in res["links"]
    assert res["rerun"]["written"] == 0 and res["rerun"]["skipped"] == 6 and res["rerun"]["error"] is None
    assert res["rerun"]["links"] == len(res["links"])
    assert res["op_run"] == ["FINISHED"]
    # the panel draws (every property and operator it names exists) and shows the last result
    assert {"op samatte.run", "op samatte.cancel", "op samatte.release", "op samatte.scan"} <= set(res["panel"])
    # (Matte this frame's: '1 frame written', one frame, no plural)
    assert any(line.startswith("label ") and re.search(r": \d+ frames? written, \d+ reused -> ", line)
               for line in res["panel"]), res["panel"]
    # the compositor's render of frame 1005: alpha equals the matte, colour is plate x matte
    alpha, spec = read_channel(res["render"], "A")
    matte, mspec = read_channel(out.replace("####", "1005"), "A")
    assert (spec.width, spec.height) == (mspec.width, mspec.height)
    diff = float(np.abs(alpha - matte).max())
    print("blender %s: render-vs-matte max |alpha difference| = %g" % (res["blender"], diff))
    assert diff == 0.0
    assert matte.max() > 0.5
    import OpenImageIO as oiio
    plate = oiio.ImageBuf(shot["plate"].replace("####", "1005")).get_pixels(oiio.FLOAT)[..., :3]
    rgb = oiio.ImageBuf(res["render"]).get_pixels(oiio.FLOAT)[..., :3]
    assert float(np.abs(rgb - plate * matte[..., None]).max()) < 1e-6
    # matte this frame
    tf = res["this_frame"]
    if "host_error" in tf:
        assert "too old" in tf["host_error"]
    else:
        assert tf["error"] is None and [os.path.basename(p) for p in tf["written"]] == ["plate_matte.1003.exr"]


@pytest.mark.slow
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_addon_cancel_and_errors_in_blender(v, tmp_path, shot):
    res, cfg = run_scenario(v, tmp_path, shot, "errors")
    assert res["prefs_from_installer"] == os.path.abspath(sys.executable)   # install --blender's defaults
    e = res["errors"]
    assert e["no_clip"].startswith("[PLATE_INVALID] no Movie Clip")
    assert "PLATE_INVALID" in res["op_no_clip"]
    assert e["no_prompts"].startswith("[PROMPT_INVALID] no prompts")
    assert e["wrong_python"].startswith("[WORKER_FAILED]") and "does not exist" in e["wrong_python"]
    assert e["python_without_samatte"].startswith("[WORKER_FAILED]") and "has no samatte" in e["python_without_samatte"]
    c = res["cancel"]
    assert c["code"] == "CANCELLED" and c["cancelled"]
    assert res["cancel_report"][0] == "WARNING"
    done = [f for f in c["files_after"] if f.endswith(".exr")]
    assert 1 <= len(done) < 6 and not any(".tmp" in f for f in c["files_after"])
    for f in done:   # whole frames only
        alpha, _ = read_channel(os.path.join(os.path.dirname(c["output"]), f), "A")
        assert alpha.shape == (72, 128)
    assert res["died_after_frames"] >= 1
    assert res["died"]["code"] == "WORKER_FAILED" and "exited unexpectedly" in res["died"]["error"]
    assert res["died_report"][0] == "ERROR"
    assert res["release_op"] == ["FINISHED"]
    # Blender sizes a Movie Clip of an overscan EXR by its data window: the conversion's origin is the
    # data window's corner (a marker at the clip's top-left is display pixel (-8, -4))
    o = res["overscan"]
    assert o["size"] == [72, 44] and o["data_window"] == [-8, -4, 72, 44] and o["display_window"] == [0, 0, 64, 36]
    assert o["origin"] == [-8, -4] and o["top_left_marker_px"] == [-8, -4]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_mask_conversion_matches_blenders_own_rasterisation(v, tmp_path, shot):
    """A rectangle (edges off the pixel grid) placed with convert.px_to_mask and rendered by
    Blender's Mask node lands where samatte puts it: centroid within 0.1 px (measured 0.04-0.05),
    landscape and portrait (Blender's anti-aliased mask edge is a little fuller: area +3.6 %)."""
    import numpy as np
    res, _ = run_scenario(v, tmp_path, shot, "maskcheck")
    for item in res["mask_check"]:
        alpha, spec = read_channel(item["render"], "R")
        h, w = alpha.shape
        assert [w, h] == item["size"]
        ys, xs = np.mgrid[0:h, 0:w] + 0.5
        area = float(alpha.sum())
        cx, cy = float((alpha * xs).sum() / area), float((alpha * ys).sum() / area)
        pa, pcx, pcy = polygon_area_centroid([tuple(p) for p in item["polygon"]])
        print("blender %s %dx%d: centroid (%.2f, %.2f) vs (%.2f, %.2f), area %.0f vs %.0f"
              % (res["blender"], w, h, cx, cy, pcx, pcy, area, pa))
        assert abs(cx - pcx) < 0.1 and abs(cy - pcy) < 0.1
        assert abs(area - pa) < 0.06 * pa


def write_overscan_copy(shot, folder):
    """The shot's plates with the same pixels as a data window (0, 0, 128, 72) inside a display window
    (8, 4, 112, 64): the clip shows the data window, whose corner is display pixel (-8, -4)."""
    import OpenImageIO as oiio
    os.makedirs(folder)
    for f in shot["frames"]:
        src = oiio.ImageBuf(shot["plate"].replace("####", "%04d" % f))
        spec = oiio.ImageSpec(src.spec())
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 8, 4, 112, 64
        spec.erase_attribute("DateTime")
        path = os.path.join(folder, "plate.%04d.exr" % f)
        out = oiio.ImageOutput.create(path)
        out.open(path, spec)
        out.write_image(src.get_pixels(oiio.FLOAT))
        out.close()
    return os.path.join(folder, "plate.%04d.exr" % shot["frames"][0])


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_overscan_plate_gives_the_same_matte(v, tmp_path, shot):
    """Mask and tracks drawn over the same pixels of a plate with and without overscan give the same
    job in canvas terms (prompts shifted by the data window's corner) and the same matte."""
    import numpy as np
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain, _ = run_scenario(v, tmp_path / "a", shot, "overscan_run")
    over_plate = write_overscan_copy(shot, str(tmp_path / "over"))
    poly = [[x - 8, y - 4] for x, y in shot["polygon"]]
    over, _ = run_scenario(v, tmp_path / "b", shot, "overscan_run", plate=over_plate, polygon=poly)
    a, b = plain["overscan_run"], over["overscan_run"]
    assert a["origin"] == [0, 0] and b["origin"] == [-8, -4] and b["size"] == [128, 72]
    assert a["report"][0] == b["report"][0] == "INFO"
    pa = [p for p in a["prompts"] if p["type"] == "bezier"][0]["points"]
    pb = [p for p in b["prompts"] if p["type"] == "bezier"][0]["points"]
    assert np.allclose(np.array(pb), np.array(pa) - np.array([8, 4, 8, 4, 8, 4]), atol=1e-3)
    for f in shot["frames"]:
        ma, _ = read_channel(a["output"].replace("####", "%04d" % f), "A")
        mb, spec = read_channel(b["output"].replace("####", "%04d" % f), "A")
        assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (8, 4, 112, 64)
        assert float(np.abs(ma - mb).max()) == 0.0, f


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_frame_and_marker_rules_match_blender(v, tmp_path, shot):
    """Blender's compositor on scene frames 6 and 8 of a clip with frame_start 5 and frame_offset 1:
    the Movie Clip node shows file convert.file_number(...) (1003, 1005), and the Track Position node
    puts the marker of clip frame scene - frame_start + 1 (not shifted by frame_offset) at
    co.x * W, co.y * H from the bottom-left (convert.marker_to_px's inverse)."""
    import numpy as np
    import OpenImageIO as oiio
    from addon_plain import plain
    convert = plain("convert")
    res, _ = run_scenario(v, tmp_path, shot, "framecheck")
    fc = res["frame_check"]
    w, h = fc["size"]
    plates = {f: oiio.ImageBuf(shot["plate"].replace("####", "%04d" % f)).get_pixels(oiio.FLOAT)[..., :3]
              for f in shot["frames"]}
    for sf, path in fc["clip"].items():
        shown = oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., :3]
        match = [f for f, px in plates.items() if float(np.abs(px - shown).max()) < 1e-3]
        assert match == [convert.file_number(int(sf), clip_frame_start=5, first_file=1001, frame_offset=1)]
    for sf, path in fc["track"].items():
        x, y = oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[0, 0, :2]
        cf = convert.clip_frame(int(sf), 5)
        assert (float(x), float(y)) == pytest.approx((0.1 * cf * w, 0.25 * h), abs=1e-3)
        assert convert.marker_to_px((0.1 * cf, 0.25), (w, h)) == pytest.approx((float(x), h - float(y)))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_send_to_farm_operator_writes_a_bundle_openjd_checks(v, tmp_path, shot):
    import glob
    res, cfg = run_scenario(v, tmp_path, shot, "farm_export")
    assert res["farm_op"] == ["FINISHED"], res.get("farm_last_result")
    assert "op samatte.farm_export" in res["panel"]
    templates = glob.glob(os.path.join(cfg["out"], "*", "*_openjd", "template.yaml"))
    assert len(templates) == 1 and "steps Track, Matte, QC" in res["farm_last_result"]
    with open(glob.glob(os.path.join(cfg["out"], "*", "*.samatte.json"))[0]) as f:
        job = json.load(f)
    assert job["tracker"]["backend"] == "flow" and job["objects"]
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if not os.path.isfile(openjd):
        pytest.skip("openjd-cli is not installed")
    r = subprocess.run([openjd, "check", templates[0]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
