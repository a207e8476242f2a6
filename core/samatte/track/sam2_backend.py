"""SAM 2.1 tracking backend with a streaming, bounded-memory inference state.

Stock ``SAM2VideoPredictor.init_state`` decodes every frame of the shot into one tensor (about 12 MB
a frame at 1024²) and keeps every frame's outputs for the whole session, so memory grows with shot
length (sam2 issues #62, #196, #264, #456). :class:`Sam2Tracker` drives the *same* predictor methods
(``add_new_mask``, ``add_new_points_or_box``, ``propagate_in_video_preflight``,
``_run_single_frame_inference``, ``_run_memory_encoder``) on a state whose ``images`` is
:class:`FrameTensorCache` -- a small LRU that reads a frame from the lazy FrameSource, resizes its
display-referred RGB to the model's square and normalises it with the ImageNet mean/std on demand
(no JPEG detour, no whole-shot tensor) -- and prunes per-frame outputs as propagation moves on. It
keeps every conditioning (prompted) frame, the non-conditioning frames that memory attention can
still reach (the last ``num_maskmem`` frames, stride-aware, and the last ``max_obj_ptrs_in_encoder``
(16) object pointers in the direction of travel), and the 16 frames next to the first keyframe that
the backward pass will attend to. With the same settings the masks equal upstream's
``propagate_in_video`` (see tests/test_sam2_equivalence.py); memory no longer depends on shot length.

Passes. Let K0 be the earliest prompted frame of any object. Pass 1 runs forward from K0 to the last
frame, pass 2 backward from K0-1 to the first frame (the order upstream's notebook uses). On every
prompted frame the prompt's own output is used (the keyframe "wins") and memory restarts there
(see below), so each keyframe re-propagates forward; frames before K0 are propagated backward from
K0. An object whose first prompt comes after K0 is, on frames between K0 and its first prompt,
segmented as upstream does: forward, attending to its (future) keyframe memory; on K0 itself, as
upstream's reverse pass (which starts at K0) leaves it: segmented again backward before the frames
before K0, which attend to that output (so frame K0 then comes after the forward pass). Frames between two
keyframes are tracked forward from the earlier one while attending to the later one (see
``max_cond_frames``); a separate backward pass from every keyframe would need each gap's forward
results buffered (or computed twice) to merge, which the bounded-memory design avoids.

Absent frames (JobSpec ``absent``, ``TrackerObject.absent``). An object that is not in the shot on some of
the frames is propagated on its own, one session (a fresh state, as above) per run of its present frames,
so its memory never crosses a span: a run with anchors of its own is tracked from them alone (exactly
upstream on that run's frames); a run without one is seeded (``add_new_mask``) with the mask of the
nearest present frame on the side the track comes from, as the flow tracker carries the held mask on.
Its mask on absent frames is empty. Seeded rather than held: SAM 2 then follows the object from where it
was, as flow does, and the held mask is still what the run starts from. The objects present throughout
are tracked together exactly as without ``absent`` (same ``K0``). See :meth:`Sam2Tracker._track_absent`.

CPU/MPS fix: SAM2 stores memories in bfloat16 and, without CUDA autocast, memory attention fails
("mat1 and mat2 must have the same dtype") when no float32 object pointer joins the memory (e.g. an
object whose keyframe lies ahead); a forward pre-hook casts the memory to the query's dtype -- the
same promotion ``torch.cat`` does when pointers are present, so results are otherwise unchanged.

Logits. ``ObjectTrack.logits`` are SAM2's *low-resolution* mask logits (``pred_masks``: float32,
``image_size/4`` square, covering the whole canvas, positive = inside, before any thresholding);
resize them to the canvas (bilinear, align_corners=False) to align -- that is exactly how ``mask``
(canvas resolution, ``> 0``) is made, as upstream makes ``video_res_masks``. ``score`` is the
sigmoid of SAM2's object-score logit.

Why these settings (defaults; each is a tracker option):

* ``max_cond_frames: 2`` (``max_cond_frames_in_attn``; upstream -1 = all). Memory attention sees the
  nearest keyframe before and the nearest after the current frame. With every keyframe in
  attention, an old keyframe keeps pulling the track back and a later correction only changes its
  own frame (sam2 #321); 2 is the smallest value upstream's selection supports, and it also bounds
  attention cost on shots with many keyframes.
* ``clear_mem_at_keyframes: true`` (upstream's ``clear_non_cond_mem_around_input``, which in sam2 1.1.0
  calls a method that does not exist, #625). When propagation reaches an object's keyframe, that
  object's non-conditioning memories of the ``num_maskmem`` frames just behind it are dropped, so
  the frames after a keyframe follow the prompt rather than the drifted track that led up to it
  (sam2 #154, #321): each keyframe re-starts the propagation.
* ``refine_points: true`` (upstream's interactive refinement + ``add_all_frames_to_correct_as_cond``).
  A points-only prompt on a frame without a shape (before or after the keyframes) is a *correction*: the frame is
  first tracked from memory, then the clicks refine that mask (with the tracked logits as mask
  input, as SAM2's demo does), and the result becomes a conditioning frame, so it sticks: the
  keyframe's output is never overwritten by propagation and later frames attend to it (sam2 #546,
  #719, #731). Masks, polygons, beziers and boxes always define the object on their own.
* ``fill_hole_area: 8`` low-res pixels, done here with OpenCV because upstream's hole filling needs
  sam2's CUDA extension (it silently skips without it); it only touches the output, never memory.

Prompts on one frame for one object combine: add-mode masks (mask, polygon, bezier ``mask_array``)
are OR-ed and the subtract-mode shapes removed from them (SAM2's mask input = add minus subtract);
several boxes become their bounding box (with subtract shapes and no mask, that rectangle minus the
subtract shapes becomes the mask input: a box prompt cannot subtract); points are concatenated after
the box; with a mask, the points refine the mask and boxes are ignored.

Shape keyframes and corrections (the rule of :mod:`samatte.track.seed`): frames with an add-mode
shape or box are keyframes ("anchors"). An object with no shape is seeded from its first frame with a
positive click. Every other prompted frame is a correction, applied when propagation reaches it
(forward or backward): its clicks -- negative-only ones too -- refine the tracked mask
(``refine_points``), then its subtract shapes are cut out of the result (low-resolution logits set
to -8 there) and the memory is re-encoded; the frame becomes a conditioning frame so the correction
sticks. With ``refine_points: false`` every frame with a positive click is a keyframe (upstream's
behaviour); negative-only clicks and subtract-only frames stay corrections.
"""
import contextlib
import functools
import logging
import threading
import warnings
from collections import OrderedDict

import numpy as np

from ..errors import DependencyError, JobSpecError, ModelError, PromptError, out_of_memory
from ..jobspec import absent_segments, anchor_frames, prompt_frame_kind
from ..progress import Progress, cancel_scope, check_cancel, checkpoint
from ..registry import TRACKER_OPTIONS, validate_device, validate_options
from ..stages import ObjectTrack, Tracker, TrackFrame
from .seed import _rect, _subtracts

__all__ = ["Sam2Tracker", "FrameTensorCache", "preprocess_display", "build_predictor", "DEFAULT_OPTIONS",
           "IMG_MEAN", "IMG_STD"]

log = logging.getLogger("samatte.track.sam2")

IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)

DEFAULT_OPTIONS = {
    "max_cond_frames": 2,
    "clear_mem_at_keyframes": True,
    "refine_points": True,
    "fill_hole_area": 8,
    "cache_frames": 2,
    "autocast": True,
}


def _import_torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a hard dependency of the sam2 backend
        raise DependencyError("the sam2 tracker needs PyTorch: %s" % e, package="torch")
    return torch


def preprocess_display(display, image_size, device=None):
    """Display-referred RGB (float32 HxWx3 in [0, 1]) -> normalised (3, S, S) float32 tensor.

    Bilinear resize with antialiasing (as SAM2's own ``SAM2Transforms`` for images), then ImageNet
    mean/std. Done on ``device`` when given (the GPU resizes faster than the CPU).
    """
    torch = _import_torch()
    import torch.nn.functional as F
    arr = np.asarray(display)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ModelError("expected an HxWx3 display image, got shape %s" % (arr.shape,))
    with warnings.catch_warnings():
        # the source's frames are read-only (shared); nothing below writes to x in place, so torch's
        # "non-writable array ... undefined behavior" warning (on stderr in every run) does not apply
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x = torch.from_numpy(np.ascontiguousarray(arr[..., :3], dtype=np.float32))
    if device is not None:
        x = x.to(device)
    x = x.permute(2, 0, 1).unsqueeze(0)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMG_MEAN, dtype=torch.float32, device=x.device)[:, None, None]
    std = torch.tensor(IMG_STD, dtype=torch.float32, device=x.device)[:, None, None]
    return (x[0] - mean) / std


class FrameTensorCache:
    """``inference_state["images"]`` for SAM2: index -> normalised (3, S, S) tensor, loaded on demand.

    ``frames[i]`` is the host frame of index ``i``; ``source.get(frame).display`` gives the pixels.
    Holds at most ``capacity`` tensors (LRU). ``loads`` counts source reads (for tests).
    """

    def __init__(self, source, frames, image_size, *, device=None, capacity=2):
        self.source = source
        self.frames = list(frames)
        self.image_size = int(image_size)
        self.device = device
        self.capacity = max(1, int(capacity))
        self._cache = OrderedDict()
        self.loads = 0

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, idx):
        idx = int(idx)
        if idx < 0:
            idx += len(self.frames)
        if not 0 <= idx < len(self.frames):
            raise IndexError(idx)
        t = self._cache.get(idx)
        if t is not None:
            self._cache.move_to_end(idx)
            return t
        plate = self.source.get(self.frames[idx])
        t = preprocess_display(plate.display, self.image_size, self.device)
        self.loads += 1
        self._cache[idx] = t
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return t

    def clear(self):
        self._cache.clear()


_HYDRA_LOCK = threading.Lock()


@contextlib.contextmanager
def _sam2_hydra():
    """Import sam2 and give its ``build_sam2_video_predictor`` (yielded) sam2's own Hydra config search
    path, whatever the host process did with Hydra's process-wide ``GlobalHydra``.

    ``sam2/__init__`` initialises ``GlobalHydra`` with its config module on first import, and only when
    nobody has yet: in a TD's pipeline that already uses Hydra, sam2's configs are then not found
    ("Cannot find primary config"), and a pipeline that initialises Hydra after samatte built SAM 2
    gets "GlobalHydra is already initialized". So the host's Hydra (or none) is set aside, sam2's
    initialised for the build only, and the host's put back after it -- the same ``GlobalHydra``
    object, so references the host holds stay valid -- with Hydra's version base, which sam2's initialisation
    sets process-wide. A lock keeps two builds in threads apart."""
    with _HYDRA_LOCK:
        try:
            from hydra.core.global_hydra import GlobalHydra
        except ImportError as e:
            raise DependencyError("the sam2 tracker needs the 'hydra-core' package (a dependency of sam2): %s"
                                  % e, package="hydra-core")
        gh = GlobalHydra.instance()
        host = gh.hydra
        # Hydra's version base is process-wide too, and sam2's initialize_config_module(..., version_base="1.2")
        # sets it: a host's (1.1-style configs: compose(strict=...), `optional:` defaults) goes back with its Hydra
        try:
            from hydra.version import VersionBase
            versions = VersionBase.instance()
            base = versions.getbase()
        except (ImportError, AttributeError):  # a Hydra without it (older than 1.2): nothing to keep
            versions = base = None
        gh.clear()
        try:
            try:
                from sam2.build_sam import build_sam2_video_predictor  # first import: sam2 initialises gh
            except ImportError as e:
                raise DependencyError("the sam2 tracker needs the 'sam2' package (pip install sam2==1.1.0): %s"
                                      % e, package="sam2")
            if not gh.is_initialized():
                from hydra import initialize_config_module
                initialize_config_module("sam2", version_base="1.2")
            yield build_sam2_video_predictor
        finally:
            gh.clear()
            if host is not None:
                gh.initialize(host)
            if versions is not None:   # (its attribute: setbase refuses the "unspecified" a fresh process has)
                versions.version_base = base


def build_predictor(model="sam2.1_hiera_tiny", *, checkpoint=None, device="cpu", image_size=None,
                    random_init=False):
    """Build a ``SAM2VideoPredictor`` for a registry model and load its weights safely.

    ``random_init=True`` skips the weights (randomly initialised modules: tests and benchmarks).
    sam2 is imported here, never at module import (its ``__init__`` initialises Hydra globally).
    """
    from .. import models
    info = models.get_model(model)
    ckpt = None if random_init else models.require_weights(info.name, checkpoint)
    overrides = []
    if image_size is not None:
        size = int(image_size)
        if size < 64 or size % 32:
            raise JobSpecError("tracker image_size must be a multiple of 32 and >= 64, got %r" % (image_size,),
                               field="tracker.options.image_size")
        overrides.append("++model.image_size=%d" % size)
    with _sam2_hydra() as build_sam2_video_predictor:
        try:
            pred = build_sam2_video_predictor(info.config, ckpt_path=None, device="cpu",
                                              hydra_overrides_extra=overrides)
        except Exception as e:
            oom = out_of_memory(e, model=info.name)   # the memory, not the model: OUT_OF_MEMORY
            if oom is not None:
                raise oom from e
            raise ModelError("cannot build SAM2 model %s: %s" % (info.name, e), model=info.name)
    if ckpt is not None:
        models.load_state_dict(pred, ckpt)
    return pred.to(device).eval()


def _parse_options(options, image_size=None):
    """(``DEFAULT_OPTIONS`` with ``options`` applied, the image size: ``image_size`` or the option's).

    Checked by the registry's rules for sam2, those of a JobSpec's ``tracker.options``
    (JobSpecError JOBSPEC_INVALID, field ``tracker.options.<name>``), so a script that makes the
    tracker itself gets the error the JobSpec would. Names of other backends are ignored (``auto``
    options) with a warning; ``work_dir`` (every tracker's) is accepted and unused."""
    if options is not None and not isinstance(options, dict):
        validate_options("tracker", "sam2", options)  # raises: not an object
    known = TRACKER_OPTIONS["sam2"]
    own = {}
    for k, v in (options or {}).items():
        if k in known:
            own[k] = v
        else:
            # tracker.options may be written for another backend ("auto" picks one): ignore, but say so
            log.warning("ignoring tracker option %r: not a sam2 option (known: %s)", k, ", ".join(sorted(known)))
    if image_size is not None:
        own["image_size"] = image_size
    own = validate_options("tracker", "sam2", own)
    opts = dict(DEFAULT_OPTIONS)
    opts.update((k, v) for k, v in own.items() if k in DEFAULT_OPTIONS)
    return opts, own.get("image_size")


def _fill_holes(logits, max_area):
    """Fill background components of area <= max_area (8-connected) with a small positive logit."""
    import cv2
    bg = (logits <= 0).astype(np.uint8)
    if not bg.any():
        return logits
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bg, connectivity=8)
    small = np.nonzero(stats[1:, cv2.CC_STAT_AREA] <= max_area)[0] + 1
    if small.size == 0:
        return logits
    out = logits.copy()
    out[np.isin(labels, small)] = 0.1
    return out


class _ObjPrompts:
    """One object's prompts by frame index, split into anchors (define the object) and corrections."""

    def __init__(self, name):
        self.name = name
        self.anchors = {}       # idx -> dict(mask=bool HxW or None, box=[4] or None, points=(P,2), labels=(P,))
        self.corrections = {}   # idx -> (points (P,2), labels (P,))


class _Deferred:
    """A full-resolution mask of a prompt frame (an anchor's combined mask, a correction's subtract
    shapes), made again from the frame's prompts when it is used, so the masks of every keyed frame are
    not all held for the whole job (the prompts' rasters are lazy too: samatte.prompts)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def _resolve(x):
    """``x`` itself, or what a :class:`_Deferred` makes."""
    return x.make() if isinstance(x, _Deferred) else x


def _subtract_mask(plist, shape):
    """Union of the subtract-mode prompts of one frame (bool (H, W)), or None."""
    out = None
    for p in plist:
        if not _subtracts(p):
            continue
        if p.get("mask_array") is not None:
            m = np.asarray(p["mask_array"], bool)
        else:
            m = _rect(tuple(shape), p["box"])
        if m.shape != tuple(shape):
            raise PromptError("subtract prompt is %s, not the canvas %s" % (m.shape, tuple(shape)))
        out = m if out is None else (out | m)
    return out


def _combine(plist, shape, name, frame):
    """(mask, box, points, labels, subtract) of one object's prompts on one frame: add-mode masks OR-ed
    minus the subtract shapes; with subtract shapes and only boxes, the boxes' bounding rectangle
    becomes the mask (SAM2's box prompt cannot subtract)."""
    sub = _subtract_mask(plist, shape)
    mask, box, points, labels = _combine_adds([p for p in plist if not _subtracts(p)], shape, name, frame)
    if sub is not None and box is not None and mask is None:
        mask = _rect(tuple(shape), box)
        box = None
    if sub is not None and mask is not None:
        mask = mask & ~sub
        if not mask.any():
            raise PromptError("the subtract shapes of object %r on frame %d remove its whole shape" % (name, frame),
                              object=name, frame=frame)
        sub = None  # used up on a keyframe
    return mask, box, points, labels, sub


def _combine_adds(plist, shape, name, frame):
    masks, boxes, pts, labs = [], [], [], []
    for p in plist:
        if p.get("mask_array") is not None:
            m = np.asarray(p["mask_array"])
            if m.shape != tuple(shape):
                raise PromptError("mask prompt of object %r on frame %d is %s, not the canvas %s"
                                  % (name, frame, m.shape, tuple(shape)), object=name, frame=frame)
            masks.append(m.astype(bool))
        elif p.get("type") == "box" or ("box" in p and p.get("type") is None):
            boxes.append([float(v) for v in p["box"]])
        elif p.get("type") == "points" or "points" in p:
            q = np.asarray(p["points"], dtype=np.float32).reshape(-1, 2)
            lab = np.asarray(p.get("labels", [1] * len(q)), dtype=np.int32).reshape(-1)
            if len(lab) != len(q):
                raise PromptError("points prompt of object %r on frame %d has %d points and %d labels"
                                  % (name, frame, len(q), len(lab)), object=name, frame=frame)
            pts.append(q)
            labs.append(lab)
        else:
            raise PromptError("prompt type %r of object %r on frame %d has no mask_array, box or points"
                              % (p.get("type"), name, frame), object=name, frame=frame)
    mask = None
    if masks:
        mask = np.logical_or.reduce(masks)
        if not mask.any():
            raise PromptError("mask prompt of object %r on frame %d is empty" % (name, frame), object=name,
                              frame=frame)
    box = None
    if boxes and mask is None:
        b = np.asarray(boxes, dtype=np.float32)
        box = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]
    points = np.concatenate(pts) if pts else None
    labels = np.concatenate(labs) if labs else None
    return mask, box, points, labels


class Sam2Tracker(Tracker):
    """SAM 2.1 video tracker (see the module docstring for passes, outputs and settings).

    ``model``: registry name (:data:`samatte.models.MODELS`); ``checkpoint``: explicit weights file;
    ``device``: "auto" (CUDA with bf16 autocast > MPS > CPU), "cpu", "cuda[:N]", "mps";
    ``image_size``: the model's square input (default: the config's, 1024); ``options``: see
    :data:`DEFAULT_OPTIONS`. ``predictor``: an already built ``SAM2VideoPredictor`` to use instead of
    loading one (tests, benchmarks). Weights are located when constructed (a missing checkpoint
    raises :class:`WeightsMissingError` at once) and loaded on the first :meth:`track`.
    """

    name = "sam2"

    def __init__(self, model="sam2.1_hiera_tiny", *, checkpoint=None, device="auto", image_size=None,
                 options=None, predictor=None):
        from .. import models
        self.options, image_size = _parse_options(options, image_size)
        device = "auto" if device is None else validate_device(device)
        self.model_info = models.get_model(model)
        self._checkpoint = None
        if predictor is None:
            self._checkpoint = models.require_weights(self.model_info.name, checkpoint)
        self._device_req = device
        self._image_size = image_size
        self.predictor = predictor
        self.device = None
        self.stats = {}

    # -- model ---------------------------------------------------------------------------------
    def load(self):
        _import_torch()
        if self.predictor is None:
            from .. import models
            dev = models.resolve_device(self._device_req)
            self.predictor = build_predictor(self.model_info.name, checkpoint=self._checkpoint, device=dev,
                                             image_size=self._image_size)
        self.device = next(self.predictor.parameters()).device
        p = self.predictor
        p.max_cond_frames_in_attn = self.options["max_cond_frames"]
        p.fill_hole_area = 0  # done on the output by _fill_holes (upstream's needs the CUDA extension)
        p.clear_non_cond_mem_around_input = False  # our own version, see clear_mem_at_keyframes
        p.add_all_frames_to_correct_as_cond = True
        _install_memory_dtype_fix(p)
        _install_checkpoints(p)
        return p

    def close(self):
        self.predictor = None

    # -- state -----------------------------------------------------------------------------------
    def _new_state(self, images, num_frames, height, width):
        dev = self.device
        return {
            "images": images, "num_frames": num_frames, "offload_video_to_cpu": False,
            "offload_state_to_cpu": False, "video_height": height, "video_width": width,
            "device": dev, "storage_device": dev, "point_inputs_per_obj": {}, "mask_inputs_per_obj": {},
            "cached_features": {}, "constants": {}, "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(), "obj_ids": [], "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {}, "frames_tracked_per_obj": {},
        }

    def memory_window(self):
        """How many non-conditioning frames behind the current one memory attention can reach."""
        p = self.predictor
        r = max(1, int(p.memory_temporal_stride_for_eval))
        maskmem = (p.num_maskmem - 2) * r + 2 if p.num_maskmem > 1 else 1
        ptrs = int(p.max_obj_ptrs_in_encoder) if p.use_obj_ptrs_in_encoder else 0
        return max(maskmem, ptrs, 1)

    # -- main entry ------------------------------------------------------------------------------
    def track(self, source, objects, frames, *, cancel=None):
        _import_torch()
        frames = sorted(int(f) for f in frames)
        if not frames:
            raise PromptError("no frames to track")
        if len(set(frames)) != len(frames):
            raise PromptError("duplicate frames in the frame list")
        objects = list(objects)
        if not objects:
            raise PromptError("the sam2 tracker needs at least one object with prompts")
        names = [o.name for o in objects]
        if len(set(names)) != len(names):
            raise PromptError("duplicate object names: %s" % sorted({n for n in names if names.count(n) > 1}))
        info = source.info
        H, W = info.height, info.width
        idx_of = {f: i for i, f in enumerate(frames)}
        prompts = self._collect_prompts(objects, idx_of, (H, W))  # validate before loading the model
        if self.predictor is None or self.device is None:
            yield Progress("track", None, 0, len(frames), "loading SAM2 %s" % self.model_info.name)
        self.load()
        k0 = min(min(op.anchors) for op in prompts)
        gone = [frozenset(int(f) for f in (getattr(o, "absent", None) or ())) & set(frames) for o in objects]
        if not any(gone):
            yield from (x for _, x in self._session(source, prompts, frames, k0, cancel))
            return
        yield from self._track_absent(source, prompts, frames, k0, gone, cancel)

    def _session(self, source, prompts, frames, k0, cancel, *, progress=None):
        """One SAM 2 propagation of ``prompts`` (indices into ``frames``) over ``frames``: forward from
        ``k0``, then backward from ``k0 - 1``. Yields (frame index, TrackFrame or Progress); ``progress``:
        (done before, total) to count within a larger run instead of this session's own counts."""
        torch = _import_torch()
        H, W = source.info.height, source.info.width
        if "sessions" in self.stats:
            self.stats["sessions"] += 1
        order = [(i, False) for i in range(k0, len(frames))] + [(i, True) for i in range(k0 - 1, -1, -1)]
        if hasattr(source, "prefetch"):
            keys = sorted({i for op in prompts for i in op.anchors})
            source.prefetch([frames[i] for i in keys] + [frames[i] for i, _ in order])
        images = FrameTensorCache(source, frames, self.predictor.image_size, device=self.device,
                                  capacity=self.options["cache_frames"])
        state = self._new_state(images, len(frames), H, W)
        use_autocast = self.options["autocast"] and self.device.type == "cuda"
        ctx = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_autocast else contextlib.nullcontext
        base, total = progress if progress is not None else (0, len(order))
        try:
            with torch.inference_mode(), ctx(), cancel_scope(cancel):
                self._add_anchors(state, prompts, frames)
                self.predictor.propagate_in_video_preflight(state)
            if progress is None:   # (a run of several sessions keeps the maxima over them all)
                self.stats = {"max_non_cond": 0, "max_images": 0, "window": self.memory_window()}
            held = None   # frame k0, when the backward pass segments some object there again
            for done, (idx, reverse) in enumerate(order):
                check_cancel(cancel)
                first_of_pass = (done == 0) or (reverse and idx == k0 - 1)
                # (in the cancel's scope: a frame on a CPU takes seconds, and its encoder's blocks are checkpoints)
                with torch.inference_mode(), ctx(), cancel_scope(cancel):
                    if reverse and idx == k0 - 1 and held is not None:
                        # upstream's reverse pass starts at k0 itself: an object without a prompt there is
                        # segmented again, backward (attending to the frames after it), and that output is
                        # both frame k0's answer and the memory the backward pass reads
                        held = self._step(state, prompts, frames, k0, True, True)
                    tf = self._step(state, prompts, frames, idx, reverse, first_of_pass)
                    self._prune(state, idx, reverse, k0)
                if held is not None and reverse and idx == k0 - 1:
                    yield k0, held
                    held = None
                if not reverse and idx == k0 and k0 > 0 and not all(
                        k0 in od["cond_frame_outputs"] for od in state["output_dict_per_obj"].values()):
                    held = tf   # (kept in forward memory; given out once segmented backward)
                else:
                    yield idx, tf
                yield idx, Progress("track", frames[idx], base + done + 1, total,
                                    "SAM2 %s" % ("backward" if reverse else "forward"))
        finally:
            images.clear()

    def _track_absent(self, source, prompts, frames, k0, gone, cancel):
        """Track objects of which some are absent on some of ``frames`` (JobSpec ``absent``, README
        "Prompts"). The objects present on every frame are propagated together as always (passes from
        ``k0``, the earliest anchor of *any* object, so their masks are those of a job without
        ``absent``). Each absent object is propagated on its own, one session per run of present frames
        (a *segment*), so its memory never crosses an absent span: a segment with anchors of its own is
        tracked from them alone, exactly as SAM 2 tracks a shot made of that segment's frames; a segment
        without one is seeded with the mask of the nearest present frame on the side the track comes
        from (after the object's first anchor: the last present frame before the span, propagated
        forward; before it: the first present frame after the span, propagated backward) -- the rule of
        the flow tracker, which carries that mask on from the segment's first frame. On absent frames the
        object's mask is empty. A frame may therefore come in several TrackFrames (the joint objects,
        then each absent object); each TrackFrame's ``ref`` follows the joint passes' direction (after
        ``k0`` the previous frame, before it the next), restarting on any object's prompted frame and
        next to the object's absent frames (samatte.cachekey.temporal_refs)."""
        n = len(frames)
        joint = [op for op, g in zip(prompts, gone) if not g]
        prompted = set()
        for op in prompts:
            prompted.update(op.anchors)
            prompted.update(op.corrections)
        plans = []
        for op, g in zip(prompts, gone):
            if g:
                plans.append((op, set(i for i, f in enumerate(frames) if f in g)))
        total = (n if joint else 0) + n * len(plans)
        done = 0
        self.stats = {"max_non_cond": 0, "max_images": 0, "window": self.memory_window(), "sessions": 0}
        if joint:
            for _, x in self._session(source, joint, frames, k0, cancel, progress=(0, total)):
                yield x
            done = n
        for op, gi in plans:
            for x in self._track_segments(source, op, frames, gi, k0, prompted, cancel, (done, total)):
                yield x
            done += n

    def _absent_ref(self, frames, i, k0, gi, prompted):
        if i in prompted or i == k0:
            return None
        j = i + 1 if i < k0 else i - 1
        if not 0 <= j < len(frames) or ((j in gi) and (i not in gi)):
            return None
        return frames[j]

    def _track_segments(self, source, op, frames, gi, k0, prompted, cancel, progress):
        """The sessions of one absent object (:meth:`_track_absent`): yields its TrackFrames and Progress."""
        n = len(frames)
        H, W = source.info.height, source.info.width
        segs = absent_segments(range(n), gi)   # the runs of frame indices where the object is present
        first = min(op.anchors)
        own = [[a for a in sorted(op.anchors) if seg[0] <= a <= seg[-1]] for seg in segs]
        # segments with anchors first, then those after the first anchor (ascending: each seeded from the
        # one before), then those before it (descending: each seeded from the one after)
        order = [k for k in range(len(segs)) if own[k]]
        order += [k for k in range(len(segs)) if not own[k] and segs[k][0] > first]
        order += [k for k in reversed(range(len(segs))) if not own[k] and segs[k][-1] < first]
        need = set()   # the frame indices whose masks seed another segment
        for k in range(len(segs)):
            if not own[k]:
                need.add(segs[k - 1][-1] if segs[k][0] > first else segs[k + 1][0])
        held = {}
        base, total = progress
        done = base
        low = self.predictor.image_size // 4
        for i in sorted(gi):   # absent: nothing
            empty = ObjectTrack(mask=np.zeros((H, W), bool), logits=np.full((low, low), -32.0, np.float32),
                                score=0.0, keyframe=False, edge="rough")
            done += 1
            yield TrackFrame(frame=frames[i], objects={op.name: empty}, ref=self._absent_ref(frames, i, k0, gi, prompted))
            yield Progress("track", frames[i], done, total, "SAM2: %s absent" % op.name)
        for k in order:
            seg = segs[k]
            a0 = seg[0]
            sp = _ObjPrompts(op.name)
            sp.anchors = {i - a0: v for i, v in op.anchors.items() if a0 <= i <= seg[-1]}
            sp.corrections = {i - a0: v for i, v in op.corrections.items() if a0 <= i <= seg[-1]}
            seeded = None
            if not sp.anchors:   # seeded from the held mask of the neighbouring segment
                after = seg[0] > first
                s = seg[0] if after else seg[-1]
                mask = held[segs[k - 1][-1] if after else segs[k + 1][0]].copy()
                pts = labs = None
                c = sp.corrections.pop(s - a0, None)
                if c is not None:
                    pts, labs, sub = c
                    if sub is not None:
                        mask &= ~_resolve(sub)
                sp.anchors[s - a0] = dict(mask=mask, box=None, points=pts, labels=labs, sub=None)
                seeded = s
            sk0 = min(sp.anchors)
            sframes = [frames[i] for i in seg]
            for li, x in self._session(source, [sp], sframes, sk0, cancel, progress=(done, total)):
                i = li + a0
                if isinstance(x, Progress):
                    yield x
                    continue
                ot = x.objects[op.name]
                if i == seeded:   # the held mask carried in, not the artist's shape
                    ot.keyframe, ot.edge = False, "rough"
                if i in need:
                    held[i] = np.asarray(ot.mask, bool).copy()
                x.ref = self._absent_ref(frames, i, k0, gi, prompted)
                yield x
            done += len(seg)

    # -- prompts ---------------------------------------------------------------------------------
    def _collect_prompts(self, objects, idx_of, shape):
        out = []
        for obj in objects:
            op = _ObjPrompts(obj.name)
            combined, kinds, plists, frames_of = {}, {}, {}, {}
            if not obj.prompts:
                raise PromptError("object %r has no prompts" % obj.name, object=obj.name)
            for frame in sorted(obj.prompts):
                plist = obj.prompts[frame]
                if not plist:
                    continue
                if int(frame) not in idx_of:
                    raise PromptError("prompt of object %r on frame %d is outside the frames being tracked"
                                      % (obj.name, frame), object=obj.name, frame=int(frame))
                idx = idx_of[int(frame)]
                # (each frame's masks made once here, for the checks, and dropped: _Deferred below)
                m, b, pt, lb, sb = _combine(plist, shape, obj.name, int(frame))
                combined[idx] = (None if m is None else True, b, pt, lb, None if sb is None else True)
                plists[idx], frames_of[idx] = plist, int(frame)
                kinds[idx] = prompt_frame_kind(plist)
            # Shape keyframes define the object; an object with no shape is seeded from its first
            # frame with a positive click (or, with refine_points off, from every such frame). The
            # rest are corrections of the tracked mask (negative-only clicks and subtract shapes
            # always are). The rule is jobspec.anchor_frames, shared with the cache keys.
            anchors = set(anchor_frames(kinds, refine_points=self.options["refine_points"]))
            for idx in sorted(combined):
                mask, box, points, labels, sub = combined[idx]
                # (checked above; the full-resolution masks are made again when they are used)
                again = functools.partial(_combine, plists[idx], shape, obj.name, frames_of[idx])
                if mask is not None:
                    mask = _Deferred(lambda again=again: again()[0])
                if sub is not None:
                    sub = _Deferred(lambda again=again: again()[4])
                if idx in anchors:   # (a shape's subtract shapes are used up in its mask: sub None)
                    op.anchors[idx] = dict(mask=mask, box=box, points=points, labels=labels, sub=sub)
                else:
                    op.corrections[idx] = (points, labels, sub)
            del combined
            if not op.anchors:
                raise PromptError("object %r has no shape and no positive point: subtract shapes and negative "
                                  "clicks only correct an object's shape" % obj.name, object=obj.name)
            out.append(op)
        return out

    def _add_anchors(self, state, prompts, frames):
        p = self.predictor
        for o, op in enumerate(prompts):
            for idx in sorted(op.anchors):
                a = op.anchors[idx]
                if a["mask"] is not None:
                    p.add_new_mask(state, idx, o, _resolve(a["mask"]))
                    if a["points"] is not None:
                        p.add_new_points_or_box(state, idx, o, points=a["points"], labels=a["labels"],
                                                clear_old_points=True)
                else:
                    _, _, res = p.add_new_points_or_box(state, idx, o, points=a["points"], labels=a["labels"],
                                                        box=a["box"], clear_old_points=True)
                    if a.get("sub") is not None:  # a clicks-seeded object with subtract shapes on its frame
                        m = (res[o, 0] > 0).cpu().numpy() & ~_resolve(a["sub"])
                        if not m.any():
                            # (the host's frame number: idx counts from this session's first frame)
                            raise PromptError("the subtract shapes of object %r on frame %d remove all of what its "
                                              "clicks select there" % (op.name, frames[idx]), object=op.name,
                                              frame=int(frames[idx]))
                        p.add_new_mask(state, idx, o, m)

    # -- one frame -------------------------------------------------------------------------------
    def _step(self, state, prompts, frames, idx, reverse, first_of_pass):
        p = self.predictor
        preds, scores, keys = [], [], []
        for o, op in enumerate(prompts):
            od = state["output_dict_per_obj"][o]
            is_key = idx in od["cond_frame_outputs"] or idx in op.corrections
            if idx in od["cond_frame_outputs"]:
                out = od["cond_frame_outputs"][idx]
                pred = out["pred_masks"]
            else:
                out, pred = p._run_single_frame_inference(
                    inference_state=state, output_dict=od, frame_idx=idx, batch_size=1,
                    is_init_cond_frame=False, point_inputs=None, mask_inputs=None, reverse=reverse,
                    run_mem_encoder=idx not in op.corrections)
                if idx in op.corrections:
                    out, pred = self._correct(state, od, idx, reverse, out, *op.corrections[idx])
                    od["cond_frame_outputs"][idx] = out
                else:
                    od["non_cond_frame_outputs"][idx] = out
            if is_key and self.options["clear_mem_at_keyframes"] and not first_of_pass:
                self._clear_behind(od, idx, reverse)
            preds.append(pred)
            scores.append(out["object_score_logits"])
            keys.append(is_key)
        return self._to_track_frame(state, prompts, frames, idx, reverse, preds, scores, keys, first_of_pass)

    def _correct(self, state, od, idx, reverse, tracked_out, points, labels, sub):
        """A correction frame: clicks refine the tracked mask (:meth:`_refine`), then subtract shapes are
        cut out of it (its low-resolution logits set negative there) and the memory re-encoded."""
        sub = _resolve(sub)
        if points is not None:
            out, pred = self._refine(state, od, idx, reverse, tracked_out, points, labels)
            if sub is None:
                return out, pred
        elif sub is None:  # nothing to change: encode the tracked mask as this frame's memory
            out = self._encode(state, idx, tracked_out)
            return out, out["pred_masks"]
        else:
            out = tracked_out
        torch = _import_torch()
        import torch.nn.functional as F
        low = out["pred_masks"]
        cut = F.interpolate(torch.from_numpy(sub.astype(np.float32))[None, None], size=tuple(low.shape[-2:]),
                            mode="area")[0, 0] >= 0.5
        cut = cut.to(low.device)[None, None]
        out = dict(out)
        out["pred_masks"] = torch.where(cut, torch.clamp(low, max=-8.0), low)
        out = self._encode(state, idx, out)
        return out, out["pred_masks"]

    def _encode(self, state, idx, out):
        """Re-run SAM2's memory encoder on ``out["pred_masks"]`` (after a change to the mask)."""
        import torch.nn.functional as F
        p = self.predictor
        high = F.interpolate(out["pred_masks"].to(self.device), size=(p.image_size, p.image_size),
                             mode="bilinear", align_corners=False)
        feats, pos = p._run_memory_encoder(inference_state=state, frame_idx=idx, batch_size=1,
                                           high_res_masks=high, object_score_logits=out["object_score_logits"],
                                           is_mask_from_pts=True)
        out["maskmem_features"] = feats
        out["maskmem_pos_enc"] = pos
        return out

    def _refine(self, state, od, idx, reverse, tracked_out, points, labels):
        """Apply correction clicks to the mask tracked on this frame (SAM2's interactive refinement)."""
        torch = _import_torch()
        from sam2.utils.misc import concat_points
        p = self.predictor
        H, W = state["video_height"], state["video_width"]
        pts = torch.as_tensor(points, dtype=torch.float32)[None] / torch.tensor([W, H], dtype=torch.float32)
        pts = (pts * p.image_size).to(self.device)
        labs = torch.as_tensor(labels, dtype=torch.int32)[None].to(self.device)
        point_inputs = concat_points(None, pts, labs)
        prev = torch.clamp(tracked_out["pred_masks"].to(self.device), -32.0, 32.0)
        out, pred = p._run_single_frame_inference(
            inference_state=state, output_dict=od, frame_idx=idx, batch_size=1, is_init_cond_frame=False,
            point_inputs=point_inputs, mask_inputs=None, reverse=reverse, run_mem_encoder=False,
            prev_sam_mask_logits=prev)
        out = self._encode(state, idx, out)
        od["non_cond_frame_outputs"].pop(idx, None)
        return out, pred

    def _clear_behind(self, od, idx, reverse):
        p = self.predictor
        r = max(1, int(p.memory_temporal_stride_for_eval))
        span = r * p.num_maskmem
        step = 1 if reverse else -1
        for k in range(1, span + 1):
            od["non_cond_frame_outputs"].pop(idx + step * k, None)

    def _prune(self, state, idx, reverse, k0):
        """Drop outputs memory attention can no longer reach (bounded state)."""
        w = self.memory_window()
        protect_hi = k0 + w if (not reverse and k0 > 0) else None  # the backward pass will attend these
        m = int(self.predictor.max_cond_frames_in_attn)
        n_max = 0
        for od in state["output_dict_per_obj"].values():
            nc = od["non_cond_frame_outputs"]
            for t in list(nc):
                behind = (idx - t) if not reverse else (t - idx)
                if behind > w and not (protect_hi is not None and k0 <= t < protect_hi):
                    del nc[t]
            n_max = max(n_max, len(nc))
            if m > 0:
                self._prune_cond(od["cond_frame_outputs"], idx, reverse, k0, w, m, protect_hi)
        for v in state["frames_tracked_per_obj"].values():
            v.clear()
        self.stats["max_non_cond"] = max(self.stats.get("max_non_cond", 0), n_max)
        self.stats["max_cond"] = max([self.stats.get("max_cond", 0)] + [len(od["cond_frame_outputs"]) for od in
                                                                       state["output_dict_per_obj"].values()])
        self.stats["max_images"] = max(self.stats.get("max_images", 0), len(state["images"]._cache))

    @staticmethod
    def _prune_cond(cond, idx, reverse, k0, w, m, protect_hi):
        """Drop conditioning outputs (keyframes, correction frames) attention can no longer reach: SAM2
        selects the ``m`` closest conditioning frames (the closest before and after, then the nearest), and
        reads an unselected one within the window as a plain memory. Kept: those ahead of the pass, those
        within ``w`` behind, the ``m`` nearest behind, and (forward, before the backward pass) the ``m``
        first from ``k0`` and those within ``w`` of it. Before, a host's tracking points on every frame
        (corrections) kept every frame's memory: the state grew with the shot."""
        def behind(t):
            return (idx - t) if not reverse else (t - idx)
        back = sorted((t for t in cond if behind(t) >= 0), key=behind)
        keep = set(back[:m])
        if protect_hi is not None:
            keep.update(sorted(t for t in cond if t >= k0)[:m])
        for t in back[m:]:
            if behind(t) > w and t not in keep and not (protect_hi is not None and k0 <= t < protect_hi):
                del cond[t]
        return len(cond)

    def _to_track_frame(self, state, prompts, frames, idx, reverse, preds, scores, keys, first_of_pass):
        torch = _import_torch()
        import torch.nn.functional as F
        H, W = state["video_height"], state["video_width"]
        fill = self.options["fill_hole_area"]
        objs = {}
        for o, op in enumerate(prompts):
            low = preds[o][0, 0].float().cpu().numpy().astype(np.float32, copy=True)
            if fill > 0:
                low = _fill_holes(low, fill)
            lt = torch.from_numpy(low)[None, None]
            if lt.shape[-2:] != (H, W):
                lt = F.interpolate(lt, size=(H, W), mode="bilinear", align_corners=False)
            mask = (lt[0, 0] > 0).numpy()
            score = float(torch.sigmoid(scores[o].float().reshape(-1)[0]).item())
            # SAM2's own segmentation at its mask resolution: a tight edge for the matting stage; on a
            # keyframe the mask may be the artist's roto shape itself, so its edge is left unknown
            edge = None if keys[o] else "tight"
            objs[op.name] = ObjectTrack(mask=mask, logits=low, score=score, keyframe=bool(keys[o]), edge=edge)
        any_key = any(keys)
        if first_of_pass and not reverse:
            ref = None
        elif any_key:
            ref = None
        else:
            ref = frames[idx + 1] if reverse else frames[idx - 1]
        return TrackFrame(frame=frames[idx], objects=objs, ref=ref)


def _memory_dtype_hook(module, args, kwargs):
    curr = kwargs.get("curr", args[0] if args else None)
    ref = curr[0] if isinstance(curr, (list, tuple)) else curr
    mem = kwargs.get("memory")
    if ref is None or mem is None or mem.dtype == ref.dtype or not mem.is_floating_point():
        return None
    kwargs = dict(kwargs)
    kwargs["memory"] = mem.to(ref.dtype)
    if kwargs.get("memory_pos") is not None:
        kwargs["memory_pos"] = kwargs["memory_pos"].to(ref.dtype)
    return args, kwargs


def _checkpoint_hook(module, args):
    checkpoint()


def _install_checkpoints(predictor):
    """A cancel checkpoint (:func:`samatte.progress.checkpoint`) before each block of the image encoder's trunk
    and each memory-attention layer (once per predictor): a frame takes seconds on a CPU (tens on a busy one)
    and before, a Cancel waited for it. Checks only; no output changes. A predictor without those parts (a
    stand-in) gets none."""
    if getattr(predictor, "_samatte_checkpoints", False):
        return
    mods = list(getattr(getattr(getattr(predictor, "image_encoder", None), "trunk", None), "blocks", None) or ())
    mods += list(getattr(getattr(predictor, "memory_attention", None), "layers", None) or ())
    for m in mods:
        if callable(getattr(m, "register_forward_pre_hook", None)):
            m.register_forward_pre_hook(_checkpoint_hook)
    try:
        predictor._samatte_checkpoints = True
    except AttributeError:
        pass


def _install_memory_dtype_fix(predictor):
    """SAM2 stores memories in bfloat16; without autocast (CPU, MPS) memory attention then fails with
    "mat1 and mat2 must have the same dtype" whenever no float32 object pointer joins the memory
    (e.g. an object whose keyframe lies ahead). Cast the memory to the query's dtype -- exactly the
    promotion ``torch.cat`` performs when pointers are present, so results are unchanged otherwise."""
    if getattr(predictor, "_samatte_dtype_fix", False):
        return
    predictor.memory_attention.register_forward_pre_hook(_memory_dtype_hook, with_kwargs=True)
    predictor._samatte_dtype_fix = True
