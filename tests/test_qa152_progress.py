"""qa152: progress as a host sees it (the worker's ``fraction``, samatte.runner.JobFraction; the time left,
samatte.progress.TimeLeft), measured on the worker protocol's messages.

* The flow tracker reads every frame of its range before its passes (thumbnails, keyframe masks). Those
  "reading frames" events keep ``done`` at 0 on purpose (the time left's pace is the passes'), and so the whole
  job's fraction sat still for the whole reading: measured 0.02 from 0.7 s to 9.6 s of a 35 s track of 30 1080p
  half-float frames, and again for each object's pass of a three-object job. The reading now moves the fraction
  (``Progress.part``: its estimated share of the stage), ``done`` and the time left unchanged.
"""
import os

import pytest

from samatte import jobspec
from samatte.progress import Progress, TimeLeft
from samatte.runner import JobFraction, drain

FIRST, N = 1001, 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa152") / "plates"), frames=N, size=(96, 64), first=FIRST)


def _job(s, out, objects=1):
    job = jobspec.new_job(s["plate"], os.path.join(str(out), "m.####.exr"), frames="%d-%d" % (FIRST, FIRST + N - 1),
                          name="qa152", tracker="flow", matte="refine", quality="draft",
                          work_dir=os.path.join(str(out), "work"))
    for k in range(objects):
        jobspec.add_object(job, "ob%d" % k, [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _progress(job, **kw):
    msgs = []
    drain(job, emit=msgs.append, **kw)
    return [m for m in msgs if m["type"] == "progress"]


def _never_back(fracs):
    assert all(b >= a for a, b in zip(fracs, fracs[1:])), fracs


def test_the_flow_trackers_reading_moves_the_job_fraction(shot, tmp_path):
    prog = _progress(_job(shot, tmp_path), stage="track")
    reading = [m for m in prog if m["stage"] == "track" and m["message"] == "reading frames"]
    assert len(reading) == N
    fr = [m["fraction"] for m in reading]
    # before: every reading event said 0.02, the bar still through the whole reading
    assert all(b > a for a, b in zip(fr, fr[1:])), fr
    assert fr[0] > 0.02 and fr[-1] < 0.9
    # the time left's pace is still the passes': done stays 0 through the reading, the time left estimating
    assert all(m["done"] == 0 for m in reading)
    tl = TimeLeft()
    for m in reading:
        tl.progress(m["stage"], m["done"], m["total"])
        assert tl.text() == "estimating time left"
    fracs = [m["fraction"] for m in prog]
    _never_back(fracs)
    # 1.0 only once the tracker's last unit is done, never before
    first_full = next(i for i, m in enumerate(prog) if m["fraction"] >= 1.0)
    track = [m for m in prog if m["stage"] == "track"]
    assert prog[first_full] is track[-1] and track[-1]["done"] == track[-1]["total"]
    # the passes and the output go on from where the reading left it
    after = [m["fraction"] for m in track[N:]]
    assert after[0] > fr[-1]


def test_each_objects_reading_moves_the_fraction_of_a_three_object_job(shot, tmp_path):
    prog = _progress(_job(shot, tmp_path, objects=3), stage="track")
    track = [m for m in prog if m["stage"] == "track"]
    _never_back([m["fraction"] for m in prog])
    # three passes, one per object, each reading the frames: each reading moves the bar
    reading = [m for m in track if m["message"] == "reading frames"]
    assert len(reading) == 3 * N
    for k in range(3):
        fr = [m["fraction"] for m in reading[k * N:(k + 1) * N]]
        assert all(b > a for a, b in zip(fr, fr[1:])), (k, fr)
    # the stage's done never goes back either (the time left's input)
    done = [m["done"] for m in track]
    assert all(b >= a for a, b in zip(done, done[1:])), done
    assert track[-1]["fraction"] == 1.0 and all(m["fraction"] < 1.0 for m in track[:-1])


def test_a_whole_job_reaches_one_at_its_end_only(shot, tmp_path):
    prog = _progress(_job(shot, tmp_path))
    fracs = [m["fraction"] for m in prog]
    _never_back(fracs)
    reading = [m["fraction"] for m in prog if m["message"] == "reading frames"]
    assert reading[-1] > reading[0] and reading[-1] < 0.5   # tracking's half of a Track & Matte
    assert all(f < 1.0 for f in fracs[:-2]) and prog[-1]["stage"] == "done" and fracs[-1] == 1.0


def test_progress_part_is_beside_the_tuple():
    p = Progress("track", 1001, 0, 10, "reading frames", part=0.25)
    # the tuple, its equality, unpacking and the wire format stay those of older samattes
    assert p == Progress("track", 1001, 0, 10, "reading frames") == ("track", 1001, 0, 10, "reading frames")
    stage, frame, done, total, message = p
    assert p.to_dict() == {"stage": "track", "frame": 1001, "done": 0, "total": 10, "message": "reading frames"}
    assert p.fraction == 0.25 and Progress("track", 1001, 5, 10).fraction == 0.5
    assert Progress("track", None, 0, 10, part=7).part == 1.0
    jf = JobFraction("all")
    assert jf.update(p) == pytest.approx(0.02 + 0.48 * 0.25)
    assert jf.update(Progress("track", 1001, 0, 10)) == pytest.approx(0.02 + 0.48 * 0.25)   # never back


def test_a_chunks_pre_roll_moves_the_job_fraction(shot, tmp_path):
    """A farm chunk whose reference frames are not finished mattes them first (pre-roll, not written): ``done``
    counts the frames asked for only, so the fraction sat still while they were matted (a 1080p frame takes
    3-4 s: four pre-roll frames, 14 s of a still bar at 2 %)."""
    job = _job(shot, tmp_path)
    _progress(job, stage="track")
    last = FIRST + N - 1
    prog = _progress(job, stage="matte", frames="%d-%d" % (last - 1, last))
    matte = [m for m in prog if m["stage"] == "matte"]
    pre = [m for m in matte if "for the next frame's state" in m["message"]]
    assert pre, [m["message"] for m in matte]
    assert all(m["done"] == 0 for m in pre)   # the time left's input: the frames asked for only
    # each pre-roll frame moves the bar (before: every event of the pre-roll said 0.02)
    per_frame = {}
    for m in pre:
        per_frame.setdefault(m["frame"], []).append(m["fraction"])
    starts = [v[0] for _f, v in sorted(per_frame.items(), key=lambda kv: min(kv[1]))]
    assert len(starts) >= 2 and all(b > a for a, b in zip(starts, starts[1:])), per_frame
    firsts_asked = next(m for m in matte if "for the next frame's state" not in m["message"])
    assert firsts_asked["fraction"] > starts[-1]
    fracs = [m["fraction"] for m in prog]
    _never_back(fracs)
    assert all(f < 1.0 for f in fracs[:-2]) and fracs[-1] == 1.0


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_resume_tells_the_time_left_and_fraction_of_the_frames_it_mattes(shot, tmp_path):
    """A re-run where most frames are complete: the complete frames are skipped where the matte order reaches
    them, and ``done`` counted them only there. Measured at 1080p (27 of 30 complete, 3 to matte, ~4 s each):
    the bar sat at 0.31-0.41 while the 3 frames were matted and jumped to 1.0 at the end; the time left said
    "1m11s left" as the last frame was written (the complete frames still ahead counted as frames to matte)."""
    job = _job(shot, tmp_path)
    _progress(job)
    frames = list(range(FIRST, FIRST + N))
    redo = frames[1:4]
    for f in redo:
        os.remove(os.path.join(str(tmp_path), "m.%04d.exr" % f))
    msgs = []
    drain(job, emit=msgs.append)
    written = [m["frame"] for m in msgs if m["type"] == "frame" and m["status"] == "written"]
    assert sorted(written) == redo
    last_written = max(i for i, m in enumerate(msgs) if m["type"] == "frame" and m["status"] == "written")
    # (the scenario: complete frames come after the last frame matted)
    assert any(m["type"] == "frame" and m["status"] == "skipped" for m in msgs[last_written:])
    # replay as a host: each frame matted takes 4 s
    clock = _Clock()
    tl = TimeLeft(clock)
    said = []
    for i, m in enumerate(msgs):
        if m["type"] == "progress":
            if m["stage"] == "matte" and m["message"].endswith(": writing"):
                clock.t += 4.0
            tl.progress(m["stage"], m["done"], m["total"])
            said.append((i, m["fraction"], tl.seconds_left()))
        elif m["type"] == "frame":
            tl.frame(m["status"], m["stage"])
    fracs = [f for _i, f, _s in said]
    _never_back(fracs)
    at_last = [(f, s) for i, f, s in said if i < last_written][-1]
    # the last frame matted: all the work is done (before: 0.41 of the bar, and the time left counted the
    # complete frames ahead as frames to matte: 4 s each)
    assert at_last[0] > 0.95, said
    assert at_last[1] is not None and at_last[1] < 1.0, said


def test_the_phases_of_a_frame_being_matted_move_the_fraction(shot, tmp_path):
    """A frame is matted in phases (reading, carry, matte <object>..., foreground, quality, writing), each with its
    message; the fraction moved only once the frame was written: 3-4 s still per 1080p frame, tens of seconds for a
    4K frame or several objects. It now moves at each phase (by the share of the phases the frame before had)."""
    job = _job(shot, tmp_path, objects=2)
    _progress(job, stage="track")
    prog = _progress(job, stage="matte")
    _never_back([m["fraction"] for m in prog])
    matte = [m for m in prog if m["stage"] == "matte"]
    order = []
    for m in matte:
        if m["frame"] not in order:
            order.append(m["frame"])
    assert len(order) == N
    for f in order[1:]:   # (the first frame has no frame before it to say how many phases a frame has)
        own = [m for m in matte if m["frame"] == f and m["message"].startswith("frame %d: " % f)]
        fr = [m["fraction"] for m in own]
        assert len(own) >= 6 and all(b > a for a, b in zip(fr, fr[1:])), (f, [(m["message"], m["fraction"])
                                                                               for m in own])
        end = next(m for m in matte if m["frame"] == f and m["message"] == "")
        assert end["fraction"] > fr[-1]
    assert all(m["fraction"] < 1.0 for m in prog[:-2]) and prog[-1]["fraction"] == 1.0
