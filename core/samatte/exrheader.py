"""Read an OpenEXR header with the standard library alone (host-side: Python 3.9, no OpenImageIO).

The host adapters need two things from a plate or a cached matte before any worker runs: the
display / data windows and pixel aspect (Blender sizes a Movie Clip by the data window), and the
``string`` attributes samatte writes (``samatte/key``, checked by Nuke's farm-safe Read). The
header is a list of (name NUL, type NUL, int32 size, value) after the 8-byte magic and version, ended
by an empty name (OpenEXR file layout, single-part files).
"""
import math
import struct
from typing import Any, Dict, List, Tuple

from .inputfile import open_regular

__all__ = ["read_attributes", "part_attributes", "colour_attributes", "string_attributes", "channel_list", "channel_names", "windows",
           "views", "COLOUR_ATTRIBUTES"]

MAGIC = 20000630


def read_attributes(path, *, limit=1 << 20):
    """{name: (type, raw bytes)} of an EXR header (at most ``limit`` bytes read). Raises OSError for
    an unreadable file and for a path that is not a regular file (a folder, a named pipe, a device:
    refused at once, never read: :func:`samatte.inputfile.open_regular`), and ValueError for one that
    is not an OpenEXR file or whose header is cut or damaged (a size field that is negative or runs
    past the end of the file). A header longer than ``limit`` gives the attributes that fit in it."""
    return part_attributes(path, limit=limit)[0]


def part_attributes(path, *, limit=1 << 20):
    """``[{name: (type, raw bytes)}, ...]``: the header of every part of an EXR (one for a single-part
    file; a multi-part file's headers follow each other, the list ended by an empty header). Errors as
    :func:`read_attributes`; a multi-part header list longer than ``limit`` gives the parts that fit."""
    f, _ = open_regular(path)
    with f:
        data = f.read(limit)
    cut = len(data) < limit   # the whole file was read: an attribute running past it is damage
    if len(data) < 8 or struct.unpack("<i", data[:4])[0] != MAGIC:
        raise ValueError("%s is not an OpenEXR file" % path)
    multi = bool(struct.unpack("<i", data[4:8])[0] & 0x1000)
    parts: List[Dict[str, Tuple[str, bytes]]] = []
    pos = 8
    while True:
        attrs, pos, ended = _parse_header(data, pos, path, cut)
        if not ended:   # the limit cut the header list: the parts read so far (the first, at least)
            if not parts:
                parts.append(attrs)
            return parts
        parts.append(attrs)
        if not multi or pos >= len(data) or data[pos:pos + 1] == b"\0":
            return parts


def _parse_header(data, pos, path, cut):
    """(attributes, position after the header, whether its end was found) of the header at ``pos``."""
    out: Dict[str, Tuple[str, bytes]] = {}
    while pos < len(data):
        end = data.find(b"\0", pos)
        if end < 0:
            break
        name = data[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if not name:
            return out, pos, True
        end = data.find(b"\0", pos)
        if end < 0 or end + 5 > len(data):
            break
        atype = data[pos:end].decode("ascii", "replace")
        (size,) = struct.unpack("<i", data[end + 1:end + 5])
        pos = end + 5
        if size < 0:
            raise ValueError("%s: the EXR header's attribute %r declares a negative size (%d): a damaged "
                             "file" % (path, name, size))
        if pos + size > len(data):
            break
        out[name] = (atype, data[pos:pos + size])
        pos += size
    if cut:
        raise ValueError("%s: the EXR header is cut (the file ends inside it)" % path)
    return out, pos, False


#: header attributes that say what colour an EXR's pixels are (samatte.io.exr reads them for a plate
#: whose job names no colourspace): the Color Interop Forum's ID, the common free-form names, the
#: primaries and white point, the ACES container flag (SMPTE ST 2065-4)
COLOUR_ATTRIBUTES = ("colorInteropID", "colorSpace", "colorspace", "chromaticities", "acesImageContainerFlag")


def colour_attributes(path):
    """``{"<part>:<name>": "<type>:<hex of the raw value>"}`` of the :data:`COLOUR_ATTRIBUTES` in every
    part's header (empty when there are none, and for a file that is missing or not a readable EXR):
    what a plate's cache key holds of its header, so that a header saying another colourspace makes
    the frames stale."""
    try:
        parts = part_attributes(path)
    except (OSError, ValueError, struct.error):
        return {}
    # by name in any case: the reading (OpenImageIO's getattribute) finds "ColorSpace", "COLORINTEROPID",
    # "acesimagecontainerflag" as it finds "colorSpace" (before: such a header decided the reading but was
    # not in the key, so rewriting it left every later frame "current")
    return {"%d:%s" % (i, k): "%s:%s" % (a[k][0], a[k][1].hex())
            for i, a in enumerate(parts) for k in a if k.lower() in _COLOUR_NAMES}


_COLOUR_NAMES = frozenset(n.lower() for n in COLOUR_ATTRIBUTES)


def string_attributes(path, *, limit=1 << 20):
    """{name: str} of the header's ``string`` attributes (others are skipped)."""
    return {k: v.decode("utf-8", "replace") for k, (t, v) in read_attributes(path, limit=limit).items()
            if t == "string"}


def channel_list(path, *, attrs=None):
    """``[(name, x sampling, y sampling)]`` of an EXR's (first part's) ``channels`` attribute (``chlist``: per
    channel its name NUL, pixel type int32, pLinear uint8, 3 reserved bytes, x / y sampling int32; an empty name
    ends it). ``attrs``: the header already read (:func:`read_attributes`, or one part's of
    :func:`part_attributes`). Errors as :func:`read_attributes`, and ValueError for a header with no channel
    list or a damaged one."""
    if attrs is None:
        attrs = read_attributes(path)
    ch = attrs.get("channels")
    if ch is None or ch[0] != "chlist":
        raise ValueError("%s: the EXR header has no channel list" % path)
    data, pos = ch[1], 0
    out: List[Tuple[str, int, int]] = []
    while True:
        end = data.find(b"\0", pos)
        if end < 0:
            raise ValueError("%s: the EXR header's channel list is damaged" % path)
        if end == pos:
            return out
        if end + 17 > len(data):
            raise ValueError("%s: the EXR header's channel list is damaged" % path)
        xs, ys = struct.unpack("<ii", data[end + 9:end + 17])
        out.append((data[pos:end].decode("utf-8", "replace"), xs, ys))
        pos = end + 17


def channel_names(path, *, attrs=None):
    """The channel names of an EXR's (first part's) channel list (:func:`channel_list`; the same errors)."""
    return [name for name, _xs, _ys in channel_list(path, attrs=attrs)]


def views(path):
    """The views of a stereo / multi-view EXR, in the file's order: a single-part file's ``multiView``
    (``stringvector``: per string an int32 size and its bytes; the first is the default view, stored
    unprefixed), then the ``view`` attribute of every part of a multi-part file. Empty for a file with
    none, and for one that is missing, not a regular file or not a readable EXR."""
    try:
        parts = part_attributes(path)
    except (OSError, ValueError, struct.error):
        return []
    out: List[str] = []
    for attrs in parts:
        names: List[str] = []
        mv = attrs.get("multiView")
        if mv is not None and mv[0] == "stringvector":
            data, pos = mv[1], 0
            while pos + 4 <= len(data):
                (n,) = struct.unpack("<i", data[pos:pos + 4])
                if n < 0 or pos + 4 + n > len(data):
                    break
                names.append(data[pos + 4:pos + 4 + n].decode("utf-8", "replace"))
                pos += 4 + n
        v = attrs.get("view")
        if v is not None and v[0] == "string":
            names.append(v[1].decode("utf-8", "replace"))
        for name in names:
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def windows(path):
    """``{"display_window": (x, y, w, h), "data_window": (x, y, w, h), "pixel_aspect": float}`` in
    EXR's y-down pixel space, or None when the file is missing, not a regular file, not an EXR, or
    its windows are damaged (cut, inverted: OpenEXR refuses such a file too). A multi-part file gives
    its first part's: the display window and pixel aspect are the same in every part (OpenEXR's shared
    attributes), which is what the hosts compare (the Nuke Read's format, a cached render's size); the
    data window is the first part's (another part's may differ). A pixel aspect that is not a positive
    finite number reads as 1.0 (as the worker reads it)."""
    try:
        attrs = read_attributes(path)
    except (OSError, ValueError, struct.error):
        return None
    out: Dict[str, Any] = {}
    for key, label in (("displayWindow", "display_window"), ("dataWindow", "data_window")):
        if key not in attrs or attrs[key][0] != "box2i" or len(attrs[key][1]) != 16:
            return None
        x0, y0, x1, y1 = struct.unpack("<4i", attrs[key][1])
        if x1 < x0 or y1 < y0:
            return None
        out[label] = (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    pa = attrs.get("pixelAspectRatio")
    aspect = struct.unpack("<f", pa[1])[0] if (pa and len(pa[1]) == 4) else 1.0
    out["pixel_aspect"] = aspect if (aspect > 0 and math.isfinite(aspect)) else 1.0
    return out
