"""Host names to samatte object (EXR layer) names: :func:`safe_name`.

Standard library only and importable on Python 3.9 (the Nuke and Blender adapters call it).

A host's names can hold anything: spaces (``"my roto"``), dots (Blender's ``MaskLayer.001``; Blender
also reads a channel ``a.b.A`` as layer ``a`` pass ``b``), unicode, or nothing at all. A JobSpec
object name is also the output EXR's layer name, so it must be ``[A-Za-z_][A-Za-z0-9_]{0,63}`` and
must not be a name samatte or a host uses for its own channels. The mapping, step by step:

1. Unicode is normalised (NFKD) and accents dropped (``"Café"`` -> ``"Cafe"``); any other non-ASCII
   character becomes ``u`` + its code point in hex (``"人"`` -> ``"u4eba"``), so different scripts
   stay different names.
2. Every character outside ``A-Z a-z 0-9 _`` (spaces, dots, dashes...) becomes ``_``; runs of ``_``
   shrink to one; leading and trailing ``_`` from those replacements are dropped (``" a.b "`` ->
   ``"a_b"``, ``"MaskLayer.001"`` -> ``"MaskLayer_001"``).
3. Empty -> ``"object"``; a leading digit gets a ``_`` in front (``"001"`` -> ``"_001"``).
4. At most 64 characters (cut at the end).
5. A reserved name, compared without case (:data:`RESERVED`: the JobSpec's channel and layer names
   such as ``A``, ``rgba``, ``mask``, ``depth``, plus Blender's ``Alpha``, ``Combined``, ``Depth``,
   ``Image``), gets ``_layer`` appended (``"Alpha"`` -> ``"Alpha_layer"``).
6. Unique against ``taken`` without case: ``_2``, ``_3``... is appended (the base cut so the result
   stays within 64 characters).

The result depends only on ``host_name`` and ``taken``: the same inputs always give the same name.
Keep the host's own name in the JobSpec object's ``host_name`` field (written to the EXR metadata).
"""
import re
import unicodedata

from .jobspec import _NAME_RE, _RESERVED_NAMES

__all__ = ["safe_name", "RESERVED", "MAX_LEN", "is_safe_name", "object_channel", "missing_object_layers"]

MAX_LEN = 64
#: Blender's own render pass / socket names that an object layer must not take over.
BLENDER_RESERVED = frozenset({"Alpha", "Combined", "Depth", "Image"})
#: every reserved name, lower case (compare with ``name.lower()``).
RESERVED = frozenset(n.lower() for n in set(_RESERVED_NAMES) | BLENDER_RESERVED)

_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")
_UNDERSCORES = re.compile(r"_{2,}")


def is_safe_name(name):
    """True when ``name`` is a valid, non-reserved object name."""
    return isinstance(name, str) and bool(_NAME_RE.match(name)) and name.lower() not in RESERVED


def _ascii(text):
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        if ord(ch) < 128:
            out.append(ch)
        else:
            out.append(" u%04x " % ord(ch))
    return "".join(out)


def _base(host_name):
    text = "" if host_name is None else str(host_name)
    had_leading_underscore = text.strip().startswith("_")
    text = _NOT_WORD.sub("_", _ascii(text))
    text = _UNDERSCORES.sub("_", text).strip("_")
    if had_leading_underscore and text:
        text = "_" + text
    if not text:
        text = "object"
    if text[0].isdigit():
        text = "_" + text
    text = text[:MAX_LEN]
    if text.lower() in RESERVED:
        text = text[:MAX_LEN - len("_layer")] + "_layer"
    return text


def safe_name(host_name, *, taken=()):
    """A valid, non-reserved object / layer name for ``host_name``, unique (without case) against
    ``taken``. See the module docstring for the exact mapping."""
    base = _base(host_name)
    used = {str(t).lower() for t in taken}
    if base.lower() not in used:
        return base
    n = 2
    while True:
        suffix = "_%d" % n
        cand = base[:MAX_LEN - len(suffix)] + suffix
        if cand.lower() not in used and cand.lower() not in RESERVED:
            return cand
        n += 1


def object_channel(name):
    """The EXR channel of an object's matte: ``<name>.A``."""
    return "%s.A" % name


def missing_object_layers(channels, objects, object_layers=None):
    """The ``<name>.A`` channels of ``objects`` that a frame with channels ``channels`` lacks: all of them when
    the job writes object layers (``object_layers`` True), none when it does not (False), and when unknown
    (None) those missing beside some present. A frame whose layer was dropped after samatte wrote it (a tool
    rewriting the file with fewer channels) keeps its key, but a comp reading that object's layer gets
    nothing: it is not complete. One rule for samatte's status, QC and resume
    (:meth:`samatte.io.writer.MatteWriter.missing_layers`) and Nuke's read-back of cached frames."""
    if object_layers is False:
        return []
    have = set(channels)
    want = [object_channel(n) for n in objects]
    missing = [c for c in want if c not in have]
    if object_layers is None and len(missing) == len(want):
        return []
    return missing
