"""QA of a pipeline TD's day 7: samatte's documented environment variables (README, *Environment
variables*) set to values a farm's or a workstation's environment really carries, and what each does."""
import hashlib
import os

import pytest

from samatte import models


@pytest.fixture
def shelf(tmp_path, monkeypatch):
    """A registry entry ``fake_model`` of 1 MiB, published on a studio shelf (``tmp_path/shelf``)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    payload = os.urandom(1 << 20)
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake.pt", hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(models.MODELS, "fake_model", info)
    d = tmp_path / "shelf"
    d.mkdir()
    (d / "fake_model.pt").write_bytes(payload)
    return d


def test_a_weights_mirror_given_as_a_folder_path_is_that_folder(shelf, tmp_path, monkeypatch):
    """``SAMATTE_WEIGHTS_URL=/studio/share/sam2`` (the shared folder, without ``file://``) was an
    unexpected error: urllib's ``ValueError: unknown url type`` escaped as SAMATTE_ERROR with a
    traceback ("a bug"). An absolute folder path is that folder's file:// address."""
    monkeypatch.setenv("SAMATTE_WEIGHTS_URL", str(shelf) + "/")
    assert models.download_url(models.MODELS["fake_model"]) == shelf.as_uri() + "/fake_model.pt"
    path = models.download("fake_model", dest=str(tmp_path / "d1"))
    assert (tmp_path / "d1" / "fake_model.pt").read_bytes() == (shelf / "fake_model.pt").read_bytes()
    assert str(path) == str(tmp_path / "d1" / "fake_model.pt")


@pytest.mark.parametrize("value", ["notaurl", "studio/share/sam2", "ftp:/x", "mirror.studio/sam2/"])
def test_a_weights_mirror_that_is_no_address_is_a_model_error_naming_the_variable(shelf, tmp_path, monkeypatch,
                                                                                  capsys, value):
    """Anything else that is no http(s):// or file:// address is MODEL_ERROR (exit 6) naming
    SAMATTE_WEIGHTS_URL, before a partial file is made in the models folder."""
    from samatte import cli
    monkeypatch.setenv("SAMATTE_WEIGHTS_URL", value)
    with pytest.raises(models.ModelError) as e:
        models.download("fake_model", dest=str(tmp_path / "d2"))
    assert e.value.code == "MODEL_ERROR" and "SAMATTE_WEIGHTS_URL" in e.value.message
    assert e.value.details["field"] == "SAMATTE_WEIGHTS_URL"
    assert os.listdir(str(tmp_path / "d2")) == []
    rc = cli.main(["models", "download", "fake_model", "--dest", str(tmp_path / "d3")])
    err = capsys.readouterr().err
    assert rc == 6 and "[MODEL_ERROR]" in err and "SAMATTE_WEIGHTS_URL" in err, err
    assert "Traceback" not in err and os.listdir(str(tmp_path / "d3")) == []
    # --offline-dir does not use the mirror: a bad variable does not stand in its way
    assert os.path.isfile(str(models.download("fake_model", dest=str(tmp_path / "d4"), offline_dir=str(shelf))))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte import jobspec
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa151")
    s = make_shot(str(d / "plates"), frames=3, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "unused" / "m.####.exr"), frames="1001-1003", name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _in_flight(folder):
    """Another render node's frame being written this second (its temp, by its host name and pid)."""
    p = folder / ".m.1002.exr.othernode.4242.0123abcd.tmp.exr"
    p.write_bytes(b"partial frame")
    return p


@pytest.mark.parametrize("value", ["0", "-60", "nan", "abc", "1h"])
def test_a_temp_age_that_is_no_positive_number_is_refused_not_a_licence_to_remove_a_frame_in_flight(
        shot, tmp_path, monkeypatch, capsys, value):
    """``SAMATTE_TEMP_MAX_AGE=0`` (a TD's "no age limit"), a negative or NaN age, or a word: a 0 or
    negative age made every temp of the output folder abandoned, so a job starting on one node removed
    the frame another node was writing that moment (its rename then failed: OUTPUT_INVALID there);
    ``abc`` / ``1h`` were the default hour without a word. Each is now JOBSPEC_INVALID naming the
    variable, before anything is read or written; the frame in flight is left alone."""
    from samatte import cli, pipeline
    from samatte.errors import JobSpecError
    from samatte.io.writer import MatteWriter
    from samatte.stages import PlateInfo, Window
    out = tmp_path / "out"
    out.mkdir()
    flying = _in_flight(out)
    monkeypatch.setenv("SAMATTE_TEMP_MAX_AGE", value)
    info = PlateInfo(data=Window(0, 0, 48, 48), display=Window(0, 0, 48, 48))
    with pytest.raises(JobSpecError) as e:
        MatteWriter(str(out / "m.####.exr"), info)
    assert e.value.details["field"] == "SAMATTE_TEMP_MAX_AGE" and repr(value) in e.value.message
    job = dict(shot, output=dict(shot["output"], path=str(out / "m.####.exr")))
    with pytest.raises(JobSpecError):
        pipeline.run(job)
    from samatte import jobspec
    jobspec.save(job, str(tmp_path / "job.json"))
    rc = cli.main(["run", str(tmp_path / "job.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "[JOBSPEC_INVALID] SAMATTE_TEMP_MAX_AGE" in err, err
    assert sorted(os.listdir(str(out))) == [flying.name]


@pytest.mark.parametrize("value, kept", [("inf", True), ("3600", True), (" 600 ", True), ("", True),
                                         ("0.5", False)])
def test_a_positive_temp_age_still_sets_when_another_machines_temp_is_abandoned(tmp_path, monkeypatch, value,
                                                                                 kept):
    """A number > 0 (``inf``: never by age; empty: the default hour) is still the age limit."""
    import time
    from samatte.io.writer import MatteWriter
    from samatte.stages import PlateInfo, Window
    out = tmp_path / "out"
    out.mkdir()
    flying = _in_flight(out)
    t = time.time() - 2
    os.utime(str(flying), (t, t))
    monkeypatch.setenv("SAMATTE_TEMP_MAX_AGE", value)
    MatteWriter(str(out / "m.####.exr"), PlateInfo(data=Window(0, 0, 48, 48), display=Window(0, 0, 48, 48)))
    assert flying.exists() is kept


@pytest.mark.parametrize("value", ["4e8", "400M", "0", "-1", "16384x16384"])
def test_a_pixel_limit_that_is_no_whole_number_is_refused_naming_the_variable(shot, tmp_path, monkeypatch, capsys,
                                                                               value):
    """``SAMATTE_MAX_PIXELS=4e8`` / ``400M`` (a TD raising the limit for a 20K plate), ``0`` ("no limit"):
    each was the default 2^28 without a word, and the plate was then refused saying "set
    SAMATTE_MAX_PIXELS", set already. Now JOBSPEC_INVALID naming the variable, before anything is
    written (run, probe)."""
    from samatte import cli, jobspec, pipeline
    from samatte.errors import JobSpecError
    from samatte.io import exr
    monkeypatch.setenv("SAMATTE_MAX_PIXELS", value)
    with pytest.raises(JobSpecError) as e:
        exr.max_pixels()
    assert e.value.details["field"] == "SAMATTE_MAX_PIXELS" and repr(value) in e.value.message
    out = tmp_path / "out"
    job = dict(shot, output=dict(shot["output"], path=str(out / "m.####.exr")))
    with pytest.raises(JobSpecError):
        pipeline.run(job)
    jobspec.save(job, str(tmp_path / "job.json"))
    assert cli.main(["run", str(tmp_path / "job.json")]) == 2
    assert cli.main(["probe", shot["plate"]["path"]]) == 2
    err = capsys.readouterr().err
    assert err.count("[JOBSPEC_INVALID] SAMATTE_MAX_PIXELS") == 2, err
    assert not out.exists()


def test_a_pixel_limit_that_is_set_is_the_one_a_refusal_names(shot, monkeypatch):
    """A plate over a lowered limit: the refusal named "at most 0 M pixels (MAX_PIXELS)" for a limit of 1000."""
    from samatte.errors import PlateError
    from samatte.io import exr
    path = shot["plate"]["path"].replace("####", "1001")
    monkeypatch.setenv("SAMATTE_MAX_PIXELS", "1000")
    with pytest.raises(PlateError) as e:
        exr.read_info(path)
    assert "at most 1000 pixels (SAMATTE_MAX_PIXELS)" in e.value.message and "raise SAMATTE_MAX_PIXELS" in e.value.message
    monkeypatch.setenv("SAMATTE_MAX_PIXELS", "4096")     # 64 x 64: the limit itself is read
    assert exr.read_info(path).data.width == 64


def _samatte(args, env_extra, stdin=None):
    import subprocess
    import sys
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                      "core")] + [env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m"] + args, capture_output=True, text=True, env=env, input=stdin,
                          timeout=120)


@pytest.mark.parametrize("value, level", [("debug", 10), (" Info ", 20), ("10", 10), ("warn", 30), ("", 30),
                                          ("verbose", 30), ("trace", 30), ("BASIC_FORMAT", 30)])
def test_log_level_names_numbers_and_what_is_neither(value, level):
    from samatte.cli import log_level
    got, problem = log_level(value)
    assert got == level
    assert (problem is not None) == (value in ("verbose", "trace", "BASIC_FORMAT"))


def test_a_log_level_that_is_no_level_says_so_and_the_worker_still_starts(tmp_path):
    """``SAMATTE_LOG_LEVEL=verbose`` (or ``trace``) was WARNING without a word: a TD asking for more logs got
    none and no hint; ``10`` (a level's number) the same. The CLI now takes numbers and says which value it
    did not understand. The worker crashed at start on a value naming another attribute of ``logging``
    (``BASIC_FORMAT``: ValueError "Unknown level"); it now warns and starts."""
    p = _samatte(["samatte", "info", "--json"], {"SAMATTE_LOG_LEVEL": "verbose"})
    assert p.returncode == 0, p.stderr
    assert "SAMATTE_LOG_LEVEL 'verbose' is not a level" in p.stderr, p.stderr
    assert p.stdout.lstrip().startswith("{")
    ping = '{"type": "shutdown", "v": 1}\n'
    p = _samatte(["samatte.worker"], {"SAMATTE_LOG_LEVEL": "BASIC_FORMAT"}, stdin=ping)
    assert '"type":"hello"' in p.stdout.replace(" ", ""), p.stderr[-2000:]
    assert "'BASIC_FORMAT' is not a level" in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
