"""The weights-free optical-flow tracker (``backend="flow"``): the default when no SAM2 weights are
installed, and the demo's.

Per object, a soft mask (log-odds "logits", positive inside) is carried from frame to frame by dense
optical flow (OpenCV DIS, medium preset, computed down to the finest scale) on the display-referred
image scaled to a working resolution (long side ``work_size``, default 640), and re-anchored on every
keyframe. Each step from frame *a* to its neighbour *b* (in the job's frame list, so gaps such as
1001-1100x2 are just larger steps):

1. **Warp**: flow b->a samples the logits of *a* at *b* (backward warping, no holes).
2. **Forward-backward consistency** (Sundaram et al. 2010): where the flow a->b does not bring a pixel
   back (|w + w'|^2 > 0.01 (|w|^2 + |w'|^2) + 0.5) or leaves the image, the pixel is treated as
   occluded/unreliable and its warped logit is damped (multiplied by ``occluded_trust``), so the
   other evidence decides there.
3. **Colour model**: per object, foreground and local-background colour histograms (16^3 RGB bins,
   background sampled only in a ring around the object) learned on the keyframe and slowly updated
   (rate ``colour_rate``) from confident, flow-consistent pixels; their log-likelihood ratio (clipped
   to +-4) is added to the logits in a band around the warped boundary. The band is ``band`` x the
   long side wide, but at most a quarter of the object's equivalent diameter (small objects keep a
   certain core).
4. **Re-segmentation** near the boundary: cv2.grabCut on a crop around the object, initialised with
   certain labels away from the boundary (where the flow is consistent) and probable labels (the sign
   of the combined logits) inside the band and on unreliable pixels. Its graph cut snaps the contour
   to image edges and its own GMM colour models (fitted on this frame) correct drift. GrabCut casts a
   vote of +-``grabcut_weight`` x ``logit_clip`` into the logits: it decides where the prior is unsure
   (edges, occlusions) but cannot overturn a confident, consistent flow prior; and an answer that
   makes the object's area shrink below 0.6x or grow beyond 1.6x in one step is ignored (it latched
   onto wrong colours); the part the motion carries out of the frame is an expected loss, so the lower
   bound is 0.6x of the area predicted to stay (see **Exits**).

The logits are clipped to +-``logit_clip`` and stay soft for the matting stage.

Measured on five DAVIS-2016 sequences (bench/bench_davis.py, mask prompt on the first frame): mean
J&F 0.55 against 0.39 for plain DIS warping of the previous mask, at several times its cost.

**Keyframes and direction.** With keyframes k1 < ... < km the shot is covered by passes: backward from
k1 to the first frame, forward from km to the last frame, and for each pair of consecutive keyframes
(A, B) a forward pass from A and a backward pass from B over the frames between them. Between A and B
the two results are blended in logit space with weights proportional to the (host-frame) distance to
the *other* keyframe: w_A = (B - f) / (B - A), w_B = (f - A) / (B - A). The nearest keyframe therefore
dominates and a correction keyframe sticks to the frames around it; exactly on a keyframe the prompt's
mask is used as is (at canvas resolution).

**Hints.** Only an object's shape keyframes (add-mode mask / polygon / bezier / box; for an object
with no shape, its first frame with a positive point) are keyframes. Points and subtract shapes on
other frames are corrections (:mod:`samatte.track.seed`): when a pass reaches such a frame, the carried
logits are fixed where the mask contradicts a click (a window around it re-segmented, the part
connected to the click set to +-0.75 ``logit_clip``) or overlaps a subtract shape (set to
-``logit_clip``), and the pass carries the fix on. A click the mask agrees with changes nothing, so a
correct point on every frame (a Tracker4 track) gives the shape-only result; on the demo shot
(bench/bench_prompts.py) MAD 6.92 both ways, where every such frame used to be a grabCut keyframe
(29.0). Hint frames neither restart the track (``ref``) nor count as keyframes.

**Exits.** Content that leaves the frame has nothing to match in the next one: DIS reads the static
background's zero motion there (or a fraction of the true motion), which held the object's last pixels
at the edge (a ghost at full score on every later frame). Within a DIS patch of the border the object's
pixels move with the object's own motion (the median forward flow of its measurable, forward-backward
consistent pixels, kept from the last step that had a patch's worth of them) in the forward-backward
check. The object's pixels whose forward flow (so defined) leaves the image exit: the pixels that still
sample them carry nothing (trust 0, the colour model and grabCut decide), and the area gate expects
their loss. While part of it leaves, a pixel near the border that samples object content that left (or
disagrees with its motion) but that the object's motion fills from the object samples it by that
motion (DIS reads a fraction of the motion there). The same holds backward in time
(an object entering the frame). Needs ``fb_check`` (the forward flow); objects away from the border are
tracked as before, byte for byte.

**Static frames.** A step between two identical working images (a static plate, a held or repeated
frame) returns the previous frame's logits and score unchanged (and computes no flow): there is no
motion and no new evidence. Stepping anyway counted the same colour and grabCut votes again on every
frame, so a weak vote against the keyframe (colours the object shares with its background) overturned
its boundary after two steps and the mask crept on frame after frame.

**Flat frames.** A frame with no texture (a flash frame, a dip to black, an overexposed frame, a lens
cap; :func:`flat_frames`: a contrast (grey spread / mean grey) under a tenth of that of the frame the pass
starts from, or a spread under one grey level; contrast, not spread, so a low-key stretch of a shot that
brightens is not flat) carries no evidence about motion or about the object: DIS reads zero motion through it, which
stopped the mask there while the object moved on (IoU 0.3-0.6 for the rest of the shot). A pass steps
across such frames, not onto them: from the last textured frame to the next one (its flow, colours and
grabCut; the colour model never learns from a flat frame), and a flat frame at share t of the way gets
the carried logits moved by t x that flow, scored the lower of the two ends. Flat frames with no
textured frame after them in the pass get the carried logits moved on by the object's last measured
motion per step. A frame with a correction (hint) is stepped onto as before. Shots with no flat frame
are tracked as before, byte for byte.

**Tiny objects.** A keyframe's mask goes to the working resolution as its area average; an object
nowhere half a working pixel across (a dot, a wire) is kept as the working pixels it covers best
(:func:`key_soft`), not dropped.

**Tiny plates.** DIS needs about 12 px a side; a working image under 32 px a side has its flow
computed on the images enlarged to 32 px and scaled back, so plates down to 1x1 track.

**Memory.** Frames are read once (ascending) and kept only as uint8 RGB thumbnails at the working
resolution; the per-object logits are accumulated at the working resolution as float16. Both live in a
temporary folder as memory-mapped files when they exceed ``ram_mb`` (default 256 MB), so RAM holds
O(1) full-resolution frames: about 3 bytes + 2 bytes per object per working-resolution pixel per frame
(about 0.7 MB + 0.46 MB per object per frame at 640x360) go to disk or RAM. Keyframe masks are kept
bit-packed at canvas resolution (1 bit per pixel), in RAM up to a quarter of ``ram_mb``, then on
disk. TrackFrames are yielded after the passes, in ascending frame order, with ``ref`` = the previous
frame of the list (None on the first frame and on any object's keyframe).

**Shared flows.** The flow between two frames depends only on the two working-resolution images and
the DIS settings, not on the object, so a :class:`FlowCache` computes each (image, image) flow once
and hands it to every pass that steps between those frames: the forward and backward passes between
two keyframes (the same two flows, swapped), the objects of one ``track`` call, and, inside
:meth:`FlowTracker.shared_flows` (the pipeline opens it around the per-object passes of one job in one
process), the per-object ``track`` calls. A flow is keyed by a digest of the two grey images' bytes,
their shape and the DIS preset and finest scale, so only the very same computation is shared (DIS
does not depend on what it computed before; tested byte for byte). Objects tracked in separate
processes (farm per-object tasks) compute their own. It holds every flow it has computed until the
call (or the shared block) ends: in RAM up to an eighth of ``ram_mb``, then as .npy files in the
temporary folder (2 x 4 bytes x 2 per working-resolution pixel per frame step: about 3.7 MB per frame
at 640x360, fb_check on).

**Shared reading.** Inside :meth:`FlowTracker.shared_flows` the per-object ``track`` calls also share
the frames' working-resolution thumbnails and their grey statistics (a :class:`ThumbCache`): each frame
of the plate is read (decoded, made display-referred, resized) once for all the objects, not once per
object; a pass reads a full-resolution frame again only where a keyframe's prompts need the image
(grabCut on a box, clicks). The thumbnails are held in RAM up to an eighth of ``ram_mb``, then as .npy
files in the block's temporary folder (up to :data:`THUMB_DISK_BYTES`, past which a frame is read
again). The thumbnails are the same bytes either way (tested byte for byte).

Multiple objects are tracked independently; where their masks overlap the object with the higher
logit wins. ``ObjectTrack.logits`` is the float32 logit map at the working resolution (covering the
canvas), ``mask`` the bool mask at canvas resolution, ``score`` a confidence in [0, 1].

Options (``tracker.options`` in the JobSpec): ``work_size`` (640), ``flow_preset`` ("medium";
"ultrafast", "fast", "medium"), ``flow_finest_scale`` (0 = full working resolution; 1 is about twice
as fast and worse on small fast objects), ``fb_check`` (True), ``occluded_trust`` (0.25), ``colour``
(True), ``colour_weight`` (1.0), ``colour_rate`` (0.05), ``grabcut`` (True), ``grabcut_iters`` (2),
``grabcut_weight`` (0.5), ``band`` (0.025), ``logit_clip`` (8.0), ``ram_mb`` (256), ``work_dir``
(None: the system's temp folder). Unknown keys are ignored (the JobSpec's options may carry keys for
other backends).
"""
import contextlib
import hashlib
import math
import os
import re
import shutil
import tempfile

import cv2
import numpy as np

from ..errors import OutputError, PromptError
from ..progress import Progress, check_cancel
from ..stages import ObjectTrack, Tracker, TrackFrame
from .seed import apply_hints, grabcut_labels, hint_arrays, keyframe_mask, object_roles, to_u8, work_shape

__all__ = ["FlowTracker", "FlowPropagator", "FlowCache", "ThumbCache", "DEFAULTS", "dis_flow", "flat_frames", "owned_masks", "key_logit", "key_soft"]

DEFAULTS = {
    "work_size": 640,
    "flow_preset": "medium",
    "fb_check": True,
    "occluded_trust": 0.25,
    "colour": True,
    "colour_weight": 1.0,
    "colour_rate": 0.05,
    "grabcut": True,
    "grabcut_iters": 2,
    "grabcut_weight": 0.5,
    "flow_finest_scale": 0,
    "band": 0.025,
    "logit_clip": 8.0,
    "ram_mb": 256,
    "work_dir": None,
}

_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
_BINS = 16  # histogram levels per channel
_MIN_FLOW_SIDE = 32  # smaller working images get their flow computed enlarged (DIS needs ~12 px)


def _options(options):
    """DEFAULTS updated with the flow tracker's own keys of ``options``, each checked against
    :data:`samatte.registry.TRACKER_OPTIONS` (type, range, finite: JobSpecError JOBSPEC_INVALID before
    any frame is read; the registry's flow_preset choices are the keys of ``_PRESETS``); keys of other
    backends are ignored."""
    from . import backend_options
    opts = dict(DEFAULTS)
    opts.update(backend_options("flow", options, DEFAULTS))
    return opts


def _colour_index(img):
    q = (img >> 4).astype(np.int32)  # 16 levels per channel
    return (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]


def _hist(idx, sel):
    return np.bincount(idx[sel].ravel(), minlength=_BINS ** 3).astype(np.float64)


def _normalise(h):
    h = h + 0.5  # Dirichlet pseudo-count: unseen colours are not impossible
    return h / h.sum()


def _disc(r):
    r = max(1, int(r))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _dilate_disc(mask, r):
    """``cv2.dilate(mask, _disc(r))`` as bool, computed on the box of ``mask``'s pixels grown by the
    disc's radius: every pixel outside that box is 0 in the full dilation, and the pixels cut off by the
    box are 0, which is what dilate's border (ignored) gives; the same answer for less work on a small
    object."""
    r = max(1, int(r))
    out = np.zeros(mask.shape, bool)
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(mask.any(0))
    h, w = mask.shape
    y0, y1 = max(0, rows[0] - r), min(h, rows[-1] + r + 1)
    x0, x1 = max(0, cols[0] - r), min(w, cols[-1] + r + 1)
    out[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), _disc(r)).astype(bool)
    return out


class FlowPropagator:
    """The per-step machinery of :class:`FlowTracker` at the working resolution (h, w), one object.

    Usable on its own: ``start(img_u8, logits)`` on a keyframe, then ``step(img_prev, img_cur)`` for
    each neighbouring frame returns the new logits (float32 (h, w)) and a score.
    """

    def __init__(self, shape, opts):
        self.h, self.w = shape
        self.o = opts
        self.dis = cv2.DISOpticalFlow_create(_PRESETS[opts["flow_preset"]])
        if opts["flow_finest_scale"] is not None:
            self.dis.setFinestScale(int(opts["flow_finest_scale"]))
        gy, gx = np.mgrid[0:self.h, 0:self.w].astype(np.float32)
        self.gx, self.gy = gx, gy
        self.R = max(3, int(round(float(opts["band"]) * max(self.h, self.w))))
        self.K = float(opts["logit_clip"])
        self.L = None
        self.fg = self.bg = None
        # pixels a DIS patch or more inside the image: the flow is measured there (nearer the border a
        # patch hangs over it, and content leaving the frame has nothing to match)
        P = int(self.dis.getPatchSize())
        self.measurable = (gx >= P) & (gx <= self.w - 1 - P) & (gy >= P) & (gy <= self.h - 1 - P)
        self.v = None   # the object's own motion (median flow), last measured
        self._score = 1.0   # the last step's score (a step on the same image repeats it)

    # -- colour model ---------------------------------------------------------------------------
    def _colour_samples(self, idx, L, sel_extra=None):
        """FG/BG colour histograms (and sample counts) of ``idx`` (:func:`_colour_index` of the image)."""
        inside = L > 0.25 * self.K
        ring = _dilate_disc(L > 0, 3 * self.R) & (L < -0.25 * self.K)
        if sel_extra is not None:
            inside &= sel_extra
            ring &= sel_extra
        return _hist(idx, inside), _hist(idx, ring), int(inside.sum()), int(ring.sum())

    def start(self, img, logits):
        self.L = np.asarray(logits, np.float32)
        self.v = None
        self._score = 1.0
        if self.o["colour"]:
            idx = _colour_index(img)
            fg, bg, nf, nb = self._colour_samples(idx, self.L)
            if nb == 0:  # object fills the image: use everything else
                bg = _hist(idx, self.L <= 0)
            self.fg, self.bg = _normalise(fg), _normalise(bg)

    def _grabcut(self, img, U, M, band, reliable, d_in, d_out, R, keep=1.0):
        """Re-segment near the boundary with grabCut; returns the new logits (U where it declines).
        ``keep``: the share of the object's area the motion predicts stays in the frame (:meth:`_exits`)."""
        K = self.K
        region = band | (~reliable & (d_out <= 2 * R))
        ys, xs = np.nonzero(region | M)
        y0, y1 = max(0, ys.min() - R), min(self.h, ys.max() + R + 1)
        x0, x1 = max(0, xs.min() - R), min(self.w, xs.max() + R + 1)
        sl = (slice(y0, y1), slice(x0, x1))
        uncertain = region[sl] | ~reliable[sl]
        Us = U[sl]
        gcm = np.where(uncertain, np.where(Us > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD),
                       np.where(Us > 0, cv2.GC_FGD, cv2.GC_BGD)).astype(np.uint8)
        if not (gcm == cv2.GC_FGD).any():
            # thin or small object: keep its medial core certain so that it cannot vanish
            di = d_in[sl]
            core = (di >= 0.6 * di.max()) & (Us > 0) & reliable[sl]
            gcm[core] = cv2.GC_FGD
        if not (gcm == cv2.GC_BGD).any() and not (gcm == cv2.GC_PR_BGD).any():
            return U
        if not ((gcm == cv2.GC_PR_FGD).any() or (gcm == cv2.GC_PR_BGD).any()):
            return U
        G = grabcut_labels(np.ascontiguousarray(img[sl]), gcm, self.o["grabcut_iters"])
        if G is None:
            return U
        # sanity gate: an object does not halve or double its area from one frame to the next; a
        # grabCut answer that does has latched onto the wrong colours and is ignored. The part the
        # motion carries out of the frame is an expected loss, not a failure: the lower bound is
        # 0.6 of the area predicted to stay
        ratio = G.sum() / max(1.0, float((Us > 0).sum()))
        if not 0.6 * keep <= ratio <= 1.6:
            return U
        out = U.copy()
        # grabCut casts a vote of ``grabcut_weight`` x K: it decides where the warped prior is unsure
        # (edges, occlusions) and cannot overturn a confident, consistent flow prior
        out[sl] = Us + float(self.o["grabcut_weight"]) * K * (2.0 * G.astype(np.float32) - 1.0)
        return out

    def _exits(self, f_pc, f_cp):
        """Where the object's content of the previous frame goes: (forward flow, exits). The forward flow
        is ``f_pc`` a DIS patch or more inside the image; nearer the border, where DIS has nothing to
        match for content that leaves (it reads the static background's zero motion or a fraction of the
        true one), the object's pixels (``self.L > 0``) move with the object's own motion: the median
        forward flow of its measurable, forward-backward consistent pixels, kept from the last step that
        had a patch's worth of them. ``exits`` (bool (h, w)): the object's pixels that its motion carries
        out of the image (before that motion is first measured: those whose own forward flow does; DIS's
        outliers on a large object's pixels are not taken for an exit)."""
        Ma = self.L > 0
        rows = np.flatnonzero(Ma.any(1))
        cols = np.flatnonzero(Ma.any(0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))   # the object's pixels' box
        fb = f_pc[box]
        ax = self.gx[box] + fb[..., 0]
        ay = self.gy[box] + fb[..., 1]
        # the image spans -0.5 .. w - 0.5 in pixel-centre coordinates
        inside = (ax >= -0.5) & (ax < self.w - 0.5) & (ay >= -0.5) & (ay < self.h - 0.5)
        back = cv2.remap(f_cp, ax, ay, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        d = fb + back
        ok = (d ** 2).sum(-1) <= 0.01 * ((fb ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
        sel = Ma[box] & self.measurable[box] & inside & ok
        P = int(self.dis.getPatchSize())
        if int(sel.sum()) >= P * P:
            self.v = (float(np.median(fb[..., 0][sel])), float(np.median(fb[..., 1][sel])))
        if self.v is None:
            out = np.zeros_like(Ma)
            out[box] = Ma[box] & ~inside
            return f_pc, out
        vx, vy = self.v
        gone = ((self.gx + vx < -0.5) | (self.gx + vx >= self.w - 0.5)
                | (self.gy + vy < -0.5) | (self.gy + vy >= self.h - 0.5))
        near = Ma & ~self.measurable
        if near.any():
            f_pc = f_pc.copy()
            f_pc[near] = (vx, vy)
        return f_pc, Ma & gone

    # -- one step -------------------------------------------------------------------------------
    def flow(self, g0, g1):
        return dis_flow(self.dis, g0, g1)

    def _own_flows(self, img_prev, img_cur):
        """The (flow cur->prev, flow prev->cur or None without fb_check) of :meth:`step`, computed here."""
        gp = cv2.cvtColor(np.asarray(img_prev), cv2.COLOR_RGB2GRAY)
        gc_ = cv2.cvtColor(np.asarray(img_cur), cv2.COLOR_RGB2GRAY)
        return self.flow(gc_, gp), (self.flow(gp, gc_) if self.o["fb_check"] else None)

    def flows(self, img_prev, img_cur, cache):
        """The (flow cur->prev, flow prev->cur or None without fb_check) of :meth:`step`, taken from
        ``cache`` (a :class:`FlowCache`) when it has them."""
        gp = cv2.cvtColor(img_prev, cv2.COLOR_RGB2GRAY)
        gc_ = cv2.cvtColor(img_cur, cv2.COLOR_RGB2GRAY)
        f_cp = cache.flow(self.dis, self.o, gc_, gp)
        f_pc = cache.flow(self.dis, self.o, gp, gc_) if self.o["fb_check"] else None
        return f_cp, f_pc

    def across(self, imgs, frames, i, run, k, cache=None):
        """Step from the textured frame index ``i`` across the flat frame indices ``run`` (in order) to the
        textured index ``k`` (None: none follows in the pass). Yields (index, logits, score) for each
        flat frame, then for ``k``. A flat frame carries no evidence, so the step is the one from ``i``
        to ``k`` (its flow, colours and grabCut), and a flat frame at host-frame share t of the way gets
        the logits of ``i`` moved by t x that flow (k -> i). With no textured frame after them the flat
        frames get the logits of ``i`` moved on by the object's last measured motion per step (held
        where it was never measured)."""
        Li, si = self.L.copy(), self._score
        K = self.K
        if k is None:
            vx, vy = self.v if self.v is not None else (0.0, 0.0)
            for s_, m in enumerate(run, 1):
                if vx == 0.0 and vy == 0.0:
                    L = Li.copy()
                else:
                    L = cv2.remap(Li, self.gx - s_ * vx, self.gy - s_ * vy, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=-K)
                self.L = L
                yield m, L, si
            return
        if np.array_equal(imgs[i], imgs[k]):
            f_cp = None
            Lk, sk = self.step(imgs[i], imgs[k])
        else:
            f_cp, f_pc = self.flows(imgs[i], imgs[k], cache) if cache is not None else self._own_flows(imgs[i], imgs[k])
            # the object's motion (``v``) is per step; the span is len(run) + 1 steps: its exits (near the
            # border) take that many steps' motion, and the motion it measures is kept per step again (the
            # flat frames that may end the pass, the next steps' exits use it)
            n_ = float(len(run) + 1)
            if self.v is not None:
                self.v = (self.v[0] * n_, self.v[1] * n_)
            Lk, sk = self.step(imgs[i], imgs[k], flows=(f_cp, f_pc))
            if self.v is not None:
                self.v = (self.v[0] / n_, self.v[1] / n_)
        span = float(frames[k] - frames[i])
        for m in run:
            if f_cp is None:
                L = Li.copy()
            else:
                t = (frames[m] - frames[i]) / span
                L = cv2.remap(Li, self.gx + t * f_cp[..., 0], self.gy + t * f_cp[..., 1], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
            yield m, L, min(si, sk)
        yield k, Lk, sk

    def step(self, img_prev, img_cur, *, flows=None):
        """Propagate the current logits from ``img_prev`` to ``img_cur`` (uint8 RGB (h, w, 3)).
        ``flows``: optional precomputed (flow cur->prev, flow prev->cur). Returns (logits, score)."""
        o, K, R = self.o, self.K, self.R
        if np.array_equal(img_prev, img_cur):
            # the same image (a static plate, a held frame): no motion and no new evidence, so the
            # answer of the previous frame stands. Stepping anyway adds the colour and grabCut votes that
            # decided it once more: they accumulated on the logits and overturned the keyframe's
            # boundary after two steps (the mask crept on for frames)
            self.L = np.clip(self.L, -K, K).astype(np.float32)
            return self.L, self._score
        f_cp, f_pc = self._own_flows(img_prev, img_cur) if flows is None else flows
        out_a = None
        if f_pc is not None and (self.L > 0).any():
            f_pc, out_a = self._exits(f_pc, f_cp)
        mx = self.gx + f_cp[..., 0]
        my = self.gy + f_cp[..., 1]
        Lw = cv2.remap(self.L, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        reliable = (mx >= 0) & (mx <= self.w - 1) & (my >= 0) & (my <= self.h - 1)
        if f_pc is not None:
            back = cv2.remap(f_pc, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d = f_cp + back
            err2 = d[..., 0] ** 2 + d[..., 1] ** 2
            mag2 = (f_cp ** 2).sum(-1) + (back ** 2).sum(-1)
            reliable &= err2 <= 0.01 * mag2 + 0.5
        # content that left the frame: the pixels of this frame that sample it show something else
        # (the static background's zero flow would hold the object's last pixels at the edge), so their
        # carried logit says nothing (trust 0) and the colour model and grabCut decide there
        keep = 1.0
        left = None
        if out_a is not None and out_a.any():
            na = float((self.L > 0).sum())
            keep = max(0.0, 1.0 - float(out_a.sum()) / na)
            left = cv2.remap(out_a.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5
            if self.v is not None:
                # near the border DIS often reads a fraction of the motion of an object that is leaving:
                # a pixel there whose DIS source is the object but left the frame or disagrees with the
                # object's motion, and which that motion fills from the object, samples it by that motion
                vx, vy = self.v
                Ma = (self.L > 0).astype(np.float32)
                by_dis = cv2.remap(Ma, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE) > 0
                sx, sy = self.gx - vx, self.gy - vy
                by_v = cv2.remap(Ma, sx, sy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
                fix = ~self.measurable & (left | ~reliable) & by_dis & by_v
                if fix.any():
                    Lw[fix] = cv2.remap(self.L, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[fix]
                    reliable[fix] = True
                    left[fix] = False
            reliable &= ~left
        trust = np.where(reliable, 1.0, float(o["occluded_trust"])).astype(np.float32)
        if left is not None:
            trust[left] = 0.0
        Lc = Lw * trust
        M = Lw > 0
        if not M.any():  # object lost: nothing to segment
            self.L = Lc
            self._score = 0.0
            return Lc, 0.0
        d_in = cv2.distanceTransform(M.astype(np.uint8), cv2.DIST_L2, 3)
        d_out = cv2.distanceTransform((~M).astype(np.uint8), cv2.DIST_L2, 3)
        # the band scales with the object: at most ``band`` x long side, at most a quarter of the
        # object's equivalent diameter, so small objects keep a certain core
        area = float(M.sum())
        R = int(max(2, min(R, round(0.25 * math.sqrt(area)))))
        band = np.where(M, d_in, d_out) <= R
        U = Lc.copy()
        idx = None
        if o["colour"] and self.fg is not None:
            idx = _colour_index(img_cur)
            llr = np.log(self.fg[idx] / self.bg[idx]).astype(np.float32)
            np.clip(llr, -4.0, 4.0, out=llr)
            U[band] += float(o["colour_weight"]) * llr[band]
        Lnew = U
        if o["grabcut"]:
            Lnew = self._grabcut(img_cur, U, M, band, reliable, d_in, d_out, R, keep)
        np.clip(Lnew, -K, K, out=Lnew)
        self.L = Lnew.astype(np.float32)
        # colour model update from confident, reliable pixels
        if o["colour"] and self.fg is not None and o["colour_rate"] > 0:
            fg, bg, nf, nb = self._colour_samples(idx, self.L, reliable)
            r = float(o["colour_rate"])
            if nf:
                self.fg = (1 - r) * self.fg + r * _normalise(fg)
            if nb:
                self.bg = (1 - r) * self.bg + r * _normalise(bg)
        inside = self.L > 0
        if not inside.any():
            self._score = 0.0
            return self.L, 0.0
        # score: reliability of the flow on the object times certainty along the boundary
        rel = float(reliable[inside].mean())
        cert = float(np.abs(np.tanh(0.5 * self.L[band])).mean()) if band.any() else 1.0
        self._score = max(0.0, min(1.0, 0.5 * (rel + cert)))
        return self.L, self._score


def _grey_stats(im):
    """(spread, contrast) of a uint8 RGB or grey working image, from one grey conversion: the grey
    standard deviation, and that relative to the mean grey level (std / mean, the mean at least one
    level): a frame's texture whatever its exposure. A low-key frame (the same scene a few stops down)
    keeps its contrast; a flash (bright and uniform) or a dip to black loses it."""
    g = cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2GRAY) if np.ndim(im) == 3 else np.asarray(im)
    sd = float(g.std())
    return sd, sd / max(1.0, float(g.mean()))


def _spread(im):
    """The grey spread (standard deviation) of a working image (:func:`_grey_stats`)."""
    return _grey_stats(im)[0]


def _contrast(im):
    """The grey spread relative to the mean grey level (:func:`_grey_stats`)."""
    return _grey_stats(im)[1]


def _flat_set(spreads, contrasts, ref):
    """The indices flat against the reference contrast ``ref``: a spread under one grey level (nothing 8
    bits can carry), or a contrast under a tenth of ``ref``."""
    return {i for i, (v, c) in enumerate(zip(spreads, contrasts)) if v < 1.0 or c < 0.1 * ref}


def flat_frames(imgs, ref=None):
    """Indices of the frames of ``imgs`` (uint8 RGB or grey working images of one shot) that have no
    texture: a flash frame, a dip to black, an overexposed frame, a lens cap. Flat means a contrast
    (:func:`_contrast`: grey spread / mean grey, the same at any exposure) under a tenth of the reference
    contrast, or a spread under one grey level (nothing 8 bits can carry). Neither depends on the image
    size. ``ref``: the reference contrast; the tracker passes that of the frame a pass starts from (its
    anchor), which every frame the pass writes depends on (README "Cache and resume"): a reference taken
    from all the frames given (None: their median) made a span tracked alone (a resume, a farm task) differ
    from the whole run. A spread (not a contrast) took a low-key stretch of a shot that brightens for flat,
    from the shot's median or from a bright anchor. See "Flat frames" in the module docstring."""
    stats = [_grey_stats(im) for im in imgs]
    if not stats:
        return set()
    sd, ct = [s for s, _ in stats], [c for _, c in stats]
    return _flat_set(sd, ct, float(np.median(ct)) if ref is None else float(ref))


def dis_flow(dis, g0, g1):
    """``dis.calc(g0, g1)`` (a cv2 DIS optical flow on uint8 grey images), f32 (h, w, 2). DIS refuses
    images under about 12 px a side (tiny plates, thumbnails): under ``_MIN_FLOW_SIDE`` px a side the
    flow is computed on the images enlarged to that and scaled back. Shared by the flow tracker and
    the matte stage's :class:`samatte.matte.temporal.MotionModel`.

    The answer depends on ``g0``, ``g1`` and ``dis``'s settings only, not on what ``dis`` computed
    before: on an image too small for its pyramid (long side under ~96 px) ``calc`` picks a finer
    finest scale for that image and *keeps* it (OpenCV 4.x: 2 -> 0 with the fast preset), so every
    later flow of the same object was computed with other settings than the first (a resumed job, a
    farm chunk, a flow served from :class:`FlowCache` all differed from an unbroken run). The
    settings ``calc`` may change are put back after each call."""
    h, w = g0.shape[:2]
    if min(h, w) >= _MIN_FLOW_SIDE:
        return _dis_calc(dis, g0, g1)
    k = int(math.ceil(_MIN_FLOW_SIDE / float(min(h, w))))
    big = (w * k, h * k)
    f = _dis_calc(dis, cv2.resize(g0, big, interpolation=cv2.INTER_LINEAR),
                  cv2.resize(g1, big, interpolation=cv2.INTER_LINEAR))
    return (cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) / float(k)).astype(np.float32)


def _dis_calc(dis, g0, g1):
    """``dis.calc(g0, g1, None)`` with the settings DIS re-chooses for a small image (finest scale,
    patch size and stride) put back afterwards (see :func:`dis_flow`)."""
    kept = (dis.getFinestScale(), dis.getPatchSize(), dis.getPatchStride())
    try:
        return dis.calc(g0, g1, None)
    finally:
        dis.setFinestScale(kept[0])
        dis.setPatchSize(kept[1])
        dis.setPatchStride(kept[2])


def key_soft(soft, shape):
    """A keyframe's soft mask (float32 (H, W) on the canvas) at the working resolution ``shape`` (h, w):
    its area average. An object nowhere half a working pixel across (a dot, a wire: under about
    0.5 x canvas / working size canvas px, 1.5 px of a 1080p plate at the default work_size, 3 px of a 4K
    one) has no working pixel above 0.5, so no positive logit, and every frame tracked from that keyframe
    lost it (an empty mask from the next frame on). Then the working pixels it covers at least half as much
    as its best-covered one are taken as inside (1.0); any other keyframe's answer is unchanged."""
    h, w = shape
    sw = cv2.resize(np.asarray(soft, np.float32), (w, h), interpolation=cv2.INTER_AREA)
    if not (sw > 0.5).any():
        top = float(sw.max())
        if top > 0.0:
            sw = np.where(sw >= 0.5 * top, np.float32(1.0), sw).astype(np.float32)
    return sw


def key_logit(mask, K):
    """A keyframe mask as a canvas logit: +-(K + 1), surer than any carried logit (clipped to K)."""
    return np.where(mask, K + 1.0, -K - 1.0).astype(np.float32)


def owned_masks(canvas_logit, n):
    """The masks of ``n`` objects tracked together from their canvas logits (``canvas_logit(o)``, f32
    (H, W), asked twice per object rather than all held at once): a pixel goes to the object(s) whose
    logit is highest -- several on a tie (both fully inside their shapes, a prop drawn inside the
    hero), not the first listed -- and is foreground where that logit is > 0. The flow tracker's output
    loop and ``samatte.pipeline.combine_flow`` (objects tracked one at a time) both use it."""
    best = None
    for o in range(n):
        L = canvas_logit(o)
        if best is None:
            best = np.full(L.shape, -np.inf, np.float32)
        np.maximum(best, L, out=best)
    fg = best > 0
    return [fg & (canvas_logit(o) >= best) for o in range(n)]


def _digest(g):
    return hashlib.blake2b(np.ascontiguousarray(g).data, digest_size=16).digest()


#: the most bytes of flows a :class:`FlowCache` writes to its folder (in the job's work dir)
FLOW_DISK_BYTES = 2 * 2 ** 30


class FlowCache:
    """Frame-pair flows (:func:`dis_flow`) computed once and reused, keyed by what decides them: the
    two uint8 grey images (a digest of their bytes), their shape, the DIS preset and finest scale.
    Entries live in RAM up to ``ram_bytes`` in all, then as .npy files in ``folder_fn()`` (called on
    the first spill) up to ``disk_bytes`` (:data:`FLOW_DISK_BYTES`: the work dir may be a studio share
    with a quota; a 1000-frame shot's flows at 640x360 are ~3.7 GB), past which a flow is not kept and
    is computed again when asked for (the same bytes: DIS is deterministic); the folder belongs to the
    caller. ``computed`` / ``reused``: flows computed and served again."""

    def __init__(self, folder_fn, ram_bytes, disk_bytes=None):
        self._folder_fn = folder_fn
        self._ram = int(ram_bytes)
        self._disk = int(FLOW_DISK_BYTES if disk_bytes is None else disk_bytes)
        self._used = 0
        self._spilled = 0
        self._entries = {}
        self.computed = 0
        self.reused = 0

    def flow(self, dis, opts, g0, g1):
        """``dis_flow(dis, g0, g1)``, computed once per (g0, g1, settings); ``dis`` must have been made
        with ``opts``' flow_preset and flow_finest_scale (as :class:`FlowPropagator` makes it). The
        array returned is read-only."""
        key = (g0.shape, g1.shape, opts["flow_preset"], opts["flow_finest_scale"], _digest(g0), _digest(g1))
        hit = self._entries.get(key)
        if hit is not None:
            self.reused += 1
            if isinstance(hit, str):
                hit = np.load(hit)
                hit.flags.writeable = False
            return hit
        f = dis_flow(dis, g0, g1)
        f.flags.writeable = False
        self.computed += 1
        if self._used + f.nbytes <= self._ram:
            self._used += f.nbytes
            self._entries[key] = f
        elif self._spilled + f.nbytes <= self._disk:
            self._spilled += f.nbytes
            path = os.path.join(self._folder_fn(), "flow_%d.npy" % len(self._entries))
            try:
                np.save(path, f)
            except OSError:  # a full disk or quota: keep no more flows (computed again when asked for)
                _remove_quietly(path)
                self._disk = self._spilled = 0
                return f
            self._entries[key] = path
        return f


#: the most bytes of thumbnails a :class:`ThumbCache` writes to its folder (a 1000-frame shot at 640x360: ~0.7 GB)
THUMB_DISK_BYTES = 2 ** 30


class ThumbCache:
    """The working-resolution uint8 RGB thumbnails of a source's frames and their :func:`_grey_stats`, read
    once and served to every ``track`` call of a :meth:`FlowTracker.shared_flows` block (the per-object
    passes of one job). Keyed by the source (held, so that its identity stays unique for the cache's life),
    the frame and the working shape. In RAM up to ``ram_bytes`` in all, then as .npy files in ``folder_fn()``
    up to ``disk_bytes`` (:data:`THUMB_DISK_BYTES`), past which a frame is not kept (read again when asked
    for); a disk that refuses a file keeps no more. ``stored`` / ``reused``: thumbnails kept and served."""

    def __init__(self, folder_fn, ram_bytes, disk_bytes=None):
        self._folder_fn = folder_fn
        self._ram = int(ram_bytes)
        self._disk = int(THUMB_DISK_BYTES if disk_bytes is None else disk_bytes)
        self._used = 0
        self._spilled = 0
        self._entries = {}
        self._sources = {}
        self.stored = 0
        self.reused = 0

    def _key(self, source, frame, shape):
        self._sources.setdefault(id(source), source)
        return (id(source), int(frame), tuple(shape))

    def has(self, source, frame, shape):
        return self._key(source, frame, shape) in self._entries

    def get(self, source, frame, shape):
        """(thumbnail, grey stats) of ``frame`` of ``source`` at the working ``shape`` (h, w), or None."""
        hit = self._entries.get(self._key(source, frame, shape))
        if hit is None:
            return None
        img, stats = hit
        if isinstance(img, str):
            img = np.load(img)
        self.reused += 1
        return img, stats

    def put(self, source, frame, shape, img, stats):
        key = self._key(source, frame, shape)
        if key in self._entries:
            return
        if self._used + img.nbytes <= self._ram:
            self._used += img.nbytes
            img.flags.writeable = False   # the caller's array, kept as it is (copied into each call's store)
        elif self._spilled + img.nbytes <= self._disk:
            path = os.path.join(self._folder_fn(), "thumb_%d.npy" % len(self._entries))
            try:
                np.save(path, img)
            except OSError:  # a full disk or quota: keep no more thumbnails (read again when asked for)
                _remove_quietly(path)
                self._disk = self._spilled = 0
                return
            self._spilled += img.nbytes
            img = path
        else:
            return
        self._entries[key] = (img, tuple(stats))
        self.stored += 1


#: a frame's read (EXR decode, colour, resize to the working size, keyframe masks) against one flow step, per
#: plate pixel per working pixel: measured 0.3 s against 0.85 s at 1080p and a 640-wide working size (9x the
#: pixels), 2 cores. Only the whole job's fraction uses it (:func:`_read_share`), never the time left.
READ_COST = 0.04


#: a frame whose thumbnail a :class:`ThumbCache` serves, against one flow step (a copy or a small .npy read: ms)
CACHED_READ_COST = 0.005


def _read_costs(canvas, work):
    """(a frame's read, a cached thumbnail's) in flow steps at the working shape ``work``: reading a frame of
    ``canvas`` (H, W) costs :data:`READ_COST` x its pixels per working pixel of a step (between 0.02 and 4
    steps), a cached one :data:`CACHED_READ_COST`."""
    ratio = float(canvas[0] * canvas[1]) / max(1.0, float(work[0] * work[1]))
    return min(4.0, max(0.02, READ_COST * ratio)), CACHED_READ_COST


def _read_share(n, units, canvas, work, cached=0):
    """The estimated share of the flow tracker's stage that reading its ``n`` frames takes (``cached`` of them
    served by a :class:`ThumbCache`), the other ``units`` (the passes' steps and the output) alike in time to a
    flow step at the working shape ``work`` (:func:`_read_costs`)."""
    per_read, per_hit = _read_costs(canvas, work)
    reading = per_read * (n - cached) + per_hit * cached
    return reading / (reading + max(1, units))


def _step_pairs(plans):
    """Frame-index pairs {a, b} the passes of ``plans`` step between, with repeats."""
    return [(min(i, i + d), max(i, i + d)) for pl in plans for (s, d, e, _) in pl for i in range(s, e, d)]


def _apply_hint(L, img, hint, K):
    """Logits ``L`` (working resolution) corrected by one frame's hint (points, labels, subtract mask):
    only where the mask ``L > 0`` contradicts a click (:func:`samatte.track.seed.apply_hints`) or
    overlaps a subtract shape; otherwise ``L`` is returned unchanged."""
    pts, labs, sub = hint
    M = L > 0
    if pts:
        fixed, changed = apply_hints(M, img, pts, labs)
        if changed:
            L = L.copy()
            L[fixed & ~M] = 0.75 * K
            L[M & ~fixed] = -0.75 * K
            M = fixed
    if sub is not None and (M & sub).any():
        L = np.where(sub, np.float32(-K), L).astype(np.float32)
    return L


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _spill_error(path, e):
    """The OutputError for a spill file the disk refused (full, quota, permissions)."""
    return OutputError("the flow tracker cannot spill to %s: %s (free space there, raise the tracker option "
                       "ram_mb, or set the job's work_dir on a larger disk)"
                       % (os.path.dirname(path) or path, getattr(e, "strerror", None) or e), path=str(path))


def _allocate(path, nbytes):
    """Create ``path`` with ``nbytes`` zero bytes whose blocks are reserved on the disk, so a full disk is
    an OSError here and not a SIGBUS later, when a page of a memory map over a sparse file is first
    written (the process would die with no message)."""
    with open(path, "wb") as f:
        if nbytes <= 0:
            return
        try:
            os.posix_fallocate(f.fileno(), 0, nbytes)
            return
        except AttributeError:  # no posix_fallocate (macOS, Windows): write the zeros
            pass
        except OSError as e:
            import errno
            if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
                raise
        chunk = bytes(1 << 20)
        left = nbytes
        while left > 0:
            f.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)


def _save_spill(path, a):
    """``np.save(path, a)``; a disk that refuses it is an OutputError naming the folder (no partial file)."""
    try:
        np.save(path, a)
    except OSError as e:
        _remove_quietly(path)
        raise _spill_error(path, e) from None


class _Store:
    """A (n, ...) array in RAM, or memory-mapped in ``folder`` when larger than ``ram_bytes`` (the file's
    blocks reserved first: :func:`_allocate`)."""

    def __init__(self, shape, dtype, folder_fn, ram_bytes, name):
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if nbytes <= ram_bytes:
            self.a = np.zeros(shape, dtype)
        else:
            path = os.path.join(folder_fn(), name + ".bin")
            try:
                _allocate(path, nbytes)
            except OSError as e:
                _remove_quietly(path)
                raise _spill_error(path, e) from None
            self.a = np.memmap(path, dtype=dtype, mode="r+", shape=tuple(shape))


#: the temporary folders of :func:`spill_folder`: the flow tracker's (``samatte_flow``, ``samatte_flows``) and
#: the pipeline's scratch for a lossy compression's stored state (``samatte_stored``)
_SPILL_RX = re.compile(r"^samatte_(?:flows?|stored)_(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+$")


def spill_folder(prefix, work_dir=None):
    """A new temporary folder for spilled frames, logits and flows (or another run-long scratch:
    :data:`_SPILL_RX` names the prefixes): ``<prefix>_<host>.<pid>.<random>`` in
    ``work_dir`` (else the system's temp folder). Such folders left by a killed run of this machine (kill
    -9, a farm task pre-empted: hundreds of MB a shot) are removed first; those of live processes, and of
    other machines (no liveness test from here, and a memory-mapped write need not touch the folder's
    time), are left alone."""
    from ..io.writer import host_tag, remove_temps
    remove_temps(work_dir or tempfile.gettempdir(), _SPILL_RX, float("inf"), own=False)
    try:
        return tempfile.mkdtemp(prefix="%s_%s.%d." % (prefix, host_tag(), os.getpid()), dir=work_dir)
    except OSError as e:
        raise _spill_error(os.path.join(work_dir or tempfile.gettempdir(), prefix), e) from None


class SpillFolder:
    """A :func:`spill_folder` made on the first call (most runs never spill), removed by :meth:`remove`."""

    def __init__(self, prefix, work_dir):
        self.prefix, self.work_dir, self.path = prefix, work_dir, None

    def __call__(self):
        if self.path is None:
            self.path = spill_folder(self.prefix, self.work_dir)
        return self.path

    def remove(self):
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


class FlowTracker(Tracker):
    """Weights-free tracker: DIS optical flow + consistency checks + colour models + grabCut snapping.
    See the module docstring for the method, the keyframe blending rule and the memory bound."""

    name = "flow"

    def __init__(self, *, options=None):
        self.opts = _options(options)
        self._shared = None
        self._thumbs = None

    @contextlib.contextmanager
    def shared_flows(self):
        """Within this block every ``track`` call of this tracker shares one :class:`FlowCache` (the
        pipeline opens it around a job's per-object passes) and one :class:`ThumbCache` (each frame read
        once for all the calls); their spilled flows and thumbnails go to a temporary folder (in
        ``work_dir``) removed when the block ends. Yields the flow cache."""
        folder = SpillFolder("samatte_flows", self.opts["work_dir"])
        outer, outer_thumbs = self._shared, self._thumbs
        ram = int(float(self.opts["ram_mb"]) * 2 ** 20)
        cache = FlowCache(folder, ram // 8)
        self._shared, self._thumbs = cache, ThumbCache(folder, ram // 8)
        try:
            yield cache
        finally:
            self._shared, self._thumbs = outer, outer_thumbs
            folder.remove()

    def _plan(self, kidx, n, frames):
        """Passes for one object: (start index, direction, last index inclusive, weight function)."""
        plan = []
        if kidx[0] > 0:
            plan.append((kidx[0], -1, 0, None))
        for a, b in zip(kidx[:-1], kidx[1:]):
            if b - a > 1:
                fa, fb = frames[a], frames[b]
                plan.append((a, +1, b - 1, (lambda f, fa=fa, fb=fb: (fb - f) / float(fb - fa))))
                plan.append((b, -1, a + 1, (lambda f, fa=fa, fb=fb: (f - fa) / float(fb - fa))))
        if kidx[-1] < n - 1:
            plan.append((kidx[-1], +1, n - 1, None))
        return plan

    def _absent_plan(self, kidx, n, frames, gone):
        """Passes for an object absent on the frame indices ``gone`` (README "Prompts"): (passes, sources),
        ``sources[p]`` the index whose logits pass ``p`` starts from (held across the span), or None. Each
        run of present frames with anchors is tracked from them alone; one without continues from the last
        present frame before it (after the first anchor) or the first after it (before it). No pass steps
        onto or across an absent frame."""
        from ..jobspec import absent_segments   # the runs of present frames, as the cache keys split them
        segs = [(seg[0], seg[-1]) for seg in absent_segments(range(n), gone)]
        plan, src, fwd, bwd = [], [], [], []
        for k, (a, b) in enumerate(segs):
            ka = [i for i in kidx if a <= i <= b]
            if ka:
                if ka[0] > a:
                    plan.append((ka[0], -1, a, None))
                for x, y in zip(ka[:-1], ka[1:]):
                    if y - x > 1:
                        fx, fy = frames[x], frames[y]
                        plan.append((x, +1, y - 1, (lambda f, fx=fx, fy=fy: (fy - f) / float(fy - fx))))
                        plan.append((y, -1, x + 1, (lambda f, fx=fx, fy=fy: (f - fx) / float(fy - fx))))
                if ka[-1] < b:
                    plan.append((ka[-1], +1, b, None))
            elif kidx and kidx[0] < a:
                fwd.append(((a, +1, b, None), segs[k - 1][1]))
            elif kidx:
                bwd.append(((b, -1, a, None), segs[k + 1][0]))
        src = [None] * len(plan)
        for p, s_ in fwd + bwd[::-1]:
            plan.append(p)
            src.append(s_)
        return plan, src

    def track(self, source, objects, frames, *, cancel=None):
        frames = sorted(set(int(f) for f in frames))
        n = len(frames)
        if n == 0:
            return
        pos = {f: i for i, f in enumerate(frames)}
        objects = list(objects)
        if not objects:
            raise PromptError("the flow tracker needs at least one object with prompts")
        kf, hints = [], []
        for ob in objects:
            ks, hs = object_roles(ob)
            bad = [f for f in ks if f not in pos]
            if bad:
                raise PromptError("object %r has prompts on frame(s) %s outside the tracked frames"
                                  % (ob.name, bad[:5]), object=ob.name, frame=bad[0])
            kf.append([pos[f] for f in ks])
            hints.append({pos[f]: ob.prompts[f] for f in hs if f in pos})  # a hint elsewhere corrects nothing here
        info = source.info
        H, W = info.shape
        h, w = work_shape((H, W), self.opts["work_size"])
        # hints (clicks, subtract shapes on frames without a shape) at the working resolution
        hints = [{i: hint_arrays(ps, (H, W), (h, w)) for i, ps in hs.items()} for hs in hints]
        gone = [set(pos[f] for f in getattr(ob, "absent", ()) if f in pos) for ob in objects]
        plans, srcs = [], []
        for k, g in zip(kf, gone):
            pl, sr = self._absent_plan(k, n, frames, g) if g else (self._plan(k, n, frames), None)
            plans.append(pl)
            srcs.append(sr)
        # a frame after an absent span restarts the matte's temporal state (samatte.cachekey.temporal_refs)
        from ..jobspec import absent_returns
        restart = {i for g in gone for i in absent_returns(range(n), g)}
        steps = sum(abs(e - s) for pl in plans for (s, d, e, _) in pl)
        # progress units that take alike time, so that the time left (samatte.progress.TimeLeft: the pace of the
        # units done) holds: the passes' steps, plus one for the output (~20x faster than a step). Reading
        # (~2-25x faster than a step, by plate size) counts only when nothing is propagated (it is then the
        # work: keyframe masks on every frame); otherwise its events keep ``done`` (the time left "estimating")
        timed_read = steps == 0
        total = (n if timed_read else 0) + steps + 1
        done = 0
        # ... but the whole job's fraction moves through the reading (Progress ``part``: before, it sat still for
        # as long as the reading took, 9 s of a 35 s track of 30 1080p frames, tens of seconds on a long 4K shot):
        # the reading's share of the stage, from an estimate of a frame's read against a step (the read scales with
        # the plate's pixels, a step with the working resolution's: 0.3 s against 0.85 s at 1080p, 640 wide)
        thumbs = self._thumbs   # inside shared_flows: the frames an earlier call read are not read again
        hit = [thumbs is not None and thumbs.has(source, f, (h, w)) for f in frames]
        n_hit = sum(hit)
        read_share = 0.0 if timed_read else _read_share(n, total, (H, W), (h, w), cached=n_hit)
        costs = _read_costs((H, W), (h, w))
        read_cost = [costs[1] if x else costs[0] for x in hit]
        read_total = max(1e-9, sum(read_cost))
        read_done = 0.0

        def part(units):   # the stage's share done: ``units`` of ``total`` done after the reading
            return read_share + (1.0 - read_share) * min(1.0, units / total)
        folder = SpillFolder("samatte_flow", self.opts["work_dir"])

        ram = int(float(self.opts["ram_mb"]) * 2 ** 20)
        try:
            imgs = _Store((n, h, w, 3), np.uint8, folder, ram // 2, "frames").a
            acc = _Store((len(objects), n, h, w), np.float16, folder, ram // 2, "logits").a
            scores = np.zeros((len(objects), n), np.float32)
            spread, contrast = [0.0] * n, [0.0] * n   # each frame's _grey_stats, taken as it is read
            # (object index, frame index) -> packed canvas mask of the keyframe: in RAM up to a quarter of
            # the budget, then as .npy files in the temporary folder (roto on every frame of a long shot)
            kmask = {}
            kbytes = 0
            kfs = [set(k) for k in kf]
            K = float(self.opts["logit_clip"])
            # -- read: thumbnails and keyframe masks --------------------------------------------
            if hasattr(source, "prefetch"):   # read-ahead of the frames read here only (none: no read-ahead)
                source.prefetch([f for f, x in zip(frames, hit) if not x])
            for i, f in enumerate(frames):
                check_cancel(cancel)
                got = thumbs.get(source, f, (h, w)) if hit[i] else None
                if got is None:
                    plate = source.get(f)
                    shown = [plate.display]
                    small = cv2.resize(to_u8(shown[0]), (w, h), interpolation=cv2.INTER_AREA)
                    stats = _grey_stats(small)
                    if thumbs is not None:
                        thumbs.put(source, f, (h, w), small, stats)
                    del plate
                else:
                    small, stats = got
                    shown = []   # the full-resolution image read only if a keyframe's prompts need it

                def display(f=f, shown=shown):
                    if not shown:
                        shown.append(source.get(f).display)
                    return shown[0]
                imgs[i] = small
                spread[i], contrast[i] = stats[0], stats[1]   # flat frames (no texture): stepped across
                for o, ob in enumerate(objects):
                    if i in kfs[o]:
                        soft, m = keyframe_mask(ob, f, (H, W), image=display,
                                                work_size=self.opts["work_size"], box_mode="grabcut")
                        packed = np.packbits(m)
                        if kbytes + packed.nbytes > ram // 4:
                            path = os.path.join(folder(), "key_%d_%d.npy" % (o, i))
                            _save_spill(path, packed)
                            packed = path
                        else:
                            kbytes += packed.nbytes
                        kmask[(o, i)] = packed
                        acc[o, i] = K * (2.0 * key_soft(soft, (h, w)) - 1.0)
                        scores[o, i] = 1.0
                del shown, display, small
                done += 1 if timed_read else 0
                read_done += read_cost[i]
                yield Progress("track", f, done, total, "reading frames",
                               part=None if timed_read else read_share * min(1.0, read_done / read_total))
            # -- passes ----------------------------------------------------------------------------
            prop_shape = (h, w)
            # flows shared by the passes (of every object) that step between the same two frames
            fc = self._shared
            if fc is None:
                pairs = _step_pairs(plans)
                if len(set(pairs)) < len(pairs):
                    fc = FlowCache(folder, ram // 8)
            for o in range(len(objects)):
                for i in gone[o]:
                    acc[o, i] = -K
            for o, ob in enumerate(objects):
                for p, (s, d, e, wfn) in enumerate(plans[o]):
                    if srcs[o] is not None and srcs[o][p] is not None:   # held across an absent span
                        held = acc[o, srcs[o][p]].astype(np.float32)
                        if s in hints[o]:  # the frame it comes back on may carry a correction too
                            held = _apply_hint(held, imgs[s], hints[o][s], K)
                        acc[o, s] = held.astype(np.float16)
                        scores[o, s] = scores[o, srcs[o][p]]
                    prop = FlowPropagator(prop_shape, self.opts)
                    prop.start(imgs[s], acc[o, s].astype(np.float32))
                    # flat against the spread of the frame the pass starts from: every frame it writes
                    # depends on that one (the cache keys), not on the rest of the frames given
                    flat = _flat_set(spread, contrast, contrast[s])

                    def skip(x, flat=flat, hint=hints[o]):   # stepped across: flat, and no correction there
                        return x in flat and x not in hint
                    i = s
                    label = "%s %s from %d" % (ob.name, "forward" if d > 0 else "backward", frames[s])
                    while i != e:
                        check_cancel(cancel)
                        j = i + d
                        if skip(j):
                            # flat frames carry no evidence about motion or the object: step from the last
                            # textured frame to the next one, the flat frames between get the carried mask
                            # moved by their share of that motion (colours and grabCut never see them)
                            run_ = [j]
                            while run_[-1] != e and skip(run_[-1]):
                                run_.append(run_[-1] + d)
                            k = run_.pop() if not skip(run_[-1]) else None
                            for m, L, sc in prop.across(imgs, frames, i, run_, k, fc):
                                if m == k and k in hints[o]:
                                    L = prop.L = _apply_hint(L, imgs[k], hints[o][k], K)
                                wt = 1.0 if wfn is None else wfn(frames[m])
                                acc[o, m] = (acc[o, m].astype(np.float32) + wt * L).astype(np.float16)
                                scores[o, m] += wt * sc
                                done += 1
                                yield Progress("track", frames[m], done, total, label, part=part(done))
                            i = run_[-1] if k is None else k
                            continue
                        same = np.array_equal(imgs[i], imgs[j])   # a held frame: the step repeats its answer
                        flows = prop.flows(imgs[i], imgs[j], fc) if fc is not None and not same else None
                        L, sc = prop.step(imgs[i], imgs[j], flows=flows)
                        if j in hints[o]:  # a correction: fix the carried logits where they contradict it
                            L = prop.L = _apply_hint(L, imgs[j], hints[o][j], K)
                        wt = 1.0 if wfn is None else wfn(frames[j])
                        acc[o, j] = (acc[o, j].astype(np.float32) + wt * L).astype(np.float16)
                        scores[o, j] += wt * sc
                        i = j
                        done += 1
                        yield Progress("track", frames[j], done, total, label, part=part(done))
            # -- output ----------------------------------------------------------------------------
            kset = set(i for ks in kf for i in ks)
            for i, f in enumerate(frames):
                check_cancel(cancel)
                logits = [np.asarray(acc[o, i], np.float32) for o in range(len(objects))]
                keymask = {}  # this frame's keyframe masks, read (a spilled one from disk) once for both passes
                for o in range(len(objects)):
                    if (o, i) in kmask:
                        packed = kmask[(o, i)]
                        if isinstance(packed, str):
                            packed = np.load(packed)
                        keymask[o] = np.unpackbits(packed, count=H * W).reshape(H, W).astype(bool)

                def canvas_logit(o):
                    if o in keymask:
                        return key_logit(keymask[o], K)
                    return cv2.resize(logits[o], (W, H), interpolation=cv2.INTER_LINEAR)
                objs = {}
                for o, (ob, m) in enumerate(zip(objects, owned_masks(canvas_logit, len(objects)))):
                    if i in gone[o]:
                        m = np.zeros_like(m)
                    sc = float(scores[o, i]) if m.any() else 0.0
                    # the artist's shape carried by flow and snapped to a hard segmentation: hair and
                    # soft edges beyond it are cut off, so the matting stage may reach past the edge
                    objs[ob.name] = ObjectTrack(mask=m, logits=logits[o], score=max(0.0, min(1.0, sc)),
                                                keyframe=(o, i) in kmask, edge="rough")
                ref = None if (i == 0 or i in kset or i in restart) else frames[i - 1]
                done += 1 if i == n - 1 else 0
                # (the output is the last unit of ``total``: the fraction moves through it frame by frame)
                yield Progress("track", f, done, total, "frame %d" % f,
                               part=part(done if i == n - 1 else done + (i + 1) / n))
                yield TrackFrame(frame=f, objects=objs, ref=ref)
        finally:
            folder.remove()
