"""QA of many objects in one job (a hero, a prop, a background person, a garbage matte), through the
product path (``samatte.pipeline.run``) with the weights-free trackers: what an error about one
object's prompt names."""

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.errors import PromptError

W, H = 96, 64
FIRST, N = 1001, 4


def _write_exr(path, img):
    import OpenImageIO as oiio
    spec = oiio.ImageSpec(img.shape[1], img.shape[0], img.shape[2], "half")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec) and out.write_image(np.asarray(img, np.float32)), oiio.geterror()
    out.close()


def _rects(i):
    return [(10, 20, 30, 44, (0.7, 0.2, 0.1)), (60, 6, 90, 30, (0.1, 0.2, 0.8))]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A tiny scene-linear EXR shot of two rectangles over noise, and a roto mask of the first per frame."""
    import cv2
    d = tmp_path_factory.mktemp("qa_objects")
    rng = np.random.default_rng(3)
    bg = (0.05 + 0.05 * rng.random((H, W, 3))).astype(np.float32)
    for i in range(N):
        img = bg.copy()
        roto = np.zeros((H, W), np.uint8)
        for k, (x0, y0, x1, y1, col) in enumerate(_rects(i)):
            img[y0:y1, x0:x1] = col
            if k == 0:
                roto[y0:y1, x0:x1] = 255
        _write_exr(str(d / ("plate.%04d.exr" % (FIRST + i))), img)
        cv2.imwrite(str(d / ("roto.%04d.png" % (FIRST + i))), roto)
    return str(d / "plate.####.exr"), str(d / "roto.####.png"), d


@pytest.mark.parametrize("tracker", ["flow", "shapes"])
def test_a_prompt_error_names_the_objects_place_in_the_job(shot, tmp_path, tracker):
    """The flow and shapes trackers track one object at a time, and each span only with its own
    prompts: a prompt outside the canvas on the third object's second prompt was reported as
    ``objects[0].prompts[1]`` (its place in the one-object pass), naming the first object's field."""
    plate, roto, _ = shot
    job = jobspec.new_job(plate, str(tmp_path / "m.####.exr"), tracker=tracker, matte="none", name="qa_obj")
    jobspec.add_object(job, "garbage", masks=roto)                          # refine-only, objects[0]
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [10, 20, 30, 44])])
    jobspec.add_object(job, "prop", [jobspec.box_prompt(1001, [40, 40, 50, 50]),
                                     jobspec.box_prompt(1003, [120, 70, 140, 90])])  # off the canvas
    with pytest.raises(PromptError) as ei:
        pipeline.run(job)
    assert ei.value.details["object"] == "prop"
    assert ei.value.details["field"] == "objects[2].prompts[1]", ei.value.details
    assert "objects[2].prompts[1]" in str(ei.value)
