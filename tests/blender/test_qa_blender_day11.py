"""QA, day 11, the Blender add-on's bpy-free side (through ``addon_plain``) with the real core.

Two clips whose files share a base name in different folders (``sh010/plate.####.exr``, ``sh020/plate.####.exr``)
get the same job name ``plate`` and the same output ``<Output>/plate/plate_matte.####.exr`` (``jobs.output_pattern``).
The compositor guard of ``ops._check_output_is_ours`` sees only the scenes of the open .blend: a Run of sh020's clip
in another .blend silently re-matted over sh010's frames (their keys differ: 'stale', rewritten). Now each frame
records the plate it was made from (``samatte/plate``) and the core's "written by another job" check refuses a frame
made from another plate (OUTPUT_INVALID naming it, before anything is written). The same clip re-run after a roto
edit, and the same plate seen through another path to its folder (a moved project, a farm's path mapping), still
rewrite their own frames. Only jobs with ``output.keep_other_plates`` (the add-on sets it) record and check it.
"""
import os
import shutil
import sys

import pytest

from addon_plain import plain

jobs = plain("jobs")
gather = plain("gather")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    from samatte.demo import make_shot
    root = tmp_path_factory.mktemp("day11")
    out = {}
    for i, name in enumerate(("sh010", "sh020")):
        s = make_shot(str(root / ("src_" + name)), frames=3, size=(64, 64), seed=3 + i)
        folder = root / "shots" / name
        shutil.copytree(os.path.dirname(s["plate"]), str(folder))
        out[name] = dict(s, plate=str(folder / "plate.####.exr"))
    out["root"] = root
    return out


def _job(shot, output_dir, box):
    info = gather.ClipInfo(size=tuple(shot["size"]), first_file=1001, duration=3, pattern=shot["plate"])
    settings = jobs.Settings(python=sys.executable, output_dir=output_dir, tracker="shapes", matte="refine",
                             quality="draft", device="cpu")
    objects = [{"name": "hero", "host_name": "hero", "prompts": [{"frame": 1001, "type": "box", "box": box}]}]
    return jobs.build_job(info, objects, settings, frames=[1001, 1002, 1003])


def _attrs(path):
    from samatte.exrheader import string_attributes
    return string_attributes(path)


def test_a_clip_of_another_folder_with_the_same_file_names_does_not_rematte_over_the_first(shots, tmp_path):
    from samatte.errors import OutputError
    from samatte.pipeline import run
    out_dir = str(tmp_path / "out")
    a = _job(shots["sh010"], out_dir, [16, 16, 44, 44])
    b = _job(shots["sh020"], out_dir, [18, 17, 46, 45])
    assert a["name"] == b["name"] == "plate" and a["output"]["path"] == b["output"]["path"]   # the clash
    res = run(a)
    assert len(res["written"]) == 3
    first = {p: open(p, "rb").read() for p in res["written"]}
    # before: sh020's Run rewrote the 3 frames of sh010 (status 'stale': another key) as its own
    with pytest.raises(OutputError) as e:
        run(b)
    assert e.value.code == "OUTPUT_INVALID"
    assert "made from another plate (%s)" % shots["sh010"]["plate"] in e.value.message, e.value.message
    assert "pick another output folder" in e.value.message, e.value.message
    assert {p: open(p, "rb").read() for p in first} == first        # nothing written over them
    assert all(_attrs(p).get("samatte/plate") == shots["sh010"]["plate"] for p in first)
    assert sorted(n for n in os.listdir(os.path.dirname(a["output"]["path"])) if n != ".samatte") == sorted(os.path.basename(p) for p in first)
    # Check mattes (status) names the same problem for every frame
    from samatte.pipeline import frame_status
    st = frame_status(b)
    assert {v["status"] for v in st["problems"].values()} == {"foreign"}, st["problems"]
    # another Output folder for sh020 works
    b2 = _job(shots["sh020"], str(tmp_path / "out_sh020"), [18, 17, 46, 45])
    assert len(run(b2)["written"]) == 3


def test_the_same_plate_re_run_after_an_edit_or_seen_through_a_moved_folder_still_rewrites(shots, tmp_path):
    from samatte.pipeline import run
    out_dir = str(tmp_path / "out")
    a = _job(shots["sh010"], out_dir, [16, 16, 44, 44])
    assert len(run(a)["written"]) == 3
    edited = _job(shots["sh010"], out_dir, [17, 16, 45, 44])      # the roto moved: stale, its own: rewritten
    assert len(run(edited)["written"]) == 3
    # the project moved (its shots folder under another root): the same plate folder and files, the same mattes
    moved_root = tmp_path / "moved" / "shots"
    shutil.copytree(os.path.dirname(os.path.dirname(shots["sh010"]["plate"])), str(moved_root))
    moved = dict(shots["sh010"], plate=str(moved_root / "sh010" / "plate.####.exr"))
    again = _job(moved, out_dir, [18, 16, 46, 44])
    assert len(run(again)["written"]) == 3


def test_same_plate_reads_one_plate_through_path_mappings_and_frame_tokens():
    from samatte.io.writer import same_plate
    assert same_plate("/shots/sh010/plate.####.exr", "Z:\\shots\\sh010\\plate.%04d.exr")
    assert same_plate("/mnt/a/sh010/plate.$F4.exr", "/proj/sh010/plate.####.exr")
    assert not same_plate("/shots/sh010/plate.####.exr", "/shots/sh020/plate.####.exr")
    assert not same_plate("/shots/sh010/plate.####.exr", "/shots/sh010/plate_v2.####.exr")


# --- the worker starts off Blender's main thread --------------------------------------------------------------------
#
# ``JobRun.start()`` started the worker on Blender's main thread and waited for its hello (numpy / OpenCV / torch
# imports: seconds on a warm machine, up to the 60 s hello timeout on a cold one): Blender froze, Esc and Cancel
# unheard. The Run operator now starts it with ``background=True``: a thread makes the worker, ``poll`` (the modal
# timer) sends the job once it is up, Esc before that ends the run at once, no job sent.

_SLOW = """#!/bin/sh
# a samatte Python whose worker takes %(delay)s s to start (a cold machine's imports); %(fail)s
if [ "$2" = "samatte.worker" ]; then sleep %(delay)s; %(exit)s fi
exec "%(python)s" "$@"
"""


def _slow_python(tmp_path, delay=2, fail=False):
    p = tmp_path / ("slow_python_fail" if fail else "slow_python")
    p.write_text(_SLOW % {"delay": delay, "python": sys.executable, "fail": "then fails" if fail else "",
                          "exit": "echo 'ImportError: no cv2' >&2; exit 3;" if fail else ""})
    p.chmod(0o755)
    return str(p)


def _settings(python, out):
    return jobs.Settings(python=python, output_dir=out, tracker="shapes", matte="refine", quality="draft", device="cpu")


def _timed(fn):
    import time
    t = time.monotonic()
    got = fn()
    return got, time.monotonic() - t


def _drive(run, timeout=60):
    """Poll as the modal timer does; the longest single call on the 'main thread'."""
    import time
    end, longest = time.monotonic() + timeout, 0.0
    while not run.done and time.monotonic() < end:
        _r, dt = _timed(run.poll)
        longest = max(longest, dt)
        time.sleep(0.05)
    return longest


def test_a_run_starting_its_worker_never_blocks_the_main_thread_and_finishes(shots, tmp_path):
    python = _slow_python(tmp_path)
    settings = _settings(python, str(tmp_path / "out"))
    job = _job(shots["sh010"], str(tmp_path / "out"), [16, 16, 44, 44])
    jobs.release_worker()
    try:
        run, dt = _timed(lambda: jobs.JobRun(job, settings).start(background=True))
        # before: start() waited for the worker's hello, 2 s and more here (the freeze)
        assert dt < 1.0, dt
        assert not run.done and "starting the worker" in run.status and "Esc" in run.status, run.status
        longest = _drive(run)
        assert run.done and run.error is None, run.error
        assert run.written == 3 and longest < 1.0, (run.written, longest)
        # the worker is kept warm: the next Run's start sends its job at once
        w = jobs.get_worker(settings, start=False)
        assert w is not None and w.alive()
        again = jobs.JobRun(job, settings).start(background=True)
        assert again.handle is not None and again._starter is None
        again.wait(timeout=60)
        assert again.error is None and again.skipped == 3
    finally:
        jobs.release_worker()


def test_esc_while_the_worker_starts_cancels_at_once_and_writes_nothing(shots, tmp_path):
    python = _slow_python(tmp_path)
    out = str(tmp_path / "out")
    settings = _settings(python, out)
    job = _job(shots["sh010"], out, [16, 16, 44, 44])
    jobs.release_worker()
    try:
        run = jobs.JobRun(job, settings).start(background=True)
        starter = run._starter
        _r, dt = _timed(run.cancel)
        assert dt < 0.5 and run.done and run.cancelled and run.error_code == "CANCELLED", (dt, run.error)
        assert "no job was sent" in run.error and run.written == 0
        assert run.ended_text().startswith("cancelled; no frame was finished"), run.ended_text()
        assert run.poll() == []
        starter.thread.join(timeout=60)
        # the worker, once up, is the warm one (Release samatte ends it); it never got the job
        w = jobs.get_worker(settings, start=False)
        assert w is not None and w.alive() and w._job is None
        out_folder = os.path.dirname(job["output"]["path"])
        assert not os.path.isdir(out_folder) or not [n for n in os.listdir(out_folder) if n.endswith(".exr")]
        assert jobs.release_worker() == 1
        assert w._proc.wait(timeout=10) is not None
    finally:
        jobs.release_worker()


def test_release_while_the_worker_starts_ends_it_once_up(shots, tmp_path):
    python = _slow_python(tmp_path, delay=1)
    settings = _settings(python, str(tmp_path / "out"))
    jobs.release_worker()
    starter = jobs.start_worker(settings)
    assert isinstance(starter, jobs._Starter)
    jobs.release_worker()
    starter.thread.join(timeout=60)
    assert starter.worker is None and jobs.get_worker(settings, start=False) is None    # no orphan


def test_a_worker_that_fails_to_start_still_reports_worker_failed(shots, tmp_path):
    python = _slow_python(tmp_path, delay=1, fail=True)
    settings = _settings(python, str(tmp_path / "out"))
    job = _job(shots["sh010"], str(tmp_path / "out"), [16, 16, 44, 44])
    jobs.release_worker()
    try:
        run = jobs.JobRun(job, settings).start(background=True)
        assert not run.done
        _drive(run)
        assert run.done and run.error_code == "WORKER_FAILED", run.error
        assert "during start-up" in run.error and "no cv2" in run.error, run.error
        assert run.status.startswith("samatte: failed [WORKER_FAILED]"), run.status
    finally:
        jobs.release_worker()


def test_an_output_of_another_plate_says_what_to_do_in_blender():
    from samatte.errors import OutputError
    e = OutputError("/o/plate/plate_matte.1001.exr exists and is not a samatte frame of job 'plate' (made from "
                    "another plate (/shots/sh010/plate.####.exr))")
    assert "set another Output folder in the samatte panel" in jobs.host_hint(e)


def test_without_keep_other_plates_a_new_plate_version_remattes_the_jobs_frames(shots, tmp_path):
    """A Nuke node's or a script's job (no ``output.keep_other_plates``): the plate updated to a new version in
    another folder (same file names) re-mattes the job's own stale frames into the same output, as before; only
    the Blender add-on, whose outputs are named after the plate's file name, keeps other plates' frames."""
    from samatte import jobspec
    from samatte.cachekey import frame_keys
    from samatte.pipeline import frame_status, run, resolve_backends
    out = str(tmp_path / "node" / "m.####.exr")

    def job(plate, keep=False):
        j = jobspec.new_job(plate, out, frames="1001-1003", tracker="shapes", matte="refine", quality="draft",
                            name="SAMatte1")
        jobspec.add_object(j, "hero", [jobspec.box_prompt(1001, [16, 16, 44, 44])])
        if keep:
            j["output"]["keep_other_plates"] = True
        return jobspec.validate(j)
    v1, v2 = shots["sh010"]["plate"], shots["sh020"]["plate"]   # the plate "re-delivered": other pixels, same names
    assert len(run(job(v1))["written"]) == 3
    assert frame_status(job(v2))["problems"] == {} or \
        {p["status"] for p in frame_status(job(v2))["problems"].values()} == {"stale"}
    assert len(run(job(v2))["written"]) == 3                      # its own frames, re-matted from v2
    # the field is in no key: the same job with it has the same keys, its frames stay complete
    j, jk = job(v2), job(v2, keep=True)
    r = resolve_backends(j)
    assert frame_keys(j, resolved=r) == frame_keys(jk, resolved=r)
    assert run(jk)["written"] == []
    # only such jobs record their plate: a farm node's frames (the plate through a path mapping) stay byte for
    # byte the submitting machine's (tests/test_qa_farm3.py)
    assert all("samatte/plate" not in _attrs(str(tmp_path / "node" / ("m.%d.exr" % f))) for f in (1001, 1002, 1003))
