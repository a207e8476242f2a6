"""Latency of "matte this frame" on a warm worker (issue 10): button to written frame, at 1080p.

    .venv/bin/python bench/bench_worker_latency.py [--size 1920x1080] [--frames 6] [--repeats 3]

Makes a demo shot at the given size, starts one worker (``samatte.client.WorkerClient``), tracks the
whole shot once (``stage="track"``, stored in the job's work dir), then repeatedly deletes one output
frame and asks the warm worker for it (``frames=F, stage="matte"``), timing from the request to the
``result`` (the EXR is on disk by then). Printed: seconds per request with ``preroll=0`` (a lone frame)
and with the default preroll (the frames before it matted first when they are not finished), and the
time of a plain ``validate`` + ``status`` round trip.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    from samatte import jobspec
    from samatte.client import WorkerClient
    from samatte.demo import make_shot
    tmp = tempfile.mkdtemp(prefix="samatte_latency_")
    try:
        t0 = time.monotonic()
        shot = make_shot(tmp, frames=args.frames, size=(w, h))
        print("shot %dx%d x %d frames made in %.1f s" % (w, h, args.frames, time.monotonic() - t0))
        out = os.path.join(tmp, "matte", "matte.####.exr")
        job = jobspec.new_job(shot["plate"], out, frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]),
                              tracker="flow", matte="refine", name="latency")
        jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
        with WorkerClient(sys.executable, timeout=900) as wk:
            t = time.monotonic()
            wk.run(job, stage="track")
            print("track stage, whole shot: %.2f s" % (time.monotonic() - t))
            f = shot["frames"][len(shot["frames"]) // 2]
            path = out.replace("####", "%04d" % f)
            for preroll in (0, None):
                times = []
                for _ in range(args.repeats):
                    for g in shot["frames"]:
                        p = out.replace("####", "%04d" % g)
                        if os.path.exists(p):
                            os.remove(p)
                    t = time.monotonic()
                    res = wk.run(job, frames=str(f), stage="matte", preroll=preroll)
                    times.append(time.monotonic() - t)
                    assert os.path.exists(path) and path in res["written"], res
                print("matte frame %d on the warm worker, preroll %s: %s s (best %.2f)"
                      % (f, "default" if preroll is None else preroll, ", ".join("%.2f" % x for x in times),
                         min(times)))
            t = time.monotonic()
            wk.validate(job)
            wk.status(job)
            print("validate + status round trip: %.2f s" % (time.monotonic() - t))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
