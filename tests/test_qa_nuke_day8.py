"""QA, Nuke day 8 (the Nuke double, the real samatte pipeline in-process on 4-frame 64x64 shots, ``shapes``
tracker): regressions for what the artist saw.

* A relative cache folder knob (``mattes``) resolved against Nuke's working folder (where Nuke was started):
  the same script wrote its cache in another place in each session. Now it is relative to the Root's
  ``project_directory`` (Foundry), else the script's folder; an absolute one is unchanged.
"""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode  # noqa: E402


@pytest.fixture
def shots(tmp_path):
    from samatte.demo import make_shot
    return (make_shot(str(tmp_path / "shA"), frames=4, size=(64, 64), first=1001),
            make_shot(str(tmp_path / "shB"), frames=4, size=(64, 64), first=1001, seed=7))


@pytest.fixture
def nk(tmp_path):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "shA_v001.nk"))
    farm._memo.clear()

    def render(w, first, last):   # the node's Write: the Source's Read files, numbered in script frames
        src = w.input(0)._parent.input(0)
        while src.Class() != "Read":
            src = src.input(0)
        pattern = nuke.filename(src)
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(pattern.replace("####", "%04d" % (t + 1000)), out)
    nuke._set_render_hook(render)
    yield nuke
    nuke._reset()


def _comp(nuke, plate, polygon, *, source=None):
    read = nuke_env.make_read(plate, 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    src = read
    if source is not None:
        src = source(read)
    g.setInput(0, src)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, roto, g


def _track(g):
    """Track & Matte, the job run in-process (what the worker runs), then the node's read-back aligned."""
    from samatte import pipeline
    job, info = snode.build(g)
    res = pipeline.run(job)
    snode._point_read(g, job, info)
    farm._memo.clear()
    return res


def _shown(g, frames=range(1, 5)):
    """{script frame: the matte file the read-back gives (its file number), or the refusal's text}."""
    farm._memo.clear()
    out = {}
    for t in frames:
        try:
            p = farm.frame_path(g, t)
        except farm.StaleFrameError as e:
            out[t] = str(e)
            continue
        out[t] = (int(p.rsplit(".", 2)[-2]), p) if p else None
    return out


def _files(g, frames=range(1, 5)):
    got = _shown(g, frames)
    assert all(not isinstance(v, str) for v in got.values()), got
    return {t: v[0] if v else None for t, v in got.items()}


def _refused(got, *words):
    for t, what in got.items():
        assert isinstance(what, str), (t, what)
        assert "script frame %d of SAMatte1" % t in what and "Press Track & Matte on SAMatte1" in what, what
        for w in words:
            assert w in what, what


def test_a_relative_cache_folder_is_relative_to_the_project_directory_or_the_script(nk, shots, tmp_path,
                                                                                   monkeypatch):
    a, _ = shots
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(str(elsewhere))    # where Nuke was started from
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    g["cache_dir"].setValue("mattes")
    folder = snode.build(g)[1]["folder"]
    # before: <cwd>/mattes/SAMatte1_<uid>
    assert folder.startswith(str(tmp_path / "comp" / "mattes") + os.sep), folder
    nk.root()["project_directory"].setValue(str(tmp_path / "proj"))
    assert snode.build(g)[1]["folder"].startswith(str(tmp_path / "proj" / "mattes") + os.sep)
    # Foundry's Script Directory button
    nk.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    nk.root()["name"].setValue(str(tmp_path / "comp2" / "shA_v001.nk"))
    assert snode.build(g)[1]["folder"].startswith(str(tmp_path / "comp2" / "mattes") + os.sep)
    g["cache_dir"].setValue(str(tmp_path / "abs"))      # absolute: as it was
    assert snode.build(g)[1]["folder"].startswith(str(tmp_path / "abs") + os.sep)
    # the read-back finds the mattes in the relative folder as it resolves now (script saved elsewhere)
    g["cache_dir"].setValue("../mattes")
    nk.root()["project_directory"].setValue("")
    _track(g)
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}
    assert farm.frame_path(g, 1).startswith(str(tmp_path / "mattes") + os.sep)
