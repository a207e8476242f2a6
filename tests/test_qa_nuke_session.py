"""QA of the artist's session in Nuke: progress and cancel in the host, jobs on a node while the artist
goes on working (Release GPU, deleting the node, another script), warnings. Regressions for bugs found
by adversarial runs against the Nuke double (tests/nuke).

The jobs run in a real ``python -m samatte.worker`` with the test stand-in pipeline
(``--pipeline cli_fake_pipeline``: steps with a delay, driven by the job's ``meta.fake``), or through an
in-process handle that replays protocol messages; both are fast.
"""
import importlib.util
import os
import sys
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # the panel test: Qt offscreen
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nuke"))
import nuke_env  # noqa: E402

from samatte.client import WorkerClient  # noqa: E402
from samatte_nuke import node as snode, runner as srunner  # noqa: E402


def _fake_worker(python=None):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(sys.executable, env=env, worker_args=["--pipeline", "cli_fake_pipeline"],
                        startup_timeout=60)


def _fake_job(**fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1008"},
            "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}],
            "output": {"path": "/out/m.####.exr"}, "meta": {"fake": fake}}


INFO = {"offset": -1000, "frames": list(range(1, 9)), "folder": "/out", "objects": []}


@pytest.fixture
def nk(monkeypatch, tmp_path):
    """The double, a fresh pool whose workers run the stand-in pipeline, and a samatte python."""
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(factory=_fake_worker), tmp_path, sys.executable)
    yield nuke
    for r in list(snode.RUNNERS.values()):
        r.cancel()
        r.join(30)
    pool.close_all()
    nuke._reset()


def _wait(nuke, runner, timeout=60):
    return nuke_env.wait_runner(nuke, runner, timeout)


def _until_running(runner, timeout=60):
    t0 = time.monotonic()
    while runner.handle is None and runner.is_alive():
        time.sleep(0.01)
        assert time.monotonic() - t0 < timeout
    assert runner.handle is not None and not runner.handle.done


def _start(g, job, stage="all", frames=None):
    return snode._start(g, job, INFO, stage=stage, frames=frames, title="SAMatte %s" % g.name())


def test_release_gpu_while_a_job_runs_is_busy_and_the_job_goes_on(nk):
    """Release GPU (this node's or another node's button) while a job runs on the shared warm worker: the
    worker answers BUSY, and the pool then *closed* that worker (shutdown cancels the running job, and the
    close blocked Nuke's main thread until it had). The job must go on; the button says BUSY."""
    a = snode.create("SAMatte1")
    b = snode.create("SAMatte2")
    r = _start(a, _fake_job(frames=8, delay=0.15))
    _until_running(r)
    t0 = time.monotonic()
    snode.on_release(b)
    assert time.monotonic() - t0 < 5
    assert "BUSY" in b["status"].value(), b["status"].value()
    outcome = _wait(nk, r)
    assert outcome[0] == "done", outcome
    assert a["status"].value().startswith("done"), a["status"].value()
    # idle again: Release GPU releases
    snode.on_release(b)
    assert b["status"].value() == "GPU released (1 worker(s))"


def test_a_deleted_nodes_job_does_not_land_on_a_new_node_of_the_same_name(nk):
    """The artist deletes SAMatte1 while its job runs (or closes the script and opens another that has
    its own SAMatte1). The job's events were looked up by name only: the finished job re-pointed the
    *other* SAMatte1 at the deleted node's cache (its stored job, scores and status replaced), and that
    node counted as busy (its Track refused, its Cancel stopped the orphan job)."""
    a = snode.create("SAMatte1")
    r = _start(a, _fake_job(frames=6, delay=0.1))
    _until_running(r)
    nk.delete(a)
    c = snode.create("SAMatte1")
    assert c.fullName() == "SAMatte1" and c["samatte_uid"].value() != a["samatte_uid"].value()
    assert not snode._busy(c)
    snode.on_cancel(c)                      # not this node's job: nothing to cancel
    assert not r._cancel.is_set()
    outcome = _wait(nk, r)
    # the orphan job is cancelled by its own next event (test_qa_nuke_day2: it kept the shared worker busy)
    assert outcome[:2] == ("failed", "CANCELLED"), outcome
    assert c["samatte_job"].value() == "" and c["samatte_scores"].value() == ""
    assert c["status"].value() == "not run yet"
    assert c.node("samatte_copy")["disable"].value()


def test_a_jobs_warning_reaches_the_artist(nk, monkeypatch):
    """The worker forwards samatte's warnings as ``log`` messages (e.g. 'SAM2 weights found but SAM2
    cannot run; using the flow tracker'); the runner dropped them, so the artist never learnt that the
    job ran with another tracker. A warning now goes to Nuke's terminal and the node's status line."""
    printed = []
    monkeypatch.setattr(nk, "tprint", lambda *a: printed.append(" ".join(str(x) for x in a)))
    g = snode.create("SAMatte1")
    outcome = _wait(nk, _start(g, _fake_job(frames=3, warn="SAM2 cannot run here; using the flow tracker")))
    assert outcome[0] == "done", outcome
    status = g["status"].value()
    assert status.startswith("done") and "1 warning" in status and "using the flow tracker" in status, status
    assert any("SAM2 cannot run here" in p and "SAMatte1" in p for p in printed), printed


def _task(nuke, title):
    return [t for t in nuke._progress_tasks() if t.name == title][-1]


def test_progress_closes_however_the_job_ends(nk):
    """Nuke's progress bar (a ProgressTask, closed when the object goes away) follows the job and closes
    when it ends: done (at 100), failed midway (the error on the node), cancelled from the Cancel button
    or from the progress bar, refused as BUSY by the shared worker."""
    g = snode.create("SAMatte1")
    r = _start(g, _fake_job(frames=4, delay=0.05))
    assert _wait(nk, r)[0] == "done"
    t = _task(nk, "SAMatte SAMatte1")
    assert t.closed and t.progress == 100

    r = _start(g, _fake_job(frames=4, delay=0.05, fail="TRACK_FAILED"))
    assert _wait(nk, r)[:2] == ("failed", "TRACK_FAILED")
    t = _task(nk, "SAMatte SAMatte1")
    assert t.closed and t.progress < 100
    assert "TRACK_FAILED" in g["status"].value() and any("TRACK_FAILED" in m for m in nk._messages())

    r = _start(g, _fake_job(frames=40, delay=0.05))
    _until_running(r)
    snode.on_cancel(g)
    assert g["status"].value() == "cancelling..."
    assert _wait(nk, r)[:2] == ("failed", "CANCELLED")
    assert _task(nk, "SAMatte SAMatte1").closed

    r = _start(g, _fake_job(frames=40, delay=0.05))
    _until_running(r)
    t = _task(nk, "SAMatte SAMatte1")
    t.cancelled = True                     # the artist presses cancel on the progress bar
    assert _wait(nk, r)[:2] == ("failed", "CANCELLED")
    assert t.closed and "CANCELLED" in g["status"].value()

    # two nodes at once share the warm worker: the second waits for it (test_qa_nuke_day2; before: BUSY),
    # the first goes on, both progress bars close
    b = snode.create("SAMatte2")
    ra = _start(g, _fake_job(frames=6, delay=0.05))
    _until_running(ra)
    rb = _start(b, _fake_job(frames=2))
    assert _wait(nk, ra)[0] == "done"
    assert _wait(nk, rb)[0] == "done"
    assert _task(nk, "SAMatte SAMatte2").closed and b["status"].value().startswith("done")
    # one after the other: both run
    assert _wait(nk, _start(b, _fake_job(frames=2)))[0] == "done"
    assert all(t.closed for t in nk._progress_tasks())


@pytest.mark.skipif(not (importlib.util.find_spec("PySide6") and importlib.util.find_spec("pytestqt")),
                    reason="PySide6 and pytest-qt are needed")
def test_a_closed_panel_stops_listening(qtbot):
    """Each Open panel made a panel that was kept (module list) and fed forever: closing it only hid it,
    so its listener stayed in LISTENERS and every later job event updated the hidden widgets (one more
    per press). A closed panel is now deleted and its listener goes with it."""
    nuke_env.fresh()
    from samatte_nuke import panel as spanel
    g = snode.create("SAMatte1")
    before = list(snode.LISTENERS)
    p = snode.on_panel(g)
    cb = p.on_event
    assert cb in snode.LISTENERS and p in spanel._open
    p.close()
    qtbot.waitUntil(lambda: cb not in snode.LISTENERS, timeout=3000)
    assert snode.LISTENERS == before and p not in spanel._open


def test_a_node_renamed_while_its_job_runs_keeps_the_job(nk):
    """The artist renames SAMatte1 while its job runs: the job's events were looked up by the old name,
    so the results were dropped (status stuck at 'running'), and Cancel on the renamed node found no
    job. Both now follow the node's uid."""
    a = snode.create("SAMatte1")
    r = _start(a, _fake_job(frames=6, delay=0.1))
    _until_running(r)
    a.setName("hero_matte")
    assert snode._busy(a) and snode._runner(a) is r
    outcome = _wait(nk, r)
    assert outcome[0] == "done", outcome
    assert a["status"].value().startswith("done"), a["status"].value()
    assert a["samatte_job"].value() != ""
    r2 = _start(a, _fake_job(frames=8, delay=0.2))
    _until_running(r2)
    a.setName("hero_matte2")
    snode.on_cancel(a)
    assert r2._cancel.is_set()
    assert _wait(nk, r2)[0] in ("cancelled", "failed")
