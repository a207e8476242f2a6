"""QA: an afternoon in Nuke with the SAMatte node (the Nuke double), regressions for what the artist saw.

* The node's text named file numbers, not the script frames the artist works in: with a Read of files
  101-105 at ``offset`` 900 (script frames 1001-1005), **Refresh objects** said ``hero: 1 prompt(s) on
  103`` for a shape keyed on frame 1003, the status line said ``low score on 105`` for frame 1005, and the
  panel's objects table and score strip tooltip did the same (a ``start at 1`` Read of files 1001-1004:
  ``low score on 1003`` in a 1-4 timeline). They now say 1003 / 1005 (script = file + the Read's offset).
* A node made from the menu (**Nodes toolbar > samatte > SAMatte**) was called ``Group1`` (Nuke's name for
  any Group), so were its cache folder (``Group1_<uid>``) and its messages (``frame 1002 of Group1 is
  stale``), where the README names ``SAMatte1``. It is now ``SAMatte1``, ``SAMatte2``, ... in the group
  being edited.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

import samatte_nuke  # noqa: E402
from samatte_nuke import node as snode  # noqa: E402

W, H = 96, 64
TRIANGLE = [(20.5, 10.5), (70.5, 12.5), (45.5, 50.5)]


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    """{first file: plate pattern}: two tiny EXR shots, files 101-105 and 1001-1004."""
    from samatte.demo import make_shot
    return {first: make_shot(str(tmp_path_factory.mktemp("day%d" % first)), frames=n, size=(W, H),
                             first=first)["plate"] for first, n in ((101, 5), (1001, 4))}


@pytest.fixture
def nk(tmp_path):
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _comp(nuke, tmp_path, plate, *, first=101, last=105, mode="offset", value=900, key=1003):
    """Read (files ``first``-``last`` shown through ``mode`` / ``value``) -> SAMatte <- Roto (layer
    'hero', a triangle keyed on script frame ``key``)."""
    read = nuke_env.make_read(plate, first, last, width=W, height=H, mode=mode, value=value)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], TRIANGLE, key, H, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return read, roto, g


@pytest.mark.parametrize("mode,value,files,key", [
    ("offset", 900, (101, 105), 1003),       # files 101-105 on script frames 1001-1005
    ("start at", 1, (1001, 1004), 3),        # files 1001-1004 on script frames 1-4
])
def test_the_node_text_names_the_script_frames_the_artist_keyed_and_sees(nk, tmp_path, plates, mode, value,
                                                                         files, key):
    read, roto, g = _comp(nk, tmp_path, plates[files[0]], first=files[0], last=files[1], mode=mode, value=value, key=key)
    job = snode.on_refresh(g)
    offset = key - job["objects"][0]["prompts"][0]["frame"]
    assert offset == (900 if mode == "offset" else -1000)      # the job itself holds file numbers
    assert g["objects_info"].value() == "hero (hero): 1 prompt(s) on %d" % key
    # the job ends with a low score on the last file: the status line names that file's script frame
    job, info = snode.build(g)
    last_file = files[1]
    scores = {f: (0.2 if f == last_file else 0.9) for f in range(files[0], files[1] + 1)}
    result = {"written": ["x"] * len(scores), "skipped": [], "scores": {str(f): s for f, s in scores.items()}}
    snode._on_event(g.fullName(), "done", (result,), job, info, {}, uid=g["samatte_uid"].value())
    status = g["status"].value()
    assert status.startswith("done: %d frame(s) written" % len(scores)), status
    assert status.endswith("low score on %d" % (last_file + offset)), status


def test_the_panel_names_script_frames_too(nk, tmp_path):
    pytest.importorskip("PySide6")
    pytest.importorskip("pytestqt")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from samatte_nuke import panel as spanel
    from samatte_nuke.qt_compat import QtWidgets
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    p = spanel.SamattePanel("SAMatte1")
    try:
        objects = [{"name": "hero", "host_name": "hero", "prompts": [{"frame": 103}, {"frame": 104}]}]
        p.load(objects, [101, 102, 103, 104, 105], {"105": 0.2}, offset=900)
        assert p.table.item(0, 3).text() == "1003, 1004"
        p.strip.resize(500, 20)
        ev = type("E", (), {"x": lambda self: 499})()       # the last bar: file 105, script frame 1005
        p.strip.mouseMoveEvent(ev)
        assert p.strip.toolTip() == "frame 1005: score 0.20"
        p.on_event("SAMatte1", "progress", ({"stage": "matte", "frame": 104, "fraction": 0.5},))
        assert p.status.text() == "matte 1004"
    finally:
        p.deleteLater()
        app.processEvents()


def test_a_new_node_is_called_samatte_and_so_are_its_cache_and_messages(nk, tmp_path):
    nk.nodes.Group(name="Group1")                        # the artist's own Group
    first = samatte_nuke.create_node()                   # the menu command
    second = samatte_nuke.create_node()
    assert (first.name(), second.name()) == ("SAMatte1", "SAMatte2")
    first["cache_dir"].setValue(str(tmp_path / "cache"))
    assert os.path.basename(snode._folder(first)) == "SAMatte1_%s" % first["samatte_uid"].value()
    shot = nk.nodes.Group(name="Shot010")
    shot.begin()
    try:
        inner = snode.create()
    finally:
        shot.end()
    assert inner.fullName() == "Shot010.SAMatte1"         # names are per group, as in Nuke
    assert snode.create("matte_hero").name() == "matte_hero"


def test_a_stale_frame_names_the_script_frame_the_render_was_on(nk, tmp_path, plates, monkeypatch):
    """A render (``nuke -x``) of script frame 1003 over file 103 (Read offset 900) failed with only 'frame 103
    of SAMatte1 is stale': it now names both, and the command still takes the file number."""
    from samatte_nuke import farm
    read, roto, g = _comp(nk, tmp_path, plates[101])
    job, info = snode.build(g)
    snode._point_read(g, job, info)            # what a finished Track & Matte stores
    monkeypatch.setattr(farm, "frame_state", lambda job_text, f, fresh=False: ("stale", "/c/matte.%04d.exr" % f))
    with pytest.raises(farm.StaleFrameError) as e:
        farm.frame_path(g, 1003)
    msg = str(e.value)
    assert msg.startswith("samatte: frame 103 (script frame 1003) of SAMatte1 is stale in the cache"), msg
    assert msg.endswith("job.json --frames 103"), msg
    # where the script frame is the file number, the message is as before
    read2, roto2, g2 = _comp(nk, tmp_path / "b", plates[1001], first=1001, last=1004, mode="", value="", key=1003)
    job, info = snode.build(g2)
    snode._point_read(g2, job, info)
    with pytest.raises(farm.StaleFrameError, match=r"^samatte: frame 1003 of SAMatte2 is stale in the cache; "
                                                   r"make it with: samatte run .*--frames 1003$"):
        farm.frame_path(g2, 1003)
