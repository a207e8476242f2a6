"""QA, day 9: a Blender artist whose project, clip or Output folder has a '#' in a folder's name (``job #12``,
``sh#010``, ``mattes v#2``), which Blender reads as it is and samatte as a frame token (samatte has no escape).

* ``samatte validate`` and ``samatte farm export`` (so the add-on's Send to farm) took a job whose output path had
  two frame tokens (a '#' in a folder and the file name's ``####``) as valid, and wrote a farm bundle whose every
  task failed with OUTPUT_INVALID on the farm; only ``run`` refused it. ``jobspec.validate`` now parses the plate
  and output patterns as ``run`` does (PLATE_INVALID / OUTPUT_INVALID, the field named), and the message says
  where each token lies (``'#' in folder 'job #12', '####' in the file name``) and what to do.
* A clip in ``/shots/sh#010/``: Run, Check mattes and Find objects said ``no plate file of clip ... exists ...
  were the files moved or deleted?`` (``convert.sequence_path`` counted the folder's '#' with the file name's, so
  no file matched) while Blender showed every frame; now PLATE_INVALID names the folder and what to do.
* An Output folder (or the .blend's folder, for ``//samatte/``) with a '#': the add-on's error names the panel's
  Output folder.

Bpy-free (``addon_plain``) and the CLI; the same in real bpy: ``test_qa_blender_day9_bpy.py``."""
import json
import os

import pytest

from addon_plain import plain

convert, gather, hosterrors = plain("convert"), plain("gather"), plain("hosterrors")


def _job(plate, output):
    from samatte import jobspec
    job = jobspec.new_job(plate, output, frames="1001-1002", name="sh")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 20, 20])])
    return job


@pytest.mark.parametrize("folder", ["job #12", "take#2", "v@", "100%d"])
def test_validate_refuses_the_output_path_run_refuses(tmp_path, folder):
    from samatte import jobspec
    from samatte.errors import OutputError
    out = str(tmp_path / folder / "samatte" / "sh_matte.####.exr")
    with pytest.raises(OutputError) as ei:
        jobspec.validate(_job(str(tmp_path / "plate.####.exr"), out))
    e = ei.value
    assert e.code == "OUTPUT_INVALID" and e.details["field"] == "output.path", e.to_dict()
    assert "has 2 frame tokens" in e.message and "in folder %r" % folder in e.message, e.message
    assert "'####' in the file name" in e.message and "rename that folder" in e.message, e.message
    # no frame token at all: refused at validate too (before: only by run)
    with pytest.raises(OutputError, match="no frame number token"):
        jobspec.validate(_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "matte.exr")))


def test_validate_refuses_a_plate_pattern_with_two_tokens(tmp_path):
    from samatte import jobspec
    from samatte.errors import PlateError
    with pytest.raises(PlateError) as ei:
        jobspec.validate(_job(str(tmp_path / "sh#010" / "plate.####.exr"), str(tmp_path / "m.####.exr")))
    assert ei.value.code == "PLATE_INVALID" and ei.value.details["field"] == "plate.path", ei.value.to_dict()
    assert "'#' in folder 'sh#010'" in ei.value.message, ei.value.message
    # one token, in a folder's name: still a pattern (unchanged)
    jobspec.validate(_job(str(tmp_path / "####" / "plate.exr"), str(tmp_path / "m.####.exr")))


def test_farm_export_writes_no_bundle_for_such_an_output(tmp_path, capsys):
    """Before: exit 0 and a bundle (template, parameter values, job) whose every Matte task failed on the farm."""
    from samatte import cli
    job = _job(str(tmp_path / "plate.####.exr"), str(tmp_path / "job #12" / "samatte" / "sh_matte.####.exr"))
    p = tmp_path / "job.json"
    p.write_text(json.dumps(job))
    bundle = tmp_path / "bundle"
    rc = cli.main(["farm", "export", str(p), "--openjd", str(bundle)])
    err = capsys.readouterr().err
    assert rc == 5 and "[OUTPUT_INVALID]" in err and "'#' in folder 'job #12'" in err, (rc, err)
    assert not bundle.exists()
    rc = cli.main(["validate", str(p)])
    assert rc == 5, capsys.readouterr()


def test_a_clip_in_a_folder_with_a_hash_is_named_plate_invalid(tmp_path):
    folder = tmp_path / "sh#010"
    folder.mkdir()
    for n in (1001, 1002, 1003):
        (folder / ("plate.%d.exr" % n)).write_bytes(b"")
    pattern, first = convert.sequence_pattern(str(folder / "plate.1001.exr"))
    assert (pattern, first) == (str(folder / "plate.####.exr"), 1001)
    # the folder's '#' stays: before, plate.####.exr's five '#' were looked for and sequence_path gave the pattern
    assert convert.sequence_path(pattern, 1002) == str(folder / "plate.1002.exr")
    assert convert.sequence_numbers(pattern) == [1001, 1002, 1003]

    class Clip:
        name, source, size, filepath = "plate.1001.exr", "SEQUENCE", (64, 80), str(folder / "plate.1001.exr")
        frame_start, frame_offset, frame_duration = 1, 0, 3
    with pytest.raises(hosterrors.HostError) as ei:
        gather.clip_info(Clip())
    assert ei.value.code == "PLATE_INVALID", ei.value
    assert str(folder) in ei.value.message and "'#'" in ei.value.message, ei.value.message
    assert "moved or deleted" not in ei.value.message


def test_the_add_on_names_the_output_folder(tmp_path):
    jobs = plain("jobs")
    info = gather.ClipInfo(size=(64, 80), first_file=1001, duration=2, pattern=str(tmp_path / "plate.####.exr"),
                           name="plate.1001.exr")
    objects = [{"name": "hero", "host_name": "hero", "prompts": [
        {"frame": 1001, "type": "box", "box": [2, 2, 20, 20]}]}]
    import sys
    out = str(tmp_path / "job #12" / "samatte")
    settings = jobs.Settings(python=sys.executable, output_dir=out, tracker="flow", matte="refine")
    with pytest.raises(hosterrors.HostError) as ei:
        jobs.build_job(info, objects, settings, frames=[1001, 1002])
    assert ei.value.code == "OUTPUT_INVALID", ei.value
    assert ei.value.message.startswith("the samatte panel's Output folder (%s" % out), ei.value.message
    assert "'#' in folder 'job #12'" in ei.value.message, ei.value.message
    ok = jobs.build_job(info, objects, jobs.Settings(python=sys.executable, output_dir=str(tmp_path / "job 12")),
                        frames=[1001, 1002])
    assert ok["output"]["path"] == os.path.join(str(tmp_path / "job 12"), "plate", "plate_matte.####.exr")
