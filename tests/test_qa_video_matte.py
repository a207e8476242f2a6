"""The matte on video as a compositor sees it (QA): tiny synthetic scene-linear EXR clips with exact
alpha (linear-light composites ``I = a F + (1 - a) B``) and per-frame masks, through ``samatte
refine`` / a refine-only JobSpec. What an artist would see: no ghost where a mask is empty, no
smeared blob on a frame without a picture."""
import os

import cv2
import numpy as np
import pytest

from qa_cli import read_exr, run_cli
from samatte import jobspec, pipeline

H, W = 48, 72
FG = np.array([0.85, 0.35, 0.12], np.float32)


def _background(seed=0):
    rng = np.random.default_rng(seed)
    g = rng.random((8, 10, 3)).astype(np.float32)
    return np.clip(0.05 + 0.35 * cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC), 0, 1)


def _disk(cx, cy, r, soft=3.0, ss=4):
    yy, xx = np.mgrid[0:H * ss, 0:W * ss].astype(np.float32)
    d = np.hypot((xx + 0.5) / ss - cx, (yy + 0.5) / ss - cy)
    a = np.clip((r - d) / soft + 0.5, 0, 1)
    return cv2.resize(a, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32)


def _write(folder, plates, masks):
    from samatte.io.exr import write_image
    os.makedirs(str(folder), exist_ok=True)
    for f, (p, m) in enumerate(zip(plates, masks), 1):
        write_image(str(folder / ("p.%04d.exr" % f)), p, channels=["R", "G", "B"], pixel_type="half")
        write_image(str(folder / ("m.%04d.png" % f)), m.astype(np.float32), channels=["Y"], pixel_type="uint8")
    return folder / "p.####.exr", folder / "m.####.png"


def _alphas(out, n):
    res = []
    for f in range(1, n + 1):
        names, px, _ = read_exr(str(out).replace("####", "%04d" % f))
        res.append(px[:, :, names.index("A")])
    return res


def _semi_clip(n=6, empty=(3,)):
    """A semi-transparent disk (alpha 0.4, soft edge) drifting over a still textured background; its
    masks (true alpha > 0.2) empty on the frames ``empty`` (0-based) though it is still there."""
    bg = _background()
    plates, masks = [], []
    for i in range(n):
        a = 0.4 * _disk(30 + 2 * i, 24, 14)
        plates.append(a[..., None] * FG + (1 - a[..., None]) * bg)
        masks.append(np.zeros((H, W), bool) if i in empty else a > 0.2)
    return plates, masks


def test_a_mask_empty_mid_shot_gives_alpha_zero_through_refine(tmp_path, capsys):
    """A roto that is off for a frame (the object is still in the picture, the still background lets
    the temporal fusion trust the previous frame) must give alpha 0 there: the fusion carried the
    previous frame's faint alpha (<= 0.02, its "core" agreement tolerance) into that frame, a ghost of
    up to 0.016 over the object's old place. The frame after is matted as before."""
    plates, masks = _semi_clip()
    plate, mpat = _write(tmp_path / "clip", plates, masks)
    out = tmp_path / "out" / "o.####.exr"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", mpat, "--out", out, "--matte", "refine"], capsys)
    assert rc == 0, err
    al = _alphas(out, len(plates))
    assert float(al[3].max()) == 0.0
    for a in al:
        assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0
    assert float(al[4].max()) > 0.3       # the object is matted again on the frame after


@pytest.mark.parametrize("options", [{"prior": 0.0}, {"prior": 0.0, "blend": 0.99}])
def test_no_ghost_on_an_empty_mask_frame_at_the_options_extremes(tmp_path, options):
    """With the prior off (``prior`` 0, documented) the fusion's boundary blend (``blend``) carried
    the previous alpha onto a frame whose mask is empty: 0.14 of a 0.4 object (0.28 at ``blend``
    0.99), a ghost plainly visible in a comp."""
    plates, masks = _semi_clip()
    plate, mpat = _write(tmp_path / "clip", plates, masks)
    out = tmp_path / "out" / "o.####.exr"
    job = jobspec.new_job(str(plate), str(out), tracker="auto", matte="refine", name="qa")
    jobspec.add_object(job, "obj", masks={"path": str(mpat)})
    job["matte"]["options"].update(options)
    pipeline.run(job)
    al = _alphas(out, len(plates))
    assert float(al[3].max()) == 0.0
    assert float(al[4].max()) > 0.3


def test_a_frame_of_nan_pixels_is_reported_and_matted_as_a_frame_without_a_picture(tmp_path, capsys, caplog):
    """A frame whose pixels are all NaN (a failed render) is fixed to black with a warning naming it
    (``plate.on_nonfinite`` "fix"). Black, the picture says nothing about alpha, and the matte must
    stay with the mask: the evidence check read the residual 0 over the local contrast 0 as a
    perfect fit and kept the closed-form solve's diffusion, a blob spread over the band (here mean
    |alpha - mask| 0.072; 0.036 now: the mask-anchored ramp the check pulls to where the picture
    gives no evidence, what a grainy black frame got already)."""
    bg = _background()
    plates, masks = [], []
    for i in range(5):
        a = _disk(28 + 3 * i, 24, 13)
        plates.append(a[..., None] * FG + (1 - a[..., None]) * bg)
        masks.append(a > 0.5)
    plates[2] = np.full_like(plates[2], np.nan)
    plate, mpat = _write(tmp_path / "clip", plates, masks)
    out = tmp_path / "out" / "o.####.exr"
    with caplog.at_level("WARNING"):
        rc, err = run_cli(["refine", "--plate", plate, "--masks", mpat, "--out", out, "--matte", "refine"], capsys)
    assert rc == 0, err
    assert any("frame 3" in r.getMessage() and "non-finite" in r.getMessage() for r in caplog.records)
    al = _alphas(out, 5)
    for a in al:
        assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0
    m = masks[2].astype(np.float32)
    assert float(np.mean(np.abs(al[2] - m))) < 0.05
    assert float(al[2][cv2.erode(masks[2].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0].min()) > 0.5


def test_a_mask_frame_of_nan_values_is_reported(tmp_path, capsys, caplog):
    """A float EXR mask whose render failed (all NaN on one frame) is read as coverage 0 there (an
    empty matte on that frame, as documented), but it was silent, while the same NaNs in a plate
    are reported: now a warning names the mask file and the count."""
    from samatte.io.exr import write_image
    bg = _background()
    plates, masks = [], []
    for i in range(3):
        a = _disk(28 + 3 * i, 24, 13)
        plates.append(a[..., None] * FG + (1 - a[..., None]) * bg)
        masks.append(a > 0.5)
    plate, _ = _write(tmp_path / "clip", plates, masks)
    for f, m in enumerate(masks, 1):
        v = np.full((H, W), np.nan, np.float32) if f == 2 else m.astype(np.float32)
        write_image(str(tmp_path / "clip" / ("m.%04d.exr" % f)), v, channels=["A"], pixel_type="float")
    out = tmp_path / "out" / "o.####.exr"
    with caplog.at_level("WARNING"):
        rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "clip" / "m.####.exr", "--out", out,
                           "--matte", "refine"], capsys)
    assert rc == 0, err
    msgs = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("m.0002.exr" in s and "%d non-finite" % (H * W) in s for s in msgs), msgs
    assert not any("m.0001.exr" in s or "m.0003.exr" in s for s in msgs), msgs
    al = _alphas(out, 3)
    assert float(al[1].max()) == 0.0 and float(al[2].max()) > 0.9
