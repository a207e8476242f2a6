"""The Blender add-on's bpy-free side (through ``addon_plain``): a worker error that names several frames
(``details["frames"]``, a range text of file numbers: TRACK_MISSING, FRAME_MISSING of several files) gets the
scene frames in a Run's report and Check mattes, as one naming ``details["frame"]``; before, none."""
import types

from addon_plain import plain


def test_a_worker_error_naming_frames_gets_the_scene_frames():
    jobs = plain("jobs")
    from samatte.errors import MissingFrameError, TrackMissingError
    to_scene = lambda n: n - 990      # noqa: E731 - files 1001.. on scene frames 11..
    err = TrackMissingError("the stored track of 4 frame(s) is missing or stale: 1002-1005 (work dir /w); run "
                            "--stage track first", frames="1002-1005", path="/w")
    # before: '' (only details['frame'] was read)
    assert jobs.scene_frame_note(err, to_scene) == " (scene frames 12-15)"
    gap = MissingFrameError("2 plate frame(s) missing: 1003,1006 (pattern /p/plate.####.exr)", frames="1003,1006",
                            path="/p/plate.####.exr")
    assert jobs.scene_frame_note(gap, to_scene) == " (scene frames 13,16)"
    one = MissingFrameError("1 plate frame(s) missing: 1004", frames="1004", path="/p")
    assert jobs.scene_frame_note(one, to_scene) == " (scene frame 14)"
    # the same numbers need no second name; a frame as before
    assert jobs.scene_frame_note(err, lambda n: n) == ""
    assert jobs.scene_frame_note(MissingFrameError("x", frame=1003), to_scene) == " (scene frame 13)"
    assert jobs.scene_frame_note(TrackMissingError("x", frames="bad"), to_scene) == ""
    # a Run's report
    run = jobs.JobRun({}, None, scene_frame=to_scene)
    run.handle = types.SimpleNamespace(error=err)
    run._finish()
    assert run.error.endswith("run --stage track first (scene frames 12-15)"), run.error
