"""QA of a TD's day 7, in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): the
Preferences' CPU threads typed as 5000 (a typo of 50). samatte takes at most 1024 threads
(``samatte.threads.MAX_THREADS``: the worker refuses more, JOBSPEC_INVALID); the preference had no maximum,
so the worker it started for Check / Run failed to start. It now stops at 1024.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa151_threads_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402


def step_threads(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    p = bpy.context.preferences.addons[addon.__name__].preferences
    p.threads = 5000
    res["threads"] = p.threads
    # what Check / Run would start the worker with (not started here: a worker asked for 1024 threads
    # starts pools that size, which a machine already busy with thousands of threads may refuse)
    settings = addon.ops.settings_from(bpy.context)
    res["worker_env"] = addon.jobs.worker_env(settings)


STEPS = {"threads": step_threads}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa151_bpy")), frames=2, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_cpu_threads_preference_past_samattes_limit_stops_at_it(v, tmp_path, shot):
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "threads")
    assert res["threads"] == 1024, res
    assert res["worker_env"].get("SAMATTE_THREADS") == "1024", res


def test_the_worker_takes_the_preferences_most_threads():
    # the count the preference stops at is one the worker accepts (samatte.threads' limit)
    from samatte import threads
    from samatte.errors import JobSpecError
    assert threads.parse_threads("1024", field="SAMATTE_THREADS") == 1024
    with pytest.raises(JobSpecError):
        threads.parse_threads("1025", field="SAMATTE_THREADS")
