"""QA of soft alpha at full resolution through the product path (2K..4K DCI half-float EXR plates,
plates with overscan): the mechanisms are tested on small plates where they reproduce."""
import numpy as np

from samatte.io import exr
from samatte.io.masks import read_mask
from samatte.stages import PlateInfo, Window
from qa_cli import read_exr as _read, run_cli as _run_cli


def test_a_display_sized_mask_continues_into_the_overscan(tmp_path):
    # what lies outside a display-sized mask image is unknown, not empty: its edge pixels continue
    # into the overscan (as outside an image's bbox in Nuke), so a shape cut by the format's edge
    # stays cut by nothing
    info = PlateInfo(data=Window(-4, -3, 20, 16), display=Window(0, 0, 12, 10))
    m = np.zeros((10, 12), np.float32)
    m[2:6, 8:] = 1.0      # reaches the right edge of the display window
    m[7:, 1:3] = 0.5      # reaches the bottom edge
    exr.write_image(str(tmp_path / "m.png"), m, pixel_type="uint16")
    got = read_mask(tmp_path / "m.png", info)
    np.testing.assert_allclose(got[3:13, 4:16], m, atol=1e-4)
    np.testing.assert_array_equal(got[5:9, 16:], 1.0)           # right overscan, rows of the shape
    assert got[:5, 16:].max() == 0 and got[9:, 16:].max() == 0  # rows beside it stay empty
    np.testing.assert_allclose(got[13:, 5:7], 0.5, atol=1e-4)   # bottom overscan under the shape
    assert got[:3].max() == 0 and got[:, :4].max() == 0          # top and left: the mask's edge is 0


def test_refine_an_object_crossing_the_display_edge_of_an_overscan_plate(tmp_path, capsys):
    # an opaque disk crossing the right edge of the display window into the overscan, refined from a
    # display-sized mask: the visible frame's edge is no edge of the object (alpha was ~0.5 at the
    # display edge and wrong by > 0.1 up to ~20 px inside the visible frame at 4K; 0.47 here)
    W, H, ov = 256, 144, 8
    yy, xx = np.mgrid[0:H + 2 * ov, 0:W + 2 * ov].astype(np.float32) + 0.5 - ov
    rng = np.random.default_rng(0)
    bg = np.repeat(np.repeat(rng.random((H // 8 + 3, W // 8 + 3, 3)), 8, 0), 8, 1)
    bg = (bg[:H + 2 * ov, :W + 2 * ov] * 0.3 + 0.05).astype(np.float32)
    a = np.clip(40.0 - np.hypot(xx - (W - 6.0), yy - H * 0.5) + 0.5, 0, 1)
    img = bg * (1 - a[..., None]) + np.float32([0.9, 0.7, 0.4]) * a[..., None]
    (tmp_path / "p").mkdir()
    exr.write_image(str(tmp_path / "p" / "plate.1001.exr"), img, data=Window(-ov, -ov, W + 2 * ov, H + 2 * ov),
                    display=Window(0, 0, W, H))
    exr.write_image(str(tmp_path / "p" / "mask.1001.png"), (a[ov:ov + H, ov:ov + W] >= 0.5).astype(np.float32),
                    pixel_type="uint8")
    rc, err = _run_cli(["refine", "--plate", tmp_path / "p" / "plate.####.exr", "--masks",
                        tmp_path / "p" / "mask.####.png", "--out", tmp_path / "o" / "m.####.exr"], capsys)
    assert rc == 0, err
    names, px, spec = _read(tmp_path / "o" / "m.1001.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (-ov, -ov, W + 2 * ov, H + 2 * ov)
    alpha = px[..., names.index("A")]
    visible = np.abs(alpha - a)[ov:ov + H, ov:ov + W]
    # (before: mean 0.0045, 400+ visible pixels off by > 0.1, alpha 0.53 at the display edge)
    assert visible.mean() < 0.001 and (visible > 0.1).sum() < 30, (visible.mean(), (visible > 0.1).sum())
    assert alpha[ov + H // 2 - 10:ov + H // 2 + 10, ov + W - 4:ov + W + 4].min() > 0.9
