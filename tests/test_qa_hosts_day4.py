"""QA, an artist's day with 'absent' in Nuke (the Nuke double, a real samatte worker, the weights-free ``shapes``
tracker, a 5-frame 96x64 shot): a Roto shape whose lifetime is a frame range (its object absent outside it) and a
Tracker4 track of the same object on every frame.

* The log line that names the frames where such an object's Tracker4 points are dropped named the first by its
  **file number** ("file 1004 first") where the artist's script shows frame 4 (a Read with 'start at' 1). Now the
  script frame.
* Checked through the node (kept as a regression): the matte is 0 where the object is absent, there where it is
  shown; the absent frames are no low score on the status line; Matte this frame on an absent frame reuses its
  (empty) matte; Export JobSpec + ``samatte run`` of it gives the same mattes as Track & Matte.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, gather, node as snode, runner as srunner  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
W, H = 96, 64


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day4")), frames=5, size=(W, H), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _comp(nuke, shot):
    """Read (files 1001-1005, 'start at' 1: script frames 1-5) -> Roto (layer 'hero': the demo's polygon, lifetime
    frames 1-3) -> Tracker4 ('hero/eye' keyed on 1-5)."""
    read = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    shape = nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, H, name="B")
    for k, v in (("ltt", 4), ("ltn", 1), ("ltm", 3)):     # Lifetime tab: frame range 1-3
        shape.getAttributes().set(k, v)
    layer.append(shape)
    roto["curves"].rootLayer.append(layer)
    tk = nuke.nodes.Tracker4()
    tk.setInput(0, roto)
    tk["tracks"]._add_track("hero/eye", {t: (40.0, 30.0) for t in range(1, 6)})
    return read, roto, tk


def test_the_dropped_points_line_names_the_script_frame_not_the_file_number(nk, shot):
    read, roto, tk = _comp(nk, shot)
    from samatte.names import safe_name
    logs = []
    obs = gather.gather_objects([roto, tk], Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4, 5],
                                rp, safe_name=safe_name, log=logs.append)
    assert obs[0]["absent"] == [1004, 1005]
    assert sorted({q["frame"] for q in obs[0]["prompts"] if q["type"] == "points"}) == [1001, 1002, 1003]
    (line,) = [t for t in logs if "dropped" in t]
    # before: "hero: every shape is hidden or outside its lifetime on 2 frame(s) (file 1004 first) ..."
    assert "(frame 4 first)" in line and "1004" not in line, line


def _alpha(path):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    return buf.get_pixels(oiio.FLOAT)[..., list(buf.spec().channelnames).index("A")]


def test_track_and_matte_matte_this_frame_and_export_of_a_lifetime_limited_object(nk, shot, tmp_path, monkeypatch):
    if not os.path.exists(VENV_PY):
        pytest.skip("the project venv is needed (.venv)")
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        read, _roto, tk = _comp(nk, shot)
        g = snode.create()
        g.setInput(0, read)
        g.setInput(1, tk)
        g["tracker"].setValue("shapes")
        g["cache_dir"].setValue(str(tmp_path / "cache"))
        outcome = nuke_env.wait_runner(nk, snode.on_track(g), 240)
        assert outcome[0] == "done", outcome
        status = g["status"].value()
        assert status.startswith("done: 5 frame(s) written") and "low score" not in status, status
        scores = farm.stored_scores(g)
        assert scores[1004] >= 0.5 and scores[1005] >= 0.5, scores     # absent: no failure on the strip
        pat = farm.stored_job(g)["output"]["path"]
        first = {f: _alpha(pat.replace("####", "%04d" % f)) for f in range(1001, 1006)}
        for f in (1001, 1002, 1003):
            assert int((first[f] > 0.5).sum()) > 200, f
        for f in (1004, 1005):
            assert float(first[f].max()) == 0.0, f
        nk.frame(5)                                                      # script frame 5: file 1005, absent
        outcome = nuke_env.wait_runner(nk, snode.on_matte_frame(g), 120)
        assert outcome[0] == "done" and outcome[1]["frames"] == [1005], outcome
        assert float(_alpha(pat.replace("####", "1005")).max()) == 0.0
        path = snode.on_export(g)
        job = json.load(open(path))
        assert job["objects"][0]["absent"] == "1004-1005"
        job["output"]["path"] = str(tmp_path / "farm" / "m.####.exr")
        job.pop("work_dir", None)
        (tmp_path / "farm.json").write_text(json.dumps(job))
        env = dict(os.environ, PYTHONPATH=os.path.join(nuke_env.REPO, "core"))
        r = subprocess.run([VENV_PY, "-m", "samatte", "run", str(tmp_path / "farm.json")], capture_output=True,
                           text=True, env=env, timeout=240)
        assert r.returncode == 0, r.stderr[-2000:]
        for f in range(1001, 1006):
            assert np.array_equal(_alpha(job["output"]["path"].replace("####", "%04d" % f)), first[f]), f
    finally:
        pool.close_all()


def test_an_object_absent_on_every_frame_of_the_range_is_refused_saying_so(nk, shot, tmp_path):
    """The node's range (custom 4-5) lies outside the shape's lifetime (1-3): the object is absent on every frame
    and its Tracker4 points there are dropped. Before, the node said "[PROMPT_INVALID] the prompt nodes hold no
    shape, stroke or enabled track inside the frame range" (the track is enabled there); now it names the object,
    the range and what to change, with the same code, before anything is rendered or run."""
    read, _roto, tk = _comp(nk, shot)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, tk)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    g["range_mode"].setValue("custom")
    g["custom_range"].setValue("4-5")
    assert snode.on_refresh(g) is None
    status = g["status"].value()
    assert status.startswith("error [PROMPT_INVALID]"), status
    assert "'hero'" in status and "every frame of the range (4-5)" in status and "lifetime" in status, status
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.exr"))
    g["custom_range"].setValue("3-5")               # one frame where the shape lives: a job, absent on 4-5
    job = snode.on_refresh(g)
    assert job is not None and job["objects"][0]["absent"] == "1004-1005", g["status"].value()


def test_matte_this_frame_without_a_stored_track_names_script_frames_and_the_button(nk, shot, tmp_path, monkeypatch):
    """Matte this frame (stage matte) before Track & Matte, on script frame 5 (file 1005, the object absent there)
    and on frame 2: the worker's TRACK_MISSING names file numbers and a CLI flag. Before, the node showed "error
    [TRACK_MISSING] the stored track of 4 frame(s) is missing or stale: 1002-1005 (work dir ...); run --stage
    track first" on a script whose frames are 1-5. Now the script frames and the node's button, same code."""
    if not os.path.exists(VENV_PY):
        pytest.skip("the project venv is needed (.venv)")
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    try:
        read, _roto, tk = _comp(nk, shot)
        g = snode.create()
        g.setInput(0, read)
        g.setInput(1, tk)
        g["tracker"].setValue("shapes")
        g["cache_dir"].setValue(str(tmp_path / "cache"))
        for t, want in ((5, "frames 2-5"), (2, "frame 2 ")):
            nk.frame(t)
            outcome = nuke_env.wait_runner(nk, snode.on_matte_frame(g), 120)
            assert outcome[:2] == ("failed", "TRACK_MISSING"), outcome
            status = g["status"].value()
            assert status.startswith("error [TRACK_MISSING]"), status
            assert want in status and "Track & Matte" in status, status
            assert "100" not in status and "--stage" not in status, status
    finally:
        pool.close_all()
