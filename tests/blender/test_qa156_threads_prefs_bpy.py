"""QA156: Preferences saved by an older add-on (before the CPU threads preference stopped at 1024) may hold more,
e.g. 5000. Blender does not clamp a stored value to the property's maximum when it is read, so ``settings_from``
passed it on and ``worker_env`` gave the worker ``SAMATTE_THREADS=5000``: the worker refused to start
(``samatte.threads.MAX_THREADS`` = 1024, JOBSPEC_INVALID). ``jobs.Settings`` (and ``worker_env``) now clamp to 1024.

bpy-free tests here, and in real bpy 5.0.1 / 4.2.23 (a test skips without its ``.venv-bpyXX``), where the stored
add-on's Preferences (AddonPreferences takes no raw IDProperty from Python) are stood in for by an object holding
the old value, as an older add-on's saved Preferences read back.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa156_threads_prefs_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402


def step_old_prefs(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    import types
    p = bpy.context.preferences.addons[addon.__name__].preferences
    # the value an older add-on's userpref.blend read back (the property had no maximum then)
    old = types.SimpleNamespace(python=p.python, python_installed=getattr(p, "python_installed", ""),
                                models_dir=p.models_dir, device=p.device, threads=5000)
    real = addon.props.prefs
    addon.props.prefs = lambda context=None: old
    try:
        settings = addon.ops.settings_from(bpy.context)
    finally:
        addon.props.prefs = real
    res["settings_threads"] = settings.threads
    res["worker_env"] = addon.jobs.worker_env(settings)


STEPS = {"old_prefs": step_old_prefs}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))

import types  # noqa: E402

import pytest  # noqa: E402

from addon_plain import plain  # noqa: E402


def test_settings_clamp_threads_past_samattes_limit():
    jobs = plain("jobs")
    s = jobs.Settings(python="/x/python", threads=5000)
    assert s.threads == 1024
    assert jobs.worker_env(s)["SAMATTE_THREADS"] == "1024"
    assert jobs.Settings(python="/x/python", threads=1024).threads == 1024
    assert jobs.Settings(python="/x/python", threads=8).threads == 8
    assert "SAMATTE_THREADS" not in jobs.worker_env(jobs.Settings(python="/x/python", threads=0))


def test_worker_env_clamps_a_settings_like_object():
    jobs = plain("jobs")
    env = jobs.worker_env(types.SimpleNamespace(models_dir="", threads=5000))
    assert env["SAMATTE_THREADS"] == "1024"


def test_the_clamp_is_samattes_limit():
    from samatte import threads
    assert plain("jobs").MAX_THREADS == threads.MAX_THREADS
    assert threads.parse_threads(plain("jobs").worker_env(
        plain("jobs").Settings(python="/x/python", threads=5000))["SAMATTE_THREADS"], field="SAMATTE_THREADS") == 1024


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa156_bpy")), frames=2, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_old_preferences_past_the_limit_start_a_worker_samatte_accepts(v, tmp_path, shot):
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "old_prefs")
    assert res["settings_threads"] == 1024, res
    assert res["worker_env"].get("SAMATTE_THREADS") == "1024", res
