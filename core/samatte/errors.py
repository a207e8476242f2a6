"""samatte's error hierarchy.

One root (:class:`SamatteError`) with subclasses that carry a *stable* string code.  The code is what
crosses the worker process boundary (see :mod:`samatte.protocol`), what the CLI maps to an exit
status, and what hosts show to artists; never change an existing code, only add new ones.

Standard library only and importable on Python 3.9: host adapters import this module.
"""

__all__ = [
    "SamatteError", "JobSpecError", "FrameRangeError", "PromptError", "PlateError",
    "MissingFrameError", "CorruptFrameError", "ChannelError", "NaNPixelError", "ColourError",
    "OutputError", "QcError", "ModelError", "WeightsMissingError", "WeightsCorruptError", "DependencyError",
    "CancelledError", "TrackMissingError", "WorkerError", "ProtocolError", "BusyError", "error_from_code",
    "ERROR_CODES", "EXIT_CODES", "REQUIRED_MODULES", "missing_dependency", "OutOfMemoryError", "out_of_memory",
    "known_failure", "check_callbacks",
]


class SamatteError(Exception):
    """Root of every error samatte raises on purpose.

    ``code`` is stable across versions; ``details`` is a JSON-safe dict with machine-readable context
    (a path, a frame number, a field name) that travels with the error through the worker.
    """

    code = "SAMATTE_ERROR"
    exit_code = 1

    def __init__(self, message="", **details):
        super().__init__(message)
        self.message = str(message)
        self.details = {k: v for k, v in details.items() if v is not None}

    def to_dict(self):
        return {"code": self.code, "message": self.message, "details": dict(self.details)}

    def __reduce__(self):
        # Keep details (and a per-instance code) through pickling, e.g. across multiprocessing.
        return (type(self), (self.message,), dict(self.__dict__))

    def __str__(self):
        return "[%s] %s" % (self.code, self.message)


class JobSpecError(SamatteError):
    """The JobSpec is malformed: wrong type, missing field, unknown version or option."""
    code = "JOBSPEC_INVALID"
    exit_code = 2


class FrameRangeError(JobSpecError):
    """A frame range string or list cannot be parsed, is empty, or lies outside the plate."""
    code = "FRAME_RANGE_INVALID"


class PromptError(JobSpecError):
    """A prompt is empty, degenerate, out of frame, or on a frame outside the job's range."""
    code = "PROMPT_INVALID"


class PlateError(SamatteError):
    """The plate (input image sequence) cannot be used."""
    code = "PLATE_INVALID"
    exit_code = 3


class MissingFrameError(PlateError):
    code = "FRAME_MISSING"


class CorruptFrameError(PlateError):
    code = "FRAME_CORRUPT"


class ChannelError(PlateError):
    """The requested layer/channels are not in the file (or the file has too few channels)."""
    code = "CHANNELS_INVALID"


class NaNPixelError(PlateError):
    """Non-finite pixels where finite ones are required (raised only when the job asks for strictness)."""
    code = "PIXELS_NONFINITE"


class ColourError(SamatteError):
    """OCIO config cannot be loaded or a colourspace is unknown."""
    code = "COLOUR_INVALID"
    exit_code = 4


class OutputError(SamatteError):
    """The output location cannot be written."""
    code = "OUTPUT_INVALID"
    exit_code = 5


class QcError(OutputError):
    """QC (``samatte qc``, :func:`samatte.farm.qc.run_qc`) found output frames that are missing,
    unreadable or stale. Defined here (not only in :mod:`samatte.farm.qc`) so that ``QC_FAILED`` is in
    :data:`ERROR_CODES` / :data:`EXIT_CODES` and rebuilds from the wire as this class."""
    code = "QC_FAILED"
    exit_code = 5


class ModelError(SamatteError):
    """A model backend failed to load or run."""
    code = "MODEL_ERROR"
    exit_code = 6


class WeightsMissingError(ModelError):
    code = "WEIGHTS_MISSING"


class WeightsCorruptError(ModelError):
    code = "WEIGHTS_CORRUPT"


class DependencyError(SamatteError):
    """An optional Python package needed for the requested feature is not installed."""
    code = "DEPENDENCY_MISSING"
    exit_code = 7


#: import names of the packages samatte's own install puts beside it (pyproject's dependencies): an
#: ImportError of one of them is an incomplete install of the samatte Python, not a bug
REQUIRED_MODULES = ("numpy", "OpenImageIO", "PyOpenColorIO", "cv2", "scipy", "pymatting", "PIL")


def _raised_in(exc):
    """The top-level package whose own code raised ``exc`` (its innermost frame outside importlib), or "".
    A requirement that is found but fails inside its own import raises an ImportError that names no
    module: numpy built for another Python (``numpy.core``), cv2's loader without libGL."""
    tb = getattr(exc, "__traceback__", None)
    where = ""
    while tb is not None:
        mod = tb.tb_frame.f_globals.get("__name__") or ""
        if not mod.startswith(("importlib", "_frozen_importlib")):
            where = mod
        tb = tb.tb_next
    return where.split(".")[0]


def missing_dependency(exc):
    """A :class:`DependencyError` (DEPENDENCY_MISSING, exit 7) for an ImportError of one of
    :data:`REQUIRED_MODULES`, saying which Python lacks it; None for anything else."""
    if not isinstance(exc, ImportError):
        return None
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in REQUIRED_MODULES:
        name = _raised_in(exc)
    if name not in REQUIRED_MODULES:
        return None
    import sys
    return DependencyError("samatte's Python %s cannot import %s (%s): its install is incomplete; run "
                           "install/install.sh, or pip install samatte's requirements into that Python"
                           % (sys.executable, name, exc), package=name, python=sys.executable)


class OutOfMemoryError(SamatteError):
    """The process ran out of memory (RAM under the node's or the farm's limit: ``ulimit -v``, a cgroup,
    the other tasks on the node; or the GPU's). Not a bug and not a bad input: the same job runs with
    more memory, fewer tasks at once on the node, or a smaller tracker ``ram_mb``."""
    code = "OUT_OF_MEMORY"
    exit_code = 10


def _peak_rss_mb():
    try:
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0))
    except (ImportError, OSError, ValueError):
        return None


def _torch_host_oom(text):
    """Whether a RuntimeError's text is torch running out of memory where it raises no OutOfMemoryError: its
    CPU allocator (``[enforce fail at alloc_cpu.cpp] ... DefaultCPUAllocator: can't allocate memory: you tried
    to allocate N bytes``; "not enough memory" in older releases: a CPU farm node's SAM 2, a checkpoint
    loaded under a memory limit) and Apple's MPS ("MPS backend out of memory")."""
    return ("DefaultCPUAllocator" in text and ("can't allocate memory" in text or "not enough memory" in text)) \
        or "MPS backend out of memory" in text


def out_of_memory(exc, **details):
    """An :class:`OutOfMemoryError` (OUT_OF_MEMORY, exit 10) for an exception that means memory ran out
    (``MemoryError``: numpy's "Unable to allocate", a C++ ``std::bad_alloc`` OpenImageIO raises; torch's
    ``OutOfMemoryError`` (CUDA), its CPU allocator's and MPS's RuntimeError; OpenCV's "Failed to allocate" /
    "Insufficient memory"); None for anything
    else. ``details`` (a path, a frame) are added to its own."""
    if isinstance(exc, OutOfMemoryError):
        return exc
    names = {c.__name__ for c in type(exc).__mro__}
    text = str(exc)
    gpu = ("OutOfMemoryError" in names and "cuda" in text.lower()) or "MPS backend out of memory" in text
    if not (isinstance(exc, MemoryError) or "OutOfMemoryError" in names
            or ("error" in names and type(exc).__module__.startswith("cv2")
                and ("Failed to allocate" in text or "Insufficient memory" in text))
            or (isinstance(exc, RuntimeError) and _torch_host_oom(text))):
        return None
    peak = _peak_rss_mb()
    what = "the GPU ran out of memory" if gpu else "out of memory"
    return OutOfMemoryError(
        "%s (%s: %s)%s: give the task more memory, run fewer tasks at once on the node, or lower the "
        "tracker option ram_mb" % (what, type(exc).__name__, text.strip() or "no message",
                                   "; this process peaked at %d MB resident" % peak if peak else ""),
        exception=type(exc).__name__, peak_rss_mb=peak, **details)


def known_failure(exc):
    """The samatte error an environment failure stands for (an incomplete install: DEPENDENCY_MISSING;
    memory: OUT_OF_MEMORY), else ``exc`` itself: what every caller that reports an exception (the
    CLI, the worker, the farm's log lines) applies first."""
    return missing_dependency(exc) or out_of_memory(exc) or exc


class TrackMissingError(SamatteError):
    """``run --stage matte`` needs the stored track of a frame and it is absent or stale (its track
    key differs): run ``--stage track`` (or ``all``) first."""
    code = "TRACK_MISSING"
    exit_code = 9


class CancelledError(SamatteError):
    code = "CANCELLED"
    exit_code = 130


class WorkerError(SamatteError):
    """The worker process died, timed out or could not be started."""
    code = "WORKER_FAILED"
    exit_code = 8


class ProtocolError(WorkerError):
    """A message on the worker pipe is not valid protocol. ``msg_id``: the offending message's id
    when it could be read (errors about it carry that id), else None."""
    code = "PROTOCOL_INVALID"
    msg_id = None


class BusyError(WorkerError):
    """The worker is running a job: a second job (or a ``release``) is refused; send it when the
    running job has ended. Carries the refused message's id, never the running job's."""
    code = "BUSY"


def _all_subclasses(cls):
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


#: code -> class, for every error class defined here.
ERROR_CODES = {c.code: c for c in _all_subclasses(SamatteError)}

#: code -> process exit status used by the CLI (documented in the README).
EXIT_CODES = {code: cls.exit_code for code, cls in ERROR_CODES.items()}


def error_from_code(code, message="", details=None):
    """Rebuild an error from its wire form; unknown codes give a plain SamatteError with that code."""
    cls = ERROR_CODES.get(code)
    err = (cls or SamatteError)(message)
    # set, not passed as keywords: a wire ``details`` may hold any key, "message" included
    err.details = {str(k): v for k, v in dict(details or {}).items() if v is not None}
    if cls is None:
        err.code = str(code)
    return err


def check_callbacks(**callbacks):
    """JOBSPEC_INVALID naming the argument when a callback given is not callable (``progress=bar``, a tqdm
    bar for ``bar.update``): it was a bare TypeError at the first call, after frames had been written.
    (``api.run``, ``pipeline.run`` and ``client.WorkerClient.run``: one check, one message.)"""
    for name, fn in callbacks.items():
        if fn is not None and not callable(fn):
            raise JobSpecError("%s must be a function (or None), not %s" % (name, type(fn).__name__), field=name)
