"""QA of what a compositor reads back from samatte: the pixels and headers of the mattes, and what
a run says about the plate's pixels (comp_correctness)."""
import logging

import numpy as np
import pytest

from samatte.errors import NaNPixelError
from samatte.io import exr
from samatte.io.source import FrameSource


def _grey_plate(tmp_path, bad):
    """A luminance-only (``Y``) EXR sequence 1001-1002 whose frame 1002 holds ``bad`` non-finite values."""
    for f in (1001, 1002):
        y = np.full((6, 8, 1), 0.25, np.float32)
        if f == 1002:
            for k, v in enumerate([np.nan, np.inf, -np.inf][:bad]):
                y[k, k + 1, 0] = v
        exr.write_image(str(tmp_path / ("p.%d.exr" % f)), y, channels=("Y",))
    return str(tmp_path / "p.####.exr")


def test_a_grey_plates_non_finite_values_are_counted_once(tmp_path, caplog):
    """A ``Y`` plate is read into grey R, G, B; its NaN / inf were counted in all three: 3 bad values in
    the file were reported as 9 (the warning, ``PIXELS_NONFINITE``'s message and ``count``, the
    source's stats). Now 3, as for the same values in an RGB plate's one channel."""
    pat = _grey_plate(tmp_path, 3)
    with caplog.at_level(logging.WARNING, logger="samatte"):
        with FrameSource(pat, readahead=0) as src:
            p = src.get(1002)
            assert np.isfinite(p.linear).all()
            assert p.linear[0, 1].tolist() == [0, 0, 0] and p.linear[1, 2].tolist() == [65504.0] * 3
            assert src.stats["nonfinite"] == 3
    said = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert said and "replaced 3 non-finite" in said[0], said
    with FrameSource(pat, on_nonfinite="error", readahead=0) as src:
        src.get(1001)
        with pytest.raises(NaNPixelError) as e:
            src.get(1002)
    assert e.value.details["count"] == 3 and "has 3 non-finite" in str(e.value)


def test_an_rgb_plate_still_counts_each_channels_values(tmp_path):
    """Unchanged for colour plates: a NaN in R and an inf in B of one pixel are 2 values."""
    for f in (1, 2):
        rgb = np.full((4, 4, 3), 0.5, np.float32)
        if f == 2:
            rgb[1, 1, 0], rgb[1, 1, 2] = np.nan, np.inf
        exr.write_image(str(tmp_path / ("c.%d.exr" % f)), rgb, channels=("R", "G", "B"))
    with FrameSource(str(tmp_path / "c.#.exr"), on_nonfinite="error", readahead=0) as src:
        with pytest.raises(NaNPixelError) as e:
            src.get(2)
    assert e.value.details["count"] == 2


def _png_job(tmp_path, colourspace=None, name="png"):
    """A 2-frame 8-bit PNG plate (a pure red square on grey), its square as a mask sequence, matte ``none``."""
    from PIL import Image
    plate, masks = tmp_path / "plate", tmp_path / "mask"
    plate.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    for f in (1001, 1002):
        img = np.full((12, 16, 3), 30, np.uint8)
        img[2:8, 3:11] = (255, 0, 0)
        Image.fromarray(img).save(plate / ("p.%d.png" % f))
        m = np.zeros((12, 16), np.uint8)
        m[2:8, 3:11] = 255
        Image.fromarray(m).save(masks / ("m.%d.png" % f))
    return {"samatte_job": 1, "name": name, "plate": {"path": str(plate / "p.####.png"), "colourspace": colourspace},
            "objects": [{"name": "o", "masks": {"path": str(masks / "m.####.png")}}],
            "matte": {"backend": "none"}, "output": {"path": str(tmp_path / ("out_" + name) / "m.####.exr")}}


def test_the_result_says_an_unnamed_integer_plate_was_read_as_srgb(tmp_path):
    """The result's ``colour`` of a PNG plate the job names no colourspace for said ``ACEScg`` /
    ``scene_linear`` (the default config's role) beside ``plate.colourspace`` ``sRGB``, while its
    foreground layer holds the sRGB curve's linear Rec.709 values (pure red: 1, 0, 0; the same plate
    named in the config's sRGB colourspace is decoded to ACEScg: 0.613, 0.070, 0.021). Now it says
    ``sRGB`` / ``integer``, as ``samatte probe``'s ``read_as``; pixels unchanged."""
    from samatte import pipeline
    from qa_cli import read_exr
    job = _png_job(tmp_path)
    res = pipeline.run(job)
    assert res["plate"]["colourspace"] == "sRGB"
    assert (res["colour"]["colourspace"], res["colour"]["colourspace_from"]) == ("sRGB", "integer"), res["colour"]
    probe = pipeline.probe(job["plate"]["path"])
    assert (probe["read_as"]["colourspace"], probe["read_as"]["from"]) == ("sRGB", "integer")
    names, px, _spec = read_exr(tmp_path / "out_png" / "m.1001.exr")
    assert px[4, 5, :3].tolist() == [1.0, 0.0, 0.0]   # linear Rec.709: what the result now says
    # named: decoded by the config into its scene_linear, and the result says so
    named = pipeline.run(_png_job(tmp_path, "sRGB - Texture", name="named"))
    assert named["colour"]["colourspace_from"] == "job"
    assert named["colour"]["colourspace"] == named["plate"]["colourspace"]
    _n, px2, _s = read_exr(tmp_path / "out_named" / "m.1001.exr")
    assert px2[4, 5, :3].tolist() != [1.0, 0.0, 0.0]


@pytest.mark.parametrize("size", [(321, 181), (257, 129)])
def test_a_flow_box_keyframe_stays_inside_its_box(tmp_path, size):
    """The flow tracker segments a box with GrabCut at its working resolution and enlarges the answer to
    the canvas: those pixels reached past the box (a box drawn tight on an object, ``matte: none`` so the
    tracker's mask is the alpha: 1036 px outside it on 1921x1081, working size 640; here 321x181 with
    working size 96, the same scale: 209 px). A box's object is inside the box: now not one pixel outside
    it on the keyframe, and the object is still whole."""
    from samatte import pipeline
    from qa_cli import read_exr
    W, H = size
    x0, y0, x1, y1 = 101, 51, 141, 83
    rng = np.random.default_rng(5)
    (tmp_path / "plate").mkdir()
    for f in (1001, 1002):
        img = np.full((H, W, 3), 0.2, np.float32) + rng.normal(0, 0.01, (H, W, 3)).astype(np.float32)
        img[y0:y1, x0:x1] = (0.9, 0.5, 0.1)
        exr.write_image(str(tmp_path / "plate" / ("p.%d.exr" % f)), img, channels=("R", "G", "B"))
    job = {"samatte_job": 1, "name": "box", "plate": {"path": str(tmp_path / "plate" / "p.####.exr")},
           "objects": [{"name": "o", "prompts": [{"frame": 1001, "type": "box", "box": [x0, y0, x1, y1]}]}],
           "tracker": {"backend": "flow", "options": {"work_size": 96}}, "matte": {"backend": "none"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    pipeline.run(job)
    inside = np.zeros((H, W), bool)
    inside[y0:y1, x0:x1] = True
    names, px, _spec = read_exr(tmp_path / "out" / "m.1001.exr")
    a = px[..., names.index("A")]
    assert int((a[~inside] > 0).sum()) == 0, int((a[~inside] > 0).sum())
    assert a[inside].min() == 1.0
    # the next frame is carried at the working resolution: its edge may be off by a working pixel either
    # way, no longer a ring outside the box from the keyframe on (209 px outside at 321x181 before, 100 now)
    names, px, _spec = read_exr(tmp_path / "out" / "m.1002.exr")
    a = px[..., names.index("A")]
    assert int((a[~inside] > 0).sum()) + int((a[inside] < 1).sum()) < 2 * (x1 - x0 + y1 - y0) * 2


def test_a_mask_channel_named_as_nuke_names_it(tmp_path):
    """Nuke shows a file's plain ``A`` as ``rgba.alpha`` (and a plate's layer ``rgba`` is read as the
    main layer); as a mask channel it was CHANNELS_INVALID ("has no channel 'rgba.alpha'; it has R, G,
    B, A"). Now it picks ``A`` (``rgba.red`` picks ``R``), and a file with a real ``rgba.`` layer keeps
    its own channel."""
    from samatte import pipeline
    from qa_cli import read_exr
    (tmp_path / "plate").mkdir()
    (tmp_path / "roto").mkdir()
    for f in (1001, 1002):
        img = np.full((10, 12, 3), 0.1, np.float32)
        img[2:6, 3:9] = (0.8, 0.6, 0.2)
        exr.write_image(str(tmp_path / "plate" / ("p.%d.exr" % f)), img, channels=("R", "G", "B"))
        roto = np.zeros((10, 12, 4), np.float32)
        roto[..., :3] = img                 # a Nuke Write of the plate with the roto in alpha
        roto[2:6, 3:9, 3] = 1.0
        exr.write_image(str(tmp_path / "roto" / ("r.%d.exr" % f)), roto, channels=("R", "G", "B", "A"))
    job = {"samatte_job": 1, "name": "nk", "plate": {"path": str(tmp_path / "plate" / "p.####.exr")},
           "objects": [{"name": "o", "masks": {"path": str(tmp_path / "roto" / "r.####.exr"),
                                               "channel": "rgba.alpha"}}],
           "matte": {"backend": "none"}, "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    pipeline.run(job)
    names, px, _spec = read_exr(tmp_path / "out" / "m.1002.exr")
    a = px[..., names.index("A")]
    assert a[2:6, 3:9].min() == 1.0 and a.sum() == 24.0
    from samatte.io import masks
    info = exr.read_info(str(tmp_path / "plate" / "p.1001.exr"))
    red = masks.read_mask(str(tmp_path / "roto" / "r.1001.exr"), info, channel="rgba.red")
    assert np.allclose(red, np.clip(exr.read_rgb(str(tmp_path / "plate" / "p.1001.exr"))[..., 0], 0, 1))
    both = np.zeros((10, 12, 2), np.float32)
    both[0, 0, 0] = 1.0   # rgba.A: one pixel; the plain A: none
    exr.write_image(str(tmp_path / "layered.exr"), both, channels=("rgba.A", "A"))
    assert masks.read_mask(str(tmp_path / "layered.exr"), info, channel="rgba.alpha").sum() == 1.0


_WINDOWS = {   # name: (data window, display window, pixel aspect) as (x, y, w, h)
    "odd": ((0, 0, 97, 55), (0, 0, 97, 55), 1.0),
    "anamorphic_2": ((0, 0, 64, 48), (0, 0, 64, 48), 2.0),
    "overscan": ((-8, -6, 80, 60), (0, 0, 64, 48), 1.0),
    "offset_display": ((92, 44, 80, 60), (100, 50, 64, 48), 1.0),
}


@pytest.mark.parametrize("geometry", sorted(_WINDOWS))
@pytest.mark.parametrize("mask_kind", ["exr_plate_windows", "png_display_sized"])
@pytest.mark.parametrize("backend", ["none", "refine"])
def test_a_one_pixel_mask_gives_alpha_on_that_pixel_only(tmp_path, geometry, mask_kind, backend):
    """Checked (no bug): a one-pixel white square in the plate and in its mask gives alpha 1 on exactly
    that pixel (display pixel (37, 21)) and nowhere else (< 1e-3), in a file with the plate's windows,
    pixel aspect, half channels and zip compression, whatever the windows (odd size, 2:1 anamorphic,
    overscan, a display window not at 0) and the mask's form. Measured as well on 1921x1081, 4096x2160,
    1024x858 at pixel aspect 2 and (-64,-64)-(1983,1143) overscan: the same."""
    from PIL import Image
    from samatte import pipeline
    from samatte.stages import Window
    from qa_cli import read_exr
    data, disp, pa = (Window(*_WINDOWS[geometry][0]), Window(*_WINDOWS[geometry][1]), _WINDOWS[geometry][2])
    px, py = 37, 21
    ax, ay = px + disp.x - data.x, py + disp.y - data.y      # its place in the stored (data window) array
    (tmp_path / "plate").mkdir()
    (tmp_path / "mask").mkdir()
    for f in (1001, 1002):
        img = np.full((data.height, data.width, 3), 0.05, np.float32)
        img[ay, ax] = 1.0
        exr.write_image(str(tmp_path / "plate" / ("p.%d.exr" % f)), img, channels=("R", "G", "B"),
                        data=data, display=disp, pixel_aspect=pa)
        if mask_kind == "exr_plate_windows":
            m = np.zeros((data.height, data.width, 1), np.float32)
            m[ay, ax] = 1.0
            exr.write_image(str(tmp_path / "mask" / ("m.%d.exr" % f)), m, channels=("Y",), data=data,
                            display=disp, pixel_aspect=pa)
        else:
            m = np.zeros((disp.height, disp.width), np.uint8)
            m[py, px] = 255
            Image.fromarray(m).save(tmp_path / "mask" / ("m.%d.png" % f))
    ext = "exr" if mask_kind.startswith("exr") else "png"
    job = {"samatte_job": 1, "name": "px", "plate": {"path": str(tmp_path / "plate" / "p.####.exr")},
           "objects": [{"name": "o", "masks": {"path": str(tmp_path / "mask" / ("m.####." + ext))}}],
           "matte": {"backend": backend}, "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    pipeline.run(job)
    for f in (1001, 1002):
        names, out, spec = read_exr(tmp_path / "out" / ("m.%d.exr" % f))
        assert (spec.x, spec.y, spec.width, spec.height) == _WINDOWS[geometry][0]
        assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == _WINDOWS[geometry][1]
        assert spec.getattribute("PixelAspectRatio") == pa and spec.getattribute("compression") == "zip"
        assert {str(spec.channelformat(i)) for i in range(len(names))} == {"half"}
        assert names[:5] == ["R", "G", "B", "A", "o.A"]
        a = out[..., names.index("A")]
        assert np.isfinite(out).all()
        assert a[ay, ax] == 1.0 and out[ay, ax, names.index("o.A")] == 1.0
        a[ay, ax] = 0.0
        assert a.max() < 1e-3, (f, float(a.max()))
        assert out[ay, ax, :3].tolist() == [1.0, 1.0, 1.0]   # premultiplied foreground: the plate there


def test_a_mask_channel_in_a_part_named_as_its_layer(tmp_path):
    """A multi-part roto file with one part per layer, the part named ``hero`` holding a plain ``A`` (as
    a plate's layer ``beauty`` may be a part named ``beauty`` holding R, G, B): ``channel: hero.A`` was
    CHANNELS_INVALID ("it has R, G, B, A, A", no part named). Now that part's A is the mask, on the
    plate's canvas, and a channel no part has is refused naming the parts."""
    from samatte.errors import ChannelError
    from samatte.io import masks
    from samatte.stages import Window
    data, disp = Window(-4, -2, 20, 14), Window(0, 0, 12, 10)   # an overscan plate
    plate = str(tmp_path / "p.1001.exr")
    exr.write_image(plate, np.zeros((14, 20, 3), np.float32), channels=("R", "G", "B"), data=data, display=disp)
    info = exr.read_info(plate)
    rgba = np.zeros((14, 20, 4), np.float32)
    rgba[..., 3] = 1.0
    hero = np.zeros((14, 20, 1), np.float32)
    hero[5, 7] = 1.0                      # display pixel (3, 3)
    path = str(tmp_path / "roto.exr")
    exr.write_parts(path, [{"pixels": rgba, "channels": ["R", "G", "B", "A"], "name": "rgba", "data": data,
                            "display": disp},
                           {"pixels": hero, "channels": ["A"], "name": "hero", "data": data, "display": disp}])
    for ch in ("hero.A", "hero.alpha"):
        m = masks.read_mask(path, info, channel=ch)
        assert m.shape == (14, 20) and m.sum() == 1.0 and m[5, 7] == 1.0, ch
    masks.check_mask_header(path, info, channel="hero.A")
    assert masks.read_mask(path, info, channel="A").sum() == 14 * 20        # the first part's, as before
    with pytest.raises(ChannelError) as e:
        masks.read_mask(path, info, channel="villain.A")
    assert "part 'hero': A" in str(e.value)
