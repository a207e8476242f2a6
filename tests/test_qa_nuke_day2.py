"""QA: a second afternoon in Nuke (the double) with two SAMatte nodes, regressions for what the artist saw.

* Two SAMatte nodes on the same plate (``hero`` and ``box``), **Track & Matte** pressed on the second
  while the first ran: the nodes share the warm worker (one job at a time) and one of them (either: the
  two threads raced for it, so the *first* node pressed was refused in some runs) failed with a popup
  ``[BUSY] this worker is already running job 'job27595-1'; send this one when that job has ended`` naming
  no node. The second job now waits for the worker (``running: queued``) and both finish.
* A SAMatte node deleted (or its script closed) while its job ran: the job ran to its end, writing a
  cache nobody reads, and the next node's **Track & Matte** failed BUSY meanwhile. It is now cancelled
  between frames as soon as its next event finds the node gone.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode, runner as srunner  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
pytestmark = pytest.mark.skipif(not os.path.exists(VENV_PY), reason="the project venv is needed")
BOX = [(5.5, 5.5), (30.5, 5.5), (30.5, 30.5), (5.5, 30.5)]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day2")), frames=4, size=(96, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    yield nuke
    pool.close_all()


def _node(nuke, read, shot, tmp_path, layer_name, polygon):
    """Roto (one layer ``layer_name``, ``polygon`` keyed on the middle frame) -> a new SAMatte node."""
    h = shot["size"][1]
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name=layer_name)
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, shot["prompt_frame"] - 1000, h, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return g


def _two_nodes(nuke, shot, tmp_path):
    w, h = shot["size"]
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=w, height=h, mode="start at", value=1)
    return (_node(nuke, read, shot, tmp_path, "hero", shot["polygon"]),
            _node(nuke, read, shot, tmp_path, "box", BOX))


def test_two_nodes_started_together_both_finish(nk, shot, tmp_path):
    g1, g2 = _two_nodes(nk, shot, tmp_path)
    r1 = snode.on_track(g1)
    r2 = snode.on_track(g2)          # pressed while the first runs: it waits for the shared worker
    o1 = nuke_env.wait_runner(nk, r1)
    o2 = nuke_env.wait_runner(nk, r2)
    assert (o1[0], o2[0]) == ("done", "done"), (o1, o2)
    assert not nk._state["messages"], nk._state["messages"]
    for g in (g1, g2):
        assert g["status"].value().startswith("done: 4 frame(s) written"), g["status"].value()
    # each node reads back its own object from its own folder
    p1, p2 = farm.frame_path(g1, 2), farm.frame_path(g2, 2)
    assert os.path.dirname(p1) != os.path.dirname(p2)
    assert [o["name"] for o in farm.stored_job(g1)["objects"]] == ["hero"]
    assert [o["name"] for o in farm.stored_job(g2)["objects"]] == ["box"]


def test_a_waiting_job_can_be_cancelled(nk, shot, tmp_path):
    g1, g2 = _two_nodes(nk, shot, tmp_path)
    pool = srunner.POOL
    client = pool.get(VENV_PY)
    h = client.start_job(farm.stored_job(g1) or snode.build(g1)[0])   # the worker is busy elsewhere
    r2 = snode.on_track(g2)
    import time
    t0 = time.monotonic()
    while "queued" not in g2["status"].value():
        nk._process_main_queue(timeout=0.05)
        assert "error" not in g2["status"].value() and time.monotonic() - t0 < 30, g2["status"].value()
    assert g2["status"].value() == "running: queued 0%"
    snode.on_cancel(g2)
    o2 = nuke_env.wait_runner(nk, r2)
    assert o2[0] == "failed" and o2[1] == "CANCELLED", o2
    h.wait()


def test_deleting_a_node_while_its_job_runs_stops_the_job(nk, shot, tmp_path):
    g1, g2 = _two_nodes(nk, shot, tmp_path)
    g1["quality"].setValue("high")
    g1["tracker"].setValue("flow")       # (slower: the job is still running when its first event comes)
    r1 = snode.on_track(g1)
    nk.delete(g1)
    r2 = snode.on_track(g2)
    o1 = nuke_env.wait_runner(nk, r1)
    o2 = nuke_env.wait_runner(nk, r2)
    assert o1[0] == "failed" and o1[1] == "CANCELLED", o1
    assert o2[0] == "done", o2
    assert not nk._state["messages"], nk._state["messages"]


def test_a_copy_pasted_while_the_job_runs_does_not_say_running(nk, shot, tmp_path):
    """Pasted mid-job, the copy said ``running (all)`` for good (its events go to the original) and its
    Cancel did nothing; the original's own status is untouched."""
    snode.register_callbacks()
    g1, _ = _two_nodes(nk, shot, tmp_path)
    r = snode.on_track(g1)
    for n in nk.allNodes():
        n["selected"].setValue(n == g1)
    nk.nodeCopy()
    c = nk.nodePaste()
    assert c["samatte_uid"].value() != g1["samatte_uid"].value()
    assert c["status"].value() == "not running (copied or saved while a job ran): press Track & Matte"
    assert g1["status"].value().startswith("running")
    assert nuke_env.wait_runner(nk, r)[0] == "done"
    assert g1["status"].value().startswith("done: 4 frame(s) written")
    assert c["status"].value().startswith("not running")


def test_an_artist_mistake_shows_a_stable_code_not_the_bug_code(nk, shot, tmp_path, monkeypatch):
    """No Source, no Prompts, every object in **skip objects**: the node said ``[SAMATTE_ERROR] ...``, the code
    the README keeps for "unexpected error (a bug: please report it)"; all objects skipped also read "the prompt
    nodes hold no shape, stroke or enabled track". Each now has its code, and a skip name that matches no
    object is named in Nuke's terminal."""
    g1, _ = _two_nodes(nk, shot, tmp_path)
    roto = g1.input(1)
    g1["skip_objects"].setValue("hero, heor")
    assert snode.on_track(g1) is None
    assert g1["status"].value() == "error [PROMPT_INVALID] every object is left out by skip objects (heor, hero)"
    assert nk._state["messages"][-1].startswith("SAMatte SAMatte1: [PROMPT_INVALID] every object")
    printed = []
    monkeypatch.setattr(nk, "tprint", lambda *a: printed.append(" ".join(map(str, a))))
    g1["skip_objects"].setValue("heor")
    assert snode.on_refresh(g1) is not None
    assert "[SAMatte SAMatte1] skip objects: no object named heor" in printed
    g1.setInput(1, None)
    assert snode.on_track(g1) is None and g1["status"].value().startswith("error [PROMPT_INVALID] connect a Roto")
    g1.setInput(1, roto)
    g1.setInput(0, None)
    assert snode.on_track(g1) is None and g1["status"].value().startswith("error [PLATE_INVALID] connect a plate")


def test_a_waiting_job_runs_in_a_fresh_worker_when_the_busy_one_dies(nk, shot, tmp_path):
    import signal
    import time
    g1, g2 = _two_nodes(nk, shot, tmp_path)
    g1["tracker"].setValue("flow")
    r1 = snode.on_track(g1)
    t0 = time.monotonic()
    while r1.handle is None and r1.is_alive():
        time.sleep(0.02)
        assert time.monotonic() - t0 < 60
    r2 = snode.on_track(g2)
    while "queued" not in g2["status"].value():
        nk._process_main_queue(timeout=0.05)
        assert time.monotonic() - t0 < 60, g2["status"].value()
    os.kill(srunner.POOL.get(VENV_PY).pid, signal.SIGKILL)   # the worker dies under the first node's job
    o1 = nuke_env.wait_runner(nk, r1)
    o2 = nuke_env.wait_runner(nk, r2)
    assert o1[:2] == ("failed", "WORKER_FAILED"), o1
    assert o2[0] == "done", o2
    assert g2["status"].value().startswith("done: 4 frame(s) written"), g2["status"].value()
