"""Prompts from the Roto, RotoPaint and Tracker4 nodes plugged into the SAMatte node.

Plain functions over node objects (they call only the documented ``nuke`` / ``nuke.rotopaint`` methods
listed in the README "Nuke" section); tested directly against the double in tests/nuke.

Which object a prompt belongs to (documented conventions):

* Roto / RotoPaint: every top-level **layer** is one object named after the layer; shapes and strokes
  at the root (not in a layer) form one object named after the node. Nested layers belong to their
  top-level layer's object (their transforms are applied).
* A **closed shape** (Bezier) gives a ``bezier`` prompt on each of its keyed frames (the union of its
  control points' key times and the key times of its transform and of every layer's around it, root
  included; an unkeyed shape, or one shown on none of its keyed frames (its lifetime between its keys):
  the first frame of the range it is shown on), skipping frames where the
  shape or a layer around it is not visible or outside its lifetime, or the shape's opacity is 0.
  Shape, layer and node transforms are applied; the
  relative tangents become absolute handles; ``invert`` is kept; the feather is the mean distance of
  the feather points from their centres, negative where they lie inside the shape (samatte widens the
  soft edge by it, outward when positive, inward when negative). On such a frame of an object's closed add
  shape (an anchor), every other element of the object shown there is prompted too, as Nuke draws it.
* A shape or stroke whose name starts with ``-`` (``-hole``, ``-garbage``) or whose blending mode is
  minus (``bm`` 12) **subtracts** (mode ``subtract``: a hole or a garbage matte removed from the object
  on that frame).
* An **open stroke** (a RotoPaint brush stroke) gives an open ``polygon`` (``closed: false``), an open
  spline (a Shape with ``FlagType.eOpenFlag``) an open ``bezier``: samatte puts positive points along it
  (negative when it subtracts). A stroke written on / off (write on start / end) is prompted along the part
  drawn on the frame; its brush type is not read (Foundry does not document its values), nor a shape's
  Bezier / B-spline type (a B-spline is read through its control points, as a Bezier without tangents).
* Tracker4: each **enabled** track gives points on its keyed (tracked) frames. A track named
  ``hero/anything`` belongs to object ``hero``; a track without ``/`` belongs to an object named after
  the Tracker node. A track whose own name (after the ``/``) starts with ``-`` is a **negative**
  point (background). The tracked position (track_x, track_y) is used; the offset is not.
* A prompt node behind a TimeOffset / FrameHold (:func:`prompt_sources`): its keys are prompted on the
  SAMatte frames that show them; other Time nodes are named in the log and not applied.
* A prompt node drawn on an image the Source shows through other nodes (:func:`carry_to_source`): a
  Transform / TimeOffset / FrameHold between them is carried into the Source's pixels and frames, nodes of
  :data:`PIXEL_CLASSES` change nothing, any other node is refused (PROMPT_INVALID).

Object names go through ``samatte.names.safe_name``; the host's name travels as ``host_name``.
"""
import re

from .convert import apply_matrix, bezier_point, framehold_source, matmul, signed_feather, timeoffset_source
from .convert import transform_matrix, node_key, written_part
from .convert import is_disabled as _disabled
from .convert import is_samatte_node
from .convert import disable_keyed as _disable_keyed
from .convert import shown_inputs as _shown_inputs
from .convert import animated_switch as _animated_switch
from .convert import switch_input as _switch_input

__all__ = ["prompt_nodes", "gather_roto", "gather_tracker", "gather_objects", "TrackerTable",
           "PROMPT_CLASSES", "TIME_CLASSES", "retimed_prompt_nodes", "prompt_sources", "matte_nodes", "time_node_map",
           "PIXEL_CLASSES", "moves_nothing", "carry_to_source", "check_rendered_prompts"]

PROMPT_CLASSES = ("Roto", "RotoPaint", "Tracker4")
_MAX_UPSTREAM = 500


def _is_prompt(node):
    """An enabled Roto / RotoPaint / Tracker4 (a disabled one passes its input through: Nuke draws none of
    its shapes), or one whose 'disable' is keyed (enabled on some frames: :func:`prompt_sources` counts it on
    those alone; before, the value on the frame the Viewer stood on decided for every frame)."""
    return node.Class() in PROMPT_CLASSES and (_disable_keyed(node) or not _disabled(node))


def prompt_nodes(start):
    """Enabled Roto / RotoPaint / Tracker4 nodes at ``start`` or upstream of it (breadth first, each once,
    through the inputs each node shows: :func:`samatte_nuke.convert.shown_inputs`): a chain Roto ->
    RotoPaint -> Tracker4 -> SAMatte gives all three; a disabled one, or one behind a Switch input not
    shown, none."""
    return _upstream(start, _is_prompt)


def _upstream(start, pick):
    """The nodes at ``start`` or upstream of it for which ``pick(node)`` is true, breadth first through the inputs
    each node shows (:func:`samatte_nuke.convert.shown_inputs`), each node once, at most ``_MAX_UPSTREAM``."""
    out, seen, todo = [], set(), [start]
    while todo and len(seen) < _MAX_UPSTREAM:
        n = todo.pop(0)
        key = None if n is None else node_key(n)
        if key is None or key in seen:
            continue
        seen.add(key)
        if pick(n):
            out.append(n)
        todo.extend(_shown_inputs(n))
    return out


#: nodes that change the time upstream nodes are seen at (Foundry's Time menu): a prompt node behind
#: one is read at its own frames, not at the retimed ones the Prompts input shows
TIME_CLASSES = ("TimeOffset", "TimeClip", "FrameHold", "Retime", "TimeWarp", "OFlow", "OFlow2", "Kronos",
                "TimeBlur", "TimeEcho")


def retimed_prompt_nodes(start):
    """``[(prompt node, time node)]``: each Roto / RotoPaint / Tracker4 upstream of ``start`` that is
    reached only through a node of :data:`TIME_CLASSES` (the first such node on its path). samatte reads
    its shapes and tracks at their own frames, so a host warns about these."""
    out, seen, todo = [], set(), [(start, None)]
    while todo and len(seen) < _MAX_UPSTREAM:
        n, via = todo.pop(0)
        key = None if n is None else node_key(n)
        if key is None or key in seen:
            continue
        seen.add(key)
        if _is_prompt(n) and via is not None:
            out.append((n, via))
        if via is None and n.Class() in TIME_CLASSES:
            via = n
        todo.extend((m, via) for m in _shown_inputs(n))
    return out


def _knob_number(node, names, t):
    """The first of ``names`` that ``node`` has, as a number at frame ``t`` (None when it has none)."""
    for name in names:
        k = node.knob(name)
        if k is None:
            continue
        try:
            return float(k.getValueAt(t))
        except Exception:  # noqa: BLE001 - a knob without getValueAt in this Nuke
            try:
                return float(k.value())
            except Exception:  # noqa: BLE001
                return None
    return None


def time_node_map(node):
    """For one node of :data:`TIME_CLASSES`: a function from the frame the node is viewed at to the frame
    its input is read at (None on frames where that is not documented), or None when the node's mapping
    is not settled by Foundry's documentation (Retime, TimeWarp, OFlow, Kronos, TimeClip, TimeBlur,
    TimeEcho, a TimeOffset with ``reverse_input``). A disabled node passes frames through; one whose 'disable'
    is keyed on the frames where it is disabled there (before: on every frame or none, by its value on the frame
    the Viewer stood on)."""
    if _disable_keyed(node):
        m = _time_node_map(node)
        if m is None:
            return None
        return lambda t: t if _disabled(node, t) else m(t)
    if _disabled(node):
        return lambda t: t
    return _time_node_map(node)


def _time_node_map(node):
    """:func:`time_node_map` of an enabled node."""
    cls = node.Class()
    if cls == "TimeOffset":
        rev = _knob_number(node, ("reverse_input",), 0)
        if rev:
            return None

        def offset(t):
            off = _knob_number(node, ("time_offset",), t) or 0.0
            return timeoffset_source(t, int(round(off)))
        return offset
    if cls == "FrameHold":
        def hold(t):
            # 'first_frame' in Foundry's FrameHold reference; 'firstFrame' as openfx-misc's copy names it
            first = _knob_number(node, ("firstFrame", "first_frame"), t) or 0.0
            inc = _knob_number(node, ("increment",), t) or 0.0
            return framehold_source(t, int(round(first)), int(round(inc)))
        return hold
    return None


def matte_nodes(start):
    """The SAMatte nodes at ``start`` or upstream of it that it shows (breadth first, through what each node shows:
    :func:`samatte_nuke.convert.shown_inputs`): their alpha is a matte, what refine only renders as its masks when
    the Prompts input shows one (a SAMatte node draws none of its own Prompts input's shapes, so no Roto is found
    behind it)."""
    return _upstream(start, lambda n: is_samatte_node(n) and not _disabled(n))


def prompt_sources(start, *, log=None):
    """``[(prompt node, time)]`` for each Roto / RotoPaint / Tracker4 at ``start`` or upstream of it (as
    :func:`prompt_nodes`, breadth first): ``time`` maps a SAMatte (script) frame to the frame the prompt
    node is read at through the Time nodes on its path (TimeOffset, FrameHold: :func:`time_node_map`), or
    is None when there is no Time node on the path. A path through a Time node whose mapping is not
    documented (Retime, TimeWarp, ...) gives ``time`` None too, and ``log`` says so: the node is read at its
    own frames. Where a node is reached by several paths, the first (shortest) one is used. Only what the
    Prompts input shows counts (:func:`samatte_nuke.convert.shown_inputs`): a disabled prompt node (``log``
    names it) and the inputs a Switch does not show give nothing; before, their shapes and tracks were
    prompted although Nuke draws none of them."""
    out, seen, todo = [], set(), [(start, ())]
    while todo and len(seen) < _MAX_UPSTREAM:
        n, chain = todo.pop(0)
        key = None if n is None else node_key(n)
        if key is None or key in seen:
            continue
        seen.add(key)
        if _is_prompt(n):
            # a node whose 'disable' is keyed draws on the frames where it is enabled (read at its own frame): a
            # gate at the end of its path, as an animated Switch's (before: prompted on every frame or on none,
            # by the value on the frame the Viewer showed when the button was pressed)
            out.append((n, _chain_time(n, chain + ((("enabled", n),) if _disable_keyed(n) else ()), log)))
        elif n.Class() in PROMPT_CLASSES and log:
            log("%s is disabled: its shapes and tracks are left out" % n.name())
        if n.Class() in TIME_CLASSES:
            chain = chain + (n,)
        if _animated_switch(n):
            # a Switch with an animated 'which' shows input i on the frames where 'which' is i (Foundry: the
            # input to display): what lies behind input i is seen on those frames alone. Before: every input
            # on every frame, prompts of two versions of a roto mixed
            todo.extend((n.input(i), chain + (("switch", n, i),)) for i in range(n.inputs()))
            continue
        if _disable_keyed(n) and n.Class() != "Input":
            # keyed 'disable' (a Merge of two rotos switched off on some frames): it passes its input 0 through
            # where it is off and shows its inputs where it is on, each read frame by frame as a prompt node's own
            # (before: the value on the frame the Viewer stood on decided for every frame: the rotos behind its
            # other inputs prompted where Nuke draws none of them, or left out everywhere)
            todo.extend(_keyed_inputs(n, chain))
            continue
        todo.extend((m, chain) for m in _shown_inputs(n))
    return out


def _gate_open(steps, t):
    """Whether the ``("enabled" | "disabled", node)`` gates of ``steps`` (from :func:`_keyed_inputs`) let frame ``t``
    through: the node's keyed 'disable' read on ``t``."""
    return all(_disabled(g[1], t) == (g[0] == "disabled") for g in steps)


def _keyed_inputs(node, chain):
    """``[(input, chain)]`` of a node whose 'disable' is keyed (not an animated Switch): the inputs it shows
    where it is enabled, gated ``("enabled", node)`` but for input 0, which it shows (or passes through) either
    way; input 0 of one that does not show it when enabled (a Switch on another input) gated ``("disabled",
    node)``."""
    n_in = node.inputs()
    if n_in == 0:
        return []
    shown = _switch_input(node) if node.Class() == "Switch" else None   # (a Switch's unanimated 'which')
    on = [shown] if shown is not None else list(range(n_in))
    out = [(node.input(i), chain + ((("enabled", node),) if i else ())) for i in on]
    if 0 not in on:
        out.append((node.input(0), chain + (("disabled", node),)))
    return out


def _chain_time(node, chain, log):
    """The composed frame map of the Time nodes in ``chain`` (nearest the SAMatte node first), or None."""
    if not chain:
        return None
    gates = [step for step in chain if isinstance(step, tuple)]
    times = [step for step in chain if not isinstance(step, tuple)]
    maps = []
    for tn in times:
        m = time_node_map(tn)
        if m is None:
            if log:
                log("%s reaches the Prompts input through %s (%s): its shapes and tracks are read at their "
                    "own frames, the retime is not applied; connect it directly, or bake the retime into "
                    "its keys" % (node.name(), tn.name(), tn.Class()))
            if not gates:
                return None
            # (read at its own frames, as without a Switch; the Switch is still followed frame by frame)
            maps, chain = [], gates
            break
        maps.append(m)
    else:
        if log and times:
            log("%s reaches the Prompts input through %s: its keys are placed on the frames the SAMatte node "
                "sees them on" % (node.name(), ", ".join("%s (%s)" % (tn.name(), tn.Class()) for tn in times)))
    steps = iter(maps)
    # in path order (nearest the SAMatte node first): a Time node maps the frame, a Switch gate is read at the
    # frame it is viewed at and lets the frame through only where it shows that input
    order = [step if isinstance(step, tuple) else next(steps) for step in chain]

    def composed(t):
        s = t
        for step in order:
            if s is None:
                return None
            if isinstance(step, tuple) and step[0] in ("enabled", "disabled"):
                # (a node keyed off and on, read on its frame s: the prompt node itself, or a node on its path)
                if not _gate_open((step,), s):
                    return None
            elif isinstance(step, tuple):
                _, sw, i = step
                if _switch_input(sw, s) != i:
                    return None
            else:
                s = step(s)
        return None if s is None else int(round(s))
    composed.switched = bool(gates)          # (read by _carried: the Switch still decides where it is seen)
    composed.retimed = bool(maps)
    return composed


#: nodes that do not move pixels (the Source may show a prompt node's input through them; README "Nuke"):
#: colour, filters that keep every pixel where it is, channel plumbing, merges and the prompt nodes themselves.
#: Besides these: a disabled node, a Switch (its shown input is followed), a Crop without 'reformat', a Tracker4
#: whose 'transform' is 'none'. Any other node may move pixels: a prompt node behind one is refused.
PIXEL_CLASSES = (
    "Dot", "NoOp", "Grade", "ColorCorrect", "Saturation", "HueCorrect", "HueShift", "ColorLookup", "Multiply",
    "Add", "Gamma", "Exposure", "Clamp", "Invert", "Colorspace", "OCIOColorSpace", "OCIOCDLTransform",
    "OCIOFileTransform", "OCIOLookTransform", "Log2Lin", "Blur", "Defocus", "Sharpen", "Soften", "Median",
    "Denoise", "Denoise2", "Grain2", "Shuffle", "Shuffle2", "ShuffleCopy", "Copy", "ChannelMerge", "Remove",
    "AddChannels", "Premult", "Unpremult", "Merge2", "Keymix", "Dissolve", "Keyer", "Roto", "RotoPaint", "Switch",
    "OneView", "JoinViews", "ModifyMetaData", "CopyMetaData", "PostageStamp", "ColorMatrix", "Histogram", "SoftClip", "Toe2",
    "Input")   # (an Input inside a Group passes its Group's input: convert.shown_inputs follows it there)


def moves_nothing(node):
    """Whether ``node`` shows every pixel of its input where its input has it, on the same frame
    (:data:`PIXEL_CLASSES`, and the cases listed there). A node whose 'disable' is keyed counts as enabled here
    (the frames it is disabled on are read per frame: :func:`time_node_map`, :func:`_transform_at`)."""
    if _disabled(node) and not _disable_keyed(node):
        return True
    cls = node.Class()
    if cls in PIXEL_CLASSES or is_samatte_node(node):   # (a SAMatte node upstream: its Source's pixels, mattes added)
        return True
    if cls == "Crop":   # Foundry: 'reformat' off keeps the input's format, pixels outside the box go black
        k = node.knob("reformat")
        return k is None or not k.value()
    if cls == "Reformat":   # to a format of its input's own size, not flipped, flopped or turned: the identity
        return _same_size_reformat(node)
    if cls == "Tracker4":   # Foundry's Tracker4 'transform': none | stabilize | match-move | remove / add jitter
        k = node.knob("transform")
        return k is None or str(k.value()) == "none"
    if cls == "TransformMasked":   # one that moves nothing of the colours: seen through (see transform_masked_kind)
        return transform_masked_kind(node) == "still"
    return False


#: a TransformMasked's transform knobs and their identity values (Foundry's reference: those of the Transform node)
_IDENTITY = (("translate", 0, 0.0), ("translate", 1, 0.0), ("rotate", 0, 0.0), ("scale", 0, 1.0), ("scale", 1, 1.0),
             ("skewX", 0, 0.0), ("skewY", 0, 0.0))


def transform_masked_kind(node):
    """How a TransformMasked changes the colours samatte reads. Foundry's TransformMasked reference: it translates,
    rotates, scales or skews "in the same way as the Transform node" (its knobs: translate, rotate, scale, skewX,
    skewY, skew_order, center), only on the channels of its 'channels' knob (default all), and with a mask "limited to
    the non-black areas of the mask". ``"still"``: its transform knobs unanimated at their identity values, or
    'channels' naming no colour channel (alpha only): the colours are its input's, as a Transform's that moves
    nothing; ``"masked"``: a mask is set (its 'maskChannelInput' not none): part of the picture moves and part not,
    so no one move carries shapes drawn under it; ``"move"``: the whole picture moved as a Transform with those knobs
    moves it. Before, any TransformMasked was an unknown node (PROMPT_INVALID "it may move pixels")."""
    from .job import _names_rgb
    ch = node.knob("channels")
    if ch is not None and not ch.isAnimated() and not _names_rgb(ch.value()):
        return "still"
    still = True
    for name, index, identity in _IDENTITY:
        k = node.knob(name)
        if k is None:
            continue
        if k.isAnimated() or abs(_knob_at(node, name, 0, index, identity) - identity) > 1e-9:
            still = False
            break
    if still:
        return "still"
    mask = node.knob("maskChannelInput")
    if mask is not None and str(mask.value()).strip().lower() not in ("", "none"):
        return "masked"
    return "move"


def _same_size_reformat(node):
    """A Reformat (Foundry's reference: type 'to format', output 'format'; flip, flop, turn) whose output
    format is its input's size and pixel aspect, unflipped: it shows every pixel where its input has it."""
    up = node.input(0)
    try:
        if up is None or str(node["type"].value()) != "to format":
            return False
        a, b = node.format(), up.format()
        same = (a.width(), a.height(), a.pixelAspect()) == (b.width(), b.height(), b.pixelAspect())
    except Exception:  # noqa: BLE001 - knobs or formats not as documented: may move pixels
        return False
    flips = any(node.knob(k) is not None and node[k].value() for k in ("flip", "flop", "turn"))
    return same and not flips


def _upstream_paths(source):
    """{node_key(node): (node, [nodes from ``source`` down to it, ``source`` first, the node excluded])} for
    ``source`` and every node it shows upstream (breadth first: the shortest path)."""
    out, todo = {}, [(source, [])]
    while todo and len(out) < _MAX_UPSTREAM:
        n, path = todo.pop(0)
        key = None if n is None else node_key(n)
        if key is None or key in out:
            continue
        out[key] = (n, path)
        todo.extend((m, path + [n]) for m in _shown_inputs(n))
    return out


def _between(paths, base):
    """The nodes on any path from the Source down to ``base`` (``base`` excluded): those of ``paths`` (from
    :func:`_upstream_paths`) from which ``base`` can be reached."""
    reach = {node_key(base): True}

    def reaches(n, depth=0):
        key = node_key(n)
        if key not in reach:
            reach[key] = False   # (a cycle reaches nothing new)
            reach[key] = depth < _MAX_UPSTREAM and any(
                m is not None and reaches(m, depth + 1) for m in _shown_inputs(n))
        return reach[key]
    return [n for key, (n, _) in paths.items() if key != node_key(base) and reaches(n)]


def _knob_at(node, name, t, index=0, default=0.0):
    k = node.knob(name)
    if k is None:
        return default
    try:
        return float(k.getValueAt(t, index))
    except Exception:  # noqa: BLE001 - a knob without getValueAt
        v = k.value()
        return float(v[index] if isinstance(v, (list, tuple)) else v)


def _transform_at(node, t):
    """A Transform node's matrix at frame ``t`` (:func:`samatte_nuke.convert.transform_matrix`); None (the
    identity) on a frame where its keyed 'disable' is on (it passes its input through there)."""
    if _disable_keyed(node) and _disabled(node, t):
        return None
    order = node.knob("skew_order")
    inv = node.knob("invert_matrix")
    return transform_matrix(
        (_knob_at(node, "translate", t, 0), _knob_at(node, "translate", t, 1)), _knob_at(node, "rotate", t),
        (_knob_at(node, "scale", t, 0, 1.0), _knob_at(node, "scale", t, 1, 1.0)),
        (_knob_at(node, "skewX", t), _knob_at(node, "skewY", t)),
        (_knob_at(node, "center", t, 0), _knob_at(node, "center", t, 1)),
        skew_order_yx=order is not None and str(order.value()) == "YX",
        invert=bool(inv is not None and inv.value()))


def _refuse_move(prompt, base, via, source, why):
    from samatte.errors import PromptError
    raise PromptError(
        "%s is drawn on %s, which the Source (%s) shows through %s (%s): %s, so its shapes and tracks would not "
        "sit on the object in the plate samatte mattes; connect %s to %s (the node the Source shows), or "
        "connect the Source to %s" % (prompt.name(), base.name(), source.name(), via.name(), via.Class(), why,
                                      prompt.name(), source.name(), base.name()))


def carry_to_source(sources, source, *, log=None, prompts=None):
    """``[(prompt node, time, matrix)]`` from :func:`prompt_sources`'s pairs: each prompt node's shapes and
    tracks carried into the Source's space and time. A prompt node is drawn on its input (the image it is
    connected to, found through other prompt nodes and :func:`moves_nothing` nodes); where the Source shows
    that image through other nodes, the ones between are read: :func:`moves_nothing` nodes change nothing, a
    TimeOffset / FrameHold (:func:`time_node_map`) maps the frames (``time``: SAMatte frame -> the prompt
    node's frame; it replaces the Prompts input's own Time nodes), a Transform (Foundry's knobs:
    :func:`samatte_nuke.convert.transform_matrix`, animated or not) maps the pixels (``matrix``: SAMatte
    frame -> 16 numbers, Nuke coordinates). Any other node (Retime, CornerPin2D, a Crop with 'reformat', a
    Tracker4 that moves its image, an unknown node) is refused (PromptError, PROMPT_INVALID, naming it):
    before, the prompts were read as the Source's pixels and frames, a misplaced matte with no message. A
    prompt node with no input, connected to the Source's own node, or to an image the Source does not show,
    is as before (``matrix`` None, ``time`` unchanged). ``prompts`` (the Prompts input, when given): a Transform
    between a prompt node and it is carried too (:func:`_prompts_side`), the shapes as the Prompts input shows
    them."""
    out = [_prompts_side(item, source, prompts, log) for item in _carry_to_source(sources, source, log=log)]
    return out


def _prompts_side(item, source, prompts, log):
    """One of :func:`carry_to_source`'s triples with the Transforms between its prompt node and the Prompts input
    ``prompts`` applied (on the Prompts input's way down to it, read at the frames the Time nodes above each show):
    the shapes and tracks where the Prompts input shows them (before: where drawn, the Transform ignored; refine
    only renders them moved). Where the Source shows the node's image moved as well, the same Transforms (the same
    nodes, or alike: both inputs below one Transform, a copy aligning the roto) are applied once; other ones are
    refused (PROMPT_INVALID, naming the node)."""
    n, time, matrix = item
    if prompts is None:
        return item
    found = _upstream_paths(prompts).get(node_key(n))
    if found is None:
        return item
    ppath = found[1]
    movers = [v for v in ppath if v.Class() == "Transform" and (_disable_keyed(v) or not _disabled(v))]
    if not movers:
        return item
    paths = _upstream_paths(source)
    base = _drawn_on(n, paths)
    smovers = [v for v in paths[node_key(base)][1]
               if v.Class() == "Transform" and (_disable_keyed(v) or not _disabled(v))] if base else []
    if smovers:
        if len(smovers) == len(movers) and all(_same_move(a, b) for a, b in zip(movers, smovers)):
            return item    # (the same move: carried once, on the Source's side)
        from samatte.errors import PromptError
        raise PromptError(
            "%s reaches the Prompts input through %s (%s), and the Source (%s) shows the image it is drawn on through "
            "%s: its shapes would be moved twice, or not as the Prompts input shows them; connect %s to the Prompts "
            "input directly, or move both inputs with one Transform" % (
                n.name(), movers[0].name(), movers[0].Class(), source.name(),
                ", ".join(v.name() for v in smovers), n.name()))
    try:
        pixel_aspect = float(source.format().pixelAspect())
    except Exception:  # noqa: BLE001
        pixel_aspect = 1.0
    for via in movers:
        turns = any(via.knob(k) is not None and (via[k].isAnimated() or _knob_at(via, k, 0))
                    for k in ("rotate", "skewX", "skewY"))
        if pixel_aspect != 1.0 and turns:
            from samatte.errors import PromptError
            raise PromptError("%s reaches the Prompts input through %s (%s), which rotates or skews a plate of pixel "
                              "aspect %g: connect %s to the Prompts input directly" % (
                                  n.name(), via.name(), via.Class(), pixel_aspect, n.name()))

    mover_keys = set(node_key(v) for v in movers)

    def pmatrix(t):
        tt, m = t, None
        for v in ppath:
            if v.Class() in TIME_CLASSES:
                f = time_node_map(v)
                tt = tt if f is None or f(tt) is None else int(round(f(tt)))
            elif node_key(v) in mover_keys:
                m = matmul(m, _transform_at(v, tt))
        return m if matrix is None else matmul(matrix(t), m)
    if log:
        log("%s reaches the Prompts input through %s: its shapes and tracks are carried through it, as the Prompts "
            "input shows them" % (n.name(), ", ".join("%s (%s)" % (v.name(), v.Class()) for v in movers)))
    return n, time, pmatrix


def _carry_to_source(sources, source, *, log=None):
    paths = _upstream_paths(source)
    out = []
    for n, ptime in sources:
        base = _drawn_on(n, paths)
        if base is None:
            out.append((n, ptime, None))
            continue
        steps = []
        # the Source may show the prompt node's image through several paths (a Merge of the plate and a moved
        # copy): carried only when every node that may move pixels is on the one path followed
        path = paths[node_key(base)][1]
        on_path = set(node_key(v) for v in path)
        for via in _between(paths, base):
            if node_key(via) not in on_path and not moves_nothing(via):
                _refuse_move(n, base, via, source, "the Source shows %s through more than one path, moved on "
                             "this one" % base.name())
        if any(not moves_nothing(v) for v in path) and len(_between(paths, base)) != len(on_path):
            _refuse_move(n, base, next(v for v in path if not moves_nothing(v)), source,
                         "the Source shows %s through more than one path" % base.name())
        pixel_aspect = 1.0
        try:
            pixel_aspect = float(source.format().pixelAspect())
        except Exception:  # noqa: BLE001
            pass
        steps.extend(_carry_step(n, base, via, source, pixel_aspect) for via in path if not moves_nothing(via))
        if any(_animated_switch(v) for v in _between(paths, base)):
            # an animated Switch on the Source's way to the image the prompt node is drawn on: its shapes and
            # tracks count only on the frames the Source shows that image (before: on every frame, a roto of
            # one input prompted where the Source shows the other)
            ptime = _source_gate(n, ptime, source, base, log)
        if not steps:
            out.append((n, ptime, None))
            continue
        out.append(_carried(n, ptime, steps, log))
    return out



def _carry_step(n, base, via, source, pixel_aspect):
    """The step (:func:`_carried`'s ``("time", map)`` or ``("space", node)``) that carries prompt node ``n``'s
    shapes, drawn on ``base``, through ``via`` on the Source's way to it; refused (PROMPT_INVALID) where none does."""
    cls = via.Class()
    if cls in TIME_CLASSES:
        m = time_node_map(via)
        if m is None:
            _refuse_move(n, base, via, source, "its frame mapping is not documented by Foundry")
        return ("time", m)
    if cls == "Transform" or (cls == "TransformMasked" and transform_masked_kind(via) == "move"):
        turns = any(via.knob(k) is not None and (via[k].isAnimated() or _knob_at(via, k, 0))
                    for k in ("rotate", "skewX", "skewY"))
        if pixel_aspect != 1.0 and turns:
            _refuse_move(n, base, via, source, "it rotates or skews a plate of pixel aspect %g" % pixel_aspect)
        return ("space", via)
    if cls == "TransformMasked":   # (its mask set: "masked")
        _refuse_move(n, base, via, source, "it moves only the part of the picture its mask (%s) lets through, "
                     "not the whole picture as a Transform does (clear its mask, or use a Transform)"
                     % via["maskChannelInput"].value())
    _refuse_move(n, base, via, source, "it may move pixels and samatte cannot carry shapes through it")


def _shows(source, base, t):
    """Whether ``source`` shows ``base`` on SAMatte frame ``t``: its inputs followed as shown on that frame (an
    animated Switch's 'which' read there, a TimeOffset / FrameHold mapping the frame for the nodes above it)."""
    todo, seen, bkey = [(source, t)], set(), node_key(base)
    while todo and len(seen) < _MAX_UPSTREAM:
        n, s = todo.pop(0)
        key = None if n is None else node_key(n)
        if key is None or s is None or (key, s) in seen:
            continue
        if key == bkey:
            return True
        seen.add((key, s))
        if _animated_switch(n):
            todo.append((n.input(_switch_input(n, s)), s))
            continue
        if _disable_keyed(n) and n.Class() != "Input":   # (what it shows on frame s: its input 0 where it is off)
            todo.extend((m_, s) for m_, gate in _keyed_inputs(n, ()) if _gate_open(gate, s))
            continue
        if n.Class() in TIME_CLASSES:
            m = time_node_map(n)
            s = s if m is None else m(s)
            s = None if s is None else int(round(s))
        todo.extend((m_, s) for m_ in _shown_inputs(n))
    return False


def _source_gate(node, ptime, source, base, log):
    """``ptime`` gated to the SAMatte frames on which ``source`` shows ``base`` (:func:`_shows`)."""
    if log:
        log("%s is drawn on %s, which the Source (%s) shows through a Switch with an animated 'which': its shapes "
            "and tracks count only on the frames the Source shows %s" % (node.name(), base.name(), source.name(),
                                                                       base.name()))
    shown = {}

    def gated(t):
        if t not in shown:
            shown[t] = _shows(source, base, t)
        if not shown[t]:
            return None
        return t if ptime is None else ptime(t)
    gated.switched = True   # (read by _carried: the Switch decides where it is seen)
    gated.retimed = bool(getattr(ptime, "retimed", ptime is not None))
    gated.source_gate = True
    return gated


def _drawn_on(node, paths):
    """The image a prompt node is drawn on, when the Source shows it (a node of ``paths``): its input, or the
    first node the Source shows down its input chain through other prompt nodes and :func:`moves_nothing`
    nodes; None when it has no input or the Source does not show that image."""
    base = node.input(0) if node.inputs() else None
    while (base is not None and node_key(base) not in paths
           and (base.Class() in PROMPT_CLASSES or moves_nothing(base)) and base.inputs()):
        base = _shown_inputs(base)[0] if _shown_inputs(base) else None
    return base if base is not None and node_key(base) in paths else None


_NOT_PIXELS = ("name", "label", "xpos", "ypos", "selected", "note_font", "note_font_size", "tile_color", "hide_input",
               "postage_stamp", "gl_color", "icon", "indicators")


def _same_move(a, b):
    """The same node, or nodes of one class with the same knobs (their script text: values and animation):
    a Reformat of the roto like the plate's."""
    if node_key(a) == node_key(b):
        return True
    if a.Class() != b.Class():
        return False
    try:
        ka, kb = a.knobs(), b.knobs()
        names = (set(ka) | set(kb)) - set(_NOT_PIXELS)
        return all(n in ka and n in kb and ka[n].toScript() == kb[n].toScript() for n in names)
    except Exception:  # noqa: BLE001 - knobs not readable: not shown alike
        return False


def check_rendered_prompts(sources, prompts_in, source):
    """Refine only, where the Prompts input's alpha is rendered as Nuke shows it: refuse (PROMPT_INVALID) a
    prompt node drawn on an image that the Source shows moved or retimed (a node :func:`moves_nothing` does
    not list on the Source's way to it) unless the Prompts input shows it through the same nodes, or nodes of
    the same class and knobs (both inputs below one Transform, or the roto reformatted like the plate). Before: the mask was rendered where the Roto was drawn, not where
    the Source shows the object."""
    src_paths, pr_paths = _upstream_paths(source), _upstream_paths(prompts_in)
    for n, _time in sources:
        base = _drawn_on(n, src_paths)
        if base is None:
            continue
        movers = [v for v in src_paths[node_key(base)][1] if not moves_nothing(v)]
        if not movers:
            continue
        shown = pr_paths.get(node_key(base))
        alike = shown is not None and [v for v in shown[1] if not moves_nothing(v)]
        if not alike or len(alike) != len(movers) or not all(_same_move(a, b) for a, b in zip(alike, movers)):
            _refuse_move(n, base, movers[0], source, "in refine only the Prompts input's alpha is rendered as "
                         "it is, not moved with the Source")


def _carried(node, ptime, steps, log):
    def place(t):
        tt, m = t, None
        for kind, what in steps:
            if kind == "time":
                tt = what(tt)
                if tt is None:
                    return None, None
            else:
                m = matmul(m, _transform_at(what, tt))
        return int(round(tt)), m
    timed = any(kind == "time" for kind, _ in steps)
    moved = any(kind == "space" for kind, _ in steps)
    if timed and ptime is not None and getattr(ptime, "retimed", True) and log:
        log("%s: the Time nodes between it and the Prompts input are not applied: its frames are carried into "
            "the Source's through the Time nodes the Source shows its input through" % node.name())
    time = (lambda t: place(t)[0]) if timed else ptime
    if timed and getattr(ptime, "switched", False):
        # behind a Switch with an animated 'which': seen only on the frames the Prompts input shows it (before,
        # the Source's Time nodes replaced that too: every input of the Switch counted on every frame)
        time = (lambda t: place(t)[0] if ptime(t) is not None else None)
    matrix = (lambda t: place(t)[1]) if moved else None
    if log:
        log("%s is carried into the Source's %s" % (node.name(), " and ".join(
            w for w, on in (("frames", timed), ("pixels", moved)) if on)))
    return node, time, matrix


def _source_frames(frames, time):
    """{SAMatte frame: prompt-node frame or None} for the job's frames."""
    return {t: (t if time is None else time(t)) for t in frames}


def _prompt_frames(frames, src, keys):
    """The SAMatte frames that show a keyed frame of the prompt node: for each key, the first frame of
    the range on which it is seen (a FrameHold shows one key on many frames; it is prompted once)."""
    keyset, used, out = set(keys), set(), []
    for t in frames:
        s = src[t]
        if s is None or s in used or s not in keyset:
            continue
        used.add(s)
        out.append(t)
    return out


def _matrix(transform, t):
    """A rotopaint AnimCTransform at time t as 16 numbers (row-major)."""
    if transform is None:
        return None
    m = transform.evaluate(t).getMatrix()
    return [float(m[i]) for i in range(16)]


def _is_layer(e, rp):
    return isinstance(e, rp.Layer)


def _is_shape(e, rp):
    return isinstance(e, rp.Shape)


def _is_stroke(e, rp):
    return isinstance(e, rp.Stroke)


#: AnimCTransform's key-time getters (Foundry: nuke.rotopaint.AnimCTransform): every part of a
#: transform that can move a shape
_TRANSFORM_KEY_TIMES = ("getTranslationKeyTimes", "getRotationKeyTimes", "getScaleKeyTimes",
                        "getSkewXKeyTimes", "getPivotPointKeyTimes")


def _key_times(elem, rp, chain=()):
    """Frames on which an element is keyed: its points' keys and the keys of every transform in
    ``chain`` (its own and its layers' up to the root: a static shape in a layer linked to a track
    moves on the layer's keys)."""
    times = set()
    if _is_shape(elem, rp):
        for cp in elem:
            times.update(cp.center.getControlPointKeyTimes())
    else:
        for p in elem:
            times.update(p.getControlPointKeyTimes())
    for tr in list(chain) or [elem.getTransform()]:
        for getter in _TRANSFORM_KEY_TIMES:
            fn = getattr(tr, getter, None)
            if fn is not None:
                try:
                    times.update(fn())
                except Exception:  # noqa: BLE001 - optional API
                    pass
        times.update(_extra_matrix_key_times(tr))
    return sorted(set(int(round(t)) for t in times))


def _extra_matrix_key_times(transform):
    """The key times of a transform's extra matrix (the Transform tab's extra matrix: a layer or shape driven by
    a planar track or a corner pin moves on its keys; before, they were not prompt frames, so such a shape was
    prompted on the range's first frame only). Foundry: AnimCTransform.getExtraMatrixAnimCurve(i, j), "the
    AnimCurve object for the 4i+j element in the transform's extra matrix"; AnimCurve.getNumberOfKeys() /
    getKey(index) -> AnimCurveKey, whose ``time`` is "the time this key is set at"."""
    curve_of = getattr(transform, "getExtraMatrixAnimCurve", None)
    out = set()
    if curve_of is None:
        return out
    try:
        for i in range(4):
            for j in range(4):
                curve = curve_of(i, j)
                out.update(float(curve.getKey(k).time) for k in range(int(curve.getNumberOfKeys())))
    except Exception:  # noqa: BLE001 - a Nuke without the extra matrix's curves
        pass
    return out


def _alive(elem, t):
    """Whether ``t`` is inside the element's lifetime (Roto's Lifetime tab, attributes ``ltt`` type:
    0 all frames, 1 start to frame, 2 single frame, 3 frame to end, 4 frame range; ``ltn`` from, ``ltm``
    to). An element without these attributes lives on every frame."""
    attrs = elem.getAttributes()
    if attrs is None:
        return True
    try:
        kind = int(round(float(attrs.getValue(t, "ltt"))))
        lo = float(attrs.getValue(t, "ltn"))
        hi = float(attrs.getValue(t, "ltm"))
    except Exception:  # noqa: BLE001 - no lifetime attributes in this Nuke
        return True
    if kind == 1:
        return t <= hi
    if kind == 2:
        return t == int(round(lo))
    if kind == 3:
        return t >= lo
    if kind == 4:
        return lo <= t <= hi
    return True


def _elements(layer, rp, chain, parents=()):
    """(element, [transform chain, outermost first], (enclosing layers, outermost first)) for every
    shape/stroke under ``layer``."""
    for e in layer:
        if _is_layer(e, rp):
            for sub in _elements(e, rp, chain + [e.getTransform()], parents + (e,)):
                yield sub
        elif _is_shape(e, rp) or _is_stroke(e, rp):
            yield e, chain + [e.getTransform()], parents


def _write_on(elem, t):
    """A paint stroke's (write on start, write on end) on frame ``t``, each clamped to [0, 1], or None where
    the stroke has no such attributes (drawn whole). Foundry lists them among AnimAttributes' "constants for
    standard names in use by Nuke" (``kWriteOnStartAttribute``, ``kWriteOnEndAttribute``; read through those
    constants, whose strings are not documented, and only when ``name in attributes``); the Stroke tab's
    write on start / end (default 0 and 1) draw the part of the stroke between them, as fractions of its
    length along the curve (its parameter from 0, the first point, to 1, the last one: CubicCurve.getPoint)."""
    attrs = elem.getAttributes()
    try:
        names = (attrs.kWriteOnStartAttribute, attrs.kWriteOnEndAttribute)
        if not all(isinstance(n, str) and n in attrs for n in names):
            return None
        lo, hi = (min(1.0, max(0.0, float(attrs.getValue(t, n)))) for n in names)
    except Exception:  # noqa: BLE001 - no attributes, or a Nuke without these constants
        return None
    return lo, hi


def _shown(elem, parents, t, rp=None):
    """Whether an element draws on frame ``t``: it and every layer around it visible and alive (a
    hidden layer hides its shapes, as in the Viewer), the element's opacity ('opc') above 0, and for a
    paint stroke (``rp`` given: nuke.rotopaint) some of it written on (write on start below write on end)."""
    for e in tuple(parents) + (elem,):
        visible = getattr(e, "getVisible", None)   # (Layer is an Element: it has it; be safe)
        if (visible is not None and not visible(t)) or not _alive(e, t):
            return False
    span = _write_on(elem, t) if rp is not None and _is_stroke(elem, rp) else None
    if span is not None and span[0] >= span[1]:
        return False
    attrs = elem.getAttributes()
    try:
        return attrs is None or float(attrs.getValue(t, "opc")) > 0.0
    except Exception:  # noqa: BLE001 - no opacity attribute
        return True


#: the 'bm' attribute (blending mode, an index into RotoPaint's blending_mode menu) of 'minus', the
#: mode that cuts a shape out of those below it (as read by public tools: a RotoEvaluate script tests
#: ``getValue(frame, 'bm') == 12``; a Roto exporter's measured table maps 12 to "minus")
_BLEND_MINUS = 12


def _mode(elem, t):
    """``subtract`` for an element named ``-...`` or blended with minus, else ``add``."""
    if elem.name.startswith("-"):
        return "subtract"
    attrs = elem.getAttributes()
    try:
        bm = float(attrs.getValue(t, "bm")) if attrs is not None else 0.0
    except Exception:  # noqa: BLE001 - no blending attribute
        bm = 0.0
    return "subtract" if int(round(bm)) == _BLEND_MINUS else "add"


def _is_open(shape, rp):
    """An open spline (Nuke 12.2+): a Shape with FlagType.eOpenFlag set (Foundry: curvelib.Flag.getFlag,
    FlagType.eOpenFlag); Nuke draws it as a line, not a filled area."""
    flag = getattr(getattr(rp, "FlagType", None), "eOpenFlag", None)
    if flag is None:
        return False
    try:
        return bool(shape.getFlag(flag))
    except Exception:  # noqa: BLE001 - an older Nuke without the flag
        return False


def _chain_matrix(chain, t):
    m = None
    for tr in chain:  # outermost (root) first: M = root * layer * ... * shape
        m = matmul(m, _matrix(tr, t))
    return m


def _shape_prompt(shape, chain, t, geom, frame, rp, post=None):
    m = matmul(post, _chain_matrix(chain, t))
    rows = []
    centres, feather = [], []
    for cp in shape:
        c = cp.center.getPosition(t)
        lt = cp.leftTangent.getPosition(t)
        rt = cp.rightTangent.getPosition(t)
        rows.append(bezier_point((c.x, c.y), (lt.x, lt.y), (rt.x, rt.y), m, geom))
        fc = cp.featherCenter.getPosition(t)
        # the feather point moves with the shape's and its layers' transforms, as its centre does (a layer
        # scaled 3x draws a 5 px feather 15 px wide; before, the feather was measured untransformed)
        cx, cy = apply_matrix(m, c.x, c.y)
        fx, fy = apply_matrix(m, c.x + fc.x, c.y + fc.y)
        centres.append((cx, cy))
        feather.append((fx - cx, fy - cy))
    if _is_open(shape, rp):  # a line: an open stroke (no fill, so no invert or feather)
        if len(rows) < 2:
            return None
        return {"frame": int(frame), "type": "bezier", "points": rows, "closed": False,
                "mode": _mode(shape, t)}
    if len(rows) < 3:
        return None
    attrs = shape.getAttributes()
    invert = bool(attrs.getValue(t, "inv")) if attrs is not None else False
    q = {"frame": int(frame), "type": "bezier", "points": rows, "closed": True, "mode": _mode(shape, t),
         "invert": invert, "feather": round(signed_feather(centres, feather), 3)}
    return q


def _stroke_prompt(stroke, chain, t, geom, frame, post=None):
    m = matmul(post, _chain_matrix(chain, t))
    cps = [(p.getPosition(t).x, p.getPosition(t).y) for p in stroke]
    span = _write_on(stroke, t)
    if span is not None and span != (0.0, 1.0):
        # written on / off (the Stroke tab's write on start / end, animated): only the part Nuke draws on
        # this frame (before: the whole stroke on every frame, its unwritten part prompted too)
        cps = written_part(cps, span[0], span[1])
    pts = []
    for cx, cy in cps:
        x, y = apply_matrix(m, cx, cy)
        pts.append(list(geom.to_job(x, y)))
    if len(pts) < 2:
        return None
    return {"frame": int(frame), "type": "polygon", "points": pts, "closed": False,
            "mode": _mode(stroke, t)}


def _roto_plan(node, frames, rp, time):
    """``(src, [(object, element, chain, parents, its prompt frames)])`` of a Roto/RotoPaint node:
    ``src`` from :func:`_source_frames`; each shape / stroke with the SAMatte frames it is prompted on by
    itself (its keyed frames on which it is shown; a shape unkeyed, keyed only outside the range (it
    holds its nearest key there) or only where it is hidden or outside its lifetime (Nuke draws it,
    interpolated, on the frames it lives): the range's first frame on which it is shown)."""
    src = _source_frames(frames, time)
    root = node["curves"].rootLayer
    plan = []
    root_chain = [root.getTransform()]
    for top in root:
        if _is_layer(top, rp):
            obj = top.name
            items = list(_elements(top, rp, root_chain + [top.getTransform()], (top,)))
        else:
            obj = node.name()
            items = ([(top, root_chain + [top.getTransform()], ())]
                     if (_is_shape(top, rp) or _is_stroke(top, rp)) else [])
        for elem, chain, parents in items:
            keys = [t for t in _prompt_frames(frames, src, _key_times(elem, rp, chain))
                    if _shown(elem, parents, src[t], rp)]
            keys = keys or [t for t in frames if src[t] is not None and _shown(elem, parents, src[t], rp)][:1]
            plan.append((obj, elem, chain, parents, keys))
    return src, plan


def _plan_anchors(src, plan, rp, anchors=None):
    """{object: SAMatte frames where one of its closed add shapes is prompted} (its anchors: the track
    restarts there from that frame's prompts alone), added to a copy of ``anchors``."""
    out = {obj: set(ts) for obj, ts in (anchors or {}).items()}
    for obj, elem, _chain, _parents, keys in plan:
        if _is_shape(elem, rp) and not _is_open(elem, rp):
            out.setdefault(obj, set()).update(t for t in keys if _mode(elem, src[t]) == "add")
    return out


def gather_roto(node, geom, fmap, frames, rp, *, log=None, time=None, anchors=None):
    """{host object name: [prompts]} from a Roto/RotoPaint node. ``frames``: the job's script frames
    (prompts outside are dropped); prompt frames are converted to file numbers with ``fmap``. ``time``
    (from :func:`prompt_sources`): SAMatte frame -> the node's own frame, for a node behind a TimeOffset or
    FrameHold; its shapes are read at that frame and prompted on the SAMatte frame that shows them.
    ``anchors``: {host object name: SAMatte frames} where other prompt nodes prompt a closed add shape of
    the same object (:func:`gather_objects` merges objects by name across nodes)."""
    frames = sorted(frames)
    if not frames:
        return {}
    src, plan = _roto_plan(node, frames, rp, time)
    return _roto_prompts(node, src, plan, geom, fmap, rp, log=log, anchors=anchors)


def _roto_prompts(node, src, plan, geom, fmap, rp, *, log=None, anchors=None, matrix=None):
    """:func:`gather_roto`'s prompts from its :func:`_roto_plan`. ``matrix`` (from :func:`carry_to_source`):
    SAMatte frame -> the matrix from the prompt node's pixels to the Source's (a Transform between them)."""
    # an object's anchors: the frames where one of its closed add shapes is prompted (the track restarts
    # there from that frame's prompts alone), whichever top-level item, layer or prompt node holds it: every
    # element the object draws there is prompted there too, as Nuke draws it (interpolated or held). Before,
    # only the shapes keyed on that frame: a shape added or keyed on frame X by itself made X an anchor of
    # that shape alone, and the object's other shapes (and holes) vanished from the matte from X on. The
    # rule first held within one layer only: shapes at the node's root (Nuke's default, one object named
    # after the node) or an object's layers in two nodes (both named 'Layer1') did not share anchors.
    anchors = _plan_anchors(src, plan, rp, anchors)
    out = {}
    for obj, elem, chain, parents, keys in plan:
        extra = [t for t in anchors.get(obj, ()) if t not in keys and src.get(t) is not None
                 and _shown(elem, parents, src[t], rp)]
        for t in sorted(set(keys) | set(extra)):
            s = src[t]
            if s is None or not _shown(elem, parents, s, rp):
                continue
            f = fmap.to_file(t)
            post = matrix(t) if matrix is not None else None
            if _is_shape(elem, rp):
                q = _shape_prompt(elem, chain, s, geom, f, rp, post)
            else:
                q = _stroke_prompt(elem, chain, s, geom, f, post)
            if q is None:
                if log:
                    log("%s: %s on frame %d has too few points; skipped" % (node.name(), elem.name, s))
                continue
            q["label"] = "%s/%s" % (node.name(), elem.name)
            out.setdefault(obj, []).append(q)
    return out


class TrackerTable(object):
    """Tracker4's 'tracks' knob read through its documented surface: toScript() for the column
    names and the track names, getValueAt(t, i) and animation(i) for the values
    (i = track * columns + column)."""

    _NAME = re.compile(r'"((?:[^"\\]|\\.)*)"|\{([^{}]*)\}|(\S+)')

    def __init__(self, knob):
        self.knob = knob
        text = knob.toScript()
        groups = self._top_groups(text)
        head = groups[0].split() if groups else []
        self.columns_count = int(head[1]) if len(head) > 1 else 31
        self.count = int(head[2]) if len(head) > 2 else 0
        self.columns = []
        if len(groups) > 1:
            for col in self._top_groups(groups[1]):
                parts = col.split()
                self.columns.append(parts[3] if len(parts) > 3 else "")
        self.names = []
        self.rows = []
        if len(groups) > 2:
            for row in self._top_groups(groups[2]):
                cells = self._cells(row)
                self.rows.append(cells)
                self.names.append(cells[1] if len(cells) > 1 else "track %d" % (len(self.names) + 1))
        while len(self.names) < self.count:
            self.names.append("track %d" % (len(self.names) + 1))

    @staticmethod
    def _top_groups(text):
        out, depth, start, quote, esc = [], 0, None, False, False
        for i, ch in enumerate(text):
            if esc:
                esc = False
                continue
            if ch == "\\":
                esc = True
            elif ch == '"':
                quote = not quote
            elif quote:
                continue
            elif ch == "{":
                if depth == 0:
                    start = i + 1
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and start is not None:
                    out.append(text[start:i])
        return out

    @staticmethod
    def _end(row, i):
        """Index of the character closing the quoted string or brace group that starts at ``i``."""
        depth, quote = 0, row[i] == '"'
        j = i + 1 if quote else i
        while j < len(row):
            ch = row[j]
            if ch == "\\":
                j += 2
                continue
            if quote and ch == '"':
                return j
            if not quote:
                depth += 1 if ch == "{" else -1 if ch == "}" else 0
                if depth == 0:
                    return j
            j += 1
        return len(row) - 1

    @classmethod
    def _cells(cls, row):
        """A TCL list row: "quoted" cells (unescaped), {brace groups} (kept whole), bare words."""
        cells, i = [], 0
        while i < len(row):
            ch = row[i]
            if ch.isspace():
                i += 1
            elif ch in "\"{":
                j = cls._end(row, i)
                cells.append(row[i + 1:j].replace('\\"', '"') if ch == '"' else row[i:j + 1])
                i = j + 1
            else:
                j = i
                while j < len(row) and not row[j].isspace():
                    j += 1
                cells.append(row[i:j])
                i = j
        return cells

    def column(self, name, default):
        return self.columns.index(name) if name in self.columns else default

    def index(self, track, column):
        return track * self.columns_count + column

    @staticmethod
    def curve_key_times(cell):
        """Key frames of a .nk curve ``{curve [flags] x1001 10 11 x1010 12}``: ``xN`` sets the frame of
        the next value, each value is a key and advances the frame by one."""
        words = cell.strip("{}").split()
        if not words or words[0] != "curve":
            return []
        out, t = [], None
        for w in words[1:]:
            if w.startswith("x"):
                try:
                    t = float(w[1:])
                except ValueError:
                    t = None
                continue
            try:
                float(w)
            except ValueError:
                continue  # interpolation flags (K, L, C, S...)
            if t is not None:
                out.append(int(round(t)))
                t += 1
        return out

    def key_times(self, track):
        """Tracked frames of a track: the x curve's keys (``animation(i).keys()``; else the curve as
        ``toScript()`` writes it)."""
        col = self.column("track_x", 2)
        anim = None
        try:
            anim = self.knob.animation(self.index(track, col))
        except (AttributeError, TypeError, ValueError):
            anim = None
        if anim is not None:
            return sorted(int(round(k.x)) for k in anim.keys())
        row = self.rows[track] if track < len(self.rows) else []
        return sorted(set(self.curve_key_times(row[col]))) if col < len(row) else []

    def enabled(self, track, t):
        return self.knob.getValueAt(t, self.index(track, self.column("enable", 0))) > 0.5

    def position(self, track, t):
        return (self.knob.getValueAt(t, self.index(track, self.column("track_x", 2))),
                self.knob.getValueAt(t, self.index(track, self.column("track_y", 3))))


def gather_tracker(node, geom, fmap, frames, *, log=None, time=None, matrix=None, disabled=None):
    """{host object name: [points prompts]} from a Tracker4 node (one prompt per object and frame).
    ``time`` as for :func:`gather_roto`; ``matrix`` as for :func:`_roto_prompts`. ``disabled`` (a dict, when
    given) gets host name -> this node's name for its objects whose tracks are keyed in the range but disabled on
    every such frame (no prompt of them here)."""
    frames = sorted(frames)
    src = _source_frames(frames, time)
    table = TrackerTable(node["tracks"])
    per = {}
    off = set()
    for i, name in enumerate(table.names):
        obj, _, own = name.partition("/")
        if not own:
            obj, own = node.name(), name
        negative = own.strip().startswith("-")
        for t in _prompt_frames(frames, src, table.key_times(i)):
            s = src[t]
            if not table.enabled(i, s):
                off.add(obj)
                continue
            x, y = table.position(i, s)
            if matrix is not None:
                x, y = apply_matrix(matrix(t), x, y)
            X, Y = geom.to_job(x, y)
            if not geom.contains_job(X, Y):
                if log:
                    log("%s: track %r on frame %d lies outside the image; skipped" % (node.name(), name, s))
                continue
            slot = per.setdefault(obj, {}).setdefault(t, ([], []))
            slot[0].append([X, Y])
            slot[1].append(0 if negative else 1)
    out = {}
    for obj, by_frame in per.items():
        for t in sorted(by_frame):
            pts, labels = by_frame[t]
            out.setdefault(obj, []).append({"frame": fmap.to_file(t), "type": "points", "points": pts,
                                            "labels": labels, "label": "%s" % node.name()})
    if disabled is not None:
        for obj in sorted(off - set(out)):
            disabled.setdefault(obj, node.name())
    return out


def _say_disabled(disabled, merged, log, notes):
    """Log (and add to ``notes``) each Tracker4 object of ``disabled`` (host name -> node name) that no prompt
    node gave a prompt: before, it left the job without a word, its matte layer missing from the output."""
    for host in sorted(set(disabled) - set(merged)):
        text = ("%s: every track of object %r is disabled on the frames of the range where it is tracked: the object "
                "is left out of the job; enable its tracks, or change the frame range" % (disabled[host], host))
        if log:
            log(text)
        if notes is not None:
            notes.append(text)


def gather_objects(nodes, geom, fmap, frames, rp, *, safe_name, log=None, gone=None, notes=None):
    """JobSpec objects (``name``, ``host_name``, ``prompts`` sorted by frame) from prompt nodes, merged
    by host object name in node order. ``nodes``: nodes, or ``(node, time)`` pairs from
    :func:`prompt_sources` (a node behind a TimeOffset / FrameHold), or ``(node, time, matrix)`` from
    :func:`carry_to_source` (a node drawn on an image the Source shows through a Transform). ``gone`` (a
    list, when given) gets the host names of the objects left out because none of their shapes draws on
    any of ``frames`` (absent on every frame: their other prompts dropped). ``notes`` (a list, when given) gets
    the words of what was left out without an error (a Tracker4 object whose tracks are all disabled), logged
    too, for the node's status line."""
    merged = {}
    disabled = {}
    order = []
    items = [item if isinstance(item, tuple) else (item, None) for item in nodes]
    mats = [item[2] if len(item) > 2 else None for item in items]
    nodes = [(item[0], item[1]) for item in items]
    # an object's anchors over every Roto node: objects are merged by name, so a frame where one node
    # prompts a closed add shape of 'Layer1' is an anchor of the merged object, and the other node's
    # shapes of 'Layer1' drawn there are prompted there too
    frames = sorted(frames)
    plans, anchors = {}, {}
    for k, (n, time) in enumerate(nodes):
        if frames and n.Class() in ("Roto", "RotoPaint"):
            src, plan = plans[k] = _roto_plan(n, frames, rp, time)
            anchors = _plan_anchors(src, plan, rp, anchors)
    for k, (n, time) in enumerate(nodes):
        if n.Class() in ("Roto", "RotoPaint"):
            got = (_roto_prompts(n, *plans[k], geom, fmap, rp, log=log, anchors=anchors, matrix=mats[k])
                   if k in plans else {})
        elif n.Class() == "Tracker4":
            got = gather_tracker(n, geom, fmap, frames, log=log, time=time, matrix=mats[k], disabled=disabled)
        else:
            continue
        for obj, prompts in got.items():
            if obj not in merged:
                merged[obj] = []
                order.append(obj)
            merged[obj].extend(prompts)
    _say_disabled(disabled, merged, log, notes)
    absent = _absent_frames(plans, rp, frames, fmap)
    left_out = gone
    objects, taken = [], []
    for host in order:
        name = safe_name(host, taken=taken)
        taken.append(name)
        prompts = sorted(merged[host], key=lambda q: (q["frame"], q["type"] == "points"))
        ob = {"name": name, "host_name": host, "prompts": prompts}
        gone = absent.get(host)
        if gone:
            # where no shape of the object draws, it is not in the shot: samatte's ``absent`` (alpha 0 there,
            # its track not carried across). A Tracker4 point or a garbage matte there is dropped (a prompt on
            # such a frame is PROMPT_INVALID)
            dropped = sorted({q["frame"] for q in prompts if q["frame"] in gone})
            if dropped and log:
                # named by the script frame the artist sees (a Read's offset / start at), not the file number
                log("%s: every shape is hidden or outside its lifetime on %d frame(s) (frame %d first) where other "
                    "prompts of it lie: those prompts are dropped" % (host, len(dropped), fmap.to_script(dropped[0])))
            ob["prompts"] = [q for q in prompts if q["frame"] not in gone]
            ob["absent"] = sorted(gone)
            if not ob["prompts"]:
                if left_out is not None:
                    left_out.append(host)
                continue
        objects.append(ob)
    return objects


def _absent_frames(plans, rp, frames, fmap):
    """{host object name: file numbers of ``frames`` where none of its Roto / RotoPaint add shapes or strokes
    draws} (hidden, outside its lifetime, opacity 0, or no source frame behind a time node), for the objects
    with such elements; the others (Tracker4 points only, or Tracker4 points and garbage mattes: no element of
    theirs draws the object) are never absent (before: an object of Tracker4 points whose layer held only a
    garbage matte was absent on every frame, and all its prompts were dropped)."""
    present, has = {}, set()
    for src, plan in plans.values():
        for obj, elem, _chain, parents, _keys in plan:
            seen = present.setdefault(obj, set())
            for t in frames:
                s = None if t in seen else src.get(t)
                if s is None or _mode(elem, s) != "add":
                    continue
                has.add(obj)
                if _shown(elem, parents, s, rp):
                    seen.add(t)
    return {obj: {fmap.to_file(t) for t in frames if t not in present[obj]} for obj in has}

