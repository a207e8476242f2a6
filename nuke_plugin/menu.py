# samatte Nuke plugin: menu.py (GUI sessions only) adds SAMatte to the Nodes toolbar.
import nuke

_menu = nuke.menu("Nodes").addMenu("samatte", icon="samatte.png")
_menu.addCommand("SAMatte", "import samatte_nuke; samatte_nuke.create_node()", icon="samatte.png")
try:
    import nukescripts.panels
    import samatte_nuke.panel  # noqa: F401 - the Qt binding must import before the panel is offered
    nukescripts.panels.registerWidgetAsPanel("samatte_nuke.panel.SamattePanel", "SAMatte",
                                             "uk.samatte.panel")
except Exception:  # noqa: BLE001 - a missing Qt binding must not stop Nuke from starting
    pass
try:
    import samatte_nuke.node
    samatte_nuke.node.register_callbacks()   # a pasted copy of a SAMatte node gets its own uid and cache
except Exception:  # noqa: BLE001 - never stop Nuke from starting
    pass
