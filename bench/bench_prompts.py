"""Host prompt data on the demo shot: does a correct point on every frame (a Tracker4 track, a
Blender marker) make the result worse than the shape alone?

    .venv/bin/python bench/bench_prompts.py [--out /tmp/bench_prompts] [--matte refine|none]
        [--frames 24] [--size 640x360]

Runs the demo shot (samatte.demo.make_shot) through the pipeline with the flow tracker, once with
the demo's polygon on the middle frame only, once with the polygon plus a positive point at the
subject's true centre on every frame, and once with points only (a point on every frame, no shape),
and prints the MAD (x1e-3, mean |alpha - true|, whole frames) of each against the true alpha.

``--soft-feather F``: instead, refine-only jobs with per-frame roto PNGs drawn around the subject and
feathered outwards by F px, once thresholded (``masks.soft: false``) and once kept soft (true).
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core"))


def centre(shot, f):
    w, h = shot["size"]
    fl = shot["frames"]
    u = fl.index(f) / max(1, len(fl) - 1)
    return [w * (0.28 + 0.44 * u), h * (0.55 + 0.08 * math.sin(2 * math.pi * u))]


def run(shot, out, variant, matte, tracker="flow"):
    from samatte import jobspec, pipeline
    from samatte.demo import read_alpha
    if os.path.exists(out):
        shutil.rmtree(out)
    job = jobspec.new_job(shot["plate"], os.path.join(out, "m.####.exr"),
                          frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]), tracker=tracker,
                          matte=matte, foreground=False, quality_map=False)
    prompts = []
    if variant in ("shape", "shape+points"):
        prompts.append(jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"]))
    if variant in ("shape+points", "points"):
        prompts += [jobspec.points_prompt(f, [centre(shot, f)]) for f in shot["frames"]]
    jobspec.add_object(job, "ball", prompts)
    t0 = time.time()
    pipeline.run(job)
    dt = time.time() - t0
    mads = []
    for f in shot["frames"]:
        gt = read_alpha(shot["gt"].replace("####", "%04d" % f))
        a = read_alpha(os.path.join(out, "m.%04d.exr" % f))
        mads.append(float(np.mean(np.abs(a - gt))) * 1e3)
    return float(np.mean(mads)), max(mads), dt


def soft_roto(shot, out, feather):
    """Per-frame roto PNGs (16-bit) an artist might render: the demo's polygon drawn around each frame's
    subject (samatte.demo._roto_polygon), feathered outwards by ``feather`` px."""
    from samatte.demo import _roto_polygon, read_alpha
    from samatte.io.exr import write_image
    from samatte.prompts import feather_mask, rasterise_polygon
    os.makedirs(out, exist_ok=True)
    w, h = shot["size"]
    for f in shot["frames"]:
        gt = read_alpha(shot["gt"].replace("####", "%04d" % f))
        cov = rasterise_polygon(np.array(_roto_polygon(gt)), (h, w))
        m = feather_mask(cov, feather) if feather else cov
        write_image(os.path.join(out, "roto.%04d.png" % f), m.astype(np.float32), channels=("Y",),
                    pixel_type="uint16")
    return os.path.join(out, "roto.####.png")


def run_masks(shot, out, roto, soft, matte):
    from samatte import jobspec, pipeline
    from samatte.demo import read_alpha
    if os.path.exists(out):
        shutil.rmtree(out)
    job = jobspec.new_job(shot["plate"], os.path.join(out, "m.####.exr"),
                          frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]), matte=matte,
                          foreground=False, quality_map=False)
    jobspec.add_object(job, "ball", masks={"path": roto, "soft": soft})
    t0 = time.time()
    pipeline.run(job)
    mads = [float(np.mean(np.abs(read_alpha(os.path.join(out, "m.%04d.exr" % f))
                                 - read_alpha(shot["gt"].replace("####", "%04d" % f))))) * 1e3
            for f in shot["frames"]]
    return float(np.mean(mads)), max(mads), time.time() - t0


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/bench_prompts")
    ap.add_argument("--matte", default="refine")
    ap.add_argument("--tracker", default="flow")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--variants", default="shape,shape+points,points")
    ap.add_argument("--soft-feather", type=float, default=None,
                    help="instead: refine-only with per-frame rotos feathered by this many px, soft off/on")
    a = ap.parse_args(argv)
    from samatte.demo import make_shot
    w, h = (int(v) for v in a.size.split("x"))
    shot_dir = os.path.join(a.out, "shot_%dx%d_%d" % (w, h, a.frames))
    pfile = os.path.join(shot_dir, "shot.json")
    if os.path.exists(pfile):
        with open(pfile) as f:
            shot = json.load(f)
    else:
        shot = make_shot(shot_dir, frames=a.frames, size=(w, h))
        with open(pfile, "w") as f:
            json.dump(shot, f)
    res = {}
    if a.soft_feather is not None:  # refine-only with a feathered roto: masks.soft false / true
        roto = soft_roto(shot, os.path.join(a.out, "roto_f%g" % a.soft_feather), a.soft_feather)
        for soft in (False, True):
            mad, worst, dt = run_masks(shot, os.path.join(a.out, "run_masks_%d" % soft), roto, soft, a.matte)
            res["masks_soft_%s" % soft] = mad
            print("roto feather %g px, masks.soft %-5s matte %-6s MAD %.2f (worst frame %.2f) x1e-3  %.1f s"
                  % (a.soft_feather, soft, a.matte, mad, worst, dt), flush=True)
        print(json.dumps(res))
        return
    for v in a.variants.split(","):
        mad, worst, dt = run(shot, os.path.join(a.out, "run_" + v.replace("+", "_")), v, a.matte, a.tracker)
        res[v] = mad
        print("%-14s tracker %s matte %-6s MAD %.2f (worst frame %.2f) x1e-3  %.1f s"
              % (v, a.tracker, a.matte, mad, worst, dt), flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
