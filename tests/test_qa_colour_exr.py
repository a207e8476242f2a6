"""Scene-linear colour and EXR edge cases end to end (QA): what a Nuke or Blender host hands over —
multi-part EXRs, integer plates with a named colourspace, ... Tiny synthetic images made here."""
import numpy as np

from samatte.io.exr import write_parts
from samatte.stages import Window


def test_probe_of_a_multipart_layer_describes_that_part(tmp_path):
    """``probe --layer beauty`` on a multi-part EXR reported the windows, channels and pixel type of
    the file's *last* part (OIIO's current subimage after the layer lookup), not of the part the job
    reads, and listed no part names as layers: a host sizing its canvas from probe got the wrong data
    window. Now probe describes the part a job with that layer reads."""
    from samatte.io.exr import read_info
    from samatte.pipeline import probe
    img = np.ones((10, 12, 3), np.float32)
    disp = Window(0, 0, 12, 10)
    path = tmp_path / "p.1001.exr"
    write_parts(str(path), [
        {"pixels": img, "channels": ["R", "G", "B"], "name": "rgba", "display": disp},
        {"pixels": img[:4, :5], "channels": ["R", "G", "B"], "name": "beauty", "data": Window(3, 2, 5, 4),
         "display": disp, "pixel_type": "float"},
        {"pixels": img[:, :, :1], "channels": ["depth.Z"], "name": "depth", "display": disp},
    ])
    pattern = str(tmp_path / "p.####.exr")
    for layer, data, ptype in ((None, [0, 0, 12, 10], "half"), ("beauty", [3, 2, 5, 4], "float")):
        p = probe(pattern, layer=layer)
        info = read_info(str(path), layer=layer)
        assert p["data_window"] == data == [info.data.x, info.data.y, info.data.width, info.data.height], layer
        assert p["display_window"] == [0, 0, 12, 10]
        assert p["channels"] == ["R", "G", "B"] and p["pixel_type"] == ptype == info.pixel_type, (layer, p)
        assert p["layers"] == ["beauty", "depth", "rgba"], p["layers"]
