"""The JobSpec: one versioned, validated JSON document describing a samatte job.

Standard library only and importable on Python 3.9 — Nuke and Blender adapters build JobSpecs with
it inside the host. Conventions (see shared DESIGN.md):

* coordinates are pixels of the plate's *display window*, origin top-left, x right, y down;
* frames are the host's frame numbers (1001...), never 0-based indices.

A JobSpec document (version 1)::

    {
      "samatte_job": 1,
      "name": "sh010_hero",
      "plate":   {"path": "/shots/sh010/plate.####.exr", "frames": "1001-1100",
                  "colourspace": "ACEScg", "ocio_config": null, "layer": null,
                  "on_nonfinite": "fix"},
      "objects": [
        {"name": "hero",
         "prompts": [
           {"frame": 1001, "type": "mask", "path": "/tmp/hero_1001.png"},
           {"frame": 1001, "type": "points", "points": [[960, 540], [100, 80]], "labels": [1, 0]},
           {"frame": 1040, "type": "box", "box": [800, 300, 1200, 900]},
           {"frame": 1060, "type": "polygon", "points": [[...], ...]},
           {"frame": 1080, "type": "bezier", "points": [[x, y, in_x, in_y, out_x, out_y], ...]}
         ]},
        {"name": "car", "masks": {"path": "/roto/car.####.png", "channel": null}}
      ],
      "tracker": {"backend": "auto", "model": "sam2.1_hiera_tiny", "options": {}},
      "matte":   {"backend": "auto", "quality": "default", "options": {}},
      "output":  {"path": "/out/sh010_matte.####.exr", "object_layers": true,
                  "foreground": true, "quality_map": true, "compression": "zip",
                  "overwrite": false},
      "device": "auto",
      "work_dir": null
    }

``plate``: ``path`` a frame-sequence pattern (``####``, ``%04d`` or ``$F4``; :mod:`samatte.io.sequence`);
``frames`` a range string or list (null: the files on disk; an empty one is FRAME_RANGE_INVALID);
``colourspace`` an OCIO name, alias or role (null: a float EXR is read in the colourspace its first frame's
header names when the config resolves it, else the config's ``scene_linear``; an integer file as sRGB);
``ocio_config`` a file or an ``ocio://`` URI (null: ``$OCIO``, else ``ocio://default``); ``layer`` an EXR
layer or part (null: the RGB channels); ``on_nonfinite`` ``fix`` (NaN / inf pixels repaired, the default)
or ``error`` (PIXELS_NONFINITE, exit 3). Paths starting with ``~`` are the home folder; relative ones are the JobSpec
file's folder's (:func:`resolve_paths`).

An object has ``prompts`` (it is tracked), ``masks`` (a per-frame mask sequence that is only refined:
refine-only mode), or both (tracked; on the frames where its mask file exists the mask wins). Optional
``host_name``: the host's own name for the object (any string; written to the EXR metadata).
``absent`` (optional): a frame range (``"20-30,41"``, the syntax of ``plate.frames``) where the object is
not in the shot: its alpha is 0 there in every output, no prompt may lie there (PROMPT_INVALID), and
neither the tracker nor the matte stage carries it across such a span (README "Prompts").
``masks.soft`` (default false): true keeps a feathered roto soft (its coverage goes to the matting
stage as is) instead of thresholding it at ``masks.threshold``.

Prompt semantics (see README "Prompts"): ``mode`` ("add" default, or "subtract") on mask / polygon /
bezier / box: subtract shapes are removed from the union of the frame's add shapes (holes, garbage
mattes). ``closed: false`` on polygon / bezier is an open stroke: points sampled along it (positive;
negative when subtract). Shapes (add-mode dense prompts and boxes) define the object; points and
subtract shapes on other frames are corrections of the tracked mask, never new shapes (an object with no
shape at all is seeded from its first frame with a positive point). A points prompt may be
negative-only (a correction click) when the object has a shape or a positive point somewhere.
An object's optional ``colour`` (3 numbers) and ``meta`` (JSON data) are cosmetic: in no cache key.
Every prompt may carry a ``label`` (text, cosmetic); a ``mask`` prompt ``channel`` (null: the rule of
:mod:`samatte.io.masks`), ``threshold`` (0.5) and ``invert`` (false); a ``polygon`` / ``bezier``
``invert`` (false; a closed shape only) and ``feather`` (pixels, default 0: a linear ramp, outward when
positive, inward when negative, as Nuke's).

The job's ``name`` (default ``samatte``; any text without a NUL or a lone surrogate) names its frames
(``samatte/job``) and the folder of its default work dir. ``tracker``: ``backend`` (``auto``, ``sam2``,
``flow``, ``shapes``), ``model``, ``options`` (:mod:`samatte.registry`); ``matte``: ``backend``,
``quality`` (``draft``, ``default``, ``high``), ``options``. ``output``: ``path`` (one frame token,
ending in ``.exr``), ``object_layers``, ``foreground``, ``quality_map`` (default true), ``compression``
(default ``zip``), ``overwrite`` (default false: frames complete for their keys are kept, a file samatte
did not write for this job is OUTPUT_INVALID), ``keep_other_plates`` (default false, left out of the
normalised job when false: frames made from another plate, their ``samatte/plate``, are kept as
another job's; the Blender add-on sets it). ``device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
``work_dir`` (null: :func:`default_work_dir`, ``<output folder>/.samatte/<job name>/<output file>/``)
holds the stored track. ``meta``: free-form JSON data, in no key.
"""
import copy
import hashlib
import json
import math
import numbers
import os
import re
import threading

from .errors import FrameRangeError, JobSpecError, PromptError
from .frames import _whole, format_frames, parse_frames
from .registry import (COMPRESSIONS, DEVICES, MATTE_BACKENDS, MATTE_OPTIONS, MATTE_QUALITIES, TRACKER_BACKENDS,
                       TRACKER_OPTIONS, validate_compression, validate_device, validate_model, validate_options)

__all__ = [
    "JOBSPEC_VERSION", "TRACKER_BACKENDS", "MATTE_BACKENDS", "MATTE_QUALITIES", "PROMPT_TYPES",
    "PROMPT_MODES", "COMPRESSIONS", "DEVICES", "validate", "load", "loads", "is_json_text", "dumps", "save", "new_job", "add_object",
    "add_prompt", "mask_prompt", "points_prompt", "box_prompt", "polygon_prompt", "bezier_prompt",
    "job_frames", "plate_frames", "plate_gaps", "is_subtract_shape", "object_keyframes", "object_anchors", "object_absent", "absent_outside", "absent_segments", "absent_returns", "anchor_frames", "prompt_frame_kind",
    "prompt_kinds", "work_dir_name", "output_folder_name", "default_work_dir", "shared_work_dir", "map_paths",
]

JOBSPEC_VERSION = 1
# Backend, quality, compression and device names and the option schemas live in samatte.registry
# (one list for the validator, the CLI, the worker's hello and the factories).
PROMPT_TYPES = ("mask", "points", "box", "polygon", "bezier")
#: a dense prompt (mask, polygon, bezier, box) adds to the object's shape on its frame, or is
#: subtracted from the union of that frame's add shapes (holes, garbage mattes)
PROMPT_MODES = ("add", "subtract")
NONFINITE = ("fix", "error")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Channel/layer names that would clash with the output's own channels, or with layers Nuke reserves.
_RESERVED_NAMES = {"R", "G", "B", "A", "Y", "rgb", "rgba", "alpha", "quality", "Q", "main", "mask", "depth",
                   "forward", "backward", "motion", "deep", "other", "none", "all"}


def _err(msg, path=None, cls=JobSpecError):
    return cls(msg + ((" (at %s)" % path) if path else ""), field=path)


def _require(d, key, types, path, *, optional=False, default=None):
    if not isinstance(d, dict):
        raise _err("expected an object", path)
    if key not in d or d[key] is None:
        if optional:
            return default
        raise _err("missing required field %r" % key, path)
    v = d[key]
    if types is not None:
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise _err("field %r must be %s, not a bool" % (key, _tname(types)), "%s.%s" % (path, key))
        if not isinstance(v, types):
            raise _err("field %r must be %s, not %s" % (key, _tname(types), type(v).__name__),
                       "%s.%s" % (path, key))
    return v


def _json_data(v, path):
    """A free-form ``meta`` (the job's, an object's): JSON data, as a JobSpec file, the worker protocol and a
    farm bundle carry it: objects (string or integer keys), lists, strings, finite numbers, true / false /
    null. JOBSPEC_INVALID naming a value that is not (before: a NaN passed, so ``save`` and ``samatte
    validate`` wrote ``NaN``, which jq and other JSON readers refuse, and the worker refused the job as
    PROTOCOL_INVALID; a set or bytes passed and ``save`` raised a TypeError). Returns a copy of ``v`` in
    which a number a script computed with numpy (``float32``, ``int64``) is its value as a JSON number, as
    in the job's other fields (before: JOBSPEC_INVALID ``got float32``), and a tuple is a list. (How deep it
    nests: :func:`validate`'s limit on the whole document.)"""
    v = copy.deepcopy(v)
    stack: list = [(v, path, None, None)]   # (value, its path, the container holding it, its key or index there)
    while stack:
        x, p, box, key = stack.pop()
        if isinstance(x, tuple):
            x = list(x)
            if box is not None:
                box[key] = x
        if isinstance(x, dict):
            for k, item in x.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise _err("key %s is not a string (JSON object keys are strings)" % ascii(k)[:80], p)
                stack.append((item, "%s.%s" % (p, k), x, k))
        elif isinstance(x, list):
            stack.extend((item, "%s[%d]" % (p, i), x, i) for i, item in enumerate(x))
        elif isinstance(x, float):
            if not math.isfinite(x):
                raise _err("expected a finite number, got %r (JSON has no NaN or infinity)" % x, p)
        elif isinstance(x, numbers.Real) and not isinstance(x, (int, bool)) and box is not None:
            y = int(x) if isinstance(x, numbers.Integral) else float(x)   # (numpy's numbers)
            if isinstance(y, float) and not math.isfinite(y):
                raise _err("expected a finite number, got %r (JSON has no NaN or infinity)" % y, p)
            box[key] = y
        elif not (x is None or isinstance(x, (str, int))):   # (bool is an int)
            raise _err("expected JSON data (a string, number, true / false / null, list or object), got %s"
                       % type(x).__name__, p)
    return v


def _tname(types):
    if isinstance(types, tuple):
        return " or ".join(t.__name__ for t in types)
    return types.__name__


def _choice(v, choices, path):
    if v not in choices:
        raise _err("%r is not one of %s" % (v, ", ".join(repr(c) for c in choices)), path)
    return v


def _num(v, path, cls=JobSpecError, *, limit=None):
    """A finite JSON number as float; ``limit``: the largest magnitude accepted. An integer too large
    for a float (JSON ``1e400`` is inf, but ``1000...0`` with 400 digits is an int) is refused too. A
    number from Python that is no int or float (a numpy ``float32`` a script computed) is taken as its value
    (before: ``expected a finite number, got 2.0``)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise _err("expected a finite number, got %s" % _short(v), path, cls)
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise _err("expected a finite number, got %s" % _short(v), path, cls)
    if limit is not None and abs(x) > limit:
        raise _err("coordinate %s is beyond +-%g pixels" % (_short(v), limit), path, cls)
    return x


def _short(v):
    try:
        text = repr(v)
    except ValueError:   # an int past Python's digit limit for str() (4300 digits by default)
        return "<an integer of %d bits>" % v.bit_length() if isinstance(v, int) else "<a value>"
    except RecursionError:   # a list or dict nested deeper than Python's stack (samatte.api's arguments)
        return "<a %s nested too deeply>" % type(v).__name__
    return text if len(text) <= 60 else text[:57] + "..."


#: the largest coordinate (pixels, either sign) a prompt may have: far beyond any plate (a 16K plate is
#: 1.6e4 wide), while float64 geometry still places pixel centres to 1e-3 px; larger numbers are no
#: pixel position (and overflow the bezier flattening from about 1e154)
COORD_LIMIT = 1e12


def _unit(v, path):
    """A mask threshold: a finite number in [0, 1] (mask values are coverage in [0, 1]: a threshold
    below 0 would take every pixel, above 1 none)."""
    x = _num(v, path)
    if not 0.0 <= x <= 1.0:
        raise _err("a mask threshold is coverage in [0, 1], got %r" % (v,), path)
    return x


def _point(p, path, n=2, *, limit=COORD_LIMIT):
    if not isinstance(p, (list, tuple)) or len(p) != n:
        raise _err("expected a list of %d numbers, got %s" % (n, _short(p)), path, PromptError)
    return [_num(c, "%s[%d]" % (path, i), PromptError, limit=limit) for i, c in enumerate(p)]


#: the longest file name (bytes) most file systems take (ext4, XFS, APFS, NTFS in UTF-16 units)
_FOLDER_NAME_MAX = 255


#: characters Windows refuses in a file name (besides the separators), and its device names
_WIN_BAD_CHARS = re.compile(r'[<>:"|?*\x00-\x1f]')
_WIN_DEVICE = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\.|\s*$)", re.I)


def work_dir_name(name):
    """The job's name folder of its default work dir, ``<output folder>/.samatte/<folder>/<output folder name>/``
    (:func:`default_work_dir`; up to 0.2.19 ``<folder>`` itself, :func:`shared_work_dir`): the job's name
    when it is one ordinary folder name (the usual case, unchanged), else the name with each ``/`` and
    ``\\`` as ``_`` (``.`` and ``..`` as ``_._`` and ``_.._``), so that no name (``../../x``, ``/abs``,
    ``sh010/hero``) puts the track cache outside ``.samatte``. Any name is a valid job name: one over
    255 bytes of UTF-8 (a file system's longest file name) is cut and followed by ``~`` and a hash of
    the whole name, as the output's temp names are.

    The folder is also one that Windows can create and open (a Linux farm node writes it to storage
    that Windows and macOS artists read; ``samatte status`` there looks for the same folder): the
    characters Windows refuses in a name (``<>:"|?*`` and control characters) become ``_``, a device
    name (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``, any case, with or
    without an extension) gets a leading ``_``, and a name ending in ``.`` or a space (which Windows
    drops) a trailing ``_``."""
    n = (name or "samatte").replace("/", "_").replace("\\", "_")
    n = "_" + n if n in (".", "..") else n
    n = _WIN_BAD_CHARS.sub("_", n)
    if _WIN_DEVICE.match(n):
        n = "_" + n
    if n.endswith((".", " ")):
        n += "_"
    return fit_file_name(n, _FOLDER_NAME_MAX)


# folders a work dir of 0.2.19 and earlier holds (``<output folder>/.samatte/<name>/``): a job's own folder is never one
_SHARED_WORK_DIR_NAMES = {"track", "qc", "manifest.json"}


def output_folder_name(output_path):
    """The folder of a job's own default work dir inside ``<output folder>/.samatte/<name folder>/``: the
    output's file name with its frame token left out (``fg.####.exr`` -> ``fg..exr``; a token in a folder's
    name: the path after the output folder, ``v####/fg.exr`` -> ``v_fg.exr``), made one folder name as
    :func:`work_dir_name` makes the job's name (``track``, ``qc`` and ``manifest.json`` get a leading ``_``).
    Two jobs of one name writing into one folder (``fg.####.exr`` and ``bg.####.exr``, both ``sh010``)
    so keep their tracks, manifest and QC report apart, whichever runs first."""
    seq = _sequence(output_path, "output.path")
    folder = seq.directory
    text = seq._prefix + seq._suffix
    if folder:
        text = text[len(folder):].lstrip("/\\")
    n = work_dir_name(text or "output")
    return "_" + n if n.lower() in _SHARED_WORK_DIR_NAMES else n


def shared_work_dir(job):
    """``<output folder>/.samatte/<name folder>/``: the default work dir of samatte 0.2.19 and earlier, shared by
    every job of that name writing into that folder (None for a job with its own ``work_dir``). A run reads
    the stored tracks there whose keys are current (a job unchanged since then resumes; a key covers what
    decides the track, so another job's file is never taken), and writes nothing there."""
    if job.get("work_dir"):
        return None
    folder = _sequence(job["output"]["path"], "output.path").directory  # before any frame token in a folder name
    return os.path.join(os.path.abspath(folder or "."), ".samatte", work_dir_name(job.get("name")))


def default_work_dir(job):
    """``job.work_dir`` as given, else ``<output folder>/.samatte/<name folder>/<output folder name>/``
    (:func:`work_dir_name`, :func:`output_folder_name`): the one rule of run, status, qc, ``farm export``
    and the hosts, a function of the job alone (every machine resolves the same folder, in any order)."""
    if job.get("work_dir"):
        return job["work_dir"]
    return os.path.join(shared_work_dir(job), output_folder_name(job["output"]["path"]))


def fit_file_name(name, limit):
    """``name`` when its UTF-8 is at most ``limit`` bytes, else cut and followed by ``~`` and 12 hex
    digits of the whole name's SHA-256 (distinct long names stay distinct): the work dir's folder
    (:func:`work_dir_name`) and the output's temp names (``samatte.io.writer.temp_name``)."""
    b = name.encode("utf-8", "surrogateescape")
    if len(b) <= limit:
        return name
    digest = hashlib.sha256(b).hexdigest()[:12]
    return "%s~%s" % (b[:limit - 13].decode("utf-8", "ignore"), digest)


def _path_text(p, path):
    """A file path from the JobSpec: text that is valid UTF-8 (no lone surrogates, e.g. from a file name
    byte that is not UTF-8) and has no NUL character; JOBSPEC_INVALID otherwise."""
    if "\x00" in p:
        raise _err("path contains a NUL character", path)
    try:
        p.encode("utf-8")
    except UnicodeEncodeError:
        raise _err("path %s is not valid UTF-8 text (a file name byte that is not UTF-8?); rename the "
                   "file" % ascii(p)[:200], path) from None
    return p


def _sequence(pattern, field):
    """``pattern`` parsed as a frame-sequence pattern (:class:`samatte.io.sequence.SequencePattern`, standard
    library only); its error (PLATE_INVALID: two frame tokens, e.g. a '#' in a folder's name) names ``field``."""
    from .errors import SamatteError
    from .io.sequence import SequencePattern
    try:
        return SequencePattern(pattern)
    except SamatteError as e:
        e.details.setdefault("field", field)
        raise


def output_sequence(path):
    """The output ``path`` as a :class:`samatte.io.sequence.SequencePattern` with exactly one frame token, else
    OUTPUT_INVALID (field ``output.path``). ``validate`` applies it, so ``samatte validate``, ``farm export`` and
    a host's Send to farm refuse what ``run`` would (before: an output path with two tokens, a '#' in a folder's
    name, was a valid job and exported a farm bundle whose every task failed with OUTPUT_INVALID)."""
    from .errors import OutputError, SamatteError
    try:
        seq = _sequence(path, "output.path")
    except SamatteError as e:
        raise OutputError("output path %r is not a frame pattern: %s" % (path, e.message), path=path,
                          field="output.path") from None
    if not seq.has_frame_token:
        raise OutputError("output path %r has no frame number token (####, %%04d, $F4 or @)" % path, path=path,
                          field="output.path")
    return seq


def _check_unknown(d, allowed, path):
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise _err("unknown field(s) %s" % ", ".join(repr(e) for e in extra), path)


def _frame_number(p, path):
    """A prompt's ``frame``: an int, or a whole-number type a script computed it as (numpy's ``int64``: a frame
    taken from ``np.arange`` or an array of keyframes), stored as its int value, the rule of the job's frame
    lists (:mod:`samatte.frames`). Before, ``field 'frame' must be int, not int64`` while the same job's
    ``plate.frames``, coordinates and options took numpy's numbers. A bool, a float or a string is refused."""
    v = _require(p, "frame", None, path)
    n = _whole(v)
    if n is None:
        raise _err("field 'frame' must be int, not %s" % ("a bool" if isinstance(v, bool) else type(v).__name__),
                   "%s.frame" % path)
    return n


def _validate_prompt(p, path, job_frames_set):
    if not isinstance(p, dict):
        raise _err("a prompt must be an object", path, PromptError)
    ptype = _require(p, "type", str, path)
    if ptype not in PROMPT_TYPES:
        raise _err("unknown prompt type %r (one of %s)" % (ptype, ", ".join(PROMPT_TYPES)), path + ".type",
                   PromptError)
    frame = _frame_number(p, path)
    if job_frames_set is not None and frame not in job_frames_set:
        raise PromptError("prompt on frame %d is outside the job's frame range (at %s)" % (frame, path),
                          field=path, frame=frame)
    out = {"frame": frame, "type": ptype}
    common: tuple = ("frame", "type", "label")
    if ptype != "points":  # dense shapes and boxes: add to (default) or subtract from the object's shape
        common += ("mode",)
        out["mode"] = _choice(p.get("mode", "add"), PROMPT_MODES, path + ".mode")
    if ptype == "mask":
        _check_unknown(p, common + ("path", "channel", "threshold", "invert"), path)
        out["path"] = _path_text(_require(p, "path", str, path), path + ".path")
        if not out["path"].strip():
            raise _err("mask prompt path is empty", path + ".path", PromptError)
        out["channel"] = _require(p, "channel", str, path, optional=True)
        out["threshold"] = _unit(p.get("threshold", 0.5), path + ".threshold")
        out["invert"] = bool(_require(p, "invert", bool, path, optional=True, default=False))
    elif ptype == "points":
        _check_unknown(p, common + ("points", "labels"), path)
        pts = _require(p, "points", list, path)
        if not pts:
            raise _err("points prompt has no points", path + ".points", PromptError)
        out["points"] = [_point(q, "%s.points[%d]" % (path, i)) for i, q in enumerate(pts)]
        labels = _require(p, "labels", list, path, optional=True, default=[1] * len(pts))
        if len(labels) != len(pts):
            raise _err("points prompt has %d points but %d labels" % (len(pts), len(labels)), path + ".labels",
                       PromptError)
        for i, lab in enumerate(labels):
            if isinstance(lab, bool) or lab not in (0, 1):
                raise _err("point labels must be 1 (include) or 0 (exclude), got %r" % (lab,),
                           "%s.labels[%d]" % (path, i), PromptError)
        # a negative-only click is a correction: allowed when the object has a shape or a positive
        # point elsewhere (checked per object in validate)
        out["labels"] = [int(x) for x in labels]
    elif ptype == "box":
        _check_unknown(p, common + ("box",), path)
        box = _point(_require(p, "box", list, path), path + ".box", 4)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise _err("box must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0, got %r" % (box,), path + ".box",
                       PromptError)
        out["box"] = box
    elif ptype in ("polygon", "bezier"):
        _check_unknown(p, common + ("points", "invert", "feather", "closed"), path)
        pts = _require(p, "points", list, path)
        n = 2 if ptype == "polygon" else 6
        closed = bool(_require(p, "closed", bool, path, optional=True, default=True))
        need = 3 if closed else 2
        if len(pts) < need:
            raise _err("%s%s prompt needs at least %d points, got %d"
                       % ("" if closed else "open ", ptype, need, len(pts)), path + ".points", PromptError)
        out["points"] = [_point(q, "%s.points[%d]" % (path, i), n) for i, q in enumerate(pts)]
        xs = [q[0] for q in out["points"]]
        ys = [q[1] for q in out["points"]]
        if closed and (max(xs) - min(xs) <= 0 or max(ys) - min(ys) <= 0):
            raise _err("%s prompt has zero area" % ptype, path + ".points", PromptError)
        if not closed and max(xs) - min(xs) <= 0 and max(ys) - min(ys) <= 0:
            raise _err("open %s prompt has zero length" % ptype, path + ".points", PromptError)
        out["closed"] = closed  # false: an open stroke, positive points along it (negative if subtract)
        out["invert"] = bool(_require(p, "invert", bool, path, optional=True, default=False))
        if out["invert"] and not closed:
            raise _err("an open %s stroke cannot be inverted (invert needs a closed shape)" % ptype,
                       path + ".invert", PromptError)
        out["feather"] = _num(p.get("feather", 0.0), path + ".feather")
    if "label" in p:
        out["label"] = _require(p, "label", str, path)
    return out


def _defines_object(q):
    """Whether a validated prompt says where its object is (not only a correction of it)."""
    if q["type"] == "points":
        return any(q["labels"])
    return q.get("mode", "add") == "add"


def validate(doc):
    """Validate a JobSpec (a dict or a JSON string) and return a normalised deep copy.

    Normalisation fills defaults, parses ``plate.frames`` into the canonical string form, and sorts
    prompts by frame. Raises :class:`JobSpecError` (or a subclass) naming the offending field; a
    document nested too deeply for Python (e.g. 100000 levels in ``meta``) is JOBSPEC_INVALID too.
    Checks that need the plate itself (resolution, files on disk) happen when the job runs.
    """
    try:
        if isinstance(doc, (str, bytes)):
            doc = loads(doc)
        if _depth_over(doc, MAX_DEPTH):
            raise JobSpecError("JobSpec is nested more than %d levels deep" % MAX_DEPTH)
        return _validate(doc)
    except RecursionError:
        raise JobSpecError("JobSpec is nested too deeply") from None


#: deepest nesting of lists / dicts a JobSpec may have (a real one has ~6; ``meta`` is free-form). A
#: fixed limit, so that whether a document is refused does not depend on how deep the caller's stack is.
MAX_DEPTH = 100


def _depth_over(doc, limit):
    """Whether ``doc`` nests lists / dicts more than ``limit`` levels deep (iterative: no recursion; a
    container shared by several parts is walked again only when found deeper than before)."""
    stack = [(doc, 1)]
    seen: dict = {}   # id of a container -> the deepest level it was walked from
    while stack:
        v, d = stack.pop()
        if not isinstance(v, (dict, list, tuple)):
            continue
        if d > limit:
            return True
        if seen.get(id(v), 0) >= d:
            continue
        seen[id(v)] = d
        stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def _validate(doc):
    if not isinstance(doc, dict):
        raise JobSpecError("a JobSpec must be a JSON object, not %s" % type(doc).__name__, field="job")
    version = doc.get("samatte_job")
    if version is None and "samatte_farm" in doc and isinstance(doc.get("job"), dict):
        # a farm bundle's samatte_farm_job.json (``samatte status`` on a half-rendered farm job): its JobSpec's
        # folders are <Root> placeholders that only `farm task --root` fills in
        raise JobSpecError("not a samatte JobSpec but a farm job (samatte_farm_job.json, what `samatte farm export` "
                           "writes): give status, qc or run the JobSpec it was exported from; a render node runs it "
                           "with `samatte farm task FILE --root NAME=PATH ...`", field="samatte_job")
    if version is None:
        raise JobSpecError("not a samatte JobSpec: missing 'samatte_job' version field", field="samatte_job")
    if isinstance(version, bool) or not isinstance(version, int):
        raise JobSpecError("'samatte_job' must be an integer version", field="samatte_job")
    if version > JOBSPEC_VERSION or version < 1:
        raise JobSpecError("JobSpec version %d is not supported by this samatte (supports 1..%d)"
                           % (version, JOBSPEC_VERSION), field="samatte_job", version=version)
    _check_unknown(doc, ("samatte_job", "name", "plate", "objects", "tracker", "matte", "output", "device",
                         "work_dir", "meta"), "job")
    out: dict = {"samatte_job": JOBSPEC_VERSION}
    out["name"] = _require(doc, "name", str, "job", optional=True, default="samatte")
    if "\x00" in out["name"]:   # it names the default work dir's folder (work_dir_name) and a metadata string
        raise _err("job name contains a NUL character", "job.name")
    try:   # a folder name and EXR metadata: text that UTF-8 can carry (no lone surrogate, as paths)
        out["name"].encode("utf-8")
    except UnicodeEncodeError:
        raise _err("job name %s is not valid UTF-8 text (a lone surrogate)" % ascii(out["name"])[:200],
                   "job.name") from None

    plate = _require(doc, "plate", dict, "job")
    _check_unknown(plate, ("path", "frames", "colourspace", "ocio_config", "layer", "on_nonfinite"), "plate")
    p = {}
    p["path"] = _path_text(_require(plate, "path", str, "plate"), "plate.path")
    if not p["path"].strip():
        raise _err("plate path is empty", "plate.path")
    _sequence(p["path"], "plate.path")
    frames_spec = plate.get("frames")
    if frames_spec is None:
        p["frames"] = None  # resolved from the files on disk when the job runs
        fset = None
    else:
        try:
            flist = parse_frames(frames_spec)
        except FrameRangeError as e:
            raise FrameRangeError("%s (at plate.frames)" % e.message, field="plate.frames")
        p["frames"] = format_frames(flist)
        fset = set(flist)
    p["colourspace"] = _require(plate, "colourspace", str, "plate", optional=True)
    p["ocio_config"] = _require(plate, "ocio_config", str, "plate", optional=True)
    if p["ocio_config"] is not None:
        _path_text(p["ocio_config"], "plate.ocio_config")
    p["layer"] = _require(plate, "layer", str, "plate", optional=True)
    p["on_nonfinite"] = _choice(plate.get("on_nonfinite", "fix"), NONFINITE, "plate.on_nonfinite")
    out["plate"] = p

    objs = _require(doc, "objects", list, "job")
    if not objs:
        raise _err("a job needs at least one object", "objects")
    names = set()
    out["objects"] = []
    for i, o in enumerate(objs):
        path = "objects[%d]" % i
        if not isinstance(o, dict):
            raise _err("an object must be a JSON object", path)
        _check_unknown(o, ("name", "prompts", "masks", "colour", "meta", "host_name", "absent"), path)
        name = _require(o, "name", str, path, optional=True, default="object%d" % (i + 1))
        if not _NAME_RE.match(name) or name in _RESERVED_NAMES:
            raise _err("object name %r must be a letter or underscore followed by letters, digits or "
                       "underscores (at most 64), and not one of %s" % (name, sorted(_RESERVED_NAMES)),
                       path + ".name")
        if name in names:
            raise _err("duplicate object name %r" % name, path + ".name")
        names.add(name)
        ob = {"name": name}
        has_prompts = o.get("prompts") is not None
        has_masks = o.get("masks") is not None
        if not has_prompts and not has_masks:
            raise _err("an object needs 'prompts' (to be tracked), 'masks' (refine-only) or both (tracked, "
                       "the masks win on the frames they exist); it has neither", path, PromptError)
        if "host_name" in o:
            ob["host_name"] = _require(o, "host_name", str, path)
        absent = set()
        if o.get("absent") is not None:
            try:
                absent = set(parse_frames(o["absent"]))
            except FrameRangeError as e:
                raise FrameRangeError("%s (at %s.absent)" % (e.message, path), field=path + ".absent")
            ob["absent"] = format_frames(sorted(absent))
        if has_prompts:
            prompts = _require(o, "prompts", list, path)
            if not prompts:
                raise _err("object %r has an empty prompt list" % name, path + ".prompts", PromptError)
            ob["prompts"] = sorted(
                (_validate_prompt(q, "%s.prompts[%d]" % (path, j), fset) for j, q in enumerate(prompts)),
                key=lambda q: q["frame"])
            on_absent = [j for j, q in enumerate(ob["prompts"]) if q["frame"] in absent]
            if on_absent:
                q = ob["prompts"][on_absent[0]]
                raise _err("object %r has a prompt on frame %d, where its 'absent' (%s) says it is not in the shot"
                           % (name, q["frame"], ob["absent"][:100]), path + ".prompts", PromptError)
            if not any(_defines_object(q) for q in ob["prompts"]):
                raise _err("object %r has no prompt that says where it is: it needs an add-mode mask, polygon, "
                           "bezier or box, or a positive (label 1) point; subtract shapes and negative clicks "
                           "only correct such a shape" % name, path + ".prompts", PromptError)
        if has_masks:
            m = o["masks"]
            if isinstance(m, str):
                m = {"path": m}
            if not isinstance(m, dict):
                raise _err("'masks' must be a path pattern or an object", path + ".masks")
            _check_unknown(m, ("path", "channel", "threshold", "soft"), path + ".masks")
            ob["masks"] = {"path": _path_text(_require(m, "path", str, path + ".masks"), path + ".masks.path"),
                           "channel": _require(m, "channel", str, path + ".masks", optional=True),
                           "threshold": _unit(m.get("threshold", 0.5), path + ".masks.threshold"),
                           "soft": bool(_require(m, "soft", bool, path + ".masks", optional=True,
                                                 default=False))}
            if not ob["masks"]["path"].strip():
                raise _err("mask sequence path is empty", path + ".masks.path")
        if "colour" in o:
            ob["colour"] = _point(o["colour"], path + ".colour", 3, limit=None)
        if "meta" in o:
            ob["meta"] = _json_data(_require(o, "meta", dict, path), path + ".meta")
        out["objects"].append(ob)

    tr = _require(doc, "tracker", dict, "job", optional=True, default={})
    _check_unknown(tr, ("backend", "model", "options"), "tracker")
    tbackend = _choice(tr.get("backend", "auto"), TRACKER_BACKENDS, "tracker.backend")
    tmodel = _require(tr, "model", str, "tracker", optional=True, default="sam2.1_hiera_tiny")
    if tbackend in ("auto", "sam2"):  # the backends that may load it
        validate_model(tmodel)
    out["tracker"] = {
        "backend": tbackend,
        "model": tmodel,
        "options": validate_options("tracker", tbackend,
                                    _require(tr, "options", dict, "tracker", optional=True, default={})),
    }
    mt = _require(doc, "matte", dict, "job", optional=True, default={})
    _check_unknown(mt, ("backend", "quality", "options"), "matte")
    mbackend = _choice(mt.get("backend", "auto"), MATTE_BACKENDS, "matte.backend")
    out["matte"] = {
        "backend": mbackend,
        "quality": _choice(mt.get("quality", "default"), MATTE_QUALITIES, "matte.quality"),
        "options": validate_options("matte", mbackend,
                                    _require(mt, "options", dict, "matte", optional=True, default={})),
    }
    op = _require(doc, "output", dict, "job")
    _check_unknown(op, ("path", "object_layers", "foreground", "quality_map", "compression", "overwrite",
                        "keep_other_plates"), "output")
    out["output"] = {
        "path": _path_text(_require(op, "path", str, "output"), "output.path"),
        "object_layers": bool(_require(op, "object_layers", bool, "output", optional=True, default=True)),
        "foreground": bool(_require(op, "foreground", bool, "output", optional=True, default=True)),
        "quality_map": bool(_require(op, "quality_map", bool, "output", optional=True, default=True)),
        "compression": validate_compression(op.get("compression", "zip")),
        "overwrite": bool(_require(op, "overwrite", bool, "output", optional=True, default=False)),
    }
    if _require(op, "keep_other_plates", bool, "output", optional=True, default=False):
        # frames made from another plate (their samatte/plate) are another job's: kept, OUTPUT_INVALID (for
        # outputs named after the plate's file name, as Blender's: sh010/ and sh020/plate.####.exr share one)
        out["output"]["keep_other_plates"] = True
    if not out["output"]["path"].strip():
        raise _err("output path is empty", "output.path")
    output_sequence(out["output"]["path"])
    if not out["output"]["path"].lower().endswith(".exr"):
        # the frames are OpenEXR whatever the name says: a .png / .tif name would hand a host a file
        # its reader for that extension cannot decode
        raise _err("output path %s must end in .exr: samatte writes its mattes as OpenEXR (scene-linear "
                   "float alpha, object layers)" % ascii(out["output"]["path"])[:200], "output.path")
    out["device"] = validate_device(_require(doc, "device", str, "job", optional=True, default="auto"))
    out["work_dir"] = _require(doc, "work_dir", str, "job", optional=True)
    if out["work_dir"] is not None:
        _path_text(out["work_dir"], "work_dir")
    if "meta" in doc:
        out["meta"] = _json_data(_require(doc, "meta", dict, "job"), "meta")
    return out


def loads(text):
    """Parse JobSpec JSON text (str or UTF-8 bytes); JOBSPEC_INVALID for bad JSON, bytes that are not
    UTF-8 and documents nested too deeply to parse."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JobSpecError("JobSpec is nested too deeply to parse") from None
    except UnicodeDecodeError as e:
        raise JobSpecError("JobSpec is not UTF-8 text: %s" % e) from None
    except (ValueError, TypeError) as e:
        raise JobSpecError("JobSpec is not valid JSON: %s" % e) from None


def is_json_text(job):
    """Whether ``job``, given as a ``str``, is a JobSpec's JSON text rather than a JobSpec file's path: it starts
    with ``{`` and names no file (a job file named ``{sh010}_job.json``, a pipeline template left unfilled, is a
    file). A ``pathlib.Path`` is always a file (False)."""
    return isinstance(job, str) and job.lstrip().startswith("{") and not os.path.isfile(job)


#: the largest JobSpec file :func:`load` reads (bytes): 16 times what a host can send the worker in one
#: message (``samatte.protocol.MAX_LINE``). A larger file is no JobSpec (a movie or a plate given by
#: mistake): it was read whole before JSON refused it (a 3 GB file: 58 s and 6.3 GB of memory; a larger
#: one, or ``/dev/zero``, until the machine ran out of memory).
MAX_FILE_BYTES = 256 * 1024 * 1024


def read_text(path, what="JobSpec"):
    """The UTF-8 text of a JSON file (``what`` names it in errors: ``JobSpec``, ``the farm job``):
    JOBSPEC_INVALID naming the file when it cannot be read, is larger than :data:`MAX_FILE_BYTES` (told
    by its size before a byte is read) or is not UTF-8. A pipe (``<(...)`` in a shell) is read as it
    comes, up to that size."""
    too_big = "%s %s is larger than %d MiB: is it a %s file?"
    big = (what, path, MAX_FILE_BYTES >> 20, "JobSpec" if what == "JobSpec" else "samatte farm job")
    try:
        with open(path, "rb") as f:
            try:
                size = os.fstat(f.fileno()).st_size
            except OSError:
                size = 0
            if size > MAX_FILE_BYTES:
                raise JobSpecError(too_big % big, path=str(path))
            data = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as e:
        raise JobSpecError("cannot read %s %s: %s" % (what, path, getattr(e, "strerror", None) or e),
                           path=str(path))
    if len(data) > MAX_FILE_BYTES:   # a pipe or a device: no size to tell beforehand
        raise JobSpecError(too_big % big, path=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise JobSpecError("%s %s is not UTF-8 text (byte %d: %r)" % (what, path, e.start, data[e.start:e.start + 1]),
                           path=str(path)) from None


def load(path):
    """Read and validate a JobSpec file; relative paths inside it are resolved against its folder.
    A file that cannot be read, is larger than :data:`MAX_FILE_BYTES` or is not UTF-8 is JOBSPEC_INVALID
    naming the file (:func:`read_text`)."""
    doc = loads(read_text(path))
    job = validate(doc)
    return resolve_paths(job, os.path.dirname(os.path.abspath(path)))


#: the tracker / matte options that name a file or folder (resolved like the job's other paths)
_PATH_OPTIONS = {
    "tracker": sorted({n for opts in TRACKER_OPTIONS.values() for n, o in opts.items() if o.type == "path"}),
    "matte": sorted(n for n, o in MATTE_OPTIONS.items() if o.type == "path"),
}

#: a Windows absolute path (``C:\\``, ``C:/``, ``\\\\server\\share``): absolute wherever it is read
_WIN_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def windows_abs(path):
    """True for a Windows absolute path (``C:\\``, ``C:/``, ``\\\\server\\share``), whatever OS reads it (the
    hosts' adapters tell a path of another OS by it)."""
    return isinstance(path, str) and bool(_WIN_ABS.match(path))


def resolve_paths(job, base):
    """Make every relative file path in a validated job absolute against ``base``.

    A JobSpec written on Windows reads the same on Linux and macOS: in a relative path a ``\\`` is a
    separator (``..\\plates\\p.####.exr`` is ``<base>/../plates/p.####.exr``, not one file name in
    ``base``), and a Windows absolute path (a drive letter, a UNC ``\\\\server\\share``) is left
    as it is, never joined to ``base`` (it names a folder of a Windows machine: map it with ``samatte
    farm export`` and ``--root``, or write the job with this machine's paths).

    Tracker and matte options of type ``path`` (:mod:`samatte.registry`: ``tracker.options.work_dir``,
    ``matte.options.checkpoint``) are resolved too: left relative to the process's working directory,
    the same JobSpec run from another folder spilled elsewhere (or failed with OUTPUT_INVALID) and
    stamped and looked for another checkpoint (other keys; ``auto`` could pick another matte).

    A path starting with ``~`` (``~/shots/...``, ``~user/...``) is that user's home on this machine, in
    every path of the job (before: the job's own paths became ``<base>/~/shots/...``, a folder that does
    not exist, while path options kept the ``~`` for the code using them to expand)."""
    def fix(p):
        if p is None:
            return p
        if p.startswith("~"):
            p = os.path.expanduser(p)
        if os.path.isabs(p):
            return p
        if os.sep == "/":
            if _WIN_ABS.match(p):
                return p
            p = p.replace("\\", "/")
        return os.path.normpath(os.path.join(base, p))
    return _map_paths(job, fix)


def expand_home(job, *, in_place=False):
    """A copy of a validated job (``in_place``: the job itself) whose paths starting with ``~`` (``~/shots/...``, ``~user/...``) are that
    user's home on this machine, in the paths :func:`resolve_paths` resolves; other paths are left as
    they are (relative ones stay relative to the process's working directory). For a job given as a dict
    or a JSON string (the Python API, the worker protocol), which no JobSpec file's folder anchors: before,
    its ``~`` stayed literal, so the plate was missing and the output, work_dir and cache were written
    under a folder named ``~`` in the working directory."""
    return _map_paths(job, lambda p: os.path.expanduser(p) if p is not None and p.startswith("~") else p,
                      in_place=in_place)


def map_paths(job, fix):
    """A copy of a validated ``job`` with ``fix(path)`` applied to each of its file paths (plate, output, OCIO config
    file, work_dir, path options, mask prompts, mask sequences; ``work_dir`` may be None): the fields
    :func:`resolve_paths` resolves (a host maps a job made on another OS with it)."""
    return _map_paths(job, fix)


def _map_paths(job, fix, *, in_place=False):
    """A copy of ``job`` (``in_place``: ``job``) with ``fix`` applied to each of its file paths (plate,
    output, OCIO config file, work_dir, path options, mask prompts, mask sequences)."""
    if not in_place:
        job = copy.deepcopy(job)
    job["plate"]["path"] = fix(job["plate"]["path"])
    job["output"]["path"] = fix(job["output"]["path"])
    if job.get("plate", {}).get("ocio_config") and not job["plate"]["ocio_config"].startswith("ocio://"):
        job["plate"]["ocio_config"] = fix(job["plate"]["ocio_config"])
    # an empty work_dir is no folder (the default, as for null and as the path options' empty value): before,
    # fix("") made a JobSpec file's work_dir its own folder, so manifest.json, track/ and qc/ went among the
    # user's files there, shared by every job file of that folder, while the same job as a dict used the default
    if job.get("work_dir"):
        job["work_dir"] = fix(job["work_dir"])
    for kind, names in _PATH_OPTIONS.items():
        opts = job.get(kind, {}).get("options") or {}
        for name in names:
            v = opts.get(name)
            if isinstance(v, str) and v:
                opts[name] = fix(v)
    for o in job["objects"]:
        for q in o.get("prompts", []):
            if q["type"] == "mask":
                q["path"] = fix(q["path"])
        if "masks" in o:
            o["masks"]["path"] = fix(o["masks"]["path"])
    return job


def dumps(job, *, indent=2):
    return json.dumps(job, indent=indent, sort_keys=False)


def save(job, path):
    """Validate and write a JobSpec atomically (temp file + rename)."""
    from .atomic import write_atomically
    job = validate(job)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(dumps(job))
            f.write("\n")
    # a missing folder, a folder at the path, no permission: OUTPUT_INVALID, no temp left
    write_atomically(path, "%s.tmp%d.%d" % (path, os.getpid(), threading.get_ident()), write, what="JobSpec")
    return path


# --- building helpers (for TDs and adapters) -------------------------------------------------------

def new_job(plate_path, output_path, *, frames=None, colourspace=None, ocio_config=None, layer=None,
            name="samatte", tracker="auto", model="sam2.1_hiera_tiny", matte="auto", quality="default",
            foreground=True, object_layers=True, quality_map=True, compression="zip", device="auto",
            overwrite=False, work_dir=None):
    """A job dict with no objects yet; add them with :func:`add_object`. Paths may be str or
    ``os.PathLike`` (``pathlib.Path``): they are stored as str."""
    plate_path, output_path, ocio_config, work_dir = (_fspath(p) for p in (plate_path, output_path, ocio_config,
                                                                           work_dir))
    return {
        "samatte_job": JOBSPEC_VERSION, "name": name,
        "plate": {"path": plate_path, "frames": frames, "colourspace": colourspace,
                  "ocio_config": ocio_config, "layer": layer},
        "objects": [],
        "tracker": {"backend": tracker, "model": model, "options": {}},
        "matte": {"backend": matte, "quality": quality, "options": {}},
        "output": {"path": output_path, "object_layers": object_layers, "foreground": foreground,
                   "quality_map": quality_map, "compression": compression, "overwrite": overwrite},
        "device": device, "work_dir": work_dir,
    }


def add_object(job, name, prompts=None, *, masks=None, host_name=None, absent=None):
    """Append an object (tracked from ``prompts``, refine-only from a ``masks`` pattern, or both);
    ``absent``: the frames where it is not in the shot (a range string or a list)."""
    ob = {"name": name}
    if host_name is not None:
        ob["host_name"] = host_name
    if absent is not None:
        ob["absent"] = absent
    if masks is not None:
        if isinstance(masks, dict):
            ob["masks"] = dict(masks, path=_fspath(masks.get("path")))
        else:
            ob["masks"] = {"path": _fspath(masks)}
    if masks is None or prompts:
        ob["prompts"] = list(prompts or [])
    job.setdefault("objects", []).append(ob)
    return ob


def add_prompt(job, name, prompt):
    for ob in job.get("objects", []):
        if ob.get("name") == name:
            ob.setdefault("prompts", []).append(prompt)
            return prompt
    raise JobSpecError("no object named %r in the job" % name)


def _fspath(p):
    """A path argument of a helper as str (``pathlib.Path`` accepted); None and non-paths as they are
    (validation says what is wrong with them)."""
    return os.fspath(p) if isinstance(p, os.PathLike) else p


def mask_prompt(frame, path, *, channel=None, threshold=0.5, invert=False, mode="add"):
    return {"frame": int(frame), "type": "mask", "path": _fspath(path), "channel": channel, "threshold": threshold,
            "invert": invert, "mode": mode}


def points_prompt(frame, points, labels=None):
    pts = [[float(x), float(y)] for x, y in points]
    return {"frame": int(frame), "type": "points", "points": pts,
            "labels": [int(v) for v in (labels if labels is not None else [1] * len(pts))]}


def box_prompt(frame, box, *, mode="add"):
    return {"frame": int(frame), "type": "box", "box": [float(v) for v in box], "mode": mode}


def polygon_prompt(frame, points, *, invert=False, feather=0.0, mode="add", closed=True):
    return {"frame": int(frame), "type": "polygon", "points": [[float(x), float(y)] for x, y in points],
            "invert": invert, "feather": feather, "mode": mode, "closed": closed}


def bezier_prompt(frame, points, *, invert=False, feather=0.0, mode="add", closed=True):
    """``points``: [x, y, in_x, in_y, out_x, out_y] per control point, handles absolute; ``closed=False``
    is an open stroke."""
    return {"frame": int(frame), "type": "bezier", "points": [[float(v) for v in q] for q in points],
            "invert": invert, "feather": feather, "mode": mode, "closed": closed}


def job_frames(job):
    """The validated job's ``plate.frames`` as a list of ints, or None when it names none (the frames then come
    from the plate pattern's own range, else the files on disk: :func:`plate_frames`)."""
    fr = job["plate"].get("frames")
    return parse_frames(fr) if fr else None


def is_subtract_shape(p):
    """Whether a prompt (JobSpec or prepared) is a subtract shape: a closed ``mode: "subtract"`` mask,
    polygon, bezier or box (an open stroke is negative points, not a shape; preparing it makes it a
    ``points`` prompt). The trackers cut these from the frame's shapes, the matte stage from the alpha."""
    return (p.get("type") in ("mask", "polygon", "bezier", "box") and p.get("mode", "add") == "subtract"
            and p.get("closed") is not False)


def plate_frames(job):
    """The frames a (validated) job makes: ``plate.frames``, else the range in the plate pattern itself
    (``plate.1001-1100x2####.exr``), else the plate's files on disk (sorted ints; [] when none). The one
    rule that run, status, qc, the farm export and the cache keys (a host's too) share: qc and the export
    took the files on disk before the pattern's own range, so a job over ``p.1001-1003####.exr`` with six
    files on disk failed qc for the three frames it never makes and exported tasks for them."""
    fr = job_frames(job)
    if fr is not None:
        return fr
    from .io.sequence import SequencePattern   # stdlib only (os, re)
    return SequencePattern(job["plate"]["path"]).default_frames()


def plate_gaps(job, frames):
    """A warning (text) when the job's frames are the plate's files on disk (it names no ``plate.frames``
    and its pattern no range of its own) and those skip frames of their own step (``9001-9499,9501-10400``:
    9500 missing, a frame the render dropped); else None. Such a frame is not one of the job's: no run made
    it, no QC named it, while the comp reads a hole there. A job on twos (one step throughout) is none.
    ``run`` logs it as it starts, ``qc`` and ``farm export`` too."""
    fr = sorted(set(frames or ()))
    if job_frames(job) is not None or len(fr) < 3:
        return None
    from .io.sequence import SequencePattern   # stdlib only (os, re)
    if SequencePattern(job["plate"]["path"]).frames:
        return None
    step = min(b - a for a, b in zip(fr, fr[1:]))
    # the runs skipped between neighbours, walked pair by pair (a stray p.86400000.exr beside p.0001.exr must
    # not make a list of 86 million frames)
    runs = [(a + step, b - step) for a, b in zip(fr, fr[1:]) if b - a > step]
    if not runs:
        return None
    count = sum((hi - lo) // step + 1 for lo, hi in runs)
    text = ",".join(str(lo) if lo == hi else ("%d-%d" % (lo, hi) if step == 1 else "%d-%dx%d" % (lo, hi, step))
                    for lo, hi in runs)
    whole = "%d-%d" % (fr[0], fr[-1]) if step == 1 else "%d-%dx%d" % (fr[0], fr[-1], step)
    return ("the plate's files on disk skip %d frame(s): %s (the job names no frames, so its frames are the files "
            "there, %s): a frame missing from the render is not made and fails no QC; re-render it, or "
            "set the job's plate.frames (%s) to have a missing one refused"
            % (count, text if len(text) <= 200 else text[:200] + "...", format_frames(fr)[:200], whole))


def object_keyframes(obj):
    """Sorted unique frames that carry prompts for ``obj``."""
    return sorted({q["frame"] for q in obj.get("prompts", [])})


def prompt_frame_kind(prompts):
    """What one object's prompts on one frame make of that frame: ``"shape"`` (an add-mode ``mask``,
    closed ``polygon`` / ``bezier`` or ``box``), else ``"seed"`` (a positive point: a points prompt with
    a label 1, or an open add-mode stroke), else ``"hint"`` (negative clicks, subtract shapes). Works on
    JobSpec prompts and on the trackers' prepared ones (where open strokes are points prompts)."""
    if any(q["type"] in ("mask", "box", "polygon", "bezier") and q.get("mode", "add") == "add"
           and q.get("closed", True) is not False for q in prompts):
        return "shape"
    if any((q["type"] == "points" and any(q.get("labels") or [1] * len(q["points"])))
           or (q["type"] in ("polygon", "bezier") and q.get("closed", True) is False
               and q.get("mode", "add") == "add") for q in prompts):
        return "seed"
    return "hint"


def anchor_frames(kinds, *, refine_points=True):
    """Sorted *anchors* of one object (the frames its track starts from, from its prompts alone), from
    ``kinds``: frame (or frame index) -> :func:`prompt_frame_kind`. The one rule every tracker and the
    cache keys use: the ``"shape"`` frames; an object with none is seeded from its first ``"seed"``
    frame; with ``refine_points`` off (a SAM2 option) every ``"seed"`` frame is an anchor too. Every
    other prompted frame is a correction (hint) of the tracked mask."""
    shapes = sorted(f for f, k in kinds.items() if k == "shape")
    seeds = sorted(f for f, k in kinds.items() if k == "seed")
    if not refine_points:
        return sorted(set(shapes) | set(seeds))
    return shapes or seeds[:1]


def prompt_kinds(prompts, frames=None):
    """frame -> :func:`prompt_frame_kind` of a JobSpec object's ``prompts`` (only those on ``frames``,
    a set, when given)."""
    by_frame: dict = {}
    for q in prompts:
        f = int(q["frame"])
        if frames is None or f in frames:
            by_frame.setdefault(f, []).append(q)
    return {f: prompt_frame_kind(qs) for f, qs in by_frame.items()}


def object_absent(obj):
    """The frames a validated JobSpec object's ``absent`` names (a set of ints; empty without one)."""
    a = obj.get("absent")
    return set(parse_frames(a)) if a else set()


def absent_outside(job, frames):
    """One warning per object whose ``absent`` names none of ``frames`` (the job's frames): a typo such as
    ``102-103`` for a job of 1001-1008 (not an error: a TD may narrow a job's range on purpose). A run logs
    them as it starts, ``samatte validate`` prints them on stderr. [] when ``frames`` is empty."""
    from .frames import format_frames
    have = set(frames or ())
    if not have:
        return []
    return ["object %r: its absent %r names none of the job's frames %s, so it is present on every frame"
            % (o["name"], o["absent"], format_frames(sorted(have)))
            for o in job.get("objects", []) if o.get("absent") and not object_absent(o) & have]


def absent_segments(frames, absent):
    """The runs of ``frames`` (sorted job frames) where the object is present, split by its ``absent``
    frames: a list of lists of frames (one list, all frames, when none of them is absent)."""
    segs: list = []
    cur: list = []
    for f in frames:
        if f in absent:
            if cur:
                segs.append(cur)
            cur = []
        else:
            cur.append(f)
    if cur:
        segs.append(cur)
    return segs


def absent_returns(frames, absent):
    """The frames of ``frames`` (sorted) where an object absent on ``absent`` comes back: absent on the frame
    before, not on this one. The trackers restart the matte's temporal state there
    (:func:`samatte.cachekey.temporal_refs` keys the same restarts)."""
    frames = list(frames)
    return {f for p, f in zip(frames, frames[1:]) if p in absent and f not in absent}


def object_anchors(obj):
    """Sorted anchors (:func:`anchor_frames`) of a validated JobSpec object: the frames where its track
    restarts from its prompts alone in the weights-free trackers (samatte.track.seed.object_roles),
    here without numpy for hosts and cache keys. [] for an object without prompts."""
    return anchor_frames(prompt_kinds(obj.get("prompts") or []))
