"""Frame numbers and sequence names at their extremes, through the entry points (CLI, JobSpec, farm,
hosts). Each test here failed before its fix."""
import json
import os

import numpy as np
import pytest

from qa_cli import run_cli as _run_cli


def _plate(folder, pattern, frames, size=(32, 24)):
    """A tiny RGB plate: a bright square drifting one pixel a frame on grey."""
    from samatte.io.exr import write_image
    os.makedirs(folder, exist_ok=True)
    w, h = size
    paths = []
    for i, f in enumerate(frames):
        img = np.full((h, w, 3), 0.2, np.float32)
        img[6:18, 8 + i % 4:20 + i % 4] = 0.8
        p = os.path.join(folder, pattern % f)
        write_image(p, img, channels=("R", "G", "B"), pixel_type="half")
        paths.append(p)
    return paths


def _job(plate, out, first):
    return {"samatte_job": 1, "name": "qa", "plate": {"path": plate},
            "objects": [{"name": "o", "prompts": [{"frame": first, "type": "box", "box": [6, 4, 22, 20]}]}],
            "tracker": {"backend": "flow"}, "matte": {"backend": "none"}, "output": {"path": out}}


# -- '@' in a folder or file name ------------------------------------------------------------------

GDRIVE = "GoogleDrive-me@gmail.com"       # macOS Google Drive for desktop: ~/Library/CloudStorage/<this>/My Drive


@pytest.mark.parametrize("pattern, prefix, suffix, pad", [
    ("/Users/me/Library/CloudStorage/%s/My Drive/sh010/plate.####.exr" % GDRIVE,
     "/Users/me/Library/CloudStorage/%s/My Drive/sh010/plate." % GDRIVE, ".exr", 4),
    ("/mnt/user@host/plate.%04d.exr", "/mnt/user@host/plate.", ".exr", 4),
    ("/s/plate@2x.$F4.exr", "/s/plate@2x.", ".exr", 4),
    ("/s/plate.@@@@.exr", "/s/plate.", ".exr", 4),        # still tokens
    ("/s/plate@@@@.exr", "/s/plate", ".exr", 4),
    ("/s/plate_@.exr", "/s/plate_", ".exr", 0),
    ("/s/a@b/plate.@@@.exr", "/s/a@b/plate.", ".exr", 3),
])
def test_an_at_sign_between_letters_is_part_of_the_name(pattern, prefix, suffix, pad):
    """'@' is a frame token (one per digit), but an '@' inside a word is an e-mail address or a host
    (Google Drive for desktop on macOS keeps every file under CloudStorage/GoogleDrive-<account>/): a
    plate or output there was PLATE_INVALID / OUTPUT_INVALID 'has 2 frame tokens' in every host, and a
    still under it was read as a sequence (its '@' replaced by the frame number). Nuke and Blender read
    such paths as they are."""
    from samatte.io.sequence import SequencePattern
    sp = SequencePattern(pattern)
    assert sp.has_frame_token and sp.padding == pad
    assert sp.path(1001) == prefix + "%0*d" % (pad, 1001) + suffix


def test_a_still_under_an_e_mail_folder_is_a_still():
    from samatte.io.sequence import SequencePattern
    p = "/Users/me/Library/CloudStorage/%s/My Drive/still.exr" % GDRIVE
    sp = SequencePattern(p)
    assert not sp.has_frame_token and sp.path(1001) == p


def test_a_job_on_google_drive_runs(tmp_path, capsys):
    """End to end: plate, output and work dir under a folder named with an e-mail address (before: exit
    3 PLATE_INVALID '... has 2 frame tokens', nothing written); probe, run, status and qc agree."""
    root = tmp_path / GDRIVE / "My Drive"
    _plate(str(root / "p"), "plate.%04d.exr", range(1001, 1004))
    job = root / "job.json"
    job.write_text(json.dumps(_job(str(root / "p" / "plate.####.exr"), str(root / "o" / "m.####.exr"), 1001)))
    rc, err = _run_cli(["probe", root / "p" / "plate.####.exr", "--json"], capsys)
    assert rc == 0, err
    rc, err = _run_cli(["run", job], capsys)
    assert rc == 0, err
    assert sorted(n for n in os.listdir(str(root / "o")) if n.endswith(".exr")) == \
        ["m.1001.exr", "m.1002.exr", "m.1003.exr"]
    rc, err = _run_cli(["status", job], capsys)
    assert rc == 0, err
    rc, err = _run_cli(["qc", job], capsys)
    assert rc == 0, err


# -- qc --frames outside the job ------------------------------------------------------------------

@pytest.mark.parametrize("explicit", [False, True], ids=["frames_on_disk", "plate_frames"])
def test_qc_frames_outside_the_job_are_frame_range_invalid(tmp_path, capsys, explicit):
    """`run --frames` and `status --frames` refuse frames that are not the job's (FRAME_RANGE_INVALID,
    exit 2); `qc --frames` checked them and failed the QC (exit 5, QC_FAILED 'frame 4: missing') on
    frames the job never had: a hole in the plate (1-3,7-9 on disk) or a typo past its last frame.
    Now it is refused like the others; a subset with a step still passes."""
    _plate(str(tmp_path / "p"), "plate.%04d.exr", [1, 2, 3, 7, 8, 9])
    j = _job(str(tmp_path / "p" / "plate.####.exr"), str(tmp_path / "o" / "m.####.exr"), 1)
    if explicit:
        j["plate"]["frames"] = "1-3,7-9"
    job = tmp_path / "job.json"
    job.write_text(json.dumps(j))
    rc, err = _run_cli(["run", job], capsys)
    assert rc == 0, err
    for cmd in ("run", "status", "qc"):
        rc, err = _run_cli([cmd, job, "--frames", "1-9"], capsys)
        assert rc == 2 and "[FRAME_RANGE_INVALID]" in err and "4-6" in err, (cmd, err)
    rc, err = _run_cli(["qc", job, "--frames", "1-9x2", "--json"], capsys)
    assert rc == 2 and "[FRAME_RANGE_INVALID]" in err and "5" in err, err
    rc, err = _run_cli(["qc", job, "--frames", "1-9x6"], capsys)      # 1, 7
    assert rc == 0, err
    assert not os.path.exists(str(tmp_path / "o" / "m.0004.exr"))


# -- a pattern whose padding is not the files' ----------------------------------------------------

def test_a_pattern_padded_unlike_the_files_names_the_pattern_that_reads_them(tmp_path, capsys):
    """Files padded 5 (plate.01001.exr) and a pattern ####: every entry point said FRAME_MISSING 'no
    frames of the plate ... were found on disk' (or '3 plate frame(s) missing') beside a folder full of
    the plate's frames. Nothing is read under another name (Nuke would not either), but the error now
    names a file it saw and the pattern that reads it."""
    _plate(str(tmp_path / "p"), "plate.%05d.exr", range(1001, 1004))
    _plate(str(tmp_path / "m"), "mask.%05d.exr", range(1001, 1004))
    plate = str(tmp_path / "p" / "plate.####.exr")
    want = "plate.01001.exr", str(tmp_path / "p" / "plate.#####.exr")
    j = _job(plate, str(tmp_path / "o" / "m.####.exr"), 1001)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(j))
    cases = [["run", job], ["status", job], ["probe", plate],
             ["farm", "export", job, "--openjd", tmp_path / "bundle"],
             ["refine", "--plate", plate, "--masks", tmp_path / "m" / "mask.#####.exr", "--out", tmp_path / "r" / "r.####.exr"]]
    j["plate"]["frames"] = "1001-1003"
    job2 = tmp_path / "job2.json"
    job2.write_text(json.dumps(j))
    cases.append(["run", job2])
    for argv in cases:
        rc, err = _run_cli(argv, capsys)
        assert rc == 3 and "[FRAME_MISSING]" in err, (argv, err)
        assert all(w in err for w in want), (argv, err)
    # a mask sequence the same way
    rc, err = _run_cli(["refine", "--plate", tmp_path / "p" / "plate.#####.exr", "--masks", tmp_path / "m" / "mask.###.exr",
                        "--out", tmp_path / "r" / "r.####.exr"], capsys)
    assert rc == 3 and "[FRAME_MISSING]" in err and "mask.01001.exr" in err and \
        str(tmp_path / "m" / "mask.#####.exr") in err, err
    assert not os.path.exists(str(tmp_path / "o"))
    assert not list((tmp_path / "r").glob("*.exr"))


def test_padding_hint_is_empty_when_nothing_else_is_there(tmp_path):
    from samatte.io.sequence import SequencePattern
    _plate(str(tmp_path), "plate.%04d.exr", [999, 1000, 10000])
    assert SequencePattern(str(tmp_path / "plate.####.exr")).padding_hint() == ""
    assert SequencePattern(str(tmp_path / "other.####.exr")).padding_hint() == ""
    assert SequencePattern(str(tmp_path / "nowhere" / "plate.####.exr")).padding_hint() == ""
    hint = SequencePattern(str(tmp_path / "plate.#.exr")).padding_hint()    # 0999 is not %d of 999
    assert "plate.0999.exr" in hint and str(tmp_path / "plate.####.exr") in hint
