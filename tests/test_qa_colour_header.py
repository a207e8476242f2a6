"""Scene-linear EXR plates whose header says what they are (QA). A job that names no colourspace read
every float plate as the OCIO config's scene_linear (ACEScg in ocio://default), whatever its header
said: a Blender 4.4+ render (``colorInteropID: lin_rec709_scene``), a renderer's Rec.709 / P3 / Rec.2020
``chromaticities``, an ACES container (AP0 + ``acesImageContainerFlag``). Now the first frame's header
decides when the config resolves it; the job's colourspace still wins; an unresolvable header warns and
keeps the old reading; the result, probe and the cache key say what the plate was read as.
Tiny synthetic images."""
import json
import logging
import os

import numpy as np
import pytest

REC709 = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
P3D65 = (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290)
REC2020 = (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290)
AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770, 0.32168, 0.33767)
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
AWG3 = (0.684, 0.313, 0.221, 0.848, 0.0861, -0.102, 0.3127, 0.3290)   # ARRI Wide Gamut 3: no config name


def _pixels(h=12, w=16):
    """A saturated orange disc on a blue-green background (linear light): the display images of its
    readings differ."""
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((xx - 8) ** 2 + (yy - 6) ** 2 < 16)[..., None]
    return np.where(disc, np.float32([0.9, 0.25, 0.02]), np.float32([0.03, 0.2, 0.35])).astype(np.float32)


def _write(path, attrs=(), pixels=None):
    """A half-float RGB EXR with header attributes ``attrs``: (name, OIIO type or None, value)."""
    import OpenImageIO as oiio
    px = _pixels() if pixels is None else pixels
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], 3, oiio.HALF)
    spec.attribute("compression", "zip")
    for name, typ, value in attrs:
        if typ is None:
            spec.attribute(name, value)
        else:
            spec.attribute(name, oiio.TypeDesc(typ), value)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(px))
    out.close()
    return str(path)


def _chroma(xy):
    return [("chromaticities", "float[8]", tuple(xy))]


CASES = {
    "interop": ([("colorInteropID", None, "lin_rec709_scene")], "Linear Rec.709 (sRGB)"),
    "colorspace": ([("colorSpace", None, "ACES2065-1")], "ACES2065-1"),
    "alias": ([("colorSpace", None, "lin_p3d65")], "Linear P3-D65"),
    "rec709": (_chroma(REC709), "Linear Rec.709 (sRGB)"),
    "p3": (_chroma(P3D65), "Linear P3-D65"),
    "rec2020": (_chroma(REC2020), "Linear Rec.2020"),
    "ap1": (_chroma(AP1), "ACEScg"),
    "aces_container": (_chroma(AP0) + [("acesImageContainerFlag", "int", 1)], "ACES2065-1"),
    "none": ([], "ACEScg"),
}


def _job(tmp_path, plate, colourspace=None, ocio=None, tag="o"):
    from samatte import jobspec
    from samatte.io.exr import write_image
    yy, xx = np.mgrid[0:12, 0:16]
    mask = ((xx - 8) ** 2 + (yy - 6) ** 2 < 20).astype(np.float32)
    write_image(str(tmp_path / "m.1001.png"), mask, channels=["Y"], pixel_type="uint8")
    job = jobspec.new_job(str(plate), str(tmp_path / tag / "o.####.exr"), frames="1001",
                          colourspace=colourspace, ocio_config=ocio, matte="none")
    jobspec.add_object(job, "disc", masks=str(tmp_path / "m.####.png"))
    return jobspec.validate(job)


def test_header_names_what_a_float_plate_is_read_as(tmp_path):
    """Each header attribute (interop ID, colorSpace name or alias, chromaticities of Rec.709 / P3-D65 /
    Rec.2020 / AP1, an ACES container's AP0 + flag): the plate is read in the config's colourspace for
    it, in the transform a run makes (plate_colour), in probe's read_as and in the display image;
    before, every one was ACEScg. A header that says nothing: ACEScg, as before."""
    from samatte.colour import ColourTransform
    from samatte.io.source import FrameSource
    from samatte.pipeline import plate_colour, probe
    for name, (attrs, want) in CASES.items():
        _write(tmp_path / ("%s.1001.exr" % name), attrs)
        pattern = str(tmp_path / ("%s.####.exr" % name))
        colour = plate_colour({"path": pattern, "colourspace": None, "ocio_config": None}, 1001)
        assert colour.colourspace == want, (name, colour.colourspace)
        assert colour.colourspace_from == ("scene_linear" if name == "none" else "header"), name
        ra = probe(pattern)["read_as"]
        assert (ra["colourspace"], ra["from"]) == (want, colour.colourspace_from), (name, ra)
        # the display image is the one of the plate named in that colourspace explicitly
        with FrameSource(pattern, [1001], colour=colour, readahead=0) as src:
            got = np.array(src.get(1001).display)
        with FrameSource(pattern, [1001], colour=ColourTransform(colourspace=want), readahead=0) as src:
            np.testing.assert_array_equal(got, src.get(1001).display)
    assert probe(str(tmp_path / "rec709.####.exr"))["chromaticities"] == pytest.approx(list(REC709), abs=1e-6)
    assert probe(str(tmp_path / "none.####.exr"))["chromaticities"] is None


def test_other_configs_resolve_by_alias_not_by_one_configs_names(tmp_path):
    """A config without interop IDs (the OCIO 2.1 ACES CG config) resolves a Blender 4.4 render's
    ``lin_rec709_scene`` by its older alias and chromaticities by the shared aliases; Blender's bundled
    configs (where reachable) by their own names for those aliases."""
    from samatte.pipeline import plate_colour
    p709 = _write(tmp_path / "a.1001.exr", [("colorInteropID", None, "lin_rec709_scene")])
    p2020 = _write(tmp_path / "b.1001.exr", _chroma(REC2020))
    configs = {"ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1": ("Linear Rec.709 (sRGB)", "Linear Rec.2020")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for venv, ver in ((".venv-bpy50", "5.0"), (".venv-bpy42", "4.2")):
        cfg = os.path.join(root, venv, "lib", "python3.11", "site-packages", "bpy", ver, "datafiles",
                           "colormanagement", "config.ocio")
        if os.path.isfile(cfg):
            configs[cfg] = ("Linear Rec.709", "Linear Rec.2020")
    for cfg, (want709, want2020) in configs.items():
        for path, want in ((p709, want709), (p2020, want2020)):
            pat = path.replace("1001", "####")
            got = plate_colour({"path": pat, "colourspace": None, "ocio_config": cfg}, 1001)
            assert (got.colourspace, got.colourspace_from) == (want, "header"), (cfg, path, got.colourspace)


def test_named_colourspace_wins_over_the_header(tmp_path):
    """``plate.colourspace`` (``--colourspace``) decides, whatever the header says."""
    from samatte.pipeline import run
    plate = _write(tmp_path / "p.1001.exr", [("colorInteropID", None, "lin_rec709_scene")] + _chroma(REC709))
    res = run(_job(tmp_path, plate.replace("1001", "####"), colourspace="ACEScg"))
    assert res["plate"]["colourspace"] == "ACEScg" and res["colour"]["colourspace_from"] == "job", res["colour"]


def test_unresolvable_header_warns_once_and_keeps_scene_linear(tmp_path, caplog):
    """A header naming a colourspace the config does not have (``colorSpace: ARRI LogC4``), or primaries
    of no known gamut (ARRI Wide Gamut 3): read as the config's scene_linear, as before, with one
    warning naming the file, what the header says and the fix; a header that says nothing: no warning."""
    from samatte.pipeline import run
    for name, attrs in (("logc", [("colorSpace", None, "ARRI LogC4 AWG4")]), ("awg", _chroma(AWG3)),
                        ("plain", [])):
        plate = _write(tmp_path / ("%s.1001.exr" % name), attrs)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="samatte"):
            res = run(_job(tmp_path, plate.replace("1001", "####"), tag=name))
        assert res["plate"]["colourspace"] == "ACEScg", (name, res["plate"])
        assert res["colour"]["colourspace_from"] == "scene_linear"
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        if name == "plain":
            assert not warned, warned
            continue
        assert len(warned) == 1, warned
        assert "%s.1001.exr" % name in warned[0] and "--colourspace" in warned[0] and "ACEScg" in warned[0], warned
        assert ("ARRI LogC4 AWG4" in warned[0]) if name == "logc" else ("chromaticities" in warned[0]), warned


def test_cache_key_follows_the_header(tmp_path):
    """The first frame's header decides how every frame is read, so it is in every frame's key: a
    header rewritten to say another colourspace (pixels and mtime kept) makes every frame stale, not
    silently reused; a plate whose header says nothing keeps the key it had (no header record)."""
    from samatte.cachekey import frame_keys
    from samatte.exrheader import colour_attributes
    res = {"tracker": "masks", "model": None, "model_sha256": None, "matte": "none"}
    p1 = _write(tmp_path / "p.1001.exr", _chroma(REC709))
    _write(tmp_path / "p.1002.exr", _chroma(REC709))
    job = _job(tmp_path, str(tmp_path / "p.####.exr"))
    job["plate"]["frames"] = "1001-1002"
    before = frame_keys(job, resolved=res)
    st = os.stat(p1)
    _write(p1, _chroma(AP1))
    os.utime(p1, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.path.getsize(p1) == st.st_size
    after = frame_keys(job, resolved=res)
    for f in (1001, 1002):
        assert after[f]["matte"] != before[f]["matte"], f
    # the job's colourspace decides: the header is not in the key then
    named = dict(job, plate=dict(job["plate"], colourspace="ACEScg"))
    k1 = frame_keys(named, resolved=res)
    _write(p1, _chroma(REC709))
    os.utime(p1, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert frame_keys(named, resolved=res) == k1
    # nothing in the header: nothing in the key (the keys of existing plates do not move)
    _write(tmp_path / "q.1001.exr")
    assert colour_attributes(str(tmp_path / "q.1001.exr")) == {}


def test_bench_and_demo_plates_carry_no_colour_attributes(tmp_path):
    """The benches' plates (bench_stills.write_plate) and the demo's say nothing about their colour:
    their readings (and figures) do not change."""
    import sys
    from samatte.exrheader import colour_attributes
    from samatte.io.exr import write_image
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "bench"))
    try:
        from bench_stills import write_plate
    finally:
        sys.path.remove(os.path.join(root, "bench"))
    write_plate(np.full((4, 4, 3), 0.5, np.float32), str(tmp_path / "b.exr"))
    # the demo's plate, as samatte.demo.make_shot writes it
    write_image(str(tmp_path / "d.exr"), _pixels(), channels=("R", "G", "B"), pixel_type="half",
                metadata={"samatte/demo": "plate"})
    for p in ("b.exr", "d.exr"):
        assert colour_attributes(str(tmp_path / p)) == {}, p


def test_refine_reports_a_rec709_tagged_plate(tmp_path):
    """End to end: ``samatte refine --plate`` (no ``--colourspace``) on a Blender-style Rec.709 render:
    the result says it read the plate as Linear Rec.709 from its header, and its matte is the one of
    the same job naming that colourspace (before: read as ACEScg)."""
    from samatte.io.exr import write_image
    plate = _write(tmp_path / "r.1001.exr", [("colorInteropID", None, "lin_rec709_scene")] + _chroma(REC709))
    yy, xx = np.mgrid[0:12, 0:16]
    write_image(str(tmp_path / "m.1001.png"), ((xx - 8) ** 2 + (yy - 6) ** 2 < 20).astype(np.float32),
                channels=["Y"], pixel_type="uint8")

    def refine(out, *extra):
        import subprocess
        import sys
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        r = subprocess.run([sys.executable, "-m", "samatte", "refine", "--plate", plate.replace("1001", "####"),
                            "--masks", str(tmp_path / "m.####.png"), "--out", str(tmp_path / out / "o.####.exr"),
                            "--quality", "draft", "--json", *extra], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
        return [m for m in lines if m.get("type") == "result"][-1]["result"]

    got = refine("tagged")
    assert got["plate"]["colourspace"] == "Linear Rec.709 (sRGB)", got["plate"]
    assert got["colour"]["colourspace_from"] == "header", got["colour"]
    named = refine("named", "--colourspace", "Linear Rec.709 (sRGB)")
    import OpenImageIO as oiio
    a = oiio.ImageBuf(got["written"][0]).get_pixels(oiio.FLOAT)
    b = oiio.ImageBuf(named["written"][0]).get_pixels(oiio.FLOAT)
    np.testing.assert_array_equal(a, b)


def test_qc_sheet_shows_the_plate_as_the_job_read_it(tmp_path):
    """``samatte qc``'s contact sheet shows a header-tagged plate in the colourspace the run read it in
    (its display image), not the config's scene_linear reading."""
    from samatte.colour import ColourTransform
    from samatte.farm.qc import _display_plate
    from samatte.io.source import FrameSource
    plate = _write(tmp_path / "p.1001.exr", _chroma(REC709))
    job = _job(tmp_path, plate.replace("1001", "####"))
    got = _display_plate(job, 1001, (12, 16))
    with FrameSource(job["plate"]["path"], [1001], colour=ColourTransform(colourspace="Linear Rec.709 (sRGB)"),
                     readahead=0) as src:
        want = np.clip(np.array(src.get(1001).display), 0, 1)
    np.testing.assert_array_equal(got, want)

