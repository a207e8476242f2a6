"""The job pipeline: JobSpec in, matte EXR frames out, as a generator that yields Progress.

    plate (FrameSource: EXR -> OCIO) -> tracker (TrackFrame per frame) -> matter (MatteFrame)
        -> MatteWriter (atomic EXR) -> result dict

Streaming: every stage holds a bounded number of frames, so memory stays flat with shot length.
Cancellation: the token is checked between frames (and by the backends inside their loops).
Resume: frames whose output is already complete for this job are not written again; where the
matter's temporal state needs a skipped neighbour, it is seeded from the finished file on disk (or
the neighbour is matted again when the backend cannot be seeded).
"""
import logging
import os
import time

from . import __version__
from .errors import MissingFrameError, OutputError, SamatteError
from .frames import format_frames
from .jobspec import job_frames, load as load_job_file, validate
from .progress import Progress, check_cancel

log = logging.getLogger("samatte")

__all__ = ["run", "run_iter", "load_job"]


def load_job(job):
    """A JobSpec given as a dict, a JSON string or a path to a .json file -> validated dict."""
    if isinstance(job, dict):
        return validate(job)
    if isinstance(job, (str, os.PathLike)):
        s = os.fspath(job)
        if s.lstrip().startswith("{"):
            return validate(s)
        return load_job_file(s)
    raise SamatteError("a job must be a dict, a JSON string or a path, not %s" % type(job).__name__)


def run(job, *, on_progress=None, cancel=None, tracker=None, matter=None):
    """Run a job to completion and return its result dict (see :func:`run_iter`)."""
    gen = run_iter(job, cancel=cancel, tracker=tracker, matter=matter)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


def _resolve_frames(job, seq):
    wanted = job_frames(job)
    if wanted is None:
        wanted = seq.default_frames()
        if not wanted:
            raise MissingFrameError("no frames of the plate %s were found on disk" % seq.source, path=seq.source)
    missing = [f for f in wanted if not os.path.exists(seq.path(f))]
    if missing:
        raise MissingFrameError("%d plate frame(s) missing: %s (pattern %s)"
                                % (len(missing), format_frames(missing)[:200], seq.source),
                                frames=format_frames(missing), path=seq.source)
    return wanted


def _check_output(job, plate_pattern):
    out = job["output"]["path"]
    from .io.sequence import SequencePattern
    try:
        oseq = SequencePattern(out)
    except SamatteError as e:
        raise OutputError("output path %r is not a frame pattern: %s" % (out, e.message), path=out)
    if not oseq.has_frame_token:
        raise OutputError("output path %r has no frame number token (####, %%04d, $F4 or @)" % out, path=out)
    if os.path.abspath(plate_pattern.path(1)) == os.path.abspath(oseq.path(1)):
        raise OutputError("output path %r would overwrite the plate" % out, path=out)
    folder = os.path.dirname(os.path.abspath(oseq.path(1)))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot create output folder %s: %s" % (folder, e.strerror or e), path=folder)
    if not os.access(folder, os.W_OK):
        raise OutputError("output folder %s is not writable" % folder, path=folder)


def _mask_objects(job, info, frames):
    """Refine-only objects: name -> (MaskSequence, threshold)."""
    from .io.masks import MaskSequence
    out = {}
    for o in job["objects"]:
        if "masks" not in o:
            continue
        m = o["masks"]
        seq = MaskSequence(m["path"], info, channel=m.get("channel"))
        have = set(seq.frames)
        missing = [f for f in frames if f not in have]
        if missing:
            raise MissingFrameError("object %r: %d mask frame(s) missing: %s (pattern %s)"
                                    % (o["name"], len(missing), format_frames(missing)[:200], m["path"]),
                                    object=o["name"], frames=format_frames(missing), path=m["path"])
        out[o["name"]] = (seq, float(m.get("threshold", 0.5)))
    return out


def _ascending_stream(frames):
    from .stages import TrackFrame
    prev = None
    for f in frames:
        yield TrackFrame(frame=f, objects={}, ref=prev)
        prev = f


def _job_metadata(job, tracker_name, matter_name):
    from .io.writer import job_hash
    return {
        "samatte/job_hash": job_hash(job),   # the writer adds samatte/version and, per frame, samatte/objects
        "samatte/job": job["name"],
        "samatte/tracker": tracker_name,
        "samatte/matte": matter_name,
        "samatte/model": job["tracker"]["model"] if tracker_name == "sam2" else tracker_name,
    }


def run_iter(job, *, cancel=None, tracker=None, matter=None):
    """Run a job as a generator: yields :class:`Progress`, returns the result dict.

    ``tracker`` / ``matter``: backend instances to use instead of the ones the JobSpec names (tests,
    benchmarks and embedding applications).
    """
    t0 = time.time()
    job = load_job(job)
    yield Progress("setup", None, 0, 1, "reading plate")
    from .colour import ColourTransform
    from .io.source import FrameSource
    from .io.writer import MatteWriter
    from .stages import ObjectTrack

    from .io.sequence import SequencePattern
    plate = job["plate"]
    plate_seq = SequencePattern(plate["path"])
    frames = _resolve_frames(job, plate_seq)
    _check_output(job, plate_seq)
    colour = ColourTransform(config=plate.get("ocio_config"), colourspace=plate.get("colourspace"))
    source = FrameSource(plate_seq, frames, layer=plate.get("layer"), colour=colour,
                         on_nonfinite=plate.get("on_nonfinite", "fix"))
    owned = []  # backends we created and must close
    try:
        info = source.info
        fset = set(frames)  # prepare_objects rejects prompts on frames outside it
        from .prompts import prepare_objects
        tracked = [o for o in job["objects"] if "prompts" in o]
        tobjs = prepare_objects(tracked, info, frames) if tracked else []
        masked = _mask_objects(job, info, frames)

        if tracker is None and tobjs:
            from .track import get_tracker
            topts = dict(job["tracker"]["options"])
            if job.get("work_dir") and "work_dir" not in topts:
                os.makedirs(job["work_dir"], exist_ok=True)
                topts["work_dir"] = job["work_dir"]
            tracker = get_tracker(job["tracker"]["backend"], model=job["tracker"]["model"],
                                  options=topts, device=job["device"])
            owned.append(tracker)
        if matter is None:
            from .matte import get_matter
            matter = get_matter(job["matte"]["backend"], quality=job["matte"]["quality"],
                                options=job["matte"]["options"], device=job["device"],
                                foreground=job["output"]["foreground"], quality_map=job["output"]["quality_map"])
            owned.append(matter)
        tracker_name = getattr(tracker, "name", "masks") if tobjs else "masks"
        matter_name = getattr(matter, "name", type(matter).__name__)

        out = job["output"]
        writer = MatteWriter(out["path"], info, compression=out["compression"],
                             metadata=_job_metadata(job, tracker_name, matter_name),
                             overwrite=out["overwrite"])
        complete = set() if out["overwrite"] else {f for f in frames if writer.is_complete(f)}
        result = {
            "job": job["name"], "status": "done", "frames": list(frames), "written": [], "skipped": [],
            "output": out["path"], "tracker": tracker_name, "matte": matter_name, "scores": {},
            "samatte_version": __version__, "colour": colour.describe(),
            "plate": {"width": info.display.width, "height": info.display.height,
                      "data_window": [info.data.x, info.data.y, info.data.width, info.data.height],
                      "pixel_aspect": info.pixel_aspect},
        }
        if len(complete) == len(frames):
            result["skipped"] = [writer.path(f) for f in frames]
            result["scores"] = _read_scores(writer, frames)
            result["elapsed_s"] = round(time.time() - t0, 3)
            yield Progress("done", None, len(frames), len(frames), "all %d frames already complete" % len(frames))
            return result
        yield Progress("setup", None, 1, 1, "%d frames, %d to do" % (len(frames), len(frames) - len(complete)))

        # Frames we must matte: the incomplete ones. A complete frame whose neighbour is incomplete is
        # needed for the neighbour's temporal state: seeded from disk when the matter supports it.
        neighbours = {}
        for i, f in enumerate(frames):
            neighbours[f] = [frames[j] for j in (i - 1, i + 1) if 0 <= j < len(frames)]
        can_seed = hasattr(matter, "seed")
        stream = (tracker.track(source, tobjs, frames, cancel=cancel) if tobjs else _ascending_stream(frames))
        done = 0
        total = len(frames)
        for item in stream:
            if isinstance(item, Progress):
                yield item
                continue
            check_cancel(cancel)
            tf = item
            f = tf.frame
            if f not in fset:
                continue
            is_complete = f in complete
            needed_by_neighbour = any(n not in complete for n in neighbours[f])
            if is_complete and not needed_by_neighbour:
                done += 1
                result["skipped"].append(writer.path(f))
                yield Progress("matte", f, done, total, "complete, skipped")
                continue
            for name, (mseq, thr) in masked.items():
                tf.objects[name] = ObjectTrack(mask=mseq.get(f) >= thr, logits=None, score=1.0, keyframe=True)
            if is_complete and can_seed:
                alphas, scores = writer.read_state(f)
                if set(alphas) >= set(tf.objects):  # every object's alpha is on disk: seed from it
                    matter.seed(f, alphas, source.get(f), tf, scores=scores)
                    done += 1
                    result["skipped"].append(writer.path(f))
                    yield Progress("matte", f, done, total, "complete, skipped (state from disk)")
                    continue
            plate_f = source.get(f)
            mf = matter.process(plate_f, tf)
            if is_complete:
                result["skipped"].append(writer.path(f))
            else:
                path = writer.write(mf, object_layers=out["object_layers"], foreground=out["foreground"],
                                    quality_map=out["quality_map"])
                result["written"].append(path)
            result["scores"][str(f)] = round(float(mf.score), 4)
            done += 1
            yield Progress("matte", f, done, total, "")
        if done != total:
            raise SamatteError("internal error: the %s tracker produced %d of %d frames"
                               % (tracker_name, done, total))
        missing_scores = [f for f in frames if str(f) not in result["scores"]]
        if missing_scores:
            result["scores"].update(_read_scores(writer, missing_scores))
        result["scores"] = {k: result["scores"][k] for k in sorted(result["scores"], key=int)}
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
