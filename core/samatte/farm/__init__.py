"""samatte on a render farm: Open Job Description job bundles (Deadline Cloud), the per-task runner
and QC.

* :func:`export_openjd` (stdlib only, see :mod:`samatte.farm.openjd`): a job bundle whose tasks call
  ``samatte run JOB --stage track|matte --frames RANGE`` and ``samatte qc``.
* :func:`run_task`: what a bundle's task runs (``samatte farm task``): the job's paths put back
  from the path-mapped root parameters, then the samatte command for the task's frames.
* :func:`run_qc` (needs the samatte venv, see :mod:`samatte.farm.qc`).

Any other engine (OpenCue, Tractor, a plain job array) needs only two commands and one ordering
rule; see the README section "Farm and TD scripting".
"""
import os
import re

from .openjd import (DEFAULT_CHUNK, build_template, export_openjd, farm_document, frames_to_range_expr,
                     load_farm_document, localize, ocio_environment, resolve_backends)

__all__ = ["export_openjd", "farm_document", "build_template", "localize", "load_farm_document",
           "resolve_backends", "frames_to_range_expr", "run_task", "run_qc", "DEFAULT_CHUNK"]


def run_qc(job, **kw):
    """See :func:`samatte.farm.qc.run_qc`."""
    from .qc import run_qc as _run_qc
    return _run_qc(job, **kw)


def parse_roots(items):
    """``["Plate=/mnt/shots/sh010", ...]`` -> {"Plate": "/mnt/shots/sh010"}."""
    from ..errors import JobSpecError
    roots = {}
    for it in items or []:
        name, sep, path = str(it).partition("=")
        if not sep or not name.strip() or not path:
            raise JobSpecError("--root must be NAME=PATH, got %r" % it, value=str(it))
        roots[name.strip()] = path
    return roots


def foreign_root(path, *, windows=None):
    """The OS whose absolute path ``path`` is when that is not this node's (``"Windows"``: a drive letter
    or UNC path on a POSIX node; ``"POSIX"``: a ``/...`` path on a Windows node), else None (this
    node's own path, absolute or relative). ``windows``: whether this node is Windows (default: this
    machine)."""
    from ..jobspec import windows_abs
    windows = os.name == "nt" if windows is None else windows
    text = str(path)
    if not windows:
        return "Windows" if windows_abs(text) else None
    if text.startswith("/") and not text.startswith("//"):
        return "POSIX"
    return None


def check_roots(roots, *, windows=None):
    """JobSpecError (JOBSPEC_INVALID, field ``--root``) for a root whose folder is another OS's absolute
    path: the farm's path mapping had no rule for it. Before, a submitter's ``Z:\\shots\\out`` that
    reached a Linux node unmapped was taken as a relative folder of the task's session
    (``<session>/Z:\\shots\\out``): the track, the frames and a passing QC went into a folder the
    worker deletes when the session ends."""
    windows = os.name == "nt" if windows is None else windows
    for name, path in roots.items():
        other = foreign_root(path, windows=windows)
        if other:
            here = "Windows" if windows else "POSIX"
            from ..errors import JobSpecError
            raise JobSpecError(
                "--root %s=%s is a %s path and this render node is %s: no path mapping rule turned the "
                "submitting machine's folder into this node's (Deadline Cloud: a storage profile file system "
                "location for it, or job attachments)" % (name, path, other, here),
                field="--root", root=name, value=str(path))


#: the task's localised job (:func:`run_task`): ``samatte_job.local.<host>.<pid>.<random>.json``
_LOCAL_RX = re.compile(r"^samatte_job\.local\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.json$")


def run_task(doc_path, roots, *, stage=None, frames=None, preroll=None, qc=False, report=None, objects=None,
             models_dir=None):
    """Run one farm task: localise the farm document's job with ``roots`` (name -> folder on this
    node; a relative one is taken from the current folder; a path still relative, from the document's
    folder), save it as this task's own file (``samatte_job.local.<host>.<pid>.<random>.json`` in the
    system's temp folder, removed afterwards; one a killed task left is removed by the next task on that
    node), then run ``samatte run LOCAL.json --stage S --frames F [--preroll K]`` or ``samatte qc
    LOCAL.json [--frames F] [--report DIR]`` in this process. Returns the command's exit
    status. Before, every task wrote ``samatte_job.local.json`` beside the document: two tasks of one
    bundle run at once on nodes with different ``--root`` folders (a Linux and a Windows worker, or a
    TD's shell beside the farm) could each run with the other's paths, and a bundle folder the nodes
    cannot write to failed every task. ``models_dir``: the bundle's ``ModelsDir``, set as ``$SAMATTE_MODELS``
    for the task when not empty (empty or None: the node's own ``$SAMATTE_MODELS``, else its default
    lookup; before, the job environment set it empty and a node's own was lost)."""
    import sys
    import tempfile
    from .. import cli
    from ..jobspec import resolve_paths, save, validate
    doc = load_farm_document(doc_path)
    # a root only the submitter's OCIO config is under: unmapped, the node's own $OCIO serves (below), as
    # before that config went with the job; every other root is refused unmapped
    ocio_root = _ocio_only_root(doc)
    foreign_ocio = ocio_root in roots and foreign_root(roots[ocio_root]) is not None
    check_roots({n: p for n, p in roots.items() if n != ocio_root})   # another OS's folder, path mapping missed
    # a relative root is the caller's (the shell's current folder), not the saved job's folder
    local_roots = {n: (p if n == ocio_root and foreign_ocio else os.path.abspath(p)) for n, p in roots.items()}
    job = localize(doc, local_roots)
    job = resolve_paths(validate(job), os.path.dirname(os.path.abspath(doc_path)))
    # the submitter's $OCIO (the job names no config): the config its keys and pixels are made with
    set_ocio, ocio = ocio_environment(doc, local_roots)
    if set_ocio and ocio and not ocio.startswith("ocio://") and (foreign_ocio or not os.path.isfile(ocio)):
        # not reachable here (no path mapping rule for its folder): the node's own, as before, and said
        sys.stderr.write("samatte farm task env: warning: the submitting machine's OCIO config %s is not a file on this "
                         "node (no path mapping rule for its folder?): this node's $OCIO (%s) is used, so its frames "
                         "may be stale for the submitter\n" % (ocio, os.environ.get("OCIO") or "unset: the built-in "
                                                                    "default"))
        set_ocio = False
    # each value joined to its option: a value starting with "-" (negative frames "-5--4", a report
    # folder "-qc") given as its own argument is read by argparse as an option
    if qc:
        opts = (["--frames=%s" % frames] if frames is not None else []) + (["--report=%s" % report] if report else [])
        opts += ["--openjd"]   # a failed QC's [CODE] message as the render manager's failure reason
    else:
        opts = ["--stage", stage or "all"] + (["--frames=%s" % frames] if frames is not None else [])
        if preroll is not None and (stage or "all") != "track":
            opts += ["--preroll", str(int(preroll))]
        if objects is not None:
            opts += ["--objects=%s" % objects]
        opts += ["--openjd"]   # the task's progress, status and failure reason as the render manager reads them
    from ..io.writer import host_tag, remove_temps
    # one a killed task left (SIGKILL, or SIGTERM before the run's own handler: the finally below never ran;
    # hundreds of kB for a Nuke script's roto): removed when its process is gone, as a killed run's spill folder
    remove_temps(tempfile.gettempdir(), _LOCAL_RX, float("inf"), own=False)
    fd, local = tempfile.mkstemp(prefix="samatte_job.local.%s.%d." % (host_tag(), os.getpid()), suffix=".json")
    os.close(fd)
    node_ocio = os.environ.get("OCIO")
    # the context variables the job's OCIO config uses, as the submitting machine resolved them (ocio_context:
    # a shot's LUT ${SHOT_LUT}): set for the task, as $OCIO is, unless the node uses its own config (above).
    # Before, a node without them (or with another shot's) converted with another LUT, or failed, and its
    # frames' keys disagreed with the workstation's. A document of an earlier samatte has none: the node's own
    context = {} if (not set_ocio and "ocio_env" in doc) else dict(doc.get("ocio_context") or {})
    context = {str(n): (str(v) if v is not None else None) for n, v in context.items()
               if _CONTEXT_NAME.match(str(n)) and str(n) not in _NOT_CONTEXT}
    node_context = {n: os.environ.get(n) for n in context}
    for name, value in list(context.items()):
        if _folder_value(value) and node_context[name]:
            # a folder (SHOW_ROOT=/mnt/show in search_path: ${SHOW_ROOT}/luts) is the machine's own: a node
            # mounting the show elsewhere (another OS) keeps its own value; the LUTs count by content in the keys
            print("samatte farm task env: %s=%s kept (this node's; the submitting machine's: %s)"
                  % (name, node_context[name], value))
            del context[name]
    node_models = os.environ.get("SAMATTE_MODELS")
    models_dir = (models_dir or "").strip() or None
    try:
        if models_dir is not None:
            _set_env("SAMATTE_MODELS", models_dir)
        save(job, local)
        argv = ["qc" if qc else "run", local] + opts
        from ..threads import describe
        th = describe()   # the task's log says what the node gave it (the Threads parameter, its environment)
        if models_dir is not None and models_dir != node_models:
            print("samatte farm task env: SAMATTE_MODELS=%s (the job's ModelsDir; this node's: %s)"
                  % (models_dir, node_models or "unset"))
        if set_ocio and (ocio or None) != (node_ocio or None):
            print("samatte farm task env: OCIO=%s (the submitting machine's; this node's: %s)"
                  % (ocio or "(unset: the built-in default)", node_ocio or "unset"))
        if set_ocio:
            _set_env("OCIO", ocio)
        for name, value in context.items():
            if (value or None) != (node_context[name] or None):
                print("samatte farm task env: %s=%s (the submitting machine's OCIO context; this node's: %s)"
                      % (name, value if value else "(unset)", node_context[name] or "unset"))
            _set_env(name, value)
        print("samatte farm task: samatte %s (threads %d from %s)" % (" ".join(argv), th["threads"], th["source"]))
        sys.stdout.flush()
        return cli.main(argv)
    finally:
        _set_env("OCIO", node_ocio)   # a task run in-process (a test, a wrapper) leaves the environment as it was
        for name, value in node_context.items():
            _set_env(name, value)
        _set_env("SAMATTE_MODELS", node_models)
        try:
            os.remove(local)
        except OSError:
            pass


def _ocio_only_root(doc):
    """The name of the root the farm document's ``ocio_env`` is under when no path of its job is, else None."""
    from .openjd import _ROOT_RX, _path_slots
    m = _ROOT_RX.match(doc.get("ocio_env") or "")
    if not m:
        return None
    used = set()
    for d, k, _role, _pattern in _path_slots(doc["job"]):
        r = _ROOT_RX.match(d[k])
        if r:
            used.add(r.group(1))
    return None if m.group(1) in used else m.group(1)


#: an OCIO context variable's name (what ``$NAME`` / ``${NAME}`` / ``%NAME%`` can name)
_CONTEXT_NAME = re.compile(r"^\w+$")
#: never set from a farm document's context: set by the task itself, or the node's own
_NOT_CONTEXT = frozenset(("OCIO", "SAMATTE_MODELS", "PATH", "HOME", "PYTHONPATH", "USERPROFILE"))


def _folder_value(value):
    """Whether an environment value is an absolute folder of some machine (``/mnt/show``, ``S:\\show``, ``~/x``)."""
    from ..jobspec import windows_abs
    return bool(value) and (value.startswith(("/", "~")) or windows_abs(value))


def _set_env(name, value):
    if value:
        os.environ[name] = value
    else:
        os.environ.pop(name, None)
