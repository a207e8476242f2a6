"""Scene-linear colour and EXR edge cases end to end (QA): what a Nuke or Blender host hands over —
multi-part EXRs, integer plates with a named colourspace, ... Tiny synthetic images made here."""
import numpy as np

from samatte.io.exr import write_parts
from samatte.stages import Window


def test_probe_of_a_multipart_layer_describes_that_part(tmp_path):
    """``probe --layer beauty`` on a multi-part EXR reported the windows, channels and pixel type of
    the file's *last* part (OIIO's current subimage after the layer lookup), not of the part the job
    reads, and listed no part names as layers: a host sizing its canvas from probe got the wrong data
    window. Now probe describes the part a job with that layer reads."""
    from samatte.io.exr import read_info
    from samatte.pipeline import probe
    img = np.ones((10, 12, 3), np.float32)
    disp = Window(0, 0, 12, 10)
    path = tmp_path / "p.1001.exr"
    write_parts(str(path), [
        {"pixels": img, "channels": ["R", "G", "B"], "name": "rgba", "display": disp},
        {"pixels": img[:4, :5], "channels": ["R", "G", "B"], "name": "beauty", "data": Window(3, 2, 5, 4),
         "display": disp, "pixel_type": "float"},
        {"pixels": img[:, :, :1], "channels": ["depth.Z"], "name": "depth", "display": disp},
    ])
    pattern = str(tmp_path / "p.####.exr")
    for layer, data, ptype in ((None, [0, 0, 12, 10], "half"), ("beauty", [3, 2, 5, 4], "float")):
        p = probe(pattern, layer=layer)
        info = read_info(str(path), layer=layer)
        assert p["data_window"] == data == [info.data.x, info.data.y, info.data.width, info.data.height], layer
        assert p["display_window"] == [0, 0, 12, 10]
        assert p["channels"] == ["R", "G", "B"] and p["pixel_type"] == ptype == info.pixel_type, (layer, p)
        assert p["layers"] == ["beauty", "depth", "rgba"], p["layers"]


def _acescct(lin):
    """ACEScct encoding of linear values >= 0.0078125 (the log segment)."""
    return (np.log2(lin) + 9.72) / 17.52


def test_integer_plate_in_a_named_colourspace_is_decoded_from_it(tmp_path):
    """A 16-bit (log DPX / TIFF style) plate with ``--colourspace ACEScct`` was taken as sRGB whatever
    the job said: the models saw the flat log values as the display image, the "linear" pixels (and
    the written premultiplied foreground) were the sRGB EOTF of log code values, and the result still
    claimed colourspace ACEScct. Now an integer plate named in a colourspace is decoded by OCIO from
    it: display = the config's view of it, linear = the config's scene_linear. Unnamed integer plates
    stay sRGB display-referred."""
    from samatte.colour import ColourTransform
    from samatte.io.exr import write_image
    from samatte.io.source import FrameSource
    lin = np.full((6, 8, 3), 0.18, np.float32)
    lin[2:4, 2:6] = [2.0, 0.5, 0.05]
    code = _acescct(lin)
    path = tmp_path / "p.1001.png"
    write_image(str(path), code, channels=["R", "G", "B"], pixel_type="uint16")
    q = np.round(code * 65535) / 65535  # the stored values
    ct = ColourTransform(colourspace="ACEScct")
    with FrameSource(str(tmp_path / "p.####.png"), "1001", colour=ct) as src:
        plate = src.get(1001)
    assert np.allclose(plate.linear, lin, rtol=2e-3), plate.linear[3, 3]       # ACEScg, as in the config
    assert np.allclose(plate.display, ct.to_display(q.astype(np.float32)), atol=1e-5)
    assert 0.0 <= plate.display.min() and plate.display.max() <= 1.0 and np.isfinite(plate.display).all()
    with FrameSource(str(tmp_path / "p.####.png"), "1001", colour=ColourTransform()) as src:
        plate = src.get(1001)  # no colourspace named: an integer image is sRGB, as before
    assert np.allclose(plate.display, q, atol=1e-6)


def test_layer_rgba_names_the_main_layer(tmp_path):
    """``--layer rgba`` (Nuke's name for the main layer) on a plain R, G, B, A EXR was CHANNELS_INVALID;
    it reads R, G, B when no layer or part is called rgba. A file with an ``rgba.*`` layer keeps it."""
    import pytest
    from samatte.errors import ChannelError
    from samatte.io.exr import read_rgb
    img = np.random.default_rng(0).random((6, 8, 4)).astype(np.float32)
    plain = tmp_path / "plain.exr"
    write_parts(str(plain), [{"pixels": img, "channels": ["R", "G", "B", "A"], "display": Window(0, 0, 8, 6),
                              "pixel_type": "float"}])
    np.testing.assert_array_equal(read_rgb(str(plain), layer="rgba"), img[..., :3])
    np.testing.assert_array_equal(read_rgb(str(plain), layer="RGBA"), img[..., :3])
    named = tmp_path / "named.exr"
    write_parts(str(named), [{"pixels": np.concatenate([img[..., :3], img[..., :3] * 2], axis=2),
                              "channels": ["R", "G", "B", "rgba.R", "rgba.G", "rgba.B"],
                              "display": Window(0, 0, 8, 6), "pixel_type": "float"}])
    np.testing.assert_array_equal(read_rgb(str(named), layer="rgba"), img[..., :3] * 2)
    with pytest.raises(ChannelError):
        read_rgb(str(plain), layer="beauty")


def test_float_plate_in_a_log_colourspace_is_made_scene_linear(tmp_path):
    """A float EXR plate named ACEScct (log) kept its code values as the "linear" pixels, so the linear
    solves saw log values and the foreground layer (documented scene-linear) was log x alpha. A float
    plate in a colourspace the config marks log or video is now made scene-linear on reading; one in a
    scene-linear space (ACEScg, Linear Rec.709) keeps its values exactly, as before."""
    from samatte.colour import ColourTransform
    from samatte.io.exr import write_image
    from samatte.io.source import FrameSource
    lin = np.full((6, 8, 3), 0.18, np.float32)
    lin[2:4, 2:6] = [2.0, 0.5, 0.05]
    code = _acescct(lin).astype(np.float32)
    path = tmp_path / "p.1001.exr"
    write_image(str(path), code, channels=["R", "G", "B"], pixel_type="float")
    ct = ColourTransform(colourspace="ACEScct")
    assert ct.nonlinear and not ColourTransform(colourspace="ACEScg").nonlinear
    with FrameSource(str(tmp_path / "p.####.exr"), "1001", colour=ct) as src:
        plate = src.get(1001)
    assert np.allclose(plate.linear, lin, rtol=2e-4), plate.linear[3, 3]
    assert np.allclose(plate.display, ct.to_display(code), atol=1e-6)      # the view of what is on disk
    for cs in ("ACEScg", "Linear Rec.709 (sRGB)", None):
        with FrameSource(str(tmp_path / "p.####.exr"), "1001", colour=ColourTransform(colourspace=cs)) as src:
            np.testing.assert_array_equal(src.get(1001).linear, code)      # scene-linear: as stored
