"""Reading plates (and writing test/demo images) through OpenImageIO 3.0.

* EXR, single- or multi-part, half or float: RGB(A), or a named layer ``layer="beauty"`` which is
  either channels ``beauty.R/G/B`` (also ``beauty.red`` ...) in any part, or a part named ``beauty``
  holding ``R/G/B``, or a view of a stereo / multi-view EXR (``layer="left"``: the part whose ``view`` is
  ``left``, or, in a single-part ``multiView`` file, ``left.R/G/B`` or, for its default view, the
  unprefixed ``R/G/B``). A one-channel image (``Y``, ``Z``, anything) is broadcast to grey RGB, and so is
  the ``Y`` of a greyscale image with more channels (``Y, A``; not luminance/chroma ``Y, RY, BY``).
* A luminance/chroma EXR (``Y, RY, BY``, chroma sampled 2 x 2) is read as RGB (OpenImageIO converts it);
  with chroma at another sampling OpenImageIO cannot decode it: PlateError from the header.
* An EXR's UINT channels (id / index passes) are read by value, as OpenEXR and the hosts read them
  (OpenImageIO alone would divide them by 2^32 - 1); as a plate's colour they are CHANNELS_INVALID.
* The data window is the canvas (arrays are data-window sized, origin top-left, y down); the
  display window and the pixel aspect are kept in :class:`samatte.stages.PlateInfo`.
* PNG/JPEG/TIFF and other formats OIIO reads work too. Integer images (8/16-bit) are display-referred
  sRGB unless their header says they are linear: their ``linear`` pixels are made with the sRGB EOTF,
  and :func:`read_frame` also returns the file's own values as the display image (models see the
  photo as it is; no colour transform is applied to it). Float images are scene-linear.

Errors: a missing file -> MissingFrameError; unreadable or truncated -> CorruptFrameError; the
layer/channels are not there -> ChannelError (listing what is there); windows differ from the ones
expected, or the part is a deep image -> PlateError; non-finite pixels -> see :func:`fix_nonfinite`.
"""
import logging
import os
from collections import namedtuple

import numpy as np

from ..errors import (ChannelError, CorruptFrameError, JobSpecError, MissingFrameError, NaNPixelError, PlateError,
                      out_of_memory)
from ..inputfile import file_kind
from ..stages import PlateInfo, Window

__all__ = ["read_info", "read_rgb", "read_frame", "FrameData", "list_layers", "file_views", "fix_nonfinite",
           "write_image", "write_parts", "srgb_eotf", "is_display_referred", "open_image", "header_colourspace",
           "header_colour", "stored_encoding", "log_encoding"]

log = logging.getLogger("samatte.io")

_COMPONENTS = {
    "r": 0, "red": 0, "g": 1, "green": 1, "b": 2, "blue": 2,
}
#: channels beside ``Y`` that make it something other than luminance: chroma (``Y, RY, BY``), CMYK ink
_NOT_LUMA = ("RY", "BY", "C", "M", "K")
_LINEAR_NAMES = ("linear", "lin_", "scene_linear", "scene-linear", "acescg", "aces2065")

#: One frame as read: ``info``, ``linear`` (float32 (H, W, 3) scene-linear, C-contiguous) and
#: ``display`` (float32 (H, W, 3) in [0, 1] when the file itself is display-referred, else None).
FrameData = namedtuple("FrameData", "info linear display")


def _oiio():
    import OpenImageIO as oiio
    return oiio


#: the most pixels (width x height x depth) one image or part of an input file may declare, and the
#: most parts (subimages) a file may have: a damaged or hostile header (a few KB declaring
#: 40000 x 40000) must not make a run allocate and decode gigabytes before it fails. 2^28 pixels is
#: 16384 x 16384 (a 16K stitched plate; 8K is 35 M pixels); ``$SAMATTE_MAX_PIXELS`` raises it.
MAX_PIXELS = 1 << 28
MAX_PARTS = 1024


def max_pixels():
    """:data:`MAX_PIXELS`, or ``$SAMATTE_MAX_PIXELS`` (a whole number > 0). Set to anything else it is
    JOBSPEC_INVALID naming the variable: ``4e8``, ``400M`` or ``0`` were the default without a word, and a
    plate over it was refused saying "set SAMATTE_MAX_PIXELS", set already."""
    raw = os.environ.get("SAMATTE_MAX_PIXELS", "")
    if not raw.strip():
        return MAX_PIXELS
    try:
        v = int(raw)
    except ValueError:
        v = 0
    if v <= 0:
        raise JobSpecError("SAMATTE_MAX_PIXELS must be a whole number of pixels > 0, the largest image a header "
                           "may declare (unset: %d, 16384 x 16384), not %r" % (MAX_PIXELS, raw),
                           field="SAMATTE_MAX_PIXELS")
    return v


def _limit_text(limit):
    """The pixel limit in a refusal: ``268 M pixels (MAX_PIXELS)``, or the variable's own value when set
    (``1000`` was "at most 0 M pixels")."""
    if limit == MAX_PIXELS:
        return "%d M pixels (MAX_PIXELS)" % (limit // 10 ** 6)
    return "%d pixels (SAMATTE_MAX_PIXELS)" % limit


def _check_size(inp, path, frame=None):
    """PlateError (PLATE_INVALID) when an open file has more than :data:`MAX_PARTS` parts or a part
    declares more than :func:`max_pixels` pixels (read from the header: nothing is allocated)."""
    limit = max_pixels()
    i = 0
    while True:
        spec = inp.spec_dimensions(i, 0)
        if spec.nchannels <= 0:   # past the last part
            return
        if i >= MAX_PARTS:
            raise PlateError("%s has more than %d parts (subimages); samatte reads at most %d: a damaged file?"
                             % (path, MAX_PARTS, MAX_PARTS), path=path, frame=frame)
        n = max(int(spec.width), 0) * max(int(spec.height), 0) * max(int(spec.depth), 1)
        if n > limit:
            raise PlateError("%s%s declares an image of %d x %d pixels (%d M pixels, %.1f GB as float RGB); "
                             "samatte reads at most %s: a damaged or hostile header? For a "
                             "real image this large %s SAMATTE_MAX_PIXELS" % (
                                 path, (" (part %d)" % i) if i else "", spec.width, spec.height, n // 10 ** 6,
                                 n * 12 / 1e9, _limit_text(limit), "raise" if limit != MAX_PIXELS else "set"),
                             path=path, frame=frame, width=int(spec.width), height=int(spec.height))
        i += 1


def open_image(path, *, frame=None):
    """Open ``path`` with OIIO; MissingFrameError / CorruptFrameError when that fails or the path is not
    a regular file (a folder, a named pipe, a device), PlateError when the header declares more than
    :data:`MAX_PIXELS` pixels or :data:`MAX_PARTS` parts."""
    oiio = _oiio()
    path = os.fspath(path)
    if not os.path.isfile(path):
        if os.path.exists(path):
            try:
                what = file_kind(os.stat(path).st_mode)
            except OSError:
                what = "not a regular file"
            raise CorruptFrameError("not a file (%s): %s" % (what, path), path=path, frame=frame)
        raise MissingFrameError("frame file is missing: %s" % path, path=path, frame=frame)
    # keep straight (unassociated) alpha as stored: OIIO would premultiply PNG/TIFF colour on read
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(path, config)
    if inp is None:
        raise CorruptFrameError("cannot read %s: %s" % (path, oiio.geterror() or "unknown error"),
                                path=path, frame=frame)
    try:
        _check_size(inp, path, frame)
    except BaseException:
        inp.close()
        raise
    return inp


def _subimages(inp):
    """[(index, spec)] for every subimage (EXR part) of an open file."""
    out = []
    i = 0
    while inp.seek_subimage(i, 0):
        out.append((i, inp.spec()))
        i += 1
    return out


def _part_name(spec):
    return spec.getattribute("name") or spec.getattribute("oiio:subimagename") or ""


def _rgb_in(names, prefix):
    """Indices of the R, G, B channels named ``prefix + component`` (component case-insensitive), or None."""
    found = [None, None, None]
    for i, n in enumerate(names):
        if prefix and not n.startswith(prefix):
            continue
        rest = n[len(prefix):]
        if "." in rest:
            continue
        k = _COMPONENTS.get(rest.lower())
        if k is not None and found[k] is None:
            found[k] = i
    return found if all(f is not None for f in found) else None


def _luma_in(names, prefix):
    """Index of a luminance channel ``prefix + "Y"`` (a greyscale EXR, with or without ``A``), or None.
    Not for luminance/chroma images (``RY``, ``BY`` beside it): their colour is not grey; nor for CMYK
    (``C``, ``M``, ``K`` beside it): there ``Y`` is the yellow ink."""
    names = list(names)
    if prefix + "Y" not in names or any(prefix + c in names for c in _NOT_LUMA):
        return None
    return names.index(prefix + "Y")


def _multi_view(spec):
    """The view names of a single-part multi-view EXR's ``multiView`` attribute (the first one is the
    default view), or ()."""
    mv = spec.getattribute("multiView")
    if isinstance(mv, str):
        mv = (mv,)
    if not isinstance(mv, (tuple, list)):
        return ()
    return tuple(v.strip() for v in mv if isinstance(v, str) and v.strip())


def _part_view(spec):
    v = spec.getattribute("view")
    return v.strip() if isinstance(v, str) and v.strip() else ""


def _view_parts(subs, view):
    """The parts that hold view ``view`` as unprefixed channels, in file order: a multi-part file's parts
    whose ``view`` attribute is ``view``, else a single-part file whose ``multiView`` names ``view``
    first (its default view)."""
    parts = [(i, spec) for i, spec in subs if _part_view(spec) == view]
    if not parts and len(subs) == 1 and _multi_view(subs[0][1])[:1] == (view,):
        parts = list(subs)
    return parts


def file_views(subs):
    """The views of a stereo / multi-view EXR (``multiView``, the parts' ``view`` attributes), in order;
    each is a ``layer`` that reads that view's picture."""
    out = []
    for _, spec in subs:
        for v in _multi_view(spec) + ((_part_view(spec),) if _part_view(spec) else ()):
            if v not in out:
                out.append(v)
    return out


def list_layers(path_or_input):
    """Layers in a file, for messages: '' (the unnamed RGB layer), every 'name' of 'name.X' channels,
    and the part names of multi-part files."""
    own = isinstance(path_or_input, (str, os.PathLike))
    inp = open_image(path_or_input) if own else path_or_input
    try:
        subs = _subimages(inp)
        layers = []
        for _, spec in subs:
            pn = _part_name(spec) if len(subs) > 1 else ""
            for n in spec.channelnames:
                lay = n.rsplit(".", 1)[0] if "." in n else pn
                if lay not in layers:
                    layers.append(lay)
        for v in file_views(subs):   # a view is a layer too (its picture)
            if v not in layers:
                layers.append(v)
        return layers
    finally:
        if own:
            inp.close()


def _describe_channels(subs):
    parts = []
    for i, spec in subs:
        pn = _part_name(spec)
        parts.append("%s%s" % (("part %r: " % pn) if (pn and len(subs) > 1) else "", ", ".join(spec.channelnames)))
    return "; ".join(parts)


def refuse_deep(spec, path, frame=None, what=""):
    """PlateError for a deep image (samples per pixel): its pixels cannot be read as one flat image.
    Raised from the header, so a run refuses it before it writes a frame."""
    if getattr(spec, "deep", False):
        raise PlateError("%s%s is a deep image (several samples per pixel); samatte reads flat images: flatten "
                         "it first (Nuke: DeepToImage)" % (what, path), path=path, frame=frame)


def _chroma_sampling(path, sub):
    """``{name: (x sampling, y sampling)}`` of the ``RY`` / ``BY`` channels of part ``sub`` of an EXR, from
    its header's channel list (:func:`samatte.exrheader.channel_list`); {} when it cannot be read."""
    from ..exrheader import channel_list, part_attributes
    try:
        chans = channel_list(path, attrs=part_attributes(path)[sub])
    except (OSError, ValueError, IndexError):
        return {}
    return {name: (xs, ys) for name, xs, ys in chans if name in ("RY", "BY")}


def refuse_unreadable_chroma(inp, spec, sub, path, frame=None, what=""):
    """PlateError for a luminance/chroma EXR (``Y, RY, BY``) whose chroma is not sampled 2 x 2:
    OpenImageIO shows it as R, G, B but cannot decode its pixels (it fails on every read, which read
    as a damaged file). Raised from the header, so a run refuses it before it writes a frame."""
    if inp.format_name() != "openexr" or not spec.getattribute("openexr:luminancechroma"):
        return
    odd = {n: xy for n, xy in _chroma_sampling(path, sub).items() if tuple(xy) != (2, 2)}
    if odd:
        raise PlateError("%s%s is a luminance/chroma EXR (Y, RY, BY) whose chroma is sampled %s, not 2 x 2 as "
                         "OpenEXR's luminance/chroma images are: OpenImageIO cannot decode it (the file is not "
                         "damaged). Write the plate as RGB" % (
                             what, path, ", ".join("%s %dx%d" % (n, xy[0], xy[1]) for n, xy in sorted(odd.items()))),
                         path=path, frame=frame)


def _resolve(inp, path, layer, frame=None):
    """Find the subimage and the three channel indices to read for ``layer`` (None = RGB); PlateError
    when that part is deep, or a luminance/chroma image OpenImageIO cannot decode."""
    sub, idx, spec = _find_channels(inp, path, layer, frame)
    refuse_deep(spec, path, frame)
    refuse_unreadable_chroma(inp, spec, sub, path, frame)
    uint = [spec.channelnames[i] for i in sorted(set(idx)) if _is_exr_uint(inp, spec, i)]
    if uint:
        raise ChannelError("channel(s) %s of %s hold 32-bit unsigned integers (an id or index pass), not light; "
                           "give the layer of the image" % (", ".join(uint), path), path=path, frame=frame)
    return sub, idx, spec


def _is_exr_uint(inp, spec, i):
    """Channel ``i`` of an EXR is UINT: OpenEXR (and the hosts) read it by value, OpenImageIO as a
    fraction of 2^32 - 1."""
    return str(spec.channelformat(i)) == "uint" and inp.format_name() == "openexr"


def _find_channels(inp, path, layer, frame=None):
    subs = _subimages(inp)
    if not subs:
        raise CorruptFrameError("no image in %s" % path, path=path, frame=frame)
    if layer:
        for i, spec in subs:
            idx = _rgb_in(spec.channelnames, layer + ".")
            if idx:
                return i, idx, spec
        for i, spec in subs:
            if _part_name(spec) == layer:
                idx = _rgb_in(spec.channelnames, "")
                if idx:
                    return i, idx, spec
                if spec.nchannels == 1:
                    return i, [0, 0, 0], spec
        for i, spec in subs:
            for prefix in (layer + ".",) + (("",) if _part_name(spec) == layer else ()):
                y = _luma_in(spec.channelnames, prefix)
                if y is not None:
                    return i, [y, y, y], spec
        for i, spec in _view_parts(subs, layer):
            # a view of a stereo / multi-view EXR: a part whose ``view`` is ``layer`` (multi-part), or the
            # default view of a single-part ``multiView`` file, whose channels carry no view prefix
            # (OpenEXR's multi-view convention: ``R, G, B`` its picture, ``right.R`` ... another view's)
            idx = _rgb_in(spec.channelnames, "")
            if idx:
                return i, idx, spec
            y = _luma_in(spec.channelnames, "")
            if y is not None:
                return i, [y, y, y], spec
        if layer.lower() == "rgba":
            # Nuke's name for the main layer (plain R, G, B channels), when no layer or part has that name
            return _find_channels(inp, path, None, frame)
        views = file_views(subs)
        raise ChannelError("layer %r (channels %s.R/G/B, a part named %r or a view) is not in %s; it has %s%s"
                           % (layer, layer, layer, path, _describe_channels(subs),
                              ("; views %s" % ", ".join(views)) if views else ""),
                           path=path, layer=layer, frame=frame)
    for i, spec in subs:
        idx = _rgb_in(spec.channelnames, "")
        if idx:
            return i, idx, spec
    i, spec = subs[0]
    if spec.nchannels == 1:
        return i, [0, 0, 0], spec
    for i, spec in subs:
        y = _luma_in(spec.channelnames, "")
        if y is not None:  # greyscale with alpha (Y, A): OpenEXR's luminance-only RGBA layout
            return i, [y, y, y], spec
    cmyk = any({"C", "M", "Y", "K"} <= set(spec.channelnames) for _, spec in subs)
    raise ChannelError("no R, G, B channels in %s (%s); it has %s" % (
        path, "CMYK: convert it to RGB first" if cmyk else "give a layer", _describe_channels(subs)),
        path=path, frame=frame)


def _windows(spec):
    data = Window(int(spec.x), int(spec.y), int(spec.width), int(spec.height))
    fw, fh = int(spec.full_width), int(spec.full_height)
    if fw <= 0 or fh <= 0:
        display = data
    else:
        display = Window(int(spec.full_x), int(spec.full_y), fw, fh)
    return data, display


def _pixel_aspect(spec):
    pa = spec.getattribute("PixelAspectRatio")
    try:
        pa = float(pa) if pa is not None else 1.0
    except (TypeError, ValueError):
        pa = 1.0
    return pa if pa > 0 and np.isfinite(pa) else 1.0


def _info_from(spec, idx):
    data, display = _windows(spec)
    names = tuple(spec.channelnames[i] for i in idx)
    if idx[0] == idx[1] == idx[2]:
        names = (names[0],)
    return PlateInfo(data=data, display=display, pixel_aspect=_pixel_aspect(spec), channels=names,
                     pixel_type=str(spec.channelformat(idx[0])))


def is_display_referred(spec_or_info, colourspace=None):
    """True for integer-typed images not tagged as linear (PNG, JPEG, 8/16-bit TIFF: sRGB)."""
    pt = spec_or_info.pixel_type if isinstance(spec_or_info, PlateInfo) else str(spec_or_info.format)
    if pt in ("half", "float", "double"):
        return False
    cs = (colourspace or "").lower()
    return not any(k in cs for k in _LINEAR_NAMES)


#: header attributes that name an image's colourspace, in order: the Color Interop Forum's ID (Blender 4.4+
#: writes it to EXRs: ``lin_rec709_scene``; OCIO 2.5+ configs resolve it), then the common free-form names
_CS_ATTRIBUTES = ("colorInteropID", "colorSpace", "colorspace")


def header_colourspace(spec, format_name=""):
    """The colourspace an image's header names, or None: an explicit attribute (``colorInteropID``,
    ``colorSpace``), else OpenImageIO's ``oiio:ColorSpace`` where the reader derives it from the file
    (a PNG's sRGB/gAMA chunks, a DPX's transfer: ``KodakLog``, ``Linear``). Not for OpenEXR: there
    OpenImageIO reports ``lin_rec709`` for every file, whatever its header (an ACEScg or AP0 plate
    too): that is a guess, not the header's."""
    for attr in _CS_ATTRIBUTES:
        v = spec.getattribute(attr)
        if isinstance(v, str) and v.strip():
            return v.strip()
    if format_name != "openexr":
        v = spec.getattribute("oiio:ColorSpace")
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def header_colour(spec, format_name=""):
    """What an OpenEXR header says its pixels are, for a plate whose job names no colourspace
    (:func:`samatte.colour.resolve_header`), or None (another format, or a header that says nothing):
    ``{"name": the colorInteropID / colorSpace attribute or None, "attribute": its name,
    "chromaticities": (rx, ry, gx, gy, bx, by, wx, wy) or None, "aces_container": bool}``."""
    if format_name != "openexr":
        return None
    name = attribute = None
    for attr in _CS_ATTRIBUTES:
        v = spec.getattribute(attr)
        if isinstance(v, str) and v.strip():
            name, attribute = v.strip(), attr
            break
    chroma = spec.getattribute("chromaticities")
    try:
        chroma = tuple(float(x) for x in chroma) if chroma is not None else None
    except (TypeError, ValueError):
        chroma = None
    if chroma is not None and (len(chroma) != 8 or not all(np.isfinite(chroma))):
        chroma = None
    flag = spec.getattribute("acesImageContainerFlag")
    aces = isinstance(flag, (int, np.integer)) and not isinstance(flag, bool) and int(flag) == 1
    if name is None and chroma is None and not aces:
        return None
    return {"name": name, "attribute": attribute, "chromaticities": chroma, "aces_container": aces}


#: DPX transfer characteristics (OpenImageIO's ``dpx:Transfer``) of log film scans
_LOG_TRANSFERS = ("printing density", "logarithmic")


def log_encoding(spec, format_name=""):
    """A text naming the log encoding an image's header declares (a DPX whose transfer is printing
    density or logarithmic, a Cineon file, a header saying KodakLog / Cineon), or None."""
    header = header_colourspace(spec, format_name)
    transfer = spec.getattribute("dpx:Transfer")
    if format_name == "cineon":
        return "a Cineon file (log)"
    if isinstance(transfer, str) and transfer.strip().lower() in _LOG_TRANSFERS:
        return "a DPX whose header's transfer is %s (log)" % transfer.strip().lower()
    if (header or "").lower() in ("kodaklog", "cineon"):
        return "a file whose header says %s (log)" % header
    return None


def stored_encoding(path, *, layer=None, frame=None):
    """How the values stored in one frame are encoded, from its header (no pixels): a dict with
    ``display_referred`` (an integer file not tagged linear: :func:`read_frame` takes it as sRGB
    unless the job names its colourspace), ``header`` (:func:`header_colourspace`) and ``log`` (a text
    naming the log encoding its header declares -- a DPX whose transfer is printing density or
    logarithmic, a Cineon file -- or None), ``pixel_type`` and ``colour`` (:func:`header_colour`)."""
    path = os.fspath(path)
    inp = open_image(path, frame=frame)
    try:
        fmt = inp.format_name()
        sub, idx, spec = _resolve(inp, path, layer, frame)
        header = header_colourspace(spec, fmt)
        info = _info_from(spec, idx)
        log_text = log_encoding(spec, fmt)
        return {"display_referred": is_display_referred(info, spec.getattribute("oiio:ColorSpace")),
                "header": header, "log": log_text, "pixel_type": info.pixel_type,
                "colour": header_colour(spec, fmt)}
    finally:
        inp.close()


def read_info(path, *, layer=None):
    """The :class:`PlateInfo` of one image file (header only; pixels are not read)."""
    return read_header(path, layer=layer)


def read_channels(inp, path, sub, idx, frame=None, what=""):
    """Channels ``idx`` (absolute indices) of subimage ``sub`` of an open ImageInput, in one read:
    float32 (H, W, len(idx)), C-contiguous. ``what`` names the file in errors ("mask " ...)."""
    c0, c1 = min(idx), max(idx) + 1
    try:
        arr = inp.read_image(sub, 0, c0, c1, "float")
    except Exception as e:  # OIIO raises for some broken files instead of returning None
        oom = out_of_memory(e, path=path, frame=frame)   # std::bad_alloc: the memory, not the file
        if oom is not None:
            raise oom from e
        raise CorruptFrameError("cannot read the pixels of %s%s: %s" % (what, path, e), path=path, frame=frame)
    if arr is None:
        msg = inp.geterror() or _oiio().geterror() or "unknown error"
        raise CorruptFrameError("cannot read the pixels of %s%s (truncated or damaged?): %s" % (what, path, msg),
                                path=path, frame=frame)
    inp.geterror()  # a successful read may leave warnings behind; clear them (per-input, thread-local)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    rel = [k - c0 for k in idx]
    out = arr if rel == list(range(arr.shape[2])) else arr[:, :, rel]
    if out.dtype != np.float32 or not out.flags["C_CONTIGUOUS"]:
        out = np.ascontiguousarray(out, dtype=np.float32)
    spec = inp.spec(sub, 0)
    for j, k in enumerate(idx):
        if _is_exr_uint(inp, spec, k):  # by value, as OpenEXR reads it (a 0/1 mask pass stays 0/1)
            raw = inp.read_image(sub, 0, k, k + 1, "uint")
            if raw is None:
                raise CorruptFrameError("cannot read the pixels of %s%s: %s" % (what, path, inp.geterror()),
                                        path=path, frame=frame)
            out[:, :, j] = np.asarray(raw, dtype=np.float32).reshape(out.shape[:2])
    return out


def srgb_eotf(v, out=None):
    """sRGB-encoded values in [0, 1] -> linear (IEC 61966-2-1), float32, vectorised."""
    v = np.asarray(v, dtype=np.float32)
    if out is None:
        out = np.empty_like(v)
    lo = v <= 0.04045
    np.divide(v + 0.055, 1.055, out=out)
    np.power(out, 2.4, out=out)
    out[lo] = v[lo] / 12.92
    return out


def _check_windows(info, expect, path, frame, place=False):
    """PlateError unless ``info``'s windows are ``expect``'s; with ``place`` only the display windows
    must agree (the frame's data window is then read into ``expect``'s, :func:`place_window`)."""
    if expect is None:
        return
    if place and info.display == expect.display:
        return
    if info.data != expect.data or info.display != expect.display:
        if place:
            raise PlateError("frame %s (%s) has display window %s, but the plate's first frame has %s; every "
                             "frame of a plate must have the same display window (the format)"
                             % (frame if frame is not None else "?", path, _wstr(info.display),
                                _wstr(expect.display)), path=path, frame=frame)
        raise PlateError("frame %s (%s) has data window %s and display window %s, but the plate's first frame "
                         "has %s and %s; every frame of a plate must have the same windows"
                         % (frame if frame is not None else "?", path, _wstr(info.data), _wstr(info.display),
                            _wstr(expect.data), _wstr(expect.display)),
                         path=path, frame=frame)


def place_window(arr, src, dst):
    """The pixels ``arr`` (H, W, ...) of window ``src`` on window ``dst``: cut where ``src`` reaches past
    ``dst``, 0 (black, as Nuke shows outside a bbox) where ``src`` does not cover it."""
    if src == dst:
        return arr
    out = np.zeros((dst.height, dst.width) + tuple(arr.shape[2:]), arr.dtype)
    x0, x1 = max(src.x, dst.x), min(src.x + src.width, dst.x + dst.width)
    y0, y1 = max(src.y, dst.y), min(src.y + src.height, dst.y + dst.height)
    if x0 < x1 and y0 < y1:
        out[y0 - dst.y:y1 - dst.y, x0 - dst.x:x1 - dst.x] = arr[y0 - src.y:y1 - src.y, x0 - src.x:x1 - src.x]
    return out


def _wstr(w):
    return "(%d,%d %dx%d)" % (w.x, w.y, w.width, w.height)


def read_frame(path, *, layer=None, expect=None, frame=None, place=False):
    """Read one frame: :class:`FrameData` (info, linear, display-or-None).

    ``expect``: a PlateInfo the frame's windows must match (PlateError otherwise); with ``place`` only
    its display window must, and the frame's pixels come back on ``expect``'s data window
    (:func:`place_window`; the info returned is then ``expect``). ``frame`` only names the frame in
    errors.
    """
    path = os.fspath(path)
    inp = open_image(path, frame=frame)
    try:
        sub, idx, spec = _resolve(inp, path, layer, frame)
        info = _info_from(spec, idx)
        _check_windows(info, expect, path, frame, place)
        arr = read_channels(inp, path, sub, idx, frame)
        display = None
        if is_display_referred(info, spec.getattribute("oiio:ColorSpace")):
            display = arr
            arr = srgb_eotf(display)
        if place and expect is not None and info.data != expect.data:
            arr = place_window(arr, info.data, expect.data)
            display = place_window(display, info.data, expect.data) if display is not None else None
            info = expect
        return FrameData(info, arr, display)
    finally:
        inp.close()


def read_header(path, *, layer=None, frame=None):
    """The :class:`PlateInfo` of one frame (header only), raising what :func:`read_frame` would for a
    file that does not open, lacks the layer or is deep; ``frame`` names the frame in errors."""
    path = os.fspath(path)
    inp = open_image(path, frame=frame)
    try:
        sub, idx, spec = _resolve(inp, path, layer, frame)
        return _info_from(spec, idx)
    finally:
        inp.close()


def check_header(path, *, layer=None, expect=None, frame=None, place=False):
    """:func:`read_frame`'s checks that need no pixels (the file opens, has the layer, its windows match
    ``expect``), raising what it raises; a run checks every frame this way before it writes one."""
    _check_windows(read_header(path, layer=layer, frame=frame), expect, os.fspath(path), frame, place)


def read_rgb(path, *, layer=None):
    """Scene-linear float32 (H, W, 3) pixels of the data window of one image."""
    return read_frame(path, layer=layer).linear


#: the largest finite half float: what +inf in a plate becomes (``fix_nonfinite``)
HALF_MAX = 65504.0


def fix_nonfinite(arr, *, mode="fix", frame=None, path=None, stored=None):
    """Replace NaN and -inf in ``arr`` (in place) with 0, +inf with :data:`HALF_MAX` (a highlight that
    overflowed stays the brightest value a half-float plate holds, not a black hole in it), and return
    how many of the file's values were replaced.

    ``stored``: how many channels the file stores, when ``arr`` (H, W, C) repeats them (a greyscale
    ``Y`` plate read as grey RGB holds its one channel three times): each stored value is counted
    once (before, 3 NaN of a ``Y`` plate were reported as 9). ``mode="error"`` raises NaNPixelError
    naming the frame and the count instead. A cheap finite sum is tried first, so clean frames cost
    one pass without a temporary.
    """
    if mode not in ("fix", "error"):
        raise PlateError("on_nonfinite must be 'fix' or 'error', not %r" % (mode,))
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(arr, axis=None)
    if np.isfinite(total):
        return 0
    bad = ~np.isfinite(arr)
    n = int(np.count_nonzero(bad))
    if n == 0:  # the sum overflowed on large finite values
        return 0
    if stored and arr.ndim == 3 and 0 < int(stored) < arr.shape[2]:
        n = int(np.count_nonzero(bad[:, :, :int(stored)]))   # the repeated channels counted once
    if mode == "error":
        raise NaNPixelError("frame %s has %d non-finite (NaN/inf) pixel values%s" %
                            (frame if frame is not None else "?", n, (" (%s)" % path) if path else ""),
                            frame=frame, count=n, path=path)
    arr[np.isposinf(arr)] = HALF_MAX
    arr[bad & ~np.isfinite(arr)] = 0.0
    log.warning("frame %s: replaced %d non-finite pixel values (NaN, -inf with 0, +inf with 65504)%s",
                frame if frame is not None else "?", n, (" (%s)" % path) if path else "")
    return n


# --- writing (tests, demos, the matte writer) -----------------------------------------------------

def _make_spec(width, height, channels, pixel_type, *, data_xy=(0, 0), display=None, pixel_aspect=1.0,
               compression="zip", metadata=None, name=None):
    oiio = _oiio()
    spec = oiio.ImageSpec(int(width), int(height), len(channels), pixel_type)
    spec.x, spec.y = int(data_xy[0]), int(data_xy[1])
    if display is None:
        display = Window(int(data_xy[0]), int(data_xy[1]), int(width), int(height))
    spec.full_x, spec.full_y = int(display.x), int(display.y)
    spec.full_width, spec.full_height = int(display.width), int(display.height)
    spec.channelnames = tuple(channels)
    spec.alpha_channel = list(channels).index("A") if "A" in channels else -1
    if compression:
        spec.attribute("compression", str(compression))
    spec.attribute("PixelAspectRatio", float(pixel_aspect))
    if name:
        spec.attribute("name", str(name))
    for k, v in (metadata or {}).items():
        if isinstance(v, bool):
            v = int(v)
        spec.attribute(str(k), v if isinstance(v, (int, float, str)) else str(v))
    return spec


def _as_hwc(arr):
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


def write_parts(path, parts, *, compression="zip", pixel_aspect=1.0):
    """Write a (multi-part) image. ``parts``: list of dicts with ``pixels`` ((H, W[, C]) array),
    ``channels`` (names), optional ``name``, ``data`` (Window, or (x, y) origin), ``display``
    (Window), ``pixel_type`` ("half"/"float"/"uint8"/...), ``metadata``. Not atomic: see
    :mod:`samatte.io.writer` for output frames."""
    oiio = _oiio()
    path = os.fspath(path)
    specs, arrays = [], []
    for p in parts:
        arr = _as_hwc(p["pixels"])
        chans = list(p.get("channels") or ("R", "G", "B", "A")[:arr.shape[2]])
        if len(chans) != arr.shape[2]:
            raise PlateError("%d channel names for %d channels" % (len(chans), arr.shape[2]))
        d = p.get("data")
        xy = (d.x, d.y) if isinstance(d, Window) else (tuple(d) if d is not None else (0, 0))
        specs.append(_make_spec(arr.shape[1], arr.shape[0], chans, p.get("pixel_type", "half"), data_xy=xy,
                                display=p.get("display"), pixel_aspect=pixel_aspect,
                                compression=compression if path.lower().endswith(".exr") else None,
                                metadata=p.get("metadata"), name=p.get("name")))
        arrays.append(arr)
    out = oiio.ImageOutput.create(path)
    if out is None:
        raise PlateError("cannot write %s: %s" % (path, oiio.geterror()), path=path)
    try:
        if len(specs) > 1:
            ok = out.open(path, specs)
        else:
            ok = out.open(path, specs[0])
        if not ok:
            raise PlateError("cannot write %s: %s" % (path, out.geterror()), path=path)
        for k, (spec, arr) in enumerate(zip(specs, arrays)):
            if k > 0 and not out.open(path, spec, "AppendSubimage"):
                raise PlateError("cannot write part %d of %s: %s" % (k, path, out.geterror()), path=path)
            if not out.write_image(arr):
                raise PlateError("cannot write %s: %s" % (path, out.geterror()), path=path)
    finally:
        out.close()
    return path


def write_image(path, pixels, *, channels=None, data=None, display=None, pixel_type="half",
                compression="zip", pixel_aspect=1.0, metadata=None):
    """Write one image (single part): ``pixels`` (H, W[, C]) float; ``data`` a Window or (x, y) data
    origin; ``display`` the display Window (default: the data window)."""
    return write_parts(path, [{"pixels": pixels, "channels": channels, "data": data, "display": display,
                               "pixel_type": pixel_type, "metadata": metadata}],
                       compression=compression, pixel_aspect=pixel_aspect)
