"""QA of upgrades: a studio updates samatte while shots, scripts and caches of the previous version exist
(the SAMatte node against the Nuke double with a REAL samatte worker; the command line in process).
Regressions for the bugs found:

* A SAMatte node renamed between runs keeps its cache folder (``<old name>_<uid>``), but its job took the
  new name, while the frames in the folder carry the old one (``samatte/job``). As soon as those frames
  went stale (the roto edited, or samatte updated: the version is in every key) the node's run failed with
  OUTPUT_INVALID "... exists and is not a samatte frame of job 'hero_matte_<uid>'" on its own frames;
  only --overwrite (not a node setting) got past it. The job's name is now the folder's.
* A Nuke session left open while samatte was updated (Nuke keeps the host modules it loaded) started the
  new version's worker: the job reported "4 frame(s) written", then the node's read-back, which checks
  each frame with the session's own (old) cache keys, called every frame stale; Track & Matte again
  reused them and they stayed stale, and the stale message's ``samatte run`` command did the same. Now
  the run is refused up front with a message that says to restart Nuke, and a stale frame's message names
  the samatte version that wrote it (a render node or session older than the frame: update / restart).

Checked and fine (tests below): outputs and a work dir written by the previous version (version in the
keys) are reported stale by ``status`` and recomputed by a re-run, never refused as another job's.
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode, runner as srunner  # noqa: E402

# the worker runs in this interpreter (the project venv's python), with this checkout's core on PYTHONPATH
WORKER_PY = sys.executable


def _has_worker_stack():
    try:
        import numpy  # noqa: F401
        import OpenImageIO  # noqa: F401
        return True
    except ImportError:
        return False


pytestmark = pytest.mark.skipif(not _has_worker_stack(), reason="the worker needs numpy and OpenImageIO")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("upgrade")
    return make_shot(str(d), frames=3, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    core = os.path.join(nuke_env.REPO, "core")
    monkeypatch.setenv("PYTHONPATH", core + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, WORKER_PY)
    yield nuke
    pool.close_all()
    nuke._reset()


def _comp(nuke, shot):
    """Read (start at 1) -> SAMatte1 <- Roto (layer 'hero', the shot's polygon keyed on script frame 2)."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return roto, g


def _outcome(nuke, g):
    r = snode.on_track(g)
    assert r is not None, g["status"].value()
    return nuke_env.wait_runner(nuke, r, 240)


def _frames(g):
    pat = farm.stored_job(g)["output"]["path"]
    return [pat.replace("####", "%04d" % f) for f in (1001, 1002, 1003)]


def _job_names(paths):
    return {farm.exr_attributes(p).get("samatte/job") for p in paths}


def test_a_renamed_nodes_own_stale_frames_are_recomputed_not_refused(nk, shot, tmp_path):
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    roto, g = _comp(nk, shot)
    uid = g["samatte_uid"].value()
    assert _outcome(nk, g)[0] == "done"
    paths = _frames(g)
    g.setName("hero_matte")
    res = _outcome(nk, g)                       # the folder is kept, its frames reused (as before)
    assert res[0] == "done" and res[1]["written"] == [], res
    assert _frames(g) == paths
    # the artist edits the roto: the frames are stale (as after a samatte update), and they are the node's own
    shape = list(roto["curves"].rootLayer)[0][0]
    for cp in shape:
        p = cp.center.getPosition(2)
        cp.center.addPositionKey(2, (p.x + 3, p.y))
    res = _outcome(nk, g)
    # before: ('failed', 'OUTPUT_INVALID', ".../matte.1001.exr exists and is not a samatte frame of job
    # 'hero_matte_<uid>' ...")
    assert res[0] == "done", res
    assert len(res[1]["written"]) == 3
    assert _frames(g) == paths
    assert _job_names(paths) == {"SAMatte1_%s" % uid}
    text = farm.stored_job_text(g)
    assert [farm.frame_state(text, f, fresh=True)[0] for f in (1001, 1002, 1003)] == ["complete"] * 3
    snode.on_clear_cache(g)                     # Clear cache still finds the folder
    assert not os.path.exists(os.path.dirname(os.path.dirname(paths[0])))


def test_a_worker_of_another_samatte_version_than_the_session_is_refused_with_what_to_do(nk, shot, tmp_path,
                                                                                          monkeypatch):
    """This Nuke session loaded samatte 0.0.1's host modules (samatte updated since): the new worker's
    frames would all read as stale, forever."""
    import samatte
    from samatte import cachekey
    real = samatte.__version__
    monkeypatch.setattr(samatte, "__version__", "0.0.1")
    monkeypatch.setattr(cachekey, "__version__", "0.0.1")
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    _roto, g = _comp(nk, shot)
    out = _outcome(nk, g)
    # before: ('done', {... 3 written}) and then every frame stale in the read-back, after any re-run too
    assert out[0] == "failed" and out[1] == "WORKER_FAILED", out
    assert "samatte was updated while Nuke was open (restart Nuke)" in out[2], out
    assert "is samatte %s, but this Nuke session loaded samatte 0.0.1" % real in out[2], out
    assert not os.path.exists(str(tmp_path / "samatte_cache")) or not any(
        n.endswith(".exr") for _d, _s, fs in os.walk(str(tmp_path / "samatte_cache")) for n in fs)
    assert "restart Nuke" in g["status"].value()


def test_a_stale_frames_message_names_the_version_that_wrote_it(nk, shot, tmp_path, monkeypatch):
    import samatte
    from samatte import cachekey
    nk.root()["name"].setValue(str(tmp_path / "comp.nk"))
    _roto, g = _comp(nk, shot)
    assert _outcome(nk, g)[0] == "done"
    made = samatte.__version__
    text = farm.stored_job_text(g)
    assert farm.frame_state(text, 1002, fresh=True)[0] == "complete"
    # a render node (or a session) with an older samatte than the frames'
    monkeypatch.setattr(samatte, "__version__", "0.0.1")
    monkeypatch.setattr(cachekey, "__version__", "0.0.1")
    assert farm.frame_state(text, 1002, fresh=True)[0] == "stale"
    with pytest.raises(farm.StaleFrameError) as ei:
        farm.frame_path(g, 2)
    assert "written by samatte %s, newer than the samatte 0.0.1 this Nuke loaded" % made in str(ei.value)
    # frames of an older samatte, read by a newer one: it recomputes them
    monkeypatch.setattr(samatte, "__version__", "99.0.0")
    monkeypatch.setattr(cachekey, "__version__", "99.0.0")
    farm.frame_state(text, 1002, fresh=True)
    with pytest.raises(farm.StaleFrameError) as ei:
        farm.frame_path(g, 2)
    assert "(written by samatte %s; samatte 99.0.0 recomputes it)" % made in str(ei.value)


def _old_version(monkeypatch, version):
    """This process writes as samatte ``version`` would (the version every key, frame and manifest names)."""
    from samatte import cachekey, pipeline, trackcache
    from samatte.io import writer
    for mod in (cachekey, pipeline, trackcache, writer):
        monkeypatch.setattr(mod, "__version__", version)


def test_outputs_and_work_dir_of_the_previous_version_are_recomputed_by_the_same_job(tmp_path, capsys,
                                                                                     monkeypatch):
    from qa_cli import run_cli
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=3, size=(64, 64))
    out = tmp_path / "out"
    doc = {"samatte_job": 1, "name": "sh010", "plate": {"path": s["plate"], "frames": "1001-1003"},
           "objects": [{"name": "ball", "prompts": [{"frame": 1002, "type": "polygon", "points": s["polygon"]}]}],
           "tracker": {"backend": "flow"}, "matte": {"backend": "refine", "quality": "draft"},
           "output": {"path": str(out / "m.####.exr")}}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(doc))
    with monkeypatch.context() as m:
        _old_version(m, "0.2.13")
        assert run_cli(["run", job], capsys)[0] == 0
    manifest = out / ".samatte" / "sh010" / "m..exr" / "manifest.json"
    assert json.loads(manifest.read_text())["samatte_version"] == "0.2.13"
    st = _json_lines(["status", job, "--json"], capsys)[0]
    assert set(st["frames"].values()) == {"stale"}, st
    track = sorted((out / ".samatte" / "sh010" / "m..exr" / "track").iterdir())
    before = {p.name: p.stat().st_mtime_ns for p in track}
    rc, err = run_cli(["run", job], capsys)
    assert rc == 0, err
    import samatte
    assert {farm.exr_attributes(str(out / ("m.%d.exr" % f)))["samatte/version"] for f in (1001, 1002, 1003)} \
        == {samatte.__version__}
    assert all(p.stat().st_mtime_ns != before[p.name] for p in track)   # re-tracked, not reused
    assert json.loads(manifest.read_text())["samatte_version"] != "0.2.13"
    st = _json_lines(["status", job, "--json"], capsys)[0]
    assert set(st["frames"].values()) == {"complete"}, st


def _json_lines(argv, capsys):
    from samatte import cli
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.err, cap.err
    return [json.loads(x) for x in cap.out.splitlines() if x.strip()]
