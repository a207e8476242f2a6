"""`samatte run` sent SIGTERM (a farm's cancel: OpenJD's NOTIFY_THEN_TERMINATE, Deadline, `kill`) printed
"samatte: cancelling (press Ctrl-C again to stop now)": words for a person at a terminal, in a render log no one
types into. A SIGTERM now says the run was terminated (SIGTERM) and is cancelling; Ctrl-C keeps its words."""
import os
import signal

from samatte import cli, jobspec
from samatte.demo import make_shot
from samatte.io import writer


def _job(tmp_path):
    s = make_shot(str(tmp_path / "plates"), frames=3, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="1001-1003", name="term",
                          tracker="shapes", matte="none")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    path = str(tmp_path / "job.json")
    jobspec.save(job, path)
    return path


def _run_signalled(tmp_path, monkeypatch, capfd, sig):
    path = _job(tmp_path)
    real = writer.MatteWriter.write

    def write(w, *a, **kw):
        out = real(w, *a, **kw)
        if "samatte-stored-" not in str(out):
            os.kill(os.getpid(), sig)   # after the first frame, as a farm's cancel arrives mid-run
        return out
    monkeypatch.setattr(writer.MatteWriter, "write", write)
    capfd.readouterr()
    rc = cli.main(["run", path])
    return rc, capfd.readouterr().err, sorted(os.listdir(str(tmp_path / "out")))


def test_sigterm_says_terminated_not_press_ctrl_c(tmp_path, monkeypatch, capfd):
    rc, err, names = _run_signalled(tmp_path, monkeypatch, capfd, signal.SIGTERM)
    # (since the cancel checkpoints inside a frame's phases, not "after the current frame": the frame under way
    # stops within it, unwritten)
    assert "samatte: terminated (SIGTERM): cancelling (the frame under way stops at its next checkpoint" in err, err
    assert "Ctrl-C" not in err, err
    assert rc != 0 and "CANCELLED" in err, (rc, err)
    assert "m.1001.exr" in names and "m.1003.exr" not in names


def test_ctrl_c_keeps_its_words(tmp_path, monkeypatch, capfd):
    rc, err, names = _run_signalled(tmp_path, monkeypatch, capfd, signal.SIGINT)
    assert "samatte: cancelling (press Ctrl-C again to stop now)" in err, err
    assert "SIGTERM" not in err
