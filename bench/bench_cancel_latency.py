"""Cancel latency and progress gaps of a run, per phase (qa165).

    .venv/bin/python bench/bench_cancel_latency.py [--size 1920x1080] [--objects 1] [--quality default]
        [--frames 3] [--modes api,sigint,sigterm,worker] [--phases ...] [--delay 0.3] [--tracker flow]
        [--timeline-only] [--workdir DIR]

Makes a demo shot (``samatte.demo.make_shot``: half-float RGB EXR) at the given size with 1 or more
objects (the demo's roto polygon, and smaller copies of it beside it), then:

1. timeline: one uncancelled ``samatte.run_iter`` of the job, every Progress with its time and the gap
   since the one before; the longest gap is how long a host's bar sits still.
2. cancel latency: for each mode and phase, a fresh run (its output folder emptied), cancelled ``--delay``
   seconds after the first progress message that holds the phase's text; the latency is the time from
   the cancel to the job's end (CANCELLED). Modes: ``api`` (``run_iter`` with a ``CancelToken``, in this
   process), ``sigint`` / ``sigterm`` (``samatte run --json`` in a subprocess, the signal sent to it),
   ``worker`` (``samatte.client.WorkerClient``, a new worker per run, ``JobHandle.cancel()``).
   Default phases: ``reading frames`` (the flow tracker's), ``frame 1001: matte`` (the first matted frame: its
   objects' solves), ``frame 1002: matte``, ``foreground``, ``quality``, ``writing``.

Every run checks the cancelled frame was not written half: each file in the output folder opens as a whole
EXR. ``$SAMATTE_BENCH_CORE``: the core/ folder of the samatte to measure (default: this checkout's).
Numbers are seconds; on a shared machine, run it a few times and report ranges.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: the samatte to measure ($SAMATTE_BENCH_CORE: another checkout's core/, for before / after figures)
CORE = os.environ.get("SAMATTE_BENCH_CORE") or os.path.join(os.path.dirname(HERE), "core")

DEFAULT_PHASES = ["reading frames", "frame 1001: matte", "frame 1002: matte", "foreground", "quality", "writing"]


def make_job(folder, size, n_objects, quality, frames, tracker="flow"):
    from samatte import jobspec
    from samatte.demo import make_shot
    w, h = size
    shot_dir = os.path.join(folder, "shot")
    meta = os.path.join(shot_dir, "shot.json")
    if os.path.exists(meta):
        with open(meta) as fh:
            shot = json.load(fh)
    else:
        shot = make_shot(shot_dir, frames=frames, size=(w, h))
        with open(meta, "w") as fh:
            json.dump(shot, fh)
    out = os.path.join(folder, "out", "matte.####.exr")
    job = jobspec.new_job(shot["plate"], out, frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]),
                          tracker=tracker, matte="refine", quality=quality, name="cancel",
                          work_dir=os.path.join(folder, "work"))
    poly = shot["polygon"]
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], poly)])
    for i in range(1, n_objects):
        pts = [[x * 0.3 + 0.1 * w * i, y * 0.3 + 0.05 * h] for x, y in poly]
        jobspec.add_object(job, "o%d" % i, [jobspec.polygon_prompt(shot["prompt_frame"], pts)])
    path = os.path.join(folder, "job.json")
    jobspec.save(job, path)
    return job, path


def clean(folder):
    for sub in ("out", "work"):
        shutil.rmtree(os.path.join(folder, sub), ignore_errors=True)


def check_whole(folder):
    """Every file in the output folder is a whole EXR (a cancelled frame is never half-written)."""
    import OpenImageIO as oiio
    out = os.path.join(folder, "out")
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    for n in names:
        inp = oiio.ImageInput.open(os.path.join(out, n))
        assert inp is not None and n.endswith(".exr"), "not a whole EXR: %s" % n
        inp.read_image(0, 0, 0, -1, oiio.HALF)
        inp.close()
    return len(names)


def timeline(job):
    from samatte import pipeline
    from samatte.progress import Progress
    t0 = last = time.monotonic()
    rows = []
    for p in pipeline.run_iter(job):
        if isinstance(p, Progress):
            now = time.monotonic()
            rows.append((now - t0, now - last, p.message or "(%s %s done)" % (p.stage, p.frame)))
            last = now
    return rows


class Trigger:
    """Calls ``fire`` ``delay`` s after the first message holding ``text``."""

    def __init__(self, text, delay, fire):
        self.text, self.delay, self.fire = text, delay, fire
        self.at = None
        self.timer = None

    def see(self, message):
        if self.timer is None and self.text in (message or ""):
            def go():
                self.at = time.monotonic()
                self.fire()
            self.timer = threading.Timer(self.delay, go)
            self.timer.start()


def run_api(job, text, delay):
    from samatte import pipeline
    from samatte.errors import CancelledError
    from samatte.progress import CancelToken
    tok = CancelToken()
    trig = Trigger(text, delay, tok.cancel)
    status = "done"
    try:
        for p in pipeline.run_iter(job, cancel=tok):
            trig.see(getattr(p, "message", ""))
    except CancelledError:
        status = "CANCELLED"
    return status, trig, time.monotonic()


def run_cli(path, text, delay, sig):
    proc = subprocess.Popen([sys.executable, "-m", "samatte", "run", "--json", path], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    trig = Trigger(text, delay, lambda: proc.send_signal(sig))
    status = "done"
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "progress":
            trig.see(msg.get("message"))
        elif msg.get("type") == "error":
            status = msg.get("code")
    proc.wait()
    return status, trig, time.monotonic()


def run_worker(path, text, delay):
    from samatte.client import WorkerClient
    from samatte.errors import CancelledError
    with WorkerClient(sys.executable, timeout=900) as wk:
        h = wk.start_job(path)
        trig = Trigger(text, delay, h.cancel)
        status = "done"
        try:
            h.wait(on_progress=lambda p: trig.see(p.get("message") if isinstance(p, dict) else p.message))
        except CancelledError:
            status = "CANCELLED"
        end = time.monotonic()   # (the job's CANCELLED error, not the worker's exit)
    return status, trig, end


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--objects", type=int, default=1)
    ap.add_argument("--quality", default="default")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--tracker", default="flow")
    ap.add_argument("--modes", default="api,sigint,sigterm,worker")
    ap.add_argument("--phases", default=",".join(DEFAULT_PHASES))
    ap.add_argument("--delay", type=float, default=0.3)
    ap.add_argument("--timeline-only", action="store_true")
    ap.add_argument("--no-timeline", action="store_true", help="cancel runs only")
    ap.add_argument("--workdir")
    args = ap.parse_args(argv)
    sys.path.insert(0, CORE)
    # (the CLI and the worker run in subprocesses: the same samatte there)
    os.environ["PYTHONPATH"] = CORE + os.pathsep + os.environ.get("PYTHONPATH", "")
    w, h = (int(v) for v in args.size.lower().split("x"))
    folder = args.workdir or tempfile.mkdtemp(prefix="samatte_cancel_")
    os.makedirs(folder, exist_ok=True)
    try:
        job, path = make_job(folder, (w, h), args.objects, args.quality, args.frames, args.tracker)
        clean(folder)
        rows = [] if args.no_timeline else timeline(job)
        print("timeline %dx%d, %d object(s), quality %s (s since start, gap, message):"
              % (w, h, args.objects, args.quality))
        for t, gap, msg in rows:
            print("  %7.2f  +%5.2f  %s" % (t, gap, msg))
        if rows:
            worst = max(rows, key=lambda r: r[1])
            print("longest progress gap: %.2f s before %r" % (worst[1], worst[2]))
        if args.timeline_only:
            return
        print("cancel latency (s from the cancel to the job's end), delay %.2f s into the phase:" % args.delay)
        for mode in args.modes.split(","):
            for text in args.phases.split(","):
                clean(folder)
                if mode == "api":
                    status, trig, end = run_api(job, text, args.delay)
                elif mode in ("sigint", "sigterm"):
                    status, trig, end = run_cli(path, text, args.delay,
                                           signal.SIGINT if mode == "sigint" else signal.SIGTERM)
                else:
                    status, trig, end = run_worker(path, text, args.delay)
                n = check_whole(folder)
                if trig.at is None:
                    print("  %-8s %-22s never cancelled (%s)" % (mode, text, status))
                else:
                    print("  %-8s %-22s %6.2f  %s, %d whole frame(s) kept"
                          % (mode, text, end - trig.at, status, n))
                sys.stdout.flush()
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
