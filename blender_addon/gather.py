"""Prompts from a Movie Clip's masks and tracking tracks (no bpy: Blender objects are read by their
attributes, so tests pass plain stand-ins; standard library only).

Conventions (README "Blender"):

* every visible mask layer (``hide_render`` off) is one samatte object; its name is the core's
  :func:`samatte.names.safe_name` of the layer's name, which is kept as ``host_name``;
* a layer's prompts sit on the scene frames where it is keyed: fcurves on its points, or else its
  shape keys (the I key in the Clip Editor), found from the motion (:func:`motion_keyframes`; both when its
  fcurves key no point position, :func:`layer_positions_keyed`: a feather weight keyed on a shape-keyed roto); a
  layer that never moves gives one prompt on the current frame; ``every_frame`` ("use my animated roto") sends the
  shape of every frame of the range (with the ``shapes`` tracker: the roto is refined, not tracked);
* a spline is read as Blender's mask rasteriser draws it (:func:`_spline_prompt`): with Fill on, a
  bezier prompt (handles absolute), an open (non-cyclic) one closed by the straight chord Blender
  fills across; with Fill off (``use_fill``) a line, a ``closed: false`` stroke (positive points; a
  cyclic one closes on its first point); its feather weights as the prompt's ``feather``
  (:func:`spline_feather`); a spline crossing itself is filled by non-zero winding (Blender with
  Calculate Overlap on), noted. A spline of one point is dropped (noted), a filled one of two points with curved
  handles (a lens, which Blender fills) is split into three, one with straight handles (a line: nothing) dropped; points parented to a tracking track are read
  where Blender shows them on the frame (:func:`parent_matrix`: a point track's translation, a plane
  track's homography from its corners at parenting to its corners on the frame, handles included;
  a parent whose DNA cannot be read is noted and the shape used as drawn);
* layers combine in their order, as Blender's blend modes do (:data:`BLEND_ROLES`,
  :func:`layer_role`): Merge Add / Add / Lighten layers are objects; a Subtract / Merge Subtract layer
  is a garbage matte: its shapes are ``mode: "subtract"`` prompts of the objects of the layers
  *before* it, on the frames where that object has a shape; Darken / Multiply keep only what of
  those lies inside its shape (one shape, inverted and subtracted); Replace is an object and keeps of
  the layers before only what lies inside its shape; Difference is an object minus the layers
  before, which lose its shape. With "Holes" (``use_fill_holes``) a spline lying inside another
  spline of its layer is a hole (``mode: "subtract"``) of that layer's object; a layer with Invert on
  is the frame minus its shapes (:func:`_invert_layer`; a cutting layer's Invert swaps what it
  keeps and removes); a layer at opacity (``alpha``) under 0.5 is skipped, one at 0.5 or more read as
  opaque (both noted: samatte thresholds a matte at 0.5); a layer whose ``hide_render`` or ``alpha`` is
  keyed or driven is read on each frame (:func:`_sample_frames`), prompted and cutting only where it
  draws (Blender's Mask node reads both per frame), and the frames of the range where it draws nothing
  are its object's ``absent`` (alpha 0 there, its track not carried across them; track points there
  are dropped);
* tracking tracks (selected ones, or those of a named tracking object) are points: a track belongs to
  the layer whose name is the longest prefix of the track's name (``hero``, ``hero.eye``,
  ``hero eye``); others go to ``default_object``; a track whose name starts with ``-`` gives
  negative points (``-hero.bg``); a marker's point is ``marker.co + track.offset``, as in Blender.
  Markers that are disabled (muted) or whose point is off the frame are dropped, and so are
  negative-only frames of an object that has no shape at all.
"""
import os

from . import convert

__all__ = ["ClipInfo", "clip_info", "action_fcurves", "layer_keyframes", "layer_positions_keyed", "gather_mask_objects",
           "gather_track_points", "merge_objects", "point_in_polygon", "parent_origin", "parent_offset",
           "parent_corners_origin", "parent_matrix", "plane_parent_matrix", "plane_corners", "homography",
           "apply_homography", "track_position", "track_position_at", "selected_tracks"]


class ClipInfo:
    """What the conversions need about a clip (plain values)."""

    def __init__(self, *, size, first_file, frame_start=1, frame_offset=0, duration=1, origin=(0, 0),
                 pixel_aspect=1.0, pattern=None, filepath=None, colourspace=None, display_window=None,
                 data_window=None, name="clip", layer=None):
        self.size = (int(size[0]), int(size[1]))
        self.first_file = int(first_file)
        self.frame_start = int(frame_start)
        self.frame_offset = int(frame_offset)
        self.duration = int(duration)
        self.origin = (float(origin[0]), float(origin[1]))
        self.pixel_aspect = float(pixel_aspect or 1.0)
        self.pattern = pattern
        self.filepath = filepath
        self.colourspace = colourspace
        self.display_window = display_window
        self.data_window = data_window
        self.name = name
        #: the EXR layer Blender shows (``convert.blender_rgb_layer``: a multilayer render's first layer), samatte's
        #: ``plate.layer``; None: the plain R, G, B
        self.layer = layer

    def file(self, scene_frame):
        return convert.file_number(scene_frame, clip_frame_start=self.frame_start, first_file=self.first_file,
                                   frame_offset=self.frame_offset)

    def scene_frame(self, file_number):
        return convert.scene_frame_of_file(file_number, clip_frame_start=self.frame_start,
                                           first_file=self.first_file, frame_offset=self.frame_offset)

    def scene_range(self):
        """Blender's range of the clip in scene frames: its Start Frame over ``frame_duration`` frames (what
        the Clip Editor's Set Scene Frames sets). Not every frame Blender shows a file on: see
        :meth:`shown_frames`."""
        return self.frame_start, self.frame_start + self.duration - 1

    def files_on_disk(self):
        """The numbers of the clip's plate files on disk (:func:`convert.sequence_numbers`)."""
        return convert.sequence_numbers(self.pattern) if self.pattern else []

    def shown_frames(self, *ranges):
        """The scene frames in any of ``ranges`` (``(first, last)``, inclusive) on which Blender's Movie Clip
        shows a plate file, sorted. Blender shows file :meth:`file` (f) on every scene frame f where that
        file exists, inside the clip's :meth:`scene_range` or not (the compositor's Movie Clip node,
        measured in bpy 5.0.1 and 4.2.23): with Offset > 0 the first files on the frames before the
        Start Frame, with Offset < 0 the last ones past its end, and the files after a gap in the
        sequence (``frame_duration`` counts the files up to the first missing one)."""
        out = set()
        for n in self.files_on_disk():
            f = self.scene_frame(n)
            if any(int(lo) <= f <= int(hi) for lo, hi in ranges):
                out.add(f)
        return sorted(out)

    def job_scene_frames(self, scene_range, frame_range=None):
        """The scene frames a job covers (its frames are their :meth:`file` numbers): every frame of the
        clip's :meth:`scene_range` and of the scene's ``scene_range`` (``(frame_start, frame_end)``) on which
        Blender shows a plate file; with ``frame_range`` (the panel's Frame range), the frames of that range
        on which it shows one. Before, only the clip's range: files Blender shows before the Start Frame
        (Offset > 0), past its end (Offset < 0) or after a gap in the sequence were never matted (their
        plate rendered with no matte), and Matte this frame refused them."""
        if frame_range is not None:
            return self.shown_frames(frame_range)
        return self.shown_frames(self.scene_range(), scene_range)

    def marker_px(self, co):
        return convert.marker_to_px(co, self.size, self.origin)

    def mask_px(self, co):
        return convert.mask_to_px(co, self.size, self.origin, self.pixel_aspect)


def clip_info(clip, *, abspath=lambda p: p):
    """A :class:`ClipInfo` from a ``bpy.types.MovieClip`` (or a stand-in): absolute path, sequence
    pattern and first file number, size, overscan origin (Blender sizes a clip by the EXR's data
    window, measured in 4.2 and 5.0: the origin is the data window's corner in display pixels).
    ``abspath(path, library=None)`` as ``bpy.path.abspath``: a clip linked from a library .blend has a
    ``//`` path relative to that library's file, not to the open one (it is called with ``library=``
    only for such a clip)."""
    from .hosterrors import HostError
    library = getattr(clip, "library", None)
    if convert.foreign_path(clip.filepath or ""):
        # a .blend set up on Windows opened here (before: 'has no image (size (0, 0))', or 'no plate file')
        raise HostError("PLATE_INVALID", "clip %r reads %s, a Windows path (the .blend was set up on Windows?): "
                        "this machine has no such file. Open the clip's files where this machine has them (Clip "
                        "Editor > Clip > Open, or File > External Data > Find Missing Files), or make the paths "
                        "relative (//) on Windows, which works on every OS" % (clip.name, clip.filepath))
    path = os.path.normpath(abspath(clip.filepath, library=library) if library is not None
                            else abspath(clip.filepath))
    pattern, first = convert.sequence_pattern(path)
    if first is not None and "#" in os.path.basename(path):
        # samatte's frame patterns read a '#' as a digit of the frame number: the job's plate would have
        # two frame tokens (before: a ValueError from the folder listing, a traceback in the add-on)
        raise HostError("PLATE_INVALID", "clip %r: its file name %s has a '#', which samatte reads as a digit "
                        "of the frame number: rename the files without '#' and open the first one as the clip"
                        % (clip.name, os.path.basename(path)))
    if first is not None and "#" in os.path.dirname(path):
        # Blender reads a folder's '#' as it is, samatte as a frame token: the job's plate would have two (before:
        # the frame listing missed every file, 'no plate file ... were the files moved or deleted?')
        raise HostError("PLATE_INVALID", "clip %r: its folder %s has a '#' in its path, which samatte reads as a "
                        "digit of the frame number: move the files (or rename the folder) to a path without '#' and "
                        "open the first one as the clip" % (clip.name, os.path.dirname(path)))
    source = getattr(clip, "source", "SEQUENCE")
    if source != "SEQUENCE" or first is None:
        # (before, a still image with no number in its name was 'clip 'still.png' is SEQUENCE (...): render it to
        # an image sequence', to an artist whose clip Blender calls a sequence)
        what = ("a movie file" if source == "MOVIE" else
                "a single image with no frame number in its file name" if first is None else "a %s" % source)
        raise HostError("PLATE_INVALID", "samatte needs an image sequence with frame numbers in the file names "
                        "(plate.1001.exr, plate.1002.exr...); clip %r is %s (%s): %s and open its first file as the "
                        "clip" % (clip.name, what, path,
                                  "render it to an image sequence (EXR, PNG...)" if source == "MOVIE" or first is not None
                                  else "give the file a frame number (%s)" % _numbered(os.path.basename(path))))
    size = tuple(clip.size)
    if not size or size[0] <= 0 or size[1] <= 0:
        raise HostError("PLATE_INVALID", "clip %r has no image (size %r): is %s readable?" % (clip.name, size, path))
    origin = (0, 0)
    win = convert.exr_windows(path) if path.lower().endswith(".exr") else None
    disp = data = layer = None
    if win:
        # a render saved as OpenEXR MultiLayer (ViewLayer.Combined.R...): Blender shows its first layer's RGB; the
        # job names that layer (before: none, and the worker found no R, G, B: '[CHANNELS_INVALID] ... (give a
        # layer)', which the panel has no way to give)
        layer = convert.blender_rgb_layer(convert.exr_channels(path))[0]
        disp, data = win["display_window"], win["data_window"]
        if (data[2], data[3]) == size:
            origin = (data[0] - disp[0], data[1] - disp[1])
        elif (disp[2], disp[3]) == size:
            origin = (0, 0)
        else:   # the files changed on disk (another resolution): Blender keeps the size it read
            raise HostError("PLATE_INVALID", "clip %r is %dx%d in Blender but its file %s is %dx%d: the plate "
                            "changed on disk since Blender read it. Reload the clip (Clip Editor > Clip > Reload), "
                            "check the masks and tracks, then run again" % (
                                clip.name, size[0], size[1], path, data[2], data[3]))
    try:
        pa = float(clip.tracking.camera.pixel_aspect)
    except AttributeError:
        pa = 1.0
    try:
        cs = clip.colorspace_settings.name
    except AttributeError:
        cs = None
    return ClipInfo(size=size, first_file=first, frame_start=clip.frame_start, frame_offset=clip.frame_offset,
                    duration=clip.frame_duration, origin=origin, pixel_aspect=pa, pattern=pattern, filepath=path,
                    colourspace=cs, display_window=disp, data_window=data, name=clip.name, layer=layer)


def _numbered(name):
    """``still.png`` -> ``still.0001.png``: the name with a frame number, as the error's example."""
    stem, ext = os.path.splitext(name)
    return "%s.0001%s" % (stem, ext)


def action_fcurves(action):
    """All fcurves of an action: legacy ``action.fcurves`` (4.x) or the layered actions of 5.x."""
    if action is None:
        return []
    fcs = getattr(action, "fcurves", None)
    if fcs is not None:
        return list(fcs)
    out = []
    for layer in getattr(action, "layers", ()):
        for strip in getattr(layer, "strips", ()):
            for bag in getattr(strip, "channelbags", ()):
                out.extend(bag.fcurves)
    return out


def _layer_prefix(name):
    return 'layers["%s"]' % name.replace("\\", "\\\\").replace('"', '\\"')


def layer_keyframes(mask, layer_name, framelen=1.0):
    """Scene frames where a mask layer's points are keyed (sorted ints): the frames that show its keys.
    ``framelen``: the scene's animation time per frame, ``render.frame_map_old / frame_map_new`` (Time
    Stretching; Blender's ``r.framelen``): Blender evaluates animation at ``ctime = frame * framelen``
    while a Movie Clip shows clip frame ``frame - frame_start + 1`` unstretched (both measured in bpy 5.0.1
    and 4.2.23), so a key at fcurve time k is drawn over the plate of scene frame ``k / framelen`` (the
    nearest one when that is not a whole frame)."""
    ad = getattr(mask, "animation_data", None)
    prefix = _layer_prefix(layer_name)
    framelen = float(framelen or 1.0)
    frames = set()
    for fc in action_fcurves(getattr(ad, "action", None) if ad is not None else None):
        # only F-curves on its splines (points, handles, feather weights): a key of the layer's Opacity or
        # visibility (layers["x"].alpha, .hide_render) is no shape key (before: it was, so a layer animated
        # with shape keys and a keyed opacity fade was read only on the fade's keys, its motion not sampled)
        if fc.data_path.startswith(prefix + ".splines"):
            frames.update(int(round(k.co[0] / framelen)) for k in fc.keyframe_points)
    return sorted(frames)


#: the point properties that place a mask layer's shape (an F-curve on another, a feather ``weight`` say, leaves the
#: shape to the layer's shape keys)
_POSITION_PROPS = (".co", ".handle_left", ".handle_right")


def layer_positions_keyed(mask, layer_name):
    """Whether an F-curve of ``mask``'s action keys where a point of layer ``layer_name`` lies (its ``co`` or
    handles). A layer keyed only on other properties of its splines (a point's feather ``weight``, keyed with I over
    the field) is still moved by its mask shape keys (the I key in the Clip Editor), which Python cannot see."""
    ad = getattr(mask, "animation_data", None)
    prefix = _layer_prefix(layer_name) + ".splines"
    return any(fc.data_path.startswith(prefix) and fc.data_path.endswith(_POSITION_PROPS)
               for fc in action_fcurves(getattr(ad, "action", None) if ad is not None else None))


def _layer_coords(layer, ctime=None):
    """The layer's points and handles (mask space), flat. With ``ctime`` (the frame's animation time), a point
    parented to a track or plane track (Ctrl+P) is where Blender draws it then (:func:`parent_matrix`):
    ``point.co`` alone stays where it was drawn, so a roto that follows its track looked still."""
    out = []
    for sp in layer.splines:
        for p in sp.points:
            xy = ((p.co[0], p.co[1]), (p.handle_left[0], p.handle_left[1]), (p.handle_right[0], p.handle_right[1]))
            m = parent_matrix(p, ctime)[0] if ctime is not None and _point_parented(p) else None
            if m is not None:
                xy = [apply_homography(m, q) for q in xy]
            for q in xy:
                out.extend(q)
    return out


def _point_parented(point):
    return getattr(getattr(point, "parent", None), "id", None) is not None


def layer_parented(layer):
    """Whether a point of ``layer`` is parented to a track or plane track (Ctrl+P in the Clip Editor): Blender
    then draws the layer moving with it on every frame, keyed or not."""
    return any(_point_parented(p) for sp in layer.splines for p in sp.points)


def motion_keyframes(samples, eps=1e-6):
    """Key frames of a linearly interpolated shape, from its coordinates on consecutive frames.

    ``samples``: [(frame, [coords...]), ...] over consecutive frames. Blender's mask shape keys
    (the I key in the Clip Editor's mask mode) are not exposed to Python, but between two keys the
    points move linearly: a key is where the velocity changes. A shape that moves through an end of
    the range gets that end too. A shape that never moves gives []."""
    if len(samples) < 2:
        return []
    frames = [f for f, _ in samples]
    vel = []
    for (_, a), (_, b) in zip(samples, samples[1:]):
        if len(a) != len(b):
            vel.append(None)        # the spline changed: treat as a jump
        else:
            vel.append([y - x for x, y in zip(a, b)])

    def moving(v):
        return v is None or any(abs(c) > eps for c in v)

    def differ(v, w):
        if v is None or w is None:
            return True
        return any(abs(x - y) > eps for x, y in zip(v, w))
    if not any(moving(v) for v in vel):
        return []
    keys = {frames[i] for i in range(1, len(frames) - 1) if differ(vel[i - 1], vel[i])}
    if moving(vel[0]):
        keys.add(frames[0])
    if moving(vel[-1]):
        keys.add(frames[-1])
    return sorted(keys)


def point_in_polygon(p, poly):
    x, y = p
    inside = False
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < (x1 - x0) * (y - y0) / (y1 - y0) + x0:
            inside = not inside
    return inside


_PARENT_TYPES = {"POINT_TRACK": 0, "PLANE_TRACK": 1}    # DNA eMaskParentType


def _parent_struct(parent, size):
    """The first ``size`` bytes of a ``MaskParent`` (DNA, behind ``as_pointer()``): id_type, type,
    ID *id, parent[64], sub_parent[64], parent_orig[2], parent_corners_orig[4][2] (unchanged from 2.7
    to 5.0). None unless the names and parent type RNA exposes are where this layout puts them (the
    guard against a Blender whose struct differs)."""
    import ctypes
    import struct
    try:
        raw = ctypes.string_at(parent.as_pointer(), size)
    except (AttributeError, TypeError, ValueError):
        return None
    if (raw[16:80].split(b"\0")[0] != parent.parent.encode("utf-8")
            or raw[80:144].split(b"\0")[0] != parent.sub_parent.encode("utf-8")
            or struct.unpack("<i", raw[4:8])[0] != _PARENT_TYPES.get(parent.type, -1)):
        return None
    return raw


def parent_origin(parent):
    """``parent_orig`` of a ``MaskParent``: the track's position (mask space) when the point was
    parented. RNA does not expose it (4.2, 5.0), so it is read from the DNA struct behind
    ``as_pointer()`` (:func:`_parent_struct`). None when the layout does not match."""
    if hasattr(parent, "parent_orig"):
        return tuple(parent.parent_orig)
    import struct
    raw = _parent_struct(parent, 152)
    return None if raw is None else struct.unpack("<2f", raw[144:152])


def parent_corners_origin(parent):
    """``parent_corners_orig`` of a ``MaskParent``: the plane track's 4 corners (normalised clip
    coordinates, as ``plane_marker.corners``) on the frame the point was parented, read like
    :func:`parent_origin`. None when the layout does not match."""
    if hasattr(parent, "parent_corners_orig"):
        return [tuple(c) for c in parent.parent_corners_orig]
    import struct
    raw = _parent_struct(parent, 184)
    if raw is None:
        return None
    v = struct.unpack("<8f", raw[152:184])
    return [(v[2 * i], v[2 * i + 1]) for i in range(4)]


def homography(src, dst):
    """The 3x3 matrix (rows) mapping the 4 points ``src`` onto the 4 points ``dst`` (projectively;
    Blender: ``BKE_tracking_homography_between_two_quads``, libmv's estimate from 4
    correspondences, exact for 4 points). None when 3 of the points of either quad are collinear."""
    for q in (src, dst):
        for i in range(4):
            (x0, y0), (x1, y1), (x2, y2) = [q[j] for j in range(4) if j != i]
            if abs((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)) < 1e-12:
                return None
    a = []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u])
        a.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v])
    n = 8
    for c in range(n):              # Gauss-Jordan with partial pivoting on the 8x9 system
        piv = max(range(c, n), key=lambda r: abs(a[r][c]))
        if abs(a[piv][c]) < 1e-12:
            return None
        a[c], a[piv] = a[piv], a[c]
        for r in range(n):
            if r != c and a[r][c] != 0.0:
                f = a[r][c] / a[c][c]
                a[r] = [x - f * y for x, y in zip(a[r], a[c])]
    h = [a[r][8] / a[r][r] for r in range(n)] + [1.0]
    return [h[0:3], h[3:6], h[6:9]]


def apply_homography(m, p):
    """``m`` (3x3, rows) applied to the 2D point ``p`` with the perspective divide (Blender's
    ``mul_m3_v2``)."""
    x, y = float(p[0]), float(p[1])
    w = m[2][0] * x + m[2][1] * y + m[2][2]
    return ((m[0][0] * x + m[0][1] * y + m[0][2]) / w, (m[1][0] * x + m[1][1] * y + m[1][2]) / w)


def _matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def plane_corners(markers, frame):
    """A plane track's corners on ``frame`` as Blender reads them
    (``BKE_tracking_plane_marker_get_subframe_corners``): the marker on that frame, else the nearest
    one before it (the first one before the first); on a sub-frame, interpolated towards the marker
    of the next frame when there is one. ``markers``: ``plane_track.markers`` (``.frame``,
    ``.corners``). None without markers."""
    ms = sorted(markers, key=lambda m: m.frame)
    if not ms:
        return None
    i = 0
    for j, m in enumerate(ms):
        if m.frame <= int(frame):
            i = j
    cur = [tuple(c) for c in ms[i].corners]
    fac = float(frame) - int(frame)
    if i + 1 < len(ms) and ms[i + 1].frame == ms[i].frame + 1 and fac:
        nxt = [tuple(c) for c in ms[i + 1].corners]
        return [(a[0] + (b[0] - a[0]) * fac, a[1] + (b[1] - a[1]) * fac) for a, b in zip(cur, nxt)]
    return cur


def plane_parent_matrix(corners_orig, corners, size, pixel_aspect=1.0):
    """The 3x3 matrix (rows, mask space) Blender applies to a point parented to a plane track
    (``BKE_mask_point_parent_matrix_get``, ``MASK_PARENT_PLANE_TRACK``): ``mask_from_clip * H *
    mask_to_clip``, H the homography from the corners at parenting time to the corners on the frame
    (normalised clip coordinates). ``mask_from_clip`` is Blender's own: for a landscape frame
    (W, H / pixel aspect) it scales y by h/w about 0.5, as the mask's coordinates do; for a portrait
    one Blender scales x by h/w (not w/h as its mask coordinates do): kept as Blender has it, so the
    prompt is where Blender shows and renders the shape. None when the corners are degenerate."""
    hm = homography(corners_orig, corners)
    if hm is None:
        return None
    fw, fh = float(size[0]), float(size[1]) / float(pixel_aspect or 1.0)
    m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    if fw < fh:
        m[0][0], m[0][2] = fh / fw, -0.5 * (fh / fw) + 0.5
    elif fw > fh:
        m[1][1], m[1][2] = fh / fw, -0.5 * (fh / fw) + 0.5
    inv = [[1.0 / m[0][0], 0.0, -m[0][2] / m[0][0]], [0.0, 1.0 / m[1][1], -m[1][2] / m[1][1]], [0.0, 0.0, 1.0]]
    return _matmul(_matmul(m, hm), inv)


def parent_matrix(point, scene_frame):
    """``(3x3 matrix (rows) or None, note or None)``: the mask-space transform Blender applies on
    ``scene_frame`` to a parented point (``BKE_mask_point_parent_matrix_get``), to be applied to the
    point and its handles with :func:`apply_homography`. A point track gives the translation of
    :func:`parent_offset`; a plane track the homography of :func:`plane_parent_matrix`, with its
    corners on ``scene_frame`` itself: Blender reads a plane track's markers at the scene frame, not
    the clip frame it reads point tracks at (``ctime`` passed as is), so with a clip whose Start
    Frame is not 1 the two differ, as in Blender."""
    par = getattr(point, "parent", None)
    clip = getattr(par, "id", None)
    if clip is None:
        return None, None
    if par.type != "PLANE_TRACK":
        d, note = parent_offset(point, scene_frame)
        return (None if d is None else [[1.0, 0.0, d[0]], [0.0, 1.0, d[1]], [0.0, 0.0, 1.0]]), note
    tob = clip.tracking.objects.get(par.parent)
    plane = tob.plane_tracks.get(par.sub_parent) if tob is not None else None
    corners = plane_corners(plane.markers, scene_frame) if plane is not None else None
    if corners is None:
        return None, None           # Blender: no transform either
    orig = parent_corners_origin(par)
    if orig is None:
        return None, "parented to plane track %r, whose corners at parenting could not be read: its motion " \
            "is not applied (the shape as drawn is used)" % par.sub_parent
    try:
        pa = float(clip.tracking.camera.pixel_aspect)
    except AttributeError:
        pa = 1.0
    m = plane_parent_matrix(orig, corners, tuple(clip.size), pa)
    if m is None:
        return None, "parented to plane track %r, whose corners are degenerate: its motion is not applied " \
            "(the shape as drawn is used)" % par.sub_parent
    return m, None


def parent_offset(point, scene_frame):
    """``((dx, dy) or None, note or None)``: the mask-space translation Blender applies on
    ``scene_frame`` to a point parented to a tracking track (``BKE_mask_point_parent_matrix_get``:
    the track's position on that frame, ``track.offset`` included, minus its position when the point
    was parented). ``point.co`` is the un-parented shape: without this a roto parented to a track
    (Ctrl+P in the Clip Editor) was sent where it was drawn, not where Blender shows it. A plane-track
    parent is not a translation: see :func:`parent_matrix`."""
    par = getattr(point, "parent", None)
    clip = getattr(par, "id", None)
    if clip is None:
        return None, None
    tob = clip.tracking.objects.get(par.parent)
    if par.type != "POINT_TRACK":
        return None, "parented to plane track %r: not a translation (see parent_matrix)" % par.sub_parent
    track = tob.tracks.get(par.sub_parent) if tob is not None else None
    if track is None or not len(track.markers):
        return None, None           # Blender: no transform either
    orig = parent_origin(par)
    if orig is None:
        return None, "parented to track %r, whose parenting origin could not be read: its motion is not " \
            "applied (the shape as drawn is used)" % par.sub_parent
    pos = track_position_at(track, float(scene_frame) - int(clip.frame_start) + 1.0)
    try:
        pa = float(clip.tracking.camera.pixel_aspect)
    except AttributeError:
        pa = 1.0
    size = tuple(clip.size)
    mx, my = convert.px_to_mask(convert.marker_to_px(pos, size), size, pixel_aspect=pa)
    return (mx - orig[0], my - orig[1]), None


def _spline_prompt(spline, info, file_frame, transform=None, notes=None, falloff="SMOOTH"):
    """One spline as a prompt, as Blender's mask rasteriser draws it (``mask_rasterize.cc``,
    ``BKE_maskrasterize_handle_init``): a spline with Fill on (``MASK_SPLINE_NOFILL`` clear) is
    filled, a cyclic one along its closing curve, an open one (``MASK_SPLINE_CYCLIC`` clear) along a
    straight chord from its last point to its first (the scan-fill closes the outline): a closed
    bezier whose closing handles sit on their points. A spline with Fill off is only a line (the
    rasteriser's "feather only splines"): an open ``closed: false`` stroke, which samatte reads as
    positive points along it; a cyclic one closes on its first point. A feather
    (:func:`spline_feather`) becomes the prompt's ``feather``."""
    pts = []
    for p in spline.points:
        m = transform(p) if transform is not None else None
        co, hl, hr = p.co, p.handle_left, p.handle_right
        if m is not None:
            co, hl, hr = [apply_homography(m, c) for c in (co, hl, hr)]
        x, y = info.mask_px(co)
        ix, iy = info.mask_px(hl)
        ox, oy = info.mask_px(hr)
        pts.append([x, y, ix, iy, ox, oy])
    prompt = {"frame": file_frame, "type": "bezier", "points": pts}
    cyclic = getattr(spline, "use_cyclic", True)
    if not getattr(spline, "use_fill", True):
        prompt["closed"] = False
        if cyclic and pts:
            pts.append(list(pts[0]))
        return prompt
    if not cyclic and pts:
        pts[-1][4:6] = pts[-1][0:2]         # the chord Blender fills across: a straight closing segment
        pts[0][2:4] = pts[0][0:2]
    if len(pts) == 2:
        _split_first_segment(pts)
    feather, varies = spline_feather(spline, pts, info.size, falloff)
    if feather > 0.0:
        prompt["feather"] = feather
        if varies and notes is not None:
            note = ("a spline's feather varies along it: samatte feathers it evenly by %.1f px (the mean of its "
                    "feather weights)" % feather)
            if note not in notes:
                notes.append(note)
    return prompt


def _split_first_segment(pts):
    """A filled two-point spline (a lens or an ellipse drawn with two clicks and curved handles, which Blender fills)
    as the same outline in three points: its first segment split in half (de Casteljau), as samatte's closed bezier
    takes 3 points or more. ``pts``: the prompt's ``[x, y, in_x, in_y, out_x, out_y]`` points, changed in place."""
    p0, p1 = pts
    c = [(p0[0], p0[1]), (p0[4], p0[5]), (p1[2], p1[3]), (p1[0], p1[1])]

    def mid(a, b):
        return ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)
    m01, m12, m23 = mid(c[0], c[1]), mid(c[1], c[2]), mid(c[2], c[3])
    m012, m123 = mid(m01, m12), mid(m12, m23)
    m = mid(m012, m123)
    p0[4:6] = list(m01)
    p1[2:4] = list(m23)
    pts.insert(1, [m[0], m[1], m012[0], m012[1], m123[0], m123[1]])


def outline_area(points, steps=8):
    """The area (pixels, unsigned) a closed bezier prompt's outline (:func:`_bezier_polyline`) encloses."""
    poly = _bezier_polyline(points, steps)
    area = 0.0
    for a, b in zip(poly, poly[1:] + poly[:1]):
        area += a[0] * b[1] - b[0] * a[1]
    return abs(area) / 2.0


#: ``(MaskLayer.falloff)`` -> samatte's linear ``feather`` per unit of Blender's feather width: Blender draws a
#: feathered layer as ``falloff(u)``, u going from 0 on the feather outline to 1 on the spline (measured in bpy 5.0.1
#: and 4.2.23: a 6.4 px feather crosses 0.5 at 3.20 px out for Smooth and Linear, 1.90 Sharp, 4.52 Inverse Square,
#: 4.76 Root, 5.52 Sphere), so its 0.5 contour lies ``(1 - u_half)`` of the width out, where ``falloff(u_half) =
#: 0.5``; samatte's linear feather F crosses 0.5 at F / 2: F = 2 (1 - u_half) x the width. Smooth (3u^2 - 2u^3),
#: Linear (u): u_half 0.5; Sharp (u^2): sqrt(0.5); Inverse Square (u (2 - u)): 1 - sqrt(0.5); Root (sqrt u):
#: 0.25; Sphere (sqrt(2u - u^2)): 1 - sqrt(0.75).
FALLOFF_SCALE = {"SMOOTH": 1.0, "LINEAR": 1.0, "SHARP": 2.0 * (1.0 - 0.5 ** 0.5), "INVERSE_SQUARE": 2.0 * 0.5 ** 0.5,
                 "ROOT": 1.5, "SPHERE": 2.0 * 0.75 ** 0.5}


def spline_feather(spline, pts, size, falloff="SMOOTH"):
    """``(feather in pixels, varies)`` of a filled spline as Blender draws it: its points' feather
    ``weight`` and their ``feather_points`` (u, weight) offset the feather outline along the curve's
    normal by ``weight`` mask units (``BKE_mask_spline_feather_differentiated_points_with_resolution``;
    a mask unit is the frame's longer side in pixels), and the layer ramps from 1 on the spline to 0
    on the feather outline. The normal points out of a spline wound clockwise on screen (positive
    area in pixel coordinates, y down); on one wound the other way the feather lies inside the filled
    shape and Blender draws the shape hard (measured in 4.2 and 5.0): 0. With the mean weight as
    samatte's ``feather`` (linear, outward), the keyframe mask (coverage >= 0.5) has Blender's
    half-way contour: Blender's falloff (Smooth by default) is 0.5 half-way too; the layer's other falloffs
    (``falloff``) cross 0.5 elsewhere, and the feather is scaled to cross it there (:data:`FALLOFF_SCALE`;
    before, a Sphere falloff's 0.5 contour lay 2.3 of a 6.4 px feather's pixels out of the prompt's). ``pts``: the
    prompt's points (pixels)."""
    weights = []
    for p in spline.points:
        weights.append(float(getattr(p, "weight", 0.0) or 0.0))
        weights.extend(float(getattr(u, "weight", 0.0) or 0.0) for u in getattr(p, "feather_points", ()))
    if not weights or max(weights) <= 0.0:
        return 0.0, False
    area = 0.0
    for a, b in zip(pts, pts[1:] + pts[:1]):
        area += a[0] * b[1] - b[0] * a[1]
    if area <= 0.0:
        return 0.0, False
    mean = sum(weights) / len(weights)
    return mean * max(size) * FALLOFF_SCALE.get(falloff, 1.0), max(weights) - min(weights) > 1e-6


def _layer_frames(mask, layer, scene_set, *, read_mask_at, current_frame, every_frame, sample_shape_keys,
                 sampled=None, framelen=1.0, shown=None):
    """``(scene frames to read the layer on, note or None)``. ``sampled``: layer name -> its motion keys
    (:func:`_sample_unkeyed`), for the layers already sampled. ``shown``: the frames of ``scene_set`` where the
    layer draws, for a layer whose visibility is animated (:func:`_sample_frames`; None: it draws on all): it is
    read only there, and where it is hidden on all the frames it would be read on, on the one of ``shown``
    nearest them (Blender draws its shape there, as held or interpolated between its keys)."""
    avail = scene_set if shown is None else shown
    if every_frame:
        return sorted(avail), None
    keyed = layer_keyframes(mask, layer.name, framelen)
    frames = [f for f in keyed if f in avail]
    motion = (sampled or {}).get(layer.name) if sample_shape_keys else None
    if frames and motion is not None:
        # a keyed layer parented to a track, or keyed only on what does not place it (a feather weight) while its
        # shape keys move it: its keys, and the frames where its motion changes (before: its keys alone; Blender
        # draws it moving with the track, or from shape key to shape key, between them)
        return sorted(set(frames).union(f for f in motion if f in avail)), None
    if frames:
        return frames, None
    if keyed and not motion:
        # Blender draws the layer on every frame, held from its nearest key: read there on the job's frame
        # nearest its keys (before: skipped, so the object was not matted at all)
        f = _nearest(avail, keyed)
        where = ("hidden in renders (or under 0.5 opacity) on all its keys in the frame range"
                 if any(k in scene_set for k in keyed) else "keyed only outside the frame range")
        return ([f], "mask layer %r is %s: its shape as Blender draws it is read on frame %s" % (
            layer.name, where, f)) if f is not None else ([], None)
    if sample_shape_keys:   # shape keys (not visible to Python): keys from the motion
        frames = (sampled or {}).get(layer.name)
        if frames is None:
            frames = _sample_unkeyed([layer.name], scene_set, read_mask_at, framelen)[layer.name]
        if frames and not any(f in avail for f in frames):
            f = _nearest(avail, frames)
            return [f], ("mask layer %r is hidden in renders (or under 0.5 opacity) on all its shape keys in the frame "
                         "range: its shape as Blender draws it is read on frame %s" % (layer.name, f))
        frames = [f for f in frames if f in avail]
    if not frames and current_frame in avail:
        frames = [current_frame]
    if not frames:
        # an unkeyed layer is drawn the same on every frame: read on the job's frame nearest the current one
        f = _nearest(avail, [current_frame])
        why = ("the current frame is outside the range" if current_frame not in scene_set
               else "it is hidden in renders (or under 0.5 opacity) on the current frame")
        return ([f], "mask layer %r is not keyed and %s: read on frame %s" % (layer.name, why, f)) \
            if f is not None else ([], None)
    return frames, None


def _nearest(scene_set, targets):
    """The frame of ``scene_set`` nearest any of ``targets`` (the earlier one on a tie), or None."""
    best = None
    for f in sorted(scene_set):
        d = min(abs(f - t) for t in targets)
        if best is None or d < best[0]:
            best = (d, f)
    return None if best is None else best[1]


def _bezier_polyline(points, steps=8):
    """A closed bezier prompt's points (``[x, y, in_x, in_y, out_x, out_y]``) as a closed polyline,
    ``steps`` lines per segment."""
    out = []
    n = len(points)
    for i in range(n):
        p0, p3 = points[i], points[(i + 1) % n]
        c = [(p0[0], p0[1]), (p0[4], p0[5]), (p3[2], p3[3]), (p3[0], p3[1])]
        for k in range(steps):
            t = k / float(steps)
            a, b = (1 - t) ** 3, 3 * (1 - t) ** 2 * t
            cc, d = 3 * (1 - t) * t ** 2, t ** 3
            out.append((a * c[0][0] + b * c[1][0] + cc * c[2][0] + d * c[3][0],
                        a * c[0][1] + b * c[1][1] + cc * c[2][1] + d * c[3][1]))
    return out


def crosses_itself(points, steps=8):
    """Whether a closed bezier prompt's outline crosses itself (two of its non-adjacent lines,
    :func:`_bezier_polyline`, meet). Only lines whose boxes share a cell of a grid about two lines long
    are compared (two lines that meet have overlapping boxes, so they share a cell): a roto of 150
    points is read on every keyed frame."""
    import math
    poly = _bezier_polyline(points, steps)
    n = len(poly)
    segs = [(poly[i], poly[(i + 1) % n]) for i in range(n)]
    size = 2.0 * sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in segs) / max(n, 1) or 1.0
    cells = {}
    for i, (a, b) in enumerate(segs):
        for cx in range(int(math.floor(min(a[0], b[0]) / size)), int(math.floor(max(a[0], b[0]) / size)) + 1):
            for cy in range(int(math.floor(min(a[1], b[1]) / size)), int(math.floor(max(a[1], b[1]) / size)) + 1):
                cells.setdefault((cx, cy), []).append(i)

    def side(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    seen = set()
    for members in cells.values():
        for k, i in enumerate(members):
            for j in members[k + 1:]:
                if j < i + 2 or (i == 0 and j == n - 1) or (i, j) in seen:
                    continue
                seen.add((i, j))
                (a, b), (c, d) = segs[i], segs[j]
                if max(c[0], d[0]) < min(a[0], b[0]) or min(c[0], d[0]) > max(a[0], b[0]) or \
                        max(c[1], d[1]) < min(a[1], b[1]) or min(c[1], d[1]) > max(a[1], b[1]):
                    continue
                d1, d2, d3, d4 = side(a, b, c), side(a, b, d), side(c, d, a), side(c, d, b)
                if d1 * d2 <= 0 and d3 * d4 <= 0 and not (d1 == 0 and d2 == 0):    # collinear: no crossing
                    return True
    return False


def _mark_holes(prompts):
    """A closed shape lying inside another closed shape of its layer becomes a hole (subtract)."""
    closed = [p for p in prompts if p.get("closed") is not False]
    polys = [[(q[0], q[1]) for q in p["points"]] for p in closed]
    for i, p in enumerate(closed):
        if any(i != j and all(point_in_polygon(q, other) for q in polys[i]) for j, other in enumerate(polys)):
            p["mode"] = "subtract"


#: Blender's layer blend modes (``MaskLayer.blend``, ``BKE_maskrasterize_handle_sample``: each layer
#: in turn combines its value with the value of the layers before it, clamped to [0, 1]) as what they
#: do to an opaque union U of the layers before with the layer's shape S: ``object``: S is drawn (an
#: object of its own); ``cut``: what happens to U, ``"remove"`` U - S or ``"keep"`` U & S (Invert on
#: swaps the two). Merge Add / Add (U + S, clamped) / Lighten (max): U | S. Subtract / Merge
#: Subtract: U - S. Darken (min) / Multiply: U & S. Replace (the layer's value times its opacity,
#: the rest times 1 - opacity): S alone, U dropped (an exact union: the layers before keep what lies
#: inside S, itself an object). Difference (|U - S|): (U - S) | (S - U): the layers before lose S and
#: S loses their shapes (exact when those are plain shapes, see :func:`_difference_cut`).
BLEND_ROLES = {
    "MERGE_ADD": (True, None), "ADD": (True, None), "LIGHTEN": (True, None),
    "SUBTRACT": (False, "remove"), "MERGE_SUBTRACT": (False, "remove"),
    "DARKEN": (False, "keep"), "MUL": (False, "keep"),
    "REPLACE": (True, "keep"), "DIFFERENCE": (True, "remove"),
}


def layer_role(layer):
    """``(is_object, cut)`` of a mask layer (:data:`BLEND_ROLES`), its Invert applied to ``cut``:
    an inverted layer draws the frame minus its shapes, so the part of U it keeps is the part the
    plain layer removes (an inverted Subtract keeps what lies inside its shape, an inverted Darken
    removes it)."""
    is_object, cut = BLEND_ROLES.get(getattr(layer, "blend", "MERGE_ADD"), (True, None))
    if cut and getattr(layer, "invert", False):
        cut = "keep" if cut == "remove" else "remove"
    return is_object, cut


def _is_subtract(layer):
    return not layer_role(layer)[0]


def _least_points(spline):
    """The fewest points of a spline that is a prompt: 2. With Fill off Blender draws it as a line (a wire or a cable
    rotoed with two clicks, its width the feather: measured in bpy 5.0.1 and 4.2.23, the same pixels as the line with
    a third point in its middle), samatte's open stroke; filled, with curved handles, as a lens (two clicks and their
    handles dragged), samatte's closed bezier once its first segment is split in two (:func:`_split_first_segment`).
    Before, every spline under 3 points was dropped, and later every filled one under 3: a lens was 'no prompts'."""
    return 2


def _read_layer(layer, info, scene_frame, notes, framelen=1.0):
    """``(object prompts, cut prompts)`` of a layer on a scene frame: the prompts of its own object
    (none for a layer that only cuts, :func:`layer_role`) and the ``mode: "subtract"`` prompts it
    applies to the objects of the layers before it. Parented points move as Blender moves them there: by
    their track at the frame's animation time (``scene_frame * framelen``, Blender's ``ctime``; measured
    in bpy 5.0.1: under Time Stretching 100 -> 200 scene frame 8 draws the shape where the track is on
    clip frame 4)."""
    ctime = _ctime(scene_frame, framelen)
    splines = [s for s in layer.splines if len(s.points) >= _least_points(s)]
    if len(splines) != len(layer.splines):
        notes.append("mask layer %r: a spline with a single point on frame %d was dropped" % (layer.name, scene_frame))

    def transform(point):
        m, note = parent_matrix(point, ctime)
        note = note and "mask layer %r: a point %s" % (layer.name, note)
        if note and note not in notes:
            notes.append(note)
        return m
    falloff = getattr(layer, "falloff", "SMOOTH")
    prompts = [_spline_prompt(s, info, info.file(scene_frame), transform, notes, falloff) for s in splines]
    # a filled spline of two points with straight handles is a line Blender draws as nothing (no area between
    # them); with curved handles it is a lens Blender fills (before, every filled two-point spline was dropped)
    flat = [i for i, (s, p) in enumerate(zip(splines, prompts))
            if len(s.points) == 2 and p.get("closed") is not False and outline_area(p["points"]) < 0.5]
    if flat:
        notes.append("mask layer %r: a filled spline of 2 points with straight handles on frame %d was dropped "
                     "(a line, which Blender draws as nothing: curve its handles for a lens, or turn Fill off for a "
                     "line)" % (layer.name, scene_frame))
        prompts = [p for i, p in enumerate(prompts) if i not in flat]
    for p in prompts:
        if p.get("closed") is not False and crosses_itself(p["points"]):
            overlap = getattr(layer, "use_fill_overlap", False)
            note = ("mask layer %r: a spline crosses itself: samatte fills it by non-zero winding (a pentagram's centre "
                    "filled, as Blender draws it with Calculate Overlap on)%s" % (
                        layer.name, "" if overlap else "; Blender, with Calculate Overlap off, leaves parts of it "
                        "unfilled: turn Calculate Overlap on (mask layer settings) to see what samatte uses"))
            if note not in notes:
                notes.append(note)
    is_object, cut = layer_role(layer)
    cuts = _cut_prompts(layer, [dict(p) for p in prompts], cut, scene_frame, notes) if cut else []
    if not is_object:
        return [], cuts
    if getattr(layer, "use_fill_holes", False) and len(prompts) > 1:
        _mark_holes(prompts)
    if getattr(layer, "invert", False):
        prompts = _invert_layer(layer, prompts, scene_frame, notes)
    return prompts, cuts


def _cut_prompts(layer, prompts, cut, scene_frame, notes):
    """The subtract prompts a layer cuts the layers before it with (``cut``: ``"remove"`` its shapes,
    or ``"keep"`` only what lies inside its shape: one closed shape, inverted and subtracted; with
    several, the intersection of their outsides, it is skipped with a note). Open strokes of a
    "remove" cut are negative points."""
    for p in prompts:
        p["mode"] = "subtract"
        p.pop("invert", None)
    if cut == "remove":
        return prompts
    closed = [p for p in prompts if p.get("closed") is not False]
    if len(closed) != 1:
        if closed:
            blend = getattr(layer, "blend", "?")
            what = ("an inverted garbage matte" if blend in ("SUBTRACT", "MERGE_SUBTRACT")
                    else "blend %s%s" % (blend.title().replace("_", " "), ", inverted" if layer.invert else ""))
            notes.append("mask layer %r (%s) keeps only what lies inside its shape, and has %d shapes on frame %d: "
                         "read with one shape only; skipped" % (layer.name, what, len(closed), scene_frame))
        return []
    closed[0]["invert"] = True
    return closed


def _invert_layer(layer, prompts, scene_frame, notes):
    """A layer with Invert on draws the frame minus its shapes: the first closed shape inverted, the
    others cut out of it (frame - (a | b) = inv(a) - b), and a hole (filled with "Holes") added back.
    (An inverted layer that only cuts is read by :func:`_cut_prompts`.)"""
    closed = [p for p in prompts if p.get("closed") is not False]
    outer = [p for p in closed if p.get("mode") != "subtract"]
    holes = [p for p in closed if p.get("mode") == "subtract"]
    if not outer:
        return prompts
    outer[0]["invert"] = True
    for p in outer[1:]:
        p["mode"] = "subtract"
    for p in holes:
        p["mode"] = "add"
    return prompts


def _difference_cut(layer, own, before, file_frame, notes):
    """Difference: the layer's object loses the shapes of the objects before it on the frame (their
    plain add shapes, as subtract prompts): exact when those objects are plain shapes; an inverted one,
    a hole or a cut of theirs is not carried over (noted)."""
    out = []
    inexact = False
    for prompts in before:
        on = [p for p in prompts if p["frame"] == file_frame and p.get("closed") is not False]
        for p in on:
            if p.get("mode") == "subtract" or p.get("invert"):
                inexact = True
            else:
                out.append(dict(p, mode="subtract"))
    if inexact or any(p.get("invert") for p in own):
        note = ("mask layer %r (difference): the layers below it have holes, cuts or inverted shapes, or it is "
                "inverted: it is read as its shape minus their plain shapes (not exact)" % layer.name)
        if note not in notes:
            notes.append(note)
    return out


def _opacity_skip(layer):
    """A note when a layer's opacity (``alpha``) leaves it out, else None. Blender multiplies the
    layer's value by its opacity (Replace: blends by it); samatte thresholds a matte at 0.5, as it
    does a mask image: a layer whose opacity is under 0.5 changes nothing at that threshold (an add
    layer draws under 0.5, a subtract one leaves over 0.5), one at 0.5 or more acts as if opaque."""
    a = float(getattr(layer, "alpha", 1.0))
    if a <= 0.0:
        return "mask layer %r has opacity 0 (draws nothing): skipped" % layer.name
    if a < 0.5:
        what = ("Blender draws the frame around its shapes there: that is not read" if getattr(layer, "invert", False)
                else "under samatte's 0.5 matte threshold")
        return ("mask layer %r has opacity %.2f: it draws at %.2f, %s; skipped (raise its opacity to 0.5 or more "
                "to use it)" % (layer.name, a, a, what))
    return None


def _sample_unkeyed(names, scene_set, read_mask_at, framelen=1.0):
    """{layer name: :func:`motion_keyframes` of its shape over ``scene_set``} for layers with no keys Python
    sees (or parented to a track), all read on each frame in turn, as Blender draws them (:func:`_layer_coords`):
    one ``read_mask_at`` (Blender: ``scene.frame_set``) per frame, not one per frame and layer (30 unkeyed layers
    on 500 frames: 15000 frame changes, 13 s in an empty scene)."""
    samples = {n: [] for n in names}
    if names:
        for f in sorted(scene_set):
            m = read_mask_at(f)
            for n in names:
                samples[n].append((f, _layer_coords(m.layers[n], _ctime(f, framelen))))
    return {n: motion_keyframes(samples[n]) for n in names}


def _animated_visibility(mask):
    """The names of the layers whose visibility in renders or opacity is animated (an F-curve of the mask's
    action or a driver on ``layers["x"].hide_render`` / ``.alpha``): Blender's Mask node reads both on each
    frame (measured in bpy 5.0.1 and 4.2.23: a layer keyed hidden draws nothing on those frames, held until
    its next key; a keyed opacity is interpolated and multiplies the layer; the viewport's ``hide`` does not
    change the render)."""
    ad = getattr(mask, "animation_data", None)
    if ad is None:
        return set()
    paths = {fc.data_path for fc in action_fcurves(getattr(ad, "action", None))}
    paths.update(fc.data_path for fc in (getattr(ad, "drivers", None) or ()))
    return {layer.name for layer in mask.layers
            if {_layer_prefix(layer.name) + ".hide_render", _layer_prefix(layer.name) + ".alpha"} & paths}


def _drawn(layer):
    """Whether a layer, read on a frame, draws at samatte's 0.5 matte threshold there: shown in renders and
    at opacity 0.5 or more (:func:`_opacity_skip`)."""
    return not getattr(layer, "hide_render", False) and float(getattr(layer, "alpha", 1.0)) >= 0.5


def _ctime(scene_frame, framelen=1.0):
    """The animation time Blender evaluates a scene frame at (Time Stretching: ``frame * framelen``)."""
    return scene_frame if float(framelen or 1.0) == 1.0 else scene_frame * float(framelen)


def _sample_frames(unkeyed, animated, scene_set, read_mask_at, on_frame=None, framelen=1.0):
    """``(motion keys, shown frames, least opacity)`` over ``scene_set``, all read in one pass (one
    ``read_mask_at`` per frame, none when both lists are empty): :func:`motion_keyframes` of each ``unkeyed``
    layer, and for each ``animated`` layer (:func:`_animated_visibility`) the set of frames where it draws
    (:func:`_drawn`) and its least opacity there. ``on_frame(f, mask, hidden)``, when given, is called on each
    frame read, ``hidden`` the ``animated`` layers that do not draw there (Use my animated roto reads its
    layers in this pass: :func:`_plan_layers`)."""
    samples = {n: [] for n in unkeyed}
    shown = {n: set() for n in animated}
    least = {}
    if unkeyed or animated:
        for f in sorted(scene_set):
            m = read_mask_at(f)
            for n in unkeyed:
                samples[n].append((f, _layer_coords(m.layers[n], _ctime(f, framelen))))
            hidden = set()
            for n in animated:
                layer = m.layers[n]
                if _drawn(layer):
                    shown[n].add(f)
                    least[n] = min(least.get(n, 1.0), float(getattr(layer, "alpha", 1.0)))
                else:
                    hidden.add(n)
            if on_frame is not None:
                on_frame(f, m, hidden)
    return {n: motion_keyframes(samples[n]) for n in unkeyed}, shown, least


def frames_text(frames):
    """Frame numbers as a short range text (``11-16``, ``1,3-5``): samatte's ``format_frames``, or a plain
    list with an older samatte."""
    try:
        from samatte.frames import format_frames
    except ImportError:
        return ",".join(str(f) for f in sorted(frames))
    return format_frames(sorted(frames))


def _skip_note(layer):
    """Why a layer is not read (hidden in renders, or :func:`_opacity_skip`), or None: it draws."""
    if getattr(layer, "hide_render", False):
        return "mask layer %r is hidden in renders: skipped" % layer.name
    return _opacity_skip(layer)


def _plan_layers(mask, scene_set, notes, *, read_mask_at, current_frame, every_frame, sample_shape_keys, taken,
                 safe_name, framelen=1.0, read_drawn=None, hidden=None):
    """``(scene frame -> layer names to read there, layer name -> empty object, layer name -> index, layer
    name -> the scene frames it is keyed on, layer name -> the scene frames it draws on for a layer whose
    visibility is animated)`` of the layers that draw (not hidden in renders, opacity kept
    by :func:`_opacity_skip`). A layer that cuts (:func:`layer_role`: Subtract, Darken, Multiply, and the
    Replace and Difference objects) is also read on the frames of the object layers before it: Blender
    draws it there too (held between its keys), and such a frame is an anchor of that object (its track
    restarts from that frame's prompts alone); there it gives only its cut, its own object's prompts stay
    on its own frames. ``hidden`` (a list, when given) gets the names of the object layers that draw on no
    frame of the range (hidden in renders, under 0.5 opacity: their tracks are no one's prompts)."""
    by_frame = {}
    objects = {}
    order = {}
    own = {}
    # a layer whose visibility or opacity is animated is read on each frame of the range (one pass, shared with the
    # shape-key sampling; none for a mask without): it gets prompts and cuts only on the frames where Blender draws
    # it (before: read on the current frame only, so skipped whole, or prompted on every key, hidden ones included)
    animated = _animated_visibility(mask)
    layers = [layer for layer in mask.layers if layer.name in animated or not _skip_note(layer)]
    # sampled: the layers with no keys Python sees (mask shape keys), and those parented to a track, which Blender
    # draws moving with it (before: read as still, point.co being where they were drawn: a roto following its track
    # was prompted on the current frame alone, or on its keys alone)
    # and those whose F-curves key no point position (a feather weight keyed on a roto animated with the I key: before,
    # its keys alone were read, the shape keys' motion never sampled: a roto keyed on 2 and 5 prompted on frame 1 only)
    unkeyed = [layer.name for layer in layers if not layer_positions_keyed(mask, layer.name) or layer_parented(layer)] \
        if sample_shape_keys and not every_frame else []
    on_frame = None
    if every_frame and read_drawn is not None:
        # Use my animated roto reads every layer on every frame where it draws: in this pass (before: a second
        # pass, two scene changes per frame for such a mask; 2000 frame_set on a 1000-frame range)
        names = [layer.name for layer in layers]

        def on_frame(f, m, hidden):
            read_drawn(f, m, [n for n in names if n not in hidden])
    sampled, shown, least = _sample_frames(unkeyed, [layer.name for layer in layers if layer.name in animated],
                                           scene_set, read_mask_at, on_frame, framelen)
    for layer in mask.layers:
        vis = shown.get(layer.name)
        if vis is None:
            note = _skip_note(layer)
            if note:
                notes.append(note)
                if hidden is not None and layer_role(layer)[0]:
                    hidden.append(layer.name)
                continue
            alpha = float(getattr(layer, "alpha", 1.0))
        elif not vis:
            # say why: its object is absent on all of them, so it has nothing to matte (before: 'skipped' alone)
            notes.append("mask layer %r is hidden in renders or under 0.5 opacity on every frame of the range "
                         "(scene frames %s): its object is absent on all of them, nothing to matte, so the layer is "
                         "skipped (its tracks too); show it in renders (opacity 0.5 or more) on a frame of the range "
                         "to matte it" % (layer.name, frames_text(scene_set)))
            if hidden is not None and layer_role(layer)[0]:
                hidden.append(layer.name)
            continue
        else:
            alpha = least[layer.name]
        if alpha < 1.0:
            notes.append("mask layer %r has opacity %.2f: read as opaque (samatte's mattes are opaque, its edges "
                         "soft; scale the matte in the compositor if needed)" % (layer.name, alpha))
        if vis is not None and len(vis) < len(scene_set):
            notes.append("mask layer %r is hidden in renders (or under 0.5 opacity) on %d of the range's %d frames: "
                         "no prompt or cut there" % (layer.name, len(scene_set) - len(vis), len(scene_set)))
        frames, note = _layer_frames(mask, layer, scene_set, read_mask_at=read_mask_at, current_frame=current_frame,
                                     every_frame=every_frame, sample_shape_keys=sample_shape_keys, sampled=sampled,
                                     framelen=framelen, shown=vis)
        order[layer.name] = len(order)
        own[layer.name] = set(frames)
        is_object, cut = layer_role(layer)
        if cut:
            # Blender draws a layer on every frame: held before its first key and after its last, as it is when
            # unkeyed; so a layer keyed only outside the range (or unkeyed, the current frame outside it) cuts
            # the object frames before it too (before: skipped, its garbage matte kept in the matte); a layer
            # hidden on a frame cuts nothing there
            frames = sorted(f for f in set(frames).union(*[own[n] for n in objects]) if vis is None or f in vis)
        if note:
            notes.append(note)
        for f in frames:
            by_frame.setdefault(f, []).append(layer.name)
        if own[layer.name] and is_object:
            safe = safe_name(layer.name, taken=taken)
            taken.append(safe)
            objects[layer.name] = {"name": safe, "host_name": layer.name, "prompts": []}
    return by_frame, objects, order, own, shown


def gather_mask_objects(mask, info, *, scene_frames, read_mask_at, current_frame, every_frame=False,
                        taken=(), safe_name=None, sample_shape_keys=True, framelen=1.0, hidden=None):
    """Objects from a mask's layers.

    ``scene_frames``: the job's scene frames (a range or list); ``read_mask_at(f)``: sets the scene
    to frame ``f`` and returns the mask to read there (Blender: ``scene.frame_set(f)`` then the mask);
    ``current_frame``: the frame an unkeyed layer is read on; ``framelen``: the scene's Time Stretching
    (:func:`layer_keyframes`). Returns ``(objects, subtract, notes)``:
    objects are dicts ``{"name", "host_name", "prompts"}`` (prompts by file number), ``subtract``
    maps file frame -> the cut prompts of the layers (:func:`layer_role`) on it, notes are sentences
    for the user. Layers are read in their order (``mask.layers``, the order Blender's rasteriser
    combines them in): a layer's cut applies to the objects of the layers before it, on the frames
    where such an object has a shape and on the cutting layer's own keyed frames. ``hidden`` (a list, when
    given) gets the names of the object layers that draw on no frame of the range (skipped, noted): a track
    named after one is that layer's (:func:`merge_objects`' ``hidden_layers``), not the default object's.
    """
    safe_name = safe_name or _safe_name_fallback
    notes = []
    read = {}           # scene frame -> {layer name: (prompts, cuts)} read in _plan_layers' pass (every_frame)
    read_notes = []

    def read_drawn(f, m, names):
        read[f] = {n: _read_layer(m.layers[n], info, f, read_notes, framelen) for n in names}
    by_frame, objects, order, keyed_on, shown = _plan_layers(
        mask, set(scene_frames), notes, read_mask_at=read_mask_at, current_frame=current_frame,
        every_frame=every_frame, sample_shape_keys=sample_shape_keys, taken=list(taken), safe_name=safe_name,
        framelen=framelen, read_drawn=read_drawn, hidden=hidden)
    notes.extend(n for n in read_notes if n not in notes)
    subtract = {}
    cuts = []           # (layer index, file frame, prompts, the cut layer is keyed on that frame)
    for f in sorted(by_frame):
        got = read.get(f)
        m = None if got is not None and all(n in got for n in by_frame[f]) else read_mask_at(f)
        ff = info.file(f)
        for name in sorted(by_frame[f], key=order.get):
            layer = mask.layers[name] if m is None else m.layers[name]
            own, cut = got[name] if m is None else _read_layer(layer, info, f, notes, framelen)
            if f not in keyed_on[name]:
                own = []    # read here for its cut only (a Replace / Difference layer on an earlier object's frame)
            if getattr(layer, "blend", "") == "DIFFERENCE" and own:
                before = [ob["prompts"] for n, ob in objects.items() if order[n] < order[name]]
                own.extend(_difference_cut(layer, own, before, ff, notes))
            if cut:
                cuts.append((order[name], ff, cut, f in keyed_on[name]))
                subtract.setdefault(ff, []).extend(cut)
            if name in objects:
                objects[name]["prompts"].extend(own)
    out = []
    for name, ob in objects.items():
        adds = {p["frame"] for p in ob["prompts"] if p.get("mode") != "subtract"}
        # an object hidden on a frame (keyed visibility) gets no correction there: Blender draws nothing of it
        hidden = {info.file(f) for f in set(scene_frames) - shown[name]} if name in shown else set()
        # on the object's own shape frames, and on the frames the cut layer is keyed on: a garbage matte keyed
        # on frame X where the object has no key is a correction there (before: dropped, so the re-run reused
        # every frame and the drift stayed)
        for i, ff, prompts, keyed in cuts:
            if i > order[name] and (ff in adds or keyed) and ff not in hidden:
                ob["prompts"].extend(dict(p) for p in prompts)
        if not ob["prompts"]:
            notes.append("mask layer %r has no closed shape with 3 or more points: skipped" % name)
            continue
        if hidden:
            # where Blender draws nothing of it (Hide in render keyed on, opacity under 0.5), the object is not
            # in the shot: samatte's ``absent``, its alpha 0 there and its track not carried across (before: the
            # object was tracked and matted through those frames)
            ob["absent"] = sorted(hidden)
        out.append(ob)
    return out, subtract, notes


def _safe_name_fallback(host_name, *, taken=()):
    try:
        from samatte.names import safe_name
    except ImportError:  # an older samatte: a minimal mapping of the same shape
        import re
        s = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", host_name or "")).strip("_") or "object"
        s = ("_" + s if s[0].isdigit() else s)[:64]
        base, n, low = s, 2, {t.lower() for t in taken}
        while s.lower() in low:
            s = "%s_%d" % (base[:60], n)
            n += 1
        return s
    return safe_name(host_name, taken=taken)


def _owner(track_name, layer_names):
    best = None
    for ln in layer_names:
        if track_name == ln or (track_name.startswith(ln) and not track_name[len(ln)].isalnum()):
            if best is None or len(ln) > len(best):
                best = ln
    return best


def track_position(track, marker):
    """A marker's position as Blender uses it: ``marker.co + track.offset`` (normalised). The offset
    (the track's point moved off the tracked pattern) is part of the track's position everywhere in
    Blender: the Clip Editor's point, camera solving, the Keying Screen node, mask parenting."""
    off = getattr(track, "offset", None) or (0.0, 0.0)
    return (marker.co[0] + off[0], marker.co[1] + off[1])


def track_position_at(track, clip_frame):
    """The track's position (:func:`track_position`) on a clip frame that may be fractional (a parented
    mask point under Time Stretching: animation time ``scene frame * framelen``), as Blender reads it
    (``BKE_tracking_marker_get_subframe_position``): the marker on ``int(clip_frame)`` (else the nearest
    one before it), interpolated towards the next clip frame's marker when there is one. Before, the
    whole frame's marker: 100 -> 200 put odd scene frames on half frames (frame 7: clip frame 3.5), and
    the prompt lay half a frame of the track's motion from the shape Blender draws."""
    whole = int(clip_frame)
    mk = track.markers.find_frame(whole, exact=False)
    x, y = mk.co[0], mk.co[1]
    fac = float(clip_frame) - whole
    if fac:
        nxt = track.markers.find_frame(mk.frame + 1, exact=True)
        if nxt is not None:
            x, y = x + (nxt.co[0] - x) * fac, y + (nxt.co[1] - y) * fac
    off = getattr(track, "offset", None) or (0.0, 0.0)
    return (x + off[0], y + off[1])


def selected_tracks(tracks, notes=None):
    """The tracks of ``tracks`` Blender counts as selected: ``select`` on and not hidden. Hide Tracks (H in the
    Clip Editor) hides the selected tracks and leaves them selected (only ``TRACK_HIDDEN`` is set; Blender's
    operators then skip them, ``TRACK_VIEW_SELECTED``), so a track hidden as bad was a prompt of the next Run
    (before). The hidden ones are named in ``notes`` (a list, when given)."""
    picked = [t for t in tracks if getattr(t, "select", False)]
    hidden = [t.name for t in picked if getattr(t, "hide", False)]
    if hidden and notes is not None:
        notes.append("hidden track%s %s skipped (hidden tracks count as unselected; Alt+H shows them)" % (
            "" if len(hidden) == 1 else "s", ", ".join(repr(n) for n in hidden[:5]) + (", ..." if len(hidden) > 5 else "")))
    return [t for t in picked if not getattr(t, "hide", False)]


def gather_track_points(tracks, info, *, file_frames, layer_names=(), default_object):
    """Points prompts from tracking tracks, by owner layer name (or ``default_object``).

    ``tracks``: the tracks to use (already filtered: selected, or a tracking object's);
    ``file_frames``: the job's frames (file numbers). Returns ``({owner host name: {file frame:
    [[x, y, label], ...]}}, notes)``.
    """
    out = {}
    notes = []
    files = set(file_frames)
    for tr in tracks:
        name = tr.name
        label = 1
        if name.startswith("-"):
            label = 0
            name = name[1:].lstrip()
        owner = _owner(name, layer_names) or default_object
        dropped = 0
        for mk in tr.markers:
            if getattr(mk, "mute", False):
                dropped += 1
                continue
            co = track_position(tr, mk)
            if not (0.0 <= co[0] <= 1.0 and 0.0 <= co[1] <= 1.0):
                dropped += 1
                continue
            f = info.file(convert.scene_frame(mk.frame, info.frame_start))
            if f not in files:
                continue
            x, y = info.marker_px(co)
            out.setdefault(owner, {}).setdefault(f, []).append([x, y, label])
        if dropped:
            notes.append("track %r: %d disabled or off-frame marker(s) dropped" % (tr.name, dropped))
    return out, notes


def merge_objects(mask_objects, points, *, default_object, safe_name=None, scene_frame=None, hidden_layers=()):
    """Mask objects plus track points -> JobSpec objects. Points of an owner with no mask object form
    a points-only object; negative-only frames of an object with no shape are dropped (noted, on the
    scene frame ``scene_frame(file number)`` names: :meth:`ClipInfo.scene_frame`). ``hidden_layers``: the
    mask layers that draw on no frame of the range (``gather_mask_objects``' ``hidden``): the points of
    their tracks are dropped (noted), the object is not in the shot."""
    scene_frame = scene_frame or (lambda n: n)
    safe_name = safe_name or _safe_name_fallback
    objects = [dict(ob, prompts=list(ob["prompts"])) for ob in mask_objects]
    by_host = {ob["host_name"]: ob for ob in objects}
    notes = []
    for owner in sorted(points, key=lambda o: (o != default_object, o)):
        ob = by_host.get(owner)
        if ob is None and owner in hidden_layers:
            # a track of a layer hidden in renders on every frame of the range: the object is in none of them
            # (before: the layer was skipped, so its tracks went to the Tracks object, another object's points
            # where the hidden one is, and that object's matte took it in)
            notes.append("object %r: its mask layer draws on no frame of the range: the points of its tracks on %d "
                         "frame(s) dropped" % (owner, len(points[owner])))
            continue
        if ob is None:
            ob = {"name": safe_name(owner, taken=[o["name"] for o in objects]), "host_name": owner, "prompts": []}
            objects.append(ob)
            by_host[owner] = ob
        has_shape = any(p["type"] != "points" for p in ob["prompts"])
        gone = set(ob.get("absent") or ())
        dropped = []
        for f, pts in sorted(points[owner].items()):
            if f in gone:   # a track of a layer hidden on that frame: no prompt where the object is absent
                dropped.append(scene_frame(f))
                continue
            labels = [p[2] for p in pts]
            if not any(labels) and not has_shape:
                notes.append("object %r: negative-only points on frame %d dropped (no shape to correct)"
                             % (owner, scene_frame(f)))
                continue
            ob["prompts"].append({"frame": f, "type": "points", "points": [[p[0], p[1]] for p in pts],
                                  "labels": labels})
        if dropped:
            notes.append("object %r: points on %d frame(s) where its layer is hidden dropped (first: frame %d)"
                         % (owner, len(dropped), dropped[0]))
    objects = [ob for ob in objects if ob["prompts"]]
    for ob in objects:
        ob["prompts"].sort(key=lambda p: (p["frame"], p["type"] == "points", p.get("mode") == "subtract"))
    return objects, notes
