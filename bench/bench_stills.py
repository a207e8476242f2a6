"""Still-image benchmark of single-frame alpha refinement on alphamatting.com (GT01-GT18).

Coarse masks are made from the GT the ways a tracker's or a roto artist's mask arrives:

- ``ds8`` / ``ds32``: GT > 0.5, shrunk by 8 / 32 with INTER_AREA, grown back with INTER_LINEAR,
  thresholded at 0.5;
- ``polygon``: outer contours of GT > 0.5 (RETR_EXTERNAL), approxPolyDP with epsilon 0.005 x the
  contour perimeter, filled;
- ``tracker`` (not in the default set; ``--protocols tracker``): what a tracker at low resolution
  gives, bench_synthvideo.coarse_mask: GT >= 0.5 shrunk to 256 px on the long side (INTER_AREA), grown
  back (INTER_LINEAR), thresholded at 0.5 -- a tight mask of a hair or fur still, to check the
  ``tight`` settings (chosen on three synthvideo clips) on eighteen objects.

For every protocol it reports mean MAD, MSE, Grad, Conn (samatte.metrics, RVM conventions) of
(a) the mask used as alpha, (b) pymatting closed-form with a fixed band trimap around the mask
(widths 4, 8, 16, 32; the best per protocol by MAD, chosen with hindsight), (c) ours
(``samatte.matte.refine.refine_alpha``), and ours/mask ratios.

Commands (from the repo root, venv active):

    python bench/bench_stills.py                       # full table (slow: ~15-30 min on 2 cores)
    python bench/bench_stills.py --images GT01,GT04 --no-baseline   # quick subset, ours only
    python bench/bench_stills.py --speed               # s per 1920x1080 frame (GT04 hair, GT05)
    python bench/bench_stills.py --speed --protocols tracker --images GT04,GT05,GT09   # tracker masks
    python bench/bench_stills.py --cache /tmp/cf_cache.json   # reuse baseline scores across runs
    python bench/bench_stills.py --paths product,inproc --no-baseline  # both paths (default: product)
    python bench/bench_stills.py --paths product --option space=display  # a matte option, product path

Paths (``--paths``, comma-separated; figures per path, per fold GT01-09 / GT10-18 and overall):

- ``product`` (default): what a compositor runs. Each image is decoded from sRGB to linear light and
  written as a half-float EXR plate (as a host hands a plate over), each mask as an 8-bit PNG, and
  the job ``samatte refine --plate ... --masks ... --out ...`` builds is run (the CLI's own job, built
  by the same calls, run in this process; ``--option k=v`` adds matte options); the merged ``A`` is
  read back from the written half-float EXR.
- ``inproc``: ``refine_alpha`` on the 8-bit sRGB image in memory (the older figures).

Per image: MAD ratio ours / mask, IoU of alpha >= 0.5 against GT >= 0.5 for ours and the mask; the
worst three ratios are named, and every image worse than its mask (MAD), or losing more than 0.01
IoU, is listed. The fixed 4-px-band closed-form solve (the conservative baseline) is column cf4.

Data: <repo>/../shared/eval/alphamatting (never copied into the repo).
"""
import argparse
import json
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
FOLDS = {"A": ["GT%02d" % i for i in range(1, 10)], "B": ["GT%02d" % i for i in range(10, 19)]}


def iou(a, g):
    """IoU of alpha >= 0.5 against GT >= 0.5."""
    x, y = np.asarray(a) >= 0.5, np.asarray(g) >= 0.5
    u = np.count_nonzero(x | y)
    return 1.0 if u == 0 else np.count_nonzero(x & y) / float(u)


def write_plate(img_srgb, path):
    """The image as a host hands it over: sRGB-decoded to scene-linear, half-float EXR."""
    from samatte.io.exr import srgb_eotf, write_image
    write_image(path, srgb_eotf(img_srgb), channels=["R", "G", "B"])


def _write_mask(mask, path):
    """The mask as a host hands it over: an 8-bit PNG, 255 where mask >= 0.5."""
    cv2.imwrite(path, (np.asarray(mask) >= 0.5).astype(np.uint8) * 255)


def _read_alpha(path):
    """The merged A channel of a written matte EXR, f32."""
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    return buf.get_pixels(oiio.FLOAT)[..., list(buf.spec().channelnames).index("A")]


#: the plates' colourspace as the job names it (``--colourspace``). None: the job names none, as
#: ``samatte refine`` without ``--colourspace``, so the product reads the plates as its OCIO config's
#: scene_linear (ACEScg in the built-in config). The plates are sRGB-decoded, i.e. linear Rec.709
#: ("lin_rec709"); a host sends its own colourspace. bench/RESULTS.md (round 9) has both.
PLATE_COLOURSPACE = None


def add_colourspace_arg(ap, what="plates'"):
    """The benches' ``--colourspace`` flag (see PLATE_COLOURSPACE)."""
    ap.add_argument("--colourspace", default=None, help="the %s colourspace as the job names it (e.g. "
                    "lin_rec709, what they are); default: none, as samatte refine without --colourspace" % what)


def set_plate_colourspace(cs):
    """``--colourspace`` of every bench on the product path (before a pool forks: workers inherit it)."""
    global PLATE_COLOURSPACE
    PLATE_COLOURSPACE = cs or None


def product_refine(plate_path, mask, tmp, tag, *, options=None, quality="default"):
    """``samatte refine`` on a one-frame EXR plate with a PNG mask (the CLI's job, run in this
    process): the merged A read back from the half-float EXR."""
    import contextlib
    import io
    from samatte import cli
    from samatte.jobspec import add_object, new_job, validate
    _write_mask(mask, os.path.join(tmp, "%s.mask.00001.png" % tag))
    out = os.path.join(tmp, "%s.out.#####.exr" % tag)
    job = new_job(os.path.abspath(plate_path), os.path.abspath(out), frames="1", tracker="auto", matte="auto",
                  quality=quality, overwrite=True, colourspace=PLATE_COLOURSPACE)
    add_object(job, "object", masks={"path": os.path.abspath(os.path.join(tmp, "%s.mask.#####.png" % tag))})
    job["matte"]["options"]["masks"] = "auto"
    job["matte"]["options"].update(options or {})
    with contextlib.redirect_stdout(io.StringIO()):
        rc, _ = cli.execute_job(validate(job), quiet=True)
    if rc:
        raise SystemExit("samatte refine failed (exit %d) on %s" % (rc, tag))
    return _read_alpha(out.replace("#####", "00001"))


def cli_refine(plate_path, mask, tmp, tag):
    """``samatte refine`` as a separate process, exactly as a TD types it (default settings): the
    one-frame EXR plate and an 8-bit PNG mask in, the merged A read back from the written EXR."""
    import subprocess
    _write_mask(mask, os.path.join(tmp, "%s.cmask.00001.png" % tag))
    out = os.path.join(tmp, "%s.cli.#####.exr" % tag)
    cmd = [sys.executable, "-m", "samatte", "refine", "--plate", plate_path,
           "--masks", os.path.join(tmp, "%s.cmask.#####.png" % tag), "--out", out, "--frames", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("samatte refine failed (%d) on %s: %s" % (r.returncode, tag, r.stderr[-2000:]))
    return _read_alpha(out.replace("#####", "00001"))


def parse_kv(kvs):
    """``K=V`` command-line pairs (``--option``, ``--refine``) as a dict; a V that reads as JSON is
    that value, otherwise the string."""
    out = {}
    for kv in kvs:
        k, _, v = kv.partition("=")
        try:
            v = json.loads(v)
        except ValueError:
            pass
        out[k] = v
    return out


def _overrides(kvs, flag):
    """``--<flag> K=V`` pairs as a dict of RefineParams fields (an unknown name stops the bench)."""
    if not kvs:
        return {}
    from dataclasses import fields
    from samatte.matte import params as P
    over = parse_kv(kvs)
    unknown = sorted(set(over) - {f.name for f in fields(P.RefineParams)})
    if unknown:
        raise SystemExit("--%s: unknown RefineParams field(s) %s" % (flag, ", ".join(unknown)))
    print("%s overrides: %s" % (flag, over))
    return over


def apply_refine_overrides(kvs):
    """``--refine k=v`` of the matting benches: override fields of RefineParams in every quality
    preset of this process (and of worker processes forked after it), product and in-process paths."""
    from dataclasses import replace
    from samatte.matte import params as P
    over = _overrides(kvs, "refine")
    if over:
        for q in list(P.QUALITIES):
            P.QUALITIES[q] = replace(P.QUALITIES[q], **over)
    return over


def apply_tight_overrides(kvs):
    """``--tight K=V``: override a field in the ``tight`` mask kind's differences (an experiment)."""
    from samatte.matte import params as P
    over = _overrides(kvs, "tight")
    if over:
        P.MASK_KINDS["tight"] = dict(P.MASK_KINDS["tight"], **over)
    return over


def add_override_args(ap):
    """``--refine K=V`` and ``--tight K=V``, the matting benches' experiment flags (applied by
    :func:`apply_overrides`)."""
    ap.add_argument("--refine", action="append", default=[], metavar="K=V",
                    help="override a field of samatte.matte.params.RefineParams in every preset, both paths "
                         "(an experiment: the product has no such switch), e.g. runaway=1.0")
    ap.add_argument("--tight", action="append", default=[], metavar="K=V",
                    help="override a field of the tight mask kind's differences (MASK_KINDS), e.g. leak=0.1; "
                         "they win over --refine for masks told or found tight")


def apply_overrides(args):
    """Apply ``--refine`` and ``--tight`` (:func:`add_override_args`) in this process (and in worker
    processes forked after it); returns every field overridden, as a dict (empty: none)."""
    return dict(apply_refine_overrides(args.refine) or {}, **(apply_tight_overrides(args.tight) or {}))


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
    if protocol == "tracker":
        from bench_synthvideo import coarse_mask     # the synthvideo clips' masks, made the same way
        return coarse_mask(gt).astype(np.float32)
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


def run_table(names, *, baseline=True, quality="default", cache_path=None, ours=True, mask_kind="auto",
              paths=("product",), options=None, protocols=PROTOCOLS):
    import tempfile
    res = {}
    cache = _load_cache(cache_path)
    tmp = tempfile.mkdtemp(prefix="samatte_stills_")
    for n in names:
        img, gt = load(n)
        if "product" in paths or "cli" in paths:
            write_plate(img, os.path.join(tmp, "%s.00001.exr" % n))
        for p in protocols:
            m = make_mask(gt, p)
            r = res.setdefault(p, {})
            r.setdefault("mask", {})[n] = (scores(m, gt), iou(m, gt))
            line = "%s %-7s mask MAD %6.1f IoU %.3f" % (n, p, r["mask"][n][0][0], r["mask"][n][1])
            for path in (paths if ours else ()):
                t = time.time()
                if path == "product":
                    a = product_refine(os.path.join(tmp, "%s.#####.exr" % n), m, tmp, "%s_%s" % (n, p),
                                       options=options, quality=quality)
                elif path == "cli":
                    a = cli_refine(os.path.join(tmp, "%s.#####.exr" % n), m, tmp, "%s_%s" % (n, p))
                else:
                    a = refine_alpha(img, m, quality=quality, mask=mask_kind)
                el = time.time() - t
                r.setdefault(path, {})[n] = (scores(a, gt), iou(a, gt), el)
                line += "  %s MAD %6.1f (%.2fx) IoU %.3f (%.1fs)" % (
                    path, r[path][n][0][0], r[path][n][0][0] / max(r["mask"][n][0][0], 1e-9), r[path][n][1], el)
            if baseline:
                for b in BANDS:
                    key = "%s/%s/%d" % (n, p, b)
                    if key not in cache:
                        cache[key] = scores(fixed_band_cf(img, m, b), gt).tolist()
                        _save_cache(cache_path, cache)
                    r.setdefault("cf%d" % b, {})[n] = (np.array(cache[key]), float("nan"))
                line += "  cf " + " ".join("%d:%.1f" % (b, r["cf%d" % b][n][0][0]) for b in BANDS)
            print(line, flush=True)
    report(res, names, quality=quality, paths=paths if ours else ())
    return res


def report(res, names, *, quality="default", paths=("product",)):
    """Per protocol and fold: mean metrics of the mask, cf4 / best fixed band, each path; ours/mask
    ratios (of the means, as before), per-image ratios (worst three named), images worse than the
    mask (MAD) and images losing more than 0.01 IoU."""
    print()
    print("alphamatting %d images, quality=%s; folds A = GT01-09, B = GT10-18" % (len(names), quality))
    hdr = "%-8s %-4s %-18s" % ("protocol", "fold", "method") + "".join("%9s" % m for m in METRICS) + \
        "   MAD/mask  IoU"
    print(hdr)
    print("-" * len(hdr))
    folds = [(f, [n for n in ns if n in names]) for f, ns in FOLDS.items()] + [("all", list(names))]
    for p, r in res.items():
        for f, ns in folds:
            if not ns:
                continue
            mask = np.mean([r["mask"][n][0] for n in ns], 0)
            rows = [("mask as alpha", r["mask"])]
            if "cf4" in r:
                rows.append(("cf band 4", r["cf4"]))
                best = min(BANDS, key=lambda b: np.mean([r["cf%d" % b][n][0][0] for n in ns]))
                rows.append(("cf band %d (best)" % best, r["cf%d" % best]))
            rows += [("ours " + path, r[path]) for path in paths if path in r]
            for label, d in rows:
                v = np.mean([d[n][0] for n in ns], 0)
                io_ = np.nanmean([d[n][1] for n in ns])
                print("%-8s %-4s %-18s" % (p, f, label) + "".join("%9.2f" % x for x in v) +
                      "   %.3f    %.3f" % (v[0] / mask[0], io_))
        for path in paths:
            if path not in r:
                continue
            rat = {n: r[path][n][0][0] / max(r["mask"][n][0][0], 1e-9) for n in names}
            worst = sorted(rat, key=rat.get, reverse=True)
            worse = [n for n in worst if rat[n] > 1.0]
            iou_loss = {n: r["mask"][n][1] - r[path][n][1] for n in names}
            lost = [n for n in names if iou_loss[n] > 0.01]
            extra = ""
            if "cf4" in r:
                extra = "; mean MAD vs cf4 %.3f" % (np.mean([r[path][n][0][0] for n in names]) /
                                                    np.mean([r["cf4"][n][0][0] for n in names]))
            print("%-8s %s: per-image MAD/mask worst %s; worse than mask: %d %s; IoU loss > 0.01: %d %s; "
                  "max IoU loss %.3f; mean time %.2fs%s" % (
                      p, path, ", ".join("%s %.2f" % (n, rat[n]) for n in worst[:3]), len(worse),
                      " ".join(worse), len(lost), " ".join(lost), max(iou_loss.values()),
                      np.mean([r[path][n][2] for n in names]), extra))


def run_speed(qualities=("draft", "default", "high"), names=("GT04", "GT05"), repeats=3, protocol="ds8"):
    for name in names:
        _speed_one(name, qualities, repeats, protocol)


def _speed_one(name, qualities, repeats, protocol="ds8"):
    img, gt = load(name)
    img = cv2.resize(img, (1920, 1080), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    if protocol == "tracker":   # a tracker's mask at 1080p (256 px on the long side, grown back)
        m = make_mask(cv2.resize(gt, (1920, 1080), interpolation=cv2.INTER_LINEAR), "tracker")
    else:
        m = make_mask(gt, protocol)
        m = (cv2.resize(m, (1920, 1080), interpolation=cv2.INTER_LINEAR) >= 0.5).astype(np.float32)
    refine_alpha(img[:64, :64], m[:64, :64], mask="auto")  # warm up lazy imports
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = float("nan")
    print("speed: %s upscaled to 1920x1080 with its %s mask, load average %.2f on %d cores"
          % (name, protocol, load1, os.cpu_count() or 0))
    kinds = [(q, None) for q in qualities]
    try:    # the product's default for EXR plates: the hybrid space (a linear solve image beside)
        from samatte.matte.stage import exposure_gain, soft_clip
        from samatte.io.exr import srgb_eotf
        lin = srgb_eotf(img)
        kinds.append(("default", soft_clip(lin * exposure_gain(lin))))
        refine_alpha(img, m, quality="default", mask="auto", solve_image=kinds[-1][1])
    except TypeError:   # older code: no solve_image
        kinds = kinds[:len(qualities)]
    for q, solve in kinds:
        ts = []
        kw = {} if solve is None else {"solve_image": solve}
        for _ in range(repeats):
            t = time.time()
            refine_alpha(img, m, quality=q, mask="auto", **kw)  # what the matte stage does with a mask of unknown kind
            ts.append(time.time() - t)
        print("  quality=%-8s%s %.2f s/frame (best of %d: %s)" % (
            q, " hybrid" if solve is not None else "", min(ts), repeats, ", ".join("%.2f" % t for t in ts)))


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
    ap.add_argument("--paths", default="product", help="comma-separated: product (samatte refine on linear "
                    "EXR plates and PNG masks, the CLI's job run in this process), cli (the same through a "
                    "separate `samatte refine` process; default settings only), inproc (refine_alpha on "
                    "the sRGB image)")
    add_colourspace_arg(ap)
    ap.add_argument("--option", action="append", default=[], metavar="K=V",
                    help="matte option for the product path (repeatable), e.g. space=display")
    add_override_args(ap)
    ap.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated: ds8, ds32, polygon, "
                    "tracker (default: the first three)")
    ap.add_argument("--fold", choices=sorted(FOLDS), help="only this fold's images")
    args = ap.parse_args(argv)
    if not os.path.isdir(DATA):
        print("no data at %s" % DATA)
        return 1
    if args.speed:     # --protocols: the first one's mask (ds8 by default; tracker: a tight mask)
        apply_overrides(args)
        run_speed(names=tuple(args.images.split(",")) if args.images else ("GT04", "GT05"),
                  protocol=args.protocols.split(",")[0])
        return 0
    names = args.images.split(",") if args.images else ["GT%02d" % i for i in range(1, 19)]
    if args.fold:
        names = [n for n in names if n in FOLDS[args.fold]]
    options = parse_kv(args.option)
    set_plate_colourspace(args.colourspace)
    apply_overrides(args)
    run_table(names, baseline=not args.no_baseline, quality=args.quality, cache_path=args.cache,
              ours=not args.baseline_only, mask_kind=args.masks, paths=tuple(args.paths.split(",")),
              options=options, protocols=tuple(args.protocols.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
