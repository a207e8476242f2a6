"""Synthetic clips and an in-memory FrameSource double for the tracker tests."""
import numpy as np

from samatte.stages import Plate, PlateInfo, TrackerObject, Window


class MemorySource:
    """The part of samatte.io.source.FrameSource the trackers use: .info, .frames, .get, .prefetch."""

    def __init__(self, images, info=None):
        self.images = dict(images)
        self.frames = sorted(self.images)
        h, w = next(iter(self.images.values())).shape[:2]
        self.info = info or PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h))
        self.gets = []

    def get(self, frame):
        self.gets.append(frame)
        img = self.images[frame]
        return Plate(frame=frame, linear=img, display=img, info=self.info)

    def prefetch(self, frames):
        pass


def _texture(rng, h, w, sigma_px, colour):
    import cv2
    t = rng.random((h, w, 3)).astype(np.float32)
    t = cv2.GaussianBlur(t, (0, 0), sigma_px)
    t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    return np.clip(0.25 + 0.5 * t * np.asarray(colour, np.float32), 0, 1)


def moving_squares(frames, *, size=96, squares=((22, 14, 26, 3.0, 2.0),), seed=0):
    """Textured squares translating over a textured background.

    ``squares``: (x0, y0, side, vx, vy) per square, velocity in pixels per *host frame*.
    Returns (MemorySource, truth) with truth[frame] = list of bool masks (one per square).
    """
    rng = np.random.default_rng(seed)
    bg = _texture(rng, size, size, 2.0, (0.6, 0.9, 0.7))
    texs = [_texture(rng, size, size, 1.5, c) * 1.3 for c, _ in zip(
        [(1.6, 0.4, 0.3), (0.3, 0.5, 1.6), (1.4, 1.4, 0.2)], squares)]
    images, truth = {}, {}
    f0 = frames[0]
    for f in frames:
        img = bg.copy()
        masks = []
        for (x0, y0, s, vx, vy), tex in zip(squares, texs):
            x = int(round(x0 + vx * (f - f0)))
            y = int(round(y0 + vy * (f - f0)))
            m = np.zeros((size, size), bool)
            m[max(0, y):y + s, max(0, x):x + s] = True
            img[m] = np.clip(tex[:s, :s][:m[max(0, y):y + s, max(0, x):x + s].shape[0],
                                         :m[max(0, y):y + s, max(0, x):x + s].shape[1]].reshape(-1, 3), 0, 1)
            masks.append(m)
        images[f] = img.astype(np.float32)
        truth[f] = masks
    return MemorySource(images), truth


def mask_object(name, masks_by_frame):
    """A TrackerObject whose prompts are dense masks (as prompts.prepare_objects makes them)."""
    return TrackerObject(name=name, prompts={
        f: [{"frame": f, "type": "mask", "mask_array": m.copy(), "soft_array": m.astype(np.float32)}]
        for f, m in masks_by_frame.items()})


def iou(a, b):
    u = np.logical_or(a, b).sum()
    return 1.0 if u == 0 else float(np.logical_and(a, b).sum() / u)


def run(tracker, source, objects, frames, cancel=None):
    out = {}
    order = []
    for item in tracker.track(source, objects, frames, cancel=cancel):
        if hasattr(item, "objects"):
            out[item.frame] = item
            order.append(item.frame)
    return out, order
