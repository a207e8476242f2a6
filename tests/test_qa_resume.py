"""QA of resume and cache semantics (damaged files, chunks) on a tiny demo shot, flow tracker and
refine matte (weights-free)."""
import hashlib
import os
import zipfile

import pytest

from demo_shots import demo_job, make_demo_shot
from samatte import pipeline
from samatte.errors import TrackMissingError
from samatte.stages import PlateInfo, Window
from samatte.trackcache import TrackCache, default_work_dir

N = 6


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "qa_resume_shot", N)


def _frames(paths):
    return sorted(int(os.path.basename(p).split(".")[1]) for p in paths)


def _digests(folder):
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in sorted(os.listdir(folder)) if n.endswith(".exr")}


def _damage_logits(path):
    """Flip a byte inside the stored logits of a track file: its meta (and so its key) still reads."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("logits.npy")
    b = bytearray(open(path, "rb").read())
    b[info.header_offset + 200] ^= 0xFF
    with open(path, "wb") as f:
        f.write(b)


def test_damaged_track_file_is_tracked_again_not_a_track_missing_forever(shot, tmp_path):
    ref_dir = tmp_path / "ref"
    pipeline.run(demo_job(shot, ref_dir / "matte.####.exr", name="qa"))
    job = demo_job(shot, tmp_path / "out" / "matte.####.exr", name="qa")
    pipeline.run(job)
    frames = shot[0]["frames"]
    f = frames[3]
    cache = TrackCache(default_work_dir(job))
    _damage_logits(cache.path(f))
    key = pipeline.frame_status(job)["keys"][str(f)]["track_objects"][0]
    assert cache.stored_key(f) == key  # the meta still reads ...
    assert cache.load_object(f, 0, key) is None  # ... the track does not
    assert cache.stale_objects(f, [key]) == [0]
    os.remove(str(tmp_path / "out" / ("matte.%04d.exr" % f)))

    # --stage matte: the damaged track is missing (exit 9), never a traceback
    with pytest.raises(TrackMissingError):
        pipeline.run(job, stage="matte")
    # the default stage tracks it again (before: TRACK_MISSING "vanished" on this and every later run)
    res = pipeline.run(job)
    assert f in res["tracked"]
    assert _frames(res["written"]) == [f]
    assert _digests(tmp_path / "out") == _digests(ref_dir)


def test_unreadable_compression_in_a_track_file_is_no_stored_track(shot, tmp_path):
    job = demo_job(shot, tmp_path / "out" / "matte.####.exr", name="qa")
    pipeline.run(job, stage="track")
    f = shot[0]["frames"][1]
    cache = TrackCache(default_work_dir(job))
    path = cache.path(f)
    b = bytearray(open(path, "rb").read())
    cd = b.find(b"PK\x01\x02")  # the first central directory record (mask.npy)
    assert cd > 0
    b[cd + 10] = 99  # its compression method: zipfile raises NotImplementedError on reading the member
    with open(path, "wb") as fh:
        fh.write(b)
    key = pipeline.frame_status(job)["keys"][str(f)]["track_objects"][0]
    assert cache.load_object(f, 0, key) is None
    res = pipeline.run(job, stage="track")
    assert f in res["tracked"]

INFO = PlateInfo(data=Window(0, 0, 8, 4), display=Window(0, 0, 8, 4))


def test_temps_of_pods_with_long_shared_name_prefixes_are_not_taken_for_ours(tmp_path, monkeypatch):
    """Two farm pods ``samatte-matte-worker-deployment-<id>``: their names share more than 32
    characters and samatte has the same pid in each pod's namespace. Before, both had one host tag,
    so a writer starting on one pod removed the other pod's frame in flight as its own temp."""
    import socket
    import time

    from samatte.io import writer as W
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(socket, "gethostname", lambda: "samatte-matte-worker-deployment-7d9f8b6c4-x2k9p")
    other = W.host_tag()
    theirs = out / (".m.1001.exr.%s.%d.0123abcd.tmp.exr" % (other, os.getpid()))
    theirs.write_bytes(b"in flight")
    monkeypatch.setattr(socket, "gethostname", lambda: "samatte-matte-worker-deployment-7d9f8b6c4-q8zt4")
    assert W.host_tag() != other and len(W.host_tag()) <= 32
    W.MatteWriter(str(out / "m.####.exr"), INFO)
    assert theirs.exists()
    # the same holds for a container that shares the host's name but not its pids
    monkeypatch.setattr(socket, "gethostname", lambda: "node07")
    monkeypatch.setattr(W, "_pid_namespace", lambda: "pid:[4026532801]")
    container = W.host_tag()
    theirs2 = out / (".m.1002.exr.%s.%d.0123abcd.tmp.exr" % (container, 2 ** 22 + 4321))  # no such pid here
    theirs2.write_bytes(b"in flight")
    monkeypatch.setattr(W, "_pid_namespace", lambda: "pid:[4026531836]")
    W.MatteWriter(str(out / "m.####.exr"), INFO)
    assert theirs2.exists()
    # ... while this host's temps of a dead process still go, and anybody's abandoned ones
    mine = out / (".m.1003.exr.%s.%d.0123abcd.tmp.exr" % (W.host_tag(), 2 ** 22 + 4321))
    mine.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(str(theirs), (old, old))
    W.MatteWriter(str(out / "m.####.exr"), INFO)
    assert sorted(os.listdir(str(out))) == [theirs2.name]


def test_track_cache_temps_of_a_killed_run_are_removed(tmp_path):
    """A run killed while it stored a track (or the manifest) left ``.<name>.<host>.<pid>.<rand>.tmp``
    in the work dir for ever; now the next run removes them by the output writer's rule."""
    from samatte import trackcache
    from samatte.io.writer import host_tag
    work = tmp_path / "work"
    c = TrackCache(str(work))
    dead = 2 ** 22 + 4321
    gone = [work / "track" / (".1004.o0.npz.%s.%d.0123abcd.tmp" % (host_tag(), dead)),
            work / (".manifest.json.%s.%d.0123abcd.tmp" % (host_tag(), dead))]
    kept = [work / "track" / (".1005.o0.npz.otherhost-0123abcd.%d.0123abcd.tmp" % dead),  # in flight elsewhere
            work / "track" / (".1006.o0.npz.%s.%d.0123abcd.tmp" % (host_tag(), os.getppid())),  # alive here
            work / "track" / "notes.tmp"]
    for p in gone + kept:
        p.write_bytes(b"partial")
    TrackCache(str(work))
    assert [p.exists() for p in gone] == [False, False]
    assert all(p.exists() for p in kept)
    # the name the cache writes its temps under is the one it removes
    assert trackcache._TMP_RX.match(os.path.basename(trackcache._tmp_name(c.path(1001))))
    # status (create=False) removes nothing
    gone[0].write_bytes(b"partial")
    TrackCache(str(work), create=False)
    assert gone[0].exists()


def test_a_renamed_job_keeps_its_finished_frames_and_still_refuses_changed_ones(tmp_path, capsys):
    """The job's name is in no key: after a rename, frames that are complete for the job's keys are
    kept (``status`` said complete while ``run`` refused them as another job's, OUTPUT_INVALID). A frame
    another job wrote that is not complete for these keys is still that job's: refused, unchanged."""
    import json
    from samatte import cli
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=3, size=(64, 64))
    out = tmp_path / "out"
    doc = {"samatte_job": 1, "name": "first", "plate": {"path": s["plate"], "frames": "1001-1003"},
           "objects": [{"name": "ball", "prompts": [{"frame": 1002, "type": "box", "box": [10, 6, 34, 26]}]}],
           "tracker": {"backend": "shapes"}, "matte": {"backend": "none"},
           "output": {"path": str(out / "m.####.exr")}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    assert cli.main(["run", str(p)]) == 0
    before = _digests(out)
    doc["name"] = "renamed"
    p.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cli.main(["status", str(p), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert {v for v in st["frames"].values()} == {"complete"}
    assert cli.main(["run", str(p)]) == 0
    assert _digests(out) == before            # kept, not rewritten
    doc["objects"][0]["prompts"][0]["box"] = [12, 8, 36, 28]   # new keys: the frames are not this job's
    p.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cli.main(["run", str(p)]) == 5
    assert "[OUTPUT_INVALID]" in capsys.readouterr().err
    assert _digests(out) == before
