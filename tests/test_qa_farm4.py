"""QA of the farm on shared storage as it really is: two jobs pointed at one output pattern at once,
and a plate frame replaced with its old size and mtime (copy tools that keep times, storage with 1-2 s
times), which the stat-based stamp of plate frames cannot see: ``--overwrite`` must then recompute
everything, the stored track included."""
import json
import os
import shutil

import numpy as np
import pytest

from samatte import jobspec
from samatte.errors import OutputError
from samatte.pipeline import run, run_iter


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qafarm4")
    s = make_shot(str(d / "plate"), frames=6, size=(64, 64))
    return s, d


def _job(s, plate, out, name="sh050", **kw):
    job = jobspec.new_job(plate, str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]), name=name,
                          tracker="flow", matte="refine", quality="draft", **kw)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _attr(path, name):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        return inp.spec().getattribute(name)
    finally:
        inp.close()


def test_a_second_job_writing_the_same_output_at_once_is_an_error_not_a_mix(shot, tmp_path):
    """Two jobs (another name) started at once on one output pattern both found a free folder at their
    start check, then each replaced the other's frames: both exited 0 and the folder held frames of
    both (measured with two `samatte run` processes: 1001-1007 of one job, 1008-1012 of the other).
    Now the output is asked again before each write: the job that finds the other's frame stops with
    OUTPUT_INVALID and leaves it alone."""
    s, _ = shot
    out = tmp_path / "shared" / "m.####.exr"
    other = _job(s, s["plate"], tmp_path / "other" / "m.####.exr", name="sh050_other")
    run(other)  # job A's frames, copied in below while job B runs (after B's start check)
    mine = _job(s, s["plate"], out, name="sh050")
    mine["matte"]["quality"] = "default"
    gen = run_iter(mine)
    with pytest.raises(OutputError) as e:
        for p in gen:
            if p.stage == "setup" and "to do" in (p.message or ""):   # checked, tracked; matting starts
                for f in s["frames"]:
                    shutil.copyfile(str(tmp_path / "other" / ("m.%d.exr" % f)), str(out).replace("####", str(f)))
    assert e.value.code == "OUTPUT_INVALID"
    assert "sh050_other" in e.value.message
    for f in s["frames"]:
        assert _attr(str(out).replace("####", str(f)), "samatte/job") == "sh050_other"


def test_a_second_run_of_the_same_job_at_once_still_writes(shot, tmp_path):
    """The guard is about other jobs: the same job's frames (a retried task running beside the first
    try, a stale frame of this job) are still replaced."""
    s, _ = shot
    out = tmp_path / "o" / "m.####.exr"
    job = _job(s, s["plate"], out)
    run(job)
    first = {f: open(str(out).replace("####", str(f)), "rb").read() for f in s["frames"]}
    job2 = json.loads(json.dumps(job))
    job2["output"]["overwrite"] = True
    res = run(job2)
    assert len(res["written"]) == len(s["frames"])
    assert {f: open(str(out).replace("####", str(f)), "rb").read() for f in s["frames"]} == first


def _rewrite_uncompressed(path, flip):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    a = buf.get_pixels(oiio.FLOAT)
    if flip:
        a = np.ascontiguousarray(a[:, ::-1])
    spec = buf.spec()
    spec.attribute("compression", "none")  # same size whatever the pixels
    o = oiio.ImageOutput.create(path)
    assert o.open(path, spec)
    o.write_image(a)
    o.close()


def test_overwrite_recomputes_the_track_of_a_plate_replaced_with_the_same_size_and_mtime(shot, tmp_path):
    """A plate frame replaced by other bytes of the same size, its mtime set back (cp -p, rsync -a,
    robocopy; 1-2 s times on SMB/NFS): the plate stamp (size + mtime) cannot see it and a re-run reuses
    the frames (documented). The way to force it, --overwrite, re-matted every frame but from the
    *stored track*, still keyed as current (12-frame 64x64 demo shot, frame 1010 replaced: 1010 differed
    from a fresh run by up to 3.8 in the foreground, 1011 by 0.42). Now --overwrite tracks again too and
    equals a fresh run byte for byte."""
    s, _ = shot
    plate_dir = tmp_path / "plate"
    shutil.copytree(os.path.dirname(s["plate"]), str(plate_dir))
    plate = str(plate_dir / os.path.basename(s["plate"]))
    victim = str(plate_dir / os.path.basename(s["plate"]).replace("####", "1005"))
    _rewrite_uncompressed(victim, False)
    job = _job(s, plate, tmp_path / "out" / "m.####.exr")
    run(job)
    st = os.stat(victim)
    _rewrite_uncompressed(victim, True)
    assert os.path.getsize(victim) == st.st_size
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run(job)["written"] == []   # documented limit of the stat stamp: not seen
    forced = json.loads(json.dumps(job))
    forced["output"]["overwrite"] = True
    res = run(forced)
    assert res["track_reused"] == [] and len(res["written"]) == len(s["frames"])
    fresh = _job(s, plate, tmp_path / "fresh" / "m.####.exr")
    run(fresh)
    for f in s["frames"]:
        a = open(str(tmp_path / "out" / ("m.%d.exr" % f)), "rb").read()
        b = open(str(tmp_path / "fresh" / ("m.%d.exr" % f)), "rb").read()
        assert a == b, f
