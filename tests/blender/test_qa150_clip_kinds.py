"""QA150 (a Blender user's day 12): clips samatte cannot read, and what the panel says about them (bpy-free with a
stand-in clip, and in real bpy 5.0.1 / 4.2.23, where a test skips without its ``.venv-bpyXX``).

A still image with no number in its name (``still.png``, a matte painting opened as a Movie Clip) is a clip Blender
calls ``SEQUENCE`` (one frame). Find objects, Check mattes and Run said ``samatte needs an image sequence ...; clip
'still.png' is SEQUENCE (...): render it to an image sequence``: that it is a sequence and must be made one. Now it
names what the clip is (a single image with no frame number in its name; a movie file) and what to do for each.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa150_clip_kinds.py CONFIG.json``.
"""
import os
import types

from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, step_scenario  # noqa: E402


def step_kinds(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    for key in ("still", "movie"):
        clip = bpy.data.movieclips.load(cfg[key])
        res[key + "_source"] = clip.source
        sc.active_clip = clip
        sc.samatte.clip = clip
        sc.samatte.mask = box_mask(addon, "Roto " + key, "hero", [(4, 4), (20, 4), (20, 20), (4, 20)], tuple(clip.size))
        res[key + "_scan"] = addon.ops.scan(bpy.context)


STEPS = {"kinds": step_kinds}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402

from addon_plain import plain  # noqa: E402

gather = plain("gather")
hosterrors = plain("hosterrors")


def _clip(name, source):
    return types.SimpleNamespace(name=name, filepath="//" + name, source=source, size=(32, 24), frame_start=1,
                                 frame_offset=0, frame_duration=1, library=None,
                                 colorspace_settings=types.SimpleNamespace(name="sRGB"),
                                 tracking=types.SimpleNamespace(camera=types.SimpleNamespace(pixel_aspect=1.0)))


def _error(clip):
    with pytest.raises(hosterrors.HostError) as e:
        gather.clip_info(clip, abspath=lambda p: "/shots/sh010/" + p[2:])
    assert e.value.code == "PLATE_INVALID"
    return e.value.message


def test_a_still_image_is_named_as_such_with_what_to_do():
    msg = _error(_clip("still.png", "SEQUENCE"))
    # before: "... clip 'still.png' is SEQUENCE (/shots/sh010/still.png): render it to an image sequence ..."
    assert "is SEQUENCE" not in msg, msg
    assert "clip 'still.png' is a single image with no frame number in its file name (/shots/sh010/still.png)" in msg
    assert "give the file a frame number (still.0001.png)" in msg, msg


def test_a_movie_file_is_named_as_such_with_what_to_do():
    msg = _error(_clip("shot_010_v2.mp4", "MOVIE"))
    assert "clip 'shot_010_v2.mp4' is a movie file (/shots/sh010/shot_010_v2.mp4)" in msg, msg
    assert "render it to an image sequence (EXR, PNG...) and open its first file as the clip" in msg, msg


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    cv2 = pytest.importorskip("cv2")
    import numpy as np
    root = tmp_path_factory.mktemp("qa150_kinds")
    still = str(root / "still.png")
    cv2.imwrite(still, np.full((24, 32, 3), 128, np.uint8))
    movie = str(root / "shot_010.avi")
    w = cv2.VideoWriter(movie, cv2.VideoWriter_fourcc(*"MJPG"), 24, (32, 24))
    for i in range(3):
        im = np.zeros((24, 32, 3), np.uint8)
        im[4:20, 4 + i:20 + i] = 255
        w.write(im)
    w.release()
    return {"still": still, "movie": movie}


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_in_blender_find_objects_says_what_the_clip_is(v, tmp_path, files):
    import sys
    from bpy_common import run_script_in_blender
    cfg = {"python": sys.executable, "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": "kinds", "still": files["still"], "movie": files["movie"]}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    assert res["still_source"] == "SEQUENCE", res      # what Blender calls a still opened as a Movie Clip
    assert res["still_scan"].startswith("[PLATE_INVALID]"), res["still_scan"]
    assert "is a single image with no frame number" in res["still_scan"], res["still_scan"]
    assert "still.0001.png" in res["still_scan"], res["still_scan"]
    if res["movie_source"] == "MOVIE":      # (a bpy built without a movie reader would open no such clip)
        assert "is a movie file (%s)" % os.path.normpath(files["movie"]) in res["movie_scan"], res["movie_scan"]
