"""Open Job Description job bundles for a samatte job (what Deadline Cloud submits).

``export_openjd(job, folder, *, chunk=10, preroll=None, python=None, models_dir=None)`` writes::

    folder/template.yaml          the job template (specificationVersion jobtemplate-2023-09,
                                  extension TASK_CHUNKING)
    folder/parameter_values.yaml  this job's values for the template's parameters (Deadline Cloud form)
    folder/asset_references.yaml  input and output folders (Deadline Cloud job attachments)
    folder/openjd_params.json     the same values as ``openjd run -p file://...`` takes them
    folder/samatte_farm_job.json  the farm document embedded in the template, for reading

The template has up to three steps, each task one call of the samatte command line:

* ``Track`` (only when an object is tracked): ``samatte run JOB --stage track --frames ALL``; tracking
  is sequential in frames, and its per-frame, per-object result goes to the job's track cache. With
  two or more tracked objects and a tracker that tracks them one at a time
  (:data:`samatte.cachekey.INDEPENDENT_TRACKERS`: ``shapes``, ``flow``) it has one task per object
  (an ``Object`` STRING task parameter, ``--objects={{Task.Param.Object}}``); with ``sam2`` one task
  (it propagates all objects in one pass whose start and memory resets follow every object's
  prompts, so one object's track depends on the others').
* ``Matte`` (depends on Track): a ``CHUNK[INT]`` task parameter over the frames, ``ChunkSize`` frames
  per task (CONTIGUOUS; NONCONTIGUOUS for frames with gaps or steps, a job on twos), each
  ``samatte run JOB --stage matte --frames=CHUNK --preroll K``; the chunks run in parallel on as many
  nodes as the farm gives.
* ``QC`` (depends on Matte): ``samatte qc`` checks every frame (present, readable, key current) and
  writes the report and contact sheet; it fails the job when a frame is not right.

Portable paths: every path of the JobSpec is rewritten relative to a *root* folder, and each root is a
job parameter of type PATH (``Plate``, ``Output``, ``Input1``...), so the farm's path mapping turns
the submitting machine's folders into the render node's. The tasks run ``samatte farm task``, which
puts the mapped roots back into the job and then runs exactly the ``samatte run`` / ``samatte qc``
command above. The samatte interpreter (``SamattePython``) and the models folder (``ModelsDir``,
each task's ``SAMATTE_MODELS`` when not empty: ``samatte farm task --models-dir``) are job parameters too, of type STRING: they name the render nodes'
folders, which no path mapping or job attachment may touch; the template itself names no folder of the
submitting machine (its values live in parameter_values.yaml).

``auto`` backends are resolved here, at export time, and written into the embedded job, so every
node runs the same tracker and matter whatever weights it has.

Standard library only (a host can export in its own Python); resolving ``auto`` imports samatte's
model lookup lazily.
"""
import copy
import json
import os
import re
import sys

from .. import __version__
from ..cachekey import INDEPENDENT_TRACKERS
from ..errors import FrameRangeError, JobSpecError, OutputError
from ..registry import resolved_tracker_options
from ..threads import MAX_THREADS
from . import yamlout

__all__ = ["FARM_DOC_VERSION", "SPEC_VERSION", "export_openjd", "farm_document", "build_template",
           "localize", "ocio_environment", "ocio_context", "load_farm_document", "resolve_backends", "frames_to_range_expr",
           "DEFAULT_CHUNK"]

FARM_DOC_VERSION = 1
SPEC_VERSION = "jobtemplate-2023-09"
DEFAULT_CHUNK = 10
TEMPLATE_NAME = "template.yaml"
_ROOT_RX = re.compile(r"^<([A-Za-z][A-Za-z0-9]{0,40})>(?:[/\\](.*))?$", re.S)


# --- backends and frames ------------------------------------------------------------------------------

def resolve_backends(job):
    """What ``auto`` means on this machine: ``{"tracker", "model", "matte", ...}`` ("masks" as the
    tracker when no object is tracked): :func:`samatte.pipeline.resolve_backends` (what the cache keys
    use; importing samatte.pipeline needs only the standard library)."""
    from ..pipeline import resolve_backends as _pipeline_resolve
    return _pipeline_resolve(job)


def frames_to_range_expr(frames):
    """An OpenJD integer range expression for a list of frames: ``1001-1100``, ``1,3,5-9``; a run of
    three or more frames with one step over 1 is ``A-B:STEP`` (a job on twos is ``1001-1199:2``, not
    a list of 100 numbers: OpenJD allows 1024 characters in the ``Frames`` parameter)."""
    from ..frames import format_frames
    text = format_frames(frames, step_sep=":")
    if not text:
        raise JobSpecError("the job has no frames")
    return text


def _job_frames(job):
    from ..jobspec import plate_frames   # plate.frames, the pattern's own range, the files on disk
    fr = plate_frames(job)
    if not fr:
        from ..io.sequence import SequencePattern
        from ..errors import MissingFrameError
        path = job["plate"]["path"]
        if _path_module(path) is not os.path:   # a Windows workstation's job exported here: nothing to list
            raise MissingFrameError("the plate %s is a Windows path, whose frames this machine cannot list: name "
                                    "the job's frames (its plate.frames, e.g. 1001-1100)" % path, path=path,
                                    field="plate.frames")
        seq = SequencePattern(path)
        raise MissingFrameError("no frames of the plate %s were found on disk%s"
                                % (path, seq.padding_hint()), path=path)
    return fr


# --- roots: the job's paths as PATH parameters -------------------------------------------------------

def _path_slots(job):
    """(dict, key, role, pattern) for every file path in a validated job (``pattern``: a frame sequence's
    pattern, the plate's, the output's, a ``masks`` object's)."""
    slots = []

    def add(d, k, role, pattern=False):
        if isinstance(d, dict) and isinstance(d.get(k), str) and d.get(k):
            slots.append((d, k, role, pattern))
    add(job["plate"], "path", "plate", True)
    add(job["output"], "path", "output", True)
    oc = job["plate"].get("ocio_config")
    if oc and not oc.startswith("ocio://"):
        add(job["plate"], "ocio_config", "in")
    add(job, "work_dir", "work")
    for o in job["objects"]:
        for q in o.get("prompts", []):
            if q.get("type") == "mask":
                add(q, "path", "in")
        if "masks" in o:
            add(o["masks"], "path", "in", True)
    for sect in ("tracker", "matte"):
        opts = job[sect].get("options") or {}
        add(opts, "checkpoint", "in")
        add(opts, "work_dir", "work")
    return slots


def _path_module(path):
    """The path module a job path is worked out with: ``ntpath`` for a Windows absolute path (``Z:\\...``,
    ``\\\\server\\share``) on a machine that is not Windows, else ``os.path``. A job saved by a Windows
    workstation and exported on Linux (the Linux TD's submission, a submission service) had its Windows paths
    taken as relative file names: one root, the current folder, and ``<Plate>/Z:\\shots\\...`` paths that
    no node could map; now its roots are the Windows folders, as an export on Windows gives them."""
    import ntpath
    from ..jobspec import windows_abs
    return ntpath if os.name != "nt" and windows_abs(path) else os.path


def _root_folder(pm, path, pattern):
    """The folder a root of ``path`` is: its folder, or for a frame ``pattern`` whose frame token lies in a
    folder's name (a frame per folder, ``renders/####/matte.exr``) the folder above that one. That folder
    was the root (``renders/####``): a node given its own folder for the root (Deadline's job attachments map
    each root to a session folder) had no frame token left (every task OUTPUT_INVALID, a plate FRAME_MISSING),
    and the asset references named a folder ``####`` that is never written."""
    if pattern:
        from ..io.sequence import SequencePattern
        seq = SequencePattern(path)
        if seq.has_frame_token:
            return pm.dirname(seq._prefix)
    return pm.dirname(path)


def _under(path, folder):
    """Whether ``path`` is ``folder`` or inside it. A Windows path compares without regard to case
    (``Z:\\Shots\\a`` and ``z:\\shots\\A`` are one folder there): before, a job whose plate, output and roto named
    one share in two spellings got one root per spelling (two PATH parameters and two job-attachment inputs for
    one folder, an output root nested in an input root)."""
    pm = _path_module(path)
    if pm is not _path_module(folder):   # a Windows folder and this machine's
        return False
    try:
        return pm.normcase(pm.commonpath([path, folder])) == pm.normcase(folder)
    except ValueError:  # different drives on Windows
        return False


def farm_document(job, *, frames=None):
    """The farm document: ``{"samatte_farm": 1, "job": job with "<Root>/rel" paths, "roots":
    {name: {"dir": local folder, "flow": "IN"|"OUT"|"INOUT"}}, "frames": range to process (``frames``, a
    subset, or all the job's frames; the job itself keeps its own range), "resolved": ...}``.
    ``roots[...]["dir"]`` is the submitting machine's folder; it goes to parameter_values, never into
    the template."""
    from ..jobspec import resolve_paths, validate
    job = resolve_paths(validate(job), os.getcwd())
    resolved = resolve_backends(job)
    all_frames = _job_frames(job)
    fr = all_frames if frames is None else frames
    job = copy.deepcopy(job)
    if resolved["tracker"] != "masks":
        job["tracker"]["backend"] = resolved["tracker"]
        job["tracker"]["options"] = resolved_tracker_options(resolved["tracker"], job["tracker"]["options"])
    job["matte"]["backend"] = resolved["matte"]
    if not job["plate"].get("frames"):   # the frames on disk here: fixed now, the nodes see the same job
        job["plate"]["frames"] = frames_to_range_expr(all_frames)
    roots: dict = {}    # name -> {"dir", "flow"}
    flows = {"plate": "IN", "in": "IN", "output": "OUT", "work": "INOUT"}
    counter = {"in": 0, "work": 0}
    slots = _path_slots(job)
    # a job naming no OCIO config is read with this machine's $OCIO (else the built-in default), and its keys
    # count that config: the nodes' environment is not the submitter's, so the config goes with the job
    # (:func:`ocio_environment`); a file is an input of the job, under a root like the others
    env = {"OCIO": _ocio_env_value(job)}
    # the context variables that config uses (a shot's LUT: src: ${SHOT_LUT}.spi1d), as this machine resolves
    # them: they decide its pixels and keys as much as the file does (:func:`ocio_context`)
    context = ocio_context(job["plate"].get("ocio_config") or env["OCIO"])
    if env["OCIO"] and not env["OCIO"].startswith("ocio://"):
        slots.append((env, "OCIO", "in", False))
    placed = []   # (dict, key, path, path module, flow)
    for d, k, role, pattern in slots:
        pm = _path_module(d[k])
        p = pm.normpath(pm.abspath(d[k]))   # "~" is already the home folder (resolve_paths)
        placed.append((d, k, p, pm, flows[role]))
        if any(_under(p, r["dir"]) for r in roots.values()):
            continue
        if role == "plate":
            name = "Plate"
        elif role == "output":
            name = "Output"
        else:
            counter[role] += 1
            name = ("Input%d" if role == "in" else "WorkDir%d") % counter[role]
        roots[name] = {"dir": p if role == "work" else _root_folder(pm, p, pattern), "flow": flows[role]}
    roots = _fewer_roots(roots)
    for r in roots.values():
        r.pop("flow", None)
    for d, k, p, pm, flow in placed:
        # each path goes with the first root it lies under; a root's flow is that of its paths (both: INOUT)
        name = next(n for n, r in roots.items() if _under(p, r["dir"]))
        r = roots[name]
        r["flow"] = flow if r.get("flow") in (None, flow) else "INOUT"
        rel = pm.relpath(p, r["dir"])
        d[k] = "<%s>" % name if rel == "." else "<%s>/%s" % (name, rel.replace(pm.sep, "/"))
    doc = {"samatte_farm": FARM_DOC_VERSION, "samatte_version": __version__, "job": job,
           "roots": roots, "frames": frames_to_range_expr(fr), "resolved": resolved,
           "tracked": resolved["tracker"] != "masks"}
    if not job["plate"].get("ocio_config"):
        doc["ocio_env"] = env["OCIO"]
    doc["ocio_context"] = context
    return doc


#: OpenJD's limit on a template's job parameters (jobtemplate-2023-09, without the FEATURE_BUNDLE_1 extension),
#: and the roots that leaves beside the template's six other parameters (Frames, ChunkSize, Preroll, Threads,
#: SamattePython, ModelsDir)
_MAX_PARAMETERS = 50
MAX_ROOTS = _MAX_PARAMETERS - 6


def _fewer_roots(roots):
    """``roots`` (name -> {"dir", ...}), with the ``Input<N>`` folders merged into the folders above them
    until there are at most :data:`MAX_ROOTS`: first where most of them share that folder, else the deepest
    one a level up. A job reading roto files from a folder per object (45 objects, ``roto/<object>/``) had a
    root for each, and its template more job parameters than OpenJD allows: ``openjd check`` and a Deadline
    Cloud submission refused the bundle ("parameterDefinitions must have at most 50 elements"). Inputs
    merged are numbered again in their order; JobSpecError when they cannot be merged enough (folders on
    different drives)."""
    if len(roots) <= MAX_ROOTS:
        return roots
    fixed = {n: dict(r) for n, r in roots.items() if not n.startswith("Input")}
    inputs = [r["dir"] for n, r in roots.items() if n.startswith("Input")]

    def parent(folder):
        return _path_module(folder).dirname(folder)
    while len(fixed) + len(inputs) > MAX_ROOTS:
        ups = {}
        for folder in inputs:
            up = parent(folder)
            if up != folder:
                ups.setdefault(up, []).append(folder)
        if not ups:
            raise JobSpecError("the job reads files from %d folders that are not under one another (%s ...): a farm "
                               "template takes at most %d folders (OpenJD's limit of %d job parameters); keep the "
                               "job's input files in fewer folders" % (len(fixed) + len(inputs),
                                                                        ", ".join(inputs[:3]), MAX_ROOTS,
                                                                        _MAX_PARAMETERS), field="objects")
        up, below = max(ups.items(), key=lambda kv: (len(kv[1]), len(kv[0])))
        if len(below) < 2:   # no two share a folder: the deepest goes a level up, to meet the others there
            up = parent(max((f for f in inputs if parent(f) != f), key=len))
        # every input folder under ``up`` becomes ``up``, in the place of the first of them
        at = next(i for i, f in enumerate(inputs) if _under(f, up))
        inputs = [f for f in inputs if not _under(f, up)]
        inputs.insert(at, up)
        inputs = [f for f in inputs if not any(f != g and _under(f, g) for g in inputs)]
    out = {}
    for n in roots:   # the other roots (Plate, Output, WorkDir<N>) in their order, then the inputs
        if not n.startswith("Input"):
            out[n] = fixed[n]
    for i, folder in enumerate(inputs):
        out["Input%d" % (i + 1)] = {"dir": folder}
    return out


#: a config value whose context variables OCIO expands (FileTransform ``src``, ``cccid``, a
#: ColorSpaceTransform's ``src`` / ``dst``, a view's ``colorspace`` / ``looks``): the names a config without
#: an ``environment:`` section uses
_CONTEXT_FIELD = re.compile(r"""\b(?:src|dst|cccid|colorspace|looks)\s*:\s*(?:"([^"\n]+)"|'([^'\n]+)'|((?:\$\{\w+\}|[^'"\s,{}])+))""")


def ocio_context(config):
    """``{name: value}`` of the OCIO context variables the config file ``config`` uses, as this machine resolves
    them (``value`` None: unset here): a config with an ``environment:`` section uses exactly the names it
    declares (OCIO resolves no others; a value is the environment's, else the config's default); one without,
    the names its search path and its transforms' files and colourspaces name (``$SHOT``, ``${SHOT_LUT}``,
    ``%SEQ%``), from the environment. Never the rest of the environment, never ``OCIO``. ``{}`` for no config,
    an ``ocio://`` URI, another OS's path or an unreadable file. With PyOpenColorIO the config's own
    declarations and current context; without (a host's Python), the same read from the file's text."""
    if not config or str(config).startswith("ocio://") or _path_module(str(config)) is not os.path:
        return {}
    from ..cachekey import _CONTEXT_VAR, _context_defaults
    from ..inputfile import NotRegularFileError, open_regular
    try:
        f, _st = open_regular(str(config))
        with f:
            text = f.read(1 << 22).decode("utf-8", "replace")
    except (OSError, NotRegularFileError):
        return {}
    declared, current = None, None
    try:
        import PyOpenColorIO as ocio
        cfg = ocio.Config.CreateFromFile(str(config))
        declared = list(cfg.getEnvironmentVarNames())
        current = dict(cfg.getCurrentContext().getStringVars()) if declared else None
    except Exception:  # noqa: BLE001 - no PyOpenColorIO (a host's Python), or a config it cannot load: its text
        defaults = _context_defaults(text)
        declared = list(defaults)
        current = {n: os.environ.get(n, defaults[n]) for n in declared}
    if declared:
        out = {n: current.get(n) for n in declared}
    else:
        used = set()
        values = [m.group(1) or m.group(2) or m.group(3) for m in _CONTEXT_FIELD.finditer(text)]
        m = re.search(r"^search_path\s*:[ \t]*(.*)$", text, re.M)
        if m:   # its value, or the block list on the lines after it (as written: not yet expanded)
            values.append(m.group(1))
            for line in text[m.end():].splitlines()[1:]:
                if not re.match(r"^\s*-\s*\S", line):
                    break
                values.append(line)
        for v in values:
            used.update(x.group(1) or x.group(2) or x.group(3) for x in _CONTEXT_VAR.finditer(v))
        out = {n: os.environ.get(n) for n in used}
    out.pop("OCIO", None)
    return dict(sorted(out.items()))


def _ocio_env_value(job):
    """The exporting machine's ``$OCIO`` as the job reads it when it names no ``plate.ocio_config`` (an
    absolute path, an ``ocio://`` URI), else None (also when the job names one: that is in the job)."""
    if job["plate"].get("ocio_config"):
        return None
    value = (os.environ.get("OCIO") or "").strip()
    if not value:
        return None
    if value.startswith("ocio://"):
        return value
    return value if _path_module(value) is not os.path else os.path.abspath(os.path.expanduser(value))


def ocio_environment(doc, roots):
    """What a task sets ``$OCIO`` to: ``(True, value)`` (``value`` None: unset it, the submitter had none and
    the job read the built-in default) for a farm document that records the exporting machine's ``$OCIO``
    (``ocio_env``, a ``<Root>/rel`` path joined to ``roots`` here, or an ``ocio://`` URI); ``(False, None)``
    for a job naming its own ``ocio_config`` or a document of an earlier samatte (the node's environment
    as it is). Before, a job exported where ``$OCIO`` named the studio config was matted on the nodes with
    theirs (none: the built-in default): other pixels, and every frame the farm wrote (its QC passing) was
    stale for the submitting workstation."""
    if "ocio_env" not in doc:
        return False, None
    value = doc["ocio_env"]
    if not value:
        return True, None
    m = _ROOT_RX.match(value)
    if m:
        if m.group(1) not in roots:
            raise JobSpecError("farm job's OCIO config %r names root %s, which was not given" % (value, m.group(1)))
        value = _join(str(roots[m.group(1)]), m.group(2) or "")
    return True, value


def load_farm_document(path):
    """The farm document at ``path`` (``samatte farm task``'s); JOBSPEC_INVALID naming it when it cannot
    be read, is too large (:data:`samatte.jobspec.MAX_FILE_BYTES`), is not JSON (also one nested past
    Python's stack: it was a RecursionError traceback, exit status 1) or is no samatte farm job."""
    from ..jobspec import read_text
    try:
        doc = json.loads(read_text(path, "the farm job"))
    except (ValueError, RecursionError) as e:
        raise JobSpecError("cannot read the farm job %s: %s" % (
            path, "nested too deeply" if isinstance(e, RecursionError) else e), path=str(path)) from None
    if not isinstance(doc, dict) or doc.get("samatte_farm") != FARM_DOC_VERSION or "job" not in doc:
        raise JobSpecError("%s is not a samatte farm job (version %d)" % (path, FARM_DOC_VERSION), path=str(path))
    return doc


def _join(root, rest):
    if not rest:
        return root
    sep = "\\" if ("\\" in root and "/" not in root) else "/"
    return root.rstrip("/\\") + sep + rest.replace("/", sep)


#: the template's job parameters that are not a job folder's root (those are PATH parameters named in the document)
TEMPLATE_PARAMETERS = ("Frames", "ChunkSize", "Preroll", "Threads", "SamattePython", "ModelsDir")


def unknown_roots(doc, roots):
    """The names in ``roots`` the farm document has no root of (a typo: ``--root Ouput=...``), sorted; the
    template's other parameters (a wrapper passing every parameter whose value is a path: SamattePython,
    ModelsDir) are no typo and are not counted."""
    return sorted(set(roots) - set(doc.get("roots") or {}) - set(TEMPLATE_PARAMETERS))


def localize(doc, roots):
    """The JobSpec of a farm document with its ``<Root>/rel`` paths joined to ``roots`` (name -> the
    folder on this node, e.g. from the path-mapped PATH parameters)."""
    job = copy.deepcopy(doc["job"])
    wanted = set(doc.get("roots") or {})
    missing = sorted(wanted - set(roots))
    if missing:
        raise JobSpecError("farm job needs --root for %s" % ", ".join(missing), roots=missing)
    unknown = unknown_roots(doc, roots)
    if unknown:
        # a typo'd name maps nothing: said on stderr (the task's log), not refused, so that a studio's wrapper
        # passing a set of roots wider than this job's still runs (a root the job needs and lacks is refused above)
        sys.stderr.write("samatte farm task: warning: --root %s: the farm job has no root of that name (its roots: "
                         "%s); ignored\n" % (", ".join(unknown), ", ".join(sorted(wanted)) or "none"))
    for d, k, _role, _pattern in _path_slots(job):
        m = _ROOT_RX.match(d[k])
        if not m:
            continue
        name, rest = m.group(1), m.group(2) or ""
        if name not in roots:
            raise JobSpecError("farm job path %r names root %s, which was not given" % (d[k], name))
        d[k] = _join(str(roots[name]), rest)
    return job


# --- the template ------------------------------------------------------------------------------------

def tracked_objects(doc):
    """Names of the job's tracked objects (those with prompts), in job order."""
    return [o["name"] for o in doc["job"]["objects"] if o.get("prompts")]


def _embedded_json(doc):
    """JSON text safe as an OpenJD format string (where ``{{`` and ``}}`` delimit expressions): with
    one item per line no two structural braces touch, so a doubled brace can only be inside a JSON
    string, where ``{\\u007b`` / ``}\\u007d`` read back as the same characters."""
    text = json.dumps(doc, sort_keys=True, indent=0, ensure_ascii=True)
    return text.replace("{{", "{\\u007b").replace("}}", "}\\u007d")


def _task_script(doc_text, args, *, timeout=None):
    run = {"command": "{{Param.SamattePython}}", "args": args,
           "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30}}
    if timeout:
        run["timeout"] = int(timeout)
    return {"actions": {"onRun": run},
            "embeddedFiles": [{"name": "Job", "type": "TEXT", "filename": "samatte_farm_job.json",
                               "data": doc_text}]}


def _root_args(doc):
    out = []
    for name in doc["roots"]:
        out += ["--root", "%s={{Param.%s}}" % (name, name)]
    return out


#: OpenJD 2023-09: a job name is at most 128 characters, none of them a control character.
_NAME_MAX = 128
#: OpenJD 2023-09: a STRING job parameter's value is at most 1024 characters (``Frames``).
_MAX_STRING = 1024
#: OpenJD 2023-09: a STRING task parameter's range lists at most 1024 values (more objects: one
#: Track task for all of them, as for SAM 2).
_MAX_RANGE_VALUES = 1024
_CONTROL_RX = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def template_name(job_name):
    """The template's ``name`` for a job name. The name is an OpenJD format string, so the job's text
    must not be read as ``{{ expression }}``: ``{{`` / ``}}`` become ``{ {`` / ``} }`` (a name
    ``{{Param.Frames}}`` would otherwise turn into the frame range, ``a{{b}}c`` fail the check);
    control characters (OpenJD refuses them in a name) become spaces; a name over 128 characters is cut
    (ending with an ellipsis). Only the farm's display name changes; the job keeps its own name."""
    text = "samatte " + _CONTROL_RX.sub(" ", job_name)
    while "{{" in text or "}}" in text:
        text = text.replace("{{", "{ {").replace("}}", "} }")
    if len(text) > _NAME_MAX:
        text = text[:_NAME_MAX - 1] + "\u2026"
    return text


def _range_constraint(doc):
    """``CONTIGUOUS`` Matte chunks for frames that are one run of consecutive numbers, else
    ``NONCONTIGUOUS``: OpenJD's contiguous chunks are runs of consecutive integers, so a job on twos
    (``1001-1199:2``) would get one frame per task whatever ``ChunkSize`` says (each task paying its
    start and its own pre-roll). Non-contiguous chunks are ``ChunkSize`` frames in order
    (``1001-1005:2``): consecutive frames of the job, which is what samatte's chunks need."""
    from ..frames import parse_frames
    fr = parse_frames(doc["frames"])
    return "CONTIGUOUS" if fr[-1] - fr[0] + 1 == len(fr) else "NONCONTIGUOUS"


def _task_threads(n):
    """The Threads parameter's default: 0 (the node's choice) or a count ``samatte farm task --threads`` takes
    (at most :data:`samatte.threads.MAX_THREADS`: a larger one failed every task on the nodes)."""
    from ..threads import parse_threads
    return parse_threads(n, field="threads") or 0


def build_template(doc, *, chunk=DEFAULT_CHUNK, preroll=0, task_timeout=None, threads=0):
    """The OpenJD job template (a dict) for a farm document. ``threads``: the ``Threads`` parameter's
    default (CPU threads per task, ``samatte farm task --threads``; 0: the node's own choice)."""
    from ..frames import whole_number
    # counts from a TD's script: a bool, a fraction or a string was cut or coerced (chunk=True made chunks
    # of 1, preroll=2.5 a pre-roll of 2, chunk="abc" a bare ValueError), and a task_timeout below 1 s made
    # a template that `openjd check` refuses
    chunk = whole_number(chunk, "chunk", minimum=1)
    preroll = whole_number(preroll, "preroll")
    threads = 0 if threads is None else _task_threads(whole_number(threads, "threads"))
    if task_timeout is not None:
        task_timeout = whole_number(task_timeout, "task_timeout") or None   # 0: no limit, as None
    if len(doc["frames"]) > _MAX_STRING:
        raise FrameRangeError("the frames to export, as an OpenJD range expression, take %d characters; OpenJD "
                              "allows %d in the Frames parameter: export them in parts (--frames)"
                              % (len(doc["frames"]), _MAX_STRING), field="frames", value=doc["frames"][:200])
    # the template carries root names and flows only: the submitting machine's folders are values
    text = _embedded_json(dict(doc, roots={n: {"flow": r["flow"]} for n, r in doc["roots"].items()}))
    # every task's thread count: 0 (parse_threads: auto) leaves it to the node ($SAMATTE_THREADS,
    # $OMP_NUM_THREADS, its CPUs); before, a template had no way to set it and a TD running several
    # tasks on one node had to edit each worker's environment
    # ModelsDir goes to each task's command line, not the job environment: an environment variable
    # SAMATTE_MODELS set from an empty ModelsDir replaced the one a studio sets on its render nodes (the
    # weights folder their worker's environment names) with "" (the default lookup); `farm task` sets
    # $SAMATTE_MODELS from a non-empty one and leaves the node's own otherwise
    base = (["-m", "samatte", "farm", "task", "{{Task.File.Job}}"] + _root_args(doc)
            + ["--threads={{Param.Threads}}", "--models-dir={{Param.ModelsDir}}"])
    # a value is joined to its option (--frames=-5--4): one starting with "-" (negative frames, which
    # samatte allows) as an argument of its own is read by argparse as an option ("expected one argument")
    params = []
    labels = {"Plate": "Plate folder", "Output": "Output folder"}
    for name, r in doc["roots"].items():
        params.append({
            "name": name, "type": "PATH", "objectType": "DIRECTORY", "dataFlow": r["flow"],
            "description": "samatte job folder (%s); path mapping applies" % name.lower(),
            "userInterface": {"control": "CHOOSE_DIRECTORY", "label": labels.get(name, name)},
        })
    params += [
        {"name": "Frames", "type": "STRING", "default": doc["frames"], "minLength": 1,
         "description": "frames to process (a subset of the job's frames), OpenJD range expression"},
        {"name": "ChunkSize", "type": "INT", "default": chunk, "minValue": 1,
         "description": "frames per matting task"},
        {"name": "Preroll", "type": "INT", "default": preroll, "minValue": 0,
         "description": "frames before a chunk that are matted but not written (temporal warm-up)"},
        {"name": "Threads", "type": "INT", "default": threads, "minValue": 0, "maxValue": MAX_THREADS,
         "description": "CPU threads of each task (samatte --threads); 0: the render node's own choice "
                        "($SAMATTE_THREADS, else $OMP_NUM_THREADS, else the CPUs the task may use)",
         "userInterface": {"control": "SPIN_BOX", "label": "Threads per task"}},
        # Folders of the render nodes, not of the submitting machine: STRING, not PATH. Deadline Cloud
        # puts a PATH value in the job's attachments (dataFlow NONE: referencedPaths) and its workers
        # map it into their session folder, where there is no interpreter and no weights.
        {"name": "SamattePython", "type": "STRING", "minLength": 1,
         "description": "the Python interpreter of samatte's venv on the render nodes",
         "userInterface": {"control": "LINE_EDIT", "label": "samatte Python"}},
        {"name": "ModelsDir", "type": "STRING",
         "description": "model weights folder on the render nodes (each task's SAMATTE_MODELS; empty: the nodes' "
                        "own, their $SAMATTE_MODELS, else the folder beside samatte's venv)",
         "userInterface": {"control": "LINE_EDIT", "label": "Models folder"}},
    ]
    steps = []
    tracked = doc["tracked"]
    if tracked:
        track = {
            "name": "Track",
            "description": "track every object through all frames into the job's track cache",
            "script": _task_script(text, base + ["--stage", "track", "--frames={{Param.Frames}}"],
                                   timeout=task_timeout),
        }
        tobjs = tracked_objects(doc)
        if 1 < len(tobjs) <= _MAX_RANGE_VALUES and doc["resolved"]["tracker"] in INDEPENDENT_TRACKERS:
            track["description"] = "track one object through all frames into the job's track cache"
            track["parameterSpace"] = {"taskParameterDefinitions": [
                {"name": "Object", "type": "STRING", "range": tobjs}]}
            track["script"] = _task_script(text, base + ["--stage", "track", "--frames={{Param.Frames}}",
                                                         "--objects={{Task.Param.Object}}"],
                                           timeout=task_timeout)
        steps.append(track)
    matte = {
        "name": "Matte",
        "description": "matte the frames of one chunk from the stored track",
        "parameterSpace": {"taskParameterDefinitions": [{
            "name": "Frames", "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
            "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": _range_constraint(doc)}}]},
        "script": _task_script(text, base + ["--stage", "matte" if tracked else "all",
                                             "--frames={{Task.Param.Frames}}", "--preroll", "{{Param.Preroll}}"],
                               timeout=task_timeout),
    }
    if tracked:
        matte["dependencies"] = [{"dependsOn": "Track"}]
    steps.append(matte)
    steps.append({
        "name": "QC",
        "description": "every frame present, readable and current; report with scores and a contact sheet",
        "dependencies": [{"dependsOn": "Matte"}],
        "script": _task_script(text, base + ["--qc", "--frames={{Param.Frames}}"], timeout=task_timeout),
    })
    name = doc["job"]["name"]
    return {
        "specificationVersion": SPEC_VERSION,
        "extensions": ["TASK_CHUNKING"],
        "name": template_name(name),
        "description": "samatte %s: track, matte in chunks, QC (tracker %s, matte %s)"
                       % (doc["samatte_version"], doc["resolved"]["tracker"], doc["resolved"]["matte"]),
        "parameterDefinitions": params,
        "jobEnvironments": [{"name": "samatte",
                             "variables": {"PYTHONUNBUFFERED": "1"}}],
        "steps": steps,
    }


def _default_python():
    """This interpreter, unless it is a host application's (Nuke, Blender...): a host must give
    samatte's Python (the render nodes cannot run Nuke or Blender as samatte's interpreter)."""
    import sys
    from ..client import _looks_like_host
    if _looks_like_host(sys.executable):
        raise JobSpecError("inside a host application (%s) the farm export needs samatte's Python: "
                           "export_openjd(..., python='/path/to/samatte/.venv/bin/python')" % sys.executable,
                           field="python")
    return sys.executable


def node_path(value, field, *, command=False):
    """``value`` (a str or ``os.PathLike``) as a path of the render nodes' own (``SamattePython``,
    ``ModelsDir``), checked before anything is written: JobSpecError (JOBSPEC_INVALID, naming ``field``)
    for anything else, and for a relative path. The nodes run each task in a session folder of their own,
    so a relative ``--python venv/bin/python`` failed every task there ("not found", exit 127) and a
    relative ``--models-dir`` was looked up inside the session folder; and a ``pathlib.Path`` was a
    TypeError with half the bundle written. Absolute paths of either OS are kept (a Windows node's
    ``C:\\samatte\\python.exe`` from a Linux export); with ``command`` a bare name (``python3``: the
    node's ``PATH``) too; without it a ``~/...`` folder too (samatte expands it on the node; OpenJD runs a
    command without a shell, so no ``~`` there)."""
    from ..jobspec import windows_abs
    flag = "--" + field.replace("_", "-")
    try:
        text = os.fspath(value)
    except TypeError:
        text = None
    if not isinstance(text, str) or "\0" in text:
        raise JobSpecError("%s / %s= must be a path (a str or os.PathLike), got %r" % (flag, field, value),
                           field=field, value=repr(value))
    if text.startswith("/") or windows_abs(text):
        return text
    if command and "/" not in text and "\\" not in text and not text.startswith("~"):
        return text    # a command name: the render node's PATH finds it
    if not command and (text == "~" or text.startswith(("~/", "~\\"))):
        return text
    raise JobSpecError(
        "%s / %s= %r is not an absolute path: it names a %s of the render nodes, which run each task in a "
        "session folder of their own (%s); give the nodes' absolute path (from this folder it is %s)"
        % (flag, field, text, "program" if command else "folder",
           "and without a shell: no ~" if text.startswith("~") else "a relative path is looked up there",
           os.path.abspath(os.path.expanduser(text))), field=field, value=text)


def _default_models_dir():
    try:
        from ..models import models_dir
        return str(models_dir())
    except Exception:  # noqa: BLE001
        return ""


# the files a bundle holds, each with what marks it as samatte's own (None: samatte's when the folder is)
_BUNDLE_FILES = (("samatte_farm_job.json", None), (TEMPLATE_NAME, "samatte_farm_job.json"),
                 ("parameter_values.yaml", "SamattePython"), ("openjd_params.json", "SamattePython"),
                 ("asset_references.yaml", None))


def _file_text(path, limit=1 << 22):
    """The first ``limit`` bytes of a regular file as text, or None (not a regular file, unreadable)."""
    from ..inputfile import NotRegularFileError, open_regular
    try:
        f, _st = open_regular(path)
    except (OSError, NotRegularFileError):
        return None
    with f:
        return f.read(limit).decode("utf-8", "replace")


def _is_farm_document(path):
    """Whether ``path`` is a regular file holding a samatte farm document (:func:`load_farm_document`'s test)."""
    from ..inputfile import NotRegularFileError, open_regular
    try:
        f, _st = open_regular(path)
        with f:
            doc = json.loads(f.read().decode("utf-8"))
    except (OSError, NotRegularFileError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("samatte_farm") == FARM_DOC_VERSION and "job" in doc


def check_bundle_folder(folder):
    """OutputError (before anything is written) when ``folder`` holds a file at a bundle file's name
    that samatte did not write: someone's own ``template.yaml`` (another job's bundle, a hand-written
    template) is never replaced. A re-export into samatte's own bundle folder replaces its files."""
    doc_path = os.path.join(folder, "samatte_farm_job.json")
    # samatte's bundle folder (any earlier samatte's): every bundle file is its own. The whole document is
    # read: written with sorted keys, its "samatte_farm" comes after the embedded job (before: looked for
    # in its first 4 MiB, so a job with dense rotos could not be re-exported into its own bundle)
    bundle = os.path.lexists(doc_path) and _is_farm_document(doc_path)
    own = {}
    for name, marker in _BUNDLE_FILES:
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            own[name] = bundle or (marker is not None and marker in (_file_text(path) or ""))
    if "asset_references.yaml" in own and own.get(TEMPLATE_NAME):
        own["asset_references.yaml"] = True     # no marker of its own: samatte's beside samatte's template
    foreign = [n for n, mine in own.items() if not mine]
    if foreign:
        path = os.path.join(folder, foreign[0])
        raise OutputError("%s exists and is not a file of a samatte job bundle: samatte does not replace it; "
                          "choose another bundle folder (--openjd) or remove it" % path, path=path,
                          files=foreign)


def _write(path, text):
    """Write one bundle file atomically; a full disk is an OutputError naming it, with no temp file left."""
    from ..atomic import write_atomically

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    write_atomically(path, "%s.tmp%d" % (path, os.getpid()), write, what="job bundle file")
    return path


def export_openjd(job, folder, *, chunk=DEFAULT_CHUNK, preroll=None, python=None, models_dir=None,
                  frames=None, task_timeout=None, threads=0):
    """Write a Deadline Cloud job bundle for ``job`` (a JobSpec dict, JSON text or path) into
    ``folder``; return ``{"bundle", "template", "parameter_values", "asset_references", "resolved",
    "parameters"}`` (``parameters``: name -> value, the form ``openjd run -p`` takes).

    ``python``: the samatte interpreter on the render nodes (default: this one); ``models_dir``: the
    weights folder there (default: this machine's); ``preroll``: frames before each chunk (default:
    the pipeline's default); ``frames``: a subset (list or range) to export instead of the job's;
    ``threads``: CPU threads per task (the ``Threads`` parameter; 0: the render node's own choice)."""
    from ..frames import parse_frames, whole_number
    from ..pipeline import DEFAULT_PREROLL, load_job
    chunk = whole_number(chunk, "chunk", minimum=1)   # before anything is read or written
    preroll = DEFAULT_PREROLL if preroll is None else whole_number(preroll, "preroll")
    threads = 0 if threads is None else _task_threads(whole_number(threads, "threads"))
    # the nodes' own paths, before anything is read or written (a relative one or a pathlib.Path: below)
    python = node_path(python, "python", command=True) if python not in (None, "") else None
    models_dir = node_path(models_dir, "models_dir") if models_dir not in (None, "") else models_dir
    job = load_job(job)
    if frames is not None:
        frames = parse_frames(frames)
        allowed = set(_job_frames(job))
        extra = [f for f in frames if f not in allowed]
        if extra:
            raise FrameRangeError("frames %s are not frames of the job" % frames_to_range_expr(extra),
                                  field="frames")
    from ..jobspec import plate_gaps
    gap = plate_gaps(job, _job_frames(job))   # the export fixes the frames on disk into the job: said now
    if gap:
        import logging
        logging.getLogger("samatte").warning("%s", gap)
    doc = farm_document(job, frames=frames)
    template = build_template(doc, chunk=chunk, preroll=preroll, task_timeout=task_timeout, threads=threads)
    folder = os.path.abspath(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot create the bundle folder %s: %s" % (folder, e.strerror or e), path=folder)
    for name, r in doc["roots"].items():
        if os.path.normcase(folder) == os.path.normcase(r["dir"]) or _under(r["dir"], folder):
            raise OutputError("the bundle folder %s must not contain the job's %s folder %s"
                              % (folder, name, r["dir"]), path=folder)
    values = {name: r["dir"] for name, r in doc["roots"].items()}
    values.update({
        "Frames": doc["frames"], "ChunkSize": chunk, "Preroll": preroll, "Threads": threads,
        "SamattePython": python or _default_python(),
        "ModelsDir": models_dir if models_dir is not None else _default_models_dir(),
    })
    # empty: the nodes' own lookup (the parameter's description; SAMATTE_MODELS set empty is not used). Before,
    # it became <bundle>/models, a folder of the submitting machine that every node then looked in first
    values["ModelsDir"] = str(values["ModelsDir"] or "")
    ins = sorted({r["dir"] for r in doc["roots"].values() if r["flow"] in ("IN", "INOUT")})
    outs = sorted({r["dir"] for r in doc["roots"].values() if r["flow"] in ("OUT", "INOUT")})
    check_bundle_folder(folder)
    # the farm document first: a bundle cut short (a killed export) is still recognised as samatte's
    _write(os.path.join(folder, "samatte_farm_job.json"), json.dumps(doc, indent=2, sort_keys=True) + "\n")
    t = _write(os.path.join(folder, TEMPLATE_NAME), yamlout.dumps(template))
    pv = _write(os.path.join(folder, "parameter_values.yaml"), yamlout.dumps(
        {"parameterValues": [{"name": k, "value": v} for k, v in values.items()]}))
    ar = _write(os.path.join(folder, "asset_references.yaml"), yamlout.dumps(
        {"assetReferences": {"inputs": {"directories": ins, "filenames": []},
                             "outputs": {"directories": outs}, "referencedPaths": []}}))
    op = _write(os.path.join(folder, "openjd_params.json"), json.dumps(values, indent=2) + "\n")
    return {"bundle": folder, "template": t, "parameter_values": pv, "asset_references": ar, "openjd_params": op,
            "resolved": doc["resolved"], "parameters": values, "frames": doc["frames"],
            "steps": [s["name"] for s in template["steps"]]}
