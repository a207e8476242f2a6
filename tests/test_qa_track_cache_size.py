"""QA of the track cache's size on disk (a farm's track folder travels: shared storage, Deadline Cloud's job
attachments upload it after the Track task and download it for every Matte task).

Each object's frame was an ``np.savez`` (members stored): a 4096x2160 flow track 2.0 MB per object and frame,
~1.8 GB for 300 frames x 3 objects. Members are now deflated (level 1); files written before are read the same.
"""
import io
import os
import zipfile

import numpy as np

from samatte import jobspec
from samatte.stages import ObjectTrack
from samatte.trackcache import TrackCache


def _object(h=540, w=1024, seed=0):
    yy, xx = np.mgrid[:h, :w]
    r = np.sqrt((xx - w * 0.45) ** 2 / (w * 0.25) ** 2 + (yy - h * 0.5) ** 2 / (h * 0.3) ** 2)
    lg = np.clip(8 * (1 - r[::4, ::4]), -8, 8).astype(np.float32)
    return ObjectTrack(mask=r < 1, logits=lg, score=0.93, keyframe=True, edge="rough")


def test_a_stored_track_is_deflated_and_reads_back_exactly(tmp_path):
    tc = TrackCache(str(tmp_path / "work"))
    ot = _object()
    path = tc.save_object(1001, 0, ot, "k1", {"r": 1})
    with zipfile.ZipFile(path) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
        mask = z.getinfo("mask.npy")
        assert mask.compress_size < mask.file_size / 10, (mask.compress_size, mask.file_size)   # 69 KB -> ~1 KB
    assert os.path.getsize(path) < np.packbits(ot.mask).nbytes + ot.logits.nbytes
    got, ref = tc.load_object(1001, 0, "k1")
    assert ref == {"r": 1} and got.score == ot.score and got.keyframe and got.edge == "rough"
    assert np.array_equal(got.mask, ot.mask) and np.array_equal(got.logits, ot.logits)
    assert tc.stored_key(1001, 0) == "k1"
    assert tc.load_object(1001, 0, "k2") is None


def test_a_track_stored_by_an_earlier_version_is_still_current(tmp_path):
    """A work dir tracked by 0.2.18 (np.savez, members stored) needs no re-track after the upgrade."""
    import json
    tc = TrackCache(str(tmp_path / "work"))
    ot = _object()
    meta = {"key": "k1", "frame": 1001, "ref": None, "shape": list(ot.mask.shape), "score": 0.93,
            "keyframe": True, "edge": "rough", "logits": True, "soft": False}
    buf = io.BytesIO()
    np.savez(buf, mask=np.packbits(ot.mask), logits=ot.logits,
             meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8))
    os.makedirs(os.path.dirname(tc.path(1001, 0)), exist_ok=True)
    with open(tc.path(1001, 0), "wb") as f:
        f.write(buf.getvalue())
    assert tc.stored_key(1001, 0) == "k1"
    got, _ = tc.load_object(1001, 0, "k1")
    assert np.array_equal(got.mask, ot.mask) and np.array_equal(got.logits, ot.logits)


def test_a_flow_job_s_track_folder_is_small(tmp_path):
    """The product path: a flow job's track files hold far less than the bit-packed masks alone."""
    from samatte.demo import make_shot
    from samatte.pipeline import run
    s = make_shot(str(tmp_path / "shot"), frames=3, size=(320, 240))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"),
                          frames="%d-%d" % (s["frames"][0], s["frames"][-1]), name="sh", tracker="flow",
                          matte="none")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    run(job)
    files = [os.path.join(dp, f) for dp, _, fs in os.walk(str(tmp_path / "out")) for f in fs if f.endswith(".npz")]
    assert len(files) == 3
    for p in files:
        with zipfile.ZipFile(p) as z:
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
            assert sum(i.compress_size for i in z.infolist()) < sum(i.file_size for i in z.infolist()) / 2
