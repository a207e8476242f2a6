"""QA of outputs that alias inputs or other files, and of writes cut short (disk full, kill -9): no
file samatte did not write is replaced, no partial file appears under a final name, a re-run
resumes from what is still whole and current."""
import os

import pytest

from samatte import jobspec, pipeline
from samatte.errors import OutputError


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_outputs2_shot")
    return make_shot(str(d), frames=3, size=(64, 64))


def _job(s, out, **kw):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="shapes", matte="none", **kw)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _mtimes(folder):
    return {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in sorted(os.listdir(folder))}


def test_a_frame_cut_short_by_a_full_disk_never_appears_under_its_final_name(shot, tmp_path, monkeypatch):
    """On a full file system OpenImageIO's close() still reports success for an EXR whose last buffered
    bytes were refused (a 20 KiB tmpfs: frame 1002 left as 8192 of its 8550 bytes). Before, that file
    was renamed to m.1002.exr, the frame reported as written, and the error came only on frame 1003."""
    from samatte.io import writer as W
    out = tmp_path / "out"
    real = W._write_exr
    calls = []

    def disk_full_on_the_second_frame(path, *a, **k):
        real(path, *a, **k)
        calls.append(path)
        if len(calls) == 2:  # what the file system kept: the first 8 KiB, no error from close()
            with open(path, "r+b") as f:
                f.truncate(min(8192, os.path.getsize(path) // 2))
    monkeypatch.setattr(W, "_write_exr", disk_full_on_the_second_frame)
    job = _job(shot, out / "m.####.exr")
    with pytest.raises(OutputError) as e:
        pipeline.run(job)
    assert e.value.code == "OUTPUT_INVALID" and "not written whole" in str(e.value)
    assert sorted(os.listdir(str(out))) == [".samatte", "m.1001.exr"]  # no partial frame, no temp
    before = _mtimes(str(out))
    monkeypatch.setattr(W, "_write_exr", real)  # space again: the re-run writes what is missing only
    res = pipeline.run(job)
    assert [os.path.basename(p) for p in res["written"]] == ["m.1002.exr", "m.1003.exr"]
    assert _mtimes(str(out))["m.1001.exr"] == before["m.1001.exr"]


def test_a_per_frame_output_folder_that_cannot_be_made_is_an_error_before_any_frame(shot, tmp_path):
    """``out/####/m.exr`` puts each frame in its own folder. Before, only the first frame's folder was
    checked: with a file named ``1003`` in ``out`` frames 1001 and 1002 were written, then frame 1003
    failed (OUTPUT_INVALID after 2 of 3 frames)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "1003").write_text("a file where frame 1003's folder goes")
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, out / "####" / "m.exr"))
    assert e.value.code == "OUTPUT_INVALID" and str(out / "1003") in str(e.value)
    assert sorted(os.listdir(str(out))) == [".samatte", "1003"]  # no frame and no frame folder written
    assert (out / "1003").read_text() == "a file where frame 1003's folder goes"


def test_qc_report_that_cannot_be_written_is_output_invalid_and_leaves_no_temp(shot, tmp_path, capsys, monkeypatch):
    """``samatte qc --report DIR`` (and ``farm task --qc --report DIR``): a DIR that is a file, or a disk
    that fills up while the contact sheet is saved (an 8 KiB tmpfs), was exit 1 with a traceback
    (FileExistsError, OSError ENOSPC), and the full disk left ``contact_sheet.png.<pid>.tmp.png``."""
    import errno
    import json

    from PIL import Image

    from qa_cli import run_cli
    job = _job(shot, tmp_path / "out" / "m.####.exr")
    pipeline.run(job)
    jp = tmp_path / "job.json"
    jp.write_text(json.dumps(job))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("the artist's notes")
    rc, err = run_cli(["qc", jp, "--report", a_file], capsys)
    assert rc == 5 and "OUTPUT_INVALID" in err and str(a_file) in err
    assert a_file.read_text() == "the artist's notes"

    def disk_full(self, fp, *a, **k):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", disk_full)
    rep = tmp_path / "rep"
    rc, err = run_cli(["qc", jp, "--report", rep], capsys)
    assert rc == 5 and "OUTPUT_INVALID" in err and "No space left" in err
    assert os.listdir(str(rep)) == []


def test_a_job_starting_in_the_same_process_keeps_another_jobs_frame_in_flight(tmp_path, monkeypatch):
    """Two jobs in one process (a TD's script running shots in threads) writing into one folder: a
    writer starting removed every temp of its own pid, so job A's frame in flight vanished between
    its write and its rename and job A failed (OUTPUT_INVALID, "No such file")."""
    import threading

    import numpy as np

    from samatte.io import writer as W
    from samatte.stages import MatteFrame, PlateInfo, Window
    info = PlateInfo(data=Window(0, 0, 16, 8), display=Window(0, 0, 16, 8))
    a = np.full((8, 16), 0.5, np.float32)
    out = tmp_path / "mattes"
    wa = W.MatteWriter(str(out / "shotA.####.exr"), info)
    real = W._write_exr
    in_flight, go = threading.Event(), threading.Event()

    def held(path, *args, **kw):
        real(path, *args, **kw)
        in_flight.set()
        go.wait(10)
    monkeypatch.setattr(W, "_write_exr", held)
    errors = []

    def job_a():
        try:
            wa.write(MatteFrame(1001, {"hero": a}, a))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    t = threading.Thread(target=job_a)
    t.start()
    assert in_flight.wait(10)
    W.MatteWriter(str(out / "shotB.####.exr"), info)  # job B starts while A's frame is a temp
    go.set()
    t.join(10)
    assert errors == [] and sorted(os.listdir(str(out))) == ["shotA.1001.exr"]
