"""QA of frames a Deadline Cloud farm writes with job attachments, read back on the submitting workstation.

A session's copy of a plate frame carries the mtime Deadline's manifest keeps: whole microseconds,
truncated (``st_mtime_ns // 1000``), set back through ``os.utime`` with a float seconds value
(``mtime / 1000000``), which lands up to ~240 ns either side of the microsecond (deadline-job-attachments
0.1.5: ``upload.py`` and ``_manifest_s3_downloads.py``; its own diff allows 1 us). Plate stamps counted
mtimes in whole 100 ns (KEY_VERSION 2), so every frame the farm wrote was stale for the submitter
(`status`, QC, the Nuke read-back; a local run recomputed all of them). Since KEY_VERSION 3 they count in
whole milliseconds.
"""
import os
import shutil
import sys

import pytest

from samatte import cachekey, jobspec


def _deadline_copy(src, dst):
    """What a Deadline Cloud worker's session holds of ``src``: its bytes, its mtime through the manifest."""
    shutil.copyfile(src, dst)
    manifest_mtime = os.stat(src).st_mtime_ns // 1000          # upload.py: trunc(st_mtime_ns // 1000)
    t = manifest_mtime / 1000000                                # _manifest_s3_downloads.py: mtime / 1000000
    os.utime(dst, (t, t))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("attach")
    return make_shot(str(d / "shots"), frames=4, size=(64, 64)), d


def _job(s, plate, out):
    job = jobspec.new_job(plate, str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]), name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def test_a_plate_copy_through_a_deadline_manifest_keeps_its_stamp(tmp_path):
    """Every sub-millisecond part an artist's file can have (ns, 100 ns units) keeps its stamp through the
    manifest's copy, except a copy whose microseconds are exactly 000 that lands below (1 in ~4000)."""
    src, dst = tmp_path / "a.exr", tmp_path / "b.exr"
    src.write_bytes(b"x" * 64)
    same = 0
    cases = [ns for ns in (1_765_000_000_000_000_000 + k * 7_919_113 for k in range(220))
             if (ns // 1000) % 1000][:200]     # a manifest value of exactly 000 us may land below its ms
    for ns in cases:
        os.utime(src, ns=(ns, ns))
        _deadline_copy(str(src), str(dst))
        same += cachekey.file_stamp(str(src), small=0) == cachekey.file_stamp(str(dst), small=0)
    assert same == len(cases)


def test_frames_the_farm_wrote_from_attached_plates_are_current_for_the_submitter(shot, tmp_path):
    s, _ = shot
    frames = s["frames"]
    mine = tmp_path / "ws" / "plate"              # the submitter's plate (nanosecond mtimes, as written)
    shutil.copytree(os.path.dirname(s["plate"]), str(mine))
    plate = str(mine / "plate.####.exr")
    for i, f in enumerate(frames):
        p = plate.replace("####", str(f))
        ns = 1_765_000_000_123_456_789 + i * 1_000_000_007
        os.utime(p, ns=(ns, ns))
    session = tmp_path / "session" / "plate"      # the worker's session: the manifest's copies
    session.mkdir(parents=True)
    for f in frames:
        _deadline_copy(plate.replace("####", str(f)), str(session / ("plate.%d.exr" % f)))
    from samatte.pipeline import frame_status, run
    out_farm = tmp_path / "session" / "out" / "m.####.exr"
    run(_job(s, str(session / "plate.####.exr"), out_farm))
    out_ws = tmp_path / "ws" / "out"              # the outputs come back to the submitter's folder
    shutil.copytree(os.path.dirname(str(out_farm)), str(out_ws))
    st = frame_status(_job(s, plate, out_ws / "m.####.exr"))
    assert set(st["frames"].values()) == {"complete"}, st["frames"]
    # a plate frame re-rendered since (a new mtime, the same size) is still a change
    p = plate.replace("####", str(frames[1]))
    ns = os.stat(p).st_mtime_ns + 40_000_000
    os.utime(p, ns=(ns, ns))
    st = frame_status(_job(s, plate, out_ws / "m.####.exr"))
    assert st["frames"][str(frames[1])] != "complete"



# -- Nuke: a node aligned when plate stamps counted 100 ns still knows its plate -----------------------------

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

import test_qa_nuke_day8 as day8  # noqa: E402
from samatte_nuke import farm  # noqa: E402

nk, shots = day8.nk, day8.shots   # its fixtures


def test_a_nuke_node_aligned_with_100ns_plate_stamps_still_reads_back(nk, shots):
    """The node's ``samatte_plate`` knob holds its Reads' first and last stamps as the unit counted them when
    it was aligned; a node aligned under KEY_VERSION 2 (100 ns) must not take its own files for another
    plate once the unit is whole ms (every frame refused, "its files changed since")."""
    a, b = shots
    for i in range(4):                            # files with sub-millisecond mtimes, as any write gives
        p = a["plate"].replace("####", "%04d" % (1001 + i))
        ns = 1_765_000_000_123_456_700 + i * 1_000_000_000
        os.utime(p, ns=(ns, ns))

    def graded(read):
        grade = nk.nodes.Grade()
        grade.setInput(0, read)
        return grade
    read, roto, g = day8._comp(nk, a["plate"], a["polygon"], source=graded)
    day8._track(g)
    was = farm.decode_state(g["samatte_plate"].value())
    old = []
    for e in was:                                 # the same files' stamps as KEY_VERSION 2 wrote them
        stamps = []
        for st, f in zip(e[2:], ("1001", "1004")):
            size, _, head = st.split(":")
            ns = os.stat(e[1].replace("####", f)).st_mtime_ns
            stamps.append("%s:%d:%s" % (size, ns - ns % 100, head))
        old.append(e[:2] + stamps)
    assert old != was
    g["samatte_plate"].setValue(farm.encode_state(old))
    assert day8._files(g) == {1: 1, 2: 2, 3: 3, 4: 4}
    read["file"].setValue(b["plate"])             # the check still tells another plate
    got = day8._shown(g)
    assert all(isinstance(v, str) for v in got.values()), got
