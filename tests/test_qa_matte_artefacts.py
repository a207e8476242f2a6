"""QA of mattes as a compositor sees them, on synthetic scene-linear plates whose true alpha is known
exactly (composited here from a known alpha, foreground and background), through the product path
(``samatte.api.run`` of a refine-only job, as a host runs it)."""

import numpy as np
import pytest

from samatte.matte import stage as S

H, W = 120, 200


def _write_exr(path, img):
    import OpenImageIO as oiio
    spec = oiio.ImageSpec(img.shape[1], img.shape[0], img.shape[2], "half")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(np.asarray(img, np.float32)), oiio.geterror()
    out.close()


def _read_channels(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(path))
    px = inp.read_image("float")
    names = list(inp.spec().channelnames)
    inp.close()
    return {n: px[..., i] for i, n in enumerate(names)}


def _background(h, w, seed=1):
    import cv2
    rng = np.random.default_rng(seed)
    small = rng.random((4, 6, 3)).astype(np.float32)
    return (0.05 + 0.3 * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)).clip(0.01, None)


def _two_abutting_objects(soft):
    """A red object on the left and a blue one on the right that touch along x = 100 through a soft
    transition ``soft`` px wide (defocus, motion blur: each covers part of the seam's pixels, the two
    together all of them), over a background; their true alphas."""
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    inside_y = np.clip(np.minimum(yy - 25, 95 - yy) / 1.5 + 0.5, 0, 1)
    seam = np.clip((100 - xx) / soft + 0.5, 0, 1)
    left = (np.clip((xx - 40) / 1.5 + 0.5, 0, 1) * seam * inside_y).astype(np.float32)
    right = (np.clip((160 - xx) / 1.5 + 0.5, 0, 1) * (1 - seam) * inside_y).astype(np.float32)
    return left, right


def test_two_objects_that_touch_leave_no_dark_line_in_the_merged_matte(tmp_path):
    """Two objects, each with its own roto (the masks meet, they do not overlap), touching through a
    soft seam: every seam pixel is covered, by one object or the other, and the merged ``A`` is 1 there.
    Each object's own alpha was right (the part of the pixel it covers), but the merge, the union
    ``1 - (1 - a)(1 - b)``, treated the two parts as independent and gave 0.78 where the true matte is 1:
    a dark line along the contact (0.75 where each covers half), which also let the background's colour
    into the premultiplied foreground there."""
    import cv2
    from samatte import api
    left, right = _two_abutting_objects(3.0)
    truth = left + right
    F_left, F_right = np.float32([0.8, 0.1, 0.05]), np.float32([0.05, 0.2, 0.8])
    plate = (left[..., None] * F_left + right[..., None] * F_right
             + (1 - truth)[..., None] * _background(H, W)).astype(np.float32)
    _write_exr(tmp_path / "p.1001.exr", plate)
    cv2.imwrite(str(tmp_path / "l.1001.png"), ((left > 0.5) * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "r.1001.png"), ((right > 0.5) * 255).astype(np.uint8))
    job = api.job(str(tmp_path / "p.####.exr"), str(tmp_path / "o" / "o.####.exr"),
                  masks={"left": str(tmp_path / "l.####.png"), "right": str(tmp_path / "r.####.png")})
    api.run(job)
    ch = _read_channels(tmp_path / "o" / "o.1001.exr")
    seam = (slice(35, 85), slice(96, 105))       # the seam, away from the objects' outer edges
    assert truth[seam].min() > 0.999
    assert ch["left.A"][seam].max() > 0.5 and ch["right.A"][seam].max() > 0.5   # both share the seam
    assert ch["A"][seam].min() > 0.95, ch["A"][seam].min()
    assert np.abs(ch["A"] - truth).max() < 0.1
    rgb = np.stack([ch["R"], ch["G"], ch["B"]], -1)
    assert np.abs(rgb[seam] - plate[seam]).max() < 0.03    # solid there: the premultiplied colour is the plate's


def test_the_merge_adds_where_masks_meet_and_stays_the_union_where_one_is_drawn_through_another():
    """merge_alphas: objects whose masks do not overlap add (a seam pixel half of each is whole); where
    one object's mask is drawn through another's (they overlap over an area, not a sliver), the union
    as before; never below the union; without masks, the union."""
    a = np.zeros((H, W), np.float32)
    b = np.zeros((H, W), np.float32)
    a[:, :100], b[:, 101:] = 1.0, 1.0
    a[:, 100] = b[:, 100] = 0.5
    ma, mb = a >= 0.5, b > 0.5
    m = S.merge_alphas([a, b], (H, W), [ma, mb])
    assert m[:, 100].min() == pytest.approx(1.0)
    assert np.array_equal(S.merge_alphas([a, b], (H, W)), 1 - (1 - a) * (1 - b))    # no masks: the union
    mb_wide = mb.copy()
    mb_wide[:, 60:] = True                         # b's mask drawn through a, 40 px deep
    m2 = S.merge_alphas([a, b], (H, W), [ma, mb_wide])
    union = 1 - (1 - a) * (1 - b)
    assert np.allclose(m2[:, 100], union[:, 100])
    assert (m2 >= union - 1e-6).all() and (m >= union - 1e-6).all()
    assert np.abs(S.merge_alphas([a, b], (H, W), [ma, mb]) - np.minimum(1, a + b)).max() < 1e-6
    sliver = mb.copy()
    sliver[:, 99:101] = True                       # masks that overlap by a pixel or two still add
    assert S.merge_alphas([a, b], (H, W), [ma, sliver])[:, 100].min() == pytest.approx(1.0)
