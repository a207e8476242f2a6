"""Farm benchmark: a refine-only job in 1, 2 and 4 chunks under `openjd run` against one `samatte run`.

    .venv/bin/python bench/bench_farm.py [--frames 200] [--size 1920x1080] [--chunks 1,2,4]
                                         [--preroll 8] [--quality default] [--out /tmp/bench_farm]

The shot is samatte's synthetic demo scene (scene-linear EXR, a furry ball with a semi-transparent fin
over a panning textured background) at the given size; the refine-only object's masks are its true
alpha thresholded at 0.5 (what a tight roto gives). Printed figures:

* ``single``: wall time of one ``samatte run JOB.json`` process (all frames);
* ``openjd N``: wall time of ``openjd run`` of the exported bundle's Matte step with the frames in N
  chunks (run one after another, as one worker would), its ratio to ``single``, the per-task overhead
  ``(openjd - single) / N`` in seconds, and the largest alpha difference from ``single`` (zero when
  each chunk starts from its previous frame's finished matte);
* ``parallel-like N``: the same chunks run in reverse order, so no chunk finds its previous frame
  written -- what a farm running the chunks at once sees: each chunk pre-rolls ``--preroll`` frames
  it does not write. Mean and max alpha difference from ``single`` on each chunk's first frame and
  over the whole chunk (alpha in [0, 1]);
* the QC step's wall time on the finished job.

Everything runs on this machine's CPUs; on a shared 2-core machine use a smaller ``--size`` or
``--frames`` and say so with the figures.  The runs take many minutes each: the samatte code must not change
while they run (in a working tree shared with others, a change between two runs shows up as an
alpha difference that has nothing to do with chunking).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "core"))

from samatte import jobspec  # noqa: E402
from samatte.demo import make_shot, read_alpha  # noqa: E402
from samatte.farm import export_openjd  # noqa: E402

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")


def _chunks(frames, n):
    size = -(-len(frames) // n)
    return [frames[i:i + size] for i in range(0, len(frames), size)], size


CPU = {}


def _run(cmd):
    """Wall seconds of a command; its CPU seconds (user + system of it and its children: less
    sensitive to other load on a shared machine) go to CPU[last]."""
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit("command failed: %s" % " ".join(cmd[:6]))
    return dt, r.stdout


def _alphas(pattern, frames):
    return {f: read_alpha(pattern.replace("####", "%04d" % f)) for f in frames}


def _diff(a, b, frames):
    d = [np.abs(a[f] - b[f]) for f in frames]
    return float(np.mean([x.mean() for x in d])), float(max(x.max() for x in d))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--chunks", default="1,2,4")
    ap.add_argument("--preroll", type=int, default=8)
    ap.add_argument("--quality", default="default")
    ap.add_argument("--out", default="/tmp/bench_farm")
    ap.add_argument("--keep-shot", action="store_true", help="reuse the shot in --out if it is there")
    a = ap.parse_args(argv)
    w, h = (int(v) for v in a.size.lower().split("x"))
    out = os.path.abspath(a.out)
    shot_dir = os.path.join(out, "shot")
    t0 = time.perf_counter()
    if not (a.keep_shot and os.path.isdir(shot_dir)):
        shutil.rmtree(out, ignore_errors=True)
        make_shot(shot_dir, frames=a.frames, size=(w, h))
    for sub in os.listdir(out):
        if sub != "shot":
            shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    print("shot: %d frames %dx%d in %.0f s" % (a.frames, w, h, time.perf_counter() - t0), flush=True)
    frames = list(range(1001, 1001 + a.frames))
    plate = os.path.join(shot_dir, "plate", "plate.####.exr")
    gt = os.path.join(shot_dir, "gt", "alpha.####.exr")

    def job_for(name):
        job = jobspec.new_job(plate, os.path.join(out, name, "matte.####.exr"),
                              frames="%d-%d" % (frames[0], frames[-1]), name="bench", matte="refine",
                              quality=a.quality)
        jobspec.add_object(job, "ball", masks={"path": gt, "threshold": 0.5})
        path = os.path.join(out, name + ".json")
        jobspec.save(job, path)
        return path

    single_job = job_for("single")
    t_single, _ = _run([sys.executable, "-m", "samatte", "run", single_job])
    c_single = CPU["last"]
    print("single samatte run: %.1f s wall (%.2f s/frame), %.1f s CPU" % (t_single, t_single / len(frames), c_single),
          flush=True)
    ref = _alphas(os.path.join(out, "single", "matte.####.exr"), frames)
    figures = {"frames": a.frames, "size": [w, h], "quality": a.quality, "preroll": a.preroll,
               "single_s": round(t_single, 2), "single_cpu_s": round(c_single, 2), "openjd": {},
               "parallel_like": {}}

    for n in [int(v) for v in a.chunks.split(",")]:
        chunks, size = _chunks(frames, n)
        bundle = os.path.join(out, "bundle%d" % n)
        res = export_openjd(job_for("seq%d" % n), bundle, chunk=size, preroll=a.preroll)
        params = res["parameters"]
        t_seq, log = _run([OPENJD, "run", res["template"], "--step", "Matte", "-p", json.dumps(params)])
        c_seq = CPU["last"]
        seq = _alphas(os.path.join(out, "seq%d" % n, "matte.####.exr"), frames)
        _m, seq_max = _diff(seq, ref, frames)
        over = (t_seq - t_single) / len(chunks)
        c_over = (c_seq - c_single) / len(chunks)
        figures["openjd"][n] = {"wall_s": round(t_seq, 2), "ratio": round(t_seq / t_single, 3),
                                "overhead_per_task_s": round(over, 2), "cpu_s": round(c_seq, 2),
                                "cpu_ratio": round(c_seq / c_single, 3), "cpu_overhead_per_task_s": round(c_over, 2),
                                "max_diff": seq_max}
        print("openjd run, %d chunk(s) of %d in order: %.1f s wall, ratio %.3f, overhead %.2f s/task; CPU %.1f s,"
              " ratio %.3f, %.2f s/task; max |alpha - single| %.2g"
              % (len(chunks), size, t_seq, t_seq / t_single, over, c_seq, c_seq / c_single, c_over, seq_max),
              flush=True)
        if n == max(int(v) for v in a.chunks.split(",")):
            t_qc, _ = _run([OPENJD, "run", res["template"], "--step", "QC", "--no-run-dependencies", "-p",
                            json.dumps(dict(params, Output=os.path.join(out, "seq%d" % n)))])
            figures["qc_s"] = round(t_qc, 2)
            print("QC step (%d frames, contact sheet): %.1f s" % (len(frames), t_qc), flush=True)
        if len(chunks) < 2:
            continue
        params = dict(params, Output=os.path.join(out, "par%d" % n))
        tasks = [{"Frames": "%d-%d" % (c[0], c[-1])} for c in reversed(chunks)]
        t_par, _ = _run([OPENJD, "run", res["template"], "--step", "Matte", "--tasks", json.dumps(tasks),
                         "-p", json.dumps(params)])
        c_par = CPU["last"]
        par = _alphas(os.path.join(out, "par%d" % n, "matte.####.exr"), frames)
        firsts = [c[0] for c in chunks[1:]]
        rest = [f for c in chunks[1:] for f in c]
        b_mean, b_max = _diff(par, ref, firsts)
        c_mean, c_max = _diff(par, ref, rest)
        first_chunk = _diff(par, ref, chunks[0])
        per_offset = []
        for k in range(min(size, 12)):
            fr = [c[k] for c in chunks[1:] if len(c) > k]
            per_offset.append(round(_diff(par, ref, fr)[1], 4))
        figures["parallel_like"][n] = {"wall_s": round(t_par, 2), "cpu_s": round(c_par, 2),
                                       "boundary_mean": b_mean, "boundary_max": b_max,
                                       "chunk_mean": c_mean, "chunk_max": c_max,
                                       "first_chunk_max": first_chunk[1], "max_by_offset": per_offset}
        print("  parallel-like (chunks in reverse, pre-roll %d): %.1f s wall, %.1f s CPU; chunk-start frames"
              " mean %.2e max %.3f; whole later chunks mean %.2e max %.3f; first chunk max %.2g;"
              " max by frame offset in chunk %s"
              % (a.preroll, t_par, c_par, b_mean, b_max, c_mean, c_max, first_chunk[1], per_offset), flush=True)
    print(json.dumps(figures, indent=1, sort_keys=True))
    with open(os.path.join(out, "figures.json"), "w") as f:
        json.dump(figures, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
