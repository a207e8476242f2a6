"""QA of a pipeline TD's day 7: ``WorkerClient(timeout=...)`` from a TD's script or a studio config: 0 (the usual
"no limit"), a negative value, a number read from a config file as text."""
import sys

import pytest

from samatte import jobspec
from samatte.errors import JobSpecError


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151to")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    j = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="1001-1002", name="sh010",
                        tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(j, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return j


@pytest.mark.parametrize("timeout", [0, -1, 0.0])
def test_a_timeout_of_zero_or_less_is_no_limit_not_a_worker_killed_at_once(job, timeout):
    """``WorkerClient(timeout=0)`` killed the worker as the job started: "[WORKER_FAILED] the worker sent nothing
    for 0 s and was stopped" (-1 the same), while ``startup_timeout=0`` was no limit and a request's wait with
    ``timeout=0`` the 300 s default. Zero or less is now no limit for a job too."""
    from samatte.client import WorkerClient
    with WorkerClient(sys.executable, timeout=timeout) as w:
        assert w.timeout is None
        res = w.run(job, frames="1001")
        assert [int(f) for f in res["frames"]] == [1001] and w.alive()


@pytest.mark.parametrize("timeout", ["5", True, [5]])
def test_a_timeout_that_is_no_number_is_refused_before_a_worker_starts(timeout):
    """``timeout="600"`` (a value read from a config file or an environment variable) started a worker and
    then raised a bare TypeError at the job's first wait (``float + str``). Now JOBSPEC_INVALID naming it."""
    from samatte.client import WorkerClient
    with pytest.raises(JobSpecError) as e:
        WorkerClient(sys.executable, timeout=timeout)
    assert e.value.details["field"] == "timeout" and "seconds" in e.value.message
