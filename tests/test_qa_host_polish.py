"""QA, host polish: small defects the hosts (Nuke, Blender) meet.

1. ``samatte.io.writer.same_plate`` (the "made from another plate" check of ``output.keep_other_plates`` jobs, which
   the Blender add-on sets) compared the plate's folder and file names case-sensitively: on Windows a clip relinked
   as ``D:\\Shots\\SH010\\plate.####.exr`` after being rendered as ``d:\\shots\\sh010\\plate.####.exr`` was refused
   (OUTPUT_INVALID). Windows paths (a drive letter, UNC, backslashes) now compare without case; POSIX paths exactly.
"""
import numpy as np
import pytest

from samatte.io.writer import same_plate


def test_same_plate_ignores_case_where_either_path_is_a_windows_path():
    lower = "d:\\shots\\sh010\\plate.####.exr"
    assert same_plate(lower, "D:\\Shots\\SH010\\plate.####.exr")              # relinked with other case
    assert same_plate("D:/Shots/SH010/Plate.%04d.exr", lower)                  # drive letter, forward slashes
    assert same_plate("\\\\server\\Shots\\SH010\\PLATE.####.exr", "//server/shots/sh010/plate.$F4.exr")   # UNC
    assert same_plate("/mnt/shots/sh010/plate.####.exr", "Z:\\SHOTS\\SH010\\plate.####.exr")  # farm mapping
    # still two plates whatever the case
    assert not same_plate(lower, "D:\\Shots\\SH020\\plate.####.exr")
    assert not same_plate(lower, "D:\\Shots\\SH010\\plate_v2.####.exr")


def test_same_plate_keeps_posix_paths_case_sensitive():
    assert same_plate("/shots/sh010/plate.####.exr", "/mnt/shots/sh010/plate.%04d.exr")
    assert not same_plate("/shots/sh010/plate.####.exr", "/shots/SH010/plate.####.exr")
    assert not same_plate("/shots/sh010/plate.####.exr", "/shots/sh010/Plate.####.exr")


def test_a_frame_rendered_from_a_lower_case_windows_plate_is_stale_not_foreign_when_relinked(tmp_path):
    pytest.importorskip("OpenImageIO")
    from samatte.io.writer import MatteWriter
    from samatte.stages import MatteFrame, PlateInfo, Window
    info = PlateInfo(data=Window(0, 0, 8, 6), display=Window(0, 0, 8, 6), pixel_aspect=1.0)
    w = MatteWriter(str(tmp_path / "m.####.exr"), info,
                    metadata={"job": "plate", "key": "k1", "plate": "d:\\shots\\sh010\\plate.####.exr"})
    a = np.full((6, 8), 0.5, np.float32)
    w.write(MatteFrame(frame=1001, alphas={"hero": a}, alpha=a))
    status, why = w.file_problem(1001, key="k2", objects=["hero"], job="plate",
                                 plate="D:\\Shots\\SH010\\plate.####.exr")
    assert status == "stale", why          # before: "foreign", "made from another plate (d:\shots\...)"
    status, why = w.file_problem(1001, key="k2", objects=["hero"], job="plate",
                                 plate="D:\\Shots\\SH020\\plate.####.exr")
    assert status == "foreign" and "made from another plate" in why


# 2. The time left (``samatte.progress.TimeLeft``: Nuke's progress window, Blender's status bar) while tracking with
#    flow: its progress counted the thumbnails read (~190 steps/s) and the frames handed out (~600 steps/s) as units
#    alike the passes' steps (~10-20 steps/s), so early in tracking it said "0s left" (measured on a 320x180 demo
#    shot of 24 frames: at 25 % of the progress "0s left" with 2.3 s to go). Its units are now the passes' steps
#    plus one for the output; reading counts only when nothing is propagated.

from samatte.progress import Progress, TimeLeft  # noqa: E402

#: the seconds each kind of flow step takes here (the ratios measured on the demo shot)
_COST = {"reading": 0.005, "frame": 0.002, "pass": 0.1}


def _phase(p):
    return p.message.split(" ")[0] if p.message.startswith(("reading", "frame ")) else "pass"


def _replay(items):
    """Feed the tracker's Progress to a TimeLeft on a clock that moves by each step's cost; ``(now, done, total,
    seconds_left, text)`` at each event and the time the stage ended."""
    now = [0.0]
    tl = TimeLeft(clock=lambda: now[0])
    out = []
    for p in items:
        if not isinstance(p, Progress):
            continue
        now[0] += _COST[_phase(p)]
        tl.progress(p.stage, p.done, p.total)
        out.append((now[0], p.done, p.total, tl.seconds_left(), tl.text()))
    return out, now[0]


def test_flow_tracking_time_left_is_honest_from_the_first_steps_of_its_passes():
    from track_clips import mask_object, moving_squares
    from samatte.track.flow import FlowTracker
    frames = list(range(1001, 1013))
    src, truth = moving_squares(frames)
    items = list(FlowTracker().track(src, [mask_object("sq", {1006: truth[1006][0]})], frames))
    log, end = _replay(items)
    assert log[-1][1] == log[-1][2] and [r[1] for r in log].count(log[-1][2]) == 1   # the total once, at the end
    assert all(b[1] >= a[1] for a, b in zip(log, log[1:]))
    told = [(t, left) for t, _, _, left, _ in log if left is not None]
    assert told and all(abs(left - (end - t)) <= 0.25 * (end - t) + 0.11 for t, left in told), \
        [(round(t, 3), round(left, 3), round(end - t, 3)) for t, left in told]
    # at a quarter and at half of the stage's time (before: at a quarter 0.41s said, "51.0 frames/s", with 0.92s to go)
    for q in (0.25, 0.5):
        t, _, _, left, text = [r for r in log if r[0] <= q * end][-1]
        assert left is not None and abs(left - (end - t)) <= 0.2 * (end - t), (q, left, end - t, text)
    # while the thumbnails are read the pace is not known yet
    reads = [r for r, p in zip(log, [i for i in items if isinstance(i, Progress)]) if _phase(p) == "reading"]
    assert reads and all(r[4] == "estimating time left" for r in reads)


def test_flow_progress_counts_the_reading_when_every_frame_is_a_keyframe():
    from track_clips import mask_object, moving_squares
    from samatte.track.flow import FlowTracker
    frames = list(range(1001, 1005))
    src, truth = moving_squares(frames)
    items = list(FlowTracker().track(src, [mask_object("sq", {f: truth[f][0] for f in frames})], frames))
    prog = [p for p in items if isinstance(p, Progress)]
    assert [p.done for p in prog if p.message == "reading frames"] == [1, 2, 3, 4]
    assert prog[-1].done == prog[-1].total == 5 and [p.done for p in prog].count(5) == 1
