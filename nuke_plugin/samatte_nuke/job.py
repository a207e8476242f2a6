"""The SAMatte node's JobSpec: plate, frames, objects and settings (plain functions; ``nuke`` passed in).

The plate: an untouched Read of an EXR sequence (frame mode with a constant offset) is used directly
(its files, file-number range, colourspace); anything else is rendered first to an EXR sequence in
the node's cache folder by a Write run with ``nuke.execute`` (:func:`render_plate`), in a folder named
by a hash of everything upstream (so an unchanged graph is not re-rendered and a changed one never
reuses old frames). The script's OCIO config (a custom config path, or ``$OCIO``) and the Read's
colourspace go into the JobSpec.
"""
import contextlib
import hashlib
import json
import os
import re
import sys
import threading

from .convert import FrameMap, Geometry, animated_switch, group_input, is_samatte_node, node_key, shown_inputs
from .convert import switch_input
from .convert import is_disabled as _disabled
from .gather import TIME_CLASSES

__all__ = ["host_path", "foreign_path", "path_substitutions", "full_size", "read_path", "folder_text", "untouched_read", "read_colourspace", "read_colour", "working_colour", "per_view_source", "source_info", "check_prompt_formats", "script_frames", "ocio_config", "cache_root", "node_folder",
           "build_job", "custom_frames", "from_project", "project_directory", "source_node", "graph_inputs", "unfilled_frames", "erroring_frames", "upstream_hash", "upstream_hashes", "plate_hash", "colour_settings", "HASH_MTIME_UNITS", "time_signature", "plate_signature", "cache_root_now", "render_plate", "render_masks", "render_pattern", "output_pattern"]

_EXR = (".exr",)


def source_node(group, *, see_through=True):
    """The node a SAMatte node's Source shows: its input 0, and, where that is an Input node of a Group the SAMatte
    node sits in, what is plugged into that Group (Input nodes pass their Group's input unchanged: its pixels,
    frames and format). So a SAMatte node inside a Group fed by a Read uses the Read's files as they are, and the
    read-back checks that Read (before: the whole plate was rendered first, as for any node that is not a Read).
    A SAMatte node plugged in (Read1 -> SAMatte1 -> SAMatte2) shows its own Source's picture, its mattes added as
    channels samatte does not read: the node sees through it to that Source, so SAMatte2 reads Read1's files as
    SAMatte1 does (before: it rendered SAMatte1's output into its cache, which Nuke refused while any frame of
    SAMatte1 was stale, and rendered it again, re-matting every frame, after each run of SAMatte1). None without
    one. A Dot, a NoOp or a disabled node (not keyed) passes its input 0 through unchanged (Foundry: NoOp "passes
    the input image through unchanged"; disable: "the node passes its input through"): the node sees through it,
    so a Read routed through a Dot to tidy the graph is used as it is (before: the whole plate was rendered into the
    cache first, and a Dot put in after a run made a new job of the rendered copy that re-matted every frame). So does
    an enabled Switch whose 'which' is not animated: it shows that one input (the plate version it picks).
    ``see_through`` False: not through these (the rule before: what a node aligned then recorded its timing of)."""
    src = group.input(0)
    for _ in range(256):   # (Groups inside Groups, SAMatte nodes one below another, chains of Dots)
        up = group_input(src) if src is not None else False
        if up is False and src is not None and is_samatte_node(src) and src.inputs() and src.input(0) is not None:
            up = source_node(src, see_through=see_through)
        if up is False and src is not None and see_through:
            through = _passes_through(src)
            if through is None:
                through = _keeps_rgb(src)
            up = False if through is None else through   # (no truth test of a node: Nuke's has a len)
        if up is False:
            break
        src = up
    return src


#: nodes that show their input 0 as it is, always (Foundry's NoOp reference: "passes the input image through
#: unchanged"; a Dot is a connection point)
_PASS_CLASSES = ("Dot", "NoOp")


def _passes_through(node):
    """The input whose picture ``node`` shows as it is on every frame, or None: input 0 of a node of
    :data:`_PASS_CLASSES` or of one disabled with an unkeyed 'disable'; the input an enabled Switch with an unanimated
    'which' shows (:func:`samatte_nuke.convert.switch_input`; Foundry's Switch reference: 'which', the input to
    display). None when that input is not connected."""
    try:
        cls = node.Class()
        if cls in ("Read", "Input") or is_samatte_node(node) or not node.inputs():   # (followed by source_node)
            return None
        k = node.knob("disable")
        if k is not None and k.isAnimated():
            return None   # (disabled on some frames only: another picture on the others)
        if cls in _PASS_CLASSES or (k is not None and k.value()):
            return node.input(0)
        if cls == "Switch" and not animated_switch(node):
            i = switch_input(node)
            return None if i is None else node.input(i)
        return None
    except Exception:  # noqa: BLE001 - not a node of a script (a test's stand-in): not followed
        return None


#: words of a channel knob's value that name a colour channel (a layer, a channel, or every channel)
_RGB_WORDS = ("rgb", "rgba", "all", "red", "green", "blue", "rgba.red", "rgba.green", "rgba.blue", "rgb.red",
              "rgb.green", "rgb.blue")


def _names_rgb(value):
    """Whether a channel knob's value (``alpha``, ``rgba``, ``none``, ``{rgba.red -rgba.green ...}``) names a colour
    channel (a word starting with ``-`` is one unchecked)."""
    words = str(value or "").replace("{", " ").replace("}", " ").split()
    return any(w.lower() in _RGB_WORDS for w in words if not w.startswith("-"))


def _keeps_rgb(node):
    """Input 0 of a Roto that draws into no colour channel, or None: an enabled Roto (not keyed off on some frames)
    whose ``output`` names no colour channel (its default, ``alpha``; Foundry's Roto reference), whose ``premultiply``
    is ``none`` and whose ``clip to`` (``cliptype``) is not ``format`` (which crops the picture to the format) shows its
    input's colours as they are: only its alpha (or the layer it draws into) is its own, and samatte reads the plate's
    colours only. So the artist's usual graph, Read -> Roto -> SAMatte (the node connects to the selected node: the
    Roto just drawn), uses the Read's files as they are. Before, the whole plate was rendered into the cache, under a
    hash of every knob upstream, the Roto's shapes included: every roto tweak rendered the plate again into a new
    folder and matted every frame again. A RotoPaint (its default output rgba: paint, clone and reveal strokes change
    the colours) is never seen through. So is a Tracker4 whose ``transform`` is ``none`` (Foundry's Tracker4 reference:
    it then only tracks; its picture is its input's): Read -> Tracker4 -> SAMatte, the node connected to the Tracker
    just used, rendered the plate, and every track re-run rendered it again."""
    try:
        cls = node.Class()
        if cls not in ("Roto", "Tracker4") or not node.inputs() or node.input(0) is None:
            return None
        k = node.knob("disable")
        if k is not None and (k.isAnimated() or k.value()):
            return None   # (a disabled one is _passes_through's; one keyed off on some frames: not followed)
        if cls == "Tracker4":
            t = node.knob("transform")
            return node.input(0) if t is not None and not t.isAnimated() and str(t.value()) == "none" else None
        out, pre, clip = node.knob("output"), node.knob("premultiply"), node.knob("cliptype")
        if out is None or _names_rgb(out.value()):
            return None
        if pre is not None and _names_rgb(pre.value()):
            return None
        if clip is not None and str(clip.value()).strip() == "format":
            return None
        return node.input(0)
    except Exception:  # noqa: BLE001 - not a node of a script (a test's stand-in): not followed
        return None


def _group_output(node):
    """The Output node inside ``node`` when it is a Group or gizmo (its picture is what reaches that Output),
    else None. A disabled Group passes its input 0 through (as any node)."""
    nodes = getattr(node, "nodes", None)
    if nodes is None:
        return None
    try:
        inner = nodes()
    except Exception:  # noqa: BLE001 - a node that is not a Group
        return None
    outs = [n for n in inner or () if n.Class() == "Output"]
    if not outs or _disabled(node) or node.knob("samatte_node") is not None:
        # (a SAMatte node upstream: its picture is its Source's with mattes from its cache; its inputs count, as
        # before, not its internal Read, whose file is a per-frame expression)
        return None
    return outs[0]


def graph_inputs(node, inputs=None):
    """The nodes whose picture ``node`` is made from, across Group boundaries: into a Group or gizmo through the
    Output node inside it (its inner nodes made the picture), and out of it through an Input node inside one
    (Foundry: an Input node passes on what is connected to its Group's input ``number``). Else ``inputs(node)``
    (default: every input). Before, a walk upstream stopped at a Group's edge: a TimeOffset, a Grade or a Read
    inside a Group (a gizmo) upstream of the Source was in no hash, and a SAMatte node inside a Group whose
    Source is the Group's Input saw nothing above that Input (another plate plugged into the Group reused the
    first plate's render and mattes)."""
    up = group_input(node)
    if up is not False:
        return [up]
    out = _group_output(node)
    if out is not None:
        return [out]
    if inputs is not None:
        return inputs(node)
    return [node.input(i) for i in range(node.inputs())]


_walks = threading.local()


@contextlib.contextmanager
def one_walk():
    """Inside the block, :func:`_upstream` walks the graph above a node once and gives that list again (this
    thread only): the read-back (``farm.frame_path``, on every evaluation of the node's file knob) asks for the
    timing and the plate signatures of one Source, two walks of the whole comp above it. Nothing is kept after
    the block: an edit of the graph is seen by the next evaluation."""
    outer = getattr(_walks, "memo", None)
    if outer is None:
        _walks.memo = {}
    try:
        yield
    finally:
        if outer is None:
            _walks.memo = None


def _upstream(node):
    """``node`` and every node upstream of it (:func:`graph_inputs`: across Group boundaries), each once."""
    memo = getattr(_walks, "memo", None)
    if memo is not None:
        # (keyed by the node's full name: Nuke gives a new Python object for a node from each call, so an id()
        # never hit, and a freed one's id could be another node's)
        hit = memo.get(node_key(node))
        if hit is not None:
            return hit
    out = _walk(node)
    if memo is not None:
        memo[node_key(node)] = out
    return out


def _breadth_first(node, *, cap=20000, inputs=None, skip=None):
    """``node`` and the nodes upstream of it (:func:`graph_inputs` with ``inputs``: across Group edges), each
    once (by :func:`node_key`), breadth first, at most ``cap`` of them; a node for which ``skip(node)`` is true
    is neither given nor walked through (a time node, a OneView: what is behind it is seen otherwise)."""
    import collections
    seen, todo = set(), collections.deque([node])
    while todo and len(seen) < cap:
        n = todo.popleft()
        key = None if n is None else node_key(n)
        if key is None or key in seen:
            continue
        seen.add(key)
        if skip is not None and skip(n):
            continue
        yield n
        todo.extend(graph_inputs(n, inputs))


def _walk(node):
    return list(_breadth_first(node))


def _has_tcl(text):
    return "[" in text or "$" in text


#: an absolute path of a Windows machine: a drive letter (``Z:\\``, ``Z:/``) or a UNC share (``\\\\server\\share``)


def foreign_path(path):
    """True when ``path`` is an absolute path of another OS than this one: a Windows path (drive letter, UNC) on
    Linux / macOS, a POSIX one (``/mnt/...``) on Windows. Such a path means nothing here until Nuke's Path
    Substitutions or a filename filter maps it."""
    if not isinstance(path, str) or not path:
        return False
    if os.name == "nt":
        return path.startswith("/") and not path.startswith("//")
    from samatte.jobspec import windows_abs
    return windows_abs(path)


def path_substitutions():
    """The rows of Nuke's Preferences > General > Path Substitutions, ``[(windows, mac, linux), ...]`` ('' for an
    empty cell); [] when not known. Foundry: "When the application encounters a file path, any text in the
    Mac/Linux column is replaced with the text in the Windows column, or vice versa". Nuke applies them itself
    when it opens a file (``nuke.filenameFilter`` runs only the Python filters): read from the Preferences node's
    ``platformPathRemaps`` knob (not in Foundry's Python reference: its ``toScript()`` text, ``win;mac;linux;``
    per row, as studios' init.py files set it; unverified in a real Nuke)."""
    try:
        import nuke
        prefs = nuke.toNode("preferences")
        k = prefs.knob("platformPathRemaps") if prefs is not None else None
        raw = k.toScript() if k is not None else ""
    except Exception:  # noqa: BLE001 - no Preferences node (nuke -t), another Nuke: none known
        return []
    parts = [p.strip().strip("{}\"").strip() for p in str(raw or "").split(";")]
    rows = []
    for i in range(0, len(parts) - 2, 3):
        row = tuple("" if c == "-" else c for c in parts[i:i + 3])
        if any(row):
            rows.append(row)
    return rows


def _substituted(path, rows):
    """``path`` with the first Path Substitutions row whose cell of another OS starts it replaced by this OS's
    cell (whole folder names only; a Windows cell's case and either separator match), or None."""
    col = 0 if os.name == "nt" else 1 if sys.platform == "darwin" else 2
    flat = path.replace("\\", "/")
    for row in rows:
        mine = row[col] if len(row) > col else ""
        if not mine:
            continue
        for j, theirs in enumerate(row):
            src = theirs.replace("\\", "/").rstrip("/")
            if j == col or not src or src == mine.replace("\\", "/").rstrip("/"):
                continue
            head = flat[:len(src)]
            if (head.lower() == src.lower() if j == 0 else head == src) and flat[len(src):len(src) + 1] in ("", "/"):
                return mine.rstrip("/\\") + flat[len(src):]
    return None


def host_path(path):
    """``path`` as this machine's Nuke opens it: run through ``nuke.filenameFilter`` (the studio's
    ``nuke.addFilenameFilter`` callbacks, Foundry: "modify filenames before Nuke passes them to the operating
    system"), else through the Preferences' Path Substitutions (:func:`path_substitutions`). A Windows path is
    given to the filters as written, then with ``/`` (Nuke's own spelling), and on Linux / macOS a ``\\`` in it is
    a separator: ``Z:\\shows\\sh010`` mapped to ``/mnt/shows`` is ``/mnt/shows/sh010``. A path nothing maps is
    returned as it is (with ``/`` for a Windows one on Linux / macOS: :func:`foreign_path` still tells it)."""
    if not isinstance(path, str) or not path:
        return path
    win_here = os.name != "nt" and foreign_path(path)
    tries = [path]
    if "\\" in path:
        tries.append(path.replace("\\", "/"))
    try:
        import nuke
        filt = getattr(nuke, "filenameFilter", None)
    except ImportError:
        filt = None
    out = None
    for p in tries if filt is not None else ():
        try:
            q = filt(p)
        except Exception:  # noqa: BLE001 - a studio's filter that fails: as Nuke without it
            q = None
        if isinstance(q, str) and q and q != p:
            out = q
            break
    if out is None:
        out = _substituted(path, path_substitutions())   # (a Mac path on Linux too: /Volumes/... -> /mnt/...)
    if out is None:
        out = path
    if win_here:   # (a Windows path, mapped or not: its separators as this OS's; an unmapped UNC keeps its \\\\)
        out = ("\\\\" + out[2:].replace("\\", "/")) if out is path and path.startswith("\\\\") else \
            out.replace("\\", "/")
    return out


def read_path(read):
    """The file pattern a Read reads: its ``file`` knob as typed, or, when that holds TCL
    (``[file dirname [value root.name]]/...``, ``$env(SHOT)``), as Nuke expands it (``nuke.filename``:
    commands and variables expanded, the frame token kept). None when only the proxy file's name could
    be had (proxy mode with a proxy file on the Read: the plate is then rendered). A relative path is the project
    directory's (:func:`from_project`)."""
    raw = read["file"].value()
    if not _has_tcl(raw):
        return from_project(host_path(raw))
    import nuke
    px = read.knob("proxy")
    if nuke.root()["proxy"].value() and px is not None and px.value():
        return None
    return from_project(host_path(nuke.filename(read) or None))


def project_directory():
    """The Root's project directory as Nuke resolves it now (its TCL evaluated: ``[python {nuke.script_directory()}]``,
    the Project Settings' Script Directory button; mapped as this machine opens it), '' when none is set or it
    cannot be evaluated."""
    import nuke
    try:
        pk = nuke.root().knob("project_directory")
        base = host_path(folder_text(pk)) if pk is not None else ""
    except Exception:  # noqa: BLE001 - a project directory Nuke cannot evaluate: none
        return ""
    return os.path.expanduser(base) if base else ""


def from_project(path):
    """``path`` (a Read's file pattern) joined to the project directory when it is relative and the project directory
    is an absolute folder: the file Nuke reads (Foundry Q100154: relative file paths are relative to the script's
    ``project_directory``). Before, such a Read's files were not known: its whole plate was rendered into the cache
    on every new graph and that copy matted. Else as it is (no project directory: Nuke's working folder, unknown
    here, so the plate is rendered as before). A path of another OS (``Z:/shows/...`` on Linux: no Path Substitutions
    row maps it) or one starting with ``~`` is as it is too (Nuke resolves it; the plate is rendered, as before):
    joined, it was ``<project>/Z:/shows/...``, and Track & Matte stopped FRAME_MISSING asking to restore files of
    that made-up path."""
    if not path or os.path.isabs(path) or foreign_path(path) or path.startswith("~"):
        return path
    base = project_directory()
    if not base or not os.path.isabs(base):
        return path
    return os.path.normpath(os.path.join(base, path))


@contextlib.contextmanager
def full_size(root):
    """Evaluate the script at full size inside the block: the Root's ``proxy`` (what Ctrl/Cmd+P toggles) off,
    then back as it was. samatte works on the full-size plate: Roto shapes and tracks are stored in full-size
    coordinates, and in proxy mode Nuke scales every image ("All images and all x/y positions are scaled by
    this factor", Foundry's Proxy Mode page), renders a Write at the proxy scale ("this node executes all
    renders at the currently active scale", Write reference) and names a Read's proxy file in
    ``nuke.filename``. So the node's Write renders (plate, refine-only masks), the formats it reads and the
    Read's file are all full size, whatever the artist views at; the job does not change with proxy mode."""
    k = root.knob("proxy")
    try:
        on = bool(k is not None and k.value())
    except Exception:  # noqa: BLE001 - a Root without the knob: nothing to switch
        on = False
    if on:
        k.setValue(False)
    try:
        yield
    finally:
        if on:
            k.setValue(True)


def folder_text(knob):
    """A folder knob's value, its TCL (if any) evaluated by Nuke."""
    raw = knob.value()
    return knob.evaluate() if raw and _has_tcl(raw) else raw


_VIEW_TOKEN = re.compile(r"%[Vv]")
_FRAME_TOKEN = re.compile(r"#+|%0?(\d*)d")


def _file_at(pattern, frame):
    """The file a sequence pattern (``####`` or ``%04d``) names for file number ``frame``."""
    m = _FRAME_TOKEN.search(pattern)
    if m is None:
        return pattern
    width = len(m.group(0)) if m.group(0).startswith("#") else int(m.group(1) or 0)
    return pattern[:m.start()] + "%0*d" % (width, frame) + pattern[m.end():]


def _knob(node, name, default=None):
    k = node.knob(name)
    return default if k is None else k.value()


def _direct_problem(read, path, fmap, frames):
    """Why the Read's files cannot stand for what the Read shows on the script ``frames``, or None.
    Foundry's Read reference: outside first..last Nuke shows the ``before`` / ``after`` choice (hold,
    loop, bounce, black), never the files beyond; a missing file shows what ``on_error`` (missing frames)
    says: black, a checkerboard, the nearest frame, or an error; ``format`` is normally the file's and
    may be changed. In all but the error case Nuke renders the plate (what the node's output shows).
    Raises SamatteError when a file is missing and the Read's missing frames is 'error'."""
    if not os.path.isabs(path):
        # relative to the script's project directory, which Nuke resolves and samatte cannot: rendered
        return "a relative file path (Nuke resolves it against the project directory)"
    first, last = int(read["first"].value()), int(read["last"].value())
    files = [fmap.to_file(t) for t in frames]
    outside = [t for t, f in zip(frames, files) if not first <= f <= last]
    if outside:
        return "script frame(s) %s outside the Read's range: its before/after" % outside[:5]
    missing = [(t, f) for t, f in zip(frames, files) if not os.path.isfile(_file_at(path, f))]
    if missing:
        if _knob(read, "on_error", "error") == "error":
            from samatte.errors import MissingFrameError
            t, f = missing[0]
            raise MissingFrameError(
                "the Source Read %s has no file for script frame %d (%s is missing%s), and its missing "
                "frames setting is 'error' (Nuke shows an error there too): restore the file, set missing "
                "frames to black / nearest frame (the plate is then rendered as Nuke shows it), or choose a "
                "custom frame range without it" % (
                    read.name(), t, _file_at(path, f),
                    "; %d missing in all" % len(missing) if len(missing) > 1 else ""))
        return "missing file(s) (missing frames: %s)" % _knob(read, "on_error")
    from samatte.exrheader import windows
    win = windows(_file_at(path, files[0])) if files else None
    fmt = read.format()
    if win is not None and tuple(win["display_window"][2:]) != (int(fmt.width()), int(fmt.height())):
        return "the Read's format %dx%d is not the file's %dx%d" % (
            fmt.width(), fmt.height(), win["display_window"][2], win["display_window"][3])
    return None


#: a Read's missing frames settings under which Nuke shows no picture of the plate on a missing file
_FILLS = ("black", "checkerboard")


def erroring_frames(source, frames):
    """``{script frame: (Read, missing file)}`` as :func:`unfilled_frames`, for the Reads whose missing frames
    (``on_error``) is 'error': Nuke's render of the plate stops with an error on that frame (Foundry's Read
    reference), so the node refuses it before rendering anything (:func:`samatte_nuke.node.build`). Nodes behind a
    Switch whose 'which' is animated are not walked (it may show another input on that frame)."""
    return unfilled_frames(source, frames, fills=("error",),
                           skip=lambda n: n.Class() == "Switch" and not _disabled(n) and animated_switch(n))


def unfilled_frames(source, frames, *, fills=None, skip=None):
    """``{script frame: (Read, missing file)}`` for the script ``frames`` on which a Read upstream of ``source``
    (``source`` included, across Groups; not behind a time node, whose mapping is not followed here) has no
    file for the frame it shows and its missing frames (``on_error``) is black or checkerboard: Nuke shows no
    picture of the plate there (Foundry's Read reference), so there is nothing to matte. Before, such a frame
    was rendered and matted as if black were the plate (the tracker carried the object across a black frame).
    'nearest frame' (a picture of the plate) and 'error' (the node refuses) are not counted."""
    out = {}
    if source is None or not frames:
        return out
    fills = _FILLS if fills is None else fills
    for n in _breadth_first(source, inputs=_shown_inputs,
                            skip=lambda n: (n.Class() in _TIME_CLASSES and not _disabled(n))
                            or (skip is not None and skip(n))):
        cls = n.Class()
        if cls == "Read" and not _disabled(n) and n.knob("file") is not None \
                and _knob(n, "on_error", "error") in fills:
            fmap = FrameMap.from_read(n)
            try:
                path = read_path(n)
            except Exception:  # noqa: BLE001 - a file name Nuke cannot expand: not known
                path = None
            if fmap is not None and path and os.path.isabs(path) and _FRAME_TOKEN.search(path) \
                    and not _VIEW_TOKEN.search(path):   # (one file per view: refused by source_info)
                for t in frames:
                    f = fmap.shown(t)
                    if f is not None and t not in out and not os.path.isfile(_file_at(path, f)):
                        out[t] = (n, _file_at(path, f))
    return out


def untouched_read(node, frames=None):
    """The Read feeding the node directly, when it can be used as the plate as it is: an enabled Read
    of an EXR sequence whose frame mapping is a constant offset (and, given the script ``frames``,
    whose files are what it shows on each of them: inside its first..last, on disk, in its format);
    else None. Raises SamatteError for a missing file the Read itself reports as an error."""
    if node is None or node.Class() != "Read":
        return None
    if _disabled(node):
        return None
    path = read_path(node)
    if not path or os.path.splitext(path)[1].lower() not in _EXR or _VIEW_TOKEN.search(path):
        return None
    fmap = FrameMap.from_read(node)
    if fmap is None:
        return None
    if frames is not None and _direct_problem(node, path, fmap, list(frames)) is not None:
        return None
    return node


def read_colourspace(read):
    """The colourspace a Read's files are in, for the job: its ``colorspace`` knob, None for the
    default, and None when ``raw`` (raw data: Foundry, "do not convert the data": the values samatte
    reads are the values Nuke shows)."""
    if _knob(read, "raw", False):
        return None
    cs = read["colorspace"].value()
    if cs in ("default", "") or cs.startswith("default ("):
        return None
    return cs


_DEFAULT_CS = re.compile(r"^default \((.+)\)$")


def read_colour(read, root):
    """``(colourspace, config)`` for the job from a Read: :func:`read_colourspace` with the config of
    :func:`ocio_config`. A Read left on its file-type default shows ``default (X)`` (Foundry: "When the
    default option is selected, the color transform that Nuke has set for it is listed in brackets";
    Foundry's flipbook takes X out of it): its files are in X of the project's config, so X goes into
    the job with that config (``default (linear)`` in nuke-default is Rec.709-linear, not samatte's
    ACEScg). Only when that config is known: else the job keeps samatte's default, as before."""
    cs = read_colourspace(read)
    if cs is not None:
        return cs, ocio_config(root, named=True)
    value = "" if _knob(read, "raw", False) else (_knob(read, "colorspace", "") or "")
    m = _DEFAULT_CS.match(value.strip())
    if m:
        cfg = ocio_config(root, named=True)
        if cfg:
            return m.group(1).strip(), cfg
    return None, ocio_config(root)


#: the colourspaces of Nuke's own config, nuke-default (the names a Read's colorspace menu offers under Nuke colour
#: management: Foundry's bundled nuke-default config.ocio), compared without regard to case; none of them is a name of
#: samatte's default config (OCIO's built-in ACES config: its "Raw" is the only one alike, and is not listed here)
NUKE_DEFAULT_COLOURSPACES = frozenset(n.lower() for n in (
    "linear", "sRGB", "rec709", "rec2020", "Cineon", "Gamma1.8", "Gamma2.2", "Gamma2.4", "Panalog", "REDLog",
    "ViperLog", "AlexaV3LogC", "PLogLin", "SLog", "SLog1", "SLog2", "SLog3", "CLog", "Log3G10", "Log3G12",
    "HybridLogGamma", "Protune", "BT1886", "st2084", "Blackmagic Film Generation 5", "ARRI LogC4"))


def check_read_colour(read, colourspace, config):
    """Refuse (COLOUR_INVALID), before anything is rendered or a job starts, a Read whose colorspace is a name of
    Nuke's own config (:data:`NUKE_DEFAULT_COLOURSPACES`: ``linear``, ``sRGB``, ``rec709``, ...) when the job would
    name no config (``config`` None: no ``$OCIO``, no custom config, the project's ``OCIOConfigPath`` empty or not a
    file here): samatte would look for it in its default config, which has none of them. Before, the job was made
    and the worker failed COLOUR_INVALID once it ran (after refine only's masks were rendered)."""
    if config or not colourspace or str(colourspace).strip().lower() not in NUKE_DEFAULT_COLOURSPACES:
        return
    from samatte.errors import ColourError
    raise ColourError(
        "the Source Read %s's colorspace '%s' is a colourspace of Nuke's own config (nuke-default), and samatte knows "
        "no OCIO config for this project (no $OCIO, no custom OCIO config in Project Settings > Color, and the config "
        "Nuke uses, the Root's OCIOConfigPath, is not a file here), so it would read the plate in its default ACES "
        "config, which has no '%s': set $OCIO or a custom OCIO config (e.g. the nuke-default config.ocio) for the "
        "project, or the Read's colorspace to one of that config" % (read.name(), colourspace, colourspace),
        colourspace=str(colourspace), node=read.name())


#: channel names samatte reads as red, green, blue (samatte.io.exr's, without regard to case)
_RGB_COMPONENTS = {"r": 0, "red": 0, "g": 1, "green": 1, "b": 2, "blue": 2}


def check_plate_channels(read, path):
    """Refuse (CHANNELS_INVALID), before anything is rendered or a job starts, a Source Read used as it is whose
    file ``path`` (the job's first) holds no colours samatte reads: no part with R, G, B channels (any case, no layer
    prefix), no single channel and no luminance ``Y`` (samatte's rule, ``samatte.io.exr``; read from the header with
    the standard library): a utility pass (Z, A; a cryptomatte), where Nuke shows black in rgb. Before, the job was
    made and the worker failed CHANNELS_INVALID once it ran (after refine only's masks were rendered). A header that
    cannot be read is left to the worker."""
    try:
        from samatte.exrheader import channel_names, part_attributes
        parts = [channel_names(path, attrs=a) for a in part_attributes(path)]
    except Exception:  # noqa: BLE001 - not readable here: the worker says what it is
        return
    if not parts or len(parts[0]) == 1:
        return
    for names in parts:
        found = {_RGB_COMPONENTS[n.lower()] for n in names if "." not in n and n.lower() in _RGB_COMPONENTS}
        if len(found) == 3 or ("Y" in names and not any(c in names for c in ("RY", "BY", "C", "M", "K"))):
            return
    from samatte.errors import ChannelError
    shown = sorted({n for names in parts for n in names})
    raise ChannelError(
        "the Source Read %s reads %s, which has no R, G, B channels (it has %s%s): Nuke shows black in its rgb and "
        "samatte mattes the plate's colours; connect the plate's colour pass to the Source (or a Shuffle putting its "
        "colours into rgb)" % (read.name(), path, ", ".join(shown[:12]), " ..." if len(shown) > 12 else ""),
        path=path, node=read.name())


def working_colour(root):
    """``(colourspace, config)`` of a plate samatte renders from the graph (raw: the values Nuke holds):
    the project's working space (Root ``workingSpaceLUT``, the knob Foundry's own flipbook reads for
    any node but a Read: "linear" in nuke-default, ACEScg in the ACES configs) in the project's config,
    when both are known; else ``(None, ocio_config(root))``: samatte's default, as before."""
    ws = (_knob(root, "workingSpaceLUT", "") or "").strip()
    if ws:
        cfg = ocio_config(root, named=True)
        if cfg:
            return ws, cfg
    return None, ocio_config(root)


def per_view_source(source):
    """``(node, why)`` for the first node upstream of ``source`` (``source`` included) that shows a
    different picture on each view of a multi-view script, or None: an enabled Read whose file name holds
    ``%V`` / ``%v`` (one file per view, Foundry's stereo workflow), an enabled Read of a stereo EXR (its
    views in one file, ``samatte.exrheader.views``) in a script with several views (``nuke.views()``), or a
    JoinViews (one input per view). An
    enabled OneView shows one view of its input on every view: nothing behind it counts."""
    stereo = None   # whether the script has several views (asked once, only when a Read is met)
    for n in _breadth_first(source, cap=2000, inputs=_shown_inputs,
                            skip=lambda n: n.Class() == "OneView" and not _disabled(n)):
        cls = n.Class()
        if cls == "Read" and not _disabled(n) and n.knob("file") is not None:
            raw = n["file"].value() or ""
            m = _VIEW_TOKEN.search(raw)
            if m:
                return n, "reads one file per view (%s in %s)" % (m.group(0), raw)
            if stereo is None:
                stereo = _script_views() >= 2
            if stereo:
                views = _file_views(n)
                if len(views) >= 2:
                    # a stereo EXR (one file holding each view: multiView, or parts with a view each) shows
                    # each view's picture on that view of a stereo script, as a %V Read does; the worker
                    # reads one of them (before: the default view's matte on every view, silently)
                    return n, "reads a stereo EXR (views %s in one file)" % ", ".join(views)
        if cls == "JoinViews" and not _disabled(n):
            return n, "joins one input per view"
    return None


def _script_views():
    """How many views the script has (``nuke.views()``; 1 when that cannot be asked)."""
    import nuke
    try:
        return len(nuke.views())
    except Exception:  # noqa: BLE001 - an older or partial API: taken as one view
        return 1


def _file_views(read):
    """The views of the EXR a Read shows at its first frame (``samatte.exrheader.views``), or []."""
    try:
        path = read_path(read)
        if not path or os.path.splitext(path)[1].lower() not in _EXR:
            return []
        from samatte.exrheader import views
        return views(_file_at(path, int(read["first"].value())))
    except Exception:  # noqa: BLE001 - a name Nuke cannot expand, a knob missing: not known
        return []


_shown_inputs = shown_inputs   # (moved to convert: the prompt gathering follows the same rule)


def source_info(source, frames=None):
    """What the node knows about its Source input: ``{"read": node or None, "fmap", "geometry",
    "first", "last"}`` (script frames). ``frames``: the script frames the job covers (the Read is used
    directly only where its files are what it shows on them). A Source that shows another picture on each
    view (:func:`per_view_source`: a Read with ``%V`` / ``%v``, directly or behind other nodes, or a
    JoinViews) is refused: samatte mattes one picture per frame, and the node's matte is the same on every
    view."""
    found = per_view_source(source) if source is not None else None
    if found is not None:
        from samatte.errors import PlateError
        n, why = found
        where = ("the Source Read %s" % n.name() if node_key(n) == node_key(source) else
                 "%s (%s), upstream of the Source %s," % (n.name(), n.Class(), source.name()))
        raise PlateError(
            "%s %s: samatte mattes one view, and its matte would show on every view; put a OneView node (the "
            "view to matte) between %s and the SAMatte node" % (
                where, why, "the Read" if node_key(n) == node_key(source) else "it"))
    read = untouched_read(source, frames)
    fmap = FrameMap.from_read(read) if read is not None else FrameMap(0)
    return {"read": read, "fmap": fmap, "geometry": Geometry.from_node(source),
            "first": int(source.firstFrame()), "last": int(source.lastFrame())}


def _size(node):
    try:
        fmt = node.format()
        return int(fmt.width()), int(fmt.height())
    except Exception:  # noqa: BLE001 - a node without a format: nothing to compare
        return None


def check_prompt_formats(prompt_nodes, source, geometry, *, rendered=None):
    """Refuse (PromptError, PROMPT_INVALID) prompt nodes whose shapes or tracks are not in pixels of the
    Source's format: a Roto / RotoPaint / Tracker4 connected to an image of another size than the Source
    (a Reformat, or a Crop with 'reformat', between the plate it was drawn on and the Source). Its points
    are pixels of that image; read in the Source's format they land elsewhere (before: silently, a Roto on a
    96x64 Read behind a Reformat to 48x32 matted nothing of the object, IoU 0.0). A prompt node with no
    input keeps its coordinates (Nuke draws it over whatever the Viewer shows). ``rendered``: the Prompts
    input when its alpha is rendered (refine only): it must be the Source's size whatever its input."""
    want = (int(geometry.width), int(geometry.height))
    checks = [(n, n.input(0) is not None) for n in prompt_nodes]
    if rendered is not None:
        checks.insert(0, (rendered, True))
    for n, connected in checks:
        got = _size(n) if connected else None
        if got is None or got == want:
            continue
        from samatte.errors import PromptError
        raise PromptError(
            "%s is %s a %dx%d image, the Source (%s) is %dx%d: samatte reads shapes and tracks in pixels of "
            "the Source's format, so they would not sit on the object; connect %s to the node the Source "
            "shows (or reformat after the SAMatte node)" % (
                n.name(), "rendered from" if n is rendered else "drawn on", got[0], got[1], source.name(),
                want[0], want[1], n.name()))


def script_frames(mode, custom, first, last):
    """The node's frame range in script frames: ``input`` (the Source's range) or ``custom``
    (:func:`custom_frames`)."""
    if mode == "custom" and custom.strip():
        return custom_frames(custom)
    return list(range(int(first), int(last) + 1))


def custom_frames(text):
    """The script frames of the node's custom range: samatte's syntax (``1001-1100``, ``1-9x2``, ``1,5``) or Nuke's
    own, which Foundry documents for "everywhere in Nuke" (Defining Frame Ranges): parts separated by spaces
    (``1-10 20-30``, ``1 3 4 8``, ``1-4x1 8-10x1``; the step also written ``\u00d7`` as on that page). Before, a
    range typed as the artist types it in Nuke's own dialogs was FRAME_RANGE_INVALID "cannot parse frame range
    part '1-10 20-30'". A text neither reads is that error, as before."""
    from samatte.errors import FrameRangeError
    from samatte.frames import parse_frames
    try:
        return parse_frames(text)
    except FrameRangeError as e:
        first_error = e
    parts = [p for p in re.split(r"[\s,]+", text.replace("\u00d7", "x")) if p]
    try:
        return parse_frames(",".join(parts))
    except FrameRangeError as e:
        # (the part it stopped at, where the text has several: 'cannot parse ... 'abc'', '4-1' ends before it starts)
        raise (e if len(parts) > 1 else first_error) from None


def ocio_config(root, *, named=False):
    """The OCIO config file for the job, or None (samatte's built-in default): ``$OCIO`` when set (Nuke
    itself lets it override the project settings), else the custom config path when the project's OCIO
    config is 'custom'. With ``named`` (the Read names a colourspace: ``linear``, ``sRGB``,
    ``ACES - ACEScg``), else the config Nuke uses for the project (the Root's ``OCIOConfigPath``: its
    bundled nuke-default, aces_1.2, ...), the one that name belongs to; without a name the job keeps
    samatte's default, which a farm machine without Nuke has too."""
    env = os.environ.get("OCIO")
    if env:
        return env
    try:
        cm = root["colorManagement"].value()
    except Exception:  # noqa: BLE001 - Nuke 13 and older have no such knob
        cm = ""
    if cm == "OCIO":
        try:
            if root["OCIO_config"].value() == "custom":
                p = root["customOCIOConfigPath"].value()
                if p:
                    return host_path(p)   # (as Nuke opens it: a script made on another OS, its path mapped)
        except Exception:  # noqa: BLE001
            pass
    if not named:
        return None
    try:
        p = host_path(root["OCIOConfigPath"].value())
    except Exception:  # noqa: BLE001 - no such knob: samatte's default config
        p = ""
    return p if p and os.path.isfile(p) else None


def cache_root(knob_value, script_path, *, project_dir=None):
    """The cache folder: the node's knob, else ``samatte_cache`` next to the script, else
    ``~/samatte_cache`` for an unsaved script. A relative knob value is relative to the project directory
    (``project_dir``: the Root's ``project_directory`` evaluated), else to the script's folder, as Nuke
    resolves relative file paths ("The common relative path used to reference the full file path is defined
    in the project_directory knob of the Nuke script", Foundry Q100154): before, to Nuke's working folder
    (wherever Nuke was started from), so the same script wrote and read its mattes in another folder in each
    session, and a farm render found none. Only an unsaved script with no project directory keeps the working
    folder. An absolute value is as it was."""
    if knob_value:
        path = os.path.expanduser(knob_value)
        if not os.path.isabs(path):
            base = project_dir or ""
            if base:
                base = os.path.expanduser(base)
            if not base and script_path and script_path != "Root":
                base = os.path.dirname(os.path.abspath(script_path))
            if base:
                path = os.path.join(base, path)
        return os.path.abspath(path)
    if script_path and script_path != "Root":
        return os.path.join(os.path.dirname(os.path.abspath(script_path)), "samatte_cache")
    return os.path.join(os.path.expanduser("~"), "samatte_cache")


def cache_root_now(group, root):
    """:func:`cache_root` of a SAMatte node (``group``) as its knobs resolve now: its cache folder knob (TCL
    evaluated), the script's path and the project directory (Root ``project_directory``, TCL such as
    ``[python {nuke.script_directory()}]`` evaluated)."""
    pk = root.knob("project_directory")
    try:
        project_dir = host_path(folder_text(pk) if pk is not None else "")
    except Exception:  # noqa: BLE001 - a project directory Nuke cannot evaluate: the script's folder
        project_dir = ""
    knob = host_path(folder_text(group["cache_dir"]))
    # a folder of another OS that nothing maps (a script made on Windows opened on Linux): before, Z:/cache was
    # taken for a relative folder, and the mattes went to <project>/Z:/cache/... on this machine
    other = knob if foreign_path(knob) else project_dir if (knob and not os.path.isabs(os.path.expanduser(knob))
                                                              and foreign_path(project_dir)) else None
    if other:
        from samatte.errors import OutputError
        raise OutputError(
            "the cache folder of %s is %s, %s of another OS that this Nuke maps to none of its own: %s; or set the "
            "node's cache folder to a folder of this machine" % (
                group.name(), os.path.join(project_dir, knob) if other is project_dir else knob,
                "under a project directory" if other is project_dir else "a path", MAPPING_HINT % other))
    return cache_root(knob, root["name"].value(), project_dir=project_dir or None)


#: what to set where a path of another OS is not mapped (``%s``: that path)
MAPPING_HINT = ("map it to this machine's folder in Nuke's Preferences > General > Path Substitutions (the start of %s "
                "in the Windows or Mac/Linux column, this machine's folder in its own), or with a "
                "nuke.addFilenameFilter in the studio's init.py, then open the script again")


def node_folder(root_dir, node_name, uid):
    return os.path.join(root_dir, "%s_%s" % (node_name, uid))


def output_pattern(folder):
    return os.path.join(folder, "matte", "matte.####.exr")


def _read_files(read):
    """(size, mtime_ns) of each file a Read reads in its range (None: a file that cannot be read); None for another
    node (or a Read Nuke cannot expand)."""
    if read.Class() != "Read" or read.knob("first") is None:
        return None
    try:
        pattern = read_path(read) or ""
        first, last = int(read["first"].value()), int(read["last"].value())
    except Exception:  # noqa: BLE001 - a Read the double or Nuke cannot expand: its knobs still count
        return None
    out = []
    for f in range(first, last + 1) if _FRAME_TOKEN.search(pattern) else [None]:
        path = pattern if f is None else _file_at(pattern, f)
        try:
            st = os.stat(path)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return out


def _read_stamps(read, unit=None):
    """Size and mtime_ns of each file a Read reads in its range (a plate re-rendered under the same
    path changes them, as it changes samatte's own plate stamps); '' for another node. The mtime in whole
    ``unit`` ns (default ``MTIME_UNIT_NS``, as samatte's keys count it: the same share seen over SMB (Windows,
    macOS: 100 ns) and NFS (Linux: the server's ns) gave two hashes, so Track & Matte on the other OS rendered
    the plate again into another folder and made every frame again)."""
    return _stamps_text(_read_files(read), unit)


def _stamps_text(files, unit=None):
    if files is None:
        return ""
    from samatte.cachekey import mtime_in_units
    return ",".join("-" if e is None else "%d:%d" % (e[0], mtime_in_units(e[1], unit)) for e in files)


#: knobs of where a node sits and looks in the node graph, in no hash of what it does
_NODE_GRAPH_KNOBS = ("xpos", "ypos", "selected", "label", "note_font", "tile_color")

#: a SAMatte node's knobs that hold words for the artist (its status line, objects text, scores): they change with
#: every press of a button and every progress event of its job, its picture does not. A SAMatte node upstream of
#: another's Source hashed them: the second node rendered its whole plate again (into another folder) and re-matted
#: every frame after a Refresh objects, a Release GPU or any run of the first
_SAMATTE_WORDS = ("status", "objects_info", "samatte_scores")

#: the mtime units (ns) the upstream hash in a rendered plate's folder name has counted Read files' mtimes in, newest
#: first: ``MTIME_UNIT_NS`` (None; whole ms since 0.2.19), 100 ns (0.2.19's development builds), 1 ns (through
#: 0.2.18). A node aligned by an earlier samatte named its plate folder with one of them (:func:`upstream_hashes`).
HASH_MTIME_UNITS = (None, 100, 1)


#: the Root knobs (Project Settings > Color, as a saved script's Root writes them) that decide the values a plate
#: rendered from the graph holds: the colour management (Nuke's LUTs or OCIO), the OCIO config, the working space
#: (what a raw Write writes) and the default LUTs a Read left on ``default`` converts its files with. The custom
#: config counts by its file (:func:`colour_settings`), not its path: a script opened on another OS keeps its folder
COLOUR_KNOBS = ("colorManagement", "OCIO_config", "workingSpaceLUT", "int8Lut", "int16Lut", "logLut", "floatLut")


def colour_settings(root):
    """The project's colour settings a render of the graph depends on, as text ('' when the Root has none of
    :data:`COLOUR_KNOBS`): each knob's value and the stamp of the OCIO config file in use (``$OCIO`` or the custom
    config: its content, as the cache keys count it, and the LUT files it names)."""
    words = []
    for name in COLOUR_KNOBS:
        k = root.knob(name)
        if k is None:
            continue
        try:
            words.append("%s=%s" % (name, k.value()))
        except Exception:  # noqa: BLE001 - a knob that cannot be read counts as absent
            continue
    cfg = ocio_config(root)
    if cfg:
        from samatte.cachekey import config_stamp
        words.append("config=%s" % (cfg if str(cfg).startswith("ocio://") else config_stamp(cfg)))
    return "\n".join(words)


def plate_hash(source, root=None, unit=None):
    """The hash in the folder name of a plate rendered from ``source``: :func:`upstream_hash` (every knob upstream,
    the Reads' files; ``unit`` as for :func:`upstream_hashes`) and the project's :func:`colour_settings`. A raw Write
    writes the working space, and a Read converts its files into it with the project's config and default LUTs:
    before, only the graph counted, so after the project's working space or OCIO config changed (nuke-default to
    ACES mid-show, a shot handed over with other settings) Track & Matte reused the plate rendered in the old space
    and named it with the new one (the job read linear Rec.709 values as ACEScg)."""
    import nuke
    base = upstream_hashes(source, (unit,))[0]
    colour = colour_settings(root if root is not None else nuke.root())
    return hashlib.sha256(("%s\n%s" % (base, colour)).encode("utf-8", "replace")).hexdigest()[:16]


def upstream_hash(source):
    """A hash of every node upstream of ``source`` (class, name, every knob's script text, and the stamps of
    the files each Read reads)."""
    return upstream_hashes(source)[0]


def upstream_hashes(source, units=(None,)):
    """:func:`upstream_hash` of ``source`` with the Reads' file mtimes counted in each of ``units`` (ns; None:
    ``MTIME_UNIT_NS``), in that order, from one walk of the graph and one stat of each file: the hashes a plate
    folder was named with by samatte versions whose unit differed (:data:`HASH_MTIME_UNITS`)."""
    hs = [hashlib.sha256() for _ in units]
    for n in _upstream(source):
        head = ("%s %s\n" % (n.Class(), n.name())).encode("utf-8")
        files = _read_files(n)
        for h, unit in zip(hs, units):
            h.update(head)
            h.update(("files=%s\n" % _stamps_text(files, unit)).encode("utf-8"))
        knobs = n.knobs()
        words = _SAMATTE_WORDS if is_samatte_node(n) else ()
        for name in sorted(knobs):
            if name in _NODE_GRAPH_KNOBS or name in words:
                continue
            try:
                text = ("%s=%s\n" % (name, knobs[name].toScript())).encode("utf-8", "replace")
            except Exception:  # noqa: BLE001
                continue
            for h in hs:
                h.update(text)
    return [h.hexdigest()[:16] for h in hs]


#: the knobs of a Read that decide which of its files it shows on a script frame (Foundry's Read reference)
_READ_TIME_KNOBS = ("frame_mode", "frame", "first", "last", "before", "after", "disable")
#: nodes that change the frames upstream nodes are seen at (Foundry's Time menu): gather's, and AppendClip (its
#: inputs one after another from its ``firstFrame``: moved, every picture the Source shows moves)
_TIME_CLASSES = TIME_CLASSES + ("AppendClip",)


#: a time node's knobs that name it or set its look in the node graph (Nuke gives every node these): no change
#: in time. Its ``disable`` and lifetime knobs (a node outside its lifetime passes its input through) count
_TIME_LOOK_KNOBS = _NODE_GRAPH_KNOBS + (
    "name", "hide_input", "postage_stamp", "postage_stamp_frame", "gl_color", "note_font_size", "note_font_color",
    "cached", "dope_sheet", "bookmark", "help", "icon", "indicators", "onCreate", "onDestroy", "knobChanged",
    "updateUI", "autolabel", "lock_connections")


def time_signature(source):
    """A hash of what decides *which* frames of its inputs ``source`` shows on each script frame: every Read
    upstream (its frame mode and value, range, before / after, disable) and every time node (TimeOffset,
    FrameHold, Retime, ...: all their knobs but those of its name and look), not the nodes that change pixels
    only (a Grade tweak does not move a picture in time). '' without a source. A plate samatte renders holds the
    pictures the Source showed on each script frame then: when this changes, its mattes belong to other frames.
    Neither a node's name nor where the graph walk meets it counts (the nodes' entries are sorted): renaming the
    plate's Read, or a Grade put on one branch of a Merge, moves no picture in time (before, either refused
    every frame of the node)."""
    if source is None:
        return ""
    entries = []
    for n in _upstream(source):
        cls = n.Class()
        if cls == "Read":
            names = [k for k in _READ_TIME_KNOBS if n.knob(k) is not None]
        elif cls in _TIME_CLASSES:
            names = sorted(k for k in n.knobs() if k not in _TIME_LOOK_KNOBS)
        else:
            continue
        parts = [cls]
        for k in names:
            try:
                parts.append("%s=%s" % (k, n[k].toScript()))
            except Exception:  # noqa: BLE001
                pass
        entries.append("\x1f".join(parts))
    h = hashlib.sha256()
    for e in sorted(entries):
        h.update((e + "\n").encode("utf-8", "replace"))
    return h.hexdigest()[:16]


#: bytes of a plate file's head hashed into its stamp (its header, offset table and first chunks)
_HEAD = 1 << 16
#: (path, size, mtime_ns, inode) -> stamp: the read-back asks on every evaluation of its file knob
_STAMP_MEMO = {}


def _stamp(path):
    """``size:mtime_ns:<sha1 of the first 64 KiB, 12 hex>`` of a file, '-' when it cannot be read. Size and mtime
    are samatte's own rule for plate frames (its cache keys), the mtime in whole ``MTIME_UNIT_NS`` as the keys
    count it (a Linux NFS client sees the server's nanoseconds, Windows, macOS and any SMB client 100 ns, a Deadline
    Cloud session's copy whole microseconds: the farm node of a path-mapped render must see the stamps the artist's
    machine recorded; a knob aligned under a finer unit is compared in today's: ``farm._in_units``); the head's hash tells
    apart two files that share them (plates of one delivery unpacked in the same second, uncompressed EXRs of
    one size)."""
    from samatte.cachekey import mtime_in_units
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return "-"
    key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
    hit = _STAMP_MEMO.get(key)
    if hit is None:
        from samatte.inputfile import open_regular
        try:
            fh, _ = open_regular(path)
            with fh:
                head = hashlib.sha1(fh.read(_HEAD)).hexdigest()[:12]
        except OSError:
            return "-"
        if len(_STAMP_MEMO) > 4096:
            _STAMP_MEMO.clear()
        hit = _STAMP_MEMO[key] = "%d:%d:%s" % (st.st_size, mtime_in_units(st.st_mtime_ns), head)
    return hit


def plate_signature(source):
    """What identifies the plate files ``source`` shows: for every Read upstream of it (``source`` included),
    ``[name, file pattern, stamp of its first file, stamp of its last file]`` (stamp: ``size:mtime_ns`` (the
    rule samatte's cache keys use for plate frames) and a hash of the file's first 64 KiB: a re-rendered plate,
    or a Read pointed at another sequence, changes them; a project moved or copied with its file times, or mapped to another mount by a
    farm, keeps them, whatever its path). The path is kept to name the change; it does not decide it. A Read
    whose file cannot be named now (proxy mode with a proxy file and TCL in its file knob) has pattern None
    and stamps None (not known). [] without a source."""
    out = []
    if source is None:
        return out
    for n in _upstream(source):
        if n.Class() != "Read" or n.knob("file") is None:
            continue
        try:
            pattern = read_path(n)
            first, last = int(n["first"].value()), int(n["last"].value())
        except Exception:  # noqa: BLE001 - a Read Nuke cannot expand: not known
            pattern = None
        if not pattern:
            out.append([n.name(), None, None, None])
            continue
        if _FRAME_TOKEN.search(pattern):
            ends = [_stamp(_file_at(pattern, first)), _stamp(_file_at(pattern, last))]
        else:
            ends = [_stamp(pattern)] * 2
        out.append([n.name(), pattern] + ends)
    return out


def _cached_size_ok(node, pattern, frames, missing, offset):
    """Whether the frames already rendered for this upstream hash are the input's full size: a render in
    proxy mode by samatte 0.2.14 or older came out at the proxy scale under the same hash (and the
    prompts are full size). False: render them all again. True when the size cannot be told."""
    from samatte.exrheader import windows
    gone = set(missing)
    there = [t for t in frames if t not in gone]
    try:
        fmt = node.format()
        want = (int(fmt.width()), int(fmt.height()))
    except Exception:  # noqa: BLE001 - no format to compare with
        return True
    for t in sorted({there[0], there[-1]}):   # both ends: a cache rendered in two sessions, one in proxy mode
        win = windows(pattern.replace("####", "%04d" % (t - offset)))
        if win is not None and tuple(win["display_window"][2:]) != want:
            return False
    return True


def _render(nuke, group, input_name, folder, prefix, frames, *, channels, offset=0):
    """Render the group's Input ``input_name`` to ``folder``/<prefix>_<hash>/<prefix>.####.exr with a
    Write inside the node (main thread; ``nuke.execute``), file numbers = script frame - ``offset``
    (the Write's own 'offset' frame mode). Frames already there for the same upstream hash are kept.
    Returns the pattern."""
    idx = 0 if input_name == "Source" else 1
    pattern = render_pattern(group, input_name, folder, prefix)
    out_dir = os.path.dirname(pattern)
    missing = [t for t in frames if not os.path.exists(pattern.replace("####", "%04d" % (t - offset)))]
    if len(missing) < len(frames) and not _cached_size_ok(group.input(idx), pattern, frames, missing, offset):
        missing = list(frames)
    if missing:
        from .farm import make_folder
        make_folder(out_dir)   # (OUTPUT_INVALID before anything is rendered: a read-only place)
        group.begin()
        try:
            w = nuke.nodes.Write()
            w.setInput(0, group.node(input_name))   # inside the group: its Input node, not the outside node
            w["file"].setValue(pattern.replace("\\", "/"))
            w["file_type"].setValue("exr")
            w["channels"].setValue(channels)
            w["datatype"].setValue("16 bit half")
            w["raw"].setValue(True)  # scene-linear as Nuke holds it: no output transform
            w["create_directories"].setValue(True)
            if offset:
                w["frame_mode"].setValue("offset")
                w["frame"].setValue(str(-int(offset)))
            since = _now_ns()
            try:
                nuke.execute(w, min(missing), max(missing), 1)
            except RuntimeError as e:   # Foundry: a render cancelled by the artist raises "Cancelled ..."
                _drop_last_written(pattern, range(min(missing), max(missing) + 1), offset, since)
                raise _render_error(e, group, input_name, missing) from None
            finally:
                nuke.delete(w)
        finally:
            group.end()
    return pattern


def render_pattern(group, input_name, folder, prefix):
    """The file pattern :func:`_render` renders the group's Input ``input_name`` to (nothing is rendered):
    ``folder``/<prefix>_<hash of everything upstream>/<prefix>.####.exr; for the Source, :func:`plate_hash` (the
    project's colour settings counted too)."""
    # (the Source: from the node whose picture it shows, :func:`source_node`: a Dot, a disabled node or a Roto that
    # draws into no colour channel between it and the node changes no pixel of the plate, and no roto tweak renders
    # it again)
    digest = plate_hash(source_node(group)) if input_name == "Source" else upstream_hash(group.input(1))
    return os.path.join(folder, "%s_%s" % (prefix, digest), "%s.####.exr" % prefix)


def _now_ns():
    import time
    return time.time_ns() - 2_000_000_000   # (file systems that round mtimes: a 2 s margin)


def _drop_last_written(pattern, script_frames, offset, since):
    """After a render that stopped part way (cancelled, or an error upstream): remove the frame file written
    last by it, which Nuke may have left half written (nuke.execute renders the frames one after another, so
    those before it are whole; they are kept for the next Track & Matte, whose missing-frame check would
    otherwise take a half frame for a rendered one)."""
    newest = None
    for t in script_frames:
        path = pattern.replace("####", "%04d" % (t - offset))
        try:
            m = os.stat(path).st_mtime_ns
        except OSError:
            continue
        if m >= since and (newest is None or m >= newest[0]):
            newest = (m, path)
    if newest is not None:
        try:
            os.remove(newest[1])
        except OSError:
            pass


def _render_error(err, group, input_name, frames):
    """The samatte error for a render of the node's ``input_name`` that Nuke stopped (``err``: the
    RuntimeError nuke.execute raised): CANCELLED when the artist cancelled it (Foundry's own render code
    tells a cancel by the message starting with "Cancelled"), else PLATE_INVALID (the Source) or
    PROMPT_INVALID (the Prompts input of refine only), with Nuke's message. Before, the button raised
    Nuke's RuntimeError as it was: a Python traceback, and the node's status line said nothing."""
    from samatte.errors import CancelledError, PlateError, PromptError
    from samatte.frames import format_frames
    text = str(err).strip() or type(err).__name__
    what = "the Source" if input_name == "Source" else "the Prompts input"
    span = format_frames(sorted(frames))
    if text.startswith("Cancelled"):
        return CancelledError("rendering %s of %s (script frames %s) for samatte was cancelled: nothing was "
                              "tracked; the frames rendered so far are kept for the next run"
                              % (what, group.name(), span))
    cls = PlateError if input_name == "Source" else PromptError
    return cls("Nuke could not render %s of %s (script frames %s) for samatte: %s; fix the nodes above it (the "
               "Viewer shows the same error) and press the button again" % (what, group.name(), span, text))


def render_plate(nuke, group, folder, frames):
    """The Source rendered to an EXR sequence (frame numbers = script frames)."""
    return _render(nuke, group, "Source", folder, "plate", frames, channels="rgb")


def render_masks(nuke, group, folder, frames, offset):
    """The Prompts input's alpha on every frame (refine-only mode), numbered like the plate's files."""
    return _render(nuke, group, "Prompts", folder, "roto", frames, channels="alpha", offset=offset)


def build_job(*, name, plate_path, file_frames, colourspace, ocio, objects, output, tracker, model,
              quality, device, matte="auto", meta=None):
    """The JobSpec dict (validated by samatte.jobspec). ``meta``: the job's ``meta`` (in no cache key)."""
    from samatte import jobspec
    from samatte.frames import format_frames
    job = jobspec.new_job(plate_path, output, frames=format_frames(sorted(file_frames)),
                          colourspace=colourspace or None, ocio_config=ocio or None, name=name,
                          tracker=tracker, model=model, matte=matte, quality=quality, device=device)
    if meta:
        job["meta"] = dict(meta)
    for ob in objects:
        if ob.get("masks"):
            jobspec.add_object(job, ob["name"], masks=ob["masks"], host_name=ob.get("host_name"))
        else:
            jobspec.add_object(job, ob["name"], ob["prompts"], host_name=ob.get("host_name"))
        gone = sorted(set(ob.get("absent") or ()) & set(file_frames))
        if gone:   # the frames where every shape of the object is hidden (gather.gather_objects)
            job["objects"][-1]["absent"] = format_frames(gone)
    return jobspec.validate(job)


def job_text(job):
    return json.dumps(job, sort_keys=True)
