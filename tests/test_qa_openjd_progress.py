"""A samatte farm task tells its render manager how far it is and why it failed, in Open Job Description's
stdout messages (``openjd_progress: <0-100>``, ``openjd_status: <message>``, ``openjd_fail: <message>``;
the OpenJD spec's "Stdout/Stderr Messages", which Deadline Cloud's worker agent shows as the task's
progress, status and failure reason). Before, ``samatte farm task`` printed none: a task sat at 0 % until
it ended, and a failed one read only as its exit status."""
import os
import re
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.cli import main

CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from samatte.demo import make_shot
    from samatte.farm import export_openjd
    d = tmp_path_factory.mktemp("ojdprog")
    s = make_shot(str(d / "plates"), frames=4, size=(96, 64))
    job = jobspec.new_job(s["plate"], str(d / "out" / "sh_matte.####.exr"), frames="1001-1004", name="sh",
                          tracker="shapes", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(f, s["polygon"]) for f in s["frames"]])
    jpath = str(d / "job.json")
    jobspec.save(job, jpath)
    res = export_openjd(jpath, str(d / "bundle"), chunk=2)
    return d, res, s


def _task(argv, cwd):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(CORE))
    return subprocess.run([sys.executable, "-m", "samatte", "farm", "task"] + argv, capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def _farm_doc(bundle):
    return os.path.join(bundle[1]["bundle"], "samatte_farm_job.json")


def _roots(bundle, **change):
    """``--root NAME=PATH`` for each of the bundle's path parameters: its exported folder (``change``d)."""
    out = []
    for name, value in sorted(bundle[1]["parameters"].items()):
        if isinstance(value, str) and os.path.isabs(value):
            out += ["--root", "%s=%s" % (name, change.get(name, value))]
    return out


def test_a_task_prints_its_progress_and_status_for_the_render_manager(bundle, tmp_path):
    d, _res, _s = bundle
    doc = _farm_doc(bundle)
    out = _task([doc, "--stage", "all", "--frames", "1001-1002"] + _roots(bundle), str(tmp_path))
    assert out.returncode == 0, out.stderr
    pct = [int(m) for m in re.findall(r"^openjd_progress: (\d+)$", out.stdout, re.M)]
    assert pct and pct[-1] == 100 and pct == sorted(pct) and len(set(pct)) == len(pct), out.stdout
    status = re.findall(r"^openjd_status: (.+)$", out.stdout, re.M)
    assert any(s.startswith("matte ") and "frame 1002" in s for s in status), status
    assert "openjd_fail" not in out.stdout
    assert os.path.isfile(str(d / "out" / "sh_matte.1002.exr"))


def test_a_failed_task_says_why(bundle, tmp_path):
    doc = _farm_doc(bundle)
    out = _task([doc, "--stage", "matte", "--frames", "1001-1002", "--root", "nosuch=/x"], str(tmp_path))
    assert out.returncode != 0
    fails = re.findall(r"^openjd_fail: (.+)$", out.stdout, re.M)
    assert len(fails) == 1 and fails[0].startswith("["), out.stdout + out.stderr
    # a task whose plate went missing fails in the job itself: its code and message, once
    out = _task([doc, "--stage", "all", "--frames", "1001-1002"] + _roots(bundle, Plate=str(tmp_path / "gone")),
                str(tmp_path))
    assert out.returncode != 0
    fails = re.findall(r"^openjd_fail: (.+)$", out.stdout, re.M)
    assert len(fails) == 1 and fails[0].startswith("[FRAME_MISSING]"), out.stdout + out.stderr


def test_run_openjd_is_not_json(bundle, tmp_path, capsys):
    d, _res, _s = bundle
    assert main(["run", str(d / "job.json"), "--openjd", "--json"]) != 0
    assert "--openjd and --json" in capsys.readouterr().err
