"""Initial masks from the prompts of one keyframe (shared by the weights-free trackers).

How the prompts of one object on one frame combine (documented rule):

1. ``base`` = union of the dense prompts (``mask``, ``polygon``, ``bezier``: their ``mask_array`` /
   ``soft_array``) and of the boxes. A box becomes a filled rectangle (``box_mode="rect"``, the
   shape tracker) or a cv2.grabCut segmentation inside the rectangle (``box_mode="grabcut"``, the flow
   tracker).
2. ``points``: if ``base`` is not empty, grabCut refines it (base = probable foreground, positive
   points = certain foreground, negative points = certain background). Otherwise grabCut segments from
   the points alone: certain foreground discs at the positive points, certain background at the
   negatives and outside a rectangle around the positives expanded by their spread (at least a fifth
   of the image's long side).

GrabCut is a colour-model + graph-cut segmentation: it is a weights-free stand-in and SAM2
(``backend="sam2"``) does far better from boxes and clicks. In particular a single click on an object
much larger than the search rectangle, or whose colours also fill the background, can collapse to
the clicked disc: give such objects a box or a mask/roto shape instead. It runs at the working resolution
(long side ``work_size``) and its result is resized to the canvas.
"""
import cv2
import numpy as np

from ..errors import PromptError

__all__ = ["keyframe_soft", "keyframe_mask", "object_keyframes", "grabcut_box", "grabcut_points",
           "grabcut_labels", "to_u8", "work_shape"]


def work_shape(shape, work_size):
    """(h, w) of the working resolution: the canvas scaled so its long side is ``work_size`` (never
    upscaled)."""
    H, W = shape
    s = min(1.0, float(work_size) / max(H, W))
    return max(1, int(round(H * s))), max(1, int(round(W * s)))


def to_u8(display):
    """Display-referred float RGB in [0, 1] -> uint8 RGB."""
    return np.clip(np.asarray(display, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


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


def keyframe_soft(prompts, shape, *, image=None, work_size=640, box_mode="grabcut"):
    """The object's mask on a keyframe as float32 (H, W) in [0, 1] at canvas ``shape``.

    ``prompts``: the tracker prompts of one object on one frame (see :mod:`samatte.prompts`).
    ``image``: a callable returning the display-referred float RGB canvas image (only called when
    grabCut is needed). See the module docstring for how prompts combine.
    """
    H, W = shape
    soft = np.zeros((H, W), np.float32)
    boxes = [p["box"] for p in prompts if p["type"] == "box"]
    pts = [p for p in prompts if p["type"] == "points"]
    for p in prompts:
        if "mask_array" in p:
            s = p.get("soft_array")
            s = s if s is not None else p["mask_array"].astype(np.float32)
            np.maximum(soft, s, out=soft)
    need_img = bool(pts) or (boxes and box_mode == "grabcut")
    img = None
    if need_img:
        hw = work_shape(shape, work_size)
        img = cv2.resize(to_u8(image()), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        sx, sy = hw[1] / float(W), hw[0] / float(H)
    for b in boxes:
        if box_mode == "grabcut":
            m = grabcut_box(img, [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy])
            m = cv2.resize(m.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
            np.maximum(soft, m, out=soft)
        else:
            x0, y0 = int(round(b[0])), int(round(b[1]))
            x1, y1 = max(x0 + 1, int(round(b[2]))), max(y0 + 1, int(round(b[3])))
            soft[y0:y1, x0:x1] = 1.0
    if pts:
        allp = [q for p in pts for q in p["points"]]
        alll = [q for p in pts for q in p["labels"]]
        base = None
        if (soft >= 0.5).any():
            base = cv2.resize(soft, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA) >= 0.5
        m = grabcut_points(img, [[x * sx, y * sy] for x, y in allp], alll, base=base)
        soft = cv2.resize(m.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    return soft


def object_keyframes(ob):
    """Sorted frames on which the tracker object ``ob`` has prompts (PromptError when none)."""
    ks = sorted(int(f) for f, ps in ob.prompts.items() if ps)
    if not ks:
        raise PromptError("object %r has no prompts" % ob.name, object=ob.name)
    return ks


def keyframe_mask(ob, frame, shape, *, image, work_size, box_mode):
    """(soft, mask) of ``ob``'s prompts on ``frame`` (:func:`keyframe_soft`, mask = soft >= 0.5);
    PromptError when the mask is empty."""
    soft = keyframe_soft(ob.prompts[frame], shape, image=image, work_size=work_size, box_mode=box_mode)
    m = soft >= 0.5
    if not m.any():
        raise PromptError("the prompts of object %r on frame %d give an empty mask" % (ob.name, frame),
                          object=ob.name, frame=frame)
    return soft, m
