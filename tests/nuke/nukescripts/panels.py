"""Double of ``nukescripts.panels`` (see the package docstring for the source)."""
registered = {}


def registerWidgetAsPanel(widget, name, id, create=False):
    registered[id] = (widget, name)
    return None
