"""samatte for Nuke 14-16: the SAMatte node (a thin client of samatte's worker process).

Imports only the standard-library modules of samatte (jobspec, frames, errors, names, cachekey,
client, protocol) plus ``nuke``; never numpy, torch or OpenImageIO.
"""
__all__ = ["create_node"]


def create_node():
    """Menu entry: make a SAMatte node, connected to the selected node when there is one."""
    import nuke
    from . import node
    sel = None
    try:
        sel = nuke.selectedNode()
    except (ValueError, AttributeError):
        sel = None
    g = node.create()
    if sel is not None:
        g.setInput(0, sel)
    return g
