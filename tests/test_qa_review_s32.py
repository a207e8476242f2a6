"""Second review of 0.2.18 (s32): regressions for what it found."""
import os
import subprocess
import sys

from samatte import protocol

TESTS = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join(os.path.dirname(TESTS), "core")


def test_the_worker_says_hello_before_any_log_when_a_requirement_does_not_import(tmp_path):
    """README (protocol): the worker's first line is ``hello``. With a cv2 that is installed but does not
    import (libGL missing), the hello's import check logged a warning, forwarded as a ``log`` message
    before the hello: a host that reads the first line as the hello (``check_hello``) saw a log. The log
    still comes, right after the hello; the hello lists cv2 as missing."""
    site = tmp_path / "site" / "cv2"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("raise ImportError('libGL.so.1: cannot open shared object file')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), TESTS, CORE]))
    proc = subprocess.run([sys.executable, "-m", "samatte.worker"], input=b"", capture_output=True,
                          env=env, timeout=60)
    msgs = [protocol.decode(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert proc.returncode == 0, proc.stderr.decode()
    types = [m["type"] for m in msgs]
    assert types[0] == "hello", types
    assert "cv2" in msgs[0]["capabilities"]["missing"]
    logs = [m for m in msgs if m["type"] == "log"]
    assert any("cv2" in m["message"] and "does not import" in m["message"] for m in logs), msgs
    assert types[-1] == "bye"


# -- Nuke: a worker error that names frames, in the script's frames ------------------------------------------------
def _nuke():
    sys.path.insert(0, os.path.join(TESTS, "nuke"))
    import nuke_env
    return nuke_env


def test_nuke_a_damaged_plate_frame_names_its_script_frame_on_the_status_line(tmp_path, monkeypatch):
    """Track & Matte on a Read of files 1001-1005 shown as script frames 1-5 ('start at' 1) whose file 1003 was
    deleted: the worker's FRAME_MISSING names file 1003 only; the status line now adds "(script frame 3)", as
    Blender adds the scene frame. Before: "error [FRAME_CORRUPT] 1 plate frame(s) missing: 1003 (pattern ...)"."""
    nuke_env = _nuke()
    venv_py = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
    if not os.path.exists(venv_py):
        import pytest
        pytest.skip("the project venv is needed (.venv)")
    from samatte.demo import make_shot
    from samatte_nuke import node as snode, runner as srunner
    shot = make_shot(str(tmp_path / "shot"), frames=5, size=(96, 64), first=1001)
    nk = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, venv_py)
    try:
        read = nuke_env.make_read(shot["plate"], 1001, 1005, width=96, height=64, mode="start at", value=1)
        roto = nk.nodes.Roto()
        roto.setInput(0, read)
        shape = nuke_env.polygon_shape(roto["curves"], shot["polygon"], 1, 64, name="hero")
        roto["curves"].rootLayer.append(shape)
        with open(shot["plate"].replace("####", "1003"), "r+b") as fh:   # damaged after its header: half a render
            fh.truncate(os.path.getsize(fh.name) // 2)
        g = snode.create()
        g.setInput(0, read)
        g.setInput(1, roto)
        g["tracker"].setValue("shapes")
        g["cache_dir"].setValue(str(tmp_path / "cache"))
        r = snode.on_track(g)
        assert r is not None, g["status"].value()
        outcome = nuke_env.wait_runner(nk, r, 120)
        status = g["status"].value()
        assert outcome[:2] == ("failed", "FRAME_CORRUPT"), (outcome, status)
        assert status.startswith("error [FRAME_CORRUPT]") and "1003" in status, status
        assert "(script frame 3)" in status, status
    finally:
        pool.close_all()
        nk._reset()


def test_nuke_error_frames_in_script_terms_one_place():
    """``node._in_script_terms``, the one place the node words a worker error: ``frames`` (a range text) and
    ``frame`` (one file number) get the script frames added where a Read's offset makes them differ; the same
    numbers or no frames leave the worker's words as they are; TRACK_MISSING keeps its own wording."""
    _nuke()
    from samatte_nuke import node as snode
    from samatte_nuke.convert import FrameMap
    info = {"fmap": FrameMap(-1000)}
    msg = "object 'hero': 2 mask frame(s) missing: 1002-1003 (pattern m.####.exr)"
    assert snode._in_script_terms("FRAME_MISSING", msg, {"frames": "1002-1003"}, info) == msg + " (script frames 2-3)"
    assert snode._in_script_terms("FRAME_CORRUPT", "bad", {"frame": 1004}, info) == "bad (script frame 4)"
    assert snode._in_script_terms("FRAME_CORRUPT", "bad", {"frame": 1004}, {"offset": 0}) == "bad"
    assert snode._in_script_terms("OUTPUT_INVALID", "bad", {"path": "/x"}, info) == "bad"
    tm = snode._in_script_terms("TRACK_MISSING", "stale: 1002-1005; run --stage track first", {"frames": "1002-1005"},
                                info)
    assert "frames 2-5" in tm and "Track & Matte" in tm and "--stage" not in tm


# -- farm task: every failure of the task gives the render manager its openjd_fail line ---------------------------
def test_farm_task_without_stage_or_qc_fails_with_one_openjd_fail_line(tmp_path, capsys):
    """``samatte farm task DOC --root ...`` with neither ``--stage`` nor ``--qc`` (a hand-written OpenJD template):
    exit 2 and ``openjd_fail: [JOBSPEC_INVALID] farm task needs --stage or --qc``, as every other failure of a
    farm task (a document or --root that does not resolve) says it. Before: exit 2 and no openjd_fail line, the
    render manager's failure reason empty."""
    from samatte import cli
    rc = cli.main(["farm", "task", str(tmp_path / "missing.json"), "--root", "Plate=%s" % tmp_path])
    out = capsys.readouterr().out
    fails = [ln for ln in out.splitlines() if ln.startswith("openjd_fail:")]
    assert rc == 2
    assert fails == ["openjd_fail: [JOBSPEC_INVALID] farm task needs --stage or --qc"], out
