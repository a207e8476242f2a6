"""QA round (Nuke adapter, model weights, Python API): regressions for the bugs found.

* api.run's ``on_frame`` was never called (run_iter was not asked for frame events).
* Two jobs matting in two threads left ``sys.stdout`` pointing at a dead StringIO for good
  (``contextlib.redirect_stdout`` around pymatting / shared matting is not thread-safe).
* ``models.download`` into a read-only folder, or from an unreadable / short-of-space copy, ended in
  "unexpected error (a bug)" with a traceback instead of MODEL_ERROR.
* The node's read-back in a gap of a non-contiguous range asked for a frame the job never makes
  (and told the user to run ``samatte run --frames`` with it).
* Roto lifetime (``ltt``/``ltn``/``ltm``) was ignored: an unkeyed shape living on 5-8 became a prompt
  on frame 1, where Nuke shows nothing.
"""
import errno
import hashlib
import io
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte import models  # noqa: E402
from samatte.errors import ModelError  # noqa: E402
from samatte_nuke import farm, gather  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402


# --- Python API ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa_api")), frames=2, size=(64, 64), first=1001)


def _job(shot, out):
    from samatte import api, jobspec
    prompt = jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])
    return api.job(shot["plate"], os.path.join(out, "m.####.exr"), tracker="shapes", quality="draft",
                   prompts={"hero": [prompt]})


def test_api_run_calls_on_frame_and_progress(shot, tmp_path):
    from samatte import api
    events, progress = [], []
    result = api.run(_job(shot, str(tmp_path / "a")), progress=progress.append, on_frame=events.append)
    assert result["status"] == "done"
    assert sorted(e.frame for e in events if e.stage == "matte") == [1001, 1002]
    assert all(e.status == "written" and e.path and os.path.exists(e.path) for e in events
               if e.stage == "matte")
    assert progress and all(hasattr(p, "done") for p in progress)


def test_api_run_callback_raising_propagates_and_a_rerun_works(shot, tmp_path):
    from samatte import api

    def boom(p):
        if p.stage == "matte":
            raise RuntimeError("callback failed")
    job = _job(shot, str(tmp_path / "b"))
    with pytest.raises(RuntimeError, match="callback failed"):
        api.run(job, progress=boom)
    assert api.run(job)["status"] == "done"


def test_quiet_stdout_is_thread_safe_with_interleaved_sections():
    from samatte.matte.quiet import quiet_stdout
    real = sys.stdout
    seen = io.StringIO()
    sys.stdout = seen
    try:
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

        def a():
            with quiet_stdout():
                a_in.set()
                b_in.wait(5)
                print("from A (hushed)")
            a_out.set()

        def b():
            a_in.wait(5)
            with quiet_stdout():
                b_in.set()
                a_out.wait(5)          # A leaves first: redirect_stdout put B's StringIO back for good
                print("from B (hushed)")
        ta, tb = threading.Thread(target=a), threading.Thread(target=b)
        ta.start()
        tb.start()
        a_in.wait(5)
        print("main thread while A is hushed")
        ta.join(5)
        tb.join(5)
        assert sys.stdout is seen
        print("after")
    finally:
        sys.stdout = real
    assert seen.getvalue() == "main thread while A is hushed\nafter\n"


def test_two_jobs_in_threads_leave_stdout_alone(shot, tmp_path):
    from samatte import api
    before = sys.stdout
    out = {}

    def run(i):
        out[i] = api.run(_job(shot, str(tmp_path / ("t%d" % i))))["status"]
    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert out == {0: "done", 1: "done"}
    assert sys.stdout is before


# --- model weights -------------------------------------------------------------------------------
@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    payload = b"w" * 4096
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake.pt", hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(models.MODELS, "fake_model", info)
    off = tmp_path / "studio"
    off.mkdir()
    (off / "fake_model.pt").write_bytes(payload)
    return off


def test_download_into_unwritable_folder_is_a_model_error(fake, tmp_path, monkeypatch):
    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(models, "_create_part", denied)
    with pytest.raises(ModelError) as ei:
        models.download("fake_model", dest=str(tmp_path / "ro"), offline_dir=str(fake))
    assert ei.value.code == "MODEL_ERROR" and "cannot write into the models folder" in str(ei.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_download_into_read_only_folder_for_real(fake, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ModelError):
            models.download("fake_model", dest=str(ro), offline_dir=str(fake))
    finally:
        ro.chmod(0o755)


def test_offline_copy_failing_midway_is_a_model_error_and_leaves_no_part(fake, tmp_path, monkeypatch):
    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(models, "_copy_stream", full)
    dest = tmp_path / "dest"
    with pytest.raises(ModelError) as ei:
        models.download("fake_model", dest=str(dest), offline_dir=str(fake))
    assert "No space left" in str(ei.value)
    assert os.listdir(str(dest)) == []


def test_cli_read_only_dest_exits_with_model_error_not_a_traceback(fake, tmp_path, monkeypatch, capsys):
    from samatte import cli

    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(models, "_create_part", denied)
    rc = cli.main(["models", "download", "fake_model", "--offline", str(fake), "--dest", str(tmp_path / "ro")])
    err = capsys.readouterr().err
    assert rc == 6 and "[MODEL_ERROR]" in err and "Traceback" not in err


# --- Nuke: read-back in a gap of the range ---------------------------------------------------------
def test_read_back_in_a_gap_shows_the_nearest_job_frame(monkeypatch):
    nk = nuke_env.fresh()
    g = nk.nodes.Group()
    g.addKnob(nk.String_Knob("samatte_job", "job", ""))
    g.addKnob(nk.Int_Knob("samatte_offset", "offset", 0))
    job = {"plate": {"path": "/p/plate.####.exr", "frames": "1001-1002,1006"},
           "output": {"path": "/c/matte/matte.####.exr"}, "name": "n"}
    g["samatte_job"].setValue(farm.encode_state(job))
    g["samatte_offset"].setValue(-1000)          # script frame t shows file t + 1000
    asked = []

    def state(job_text, f, fresh=False):
        asked.append(f)
        return "complete", "/c/matte/matte.%04d.exr" % f
    monkeypatch.setattr(farm, "frame_state", state)
    monkeypatch.setattr(farm, "expected_keys", lambda job: {})
    got = [os.path.basename(farm.frame_path(g, t)) for t in (0, 1, 2, 3, 4, 5, 6, 9)]
    assert asked == [1001, 1001, 1002, 1002, 1002, 1006, 1006, 1006]
    assert got[4] == "matte.1002.exr" and got[5] == "matte.1006.exr"


# --- Nuke: Roto lifetime ---------------------------------------------------------------------------
def _tri(curves, name, keys=None):
    s = rp.Shape(curves, name=name)
    for p in ((10, 10), (40, 10), (25, 40)):
        cp = rp.ShapeControlPoint()
        if keys:
            for t in keys:
                cp.center.addPositionKey(t, p)
        else:
            cp.center.setPosition(p)
        s.append(cp)
    return s


def test_roto_lifetime_limits_prompt_frames():
    nk = nuke_env.fresh()
    roto = nk.nodes.Roto()
    c = roto["curves"]
    ranged = _tri(c, "ranged")                    # unkeyed, lives on 5-8 only
    for k, v in (("ltt", 4), ("ltn", 5), ("ltm", 8)):
        ranged.getAttributes().set(k, v)
    late = _tri(c, "late", keys=(2, 6))           # keyed on 2 and 6, lives from 4 to the end
    for k, v in (("ltt", 3), ("ltn", 4)):
        late.getAttributes().set(k, v)
    single = _tri(c, "single", keys=(3, 7))       # keyed on 3 and 7, lives on 7 only
    for k, v in (("ltt", 2), ("ltn", 7)):
        single.getAttributes().set(k, v)
    always = _tri(c, "always")                    # no lifetime: the range's first frame
    for s in (ranged, late, single, always):
        c.rootLayer.append(s)
    got = gather.gather_roto(roto, Geometry(64, 64), FrameMap(-1000), list(range(1, 11)), rp)
    by = sorted((q["label"].split("/")[1], q["frame"]) for q in got[roto.name()])
    # all four at the root (one object): each one's frame (1001, 1005, 1006, 1007) is an anchor of it, where
    # every other shape alive there is prompted too; none outside its lifetime
    assert by == [("always", 1001), ("always", 1005), ("always", 1006), ("always", 1007), ("late", 1005),
                  ("late", 1006), ("late", 1007), ("ranged", 1005), ("ranged", 1006), ("ranged", 1007),
                  ("single", 1007)]
    assert gather.gather_roto(roto, Geometry(64, 64), FrameMap(0), [], rp) == {}
