"""Double of ``nukescripts`` (tests): only what samatte's node uses.

[doc: nukescripts.panels.registerWidgetAsPanel(widget, name, id, create=False) in Foundry's
pythondevguide "Custom Panels" / "Extending NUKE with PySide"] registers a Qt widget class as a
dockable panel; the double records the registration.
"""
from . import panels  # noqa: F401
