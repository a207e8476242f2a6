"""Reading plates: windows, layers, parts, pixel types, formats, errors, non-finite pixels."""
import logging

import numpy as np
import pytest

from samatte.errors import ChannelError, CorruptFrameError, MissingFrameError, NaNPixelError, PlateError
from samatte.io import exr
from samatte.stages import Window


def _img(h, w, c=4, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32) * 4.0


@pytest.mark.parametrize("pixel_type,tol", [("half", 4e-3), ("float", 0.0)])
def test_round_trip_windows_and_types(tmp_path, pixel_type, tol):
    a = _img(30, 40)
    # overscan: data window bigger than the display window, negative origin
    data, display = Window(-6, -4, 40, 30), Window(0, 0, 28, 22)
    p = tmp_path / "a.exr"
    exr.write_image(p, a, data=data, display=display, pixel_type=pixel_type, pixel_aspect=2.0)
    info = exr.read_info(p)
    assert info.data == data and info.display == display
    assert info.pixel_aspect == 2.0 and info.pixel_type == pixel_type
    assert info.channels == ("R", "G", "B") and info.shape == (30, 40)
    rgb = exr.read_rgb(p)
    assert rgb.dtype == np.float32 and rgb.shape == (30, 40, 3) and rgb.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(rgb, a[:, :, :3], rtol=tol, atol=tol)
    # canvas <-> display coordinates
    assert info.display_to_canvas(0, 0) == (6, 4)


def test_data_window_inside_display(tmp_path):
    a = _img(10, 12, 3)
    p = tmp_path / "crop.exr"
    exr.write_image(p, a, data=Window(5, 7, 12, 10), display=Window(0, 0, 100, 50))
    info = exr.read_info(p)
    assert info.data == Window(5, 7, 12, 10) and info.display == Window(0, 0, 100, 50)
    assert exr.read_rgb(p).shape == (10, 12, 3)


def test_named_layer_channels(tmp_path):
    a = _img(8, 9, 7, seed=1)
    p = tmp_path / "layers.exr"
    exr.write_image(p, a, channels=["R", "G", "B", "A", "beauty.R", "beauty.G", "beauty.B"], pixel_type="float")
    np.testing.assert_array_equal(exr.read_rgb(p), a[:, :, :3])
    np.testing.assert_array_equal(exr.read_rgb(p, layer="beauty"), a[:, :, 4:7])
    assert exr.read_info(p, layer="beauty").channels == ("beauty.R", "beauty.G", "beauty.B")
    with pytest.raises(ChannelError) as e:
        exr.read_rgb(p, layer="diffuse")
    assert "beauty.R" in str(e.value)


def test_channel_order_and_long_names(tmp_path):
    a = _img(5, 6, 3, seed=2)
    p = tmp_path / "names.exr"
    # blue/green/red spelled out, stored in a scrambled order
    exr.write_image(p, a, channels=["diff.blue", "diff.red", "diff.green"], pixel_type="float")
    np.testing.assert_array_equal(exr.read_rgb(p, layer="diff"), a[:, :, [1, 2, 0]])


def test_multipart(tmp_path):
    a, b = _img(6, 7, 1, seed=3), _img(6, 7, 4, seed=4)
    p = tmp_path / "mp.exr"
    exr.write_parts(p, [
        {"name": "depth", "pixels": a, "channels": ["Z"], "pixel_type": "float", "display": Window(0, 0, 5, 4)},
        {"name": "beauty", "pixels": b, "channels": ["R", "G", "B", "A"], "pixel_type": "float",
         "data": Window(-1, -2, 7, 6), "display": Window(0, 0, 5, 4)},
    ])
    # no layer: the first part that has R, G, B
    np.testing.assert_array_equal(exr.read_rgb(p), b[:, :, :3])
    np.testing.assert_array_equal(exr.read_rgb(p, layer="beauty"), b[:, :, :3])
    info = exr.read_info(p, layer="beauty")
    assert info.data == Window(-1, -2, 7, 6) and info.display == Window(0, 0, 5, 4)
    # a one-channel part is broadcast to grey
    d = exr.read_rgb(p, layer="depth")
    np.testing.assert_array_equal(d, np.repeat(a, 3, axis=2))
    assert set(exr.list_layers(p)) == {"depth", "beauty"}


def test_png_is_display_referred(tmp_path):
    v = np.linspace(0, 1, 256, dtype=np.float32)
    a = np.stack([np.tile(v, (4, 1))] * 3, axis=2)
    p = tmp_path / "p.png"
    exr.write_image(p, a, pixel_type="uint8")
    fd = exr.read_frame(p)
    assert fd.info.pixel_type == "uint8"
    np.testing.assert_allclose(fd.display, a, atol=1 / 255)
    ref = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(fd.linear, ref, atol=2e-3)


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(MissingFrameError):
        exr.read_info(tmp_path / "nope.exr")
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"this is not an exr" * 10)
    with pytest.raises(CorruptFrameError):
        exr.read_rgb(bad)
    # a truncated file: the header reads, the pixels do not
    good = tmp_path / "good.exr"
    exr.write_image(good, _img(64, 64, 3, seed=5), pixel_type="float", compression="none")
    data = good.read_bytes()
    trunc = tmp_path / "trunc.exr"
    trunc.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptFrameError):
        exr.read_rgb(trunc)
    (tmp_path / "dir.exr").mkdir()
    with pytest.raises(CorruptFrameError):
        exr.read_rgb(tmp_path / "dir.exr")


def test_too_few_channels(tmp_path):
    p = tmp_path / "two.exr"
    exr.write_image(p, _img(4, 4, 2), channels=["U", "V"])
    with pytest.raises(ChannelError):
        exr.read_info(p)


def test_window_mismatch(tmp_path):
    p = tmp_path / "a.exr"
    exr.write_image(p, _img(4, 5, 3), data=Window(0, 0, 5, 4))
    q = tmp_path / "b.exr"
    exr.write_image(q, _img(4, 5, 3), data=Window(1, 0, 5, 4))
    info = exr.read_info(p)
    with pytest.raises(PlateError) as e:
        exr.read_frame(q, expect=info, frame=1002)
    assert "1002" in str(e.value)


def test_fix_nonfinite(caplog):
    a = np.ones((4, 5, 3), np.float32)
    a[0, 0, 0] = np.nan
    a[1, 2, 1] = np.inf
    a[3, 4, 2] = -np.inf
    with caplog.at_level(logging.WARNING, logger="samatte"):
        n = exr.fix_nonfinite(a, mode="fix", frame=1003)
    assert n == 3 and np.isfinite(a).all() and a[0, 0, 0] == 0 and a[3, 4, 2] == 0
    assert a[1, 2, 1] == 65504.0   # an overflowed highlight stays the brightest half value, not black
    assert a.sum() == 4 * 5 * 3 - 3 + 65504
    assert any("1003" in r.getMessage() and "3" in r.getMessage() for r in caplog.records)
    b = np.ones((2, 2, 3), np.float32)
    b[1, 1, 1] = np.nan
    with pytest.raises(NaNPixelError) as e:
        exr.fix_nonfinite(b, mode="error", frame=1004)
    assert "1004" in str(e.value) and e.value.details["count"] == 1
    # large finite values whose sum overflows are not "non-finite"
    c = np.full((4, 4, 3), 3e38, np.float32)
    assert exr.fix_nonfinite(c) == 0 and np.isfinite(c).all()
