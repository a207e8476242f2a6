"""QA review (session 35) of the day's last batch (7bb84c1..3cc41e1): regressions for what the review found."""
import os
import sys


# --- a frame's objects in threads and numba's threading layer ----------------------------------------------------

_TWO_OBJECTS = r"""
import sys
import numpy as np
from samatte.demo import make_shot
from samatte.io.sequence import SequencePattern
from samatte.io.source import FrameSource
from samatte.matte import stage
from samatte.stages import ObjectTrack, TrackFrame
shot = make_shot(sys.argv[1], frames=4, size=(160, 90))
src = FrameSource(SequencePattern(shot["plate"]), shot["frames"])
plates = [src.get(f) for f in shot["frames"]]
h, w = np.asarray(plates[0].display).shape[:2]
masks = {}
for k, (y, x) in enumerate([(10, 20), (30, 60), (5, 100), (50, 10)]):
    m = np.zeros((h, w), bool)
    m[y:y + 30, x:x + 40] = True
    masks["o%d" % k] = m
m, state, prev = stage.RefineMatter(), None, None
for i, p in enumerate(plates):
    t = TrackFrame(p.frame, {n: ObjectTrack(np.roll(a, 2 * i, axis=1)) for n, a in masks.items()}, ref=prev)
    frame, state = m.step(p, t, state)
    prev = p.frame
src.close()
print("threads", stage.object_threads())
"""


def test_numba_s_workqueue_layer_mattes_the_objects_in_turn_instead_of_aborting_the_process(tmp_path):
    """numba's ``workqueue`` threading layer (a pip numba where no OpenMP runtime is installed: a macOS workstation
    without libomp) aborts the process when two threads run ``parallel=True`` code at once, which pymatting's shared
    matting does for each object. Before: with 2+ CPUs the worker died ("Fatal Python error: Aborted", exit -6) on
    the first frame with two objects; after: the objects are matted one after another (the same pixels)."""
    import subprocess
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", SAMATTE_THREADS="2",
               PYTHONPATH=os.pathsep.join([os.path.join(os.path.dirname(os.path.dirname(__file__)), "core")]
                                          + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    r = subprocess.run([sys.executable, "-c", _TWO_OBJECTS, str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "threads 1" in r.stdout


def test_object_threads_are_one_where_numba_cannot_take_two(monkeypatch):
    from samatte import threads
    from samatte.matte import stage as mstage
    monkeypatch.setattr(threads, "_configured", (8, "SAMATTE_THREADS"))
    monkeypatch.setattr(mstage, "OBJECT_THREADS", None)
    monkeypatch.setattr(mstage, "_NUMBA_THREADS", True)
    assert mstage.object_threads() == 2
    monkeypatch.setattr(mstage, "_NUMBA_THREADS", False)
    assert mstage.object_threads() == 1
    monkeypatch.setattr(mstage, "OBJECT_THREADS", 3)     # the override too: never an abort
    assert mstage.object_threads() == 1


def test_no_two_test_files_share_a_name():
    """pytest imports test files without packages by their base name: two of one name (tests/ and
    tests/blender/) stop the whole run at collection ('import file mismatch'), as the review's own
    tests/blender/test_qa_review_s35.py did beside this file."""
    import collections
    import glob
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    names = collections.Counter(os.path.basename(p) for p in glob.glob(os.path.join(here, "**", "test_*.py"),
                                                                      recursive=True))
    assert [n for n, c in names.items() if c > 1] == []
