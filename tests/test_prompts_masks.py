"""Per-frame masks: masks.soft keeps a feathered roto soft (ObjectTrack.soft; the 'none' matte writes
it as the alpha, the refiner takes it as its coarse mask), and one object with both prompts and masks
(the masks win on the frames where they exist)."""
import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.demo import read_alpha
from samatte.io.exr import write_image
from samatte.io.masks import MaskSequence, mask_track
from samatte.stages import PlateInfo, Window

W, H = 48, 32
FRAMES = (1001, 1002, 1003)


def _ramp():
    x = np.arange(W, dtype=np.float32)[None, :].repeat(H, 0)
    return np.clip((x - 10.0) / 20.0, 0.0, 1.0)  # 0 left, 1 right, a 20 px ramp between


@pytest.fixture()
def shot(tmp_path):
    rng = np.random.default_rng(0)
    for f in FRAMES:
        write_image(str(tmp_path / ("p.%04d.exr" % f)), rng.random((H, W, 3)).astype(np.float32),
                    channels=("R", "G", "B"), pixel_type="half")
    for f in FRAMES[:2]:  # masks on two of the three frames
        write_image(str(tmp_path / ("m.%04d.png" % f)), _ramp(), channels=("Y",), pixel_type="uint16")
    return tmp_path


def test_mask_track_soft_and_hard(shot):
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    seq = MaskSequence(str(shot / "m.####.png"), info)
    hard = mask_track(seq, {"threshold": 0.5, "soft": False}, 1001)
    soft = mask_track(seq, {"threshold": 0.5, "soft": True}, 1001)
    assert hard.soft is None and np.array_equal(hard.mask, soft.mask)
    assert np.array_equal(hard.mask, _ramp() >= 0.5)
    assert soft.soft.dtype == np.float32 and np.abs(soft.soft - _ramp()).max() < 1e-3


@pytest.mark.parametrize("soft", [False, True])
def test_refine_only_soft_masks_reach_the_alpha(shot, soft):
    job = jobspec.new_job(str(shot / "p.####.exr"), str(shot / ("out%d" % soft) / "o.####.exr"),
                          frames="1001-1002", matte="none", foreground=False, quality_map=False)
    jobspec.add_object(job, "roto", masks={"path": str(shot / "m.####.png"), "soft": soft})
    pipeline.run(job)
    a = read_alpha(str(shot / ("out%d" % soft) / "o.1001.exr"))
    want = _ramp() if soft else (_ramp() >= 0.5).astype(np.float32)
    assert np.abs(a - want).max() < 2e-3


def test_refine_matte_takes_the_soft_mask_as_coarse():
    from samatte.matte.stage import RefineMatter
    from samatte.stages import ObjectTrack, Plate, TrackFrame
    seen = []

    def refiner(image, coarse, **kw):
        seen.append(np.array(coarse))
        return coarse
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    img = np.full((H, W, 3), 0.5, np.float32)
    m = RefineMatter(refiner=refiner, options={"temporal": False, "flow": False})
    ot = ObjectTrack(mask=_ramp() >= 0.5, soft=_ramp(), keyframe=True)
    m.process(Plate(1, img, img, info), TrackFrame(1, {"o": ot}))
    assert seen and np.allclose(seen[0], _ramp())


def test_prompts_and_masks_on_one_object(shot):
    """Tracked from a polygon; on frames 1001-1002 its mask file wins, on 1003 (no file) the track."""
    out = shot / "both"
    job = jobspec.new_job(str(shot / "p.####.exr"), str(out / "o.####.exr"), frames="1001-1003",
                          tracker="shapes", matte="none", foreground=False, quality_map=False)
    jobspec.add_object(job, "o", [jobspec.polygon_prompt(1003, [[0, 0], [8, 0], [8, 8], [0, 8]])],
                       masks={"path": str(shot / "m.####.png")}, host_name="Roto 1.001")
    res = pipeline.run(job)
    assert len(res["written"]) == 3
    ramp_hard = (_ramp() >= 0.5).astype(np.float32)
    for f in (1001, 1002):
        assert np.array_equal(read_alpha(str(out / ("o.%04d.exr" % f))), ramp_hard), f
    a3 = read_alpha(str(out / "o.1003.exr"))
    assert a3[:8, :8].all() and a3.sum() == 64
