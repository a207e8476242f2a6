"""Import the add-on's bpy-free modules (convert, gather, jobs, link, hosterrors) without Blender:
a synthetic package over blender_addon/ whose __init__ (which imports bpy) is never run."""
import importlib
import os
import sys
import types

ADDON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "blender_addon")
PKG = "samatte_blender_plain"


def plain(name):
    if PKG not in sys.modules:
        pkg = types.ModuleType(PKG)
        pkg.__path__ = [os.path.abspath(ADDON_DIR)]
        sys.modules[PKG] = pkg
    return importlib.import_module("%s.%s" % (PKG, name))
