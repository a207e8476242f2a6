"""Review s31 of the day's change (absent, Nuke carry, openjd, hello's missing dependencies, Blender scenes):
regression tests for the defects the review fixed."""
import json
import os
import subprocess
import sys

import pytest

CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core")


def test_hello_lists_a_requirement_that_is_installed_but_does_not_import(tmp_path):
    """A cv2 that is found but fails to import (a wheel for another Python, libGL missing) made the first
    frame of every Run fail while ``capabilities["missing"]`` (the worker's hello, ``samatte info``, Blender's
    Check samatte) said the install was complete: it only looked the module up."""
    broken = tmp_path / "site" / "cv2"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('libGL.so.1: cannot open shared object file')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.path.abspath(CORE)]))
    out = subprocess.run([sys.executable, "-m", "samatte", "info", "--json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["missing"] == ["cv2"]
    assert "libGL" in out.stderr


def test_hello_of_a_complete_install_lists_nothing():
    from samatte import worker
    assert worker.capabilities()["missing"] == []


def _absent_job(tmp_path, matte, tracker="shapes"):
    from samatte import jobspec
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "plates"), frames=5, size=(96, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="1001-1005", name="s31",
                          tracker=tracker, matte=matte, quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(f, s["polygon"]) for f in (1001, 1005)],
                       absent="1003")
    return job


@pytest.mark.parametrize("matte", ["refine", "none"])
def test_a_frame_where_the_object_is_absent_is_not_a_low_score(tmp_path, matte):
    """``absent`` frames: alpha 0 by the artist's word. Before, the object's score 0.0 made the frame's score
    0.0 (the EXR's samatte/score, the result's scores): ``samatte qc`` counted each as a low score and the
    hosts' score strips showed them as the shot's worst frames (here 1003: 0.0 vs 0.9 around it)."""
    from samatte import pipeline
    from samatte.cli import main
    job = _absent_job(tmp_path, matte)
    res = pipeline.run(job)
    scores = {int(k): v for k, v in res["scores"].items()}
    assert scores[1003] >= min(scores[1002], scores[1004]), scores
    from samatte import jobspec
    jobspec.save(job, str(tmp_path / "job.json"))
    assert main(["qc", str(tmp_path / "job.json"), "--report", str(tmp_path / "qc")]) == 0
    report = json.load(open(str(tmp_path / "qc" / "qc.json")))
    assert report["low_scores"] == [], report



def test_nuke_an_object_of_tracker4_points_and_a_garbage_matte_is_not_absent():
    """A Roto layer 'hero' holding only a garbage matte ('-garbage') and a Tracker4 track 'hero/eye': no element
    draws the object, its points say where it is. Before, gather_objects counted the layer as the object's
    shapes, found none drawing on any frame, made 'hero' absent on all 5 frames and dropped every prompt (the
    object vanished from the job: 0 objects, as at 229461f it had 6 prompts)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "nuke"))
    import nuke_env
    from nuke_env import rp
    from samatte.names import safe_name
    from samatte_nuke import gather
    from samatte_nuke.convert import FrameMap, Geometry
    from test_nuke_gather import _square
    nk = nuke_env.fresh()
    read = nuke_env.make_read("/p/plate.%04d.exr", 1001, 1005, width=100, height=80, mode="offset", value=-1000)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    c = roto["curves"]
    layer = rp.Layer(c, name="hero")
    layer.append(_square(c, "-garbage", {1: (60, 5, 20)}))
    c.rootLayer.append(layer)
    tr = nk.nodes.Tracker4()
    tr.setInput(0, roto)
    tr["tracks"]._add_track("hero/eye", {t: (10 + t, 60) for t in range(1, 6)})
    logs = []
    obs = gather.gather_objects([roto, tr], Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4, 5],
                                rp, safe_name=safe_name, log=logs.append)
    assert [o["name"] for o in obs] == ["hero"], logs
    hero = obs[0]
    assert "absent" not in hero
    assert sorted(q["frame"] for q in hero["prompts"] if q["type"] == "points") == [1001, 1002, 1003, 1004, 1005]
    assert [q["mode"] for q in hero["prompts"] if q["type"] != "points"] == ["subtract"]
    # an add shape hidden on 3-4 still makes its object absent there (the day's rule, unchanged)
    shape = _square(c, "body", {1: (10, 10, 30)})
    for t, v in ((1, 1.0), (3, 0.0), (5, 1.0)):
        shape.getAttributes().set("vis", v, time=t)
    layer.append(shape)
    obs = gather.gather_objects([roto, tr], Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4, 5],
                                rp, safe_name=safe_name, log=logs.append)
    assert obs[0]["absent"] == [1003, 1004], obs[0].get("absent")
