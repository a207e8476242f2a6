"""QA: prompts in JobSpecs and their rasterisation (jobspec validation, prompts.prepare_prompt, the box
rectangle of the trackers), with property-based tests and nasty hand-picked cases."""
import math

import numpy as np
import pytest

from samatte import jobspec
from samatte.errors import JobSpecError, PromptError
from samatte.prompts import prepare_objects
from samatte.track.seed import keyframe_soft
from samatte.stages import PlateInfo, Window

H, W = 30, 40
INFO = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))


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
