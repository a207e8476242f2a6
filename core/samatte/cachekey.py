"""Per-frame cache keys: what decides a frame's pixels, as a short hash a host can compute.

Standard library only, Python 3.9 (hosts import it to tell which cached frames are still valid).

Two keys per frame (:func:`frame_keys`):

* the **track key** of frame F: what tracking F depends on. It hashes the resolved tracker (what
  ``auto`` became, the model and its checksum), the tracker options, the plate's colour settings
  (with the colour attributes of its first frame's EXR header when the job names no colourspace:
  :func:`samatte.exrheader.colour_attributes`),
  and per tracked object (in job order, never its name) the *dependency interval* of F: the
  object's prompts on the frames of that interval, the stamps (:func:`file_stamp`) of its mask
  prompt files and of the plate frames in it. For the ``flow`` and ``shapes`` trackers an
  *anchor* (:func:`samatte.jobspec.object_anchors`: a frame where the object has a closed, additive
  ``mask``/``polygon``/``bezier`` or an additive ``box``; an object with none of these, its first
  frame with a positive point) restarts the object's track from that prompt alone, so the interval of F is
  ``[F, F]`` on an anchor, else from the last anchor before F to the next anchor after F; before the
  first anchor (tracked backward from it) ``[F, first anchor]``, after the last one (tracked forward
  from it) ``[last anchor, F]``: a correction after F there cannot change F's track.
  Other points and subtract shapes never bound an interval (they are corrections of a track).
  SAM 2 propagates memory across the whole shot: its interval is every frame of the job (and an
  object keyed after the passes' start also depends on that frame: :func:`_sam2_k0_keys`). Masks of
  refine-only objects (and of objects with both prompts and masks) add the stamp of F's mask file.
  So editing one prompt re-tracks only the frames whose interval holds it.
  Each tracked object also has its own **object track key** of F (``track_objects``, in job order):
  the same hash restricted to that object's part, so editing one object's prompts makes only that
  object's stored track stale (the track cache stores one file per object and frame).
* the **matte key** of frame F: the track key of F, the stamp of F's plate frame, the resolved
  matte backend, quality and options, the output's channel choices and compression, and the matte
  key of F's *temporal reference* (the frame whose matte state F's matte starts from: the previous
  frame going forward, the next one going backward: see temporal_refs), or nothing where the temporal state
  restarts (the job's first frame and every anchor of any object; SAM 2 also restarts at any
  prompted frame, and tracks the frames before its first prompt backwards). This chain is honest:
  the matte of F depends on the mattes of every frame since the last restart, so an edit re-mattes
  from the first affected frame to the next restart, not only the frames it re-tracks.

Not in any key (cosmetic): object names, ``host_name``, ``colour``, ``meta``, the job's name and
``meta``, ``plate.frames`` beyond the frames an interval spans, ``output.path``, ``overwrite``,
``work_dir``, and the paths of input files (plate, mask prompts and sequences, the OCIO config, the
matte's ``checkpoint``: their stamps count), so a farm node that reaches them under mapped paths computes the host's keys. Always
in: the samatte version and :data:`KEY_VERSION`. A built-in ``ocio://`` config counts by its name and, where OCIO resolves an alias
(``ocio://default``) to another config than it did when samatte keyed it by name, by that config's versioned
name (``resolved["ocio_builtin"]``, :func:`samatte.pipeline.builtin_config_identity`).

Stamps (:func:`file_stamp`): ``size:sha256`` of the content for files under 4 MiB (prompt files,
mask sequences, the OCIO config), ``size:mtime_ns`` for larger ones and for every plate frame (a
re-rendered plate gets a new mtime; hashing a whole shot on every status query would not be cheap),
``missing`` for an absent file. An mtime counts in whole milliseconds (:data:`MTIME_UNIT_NS`): what every
copy of the same file agrees on (Windows and SMB keep 100 ns; a Linux NFS client sees the server's
nanoseconds; Deadline Cloud's job attachments give a session's copy the manifest's whole microseconds,
set through a float, up to ~240 ns off), so a frame a Linux farm node wrote is current for a Windows or
macOS artist reading the plate over SMB, and for the submitter of a job whose plate went to the farm
as job attachments.
"""
import bisect
import hashlib
import io
import json
import os
import re
import stat
import time

from . import __version__
from .exrheader import colour_attributes
from .inputfile import NotRegularFileError, open_regular
from .registry import resolved_tracker_options

__all__ = ["KEY_VERSION", "SMALL_FILE", "MTIME_UNIT_NS", "mtime_in_units", "stat_signature", "file_stamp", "config_stamp", "frame_keys", "temporal_refs", "dependency_interval",
           "anchors", "keyed_job", "RESOLVED_FIELDS", "INDEPENDENT_TRACKERS"]

#: bump when the meaning of a key changes (3: plate mtimes in whole ms, were 100 ns)
KEY_VERSION = 3
#: files below this size are stamped by their content
SMALL_FILE = 4 * 2 ** 20
#: mtimes count in this unit (ns), a floor: Windows (NTFS, and any file over SMB: FILETIME) has 100 ns, a
#: Linux client of the same file on NFS nanoseconds (Samba truncates to 100 ns); Deadline Cloud's job
#: attachments record whole microseconds (truncated) and set a session's copy through a float seconds value,
#: which lands up to ~240 ns either side (its own diff allows 1 us). A whole millisecond agrees on all of them
#: but for a copy whose microseconds are exactly 000 and land below (about 1 frame in 4000 recomputes once).
#: Two writes of one plate frame within the same millisecond with the same size are taken for one.
MTIME_UNIT_NS = 1_000_000


def mtime_in_units(mtime_ns, unit=None):
    """``mtime_ns`` floored to whole ``unit`` ns (default :data:`MTIME_UNIT_NS`), still in ns: the one rule of
    every plate stamp (the keys', the Nuke node's plate signature and upstream hash)."""
    unit = MTIME_UNIT_NS if unit is None else unit
    return mtime_ns - mtime_ns % unit
RESOLVED_FIELDS = ("tracker", "model", "model_sha256", "matte")
#: trackers that track one object at a time (one track task per object: ``samatte run --stage track
#: --objects NAME``). ``flow`` carries each object on its own and then gives every pixel to the object
#: with the highest logit: the pipeline stores each object's own answer and applies that rule when it
#: reads the objects back (samatte.pipeline.combine_flow). Not ``sam2``: one propagation pass whose
#: start and memory resets follow every object's prompts.
INDEPENDENT_TRACKERS = ("shapes", "flow")
_SHAPES = ("mask", "polygon", "bezier")
#: tracker options that never change pixels
_TRACKER_COSMETIC = ("work_dir", "ram_mb")
_PROMPT_COSMETIC = ("label",)


#: a file modified less than this long ago (ns) is not memoised by :func:`file_stamp`: on a file system with
#: coarse times (HFS+ 1 s, FAT 2 s, some SMB / NFS servers) a rewrite of the same size within the same tick
#: keeps its stat, and the memo would keep the old content's stamp for the whole session (git's "racy" rule)
RACY_NS = 3 * 10 ** 9


def stat_signature(st):
    """What tells a file unchanged since an earlier look without reading it: its size, mtime, ctime,
    inode and device (an ``os.stat_result``)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def file_stamp(path, *, small=SMALL_FILE, memo=None):
    """``"<size>:<sha256 of content>"`` for files under ``small`` bytes, ``"<size>:m<mtime_ns>"`` (in whole :data:`MTIME_UNIT_NS`)
    otherwise, ``"missing"`` when the path is not a readable file, ``"notfile"`` when it is a folder, a
    named pipe, a socket or a device (never opened for a read: a FIFO would block, ``/dev/zero`` never
    ends; the reader then refuses the path). The hash covers the ``size`` bytes ``fstat`` saw, so a
    file growing while it is hashed costs no more than its size then.

    ``memo``: a dict the caller keeps between calls (a host re-checking its keys every few seconds): the
    content stamp of a file whose size, mtime, ctime, inode and device are those it had when it was
    hashed is reused instead of read and hashed again (the plates already count by size and mtime)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "notfile"
    if st.st_size < small:
        sig = stat_signature(st)
        hit = memo.get(path) if memo is not None else None
        if hit is not None and hit[0] == sig:
            return hit[1]
        h = hashlib.sha256()
        try:
            f, st = open_regular(path)
            with f:
                left = st.st_size
                while left > 0:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    h.update(chunk)
                    left -= len(chunk)
        except NotRegularFileError:   # replaced by a FIFO or a device since the stat
            return "notfile"
        except OSError:
            return "unreadable:%d" % st.st_mtime_ns
        value = "%d:%s" % (st.st_size, h.hexdigest()[:32])
        if memo is not None and time.time_ns() - st.st_mtime_ns > RACY_NS:
            memo[path] = (sig, value)
        return value
    return "%d:m%d" % (st.st_size, mtime_in_units(st.st_mtime_ns))


# a FileTransform's file: quoted (anything but the quote: spaces, ${VAR}) or plain (a ${VAR} in it too)
_LUT_SRC = re.compile(r"""\bsrc\s*:\s*(?:"([^"\n]+)"|'([^'\n]+)'|((?:\$\{\w+\}|[^'"\s,{}])+))""")
_SEARCH_PATH = re.compile(r"^search_path\s*:[ \t]*(.*)$", re.M)
_ENVIRONMENT = re.compile(r"^environment\s*:[ \t]*(.*)$", re.M)
_CONTEXT_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)|%(\w+)%")


def _context_defaults(text):
    """The config's ``environment:`` section (OCIO 2 context variables and their defaults)."""
    m = _ENVIRONMENT.search(text)
    if not m:
        return {}
    out = {}
    inline = m.group(1).strip()
    if inline.startswith("{"):
        items = inline.strip("{}").split(",")
    else:
        items = []
        for line in text[m.end():].splitlines()[1:]:
            if not re.match(r"^\s+\S", line) or line.lstrip().startswith("#"):
                if line.strip() and not line.lstrip().startswith("#"):
                    break
                continue
            items.append(line)
    for item in items:
        k, sep, v = item.partition(":")
        if sep and k.strip():
            out[k.strip().strip("'\"")] = v.strip().strip("'\"")
    return out


def _expand_context(value, defaults):
    """``value`` with its context variables (``$VAR``, ``${VAR}``, ``%VAR%``) as OCIO resolves them: the
    environment's value, else the config's default; unknown ones stay as written."""
    def sub(m):
        name = m.group(1) or m.group(2) or m.group(3)
        got = os.environ.get(name, defaults.get(name))
        return m.group(0) if got is None else got
    return _CONTEXT_VAR.sub(sub, value)


def _search_dirs(text):
    """The config's ``search_path`` folders (v1: ``a:b``; v2: a YAML list), '.' when none."""
    m = _SEARCH_PATH.search(text)
    if not m:
        return ["."]
    value = m.group(1).strip().strip("'\"")
    if value.startswith("["):
        dirs = [d.strip().strip("'\"") for d in value.strip("[]").split(",")]
    elif value:
        dirs = value.split(":")
    else:   # a block list on the lines after it
        dirs = []
        for line in text[m.end():].splitlines()[1:]:
            item = re.match(r"^\s*-\s*(.+?)\s*$", line)
            if not item:
                break
            dirs.append(item.group(1).strip("'\""))
    defaults = _context_defaults(text)
    return [_expand_context(d, defaults) for d in dirs if d] or ["."]


def config_stamp(path, *, memo=None):
    """An OCIO config file's stamp: :func:`file_stamp` of the file, and of each LUT file its
    FileTransforms name (``src:``), found along its ``search_path`` from the config's folder: a LUT
    edited under an unchanged config changes the transform, so it must change the key too."""
    base = file_stamp(path, memo=memo)
    try:
        f, _ = open_regular(path)
        with io.TextIOWrapper(f, encoding="utf-8", errors="replace") as t:
            text = t.read(SMALL_FILE)
    except (OSError, ValueError):
        return base
    srcs = sorted({m.group(1) or m.group(2) or m.group(3) for m in _LUT_SRC.finditer(text)})
    if not srcs:
        return base
    root = os.path.dirname(os.path.abspath(path))
    dirs = _search_dirs(text)
    defaults = _context_defaults(text)
    luts = []
    for src in srcs:
        stamp = "missing"
        # a context variable (a show's or shot's LUT: src: ${SHOT}.cube) names the file OCIO reads now
        name = _expand_context(src, defaults) if ("$" in src or "%" in src) else src
        for d in dirs:
            cand = os.path.join(root, d, name)
            if os.path.isfile(cand):
                stamp = file_stamp(cand, memo=memo)
                break
        luts.append([src, stamp])
    return base + ":luts:" + _hash(luts)


def _dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _hash(obj):
    return hashlib.sha256(_dumps(obj).encode("utf-8")).hexdigest()[:24]


class _JsonSeq:
    """The JSON text of ``[fn(f) for f in frames]``'s items, encoded once; :meth:`text` gives the text of
    a slice's items as :func:`_dumps` writes them inside a list (``item,item``) without copying it."""

    def __init__(self, frames, fn):
        parts = [_dumps(fn(f)).encode("utf-8") for f in frames]
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


def _pattern_paths():
    """``path(pattern, frame)``, each pattern parsed once (per :func:`frame_keys` call)."""
    from .io.sequence import SequencePattern  # stdlib only (os, re)
    seqs = {}

    def path(pattern, frame):
        if pattern not in seqs:
            seqs[pattern] = SequencePattern(pattern)
        return seqs[pattern].path(int(frame))
    return path


def anchors(obj, tracker):
    """Sorted frames on which the track of ``obj`` (a JobSpec object) restarts from its prompt alone."""
    if tracker not in ("flow", "shapes"):
        return []
    from .jobspec import object_anchors  # the trackers' rule (samatte.track.seed.object_roles), stdlib
    return object_anchors(obj)


def dependency_interval(frame, obj, frames, tracker):
    """(first, last) job frames whose plate and prompts decide the track of ``obj`` on ``frame``."""
    return _interval_of(obj, frames, tracker)(frame)


def _interval_of(obj, frames, tracker, *, span=False, refine_points=True):
    """:func:`dependency_interval` of ``obj`` as a function of the frame, the object's anchors found once
    (callers that ask for many frames). ``span``: the frames a tracker run must cover to give the
    frame a whole run's answer *and* temporal reference: before the object's first anchor that run
    starts at the job's first frame (where a whole run's reference chain restarts), not at the frame.
    ``refine_points``: the sam2 tracker option (which clicks are anchors), for an object with ``absent``."""
    if tracker not in ("flow", "shapes"):
        whole = (frames[0], frames[-1])
        if tracker == "sam2" and not span:
            from .jobspec import object_absent
            absent = object_absent(obj) & set(frames)
            if absent:
                return _sam2_absent_interval_of(obj, frames, absent, refine_points)
        return lambda frame: whole
    from .jobspec import object_absent
    absent = object_absent(obj) & set(frames)
    if absent:
        return _absent_interval_of(obj, frames, tracker, absent, span=span)
    an = anchors(obj, tracker)  # sorted, distinct
    an_set = set(an)
    pf = [int(q["frame"]) for q in obj.get("prompts") or []]

    def interval(frame):
        if frame in an_set:
            return frame, frame
        if not an:  # no anchor (the trackers refuse such an object): everything it has
            return frames[0], max([frame] + pf)
        i = bisect.bisect_left(an, frame)  # anchors before frame: an[:i]; after it: an[i:]
        # before the first anchor the track is carried backward from it, after the last one forward
        # from it: the frame depends on what lies between it and that anchor, nothing beyond
        lo = an[i - 1] if i else (frames[0] if span else frame)
        hi = an[i] if i < len(an) else frame
        return lo, hi
    return interval


def _absent_interval_of(obj, frames, tracker, absent, *, span=False):
    """:func:`_interval_of` of an object with ``absent`` frames among ``frames`` (flow and shapes, the rule
    of README "Prompts"): its present frames split into segments at each absent span; a segment with
    anchors is tracked from them alone (as a whole shot), one without continues the track of the nearest
    present frame on the side the track comes from (after the object's first anchor: the last present
    frame before the span, its mask held across it; before it: the first present frame after the span).
    An absent frame depends on nothing but itself (its track is empty)."""
    from .jobspec import absent_segments
    an = anchors(obj, tracker)
    pf = [int(q["frame"]) for q in obj.get("prompts") or []]
    segs = absent_segments(frames, absent)
    seg_of = {f: k for k, seg in enumerate(segs) for f in seg}
    seg_an = [[a for a in an if seg_of.get(a) == k] for k in range(len(segs))]
    memo: dict = {}

    def interval(frame):
        if frame not in memo:
            memo[frame] = _interval(frame)
        return memo[frame]

    def _interval(frame):
        if frame in absent or frame not in seg_of:
            return frame, frame
        k = seg_of[frame]
        seg, sa = segs[k], seg_an[k]
        if sa:
            if frame in sa:
                return frame, frame
            i = bisect.bisect_left(sa, frame)
            lo = sa[i - 1] if i else (seg[0] if span else frame)
            hi = sa[i] if i < len(sa) else frame
            return lo, hi
        if not an:   # no anchor (the trackers refuse such an object): everything it has
            return frames[0], max([frame] + pf)
        if an[0] < seg[0]:   # after the first anchor: on from the last present frame before the span
            return interval(segs[k - 1][-1])[0], frame
        # before the first anchor: back from the first present frame after the span
        return (seg[0] if span else frame), interval(segs[k + 1][0])[1]
    return interval


def _sam2_absent_interval_of(obj, frames, absent, refine_points):
    """:func:`_interval_of` of an object with ``absent`` frames among ``frames`` for SAM 2
    (samatte.track.sam2_backend ``_track_absent``): each run of its present frames (a segment) is one SAM 2
    session; one with anchors (the tracker's rule, :func:`samatte.jobspec.anchor_frames`) depends on its own
    frames and prompts alone, every frame of it on all of them (memory runs both ways in a session); one
    without is seeded with the mask of the neighbouring segment's nearest frame (after the object's first
    anchor the one before, before it the one after), so it depends on that segment's interval too. An
    absent frame depends on nothing but itself. (The passes' start ``k0``, which sets the temporal
    references, is in the track base of such a job: :func:`frame_keys`.)"""
    from .jobspec import absent_segments, anchor_frames, prompt_kinds
    an = anchor_frames(prompt_kinds(obj.get("prompts") or [], set(frames)), refine_points=refine_points)
    segs = absent_segments(frames, absent)
    seg_of = {f: k for k, seg in enumerate(segs) for f in seg}
    has = [any(seg_of.get(a) == k for a in an) for k in range(len(segs))]
    whole = (frames[0], frames[-1])
    memo: dict = {}

    def seg_span(k):
        if k not in memo:
            seg = segs[k]
            if has[k]:
                memo[k] = (seg[0], seg[-1])
            elif not an:   # no anchor (the tracker refuses such an object): everything
                memo[k] = whole
            elif an[0] < seg[0]:
                memo[k] = (seg_span(k - 1)[0], seg[-1])
            else:
                memo[k] = (seg[0], seg_span(k + 1)[1])
        return memo[k]

    def interval(frame):
        if frame in absent or frame not in seg_of:
            return frame, frame
        return seg_span(seg_of[frame])
    return interval


def _sam2_first_anchor(tracked, fset, job):
    """The frame where Sam2Tracker's passes start (``k0``): the earliest anchor
    (:func:`samatte.jobspec.anchor_frames`, the tracker's rule) of any object, counting only prompts on
    ``fset``. None when no object has one (the pipeline refuses such prompts)."""
    from .jobspec import anchor_frames, prompt_kinds
    opts = (job.get("tracker") or {}).get("options") or {}
    refine = opts.get("refine_points", True) is not False
    starts = [an[0] for an in (anchor_frames(prompt_kinds(o["prompts"], fset), refine_points=refine)
                               for o in tracked) if an]
    return min(starts) if starts else None


def _object_segment_keys(segments, tracked, tracker, frames, job, refine):
    """Per tracked object (``(index, object)``), its segment key on each frame (:class:`_Segments`)."""
    seg_keys = [segments.object_keys(i, o, tracker, refine_points=refine) for i, o in tracked]
    if tracker == "sam2":
        seg_keys = _sam2_k0_keys(seg_keys, [o for _, o in tracked], frames, job, refine)
    return seg_keys


def _sam2_k0_keys(seg_keys, tracked, frames, job, refine):
    """The object segment keys of a SAM 2 job without ``absent`` with the passes' start ``k0`` (the earliest
    anchor of *any* object: :func:`_sam2_first_anchor`) added to each object whose own first anchor is later:
    Sam2Tracker tracks such an object forward from ``k0`` up to its first anchor (and backward from
    ``k0 - 1``), so another object's prompts decide its masks there. Before, its key held its own prompts
    only: removing (or moving) the object keyed earliest kept the stored tracks of the others, tracked from
    the old ``k0``, where a fresh run tracks them from their own keyframes (up to 193 of 9216 pixels apart
    a frame). An object keyed at ``k0`` itself keeps the key it always had. (A job with ``absent`` frames has
    ``k0`` in its track base already: unchanged.)"""
    from .jobspec import anchor_frames, object_absent, prompt_kinds
    fset = set(frames)
    k0 = _sam2_first_anchor(tracked, fset, job)
    if k0 is None or any(object_absent(o) & fset for o in tracked):
        return seg_keys
    out = []
    for keys, o in zip(seg_keys, tracked):
        an = anchor_frames(prompt_kinds(o["prompts"], fset), refine_points=refine)
        if an and an[0] > k0:
            with_k0 = {k: _hash({"segment": k, "k0": k0}) for k in set(keys)}
            keys = [with_k0[k] for k in keys]
        out.append(keys)
    return out


def temporal_refs(job, frames, tracker):
    """frame -> the frame whose matte state it starts from (None where the state restarts), as the
    trackers produce it (see the module docstring)."""
    tracked = [o for o in job["objects"] if o.get("prompts")]
    restart = set()
    for o in tracked:
        restart.update(anchors(o, tracker))
    refs: dict = {}
    if tracker == "sam2" and tracked:
        # only prompts on the job's frames count (the pipeline refuses the others): a prompt on a gap
        # of the plate would otherwise make the frames either side refer to each other
        prompted = {int(q["frame"]) for o in tracked for q in o["prompts"]} & set(frames)
        if not prompted:
            return {f: None for f in frames}
        # the tracker's passes start at the earliest *anchor* (shape keyframe or seed click) of any
        # object, not at an earlier correction: frames before it are tracked backward from it
        k0 = _sam2_first_anchor(tracked, set(frames), job)
        if k0 is None:   # (frame 0 is a frame: not `or`)
            k0 = min(prompted)
        for i, f in enumerate(frames):
            if f in prompted:
                refs[f] = None
            elif f < k0:
                refs[f] = frames[i + 1]
            else:
                refs[f] = frames[i - 1]
        return _absent_restarts(job, refs)
    for i, f in enumerate(frames):
        refs[f] = None if (i == 0 or f in restart) else frames[i - 1]
    return _absent_restarts(job, refs)


def _absent_restarts(job, refs):
    """``refs`` with the matte's temporal state restarted on a frame whose reference is a frame where an
    object present on it is absent (its ``absent``): no state is carried across an absent span. Jobs
    without ``absent`` are untouched."""
    from .jobspec import object_absent
    absents = [a for a in (object_absent(o) for o in job["objects"]) if a]
    if not absents:
        return refs
    for f, r in refs.items():
        if r is not None and any(r in a and f not in a for a in absents):
            refs[f] = None
    return refs


def keyed_job(job, *, memo=None):
    """The parts of a (validated) job that decide pixels, cosmetic fields removed (``memo``: see
    :func:`file_stamp`)."""
    plate = job["plate"]
    cfg = plate.get("ocio_config")
    # a config file counts by its content (ocio_stamp), not its path: a farm node reaches the same file
    # under another path (path mapping), and its frames must be current for the submitting host too
    builtin = bool(cfg) and str(cfg).startswith("ocio://")
    colour = {"colourspace": plate.get("colourspace"), "ocio_config": cfg if builtin else None,
              "layer": plate.get("layer"), "on_nonfinite": plate.get("on_nonfinite", "fix"),
              "ocio_stamp": config_stamp(cfg, memo=memo) if (cfg and not builtin) else None,
              "OCIO": _env_config(os.environ.get("OCIO"), memo) if not cfg else None}
    topts = {k: v for k, v in (job["tracker"].get("options") or {}).items() if k not in _TRACKER_COSMETIC}
    out = {k: v for k, v in job["output"].items() if k not in ("path", "overwrite", "keep_other_plates")}
    mopts = dict(job["matte"].get("options") or {})
    if mopts.get("checkpoint"):   # a file of the job (a farm root): by its stamp, as the job's other inputs
        # ("~/..." is this machine's home, as the matter reads it: samatte.models / find_sam2matte_weights)
        mopts["checkpoint"] = "stamp:" + file_stamp(os.path.expanduser(str(mopts["checkpoint"])), memo=memo)
    return {"colour": colour, "tracker_options": topts,
            "matte": {"quality": job["matte"].get("quality"), "options": mopts},
            "output": out}


def _env_config(env, memo=None):
    """``$OCIO`` in a key: a built-in config by its name, a file by its content (as a JobSpec's config):
    edited in place it recomputes, reached under another path (a farm node) it stays current."""
    if not env:
        return None
    return env if env.strip().startswith("ocio://") else "stamp:" + config_stamp(env, memo=memo)


def _prompt_record(q, stamps):
    r = {k: v for k, v in q.items() if k not in _PROMPT_COSMETIC}
    if q.get("type") == "mask" and q.get("path"):
        del r["path"]           # by content, as mask sequences: the same roto under a mapped path
        r["stamp"] = stamps(q["path"])
    return r


def _common(kj, resolved):
    """What every key of a job shares: the key version, samatte's version, the colour settings."""
    common = {"v": KEY_VERSION, "samatte": __version__, "colour": kj["colour"]}
    if resolved.get("ocio_builtin"):
        # the built-in OCIO config an ocio:// alias resolved to, where it is not the one its name alone keyed
        # (samatte.pipeline.builtin_config_identity): another library's ocio://default, other pixels
        common["ocio_builtin"] = str(resolved["ocio_builtin"])
    return common


def frame_keys(job, *, resolved, plate_frames=None, stamp=None, memo=None):
    """``{frame: {"track": key, "track_objects": [key, ...], "matte": key}}`` for every frame of the job
    (see the module docstring; ``track_objects``: one track key per tracked object, in job order).

    ``job``: a validated JobSpec dict (relative paths already resolved); ``resolved``: ``{"tracker":
    "flow"|"sam2"|"shapes"|"masks", "model": name or None, "model_sha256": str or None, "matte": name}``;
    ``plate_frames``: the job's frames (default: :func:`samatte.jobspec.plate_frames`: ``plate.frames``, else
    the plate pattern's own range, else the plate's files on disk).
    ``stamp``: the stamp function (default :func:`file_stamp`, memoised per call); ``memo``: a dict kept
    between calls, passed to :func:`file_stamp` (unchanged files are not hashed again)."""
    frames = _job_frames(job, plate_frames)
    if not frames:
        return {}
    seen = {}
    base_stamp = stamp or (lambda p: file_stamp(p, memo=memo))

    def stamps(path):
        if path not in seen:
            seen[path] = base_stamp(path)
        return seen[path]

    tracker = resolved.get("tracker") or "masks"
    kj = keyed_job(job, memo=memo)
    res = {k: resolved.get(k) for k in RESOLVED_FIELDS}
    if resolved.get("device"):
        res["device"] = resolved["device"]
    common = _common(kj, resolved)
    plate_pat = job["plate"]["path"]
    _pattern_path = _pattern_paths()
    if not job["plate"].get("colourspace"):
        # a float plate is read in the colourspace its first frame's header names (samatte.colour.
        # resolve_header): another header, other pixels (only when it says something: the keys of
        # plates whose headers say nothing are those they always were)
        header = colour_attributes(_pattern_path(plate_pat, frames[0]))
        if header:
            common["header"] = header
    track_base = _hash({"c": common, "tracker": res["tracker"], "model": res["model"],
                        "model_sha256": res["model_sha256"],
                        "options": resolved_tracker_options(res["tracker"], kj["tracker_options"])})
    matte_base = _hash({"c": common, "matte": res["matte"], "settings": kj["matte"], "output": kj["output"],
                        "nobjects": len(job["objects"])})
    plate_stamp = {}

    def pstamp(f):  # plate frames: size + mtime_ns (hashing a whole shot on every status query is not cheap)
        if f not in plate_stamp:
            p = _pattern_path(plate_pat, f)
            plate_stamp[f] = stamp(p) if stamp is not None else file_stamp(p, small=0, memo=memo)
        return plate_stamp[f]

    tracked = [(i, o) for i, o in enumerate(job["objects"]) if o.get("prompts")]
    refine = True
    if tracker == "sam2":
        from .jobspec import object_absent
        refine = (kj["tracker_options"] or {}).get("refine_points", True) is not False
        if any(object_absent(o) & set(frames) for _, o in tracked):
            # SAM 2 tracks an absent object one segment at a time (each segment's key holds its own frames),
            # with temporal references that follow the passes' start, the earliest anchor of any object
            track_base = _hash({"b": track_base, "k0": _sam2_first_anchor([o for _, o in tracked], set(frames),
                                                                           job)})
    segments = _Segments(frames, pstamp, stamps, _pattern_path)
    seg_keys = _object_segment_keys(segments, tracked, tracker, frames, job, refine)
    out = {}
    for k, f in enumerate(frames):
        parts = [keys[k] for keys in seg_keys]
        okeys = [_hash({"b": track_base, "f": f, "object": p}) for p in parts]
        for i, o in enumerate(job["objects"]):
            if o.get("masks"):
                parts.append([i, _masks_record(o["masks"]), stamps(_pattern_path(o["masks"]["path"], f))])
        if not tracked:
            parts.append(pstamp(f))
        out[f] = {"track": _hash({"b": track_base, "f": f, "objects": parts}), "track_objects": okeys}
    from .jobspec import object_absent
    absents = [(i, object_absent(o)) for i, o in enumerate(job["objects"])]
    absents = [(i, a) for i, a in absents if a]
    _matte_chain(out, temporal_refs(job, frames, tracker if tracked else "masks"), frames, matte_base, pstamp,
                 absent_at=(lambda f: [i for i, a in absents if f in a]) if absents else None)
    return out


class _Segments:
    """The key of an object's track segment: ``_hash({"i", "masks", "plate": [[f, stamp(, mask stamp)], ...],
    "prompts"})``: the object's index, its mask sequence's record (None without one), the stamps of every
    plate frame of the segment's span (with the object's mask frame's stamp where it has a sequence: its
    mask frames may anchor the track) and its prompts on the span. The items run in the order the tracker
    carries the track across the span: ascending, but descending on a span tracked backward (a frame
    before the object's first anchor, whose span ``[F, first anchor]`` grows at its start).

    A frame after an object's last anchor (before its first) has a span of its own reaching to that
    anchor: building and encoding those lists anew made a shot's keys quadratic in its length (1000 frames,
    20 objects keyed on their first frames: 9 s; keyed on their last frames or with masks, 0.5-1.3 s and
    four times that for twice the frames, recomputed by Nuke's Read every 10 s). Here the items are encoded
    once per direction (:class:`_JsonSeq`), a span is a slice of that text, a span that extends the
    previous one of its object and direction (in :func:`frame_keys`' order: ascending frames for spans
    tracked forward, descending for those tracked backward) extends its hash, and each prompt is encoded
    once. The bytes hashed are those :func:`_hash` hashes."""

    def __init__(self, frames, pstamp, stamps, pattern_path):
        self.frames, self.pstamp, self.stamps, self.pattern_path = frames, pstamp, stamps, pattern_path
        self.seqs = {}         # (mask pattern or None, backward) -> _JsonSeq of the items in that order
        self.memo = {}         # (object, lo, hi, backward) -> key
        self.grown = {}        # (object, backward, first item index) -> (end index, sha256 of the text up to that end)
        self.recs, self.texts = {}, {}   # object -> its prompts' JSON; (object, prompt indices) -> the tail

    def object_keys(self, i, o, tracker, *, refine_points=True):
        """The segment key of object ``i`` (``o``) on each frame: the spans tracked backward (before its
        first anchor) in descending frames, the others ascending, so a span that grows extends the
        previous one's hash."""
        interval = _interval_of(o, self.frames, tracker, refine_points=refine_points)
        if tracker not in ("flow", "shapes", "sam2"):   # (masks: the matte key has the absent frames)
            self.texts[("absent", i)] = set()
        an = anchors(o, tracker)
        spans = [interval(f) for f in self.frames]
        back = [bool(an) and lo < hi == an[0] for lo, hi in spans]
        keys = [None] * len(spans)
        for k in reversed(range(len(spans))):
            if back[k]:
                keys[k] = self.key(i, o, spans[k][0], spans[k][1], True)
        for k in range(len(spans)):
            if not back[k]:
                keys[k] = self.key(i, o, spans[k][0], spans[k][1])
        return keys

    def key(self, i, o, lo, hi, backward=False):
        k = (i, lo, hi, backward)
        if k not in self.memo:
            self.memo[k] = self._key(i, o, lo, hi, backward)
        return self.memo[k]

    def _seq(self, mpat, backward):
        k = (mpat, backward)
        if k not in self.seqs:
            frames = self.frames[::-1] if backward else self.frames
            if mpat is None:
                self.seqs[k] = _JsonSeq(frames, lambda f: [f, self.pstamp(f)])
            else:
                self.seqs[k] = _JsonSeq(frames, lambda f: [f, self.pstamp(f),
                                                           self.stamps(self.pattern_path(mpat, f))])
        return self.seqs[k]

    def _tail(self, i, o, lo, hi):
        which = (i,) + tuple(j for j, q in enumerate(o["prompts"]) if lo <= int(q["frame"]) <= hi)
        if which not in self.texts:
            if i not in self.recs:
                self.recs[i] = [_dumps(_prompt_record(q, self.stamps)) for q in o["prompts"]]
            self.texts[which] = ('],"prompts":[%s]}' % ",".join(self.recs[i][j] for j in which[1:])).encode("utf-8")
        return self.texts[which]

    def _key(self, i, o, lo, hi, backward):
        a, b = bisect.bisect_left(self.frames, lo), bisect.bisect_right(self.frames, hi)  # span: frames[a:b]
        if backward:   # frames[a:b] descending: items n-b to n-a of the reversed sequence
            n = len(self.frames)
            a, b = n - b, n - a
        tail = self._tail(i, o, lo, hi)
        mrec = _masks_record(o["masks"]) if o.get("masks") else None
        seq = self._seq(o["masks"]["path"] if mrec is not None else None, backward)
        done = self.grown.get((i, backward, a))
        if done is not None and a < done[0] <= b:
            h = done[1].copy()
            h.update(seq.text(done[0], b, after=True))
        else:
            h = hashlib.sha256(('{"i":%s,"masks":%s,"plate":[' % (_dumps(i), _dumps(mrec))).encode("utf-8"))
            h.update(seq.text(a, b))
        if b > a:
            self.grown[(i, backward, a)] = (b, h.copy())
        h.update(tail)
        # absent frames on the span (only there: a span without any is tracked as it always was, and its
        # key is the one it always had)
        absent = sorted(f for f in self._absent(i, o) if lo <= f <= hi)
        if absent:
            h.update((',"absent":%s' % _dumps(absent)).encode("utf-8"))
        return h.hexdigest()[:24]

    def _absent(self, i, o):
        if ("absent", i) not in self.texts:
            from .jobspec import object_absent
            self.texts[("absent", i)] = object_absent(o)
        return self.texts[("absent", i)]


def _job_frames(job, plate_frames):
    if plate_frames is None:
        from .jobspec import plate_frames as job_plate_frames
        plate_frames = job_plate_frames(job)
    return sorted(int(f) for f in plate_frames)


def _matte_chain(out, refs, frames, matte_base, pstamp, absent_at=None):
    """Matte keys along the temporal chain, in :func:`_matte_order` (each (re)start, its forward chain,
    then its backward chain), so a frame's reference is keyed before it; a key hashes its reference's
    key, so the order decides only which frame is keyed first, never a key's value. ``absent_at``: frame ->
    the indices of the objects absent there (their alpha is 0); only a frame with some holds them."""
    for f in _matte_order(frames, refs):
        r = refs[f]
        rec = {"b": matte_base, "f": f, "track": out[f]["track"], "plate": pstamp(f),
               "ref": out[r]["matte"] if r is not None else None}
        gone = absent_at(f) if absent_at is not None else None
        if gone:
            rec["absent"] = gone
        out[f]["matte"] = _hash(rec)


def _matte_order(frames, refs):
    """Processing order in which every frame's reference comes first (as the trackers yield them);
    the pipeline mattes in this order too (``frames`` ascending, ``refs``: :func:`temporal_refs`).

    Frames are grouped by the (re)start their reference chain leads to: for each start ``s`` (a frame
    whose reference is None), ascending: ``s``, then the frames chained forward from ``s`` (each
    reference the frame before it, ascending), then the frames chained backward from ``s`` (each
    reference the frame after it, descending). So the state of ``s`` is still held (the ``start`` slot
    of :class:`samatte.stages.StateStore`; the forward chain fills ``fwd``) when its backward chain
    begins, and three states suffice whatever the shot length. A frame whose chain does not lead to a
    start one way (a reference outside ``frames``, a chain that turns) comes after every group, in the
    earlier order: references before the frame ascending, then references after it descending."""
    frames = sorted(frames)
    starts = [f for f in frames if refs.get(f) is None]
    groups = {s: [s] for s in starts}
    fwd_root = {s: s for s in starts}   # frame -> the start it chains forward from
    for f in frames:
        r = refs.get(f)
        if r is not None and r < f and r in fwd_root:
            fwd_root[f] = fwd_root[r]
            groups[fwd_root[f]].append(f)
    bwd_root = {s: s for s in starts}   # frame -> the start it chains backward from
    for f in reversed(frames):
        r = refs.get(f)
        if r is not None and r > f and r in bwd_root:
            bwd_root[f] = bwd_root[r]
            groups[bwd_root[f]].append(f)
    order = [f for s in starts for f in groups[s]]
    rest = [f for f in frames if f not in fwd_root and f not in bwd_root]
    return order + [f for f in rest if refs[f] < f] + [f for f in reversed(rest) if refs[f] > f]


def _masks_record(m):
    return {k: m.get(k) for k in sorted(m) if k != "path"}
