"""The data that flows between pipeline stages, and the interfaces of the stage backends.

    FrameSource (io) --Plate--> Tracker --TrackFrame--> Matter --MatteFrame--> writer (io)

All images here are in *canvas* coordinates: the plate's data window (every pixel that exists in the
file), origin top-left, y down. :class:`PlateInfo` converts JobSpec display-window coordinates to
canvas coordinates. Arrays are numpy, float32 unless said otherwise. The core never hands pixels
across the process boundary; these objects live inside the worker.

Backends are generators: they ``yield`` :class:`samatte.progress.Progress` between frames (and check
the cancel token there) and yield their per-frame results, so the pipeline streams with bounded
memory. A backend must never hold more than a bounded number of frames.
"""
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .progress import Progress

__all__ = ["Window", "PlateInfo", "Plate", "ObjectTrack", "TrackFrame", "MatteFrame", "Tracker", "Matter",
           "TrackerObject", "StateStore"]


@dataclass(frozen=True)
class Window:
    """An integer pixel rectangle, OpenEXR style: origin (x, y), size (width, height), y down."""
    x: int
    y: int
    width: int
    height: int

    @property
    def xmax(self):  # inclusive, as in EXR headers
        return self.x + self.width - 1

    @property
    def ymax(self):
        return self.y + self.height - 1


@dataclass(frozen=True)
class PlateInfo:
    """What the pipeline needs to know about a plate, from the first frame's header (the data window is
    the display window when the frames' data windows vary: ``io.source.FrameSource``)."""
    data: Window            # data window: the canvas the pipeline works on
    display: Window         # display window: the frame the artist sees; JobSpec coordinates live here
    pixel_aspect: float = 1.0
    channels: Tuple[str, ...] = ("R", "G", "B")
    pixel_type: str = "half"  # "half" or "float" (of the RGB channels)

    @property
    def width(self):
        return self.data.width

    @property
    def height(self):
        return self.data.height

    @property
    def shape(self):
        return (self.data.height, self.data.width)

    def display_to_canvas(self, x, y):
        """JobSpec (display-window pixel) coordinates -> canvas (data-window array) coordinates."""
        return (x + self.display.x - self.data.x, y + self.display.y - self.data.y)

    def canvas_to_display(self, x, y):
        return (x - self.display.x + self.data.x, y - self.display.y + self.data.y)


@dataclass
class Plate:
    """One frame of the plate on the canvas.

    ``linear``: float32 (H, W, 3) scene-linear RGB as in the file (non-finite pixels already fixed
    when the job allows it). ``display``: float32 (H, W, 3) display-referred RGB in [0, 1], made with
    OCIO; this is what models see. Either may be computed lazily by the source.
    """
    frame: int
    linear: np.ndarray
    display: np.ndarray
    info: PlateInfo


@dataclass
class ObjectTrack:
    """The tracker's answer for one object on one frame.

    ``mask``: bool (H, W) at canvas resolution.
    ``logits``: float32 (h, w) at the model's resolution covering the whole canvas (resize it to
    (H, W) to align), not thresholded; None when the backend has no logits (refine-only masks, the
    shape tracker) — then consumers use the mask alone. ``soft``: see the field. ``score``: the backend's confidence in [0, 1]
    (object present), 1.0 when unknown. ``keyframe``: this frame carries a prompt for the object.
    ``edge``: "tight" / "rough" / None, how far the mask's edge may be from the true one.
    """
    mask: np.ndarray
    logits: Optional[np.ndarray] = None
    score: float = 1.0
    keyframe: bool = False
    #: how close the mask's edge is to the true one, as a hint for the matting stage
    #: (:data:`samatte.matte.refine.MASK_KINDS`): "tight" (a segmentation model's mask at its own
    #: resolution), "rough" (roto-derived, or carried from a roto shape: the shape and flow trackers),
    #: None = unknown (the matting stage tells from the image: samatte.matte.refine.mask_kind).
    edge: Optional[str] = None
    #: float32 (H, W) coverage in [0, 1] at canvas resolution when the mask came from a soft source the
    #: artist wants kept soft (a feathered roto, JobSpec ``masks.soft: true``); ``mask`` is then its
    #: threshold. The matting stage takes ``soft`` as its coarse mask instead of ``mask`` (and the
    #: "none" matte backend writes it as the alpha). None: the mask is binary.
    soft: Optional[np.ndarray] = None
    #: float32 (H, W) in [0, 1]: the object's subtract shapes (garbage mattes, holes: ``mode:
    #: "subtract"`` prompts) on this frame (:func:`samatte.track.seed.subtract_cut`), set by the pipeline
    #: for the matting stage, which multiplies the object's alpha by ``1 - cut`` whatever the backend
    #: (:func:`samatte.matte.stage.cut_alpha`), so what the artist cut stays cut in the written matte and
    #: in the state the next frame starts from. None: no subtract shape (the alpha is untouched).
    cut: Optional[np.ndarray] = None


@dataclass
class TrackFrame:
    """All objects on one frame. ``ref`` is the neighbouring frame this one was propagated from
    (``frame - 1`` going forward, ``frame + 1`` going backward), or None where the track (re)starts
    (a keyframe or the first frame a backend handles). Trackers yield TrackFrames in *processing
    order*: that may be descending for a backward pass; consumers that need temporal context use
    ``ref``, not the previous item."""
    frame: int
    objects: Dict[str, ObjectTrack]
    ref: Optional[int] = None


@dataclass
class MatteFrame:
    """The matting stage's answer for one frame.

    ``alphas``: object name -> float32 (H, W) alpha in [0, 1]. ``alpha``: the merged matte of all objects,
    their sum where their masks do not overlap, their union ``1 - prod(1 - a_i)`` near where they do
    (:func:`samatte.matte.stage.merge_alphas`). ``foreground``: float32
    (H, W, 3) scene-linear foreground colour *premultiplied* by ``alpha``, or None. ``quality``: float32 (H, W) per-pixel doubt in [0, 1]
    (0 = confident) or None. ``score``: per-frame quality score in [0, 1] (1 = good).
    """
    frame: int
    alphas: Dict[str, np.ndarray]
    alpha: np.ndarray
    foreground: Optional[np.ndarray] = None
    quality: Optional[np.ndarray] = None
    score: float = 1.0
    stats: Dict[str, float] = field(default_factory=dict)


@dataclass
class TrackerObject:
    """An object as a tracker sees it: its name and its prompts converted to canvas coordinates.

    ``prompts``: frame -> list of prompt dicts as in the JobSpec, but with coordinates already in
    canvas pixels, and ``mask`` prompts loaded and rasterised into a ``"mask_array"`` (bool (H, W)).
    Polygon/bezier prompts also carry a rasterised ``"mask_array"``. Both (and ``"soft_array"``) are
    computed when read (:class:`samatte.prompts.LazyRasterPrompt`), so the keys of a long shot do not
    all sit in memory.
    """
    name: str
    prompts: Dict[int, List[dict]]
    #: the frames where the object is not in the shot (JobSpec ``absent``): its track there is empty, and
    #: no tracker carries it across them (README "Prompts")
    absent: FrozenSet[int] = frozenset()


class Tracker:
    """Interface of a tracking backend."""

    name = "base"

    def track(self, source, objects: Sequence[TrackerObject], frames: Sequence[int], *,
              cancel=None) -> Iterator[Union[Progress, TrackFrame]]:
        """Yield Progress and exactly one TrackFrame per frame in ``frames`` (any order, see
        :class:`TrackFrame`). ``source`` is a :class:`samatte.io.source.FrameSource`. A frame may instead come
        in several TrackFrames that each hold some of the objects, every object once (SAM 2 with an absent
        object: ``Sam2Tracker._track_absent``); their ``ref`` combine as the track cache reads them back (any
        None restarts the state, else they agree)."""
        raise NotImplementedError

    def close(self):
        """Release models and memory."""


class Matter:
    """Interface of a matting backend. One instance per job.

    Temporal state is owned by the caller: :meth:`step` takes the state of the frame the track refers
    to (``track.ref``) and returns the matte and this frame's state; :meth:`restore` makes a frame's
    state from what was written for it (resume, a farm chunk whose reference frame is finished), so an
    unbroken run, a resumed one and a chunk go through the same code. The pipeline keeps the states in
    a :class:`StateStore`. A state is opaque to the caller, except that a state with an ``objects``
    mapping (object name -> JSON-serialisable dict: the per-object score records) has those records
    written with the frame (EXR attribute ``samatte/state``) and put back into the state that
    :meth:`restore` returns for that frame, so a resumed job scores as an unbroken one.

    A stateless backend implements :meth:`process` only: its :meth:`step` returns the state None and
    its :meth:`restore` None (the pipeline then mattes a frame it needs the state of again).
    """

    name = "base"

    def process(self, plate: Plate, track: TrackFrame) -> MatteFrame:
        """One frame, without temporal state from the caller (a stateful backend may keep its own)."""
        raise NotImplementedError

    def step(self, plate: Plate, track: TrackFrame, state=None) -> Tuple[MatteFrame, object]:
        """One frame, the temporal state owned by the caller: ``(MatteFrame, state)``.

        ``state``: what :meth:`step` or :meth:`restore` returned for frame ``track.ref``, or None to
        start afresh. The returned state is this frame's, for the frames whose ``ref`` is this frame
        (None: nothing to carry). Default: :meth:`process`, and the state None."""
        return self.process(plate, track), None

    def step_iter(self, plate: Plate, track: TrackFrame, state=None):
        """:meth:`step` as a generator: yields a short name (str) of the phase about to run between the
        phases of a frame and returns what :meth:`step` returns. The pipeline reports each phase as
        progress and checks for cancellation there, so a frame that takes seconds (4K) neither
        silences the host nor makes Cancel wait for its end. Default: :meth:`step`, one phase."""
        return self.step(plate, track, state)
        yield  # pragma: no cover - makes this a generator

    def restore(self, frame: int, alphas: Dict[str, np.ndarray], plate: Plate, track: TrackFrame,
                scores: Optional[Dict[str, float]] = None, state=None):
        """The state of frame ``frame``, already written (it is not matted again): ``alphas`` maps
        object names to their written alpha, ``scores`` to their written per-object score; ``state``
        is the state of ``track.ref`` when known. None when the backend cannot restore a state from a
        written frame (default; the caller then mattes the frame again to get its state)."""
        return None

    def close(self):
        pass


class StateStore:
    """Constant-memory temporal states of the frames processed, keyed by direction: the most recent
    state going forward (+1), going backward (-1), and that of the last (re)start frame (put with
    ``ref=None``); a state put in a slot replaces the one there. ``get(ref)`` finds the state of frame
    ``ref`` if it is still held (3 states at most are held, whatever the shot length).

    Three slots suffice for the pipeline's processing order (``samatte.cachekey._matte_order``): each
    (re)start ``s``, then the frames chained forward from it, then those chained backward from it, so
    ``s`` is still in the ``start`` slot when its backward chain begins."""

    def __init__(self):
        self._slots = {}

    def get(self, frame):
        if frame is None:
            return None
        for f, st in self._slots.values():
            if f == frame:
                return st
        return None

    def put(self, state, ref=None, frame=None):
        """Keep ``state``, the state of ``frame`` (default ``state.frame``) whose temporal reference is
        frame ``ref`` (None: the track (re)started there). ``ref`` only picks the slot: the pipeline
        gives a frame's keyed reference even when that frame's state started afresh (a chunk's first
        frame, a pre-roll cut short), so such a frame does not take the start slot."""
        if frame is None:
            frame = state.frame
        if ref is None:
            self._slots["start"] = (frame, state)
        else:
            self._slots["fwd" if frame > ref else "bwd"] = (frame, state)

    def clear(self):
        self._slots.clear()

    def __len__(self):
        return len(self._slots)
