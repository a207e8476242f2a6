"""Farm-safe reading of the node's cache (standard library only; no tracking ever starts here).

A render of the script (``nuke -x`` / ``nuke -t``, or the GUI) evaluates the internal Read's file knob,
which calls :func:`frame_path`: it returns the cached EXR of the frame only when the frame's
``samatte/key`` metadata equals the key samatte.cachekey computes from the node's stored JobSpec, the
resolved backends (the job's ``manifest.json``) and the files as they are now, and its layers
(``samatte/objects``) are the objects the stored JobSpec names (a renamed object). A missing or stale frame
raises an error that names the frame and the command that makes it (``samatte run JOB --frames F``),
so a farm never composites a stale matte and never starts a tracker.

:func:`exr_attributes` reads an OpenEXR header's string attributes with the standard library (the
adapter cannot use OpenImageIO inside Nuke).
"""
import base64
import json
import os
import zlib

__all__ = ["exr_attributes", "expected_keys", "frame_state", "frame_path", "StaleFrameError", "encode_state",
           "decode_state", "stored_job", "stored_job_text", "stored_scores", "realigned", "retimed", "replated",
           "readback_job", "local_job", "make_folder"]

_memo = {}
#: the samatte_job knob's text -> (job, its canonical text): decoding it (base64, zlib, JSON; 450 kB for 20
#: objects with 200 roto keys) on every evaluation of the Read's file knob took 40-75 ms a call
_decoded = {}
#: seconds a computed set of expected keys is trusted (a GUI session re-checks files after this)
KEYS_TTL_S = 10.0
#: content stamps of the files the keys read (mask sequences, prompt files, the OCIO config and its LUTs) by
#: path, reused while a file's stat is unchanged (samatte.cachekey.file_stamp): each re-check every
#: KEYS_TTL_S read and hashed every mask frame again (1000 frames of 200 kB: 200 MB each time)
_STAMPS = {}


class StaleFrameError(RuntimeError):
    pass


def encode_state(obj):
    """A knob-safe text for a JSON value: ``b64:`` + base64 of zlib'd JSON (no quotes, braces, brackets
    or newlines for Tcl or the .nk file to interpret)."""
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return "b64:" + base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def decode_state(text, default=None):
    if not text:
        return default
    try:
        if text.startswith("b64:"):
            return json.loads(zlib.decompress(base64.b64decode(text[4:])).decode("utf-8"))
        return json.loads(text)
    except (ValueError, TypeError, zlib.error):
        return default


def stored_job(group):
    """The JobSpec the node last ran (dict) or None."""
    k = group.knob("samatte_job")
    return decode_state(k.value() if k is not None else "", None)


def stored_job_text(group):
    return _stored(group)[1]


def _stored(group):
    """(job or None, canonical job text or "", its frames sorted, their set) of the node's stored JobSpec,
    decoded and parsed once per knob text (the job must not be changed: :func:`stored_job` gives a copy
    of one's own)."""
    k = group.knob("samatte_job")
    raw = k.value() if k is not None else ""
    from .job import path_substitutions
    memo = (raw, tuple(path_substitutions()))
    hit = _decoded.get(memo)
    if hit is None:
        job = decode_state(raw, None)
        frames = []
        if job:
            from samatte.frames import parse_frames
            frames = parse_frames(job["plate"]["frames"])
            job = local_job(job)
        hit = (job, json.dumps(job, sort_keys=True) if job else "", frames, frozenset(frames))
        if len(_decoded) > 16:   # a few SAMatte nodes per script; keep memory flat
            _decoded.clear()
        _decoded[memo] = hit
    return hit


def local_job(job):
    """A copy of a stored JobSpec with each of its file paths as this machine's Nuke opens it
    (:func:`samatte_nuke.job.host_path`: the studio's filename filters, the Preferences' Path Substitutions, a
    Windows path's ``\\`` as a separator on Linux / macOS): the job of a node made on another OS, read back here.
    Its frames' keys count the files by content (size, mtime, head), not by path, so the same files under this
    machine's paths give the same keys; other files never do."""
    from samatte.jobspec import map_paths
    from .job import host_path
    try:
        out = map_paths(job, lambda p: host_path(p) if p else p)
    except (KeyError, TypeError, AttributeError):   # not a whole JobSpec (an older node's, a test's): as stored
        return job
    if "work_dir" not in job:
        out.pop("work_dir", None)
    return job if out == job else out


def _foreign(job):
    """The job's file paths that are another OS's and that nothing maps here (:func:`local_job` left them so)."""
    from samatte.jobspec import map_paths
    from .job import foreign_path
    out = []
    try:
        map_paths(job, lambda p: (out.append(p) if p and foreign_path(p) and p not in out else None) or p)
    except (KeyError, TypeError, AttributeError):
        pass
    return out


def stored_scores(group):
    k = group.knob("samatte_scores")
    raw = decode_state(k.value() if k is not None else "", {}) or {}
    return {int(f): float(v) for f, v in raw.items()}


def exr_attributes(path, *, limit=1 << 20):
    """{name: value} of an EXR header's ``string`` attributes (others are skipped). Raises OSError /
    ValueError for a file that is not a readable scanline/tiled EXR."""
    from samatte.exrheader import string_attributes
    return string_attributes(path, limit=limit)


def _manifest(job):
    """The manifest of the job's work dir (samatte.jobspec.default_work_dir, the run's own rule), else the one a
    samatte up to 0.2.19 left in the work dir it shared among jobs of one name (``.samatte/<name>/``; such a
    manifest names no output file)."""
    from samatte import jobspec
    out_dir = os.path.dirname(job["output"]["path"])
    places = [job.get("work_dir") or os.path.join(out_dir, ".samatte", jobspec.work_dir_name(job["name"]))]
    if not job.get("work_dir") and hasattr(jobspec, "default_work_dir"):
        try:
            places = [jobspec.default_work_dir(job), jobspec.shared_work_dir(job)]
        except Exception:   # an output path the run refuses (OUTPUT_INVALID): no manifest of its own
            pass
    name = os.path.basename(job["output"]["path"])
    for i, work in enumerate(places):
        try:
            with open(os.path.join(work, "manifest.json"), "r", encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            continue
        if i == 0 or (isinstance(doc, dict) and doc.get("output_file") in (None, name)):
            return doc
    return None


def expected_keys(job):
    """{file frame: matte key} from samatte.cachekey for the job, or None when the job has never
    run (no manifest with the resolved backends)."""
    from samatte import cachekey
    man = _manifest(job)
    if not man or not man.get("resolved"):
        return None
    if len(_STAMPS) > 100000:
        _STAMPS.clear()
    keys = cachekey.frame_keys(job, resolved=man["resolved"], memo=_STAMPS)
    return {int(f): k["matte"] for f, k in keys.items()}


def _keys_memo(job_text):
    import time
    hit = _memo.get(job_text)
    if hit is None or time.monotonic() - hit[2] > KEYS_TTL_S:
        job = json.loads(job_text)
        hit = (job, expected_keys(job), time.monotonic())
        if len(_memo) > 16:   # a few SAMatte nodes per script; keep memory flat
            _memo.clear()
        _memo[job_text] = hit
    return hit[0], hit[1]


def frame_state(job_text, file_frame, *, fresh=False):
    """("complete" | "stale" | "missing" | "unknown", path) of one cached frame."""
    if fresh:
        _memo.pop(job_text, None)
    job, keys = _keys_memo(job_text)
    path = job["output"]["path"].replace("####", "%04d" % int(file_frame))
    if not os.path.exists(path):
        return "missing", path
    from samatte.exrheader import channel_names, read_attributes
    try:
        raw = read_attributes(path)   # (one read of the header: its strings and its channel list)
        attrs = {k: v.decode("utf-8", "replace") for k, (t, v) in raw.items() if t == "string"}
    except (OSError, ValueError):
        return "stale", path
    if keys is None or int(file_frame) not in keys:
        return "unknown", path
    if attrs.get("samatte/key") != keys[int(file_frame)]:
        return "stale", path
    # object names are in no key, but they name the frame's layers: a frame written before an object was
    # renamed lacks the layer the job now names (samatte's own check, MatteWriter.is_complete, says stale)
    names = [o["name"] for o in job.get("objects") or []]
    if str(attrs.get("samatte/objects") or "") != ",".join(names):
        return "stale", path
    # a layer a tool dropped after samatte wrote the frame (its key kept): stale for samatte's status, QC and a
    # re-run, which redoes it (the same rule: samatte.names.missing_object_layers); before, shown here as
    # complete, that object's layer black in comp
    from samatte.names import missing_object_layers
    try:
        channels = channel_names(path, attrs=raw)
    except ValueError:
        return "stale", path
    layers = (job.get("output") or {}).get("object_layers", True)
    return ("stale" if "A" not in channels or missing_object_layers(channels, names, layers) else "complete"), path


def source_view(group, job, offset):
    """What the node's Source shows over time, for the stored ``job``: a :class:`samatte_nuke.convert.FrameMap`
    with the Read's range and before / after when the Source is the Read the job reads directly (its
    file, its offset); ``(first, last)`` script frames of another Source (a rendered plate: file numbers
    are script frames); None without a Source."""
    src = _source(group)
    if src is None:
        return None
    from . import job as jobmod
    try:
        read = jobmod.untouched_read(src)
        if read is None and not _rendered(job) and _proxy_named(src):
            # proxy mode, a Read with a proxy file and TCL in its file knob: Nuke names only the proxy file now
            # (read_path None), but the job reads this Read's full-size files and its frame knobs map them as at
            # full size (before: taken for a rendered plate, so a Read looping or bouncing after its range showed
            # its last file's matte over the looped files in proxy mode only, and a slip in time was not named)
            read = src
        if read is not None:
            from .convert import FrameMap
            fmap = FrameMap.from_read(read)
            path = jobmod.read_path(read)
            # (path None: the proxy case above, a job of this Read's own files)
            if fmap is not None and (not path or os.path.normpath(path) == os.path.normpath(job["plate"]["path"])
                                     or not _rendered(job)):
                # its files as it maps them now (frame_path refuses a mapping other than the one the node was
                # aligned to: see realigned); before, a Read whose offset had changed fell through to the
                # rendered-plate rule below, script frame - the old offset: another file's matte. A Read of
                # another path in place of the job's Read is the plate moved, or another plate: frame_path
                # reads the cache back with its files and refuses unless they are the job's (readback_job)
                return fmap
        return int(src.firstFrame()), int(src.lastFrame())
    except Exception:  # noqa: BLE001 - a Source whose knobs cannot be read: as without one
        return None


def _proxy_named(src):
    """True for an enabled Read whose file pattern cannot be named now only because proxy mode names its proxy file
    (:func:`samatte_nuke.job.read_path` None)."""
    from .convert import is_disabled
    from .job import read_path
    try:
        return (src.Class() == "Read" and not is_disabled(src) and src.knob("file") is not None
                and bool(src["file"].value()) and read_path(src) is None)
    except Exception:  # noqa: BLE001 - a Read Nuke cannot expand: not known
        return False


def retimed(group, view, *, job=None):
    """What changed, as a short text, when the Source is not the Read the job reads (``view`` a tuple or None:
    the plate rendered into the cache, numbered in script frames) and what decides which frames of its inputs
    it shows on each script frame (:func:`samatte_nuke.job.time_signature`: a Read's frame / range / before /
    after, a time node upstream) is not what it was when the node's read-back was aligned (its
    ``samatte_timing`` knob); None when unchanged or not known (no such knob or value: a node aligned by an
    older samatte). A Grade or any pixel-only change is not a change here: the mattes still sit on their frames."""
    from .convert import FrameMap
    if isinstance(view, FrameMap):
        return None
    k = group.knob("samatte_timing")
    was = k.value() if k is not None else ""
    if not was:
        return None
    src = _source(group)
    if src is None:
        return None   # no Source: nothing shown to sit the matte on (as before)
    from .job import source_node, time_signature
    if time_signature(src) == was:
        return None
    try:
        # a node aligned on a plate it rendered before the Source was seen through Dot / NoOp / disabled / Switch nodes
        # recorded the timing of the node plugged in (a Switch's: both its inputs' Reads): unchanged when that one's is
        # (``job``: the stored job; a job of a Read's own files never was aligned so)
        near = source_node(group, see_through=False) if job is not None and _rendered(job) else None
    except Exception:  # noqa: BLE001 - not a node with inputs (a test's stand-in)
        near = None
    if near is not None and time_signature(near) == was:
        return None
    return "a Read's frame, range or before / after, or a time node, upstream of it changed since its plate was rendered"


def _rendered(job):
    """True when the job's plate is one the node rendered into its own cache folder
    (``<folder>/plate_<hash>/plate.####.exr``, :func:`samatte_nuke.job.render_plate`), not a Read's files."""
    folder = os.path.dirname(os.path.dirname(job["output"]["path"]))
    pdir = os.path.dirname(job["plate"]["path"])
    return (os.path.normcase(os.path.normpath(os.path.dirname(pdir))) == os.path.normcase(os.path.normpath(folder))
            and os.path.basename(pdir).startswith("plate_"))


#: the samatte_plate knob's text -> its decoded list (frame_path runs on every evaluation of the Read's file knob)
_plates = {}


def _plate_was(group):
    """The node's ``samatte_plate`` knob decoded (a list; [] without one), once per knob text."""
    k = group.knob("samatte_plate")
    raw = k.value() if k is not None else ""
    if not raw:
        return []
    was = _plates.get(raw)
    if was is None:
        if len(_plates) > 16:
            _plates.clear()
        was = _plates[raw] = decode_state(raw, None) or []
    return was


def _other_files(group):
    """True when the Source Read's first and last files are not those of any Read the node's ``samatte_plate``
    knob recorded when it was aligned (their size, mtime and head: another plate that has the old one's size and
    mtime, as plates unpacked together can); False when they are, or when not known (no such knob)."""
    was = _plate_was(group)
    if not was:
        return False
    from .job import plate_signature
    try:
        now = plate_signature(_source(group))
    except Exception:  # noqa: BLE001 - a Source that cannot be read now: not known
        return False
    if not now or now[0][1] is None:
        return False
    return _in_units(now[0][2:]) not in _stamps_of(was)


def _in_units(stamps):
    """(first, last) plate stamps (``size:mtime_ns:head``) with the mtime floored to the keys' unit
    (``samatte.cachekey.MTIME_UNIT_NS``) as it is now: a node aligned when the unit was finer (100 ns, through
    KEY_VERSION 2) recorded the same files' stamps, which must still read as the same files."""
    from samatte.cachekey import mtime_in_units
    out = []
    for s in stamps:
        parts = s.split(":") if isinstance(s, str) else []
        if len(parts) == 3 and parts[1].lstrip("-").isdigit():
            s = "%s:%d:%s" % (parts[0], mtime_in_units(int(parts[1])), parts[2])
        out.append(s)
    return tuple(out)


def _stamps_of(was):
    """The (first, last) stamps of the Reads a decoded ``samatte_plate`` knob recorded (those whose files were
    named then), in the keys' mtime unit as it is now (:func:`_in_units`)."""
    return {_in_units(e[2:]) for e in was if e[1] is not None}


def _source(group):
    """The node's Source (its input 0), or None (none plugged in; not a node with inputs: a test's stand-in)."""
    from .job import source_node
    try:
        return source_node(group)   # (through the Input of a Group the node sits in: what is plugged into it)
    except Exception:  # noqa: BLE001 - not a node with inputs
        return None


def replated(group, view):
    """What changed, as a short text, when the Source is not the Read the job reads (``view`` a tuple: the plate
    rendered into the cache) and a Read upstream of it reads other files than when the node's read-back was
    aligned (its ``samatte_plate`` knob, :func:`samatte_nuke.job.plate_signature`: the size and mtime of each
    Read's first and last file, whatever their path); None when unchanged or not known (no such knob or value: a
    node aligned by an older samatte; a Read whose file cannot be named now). A Read pointed at another
    sequence, or a plate re-rendered under its path, is a change; a project moved with its files is not."""
    from .convert import FrameMap
    if isinstance(view, FrameMap):
        return None
    was = _plate_was(group)
    src = _source(group) if was else None
    if src is None:
        return None
    from .job import plate_signature
    now = plate_signature(src)
    if any(e[1] is None for e in now):
        return None   # a Read whose files cannot be named now (proxy mode): not known
    then = _stamps_of(was)
    by_name = {e[0]: e[1] for e in was}
    # (a Read recorded with a relative path, before the node joined it to the project directory: its files were not
    # known then, so they are not compared now; the node reads back as it did before)
    from .job import foreign_path
    changed = [e for e in now if _in_units(e[2:]) not in then
               and not (by_name.get(e[0]) and not os.path.isabs(str(by_name[e[0]]))
                        and not foreign_path(str(by_name[e[0]])))]
    if not changed:
        return None   # (a Read taken away upstream changes the Source's timing: retimed says so)
    return "; ".join("%s reads %s%s" % (e[0], e[1], (", was %s" % by_name[e[0]]) if by_name.get(e[0]) and
                                        os.path.normpath(by_name[e[0]]) != os.path.normpath(e[1]) else
                                        " (its files changed since)" if by_name.get(e[0]) else " (new upstream)")
                     for e in changed)


def realigned(group, view, offset):
    """What changed, as a short text, when ``view`` (the Source Read's current :class:`FrameMap`, from
    :func:`source_view`) no longer maps the plate files onto the script frames as when the node's read-back
    was last aligned (``offset``: the node's ``samatte_offset``; the internal Read's ``first`` / ``last`` /
    ``before`` / ``after``: the Source's script range and before / after then); None when unchanged or not
    known. The internal Read repeats that range and before / after (Nuke holds, loops or bounces its frames,
    and so its file knob's frame, with them): after a change of the Source's ``frame`` / ``offset``, range
    or before / after (the artist slips the plate in time) it no longer does, and only a new alignment
    (Track & Matte) can give each script frame the matte of the file the Source shows there."""
    from .convert import FrameMap
    if not isinstance(view, FrameMap):
        return None
    changes = []
    if view.offset != int(offset):
        # in the Read's own terms (its frame / start at): where a file is shown now and was
        f = view.first if view.first is not None else 0
        changes.append("file %d on script frame %d, was %d" % (f, view.to_script(f), f + int(offset)))
    try:
        rd = group.node("samatte_cache_read")
    except Exception:  # noqa: BLE001 - a test's stand-in without nodes
        rd = None
    rng = view.script_range()
    if rd is not None and rng is not None and rd.knob("first") is not None:
        was = (int(rd["first"].value()), int(rd["last"].value()))
        if was != tuple(rng) and not changes:
            changes.append("range %d-%d, was %d-%d" % (rng[0], rng[1], was[0], was[1]))
        for name in ("before", "after"):
            k = rd.knob(name)
            now = getattr(view, name) or "hold"
            if k is not None and (k.value() or "hold") != now:
                changes.append("%s %s, was %s" % (name, now, k.value()))
    return "; ".join(changes) or None


def shown_file(group, job, offset, script_frame):
    """The plate file whose matte the node shows at ``script_frame``: the file the Source shows there (its
    Read's range and before / after applied: Foundry's Read reference) when the job reads that Read; for
    a rendered plate the script frame itself inside the Source's range (where it shows its own picture);
    None where the Source shows black; False where that is not known (no Source; a rendered plate outside
    its Source's range): the caller keeps its own rule."""
    return _shown_in(source_view(group, job, offset), offset, script_frame)


def _shown_in(view, offset, script_frame):
    """:func:`shown_file` of a :func:`source_view` already had."""
    t = int(script_frame)   # as frame_path counts a sub-frame (motion-blur) context
    if view is None:
        return False
    if isinstance(view, tuple):
        return t - int(offset) if view[0] <= t <= view[1] else False
    return view.shown(t)


_relocated = {}


def _reroot(value, old, new):
    """``value`` (a JobSpec's JSON value) with every path inside folder ``old`` moved into folder ``new``."""
    if isinstance(value, dict):
        return {k: _reroot(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_reroot(v, old, new) for v in value]
    if isinstance(value, str) and value:
        norm = os.path.normpath(value)
        if norm == old or norm.startswith(old + os.sep):
            return new + norm[len(old):]
    return value


def readback_job(group, job, job_text, view):
    """``(job texts, plate change)``: the stored job as the read-back checks it now, in the cache folders to look
    in, in order. Its JobSpec holds the absolute paths of when it ran: the plate of a job that reads the Source
    Read's files is that Read's files as it reads them now, and the cache (with a plate or masks the node
    rendered into it) is looked for where it was, then in the node's cache folder as it resolves now (the cache
    folder knob, the project directory or the script's folder: a project moved or copied with its cache, or a
    farm's path mapping, puts it there) when a folder of the node's name is there. Each frame is still shown
    only when its ``samatte/key`` is the key of these files, prompts and settings (plate frames by size and
    mtime, as every cache key): the same plate at another path reads back, another plate never does. ``plate
    change``: ``(the job's plate, the Source's)`` when they are not one path (None otherwise): a frame whose key
    then does not hold is refused, naming both."""
    folder = os.path.normpath(os.path.dirname(os.path.dirname(job["output"]["path"])))
    now = folder
    try:
        import nuke
        from .job import cache_root_now
        cand = os.path.normpath(os.path.join(cache_root_now(group, nuke.root()), os.path.basename(folder)))
        if cand != folder and os.path.isdir(os.path.join(cand, "matte")):
            now = cand
    except Exception:  # noqa: BLE001 - knobs that cannot be read (a test's stand-in): the stored folder
        now = folder
    plate = None
    from .convert import FrameMap
    if isinstance(view, FrameMap) and not _rendered(job):
        try:
            from .job import read_path
            path = read_path(_source(group))
        except Exception:  # noqa: BLE001 - (source_view read it a moment ago)
            path = None
        if path and os.path.normpath(path) != os.path.normpath(job["plate"]["path"]):
            plate = path
    swap = (job["plate"]["path"], plate) if plate is not None else None
    if now == folder and plate is None:
        return [job_text], None
    key = (job_text, now, plate)
    hit = _relocated.get(key)
    if hit is None:
        texts = []
        for where in (folder, now) if now != folder else (folder,):
            moved = _reroot(job, folder, where) if where != folder else json.loads(job_text)
            if plate is not None:
                moved["plate"]["path"] = plate
            texts.append(json.dumps(moved, sort_keys=True) if moved != job else job_text)
        if len(_relocated) > 16:
            _relocated.clear()
        hit = _relocated[key] = texts
    return hit, swap


def frame_path(group, script_frame):
    """The file the node's internal Read shows at ``script_frame`` (called from its file knob): the matte of
    the plate file the Source shows there (:func:`shown_file`), "" (no image: no matte) where the Source
    shows black or a file the job did not matte (before: the job's nearest frame, another picture's
    matte: a custom range 1003-1005 showed 1005's matte over plates 1006-1008, a Read looping after
    its last frame the last frame's matte over the looped files). Without a Source (or outside a
    rendered plate's Source range) the end frame is held and a gap shows its nearest job frame.
    Raises StaleFrameError for a stale or missing frame inside the job's range."""
    from .job import one_walk
    with one_walk():   # (the timing and plate checks walk the comp above the Source once, not twice)
        return _frame_path(group, script_frame)


def _frame_path(group, script_frame):
    job, job_text, frames, fset = _stored(group)
    if not job_text:
        return ""
    offset = int(group["samatte_offset"].value())
    f = int(script_frame) - offset
    view = source_view(group, job, offset)
    moved = realigned(group, view, offset) or retimed(group, view, job=job)
    replaced = None if moved else replated(group, view)
    if replaced:
        # a Read upstream of a rendered plate's Source reads other files (another plate, or the plate
        # re-rendered) since the run (before: the old plate's mattes over the new one, silently)
        raise StaleFrameError(
            "samatte: script frame %d of %s: its Source %s shows other plate files than its mattes were made on "
            "(%s): no matte is shown over a plate it was not made on. Press Track & Matte on %s to matte this plate"
            % (int(script_frame), group.name(), _source(group).name(), replaced, group.name()))
    texts, swap = readback_job(group, job, job_text, view)
    job_text = texts[0]
    if moved:
        # the Source Read shows its files on other script frames than when the node was aligned: no frame's
        # matte can be told to sit on its plate (before: the old mapping's, another file's matte, silently)
        if swap is not None:   # (a Read of another path plugged in: said too, it may be another plate)
            moved += "; it reads %s, its mattes were made on %s" % (swap[1], swap[0])
        raise StaleFrameError(
            "samatte: script frame %d of %s: its Source %s no longer shows the frames its mattes were made on (%s): "
            "a matte would sit on another frame's picture. Press Track & Matte on %s to re-align (frames whose "
            "plate, prompts and settings are unchanged are reused)"
            % (int(script_frame), group.name(), _source(group).name(), moved, group.name()))
    shown = _shown_in(view, offset, script_frame)
    if shown is not False:
        if shown is None or shown not in fset:
            return ""   # the Source shows black or a file the job did not matte there: no matte
        f = shown
    elif f not in fset:
        # before / after the range: hold the end frame; in a gap of a range such as 1001-1010,1020: the
        # nearest job frame (the earlier on a tie), never a frame the job does not make
        import bisect
        i = bisect.bisect_left(frames, f)
        f = min(frames[max(i - 1, 0):i + 1], key=lambda g: (abs(g - f), g))
    state, path = frame_state(job_text, f)
    for other in texts[1:]:
        if state == "complete":
            break
        # (the cache where the node's folder resolves now: a project moved or copied with it, a farm's mapping)
        got = frame_state(other, f)
        if got[0] == "complete" or state == "missing":
            (state, path), job_text = got, other
    if swap is not None and (state in ("stale", "unknown") or _other_files(group)):
        # the Source Read reads another path than the job, and the frame's key does not hold with its files (or
        # its first / last files are not those the node was aligned on): another plate (or the plate's files
        # changed); before, the old plate's matte, silently (the key was computed from the job's own path, whose
        # files had not changed)
        raise StaleFrameError(
            "samatte: script frame %d of %s: its Source %s reads %s, its mattes were made on %s (another plate, or "
            "its files changed since): no matte is shown over a plate it was not made on. Press Track & Matte on %s "
            "to matte this plate" % (int(script_frame), group.name(), _source(group).name(), swap[1], swap[0],
                                     group.name()))
    if state in ("complete", "unknown"):
        return path.replace("\\", "/")
    job = _keys_memo(job_text)[0]
    far = _foreign(job)
    if far:
        # a script made on another OS (its job's paths Windows ones on Linux, or the other way) where this Nuke maps
        # none of them: before, "missing in the cache; make it with: Track & Matte", with no word of the cause
        from .job import MAPPING_HINT
        where = "" if int(script_frame) == f else " (script frame %d)" % int(script_frame)
        raise StaleFrameError(
            "samatte: frame %d%s of %s cannot be checked here: its job was made on another OS and %s%s means nothing "
            "on this machine: %s. Or press Track & Matte on %s to make its job with this machine's paths (frames "
            "whose plate, prompts and settings are unchanged are reused)"
            % (f, where, group.name(), far[0], " (and %d more path(s))" % (len(far) - 1) if len(far) > 1 else "",
               MAPPING_HINT % far[0], group.name()))
    job_file = os.path.join(os.path.dirname(os.path.dirname(job["output"]["path"])), "job.json")
    if _exported(job_file, job, job_text=job_text):
        how = "samatte run %s --frames %d" % (job_file, f)
    else:   # job.json is Export JobSpec's: absent after Track & Matte, or an older job
        how = "Track & Matte on %s (or Export JobSpec and samatte run its job.json)" % group.name()
    # the command takes the file number; the render (and the artist) are on the script frame: name both
    # where they differ (a Read's offset / start at; before, a render of frame 1001 said only 'frame 101')
    where = "" if int(script_frame) == f else " (script frame %d)" % int(script_frame)
    raise StaleFrameError("samatte: frame %d%s of %s is %s in the cache%s; make it with: %s"
                          % (f, where, group.name(), state, _version_note(path) if state == "stale" else "", how))


def _version_note(path):
    """What a stale frame's samatte version says, '' when it is this session's (or unknown). A frame an older
    samatte wrote is recomputed by this one (the version is in every key); one a newer samatte wrote is
    never current for this session's keys: a render node with an older samatte, or a Nuke session opened
    before samatte was updated (Nuke keeps the modules it loaded)."""
    import samatte
    try:
        theirs = exr_attributes(path).get("samatte/version")
    except (OSError, ValueError):
        return ""
    ours = getattr(samatte, "__version__", None)
    if not theirs or not ours or theirs == ours:
        return ""
    if _version_tuple(theirs) < _version_tuple(ours):
        return " (written by samatte %s; samatte %s recomputes it)" % (theirs, ours)
    return (" (written by samatte %s, newer than the samatte %s this Nuke loaded: restart Nuke after updating "
            "samatte, or update samatte on this machine)" % (theirs, ours))


def _version_tuple(text):
    out = []
    for part in str(text).split("."):
        digits = "".join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


_exported_memo = {}


def _exported(job_file, job, *, job_text=None):
    """True when ``job_file`` holds ``job`` (Export JobSpec wrote it for this very job). ``job_text``: the
    job's canonical text, to remember the answer while the file's stat is unchanged (a stale frame's error,
    raised on every viewer refresh, read and parsed the whole job.json each time: 17 ms for a 700 kB job)."""
    key = None
    if job_text is not None:
        try:
            st = os.stat(job_file)
        except (OSError, ValueError):
            return False
        from samatte.cachekey import stat_signature
        key = (job_file, stat_signature(st), job_text)
        if key in _exported_memo:
            return _exported_memo[key]
    try:
        with open(job_file, "r", encoding="utf-8") as fh:
            same = json.load(fh) == job
    except (OSError, ValueError):
        same = False
    if key is not None:
        if len(_exported_memo) > 16:
            _exported_memo.clear()
        _exported_memo[key] = same
    return same


def export(job, folder):
    """Write the JobSpec to ``folder``/job.json (atomic) and return its path; a farm runs
    ``samatte run job.json`` (or the OpenJD bundle of :func:`export_openjd`) before the comp."""
    from samatte import jobspec
    path = os.path.join(folder, "job.json")
    make_folder(folder)
    jobspec.save(job, path)
    return path


def make_folder(folder):
    """``os.makedirs(folder, exist_ok=True)``, a folder that cannot be made an OutputError (OUTPUT_INVALID) naming
    it and why: a script opened from a read-only place (a published or another artist's folder: the default cache
    folder is next to the script), a cache folder knob naming a read-only share, or a file in the way. Before, the
    OSError went up as it was: a Python traceback from Export JobSpec and from Track & Matte on a plate it renders,
    the node's status line not told, no stable code. A folder that exists but cannot be written (a locked cache
    folder, a read-only mount: ``os.access``, then a probe file made and removed, since ``os.access`` says yes to
    root and knows nothing of read-only mounts or ACLs on some shares) is the same OutputError; before, it passed
    and the render into it failed later with Nuke's own error."""
    from samatte.errors import OutputError
    hint = ("set the node's cache folder to a folder this machine can write (a relative one is relative to the "
            "project directory, else to the script's folder)")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot make the cache folder %s: %s; %s" % (folder, e.strerror or e, hint),
                          path=str(folder)) from None
    why = _not_writable(folder)
    if why:
        raise OutputError("the cache folder %s is not writable: %s; %s" % (folder, why, hint), path=str(folder))


def _not_writable(folder):
    """Why files cannot be made in the existing ``folder`` ("" when they can): ``os.access``, then a probe file
    created (``O_EXCL``, a name of this process) and removed."""
    import errno
    import uuid
    if not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    probe = os.path.join(folder, ".samatte_probe.%d.%s.tmp" % (os.getpid(), uuid.uuid4().hex[:8]))
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    try:
        os.remove(probe)
    except OSError:
        pass
    return ""


def export_openjd(python, job_path, out_dir, *, timeout=120):
    """``samatte farm export JOB --openjd DIR`` in samatte's own Python (the farm template: track, then
    matte in chunks). Returns (ok, text)."""
    import subprocess
    cmd = [python, "-m", "samatte", "farm", "export", job_path, "--openjd", out_dir]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    text = out.stdout.decode("utf-8", "replace").strip()
    return out.returncode == 0, text
