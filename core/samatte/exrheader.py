"""Read an OpenEXR header with the standard library alone (host-side: Python 3.9, no OpenImageIO).

The host adapters need two things from a plate or a cached matte before any worker runs: the
display / data windows and pixel aspect (Blender sizes a Movie Clip by the data window), and the
``string`` attributes samatte writes (``samatte/key``, checked by Nuke's farm-safe Read). The
header is a list of (name NUL, type NUL, int32 size, value) after the 8-byte magic and version, ended
by an empty name (OpenEXR file layout, single-part files).
"""
import struct
from typing import Any, Dict, Tuple

__all__ = ["read_attributes", "string_attributes", "windows"]

MAGIC = 20000630


def read_attributes(path, *, limit=1 << 20):
    """{name: (type, raw bytes)} of an EXR header (at most ``limit`` bytes read). Raises OSError for
    an unreadable file and ValueError for one that is not an OpenEXR file or whose header is cut."""
    with open(path, "rb") as fh:
        data = fh.read(limit)
    if len(data) < 8 or struct.unpack("<i", data[:4])[0] != MAGIC:
        raise ValueError("%s is not an OpenEXR file" % path)
    pos = 8
    out: Dict[str, Tuple[str, bytes]] = {}
    while pos < len(data):
        end = data.index(b"\0", pos)
        name = data[pos:end].decode("utf-8", "replace")
        pos = end + 1
        if not name:
            return out
        end = data.index(b"\0", pos)
        atype = data[pos:end].decode("ascii", "replace")
        (size,) = struct.unpack("<i", data[end + 1:end + 5])
        pos = end + 5
        out[name] = (atype, data[pos:pos + size])
        pos += size
    return out


def string_attributes(path, *, limit=1 << 20):
    """{name: str} of the header's ``string`` attributes (others are skipped)."""
    return {k: v.decode("utf-8", "replace") for k, (t, v) in read_attributes(path, limit=limit).items()
            if t == "string"}


def windows(path):
    """``{"display_window": (x, y, w, h), "data_window": (x, y, w, h), "pixel_aspect": float}`` in
    EXR's y-down pixel space, or None when the file is missing or not a (single-part) EXR."""
    try:
        attrs = read_attributes(path)
    except (OSError, ValueError, struct.error):
        return None
    out: Dict[str, Any] = {}
    for key, label in (("displayWindow", "display_window"), ("dataWindow", "data_window")):
        if key not in attrs:
            return None
        x0, y0, x1, y1 = struct.unpack("<4i", attrs[key][1][:16])
        out[label] = (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    pa = attrs.get("pixelAspectRatio")
    out["pixel_aspect"] = struct.unpack("<f", pa[1][:4])[0] if pa else 1.0
    return out
