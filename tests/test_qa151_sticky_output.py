"""QA of a pipeline TD's day 7: a shared scratch output folder with the sticky bit (mode 1777, as /tmp), where
an earlier run by another artist left stale frames of the job. Only their owner (or the folder's) may replace
them: the job found out at that frame's write ("[Errno 1] Operation not permitted: 'its temporary file' ->
...m.1002.exr"), after the frames before it had been written. Now it is refused before anything is written,
saying whose file it is and what to do.

Run where the test can make another user's file and drop its own right to replace it: as root, with
``setpriv`` to run samatte without CAP_FOWNER / CAP_DAC_OVERRIDE (what an ordinary user has)."""
import os
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec

SETPRIV = shutil.which("setpriv")
pytestmark = pytest.mark.skipif(not (hasattr(os, "geteuid") and os.geteuid() == 0 and SETPRIV),
                                reason="needs root and setpriv to make another user's file and run as a user")
CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


def _as_user(args):
    env = dict(os.environ, PYTHONPATH=CORE)
    return subprocess.run([SETPRIV, "--bounding-set=-dac_override,-fowner,-dac_read_search", "--",
                           sys.executable, "-m", "samatte"] + args, capture_output=True, text=True, env=env,
                          timeout=300)


def test_another_users_stale_frame_in_a_sticky_folder_is_refused_before_anything_is_written(tmp_path):
    from samatte import pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "plates"), frames=2, size=(64, 64))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    os.chmod(str(scratch), 0o1777)
    job = jobspec.new_job(s["plate"], str(scratch / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job)                       # the other artist's run (draft)
    os.remove(str(scratch / "m.1001.exr"))
    try:
        os.chown(str(scratch / "m.1002.exr"), 1234, 1234)
        os.chown(str(scratch), 4321, -1)
        job2 = dict(job, matte=dict(job["matte"], quality="default"))   # this run: frame 1002 is stale
        jobspec.save(job2, str(tmp_path / "job.json"))
        p = _as_user(["run", str(tmp_path / "job.json")])
        assert p.returncode == 5, p.stderr[-3000:]
        assert "m.1002.exr belongs to another user (uid 1234) and its folder has the sticky bit" in p.stderr, p.stderr
        # before: frame 1001 was written, then 1002 failed "Operation not permitted"
        assert sorted(n for n in os.listdir(str(scratch)) if n.endswith(".exr")) == ["m.1002.exr"]
        # the frames besides it are this user's to write: a run of those alone goes on
        p = _as_user(["run", str(tmp_path / "job.json"), "--frames", "1001"])
        assert p.returncode == 0, p.stderr[-3000:]
        assert os.path.isfile(str(scratch / "m.1001.exr"))
    finally:
        os.chown(str(scratch), 0, -1)
