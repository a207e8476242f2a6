"""Nuke coordinates and frames to samatte's (plain functions; no ``nuke`` import).

Coordinates. Nuke places an image in its *format*: origin at the bottom-left corner of the format,
x right, y up, in stored pixels (pixel aspect does not scale x: a Roto point at x=100 on a 2:1
anamorphic plate is 100 stored pixels from the left edge, shown 200 wide in the Viewer). The pixel
(i, j) covers [i, i+1] x [j, j+1], its centre at (i + 0.5, j + 0.5). The bounding box (data window)
may extend beyond the format (overscan) or lie inside it.

A JobSpec uses the plate's *display window* (the format): origin top-left, y down, pixel centres at
i + 0.5. So ``X = x`` and ``Y = H - y`` with H the format's height; a point in the overscan keeps a
negative or beyond-the-edge coordinate, which samatte maps to the data window itself. A Nuke pixel
centre (i + 0.5, j + 0.5) becomes (i + 0.5, H - j - 0.5): the centre of row H - 1 - j counted from
the top, as samatte's README states.

Frames. At the boundary a frame number is the number in the plate's file name. A Read node maps its
files to script frames (Foundry, "Changing the Relation Between the Current Frame and the Frame Read
In"): ``offset`` K shows file f at script frame f + K; ``start at`` N shows the first file frame at N
(file f at f - first + N); ``expression`` is any function (not linear: the node renders the plate
instead). :class:`FrameMap` holds the constant offset script - file.
"""
import math

__all__ = ["Geometry", "FrameMap", "bezier_point", "apply_matrix", "sample_polyline", "written_part",
           "frame_offset", "read_shown_file", "timeoffset_source", "framehold_source", "signed_feather", "is_disabled",
           "disable_keyed",
           "shown_inputs", "group_input", "transform_matrix", "node_key", "script_node"]


def script_node(full_name):
    """The node of the script with this full name (``Group1.Read1``), or None: ``nuke.toNode`` of ``root.`` + the
    name. ``nuke.toNode`` looks a name up in the current Group context (inside a Group while one of its knobs or
    buttons runs, or its node graph is the one worked in); ``root.`` makes it absolute. (``nuke`` imported here
    only.)"""
    if not full_name:
        return None
    import nuke
    return nuke.toNode("root." + full_name)


def node_key(node):
    """One node's key while walking a comp: its full name (``Group1.Read1``; Foundry's ``Node.fullName()``: the
    name of the node and of the Groups around it, unique within a script). Nuke hands out a new Python object for
    a node from each ``input()``, ``nuke.toNode()``, ``allNodes()`` ... call, so ``id()`` and ``is`` tell two
    wrappers of one node apart (a comp of Merges sharing their inputs walked once per path, a node reached twice
    prompted twice) and a freed wrapper's id may be reused by another node's (that node skipped). An object with
    no full name (not a node of a script) is keyed by itself."""
    try:
        name = node.fullName()
    except Exception:  # noqa: BLE001 - not a node of a script (a test's stand-in)
        name = None
    if isinstance(name, str) and name:
        return name
    return ("object", id(node))


class Geometry(object):
    """A plate as Nuke sees it: the format's ``width`` x ``height``, ``pixel_aspect`` and the
    bounding box ``bbox`` = (x, y, w, h) in Nuke coordinates (default: the format)."""

    def __init__(self, width, height, pixel_aspect=1.0, bbox=None):
        self.width = int(width)
        self.height = int(height)
        self.pixel_aspect = float(pixel_aspect)
        if bbox is None:
            bbox = (0, 0, self.width, self.height)
        self.bbox = tuple(float(v) for v in bbox)

    @classmethod
    def from_node(cls, node):
        """From a node's ``format()`` and ``bbox()`` (Foundry: Node.format(), Node.bbox() -> x, y, w, h)."""
        fmt = node.format()
        try:
            bbox = node.bbox()
            if hasattr(bbox, "w") and callable(bbox.w):  # a nuke.Box-like object rather than [x, y, w, h]
                bbox = (bbox.x(), bbox.y(), bbox.w(), bbox.h())
            bbox = tuple(float(v) for v in bbox)
            if len(bbox) != 4:
                bbox = None
        except Exception:  # noqa: BLE001 - a node without image data, or an unexpected shape
            bbox = None
        return cls(fmt.width(), fmt.height(), fmt.pixelAspect(), bbox)

    def to_job(self, x, y):
        """Nuke (x, y), bottom-left origin -> JobSpec (X, Y), display window, top-left origin."""
        return (float(x), float(self.height) - float(y))

    def to_nuke(self, X, Y):
        return (float(X), float(self.height) - float(Y))

    def data_window_job(self):
        """The bounding box as a JobSpec rectangle [x0, y0, x1, y1] (top-left origin)."""
        x, y, w, h = self.bbox
        return [x, self.height - (y + h), x + w, self.height - y]

    def union_job(self):
        """Format and bounding box together (where a prompt point may lie), JobSpec rectangle."""
        dx0, dy0, dx1, dy1 = self.data_window_job()
        return [min(0.0, dx0), min(0.0, dy0), max(float(self.width), dx1), max(float(self.height), dy1)]

    def contains_job(self, X, Y):
        x0, y0, x1, y1 = self.union_job()
        return x0 <= X <= x1 and y0 <= Y <= y1

    def describe(self):
        return {"width": self.width, "height": self.height, "pixel_aspect": self.pixel_aspect,
                "bbox": list(self.bbox)}


def frame_offset(frame_mode, frame_value, first):
    """Script frame minus file frame for a Read's ``frame_mode`` / ``frame`` knobs; None when the
    mapping is an expression (not a constant offset)."""
    val = (frame_value or "").strip()
    mode = (frame_mode or "").strip()
    if not val:
        return 0
    try:
        num = float(val)
    except ValueError:
        return None
    if num != int(num):
        return None
    if mode == "offset":
        return int(num)
    if mode == "start at":
        return int(num) - int(first)
    if mode == "expression":
        return None
    return None


def read_shown_file(file_frame, first, last, before="hold", after="hold"):
    """The file a Read shows for ``file_frame`` (its script frame minus the offset), or None where it shows
    black. Foundry's Read reference: ``first`` / ``last`` are "the first / last frame of the sequence to
    display"; outside them ``before`` / ``after``: hold ("a still picture of the first frame of the frame
    range"; the last one after it), loop ("start over and keep looping the span of the frame range"),
    bounce, black. How loop and bounce count is TimeClip's worked example (same knobs; a 20-frame clip
    starting at frame 5: loop shows 17, 18, 19, 20, 1, 2, ..., bounce 5, 4, 3, 2, 1, 2, ...): a loop has
    the range's length as its period, a bounce reflects about the end frame without showing it twice."""
    f, first, last = int(file_frame), int(first), int(last)
    if first <= f <= last:
        return f
    mode = (before if f < first else after) or "hold"
    n = last - first + 1
    if mode == "black" or n <= 0:
        return None
    if mode == "loop":
        return first + (f - first) % n
    if mode == "bounce":
        if n == 1:
            return first
        k = (f - first) % (2 * n - 2)
        return first + (k if k < n else 2 * n - 2 - k)
    return first if f < first else last   # hold (and any mode Foundry does not document)


class FrameMap(object):
    """script frame = file frame + ``offset``; with the Read's ``first`` / ``last`` (file numbers) and
    ``before`` / ``after`` known, :meth:`shown` gives the file Nuke shows on any script frame."""

    def __init__(self, offset=0, first=None, last=None, before="hold", after="hold"):
        self.offset = int(offset)
        self.first = None if first is None else int(first)
        self.last = None if last is None else int(last)
        self.before = before
        self.after = after

    @classmethod
    def from_read(cls, read):
        off = frame_offset(read["frame_mode"].value(), read["frame"].value(), read["first"].value())
        if off is None:
            return None

        def knob(name):
            k = read.knob(name)
            return None if k is None else k.value()
        return cls(off, knob("first"), knob("last"), knob("before") or "hold", knob("after") or "hold")

    def shown(self, script_frame):
        """The file number the Read shows at ``script_frame`` (None: black), its range and before / after
        applied (:func:`read_shown_file`); without a known range, :meth:`to_file`."""
        f = self.to_file(script_frame)
        if self.first is None or self.last is None:
            return f
        return read_shown_file(f, self.first, self.last, self.before, self.after)

    def script_range(self):
        """(first, last) script frames of the Read's range, or None."""
        if self.first is None or self.last is None:
            return None
        return self.to_script(self.first), self.to_script(self.last)

    def to_file(self, script_frame):
        return int(round(float(script_frame))) - self.offset

    def to_script(self, file_frame):
        return int(file_frame) + self.offset

    def files(self, script_frames):
        return [self.to_file(t) for t in script_frames]


def apply_matrix(m, x, y):
    """Apply a 4x4 matrix given as 16 numbers (row-major, column vectors, z = 0, w = 1) to (x, y); the
    projective divide is applied when the bottom row is not (0, 0, *, 1)."""
    if m is None:
        return float(x), float(y)
    X = m[0] * x + m[1] * y + m[3]
    Y = m[4] * x + m[5] * y + m[7]
    W = m[12] * x + m[13] * y + m[15]
    if W and abs(W - 1.0) > 1e-12:
        X, Y = X / W, Y / W
    return X, Y


def matmul(a, b):
    """a x b for 16-number row-major matrices (None = identity)."""
    if a is None:
        return b
    if b is None:
        return a
    return [sum(a[r * 4 + k] * b[k * 4 + c] for k in range(4)) for r in range(4) for c in range(4)]


def bezier_point(center, left_rel, right_rel, matrix, geom):
    """One Roto control point -> JobSpec bezier row [x, y, in_x, in_y, out_x, out_y]: the tangents,
    stored relative to the centre (Foundry: "leftTangent: the left tangent offsets, relative to the
    center point"), become absolute handles; the shape/layer matrix is applied to the centre and both
    handles (exact for affine transforms); then Nuke -> JobSpec coordinates. The left tangent is the
    handle towards the previous point (in), the right one towards the next (out)."""
    cx, cy = center
    pts = [(cx, cy), (cx + left_rel[0], cy + left_rel[1]), (cx + right_rel[0], cy + right_rel[1])]
    row = []
    for x, y in pts:
        tx, ty = apply_matrix(matrix, x, y)
        row.extend(geom.to_job(tx, ty))
    return row


def sample_polyline(points, count):
    """``count`` points spread evenly by arc length along an open polyline (for open strokes)."""
    pts = [(float(x), float(y)) for x, y in points]
    if len(pts) <= 1 or count <= 1:
        return pts[:max(1, count)]
    seg = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(pts, pts[1:])]
    total = sum(seg)
    if total <= 0:
        return [pts[0]]
    out = []
    for k in range(count):
        d = total * k / (count - 1)
        acc = 0.0
        for (a, b), s in zip(zip(pts, pts[1:]), seg):
            if acc + s >= d or (a, b) == (pts[-2], pts[-1]):
                u = 0.0 if s == 0 else min(1.0, max(0.0, (d - acc) / s))
                out.append((a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u))
                break
            acc += s
    return out


def written_part(points, lo, hi):
    """The part of an open polyline drawn between write on start ``lo`` and write on end ``hi`` (fractions
    of the curve's parameter, 0 the first point and 1 the last, each segment an equal share): its end points
    interpolated, the points between kept. [] where nothing is drawn (``lo >= hi``)."""
    pts = [(float(x), float(y)) for x, y in points]
    n = len(pts)
    if n < 2 or lo >= hi:
        return pts if n < 2 and lo < hi else []

    def at(u):
        s = min(max(u, 0.0), 1.0) * (n - 1)
        i = min(int(math.floor(s)), n - 2)
        f = s - i
        a, b = pts[i], pts[i + 1]
        return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
    first, last = lo * (n - 1), hi * (n - 1)
    inner = [pts[i] for i in range(n) if first < i < last]
    return [at(lo)] + inner + [at(hi)]


def timeoffset_source(frame, offset):
    """The input frame a TimeOffset shows at ``frame``: ``frame - offset``. Foundry's user guide
    ("Offsetting Clips": "Enter a positive value to add frames to the head of the clip") and the
    openfx-misc TimeOffset that copies Nuke's knobs (``time_offset``: "frame f from the input will be at
    f+offset"): a key on frame 10 behind TimeOffset +5 is seen on frame 15. ``reverse_input`` is not
    handled here: how it combines with the offset and the input's range is not documented by Foundry."""
    return frame - offset


def framehold_source(frame, first, increment):
    """The input frame a FrameHold shows at ``frame``, or None where that is not documented. Foundry's
    FrameHold reference: ``first_frame`` is "the frame to use; if increment is 0, first frame is used for
    every frame of the input clip"; ``increment`` N with first frame 1 uses "only frames 1, 6, 11, 16 ..."
    (each held for N frames: ``first + N * floor((frame - first) / N)``, as openfx-misc's FrameHold, a copy
    of Nuke's, computes it). Frames before ``first_frame`` with an increment, and negative increments, are
    not described: None."""
    if increment == 0:
        return first
    if increment < 0 or frame < first:
        return None
    return first + increment * math.floor((frame - first) / increment)


def signed_feather(centres, offsets):
    """Mean feather distance of a closed shape, signed as samatte's ``feather`` is (positive outward,
    negative inward): each control point's feather offset (Foundry: ShapeControlPoint.featherCenter,
    "the feather point offsets, relative to the center point") counts positive when it points out of the
    shape (along the outward normal, from the shape's winding) and negative when it points in.
    ``centres`` and ``offsets`` are (x, y) pairs in the same (shape) space."""
    n = len(centres)
    if n == 0 or len(offsets) != n:
        return 0.0
    area2 = sum(centres[i][0] * centres[(i + 1) % n][1] - centres[(i + 1) % n][0] * centres[i][1]
                for i in range(n))
    orient = 1.0 if area2 >= 0 else -1.0   # counter-clockwise (y up): the outward normal of d is (dy, -dx)
    total = 0.0
    for i, (ox, oy) in enumerate(offsets):
        dist = math.hypot(ox, oy)
        if dist == 0:
            continue
        px, py = centres[i - 1]
        nx_, ny_ = centres[(i + 1) % n]
        dx, dy = nx_ - px, ny_ - py
        out = (dy * orient, -dx * orient)
        dot = ox * out[0] + oy * out[1]
        total += -dist if dot < 0 else dist
    return total / n


def is_disabled(node, t=None):
    """A node's 'disable' knob (every Nuke node has one; a disabled node passes its input through): its value
    (for an animated knob, Nuke's value at the current frame: Foundry, Knob.getValue "Return value at the current
    frame"), or on frame ``t`` when given (an animated one read there: on where its curve is 0.5 or more)."""
    k = node.knob("disable")
    try:
        if k is None:
            return False
        if t is not None and k.isAnimated():
            return float(k.getValueAt(t)) >= 0.5
        return bool(k.value())
    except Exception:  # noqa: BLE001
        return False


def disable_keyed(node):
    """True when a node's 'disable' knob is animated (keyed on and off: the node is disabled on some frames
    only, :func:`is_disabled` with a frame says which)."""
    k = node.knob("disable")
    try:
        return bool(k is not None and k.isAnimated())
    except Exception:  # noqa: BLE001 - a knob without isAnimated
        return False


def switch_input(node, t=None):
    """The input a Switch shows (Foundry's Switch reference: 'which', the input to display), on frame ``t``
    when ``which`` is animated (None: its value): a non-integer value is taken down to the input below it
    and a value outside the inputs clamped to the first / last (the rule the adapter has used for an
    unanimated ``which``). None when ``node`` is not a Switch or its knob cannot be read."""
    if node.Class() != "Switch":
        return None
    k = node.knob("which")
    try:
        v = float(k.getValueAt(t) if t is not None and k.isAnimated() else k.value())
    except Exception:  # noqa: BLE001 - an unexpected knob
        return None
    return min(max(int(math.floor(v)), 0), max(node.inputs() - 1, 0))


def animated_switch(node):
    """True for an enabled Switch whose ``which`` is animated: the input it shows changes from frame to frame
    (:func:`switch_input` on each frame); :func:`shown_inputs` gives every input of it."""
    try:
        return node.Class() == "Switch" and not is_disabled(node) and bool(node.knob("which").isAnimated())
    except Exception:  # noqa: BLE001
        return False


def group_input(node):
    """For an Input node inside a Group (or gizmo): what is connected to that Group's input ``number`` (None when
    nothing is); False for any other node, or an Input at the script's top level. Foundry: an Input node passes
    on the Group's input of its ``number``; a node inside a Group is named ``Group1.Input1`` and ``nuke.toNode``
    takes that full name after ``root.`` (:func:`script_node`: absolute, whatever Group context the call is made in)."""
    try:
        if node.Class() != "Input":
            return False
        full = node.fullName()
    except Exception:  # noqa: BLE001 - not a node of a script (a test's stand-in)
        return False
    if "." not in full:
        return False
    try:
        # absolute (toNode looks a name up in the current Group context, e.g. inside the SAMatte group while its
        # knobs are evaluated: a relative "Group1" found nothing, or another node)
        parent = script_node(full.rsplit(".", 1)[0])
        return None if parent is None else parent.input(int(node["number"].value() or 0))
    except Exception:  # noqa: BLE001 - no nuke, or an Input without its number knob
        return False


def is_samatte_node(node):
    """Whether ``node`` is a SAMatte node (its hidden ``samatte_node`` knob): a Group whose output is its Source's
    picture with samatte's mattes copied in (alpha and one layer per object), each pixel where the Source has it."""
    try:
        return node.knob("samatte_node") is not None
    except Exception:  # noqa: BLE001 - not a node (a test's stand-in)
        return False


def shown_inputs(node):
    """The inputs whose picture ``node`` can show: a disabled node passes its input 0 through (Foundry:
    "disable: the node passes its input through"), a Switch with an unanimated ``which`` shows that input;
    otherwise every input (a Merge mixes them; a Switch with an animated ``which`` shows each input on some
    frames: :func:`switch_input` says which on a frame). A node whose 'disable' is keyed shows, over the frames, the
    inputs it shows enabled and its input 0 (before: as on the frame the Viewer stood on, for every frame). The rule
    of the Source's per-view check and of the prompt gathering (a disabled Roto, or one a Switch does not show, draws
    nothing)."""
    if node.Class() == "Input":
        up = group_input(node)
        if up is not False:
            return [up]
    keyed = disable_keyed(node)
    if is_disabled(node) and not keyed:
        return [node.input(0)] if node.inputs() else []
    if is_samatte_node(node):
        # a SAMatte node shows its Source's picture (its mattes added as channels), never its Prompts input's: a
        # roto on the Prompts of a SAMatte node upstream is not drawn into its output (before: walked as shown, so
        # a second SAMatte node below the first took that roto's input for a second path to its plate)
        return [node.input(0)] if node.inputs() else []
    if node.Class() == "Switch":
        i = None if animated_switch(node) else switch_input(node)
        if i is not None:
            # (a keyed 'disable': input 0 too, passed through on the frames where it is off)
            return [node.input(i)] + ([node.input(0)] if keyed and i != 0 else [])
    return [node.input(i) for i in range(node.inputs())]


def transform_matrix(translate, rotate, scale, skew, center, *, skew_order_yx=False, invert=False):
    """A Transform node's matrix (16 numbers, row-major, column vectors) from its input's pixels to its output's,
    in Nuke coordinates (bottom-left origin). Foundry's Transform reference: translate, rotate (degrees,
    counter-clockwise), scale (w, h), skewX / skewY and skew_order, about ``center``; the order is that of
    openfx-misc's Transform, a copy of Nuke's knobs (ofxsMatTransformCanonical): ``T(center) T(translate)
    R(rotate) Skew S(scale) T(-center)``, skew XY = ``[[1 + sx sy, sx], [sy, 1]]``, YX = ``[[1, sx],
    [sy, 1 + sx sy]]``. ``invert``: the node's 'invert' (invert_matrix) applies the inverse."""
    tx, ty = float(translate[0]), float(translate[1])
    sx, sy = float(scale[0]), float(scale[1])
    kx, ky = float(skew[0]), float(skew[1])
    cx, cy = float(center[0]), float(center[1])
    a = math.radians(float(rotate))
    c, s = math.cos(a), math.sin(a)

    def m3(r0, r1):
        return [r0[0], r0[1], 0.0, r0[2], r1[0], r1[1], 0.0, r1[2], 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    skew_m = (m3((1.0, kx, 0.0), (ky, 1.0 + kx * ky, 0.0)) if skew_order_yx
              else m3((1.0 + kx * ky, kx, 0.0), (ky, 1.0, 0.0)))
    m = m3((1.0, 0.0, cx + tx), (0.0, 1.0, cy + ty))
    for part in (m3((c, -s, 0.0), (s, c, 0.0)), skew_m, m3((sx, 0.0, 0.0), (0.0, sy, 0.0)),
                 m3((1.0, 0.0, -cx), (0.0, 1.0, -cy))):
        m = matmul(m, part)
    if invert:
        a_, b_, c_, d_ = m[0], m[1], m[4], m[5]
        det = a_ * d_ - b_ * c_
        if det == 0:
            return None
        ia, ib, ic, id_ = d_ / det, -b_ / det, -c_ / det, a_ / det
        m = m3((ia, ib, -(ia * m[3] + ib * m[7])), (ic, id_, -(ic * m[3] + id_ * m[7])))
    return m


def absent_text(ob, offset=0):
    """The script frames where a gathered or JobSpec object is ``absent`` (every shape hidden or outside its
    lifetime: a list of file numbers, or the JobSpec's frame range text), as a range text ("1020-1030"), or ""
    when it is never absent. Script frame = file number + ``offset`` (a Read's offset / start at)."""
    raw = ob.get("absent")
    if not raw:
        return ""
    from samatte.frames import format_frames, parse_frames
    try:
        files = parse_frames(raw) if isinstance(raw, str) else [int(f) for f in raw]
    except Exception:  # noqa: BLE001 - an unreadable value is shown as written
        return str(raw)
    return format_frames(sorted({int(f) + int(offset) for f in files}))
