"""The ``samatte`` command line: documented exit codes, --json event streams, track/refine/validate/
info/models, Ctrl-C."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from demo_shots import demo_job, make_demo_shot
from samatte import cli, errors, protocol

DOCUMENTED_EXIT_CODES = {
    "SAMATTE_ERROR": 1,
    "JOBSPEC_INVALID": 2, "FRAME_RANGE_INVALID": 2, "PROMPT_INVALID": 2,
    "PLATE_INVALID": 3, "FRAME_MISSING": 3, "FRAME_CORRUPT": 3, "CHANNELS_INVALID": 3, "PIXELS_NONFINITE": 3,
    "COLOUR_INVALID": 4, "OUTPUT_INVALID": 5, "QC_FAILED": 5,
    "MODEL_ERROR": 6, "WEIGHTS_MISSING": 6, "WEIGHTS_CORRUPT": 6,
    "DEPENDENCY_MISSING": 7, "WORKER_FAILED": 8, "PROTOCOL_INVALID": 8, "BUSY": 8, "TRACK_MISSING": 9,
    "OUT_OF_MEMORY": 10,
    "CANCELLED": 130,
}


def samatte(*args, timeout=300, input=None):
    """Run ``python -m samatte ARGS`` and return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "samatte"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, input=input)


def events(stdout):
    return [protocol.decode(line) for line in stdout.splitlines() if line.strip()]


def test_exit_code_table_is_the_documented_one():
    assert errors.EXIT_CODES == DOCUMENTED_EXIT_CODES
    for code, cls in errors.ERROR_CODES.items():
        assert cli.exit_code_for(cls("x")) == DOCUMENTED_EXIT_CODES[code]
    assert cli.exit_code_for(KeyboardInterrupt()) == 130
    assert cli.exit_code_for(ValueError("bug")) == 1
    assert cli.exit_code_for(errors.error_from_code("SOME_FUTURE_CODE")) == 1


def test_help_version_and_usage_errors(capsys):
    assert cli.main([]) == 2
    with pytest.raises(SystemExit) as ei:
        cli.main(["--version"])
    assert ei.value.code == 0 and "samatte" in capsys.readouterr().out
    with pytest.raises(SystemExit) as ei:
        cli.main(["frobnicate"])
    assert ei.value.code == 2
    p = samatte("--help")
    assert p.returncode == 0
    for cmd in ("run", "demo", "info", "track", "refine", "validate", "models"):
        assert cmd in p.stdout


def good_doc(tmp_path):
    return {"samatte_job": 1, "name": "t", "plate": {"path": "plate/p.####.exr", "frames": "1001-1010"},
            "objects": [{"name": "hero", "prompts": [{"frame": 1005, "type": "box", "box": [1, 2, 30, 40]}]}],
            "output": {"path": "out/m.####.exr"}}


def write_job(tmp_path, doc, name="job.json"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def test_validate_prints_the_normalised_job(tmp_path, capsys):
    p = write_job(tmp_path, good_doc(tmp_path))
    assert cli.main(["validate", str(p)]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["plate"]["path"] == str(tmp_path / "plate" / "p.####.exr")  # resolved against the file
    assert job["matte"] == {"backend": "auto", "quality": "default", "options": {}}
    assert job["output"]["overwrite"] is False


@pytest.mark.parametrize("mutate, code", [
    (lambda d: "{not json", "JOBSPEC_INVALID"),
    (lambda d: d.update(samatte_job=2), "JOBSPEC_INVALID"),
    (lambda d: d.pop("output"), "JOBSPEC_INVALID"),
    (lambda d: d["plate"].update(frames="1010-1001"), "FRAME_RANGE_INVALID"),
    (lambda d: d["objects"][0]["prompts"][0].update(frame=2000), "PROMPT_INVALID"),
    (lambda d: d["objects"][0].update(prompts=[]), "PROMPT_INVALID"),
    (lambda d: d.update(tracker={"backend": "magic"}), "JOBSPEC_INVALID"),
])
def test_bad_jobspecs_exit_2(tmp_path, capsys, mutate, code):
    doc = good_doc(tmp_path)
    r = mutate(doc)
    p = write_job(tmp_path, r if isinstance(r, str) else doc)
    for cmd in (["validate", str(p)], ["run", str(p)]):
        assert cli.main(cmd) == 2
        err = capsys.readouterr().err
        assert "[%s]" % code in err


def test_missing_job_file_exit_2(tmp_path):
    p = samatte("run", tmp_path / "nope.json")
    assert p.returncode == 2 and "JOBSPEC_INVALID" in p.stderr


def test_run_json_stream_for_a_missing_plate(tmp_path):
    """Exit 3 and, with --json, only protocol lines on stdout ending in an error event."""
    doc = good_doc(tmp_path)
    p = write_job(tmp_path, doc)
    r = samatte("run", p, "--json")
    assert r.returncode == 3, r.stderr
    evs = events(r.stdout)
    assert evs[-1]["type"] == "error" and evs[-1]["code"] == "FRAME_MISSING"
    assert "FRAME_MISSING" in r.stderr


def test_run_json_stream_for_a_bad_jobspec(tmp_path):
    p = write_job(tmp_path, {"samatte_job": 1})
    r = samatte("run", p, "--json")
    assert r.returncode == 2
    evs = events(r.stdout)
    assert len(evs) == 1 and evs[0]["type"] == "error" and evs[0]["code"] == "JOBSPEC_INVALID"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "cli_shot", 5)


shot_job = demo_job


def test_colour_and_output_errors(shot, tmp_path, capsys):
    from samatte import jobspec
    job = shot_job(shot, tmp_path / "m.####.exr", colourspace="No Such Colourspace")
    p = tmp_path / "c.json"
    jobspec.save(job, str(p))
    assert cli.main(["run", str(p)]) == 4
    assert "COLOUR_INVALID" in capsys.readouterr().err
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    job = shot_job(shot, blocker / "sub" / "m.####.exr")
    jobspec.save(job, str(p))
    assert cli.main(["run", str(p)]) == 5
    assert "OUTPUT_INVALID" in capsys.readouterr().err
    job = shot_job(shot, tmp_path / "m.####.exr")
    job["output"]["path"] = str(tmp_path / "no_frame_token.exr")   # jobspec.save refuses it (validate): by hand
    p.write_text(json.dumps(job))
    assert cli.main(["run", str(p)]) == 5
    assert "has no frame number token" in capsys.readouterr().err


def test_track_flag_errors(tmp_path, capsys):
    base = ["track", "--plate", str(tmp_path / "p.####.exr"), "--frames", "1001-1005",
            "--out", str(tmp_path / "o.####.exr")]
    assert cli.main(base) == 2  # no prompt
    assert "PROMPT_INVALID" in capsys.readouterr().err
    assert cli.main(base + ["--mask-prompt", "nonsense"]) == 2
    assert cli.main(base + ["--mask-prompt", "x=/a.png"]) == 2
    assert cli.main(base + ["--mask-prompt", "2000=/a.png"]) == 2  # outside the frames
    assert "PROMPT_INVALID" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ei:
        cli.main(base + ["--mask-prompt", "1003=/a.png", "--tracker", "magic"])
    assert ei.value.code == 2


def _write_png(path, mask):
    from PIL import Image
    Image.fromarray((np.clip(mask, 0, 1) * 255).astype(np.uint8)).save(str(path))


@pytest.mark.slow
def test_track_and_refine_end_to_end(shot, tmp_path):
    from samatte.demo import read_alpha
    s, _ = shot
    mid = s["prompt_frame"]
    gt_mid = read_alpha(s["gt"].replace("####", "%04d" % mid))
    prompt_png = tmp_path / "prompt.png"
    _write_png(prompt_png, gt_mid > 0.5)
    out = tmp_path / "track" / "mask.####.exr"
    r = samatte("track", "--plate", s["plate"], "--frames", "%d-%d" % (s["frames"][0], s["frames"][-1]),
                "--mask-prompt", "%d=%s" % (mid, prompt_png), "--object", "ball", "--out", out,
                "--tracker", "flow", "--device", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    evs = events(r.stdout)
    assert evs[-1]["type"] == "result" and len(evs[-1]["result"]["written"]) == 5
    assert evs[-1]["result"]["matte"] == "none" or "none" in evs[-1]["result"]["matte"]
    a = read_alpha(str(out).replace("####", "%04d" % mid))
    gt = gt_mid > 0.5
    iou = np.logical_and(a > 0.5, gt).sum() / np.logical_or(a > 0.5, gt).sum()
    assert iou > 0.9

    # refine-only: per-frame binary masks in, soft mattes out
    mdir = tmp_path / "masks"
    mdir.mkdir()
    for f in s["frames"]:
        _write_png(mdir / ("m.%04d.png" % f), read_alpha(s["gt"].replace("####", "%04d" % f)) > 0.5)
    out2 = tmp_path / "refine" / "matte.####.exr"
    r = samatte("refine", "--plate", s["plate"], "--masks", mdir / "m.####.png", "--out", out2,
                "--quality", "draft")
    assert r.returncode == 0, r.stderr
    assert "5 frame(s) written" in r.stdout
    for f in s["frames"]:
        assert os.path.exists(str(out2).replace("####", "%04d" % f))
    # a second run resumes: nothing to do
    r = samatte("refine", "--plate", s["plate"], "--masks", mdir / "m.####.png", "--out", out2,
                "--quality", "draft")
    assert r.returncode == 0 and "0 frame(s) written, 5 already complete" in r.stdout


@pytest.mark.slow
def test_sigint_cancels_between_frames(shot, tmp_path):
    from samatte import jobspec
    job = shot_job(shot, tmp_path / "m" / "matte.####.exr")
    p = tmp_path / "job.json"
    jobspec.save(job, str(p))
    proc = subprocess.Popen([sys.executable, "-m", "samatte", "run", str(p), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(protocol.decode(line))
        if seen[-1]["type"] == "progress" and seen[-1]["stage"] in ("track", "matte"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stdout.read()
    rc = proc.wait(timeout=120)
    proc.stderr.close()
    seen += events(rest)
    assert rc == 130
    assert seen[-1]["type"] == "error" and seen[-1]["code"] == "CANCELLED"
    left = os.listdir(tmp_path / "m") if (tmp_path / "m").exists() else []
    assert not [n for n in left if n.endswith(".tmp.exr")]


def test_info_json():
    r = samatte("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["samatte"] and info["python"]
    for k in ("numpy", "torch", "sam2", "OpenImageIO", "opencolorio"):
        assert k in info["packages"]
    assert info["packages"]["numpy"].startswith("1.")
    assert "cpu" in info["devices"]
    assert isinstance(info["models"], dict)
    assert "config" in info["ocio"] or "error" in info["ocio"]
    r = samatte("info")
    assert r.returncode == 0 and "devices:" in r.stdout


def test_models_list():
    pytest.importorskip("samatte.models")
    r = samatte("models", "list", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["models"] and all("name" in m for m in data["models"])
    r = samatte("models", "download", "no_such_model")
    assert r.returncode == 6 and "MODEL_ERROR" in r.stderr


def test_models_download_offline_from_an_empty_folder(tmp_path):
    models = pytest.importorskip("samatte.models")
    name = next(iter(models.MODELS))
    r = samatte("models", "download", name, "--offline", tmp_path, "--dest", tmp_path / "dest")
    assert r.returncode == 6, r.stderr  # WEIGHTS_MISSING: nothing to copy
    assert "WEIGHTS_" in r.stderr


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_installer_scripts_parse_and_run_help():
    for script in ("install/install.sh", ".ci/run"):
        r = subprocess.run(["bash", "-n", os.path.join(REPO, script)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-I", os.path.join(REPO, "install", "install.py"), "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--no-weights" in r.stdout and "--offline" in r.stdout


def test_installer_pins_match_this_environment():
    """The pins the installer uses are the versions the tests run against (catches drift)."""
    from importlib import metadata
    pins = {}
    for name in ("requirements.txt", "requirements-sam2.txt"):
        with open(os.path.join(REPO, "install", name)) as f:
            for line in f:
                line = line.split("#")[0].strip()
                if "==" in line:
                    pkg, ver = line.split("==")
                    pins[pkg] = ver
    assert {"numpy", "OpenImageIO", "opencolorio", "torch"} <= set(pins)
    for pkg, ver in pins.items():
        try:
            have = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue  # e.g. a --no-sam2 install
        assert have.split("+")[0] == ver, (pkg, have, ver)
