"""A multi-user studio on shared storage: what samatte writes honours the umask like an ordinary
open() (a shared models folder stays readable by the users who did not download), temps are made in
the destination folder (a setgid group folder keeps its group), and a frame the studio locked
(chmod a-w) is never replaced."""
import hashlib
import os
import stat

import numpy as np
import pytest

from samatte import jobspec, models, pipeline
from samatte.errors import OutputError
from samatte.io.writer import MatteWriter
from samatte.stages import MatteFrame


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("perms_shot")
    return make_shot(str(d), frames=3, size=(64, 64))


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


def _job(s, out, **kw):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="shapes", **kw)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask", [0o002, 0o022])
@pytest.mark.parametrize("registry_sha", [True, False])
def test_downloaded_weights_honour_the_umask(tmp_path, monkeypatch, umask, mask, registry_sha):
    # tempfile.mkstemp made the partial download 0600 and os.replace kept it: a checkpoint installed
    # into a shared models folder was unreadable to every other artist and to the farm user
    payload = b"weights" * 100
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake.pt",
                            hashlib.sha256(payload).hexdigest() if registry_sha else None, len(payload))
    monkeypatch.setitem(models.MODELS, "fake_model", info)
    off = tmp_path / "offline"
    off.mkdir()
    (off / "fake_model.pt").write_bytes(payload)
    umask(mask)
    path = models.download("fake_model", dest=tmp_path / "shared_models", offline_dir=off)
    assert path.read_bytes() == payload
    assert _mode(path) == 0o666 & ~mask, oct(_mode(path))
    assert [n for n in os.listdir(path.parent) if n.endswith(".part")] == []
    if not registry_sha:
        assert _mode(str(path) + ".sha256") == 0o666 & ~mask


def test_partial_download_name_is_still_recognised_as_stale(tmp_path, monkeypatch):
    # the partial file's name (now made without tempfile) keeps the form the stale-part cleanup matches
    made = []
    real = models._create_part

    def spy(dest, prefix):
        fd, p = real(dest, prefix)
        made.append(os.path.basename(p))
        return fd, p
    monkeypatch.setattr(models, "_create_part", spy)
    payload = b"w" * 64
    monkeypatch.setitem(models.MODELS, "sam2.1_hiera_tiny", models.ModelInfo(
        "sam2.1_hiera_tiny", "c.yaml", "sam2.1_hiera_tiny.pt", "http://127.0.0.1:9/x", None, len(payload)))
    (tmp_path / "off").mkdir()
    (tmp_path / "off" / "sam2.1_hiera_tiny.pt").write_bytes(payload)
    models.download("sam2.1_hiera_tiny", dest=tmp_path / "m", offline_dir=tmp_path / "off")
    assert len(made) == 1
    stale = tmp_path / "m" / made[0].replace(".%d." % os.getpid(), ".999999999.")
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))  # long abandoned
    assert models._remove_stale_parts(tmp_path / "m") == 1
    assert not stale.exists()


@pytest.mark.parametrize("mask", [0o002, 0o022])
def test_job_outputs_honour_the_umask(shot, tmp_path, umask, mask):
    umask(mask)
    job = _job(shot, tmp_path / "show" / "matte" / "m.####.exr", matte="none")
    res = pipeline.run(job)
    jobspec.save(job, str(tmp_path / "show" / "job.json"))
    seen = 0
    for dp, dns, fns in os.walk(str(tmp_path / "show")):
        for n in dns:
            assert _mode(os.path.join(dp, n)) == 0o777 & ~mask, os.path.join(dp, n)
        for n in fns:
            assert _mode(os.path.join(dp, n)) == 0o666 & ~mask, os.path.join(dp, n)
            seen += 1
    assert len(res["written"]) == 3 and seen >= 3 + 1 + 1 + 3  # frames, job, manifest, track files


def test_locked_frame_is_not_replaced(shot, tmp_path):
    # a rename replaces a 0444 file whatever its mode: a stale frame of the job that the studio had
    # locked (chmod a-w) was silently redone (and came back 0644)
    out = tmp_path / "out" / "m.####.exr"
    pipeline.run(_job(shot, out, matte="none"))
    locked = str(tmp_path / "out" / "m.1002.exr")
    os.chmod(locked, 0o444)
    before = {n: _sha(str(tmp_path / "out" / n)) for n in os.listdir(str(tmp_path / "out")) if n.endswith(".exr")}
    for overwrite in (False, True):
        job = _job(shot, out, matte="refine")  # another matte: every frame is stale
        job["output"]["overwrite"] = overwrite
        with pytest.raises(OutputError) as e:
            pipeline.run(job)
        assert e.value.code == "OUTPUT_INVALID"
        assert "read-only" in str(e.value) and e.value.details["path"] == locked
        after = {n: _sha(str(tmp_path / "out" / n)) for n in before}
        assert after == before  # not one frame written before the error
        assert _mode(locked) == 0o444
    # a complete locked frame is simply kept; unlocked, the job redoes it
    assert pipeline.run(_job(shot, out, matte="none"))["written"] == []
    os.chmod(locked, 0o644)
    assert len(pipeline.run(_job(shot, out, matte="refine"))["written"]) == 3


def test_writer_refuses_a_frame_locked_while_the_job_ran(shot, tmp_path):
    from samatte.io.exr import read_info
    info = read_info(shot["plate"].replace("####", "%04d" % shot["frames"][0]))
    w = MatteWriter(str(tmp_path / "m.####.exr"), info)
    a = np.zeros(info.shape, np.float32)
    mf = MatteFrame(frame=1001, alpha=a, alphas={"ball": a}, score=1.0)
    p = w.write(mf)
    os.chmod(p, 0o444)
    digest = _sha(p)
    with pytest.raises(OutputError) as e:
        w.write(mf)
    assert e.value.code == "OUTPUT_INVALID" and "read-only" in str(e.value)
    assert _sha(p) == digest
    assert [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp.exr")] == []
