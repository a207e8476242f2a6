"""QA of what a compositor reads back from samatte: the pixels and headers of the mattes, and what
a run says about the plate's pixels (comp_correctness)."""
import logging

import numpy as np
import pytest

from samatte.errors import NaNPixelError
from samatte.io import exr
from samatte.io.source import FrameSource


def _grey_plate(tmp_path, bad):
    """A luminance-only (``Y``) EXR sequence 1001-1002 whose frame 1002 holds ``bad`` non-finite values."""
    for f in (1001, 1002):
        y = np.full((6, 8, 1), 0.25, np.float32)
        if f == 1002:
            for k, v in enumerate([np.nan, np.inf, -np.inf][:bad]):
                y[k, k + 1, 0] = v
        exr.write_image(str(tmp_path / ("p.%d.exr" % f)), y, channels=("Y",))
    return str(tmp_path / "p.####.exr")


def test_a_grey_plates_non_finite_values_are_counted_once(tmp_path, caplog):
    """A ``Y`` plate is read into grey R, G, B; its NaN / inf were counted in all three: 3 bad values in
    the file were reported as 9 (the warning, ``PIXELS_NONFINITE``'s message and ``count``, the
    source's stats). Now 3, as for the same values in an RGB plate's one channel."""
    pat = _grey_plate(tmp_path, 3)
    with caplog.at_level(logging.WARNING, logger="samatte"):
        with FrameSource(pat, readahead=0) as src:
            p = src.get(1002)
            assert np.isfinite(p.linear).all()
            assert p.linear[0, 1].tolist() == [0, 0, 0] and p.linear[1, 2].tolist() == [65504.0] * 3
            assert src.stats["nonfinite"] == 3
    said = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert said and "replaced 3 non-finite" in said[0], said
    with FrameSource(pat, on_nonfinite="error", readahead=0) as src:
        src.get(1001)
        with pytest.raises(NaNPixelError) as e:
            src.get(1002)
    assert e.value.details["count"] == 3 and "has 3 non-finite" in str(e.value)


def test_an_rgb_plate_still_counts_each_channels_values(tmp_path):
    """Unchanged for colour plates: a NaN in R and an inf in B of one pixel are 2 values."""
    for f in (1, 2):
        rgb = np.full((4, 4, 3), 0.5, np.float32)
        if f == 2:
            rgb[1, 1, 0], rgb[1, 1, 2] = np.nan, np.inf
        exr.write_image(str(tmp_path / ("c.%d.exr" % f)), rgb, channels=("R", "G", "B"))
    with FrameSource(str(tmp_path / "c.#.exr"), on_nonfinite="error", readahead=0) as src:
        with pytest.raises(NaNPixelError) as e:
            src.get(2)
    assert e.value.details["count"] == 2
