"""Luminance/chroma EXR plates (``Y, RY, BY``) (QA 153).

OpenImageIO shows such a file as R, G, B and decodes it when its chroma is sampled 2 x 2 (what
OpenEXR's RgbaOutputFile writes with WRITE_YC). With full-resolution chroma (what OpenImageIO itself
writes for channels named Y, RY, BY) every pixel read fails ("subsampling factors of BY ... are not
compatible"): ``samatte probe`` said R, G, B, and a run stopped at that frame with FRAME_CORRUPT
"cannot read the pixels ... (truncated or damaged?)" -- after writing the frames before it. Now the
header check refuses it (PLATE_INVALID, saying why and that the file is not damaged) before a frame is
written; 2 x 2 chroma is read as before.
"""
import os
import struct

import numpy as np
import pytest

from samatte.errors import PlateError
from samatte.io import exr

W, H = 32, 16


def _attr(name, typ, data):
    return name.encode() + b"\0" + typ.encode() + b"\0" + struct.pack("<i", len(data)) + data


def write_yc_subsampled(path, rgb):
    """An uncompressed scanline EXR with Y (full) and RY, BY sampled 2 x 2 (OpenEXR's YC layout)."""
    y = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    ry = ((rgb[..., 0] - y) / y)[::2, ::2]
    by = ((rgb[..., 2] - y) / y)[::2, ::2]
    chans = sorted([("Y", 1, y), ("RY", 2, ry), ("BY", 2, by)])
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, s, s) for n, s, _ in chans) + b"\0"
    box = struct.pack("<4i", 0, 0, W - 1, H - 1)
    header = (_attr("channels", "chlist", chlist) + _attr("compression", "compression", b"\0")
              + _attr("dataWindow", "box2i", box) + _attr("displayWindow", "box2i", box)
              + _attr("lineOrder", "lineOrder", b"\0") + _attr("pixelAspectRatio", "float", struct.pack("<f", 1))
              + _attr("screenWindowCenter", "v2f", struct.pack("<2f", 0, 0))
              + _attr("screenWindowWidth", "float", struct.pack("<f", 1)) + b"\0")
    head = struct.pack("<ii", 20000630, 2) + header
    chunks = []
    for row in range(H):
        data = b"".join(a[row // s].astype("<f2").tobytes() for _, s, a in chans if row % s == 0)
        chunks.append(struct.pack("<ii", row, len(data)) + data)
    offsets, at = [], len(head) + 8 * H
    for c in chunks:
        offsets.append(at)
        at += len(c)
    with open(path, "wb") as f:
        f.write(head + struct.pack("<%dQ" % H, *offsets) + b"".join(chunks))


def write_yc_full(path, rgb):
    """Y, RY, BY all at full resolution, as OpenImageIO writes channels so named."""
    import OpenImageIO as oiio
    y = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    pix = np.stack([y, (rgb[..., 0] - y) / y, (rgb[..., 2] - y) / y], -1).astype(np.float32)
    spec = oiio.ImageSpec(W, H, 3, "half")
    spec.channelnames = ("Y", "RY", "BY")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pix))
    out.close()


def _rgb():
    rgb = np.empty((H, W, 3), np.float32)
    rgb[:] = (0.8, 0.3, 0.1)
    return rgb


def test_subsampled_chroma_reads_as_rgb(tmp_path):
    p = str(tmp_path / "yc.exr")
    write_yc_subsampled(p, _rgb())
    np.testing.assert_allclose(exr.read_rgb(p), _rgb(), atol=2e-3)
    exr.check_header(p)


def test_full_resolution_chroma_is_refused_from_the_header(tmp_path):
    p = str(tmp_path / "yc.exr")
    write_yc_full(p, _rgb())
    with pytest.raises(PlateError) as e:
        exr.check_header(p)
    assert e.value.code == "PLATE_INVALID"
    assert "luminance/chroma" in e.value.message and "not damaged" in e.value.message
    assert "RY 1x1" in e.value.message
    with pytest.raises(PlateError):
        exr.read_frame(p)


def test_a_run_refuses_it_before_writing_any_frame(tmp_path, capfd):
    """Frames 1-2 are RGB, frame 3 is full-resolution Y, RY, BY: nothing is written."""
    import OpenImageIO as oiio
    from samatte.cli import main
    os.makedirs(tmp_path / "plate")
    os.makedirs(tmp_path / "masks")
    mask = np.zeros((H, W, 1), np.float32)
    mask[4:12, 8:20] = 1
    for f in (1, 2, 3):
        p = str(tmp_path / "plate" / ("p.%04d.exr" % f))
        if f < 3:
            exr.write_image(p, _rgb())
        else:
            write_yc_full(p, _rgb())
        assert oiio.ImageBuf(mask).write(str(tmp_path / "masks" / ("m.%04d.png" % f)), "uint8")
    out = tmp_path / "out"
    rc = main(["refine", "--plate", str(tmp_path / "plate" / "p.####.exr"),
               "--masks", str(tmp_path / "masks" / "m.####.png"), "--out", str(out / "m.####.exr"),
               "--matte", "none", "--json"])
    cap = capfd.readouterr()
    text = cap.out + cap.err
    assert rc == 3 and "PLATE_INVALID" in text and "luminance/chroma" in text
    assert not (out.exists() and any(n.endswith(".exr") for n in os.listdir(out)))
