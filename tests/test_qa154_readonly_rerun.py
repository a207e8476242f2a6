"""A published, locked shot re-run by a script: the output folder (and its work dir) read-only, every frame
complete and current. The run failed writing the work dir's manifest ('[OUTPUT_INVALID] cannot write the track
cache file .../manifest.json: Permission denied', exit 5), then, past that, on the output folder's write check,
though it had nothing to write. Now it writes nothing and says every frame is complete (exit 0); a frame that does
need writing is still the clear OUTPUT_INVALID before anything is written."""
import os
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec

SETPRIV = shutil.which("setpriv")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid") or (ROOT and not SETPRIV),
                                reason="needs POSIX permissions (as root: setpriv to run without CAP_DAC_OVERRIDE)")
CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


def _run(args):
    env = dict(os.environ, PYTHONPATH=CORE)
    pre = [SETPRIV, "--bounding-set=-dac_override,-fowner,-dac_read_search", "--"] if ROOT else []
    return subprocess.run(pre + [sys.executable, "-m", "samatte"] + args, capture_output=True, text=True, env=env,
                          timeout=300)


def _lock(folder, on):
    for d, dirs, files in os.walk(folder):
        for n in files:
            os.chmod(os.path.join(d, n), 0o444 if on else 0o644)
        os.chmod(d, 0o555 if on else 0o755)


def _snapshot(folder):
    out = {}
    for d, dirs, files in os.walk(folder):
        for n in files + dirs:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def test_a_current_shot_in_a_read_only_folder_is_done_writing_nothing(tmp_path):
    from samatte import pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "plates"), frames=2, size=(64, 64))
    out = tmp_path / "out"
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job)
    jobspec.save(job, str(tmp_path / "job.json"))
    _lock(str(out), True)
    try:
        before = _snapshot(str(out))
        p = _run(["run", str(tmp_path / "job.json")])
        assert p.returncode == 0, p.stderr[-3000:]
        assert "all 2 frames already complete" in p.stderr, p.stderr
        assert _snapshot(str(out)) == before
        # a frame that needs writing (other settings: both stale) is refused before anything is written, as before
        job2 = dict(job, matte=dict(job["matte"], quality="default"))
        jobspec.save(job2, str(tmp_path / "job2.json"))
        p = _run(["run", str(tmp_path / "job2.json")])
        assert p.returncode == 5, p.stderr[-3000:]
        assert "[OUTPUT_INVALID]" in p.stderr and "not writable" in p.stderr, p.stderr
        assert _snapshot(str(out)) == before
    finally:
        _lock(str(out), False)


def test_a_published_copy_without_its_work_dir_is_done_writing_nothing(tmp_path):
    """Published as frames only (no .samatte beside them), the folder read-only: the run failed making the work dir
    ('cannot create the work dir .../track: Permission denied'); with every frame current it has nothing to make."""
    import shutil as sh
    from samatte import pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "plates"), frames=2, size=(64, 64))
    out = tmp_path / "out"
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job)
    sh.rmtree(str(out / ".samatte"))
    jobspec.save(job, str(tmp_path / "job.json"))
    _lock(str(out), True)
    try:
        before = _snapshot(str(out))
        p = _run(["run", str(tmp_path / "job.json")])
        assert p.returncode == 0, p.stderr[-3000:]
        assert "all 2 frames already complete" in p.stderr, p.stderr
        assert _snapshot(str(out)) == before
    finally:
        _lock(str(out), False)
    # a frame missing: something to write, the work dir's error at once, as before
    os.remove(str(out / "m.1002.exr"))
    _lock(str(out), True)
    try:
        p = _run(["run", str(tmp_path / "job.json")])
        assert p.returncode == 5 and "[OUTPUT_INVALID] cannot create the work dir" in p.stderr, p.stderr[-3000:]
        assert sorted(os.listdir(str(out))) == ["m.1001.exr"]
    finally:
        _lock(str(out), False)
