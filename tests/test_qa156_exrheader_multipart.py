"""QA156: ``samatte.exrheader.windows(path)`` said it returned None for a multi-part EXR, but it reads the first
part's windows. Its callers (the Nuke adapter: a Source Read's format against the file's display window, a cached
render's size; the Blender add-on's own copy, ``convert.exr_windows``, sizing a clip) need the first part's: the
display window and pixel aspect are the same in every part (OpenEXR's shared attributes), so None would only lose
the check for multi-part plates. The behaviour is kept and pinned here; the docstrings now say what it does."""
import numpy as np

from samatte import exrheader
from samatte.io.exr import Window, write_parts


def _multi(path):
    disp = Window(0, 0, 64, 48)
    parts = [{"name": "beauty", "pixels": np.zeros((48, 64, 4), np.float32), "display": disp},
             {"name": "diffuse", "pixels": np.zeros((20, 30, 3), np.float32), "data": (5, 7), "display": disp,
              "channels": ["diffuse.R", "diffuse.G", "diffuse.B"]}]
    write_parts(str(path), parts, pixel_aspect=2.0)
    return str(path)


def test_windows_of_a_multi_part_exr_are_its_first_parts(tmp_path):
    path = _multi(tmp_path / "mp.exr")
    assert len(exrheader.part_attributes(path)) == 2
    win = exrheader.windows(path)
    assert win == {"display_window": (0, 0, 64, 48), "data_window": (0, 0, 64, 48), "pixel_aspect": 2.0}


def test_the_docstring_says_so():
    doc = " ".join(exrheader.windows.__doc__.split())
    assert "(single-part) EXR" not in doc            # before: "None when ... not a (single-part) EXR"
    assert "multi-part file gives its first part's" in doc


def test_the_blender_copy_agrees(tmp_path):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
    from addon_plain import plain
    convert = plain("convert")
    path = _multi(tmp_path / "mp.exr")
    assert convert.exr_windows(path) == exrheader.windows(path)
    doc = " ".join(convert.exr_windows.__doc__.split())
    assert "(single-part) EXR" not in doc and "multi-part file gives its" in doc
