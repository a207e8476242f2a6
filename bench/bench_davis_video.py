"""The matting stage on real DAVIS-2016 video with tracker-like masks: does the see-through test
(matte option ``see_through``) lose the object on real footage?

DAVIS has binary ground truth only, so this checks robustness, not matting quality
(bench_synthvideo measures that): the first N frames of each sequence in
``<repo>/../shared/eval/davis2016``, masks made from the truth like a tracker's (threshold, shrink to
256 px on the long side, grow back, threshold), run through ``get_matter("refine")`` in order with
the see-through test off and on; scores are the IoU of ``alpha >= 0.5`` with the truth and the share
of the object lost, frames 2..N, and the share of the frame the test doubted.

Command (from the repo root, venv active)::

    python bench/bench_davis_video.py            # 12 frames per sequence (~3 min on 2 cores)
    python bench/bench_davis_video.py --frames 30
    python bench/bench_davis_video.py --see-through 0.02 --pixel-type uint8
    python bench/bench_davis_video.py --see-through 0.02 --masks tight   # as SAM2's edge hint tells it

The plate is handed over as a host hands an EXR (``--pixel-type half``, the default: the frame
decoded to linear light, the matte option ``space`` "auto" picks the hybrid space), or as an 8-bit
image (``uint8``: display space). Folds are the sequences; per sequence the mask's own IoU and the
frames where ours is more than 0.01 below it are printed (the do-no-harm check), and per fold
(A bmx-trees, dog, horsejump-high; B car-roundabout, drift-chicane, as bench_davis_matte's) the mean
IoU loss against the masks. ``--masks`` is what the stage is told the masks are: ``auto`` (default,
the refiner's own test, which calls some of these rough) or ``tight`` (what SAM2's edge hint says).
"""
import argparse
import glob
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "core"))
sys.path.insert(0, HERE)

from bench_synthvideo import coarse_mask as tracker_like  # noqa: E402  (what a 256-px tracker gives)
from bench_davis_matte import FOLDS  # noqa: E402  (folds by sequence, the frames bench's)
from samatte.io.exr import srgb_eotf  # noqa: E402
from samatte.matte import get_matter  # noqa: E402
from samatte.metrics import davis_j  # noqa: E402
from samatte.stages import ObjectTrack, Plate, PlateInfo, TrackFrame, Window  # noqa: E402

EVAL = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "eval", "davis2016"))


PIXEL_TYPE = "half"
MASKS = "auto"


def run(seq, n, see_through):
    frames = sorted(glob.glob(os.path.join(EVAL, "frames", seq, "*.jpg")))[:n]
    matter = get_matter("refine", options={"see_through": see_through, "masks": MASKS}, foreground=False,
                        quality_map=False)
    js, lost, doubted, jm = [], [], [], []
    for i, f in enumerate(frames):
        disp = cv2.imread(f, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
        name = os.path.splitext(os.path.basename(f))[0]
        gt = cv2.imread(os.path.join(EVAL, "masks", seq, name + ".png"), cv2.IMREAD_GRAYSCALE) > 127
        h, w = gt.shape
        info = PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h), pixel_type=PIXEL_TYPE)
        lin = srgb_eotf(disp)
        coarse = tracker_like(gt.astype(np.float32))
        tf = TrackFrame(frame=1001 + i, objects={"o": ObjectTrack(mask=coarse)},
                        ref=(1000 + i) if i else None)
        mf = matter.process(Plate(1001 + i, lin, disp, info), tf)
        if i:
            hard = mf.alpha >= 0.5
            js.append(davis_j(hard, gt))
            jm.append(davis_j(coarse >= 0.5, gt))
            lost.append(float((~hard & gt).sum()) / max(1, int(gt.sum())))
            doubted.append(mf.stats.get("o.see_through", 0.0))
    worse = int(sum(1 for a, b in zip(js, jm) if b - a > 0.01))
    return float(np.mean(js)), float(np.mean(lost)), float(np.mean(doubted)), float(np.mean(jm)), worse, \
        float(np.mean(np.subtract(jm, js)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--see-through", default="0,0.02", help="comma-separated values of the option")
    ap.add_argument("--pixel-type", default="half", choices=("half", "uint8"))
    ap.add_argument("--masks", default="auto", choices=("auto", "tight", "rough"),
                    help="the matte option masks: what the stage is told the masks are (a tracker's "
                         "edge hint says tight; default: auto, the refiner's own test)")
    from bench_stills import add_override_args, apply_overrides
    add_override_args(ap)
    args = ap.parse_args(argv)
    apply_overrides(args)
    global PIXEL_TYPE, MASKS
    PIXEL_TYPE = args.pixel_type
    MASKS = args.masks
    sts = [float(x) for x in args.see_through.split(",")]
    if not os.path.isdir(EVAL):
        print("davis2016 not found at %s" % EVAL)
        return 1
    seqs = sorted(os.listdir(os.path.join(EVAL, "frames")))
    rows = {}
    for seq in seqs:
        for st in sts:
            rows[seq, st] = run(seq, args.frames, st)
            print("  %-16s see_through %-4g IoU %.3f lost %.3f doubted %.4f of the frame; mask IoU %.3f; "
                  "frames > 0.01 below the mask: %d" % ((seq, st) + rows[seq, st][:5]), flush=True)
    for st in sts:
        print("all sequences (%s plate), see_through %-4g IoU %.3f (mask %.3f) lost %.3f; frames > 0.01 below "
              "the mask: %d" % (PIXEL_TYPE, st, np.mean([rows[s, st][0] for s in seqs]),
                                np.mean([rows[s, st][3] for s in seqs]), np.mean([rows[s, st][1] for s in seqs]),
                                sum(rows[s, st][4] for s in seqs)))
        for fold, names in FOLDS.items():
            fs = [s for s in seqs if s in names]
            if fs:
                print("  fold %s (%s): mean IoU loss against the mask %.4f; frames > 0.01 below the mask: %d"
                      % (fold, ",".join(fs), np.mean([rows[s, st][5] for s in fs]), sum(rows[s, st][4] for s in fs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
