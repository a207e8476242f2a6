"""QA163 (a Blender user's day 14): a roto scaled to nothing on a key (S 0 in the Mask editor: the artist's way to drop
the shape where the object is gone), in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent),
and the bpy-free wording (``jobs.prompt_note`` through ``addon_plain``).

samatte refuses a closed shape with no area, so the Run fails before anything is written; but the artist read only
``[PROMPT_INVALID] bezier prompt has zero area (at objects[0].prompts[1].points)``: no layer, no frame (a clip with
Start Frame 11: which of its keys?), no way forward. Now the error names the mask layer and the scene frame, says what
Blender draws there, and how to leave an object out of frames (key its layer's Hide in render: it is then absent).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa163_collapsed_roto_bpy.py CONFIG.json``.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, op_result, scene_for, step_scenario  # noqa: E402


def step_collapsed(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    bpy.context.preferences.addons[addon.__name__].preferences.device = "cpu"
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    mask = box_mask(addon, "Roto", "hero", cfg["polygon"], tuple(clip.size))
    out = os.path.join(cfg["out"], "mattes")
    s = scene_for(sc, clip, mask, out)
    s.tracks = "NONE"
    clip.frame_start = 11                   # files 1001-1004 on scene frames 11-14
    sc.frame_start, sc.frame_end = 11, 14
    sp = mask.layers["hero"].splines[0]
    drawn = [tuple(p.co) for p in sp.points]
    cx = sum(p[0] for p in drawn) / len(drawn)
    cy = sum(p[1] for p in drawn) / len(drawn)
    for f, scale in ((11, 1.0), (13, 0.0)):     # keyed as drawn on 11, scaled to its centre on 13
        for i, p in enumerate(sp.points):
            p.co = (cx + (drawn[i][0] - cx) * scale, cy + (drawn[i][1] - cy) * scale)
            mask.keyframe_insert('layers["hero"].splines[0].points[%d].co' % i, frame=f)
    sc.frame_set(11)
    op_result(res, "run", bpy.ops.samatte.run)
    res["written"] = sorted(os.listdir(os.path.join(out, "plate"))) if os.path.isdir(os.path.join(out, "plate")) else []


STEPS = {"collapsed": step_collapsed}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402

HINT = ("(its shape there is collapsed onto a point or a straight line, which Blender draws as nothing; samatte needs "
        "an object's shape to have an area: to leave the object out of frames, key the layer's Hide in render on them "
        "instead, its object is then absent there)")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa163_collapsed")), frames=4, size=(64, 64), seed=3)


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_roto_scaled_to_nothing_on_a_key_names_its_layer_and_scene_frame(v, tmp_path, shot):
    from bpy_common import run_step_in_blender
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "collapsed")
    assert res["run"][0] == "raised", res["run"]
    msg = res["run"][2]
    # before: '... [PROMPT_INVALID] bezier prompt has zero area (at objects[0].prompts[1].points)' and nothing more
    assert "[PROMPT_INVALID] bezier prompt has zero area (at objects[0].prompts[1].points): mask layer 'hero' on " \
        "scene frame 13 " + HINT in msg, msg
    assert res["written"] == [], res["written"]       # refused before any frame


def _job(prompts):
    return {"objects": [{"name": "hero", "host_name": "hero ball", "prompts": prompts}]}


class _Info:
    @staticmethod
    def scene_frame(n):
        return n - 990


def test_prompt_note_words():
    from addon_plain import plain
    jobs = plain("jobs")
    job = _job([{"frame": 1001, "type": "bezier"}, {"frame": 1003, "type": "bezier", "mode": "subtract"},
                {"frame": 1004, "type": "points"}])
    assert jobs.prompt_note(job, "bezier prompt has zero area (at objects[0].prompts[0].points)",
                            "objects[0].prompts[0].points", _Info) == ": mask layer 'hero ball' on scene frame 11 " + HINT
    assert jobs.prompt_note(job, "bezier prompt has zero area", "objects[0].prompts[1].points", _Info) == (
        ": a shape cutting object 'hero ball' (a Subtract / Darken layer after it, or a hole) on scene frame 13 " + HINT)
    assert jobs.prompt_note(job, "points prompt point 0 is not finite", "objects[0].prompts[2].points[0]", _Info) == \
        ": track points of object 'hero ball' on scene frame 14"
    # another field, an index the job has not: nothing added
    assert jobs.prompt_note(job, "x", "output.path", _Info) == ""
    assert jobs.prompt_note(job, "x", "objects[3].prompts[0]", _Info) == ""
    assert jobs.prompt_note(job, "x", None, _Info) == ""
