"""One registry of samatte's names: backends, qualities, compressions, devices and option schemas.

Standard library only and importable on Python 3.9 (host adapters build their menus from it).
Every other place that needs one of these lists imports it from here: the JobSpec validator
(:mod:`samatte.jobspec`), the command line's choices, the worker's ``hello`` and the backend
factories (:func:`samatte.track.get_tracker`, :func:`samatte.matte.get_matter`).

Option schemas map an option name to an :class:`Option`. :func:`validate_options` checks a JobSpec's
``tracker.options`` or ``matte.options`` against them up front, so that a job with a bad value fails
before its first frame is written:

* unknown names are refused, for tracker and matte options alike (a ``tracker.backend`` of ``"auto"``
  accepts the options of every backend ``auto`` may pick: flow and sam2);
* wrong types are refused: a string for a number (``"big"``, ``"nan"``), a bool for a number, a number
  for a bool; an integral float (``640.0``) is accepted for an integer option;
* numbers must be finite and inside ``[min, max]`` (an open end where ``min_open`` / ``max_open``);
* strings with ``choices`` must be one of them.

The error is :class:`samatte.errors.JobSpecError` (code ``JOBSPEC_INVALID``) naming the field, e.g.
``tracker.options.work_size``.
"""
import math
import numbers
import re
from collections import namedtuple

from .errors import JobSpecError

__all__ = [
    "Option", "TRACKER_BACKENDS", "MATTE_BACKENDS", "MATTE_QUALITIES", "COMPRESSIONS", "DEVICES",
    "TRACKER_OPTIONS", "MATTE_OPTIONS", "AUTO_TRACKERS", "validate_options", "option_defaults",
    "validate_device", "validate_compression", "describe", "resolved_tracker_options",
    "TRACKER_MODELS", "MODEL_ALIASES", "model_name", "validate_model",
]

#: "auto" = "sam2" when the model's weights are installed, else "flow". "shapes" holds each keyframe's
#: shape until the next keyframe (weights-free, no motion). "flow" is the weights-free optical-flow tracker.
TRACKER_BACKENDS = ("auto", "sam2", "flow", "shapes")
#: the backends "auto" may resolve to (its options may be any of theirs)
AUTO_TRACKERS = ("flow", "sam2")
#: "auto" = the learned head when its weights exist, else "refine" (weights-free). "none" writes the
#: tracker's mask as the alpha. "matanyone" is a slot (raises DEPENDENCY_MISSING in this build).
MATTE_BACKENDS = ("auto", "refine", "sam2matte", "matanyone", "none")
MATTE_QUALITIES = ("draft", "default", "high")
#: EXR compressions the writer supports; ``dwaa``, ``dwab``, ``zip`` and ``zips`` take a level:
#: ``"dwaa:45"``.
COMPRESSIONS = ("zip", "zips", "dwaa", "dwab", "piz", "rle", "pxr24", "b44", "b44a", "none")
_LEVELLED = ("zip", "zips", "dwaa", "dwab")
#: the models a JobSpec's ``tracker.model`` may name (their files, checksums and addresses:
#: ``samatte.models.MODELS``), and the short names accepted wherever a model name is.
TRACKER_MODELS = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
MODEL_ALIASES = {
    "tiny": "sam2.1_hiera_tiny", "t": "sam2.1_hiera_tiny", "small": "sam2.1_hiera_small",
    "s": "sam2.1_hiera_small", "base_plus": "sam2.1_hiera_base_plus", "base+": "sam2.1_hiera_base_plus",
    "b+": "sam2.1_hiera_base_plus", "sam2.1_hiera_b+": "sam2.1_hiera_base_plus",
    "large": "sam2.1_hiera_large", "l": "sam2.1_hiera_large",
}
#: device kinds; a JobSpec may also name ``cuda:N`` (N a GPU index).
DEVICES = ("auto", "cpu", "cuda", "mps")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]{1,3})?)$")


class Option(namedtuple("Option", "type default min max choices doc min_open max_open nullable exclude "
                                  "multiple_of")):
    """One option: ``type`` is "int", "float", "bool", "str" or "path"; ``min``/``max`` bound numbers
    (inclusive unless ``min_open``/``max_open``); ``choices`` lists a string's allowed values;
    ``nullable`` allows JSON null; ``exclude`` lists forbidden values; ``multiple_of`` for integers."""

    __slots__ = ()

    def __new__(cls, type, default, min=None, max=None, choices=None, doc="", *, min_open=False,
                max_open=False, nullable=False, exclude=(), multiple_of=None):
        return super().__new__(cls, type, default, min, max, choices, doc, min_open, max_open, nullable,
                               tuple(exclude), multiple_of)

    def to_dict(self):
        """JSON-safe description (the worker's hello sends these so a host can build its UI)."""
        d = {"type": self.type, "default": self.default, "doc": self.doc}
        for k in ("min", "max", "choices"):
            v = getattr(self, k)
            if v is not None:
                d[k] = list(v) if k == "choices" else v
        if self.min_open:
            d["min_open"] = True
        if self.max_open:
            d["max_open"] = True
        if self.nullable:
            d["nullable"] = True
        if self.exclude:
            d["exclude"] = list(self.exclude)
        if self.multiple_of:
            d["multiple_of"] = self.multiple_of
        return d


# Every tracker backend accepts the job's track cache folder (the pipeline sets it from job.work_dir).
_COMMON_TRACKER = {
    "work_dir": Option("path", None, nullable=True,
                       doc="folder for the tracker's spill files (default: the job's work dir or the system's "
                           "temp folder)"),
}

#: tracker backend -> {option name -> Option}; the names and defaults are what the backends read
#: (samatte.track.flow.DEFAULTS, samatte.track.sam2_backend.DEFAULT_OPTIONS, ShapeTracker).
TRACKER_OPTIONS = {
    "flow": dict(_COMMON_TRACKER, **{
        "work_size": Option("int", 640, 32, 8192, doc="long side of the working resolution, px"),
        "flow_preset": Option("str", "medium", choices=("ultrafast", "fast", "medium"),
                              doc="OpenCV DIS optical flow preset"),
        "flow_finest_scale": Option("int", 0, 0, 6, nullable=True,
                                    doc="finest pyramid level of the flow (0: full working resolution)"),
        "fb_check": Option("bool", True, doc="forward-backward consistency check of the flow"),
        "occluded_trust": Option("float", 0.25, 0.0, 1.0, doc="weight of the warped logit where the flow "
                                                              "is unreliable"),
        "colour": Option("bool", True, doc="colour models of object and background"),
        "colour_weight": Option("float", 1.0, 0.0, 100.0, doc="weight of the colour log-likelihood ratio"),
        "colour_rate": Option("float", 0.05, 0.0, 1.0, doc="update rate of the colour models"),
        "grabcut": Option("bool", True, doc="grabCut vote in the boundary band"),
        "grabcut_iters": Option("int", 2, 1, 50, doc="grabCut iterations"),
        "grabcut_weight": Option("float", 0.5, 0.0, 10.0, doc="weight of the grabCut vote (x logit_clip)"),
        "band": Option("float", 0.025, 0.0, 0.5, min_open=True,
                       doc="boundary band as a fraction of the working long side"),
        "logit_clip": Option("float", 8.0, 0.0, 100.0, min_open=True, doc="logit magnitude limit"),
        "ram_mb": Option("float", 256, 0.0, 1048576.0, doc="RAM for per-frame state before spilling to disk, MB"),
    }),
    "sam2": dict(_COMMON_TRACKER, **{
        "max_cond_frames": Option("int", 2, -1, 10000, exclude=(0, 1),
                                  doc="conditioning frames in attention (-1: all; else >= 2)"),
        "clear_mem_at_keyframes": Option("bool", True, doc="reset memory at each new keyframe"),
        "refine_points": Option("bool", True, doc="refine points-only prompts against the propagated mask"),
        "fill_hole_area": Option("int", 8, 0, 1 << 24, doc="fill mask holes up to this area, px"),
        "cache_frames": Option("int", 2, 1, 10000, doc="preprocessed frames kept in memory"),
        "autocast": Option("bool", True, doc="bfloat16 autocast on CUDA"),
        "image_size": Option("int", None, 64, 4096, nullable=True, multiple_of=32,
                             doc="the model's square input size (default: the config's, 1024)"),
    }),
    "shapes": dict(_COMMON_TRACKER, **{
        "work_size": Option("int", 640, 32, 8192, doc="long side of the working resolution, px"),
    }),
}

#: matte options (the same for every matte backend); names and defaults are samatte.matte.stage.OPTIONS
MATTE_OPTIONS = {
    "temporal": Option("bool", True, doc="region-adaptive temporal fusion"),
    "flow": Option("bool", True, doc="motion-compensate the previous frame with optical flow"),
    "blend": Option("float", 0.5, 0.0, 1.0, max_open=True,
                    doc="weight of the previous alpha on unchanged boundary pixels (learned head)"),
    "prior": Option("float", 0.03, 0.0, 100.0, doc="weight of the previous alpha as a data term (0: off)"),
    "band": Option("float", None, 0.0, 10000.0, min_open=True, nullable=True,
                   doc="core/boundary split, px from the mask edge (null: 1 % of the long side, >= 4)"),
    "tau": Option("float", 0.03, 0.0, 100.0, min_open=True,
                  doc="frame difference (display units) still counted as unchanged"),
    "see_through": Option("float", 0.02, 0.0, 100.0,
                          doc="difference from the previous frame above which an object's mask is doubted "
                              "(0: off)"),
    "foreground_method": Option("str", "ml", choices=("ml", "pymatting"), doc="foreground un-mixing method"),
    "checkpoint": Option("path", None, nullable=True, doc="sam2matte: explicit checkpoint path"),
    "masks": Option("str", "auto", choices=("auto", "rough", "tight"), doc="what the coarse masks are"),
    "space": Option("str", "auto", choices=("auto", "hybrid", "linear", "display"),
                    doc="images the alpha is found on (auto: hybrid for float plates, display for integer)"),
    "evidence": Option("float", 0.0, 0.0, 100.0,
                       doc="keep the mask's label where the image does not explain a departure from it, "
                           "at this strength everywhere (1-2: real footage with shadows, smoke; 0: only "
                           "where evidence_auto turns it on)"),
    "evidence_auto": Option("bool", True,
                            doc="turn that check on by itself where the object's and the background's "
                                "colours overlap near the mask's edge"),
    "ramp_measured": Option("bool", False,
                            doc="where that check runs, keep crisp edges crisp: pull what it does not "
                                "trust to a ramp no wider than the object's own edges (crisp, opaque "
                                "objects in the background's colours; costs soft ones)"),
    "tie": Option("float", None, 0.0, 0.5, nullable=True,
                  doc="ties go to the mask: a pixel the matte leaves within this of 0.5 on the other side "
                      "of the middle from the mask's label is put at the middle on the mask's side; with "
                      "tight masks widened as the object measures soft (motion blur, fur), to at most "
                      "0.35 (0: off, a pure matte; null: the refiner's default, 0.1)"),
}


def _schema(kind, backend):
    if kind == "tracker":
        if backend == "auto":
            merged: dict = {}
            for b in AUTO_TRACKERS:
                for name, opt in TRACKER_OPTIONS[b].items():
                    merged.setdefault(name, []).append(opt)
            return merged
        if backend not in TRACKER_OPTIONS:
            raise JobSpecError("unknown tracker backend %r (one of %s)" % (backend, ", ".join(TRACKER_BACKENDS)),
                               field="tracker.backend")
        return {k: [v] for k, v in TRACKER_OPTIONS[backend].items()}
    if kind == "matte":
        if backend not in MATTE_BACKENDS:
            raise JobSpecError("unknown matte backend %r (one of %s)" % (backend, ", ".join(MATTE_BACKENDS)),
                               field="matte.backend")
        return {k: [v] for k, v in MATTE_OPTIONS.items()}
    raise ValueError("kind must be 'tracker' or 'matte', not %r" % (kind,))


def _short(v):
    try:
        text = repr(v)
    except Exception:  # noqa: BLE001 - a value so odd that repr fails
        text = "<%s>" % type(v).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(field, what, value):
    return JobSpecError("option %s %s, got %s" % (field, what, _short(value)), field=field)


def _check_number(opt, v, field):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise _bad(field, "must be %s" % ("an integer" if opt.type == "int" else "a number"), v)
    if not isinstance(v, (int, float)):
        # a number from Python that is no int or float (numpy's int64 / float32 a script computed): its value
        # (before: "must be a number, got 100"), so the validated job holds JSON numbers
        v = int(v) if isinstance(v, numbers.Integral) else float(v)
    if isinstance(v, float) and not math.isfinite(v):
        raise _bad(field, "must be a finite number", v)
    if opt.type == "int":
        if isinstance(v, float):
            if v != int(v):
                raise _bad(field, "must be an integer", v)
            v = int(v)
    else:
        try:
            v = float(v)
        except OverflowError:
            raise _bad(field, "is too large", v)
    lo, hi = opt.min, opt.max
    if lo is not None and (v < lo or (opt.min_open and v == lo)):
        raise _bad(field, "must be %s %s" % (">" if opt.min_open else ">=", lo), v)
    if hi is not None and (v > hi or (opt.max_open and v == hi)):
        raise _bad(field, "must be %s %s" % ("<" if opt.max_open else "<=", hi), v)
    if v in opt.exclude:
        raise _bad(field, "must not be %s" % " or ".join(str(x) for x in opt.exclude), v)
    if opt.multiple_of and v % opt.multiple_of:
        raise _bad(field, "must be a multiple of %d" % opt.multiple_of, v)
    return v


def _check_value(opt, v, field):
    if v is None:
        if opt.nullable:
            return None
        raise _bad(field, "must not be null", v)
    if opt.type in ("int", "float"):
        return _check_number(opt, v, field)
    if opt.type == "bool":
        if not isinstance(v, bool):
            raise _bad(field, "must be true or false", v)
        return v
    if not isinstance(v, str):
        raise _bad(field, "must be a string", v)
    if opt.type == "path":
        if not v.strip() or "\x00" in v:
            raise _bad(field, "must be a non-empty path", v)
        return v
    if opt.choices is not None and v not in opt.choices:
        raise _bad(field, "must be one of %s" % ", ".join(repr(c) for c in opt.choices), v)
    return v


def validate_options(kind, backend, options, *, path=None):
    """Check ``options`` (a dict, or None) for ``kind`` "tracker" or "matte" and ``backend``; return a
    normalised copy (integral floats of integer options become ints, numbers of float options become
    floats; only the given names, no defaults filled in). ``path`` prefixes the error's field
    (default ``"<kind>.options"``). Raises :class:`JobSpecError` (JOBSPEC_INVALID)."""
    prefix = path or ("%s.options" % kind)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise JobSpecError("%s must be an object, not %s" % (prefix, type(options).__name__), field=prefix)
    schema = _schema(kind, backend)
    out = {}
    for name, value in options.items():
        field = "%s.%s" % (prefix, name)
        opts = schema.get(name) if isinstance(name, str) else None
        if not opts:
            raise JobSpecError("unknown %s option %s for backend %r (known: %s)"
                               % (kind, _short(name), backend, ", ".join(sorted(schema))), field=field)
        norm = value
        for opt in opts:  # a name several auto backends know must suit each of them
            norm = _check_value(opt, value, field)
        out[name] = norm
    return out


def resolved_tracker_options(resolved, options):
    """The keys of a JobSpec's ``tracker.options`` (already validated) that the tracker ``auto`` resolved
    to reads: with ``auto`` the options of flow and sam2 are both accepted and each backend ignores the
    other's, so the tracker the pipeline builds, the job a farm node runs and the track keys get only its
    own. Options of an explicit backend are all its own; ``resolved`` "masks" (nothing tracked) keeps
    them as they are."""
    own = TRACKER_OPTIONS.get(resolved)
    if own is None or not isinstance(options, dict):
        return options
    return {k: v for k, v in options.items() if k in own}


def option_defaults(kind, backend):
    """name -> default for ``kind``'s ``backend`` (for "auto" trackers: the union of flow's and sam2's)."""
    return {k: v[0].default for k, v in _schema(kind, backend).items()}


def model_name(name):
    """The :data:`TRACKER_MODELS` name of a model name, alias or checkpoint file name (``tiny``,
    ``sam2.1_hiera_tiny.pt``), or None when it names none of them."""
    key = str(name).strip()
    if key.endswith(".pt"):
        key = key[:-3]
    key = MODEL_ALIASES.get(key.lower(), key)
    return key if key in TRACKER_MODELS else None


def validate_model(name, *, path="tracker.model"):
    """``name`` must be a model samatte knows (:func:`model_name`); returns it unchanged. A JobSpec
    whose tracker may run SAM 2 ("auto", "sam2") is checked with this, so a misspelt model is refused
    before the job starts instead of "auto" quietly tracking with flow."""
    if model_name(name) is None:
        raise JobSpecError("%s %s is not a model samatte knows (one of %s; or tiny, small, base_plus, large)"
                           % (path, _short(name), ", ".join(TRACKER_MODELS)), field=path,
                           value=str(name)[:100])
    return name


def validate_device(device, *, path="device"):
    """``device`` must be "auto", "cpu", "mps", "cuda" or "cuda:N"; returns it."""
    if isinstance(device, bool) or not isinstance(device, str):
        raise JobSpecError("%s must be a string (auto, cpu, cuda, cuda:N or mps), got %s"
                           % (path, _short(device)), field=path)
    if not _DEVICE_RE.match(device):
        raise JobSpecError("device %s is not one of auto, cpu, cuda, cuda:N (N a GPU index) or mps"
                           % _short(device), field=path, value=device[:100])
    return device


def validate_compression(comp, *, path="output.compression"):
    """One of :data:`COMPRESSIONS`, optionally ``name:level`` for zip/zips (1-9) and dwaa/dwab (> 0)."""
    if isinstance(comp, bool) or not isinstance(comp, str):
        raise JobSpecError("%s must be a string, got %s" % (path, _short(comp)), field=path)
    name, sep, level = comp.partition(":")
    if name not in COMPRESSIONS:
        raise JobSpecError("%s %s is not one of %s" % (path, _short(comp), ", ".join(COMPRESSIONS)), field=path)
    if sep:
        ok = name in _LEVELLED and level.isdigit() and len(level) <= 6
        if ok:
            n = int(level)
            ok = (1 <= n <= 9) if name in ("zip", "zips") else (1 <= n <= 100000)
        if not ok:
            raise JobSpecError("%s %s: a level is an integer (zip/zips 1-9, dwaa/dwab > 0) and only for "
                               "%s" % (path, _short(comp), ", ".join(_LEVELLED)), field=path)
    return comp


def describe():
    """Everything above as one JSON-safe dict (sent in the worker's ``hello`` as ``registry``)."""
    return {
        "trackers": list(TRACKER_BACKENDS),
        "mattes": list(MATTE_BACKENDS),
        "qualities": list(MATTE_QUALITIES),
        "compressions": list(COMPRESSIONS),
        "devices": list(DEVICES),
        "tracker_options": {b: {k: o.to_dict() for k, o in opts.items()} for b, opts in TRACKER_OPTIONS.items()},
        "matte_options": {k: o.to_dict() for k, o in MATTE_OPTIONS.items()},
    }
