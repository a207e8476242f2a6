"""The Blender add-on's bpy-free side (through ``addon_plain``), day 8: a .blend set up on Windows opened on
Linux / macOS. A ``//`` path with Windows separators (``//plates\\plate.1001.exr``, which Blender's own readers
take with this OS's) is read with them (``convert.native_blend_path``; before, ``bpy.path.abspath`` kept the
backslashes as part of a file name); a Windows absolute path (``Z:\\...``, ``\\\\server\\share``) is named as
such (``convert.foreign_path``): a clip there is PLATE_INVALID saying so (before: 'has no image (size (0, 0))').
The bpy side: ``test_qa_blender_day8_bpy.py``."""
import os

import pytest

from addon_plain import plain

convert, gather, hosterrors = plain("convert"), plain("gather"), plain("hosterrors")


def test_a_blend_relative_path_gets_this_os_separators():
    assert convert.native_blend_path("//plates\\sh010\\plate.1001.exr", "/") == "//plates/sh010/plate.1001.exr"
    assert convert.native_blend_path("//..\\mattes\\", "/") == "//../mattes/"
    assert convert.native_blend_path("//plates/plate.1001.exr", "\\") == "//plates\\plate.1001.exr"
    # an absolute path is this machine's own: as given
    assert convert.native_blend_path("/shows/a\\b.exr", "/") == "/shows/a\\b.exr"
    assert convert.native_blend_path("", "/") == ""


def test_windows_absolute_paths_are_foreign_on_linux_and_macos():
    for p in ("Z:\\shows\\sh010\\plate.1001.exr", "z:/shows/", "\\\\server\\share\\plate.1001.exr"):
        assert convert.foreign_path(p, "/"), p
        assert not convert.foreign_path(p, "\\"), p          # on Windows they are its own
    for p in ("/shows/sh010", "//plates\\plate.1001.exr", "plates/a.exr", "Z:", "", "ZZ:\\a"):
        assert not convert.foreign_path(p, "/"), p


class _Clip:
    name = "plate.1001.exr"
    source = "SEQUENCE"
    size = (0, 0)
    frame_start, frame_offset, frame_duration = 1, 0, 0
    library = None

    def __init__(self, filepath):
        self.filepath = filepath


@pytest.mark.skipif(os.sep != "/", reason="a Windows path is this machine's own on Windows")
def test_a_clip_at_a_windows_path_says_so():
    with pytest.raises(hosterrors.HostError) as e:
        gather.clip_info(_Clip("Z:\\shows\\sh010\\plate\\plate.1001.exr"))
    assert e.value.code == "PLATE_INVALID"
    # before: "clip 'plate.1001.exr' has no image (size (0, 0)): is Z:\shows\...\plate.1001.exr readable?"
    assert "reads Z:\\shows\\sh010\\plate\\plate.1001.exr, a Windows path" in e.value.message, e.value.message
    assert "Find Missing Files" in e.value.message
