"""The matte in Blender's compositor, wired idempotently (a re-run updates the same nodes).

Blender 5: no ``scene.node_tree`` and no Composite node; the compositor is a ``CompositorNodeTree``
group set as ``scene.compositing_node_group``, ending in a Group Output. Blender 4.2-4.5:
``scene.node_tree`` (after ``scene.use_nodes = True``) ending in a Composite node.

Nodes (found again by name on a re-run): ``samatte plate`` (Movie Clip), ``samatte matte`` (Image,
source SEQUENCE, with frame_duration / frame_start / frame_offset set so every scene frame shows the
matte of the plate's file number), ``samatte set alpha`` (Set Alpha, Apply Mask: plate x matte, the
premultiplied result; Replace Alpha would give un-premultiplied colour), the output node and, in a tree with
no Viewer, ``samatte viewer`` fed from Set Alpha (the backdrop shows a Viewer's input). The
matte image's unnamed layer carries ``Alpha`` (the merged matte) and one pass per object.

The Image node alone shows a matte on frames that have none: past its span it holds its last file, and a
file missing inside it reads as Blender's missing-file placeholder in 4.2 (alpha 2/3 through Set Alpha,
1.0 on every socket; 5.0: 0). So each of its outputs but the colour is multiplied by ``samatte gate``
(``samatte gated Alpha`` feeds Set Alpha, ``samatte gated <object>`` one per object pass): 1 on the
scene frames of the node's span (5.0, where a missing file already reads as 0: a matte that lands later
shows at once) or, in 4.2-4.5, whose file has a matte on disk when the nodes were wired, else 0, computed
from the Scene Time node's frame by Math nodes (one Compare per run of consecutive files, ``samatte gate
range N``, summed), so Blender evaluates it on every frame, in a saved .blend too, with no driver or
script. Re-made by every wiring and by Check mattes (:func:`refresh_gate`).
"""
import os

import bpy

from . import convert
from .hosterrors import HostError

__all__ = ["compositor_tree", "existing_tree", "wire", "load_matte_image", "image_pattern", "shown_pattern",
           "NODE_PLATE", "NODE_MATTE", "NODE_SETALPHA", "NODE_OUTPUT", "NODE_VIEWER", "NODE_GATE", "gated_node_name", "refresh_gate", "remap"]

NODE_PLATE = "samatte plate"
NODE_MATTE = "samatte matte"
NODE_SETALPHA = "samatte set alpha"
NODE_OUTPUT = "samatte output"
NODE_VIEWER = "samatte viewer"
NODE_TIME = "samatte frame"
NODE_GATE = "samatte gate"
GATE_PART = "samatte gate "         # + "range N" / "sum N": the gate's own nodes, rebuilt on each wire
GATED = "samatte gated "            # + the matte node's output: that output x the gate
GROUP_NAME = "samatte compositor"


def legacy_tree():
    """True on Blender 4.2-4.5 (``scene.node_tree`` and a Composite node)."""
    return "node_tree" in bpy.types.Scene.bl_rna.properties and hasattr(bpy.types, "CompositorNodeComposite")


def compositor_tree(scene):
    """The scene's compositor node tree, created when missing."""
    if not legacy_tree():
        tree = scene.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new(GROUP_NAME, "CompositorNodeTree")
            scene.compositing_node_group = tree
        if not any(item.item_type == "SOCKET" and item.in_out == "OUTPUT" for item in tree.interface.items_tree):
            tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        return tree
    scene.use_nodes = True
    return scene.node_tree


def unshare(scene, clip, pattern):
    """Blender 5: give ``scene`` a compositor of its own (a copy of its node group, the artist's nodes included) when
    its node group is also another scene's (picked in that scene's compositor) and wiring ``clip`` with its mattes
    ``pattern`` there would change what that scene renders: the group shows no samatte nodes yet, another clip's, or
    this clip's mattes from another Output folder (a scene of the same shot with its own roto, set to its own Output
    as samatte asks). Before, a Run of scene B with A's group re-wired the group: A's render showed B's plate and
    mattes, and a Run of A flipped B back. Returns the note for the Last result, or "" (nothing shared, 4.2-4.5, or
    the group shows these mattes already).

    A group linked from a library .blend (File > Link, a studio's comp template, an asset library set to Link) is
    read-only here: it gets a local copy too, the library's unchanged. Before, samatte's nodes were added into the
    linked group in memory with no matte image (Blender keeps a linked node from pointing at a local Image), so
    Run said 'frames written' over a compositor that showed no matte, Check mattes said to Run to show them, and
    what was added was gone once the .blend was saved and re-opened."""
    if legacy_tree():
        return ""
    tree = scene.compositing_node_group
    if tree is None:
        return ""
    library = getattr(tree, "library", None)
    if library is not None:
        own = tree.copy()
        scene.compositing_node_group = own
        return ("; scene %r's compositor %r is linked from %s (read-only here): it has a local copy of it now, "
                "which shows the mattes (the library's unchanged)" % (
                    scene.name, tree.name, os.path.normpath(bpy.path.abspath(library.filepath))))
    others = [sc for sc in bpy.data.scenes if sc != scene and sc.compositing_node_group == tree]
    plate = tree.nodes.get(NODE_PLATE)
    if not others or (plate is not None and plate.clip == clip
                      and image_pattern(getattr(tree.nodes.get(NODE_MATTE), "image", None)) == os.path.normpath(pattern)):
        return ""
    own = tree.copy()
    scene.compositing_node_group = own
    shows = ""
    if getattr(plate, "clip", None) is not None:
        theirs = image_pattern(getattr(tree.nodes.get(NODE_MATTE), "image", None))
        shows = (", which shows clip %r" % plate.clip.name if plate.clip != clip or theirs is None else
                 ", which shows this clip's mattes from %s" % os.path.dirname(theirs))
    return "; scene %r had the compositor %r of scene%s %s%s: it has its own copy now, %r (theirs unchanged)" % (
        scene.name, tree.name, "" if len(others) == 1 else "s", ", ".join(repr(sc.name) for sc in others), shows,
        own.name)


def existing_tree(scene):
    """The scene's compositor node tree, or None (nothing created)."""
    if not legacy_tree():
        return scene.compositing_node_group
    return scene.node_tree if scene.use_nodes else None


def _node(tree, name, idname, location):
    node = tree.nodes.get(name)
    if node is not None and node.bl_idname != idname:
        tree.nodes.remove(node)
        node = None
    if node is None:
        node = tree.nodes.new(idname)
        node.name = name
        node.label = name
        node.location = location
    return node


def _output_node(tree, setalpha=None):
    """The output samatte's result feeds: ``samatte output``, else one already fed from ``setalpha`` (a re-run),
    else the tree's active output (Blender 5: the Group Output the artist made active; 4.2: the Composite), else its
    first, else a new one. Blender 5 makes a Group Output active only where none is: before, every Run made the one
    it fed (the first in the tree) active, so with two (the artist's own made active: a slap comp, another pass)
    a Run switched the render and the backdrop to the other."""
    legacy = legacy_tree()
    kind = "CompositorNodeComposite" if legacy else "NodeGroupOutput"
    out = tree.nodes.get(NODE_OUTPUT)
    outputs = [n for n in tree.nodes if n.bl_idname == kind]
    if out is None and setalpha is not None:
        out = next((n for n in outputs if n.inputs and _feeds(setalpha.outputs[0], n.inputs[0])), None)
    if out is None:
        out = next((n for n in outputs if getattr(n, "is_active_output", False)), None) or \
            next(iter(outputs), None)
    if out is None:
        out = tree.nodes.new(kind)
        out.name = NODE_OUTPUT
        out.location = (700, 0)
        outputs.append(out)
    if not legacy and not any(n.is_active_output for n in outputs):
        out.is_active_output = True
    return out


#: the longest node name Blender keeps, in UTF-8 bytes (``bNode.name``: 64 with its NUL, 4.2 to 5.0); a longer one is
#: cut there when set
NODE_NAME_BYTES = 63


def gated_node_name(socket):
    """The name of the node that gives the matte node's output ``socket`` times the gate: ``samatte gated <socket>``,
    or, when that is longer than Blender keeps (:data:`NODE_NAME_BYTES`: an object of over 49 characters), its start
    and ``~`` and 8 hex digits of the whole name's CRC-32, so that the name set is the name Blender stores, each
    output's its own. Before, Blender cut the name: the node was not found by it again, so every Run and Check
    mattes removed and re-made it (the artist's links from it, to a Viewer or their own nodes, lost)."""
    import zlib
    name = GATED + socket
    raw = name.encode("utf-8")
    if len(raw) <= NODE_NAME_BYTES:
        return name
    tail = "~%08x" % (zlib.crc32(raw) & 0xFFFFFFFF)
    return raw[:NODE_NAME_BYTES - len(tail)].decode("utf-8", "ignore") + tail


def _math(tree, name, operation, location, *values):
    node = _node(tree, name, "CompositorNodeMath" if legacy_tree() else "ShaderNodeMath", location)
    if node.operation != operation:     # each property set costs a tree update: only the changes
        node.operation = operation
    if node.use_clamp:
        node.use_clamp = False
    for sock, value in zip(node.inputs, values):
        if value is not None and sock.default_value != value:
            sock.default_value = value
    return node


def _runs(numbers):
    """Sorted ints -> [(first, last)] of their runs of consecutive numbers."""
    runs = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [tuple(r) for r in runs]


def _link(links, src, dst):
    """``src`` -> ``dst`` unless already so (a link made again costs a tree update: a re-run of a clip with
    hundreds of gaps would re-make hundreds)."""
    if [lk.from_socket for lk in dst.links] != [src]:
        for lk in list(dst.links):
            links.remove(lk)
        links.new(src, dst)


def _gate(tree, scene_frames):
    """``samatte gate``: 1 on the scene frames ``scene_frames`` (sorted ints), 0 elsewhere, evaluated by
    Blender on every frame from the Scene Time node (Compare: ``|frame - centre| <= half width``, one per
    run of consecutive frames, summed; the runs are disjoint). Its nodes are reused by name on a re-run,
    those no longer needed removed. Returns the node."""
    runs = _runs(scene_frames)
    wanted = {"%srange %d" % (GATE_PART, i + 1) for i in range(len(runs))}
    wanted |= {"%ssum %d" % (GATE_PART, i) for i in range(1, len(runs))}
    for n in [n for n in tree.nodes if n.name.startswith(GATE_PART) and n.name not in wanted]:
        tree.nodes.remove(n)
    time = _node(tree, NODE_TIME, "CompositorNodeSceneTime", (-700, -450))
    links = tree.links
    total = None
    for i, (a, b) in enumerate(runs):
        cmp = _math(tree, "%srange %d" % (GATE_PART, i + 1), "COMPARE", (-500, -450 - 40 * i),
                    None, (a + b) / 2.0, (b - a) / 2.0 + 0.25)
        if not cmp.hide:
            cmp.hide = True
        _link(links, time.outputs["Frame"], cmp.inputs[0])
        if total is not None:
            add = _math(tree, "%ssum %d" % (GATE_PART, i), "ADD", (-300, -450 - 40 * i))
            if not add.hide:
                add.hide = True
            _link(links, total.outputs[0], add.inputs[0])
            _link(links, cmp.outputs[0], add.inputs[1])
            cmp = add
        total = cmp
    gate = _math(tree, NODE_GATE, "ADD", (-100, -450), None, 0.0)
    if total is None:
        for lk in list(gate.inputs[0].links):
            links.remove(lk)
        gate.inputs[0].default_value = 0.0
    else:
        _link(links, total.outputs[0], gate.inputs[0])
    return gate


def _gated_outputs(tree, matte, gate):
    """``samatte gated <output>``: each of the matte node's outputs but the colour times the gate (kept by
    name across re-runs, so the artist's links from them stay); those of outputs that are gone removed."""
    links = tree.links
    names = [s.name for s in matte.outputs if s.enabled and s.name not in ("Image", "Combined")]
    wanted = {gated_node_name(name) for name in names}
    for n in [n for n in tree.nodes if n.name.startswith(GATED) and n.name not in wanted]:
        tree.nodes.remove(n)
    out = {}
    for i, name in enumerate(names):
        node = _math(tree, gated_node_name(name), "MULTIPLY", (0, -150 - 60 * i))
        if not _feeds(matte.outputs[name], node.inputs[0]):
            # (a node of the artist's on the matte before its gate, an Erode say, is kept: before, every Run
            # and Check mattes linked the matte to the gated node directly again, bypassing it)
            _link(links, matte.outputs[name], node.inputs[0])
        _link(links, gate.outputs[0], node.inputs[1])
        out[name] = node
    return out


def _apply_gate(tree, matte, pattern):
    """The gate and gated outputs of the matte node ``matte`` (its frame mapping already set) for the files
    of ``pattern`` on disk now: the scene frames whose file (the node's mapping, inverted) has a matte."""
    first = matte.frame_offset + 1
    last = first + matte.frame_duration - 1
    if legacy_tree():
        # 4.2-4.5: a file missing inside the span reads as the placeholder: gate by the files on disk now
        on_disk = set(convert.sequence_numbers(pattern))
        files = [n for n in range(first, last + 1) if n in on_disk]
    else:
        # 5.0: a missing file reads as 0, so only the span matters, and a matte that lands later (the farm,
        # the command line) shows without a re-wire
        files = list(range(first, last + 1))
    gate = _gate(tree, [n - first + matte.frame_start for n in files])
    return _gated_outputs(tree, matte, gate)


def _span(info, frames):
    """``(first, last)`` file numbers the matte node spans (:func:`wire`): ``frames`` and every file the
    clip shows."""
    lo, hi = info.scene_range()
    plates = info.files_on_disk()
    return min([min(frames), info.file(lo)] + plates[:1]), max([max(frames), info.file(hi)] + plates[-1:])


def _map_files(matte, info, first, last):
    """The image user maps a scene frame f to file (f - frame_start + 1) + frame_offset, for
    (f - frame_start + 1) in 1..frame_duration: the matte of file n sits on the plate's frame of n.
    Only what changed is set (each set costs a tree update)."""
    for attr, value in (("frame_start", info.scene_frame(first)), ("frame_offset", first - 1),
                        ("frame_duration", last - first + 1)):
        if getattr(matte, attr) != value:
            setattr(matte, attr, value)


def remap(scene, clip, info, pattern, frames):
    """Check mattes: when ``scene``'s compositor shows ``clip`` with its mattes ``pattern``, the matte node's
    frame mapping re-made from the clip's timing now (``info``; ``frames``: file numbers, as :func:`wire`
    gets them) and its gate from the mattes on disk. After a run, a clip's Offset or Start Frame changed
    moves the plate, not the matte node: before, the compositor showed the matte of another file over each
    plate frame (Offset 2: plate 1003 under the matte of 1001) until the next Run, Check mattes included.
    Returns True when it re-mapped (the gate included: no :func:`refresh_gate` needed then)."""
    if not frames or shown_pattern(scene, clip) != os.path.normpath(pattern):
        return False
    tree = existing_tree(scene)
    matte = tree.nodes[NODE_MATTE]
    _map_files(matte, info, *_span(info, frames))
    _apply_gate(tree, matte, pattern)
    return True


def shown_pattern(scene, clip):
    """The matte sequence pattern (absolute) ``scene``'s compositor shows ``clip`` with, or None when its
    samatte nodes show another clip or none."""
    tree = existing_tree(scene)
    matte = tree.nodes.get(NODE_MATTE) if tree is not None else None
    plate = tree.nodes.get(NODE_PLATE) if tree is not None else None
    if matte is None or getattr(plate, "clip", None) != clip:
        return None
    return image_pattern(getattr(matte, "image", None))


def refresh_gate(scene):
    """Re-make ``scene``'s gate from the mattes on disk now (Check mattes: mattes written since the last
    wiring, by the farm or the command line, then show). False when the scene has no samatte matte node."""
    tree = existing_tree(scene)
    matte = tree.nodes.get(NODE_MATTE) if tree is not None else None
    pattern = image_pattern(getattr(matte, "image", None))
    if pattern is None or matte.frame_duration < 1:
        return False
    _apply_gate(tree, matte, pattern)
    return True


def image_pattern(img):
    """The absolute sequence pattern an Image reads (``.../x_matte.####.exr``), or None."""
    if img is None or not img.filepath:
        return None
    # a matte image a .blend saved on Windows wired (``//samatte\\plate\\...``) is the same sequence here
    path = os.path.normpath(bpy.path.abspath(convert.native_blend_path(img.filepath), library=img.library))
    pattern, first = convert.sequence_pattern(path)
    return pattern if first is not None else None


def load_matte_image(pattern, first, *, relative=False):
    """The matte sequence as one ``bpy.types.Image`` (reloaded when it already exists). It is found by
    the sequence it reads, never by its name: the mattes of two clips with the same file names (two
    shots' ``plate.####.exr``) are two images, each scene keeps its own. ``relative``: store the path
    relative to the .blend (``//``), so a project folder moved with its mattes still finds them."""
    path = convert.sequence_path(pattern, first)
    pattern = os.path.normpath(pattern)
    img = next((im for im in bpy.data.images if im.source == "SEQUENCE" and im.library is None
                and image_pattern(im) == pattern), None)
    if img is None:
        img = bpy.data.images.load(path, check_existing=False)
        img.name = os.path.basename(pattern)     # Blender adds .001 when another image has that name
    stored = path
    if relative and bpy.data.filepath:
        try:
            stored = bpy.path.relpath(path)
        except ValueError:      # another drive (Windows): stays absolute
            pass
    if img.filepath != stored:
        img.filepath = stored
    img.source = "SEQUENCE"
    try:
        img.colorspace_settings.is_data = True  # the matte is data: no colour transform on load
    except AttributeError:
        pass
    img.reload()
    return img


def _set_alpha_apply_mask(node):
    if hasattr(node, "mode"):
        node.mode = "APPLY"
        return
    sock = node.inputs.get("Type")
    if sock is not None:
        sock.default_value = "Apply Mask"


def wire(scene, clip, info, pattern, frames, *, relative=False):
    """Plate x matte in the scene's compositor. ``info``: gather.ClipInfo; ``pattern``: the matte
    sequence; ``frames``: the file numbers the matte node spans (sorted; at least one on disk: else
    OUTPUT_INVALID); ``relative``: the image's path relative to the
    .blend (:func:`load_matte_image`). Returns the tree.

    The node spans at least every file the clip shows (its scene range and every plate file on disk, which
    Blender shows before the Start Frame with an Offset > 0 or after a gap), not only ``frames``: past the
    end of its span an Image node holds its last file (``BKE_image_user_frame_get`` clamps), so after a
    Frame range run of files 1001-1004 the plates of 1005-1008 showed the matte of 1004 (bpy 5.0.1 and
    4.2.23). In the span a file with no matte reads as missing: nothing in 5.0, a flat placeholder (alpha
    2/3) in 4.2. Set Alpha and the ``samatte gated <output>`` nodes therefore take the matte times the
    gate (:func:`_gate`): 0 on every scene frame whose file has no matte on disk now, or lies past the
    span, in both versions."""
    first, last = _span(info, frames)
    # the image is loaded from a matte that exists (Blender refuses a missing file): Matte this frame
    # on a shot with no matte yet writes one file in the middle of the span. The node's frame mapping,
    # not the loaded file's number, decides the file each scene frame reads.
    shown = next((f for f in frames if os.path.exists(convert.sequence_path(pattern, f))), None)
    if shown is None:
        raise HostError("OUTPUT_INVALID", "no matte of %s is on disk for scene frames %d-%d (files %d-%d): run "
                        "again" % (os.path.basename(pattern), info.scene_frame(first), info.scene_frame(last), first,
                                   last))
    tree = compositor_tree(scene)
    plate = _node(tree, NODE_PLATE, "CompositorNodeMovieClip", (-300, 200))
    plate.clip = clip
    img = load_matte_image(pattern, shown, relative=relative)
    matte = _node(tree, NODE_MATTE, "CompositorNodeImage", (-300, -150))
    matte.image = img
    _map_files(matte, info, first, last)
    matte.use_cyclic = False
    matte.use_auto_refresh = True
    gated = _apply_gate(tree, matte, pattern)
    setalpha = _node(tree, NODE_SETALPHA, "CompositorNodeSetAlpha", (200, 0))
    _set_alpha_apply_mask(setalpha)
    out = _output_node(tree, setalpha)
    links = tree.links
    for src, dst in ((plate.outputs["Image"], setalpha.inputs[0]), (gated["Alpha"].outputs[0], setalpha.inputs[1]),
                     (setalpha.outputs[0], out.inputs[0])):
        if _feeds(src, dst):
            # already fed from samatte's node, maybe through the artist's own nodes (an Erode on the matte, a
            # grade between Set Alpha and the output): kept. Before, every Run linked them directly, so the
            # artist's nodes were silently bypassed and the render lost them
            continue
        for lk in list(dst.links):
            links.remove(lk)
        links.new(src, dst)
    _viewer(tree, setalpha)
    return tree


def _viewer(tree, setalpha):
    """``samatte viewer`` (a Viewer node fed from Set Alpha) when the tree has no Viewer: the compositor's backdrop
    and an Image Editor's Viewer Node show a Viewer's input, not the output's, so before the matte was in the render
    only and the backdrop stayed empty. A Viewer already there (the artist's, or samatte's moved to another node with
    Ctrl+Shift+click) is left as it is."""
    if any(n.bl_idname == "CompositorNodeViewer" for n in tree.nodes):
        return None
    viewer = _node(tree, NODE_VIEWER, "CompositorNodeViewer", (700, -250))
    tree.links.new(setalpha.outputs[0], viewer.inputs[0])
    return viewer


def _feeds(src, socket):
    """True when ``socket`` (an input) takes its value from the output socket ``src``, directly or through other
    nodes' links (reroutes, the artist's own nodes). Muted links are no feed, nor another output of ``src``'s
    node (the matte's Alpha for its object pass)."""
    seen = set()
    todo = [socket]
    while todo:
        for lk in todo.pop().links:
            if getattr(lk, "is_muted", False) or not getattr(lk, "is_valid", True):
                continue
            if lk.from_socket == src:
                return True
            n = lk.from_node
            if n != src.node and n.name not in seen:
                seen.add(n.name)
                todo.extend(n.inputs)
    return False


def object_sockets(tree):
    """Names of the matte node's outputs (``Image``, ``Alpha`` and one per object pass)."""
    node = tree.nodes.get(NODE_MATTE)
    return [s.name for s in node.outputs if s.enabled] if node is not None else []

