"""QA160 (pipeline TD, day 8): a plate whose render dropped a frame, in a job that names no frames.

A job without ``plate.frames`` makes the plate's files on disk (README *Command line*, frame ranges). With
one frame missing from a 1400-frame render (9500 of 9001-10400) ``run``, ``status``, ``qc`` and ``farm
export`` all took ``9001-9499,9501-10400`` without a word: no matte was made for 9500, the farm's QC
passed and the comp read a hole. Now ``run`` (as it starts), ``qc`` (a ``plate_gap`` warning in
``qc.json`` and its text output) and ``farm export`` say which frames the files skip and how to have them
required (``plate.frames``). A job on twos (one step throughout), a job naming its frames and a pattern
with its own range are not warned about.
"""
import json
import os

import pytest

from samatte import cli, jobspec
from samatte.jobspec import plate_gaps


@pytest.fixture
def shot(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "sh010"), frames=5, size=(64, 64), first=1001)
    os.remove(s["plate"].replace("####", "1003"))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), name="sh010", tracker="flow",
                          matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    path = tmp_path / "sh010.json"
    path.write_text(json.dumps(job))
    monkeypatch.chdir(str(tmp_path))
    return str(path), job


def test_the_frames_a_plate_skips_are_named():
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr")
    text = plate_gaps(job, [9001, 9002, 9004, 9005, 9008])
    assert text.startswith("the plate's files on disk skip 3 frame(s): 9003,9006-9007 ")
    assert "plate.frames (9001-9008)" in text
    assert plate_gaps(job, [1001, 1003, 1005, 1007]) is None                  # on twos
    assert "skip 1 frame(s): 1005 " in plate_gaps(job, [1001, 1003, 1007])    # on twos, one dropped
    assert plate_gaps(job, [1001, 1002, 1003]) is None and plate_gaps(job, [1001, 1005]) is None
    named = dict(job, plate=dict(job["plate"], frames="1001-1002,1004"))
    assert plate_gaps(named, [1001, 1002, 1004]) is None                      # the job says so
    ranged = dict(job, plate=dict(job["plate"], path="/p/plate.1001-1005####.exr"))
    assert plate_gaps(ranged, [1001, 1002, 1004]) is None                     # its pattern says so


def test_run_qc_and_export_say_so(shot, tmp_path, capfd, caplog):
    path, _job = shot

    def said():
        text = " ".join(r.getMessage() for r in caplog.records if r.name == "samatte" and r.levelname == "WARNING")
        caplog.clear()
        return "skip 1 frame(s): 1003 " in text and "plate.frames (1001-1005)" in text
    caplog.set_level("WARNING", logger="samatte")
    assert cli.main(["run", path, "--stage", "track"]) == 0
    assert said()
    capfd.readouterr()
    assert cli.main(["qc", path, "--json"]) == 5          # frames 1001-1005 less 1003, not matted yet
    rep = json.loads(capfd.readouterr().out)
    (w,) = [w for w in rep["warnings"] if w["kind"] == "plate_gap"]
    assert "1003" in w["message"] and "1003" not in rep["frames"]
    assert cli.main(["farm", "export", path, "--openjd", str(tmp_path / "bundle"), "--json"]) == 0
    assert json.loads(capfd.readouterr().out)["frames"] == "1001-1002,1004-1005"
    assert said()


def test_a_stray_far_frame_is_named_without_listing_every_number_between():
    import time
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr")
    t = time.perf_counter()
    text = plate_gaps(job, [1, 2, 3, 86400000])
    assert time.perf_counter() - t < 0.5
    assert text.startswith("the plate's files on disk skip 86399996 frame(s): 4-86399999 ")
    assert "skip 3 frame(s): 1005-1009x2 " in plate_gaps(job, [1001, 1003, 1011, 1013])
    assert "plate.frames (1001-1013x2)" in plate_gaps(job, [1001, 1003, 1011, 1013])
