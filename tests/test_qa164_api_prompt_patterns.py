"""QA of a pipeline TD's day 9: ``api.job(prompts=...)`` given a roto *sequence pattern* where a keyframe file
belongs (``prompts={"hero": "roto/hero.%04d.png"}``, what a TD with a per-frame roto types first).

The frame of a bare prompt file is the last number in its name, so the token's own digits were taken: ``%04d``
made a prompt on frame 4, ``hero_v2.####.png`` one on frame 2 (its version), and the job built; the run then
said "prompt of object 'hero' on frame 4 is outside the job's frames", of a frame nobody named. Now such a
prompt is PROMPT_INVALID at ``api.job``, saying what a prompt is and that ``masks=`` takes a sequence; a
``(frame, pattern)`` pair is that frame's file of the sequence (it was the pattern itself, "frame file is
missing: .../hero.####.png" at the run)."""
import os

import pytest

from samatte import api
from samatte.errors import PromptError


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa164pat")
    s = make_shot(str(d), frames=4, size=(64, 64), first=1001)
    return s, d


@pytest.mark.parametrize("name", ["alpha.%04d.exr", "alpha_v2.####.exr", "alpha.$F4.exr", "alpha.@@@@.exr"])
def test_a_sequence_pattern_given_as_a_prompt_file_is_refused_naming_masks(shot, name):
    s, d = shot
    pattern = os.path.join(os.path.dirname(s["gt"]), name)
    with pytest.raises(PromptError) as e:
        api.job(s["plate"], str(d / "out" / "m.####.exr"), prompts={"hero": pattern}, tracker="flow")
    assert "frame pattern" in str(e.value) and "masks=" in str(e.value) and e.value.details["object"] == "hero"


def test_a_frame_with_a_pattern_is_that_frames_file_and_runs(shot):
    s, d = shot
    f = s["prompt_frame"]
    job = api.job(s["plate"], str(d / "out2" / "m.####.exr"), prompts={"hero": [(f, s["gt"])]}, tracker="flow",
                  matte="none")
    assert job["objects"][0]["prompts"][0]["path"] == s["gt"].replace("####", str(f))
    r = api.run(job)
    assert len(r["written"]) == 4


def test_a_file_whose_name_only_looks_like_a_pattern_is_that_file(shot):
    s, d = shot
    odd = d / "roto #2.1003.png"   # exists: a file of that name is the file, its frame its last number
    import shutil
    shutil.copy(s["gt"].replace("####", "1003"), str(odd))
    job = api.job(s["plate"], str(d / "out3" / "m.####.exr"), prompts={"hero": [str(odd)]}, tracker="flow")
    assert job["objects"][0]["prompts"][0]["frame"] == 1003 and job["objects"][0]["prompts"][0]["path"] == str(odd)
