"""QA of the artist using the SAMatte Qt panel while jobs run (PySide6 offscreen, the Nuke double, jobs in a
real worker running the stand-in pipeline ``cli_fake_pipeline``). Regressions for bugs found by hand."""
import os
import re
import sys
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nuke"))
import nuke_env  # noqa: E402

from samatte.client import WorkerClient  # noqa: E402
from samatte_nuke import node as snode, panel as spanel, runner as srunner  # noqa: E402
from samatte_nuke.qt_compat import Qt  # noqa: E402


def _fake_worker(python=None):
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return WorkerClient(python or sys.executable, env=env, worker_args=["--pipeline", "cli_fake_pipeline"],
                        startup_timeout=60)


def _fake_job(out, **fake):
    return {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1008"},
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


def _start(g, tmp_path, **fake):
    info = {"offset": -1000, "frames": list(range(1, 9)), "folder": str(tmp_path / "out"), "objects": []}
    return snode._start(g, _fake_job(tmp_path / "out", **fake), info, stage="all", frames=None,
                        title="SAMatte %s" % g.name())


def _pump(nuke, until, timeout=30):
    t0 = time.monotonic()
    while not until():
        nuke._process_main_queue(timeout=0.05)
        assert time.monotonic() - t0 < timeout, "timed out"


def test_a_renamed_nodes_panel_keeps_showing_it_and_its_buttons_work(nk, tmp_path, qtbot):
    """The panel knew its node by name only: after the artist renamed SAMatte1 (while its job ran) the
    panel dropped every event (progress frozen) and its Cancel button found no node."""
    g = snode.create("SAMatte1")
    p = snode.on_panel(g)
    assert "SAMatte1" in p.windowTitle()
    r = _start(g, tmp_path, frames=40, delay=0.05)
    g.setName("hero_matte")
    _pump(nk, lambda: p.progress.value() > 0)
    assert "hero_matte" in p.windowTitle() and "hero_matte" in p.title.text()
    qtbot.mouseClick(p.buttons["cancel"], Qt.LeftButton)
    assert r._cancel.is_set()
    assert nuke_env.wait_runner(nk, r)[:2] == ("failed", "CANCELLED")
    assert "[CANCELLED]" in p.status.text()


def test_a_deleted_nodes_panel_is_not_taken_over_by_a_new_node_of_its_name(nk, tmp_path, qtbot):
    """SAMatte1 deleted while its panel is open, then a new node gets the name SAMatte1 (Nuke reuses free
    names): the old panel showed the new node's job and its Cancel button cancelled the new node's job."""
    a = snode.create("SAMatte1")
    p = snode.on_panel(a)
    nk.delete(a)
    b = snode.create("SAMatte1")
    r = _start(b, tmp_path, frames=40, delay=0.05)
    _pump(nk, lambda: b["status"].value().startswith("running:"))
    assert p.progress.value() <= 0
    qtbot.mouseClick(p.buttons["cancel"], Qt.LeftButton)
    assert not r._cancel.is_set()
    assert "no longer" in p.status.text()
    # the new node's own panel shows it
    q = snode.on_panel(b)
    r.cancel()
    nuke_env.wait_runner(nk, r)
    assert "[CANCELLED]" in q.status.text() and "[CANCELLED]" not in p.status.text()


def test_a_panel_opened_before_the_first_job_shows_its_result(nk, tmp_path):
    """Open panel on a fresh node, then Track & Matte: the job's objects and frames never appeared (the
    score strip and the objects table stayed empty after the job was done) until the panel was reopened."""
    g = snode.create("SAMatte1")
    p = snode.on_panel(g)
    assert p.strip.frames == [] and p.table.rowCount() == 0
    assert nuke_env.wait_runner(nk, _start(g, tmp_path, frames=8))[0] == "done"
    assert p.strip.frames == list(range(1001, 1009))
    assert p.strip.scores == {f: 1.0 for f in range(1001, 1009)}
    assert p.table.rowCount() == 1 and p.table.item(0, 0).text() == "hero"
    assert p.status.text() == g["status"].value() and p.status.text().startswith("done")


def test_a_failed_job_shows_its_code_and_first_line_not_a_traceback(nk, tmp_path, monkeypatch):
    """A samatte Python whose worker dies at start-up with a traceback: the panel's status label showed the
    whole stderr tail (the traceback) as the message. It shows the code and the first line; the rest is in
    the tooltip. The label is plain text: a message with '<module>' or '<cache>' is not read as HTML."""
    py = tmp_path / "broken python"
    py.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                  "echo '  File \"<string>\", line 1, in <module>' >&2\n"
                  "echo \"ImportError: libtorch_cpu.so: cannot open shared object file\" >&2\nexit 1\n")
    py.chmod(0o755)
    pool = srunner.WorkerPool(factory=lambda python: WorkerClient(python, startup_timeout=30))
    nuke_env.use_pool(monkeypatch, pool, tmp_path, str(py))
    g = snode.create("SAMatte1")
    p = snode.on_panel(g)
    outcome = nuke_env.wait_runner(nk, _start(g, tmp_path, frames=2))
    assert outcome[:2] == ("failed", "WORKER_FAILED") and "Traceback" in outcome[2]
    text = p.status.text()
    assert text.startswith("[WORKER_FAILED] ") and "Traceback" not in text and "\n" not in text, text
    assert "Traceback" in p.status.toolTip() and "libtorch_cpu" in p.status.toolTip()
    assert p.status.textFormat() == Qt.PlainText and p.title.textFormat() == Qt.PlainText


def test_a_panel_reopened_mid_job_resumes_where_the_job_is_with_one_listener(nk, tmp_path, qtbot):
    """Closed and reopened while the job runs: the closed panel stops listening, the new one starts at
    the job's last progress (it showed an empty bar until the next frame, on SAM 2 seconds later) and
    follows the job to its end; one listener per open panel."""
    g = snode.create("SAMatte1")
    before = list(snode.LISTENERS)
    p = snode.on_panel(g)
    r = _start(g, tmp_path, frames=30, delay=0.05)
    _pump(nk, lambda: p.progress.value() >= 10)
    cb = p.on_event
    p.close()
    qtbot.waitUntil(lambda: cb not in snode.LISTENERS, timeout=3000)

    def node_at(pct):
        st = g["status"].value()
        m = re.search(r"(\d+)%", st)    # "running: matte 52%" (since 0.2.20: ", 4m10s left" after it)
        return st.startswith("running:") and m is not None and int(m.group(1)) >= pct
    _pump(nk, lambda: node_at(50))
    q = snode.on_panel(g)
    assert q.progress.value() >= 50, q.progress.value()
    assert len(snode.LISTENERS) == len(before) + 1
    assert nuke_env.wait_runner(nk, r)[0] == "done"
    assert q.progress.value() == 100 and q.status.text().startswith("done")


def test_many_objects_long_and_unicode_names(qtbot):
    nuke_env.fresh()
    p = spanel.SamattePanel("SAMatte1")
    qtbot.addWidget(p)
    obs = [{"name": "ob_%02d" % i, "host_name": "Roto1 layer %d" % i, "prompts": [{"frame": 1001 + i}]}
           for i in range(48)]
    obs.append({"name": "h\u00e9ros_" + "x" * 300, "host_name": "h\u00e9ros \u65e5\u672c <b>", "prompts": []})
    obs.append({"name": "\u00e9clair", "host_name": "\u00e9clair", "prompts": [{"frame": 1003}, {"frame": 1001}]})
    p.load(obs, list(range(1001, 1051)), {str(f): 0.2 for f in range(1001, 1051, 7)})
    assert p.table.rowCount() == 50
    assert p.table.item(48, 1).text() == "h\u00e9ros \u65e5\u672c <b>"
    assert p.table.item(49, 3).text() == "1001, 1003"
    assert p.strip.low_frames() == list(range(1001, 1051, 7))
    p.resize(300, 200)
    p.show()
    p.strip.repaint()
