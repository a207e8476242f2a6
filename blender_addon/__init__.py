"""samatte for Blender: soft mattes from a Movie Clip's masks and tracks, in the compositor.

A thin client: the heavy stack runs in samatte's worker process (the venv the installer made, set in
the preferences). The job logic lives in plain modules (``convert``, ``gather``, ``jobs``: no bpy);
``props``, ``ops``, ``panels`` and ``compositor`` are the Blender side. See the README, "Blender".
"""
if "bpy" in locals():  # script reload: re-import the submodules
    import importlib
    for _m in (convert, gather, hosterrors, link, jobs, compositor, props, ops, panels):  # noqa: F821
        importlib.reload(_m)

import bpy  # noqa: E402,F401

from . import compositor, convert, gather, hosterrors, jobs, link, ops, panels, props  # noqa: E402,F401

_MODULES = (props, ops, panels)


def register():
    for m in _MODULES:
        m.register()


def unregister():
    for m in reversed(_MODULES):
        m.unregister()
