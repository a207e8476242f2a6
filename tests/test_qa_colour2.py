"""The colour round trip a compositor relies on (QA): what samatte writes for plates in log, video and
integer encodings and studio OCIO configs. Tiny synthetic plates (24x32, one frame) made here."""
import numpy as np

from samatte.io.exr import write_image

H, W = 24, 32


def _scene():
    """A soft disk (alpha ramp 3 px wide) of orange light over a dim background, scene-linear ACEScg."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    a = np.clip((8 - np.hypot(x - 16, y - 12)) / 3.0, 0, 1).astype(np.float32)
    F = np.empty((H, W, 3), np.float32)
    F[:] = [4.0, 0.5, 0.05]
    B = np.empty((H, W, 3), np.float32)
    B[:] = [0.1, 0.2, 0.02]
    return a[..., None] * F + (1 - a[..., None]) * B, a


def _acescct(lin):
    """ACEScct code values of linear values >= 0.0078125 (its log segment)."""
    return ((np.log2(lin) + 9.72) / 17.52).astype(np.float32)


def _job(tmp_path, plate, *, ext="exr", pixel_type="float", colourspace=None, ocio=None):
    from samatte import api
    write_image(str(tmp_path / ("plate.1001." + ext)), plate, channels=["R", "G", "B"], pixel_type=pixel_type)
    write_image(str(tmp_path / "mask.png"), (_scene()[1] > 0.5).astype(np.float32), channels=["Y"],
                pixel_type="uint8")
    job = api.job(str(tmp_path / ("plate.####." + ext)), str(tmp_path / "out" / "m.####.exr"),
                  masks={"hero": str(tmp_path / "mask.png")}, matte="refine", quality="draft")
    job["plate"]["colourspace"] = colourspace
    job["plate"]["ocio_config"] = ocio
    return job


def _read(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    px = inp.read_image(0, 0, 0, spec.nchannels, "float")
    inp.close()
    return list(spec.channelnames), px


def test_log_plate_decoding_past_float_range_is_65504_not_inf(tmp_path):
    """A float ACEScct plate holding +inf (made 65504 on reading, as the README says) or any code
    value past ~7.9 decodes to inf in scene-linear: the foreground solve turned its whole edge band to
    NaN, written as 0 (104 of the 193 pixels with alpha > 0.01 had a black foreground, against none
    without that pixel) and the quality map was 0 everywhere (all "confident"). The decoded +inf now
    becomes 65504, as a linear plate's +inf does: 25 black (the bright pixel's own un-mixing) and a
    quality map up to 0.27."""
    from samatte import api
    from samatte.colour import ColourTransform
    from samatte.io.source import FrameSource
    lin, _a = _scene()
    code = _acescct(lin)
    code[12, 9] = 8.0          # at the disk's soft edge: 2^130 in linear, past float32
    code[0, 0] = np.inf        # in the background: the fix of the file's +inf is 65504, a code value
    job = _job(tmp_path, code, colourspace="ACEScct")
    with FrameSource(job["plate"]["path"], [1001], colour=ColourTransform(colourspace="ACEScct")) as src:
        plate = src.get(1001)
    assert np.isfinite(plate.linear).all(), plate.linear[12, 9]
    assert (plate.linear[12, 9] == 65504.0).all() and (plate.linear[0, 0] == 65504.0).all()
    np.testing.assert_allclose(plate.linear[5, 16], lin[5, 16], rtol=2e-4)   # the rest decodes as before
    api.run(job)
    ch, px = _read(tmp_path / "out" / "m.1001.exr")
    fg, A, q = px[..., :3], px[..., ch.index("A")], px[..., ch.index("quality.Y")]
    soft = A > 0.01
    black = (fg == 0).all(-1) & soft
    assert black.sum() < 0.3 * soft.sum(), (black.sum(), soft.sum())
    assert q.max() > 0.05, q.max()
    assert np.isfinite(px).all()

