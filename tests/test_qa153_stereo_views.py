"""Stereo plates as pipelines hand them over (QA 153): one EXR per frame holding both eyes.

* single-part multi-view (OpenEXR's ``multiView`` attribute, as Nuke writes a stereo Write to one file
  and as the OpenEXR Beachball ``singlepart`` images are): the default view (the first named) is stored
  unprefixed (``R, G, B``), the other as ``left.R`` ...;
* multi-part, one part per eye and pass, each with a ``view`` attribute (the Beachball ``multipart``
  images: parts ``rgba_right``, ``depth_left``, ``rgba_left``).

``--layer right`` on the first was CHANNELS_INVALID ("layer 'right' ... is not in ...; it has R, G, B,
left.R, ...") though the right eye is the file's main picture, and ``--layer left`` on the second too
(no part is *named* left): a TD scripting one job per eye could only get one eye, or had to guess part
names. A view now reads as a layer, and ``probe`` lists the views among the layers.
"""
import json
import os

import numpy as np
import pytest

from samatte.io import exr

W, H = 48, 32


def _eyes():
    """Two different pictures: a bright square left of centre (left eye), right of centre (right eye)."""
    left = np.full((H, W, 3), 0.1, np.float32)
    right = left.copy()
    left[8:24, 8:24] = (0.9, 0.5, 0.2)
    right[8:24, 20:36] = (0.9, 0.5, 0.2)
    return left, right


def _oiio():
    import OpenImageIO as oiio
    return oiio


def write_multiview(path, left, right):
    """Single-part, ``multiView = right, left``: right is the default view (unprefixed)."""
    oiio = _oiio()
    spec = oiio.ImageSpec(W, H, 6, "half")
    spec.channelnames = ("R", "G", "B", "left.R", "left.G", "left.B")
    spec.attribute("multiView", oiio.TypeDesc("string[2]"), ("right", "left"))
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(np.concatenate([right, left], -1)))
    out.close()


def write_multipart(path, left, right):
    """Parts ``rgba_right`` (view right), ``depth_left`` (view left, Z only), ``rgba_left`` (view left)."""
    oiio = _oiio()
    alpha = np.ones((H, W, 1), np.float32)
    parts = [("rgba_right", "right", ("R", "G", "B", "A"), np.concatenate([right, alpha], -1)),
             ("depth_left", "left", ("Z",), np.full((H, W, 1), 7.0, np.float32)),
             ("rgba_left", "left", ("R", "G", "B", "A"), np.concatenate([left, alpha], -1))]
    specs = []
    for name, view, chans, _ in parts:
        s = oiio.ImageSpec(W, H, len(chans), "half")
        s.channelnames = chans
        s.attribute("name", name)
        s.attribute("view", view)
        specs.append(s)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs), out.geterror()
    for k, (s, (_, _, _, pix)) in enumerate(zip(specs, parts)):
        if k:
            assert out.open(path, s, "AppendSubimage"), out.geterror()
        assert out.write_image(np.ascontiguousarray(pix)), out.geterror()
    out.close()


@pytest.mark.parametrize("writer", [write_multiview, write_multipart])
def test_each_eye_reads_as_its_view(tmp_path, writer):
    left, right = _eyes()
    p = str(tmp_path / "stereo.1001.exr")
    writer(p, left, right)
    got_left = exr.read_rgb(p, layer="left")
    got_right = exr.read_rgb(p, layer="right")
    np.testing.assert_allclose(got_left, left, atol=1e-3)
    np.testing.assert_allclose(got_right, right, atol=1e-3)
    assert {"left", "right"} <= set(exr.list_layers(p))
    # a view the file lacks is still refused, naming the views that are there
    with pytest.raises(Exception) as e:
        exr.read_rgb(p, layer="centre")
    assert getattr(e.value, "code", None) == "CHANNELS_INVALID"
    assert "views right, left" in str(e.value)


def test_layers_that_are_not_views_are_unchanged(tmp_path):
    """The part-name and ``layer.`` rules still come first: ``rgba_left`` is that part, ``left`` in the
    single-part file is ``left.R/G/B`` (not the default view), no layer is the file's main picture."""
    left, right = _eyes()
    mp = str(tmp_path / "mp.1001.exr")
    write_multipart(mp, left, right)
    np.testing.assert_allclose(exr.read_rgb(mp, layer="rgba_left"), left, atol=1e-3)
    np.testing.assert_allclose(exr.read_rgb(mp), right, atol=1e-3)   # the first part with R, G, B
    sp = str(tmp_path / "sp.1001.exr")
    write_multiview(sp, left, right)
    np.testing.assert_allclose(exr.read_rgb(sp), right, atol=1e-3)


def test_refine_and_probe_one_job_per_eye(tmp_path, capsys):
    """End to end: ``samatte probe --layer right`` and ``samatte refine --layer left/right`` on a
    single-part stereo plate: each eye's matte follows that eye's square."""
    from samatte.cli import main
    oiio = _oiio()
    left, right = _eyes()
    os.makedirs(tmp_path / "plate")
    os.makedirs(tmp_path / "masks")
    for f in (1001, 1002):
        write_multiview(str(tmp_path / "plate" / ("st.%04d.exr" % f)), left, right)
    assert main(["probe", str(tmp_path / "plate" / "st.####.exr"), "--layer", "right", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layer"] == "right" and {"left", "right"} <= set(doc["layers"])
    for eye, pic in (("left", left), ("right", right)):
        mask = (pic[..., 0] > 0.5).astype(np.float32)
        for f in (1001, 1002):
            assert oiio.ImageBuf(np.ascontiguousarray(mask[..., None])).write(
                str(tmp_path / "masks" / ("%s.%04d.png" % (eye, f))), "uint8")
        out = str(tmp_path / eye / "m.####.exr")
        rc = main(["refine", "--plate", str(tmp_path / "plate" / "st.####.exr"), "--layer", eye,
                   "--masks", str(tmp_path / "masks" / (eye + ".####.png")), "--out", out,
                   "--matte", "none", "--json"])
        capsys.readouterr()
        assert rc == 0, eye
        buf = oiio.ImageBuf(out.replace("####", "1001"))
        a = buf.get_pixels(oiio.FLOAT)[..., list(buf.spec().channelnames).index("A")]
        np.testing.assert_allclose(a, mask, atol=1e-3)
