"""A clip whose file name has a '#' besides its frame digits gets a clear PLATE_INVALID from the add-on
(samatte reads '#' as a frame digit: the job's pattern would have two frame tokens). Before: the folder
listing of the job's frames (convert.sequence_numbers) raised ValueError, a traceback in Blender."""
import types

import pytest

from addon_plain import plain


def test_a_clip_file_name_with_a_hash_is_plate_invalid(tmp_path):
    gather = plain("gather")
    hosterrors = plain("hosterrors")
    for n in (1001, 1002):
        (tmp_path / ("take#3_plate.%d.exr" % n)).write_bytes(b"")
    clip = types.SimpleNamespace(name="take3", filepath=str(tmp_path / "take#3_plate.1001.exr"),
                                 source="SEQUENCE", size=(32, 24))
    with pytest.raises(hosterrors.HostError) as ei:
        gather.clip_info(clip)
    assert ei.value.code == "PLATE_INVALID" and "'#'" in str(ei.value)


def test_the_sequence_functions_would_fail_on_such_a_name(tmp_path):
    convert = plain("convert")
    pattern, first = convert.sequence_pattern(str(tmp_path / "take#3_plate.1001.exr"))
    assert first == 1001 and pattern.count("#") == 5      # the name's own '#' joins the frame token's
    with pytest.raises(ValueError):
        convert.sequence_numbers(pattern)
