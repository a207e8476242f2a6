"""QA "nothing is lost" under failure: a job killed (SIGKILL) at chosen write moments resumes to the
bytes of an unbroken run, and a full disk anywhere (output folder, track cache, the flow tracker's
spill files, a farm bundle) is a clear OUTPUT_INVALID naming the path, with no partial final file and
no temp left, after which a re-run resumes. The wide random sweep (60+ kills of `samatte run`, the
farm's track + matte chunks and a WorkerClient job, plus a real 2 MiB tmpfs filling up) is described
in the QA report; these are a handful of its kill points, made deterministic."""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.errors import OutputError

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qa_chaos_shot")
    return make_shot(str(d), frames=6, size=(64, 64), seed=3)


def _job(s, out, *, work_dir=None, ram_mb=None, two=True):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft", name="chaos")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    if two:
        jobspec.add_object(job, "corner", [jobspec.box_prompt(s["frames"][0], [2, 2, 24, 20])])
    if work_dir is not None:
        job["work_dir"] = str(work_dir)
    if ram_mb is not None:
        job["tracker"]["options"] = {"ram_mb": ram_mb}  # 0: every frame, logit and flow goes to disk
    return jobspec.validate(job)


def _files(folder):
    out = {}
    for dp, _, fn in os.walk(str(folder)):
        for f in fn:
            p = os.path.join(dp, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, str(folder))] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _spill_folders(folder):
    return [n for n in os.listdir(str(folder)) if n.startswith("samatte_flow")]


# -- kill -9 at a write moment, then resume ---------------------------------------------------------
_KILLER = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
k, when = int(sys.argv[2]), sys.argv[3]
n = [0]
def killing(real):
    def rename(*a, **kw):
        n[0] += 1
        if n[0] == k and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        r = real(*a, **kw)
        if n[0] == k and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return r
    return rename
os.replace = killing(os.replace)
os.link = killing(os.link)   # an EXR frame whose name is free takes it with a link (no-clobber)
from samatte.cli import main
sys.exit(main(sys.argv[4:]))
"""


@pytest.fixture(scope="module")
def unbroken(shot, tmp_path_factory):
    d = tmp_path_factory.mktemp("qa_chaos_ref")
    pipeline.run(_job(shot, d / "out" / "m.####.exr"))
    return _files(d / "out")


# os.replace / os.link calls of this job, in order: 1 the manifest, 2-13 the 12 stored tracks (6 frames
# x 2 objects), 14-19 the 6 EXR frames (os.link: their names are free)
@pytest.mark.parametrize("k,when", [(1, "before"), (7, "after"), (16, "before")])
def test_a_run_killed_at_a_rename_resumes_to_the_bytes_of_an_unbroken_run(shot, unbroken, tmp_path, k, when):
    out = tmp_path / "out"
    job_file = jobspec.save(_job(shot, out / "m.####.exr"), str(tmp_path / "job.json"))
    env = dict(os.environ, PYTHONPATH=CORE)
    p = subprocess.run([sys.executable, "-c", _KILLER, CORE, str(k), when, "run", job_file], env=env,
                       capture_output=True, timeout=120)
    assert p.returncode == -signal.SIGKILL
    # whatever is under a final name is whole: each EXR reads to its end, each stored track loads
    import OpenImageIO as oiio
    for n in os.listdir(str(out)):
        if n.startswith("m."):
            inp = oiio.ImageInput.open(str(out / n))
            assert inp is not None and inp.read_image(0, 0, 0, -1, "float") is not None
            inp.close()
    for n in os.listdir(str(out / ".samatte" / "chaos" / "m..exr" / "track")):
        if n.endswith(".npz"):
            with np.load(str(out / ".samatte" / "chaos" / "m..exr" / "track" / n)) as z:
                [z[a] for a in z.files]
    st = pipeline.frame_status(jobspec.load(job_file))
    files = _files(out)
    for f, s in st["frames"].items():  # status is truthful: "complete" only for the final bytes
        assert (s == "complete") == (files.get("m.%s.exr" % f) == unbroken["m.%s.exr" % f])
    pipeline.run(jobspec.load(job_file))
    assert _files(out) == unbroken  # every frame, the manifest, every stored track; no temp left


# -- a full disk ----------------------------------------------------------------------------------
def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_under_the_flow_trackers_memory_mapped_spill_is_an_error_not_a_sigbus(
        shot, tmp_path, monkeypatch):
    """Past ``ram_mb`` the flow tracker keeps its frames and logits in memory-mapped files in the work
    dir. Before, they were sparse files: on a full disk (a 100 KiB tmpfs) the first write to a page
    killed the process with SIGBUS (exit -7, no message, its spill folder left behind). Now the blocks
    are reserved first (posix_fallocate), so a full disk is OUTPUT_INVALID naming the folder."""
    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate here: the spill files are written out with zeros instead")
    work = tmp_path / "work"
    job = _job(shot, tmp_path / "out" / "m.####.exr", work_dir=work, ram_mb=0, two=False)
    monkeypatch.setattr(os, "posix_fallocate", _enospc)
    with pytest.raises(OutputError) as e:
        pipeline.run(job)
    assert e.value.code == "OUTPUT_INVALID" and "No space left on device" in str(e.value)
    assert e.value.details["path"].startswith(str(work))
    assert _spill_folders(work) == []
    assert not [n for n in os.listdir(str(tmp_path / "out")) if n.startswith("m.")]
    monkeypatch.undo()  # space again: the re-run finishes
    assert len(pipeline.run(job)["written"]) == 6


def test_a_full_disk_under_spilled_keyframe_masks_is_an_error_and_spilled_flows_are_dropped(
        shot, tmp_path, monkeypatch):
    """np.save of a spill file on a full disk raised a bare OSError ("12288 requested and 4064
    written": exit 1 with a traceback, no error code). Now a keyframe mask that cannot be spilled is
    OUTPUT_INVALID naming the work dir; a frame-pair flow that cannot be kept is simply not kept (it
    is computed again when asked for: DIS is deterministic), so that job still gives the same bytes."""
    real = np.save

    def full_for(prefix):
        def save(path, *a, **k):
            if os.path.basename(str(path)).startswith(prefix):
                with open(path, "wb") as f:
                    f.write(b"\x93NUMPY")  # the part the disk took
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(path, *a, **k)
        return save

    ref = tmp_path / "ref"
    pipeline.run(_job(shot, ref / "m.####.exr", work_dir=tmp_path / "w0", ram_mb=0))
    work = tmp_path / "w1"
    job = _job(shot, tmp_path / "out" / "m.####.exr", work_dir=work, ram_mb=0)
    monkeypatch.setattr(np, "save", full_for("flow_"))
    pipeline.run(job)
    want = {k: v for k, v in _files(ref).items() if k.endswith(".exr")}
    assert {k: v for k, v in _files(tmp_path / "out").items() if k.endswith(".exr")} == want
    assert _spill_folders(work) == []

    monkeypatch.setattr(np, "save", full_for("key_"))
    job2 = _job(shot, tmp_path / "out2" / "m.####.exr", work_dir=tmp_path / "w2", ram_mb=0)
    with pytest.raises(OutputError) as e:
        pipeline.run(job2)
    assert e.value.code == "OUTPUT_INVALID" and e.value.details["path"].startswith(str(tmp_path / "w2"))
    assert _spill_folders(tmp_path / "w2") == []


def test_a_frame_the_disk_refused_is_reported_under_its_final_path_not_its_removed_temp(shot, tmp_path,
                                                                                       monkeypatch):
    """Before, the error of a frame cut short named its hidden temp file (``.m.1002.exr.<host>.<pid>.
    <rand>.tmp.exr``, already removed) in the message and in ``details.path``, with no frame number."""
    from samatte.io import writer as W
    real, calls = W._write_exr, []

    def short(path, *a, **k):
        real(path, *a, **k)
        calls.append(path)
        if len(calls) == 2:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
    monkeypatch.setattr(W, "_write_exr", short)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, out / "m.####.exr", two=False))
    frame = e.value.details["frame"]  # the second frame written (the matting order starts at the prompt)
    assert frame in shot["frames"] and e.value.details["path"] == str(out / ("m.%04d.exr" % frame))
    assert ".tmp.exr" not in str(e.value) and "not written whole" in str(e.value)
    assert not [n for n in os.listdir(str(out)) if n.endswith(".tmp.exr")]


def test_a_farm_export_on_a_full_disk_is_an_error_with_no_temp_left(shot, tmp_path, monkeypatch):
    """Before: a bare OSError (exit 1, traceback) and ``template.yaml.tmp<pid>`` left in the bundle."""
    from samatte.farm import openjd
    job = _job(shot, tmp_path / "out" / "m.####.exr")
    bundle = tmp_path / "bundle"
    real_open = open

    def full(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        if "w" in mode and ".tmp" in os.path.basename(str(path)):
            f.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return f
    monkeypatch.setattr(openjd, "open", full, raising=False)
    with pytest.raises(OutputError) as e:
        openjd.export_openjd(job, str(bundle), python=sys.executable, models_dir=str(tmp_path / "m"))
    assert e.value.code == "OUTPUT_INVALID" and e.value.details["path"].startswith(str(bundle))
    assert "No space left on device" in str(e.value)
    assert os.listdir(str(bundle)) == []
    monkeypatch.undo()
    res = openjd.export_openjd(job, str(bundle), python=sys.executable, models_dir=str(tmp_path / "m"))
    assert json.load(open(res["openjd_params"]))["Frames"]
