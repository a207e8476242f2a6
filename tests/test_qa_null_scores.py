"""A finished job's result may hold ``null`` for a frame's score (a frame no score could be measured for;
the worker sends NaN as null). Blender's JobRun skipped it (test_qa_blender_day3); the Nuke node's
``done`` handler called ``float(None)`` and raised a TypeError in Nuke's main thread, leaving the node's
status at ``running`` with its mattes written."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import test_qa_nuke_day as day  # noqa: E402

from samatte_nuke import node as snode  # noqa: E402

nk, plates = day.nk, day.plates   # the day's fixtures: the Nuke double, two tiny EXR shots


def test_a_done_result_with_a_null_score_finishes_the_node(nk, tmp_path, plates):
    read, roto, g = day._comp(nk, tmp_path, plates[101])
    job, info = snode.build(g)
    result = {"written": ["x"] * 5, "skipped": [], "scores": {"101": 0.9, "102": None, "103": 0.8,
                                                              "104": 0.9, "105": 0.9}}
    snode._on_event(g.fullName(), "done", (result,), job, info, {}, uid=g["samatte_uid"].value())
    status = g["status"].value()
    assert status.startswith("done: 5 frame(s) written"), status


def test_the_panel_strip_skips_a_null_score():
    import pytest
    pytest.importorskip("PySide6")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from samatte_nuke import panel as spanel
    from samatte_nuke.qt_compat import QtWidgets
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])   # noqa: F841
    strip = next(getattr(spanel, n) for n in dir(spanel) if hasattr(getattr(spanel, n), "set_score"))()
    strip.set_data([1, 2, 3], {"1": 0.5, "2": None})
    strip.set_score(3, None)
    assert strip.scores == {1: 0.5}
