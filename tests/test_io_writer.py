"""MatteWriter: channels/layers, windows, metadata, compression, atomic writes, resume."""
import os

import numpy as np
import pytest

OpenImageIO = pytest.importorskip("OpenImageIO")

from samatte import __version__  # noqa: E402
from samatte.errors import OutputError  # noqa: E402
from samatte.io import exr  # noqa: E402
from samatte.io.writer import MatteWriter  # noqa: E402
from samatte.stages import MatteFrame, PlateInfo, Window  # noqa: E402

H, W = 10, 14
INFO = PlateInfo(data=Window(-3, -2, W, H), display=Window(0, 0, 8, 6), pixel_aspect=2.0)


def _mf(frame=1001, seed=0, fg=True, q=True):
    rng = np.random.default_rng(seed)
    hero = rng.random((H, W), dtype=np.float32)
    car = rng.random((H, W), dtype=np.float32)
    alpha = np.maximum(hero, car)
    return MatteFrame(frame=frame, alphas={"hero": hero, "car": car}, alpha=alpha,
                      foreground=(rng.random((H, W, 3), dtype=np.float32) * alpha[..., None]) if fg else None,
                      quality=rng.random((H, W), dtype=np.float32) if q else None, score=0.75)


def _read(path):
    inp = OpenImageIO.ImageInput.open(str(path))
    spec = inp.spec()
    px = inp.read_image(0, 0, 0, spec.nchannels, "float")
    inp.close()
    return spec, px


def test_layers_windows_metadata(tmp_path):
    w = MatteWriter(str(tmp_path / "out" / "m.####.exr"), INFO,
                    metadata={"job": "sh010", "job_hash": "h1", "tracker": "sam2", "matte": "refine",
                              "custom/key": "v", "n": 3})
    mf = _mf()
    path = w.write(mf)
    assert path == str(tmp_path / "out" / "m.1001.exr") and os.path.isfile(path)
    spec, px = _read(path)
    # EXR stores channels sorted by name; OIIO lists R, G, B, A first
    assert list(spec.channelnames) == ["R", "G", "B", "A", "car.A", "hero.A", "quality.Y"]
    ch = {n: px[:, :, i] for i, n in enumerate(spec.channelnames)}
    assert str(spec.format) == "half" and spec.alpha_channel == 3
    assert (spec.x, spec.y, spec.width, spec.height) == (-3, -2, W, H)
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (0, 0, 8, 6)
    assert spec.getattribute("PixelAspectRatio") == 2.0
    assert spec.getattribute("compression") == "zip"
    assert spec.getattribute("samatte/job") == "sh010"
    assert spec.getattribute("samatte/job_hash") == "h1"
    assert spec.getattribute("samatte/tracker") == "sam2"
    assert spec.getattribute("samatte/matte") == "refine"
    assert spec.getattribute("samatte/version") == __version__
    assert spec.getattribute("samatte/objects") == "hero,car"
    assert spec.getattribute("custom/key") == "v"
    tol = 2e-3
    np.testing.assert_allclose(ch["A"], mf.alpha, atol=tol)
    np.testing.assert_allclose(ch["hero.A"], mf.alphas["hero"], atol=tol)
    np.testing.assert_allclose(ch["car.A"], mf.alphas["car"], atol=tol)
    np.testing.assert_allclose(np.stack([ch["R"], ch["G"], ch["B"]], axis=2), mf.foreground, atol=tol)
    np.testing.assert_allclose(ch["quality.Y"], mf.quality, atol=tol)
    # our own reader sees the layers
    assert set(exr.list_layers(path)) == {"", "hero", "car", "quality"}
    assert os.listdir(tmp_path / "out") == ["m.1001.exr"]  # no temp files left


def test_optional_channels_and_clipping(tmp_path):
    w = MatteWriter(str(tmp_path / "m.%04d.exr"), INFO, compression="dwaa")
    mf = _mf(fg=False, q=False)
    mf.alpha = mf.alpha * 3 - 1
    mf.alpha[0, 0] = np.nan
    spec, px = _read(w.write(mf, object_layers=False))
    assert list(spec.channelnames) == ["A"]
    assert spec.getattribute("compression").startswith("dwaa")
    assert px.min() >= 0 and px.max() <= 1 and px[0, 0, 0] == 0
    spec, _ = _read(w.write(_mf(), foreground=False, quality_map=False))
    assert list(spec.channelnames) == ["A", "car.A", "hero.A"]


def test_shape_and_argument_errors(tmp_path):
    w = MatteWriter(str(tmp_path / "m.####.exr"), INFO)
    mf = _mf()
    mf.alpha = mf.alpha[:-1]
    with pytest.raises(OutputError):
        w.write(mf)
    assert os.listdir(tmp_path) == []
    with pytest.raises(OutputError):
        MatteWriter(str(tmp_path / "m.exr"), INFO)
    with pytest.raises(OutputError):
        MatteWriter(str(tmp_path / "m.####.exr"), INFO, compression="lzma")


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        MatteWriter(str(blocker / "sub" / "m.####.exr"), INFO)


def test_resume_is_complete(tmp_path):
    pat = str(tmp_path / "m.####.exr")
    w = MatteWriter(pat, INFO, metadata={"job_hash": "aaa"})
    assert not w.is_complete(1001)
    w.write(_mf(1001))
    assert w.is_complete(1001)
    assert not w.is_complete(1002)
    # another job (other hash) must not skip it; overwrite never skips
    assert not MatteWriter(pat, INFO, metadata={"job_hash": "bbb"}).is_complete(1001)
    assert not MatteWriter(pat, INFO, metadata={"job_hash": "aaa"}, overwrite=True).is_complete(1001)
    # other windows -> not ours
    other = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    assert not MatteWriter(pat, other, metadata={"job_hash": "aaa"}).is_complete(1001)
    # a file that is not a samatte frame, or a truncated one, is not complete
    exr.write_image(w.path(1003), np.zeros((H, W, 1), np.float32), channels=["A"], data=INFO.data,
                    display=INFO.display)
    assert not w.is_complete(1003)
    data = open(w.path(1001), "rb").read()
    with open(w.path(1004), "wb") as f:
        f.write(data[:len(data) // 2])
    assert not w.is_complete(1004)
    with open(w.path(1005), "wb") as f:
        f.write(b"junk")
    assert not w.is_complete(1005)


def test_partial_temp_is_ignored_and_cleaned(tmp_path):
    out = tmp_path / "out"
    w = MatteWriter(str(out / "m.####.exr"), INFO, metadata={"job_hash": "x"})
    w.write(_mf(1001))
    data = open(w.path(1001), "rb").read()
    # what a killed writer leaves: a partial hidden temp of frame 1002, from a dead process of this host
    from samatte.io.writer import host_tag
    dead_pid = 2 ** 22 + 12345
    tmp = out / (".m.1002.exr.%s.%d.0123abcd.tmp.exr" % (host_tag(), dead_pid))
    tmp.write_bytes(data[:len(data) // 3])
    assert not w.is_complete(1002)
    w2 = MatteWriter(str(out / "m.####.exr"), INFO, metadata={"job_hash": "x"})  # a re-run
    assert not tmp.exists()
    assert w2.is_complete(1001) and not w2.is_complete(1002)
    w2.write(_mf(1002))
    assert sorted(os.listdir(out)) == ["m.1001.exr", "m.1002.exr"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from samatte.io import writer as wmod
    w = MatteWriter(str(tmp_path / "m.####.exr"), INFO)

    def boom(path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk full")
    monkeypatch.setattr(wmod, "_write_exr", boom)
    with pytest.raises(OutputError):
        w.write(_mf())
    assert os.listdir(tmp_path) == []


def test_read_back_alphas_and_score(tmp_path):
    w = MatteWriter(str(tmp_path / "m.####.exr"), INFO)
    mf = _mf(1001)
    w.write(mf)
    got = w.read_alphas(1001)
    assert set(got) == {"hero", "car"}
    np.testing.assert_allclose(got["hero"], mf.alphas["hero"], atol=2e-3)
    assert w.read_score(1001) == pytest.approx(0.75)
    assert w.read_score(1002) is None
    assert w.read_object_scores(1001) == {} and w.read_object_scores(1002) == {}
    mf.stats = {"hero.score": 0.9, "car.score": 0.25, "car.jump": 0.3}
    w.write(MatteFrame(1003, mf.alphas, mf.alpha, score=0.25, stats=mf.stats))
    assert w.read_object_scores(1003) == {"hero": pytest.approx(0.9), "car": pytest.approx(0.25)}
    one = MatteFrame(1002, {"hero": mf.alphas["hero"]}, mf.alphas["hero"])
    w.write(one, object_layers=False)
    np.testing.assert_allclose(w.read_alphas(1002)["hero"], mf.alphas["hero"], atol=2e-3)


def test_job_hash_stable_and_sensitive():
    from samatte.io.writer import job_hash
    job = {"plate": {"path": "/p.####.exr", "frames": "1-10"}, "objects": [{"name": "hero", "prompts": []}],
           "tracker": {"backend": "flow"}, "matte": {"backend": "refine"},
           "output": {"path": "/o.####.exr", "overwrite": False, "compression": "zip"}}
    h = job_hash(job)
    assert h == job_hash(dict(job)) and len(h) == 16
    job2 = dict(job, output={"path": "/o.####.exr", "overwrite": True, "compression": "zip"})
    assert job_hash(job2) == h  # overwrite does not change the pixels
    job3 = dict(job, matte={"backend": "none"})
    assert job_hash(job3) != h
