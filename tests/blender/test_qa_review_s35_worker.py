"""QA review (session 35), the Blender add-on's bpy-free side: a changed CPU threads preference (or Models folder)
starts a new worker, and the worker of a Run still going is not ended under it (it is ended once its job is over)."""
import os
import sys

from addon_plain import plain

jobs = plain("jobs")

_SLOW_PIPELINE = '''
import time
from samatte.progress import is_cancel


def run_iter(job, *, cancel=None, **kw):
    t = time.time()
    while time.time() - t < 60:
        if cancel is not None and is_cancel(cancel):
            from samatte.errors import CancelledError
            raise CancelledError("cancelled")
        time.sleep(0.05)
        yield
'''


def test_a_changed_thread_count_does_not_end_the_worker_of_a_run_under_way(tmp_path):
    """The artist runs a job, sets Preferences > CPU threads to leave cores to Blender (what its tooltip offers
    'while a job runs') and presses Check samatte. Before: the new count's worker was started and the Run's worker
    ended (close): the Run failed, its worker gone. After: the Run goes on; its worker ends when it is over."""
    from samatte import client, jobspec
    (tmp_path / "slow_pipeline.py").write_text(_SLOW_PIPELINE)
    one = jobs.Settings(python=sys.executable, threads=1)
    env = dict(jobs._process_env(one), PYTHONPATH=os.pathsep.join(
        [str(tmp_path)] + [p for p in sys.path if p.endswith("core")]))
    jobs.release_worker()
    w1 = client.WorkerClient(sys.executable, env=env, worker_args=["--pipeline", "slow_pipeline"], timeout=60)
    jobs._WORKERS[(os.path.abspath(sys.executable), "", 1)] = w1       # the worker get_worker(one) gives
    job = jobspec.new_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "o" / "o.####.exr"), frames="1001-1002",
                          name="slow")
    job["objects"].append({"name": "hero", "prompts": [{"frame": 1001, "type": "box", "box": [1, 1, 9, 9]}]})
    try:
        run = jobs.JobRun(job, one).start()
        _hello, lines = jobs.check_worker(jobs.Settings(python=sys.executable, threads=2))
        assert "CPU threads: 2 (Preferences)" in lines, lines
        assert w1.alive() and not run.done, "the Run's worker was ended under it"
        run.cancel()
        run.wait(timeout=60)
        assert run.error_code == "CANCELLED", run.error       # before: the worker gone (WORKER_FAILED)
        w2 = jobs.get_worker(jobs.Settings(python=sys.executable, threads=2))
        assert w2 is not w1 and list(jobs._WORKERS.values()) == [w2]   # the old one ended once idle
        assert not w1.alive() or w1._wait_exit(10) is not None
    finally:
        jobs.release_worker()
        w1.close(timeout=5)
