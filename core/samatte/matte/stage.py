"""Matting backends (:class:`samatte.stages.Matter`) and the ``get_matter`` factory.

Per frame, a :class:`RefineMatter`:

1. per object, the per-frame alpha: the single-frame refiner
   (:func:`samatte.matte.refine.refine_alpha`) on the tracker's mask and logits (upsampled to the
   canvas), or another per-frame estimator (the learned head of :class:`Sam2MatteMatter`); with a
   previous frame, the refiner also gets that frame's matte (motion-compensated, a weak data term)
   and the see-through test's doubt (:func:`see_through_doubt`: where the picture does not move as
   the mask says, the band opens);
2. temporal stability (:mod:`samatte.matte.temporal`): region-adaptive fusion with the state of the
   ``ref`` frame, motion-compensated;
   then the object's subtract shapes on the frame (``ObjectTrack.cut``: garbage mattes, holes) are cut
   out of its alpha (:func:`cut_alpha`, every backend, before the state is kept);
3. the merged matte: the sum of the objects' alphas where their masks do not overlap, their union
   ``1 - prod(1 - a_i)`` near where they do (see :func:`merge_alphas`);
4. the premultiplied foreground for the merged matte, in scene-linear light
   (:mod:`samatte.matte.foreground`);
5. the quality map and per-frame score (:mod:`samatte.matte.quality`), components in ``stats``.
"""
import time
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..errors import DependencyError, JobSpecError, PlateError, WeightsMissingError
from ..progress import checkpoint
from ..registry import validate_options
from ..stages import MatteFrame, Matter, StateStore
from . import quality as _quality
from .foreground import premultiplied_foreground
from .temporal import (FrameState, MotionModel, _distance_to_edge, fuse_alpha, motion_compensate,
                       motion_residuals, object_edge_motion, pack_image, prefer_edge_motion, unpack_image)

__all__ = ["get_matter", "RefineMatter", "MaskMatter", "Sam2MatteMatter", "merge_alphas",
           "find_sam2matte_weights", "SAM2MATTE_NAME", "OPTIONS", "MattingImages", "matting_images",
           "matting_image", "cut_alpha"]

#: name of the SAM2-Matte checkpoint in samatte.models (``<models_dir>/sam2matte.pt``)
SAM2MATTE_NAME = "sam2matte"

#: objects of a frame matted at once, in threads (:meth:`RefineMatter._objects`; 1: one after another);
#: None: :func:`object_threads` (each object's frame-sized intermediates are held while it runs, so 2 at most)
OBJECT_THREADS = None
#: seconds between two namings of the phase under way while a frame's objects are matted in threads
#: (:meth:`RefineMatter._objects`): the host's progress moves, and a Cancel is seen, at least that often
HEARTBEAT_S = 1.0


def object_threads():
    """How many of a frame's objects are matted at once: :data:`OBJECT_THREADS` when set, else two where
    samatte's thread budget allows two or more (:mod:`samatte.threads`: ``--threads`` /
    ``$SAMATTE_THREADS`` / ``$OMP_NUM_THREADS`` / the CPUs the process may use), so ``--threads 1``
    mattes them one after another."""
    if OBJECT_THREADS is not None:
        n = max(1, int(OBJECT_THREADS))
    else:
        from .. import threads
        n = threads.configured()
        if n is None:
            try:
                n = threads.budget()[0]
            except Exception:  # noqa: BLE001 - a bad $SAMATTE_THREADS is the CLI's to report; here: the CPUs
                n = threads.available_cpus()
        n = min(2, n)
    return n if n <= 1 or numba_takes_threads() else 1


_NUMBA_THREADS = None


def _numba_threads():
    """The calling thread's numba thread count (``numba.get_num_threads``), or None where numba is not loaded."""
    import sys
    numba = sys.modules.get("numba")
    if numba is None:
        return None
    try:
        return int(numba.get_num_threads())
    except Exception:  # noqa: BLE001 - a numba without it: its own default
        return None


def _set_numba_threads(n):
    import sys
    try:
        sys.modules["numba"].set_num_threads(n)
    except Exception:  # noqa: BLE001 - best effort, as samatte.threads._apply_loaded
        pass


def numba_takes_threads():
    """Whether numba's threading layer takes parallel calls from two threads at once: True for ``tbb`` and
    ``omp`` (and without numba), False for ``workqueue``, which aborts the whole process ("Terminating: Concurrent
    access has been detected") when two objects run pymatting's ``parallel=True`` code at once. numba picks tbb,
    else omp, else workqueue (``$NUMBA_THREADING_LAYER`` may name one); workqueue is what a pip numba has where no
    OpenMP runtime is installed (a macOS workstation without libomp). Decided once per process."""
    global _NUMBA_THREADS
    if _NUMBA_THREADS is None:
        _NUMBA_THREADS = _numba_layer_is_threadsafe()
    return _NUMBA_THREADS


def _numba_layer_is_threadsafe():
    import importlib
    import importlib.util
    try:
        if importlib.util.find_spec("numba") is None:
            return True     # no numba: no pymatting either, nothing parallel to clash
        import numba
        try:
            return numba.threading_layer() != "workqueue"   # launched already: the one it took
        except ValueError:
            pass
        layer = str(getattr(numba.config, "THREADING_LAYER", "default") or "default").lower()
        if layer == "workqueue":
            return False
        if layer in ("tbb", "omp", "threadsafe", "safe"):
            return True     # (numba refuses to start when it cannot have one of these)
        for kind in ("tbb",) if layer == "forksafe" else ("tbb", "omp"):   # (forksafe: tbb, else workqueue)
            try:
                if kind == "tbb":
                    from numba.np.ufunc import parallel
                    getattr(parallel, "_check_tbb_version_compatible", lambda: None)()
                importlib.import_module("numba.np.ufunc.%spool" % kind)
                return True
            except Exception:  # noqa: BLE001 - that runtime not installed (no libtbb, no libomp) or too old
                continue
        return False
    except Exception:  # noqa: BLE001 - a numba that cannot say: one object at a time, never an abort
        return False


#: matte options a JobSpec may set (``matte.options``), with defaults
OPTIONS = {
    "temporal": True,          # region-adaptive temporal fusion
    "flow": True,              # motion-compensate the previous frame with optical flow
    "blend": 0.5,              # weight of the previous alpha on unchanged boundary pixels, for
                               # estimates made without it (the SAM2-Matte head); see "prior"
    "prior": 0.03,             # weight (x motion confidence) of the previous alpha, motion-compensated,
                               # as a data term of this frame's solve (0: off)
    "band": None,              # core/boundary split, px from the mask edge (None: 1% of the long side, >= 4)
    "tau": 0.03,               # frame difference (display units) still counted as "unchanged"
    "see_through": 0.02,       # inside an object, a difference (display units) from the previous frame
                               # moved with the object's own motion above which its mask's label is
                               # doubted and the refiner's band widens there (background seen through
                               # straw, hair, a gap; or a wrong mask); 0: off. See see_through_doubt
    "foreground_method": "ml",  # "ml" (numpy multilevel) or "pymatting"
    "checkpoint": None,        # sam2matte: explicit checkpoint path
    "masks": "auto",           # what the coarse masks are (samatte.matte.refine.MASK_KINDS): "rough"
                               # (roto, polygons), "tight" (a segmentation model's masks at its own
                               # resolution); "auto": the tracker's ObjectTrack.edge hint (SAM2's
                               # propagated masks are tight), else refine_alpha tells from the image
                               # (samatte.matte.refine.mask_kind)
    "space": "auto",           # images the alpha is found on (see matting_images): "hybrid" (display
                               # image for the band and samples, scene-linear for the colour-line
                               # solves), "linear", "display"; "auto": hybrid for float plates (EXR),
                               # display for integer ones (PNG/JPEG/TIFF)
    "evidence": 0.0,           # the refiner's evidence check (RefineParams.evidence) at a fixed
                               # strength everywhere: > 0 keeps the mask's label where the compositing
                               # residual with the local colours does not explain a departure (shadows,
                               # smoke, shared colours); 0: only where evidence_auto switches it on
    "evidence_auto": True,     # the check switches itself on, by the colour overlap of the object and
                               # its background near the mask's edge (RefineParams.auto_evidence): on
                               # real footage with busy backgrounds, not on clean ones (bench/RESULTS.md)
    "ramp_measured": False,    # where the evidence check runs, pull what it does not trust to a ramp no
                               # wider than the object's own edges, measured on the matte
                               # (RefineParams.ramp_measured): for crisp, opaque objects whose colours
                               # are the background's; soft objects (smoke, foliage seen through) lose
    "tie": None,               # ties go to the mask (RefineParams.tie): a pixel the matte leaves within
                               # this of 0.5 against the mask's label is put at the middle on the mask's
                               # side (with tight masks widened as the object measures soft:
                               # RefineParams.tie_crisp); 0: off (a pure matte); None: the refiner's
                               # default (0.1)
}


def soft_clip(x, knee=0.9):
    """Scene-linear RGB into [0, 1]: identity below ``knee``, a smooth shoulder above (highlights keep
    some gradation instead of a flat clip); negatives -> 0."""
    return _soft_clip_into(np.maximum(np.asarray(x, np.float32), 0.0), knee)


def _soft_clip_into(x, knee=0.9):
    """:func:`soft_clip` of ``x`` (a float32 array of the caller's own, negatives already 0), in place."""
    over = x > knee
    if over.any():
        r = 1.0 - knee
        x[over] = knee + r * (1.0 - np.exp(-(x[over] - knee) / r))
    return x


def exposure_gain(linear, *, target=0.8, max_gain=16.0):
    """Gain that brings a dim scene-linear plate's bright end (99th percentile of the brightest
    channel, on every 4th pixel) to ``target``; never below 1 (bright plates are soft-clipped
    instead). Compositing is linear, so a gain keeps every edge pixel on its FG-BG line, while the
    solvers' thresholds (colour distances) assume colours spread over [0, 1]."""
    sub = np.asarray(linear, np.float32)[::4, ::4, :3].max(axis=-1)
    p99 = float(np.percentile(sub, 99)) if sub.size else 1.0
    return float(np.clip(target / max(p99, 1e-6), 1.0, max_gain))


@dataclass(frozen=True)
class MattingImages:
    """The images a frame's alpha is found on, f32 (H, W, 3) in [0, 1] (see the matte option
    ``space``): ``guide`` for the perceptual decisions (the band, its growth, the colour samples,
    gaps seen through: their thresholds and histograms are in display units), ``solve`` for the
    colour-line solves (closed-form, the guided fine level). They are the same array unless the
    space is "hybrid"."""
    guide: np.ndarray
    solve: np.ndarray
    space: str


def _resolve_space(plate, space):
    if space == "auto":
        return "hybrid" if str(getattr(plate.info, "pixel_type", "half")) in ("half", "float", "double") \
            else "display"
    return space


def _linear_image(plate):
    lin = np.asarray(plate.linear, np.float32)[..., :3]
    if not np.isfinite(lin).all():   # (a plate read with on_nonfinite "fix" has none: no full-frame copy)
        lin = np.nan_to_num(lin, nan=0.0, posinf=1.0, neginf=0.0)
    x = lin * exposure_gain(lin)
    return _soft_clip_into(np.maximum(x, 0.0, out=x))   # soft_clip(x), without its copy of x


def matting_images(plate, space="auto"):
    """:class:`MattingImages` of a plate. "display": the OCIO display image for both; "linear": the
    scene-linear plate (a dim one brightened by :func:`exposure_gain`, soft-clipped) for both;
    "hybrid": display for the decisions, linear for the solves (compositing mixes light linearly, so
    an edge pixel lies on its FG-BG line there, while every threshold of the band and the samples
    was set in display units); "auto": hybrid for float plates (EXR), display for integer ones. The
    measurements behind the choice are in bench/RESULTS.md ("Matting space")."""
    space = _resolve_space(plate, space)
    disp = np.asarray(plate.display, np.float32)[..., :3]
    if space == "display":
        return MattingImages(disp, disp, space)
    lin = _linear_image(plate)
    return MattingImages(lin if space == "linear" else disp, lin, space)


def matting_image(plate, space="auto"):
    """The image the alpha is *solved* on (see :func:`matting_images`): f32 (H, W, 3) in [0, 1]."""
    return matting_images(plate, space).solve


@dataclass
class Carry:
    """The carry phase's answer for one object: the previous frame's matte warped onto this one by
    the dense flow, and the object's own edge motion (``temporal.object_edge_motion``'s answer, or
    None)."""
    warped: np.ndarray
    edge: Optional[tuple]

    @property
    def edge_stats(self):
        """The edge motion's figures (similarity, inliers, ring residual, edge displacement)."""
        return {} if self.edge is None else self.edge[3]


@dataclass
class Estimate:
    """The estimate phase's answer for one object: this frame's alpha, the see-through doubt it was
    made with, whether the carried matte was a data term, and the carried alpha and confidence with
    the object-motion warp preferred (``temporal.prefer_edge_motion``), when it was."""
    alpha: np.ndarray
    doubt: Optional[np.ndarray] = None
    with_prior: bool = False
    merged_warp: Optional[tuple] = None


#: an object whose score on a frame is below this is not carried over to the next frame by the
#: temporal fusion (its mask was likely broken there: the next frame starts afresh from its own mask)
TRUST_SCORE = 0.5
#: a frame becomes the reference of the jump test for the next ones when its jump and agreement
#: scores (the parts that judge the mask itself) reach this
REF_SCORE = 0.7


#: merge_alphas: a part of the objects' masks' overlap thinner than 2 x this + 1 px is a seam between
#: objects drawn to touch (rotos overlap by a pixel or two), not one object drawn through another
MERGE_SLIVER_PX = 2
#: merge_alphas: the union of overlapping masks fades into the sum over this share of the frame's
#: diagonal from their overlap (4 x the refiner's base band, ``RefineParams.base_frac`` 1%: its reach)
MERGE_REACH = 0.04


def merge_alphas(alphas, shape, masks=None):
    """The merged matte of several objects.

    Objects whose masks do not overlap share a pixel where they meet (two abutting objects, one in
    front of another with masks of what each shows): each alpha is the part of the pixel its object
    covers, and the parts add, ``min(1, sum a_i)``. Where the masks overlap (an object drawn through
    one in front of it), both may claim the same part of a pixel; there, and within half ``MERGE_REACH``
    of the frame's diagonal of it (then fading over as much again), the merge is their union ``1 - prod(1 - a_i)``, the coverages
    taken as independent (one layer over another). Before, the union was used everywhere: where two
    objects' soft edges met the matte dipped (to 0.75 where each covers half of a pixel the two fill),
    a dark line along every contact. The merge is never below the union, and equal to it where an
    object is solid. ``masks``: the objects' coarse masks in the order of ``alphas`` (None: the union
    everywhere). Per-object alphas are returned unchanged in ``MatteFrame.alphas``.
    """
    alphas = list(alphas)
    out = np.ones(shape, np.float32)
    for a in alphas:
        out *= 1.0 - a
    union = np.subtract(1.0, out, out=out)   # (float32 already: no copy)
    if masks is None or len(alphas) < 2:
        return union
    total = np.zeros(shape, np.float32)
    count = np.zeros(shape, np.uint8)
    for a, m in zip(alphas, masks):
        total += a
        count += np.asarray(m) >= 0.5
    np.minimum(total, 1.0, out=total)
    over = (count >= 2).astype(np.uint8)
    if MERGE_SLIVER_PX > 0 and over.any():
        k = 2 * MERGE_SLIVER_PX + 1
        over = cv2.erode(over, np.ones((k, k), np.uint8), borderType=cv2.BORDER_REPLICATE)
    if not over.any():
        return total
    reach = max(1.0, MERGE_REACH * float(np.hypot(*shape)))
    # only the overlap's bounding box grown by the reach changes (and holds every overlap pixel, so
    # the distances in it are the frame's)
    r = int(np.ceil(reach))
    ys, xs = np.flatnonzero(over.any(1)), np.flatnonzero(over.any(0))
    box = (slice(max(0, ys[0] - r), ys[-1] + 1 + r), slice(max(0, xs[0] - r), xs[-1] + 1 + r))
    dist = cv2.distanceTransform(1 - over[box], cv2.DIST_L2, 3)
    w = np.clip(2.0 - 2.0 * dist / reach, 0.0, 1.0)   # the union up to half the reach, then fading
    sub = total[box]
    sub += w * (union[box] - sub)
    return total


def _run_phases(gen):
    """What a phase generator (:meth:`RefineMatter._phases`) returns, its phases run straight through."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _upsample_logits(logits, shape):
    lg = np.asarray(logits, dtype=np.float32)
    if lg.ndim == 3 and lg.shape[0] == 1:
        lg = lg[0]
    if lg.ndim != 2:
        raise PlateError("tracker logits must be 2-D, got shape %s" % (lg.shape,))
    if lg.shape != tuple(shape):
        lg = cv2.resize(lg, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return lg


def _default_refiner(image, coarse, *, logits=None, quality="default", mask="auto", **kw):
    try:
        from .refine import refine_alpha
    except ImportError as exc:
        raise DependencyError("the 'refine' matte backend needs samatte.matte.refine (not available: %s)"
                              % exc) from exc
    return refine_alpha(image, coarse, logits=logits, quality=quality, mask=mask, **kw)


#: the refiner takes ``prior=`` / ``prior_weight=`` (the previous matte as a data term); a refiner
#: without this attribute gets neither, and the temporal fusion blends its answer instead
_default_refiner.uses_prior = True
#: the refiner takes ``doubt=`` (see :func:`see_through_doubt`)
_default_refiner.uses_doubt = True
#: the refiner takes ``solve_image=`` (the "hybrid" space's linear image, see :func:`matting_images`)
_default_refiner.uses_solve_image = True
#: the refiner takes ``info=`` (a dict it fills with what it decided)
_default_refiner.uses_info = True


#: see_through_doubt: the residual must exceed this many times its median inside the object
#: (grain, noise and sub-pixel motion error; synthvideo is unchanged from 2 to 5, a grainy test clip
#: stays clean at 3)
NOISE_FACTOR = 3.0


def see_through_doubt(comp, edge, mask, shape, threshold, depth=2.0):
    """Where an object's mask may be wrong, from the video: f32 (H, W) in {0, 1}, or None.

    ``comp``, ``edge``: the frame's :func:`samatte.matte.temporal.motion_compensate` and the object's
    :func:`samatte.matte.temporal.object_edge_motion` (the previous frame moved with the object's own
    motion). Inside the mask, an opaque part of the object moves with it, so the residual there
    (:func:`samatte.matte.temporal.motion_residuals`) is near 0 (a few code values of resampling and
    grain). Where it is above ``threshold`` (smoothed over ~1 px), the picture there is not the
    object's alone: background seen through straw, hair or a gap the mask filled, or a part the mask
    got wrong. Outside the mask, the test is the other way round: a pixel that the object's motion
    explains at least twice as well as the background's (the dense flow), above the bar, moves with
    the object -- hair or a part the mask left out. Pixels within ``depth`` px of the mask's edge are
    not judged (the object's own soft edge mixes both). The bar is raised to :data:`NOISE_FACTOR`
    times the residual's median inside the object, so grain does not count.
    """
    if edge is None or threshold <= 0:
        return None
    y0, y1, x0, x1 = edge[2]
    inside = np.asarray(mask, bool)[y0:y1, x0:x1]
    # the object's own soft edge mixes in the background too: only what lies deeper than ``depth``
    judged = _distance_to_edge(inside) > depth
    deep = inside & judged
    if not deep.any():
        return None
    r_obj, r_flow = motion_residuals(comp, edge)
    rs = cv2.GaussianBlur(r_obj, (0, 0), 1.0)
    # grain, noise and a motion a fraction of a pixel off leave a residual everywhere: the bar is
    # raised to NOISE_FACTOR x its typical level inside the object (most of which is opaque)
    bar = max(float(threshold), NOISE_FACTOR * float(np.median(rs[deep])))
    hit = (rs > bar) & deep
    if r_flow is not None:
        # outside the mask, the other way round: a pixel the object's motion explains at least twice
        # as well as the background's moves with the object: hair or a part the mask left out
        rf = cv2.GaussianBlur(r_flow, (0, 0), 1.0)
        hit |= ~inside & judged & (rf > bar) & (rs < 0.5 * rf)
    if not hit.any():
        return None
    out = np.zeros(shape, np.float32)
    out[y0:y1, x0:x1] = hit
    return out


def _coarse(obj):
    """An object's coarse mask, f32 (H, W): its ``soft`` coverage when the mask came from a feathered
    roto kept soft (``masks.soft``: not thresholded), else its binary ``mask``."""
    soft = getattr(obj, "soft", None)
    return np.asarray(obj.mask if soft is None else soft, dtype=np.float32)


def cut_whole(obj):
    """Whether ``obj``'s cut (:func:`cut_alpha`) takes all of it on this frame (a frame of its JobSpec
    ``absent``, or a subtract shape over the whole image): its alpha there is 0 by the artist's word, so its
    score measures nothing and is left out of the frame's (:func:`samatte.matte.quality.frame_score`) and of
    the frame's per-object scores (no ``<name>.score`` in the stats, no entry in ``samatte/object_scores``).
    Before, such a frame scored 0.0: QC counted every frame the artist marked absent as a low score and the
    hosts' score strips showed them as the worst frames of the shot."""
    cut = getattr(obj, "cut", None)
    return cut is not None and bool(np.all(np.asarray(cut) >= 1.0))


def cut_alpha(alpha, obj):
    """``alpha`` (f32 (H, W)) of one object with its subtract shapes of the frame cut out: ``alpha * (1 -
    obj.cut)`` (0 inside the shapes, their soft edge a ramp), or ``alpha`` itself when the track carries
    no cut. The one rule of every matting backend: what the artist cut stays cut in the written matte,
    its merged ``A``, foreground and quality map, and in the temporal state the next frame starts from
    (so a resumed run or a chunk starts from the same state as an unbroken one)."""
    cut = getattr(obj, "cut", None)
    if cut is None:
        return alpha
    cut = np.asarray(cut, np.float32)
    if cut.shape != np.shape(alpha):
        raise PlateError("subtract shapes of an object are %s, its alpha is %s" % (cut.shape, np.shape(alpha)))
    return (np.asarray(alpha, np.float32) * (1.0 - np.clip(cut, 0.0, 1.0))).astype(np.float32)


def kept_mask(obj):
    """``obj``'s mask less what its cut (:func:`cut_alpha`) takes on the frame (bool (H, W)): the mask its
    cut alpha is judged against. The cut is the artist's word, never a disagreement of the matte with the
    mask: a mask that still covers a subtract shape (a mask file, which wins over the tracked mask; a
    tracker that cut it at its own resolution) made the object's ``disagreement`` count the cut part, so the
    frame scored ~0, the next frame did not carry its matte over (:data:`TRUST_SCORE`), and the quality map
    showed the cut as doubt. A pixel counts as cut where ``cut >= 0.5`` (the alpha there is at most half)."""
    mask = np.asarray(obj.mask, bool)
    cut = getattr(obj, "cut", None)
    if cut is None:
        return mask
    return mask & ~(np.asarray(cut, np.float32) >= 0.5)


#: matte options handed to the refiner as the RefineParams field of the same name (off the default)
_REFINE_FIELDS = ("evidence", "ramp_measured", "tie")


def _check_options(options, allowed):
    opts = dict(OPTIONS)
    for k, v in (options or {}).items():
        if k not in allowed:
            raise JobSpecError("unknown matte option %r (known: %s)" % (k, ", ".join(sorted(allowed))),
                               field="matte.options." + str(k))
        opts[k] = v
    # every value against the options' one schema (samatte.registry: types, ranges, choices), as a
    # JobSpec's are, so a script that builds a matter in Python gets the same JOBSPEC_INVALID before
    # any frame (the checks below are the stage's own, kept for what the schema cannot say)
    opts.update(validate_options("matte", "refine", options))
    if opts["foreground_method"] not in ("ml", "pymatting"):
        raise JobSpecError("matte option foreground_method must be 'ml' or 'pymatting'",
                           field="matte.options.foreground_method")
    for k in ("blend", "tau", "prior", "see_through"):
        try:
            opts[k] = float(opts[k])
        except (TypeError, ValueError):
            raise JobSpecError("matte option %s must be a number" % k, field="matte.options." + k)
    if opts["masks"] not in ("auto", "rough", "tight"):
        raise JobSpecError("matte option masks must be 'auto', 'rough' or 'tight'", field="matte.options.masks")
    if opts["space"] not in ("auto", "hybrid", "linear", "display"):
        raise JobSpecError("matte option space must be 'auto', 'hybrid', 'linear' or 'display'",
                           field="matte.options.space")
    if not 0.0 <= opts["blend"] < 1.0:
        raise JobSpecError("matte option blend must be in [0, 1)", field="matte.options.blend")
    if opts["prior"] < 0:
        raise JobSpecError("matte option prior must be >= 0", field="matte.options.prior")
    if opts["see_through"] < 0:
        raise JobSpecError("matte option see_through must be >= 0", field="matte.options.see_through")
    if opts["tau"] <= 0:
        raise JobSpecError("matte option tau must be > 0", field="matte.options.tau")
    if opts["band"] is not None:
        try:
            opts["band"] = float(opts["band"])
        except (TypeError, ValueError):
            raise JobSpecError("matte option band must be a number of pixels", field="matte.options.band")
    return opts


class RefineMatter(Matter):
    """Weights-free matter: per-frame refinement + temporal fusion + foreground + quality.

    ``refiner``: the per-frame estimator ``f(image, coarse, *, logits=None, quality=..., mask=...) -> f32 (H, W)``
    (with the attribute ``uses_prior = True`` it is also given ``prior=``, ``prior_weight=``)
    (default :func:`samatte.matte.refine.refine_alpha`, imported on first use); tests inject stand-ins.
    """

    name = "refine"

    def __init__(self, *, quality="default", options=None, foreground=True, quality_map=True,
                 refiner=None, device="auto"):
        self.quality = quality
        self.options = _check_options(options, set(OPTIONS))
        self.foreground = bool(foreground)
        self.quality_map = bool(quality_map)
        self.device = device
        self._refiner = refiner or _default_refiner
        self._store = StateStore()
        self._workers = None   # object_threads(), decided on the first frame with several objects (no per-frame look)
        self._motion = MotionModel() if self.options["flow"] else None

    # -- per-frame estimate, overridden by other backends ------------------------------------------
    def _refines(self, obj):
        """Whether :meth:`frame_alpha` runs the refiner (on :func:`matting_image`) for this object."""
        return True

    def _takes_prior(self, obj):
        """Whether :meth:`frame_alpha` uses a ``prior`` for this object."""
        return self._refines(obj) and bool(getattr(self._refiner, "uses_prior", False))

    def frame_alpha(self, plate, name, obj, prior=None, image=None, doubt=None, info=None):
        """This frame's alpha of one object. ``prior``: optional ``(alpha, weight)``, the previous
        frame's matte motion-compensated onto this one and its per-pixel weight, for the refiner's
        solve (a weak data term: the picture still decides where it is clear); given only when
        :meth:`_takes_prior`. ``image``: :func:`matting_image` of the plate, when already made.
        ``info``: an optional dict the refiner fills with what it decided (mask kind, colour overlap and
        the evidence check's distrust), for refiners with ``uses_info``."""
        coarse = _coarse(obj)
        logits = _upsample_logits(obj.logits, coarse.shape) if obj.logits is not None else None
        kind = self.options["masks"]
        if kind == "auto":
            kind = getattr(obj, "edge", None) or "auto"
        extra = {} if prior is None else {"prior": prior[0], "prior_weight": prior[1]}
        # matte options that set a RefineParams field of the same name, when not at the stage's default
        ropts = {k: self.options[k] for k in _REFINE_FIELDS if self.options[k] != OPTIONS[k]}
        if not self.options.get("evidence_auto", True):
            ropts["auto_evidence"] = 0.0
        if ropts:
            extra["options"] = ropts
        if doubt is not None and getattr(self._refiner, "uses_doubt", False):
            extra["doubt"] = doubt
        if info is not None and getattr(self._refiner, "uses_info", False):
            extra["info"] = info
        if image is None:
            image = matting_images(plate, self.options["space"])
        elif not isinstance(image, MattingImages):
            image = MattingImages(image, image, "given")
        if image.solve is not image.guide and getattr(self._refiner, "uses_solve_image", False):
            extra["solve_image"] = image.solve
            guide = image.guide
        else:
            guide = image.solve   # a refiner that takes one image gets the solve image
        a = self._refiner(guide, coarse, logits=logits, quality=self.quality, mask=kind, **extra)
        return np.clip(np.asarray(a, dtype=np.float32), 0.0, 1.0)

    # -- helpers ----------------------------------------------------------------------------------
    def _band(self, shape):
        if self.options["band"] is not None:
            return self.options["band"]
        return max(4.0, 0.01 * max(shape))

    def _check(self, plate, track):
        disp = np.asarray(plate.display)
        if disp.ndim != 3 or disp.shape[2] < 3:
            raise PlateError("plate display image must be (H, W, 3)", frame=plate.frame)
        shape = disp.shape[:2]
        for name, obj in track.objects.items():
            if np.shape(obj.mask) != shape:
                raise PlateError("mask of object %r is %s, the plate is %s" % (name, np.shape(obj.mask), shape),
                                 frame=plate.frame)
        return shape

    def _object_quality(self, name, obj, prev, frame, alpha=None):
        """Per-object score: tracker score x jump score against the last trusted geometry x agreement
        of the matte with the mask (when ``alpha`` is given); returns (score, record, stats)."""
        geom = _quality.object_geometry(obj.mask)
        ref_rec = prev.objects.get(name) if prev is not None else None
        if ref_rec is not None:
            trusted, tframe, vel = ref_rec["trusted"], ref_rec["trusted_frame"], ref_rec.get("velocity")
            step = frame - tframe
            js, area_jump, shift = _quality.jump_score(geom, trusted, frame_gap=step, velocity=vel)
        else:
            trusted, tframe, vel, step = None, None, None, 0
            js, area_jump, shift = 1.0, 0.0, 0.0
        tscore = float(np.clip(obj.score, 0.0, 1.0))
        dshare, dscore = _quality.disagreement(alpha, kept_mask(obj)) if alpha is not None else (0.0, 1.0)
        score = tscore * js * dscore
        # The reference moves on when this frame looks right (no jump, matte and mask agree), or when
        # the old one is stale (a real change of shape lasting several frames is accepted after 3
        # frames). Its velocity (px per frame, for the constant-velocity prediction) comes from the
        # last two trusted frames.
        if trusted is None or js * dscore >= REF_SCORE or abs(step) >= 3:
            v = None
            if trusted is not None and step and trusted["area"] and geom["area"]:
                v = ((geom["cx"] - trusted["cx"]) / step, (geom["cy"] - trusted["cy"]) / step)
            rec = {"trusted": geom, "trusted_frame": frame, "velocity": v}
        else:
            rec = {"trusted": trusted, "trusted_frame": tframe, "velocity": vel}
        # an object cut whole here (absent) has no score (cut_whole), and nothing of this frame is carried
        # to the next (its alpha is 0 by the artist's word, whatever the mask)
        rec["score"] = 0.0 if cut_whole(obj) else score
        stats = {name + ".score": score, name + ".tracker_score": tscore, name + ".jump": js,
                 name + ".area_jump": area_jump, name + ".shift": shift, name + ".area": float(geom["area"]),
                 name + ".disagreement": dshare}
        return score, rec, stats

    # -- the stage --------------------------------------------------------------------------------
    def process(self, plate, track):
        """One frame with the temporal state kept inside the matter (frames in order, per direction),
        a convenience for scripts and tests; the pipeline uses :meth:`step` and :meth:`restore`, the
        state owned by the caller."""
        prev = self._store.get(track.ref)
        frame, state = self.step(plate, track, prev)
        # the slot follows the track's reference (as the pipeline's store does), not whether its state
        # was found: a frame whose reference was skipped must not take a (re)start's slot
        self._store.put(state, ref=track.ref)
        return frame

    def step(self, plate, track, state=None):
        """One frame, the temporal state owned by the caller: ``(MatteFrame, FrameState)``.

        ``state``: the :class:`samatte.matte.temporal.FrameState` of frame ``track.ref`` (what an
        earlier ``step`` returned, or :meth:`restore` made from a written frame), or None to start
        afresh; it is ignored when ``track.ref`` is None. The returned state is this frame's, to be
        given to the step of a frame that refers to it. The matter's own store is not touched, so a
        farm chunk, a resumed job and an unbroken run all go through the same code."""
        return self._step(plate, track, self._prev(plate, track, state))

    def step_iter(self, plate, track, state=None):
        """:meth:`step` as a generator: yields the name of the phase about to run (``"carry"``,
        ``"matte <object>"`` (that object's carry, estimate and fusion), ``"foreground"``, ``"quality"``) between the phases of the
        frame and returns ``(MatteFrame, FrameState)``, the same as :meth:`step`, bit for bit. A 4K
        frame takes seconds: the pipeline reports each phase and checks for cancellation there.
        A subclass that overrides :meth:`step` or :meth:`_step` gets its own, as one phase."""
        if any(getattr(type(self), m) is not getattr(RefineMatter, m) for m in ("step", "_step", "_finish")):
            return (yield from super().step_iter(plate, track, state))
        return (yield from self._phases(plate, track, self._prev(plate, track, state)))

    def _prev(self, plate, track, state):
        if state is not None and track.ref is not None:
            if state.frame != track.ref:
                raise PlateError("matte state is of frame %s, but the track refers to frame %s"
                                 % (state.frame, track.ref), frame=plate.frame)
            return state
        return None

    def _step(self, plate, track, prev):
        """The per-frame step as named phases: carry -> per object (its carry, estimate, fuse) -> finish."""
        return _run_phases(self._phases(plate, track, prev))

    def _phases(self, plate, track, prev):
        """:meth:`_step` as a generator of the phases' names (see :meth:`step_iter`).

        The motion compensation is made once per frame; then each object is carried, estimated and
        fused (:func:`object_threads` objects at once, in threads: :meth:`_objects`), and only its fused
        alpha is kept: the carried matte, its edge-preferred warp and confidence, the see-through doubt
        and the estimate (frame-sized arrays each) of at most that many objects at a time, not of every
        object at once (60 objects on a UHD plate held ~8 GB of them). Each object's answer depends on
        its own inputs only, and the answers are gathered in the objects' order, so the result is the
        same bit for bit whichever thread finishes first."""
        shape = self._check(plate, track)
        stats = {}
        t0 = time.perf_counter()
        disp = np.asarray(plate.display, dtype=np.float32)[..., :3]
        band = self._band(shape)
        if self.options["temporal"] and prev is not None:
            yield "carry"
        comp, names = self._motion_comp(disp, track, prev, stats)                      # 1. carry (shared)
        t_temporal = time.perf_counter() - t0
        t_alpha = 0.0
        image = self._image(plate, track)
        alphas = {}
        instability = None

        def one(name, obj):
            ost = {}   # this object's stats, merged in the objects' order (whatever thread finishes first)
            ta = time.perf_counter()
            c = self._carry_one(comp, track, prev, name, band) if name in names else None   # its carry
            checkpoint()   # (a cancelled job stops here, and inside the estimate's solves)
            tb = time.perf_counter()
            e = self._estimate_one(plate, name, obj, comp, c, band, shape, ost, image)  # 2. estimate
            checkpoint()
            tc = time.perf_counter()
            a, ci = self._fuse_one(track, comp, name, c, e, band, ost)                 # 3. fuse
            a = cut_alpha(a, obj)                                                      # its subtracts
            if ci is not None:
                ci = cut_alpha(ci, obj)   # (how the estimate wobbled where the artist cut is no doubt)
            del c, e   # (the object's frame-sized intermediates go now)
            return a, ci, ost, (tb - ta) + (time.perf_counter() - tc), tc - tb
        done = yield from self._objects(track, one)
        for name in track.objects:   # in the objects' order: the same dicts, the same maximum
            alphas[name], ci, ost, dt_temporal, dt_alpha = done.pop(name)
            stats.update(ost)
            if ci is not None:
                instability = ci if instability is None else np.maximum(instability, ci)
            t_temporal += dt_temporal
            t_alpha += dt_alpha
        t2b = time.perf_counter()
        frame, records, t3 = yield from self._finish_phases(plate, track, prev, alphas, instability, shape,
                                                            stats)                  # 4. finish
        t4 = time.perf_counter()
        stats.update({"ms.frame_alpha": 1e3 * t_alpha, "ms.temporal": 1e3 * t_temporal,
                      "ms.foreground": 1e3 * (t3 - t2b), "ms.quality": 1e3 * (t4 - t3)})
        return frame, self._state(plate.frame, track, disp, alphas, records, prev)

    def _objects(self, track, one):
        """``{name: one(name, obj)}`` for the track's objects, as a generator that yields ``"matte <name>"``
        before each object starts. Several objects run in :func:`object_threads` threads at most (numpy,
        SciPy, OpenCV and pymatting's numba code release the GIL for their heavy parts), each on its own
        inputs, so every answer is the one of a run in turn, bit for bit; at most that many objects'
        frame-sized intermediates are held at once. A cancel (the generator closed) waits for the objects
        under way and starts no other. One at a time (one object, ``--threads 1``) they run in one thread as
        well, where numba's threading layer takes calls from any thread, so the phase is named again every
        :data:`HEARTBEAT_S` however long an object takes."""
        objs = list(track.objects.items())
        if not objs:   # (no object on this frame: no pool, which takes at least one thread)
            return {}
        if self._workers is None and len(objs) > 1:
            self._workers = object_threads()   # (the thread budget may read cgroup files: once, not per frame)
        workers = min(len(objs), self._workers or 1)
        if (workers <= 1 and not numba_takes_threads()) or type(self).frame_alpha is not RefineMatter.frame_alpha:
            out = {}
            for name, obj in objs:
                yield "matte %s" % name
                out[name] = one(name, obj)
            return out
        import contextvars
        from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, ThreadPoolExecutor, wait
        pool = ThreadPoolExecutor(workers, thread_name_prefix="samatte-object")
        futures = {}
        phase = None
        nthreads = _numba_threads()

        def run(name, obj):
            # numba's thread count is per thread (numba.set_num_threads: samatte.threads.configure sets the calling
            # thread's): a pool thread took NUMBA_NUM_THREADS, all the CPUs where numba was loaded before the budget
            # was set, so --threads 1 / a TD's threads.configure(n) was not kept once one object ran in the pool
            if nthreads is not None:
                _set_numba_threads(nthreads)
            return one(name, obj)

        def waiting(running, until):
            # wait for the objects under way; every HEARTBEAT_S the phase is named again (the pipeline tells the
            # host and checks for a cancel: a 4K object at high quality takes 5-10 s, and before, the bar sat
            # still and a Cancel waited for all of them)
            while True:
                finished, under_way = wait(running, timeout=HEARTBEAT_S, return_when=until)
                if not under_way or (finished and until == FIRST_COMPLETED):
                    return
                yield phase
        try:
            for name, obj in objs:
                running = [f for f in futures.values() if not f.done()]
                if len(running) >= workers:
                    yield from waiting(running, FIRST_COMPLETED)
                for f in futures.values():
                    if f.done():
                        f.result()   # an object's error now, before another starts
                phase = "matte %s" % name
                yield phase
                # (in a copy of this context: the pipeline's cancel scope, for the solve's checkpoints)
                futures[name] = pool.submit(contextvars.copy_context().run, run, name, obj)
            yield from waiting(list(futures.values()), ALL_COMPLETED)
            return {name: f.result() for name, f in futures.items()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _motion_comp(self, disp, track, prev, stats):
        """The carry phase's shared part: the frame's MotionCompensation (or None) and the names of
        the objects whose previous matte is carried over."""
        comp = None
        if not self.options["temporal"] or prev is None:
            return comp, []
        names = []
        for n in track.objects:
            if n not in prev.alphas:
                continue
            if prev.objects.get(n, {}).get("score", 1.0) < TRUST_SCORE:
                # the previous frame was flagged (a broken mask): do not carry its matte over
                stats[n + ".temporal_skipped"] = 1.0
                continue
            if not np.asarray(track.objects[n].mask).any():
                # the object is not in this frame (its mask is empty): none of its previous matte
                # belongs here, however still the picture (the fusion would carry faint alpha there)
                stats[n + ".temporal_skipped"] = 1.0
                continue
            names.append(n)
        if names:
            comp = motion_compensate(disp, unpack_image(prev.image), motion=self._motion, tau=self.options["tau"])
            stats["temporal.confidence"] = float(comp.confidence.mean())
        return comp, names

    def _carry_one(self, comp, track, prev, n, band):
        """One object's carry: its previous matte warped onto this frame and its own edge motion."""
        edge = object_edge_motion(comp, np.asarray(track.objects[n].mask, bool), prev.alphas[n],
                                  band=band, tau=self.options["tau"], prev_mask=prev.masks.get(n))
        return Carry(warped=comp.warp(prev.alphas[n]), edge=edge)

    def _image(self, plate, track):
        """The matting images, made once per frame for every object the refiner sees (or None)."""
        if any(self._refines(obj) for obj in track.objects.values()):
            return matting_images(plate, self.options["space"])
        return None

    def _estimate_one(self, plate, name, obj, comp, c, band, shape, stats, image):
        """One object's :class:`Estimate` (``c``: its :class:`Carry`, or None)."""
        lam = self.options["prior"]
        prior = merged = None
        with_prior = c is not None and lam > 0 and self._takes_prior(obj)
        if with_prior:
            # the previous alpha and its confidence, the object-motion warp preferred at the edge
            merged = prefer_edge_motion(c.warped, comp.confidence, c.edge)
            prior = (merged[0], lam * merged[1])
        doubt = None
        if c is not None and self._refines(obj):
            doubt = see_through_doubt(comp, c.edge, obj.mask, shape, self.options["see_through"],
                                      depth=0.5 * band)
            if doubt is not None:
                stats[name + ".see_through"] = float(doubt.mean())
                if prior is not None:
                    # the previous matte made the same mistake there: it is no evidence
                    prior = (prior[0], prior[1] * (1.0 - doubt))
        rinfo = {}
        alpha = self.frame_alpha(plate, name, obj, prior=prior, image=image, doubt=doubt, info=rinfo)
        # what the refiner decided: how far colour was trusted (the automatic evidence check)
        for k in ("overlap", "distrust"):
            if k in rinfo:
                stats[name + ".colour_" + k] = float(rinfo[k])
        return Estimate(alpha=alpha, doubt=doubt, with_prior=with_prior, merged_warp=merged)

    def _fuse_one(self, track, comp, name, c, e, band, stats):
        """One object's fused alpha and its core instability map (None when nothing was carried)."""
        if c is None:
            return e.alpha, None
        mask = np.asarray(track.objects[name].mask, bool)
        # the boundary blend is for per-frame estimates made without the previous matte; one that
        # had it as a data term is already tied to it where the picture allows
        blend = 0.0 if e.with_prior else self.options["blend"]
        fused, info = fuse_alpha(e.alpha, mask, c.warped, comp.confidence, band=band, blend=blend,
                                 edge=c.edge, merged=e.merged_warp, doubt=e.doubt)
        if c.edge is not None:
            es = c.edge_stats
            stats[name + ".motion_similarity"] = es["similarity"]
            stats[name + ".motion_inliers"] = es["inliers"]
            stats[name + ".ring_residual"] = es["ring_residual"]
            stats[name + ".edge_displacement"] = es.get("edge_displacement", 0.0)
        stats[name + ".edge_weight"] = info["edge_weight"]
        stats[name + ".carried"] = info["carried"]
        stats[name + ".temporal_weight"] = info["weight_mean"]
        return fused, info["core_instability"]

    def _finish(self, plate, track, prev, alphas, instability, shape, stats):
        """Phase 4: the merged matte, the premultiplied foreground, the quality map and the scores.
        Returns (MatteFrame, per-object quality records, the time the foreground was done)."""
        return _run_phases(self._finish_phases(plate, track, prev, alphas, instability, shape, stats))

    def _finish_phases(self, plate, track, prev, alphas, instability, shape, stats):
        """:meth:`_finish` as a generator: yields ``"foreground"`` and ``"quality"`` before those."""
        merged = merge_alphas(alphas.values(), shape, [_coarse(track.objects[n]) for n in alphas])
        fg = crop = None
        if self.foreground or self.quality_map:
            yield "foreground"
            fg, crop = premultiplied_foreground(plate.linear, merged, method=self.options["foreground_method"],
                                                return_background=True)
        t3 = time.perf_counter()
        obj_scores, records = [], {}
        for name, obj in track.objects.items():
            checkpoint()   # (a cancelled job stops between the objects' scores: each reads frame-sized arrays)
            sc, rec, st = self._object_quality(name, obj, prev, plate.frame, alpha=alphas[name])
            if cut_whole(obj):
                del st[name + ".score"]   # no score: samatte/object_scores leaves it out (README)
            else:
                obj_scores.append(sc)
            records[name] = rec
            stats.update(st)
        qmap = None
        band_doubt = 0.0
        if self.quality_map:
            yield "quality"
            mask_union = np.zeros(shape, bool)
            for obj in track.objects.values():
                mask_union |= kept_mask(obj)   # (what the artist cut is no disagreement)
            box, Fc, Bc = crop if crop is not None else (None, None, None)
            checkpoint()
            qmap, qstats = _quality.pixel_doubt(plate.linear, merged, Fc, Bc, box=box,
                                                core_instability=instability, mask=mask_union)
            band_doubt = qstats["band_doubt"]
            stats.update({"quality." + k: v for k, v in qstats.items()})
        score = _quality.frame_score(obj_scores, band_doubt)
        frame = MatteFrame(frame=plate.frame, alphas=alphas, alpha=merged,
                           foreground=fg if self.foreground else None, quality=qmap, score=score, stats=stats)
        return frame, records, t3

    def _state(self, frame, track, image, alphas, records, prev):
        # The carried alpha is kept at the precision the writer stores it (half float), so a resumed
        # job, whose state comes from the finished EXR on disk, continues exactly as an unbroken run.
        alphas = {n: np.asarray(a, np.float16).astype(np.float32) for n, a in alphas.items()}
        return FrameState(frame=frame, image=pack_image(image), alphas=alphas,
                          masks={n: np.asarray(o.mask, bool) for n, o in track.objects.items()},
                          objects=records, age=(prev.age + 1) if prev is not None else 0)

    def restore(self, frame, alphas, plate, track, scores=None, state=None):
        """The :class:`FrameState` of a frame already written (resume, a farm chunk's first frame):
        ``alphas`` maps object names to their written alpha, ``scores`` (optional) to their written
        per-object score, ``state`` is the state of ``track.ref`` if known (for the quality records).
        Give it to :meth:`step` of the next frame; the frame is not matted again."""
        prev = state if (state is not None and track.ref is not None and state.frame == track.ref) else None
        records = {}
        for name, obj in track.objects.items():
            a = (alphas or {}).get(name)
            _, records[name], _ = self._object_quality(name, obj, prev, frame,
                                                       alpha=None if a is None else np.asarray(a, np.float32))
            if scores and name in scores:
                records[name]["score"] = float(scores[name])
        kept = {n: np.asarray(a, np.float32) for n, a in (alphas or {}).items() if n in track.objects}
        return self._state(frame, track, np.asarray(plate.display, np.float32)[..., :3], kept, records, prev)

    def close(self):
        self._store.clear()


class MaskMatter(RefineMatter):
    """``"none"``: alpha = the tracker's binary mask as float (no refinement, no temporal fusion).

    The foreground is the plate times the mask (exact for a binary matte); the per-frame score (tracker
    score and mask jumps) is still computed; there is no per-pixel quality map."""

    name = "none"

    def __init__(self, *, quality="default", options=None, foreground=True, quality_map=True, device="auto"):
        super().__init__(quality=quality, options=options, foreground=foreground, quality_map=False,
                         refiner=lambda image, coarse, **kw: coarse, device=device)
        self.options["temporal"] = False

    def _step(self, plate, track, prev):
        shape = self._check(plate, track)
        alphas = {n: cut_alpha(_coarse(o), o) for n, o in track.objects.items()}
        merged = merge_alphas(alphas.values(), shape, [_coarse(track.objects[n]) for n in alphas])
        fg = None
        if self.foreground:
            fg = (np.asarray(plate.linear, np.float32) * merged[..., None]).astype(np.float32)
        stats, scores, records = {}, [], {}
        for name, obj in track.objects.items():
            s, records[name], st = self._object_quality(name, obj, prev, plate.frame)
            if cut_whole(obj):
                del st[name + ".score"]   # no score: samatte/object_scores leaves it out (README)
            else:
                scores.append(s)
            stats.update(st)
        state = self._state(plate.frame, track, np.zeros((1, 1, 3), np.float32), {}, records, prev)
        return MatteFrame(frame=plate.frame, alphas=alphas, alpha=merged, foreground=fg, quality=None,
                          score=_quality.frame_score(scores), stats=stats), state


def find_sam2matte_weights(checkpoint=None):
    """Path of the SAM2-Matte checkpoint, or None: an explicit ``checkpoint``, else
    ``samatte.models.find_weights("sam2matte")`` when the registry knows it, else ``sam2matte.pt`` in
    one of ``samatte.models.search_dirs()`` (``$SAMATTE_MODELS``, the installer's folder, ...)."""
    from pathlib import Path
    if checkpoint:
        p = Path(checkpoint).expanduser()
        return p if p.is_file() else None
    try:
        from .. import models
    except ImportError:
        return None
    try:
        if SAM2MATTE_NAME in getattr(models, "MODELS", {}):
            p = models.find_weights(SAM2MATTE_NAME)
            if p is not None:
                return Path(p)
        dirs = models.search_dirs() if hasattr(models, "search_dirs") else [models.models_dir()]
        for d in dirs:
            p = Path(d) / (SAM2MATTE_NAME + ".pt")
            if p.is_file() and p.stat().st_size > 0:
                return p
    except Exception:  # a broken models folder setting must not break "auto"
        return None
    return None


class Sam2MatteMatter(RefineMatter):
    """``"sam2matte"`` (learned-head slot): SAM2-Matte is SAM2 fine-tuned so that the sigmoid of its
    mask logits is an alpha matte. The tracker must run with the SAM2-Matte checkpoint (its logits are
    then the matte head's output); this matter takes ``sigmoid(logits upsampled to the canvas)`` as the
    per-frame alpha and runs the same temporal / foreground / quality path. Objects without logits
    fall back to the refiner. Raises WeightsMissingError when the checkpoint is not installed.

    Unverified: no SAM2-Matte checkpoint was available to this project, so this path has only been run
    on synthetic logits.
    """

    name = "sam2matte"

    def __init__(self, *, quality="default", options=None, foreground=True, quality_map=True,
                 refiner=None, device="auto"):
        opts = dict(options or {})
        self.checkpoint = find_sam2matte_weights(opts.get("checkpoint"))
        if self.checkpoint is None:
            raise WeightsMissingError(
                "SAM2-Matte weights not found: put the checkpoint at <models dir>/sam2matte.pt (or give "
                "matte.options.checkpoint) and run the tracker with the same checkpoint; or use the "
                "weights-free 'refine' matte backend", model=SAM2MATTE_NAME)
        super().__init__(quality=quality, options=opts, foreground=foreground, quality_map=quality_map,
                         refiner=refiner, device=device)

    def _refines(self, obj):
        return obj.logits is None   # the head needs the tracker's logits; without them: refine

    def frame_alpha(self, plate, name, obj, prior=None, image=None, doubt=None, info=None):
        if obj.logits is None:
            return super().frame_alpha(plate, name, obj, prior=prior, image=image, doubt=doubt, info=info)
        lg = _upsample_logits(obj.logits, np.shape(obj.mask))
        return (1.0 / (1.0 + np.exp(-np.clip(lg, -30.0, 30.0)))).astype(np.float32)


def _matanyone(**_kw):
    raise DependencyError(
        "the 'matanyone' matte backend is a slot, not available in this build: it needs the MatAnyone "
        "package (pq-yang/MatAnyone) and its checkpoint (matanyone.pth), a GPU for useful speed, and an "
        "adapter that feeds it the first frame's mask and streams frames through its memory; use "
        "'refine' (weights-free) or 'sam2matte'", backend="matanyone")


def get_matter(backend="auto", *, quality="default", options=None, device="auto", foreground=True,
               quality_map=True):
    """Build the Matter for one job.

    ``backend``: ``"refine"`` (weights-free default), ``"none"`` (alpha = mask), ``"sam2matte"``
    (learned head, needs ``sam2matte.pt``), ``"matanyone"`` (slot: raises DependencyError), ``"auto"``
    (``"sam2matte"`` when its weights are found, else ``"refine"``). ``options``: see :data:`OPTIONS`.
    """
    kw = dict(quality=quality, options=options, foreground=foreground, quality_map=quality_map, device=device)
    if backend == "auto":
        if find_sam2matte_weights((options or {}).get("checkpoint")) is not None:
            return Sam2MatteMatter(**kw)
        return RefineMatter(**kw)
    if backend == "refine":
        return RefineMatter(**kw)
    if backend == "none":
        return MaskMatter(**kw)
    if backend == "sam2matte":
        return Sam2MatteMatter(**kw)
    if backend == "matanyone":
        return _matanyone(**kw)
    raise JobSpecError("unknown matte backend %r (known: auto, refine, none, sam2matte, matanyone)"
                       % (backend,), field="matte.backend")
