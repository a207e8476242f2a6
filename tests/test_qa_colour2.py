"""The colour round trip a compositor relies on (QA): what samatte writes for plates in log, video and
integer encodings and studio OCIO configs. Tiny synthetic plates (24x32, one frame) made here."""
import numpy as np
import pytest

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


_LINLOG = """ocio_profile_version: 2

roles:
  default: lin
%s
displays:
  sRGB:
    - !<View> {name: Standard, colorspace: srgb_display}

colorspaces:
  - !<ColorSpace>
    name: lin
    encoding: scene-linear
  - !<ColorSpace>
    name: log
    encoding: log
    to_scene_reference: !<LogAffineTransform> {base: 2, log_side_slope: 0.05, log_side_offset: 0.5, lin_side_offset: 0.01, direction: inverse}
  - !<ColorSpace>
    name: srgb_display
    encoding: sdr-video
    from_scene_reference: !<ExponentWithLinearTransform> {gamma: 2.4, offset: 0.055, direction: inverse}
"""


def test_log_colourspace_in_a_config_without_scene_linear_is_colour_invalid(tmp_path):
    """A studio config with only 'lin' and 'log' spaces and no scene_linear role: a float plate named
    'log' kept its log code values as the "scene-linear" pixels, silently: the written foreground of
    a solid pixel of light (4, 0.5, 0.05) was its code values (0.600, 0.451, 0.297). Now that job is
    COLOUR_INVALID before any frame, naming the missing role; 'lin' plates in that config still run,
    and with a scene_linear role the 'log' plate is decoded (foreground = the light, to half)."""
    import PyOpenColorIO as ocio
    from samatte import api
    from samatte.colour import ColourTransform
    from samatte.errors import ColourError
    bare = tmp_path / "bare.ocio"
    bare.write_text(_LINLOG % "")
    full = tmp_path / "full.ocio"
    full.write_text(_LINLOG % "  scene_linear: lin\n")
    assert ColourTransform(str(bare), "lin").describe()["colourspace"] == "lin"
    with pytest.raises(ColourError) as e:
        ColourTransform(str(bare), "log")
    assert e.value.code == "COLOUR_INVALID" and "scene_linear" in str(e.value)
    lin, _a = _scene()
    code = lin.copy()
    cfg = ocio.Config.CreateFromFile(str(full))
    cfg.getProcessor("lin", "log").getDefaultCPUProcessor().apply(ocio.PackedImageDesc(code, W, H, 3))
    job = _job(tmp_path, code, colourspace="log", ocio=str(bare))
    with pytest.raises(ColourError):
        api.run(job)
    assert not (tmp_path / "out" / "m.1001.exr").exists()
    job["plate"]["ocio_config"] = str(full)
    api.run(job)
    ch, px = _read(tmp_path / "out" / "m.1001.exr")
    solid = px[..., ch.index("A")] >= 1.0
    assert solid.sum() > 50
    np.testing.assert_allclose(px[..., :3][solid], lin[solid], rtol=2e-3)


def _sheet_plate_pixel(report):
    """The plate thumbnail of the contact sheet's first row (its layout: label column 110 px, padding 6,
    header 22), as floats in [0, 1]."""
    from PIL import Image
    with Image.open(report["contact_sheet"]) as im:
        return np.asarray(im.convert("RGB"), np.float32)[22 + 6 + 5, 110 + 6 + 10] / 255.0


@pytest.mark.parametrize("colourspace", [None, "ACEScct"])
def test_qc_contact_sheet_shows_an_integer_plate_as_the_job_reads_it(tmp_path, colourspace):
    """QC's contact sheet showed an integer plate as the config's view of its sRGB-decoded values:
    a 16-bit plate named ACEScct (a log DPX) whose display is (0.70, 0.30, 0.13) came out (0.13, 0.04, 0)
    -- the sRGB EOTF of log code values viewed as log again; an unnamed 8-bit sRGB PNG (0.80, 0.30, 0.10)
    as the view of its linear Rec.709 taken for ACEScg: (0.99, 0.07, 0). It now shows the display image
    the job's models see."""
    from samatte import api
    from samatte.colour import ColourTransform
    flat = np.empty((H, W, 3), np.float32)
    if colourspace:
        flat[:] = _acescct(np.array([0.3, 0.1, 0.03], np.float32))
        want = ColourTransform(colourspace=colourspace).to_display(np.round(flat * 65535) / 65535)[0, 0]
    else:
        flat[:] = [0.8, 0.3, 0.1]
        want = np.round(flat[0, 0] * 255) / 255
    job = _job(tmp_path, flat, ext="png", pixel_type="uint16" if colourspace else "uint8", colourspace=colourspace)
    api.run(job)
    report = api.qc(job, report_dir=str(tmp_path / "qc"))
    got = _sheet_plate_pixel(report)
    np.testing.assert_allclose(got, want, atol=2.5 / 255)
