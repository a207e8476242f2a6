"""Nuke -> samatte conversions as plain functions: bottom-left origin, pixel aspect, overscan, frames."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

from samatte_nuke.convert import FrameMap, Geometry, apply_matrix, bezier_point, frame_offset, sample_polyline  # noqa: E402


def test_bottom_left_origin_to_top_left():
    g = Geometry(1920, 1080)
    assert g.to_job(0, 0) == (0.0, 1080.0)          # Nuke's bottom-left corner
    assert g.to_job(1920, 1080) == (1920.0, 0.0)    # top-right corner
    # centre of Nuke pixel (10, 0) (bottom row) = centre of JobSpec row 1079
    assert g.to_job(10.5, 0.5) == (10.5, 1079.5)
    assert g.to_nuke(*g.to_job(123.25, 456.75)) == (123.25, 456.75)


def test_pixel_aspect_two_keeps_stored_pixels():
    g = Geometry(1024, 858, pixel_aspect=2.0)   # anamorphic: shown 2048 wide
    X, Y = g.to_job(100, 858 - 20)
    assert (X, Y) == (100.0, 20.0)               # x is not scaled by the pixel aspect
    assert g.describe()["pixel_aspect"] == 2.0


def test_overscan_bbox_and_points_outside_the_format():
    g = Geometry(100, 50, bbox=(-10, -5, 120, 60))   # 10 px overscan left/right, 5 px bottom/top
    assert g.data_window_job() == [-10.0, -5.0, 110.0, 55.0]
    X, Y = g.to_job(-8, -3)                       # in the overscan, below and left of the format
    assert (X, Y) == (-8.0, 53.0)
    assert g.contains_job(X, Y)
    assert not g.contains_job(*g.to_job(-20, 10))
    inner = Geometry(100, 50, bbox=(10, 10, 20, 20))  # data window inside the format
    assert inner.data_window_job() == [10.0, 20.0, 30.0, 40.0]
    assert inner.contains_job(5, 5)               # the format itself still counts


def test_read_frame_modes_to_file_numbers():
    assert frame_offset("", "", 1001) == 0
    assert frame_offset("offset", "-1000", 1001) == -1000     # file 1001 shown at frame 1
    assert frame_offset("start at", "1", 1001) == -1000       # first file frame at 1
    assert frame_offset("start at", "1001", 1) == 1000
    assert frame_offset("expression", "frame*2", 1) is None
    assert frame_offset("offset", "2.5", 1) is None
    fm = FrameMap(-1000)
    assert fm.to_file(1) == 1001 and fm.to_script(1005) == 5
    assert fm.files([1, 2, 3]) == [1001, 1002, 1003]


def test_relative_tangents_become_absolute_handles():
    g = Geometry(200, 100)
    row = bezier_point((50, 40), (-10, 0), (10, 5), None, g)
    assert row == [50.0, 60.0, 40.0, 60.0, 60.0, 55.0]
    # a translation moves the centre and both handles
    m = [1, 0, 0, 7, 0, 1, 0, -3, 0, 0, 1, 0, 0, 0, 0, 1]
    row = bezier_point((50, 40), (-10, 0), (10, 5), m, g)
    assert row == [57.0, 63.0, 47.0, 63.0, 67.0, 58.0]


def test_matrix_rotation_and_projective():
    rot = [0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]    # 90 degrees
    assert apply_matrix(rot, 1, 0) == (0, 1)
    proj = [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2]
    assert apply_matrix(proj, 3, 4) == pytest.approx((3, 4))


def test_sample_polyline_even_by_length():
    pts = sample_polyline([(0, 0), (10, 0), (10, 10)], 5)
    assert pts[0] == (0.0, 0.0) and pts[-1] == (10.0, 10.0)
    assert pts[2] == pytest.approx((10.0, 0.0))
    assert len(pts) == 5


def test_geometry_from_node_accepts_box_objects_and_missing_bbox():
    class Fmt:
        def width(self):
            return 64

        def height(self):
            return 32

        def pixelAspect(self):
            return 1.0

    class Box:
        def x(self):
            return -2

        def y(self):
            return -1

        def w(self):
            return 68

        def h(self):
            return 34

    class N:
        def __init__(self, bbox):
            self._b = bbox

        def format(self):
            return Fmt()

        def bbox(self):
            if self._b is None:
                raise RuntimeError("no image")
            return self._b

    assert Geometry.from_node(N(Box())).bbox == (-2.0, -1.0, 68.0, 34.0)
    assert Geometry.from_node(N([0, 0, 64, 32])).bbox == (0.0, 0.0, 64.0, 32.0)
    assert Geometry.from_node(N(None)).bbox == (0.0, 0.0, 64.0, 32.0)
