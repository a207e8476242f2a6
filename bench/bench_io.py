"""IO throughput: FrameSource + MatteWriter against plain OpenImageIO read + write of the same frames.

    . .venv/bin/activate && python bench/bench_io.py --frames 20 --width 2048 --height 1080

Makes ``--frames`` half RGBA zip EXRs (random noise, 2048x1080 by default) in a temp folder, then times:

* ``plain``: for each frame, OIIO reads RGBA as float and writes it back as half zip EXR (what a
  minimal converter does);
* ``samatte``: FrameSource.get (float32 read, non-finite check, OCIO display transform on the
  read-ahead thread) + MatteWriter.write of a one-object matte (A + obj.A, plus R,G,B foreground
  with ``--foreground``), i.e. the pipeline with a no-op tracker/matter;
* the FrameSource alone and the display transform alone.
Prints seconds per frame and the samatte/plain ratio (target <= 1.15).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core"))

import OpenImageIO as oiio  # noqa: E402

from samatte.colour import ColourTransform  # noqa: E402
from samatte.io import exr  # noqa: E402
from samatte.io.source import FrameSource  # noqa: E402
from samatte.io.writer import MatteWriter  # noqa: E402
from samatte.stages import MatteFrame  # noqa: E402


def make_plates(folder, n, w, h):
    rng = np.random.default_rng(0)
    base = (rng.random((h, w, 4), dtype=np.float32) * 2).astype(np.float32)
    for i in range(n):
        exr.write_image(os.path.join(folder, "plate.%04d.exr" % (1001 + i)), np.roll(base, i, axis=1),
                        pixel_type="half")
    return os.path.join(folder, "plate.####.exr")


def plain(pattern, frames, out):
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    for f in frames:
        src = pattern.replace("####", "%04d" % f)
        inp = oiio.ImageInput.open(src)
        spec = inp.spec()
        px = inp.read_image(0, 0, 0, spec.nchannels, "float")
        inp.close()
        ospec = oiio.ImageSpec(spec.width, spec.height, spec.nchannels, "half")
        ospec.channelnames = spec.channelnames
        ospec.attribute("compression", "zip")
        o = oiio.ImageOutput.create(os.path.join(out, "p.%04d.exr" % f))
        o.open(os.path.join(out, "p.%04d.exr" % f), ospec)
        o.write_image(px)
        o.close()
    return time.perf_counter() - t0


def samatte_run(pattern, frames, out, foreground):
    t0 = time.perf_counter()
    with FrameSource(pattern, frames, colour=ColourTransform()) as src:
        w = MatteWriter(os.path.join(out, "m.####.exr"), src.info, metadata={"job": "bench", "job_hash": "x"})
        for f in frames:
            plate = src.get(f)
            a = plate.display[:, :, 1]  # a no-op "matte": any (H, W) float image
            mf = MatteFrame(f, {"obj": a}, a, foreground=plate.linear if foreground else None)
            w.write(mf, quality_map=False)
    return time.perf_counter() - t0


def source_only(pattern, frames):
    t0 = time.perf_counter()
    with FrameSource(pattern, frames, colour=ColourTransform()) as src:
        for f in frames:
            src.get(f)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--foreground", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="samatte_bench_io_")
    try:
        pattern = make_plates(tmp, args.frames, args.width, args.height)
        frames = list(range(1001, 1001 + args.frames))
        n = len(frames)
        # warm the page cache and OIIO/OCIO once
        plain(pattern, frames[:2], os.path.join(tmp, "warm"))
        tp = plain(pattern, frames, os.path.join(tmp, "plain"))
        ts = samatte_run(pattern, frames, os.path.join(tmp, "sam"), args.foreground)
        tp2 = plain(pattern, frames, os.path.join(tmp, "plain2"))
        ts2 = samatte_run(pattern, frames, os.path.join(tmp, "sam2"), args.foreground)
        tr = source_only(pattern, frames)
        ct = ColourTransform()
        x = np.random.default_rng(1).random((args.height, args.width, 3), dtype=np.float32)
        t0 = time.perf_counter()
        for _ in range(5):
            ct.to_display(x)
        tc = (time.perf_counter() - t0) / 5
        tp, ts = min(tp, tp2), min(ts, ts2)
        print("frames: %d of %dx%d half RGBA zip; cpus: %d" % (n, args.width, args.height, os.cpu_count()))
        print("plain OIIO read+write : %.1f ms/frame" % (1e3 * tp / n))
        print("samatte source+writer : %.1f ms/frame  (foreground=%s)" % (1e3 * ts / n, args.foreground))
        print("FrameSource alone     : %.1f ms/frame" % (1e3 * tr / n))
        print("OCIO to_display alone : %.1f ms/frame" % (1e3 * tc))
        print("ratio samatte/plain   : %.2f" % (ts / tp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
