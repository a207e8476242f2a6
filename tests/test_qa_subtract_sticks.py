"""QA: a subtract shape (garbage matte / hole, ``mode: "subtract"``) sticks in the final matte, not only in
the track. Before, the track left the shape out (0 px) but the refined matte grew back across its edge:
on this 128x72 demo shot, a notch cut into the ball on its keyframe kept 27 px (shapes tracker) and 40 px
(flow) of alpha > 0.5 inside the notch. Now the object's alpha is 0 there in its layer, the merged A,
the foreground and the state the next frame starts from; other objects are not cut."""
import os

import numpy as np
import pytest

from demo_shots import make_demo_shot
from samatte import cachekey, jobspec, pipeline
from samatte.io.exr import read_info, write_image
from samatte.prompts import prepare_prompt
from samatte.stages import ObjectTrack
from samatte.track.seed import subtract_cut

FRAMES = "1001-1004"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    s, d = make_demo_shot(tmp_path_factory, "qa_subtract_sticks", 4)
    info = read_info(s["plate"].replace("####", "%04d" % s["prompt_frame"]))
    from samatte.io.masks import read_mask
    gt = read_mask(s["gt"].replace("####", "%04d" % s["prompt_frame"]), info)
    ys, xs = np.nonzero(gt > 0.5)
    x1 = float(xs.max() + 1)
    cy, r = (ys.min() + ys.max() + 1) / 2.0, (xs.max() + 1 - xs.min()) / 2.0
    # a notch over the ball's right edge, on its keyframe: the refiner's band reaches into it
    notch = [[x1 - r / 2, cy - r / 3], [x1 + 4, cy - r / 3], [x1 + 4, cy + r / 3], [x1 - r / 2, cy + r / 3]]
    return s, d, info, notch


def _job(shot, out, tracker="flow", matte="refine", extra=()):
    s, _d, _info, _notch = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames=FRAMES, tracker=tracker, matte=matte,
                          quality="default", name="qa_sub")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])] + list(extra))
    return job


def _inside(shot, prompt):
    return prepare_prompt(prompt, shot[2])["mask_array"]


def _read(out, info, frame):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(out / ("m.%04d.exr" % frame)))
    try:
        spec = inp.spec()
        px = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
        return {c: px[..., i] for i, c in enumerate(spec.channelnames)}
    finally:
        inp.close()


@pytest.mark.parametrize("tracker", ["shapes", "flow"])
def test_a_subtract_polygon_is_alpha_0_in_the_written_matte(shot, tmp_path, tracker):
    s, _d, info, notch = shot
    f = s["prompt_frame"]
    sub = jobspec.polygon_prompt(f, notch, mode="subtract")
    job = _job(shot, tmp_path, tracker=tracker, extra=[sub])
    pipeline.run(job)
    ch = _read(tmp_path, info, f)
    inside = _inside(shot, sub)
    assert int((ch["ball.A"][inside] > 0.5).sum()) == 0   # was 27 (shapes), 40 (flow)
    assert float(ch["ball.A"][inside].max()) == 0.0
    assert float(ch["A"][inside].max()) == 0.0
    for c in ("R", "G", "B"):   # the premultiplied foreground
        assert float(np.abs(ch[c][inside]).max()) == 0.0
    assert int((ch["ball.A"] > 0.5).sum()) > 300   # the rest of the ball is still matted
    no_cut = tmp_path / "nocut"
    pipeline.run(_job(shot, no_cut, tracker=tracker))
    ref = _read(no_cut, info, f)["ball.A"]
    assert int((ref[inside] > 0.5).sum()) > 0   # without the shape the ball is there


def test_a_mask_subtract_and_a_box_subtract_are_cut(shot, tmp_path):
    s, _d, info, notch = shot
    f = s["prompt_frame"]
    poly = jobspec.polygon_prompt(f, notch, mode="subtract")
    m = _inside(shot, poly).astype(np.float32)
    mpath = str(tmp_path / "garbage.exr")
    write_image(mpath, m, channels=("A",), pixel_type="half")
    sub = jobspec.mask_prompt(f, mpath, mode="subtract")
    pipeline.run(_job(shot, tmp_path / "mask", extra=[sub]))
    a = _read(tmp_path / "mask", info, f)["ball.A"]
    assert int((a[m > 0.5] > 0.5).sum()) == 0 and float(a[m > 0.5].max()) == 0.0
    xs = [p[0] for p in notch]
    ys = [p[1] for p in notch]
    box = jobspec.box_prompt(f, [min(xs), min(ys), max(xs), max(ys)], mode="subtract")
    pipeline.run(_job(shot, tmp_path / "box", tracker="shapes", matte="none", extra=[box]))
    a = _read(tmp_path / "box", info, f)["ball.A"]
    assert float(a[m > 0.5].max()) == 0.0


def test_only_the_object_the_shape_belongs_to_is_cut(shot, tmp_path):
    s, _d, info, notch = shot
    f = s["prompt_frame"]
    sub = jobspec.polygon_prompt(f, notch, mode="subtract")
    job = _job(shot, tmp_path, extra=[sub])
    jobspec.add_object(job, "twin", [jobspec.polygon_prompt(f, s["polygon"])])
    pipeline.run(job)
    ch = _read(tmp_path, info, f)
    inside = _inside(shot, sub)
    assert float(ch["ball.A"][inside].max()) == 0.0
    assert int((ch["twin.A"][inside] > 0.5).sum()) > 10   # the other object keeps its alpha there
    assert np.array_equal(ch["A"][inside] > 0.5, ch["twin.A"][inside] > 0.5)


def test_resume_across_the_cut_frame_equals_an_unbroken_run(shot, tmp_path):
    """The frames after (1004) and before (1002) the subtract frame start from its state: restored from
    its written file on resume, kept in memory in an unbroken run; the bytes are the same."""
    s, _d, info, notch = shot
    f = s["prompt_frame"]
    sub = jobspec.polygon_prompt(f, notch, mode="subtract")
    whole = _job(shot, tmp_path / "whole", extra=[sub])
    pipeline.run(whole)
    parts = _job(shot, tmp_path / "parts", extra=[sub])
    r1 = pipeline.run(parts, frames=str(f))
    assert len(r1["written"]) == 1
    r2 = pipeline.run(parts)
    assert len(r2["written"]) == 3 and len(r2["skipped"]) == 1
    for g in s["frames"]:
        a, b = _read(tmp_path / "whole", info, g), _read(tmp_path / "parts", info, g)
        assert sorted(a) == sorted(b)
        for c in a:
            assert np.array_equal(a[c], b[c]), (g, c)
        with open(str(tmp_path / "whole" / ("m.%04d.exr" % g)), "rb") as fa, \
                open(str(tmp_path / "parts" / ("m.%04d.exr" % g)), "rb") as fb:
            assert fa.read() == fb.read(), g   # the scores and state records too


def test_the_matte_key_of_the_frame_changes_with_its_subtract_shape(shot, tmp_path):
    s, _d, _info, notch = shot
    f = s["prompt_frame"]
    keys = []
    for dx in (0.0, 2.0):
        moved = [[x + dx, y] for x, y in notch]
        job = _job(shot, tmp_path, extra=[jobspec.polygon_prompt(f, moved, mode="subtract")])
        job = pipeline.load_job(job)
        keys.append(cachekey.frame_keys(job, resolved=pipeline.resolve_backends(job)))
    assert keys[0][f]["matte"] != keys[1][f]["matte"]


def test_a_feathered_subtract_ramps_and_nothing_changes_without_one(shot):
    s, _d, info, notch = shot
    f = s["prompt_frame"]
    q = prepare_prompt(jobspec.polygon_prompt(f, notch, mode="subtract", feather=4.0), info)
    cut = subtract_cut([q], info.shape)
    assert cut.dtype == np.float32
    assert np.all(cut[q["mask_array"]] == 1.0)
    ramp = (cut > 0) & (cut < 1) & ~q["mask_array"]
    assert ramp.sum() > 20   # the feather: a soft ramp outside the shape
    from samatte.matte.stage import cut_alpha
    ones = np.ones(info.shape, np.float32)
    assert cut_alpha(ones, ObjectTrack(mask=q["mask_array"])) is ones   # no cut: untouched
    cut_a = cut_alpha(ones, ObjectTrack(mask=q["mask_array"], cut=cut))
    assert np.array_equal(cut_a, 1.0 - cut)
    add = prepare_prompt(jobspec.polygon_prompt(f, notch), info)
    assert subtract_cut([add], info.shape) is None
    assert os.path.exists(s["plate"].replace("####", "%04d" % f))


@pytest.mark.parametrize("backend", ["refine", "none"])
def test_the_state_handed_to_the_next_frame_is_cut_too(backend):
    """Every backend cuts before it keeps the frame's state (the carried matte of the next frame)."""
    from samatte.matte import get_matter
    from samatte.stages import Plate, PlateInfo, TrackFrame, Window
    rng = np.random.default_rng(3)
    H, W = 48, 64
    img = rng.uniform(0.0, 0.2, (H, W, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    disk = (yy - 24) ** 2 + (xx - 32) ** 2 < 14 ** 2
    img[disk] = 0.9
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    plate = Plate(frame=1, linear=img, display=img, info=info)
    cut = np.zeros((H, W), np.float32)
    cut[16:32, 36:64] = 1.0
    mask = disk & (cut == 0)   # the track already leaves the shape out
    m = get_matter(backend, quality="draft")
    try:
        mf, state = m.step(plate, TrackFrame(frame=1, objects={"o": ObjectTrack(mask=mask, cut=cut)}))
        assert float(mf.alphas["o"][cut == 1].max()) == 0.0 and float(mf.alpha[cut == 1].max()) == 0.0
        if backend == "refine":
            assert float(state.alphas["o"][cut == 1].max()) == 0.0
        mf0, _ = m.step(plate, TrackFrame(frame=1, objects={"o": ObjectTrack(mask=mask)}))
        keep = cut == 0
        assert np.array_equal(mf.alphas["o"][keep], mf0.alphas["o"][keep])   # outside it: the same
    finally:
        m.close()
