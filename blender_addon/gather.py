"""Prompts from a Movie Clip's masks and tracking tracks (no bpy: Blender objects are read by their
attributes, so tests pass plain stand-ins; standard library only).

Conventions (README "Blender"):

* every visible mask layer (``hide_render`` off) is one samatte object; its name is the core's
  :func:`samatte.names.safe_name` of the layer's name, which is kept as ``host_name``;
* a layer's prompts sit on the scene frames where it is keyed: fcurves on its points, or else its
  shape keys (the I key in the Clip Editor), found from the motion (:func:`motion_keyframes`); a
  layer that never moves gives one prompt on the current frame; ``every_frame`` ("use my animated roto") sends the
  shape of every frame of the range (with the ``shapes`` tracker: the roto is refined, not tracked);
* a closed spline is a bezier prompt (handles absolute), an open one a ``closed: false`` stroke;
  splines with fewer than 3 points are dropped (noted); points parented to a tracking track are read
  where Blender shows them on the frame (:func:`parent_offset`; plane-track parents are noted, not
  applied);
* a layer in Subtract / Merge Subtract blend mode is a garbage matte: its shapes are ``mode:
  "subtract"`` prompts of every other object on the frames where that object has a shape; with
  "Holes" (``use_fill_holes``) a spline lying inside another spline of its layer is a hole
  (``mode: "subtract"``) of that layer's object; a layer with Invert on is the frame minus its shapes
  (:func:`_invert_layer`), a layer at opacity 0 (``alpha``) is skipped;
* tracking tracks (selected ones, or those of a named tracking object) are points: a track belongs to
  the layer whose name is the longest prefix of the track's name (``hero``, ``hero.eye``,
  ``hero eye``); others go to ``default_object``; a track whose name starts with ``-`` gives
  negative points (``-hero.bg``); a marker's point is ``marker.co + track.offset``, as in Blender.
  Markers that are disabled (muted) or whose point is off the frame are dropped, and so are
  negative-only frames of an object that has no shape at all.
"""
import os

from . import convert

__all__ = ["ClipInfo", "clip_info", "action_fcurves", "layer_keyframes", "gather_mask_objects",
           "gather_track_points", "merge_objects", "point_in_polygon", "parent_origin", "parent_offset",
           "track_position"]


class ClipInfo:
    """What the conversions need about a clip (plain values)."""

    def __init__(self, *, size, first_file, frame_start=1, frame_offset=0, duration=1, origin=(0, 0),
                 pixel_aspect=1.0, pattern=None, filepath=None, colourspace=None, display_window=None,
                 data_window=None, name="clip"):
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

    def file(self, scene_frame):
        return convert.file_number(scene_frame, clip_frame_start=self.frame_start, first_file=self.first_file,
                                   frame_offset=self.frame_offset)

    def scene_frame(self, file_number):
        return convert.scene_frame_of_file(file_number, clip_frame_start=self.frame_start,
                                           first_file=self.first_file, frame_offset=self.frame_offset)

    def scene_range(self):
        return self.frame_start, self.frame_start + self.duration - 1

    def marker_px(self, co):
        return convert.marker_to_px(co, self.size, self.origin)

    def mask_px(self, co):
        return convert.mask_to_px(co, self.size, self.origin, self.pixel_aspect)


def clip_info(clip, *, abspath=lambda p: p):
    """A :class:`ClipInfo` from a ``bpy.types.MovieClip`` (or a stand-in): absolute path, sequence
    pattern and first file number, size, overscan origin (Blender sizes a clip by the EXR's data
    window, measured in 4.2 and 5.0: the origin is the data window's corner in display pixels)."""
    from .hosterrors import HostError
    path = os.path.normpath(abspath(clip.filepath))
    pattern, first = convert.sequence_pattern(path)
    if getattr(clip, "source", "SEQUENCE") != "SEQUENCE" or first is None:
        raise HostError("PLATE_INVALID", "samatte needs an image sequence with frame numbers in the file names; "
                        "clip %r is %s (%s): render it to an image sequence (EXR, PNG...) and open its first "
                        "file as the clip" % (clip.name, getattr(clip, "source", "?"), path))
    size = tuple(clip.size)
    if not size or size[0] <= 0 or size[1] <= 0:
        raise HostError("PLATE_INVALID", "clip %r has no image (size %r): is %s readable?" % (clip.name, size, path))
    origin = (0, 0)
    win = convert.exr_windows(path) if path.lower().endswith(".exr") else None
    disp = data = None
    if win:
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
                    colourspace=cs, display_window=disp, data_window=data, name=clip.name)


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


def layer_keyframes(mask, layer_name):
    """Scene frames where a mask layer's points are keyed (sorted ints)."""
    ad = getattr(mask, "animation_data", None)
    prefix = _layer_prefix(layer_name)
    frames = set()
    for fc in action_fcurves(getattr(ad, "action", None) if ad is not None else None):
        if fc.data_path.startswith(prefix + "."):
            frames.update(int(round(k.co[0])) for k in fc.keyframe_points)
    return sorted(frames)


def _layer_coords(layer):
    out = []
    for sp in layer.splines:
        for p in sp.points:
            out.extend((p.co[0], p.co[1], p.handle_left[0], p.handle_left[1], p.handle_right[0], p.handle_right[1]))
    return out


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


def parent_origin(parent):
    """``parent_orig`` of a ``MaskParent``: the track's position (mask space) when the point was
    parented. RNA does not expose it (4.2, 5.0), so it is read from the DNA struct behind
    ``as_pointer()`` (``MaskParent``: id_type, type, ID *id, parent[64], sub_parent[64],
    parent_orig[2], ...), checked against the names RNA does expose. None when they do not match."""
    if hasattr(parent, "parent_orig"):
        return tuple(parent.parent_orig)
    import ctypes
    import struct
    try:
        raw = ctypes.string_at(parent.as_pointer(), 152)
    except (AttributeError, TypeError, ValueError):
        return None
    if (raw[16:80].split(b"\0")[0] != parent.parent.encode("utf-8")
            or raw[80:144].split(b"\0")[0] != parent.sub_parent.encode("utf-8")):
        return None
    return struct.unpack("<2f", raw[144:152])


def parent_offset(point, scene_frame):
    """``((dx, dy) or None, note or None)``: the mask-space translation Blender applies on
    ``scene_frame`` to a point parented to a tracking track (``BKE_mask_point_parent_matrix_get``:
    the track's position on that frame, ``track.offset`` included, minus its position when the point
    was parented). ``point.co`` is the un-parented shape: without this a roto parented to a track
    (Ctrl+P in the Clip Editor) was sent where it was drawn, not where Blender shows it."""
    par = getattr(point, "parent", None)
    clip = getattr(par, "id", None)
    if clip is None:
        return None, None
    tob = clip.tracking.objects.get(par.parent)
    if par.type != "POINT_TRACK":
        return None, "parented to plane track %r: its motion is not applied (the shape as drawn is used)" % (
            par.sub_parent)
    track = tob.tracks.get(par.sub_parent) if tob is not None else None
    if track is None or not len(track.markers):
        return None, None           # Blender: no transform either
    orig = parent_origin(par)
    if orig is None:
        return None, "parented to track %r, whose parenting origin could not be read: its motion is not " \
            "applied (the shape as drawn is used)" % par.sub_parent
    mk = track.markers.find_frame(convert.clip_frame(scene_frame, clip.frame_start), exact=False)
    pos = track_position(track, mk)
    try:
        pa = float(clip.tracking.camera.pixel_aspect)
    except AttributeError:
        pa = 1.0
    size = tuple(clip.size)
    mx, my = convert.px_to_mask(convert.marker_to_px(pos, size), size, pixel_aspect=pa)
    return (mx - orig[0], my - orig[1]), None


def _spline_prompt(spline, info, file_frame, offset=None):
    pts = []
    for p in spline.points:
        d = offset(p) if offset is not None else None
        co, hl, hr = p.co, p.handle_left, p.handle_right
        if d is not None:
            co, hl, hr = [(c[0] + d[0], c[1] + d[1]) for c in (co, hl, hr)]
        x, y = info.mask_px(co)
        ix, iy = info.mask_px(hl)
        ox, oy = info.mask_px(hr)
        pts.append([x, y, ix, iy, ox, oy])
    prompt = {"frame": file_frame, "type": "bezier", "points": pts}
    if not getattr(spline, "use_cyclic", True):
        prompt["closed"] = False
    return prompt


def _is_subtract(layer):
    return getattr(layer, "blend", "MERGE_ADD") in ("SUBTRACT", "MERGE_SUBTRACT")


def _layer_frames(mask, layer, scene_set, *, read_mask_at, current_frame, every_frame, sample_shape_keys):
    """``(scene frames to read the layer on, note or None)``."""
    if every_frame:
        return sorted(scene_set), None
    keyed = layer_keyframes(mask, layer.name)
    frames = [f for f in keyed if f in scene_set]
    if frames:
        return frames, None
    if keyed:
        return [], "mask layer %r has no keys inside the frame range: skipped" % layer.name
    if sample_shape_keys:   # shape keys (not visible to Python): keys from the motion
        frames = motion_keyframes([(f, _layer_coords(read_mask_at(f).layers[layer.name]))
                                   for f in sorted(scene_set)])
    if not frames and current_frame in scene_set:
        frames = [current_frame]
    if not frames:
        return [], "mask layer %r is not keyed and the current frame is outside the range: skipped" % layer.name
    return frames, None


def _mark_holes(prompts):
    """A closed shape lying inside another closed shape of its layer becomes a hole (subtract)."""
    closed = [p for p in prompts if p.get("closed") is not False]
    polys = [[(q[0], q[1]) for q in p["points"]] for p in closed]
    for i, p in enumerate(closed):
        if any(i != j and all(point_in_polygon(q, other) for q in polys[i]) for j, other in enumerate(polys)):
            p["mode"] = "subtract"


def _read_layer(layer, info, scene_frame, notes):
    splines = [s for s in layer.splines if len(s.points) >= 3]
    if len(splines) != len(layer.splines):
        notes.append("mask layer %r: a spline with fewer than 3 points on frame %d was dropped"
                     % (layer.name, scene_frame))

    def offset(point):
        d, note = parent_offset(point, scene_frame)
        note = note and "mask layer %r: a point %s" % (layer.name, note)
        if note and note not in notes:
            notes.append(note)
        return d
    prompts = [_spline_prompt(s, info, info.file(scene_frame), offset) for s in splines]
    if _is_subtract(layer):
        for p in prompts:
            p["mode"] = "subtract"
    elif getattr(layer, "use_fill_holes", False) and len(prompts) > 1:
        _mark_holes(prompts)
    if getattr(layer, "invert", False):
        prompts = _invert_layer(layer, prompts, scene_frame, notes)
    return prompts


def _invert_layer(layer, prompts, scene_frame, notes):
    """A layer with Invert on draws the frame minus its shapes: the first closed shape inverted, the
    others cut out of it (frame - (a | b) = inv(a) - b), and a hole (filled with "Holes") added back.
    A garbage-matte layer inverted keeps only what is inside its shape: one closed shape, inverted and
    subtracted; with several shapes (the intersection of their outsides) it is skipped with a note."""
    closed = [p for p in prompts if p.get("closed") is not False]
    if not closed:
        return prompts
    if _is_subtract(layer):
        if len(closed) > 1:
            notes.append("mask layer %r (subtract, inverted) has %d shapes on frame %d: an inverted garbage "
                         "matte is read with one shape only; skipped" % (layer.name, len(closed), scene_frame))
            return [p for p in prompts if p.get("closed") is False]
        closed[0]["invert"] = True
        return prompts
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


def gather_mask_objects(mask, info, *, scene_frames, read_mask_at, current_frame, every_frame=False,
                        taken=(), safe_name=None, sample_shape_keys=True):
    """Objects from a mask's layers.

    ``scene_frames``: the job's scene frames (a range or list); ``read_mask_at(f)``: sets the scene
    to frame ``f`` and returns the mask to read there (Blender: ``scene.frame_set(f)`` then the mask);
    ``current_frame``: the frame an unkeyed layer is read on. Returns ``(objects, subtract, notes)``:
    objects are dicts ``{"name", "host_name", "prompts"}`` (prompts by file number), ``subtract``
    maps file frame -> subtract-mode prompts of garbage-matte layers, notes are sentences for the user.
    """
    safe_name = safe_name or _safe_name_fallback
    scene_set = set(scene_frames)
    notes = []
    by_frame = {}
    objects = {}
    taken = list(taken)
    for layer in mask.layers:
        if getattr(layer, "hide_render", False):
            notes.append("mask layer %r is hidden in renders: skipped" % layer.name)
            continue
        if float(getattr(layer, "alpha", 1.0)) <= 0.0:
            notes.append("mask layer %r has opacity 0 (draws nothing): skipped" % layer.name)
            continue
        frames, note = _layer_frames(mask, layer, scene_set, read_mask_at=read_mask_at, current_frame=current_frame,
                                     every_frame=every_frame, sample_shape_keys=sample_shape_keys)
        if note:
            notes.append(note)
        for f in frames:
            by_frame.setdefault(f, []).append(layer.name)
        if frames and not _is_subtract(layer):
            safe = safe_name(layer.name, taken=taken)
            taken.append(safe)
            objects[layer.name] = {"name": safe, "host_name": layer.name, "prompts": []}
    subtract = {}
    for f in sorted(by_frame):
        m = read_mask_at(f)
        for name in by_frame[f]:
            layer = m.layers[name]
            prompts = _read_layer(layer, info, f, notes)
            if _is_subtract(layer):
                subtract.setdefault(info.file(f), []).extend(prompts)
            else:
                objects[name]["prompts"].extend(prompts)
    out = []
    for name, ob in objects.items():
        adds = {p["frame"] for p in ob["prompts"] if p.get("mode") != "subtract"}
        for ff, prompts in sorted(subtract.items()):
            if ff in adds:
                ob["prompts"].extend(dict(p) for p in prompts)
        if not ob["prompts"]:
            notes.append("mask layer %r has no closed shape with 3 or more points: skipped" % name)
            continue
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


def merge_objects(mask_objects, points, *, default_object, safe_name=None):
    """Mask objects plus track points -> JobSpec objects. Points of an owner with no mask object form
    a points-only object; negative-only frames of an object with no shape are dropped (noted)."""
    safe_name = safe_name or _safe_name_fallback
    objects = [dict(ob, prompts=list(ob["prompts"])) for ob in mask_objects]
    by_host = {ob["host_name"]: ob for ob in objects}
    notes = []
    for owner in sorted(points, key=lambda o: (o != default_object, o)):
        ob = by_host.get(owner)
        if ob is None:
            ob = {"name": safe_name(owner, taken=[o["name"] for o in objects]), "host_name": owner, "prompts": []}
            objects.append(ob)
            by_host[owner] = ob
        has_shape = any(p["type"] != "points" for p in ob["prompts"])
        for f, pts in sorted(points[owner].items()):
            labels = [p[2] for p in pts]
            if not any(labels) and not has_shape:
                notes.append("object %r: negative-only points on frame %d dropped (no shape to correct)"
                             % (owner, f))
                continue
            ob["prompts"].append({"frame": f, "type": "points", "points": [[p[0], p[1]] for p in pts],
                                  "labels": labels})
    objects = [ob for ob in objects if ob["prompts"]]
    for ob in objects:
        ob["prompts"].sort(key=lambda p: (p["frame"], p["type"] == "points", p.get("mode") == "subtract"))
    return objects, notes
