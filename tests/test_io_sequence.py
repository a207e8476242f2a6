"""Sequence patterns: every token form, padding, ranges, negative frames, discovery on disk."""
import pytest

from samatte.errors import FrameRangeError, PlateError
from samatte.io.sequence import SequencePattern


@pytest.mark.parametrize("pattern,frame,expected", [
    ("/s/plate.####.exr", 1001, "/s/plate.1001.exr"),
    ("/s/plate.####.exr", 7, "/s/plate.0007.exr"),
    ("/s/plate.####.exr", 12345, "/s/plate.12345.exr"),
    ("/s/plate.#.exr", 7, "/s/plate.7.exr"),          # Nuke: one '#' per digit
    ("/s/plate.##.exr", 7, "/s/plate.07.exr"),
    ("/s/plate.%04d.exr", 7, "/s/plate.0007.exr"),
    ("/s/plate.%d.exr", 7, "/s/plate.7.exr"),
    ("/s/plate.%06d.exr", 1001, "/s/plate.001001.exr"),
    ("/s/plate.$F4.exr", 7, "/s/plate.0007.exr"),     # Houdini
    ("/s/plate.$F.exr", 7, "/s/plate.7.exr"),
    ("/s/plate.@.exr", 7, "/s/plate.7.exr"),
    ("/s/plate.@@@@.exr", 7, "/s/plate.0007.exr"),
    ("/s/plate_####_v2.exr", 12, "/s/plate_0012_v2.exr"),
    ("/s/plate.####.exr", -5, "/s/plate.-005.exr"),   # printf padding: the sign counts
    ("/s/plate.%04d.exr", -5, "/s/plate.-005.exr"),
])
def test_path(pattern, frame, expected):
    assert SequencePattern(pattern).path(frame) == expected


def test_embedded_range_with_gaps_and_steps():
    p = SequencePattern("/s/plate.1001-1009x4,1020####.exr")
    assert p.frames == [1001, 1005, 1009, 1020]
    assert p.path(1005) == "/s/plate.1005.exr"
    # a lone number before the token is part of the name, not a range
    q = SequencePattern("/s/take2####.exr")
    assert q.frames is None and q.path(1) == "/s/take20001.exr"


def test_bad_patterns():
    with pytest.raises(PlateError):
        SequencePattern("/s/a.####.%04d.exr")
    with pytest.raises(PlateError):
        SequencePattern("")
    with pytest.raises(FrameRangeError):
        SequencePattern("/s/x.####.exr").path(1.5)


def test_still_without_token(tmp_path):
    f = tmp_path / "still.exr"
    p = SequencePattern(str(f))
    assert not p.has_frame_token and p.path(1001) == str(f) and p.frames_on_disk() == []


@pytest.mark.parametrize("pattern,names", [
    ("plate.####.exr", ["plate.1001.exr", "plate.1002.exr", "plate.1010.exr", "plate.-005.exr", "plate.12345.exr"]),
    ("plate.%d.exr", ["plate.1.exr", "plate.2.exr", "plate.-3.exr"]),
    ("plate.$F3.exr", ["plate.001.exr", "plate.100.exr"]),
    ("plate.@.exr", ["plate.9.exr", "plate.10.exr"]),
])
def test_frames_on_disk(tmp_path, pattern, names):
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    # noise that must not count: wrong padding, other names, temp files
    for n in ["plate.01.exr", "plate.1001.exr.tmp", "other.1001.exr", "plate.abcd.exr", ".plate.1001.exr.1.tmp.exr"]:
        if n not in names:
            (tmp_path / n).write_bytes(b"x")
    p = SequencePattern(str(tmp_path / pattern))
    got = p.frames_on_disk()
    assert got == sorted(int(n.split(".")[1]) for n in names)
    assert all((tmp_path / p.path(f)).exists() for f in got)


def test_frames_on_disk_token_in_folder(tmp_path):
    for f in (1, 2, 5):
        d = tmp_path / ("f%04d" % f)
        d.mkdir()
        (d / "img.exr").write_bytes(b"x")
    (tmp_path / "f0003").mkdir()  # no file inside
    p = SequencePattern(str(tmp_path / "f####" / "img.exr"))
    assert p.frames_on_disk() == [1, 2, 5]


def test_missing_folder_gives_no_frames(tmp_path):
    assert SequencePattern(str(tmp_path / "nope" / "a.####.exr")).frames_on_disk() == []
