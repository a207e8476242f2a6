"""Synthetic drift of the weights-free flow tracker on near-identical frames (no DAVIS data needed).

Command (from the repository root, venv active)::

    python bench/bench_flow_drift.py            # both clips, 21 frames
    python bench/bench_flow_drift.py --frames 41

A 320x180 plate: a soft-edged ellipse (50 x 40 px radii, its texture's colours overlap the background's,
so the colour model and grabCut are unsure along its edge) on a smooth random background, keyed on the
first frame with its true mask. Two clips, each frame with fresh Gaussian sensor noise (sigma 2 of 255):

- ``static``: the same plate on every frame (no motion; the frames are not identical, so the tracker's
  static-frame shortcut does not apply);
- ``pan``: the camera pans 0.5 px a frame (the content moves left).

Prints the pixels of the tracked mask that differ from the true mask on frames 1, 10 and the last. A
tracker that counted each frame's evidence once would stay near the first frame's figure; the drift
(bench/RESULTS.md, 2026-12-07) is what recounting the same colour and grabCut votes does.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "core"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from samatte.stages import Plate, PlateInfo, TrackerObject, Window  # noqa: E402

H, W, PAD = 180, 320, 20


class _Source:
    def __init__(self, images):
        self.images = images
        self.info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))

    def get(self, f):
        return Plate(frame=f, linear=self.images[f], display=self.images[f], info=self.info)


def _scene():
    """The plate (float32 0-255) and its true mask, PAD px larger on each side (room to pan)."""
    hp, wp = H + 2 * PAD, W + 2 * PAD
    bg = cv2.resize(np.random.default_rng(1).integers(40, 200, (hp // 6, wp // 6, 3)).astype(np.uint8), (wp, hp),
                    interpolation=cv2.INTER_CUBIC).astype(np.float32)
    obj = cv2.resize(np.random.default_rng(7).integers(60, 210, (12, 20, 3)).astype(np.uint8),
                     (wp, hp)).astype(np.float32)
    yy, xx = np.mgrid[0:hp, 0:wp]
    soft = cv2.GaussianBlur((((xx - wp / 2) / 50.0) ** 2 + ((yy - hp / 2) / 40.0) ** 2 < 1).astype(np.float32),
                            (0, 0), 2.0)
    return np.clip(bg * (1 - soft[..., None]) + obj * soft[..., None], 0, 255), soft


def clip(kind, n, sigma=2.0):
    """({frame: linear image in 0..1}, {frame: true mask}) of the ``static`` or ``pan`` clip."""
    big, soft = _scene()
    rng = np.random.default_rng(5)
    imgs, truth = {}, {}
    for k in range(n):
        dx = 0.5 * k if kind == "pan" else 0.0
        m = np.float32([[1, 0, -(PAD + dx)], [0, 1, -PAD]])
        img = cv2.warpAffine(big, m, (W, H), flags=cv2.INTER_LINEAR)
        img = np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)
        imgs[1001 + k] = img.astype(np.float32) / 255.0
        truth[1001 + k] = cv2.warpAffine(soft, m, (W, H), flags=cv2.INTER_LINEAR) > 0.5
    return imgs, truth


def wrong_pixels(kind, n=21, options=None):
    """Pixels of the flow tracker's mask that differ from the truth, per frame of the clip."""
    from samatte.track.flow import FlowTracker
    imgs, truth = clip(kind, n)
    frames = sorted(imgs)
    f0 = frames[0]
    ob = TrackerObject(name="o", prompts={f0: [{"frame": f0, "type": "mask", "mask_array": truth[f0].copy(),
                                                "soft_array": truth[f0].astype(np.float32)}]})
    out = {}
    for item in FlowTracker(options=options).track(_Source(imgs), [ob], frames):
        if hasattr(item, "objects"):
            out[item.frame] = item.objects["o"].mask
    return [int((out[f] != truth[f]).sum()) for f in frames]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=21)
    args = ap.parse_args(argv)
    for kind in ("static", "pan"):
        w = wrong_pixels(kind, args.frames)
        print("%-7s pixels wrong: frame 1 %d, frame 10 %d, frame %d %d (of %d)"
              % (kind, w[1], w[min(10, len(w) - 1)], len(w) - 1, w[-1], H * W))
    return 0


if __name__ == "__main__":
    sys.exit(main())
