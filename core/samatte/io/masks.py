"""Reading masks (roto/prompt masks, refine-only mask sequences) onto the plate's canvas.

Formats: anything OpenImageIO reads — PNG (8/16-bit), TIFF, EXR, JPEG. Integer images are taken as
data (0..255 / 0..65535 -> 0..1, no colour decoding); float values are clipped to [0, 1] and NaN
becomes 0 (with a warning naming the file and the count of non-finite values).

Which channel is the mask:

1. ``channel`` when given: a channel name, matched exactly, then case-insensitively, with ``A`` ~
   ``alpha``, ``R`` ~ ``red`` etc. (``"hero.A"`` picks a layer's channel, or the ``A`` of a part named
   ``hero`` in a multi-part file; ``"rgba.alpha"``, as Nuke names it, the plain ``A`` of a file that
   has no ``rgba.`` layer).
2. else the alpha channel (``A``/``alpha``, or the file's declared alpha) — unless the alpha is
   fully opaque (every value >= 1) while the colour channels hold a shape (are not one flat
   value): a mask painted in RGB and saved with an opaque alpha (common from paint tools and
   Blender) uses its colour channels (as in 4.);
3. else a single-channel image's only channel;
4. else the **maximum of R, G, B**: a mask drawn in any colour counts, which luminance would weaken
   (a pure red roto shape has luminance 0.21 and would fall under a 0.5 threshold).

Placement on the canvas (the plate's data window):

* an EXR whose display window equals the plate's is placed by absolute pixel coordinates (its data
  window may be a bounding box, larger or smaller than the plate's);
* else an image the size of the display window is placed on the display window;
* else an image the size of the data window is taken as it is;
* any other size is a PlateError naming both sizes.

An image that covers exactly the display window (either of the first two) says nothing about the
overscan: its edge pixels continue there (as outside an image's bbox in Nuke), so a shape cut by the
format's edge does not end there (an opaque object crossing the edge of an overscan plate got alpha
~0.5 at the visible frame's edge). Other canvas pixels outside the mask image (an EXR's bbox) are 0.
"""
import logging
import os

import numpy as np

from ..errors import ChannelError, MissingFrameError, PlateError
from ..stages import PlateInfo
from .exr import _describe_channels, _part_name, _subimages, _windows, open_image, read_channels, refuse_deep
from .sequence import as_pattern

log = logging.getLogger("samatte.io")

__all__ = ["read_mask", "MaskSequence", "mask_track", "threshold_mask"]

_ALIASES = {"a": "alpha", "r": "red", "g": "green", "b": "blue", "y": "luminance"}


def _find_channel(names, channel):
    if channel in names:
        return names.index(channel)
    low = [n.lower() for n in names]
    c = channel.lower()
    if c in low:
        return low.index(c)
    alt = {c, _ALIASES.get(c, c)}
    alt |= {k for k, v in _ALIASES.items() if v == c}
    for i, n in enumerate(low):
        if n in alt:
            return i
    # "layer.A" given as "layer.alpha" or vice versa
    if "." in c:
        lay, comp = c.rsplit(".", 1)
        alt = {comp, _ALIASES.get(comp, comp)} | {k for k, v in _ALIASES.items() if v == comp}
        for i, n in enumerate(low):
            if "." in n and n.rsplit(".", 1)[0] == lay and n.rsplit(".", 1)[1] in alt:
                return i
        if lay == "rgba":
            # Nuke's name for the main layer (plain R, G, B, A: Nuke shows A as rgba.alpha), as a plate's
            # layer "rgba" is read: before, --mask-channel rgba.alpha was CHANNELS_INVALID on a file with A
            return _find_channel(_plain(names), comp) if comp else None
    return None


def _plain(names):
    """``names`` with every layer channel (``x.y``) blanked out: the plain channels, at their indices."""
    return [n if "." not in n else "\0" for n in names]


def _alpha_index(spec):
    names = list(spec.channelnames)
    for i, n in enumerate(names):
        if n in ("A", "a") or n.lower() == "alpha":
            return i
    a = int(spec.alpha_channel)
    if 0 <= a < len(names) and "." not in names[a]:
        return a
    return None


def _rgb_indices(names):
    out = []
    for comp in (("r", "red"), ("g", "green"), ("b", "blue")):
        for i, n in enumerate(names):
            if n.lower() in comp:
                out.append(i)
                break
    return out


def _read_channels(inp, path, sub, idx):
    return read_channels(inp, path, sub, idx, what="mask ")


def _mask_source(inp, path, channel):
    """(subimage, spec, index of the named ``channel`` or None) of a mask file: the first subimage
    holding ``channel`` when one is named, else the first; CorruptFrameError / ChannelError, PlateError
    for a deep image."""
    subs = _subimages(inp)
    if not subs:
        from ..errors import CorruptFrameError
        raise CorruptFrameError("no image in mask %s" % path, path=path)
    if channel:
        for sub, spec in subs:
            i = _find_channel(list(spec.channelnames), channel)
            if i is not None:
                refuse_deep(spec, path, what="mask ")
                return sub, spec, i
        lay, _dot, comp = channel.rpartition(".")
        if lay and comp and len(subs) > 1:
            # "hero.A" in a multi-part file whose part named "hero" holds a plain A (a plate's layer is found
            # the same way: samatte.io.exr); before, CHANNELS_INVALID listing "R, G, B, A, A"
            for sub, spec in subs:
                if _part_name(spec) == lay:
                    i = _find_channel(_plain(spec.channelnames), comp)
                    if i is not None:
                        refuse_deep(spec, path, what="mask ")
                        return sub, spec, i
        raise ChannelError("mask %s has no channel %r; it has %s" % (path, channel, _describe_channels(subs)),
                           path=path, channel=channel)
    sub, spec = subs[0]
    refuse_deep(spec, path, what="mask ")
    return sub, spec, None


def _mask_values(inp, path, channel):
    """(2-D float32 mask values of the file, spec) for the chosen channel(s)."""
    sub, spec, i = _mask_source(inp, path, channel)
    if i is not None:
        return _read_channels(inp, path, sub, [i])[:, :, 0], spec
    names = list(spec.channelnames)
    ai = _alpha_index(spec)
    rgb = _rgb_indices(names)
    if ai is not None:
        alpha = _read_channels(inp, path, sub, [ai])[:, :, 0]
        colour_channels = rgb or [i for i in range(len(names)) if i != ai and "." not in names[i]]
        if not colour_channels or not bool(np.all(alpha >= 1.0)):
            return alpha, spec
        colour = _read_channels(inp, path, sub, colour_channels).max(axis=2)
        if colour.size and float(colour.min()) == float(colour.max()):
            return alpha, spec  # flat colour carries no shape either: the opaque alpha is the mask
        return colour, spec
    if len(names) == 1:
        return _read_channels(inp, path, sub, [0])[:, :, 0], spec
    if rgb:
        return _read_channels(inp, path, sub, rgb).max(axis=2), spec
    return _read_channels(inp, path, sub, [0])[:, :, 0], spec


def _paste(canvas, img, x0, y0):
    """Copy ``img`` onto ``canvas`` with its top-left at canvas pixel (x0, y0), clipped."""
    H, W = canvas.shape
    h, w = img.shape
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + w, W), min(y0 + h, H)
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0:cy1, cx0:cx1] = img[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return canvas


def read_mask(path, info, *, channel=None):
    """A mask file as float32 (H, W) in [0, 1] on the plate's canvas (see the module docstring)."""
    if not isinstance(info, PlateInfo):
        raise PlateError("read_mask needs the plate's PlateInfo, not %s" % type(info).__name__)
    path = os.fspath(path)
    inp = open_image(path)
    try:
        vals, spec = _mask_values(inp, path, channel)
        is_exr = inp.format_name() == "openexr"
    finally:
        inp.close()
    vals = np.asarray(vals, dtype=np.float32)
    bad = vals.size - int(np.count_nonzero(np.isfinite(vals)))
    if bad:
        # said, as a plate's are: a roto render that failed (NaN) would otherwise be an empty matte
        # on that frame without a word
        log.warning("mask %s: %d non-finite value(s) read as coverage (NaN and -inf as 0, +inf as 1)", path, bad)
    np.fmax(vals, 0.0, out=vals)  # NaN -> 0
    np.fmin(vals, 1.0, out=vals)
    at = _placement(path, spec, is_exr, info)
    if at is None:
        return np.ascontiguousarray(vals)
    x0, y0, edge = at
    if edge:
        return _extend(vals, x0, y0, info.shape)
    return _paste(np.zeros(info.shape, dtype=np.float32), vals, x0, y0)


def _extend(img, x0, y0, shape):
    """``img`` on a canvas of ``shape`` with its top-left at canvas pixel (x0, y0), its edge pixels
    repeated over the rest of the canvas (clipped where the canvas is smaller)."""
    if x0 == 0 and y0 == 0 and img.shape == tuple(shape):
        return np.ascontiguousarray(img, dtype=np.float32)   # the canvas itself: nothing to repeat
    rows = np.clip(np.arange(shape[0]) - y0, 0, img.shape[0] - 1)
    cols = np.clip(np.arange(shape[1]) - x0, 0, img.shape[1] - 1)
    return np.ascontiguousarray(img[rows[:, None], cols[None, :]], dtype=np.float32)


def _placement(path, spec, is_exr, info):
    """Where a mask image (its OIIO ``spec``) goes on the plate's canvas: (x0, y0) of its top-left and
    whether its edge pixels continue beyond it (a display-sized image), or None when it is the data
    window itself; PlateError for any other size (module docstring)."""
    mdata, mdisp = _windows(spec)
    w, h = mdata.width, mdata.height
    if is_exr and mdisp == info.display:
        return mdata.x - info.data.x, mdata.y - info.data.y, mdata == info.display
    if (w, h) == (info.display.width, info.display.height):
        return info.display.x - info.data.x, info.display.y - info.data.y, True
    if (w, h) == (info.data.width, info.data.height):
        return None
    raise PlateError("mask %s is %dx%d, but the plate's display window is %dx%d and its data window %dx%d; "
                     "a mask must be one of these sizes" % (path, w, h, info.display.width, info.display.height,
                                                            info.data.width, info.data.height),
                     path=path, mask_size=[w, h], display_size=[info.display.width, info.display.height],
                     data_size=[info.data.width, info.data.height])


def check_mask_header(path, info, *, channel=None):
    """:func:`read_mask`'s checks that need no pixels (the file opens, has ``channel`` when one is
    named, its size fits the plate), raising what it raises."""
    path = os.fspath(path)
    inp = open_image(path)
    try:
        _sub, spec, _i = _mask_source(inp, path, channel)
        _placement(path, spec, inp.format_name() == "openexr", info)
    finally:
        inp.close()


class MaskSequence:
    """Per-frame masks from a pattern: ``.frames`` (on disk, or the pattern's range), ``.get(frame)``
    -> float32 (H, W) in [0, 1] on the canvas; ``.path(frame)``; ``frame in seq``."""

    def __init__(self, pattern, info, *, channel=None):
        self.pattern = as_pattern(pattern)
        self.info = info
        self.channel = channel
        self.frames = self.pattern.default_frames()

    def path(self, frame):
        return self.pattern.path(frame)

    def get(self, frame):
        path = self.pattern.path(frame)
        try:
            return read_mask(path, self.info, channel=self.channel)
        except MissingFrameError as e:
            raise MissingFrameError("mask for frame %d is missing: %s" % (int(frame), path), path=path,
                                    frame=int(frame)) from e

    __getitem__ = get

    def __contains__(self, frame):
        return os.path.isfile(self.pattern.path(frame))

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return "MaskSequence(%r, %d frames)" % (self.pattern.source, len(self.frames))


def threshold_mask(values, threshold):
    """bool mask of coverage ``values``: ``values >= threshold``, or ``values > 0`` for threshold 0 (the
    rule of mask prompts and per-frame mask files alike)."""
    return (values >= threshold) if threshold > 0 else (values > 0)


def mask_track(seq, masks, frame):
    """The :class:`samatte.stages.ObjectTrack` of an object's mask file on ``frame``: ``seq`` its
    :class:`MaskSequence`, ``masks`` the object's validated JobSpec ``masks`` dict. ``mask`` is the
    values >= ``threshold`` (> 0 for threshold 0, as for mask prompts); with ``soft: true`` the values themselves travel as ``soft`` (a feathered
    roto is not thresholded before matting)."""
    from ..stages import ObjectTrack
    v = seq.get(frame)
    thr = float(masks.get("threshold", 0.5))
    return ObjectTrack(mask=threshold_mask(v, thr), logits=None, score=1.0, keyframe=True,
                       soft=v if masks.get("soft") else None)
