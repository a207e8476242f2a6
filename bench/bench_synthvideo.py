"""Video matting benchmark on ../shared/eval/synthvideo (3 clips x 12 frames, exact alpha).

Command (from the repository root, venv active)::

    python bench/bench_synthvideo.py                 # table + speed at 854x480 and 1920x1080
    python bench/bench_synthvideo.py --no-speed      # table only
    python bench/bench_synthvideo.py --clips GT09_cows --methods ours,ours-notemporal
    python bench/bench_synthvideo.py --no-speed --no-broken --methods mask,cf6,ours,cli   # product path
    python bench/bench_synthvideo.py --methods ours --option space=display             # a matte option

Folds: leave-one-clip-out -- every figure is printed per clip, and each method's MAD / dtSSD as a
ratio to the per-frame closed-form (cf6) per clip.

For every frame the coarse mask is made from the GT alpha: threshold 0.5, shrink to 256 px on the
long side (INTER_AREA), grow back (INTER_LINEAR), threshold 0.5 (what a tracker at low resolution
gives). The display image is the sRGB OETF of the clipped linear plate. Methods, in one run:

- ``mask``: the coarse mask as alpha;
- ``cf6``: closed-form matting per frame (pymatting ``estimate_alpha_cf``, default parameters) on the
  clipped *linear* plate with a +-6 px trimap band (unknown = dilate(mask, 6) - erode(mask, 6), 13x13
  elliptical kernel) -- this reproduces the issue's figures (MAD 1.49, dtSSD 2.39);
- ``cf6+temporal`` (ablation): this stage's temporal fusion around the cf6
  per-frame estimate instead of refine_alpha;
- ``ours-notemporal``: ``get_matter("refine")`` with temporal fusion off (per-frame refinement only);
- ``ours``: ``get_matter("refine")`` at default settings (refine + temporal + foreground + quality),
  frames in order, each TrackFrame's ``ref`` = the previous frame;
- ``cli`` (optional, ``--methods ...,cli``): ``samatte refine`` end to end on the EXR plate with the
  masks written as PNG, the mattes read back from its half-float EXRs.

Figures: MAD (x1e3, mean over all frames) and dtSSD (x1e2, frame 0 counted as 0, as in
shared/eval/README.md) per clip and their mean over clips; how well the quality map and per-frame
score point at the real errors; whether the per-frame score picks out frames whose mask was broken
on purpose (a bite out, a blob joined, a slip sideways) and whether the frame after one is spared;
then the Matter's ms per frame (whole stage, default quality) at
854x480 and at 1920x1080 (a clip upscaled with INTER_LINEAR), mean of frames 2..n (frame 1 has no
temporal work), with the split refine / temporal / foreground / quality.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EVAL = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "eval", "synthvideo"))


def read_exr(path):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    if buf.has_error:
        raise RuntimeError(buf.geterror())
    return buf.get_pixels(oiio.FLOAT)


def srgb_oetf(lin):
    x = np.clip(lin, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def coarse_mask(gt):
    h, w = gt.shape
    s = 256.0 / max(h, w)
    m = (gt >= 0.5).astype(np.float32)
    small = cv2.resize(m, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5


def load_clip(clip):
    d = os.path.join(EVAL, clip)
    names = sorted(os.listdir(os.path.join(d, "rgb")))
    rgb = [read_exr(os.path.join(d, "rgb", n))[..., :3] for n in names]
    gt = [read_exr(os.path.join(d, "alpha", n))[..., 0] for n in names]
    return rgb, gt


def closed_form(image, mask, band=6):
    from pymatting import estimate_alpha_cf
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    m = mask.astype(np.uint8)
    dil = cv2.dilate(m, k).astype(bool)
    ero = cv2.erode(m, k).astype(bool)
    trimap = np.where(ero, 1.0, np.where(dil, 0.5, 0.0))
    a = estimate_alpha_cf(image.astype(np.float64), trimap)
    return np.clip(a, 0, 1).astype(np.float32)


def run_matter(matter, rgb, masks, frame0=1001):
    from samatte.stages import ObjectTrack, Plate, PlateInfo, TrackFrame, Window
    h, w = masks[0].shape
    info = PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h))
    out, times, cpu = [], [], []
    for i, (lin, m) in enumerate(zip(rgb, masks)):
        f = frame0 + i
        plate = Plate(frame=f, linear=lin, display=srgb_oetf(lin), info=info)
        tf = TrackFrame(frame=f, objects={"obj": ObjectTrack(mask=m)}, ref=(f - 1) if i else None)
        t, c = time.perf_counter(), time.process_time()
        mf = matter.process(plate, tf)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        out.append(mf)
    run_matter.cpu = cpu
    return out, times


def via_cli(clip, masks, options=None, colourspace=None, in_process=False):
    """``samatte refine`` end to end (EXR plate and PNG masks in, EXR mattes out, default settings):
    the merged alpha ``A`` of every frame, read back from the half-float EXRs. With ``options`` (matte
    options) or ``in_process`` (``--refine`` overrides, which live in this process), the job the CLI
    builds is run in this process, with the options added. ``colourspace``: the plate's, as
    ``--colourspace`` names it (None: none named, the config's scene_linear)."""
    import subprocess
    import tempfile
    import OpenImageIO as oiio
    with tempfile.TemporaryDirectory(prefix="samatte_bench_") as tmp:
        for i, m in enumerate(masks):
            cv2.imwrite(os.path.join(tmp, "mask.%05d.png" % i), (m * 255).astype(np.uint8))
        out = os.path.join(tmp, "out", "matte.#####.exr")
        plate = os.path.join(EVAL, clip, "rgb", "#####.exr")
        frames = "0-%d" % (len(masks) - 1)
        if options or in_process:
            import contextlib
            import io
            from samatte import cli
            from samatte.jobspec import add_object, new_job, validate
            job = new_job(plate, out, frames=frames, tracker="auto", matte="auto", colourspace=colourspace)
            add_object(job, "object", masks={"path": os.path.join(tmp, "mask.#####.png")})
            job["matte"]["options"].update(dict({"masks": "auto"}, **(options or {})))
            with contextlib.redirect_stdout(io.StringIO()):
                rc, _ = cli.execute_job(validate(job), quiet=True)
            if rc:
                raise SystemExit("samatte refine failed (%d)" % rc)
        else:
            cmd = [sys.executable, "-m", "samatte", "refine", "--plate", plate,
                   "--masks", os.path.join(tmp, "mask.#####.png"), "--out", out, "--frames", frames]
            if colourspace:
                cmd += ["--colourspace", colourspace]
            env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "core") + os.pathsep
                       + os.environ.get("PYTHONPATH", ""))
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode:
                raise SystemExit("samatte refine failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
        alphas = []
        for i in range(len(masks)):
            buf = oiio.ImageBuf(out.replace("#####", "%05d" % i))
            alphas.append(buf.get_pixels(oiio.FLOAT)[..., list(buf.spec().channelnames).index("A")])
        return alphas


def quality_check(mfs, gt):
    """How well the quality map and per-frame score point at real errors (needs ground truth)."""
    hi, lo, scores, mads = [], [], [], []
    for mf, g in zip(mfs, gt):
        err = np.abs(mf.alpha - g)
        band = ((mf.alpha > 0.004) & (mf.alpha < 0.996)) | ((g > 0.004) & (g < 0.996))
        if mf.quality is not None:
            if (err > 0.2).any():
                hi.append(float(mf.quality[err > 0.2].mean()))
            if (band & (err < 0.05)).any():
                lo.append(float(mf.quality[band & (err < 0.05)].mean()))
        scores.append(mf.score)
        mads.append(float(err.mean()))
    rs = np.argsort(np.argsort(scores)).astype(float)
    rm = np.argsort(np.argsort(mads)).astype(float)
    r = float(np.corrcoef(rs, rm)[0, 1]) if np.std(rs) > 0 and np.std(rm) > 0 else 0.0
    return float(np.mean(hi)) if hi else 0.0, float(np.mean(lo)) if lo else 0.0, r


def corrupt_mask(m, kind):
    """A broken tracker mask: ``chunk`` (a bite out of the top of the object), ``blob`` (a disc of
    background joined on the right), ``shift`` (the mask slipped sideways by a sixth of its size)."""
    m = m.copy()
    H, W = m.shape
    ys, xs = np.nonzero(m)
    cy, cx = int(ys.mean()), int(xs.mean())
    size = int(np.sqrt(m.sum()))
    yy, xx = np.mgrid[:H, :W]
    if kind == "chunk":
        m &= ~((yy - ys.min()) ** 2 + (xx - cx) ** 2 < (0.45 * size) ** 2)
    elif kind == "blob":
        bx = min(W - 1, xs.max() + size // 4)
        m |= (yy - cy) ** 2 + (xx - bx) ** 2 < (0.3 * size) ** 2
    elif kind == "shift":
        m = np.roll(m, size // 6, axis=1)
    return m


BROKEN = {3: "chunk", 7: "blob", 10: "shift"}


def broken_frames(rgb, gt):
    """Three frames of the clip get a broken mask (:data:`BROKEN`); returns (hits: how many of the three
    lowest per-frame scores are the broken frames, lowest score of a good frame, highest of a broken
    one, mean MAD of the frames right after a broken one, mean MAD of the other good frames)."""
    from samatte.matte import get_matter
    from samatte.metrics import mad
    masks = [coarse_mask(g) for g in gt]
    for i, k in BROKEN.items():
        masks[i] = corrupt_mask(masks[i], k)
    mfs, _ = run_matter(get_matter("refine"), rgb, masks)
    scores = np.array([mf.score for mf in mfs])
    mads = np.array([mad(mf.alpha, g) for mf, g in zip(mfs, gt)])
    bad = np.zeros(len(gt), bool)
    bad[list(BROKEN)] = True
    after = np.zeros(len(gt), bool)
    after[[i + 1 for i in BROKEN if i + 1 < len(gt) and not bad[i + 1]]] = True
    hits = len(set(np.argsort(scores)[:len(BROKEN)].tolist()) & set(BROKEN))
    return hits, float(scores[~bad].min()), float(scores[bad].max()), float(mads[after].mean()), \
        float(mads[~bad & ~after].mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    ap.add_argument("--methods", default="mask,cf6,cf6+temporal,ours-notemporal,ours,ours-tight")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-broken", action="store_true", help="skip the broken-mask check of the score")
    ap.add_argument("--speed-frames", type=int, default=4)
    ap.add_argument("--option", action="append", default=[], metavar="K=V",
                    help="matte option for ours* and cli (repeatable), e.g. space=display")
    sys.path.insert(0, HERE)
    from bench_stills import add_colourspace_arg, add_override_args, apply_overrides, parse_kv
    add_override_args(ap)     # (these clips' masks are tight: --tight reaches base_frac, leak, ...)
    add_colourspace_arg(ap, "clips' (cli)")
    args = ap.parse_args(argv)
    overridden = apply_overrides(args)
    if not os.path.isdir(EVAL):
        print("synthvideo not found at %s" % EVAL)
        return 1
    from samatte.matte import get_matter
    from samatte.matte.stage import RefineMatter
    from samatte.metrics import dtssd, mad

    extra = parse_kv(args.option)
    clips = args.clips.split(",") if args.clips else json.load(open(os.path.join(EVAL, "clips.json")))["clips"]
    methods = args.methods.split(",")
    table = {m: {} for m in methods}
    cache = {}

    def loaded(clip):   # each clip is read from disk once
        if clip not in cache:
            cache[clip] = load_clip(clip)
        return cache[clip]

    qual = []
    for clip in clips:
        rgb, gt = loaded(clip)
        masks = [coarse_mask(g) for g in gt]
        for meth in methods:
            t = time.perf_counter()
            if meth == "mask":
                alphas = [m.astype(np.float32) for m in masks]
            elif meth == "cf6":
                alphas = [closed_form(np.clip(l, 0.0, 1.0), m) for l, m in zip(rgb, masks)]
            elif meth == "cf6+temporal":
                # ablation: this stage's temporal fusion around the cf6 per-frame estimate
                cf = [closed_form(np.clip(l, 0.0, 1.0), m) for l, m in zip(rgb, masks)]
                it = iter(cf)
                matter = RefineMatter(refiner=lambda image, coarse, **kw: next(it), foreground=False,
                                      quality_map=False)
                alphas = [mf.alpha for mf in run_matter(matter, rgb, masks)[0]]
            elif meth in ("ours", "ours-notemporal", "ours-tight"):
                # "ours": the masks arrive without logits or an edge hint, so matte option masks="auto"
                # lets refine_alpha tell their kind per frame; "ours-tight": masks="tight", what a
                # tracker's (SAM2's) masks get
                opts = dict(extra, temporal=meth != "ours-notemporal")
                if meth == "ours-tight":
                    opts["masks"] = "tight"
                mfs, _ = run_matter(get_matter("refine", options=opts), rgb, masks)
                alphas = [mf.alpha for mf in mfs]
                if meth == "ours-tight":
                    qual.append(quality_check(mfs, gt))
            elif meth == "cli":
                alphas = via_cli(clip, masks, options=extra or None, colourspace=args.colourspace,
                                 in_process=bool(overridden))
            else:
                raise SystemExit("unknown method %s" % meth)
            el = time.perf_counter() - t
            table[meth][clip] = (float(np.mean([mad(a, g) for a, g in zip(alphas, gt)])), dtssd(alphas, gt), el)
            print("  %-18s %-22s MAD %6.3f  dtSSD %6.3f  (%.1fs)" % (meth, clip, *table[meth][clip]), flush=True)

    print("\n%-18s" % "method" + "".join("%24s" % c[:22] for c in clips) + "%16s" % "mean")
    print("%-18s" % "" + "".join("%24s" % "MAD / dtSSD" for _ in clips) + "%16s" % "MAD / dtSSD")
    for meth in methods:
        row = [table[meth][c] for c in clips]
        print("%-18s" % meth + "".join("%15.2f / %5.2f" % (r[0], r[1]) for r in row)
              + "%9.2f / %5.2f" % (np.mean([r[0] for r in row]), np.mean([r[1] for r in row])))

    if "cf6" in table:
        # leave-one-clip-out: each clip is a fold nothing was tuned on when the others were
        print("\nratio to the per-frame closed-form (cf6), per clip (leave-one-clip-out folds), MAD / dtSSD:")
        for meth in methods:
            if meth in ("cf6", "mask"):
                continue
            rs = [(table[meth][c][0] / table["cf6"][c][0], table[meth][c][1] / max(table["cf6"][c][1], 1e-9))
                  for c in clips]
            print("  %-18s" % meth + "  ".join("%s %.3f / %.3f" % (c[:4], r[0], r[1]) for c, r in zip(clips, rs))
                  + "   mean %.3f / %.3f" % (np.mean([r[0] for r in rs]), np.mean([r[1] for r in rs])))

    if qual:
        print("\nquality map vs truth (ours): mean doubt where |alpha - gt| > 0.2: %.3f, where < 0.05 on the "
              "edge band: %.3f; per-frame score vs MAD Spearman r = %.2f (per clip: %s)" % (
                  np.mean([q[0] for q in qual]), np.mean([q[1] for q in qual]), np.mean([q[2] for q in qual]),
                  ", ".join("%.2f" % q[2] for q in qual)))

    if not args.no_broken:
        print("\nbroken masks on frames %s (%s): per-frame score and the frame after" % (
            ", ".join(str(i) for i in BROKEN), ", ".join(BROKEN.values())))
        for clip in clips:
            rgb, gt = loaded(clip)
            hits, good_min, bad_max, mad_after, mad_other = broken_frames(rgb, gt)
            print("  %-22s %d/3 broken frames are the 3 lowest scores; good frames >= %.2f, broken <= %.2f; "
                  "MAD of the frame after a broken one %.2f (other good frames %.2f)" % (
                      clip, hits, good_min, bad_max, mad_after, mad_other), flush=True)

    if not args.no_speed:
        rgb, gt = loaded(clips[0])
        n = args.speed_frames
        for label, size in (("854x480", None), ("1920x1080", (1920, 1080))):
            r = [cv2.resize(x, size, interpolation=cv2.INTER_LINEAR) if size else x for x in rgb[:n]]
            g = [cv2.resize(x, size, interpolation=cv2.INTER_LINEAR) if size else x for x in gt[:n]]
            masks = [coarse_mask(x) for x in g]
            mfs, times = run_matter(get_matter("refine"), r, masks)
            parts = {k: np.mean([mf.stats.get("ms." + k, 0.0) for mf in mfs[1:]])
                     for k in ("frame_alpha", "temporal", "foreground", "quality")}
            print("speed %-10s %7.0f ms/frame wall, %7.0f ms CPU (mean of frames 2..%d; wall split: %s)" % (
                label, 1e3 * np.mean(times[1:]), 1e3 * np.mean(run_matter.cpu[1:]), n,
                ", ".join("%s %.0f" % kv for kv in parts.items())), flush=True)
        try:
            print("load average while measuring: %.1f on %d cores" % (os.getloadavg()[0], os.cpu_count()))
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
