"""The TD's Python API: a job from a plate and prompt files, a local run with progress, a farm
export, the per-frame scores and QC, each in a line or two::

    from samatte import api
    job = api.job("plates/sh010.####.exr", "mattes/sh010.####.exr",
                  prompts={"hero": ["roto/hero.1012.png"]}, masks={"car": "roto/car.####.png"})
    result = api.run(job, progress=lambda p: print(p.stage, p.frame, p.done, p.total))
    bundle = api.export(job, "farm/sh010", chunk=10)      # a Deadline Cloud / OpenJD job bundle
    scores = api.scores(job)                              # {1001: 0.93, ...} from the EXRs
    report = api.qc(job)                                  # every frame present, readable, current

``job`` builds and validates a JobSpec (:mod:`samatte.jobspec`); everything else takes a JobSpec
dict, its JSON text or the path of a ``.json`` file.
"""
import os
import re

from .errors import PromptError

__all__ = ["job", "save", "run", "export", "scores", "qc", "status", "frame_from_path"]

# the last group of digits; a "-" before it is a sign only where it follows no letter or digit
# (``hero.-005.png`` is frame -5, ``hero-1012.png`` frame 1012: what ``hero-####.png`` writes for them)
_FRAME_RX = re.compile(r"((?<![^\W_])-)?\d+(?=\D*$)")


def frame_from_path(path):
    """The frame number in a file name: the last group of digits (``hero.1012.png`` -> 1012), negative
    when a ``-`` that follows no letter or digit leads it (``hero.-005.png`` -> -5; ``hero-1012.png``
    -> 1012, the dash a separator, as the pattern ``hero-####.png`` reads it)."""
    m = _FRAME_RX.search(os.path.basename(str(path)))
    if not m:
        raise PromptError("no frame number in the prompt file name %r (name it like hero.1012.png, or "
                          "give (frame, path))" % str(path), path=str(path))
    return int(m.group(0))


def _abs(p):
    """A path argument (str or ``os.PathLike``) as an absolute path (``~`` the home folder); None and
    anything else as it is (validation says what is wrong with it). ``api.job`` makes every path it is
    given absolute, so a job saved elsewhere (``api.save(job, "jobs/sh010.json")``, where a JobSpec
    file's relative paths are its own folder's) still names the same files. A Windows absolute path on Linux /
    macOS (``Z:\\shots\\...``, a job built for Windows nodes) is as it is, as :func:`samatte.jobspec.resolve_paths`
    leaves it (before, ``<current folder>/Z:\\shots\\...``, one file name here, which ``farm export`` could not map;
    a prompt or ``masks`` dict's path was kept until they were made absolute too)."""
    from .jobspec import windows_abs
    if isinstance(p, os.PathLike):
        p = os.fspath(p)
    if not isinstance(p, str):
        return p
    if os.name != "nt" and windows_abs(p):
        return p
    return os.path.abspath(os.path.expanduser(p))


def _is_path(v):
    return isinstance(v, (str, os.PathLike))


def _pair_frame(v):
    """The frame of a ``(frame, path)`` prompt: a whole number (numpy's too), a float with no fraction (a
    host's frame knob) or the text of one; None for anything else (a bool, 1004.5: it was cut to 1004)."""
    from .frames import _whole
    n = _whole(v)
    if n is not None:
        return n
    if isinstance(v, float) or type(v).__name__.startswith("float"):
        return int(v) if float(v).is_integer() else None
    if isinstance(v, str) and re.fullmatch(r"\s*-?\d+\s*", v):
        return int(v)
    return None


def _repr(v):
    """``repr(v)`` for an error message, never itself an error: a list nested thousands deep raised
    RecursionError (a traceback, not PROMPT_INVALID), an int of 5000 digits ValueError."""
    try:
        return repr(v)
    except (RecursionError, ValueError):
        from .jobspec import _short
        return _short(v)


def _prompt(item, obj):
    from . import jobspec
    if isinstance(item, dict):
        q = dict(item)
        if q.get("type") == "mask" and _is_path(q.get("path")):
            q["path"] = _abs(q["path"])   # a relative one was kept: the saved job read it from its own folder
        return q
    if isinstance(item, (tuple, list)) and len(item) == 2:
        frame = _pair_frame(item[0])
        if frame is None or not _is_path(item[1]):   # 1004.5 was cut to 1004
            raise PromptError("object %r: a (frame, path) prompt needs a whole frame number and a file path, got %s"
                              % (obj, _repr(tuple(item))), object=str(obj))
        path = _abs(item[1])
        seq = _file_pattern(path)
        # (frame, "roto/hero.####.png"): that frame's file of the sequence (the pattern itself is no file)
        return jobspec.mask_prompt(frame, seq.path(frame) if seq is not None else path)
    if not _is_path(item):
        raise PromptError("object %r: a prompt is a mask file (str or os.PathLike), a (frame, path) pair or a "
                          "prompt dict, got %s" % (obj, _repr(item)), object=str(obj))
    if _file_pattern(_abs(item)) is not None:
        # its frame was the digits of the token or of a version: "hero.%04d.png" a prompt on frame 4, "hero_v2.####.png"
        # on frame 2, refused only by the run ("on frame 4 is outside the job's frames")
        raise PromptError("object %r: the prompt %r is a frame pattern, not a file: a prompt is a keyframe, one mask file "
                          "each (hero.1012.png, or (frame, path)); for a mask on every frame give masks={%r: pattern}"
                          % (obj, os.fspath(item), str(obj)), object=str(obj), path=os.fspath(item))
    return jobspec.mask_prompt(frame_from_path(item), _abs(item))


def _file_pattern(path):
    """The :class:`samatte.io.sequence.SequencePattern` of a prompt ``path`` whose file name holds a frame token
    (``####``, ``%04d``, ``$F4``, ``@``) and which is no file (one named so is the file), else None."""
    from .io.sequence import SequencePattern
    if not isinstance(path, str) or os.path.exists(path):
        return None
    try:
        seq = SequencePattern(path)
    except Exception:   # two tokens: not a pattern this reads; the run says what is wrong with the file
        return None
    if not seq.has_frame_token or os.sep in seq._suffix or (os.altsep and os.altsep in seq._suffix):
        return None   # (a token in a folder's name only: the file's own name has its number)
    return seq


def _prompt_items(items, obj):
    """The prompts given for one object as a list: one file, one (frame, path) pair or one prompt dict
    given without a list is that one prompt (a path's characters were taken as files: "no frame number in
    the prompt file name 'r'"; a ``pathlib.Path`` was a TypeError; a bare ``(1004, "hero.png")`` made a
    prompt of the file ``1004``)."""
    if _is_path(items) or isinstance(items, dict):
        return [items]
    if (isinstance(items, tuple) and len(items) == 2 and _is_path(items[1])
            and (not _is_path(items[0]) or (isinstance(items[0], str) and _pair_frame(items[0]) is not None))):
        # (a frame given as its text, "1004" read from a CSV, as a list's pair takes it: it was the file ./1004)
        return [items]
    try:
        return list(items)
    except TypeError:
        raise PromptError("object %r: prompts must be a list of mask files, (frame, path) pairs or prompt dicts, "
                          "got %s" % (obj, _repr(items)), object=str(obj)) from None


def job(plate, output, *, prompts=None, masks=None, frames=None, name=None, **options):
    """A validated JobSpec. ``prompts``: object name -> list of mask files (frame from the file name),
    ``(frame, path)`` pairs (a ``path`` with a frame token: that frame's file) or prompt dicts
    (:func:`samatte.jobspec.polygon_prompt`...); a frame pattern as a file is PromptError; ``masks``:
    object name -> a per-frame mask pattern (refine-only). ``options``: any keyword of
    :func:`samatte.jobspec.new_job` (``tracker``, ``matte``, ``quality``, ``colourspace``...)."""
    from . import jobspec
    from .errors import JobSpecError
    if name is None:
        name = re.sub(r"[^A-Za-z0-9_]+", "_", os.path.basename(str(output)).split(".")[0]) or "samatte"
    _check_options(options)
    for field, value in (("prompts", prompts), ("masks", masks)):
        if value is not None and not isinstance(value, dict):
            # prompts=["roto/hero.1004.png"] was a bare AttributeError "'list' object has no attribute 'items'"
            raise JobSpecError("%s must be a dict of object name -> %s, not %s (e.g. %s={\"hero\": ...})"
                               % (field, "prompts" if field == "prompts" else "mask pattern", type(value).__name__,
                                  field), field=field)
    j = jobspec.new_job(_abs(plate), _abs(output), frames=frames, name=name, **options)
    for obj, items in (prompts or {}).items():
        jobspec.add_object(j, obj, [_prompt(i, obj) for i in _prompt_items(items, obj)])
    for obj, pattern in (masks or {}).items():
        if isinstance(pattern, dict):   # {"path": ..., "channel": ...}: its path made absolute as a bare pattern's
            pattern = dict(pattern, path=_abs(pattern.get("path")))
        jobspec.add_object(j, obj, masks=_abs(pattern))
    return jobspec.validate(j)


def _check_options(options):
    """JOBSPEC_INVALID naming an option :func:`samatte.jobspec.new_job` does not take (``qualty="draft"`` was a bare
    ``TypeError: new_job() got an unexpected keyword argument``, no code), with the nearest one it does."""
    import difflib
    import inspect
    from . import jobspec
    from .errors import JobSpecError
    known = [n for n, p in inspect.signature(jobspec.new_job).parameters.items()
             if p.kind == p.KEYWORD_ONLY and n not in ("frames", "name")]
    for key in options:
        if key not in known:
            near = difflib.get_close_matches(key, known, 1)
            raise JobSpecError("api.job has no option %r%s (options: %s)"
                               % (key, "; did you mean %r?" % near[0] if near else "", ", ".join(known)), field=key)


def save(job_, path, *, overwrite=False):
    """Write the JobSpec to ``path`` (validated, atomically; ``str`` or ``os.PathLike``); returns the path.
    Missing folders are made (``shots/sh010/samatte/job.json`` in a new shot; before: OUTPUT_INVALID "No such
    file or directory"). A file at ``path`` that is not a JobSpec (another tool's ``job.json``, a
    typo's victim) is OUTPUT_INVALID and kept, unless ``overwrite=True`` (before: replaced without a
    word); a JobSpec there is replaced, as a re-save of a job is."""
    from . import jobspec
    from .errors import OutputError
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise OutputError("the JobSpec's path must be a file path (str or os.PathLike), not %r" % (path,),
                          path=str(path))
    job_ = _saved_job(job_, path)   # an invalid job makes no folder and touches no file
    if not overwrite and os.path.isfile(path) and not _is_jobspec_file(path):
        raise OutputError("%s is not a samatte JobSpec: not replaced (api.save(..., overwrite=True) to replace "
                          "it)" % path, path=path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot create the folder %s for the JobSpec %s: %s" % (folder, path, e.strerror or e),
                          path=path) from None
    return jobspec.save(job_, path)


def _saved_job(job_, path):
    """The validated job ``api.save`` writes to ``path``: a JobSpec file's path is read (its relative paths its
    folder's; before: "JobSpec is not valid JSON", the path taken for JSON text); a dict's or JSON text's relative
    paths, which are the current folder's, are made absolute when the file goes into another folder, where they
    would be read from the file's own folder (before: ``api.save(job, "jobs/sh010.json")`` of a job naming
    ``plates/p.####.exr`` made a job file whose plate was ``jobs/plates/p.####.exr``: FRAME_MISSING)."""
    from . import jobspec
    from .pipeline import load_job
    is_text = jobspec.is_json_text(job_)
    if not isinstance(job_, dict) and not is_text:
        # a JobSpec file (str or os.PathLike; "{shot}_job.json" too, as load_job reads it): absolute already;
        # None, 5: JOBSPEC_INVALID
        return load_job(job_)
    job_ = jobspec.validate(job_)
    here = os.getcwd()
    if os.path.normcase(os.path.dirname(os.path.abspath(path))) == os.path.normcase(here):
        return job_   # read from the file's folder, they name the same files: kept relative (a portable job)

    def fix(p):   # "~/..." and a Windows absolute path are kept: the file reads them as the dict does
        if p is None or p.startswith("~") or os.path.isabs(p) or (os.name != "nt" and jobspec.windows_abs(p)):
            return p
        return os.path.normpath(os.path.join(here, p))   # what the dict named, read from the current folder
    return jobspec.map_paths(job_, fix)


def _is_jobspec_file(path):
    """Whether the file at ``path`` holds a JSON object with ``samatte_job`` (a JobSpec samatte or a TD
    wrote, valid or not); a file that cannot be read or is not such JSON is not."""
    import json
    from .jobspec import MAX_FILE_BYTES
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:   # no JobSpec samatte reads is larger
            return False
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and "samatte_job" in doc


def run(job_, *, progress=None, on_frame=None, cancel=None, stage="all", frames=None):
    """Run here; ``progress(p)`` gets every :class:`samatte.progress.Progress` (``p.stage``, ``p.frame``,
    ``p.done``, ``p.total``), ``on_frame(e)`` every per-frame event (``e.frame``, ``e.status``,
    ``e.score``, ``e.path``), both on the thread that calls ``run`` (a Qt tool's worker thread: emit a signal
    from them); an exception a callback raises ends the job and is raised as it is (the frames written are
    kept). ``cancel``: a :class:`samatte.progress.CancelToken`, an event (``threading.Event()``) or a callable
    returning true to stop (CancelledError, code CANCELLED). ``stage``/``frames``: as ``samatte run
    --stage/--frames``. Returns the result dict; a re-run of the same job reuses the frames already current."""
    from . import pipeline
    pipeline.check_callbacks(progress=progress, on_frame=on_frame)
    return pipeline.run(job_, on_progress=progress, on_event=on_frame, cancel=cancel, stage=stage, frames=frames)


def export(job_, folder, *, chunk=10, preroll=None, python=None, models_dir=None, threads=0, frames=None):
    """Write an Open Job Description job bundle (Deadline Cloud) for the farm; returns the bundle
    folder. See :func:`samatte.farm.export_openjd` for the other fields it reports (``threads``: the
    template's ``Threads`` parameter, CPU threads per task; 0: the render node's own choice; ``frames``:
    a subset of the job's frames to export, as ``samatte farm export --frames`` and ``api.run``'s)."""
    from .farm import export_openjd
    return export_openjd(job_, folder, chunk=chunk, preroll=preroll, python=python,
                         models_dir=models_dir, threads=threads, frames=frames)["bundle"]


def scores(job_, frames=None):
    """``{frame: score}`` read from the output EXRs (None where a frame is not written yet)."""
    from .farm.qc import read_scores
    from .pipeline import load_job
    return read_scores(load_job(job_), frames)


def qc(job_, report_dir=None, *, frames=None):
    """Check every output frame (``frames``: a subset, as ``samatte qc --frames``) and write the QC report and
    contact sheet; returns the report dict (``report["ok"]``, ``report["failed"]``, ``report["contact_sheet"]``)
    without raising."""
    from .farm.qc import run_qc
    return run_qc(job_, report_dir=report_dir, frames=frames, raise_on_failure=False)


def status(job_, *, frames=None):
    """Per frame ``complete`` / ``stale`` / ``missing`` (:func:`samatte.pipeline.frame_status`; ``frames``: a
    subset, as ``samatte status --frames``)."""
    from . import pipeline
    return pipeline.frame_status(pipeline.load_job(job_), frames=frames)
