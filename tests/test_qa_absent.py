"""QA: an object's ``absent`` frames (JobSpec object field, README "Prompts"): where the artist hid it (it left
frame, it is fully occluded) its alpha is exactly 0 in every output whatever the backends, no prompt may lie
there, no tracker or matte state carries it across such a span, the cache rewrites exactly the frames a
changed ``absent`` changes, and farm chunks give one run's bytes. Before, a JobSpec could not say it: the
object was tracked and matted through those frames (on this 6-frame demo shot the ball kept alpha > 0.5 on
hundreds of pixels of frames 1003-1004)."""
import os

import numpy as np
import pytest

from demo_shots import make_demo_shot
from samatte import jobspec, pipeline
from samatte.errors import FrameRangeError, JobSpecError, PromptError

FRAMES = "1001-1006"
GONE = (1003, 1004)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import _roto_polygon
    from samatte.io.exr import read_info
    from samatte.io.masks import read_mask
    s, d = make_demo_shot(tmp_path_factory, "qa_absent", 6)
    info = read_info(s["plate"].replace("####", "1001"))
    polys = {f: [list(map(float, p)) for p in _roto_polygon(read_mask(s["gt"].replace("####", "%04d" % f), info))]
             for f in (1001, 1006)}
    return s, polys


def _job(shot, out, *, tracker="flow", matte="refine", keys=(1001,), absent="1003-1004", name="qa_absent"):
    s, polys = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames=FRAMES, tracker=tracker, matte=matte,
                          quality="draft", name=name)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(k, polys[k]) for k in keys], absent=absent)
    return job


def _read(out, frame):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(out / ("m.%04d.exr" % frame)))
    try:
        spec = inp.spec()
        px = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
        meta = {a.name: str(a.value) for a in spec.extra_attribs if a.name.startswith("samatte/")}
        return {c: px[..., i] for i, c in enumerate(spec.channelnames)}, meta
    finally:
        inp.close()


@pytest.mark.parametrize("tracker,matte", [("flow", "refine"), ("shapes", "refine"), ("flow", "none")])
def test_an_absent_object_has_alpha_exactly_0_there_in_every_output(shot, tmp_path, tracker, matte):
    pipeline.run(_job(shot, tmp_path, tracker=tracker, matte=matte))
    before = tmp_path / "before"
    pipeline.run(_job(shot, before, tracker=tracker, matte=matte, absent=None))
    for f in range(1001, 1007):
        ch, _ = _read(tmp_path, f)
        if f in GONE:
            for c in ("ball.A", "A", "R", "G", "B"):
                assert float(np.abs(ch[c]).max()) == 0.0, (f, c)
            # what a user saw before: the ball tracked and matted through the frames it is hidden on
            assert int((_read(before, f)[0]["ball.A"] > 0.5).sum()) > 100, f
        else:
            assert int((ch["ball.A"] > 0.5).sum()) > 100, f


def test_a_tracker_that_tracks_through_the_span_sam2_gets_alpha_0_and_a_state_restart(shot, tmp_path, caplog):
    """SAM 2 tracks through an absent span with its own memory: a stand-in named "sam2" that ignores
    ``absent`` (the shape tracker's masks) still gets alpha 0 there, and the frame after the span restarts the
    matte's state without a warning about the tracker's reference."""
    import dataclasses
    import logging

    from samatte.cachekey import temporal_refs
    from samatte.track.shapes import ShapeTracker

    class Through(ShapeTracker):
        name = "sam2"

        def track(self, source, objects, frames, *, cancel=None):
            return ShapeTracker.track(self, source, [dataclasses.replace(o, absent=frozenset()) for o in objects],
                                      frames, cancel=cancel)
    job = _job(shot, tmp_path)
    with caplog.at_level(logging.WARNING, logger="samatte"):
        pipeline.run(job, tracker=Through())
    assert not [r for r in caplog.records if "temporal reference" in r.getMessage()]
    assert temporal_refs(jobspec.validate(job), list(range(1001, 1007)), "sam2")[1005] is None
    for f in range(1001, 1007):
        a = _read(tmp_path, f)[0]["A"]
        assert (float(a.max()) == 0.0) == (f in GONE), f


@pytest.mark.parametrize("tracker", ["flow", "shapes"])
def test_after_a_span_the_track_goes_on_from_the_last_present_frames_mask(shot, tmp_path, tracker):
    """No shape keyframe after the span: frame 1005 starts from 1002's mask, held (not carried through the
    hidden frames): with matte ``none`` its alpha is 1002's."""
    pipeline.run(_job(shot, tmp_path, tracker=tracker, matte="none"))
    assert np.array_equal(_read(tmp_path, 1005)[0]["ball.A"], _read(tmp_path, 1002)[0]["ball.A"])


@pytest.mark.parametrize("tracker", ["flow", "shapes"])
def test_after_a_span_the_track_restarts_from_the_next_shape_keyframe(shot, tmp_path, tracker):
    """Keys on 1001 and 1006, absent 1003-1004: frame 1005 is the 1006 key's track alone (what a job with
    only that key gives), nothing carried from 1001 across the span."""
    a, b = tmp_path / "a", tmp_path / "b"
    pipeline.run(_job(shot, a, tracker=tracker, matte="none", keys=(1001, 1006)))
    pipeline.run(_job(shot, b, tracker=tracker, matte="none", keys=(1006,), absent=None))
    assert np.array_equal(_read(a, 1005)[0]["ball.A"], _read(b, 1005)[0]["ball.A"])


def test_changing_absent_rewrites_only_the_frames_it_changes(shot, tmp_path):
    job = _job(shot, tmp_path)
    first = pipeline.run(job)
    assert len(first["written"]) == 6
    stamps = {f: os.stat(str(tmp_path / ("m.%04d.exr" % f))).st_mtime_ns for f in range(1001, 1007)}
    assert pipeline.run(job)["written"] == []
    job2 = _job(shot, tmp_path, absent="1003-1005")
    res = pipeline.run(job2)
    # 1005 is now absent, 1006 now restarts after the span (its track and matte state change); 1001-1004 stand
    assert sorted(os.path.basename(p) for p in res["written"]) == ["m.1005.exr", "m.1006.exr"]
    for f in range(1001, 1005):
        assert os.stat(str(tmp_path / ("m.%04d.exr" % f))).st_mtime_ns == stamps[f], f
    assert float(_read(tmp_path, 1005)[0]["A"].max()) == 0.0
    assert pipeline.run(job2)["written"] == []


def test_keys_of_objects_without_absent_do_not_change(shot, tmp_path):
    """An object with ``absent`` beside one without: the other's per-object track keys are those of a job
    where nobody uses the field."""
    from samatte.cachekey import frame_keys
    s, polys = shot
    res = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "refine"}

    def keys(absent):
        job = _job(shot, tmp_path, absent=absent)
        jobspec.add_object(job, "prop", [jobspec.polygon_prompt(1006, polys[1006])])
        return frame_keys(jobspec.validate(job), resolved=res)
    plain, gone = keys(None), keys("1003-1004")
    for f in range(1001, 1007):
        assert plain[f]["track_objects"][1] == gone[f]["track_objects"][1]
        assert (plain[f]["track_objects"][0] == gone[f]["track_objects"][0]) == (f in (1001, 1002))


@pytest.mark.parametrize("absent", ["5-3", "abc", "", True, [1003, "x"]])
def test_a_bad_range_is_refused_before_any_frame_is_written(shot, tmp_path, absent):
    with pytest.raises(FrameRangeError) as ei:
        pipeline.run(_job(shot, tmp_path, absent=absent))
    assert ei.value.code == "FRAME_RANGE_INVALID"
    assert ei.value.details["field"] == "objects[0].absent"
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith(".exr")]


def test_a_prompt_on_an_absent_frame_is_refused(shot, tmp_path):
    with pytest.raises(PromptError) as ei:
        pipeline.run(_job(shot, tmp_path, keys=(1001, 1006), absent="1005-1006"))
    assert ei.value.code == "PROMPT_INVALID" and "1006" in ei.value.message
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith(".exr")]
    with pytest.raises(JobSpecError):
        jobspec.validate(dict(_job(shot, tmp_path), objects=[{"name": "x", "masks": "m.####.png",
                                                               "absent": {"a": 1}}]))


def test_a_refine_only_object_needs_no_mask_where_it_is_absent(shot, tmp_path):
    import cv2
    s, _ = shot
    from samatte.io.exr import read_info
    from samatte.io.masks import read_mask
    info = read_info(s["plate"].replace("####", "1001"))
    for f in (1001, 1002, 1005, 1006):   # no roto on the hidden frames
        a = read_mask(s["gt"].replace("####", "%04d" % f), info)
        cv2.imwrite(str(tmp_path / ("roto.%04d.png" % f)), ((a > 0.5) * 255).astype(np.uint8))
    job = jobspec.new_job(s["plate"], str(tmp_path / "m.####.exr"), frames=FRAMES, matte="none", name="qa_ro")
    jobspec.add_object(job, "ball", masks=str(tmp_path / "roto.####.png"), absent="1003-1004")
    pipeline.run(job)
    assert float(_read(tmp_path, 1003)[0]["A"].max()) == 0.0
    assert int((_read(tmp_path, 1005)[0]["A"] > 0.5).sum()) > 100


def test_farm_chunks_equal_one_run(shot, tmp_path):
    one, farm = tmp_path / "one", tmp_path / "farm"
    pipeline.run(_job(shot, one))
    job = _job(shot, farm)
    pipeline.run(job, stage="track")
    for chunk in ("1005-1006", "1003-1004", "1001-1002"):   # the farm runs chunks in any order
        pipeline.run(job, stage="matte", frames=chunk)
    for f in range(1001, 1007):
        (a, ma), (b, mb) = _read(one, f), _read(farm, f)
        assert set(a) == set(b) and all(np.array_equal(a[c], b[c]) for c in a), f
        assert ma == mb, f


# --- Blender (the add-on's plain modules; real bpy: tests/blender/test_qa_absent_bpy.py) ----------------

def test_blender_sends_the_frames_a_layer_draws_nothing_on_as_absent():
    """hero keyed on 2 and 9, hidden in renders on 4-6: its object says ``absent`` 1004-1006 (file numbers), and
    a track point of it on 5 is dropped with a note (a prompt there is PROMPT_INVALID)."""
    from test_qa_blender_visibility import INFO, _layer, _mask, _reader, gather
    hero = _layer("hero", (50, 20, 150, 80))
    mask = _mask([hero], {"hero": [2, 9]}, animated=[("hero", "hide_render")])
    read_at, _read = _reader(mask, hidden={"hero": range(4, 7)})
    objs, _sub, notes = gather.gather_mask_objects(mask, INFO, scene_frames=range(1, 11), read_mask_at=read_at,
                                                   current_frame=2)
    assert [o["absent"] for o in objs] == [[1004, 1005, 1006]]
    points = {"hero": {1005: [(60.0, 30.0, 1)], 1007: [(60.0, 30.0, 1)]}}
    merged, notes = gather.merge_objects(objs, points, default_object="hero")
    assert sorted({p["frame"] for p in merged[0]["prompts"] if p["type"] == "points"}) == [1007]
    assert any("hidden" in n and "frame 1005" in n for n in notes), notes
    job = jobspec.new_job("/p.####.exr", "/o.####.exr", frames="1001-1010")
    job["objects"] = merged
    assert jobspec.validate(job)["objects"][0]["absent"] == "1004-1006"


# --- Nuke (the plugin against the double in tests/nuke) ---------------------------------------------------

def test_nuke_sends_the_frames_where_no_shape_draws_as_absent_and_the_matte_is_0_there(shot, tmp_path,
                                                                                       monkeypatch):
    """A Roto layer 'hero' whose shape is keyed on 1 and 6 and hidden (its eye keyed off) on script frames 3-4,
    with a garbage matte ('-garbage') shown on 3: SAMatte's job says ``absent`` 1003-1004 (the garbage matte
    does not draw the object; its prompt there is dropped), and the matte is 0 on those frames. Before: the
    hero was tracked and matted through them."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
    import nuke_env
    from nuke_env import rp
    from samatte_nuke import node as snode
    s, polys = shot
    nk = nuke_env.fresh()
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    w, h = s["size"]
    read = nuke_env.make_read(s["plate"], 1001, 1006, width=w, height=h, mode="start at", value=1)
    roto = nk.nodes.Roto()
    roto.setInput(0, read)
    c = roto["curves"]
    layer = rp.Layer(c, name="hero")
    hero = nuke_env.polygon_shape(c, polys[1001], 1, h, name="ball")
    for cp, (X, Y) in zip(hero, polys[1001]):
        cp.center.addPositionKey(6, (X, h - Y))
    for t, v in ((1, 1.0), (3, 0.0), (5, 1.0)):
        hero.getAttributes().set("vis", v, time=t)
    layer.append(hero)
    garbage = nuke_env.polygon_shape(c, [[0, 0], [20, 0], [20, 20]], 3, h, name="-garbage")
    layer.append(garbage)
    c.rootLayer.append(layer)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job, _ = snode.build(g)
    ob = job["objects"][0]
    assert ob["absent"] == "1003-1004"
    assert not [q for q in ob["prompts"] if q["frame"] in GONE]
    job = dict(job, tracker={"backend": "flow", "model": job["tracker"]["model"], "options": {}},
               matte={"backend": "refine", "quality": "draft", "options": {}})
    res = pipeline.run(job)
    for f in range(1001, 1007):
        ch, _ = _read_path(res["output"].replace("####", "%04d" % f))
        if f in GONE:
            assert float(np.abs(ch["A"]).max()) == 0.0, f
        else:
            assert int((ch["A"] > 0.5).sum()) > 100, f


def _read_path(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        spec = inp.spec()
        px = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
        return {c: px[..., i] for i, c in enumerate(spec.channelnames)}, None
    finally:
        inp.close()
