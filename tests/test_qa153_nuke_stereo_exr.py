"""A stereo EXR (both eyes in one file) under the SAMatte node in a stereo Nuke script (QA 153).

Nuke reads a multi-view EXR (single-part ``multiView``, or one part per view with a ``view``
attribute) and shows each view's picture on that view of a stereo script, as a Read with ``%V`` in its
file name does. ``%V`` Reads and JoinViews were refused ("put a OneView node"), but a Read of such a file
was used as the plate as it is: the worker read the file's default view and the node showed that matte
on the left and the right eye alike (the other eye's matte off by the disparity, silently). Now it is
refused the same way in a script with several views; a mono script (one view) still uses the Read.

``samatte.exrheader.views`` (stdlib, what the adapter reads) is checked against OpenImageIO.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte import exrheader  # noqa: E402
from samatte.errors import SamatteError  # noqa: E402
from samatte_nuke import node as snode  # noqa: E402

W, H = 64, 48


def _oiio():
    import OpenImageIO as oiio
    return oiio


def _write_multiview(path, views=("left", "right")):
    oiio = _oiio()
    spec = oiio.ImageSpec(W, H, 6, "half")
    spec.channelnames = ("R", "G", "B", "%s.R" % views[1], "%s.G" % views[1], "%s.B" % views[1])
    spec.attribute("multiView", oiio.TypeDesc("string[%d]" % len(views)), tuple(views))
    pix = np.full((H, W, 6), 0.2, np.float32)
    pix[10:30, 10:30, :3] = 0.9
    pix[10:30, 20:40, 3:] = 0.9
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec), out.geterror()
    assert out.write_image(pix)
    out.close()


def _write_parts(path, parts):
    """``parts``: [(name, view or None)], each R, G, B."""
    oiio = _oiio()
    specs = []
    for name, view in parts:
        s = oiio.ImageSpec(W, H, 3, "half")
        s.attribute("name", name)
        if view:
            s.attribute("view", view)
        specs.append(s)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs), out.geterror()
    for k, s in enumerate(specs):
        if k:
            assert out.open(path, s, "AppendSubimage"), out.geterror()
        assert out.write_image(np.full((H, W, 3), 0.1 * (k + 1), np.float32))
    out.close()


def _oiio_views(path):
    inp = _oiio().ImageInput.open(path)
    out, i = [], 0
    try:
        while inp.seek_subimage(i, 0):
            spec = inp.spec()
            for v in tuple(spec.getattribute("multiView") or ()) + ((spec.getattribute("view"),)
                                                                      if spec.getattribute("view") else ()):
                if v not in out:
                    out.append(v)
            i += 1
    finally:
        inp.close()
    return out


def test_exrheader_views_agree_with_openimageio(tmp_path):
    cases = {
        "mv.exr": lambda p: _write_multiview(p, ("right", "left")),
        "mv3.exr": lambda p: _write_multiview(p, ("hero", "left", "right")),
        "parts.exr": lambda p: _write_parts(p, [("rgba_right", "right"), ("rgba_left", "left")]),
        "aovs.exr": lambda p: _write_parts(p, [("rgba", None), ("diffuse", None)]),
    }
    for name, write in cases.items():
        p = str(tmp_path / name)
        write(p)
        assert exrheader.views(p) == _oiio_views(p), name
    assert exrheader.views(str(tmp_path / "mv.exr")) == ["right", "left"]
    assert exrheader.views(str(tmp_path / "aovs.exr")) == []
    assert exrheader.views(str(tmp_path / "missing.exr")) == []
    (tmp_path / "not.exr").write_bytes(b"not an exr")
    assert exrheader.views(str(tmp_path / "not.exr")) == []


@pytest.fixture()
def nk():
    return nuke_env.fresh()


def _node(nk, source, tmp_path):
    roto = nk.nodes.Roto()
    roto.setInput(0, source)
    s = rp.Shape(roto["curves"], name="B")
    for x, y in ((12, 10), (40, 12), (30, 40)):
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(1, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    g = snode.create()
    g.setInput(0, source)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return g


@pytest.mark.parametrize("layout", ["multiview", "parts"])
def test_a_stereo_exr_read_is_refused_in_a_stereo_script(nk, tmp_path, layout):
    os.makedirs(tmp_path / "plate")
    for f in (1, 2, 3):
        p = str(tmp_path / "plate" / ("st.%04d.exr" % f))
        if layout == "multiview":
            _write_multiview(p)
        else:
            _write_parts(p, [("rgba.left", "left"), ("rgba.right", "right")])
    read = nuke_env.make_read(str(tmp_path / "plate" / "st.####.exr"), 1, 3, width=W, height=H)
    g = _node(nk, read, tmp_path)
    # a mono script: the Read shows one picture, used as the plate as it is (as before)
    job, _ = snode.build(g)
    assert job["plate"]["path"].endswith("st.####.exr")
    # a stereo script: each view shows its own eye; refused, naming the Read and what to do
    nk._state["views"] = ["left", "right"]
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    assert e.value.code == "PLATE_INVALID"
    msg = e.value.message
    assert read.name() in msg and "stereo EXR" in msg and "left, right" in msg and "OneView" in msg
    assert not nk._state["executed"]
    # one view picked: the node mattes that picture (rendered through the OneView)
    def render(w, first, last):   # what the node's Write renders: the OneView's picture
        from samatte.io.exr import write_image
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            write_image(out, np.full((H, W, 3), 0.3, np.float32), channels=("R", "G", "B"))
    nk._set_render_hook(render)
    one = nk.nodes.OneView()
    one.setInput(0, read)
    g.setInput(0, one)
    job, _ = snode.build(g)
    assert "/plate_" in job["plate"]["path"].replace("\\", "/")


def test_a_plain_exr_read_in_a_stereo_script_is_used_as_it_is(nk, tmp_path):
    """A mono plate (no views in the file) shows the same picture on every view: nothing to refuse."""
    os.makedirs(tmp_path / "plate")
    for f in (1, 2, 3):
        _write_parts(str(tmp_path / "plate" / ("pl.%04d.exr" % f)), [("rgba", None)])
    nk._state["views"] = ["left", "right"]
    read = nuke_env.make_read(str(tmp_path / "plate" / "pl.####.exr"), 1, 3, width=W, height=H)
    job, _ = snode.build(_node(nk, read, tmp_path))
    assert job["plate"]["path"].endswith("pl.####.exr")
