"""Initial masks from the prompts of one keyframe, and corrections on other frames (shared by the
weights-free trackers).

Which frames define an object (documented rule, :func:`samatte.jobspec.anchor_frames`, shared with the
SAM2 tracker and the cache keys): its **shape keyframes** are the
frames with an add-mode shape (``mask``, ``polygon``, ``bezier``, ``box``). Every other frame with
prompts (points, subtract shapes) is a **hint** frame: a correction of the tracked mask, never a new
shape. An object with no shape at all is seeded from its first frame with a positive point (that frame
is its only keyframe; its later points are hints). So a positive point on every frame (a Nuke Tracker4
track, a Blender marker) no longer re-segments every frame.

How the prompts of one object on one keyframe combine:

1. ``base`` = union of the add-mode dense prompts (``mask``, ``polygon``, ``bezier``: their
   ``mask_array`` / ``soft_array``) and of the add-mode boxes. A box becomes a filled rectangle
   (``box_mode="rect"``, the shape tracker) or a cv2.grabCut segmentation inside the rectangle
   (``box_mode="grabcut"``, the flow tracker; made at the working resolution, and cut to the box's own
   pixels once enlarged to the canvas).
2. ``points``: if ``base`` is not empty they are hints (below): a point that agrees with the shape
   changes nothing. Otherwise grabCut segments from the points alone: certain foreground discs at the
   positive points, certain background at the negatives and outside a rectangle around the positives
   expanded by their spread (at least a fifth of the image's long side).
3. subtract-mode prompts (their ``mask_array``, or the rectangle of a box) are removed from the result.

How a hint corrects a mask (:func:`apply_hints`, on keyframes with a shape and on hint frames): a
positive point outside the mask or a negative point inside it contradicts the mask; only then grabCut
re-segments a window around that point (about a fifth of the long side) and the part of its answer
connected to the click is added (positive) or removed (negative); at least a disc around the click
(1.2 % of the long side) changes. A negative click on a separate part of the mask that is not its
largest removes that whole part. A point the mask agrees with does nothing. Subtract shapes on a hint
frame are removed from the tracked mask.

GrabCut is a colour-model + graph-cut segmentation: it is a weights-free stand-in and SAM2
(``backend="sam2"``) does far better from boxes and clicks. In particular a single click on an object
much larger than the search rectangle, or whose colours also fill the background, can collapse to
the clicked disc: give such objects a box or a mask/roto shape instead. It runs at the working resolution
(long side ``work_size``) and its result is resized to the canvas.
"""
import math

import cv2
import numpy as np

from ..errors import PromptError
from ..jobspec import anchor_frames, is_subtract_shape, prompt_frame_kind

__all__ = ["keyframe_soft", "keyframe_mask", "object_keyframes", "object_roles",
           "is_shape", "apply_hints", "hint_arrays", "grabcut_box", "grabcut_points", "grabcut_labels",
           "to_u8", "work_shape", "subtract_mask", "subtract_cut"]


def work_shape(shape, work_size):
    """(h, w) of the working resolution: the canvas scaled so its long side is ``work_size`` (never
    upscaled)."""
    H, W = shape
    s = min(1.0, float(work_size) / max(H, W))
    return max(1, int(round(H * s))), max(1, int(round(W * s)))


def to_u8(display):
    """Display-referred float RGB in [0, 1] -> uint8 RGB: clip(x * 255 + 0.5, 0, 255) in float32, then
    truncated; the products, sums and clip done in one float32 buffer (no temporaries of the frame)."""
    t = np.multiply(np.asarray(display, np.float32), np.float32(255.0))
    t += np.float32(0.5)
    np.clip(t, 0, 255, out=t)
    return t.astype(np.uint8)


def grabcut_labels(img, gc, iters):
    """cv2.grabCut from the label map ``gc`` (updated in place), reproducibly seeded: the bool
    foreground it settles on, or None when OpenCV refuses the input."""
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0x5A17)  # grabCut's k-means initialisation is random: keep results reproducible
    try:
        cv2.grabCut(img, gc, None, bgd, fgd, int(iters), cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)


def _run_grabcut(img, gc, iters):
    fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    if fg.all() or not fg.any():
        return fg
    out = grabcut_labels(img, gc, iters)
    return fg if out is None else out


def grabcut_box(img, box, *, iters=4):
    """GrabCut inside ``box`` = [x0, y0, x1, y1] (pixels of ``img``). Returns bool (h, w)."""
    h, w = img.shape[:2]
    x0, y0 = int(np.floor(max(0, box[0]))), int(np.floor(max(0, box[1])))
    x1, y1 = int(np.ceil(min(w, box[2]))), int(np.ceil(min(h, box[3])))
    out = np.zeros((h, w), bool)
    if x1 - x0 < 2 or y1 - y0 < 2:
        out[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)] = True
        return out
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[y0:y1, x0:x1] = cv2.GC_PR_FGD
    if x0 == 0 and y0 == 0 and x1 == w and y1 == h:  # box is the whole image: nothing to learn BG from
        out[:] = True
        return out
    res = _run_grabcut(img, gc, iters)
    if not res.any():  # grabCut found nothing: fall back to the box itself
        res[y0:y1, x0:x1] = True
    return res


def _discs(shape, pts, radius):
    m = np.zeros(shape, np.uint8)
    for x, y in pts:
        cv2.circle(m, (int(x), int(y)), int(radius), 1, -1)
    return m.astype(bool)


def grabcut_points(img, points, labels, *, base=None, iters=4):
    """GrabCut seeded by clicks (pixels of ``img``); ``base`` (bool) is an optional probable-foreground
    start. Returns bool (h, w)."""
    h, w = img.shape[:2]
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    labs = np.asarray(labels, int).reshape(-1)
    pos = pts[labs == 1]
    neg = pts[labs == 0]
    r = max(2, int(round(0.012 * max(h, w))))
    if base is not None and base.any():
        gc = np.where(base, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        band = max(3, int(round(0.05 * max(h, w))))
        near = cv2.dilate(base.astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))).astype(bool)
        near |= _discs((h, w), pos, 4 * r)
        gc[~near] = cv2.GC_BGD
    else:
        gc = np.full((h, w), cv2.GC_BGD, np.uint8)
        lo, hi = pos.min(axis=0), pos.max(axis=0)
        pad = max(0.2 * max(h, w), float((hi - lo).max()))
        x0, y0 = int(max(0, lo[0] - pad)), int(max(0, lo[1] - pad))
        x1, y1 = int(min(w, hi[0] + pad + 1)), int(min(h, hi[1] + pad + 1))
        gc[y0:y1, x0:x1] = cv2.GC_PR_BGD
        gc[_discs((h, w), pos, 3 * r) & (gc == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    gc[_discs((h, w), pos, r)] = cv2.GC_FGD
    if len(neg):
        gc[_discs((h, w), neg, r)] = cv2.GC_BGD
    if not (gc == cv2.GC_BGD).any() and not (gc == cv2.GC_PR_BGD).any():
        return np.ones((h, w), bool)
    res = _run_grabcut(img, gc, iters)
    res |= _discs((h, w), pos, r)
    if len(neg):
        res &= ~_discs((h, w), neg, r)
    # keep only the connected parts that hold a positive click
    n, lab = cv2.connectedComponents(res.astype(np.uint8), connectivity=8)
    if n > 2:
        keep = {int(lab[min(h - 1, int(y)), min(w - 1, int(x))]) for x, y in pos} - {0}
        res = np.isin(lab, sorted(keep))
    return res


def is_shape(p):
    """Whether a tracker prompt defines its object's shape (an add-mode mask, polygon, bezier or box)."""
    return p.get("type") in ("mask", "polygon", "bezier", "box") and p.get("mode", "add") != "subtract"


_subtracts = is_subtract_shape


def _rect(shape, b):
    """The pixels of box ``b`` = [x0, y0, x1, y1] (canvas): those whose centre is in [x0, x1) x [y0, y1),
    as a polygon prompt of the same rectangle takes them (at least one)."""
    m = np.zeros(tuple(shape), bool)
    x0, y0, x1, y1 = _rect_bounds(shape, b)
    m[y0:y1, x0:x1] = True
    return m


def _rect_bounds(shape, b):
    """(x0, y0, x1, y1): the slices of :func:`_rect`'s pixels."""
    H, W = shape
    x0, y0 = int(math.ceil(max(0.0, b[0]) - 0.5)), int(math.ceil(max(0.0, b[1]) - 0.5))
    x1 = max(x0 + 1, int(math.ceil(min(float(W), b[2]) - 0.5)))
    y1 = max(y0 + 1, int(math.ceil(min(float(H), b[3]) - 0.5)))
    return x0, y0, x1, y1


def _outside_zero(m, shape, b):
    """Set ``m`` (H, W) to 0 outside the pixels of box ``b`` (:func:`_rect`), in place."""
    x0, y0, x1, y1 = _rect_bounds(shape, b)
    m[:y0] = 0
    m[y1:] = 0
    m[:, :x0] = 0
    m[:, x1:] = 0
    return m


def _points_of(prompts):
    pts = [q for p in prompts if p["type"] == "points" for q in p["points"]]
    labs = [q for p in prompts if p["type"] == "points" for q in p["labels"]]
    return pts, labs


def subtract_mask(prompts, shape):
    """Union (bool (H, W)) of the subtract-mode prompts of one frame, or None when there are none."""
    out = None
    for p in prompts:
        if not _subtracts(p):
            continue
        m = p["mask_array"] if "mask_array" in p else _rect(shape, p["box"])
        out = m.copy() if out is None else (out | m)
    return out


def subtract_cut(prompts, shape):
    """The share of the object's alpha its subtract-mode prompts of one frame remove, float32 (H, W) in
    [0, 1], or None when there are none: 1 on the pixels :func:`subtract_mask` removes from the track
    (a polygon / bezier's pixel centres inside, a mask's threshold, a box's pixels), and outside them a
    polygon / bezier's own soft edge (its anti-aliased coverage widened by its ``feather``, the
    prompt's ``"soft_array"``); masks and boxes are hard. The union of several shapes is their maximum."""
    out = None
    for p in prompts:
        if not _subtracts(p):
            continue
        if "mask_array" in p:
            m = p["mask_array"].astype(np.float32)
            s = p.get("soft_array") if p["type"] in ("polygon", "bezier") else None
            if s is not None:
                np.maximum(m, np.clip(np.asarray(s, np.float32), 0.0, 1.0), out=m)
        else:
            m = _rect(shape, p["box"]).astype(np.float32)
        out = m if out is None else np.maximum(out, m, out=out)
    return out


def keyframe_soft(prompts, shape, *, image=None, work_size=640, box_mode="grabcut"):
    """The object's mask on a keyframe as float32 (H, W) in [0, 1] at canvas ``shape``.

    ``prompts``: the tracker prompts of one object on one frame (see :mod:`samatte.prompts`).
    ``image``: a callable returning the display-referred float RGB canvas image (only called when
    grabCut is needed). See the module docstring for how prompts combine.
    """
    H, W = shape
    soft = np.zeros((H, W), np.float32)
    adds = [p for p in prompts if is_shape(p)]
    boxes = [p["box"] for p in adds if p["type"] == "box"]
    allp, alll = _points_of(prompts)
    for p in adds:
        if "mask_array" in p:
            s = p.get("soft_array")
            s = s if s is not None else p["mask_array"].astype(np.float32)
            np.maximum(soft, s, out=soft)
    seg_points = bool(allp) and not adds and any(alll)
    need_img = seg_points or (boxes and box_mode == "grabcut")
    img = None
    if need_img:
        hw = work_shape(shape, work_size)
        img = cv2.resize(to_u8(image()), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        sx, sy = hw[1] / float(W), hw[0] / float(H)
    for b in boxes:
        if box_mode == "grabcut":
            m = grabcut_box(img, [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy])
            m = cv2.resize(m.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
            # the segmentation is inside the box: enlarged from the working resolution, its pixels reached
            # past the box's edges (a box drawn tight on an object: a 2-3 px ring outside it at 1080p)
            _outside_zero(m, shape, b)
            np.maximum(soft, m, out=soft)
        else:
            soft[_rect(shape, b)] = 1.0
    if seg_points:
        m = grabcut_points(img, [[x * sx, y * sy] for x, y in allp], alll)
        soft = cv2.resize(m.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    elif allp and adds:
        hard = soft >= 0.5
        new = hint_mask(hard, prompts, shape, image=image, work_size=work_size)
        if new is not hard:
            soft = np.where(new == hard, soft, new.astype(np.float32)).astype(np.float32)
    sub = subtract_mask(prompts, shape)
    if sub is not None:
        soft[sub] = 0.0
    return soft


def object_roles(ob):
    """(shape keyframes, hint frames) of the tracker object ``ob``: sorted host frames (see the
    module docstring). PromptError when the object has neither a shape nor a positive point."""
    frames = sorted(int(f) for f, ps in ob.prompts.items() if ps)
    if not frames:
        raise PromptError("object %r has no prompts" % ob.name, object=ob.name)
    keys = anchor_frames({f: prompt_frame_kind(ob.prompts[f]) for f in frames})
    if not keys:
        raise PromptError("object %r has no shape and no positive point: subtract shapes and negative "
                          "clicks only correct an object's shape" % ob.name, object=ob.name)
    ks = set(keys)
    return keys, [f for f in frames if f not in ks]


def object_keyframes(ob):
    """Sorted shape keyframes of the tracker object ``ob`` (:func:`object_roles`)."""
    return object_roles(ob)[0]


def keyframe_mask(ob, frame, shape, *, image, work_size, box_mode):
    """(soft, mask) of ``ob``'s prompts on ``frame`` (:func:`keyframe_soft`, mask = soft >= 0.5);
    PromptError when the mask is empty."""
    soft = keyframe_soft(ob.prompts[frame], shape, image=image, work_size=work_size, box_mode=box_mode)
    m = soft >= 0.5
    if not m.any():
        raise PromptError("the prompts of object %r on frame %d give an empty mask" % (ob.name, frame),
                          object=ob.name, frame=frame)
    return soft, m


# -- hints: corrections of a tracked mask ------------------------------------------------------------

def _component_at(m, x, y):
    """The 8-connected component of bool ``m`` holding pixel (x, y) (empty if that pixel is off)."""
    h, w = m.shape
    xi, yi = min(w - 1, max(0, int(x))), min(h - 1, max(0, int(y)))
    if not m[yi, xi]:
        return np.zeros_like(m)
    _, lab = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
    return lab == lab[yi, xi]


def apply_hints(mask, img, points, labels):
    """Correct bool ``mask`` (h, w) with clicks (pixels of ``img``, uint8 RGB (h, w, 3)): see the
    module docstring. Returns (new mask, changed) -- the input array itself when nothing changed."""
    h, w = mask.shape
    r = max(2, int(round(0.012 * max(h, w))))
    # the window: a fifth of the long side, or larger for a large object (its equivalent diameter)
    half = max(4 * r, int(round(0.1 * max(h, w))), int(round(0.6 * math.sqrt(float(mask.sum())))))
    out = mask
    for (x, y), lab in zip(points, labels):
        xi, yi = min(w - 1, max(0, int(x))), min(h - 1, max(0, int(y)))
        inside = bool(out[yi, xi])
        if inside == bool(lab):
            continue  # the mask agrees with this click
        if out is mask:
            out = mask.copy()
        x0, y0 = max(0, xi - half), max(0, yi - half)
        x1, y1 = min(w, xi + half + 1), min(h, yi + half + 1)
        crop = out[y0:y1, x0:x1]
        cimg = np.ascontiguousarray(img[y0:y1, x0:x1])
        cx, cy = x - x0, y - y0
        disc = _discs(crop.shape, [[cx, cy]], r)
        if lab:
            res = None
            if crop.shape[0] >= 2 and crop.shape[1] >= 2:
                res = _grabcut_add(cimg, crop, cx, cy, r)
            add = disc if res is None else (_component_at(res & ~crop, cx, cy) | disc)
            crop |= add
        else:
            n, lab_img, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
            c = lab_img[yi, xi]
            if n > 2 and stats[c, cv2.CC_STAT_AREA] < stats[1:, cv2.CC_STAT_AREA].max():
                out &= lab_img != c  # a separate, smaller part of the mask: the click removes all of it
                continue
            res = None
            if crop.shape[0] >= 2 and crop.shape[1] >= 2 and (~crop).any():
                res = _grabcut_remove(cimg, crop, cx, cy, r)
            rem = disc if res is None else (_component_at(crop & ~res, cx, cy) | disc)
            crop &= ~rem
    return out, out is not mask


def _grabcut_add(img, base, x, y, r):
    """GrabCut in a window with a positive click at (x, y) outside the mask ``base``: the click is
    certain foreground, the mask and the click's surroundings probable foreground (the object's
    colours), the rest probable background and the window's border certain background. Bool (h, w)."""
    h, w = base.shape
    gc = np.where(base, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    gc[border & ~base] = cv2.GC_BGD
    gc[_discs((h, w), [[x, y]], 3 * r) & ~base & ~border] = cv2.GC_PR_FGD
    gc[_discs((h, w), [[x, y]], r)] = cv2.GC_FGD
    if not (gc == cv2.GC_BGD).any():
        return None
    return grabcut_labels(img, gc, 4)


def _grabcut_remove(img, base, x, y, r):
    """GrabCut inside ``base`` with a negative click at (x, y): bool foreground (h, w)."""
    gc = np.where(base, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
    gc[_discs(base.shape, [[x, y]], r) & base] = cv2.GC_BGD
    if not (gc == cv2.GC_PR_FGD).any():
        return base & False
    out = grabcut_labels(img, gc, 4)
    return base if out is None else (out & base)


def hint_arrays(prompts, shape, work_shape_):
    """The hint content of one frame's prompts, at the working resolution ``work_shape_`` (h, w):
    (points (P, 2) in working pixels, labels (P,), subtract mask bool (h, w) or None)."""
    H, W = shape
    h, w = work_shape_
    sx, sy = w / float(W), h / float(H)
    pts, labs = _points_of(prompts)
    pw = [[x * sx, y * sy] for x, y in pts]
    sub = subtract_mask(prompts, shape)
    if sub is not None:
        sub = cv2.resize(sub.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    return pw, labs, sub


def hint_mask(mask, prompts, shape, *, image, work_size=640):
    """``mask`` (bool (H, W) at canvas ``shape``) corrected by one frame's hints (clicks and subtract
    shapes). Clicks are applied at the working resolution and the changes resized to the canvas.
    Returns the input array itself when nothing changed."""
    H, W = shape
    pts, labs = _points_of(prompts)
    out = mask
    if pts:
        hw = work_shape(shape, work_size)
        sx, sy = hw[1] / float(W), hw[0] / float(H)
        small = cv2.resize(mask.astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_AREA) >= 0.5
        need = any(bool(small[min(hw[0] - 1, int(y * sy)), min(hw[1] - 1, int(x * sx))]) != bool(lab)
                   for (x, y), lab in zip(pts, labs))
        if need:
            img = cv2.resize(to_u8(image()), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
            fixed, changed = apply_hints(small, img, [[x * sx, y * sy] for x, y in pts], labs)
            if changed:
                add = cv2.resize((fixed & ~small).astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR) >= 0.5
                rem = cv2.resize((small & ~fixed).astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR) >= 0.5
                out = (mask | add) & ~rem
    sub = subtract_mask(prompts, shape)
    if sub is not None and (out & sub).any():
        out = out & ~sub
    return out
