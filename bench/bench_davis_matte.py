"""Robustness of single-frame refinement on real footage: DAVIS-2016 frames with rough masks.

DAVIS has binary ground truth only, so this is not a matting-quality benchmark (bench_stills and
bench_synthvideo are); it checks that refining a rough mask of a real, often small object on a busy
background does not *lose* the object: every 10th frame of each sequence in
``<repo>/../shared/eval/davis2016``, coarse masks made from the ground truth the ways bench_stills
makes them (``ds8``, ``polygon``), refined through the product path (default: ``samatte refine`` on
the frame decoded to a linear half-float EXR plate with the mask as a PNG, see bench_stills) or
in process (``--path inproc``: ``refine_alpha(mask="auto")`` on the sRGB frame); scores are the IoU of
``alpha >= 0.5`` with the truth and the share of true object pixels the matte drops (alpha < 0.5),
for the mask itself and for ours, per sequence and overall.

Command (from the repo root, venv active)::

    python bench/bench_davis_matte.py              # all five sequences (~1 min on 2 cores)
    python bench/bench_davis_matte.py --step 5     # every 5th frame
    python bench/bench_davis_matte.py --path inproc
    python bench/bench_davis_matte.py --refine evidence=1   # a RefineParams field in every preset
    python bench/bench_davis_matte.py --option space=display   # a matte option (product path)

Folds are the sequences (figures per sequence, and the mean IoU loss of folds A = bmx-trees, dog,
horsejump-high and B = car-roundabout, drift-chicane); "frames losing > 0.01 IoU" counts the frames where the
refined matte's IoU is more than 0.01 below the mask's (the do-no-harm check).
"""
import argparse
import glob
import os
import sys

import numpy as np
import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "core"))
sys.path.insert(0, HERE)

from bench_stills import (add_colourspace_arg, add_override_args, apply_overrides, make_mask, parse_kv, product_refine,  # noqa: E402
                          set_plate_colourspace, write_plate)
from samatte.matte.refine import refine_alpha  # noqa: E402
from samatte.metrics import davis_j  # noqa: E402

EVAL = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "eval", "davis2016"))
PROTOCOLS = ("ds8", "polygon")
#: folds by sequence (alternating in name order): tune on one, report the other
FOLDS = {"A": ("bmx-trees", "dog", "horsejump-high"), "B": ("car-roundabout", "drift-chicane")}


def frames(step):
    out = []
    for seq in sorted(os.listdir(os.path.join(EVAL, "frames"))):
        for f in sorted(glob.glob(os.path.join(EVAL, "frames", seq, "*.jpg")))[::step]:
            out.append((seq, os.path.splitext(os.path.basename(f))[0]))
    return out


PATH = "product"
#: matte options of the product path's job (``--option K=V``)
OPTIONS = {}


def score(item):
    import tempfile
    seq, name = item
    img = cv2.imread(os.path.join(EVAL, "frames", seq, name + ".jpg"), cv2.IMREAD_COLOR)
    img = np.ascontiguousarray(img[..., ::-1]).astype(np.float32) / 255.0
    gt = cv2.imread(os.path.join(EVAL, "masks", seq, name + ".png"), cv2.IMREAD_GRAYSCALE) > 127
    if gt.sum() < 100:
        return None
    rows = []
    with tempfile.TemporaryDirectory(prefix="samatte_davis_") as tmp:
        if PATH == "product":
            write_plate(img, os.path.join(tmp, "plate.00001.exr"))
        for p in PROTOCOLS:
            m = make_mask(gt.astype(np.float32), p)
            if PATH == "product":
                a = product_refine(os.path.join(tmp, "plate.#####.exr"), m, tmp, p, options=OPTIONS)
            else:
                a = refine_alpha(img, m, mask="auto")
            for method, hard in (("mask", m >= 0.5), ("ours", a >= 0.5)):
                lost = (~hard & gt).sum() / gt.sum()
                rows.append((seq, p, method, davis_j(hard, gt), float(lost), name))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--step", type=int, default=10, help="every N-th frame (default 10)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--path", default="product", choices=("product", "inproc"))
    add_override_args(ap)
    ap.add_argument("--option", action="append", default=[], metavar="K=V",
                    help="a matte option of the product path's job, e.g. space=display")
    ap.add_argument("--per-frame", action="store_true", help="print every frame's IoU loss against the mask")
    add_colourspace_arg(ap)
    args = ap.parse_args(argv)
    global PATH
    PATH = args.path
    OPTIONS.update(parse_kv(args.option))
    set_plate_colourspace(args.colourspace)
    apply_overrides(args)
    if not os.path.isdir(EVAL):
        print("davis2016 not found at %s" % EVAL)
        return 1
    items = frames(args.step)
    if args.jobs > 1:
        from multiprocessing import Pool
        with Pool(args.jobs) as pool:
            res = pool.map(score, items)
    else:
        res = [score(i) for i in items]
    rows = [r for rr in res if rr for r in rr]
    seqs = sorted({r[0] for r in rows})
    print("DAVIS-2016, every %d-th frame (%d frames), %s path, IoU of alpha >= 0.5 / share of the object lost"
          % (args.step, sum(1 for r in res if r), PATH))
    for p in PROTOCOLS:
        for method in ("mask", "ours"):
            sel = [r for r in rows if r[1] == p and r[2] == method]
            per = " ".join("%s %.3f/%.3f" % (s, np.mean([r[3] for r in sel if r[0] == s]),
                                              np.mean([r[4] for r in sel if r[0] == s])) for s in seqs)
            print("%-8s %-5s IoU %.3f lost %.3f   (%s)" % (p, method, np.mean([r[3] for r in sel]),
                                                         np.mean([r[4] for r in sel]), per))
        mk = {(r[0], r[5]): r[3] for r in rows if r[1] == p and r[2] == "mask"}
        loss = sorted(((mk[(r[0], r[5])] - r[3], r[0], r[5]) for r in rows if r[1] == p and r[2] == "ours"),
                      reverse=True)
        bad = [x for x in loss if x[0] > 0.01]
        if args.per_frame:
            for x in sorted(loss, key=lambda x: (x[1], x[2])):
                print("%-8s %s/%s loss %+.3f (mask %.3f)" % (p, x[1], x[2], x[0], mk[(x[1], x[2])]))
        for fold, fseqs in FOLDS.items():
            fl = [x[0] for x in loss if x[1] in fseqs]
            if fl:
                print("%-8s fold %s (%s): mean IoU loss %.3f, frames losing > 0.01: %d of %d" % (
                    p, fold, ",".join(fseqs), float(np.mean(fl)), sum(1 for x in fl if x > 0.01), len(fl)))
        print("%-8s frames losing > 0.01 IoU against the mask: %d of %d; worst: %s" % (
            p, len(bad), len(loss), ", ".join("%s/%s %.3f" % (b, c, a) for a, b, c in loss[:3])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
