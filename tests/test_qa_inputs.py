"""Bad input a TD or artist gives the command line: a coded error with the documented exit status, no
traceback (status 1), and nothing written, before any frame."""
import json
import os

import pytest

from samatte import cli
from qa_cli import run_cli as _run_cli


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


def test_job_name_with_a_nul_is_refused(shot, tmp_path, capsys):
    """A NUL in the job name was a ValueError traceback (exit 1) after the output folder was made.
    Now JOBSPEC_INVALID (exit 2) naming job.name, nothing written."""
    out = tmp_path / "shots" / "out"
    doc = good_job(shot, out)
    doc["name"] = "a\x00b"
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    before = _files(tmp_path)
    for cmd in ("validate", "run", "status"):
        rc, err = _run_cli([cmd, p], capsys)
        assert rc == 2 and "[JOBSPEC_INVALID]" in err and "job.name" in err, (cmd, err)
    assert _files(tmp_path) == before and not out.exists()


@pytest.mark.parametrize("name,folder", [("../../escape", ".._.._escape"), ("/tmp/abs_job", "_tmp_abs_job"),
                                         ("sh010/hero", "sh010_hero"), ("..", "_.._"), (".", "_._"),
                                         ("a\\b", "a_b")])
def test_job_name_keeps_the_cache_in_one_folder_of_dot_samatte(shot, tmp_path, capsys, name, folder):
    """The job name is any text; it names one folder of the default work dir (<output folder>/.samatte/).
    '../../x' or an absolute name put the track cache outside the output folder, 'sh010/hero' made
    nested folders: now '/' and '\\' become '_' and the run's cache stays in .samatte/<folder>/."""
    from samatte.jobspec import work_dir_name
    from samatte.trackcache import default_work_dir
    out = tmp_path / "shots" / "out"
    doc = good_job(shot, out)
    doc["name"] = name
    assert work_dir_name(name) == folder
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    rc, err = _run_cli(["run", p], capsys)
    assert rc == 0, err
    assert os.listdir(str(out / ".samatte")) == [folder]
    assert default_work_dir(doc) == str(out / ".samatte" / folder / "m..exr")
    assert sorted(os.listdir(str(tmp_path))) == ["job.json", "shots"]   # nothing outside the output folder
    assert not os.path.exists("/tmp/abs_job")
    rc, err = _run_cli(["status", p], capsys)
    assert rc == 0, err


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


def _copy_plate(shot, folder):
    import shutil
    os.makedirs(str(folder))
    for f in (1001, 1002, 1003):
        shutil.copy(shot["plate"].replace("####", "%04d" % f), str(folder / ("p.%04d.exr" % f)))
    return str(folder / "p.####.exr")


def _mask_pngs(folder, size=(64, 64)):
    import numpy as np
    from PIL import Image
    os.makedirs(str(folder))
    m = np.zeros((size[1], size[0]), np.uint8)
    m[size[1] // 4:3 * size[1] // 4, size[0] // 4:3 * size[0] // 4] = 255
    for f in (1001, 1002, 1003):
        Image.fromarray(m).save(str(folder / ("m.%04d.png" % f)))
    return str(folder / "m.####.png")


def _damage_frame_1003(kind, plate_pat, mask_pat):
    import numpy as np
    from PIL import Image
    plate3, mask3 = plate_pat.replace("####", "1003"), mask_pat.replace("####", "1003")
    if kind == "plate_zero_bytes":
        open(plate3, "w").close()
    elif kind == "plate_not_exr":
        with open(plate3, "wb") as fh:
            fh.write(b"not an exr" * 20)
    elif kind == "plate_folder":
        os.remove(plate3)
        os.makedirs(plate3)
    elif kind == "plate_other_size":
        from samatte.io.exr import write_image
        write_image(plate3, np.zeros((32, 32, 3), np.float32), channels=["R", "G", "B"])
    elif kind == "mask_other_size":
        Image.fromarray(np.full((128, 128), 255, np.uint8)).save(mask3)
    elif kind == "mask_not_png":
        with open(mask3, "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\njunk")


@pytest.mark.parametrize("kind, code, status", [
    ("plate_zero_bytes", "FRAME_CORRUPT", 3), ("plate_not_exr", "FRAME_CORRUPT", 3),
    ("plate_folder", "FRAME_CORRUPT", 3), ("plate_other_size", "PLATE_INVALID", 3),
    ("mask_other_size", "PLATE_INVALID", 3), ("mask_not_png", "FRAME_CORRUPT", 3),
])
def test_refine_with_a_damaged_frame_in_the_middle_writes_nothing(shot, tmp_path, capsys, kind, code, status):
    """refine (no tracking pass reads the frames first): frame 1003's plate or mask file is not an image,
    or not the plate's size. The error is the same as before, but it comes before frame 1001 is
    written (it came after frames 1001-1002 were)."""
    plate = _copy_plate(shot, tmp_path / "plate")
    masks = _mask_pngs(tmp_path / "masks")
    _damage_frame_1003(kind, plate, masks)
    out = tmp_path / "out"
    rc, err = _run_cli(["refine", "--plate", plate, "--masks", masks, "--out", out / "m.####.exr",
                        "--quality", "draft", "--matte", "none"], capsys)
    assert rc == status and "[%s]" % code in err, err
    assert "1003" in err
    assert [f for f in (os.listdir(str(out)) if out.exists() else []) if not f.startswith(".")] == []


def test_run_matte_stage_checks_frames_before_writing(shot, tmp_path, capsys):
    """run --stage matte from a stored track, after a plate frame was replaced by a broken file: the
    error (FRAME_CORRUPT, exit 3) comes before any frame is written."""
    plate = _copy_plate(shot, tmp_path / "plate")
    out = tmp_path / "out"
    doc = good_job(shot, out)
    doc["plate"]["path"] = plate
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    rc, err = _run_cli(["run", p, "--stage", "track"], capsys)
    assert rc == 0, err
    f3 = plate.replace("####", "1003")
    st = os.stat(f3)
    with open(f3, "r+b") as fh:  # the header breaks; size and mtime (the track key's stamp) stay
        fh.write(b"junk")
    os.utime(f3, ns=(st.st_atime_ns, st.st_mtime_ns))
    rc, err = _run_cli(["run", p, "--stage", "matte"], capsys)
    assert rc == 3 and "[FRAME_CORRUPT]" in err and "1003" in err, err
    assert not [f for f in os.listdir(str(out)) if f.endswith(".exr")]


def test_probe_with_a_layer_the_plate_does_not_have(shot, capsys):
    """probe --layer beauty on an RGB-only plate answered status 0 with "layer": "beauty", and the job
    built from that answer then failed with CHANNELS_INVALID. probe now says so itself (exit 3)."""
    rc, err = _run_cli(["probe", shot["plate"], "--layer", "beauty", "--json"], capsys)
    assert rc == 3 and "[CHANNELS_INVALID]" in err and "beauty" in err, err
    rc, err = _run_cli(["probe", shot["plate"], "--json"], capsys)
    assert rc == 0, err


def test_probe_with_a_layer_the_plate_has(tmp_path, capsys):
    import numpy as np
    from samatte.io.exr import write_image
    write_image(str(tmp_path / "p.1001.exr"), np.zeros((8, 8, 6), np.float32),
                channels=["R", "G", "B", "diffuse.R", "diffuse.G", "diffuse.B"])
    rc = cli.main(["probe", str(tmp_path / "p.####.exr"), "--layer", "diffuse", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["layer"] == "diffuse" and out["layers"] == ["diffuse"]


def test_a_folder_at_an_output_frame_name_is_refused_before_writing(shot, tmp_path, capsys):
    """A folder named like output frame 1002: with --overwrite, frame 1001 was written and then the
    rename onto the folder failed. Now OUTPUT_INVALID (exit 5) naming the folder, nothing written."""
    out = tmp_path / "out"
    os.makedirs(str(out / "m.1002.exr"))
    doc = good_job(shot, out)
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    for extra in ([], ["--overwrite"]):
        rc, err = _run_cli(["run", p] + extra, capsys)
        assert rc == 5 and "[OUTPUT_INVALID]" in err and "m.1002.exr" in err, err
        assert sorted(os.listdir(str(out))) == [".samatte", "m.1002.exr"]


@pytest.mark.parametrize("where", ["prompt", "masks"])
@pytest.mark.parametrize("value", [-1, 1.5, 5])
def test_a_mask_threshold_outside_0_1_is_refused(tmp_path, capsys, where, value):
    """A mask threshold is coverage in [0, 1]: -1 took every pixel of the mask, 5 none. JOBSPEC_INVALID
    naming the field, before anything is read or written; 0 and 1 stay valid."""
    from samatte import jobspec
    from samatte.errors import JobSpecError
    doc = {"samatte_job": 1, "plate": {"path": "/p/plate.####.exr", "frames": "1001-1003"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    if where == "prompt":
        obj = {"name": "a", "prompts": [{"frame": 1001, "type": "mask", "path": "/m.png", "threshold": value}]}
        field = "objects[0].prompts[0].threshold"
    else:
        obj = {"name": "a", "masks": {"path": "/m.####.png", "threshold": value}}
        field = "objects[0].masks.threshold"
    doc["objects"] = [obj]
    with pytest.raises(JobSpecError) as e:
        jobspec.validate(doc)
    assert e.value.code == "JOBSPEC_INVALID" and field in str(e.value.details or e.value), e.value
    for ok in (0, 1, 0.25):
        if where == "prompt":
            obj["prompts"][0]["threshold"] = ok
        else:
            obj["masks"]["threshold"] = ok
        jobspec.validate(doc)
    p = tmp_path / "job.json"
    obj["prompts" if where == "prompt" else "masks"] = (
        [{"frame": 1001, "type": "mask", "path": "/m.png", "threshold": value}] if where == "prompt"
        else {"path": "/m.####.png", "threshold": value})
    p.write_text(json.dumps(doc))
    rc, err = _run_cli(["validate", p], capsys)
    assert rc == 2 and "[JOBSPEC_INVALID]" in err and "threshold" in err, err
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_not_named_exr_is_refused(shot, tmp_path, capsys):
    """samatte writes OpenEXR whatever the output is called: ``--out m.####.png`` wrote EXR data into
    files named .png, which a host's PNG reader cannot decode. JOBSPEC_INVALID naming output.path,
    nothing written (the folder is not made)."""
    out = tmp_path / "out"
    rc, err = _run_cli(["refine", "--plate", shot["plate"], "--masks", _mask_pngs(tmp_path / "masks"),
                        "--out", out / "m.####.png", "--matte", "none"], capsys)
    assert rc == 2 and "[JOBSPEC_INVALID]" in err and "output.path" in err and ".exr" in err, err
    assert not out.exists()
    doc = good_job(shot, out)
    doc["output"]["path"] = str(out / "m.####.EXR")   # the case of the extension is the user's
    from samatte import jobspec
    assert jobspec.validate(doc)["output"]["path"].endswith(".EXR")
