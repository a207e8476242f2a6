"""Held-out-like proxy for still-image refinement: procedural objects with EXACT alpha over real photos.

The refiner was tuned on the 18 alphamatting stills; on held-out stills it came out worse than the
mask used as alpha for objects whose alpha is soft over large areas or full of fine structure. This
bench generates such objects (and an easy control) with exact alpha, composites them IN LINEAR LIGHT
(``I = a * F + (1 - a) * B``) over real photos (DAVIS-2016 frames, sRGB-decoded to linear), writes the
composite as a scene-linear half-float EXR plate and runs the product path on it (bench_stills'
``product_refine``: the job ``samatte refine`` builds, run in this process, the merged A read back).

Commands (from the repo root, venv active)::

    python bench/bench_synthstills.py                          # 8 types x 2 seeds x 3 protocols (~1-2 min)
    python bench/bench_synthstills.py --types smoke,net --seeds 4
    python bench/bench_synthstills.py --protocols ds8 --refine runaway=1.0   # a RefineParams field
    python bench/bench_synthstills.py --option evidence=1.0                 # a matte option
    python bench/bench_synthstills.py --save /tmp/synth                     # PNG strips per case
    python bench/bench_synthstills.py --seeds 8 --near-bg 1                 # every case camouflaged

Object types (``--types``): smoke (fractal-noise alpha 0.1-0.8 over a large soft blob), sheet (a
translucent polygon, uniform alpha 0.3-0.6, crisp edge), net (thin anti-aliased strings on a rotated
grid inside an irregular outline), furry (opaque body + many thin partly-opaque strands 10-60 px out),
fringe (an opaque head-like ellipse with fine hair along part of its outline), foliage (opaque leaf
ellipses with gaps), motion (an opaque shape blurred along a line of 10-40 px), control (an opaque
shape with a crisp anti-aliased edge: refinement should help a lot). Foreground colours are textured
(low-frequency noise) and, in about a third of the cases ("~bg"), rescaled to the background's mean
colour under the object. Shapes are anti-aliased by drawing at 4x and box-averaging down.

Coarse masks: bench_stills' ``make_mask`` on GT > 0.5 (``ds8``, ``ds32``, ``polygon``), or on GT > T
with ``--mask-threshold T`` (e.g. 0.2: a mask that covers a translucent sheet), and with
``--fill-holes`` from the outer outlines of GT > T (a tracker's or roto's mask of a whole net). A
protocol is skipped for a case when its mask is empty or full (the reason is printed): by default a
sheet below 0.5 has no GT > 0.5 at all, and a net's thin strings mostly vanish under ds8 / ds32.

Figures, per case and protocol: MAD (x1e3, samatte.metrics.mad) of the mask as alpha and of ours, the
ratio ours / mask, and the IoU of alpha >= 0.5 against GT >= 0.5 for both. Summary per protocol and
fold: ratio of the mean MADs, cases worse than their mask (ratio > 1), cases losing more than 0.01 IoU,
the worst three by ratio; then the mean per-case ratio per type and protocol.

Folds: case index even -> fold A, odd -> fold B (seed = crc32 of "type:index", so a case is the same
in every run and does not move when ``--seeds`` grows). Tune on one fold, report the other.

Data: backgrounds from <repo>/../shared/eval/davis2016/frames (never copied into the repo).
"""
import argparse
import functools
import glob
import os
import sys
import tempfile
import time
import zlib

import numpy as np
import cv2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "core"))
sys.path.insert(0, HERE)

from bench_stills import (add_colourspace_arg, add_override_args, apply_overrides, iou, make_mask, parse_kv,  # noqa: E402
                          product_refine, set_plate_colourspace)
from samatte import metrics as M  # noqa: E402
from samatte.colour import srgb_oetf  # noqa: E402
from samatte.io.exr import srgb_eotf  # noqa: E402

EVAL = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "eval", "davis2016"))
PROTOCOLS = ("ds8", "ds32", "polygon")
SS = 4          # supersampling factor of the drawn shapes
NEAR_BG = 0.35  # share of cases whose foreground colour is moved to the background's


# ---------------------------------------------------------------------------------------------------
# building blocks


def _noise(rng, H, W, scale):
    """Low-frequency noise, zero mean, unit std, features about ``scale`` px."""
    h, w = int(H / scale) + 3, int(W / scale) + 3
    n = cv2.resize(rng.normal(0, 1, (h, w)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    n = cv2.GaussianBlur(n, (0, 0), max(0.5, scale * 0.35))
    return (n - n.mean()) / (n.std() + 1e-6)


def _fractal(rng, H, W, base=96.0, octaves=5, gain=0.55):
    out = np.zeros((H, W), np.float32)
    amp, s = 1.0, base
    for _ in range(octaves):
        out += amp * _noise(rng, H, W, s)
        amp *= gain
        s /= 2.0
    return (out - out.mean()) / (out.std() + 1e-6)


def _colour(rng, lo=0.1, hi=0.9):
    """A random linear-light colour (drawn in sRGB-like values, decoded)."""
    return srgb_eotf(rng.uniform(lo, hi, 3).astype(np.float32))


def _texture(rng, H, W, base, var=0.3):
    """Linear foreground colour ``base`` modulated by low-frequency noise (luma and a little chroma)."""
    s = rng.uniform(15, 60)
    lum = _noise(rng, H, W, s)
    chroma = np.stack([_noise(rng, H, W, s * 1.5) for _ in range(3)], -1)
    fg = np.asarray(base, np.float32) * np.exp(var * lum[..., None] + 0.3 * var * chroma)
    return np.clip(fg, 0.0, 1.0).astype(np.float32)


def _outline(rng, H, W, frac=(0.10, 0.30), amp=0.12, harmonics=5, jitter=0.08, aspect=(0.7, 1.6), n=720):
    """An irregular closed outline (polar radius with random harmonics) of about ``frac`` of the frame,
    centred-ish: (points (n, 2) float x, y; centre (cx, cy))."""
    area = rng.uniform(*frac) * H * W
    asp = rng.uniform(*aspect)
    R = np.sqrt(area / np.pi)
    rx, ry = R * np.sqrt(asp), R / np.sqrt(asp)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones_like(t)
    for k in range(2, 2 + harmonics):
        r += rng.uniform(0, amp) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    x, y = rx * r * np.cos(t), ry * r * np.sin(t)
    s = min(1.0, 0.46 * W / max(np.abs(x).max(), 1), 0.46 * H / max(np.abs(y).max(), 1))
    cx = W / 2 + rng.uniform(-jitter, jitter) * W
    cy = H / 2 + rng.uniform(-jitter, jitter) * H
    return np.stack([cx + s * x, cy + s * y], -1), (cx, cy)


def _big(pts):
    """Float image coordinates -> int coordinates of the SS-times canvas (pixel centres kept)."""
    return np.round((np.asarray(pts, np.float64) + 0.5) * SS - 0.5).astype(np.int32)


def _down(big):
    """An SS-times uint8 canvas (0/255) -> coverage in [0, 1] (box average: exact anti-aliasing)."""
    H, W = big.shape[0] // SS, big.shape[1] // SS
    return cv2.resize(big.astype(np.float32) * (1 / 255.0), (W, H), interpolation=cv2.INTER_AREA)


def _fill(H, W, polys):
    big = np.zeros((H * SS, W * SS), np.uint8)
    cv2.fillPoly(big, [_big(p) for p in polys], 255)
    return _down(big)


def _over(a_top, f_top, a_bot, f_bot):
    """``top`` over ``bot`` (straight colours): (alpha, straight colour)."""
    a = a_top + (1 - a_top) * a_bot
    pre = a_top[..., None] * f_top + ((1 - a_top) * a_bot)[..., None] * f_bot
    f = pre / np.maximum(a, 1e-6)[..., None]
    return a.astype(np.float32), np.clip(f, 0, 1).astype(np.float32)


def _strands(rng, H, W, roots, dirs, lengths, widths, opacity, curl, segs=6):
    """Thin anti-aliased strands (polylines of ``segs`` segments turning by N(0, curl) per segment),
    each of its own width and opacity; overlapping strands combine by 'over'."""
    levels = np.clip(np.round(np.asarray(opacity) * 10) / 10, 0.1, 1.0)
    thick = np.maximum(1, np.round(np.asarray(widths) * SS)).astype(int)
    acc = np.ones((H, W), np.float32)   # prod(1 - o * coverage)
    for lv in np.unique(levels):
        big = np.zeros((H * SS, W * SS), np.uint8)
        for th in np.unique(thick[levels == lv]):
            lines = []
            for i in np.nonzero((levels == lv) & (thick == th))[0]:
                p, ang, step = np.array(roots[i], np.float64), dirs[i], lengths[i] / segs
                pts = [p.copy()]
                for _ in range(segs):
                    ang += rng.normal(0, curl[i])
                    p = p + step * np.array([np.cos(ang), np.sin(ang)])
                    pts.append(p.copy())
                lines.append(_big(pts).reshape(-1, 1, 2))
            cv2.polylines(big, lines, False, 255, thickness=int(th), lineType=cv2.LINE_8)
        acc *= 1 - lv * _down(big)
    return (1 - acc).astype(np.float32)


def _outline_roots(rng, pts, centre, n, inset=(1.0, 5.0), arc=None):
    """``n`` points on (just inside) an outline and their outward directions; ``arc`` (a0, span) keeps
    only those whose polar angle around ``centre`` lies in it."""
    cx, cy = centre
    ang = np.arctan2(pts[:, 1] - cy, pts[:, 0] - cx)
    idx = np.arange(len(pts))
    if arc is not None:
        a0, span = arc
        idx = idx[np.mod(ang - a0, 2 * np.pi) < span]
    i = rng.choice(idx, n)
    d = ang[i]
    ins = rng.uniform(*inset, n)
    roots = pts[i] - ins[:, None] * np.stack([np.cos(d), np.sin(d)], -1)
    return roots, d


# ---------------------------------------------------------------------------------------------------
# objects: function(rng, H, W) -> (alpha float32 (H, W) in [0, 1], foreground linear RGB (H, W, 3))


def smoke(rng, H, W):
    pts, _ = _outline(rng, H, W, frac=(0.15, 0.32), amp=0.18)
    blob = cv2.GaussianBlur(_fill(H, W, [pts]), (0, 0), rng.uniform(10, 25))
    dens = np.clip(rng.uniform(0.35, 0.55) + 0.22 * _fractal(rng, H, W), 0.1, 0.8)
    alpha = np.clip(blob * dens, 0, 1).astype(np.float32)
    grey = rng.uniform(0.55, 0.95) if rng.random() < 0.7 else rng.uniform(0.1, 0.35)
    base = _colour(rng, grey - 0.05, grey + 0.05)
    return alpha, _texture(rng, H, W, base, var=0.15)


def sheet(rng, H, W):
    pts, (cx, cy) = _outline(rng, H, W, frac=(0.12, 0.30), amp=0.05)
    k = int(rng.integers(5, 10))                        # an irregular polygon through k of its points
    t = (np.arange(k) + rng.uniform(-0.3, 0.3, k)) * (len(pts) / k)
    t = np.mod(np.round(t + rng.uniform(0, len(pts))).astype(int), len(pts))
    t = np.sort(t)
    rad = rng.uniform(0.85, 1.1, k)[:, None]
    poly = np.array([cx, cy]) + rad * (pts[t] - np.array([cx, cy]))
    edge = _fill(H, W, [poly])
    edge = cv2.GaussianBlur(edge, (0, 0), rng.uniform(0.3, 0.7))   # a 1-2 px edge
    alpha = (rng.uniform(0.3, 0.6) * edge).astype(np.float32)
    return alpha, _texture(rng, H, W, _colour(rng, 0.3, 0.95), var=0.2)


def net(rng, H, W):
    pts, _ = _outline(rng, H, W, frac=(0.12, 0.30), amp=0.1)
    inside = np.zeros((H * SS, W * SS), np.uint8)
    cv2.fillPoly(inside, [_big(pts)], 1)
    th = rng.uniform(0, np.pi)
    sp = rng.uniform(6, 14)
    w = min(rng.uniform(1.0, 2.5), sp / 3)
    yy, xx = np.mgrid[0:H * SS, 0:W * SS].astype(np.float32)
    xx, yy = (xx + 0.5) / SS - 0.5, (yy + 0.5) / SS - 0.5
    u = xx * np.cos(th) + yy * np.sin(th)
    v = -xx * np.sin(th) + yy * np.cos(th)
    wob, per = rng.uniform(0, 2.0), rng.uniform(40, 120)       # strings not quite straight
    u2 = u + wob * np.sin(v * (2 * np.pi / per) + rng.uniform(0, 6.3))
    v2 = v + wob * np.sin(u * (2 * np.pi / per) + rng.uniform(0, 6.3))
    strings = (np.mod(u2, sp) < w) | (np.mod(v2, sp) < w)
    big = (strings & (inside > 0)).astype(np.uint8) * 255
    alpha = (rng.uniform(0.85, 1.0) * _down(big)).astype(np.float32)
    return alpha, _texture(rng, H, W, _colour(rng), var=0.25)


def furry(rng, H, W):
    pts, c = _outline(rng, H, W, frac=(0.07, 0.18), amp=0.08)
    body = _fill(H, W, [pts])
    n = int(rng.integers(350, 800))
    roots, d = _outline_roots(rng, pts, c, n, inset=(0.0, 8.0))
    hair = _strands(rng, H, W, roots, d + rng.normal(0, 0.35, n), rng.uniform(10, 60, n),
                    rng.uniform(0.7, 2.0, n), rng.uniform(0.5, 1.0, n), rng.uniform(0.02, 0.3, n))
    base = _colour(rng)
    fb = _texture(rng, H, W, base, var=0.3)
    fh = _texture(rng, H, W, base * rng.uniform(0.8, 1.3, 3), var=0.3)
    return _over(hair, fh, body, fb)


def fringe(rng, H, W):
    pts, c = _outline(rng, H, W, frac=(0.08, 0.20), amp=0.04, aspect=(0.6, 0.9))
    head = _fill(H, W, [pts])
    n = int(rng.integers(400, 900))
    arc = (rng.uniform(0, 2 * np.pi), rng.uniform(np.pi / 3, np.pi))
    roots, d = _outline_roots(rng, pts, c, n, inset=(0.0, 4.0), arc=arc)
    comb = rng.normal(0, 0.6)                           # hair combed to one side
    hair = _strands(rng, H, W, roots, d + comb + rng.normal(0, 0.25, n), rng.uniform(8, 40, n),
                    rng.uniform(0.7, 1.5, n), rng.uniform(0.6, 1.0, n), rng.uniform(0.02, 0.2, n))
    fs = _texture(rng, H, W, _colour(rng, 0.4, 0.9), var=0.2)
    fh = _texture(rng, H, W, _colour(rng, 0.05, 0.8), var=0.3)
    return _over(hair, fh, head, fs)


def foliage(rng, H, W):
    pts, _ = _outline(rng, H, W, frac=(0.15, 0.32), amp=0.15)
    region = _fill(H, W, [pts]) > 0.5
    ys, xs = np.nonzero(region)
    n = int(rng.integers(int(region.sum() / 1400), int(region.sum() / 700)))
    base = _colour(rng, 0.1, 0.6) * np.array([0.5, 1.0, 0.4], np.float32)
    alpha = np.zeros((H, W), np.float32)
    fg = np.zeros((H, W, 3), np.float32)
    for g in range(3):                                   # three tones of leaves, drawn in turn
        big = np.zeros((H * SS, W * SS), np.uint8)
        for _ in range(n // 3):
            i = rng.integers(len(xs))
            L = rng.uniform(10, 30)
            ax = (int(L * SS), int(L * rng.uniform(0.25, 0.5) * SS))
            cv2.ellipse(big, tuple(int(v) for v in _big([xs[i], ys[i]])), ax, rng.uniform(0, 180), 0, 360,
                        255, -1)
        for _ in range(n // 6):                          # a few stems: short lines between leaves
            i = rng.integers(len(xs))
            L, ang = rng.uniform(15, 45), rng.uniform(0, 2 * np.pi)
            p0 = np.array([xs[i], ys[i]], np.float64)
            cv2.line(big, tuple(int(v) for v in _big(p0)),
                     tuple(int(v) for v in _big(p0 + L * np.array([np.cos(ang), np.sin(ang)]))), 255,
                     int(rng.uniform(1.0, 2.5) * SS))
        a = _down(big)
        f = _texture(rng, H, W, base * rng.uniform(0.7, 1.4), var=0.3)
        alpha, fg = _over(a, f, alpha, fg)
    return alpha, fg


def motion(rng, H, W):
    pts, _ = _outline(rng, H, W, frac=(0.08, 0.22), amp=0.12)
    a = _fill(H, W, [pts])
    f = _texture(rng, H, W, _colour(rng), var=0.35)
    L, th = rng.uniform(10, 40), rng.uniform(0, np.pi)
    K = int(np.ceil(L)) + 3 | 1
    big = np.zeros((K * SS, K * SS), np.uint8)
    h = K / 2.0 - 0.5
    d = np.array([np.cos(th), np.sin(th)]) * L / 2
    cv2.line(big, tuple(int(v) for v in _big([h - d[0], h - d[1]])), tuple(int(v) for v in _big([h + d[0], h + d[1]])),
             255, SS)
    k = _down(big)
    k /= k.sum()
    alpha = cv2.filter2D(a, -1, k, borderType=cv2.BORDER_CONSTANT)
    pre = cv2.filter2D(a[..., None] * f, -1, k, borderType=cv2.BORDER_CONSTANT)
    fg = pre / np.maximum(alpha, 1e-6)[..., None]
    return np.clip(alpha, 0, 1).astype(np.float32), np.clip(fg, 0, 1).astype(np.float32)


def control(rng, H, W):
    pts, _ = _outline(rng, H, W, frac=(0.10, 0.30), amp=0.12)
    return _fill(H, W, [pts]).astype(np.float32), _texture(rng, H, W, _colour(rng), var=0.35)


OBJECTS = {"smoke": smoke, "sheet": sheet, "net": net, "furry": furry, "fringe": fringe,
           "foliage": foliage, "motion": motion, "control": control}


# ---------------------------------------------------------------------------------------------------
# cases


@functools.lru_cache(maxsize=None)
def backgrounds():
    return tuple(sorted(glob.glob(os.path.join(EVAL, "frames", "*", "*.jpg"))))


def make_case(kind, idx, scale=1.0, near_bg=NEAR_BG):
    """(linear composite (H, W, 3) float32, exact alpha (H, W), description); ``scale`` enlarges the
    background photo (bicubic) before the object is drawn on it at that size; ``near_bg``: the chance
    that the object's colour is moved to the background's (1: always; the draw is made either way,
    so the object and background stay the same)."""
    seed = zlib.crc32(("%s:%d" % (kind, idx)).encode())
    rng = np.random.default_rng(seed)
    bgs = backgrounds()
    bgp = bgs[int(rng.integers(len(bgs)))]
    bg8 = cv2.imread(bgp, cv2.IMREAD_COLOR)
    if scale != 1.0:
        bg8 = cv2.resize(bg8, (int(round(bg8.shape[1] * scale)), int(round(bg8.shape[0] * scale))),
                         interpolation=cv2.INTER_CUBIC)
    bg = srgb_eotf(np.ascontiguousarray(bg8[..., ::-1]).astype(np.float32) / 255.0)
    H, W = bg.shape[:2]
    alpha, fg = OBJECTS[kind](rng, H, W)
    near = rng.random() < near_bg
    if near:    # the object's mean colour moved to the background's under it (texture kept)
        wgt = alpha[..., None]
        ratio = (bg * wgt).sum((0, 1)) / np.maximum((fg * wgt).sum((0, 1)), 1e-6)
        fg = np.clip(fg * ratio * rng.uniform(0.85, 1.15, 3), 0, 1).astype(np.float32)
    a = alpha[..., None]
    comp = (a * fg + (1 - a) * bg).astype(np.float32)
    bgname = "%s/%s" % (os.path.basename(os.path.dirname(bgp)), os.path.splitext(os.path.basename(bgp))[0])
    desc = "cover %.0f%% soft %.0f%% bg %s%s" % (100 * alpha.mean(), 100 * ((alpha > 0.02) & (alpha < 0.98)).mean(),
                                                 bgname, " ~bg" if near else "")
    return comp, alpha, desc


def _strip(comp, gt, m, a):
    g = lambda x: np.repeat(np.clip(x, 0, 1)[..., None], 3, -1)  # noqa: E731
    s = np.concatenate([srgb_oetf(comp), g(gt), g(m), g(a)], 1)
    return (s * 255 + 0.5).astype(np.uint8)[..., ::-1]


def run_case(job):
    kind, idx, protocols, options, save, thr, fill, scale, near_bg = job
    t0 = time.time()
    comp, gt, desc = make_case(kind, idx, scale, near_bg)
    tgen = time.time() - t0
    name = "%s%d" % (kind, idx)
    rows, lines = [], ["%-9s %s (generated in %.1fs)" % (name, desc, tgen)]
    src = (gt > thr).astype(np.float32)
    if fill:    # the object's outline, holes filled (what a tracker or a roto gives for a net or foliage)
        cs, _ = cv2.findContours(src.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        src = np.zeros(gt.shape, np.uint8)
        cv2.fillPoly(src, cs, 1)
        src = src.astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="samatte_synthstills_") as tmp:
        from samatte.io.exr import write_image
        write_image(os.path.join(tmp, "plate.00001.exr"), comp, channels=["R", "G", "B"])
        for p in protocols:
            m = make_mask(src, p)
            cov = float(m.mean())
            row = {"name": name, "kind": kind, "idx": idx, "fold": "AB"[idx % 2], "protocol": p}
            if cov == 0.0 or cov == 1.0:
                why = "mask %s (GT > %.2f covers %.2f%%, max alpha %.2f)" % (
                    "empty" if cov == 0.0 else "full", thr, 100 * float((gt > thr).mean()), float(gt.max()))
                lines.append("%-9s %-7s skipped: %s" % (name, p, why))
                rows.append(dict(row, skipped=why))
                continue
            t = time.time()
            a = product_refine(os.path.join(tmp, "plate.#####.exr"), m, tmp, p, options=options)
            el = time.time() - t
            row.update(mask_mad=M.mad(m, gt), ours_mad=M.mad(a, gt), mask_iou=iou(m, gt), ours_iou=iou(a, gt),
                       time=el, skipped=None)
            row["ratio"] = row["ours_mad"] / max(row["mask_mad"], 1e-9)
            rows.append(row)
            lines.append("%-9s %-7s mask MAD %6.1f IoU %.3f   ours MAD %6.1f (%.2fx) IoU %.3f (%+.3f)  %.1fs" % (
                name, p, row["mask_mad"], row["mask_iou"], row["ours_mad"], row["ratio"], row["ours_iou"],
                row["ours_iou"] - row["mask_iou"], el))
            if save:
                cv2.imwrite(os.path.join(save, "%s_%s.png" % (name, p)), _strip(comp, gt, m, a))
    return rows, lines


def report(rows, kinds, protocols):
    done = [r for r in rows if not r["skipped"]]
    print()
    print("summary (ratio = ours MAD / mask MAD; folds: A = even case index, B = odd)")
    hdr = "%-8s %-4s %5s %9s %9s %7s %9s %9s  %-7s %-8s %s" % (
        "protocol", "fold", "n", "mask MAD", "ours MAD", "ratio", "mask IoU", "ours IoU", "worse", "IoU-loss",
        "worst three by ratio")
    print(hdr)
    print("-" * len(hdr))
    for p in protocols:
        for f in ("A", "B", "all"):
            sel = [r for r in done if r["protocol"] == p and (f == "all" or r["fold"] == f)]
            if not sel:
                continue
            mm = np.mean([r["mask_mad"] for r in sel])
            om = np.mean([r["ours_mad"] for r in sel])
            worse = sum(r["ratio"] > 1.0 for r in sel)
            lost = sum(r["mask_iou"] - r["ours_iou"] > 0.01 for r in sel)
            worst = sorted(sel, key=lambda r: r["ratio"], reverse=True)[:3]
            print("%-8s %-4s %5d %9.1f %9.1f %7.3f %9.3f %9.3f  %-7s %-8s %s" % (
                p, f, len(sel), mm, om, om / max(mm, 1e-9), np.mean([r["mask_iou"] for r in sel]),
                np.mean([r["ours_iou"] for r in sel]), "%d/%d" % (worse, len(sel)), "%d/%d" % (lost, len(sel)),
                ", ".join("%s %.2f" % (r["name"], r["ratio"]) for r in worst)))
    lost = [r for r in done if r["mask_iou"] - r["ours_iou"] > 0.01]
    if lost:
        print("losing > 0.01 IoU: " + ", ".join("%s/%s %.3f" % (r["name"], r["protocol"], r["mask_iou"] - r["ours_iou"])
                                                 for r in sorted(lost, key=lambda r: r["ours_iou"] - r["mask_iou"])))
    skipped = [r for r in rows if r["skipped"]]
    if skipped:
        print("skipped: " + ", ".join("%s/%s" % (r["name"], r["protocol"]) for r in skipped))
    print()
    print("mean per-case ratio per type (n cases; worse-than-mask count)")
    hdr = "%-9s" % "type" + "".join("%18s" % p for p in protocols) + "%18s" % "all"
    print(hdr)
    print("-" * len(hdr))
    for k in kinds:
        cells = []
        for p in list(protocols) + [None]:
            sel = [r for r in done if r["kind"] == k and (p is None or r["protocol"] == p)]
            cells.append("%18s" % ("%.2f (%d; %d)" % (np.mean([r["ratio"] for r in sel]), len(sel),
                                                       sum(r["ratio"] > 1 for r in sel)) if sel else "-"))
        print("%-9s" % k + "".join(cells))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=",".join(OBJECTS), help="comma-separated of: " + ",".join(OBJECTS))
    ap.add_argument("--seeds", type=int, default=2, help="cases per type (index even: fold A, odd: fold B)")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    ap.add_argument("--fold", choices=("A", "B"), help="only this fold's cases")
    ap.add_argument("--mask-threshold", type=float, default=0.5,
                    help="masks are made from GT > T (default 0.5, as bench_stills)")
    ap.add_argument("--fill-holes", action="store_true",
                    help="fill the holes of GT > T (its outer outlines) before making the masks")
    add_colourspace_arg(ap)
    ap.add_argument("--option", action="append", default=[], metavar="K=V",
                    help="matte option for the product path (repeatable), e.g. evidence=1.0")
    add_override_args(ap)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="enlarge the background photos by this factor (2.25: 1920x1080) and draw the objects "
                         "at that size: the masks' errors stay in pixels (ds8 blocks), the band scales with "
                         "the frame")
    ap.add_argument("--near-bg", type=float, default=NEAR_BG, metavar="P",
                    help="share of cases whose foreground colour is moved to the background's under it "
                         "(default %.2f; 1: every case camouflaged, the colour-ambiguity stress test)" % NEAR_BG)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--save", default=None, metavar="DIR",
                    help="write a PNG strip per case and protocol: composite (sRGB) | gt | mask | ours")
    args = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(EVAL, "frames")):
        print("davis2016 frames not found at %s" % EVAL)
        return 1
    kinds = args.types.split(",")
    bad = [k for k in kinds if k not in OBJECTS]
    if bad:
        ap.error("unknown type(s) %s; known: %s" % (",".join(bad), ",".join(OBJECTS)))
    protocols = tuple(args.protocols.split(","))
    options = parse_kv(args.option)
    if not 0.0 <= args.near_bg <= 1.0:
        ap.error("--near-bg is a share of the cases, 0-1; got %g" % args.near_bg)
    apply_overrides(args)     # before the pool forks: the workers inherit it
    set_plate_colourspace(args.colourspace)
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    idxs = [i for i in range(args.seeds) if not args.fold or "AB"[i % 2] == args.fold]
    jobs = [(k, i, protocols, options, args.save, args.mask_threshold, args.fill_holes, args.scale,
             args.near_bg) for k in kinds for i in idxs]
    print("synthetic stills: %d cases (%s x %d seeds), protocols %s, masks from GT > %.2f%s, options %s"
          % (len(jobs), ",".join(kinds), len(idxs), ",".join(protocols), args.mask_threshold,
             " (holes filled)" if args.fill_holes else "", options or "{}"))
    t0 = time.time()
    rows = []
    if args.jobs > 1:
        from multiprocessing import Pool
        with Pool(args.jobs) as pool:
            for rr, lines in pool.imap(run_case, jobs):
                print("\n".join(lines), flush=True)
                rows += rr
    else:
        for j in jobs:
            rr, lines = run_case(j)
            print("\n".join(lines), flush=True)
            rows += rr
    report(rows, kinds, protocols)
    print("\ntotal %.1fs (%d refines, %d jobs)" % (time.time() - t0, sum(1 for r in rows if not r["skipped"]),
                                                   args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
