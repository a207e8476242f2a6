"""Preferences (per user) and the scene's samatte settings."""
import json
import os

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from . import jobs, link

ADDON = __package__

DEVICES = [("auto", "Auto", "CUDA, then MPS, then CPU"), ("cpu", "CPU", ""), ("cuda", "CUDA", ""),
           ("mps", "MPS", "Apple GPU")]
TRACKERS = [("auto", "Auto", "SAM 2 when its weights are installed, else flow"),
            ("flow", "Flow", "weights-free optical flow"),
            ("sam2", "SAM 2", "needs SAM 2 weights"),
            ("shapes", "Shapes", "holds each keyframe's shape (animated roto)")]
MATTES = [("auto", "Auto", ""), ("refine", "Refine", "weights-free soft matting"),
          ("sam2matte", "SAM 2 matte", "learned matte head (weights)"), ("none", "None", "tracked mask only")]
QUALITIES = [("draft", "Draft", ""), ("default", "Default", ""), ("high", "High", "twice the time")]
TRACKS = [("SELECTED", "Selected tracks", "selected tracks of the clip's tracking objects"),
          ("OBJECT", "Tracking object", "every track of the named tracking object"),
          ("NONE", "No tracks", "")]


#: Blender 5.0 warns ("does not support blend relative // prefix") when a path property is set to
#: "//..." unless the property says it takes such paths; 4.2 has no such option.
_BLEND_RELATIVE = ({"options": {"ANIMATABLE", "PATH_SUPPORTS_BLEND_RELATIVE"}}
                   if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties else {})

INSTALL_CONFIG = "samatte_install.json"


def install_defaults():
    """What ``install.sh --blender`` wrote in the extension's user folder (or beside the add-on):
    {"python", "models_dir"}, or {}."""
    places = [os.path.dirname(os.path.abspath(__file__))]
    try:
        places.insert(0, bpy.utils.extension_path_user(ADDON, create=False))
    except (AttributeError, ValueError):   # not loaded as an extension (a legacy add-on folder)
        pass
    for folder in places:
        try:
            with open(os.path.join(folder, INSTALL_CONFIG)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return {}


def prefs(context=None):
    """The add-on's preferences; empty fields are filled from the installer's defaults."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON)
    if addon is None:
        return None
    p = addon.preferences
    d = install_defaults()
    # a value the installer filled in follows a later install (install.sh --blender of another version: before,
    # the first install's Python stayed, so Blender ran the old version with the new add-on); one set by hand stays
    for name in ("python", "models_dir"):
        mark = name + "_installed"
        value, filled = link.follow_installer(getattr(p, name), getattr(p, mark), d.get(name) or "")
        if value != getattr(p, name):
            setattr(p, name, value)
        if filled != getattr(p, mark):
            setattr(p, mark, filled)
    return p


def region_chars(context):
    """Characters a label of the region being drawn holds (:func:`jobs.panel_chars`), None without a region (a
    script, Blender as a module). The scale is Blender's effective one (``system.ui_scale``: Resolution Scale times
    the display's pixel size, 0 until a window has drawn), else the Resolution Scale."""
    region = getattr(context, "region", None)
    prefs = getattr(context, "preferences", None)
    scale = float(getattr(getattr(prefs, "system", None), "ui_scale", 0.0) or 0.0)
    if scale <= 0.0:
        scale = float(getattr(getattr(prefs, "view", None), "ui_scale", 1.0) or 1.0)
    return jobs.panel_chars(getattr(region, "width", None), scale)


def _fill_later():
    try:
        prefs()
    except Exception:  # noqa: BLE001 - preferences not ready: the first use fills them
        pass
    return None


class SAMATTE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    python: StringProperty(name="samatte Python", subtype="FILE_PATH",
                           description="the Python of the venv samatte's installer made (.venv/bin/python)")
    models_dir: StringProperty(name="Models folder", subtype="DIR_PATH",
                               description="SAM 2 weights (empty: samatte's own search order)")
    device: EnumProperty(name="Device", items=DEVICES, default="auto")
    threads: IntProperty(name="CPU threads", default=0, min=0, max=1024, soft_max=64,
                         description="CPU threads the samatte worker uses (0: samatte's default, every CPU); "
                                     "fewer leave cores to Blender while a job runs. Send to farm leaves the "
                                     "farm's count to the farm")
    check_result: StringProperty(name="Check", default="")
    # what samatte_install.json last filled in (a preference still equal to it follows the next install)
    python_installed: StringProperty(name="samatte Python (installer)", default="", options={"HIDDEN"})
    models_dir_installed: StringProperty(name="Models folder (installer)", default="", options={"HIDDEN"})

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "python")
        col.prop(self, "models_dir")
        col.prop(self, "device")
        col.prop(self, "threads")
        col.operator("samatte.check", icon="CHECKMARK")
        for line in jobs.panel_lines(self.check_result, region_chars(context)):   # (a long error was cut at the edge)
            col.label(text=line)


class SAMATTE_PG_scene(bpy.types.PropertyGroup):
    clip: PointerProperty(name="Clip", type=bpy.types.MovieClip,
                          description="the Movie Clip to matte (empty: the Clip Editor's clip)")
    mask: PointerProperty(name="Mask", type=bpy.types.Mask,
                          description="the mask whose layers are the objects (empty: the Clip Editor's mask)")
    tracks: EnumProperty(name="Tracks", items=TRACKS, default="SELECTED")
    tracks_object: StringProperty(name="Tracking object", default="")
    default_object: StringProperty(name="Tracks object", default="",
                                   description="the object tracks go to when no layer name prefixes theirs "
                                               "(empty: the first mask layer, or 'tracks')")
    every_frame: BoolProperty(name="Use my animated roto", default=False,
                              description="send every frame's shape (shapes tracker: refine the roto)")
    use_range: BoolProperty(name="Frame range", default=False)
    frame_start: IntProperty(name="Start", default=1,
                             description="the job's first scene frame (the timeline's, not a plate file number)")
    frame_end: IntProperty(name="End", default=250,
                           description="the job's last scene frame (the timeline's, not a plate file number)")
    tracker: EnumProperty(name="Tracker", items=TRACKERS, default="auto")
    matte: EnumProperty(name="Matte", items=MATTES, default="auto")
    quality: EnumProperty(name="Quality", items=QUALITIES, default="default")
    output_dir: StringProperty(name="Output", subtype="DIR_PATH", default="//samatte/", **_BLEND_RELATIVE)
    scan_result: StringProperty(name="Objects", default="")
    last_result: StringProperty(name="Last result", default="")
    status_result: StringProperty(name="Mattes", default="")
    last_scores: StringProperty(name="Scores", default="")


CLASSES = (SAMATTE_AP_preferences, SAMATTE_PG_scene)


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)
    bpy.types.Scene.samatte = PointerProperty(type=SAMATTE_PG_scene)
    bpy.app.timers.register(_fill_later, first_interval=0.5)


def unregister():
    if bpy.app.timers.is_registered(_fill_later):   # disabled before it fired: no timer left behind
        bpy.app.timers.unregister(_fill_later)
    del bpy.types.Scene.samatte
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
    jobs.release_worker()
