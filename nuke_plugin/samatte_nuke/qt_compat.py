"""PySide6 (Nuke 16) or PySide2 (Nuke 14, 15): the few names the panel uses, one way for both.

No enum arithmetic (PySide6 enums are not ints): flags are combined with ``|`` only, and
``exec`` / ``exec_`` goes through :func:`exec_dialog`.
"""
try:
    from PySide6 import QtCore, QtGui, QtWidgets  # noqa: F401
    QT_BINDING = "PySide6"
except ImportError:  # Nuke 14 / 15
    from PySide2 import QtCore, QtGui, QtWidgets  # noqa: F401
    QT_BINDING = "PySide2"

Signal = QtCore.Signal
Qt = QtCore.Qt

__all__ = ["QtCore", "QtGui", "QtWidgets", "Signal", "Qt", "QT_BINDING", "exec_dialog"]


def exec_dialog(dialog):
    fn = getattr(dialog, "exec", None) or getattr(dialog, "exec_")
    return fn()
