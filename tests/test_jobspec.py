"""samatte.jobspec: validation (good and every kind of bad), normalisation, files, building helpers."""
import copy
import json
import os

import pytest

from samatte import jobspec
from samatte.errors import FrameRangeError, JobSpecError, PromptError


def good():
    return {
        "samatte_job": 1,
        "name": "sh010_hero",
        "plate": {"path": "/shots/sh010/plate.####.exr", "frames": "1001-1100", "colourspace": "ACEScg",
                  "ocio_config": None, "layer": None, "on_nonfinite": "fix"},
        "objects": [
            {"name": "hero", "prompts": [
                {"frame": 1080, "type": "bezier", "points": [[10, 10, 9, 9, 11, 11], [50, 10, 49, 9, 51, 11],
                                                             [30, 40, 29, 39, 31, 41]]},
                {"frame": 1001, "type": "mask", "path": "/tmp/hero_1001.png"},
                {"frame": 1001, "type": "points", "points": [[960, 540], [100, 80]], "labels": [1, 0]},
                {"frame": 1040, "type": "box", "box": [800, 300, 1200, 900]},
                {"frame": 1060, "type": "polygon", "points": [[0, 0], [10, 0], [10, 10]], "feather": 2},
            ]},
            {"name": "car", "masks": {"path": "/roto/car.####.png", "channel": None}},
        ],
        "tracker": {"backend": "auto", "model": "sam2.1_hiera_tiny", "options": {}},
        "matte": {"backend": "auto", "quality": "default", "options": {}},
        "output": {"path": "/out/sh010_matte.####.exr", "object_layers": True, "foreground": True,
                   "quality_map": True, "compression": "zip", "overwrite": False},
        "device": "auto",
        "work_dir": None,
    }


def minimal():
    return {"samatte_job": 1, "plate": {"path": "p.####.exr"},
            "objects": [{"prompts": [{"frame": 1, "type": "box", "box": [0, 0, 5, 5]}]}],
            "output": {"path": "o.####.exr"}}


def test_full_document_validates_and_normalises():
    doc = good()
    before = copy.deepcopy(doc)
    job = jobspec.validate(doc)
    assert doc == before  # the input is not modified
    assert job["plate"]["frames"] == "1001-1100"
    hero = job["objects"][0]
    assert [q["frame"] for q in hero["prompts"]] == [1001, 1001, 1040, 1060, 1080]  # sorted, stable
    assert hero["prompts"][0]["type"] == "mask" and hero["prompts"][0]["threshold"] == 0.5
    assert hero["prompts"][1]["labels"] == [1, 0]
    assert hero["prompts"][3]["feather"] == 2.0 and hero["prompts"][3]["invert"] is False
    assert job["objects"][1]["masks"] == {"path": "/roto/car.####.png", "channel": None, "threshold": 0.5,
                                          "soft": False}
    assert jobspec.validate(job) == job  # idempotent
    assert jobspec.validate(json.dumps(doc)) == job  # JSON text works too
    assert jobspec.job_frames(job) == list(range(1001, 1101))
    assert jobspec.object_keyframes(hero) == [1001, 1040, 1060, 1080]
    assert jobspec.object_keyframes(job["objects"][1]) == []


def test_minimal_document_gets_defaults():
    job = jobspec.validate(minimal())
    assert job["name"] == "samatte"
    assert job["plate"] == {"path": "p.####.exr", "frames": None, "colourspace": None, "ocio_config": None,
                            "layer": None, "on_nonfinite": "fix"}
    assert job["objects"][0]["name"] == "object1"
    assert job["tracker"] == {"backend": "auto", "model": "sam2.1_hiera_tiny", "options": {}}
    assert job["matte"] == {"backend": "auto", "quality": "default", "options": {}}
    assert job["output"] == {"path": "o.####.exr", "object_layers": True, "foreground": True,
                             "quality_map": True, "compression": "zip", "overwrite": False}
    assert job["device"] == "auto" and job["work_dir"] is None
    assert jobspec.job_frames(job) is None
    # with no frame range, prompts on any frame are accepted here (checked against the plate at run time)
    doc = minimal()
    doc["objects"][0]["prompts"][0]["frame"] = 999999
    jobspec.validate(doc)


def test_frames_normalised_forms():
    for spec, text in (([1003, 1001, 1002], "1001-1003"), (1001, "1001"), ("1001-1009x2", "1001-1009x2"),
                       ("1001,1002,1003,1010", "1001-1003,1010")):
        doc = minimal()
        doc["plate"]["frames"] = spec
        doc["objects"][0]["prompts"][0]["frame"] = 1001
        assert jobspec.validate(doc)["plate"]["frames"] == text


def _set(path, value):
    def f(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[int(k)] if k.isdigit() else d[k]
        last = keys[-1]
        if value is _DEL:
            del d[int(last) if last.isdigit() else last]
        else:
            d[int(last) if last.isdigit() else last] = value
    return f


_DEL = object()
P0 = "objects.0.prompts.1"   # the mask prompt in good()

BAD = [
    # (what, mutation, error class, text in message)
    ("not an object", lambda d: [1, 2], JobSpecError, "JSON object"),
    ("not JSON", lambda d: "{nope", JobSpecError, "not valid JSON"),
    ("missing version", _set("samatte_job", _DEL), JobSpecError, "samatte_job"),
    ("version string", _set("samatte_job", "1"), JobSpecError, "integer version"),
    ("version bool", _set("samatte_job", True), JobSpecError, "integer version"),
    ("future version", _set("samatte_job", 2), JobSpecError, "not supported"),
    ("version 0", _set("samatte_job", 0), JobSpecError, "not supported"),
    ("unknown top field", _set("extra", 1), JobSpecError, "unknown field"),
    ("name not str", _set("name", 5), JobSpecError, "must be str"),
    ("missing plate", _set("plate", _DEL), JobSpecError, "'plate'"),
    ("plate not object", _set("plate", "x.exr"), JobSpecError, "must be dict"),
    ("plate unknown field", _set("plate.fps", 24), JobSpecError, "unknown field"),
    ("plate path missing", _set("plate.path", _DEL), JobSpecError, "'path'"),
    ("plate path empty", _set("plate.path", "  "), JobSpecError, "empty"),
    ("plate path number", _set("plate.path", 5), JobSpecError, "must be str"),
    ("frames backwards", _set("plate.frames", "1100-1001"), FrameRangeError, "ends before"),
    ("frames garbage", _set("plate.frames", "first-last"), FrameRangeError, "cannot parse"),
    ("frames empty", _set("plate.frames", ""), FrameRangeError, "empty"),
    ("frames float", _set("plate.frames", 1.5), FrameRangeError, "frame range"),
    ("frames zero step", _set("plate.frames", "1001-1100x0"), FrameRangeError, "positive"),
    ("colourspace not str", _set("plate.colourspace", 3), JobSpecError, "must be str"),
    ("on_nonfinite", _set("plate.on_nonfinite", "ignore"), JobSpecError, "not one of"),
    ("missing objects", _set("objects", _DEL), JobSpecError, "'objects'"),
    ("objects empty", _set("objects", []), JobSpecError, "at least one object"),
    ("objects not list", _set("objects", {"name": "a"}), JobSpecError, "must be list"),
    ("object not dict", _set("objects.0", "hero"), JobSpecError, "JSON object"),
    ("object unknown field", _set("objects.0.colour_space", 1), JobSpecError, "unknown field"),
    ("object bad name", _set("objects.0.name", "my hero"), JobSpecError, "object name"),
    ("object reserved name", _set("objects.0.name", "rgba"), JobSpecError, "object name"),
    ("object digit name", _set("objects.0.name", "1hero"), JobSpecError, "object name"),
    ("object long name", _set("objects.0.name", "a" * 65), JobSpecError, "object name"),
    ("duplicate names", _set("objects.1.name", "hero"), JobSpecError, "duplicate"),
    ("neither prompts nor masks", _set("objects.0.prompts", _DEL), PromptError, "neither"),
    ("empty prompts", _set("objects.0.prompts", []), PromptError, "empty prompt list"),
    ("prompts not list", _set("objects.0.prompts", {"frame": 1}), JobSpecError, "must be list"),
    ("masks bad type", _set("objects.1.masks", 5), JobSpecError, "'masks'"),
    ("masks unknown", _set("objects.1.masks.blur", 1), JobSpecError, "unknown field"),
    ("masks no path", _set("objects.1.masks", {"channel": "A"}), JobSpecError, "'path'"),
    ("object colour", _set("objects.0.colour", [1, 0]), PromptError, "3 numbers"),
    ("prompt not dict", _set(P0, "mask"), PromptError, "must be an object"),
    ("prompt no type", _set(P0 + ".type", _DEL), JobSpecError, "'type'"),
    ("prompt unknown type", _set(P0 + ".type", "lasso"), PromptError, "unknown prompt type"),
    ("prompt no frame", _set(P0 + ".frame", _DEL), JobSpecError, "'frame'"),
    ("prompt frame float", _set(P0 + ".frame", 1001.0), JobSpecError, "must be int"),
    ("prompt frame bool", _set(P0 + ".frame", True), JobSpecError, "bool"),
    ("prompt out of range", _set(P0 + ".frame", 1200), PromptError, "outside the job's frame range"),
    ("prompt before range", _set(P0 + ".frame", 1000), PromptError, "outside"),
    ("mask prompt no path", _set(P0 + ".path", _DEL), JobSpecError, "'path'"),
    ("mask prompt empty path", _set(P0 + ".path", ""), PromptError, "empty"),
    ("mask prompt unknown field", _set(P0 + ".box", [0, 0, 1, 1]), JobSpecError, "unknown field"),
    ("mask threshold str", _set(P0 + ".threshold", "half"), JobSpecError, "finite number"),
    ("mask threshold nan", _set(P0 + ".threshold", float("nan")), JobSpecError, "finite number"),
    ("mask invert str", _set(P0 + ".invert", "yes"), JobSpecError, "must be bool"),
]


def _points(d):
    return d["objects"][0]["prompts"][2]


def _box(d):
    return d["objects"][0]["prompts"][3]


def _poly(d):
    return d["objects"][0]["prompts"][4]


def _bez(d):
    return d["objects"][0]["prompts"][0]


BAD += [
    ("points empty", lambda d: _points(d).update(points=[], labels=[]), PromptError, "no points"),
    ("points not pairs", lambda d: _points(d).update(points=[[1, 2, 3], [1, 2]]), PromptError, "list of 2"),
    ("points strings", lambda d: _points(d).update(points=[["1", 2], [1, 2]]), PromptError, "finite number"),
    ("points inf", lambda d: _points(d).update(points=[[float("inf"), 2], [1, 2]]), PromptError, "finite"),
    ("labels length", lambda d: _points(d).update(labels=[1]), PromptError, "labels"),
    ("labels values", lambda d: _points(d).update(labels=[1, 2]), PromptError, "1 (include) or 0"),
    ("labels bool", lambda d: _points(d).update(labels=[True, 0]), PromptError, "1 (include) or 0"),
    ("box short", lambda d: _box(d).update(box=[1, 2, 3]), PromptError, "list of 4"),
    ("box inverted", lambda d: _box(d).update(box=[10, 10, 5, 20]), PromptError, "x1 > x0"),
    ("box empty", lambda d: _box(d).update(box=[10, 10, 10, 10]), PromptError, "x1 > x0"),
    ("box missing", lambda d: _box(d).pop("box") and None, JobSpecError, "'box'"),
    ("polygon two points", lambda d: _poly(d).update(points=[[0, 0], [1, 1]]), PromptError, "at least 3"),
    ("polygon zero area", lambda d: _poly(d).update(points=[[0, 0], [5, 0], [9, 0]]), PromptError, "zero area"),
    ("polygon bad point", lambda d: _poly(d).update(points=[[0, 0], [5, 0], [9]]), PromptError, "list of 2"),
    ("polygon feather", lambda d: _poly(d).update(feather="soft"), JobSpecError, "finite number"),
    ("bezier pairs", lambda d: _bez(d).update(points=[[0, 0], [5, 0], [9, 9]]), PromptError, "list of 6"),
    ("tracker not dict", _set("tracker", "sam2"), JobSpecError, "must be dict"),
    ("tracker backend", _set("tracker.backend", "magic"), JobSpecError, "not one of"),
    ("tracker unknown", _set("tracker.size", 3), JobSpecError, "unknown field"),
    ("tracker options", _set("tracker.options", []), JobSpecError, "must be dict"),
    ("matte backend", _set("matte.backend", "photoshop"), JobSpecError, "not one of"),
    ("matte quality", _set("matte.quality", "ultra"), JobSpecError, "not one of"),
    ("missing output", _set("output", _DEL), JobSpecError, "'output'"),
    ("output path empty", _set("output.path", " "), JobSpecError, "empty"),
    ("output path missing", _set("output.path", _DEL), JobSpecError, "'path'"),
    ("output path png", _set("output.path", "/out/matte.####.png"), JobSpecError, "must end in .exr"),
    ("output path no extension", _set("output.path", "/out/matte.####"), JobSpecError, "must end in .exr"),
    ("output compression", _set("output.compression", "jpeg"), JobSpecError, "not one of"),
    ("output overwrite str", _set("output.overwrite", "true"), JobSpecError, "must be bool"),
    ("output foreground int", _set("output.foreground", 1), JobSpecError, "must be bool"),
    ("output unknown", _set("output.format", "exr"), JobSpecError, "unknown field"),
    ("device", _set("device", "tpu"), JobSpecError, "device"),
    ("device type", _set("device", 0), JobSpecError, "must be str"),
    ("work_dir type", _set("work_dir", 1), JobSpecError, "must be str"),
    ("meta type", _set("meta", "x"), JobSpecError, "must be dict"),
]


@pytest.mark.parametrize("what, mutate, cls, text", BAD, ids=[b[0] for b in BAD])
def test_bad_documents(what, mutate, cls, text):
    doc = good()
    r = mutate(doc)
    if r is not None:
        doc = r
    with pytest.raises(cls) as ei:
        jobspec.validate(doc)
    assert text in ei.value.message, ei.value.message
    assert ei.value.exit_code == 2


def test_errors_name_the_field():
    doc = good()
    doc["objects"][0]["prompts"][3]["box"] = [10, 10, 5, 20]
    with pytest.raises(PromptError) as ei:
        jobspec.validate(doc)
    assert ei.value.details["field"] == "objects[0].prompts[3].box"
    doc = good()
    doc["output"]["compression"] = "jpeg"
    with pytest.raises(JobSpecError) as ei:
        jobspec.validate(doc)
    assert ei.value.details["field"] == "output.compression"


def test_cuda_device_index_and_string_masks():
    doc = good()
    doc["device"] = "cuda:1"
    doc["objects"][1]["masks"] = "/roto/car.%04d.png"
    job = jobspec.validate(doc)
    assert job["device"] == "cuda:1"
    assert job["objects"][1]["masks"]["path"] == "/roto/car.%04d.png"


def test_load_resolves_relative_paths(tmp_path):
    doc = good()
    doc["plate"]["path"] = "plates/p.####.exr"
    doc["plate"]["ocio_config"] = "ocio://studio-config-latest"
    doc["objects"][0]["prompts"][1]["path"] = "../prompts/hero.png"
    doc["objects"][1]["masks"]["path"] = "/abs/car.####.png"
    doc["output"]["path"] = "out/m.####.exr"
    doc["work_dir"] = "work"
    p = tmp_path / "jobs" / "job.json"
    p.parent.mkdir()
    p.write_text(json.dumps(doc))
    job = jobspec.load(str(p))
    assert job["plate"]["path"] == str(tmp_path / "jobs" / "plates" / "p.####.exr")
    assert job["plate"]["ocio_config"] == "ocio://studio-config-latest"
    mask = [q for q in job["objects"][0]["prompts"] if q["type"] == "mask"][0]
    assert mask["path"] == str(tmp_path / "prompts" / "hero.png")
    assert job["objects"][1]["masks"]["path"] == "/abs/car.####.png"
    assert job["output"]["path"] == str(tmp_path / "jobs" / "out" / "m.####.exr")
    assert job["work_dir"] == str(tmp_path / "jobs" / "work")
    doc["plate"]["ocio_config"] = "configs/studio.ocio"
    p.write_text(json.dumps(doc))
    assert jobspec.load(str(p))["plate"]["ocio_config"] == str(tmp_path / "jobs" / "configs" / "studio.ocio")


def test_load_errors(tmp_path):
    with pytest.raises(JobSpecError) as ei:
        jobspec.load(str(tmp_path / "missing.json"))
    assert "cannot read" in ei.value.message
    p = tmp_path / "bad.json"
    p.write_text("{\"samatte_job\": 1,")
    with pytest.raises(JobSpecError) as ei:
        jobspec.load(str(p))
    assert "not valid JSON" in ei.value.message


def test_save_is_atomic_and_validates(tmp_path):
    p = tmp_path / "job.json"
    jobspec.save(good(), str(p))
    assert json.loads(p.read_text()) == jobspec.validate(good())
    assert os.listdir(tmp_path) == ["job.json"]
    bad = good()
    bad["samatte_job"] = 7
    with pytest.raises(JobSpecError):
        jobspec.save(bad, str(p))
    assert json.loads(p.read_text())["samatte_job"] == 1  # the old file is untouched
    assert os.listdir(tmp_path) == ["job.json"]


def test_dumps_roundtrip():
    job = jobspec.validate(good())
    assert jobspec.validate(json.loads(jobspec.dumps(job))) == job


def test_building_helpers_make_valid_jobs():
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr", frames="1001-1010", colourspace="ACEScg",
                          tracker="flow", matte="refine", quality="high", device="cpu", overwrite=True)
    jobspec.add_object(job, "hero", [jobspec.mask_prompt(1001, "/m.png", channel="A")])
    jobspec.add_prompt(job, "hero", jobspec.points_prompt(1005, [(10, 20), (30, 40)], labels=[1, 0]))
    jobspec.add_prompt(job, "hero", jobspec.box_prompt(1006, (1, 2, 3, 4)))
    jobspec.add_prompt(job, "hero", jobspec.polygon_prompt(1007, [(0, 0), (9, 0), (9, 9)], feather=1.5))
    jobspec.add_prompt(job, "hero", jobspec.bezier_prompt(1008, [(0, 0, 0, 0, 0, 0), (9, 0, 9, 0, 9, 0),
                                                                 (9, 9, 9, 9, 9, 9)]))
    jobspec.add_object(job, "car", masks="/roto/car.####.png")
    out = jobspec.validate(job)
    assert [q["type"] for q in out["objects"][0]["prompts"]] == ["mask", "points", "box", "polygon", "bezier"]
    assert out["objects"][0]["prompts"][1]["labels"] == [1, 0]
    assert out["objects"][1]["masks"]["path"] == "/roto/car.####.png"
    assert out["tracker"]["backend"] == "flow" and out["matte"]["quality"] == "high"
    assert out["output"]["overwrite"] is True and out["device"] == "cpu"
    with pytest.raises(JobSpecError):
        jobspec.add_prompt(job, "nobody", jobspec.box_prompt(1001, (0, 0, 1, 1)))
    # a prompt outside the frames is caught when validated
    jobspec.add_prompt(job, "hero", jobspec.box_prompt(2000, (0, 0, 1, 1)))
    with pytest.raises(PromptError):
        jobspec.validate(job)


def test_constants_match_the_contract():
    assert jobspec.JOBSPEC_VERSION == 1
    assert set(jobspec.TRACKER_BACKENDS) == {"auto", "sam2", "flow", "shapes"}
    assert {"auto", "refine", "none"} <= set(jobspec.MATTE_BACKENDS)
    assert set(jobspec.PROMPT_TYPES) == {"mask", "points", "box", "polygon", "bezier"}


def test_helpers_take_pathlib_paths(tmp_path):
    """A TD's script passes pathlib.Path: the helpers store str (save / load already took Path; the
    helpers' dicts were JOBSPEC_INVALID)."""
    import pathlib
    from samatte import jobspec as js
    job = js.new_job(pathlib.Path("/shots/sh010/plate.####.exr"), pathlib.Path("/shots/sh010/out/m.####.exr"),
                     frames="1-3", ocio_config=pathlib.Path("/studio/config.ocio"), work_dir=pathlib.Path("/tmp/w"))
    js.add_object(job, "hero", [js.mask_prompt(1, pathlib.Path("/shots/sh010/roto.0001.png"))])
    js.add_object(job, "bg", masks=pathlib.Path("/shots/sh010/bg.####.png"))
    js.add_object(job, "fx", masks={"path": pathlib.Path("/shots/sh010/fx.####.png"), "threshold": 0.3})
    v = js.validate(job)
    assert v["plate"]["path"] == "/shots/sh010/plate.####.exr"
    assert v["plate"]["ocio_config"] == "/studio/config.ocio" and v["work_dir"] == "/tmp/w"
    assert v["objects"][0]["prompts"][0]["path"] == "/shots/sh010/roto.0001.png"
    assert [o.get("masks", {}).get("path") for o in v["objects"]][1:] == ["/shots/sh010/bg.####.png",
                                                                          "/shots/sh010/fx.####.png"]
    js.save(job, tmp_path / "j.json")
    assert js.load(tmp_path / "j.json")["plate"]["path"] == "/shots/sh010/plate.####.exr"
