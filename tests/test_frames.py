"""samatte.frames: host frame ranges."""
import pytest

from samatte.errors import FrameRangeError, JobSpecError
from samatte.frames import MAX_FRAMES, format_frames, parse_frames


@pytest.mark.parametrize("spec, frames", [
    ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
    ("1001", [1001]),
    (1001, [1001]),
    ([1003, 1001, 1001], [1001, 1003]),
    ((5, 6), [5, 6]),
    ("1001-1009x2", [1001, 1003, 1005, 1007, 1009]),
    ("1001-1010x4", [1001, 1005, 1009]),
    ("1001-1009:4", [1001, 1005, 1009]),
    ("1001-1003X1", [1001, 1002, 1003]),
    ("1001,1005,1010-1012", [1001, 1005, 1010, 1011, 1012]),
    (" 1001 - 1003 , 1002 ", [1001, 1002, 1003]),
    ("1001,,1002,", [1001, 1002]),
    ("-5--3", [-5, -4, -3]),
    ("-2-1", [-2, -1, 0, 1]),
    ("0", [0]),
    ("7-7", [7]),
])
def test_parse_good(spec, frames):
    assert parse_frames(spec) == frames


@pytest.mark.parametrize("spec", [
    "", "   ", ",", "abc", "1001-", "-", "1001-1000", "1001-1010x0", "1001-1010x-2", "1.5", "1001 1002",
    "1001-1010y2", True, False, None, 1.0, [], [1, "2"], [1, True], [1.0], {"a": 1}, "0-%d" % MAX_FRAMES,
])
def test_parse_bad(spec):
    with pytest.raises(FrameRangeError) as ei:
        parse_frames(spec)
    assert ei.value.code == "FRAME_RANGE_INVALID"
    assert isinstance(ei.value, JobSpecError)
    assert ei.value.exit_code == 2
    assert str(ei.value).startswith("[FRAME_RANGE_INVALID] ")


def test_max_frames_boundary():
    assert len(parse_frames("1-%d" % MAX_FRAMES)) == MAX_FRAMES
    with pytest.raises(FrameRangeError):
        parse_frames("1-%d,%d" % (MAX_FRAMES, MAX_FRAMES + 5))


@pytest.mark.parametrize("frames, text", [
    ([], ""),
    ([1001], "1001"),
    ([1001, 1002], "1001-1002"),
    (range(1001, 1101), "1001-1100"),
    ([1001, 1003, 1005, 1007], "1001-1007x2"),
    ([1001, 1003], "1001,1003"),
    ([1001, 1002, 1003, 1010], "1001-1003,1010"),
    ([1003, 1001, 1002, 1002], "1001-1003"),
    ([-3, -2, -1], "-3--1"),
])
def test_format(frames, text):
    assert format_frames(frames) == text


@pytest.mark.parametrize("frames", [
    [1], [1, 2], [1, 3], [1, 2, 4], [1, 3, 5, 6, 7, 20], list(range(0, 100, 7)) + [101, 102],
    [-10, -5, 0, 5, 10, 11], [1001, 1002, 1004, 1006, 1008, 1009],
])
def test_format_parse_roundtrip(frames):
    assert parse_frames(format_frames(frames)) == sorted(set(frames))
