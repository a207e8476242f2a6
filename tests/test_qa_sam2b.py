"""QA of the SAM2 tracker wrapper, second pass: what a script that builds ``Sam2Tracker`` itself (not
through ``get_tracker``) hands it. Options and device follow the registry's rules (the JobSpec's), so
a bad value is a JobSpecError (JOBSPEC_INVALID) when the tracker is made, not a raw torch/ValueError
(exit code 1, "a bug") when the model loads; ``work_dir``, which the pipeline adds to every tracker's
options, is a sam2 option in the registry and no longer logged as foreign."""
import logging
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte.errors import JobSpecError  # noqa: E402
from samatte.track.sam2_backend import Sam2Tracker  # noqa: E402


@pytest.fixture()
def fake_ckpt(tmp_path):
    p = tmp_path / "sam2.1_hiera_tiny.pt"
    p.write_bytes(b"not loaded before track()")  # the constructor only locates the weights
    return p


@pytest.mark.parametrize("options", [
    {"fill_hole_area": math.nan}, {"fill_hole_area": math.inf}, {"cache_frames": -math.inf},
    {"image_size": 100}, {"image_size": True}, {"image_size": 32}, {"max_cond_frames": 10 ** 9},
    {"work_dir": 3}, ["max_cond_frames", 2],
])
def test_bad_options_are_jobspec_invalid_when_made(fake_ckpt, options):
    with pytest.raises(JobSpecError) as ei:
        Sam2Tracker("tiny", checkpoint=fake_ckpt, device="cpu", options=options)
    assert ei.value.code == "JOBSPEC_INVALID"
    assert str(ei.value.details.get("field", "")).startswith("tracker.options")


@pytest.mark.parametrize("device", ["gpu", "CPU", "cuda:x", "cuda:0:1", 0])
def test_bad_device_is_jobspec_invalid_when_made(fake_ckpt, device):
    with pytest.raises(JobSpecError) as ei:
        Sam2Tracker("tiny", checkpoint=fake_ckpt, device=device)
    assert ei.value.code == "JOBSPEC_INVALID"


def test_good_options_normalised_and_work_dir_quiet(fake_ckpt, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="samatte.track.sam2"):
        tr = Sam2Tracker("tiny", checkpoint=fake_ckpt, device="auto",
                         options={"image_size": 256.0, "max_cond_frames": -1.0, "work_dir": str(tmp_path),
                                  "work_size": 320})  # work_size: a flow option ("auto" jobs)
    assert tr._image_size == 256 and isinstance(tr._image_size, int)
    assert tr.options["max_cond_frames"] == -1 and isinstance(tr.options["max_cond_frames"], int)
    msgs = [r.getMessage() for r in caplog.records]
    assert not any("option 'work_dir'" in m for m in msgs), msgs
    assert any("option 'work_size'" in m for m in msgs), msgs  # a foreign option is still named in the log
