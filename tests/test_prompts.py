"""prompts.prepare_objects: coordinate conversion, rasterisation, errors."""
import math

import numpy as np
import pytest

from samatte import jobspec
from samatte.errors import PromptError
from samatte.prompts import bezier_to_polygon, prepare_objects, rasterise_polygon
from samatte.stages import PlateInfo, TrackerObject, Window

INFO = PlateInfo(data=Window(0, 0, 120, 90), display=Window(0, 0, 120, 90))
# overscan: the data window extends 10 px left and 5 px above the display window
OVERSCAN = PlateInfo(data=Window(-10, -5, 140, 100), display=Window(0, 0, 120, 90))


def _one(prompt, info=INFO, frames=(1001, 1002)):
    objs = prepare_objects([{"name": "a", "prompts": [prompt]}], info, list(frames))
    assert len(objs) == 1 and isinstance(objs[0], TrackerObject)
    (frame, ps), = objs[0].prompts.items()
    assert frame == prompt["frame"] and len(ps) == 1
    return ps[0]


def shoelace(pts):
    x, y = np.asarray(pts, float).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_axis_aligned_polygon_covers_exact_pixels_with_overscan_offset():
    q = _one(jobspec.polygon_prompt(1001, [[20, 10], [60, 10], [60, 40], [20, 40]]), OVERSCAN)
    m = q["mask_array"]
    assert m.dtype == bool and m.shape == (100, 140)
    expect = np.zeros((100, 140), bool)
    expect[15:45, 30:70] = True  # display (x, y) -> canvas (x + 10, y + 5)
    assert np.array_equal(m, expect)
    assert q["points"][0] == [30.0, 15.0]


def test_polygon_area_matches_shoelace():
    # a 7-pointed star with non-integer vertices
    pts = []
    for i in range(14):
        r = 35.0 if i % 2 == 0 else 15.0
        a = math.pi * i / 7
        pts.append([60.3 + r * math.cos(a), 44.7 + r * math.sin(a)])
    q = _one(jobspec.polygon_prompt(1002, pts))
    area = shoelace(pts)
    cov = rasterise_polygon(np.array(pts), INFO.shape)
    assert abs(cov.sum() - area) < 0.01 * area
    assert abs(q["mask_array"].sum() - area) < 0.04 * area
    assert q["soft_array"].dtype == np.float32


def test_bezier_circle_area():
    r, cx, cy = 30.0, 60.0, 45.0
    k = 0.5523 * r
    # points [x, y, in_x, in_y, out_x, out_y], going clockwise on screen (y down)
    cps = [[cx + r, cy, cx + r, cy - k, cx + r, cy + k],
           [cx, cy + r, cx + k, cy + r, cx - k, cy + r],
           [cx - r, cy, cx - r, cy + k, cx - r, cy - k],
           [cx, cy - r, cx - k, cy - r, cx + k, cy - r]]
    q = _one(jobspec.bezier_prompt(1001, cps))
    area = math.pi * r * r
    assert abs(q["mask_array"].sum() - area) < 0.015 * area
    poly = bezier_to_polygon(cps)
    radii = np.hypot(poly[:, 0] - cx, poly[:, 1] - cy)
    assert radii.min() > r * 0.999 and radii.max() < r * 1.001
    assert q["mask_array"][45, 60] and not q["mask_array"][5, 5]


def test_invert_and_feather():
    pts = [[20, 10], [60, 10], [60, 40], [20, 40]]
    plain = _one(jobspec.polygon_prompt(1001, pts))
    inv = _one(jobspec.polygon_prompt(1001, pts, invert=True))
    assert np.array_equal(inv["mask_array"], ~plain["mask_array"])
    fe = _one(jobspec.polygon_prompt(1001, pts, feather=8.0))
    s = fe["soft_array"]
    assert np.array_equal(fe["mask_array"], plain["mask_array"])
    assert s[25, 40] == 1.0 and 0.3 < s[25, 64] < 0.7 and s[25, 70] == 0.0  # 4 px and 10 px outside


def test_box_and_points_stay_coordinates_in_canvas_pixels():
    b = _one(jobspec.box_prompt(1001, [-30, 10, 50, 60]), OVERSCAN)
    assert b["box"] == [0.0, 15.0, 60.0, 65.0]  # clipped on the left at the canvas edge
    assert "mask_array" not in b
    p = _one(jobspec.points_prompt(1001, [[5, 5], [500, 5], [30, 20]], [1, 1, 0]), OVERSCAN)
    assert p["points"] == [[15.0, 10.0], [40.0, 25.0]] and p["labels"] == [1, 0]


@pytest.mark.parametrize("prompt", [
    jobspec.polygon_prompt(1001, [[200, 200], [260, 200], [260, 260]]),
    jobspec.bezier_prompt(1001, [[-50, -50, -50, -50, -50, -50], [-20, -50, -20, -50, -20, -50],
                                 [-20, -20, -20, -20, -20, -20]]),
    jobspec.polygon_prompt(1001, [[10, 10], [10.2, 10], [10.2, 10.2]]),  # rasterises to nothing
    jobspec.polygon_prompt(1001, [[-5, -5], [200, -5], [200, 200], [-5, 200]], invert=True),
    jobspec.box_prompt(1001, [130, 10, 200, 50]),
    jobspec.points_prompt(1001, [[-3, 4], [300, 40]]),
    jobspec.points_prompt(1001, [[-3, 4], [30, 40]], [1, 0]),  # the only positive is outside
])
def test_prompt_errors(prompt):
    with pytest.raises(PromptError) as ei:
        _one(prompt)
    assert ei.value.code == "PROMPT_INVALID"


def test_prompt_outside_job_frames():
    with pytest.raises(PromptError):
        _one(jobspec.box_prompt(1005, [1, 1, 20, 20]))


def test_refine_only_objects_are_skipped():
    objs = prepare_objects([{"name": "r", "masks": {"path": "/x.####.png"}},
                            {"name": "t", "prompts": [jobspec.box_prompt(1001, [1, 1, 20, 20])]}], INFO, [1001])
    assert [o.name for o in objs] == ["t"]


def test_prompts_grouped_by_frame():
    objs = prepare_objects([{"name": "a", "prompts": [jobspec.box_prompt(1002, [1, 1, 20, 20]),
                                                      jobspec.box_prompt(1001, [1, 1, 20, 20]),
                                                      jobspec.points_prompt(1001, [[5, 5]])]}],
                           INFO, [1001, 1002])
    assert sorted(objs[0].prompts) == [1001, 1002] and len(objs[0].prompts[1001]) == 2


def _write_png(path, arr):
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(path), arr)


def test_mask_prompt_threshold_invert_and_empty(tmp_path):
    pytest.importorskip("samatte.io.masks")
    g = np.zeros((90, 120), np.uint8)
    g[:, 60:] = 200
    g[:, 90:] = 255
    _write_png(tmp_path / "m.png", g)
    p = str(tmp_path / "m.png")
    q = _one(jobspec.mask_prompt(1001, p, threshold=0.5))
    assert q["mask_array"].sum() == 90 * 60 and q["mask_array"][0, 60] and not q["mask_array"][0, 59]
    q = _one(jobspec.mask_prompt(1001, p, threshold=0.9))
    assert q["mask_array"].sum() == 90 * 30
    q = _one(jobspec.mask_prompt(1001, p, threshold=0.5, invert=True))
    assert q["mask_array"].sum() == 90 * 60 and q["mask_array"][0, 0]
    _write_png(tmp_path / "z.png", np.zeros((90, 120), np.uint8))
    with pytest.raises(PromptError):
        _one(jobspec.mask_prompt(1001, str(tmp_path / "z.png")))
    _write_png(tmp_path / "f.png", np.full((90, 120), 255, np.uint8))
    with pytest.raises(PromptError):  # everything is above threshold: inverted it is empty
        _one(jobspec.mask_prompt(1001, str(tmp_path / "f.png"), invert=True))


def test_unreadable_or_wrong_size_mask_prompt(tmp_path):
    pytest.importorskip("samatte.io.masks")
    with pytest.raises(PromptError) as ei:
        _one(jobspec.mask_prompt(1001, str(tmp_path / "missing.png")))
    assert "missing.png" in str(ei.value)
    _write_png(tmp_path / "small.png", np.full((10, 10), 255, np.uint8))
    with pytest.raises(PromptError):
        _one(jobspec.mask_prompt(1001, str(tmp_path / "small.png")))
