"""QA (README as the user's manual): claims of README.md checked as written, where the code and the
README disagreed, so they cannot drift again. Fast: tiny demo shots (96x64, 3-6 frames), fake weights.
tests/test_readme_examples.py runs the "Farm and TD scripting" examples; tests/test_qa_contract.py
the command-line synopsis; tests/test_qa_api.py the worker-protocol example."""
import hashlib
import os
import re
import sys

import pytest

from samatte import errors, models

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
README = os.path.join(REPO, "README.md")


def _readme():
    return open(README, encoding="utf-8").read()


def _section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), _readme(), re.S | re.M)
    assert m, "README has no section %r" % title
    return m.group(1)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("SAMATTE_WEIGHTS_URL", raising=False)
    return tmp_path


@pytest.fixture
def fake_model(monkeypatch):
    payload = b"not really a checkpoint" * 10
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake_model.pt", hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(models.MODELS, "fake_model", info)
    return payload


# -- Model weights: "`--offline` also takes a `file://` URL" ----------------------------------------

def test_cli_models_download_offline_takes_a_file_url(isolated, fake_model, capsys, monkeypatch):
    """README (Model weights): `samatte models download NAME --offline /studio/share/...`; "`--offline`
    also takes a `file://` URL". The CLI made the value absolute before samatte read the URL, so
    `--offline file:///studio/w` looked in `<cwd>/file:/studio/w`: WEIGHTS_MISSING, exit 6."""
    from samatte import cli
    shelf = isolated / "shelf"
    shelf.mkdir()
    (shelf / "fake_model.pt").write_bytes(fake_model)
    url = "file://" + str(shelf)
    assert cli.main(["models", "download", "fake_model", "--offline", url]) == 0
    assert (isolated / "models" / "fake_model.pt").read_bytes() == fake_model
    (isolated / "models" / "fake_model.pt").unlink()
    assert cli.main(["models", "download", "fake_model", "--offline-dir", url + "/"]) == 0
    assert (isolated / "models" / "fake_model.pt").is_file()
    # a plain folder, relative to the current one, still works
    monkeypatch.chdir(str(isolated))
    (isolated / "models" / "fake_model.pt").unlink()
    assert cli.main(["models", "download", "fake_model", "--offline", "shelf"]) == 0
    capsys.readouterr()


def test_installer_offline_file_url_reaches_samatte(tmp_path, monkeypatch):
    """README (Model weights): `bash install/install.sh --offline /studio/share/samatte_models`, and
    "`--offline` also takes a `file://` URL". The installer passed `os.path.abspath("file:///x")`
    (`<cwd>/file:/x`) on: the weights were "not found" and the install went on without them (exit 0).
    Now samatte reads the folder: here a truncated checkpoint, which must fail verification (exit 6)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("samatte_installer_qa47", os.path.join(REPO, "install", "install.py"))
    inst = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inst)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\nexec %s \"$@\"\n" % sys.executable)
    py.chmod(0o755)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "sam2.1_hiera_tiny.pt").write_bytes(b"\0" * 1000)    # the wrong size: never installed
    monkeypatch.setenv("PYTHONPATH", os.path.join(REPO, "core"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    args = types_namespace(model=["sam2.1_hiera_tiny"], offline="file://" + str(shelf),
                           models_dir=str(tmp_path / "models"))
    assert inst.fetch_weights(str(venv), args) == 6
    assert not (tmp_path / "models" / "sam2.1_hiera_tiny.pt").exists()


def types_namespace(**kw):
    import argparse
    return argparse.Namespace(**kw)


def test_weights_are_looked_up_where_the_readme_says(tmp_path, monkeypatch):
    """README (Model weights) said weights are looked up in `$SAMATTE_MODELS`, a `models/` folder beside
    the venv and `~/.samatte/models`, "first match wins", as if all three were searched. The code looks
    in one of the first two (`$SAMATTE_MODELS` when set replaces the venv's folder, as the installer's
    --models-dir note says) and then in `~/.samatte/models`; the README now says so."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "env"))
    assert models.search_dirs() == [tmp_path / "env", tmp_path / "home" / ".samatte" / "models"]
    text = " ".join(_section("Model weights").split())
    assert "`$SAMATTE_MODELS` when set, else a `models/` folder beside the venv" in text
    assert "then `~/.samatte/models`" in text


# -- TD scripting: api.scores(job, frames=None) ----------------------------------------------------

@pytest.fixture
def td_job(tmp_path):
    """A 4-frame 96x64 shot whose job names no plate.frames (the frames on disk), matted but for 1004."""
    from samatte import api
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "src"), frames=4, size=(96, 64))
    job = api.job(s["plate"], str(tmp_path / "out" / "m.####.exr"),
                  prompts={"ball": [{"frame": s["prompt_frame"], "type": "polygon", "points": s["polygon"]}]},
                  tracker="shapes", matte="none")
    assert job["plate"].get("frames") is None
    api.run(job, frames="1001-1003")
    return job


def test_api_scores_takes_a_range_string_and_names_unwritten_frames(td_job):
    """README (Farm and TD scripting): `api.scores(job, frames=None)`, "{1001: 0.93, ...}: per-frame
    scores read back from the EXRs" (its docstring: None where a frame is not written yet). frames as
    a range string, as every other frames argument takes it, raised FRAME_RANGE_INVALID "frame must be
    an integer, got '1'" (the string was read character by character); and with no plate.frames a frame
    not written yet was left out instead of None."""
    from samatte import api
    scores = api.scores(td_job)
    assert sorted(scores) == [1001, 1002, 1003, 1004]
    assert scores[1004] is None and all(isinstance(scores[f], float) for f in (1001, 1002, 1003))
    assert api.scores(td_job, frames="1002-1003") == {1002: scores[1002], 1003: scores[1003]}
    assert api.scores(td_job, frames=[1004]) == {1004: None}
    with pytest.raises(errors.FrameRangeError):
        api.scores(td_job, frames="2000")


# -- the tables and lists the README gives -----------------------------------------------------------

def test_exit_status_table_is_the_code_s():
    """README (Exit status): every row's status and codes are samatte.errors.EXIT_CODES, every code is
    in the table (test_cli keeps its own copy; this reads the README itself)."""
    table = re.search(r"^### Exit status\n(.*?)\n\n", _readme(), re.S | re.M).group(1)
    documented = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for code in re.findall(r"`([A-Z_]+)`", cells[2]):
            documented[code] = int(cells[0])
    assert documented == errors.EXIT_CODES


def test_every_tracker_and_matte_option_is_documented():
    """Each option samatte.registry accepts is named in the README (flow's `flow_finest_scale` was not),
    and each name the README gives as a `matte.options` key is one (`depth_local`, described among them,
    is a RefineParams field: in a JobSpec it is JOBSPEC_INVALID; the README now says so)."""
    from samatte import registry
    text = _readme()
    for backend, opts in registry.TRACKER_OPTIONS.items():
        for name in opts:
            assert re.search(r"`%s(`|: )" % name, text), (backend, name)
    for name in registry.MATTE_OPTIONS:
        assert re.search(r"`%s(`|: )" % name, text), name
    js = _section("JobSpec")
    assert "`depth_local` (a `RefineParams` field, not a matte option" in " ".join(js.split())


def test_worker_protocol_table_names_the_objects_field():
    """README (Worker protocol): the `job` row listed `stage`, `frames`, `preroll` but not `objects`,
    which the worker takes (issue 14) and the Farm section points to; nor did the client signature."""
    from samatte import client
    import inspect
    sec = _section("Worker protocol")
    row = next(ln for ln in sec.splitlines() if ln.startswith("| host → worker | `job`"))
    assert "`objects`" in row
    assert "objects" in inspect.signature(client.WorkerClient.start_job).parameters
    assert re.search(r"start_job\(job, \*, job_id=None, stage=None, frames=None, preroll=None, objects=None\)",
                     " ".join(sec.split()))


# -- the Python API example --------------------------------------------------------------------------

def test_python_api_example_runs(tmp_path, monkeypatch, capsys):
    """README (Python API): the block builds a job with samatte.jobspec and saves it (run as written, the
    save path moved into a temp folder); its run / run_iter / CancelToken lines then run as written on a
    tiny shot (the block's own job is a 1080p, 100-frame one)."""
    from samatte import jobspec
    from samatte.demo import make_shot
    code = re.findall(r"```python\n(.*?)```", _section("Python API"), re.S)[0]
    build, run = code.split("result = samatte.run", 1)
    run = "result = samatte.run" + run
    assert "/jobs/sh010.json" in build
    ns = {}
    exec(compile(build.replace("/jobs/sh010.json", str(tmp_path / "sh010.json")), "README.md (Python API)", "exec"), ns)
    saved = jobspec.load(str(tmp_path / "sh010.json"))
    assert [o["name"] for o in saved["objects"]] == ["hero", "car"]
    assert [p["type"] for p in saved["objects"][0]["prompts"]] == ["polygon", "points"]
    assert saved["plate"]["colourspace"] == "ACEScg" and saved["objects"][1]["masks"]["path"] == "/roto/car.####.png"
    s = make_shot(str(tmp_path / "shot"), frames=3, size=(96, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    ns = {"job": job}
    exec(compile("import samatte\n" + run, "README.md (Python API)", "exec"), ns)
    r = ns["result"]
    for key in ("job", "status", "frames", "written", "skipped", "output", "tracker", "matte", "scores",
                "elapsed_s", "samatte_version"):
        assert key in r, key
    assert r["status"] == "done" and len(r["written"]) == 3 and set(r["scores"]) == {"1001", "1002", "1003"}
    assert "matte" in capsys.readouterr().out
