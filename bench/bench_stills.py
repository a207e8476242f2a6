"""Still-image benchmark of single-frame alpha refinement on alphamatting.com (GT01-GT18).

Coarse masks are made from the GT the ways a tracker's or a roto artist's mask arrives:

- ``ds8`` / ``ds32``: GT > 0.5, shrunk by 8 / 32 with INTER_AREA, grown back with INTER_LINEAR,
  thresholded at 0.5;
- ``polygon``: outer contours of GT > 0.5 (RETR_EXTERNAL), approxPolyDP with epsilon 0.005 x the
  contour perimeter, filled.

For every protocol it reports mean MAD, MSE, Grad, Conn (samatte.metrics, RVM conventions) of
(a) the mask used as alpha, (b) pymatting closed-form with a fixed band trimap around the mask
(widths 4, 8, 16, 32; the best per protocol by MAD, chosen with hindsight), (c) ours
(``samatte.matte.refine.refine_alpha``), and ours/mask ratios.

Commands (from the repo root, venv active):

    python bench/bench_stills.py                       # full table (slow: ~15-30 min on 2 cores)
    python bench/bench_stills.py --images GT01,GT04 --no-baseline   # quick subset, ours only
    python bench/bench_stills.py --speed               # s per 1920x1080 frame (GT04 hair, GT05)
    python bench/bench_stills.py --cache /tmp/cf_cache.json   # reuse baseline scores across runs

Data: <repo>/../shared/eval/alphamatting (never copied into the repo).
"""
import argparse
import os
import sys
import time

import numpy as np
import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "core"))

from samatte import metrics as M  # noqa: E402
from samatte.matte.refine import refine_alpha  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "eval", "alphamatting")
PROTOCOLS = ("ds8", "ds32", "polygon")
BANDS = (4, 8, 16, 32)
METRICS = ("MAD", "MSE", "Grad", "Conn")


def load(name):
    img = cv2.imread(os.path.join(DATA, "input", name + ".png"), cv2.IMREAD_COLOR)[..., ::-1]
    gt = cv2.imread(os.path.join(DATA, "gt", name + ".png"), cv2.IMREAD_GRAYSCALE)
    return np.ascontiguousarray(img, np.float32) / 255.0, gt.astype(np.float32) / 255.0


def make_mask(gt, protocol):
    hard = (gt > 0.5).astype(np.float32)
    H, W = gt.shape
    if protocol in ("ds8", "ds32"):
        f = 8 if protocol == "ds8" else 32
        small = cv2.resize(hard, (max(1, W // f), max(1, H // f)), interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
        return (back >= 0.5).astype(np.float32)
    if protocol == "polygon":
        cs, _ = cv2.findContours(hard.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        out = np.zeros((H, W), np.uint8)
        polys = [cv2.approxPolyDP(c, 0.005 * cv2.arcLength(c, True), True) for c in cs]
        cv2.fillPoly(out, polys, 1)
        return out.astype(np.float32)
    raise ValueError(protocol)


def fixed_band_cf(img, mask, width):
    import pymatting
    hard = mask >= 0.5
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    fg = cv2.erode(hard.astype(np.uint8), k) > 0
    grown = cv2.dilate(hard.astype(np.uint8), k) > 0
    tri = np.where(fg, 1.0, 0.0)
    tri[grown & ~fg] = 0.5
    return pymatting.estimate_alpha_cf(img.astype(np.float64), tri)


def scores(a, g):
    return np.array([M.mad(a, g), M.mse(a, g), M.grad(a, g), M.conn(a, g)])


def _load_cache(path):
    import json
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def _save_cache(path, cache):
    import json
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, path)


def run_table(names, *, baseline=True, quality="default", cache_path=None, ours=True, mask_kind="auto"):
    res = {p: {"mask": [], "ours": [], "time": []} for p in PROTOCOLS}
    for p in PROTOCOLS:
        for b in BANDS:
            res[p]["cf%d" % b] = []
    cache = _load_cache(cache_path)
    for n in names:
        img, gt = load(n)
        for p in PROTOCOLS:
            m = make_mask(gt, p)
            res[p]["mask"].append(scores(m, gt))
            line = "%s %-7s mask MAD %6.1f" % (n, p, res[p]["mask"][-1][0])
            if ours:
                t = time.time()
                a = refine_alpha(img, m, quality=quality, mask=mask_kind)
                res[p]["time"].append(time.time() - t)
                res[p]["ours"].append(scores(a, gt))
                line += "  ours MAD %6.1f Grad %6.1f Conn %6.1f (%.1fs)" % (
                    *res[p]["ours"][-1][[0, 2, 3]], res[p]["time"][-1])
            if baseline:
                for b in BANDS:
                    key = "%s/%s/%d" % (n, p, b)
                    if key not in cache:
                        cache[key] = scores(fixed_band_cf(img, m, b), gt).tolist()
                        _save_cache(cache_path, cache)
                    res[p]["cf%d" % b].append(np.array(cache[key]))
                line += "  cf " + " ".join("%d:%.1f" % (b, res[p]["cf%d" % b][-1][0]) for b in BANDS)
            print(line, flush=True)
    print()
    print("alphamatting GT %s, %d images, quality=%s" % (",".join(names) if len(names) < 18 else "01-18",
                                                        len(names), quality))
    hdr = "%-8s %-16s" % ("protocol", "method") + "".join("%9s" % m for m in METRICS) + "   MAD/mask"
    print(hdr)
    print("-" * len(hdr))
    for p in PROTOCOLS:
        mask = np.mean(res[p]["mask"], 0)
        rows = [("mask as alpha", mask)]
        if baseline:
            best = min(BANDS, key=lambda b: np.mean(res[p]["cf%d" % b], 0)[0])
            rows.append(("cf band %d (best)" % best, np.mean(res[p]["cf%d" % best], 0)))
        if not ours:
            for label, v in rows:
                print("%-8s %-16s" % (p, label) + "".join("%9.2f" % x for x in v) + "   %.3f" % (v[0] / mask[0]))
            continue
        ours_m = np.mean(res[p]["ours"], 0)
        rows.append(("ours", ours_m))
        for label, v in rows:
            print("%-8s %-16s" % (p, label) + "".join("%9.2f" % x for x in v) + "   %.3f" % (v[0] / mask[0]))
        print("%-8s ours/mask ratios: MAD %.3f MSE %.3f Grad %.3f Conn %.3f; mean time %.2fs" % (
            p, *(ours_m / mask), np.mean(res[p]["time"])))
    return res


def run_speed(qualities=("draft", "default", "high"), names=("GT04", "GT05"), repeats=3):
    for name in names:
        _speed_one(name, qualities, repeats)


def _speed_one(name, qualities, repeats):
    img, gt = load(name)
    m = make_mask(gt, "ds8")
    img = cv2.resize(img, (1920, 1080), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    m = (cv2.resize(m, (1920, 1080), interpolation=cv2.INTER_LINEAR) >= 0.5).astype(np.float32)
    refine_alpha(img[:64, :64], m[:64, :64], mask="auto")  # warm up lazy imports
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = float("nan")
    print("speed: %s upscaled to 1920x1080 with its ds8 mask, load average %.2f on %d cores"
          % (name, load1, os.cpu_count() or 0))
    for q in qualities:
        ts = []
        for _ in range(repeats):
            t = time.time()
            refine_alpha(img, m, quality=q, mask="auto")  # what the matte stage does with a mask of unknown kind
            ts.append(time.time() - t)
        print("  quality=%-8s %.2f s/frame (best of %d: %s)" % (q, min(ts), repeats,
                                                             ", ".join("%.2f" % t for t in ts)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=None, help="comma-separated subset, e.g. GT01,GT02")
    ap.add_argument("--no-baseline", action="store_true", help="skip the fixed-band closed-form baseline")
    ap.add_argument("--quality", default="default")
    ap.add_argument("--masks", default="auto", choices=("auto", "rough", "tight"),
                    help="what refine_alpha is told the masks are (default auto: it tells from the image)")
    ap.add_argument("--speed", action="store_true", help="time per 1920x1080 frame instead of the table")
    ap.add_argument("--cache", default=None,
                    help="JSON file caching the fixed-band baseline scores (they do not depend on ours)")
    ap.add_argument("--baseline-only", action="store_true", help="only the mask and fixed-band rows")
    args = ap.parse_args(argv)
    if not os.path.isdir(DATA):
        print("no data at %s" % DATA)
        return 1
    if args.speed:
        run_speed()
        return 0
    names = args.images.split(",") if args.images else ["GT%02d" % i for i in range(1, 19)]
    run_table(names, baseline=not args.no_baseline, quality=args.quality, cache_path=args.cache,
              ours=not args.baseline_only, mask_kind=args.masks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
