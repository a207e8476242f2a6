"""Double of ``nuke.rotopaint`` (Roto/RotoPaint's curves) for tests.

Sources: Foundry's pythondevguide "Roto and RotoPaint" (rotopaint.html) and the _autosummary pages of
nuke.rotopaint (Nuke 14-17): CurveKnob.rootLayer; a Layer iterates its members (Layers, Shapes,
Strokes); Element.name; Shape is a sequence of ShapeControlPoint (len(), shape[i]); ShapeControlPoint
has center, leftTangent, rightTangent, featherCenter, featherLeftTangent, featherRightTangent, each an
AnimControlPoint, and "leftTangent: the left tangent offsets, relative to the center point",
"featherCenter: the feather point offsets, relative to the center point"; AnimControlPoint
getPosition(time) -> CVec3, getControlPointKeyTimes() -> list of floats, addPositionKey(time, pos),
setPosition(pos) ("the position used when there are no keys"); Shape/Layer getTransform() ->
AnimCTransform; AnimCTransform.evaluate(time) -> CTransform; CTransform.getMatrix() -> CMatrix4;
Shape.getAttributes() -> AnimAttributes with getValue(time, name); Shape.getVisible(time); a Stroke is
a paint stroke whose members are AnimControlPoints.

[assumed] CMatrix4 is read as 16 numbers, row-major, applied to column vectors (x' = m0 x + m1 y +
m3), as Magno Borgo's RotoShapes_to_trackers does with getMatrix(); the composition order of
translate/rotate/scale about the pivot below is the double's own choice (the adapter only applies
the matrix it is given). [assumed] attribute names 'inv' (invert) and 'vis' (visible) as they appear in
.nk files.

Added for the gathering QA pass (tests/test_qa_nuke_gather.py):
* AnimCTransform.get{Translation,Rotation,Scale,SkewX,PivotPoint}KeyTimes() -> list of floats and
  addSkewXKey (Foundry: nuke.rotopaint.AnimCTransform, 15.1/17.1 autosummary pages).
* FlagType (curvelib constants, Nuke 9 reference: eOpenFlag = 5, eVisibleFlag = 8, ...) and
  Element.getFlag(flag) / setFlag(flag, value) (curvelib.Flag: "Gets the specified flag. The parameter
  should be one of the FlagType constants"); an open spline (Nuke 12.2+) is a Shape with eOpenFlag set.
* Attributes 'opc' (opacity, default 1) and 'bm' (blending mode, an index into the blending_mode menu:
  0 over ... 12 minus), as real-world tools read them (github: a RotoEvaluate script tests
  ``getValue(frame, 'bm') == 12``; a Roto exporter reads 'opc', 'bm' and maps 12 to "minus").

Added for the Nuke day 15 pass (tests/test_qa172_*.py), from Foundry's Python API reference (Nuke 16.0,
nuke.curvelib.AnimAttributes / AnimCTransform / AnimCurve / AnimCurveKey pages):
* AnimAttributes.kWriteOnStartAttribute / kWriteOnEndAttribute ("constants for standard names in use by Nuke";
  their strings are not documented: the double's own, the adapter reads them through the constants) and
  ``name in attributes`` (__contains__); a Stroke starts with write on start 0 and end 1 (drawn whole).
* AnimCTransform.getExtraMatrixAnimCurve(i, j) -> AnimCurve ("the AnimCurve object for the 4i+j element in the
  transform's extra matrix"); AnimCurve.getNumberOfKeys(), getKey(index) -> AnimCurveKey (``time``, ``value``),
  addKey(time, value), evaluate(time). [assumed] a keyed extra matrix is applied before the rest of the
  transform (extra * T R S) by evaluate(): the order is the double's own (the adapter applies getMatrix()).
"""
import math

from . import _check_main

__all__ = ["CurveKnob", "Layer", "Shape", "Stroke", "ShapeControlPoint", "AnimControlPoint",
           "AnimCurve", "AnimCurveKey", "AnimCTransform", "CTransform", "CMatrix4", "CVec2", "CVec3", "AnimAttributes", "FlagType"]


class FlagType(object):
    """[PyRef _curvelib.FlagType] constants for Flag.getFlag / setFlag."""
    eUndefineFlag = -1
    eBreakFlag = 0
    eTangentLengthLockFlag = 1
    eKeySelectedFlag = 2
    eLeftTangentSelectedFlag = 3
    eRightTangentSelectedFlag = 4
    eOpenFlag = 5
    eSelectedFlag = 6
    eActiveFlag = 7
    eVisibleFlag = 8
    eRenderableFlag = 9
    eLockedFlag = 10
    ePressureInZFlag = 11
    eNukeAnimCurveEvalFlag = 12
    eRelativeTangentFlag = 13
    eMaxFlag = 14


class CVec2(object):
    def __init__(self, x=0.0, y=0.0):
        self.x, self.y = float(x), float(y)


class CVec3(object):
    def __init__(self, x=0.0, y=0.0, z=0.0):
        self.x, self.y, self.z = float(x), float(y), float(z)


def _lerp_keys(keys, t):
    ts = sorted(keys)
    if t <= ts[0]:
        return keys[ts[0]]
    if t >= ts[-1]:
        return keys[ts[-1]]
    for a, b in zip(ts, ts[1:]):
        if a <= t <= b:
            u = (t - a) / (b - a)
            va, vb = keys[a], keys[b]
            return tuple(p * (1 - u) + q * u for p, q in zip(va, vb))
    return keys[ts[-1]]


class AnimControlPoint(object):
    """An animated point: keyed positions, or one constant position when unkeyed."""

    def __init__(self, x=0.0, y=0.0):
        self._const = (float(x), float(y))
        self._keys = {}

    def setPosition(self, pos):
        self._const = (float(pos[0]), float(pos[1]))

    def addPositionKey(self, time, pos, view=None):
        self._keys[float(time)] = (float(pos[0]), float(pos[1]))

    def getControlPointKeyTimes(self, view=None):
        return sorted(self._keys)

    def getPosition(self, time, view=None):
        if not self._keys:
            x, y = self._const
        else:
            x, y = _lerp_keys(self._keys, float(time))
        return CVec3(x, y, 0.0)


class ShapeControlPoint(object):
    """center (absolute); tangents and feather relative to the center; feather tangents relative to
    the feather center."""

    def __init__(self, center=(0, 0), left=(0, 0), right=(0, 0), feather=(0, 0)):
        self.center = AnimControlPoint(*center)
        self.leftTangent = AnimControlPoint(*left)
        self.rightTangent = AnimControlPoint(*right)
        self.featherCenter = AnimControlPoint(*feather)
        self.featherLeftTangent = AnimControlPoint()
        self.featherRightTangent = AnimControlPoint()


class CMatrix4(object):
    def __init__(self, values=None):
        self._m = list(values) if values is not None else [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]

    def __getitem__(self, i):
        return self._m[i]

    def __len__(self):
        return 16

    def __mul__(self, other):
        a, b = self._m, other._m
        return CMatrix4([sum(a[r * 4 + k] * b[k * 4 + c] for k in range(4)) for r in range(4) for c in range(4)])


def _translate(tx, ty):
    return CMatrix4([1, 0, 0, tx, 0, 1, 0, ty, 0, 0, 1, 0, 0, 0, 0, 1])


class AnimCurveKey(object):
    """[PyRef curvelib.AnimCurveKey] "A key value in a parametric curve": ``time``, ``value``."""

    def __init__(self, time, value):
        self.time, self.value = float(time), float(value)


class AnimCurve(object):
    """[PyRef curvelib.AnimCurve] one float over time: getNumberOfKeys(), getKey(index) -> AnimCurveKey,
    addKey(time, value), evaluate(time) (the double: linear between keys, held outside; ``constantValue``
    without keys)."""

    def __init__(self, constant=0.0):
        self.constantValue = float(constant)
        self._keys = {}

    def addKey(self, time, value=0.0):
        self._keys[float(time)] = float(value)

    def getNumberOfKeys(self):
        return len(self._keys)

    def getKey(self, index):
        t = sorted(self._keys)[index]
        return AnimCurveKey(t, self._keys[t])

    def evaluate(self, time):
        if not self._keys:
            return self.constantValue
        return _lerp_keys({t: (v,) for t, v in self._keys.items()}, float(time))[0]


class CTransform(object):
    def __init__(self, matrix):
        self._matrix = matrix

    def getMatrix(self):
        return self._matrix


class AnimCTransform(object):
    """Translation, rotation (degrees), scale about a pivot, each keyable; an optional extra matrix."""

    def __init__(self):
        self._t = {}
        self._r = {}
        self._s = {}
        self._k = {}
        self._pivot = (0.0, 0.0)
        self._extra = None

    def addTranslationKey(self, time, x, y, pressure=0, view=None):
        self._t[float(time)] = (float(x), float(y))

    def addRotationKey(self, time, x, y=0, pressure=0, view=None):
        self._r[float(time)] = (float(x),)

    def addScaleKey(self, time, x, y, pressure=0, view=None):
        self._s[float(time)] = (float(x), float(y))

    def addSkewXKey(self, time, x, y=0, pressure=0, view=None):
        """Keys only (their times); the double's matrix leaves skew out."""
        self._k[float(time)] = (float(x),)

    def addPivotPointKey(self, time, x, y, pressure=0, view=None):
        self._pivot = (float(x), float(y))
        self._pivot_times = sorted(set(getattr(self, "_pivot_times", [])) | {float(time)})

    def getTranslationKeyTimes(self, view=None):
        return sorted(self._t)

    def getRotationKeyTimes(self, view=None):
        return sorted(self._r)

    def getScaleKeyTimes(self, view=None):
        return sorted(self._s)

    def getSkewXKeyTimes(self, view=None):
        return sorted(self._k)

    def getPivotPointKeyTimes(self, view=None):
        return list(getattr(self, "_pivot_times", []))

    def _set_extra_matrix(self, values):
        self._extra = CMatrix4(values)

    def getExtraMatrixAnimCurve(self, i, j, view=None):
        """[PyRef curvelib.AnimCTransform] "the AnimCurve object for the 4i+j element in the transform's extra
        matrix" (the Transform tab's extra matrix, e.g. a layer driven by a planar track); keyed curves are
        applied by :meth:`evaluate` (their value at the time, identity elsewhere)."""
        curves = getattr(self, "_extra_curves", None)
        if curves is None:
            curves = self._extra_curves = [AnimCurve(1.0 if k in (0, 5, 10, 15) else 0.0) for k in range(16)]
        return curves[4 * int(i) + int(j)]

    def evaluate(self, time, view=None):
        t = float(time)
        tx, ty = _lerp_keys(self._t, t) if self._t else (0.0, 0.0)
        (rot,) = _lerp_keys(self._r, t) if self._r else (0.0,)
        sx, sy = _lerp_keys(self._s, t) if self._s else (1.0, 1.0)
        px, py = self._pivot
        c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
        rs = CMatrix4([c * sx, -s * sy, 0, 0, s * sx, c * sy, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        m = _translate(tx, ty) * _translate(px, py) * rs * _translate(-px, -py)
        if self._extra is not None:
            m = self._extra * m
        curves = getattr(self, "_extra_curves", None)
        if curves is not None and any(c.getNumberOfKeys() for c in curves):
            m = CMatrix4([c.evaluate(t) for c in curves]) * m
        return CTransform(m)


class AnimAttributes(object):
    """[PyRef curvelib.AnimAttributes] "This class defines constants for standard names in use by Nuke":
    kWriteOnStartAttribute / kWriteOnEndAttribute (a paint stroke's write on start / end) among them; Foundry
    lists the constants, not their strings, so the double's strings are its own ([assumed]: the adapter reads the
    attributes only through the constants). ``name in attributes`` (documented ``__contains__``)."""
    kWriteOnStartAttribute = "wos"
    kWriteOnEndAttribute = "woe"

    def __init__(self):
        self._v = {"inv": 0.0, "vis": 1.0, "opc": 1.0, "bm": 0.0}
        self._anim = {}

    def __contains__(self, name):
        return name in self._v or name in self._anim

    def set(self, name, value, time=None):
        if time is None:
            self._v[name] = float(value)
        else:
            self._anim.setdefault(name, {})[float(time)] = float(value)

    def getValue(self, time, name, view=None):
        keys = self._anim.get(name)
        if keys:
            best = max((k for k in keys if k <= time), default=min(keys))
            return keys[best]
        return self._v.get(name, 0.0)


class Element(object):
    def __init__(self, curve_knob, name=None):
        if curve_knob is not None and getattr(curve_knob, "node", None) is not None:
            _check_main("creating a roto element")
        self.name = name or type(self).__name__
        self._transform = AnimCTransform()
        self._attrs = AnimAttributes()
        self._flags = set()

    def getFlag(self, flag):
        return int(flag) in self._flags

    def setFlag(self, flag, value=True):
        (self._flags.add if value else self._flags.discard)(int(flag))

    def getTransform(self):
        return self._transform

    def getAttributes(self):
        return self._attrs

    def getVisible(self, time, view=None):
        return self._attrs.getValue(time, "vis") > 0.5


class Layer(Element):
    def __init__(self, curve_knob=None, name=None):
        Element.__init__(self, curve_knob, name)
        self._items = []

    def append(self, element):
        self._items.append(element)

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self):
        return len(self._items)

    def __getitem__(self, i):
        return self._items[i]


class Shape(Element):
    """A closed Bezier; ``Shape(knob, *((x, y), ...))`` makes one with unkeyed points."""

    def __init__(self, curve_knob=None, *points, name=None):
        Element.__init__(self, curve_knob, name)
        self._cps = [ShapeControlPoint(center=p) for p in points]

    def append(self, cp):
        if not isinstance(cp, ShapeControlPoint):
            cp = ShapeControlPoint(center=cp)
        self._cps.append(cp)

    def __len__(self):
        return len(self._cps)

    def __getitem__(self, i):
        return self._cps[i]

    def __iter__(self):
        return iter(list(self._cps))


class Stroke(Element):
    """A paint stroke (open): a sequence of AnimControlPoints."""

    def __init__(self, curve_knob=None, *points, name=None):
        Element.__init__(self, curve_knob, name)
        self._pts = [AnimControlPoint(*p) for p in points]
        # a stroke is drawn whole by default: write on start 0, write on end 1 (the Stroke tab's defaults)
        self._attrs.set(AnimAttributes.kWriteOnStartAttribute, 0.0)
        self._attrs.set(AnimAttributes.kWriteOnEndAttribute, 1.0)

    def append(self, p):
        self._pts.append(p if isinstance(p, AnimControlPoint) else AnimControlPoint(*p))

    def __len__(self):
        return len(self._pts)

    def __getitem__(self, i):
        return self._pts[i]

    def __iter__(self):
        return iter(list(self._pts))


class CurveKnob(object):
    """The 'curves' knob of Roto and RotoPaint: rootLayer, toElement(path), changed()."""

    def __init__(self, name="curves"):
        self._name = name
        self.node = None
        self.rootLayer = Layer(None, "Root")

    def name(self):
        return self._name

    def Class(self):
        return "CurveKnob"

    def changed(self):
        pass

    def toElement(self, path):
        cur = self.rootLayer
        for part in path.split("/"):
            cur = next(e for e in cur if e.name == part)
        return cur

    def value(self):
        return None

    def setFlag(self, f):
        pass

    def toScript(self):
        """A fingerprint of the curves (tests: the prompt hash changes when a shape changes)."""
        out = []

        def walk(layer, depth):
            for e in layer:
                out.append("%s%s:%s" % (" " * depth, type(e).__name__, e.name))
                if isinstance(e, Layer):
                    walk(e, depth + 1)
                elif isinstance(e, Shape):
                    for cp in e:
                        out.append(repr((cp.center._const, sorted(cp.center._keys.items()))))
                elif isinstance(e, Stroke):
                    for p in e:
                        out.append(repr((p._const, sorted(p._keys.items()))))
        walk(self.rootLayer, 0)
        return "\n".join(out)
