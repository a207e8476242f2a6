"""Plates that are not half/float EXR, as compositors have them (QA): DPX, TIFF, PNG, JPEG, greyscale,
odd channel sets; what probe reports and how a run reads and records them. Tiny synthetic images."""
import numpy as np

from samatte.io.exr import write_image


def _grey(h=6, w=8, v=0.5):
    return np.full((h, w, 3), v, np.float32)


def test_probe_reports_the_header_colourspace_not_oiios_exr_guess(tmp_path):
    """``samatte probe`` said ``colourspace: "lin_rec709"`` for every EXR: OpenImageIO puts that guess in
    ``oiio:ColorSpace`` whatever the header says, and probe read it before the header's own
    attributes, so an ACEScg plate (``colorSpace: ACEScg``) or a Blender 5 render (``colorInteropID``)
    was reported as Rec.709-linear, and an EXR that names none as if its header named one. Now the
    header's attribute, None for an EXR without one; a PNG's sRGB (from the file) is still reported."""
    from samatte.pipeline import probe
    cases = {"none": ({}, None), "cs": ({"colorSpace": "ACEScg"}, "ACEScg"),
             "interop": ({"colorInteropID": "lin_ap1_scene"}, "lin_ap1_scene")}
    for name, (meta, want) in cases.items():
        write_image(str(tmp_path / ("%s.1001.exr" % name)), _grey(), metadata=meta)
        got = probe(str(tmp_path / ("%s.####.exr" % name)))["colourspace"]
        assert got == want, (name, got)
    write_image(str(tmp_path / "p.1001.png"), _grey(), pixel_type="uint8")
    assert probe(str(tmp_path / "p.####.png"))["colourspace"] == "sRGB"
