"""Errors the add-on reports before the worker is involved (standard library only).

``HostError.code`` uses samatte's stable codes (``samatte.errors``) where one fits, so a report reads
the same whether the add-on or the worker found the problem."""


class HostError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message

    def __str__(self):
        return "[%s] %s" % (self.code, self.message)


def describe(exc):
    """``[CODE] message`` for a HostError or a samatte error; the class name otherwise."""
    code = getattr(exc, "code", None)
    msg = getattr(exc, "message", None) or str(exc)
    if code:
        return "[%s] %s" % (code, msg)
    return "%s: %s" % (type(exc).__name__, msg)
