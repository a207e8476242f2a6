"""Mask reading: formats, channel choice, placement on the canvas, sizes, sequences."""
import numpy as np
import pytest

from samatte.errors import ChannelError, MissingFrameError, PlateError
from samatte.io import exr
from samatte.io.masks import MaskSequence, read_mask
from samatte.stages import PlateInfo, Window

# overscan plate: canvas 20x16 starting at (-4, -3); display 12x10 at (0, 0)
INFO = PlateInfo(data=Window(-4, -3, 20, 16), display=Window(0, 0, 12, 10))


def _pattern(h, w, seed=0):
    m = np.zeros((h, w), np.float32)
    m[h // 4:h // 2, w // 3:w // 2 + 1] = 1.0
    m[-1, -1] = 0.5
    return m


@pytest.mark.parametrize("ext,ptype,tol", [("png", "uint8", 1 / 255), ("png", "uint16", 1e-4),
                                           ("tif", "uint16", 1e-4), ("exr", "half", 1e-3)])
def test_display_sized_single_channel(tmp_path, ext, ptype, tol):
    m = _pattern(10, 12)
    p = tmp_path / ("m." + ext)
    exr.write_image(p, m, channels=["Y"] if ext != "png" else None, pixel_type=ptype)
    got = read_mask(p, INFO)
    assert got.shape == INFO.shape and got.dtype == np.float32
    np.testing.assert_allclose(got[3:13, 4:16], m, atol=tol)  # placed by the display window
    # outside the display window its edge pixels continue (only the corner pixel is non-zero there)
    assert got[:3].sum() == 0 and got[:, :4].sum() == 0
    np.testing.assert_allclose(got[13:, 15], m[-1, -1], atol=tol)
    np.testing.assert_allclose(got[12, 16:], m[-1, -1], atol=tol)
    assert got[13:, :15].sum() == 0 and got[:12, 16:].sum() == 0


def test_data_sized_taken_as_is(tmp_path):
    m = _pattern(16, 20)
    p = tmp_path / "m.png"
    exr.write_image(p, m, pixel_type="uint8")
    np.testing.assert_allclose(read_mask(p, INFO), m, atol=1 / 255)


def test_wrong_size(tmp_path):
    p = tmp_path / "m.png"
    exr.write_image(p, np.zeros((7, 9), np.float32), pixel_type="uint8")
    with pytest.raises(PlateError) as e:
        read_mask(p, INFO)
    assert "9x7" in str(e.value) and "12x10" in str(e.value) and "20x16" in str(e.value)


def test_alpha_preferred_unless_opaque(tmp_path):
    rgb = np.zeros((10, 12, 3), np.float32)
    rgb[2:5, 2:5, 0] = 1.0  # red shape
    alpha = _pattern(10, 12)
    p = tmp_path / "rgba.png"
    exr.write_image(p, np.dstack([rgb, alpha]), pixel_type="uint8")
    np.testing.assert_allclose(read_mask(p, INFO)[3:13, 4:16], alpha, atol=1 / 255)
    # opaque alpha: the mask is in the colour channels (max of R, G, B)
    q = tmp_path / "opaque.png"
    exr.write_image(q, np.dstack([rgb, np.ones((10, 12), np.float32)]), pixel_type="uint8")
    np.testing.assert_allclose(read_mask(q, INFO)[3:13, 4:16], rgb[:, :, 0], atol=1 / 255)
    # opaque alpha over flat colour: the alpha (a full-frame mask) is the mask
    f = tmp_path / "full.png"
    exr.write_image(f, np.dstack([np.zeros_like(rgb), np.ones((10, 12), np.float32)]), pixel_type="uint8")
    assert read_mask(f, INFO)[3:13, 4:16].min() == 1.0
    # RGB without alpha: max of channels
    r = tmp_path / "rgb.png"
    exr.write_image(r, rgb, pixel_type="uint8")
    np.testing.assert_allclose(read_mask(r, INFO)[3:13, 4:16], rgb[:, :, 0], atol=1 / 255)
    # explicit channel
    np.testing.assert_allclose(read_mask(p, INFO, channel="R")[3:13, 4:16], rgb[:, :, 0], atol=1 / 255)
    np.testing.assert_allclose(read_mask(p, INFO, channel="alpha")[3:13, 4:16], alpha, atol=1 / 255)
    with pytest.raises(ChannelError):
        read_mask(p, INFO, channel="Z")


def test_exr_layer_channel_and_values_clipped(tmp_path):
    m = _pattern(10, 12) * 3 - 1
    m[0, 0] = np.nan
    p = tmp_path / "m.exr"
    exr.write_image(p, np.dstack([np.zeros_like(m), m]), channels=["A", "hero.A"], pixel_type="float")
    got = read_mask(p, INFO, channel="hero.A")[3:13, 4:16]
    assert got.min() >= 0 and got.max() <= 1 and got[0, 0] == 0
    np.testing.assert_allclose(got, np.clip(np.nan_to_num(m), 0, 1))
    np.testing.assert_allclose(read_mask(p, INFO, channel="hero.alpha")[3:13, 4:16], got)


def test_exr_bbox_placed_by_coordinates(tmp_path):
    # a Nuke-style mask: data window = bounding box of the shape, display = the plate's format
    box = np.ones((3, 4), np.float32)
    p = tmp_path / "bbox.exr"
    exr.write_image(p, box, channels=["A"], data=Window(5, 6, 4, 3), display=INFO.display)
    got = read_mask(p, INFO)
    assert got.sum() == 12
    assert got[6 + 3:9 + 3, 5 + 4:9 + 4].sum() == 12  # canvas = absolute - data origin
    # a bbox reaching into the overscan (negative coordinates) and beyond the canvas is clipped
    q = tmp_path / "big.exr"
    exr.write_image(q, np.ones((30, 16), np.float32), channels=["A"], data=Window(-10, -10, 16, 30),
                    display=INFO.display)
    got = read_mask(q, INFO)
    # covers absolute x -10..5 -> canvas columns 0..9 (absolute -4..5), every row
    assert got[:, :10].min() == 1 and got[:, 10:].max() == 0


def test_mask_sequence(tmp_path):
    for f in (1001, 1003):
        exr.write_image(tmp_path / ("roto.%04d.png" % f), _pattern(10, 12), pixel_type="uint8")
    seq = MaskSequence(str(tmp_path / "roto.####.png"), INFO)
    assert seq.frames == [1001, 1003] and 1001 in seq and 1002 not in seq
    assert seq.get(1003).shape == INFO.shape
    with pytest.raises(MissingFrameError) as e:
        seq.get(1002)
    assert e.value.details["frame"] == 1002
