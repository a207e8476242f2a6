"""The JobSpec's compositor prompts (issue 10 item 4 and 7): mode add/subtract, open strokes,
negative-only correction clicks, prompts + masks on one object, masks.soft, host_name."""
import numpy as np
import pytest

from samatte import jobspec
from samatte.errors import JobSpecError, PromptError


def doc(*objects):
    return {"samatte_job": 1, "plate": {"path": "p.####.exr", "frames": "1-10"},
            "objects": list(objects), "output": {"path": "o.####.exr"}}


POLY = [[0, 0], [10, 0], [10, 10], [0, 10]]


def test_mode_defaults_to_add_and_subtract_is_kept():
    job = jobspec.validate(doc({"name": "a", "prompts": [
        {"frame": 1, "type": "polygon", "points": POLY},
        {"frame": 1, "type": "box", "box": [2, 2, 4, 4], "mode": "subtract"},
        {"frame": 2, "type": "mask", "path": "/m.png", "mode": "subtract"},
        {"frame": 3, "type": "bezier", "points": [[0, 0, 0, 0, 0, 0], [9, 0, 9, 0, 9, 0], [9, 9, 9, 9, 9, 9]],
         "mode": "add"}]}))
    modes = [(q["frame"], q["type"], q["mode"]) for q in job["objects"][0]["prompts"]]
    assert modes == [(1, "polygon", "add"), (1, "box", "subtract"), (2, "mask", "subtract"), (3, "bezier", "add")]
    assert jobspec.validate(job) == job


@pytest.mark.parametrize("bad", ["minus", 1, None and "x", ["add"]])
def test_bad_mode_is_a_coded_error(bad):
    with pytest.raises(JobSpecError) as ei:
        jobspec.validate(doc({"name": "a", "prompts": [{"frame": 1, "type": "box", "box": [0, 0, 4, 4],
                                                         "mode": bad}]}))
    assert ei.value.code in ("JOBSPEC_INVALID", "PROMPT_INVALID") and "mode" in str(ei.value)


def test_points_have_no_mode():
    with pytest.raises(JobSpecError, match="unknown field"):
        jobspec.validate(doc({"name": "a", "prompts": [{"frame": 1, "type": "points", "points": [[1, 1]],
                                                         "mode": "add"}]}))


def test_subtract_only_object_is_rejected():
    with pytest.raises(PromptError, match="says where it is"):
        jobspec.validate(doc({"name": "a", "prompts": [
            {"frame": 1, "type": "polygon", "points": POLY, "mode": "subtract"}]}))


def test_negative_only_click_is_a_correction_when_the_object_has_a_shape():
    job = jobspec.validate(doc({"name": "a", "prompts": [
        {"frame": 1, "type": "polygon", "points": POLY},
        {"frame": 5, "type": "points", "points": [[3, 3]], "labels": [0]}]}))
    assert job["objects"][0]["prompts"][1]["labels"] == [0]
    # with a positive click elsewhere too
    jobspec.validate(doc({"name": "a", "prompts": [
        {"frame": 1, "type": "points", "points": [[3, 3]]},
        {"frame": 5, "type": "points", "points": [[3, 3]], "labels": [0]}]}))


def test_negative_only_object_is_rejected():
    with pytest.raises(PromptError, match="positive"):
        jobspec.validate(doc({"name": "a", "prompts": [
            {"frame": 1, "type": "points", "points": [[3, 3], [4, 4]], "labels": [0, 0]}]}))


def test_closed_default_true_and_open_strokes():
    job = jobspec.validate(doc({"name": "a", "prompts": [
        {"frame": 1, "type": "polygon", "points": POLY},
        {"frame": 2, "type": "polygon", "points": [[0, 0], [10, 0]], "closed": False},  # a straight stroke
        {"frame": 3, "type": "bezier", "points": [[0, 0, 0, 0, 2, 0], [9, 0, 7, 0, 9, 0]], "closed": False}]}))
    ps = job["objects"][0]["prompts"]
    assert [q["closed"] for q in ps] == [True, False, False]


@pytest.mark.parametrize("prompt, match", [
    ({"frame": 1, "type": "polygon", "points": [[0, 0]], "closed": False}, "at least 2"),
    ({"frame": 1, "type": "polygon", "points": [[1, 1], [1, 1]], "closed": False}, "zero length"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [5, 5]], "closed": True}, "at least 3"),
    ({"frame": 1, "type": "polygon", "points": POLY, "closed": "no"}, "must be bool"),
    ({"frame": 1, "type": "polygon", "points": POLY, "closed": False, "invert": True}, "inverted"),
])
def test_bad_strokes(prompt, match):
    with pytest.raises(JobSpecError, match=match):
        jobspec.validate(doc({"name": "a", "prompts": [prompt, {"frame": 2, "type": "box", "box": [0, 0, 4, 4]}]}))


def test_prompts_and_masks_on_one_object_and_soft_masks():
    job = jobspec.validate(doc({"name": "a", "prompts": [{"frame": 1, "type": "polygon", "points": POLY}],
                                "masks": {"path": "/roto/a.####.png", "soft": True}},
                               {"name": "b", "masks": "/roto/b.####.png"}))
    a, b = job["objects"]
    assert a["prompts"][0]["type"] == "polygon"
    assert a["masks"] == {"path": "/roto/a.####.png", "channel": None, "threshold": 0.5, "soft": True}
    assert b["masks"]["soft"] is False and "prompts" not in b
    with pytest.raises(JobSpecError, match="must be bool"):
        jobspec.validate(doc({"name": "b", "masks": {"path": "/r.####.png", "soft": 1}}))


@pytest.mark.parametrize("host", ["Roto1", "MaskLayer.001", "my hero", "Ärmel ✂", ""])
def test_host_name_is_any_string(host):
    job = jobspec.validate(doc({"name": "a", "host_name": host, "prompts": [{"frame": 1, "type": "box",
                                                                             "box": [0, 0, 4, 4]}]}))
    assert job["objects"][0]["host_name"] == host
    with pytest.raises(JobSpecError, match="host_name"):
        jobspec.validate(doc({"name": "a", "host_name": 5, "prompts": [{"frame": 1, "type": "box",
                                                                        "box": [0, 0, 4, 4]}]}))


def test_building_helpers_carry_mode_and_closed():
    job = jobspec.new_job("p.####.exr", "o.####.exr", frames="1-5")
    jobspec.add_object(job, "a", [jobspec.polygon_prompt(1, POLY),
                                  jobspec.polygon_prompt(1, [[2, 2], [4, 2], [4, 4]], mode="subtract"),
                                  jobspec.polygon_prompt(2, [[0, 0], [9, 9]], closed=False),
                                  jobspec.box_prompt(3, [0, 0, 3, 3], mode="subtract")],
                       masks="/roto/a.####.png", host_name="Roto 1")
    out = jobspec.validate(job)
    ob = out["objects"][0]
    assert ob["host_name"] == "Roto 1" and ob["masks"]["path"] == "/roto/a.####.png"
    assert [(q["mode"], q.get("closed")) for q in ob["prompts"]] == [("add", True), ("subtract", True),
                                                                      ("add", False), ("subtract", None)]


def test_object_anchors_match_the_trackers_rule():
    """jobspec.object_anchors (stdlib, for hosts and cache keys) = seed.object_roles' keyframes."""
    from samatte.prompts import prepare_objects
    from samatte.stages import PlateInfo, Window
    from samatte.track.seed import object_roles
    info = PlateInfo(data=Window(0, 0, 20, 20), display=Window(0, 0, 20, 20))
    cases = [
        [{"frame": 2, "type": "points", "points": [[3, 3]]}, {"frame": 4, "type": "polygon", "points": POLY},
         {"frame": 6, "type": "box", "box": [0, 0, 5, 5]}, {"frame": 7, "type": "box", "box": [0, 0, 5, 5],
                                                             "mode": "subtract"}],
        [{"frame": 3, "type": "points", "points": [[3, 3]], "labels": [0]},
         {"frame": 5, "type": "points", "points": [[3, 3], [4, 4]], "labels": [0, 1]},
         {"frame": 8, "type": "points", "points": [[3, 3]]}],
        [{"frame": 4, "type": "polygon", "points": [[1, 1], [9, 9]], "closed": False},
         {"frame": 6, "type": "polygon", "points": POLY, "mode": "subtract"}],
    ]
    for prompts in cases:
        ob = jobspec.validate(doc({"name": "a", "prompts": prompts}))["objects"][0]
        tob = prepare_objects([ob], info, range(1, 11))[0]
        assert jobspec.object_anchors(ob) == object_roles(tob)[0], prompts
    assert jobspec.object_anchors({"name": "m", "masks": {"path": "x"}}) == []


def test_anchor_frames_one_rule_with_and_without_refine_points():
    """The anchor rule the trackers and the cache keys share: shape frames; else the first positive
    frame; with SAM2's refine_points off every positive frame is an anchor too."""
    kinds = jobspec.prompt_kinds([
        {"frame": 3, "type": "points", "points": [[1, 1]], "labels": [0]},        # negative only: hint
        {"frame": 5, "type": "polygon", "points": [[1, 1], [4, 4]], "closed": False},  # open stroke: seed
        {"frame": 7, "type": "points", "points": [[1, 1]], "labels": [1]},
        {"frame": 9, "type": "box", "box": [0, 0, 2, 2], "mode": "subtract"}])
    assert kinds == {3: "hint", 5: "seed", 7: "seed", 9: "hint"}
    assert jobspec.anchor_frames(kinds) == [5]
    assert jobspec.anchor_frames(kinds, refine_points=False) == [5, 7]
    kinds[8] = "shape"
    assert jobspec.anchor_frames(kinds) == [8]
    assert jobspec.anchor_frames(kinds, refine_points=False) == [5, 7, 8]
    assert jobspec.prompt_kinds([{"frame": 2, "type": "box", "box": [0, 0, 1, 1]}], frames={3}) == {}
    assert jobspec.anchor_frames({}) == []


def test_open_strokes_become_points_along_them():
    from samatte.prompts import prepare_objects
    from samatte.stages import PlateInfo, Window
    info = PlateInfo(data=Window(-10, 0, 120, 50), display=Window(0, 0, 100, 50))  # overscan: 10 px left
    job = jobspec.validate({"samatte_job": 1, "plate": {"path": "p.####.exr", "frames": "1-3"},
                            "output": {"path": "o.####.exr"}, "objects": [{"name": "a", "prompts": [
                                {"frame": 1, "type": "polygon", "points": [[10, 10], [90, 10], [90, 40]],
                                 "closed": False},
                                {"frame": 2, "type": "bezier", "points": [[10, 25, 10, 25, 30, 5],
                                                                          [90, 25, 70, 45, 90, 25]],
                                 "closed": False, "mode": "subtract"},
                                {"frame": 3, "type": "polygon", "points": [[0, 0], [9, 0]], "closed": False}]}]})
    ob = prepare_objects(job["objects"], info, [1, 2, 3])[0]
    p1 = ob.prompts[1][0]
    assert p1["type"] == "points" and p1["stroke"] == "polygon" and set(p1["labels"]) == {1}
    pts = np.array(p1["points"])
    assert len(pts) <= 48 and np.allclose(pts[0], [20, 10]) and np.allclose(pts[-1], [100, 40])  # canvas px
    gaps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    assert gaps.min() > 2.0 and 4.0 <= np.median(gaps) <= gaps.max() <= 4.1  # evenly spaced along it
    p2 = ob.prompts[2][0]
    assert p2["stroke"] == "bezier" and set(p2["labels"]) == {0} and "mode" not in p2
    assert np.allclose(p2["points"][0], [20, 25]) and np.allclose(p2["points"][-1], [100, 25])
    assert len(ob.prompts[3][0]["points"]) == 3  # a 9 px stroke: points 4.5 px apart
