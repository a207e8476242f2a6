"""Blender coordinates and frame numbers -> samatte's (no bpy; standard library only).

samatte wants pixels of the plate's *display window*, origin top-left, y down, and frame numbers
that are the numbers in the file names. Blender has (measured in bpy 5.0.1 and 4.2.23):

* tracking ``marker.co``: normalised by the clip's size, origin bottom-left:
  ``px = co.x * W``, ``py_top = (1 - co.y) * H``;
* mask ``co`` (and bezier handles, absolute in the same space): x normalised by the width, y in a
  square of side max(W, H) centred on the frame. For W > H:
  ``my = ((1 - py/H) - 0.5) * H/W + 0.5``; a portrait frame swaps the roles of x and y.
  A clip with pixel aspect ``pa`` (``clip.tracking.camera.pixel_aspect``) shapes that square on
  (W, H / pa), as Blender's ``BKE_mask_coord_from_movieclip`` does (not measured: no such clip here);
* markers are stored in clip frames, ``clip_frame = scene_frame - clip.frame_start + 1``; mask keys
  are in scene frames; the file shown is ``first_file + clip_frame - 1 + clip.frame_offset``.

``W, H`` are the clip's size (``clip.size``). For an EXR with overscan (data window larger than the
display window) Blender sizes the clip by one of the two windows; ``origin`` is the top-left corner
of the window Blender shows, in display-window pixels (``(0, 0)`` when it shows the display window,
the data window's ``(x, y)`` when it shows the data window). See ``tests/blender`` for which one.
"""
import os
import stat
import struct
import re

__all__ = ["marker_to_px", "px_to_marker", "mask_to_px", "px_to_mask", "clip_frame", "scene_frame",
           "file_number", "scene_frame_of_file", "sequence_pattern", "sequence_path", "sequence_numbers",
           "exr_windows", "native_blend_path", "foreign_path"]


def native_blend_path(path, sep=os.sep):
    """A ``//`` path (relative to the .blend) with this OS's separators: a .blend saved on Windows stores
    ``//plates\\sh010.1001.exr``, which Blender's own readers (a Movie Clip, an Image) read on Linux and macOS as
    ``//plates/sh010.1001.exr`` while ``bpy.path.abspath`` keeps the backslashes, a file name. On Linux and macOS
    Blender's readers take a ``\\`` of an absolute path for a separator too (measured, bpy 5.0.1 and 4.2: a clip
    ``/shots/a\\b.png`` shows ``/shots/a/b.png``), so such a path gets ``/`` as well; a Windows absolute path
    (:func:`foreign_path`) and, on Windows, any path but a ``//`` one are as given."""
    if not path.startswith("//"):
        if sep == "/" and "\\" in path and not foreign_path(path, sep):
            return path.replace("\\", "/")
        return path
    other = "/" if sep == "\\" else "\\"
    return "//" + path[2:].replace(other, sep)


def foreign_path(path, sep=os.sep):
    """True for a Windows absolute path (``Z:\\shows\\...``, ``\\\\server\\share``) on a machine whose
    separator is ``/`` (Linux, macOS), which no file there has: a .blend made on Windows and opened here."""
    if sep != "/" or not path:
        return False
    return bool(re.match(r"^[A-Za-z]:[\\/]", path)) or path.startswith("\\\\")


def marker_to_px(co, size, origin=(0.0, 0.0)):
    """Tracking marker ``co`` (normalised, origin bottom-left) -> display-window pixels (x, y down)."""
    w, h = float(size[0]), float(size[1])
    return (co[0] * w + origin[0], (1.0 - co[1]) * h + origin[1])


def px_to_marker(p, size, origin=(0.0, 0.0)):
    w, h = float(size[0]), float(size[1])
    return ((p[0] - origin[0]) / w, 1.0 - (p[1] - origin[1]) / h)


def _mask_dims(size, pixel_aspect):
    return float(size[0]), float(size[1]) / float(pixel_aspect or 1.0)


def mask_to_px(co, size, origin=(0.0, 0.0), pixel_aspect=1.0):
    """Mask point or handle ``co`` -> display-window pixels (x, y down)."""
    w, h = _mask_dims(size, pixel_aspect)
    mx, my = float(co[0]), float(co[1])
    if w >= h:
        fx = mx
        fy = (my - 0.5) * w / h + 0.5
    else:
        fx = (mx - 0.5) * h / w + 0.5
        fy = my
    return (fx * size[0] + origin[0], (1.0 - fy) * size[1] + origin[1])


def px_to_mask(p, size, origin=(0.0, 0.0), pixel_aspect=1.0):
    """Inverse of :func:`mask_to_px` (tests, and drawing a result back as a mask)."""
    w, h = _mask_dims(size, pixel_aspect)
    fx = (p[0] - origin[0]) / float(size[0])
    fy = 1.0 - (p[1] - origin[1]) / float(size[1])
    if w >= h:
        return (fx, (fy - 0.5) * h / w + 0.5)
    return ((fx - 0.5) * w / h + 0.5, fy)


def clip_frame(scene_frame_number, clip_frame_start):
    """Scene frame -> the clip's own frame (what ``marker.frame`` stores)."""
    return int(scene_frame_number) - int(clip_frame_start) + 1


def scene_frame(clip_frame_number, clip_frame_start):
    return int(clip_frame_number) + int(clip_frame_start) - 1


def file_number(scene_frame_number, *, clip_frame_start, first_file, frame_offset=0):
    """Scene frame -> the number in the file name that Blender shows on that frame."""
    return int(first_file) + clip_frame(scene_frame_number, clip_frame_start) - 1 + int(frame_offset)


def scene_frame_of_file(number, *, clip_frame_start, first_file, frame_offset=0):
    """Inverse of :func:`file_number`."""
    return scene_frame(int(number) - int(first_file) + 1 - int(frame_offset), clip_frame_start)


_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def sequence_pattern(path):
    """``/a/plate.1001.exr`` -> (``/a/plate.####.exr``, 1001): the last run of digits in the file
    name before its extension becomes ``#`` (one per digit: Blender pads and reads the same way,
    ``BLI_path_sequence_decode``). No digits: (path, None)."""
    folder, name = os.path.split(path)
    m = _DIGITS.search(os.path.splitext(name)[0])     # as Blender: never digits of the extension (.jp2)
    if not m:
        return path, None
    pattern = name[:m.start()] + "#" * len(m.group(1)) + name[m.end():]
    return os.path.join(folder, pattern), int(m.group(1))


def sequence_path(pattern, number):
    """``/a/plate.####.exr``, 1001 -> ``/a/plate.1001.exr`` (the inverse of :func:`sequence_pattern`). Only the
    file name's ``#`` are the frame number, as :func:`sequence_pattern` made them (and Blender reads them): a
    folder's ``#`` (``/shots/sh#010/``) stays (before: every ``#`` of the path was counted, no name matched, and
    a clip there had 'no plate file ... moved or deleted?')."""
    folder, name = os.path.split(pattern)
    n = name.count("#")
    return os.path.join(folder, name.replace("#" * n, "%0*d" % (n, number))) if n else pattern


def sequence_numbers(pattern):
    """The numbers of the files of ``pattern`` (``/a/plate.####.exr``) that exist, sorted: one listing of
    the folder (a name of the pattern's form, compared without case) and each candidate confirmed with
    ``os.path.exists`` of the name Blender reads for that number (:func:`sequence_path`). Only numbers
    >= 0: Blender never reads a negative one (``BLI_path_sequence_encode`` clamps it to 0). [] when the
    folder cannot be listed or the pattern has no ``#``."""
    folder, name = os.path.split(pattern)
    n = name.count("#")
    if not n:
        return []
    head, tail = name.split("#" * n, 1)
    form = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + r"\Z", re.IGNORECASE)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    found = {int(m.group(1)) for m in map(form.match, names) if m}
    return sorted(f for f in found if os.path.exists(sequence_path(pattern, f)))


#: the most header bytes read (a real header is a few KB; samatte.exrheader reads the same)
_HEADER_LIMIT = 1 << 20


def _read_exr_attrs(f, names):
    """The attributes ``names`` of the header that follows in ``f`` (after magic and version), from at
    most :data:`_HEADER_LIMIT` bytes: a damaged size field (4 GB) never allocates or reads past them."""
    buf = f.read(_HEADER_LIMIT)
    found = {}
    pos = 0
    while pos < len(buf):
        end = buf.find(b"\0", pos)
        if end < 0 or end == pos:           # the header's end (an empty name) or a cut header
            return found
        name = buf[pos:end]
        tend = buf.find(b"\0", end + 1)
        if tend < 0 or tend + 5 > len(buf):
            return found
        typ = buf[end + 1:tend]
        size = int.from_bytes(buf[tend + 1:tend + 5], "little")
        pos = tend + 5
        if size > len(buf) - pos:           # runs past the header read: damaged
            return found
        key = name.decode("latin-1")
        if key in names:
            found[key] = (typ.decode("latin-1"), bytes(buf[pos:pos + size]))
        pos += size
    return found


def _exr_header(path, names):
    """The attributes ``names`` of an EXR's (first) header (:func:`_read_exr_attrs`), or None when ``path`` is not a
    regular EXR file."""
    try:
        # never block on a named pipe, never read a device (/dev/zero has no end): regular files only
        # (samatte.inputfile.open_regular, inlined)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            regular = False
        if not regular:
            os.close(fd)
            return None
        with os.fdopen(fd, "rb") as f:
            if f.read(4) != b"\x76\x2f\x31\x01":
                return None
            f.read(4)
            return _read_exr_attrs(f, names)
    except OSError:
        return None


def exr_windows(path):
    """Display and data windows of an EXR as ``(x, y, w, h)`` pixels (EXR's y-down space), read from
    the header with the standard library. None when the file is not an EXR; a multi-part file gives its
    first part's (the display window and pixel aspect are shared by every part; the data window is the first
    part's).

    The same reader as ``samatte.exrheader.windows``, kept here on purpose: Scan and the clip's size
    check run before a samatte Python is set, when no ``samatte`` module can be imported."""
    attrs = _exr_header(path, ("displayWindow", "dataWindow", "pixelAspectRatio"))
    if attrs is None:
        return None
    out = {}
    for key, label in (("displayWindow", "display_window"), ("dataWindow", "data_window")):
        if key not in attrs or len(attrs[key][1]) < 16:
            return None
        x0, y0, x1, y1 = struct.unpack("<4i", attrs[key][1][:16])
        out[label] = (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    pa = attrs.get("pixelAspectRatio")
    out["pixel_aspect"] = struct.unpack("<f", pa[1][:4])[0] if (pa and len(pa[1]) >= 4) else 1.0
    return out


def exr_channels(path):
    """The channel names of an EXR's (first part's) header, in its order, read with the standard library; [] when
    the file is not an EXR or its header has no channel list."""
    attrs = _exr_header(path, ("channels",)) or {}
    return _channel_names(attrs["channels"][1]) if "channels" in attrs else []


def _channel_names(raw):
    """The channel names of an EXR ``chlist`` attribute, in the header's order (each: a name, its NUL, 16 bytes of
    type and sampling; a NUL ends the list)."""
    names = []
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\0", pos)
        if end <= pos:
            break
        names.append(raw[pos:end].decode("utf-8", "replace"))
        pos = end + 1 + 16
    return names


def blender_rgb_layer(channels):
    """``(layer, mixed)``: the layer of an EXR's channels (``channels``, in the header's order, the first part's) that
    Blender's Movie Clip shows, as samatte's ``plate.layer`` names it (``ViewLayer.Combined`` for
    ``ViewLayer.Combined.R/G/B``), None for the plain ``R``, ``G``, ``B`` (or no such channels: samatte's default).
    Blender reads a file without its own layer choice (a Movie Clip) by taking, for each of R, G and B, the first
    channel whose name ends in that letter, any case (``exr_rgba_channelname``, 4.2 to 5.0): a render saved as
    OpenEXR MultiLayer shows its first layer's Combined. ``mixed``: those three are not one layer's (Blender shows
    channels of several layers, e.g. ``AO.R`` sorted before a plain ``R``): no layer is given then (samatte's
    default, the plain R, G, B, as before)."""
    picked = []
    for letter in "RGB":
        picked.append(next((c for c in channels if c[-1:].upper() == letter), None))
    layers = {c.rsplit(".", 1)[0] if (c and "." in c) else None for c in picked}
    if len(layers) != 1:
        return None, True
    return layers.pop(), False
