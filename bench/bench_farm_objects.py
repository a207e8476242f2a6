"""Per-object tracking tasks: one `samatte run --stage track` of a two-object job versus one
`--stage track --objects NAME` process per object (run one after the other, and at once), on the demo
shot; the track caches are compared file by file.

    .venv/bin/python bench/bench_farm_objects.py [--frames 48] [--size 640x360] [--tracker flow]

Wall times on a shared machine follow its load; CPU seconds (children) are printed too.
"""
import argparse
import filecmp
import glob
import os
import resource
import subprocess
import sys
import tempfile
import time


def _cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmds):
    t0, c0 = time.time(), _cpu()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(err.decode()[-2000:])
    return time.time() - t0, _cpu() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--tracker", default="flow", choices=("flow", "shapes"))
    a = ap.parse_args()
    from samatte import jobspec
    from samatte.demo import make_shot
    w, h = (int(v) for v in a.size.split("x"))
    d = tempfile.mkdtemp(prefix="bench_farm_objects_")
    s = make_shot(os.path.join(d, "shot"), frames=a.frames, size=(w, h))
    last = s["frames"][-1]
    paths = {}
    for mode in ("one", "seq", "par"):
        job = jobspec.new_job(s["plate"], os.path.join(d, mode, "m.####.exr"), frames="%d-%d" % (1001, last),
                              name="b", tracker=a.tracker, matte="refine", quality="draft")
        jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
        jobspec.add_object(job, "crate", [jobspec.box_prompt(1001 + a.frames // 4, [w * 0.15, h * 0.15, w * 0.6, h * 0.8])])
        paths[mode] = os.path.join(d, mode + ".json")
        jobspec.save(job, paths[mode])
    py = [sys.executable, "-m", "samatte", "run"]
    res = {"one": _run([py + [paths["one"], "--stage", "track"]])}
    ws, cs = 0.0, 0.0
    for n in ("ball", "crate"):
        wt, ct = _run([py + [paths["seq"], "--stage", "track", "--objects", n]])
        ws, cs = ws + wt, cs + ct
    res["seq"] = (ws, cs)
    res["par"] = _run([py + [paths["par"], "--stage", "track", "--objects", n] for n in ("ball", "crate")])
    same = True
    ref = sorted(glob.glob(os.path.join(d, "one", ".samatte", "b", "track", "*.npz")))
    for mode in ("seq", "par"):
        for p in ref:
            q = p.replace(os.sep + "one" + os.sep, os.sep + mode + os.sep)
            same = same and os.path.exists(q) and filecmp.cmp(p, q, shallow=False)
    print("%d frames %dx%d, tracker %s, 2 objects; load %.1f" % (a.frames, w, h, a.tracker, os.getloadavg()[0]))
    for mode, label in (("one", "one track task"), ("seq", "2 object tasks, one after the other"),
                        ("par", "2 object tasks at once")):
        print("  %-38s wall %6.2f s  cpu %6.2f s" % (label, res[mode][0], res[mode][1]))
    print("  track files identical to the one-task run: %s (%d files)" % (same, len(ref)))
    import shutil
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
