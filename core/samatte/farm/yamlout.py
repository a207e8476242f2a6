"""A small YAML writer for job bundles (standard library only).

Every scalar is written as JSON (a double-quoted JSON string is a valid YAML double-quoted scalar;
numbers, true/false and null read back the same), so no value can change meaning on the way
(``NO``, ``1e3``, ``{{Param.X}}``, ``: `` inside a string...). Only dicts, lists, strings, numbers,
booleans and None are accepted.
"""
import json

__all__ = ["dumps"]


def _scalar(v):
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
        return json.dumps(v, ensure_ascii=False)
    raise TypeError("cannot write %s to YAML" % type(v).__name__)


def _lines(v, indent):
    pad = " " * indent
    if isinstance(v, dict):
        if not v:
            return [pad + "{}"]
        out = []
        for k, x in v.items():
            key = json.dumps(str(k), ensure_ascii=False)
            if isinstance(x, (dict, list)) and x:
                out.append("%s%s:" % (pad, key))
                out.extend(_lines(x, indent + 2))
            else:
                out.append("%s%s: %s" % (pad, key, _inline(x)))
        return out
    if isinstance(v, list):
        if not v:
            return [pad + "[]"]
        out = []
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = _lines(x, indent + 2)
                out.append(pad + "- " + sub[0][indent + 2:])
                out.extend(sub[1:])
            else:
                out.append(pad + "- " + _inline(x))
        return out
    return [pad + _scalar(v)]


def _inline(x):
    if isinstance(x, dict):
        return "{}"
    if isinstance(x, list):
        return "[]"
    return _scalar(x)


def dumps(doc):
    """YAML text for ``doc`` (a dict or list), ending with a newline."""
    return "\n".join(_lines(doc, 0)) + "\n"
