"""QA of a pipeline TD's day 7: the Python API from a TD's script, a progress or frame callback that is not
a function (``progress=bar``, a tqdm bar where ``bar.update`` was meant; a value where the name of a
function was meant)."""
import os
import sys

import pytest

from samatte import jobspec
from samatte.errors import JobSpecError


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151cb")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "unused" / "m.####.exr"), frames="1001-1002", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


class Bar:
    """A progress bar object (not callable: its ``update`` is)."""
    def update(self, n=1):
        pass


def _job(shot, out):
    return dict(shot, output=dict(shot["output"], path=str(out / "m.####.exr")))


@pytest.mark.parametrize("kw, field", [({"progress": Bar()}, "progress"), ({"on_frame": "log_frame"}, "on_frame")])
def test_api_run_refuses_a_callback_that_is_no_function_before_a_frame_is_written(shot, tmp_path, kw, field):
    """``api.run(job, on_frame="log_frame")`` wrote frame 1001, then raised a bare ``TypeError: 'str' object is
    not callable`` (no code, the job half done); ``progress=Bar()`` the same at the first progress. Now
    JOBSPEC_INVALID naming the argument before anything is read or written, as ``cancel`` already was."""
    from samatte import api
    out = tmp_path / "out"
    with pytest.raises(JobSpecError) as e:
        api.run(_job(shot, out), **kw)
    assert e.value.details["field"] == field and "must be a function" in e.value.message
    assert not out.exists()


@pytest.mark.parametrize("kw, field", [({"on_progress": 5}, "on_progress"), ({"on_event": []}, "on_event")])
def test_pipeline_run_refuses_it_too(shot, tmp_path, kw, field):
    from samatte import pipeline
    out = tmp_path / "out"
    with pytest.raises(JobSpecError) as e:
        pipeline.run(_job(shot, out), **kw)
    assert e.value.details["field"] == field
    assert not out.exists()
    seen = []
    r = pipeline.run(_job(shot, out), on_progress=seen.append, on_event=None)   # functions: as before
    assert len(r["written"]) == 2 and seen


def test_worker_client_run_refuses_it_before_the_job_is_sent(shot, tmp_path):
    """WorkerClient.run(job, on_progress=bar): the job ran in the worker, the callback raised TypeError at the
    first progress, the job was cancelled. Now refused before the job is sent; the worker stays free."""
    from samatte.client import WorkerClient
    out = tmp_path / "out"
    with WorkerClient(sys.executable, timeout=120) as w:
        with pytest.raises(JobSpecError) as e:
            w.run(_job(shot, out), on_progress=Bar())
        assert e.value.details["field"] == "on_progress" and not out.exists()
        assert len(w.run(_job(shot, out), frames="1001")["written"]) == 1
    assert os.path.isfile(str(out / "m.1001.exr"))
