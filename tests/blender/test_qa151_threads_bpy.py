"""QA of a TD's day 7, in real bpy 5.0.1 and 4.2.23 (a test skips when its ``.venv-bpyXX`` is absent): the
Preferences' CPU threads typed as 5000 (a typo of 50). samatte takes at most 1024 threads
(``samatte.threads.MAX_THREADS``: the worker refuses more, JOBSPEC_INVALID); the preference had no maximum,
so the worker it started for Check / Run failed to start. It now stops at 1024.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa151_threads_bpy.py CONFIG.json``.
"""
import os

from bpy_common import VERSIONS, bpy_main, enable_addon, op_result, run_step_in_blender, step_scenario  # noqa: E402


def step_threads(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    p = bpy.context.preferences.addons[addon.__name__].preferences
    p.threads = 5000
    res["threads"] = p.threads
    op_result(res, "check", bpy.ops.samatte.check)
    res["check_result"] = p.check_result
    w = addon.jobs.get_worker(addon.ops.settings_from(bpy.context), start=False)
    pid = w.hello["pid"] if w is not None else None
    if pid is not None:
        with open("/proc/%d/environ" % pid, "rb") as f:
            res["worker_env"] = [e.decode() for e in f.read().split(b"\0") if e.startswith(b"SAMATTE_THREADS=")]
    addon.jobs.release_worker()


STEPS = {"threads": step_threads}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa151_bpy")), frames=2, size=(64, 64))


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the worker's environment from /proc")
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_cpu_threads_preference_past_samattes_limit_stops_at_it(v, tmp_path, shot):
    res, cfg = run_step_in_blender(__file__, v, tmp_path, shot, "threads")
    assert res["threads"] == 1024, res
    assert res["check"] == ["ok", ["FINISHED"]], res
    assert "CPU threads: 1024 (Preferences)" in res["check_result"].splitlines(), res["check_result"]
    assert res["worker_env"] == ["SAMATTE_THREADS=1024"], res
