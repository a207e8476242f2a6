"""Colourspace names and configs exactly as each host hands them over (QA, third colour pass).

* OCIO v1 configs (Nuke's nuke-default and aces_1.2) and Blender's bundled config give their
  colourspaces no ``encoding``: a float plate in sRGB, Cineon, AgX Log there is not scene-linear
  light, and must be decoded as one the config marks log or video is.
* Nuke's Read shows its file-type default as ``default (X)`` (Foundry: "When the default option is
  selected, the color transform that Nuke has set for it is listed in brackets"; Foundry's own
  flipbook code takes ``X`` out of it): the files are in X, in the project's config.

Tiny plates and configs made here (a nuke-default-like v1 config with its LUT beside it, as
``search_path: luts``).
"""
import os

import numpy as np
import pytest

from samatte.io.exr import write_image


def _srgb_decode(v):
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _nuke_default(folder):
    """A config shaped as Nuke's nuke-default (OCIO v1, ``search_path: luts``, no encodings): linear,
    sRGB (a 1D LUT file), raw; display ``default``. Returns its path."""
    luts = folder / "luts"
    luts.mkdir(parents=True)
    x = np.linspace(0.0, 1.0, 4096)
    (luts / "srgb.spi1d").write_text("Version 1\nFrom 0.0 1.0\nLength 4096\nComponents 1\n{\n"
                                     + "\n".join("%.9f" % v for v in _srgb_decode(x)) + "\n}\n")
    cfg = folder / "config.ocio"
    cfg.write_text("""ocio_profile_version: 1
search_path: luts
strictparsing: true
luma: [0.2126, 0.7152, 0.0722]
roles:
  color_picking: sRGB
  data: raw
  reference: linear
  scene_linear: linear
displays:
  default:
    - !<View> {name: sRGB, colorspace: sRGB}
    - !<View> {name: raw, colorspace: raw}
active_displays: [default]
active_views: [sRGB, raw]
colorspaces:
  - !<ColorSpace>
    name: linear
    family: linear
    bitdepth: 32f
    isdata: false
  - !<ColorSpace>
    name: sRGB
    family: sRGB
    bitdepth: 32f
    isdata: false
    to_reference: !<FileTransform> {src: srgb.spi1d, interpolation: linear}
  - !<ColorSpace>
    name: raw
    family: raw
    bitdepth: 32f
    isdata: true
""")
    return cfg


@pytest.fixture()
def nuke_default(tmp_path):
    return _nuke_default(tmp_path / "nuke-default")


def _code_plate(tmp_path):
    """A float EXR of sRGB code values (what an sRGB-encoded EXR holds) and the code values."""
    code = np.empty((6, 8, 3), np.float32)
    code[:] = [0.5, 0.25, 0.75]
    code[2:4, 2:6] = [0.9, 0.1, 0.04]
    path = tmp_path / "plate" / "p.1001.exr"
    path.parent.mkdir()
    write_image(str(path), code, channels=["R", "G", "B"], pixel_type="float")
    return str(tmp_path / "plate" / "p.####.exr"), code


def test_v1_config_srgb_float_plate_is_decoded_to_scene_linear(tmp_path, nuke_default, monkeypatch):
    """A float EXR named ``sRGB`` in a nuke-default-like (v1) config kept its code values as the plate's
    "linear" pixels (0.5 taken for light 0.5, not 0.214): v1 configs have no encodings, and only an
    encoding marked a colourspace non-linear. The conversion to scene_linear is now measured when the
    config does not say. Read from another folder: the config's LUT is found by its search_path."""
    from samatte.colour import ColourTransform
    from samatte.io.source import FrameSource
    pattern, code = _code_plate(tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    ct = ColourTransform(str(nuke_default), "sRGB")
    assert ct.nonlinear
    with FrameSource(pattern, "1001", colour=ct) as src:
        plate = src.get(1001)
    np.testing.assert_allclose(plate.linear, _srgb_decode(code), atol=2e-4)
    np.testing.assert_allclose(plate.display, code, atol=2e-3)       # the display image: what is on disk
    for cs in ("linear", "raw", None):                                 # linear light and data: as stored
        t = ColourTransform(str(nuke_default), cs)
        assert not t.nonlinear
        with FrameSource(pattern, "1001", colour=t) as src:
            np.testing.assert_array_equal(src.get(1001).linear, code)


def test_encodings_still_decide_where_the_config_gives_them():
    """The built-in ACES config marks its encodings: they decide as before (ACEScct log, sRGB Encoded
    video, ACEScg / Linear Rec.709 / Raw kept as stored)."""
    from samatte.colour import ColourTransform
    nl = {cs: ColourTransform(None, cs).nonlinear for cs in
          ("ACEScct", "sRGB Encoded Rec.709 (sRGB)", "ACEScg", "Linear Rec.709 (sRGB)", "Raw", "ACES2065-1")}
    assert nl == {"ACEScct": True, "sRGB Encoded Rec.709 (sRGB)": True, "ACEScg": False,
                  "Linear Rec.709 (sRGB)": False, "Raw": False, "ACES2065-1": False}


BLENDER_CONFIGS = sorted(
    p for p in (os.path.join(os.path.dirname(__file__), "..", ".venv-bpy%s" % v, "lib", "python3.11",
                             "site-packages", "bpy", d, "datafiles", "colormanagement", "config.ocio")
                for v, d in (("50", "5.0"), ("42", "4.2")))
    if os.path.isfile(p))


@pytest.mark.skipif(not BLENDER_CONFIGS, reason="no .venv-bpy50 / .venv-bpy42 (Blender's bundled config)")
@pytest.mark.parametrize("config", BLENDER_CONFIGS)
def test_blender_config_names_nonlinear_as_blender_decodes_them(config):
    """Blender's bundled config (5.0.1, 4.2.23) gives no encodings: sRGB, AgX Log, Filmic Log were taken
    for linear light. Blender itself decodes a float EXR in them to Linear Rec.709 on loading (measured
    in tests/blender/test_qa_blender6.py)."""
    from samatte.colour import ColourTransform
    got = {cs: ColourTransform(config, cs).nonlinear for cs in
           ("sRGB", "AgX Log", "Filmic Log", "Linear Rec.709", "ACEScg", "Non-Color", "Linear CIE-XYZ E")}
    assert got == {"sRGB": True, "AgX Log": True, "Filmic Log": True, "Linear Rec.709": False,
                   "ACEScg": False, "Non-Color": False, "Linear CIE-XYZ E": False}


# --- Nuke: the Read's colorspace knob as Nuke shows it ----------------------------------------------

@pytest.fixture()
def nk(monkeypatch):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
    import nuke_env
    monkeypatch.delenv("OCIO", raising=False)
    nuke = nuke_env.fresh()
    renders = []
    nuke._set_render_hook(lambda w, first, last: renders.append((w["file"].value(), first, last)))
    nuke._renders = renders
    return nuke


def _comp(nuke, tmp_path, pattern, colourspace):
    """Read (a 8x6 EXR plate, 1001) -> SAMatte <- Roto (a triangle on frame 1001)."""
    import nuke_env
    from nuke_env import rp
    from samatte_nuke import node as snode
    read = nuke_env.make_read(pattern, 1001, 1001, width=8, height=6, colourspace=colourspace)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    s = rp.Shape(roto["curves"], name="B")
    for x, y in ((1, 1), (7, 1), (4, 5)):
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(1001, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return read, g


@pytest.mark.parametrize("knob, expected", [("default (linear)", "linear"), ("default (sRGB)", "sRGB"),
                                            ("linear", "linear"), ("sRGB", "sRGB")])
def test_a_read_on_its_file_type_default_names_that_colourspace(nk, tmp_path, nuke_default, knob, expected):
    """A Read left on ``default (linear)`` (what Nuke shows for an EXR in nuke-default) went into the job
    with no colourspace and no config: samatte read the Rec.709-linear plate as ACEScg (its built-in
    default), and the model saw it re-saturated: linear (0.8, 0.1, 0.05) shown as (1.0, 0.096, 0.174)
    instead of Nuke's (0.906, 0.349, 0.248). The bracketed default is now the Read's colourspace, with
    the project's config, as if the artist had picked it."""
    from samatte.colour import ColourTransform
    from samatte_nuke import node as snode
    pattern, code = _code_plate(tmp_path)
    read, g = _comp(nk, tmp_path, pattern, knob)
    nk.root()["OCIOConfigPath"].setValue(str(nuke_default))
    job, _ = snode.build(g)
    assert (job["plate"]["colourspace"], job["plate"]["ocio_config"]) == (expected, str(nuke_default))
    ct = ColourTransform(job["plate"]["ocio_config"], job["plate"]["colourspace"])
    px = np.array([[[0.8, 0.1, 0.05]]], np.float32)
    want = px if expected == "sRGB" else np.array([[[0.906, 0.349, 0.248]]], np.float32)
    np.testing.assert_allclose(ct.to_display(px), want, atol=2e-3)


def test_a_read_default_without_a_known_config_keeps_samatte_s_default(nk, tmp_path):
    """No project config file to name (Nuke 13 and older, or the path missing): ``default (linear)`` keeps
    the job as before (samatte's default), never a name samatte's config lacks (COLOUR_INVALID); plain
    ``default`` and ``raw data`` name nothing."""
    from samatte_nuke import node as snode
    pattern, _ = _code_plate(tmp_path)
    for knob, raw in (("default (linear)", False), ("default", False), ("default (sRGB)", True)):
        read, g = _comp(nk, tmp_path, pattern, knob)
        read["raw"].setValue(raw)
        job, _ = snode.build(g)
        # samatte's default reading, named (the scene_linear role) so the plate's header does not decide
        assert (job["plate"]["colourspace"], job["plate"]["ocio_config"]) == ("scene_linear", None), knob


def test_a_read_default_with_raw_data_names_nothing_even_with_a_config(nk, tmp_path, nuke_default):
    from samatte_nuke import node as snode
    pattern, _ = _code_plate(tmp_path)
    read, g = _comp(nk, tmp_path, pattern, "default (sRGB)")
    nk.root()["OCIOConfigPath"].setValue(str(nuke_default))
    read["raw"].setValue(True)
    assert snode.build(g)[0]["plate"]["colourspace"] == "scene_linear"


def test_a_rendered_plate_is_in_the_project_s_working_space(nk, tmp_path, nuke_default):
    """A plate samatte renders from the graph (here: a Read behind a Grade) is written raw, in Nuke's
    working space ("linear" in nuke-default), but went into the job with no colourspace: samatte took it
    for ACEScg. It now names the working space (Root ``workingSpaceLUT``) in the project's config."""
    from samatte_nuke import node as snode
    pattern, _ = _code_plate(tmp_path)
    read, g = _comp(nk, tmp_path, pattern, "default (linear)")
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g.setInput(0, grade)
    nk.root()["OCIOConfigPath"].setValue(str(nuke_default))
    job, _ = snode.build(g)
    assert "/plate_" in job["plate"]["path"]
    assert (job["plate"]["colourspace"], job["plate"]["ocio_config"]) == ("linear", str(nuke_default))
    nk.root()["OCIOConfigPath"].setValue("")            # no config known: samatte's default, as before
    job, _ = snode.build(g)
    assert (job["plate"]["colourspace"], job["plate"]["ocio_config"]) == ("scene_linear", None)


# --- the cache key: a config's LUT files -------------------------------------------------------------

@pytest.mark.parametrize("search_path", ["search_path: luts", "search_path: [luts]",
                                         "search_path:\n  - other\n  - luts"])
def test_a_lut_edited_under_an_unchanged_config_recomputes(tmp_path, nuke_default, monkeypatch, search_path):
    """The key counted the config file by its content but not the LUT files it names: a show's sRGB LUT
    replaced under the same config.ocio changed every display image (and every decoded plate) while the
    stored frames stayed ``complete`` and were reused. The LUTs its FileTransforms name (found along its
    search_path, v1 ``a:b`` or a v2 list) are now in the config's stamp, by job and by ``$OCIO``."""
    from samatte import api
    from samatte.cachekey import frame_keys
    text = nuke_default.read_text().replace("search_path: luts", search_path)
    nuke_default.write_text(text)
    pattern, _ = _code_plate(tmp_path)
    job = api.job(pattern, str(tmp_path / "out" / "m.####.exr"), masks={"hero": str(tmp_path / "m.png")})
    job["plate"]["colourspace"] = "sRGB"
    job["plate"]["ocio_config"] = str(nuke_default)
    resolved = {"tracker": "masks", "model": None, "model_sha256": None, "matte": "refine"}
    k0 = frame_keys(job, resolved=resolved)
    monkeypatch.setenv("OCIO", str(nuke_default))
    env_job = dict(job, plate=dict(job["plate"], ocio_config=None))
    e0 = frame_keys(env_job, resolved=resolved)
    assert frame_keys(job, resolved=resolved) == k0                     # unchanged: the same keys
    lut = nuke_default.parent / "luts" / "srgb.spi1d"
    lut.write_text(lut.read_text().replace("Version 1", "Version 1\n", 1).replace("0.5", "0.6"))
    k1 = frame_keys(job, resolved=resolved)
    assert k1[1001]["matte"] != k0[1001]["matte"]
    assert frame_keys(env_job, resolved=resolved)[1001]["matte"] != e0[1001]["matte"]
    moved = tmp_path / "mapped"                                          # a farm node's mapped path: current
    import shutil
    shutil.copytree(nuke_default.parent, moved)
    job2 = dict(job, plate=dict(job["plate"], ocio_config=str(moved / "config.ocio")))
    assert frame_keys(job2, resolved=resolved)[1001]["matte"] == k1[1001]["matte"]
