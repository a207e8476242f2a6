"""A double of the parts of Nuke's Python API that samatte's node uses (tests only).

Nuke cannot be installed on the test machines, so this module stands in for ``nuke``. Every behaviour
below is taken from Foundry's Python API documentation; each class or function names its source
(``[doc: ...]``). Where the documentation is silent and the double had to choose, it says so
(``[assumed: ...]``): those behaviours are unverified in a real Nuke and are listed in the README.

Sources (learn.foundry.com/nuke/developers/<version>/...):
  [PyRef]   pythonreference / pythondevguide/_autosummary: nuke.Node, nuke.Knob, nuke.Array_Knob,
            nuke.Enumeration_Knob, nuke.File_Knob, nuke.Format, nuke.ProgressTask,
            nuke.executeInMainThread, nuke.execute, nuke.message, nuke.nodes, nuke.createNode
  [Threads] pythondevguide/threading.html ("executeInMainThread ... ProgressTask")
  [Formats] pythondevguide/formats.html (Format.width/height/pixelAspect, Node.format())
  [ReadUG]  nuke/8.0/content/getting_started/managing_scripts/changing_read_frames.html and the
            Read node reference (knobs file, first, last, frame_mode, frame, colorspace, format)
  [Roto]    pythondevguide/rotopaint.html and nuke.rotopaint.* (see nuke/rotopaint.py)
  [Proxy]   nuke/<v>/content/getting_started/managing_scripts/proxy_mode.html ("In proxy mode ... All images
            and all x/y positions are scaled by this factor"; proxy format / proxy scale; a Read's proxy file)
  [WriteRef] nuke/13.0/content/reference_guide/image_nodes/write.html ("this node executes all renders at the
            currently active scale: either full- or proxy-resolution")
  [ReformatRef] nuke/13.1/content/reference_guide/transform_nodes/reformat.html (type "to format" sets "the
            output width and height to the selected format"; output format 'format', default root.format)
  [TransformRef] nuke/<v>/content/reference_guide/transform_nodes/transform.html (translate, rotate, scale,
            skew X / Y, skew order, center, invert)
  [CropRef] nuke/<v>/content/reference_guide/transform_nodes/crop.html (box, reformat)
  [Tracker4Ref] nuke/<v>/content/reference_guide/transform_nodes/tracker.html (Transform tab: transform)
  [TimeRef] nuke/content/reference_guide/time_nodes/framehold.html (first_frame, increment) and the user
            guide's "Offsetting Clips" (TimeOffset: time offset (frames), reverse input); the frame
            mapping itself is the adapter's (samatte_nuke.convert), the double only holds the knobs
  [Prefs]   nuke/<v>/content/misc/available_preferences_studio.html (General > Path Substitutions) and
            pythondevguide/_autosummary/nuke.addFilenameFilter.html, Foundry's nuke_internal/callbacks.py
            (filenameFilter: the registered filters, class-specific first, each list in backwards order)
  [RenderPanel] nuke/developers/151/pythondevguide/_modules/nukescripts/renderpanel.html (Foundry's
            cache_particles_panel: ``except RuntimeError as e: ... if e.args[0][0:9] != "Cancelled": raise``
            around nuke.executeMultiple: a render the artist cancels raises RuntimeError("Cancelled ..."))

Strictness the real Nuke has but does not always report: touching nodes or knobs from a thread other
than the main thread is unsafe in Nuke [Threads]; the double raises ``RuntimeError`` so tests catch it.
"""
import os
import queue
import re
import threading

__all__ = []

GUI = True
env = {"gui": True, "NukeVersionMajor": 15, "NukeVersionMinor": 1, "NukeVersionString": "15.1v1"}
REPLACE = 1

_MAIN = threading.main_thread()
_main_queue = queue.Queue()
_state = {"frame": 1, "this": [], "nodes": [], "messages": [], "executed": [], "progress": [],
          "render_hook": None, "context": [], "render_scales": [], "views": ["main"]}


#: [PyRef nuke.Node] real Nuke hands out a new Python wrapper of a node from each call that returns one
#: (``input()``, ``nuke.toNode()``, ``allNodes()``, ``Group.nodes()``, ``dependencies()``, ``thisNode()`` ...):
#: wrappers of one node compare equal with ``==`` ("x.__eq__(y) <==> x==y"), but they are not the same object,
#: so ``is`` and ``id()`` tell them apart, and a freed wrapper's id may be reused by another node's.
#: [assumed] whether two wrappers of one node hash alike is not documented (the reference lists ``__hash__``
#: with no word on what it hashes): in this mode each wrapper hashes by itself, so code relying on it fails here.
#: True (the default): those calls return fresh wrappers sharing the node's state, so a test compares nodes with
#: ``==``, never ``is``; False (``NUKE_DOUBLE_FRESH_WRAPPERS=0``, or a test setting it): the very node object each
#: time (the double's behaviour through 0.2.19, which hid the adapter's id()-keyed walks).
FRESH_WRAPPERS = os.environ.get("NUKE_DOUBLE_FRESH_WRAPPERS", "1") not in ("", "0")


def _wrap(node):
    """A fresh wrapper of ``node`` (in :data:`FRESH_WRAPPERS` mode), else ``node``: a new object of the node's
    class sharing its ``__dict__`` (its knobs, inputs, name: every change through one is seen through all)."""
    if node is None or not FRESH_WRAPPERS or not isinstance(node, Node):
        return node
    w = object.__new__(type(node))
    w.__dict__ = node.__dict__
    return w


def _real(node):
    """The node object behind a wrapper (itself when it is one)."""
    if node is None:
        return None
    d = getattr(node, "__dict__", None)
    return d.get("_self", node) if isinstance(d, dict) else node


def _check_main(what):
    if threading.current_thread() is not _MAIN:
        raise RuntimeError("nuke double: %s from a non-main thread (use nuke.executeInMainThread)" % what)


def _reset():
    """Fresh session (tests): no nodes, frame 1, empty queues."""
    global GUI
    GUI = True
    env["gui"] = True
    _state.update({"frame": 1, "this": [], "nodes": [], "messages": [], "executed": [], "progress": [],
                   "render_hook": None, "context": [], "render_scales": [], "views": ["main"]})
    while not _main_queue.empty():
        _main_queue.get_nowait()
    _ROOT.__init__("Root")
    _ROOT._name = "Root"
    _callbacks["onCreate"].clear()
    _callbacks["onScriptLoad"].clear()
    del _clipboard[:]
    filenameFilters.clear()
    _PREFS.__init__()


# --- formats ----------------------------------------------------------------------------------------
class Format(object):
    """[Formats] width(), height(), pixelAspect(), name(); [PyRef nuke.Format] x(), y(), r(), t()."""

    def __init__(self, width, height, pixel_aspect=1.0, name=""):
        self._w, self._h, self._pa, self._name = int(width), int(height), float(pixel_aspect), name

    def width(self):
        return self._w

    def height(self):
        return self._h

    def pixelAspect(self):
        return self._pa

    def name(self):
        return self._name

    def x(self):
        return 0

    def y(self):
        return 0

    def r(self):
        return self._w

    def t(self):
        return self._h

    def __str__(self):
        """As a .nk script writes a format (a Format knob's toScript): "w h x y r t pixel_aspect name"."""
        return ("%d %d 0 0 %d %d %g %s" % (self._w, self._h, self._w, self._h, self._pa, self._name)).strip()


# --- animation --------------------------------------------------------------------------------------
class AnimationKey(object):
    """[PyRef nuke.AnimationKey] attributes x (time) and y (value)."""

    def __init__(self, x, y):
        self.x, self.y = float(x), float(y)


class AnimationCurve(object):
    """[PyRef nuke.AnimationCurve] keys() -> list of AnimationKey; evaluate(t).
    [assumed] interpolation between keys is linear here (Nuke's default is 'smooth'); the adapter only
    reads values on key frames, where both agree."""

    def __init__(self):
        self._keys = {}

    def setKey(self, t, v):
        self._keys[float(t)] = float(v)
        return AnimationKey(t, v)

    def keys(self):
        return [AnimationKey(t, self._keys[t]) for t in sorted(self._keys)]

    def evaluate(self, t):
        ts = sorted(self._keys)
        if not ts:
            return 0.0
        if t <= ts[0]:
            return self._keys[ts[0]]
        if t >= ts[-1]:
            return self._keys[ts[-1]]
        for a, b in zip(ts, ts[1:]):
            if a <= t <= b:
                u = (t - a) / (b - a)
                return self._keys[a] * (1 - u) + self._keys[b] * u
        return 0.0


# --- knobs ------------------------------------------------------------------------------------------
INVISIBLE = 0x400
DISABLED = 0x80
STARTLINE = 0x1000


class Knob(object):
    """[PyRef nuke.Knob] name(), label(), value(), getValue(), setValue(), getValueAt(t), isAnimated(),
    setFlag/clearFlag, setVisible, setEnabled, setTooltip. Setting a value is a main-thread action."""

    def __init__(self, name, label=None, value=None):
        self._name = name
        self._label = label if label is not None else name
        self._value = value
        self._flags = 0
        self._anims = {}
        self._tooltip = ""
        self.node = None

    def Class(self):
        return type(self).__name__

    def name(self):
        return self._name

    def label(self):
        return self._label

    def value(self):
        return self._value

    def getValue(self, index=0):
        return self._value

    def setValue(self, value, index=0):
        _check_main("Knob.setValue(%s)" % self._name)
        self._value = value
        return True

    def getValueAt(self, t, index=0):
        if index in self._anims:
            return self._anims[index].evaluate(t)
        v = self._value
        if isinstance(v, (list, tuple)):
            return v[index]
        return v

    def setValueAt(self, value, t, index=0):
        _check_main("Knob.setValueAt(%s)" % self._name)
        self._anims.setdefault(index, AnimationCurve()).setKey(t, value)
        return True

    def isAnimated(self, index=0):
        return index in self._anims

    def animation(self, index=0):
        """[PyRef nuke.Array_Knob.animation(chan)] AnimationCurve or None."""
        return self._anims.get(index)

    def isKeyAt(self, t, index=0):
        a = self._anims.get(index)
        return bool(a) and float(t) in a._keys

    def setFlag(self, f):
        self._flags |= f

    def clearFlag(self, f):
        self._flags &= ~f

    def getFlag(self, f):
        return bool(self._flags & f)

    def setVisible(self, visible):
        (self.clearFlag if visible else self.setFlag)(INVISIBLE)

    def visible(self):
        return not self.getFlag(INVISIBLE)

    def setEnabled(self, enabled):
        (self.clearFlag if enabled else self.setFlag)(DISABLED)

    def enabled(self):
        return not self.getFlag(DISABLED)

    def setTooltip(self, text):
        self._tooltip = text

    def tooltip(self):
        return self._tooltip

    def toScript(self):
        return "" if self._value is None else str(self._value)

    def fromScript(self, s):
        self._value = s
        return True


class Tab_Knob(Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name, label=None, value=""):
        Knob.__init__(self, name, label, value)


class String_Knob(Knob):
    def __init__(self, name, label=None, value=""):
        Knob.__init__(self, name, label, value)

    def value(self):
        return "" if self._value is None else str(self._value)

    getValue = value


class EvalString_Knob(String_Knob):
    """[PyRef nuke.EvalString_Knob] "A string-valued knob which evaluates its value as a TCL expression":
    value() / getText() is the text as typed (brackets and $variables kept), evaluate() performs the
    substitutions (see :func:`_tcl_subst`) and, for a file name, puts the current frame into its frame
    token (a community answer: ``o['file'].evaluate()`` "expands %04d too")."""

    def evaluate(self):
        return _frame_subst(_tcl_subst(self.value(), self.node), frame())

    def getEvaluatedValue(self, oc=None):
        """[PyRef File_Knob.getEvaluatedValue(oc=None)] "Returns the string on this knob ... Will also
        evaluate TCL expressions", in the output context ``oc`` (its frame: what a node downstream asks
        for, e.g. through a TimeOffset); without one, the root's frame."""
        f = oc.frame() if oc is not None else frame()
        return _frame_subst(_tcl_subst(self.value(), self.node, ctx_frame=f), f)

    getText = String_Knob.value


class Multiline_Eval_String_Knob(EvalString_Knob):
    pass


class File_Knob(EvalString_Knob):
    """[PyRef nuke.File_Knob] (bases: EvalString_Knob) value() is the pattern as typed (#### or %04d)
    [ReadUG], TCL not expanded; nuke.filename(node) expands it."""


class Int_Knob(Knob):
    def __init__(self, name, label=None, value=0):
        Knob.__init__(self, name, label, int(value))

    def value(self):
        return int(self._value)

    def getValue(self, index=0):
        return int(self._value)

    def setValue(self, value, index=0):
        return Knob.setValue(self, int(value))


class Double_Knob(Knob):
    def __init__(self, name, label=None, value=0.0):
        Knob.__init__(self, name, label, float(value))


class Array_Knob(Knob):
    pass


class XY_Knob(Array_Knob):
    def __init__(self, name, label=None, value=(0.0, 0.0)):
        Knob.__init__(self, name, label, list(value))


class Boolean_Knob(Knob):
    """[PyRef nuke.Boolean_Knob] value() -> bool. A subclass of Array_Knob, so it can be animated (a node's
    ``disable`` keyed on and off: setValueAt / getValueAt / isAnimated inherited); [PyRef nuke.Knob] getValue
    "Return value at the current frame": an animated one gives its curve at ``nuke.frame()`` (before, the double
    gave the value set last whatever the frame). [assumed] true where the curve is 0.5 or more (keys are 0 / 1)."""

    def __init__(self, name, label=None, value=False):
        Knob.__init__(self, name, label, bool(value))

    def value(self):
        if 0 in self._anims:
            return self._anims[0].evaluate(frame()) >= 0.5
        return bool(self._value)

    getValue = value

    def getValueAt(self, t, index=0):
        if index in self._anims:
            return float(self._anims[index].evaluate(t))
        return float(bool(self._value))

    def setValue(self, value, index=0):
        return Knob.setValue(self, bool(value))


class Enumeration_Knob(Knob):
    """[PyRef nuke.Enumeration_Knob] value() -> the item's name (string); getValue() -> its index;
    setValue() takes a name or an index; values() -> the items."""

    def __init__(self, name, label=None, values=()):
        Knob.__init__(self, name, label, 0)
        self._values = list(values)

    def values(self):
        return list(self._values)

    def setValues(self, values):
        self._values = list(values)
        self._value = min(self._value, max(0, len(self._values) - 1))

    def value(self):
        return self._values[self._value] if self._values else ""

    def getValue(self, index=0):
        return float(self._value)

    def setValue(self, value, index=0):
        _check_main("Enumeration_Knob.setValue(%s)" % self._name)
        if isinstance(value, str):
            if value not in self._values:
                raise ValueError("%r is not an item of %s" % (value, self._name))
            self._value = self._values.index(value)
        else:
            self._value = int(value)
        return True


class PyScript_Knob(Knob):
    """[PyRef nuke.PyScript_Knob(name, label, command)]; execute() runs the command with
    nuke.thisNode() set to the knob's node."""

    def __init__(self, name, label=None, command=""):
        Knob.__init__(self, name, label, command)

    def execute(self):
        _state["this"].append(self.node)
        try:
            exec(compile(self._value, "<knob %s>" % self._name, "exec"), {"nuke": _this_module()})
        finally:
            _state["this"].pop()


class Format_Knob(Knob):
    pass


class Obsolete_Knob(Knob):
    pass


def _this_module():
    import sys
    return sys.modules[__name__]


# --- nodes ------------------------------------------------------------------------------------------
_DEFAULT_FORMAT = Format(2048, 1556, 1.0, "2K_Super_35(full-ap)")


class Node(object):
    """[PyRef nuke.Node] Class(), name(), setName(), knob(), knobs(), node[knob], addKnob(),
    removeKnob(), input(i), setInput(i, node), inputs(), dependencies(), format() [Formats],
    bbox() -> [x, y, w, h], firstFrame(), lastFrame(), fullName(). Creating a node, adding knobs and
    connecting inputs are main-thread actions [Threads]."""

    _counters = {}

    def __init__(self, cls, name=None, parent=None):
        _check_main("creating a %s node" % cls)
        parent = _real(parent)
        self._class = cls
        self._knobs = {}
        self._order = []
        self._inputs = {}
        self._parent = parent
        self._kids = []
        if parent is not None:   # (an index for nodes(): a scan of every node made per call was slow)
            parent.__dict__.setdefault("_kids", []).append(self)
        self._format = None
        self._bbox = None
        n = Node._counters.get(cls, 0) + 1
        Node._counters[cls] = n
        self._name = name or "%s%d" % (cls, n)
        self.addKnob(String_Knob("name", "name", self._name))
        self.addKnob(Boolean_Knob("disable", "disable", False))
        self.addKnob(String_Knob("label", "label", ""))
        self.addKnob(Boolean_Knob("selected", "selected", False))
        self.addKnob(Double_Knob("xpos", "xpos", 0))
        self.addKnob(Double_Knob("ypos", "ypos", 0))
        self._alive = True
        self._self = self

    def __eq__(self, other):
        """[PyRef nuke.Node.__eq__] wrappers of one node compare equal."""
        return isinstance(other, Node) and self.__dict__ is other.__dict__

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__   # [assumed] see FRESH_WRAPPERS: per wrapper, not per node

    def Class(self):
        return self._class

    def name(self):
        return self._name

    def fullName(self):
        if self._parent is not None and self._parent is not _ROOT:
            return self._parent.fullName() + "." + self._name
        return self._name

    def setName(self, name):
        _check_main("Node.setName")
        self._name = name
        self._knobs["name"]._value = name

    def knob(self, name):
        return self._knobs.get(name)

    def __getitem__(self, name):
        k = self._knobs.get(name)
        if k is None:
            raise NameError("knob %s does not exist" % name)
        return k

    def knobs(self):
        return dict(self._knobs)

    def allKnobs(self):
        return [self._knobs[n] for n in self._order]

    def addKnob(self, k):
        if getattr(self, "_knobs", None) is not None and self._order:
            _check_main("Node.addKnob")
        k.node = self
        if k.name() not in self._knobs:
            self._order.append(k.name())
        self._knobs[k.name()] = k

    def removeKnob(self, k):
        _check_main("Node.removeKnob")
        self._knobs.pop(k.name(), None)
        self._order = [n for n in self._order if n != k.name()]

    def input(self, i):
        return _wrap(self._inputs.get(i))

    def setInput(self, i, node):
        _check_main("Node.setInput")
        if node is None:
            self._inputs.pop(i, None)
        else:
            self._inputs[i] = _real(node)
        return True

    def inputs(self):
        return (max(self._inputs) + 1) if self._inputs else 0

    def dependencies(self, what=None):
        return [_wrap(self._inputs[i]) for i in sorted(self._inputs)]

    def dependent(self, what=None):
        me = _real(self)
        return [_wrap(n) for n in _all_nodes_recursive() if me in n._inputs.values()]

    def setXYpos(self, x, y):
        self._knobs["xpos"]._value = x
        self._knobs["ypos"]._value = y

    # image properties -------------------------------------------------------------------------------
    def _up(self):
        """The node whose image this one passes on for its format, bbox and range: its input 0; for an Input
        node inside a Group [PyRef nuke.Group / Input node: "passes the group's input number N"], what is
        connected to its Group's input ``number``."""
        if self._class == "Input" and self._parent is not None and self._parent is not _ROOT \
                and "number" in self._knobs:
            return self._parent.input(int(self._knobs["number"].value() or 0))
        return self.input(0)

    def format(self):
        if self._format is not None:
            return self._format
        if "format" in self._knobs and isinstance(self._knobs["format"].value(), Format):
            return self._knobs["format"].value()
        up = self._up()
        if up is not None:
            return up.format()
        return _ROOT.format()

    def width(self):
        return self.format().width()

    def height(self):
        return self.format().height()

    def pixelAspect(self):
        return self.format().pixelAspect()

    def bbox(self):
        """[PyRef nuke.Node.bbox] -> [x, y, w, h] in the node's format (bottom-left origin)."""
        if self._bbox is not None:
            return list(self._bbox)
        up = self._up()
        # [assumed] a Reformat's bbox is its output format (its input's bbox scaled into it, for an input with
        # no overscan); other nodes pass their input's
        if up is not None and self._class not in ("Read", "Constant", "Reformat"):
            return up.bbox()
        f = self.format()
        return [0, 0, f.width(), f.height()]

    def _set_bbox(self, x, y, w, h):
        self._bbox = [x, y, w, h]

    def firstFrame(self):
        if "first" in self._knobs and self._class == "Read":
            return _read_script_frame(self, self["first"].value())
        up = self._up()
        return up.firstFrame() if up is not None else _ROOT["first_frame"].value()

    def lastFrame(self):
        if "last" in self._knobs and self._class == "Read":
            return _read_script_frame(self, self["last"].value())
        up = self._up()
        return up.lastFrame() if up is not None else _ROOT["last_frame"].value()

    def metadata(self, key=None, time=None):
        return {} if key is None else None

    # groups -----------------------------------------------------------------------------------------
    def begin(self):
        _state["context"].append(_real(self))
        return self

    def end(self):
        if _state["context"] and _state["context"][-1] is _real(self):
            _state["context"].pop()

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc):
        self.end()

    def nodes(self):
        return [_wrap(n) for n in self.__dict__.get("_kids", ()) if n._alive]

    def node(self, name):
        for n in self.nodes():
            if n.name() == name:
                return n
        return None

    def __repr__(self):
        return "<nuke double %s %s>" % (self._class, self._name)


def _read_script_frame(read, file_frame):
    """[ReadUG] the script frame at which a Read shows file frame ``file_frame``: offset mode adds the
    offset; 'start at' N puts the first file frame at N."""
    mode = read["frame_mode"].value()
    val = read["frame"].value().strip()
    if not val:
        return int(file_frame)
    if mode == "offset":
        return int(file_frame) + int(float(val))
    if mode == "start at":
        return int(file_frame) - int(read["first"].value()) + int(float(val))
    return int(file_frame)


class _RootNode(Node):
    def __init__(self, name="Root"):
        self._class = "Root"
        self._kids = []
        self._knobs = {}
        self._order = []
        self._inputs = {}
        self._parent = None
        self._format = None
        self._bbox = None
        self._name = name
        self._alive = True
        self._self = self
        for k in (String_Knob("name", "name", ""),
                  # [Root reference] 'project directory' (project_directory), default none; its Script Directory
                  # button sets it to [python {nuke.script_directory()}]; relative file paths are relative to it
                  # (Foundry support Q100154, "Relative file path referencing in Nuke")
                  File_Knob("project_directory", "project directory", ""),
                  Int_Knob("first_frame", "first", 1),
                  Int_Knob("last_frame", "last", 100), Knob("format", "format", _DEFAULT_FORMAT),
                  Enumeration_Knob("colorManagement", "color management", ["Nuke", "OCIO"]),
                  Enumeration_Knob("OCIO_config", "OCIO config",
                                   ["nuke-default", "aces_1.2", "custom"]),
                  File_Knob("customOCIOConfigPath", "custom OCIO config", ""),
                  # the config file Nuke uses for the project (its bundled nuke-default, aces_1.2, ...;
                  # the path Foundry's own flipbook code reads); '' in the double unless a test sets it
                  File_Knob("OCIOConfigPath", "OCIO config path", ""),
                  # the project's working space (what a Read converts to, a raw Write writes): the knob
                  # Foundry's flipbook reads for any node but a Read; "linear" in nuke-default
                  String_Knob("workingSpaceLUT", "working space", "linear"),
                  # [Proxy] Project Settings: 'proxy' (what Ctrl/Cmd+P toggles), 'proxy_type' (proxy mode:
                  # format or scale), 'proxy_scale' (default 0.5), 'proxy_format'; "All images and all x/y
                  # positions are scaled by this factor" in proxy mode
                  Boolean_Knob("proxy", "proxy", False),
                  Enumeration_Knob("proxy_type", "proxy mode", ["scale", "format"]),
                  Double_Knob("proxy_scale", "proxy scale", 0.5),
                  Knob("proxy_format", "proxy format", Format(1024, 778, 1.0, "1K_Super_35(full-ap)"))):
            k.node = self
            self._order.append(k.name())
            self._knobs[k.name()] = k

    def format(self):
        return self._knobs["format"].value()


_ROOT = _RootNode()


def root():
    """[PyRef nuke.root] the Root node; root()['name'] is the script path ('' when unsaved)."""
    return _wrap(_ROOT)


def _read_knobs():
    return [File_Knob("file", "file", ""), File_Knob("proxy", "proxy", ""),
            Int_Knob("first", "first", 1), Int_Knob("last", "last", 1),
            Int_Knob("origfirst", "origfirst", 1), Int_Knob("origlast", "origlast", 1),
            Enumeration_Knob("frame_mode", "frame", ["expression", "start at", "offset"]),
            String_Knob("frame", "", ""), String_Knob("colorspace", "colorspace", "default"),
            Knob("format", "format", None), Boolean_Knob("raw", "raw data", False),
            Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"]),
            Enumeration_Knob("before", "before", ["hold", "loop", "bounce", "black"]),
            Enumeration_Knob("after", "after", ["hold", "loop", "bounce", "black"]),
            PyScript_Knob("reload", "reload", "")]


def _write_knobs():
    return [File_Knob("file", "file", ""), String_Knob("file_type", "file type", ""),
            String_Knob("channels", "channels", "rgb"), String_Knob("datatype", "datatype", ""),
            String_Knob("colorspace", "colorspace", "default"), Boolean_Knob("raw", "raw", False),
            Boolean_Knob("create_directories", "create directories", False),
            Boolean_Knob("use_limit", "limit to range", False), Int_Knob("first", "first", 1),
            Int_Knob("last", "last", 1), Enumeration_Knob("frame_mode", "frame", ["expression", "start at", "offset"]),
            String_Knob("frame", "", "")]


def _roto_knobs(output="alpha"):
    """[RotoRef] nuke/<v>/content/reference_guide/draw_nodes/roto.html and [RotoPaintUG] comp_environment/rotopaint/
    selecting_output_format.html: 'output', the channels the shapes (and strokes) are rendered into (Roto: alpha,
    RotoPaint: rgba, "By default, rgba is selected"); 'premultiply', "multiplies the selected input channels with a
    mask representing the paint strokes and shapes" (none); 'cliptype', "clip to": no clip, bbox ("restrict the output
    image to the incoming bounding box"), format. [assumed] the value texts as .nk files write them."""
    from . import rotopaint
    return [rotopaint.CurveKnob("curves"), Knob("format", "format", None), String_Knob("output", "output", output),
            String_Knob("premultiply", "premultiply", "none"),
            Enumeration_Knob("cliptype", "clip to", ["bbox", "none", "format"])]


#: [ReadUG] / [PyRef] the knobs each node class starts with (only those the adapter touches)
_CLASS_KNOBS = {
    "Read": _read_knobs,
    "Write": _write_knobs,
    "Roto": _roto_knobs,
    "RotoPaint": lambda: _roto_knobs("rgba"),
    # [Tracker4Ref] Transform tab: 'transform' none | stabilize | match-move | remove jitter | add jitter
    "Tracker4": lambda: [Tracks_Knob("tracks"),
                         Enumeration_Knob("transform", "transform", ["none", "stabilize", "match-move",
                                                                     "remove jitter", "add jitter"])],
    # [TransformRef] Transform: translate (x, y), rotate (degrees), scale (one value, or w and h), skewX, skewY,
    # skew_order (XY | YX), center (x, y), invert_matrix; the matrix is the adapter's (convert.transform_matrix)
    "Transform": lambda: [XY_Knob("translate", "translate"), Double_Knob("rotate", "rotate", 0.0),
                          Array_Knob("scale", "scale", 1.0), Double_Knob("skewX", "skew X", 0.0),
                          Double_Knob("skewY", "skew Y", 0.0), Enumeration_Knob("skew_order", "skew order",
                                                                                 ["XY", "YX"]),
                          XY_Knob("center", "center"), Boolean_Knob("invert_matrix", "invert", False)],
    # [TransformMaskedRef] nuke/<v>/content/reference_guide/transform_nodes/transformmasked.html: it translates,
    # rotates, scales or skews "in the same way as the Transform node" (the Transform knobs above, same names), only
    # the channels of 'channels' (default all), and, given a mask, "limited to the non-black areas of the mask" (input
    # 1, 'mask'); the mask channel knob 'maskChannelInput' (default none: no mask) as on Foundry's other masked nodes
    # ([InvertRef] reference_guide/color_nodes/invert.html)
    "TransformMasked": lambda: ([String_Knob("channels", "channels", "all")] + _CLASS_KNOBS["Transform"]()
                                + [String_Knob("maskChannelInput", "mask", "none")]),
    # [CropRef] Crop: box (x, y, r, t), reformat (off: the input's format is kept)
    "Crop": lambda: [Array_Knob("box", "box", [0.0, 0.0, 0.0, 0.0]), Boolean_Knob("reformat", "reformat", False)],
    "Input": lambda: [Int_Knob("number", "number", 0)],
    "Copy": lambda: [String_Knob("from0", "", "none"), String_Knob("to0", "", "none"),
                     String_Knob("channels", "layer copy", "none")],
    "Remove": lambda: [String_Knob("operation", "operation", "remove"), String_Knob("channels", "", "none")],
    # [TimeRef] TimeOffset: time_offset (frames; "a positive value adds frames to the head of the clip"),
    # reverse_input; FrameHold: first_frame (default 0) and increment (default 0)
    "TimeOffset": lambda: [Int_Knob("time_offset", "time offset (frames)", 0),
                           Boolean_Knob("reverse_input", "reverse input", False)],
    "FrameHold": lambda: [Int_Knob("first_frame", "first frame", 0), Int_Knob("increment", "increment", 0)],
    # [ReformatRef] Reformat: type ("to format", "to box", "scale"; default "to format"), output format
    # ('format', default root.format: its output is that format whatever the input's), resize type, center
    "Reformat": lambda: [Enumeration_Knob("type", "type", ["to format", "to box", "scale"]),
                         Knob("format", "output format", _ROOT.format()),
                         Enumeration_Knob("resize", "resize type", ["none", "width", "height", "fit", "fill",
                                                                    "distort"]),
                         Boolean_Knob("center", "center", True)],
}


def _default_knobs(node):
    for k in _CLASS_KNOBS.get(node.Class(), list)():
        node.addKnob(k)


def _new_node(cls, knobs=None):
    parent = _real(thisGroup())   # (the current group context: a Group's button makes its nodes inside it)
    name = (knobs or {}).pop("name", None) if knobs else None
    node = Node(cls, name=name, parent=parent)
    _default_knobs(node)
    for k, v in (knobs or {}).items():
        if k not in node._knobs:
            node.addKnob(Knob(k, k, v))
        elif isinstance(node[k], Enumeration_Knob) or not isinstance(v, Format):
            node[k].setValue(v)
        else:
            node[k]._value = v
    _state["nodes"].append(node)
    _do_on_create(node)
    return node


class _Nodes(object):
    """[PyRef nuke.nodes] nuke.nodes.Read(file=..., first=...) creates a node with knob values, without
    connecting it to the selection."""

    def __getattr__(self, cls):
        if cls.startswith("_"):
            raise AttributeError(cls)

        def make(**knobs):
            return _new_node(cls, dict(knobs))
        return make


nodes = _Nodes()


def createNode(cls, knobs="", inpanel=True):
    """[PyRef nuke.createNode(node, args, inpanel)]: args is a string of knob/value pairs."""
    vals = {}
    if knobs:
        parts = knobs.split()
        for k, v in zip(parts[::2], parts[1::2]):
            vals[k] = v
    return _new_node(cls, vals)


def delete(node):
    _check_main("nuke.delete")
    node = _real(node)
    node._alive = False
    for child in [n for n in _state["nodes"] if n._parent is node]:
        child._alive = False


def _all_nodes_recursive():
    return [n for n in _state["nodes"] if n._alive]


def allNodes(filter=None, group=None, recurseGroups=False):
    """[PyRef nuke.allNodes] the nodes of ``group`` (default: the current group), with ``recurseGroups`` those
    inside its Groups too."""
    grp = _real(group) or _real(thisGroup())
    out = [n for n in _state["nodes"] if n._alive and (_inside(n, grp) if recurseGroups else n._parent is grp)]
    return [_wrap(n) for n in out if filter is None or n.Class() == filter]


def _inside(node, group):
    p = node._parent
    while p is not None:
        if p is group:
            return True
        p = p._parent
    return group is _ROOT


def toNode(name):
    """[PyRef nuke.toNode] by name; None when absent. ``preferences``: the Preferences node. A name is looked up
    in the current group context (:func:`thisGroup`: inside ``with group:``, or while a knob of a node inside a
    Group is evaluated), ``Group1.Blur1`` a node inside that context's ``Group1``; ``root.`` starts from the
    script's top level (``root.Group1.Blur1``: absolute, as TCL names it). [assumed] the context rule (Foundry's
    reference says "Search for a node in the DAG by name"; the relative lookup is Nuke's behaviour in a Group
    context, as with ``nuke.allNodes()`` and ``nuke.createNode``)."""
    if name == "preferences":
        return _PREFS
    if not isinstance(name, str) or not name:
        return None
    parts = name.split(".")
    if parts[0] == "root":
        group, parts = _ROOT, parts[1:]
        if not parts:
            return _wrap(_ROOT)
    else:
        group = _real(thisGroup())
    node = group
    for part in parts:
        node = next((n for n in node.__dict__.get("_kids", ()) if n._alive and n._name == part), None)
        if node is None:
            return None
    return _wrap(node)


def thisNode():
    return _wrap(_real(_state["this"][-1])) if _state["this"] else None


def selectedNode():
    """[PyRef nuke.selectedNode] the selected node; ValueError when none is selected."""
    sel = [n for n in _all_nodes_recursive() if n.knob("selected") is not None and n["selected"].value()]
    if not sel:
        raise ValueError("no node selected")
    return _wrap(sel[-1])


def thisParent():
    """[PyRef nuke.thisParent] the parent (Group) of the node being evaluated."""
    n = _real(thisNode())
    return _wrap(n._parent) if n is not None else None


def script_directory():
    """[PyRef nuke.utils.script_directory / nuke_internal.utils] the folder of the script (the root's 'name'
    knob), '' for an unsaved script; artists put it in file knobs: ``[python nuke.script_directory()]/...``."""
    path = _ROOT["name"].value()
    return os.path.dirname(path) if path else ""


def thisGroup():
    """[PyRef nuke.thisGroup] the current group context: the innermost ``with group:`` / ``begin()``, else, while
    a knob of a node is evaluated (:func:`thisNode`), the Group that node sits in, or the node itself when it is
    a Group (its buttons and knob expressions run inside it: ``nuke.toNode("Read1")`` finds the Read inside),
    else the Root. [assumed] from Nuke's behaviour with gizmo buttons; the reference says "Returns the current
    context Group node"."""
    if _state["context"]:
        return _wrap(_state["context"][-1])
    n = _real(_state["this"][-1]) if _state["this"] else None
    if n is not None and (n._class == "Group" or n.__dict__.get("_kids")):
        return _wrap(n)
    if n is not None and n._parent is not None:
        return _wrap(n._parent)
    return _wrap(_ROOT)


class OutputContext(object):
    """[PyRef nuke.OutputContext] "Describes a context in which expressions can be evaluated. Construct
    with a frame number. Construct with a frame number and view." frame() / setFrame(f); view() 1-based."""

    def __init__(self, f=None, view=1):
        self._frame = float(frame() if f is None else f)
        self._view = int(view)

    def frame(self):
        return self._frame

    def setFrame(self, f):
        self._frame = float(f)
        return True

    def view(self):
        return self._view

    def setView(self, n):
        self._view = int(n)
        return True


def views():
    """[PyRef nuke.views] "Returns a list of the view names in the script": ``["main"]`` in a new script,
    ``["left", "right"]`` after Project Settings > Views > Set up views for stereo (tests set
    ``_state["views"]``)."""
    return list(_state["views"])


def frame(f=None):
    """[PyRef nuke.frame] the current frame (set it with an argument): "Normally this is the frame number
    set in the root node" [assumed] also while a knob is evaluated in another output context (a TimeOffset
    downstream): TCL's [frame] gives that context's frame, this does not."""
    if f is not None:
        _state["frame"] = int(f)
    return _state["frame"]


def message(text):
    """[PyRef nuke.message] a modal message in the GUI (main thread only)."""
    _check_main("nuke.message")
    _state["messages"].append(text)


def critical(text):
    message(text)


def ask(text):
    return True


def tprint(*a):
    pass


def _render_scale():
    """(sx, sy) a render made now is scaled by: [WriteRef] the Write "executes all renders at the currently
    active scale: either full- or proxy-resolution"; [Proxy] proxy mode scales every image by the proxy
    scale, or by the proxy format's size over the full-size format's. (1.0, 1.0) with proxy off. A render
    hook reads it to write what Nuke would (``_state["render_scales"]`` holds one per execute)."""
    if not _ROOT["proxy"].value():
        return (1.0, 1.0)
    if _ROOT["proxy_type"].value() == "format":
        full, px = _ROOT.format(), _ROOT["proxy_format"].value()
        return (px.width() / float(full.width()), px.height() / float(full.height()))
    s = float(_ROOT["proxy_scale"].value())
    return (s, s)


def execute(node, start=None, end=None, incr=1, views=None, continueOnError=False):
    """[PyRef nuke.execute(nameOrNode, start, end, incr)] renders a Write; main thread only. The double
    calls the render hook a test installs (it writes the files a real render would), at the scale proxy
    mode sets (:func:`_render_scale`). A render Nuke stops raises RuntimeError: [RenderPanel] Foundry's own
    nukescripts.renderpanel (cache_particles_panel) tells a render the artist cancelled by the message starting
    with "Cancelled"; a hook raises it so (after writing the frames done so far)."""
    _check_main("nuke.execute")
    _state["executed"].append((node.name(), start, end))
    _state["render_scales"].append(_render_scale())
    hook = _state["render_hook"]
    if hook is None:
        raise RuntimeError("nuke double: no render hook installed for nuke.execute")
    hook(node, int(start), int(end))


def executeInMainThread(call, args=(), kwargs=None):
    """[PyRef nuke.executeInMainThread(call, args, kwargs)]: queues ``call`` for the main thread and
    returns at once [Threads]. Tests drain the queue with ``_process_main_queue``."""
    _main_queue.put((call, tuple(args) if isinstance(args, (list, tuple)) else (args,), kwargs or {}))


def executeInMainThreadWithResult(call, args=(), kwargs=None):
    """[PyRef] blocks the calling thread until the main thread has run ``call``."""
    if threading.current_thread() is _MAIN:
        return call(*args, **(kwargs or {}))
    done = threading.Event()
    box = {}

    def run():
        try:
            box["r"] = call(*args, **(kwargs or {}))
        finally:
            done.set()
    _main_queue.put((run, (), {}))
    done.wait()
    return box.get("r")


def _process_main_queue(timeout=0.0):
    """Run what other threads queued for the main thread (what Nuke's event loop does). Returns how
    many calls ran."""
    _check_main("processing the main-thread queue")
    n = 0
    try:
        call, args, kwargs = _main_queue.get(timeout=timeout) if timeout else _main_queue.get_nowait()
    except queue.Empty:
        return 0
    while True:
        call(*args, **kwargs)
        n += 1
        try:
            call, args, kwargs = _main_queue.get_nowait()
        except queue.Empty:
            return n


class _ProgressRecord(object):
    """What Nuke's progress window shows of one ProgressTask (tests read it and press its cancel)."""

    def __init__(self, name):
        self.name = name
        self.message = ""
        self.progress = 0
        self.cancelled = False
        self.closed = False


class ProgressTask(object):
    """[PyRef nuke.ProgressTask(name)]: setMessage(str), setProgress(int 0-100), isCancelled();
    usable from a worker thread [Threads]; the task closes when the object is deleted ([Threads]'s
    example ends it with ``del task``). The double records what the window shows in a separate
    record, so holding the record does not keep the task open: ``_progress_tasks()`` gives the
    records (``closed`` is set when the task object goes away; set ``cancelled`` to press cancel)."""

    def __init__(self, name):
        self._rec = _ProgressRecord(name)
        _state["progress"].append(self._rec)

    def setMessage(self, text):
        self._rec.message = text

    def setProgress(self, value):
        self._rec.progress = int(value)

    def isCancelled(self):
        return self._rec.cancelled

    def __del__(self):
        self._rec.closed = True


# --- menus and plugin paths -------------------------------------------------------------------------
_plugin_paths = []


def pluginAddPath(path, addToSysPath=True):
    """[PyRef nuke.pluginAddPath] adds to Nuke's plugin path and sys.path."""
    import sys
    _plugin_paths.insert(0, path)
    if addToSysPath and path not in sys.path:
        sys.path.insert(0, path)


def pluginPath():
    return list(_plugin_paths)


class Menu(object):
    """[PyRef nuke.Menu] addCommand(name, command, shortcut, icon), addMenu(name, icon), findItem."""

    def __init__(self, name, icon=None):
        self._name = name
        self.icon = icon
        self.items = {}

    def name(self):
        return self._name

    def addMenu(self, name, icon=None, **kw):
        return self.items.setdefault(name, Menu(name, icon))

    def addCommand(self, name, command=None, shortcut="", icon="", **kw):
        self.items[name] = {"command": command, "shortcut": shortcut, "icon": icon}
        return self.items[name]

    def findItem(self, name):
        return self.items.get(name)


_menus = {}


def menu(name):
    return _menus.setdefault(name, Menu(name))


def toolbar(name):
    return menu(name)


# --- TCL in string knobs, nuke.filename ------------------------------------------------------------
_TCL_CMD = re.compile(r"\[([^\[\]]*)\]")
_TCL_ENV = re.compile(r"\$env\((\w+)\)")
_FRAME_TOKEN = re.compile(r"#+|%0?(\d*)d")


def _tcl_value(ref, node):
    if "." in ref:
        owner, kname = ref.rsplit(".", 1)
        n = _ROOT if owner == "root" else (node if owner == "this" else toNode(owner))
    else:
        n, kname = node, ref
    if n is None or n.knob(kname) is None:
        raise RuntimeError("nuke double: [value %s]: no such knob" % ref)
    return str(n[kname].value())


_TCL_PY_BRACED = re.compile(r"\[python \{(.*?)\}\]")


def _tcl_number(f):
    f = float(f)
    return "%d" % f if f == int(f) else repr(f)


def _tcl_python(code, node):
    """``[python CODE]``: Nuke runs CODE as a Python expression with ``nuke`` imported and the knob's node
    as thisNode(); its value is substituted as a string."""
    import sys
    _state["this"].append(node)
    try:
        return str(eval(code, {"nuke": sys.modules[__name__]}))
    finally:
        _state["this"].pop()


def _tcl_subst(text, node=None, ctx_frame=None):
    """The TCL substitutions Nuke makes in a string knob ([Expr] "[ ] to embed Tcl in a string knob"),
    as far as file paths in the tests use them: ``[value root.name]`` / ``[value Node.knob]``,
    ``[file dirname|tail|rootname|extension X]`` (Tcl's file command), ``$env(NAME)``, ``[frame]`` (the
    frame of the context the knob is evaluated in, ``ctx_frame``; the root's without one) and
    ``[python {CODE}]`` (braces: CODE is not substituted) / ``[python "CODE"]`` (quotes: the brackets in
    CODE are substituted first, as Tcl does). Innermost brackets first. [assumed] any other command raises,
    so a test never gets a silently wrong path."""
    text = _TCL_ENV.sub(lambda m: os.environ.get(m.group(1), ""), text)
    text = _TCL_PY_BRACED.sub(lambda m: _tcl_python(m.group(1), node), text)
    while True:
        m = _TCL_CMD.search(text)
        if m is None:
            return text
        words = m.group(1).split(None, 2)
        if m.group(1).startswith("python "):
            code = m.group(1)[len("python "):].strip()
            if len(code) >= 2 and code[0] == code[-1] == '"':
                code = code[1:-1]
            out = _tcl_python(code.replace('\\"', '"'), node)
        elif words == ["frame"]:
            out = _tcl_number(frame() if ctx_frame is None else ctx_frame)
        elif words[:1] == ["value"] and len(words) == 2:
            out = _tcl_value(words[1], node)
        elif words[:1] == ["file"] and len(words) == 3 and words[1] in ("dirname", "tail", "rootname", "extension"):
            arg = words[2]
            out = {"dirname": os.path.dirname, "tail": os.path.basename,
                   "rootname": lambda a: os.path.splitext(a)[0], "extension": lambda a: os.path.splitext(a)[1]}[
                words[1]](arg)
        else:
            raise NotImplementedError("nuke double: TCL [%s] is not modelled" % m.group(1))
        text = text[:m.start()] + out + text[m.end():]


def _frame_subst(text, f):
    def rep(m):
        tok = m.group(0)
        width = len(tok) if tok.startswith("#") else int(m.group(1) or 0)
        return "%0*d" % (width, int(f))
    return _FRAME_TOKEN.sub(rep, text, count=1)


def filename(node=None, i=None):
    """[PyRef nuke.filename(node, i)] "For a Read or Write ... the current filename, based on the
    root.proxy settings and which of the fullsize/proxy filenames are filled in. All expansion of commands
    and variables is done. However by default it will still have %04d sequences in it, use REPLACE to get
    the actual filename with the current frame number." None when there is no file name. [assumed] the
    frame token is kept as typed (#### stays ####; samatte reads both spellings)."""
    node = node or thisNode()
    if node is None or node.knob("file") is None:
        return None
    k = node["file"]
    px = node.knob("proxy")
    if _ROOT["proxy"].value() and px is not None and px.value():
        k = px
    text = _tcl_subst(k.value(), node)
    if not text:
        return None
    return _frame_subst(text, frame()) if i == REPLACE else text


# --- callbacks ----------------------------------------------------------------------------------------
_callbacks = {"onCreate": {}, "onScriptLoad": {}}


def _add_callback(kind, call, args, kwargs, nodeClass):
    """Foundry's nuke_internal.callbacks._addCallback: ``call`` must be callable; an equal entry is removed
    first, so a callback is added once."""
    if not callable(call):
        raise ValueError("call must be a callable")
    args = args if isinstance(args, tuple) else (args,)
    entry = (call, args, dict(kwargs or {}))
    lst = _callbacks[kind].setdefault(nodeClass, [])
    if entry in lst:
        lst.remove(entry)
    lst.append(entry)

def addOnScriptLoad(call, args=(), kwargs=None, nodeClass="Root"):
    """[PyRef nuke.addOnScriptLoad / nuke_internal.callbacks] ``call(*args, **kwargs)`` when a script has been
    loaded (its nodes made and connected), nuke.thisNode() the Root; added once. Tests run them with
    :func:`_script_loaded`."""
    _add_callback("onScriptLoad", call, args, kwargs, nodeClass)


def _script_loaded():
    """(tests) What Nuke does once a script's nodes are all made and connected: its onScriptLoad callbacks."""
    _state["this"].append(_ROOT)
    try:
        for call, args, kwargs in list(_callbacks["onScriptLoad"].get("Root", [])):
            call(*args, **kwargs)
    finally:
        _state["this"].pop()


def addOnCreate(call, args=(), kwargs=None, nodeClass="*"):
    """[PyRef nuke.addOnCreate / nuke_internal.callbacks] ``call(*args, **kwargs)`` with nuke.thisNode() the
    new node, for nodes of ``nodeClass`` ('*': all); added once (Foundry's _addCallback removes an equal
    entry first). [Callbacks] onCreate runs whenever a node is created: from Python or a menu, and when a
    script is loaded or nodes are pasted (onUserCreate is the one for the user's menu alone)."""
    _add_callback("onCreate", call, args, kwargs, nodeClass)


def removeOnCreate(call, args=(), kwargs=None, nodeClass="*"):
    args = args if isinstance(args, tuple) else (args,)
    lst = _callbacks["onCreate"].get(nodeClass, [])
    if (call, args, dict(kwargs or {})) in lst:
        lst.remove((call, args, dict(kwargs or {})))


def _do_on_create(node):
    """Foundry's _doCallbacks: the node's class first, then '*', with thisNode() set to the node."""
    _state["this"].append(node)
    try:
        for cls in (node.Class(), "*"):
            for call, args, kwargs in list(_callbacks["onCreate"].get(cls, [])):
                call(*args, **kwargs)
    finally:
        _state["this"].pop()


# --- filename filters and Path Substitutions -------------------------------------------------------------
#: [PyRef nuke.addFilenameFilter] / Foundry's nuke_internal/callbacks.py: {nodeClass: [(call, args, kwargs)]}
filenameFilters = {}


def addFilenameFilter(call, args=(), kwargs=None, nodeClass="*"):
    """[PyRef nuke.addFilenameFilter(call, args=(), kwargs={}, nodeClass='*')] "Add a function to modify filenames
    before Nuke passes them to the operating system. The first argument to the function is the filename, and it
    should return the new filename. None is the same as returning the string unchanged. All added functions are
    called in backwards order." (added once, as Foundry's _addCallback)"""
    args = args if isinstance(args, tuple) else (args,)
    entry = (call, args, dict(kwargs or {}))
    lst = filenameFilters.setdefault(nodeClass, [])
    if entry in lst:
        lst.remove(entry)
    lst.append(entry)


def removeFilenameFilter(call, args=(), kwargs=None, nodeClass="*"):
    args = args if isinstance(args, tuple) else (args,)
    lst = filenameFilters.get(nodeClass, [])
    if (call, args, dict(kwargs or {})) in lst:
        lst.remove((call, args, dict(kwargs or {})))


def filenameFilter(filename):
    """Foundry's nuke_internal/callbacks.py ``filenameFilter(filename)``: the name run through the registered
    filters, the class-specific ones (of nuke.thisClass()) first, then those for '*', each in backwards order;
    a filter returning None leaves the name as it is. [assumed] no filter: the name unchanged (Foundry's falls
    back to a ``filenameFix`` in __main__, then the Tcl ``filename_fix``, whose default returns it unchanged).
    Nuke applies the Preferences' Path Substitutions itself, not through this function (its source has none)."""
    if not filenameFilters:
        return filename
    every = filenameFilters.get("*", [])
    if len(filenameFilters) > 1 or not every:
        n = thisNode()
        for f in filenameFilters.get(n.Class() if n is not None else "", [])[::-1]:
            s = f[0](filename, *f[1], **f[2])
            if s is not None:
                filename = s
    for f in every[::-1]:
        s = f[0](filename, *f[1], **f[2])
        if s is not None:
            filename = s
    return filename


class _PrefsNode(Node):
    """The Preferences node (``nuke.toNode("preferences")``). [Prefs] Foundry's Preferences, General > Path
    Substitutions: "Allows you to remap file paths in order to easily share projects across different operating
    systems. When the application encounters a file path, any text in the Mac/Linux column is replaced with the
    text in the Windows column, or vice versa" (Z: in the Windows column, /Volumes/networkmount in the Mac/Linux
    one: "On Mac and Linux, any file paths that start with Z: are converted to start with /Volumes/networkmount").
    [assumed] its knob ``platformPathRemaps`` (not in Foundry's Python reference; the name and the toScript()
    text studios' init.py files use: ``win;mac;linux;`` per row, ``-`` or '' for an empty cell)."""

    def __init__(self):
        self._class = "Preferences"
        self._knobs = {}
        self._order = []
        self._inputs = {}
        self._parent = None
        self._format = None
        self._bbox = None
        self._name = "preferences"
        self._alive = True
        self._self = self
        k = String_Knob("platformPathRemaps", "path substitutions", "")
        k.node = self
        self._order.append(k.name())
        self._knobs[k.name()] = k


_PREFS = _PrefsNode()


# --- copy and paste -------------------------------------------------------------------------------------
_clipboard = []


def selectedNodes(filter=None):
    """[PyRef nuke.selectedNodes] the selected nodes of the current group."""
    return [n for n in allNodes(filter) if n["selected"].value()]


def nodeCopy(s="%clipboard%"):
    """[PyRef nuke.nodeCopy(s)] "Copy all selected nodes into a file or the clipboard". The double keeps a
    copy of each selected node's knobs (every knob, user knobs included, as a .nk file holds them) and,
    for a Group, of the nodes inside it and their connections."""
    sel = selectedNodes()
    if not sel:
        raise RuntimeError("nuke double: nodeCopy with nothing selected")
    _clipboard[:] = [_snapshot(n) for n in sel]
    return True


def _snapshot(node):
    node = _real(node)
    knobs = [_knob_copy(node._knobs[name]) for name in node._order]
    kids = [n for n in _state["nodes"] if n._parent is node and n._alive]
    links = [(kids.index(n), i, kids.index(src)) for n in kids for i, src in n._inputs.items() if src in kids]
    return {"class": node._class, "knobs": knobs, "format": node._format, "bbox": node._bbox,
            "children": [_snapshot(n) for n in kids], "links": links}


def _knob_copy(k):
    """A knob with its own copy of the value, animation and (Roto) curves; no node."""
    import copy as _copy
    c = object.__new__(type(k))
    memo = {id(k.node): None} if k.node is not None else {}
    c.__dict__ = _copy.deepcopy(k.__dict__, memo)
    c.node = None
    return c


def _unique_name(parent, name):
    taken = {n.name() for n in _state["nodes"] if n._alive and n._parent is parent}
    if name not in taken:
        return name
    m = re.match(r"^(.*?)(\d*)$", name)
    stem, num = m.group(1), int(m.group(2) or 0)
    while True:
        num += 1
        if "%s%d" % (stem, num) not in taken:
            return "%s%d" % (stem, num)


def _restore(snap, parent):
    name = next(k for k in snap["knobs"] if k.name() == "name").value()
    node = Node(snap["class"], name=_unique_name(parent, name), parent=parent)
    for k in snap["knobs"]:
        c = _knob_copy(k)
        if c.name() == "name":
            c._value = node._name
        node.addKnob(c)
    node._format, node._bbox = snap["format"], snap["bbox"]
    _state["nodes"].append(node)
    _do_on_create(node)   # [assumed] the Group's own onCreate before the nodes inside it are made
    kids = [_restore(c, node) for c in snap["children"]]
    for a, i, b in snap["links"]:
        kids[a]._inputs[i] = kids[b]
    return node


def nodePaste(s="%clipboard%"):
    """[PyRef nuke.nodePaste(s)] "Paste nodes from a script file or the clipboard" -> Node. The pasted
    nodes get names unique in the group (a trailing number counts up: SAMatte1 -> SAMatte2), run the
    onCreate callbacks, and become the selection. [assumed] inputs from nodes that were not copied are
    left unconnected (the tests connect them)."""
    _check_main("nuke.nodePaste")
    parent = _real(thisGroup())
    for n in allNodes():
        n["selected"]._value = False
    made = [_restore(snap, parent) for snap in _clipboard]
    for n in made:
        n["selected"]._value = True
    return made[-1] if made else None


# --- Tracker4 ---------------------------------------------------------------------------------------
TRACKER_COLUMNS = ["enable", "name", "track_x", "track_y", "offset_x", "offset_y", "T", "R", "S", "error",
                   "error_min", "error_max", "pattern_x", "pattern_y", "pattern_r", "pattern_t", "search_x",
                   "search_y", "search_r", "search_t", "key_track", "key_search_x", "key_search_y",
                   "key_search_r", "key_search_t", "key_track_x", "key_track_y", "key_track_r", "key_track_t",
                   "key_centre_offset_x", "key_centre_offset_y"]


class Tracks_Knob(Knob):
    """Tracker4's 'tracks' table knob. Not in Foundry's reference as a class of its own; what is
    documented and used in Foundry's forum answers and tools (e.g. the Tracker4 shims on GitHub) is:
    the table is one flat array, value index = track * columns + column, read with getValueAt(t, i)
    and animation(i); toScript() gives '{ 1 <columns> <tracks> } { {<type> 1 <w> <name> <label> 1}
    ... } { {row} ... }' with the track name as each row's 2nd item. [assumed] 31 columns in the
    order of TRACKER_COLUMNS (the adapter reads the order from toScript())."""

    def __init__(self, name):
        Knob.__init__(self, name, name, None)
        self._tracks = []

    def _add_track(self, name, points, *, enabled=True):
        """Test helper: ``points`` {frame: (x, y)} keyed positions."""
        i = len(self._tracks)
        self._tracks.append(name)
        n = len(TRACKER_COLUMNS)
        en = self._anims.setdefault(i * n, AnimationCurve())
        ex, ey = AnimationCurve(), AnimationCurve()
        for t, (x, y) in sorted(points.items()):
            ex.setKey(t, x)
            ey.setKey(t, y)
        if isinstance(enabled, dict):
            for t, v in enabled.items():
                en.setKey(t, 1.0 if v else 0.0)
        else:
            en.setKey(min(points) if points else 1, 1.0 if enabled else 0.0)
        self._anims[i * n + 2] = ex
        self._anims[i * n + 3] = ey
        return i

    def getValueAt(self, t, index=0):
        a = self._anims.get(index)
        return a.evaluate(t) if a is not None else 0.0

    def getValue(self, index=0):
        return self.getValueAt(frame(), index)

    def toScript(self):
        n = len(TRACKER_COLUMNS)
        cols = " ".join("{%d 1 20 %s %s 1}" % (3 if c == "name" else 2, c, c) for c in TRACKER_COLUMNS)
        rows = []
        for i, nm in enumerate(self._tracks):
            cells = []
            for c in range(n):
                if c == 1:
                    cells.append('"%s"' % nm.replace('"', '\\"'))
                    continue
                a = self._anims.get(i * n + c)
                if a is None:
                    cells.append("{}")
                else:
                    cells.append("{curve " + " ".join("x%g %g" % (k.x, k.y) for k in a.keys()) + "}")
            rows.append(" { " + " ".join(cells) + " }")
        return "{ 1 %d %d } \n{ %s } \n{ %s \n}" % (n, len(self._tracks), cols, "\n".join(rows))


def _natural(s):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


def _set_render_hook(fn):
    _state["render_hook"] = fn


def _messages():
    return list(_state["messages"])


def _progress_tasks():
    return list(_state["progress"])


def _path_exists(p):
    return os.path.exists(p)
