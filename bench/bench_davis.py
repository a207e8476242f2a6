"""DAVIS-2016 benchmark of the weights-free flow tracker (and the plain flow-warp baseline).

Command (from the repository root, venv active)::

    python bench/bench_davis.py                    # FlowTracker + the plain DIS-warp baseline
    python bench/bench_davis.py --no-baseline      # FlowTracker only
    python bench/bench_davis.py --seq dog --frames 20   # quick look at one sequence
    python bench/bench_davis.py --tracker shapes   # the no-motion shape tracker, for reference

For each sequence in ``<repo>/../shared/eval/davis2016`` (``frames/<seq>/*.jpg`` 854x480 sRGB,
``masks/<seq>/*.png`` binary): the JPEG frames are decoded to scene-linear (sRGB EOTF) and written as
half-float EXR (``<seq>.1001.exr`` ...) in a temporary folder, read back through
:class:`samatte.io.source.FrameSource` (a small built-in reader when samatte.io is missing), prompted
with the frame-0 ground-truth mask as a ``mask`` prompt (through :func:`samatte.prompts.prepare_objects`)
and tracked over all frames. Scores: J (IoU) and F (boundary F-measure, tolerance
ceil(0.008 x diagonal) px), first and last frames excluded, J&F = (mean J + mean F) / 2 per
sequence; the mean over sequences; and ms per frame of tracking (reading included, EXR conversion
not).

Baseline (``--baseline``, on by default): plain DIS optical flow (medium preset, at the same working
resolution) warping the previous frame's mask, nothing else.
"""
import argparse
import glob
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "core"))

import cv2  # noqa: E402

from samatte import jobspec, prompts  # noqa: E402
from samatte.stages import Plate, PlateInfo, Window  # noqa: E402

EVAL = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "eval", "davis2016"))
FIRST = 1001


def srgb_eotf(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def srgb_oetf(v):
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055).astype(np.float32)


def write_exr(path, rgb):
    import OpenImageIO as oiio
    h, w = rgb.shape[:2]
    spec = oiio.ImageSpec(w, h, 3, "half")
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(rgb)
    out.close()


class _SimpleSource:
    """Fallback reader (used only when samatte.io.source is missing): OIIO + sRGB OETF display."""

    def __init__(self, pattern, frames):
        import OpenImageIO as oiio
        self.pattern, self.frames = pattern, list(frames)
        inp = oiio.ImageInput.open(self.path(self.frames[0]))
        s = inp.spec()
        inp.close()
        self.info = PlateInfo(data=Window(0, 0, s.width, s.height), display=Window(0, 0, s.width, s.height))

    def path(self, f):
        return self.pattern.replace("####", "%04d" % f)

    def prefetch(self, frames):
        pass

    def get(self, f):
        import OpenImageIO as oiio
        inp = oiio.ImageInput.open(self.path(f))
        lin = inp.read_image("float")[..., :3]
        inp.close()
        return Plate(frame=f, linear=lin, display=srgb_oetf(lin), info=self.info)

    def close(self):
        pass


def open_source(pattern, frames):
    try:
        from samatte.io.source import FrameSource
    except ImportError:
        print("  (samatte.io.source missing: using the bench's own EXR reader)")
        return _SimpleSource(pattern, frames)
    return FrameSource(pattern, frames)


def baseline_track(source, mask0, frames, work_size=640):
    """Plain DIS warping of the previous mask (the reference the tracker must beat)."""
    H, W = source.info.shape
    s = min(1.0, work_size / max(H, W))
    h, w = int(round(H * s)), int(round(W * s))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    prev_g = None
    m = cv2.resize(mask0.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    for f in frames:
        disp = source.get(f).display
        g = cv2.cvtColor(cv2.resize((np.clip(disp, 0, 1) * 255 + 0.5).astype(np.uint8), (w, h),
                                    interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        if prev_g is not None:
            fl = dis.calc(g, prev_g, None)
            m = cv2.remap(m, gx + fl[..., 0], gy + fl[..., 1], cv2.INTER_LINEAR)
            m = (m >= 0.5).astype(np.float32)
        prev_g = g
        yield f, cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR) >= 0.5


def ours_track(source, objects, frames, tracker):
    for item in tracker.track(source, objects, frames):
        if hasattr(item, "objects"):
            yield item.frame, item.objects["obj"].mask


def score(results, gts, frames):
    from samatte.metrics import davis_f, davis_j
    J, F = [], []
    for f in frames[1:-1]:
        J.append(davis_j(results[f], gts[f]))
        F.append(davis_f(results[f], gts[f]))
    return float(np.mean(J)), float(np.mean(F))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq", action="append", help="sequence name (repeatable); default all")
    ap.add_argument("--frames", type=int, default=0, help="only the first N frames of each sequence")
    ap.add_argument("--baseline", dest="baseline", action="store_true", default=True)
    ap.add_argument("--no-baseline", dest="baseline", action="store_false")
    ap.add_argument("--tracker", default="flow", choices=("flow", "shapes"))
    ap.add_argument("--option", action="append", default=[], help="tracker option key=value (JSON value)")
    args = ap.parse_args(argv)
    if not os.path.isdir(EVAL):
        print("no DAVIS data at %s" % EVAL)
        return 1
    import json
    options = {}
    for kv in args.option:
        k, v = kv.split("=", 1)
        options[k] = json.loads(v)
    seqs = args.seq or sorted(os.listdir(os.path.join(EVAL, "frames")))
    rows = []
    with tempfile.TemporaryDirectory(prefix="samatte_davis_") as tmp:
        for seq in seqs:
            jpgs = sorted(glob.glob(os.path.join(EVAL, "frames", seq, "*.jpg")))
            pngs = sorted(glob.glob(os.path.join(EVAL, "masks", seq, "*.png")))
            if args.frames:
                jpgs, pngs = jpgs[:args.frames], pngs[:args.frames]
            frames = list(range(FIRST, FIRST + len(jpgs)))
            d = os.path.join(tmp, seq)
            os.makedirs(d)
            for f, p in zip(frames, jpgs):
                rgb = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
                write_exr(os.path.join(d, "%s.%04d.exr" % (seq, f)), srgb_eotf(rgb))
            gts = {f: cv2.imread(p, cv2.IMREAD_GRAYSCALE) > 127 for f, p in zip(frames, pngs)}
            mpath = os.path.join(d, "prompt.png")
            cv2.imwrite(mpath, gts[frames[0]].astype(np.uint8) * 255)
            pattern = os.path.join(d, "%s.####.exr" % seq)
            row = {"seq": seq, "n": len(frames)}
            # ours
            src = open_source(pattern, frames)
            job_objects = [{"name": "obj", "prompts": [jobspec.mask_prompt(frames[0], mpath)]}]
            objects = prompts.prepare_objects(job_objects, src.info, frames)
            if args.tracker == "flow":
                from samatte.track.flow import FlowTracker
                tracker = FlowTracker(options=options)
            else:
                from samatte.track.shapes import ShapeTracker
                tracker = ShapeTracker()
            t0 = time.perf_counter()
            res = dict(ours_track(src, objects, frames, tracker))
            row["ms"] = (time.perf_counter() - t0) * 1e3 / len(frames)
            src.close()
            row["J"], row["F"] = score(res, gts, frames)
            if args.baseline:
                src = open_source(pattern, frames)
                t0 = time.perf_counter()
                res = dict(baseline_track(src, gts[frames[0]], frames))
                row["b_ms"] = (time.perf_counter() - t0) * 1e3 / len(frames)
                src.close()
                row["bJ"], row["bF"] = score(res, gts, frames)
            rows.append(row)
            line = "%-16s n=%3d  %s: J %.3f F %.3f J&F %.3f  %.0f ms/frame" % (
                seq, row["n"], args.tracker, row["J"], row["F"], (row["J"] + row["F"]) / 2, row["ms"])
            if args.baseline:
                line += "   | baseline: J %.3f F %.3f J&F %.3f  %.0f ms/frame" % (
                    row["bJ"], row["bF"], (row["bJ"] + row["bF"]) / 2, row["b_ms"])
            print(line, flush=True)
    jf = np.mean([(r["J"] + r["F"]) / 2 for r in rows])
    line = "%-16s        %s: J %.3f F %.3f J&F %.3f  %.0f ms/frame" % (
        "MEAN", args.tracker, np.mean([r["J"] for r in rows]), np.mean([r["F"] for r in rows]), jf,
        np.mean([r["ms"] for r in rows]))
    if args.baseline:
        line += "   | baseline: J %.3f F %.3f J&F %.3f  %.0f ms/frame" % (
            np.mean([r["bJ"] for r in rows]), np.mean([r["bF"] for r in rows]),
            np.mean([(r["bJ"] + r["bF"]) / 2 for r in rows]), np.mean([r["b_ms"] for r in rows]))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
