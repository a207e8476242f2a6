"""ColourTransform against OCIO's own results; choices of config/display/view; errors."""
import numpy as np
import pytest

ocio = pytest.importorskip("PyOpenColorIO")

from samatte.colour import ColourTransform, srgb_oetf  # noqa: E402
from samatte.errors import ColourError  # noqa: E402


def _ref(config, src, display, view, x):
    cfg = ocio.Config.CreateFromFile(config)
    cpu = cfg.getProcessor(ocio.DisplayViewTransform(src=src, display=display, view=view)).getDefaultCPUProcessor()
    out = np.ascontiguousarray(x, dtype=np.float32).copy()
    flat = out.reshape(-1, 3)
    for i in range(0, flat.shape[0], 4096):  # independent path: per-row pixel lists, not the packed image
        chunk = flat[i:i + 4096].copy()
        cpu.applyRGB(chunk)
        flat[i:i + 4096] = chunk
    return np.clip(out, 0, 1)


def _plate(seed=0, h=17, w=23):
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3), dtype=np.float32) * 3.0 - 0.2).astype(np.float32)


def test_default_config_matches_ocio(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    ct = ColourTransform()
    d = ct.describe()
    assert d["config"] == "ocio://default"
    assert d["colourspace"] == ocio.Config.CreateFromFile("ocio://default").getColorSpace("scene_linear").getName()
    assert "srgb" in d["display"].lower() and d["view"] == "Un-tone-mapped"
    x = _plate()
    y = ct.to_display(x)
    assert y.dtype == np.float32 and y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    np.testing.assert_allclose(y, _ref("ocio://default", d["colourspace"], d["display"], d["view"], x), atol=1e-5)
    # the input is not modified; in-place works too
    x2 = x.copy()
    ct.to_display(x2, out=x2)
    np.testing.assert_allclose(x2, y, atol=1e-6)
    # non-contiguous and float64 inputs
    wide = np.repeat(x, 2, axis=1)[:, ::2]
    assert not wide.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(ct.to_display(wide), y, atol=1e-6)
    np.testing.assert_allclose(ct.to_display(x.astype(np.float64)), y, atol=1e-6)
    with pytest.raises(ColourError):
        ct.to_display(x[:, :, :2])


def test_explicit_colourspace_alias_and_view():
    ct = ColourTransform("ocio://default", "lin_rec709", view="ACES 2.0 - SDR 100 nits (Rec.709)")
    d = ct.describe()
    assert d["colourspace"] == "Linear Rec.709 (sRGB)"
    x = _plate(1)
    np.testing.assert_allclose(ct.to_display(x), _ref("ocio://default", d["colourspace"], d["display"], d["view"], x),
                               atol=1e-5)
    # linear Rec.709 through the un-tone-mapped sRGB view is the plain sRGB curve
    ct2 = ColourTransform("ocio://default", "Linear Rec.709 (sRGB)")
    np.testing.assert_allclose(ct2.to_display(x), srgb_oetf(x), atol=2e-4)


def test_config_from_env_and_file(tmp_path, monkeypatch):
    cfg = ocio.Config.CreateFromFile("ocio://studio-config-latest")
    path = tmp_path / "studio.ocio"
    path.write_text(cfg.serialize())
    monkeypatch.setenv("OCIO", str(path))
    ct = ColourTransform()
    assert ct.describe()["config"] == str(path)
    assert ct.describe()["view"] == "Un-tone-mapped"
    x = _plate(2)
    d = ct.describe()
    np.testing.assert_allclose(ct.to_display(x), _ref(str(path), d["colourspace"], d["display"], d["view"], x),
                               atol=1e-5)


def test_errors():
    with pytest.raises(ColourError) as e:
        ColourTransform(colourspace="ACEScgg")
    assert "ACEScg" in str(e.value)  # lists close valid names
    with pytest.raises(ColourError):
        ColourTransform(config="ocio://no-such-config")
    with pytest.raises(ColourError):
        ColourTransform(config="/no/such/config.ocio")
    with pytest.raises(ColourError):
        ColourTransform(display="No Such Display")


def test_srgb_oetf_formula():
    x = np.linspace(-0.5, 1.5, 301, dtype=np.float32)
    x = np.stack([x, x[::-1], x * 0.5], axis=1).reshape(1, -1, 3).copy()
    c = np.clip(x, 0, 1)
    ref = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    y = srgb_oetf(x)
    assert y.min() >= 0 and y.max() <= 1
    np.testing.assert_allclose(y, ref, atol=2e-5)
    np.testing.assert_allclose(srgb_oetf(x[0]), ref[0], atol=2e-5)  # non-(H, W, 3) input takes the numpy path


def _config(displays, default_cs="linear"):
    """A small config built in memory: colourspaces 'raw' (from CreateRaw), 'linear', 'srgb_tx',
    'filmic_tx'; only the given displays are active."""
    cfg = ocio.Config.CreateRaw()
    for name, tr in (("linear", None),
                     ("srgb_tx", ocio.ExponentWithLinearTransform(gamma=[2.4] * 3 + [1], offset=[0.055] * 3 + [0],
                                                                  direction=ocio.TRANSFORM_DIR_INVERSE)),
                     ("filmic_tx", ocio.ExponentTransform(value=[3.0, 3.0, 3.0, 1.0],
                                                          direction=ocio.TRANSFORM_DIR_INVERSE))):
        cs = ocio.ColorSpace(name=name)
        if tr is not None:
            cs.setTransform(tr, ocio.COLORSPACE_DIR_FROM_REFERENCE)
        cfg.addColorSpace(cs)
    cfg.setRole("scene_linear", default_cs)
    for display, views in displays:
        for view, cs in views:
            cfg.addDisplayView(display, view, cs)
    cfg.setActiveDisplays(",".join(d for d, _ in displays))
    return cfg


@pytest.mark.parametrize("displays,expected", [
    # Blender-like: sRGB display, "Standard" is the un-tone-mapped view
    ([("sRGB", [("Filmic", "filmic_tx"), ("Standard", "srgb_tx"), ("Raw", "raw")])], ("sRGB", "Standard")),
    # nuke-default-like: one "default" display whose "sRGB" view is the plain curve
    ([("default", [("None", "raw"), ("sRGB", "srgb_tx"), ("rec709", "filmic_tx")])], ("default", "sRGB")),
    # no un-tone-mapped view: the display's default (first) view
    ([("Rec709", [("Film", "filmic_tx")]), ("sRGB Monitor", [("ACES", "filmic_tx"), ("Raw", "raw")])],
     ("sRGB Monitor", "ACES")),
])
def test_display_view_choice(displays, expected):
    cfg = _config(displays)
    ct = ColourTransform(cfg)
    assert (ct.describe()["display"], ct.describe()["view"]) == expected
    x = _plate(3)
    if expected[1] in ("Standard", "sRGB"):
        np.testing.assert_allclose(ct.to_display(x), srgb_oetf(x), atol=2e-4)
    ct2 = ColourTransform(cfg, display=displays[0][0], view=displays[0][1][0][0])
    assert ct2.describe()["view"] == displays[0][1][0][0]
    with pytest.raises(ColourError):
        ColourTransform(cfg, view="No Such View")


def test_config_without_scene_linear():
    cfg = ocio.Config.CreateRaw()  # roles: only 'default'
    cfg.addColorSpace(ocio.ColorSpace(name="lin"))
    with pytest.raises(ColourError) as e:
        ColourTransform(cfg)
    assert "scene_linear" in str(e.value)
    assert ColourTransform(cfg, "lin").describe()["colourspace"] == "lin"
