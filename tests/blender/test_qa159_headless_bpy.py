"""QA159 (a Blender user's day 13): Run from a script or headless, ``blender -b shot.blend --python-expr
"import bpy; bpy.ops.samatte.run()"`` (the operator's execute: it blocks until the job ends).

* It waited an hour at most (``ops.run_blocking``'s ``timeout=3600``), then cancelled the job: a headless Run of a
  long shot (hundreds of HD frames on a CPU) stopped after 3600 s with ``samatte: cancelled; N frames it finished are
  kept``, a cancel nobody asked for, and the .blend's compositor showed a partial matte. Now it waits until the job
  ends (a silent worker still fails after the client's inactivity limit).
* Past a timeout (``run_blocking(context, timeout=...)``, the hour before), the job was cancelled and waited for 30 s;
  a frame that took longer (a large SAM 2 frame on a CPU) left it still going, and ``finish_run`` failed on it:
  ``AttributeError: 'NoneType' object has no attribute 'get'``, the job left running in the worker. Now its worker is
  ended (outputs are atomic) and the run ends cancelled; the next Run starts a new worker.
* It printed nothing while it ran: the terminal of ``blender -b`` stayed silent for the whole job. Now the progress
  line the status bar shows (``samatte: matte 3/6 frame 11, 12s left, ...``) is printed as it changes (at most every
  5 s) and the last one (``samatte: done, 6 written, 0 reused``).

The hour is made to pass in a second: the add-on's own clock readings (``time.monotonic`` called from the add-on's
files) jump 1000 s each, samatte's client's (its inactivity limit) are left real.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa159_headless_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, load_clip, run_step_in_blender, step_scenario  # noqa: E402


def _setup(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    s = sc.samatte
    s.clip = clip
    s.mask = box_mask(addon, "Roto", "hero", [tuple(p) for p in cfg["polygon"]], tuple(clip.size))
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    res["background"] = bpy.app.background
    res["frames"] = clip.frame_duration
    addon.jobs.check_worker(addon.ops.settings_from(bpy.context))     # warm: the worker's start is not the job
    return addon, s


class _Hours:
    """While on: the add-on's own ``time.monotonic`` readings (called from its files) jump 1000 s each, so an hour
    passes within a few polls; samatte's (its client's inactivity limit) stay real. ``hours``: how far it jumped."""

    def __init__(self, addon):
        import os
        self.folder = os.path.dirname(os.path.realpath(addon.ops.__file__))
        self.jump = 0.0

    def __enter__(self):
        import os
        import sys
        import time
        self.real = real = time.monotonic

        def clock():
            caller = sys._getframe(1).f_code.co_filename
            if os.path.dirname(os.path.realpath(caller)) != self.folder:
                return real()
            self.jump += 1000.0
            return real() + self.jump
        time.monotonic = clock
        return self

    def __exit__(self, *exc):
        import time
        time.monotonic = self.real

    @property
    def hours(self):
        return self.jump / 3600.0


def _mattes(cfg):
    import os
    folder = os.path.join(cfg["out"], "plate")
    return sorted(m for m in os.listdir(folder) if m.endswith(".exr")) if os.path.isdir(folder) else []


def step_long_headless(cfg, res):
    import contextlib
    import io
    import bpy
    addon, s = _setup(cfg, res)
    out = io.StringIO()
    with _Hours(addon) as hours, contextlib.redirect_stdout(out):
        try:
            res["op"] = sorted(bpy.ops.samatte.run())
        except RuntimeError as e:
            res["op"] = ["raised", str(e)]
    res["hours"] = hours.hours
    res["stdout"] = out.getvalue()
    res["last_result"] = s.last_result
    res["mattes"] = _mattes(cfg)


def step_timeout(cfg, res):
    import bpy
    addon, s = _setup(cfg, res)
    with _Hours(addon) as hours:
        try:
            run, report = addon.ops.run_blocking(bpy.context, timeout=1800)
            res["report"] = list(report)
            res["cancelled"] = run.cancelled
            res["running"] = addon.ops.running_job() is not None
        except Exception as e:  # noqa: BLE001 - what the script saw
            res["report"] = ["raised", "%s: %s" % (type(e).__name__, e)]
    res["hours"] = hours.hours
    res["last_result"] = s.last_result
    res["again"] = sorted(bpy.ops.samatte.run())      # the next Run (a new worker when it was ended)
    res["again_result"] = s.last_result
    res["mattes"] = _mattes(cfg)


STEPS = {"long_headless": step_long_headless, "timeout": step_timeout}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa159_headless")), frames=6, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_headless_run_is_not_cancelled_after_an_hour_and_prints_its_progress(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "long_headless")
    assert res["background"] is True, res
    assert res["hours"] > 1.5, res          # the job's wait saw more than an hour pass
    # before: ['CANCELLED'], Last result 'cancelled; ...' and fewer than the 6 mattes
    assert res["op"] == ["FINISHED"], res
    assert "cancelled" not in res["last_result"], res["last_result"]
    assert "6 frames written" in res["last_result"], res["last_result"]
    assert len([m for m in res["mattes"] if m.endswith(".exr")]) == res["frames"] == 6, res
    # before: nothing on stdout while it ran
    lines = [ln for ln in res["stdout"].splitlines() if ln.startswith("samatte: ")]
    assert any(ln.startswith(("samatte: track ", "samatte: matte ")) and "/6" in ln for ln in lines), res["stdout"]
    assert lines[-1] == "samatte: done, 6 written, 0 reused", res["stdout"]


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_a_blocking_run_past_its_timeout_ends_cancelled_not_in_a_traceback(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "timeout")
    # before: AttributeError: 'NoneType' object has no attribute 'get' (finish_run on a run still going: its frame
    # took longer than the 30 s the cancel waited), the job left running in the worker
    assert res["report"][0] == "WARNING", res
    assert res["report"][1].startswith("samatte: cancelled"), res
    assert res["cancelled"] is True and res["running"] is False, res
    assert res["last_result"].startswith("cancelled"), res
    assert res["again"] == ["FINISHED"], res        # and the next Run makes every matte
    assert len(res["mattes"]) == res["frames"] == 6, res
