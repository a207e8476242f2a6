"""The ``samatte farm ...`` and ``samatte qc`` commands (added to samatte.cli's parser)::

    samatte farm export JOB.json --openjd DIR [--chunk N] [--preroll K] [--python PY]
                        [--models-dir DIR] [--frames RANGE] [--task-threads N] [--json]
    samatte farm task FARM_JOB.json --root NAME=PATH [...] (--stage track|matte|all --frames RANGE
                      [--preroll K] [--objects NAME[,NAME]] | --qc [--frames RANGE] [--report DIR])
                      [--threads N] [--models-dir DIR]
    samatte qc JOB.json [--report DIR] [--frames RANGE] [--json] [--openjd] [--threads N]
"""
__all__ = ["add_commands"]


def cmd_farm_export(args):
    from ..threads import parse_threads
    from .openjd import export_openjd
    # read as --threads is (`auto` / `0` / empty: the render node's own choice), the error naming this flag
    threads = parse_threads(args.task_threads, field="--task-threads") or 0
    res = export_openjd(args.job, args.openjd, chunk=args.chunk, preroll=args.preroll, python=args.python,
                        models_dir=args.models_dir, frames=args.frames, threads=threads)
    if args.json:
        from ..cli import json_document
        json_document(args, res, indent=2, sort_keys=True)
    else:
        print("samatte: job bundle %s (steps %s; frames %s in chunks of %d; tracker %s, matte %s)"
              % (res["bundle"], ", ".join(res["steps"]), res["frames"], res["parameters"]["ChunkSize"],
                 res["resolved"]["tracker"], res["resolved"]["matte"]))
    return 0


def cmd_farm_task(args):
    from ..runner import openjd_failure
    from . import parse_roots, run_task
    # before the task's own command ran (a farm document or --root that does not resolve): the render
    # manager's failure reason too (the command itself says its own, samatte run --openjd)
    with openjd_failure():
        if not args.qc and not args.stage:   # (a hand-written template: the render manager is told too)
            from ..errors import JobSpecError
            raise JobSpecError("farm task needs --stage or --qc")
        return run_task(args.farm_job, parse_roots(args.root), stage=args.stage, frames=args.frames,
                        preroll=args.preroll, qc=args.qc, report=args.report, objects=args.objects,
                        models_dir=args.models_dir)


def cmd_qc(args):
    openjd = bool(getattr(args, "openjd", False))
    if openjd and args.json:
        from ..errors import JobSpecError
        raise JobSpecError("--openjd and --json both write stdout: give one")
    from ..runner import openjd_failure
    with openjd_failure(openjd):   # the QC task's failure reason as the render manager reads it
        return _qc(args)


def _qc(args):
    from .qc import run_qc
    on_frame = None
    if getattr(args, "openjd", False):   # the QC task's progress as run --openjd's (before: 0 % until it ended)
        from ..runner import OpenJDProgress
        on_frame = OpenJDProgress().checked
    rep = run_qc(args.job, report_dir=args.report, frames=args.frames, raise_on_failure=False, on_frame=on_frame)
    if args.json:
        # failing, the report is the one document, with the error message's fields added
        from ..cli import json_document
        json_document(args, rep, indent=2, sort_keys=True)
    else:
        c = rep["counts"]
        print("samatte qc: %s: %d/%d frames ok, %d low score(s), mean score %s; keys %s; report %s"
              % (rep["job"], c["ok"], c["frames"], c["low_score"], rep["mean_score"],
                 "checked" if rep["keys_checked"] else "NOT checked", rep["report"]))
        for f in rep["failed"][:20]:
            print("  frame %d: %s" % (f, rep["frames"][str(f)]["problem"]))
        if len(rep["failed"]) > 20:
            print("  ... %d more (qc.json)" % (len(rep["failed"]) - 20))
        for fix in rep.get("fixes", {}).values():   # what to do, once per kind, naming its frames
            print("  frames %s: %s" % (fix["frames"], fix["hint"]))
        for w in rep.get("warnings", []):   # not failures: what to look at before comp
            print("  warning: %s" % w["message"])
        for low in rep["low_scores"][:20]:   # the frames (and objects) to look at before comp
            print("  low score frame %d: %.2f%s" % (low["frame"], low["score"],
                                                    " (object %s)" % low["object"] if low.get("object") else ""))
    if not rep["ok"]:
        from ..frames import format_frames
        from .qc import QcError
        # the frames named, as run_qc's own error does (the farm's failure reason is this one line)
        raise QcError("QC failed on %d of %d frame(s): %s (report %s)"
                      % (len(rep["failed"]), rep["counts"]["frames"], format_frames(rep["failed"])[:200],
                         rep["report"]), frames=format_frames(rep["failed"]), report=rep["report"])
    return 0


def add_commands(sub):
    """Add ``farm`` and ``qc`` to the samatte parser's subcommands."""
    from ..cli import add_threads_arg
    p = sub.add_parser("farm", help="render-farm job bundles (Open Job Description / Deadline Cloud)")
    fsub = p.add_subparsers(dest="farm_cmd", metavar="export|task")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    e = fsub.add_parser("export", help="write an OpenJD job bundle for a JobSpec")
    e.add_argument("job", metavar="JOB.json")
    e.add_argument("--openjd", required=True, metavar="DIR", help="bundle folder to write")
    e.add_argument("--chunk", type=int, default=10, help="frames per matting task (default 10)")
    e.add_argument("--preroll", type=int, default=None, help="pre-roll frames per chunk (default: samatte's)")
    e.add_argument("--python", help="samatte's Python on the render nodes (default: this one)")
    e.add_argument("--models-dir", help="weights folder on the render nodes (default: this machine's)")
    e.add_argument("--frames", help="export only these frames of the job")
    e.add_argument("--task-threads", default="0", metavar="N",
                   help="the template's Threads parameter: CPU threads of each task (samatte farm task --threads; "
                        "default 0 or auto: the render node's own choice, $SAMATTE_THREADS, else $OMP_NUM_THREADS, else "
                        "its CPUs)")
    e.add_argument("--json", action="store_true", help="print the export result as JSON")
    e.set_defaults(func=cmd_farm_export)
    t = fsub.add_parser("task", help="run one task of an exported bundle (what the template calls)")
    t.add_argument("farm_job", metavar="FARM_JOB.json")
    t.add_argument("--root", action="append", default=[], metavar="NAME=PATH",
                   help="this node's folder for one of the job's roots (Plate, Output, Input<N>, WorkDir<N>; "
                        "repeatable): what path mapping made of the bundle's PATH parameter")
    t.add_argument("--stage", choices=("track", "matte", "all"),
                   help="run this stage of the job (samatte run --stage); with --frames")
    t.add_argument("--frames", help="the task's frames (a chunk, e.g. 1001-1010)")
    t.add_argument("--preroll", type=int, help="pre-roll frames before the chunk (samatte run --preroll)")
    t.add_argument("--objects", help="with --stage track: the objects to track (one task per object)")
    t.add_argument("--qc", action="store_true", help="run the QC step instead (samatte qc)")
    t.add_argument("--report", metavar="DIR", help="with --qc: the report folder (default: <work dir>/qc)")
    t.add_argument("--models-dir", metavar="DIR",
                   help="the weights folder for this task ($SAMATTE_MODELS; empty or not given: the node's own)")
    add_threads_arg(t)
    t.set_defaults(func=cmd_farm_task)
    q = sub.add_parser("qc", help="check a job's output frames; report with scores and a contact sheet")
    q.add_argument("job", metavar="JOB.json")
    q.add_argument("--report", metavar="DIR", help="report folder (default: <work dir>/qc)")
    q.add_argument("--frames", help="check only these frames")
    q.add_argument("--json", action="store_true", help="the report as one JSON object on stdout")
    add_threads_arg(q)
    q.add_argument("--openjd", action="store_true",
                   help="print Open Job Description's openjd_progress: N per frame checked and, when it fails, "
                        "openjd_fail: [CODE] message (farm task)")
    q.set_defaults(func=cmd_qc)
