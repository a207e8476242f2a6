"""QA: a third afternoon of a compositing artist in real bpy 5.0.1 and 4.2.23 (a test skips when its
``.venv-bpyXX`` is absent; tests/blender/setup_bpy.sh makes them), the add-on driven through its operators.

Found: a clip whose Color Space the artist sets to a log one (``AgX Log``) while its EXR files hold
scene-linear light: the plate decodes to values near float32's limit (~1e38), the quality map's squared
residuals overflowed (inf / inf = NaN), every frame's score was NaN (``samatte/score: nan`` in the EXR,
``null`` in the worker's result), and Blender's Run raised a Python traceback (``float(None)`` in
``JobRun._finish``) after the mattes were written: the compositor was not wired and the panel's Last result
kept the previous run's. Two scenes sharing one clip, each with its own mask and the same Output: the
second scene's Run silently overwrote the mattes the first scene's compositor shows.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_day3.py CONFIG.json``.
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "blender"))
from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario, op_result as _op, box_mask as _box_mask, scene_for as _scene_for  # noqa: E402


# --- the bpy side ----------------------------------------------------------------------------------


def step_log_clip(cfg, res):
    """The clip's Color Space set to a log one over linear EXRs; Run."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    clip.colorspace_settings.name = cfg["colourspace"]
    mask = _box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    s = _scene_for(sc, clip, mask, cfg["out"])
    _op(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result
    res["scores"] = s.last_scores
    run = addon.ops.current_run()
    res["job_colourspace"] = run.job["plate"].get("colourspace") if run is not None else None
    tree = addon.compositor.existing_tree(sc)
    res["wired"] = tree is not None and addon.compositor.NODE_MATTE in tree.nodes


def _md5(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def step_two_scenes(cfg, res):
    """Scene A runs its roto on a clip; scene B (the same clip, its own mask, the same Output) runs."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    a = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    size = tuple(clip.size)
    sa = _scene_for(a, clip, _box_mask(addon, "Roto A", "hero", cfg["polygon"], size), cfg["out"])
    _op(res, "run_a", bpy.ops.samatte.run)
    pattern = addon.ops.current_run().job["output"]["path"]
    first = pattern.replace("####", "1001")
    res["md5_a"] = _md5(first)
    b = bpy.data.scenes.new("Shot B")
    bpy.context.window.scene = b
    sb = _scene_for(b, clip, _box_mask(addon, "Roto B", "car", [(4, 4), (20, 4), (20, 20), (4, 20)], size),
                    cfg["out"])
    _op(res, "run_b", bpy.ops.samatte.run)
    _op(res, "farm_b", bpy.ops.samatte.farm_export)
    res["md5_after_b"] = _md5(first)
    bpy.context.window.scene = a
    _op(res, "status_a", bpy.ops.samatte.status)
    res["status_a"] = sa.status_result
    # B with A's mask and settings makes A's mattes: allowed (reused)
    bpy.context.window.scene = b
    sb.mask = sa.mask
    _op(res, "run_b_same", bpy.ops.samatte.run)
    res["last_b_same"] = sb.last_result
    # B with its own mask in another Output folder
    sb.mask = bpy.data.masks["Roto B"]
    sb.output_dir = cfg["out"] + "_b"
    _op(res, "run_b_own", bpy.ops.samatte.run)
    res["last_b_own"] = sb.last_result
    res["md5_end"] = _md5(first)
    # both panels name no Mask (each scene takes the Clip Editor's, the same one): not refused
    roto_a, sa.mask, sb.mask = sa.mask, None, None
    sb.output_dir = cfg["out"]
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    try:
        addon.ops._check_output_is_ours(b, clip, info, pattern, mask=roto_a)
        res["editor_masks"] = "ok"
    except Exception as e:  # noqa: BLE001 - the test reads it
        res["editor_masks"] = str(e)


def step_hidden_track(cfg, res):
    """A roto plus two selected tracks; the artist hides the bad one (Blender's Hide Tracks sets only the track's
    hidden flag: it stays selected) and runs."""
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    w, h = clip.size
    s = _scene_for(sc, clip, _box_mask(addon, "Roto", "hero", cfg["polygon"], (w, h)), cfg["out"])
    for name, (x, y) in (("hero eye", cfg["good"]), ("hero bad", cfg["bad"])):
        tr = clip.tracking.tracks.new(name=name, frame=1)
        for cf in range(1, clip.frame_duration + 1):
            tr.markers.insert_frame(cf, co=(x / w, 1.0 - y / h))
        tr.select = True
    bad = clip.tracking.tracks["hero bad"]
    bad.hide = True                 # what H does: TRACK_HIDDEN set, the selection kept
    res["bad_still_selected"] = bool(bad.select)
    _op(res, "run", bpy.ops.samatte.run)
    res["last"] = s.last_result
    run = addon.ops.current_run()
    res["points"] = sorted({tuple(pt[:2]) for ob in run.job["objects"] for p in ob["prompts"]
                            if p["type"] == "points" for pt in p["points"]}) if run is not None else None
    res["notes"] = list(getattr(run, "notes", []) or [])


STEPS = {"log_clip": step_log_clip, "two_scenes": step_two_scenes, "hidden_track": step_hidden_track}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day3_shot")), frames=4, size=(64, 64), first=1001)


def test_pixel_doubt_is_finite_on_a_plate_at_float32_range():
    """An edge between a background near float32's limit (a linear plate decoded as a log colourspace) and a
    dimmer foreground: the residual's square overflowed, inf / inf gave a NaN doubt and a NaN band_doubt.
    Now the overflowing pixels are measured in float64, scaled first; the others keep their bits."""
    from samatte.matte.quality import frame_score, pixel_doubt
    h, w = 16, 16
    a = np.zeros((h, w), np.float32)
    a[:, 8:] = 1.0
    a[:, 7] = 0.5
    B = np.full((h, w, 3), 1.3e38, np.float32)
    F = np.full((h, w, 3), 1e24, np.float32)
    img = (a[..., None] * F + (1 - a[..., None]) * B).astype(np.float32)
    img[:, 7] *= 0.9    # a residual on the edge band
    with np.errstate(all="ignore"):
        doubt, stats = pixel_doubt(img, a, F, B)
    assert np.isfinite(doubt).all() and doubt.min() >= 0.0 and doubt.max() <= 1.0
    assert all(math.isfinite(v) for v in stats.values()), stats
    assert 0.0 < stats["residual"] < 1.0, stats   # the same ratio as on a plate 1e36 times dimmer:
    with np.errstate(all="ignore"):
        _d, small = pixel_doubt(img / np.float32(1e36), a, F / np.float32(1e36), B / np.float32(1e36))
    assert stats["residual"] == pytest.approx(small["residual"], rel=1e-4)
    assert math.isfinite(frame_score([0.9], stats["band_doubt"]))


def test_frame_score_is_never_nan():
    from samatte.matte.quality import frame_score
    assert frame_score([0.8], float("nan")) == 0.0
    assert frame_score([float("nan")], 0.1) == 0.0
    assert frame_score([0.8], 0.2) == pytest.approx(0.72)


def test_log_colourspace_over_linear_plate_scores_every_frame(shot, tmp_path):
    """The job a Blender clip in ``AgX Log`` makes (Blender's own OCIO config when the bpy venv is here,
    else the AgX Log-like case is the unit test above): every frame gets a finite score."""
    from bpy_common import bpy_python
    py = bpy_python("50")
    cfgs = []
    if py is not None:
        import glob
        cfgs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(py)), "lib", "python3*", "site-packages",
                                      "bpy", "*", "datafiles", "colormanagement", "config.ocio"))
    if not cfgs:
        pytest.skip("no Blender OCIO config (.venv-bpy50)")
    from samatte import jobspec, pipeline
    job = jobspec.new_job(shot["plate"], str(tmp_path / "m.####.exr"), frames="1001-1004", colourspace="AgX Log",
                          ocio_config=cfgs[0], tracker="flow", matte="refine", quality="draft", device="cpu")
    job["objects"].append({"name": "hero", "prompts": [{"frame": 1001, "type": "polygon",
                                                        "points": shot["polygon"]}]})
    with np.errstate(all="ignore"):
        res = pipeline.run(jobspec.validate(job))
    assert sorted(res["scores"]) == ["1001", "1002", "1003", "1004"]
    assert all(v is not None and math.isfinite(v) for v in res["scores"].values()), res["scores"]


def test_job_run_takes_a_result_with_a_null_score():
    """A result whose score of a frame is null (a frame the worker could not score): ``JobRun._finish`` raised
    TypeError (``float(None)``), so Blender's Run ended in a traceback after the mattes were written."""
    import types
    from addon_plain import plain
    jobs = plain("jobs")
    run = jobs.JobRun({"name": "j"}, None)
    run.handle = types.SimpleNamespace(
        done=True, error=None, poll=lambda: [],
        result={"scores": {"1001": None, "1002": 0.5}, "written": ["a", "b"], "skipped": []})
    run.poll()
    assert run.done and run.error is None
    assert run.scores == {1002: 0.5} and run.written == 2


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_log_clip_run_reports_and_wires(v, tmp_path, shot):
    """Blender: the clip's Color Space ``AgX Log`` over linear EXRs. Before: Run raised a traceback
    (``float() argument must be ... not 'NoneType'``), nothing wired, no scores. Now: FINISHED, the job names
    the clip's colourspace, a score on every frame, the compositor wired."""
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "log_clip", colourspace="AgX Log")
    assert res["run"] == ["ok", ["FINISHED"]], res["run"]
    assert res["job_colourspace"] == "AgX Log"
    assert "4 frames written" in res["last"], res["last"]
    assert len(res["scores"].split()) == 4, res["scores"]
    assert res["wired"] is True


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_second_scene_of_a_clip_does_not_overwrite_the_first_scenes_mattes(v, tmp_path, shot):
    """Two scenes of one clip, each with its own mask, the same Output (the default ``//samatte/``): the output
    path is the clip's, so scene B's Run silently rewrote the 4 mattes scene A's compositor shows (its render
    then showed B's roto; Check mattes in A said 0 of 4 current, 'roto ... changed'; A's Run rewrote B's).
    Now B's Run and Send to farm are refused with OUTPUT_INVALID naming scene A and the differing settings, before
    anything is written; B with A's mask and settings reuses A's mattes; B in its own Output folder runs."""
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "two_scenes")
    assert res["run_a"] == ["ok", ["FINISHED"]], res["run_a"]
    for key in ("run_b", "farm_b"):
        assert res[key][0] == "raised" and "[OUTPUT_INVALID]" in res[key][2], res[key]
        assert "scene 'Scene' shows" in res[key][2] and "'Roto B' here, 'Roto A' there" in res[key][2], res[key]
    assert res["md5_after_b"] == res["md5_a"]          # before: B's matte
    assert res["status_a"].startswith("mattes: all 4 frames current"), res["status_a"]
    assert res["run_b_same"] == ["ok", ["FINISHED"]] and "0 frames written, 4 reused" in res["last_b_same"]
    assert res["run_b_own"] == ["ok", ["FINISHED"]] and "4 frames written" in res["last_b_own"], res["last_b_own"]
    assert res["md5_end"] == res["md5_a"]
    assert res["editor_masks"] == "ok", res["editor_masks"]     # before: 'mask 'Roto A' here, None there'
    assert not os.path.exists(os.path.join(cfg["out"], "plate", "plate.samatte.json"))   # farm_b wrote nothing


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_hidden_track_is_no_prompt(v, tmp_path, shot):
    """Hide Tracks (H) hides the selected tracks and leaves them selected (``TRACK_HIDDEN`` only; Blender's
    operators skip them as unselected). A track the artist hid as bad was still a positive point of every Run
    (before: both tracks' points in the job, the bad one on the background). Now only the visible track's points,
    and a note names the hidden one."""
    xs = [p[0] for p in shot["polygon"]]
    ys = [p[1] for p in shot["polygon"]]
    good = [sum(xs) / len(xs), sum(ys) / len(ys)]
    bad = [2.5, 2.5]
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "hidden_track", good=good, bad=bad)
    assert res["bad_still_selected"] is True
    assert res["run"] == ["ok", ["FINISHED"]], res["run"]
    assert res["points"] and all(abs(x - bad[0]) > 1 or abs(y - bad[1]) > 1 for x, y in res["points"]), res["points"]
    assert any(abs(x - good[0]) < 1 and abs(y - good[1]) < 1 for x, y in res["points"]), res["points"]
    assert any("'hero bad'" in n and "hidden" in n for n in res["notes"]), res["notes"]


def test_selected_tracks_plain():
    import types
    from addon_plain import plain
    gather = plain("gather")
    t = [types.SimpleNamespace(name=n, select=sel, hide=hide) for n, sel, hide in
         (("a", True, False), ("b", True, True), ("c", False, False), ("d", False, True))]
    notes = []
    assert [x.name for x in gather.selected_tracks(t, notes)] == ["a"]
    assert len(notes) == 1 and "'b'" in notes[0] and "'d'" not in notes[0]
