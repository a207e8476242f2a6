"""QA of cachekey.frame_keys' cost in the shot length (KEY_VERSION 2).

The first pass (c633f2c, tests/test_qa_nuke_scale.py) made spans that grow at their end linear. Two
layouts stayed quadratic (20 objects, flow tracker, stamp memo warm; the Nuke adapter recomputes the keys
every farm.KEYS_TTL_S = 10 s, so the viewer stalled):

* objects keyed on their LAST frame: every frame before an object's first anchor has the span
  [F, anchor], which grows at its start: 1000 frames 0.53 s, 2000 frames 1.71 s;
* objects with both prompts and masks: every span hashed its mask stamps, then its plate stamps, from
  scratch: 1000 frames 1.31 s, 2000 frames 2.57 s.

Now a span tracked backward hashes its frames in descending order (so it extends the hash of the span
of the frame after it) and a mask frame's stamp sits in its plate frame's item (so a span with masks
extends too). The encoding changed (KEY_VERSION 2), the dependencies did not: editing one prompt, one mask
frame's file or one plate frame's stamp changes the keys of exactly the same frames as under the former
code (kept verbatim below).
"""
import bisect
import hashlib
import random

from samatte import cachekey, jobspec
from samatte import cachekey as ck

RESOLVED = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "refine"}


# ---- the former code (46a4ae2), verbatim but for names and the ck. prefix on cachekey's helpers ----

class _FormerJsonSeq:
    """The JSON text of ``[fn(f) for f in frames]``'s items, encoded once; :meth:`text` gives the text of
    a slice's items as :func:`_dumps` writes them inside a list (``item,item``) without copying it."""

    def __init__(self, frames, fn):
        parts = [ck._dumps(fn(f)).encode("utf-8") for f in frames]
        self.blob = memoryview(b",".join(parts))
        self.ends = []
        pos = -1
        for p in parts:
            pos += len(p) + 1
            self.ends.append(pos)

    def text(self, a, b, *, after=False):
        """Items ``a`` to ``b - 1``; ``after``: preceded by their comma (they follow item ``a - 1``)."""
        if b <= a:
            return b""
        start = self.ends[a - 1] if a else 0
        return self.blob[start if after else (start + 1 if a else 0):self.ends[b - 1]]


def _former_frame_keys(job, *, resolved, plate_frames=None, stamp=None, memo=None):
    """``{frame: {"track": key, "track_objects": [key, ...], "matte": key}}`` for every frame of the job
    (see the module docstring; ``track_objects``: one track key per tracked object, in job order).

    ``job``: a validated JobSpec dict (relative paths already resolved); ``resolved``: ``{"tracker":
    "flow"|"sam2"|"shapes"|"masks", "model": name or None, "model_sha256": str or None, "matte": name}``;
    ``plate_frames``: the job's frames (default: ``plate.frames``, else the plate's files on disk).
    ``stamp``: the stamp function (default :func:`file_stamp`, memoised per call); ``memo``: a dict kept
    between calls, passed to :func:`file_stamp` (unchanged files are not hashed again)."""
    frames = ck._job_frames(job, plate_frames)
    if not frames:
        return {}
    seen = {}
    base_stamp = stamp or (lambda p: ck.file_stamp(p, memo=memo))

    def stamps(path):
        if path not in seen:
            seen[path] = base_stamp(path)
        return seen[path]

    tracker = resolved.get("tracker") or "masks"
    kj = ck.keyed_job(job, memo=memo)
    res = {k: resolved.get(k) for k in ck.RESOLVED_FIELDS}
    if resolved.get("device"):
        res["device"] = resolved["device"]
    common = {"v": ck.KEY_VERSION, "samatte": ck.__version__, "colour": kj["colour"]}
    track_base = ck._hash({"c": common, "tracker": res["tracker"], "model": res["model"],
                        "model_sha256": res["model_sha256"],
                        "options": ck.resolved_tracker_options(res["tracker"], kj["tracker_options"])})
    matte_base = ck._hash({"c": common, "matte": res["matte"], "settings": kj["matte"], "output": kj["output"],
                        "nobjects": len(job["objects"])})
    plate_pat = job["plate"]["path"]
    _pattern_path = ck._pattern_paths()
    plate_stamp = {}

    def pstamp(f):  # plate frames: size + mtime_ns (hashing a whole shot on every status query is not cheap)
        if f not in plate_stamp:
            p = _pattern_path(plate_pat, f)
            plate_stamp[f] = stamp(p) if stamp is not None else ck.file_stamp(p, small=0, memo=memo)
        return plate_stamp[f]

    tracked = [(i, o) for i, o in enumerate(job["objects"]) if o.get("prompts")]
    segment = _FormerSegments(frames, pstamp, stamps, _pattern_path).key

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
    ck._matte_chain(out, ck.temporal_refs(job, frames, tracker if tracked else "masks"), frames, matte_base, pstamp)
    return out


class _FormerSegments:
    """The key of an object's track segment: the hash of its prompts and of the stamps of every plate (and
    mask) frame of the segment's span, ``ck._hash({"i", "prompts", "plate": [[f, stamp], ...], "extra"})``.

    Each frame after an object's last anchor (before its first) has a span of its own reaching to that
    anchor: building and encoding those lists anew made a shot's keys quadratic in its length (1000 frames,
    20 objects keyed on their first frames: 9 s, recomputed by Nuke's Read every 10 s). Here the stamps are
    encoded once (:class:`_JsonSeq`) and a span is a slice of that text, spans that only grow at their end
    (the frames after the last anchor) extend the previous span's hash, and each prompt is encoded once.
    The bytes hashed are those :func:`_hash` hashed."""

    def __init__(self, frames, pstamp, stamps, pattern_path):
        self.frames, self.stamps, self.pattern_path = frames, stamps, pattern_path
        self.plate = _FormerJsonSeq(frames, lambda f: [f, pstamp(f)])
        self.masks = {}        # mask pattern -> _JsonSeq of its stamps
        self.memo = {}         # (object, lo, hi) -> key
        self.grown = {}        # (object, first span index) -> (end index, sha256 of the text up to that end)
        self.recs, self.texts = {}, {}   # object -> its prompts' JSON; (object, prompt indices) -> the tail

    def key(self, i, o, lo, hi):
        k = (i, lo, hi)
        if k not in self.memo:
            self.memo[k] = self._key(i, o, lo, hi)
        return self.memo[k]

    def _tail(self, i, o, lo, hi):
        which = (i,) + tuple(j for j, q in enumerate(o["prompts"]) if lo <= int(q["frame"]) <= hi)
        if which not in self.texts:
            if i not in self.recs:
                self.recs[i] = [ck._dumps(ck._prompt_record(q, self.stamps)) for q in o["prompts"]]
            self.texts[which] = ('],"prompts":[%s]}' % ",".join(self.recs[i][j] for j in which[1:])).encode("utf-8")
        return self.texts[which]

    def _key(self, i, o, lo, hi):
        a, b = bisect.bisect_left(self.frames, lo), bisect.bisect_right(self.frames, hi)  # span: frames[a:b]
        tail = self._tail(i, o, lo, hi)
        if o.get("masks"):  # an object with prompts and masks: its mask frames may anchor the track
            mpat = o["masks"]["path"]
            if mpat not in self.masks:
                self.masks[mpat] = _FormerJsonSeq(self.frames, lambda f: self.stamps(self.pattern_path(mpat, f)))
            h = hashlib.sha256(b'{"extra":{"mask_stamps":[')
            h.update(self.masks[mpat].text(a, b))
            h.update(('],"masks":%s},"i":%s,"plate":[' % (ck._dumps(ck._masks_record(o["masks"])), ck._dumps(i))).encode("utf-8"))
            h.update(self.plate.text(a, b))
        else:
            done = self.grown.get((i, a))
            if done is not None and a < done[0] <= b:
                h = done[1].copy()
                h.update(self.plate.text(done[0], b, after=True))
            else:
                h = hashlib.sha256(('{"extra":{},"i":%s,"plate":[' % ck._dumps(i)).encode("utf-8"))
                h.update(self.plate.text(a, b))
            if b > a:
                self.grown[(i, a)] = (b, h.copy())
        h.update(tail)
        return h.hexdigest()[:24]


# ---- the same-dependency property ----

def changed(keys_a, keys_b):
    """Per key part (``("obj", j)``, ``"track"``, ``"matte"``): the frames whose key differs."""
    out = {"track": set(), "matte": set()}
    for f, ka in keys_a.items():
        kb = keys_b[f]
        for part in ("track", "matte"):
            if ka[part] != kb[part]:
                out[part].add(f)
        for j, (a, b) in enumerate(zip(ka["track_objects"], kb["track_objects"])):
            out.setdefault(("obj", j), set())
            if a != b:
                out[("obj", j)].add(f)
    return out


def _edits(job, table, paths=None):
    """Every single edit of the job's inputs (of the files' stamps, those of ``paths``, default all):
    ``(name, edited job, edited stamp table)``."""
    import copy
    for i, o in enumerate(job["objects"]):
        for j, q in enumerate(o.get("prompts") or []):
            kinds = ["content"]
            if q.get("mode") is not None:
                kinds.append("mode")
            if q["type"] == "points":
                kinds.append("label")
            kinds.append("frame")
            for kind in kinds:
                e = copy.deepcopy(job)
                p = e["objects"][i]["prompts"][j]
                if kind == "content":
                    if p["type"] == "mask":
                        t = dict(table)
                        t[p["path"]] = "edited"
                        yield "file %d.%d" % (i, j), job, t
                        continue
                    key = "box" if p["type"] == "box" else "points"
                    p[key] = copy.deepcopy(p[key])
                    if key == "box":
                        p["box"][2] += 1.0
                    else:
                        p["points"][0][0] += 1.0
                elif kind == "mode":
                    p["mode"] = "subtract" if p["mode"] == "add" else "add"
                elif kind == "label":
                    p["labels"][0] = 1 - p["labels"][0]
                else:
                    p["frame"] += 1
                yield "%s %d.%d" % (kind, i, j), e, table
    for path in (table if paths is None else paths):
        t = dict(table)
        t[path] = "edited"
        yield "stamp " + path, job, t


def _k0_tags(job, plate_frames):
    """Per tracked object of a SAM 2 job: the passes' start k0 where the object's own first anchor is later
    (its track depends on k0 there: cachekey._sam2_k0_keys), else None."""
    frames = ck._job_frames(job, plate_frames)
    fset = set(frames)
    tracked = [o for o in job["objects"] if o.get("prompts")]
    k0 = ck._sam2_first_anchor(tracked, fset, job)
    tags = []
    for o in tracked:
        an = jobspec.anchor_frames(jobspec.prompt_kinds(o["prompts"], fset))
        tags.append(k0 if (k0 is not None and an and an[0] > k0) else None)
    return frames, tags


def _add_k0_dependency(want, job, edited, plate_frames):
    """An edit that moves the passes' start for an object changes its keys on every frame (and so every
    frame's track and matte keys): the former code missed it."""
    frames, before = _k0_tags(job, plate_frames)
    _, after = _k0_tags(edited, plate_frames)
    moved = [j for j, (a, b) in enumerate(zip(before, after)) if a != b]
    for j in moved:
        want[("obj", j)] = set(frames)
    if moved:
        want["track"] = set(frames)
        want["matte"] = set(frames)


def assert_same_dependencies(job, resolved, new=None, old=None, *, plate_frames=None, table, paths=None):
    """Each single edit (_edits) changes the keys of the same frames under ``new`` as under ``old``."""
    new = new or cachekey.frame_keys
    old = old or _former_frame_keys
    kw = {"resolved": resolved, "plate_frames": plate_frames}
    base_new = new(job, stamp=table.__getitem__, **kw)
    base_old = old(job, stamp=table.__getitem__, **kw)
    assert base_new.keys() == base_old.keys()
    assert base_new != base_old    # another encoding (KEY_VERSION), not the same bytes
    n = 0
    for name, e, t in _edits(job, table, paths):
        got = changed(base_new, new(e, stamp=t.__getitem__, **kw))
        want = changed(base_old, old(e, stamp=t.__getitem__, **kw))
        if resolved["tracker"] == "sam2":   # since the former code, a dependency more (tests/test_qa_sam2_day.py)
            _add_k0_dependency(want, job, e, plate_frames)
        assert got == want, (name, resolved["tracker"], got, want)
        n += sum(bool(v) for v in want.values())
    return n


def _random_job(rng, tracker):
    frames = list(range(1001, 1001 + rng.randint(8, 22)))
    plate, masks = "/shot/plate.####.exr", "/shot/roto%d.####.exr"
    job = jobspec.new_job(plate, "/shot/out/m.####.exr", frames="%d-%d" % (frames[0], frames[-1]), name="r")
    table = {}
    for f in frames:
        table[plate.replace("####", "%04d" % f)] = "p%d" % f
    for o in range(rng.randint(1, 4)):
        prompts = []
        for _ in range(rng.randint(0 if o else 1, 4)):
            f = rng.choice(frames)
            kind = rng.choice(["polygon", "box", "points", "points", "mask", "polygon-sub", "open"]
                              if prompts else ["polygon", "box", "points1", "mask"])   # the first says where
            pts = [[rng.randint(0, 50), rng.randint(0, 50)] for _ in range(4)]
            if kind == "polygon":
                prompts.append(jobspec.polygon_prompt(f, pts))
            elif kind == "polygon-sub":
                prompts.append(jobspec.polygon_prompt(f, pts, mode="subtract"))
            elif kind == "open":
                prompts.append(jobspec.polygon_prompt(f, pts, closed=False))
            elif kind == "box":
                prompts.append(jobspec.box_prompt(f, [1, 2, 30, 40],
                                                  mode=rng.choice(["add", "add", "subtract"]) if prompts else "add"))
            elif kind == "mask":
                path = "/shot/hint%d_%d.png" % (o, len(prompts))
                table[path] = "h" + path
                prompts.append(jobspec.mask_prompt(f, path))
            elif kind == "points1":
                prompts.append(jobspec.points_prompt(f, pts[:2], [1, rng.randint(0, 1)]))
            else:
                prompts.append(jobspec.points_prompt(f, pts[:2], [rng.randint(0, 1), rng.randint(0, 1)]))
        with_masks = rng.random() < 0.4 or not prompts
        if with_masks:
            for f in frames:
                table[(masks % o).replace("####", "%04d" % f)] = "m%d.%d" % (o, f)
        if not prompts and not with_masks:
            continue
        jobspec.add_object(job, "o%d" % o, prompts or None, masks=(masks % o) if with_masks else None)
    job = jobspec.validate(job)
    sub = None
    if rng.random() < 0.3:   # a gap in the job's frames
        cut = rng.randint(2, len(frames) - 3)
        sub = frames[:cut] + frames[cut + 2:]
    return job, table, sub


def test_the_same_frames_change_as_under_the_former_code():
    rng = random.Random(5)
    n = 0
    for trial in range(36):
        tracker = ("flow", "shapes", "sam2")[trial % 3]
        job, table, sub = _random_job(rng, tracker)
        n += assert_same_dependencies(job, dict(RESOLVED, tracker=tracker), plate_frames=sub, table=table)
    assert n > 1000   # the edits did change keys


# ---- linear in the shot length ----

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


def _poly(f, k=0, n=6, **kw):
    return jobspec.polygon_prompt(f, [[10 + k + 3 * j, 20 + (j * 7 + f) % 40] for j in range(n)], **kw)


def _hashed_bytes(monkeypatch, n, layout, objects=4):
    job = jobspec.new_job("/shot/plate.####.exr", "/shot/out/m.####.exr", frames="1001-%d" % (1000 + n), name="s")
    for o in range(objects):
        if layout == "last":     # keyed on the last frames: tracked backward over the whole shot
            jobspec.add_object(job, "o%d" % o, [_poly(1000 + n - o, o, n=40)])
        else:                    # prompts and masks: keyed at the start and in the middle
            jobspec.add_object(job, "o%d" % o, [_poly(1001 + o, o, n=40), _poly(1000 + n // 2 + o, o, n=40)],
                               masks="/shot/roto%d.####.exr" % o)
    job = jobspec.validate(job)
    counter = _Counting()
    monkeypatch.setattr(cachekey, "hashlib", counter)
    keys = cachekey.frame_keys(job, resolved=RESOLVED, stamp=lambda p: "1234:" + p[-9:] * 3)
    monkeypatch.undo()
    assert len(keys) == n
    return counter.n


def test_frame_keys_hash_a_linear_amount_of_text_for_backward_spans_and_masks(monkeypatch):
    # the former code hashed ~4x the bytes for twice the frames in both layouts; now twice
    for layout in ("last", "both"):
        small, big = _hashed_bytes(monkeypatch, 150, layout), _hashed_bytes(monkeypatch, 300, layout)
        assert big < 2.5 * small, (layout, small, big)
