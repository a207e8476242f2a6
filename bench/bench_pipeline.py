"""Issue 2 benchmark: pipeline overhead and flat memory.

Command (from the repo root, in the installer's venv)::

    .venv/bin/python bench/bench_pipeline.py            # full: 100 frames 2048x1080, RSS 50 vs 400
    .venv/bin/python bench/bench_pipeline.py --quick    # 20 frames, RSS 20 vs 80 (smoke run)
    (--workdir DIR keeps the generated shot for later runs; --skip-memory runs the speed part only)

1. Speed: a 100-frame 2048x1080 half RGBA EXR shot through ``samatte.pipeline`` with a no-op backend
   pair (a tracker that hands each frame the keyframe mask of a frame-filling object, a matter that
   writes it as alpha and the plate x alpha as premultiplied foreground: R, G, B, A and the object's
   layer, half, zip), against plain OpenImageIO read (into float32, as any processing needs) + write
   of the same frames with the same channels (R, G, B, A and a copy of A as the object's layer; half,
   zip) in the same run; it also prints the ratio against a read+write that never leaves half float,
   for reference. Both write
   the same data, so the ratio is the pipeline's own overhead (colour conversion, read-ahead,
   tracking/matting hand-over, atomic writes, metadata).
   Target: pipeline / plain <= 1.15.
2. Memory: peak RSS of the same pipeline over 50 and over 400 frames, each in a fresh subprocess
   (frames past the first 100 are symlinks to them: every read is real, disk stays small).
   Target: RSS(400) / RSS(50) <= 1.1.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_shot(folder, n_unique, n_total, width, height):
    import OpenImageIO as oiio
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(xx / 37.0), 0.5 + 0.4 * np.cos(yy / 23.0),
                     0.3 + 0.2 * np.sin((xx + yy) / 51.0)], -1).astype(np.float32)
    for i in range(n_unique):
        f = 1001 + i
        path = os.path.join(folder, "plate.%04d.exr" % f)
        if os.path.exists(path):
            continue
        img = np.empty((height, width, 4), np.float32)
        img[..., :3] = base * (1.0 + 0.01 * i) + rng.normal(0, 0.02, (height, width, 3)).astype(np.float32)
        img[..., 3] = 1.0
        spec = oiio.ImageSpec(width, height, 4, oiio.HALF)
        spec.channelnames = ("R", "G", "B", "A")
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(path + ".tmp.exr")
        out.open(path + ".tmp.exr", spec)
        out.write_image(img)
        out.close()
        os.replace(path + ".tmp.exr", path)
    for i in range(n_unique, n_total):
        path = os.path.join(folder, "plate.%04d.exr" % (1001 + i))
        if not os.path.lexists(path):
            os.symlink("plate.%04d.exr" % (1001 + i % n_unique), path)


def plain_oiio(folder, out_folder, frames, fmt="float"):
    import OpenImageIO as oiio
    os.makedirs(out_folder, exist_ok=True)
    t = time.perf_counter()
    for f in frames:
        inp = oiio.ImageInput.open(os.path.join(folder, "plate.%04d.exr" % f))
        spec = inp.spec()
        px = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT if fmt == "float" else oiio.HALF)
        inp.close()
        # the same channels the pipeline writes: R, G, B, A and the object's layer
        px = np.concatenate([px, px[..., 3:4]], axis=-1)
        ospec = oiio.ImageSpec(spec.width, spec.height, spec.nchannels + 1, oiio.HALF)
        ospec.channelnames = tuple(spec.channelnames) + ("subject.A",)
        ospec.attribute("compression", "zip")
        dst = os.path.join(out_folder, "plain.%04d.exr" % f)
        out = oiio.ImageOutput.create(dst)
        out.open(dst, ospec)
        out.write_image(px)
        out.close()
    return time.perf_counter() - t


class NoopTracker:
    """Each frame gets the keyframe's mask: no motion model, no cost beyond a reference."""
    name = "noop"

    def track(self, source, objects, frames, *, cancel=None):
        from samatte.progress import Progress
        from samatte.stages import ObjectTrack, TrackFrame
        masks = {}
        for o in objects:
            kf = sorted(o.prompts)[0]
            masks[o.name] = o.prompts[kf][0]["mask_array"]
        source.prefetch(list(frames))
        prev = None
        for i, f in enumerate(frames):
            yield Progress("track", f, i + 1, len(frames))
            yield TrackFrame(frame=f, objects={n: ObjectTrack(mask=m) for n, m in masks.items()}, ref=prev)
            prev = f

    def close(self):
        pass


class NoopMatter:
    name = "noop"

    def process(self, plate, track):
        from samatte.stages import MatteFrame
        alphas = {n: t.mask.astype(np.float32) for n, t in track.objects.items()}
        merged = np.maximum.reduce(list(alphas.values()))
        # premultiplied foreground = plate colour x alpha, so the output carries R,G,B,A + a layer:
        # at least as many channels as the plain RGBA read+write it is compared with
        return MatteFrame(frame=track.frame, alphas=alphas, alpha=merged,
                          foreground=plate.linear * merged[..., None])

    def close(self):
        pass


def run_pipeline(folder, out_folder, frames, width, height):
    import samatte.jobspec as js
    from samatte.pipeline import run
    job = js.new_job(os.path.join(folder, "plate.####.exr"), os.path.join(out_folder, "matte.####.exr"),
                     frames="%d-%d" % (frames[0], frames[-1]), colourspace="Linear Rec.709 (sRGB)",
                     foreground=True, quality_map=False, overwrite=True)
    # the object covers the frame, so the output carries the same data as the plain run's
    js.add_object(job, "subject", [js.polygon_prompt(frames[0], [(0, 0), (width, 0), (width, height),
                                                                  (0, height)])])
    t = time.perf_counter()
    res = run(job, tracker=NoopTracker(), matter=NoopMatter())
    dt = time.perf_counter() - t
    assert len(res["written"]) == len(frames)
    return dt


def child(args):
    frames = list(range(1001, 1001 + args.child_frames))
    dt = run_pipeline(args.shot, args.out, frames, args.width, args.height)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"frames": len(frames), "seconds": dt, "peak_rss_mb": rss_kb / 1024.0}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", default=None, help="keep the shot here (reused by later runs)")
    ap.add_argument("--skip-memory", action="store_true", help="only the speed comparison")
    ap.add_argument("--child-frames", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--shot", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()
    if args.child_frames:
        return child(args)
    n_speed, n_small, n_big = (20, 20, 80) if args.quick else (100, 50, 400)
    work = args.workdir or tempfile.mkdtemp(prefix="samatte_bench_")
    shot = os.path.join(work, "shot")
    t = time.perf_counter()
    make_shot(shot, min(100, n_big), n_big, args.width, args.height)
    print("shot: %s (%dx%d half RGBA zip), made in %.1f s" % (shot, args.width, args.height, time.perf_counter() - t))
    frames = list(range(1001, 1001 + n_speed))
    # warm the OS file cache and the imports once, then measure both in the same run, interleaved
    plain_oiio(shot, os.path.join(work, "plain"), frames[:3])
    run_pipeline(shot, os.path.join(work, "pipe"), frames[:3], args.width, args.height)
    t_plain = plain_oiio(shot, os.path.join(work, "plain"), frames)
    t_pipe = run_pipeline(shot, os.path.join(work, "pipe"), frames, args.width, args.height)
    t_plain2 = plain_oiio(shot, os.path.join(work, "plain"), frames)
    t_plain = min(t_plain, t_plain2)
    t_half = plain_oiio(shot, os.path.join(work, "plain"), frames, fmt="half")
    print("speed: %d frames  plain OIIO read+write %.2f s (%.0f ms/frame)  pipeline %.2f s (%.0f ms/frame)"
          "  ratio %.3f (target <= 1.15)" % (len(frames), t_plain, 1e3 * t_plain / len(frames), t_pipe,
                                             1e3 * t_pipe / len(frames), t_pipe / t_plain))
    print("  (plain read+write kept in half, which no processing can use: %.2f s (%.0f ms/frame), pipeline "
          "ratio %.3f)" % (t_half, 1e3 * t_half / len(frames), t_pipe / t_half))
    if args.skip_memory:
        return
    rss = {}
    for n in (n_small, n_big):
        cmd = [sys.executable, os.path.abspath(__file__), "--child-frames", str(n), "--shot", shot,
               "--out", os.path.join(work, "rss%d" % n), "--width", str(args.width), "--height", str(args.height)]
        outp = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rss[n] = json.loads(outp)
        print("memory: %d frames  peak RSS %.0f MB  (%.1f s)" % (n, rss[n]["peak_rss_mb"], rss[n]["seconds"]))
    print("memory ratio RSS(%d)/RSS(%d) = %.3f (target <= 1.1)"
          % (n_big, n_small, rss[n_big]["peak_rss_mb"] / rss[n_small]["peak_rss_mb"]))


if __name__ == "__main__":
    main()
