"""QA review of the job runner (pipeline, cachekey, writer): regressions found reading them end to end."""
import hashlib
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.io.exr import write_image
from samatte.stages import Window

W, H, FRAMES = 48, 40, list(range(1001, 1007))


def _plate_frame(path, f, data):
    """A disc moving right on a soft pattern, written with data window ``data`` (x, y, w, h) on a W x H format."""
    x0, y0, w, h = data
    yy, xx = np.mgrid[y0:y0 + h, x0:x0 + w].astype(np.float32)
    a = ((xx - (14 + 2 * (f - 1001))) ** 2 + (yy - 20) ** 2 < 64).astype(np.float32)
    bg = 0.2 + 0.1 * np.sin(xx * 0.7) * np.cos(yy * 0.5)
    img = np.stack([bg * (1 - a) + 0.9 * a, bg * (1 - a) + 0.3 * a, bg * (1 - a) + 0.1 * a], -1)
    write_image(path.replace("####", "%04d" % f), img, channels=("R", "G", "B"), data=(x0, y0),
                display=Window(0, 0, W, H))


def _job(plate, out):
    job = jobspec.new_job(plate, out, frames="1001-1006", tracker="flow", matte="refine", quality="draft",
                          name="canvas")
    jobspec.add_object(job, "disc", [jobspec.box_prompt(1001, [4, 10, 26, 30])])   # keyed on the first frame
    return job


def _digests(out):
    return {f: hashlib.sha256(open(out.replace("####", "%04d" % f), "rb").read()).hexdigest() for f in FRAMES}


@pytest.mark.parametrize("overscan", [(-4, -4, W + 8, H + 8), (2, 2, W, H)], ids=["overscan", "shifted"])
def test_a_plate_frame_rerendered_with_another_data_window_retracks_every_frame(tmp_path, overscan):
    """Every plate frame with the same data window (overscan, or a crop of the format's size at another
    origin) is read on that window; one frame re-rendered with the format as its data window makes the
    data windows vary, so every frame is read into the display window: another canvas for all of them.
    The keys of frames 1001-1005 (tracked forward from 1001, their intervals end before 1006) do not
    change, and before their stored tracks, masks of the old canvas, were taken as current: with overscan
    every re-run failed with PLATE_INVALID ("mask of object 'disc' is (48, 56), the plate is (40, 48)");
    on a canvas of the same size the masks were used 2 px off. Now the stored tracks are checked against
    the canvas, so the re-run writes what a fresh run on the re-rendered plate writes."""
    plate = str(tmp_path / "plate" / "p.####.exr")
    os.makedirs(os.path.dirname(plate))
    for f in FRAMES:
        _plate_frame(plate, f, overscan)
    out = str(tmp_path / "out" / "m.####.exr")
    first = pipeline.run(_job(plate, out))
    assert first["plate"]["data_window"] == list(overscan)

    _plate_frame(plate, 1006, (0, 0, W, H))   # one frame re-rendered without the overscan / crop
    st = pipeline.frame_status(_job(plate, out))
    assert st["track"]["1001"] == "stale"      # the key is the same, the canvas is not
    again = pipeline.run(_job(plate, out))
    assert again["plate"]["data_window"] == [0, 0, W, H]
    assert again["tracked"] == FRAMES and again["track_reused"] == []

    fresh = str(tmp_path / "fresh" / "m.####.exr")
    pipeline.run(_job(plate, fresh))
    assert _digests(out) == _digests(fresh)
    assert set(pipeline.frame_status(_job(plate, out))["track"].values()) == {"complete"}


def test_a_damaged_mask_on_a_preroll_frame_is_an_error_before_any_frame_is_written(tmp_path):
    """``--frames 1003,1007`` of a shot keyed on 1001 and 1005 pre-rolls 1001-1002 and 1005-1006 (matted for
    the state, not written), in the order 1001, 1002, 1003, 1005, 1006, 1007. Only the requested frames'
    headers were checked before the first write: a refine-only object's mask damaged on 1006 wrote 1003,
    then failed with FRAME_CORRUPT. Now the pre-roll frames' plate and mask headers are checked with the
    requested ones: the same error, and no frame written."""
    from samatte.demo import make_shot
    from samatte.errors import CorruptFrameError
    s = make_shot(str(tmp_path / "shot"), frames=8, size=(64, 64))
    masks = tmp_path / "m"
    masks.mkdir()
    for f in s["frames"]:
        a = np.zeros((64, 64), np.float32)
        a[10:30, 8:28] = 1
        write_image(str(masks / ("mk.%04d.exr" % f)), a, channels=("A",), pixel_type="half")
    out = str(tmp_path / "out" / "m.####.exr")
    job = jobspec.new_job(s["plate"], out, frames="1001-1008", tracker="flow", matte="refine", quality="draft",
                          name="pre")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"]),
                                     jobspec.polygon_prompt(1005, s["polygon"])])
    jobspec.add_object(job, "mk", masks=str(masks / "mk.####.exr"))
    pipeline.run(job, stage="track")
    (masks / "mk.1006.exr").write_bytes(b"not an exr" * 20)
    with pytest.raises(CorruptFrameError) as e:
        pipeline.run(job, frames="1003,1007")
    assert e.value.code == "FRAME_CORRUPT" and "mk.1006.exr" in str(e.value)
    assert not [n for n in os.listdir(os.path.dirname(out)) if n.endswith(".exr")]
