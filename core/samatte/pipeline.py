"""The job pipeline: JobSpec in, matte EXR frames out, as a generator that yields Progress.

    plate (FrameSource: EXR -> OCIO) -> tracker (TrackFrame per frame) -> track cache (work dir)
        -> matter (MatteFrame) -> MatteWriter (atomic EXR) -> result dict

Stages (``stage=``): ``"track"`` tracks the frames whose stored track is missing or stale and stores
them in the work dir (:mod:`samatte.trackcache`); ``"matte"`` mattes from the stored track only
(TRACK_MISSING when a frame's track is absent or stale; it never tracks); ``"all"`` (default) does
both, reusing every stored track that is current. ``frames=`` runs a subset of the job's frames;
keys (:mod:`samatte.cachekey`) do not depend on it. ``objects=`` (stage "track" only) tracks only the
named objects; trackers in :data:`INDEPENDENT_TRACKERS` (``shapes``, ``flow``) track each object on
its own, so per-object tasks store exactly what one whole run stores (for ``flow`` each object's own
answer: :func:`combine_flow` gives every pixel to the object with the highest logit when the matte
stage reads them back, as the flow tracker does with all objects at once); ``sam2`` (one propagation
pass over every object's prompts) tracks all objects together and refuses a subset.

Resume: a frame is reused only when its file carries the frame's current cache key. The pipeline
owns the matter's temporal state (:meth:`samatte.stages.Matter.step` takes the reference frame's state
and returns this frame's; a :class:`samatte.stages.StateStore` keeps them). The state for the first
frame to matte is restored (:meth:`samatte.stages.Matter.restore`) from its reference frame's finished
output when that frame is complete (identical to an unbroken run: the alphas at the precision the EXR
stores and the score's reference state, ``samatte/state``, are restored); otherwise up to ``preroll``
frames before it are matted and not written (a pre-roll; see README "Cache and resume" for how far that
differs from a single run). When the matter cannot restore a state (a stateless one, an object not
written), that finished reference frame is matted again, not written, and no frame before it.

Matting order (``samatte.cachekey._matte_order``, the order the matte keys are chained in too): frames
are grouped by the (re)start (a frame whose temporal reference is None) their reference chain leads
to; for each start in ascending order, the start, then the frames chained forward from it
(ascending), then those chained backward from it (descending). Every frame's reference comes before
it, and the start's state is still in the store's ``start`` slot when its backward chain begins, so
three states (start, forward, backward) are held whatever the shot length and an unbroken run carries
the state into every backward chain as a resumed one does. A state goes into the slot its frame's
keyed reference names (a chunk's first frame or a restored frame whose reference state is not at
hand starts afresh but does not take the start slot).

Output safety: before the first write every output path of the job's frames is compared with every
input file by real path and file identity (OUTPUT_INVALID naming both), and a file at an output name
that is not a samatte frame of this job is never replaced unless ``overwrite`` is set.
"""
import functools
import contextlib
import json
import logging
import os
import time

from . import __version__
from .errors import (FrameRangeError, JobSpecError, MissingFrameError, OutputError, TrackMissingError,
                     check_callbacks)
from .frames import format_frames, parse_frames, whole_number
from .jobspec import job_frames, load as load_job_file, object_absent, validate
from .progress import FrameEvent, Progress, cancel_scope, check_cancel, is_cancel

log = logging.getLogger("samatte")

__all__ = ["run", "run_iter", "load_job", "frame_status", "probe", "plate_colour", "resolve_backends", "STAGES",
           "DEFAULT_PREROLL", "check_output_safety", "INDEPENDENT_TRACKERS"]

from .protocol import STAGES  # noqa: E402 - one list: the stages a job message may carry
#: frames matted (not written) before a chunk whose reference frame is not finished (bench_chunks.py)
DEFAULT_PREROLL = 4
from .cachekey import INDEPENDENT_TRACKERS  # noqa: E402 - trackers that take one object at a time


def load_job(job):
    """A JobSpec given as a dict, a JSON string or a path to a .json file -> validated dict. A file's
    relative paths are its folder's (:func:`samatte.jobspec.load`); in every form a path starting with
    ``~`` is the home folder (:func:`samatte.jobspec.expand_home`)."""
    from .jobspec import expand_home, is_json_text
    if isinstance(job, dict):
        return expand_home(validate(job), in_place=True)
    if isinstance(job, (str, os.PathLike)):
        # JSON text, unless it names a file (or is a Path): a job file named "{shot}_job.json" was parsed as
        # JSON ("not valid JSON") by `samatte qc`, `farm export` and samatte.api, while `run` and `status` read it
        if is_json_text(job):
            return expand_home(validate(job), in_place=True)
        return load_job_file(os.fspath(job))
    # JOBSPEC_INVALID as every other unusable job (it was SAMATTE_ERROR, exit status 1: `api.run(None)`,
    # `api.status(b"{...}")`)
    raise JobSpecError("a job must be a dict, a JSON string or a path, not %s" % type(job).__name__)


def run(job, *, on_progress=None, on_event=None, cancel=None, tracker=None, matter=None, stage="all",
        frames=None, preroll=None, objects=None):
    """Run a job to completion and return its result dict (see :func:`run_iter`); ``on_event`` gets
    each :class:`samatte.progress.FrameEvent`."""
    check_callbacks(on_progress=on_progress, on_event=on_event)
    gen = run_iter(job, cancel=cancel, tracker=tracker, matter=matter, stage=stage, frames=frames,
                   preroll=preroll, objects=objects, events=True)
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            if isinstance(p, FrameEvent):
                if on_event is not None:
                    on_event(p)
            elif on_progress is not None:
                on_progress(p)
    finally:
        gen.close()  # a callback that raised: the run's files and reader threads are let go now


def check_foreign_paths(job, *, windows=None):
    """JobSpecError (JOBSPEC_INVALID) when a path of the job is a Windows absolute path (``Z:\\...``,
    ``\\\\server\\share``) and this machine is not Windows (``windows``: default this machine): it names
    a Windows machine's folder, which here is one odd file name in the current folder. Before, a JobSpec
    saved by a Windows workstation and run as it was on a Linux node (a farm's job array running
    ``samatte run JOB.json``) wrote ``Z:\\shots\\out\\m.1001.exr`` files into the task's current folder
    and exited 0 (a Windows plate was FRAME_MISSING, naming the path)."""
    windows = os.name == "nt" if windows is None else windows
    if windows:
        return
    from .jobspec import map_paths, windows_abs
    found = []

    def note(p):
        if p and windows_abs(p) and p not in found:
            found.append(p)
        return p
    map_paths(job, note)
    if found:
        raise JobSpecError("the job's path %s is a Windows path, which this machine cannot read or write (it "
                           "would be a file of that name in the current folder): run the job with this machine's "
                           "paths, or export it for the farm (samatte farm export; its --root folders are mapped "
                           "per node)" % found[0], path=found[0], paths=found[:10])


def _resolve_frames(job, seq):
    wanted = job_frames(job)
    if wanted is None:
        wanted = seq.default_frames()
        if not wanted and not seq.has_frame_token and os.path.exists(seq.source):
            raise FrameRangeError("the plate %s is a still (no frame number in its name): name the frames to make "
                                  "(--frames, or the JobSpec's plate.frames), e.g. 1 or 1001-1100" % seq.source,
                                  field="plate.frames", path=seq.source)
        if not wanted:
            raise MissingFrameError("no frames of the plate %s were found on disk%s" % (seq.source, seq.padding_hint()),
                                    path=seq.source)
    _require_plate_frames(seq, wanted)
    from .prompts import require_prompt_frames
    # before anything that derives from the prompts (cache keys, temporal references) is computed: the
    # same error the tracker's own check gives, now for every stage and for status
    require_prompt_frames(job["objects"], wanted)
    return wanted


def _require_plate_frames(seq, frames):
    """MissingFrameError naming the plate frames of ``frames`` that are not on disk."""
    missing = [f for f in frames if not os.path.exists(seq.path(f))]
    if missing:
        raise MissingFrameError("%d plate frame(s) missing: %s (pattern %s)%s"
                                % (len(missing), format_frames(missing)[:200], seq.source, seq.padding_hint()),
                                frames=format_frames(missing), path=seq.source)


def _is_empty(frames):
    """A blank range string or an empty list (a chunk script's unset variable)."""
    if isinstance(frames, str):
        return not frames.strip()
    try:
        return len(frames) == 0
    except TypeError:
        return False


def _subset(frames, all_frames):
    """The requested ``frames`` of the job's ``all_frames``: None is all of them; an empty range ("",
    [], a chunk script's unset variable) is FRAME_RANGE_INVALID, as from probe and farm export, never
    the whole shot."""
    if frames is None:
        return list(all_frames)
    try:
        # one rule for a range string and for Python values (numpy integers, a range, an array): a float
        # or a bool is refused, never cut to a whole frame
        want = parse_frames(frames)
    except FrameRangeError as e:
        if _is_empty(frames):
            raise FrameRangeError("frame range is empty: give frames (e.g. 1001-1010) or leave the option out "
                                  "for all of the job's frames", field="frames", value=repr(frames)[:200]) from None
        raise FrameRangeError("frames: %s" % e.message, field="frames", value=repr(frames)[:200]) from None
    have = set(all_frames)
    bad = [f for f in want if f not in have]
    if bad:
        raise FrameRangeError("frame(s) %s are not frames of the job (%s)"
                              % (format_frames(bad)[:200], format_frames(all_frames)[:200]), field="frames",
                              frames=format_frames(bad))
    return want


def _output_pattern(job):
    from .jobspec import output_sequence
    return output_sequence(job["output"]["path"])


def _input_files(job, frames):
    """(path, what) of every file the job reads: plate frames, mask sequence frames, prompt files."""
    from .io.sequence import SequencePattern
    plate = SequencePattern(job["plate"]["path"])
    out = [(plate.path(f), "plate frame %d" % f) for f in frames]
    cfg = job["plate"].get("ocio_config")
    if cfg and not str(cfg).startswith("ocio://"):
        out.append((cfg, "OCIO config"))
    for o in job["objects"]:
        for q in o.get("prompts") or []:
            if q.get("type") == "mask" and q.get("path"):
                out.append((q["path"], "mask prompt of object %r on frame %d" % (o["name"], q["frame"])))
        if o.get("masks"):
            ms = SequencePattern(o["masks"]["path"])
            out += [(ms.path(f), "mask of object %r on frame %d" % (o["name"], f)) for f in frames]
    return out


def _ident(path):
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        return None


def check_output_safety(job, frames, output_paths):
    """OutputError (OUTPUT_INVALID) when any output path is an input file of the job (same real path,
    or the same file by identity), whatever the spelling of the patterns. ``output_paths``: frame ->
    path."""
    inputs = _input_files(job, frames)
    by_real = {}
    by_id = {}
    for p, what in inputs:
        by_real.setdefault(os.path.normcase(os.path.realpath(p)), (p, what))
        i = _ident(p)
        if i is not None:
            by_id.setdefault(i, (p, what))
    for f, op in output_paths.items():
        hit = by_real.get(os.path.normcase(os.path.realpath(op)))
        if hit is None and os.path.lexists(op):
            i = _ident(op)
            hit = by_id.get(i) if i is not None else None
        if hit is not None:
            raise OutputError("output frame %d (%s) is the same file as the job's %s (%s): samatte never "
                              "overwrites its inputs; choose another output path" % (f, op, hit[1], hit[0]),
                              path=op, input=hit[0], frame=f)


def check_environment():
    """JOBSPEC_INVALID naming the variable for a bad ``$SAMATTE_TEMP_MAX_AGE`` or ``$SAMATTE_MAX_PIXELS``; what a run
    and ``qc`` ask before they read or write anything."""
    from .io.exr import max_pixels
    from .io.writer import default_temp_max_age
    default_temp_max_age()
    max_pixels()


def _all_files(oseq, frames):
    """Whether every one of ``frames`` has a file at its output path (a run that may have nothing to write)."""
    return all(os.path.isfile(oseq.path(f)) for f in frames)


def _check_output_folder(oseq, frames):
    """Make the first frame's output folder; OutputError when any frame's folder (a pattern with a frame
    token in a folder name has one per frame) cannot be made or written, before the first frame is."""
    folders = list(dict.fromkeys(os.path.dirname(os.path.abspath(oseq.path(f))) for f in frames))
    for folder in folders[1:]:  # not made here: only the nearest folder that exists is asked
        there = folder
        while not os.path.lexists(there) and os.path.dirname(there) != there:
            there = os.path.dirname(there)
        if not os.path.isdir(there) or not os.access(there, os.W_OK | os.X_OK):
            raise OutputError("cannot create output folder %s: %s %s" % (
                folder, there, "is not writable" if os.path.isdir(there) else "is a file, not a folder"),
                path=folder)
    folder = folders[0]
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot create output folder %s: %s" % (folder, e.strerror or e), path=folder)
    if not os.access(folder, os.W_OK):
        raise OutputError("output folder %s is not writable" % folder, path=folder)


def _check_output_name(path, frame):
    """OutputError when the file system refuses ``path`` as a name (a file name over its 255 bytes, a
    path over its limit), before anything is tracked or written: asked of the file system itself, whose
    limits differ (``os.lstat``: ENAMETOOLONG)."""
    import errno
    try:
        os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise OutputError("output frame %d: the file name %s is too long for the file system (%d bytes); "
                              "choose a shorter output path" % (frame, path, len(os.fsencode(path))),
                              path=path, frame=frame) from None
    except ValueError:
        pass


def _check_still_ours(writer, frame, key, names, job_name, overwrite, plate=None):
    """OutputError when, since the run checked the output at its start, another job (another name, or
    not samatte) put a file at ``frame``'s output path: two jobs pointed at one output pattern at once
    (the check at the start saw an empty folder for both) must not silently mix their frames. Asked just
    before each write, and again as the frame takes its name (``MatteWriter.write(claim=...)``: a free
    name is taken with a hard link, so of two jobs at the same frame one is refused, in threads of one
    process too): a stat when the path is free, one header read when a file is there."""
    path = writer.path(frame)
    if overwrite or not os.path.lexists(path):
        return
    if writer.file_status(frame, key=key, objects=names, job=job_name, plate=plate) == "foreign":
        raise OutputError("%s was written by another job while job %r ran (%s): two jobs write to the same output "
                          "path; samatte does not replace it unless output.overwrite is set (--overwrite)"
                          % (path, job_name, _writer_of(path)), path=path, frame=frame)


def _writer_of(path):
    """Who wrote ``path``: "job 'NAME'" for a samatte frame, else "not a samatte frame"."""
    try:
        import OpenImageIO as oiio
        inp = oiio.ImageInput.open(path)
        if inp is None:
            oiio.geterror()
            return "not a samatte frame"
        try:
            name = inp.spec().getattribute("samatte/job")
        finally:
            inp.close()
        return "job %r" % name if name is not None else "not a samatte frame"
    except Exception:
        return "not a samatte frame"


def _mask_objects(job, info, frames):
    """Objects with a mask sequence: name -> (MaskSequence, masks dict, required). Refine-only objects
    need a mask on every frame; tracked objects that also have masks use them where they exist."""
    from .io.masks import MaskSequence
    out = {}
    for o in job["objects"]:
        if not o.get("masks"):
            continue
        m = o["masks"]
        seq = MaskSequence(m["path"], info, channel=m.get("channel"))
        required = not o.get("prompts")
        if required:
            # each frame's own file, as for the plate: a still (no frame token) serves every frame; none
            # is needed where the object is absent (its alpha is 0 there)
            gone = object_absent(o)
            missing = [f for f in frames if f not in gone and not os.path.exists(seq.path(f))]
            if missing:
                raise MissingFrameError("object %r: %d mask frame(s) missing: %s (pattern %s)%s"
                                        % (o["name"], len(missing), format_frames(missing)[:200], m["path"],
                                           seq.pattern.padding_hint()),
                                        object=o["name"], frames=format_frames(missing), path=m["path"])
        out[o["name"]] = (seq, dict(m, _absent=object_absent(o)), required)
    return out


def _check_headers(source, masked, frames):
    """Open the header of each of ``frames``' plate files and mask files (no pixels): what reading them
    would raise (missing, not an image, no such layer or channel, windows or size unlike the plate's),
    now. A frame whose pixels are damaged past a good header still fails when it is read."""
    from .io.masks import check_mask_header
    source.check_headers(frames)
    for seq, m, required in masked.values():
        for f in frames:
            if _reads_mask(seq, m, required, f):
                check_mask_header(seq.path(f), seq.info, channel=seq.channel)


def _reads_mask(seq, m, required, f):
    """Whether a run reads an object's mask file at frame ``f`` (one of :func:`_mask_objects`' values): not where
    the object is ``absent``, and where the file is optional only when it is there."""
    return f not in m["_absent"] and (required or os.path.exists(seq.path(f)))


def _check_pixels(source, masked, frames, cancel, *, workers=2):
    """Decode ``frames``' plate pixels (those the source has not decoded) and their mask files, kept nowhere:
    what reading them in the matte loop would raise, now, the earliest frame's error first. ``workers``
    frames are decoded at once (OpenImageIO decodes without the GIL). Yields setup Progress at most about
    once a second and checks ``cancel`` between frames."""
    from concurrent.futures import ThreadPoolExecutor

    def check(f):
        source.check_pixels([f])
        for mseq, m, required in masked.values():
            if _reads_mask(mseq, m, required, f):
                _mask_track(mseq, m, f)
    if not frames:
        return
    shown = time.monotonic()
    ex = ThreadPoolExecutor(max_workers=max(1, min(workers, len(frames))), thread_name_prefix="samatte-check")
    try:
        for i, (f, fut) in enumerate([(f, ex.submit(check, f)) for f in frames]):
            check_cancel(cancel)
            if time.monotonic() - shown >= 1.0:
                shown = time.monotonic()
                yield Progress("setup", f, i, len(frames), "checking the pixels of frame %d (%d of %d)"
                               % (f, i + 1, len(frames)))
            fut.result()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _warn_empty_masks(mask_seen, masked):
    """Warn about an object whose mask file was empty on every frame this run read: legitimate (an
    object out of shot) but more often a mask saved with the wrong values (0 / 1 in 8 bits reads 0.004)
    or the wrong channel, which would otherwise give an alpha of 0 without a word."""
    for name, (n, empty) in mask_seen.items():
        if n and empty == n:
            m = masked[name][1]
            thr = float(m.get("threshold", 0.5))
            log.warning("object %r: its mask (%s%s) has no value %s %g on any of the %d frame(s) read, so its "
                        "alpha is 0 there; a mask saved as 0 / 1 in 8 bits reads 0.004, check the values and the "
                        "channel", name, m["path"], ", channel %s" % m["channel"] if m.get("channel") else "",
                        ">" if thr <= 0 else ">=", thr, n)


def _mask_track(seq, m, frame):
    from .io.masks import mask_track  # threshold, and masks.soft (owned by prompts)
    return mask_track(seq, m, frame)


def _sam2_available(model):
    import importlib.util
    try:
        from .models import find_weights
        if find_weights(model) is None:
            return False
    except Exception:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "sam2"))


def resolve_backends(job, *, tracker=None, matter=None):
    """What ``auto`` becomes for this job, without loading a model: ``{"tracker": "flow"|"sam2"|
    "shapes"|"masks", "model": name or None, "model_sha256": str or None, "matte": name}``."""
    tracked = any(o.get("prompts") for o in job["objects"])
    if not tracked:
        tname = "masks"
    elif tracker is not None:
        tname = getattr(tracker, "name", type(tracker).__name__)
    else:
        tname = job["tracker"]["backend"]
        if tname == "auto":
            tname = "sam2" if _sam2_available(job["tracker"]["model"]) else "flow"
    model = sha = None
    if tname == "sam2":
        model = job["tracker"]["model"]
        try:
            from .models import find_weights, get_model
            # an alias or file name ("tiny", "sam2.1_hiera_tiny.pt": JobSpec names of the model) is the model it
            # names, with its registry checksum: one model, one key and one name in the frames' metadata
            info = get_model(model)
            model = info.name
            sha = getattr(info, "sha256", None)
            if not sha:
                from .cachekey import file_stamp
                w = find_weights(model)
                sha = file_stamp(str(w)) if w else None
        except Exception:
            sha = None
    if matter is not None:
        mname = getattr(matter, "name", type(matter).__name__)
    else:
        mname = job["matte"]["backend"]
        if mname == "auto":
            try:
                from .matte.stage import find_sam2matte_weights
                mname = "sam2matte" if find_sam2matte_weights(job["matte"]["options"].get("checkpoint")) else "refine"
            except Exception:
                mname = "refine"
    out = {"tracker": tname, "model": model, "model_sha256": sha, "matte": mname}
    builtin = builtin_config_identity(job)
    if builtin:   # only then: the keys of every other job are what they were
        out["ocio_builtin"] = builtin
    return out


#: what each of OCIO's built-in config aliases resolved to in the OCIO library (2.6) samatte used when its keys
#: counted a built-in config by its name alone: a job whose config still resolves so keeps its keys
BUILTIN_CONFIG_BASELINE = {
    "ocio://default": "ocio://cg-config-v5.0.0_aces-v2.1_ocio-v2.6",
    "ocio://cg-config-latest": "ocio://cg-config-v5.0.0_aces-v2.1_ocio-v2.6",
    "ocio://studio-config-latest": "ocio://studio-config-v5.0.0_aces-v2.1_ocio-v2.6",
}
_BUILTIN_NAMES: dict = {}


def builtin_config_identity(job):
    """The versioned built-in OCIO config (``ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4``) the job's colour config
    resolves to in this process's OCIO library, when that config is a built-in one (``plate.ocio_config``, else
    ``$OCIO``, else ``ocio://default``) and it resolves to another config than :data:`BUILTIN_CONFIG_BASELINE`
    says (an alias not listed there: than itself); else None (also without PyOpenColorIO). A built-in config's
    versioned name identifies its content (OCIO adds a new name for new content), while an alias follows the
    library: ``ocio://default`` was ACES 1.3's CG config up to OCIO 2.4 and ACES 2's since 2.5. Before, the keys
    counted the alias alone, so frames made with another library's default were taken as current."""
    # (samatte.colour.DEFAULT_CONFIG: the config of a job naming none where $OCIO is unset)
    uri = (job["plate"].get("ocio_config") or os.environ.get("OCIO") or "ocio://default").strip()
    if not uri.startswith("ocio://"):
        return None
    try:
        import PyOpenColorIO as ocio
    except ImportError:
        return None
    try:
        if hasattr(ocio, "ResolveConfigPath"):
            name = str(ocio.ResolveConfigPath(uri))
        else:   # (OCIO 2.2) the config's own name is its versioned one
            if uri not in _BUILTIN_NAMES:
                _BUILTIN_NAMES[uri] = "ocio://" + ocio.Config.CreateFromFile(uri).getName()
            name = _BUILTIN_NAMES[uri]
    except Exception:  # noqa: BLE001 - no such built-in config: the run says so (COLOUR_INVALID)
        return None
    return None if name == BUILTIN_CONFIG_BASELINE.get(uri, uri) else name


def _kept_plate(job):
    """The job's plate when its output keeps other plates' frames (``output.keep_other_plates``), else None: a
    frame of the same output made from another plate (a new plate version, a fixed path) is then the job's own,
    re-matted when stale."""
    return job["plate"]["path"] if job["output"].get("keep_other_plates") else None


def _job_metadata(job, resolved):
    meta = {
        "samatte/job": job["name"],   # the writer adds samatte/version and, per frame, samatte/objects
        "samatte/tracker": resolved["tracker"],
        "samatte/matte": resolved["matte"],
        "samatte/model": resolved["model"] if resolved["tracker"] == "sam2" else resolved["tracker"],
    }
    hosts = {o["name"]: o["host_name"] for o in job["objects"] if o.get("host_name")}
    if hosts:
        meta["samatte/host_names"] = json.dumps(hosts, sort_keys=True)
    if job["output"].get("keep_other_plates"):
        # the plate it was made from: for such a job a frame of another plate is another job's
        # (MatteWriter.file_problem). Only there: a farm node's frames (its plate reached through a path
        # mapping) stay byte for byte those of the submitting machine
        meta["samatte/plate"] = job["plate"]["path"]
    return meta


def _track_ranges(need, tracked, all_frames, tname):
    """Disjoint (lo, hi) frame ranges to track so that every frame of ``need`` gets the answer of a
    whole-job run: each covers the dependency intervals (:func:`samatte.cachekey.dependency_interval`)
    of the frames it serves, and starts where a whole run's temporal reference chain restarts (``span``:
    the job's first frame for a frame before an object's first anchor), so the stored references are
    a whole run's too."""
    from .cachekey import _interval_of
    intervals = [_interval_of(o, all_frames, tname, span=True) for o in tracked]
    spans = []
    for f in sorted(need):
        lo, hi = f, f
        for interval in intervals:
            a, b = interval(f)
            lo, hi = min(lo, a), max(hi, b)
        spans.append((lo, hi))
    spans.sort()
    out = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


#: output compressions that change a half float alpha (b44 everywhere; dwa in ``A``): a state restored
#: from such a file is not the state an unbroken run carried on
LOSSY_COMPRESSIONS = ("b44", "b44a", "dwaa", "dwab")


class _StoredState:
    """With a lossy output compression, the state a frame hands to the next one is restored from the
    frame as its file stores it (:meth:`samatte.stages.Matter.restore`, the records of ``samatte/state``),
    as a resumed run or a farm chunk seeded from that file restores it: an unbroken run, a resumed one
    and a chunk then write the same bytes. Before 0.2.16 the unbroken run carried the alphas it had
    computed, the resumed run those b44 had stored (up to 0.06 apart), so a resumed frame differed from
    a fresh run. A frame not written (pre-roll) goes through a scratch file of the same channels and
    compression, in a :func:`samatte.track.flow.spill_folder` (``samatte_stored_<host>.<pid>.<random>`` in
    the job's ``work_dir``, else the system's temp folder): removed when the run ends, and one a killed run
    left is removed by the next run that needs one."""

    def __init__(self, stepper, writer, names, out, work_dir=None):
        self.stepper, self.writer, self.names, self.out = stepper, writer, names, out
        self.scratch = None
        self.folder = None
        self.work_dir = work_dir

    def state(self, f, mf, state, state_in, plate, tf, *, written=False):
        if state is None:
            return None
        if written:
            alphas, scores = self.writer.read_state(f)
        else:
            flags = {k: self.out[k] for k in ("object_layers", "foreground", "quality_map")}
            from .io.writer import MatteWriter
            if self.scratch is None:
                from .track.flow import SpillFolder
                self.folder = SpillFolder("samatte_stored", self.work_dir)
                self.scratch = self.folder()
            w = MatteWriter(os.path.join(self.scratch, "s.%d.exr"), self.writer.info,
                            compression=self.out["compression"], overwrite=True)
            try:
                w.write(mf, **flags)
                alphas, scores = w.read_state(f)
            finally:
                with contextlib.suppress(OSError):
                    os.remove(w.path(f))
        if not set(alphas) >= set(tf.objects):
            return state   # the file cannot give it back (several objects without layers): as computed
        new = self.stepper.restore(f, alphas, plate, tf, scores=scores, state=state_in)
        if new is None:
            return state
        _restore_records(new, _state_json(state, self.names))
        return new

    def close(self):
        if self.folder is not None:
            self.folder.remove()


def _restore_records(state, state_json):
    """Put the score's reference state written with a frame (``samatte/state``) back into the state
    restored for that frame (resume gives the same samatte/score as an unbroken run): its ``objects``
    records (see :class:`samatte.stages.Matter`)."""
    objects = getattr(state, "objects", None)
    if not isinstance(objects, dict) or not state_json:
        return
    try:
        recs = json.loads(state_json)
    except (TypeError, ValueError):
        return
    if not isinstance(recs, dict):
        return
    for name, rec in recs.items():
        if name in objects and isinstance(rec, dict):
            if rec.get("velocity") is not None:
                rec["velocity"] = tuple(rec["velocity"])
            objects[name] = rec


def _state_json(state, names):
    """The per-object records of a frame's state (its ``objects``), as written with the frame."""
    objects = getattr(state, "objects", None)
    if not isinstance(objects, dict):
        return None
    recs = {n: objects[n] for n in names if n in objects}
    try:
        return json.dumps(recs, sort_keys=True, default=float)
    except (TypeError, ValueError):
        return None


def _thread_budget():
    """A script that runs jobs in its own process with ``$SAMATTE_THREADS`` set gets that many threads in
    every library, as the CLI and the worker do (``samatte.threads``; they configure at start)."""
    from . import threads
    if threads.configured() is None and os.environ.get("SAMATTE_THREADS"):
        threads.configure()


def run_iter(job, *, stage="all", frames=None, cancel=None, preroll=None, tracker=None, matter=None,
             events=False, objects=None):
    """Run a job as a generator: yields :class:`Progress` (and, with ``events=True``,
    :class:`samatte.progress.FrameEvent` per requested frame), returns the result dict.

    ``stage``: "all", "track" or "matte" (see the module docstring); ``frames``: a subset of the
    job's frames (range string or list); ``preroll``: frames matted before a chunk whose reference
    frame is not finished (default :data:`DEFAULT_PREROLL`). ``tracker`` / ``matter``: backend
    instances to use instead of the ones the JobSpec names (tests, benchmarks, embedding apps).
    ``objects``: names of tracked objects (list or comma-separated string) to track, stage "track"
    only; only trackers in :data:`INDEPENDENT_TRACKERS` take a subset. ``cancel``: a
    :class:`samatte.progress.CancelToken` (or anything with ``check()``), or a callable that returns
    true to cancel; checked between frames and between the phases of a frame being matted, and
    before its write (CancelledError; a frame cancelled there is not written).
    """
    t0 = time.time()
    _thread_budget()
    check_environment()   # before anything is read or written
    job = load_job(job)
    if stage not in STAGES:
        raise JobSpecError("stage %r is not one of %s" % (stage, ", ".join(STAGES)), field="stage")
    if preroll is None:
        preroll = DEFAULT_PREROLL
    preroll = whole_number(preroll, "preroll")   # numpy's integers too; 2.5 or True: JOBSPEC_INVALID
    if cancel is not None and not is_cancel(cancel):
        raise JobSpecError("cancel must be a samatte.progress.CancelToken, an object with check() or is_set() "
                           "(threading.Event) or a callable that returns true to cancel, not %s" % type(cancel).__name__, field="cancel")
    yield Progress("setup", None, 0, 1, "reading plate")
    from .cachekey import _matte_order, frame_keys, temporal_refs
    from .colour import ColourTransform
    from .io.sequence import SequencePattern
    from .io.source import FrameSource
    from .io.writer import MatteWriter, is_locked, locked_error, sticky_error, sticky_owner
    from .jobspec import shared_work_dir
    from .trackcache import TrackCache, default_work_dir

    check_foreign_paths(job)   # before anything is read, made or written
    plate = job["plate"]
    plate_seq = SequencePattern(plate["path"])
    all_frames = _resolve_frames(job, plate_seq)
    requested = _subset(frames, all_frames)
    from .jobspec import absent_outside, plate_gaps
    for text in absent_outside(job, all_frames):   # a typo'd absent is silently a no-op otherwise
        log.warning("%s", text)
    gaps = plate_gaps(job, all_frames)   # a frame the plate's render dropped: silently not made otherwise
    if gaps:
        log.warning("%s", gaps)
    oseq = _output_pattern(job)
    if stage != "track":  # before anything is created or written
        check_output_safety(job, all_frames, {f: oseq.path(f) for f in all_frames})
    try:
        cache = TrackCache(default_work_dir(job), shared=shared_work_dir(job))
        cache_error = None
    except OutputError as e:
        if stage == "track" or not _all_files(oseq, requested):
            raise
        # a work dir that cannot be made (a published shot's read-only output folder, copied without its
        # .samatte) while every frame's file is there: an error once a frame is to be written (stale), not for a
        # re-run with every frame current
        cache = TrackCache(default_work_dir(job), create=False, shared=shared_work_dir(job))
        cache_error = e
    colour = ColourTransform(config=plate.get("ocio_config"), colourspace=plate.get("colourspace"))
    source = FrameSource(plate_seq, all_frames, layer=plate.get("layer"), colour=colour,
                         on_nonfinite=plate.get("on_nonfinite", "fix"))
    owned = []  # backends we created and must close
    try:
        info = source.info
        # a stored track is current only on the canvas it was made on (decided by every frame's header, not
        # in a frame's key: one frame re-rendered with another data window changes it for all of them)
        cache.canvas = _canvas(info)
        read_as, colour = _plate_read_as(source, colour, plate)
        tracked = [o for o in job["objects"] if o.get("prompts")]
        tnames = [o["name"] for o in tracked]
        masked = _mask_objects(job, info, all_frames)
        if stage != "track":  # a damaged frame or mask is an error before the first frame is written
            _check_headers(source, masked, requested)
        # a cancel that came with the job (pressed while the worker started) stops it before a backend or its model
        # is made (before: the tracker's model was loaded, then the first frame's check stopped the job)
        check_cancel(cancel)
        resolved = resolve_backends(job, tracker=tracker if tracked else None, matter=matter)
        sel = _select_objects(objects, stage, tnames, resolved["tracker"])
        keys = frame_keys(job, resolved=resolved, plate_frames=all_frames)
        refs = temporal_refs(job, all_frames, resolved["tracker"] if tracked else "masks")
        before = None
        if cache_error is None:
            try:
                before = cache.write_manifest(job, resolved, all_frames)
            except OutputError as e:
                if stage == "track" or not _all_files(oseq, requested):
                    raise
                cache_error = e   # (as above: raised when a frame is to be written)
        out = job["output"]
        names = [o["name"] for o in job["objects"]]
        result = {
            "job": job["name"], "status": "done", "stage": stage, "frames": list(requested), "written": [],
            "skipped": [], "output": out["path"], "tracker": resolved["tracker"], "matte": resolved["matte"],
            "scores": {}, "samatte_version": __version__, "colour": _read_colour(colour, read_as),
            "plate": {"width": info.display.width, "height": info.display.height,
                      "data_window": [info.data.x, info.data.y, info.data.width, info.data.height],
                      "pixel_aspect": info.pixel_aspect, "pixel_type": info.pixel_type, "colourspace": read_as},
            "work_dir": cache.work_dir, "tracked": [], "track_reused": [], "preroll": [],
            "keys": {str(f): keys[f] for f in requested},
        }

        # -- what to matte, and what that needs ---------------------------------------------------
        writer = None
        to_do, seed, pre = [], set(), set()
        complete = set()
        if stage != "track":
            writer = MatteWriter(out["path"], info, compression=out["compression"],
                                 metadata=_job_metadata(job, resolved), overwrite=out["overwrite"],
                                 object_layers=out["object_layers"], prepare=False)
            try:
                _check_output_folder(oseq, requested)
                writer.prepare()
                unwritable = None
            except OutputError as e:
                # an error only when a frame is to be written: a re-run of a published shot (its output folder
                # read-only, every frame current) does nothing and says so
                unwritable = e
            status = {}
            for f in requested:
                _check_output_name(writer.path(f), f)
                if os.path.isdir(writer.path(f)):  # not even --overwrite replaces a folder
                    raise OutputError("output frame %d (%s) is a folder; choose another output path"
                                      % (f, writer.path(f)), path=writer.path(f), frame=f)
                st, why = writer.file_problem(f, key=keys[f]["matte"], objects=names, job=job["name"],
                                              plate=_kept_plate(job))
                if st == "foreign" and not out["overwrite"]:
                    raise OutputError("%s exists and is not a samatte frame of job %r (%s): samatte does not replace "
                                      "it unless output.overwrite is set (--overwrite)%s" % (
                                          writer.path(f), job["name"], why, "; pick another output folder for this "
                                          "plate" if why.startswith("made from another plate") else ""),
                                      path=writer.path(f), frame=f)
                status[f] = "complete" if (st == "complete" and not out["overwrite"]) else "todo"
                if status[f] == "todo" and unwritable is not None:
                    raise unwritable
                if status[f] == "todo" and is_locked(writer.path(f)):
                    raise locked_error(writer.path(f), f)
                owner = sticky_owner(writer.path(f)) if status[f] == "todo" else None
                if owner is not None:   # it failed at its write, frames into the run: "Operation not permitted"
                    raise sticky_error(writer.path(f), owner, f)
            complete = {f for f in requested if status[f] == "complete"}
            to_do = [f for f in requested if f not in complete]
            if to_do and cache_error is not None:
                raise cache_error
            todo_set = set(to_do)
            done_cache = {f: f in complete for f in requested}  # statuses of the requested frames, known

            # a finished frame seeds the next one's state only when its file holds every object's alpha
            # (object layers, or one object in A): from the merged A of several objects no state can be
            # restored, and matting it again from no state gave the next frame other pixels and scores than
            # an unbroken run (score 0.60 for 0.73); such a frame is pre-rolled as an unfinished one
            restorable = out["object_layers"] or len(names) <= 1

            def finished(g):
                if g not in done_cache:
                    done_cache[g] = (not out["overwrite"] and g not in todo_set and
                                     writer.is_complete(g, key=keys[g]["matte"], objects=names))
                return done_cache[g] and restorable
            for f in to_do:
                r = refs.get(f)
                chain = []
                while r is not None and r not in todo_set and len(chain) < preroll:
                    if finished(r):
                        seed.add(r)
                        break
                    chain.append(r)
                    r = refs.get(r)
                else:
                    if r is not None and r not in todo_set and finished(r):
                        seed.add(r)
                pre.update(chain)
            pre -= todo_set
            seed -= todo_set | pre
            # the frames read for the state only (pre-roll, finished references) are read too: a damaged plate or
            # mask there is an error now, not after the frames of an earlier group are written (--frames
            # 1003,1007 wrote 1003, then failed on the pre-roll frame 1006's mask)
            _check_headers(source, masked, sorted((pre | seed) - set(requested)))
        need_track = set(requested) if stage == "track" else (set(to_do) | seed | pre)

        # -- tracking ---------------------------------------------------------------------------
        if tracked:
            indep = resolved["tracker"] in INDEPENDENT_TRACKERS
            if job["output"]["overwrite"] and stage != "matte":
                # --overwrite recomputes, the track too: the stored track is keyed by the plate's stamps
                # (size + mtime), and a plate replaced with its old size and mtime (a copy tool that keeps
                # times, a file system with 1-2 s times) is only recomputed this way. The matte stage of a
                # farm job reads the track its Track task has just recomputed.
                stale_of = {f: sorted(sel) for f in need_track}
            else:
                stale_of = {f: [i for i in cache.stale_objects(f, keys[f]["track_objects"]) if i in sel]
                            for f in need_track}
            stale = sorted(f for f in need_track if stale_of[f])
            if stale and stage == "matte":
                from .trackcache import output_file
                other, other_out = (before or {}).get("job"), (before or {}).get("output_file")
                # a manifest names its output file (older ones do not): two jobs of one name are told apart
                shared = "" if other in (None, job["name"]) and other_out in (None, output_file(job)) else (
                    "; the work dir was last used by job %r%s: jobs sharing one work_dir replace each other's "
                    "tracks, give each job its own work_dir" % (other, " (output %s)" % other_out if other_out else ""))
                raise TrackMissingError("the stored track of %d frame(s) is missing or stale: %s (work dir %s); run "
                                        "--stage track first%s" % (len(stale), format_frames(stale)[:200],
                                                                   cache.work_dir, shared),
                                        frames=format_frames(stale), path=cache.work_dir)
            result["track_reused"] = sorted(set(need_track) - set(stale))
            if stale:
                if indep:  # one object at a time: what a per-object task stores is what this run stores
                    passes = [([i], sorted(f for f in stale if i in stale_of[f])) for i in sorted(sel)]
                    passes = [(only, mine) for only, mine in passes if mine]
                else:
                    passes = [(None, stale)]
                plan = [(only, _track_ranges(mine, [tracked[i] for i in (only or range(len(tracked)))],
                                             all_frames, resolved["tracker"])) for only, mine in passes]
                # every pass's prompts are checked (and prepared) before the tracker is made and the first
                # pass runs: a bad prompt of the job's second object (or of a later range) was an error
                # only once the first object had been tracked through the shot, its track stored
                prepared = [[_pass_objects(job, tracked, only, lo, hi, info, all_frames) for lo, hi in ranges]
                            for only, ranges in plan]
                if tracker is None:
                    from .track import get_tracker
                    from .registry import resolved_tracker_options
                    topts = dict(resolved_tracker_options(resolved["tracker"], job["tracker"]["options"]) or {})
                    if job.get("work_dir") and "work_dir" not in topts:
                        topts["work_dir"] = cache.work_dir  # the tracker's spill files go with the job
                    tracker = get_tracker(resolved["tracker"] if resolved["tracker"] != "masks" else "flow",
                                          model=job["tracker"]["model"], options=topts, device=job["device"])
                    owned.append(tracker)
                progress = _PassProgress([len([f for f in all_frames if lo <= f <= hi])
                                          for _only, ranges in plan for lo, hi in ranges])
                # several per-object passes in this process: a tracker that can (flow) computes each
                # frame pair's optical flow once for all of them (samatte.track.flow.FlowCache)
                share = getattr(tracker, "shared_flows", None) if len(plan) > 1 else None
                with (share() if share is not None else contextlib.nullcontext()):
                    for (only, ranges), (_only, mine), objects in zip(plan, passes, prepared):
                        yield from _track(job, tracker, source, info, tracked, tnames, all_frames, mine, keys,
                                          cache, resolved["tracker"], result, cancel, only=only, ranges=ranges,
                                          progress=progress, prepared=objects)
        if stage == "track":
            if events:  # refine-only jobs have nothing to track: every frame is "skipped"
                tracked_now = set(result["tracked"])
                for f in requested:
                    yield FrameEvent(f, "written" if f in tracked_now else "skipped", None,
                                     cache.path(f, min(sel)) if sel else None, "track")
            result["elapsed_s"] = round(time.time() - t0, 3)
            # result["tracked"] also holds frames outside --frames that the span re-tracked for them
            n_req = len(set(requested) & set(result["tracked"]))
            extra = len(result["tracked"]) - n_req
            yield Progress("done", None, len(requested), len(requested), "%d tracked, %d current%s"
                           % (n_req, len(requested) - n_req,
                              (" (+%d frame(s) of their span)" % extra) if extra else ""))
            return result

        # -- matting ------------------------------------------------------------------------------
        if not to_do:
            result["skipped"] = [writer.path(f) for f in requested]
            result["scores"] = _read_scores(writer, requested)
            if events:
                for f in requested:
                    yield FrameEvent(f, "skipped", result["scores"].get(str(f)), writer.path(f))
            result["elapsed_s"] = round(time.time() - t0, 3)
            yield Progress("done", None, len(requested), len(requested),
                           "all %d frames already complete" % len(requested))
            return result
        # every frame this run reads to matte (plate pixels, masks) is decoded once before the first frame is
        # written: a frame damaged past a good header (truncated, a bad chunk), a corrupt mask, or NaN pixels
        # with on_nonfinite "error" are their error now (before: FRAME_CORRUPT / PIXELS_NONFINITE after the
        # frames before it were written). Frames the tracker decoded in this run are not decoded again.
        yield from _check_pixels(source, masked, sorted(set(to_do) | pre | seed), cancel)
        if matter is None:
            from .matte import get_matter
            matter = get_matter(resolved["matte"], quality=job["matte"]["quality"],
                                options=job["matte"]["options"], device=job["device"],
                                foreground=out["foreground"], quality_map=out["quality_map"])
            owned.append(matter)
        import numpy as np

        from .stages import Matter, ObjectTrack, StateStore, TrackFrame
        stepper = matter
        if not isinstance(matter, Matter):
            # a backend with ``process`` only (benchmarks' stand-ins) is stateless: Matter's own
            # default ``step`` and ``restore`` around its ``process``
            stepper = Matter()
            stepper.process = matter.process  # type: ignore[method-assign]
        # the matter's temporal state, owned here: frame -> state, for the frames that refer to it
        states = StateStore()
        lossy = out["compression"].split(":")[0] in LOSSY_COMPRESSIONS
        if lossy:
            stored = _StoredState(stepper, writer, names, out,
                                  work_dir=cache.work_dir if job.get("work_dir") else None)
            owned.append(stored)
        yield Progress("setup", None, 1, 1, "%d frames, %d to do" % (len(requested), len(to_do)))
        todo_set = set(to_do)
        req_set = set(requested)
        work = _matte_order(all_frames, refs)
        work = [f for f in work if f in todo_set or f in seed or f in pre or f in req_set]
        source.prefetch([f for f in work if f in todo_set or f in pre or f in seed])
        total = len(requested)
        done = 0
        skip_scores = {}  # requested frames not written now: their stored score, read once

        def skipped_score(g):
            if g not in skip_scores:
                skip_scores[g] = writer.read_score(g)
            return skip_scores[g]
        mask_seen = {}  # object -> [mask frames read, of them empty]
        from .prompts import subtract_cuts, subtract_shapes
        cuts_of = subtract_shapes(job["objects"])  # frame -> the objects' subtract shapes there
        absent_at: dict = {}   # frame -> the objects absent there (JobSpec ``absent``)
        for o in job["objects"]:
            for g in object_absent(o):
                absent_at.setdefault(g, []).append(o["name"])
        # frames whose matte state restarts only because an object comes back after an absent span
        absent_restart = set()
        if absent_at:
            plain = temporal_refs(dict(job, objects=[dict(o, absent=None) for o in job["objects"]]), all_frames,
                                  resolved["tracker"] if tracked else "masks")
            absent_restart = {f for f in all_frames if refs.get(f) is None and plain.get(f) is not None}
        # The matte stage's ``done`` counts the frames asked for that are finished: those complete already are
        # counted from the start (before: where the matte order reached them, so a re-run whose complete frames
        # came after the frames it mattes told the time left of those complete frames as frames to matte, "1m11s
        # left" as its last frame was written, and its bar sat at 0.31-0.41, then jumped to 1.0). The whole job's
        # fraction (Progress ``part``) is the share of the frames this run computes (matted, or restored from
        # their files for a state), pre-roll frames not asked for included (before, a farm chunk's bar sat still
        # while its pre-roll was matted); a complete frame skipped takes no time and moves neither.
        pure = {g for g in work if g in req_set and g not in todo_set and g not in seed and g not in pre}
        n_work = max(1, len(work) - len(pure))
        done = len(pure)
        worked = 0   # the frames computed, counting the one in hand

        # within a frame, each phase message moves the fraction by its share of the phases the frame before had
        # (up to 90 % of the frame): a 1080p frame takes 3-4 s (a 4K one or several objects, tens of seconds),
        # and before, the bar moved once a frame
        phases = {"seen": 0, "expect": 0}

        def _mp(f, done, message, finished=False, phase=False, count=True):
            busy = 0 if (finished or f in pure) else 1
            sub = 0.0
            if phase and busy:
                phases["seen"] += bool(count)
                if phases["expect"]:
                    sub = min(0.9, phases["seen"] / (phases["expect"] + 1.0))
            return Progress("matte", f, done, total, message, part=(worked - busy + sub) / n_work)

        def _frame_starts():
            phases["expect"] = max(phases["expect"], phases["seen"])
            phases["seen"] = 0
        for f in work:
            check_cancel(cancel)
            worked += f not in pure
            ref = refs.get(f)
            if f in req_set and f not in todo_set:
                result["skipped"].append(writer.path(f))
                if f in pure:   # (a finished frame pre-rolled or seeding a state: counted below, matted or read)
                    yield _mp(f, done, "complete, skipped")
                    if events:
                        yield FrameEvent(f, "skipped", skipped_score(f), writer.path(f))
                    continue
                done += 1
            if tracked:
                tf = cache.load(f, keys[f]["track_objects"], tnames, absent=absent_at.get(f, ()), ref=ref)
                if tf is None:  # removed between the stages by someone else
                    raise TrackMissingError("the stored track of frame %d vanished from %s" % (f, cache.work_dir),
                                            frame=f, path=cache.work_dir)
                if resolved["tracker"] == "flow" and len(tnames) > 1:
                    combine_flow(tf, tnames, _flow_logit_clip(job))
            else:
                tf = TrackFrame(frame=f, objects={}, ref=ref)
            if tf.ref is not None and ref is None and f in absent_restart:
                tf.ref = None   # (a tracker that tracks through an absent span: the matte's state restarts after it)
            if tf.ref is not None and tf.ref != ref:
                log.warning("frame %d: the tracker's temporal reference %s is not the keyed one %s; "
                            "restarting the temporal state there", f, tf.ref, ref)
                tf.ref = None
            for name, (mseq, m, required) in masked.items():
                if f in m["_absent"]:
                    if name not in tf.objects:
                        tf.objects[name] = ObjectTrack(mask=np.zeros(info.shape, bool), score=0.0)
                elif _reads_mask(mseq, m, required, f):
                    tf.objects[name] = _mask_track(mseq, m, f)
                    seen = mask_seen.setdefault(name, [0, 0])
                    seen[0] += 1
                    seen[1] += not tf.objects[name].mask.any()
            tf.objects = {n: tf.objects[n] for n in names if n in tf.objects}
            if f in cuts_of:  # an object's subtract shapes stay cut in its matte, whatever the backend
                for name, cut in subtract_cuts(cuts_of[f], info).items():
                    if name in tf.objects:
                        tf.objects[name].cut = cut
            for name in absent_at.get(f, ()):   # absent here: alpha 0 whatever the backends (all cut)
                if name in tf.objects:
                    tf.objects[name].cut = np.ones(info.shape, np.float32)
            state_in = states.get(tf.ref)
            # (the store's slot follows the keyed chain ``ref``, the order's groups, not whether the state
            # was found: a chunk's first frame or a restored seed frame without its reference state must
            # not take the start slot from the (re)start whose backward chain is still to come)
            if f in seed:  # finished, and a later frame starts from its state: restore it from the file
                alphas, scores = writer.read_state(f)
                state = None
                if set(alphas) >= set(tf.objects):
                    state = stepper.restore(f, alphas, source.get(f), tf, scores=scores, state=state_in)
                if state is not None:
                    _restore_records(state, writer.read_attribute(f, "samatte/state"))
                    states.put(state, ref=ref, frame=f)
                    if f in req_set:
                        yield _mp(f, done, "complete, skipped (state from disk)", True)
                        if events:
                            yield FrameEvent(f, "skipped", skipped_score(f), writer.path(f))
                    continue
                # cannot be restored (a stateless matter, an object not written): matte it again, not written
            what = "frame %d" % f if f in todo_set else "frame %d (for the next frame's state)" % f
            _frame_starts()
            yield _mp(f, done, what + ": reading")
            plate_f = source.get(f)
            mf, state = yield from _step_phases(stepper, plate_f, tf, state_in, cancel,
                                                lambda phase, new=True: _mp(f, done, "%s: %s" % (what, phase), phase=True,
                                                                              count=new))
            if lossy and f not in todo_set:   # a pre-roll frame: its state as its file would give it
                state = stored.state(f, mf, state, state_in, plate_f, tf)
            if state is not None:
                states.put(state, ref=ref, frame=f)
            if (f in seed or f in pre) and f in req_set:
                yield _mp(f, done, "complete, skipped (matted again for its state)", True)
                if events:
                    yield FrameEvent(f, "skipped", skipped_score(f), writer.path(f))
                continue
            if f not in todo_set:
                continue  # a pre-roll frame (or a finished one matted again): its state only
            yield _mp(f, done, what + ": writing", phase=True)
            check_cancel(cancel)   # a cancelled frame is not written: the re-run mattes it again, the same
            _check_still_ours(writer, f, keys[f]["matte"], names, job["name"], out["overwrite"], _kept_plate(job))
            st = _state_json(state, names)
            meta = {"samatte/key": keys[f]["matte"], "samatte/track_key": keys[f]["track"]}
            if st is not None:
                meta["samatte/state"] = st
            path = writer.write(mf, object_layers=out["object_layers"], foreground=out["foreground"],
                                quality_map=out["quality_map"], metadata=meta,
                                claim=functools.partial(_check_still_ours, writer, f, keys[f]["matte"], names,
                                                        job["name"], out["overwrite"], _kept_plate(job)))
            if lossy:   # the next frame starts from this frame as written, as a resumed run does
                state = stored.state(f, mf, state, state_in, plate_f, tf, written=True)
                if state is not None:
                    states.put(state, ref=ref, frame=f)
            result["written"].append(path)
            result["scores"][str(f)] = round(float(mf.score), 4)
            done += 1
            yield _mp(f, done, "", True)
            if events:
                yield FrameEvent(f, "written", round(float(mf.score), 4), path)
        _warn_empty_masks(mask_seen, masked)
        for f in requested:
            if str(f) not in result["scores"]:
                s = skipped_score(f)
                if s is not None:
                    result["scores"][str(f)] = s
        result["scores"] = {k: result["scores"][k] for k in sorted(result["scores"], key=int)}
        result["skipped"] = sorted(result["skipped"])
        result["preroll"] = sorted(pre)
        result["elapsed_s"] = round(time.time() - t0, 3)
        yield Progress("done", None, total, total, "%d written, %d skipped"
                       % (len(result["written"]), len(result["skipped"])))
        return result
    finally:
        for b in owned:
            try:
                b.close()
            except Exception:  # pragma: no cover - closing must not hide the real error
                log.exception("closing %r failed", b)
        source.close()


def _step_phases(stepper, plate, track, state, cancel, report):
    """``stepper.step(plate, track, state)`` through its :meth:`~samatte.stages.Matter.step_iter`: yields
    ``report(phase)`` (a Progress) before each phase of the frame and checks ``cancel`` there, so a 4K
    frame of several seconds keeps the host informed and stops within a phase of a Cancel; returns
    ``(MatteFrame, state)``. A matter without ``step_iter`` (a stand-in with ``step`` only) runs as one
    phase."""
    step_iter = getattr(stepper, "step_iter", None)
    if step_iter is None:
        with cancel_scope(cancel):
            return stepper.step(plate, track, state)
    gen = step_iter(plate, track, state)
    last = None
    try:
        while True:
            try:
                # (the phase runs in the cancel's scope: its long computations, a 4K object's solve, stop at
                # their checkpoints; the matter's threads run in a copy of this context)
                with cancel_scope(cancel):
                    phase = next(gen)
            except StopIteration as stop:
                return stop.value
            check_cancel(cancel)
            # a phase named again is the matter's heartbeat while it waits on a long one: told, not counted
            yield report(phase, phase != last)
            last = phase
            check_cancel(cancel)
    finally:
        with cancel_scope(cancel):   # (closing it waits for the objects under way: they stop at a checkpoint)
            gen.close()


def _flow_logit_clip(job):
    from .track.flow import _options
    return float(_options(job["tracker"].get("options"))["logit_clip"])


def combine_flow(tf, names, logit_clip):
    """The flow tracker's last step over objects tracked one at a time (samatte.track.flow, its output
    loop): every pixel goes to the object whose canvas logit is highest (to each of them on a tie:
    objects both fully inside their shapes, a prop drawn inside the hero, share the pixel; on an
    object's keyframe its keyframe mask counts as +-(logit_clip + 1)), foreground where that logit is
    > 0; an object that keeps no pixel scores 0. Applied to objects tracked together it changes
    nothing, so it is exact either way. Changes ``tf`` in place and returns it."""
    import cv2
    import numpy as np
    from .track.flow import key_logit, owned_masks
    K = float(logit_clip)
    H, W = np.asarray(tf.objects[names[0]].mask).shape

    def canvas_logit(o):
        ot = tf.objects[names[o]]
        if ot.keyframe or ot.logits is None:
            return key_logit(np.asarray(ot.mask, bool), K)
        return np.asarray(cv2.resize(np.asarray(ot.logits, np.float32), (W, H), interpolation=cv2.INTER_LINEAR),
                          np.float32)
    for n, m in zip(names, owned_masks(canvas_logit, len(names))):
        ot = tf.objects[n]
        ot.mask = m
        if not ot.mask.any():
            ot.score = 0.0
    return tf


def _select_objects(objects, stage, tnames, tname):
    """Indices (among the tracked objects) that this run tracks: all, or the named ones."""
    if objects is None:
        return set(range(len(tnames)))
    names = [n.strip() for n in objects.split(",")] if isinstance(objects, str) else [str(n) for n in objects]
    names = [n for n in names if n]     # "a,b," as "a,b" (as frame ranges take "1001,"), never "" as a name
    if stage != "track":
        raise JobSpecError("objects= (--objects) needs stage track: matting uses every object's track",
                           field="objects")
    if not names:
        # a per-object task whose name came out empty tracks nothing rather than every object
        raise JobSpecError("objects is empty: name the tracked objects to track (tracked: %s) or leave the "
                           "option out to track them all" % (", ".join(tnames) or "none"), field="objects")
    unknown = [n for n in names if n not in tnames]
    if unknown:
        raise JobSpecError("objects %s are not tracked objects of the job (tracked: %s)"
                           % (", ".join(unknown) or "(none)", ", ".join(tnames) or "none"), field="objects")
    sel = {tnames.index(n) for n in names}
    if len(sel) < len(tnames) and tname not in INDEPENDENT_TRACKERS:
        raise JobSpecError("the %s tracker tracks all objects together (one object's track depends on the others); "
                           "--objects needs a tracker that treats them independently (%s)"
                           % (tname, ", ".join(INDEPENDENT_TRACKERS)), field="objects")
    return sel


class _PassProgress:
    """One progress over the tracker passes of a run (one per object with an independent tracker, one
    per range it re-tracks): each pass's own ``done``/``total`` becomes its share of the whole, in frames
    (``sizes``: the frames of each pass, in the order they run), so the stage's progress never goes back
    and reaches its total once, at the end. A single pass keeps the tracker's own counts."""

    def __init__(self, sizes):
        self.sizes = list(sizes)
        self.total = sum(self.sizes)
        self.index = 0
        self.offset = 0

    def scale(self, p):
        if len(self.sizes) <= 1 or self.index >= len(self.sizes):
            return p
        w = self.sizes[self.index]
        share = min(w, w * p.done // p.total) if p.total else 0
        part = getattr(p, "part", None)   # (the pass's share that its done leaves out: its reading)
        return Progress(p.stage, p.frame, self.offset + share, self.total, p.message,
                        part=None if part is None else (self.offset + w * part) / self.total)

    def next_pass(self):
        if self.index < len(self.sizes):
            self.offset += self.sizes[self.index]
            self.index += 1


def _pass_objects(job, tracked, only, lo, hi, info, all_frames):
    """The tracker objects of one pass of :func:`_track` over the range ``lo``-``hi`` (``only``: as there):
    their prompts on those frames, prepared (:func:`samatte.prompts.prepare_objects`: PromptError for a bad
    one); None when every one of them is absent on every frame there (no tracker runs)."""
    from .prompts import prepare_objects
    idx = list(range(len(tracked))) if only is None else sorted(only)
    part = [tracked[i] for i in idx]
    sub = [f for f in all_frames if lo <= f <= hi]
    if all(object_absent(o).issuperset(sub) for o in part):
        return None
    # where each tracked object sits in the job (``tracked`` is its objects with prompts), so a prompt
    # error names the job's objects[i].prompts[j], not its place in this pass's subset
    jpos = [k for k, o in enumerate(job["objects"]) if o.get("prompts")]
    keep = [[j for j, q in enumerate(o["prompts"]) if lo <= q["frame"] <= hi] for o in part]
    objs = [dict(o, prompts=[o["prompts"][j] for j in ks]) for o, ks in zip(part, keep)]
    return prepare_objects(objs, info, sub, origins=[(jpos[i], ks) for i, ks in zip(idx, keep)])


def _track(job, tracker, source, info, tracked, tnames, all_frames, stale, keys, cache, tname, result, cancel,
           *, only, ranges, progress, prepared=None):
    """Track ``ranges`` (:func:`_track_ranges`: those that serve the ``stale`` frames) and store every
    frame they fully decide (``only``: indices of the tracked objects to track, the others are left out
    of the tracker, or None for all; ``progress``: the :class:`_PassProgress` over the run's passes;
    ``prepared``: per range, its :func:`_pass_objects`, when the caller has checked them already)."""
    from .cachekey import _interval_of
    idx = list(range(len(tracked))) if only is None else sorted(only)
    part = [tracked[i] for i in idx]
    intervals = [_interval_of(o, all_frames, tname) for o in part]
    stale_set = set(stale)
    if prepared is None:
        prepared = [_pass_objects(job, tracked, only, lo, hi, info, all_frames) for lo, hi in ranges]
    for (lo, hi), tobjs in zip(ranges, prepared):
        sub = [f for f in all_frames if lo <= f <= hi]
        if tobjs is None:   # absent on every frame here: an empty track, no tracker
            items = _absent_frames(part, sub, info)
        else:
            items = tracker.track(source, tobjs, sub, cancel=cancel)
        for item in items:
            if isinstance(item, Progress):
                yield progress.scale(item)
                continue
            check_cancel(cancel)
            f = item.frame
            own = [interval(f) for interval in intervals]
            okeys = keys[f]["track_objects"]
            if all(lo <= a and b <= hi for a, b in own) and (f in stale_set or not
                                                            all(cache.has(f, i, okeys[i], shared=False) for i in idx)):
                cache.save(item, okeys, tnames, only=set(idx))
                result["tracked"].append(f)
        progress.next_pass()
    result["tracked"] = sorted(set(result["tracked"]))


def _absent_frames(objects, frames, info):
    """The track of ``objects`` on ``frames`` where every one of them is absent (JobSpec ``absent``): empty
    masks, score 0, no reference (a range's first frame has none either way: the matte stage gives an object
    absent on a frame no say in its reference, ``TrackCache.load(absent=...)``)."""
    import numpy as np

    from .stages import ObjectTrack, TrackFrame
    for f in frames:
        yield TrackFrame(frame=f, objects={o["name"]: ObjectTrack(mask=np.zeros(info.shape, bool), score=0.0,
                                                                  keyframe=False, edge="rough") for o in objects},
                         ref=None)


def _canvas(info):
    """The canvas window ``(x, y, w, h)`` of a plate's :class:`samatte.stages.PlateInfo` (the data window a run
    works on), what :class:`samatte.trackcache.TrackCache` checks stored tracks against."""
    return (info.data.x, info.data.y, info.data.width, info.data.height)


def _read_scores(writer, frames):
    reader = getattr(writer, "read_score", None)
    out = {}
    if reader is None:
        return out
    for f in frames:
        s = reader(f)
        if s is not None:
            out[str(f)] = s
    return out


# -- host queries (the worker answers them; hosts need no OpenImageIO) ----------------------------------

def frame_status(job, *, frames=None):
    """Per frame of the job: ``"complete"`` (its output carries the current key), ``"stale"`` (a file is
    there with another key) or ``"missing"``; the same for the stored track; and the resolved backends.
    ``{"frames": {"1001": ...}, "track": {...}, "resolved": {...}, "keys": {...}, "work_dir": path,
    "problems": {"1001": {"status": "stale" | "foreign", "problem": text}}}`` (``problems``: each output
    frame there that is not complete: ``"foreign"`` a file a re-run does not replace, not samatte's or
    another job's; ``"stale"`` one it redoes)."""
    job = load_job(job)
    from .cachekey import frame_keys
    from .io.sequence import SequencePattern
    from .io.writer import MatteWriter
    from .jobspec import shared_work_dir
    from .trackcache import TrackCache, default_work_dir
    plate_seq = SequencePattern(job["plate"]["path"])
    all_frames = _resolve_frames(job, plate_seq)
    wanted = _subset(frames, all_frames)
    resolved = resolve_backends(job)
    keys = frame_keys(job, resolved=resolved, plate_frames=all_frames)
    from .io.source import plate_canvas
    # the canvas a run works on (the display window when the frames' data windows vary)
    info = plate_canvas(plate_seq, all_frames, layer=job["plate"].get("layer"))[0]
    writer = MatteWriter(_output_pattern(job).source, info, compression=job["output"]["compression"], prepare=False,
                           object_layers=job["output"]["object_layers"])
    cache = TrackCache(default_work_dir(job), create=False, canvas=_canvas(info), shared=shared_work_dir(job))
    names = [o["name"] for o in job["objects"]]
    tracked = any(o.get("prompts") for o in job["objects"])
    from .frames import format_frames
    from .jobspec import object_absent
    # per object with an ``absent`` among the frames asked: the frames it is absent on (its alpha is 0 there)
    gone = {o["name"]: format_frames(sorted(object_absent(o) & set(wanted))) for o in job["objects"]}
    out = {"frames": {}, "track": {}, "resolved": resolved, "keys": {}, "work_dir": cache.work_dir,
           "absent": {k: v for k, v in gone.items() if v}, "problems": {}}
    for f in wanted:
        st, why = writer.file_problem(f, key=keys[f]["matte"], objects=names, job=job["name"],
                                      plate=_kept_plate(job))
        out["frames"][str(f)] = {"complete": "complete", "missing": "missing"}.get(st, "stale")
        if st not in ("complete", "missing"):
            # what is wrong with it; "foreign": a file a re-run does not replace (not samatte's, or another job's)
            out["problems"][str(f)] = {"status": st, "problem": why}
        if tracked:
            ok = keys[f]["track_objects"]
            ks = [cache.stored_key(f, i, ok[i]) for i in range(len(ok))]
            out["track"][str(f)] = "missing" if any(k is None for k in ks) else \
                ("complete" if all(cache.has(f, i, k) for i, k in enumerate(ok)) else "stale")
        else:
            out["track"][str(f)] = "complete"  # refine-only: nothing to track
        out["keys"][str(f)] = keys[f]
    # the output writer's temp files in the frames' folders (a pre-empted node's frame in flight): not frames,
    # reported, never removed here (a later run's writer removes the abandoned ones)
    from .io.writer import leftover_temps
    folders = dict.fromkeys(os.path.dirname(writer.path(f)) or "." for f in wanted)
    out["temps"] = [t for d in folders for t in leftover_temps(d)]
    return out


COORDINATES = ("JobSpec coordinates are pixels of the display window, origin top-left, x right, y down; "
               "pixel (i, j) covers [i, i+1) x [j, j+1), its centre is (i + 0.5, j + 0.5). The data window "
               "(the pixels stored in the file) may differ from the display window (overscan, crop): the "
               "output keeps both. Pixel aspect: x is in stored pixels (a 2:1 anamorphic plate of 1024 "
               "stored pixels is 1024 wide in JobSpec x). A frame number is the number in the file name; "
               "hosts convert from their timeline.")


def _plate_read_as(source, colour, plate):
    """``(colourspace, colour)``: the colourspace the plate's stored values are read in (from its first
    frame's header) and the transform that reads them. The job's colourspace; else, for a float OpenEXR
    whose header names one the config resolves (``colorInteropID`` / ``colorSpace``, or
    ``chromaticities`` of a known gamut: :func:`samatte.colour.resolve_header`), that one (``colour`` is
    replaced by a transform from it, in ``source`` too); else the config's ``scene_linear`` for a float
    file (with a warning when its header names something the config cannot resolve), or ``"sRGB"`` for
    an integer file the job names no colourspace for (PNG, JPEG, TIFF, DPX: taken as display sRGB).
    Warns when that file's header declares a log encoding (a film-scan DPX, a Cineon file): Nuke reads
    such files as Cineon, and samatte's sRGB reading gives the linear solves and the foreground layer
    wrong light."""
    from .io.exr import stored_encoding
    if colour.colourspace_explicit:
        return colour.colourspace, colour
    first = source.frames[0]
    path = source.path(first)
    enc = stored_encoding(path, layer=plate.get("layer"), frame=first)
    if not enc["display_referred"]:
        colour = _header_colour(colour, plate, enc, path)
        source.colour = colour
        return colour.colourspace, colour
    if enc["log"]:
        log.warning("plate %s is %s, but the job names no colourspace, so samatte reads it as sRGB (as it reads "
                    "every integer file without one): name its colourspace (--colourspace / plate.colourspace, "
                    "with --ocio / plate.ocio_config: e.g. Cineon in Nuke's nuke-default, ADX10 in "
                    "ocio://studio-config-latest)", path, enc["log"])
    return "sRGB", colour


def _read_colour(colour, read_as):
    """The result's ``colour``: ``colour.describe()``, saying what the plate was read as. An integer plate
    the job names no colourspace for is read as sRGB, decoded with the sRGB curve (its linear pixels, the
    foreground layer's, in Rec.709 primaries), not in the config's ``scene_linear``: ``colourspace``
    ``sRGB``, ``colourspace_from`` ``integer`` (as ``samatte probe``'s ``read_as``; before, the result
    said ``ACEScg`` / ``scene_linear`` beside ``plate.colourspace`` ``sRGB``)."""
    d = colour.describe()
    if not colour.colourspace_explicit and read_as != colour.colourspace:
        d.update(colourspace=read_as, colourspace_from="integer")
    return d


def _header_colour(colour, plate, enc, path, *, warn=True):
    """``colour``, or a transform from the colourspace a float plate's header names (``enc``:
    :func:`samatte.io.exr.stored_encoding` of its first frame, ``path``) when the job names none."""
    from .colour import ColourTransform
    if colour.colourspace_explicit or enc["pixel_type"] not in ("half", "float", "double") or not enc["colour"]:
        return colour
    from .errors import ColourError
    try:
        from_header = ColourTransform(config=colour.config, header=enc["colour"])
    except ColourError as e:   # a colourspace OCIO cannot show or decode: read as before
        if warn:
            log.warning("plate %s: its header names %r, but %s: samatte reads it as the config's scene_linear "
                        "(%s); name its colourspace (--colourspace / plate.colourspace)",
                        path, enc["colour"].get("name"), str(e).strip(), colour.colourspace)
        return colour
    from_header.config_source = colour.config_source   # the config the job names, as the job names it
    if from_header.header_warning and warn:
        log.warning("plate %s: %s (the config's scene_linear: %s)", path, from_header.header_warning,
                    colour.colourspace)
    return from_header if from_header.colourspace_from == "header" else colour


def plate_colour(plate, frame):
    """The :class:`samatte.colour.ColourTransform` a job's plate (``job["plate"]``) is read with, its
    first frame being ``frame`` (see :func:`_plate_read_as`; no warnings)."""
    from .colour import ColourTransform
    from .io.exr import stored_encoding
    from .io.sequence import SequencePattern
    colour = ColourTransform(config=plate.get("ocio_config"), colourspace=plate.get("colourspace"))
    if colour.colourspace_explicit:
        return colour
    path = SequencePattern(plate["path"]).path(int(frame))
    enc = stored_encoding(path, layer=plate.get("layer"), frame=int(frame))
    return _header_colour(colour, plate, enc, path, warn=False)


def probe(plate_path, *, frames=None, layer=None, ocio_config=None):
    """What a host needs to know about a plate without OpenImageIO: display and data windows
    ``[x, y, w, h]``, ``pixel_aspect``, ``channels``, ``layers``, ``frames_on_disk`` (range string),
    ``first``, ``last``, ``colourspace`` (from the header, or None), ``coordinates`` (the rules).
    Windows, channels, pixel type and colourspace are those of the part a job with ``layer`` reads
    (a multi-part EXR's parts may differ); ``layers`` holds every part's ``layer.`` prefixes and,
    in a multi-part file, the part names. ``chromaticities``: an EXR header's 8 CIE xy values, or None;
    ``read_as``: what a job naming no colourspace reads the plate as, with ``ocio_config`` (default:
    ``$OCIO``, else the built-in config): ``{"colourspace", "from": "header" | "scene_linear" |
    "integer" (sRGB), "note" (how the header decided, or why it could not), "config"}``."""
    from .errors import ChannelError
    from .io.exr import _part_name, _resolve, _subimages, file_views, header_colour, header_colourspace, open_image
    from .io.sequence import SequencePattern
    seq = SequencePattern(plate_path)
    on_disk = seq.frames_on_disk() if seq.has_frame_token else []
    if frames is not None:
        want = parse_frames(frames)
        _require_plate_frames(seq, want)
    else:
        want = on_disk
    if seq.has_frame_token and not want:
        raise MissingFrameError("no frames of the plate %s were found on disk%s" % (seq.source, seq.padding_hint()),
                                path=seq.source)
    first = seq.path(want[0]) if seq.has_frame_token else seq.source
    inp = open_image(first)
    try:
        subs = _subimages(inp)
        # the part a job would read (its windows and pixel type, not those of the file's last part):
        # for a layer the plate lacks CHANNELS_INVALID now, not from the job later
        try:
            spec = _resolve(inp, first, layer, want[0] if seq.has_frame_token else None)[2]
        except ChannelError:
            if layer:
                raise
            spec = subs[0][1]  # no RGB without a layer: still describe the file, so a host can pick one
        names = list(spec.channelnames)
        layers = {n.rsplit(".", 1)[0] for _, sp in subs for n in sp.channelnames if "." in n}
        if len(subs) > 1:  # a multi-part file's part names are layers too (``layer="beauty"`` reads part beauty)
            layers |= {_part_name(sp) for _, sp in subs if _part_name(sp)}
        layers |= set(file_views(subs))   # a stereo / multi-view EXR's views (``layer="left"``: that eye)
        layers = sorted(layers)
        cs = header_colourspace(spec, inp.format_name())
        res = {"path": seq.source, "display_window": [spec.full_x, spec.full_y, spec.full_width, spec.full_height],
               "data_window": [spec.x, spec.y, spec.width, spec.height],
               "pixel_aspect": float(spec.getattribute("PixelAspectRatio") or 1.0),
               "channels": names, "layers": layers, "layer": layer,
               "frames_on_disk": format_frames(on_disk) if on_disk else "",
               "first": want[0] if want else None, "last": want[-1] if want else None,
               "colourspace": cs, "pixel_type": str(spec.format), "coordinates": COORDINATES}
        hc = header_colour(spec, inp.format_name())
        res["chromaticities"] = list(hc["chromaticities"]) if hc and hc["chromaticities"] else None
        res["read_as"] = _probe_read_as(spec, hc, ocio_config, inp.format_name())
    finally:
        inp.close()
    return res


def _probe_read_as(spec, hc, ocio_config, format_name=""):
    """What a job that names no colourspace reads a plate as (see :func:`_plate_read_as`):
    ``{"colourspace", "from": "header"|"scene_linear"|"integer", "note", "config"}`` (``note``: how
    the header decided, or why it could not; an unloadable config: ``colourspace`` None, ``note`` why)."""
    from .colour import ColourTransform
    from .errors import SamatteError
    from .io.exr import is_display_referred, log_encoding
    if is_display_referred(spec, spec.getattribute("oiio:ColorSpace")):
        # a log film scan read as sRGB: said here as the run warns it (before, probe said only "sRGB
        # (integer)" for a 10-bit printing-density DPX, and a host checking the plate saw nothing amiss)
        log_text = log_encoding(spec, format_name)
        note = ("the file is %s, but integer files are read as sRGB unless the job names their colourspace: "
                "name it (--colourspace / plate.colourspace, with --ocio / plate.ocio_config: e.g. Cineon in "
                "Nuke's nuke-default, ADX10 in ocio://studio-config-latest)" % log_text) if log_text else None
        return {"colourspace": "sRGB", "from": "integer", "note": note, "config": None}
    try:
        float_plate = str(spec.format) in ("half", "float", "double")
        ct = ColourTransform(config=ocio_config, header=hc if float_plate else None)
    except SamatteError as e:
        return {"colourspace": None, "from": None, "note": str(e), "config": ocio_config}
    return {"colourspace": ct.colourspace, "from": ct.colourspace_from, "note": ct.header_how or ct.header_warning,
            "config": ct.config_source}
