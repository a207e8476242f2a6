"""QA of progress and cancel in the hosts, day 2 (day 1: test_qa_host_progress.py).

* A cancelled first Track & Matte on a SAMatte node left it without any matte: the read-back was set up
  only when a job succeeded, so the frames the job had finished (complete and current on disk) were not
  shown. The node now reads back the frames a cancelled (or failed) job wrote, the others as unfinished.
* A cancel pressed while the worker was still starting (before its hello) was not honoured before the
  job was sent: the job started and ran its first phases. It now ends CANCELLED before any job is sent.
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
