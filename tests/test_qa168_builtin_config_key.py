"""QA168: a built-in OCIO config (``ocio://default``, ``ocio://cg-config-latest``) counts in the keys by what it
resolves to, not by its alias alone.

``ocio://default`` follows the OCIO library: ACES 1.3's CG config (``cg-config-v2.2.0_aces-v1.3_ocio-v2.4``) up to
OCIO 2.4, ACES 2's (``cg-config-v5.0.0_aces-v2.1_ocio-v2.6``) with 2.6: another display image for the tracker
and the matte's band. The keys stamped the alias only, so after a venv's OCIO upgrade (or on a farm node with
another OCIO) every frame made with the other library's default was still ``complete``. The resolved versioned
config now goes into ``resolved`` (``ocio_builtin``) and the keys whenever it is not the one the alias named when
samatte keyed it by name (:data:`samatte.pipeline.BUILTIN_CONFIG_BASELINE`): existing jobs' keys are unchanged
where the library resolves as before.
"""
import json

import pytest

from samatte import cli, jobspec
from samatte.cachekey import frame_keys
from samatte.pipeline import BUILTIN_CONFIG_BASELINE, builtin_config_identity, frame_status, resolve_backends

ocio = pytest.importorskip("PyOpenColorIO")
OLD = "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"     # what OCIO 2.4 made of ocio://default


@pytest.fixture
def shot(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "sh010"), frames=2, size=(64, 64), first=1001)
    job = jobspec.new_job(s["plate"], str(tmp_path / "sh010" / "out" / "m.####.exr"), name="sh010",
                          tracker="shapes", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    monkeypatch.delenv("OCIO", raising=False)
    return job, tmp_path


def _library_resolving(monkeypatch, mapping):
    real = ocio.ResolveConfigPath
    monkeypatch.setattr(ocio, "ResolveConfigPath", lambda uri: mapping.get(uri) or real(uri))


def _status(path):
    st = frame_status(jobspec.load(path))
    return sorted(set(st["frames"].values())), sorted(set(st["track"].values()))


@pytest.mark.parametrize("how", ["job", "OCIO", "none"])
def test_frames_made_with_another_librarys_default_are_stale(shot, monkeypatch, how):
    job, tmp = shot
    if how == "job":
        job["plate"]["ocio_config"] = "ocio://default"
    elif how == "OCIO":
        monkeypatch.setenv("OCIO", "ocio://default")
    path = str(tmp / "sh010.json")
    with open(path, "w") as f:
        json.dump(job, f)
    assert cli.main(["run", path]) == 0
    assert _status(path) == (["complete"], ["complete"])
    _library_resolving(monkeypatch, {"ocio://default": OLD})   # the venv's OCIO is now another version
    assert resolve_backends(jobspec.load(path))["ocio_builtin"] == OLD
    assert _status(path) == (["stale"], ["stale"])
    assert cli.main(["run", path]) == 0                         # re-made, and current for that library
    assert _status(path) == (["complete"], ["complete"])
    # a host computes the keys from the manifest's resolved backends: they name the config the frames used
    import os
    with open(os.path.join(jobspec.default_work_dir(jobspec.load(path)), "manifest.json")) as f:
        man = json.load(f)
    assert man["resolved"]["ocio_builtin"] == OLD
    host = frame_keys(jobspec.load(path), resolved=man["resolved"])
    assert {str(f): k["matte"] for f, k in host.items()} == {
        f: k["matte"] for f, k in frame_status(jobspec.load(path))["keys"].items()}


def test_a_default_resolving_as_before_keeps_the_keys_it_had(shot, monkeypatch):
    job, _tmp = shot
    job["plate"]["ocio_config"] = "ocio://default"
    job = jobspec.validate(job)
    by_name = {"tracker": "shapes", "model": None, "model_sha256": None, "matte": "refine"}   # keyed by the name alone
    _library_resolving(monkeypatch, dict(BUILTIN_CONFIG_BASELINE))
    assert builtin_config_identity(job) is None
    assert "ocio_builtin" not in resolve_backends(job)
    assert frame_keys(job, resolved=resolve_backends(job)) == frame_keys(job, resolved=by_name)
    _library_resolving(monkeypatch, {"ocio://default": OLD})
    assert frame_keys(job, resolved=resolve_backends(job)) != frame_keys(job, resolved=by_name)
    # a versioned built-in config names its content: its name alone, whatever the library
    job["plate"]["ocio_config"] = OLD
    assert builtin_config_identity(job) is None
    job["plate"]["ocio_config"] = "ocio://cg-config-latest"
    monkeypatch.setattr(ocio, "ResolveConfigPath", lambda uri: OLD)
    assert builtin_config_identity(job) == OLD
    job["plate"]["ocio_config"] = None                       # a config file ($OCIO): by its stamp, as before
    monkeypatch.setenv("OCIO", "/studio/config.ocio")
    assert builtin_config_identity(job) is None
