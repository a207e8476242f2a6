"""Every command taking --json prints exactly one JSON document on stdout, failing too: `run`, `track`
and `refine` end their event stream with the protocol's `error` message; `probe`, `status`, `info`,
`models list`, `qc` and `farm export` print their result, or that same `error` message (`type`,
`code`, `message`, `details`), usage errors and unexpected exceptions included, with the exit status
of README's table. Before, the latter printed nothing on stdout when they failed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import samatte
from samatte import cli
from samatte.errors import EXIT_CODES

CORE = os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))   # the samatte under test


def _plate(folder, frames=(1, 2, 3), size=(32, 24)):
    from samatte.io.exr import write_image
    os.makedirs(folder, exist_ok=True)
    w, h = size
    for i, f in enumerate(frames):
        img = np.full((h, w, 3), 0.2, np.float32)
        img[6:18, 8 + i:20 + i] = 0.8
        write_image(os.path.join(folder, "plate.%04d.exr" % f), img, channels=("R", "G", "B"), pixel_type="half")
    return os.path.join(folder, "plate.####.exr")


def _job(tmp_path, run=False):
    plate = _plate(str(tmp_path / "p"))
    j = {"samatte_job": 1, "name": "qa", "plate": {"path": plate, "frames": "1-3"},
         "objects": [{"name": "o", "prompts": [{"frame": 1, "type": "box", "box": [6, 4, 22, 20]}]}],
         "tracker": {"backend": "flow"}, "matte": {"backend": "none"},
         "output": {"path": str(tmp_path / "o" / "m.####.exr")}}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(j))
    if run:
        assert cli.main(["run", str(path)]) == 0
    return str(path)


def _main(argv, capfd):
    """(exit status, stdout, stderr) of ``samatte ARGV`` in this process (fd-level capture)."""
    capfd.readouterr()
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:          # argparse's usage error
        rc = e.code
    out, err = capfd.readouterr()
    return rc, out, err


def _one_error(out, code, rc):
    """stdout is exactly one JSON document: the protocol's error message with ``code``, whose exit
    status is ``rc``."""
    doc = json.loads(out)            # one document, nothing else
    assert doc["type"] == "error" and doc["code"] == code, doc
    assert isinstance(doc["message"], str) and doc["message"] and isinstance(doc["details"], dict), doc
    assert EXIT_CODES.get(code, 1) == rc, (code, rc)
    return doc


# -- failing: one JSON error on stdout, the documented exit status --------------------------------

@pytest.mark.parametrize("argv, code, rc", [
    (["status", "{bad}", "--json"], "JOBSPEC_INVALID", 2),
    (["qc", "{bad}", "--json"], "JOBSPEC_INVALID", 2),
    (["farm", "export", "{bad}", "--openjd", "{tmp}/b", "--json"], "JOBSPEC_INVALID", 2),
    (["probe", "{tmp}/none/plate.####.exr", "--json"], "FRAME_MISSING", 3),
    (["probe", "{plate}", "--layer", "diffuse", "--json"], "CHANNELS_INVALID", 3),
    (["status", "{job}", "--frames", "7-9", "--json"], "FRAME_RANGE_INVALID", 2),
    (["info", "--json", "--bogus"], "JOBSPEC_INVALID", 2),
    (["models", "list", "--json", "--bogus"], "JOBSPEC_INVALID", 2),
    (["status", "--json"], "JOBSPEC_INVALID", 2),
    (["probe", "{plate}", "--frames", "--json"], "JOBSPEC_INVALID", 2),
    (["farm", "export", "{job}", "--json"], "JOBSPEC_INVALID", 2),                  # --openjd missing
    (["farm", "export", "{job}", "--openjd", "{tmp}/b", "--chunk", "x", "--json"], "JOBSPEC_INVALID", 2),
    (["qc", "{job}", "--frames", "--json"], "JOBSPEC_INVALID", 2),
    # the streaming commands (already so; kept)
    (["run", "{bad}", "--json"], "JOBSPEC_INVALID", 2),
    (["track", "--plate", "{tmp}/none/plate.####.exr", "--mask-prompt", "1={tmp}/m.png", "--out",
      "{tmp}/t/t.####.exr", "--json"], "FRAME_MISSING", 3),
    (["refine", "--plate", "{plate}", "--masks", "{tmp}/m.####.png", "--out", "{tmp}/r/r.####.exr",
      "--quality", "bogus", "--json"], "JOBSPEC_INVALID", 2),
])
def test_a_failing_json_command_prints_one_json_error(tmp_path, capfd, argv, code, rc):
    job = _job(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"samatte_job": 1, "name": ')
    subst = {"job": job, "bad": str(bad), "tmp": str(tmp_path), "plate": str(tmp_path / "p" / "plate.####.exr")}
    argv = [a.format(**subst) for a in argv]
    if argv[0] in ("run", "track", "refine"):   # their own process: the event stream owns fd 1 for good
        p = subprocess.run([sys.executable, "-m", "samatte"] + argv, capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, PYTHONPATH=CORE))
        got, out, err = p.returncode, p.stdout, p.stderr
        msgs = [json.loads(line) for line in out.splitlines()]
        assert [m["type"] for m in msgs if m["type"] in ("result", "error")] == ["error"], out
        out = json.dumps(msgs[-1])
    else:
        got, out, err = _main(argv, capfd)
    assert got == rc, (out, err)
    _one_error(out, code, rc)
    assert "Traceback" not in err


def test_qc_failing_prints_its_report_as_the_one_error_document(tmp_path, capfd):
    """`qc --json` on a job not run: exit 5; the one document is the report (its fields as before) with
    the error message's fields added (type error, code QC_FAILED, message, details)."""
    job = _job(tmp_path)
    rc, out, err = _main(["qc", job, "--json"], capfd)
    assert rc == 5, err
    doc = _one_error(out, "QC_FAILED", 5)
    assert doc["ok"] is False and doc["failed"] == [1, 2, 3] and doc["counts"]["failed"] == 3
    assert doc["details"]["report"] == doc["report"] and os.path.isfile(doc["report"])
    assert out == json.dumps(doc, indent=2, sort_keys=True) + "\n"


def test_an_unexpected_exception_is_one_samatte_error_document(tmp_path, capfd, monkeypatch):
    from samatte import pipeline

    def boom(*a, **k):
        raise RuntimeError("boom")
    monkeypatch.setattr(pipeline, "probe", boom)
    rc, out, err = _main(["probe", str(_plate(str(tmp_path / "p"))), "--json"], capfd)
    assert rc == 1
    doc = _one_error(out, "SAMATTE_ERROR", 1)
    assert doc["details"]["exception"] == "RuntimeError" and "boom" in doc["message"]
    assert "Traceback" in err            # the bug report stays on stderr


def test_ctrl_c_is_one_cancelled_document(tmp_path, capfd, monkeypatch):
    from samatte import pipeline

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "frame_status", interrupted)
    rc, out, err = _main(["status", _job(tmp_path), "--json"], capfd)
    assert rc == 130
    _one_error(out, "CANCELLED", 130)


def test_library_chatter_goes_to_stderr_not_into_the_document(tmp_path, capfd, monkeypatch):
    """A library printing on stdout (Python print or straight to fd 1) while a --json command runs
    lands on stderr; stdout holds the one document, success or failure."""
    from samatte import pipeline
    real = pipeline.probe

    def chatty(*a, **k):
        print("python chatter")
        os.write(1, b"fd chatter\n")
        return real(*a, **k)
    monkeypatch.setattr(pipeline, "probe", chatty)
    plate = _plate(str(tmp_path / "p"))
    rc, out, err = _main(["probe", plate, "--json"], capfd)
    assert rc == 0 and json.loads(out)["first"] == 1
    assert "python chatter" in err and "fd chatter" in err
    rc, out, err = _main(["probe", plate, "--layer", "nope", "--json"], capfd)
    assert rc == 3 and "fd chatter" in err
    _one_error(out, "CHANNELS_INVALID", 3)
    # stdout is put back afterwards: a later command in this process prints as before
    rc, out, err = _main(["probe", plate], capfd)
    assert rc == 0 and "fd chatter\npath " in out    # without --json stdout is as it always was


def test_in_a_real_process_stdout_is_the_one_document_and_the_status_is_the_exit_status(tmp_path):
    env = dict(os.environ, PYTHONPATH=CORE)
    for argv, code, rc in ((["status", str(tmp_path / "no.json"), "--json"], "JOBSPEC_INVALID", 2),
                           (["models", "list", "--jsn"], None, 2),                 # no --json asked: no document
                           (["qc", "--json", "--report"], "JOBSPEC_INVALID", 2)):
        p = subprocess.run([sys.executable, "-m", "samatte"] + argv, capture_output=True, text=True,
                           timeout=120, env=env)
        assert p.returncode == rc, p.stderr
        if code is None:
            assert p.stdout == ""
        else:
            _one_error(p.stdout, code, rc)
            assert "error" in p.stderr


# -- success: the output is what it was ---------------------------------------------------------

def test_success_documents_are_unchanged(tmp_path, capfd):
    from samatte.farm.qc import run_qc
    from samatte.jobspec import load
    from samatte.pipeline import frame_status, probe
    job = _job(tmp_path, run=True)
    plate = str(tmp_path / "p" / "plate.####.exr")

    rc, out, err = _main(["probe", plate, "--json"], capfd)
    assert rc == 0, err
    assert out == json.dumps(probe(plate), sort_keys=True) + "\n"
    assert {"display_window", "data_window", "pixel_aspect", "channels", "layers", "frames_on_disk",
            "colourspace", "chromaticities", "read_as", "coordinates"} <= set(json.loads(out))

    rc, out, err = _main(["status", job, "--json"], capfd)
    assert rc == 0, err
    assert out == json.dumps(frame_status(load(job)), sort_keys=True) + "\n"
    st = json.loads(out)
    assert st["frames"] == {"1": "complete", "2": "complete", "3": "complete"} and "resolved" in st

    rc, out, err = _main(["qc", job, "--json"], capfd)
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["ok"] is True and "type" not in rep and "code" not in rep
    again = run_qc(job, raise_on_failure=False)
    for volatile in ("contact_sheet",):
        assert rep[volatile] and again[volatile]
    assert out == json.dumps(rep, indent=2, sort_keys=True) + "\n"
    assert set(rep) == set(again) and rep["frames"] == again["frames"]

    rc, out, err = _main(["farm", "export", job, "--openjd", tmp_path / "bundle", "--json"], capfd)
    assert rc == 0, err
    ex = json.loads(out)
    assert {"bundle", "template", "parameter_values", "asset_references", "openjd_params", "resolved",
            "parameters", "frames", "steps"} <= set(ex) and "type" not in ex
    assert out == json.dumps(ex, indent=2, sort_keys=True) + "\n"

    rc, out, err = _main(["info", "--json"], capfd)
    assert rc == 0, err
    info = json.loads(out)
    assert {"samatte", "python", "executable", "platform", "packages", "devices", "trackers", "mattes",
            "models", "models_dir", "ocio"} <= set(info) and "type" not in info
    assert out == json.dumps(info, indent=2, default=str) + "\n"

    rc, out, err = _main(["models", "list", "--json"], capfd)
    assert rc == 0, err
    ml = json.loads(out)
    assert set(ml) == {"models_dir", "models"}
    assert all({"name", "path", "size", "url", "sha256", "complete", "installed_size", "readable"} == set(m)
               for m in ml["models"])
    assert out == json.dumps(ml, indent=2) + "\n"

    # the streaming commands: progress/frame messages, then one result
    p = subprocess.run([sys.executable, "-m", "samatte", "run", job, "--json"], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=CORE))
    assert p.returncode == 0, p.stderr
    msgs = [json.loads(line) for line in p.stdout.splitlines()]
    assert msgs[-1]["type"] == "result" and [m for m in msgs if m["type"] in ("result", "error")] == msgs[-1:]
