"""Per-object tracking: the track cache's one file per object and frame, `samatte run --stage track
--objects NAME`, one OpenJD Track task per object for trackers that treat objects independently
(shapes), concurrent per-object track processes, and per-object keys (one object's edit re-tracks only
that object)."""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.cachekey import frame_keys
from samatte.errors import JobSpecError
from samatte.farm import export_openjd
from samatte.trackcache import TrackCache

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
FRAMES = list(range(1001, 1007))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("objshot")
    return make_shot(str(d / "plates"), frames=len(FRAMES), size=(96, 64)), d


def _job(s, out, tracker="shapes", second=None):
    job = jobspec.new_job(s["plate"], str(out), frames="1001-1006", name="sh030", tracker=tracker,
                          matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    jobspec.add_object(job, "crate", [second or jobspec.box_prompt(1001, [4, 4, 30, 26])])
    return job


def _files(folder):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(str(folder), "*.exr")))}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "samatte"] + list(args), capture_output=True, text=True, timeout=300)


def test_object_keys_are_per_object(shot):
    s, d = shot
    a = jobspec.validate(_job(s, d / "k" / "m.####.exr"))
    b = jobspec.validate(_job(s, d / "k" / "m.####.exr", second=jobspec.box_prompt(1001, [6, 4, 30, 26])))
    res = {"tracker": "shapes", "model": None, "model_sha256": None, "matte": "refine"}
    ka, kb = frame_keys(a, resolved=res), frame_keys(b, resolved=res)
    for f in FRAMES:
        assert len(ka[f]["track_objects"]) == 2
        assert ka[f]["track_objects"][0] == kb[f]["track_objects"][0]      # ball untouched
        assert ka[f]["track_objects"][1] != kb[f]["track_objects"][1]      # crate edited
        assert ka[f]["track"] != kb[f]["track"]


def test_per_object_track_runs_equal_one_run_and_edits_retrack_one_object(shot, tmp_path):
    s, _ = shot
    whole = pipeline.run(_job(s, tmp_path / "a" / "m.####.exr"), stage="track")
    job = _job(s, tmp_path / "b" / "m.####.exr")
    r1 = pipeline.run(job, stage="track", objects="crate")
    cache = TrackCache(r1["work_dir"])
    keys = {int(k): v["track_objects"] for k, v in r1["keys"].items()}
    assert all(cache.stale_objects(f, keys[f]) == [0] for f in FRAMES)   # only the crate is stored
    with pytest.raises(Exception) as e:
        pipeline.run(job, stage="matte")
    assert getattr(e.value, "code", "") == "TRACK_MISSING"
    pipeline.run(job, stage="track", objects=["ball"])
    assert all(cache.is_current(f, keys[f]) for f in FRAMES)
    wcache = TrackCache(whole["work_dir"])
    for f in FRAMES:
        for i in (0, 1):
            assert open(wcache.path(f, i), "rb").read() == open(cache.path(f, i), "rb").read()
    # edit the crate: only its files are tracked again
    before = {f: os.stat(cache.path(f, 0)).st_mtime_ns for f in FRAMES}
    job2 = _job(s, tmp_path / "b" / "m.####.exr", second=jobspec.box_prompt(1001, [6, 4, 30, 26]))
    r2 = pipeline.run(job2, stage="track")
    assert r2["tracked"] == FRAMES
    assert {f: os.stat(cache.path(f, 0)).st_mtime_ns for f in FRAMES} == before
    k2 = {int(k): v["track_objects"] for k, v in r2["keys"].items()}
    assert all(cache.is_current(f, k2[f]) for f in FRAMES)


def test_objects_errors(shot, tmp_path):
    s, _ = shot
    job = _job(s, tmp_path / "e" / "m.####.exr")
    for kw in ({"stage": "track", "objects": "nope"}, {"stage": "all", "objects": "ball"},
               {"stage": "track", "objects": ","}):
        with pytest.raises(JobSpecError):
            pipeline.run(job, **kw)
    from samatte.pipeline import _select_objects
    with pytest.raises(JobSpecError, match="together"):       # SAM 2: one pass over every object
        _select_objects("ball", "track", ["ball", "crate"], "sam2")
    assert _select_objects(["ball", "crate"], "track", ["ball", "crate"], "sam2") == {0, 1}
    jobspec.save(job, str(tmp_path / "j.json"))
    r = _cli("run", str(tmp_path / "j.json"), "--stage", "track", "--objects", "nope")
    assert r.returncode == 2 and "JOBSPEC_INVALID" in r.stderr, r.stderr


def test_flow_objects_tracked_apart_and_combined_equal_the_joint_tracker(shot, tmp_path):
    """flow gives each pixel to the object with the highest logit: stored per object, combined when
    read back, the result equals the tracker's own answer with both objects at once (overlapping
    objects, keyframes on different frames)."""
    from samatte.colour import ColourTransform
    from samatte.io.source import FrameSource
    from samatte.prompts import prepare_objects
    from samatte.track.flow import FlowTracker
    s, _ = shot
    job = jobspec.validate(_job(s, tmp_path / "fl" / "m.####.exr", tracker="flow",
                                second=jobspec.box_prompt(1002, [20, 10, 60, 50])))
    r1 = pipeline.run(job, stage="track", objects="crate")
    r = pipeline.run(job, stage="track", objects="ball")
    assert r1["tracked"] == FRAMES and r["tracked"] == FRAMES
    cache = TrackCache(r["work_dir"])
    with FrameSource(s["plate"], s["frames"], colour=ColourTransform()) as src:
        objs = prepare_objects(job["objects"], src.info, s["frames"])
        joint = [tf for tf in FlowTracker().track(src, objs, s["frames"]) if hasattr(tf, "objects")]
    overlap = 0
    for tf in joint:
        got = cache.load(tf.frame, r["keys"][str(tf.frame)]["track_objects"], ["ball", "crate"])
        pipeline.combine_flow(got, ["ball", "crate"], 8.0)
        assert got.ref == tf.ref
        for n in ("ball", "crate"):
            a, b = tf.objects[n], got.objects[n]
            assert np.array_equal(a.mask, b.mask) and np.array_equal(a.logits, b.logits), (tf.frame, n)
            assert a.score == b.score and a.keyframe == b.keyframe
        alone = cache.load_object(tf.frame, 1, r["keys"][str(tf.frame)]["track_objects"][1])[0]
        overlap += int((alone.mask & tf.objects["ball"].mask).sum())
    assert overlap > 0    # the crate alone covers pixels the joint answer gives the ball
    # combining objects tracked together changes nothing
    for tf in joint:
        before = {n: tf.objects[n].mask.copy() for n in tf.objects}
        pipeline.combine_flow(tf, ["ball", "crate"], 8.0)
        assert all(np.array_equal(before[n], tf.objects[n].mask) for n in before)


def test_old_layout_is_replaced(shot, tmp_path):
    s, _ = shot
    job = _job(s, tmp_path / "o" / "m.####.exr")
    r = pipeline.run(job, stage="track")
    wd = r["work_dir"]
    old = os.path.join(wd, "track", "1001.npz")
    with open(old, "wb") as f:
        f.write(b"layout 1")
    man = json.load(open(os.path.join(wd, "manifest.json")))
    man["layout"] = 1
    json.dump(man, open(os.path.join(wd, "manifest.json"), "w"))
    r = pipeline.run(job, stage="track")
    assert r["tracked"] == [] and not os.path.exists(old)
    assert json.load(open(os.path.join(wd, "manifest.json")))["layout"] == 2


@pytest.mark.parametrize("tracker", ["shapes", "flow"])
def test_concurrent_object_track_processes_make_a_valid_cache(shot, tmp_path, tracker):
    s, _ = shot
    path = str(tmp_path / "c.json")
    overlap = jobspec.box_prompt(1002, [20, 10, 60, 50])
    jobspec.save(_job(s, tmp_path / "c" / "m.####.exr", tracker=tracker, second=overlap), path)
    procs = [subprocess.Popen([sys.executable, "-m", "samatte", "run", path, "--stage", "track", "--objects", n],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in ("ball", "crate")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    st = pipeline.frame_status(path)
    assert set(st["track"].values()) == {"complete"}
    r = _cli("run", path, "--stage", "matte", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    single = _job(s, tmp_path / "single" / "m.####.exr", tracker=tracker, second=overlap)
    pipeline.run(single)
    assert _files(tmp_path / "c") == _files(tmp_path / "single") and len(_files(tmp_path / "single")) == 6
    assert not glob.glob(os.path.join(st["work_dir"], "track", "*.tmp"))


@pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")
@pytest.mark.parametrize("tracker", ["shapes", "flow"])
def test_openjd_template_has_a_track_task_per_object_and_runs(shot, tmp_path, tracker):
    s, _ = shot
    overlap = jobspec.box_prompt(1002, [20, 10, 60, 50])    # flow: the objects compete for pixels
    jobspec.save(_job(s, tmp_path / "out" / "m.####.exr", tracker=tracker, second=overlap), str(tmp_path / "j.json"))
    res = export_openjd(str(tmp_path / "j.json"), str(tmp_path / "bundle"), chunk=3, preroll=2)
    import yaml
    t = yaml.safe_load(open(res["template"], encoding="utf-8"))
    track = [st for st in t["steps"] if st["name"] == "Track"][0]
    assert track["parameterSpace"]["taskParameterDefinitions"] == [
        {"name": "Object", "type": "STRING", "range": ["ball", "crate"]}]
    assert "--objects={{Task.Param.Object}}" in track["script"]["actions"]["onRun"]["args"]
    r = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    params = dict(res["parameters"])
    r = subprocess.run([OPENJD, "run", res["template"], "-p", json.dumps(params)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "Chunks run: 5" in r.stdout     # Track x2 (one per object), Matte x2 chunks, QC
    single = _job(s, tmp_path / "single" / "m.####.exr", tracker=tracker, second=overlap)
    pipeline.run(single)
    got = _files(tmp_path / "out")
    assert got == _files(tmp_path / "single") and len(got) == 6
    # SAM 2 tracks all objects in one pass: one Track task
    from samatte.farm.openjd import build_template, farm_document
    doc = farm_document(jobspec.load(str(tmp_path / "j.json")))
    doc["resolved"]["tracker"] = "sam2"
    track = [st for st in build_template(doc)["steps"] if st["name"] == "Track"][0]
    assert "parameterSpace" not in track and "--objects" not in track["script"]["actions"]["onRun"]["args"]


def test_worker_job_takes_objects(shot, tmp_path):
    from samatte.client import WorkerClient
    from samatte.errors import SamatteError
    s, _ = shot
    job = _job(s, tmp_path / "w" / "m.####.exr")
    with WorkerClient(timeout=300) as w:
        r = w.run(job, stage="track", objects=["crate"])
        assert r["tracked"] == FRAMES
        cache = TrackCache(r["work_dir"])
        assert all(cache.stale_objects(f, r["keys"][str(f)]["track_objects"]) == [0] for f in FRAMES)
        with pytest.raises(SamatteError) as e:
            w.run(job, stage="track", objects="nope")
        assert e.value.code == "JOBSPEC_INVALID"


def test_flow_a_prop_drawn_inside_the_hero_keeps_its_pixels_in_either_order(shot, tmp_path):
    """Flow gave each pixel to one object, the first listed on a tie; filled interiors always tie (both
    logits clipped), so a prop drawn inside the hero's shape got 0 px on every frame when the hero was
    listed first (QA, many objects). Where both claim a pixel fully, both keep it now: each object's
    layer is the same whichever order, the prop keeps pixels on every frame, and on the keyframe both
    keep their whole shapes."""
    from qa_cli import read_exr
    s, d = shot
    shapes = {"hero": [[10, 8], [80, 8], [80, 56], [10, 56]], "prop": [[30, 20], [50, 20], [50, 40], [30, 40]]}
    layers = {}
    for order in (("hero", "prop"), ("prop", "hero")):
        out = tmp_path / "_".join(order)
        job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1004", name="own",
                              tracker="flow", matte="none")
        for n in order:
            jobspec.add_object(job, n, [jobspec.polygon_prompt(1002, shapes[n])])
        pipeline.run(job)
        for f in (1001, 1002, 1003, 1004):
            names, px, _ = read_exr(out / ("m.%04d.exr" % f))
            layers[order, f] = {n: px[..., names.index(n + ".A")] > 0.5 for n in ("hero", "prop")}
    for f in (1001, 1002, 1003, 1004):
        a, b = layers[("hero", "prop"), f], layers[("prop", "hero"), f]
        assert all(np.array_equal(a[n], b[n]) for n in ("hero", "prop")), f
        assert a["prop"].sum() > 100, (f, int(a["prop"].sum()))
    assert layers[("hero", "prop"), 1002]["prop"].sum() == 400
    assert layers[("hero", "prop"), 1002]["hero"].sum() == 70 * 48
