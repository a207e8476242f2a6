"""Bad input a TD or artist gives the command line: a coded error with the documented exit status, no
traceback (status 1), and nothing written, before any frame."""
import json
import os

import pytest

from samatte import cli


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A 3-frame 64x64 demo plate (frames 1001-1003) and a good JobSpec dict for it."""
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_shot")
    s = make_shot(str(d), frames=3, size=(64, 64))
    return s


def good_job(shot, out):
    return {"samatte_job": 1, "name": "qa", "plate": {"path": shot["plate"], "frames": "1001-1003"},
            "objects": [{"name": "ball", "prompts": [{"frame": 1002, "type": "box", "box": [10, 6, 34, 26]}]}],
            "tracker": {"backend": "shapes"}, "matte": {"backend": "none"},
            "output": {"path": str(out / "m.####.exr")}}


def _files(folder):
    return sorted(os.path.relpath(os.path.join(r, f), str(folder))
                  for r, _, fs in os.walk(str(folder)) for f in fs)


def _run_cli(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected error" not in err, err
    return rc, err


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["objects"][0].update(prompts=[{"frame": 1002, "type": "mask", "path": "m\x00.png"}]),
     "objects[0].prompts[0].path"),
    (lambda d: d["objects"][0].update(masks="roto.\x00####.png"), "objects[0].masks.path"),
    (lambda d: d["plate"].update(ocio_config="/cfg\x00.ocio"), "plate.ocio_config"),
    (lambda d: d["objects"][0].update(masks=""), "objects[0].masks.path"),
    (lambda d: d["objects"][0].update(masks={"path": "  "}), "objects[0].masks.path"),
])
def test_bad_input_paths_are_jobspec_invalid(shot, tmp_path, capsys, mutate, field):
    """A NUL in any path the job reads (not only the plate's and the output's), or an empty mask sequence
    path, is JOBSPEC_INVALID (exit 2) from validate and run, never a ValueError traceback (exit 1) or a
    FRAME_CORRUPT about the JobSpec's folder."""
    out = tmp_path / "out"
    doc = good_job(shot, out)
    mutate(doc)
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    for cmd in ("validate", "run", "status"):
        rc, err = _run_cli([cmd, p], capsys)
        assert rc == 2 and "[JOBSPEC_INVALID]" in err and field in err, (cmd, err)
    assert not out.exists()


@pytest.mark.parametrize("name", ["a\x00b", "../../escape", "/tmp/abs_job", "sh010/hero", "..", ".", "a\\b"])
def test_job_name_that_is_not_one_folder_name_is_refused(shot, tmp_path, capsys, name):
    """The job name is a folder of the default work dir (<output folder>/.samatte/<name>/): a NUL was a
    ValueError traceback (exit 1) after the output folder was made; '../../x' or an absolute name put the
    track cache outside the output folder. Now JOBSPEC_INVALID (exit 2) naming job.name, nothing written."""
    out = tmp_path / "shots" / "out"
    doc = good_job(shot, out)
    doc["name"] = name
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    before = _files(tmp_path)
    for cmd in ("validate", "run", "status"):
        rc, err = _run_cli([cmd, p], capsys)
        assert rc == 2 and "[JOBSPEC_INVALID]" in err and "job.name" in err, (cmd, err)
    assert _files(tmp_path) == before and not out.exists()
    assert not os.path.exists("/tmp/abs_job")


def test_ordinary_job_names_still_run(shot, tmp_path, capsys):
    out = tmp_path / "out"
    doc = good_job(shot, out)
    doc["name"] = "sh010 hero v2 (\u00fc)"
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    rc, err = _run_cli(["run", p], capsys)
    assert rc == 0, err
    assert os.path.isdir(str(out / ".samatte" / doc["name"]))
    assert sorted(os.listdir(str(out)))[1:] == ["m.1001.exr", "m.1002.exr", "m.1003.exr"]
