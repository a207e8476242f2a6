"""The SAMatte Qt panel on PySide6, offscreen (skipped where PySide6 or pytest-qt is absent)."""
import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402

from samatte_nuke import panel as spanel  # noqa: E402
from samatte_nuke.qt_compat import QT_BINDING, Qt  # noqa: E402

OBJECTS = [{"name": "hero", "host_name": "hero roto", "prompts": [{"frame": 1002}, {"frame": 1010}]},
           {"name": "car", "host_name": "Tracker1", "prompts": [{"frame": 1001}]}]


def test_panel_objects_progress_and_scores(qtbot):
    assert QT_BINDING == "PySide6"
    nuke = nuke_env.fresh()
    p = spanel.SamattePanel("SAMatte1")
    qtbot.addWidget(p)
    p.load(OBJECTS, list(range(1001, 1011)), {"1001": 0.9, "1002": 0.3}, offset=-1000, status="not run")
    assert p.table.rowCount() == 2
    assert [p.table.item(0, c).text() for c in range(4)] == ["hero", "hero roto", "2", "2, 10"]   # script frames (file + offset)
    assert p.strip.low_frames() == [1002]
    p.on_event("SAMatte1", "progress", ({"stage": "matte", "frame": 1003, "fraction": 0.42},))
    assert p.progress.value() == 42
    p.on_event("other node", "progress", ({"fraction": 0.9},))
    assert p.progress.value() == 42
    p.on_event("SAMatte1", "frame", ({"frame": 1004, "score": 0.2, "status": "written"},))
    assert p.strip.low_frames() == [1002, 1004]
    p.on_event("SAMatte1", "done", ({"scores": {"1002": 0.8}},))
    assert p.progress.value() == 100 and p.strip.low_frames() == [1004]
    p.on_event("SAMatte1", "failed", ("CANCELLED", "stopped"))
    assert "[CANCELLED]" in p.status.text()
    # painting works offscreen, and a click on the strip moves Nuke to that frame (script = file + offset)
    p.resize(400, 300)
    p.show()
    p.strip.repaint()
    with qtbot.waitSignal(p.strip.frameClicked, timeout=2000) as sig:
        qtbot.mouseClick(p.strip, Qt.LeftButton, pos=p.strip.rect().center())
    assert sig.args[0] in range(1001, 1011)
    assert nuke.frame() == sig.args[0] - 1000


def test_score_colours():
    assert spanel.score_colour(None) == (90, 90, 90)
    assert spanel.score_colour(0.2)[0] > 150
    assert spanel.score_colour(0.95)[1] > 150


def test_panel_for_a_node_is_fed_by_the_node_events(qtbot):
    nuke = nuke_env.fresh()
    from samatte_nuke import node as snode
    g = snode.create()
    job = {"plate": {"frames": "1001-1004"}, "objects": OBJECTS}
    from samatte_nuke import farm
    g["samatte_job"].setValue(farm.encode_state(job))
    g["samatte_offset"].setValue(-1000)
    g["samatte_scores"].setValue(farm.encode_state({"1001": 0.9, "1003": 0.1}))
    assert set(g["samatte_job"].value()) <= set("b64:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    p = snode.on_panel(g)
    qtbot.addWidget(p)
    assert p.table.rowCount() == 2 and p.strip.frames == [1001, 1002, 1003, 1004]
    assert p.strip.low_frames() == [1003]
    assert p.on_event in snode.LISTENERS
    snode._on_event(g.fullName(), "progress", ({"stage": "track", "frame": 2, "fraction": 0.5},), {}, {}, {})
    assert p.progress.value() == 50 and "running: track 50%" in g["status"].value()
    snode.LISTENERS.remove(p.on_event)
    nuke._reset()


def test_compat_falls_back_to_pyside2_when_pyside6_is_absent():
    """Nuke 14/15 ship PySide2: with PySide6 hidden, qt_compat takes the PySide2 branch (here PySide6's
    modules stand in under the PySide2 name, so only the import path is checked, not PySide2 itself)."""
    import subprocess
    code = r"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import PySide6, PySide6.QtCore, PySide6.QtGui, PySide6.QtWidgets
sys.modules["PySide2"] = PySide6
for m in ("QtCore", "QtGui", "QtWidgets"):
    sys.modules["PySide2." + m] = getattr(PySide6, m)
sys.modules["PySide6"] = None            # import PySide6 now fails, as in Nuke 14/15
sys.path[:0] = [%r, %r]
from samatte_nuke import qt_compat, panel
app = qt_compat.QtWidgets.QApplication([])
p = panel.SamattePanel("n")
p.load([{"name": "a", "prompts": [{"frame": 1}]}], [1, 2], {"1": 0.2})
print(qt_compat.QT_BINDING, p.table.rowCount(), p.strip.low_frames())
""" % (os.path.join(os.path.dirname(__file__), "nuke"), nuke_env.PLUGIN)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("PySide2 1 [1]")
