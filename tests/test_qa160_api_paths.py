"""QA160 (pipeline TD, day 8): ``samatte.api.job`` as a TD script calls it.

Regressions for the bugs found:

* ``api.job`` made the plate, the output and mask files given as ``str`` absolute, but kept a
  ``pathlib.Path`` mask pattern (``masks={"car": Path("roto/car.####.png")}``), a ``masks`` dict's path
  and a prompt dict's path (``jobspec.mask_prompt(1004, "roto/hero.1004.png")``) relative. ``api.save``
  then wrote them into a JobSpec file elsewhere (``jobs/sh010.json``), where relative paths are the
  file's own folder's: ``samatte run jobs/sh010.json`` stopped with FRAME_MISSING on
  ``jobs/roto/car.####.png`` (the farm export of that file exported the wrong folder too).
* One prompt given without a list was misread: ``prompts={"hero": "roto/hero.1004.png"}`` was taken
  character by character (PROMPT_INVALID "no frame number in the prompt file name 'r'"), a
  ``pathlib.Path`` was a bare TypeError (exit 1), and ``(1004, "roto/hero.1004.png")`` made two
  prompts, one of them the file ``./1004``, which validated. A ``(frame, path)`` pair's frame 1004.5
  was cut to 1004.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from samatte import api, jobspec
from samatte.errors import PromptError


@pytest.fixture
def shot(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    monkeypatch.chdir(tmp_path)
    make_shot("shot", frames=2, size=(64, 64), first=1001)
    import cv2
    os.makedirs("roto")
    m = np.zeros((64, 64), np.uint8)
    m[16:48, 16:48] = 255
    cv2.imwrite("roto/hero.1001.png", m)
    for f in (1001, 1002):
        cv2.imwrite("roto/car.%d.png" % f, m)
    return tmp_path


def _paths(job):
    out = []
    for o in job["objects"]:
        out += [q["path"] for q in o.get("prompts") or [] if q.get("type") == "mask"]
        if o.get("masks"):
            out.append(o["masks"]["path"])
    return out


@pytest.mark.parametrize("prompt, masks", [
    ([jobspec.mask_prompt(1001, "roto/hero.1001.png")], Path("roto/car.####.png")),
    ([jobspec.mask_prompt(1001, Path("roto/hero.1001.png"))], {"path": "roto/car.####.png", "channel": None}),
    ([(1001, Path("roto/hero.1001.png"))], {"path": Path("roto/car.####.png")}),
])
def test_a_job_saved_in_another_folder_names_the_same_files(shot, prompt, masks):
    job = api.job("shot/plate/plate.####.exr", "out/m.####.exr", prompts={"hero": prompt},
                  masks={"car": masks}, tracker="flow")
    want = [str(shot / "roto" / "hero.1001.png"), str(shot / "roto" / "car.####.png")]
    assert _paths(job) == want
    os.makedirs("jobs")
    api.save(job, "jobs/sh010.json")
    from samatte.pipeline import load_job
    loaded = load_job("jobs/sh010.json")    # a JobSpec file's relative paths are its own folder's
    assert _paths(loaded) == want
    assert all(os.path.exists(p.replace("####", "1001")) for p in _paths(loaded))
    with open("jobs/sh010.json") as f:
        assert _paths(json.load(f)) == want


@pytest.mark.parametrize("given", [
    "roto/hero.1001.png", Path("roto/hero.1001.png"), (1001, "roto/hero.1001.png"),
    (1001.0, Path("roto/hero.1001.png")), jobspec.mask_prompt(1001, "roto/hero.1001.png"),
    ["roto/hero.1001.png"],
])
def test_one_prompt_given_without_a_list_is_that_prompt(shot, given):
    job = api.job("shot/plate/plate.####.exr", "out/m.####.exr", prompts={"hero": given}, tracker="flow")
    (obj,) = job["objects"]
    assert [(q["frame"], q["path"]) for q in obj["prompts"]] == [(1001, str(shot / "roto" / "hero.1001.png"))]


def test_two_files_in_a_tuple_are_two_prompts(shot):
    job = api.job("shot/plate/plate.####.exr", "out/m.####.exr",
                  prompts={"hero": ("roto/hero.1001.png", "roto/car.1002.png")}, tracker="flow")
    assert [q["frame"] for q in job["objects"][0]["prompts"]] == [1001, 1002]


@pytest.mark.parametrize("given", [[(1001.5, "roto/hero.1001.png")], [(True, "roto/hero.1001.png")], 5, [None]])
def test_a_prompt_that_is_not_one_is_prompt_invalid_naming_the_object(shot, given):
    with pytest.raises(PromptError) as e:
        api.job("shot/plate/plate.####.exr", "out/m.####.exr", prompts={"hero": given}, tracker="flow")
    assert e.value.code == "PROMPT_INVALID" and "'hero'" in str(e.value)
