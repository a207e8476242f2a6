"""A plate frame damaged past a good header (truncated), a corrupt mask file, or NaN pixels with
``plate.on_nonfinite: error`` is the job's error before any frame is written (the brief: bad input gets
a clear error with a stable code before any frame is written). Before, the run wrote the frames before
the bad one, then stopped with FRAME_CORRUPT / PIXELS_NONFINITE."""
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = range(1001, 1007)


def _shot(tmp_path, *, nan_at=None):
    import cv2
    from samatte.io.exr import write_image
    (tmp_path / "plate").mkdir()
    (tmp_path / "masks").mkdir()
    for f in FRAMES:
        img = np.full((48, 64, 3), 0.2, np.float32)
        x = 16 + f - 1001
        img[10:38, x:x + 28] = 0.8
        if f == nan_at:
            img[5, 5, 0] = np.nan
        write_image(str(tmp_path / "plate" / ("p.%d.exr" % f)), img, channels=("R", "G", "B"))
        m = np.zeros((48, 64), np.uint8)
        m[10:38, x:x + 28] = 255
        cv2.imwrite(str(tmp_path / "masks" / ("m.%d.png" % f)), m)
    return str(tmp_path / "plate" / "p.####.exr"), str(tmp_path / "masks" / "m.####.png")


def _truncate(path, keep_from_end=200):
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[:len(data) - keep_from_end])


def _samatte(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "core"))
    return subprocess.run([sys.executable, "-m", "samatte"] + list(args), capture_output=True, text=True,
                          env=env, timeout=300)


def _written(tmp_path):
    out = tmp_path / "out"
    return sorted(p.name for p in out.iterdir() if p.suffix == ".exr") if out.exists() else []


def test_a_truncated_plate_frame_is_an_error_before_any_frame_is_written(tmp_path):
    plate, masks = _shot(tmp_path)
    _truncate(plate.replace("####", "1004"))
    p = _samatte("refine", "--plate", plate, "--masks", masks, "--out", str(tmp_path / "out" / "m.####.exr"))
    assert p.returncode != 0
    assert "FRAME_CORRUPT" in p.stderr and "1004" in p.stderr
    assert _written(tmp_path) == []   # before: m.1001-1003 written, then the error


def test_a_corrupt_mask_file_is_an_error_before_any_frame_is_written(tmp_path):
    plate, masks = _shot(tmp_path)
    path = masks.replace("####", "1005")
    _truncate(path, keep_from_end=60)   # the PNG header is good, its pixel data is cut
    p = _samatte("refine", "--plate", plate, "--masks", masks, "--out", str(tmp_path / "out" / "m.####.exr"))
    assert p.returncode != 0 and "1005" in p.stderr, p.stderr
    assert _written(tmp_path) == []


def test_nan_pixels_with_on_nonfinite_error_are_an_error_before_any_frame_is_written(tmp_path):
    plate, masks = _shot(tmp_path, nan_at=1005)
    job = {"samatte_job": 1, "name": "nan", "plate": {"path": plate, "on_nonfinite": "error"},
           "objects": [{"name": "o", "masks": {"path": masks}}],
           "matte": {"backend": "refine"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    jf = tmp_path / "job.json"
    jf.write_text(json.dumps(job))
    p = _samatte("run", str(jf))
    assert p.returncode != 0
    assert "PIXELS_NONFINITE" in p.stderr and "1005" in p.stderr, p.stderr
    assert _written(tmp_path) == []
    # with the default (fix) the same shot runs: NaN repaired with a warning
    job["plate"]["on_nonfinite"] = "fix"
    jf.write_text(json.dumps(job))
    p = _samatte("run", str(jf))
    assert p.returncode == 0, p.stderr
    assert len(_written(tmp_path)) == 6


def test_frames_already_decoded_are_not_decoded_again(tmp_path):
    from samatte.io.source import FrameSource
    plate, _masks = _shot(tmp_path)
    with FrameSource(plate, readahead=0) as src:
        src.get(1001)
        src.get(1002)
        assert src.check_pixels([1001, 1002, 1003]) == [1003]
        assert src.check_pixels([1003, 1004]) == [1004]
        assert src.stats["decoded"] == 2   # the check keeps nothing and counts no read


def test_a_resume_checks_only_the_frames_it_reads(tmp_path):
    plate, masks = _shot(tmp_path)
    out = str(tmp_path / "out" / "m.####.exr")
    p = _samatte("refine", "--plate", plate, "--masks", masks, "--out", out, "--frames", "1001-1003")
    assert p.returncode == 0, p.stderr
    # a frame written already and not read again (1001-1002) may go bad on disk: the re-run for 1005-1006 reads
    # 1003-1006 at most (its pre-roll), so a damaged 1001 is no error of it
    _truncate(plate.replace("####", "1001"))
    p = _samatte("refine", "--plate", plate, "--masks", masks, "--out", out, "--frames", "1005-1006")
    assert p.returncode == 0, p.stderr
    assert _written(tmp_path) == ["m.%d.exr" % f for f in (1001, 1002, 1003, 1005, 1006)]
