"""QA170 (a Blender user's day 15), the add-on's bpy-free side.

* Send to farm for an output laid out one folder per frame (``renders/####/m.exr``, a script's ``output=``): the
  add-on put the job file and the OpenJD bundle into a folder named ``####`` (``renders/####/sh010.samatte.json``),
  beside nothing samatte writes there; samatte's farm export takes ``renders/`` as the Output root
  (tests/test_qa164_farm_frame_folders.py). Now both go to ``renders/``.
* A prompt the worker refuses (a roto dragged off the plate on a key: 'bezier prompt lies entirely outside the
  canvas ... (at objects[0].prompts[1])') named the scene frame only; build_job's errors (a collapsed roto) name the
  mask layer too. Now the worker's do as well.
"""
import os
from types import SimpleNamespace as ns

import pytest
from addon_plain import plain

jobs = plain("jobs")


@pytest.mark.parametrize("out,root", [
    ("/studio/renders/####/m.exr", "/studio/renders"),
    ("/studio/renders/%04d/m.exr", "/studio/renders"),
    ("/studio/renders/v1_$F4/m.exr", "/studio/renders"),
    ("/studio/renders/m.####.exr", "/studio/renders"),          # the token in the file name: as before
    ("/studio/sh#010/m.####.exr", None),                         # two tokens: samatte refuses it; unchanged
])
def test_farm_paths_of_a_frame_per_folder_output_lie_above_the_frame_folders(out, root):
    job_file, bundle = jobs.farm_paths({"name": "sh010", "output": {"path": out}})
    folder = root or os.path.dirname(out)
    assert job_file == os.path.join(folder, "sh010.samatte.json") and bundle == os.path.join(folder, "sh010_openjd")
    assert "#" not in job_file.replace("sh#010", "") and "%" not in job_file and "$F" not in job_file


def _job():
    return {"objects": [
        {"name": "hero", "host_name": "hero layer", "prompts": [{"frame": 1003, "type": "bezier", "points": []},
                                                               {"frame": 1006, "type": "bezier", "points": []}]},
        {"name": "tracks", "host_name": None, "prompts": [{"frame": 1003, "type": "points", "points": []}]}]}


def _finished(error):
    from samatte.errors import PromptError
    r = jobs.JobRun(_job(), ns(python="/opt/samatte/bin/python"), scene_frame=lambda n: n - 990)
    e = PromptError(error[0], field=error[1], frame=error[2], object="hero")
    r.handle = ns(error=e, result=None)
    r._finish()
    return r


def test_a_worker_prompt_error_names_the_mask_layer_and_the_scene_frame():
    r = _finished(("bezier prompt lies entirely outside the canvas (64x64) (at objects[0].prompts[1])",
                   "objects[0].prompts[1]", 1006))
    assert r.error_code == "PROMPT_INVALID"
    # before: '... (at objects[0].prompts[1]) (scene frame 16)'
    assert "mask layer 'hero layer' on scene frame 16" in r.error, r.error
    assert "off the clip's picture" in r.error and "Hide in render" in r.error, r.error
    assert r.error.count("scene frame") == 1, r.error


def test_other_worker_errors_keep_the_scene_frame_note():
    from samatte.errors import PlateError
    r = jobs.JobRun(_job(), ns(python="/opt/samatte/bin/python"), scene_frame=lambda n: n - 990)
    r.handle = ns(error=PlateError("plate file missing", frame=1004), result=None)
    r._finish()
    assert r.error.endswith("(scene frame 14)") or "(scene frame 14)" in r.error, r.error


def test_a_shape_off_the_picture_is_refused_before_the_job_is_built():
    """Run, Check mattes and Send to farm build the job: a closed shape whose points and handles all lie beyond an
    edge of the clip's picture (the overscan origin counted) is PROMPT_INVALID there, naming its layer and frame."""
    info = ns(size=(64, 36), origin=(-8.0, -4.0), scene_frame=lambda n: n - 990)
    on = [[10.0, 10.0, 10.0, 10.0, 10.0, 10.0], [30.0, 10.0, 30.0, 10.0, 30.0, 10.0], [20.0, 20.0, 20.0, 20.0, 20.0,
                                                                                       20.0]]
    right = [[q[0] + 60.0, q[1], q[2] + 60.0, q[3], q[4] + 60.0, q[5]] for q in on]      # x from 70: past 56
    edge = [[q[0] + 40.0, q[1], q[2] + 40.0, q[3], q[4] + 40.0, q[5]] for q in on]       # 50..70: on the picture
    job = {"objects": [{"name": "hero", "host_name": "hero layer", "prompts": [
        {"frame": 1003, "type": "bezier", "points": on}, {"frame": 1006, "type": "bezier", "points": edge}]}]}
    assert jobs.off_picture(job, info) is None
    job["objects"][0]["prompts"].append({"frame": 1004, "type": "bezier", "points": right})
    err = jobs.off_picture(job, info)
    assert err.startswith("bezier prompt lies entirely outside the canvas (64x36) (at objects[0].prompts[2]): mask "
                          "layer 'hero layer' on scene frame 14 (its shape there lies off the clip's picture"), err
    # a line (Fill off) is the worker's to judge: its points off the picture are dropped there
    job["objects"][0]["prompts"][2]["closed"] = False
    assert jobs.off_picture(job, info) is None
