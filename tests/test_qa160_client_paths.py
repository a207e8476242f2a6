"""QA160 (pipeline TD, day 8): ``WorkerClient`` given a ``pathlib.Path``.

Regression: a TD script that keeps its paths as ``pathlib.Path`` (as ``samatte.api.run`` and
``samatte.pipeline.run`` take them) passed one to ``WorkerClient.run`` / ``start_job`` / ``validate`` /
``status`` (a job file) or ``probe`` (a plate): each failed with PROTOCOL_INVALID "field 'job' of protocol
message 'status' has the wrong type (PosixPath)" (the docstring says "a path to a .json file"). Now a
path-like is read as its text is.
"""
import json
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte import jobspec
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa160client")
    s = make_shot(str(d / "sh010"), frames=2, size=(64, 64), first=1001)
    job = jobspec.new_job("sh010/plate/plate.####.exr", "out/m.####.exr", name="sh010", tracker="flow",
                          matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    (d / "sh010.json").write_text(json.dumps(job))   # relative paths: the job file's folder's
    return d


def test_a_path_job_and_plate_are_read_as_their_text(shot, tmp_path, monkeypatch):
    from samatte.client import WorkerClient
    monkeypatch.chdir(str(tmp_path))     # not the job's folder: its paths are still its own folder's
    job = shot / "sh010.json"
    with WorkerClient(sys.executable, timeout=120) as w:
        v = w.validate(job)
        assert v["valid"] and v["job"]["plate"]["path"] == str(shot / "sh010" / "plate" / "plate.####.exr")
        assert w.status(job)["frames"] == {"1001": "missing", "1002": "missing"}
        assert w.probe(shot / "sh010" / "plate" / "plate.####.exr")["frames_on_disk"] == "1001-1002"
        res = w.run(Path(job), frames="1001")
        assert res["written"] == [str(shot / "out" / "m.1001.exr")]
        assert w.status(job)["frames"]["1001"] == "complete"
