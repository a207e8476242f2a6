"""Review s43 (qa165's cancel checkpoints): a guard, no fix. A Cancel pressed while the second frame's objects are
matted in the object pool, one at a time (``OBJECT_THREADS`` 1: where numba takes threads, ``--threads 1`` now runs
them in the pool too, for its heartbeats), stops the run with no pool thread left behind, the first frame whole and
current, and nothing of the second frame on disk (neither a frame nor a temp file)."""
import os
import threading
import time

import pytest

from samatte import jobspec, pipeline
from samatte.errors import CancelledError
from samatte.matte import cfsolve
from samatte.matte import stage as mstage
from samatte.progress import CancelToken


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("s43")), frames=2, size=(160, 90))


def _job(shot, out):
    job = jobspec.new_job(shot["plate"], str(out / "m.####.exr"),
                          frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft")
    poly = shot["polygon"]
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], poly)])
    jobspec.add_object(job, "o1", [jobspec.polygon_prompt(shot["prompt_frame"],
                                                          [[x * 0.5 + 8, y * 0.5 + 4] for x, y in poly])])
    job["work_dir"] = str(out / "work")
    return job


def test_a_cancel_in_the_second_frame_leaves_no_pool_thread_and_the_first_frame_whole(shot, tmp_path, monkeypatch):
    monkeypatch.setattr(mstage, "OBJECT_THREADS", 1)
    monkeypatch.setattr(mstage, "HEARTBEAT_S", 0.05)
    token = CancelToken()
    real = cfsolve.solve_crop
    calls = []

    def slow(*a, **kw):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:   # each object of this shot solves once a frame: the second frame's first object
            token.cancel()
        time.sleep(0.05)
        return real(*a, **kw)
    monkeypatch.setattr(cfsolve, "solve_crop", slow)
    out = tmp_path / "o"
    job = _job(shot, out)
    with pytest.raises(CancelledError):
        for _ in pipeline.run_iter(job, cancel=token):
            pass
    if mstage.numba_takes_threads():   # (workqueue: one after another in the pipeline's thread, as before)
        assert all(n.startswith("samatte-object") for n in calls), calls
    assert len(calls) == 3, calls   # the second frame's second object never started
    assert not [t.name for t in threading.enumerate() if t.name.startswith("samatte-object")]
    f1, f2 = shot["frames"]
    assert sorted(n for n in os.listdir(out) if n.startswith("m.")) == ["m.%04d.exr" % f1]
    assert not [n for n in os.listdir(out) if "tmp" in n.lower()], os.listdir(out)
    status = pipeline.frame_status(job)
    assert status["frames"] == {str(f1): "complete", str(f2): "missing"}, status["frames"]


def test_objects_matted_in_the_pool_keep_the_callers_numba_thread_count(shot, tmp_path, monkeypatch):
    """numba.set_num_threads is per thread, and samatte.threads.configure sets the calling thread's: where numba
    was loaded before the budget was set (a TD's script, a second job in one process), an object matted in the
    pool took NUMBA_NUM_THREADS (every CPU) instead. Measured: budget 1 on this machine, a one-object job, 2 numba
    threads in the solve at main 17282f5 (the object in the pool since qa165), 1 at 4bef4e1 (in the pipeline's
    thread)."""
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2 or not mstage.numba_takes_threads():
        pytest.skip("needs numba with 2 threads or more and a threading layer that takes the object pool")
    monkeypatch.setattr(mstage, "OBJECT_THREADS", 1)
    before = numba.get_num_threads()
    seen = []
    real = cfsolve.solve_crop

    def spy(*a, **kw):
        seen.append((threading.current_thread().name, numba.get_num_threads()))
        return real(*a, **kw)
    monkeypatch.setattr(cfsolve, "solve_crop", spy)
    numba.set_num_threads(1)   # the budget, set in this thread (as samatte.threads.configure does)
    try:
        pipeline.run(_job(shot, tmp_path / "o"), frames=[shot["frames"][0]])
    finally:
        numba.set_num_threads(before)
    assert seen and all(name.startswith("samatte-object") for name, _ in seen), seen
    assert {n for _, n in seen} == {1}, seen
