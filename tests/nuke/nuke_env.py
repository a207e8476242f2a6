"""Test helper: put the Nuke double (tests/nuke) and the plugin (nuke_plugin) on sys.path."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLUGIN = os.path.join(REPO, "nuke_plugin")
for p in (HERE, PLUGIN):
    if p not in sys.path:
        sys.path.insert(0, p)

import nuke  # noqa: E402  (the double)
import nuke.rotopaint as rp  # noqa: E402,F401  (re-exported for the tests)


def fresh():
    nuke._reset()
    return nuke


def make_read(path, first, last, *, width, height, pixel_aspect=1.0, mode="", value="", bbox=None,
              colourspace="default"):
    """A Read as Nuke makes it for an EXR sequence: first/last in file numbers [doc: Read node]."""
    r = nuke.nodes.Read(file=path, first=first, last=last, origfirst=first, origlast=last)
    r["format"]._value = nuke.Format(width, height, pixel_aspect)
    if mode:
        r["frame_mode"].setValue(mode)
        r["frame"].setValue(str(value))
    r["colorspace"].setValue(colourspace)
    if bbox is not None:
        r._set_bbox(*bbox)
    return r


def polygon_shape(curves, polygon, t, height, *, name):
    """A Roto shape keyed on frame ``t`` through ``polygon`` (JobSpec pixels, top-left origin), its
    points flipped to Nuke's bottom-left origin."""
    shape = rp.Shape(curves, name=name)
    for X, Y in polygon:
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(t, (X, height - Y))
        shape.append(cp)
    return shape
