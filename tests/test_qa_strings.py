"""Hostile and odd strings, end to end: job names, host names, folder and file names that studios
(or someone malicious) give samatte, through the command line, the farm bundle and `openjd run`.
Each test here failed before its fix."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from qa_cli import run_cli as _run_cli

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
needs_openjd = pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A 3-frame 64x64 demo plate (frames 1001-1003)."""
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa_strings")), frames=3, size=(64, 64))


def _job(plate, out, *, name="qa", frames="1001-1003", box_frame=1002):
    return {"samatte_job": 1, "name": name, "plate": {"path": plate, "frames": frames},
            "objects": [{"name": "ball", "host_name": name,
                         "prompts": [{"frame": box_frame, "type": "box", "box": [10, 6, 34, 26]}]}],
            "tracker": {"backend": "shapes"}, "matte": {"backend": "none"},
            "output": {"path": str(out)}}


@pytest.mark.parametrize("name", ["x" * 300, "\u00e9" * 200, "\U0001f3ac" * 70],
                         ids=["ascii300", "e_acute200", "emoji70"])
def test_a_job_name_longer_than_a_file_name_runs_and_keeps_its_name(shot, tmp_path, capsys, name):
    """Any text is a valid job name (it is in no key; the farm template cuts it for OpenJD), but the
    default work dir's folder was the name itself: over 255 bytes every run failed with OUTPUT_INVALID
    'cannot create the work dir'. Now that folder is cut and hashed; the name itself is kept (EXR
    metadata, result) and a re-run finds its frames complete."""
    from samatte.jobspec import work_dir_name
    folder = work_dir_name(name)
    assert len(folder.encode("utf-8")) <= 255
    assert folder != work_dir_name(name + "y")                   # different names, different folders
    assert work_dir_name(name[:-1] + "z") != folder
    assert work_dir_name("sh010 hero") == "sh010 hero"           # ordinary names unchanged
    out = tmp_path / "out"
    p = tmp_path / "job.json"
    p.write_text(json.dumps(_job(shot["plate"], out / "m.####.exr", name=name)))
    rc, err = _run_cli(["run", p], capsys)
    assert rc == 0, err
    assert os.listdir(str(out / ".samatte")) == [folder]
    from qa_cli import read_exr
    _, _, spec = read_exr(out / "m.1001.exr")
    assert spec.getattribute("samatte/job") == name
    assert json.loads(spec.getattribute("samatte/host_names")) == {"ball": name}
    r = subprocess.run([sys.executable, "-m", "samatte", "run", str(p), "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    frames = [json.loads(line) for line in r.stdout.splitlines()]
    assert [m["status"] for m in frames if m["type"] == "frame"] == ["skipped"] * 3


@pytest.mark.parametrize("base", ["x" * 250, "\u00e9" * 125], ids=["ascii250", "e_acute125"])
def test_an_output_file_name_too_long_for_the_file_system_fails_before_tracking(shot, tmp_path, capsys, base):
    """An output file name over the file system's 255 bytes tracked the whole shot, then failed on the
    first frame's write (OUTPUT_INVALID 'File name too long'): a late error. Now it is OUTPUT_INVALID
    naming the frame's path before anything is tracked."""
    out = tmp_path / "out"
    p = tmp_path / "job.json"
    p.write_text(json.dumps(_job(shot["plate"], out / (base + ".####.exr"))))
    rc, err = _run_cli(["run", p], capsys)
    assert rc == 5 and "[OUTPUT_INVALID]" in err and "too long" in err, err
    track = out / ".samatte" / "qa" / "track"
    assert not track.exists() or os.listdir(str(track)) == []


@pytest.fixture(scope="module")
def negative_shot(tmp_path_factory):
    """A 3-frame 64x64 plate numbered -5..-3 (negative frames are allowed, README Coordinates)."""
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa_neg")), frames=3, size=(64, 64), first=-5)


def test_farm_task_takes_a_negative_frame_range(negative_shot, tmp_path, capsys):
    """`samatte farm task` built `samatte run LOCAL --frames -5--4`, which argparse reads as an option
    ('expected one argument', exit 2) on every task of a job with negative frames."""
    from samatte.farm import export_openjd
    job = _job(negative_shot["plate"], tmp_path / "out" / "m.####.exr", frames="-5--3", box_frame=-4)
    res = export_openjd(job, str(tmp_path / "b"), chunk=2, python=sys.executable)
    assert res["frames"] == "-5--3"
    roots = ["--root", "Plate=%s" % res["parameters"]["Plate"], "--root", "Output=%s" % res["parameters"]["Output"]]
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    for stage, frames in (("track", "-5--3"), ("matte", "-5--4"), ("matte", "-3")):
        rc, err = _run_cli(["farm", "task", doc] + roots + ["--stage", stage, "--frames=" + frames], capsys)
        assert rc == 0, err
    rc, err = _run_cli(["farm", "task", doc] + roots + ["--qc", "--frames=-5--3"], capsys)
    assert rc == 0, err
    assert sorted(os.listdir(str(tmp_path / "out")))[1:] == ["m.-003.exr", "m.-004.exr", "m.-005.exr"]


@needs_openjd
def test_openjd_run_of_a_job_with_negative_frames(negative_shot, tmp_path):
    """The template passed `--frames {{Param.Frames}}` / `{{Task.Param.Frames}}` as two arguments:
    with negative frames (`-5--3`) `openjd check` passed and every task failed in argparse. Now each
    is one `--frames=...` argument and the job runs: Track, two Matte chunks, QC."""
    from samatte.farm import export_openjd
    job = _job(negative_shot["plate"], tmp_path / "out" / "m.####.exr", frames="-5--3", box_frame=-4)
    res = export_openjd(job, str(tmp_path / "b"), chunk=2, python=sys.executable)
    with open(res["template"], encoding="utf-8") as f:
        text = f.read()
    assert '"--frames"' not in text
    r = subprocess.run([OPENJD, "run", res["template"], "-p", json.dumps(res["parameters"])],
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout[-3000:]
    assert "Chunks run: 4" in r.stdout
    assert sorted(os.listdir(str(tmp_path / "out")))[1:] == ["m.-003.exr", "m.-004.exr", "m.-005.exr"]
