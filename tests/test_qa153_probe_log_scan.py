"""``samatte probe`` of a 10-bit log film scan (QA 153).

A 10-bit DPX whose header's transfer is printing density (a film scan) or logarithmic, with no
colourspace named, is read as sRGB (every integer file is); ``samatte run`` warns so
(test_qa_plate_formats), but ``samatte probe`` -- what a TD or a host checks a plate with before a job
-- said only ``read_as: sRGB (integer)``, note None: nothing said the scan is log. Now its note says so
and what to name; a DPX without a log transfer is unchanged.
"""
import json

import numpy as np
import pytest


def _dpx(path, transfer):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(np.full((8, 16, 3), 0.45, np.float32))
    buf.specmod().attribute("dpx:Transfer", transfer)
    buf.specmod().attribute("oiio:BitsPerSample", 10)
    buf.set_write_format(oiio.UINT16)
    assert buf.write(path), oiio.geterror()
    spec = oiio.ImageInput.open(path).spec()
    assert str(spec.format) == "uint16" and spec.getattribute("oiio:BitsPerSample") == 10


@pytest.mark.parametrize("transfer, words", [("Printing density", "printing density (log)"),
                                             ("Logarithmic", "logarithmic (log)")])
def test_probe_says_a_log_scan_is_read_as_srgb(tmp_path, capsys, transfer, words):
    from samatte.cli import main
    _dpx(str(tmp_path / "scan.1001.dpx"), transfer)
    assert main(["probe", str(tmp_path / "scan.####.dpx"), "--json"]) == 0
    ra = json.loads(capsys.readouterr().out)["read_as"]
    assert ra["colourspace"] == "sRGB" and ra["from"] == "integer"
    assert ra["note"] and words in ra["note"] and "--colourspace" in ra["note"]
    # the text form prints the note too
    assert main(["probe", str(tmp_path / "scan.####.dpx")]) == 0
    out = capsys.readouterr().out
    assert words in out and "sRGB (integer:" in out


def test_probe_of_a_dpx_without_a_log_transfer_is_unchanged(tmp_path, capsys):
    from samatte.cli import main
    _dpx(str(tmp_path / "video.1001.dpx"), "Unspecified video")
    assert main(["probe", str(tmp_path / "video.####.dpx"), "--json"]) == 0
    ra = json.loads(capsys.readouterr().out)["read_as"]
    assert ra == {"colourspace": "sRGB", "from": "integer", "note": None, "config": None}
