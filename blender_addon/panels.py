"""Sidebar panels: Clip Editor (Tools... the samatte tab) and Compositor (node editor)."""
import bpy

from . import jobs, ops
from .props import region_chars


def labels(col, text, chars):
    """``text`` as labels wrapped to the panel's width (:func:`jobs.panel_lines`)."""
    for line in jobs.panel_lines(text, chars):
        col.label(text=line)


def draw_panel(layout, context):
    s = context.scene.samatte
    chars = region_chars(context)
    col = layout.column()
    col.prop(s, "clip")
    col.prop(s, "mask")
    col.prop(s, "tracks")
    if s.tracks == "OBJECT":
        col.prop(s, "tracks_object")
    col.prop(s, "default_object")
    col.prop(s, "every_frame")
    row = col.row(align=True)
    row.prop(s, "use_range", text="")
    sub = row.row(align=True)
    sub.active = s.use_range
    sub.prop(s, "frame_start")
    sub.prop(s, "frame_end")
    col.prop(s, "tracker")
    col.prop(s, "matte")
    col.prop(s, "quality")
    col.prop(s, "output_dir")
    col.operator("samatte.scan", icon="VIEWZOOM")
    labels(col, s.scan_result, chars)
    row = col.row(align=True)
    row.enabled = ops.running_job() is None
    row.operator("samatte.status", icon="CHECKMARK")
    labels(col, s.status_result, chars)
    run = ops.current_run()
    busy = ops.running_job() is not None
    row = col.row(align=True)
    row.enabled = not busy
    row.operator("samatte.run", text="Run", icon="PLAY").this_frame = False
    row.operator("samatte.run", text="Matte this frame").this_frame = True
    row = col.row(align=True)
    row.enabled = not busy
    row.operator("samatte.farm_export", text="Send to farm", icon="EXPORT")
    row = col.row(align=True)
    row.operator("samatte.cancel", text="Cancel", icon="CANCEL")
    row.operator("samatte.release", text="Release", icon="UNLINKED")
    here = run is not None and (getattr(run, "scene_name", None) is None or ops.run_scene(run) == context.scene)
    if run is not None and not here and busy:     # why Run is greyed out here: one worker, one job
        labels(col, "%s (scene %r)" % (run.status, getattr(ops.run_scene(run), "name", run.scene_name)), chars)
    if here:
        labels(col, run.status, chars)
        for host, name, frames in getattr(run, "objects", ()):
            labels(col, "%s -> %s: frames %s" % (host, name, ", ".join(str(f) for f in frames[:8])
                                                 + (" ..." if len(frames) > 8 else "")), chars)
    if s.last_result:
        labels(col, s.last_result, chars)
    if s.last_scores:
        box = col.box()
        for chunk in _chunks(s.last_scores.split(), 6):
            box.label(text=" ".join(chunk))


def _chunks(items, n):
    return [items[i:i + n] for i in range(0, len(items), n)]


class _SamattePanel:
    """What both sidebar panels share (a mixin: Blender registers only the subclasses)."""
    bl_label = "samatte"
    bl_region_type = "UI"
    bl_category = "samatte"

    def draw(self, context):
        draw_panel(self.layout, context)


class SAMATTE_PT_clip(_SamattePanel, bpy.types.Panel):
    bl_idname = "SAMATTE_PT_clip"
    bl_space_type = "CLIP_EDITOR"


class SAMATTE_PT_compositor(_SamattePanel, bpy.types.Panel):
    bl_idname = "SAMATTE_PT_compositor"
    bl_space_type = "NODE_EDITOR"

    @classmethod
    def poll(cls, context):
        sd = context.space_data
        return sd is not None and getattr(sd, "tree_type", "") == "CompositorNodeTree"


CLASSES = (SAMATTE_PT_clip, SAMATTE_PT_compositor)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
