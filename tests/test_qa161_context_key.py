"""The cache key of a config whose LUT is named by an OCIO context variable (QA161). A show config
picking its LUT per shot (``src: ${SHOT_LUT}.spi1d``, ``environment: {SHOT_LUT: a}``) changes the
display image -- what the tracker and the matte's band see -- when $SHOT_LUT changes (0.18 showed as
0.459 with a.spi1d, 0.319 with b.spi1d), and when the LUT file is edited; the key stamped the literal
``${SHOT_LUT}.spi1d`` as missing, so neither recomputed and stale frames were reused as complete."""
import numpy as np
import pytest


def _lut(path, f):
    x = np.linspace(0.0, 1.0, 64)
    path.write_text("Version 1\nFrom 0.0 1.0\nLength 64\nComponents 1\n{\n"
                    + "\n".join("%.9f" % v for v in f(x)) + "\n}\n")


ENV_BLOCK = "environment:\n  SHOT_LUT: a\n"
ENV_INLINE = "environment: {SHOT_LUT: a}\n"


def _config(folder, env_block, src="${SHOT_LUT}.spi1d"):
    (folder / "luts").mkdir(parents=True)
    _lut(folder / "luts" / "a.spi1d", lambda v: v ** 2.2)
    _lut(folder / "luts" / "b.spi1d", lambda v: v ** 1.5)
    cfg = folder / "config.ocio"
    cfg.write_text("""ocio_profile_version: 2
%ssearch_path: luts
roles:
  scene_linear: linear
  data: raw
  default: linear
displays:
  sRGB:
    - !<View> {name: Standard, colorspace: show}
active_displays: []
active_views: []
colorspaces:
  - !<ColorSpace>
    name: linear
    isdata: false
  - !<ColorSpace>
    name: show
    isdata: false
    from_scene_reference: !<FileTransform> {src: "%s", interpolation: linear, direction: inverse}
  - !<ColorSpace>
    name: raw
    isdata: true
""" % (env_block, src))
    return cfg


def _keys(job):
    from samatte.cachekey import frame_keys
    resolved = {"tracker": "masks", "model": None, "model_sha256": None, "matte": "refine"}
    return frame_keys(job, resolved=resolved)[1001]["matte"]


@pytest.mark.parametrize("env_block", [ENV_BLOCK, ENV_INLINE])
@pytest.mark.parametrize("by", ["job", "OCIO"])
def test_a_shot_lut_named_by_a_context_variable_is_in_the_key(tmp_path, monkeypatch, env_block, by):
    from samatte import api
    from samatte.colour import ColourTransform
    from samatte.io.exr import write_image
    monkeypatch.delenv("SHOT_LUT", raising=False)
    cfg = _config(tmp_path / "show", env_block)
    write_image(str(tmp_path / "p.1001.exr"), np.full((6, 8, 3), 0.18, np.float32), channels=["R", "G", "B"],
                pixel_type="float")
    job = api.job(str(tmp_path / "p.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                  masks={"hero": str(tmp_path / "p.1001.exr")})
    job["plate"]["colourspace"] = "linear"
    if by == "job":
        job["plate"]["ocio_config"] = str(cfg)
    else:
        monkeypatch.setenv("OCIO", str(cfg))

    def shown():
        return float(ColourTransform(job["plate"]["ocio_config"], "linear").to_display(
            np.full((1, 1, 3), 0.18, np.float32))[0, 0, 0])

    k_a, d_a = _keys(job), shown()
    monkeypatch.setenv("SHOT_LUT", "a")                     # the default, now from the environment
    assert _keys(job) == k_a and shown() == pytest.approx(d_a)
    monkeypatch.setenv("SHOT_LUT", "b")                     # another shot's LUT: other pixels, another key
    k_b, d_b = _keys(job), shown()
    assert abs(d_b - d_a) > 0.05
    assert k_b != k_a
    _lut(tmp_path / "show" / "luts" / "b.spi1d", lambda v: v ** 1.8)   # the LUT edited in place
    assert _keys(job) != k_b


def test_a_config_without_context_variables_keeps_its_key(tmp_path):
    """Expanding context variables leaves a config that has none stamped as before."""
    from samatte.cachekey import config_stamp
    cfg = _config(tmp_path / "plain", "", src="a.spi1d")
    before = config_stamp(str(cfg))
    (tmp_path / "plain" / "luts" / "b.spi1d").write_text("changed")   # a LUT it does not name
    assert config_stamp(str(cfg)) == before
    _lut(tmp_path / "plain" / "luts" / "a.spi1d", lambda v: v ** 2.0)
    assert config_stamp(str(cfg)) != before
