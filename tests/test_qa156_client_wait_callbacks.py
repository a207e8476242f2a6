"""QA156: ``JobHandle.wait(on_progress=bar)`` (a callback that is not a function) raised a bare ``TypeError`` at the
first event, after the job had started taking frames. ``WorkerClient.run`` / ``api.run`` / ``pipeline.run`` already
refused it (``samatte.errors.check_callbacks``, JOBSPEC_INVALID naming the argument); ``JobHandle.wait`` now does the
same before it takes any event, and cancels the job as when a callback raises, so the worker is free again."""
import sys

import pytest

from samatte import jobspec
from samatte.errors import JobSpecError


class Bar:
    """A progress bar object (not callable: its ``update`` is)."""
    def update(self, n=1):
        pass


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa156cb")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    j = jobspec.new_job(s["plate"], str(d / "unused" / "m.####.exr"), frames="1001-1002", name="sh010",
                        tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(j, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return j


@pytest.fixture(scope="module")
def worker():
    """One worker for both cases: each leaves it free again (what the test checks), so the second case's refusal
    is checked on a worker that already served a refused job (one worker start-up less)."""
    from samatte.client import WorkerClient
    with WorkerClient(sys.executable, timeout=120) as w:
        yield w


def _job(job, out):
    return dict(job, output=dict(job["output"], path=str(out / "m.####.exr")))


@pytest.mark.parametrize("kw, field", [({"on_progress": Bar()}, "on_progress"), ({"on_event": "log"}, "on_event")])
def test_job_handle_wait_refuses_a_callback_that_is_no_function(job, worker, tmp_path, kw, field):
    out = tmp_path / "out"
    h = worker.start_job(_job(job, out))
    with pytest.raises(JobSpecError) as e:
        h.wait(**kw)
    assert e.value.details["field"] == field and "must be a function" in e.value.message
    assert h.done                        # cancelled and read to its end: the worker is free again
    seen = []
    r = worker.start_job(_job(job, out), frames="1001").wait(on_progress=seen.append)   # functions: as before
    assert len(r["written"]) == 1 and seen
