"""The pipeline with cache keys, stages, frame subsets and chunks, on a tiny demo shot.

Each "stale" test failed on the JobSpec-text hash the writer used before: inputs overwritten in place
were never recomputed, and cosmetic edits rewrote everything."""
import copy
import hashlib
import os
import shutil

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.errors import FrameRangeError, OutputError, TrackMissingError

N = 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("stages_shot")
    s = make_shot(str(d), frames=N, size=(128, 72))
    return s, d


def _copy_shot(shot, tmp_path):
    """A private copy of the plate (tests overwrite its frames)."""
    s, d = shot
    dst = tmp_path / "plate"
    shutil.copytree(os.path.dirname(s["plate"]), dst)
    return dict(s, plate=str(dst / os.path.basename(s["plate"])))


def _job(s, out, *, prompt=None, name="stages"):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft", name=name)
    jobspec.add_object(job, "ball", [prompt or jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _mask_png(path, s, dx=0):
    import cv2
    w, h = s["size"]
    img = np.zeros((h, w), np.uint8)
    pts = np.array([[x + dx, y] for x, y in s["polygon"]], np.int32)
    cv2.fillPoly(img, [pts], 255)
    cv2.imwrite(str(path), img)


def _written(res):
    return sorted(int(os.path.basename(p).split(".")[1]) for p in res["written"])


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_mask_prompt_overwritten_in_place_is_recomputed(shot, tmp_path):
    s = _copy_shot(shot, tmp_path)
    png = tmp_path / "ball.png"
    _mask_png(png, s)
    job = _job(s, tmp_path / "out" / "m.####.exr", prompt=jobspec.mask_prompt(s["prompt_frame"], str(png)))
    r1 = pipeline.run(job)
    assert len(r1["written"]) == N
    assert pipeline.run(job)["written"] == []          # nothing changed: all reused
    _mask_png(png, s, dx=3)                            # the roto re-rendered to the same path
    r3 = pipeline.run(job)
    assert _written(r3) == s["frames"]                 # the only keyframe: every frame depends on it
    assert r3["tracked"] == s["frames"]


def test_cosmetic_edits_recompute_nothing(shot, tmp_path):
    s, _ = shot
    job = _job(s, tmp_path / "out" / "m.####.exr")
    pipeline.run(job)
    j = copy.deepcopy(job)
    j["objects"][0]["colour"] = [0.2, 0.4, 1.0]
    j["meta"] = {"shot": "sh010"}
    j["plate"]["frames"] = "%d-%d" % (s["frames"][0], s["frames"][-2])  # a subset of the frames
    r = pipeline.run(j)
    assert r["written"] == [] and r["tracked"] == []
    assert len(r["skipped"]) == N - 1


def test_plate_frame_rerendered_recomputes_what_it_touches(shot, tmp_path):
    s = _copy_shot(shot, tmp_path)
    job = _job(s, tmp_path / "out" / "m.####.exr")
    pipeline.run(job)
    last = s["frames"][-1]
    p = s["plate"].replace("####", "%04d" % last)
    first = s["plate"].replace("####", "%04d" % s["frames"][0])
    shutil.copy(first, p)                              # a different picture at the same path
    r = pipeline.run(job)
    # the track of the last frame hangs on the frames from the keyframe to it; the others are kept
    assert _written(r) == [last] and r["tracked"] == [last]


def test_refine_only_roto_overwritten_recomputes_from_that_frame(shot, tmp_path):
    s, _ = shot
    roto = tmp_path / "roto"
    roto.mkdir()
    for f in s["frames"]:
        _mask_png(roto / ("ball.%04d.png" % f), s)
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="%d-%d" % (
        s["frames"][0], s["frames"][-1]), matte="refine", quality="draft", name="roto")
    jobspec.add_object(job, "ball", masks=str(roto / "ball.####.png"))
    pipeline.run(job)
    _mask_png(roto / ("ball.%04d.png" % s["frames"][4]), s, dx=4)
    r = pipeline.run(job)
    # that frame and the frames whose temporal state descends from it
    assert _written(r) == s["frames"][4:]


def test_reruns_are_byte_identical(shot, tmp_path):
    s, _ = shot
    a = _job(s, tmp_path / "a" / "m.####.exr")
    b = _job(s, tmp_path / "b" / "m.####.exr")
    pipeline.run(a)
    pipeline.run(b)
    for f in s["frames"]:
        pa = str(tmp_path / "a" / ("m.%04d.exr" % f))
        assert _digest(pa) == _digest(str(tmp_path / "b" / ("m.%04d.exr" % f))), f
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(pa)
    names = [x.name for x in inp.spec().extra_attribs]
    inp.close()
    assert "DateTime" not in names and "samatte/key" in names and "samatte/track_key" in names


def test_stages_frames_and_events(shot, tmp_path):
    s, _ = shot
    job = _job(s, tmp_path / "out" / "m.####.exr")
    with pytest.raises(TrackMissingError) as e:
        pipeline.run(job, stage="matte")
    assert e.value.code == "TRACK_MISSING"
    ev = []
    r = pipeline.run(job, stage="track", on_event=ev.append)
    assert r["tracked"] == s["frames"] and r["written"] == []
    assert [e.status for e in ev] == ["written"] * N and all(e.stage == "track" for e in ev)
    assert os.path.isfile(os.path.join(r["work_dir"], "manifest.json"))
    assert r["work_dir"] == str(tmp_path / "out" / ".samatte" / "stages" / "m..exr")
    ev = []
    sub = s["frames"][2:4]
    r = pipeline.run(job, stage="matte", frames="%d-%d" % (sub[0], sub[-1]), on_event=ev.append)
    assert _written(r) == sub and r["tracked"] == []
    assert [(e.frame, e.status) for e in ev] == [(f, "written") for f in sub]
    assert all(isinstance(e.score, float) for e in ev)
    st = pipeline.frame_status(job)
    assert [st["frames"][str(f)] for f in s["frames"]] == ["complete" if f in sub else "missing"
                                                          for f in s["frames"]]
    assert set(st["track"].values()) == {"complete"} and st["resolved"]["tracker"] == "flow"
    ev = []
    r = pipeline.run(job, on_event=ev.append)           # all: the stored track is reused
    assert r["tracked"] == [] and len(r["written"]) == N - 2
    assert sorted((e.frame, e.status) for e in ev) == sorted(
        (f, "skipped" if f in sub else "written") for f in s["frames"])
    with pytest.raises(FrameRangeError):
        pipeline.run(job, frames="990-1001")


def test_matte_chunks_equal_a_single_run(shot, tmp_path):
    s, _ = shot
    frames = s["frames"]
    single = _job(s, tmp_path / "single" / "m.####.exr")
    pipeline.run(single)
    chunked = _job(s, tmp_path / "chunks" / "m.####.exr")
    pipeline.run(chunked, stage="track")
    # chunks in any order: the later chunk first (a pre-roll back to the track's restart), then the
    # earlier one; then a chunk whose previous frame is finished (state seeded from it)
    r = pipeline.run(chunked, stage="matte", frames="%d-%d" % (frames[6], frames[7]), preroll=N)
    assert r["preroll"] and _written(r) == frames[6:]
    pipeline.run(chunked, stage="matte", frames="%d-%d" % (frames[0], frames[3]))
    r = pipeline.run(chunked, stage="matte", frames="%d-%d" % (frames[4], frames[5]))
    assert r["preroll"] == []
    for f in frames:
        a = _read(str(tmp_path / "single" / ("m.%04d.exr" % f)))
        b = _read(str(tmp_path / "chunks" / ("m.%04d.exr" % f)))
        assert np.array_equal(a, b), f


def _read(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        return np.asarray(inp.read_image(0, 0, 0, inp.spec().nchannels, "float"))
    finally:
        inp.close()


def test_resumed_frame_has_the_metadata_of_an_unbroken_run(shot, tmp_path):
    s, _ = shot
    frames = s["frames"]
    ref = _job(s, tmp_path / "ref" / "m.####.exr", prompt=jobspec.polygon_prompt(frames[0], s["polygon"]))
    pipeline.run(ref)
    (tmp_path / "re").mkdir()
    for f in frames[:4]:  # what a killed run left
        shutil.copy(str(tmp_path / "ref" / ("m.%04d.exr" % f)), str(tmp_path / "re"))
    job = _job(s, tmp_path / "re" / "m.####.exr", prompt=jobspec.polygon_prompt(frames[0], s["polygon"]))
    r = pipeline.run(job)
    assert _written(r) == frames[4:]
    import OpenImageIO as oiio
    for f in frames[4:]:
        meta = []
        for d in ("ref", "re"):
            inp = oiio.ImageInput.open(str(tmp_path / d / ("m.%04d.exr" % f)))
            sp = inp.spec()
            meta.append((sp.getattribute("samatte/score"), sp.getattribute("samatte/object_scores")))
            inp.close()
        assert meta[0] == meta[1], (f, meta)


def test_work_dir_that_is_a_file_and_probe(shot, tmp_path):
    s, _ = shot
    job = _job(s, tmp_path / "out" / "m.####.exr")
    (tmp_path / "wd").write_text("not a folder")
    job["work_dir"] = str(tmp_path / "wd")
    with pytest.raises(OutputError) as e:
        pipeline.run(job)
    assert e.value.code == "OUTPUT_INVALID" and "work dir" in str(e.value)
    p = pipeline.probe(s["plate"])
    assert p["display_window"] == [0, 0, 128, 72] and p["data_window"] == [0, 0, 128, 72]
    assert p["pixel_aspect"] == 1.0 and p["channels"][:3] == ["R", "G", "B"]
    assert (p["first"], p["last"]) == (s["frames"][0], s["frames"][-1])
    assert p["frames_on_disk"] == "%d-%d" % (s["frames"][0], s["frames"][-1])
    assert "i + 0.5" in p["coordinates"]


def test_cli_stage_frames_status_probe(shot, tmp_path):
    import json
    import subprocess
    import sys
    s, _ = shot
    path = tmp_path / "job.json"
    jobspec.save(_job(s, tmp_path / "out" / "m.####.exr"), str(path))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "samatte"] + [str(a) for a in args], capture_output=True,
                              text=True, timeout=300)
    p = cli("run", path, "--stage", "matte", "--json")
    assert p.returncode == 9 and "TRACK_MISSING" in p.stdout
    assert cli("run", path, "--stage", "track").returncode == 0
    f = s["frames"][3]
    p = cli("run", path, "--stage", "matte", "--frames", f, "--preroll", 2, "--json")
    assert p.returncode == 0, p.stderr
    msgs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    res = [m for m in msgs if m["type"] == "result"][-1]["result"]
    assert _written(res) == [f] and res["stage"] == "matte"
    frames_msgs = [m for m in msgs if m["type"] == "frame"]
    assert [(m["frame"], m["status"]) for m in frames_msgs] == [(f, "written")]
    st = json.loads(cli("status", path, "--json").stdout)
    assert st["frames"][str(f)] == "complete" and st["frames"][str(s["frames"][0])] == "missing"
    pr = json.loads(cli("probe", s["plate"], "--json").stdout)
    assert pr["display_window"] == [0, 0, 128, 72]


def test_stored_track_equals_the_trackers_answer(shot, tmp_path):
    from samatte.io.source import FrameSource
    from samatte.prompts import prepare_objects
    from samatte.track.flow import FlowTracker
    from samatte.trackcache import TrackCache
    s, _ = shot
    job = jobspec.validate(_job(s, tmp_path / "out" / "m.####.exr"))
    r = pipeline.run(job, stage="track")
    cache = TrackCache(r["work_dir"])
    from samatte.colour import ColourTransform
    with FrameSource(s["plate"], s["frames"], colour=ColourTransform()) as src:
        objs = prepare_objects(job["objects"], src.info, s["frames"])
        direct = [tf for tf in FlowTracker().track(src, objs, s["frames"]) if hasattr(tf, "objects")]
    for tf in direct:
        got = cache.load(tf.frame, r["keys"][str(tf.frame)]["track_objects"], ["ball"])
        a, b = tf.objects["ball"], got.objects["ball"]
        assert got.ref == tf.ref and np.array_equal(a.mask, b.mask)
        assert a.logits.dtype == b.logits.dtype and np.array_equal(a.logits, b.logits)
        assert (a.score, a.keyframe, a.edge) == (b.score, b.keyframe, b.edge)


def test_probe_overscan_anamorphic_layers(tmp_path):
    from samatte.io.exr import write_image
    from samatte.stages import Window
    for f in (1001, 1002, 1004):
        write_image(str(tmp_path / ("p.%04d.exr" % f)), np.zeros((40, 60, 5), np.float32),
                    channels=["R", "G", "B", "A", "depth.Z"], data=Window(-10, -5, 60, 40),
                    display=Window(0, 0, 40, 30), pixel_aspect=2.0)
    p = pipeline.probe(str(tmp_path / "p.####.exr"))
    assert p["display_window"] == [0, 0, 40, 30] and p["data_window"] == [-10, -5, 60, 40]
    assert p["pixel_aspect"] == 2.0 and p["layers"] == ["depth"] and "depth.Z" in p["channels"]
    assert p["frames_on_disk"] == "1001-1002,1004" and (p["first"], p["last"]) == (1001, 1004)


def test_auto_resolving_to_another_backend_makes_every_frame_stale(shot, tmp_path, monkeypatch):
    s, _ = shot
    job = _job(s, tmp_path / "out" / "m.####.exr")
    job["tracker"]["backend"] = "auto"
    pipeline.run(job)                                   # auto -> flow here (no SAM 2 weights)
    st = pipeline.frame_status(job)
    assert st["resolved"]["tracker"] == "flow" and set(st["frames"].values()) == {"complete"}
    # a farm node with SAM 2 weights: auto -> sam2; nothing made by the flow tracker is current there
    monkeypatch.setattr(pipeline, "_sam2_available", lambda model: True)
    st = pipeline.frame_status(job)
    assert st["resolved"]["tracker"] == "sam2"
    assert set(st["frames"].values()) == {"stale"} and set(st["track"].values()) == {"stale"}
