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
