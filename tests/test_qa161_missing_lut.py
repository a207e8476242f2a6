"""A colourspace whose conversion to scene_linear OCIO cannot build (QA161): its LUT file missing (a
show's LUT folder not reachable from a farm node, a context variable naming another shot's LUT). The
job's plate, named in that colourspace, was matted with its code values taken for linear light --
"decided as before (kept as stored)" -- without a word, while the display image (the view's own
colourspace: no LUT needed) looked right. Now COLOUR_INVALID before any frame; with the LUT there the
plate is decoded as before."""
import json

import numpy as np
import pytest

from samatte.colour import ColourTransform
from samatte.errors import ColourError


def _config(folder, with_lut):
    (folder / "luts").mkdir(parents=True)
    if with_lut:
        x = np.linspace(0.0, 1.0, 64)
        (folder / "luts" / "show.spi1d").write_text(
            "Version 1\nFrom 0.0 1.0\nLength 64\nComponents 1\n{\n" + "\n".join("%.9f" % v for v in x ** 2.2) + "\n}\n")
    cfg = folder / "config.ocio"
    cfg.write_text("""ocio_profile_version: 2
search_path: luts
roles:
  scene_linear: linear
  data: raw
  default: linear
displays:
  sRGB:
    - !<View> {name: Standard, colorspace: show}
active_displays: []
active_views: []
colorspaces:
  - !<ColorSpace>
    name: linear
    isdata: false
  - !<ColorSpace>
    name: show
    isdata: false
    to_scene_reference: !<FileTransform> {src: show.spi1d, interpolation: linear}
  - !<ColorSpace>
    name: raw
    isdata: true
""")
    return str(cfg)


def test_with_its_lut_the_plate_is_decoded(tmp_path):
    ct = ColourTransform(_config(tmp_path / "c", True), "show")
    assert ct.nonlinear
    assert ct.to_scene_linear(np.full((1, 1, 3), 0.5, np.float32))[0, 0, 0] == pytest.approx(0.5 ** 2.2, abs=2e-3)


def test_without_its_lut_the_colourspace_is_refused(tmp_path):
    with pytest.raises(ColourError) as ei:
        ColourTransform(_config(tmp_path / "c", False), "show")
    assert ei.value.code == "COLOUR_INVALID"
    assert "show" in str(ei.value) and "show.spi1d" in str(ei.value)


def test_cli_run_writes_no_frame(tmp_path, capsys):
    from samatte import cli, jobspec
    from samatte.io.exr import write_image
    write_image(str(tmp_path / "p.1001.exr"), np.full((6, 8, 3), 0.5, np.float32), channels=["R", "G", "B"],
                pixel_type="half")
    write_image(str(tmp_path / "m.1001.png"), np.ones((6, 8), np.float32), channels=["Y"], pixel_type="uint8")
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "o" / "o.####.exr"), frames="1001",
                          colourspace="show", ocio_config=_config(tmp_path / "c", False), matte="none")
    jobspec.add_object(job, "a", masks=str(tmp_path / "m.####.png"))
    (tmp_path / "j.json").write_text(json.dumps(job))
    assert cli.main(["run", str(tmp_path / "j.json")]) == 4
    assert "COLOUR_INVALID" in capsys.readouterr().err
    assert not list(tmp_path.glob("o/*.exr"))
