"""Plates that are not half/float EXR, as compositors have them (QA): DPX, TIFF, PNG, JPEG, greyscale,
odd channel sets; what probe reports and how a run reads and records them. Tiny synthetic images."""
import numpy as np

from samatte.io.exr import write_image


def _grey(h=6, w=8, v=0.5):
    return np.full((h, w, 3), v, np.float32)


def test_probe_reports_the_header_colourspace_not_oiios_exr_guess(tmp_path):
    """``samatte probe`` said ``colourspace: "lin_rec709"`` for every EXR: OpenImageIO puts that guess in
    ``oiio:ColorSpace`` whatever the header says, and probe read it before the header's own
    attributes, so an ACEScg plate (``colorSpace: ACEScg``) or a Blender 5 render (``colorInteropID``)
    was reported as Rec.709-linear, and an EXR that names none as if its header named one. Now the
    header's attribute, None for an EXR without one; a PNG's sRGB (from the file) is still reported."""
    from samatte.pipeline import probe
    cases = {"none": ({}, None), "cs": ({"colorSpace": "ACEScg"}, "ACEScg"),
             "interop": ({"colorInteropID": "lin_ap1_scene"}, "lin_ap1_scene")}
    for name, (meta, want) in cases.items():
        write_image(str(tmp_path / ("%s.1001.exr" % name)), _grey(), metadata=meta)
        got = probe(str(tmp_path / ("%s.####.exr" % name)))["colourspace"]
        assert got == want, (name, got)
    write_image(str(tmp_path / "p.1001.png"), _grey(), pixel_type="uint8")
    assert probe(str(tmp_path / "p.####.png"))["colourspace"] == "sRGB"


def _write_dpx(path, pixels, transfer):
    import OpenImageIO as oiio
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, "uint16")
    spec.attribute("oiio:BitsPerSample", 10)
    spec.attribute("dpx:Transfer", transfer)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()


def _disc_job(tmp_path, plate, colourspace=None, ocio=None):
    from samatte import jobspec
    h, w = 12, 16
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((xx - 8) ** 2 + (yy - 6) ** 2 < 16).astype(np.float32)
    write_image(str(tmp_path / "m.1001.png"), mask, channels=["Y"], pixel_type="uint8")
    out = tmp_path / ("out_%s_%s" % (plate.name.split(".")[0], colourspace or "default"))
    job = jobspec.new_job(str(plate), str(out / "o.####.exr"), frames="1001",
                          colourspace=colourspace, ocio_config=ocio, matte="none")
    jobspec.add_object(job, "disc", masks=str(tmp_path / "m.####.png"))
    return jobspec.validate(job)


def test_log_dpx_read_as_srgb_says_so(tmp_path, caplog):
    """A 10-bit film-scan DPX (header transfer: printing density) with no colourspace named was read
    as sRGB without a word (Nuke reads it as Cineon), and the result's only colour record said
    ``colourspace: ACEScg`` (the config's scene_linear, which the plate was not read in). Now the run
    warns, naming the file and the fix (name its colourspace), and the result's ``plate`` says what
    the stored values were read as: ``sRGB`` here, the named colourspace when there is one, the
    config's scene_linear for a float plate."""
    import logging

    from samatte.pipeline import run
    code = np.full((12, 16, 3), 0.45, np.float32)
    _write_dpx(tmp_path / "scan.1001.dpx", code, "Printing density")
    with caplog.at_level(logging.WARNING, logger="samatte"):
        res = run(_disc_job(tmp_path, tmp_path / "scan.####.dpx"))
    assert res["plate"]["colourspace"] == "sRGB" and res["plate"]["pixel_type"] == "uint16", res["plate"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("scan.1001.dpx" in m and "printing density" in m and "colourspace" in m for m in warned), warned

    # named: decoded from it, no warning; a linear-transfer DPX (OIIO: "Linear") and a PNG: no warning
    caplog.clear()
    _write_dpx(tmp_path / "lin.1001.dpx", code, "Linear")
    write_image(str(tmp_path / "p.1001.png"), code, pixel_type="uint8")
    write_image(str(tmp_path / "f.1001.exr"), code, pixel_type="half")
    with caplog.at_level(logging.WARNING, logger="samatte"):
        named = run(_disc_job(tmp_path, tmp_path / "scan.####.dpx", colourspace="ADX10",
                              ocio="ocio://studio-config-latest"))
        lin = run(_disc_job(tmp_path, tmp_path / "lin.####.dpx"))
        png = run(_disc_job(tmp_path, tmp_path / "p.####.png"))
        exr = run(_disc_job(tmp_path, tmp_path / "f.####.exr"))
    assert named["plate"]["colourspace"] == "ADX10"
    assert lin["plate"]["colourspace"] == "ACEScg"   # the header says linear: code values as scene-linear
    assert png["plate"]["colourspace"] == "sRGB" and exr["plate"]["colourspace"] == "ACEScg"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records


def test_cmyk_exr_is_refused_not_read_as_its_yellow_ink(tmp_path):
    """An EXR with channels C, M, Y, K was read as a greyscale plate of its ``Y`` channel (the rule for
    luminance images ``Y`` / ``Y, A``): the yellow ink became the picture, without a word. Now it is
    CHANNELS_INVALID, before any frame is written, naming the file and saying to convert it to RGB;
    a greyscale ``Y, A`` EXR still reads as grey."""
    import pytest

    from samatte.errors import ChannelError
    from samatte.io.exr import read_rgb
    from samatte.pipeline import run
    ink = np.random.default_rng(1).random((12, 16, 4)).astype(np.float32)
    write_image(str(tmp_path / "cmyk.1001.exr"), ink, channels=["C", "M", "Y", "K"])
    with pytest.raises(ChannelError) as e:
        run(_disc_job(tmp_path, tmp_path / "cmyk.####.exr"))
    assert e.value.code == "CHANNELS_INVALID" and "cmyk.1001.exr" in e.value.message
    assert "CMYK" in e.value.message and "RGB" in e.value.message, e.value.message
    assert not (tmp_path / "out_cmyk_default").exists() or not list((tmp_path / "out_cmyk_default").glob("*.exr"))
    write_image(str(tmp_path / "ya.exr"), ink[..., :2], channels=["Y", "A"])
    got = read_rgb(str(tmp_path / "ya.exr"))
    np.testing.assert_allclose(got, np.repeat(ink[..., :1], 3, axis=2), atol=1e-3)
