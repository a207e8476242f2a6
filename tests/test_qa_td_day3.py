"""QA, a pipeline TD's day 3 (JobSpec ``absent`` from the command line and Python, farm chunks, run
--openjd): regression tests for the defects found."""
import glob
import os

import pytest

from demo_shots import make_demo_shot
from samatte import jobspec, pipeline


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "qa_td_day3", 6)


def _two_objects(shot, out, name="td3", corner=True, tracker="flow"):
    """The ball (keyed on the shot's prompt frame) absent on 1002-1003, and a box in the corner present
    throughout: draft refine."""
    s, _ = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1006", tracker=tracker,
                          matte="refine", quality="draft", name=name)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])], absent="1002-1003")
    if corner:
        jobspec.add_object(job, "corner", [jobspec.box_prompt(1001, [2, 2, 30, 20])])
    return job


def _bytes(folder):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(str(folder / "*.exr")))}


@pytest.mark.parametrize("corner,tracker", [(True, "flow"), (True, "shapes"), (False, "flow")])
def test_tracking_an_absent_span_on_its_own_leaves_the_mattes_of_one_run(shot, tmp_path, corner, tracker):
    """``--stage track --frames`` over frames where an object is absent (a TD tracking the shot in parts, a
    resumed track whose stale frames are that span) stored the object's track there with no temporal
    reference (the range's first frame), and the matte stage restarted every object's state on it: the
    other object's matte on 1002-1003 moved by up to 0.30 (145 px > 0.01) against one run of the same job,
    with the same keys (status said complete, so no re-run fixed it). Alone, the ball's own state records
    (``samatte/state``) of those frames changed."""
    pipeline.run(_two_objects(shot, tmp_path / "one", corner=corner, tracker=tracker))
    ref = _bytes(tmp_path / "one")
    assert len(ref) == 6

    job = _two_objects(shot, tmp_path / "parts", corner=corner, tracker=tracker)
    pipeline.run(job, stage="track", frames="1002-1003")     # the ball's absent span, tracked on its own
    pipeline.run(job, stage="track")                         # the rest
    pipeline.run(job, stage="matte")
    got = _bytes(tmp_path / "parts")
    assert sorted(got) == sorted(ref)
    assert [n for n in sorted(ref) if got[n] != ref[n]] == []


def test_a_requirement_that_fails_inside_its_own_import_is_dependency_missing_not_a_bug():
    """numpy built for another Python raises, from inside ``numpy.core``, an ImportError that names no module
    (so does a package's own loader): ``missing_dependency`` took it for a bug (exit 1, SAMATTE_ERROR, "please
    report it") while the worker's hello listed the module as missing. An ImportError raised by samatte's own
    code stays a bug."""
    from samatte.errors import DependencyError, missing_dependency

    def raised_in(module):
        try:
            exec(compile("raise ImportError('built for another Python')", module.replace(".", "/") + ".py", "exec"),
                 {"__name__": module})
        except ImportError as e:
            return e
    err = missing_dependency(raised_in("numpy.core"))
    assert isinstance(err, DependencyError) and err.code == "DEPENDENCY_MISSING" and err.exit_code == 7
    assert err.details["package"] == "numpy" and "built for another Python" in err.message
    assert missing_dependency(raised_in("samatte.track.flow")) is None
    assert missing_dependency(raised_in("numpyish")) is None


def test_run_with_a_cv2_that_does_not_import_exits_7_with_one_openjd_fail(shot, tmp_path):
    """``samatte run --openjd`` on a node whose cv2 is installed but does not import (libGL missing): exit 7
    and ``openjd_fail: [DEPENDENCY_MISSING] ... cv2``, what the worker's hello says (``capabilities.missing``);
    before, exit 1 with a traceback asking for a bug report and ``openjd_fail: [SAMATTE_ERROR]``."""
    import subprocess
    import sys
    site = tmp_path / "site" / "cv2"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("raise ImportError('libGL.so.1: cannot open shared object file')\n")
    job = _two_objects(shot, tmp_path / "out", corner=False)
    jobspec.save(job, str(tmp_path / "job.json"))
    core = os.path.dirname(os.path.dirname(os.path.abspath(jobspec.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), core]))
    r = subprocess.run([sys.executable, "-m", "samatte", "run", str(tmp_path / "job.json"), "--openjd"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 7, r.stdout + r.stderr
    fails = [ln for ln in r.stdout.splitlines() if ln.startswith("openjd_fail:")]
    assert len(fails) == 1 and fails[0].startswith("openjd_fail: [DEPENDENCY_MISSING]") and "cv2" in fails[0]
    assert "Traceback" not in r.stderr
    assert not glob.glob(str(tmp_path / "out" / "*.exr"))


def test_an_unexpected_error_under_openjd_still_fails_with_a_code(shot, tmp_path, capsys, monkeypatch):
    """README: ``--openjd`` prints ``openjd_fail: [CODE] message`` once when the task fails. An unexpected
    exception (exit 1, whose code is SAMATTE_ERROR in ``--json`` and the worker) printed
    ``openjd_fail: RuntimeError: ...`` with no code, the one failure a farm's reason column could not
    sort."""
    import re

    from samatte import cli
    job = _two_objects(shot, tmp_path / "out", corner=False)
    jobspec.save(job, str(tmp_path / "job.json"))

    def broken(*a, **kw):
        raise RuntimeError("boom in the pipeline")
        yield  # pragma: no cover
    monkeypatch.setattr(pipeline, "run_iter", broken)
    assert cli.main(["run", str(tmp_path / "job.json"), "--openjd"]) == 1
    fails = re.findall(r"^openjd_fail: (.+)$", capsys.readouterr().out, re.M)
    assert fails == ["[SAMATTE_ERROR] RuntimeError: boom in the pipeline"]


def test_a_failed_qc_task_gives_the_render_manager_its_code_and_frames(shot, tmp_path, capsys):
    """The bundle's QC task (``samatte farm task ... --qc``) failed with exit 5 alone: no ``openjd_fail`` line
    (the Matte tasks print one, run --openjd), so Deadline's reason column read "exit status 5", and the CLI's
    QC_FAILED message named no frame. Now: one ``openjd_fail: [QC_FAILED] ... 1004-1006 ...``; a QC that
    passes prints none."""
    import re

    from samatte import cli
    from samatte.farm import export_openjd
    job = _two_objects(shot, tmp_path / "out", corner=False)
    jpath = str(tmp_path / "job.json")
    jobspec.save(job, jpath)
    res = export_openjd(jpath, str(tmp_path / "bundle"), chunk=3)
    roots = ["--root=%s=%s" % (k, res["parameters"][k]) for k in ("Plate", "Output")]
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    pipeline.run(job, frames="1001-1003")                    # the first Matte chunk only
    capsys.readouterr()
    assert cli.main(["farm", "task", doc] + roots + ["--qc", "--frames=1001-1006"]) == 5
    fails = re.findall(r"^openjd_fail: (.+)$", capsys.readouterr().out, re.M)
    assert len(fails) == 1 and fails[0].startswith("[QC_FAILED] QC failed on 3 of 6 frame(s): 1004-1006"), fails
    pipeline.run(job)
    capsys.readouterr()
    assert cli.main(["farm", "task", doc] + roots + ["--qc", "--frames=1001-1006"]) == 0
    assert "openjd_fail" not in capsys.readouterr().out
