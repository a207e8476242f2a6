"""QA: prompts in JobSpecs and their rasterisation (jobspec validation, prompts.prepare_prompt, the box
rectangle of the trackers), with property-based tests and nasty hand-picked cases."""
import importlib.util
import math
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samatte import jobspec
from samatte.errors import JobSpecError, PromptError
from samatte.prompts import bezier_to_polygon, feather_mask, prepare_objects, prepare_prompt, rasterise_polygon
from samatte.stages import PlateInfo, Window
from samatte.track.seed import _rect, keyframe_soft

H, W = 30, 40
INFO = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
# overscan: 7 px left, 3 px above, 5 px right, 4 px below the display window; pixel aspect 2
OVERSCAN = PlateInfo(data=Window(-7, -3, W + 12, H + 7), display=Window(0, 0, W, H), pixel_aspect=2.0)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _job(prompt, frames="1-3"):
    return {"samatte_job": 1, "plate": {"path": "/x/p.####.exr", "frames": frames},
            "objects": [{"name": "a", "prompts": [prompt]}], "output": {"path": "/o/m.####.exr"}}


def _prep(prompt, info=INFO):
    """Validate ``prompt`` in a job, then prepare it on ``info``: the tracker prompt."""
    job = jobspec.validate(_job(prompt))
    (ob,) = prepare_objects(job["objects"], info, [1, 2, 3])
    return ob.prompts[prompt["frame"]][0]


def _poly(points, **kw):
    return jobspec.polygon_prompt(1, points, **kw)


def _centres_inside(poly, shape):
    """Reference: the pixels whose centre has a non-zero winding number (Dan Sunday's test), and the
    pixels whose centre is within 1e-9 px of an edge (where the tie rule decides)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    wn = np.zeros(shape, int)
    near = np.zeros(shape, bool)
    p = np.asarray(poly, float)
    for (x0, y0), (x1, y1) in zip(p, np.roll(p, -1, axis=0)):
        side = (x1 - x0) * (yy - y0) - (xx - x0) * (y1 - y0)
        wn += ((y0 <= yy) & (y1 > yy) & (side > 0)).astype(int)
        wn -= ((y1 <= yy) & (y0 > yy) & (side < 0)).astype(int)
        ln = math.hypot(x1 - x0, y1 - y0)
        if ln > 0:
            t = np.clip(((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) / ln ** 2, 0, 1)
            near |= np.hypot(xx - x0 - t * (x1 - x0), yy - y0 - t * (y1 - y0)) < 1e-9
    return wn != 0, near


# --- bug: a JSON integer too large for a float crashed validation (OverflowError) ------------------

BIG = 10 ** 400   # JSON text "1000...0" (400 zeros) parses to this int; 1e400 would be inf


@pytest.mark.parametrize("prompt, field", [
    ({"frame": 1, "type": "box", "box": [0, 0, BIG, 10]}, "objects[0].prompts[0].box[2]"),
    ({"frame": 1, "type": "points", "points": [[-BIG, 3]]}, "objects[0].prompts[0].points[0][0]"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [10, 0], [5, BIG]]}, "objects[0].prompts[0].points[2][1]"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [10, 0], [5, 9]], "feather": BIG},
     "objects[0].prompts[0].feather"),
    ({"frame": 1, "type": "mask", "path": "m.png", "threshold": -BIG}, "objects[0].prompts[0].threshold"),
])
def test_an_integer_too_large_for_a_float_is_a_coded_error(prompt, field):
    with pytest.raises(JobSpecError) as e:   # was OverflowError: "samatte: unexpected error (a bug...)"
        jobspec.validate(_job(prompt))
    assert e.value.details["field"] == field
    assert "finite number" in e.value.message


def test_the_cli_says_prompt_invalid_for_a_huge_integer(tmp_path, capsys):
    from samatte import cli
    job = tmp_path / "big.json"
    job.write_text('{"samatte_job": 1, "plate": {"path": "p.####.exr", "frames": "1-3"}, "objects": [{"name": '
                   '"a", "prompts": [{"frame": 1, "type": "box", "box": [0, 0, 1%s, 10]}]}], "output": {"path": '
                   '"o.####.exr"}}' % ("0" * 400))
    assert cli.main(["validate", str(job)]) == 2
    err = capsys.readouterr().err
    assert "PROMPT_INVALID" in err and "objects[0].prompts[0].box[2]" in err and "Traceback" not in err


# --- bug: coordinates past ~1e154 crashed the bezier flattening / stroke sampling (OverflowError) ----

@pytest.mark.parametrize("prompt, field", [
    (jobspec.bezier_prompt(1, [[5, 5, -1e200, 5, 1e200, 5], [30, 5, 30, 5, 30, 5], [20, 25, 20, 25, 20, 25]]),
     "objects[0].prompts[0].points[0][2]"),
    (jobspec.bezier_prompt(1, [[5, 5, 5, 5, 1e300, 5], [30, 9, 30, 9, 30, 9]], closed=False),
     "objects[0].prompts[0].points[0][4]"),
    (jobspec.polygon_prompt(1, [[-1e300, -1e300], [1e300, 1e300]], closed=False), "objects[0].prompts[0].points[0][0]"),
    (jobspec.polygon_prompt(1, [[-1.7e308, 0], [1.7e308, 0], [5, 20]]), "objects[0].prompts[0].points[0][0]"),
    (jobspec.points_prompt(1, [[5, 5], [1e13, 5]]), "objects[0].prompts[0].points[1][0]"),
    (jobspec.box_prompt(1, [-1e13, 0, 10, 10]), "objects[0].prompts[0].box[0]"),
])
def test_coordinates_beyond_the_limit_are_prompt_invalid(prompt, field):
    with pytest.raises(PromptError) as e:
        jobspec.validate(_job(prompt))
    assert e.value.details["field"] == field
    assert "beyond" in e.value.message


def test_huge_coordinates_within_the_limit_still_rasterise_exactly():
    # a square 1e12 px from the frame on every side covers it all; its inverse is refused, not empty
    big = jobspec.COORD_LIMIT
    sq = [[-big, -big], [big, -big], [big, big], [-big, big]]
    q = _prep(_poly(sq))
    assert q["mask_array"].all() and (q["soft_array"] == 1).all()
    with pytest.raises(PromptError, match="inverted polygon prompt leaves no pixel"):
        _prep(_poly(sq, invert=True))
    # a triangle with a far vertex: exactly the pixels whose centre is inside
    tri = [[3.3, 4.1], [big, 17.7], [2.9, 26.2]]
    inside, near = _centres_inside(tri, (H, W))
    m = _prep(_poly(tri))["mask_array"]
    assert np.array_equal(m[~near], inside[~near])


# --- bug: a feather too small for float32 (|f| < 1.4e-45) made the soft mask NaN ---------------------

@pytest.mark.parametrize("feather", [1e-46, -1e-46, 1e-320, -5e-324])
def test_a_tiny_feather_is_the_limit_of_small_ones(feather):
    tri = [[5, 5], [25, 6], [20, 24]]
    small = _prep(_poly(tri, feather=math.copysign(1e-3, feather)))   # a feather float32 can hold
    q = _prep(_poly(tri, feather=feather))
    assert np.isfinite(q["soft_array"]).all()      # was NaN over the whole shape (or all around it)
    assert np.array_equal(q["soft_array"] >= 0.5, q["mask_array"])
    np.testing.assert_array_equal(q["soft_array"], small["soft_array"])
    # and the tracker still sees the shape (an all-NaN soft gave an empty keyframe mask)
    assert np.array_equal(keyframe_soft([q], (H, W), box_mode="rect") >= 0.5, small["mask_array"])


# --- bug: a pixel with less than half its area (or its centre outside) was in the polygon, and a box,
#     the same rectangle as a polygon and as a bezier with zero handles took different pixels ---------

coord = st.one_of(st.integers(-16, 8 * 48).map(lambda k: k / 8.0),           # eighths: on the 4x4 samples
                  st.floats(-2, 48, allow_nan=False, allow_infinity=False))  # anything


@FAST
@given(coord, coord, coord, coord)
def test_box_polygon_and_bezier_of_one_rectangle_take_the_same_pixels(a, b, c, d):
    x0, x1, y0, y1 = min(a, b), max(a, b), min(c, d) * 0.75, max(c, d) * 0.75
    if x1 - x0 < 1 or y1 - y0 < 1 or x1 <= 0 or y1 <= 0 or x0 >= W or y0 >= H:
        return
    try:
        box = _prep(jobspec.box_prompt(1, [x0, y0, x1, y1]))
    except PromptError:          # less than a pixel left inside the canvas
        return
    rect = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    poly = _prep(_poly(rect))["mask_array"]
    bez = _prep(jobspec.bezier_prompt(1, [p + p + p for p in rect]))["mask_array"]
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    centres = (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    assert np.array_equal(poly, centres)
    assert np.array_equal(bez, poly)
    assert np.array_equal(_rect((H, W), box["box"]), poly)
    # the shape tracker's keyframe from the box and from the polygon agree too
    kb = keyframe_soft([box], (H, W), box_mode="rect") >= 0.5
    kp = keyframe_soft([_prep(_poly(rect))], (H, W), box_mode="rect") >= 0.5
    assert np.array_equal(kb, kp)


def test_a_pixel_less_than_half_covered_is_not_in_the_polygon():
    # bottom edge at y = 12.46: row 12 is 46 % covered, its centre (12.5) is outside
    q = _prep(_poly([[2.0, 7.6], [20.0, 7.6], [20.0, 12.46], [2.0, 12.46]]))
    m = q["mask_array"]
    assert not m[12].any() and m[11, 2:20].all() and m.sum() == 18 * 4
    assert np.array_equal(q["soft_array"] >= 0.5, m)
    # and the same rectangle as a box
    assert np.array_equal(_rect((H, W), _prep(jobspec.box_prompt(1, [2.0, 7.6, 20.0, 12.46]))["box"]), m)


polygons = st.lists(st.tuples(st.integers(-40, 8 * 46).map(lambda k: k / 8.0 + 0.013),
                              st.integers(-40, 8 * 34).map(lambda k: k / 8.0 - 0.007)), min_size=3, max_size=9)


@FAST
@given(polygons, st.integers(0, 8))
def test_a_polygon_takes_the_pixels_whose_centre_is_inside_whatever_its_order(pts, start):
    inside, near = _centres_inside(pts, (H, W))
    try:
        q = _prep(_poly(pts))
    except PromptError as e:    # zero area, outside, or no centre inside: then truly none inside
        assert e.code == "PROMPT_INVALID"
        assert not inside[~near].any()
        return
    m = q["mask_array"]
    assert np.array_equal(m[~near], inside[~near])
    assert np.array_equal(q["soft_array"] >= 0.5, m)
    assert ((q["soft_array"] >= 0) & (q["soft_array"] <= 1)).all()
    k = start % len(pts)
    for variant in (pts[::-1], pts[k:] + pts[:k], (pts[k:] + pts[:k])[::-1]):
        v = _prep(_poly(variant))
        assert np.array_equal(v["mask_array"], m)
        np.testing.assert_array_equal(v["soft_array"], q["soft_array"])
    # inverted: exactly the other pixels, and the soft mask agrees once inverted too
    if not m.all():
        inv = _prep(_poly(pts, invert=True))
        assert np.array_equal(inv["mask_array"], ~m)
        assert np.array_equal(inv["soft_array"] >= 0.5, ~m)


@FAST
@given(polygons)
def test_overscan_and_pixel_aspect_shift_the_pixels_and_change_nothing_else(pts):
    try:
        q = _prep(_poly(pts))
    except PromptError:
        return
    o = _prep(_poly(pts), OVERSCAN)
    # display (x, y) -> canvas (x + 7, y + 3); pixel aspect 2 does not scale x (README: stored pixels)
    # (exactly, but for a centre within 1e-9 px of an edge, or a sub-pixel sample flipped by the shift's
    # rounding: 1/16 of coverage)
    assert o["mask_array"].shape == (H + 7, W + 12)
    _, near = _centres_inside(pts, (H, W))
    assert np.array_equal(o["mask_array"][3:3 + H, 7:7 + W][~near], q["mask_array"][~near])
    # in the overscan too, the pixels whose centre is inside
    inside, near_o = _centres_inside([(x + 7, y + 3) for x, y in pts], (H + 7, W + 12))
    assert np.array_equal(o["mask_array"][~near_o], inside[~near_o])
    np.testing.assert_allclose(o["soft_array"][3:3 + H, 7:7 + W], q["soft_array"], atol=1 / 16 + 1e-6)


def test_a_prompt_entirely_in_the_overscan_is_kept_there():
    o = _prep(_poly([[-6.5, 2], [-1, 2], [-1, 10]]), OVERSCAN)
    assert o["mask_array"].any() and not o["mask_array"][:, 7:].any()
    with pytest.raises(PromptError, match="outside the canvas"):
        _prep(_poly([[-6.5, 2], [-1, 2], [-1, 10]]))    # no overscan: nowhere
    pts = _prep(jobspec.points_prompt(1, [[-3, -2]]), OVERSCAN)
    assert pts["points"] == [[4.0, 1.0]]


# --- checked fine: the nasty cases give a coded error or the right pixels --------------------------

@pytest.mark.parametrize("prompt, code, field", [
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [float("nan"), 0], [3, 3]]}, "PROMPT_INVALID", "points[1][0]"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [float("inf"), 0], [3, 3]]}, "PROMPT_INVALID", "points[1][0]"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], ["10", 0], [3, 3]]}, "PROMPT_INVALID", "points[1][0]"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [True, 0], [3, 3]]}, "PROMPT_INVALID", "points[1][0]"),
    ({"frame": 1, "type": "polygon", "points": [[[0, 0]], [[10, 0]], [[3, 3]]]}, "PROMPT_INVALID", "points[0]"),
    ({"frame": 1, "type": "polygon", "points": [0, 0, 10, 0, 3, 3]}, "PROMPT_INVALID", "points[0]"),
    ({"frame": 1, "type": "polygon", "points": []}, "PROMPT_INVALID", "points"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0]]}, "PROMPT_INVALID", "points"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [9, 9]]}, "PROMPT_INVALID", "points"),
    ({"frame": 1, "type": "polygon", "points": [[0, 5], [9, 5], [20, 5]]}, "PROMPT_INVALID", "points"),
    ({"frame": 1, "type": "polygon", "points": {"x": 1}}, "JOBSPEC_INVALID", "points"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [9, 0], [9, 9]], "feather": "2"}, "JOBSPEC_INVALID", "feather"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [9, 0], [9, 9]], "feather": True}, "JOBSPEC_INVALID", "feather"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [9, 0], [9, 9]], "invert": 1}, "JOBSPEC_INVALID", "invert"),
    ({"frame": 1, "type": "polygon", "points": [[0, 0], [9, 0]], "closed": False, "invert": True},
     "PROMPT_INVALID", "invert"),
    ({"frame": 1, "type": "bezier", "points": [[0, 0], [9, 0], [9, 9]]}, "PROMPT_INVALID", "points[0]"),
    ({"frame": 1, "type": "box", "box": [10, 0, 5, 10]}, "PROMPT_INVALID", "box"),
    ({"frame": 1, "type": "box", "box": [0, 0, 5, 5, 6]}, "PROMPT_INVALID", "box"),
    ({"frame": 1, "type": "box", "box": [[0, 0], [5, 5]]}, "PROMPT_INVALID", "box"),
    ({"frame": 1, "type": "points", "points": [[1, 1]], "labels": [True]}, "PROMPT_INVALID", "labels[0]"),
    ({"frame": 1.0, "type": "points", "points": [[1, 1]]}, "JOBSPEC_INVALID", "frame"),
    ({"frame": 7, "type": "points", "points": [[1, 1]]}, "PROMPT_INVALID", None),
])
def test_bad_prompts_are_coded_errors_with_the_field(prompt, code, field):
    with pytest.raises(JobSpecError) as e:
        jobspec.validate(_job(prompt))
    assert e.value.code == code
    assert e.value.details["field"] == "objects[0].prompts[0]" + ("." + field if field else "")


@pytest.mark.parametrize("prompt, match", [
    (_poly([[0, 0], [5, 5], [10, 10.0001]]), "covers no pixel"),                  # collinear-ish sliver
    (_poly([[W, 0], [W + 9, 0], [W + 9, 9]]), "entirely outside"),                # starts at x = width
    (_poly([[0, 0], [W, 0], [W, H], [0, H]], invert=True), "inverted polygon prompt leaves no pixel"),
    (jobspec.box_prompt(1, [W, 0, W + 5, 5]), "outside the canvas"),
    (jobspec.points_prompt(1, [[W, 3], [3, H], [-0.001, 3]]), "outside the canvas"),  # border = outside
])
def test_degenerate_geometry_is_prompt_invalid_before_tracking(prompt, match):
    with pytest.raises(PromptError, match=match) as e:
        _prep(prompt)
    assert e.value.details["field"] == "objects[0].prompts[0]"


def test_border_points_duplicates_and_bow_ties():
    # a point just inside the right border is kept, one on it dropped with its label
    q = _prep(jobspec.points_prompt(1, [[W - 1e-9, 3], [W, 4], [0.0, 0.0]], [1, 0, 1]))
    assert q["points"] == [[W - 1e-9, 3.0], [0.0, 0.0]] and q["labels"] == [1, 1]
    # duplicate consecutive points change nothing
    tri = [[3, 3], [30, 5], [12, 27]]
    dup = [[3, 3], [3, 3], [30, 5], [30, 5], [30, 5], [12, 27], [3, 3]]
    a, b = _prep(_poly(tri)), _prep(_poly(dup))
    assert np.array_equal(a["mask_array"], b["mask_array"])
    np.testing.assert_array_equal(a["soft_array"], b["soft_array"])
    # a bow-tie fills both lobes (non-zero winding): 200 px, the centres inside it
    bow = [[0, 0], [20, 20], [20, 0], [0, 20]]
    m = _prep(_poly(bow))["mask_array"]
    inside, near = _centres_inside(bow, (H, W))
    assert m.sum() == 200 and np.array_equal(m[~near], inside[~near])


def test_a_ten_thousand_point_polygon_and_far_bezier_handles():
    import time
    t = np.linspace(0, 2 * np.pi, 10000, endpoint=False)
    circle = np.stack([20 + 11 * np.cos(t), 15 + 11 * np.sin(t)], 1).tolist()
    t0 = time.perf_counter()
    q = _prep(_poly(circle))
    assert time.perf_counter() - t0 < 15.0   # (0.1-2 s here; a bound for a loaded CI machine)
    assert abs(int(q["mask_array"].sum()) - math.pi * 121) < 12
    # handles a million pixels off: no crash, the curve's flattening stays bounded
    far = jobspec.bezier_prompt(1, [[5, 5, -1e6, 5, 1e6, 5], [35, 5, 35, 5, 35, 5], [20, 25, 20, 25, 20, 25]])
    poly = bezier_to_polygon(_prep(far)["points"])
    assert len(poly) <= 3 * 4096 and np.isfinite(poly).all()


@pytest.mark.parametrize("feather", [0, 0.0, 3, -3, 1e9, -1e9])
def test_feather_keeps_the_soft_mask_in_range(feather):
    q = _prep(_poly([[5, 5], [30, 6], [22, 25]], feather=feather))
    s = q["soft_array"]
    assert s.dtype == np.float32 and np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1
    if feather > 0:   # outward: the whole shape stays in, the falloff lies outside
        assert (s[q["mask_array"]] >= 0.5).all()
    if feather >= 1e9:
        assert (s > 0.99).all()
    assert np.array_equal(feather_mask(s, 0), s)


# --- the hosts' converters (plain functions) --------------------------------------------------------

def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bconv = _load("qa48_blender_convert", os.path.join(ROOT, "blender_addon", "convert.py"))
sys.path.insert(0, os.path.join(ROOT, "tests", "nuke"))
import nuke_env  # noqa: E402,F401
from samatte_nuke.convert import Geometry  # noqa: E402

finite = st.floats(-5000, 5000, allow_nan=False, allow_infinity=False)


@FAST
@given(finite, finite, st.sampled_from([(1920, 1080), (1080, 1920), (1024, 1024), (2048, 858)]),
       st.sampled_from([1.0, 2.0, 0.5]), st.tuples(st.integers(-64, 0), st.integers(-64, 0)))
def test_host_converters_round_trip(x, y, size, aspect, origin):
    mx, my = bconv.px_to_mask((x, y), size, origin, aspect)
    X, Y = bconv.mask_to_px((mx, my), size, origin, aspect)
    assert abs(X - x) < 1e-6 and abs(Y - y) < 1e-6
    X, Y = bconv.marker_to_px(bconv.px_to_marker((x, y), size, origin), size, origin)
    assert abs(X - x) < 1e-6 and abs(Y - y) < 1e-6
    g = Geometry(size[0], size[1], aspect)
    jx, jy = g.to_job(x, y)
    assert jx == x                                  # pixel aspect never scales x
    assert g.to_nuke(jx, jy) == pytest.approx((x, y), abs=1e-9)
    # Nuke's pixel centre (i + 0.5, j + 0.5) is samatte's centre of row H - 1 - j
    i, j = int(abs(x)) % size[0], int(abs(y)) % size[1]
    assert g.to_job(i + 0.5, j + 0.5) == (i + 0.5, size[1] - 1 - j + 0.5)


def test_prepare_prompt_alone_names_its_field():
    with pytest.raises(PromptError) as e:
        prepare_prompt({"frame": 1, "type": "polygon", "points": [[50, 50], [60, 50], [60, 60]], "closed": True},
                       INFO, where="objects[3].prompts[2]")
    assert e.value.details["field"] == "objects[3].prompts[2]"


def test_rasterise_polygon_centre_samples_follow_the_top_left_rule():
    # a square with its edges through pixel centres: the centres on the left / top edges are in,
    # those on the right / bottom edges out (adjacent shapes never share a pixel)
    m = rasterise_polygon([[2.5, 3.5], [6.5, 3.5], [6.5, 8.5], [2.5, 8.5]], (12, 10), aa=1) > 0
    expect = np.zeros((12, 10), bool)
    expect[3:8, 2:6] = True
    assert np.array_equal(m, expect)
    left = rasterise_polygon([[0, 0], [4.5, 0], [4.5, 5], [0, 5]], (12, 10), aa=1) > 0
    right = rasterise_polygon([[4.5, 0], [9, 0], [9, 5], [4.5, 5]], (12, 10), aa=1) > 0
    assert not (left & right).any() and (left | right)[:5, :9].all()
