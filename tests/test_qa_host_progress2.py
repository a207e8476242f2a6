"""QA of progress and cancel in the hosts, day 2 (day 1: test_qa_host_progress.py).

* A cancelled first Track & Matte on a SAMatte node left it without any matte: the read-back was set up
  only when a job succeeded, so the frames the job had finished (complete and current on disk) were not
  shown. The node now reads back the frames a cancelled (or failed) job wrote, the others as unfinished.
* A cancel pressed while the worker was still starting (before its hello) was honoured only once the job
  had been sent and had made its tracker (the model loaded: seconds and GPU memory on a cold machine). The
  node now sends no job; a job whose cancel came with it stops before any backend is made.
"""
import os
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm as sfarm, node as snode, runner as srunner  # noqa: E402

# samatte's Python: the project venv's, else this one (which runs samatte: the tests import it)
VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
if not os.path.exists(VENV_PY):
    VENV_PY = sys.executable
N = 12


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("progress2")), frames=N, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    yield nuke
    for r in list(snode.RUNNERS.values()):
        r.cancel()
        r.join(30)
    nuke._reset()


def _comp(nuke, shot):
    """Read (files 1001-1012 on script frames 1-12) -> SAMatte <- Roto (layer 'hero')."""
    read = nuke_env.make_read(shot["plate"], 1001, 1000 + N, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], shot["prompt_frame"] - 1000, 64,
                                        name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("flow")
    g["quality"].setValue("draft")
    return g


def test_a_cancelled_first_run_reads_back_the_frames_it_wrote(nk, shot, tmp_path, monkeypatch):
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        g = _comp(nk, shot)
        written = []

        def cancel_after_two_frames(name, kind, payload):
            if kind == "frame" and payload[0].get("status") == "written":
                written.append(payload[0]["frame"])
                if len(written) == 2:
                    snode.on_cancel(g)
        snode.LISTENERS.append(cancel_after_two_frames)
        try:
            outcome = nuke_env.wait_runner(nk, snode.on_track(g), 120)
        finally:
            snode.LISTENERS.pop()
        assert outcome[:2] == ("failed", "CANCELLED"), outcome
        assert g["status"].value().startswith("error [CANCELLED]")
        folder = os.path.dirname(snode.build(g)[0]["output"]["path"])
        kept = sorted(f for f in os.listdir(folder) if f.endswith(".exr"))
        assert 2 <= len(kept) < N, kept
        # the node shows the frames the cancelled job finished (before: no read-back at all, "" everywhere)
        shown = {}
        for t in range(1, N + 1):
            try:
                shown[t] = sfarm.frame_path(g, t)
            except sfarm.StaleFrameError as e:
                shown[t] = e
        done = [t for t, p in shown.items() if isinstance(p, str) and p]
        assert len(done) == len(kept), shown
        for t in done:
            assert os.path.basename(shown[t]) in kept and str(1000 + t) in os.path.basename(shown[t])
        assert not snode._inner(g, "samatte_copy")["disable"].value()   # the matte is copied into the stream
        # the frames it did not finish say so (as an unfinished frame of any job), never another frame's matte
        rest = [p for t, p in shown.items() if t not in done]
        assert rest and all(isinstance(p, sfarm.StaleFrameError) for p in rest), rest
    finally:
        pool.close_all()


def _slow_python(tmp_path, seconds):
    """A samatte Python whose worker says hello ``seconds`` late (a cold machine's imports)."""
    path = tmp_path / "slow-python"
    path.write_text("#!/bin/sh\nsleep %s\nexec '%s' \"$@\"\n" % (seconds, VENV_PY))
    path.chmod(0o755)
    return str(path)


@pytest.mark.skipif(os.name != "posix", reason="a shell wrapper")
def test_a_cancel_while_the_worker_starts_stops_the_job_before_it_starts(nk, shot, tmp_path, monkeypatch):
    python = _slow_python(tmp_path, 1.5)
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, python)
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
        g = _comp(nk, shot)
        r = snode.on_track(g)
        time.sleep(0.3)
        assert r.is_alive() and r.handle is None          # the worker is still starting
        snode.on_cancel(g)
        outcome = nuke_env.wait_runner(nk, r, 120)
        assert outcome[:2] == ("failed", "CANCELLED"), outcome
        assert r.handle is None                            # no job was sent to the worker
        folder = os.path.dirname(snode.build(g)[0]["output"]["path"])
        assert not os.path.isdir(folder) or not [f for f in os.listdir(folder) if f.endswith(".exr")]
        status = g["status"].value()
        assert status.startswith("error [CANCELLED]") and "before the job started" in status, status
        assert "no frame was finished by it" in status
        # the worker it started stays warm: the next Track & Matte runs in it
        assert nuke_env.wait_runner(nk, snode.on_track(g), 120)[0] == "done"
    finally:
        pool.close_all()


def test_a_job_cancelled_before_it_starts_makes_no_backend(shot, tmp_path, monkeypatch):
    """The worker's job thread receives its cancel with the job (a client that cancels right after sending it):
    the pipeline made the tracker (loading its model) before its first cancel check."""
    import samatte.matte as smatte
    import samatte.track as strack
    from samatte import jobspec, pipeline
    from samatte.errors import CancelledError
    from samatte.progress import CancelToken
    made = []
    monkeypatch.setattr(strack, "get_tracker", lambda *a, **k: made.append("tracker") or pytest.fail("tracker made"))
    monkeypatch.setattr(smatte, "get_matter", lambda *a, **k: made.append("matter") or pytest.fail("matter made"))
    job = jobspec.new_job(shot["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="flow", matte="refine",
                          quality="draft", work_dir=str(tmp_path / "work"))
    jobspec.add_object(job, "hero", [{"frame": shot["prompt_frame"], "type": "polygon",
                                      "points": shot["polygon"]}])
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        for _ in pipeline.run_iter(job, cancel=token):
            pass
    assert made == []
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.exr"))
