"""QA of SAM 2 as the product uses it, end to end: jobs whose tracker is ``sam2`` or ``auto`` (resolving to
sam2 because a checkpoint is installed) through ``samatte.pipeline``, the worker's warm model and the
farm export. The checkpoint is SAM2.1-tiny with random weights saved as a real ``.pt`` file in a
``$SAMATTE_MODELS`` folder (the registry's published size is lifted for it: the loader checks the size
of an installed file); the jobs ask for ``image_size: 128`` so that the 6-frame 128x72 demo shot tracks
in a few seconds on CPU."""
import io
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from samatte import jobspec, models, pipeline  # noqa: E402
import test_sam2_fakes  # noqa: E402

_one_thread = test_sam2_fakes._one_thread  # autouse: torch on one thread

TINY = "sam2.1_hiera_tiny"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_sam2c_shot")
    return make_shot(str(d), frames=6, size=(128, 72))


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """A models folder holding SAM2.1-tiny with random weights (a checkpoint the loader accepts)."""
    from samatte.track.sam2_backend import build_predictor
    d = tmp_path_factory.mktemp("qa_sam2c_models")
    torch.manual_seed(0)
    p = build_predictor(TINY, device="cpu", image_size=128, random_init=True)
    torch.save({"model": p.state_dict()}, str(d / models.get_model(TINY).filename))
    return d


@pytest.fixture()
def with_weights(weights_dir, monkeypatch):
    monkeypatch.setenv("SAMATTE_MODELS", str(weights_dir))
    monkeypatch.setitem(models.MODELS, TINY, models.MODELS[TINY]._replace(size=None))
    return weights_dir


def _job(shot, out, options, *, backend="auto"):
    s = shot
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker=backend, matte="none")
    job["tracker"]["options"] = dict(options)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["frames"][-1], s["polygon"]),
                                     jobspec.points_prompt(s["frames"][2], [(60, 30)], [0])])
    return job


def _alphas(result):
    from samatte.demo import read_alpha
    return [read_alpha(p) for p in sorted(result["written"])]


# -- tracker.backend "auto": the options of flow and sam2 are both accepted, each ignores the other's ------

def test_auto_job_with_flow_options_runs_sam2(shot, tmp_path, with_weights):
    """README (Tracking settings): with ``auto`` the options of flow and sam2 are both accepted (either may
    run). A job that validated, with a flow option, resolved to sam2 and then failed JOBSPEC_INVALID
    ("unknown tracker option 'work_size' for backend 'sam2'") when the pipeline built the tracker."""
    job = _job(shot, tmp_path / "a" / "m.####.exr", {"image_size": 128, "work_size": 320, "ram_mb": 64})
    jobspec.validate(job)
    res = pipeline.run(job)
    assert res["tracker"] == "sam2" and len(res["written"]) == 6
    ref = pipeline.run(_job(shot, tmp_path / "b" / "m.####.exr", {"image_size": 128}))
    for a, b in zip(_alphas(res), _alphas(ref)):
        np.testing.assert_array_equal(a, b)


def test_auto_job_with_sam2_options_runs_flow_without_weights(shot, tmp_path, monkeypatch):
    """The same without weights: ``auto`` resolves to flow, whose tracker refused the sam2 options."""
    empty = tmp_path / "no_models"
    empty.mkdir()
    monkeypatch.setenv("SAMATTE_MODELS", str(empty))
    monkeypatch.setattr(models, "search_dirs", lambda: [empty])
    job = _job(shot, tmp_path / "f" / "m.####.exr", {"image_size": 128, "max_cond_frames": 2, "work_size": 128})
    res = pipeline.run(job)
    assert res["tracker"] == "flow" and len(res["written"]) == 6


def test_worker_warm_model_of_an_auto_job_with_flow_options(shot, tmp_path, with_weights):
    """The worker builds the warm SAM 2 tracker itself: the same refusal, before the pipeline ran."""
    from samatte.track.sam2_backend import Sam2Tracker
    from samatte.worker import Worker
    job = _job(shot, tmp_path / "w" / "m.####.exr", {"image_size": 128, "work_size": 320})
    worker = Worker(io.BytesIO(), io.BytesIO())
    tracker = worker._warm_tracker(pipeline, job)
    assert isinstance(tracker, Sam2Tracker)


def test_farm_export_of_an_auto_job_with_flow_options(shot, tmp_path, with_weights):
    """The farm document pins ``auto`` to the backend it resolves to here; the pinned job kept the flow
    options and every farm task failed JOBSPEC_INVALID. Its frames' keys are those of the job at home
    (frames a farm node writes are current for the submitting machine)."""
    from samatte.cachekey import frame_keys
    from samatte.farm.openjd import farm_document
    job = _job(shot, tmp_path / "farm" / "m.####.exr", {"image_size": 128, "work_size": 320, "ram_mb": 64})
    doc = farm_document(job)
    pinned = json.loads(json.dumps(doc["job"]).replace("<Plate>", os.path.dirname(shot["plate"]))
                        .replace("<Output>", str(tmp_path / "farm")))
    assert pinned["tracker"]["backend"] == "sam2"
    pinned = jobspec.validate(pinned)
    home = pipeline.load_job(job)
    resolved = pipeline.resolve_backends(home)
    assert frame_keys(pinned, resolved=resolved) == frame_keys(home, resolved=resolved)


def test_read_only_frames_raise_no_torch_warning():
    """FrameSource hands out read-only frames; every SAM 2 run printed torch's UserWarning "The given NumPy
    array is not writable ... undefined behavior" on stderr (the CLI's, a host's log). Nothing writes
    to the tensor made from it. Torch warns once per process, so this runs in a fresh one."""
    import subprocess
    import sys
    code = ("import numpy as np\n"
            "from samatte.track.sam2_backend import preprocess_display\n"
            "a = np.zeros((8, 8, 3), np.float32)\n"
            "a.flags.writeable = False\n"
            "preprocess_display(a, 64)\n"
            "preprocess_display(np.zeros((64, 64, 3), np.float32)[None][0], 64)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "not writable" not in r.stderr, r.stderr
