"""QA review of session 36 (0.2.19's commits edec8d9..53d61f6), with tests of what was found.

* 0.2.19 took a number a script computed with numpy (a float32 coordinate, an int64 ``ram_mb``) as its value,
  but not in two fields: a prompt's ``frame`` (``np.arange`` keyframes, a frame picked from an array:
  ``JOBSPEC_INVALID field 'frame' must be int, not int64``, while ``plate.frames`` of the same numbers was
  taken) and ``meta`` (``got float32`` / ``got int64``: ``save`` could not write it). Both are taken now as
  their values; a bool, a fraction, NaN are still refused.
"""
import json

import numpy as np
import pytest

from samatte import jobspec
from samatte.errors import JobSpecError


def _job(frame, meta=None, object_meta=None):
    j = jobspec.new_job("/shots/p.####.exr", "/shots/out/m.####.exr", frames=[1001, 1002, 1003])
    j["tracker"]["backend"] = "flow"
    ob = {"name": "hero", "prompts": [{"type": "box", "frame": frame, "box": [1, 2, 10, 12]},
                                      {"type": "points", "frame": frame, "points": [[4, 5]], "labels": [1]}]}
    if object_meta is not None:
        ob["meta"] = object_meta
    j["objects"].append(ob)
    if meta is not None:
        j["meta"] = meta
    return j


@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint16])
def test_a_prompt_frame_a_script_computed_with_numpy_is_its_frame(kind, tmp_path):
    keys = np.arange(1001, 1004).astype(kind)
    got = jobspec.validate(_job(keys[1]))
    want = jobspec.validate(_job(1002))
    assert got == want
    assert [type(p["frame"]) for p in got["objects"][0]["prompts"]] == [int, int]
    path = jobspec.save(_job(keys[1]), str(tmp_path / "job.json"))   # a JobSpec file of plain JSON numbers
    assert jobspec.load(path)["objects"] == want["objects"]


@pytest.mark.parametrize("bad", [True, np.bool_(True), 1002.0, 1002.5, "1002", np.float32(1002)])
def test_a_prompt_frame_that_is_no_whole_number_type_is_still_refused(bad):
    with pytest.raises(JobSpecError) as e:
        jobspec.validate(_job(bad))
    assert e.value.code == "JOBSPEC_INVALID" and "objects[0].prompts[0].frame" in str(e.value)


def test_meta_numbers_a_script_computed_with_numpy_are_json_numbers(tmp_path):
    meta = {"score": np.float32(0.5), "take": np.int64(3), "ids": [np.int32(1), (np.uint8(2), 3.0)],
            "nested": {"f": np.float64(0.25)}}
    ometa = {"area": np.float32(12.0)}
    v = jobspec.validate(_job(1001, meta=meta, object_meta=ometa))
    assert v["meta"] == {"score": 0.5, "take": 3, "ids": [1, [2, 3.0]], "nested": {"f": 0.25}}
    assert type(v["meta"]["take"]) is int and type(v["meta"]["score"]) is float
    assert v["objects"][0]["meta"] == {"area": 12.0} and type(v["objects"][0]["meta"]["area"]) is float
    assert type(meta["score"]) is np.float32 and type(ometa["area"]) is np.float32   # the caller's own untouched
    path = jobspec.save(_job(1001, meta=meta, object_meta=ometa), str(tmp_path / "job.json"))
    with open(path) as f:
        assert json.load(f)["meta"]["ids"] == [1, [2, 3.0]]


@pytest.mark.parametrize("bad", [np.float32("nan"), np.float64("inf"), np.bool_(False), {1, 2}, b"x"])
def test_meta_that_is_no_json_data_is_still_refused(bad):
    with pytest.raises(JobSpecError) as e:
        jobspec.validate(_job(1001, meta={"x": [bad]}))
    assert e.value.code == "JOBSPEC_INVALID" and "meta.x[0]" in str(e.value)


# --- Nuke: an old node's read-back checks adopted on script load (node.adopt_checks) ------------------------------
#
# adopt_checks records the read-back's timing / plate checks on a node aligned by a samatte without them (0.2.18)
# when the graph above its Source is the one its plate was rendered from: the hash in the plate folder's name. But
# 0.2.18 hashed each upstream Read file's mtime in whole nanoseconds, and 0.2.19 in whole milliseconds (KEY_VERSION
# 3), so for any plate file whose mtime is not a whole millisecond (nearly all: ext4, NFS, APFS, NTFS) no node was
# ever adopted, and every open of the script walked the comp and stat'ed every upstream file again for nothing.
# (tests/test_qa_nuke_day9.py's test aligned the node under today's rule, then removed the knobs: it passed.)

def _nuke():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
    import nuke_env
    from samatte_nuke import farm, job as jobmod, node as snode
    return nuke_env, farm, jobmod, snode


@pytest.fixture
def nk(tmp_path):
    import os
    import shutil
    nuke_env, farm, _, _ = _nuke()
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "shA_v001.nk"))
    farm._memo.clear()

    def render(w, first, last):   # the node's Write: the files of the Read above its Source, in script frames
        n = w.input(0)
        while n.Class() != "Read":   # (out of the SAMatte group by its Input)
            inside = n.Class() == "Input" and n._parent is not None and n._parent.Class() == "Group"
            n = n._parent.input(int(n["number"].value())) if inside else n.input(0)
        pattern = nuke.filename(n)
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(pattern.replace("####", "%04d" % (t + 1000)), out)
    nuke._set_render_hook(render)
    yield nuke
    nuke._reset()


def test_a_node_aligned_by_0_2_18_is_adopted_when_its_script_is_opened(nk, tmp_path, monkeypatch):
    import os
    from samatte import cachekey, pipeline
    from samatte.demo import make_shot
    nuke_env, farm, jobmod, snode = _nuke()
    shot = make_shot(str(tmp_path / "shA"), frames=4, size=(64, 64), first=1001)
    for f in range(1001, 1005):   # plate files whose mtimes are not whole milliseconds (as written by a renderer)
        p = shot["plate"].replace("####", "%04d" % f)
        os.utime(p, ns=(1_765_000_000_123_456_789 + f, 1_765_000_000_123_456_789 + f))
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    grade = nk.nodes.Grade()
    grade.addKnob(nk.Double_Knob("white", "gain", 1.0))
    grade.setInput(0, read)
    g = snode.create("SAMatte1")
    g.setInput(0, grade)
    roto = nk.nodes.Roto(name="Roto1")
    roto.setInput(0, grade)
    layer = nuke_env.rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    with monkeypatch.context() as m:   # aligned by 0.2.18: its upstream hash counted whole ns, no checks recorded
        m.setattr(cachekey, "MTIME_UNIT_NS", 1)
        job, info = snode.build(g)
        pipeline.run(job)
        snode._point_read(g, job, info)
        was = jobmod.plate_hash(grade)   # (the graph's hash and the project's colour settings)
    for name in ("samatte_timing", "samatte_plate"):
        g.removeKnob(g[name])
    farm._memo.clear()
    folder = os.path.basename(os.path.dirname(farm.stored_job(g)["plate"]["path"]))
    assert folder == "plate_%s" % was != "plate_%s" % jobmod.plate_hash(grade)   # (the unit moved since)
    snode.register_callbacks()
    nk._script_loaded()   # the artist opens the script with 0.2.19
    assert g.knob("samatte_timing") is not None and g.knob("samatte_plate") is not None
    assert g["samatte_timing"].value() == jobmod.time_signature(jobmod.source_node(g))
    assert g["samatte_plate"].value() == farm.encode_state(jobmod.plate_signature(jobmod.source_node(g)))
    grade["white"].setValue(1.5)   # a graph changed since the render is still not adopted, whatever the unit
    for name in ("samatte_timing", "samatte_plate"):
        g.removeKnob(g[name])
    nk._script_loaded()
    assert g.knob("samatte_timing") is None and g.knob("samatte_plate") is None
