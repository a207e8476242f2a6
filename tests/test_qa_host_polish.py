"""QA, host polish: small defects the hosts (Nuke, Blender) meet.

1. ``samatte.io.writer.same_plate`` (the "made from another plate" check of ``output.keep_other_plates`` jobs, which
   the Blender add-on sets) compared the plate's folder and file names case-sensitively: on Windows a clip relinked
   as ``D:\\Shots\\SH010\\plate.####.exr`` after being rendered as ``d:\\shots\\sh010\\plate.####.exr`` was refused
   (OUTPUT_INVALID). Windows paths (a drive letter, UNC, backslashes) now compare without case; POSIX paths exactly.
"""
import numpy as np
import pytest

from samatte.io.writer import same_plate


def test_same_plate_ignores_case_where_either_path_is_a_windows_path():
    lower = "d:\\shots\\sh010\\plate.####.exr"
    assert same_plate(lower, "D:\\Shots\\SH010\\plate.####.exr")              # relinked with other case
    assert same_plate("D:/Shots/SH010/Plate.%04d.exr", lower)                  # drive letter, forward slashes
    assert same_plate("\\\\server\\Shots\\SH010\\PLATE.####.exr", "//server/shots/sh010/plate.$F4.exr")   # UNC
    assert same_plate("/mnt/shots/sh010/plate.####.exr", "Z:\\SHOTS\\SH010\\plate.####.exr")  # farm mapping
    # still two plates whatever the case
    assert not same_plate(lower, "D:\\Shots\\SH020\\plate.####.exr")
    assert not same_plate(lower, "D:\\Shots\\SH010\\plate_v2.####.exr")


def test_same_plate_keeps_posix_paths_case_sensitive():
    assert same_plate("/shots/sh010/plate.####.exr", "/mnt/shots/sh010/plate.%04d.exr")
    assert not same_plate("/shots/sh010/plate.####.exr", "/shots/SH010/plate.####.exr")
    assert not same_plate("/shots/sh010/plate.####.exr", "/shots/sh010/Plate.####.exr")


def test_a_frame_rendered_from_a_lower_case_windows_plate_is_stale_not_foreign_when_relinked(tmp_path):
    pytest.importorskip("OpenImageIO")
    from samatte.io.writer import MatteWriter
    from samatte.stages import MatteFrame, PlateInfo, Window
    info = PlateInfo(data=Window(0, 0, 8, 6), display=Window(0, 0, 8, 6), pixel_aspect=1.0)
    w = MatteWriter(str(tmp_path / "m.####.exr"), info,
                    metadata={"job": "plate", "key": "k1", "plate": "d:\\shots\\sh010\\plate.####.exr"})
    a = np.full((6, 8), 0.5, np.float32)
    w.write(MatteFrame(frame=1001, alphas={"hero": a}, alpha=a))
    status, why = w.file_problem(1001, key="k2", objects=["hero"], job="plate",
                                 plate="D:\\Shots\\SH010\\plate.####.exr")
    assert status == "stale", why          # before: "foreign", "made from another plate (d:\shots\...)"
    status, why = w.file_problem(1001, key="k2", objects=["hero"], job="plate",
                                 plate="D:\\Shots\\SH020\\plate.####.exr")
    assert status == "foreign" and "made from another plate" in why
