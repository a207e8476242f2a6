"""QA of plate geometry end to end, as VFX plates are: overscan (data window beyond the display
window, negative origins), a bbox-only data window (as Nuke writes a bbox smaller than the format),
a display window not at 0, anamorphic pixel aspects (2.0, 1.33). A synthetic plate holds a known
square; box / points / mask prompts in display-window pixels must give a matte whose object sits on
the plate's object (centroid within 1 px) in a file with the plate's windows and pixel aspect; QC's
contact sheet shows the plate as a host does (pixel aspect applied)."""
import json
import os

import numpy as np
import pytest

from samatte.io import exr
from samatte.stages import Window
from qa_cli import read_exr, run_cli

SQUARE = (20, 14, 36, 30)   # the object, display-window pixels [x0, y0, x1, y1)
DISPLAY = Window(0, 0, 64, 48)

PLATES = {   # name: (data window, display window, pixel aspect)
    "plain": (DISPLAY, DISPLAY, 1.0),
    "overscan": (Window(-8, -6, 80, 60), DISPLAY, 1.0),
    "bbox": (Window(10, 8, 40, 30), DISPLAY, 1.0),
    "display_offset": (Window(100, 50, 64, 48), Window(100, 50, 64, 48), 1.0),
    "display_offset_overscan": (Window(92, 44, 80, 60), Window(100, 50, 64, 48), 1.0),
    "anamorphic_2": (DISPLAY, DISPLAY, 2.0),
    "anamorphic_133_overscan": (Window(-8, -6, 80, 60), DISPLAY, 1.33),
}


def _plate(folder, data, disp, pa, frames=2):
    """An EXR sequence with the square (in display pixels) stored at its place in the data window."""
    os.makedirs(folder, exist_ok=True)
    dx, dy = disp.x - data.x, disp.y - data.y    # display pixel (X, Y) is array [Y + dy, X + dx]
    x0, y0, x1, y1 = SQUARE
    for k in range(frames):
        img = np.full((data.height, data.width, 3), 0.1, np.float32)
        img[max(y0 + dy, 0):max(y1 + dy, 0), max(x0 + dx, 0):max(x1 + dx, 0)] = (0.9, 0.5, 0.2)
        exr.write_image(os.path.join(folder, "p.%04d.exr" % (1001 + k)), img, channels=("R", "G", "B"),
                        data=data, display=disp, pixel_aspect=pa)
    return os.path.join(folder, "p.####.exr")


def _run(tmp_path, capsys, name, prompt):
    data, disp, pa = PLATES[name]
    plate = _plate(str(tmp_path / "plate"), data, disp, pa)
    doc = {"samatte_job": 1, "name": "geo", "plate": {"path": plate},
           "objects": [{"name": "o", "prompts": [prompt]}],
           "tracker": {"backend": "flow"}, "matte": {"backend": "refine"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(doc))
    rc, err = run_cli(["run", job], capsys)
    assert rc == 0, err
    return job, (data, disp, pa)


def _matte_in_display(path):
    """(centroid x, centroid y, area) of alpha > 0.5 in display-window pixels, and the spec."""
    names, px, spec = read_exr(path)
    a = px[..., names.index("A")]
    ys, xs = np.nonzero(a > 0.5)
    cx = xs.mean() + 0.5 + spec.x - spec.full_x
    cy = ys.mean() + 0.5 + spec.y - spec.full_y
    return (cx, cy, len(xs)), spec


@pytest.mark.parametrize("name", sorted(PLATES))
@pytest.mark.parametrize("kind", ["box", "points"])
def test_the_matte_lands_on_the_object_with_the_plates_windows(tmp_path, capsys, name, kind):
    """Measured: every plate and both prompt kinds give the square exactly (centroid (28, 22), 256
    pixels) in a file whose data / display windows and pixel aspect are the plate's."""
    prompt = ({"frame": 1001, "type": "box", "box": [18, 12, 38, 32]} if kind == "box" else
              {"frame": 1001, "type": "points", "points": [[28, 22]], "labels": [1]})
    _job, (data, disp, pa) = _run(tmp_path, capsys, name, prompt)
    for f in (1001, 1002):
        (cx, cy, area), spec = _matte_in_display(tmp_path / "out" / ("m.%d.exr" % f))
        assert (spec.x, spec.y, spec.width, spec.height) == (data.x, data.y, data.width, data.height)
        assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (disp.x, disp.y, disp.width,
                                                                                 disp.height)
        assert spec.getattribute("PixelAspectRatio") == pytest.approx(pa, abs=1e-6)
        assert abs(cx - 28.0) <= 1.0 and abs(cy - 22.0) <= 1.0, (cx, cy)
        assert abs(area - 256) <= 32, area


@pytest.mark.parametrize("name", ["overscan", "bbox", "display_offset_overscan"])
def test_a_display_sized_mask_prompt_lands_on_the_object(tmp_path, capsys, name):
    """A PNG mask the size of the display window (the square drawn where the artist sees it) on an
    overscan / bbox / offset plate: the matte sits on the plate's object."""
    from PIL import Image
    m = np.zeros((48, 64), np.uint8)
    x0, y0, x1, y1 = SQUARE
    m[y0:y1, x0:x1] = 255
    mpath = tmp_path / "mask.png"
    Image.fromarray(m).save(mpath)
    _run(tmp_path, capsys, name, {"frame": 1001, "type": "mask", "path": str(mpath)})
    (cx, cy, area), _spec = _matte_in_display(tmp_path / "out" / "m.1002.exr")
    assert abs(cx - 28.0) <= 1.0 and abs(cy - 22.0) <= 1.0 and abs(area - 256) <= 32, (cx, cy, area)


def _sheet_thumb_height(sheet_path, rows):
    """The thumbnails' height in QC's contact sheet (header 22 px, 6 px padding, ``rows`` rows)."""
    from PIL import Image
    with Image.open(sheet_path) as im:
        H = im.size[1]
    return (H - 22 - 6) // rows - 6


@pytest.mark.parametrize("name, expect_th", [("plain", 180), ("anamorphic_2", 90),
                                             ("anamorphic_133_overscan", 135)])
def test_qc_contact_sheet_applies_the_pixel_aspect(tmp_path, capsys, name, expect_th):
    """The contact sheet showed an anamorphic plate in stored pixels: a 64x48 plate of pixel aspect
    2.0 (shown 128x48 by Nuke's Viewer, OpenEXR's exrdisplay) gave 240x180 thumbnails, the round
    object squeezed to half its width. Now 240x90 (1.33 on 80x60 overscan: 240x135)."""
    from samatte import api
    job, (data, _disp, pa) = _run(tmp_path, capsys, name, {"frame": 1001, "type": "box", "box": [18, 12, 38, 32]})
    report = api.qc(str(job))
    assert report["ok"]
    assert expect_th == round(data.height * 240 / (data.width * pa))
    assert _sheet_thumb_height(report["contact_sheet"], 2) == expect_th
