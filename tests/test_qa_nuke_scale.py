"""QA of the Nuke adapter at production scale (the SAMatte node against the Nuke double; no worker):
regressions for the hot spots found.

* ``samatte.cachekey.frame_keys`` built and JSON-encoded, for every frame after an object's last shape
  keyframe (and before its first), the list of plate stamps from that keyframe to the frame: quadratic in
  the shot's length. 1000 frames, 20 objects keyed on their first 10 frames: 9.2 s; the internal Read
  recomputes them every 10 s (``farm.KEYS_TTL_S``), so a GUI session froze for 9 s every 10 s and a farm
  render of the node spent most of its time there (``samatte status``/``run`` paid it once). Now 0.3 s,
  with the very same keys (0.2.15, KEY_VERSION 2: the same dependencies, checked below against the
  former code).
* The internal Read's file knob (``farm.frame_path``, evaluated on every viewer refresh and every rendered
  frame) decoded the stored JobSpec (base64, zlib, JSON) and re-encoded it on each call: 40-75 ms a call
  for 20 objects with 200 roto keys. Now decoded once per knob text (0.15 ms a call).
* That re-check every 10 s read and hashed every mask frame and prompt file again (a refine-only node of
  1000 mask frames of 200 kB: 200 MB each time, 0.2-0.3 s from the page cache, far more over the network).
  Now unchanged files (same stat) keep their content stamp (``cachekey.file_stamp(memo=)``): 0.024 s.
* A stale frame's error (raised on every viewer refresh after a roto edit) read and parsed job.json each
  time to tell whether Export JobSpec wrote it: 17 ms a call. Now once while the file is unchanged (0.7 ms).
"""
import hashlib
import json
import os
import time
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402

from samatte import cachekey, jobspec  # noqa: E402
from samatte.names import object_channel  # noqa: E402
from samatte_nuke import farm  # noqa: E402

RESOLVED = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "refine"}


def _reference_frame_keys(job, *, resolved, plate_frames=None, stamp=None):
    """cachekey.frame_keys as it was before the fix (c633f2c), on cachekey's own helpers."""
    ck = cachekey
    frames = ck._job_frames(job, plate_frames)
    if not frames:
        return {}
    memo = {}
    base_stamp = stamp or ck.file_stamp

    def stamps(path):
        if path not in memo:
            memo[path] = base_stamp(path)
        return memo[path]

    tracker = resolved.get("tracker") or "masks"
    kj = ck.keyed_job(job)
    res = {k: resolved.get(k) for k in ck.RESOLVED_FIELDS}
    common = {"v": ck.KEY_VERSION, "samatte": ck.__version__, "colour": kj["colour"]}
    track_base = ck._hash({"c": common, "tracker": res["tracker"], "model": res["model"],
                           "model_sha256": res["model_sha256"],
                           "options": ck.resolved_tracker_options(res["tracker"], kj["tracker_options"])})
    matte_base = ck._hash({"c": common, "matte": res["matte"], "settings": kj["matte"], "output": kj["output"],
                           "nobjects": len(job["objects"])})
    plate_pat = job["plate"]["path"]
    _pattern_path = ck._pattern_paths()
    pos = {f: i for i, f in enumerate(frames)}
    plate_stamp = {}

    def pstamp(f):
        if f not in plate_stamp:
            p = _pattern_path(plate_pat, f)
            plate_stamp[f] = stamp(p) if stamp is not None else ck.file_stamp(p, small=0)
        return plate_stamp[f]

    tracked = [(i, o) for i, o in enumerate(job["objects"]) if o.get("prompts")]
    seg_memo = {}

    def segment(i, o, lo, hi):
        k = (i, lo, hi)
        if k not in seg_memo:
            span = frames[pos[lo]:pos[hi] + 1] if lo in pos and hi in pos else \
                [f for f in frames if lo <= f <= hi]
            prompts = [ck._prompt_record(q, stamps) for q in o["prompts"] if lo <= int(q["frame"]) <= hi]
            extra = {}
            if o.get("masks"):
                extra = {"masks": ck._masks_record(o["masks"]),
                         "mask_stamps": [stamps(_pattern_path(o["masks"]["path"], f)) for f in span]}
            seg_memo[k] = ck._hash({"i": i, "prompts": prompts, "plate": [[f, pstamp(f)] for f in span],
                                    "extra": extra})
        return seg_memo[k]

    intervals = [(i, o, ck._interval_of(o, frames, tracker)) for i, o in tracked]
    out = {}
    for f in frames:
        parts = []
        for i, o, interval in intervals:
            lo, hi = interval(f)
            parts.append(segment(i, o, lo, hi))
        okeys = [ck._hash({"b": track_base, "f": f, "object": p}) for p in parts]
        for i, o in enumerate(job["objects"]):
            if o.get("masks"):
                parts.append([i, ck._masks_record(o["masks"]), stamps(_pattern_path(o["masks"]["path"], f))])
        if not tracked:
            parts.append(pstamp(f))
        out[f] = {"track": ck._hash({"b": track_base, "f": f, "objects": parts}), "track_objects": okeys}
    ck._matte_chain(out, ck.temporal_refs(job, frames, tracker if tracked else "masks"), frames, matte_base,
                    pstamp)
    return out


def _files(folder, pattern, frames, size=40):
    os.makedirs(folder, exist_ok=True)
    for f in frames:
        with open(os.path.join(folder, pattern % f), "wb") as fh:
            fh.write(b"%d" % f * (size // 4 + f % 5))


def _poly(f, k=0, n=6, **kw):
    return jobspec.polygon_prompt(f, [[10 + k + 3 * j, 20 + (j * 7 + f) % 40] for j in range(n)], **kw)


def _shot(tmp_path, frames="1001-1060"):
    fr = list(range(1001, 1061)) + list(range(1070, 1081))
    _files(str(tmp_path / "plate"), "plate.%04d.exr", fr)
    _files(str(tmp_path / "masks"), "m.%04d.exr", fr, size=300)
    with open(tmp_path / "hint.png", "wb") as fh:
        fh.write(b"not really a png, only stamped")
    return jobspec.new_job(str(tmp_path / "plate" / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"),
                           frames=frames, name="scale")


def _jobs(tmp_path):
    """Jobs with every kind of segment: anchors at the start, middle and end, corrections after the last
    anchor and before the first, subtract shapes, an object with prompts and masks, a masks-only one,
    a range with a gap, a mask prompt file."""
    out = []
    job = _shot(tmp_path)
    jobspec.add_object(job, "first", [_poly(1001), _poly(1003, 2), jobspec.points_prompt(1030, [[5, 5]], [0])])
    jobspec.add_object(job, "middle", [_poly(1030), _poly(1040, 1, mode="subtract"),
                                       jobspec.points_prompt(1010, [[7, 9], [8, 8]], [1, 0])])
    jobspec.add_object(job, "last", [_poly(1060, 4), jobspec.box_prompt(1050, [1, 2, 30, 40])])
    jobspec.add_object(job, "both", [_poly(1020)], masks=str(tmp_path / "masks" / "m.####.exr"))
    jobspec.add_object(job, "roto", masks={"path": str(tmp_path / "masks" / "m.####.exr"), "soft": True})
    jobspec.add_object(job, "file", [jobspec.mask_prompt(1011, str(tmp_path / "hint.png")),
                                     jobspec.points_prompt(1059, [[3, 3]])])
    out.append(job)
    gap = _shot(tmp_path, frames="1001-1060,1070-1080")
    jobspec.add_object(gap, "a", [_poly(1005), _poly(1075, 3)])
    jobspec.add_object(gap, "b", [jobspec.points_prompt(1072, [[4, 4]])])
    out.append(gap)
    return [jobspec.validate(j) for j in out]


def test_frame_keys_have_the_former_keys_dependencies(tmp_path):
    """KEY_VERSION 2 hashes spans tracked backward in descending frames and a mask frame's stamp with its
    plate frame's (tests/test_qa_keys_linear.py): other bytes, so each edit of a prompt, a mask frame or a
    plate frame must change the keys of the same frames as under the former code."""
    from test_qa_keys_linear import assert_same_dependencies
    for job in _jobs(tmp_path):
        table = {}
        cachekey.frame_keys(job, resolved=RESOLVED, stamp=lambda p: table.setdefault(p, cachekey.file_stamp(p)))
        edit = sorted(table)[::5] + [p for p in table if p.endswith(("1001.exr", "1030.exr", "hint.png"))]
        for tracker in ("flow", "shapes", "sam2", "masks"):
            assert_same_dependencies(job, dict(RESOLVED, tracker=tracker), old=_reference_frame_keys,
                                     table=table, paths=edit)
        assert_same_dependencies(job, RESOLVED, old=_reference_frame_keys, plate_frames=[1001, 1002, 1030, 1031, 1060],
                                 table=table, paths=edit)


class _Counting:
    """hashlib in cachekey's namespace, counting the bytes hashed."""

    def __init__(self):
        self.n = 0

    def sha256(self, data=b""):
        return _Hash(self, hashlib.sha256(data), len(data))


class _Hash:
    def __init__(self, owner, h, n):
        self.owner, self.h = owner, h
        owner.n += n

    def update(self, data):
        self.owner.n += len(data)
        self.h.update(data)

    def copy(self):
        return _Hash(self.owner, self.h.copy(), 0)

    def hexdigest(self):
        return self.h.hexdigest()


def _hashed_bytes(tmp_path, monkeypatch, n, objects=4):
    folder = tmp_path / str(n)
    _files(str(folder / "plate"), "plate.%04d.exr", range(1001, 1001 + n))
    job = jobspec.new_job(str(folder / "plate" / "plate.####.exr"), str(folder / "out" / "m.####.exr"),
                          frames="1001-%d" % (1000 + n), name="scale")
    for o in range(objects):   # keyed on the first frames only: the tracker carries them to the end
        jobspec.add_object(job, "o%d" % o, [_poly(1001 + o, o, n=40)])
    job = jobspec.validate(job)
    counter = _Counting()
    monkeypatch.setattr(cachekey, "hashlib", counter)
    keys = cachekey.frame_keys(job, resolved=RESOLVED)
    monkeypatch.undo()
    assert len(keys) == n
    return counter.n


def test_frame_keys_hash_a_linear_amount_of_text_in_the_shot_length(tmp_path, monkeypatch):
    # the former code hashed ~4x the bytes for twice the frames (every frame after the keyframes hashed the
    # stamps of all frames back to them: 0.9 MB for 150 frames, 3.5 MB for 300); now twice
    small, big = _hashed_bytes(tmp_path, monkeypatch, 150), _hashed_bytes(tmp_path, monkeypatch, 300)
    assert big < 2.5 * small, (small, big)


def _exr(path, attrs, channels=()):
    """A header-only EXR with string attributes ``attrs`` and a ``channels`` list (half) naming ``channels``:
    what the read-back reads of a matte (its key, objects and, since the read-back checks object layers,
    its channel list)."""
    blob = struct.pack("<ii", 20000630, 2)
    if channels:
        cl = b"".join(c.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for c in sorted(channels)) + b"\0"
        blob += b"channels\0chlist\0" + struct.pack("<i", len(cl)) + cl
    for k, v in attrs.items():
        v = v.encode()
        blob += k.encode() + b"\0string\0" + struct.pack("<i", len(v)) + v
    with open(path, "wb") as fh:
        fh.write(blob + b"\0")


def _node_with_job(tmp_path):
    nuke = nuke_env.fresh()
    from samatte_nuke import node as snode
    job = _jobs(tmp_path)[0]
    work = os.path.join(os.path.dirname(job["output"]["path"]), ".samatte", "scale")
    os.makedirs(work)
    with open(os.path.join(work, "manifest.json"), "w") as fh:
        json.dump({"resolved": RESOLVED, "layout": 2}, fh)
    keys = farm.expected_keys(job)
    names = ",".join(o["name"] for o in job["objects"])
    for f, k in keys.items():
        _exr(job["output"]["path"].replace("####", "%04d" % f), {"samatte/key": k, "samatte/objects": names},
             channels=["R", "G", "B", "A"] + [object_channel(o["name"]) for o in job["objects"]])
    g = snode.create("SAMatte1")
    g["samatte_job"].setValue(farm.encode_state(job))
    g["samatte_offset"].setValue(-1000)
    return nuke, g, job


def test_the_read_decodes_the_stored_job_once(tmp_path, monkeypatch):
    nuke, g, job = _node_with_job(tmp_path)
    try:
        calls = []
        real = farm.decode_state
        monkeypatch.setattr(farm, "decode_state", lambda *a, **k: calls.append(1) or real(*a, **k))
        paths = [farm.frame_path(g, t) for t in range(1, 61)]
        assert paths == [job["output"]["path"].replace("####", "%04d" % (t + 1000)) for t in range(1, 61)]
        assert farm.frame_path(g, 500) == paths[-1] and farm.frame_path(g, -5) == paths[0]   # held ends
        assert len(calls) <= 1, len(calls)
        # an edited job (a new run stored another one) is read anew, never the old one's memo
        edited = dict(job, objects=job["objects"][:1])
        g["samatte_job"].setValue(farm.encode_state(edited))
        assert farm.stored_job(g) == edited and json.loads(farm.stored_job_text(g)) == edited
        assert farm.stored_job(g) is not farm.stored_job(g)   # a copy of one's own
    finally:
        nuke._reset()


def test_the_reads_recheck_hashes_only_the_files_that_changed(tmp_path, monkeypatch):
    """Every KEYS_TTL_S the Read re-checks the keys: it read and hashed every mask frame and prompt file
    again (a refine-only node of 1000 frames: 1000 mask files each time). Now a file whose stat is unchanged
    keeps its content stamp; one rewritten is read again, and the keys follow it."""
    job = _jobs(tmp_path)[0]
    work = os.path.join(os.path.dirname(job["output"]["path"]), ".samatte", "scale")
    os.makedirs(work)
    with open(os.path.join(work, "manifest.json"), "w") as fh:
        json.dump({"resolved": RESOLVED, "layout": 2}, fh)
    real_open = open
    real_open_regular = cachekey.open_regular
    opened = []

    def counting(path, *a, **k):      # files are hashed through inputfile.open_regular (never a FIFO)
        opened.append(os.path.basename(str(path)))
        return real_open_regular(path, *a, **k)
    monkeypatch.setattr(cachekey, "open_regular", counting)
    monkeypatch.setattr(farm, "_STAMPS", {})
    old = time.time() - 60          # files written a minute ago (a stamp of a file written within
    for d, _dirs, files in os.walk(str(tmp_path)):   # cachekey.RACY_NS is not kept: its stat may not
        for f in files:                                # show a rewrite in the same tick)
            os.utime(os.path.join(d, f), (old, old))
    first = farm.expected_keys(job)
    assert len([p for p in opened if p.startswith("m.")]) == 60 and "hint.png" in opened   # every mask file
    del opened[:]
    assert farm.expected_keys(job) == first
    assert opened == []
    # a mask frame rewritten in place (same size, other bytes): read again, and the keys change
    path = str(tmp_path / "masks" / "m.1030.exr")
    with real_open(path, "rb") as fh:
        data = fh.read()
    with real_open(path, "wb") as fh:
        fh.write(data[::-1])
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    again = farm.expected_keys(job)
    assert opened == ["m.1030.exr"]
    monkeypatch.undo()
    assert again == {int(f): k["matte"] for f, k in cachekey.frame_keys(job, resolved=RESOLVED).items()}
    assert again != first and again[1030] != first[1030] and again[1001] == first[1001]


def test_a_stale_frames_error_reads_job_json_once(tmp_path, monkeypatch):
    """A stale frame raises on every viewer refresh; the error names ``samatte run <job.json>`` when Export
    JobSpec wrote this very job, which it checked by reading and parsing job.json each time (17 ms for 20
    objects x 200 roto keys). Now once while job.json is unchanged; an edited job.json is read again."""
    nuke, g, job = _node_with_job(tmp_path)
    try:
        folder = os.path.dirname(os.path.dirname(job["output"]["path"]))
        job_file = farm.export(job, folder)
        _exr(job["output"]["path"].replace("####", "1005"), {"samatte/key": "old", "samatte/objects": "x"})
        real_open = open
        opened = []
        monkeypatch.setattr(farm, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k), raising=False)
        import pytest
        for _ in range(20):
            with pytest.raises(farm.StaleFrameError) as e:
                farm.frame_path(g, 5)
            assert "samatte run %s --frames 1005" % job_file in str(e.value)
        assert opened.count(job_file) == 1, opened
        other = dict(job, name="another")
        with real_open(job_file, "w") as fh:   # another job exported over it (a new size: a new stat)
            json.dump(other, fh, indent=2)
        with pytest.raises(farm.StaleFrameError) as e:
            farm.frame_path(g, 5)
        assert "Track & Matte on SAMatte1" in str(e.value) and opened.count(job_file) == 2
    finally:
        nuke._reset()
