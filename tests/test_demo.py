"""``samatte demo`` end to end (small), and the synthetic shot it is built on."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from samatte.demo import make_shot, read_alpha


def test_synthetic_shot_is_scene_linear_with_soft_known_alpha(tmp_path):
    from samatte.io.exr import read_info, read_rgb
    s = make_shot(str(tmp_path), frames=3, size=(160, 90), first=1001)
    assert s["frames"] == [1001, 1002, 1003] and s["prompt_frame"] == 1002
    for f in s["frames"]:
        assert os.path.exists(s["plate"].replace("####", "%04d" % f))
    info = read_info(s["plate"].replace("####", "1002"))
    assert (info.width, info.height) == (160, 90) and info.pixel_type == "half"
    rgb = read_rgb(s["plate"].replace("####", "1002"))
    assert rgb.max() > 1.5  # scene-linear highlights
    a = read_alpha(s["gt"].replace("####", "1002"))
    soft = np.mean((a > 0.02) & (a < 0.98))
    assert 0.005 < soft < 0.2  # a real soft edge, not a hard mask
    assert 0.03 < a.mean() < 0.5
    # the subject moves
    a1 = read_alpha(s["gt"].replace("####", "1001"))
    assert np.abs(a1 - a).mean() > 0.005
    # the prompt polygon covers the opaque part of the subject on its frame
    import cv2
    poly = np.array(s["polygon"], np.float32) - 0.5
    inside = np.zeros_like(a, np.uint8)
    cv2.fillPoly(inside, [np.round(poly).astype(np.int32)], 1)
    core = a > 0.95
    assert (inside[core] == 1).mean() > 0.95
    with pytest.raises(Exception):
        make_shot(str(tmp_path / "x"), frames=1, size=(160, 90))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "samatte", "demo", "--out", str(out), "--frames", "8", "--size", "320x180"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "contact sheet:" in p.stdout and "MAD vs true alpha" in p.stdout
    rep = json.loads((out / "report.json").read_text())
    assert rep["exit_code"] == 0 and rep["frames"] == list(range(1001, 1009))
    assert rep["written"] == 8 and rep["prompt_frame"] == 1005
    for f in rep["frames"]:
        assert (out / "matte" / ("matte.%04d.exr" % f)).exists()
    # The matte must actually follow the subject (an empty or full matte scores far above this) and
    # stay in the range a correct binary mask of this subject scores (about 8.5).
    assert 0 < rep["mad"] < 15, rep["mad_per_frame"]
    from PIL import Image
    with Image.open(out / "contact_sheet.png") as im:
        assert im.size[0] > 900 and im.size[1] > 300
    job = json.loads((out / "job.json").read_text())
    assert job["objects"][0]["prompts"][0]["type"] == "polygon"
    # Running it again reuses the shot and resumes: nothing left to matte.
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    assert "reusing the synthetic shot" in p.stdout
    rep2 = json.loads((out / "report.json").read_text())
    assert rep2["written"] == 0 and rep2["skipped"] == 8 and rep2["mad"] == rep["mad"]
