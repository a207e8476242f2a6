"""A pipeline TD's first day with samatte (README "Command line", "Farm and TD scripting"): chunk and
per-object scripts that pass `--frames=$CHUNK` / `--objects=$OBJ`. Each test here failed before its fix."""
import json
import os

import pytest

from qa_cli import run_cli as _run_cli


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A 3-frame 64x64 demo plate (frames 1001-1003)."""
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa_td_day")), frames=3, size=(64, 64))


def _job_file(shot, tmp_path, *, objects=1):
    objs = [{"name": "ball", "prompts": [{"frame": 1002, "type": "box", "box": [10, 6, 34, 26]}]},
            {"name": "prop", "prompts": [{"frame": 1001, "type": "box", "box": [40, 30, 60, 50]}]}][:objects]
    job = {"samatte_job": 1, "name": "td", "plate": {"path": shot["plate"], "frames": "1001-1003"},
           "objects": objs, "tracker": {"backend": "shapes"}, "matte": {"backend": "none"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    p = tmp_path / "td.json"
    p.write_text(json.dumps(job))
    return str(p)


def _exrs(tmp_path):
    out = tmp_path / "out"
    return sorted(f for f in os.listdir(str(out)) if f.endswith(".exr")) if out.is_dir() else []


@pytest.mark.parametrize("argv", [["run", "{job}", "--frames="],
                                  ["run", "{job}", "--stage", "track", "--frames="],
                                  ["status", "{job}", "--frames="],
                                  ["qc", "{job}", "--frames="]],
                         ids=["run", "run_track", "status", "qc"])
def test_an_empty_frames_value_is_refused_not_the_whole_shot(shot, tmp_path, capsys, argv):
    """`samatte run JOB --frames=$CHUNK` with an empty variable ran every frame of the job (exit 0; on a
    farm each chunk matted the whole shot), and status/qc answered for all frames, while `probe` and
    `farm export` refused the same value. Now it is FRAME_RANGE_INVALID (exit 2) before anything runs."""
    job = _job_file(shot, tmp_path)
    rc, err = _run_cli([a.format(job=job) for a in argv], capsys)
    assert rc == 2 and "[FRAME_RANGE_INVALID]" in err and "empty" in err, err
    assert _exrs(tmp_path) == []
    assert not (tmp_path / "out" / ".samatte" / "td" / "m..exr" / "track").exists()


def test_an_empty_frame_list_from_python_is_refused(shot, tmp_path):
    """The same through the Python API and the pipeline (`frames=[]`, `frames=""`): no frame written."""
    from samatte import api, pipeline
    from samatte.errors import FrameRangeError
    job = _job_file(shot, tmp_path)
    for frames in ([], "", "  "):
        with pytest.raises(FrameRangeError):
            pipeline.run(json.load(open(job)), frames=frames)
        with pytest.raises(FrameRangeError):
            pipeline.frame_status(json.load(open(job)), frames=frames)
    assert _exrs(tmp_path) == []
    res = api.run(job, frames="1002")            # a real subset still runs
    assert res["frames"] == [1002] and len(res["written"]) == 1


def test_farm_task_with_an_empty_frames_value_is_refused(shot, tmp_path, capsys):
    """`samatte farm task ... --stage matte --frames=` dropped the empty value and ran the whole job."""
    import sys
    from samatte.farm import export_openjd
    from samatte.jobspec import load
    job = load(_job_file(shot, tmp_path))
    res = export_openjd(job, str(tmp_path / "b"), chunk=2, python=sys.executable)
    roots = ["--root", "Plate=%s" % res["parameters"]["Plate"], "--root", "Output=%s" % res["parameters"]["Output"]]
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    rc, err = _run_cli(["farm", "task", doc] + roots + ["--stage", "all", "--frames="], capsys)
    assert rc == 2 and "[FRAME_RANGE_INVALID]" in err, err
    assert _exrs(tmp_path) == []


def test_an_empty_objects_value_tracks_nothing(shot, tmp_path, capsys):
    """`samatte run JOB --stage track --objects=$OBJ` with an empty variable tracked every object (exit 0;
    each per-object farm task then tracked them all). Now JOBSPEC_INVALID naming the tracked objects; a
    trailing comma (`ball,`) is read as `ball`, not as an unknown object ''."""
    job = _job_file(shot, tmp_path, objects=2)
    track = tmp_path / "out" / ".samatte" / "td" / "m..exr" / "track"
    for value in ("--objects=", "--objects=,"):
        rc, err = _run_cli(["run", job, "--stage", "track", value], capsys)
        assert rc == 2 and "[JOBSPEC_INVALID]" in err and "ball, prop" in err, err
        assert not track.exists() or os.listdir(str(track)) == []
    rc, err = _run_cli(["run", job, "--stage", "track", "--objects=ball,"], capsys)
    assert rc == 0, err
    assert sorted(os.listdir(str(track))) == ["1001.o0.npz", "1002.o0.npz", "1003.o0.npz"]


@pytest.mark.parametrize("argv", [["run", "{job}", "--json", "--stage", "bogus"],
                                  ["run", "{job}", "--preroll", "x", "--json"],
                                  ["run", "--json"]],
                         ids=["stage", "preroll", "no_job"])
def test_run_json_with_a_bad_flag_still_ends_with_an_error_message(shot, tmp_path, capsys, argv):
    """README: `run --json` writes progress messages "then one `result` or `error` message". A flag
    argparse refused (exit 2) left stdout empty: a host reading the stream got no message at all.
    Now the stream is one `error` (JOBSPEC_INVALID, exit 2's code) with argparse's text."""
    from samatte import cli, protocol
    job = _job_file(shot, tmp_path)
    with pytest.raises(SystemExit) as e:
        cli.main([a.format(job=job) for a in argv])
    assert e.value.code == 2
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1, out
    msg = protocol.decode(lines[0])
    assert msg["type"] == "error" and msg["code"] == "JOBSPEC_INVALID" and msg["id"] == "samatte"
    assert msg["message"] in err        # the same words as argparse's usage error on stderr
    # without --json stdout stays empty (people read stderr)
    with pytest.raises(SystemExit):
        cli.main(["run", job, "--stage", "bogus"])
    assert capsys.readouterr().out == ""


def test_stage_track_summary_says_what_it_tracked(shot, tmp_path, capsys):
    """`samatte run JOB --stage track` printed "done: 0 frame(s) written, 0 already complete -> <output>"
    after tracking every frame (a farm log read as "did nothing"). Now it counts frames tracked and
    already current, and names the work dir the track went to."""
    from samatte import cli
    job = _job_file(shot, tmp_path)
    wd = str(tmp_path / "out" / ".samatte" / "td" / "m..exr")
    assert cli.main(["run", job, "--stage", "track"]) == 0
    out = capsys.readouterr().out
    assert "done: 3 frame(s) tracked, 0 already current -> %s" % wd in out, out
    assert cli.main(["run", job, "--stage", "track", "--frames", "1002"]) == 0
    assert "done: 0 frame(s) tracked, 1 already current" in capsys.readouterr().out
    assert cli.main(["run", job, "--stage", "all"]) == 0      # matte summary unchanged
    assert "done: 3 frame(s) written, 0 already complete" in capsys.readouterr().out


def test_a_document_that_is_no_jobspec_names_the_field(tmp_path, capsys):
    """README: errors print `samatte: error [CODE] message` "plus a `details:` line (a path, a frame, a
    field)"; a JSON file without `samatte_job` (or not an object) printed no details line at all and its
    `--json` error had empty details, so a host could not point at what was wrong."""
    from samatte import cli, protocol
    for doc, field in (({"name": "x"}, "samatte_job"), ([1, 2], "job")):
        p = tmp_path / "j.json"
        p.write_text(json.dumps(doc))
        assert cli.main(["run", str(p)]) == 2
        err = capsys.readouterr().err
        assert "[JOBSPEC_INVALID]" in err and '  details: {"field": "%s"}' % field in err, err
        assert cli.main(["run", str(p), "--json"]) == 2
        msg = protocol.decode(capsys.readouterr().out.splitlines()[-1])
        assert msg["type"] == "error" and msg["details"] == {"field": field}


def test_a_python_without_opencolorio_says_which_python(monkeypatch):
    """A TD running `python3 -m samatte run` with a Python that lacks PyOpenColorIO got exit 7 with
    "PyOpenColorIO is not installed" and empty details, where a missing OpenImageIO names the package
    and the Python (`samatte.errors.missing_dependency`). Now both say the same."""
    import sys
    from samatte import colour
    from samatte.errors import DependencyError
    monkeypatch.setitem(sys.modules, "PyOpenColorIO", None)      # import PyOpenColorIO -> ImportError
    with pytest.raises(DependencyError) as e:
        colour._ocio()
    assert e.value.code == "DEPENDENCY_MISSING" and e.value.exit_code == 7
    assert e.value.details == {"package": "PyOpenColorIO", "python": sys.executable}
    assert sys.executable in e.value.message


def test_farm_export_never_replaces_a_bundle_file_it_did_not_write(shot, tmp_path, capsys):
    """`samatte farm export JOB --openjd DIR` into a folder holding someone's own `template.yaml` (a
    hand-written OpenJD template, another tool's bundle) replaced it without a word. Now that is
    OUTPUT_INVALID (exit 5) naming the file, before anything is written; re-exporting into samatte's own
    bundle folder (another chunk size) still replaces its files."""
    job = _job_file(shot, tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "template.yaml").write_text("specificationVersion: jobtemplate-2023-09\nname: mine\n")
    (theirs / "asset_references.yaml").write_text("assetReferences: {}\n")
    rc, err = _run_cli(["farm", "export", job, "--openjd", theirs], capsys)
    assert rc == 5 and "[OUTPUT_INVALID]" in err and "template.yaml" in err, err
    assert (theirs / "template.yaml").read_text().endswith("name: mine\n")
    assert sorted(os.listdir(str(theirs))) == ["asset_references.yaml", "template.yaml"]
    ours = tmp_path / "ours"
    for chunk in ("2", "3"):
        rc, err = _run_cli(["farm", "export", job, "--openjd", ours, "--chunk", chunk], capsys)
        assert rc == 0, err
    assert json.loads((ours / "openjd_params.json").read_text())["ChunkSize"] == 3


def test_qc_report_never_replaces_files_it_did_not_write(shot, tmp_path, capsys):
    """`samatte qc JOB --report DIR` into a folder holding someone's own `qc.json` or
    `contact_sheet.png` replaced them. Now OUTPUT_INVALID (exit 5) naming the file, nothing written;
    samatte's own earlier report there (a re-run of QC) is replaced."""
    from PIL import Image
    job = _job_file(shot, tmp_path)
    assert _run_cli(["run", job], capsys)[0] == 0
    for name, write in (("qc.json", lambda p: p.write_text('{"mine": true}\n')),
                        ("contact_sheet.png", lambda p: Image.new("RGB", (4, 4)).save(str(p)))):
        d = tmp_path / ("mine_" + name.split(".")[0])
        d.mkdir()
        write(d / name)
        before = (d / name).read_bytes()
        rc, err = _run_cli(["qc", job, "--report", d], capsys)
        assert rc == 5 and "[OUTPUT_INVALID]" in err and name in err, err
        assert (d / name).read_bytes() == before and os.listdir(str(d)) == [name]
    ours = tmp_path / "ours"
    for _ in range(2):
        rc, err = _run_cli(["qc", job, "--report", ours], capsys)
        assert rc == 0, err
    (ours / "qc.json").unlink()        # samatte's sheet alone is still known as samatte's (its mark)
    assert _run_cli(["qc", job, "--report", ours], capsys)[0] == 0
    assert sorted(os.listdir(str(ours))) == ["contact_sheet.png", "qc.json"]


def test_demo_never_touches_a_folder_that_is_not_its_own(shot, tmp_path, capsys):
    """`samatte demo --out DIR` cleared every `plate/plate.*.exr`, `gt/alpha.*.exr`, `matte/matte.*.exr`
    in DIR and replaced its `job.json` and `contact_sheet.png`, whatever DIR was: pointed at a shot
    folder, it deleted and rewrote the studio's plate. Now a folder that is not samatte's demo folder
    (no demo_params.json of the demo's) and holds such a file is OUTPUT_INVALID, nothing touched; the
    demo's own folder is still reused / remade."""
    import shutil
    d = tmp_path / "sh010"
    (d / "plate").mkdir(parents=True)
    plate = d / "plate" / "plate.1001.exr"
    shutil.copy(shot["plate"].replace("####", "1001"), str(plate))
    (d / "job.json").write_text('{"mine": true}\n')
    before = plate.read_bytes()
    rc, err = _run_cli(["demo", "--out", d, "--frames", "3", "--size", "64x64", "--quiet"], capsys)
    assert rc == 5 and "[OUTPUT_INVALID]" in err, err
    assert plate.read_bytes() == before and (d / "job.json").read_text() == '{"mine": true}\n'
    assert sorted(os.listdir(str(d))) == ["job.json", "plate"]
    own = tmp_path / "demo"
    for frames in ("3", "3", "4"):      # made, reused, remade with other parameters
        rc, err = _run_cli(["demo", "--out", own, "--frames", frames, "--size", "64x64", "--quiet"], capsys)
        assert rc == 0, err
    assert len(os.listdir(str(own / "plate"))) == 4
