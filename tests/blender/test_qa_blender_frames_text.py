"""What the Blender artist reads names scene frames (the timeline they work in), as Check mattes does, never
samatte's file numbers unless labelled as such: Find objects, the panel's per-object frames, the run's
progress line and scores, a worker error about a frame, the gathering notes (real bpy 5.0.1 and 4.2.23, and
the bpy-free parts without Blender). A clip of files 1001-1006 with Start Frame 11 and Offset 2 shows them on
scene frames 9-14 (scene frame f shows file 1003 + f - 11). Before: 'files 1001-1006', 'bezier on 1002,
1005', 'frames 1002, 1005', 'frame 1004', '1001:0.93'; '1 frames written'; a reversed Frame range (5-2)
'has no frame of clip'.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender_frames_text.py CONFIG.json`` runs
the step named in CONFIG inside Blender (pytest never imports bpy).
"""
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402


# --- the bpy side ----------------------------------------------------------------------------------

class _Layout:
    """A UILayout stand-in that keeps the panel's labels."""

    def __init__(self, labels):
        self.labels = labels
        self.enabled = self.active = True

    def column(self, **kw):
        return self

    row = box = column

    def prop(self, *a, **kw):
        pass

    def operator(self, *a, **kw):
        return types.SimpleNamespace()

    def label(self, text="", **kw):
        self.labels.append(text)


def step_texts(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv, ops = addon.convert, addon.ops
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    clip.frame_start, clip.frame_offset = 11, 2     # files 1001-1006 on scene frames 9-14
    sc.frame_start, sc.frame_end = 9, 14
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    res["files"] = {f: info.file(f) for f in range(9, 15)}
    mask = bpy.data.masks.new("Roto")
    sp = mask.layers.new(name="hero").splines.new()
    sp.use_cyclic = True
    sp.points.add(len(cfg["polygon"]) - 1)
    def key(frame, dx=0.0):
        for j, xy in enumerate(cfg["polygon"]):
            pt = sp.points[j]
            pt.co = pt.handle_left = pt.handle_right = conv.px_to_mask((xy[0] + dx, xy[1]), info.size)
            for attr in ("co", "handle_left", "handle_right"):
                mask.keyframe_insert('layers["hero"].splines[0].points[%d].%s' % (j, attr), frame=frame)
        mask.update_tag()
    key(10)
    key(13)
    # a negative-only track of an object with no shape, on clip frame 2 = scene frame 12 (file 1004): dropped
    tr = clip.tracking.tracks.new(name="-bg", frame=2)
    tr.markers.insert_frame(2, co=(0.5, 0.5))
    tr.select = True
    s = sc.samatte
    s.mask = mask
    s.tracks = "SELECTED"
    s.default_object = "other"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))

    res["scan"] = ops.scan(bpy.context)

    def panel():
        labels = []
        addon.panels.draw_panel(_Layout(labels), bpy.context)
        return labels

    def run(this_frame):
        r = ops.start_run(bpy.context, this_frame=this_frame)
        res.setdefault("objects", []).append([list(o) for o in r.objects])
        statuses = []
        import time
        end = time.monotonic() + 300
        while not r.done and time.monotonic() < end:
            r.poll()
            statuses.append(r.status)
            time.sleep(0.02)
        level, msg = ops.finish_run(bpy.context, r)
        res.setdefault("runs", []).append({"statuses": sorted(set(statuses)), "msg": msg, "level": level,
                                           "result": s.last_result, "scores": s.last_scores,
                                           "notes": list(r.notes), "panel": panel()})

    sc.frame_set(12)
    run(True)           # Matte this frame on scene frame 12 (file 1004): one frame written
    run(False)
    s.use_range = True
    s.frame_start, s.frame_end = 5, 2
    res["reversed"] = ops.scan(bpy.context)
    s.frame_start, s.frame_end = 12, 13
    res["range"] = ops.scan(bpy.context)
    s.use_range = False
    # the shape dragged off the frame on its key 13 (file 1005): the worker refuses that prompt
    key(13, dx=1000.0)
    try:        # (since qa170 refused when the job is built, before the worker: jobs.off_picture)
        r = ops.start_run(bpy.context)
        r.wait(timeout=300)
        res["off_frame"] = list(ops.finish_run(bpy.context, r))
    except addon.hosterrors.HostError as e:
        res["off_frame"] = ["ERROR", addon.hosterrors.describe(e)]
    try:        # wiring a matte sequence none of whose files exists (the node spans the clip's range too: 9-16)
        addon.compositor.wire(sc, clip, info, os.path.join(cfg["out"], "none", "m.####.exr"), list(range(1001, 1007)))
    except addon.hosterrors.HostError as e:
        res["no_matte"] = addon.hosterrors.describe(e)
    res["range_tips"] = [s.bl_rna.properties[n].description for n in ("frame_start", "frame_end")]


STEPS = {"texts": step_texts}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import re  # noqa: E402

import pytest  # noqa: E402

from addon_plain import plain  # noqa: E402

FILES = set(range(1001, 1007))


def _numbers(text):
    return {int(n) for n in re.findall(r"\d+", text)}


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("frames_text")), frames=6, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_the_panel_and_reports_name_scene_frames(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "texts")
    print(res)
    assert res["files"] == {str(f): 1003 + f - 11 for f in range(9, 15)}    # scene and file numbers differ
    scan = res["scan"].splitlines()
    assert scan[0].endswith(": scene frames 9-14 (files 1001-1006), 6 frames, 64x64"), scan
    assert "hero -> hero: bezier on 10, 13" in scan, scan
    assert "object 'other': negative-only points on frame 12 dropped (no shape to correct)" in scan, scan
    this, full = res["runs"]
    assert res["objects"] == [[["hero", "hero", [10, 13]]]] * 2, res["objects"]
    assert ": 1 frame written, 0 reused -> " in this["result"], this
    assert ": 5 frames written, 1 reused -> " in full["result"], full
    assert this["scores"].split() and {int(t.split(":")[0]) for t in this["scores"].split()} == {12}, this
    assert {int(t.split(":")[0]) for t in full["scores"].split()} == set(range(9, 15)), full
    assert "hero -> hero: frames 10, 13" in full["panel"], full["panel"]
    framed = [st for run in res["runs"] for st in run["statuses"] if " frame " in st]
    assert framed, res["runs"]      # the progress names the frame it is on: a scene frame
    for st in framed:
        f = int(st.rsplit(" frame ", 1)[1].split(",")[0])   # (", 12s left, 1.3 s/frame" after it)
        assert 9 <= f <= 14, st
    assert "negative-only points on frame 12" in " ".join(full["notes"]), full["notes"]
    assert "[FRAME_RANGE_INVALID]" in res["reversed"] and "(5-2) is reversed" in res["reversed"], res["reversed"]
    assert res["no_matte"] == ("[OUTPUT_INVALID] no matte of m.####.exr is on disk for scene frames 9-16 "
                               "(files 1001-1008): run again"), res["no_matte"]
    assert all("scene frame" in t for t in res["range_tips"]), res["range_tips"]
    level, msg = res["off_frame"]
    # before: '[PROMPT_INVALID] bezier prompt lies entirely outside the canvas (64x64) (at objects[0].prompts[1])'
    assert level == "ERROR" and "[PROMPT_INVALID]" in msg and "(at objects[0].prompts[1]): mask layer 'hero' on " \
        "scene frame 13 (" in msg, msg
    assert res["range"].splitlines()[0].endswith(": scene frames 12-13 (files 1004-1005), 2 frames, 64x64"), res


def test_a_run_names_the_scene_frame_of_the_worker_file_numbers():
    """The bpy-free JobRun: its progress line and a worker error about a frame name the scene frame."""
    jobs = plain("jobs")
    run = jobs.JobRun({}, None, scene_frame=lambda n: n - 992)
    run._on_progress({"stage": "matte", "done": 3, "total": 6, "frame": 1003})
    assert run.status == "samatte: matte 3/6 frame 11, estimating time left", run.status
    from samatte.errors import MissingFrameError
    err = MissingFrameError("frame file is missing: /p/plate.1003.exr", path="/p/plate.1003.exr", frame=1003)
    run.handle = types.SimpleNamespace(error=err)
    run._finish()
    assert run.error == "[FRAME_MISSING] frame file is missing: /p/plate.1003.exr (scene frame 11)", run.error
    # Check mattes shows a worker error the same way; the same number needs no second name
    assert jobs.scene_frame_note(err, lambda n: n - 992) == " (scene frame 11)"
    assert jobs.scene_frame_note(err, lambda n: n) == "" and jobs.scene_frame_note(ValueError(), None) == ""
    # no mapping given: file numbers as before
    plain_run = jobs.JobRun({}, None)
    plain_run._on_progress({"stage": "track", "done": 1, "total": 2, "frame": 1003})
    assert plain_run.status == "samatte: track 1/2 frame 1003, estimating time left"


def test_the_negative_only_note_names_the_scene_frame():
    gather = plain("gather")
    objects, notes = gather.merge_objects([], {"other": {1004: [[1.0, 2.0, 0]]}}, default_object="hero",
                                          scene_frame=lambda n: n - 992)
    assert objects == [] and notes == ["object 'other': negative-only points on frame 12 dropped "
                                       "(no shape to correct)"], notes
    assert FILES.isdisjoint(_numbers(notes[0]))
