"""FrameSource: plates, bounded LRU cache, read-ahead (order, errors), thread safety, NaN policy."""
import threading
import time

import numpy as np
import pytest

from samatte.colour import ColourTransform, srgb_oetf
from samatte.errors import (CorruptFrameError, MissingFrameError, NaNPixelError, PlateError)
from samatte.io import exr
from samatte.io.source import FrameSource
from samatte.stages import Plate, Window

H, W = 12, 16


def _write(folder, frames, *, nan_on=(), window=None):
    for f in frames:
        a = np.full((H, W, 4), (f % 97) / 100.0, np.float32)
        a[0, 0, 3] = f
        if f in nan_on:
            a[1, 1, 0] = np.nan
            a[2, 2, 1] = np.inf
        exr.write_image(folder / ("plate.%04d.exr" % f), a, pixel_type="float",
                        data=window or Window(-2, -1, W, H), display=Window(0, 0, W - 4, H - 2))
    return str(folder / "plate.####.exr")


def _wait(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_plate_contents(tmp_path):
    pat = _write(tmp_path, range(1001, 1004))
    with FrameSource(pat) as src:
        assert src.frames == [1001, 1002, 1003]
        assert src.info.data == Window(-2, -1, W, H)
        p = src.get(1002)
        assert isinstance(p, Plate) and p.frame == 1002 and p.info is src.info
        assert p.linear.shape == (H, W, 3) and p.linear.dtype == np.float32
        assert p.display.shape == (H, W, 3) and p.display.dtype == np.float32
        np.testing.assert_allclose(p.linear, 1002 % 97 / 100.0)
        np.testing.assert_allclose(p.display, srgb_oetf(p.linear), atol=1e-6)
        assert not p.linear.flags.writeable and not p.display.flags.writeable
        assert src.get(1002) is p  # cached


def test_colour_used_once(tmp_path):
    pat = _write(tmp_path, [1, 2])
    ct = ColourTransform("ocio://default", "lin_rec709")
    with FrameSource(pat, [1, 2], colour=ct, readahead=0) as src:
        p = src.get(2)
        np.testing.assert_allclose(p.display, ct.to_display(np.array(p.linear)), atol=1e-6)


def test_frames_argument_forms(tmp_path):
    pat = _write(tmp_path, range(1, 11))
    with FrameSource(pat, "1-9x2", readahead=0) as src:
        assert src.frames == [1, 3, 5, 7, 9]
    with FrameSource(pat, [3, 1, 2], readahead=0) as src:
        assert src.frames == [1, 2, 3]
    with pytest.raises(MissingFrameError):
        FrameSource(str(tmp_path / "none.####.exr"))
    with pytest.raises(MissingFrameError):
        FrameSource(pat, "20-30")
    with pytest.raises(PlateError):
        FrameSource(pat, on_nonfinite="ignore")
    with pytest.raises(PlateError):
        FrameSource(pat, cache_frames=0)


def test_lru_bound_over_long_shot(tmp_path):
    frames = list(range(1001, 1051))
    pat = _write(tmp_path, frames)
    with FrameSource(pat, cache_frames=4, readahead=2) as src:
        assert src.capacity == 4
        for f in frames:
            p = src.get(f)
            assert p.frame == f
            assert len(src.cached_frames()) <= 4
        assert src.stats["max_cached"] <= 4
        assert src.stats["decoded"] <= len(frames) + 2  # each frame decoded about once
        # going back to an early frame decodes it again (it was evicted)
        before = src.stats["decoded"]
        hits = src.stats["hits"]
        src.get(1001)
        assert src.stats["decoded"] > before and src.stats["hits"] == hits


def test_capacity_covers_readahead(tmp_path):
    pat = _write(tmp_path, range(1, 6))
    with FrameSource(pat, cache_frames=1, readahead=3) as src:
        assert src.capacity == 4


def test_readahead_prefetches_in_order(tmp_path):
    frames = list(range(1, 13))
    pat = _write(tmp_path, frames)
    with FrameSource(pat, cache_frames=8, readahead=3) as src:
        src.get(1)
        assert _wait(lambda: set(src.cached_frames()) >= {2, 3, 4})
        hits = src.stats["hits"]
        src.get(2)
        assert src.stats["hits"] == hits + 1  # served by the read-ahead
        assert src.stats["prefetched"] >= 3
        # a backward pass: read-ahead follows the given order
        src.prefetch(reversed(frames))
        assert _wait(lambda: set(src.cached_frames()) >= {12, 11, 10})
        src.get(12)
        assert _wait(lambda: 9 in src.cached_frames())
        assert 5 not in src.cached_frames()


def test_readahead_error_reraised_on_get(tmp_path):
    pat = _write(tmp_path, [1, 2, 4])  # 3 is missing
    (tmp_path / "plate.0005.exr").write_bytes(b"garbage")
    with FrameSource(pat, [1, 2, 3, 4, 5], readahead=4) as src:
        src.get(1)
        assert _wait(lambda: 4 in src.cached_frames())
        assert src.get(2).frame == 2
        with pytest.raises(MissingFrameError) as e:
            src.get(3)
        assert e.value.details.get("frame") == 3
        with pytest.raises(CorruptFrameError):
            src.get(5)
        with pytest.raises(MissingFrameError):  # asking again re-reads and fails again
            src.get(3)
        assert src.get(4).frame == 4


def test_data_window_change_reads_every_frame_into_the_display_window(tmp_path):
    """Frames 1-2 store overscan (-2, -1), frame 3 only the display window: the data windows vary, so
    the canvas is the display window and every frame is cut / padded into it (tests/
    test_plate_windows_vary.py has the job-level figures)."""
    pat = _write(tmp_path, [1, 2])
    _write(tmp_path, [3], window=Window(0, 0, W, H))
    with FrameSource(pat, readahead=0) as src:
        assert src.info.data == src.info.display == Window(0, 0, W - 4, H - 2)
        p1, p3 = src.get(1), src.get(3)
        assert p1.linear.shape == p3.linear.shape == (H - 2, W - 4, 3)
        assert p1.linear[0, 0, 0] == np.float32(0.01) and p3.linear[0, 0, 0] == np.float32(0.03)


def test_display_window_change_is_plate_error(tmp_path):
    pat = _write(tmp_path, [1, 2])
    exr.write_image(tmp_path / "plate.0003.exr", np.zeros((H, W, 3), np.float32), pixel_type="float",
                    data=Window(-2, -1, W, H), display=Window(0, 0, W - 4, H - 4))
    with FrameSource(pat, readahead=0) as src:
        with pytest.raises(PlateError) as e:
            src.get(3)
        assert "3" in str(e.value) and "display window" in str(e.value)
        with pytest.raises(PlateError):
            src.check_headers([1, 2, 3])


def test_nonfinite_fix_and_error(tmp_path):
    pat = _write(tmp_path, [1, 2], nan_on={2})
    with FrameSource(pat, readahead=0) as src:
        p = src.get(2)
        assert np.isfinite(p.linear).all() and p.linear[1, 1, 0] == 0
        assert src.stats["nonfinite"] == 2
    with FrameSource(pat, on_nonfinite="error", readahead=0) as src:
        src.get(1)
        with pytest.raises(NaNPixelError) as e:
            src.get(2)
        assert e.value.details["count"] == 2 and e.value.details["frame"] == 2


def test_thread_safety(tmp_path):
    frames = list(range(1, 21))
    pat = _write(tmp_path, frames)
    errors = []
    with FrameSource(pat, cache_frames=3, readahead=2) as src:
        def worker(seed):
            rng = np.random.default_rng(seed)
            try:
                for f in rng.choice(frames, 30):
                    p = src.get(int(f))
                    assert p.frame == f and float(p.linear[0, 0, 0]) == pytest.approx((f % 97) / 100.0)
                    assert len(src.cached_frames()) <= src.capacity
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    assert not errors


def test_close(tmp_path):
    pat = _write(tmp_path, [1, 2, 3])
    src = FrameSource(pat)
    src.get(1)
    src.close()
    src.close()
    assert src.cached_frames() == []
    with pytest.raises(PlateError):
        src.get(2)


def test_png_sequence(tmp_path):
    for f in (1, 2):
        exr.write_image(tmp_path / ("img.%05d.png" % f), np.full((H, W, 3), 0.5, np.float32), pixel_type="uint8")
    with FrameSource(str(tmp_path / "img.%05d.png"), colour=ColourTransform()) as src:
        p = src.get(1)
        # display-referred files are shown as they are (no OCIO), linear is their decoded light
        np.testing.assert_allclose(p.display, 128 / 255.0, atol=1e-6)
        np.testing.assert_allclose(p.linear, ((128 / 255.0 + 0.055) / 1.055) ** 2.4, atol=1e-4)


EVAL = __import__("pathlib").Path(__file__).resolve().parents[1] / ".." / "shared" / "eval"


def test_eval_data_sequences():
    """Real files: a linear half PIZ EXR clip and a DAVIS JPEG sequence (skipped without the data)."""
    syn = EVAL / "synthvideo"
    davis = EVAL / "davis2016" / "frames" / "dog"
    if not syn.is_dir() or not davis.is_dir():
        pytest.skip("shared eval data not present")
    clip = sorted(p for p in syn.iterdir() if (p / "rgb").is_dir())[0]
    with FrameSource(str(clip / "rgb" / "%05d.exr"), "0-2") as src:
        assert src.info.pixel_type == "half"
        p = src.get(0)
        assert np.isfinite(p.linear).all() and 0 <= p.display.min() and p.display.max() <= 1
        ref = exr.read_rgb(clip / "rgb" / "00000.exr")
        np.testing.assert_array_equal(p.linear, ref)
    with FrameSource(str(davis / "#####.jpg"), colour=ColourTransform()) as src:
        assert src.frames[0] == 0 and len(src.frames) > 10
        p = src.get(src.frames[1])
        assert p.display.shape == (480, 854, 3) and src.info.pixel_type == "uint8"
        from PIL import Image
        photo = np.asarray(Image.open(davis / ("%05d.jpg" % src.frames[1])).convert("RGB"), np.float32) / 255
        assert np.abs(p.display - photo).mean() < 2 / 255  # models see the photo as it is


def test_prefetch_order_with_repeated_frames(tmp_path):
    frames = list(range(1, 11))
    pat = _write(tmp_path, frames)
    with FrameSource(pat, cache_frames=10, readahead=2) as src:
        # keyframes first (5, 9), then a forward pass that meets them again
        order = [5, 9] + frames
        src.prefetch(order)
        src.get(5)
        src.get(9)
        assert _wait(lambda: {1, 2} <= set(src.cached_frames()))
        for f in (1, 2, 3, 4):
            src.get(f)
        src.get(5)  # the second 5: read-ahead goes on with 6, 7 (not 9, 1 after the first 5)
        assert _wait(lambda: {6, 7} <= set(src.cached_frames()))
