"""QA "models day": weights management and SAM 2 as a studio runs them (a TD's pipeline in the same
Python, shared models folders, farm workers). SAM 2 with random weights at image size 256."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("torch")
pytest.importorskip("sam2")
pytest.importorskip("hydra")

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from samatte.track.sam2_backend import build_predictor  # noqa: E402


@pytest.fixture()
def hydra_of_the_host():
    """Leave Hydra's process-wide state as this test found it."""
    gh = GlobalHydra.instance()
    before = gh.hydra
    gh.clear()
    yield gh
    gh.clear()
    if before is not None:
        gh.initialize(before)


def _td_config(tmp_path):
    conf = tmp_path / "td_conf"
    conf.mkdir()
    (conf / "shot.yaml").write_text("shot: sh010\nfps: 24\n")
    return str(conf)


def test_sam2_builds_in_a_process_whose_hydra_a_td_pipeline_initialised(tmp_path, hydra_of_the_host):
    """A TD's pipeline initialised Hydra with its own configs: SAM 2 used to fail with MODEL_ERROR
    "Cannot find primary config 'configs/sam2.1/sam2.1_hiera_t.yaml'" (sam2 initialises Hydra only
    when nobody has); now it builds, and the pipeline's Hydra is untouched afterwards."""
    gh = hydra_of_the_host
    initialize_config_dir(config_dir=_td_config(tmp_path), version_base="1.2")
    theirs = gh.hydra
    pred = build_predictor("tiny", random_init=True, image_size=256)
    assert type(pred).__name__ == "SAM2VideoPredictor" and pred.image_size == 256
    assert gh.hydra is theirs
    assert compose("shot")["shot"] == "sh010"
    build_predictor("tiny", random_init=True, image_size=256)  # a second job in the same process
    assert gh.hydra is theirs and compose("shot")["fps"] == 24


def test_building_sam2_leaves_hydra_free_for_a_pipeline_that_starts_later(tmp_path, hydra_of_the_host):
    """samatte built SAM 2 first (an api.run in a TD's session): the pipeline initialising Hydra after it
    used to get "GlobalHydra is already initialized" (sam2 left its own Hydra set process-wide)."""
    gh = hydra_of_the_host
    build_predictor("tiny", random_init=True, image_size=256)
    assert not gh.is_initialized()
    initialize_config_dir(config_dir=_td_config(tmp_path), version_base="1.2")
    assert compose("shot")["shot"] == "sh010"


# -- weights a farm user may not read -----------------------------------------------------------------

def _core():
    import samatte
    return os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))


def _other_user():
    """argv prefix that runs a command as a user the file's mode bars (root reads anything)."""
    if not hasattr(os, "geteuid"):
        pytest.skip("POSIX permissions")
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture()
def studio_share():
    """A shot, a job (tracker auto) and a models folder holding sam2.1_hiera_tiny.pt at its published
    size, mode 000: found, complete, not readable by the farm user. World-readable folder (not pytest's
    0700 tmp) so the other user reaches the job."""
    from samatte import api, jobspec
    from samatte.demo import make_shot
    root = tempfile.mkdtemp(prefix="samatte_qa_models_")
    os.chmod(root, 0o777)
    shot = make_shot(os.path.join(root, "shot"), frames=2, size=(64, 64), first=1001)
    job = api.job(shot["plate"], os.path.join(root, "out", "m.####.exr"), quality="draft",
                  prompts={"hero": [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])]})
    assert job["tracker"]["backend"] == "auto"
    api.save(job, os.path.join(root, "job.json"))
    models_dir = os.path.join(root, "models")
    os.mkdir(models_dir)
    weights = os.path.join(models_dir, "sam2.1_hiera_tiny.pt")
    with open(weights, "wb") as f:
        f.truncate(156008466)  # sparse, the published size
    for d, dirs, files in os.walk(root):
        for n in dirs:
            os.chmod(os.path.join(d, n), 0o777)
        for n in files:
            os.chmod(os.path.join(d, n), 0o666)
    os.chmod(weights, 0o000)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _samatte(prefix, root, *args):
    env = dict(os.environ, HOME=root, SAMATTE_MODELS=os.path.join(root, "models"),
               PYTHONPATH=_core())
    return subprocess.run(prefix + [sys.executable, "-m", "samatte"] + list(args), cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_unreadable_weights_on_a_share_are_a_permission_error_not_corrupt(studio_share):
    """The farm user may not read the studio's weights: the job used to stop at "loading SAM2" with
    WEIGHTS_CORRUPT "... delete it and install it again" (wrong, and it is not theirs to delete), and
    `models list` showed the file as installed. Now: MODEL_ERROR naming the permissions, before any
    frame, and `models list` says UNREADABLE."""
    prefix = _other_user()
    root = studio_share
    p = _samatte(prefix, root, "run", "job.json", "--json")
    assert p.returncode == 6, p.stderr[-2000:]
    last = json.loads(p.stdout.strip().splitlines()[-1])
    assert last["type"] == "error" and last["code"] == "MODEL_ERROR", last
    assert "may not read it" in last["message"] and "delete" not in last["message"].lower(), last
    assert last["details"]["reason"] == "unreadable"
    assert not any("loading SAM2" in line for line in p.stdout.splitlines()), p.stdout  # stopped when made
    out = os.path.join(root, "out")
    assert not os.path.isdir(out) or not [n for n in os.listdir(out) if n.endswith(".exr")]
    assert os.path.getsize(os.path.join(root, "models", "sam2.1_hiera_tiny.pt")) == 156008466  # kept

    p = _samatte(prefix, root, "models", "list", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    row = {r["name"]: r for r in json.loads(p.stdout)["models"]}["sam2.1_hiera_tiny"]
    assert row["complete"] is True and row["readable"] is False
    p = _samatte(prefix, root, "models", "list")
    assert "UNREADABLE by this user" in p.stdout, p.stdout
    p = _samatte(prefix, root, "info")  # said only the path, as for good weights
    line = [x for x in p.stdout.splitlines() if x.strip().startswith("sam2.1_hiera_tiny")]
    assert line and "UNREADABLE by this user" in line[0], p.stdout


def test_load_state_dict_of_an_unreadable_file_is_not_called_corrupt(tmp_path, monkeypatch):
    """Past the check (an ACL that os.access and open disagree on, root squash): torch.load's
    PermissionError is the same MODEL_ERROR, never WEIGHTS_CORRUPT's "delete it"."""
    import torch

    from samatte import models
    from samatte.errors import ModelError, WeightsCorruptError
    p = tmp_path / "sam2.1_hiera_tiny.pt"
    p.write_bytes(b"x")

    def refuse(f, *a, **k):
        raise PermissionError(13, "Permission denied", str(f))
    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(ModelError) as ei:
        models.load_state_dict(torch.nn.Linear(1, 1), p)
    assert not isinstance(ei.value, WeightsCorruptError) and ei.value.code == "MODEL_ERROR"
    assert "delete" not in str(ei.value).lower()


# -- a device this machine does not have ---------------------------------------------------------------

@pytest.fixture()
def one_gpu(monkeypatch):
    """A farm node with one CUDA device (as torch reports it)."""
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    return torch


def test_a_cuda_index_the_node_does_not_have_is_a_model_error(one_gpu, monkeypatch):
    """A job made on a two-GPU workstation (device cuda:1) rendered on a one-GPU node: resolve_device
    passed cuda:1 on to torch, whose "invalid device ordinal" surfaced as an unexpected error (exit 1)
    when the model moved to the GPU. Now a MODEL_ERROR naming the devices there are."""
    from samatte import models
    from samatte.errors import ModelError
    with pytest.raises(ModelError) as ei:
        models.resolve_device("cuda:1")
    assert ei.value.code == "MODEL_ERROR" and ei.value.exit_code == 6
    assert "cuda:1" in str(ei.value) and "1 CUDA device" in str(ei.value)
    assert ei.value.details["cuda_devices"] == 1
    assert str(models.resolve_device("cuda:0")) == "cuda:0"
    assert str(models.resolve_device("cuda")) == "cuda"
    monkeypatch.setattr(one_gpu.cuda, "device_count", lambda: 2)
    assert str(models.resolve_device("cuda:1")) == "cuda:1"


def test_sam2_tracker_on_a_missing_gpu_stops_before_building_the_model(one_gpu, tmp_path, monkeypatch):
    from samatte.errors import ModelError
    from samatte.track import sam2_backend
    ckpt = tmp_path / "sam2.1_hiera_tiny.pt"
    ckpt.write_bytes(b"never read")
    built = []
    monkeypatch.setattr(sam2_backend, "build_predictor", lambda *a, **k: built.append(k) or 1 / 0)
    tr = sam2_backend.Sam2Tracker("tiny", checkpoint=ckpt, device="cuda:1")
    with pytest.raises(ModelError) as ei:
        tr.load()
    assert ei.value.code == "MODEL_ERROR" and "cuda:1" in str(ei.value) and not built


# -- a model samatte does not know -------------------------------------------------------------------

@pytest.fixture()
def weights_installed(tmp_path, monkeypatch):
    """Every known model's weights installed (placeholders at their published sizes)."""
    from samatte import models
    d = tmp_path / "models"
    d.mkdir()
    for info in models.MODELS.values():
        with open(d / info.filename, "wb") as f:
            f.truncate(info.size)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(d))
    return d


@pytest.mark.parametrize("model", ["sam2.1_hiera_larg", "sam2_hiera_large", "SAM2.1_HIERA_TINY", "sam3", ""])
def test_a_misspelt_model_is_refused_not_quietly_tracked_with_flow(weights_installed, tmp_path, model):
    """tracker auto with a model name samatte does not know, every SAM 2.1 weight installed: the job
    used to run to the end with the flow tracker (a log warning only: "could not look up weights"),
    rc 0; a sam2 job failed with MODEL_ERROR only when the tracker was made. Now the JobSpec is
    refused (JOBSPEC_INVALID, field tracker.model) by run, validate and the worker alike, and no frame
    is written."""
    from samatte import api, jobspec
    from samatte.cli import main
    from samatte.demo import make_shot
    from samatte.errors import JobSpecError
    shot = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64), first=1001)
    out = tmp_path / "out"
    job = api.job(shot["plate"], str(out / "m.####.exr"), quality="draft",
                  prompts={"hero": [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])]})
    for backend in ("auto", "sam2"):
        job["tracker"] = {"backend": backend, "model": model, "options": {}}
        with pytest.raises(JobSpecError) as ei:
            jobspec.validate(job)
        assert ei.value.code == "JOBSPEC_INVALID" and ei.value.details["field"] == "tracker.model"
        assert "sam2.1_hiera_tiny" in str(ei.value)
        path = tmp_path / ("job_%s.json" % backend)
        path.write_text(json.dumps(job))
        assert main(["run", str(path)]) == 2
        assert not out.exists() or not [n for n in os.listdir(out) if n.endswith(".exr")]
    job["tracker"] = {"backend": "flow", "model": model, "options": {}}  # not loaded: not checked
    assert jobspec.validate(job)["tracker"]["model"] == model


def test_every_model_name_and_alias_is_accepted_and_the_tables_agree():
    from samatte import models, registry
    assert tuple(models.MODELS) == registry.TRACKER_MODELS
    for name in list(models.MODELS) + list(models.ALIASES) + [i.filename for i in models.MODELS.values()]:
        assert models.get_model(name).name == registry.model_name(name)
        assert registry.validate_model(name) == name


def test_info_marks_weights_a_job_would_refuse_as_models_list_does(tmp_path, monkeypatch, capsys):
    """A truncated sam2.1_hiera_tiny.pt: `models list` said INCOMPLETE, `samatte info` (which README
    gives as the other way to see what is installed, and which a TD runs on a farm node) printed its
    path like good weights. Now both say INCOMPLETE (info --json: models_problems)."""
    from samatte.cli import main
    d = tmp_path / "models"
    d.mkdir()
    (d / "sam2.1_hiera_tiny.pt").write_bytes(b"\0" * 1000)
    with open(d / "sam2.1_hiera_small.pt", "wb") as f:
        f.truncate(184416285)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(d))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    rows = {x.split()[0]: x for x in out.splitlines() if x.strip().startswith("sam2.1_hiera_")}
    assert "INCOMPLETE (1000 of 156008466 bytes" in rows["sam2.1_hiera_tiny"], out
    assert rows["sam2.1_hiera_small"].split()[1] == str(d / "sam2.1_hiera_small.pt")
    assert "not downloaded" in rows["sam2.1_hiera_large"]
    assert main(["info", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["models"]["sam2.1_hiera_tiny"] == str(d / "sam2.1_hiera_tiny.pt")  # the hello's map, unchanged
    assert list(doc["models_problems"]) == ["sam2.1_hiera_tiny"]
    assert main(["models", "list"]) == 0
    assert "INCOMPLETE (1000 of 156008466 bytes" in capsys.readouterr().out
