"""QA of resume as a property: a re-run that resumes from finished frames writes what a fresh run of
the same job writes, pixels and metadata (tiny 32x24 plates, 6 frames, flow tracker, draft refine, two
objects: a polygon keyframe on the middle frame with a click after it, a mask keyframe on the first
frame with a box on the last). Each test finishes a job, takes frames away as a killed run or a farm
chunk leaves them, resumes, and compares every frame with a fresh run in an empty folder."""
import copy
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.io import exr

W, H = 32, 24
FRAMES = list(range(1001, 1007))


def _plate(i):
    rng = np.random.default_rng(3)
    img = rng.uniform(0.05, 0.3, (H, W + 20, 3)).astype(np.float32)[:, i:i + W]
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    ball = np.clip(5.5 - np.hypot(xx - 8 - 2 * i, yy - 12), 0, 1)[..., None]
    img = img * (1 - ball) + ball * np.array([0.9, 0.2, 0.1], np.float32)
    sq = np.zeros((H, W, 1), np.float32)
    sq[4:10, 20 - i:26 - i] = 1
    return img * (1 - sq) + sq * np.array([0.1, 0.3, 0.9], np.float32)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("qa_cache_soundness")
    for i, f in enumerate(FRAMES):
        exr.write_image(str(d / ("p.%04d.exr" % f)), _plate(i), channels=("R", "G", "B"), pixel_type="half")
    m = np.zeros((H, W), np.float32)
    m[4:10, 19:25] = 1
    exr.write_image(str(d / "sq.png"), m, pixel_type="uint8")
    return d


def _job(inputs, out, **output):
    job = jobspec.new_job(str(inputs / "p.####.exr"), str(out / "m.####.exr"), frames="1001-1006",
                          tracker="flow", matte="refine", quality="draft", name="soundness")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1003, [(8, 7), (18, 7), (18, 17), (8, 17)]),
                                     jobspec.points_prompt(1005, [(16.5, 12.5)])])
    jobspec.add_object(job, "sq", [jobspec.mask_prompt(1001, str(inputs / "sq.png")),
                                   jobspec.box_prompt(1006, [14, 3, 21, 11])])
    job["output"].update(output)
    return job


def _read(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        spec = inp.spec()
        meta = {a.name: str(a.value) for a in spec.extra_attribs if a.name.startswith("samatte/")}
        return tuple(spec.channelnames), np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float")), meta
    finally:
        inp.close()


def _assert_equals_fresh(job, tmp_path):
    fresh = copy.deepcopy(job)
    fresh["output"]["path"] = str(tmp_path / "fresh" / "m.####.exr")
    pipeline.run(fresh)
    out = os.path.dirname(job["output"]["path"])
    for f in FRAMES:
        name = "m.%04d.exr" % f
        ch, px, meta = _read(os.path.join(out, name))
        ch_f, px_f, meta_f = _read(str(tmp_path / "fresh" / name))
        assert ch == ch_f, name
        assert np.array_equal(px, px_f), (name, float(np.abs(px - px_f).max()))
        assert meta == meta_f, (name, {k: (meta.get(k), meta_f.get(k)) for k in set(meta) | set(meta_f)
                                       if meta.get(k) != meta_f.get(k)})


@pytest.mark.parametrize("lost", [[1005], [1002, 1005]])
def test_a_frame_resumed_after_a_merged_only_frame_of_two_objects_equals_a_fresh_run(inputs, tmp_path, lost):
    """``object_layers: false`` with two objects stores only their merged ``A``: no state can be restored
    from such a frame. Resuming 1005 (its reference 1004 finished) mattered 1004 again from no state, so
    1005 differed from an unbroken run: score 0.600 for 0.734, object scores 0.61 / 0.77 for 0.74 / 0.97,
    alpha by 4e-4. Now 1004 is pre-rolled back to its restart 1003, as an unfinished reference is."""
    job = _job(inputs, tmp_path / "out", object_layers=False)
    pipeline.run(copy.deepcopy(job))
    for f in lost:
        os.remove(str(tmp_path / "out" / ("m.%04d.exr" % f)))
    res = pipeline.run(copy.deepcopy(job))
    assert sorted(int(os.path.basename(p).split(".")[1]) for p in res["written"]) == lost
    _assert_equals_fresh(job, tmp_path)
    assert 1004 in res["preroll"] and not set(lost) & set(res["preroll"])


@pytest.mark.parametrize("compression", ["b44", "b44a"])
def test_a_frame_resumed_from_a_lossy_compressed_frame_equals_a_fresh_run(inputs, tmp_path, compression):
    """b44 stores a half alpha only approximately (up to 0.06 off on a noisy matte). A resumed frame
    starts from its reference as the file stores it, an unbroken run went on from the alphas it had
    computed: 1005 resumed after 1004 differed from a fresh run by 1e-3 in alpha, and in its score."""
    job = _job(inputs, tmp_path / "out", compression=compression)
    pipeline.run(copy.deepcopy(job))
    for f in (1002, 1005):
        os.remove(str(tmp_path / "out" / ("m.%04d.exr" % f)))
    res = pipeline.run(copy.deepcopy(job))
    assert len(res["written"]) == 2 and not res["preroll"]
    _assert_equals_fresh(job, tmp_path)


def test_a_lossy_chunk_pre_rolled_to_its_restart_equals_a_single_run(inputs, tmp_path):
    """A farm chunk 1004-1006 whose pre-roll reaches the restart 1003 (not written) equals a single run
    (README, Chunks), b44 too: the pre-roll frame hands on its state as its file would store it (the guard
    of the other half of the fix above: without it 1004 differs by 0.015)."""
    job = _job(inputs, tmp_path / "out", compression="b44")
    pipeline.run(copy.deepcopy(job), stage="track")
    res = pipeline.run(copy.deepcopy(job), stage="matte", frames="1004-1006", preroll=4)
    assert res["preroll"] == [1003]
    pipeline.run(copy.deepcopy(job), stage="matte", frames="1001-1003")
    _assert_equals_fresh(job, tmp_path)
