"""Operators and the plain functions they call (collect prompts, start, step, finish).

Blender data is read and written only here, on the main thread: :func:`collect` gathers the prompts
before a job starts, :func:`finish_run` wires the compositor after it ends; in between the worker
runs in its own process and :class:`jobs.JobRun` only drains its messages.
"""
import os

import bpy

from . import compositor, convert, gather, jobs, link, props
from .hosterrors import HostError, describe

_STATE = {"run": None, "scene": None}


def current_run():
    return _STATE["run"]


def running_job():
    """The current run while it is still going, else None."""
    run = _STATE["run"]
    return run if run is not None and not run.done else None


def ocio_config():
    """The OCIO config Blender itself uses: ``$OCIO`` when set (a file, or one of OCIO's built-in configs named by
    an ``ocio://`` URI, e.g. ``ocio://studio-config-latest``, the ACES studio config, which Blender 4.2 and 5.0 load
    from ``$OCIO`` too), else its bundled one. Before, an ``ocio://`` ``$OCIO`` was taken for a missing file: the job
    named Blender's bundled config, so a clip in a colourspace of the studio config (``ARRI LogC4``, ``sRGB Encoded
    Rec.709 (sRGB)``) failed COLOUR_INVALID 'is not in OCIO config .../config.ocio', and one whose name both configs
    have was decoded by the other config's definition."""
    env = (os.environ.get("OCIO") or "").strip()
    if env.startswith("ocio://"):
        return env
    if env and os.path.isfile(env):
        return env
    base = bpy.utils.system_resource("DATAFILES")
    path = os.path.join(base, "colormanagement", "config.ocio") if base else ""
    return path if os.path.isfile(path) else None


def abspath(path, library=None):
    """``bpy.path.abspath`` of a path as Blender's own readers take it: a ``//`` path with Windows separators
    (a .blend saved on Windows: ``//plates\\sh010.1001.exr``) read with this OS's (:func:`convert.native_blend_path`),
    also a linked library's own ``//`` path. Before, the backslashes stayed, part of a file name on Linux and
    macOS: the clip Blender shows had 'no plate file' for samatte, and a ``//mattes\\`` Output made a folder
    named ``mattes\\`` beside the .blend."""
    path = convert.native_blend_path(path)
    if library is not None and path.startswith("//"):
        start = os.path.dirname(abspath(getattr(library, "filepath", "") or ""))
        return bpy.path.abspath(path, start=start)
    return bpy.path.abspath(path)


def _space(context, kind):
    sd = getattr(context, "space_data", None)
    return sd if sd is not None and getattr(sd, "type", None) == kind else None


def resolve_clip(context):
    s = context.scene.samatte
    sp = _space(context, "CLIP_EDITOR")
    clip = s.clip or (sp.clip if sp is not None else None) or context.scene.active_clip
    if clip is None:
        raise HostError("PLATE_INVALID", "no Movie Clip: open one in the Clip Editor or pick it in the samatte panel")
    return clip


def resolve_mask(context):
    s = context.scene.samatte
    sp = _space(context, "CLIP_EDITOR")
    return s.mask or (sp.mask if sp is not None else None)


def _tracks(clip, s, notes=None):
    if s.tracks == "NONE":
        return []
    if s.tracks == "OBJECT":
        ob = clip.tracking.objects.get(s.tracks_object)
        if ob is None:
            raise HostError("PROMPT_INVALID", "clip %r has no tracking object %r: set Tracking object in the samatte "
                            "panel to one of %s, or pick Selected tracks" % (
                                clip.name, s.tracks_object, ", ".join(repr(o.name) for o in clip.tracking.objects)))
        return list(ob.tracks)
    return gather.selected_tracks([t for ob in clip.tracking.objects for t in ob.tracks], notes)


def framelen(scene):
    """The scene's animation time per frame under Time Stretching (``frame_map_old / frame_map_new``,
    Blender's ``r.framelen``): mask keys show on scene frame ``key / framelen``, the clip unstretched."""
    r = scene.render
    try:
        old, new = float(r.frame_map_old), float(r.frame_map_new)
    except (AttributeError, TypeError, ValueError):
        return 1.0
    return old / new if old > 0 and new > 0 else 1.0


def collect(context):
    """``(info, objects, frames, notes)`` for the scene's settings: the clip, its prompts (file
    numbers, display-window pixels) and the job's frames (file numbers on disk)."""
    scene = context.scene
    s = scene.samatte
    clip = resolve_clip(context)
    info = gather.clip_info(clip, abspath=abspath)
    frame_range = (s.frame_start, s.frame_end) if s.use_range else None
    if frame_range is not None and frame_range[0] > frame_range[1]:
        raise HostError("FRAME_RANGE_INVALID", "the Frame range of the samatte panel (%d-%d) is reversed: its "
                        "Start is after its End; swap them, or untick Frame range" % frame_range)
    # the scene frames of the clip's range and the scene's (or the panel's Frame range) on which Blender shows
    # a plate file (gather.ClipInfo.job_scene_frames): only those, a mask key or a shape read on any other
    # frame would be a prompt outside the job's frames
    scene_frames = info.job_scene_frames((scene.frame_start, scene.frame_end), frame_range)
    frames = [info.file(f) for f in scene_frames]
    if not frames:
        raise _no_frames(info, (scene.frame_start, scene.frame_end), frame_range)
    notes = []
    mask = resolve_mask(context)
    mask_objects = []
    hidden = []         # the object layers that draw on no frame of the range: their tracks are theirs, dropped
    if mask is None and len(bpy.data.masks):
        # the roto is in the file but no Mask is picked (the panel's, or the Clip Editor's): say so, else
        # "no prompts: draw a closed mask shape" tells an artist with a drawn mask to draw one
        names = sorted(m.name for m in bpy.data.masks)
        notes.append("no Mask picked in the samatte panel: the file has %d (%s)" % (
            len(names), ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")))
    if mask is not None:
        current = scene.frame_current
        try:
            # defensive: a layer made by a script (MaskLayers.new) tags nothing for the depsgraph, and a
            # QA pass saw the frame_set below crash Blender then (not reproduced in the tests)
            mask.update_tag()
        except (AttributeError, RuntimeError, TypeError):
            pass

        def read_at(f):
            scene.frame_set(f)
            settle_mask(mask)
            return mask
        try:
            mask_objects, _sub, n = gather.gather_mask_objects(
                mask, info, scene_frames=scene_frames, read_mask_at=read_at, current_frame=current,
                every_frame=s.every_frame, framelen=framelen(scene), hidden=hidden)
        finally:
            scene.frame_set(current)
        notes += n
    layer_names = [ob["host_name"] for ob in mask_objects]
    default = s.default_object or (layer_names[0] if layer_names else "tracks")
    points, n = gather.gather_track_points(_tracks(clip, s, notes), info, file_frames=frames,
                                           layer_names=layer_names + hidden, default_object=default)
    notes += n
    objects, n = gather.merge_objects(mask_objects, points, default_object=default, scene_frame=info.scene_frame,
                                      hidden_layers=hidden)
    notes += n
    if not objects and hidden:
        # every object layer draws nothing on every frame: say so and why (before: 'no prompts: draw a closed mask
        # shape or select tracks', to an artist with a drawn shape, the reason only in a note after it)
        raise HostError("PROMPT_INVALID", "no prompts: mask layer%s %s %s hidden in renders (or under 0.5 opacity) "
                        "on every frame of the range (scene frames %s): %s absent on all of them, nothing to matte; "
                        "show %s in renders (opacity 0.5 or more) on a frame of the range, or change the range" % (
                            "" if len(hidden) == 1 else "s", ", ".join(repr(h) for h in hidden),
                            "is" if len(hidden) == 1 else "are", gather.frames_text(scene_frames),
                            "its object is" if len(hidden) == 1 else "their objects are",
                            "it" if len(hidden) == 1 else "one"))
    return clip, info, objects, frames, notes


def settle_mask(mask):
    """Evaluate ``mask`` once more on the frame just set: Blender writes a mask's evaluated points back to it with
    the Auto and Vector handles of the evaluation before (measured in bpy 5.0.1 and 4.2.23: points keyed on
    ``co`` alone, read on scene frame 4 after frame 2, had frame 2's handles, while Blender draws frame 4's), so
    a shape read right after ``scene.frame_set`` depended on the frame read before it: 122 of 600 decided pixels
    of a keyed frame wrong, and a job built twice differed (Check mattes right after a Run: 1 of 4 frames current). The
    mask alone is re-evaluated (its depsgraph update), not the scene."""
    try:
        mask.update_tag()
        bpy.context.evaluated_depsgraph_get().update()
    except (AttributeError, RuntimeError, TypeError, ReferenceError):
        pass


def _no_frames(info, scene_range, frame_range):
    """FRAME_RANGE_INVALID that says whether the Frame range misses the clip, the clip's files lie outside
    the clip's and the scene's ranges, or the plate files are missing."""
    shown = sorted(info.scene_frame(n) for n in info.files_on_disk())
    if shown and frame_range is not None:
        return HostError("FRAME_RANGE_INVALID", "the Frame range of the samatte panel (%d-%d) has no frame of clip "
                         "%r (Blender shows its files on scene frames %d-%d): change or untick Frame range"
                         % (tuple(frame_range) + (info.name, shown[0], shown[-1])))
    if shown:
        return HostError("FRAME_RANGE_INVALID", "clip %r shows none of its files on its scene frames %d-%d or the "
                         "scene's %d-%d (its Start Frame and Offset put them on scene frames %d-%d): change the "
                         "clip's Offset or the scene's frame range" % (
                             (info.name,) + info.scene_range() + tuple(scene_range) + (shown[0], shown[-1])))
    lo, hi = frame_range if frame_range is not None and frame_range[0] <= frame_range[1] else info.scene_range()
    first, last = info.file(lo), info.file(hi)
    return HostError("FRAME_RANGE_INVALID", "no plate file of clip %r exists for scene frames %d-%d (%s to %s)%s: "
                     "were the files moved or deleted? Re-open the clip in the Clip Editor" % (
                         info.name, lo, hi, convert.sequence_path(info.pattern, first),
                         os.path.basename(convert.sequence_path(info.pattern, last)),
                         " (Frame range of the samatte panel)" if frame_range is not None else ""))


def samatte_python(p):
    """The samatte Python of the preferences ``p`` (``link.pick_python``: set by hand, else $SAMATTE_PYTHON, else
    what the installer filled in, else the venv beside the add-on's install); "" when none."""
    pref = os.path.expanduser(abspath(p.python)) if p.python else ""
    auto = bool(p.python) and p.python == getattr(p, "python_installed", "")
    return link.pick_python(pref, auto=auto)[0]


def settings_from(context, *, every_frame=None):
    p = props.prefs(context)
    s = context.scene.samatte
    if p is None:
        raise HostError("WORKER_FAILED", "the samatte add-on's preferences are missing (is it enabled?)")
    python = samatte_python(p)
    return jobs.Settings(python=python, models_dir=p.models_dir, threads=getattr(p, "threads", 0),
                         device=p.device, tracker=s.tracker, matte=s.matte, quality=s.quality,
                         every_frame=s.every_frame if every_frame is None else every_frame,
                         output_dir=output_folder(context.scene), ocio_config=ocio_config())


def output_folder(scene):
    """The absolute Output folder of ``scene``'s samatte panel. A scene linked from a library .blend (File > Link)
    reads its ``//`` Output relative to that library, as Blender reads every ``//`` path of linked data (its clip,
    and the mattes its compositor shows): before, relative to the open .blend, so Check mattes there said
    '0 of 4 frames current' of the library's current mattes (and to set an Output the linked scene cannot take), and
    Run matted every frame again into the open .blend's folder, mattes nothing shows once the file is re-opened."""
    given = scene.samatte.output_dir or "//samatte/"
    library = getattr(scene, "library", None)
    return abspath(given, library=library) if library is not None else abspath(given)


def linked_note(scene):
    """The last result's note for a scene linked from a library .blend, or "": its compositor is that file's (what
    the add-on changes in linked data is lost when this .blend is saved), so samatte does not wire it."""
    library = getattr(scene, "library", None)
    if library is None:
        return ""
    return ("; scene %r is linked from %s: its compositor is that file's, not changed here (Run there to show "
            "these mattes in it)" % (scene.name, abspath(library.filepath)))


def _build(context):
    """``(settings, job, collect(context))``: what Run and Send to farm both start from."""
    settings = settings_from(context)
    link.ensure_samatte(settings.python)    # samatte.names maps the layer names while gathering
    collected = collect(context)
    _clip, info, objects, frames, notes = collected
    given = context.scene.samatte.output_dir or "//samatte/"
    if convert.foreign_path(given):
        # a .blend saved on Windows, opened here: before, 'relative to the .blend file, which is not saved yet'
        raise HostError("OUTPUT_INVALID", "the Output folder %r of the samatte panel is a Windows path (the .blend "
                        "was set up on Windows?): this machine has no such folder. Pick an Output folder here, or "
                        "one relative to the .blend (//samatte/), which works on every OS" % given)
    if not os.path.isabs(settings.output_dir):
        if bpy.data.filepath and not given.startswith("//"):
            raise HostError("OUTPUT_INVALID", "the Output folder %r of the samatte panel is not a full path: pick "
                            "a folder, or start it with // for one relative to the .blend" % given)
        raise HostError("OUTPUT_INVALID", "the Output folder %r is relative to the .blend file, which is not "
                        "saved yet: save the .blend first, or pick an absolute Output folder in the samatte "
                        "panel" % given)
    try:
        job = jobs.build_job(info, objects, settings, frames=frames)
    except HostError as e:
        raise _with_notes(e, notes)
    sp = _space(context, "CLIP_EDITOR")
    _check_output_is_ours(context.scene, _clip, info, job["output"]["path"], mask=resolve_mask(context),
                          editor_mask=sp.mask if sp is not None else None)
    return settings, job, collected


#: the samatte panel's settings that decide a job's mattes (with its Mask): two scenes of one clip that differ
#: in one of them make other mattes under the same output path
_PIXEL_SETTINGS = ("tracker", "matte", "quality", "every_frame", "tracks", "tracks_object", "default_object")


def _check_output_is_ours(scene, clip, info, pattern, *, mask=None, editor_mask=None):
    """OUTPUT_INVALID when the job's mattes are those a scene's compositor shows for another clip: two
    shots whose plates have the same file names (``plate.####.exr``) get the same output folder and job
    name under one Output folder, and the second would overwrite the first's mattes as its own. The same
    for another scene that shows this clip's mattes made with another Mask or other samatte settings
    (``mask``: this scene's): the output path is the clip's, so two scenes of one clip, each with its own
    roto, overwrote each other's mattes (before: silently; each scene's compositor then showed the other's)."""
    pattern = os.path.normpath(pattern)
    for sc in bpy.data.scenes:
        tree = compositor.existing_tree(sc)
        matte = tree.nodes.get(compositor.NODE_MATTE) if tree is not None else None
        plate = tree.nodes.get(compositor.NODE_PLATE) if tree is not None else None
        other = getattr(plate, "clip", None)
        if other is None or compositor.image_pattern(getattr(matte, "image", None)) != pattern:
            continue
        if other == clip:
            if sc != scene:
                _check_other_scene(scene, sc, clip, pattern, mask, editor_mask)
            continue
        other_plate = convert.sequence_pattern(os.path.normpath(abspath(other.filepath, library=other.library)))[0]
        if other_plate == info.pattern:
            continue    # two clips of the same files
        raise HostError("OUTPUT_INVALID", "clip %r (%s) would overwrite the mattes of clip %r (%s) in %s, shown "
                        "in scene %r: their files have the same names. Set another Output folder in the samatte "
                        "panel for this one (e.g. //samatte_%s/)" % (
                            clip.name, info.pattern, other.name, other_plate, os.path.dirname(pattern), sc.name,
                            jobs._safe_file_part(os.path.basename(os.path.dirname(info.pattern)))))


def _check_other_scene(scene, other, clip, pattern, mask, editor_mask=None):
    """OUTPUT_INVALID when scene ``other`` shows clip ``clip``'s mattes ``pattern`` made with another Mask or
    other samatte settings than ``scene``'s (``mask``: the one ``scene``'s job reads; ``editor_mask``: the
    Clip Editor's, which a scene whose panel names no Mask takes)."""
    mine, theirs = scene.samatte, other.samatte
    diff = [k for k in _PIXEL_SETTINGS if getattr(mine, k, None) != getattr(theirs, k, None)]
    # a scene whose panel names no Mask takes the Clip Editor's (resolve_mask), which is not the scene's: the
    # one this Clip Editor shows, or, with none here, taken to be the one this job reads, whichever of the two
    # scenes names its Mask (before: only two scenes that both named none passed; a panel naming 'Roto' here
    # and none there was refused as 'mask 'Roto' here, None there', the same scenes the other way round passed)
    theirs_mask = theirs.mask
    if theirs_mask is None:
        theirs_mask = editor_mask if editor_mask is not None else mask
    if theirs_mask != mask:
        diff.insert(0, "mask %r here, %r there" % (getattr(mask, "name", None), getattr(theirs_mask, "name", None)))
    if not diff:
        return      # the same roto and settings make the same mattes: a re-run there reuses them
    raise HostError("OUTPUT_INVALID", "scene %r would overwrite the mattes of clip %r in %s that scene %r shows, "
                    "made with other samatte settings (%s): set another Output folder in the samatte panel for "
                    "this scene (e.g. //samatte_%s/)" % (
                        scene.name, clip.name, os.path.dirname(pattern), other.name, ", ".join(diff),
                        jobs._safe_file_part(scene.name)))


def _with_notes(error, notes):
    """A PROMPT_INVALID error with the gathering notes that explain it (a hidden layer, a key outside
    the range...): "no prompts" alone does not tell a user with a mask what to change."""
    if error.code != "PROMPT_INVALID" or not notes:
        return error
    return HostError(error.code, "%s (%s)" % (error.message, "; ".join(notes[:4])))


def start_run(context, *, this_frame=False, background=False):
    """Gather, build and start a job; returns the :class:`jobs.JobRun` (also kept as the current run).
    ``background``: the worker, if none is warm, starts off the main thread (:meth:`jobs.JobRun.start`)."""
    if running_job() is not None:
        if getattr(running_job(), "cancel_sent", False):
            # (before: "Cancel it first" to an artist who had: the job stops between a frame's phases)
            raise HostError("BUSY", "the samatte job you cancelled is still stopping (between a frame's phases): "
                            "Run again in a moment")
        raise HostError("BUSY", "a samatte job is already running (Cancel it first)")
    settings, job, (clip, info, objects, frames, notes) = _build(context)
    subset = None
    if this_frame:
        now = context.scene.frame_current
        f = info.file(now)
        if f not in frames:
            from samatte.frames import format_frames
            raise HostError("FRAME_RANGE_INVALID", "Matte this frame: scene frame %d (plate file %d) is not one "
                            "of the job's frames (scene frames %s): go to one of them" % (
                                now, f, format_frames(sorted(info.scene_frame(n) for n in frames))))
        subset = str(f)
    run = jobs.JobRun(job, settings, frames=subset, scene_frame=info.scene_frame).start(background=background)
    run.clip_name = clip.name
    run.scene_name = context.scene.name     # the scene to wire when it ends, whichever is shown then
    # and who they are, whatever they are called when it ends: the artist may rename the clip (its default
    # name is its first file's) or the scene while the job runs (session_uid survives a rename and undo)
    run.clip_uid = getattr(clip, "session_uid", None)
    run.scene_uid = getattr(context.scene, "session_uid", None)
    run.info = info
    run.notes = notes
    run.objects = [(o["host_name"], o["name"], prompt_frames(info, o)) for o in objects]    # scene frames
    _STATE["run"] = run
    _STATE["scene"] = context.scene.name
    return run


def _run_id(collection, run, kind):
    """The scene or clip (``kind``) ``run`` was started with: by its session_uid (it may have been renamed
    while the job ran), else by its name then; None when it is gone."""
    uid = getattr(run, kind + "_uid", None)
    if uid is not None:
        for item in collection:
            if getattr(item, "session_uid", None) == uid:
                return item
    return collection.get(getattr(run, kind + "_name", None) or "")


def run_scene(run):
    """The scene ``run`` was started from (renamed or not), or None."""
    return _run_id(bpy.data.scenes, run, "scene")


def finish_run(context, run):
    """Apply a finished run on the main thread: compositor nodes, last result, in the scene the run was
    started from (the user may have switched scenes meanwhile). Returns ``(report type, message)`` for
    the operator. The scene and the clip are those the run started with, found by their session_uid: a clip
    renamed while the job ran left the plate node empty (before: found by its old name, None), a renamed
    scene was wired only when it was the one shown. A scene deleted while its job ran (or taken back with Ctrl+Z)
    is wired nowhere: before, the scene shown then was, its own clip's samatte nodes re-wired to this clip and its
    Last result overwritten."""
    scene = run_scene(run)
    if scene is None and (getattr(run, "scene_uid", None) is not None or getattr(run, "scene_name", None)):
        return _scene_gone(run)
    scene = scene or context.scene
    s = scene.samatte
    s.status_result = ""    # the run changed what is on disk: Check mattes again for a current answer
    if run.error is not None:
        s.last_result = run.ended_text()
        if run.written:
            # the frames it finished are complete and current: shown as after a success, the others gated to 0
            # (before: a cancelled first Run left the compositor without samatte's nodes, no matte at all)
            _wire_kept(scene, run)
        return ("WARNING" if run.cancelled else "ERROR"), "samatte: " + s.last_result
    res = run.result
    frames = [int(f) for f in res.get("frames") or []] or sorted(run.scores)
    all_frames = [int(f) for f in jobs_frames(run.job)]
    clip = _run_id(bpy.data.movieclips, run, "clip")
    if clip is None:    # deleted while the job ran
        s.last_result = "%s: %s -> %s; clip %r is gone: not wired into the compositor" % (
            res.get("job"), _written(run), res["output"], run.clip_name)
        return "ERROR", "samatte: " + s.last_result
    s.last_result = "%s: %s -> %s" % (res.get("job"), _written(run), res["output"])
    if scene.library is not None:
        # a linked scene's compositor is the library's: what is wired here is not saved with this .blend (before:
        # shown until it was saved and re-opened); it shows these mattes when the library's Run wired them
        if compositor.shown_pattern(scene, clip) != os.path.normpath(res["output"]):
            s.last_result += linked_note(scene)
        s.last_scores = " ".join("%d:%.2f" % (run.info.scene_frame(f), run.scores[f]) for f in sorted(run.scores))
        return "INFO", "samatte: " + s.last_result
    own = compositor.unshare(scene, clip, res["output"])   # (Blender 5: a group other scenes render is not re-wired)
    tree = compositor.existing_tree(scene)
    before = getattr(tree.nodes.get(compositor.NODE_PLATE), "clip", None) if tree is not None else None
    compositor.wire(scene, clip, run.info, res["output"], wired_frames(run.info, res["output"], all_frames or frames),
                    relative=(s.output_dir or "//samatte/").startswith("//"))
    s.last_result += own
    if before is not None and before != clip and not own:
        # one set of samatte nodes per scene's compositor: the clip it showed is no longer wired; say so
        s.last_result += "; the compositor now shows clip %r instead of %r (Run that one to show it again)" % (
            clip.name, before.name)
    # the score of each frame, on the scene frame it shows on (run.scores: by file number)
    s.last_scores = " ".join("%d:%.2f" % (run.info.scene_frame(f), run.scores[f]) for f in sorted(run.scores))
    return "INFO", "samatte: " + s.last_result


def _scene_gone(run):
    """``finish_run``'s report for a run whose scene is gone: the mattes it wrote are on disk, no scene's compositor
    or panel is changed."""
    if run.error is not None:
        text = run.ended_text()
    else:
        res = run.result or {}
        text = "%s: %s -> %s" % (res.get("job"), _written(run), res.get("output"))
    return "WARNING", ("samatte: %s; scene %r is gone (deleted while the job ran): not wired into a compositor (Run in "
                       "another scene of this clip to show the mattes there: current frames are reused)"
                       % (text, run.scene_name))


def _wire_kept(scene, run):
    """Wire the mattes a cancelled or failed ``run`` wrote into ``scene``'s compositor (as :func:`finish_run` does
    after a success: the job's frames spanned, those with no matte on disk gated to 0)."""
    info = getattr(run, "info", None)
    pattern = ((getattr(run, "job", None) or {}).get("output") or {}).get("path")
    clip = _run_id(bpy.data.movieclips, run, "clip") if info is not None and pattern else None
    if clip is None or scene.library is not None:   # (a linked scene's compositor is its library's)
        return
    own = compositor.unshare(scene, clip, pattern)
    if own:
        scene.samatte.last_result += own
    try:
        compositor.wire(scene, clip, info, pattern, wired_frames(info, pattern, jobs_frames(run.job)),
                        relative=(scene.samatte.output_dir or "//samatte/").startswith("//"))
    except HostError as e:   # (no matte of it on disk after all: the run's own error is what the artist reads)
        print("samatte: the frames the run finished are not shown: %s" % e.message)


def _written(run):
    """'6 frames written, 0 reused' ('1 frame written' for one)."""
    return "%d frame%s written, %d reused" % (run.written, "" if run.written == 1 else "s", run.skipped)


def prompt_frames(info, ob):
    """The scene frames an object's prompts lie on (its prompts' ``frame``: file numbers), sorted."""
    return sorted({info.scene_frame(p["frame"]) for p in ob["prompts"]})


def wired_frames(info, pattern, frames):
    """The file numbers the matte node spans: the job's ``frames`` and every plate file of the clip whose matte
    is on disk (a run of a Frame range, or Matte this frame, must not hide the mattes of the others)."""
    on_disk = [n for n in info.files_on_disk() if os.path.exists(convert.sequence_path(pattern, n))]
    return sorted(set(frames) | set(on_disk))


def jobs_frames(job):
    from samatte import jobspec
    return jobspec.job_frames(job) or []


def run_blocking(context, *, this_frame=False, timeout=None, echo=None):
    """Start a job and wait for its end (scripts, ``blender -b shot.blend --python-expr "bpy.ops.samatte.run()"``,
    tests); returns ``(run, finish_run's report)``. ``timeout``: seconds at most, then the job is cancelled (its
    finished frames kept); None, the default: until it ends, however long (a worker that stops talking still fails,
    after the client's inactivity limit, :attr:`jobs.Settings.timeout`). Before, an hour at most: a headless Run of
    a long shot was cancelled after 3600 s, its report 'cancelled' though nobody had. ``echo(line)``: called with the
    progress line (:attr:`jobs.JobRun.status`) as it changes, at most every :data:`ECHO_EVERY_S` seconds, and with
    the last one. Ctrl+C (KeyboardInterrupt) cancels the job (finished frames kept) and is raised again."""
    run = start_run(context, this_frame=this_frame)
    try:
        _wait(run, timeout, echo)
    except KeyboardInterrupt:
        _stop_blocking(run)
        finish_run(context, run)
        raise
    if not run.done:
        _stop_blocking(run)
    return run, finish_run(context, run)


def _stop_blocking(run, grace=30.0):
    """Cancel a blocking ``run`` and wait ``grace`` seconds for it to stop between frames; a frame that takes longer
    (a large SAM 2 frame on a CPU) ends its worker (outputs are atomic) and the run ends cancelled. Before, the run
    was still going then and finish_run failed on it: a traceback (``'NoneType' object has no attribute 'get'``),
    the worker left running the job."""
    run.cancel()
    run.wait(timeout=grace)
    if not run.done:
        jobs.release_worker(os.path.expanduser(run.settings.python))
        run.wait(timeout=5)
    if not run.done:
        run._fail("CANCELLED", "cancelled")
        run.worker_ended = True


#: a blocking Run's progress line is echoed at most this often (seconds)
ECHO_EVERY_S = 5.0


def _wait(run, timeout, echo, tick=0.05):
    """Poll ``run`` until it ends (or ``timeout`` seconds, None: no limit), echoing its progress (run_blocking)."""
    import time
    end = None if timeout is None else time.monotonic() + timeout
    said, said_at = None, None
    while not run.done and (end is None or time.monotonic() < end):
        run.poll()
        if echo is not None and run.status != said and run.status.startswith("samatte: "):
            now = time.monotonic()
            if said_at is None or now - said_at >= ECHO_EVERY_S:
                echo(run.status)
                said, said_at = run.status, now
        if not run.done:
            time.sleep(tick)
    if echo is not None and run.done and run.status != said:
        echo(run.status)


def _echo(line):
    """A blocking Run's progress line on stdout (the terminal of ``blender -b``)."""
    print(line, flush=True)


def farm_export(context, *, chunk=10):
    """Send to farm: gather and build the job as Run would, then write its OpenJD job bundle (Deadline
    Cloud) with ``samatte farm export`` in samatte's Python (:func:`jobs.export_farm`). Returns the
    export's result dict; the panel's last result names the bundle."""
    settings, job, (_clip, _info, _objects, _frames, notes) = _build(context)
    res = jobs.export_farm(job, settings, chunk=chunk)
    context.scene.samatte.last_result = "farm bundle %s (steps %s; tracker %s, matte %s)" % (
        res.get("bundle"), ", ".join(res.get("steps") or []), (res.get("resolved") or {}).get("tracker"),
        (res.get("resolved") or {}).get("matte"))
    res["notes"] = notes
    return res


def scan(context):
    """A one-line-per-object summary of what Run would send (stored for the panel)."""
    s = context.scene.samatte
    try:
        p = props.prefs(context)
        python = samatte_python(p) if p is not None else ""
        if python:
            link.ensure_samatte(python)
        _clip, info, objects, frames, notes = collect(context)
    except HostError as e:
        s.scan_result = describe(e)
        return s.scan_result
    try:
        from samatte.frames import format_frames
    except ImportError:     # no samatte Python set yet: Find objects still lists what it found
        def format_frames(numbers):
            return ",".join(str(n) for n in numbers)
    # the scene frames the artist works in (as Check mattes), the file numbers labelled as such
    lines = ["%s: scene frames %s (files %s), %d frame%s, %dx%d%s%s" % (
        info.name, format_frames(sorted(info.scene_frame(n) for n in frames)), format_frames(sorted(frames)),
        len(frames), "" if len(frames) == 1 else "s", info.size[0], info.size[1],
        " (overscan)" if info.origin != (0.0, 0.0) else "",
        ", layer %s" % info.layer if getattr(info, "layer", None) else "")]
    for ob in objects:
        fr = prompt_frames(info, ob)
        kinds = sorted({p["type"] + ("-" if p.get("mode") == "subtract" else "") for p in ob["prompts"]})
        # where its layer draws nothing (hidden in renders, opacity under 0.5), in scene frames: its matte is 0 there
        gone = sorted({info.scene_frame(int(f)) for f in ob.get("absent") or ()})
        lines.append("%s -> %s: %s on %s%s" % (ob["host_name"], ob["name"], "/".join(kinds),
                                               ", ".join(str(f) for f in fr[:10]) + (" ..." if len(fr) > 10 else ""),
                                               "; absent %s" % format_frames(gone) if gone else ""))
    lines += notes[:5]
    s.scan_result = "\n".join(lines) if objects else describe(_with_notes(
        HostError("PROMPT_INVALID", "no prompts: draw a closed mask shape or select tracks"), notes))
    return s.scan_result


def summarise_status(status, info):
    """The panel's lines for a worker ``status`` result (``samatte status``), in scene frames: how many of
    the job's mattes are current, and which are stale (the plate, the prompts or the settings changed
    since they were made) or missing. A file at a frame's output name that a Run does not replace (the worker's
    ``problems``, status ``foreign``: made from another plate, e.g. the clip's files re-pointed to a new plate
    version in another folder; not samatte's; another job's) is named with why and what to do: a Run refuses it
    (OUTPUT_INVALID). Before, such frames were 'out of date ... Run to update the others', and Run then refused."""
    from samatte.frames import format_frames
    foreign = {}
    for f, p in (status.get("problems") or {}).items():
        if isinstance(p, dict) and p.get("status") == "foreign":
            foreign.setdefault(str(p.get("problem") or "not this job's"), []).append(info.scene_frame(int(f)))
    kept = {f for fs in foreign.values() for f in fs}
    by = {}
    for f, st in (status.get("frames") or {}).items():
        by.setdefault(st, []).append(info.scene_frame(int(f)))
    track = {}
    for f, st in (status.get("track") or {}).items():
        track.setdefault(st, []).append(info.scene_frame(int(f)))
    n = sum(len(v) for v in by.values())
    done = len(by.get("complete", ()))
    if done == n:
        return ["mattes: all %d frames current" % n]
    # (a Run refuses the whole job while such a file is there: no 'Run to update the others' then)
    lines = ["mattes: %d of %d frames current%s" % (done, n, "" if kept else "; Run to update the others")]
    for st, what in (("stale", "out of date (plate, roto, tracks or settings changed)"), ("missing", "not made")):
        frames = sorted(set(by.get(st, ())) - kept)
        if frames:
            lines.append("%s %s" % (what, format_frames(frames)))
    retrack = sorted(set(track.get("stale", ())) | set(track.get("missing", ())))
    if retrack:
        lines.append("to track again: %s" % format_frames(retrack))
    for why, frames in sorted(foreign.items()):
        lines.append("not replaced by a Run, %s: %s" % (why, format_frames(sorted(frames))))
    if kept:
        lines.append("Run refuses to write over those files: set another Output folder in the samatte panel for this "
                     "clip (e.g. //samatte_v2/), or move those files away")
    return lines


def shown_elsewhere(shown, pattern, info):
    """Check mattes' line when the compositor shows clip ``info``'s plate with other mattes (``shown``) than its
    job's (``pattern``): the lines before it are about ``pattern``, not about what the compositor shows.

    * the .blend saved elsewhere with a ``//`` Output, or Output changed since the Run: the same clip's mattes in
      another Output folder; it names that folder, the one to set as Output to check and reuse them (before:
      the clip's own subfolder, ``<Output>/<clip>``: set as Output, the job's mattes went to
      ``<Output>/<clip>/<clip>/``, none current);
    * the clip's source replaced by a sequence with another name since the Run (``clip.filepath``): the
      mattes of other plate files, which no Output makes for these plates: it says so (before: 'this clip's
      mattes', and to set Output to their folder to reuse them)."""
    folder = jobs.output_dir_of(shown, info)
    if folder is not None:
        return ("the compositor shows this clip's mattes from %s, not from Output (%s): a Run makes them in "
                "Output; set Output to %s to check and reuse those" % (
                    os.path.dirname(shown), os.path.dirname(pattern), folder))
    return ("the compositor shows the mattes of other plate files (%s in %s), not of this clip's %s: the clip's "
            "files changed since that Run; a Run makes theirs in Output (%s) and shows them" % (
                os.path.basename(shown), os.path.dirname(shown), os.path.basename(info.pattern or info.name),
                os.path.dirname(pattern)))


def not_shown(scene, clip):
    """Check mattes' line when ``scene``'s compositor shows none of ``clip``'s mattes, some current on disk: a Run
    taken back with Ctrl+Z (its wiring undone, the mattes kept), mattes made by the farm or the command line for a
    scene never run here, samatte's nodes deleted, or another clip wired in this scene. Before, 'mattes: all 6
    frames current' alone, over a render with no matte."""
    if getattr(scene, "library", None) is not None:     # its compositor is its library's: a Run here does not wire it
        return "the compositor does not show these mattes" + linked_note(scene)
    tree = compositor.existing_tree(scene)
    plate = tree.nodes.get(compositor.NODE_PLATE) if tree is not None else None
    other = getattr(plate, "clip", None)
    if other is not None and other != clip and tree.nodes.get(compositor.NODE_MATTE) is not None:
        return ("the compositor shows clip %r, not this one (one set of samatte nodes per scene): Run to show this "
                "clip's mattes (current frames are reused)" % other.name)
    return ("the compositor does not show these mattes (no samatte matte node for this clip in scene %r: never "
            "wired here, deleted, or a Run taken back with Ctrl+Z): Run to show them (current frames are reused)"
            % scene.name)


def matte_status(context):
    """Check mattes: which of the job's matte frames on disk are still those Run would make now (the
    worker's ``status``: the same keys a run reuses frames by). Stored for the panel; returns the lines."""
    s = context.scene.samatte
    info = None
    regated = False
    try:
        if running_job() is not None:
            raise HostError("BUSY", "a samatte job is running: check when it has finished")
        settings, job, (clip, info, _objects, _frames, _notes) = _build(context)
        pattern = job["output"]["path"]
        # the clip's Offset / Start Frame may have moved since the wiring: its mattes back under their plates
        # (and the gate re-made from the mattes on disk)
        regated = compositor.remap(context.scene, clip, info, pattern,
                                   wired_frames(info, pattern, jobs_frames(job)))
        status = jobs.get_worker(settings).status(job)
        lines = summarise_status(status, info)
        shown = compositor.shown_pattern(context.scene, clip)
        if shown is not None and shown != os.path.normpath(pattern):
            lines.append(shown_elsewhere(shown, pattern, info))
        elif shown is None and "complete" in (status.get("frames") or {}).values():
            lines.append(not_shown(context.scene, clip))
    except HostError as e:
        lines = [describe(e)]
    except Exception as e:  # noqa: BLE001 - a samatte error from the worker (JobSpecError...): shown as is
        if getattr(e, "code", None) is None:
            raise
        lines = [describe(e) + (jobs.scene_frame_note(e, info.scene_frame) if info is not None else "")
                 + jobs.host_hint(e)]
    finally:
        if not regated and running_job() is None:
            compositor.refresh_gate(context.scene)     # mattes written since the wiring (farm, CLI) show
    s.status_result = "\n".join(lines)
    return lines


#: the operators that change the .blend (the compositor's nodes, the panel's results): each is an undo step of its
#: own. Before, none was: what Run or Check mattes changed went into the artist's next undo step, so a Ctrl+Z of
#: the next edit (a roto point moved) undid it too: the compositor's samatte nodes gone after a first Run, or
#: Check mattes' re-mapping of the matte node after a clip Offset change lost, the matte of another file shown
#: over each plate frame. No REGISTER: Adjust Last Operation would run the job again, blocking.
UNDO = {"UNDO"}


def undo_step(op):
    """An undo step of its own for operator ``op`` that changed the .blend and ends CANCELLED (a Run that failed or
    was cancelled: the panel's Last result and Mattes; Check mattes that failed: its lines, and the matte node
    re-mapped or the gate re-made before the worker failed). Blender pushes one only for FINISHED, so what it changed
    went into the artist's next undo step: Ctrl+Z of a roto point moved after it brought back the Last result of the
    Run before (``6 frames written``) and Mattes ``all 6 frames current`` over mattes the failed Run had changed,
    or took back Check mattes' re-mapping to a changed clip Offset. What scripts get back stays CANCELLED."""
    try:
        if bpy.ops.ed.undo_push.poll():
            bpy.ops.ed.undo_push(message=op.bl_label)
    except (AttributeError, RuntimeError, TypeError):   # no window, undo off (--background without a file...)
        pass


class SAMATTE_OT_scan(bpy.types.Operator):
    bl_idname = "samatte.scan"
    bl_options = UNDO
    bl_label = "Find objects"
    bl_description = "List the objects and prompt frames a run would send"

    def execute(self, context):
        scan(context)
        return {"FINISHED"}


class SAMATTE_OT_status(bpy.types.Operator):
    bl_idname = "samatte.status"
    bl_options = UNDO
    bl_label = "Check mattes"
    bl_description = ("Which matte frames on disk are out of date with the clip, roto, tracks and settings "
                      "as they are now (Run remakes only those)")

    def execute(self, context):
        lines = matte_status(context)
        bad = lines[0].startswith("[")
        if bad:
            undo_step(self)     # its lines (and any re-mapping) changed the .blend: an undo step all the same
        self.report({"ERROR" if bad else "INFO"}, "samatte: " + "; ".join(lines))
        return {"CANCELLED"} if bad else {"FINISHED"}


class SAMATTE_OT_check(bpy.types.Operator):
    bl_idname = "samatte.check"
    bl_label = "Check samatte"
    bl_description = "Start the samatte worker and show what it found (versions, device, models)"

    def execute(self, context):
        p = props.prefs(context)
        try:
            _hello, lines = jobs.check_worker(settings_from(context))
        except HostError as e:
            p.check_result = describe(e)
            self.report({"ERROR"}, "samatte: " + describe(e))
            return {"CANCELLED"}
        p.check_result = "\n".join(lines)
        self.report({"INFO"}, "samatte: " + lines[0])
        return {"FINISHED"}


def _failed_before_start(context, error):
    """The panel's Last result of a Run refused before its job reached the worker (a shape off the picture, no
    prompts, a bad Output folder): its error, as for one the worker refuses. Before, the panel kept the last
    Run's ('4 frames written'), the error only in the report that the status bar shows for a few seconds."""
    s = getattr(context.scene, "samatte", None)
    if s is not None and getattr(error, "code", None) != "CANCELLED":
        s.last_result = describe(error)


class SAMATTE_OT_run(bpy.types.Operator):
    bl_idname = "samatte.run"
    bl_options = UNDO
    bl_label = "Run samatte"
    bl_description = "Track and matte the clip's objects in the samatte worker (Esc cancels)"

    this_frame: bpy.props.BoolProperty(name="This frame only", default=False)
    _timer = None

    def _start(self, context):
        try:
            # the worker starts in a thread: Blender stays responsive and Esc cancels during its start-up
            return start_run(context, this_frame=self.this_frame, background=True)
        except HostError as e:
            self.report({"ERROR"}, "samatte: " + describe(e))
            _failed_before_start(context, e)
            return None

    def execute(self, context):
        # Scripts (and bpy as a module, where INVOKE runs execute): run to the end, blocking.
        try:
            # its progress on stdout: headless (blender -b), the terminal is all there is to watch
            run, (level, msg) = run_blocking(context, this_frame=self.this_frame, echo=_echo)
        except HostError as e:
            self.report({"ERROR"}, "samatte: " + describe(e))
            _failed_before_start(context, e)
            return {"CANCELLED"}
        for n in run.notes:
            self.report({"INFO"}, "samatte: " + n)
        if run.result is None:
            undo_step(self)     # finish_run wrote its error or 'cancelled' in the panel
        self.report({level}, msg)
        return {"FINISHED"} if run.result is not None else {"CANCELLED"}

    def invoke(self, context, event):
        run = self._start(context)
        if run is None:
            return {"CANCELLED"}
        for n in run.notes:
            self.report({"INFO"}, "samatte: " + n)
        wm = context.window_manager
        self._run = run
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.progress_begin(0, 1000)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        run = current_run()
        if run is None or run is not getattr(self, "_run", run):   # forgotten: another .blend, add-on disabled
            self._stop(context)
            return {"CANCELLED"}
        if event.type == "ESC" and run is not None:
            run.cancel()
        if event.type != "TIMER" or run is None:
            return {"PASS_THROUGH"}
        run.poll()
        context.window_manager.progress_update(int(run.fraction * 1000))
        if context.workspace is not None:
            context.workspace.status_text_set(run.status)
        if not run.done:
            return {"PASS_THROUGH"}
        return self._end(context, run)

    def _stop(self, context):
        """The timer, progress bar and status text gone."""
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def cancel(self, context):
        """Blender ends the modal handler itself when another .blend is opened (File > Open, Revert):
        :func:`_on_load_pre` has cancelled the job; the timer and progress bar go here."""
        try:
            self._stop(context)
        except (AttributeError, ReferenceError, RuntimeError):
            pass

    def _end(self, context, run):
        self._stop(context)
        try:
            level, msg = finish_run(context, run)
        except HostError as e:
            level, msg = "ERROR", "samatte: " + describe(e)
        if run.result is None:
            undo_step(self)
        self.report({level}, msg)
        for area in context.screen.areas if context.screen else ():
            area.tag_redraw()
        return {"FINISHED"} if run.result is not None else {"CANCELLED"}


class SAMATTE_OT_farm_export(bpy.types.Operator):
    bl_idname = "samatte.farm_export"
    bl_options = UNDO
    bl_label = "Send to farm"
    bl_description = ("Write an Open Job Description bundle (Deadline Cloud) for this job beside its output: "
                      "track, matte in chunks, QC")

    chunk: bpy.props.IntProperty(name="Chunk size", default=10, min=1, description="frames per matting task")

    def execute(self, context):
        try:
            farm_export(context, chunk=self.chunk)
        except HostError as e:
            self.report({"ERROR"}, "samatte: " + describe(e))
            return {"CANCELLED"}
        self.report({"INFO"}, "samatte: " + context.scene.samatte.last_result)
        return {"FINISHED"}


class SAMATTE_OT_cancel(bpy.types.Operator):
    bl_idname = "samatte.cancel"
    bl_label = "Cancel samatte"
    bl_description = "Stop the running job between frames (finished frames are kept)"

    def execute(self, context):
        run = running_job()
        if run is None:
            self.report({"INFO"}, "samatte: no job is running")
            return {"CANCELLED"}
        run.cancel()
        return {"FINISHED"}


class SAMATTE_OT_release(bpy.types.Operator):
    bl_idname = "samatte.release"
    bl_label = "Release samatte"
    bl_description = "End the samatte worker: frees its memory and GPU"

    def execute(self, context):
        run = running_job()
        if run is not None:
            run.cancel()
            run.wait(timeout=30)
        n = jobs.release_worker()
        self.report({"INFO"}, "samatte: %s" % ("worker ended" if n else "no worker was running"))
        return {"FINISHED"}


CLASSES = (SAMATTE_OT_scan, SAMATTE_OT_status, SAMATTE_OT_check, SAMATTE_OT_run, SAMATTE_OT_farm_export, SAMATTE_OT_cancel,
           SAMATTE_OT_release)

_register, _unregister = bpy.utils.register_classes_factory(CLASSES)


def forget_run(*, wait=0.0):
    """Cancel the current run when it is still going (finished frames are kept; a cancelled job stops
    between frames) and forget it. ``wait``: seconds to wait for the worker to stop it; if it has not
    by then, the worker is ended (its frames are atomic). Returns the run that was still going, or None."""
    run = _STATE["run"]
    _STATE["run"] = _STATE["scene"] = None
    if run is None or run.done:
        return None
    try:
        run.cancel()
        if wait:
            run.wait(timeout=wait)
    except Exception:  # noqa: BLE001 - a dead worker: ended below anyway
        pass
    if wait and not run.done:
        jobs.release_worker()
    return run


@bpy.app.handlers.persistent
def _on_load_pre(*_args):
    """Another .blend is being opened (File > Open, Revert, New). The run belongs to the file being
    closed: Blender ends the Run operator's modal handler with it, so nothing polled the run any more.
    It stayed 'running' (every Run answered BUSY, Cancel could not end it) and the new file's scene of
    the same name showed its status and objects as its own. It is cancelled and forgotten."""
    run = forget_run(wait=10.0)
    if run is not None:
        print("samatte: the running job %s was cancelled: its .blend was closed (finished frames are kept; "
              "Run there again resumes)" % run.job.get("name"))


def _load_handlers():
    return [h for h in bpy.app.handlers.load_pre if getattr(h, "__name__", "") == _on_load_pre.__name__
            and getattr(h, "__module__", "") == __name__]


def register():
    _register()
    for h in _load_handlers():      # one handler, also after a script reload
        bpy.app.handlers.load_pre.remove(h)
    bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister():
    """Classes and the load handler removed, and the current run forgotten (cancelled first when it is
    still going: the worker is ended with the add-on). Blender keeps this module for a later enable, and
    a run left 'running' here made every Run answer BUSY after the add-on was enabled again."""
    for h in _load_handlers():
        bpy.app.handlers.load_pre.remove(h)
    forget_run()
    _unregister()
