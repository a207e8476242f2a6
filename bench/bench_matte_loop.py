"""The matte loop's wall and CPU time per frame through the product path, old code against new.

Command (from the repository root, in the installer's venv)::

    .venv/bin/python bench/bench_matte_loop.py --workdir /tmp/mloop                    # this code, 2 objects
    .venv/bin/python bench/bench_matte_loop.py --workdir /tmp/mloop --objects 1 \\
        --against /tmp/old/core --rounds 3                                              # alternated with old code

A 1920x1080 demo shot (``samatte.demo.make_shot``, 8 frames), flow tracker (the subject's polygon
prompt, plus with ``--objects 2`` a second object: a polygon on the background's lower left), refine
matter, default quality, half zip output with object layers, foreground and quality map. The track is
stored once (``--stage track``); each run then mattes all frames into a fresh output folder in a fresh
subprocess (``pipeline.run(stage="matte")``), timed from the first Progress of the matte loop to the
result (so imports, the JIT and the track do not count). ``--against CORE``: a second ``core`` folder
(the old code, e.g. ``git archive BASE core | tar -x -C /tmp/old``), run alternately with this one,
``--rounds`` times each; both runs' EXR files are compared byte for byte (``cmp``) every round.
Prints per run: wall s / frame, CPU s / frame (the process's CPU time over the same span, every
thread), and the medians.

``--inproc``: one warm process runs the job alternately in two modes of this code: ``serial`` (a frame's
objects one after another, ``stage.OBJECT_THREADS = 1``: the code before) and ``threads`` (the default);
``--rounds`` rounds, the order swapped each round, the files compared byte for byte. It also prints two
named phases, wall time in the loop's thread: the objects (from the first ``matte <name>`` phase to
``foreground``) and the write (``writing`` to the frame's next message).
"""
import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join(os.path.dirname(HERE), "core")

CHILD = r"""
import json, os, sys, time
from samatte import pipeline
from samatte.progress import Progress
job = json.load(open(sys.argv[1]))
marks = {}
def on_progress(p):
    if p.stage == "matte" and "t0" not in marks:
        marks["t0"] = time.perf_counter(); marks["c0"] = time.process_time()
# warm: numba's first call compiles (a real farm task pays it once per process, not per frame)
import numpy as np
from samatte.matte import refine
r = pipeline.run(job, stage="matte", on_progress=on_progress)
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"wall": t1 - marks["t0"], "cpu": c1 - marks["c0"], "n": len(r["written"])}))
"""


def make_job(work, n_objects, frames=8, size=(1920, 1080)):
    from samatte import jobspec
    from samatte.demo import make_shot
    shot = os.path.join(work, "shot")
    s = make_shot(shot, frames=frames, size=size) if not os.path.exists(os.path.join(work, "shot.json")) else None
    if s is not None:
        with open(os.path.join(work, "shot.json"), "w") as fh:
            json.dump(s, fh)
    with open(os.path.join(work, "shot.json")) as fh:
        s = json.load(fh)
    w, h = s["size"]
    job = jobspec.new_job(s["plate"], os.path.join(work, "out", "m.####.exr"),
                          frames="%d-%d" % (s["frames"][0], s["frames"][-1]), tracker="flow", matte="refine",
                          name="bench_matte_loop", work_dir=os.path.join(work, "work%d" % n_objects))
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    if n_objects > 1:
        pts = [(0.06 * w, 0.62 * h), (0.30 * w, 0.58 * h), (0.34 * w, 0.92 * h), (0.04 * w, 0.95 * h)]
        jobspec.add_object(job, "patch", [jobspec.polygon_prompt(s["frames"][0], pts)])
    return jobspec.validate(job)


def run_child(core, job, out, env_extra=None):
    job = dict(job, output=dict(job["output"], path=os.path.join(out, "m.####.exr")))
    fd, jpath = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(job, fh)
    env = dict(os.environ, PYTHONPATH=core, **(env_extra or {}))
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, jpath], env=env, capture_output=True, text=True)
    finally:
        os.remove(jpath)
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def inproc(job, work, rounds, n_objects, only=None):
    import statistics
    import time
    from samatte import pipeline
    from samatte.matte import stage as mstage
    threads = mstage.object_threads()
    modes = {"serial": 1, "threads": threads}
    names = [m for m in modes if only is None or m in only]
    rows = {m: [] for m in names}
    marks = {}

    def on_progress(p):
        if p.stage != "matte":
            return
        now = time.perf_counter()
        if "t0" not in marks:
            marks["t0"] = now
            marks["c0"] = time.process_time()
        # named phases, wall in the loop's thread: the objects (first "matte <name>" to "foreground") and
        # the write (": writing" to the next message)
        ph = p.message.rsplit(": ", 1)[-1] if ": " in p.message else ""
        last = marks.get("last")
        if last is not None:
            key = "objects" if last.startswith("matte ") else ("write" if last == "writing" else None)
            if key:
                marks[key] = marks.get(key, 0.0) + now - marks["tl"]
        marks["last"], marks["tl"] = ph, now
    pipeline.run(dict(job, output=dict(job["output"], path=os.path.join(work, "warm", "m.####.exr"))),
                 stage="matte", frames=[int(job["plate"]["frames"].split("-")[0])])   # numba's JIT, imports
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        outs = {}
        for m in order:
            mstage.OBJECT_THREADS = modes[m]
            out = tempfile.mkdtemp(prefix="in_%s_" % m, dir=work)
            marks.clear()
            res = pipeline.run(dict(job, output=dict(job["output"], path=os.path.join(out, "m.####.exr"))),
                               stage="matte", on_progress=on_progress)
            t, c = time.perf_counter() - marks["t0"], time.process_time() - marks["c0"]
            n = len(res["written"])
            rows[m].append((t / n, c / n, marks.get("objects", 0.0) / n, marks.get("write", 0.0) / n))
            outs[m] = out
            print("round %d %-6s wall %.2f s/frame  cpu %.2f s/frame  objects %.2f s  write %.2f s  (load %.2f)"
                  % (r + 1, m, t / n, c / n, rows[m][-1][2], rows[m][-1][3], os.getloadavg()[0]), flush=True)
        print("round %d byte-identical to %s: %s" % (r + 1, names[0], all(same_files(outs[m], outs[names[0]])
                                                                          for m in names)), flush=True)
    mstage.OBJECT_THREADS = threads
    for m in names:
        print("%-6s median wall %.2f s/frame, cpu %.2f s/frame; wall / %s per round: %s (%d objects)"
              % (m, statistics.median(x[0] for x in rows[m]), statistics.median(x[1] for x in rows[m]), names[0],
                 ", ".join("%.3f" % (a[0] / b[0]) for a, b in zip(rows[m], rows[names[0]])), n_objects))
        print("%-6s objects phase median %.2f s/frame (/ %s per round: %s), write phase %.2f s/frame"
              % (m, statistics.median(x[2] for x in rows[m]), names[0],
                 ", ".join("%.3f" % (a[2] / b[2]) for a, b in zip(rows[m], rows[names[0]])),
                 statistics.median(x[3] for x in rows[m])))


def same_files(a, b):
    na, nb = sorted(os.listdir(a)), sorted(os.listdir(b))
    return na == nb and all(filecmp.cmp(os.path.join(a, n), os.path.join(b, n), shallow=False) for n in na)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--objects", type=int, default=2)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--against", default=None, help="another core folder, run alternately")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--inproc", action="store_true", help="modes of this code alternated in one process")
    ap.add_argument("--modes", default=None, help="with --inproc: serial,threads or one of them")
    ap.add_argument("--env-new", default=None, help="K=V,...: environment of the new code's runs only")
    a = ap.parse_args()
    sys.path.insert(0, CORE)
    os.makedirs(a.workdir, exist_ok=True)
    job = make_job(a.workdir, a.objects, frames=a.frames)
    from samatte import pipeline
    pipeline.run(job, stage="track")
    if a.inproc:
        return inproc(job, a.workdir, a.rounds, a.objects, a.modes.split(",") if a.modes else None)
    env_new = dict(kv.split("=", 1) for kv in a.env_new.split(",")) if a.env_new else None
    cores = [("new", CORE)] + ([("old", a.against)] if a.against else [])
    rows = {k: [] for k, _ in cores}
    for r in range(a.rounds):
        order = cores if r % 2 == 0 else cores[::-1]
        outs = {}
        for label, core in order:
            out = tempfile.mkdtemp(prefix="out_%s_" % label, dir=a.workdir)
            res = run_child(core, job, out, env_new if label == "new" else None)
            n = max(1, res["n"])
            rows[label].append((res["wall"] / n, res["cpu"] / n))
            outs[label] = out
            print("round %d %-3s  wall %.2f s/frame  cpu %.2f s/frame  (%d frames, load %.2f)"
                  % (r + 1, label, res["wall"] / n, res["cpu"] / n, res["n"], os.getloadavg()[0]), flush=True)
        if len(outs) == 2:
            print("round %d outputs byte-identical: %s" % (r + 1, same_files(outs["new"], outs["old"])), flush=True)
    import statistics
    for label, _ in cores:
        w = statistics.median(x[0] for x in rows[label])
        c = statistics.median(x[1] for x in rows[label])
        print("%s median: wall %.2f s/frame, cpu %.2f s/frame (%d rounds, %d objects)"
              % (label, w, c, len(rows[label]), a.objects))
    if a.against:
        ratios = [n[0] / o[0] for n, o in zip(rows["new"], rows["old"])]
        print("new / old wall per round: %s" % ", ".join("%.3f" % x for x in ratios))


if __name__ == "__main__":
    main()
