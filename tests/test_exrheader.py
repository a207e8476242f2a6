"""samatte.exrheader: the standard-library EXR header reader the host adapters share."""
import numpy as np
import OpenImageIO as oiio
import pytest

from samatte import exrheader


def _write(path, *, display=(0, 0, 64, 36), data=(-4, -4, 72, 44), aspect=2.0, meta=None):
    spec = oiio.ImageSpec(data[2], data[3], 1, oiio.HALF)
    spec.channelnames = ("A",)
    spec.x, spec.y = data[0], data[1]
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    spec.attribute("PixelAspectRatio", aspect)
    for k, v in (meta or {}).items():
        spec.attribute(k, v)
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.zeros((data[3], data[2], 1), np.float32))
    out.close()


def test_windows_and_strings_match_openimageio(tmp_path):
    p = tmp_path / "f.0001.exr"
    _write(p, meta={"samatte/key": "abc123", "samatte/job": "sh010"})
    w = exrheader.windows(str(p))
    assert w["display_window"] == (0, 0, 64, 36) and w["data_window"] == (-4, -4, 72, 44)
    assert w["pixel_aspect"] == pytest.approx(2.0)
    s = exrheader.string_attributes(str(p))
    spec = oiio.ImageInput.open(str(p)).spec()
    assert s["samatte/key"] == spec.getattribute("samatte/key") == "abc123"
    assert s["samatte/job"] == "sh010"


def test_not_an_exr(tmp_path):
    p = tmp_path / "x.exr"
    p.write_bytes(b"not an exr at all")
    assert exrheader.windows(str(p)) is None
    assert exrheader.windows(str(tmp_path / "missing.exr")) is None
    with pytest.raises(ValueError):
        exrheader.string_attributes(str(p))
