"""Review fixes (helper review of git diff 4eb86cf..0c6daf9).

1. A lossy-compression job's scratch folder (the pre-roll frames' state as the file would store it,
   pipeline._StoredState) was ``tempfile.mkdtemp("samatte-stored-")`` in the system temp folder: a
   killed run (kill -9, a pre-empted farm task) left it there for ever, with the scratch EXR or its
   temp inside, and it ignored the job's ``work_dir``. It is now a spill folder like the flow
   tracker's (``samatte_stored_<host>.<pid>.<random>``, in ``work_dir`` when the job sets one): the
   next run removes a dead process's one and keeps a live one's.
2. Blender: a mask point parented to a track, on a fractional animation time (Time Stretching 100 -> 200,
   odd scene frames), moves by the track interpolated between its markers, as Blender draws it (real
   bpy 5.0.1 and 4.2.23); the add-on took the earlier marker (2.4 px off on a 96 px plate).
"""
import copy
import os
import subprocess
import sys

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.io import exr
from samatte.io.writer import host_tag

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "blender"))
from bpy_common import VERSIONS  # noqa: E402

REMAP = os.path.join(HERE, "test_qa_time_remap.py")   # its bpy side (step "parented")
W, H = 32, 24


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _shot(d):
    rng = np.random.default_rng(5)
    base = rng.uniform(0.05, 0.3, (H, W + 8, 3)).astype(np.float32)
    for i, f in enumerate(range(1001, 1005)):
        img = base[:, i:i + W].copy()
        img[6:16, 6 + i:16 + i] = (0.9, 0.2, 0.1)
        exr.write_image(str(d / ("p.%04d.exr" % f)), img, channels=("R", "G", "B"), pixel_type="half")


def _job(tmp_path):
    _shot(tmp_path)
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                          frames="1001-1004", tracker="flow", matte="refine", quality="draft", name="stored",
                          compression="b44")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, [(5, 5), (17, 5), (17, 17), (5, 17)])])
    job["work_dir"] = str(tmp_path / "work")
    return job


def _stored(folder):
    return sorted(n for n in os.listdir(str(folder)) if n.startswith("samatte_stored") or n.startswith("samatte-stored"))


def test_a_killed_lossy_run_s_scratch_folder_is_removed_and_the_scratch_lives_in_the_work_dir(tmp_path, monkeypatch):
    job = _job(tmp_path)
    pipeline.run(copy.deepcopy(job), stage="track")
    work = tmp_path / "work"
    me = host_tag()
    dead = work / ("samatte_stored_%s.%d.abcd1234" % (me, _dead_pid()))     # what a killed run leaves
    live = work / ("samatte_stored_%s.%d.live0000" % (me, os.getppid()))    # a live process's: kept
    for d in (dead, live):
        d.mkdir()
        (d / "s.1002.exr").write_bytes(b"x" * 100)
    # the system temp folder must get nothing: the job names its work dir
    sys_tmp = tmp_path / "systmp"
    sys_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(sys_tmp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    seen = []
    real = pipeline._StoredState.state

    def spy(self, *a, **kw):
        out = real(self, *a, **kw)
        if self.scratch is not None:
            seen.append(self.scratch)
        return out
    monkeypatch.setattr(pipeline._StoredState, "state", spy)
    # a chunk with a pre-roll frame (1002 for 1003): its state goes through the scratch folder
    res = pipeline.run(copy.deepcopy(job), stage="matte", frames="1003-1004", preroll=2)
    assert res["preroll"] and seen
    assert all(os.path.dirname(p) == str(work) for p in seen), seen
    assert os.path.basename(seen[0]).startswith("samatte_stored_%s.%d." % (me, os.getpid()))
    assert not dead.exists() and live.exists()
    assert _stored(work) == [live.name]          # this run's own folder went when it ended
    assert _stored(sys_tmp) == []


# --- 2. points parented to a track, on a sub-frame animation time ----------------------------------

@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_points_parented_to_a_track_follow_it_between_its_markers_on_a_sub_frame_time(v, tmp_path):
    """Time Stretching 100 -> 200 puts odd scene frames on half animation times (frame 7: ctime 3.5), where
    Blender moves a parented point by the track's position interpolated between its markers of clip frames
    3 and 4 (``BKE_tracking_marker_get_subframe_position``). The add-on took the marker of frame 3: on
    file 1007 its prompt lay half a frame of the track's motion (2.4 px) left of the shape Blender draws."""
    import numpy as np
    from samatte.demo import make_shot
    from bpy_common import render_alpha, run_step_in_blender
    shot = make_shot(str(tmp_path / "shot"), frames=8, size=(96, 64))
    res, _ = run_step_in_blender(REMAP, v, tmp_path, shot, "parented", map=[100, 200], probe=7)
    [ob] = res["objects"]
    # since 0.2.20 a layer parented to a track is prompted where the track's motion changes (motion keys, read at
    # each frame's animation time), no longer on the current frame alone: the shape on the probed file is the
    # one linearly between the keys around it, and it must lie where Blender draws it
    beziers = sorted((p for p in ob["prompts"] if p["type"] == "bezier"), key=lambda p: p["frame"])
    assert res["probe_file"] == 1007
    lo = [p for p in beziers if p["frame"] <= 1007][-1]
    hi = [p for p in beziers if p["frame"] >= 1007][0]
    t = 0.0 if hi["frame"] == lo["frame"] else (1007 - lo["frame"]) / float(hi["frame"] - lo["frame"])
    p = {"points": [[a[0] + t * (b[0] - a[0])] for a, b in zip(lo["points"], hi["points"])]}
    xs = [row[0] for row in p["points"]]
    cols = np.nonzero(render_alpha(res["render"]) > 0.5)[1]
    assert cols.min() == pytest.approx(min(xs) + 0.5, abs=1.0), (sorted(xs), cols.min(), cols.max())
    assert cols.max() == pytest.approx(max(xs) - 0.5, abs=1.0), (sorted(xs), cols.min(), cols.max())
