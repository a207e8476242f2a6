"""QA, Nuke day 12: the SAMatte Qt panel while a job runs (PySide6 offscreen, the Nuke double, jobs in a real worker
running the stand-in pipeline ``cli_fake_pipeline``).

A panel open on a node before its first Track & Matte (or kept open while Track & Matte runs over another range)
showed the frames of the node's last finished job, none before the first: the score strip stayed empty, each frame's
score and the low ones in red appeared only once the whole job had ended, and a click on the strip or its tooltips
used the old offset. The node now tells its panels a job's objects, frames and offset when it starts.
"""
import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nuke"))
import nuke_env  # noqa: E402

from samatte.client import WorkerClient  # noqa: E402
from samatte_nuke import node as snode, panel as spanel, runner as srunner  # noqa: E402


def _fake_worker(python=None):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(python or sys.executable, env=env, worker_args=["--pipeline", "cli_fake_pipeline"],
                        startup_timeout=60)


def _fake_job(out, plate_frames="1001-1008", **fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": plate_frames},
            "objects": [{"name": "hero", "host_name": "hero roto", "masks": "/roto/hero.####.png"}],
            "output": {"path": os.path.join(str(out), "m.####.exr")}, "meta": {"fake": fake}}


@pytest.fixture
def nk(monkeypatch, tmp_path, qtbot):
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(factory=_fake_worker), tmp_path, sys.executable)
    listeners = list(snode.LISTENERS)
    yield nuke
    for r in list(snode.RUNNERS.values()):
        r.cancel()
        r.join(30)
    pool.close_all()
    for p in list(spanel._open):
        p.close()
    qtbot.waitUntil(lambda: not spanel._open, timeout=3000)
    snode.LISTENERS[:] = listeners
    nuke._reset()


def test_a_panel_open_before_the_first_job_shows_its_frames_and_low_scores_while_it_runs(nk, tmp_path):
    g = snode.create("SAMatte1")
    p = snode.on_panel(g)
    assert p.strip.frames == [] and p.table.rowCount() == 0
    job = _fake_job(tmp_path / "out", frames=40, delay=0.05)
    info = {"offset": -1000, "frames": list(range(1, 9)), "folder": str(tmp_path / "out"), "objects": []}
    r = snode._start(g, job, info, stage="all", frames=None, title="SAMatte SAMatte1")
    # before: [] (the node's last finished job: none), until the job had ended
    assert p.strip.frames == list(range(1001, 1009)) and p.offset == -1000 and p.strip.offset == -1000
    assert p.table.rowCount() == 1 and p.table.item(0, 0).text() == "hero"
    # a frame the job made with a low score (the runner's event, through the node): red at once
    snode._on_event(g.fullName(), "frame", ({"frame": 1003, "score": 0.2, "status": "written"},), job, info, {},
                    uid=g["samatte_uid"].value())
    assert p.strip.low_frames() == [1003]
    r.cancel()
    assert nuke_env.wait_runner(nk, r)[:2] == ("failed", "CANCELLED")


def test_a_new_track_and_matte_over_another_range_replaces_the_strip_and_matte_this_frame_keeps_scores(nk, tmp_path):
    g = snode.create("SAMatte1")
    p = snode.on_panel(g)
    p.load([], list(range(1001, 1005)), {"1001": 0.9, "1002": 0.3}, offset=-1000)   # the last job's
    info = {"offset": -1000, "frames": list(range(1, 5)), "folder": str(tmp_path / "out"), "objects": []}
    r = snode._start(g, _fake_job(tmp_path / "out", plate_frames="1001-1004", frames=2), info, stage="matte",
                     frames="1003", title="SAMatte SAMatte1: matte frame 3")
    assert p.strip.frames == [1001, 1002, 1003, 1004] and p.strip.low_frames() == [1002]   # (kept)
    nuke_env.wait_runner(nk, r)   # (the stand-in pipeline runs no matte stage: it fails, as it may)
    info = {"offset": -1000, "frames": list(range(5, 11)), "folder": str(tmp_path / "out"), "objects": []}
    r = snode._start(g, _fake_job(tmp_path / "out", plate_frames="1005-1010", frames=2), info, stage="all",
                     frames=None, title="SAMatte SAMatte1")
    assert p.strip.frames == list(range(1005, 1011)) and p.strip.scores == {}   # before: 1001-1004 and their scores
    assert nuke_env.wait_runner(nk, r)[0] == "done"
