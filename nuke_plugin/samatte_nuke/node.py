"""The SAMatte node: a Group made from Python, its knobs and buttons.

Inputs: 0 Source (the plate), 1 Prompts (Roto / RotoPaint / Tracker4, directly or through a chain).
Output: the Source with samatte's merged matte in alpha and one layer per object (``hero.alpha``),
read back from the cache by an internal Read whose file knob calls :func:`samatte_nuke.farm.frame_path`
(farm-safe: it checks each frame's key and never starts tracking).

Every button runs in Nuke's main thread and only gathers, validates and starts a
:class:`samatte_nuke.runner.JobRunner`; the runner changes nodes only through
``nuke.executeInMainThread``.
"""
import os
import re
import uuid

import nuke

from samatte.errors import PlateError, PromptError, SamatteError, WorkerError

from . import config, farm, gather, job as jobmod
from .convert import absent_text, is_disabled, is_samatte_node, script_node
from .runner import POOL, JobRunner

__all__ = ["create", "build", "on_create", "register_callbacks", "on_track", "on_matte_frame", "on_cancel", "on_clear_cache", "on_release",
           "on_export", "on_refresh", "RUNNERS", "LISTENERS"]

NODE_CLASS_TAG = "samatte_node"
RUNNERS = {}
#: callables(node_full_name, kind, payload) told about job events in the main thread (the Qt panel)
LISTENERS = []

TRACKERS = ("auto", "sam2", "flow", "shapes")
QUALITIES = ("draft", "default", "high")
DEVICES = ("auto", "cpu", "cuda", "mps")
REFINE_ONLY = "every frame (refine only)"
ROTO_MODES = ("keyframes as prompts", REFINE_ONLY)
MODELS = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
#: the internal Read's file knob. The frame is TCL's ``[frame]``, substituted before Python runs: the frame
#: the Read is evaluated at (a TimeOffset or FrameHold downstream of the node asks for another frame than
#: the viewer's); ``nuke.frame()`` is documented as "normally the frame number set in the root node"
READ_EXPR = ('[python "__import__(\'samatte_nuke.farm\').farm.frame_path(nuke.thisParent(), [frame])"]')


def _registry_choices():
    try:
        from samatte import registry
        return (tuple(registry.TRACKER_BACKENDS), tuple(registry.MATTE_QUALITIES),
                tuple(d for d in registry.DEVICES))
    except ImportError:
        return TRACKERS, QUALITIES, DEVICES


def _button(name, label, func):
    k = nuke.PyScript_Knob(name, label, "import samatte_nuke.node as _s; _s.%s(nuke.thisNode())" % func)
    return k


def create(name=None):
    """Make the SAMatte Group (main thread). Connects to the selected node when there is one."""
    trackers, qualities, devices = _registry_choices()
    if not name:
        # SAMatte1, SAMatte2, ... in the group being edited, as Nuke names a gizmo (before: Nuke's
        # 'Group1', so the node, its cache folder and its messages were named like any other Group)
        taken = {n.name() for n in nuke.allNodes()}
        i = 1
        while "SAMatte%d" % i in taken:
            i += 1
        name = "SAMatte%d" % i
    g = nuke.nodes.Group()
    g.setName(name)
    g.begin()
    try:
        src = nuke.nodes.Input(name="Source")
        src["number"].setValue(0)
        prm = nuke.nodes.Input(name="Prompts")
        prm["number"].setValue(1)
        read = nuke.nodes.Read(name="samatte_cache_read")
        read["file"].setValue("")
        read["on_error"].setValue("error")
        rem = nuke.nodes.Remove(name="samatte_drop_rgb")
        rem["operation"].setValue("remove")
        rem["channels"].setValue("rgb")
        rem.setInput(0, read)
        cp = nuke.nodes.Copy(name="samatte_copy")
        cp["channels"].setValue("all")
        cp.setInput(0, src)   # B: the plate
        cp.setInput(1, rem)   # A: alpha, object layers, quality
        cp["disable"].setValue(True)  # until a job has written frames
        out = nuke.nodes.Output(name="Output")
        out.setInput(0, cp)
    finally:
        g.end()
    knobs = [
        nuke.Tab_Knob("samatte", "SAMatte"),
        nuke.Text_Knob("status", "status", "not run yet"),
        nuke.Text_Knob("objects_info", "objects", "(press Refresh)"),
        nuke.String_Knob("skip_objects", "skip objects", ""),
        _button("refresh", "Refresh objects", "on_refresh"),
        nuke.Enumeration_Knob("roto_mode", "roto", list(ROTO_MODES)),
        nuke.Enumeration_Knob("tracker", "tracker", list(trackers)),
        nuke.Enumeration_Knob("model", "model", list(MODELS)),
        nuke.Enumeration_Knob("quality", "matte quality", list(qualities)),
        nuke.Enumeration_Knob("range_mode", "frame range", ["input", "custom"]),
        nuke.String_Knob("custom_range", "custom range", ""),
        nuke.Enumeration_Knob("device", "device", list(devices)),
        nuke.File_Knob("cache_dir", "cache folder"),
        nuke.File_Knob("samatte_python", "samatte python"),
        _button("track", "Track && Matte", "on_track"),
        _button("matte_frame", "Matte this frame", "on_matte_frame"),
        _button("cancel", "Cancel", "on_cancel"),
        _button("clear_cache", "Clear cache", "on_clear_cache"),
        _button("release", "Release GPU", "on_release"),
        _button("export", "Export JobSpec", "on_export"),
        _button("panel", "Open panel", "on_panel"),
        nuke.String_Knob("samatte_uid", "uid", uuid.uuid4().hex[:8]),
        nuke.String_Knob("samatte_job", "job", ""),
        nuke.Int_Knob("samatte_offset", "offset", 0),
        nuke.String_Knob("samatte_scores", "scores", ""),
        nuke.String_Knob("samatte_timing", "timing", ""),
        nuke.String_Knob("samatte_plate", "plate", ""),
        nuke.Boolean_Knob(NODE_CLASS_TAG, NODE_CLASS_TAG, True),
    ]
    for k in knobs:
        g.addKnob(k)
    g["quality"].setValue("default")
    g["tracker"].setValue("auto")
    g["device"].setValue("auto")
    for hidden in ("samatte_uid", "samatte_job", "samatte_offset", "samatte_scores", "samatte_timing", "samatte_plate",
                   NODE_CLASS_TAG):
        g[hidden].setVisible(False)
    g["cache_dir"].setTooltip("default: samatte_cache next to the script, one folder per node")
    g["samatte_python"].setTooltip("default: $SAMATTE_PYTHON, else the venv of the install this plugin was "
                                   "loaded from, else what install.sh --nuke recorded last")
    g["skip_objects"].setTooltip("objects to leave out, comma separated (their samatte or Nuke names)")
    return g


def on_create():
    """onCreate callback (:func:`register_callbacks`): a SAMatte node made as a copy (pasted alone or inside
    a copied Group, or loaded beside a node with its uid) gets a uid of its own, so its jobs, cache folder
    and job name are its own and its runs never write over the original's frames. It keeps the original's
    stored result, which it shows until it runs. A node cut and pasted keeps its uid (and its cache)."""
    n = nuke.thisNode()
    k = n.knob("samatte_uid") if n is not None else None
    if k is None or n.knob(NODE_CLASS_TAG) is None:
        return
    uid, me = k.value(), n.fullName()
    for other in nuke.allNodes(recurseGroups=True, group=nuke.root()):
        ok = other.knob("samatte_uid")
        if ok is not None and ok.value() == uid and other.fullName() != me:
            k.setValue(uuid.uuid4().hex[:8])
            break
    # a copy made (or a script saved) while a job ran carries the status "running (...)": no job of its
    # own runs, so nothing would ever change it (before: a pasted copy said "running (all)" for good and
    # its Cancel did nothing)
    st = n.knob("status")
    if st is not None and st.value().startswith(("running", "cancelling")) and not _busy(n):
        st.setValue("not running (copied or saved while a job ran): press Track & Matte")


def register_callbacks():
    """Called by menu.py: :func:`on_create` for every Group made, :func:`on_script_load` once a script is loaded
    (Nuke adds a callback only once)."""
    nuke.addOnCreate(on_create, nodeClass="Group")
    add = getattr(nuke, "addOnScriptLoad", None)
    if add is not None:
        add(on_script_load)


def on_script_load():
    """onScriptLoad callback: :func:`adopt_checks` for every SAMatte node of the script just opened."""
    for n in nuke.allNodes(recurseGroups=True, group=nuke.root()):
        if n.knob(NODE_CLASS_TAG) is not None:
            try:
                adopt_checks(n)
            except Exception:  # noqa: BLE001 - never stop a script from opening
                pass


def adopt_checks(group):
    """A node aligned by a samatte older than the read-back's timing and plate checks (its ``samatte_timing`` /
    ``samatte_plate`` knobs absent or empty) whose plate it rendered: when the graph above its Source is still the
    one that plate was rendered from (the upstream hash in the plate folder's name: every knob upstream and the
    size and mtime of every file an upstream Read reads), the signatures of now are those of its run, so they are
    recorded: from then on a Read or time node changed upstream is refused, as for a node aligned today. Before,
    such a node showed its mattes over a retimed or replaced plate until its next Track & Matte. Returns True when
    recorded. A graph changed since (or hashed by another samatte's rule) records nothing: as before."""
    job = farm.stored_job(group)
    if not job or not farm._rendered(job):
        return False
    timing, plate = group.knob("samatte_timing"), group.knob("samatte_plate")
    if timing is not None and timing.value() and plate is not None and plate.value():
        return False
    up = group.input(0)
    if up is None:
        return False
    folder = os.path.basename(os.path.dirname(job["plate"]["path"].replace("\\", "/")))
    with jobmod.full_size(nuke.root()):   # (as the plate was rendered: the Reads' full-size files)
        # the hash as the samatte that rendered the plate counted the Reads' file mtimes (whole ns through 0.2.18):
        # before, only today's unit (whole ms), so no node aligned by 0.2.18 was ever adopted, and each open of
        # the script walked the comp and stat'ed every upstream file again for nothing
        # (by samatte 0.2.20 and older, the graph's hash alone; since, with the project's colour settings)
        known = {"plate_%s" % h for h in jobmod.upstream_hashes(up, jobmod.HASH_MTIME_UNITS)}
        shown = jobmod.source_node(group)
        if folder not in known and folder not in {"plate_%s" % jobmod.plate_hash(shown, unit=u)
                                                  for u in jobmod.HASH_MTIME_UNITS}:
            return False
        now = (("samatte_timing", jobmod.time_signature(shown)),
               ("samatte_plate", farm.encode_state(jobmod.plate_signature(shown))))
    for name, value in now:
        k = group.knob(name)
        if k is None:
            k = nuke.String_Knob(name, name[8:], "")
            group.addKnob(k)
            k.setVisible(False)
        if not k.value():
            k.setValue(value)
    return True


def _inner(group, name):
    return group.node(name)  # Foundry: Group.node(name) finds a node inside the group


def _folder(group):
    """The node's cache folder: ``<cache root>/<node>_<uid>``, named when the node first runs there (a node
    renamed since keeps its folder, and its frames, as long as it is in the same cache root)."""
    root_dir = jobmod.cache_root_now(group, nuke.root())
    uid = group["samatte_uid"].value()
    job = farm.stored_job(group)
    if job:
        kept = os.path.dirname(os.path.dirname(jobmod.host_path(job["output"]["path"])))
        if os.path.dirname(kept) == root_dir and os.path.basename(kept).endswith("_" + uid):
            return kept
    return jobmod.node_folder(root_dir, group.name(), uid)


def _script_path():
    name = nuke.root()["name"].value()
    return os.path.abspath(name) if name and name != "Root" else ""


def _folder_owner(folder):
    """(script, plate) of the job the node folder's ``job.json`` holds (its ``meta.nuke_script``, written by
    the node after samatte 0.2.18, and its plate pattern), or None: no job.json, an older one, unreadable, or
    one written in another place (its output is not in ``folder``: a project moved or copied with its cache,
    whose script and plate are then elsewhere too, is its own)."""
    import json
    try:
        with open(os.path.join(folder, "job.json"), "r", encoding="utf-8") as fh:
            doc = json.load(fh)
        # (its paths as this machine's Nuke opens them: a job.json written on another OS, its paths mapped)
        script = jobmod.host_path((doc.get("meta") or {}).get("nuke_script"))
        plate = jobmod.host_path(doc["plate"]["path"])
        written = os.path.dirname(os.path.dirname(jobmod.host_path(doc["output"]["path"])))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not script or os.path.normcase(os.path.normpath(written)) != os.path.normcase(os.path.normpath(folder)):
        return None
    return str(script), str(plate)


def _own_folder(group, source, read):
    """The node's cache folder (:func:`_folder`), unless it holds another script's mattes of another plate:
    this node is then a copy of that script's node (pasted into this script with its uid: Nuke's onCreate
    gives a pasted node a uid of its own only when the original is in the same script; two scripts share a
    cache folder when they are in one folder, or when the cache folder knob names one for the whole show),
    and it takes a uid, and so a folder and a job name, of its own. Before, the copy wrote its mattes over
    the other script's (which then failed its renders as stale, and re-ran over the copy's), and its Clear
    cache deleted them. A script saved as another version (v002) with the same plate keeps sharing the
    folder (its frames are reused). ``source``: the Source node (None: not known, taken as another plate);
    ``read``: the Read used as the plate as it is, or None (the plate is rendered into the folder under a hash
    of everything upstream of ``source``)."""
    folder = _folder(group)
    owner = _folder_owner(folder)
    script = _script_path()
    # (an unsaved script, ``script`` '', is never the owner: the owner's job was built in a saved one; before,
    # a node pasted into File > New took over the folder of the script it was copied from)
    if owner is None or os.path.normcase(owner[0]) == os.path.normcase(script) or _busy(group):
        return folder
    plate = None
    try:
        if read is not None:
            plate = jobmod.read_path(read)
        elif source is not None:
            plate = os.path.join(folder, "plate_%s" % jobmod.plate_hash(source), "plate.####.exr")
    except Exception:  # noqa: BLE001 - a Source whose files cannot be named: another plate
        plate = None
    if plate and os.path.normpath(plate) == os.path.normpath(owner[1]):
        return folder   # the same plate: another version of this script (its frames are reused)
    old = group["samatte_uid"].value()
    group["samatte_uid"].setValue(uuid.uuid4().hex[:8])
    new = _folder(group)
    _log(group)("%s holds the mattes of %s made by %s: this node, a copy of that script's, now has a cache "
                "folder of its own (%s; uid %s, was %s)" % (folder, owner[1], owner[0], new,
                                                           group["samatte_uid"].value(), old))
    return new


def _job_name(group, folder):
    """The node's job name: that of its cache folder, ``<node>_<uid>`` with the name the node had when the
    folder was made. The frames in the folder carry it (``samatte/job``), and samatte refuses to replace a
    frame of another job's name that is not complete (OUTPUT_INVALID): with the current name instead, a
    node renamed since kept its folder but failed on its own frames as soon as they went stale (an edited
    roto, a new samatte version)."""
    from samatte.names import safe_name
    uid = group["samatte_uid"].value()
    base = os.path.basename(os.path.normpath(folder))
    if uid and base.endswith("_" + uid) and len(base) > len(uid) + 1:
        return "%s_%s" % (safe_name(base[:-len(uid) - 1]), uid)
    return "%s_%s" % (safe_name(group.name()), uid)


def _log(group):
    def log(msg):
        nuke.tprint("[SAMatte %s] %s" % (group.name(), msg))
    return log


def build(group, *, render=True, check=None):
    """Gather everything for a job (main thread): returns ``(job, info)``; ``info`` holds the
    script->file offset, the script frames and the folder. Renders the plate first when the Source
    is not an untouched EXR Read (and refine only's masks), once the prompts are checked; ``render`` False: not
    (the job names the files the render would make). ``check``: called with ``info`` (the keys ``offset``,
    ``frames``, ``fmap``, ``folder``) once everything else is checked and before anything is rendered; it raises a
    samatte error to refuse the job (Matte this frame: a frame outside the node's range). Raises samatte errors
    (JobSpecError, PromptError, ...). The script is read at full size (:func:`samatte_nuke.job.full_size`): in proxy
    mode too, the job is the full-size one."""
    with jobmod.full_size(nuke.root()):
        return _build(group, render=render, check=check)


def _lent_prompts(prompts_in):
    """The node whose Roto / RotoPaint / Tracker4 nodes prompt a tracking job whose Prompts input is ``prompts_in``:
    a SAMatte node plugged in there lends its own Prompts input (the roto it is prompted by; the chain of them, a
    SAMatte node lending another's), else ``prompts_in``. A SAMatte node's output shows its Source's picture only, so
    walked as a picture it holds no roto: SAMatte2 with its Prompts on SAMatte1 (one node per object from the roto
    SAMatte1 uses, skip objects) was PROMPT_INVALID "no enabled Roto ... upstream of the Prompts input" since
    6402549, as was the chain Read1 -> SAMatte1 -> SAMatte2 with both inputs dragged from SAMatte1; before that
    commit the first took SAMatte1's roto. (Refine only takes a SAMatte node's matte there: not this.) A SAMatte node
    reached through Dot, NoOp, disabled or Switch nodes (:func:`samatte_nuke.job.source_node`'s rule: they pass an input
    as it is) lends its Prompts input the same way: before, SAMatte2's Prompts routed to SAMatte1 through a Dot (a
    tidy graph) was PROMPT_INVALID, though plugged in directly it worked."""
    for _ in range(64):
        n = prompts_in
        for _hop in range(256):
            up = jobmod._passes_through(n) if n is not None else None
            if up is None or up is False:
                break
            n = up
        if n is None or not is_samatte_node(n) or is_disabled(n) or n.inputs() < 2 or n.input(1) is None:
            break
        prompts_in = n.input(1)
    return prompts_in


def _build(group, *, render=True, check=None):
    import nuke.rotopaint as rp
    from samatte.names import safe_name
    source = jobmod.source_node(group)
    if source is None:
        raise PlateError("connect a plate to the Source input")
    prompts_in = group.input(1)
    if prompts_in is None:
        raise PromptError("connect a Roto, RotoPaint or Tracker4 node to the Prompts input")
    frames = jobmod.script_frames(group["range_mode"].value(), group["custom_range"].value(),
                                  int(source.firstFrame()), int(source.lastFrame()))
    frames = _shown_frames(group, source, frames)
    notes = _custom_range_notes(group, source, frames)   # what the node's status line says when the job ends
    info = jobmod.source_info(source, frames)   # the Read used directly only where its files are what it shows
    _refuse_erroring(source, frames, info)   # (a Read upstream of a rendered plate whose render would stop on a frame)
    folder = _own_folder(group, source, info["read"])
    read = info["read"]
    fmap = info["fmap"]
    # prompt nodes, each with the frame map of the TimeOffset / FrameHold nodes on its way (others logged;
    # refine-only renders the Prompts input, retimed by Nuke itself)
    refine_only = group["roto_mode"].value() == REFINE_ONLY
    if not refine_only:
        prompts_in = _lent_prompts(prompts_in)
    sources = gather.prompt_sources(prompts_in, log=None if refine_only else _log(group))
    nodes = [n for n, _ in sources]
    # refine only of another SAMatte node's output: its alpha (a matte) is the mask, no Roto is behind it
    if not nodes and not (refine_only and gather.matte_nodes(prompts_in)):
        raise PromptError("no enabled Roto, RotoPaint or Tracker4 node found upstream of the Prompts input (a "
                          "disabled one, or one behind a Switch input not shown, draws nothing)")
    # shapes and tracks drawn on an image of another size than the Source's: refused before anything is
    # rendered (before: read in the Source's pixels, a matte of the wrong place)
    # (refine only: the Prompts input's render, what Nuke shows there, is what must fit)
    if refine_only:
        jobmod.check_prompt_formats([], source, info["geometry"], rendered=prompts_in)
        gather.check_rendered_prompts(sources, prompts_in, source)
    else:
        jobmod.check_prompt_formats(nodes, source, info["geometry"])
        # a prompt node drawn on an image the Source shows through a Transform / TimeOffset / FrameHold: its
        # shapes and tracks carried into the Source's pixels and frames; through a node that may move pixels
        # in a way not documented (Retime, CornerPin2D, an unknown node): refused here, before any render
        sources = gather.carry_to_source(sources, source, log=_log(group), prompts=prompts_in)
    if read is not None:
        plate = jobmod.read_path(read)
        colourspace, ocio = jobmod.read_colour(read, nuke.root())
        jobmod.check_read_colour(read, colourspace, ocio)   # (a nuke-default name, no config known: before any render)
        jobmod.check_plate_channels(read, jobmod._file_at(plate, min(fmap.files(frames))))   # (no rgb: a Z pass)
    else:
        plate = None   # rendered below, once the prompts are known to make a job
        colourspace, ocio = jobmod.working_colour(nuke.root())
    # Nuke ignores an EXR header's colour attributes (chromaticities, colorInteropID): what it shows is the
    # file in the Read's default / the working space, samatte's scene_linear reading; named, so samatte does
    # not read the plate in the colourspace its header names, as it does for a job that names none
    colourspace = colourspace or "scene_linear"
    hidden = []     # objects none of whose shapes draws on any frame of the range (gather.gather_objects)
    said = []       # what the gathering logged (a track point outside the image, skipped)
    if refine_only:
        # every frame of the (animated) roto, rendered soft (below): refine-only, no tracking
        masks = {"path": None, "channel": "A", "soft": True}
        host = prompts_in.name()
        objects = [{"name": safe_name(host), "host_name": host, "masks": masks, "prompts": []}]
    else:
        objects = gather.gather_objects(sources, info["geometry"], fmap, frames, rp, safe_name=safe_name,
                                        log=_said(group, said), gone=hidden, notes=notes)
    # the artist's own mistakes get samatte's stable codes (PLATE_INVALID, PROMPT_INVALID): before, these
    # showed [SAMATTE_ERROR], the code the README gives to "unexpected error (a bug: please report it)"
    skip = {w.strip() for w in group["skip_objects"].value().split(",") if w.strip()}
    kept = [ob for ob in objects if ob["name"] not in skip and ob.get("host_name") not in skip]
    if objects and not kept:
        raise PromptError("every object is left out by skip objects (%s)" % ", ".join(sorted(skip)))
    if not kept and hidden:
        # its shapes are hidden (or outside their lifetime) on every frame: the object is in none of them, its
        # Tracker4 points dropped (before: "hold no shape, stroke or enabled track", with the tracks in range)
        raise PromptError("every shape of %s is hidden or outside its lifetime on every frame of the range (%s): "
                          "the object is in none of them and its other prompts are dropped; change the shapes' "
                          "lifetime or the node's frame range" % (", ".join(repr(h) for h in hidden),
                                                                  _frames_text(frames)))
    if not kept:
        raise PromptError("the prompt nodes hold no shape, stroke or enabled track inside the frame range"
                          + _off_image(said))
    unknown = skip - {ob["name"] for ob in objects} - {ob.get("host_name") for ob in objects} - set(hidden)
    if unknown:
        # (on the status line too, as the build's other warnings: before, in the Script Editor only, so a name typed
        # wrong, 'Hero' or 'hero car' for 'hero, car', tracked and matted the object with no word on the node)
        named = ", ".join(sorted(unknown))
        _log(group)("skip objects: no object named %s" % named)
        notes.append("skip objects: no object named %s, so it leaves nothing out (the objects: %s; names separated by "
                     "commas)" % (named, ", ".join(ob["name"] for ob in objects)))
    objects = kept
    if check is not None:
        # (the button's own refusals, before any render: Matte this frame on a frame outside the node's range
        # rendered the whole plate into the cache before saying so)
        check({"offset": fmap.offset, "frames": frames, "folder": folder, "fmap": fmap if read is not None else None})
    # the renders last: an error in the prompts or skip objects is said before any frame is rendered into the cache
    # (before: after a render of the whole plate, and of refine only's masks). ``render`` False (Refresh objects): the
    # job names the files a render would make, and nothing is rendered (before: Refresh objects rendered them all)
    if plate is None:
        plate = (jobmod.render_plate(nuke, group, folder, frames) if render else
                 jobmod.render_pattern(group, "Source", folder, "plate"))
    if refine_only:
        masks["path"] = (jobmod.render_masks(nuke, group, folder, frames, fmap.offset) if render else
                         jobmod.render_pattern(group, "Prompts", folder, "roto"))
    job = jobmod.build_job(
        name=_job_name(group, folder), plate_path=plate,
        file_frames=fmap.files(frames), colourspace=colourspace,
        ocio=ocio,
        objects=objects, output=jobmod.output_pattern(folder), tracker=group["tracker"].value(),
        model=group["model"].value(), quality=group["quality"].value(), device=group["device"].value(),
        meta={"nuke_script": _script_path()})
    return job, {"offset": fmap.offset, "frames": frames, "folder": folder, "objects": objects,
                 "fmap": fmap if read is not None else None,
                 "source_range": (int(source.firstFrame()), int(source.lastFrame())),
                 "timing": jobmod.time_signature(source), "plate": jobmod.plate_signature(source),
                 "warnings": notes}


def _said(group, said):
    """The node's log (:func:`_log`), each line also kept in ``said``."""
    log = _log(group)

    def both(msg):
        said.append(str(msg))
        log(msg)
    return both


def _off_image(said):
    """The words added to "no shape, stroke or enabled track" when the gathering skipped track points that lie
    outside the image (a Tracker4 of a plate of another format, a track gone off screen): before, the node's status
    said only "inside the frame range", the reason in the Script Editor alone."""
    off = [m for m in said if m.endswith("lies outside the image; skipped")]
    if not off:
        return ""
    return ": every enabled track point there lies outside the image (%s%s)" % (
        off[0].replace("; skipped", ""), "; %d in all" % len(off) if len(off) > 1 else "")


def _custom_range_notes(group, source, frames):
    """A custom range's script frames outside the Source's own frames (its first / last), where Nuke shows a held
    (or looped) picture of the plate: every one of them FRAME_RANGE_INVALID (a range typed in the files' numbers,
    1001-1100, on a Read whose frame offset shows them as script frames 1-100: a hundred mattes of one held
    frame, before without a word); some: a warning, logged and returned for the node's status line."""
    if group["range_mode"].value() != "custom" or not group["custom_range"].value().strip():
        return []
    lo, hi = int(source.firstFrame()), int(source.lastFrame())
    outside = [t for t in frames if not lo <= t <= hi]
    if not outside:
        return []
    what = "the custom range's script frame(s) %s lie outside the Source's frames %d-%d" % (
        _frames_text(outside), lo, hi)
    if len(outside) == len(frames):
        from samatte.errors import FrameRangeError
        raise FrameRangeError("%s: Nuke shows only a held picture of the plate there. The range is in the "
                              "script's frames as the timeline shows them, not the files' numbers (a Read's frame "
                              "offset or start at numbers them apart): choose frames within %d-%d"
                              % (what, lo, hi), frames=_frames_text(outside))
    text = ("%s: Nuke shows a held (or looped) picture of the plate there and it is matted as such; the range is in "
            "script frames, not the files' numbers" % what)
    _log(group)(text)
    return [text]


def _shown_frames(group, source, frames):
    """The script ``frames`` less those on which a Read upstream shows black or a checkerboard for a missing file
    (:func:`samatte_nuke.job.unfilled_frames`): nothing of the plate to matte there; the node's log names them
    and the read-back shows no matte there. Every frame so: FRAME_MISSING, naming the first."""
    holes = jobmod.unfilled_frames(source, frames)
    if not holes:
        return frames
    kept = [t for t in frames if t not in holes]
    t = min(holes)
    read, path = holes[t]
    what = "%s has no file for script frame %d (%s is missing%s) and its missing frames setting is '%s'" % (
        read.name(), t, path, "; %d frame(s) in all: %s" % (len(holes), _frames_text(holes)) if len(holes) > 1
        else "", read["on_error"].value())
    if not kept:
        from samatte.errors import MissingFrameError
        raise MissingFrameError("%s: Nuke shows no plate on any frame of the range; restore the files or choose "
                                "another frame range" % what)
    _log(group)("%s: Nuke shows no plate there, so those frames are not matted (no matte is shown on them); "
                "restore the file(s) and press Track & Matte to matte them" % what)
    return kept


def _refuse_erroring(source, frames, info):
    """FRAME_MISSING, before anything is rendered, for a Read upstream of a plate the node renders (Read -> Grade ->
    SAMatte) with no file for a frame of the range and its missing frames 'error' (:func:`samatte_nuke.job.
    erroring_frames`): Nuke's render of the plate stops there. Before, the plate was rendered up to that frame and the
    render's error came after."""
    if info["read"] is not None:   # (the Source Read used as it is: refused by source_info already)
        return
    holes = jobmod.erroring_frames(source, frames)
    if not holes:
        return
    from samatte.errors import MissingFrameError
    t = min(holes)
    read, path = holes[t]
    raise MissingFrameError(
        "%s, upstream of the Source, has no file for script frame %d (%s is missing%s), and its missing frames setting "
        "is 'error' (Nuke's render of the plate stops there): restore the file, set missing frames to black / nearest "
        "frame, or choose a custom frame range without it" % (
            read.name(), t, path, "; %d frame(s) in all: %s" % (len(holes), _frames_text(holes)) if len(holes) > 1
            else ""), frame=t, path=path)


def _script_frames(file_frames, offset):
    """The script frames the artist sees for a job's file frames (script = file + offset: a Read's
    ``offset`` / ``start at``), sorted: what the node's text shows, never the file numbers."""
    return sorted({int(f) + int(offset) for f in file_frames})


def _frames_text(script_frames):
    """A node's script frames as a short range text (``1-5``, ``1-9x2``)."""
    from samatte.frames import format_frames
    return format_frames(sorted(script_frames))


def _objects_text(objects, offset=0):
    """The 'objects' knob's text: each object, the script frames it is prompted on and those it is absent on
    (``hero (hero): 2 prompt(s) on 1003, 1010; absent 1020-1030``; before, the absent frames were not said)."""
    lines = []
    for ob in objects:
        fr = _script_frames((q["frame"] for q in ob["prompts"]), offset)
        if ob.get("masks"):
            lines.append("%s (%s): every frame, refine only" % (ob["name"], ob.get("host_name", ob["name"])))
            continue
        gone = absent_text(ob, offset)   # the script frames where every shape of it is hidden
        lines.append("%s (%s): %d prompt(s) on %s" % (ob["name"], ob.get("host_name", ob["name"]),
                                                      len(ob["prompts"]), ", ".join(str(f) for f in fr[:12])
                                                      + (" ..." if len(fr) > 12 else ""))
                     + ("; absent %s" % gone if gone else ""))
    return "\n".join(lines) or "(none)"


def _fail(group, code, message, *, popup=True):
    group["status"].setValue("error [%s] %s" % (code, message))
    if popup and nuke.GUI:
        nuke.message("SAMatte %s: [%s] %s" % (group.name(), code, message))


def _runner(group):
    """The job runner of this node: by its uid (a node deleted while its job runs, or one of another
    script, may leave a runner under a name a new node now has; a node renamed while its job runs keeps
    it)."""
    uid = group["samatte_uid"].value()
    r = RUNNERS.get(group.fullName())
    if r is not None and getattr(r, "node_uid", None) == uid and r.is_alive():
        return r
    mine = [x for x in RUNNERS.values() if getattr(x, "node_uid", None) == uid]
    return next((x for x in mine if x.is_alive()), None) or (r if r in mine else (mine[-1] if mine else None))


def _node_of(name, uid):
    """The node a job's events go to: the node called ``name`` when it has ``uid`` (or ``uid`` is None),
    else the SAMatte node with ``uid`` under another name (renamed while its job ran), else None (it was
    deleted, or the script closed). Looked up from the script's top, whatever Group context the event comes in
    (before: a relative name and the current Group's nodes only: a job's events while the artist worked inside
    another Group found no node, took it for deleted and cancelled the job)."""
    group = script_node(name)
    if uid is None:
        return group
    if group is not None and group.knob("samatte_uid") is not None and group["samatte_uid"].value() == uid:
        return group
    for n in nuke.allNodes(recurseGroups=True, group=nuke.root()):
        k = n.knob("samatte_uid")
        if k is not None and k.value() == uid:
            return n
    return None


def _busy(group):
    r = _runner(group)
    return r is not None and r.is_alive()


def _script_label(info):
    """File number -> the script frame the artist sees it on (as :func:`_in_script_terms`)."""
    fmap = info.get("fmap")

    def label(f):
        return fmap.to_script(int(f)) if fmap is not None else int(f) + int(info.get("offset") or 0)
    return label


def _start(group, job, info, *, stage, frames, title):
    if _busy(group):
        try:
            _startable(group)
        except SamatteError as e:
            _fail(group, e.code, e.message)
            return None
    try:
        python = config.samatte_python(group["samatte_python"].value())
    except SamatteError as e:
        _fail(group, e.code, e.message)
        return None
    name = group.fullName()
    uid = group["samatte_uid"].value()
    scores = {} if stage == "all" and frames is None else _scores(group)
    warnings = list((info or {}).get("warnings") or [])   # the build's (a custom range past the plate, ...)

    def on_event(kind, *payload):
        if kind == "log" and payload and isinstance(payload[0], dict) and payload[0].get("message"):
            # a worker log line names file numbers: the script frames added (the node's line and the panels)
            payload = (dict(payload[0], message=_in_script_terms(
                "LOG", str(payload[0]["message"]), None, info)),) + tuple(payload[1:])
        if kind == "failed" and len(payload) == 2:
            payload = (payload[0], _in_script_terms(payload[0], payload[1],
                                                    getattr(runner, "error_details", None), info))
            n = getattr(runner, "written", 0)
            if n or payload[0] == "CANCELLED":
                # what the artist keeps of a job cancelled or failed midway (a worker killed, out of memory); before:
                # "[CANCELLED] job cancelled", nothing on the frames it had finished
                payload = (payload[0], "%s; %s" % (payload[1], (
                    "the %d frame(s) it finished are kept: Track & Matte resumes from them" % n) if n else
                    "no frame was finished by it (frames made before are kept)"))
        _on_event(name, kind, payload, job, info, scores, uid=uid, warnings=warnings,
                  kept=getattr(runner, "written", 0) if kind == "failed" else 0)

    runner = JobRunner(nuke, title=title, job=job, python=python, stage=stage, frames=frames, on_event=on_event,
                       frame_label=_script_label(info))
    runner.node_uid = uid
    runner.scores = scores   # this job's scores so far (filled in the main thread): a panel opened mid-job
    RUNNERS[name] = runner
    group["status"].setValue("running (%s)" % stage)
    _tell_started(name, job, info, stage)
    runner.start()
    return runner


def _tell_started(name, job, info, stage):
    """Tell the panels (:data:`LISTENERS`) a job of the node ``name`` starts: its objects, its frames (file numbers)
    and the script offset, kind ``started``. Before, a panel showed the frames of the node's last finished job (none
    before the first): the bars of the frames a job finished, and its low scores in red, appeared only once it had
    ended (a Track & Matte of 200 frames showed an empty score strip all along)."""
    try:
        from samatte.frames import parse_frames
        frames = parse_frames(job["plate"]["frames"])
    except Exception:  # noqa: BLE001 - not a whole JobSpec (a test's stand-in): nothing to tell
        return
    payload = {"stage": stage, "frames": frames, "offset": int((info or {}).get("offset") or 0),
               "objects": list(job.get("objects") or [])}
    for fn in list(LISTENERS):
        try:
            fn(name, "started", (payload,))
        except Exception:  # noqa: BLE001 - a broken panel must not break the node
            pass


def _in_script_terms(code, message, details, info):
    """A worker error as the node says it. The worker names file numbers: an error about frames (its
    ``details`` ``frame`` or ``frames``, e.g. FRAME_CORRUPT, FRAME_MISSING) gets the script frames added,
    " (script frame 3)", where they differ (as Blender adds the scene frame). TRACK_MISSING (Matte this frame
    needs the stored track) is said in script frames with the node's button; the worker's own words name file
    numbers and ``run --stage track`` (before: "the stored track of 4 frame(s) is missing or stale: 1002-1005
    (work dir ...); run --stage track first" on script frames 2-5). A worker log line (``code`` "LOG", no
    details) gets the script frames after each frame number its words name (after 'frame' / 'frames', 'temporal
    reference', 'keyed one': "frame 1004 (script frame 4): the tracker's temporal reference 1003 (script frame
    3) ..."); other numbers (counts, sizes, values) are left as they are. Before, file numbers only."""
    if code == "LOG":
        return _frames_in_text(message, info)
    details = details or {}
    raw = details.get("frames") if details.get("frames") not in (None, "") else details.get("frame")
    if raw is None or raw == "":
        return message
    from samatte.frames import parse_frames
    try:
        files = parse_frames(str(raw))
    except Exception:  # noqa: BLE001 - a message we cannot read is shown as the worker wrote it
        return message
    fmap = info.get("fmap")
    shown = sorted({fmap.to_script(f) if fmap is not None else int(f) + int(info.get("offset") or 0)
                    for f in files})
    if code != "TRACK_MISSING" or not details.get("frames"):
        if not shown or shown == sorted(int(f) for f in files):
            return message
        return "%s (script frame%s %s)" % (message, "" if len(shown) == 1 else "s", _frames_text(shown))
    shared = message.partition("; the work dir was last used by")   # (jobs sharing a cache: kept as said)
    return ("the stored track of frame%s %s is missing or out of date (never tracked, or the roto, tracks, plate or "
            "settings changed since): click Track & Matte first%s" % ("" if len(shown) == 1 else "s",
                                                                      _frames_text(shown), shared[1] + shared[2]))


#: a frame number (or range list) in a worker's log words, after the words that name one
_FRAME_WORDS = re.compile(r"\b(frames?|temporal reference|keyed one) (\d+(?:-\d+(?:x\d+)?)?(?:, ?\d+(?:-\d+(?:x\d+)?)?)*)"
                          r"(?![\d.])")


def _frames_in_text(message, info):
    """:func:`_in_script_terms` of a log line: each frame number its words name followed by its script frames
    where they differ."""
    from samatte.frames import parse_frames
    fmap = info.get("fmap")

    def add(m):
        try:
            files = parse_frames(m.group(2).replace(" ", ""))
        except Exception:  # noqa: BLE001 - not a frame list after all: as written
            return m.group(0)
        shown = sorted({fmap.to_script(f) if fmap is not None else int(f) + int(info.get("offset") or 0)
                        for f in files})
        if not shown or shown == sorted(int(f) for f in files):
            return m.group(0)
        return "%s (script frame%s %s)" % (m.group(0), "" if len(shown) == 1 else "s", _frames_text(shown))
    return _FRAME_WORDS.sub(add, message)


def _scores(group):
    try:
        return farm.stored_scores(group)
    except ValueError:
        return {}


def _on_event(name, kind, payload, job, info, scores, *, uid=None, warnings=None, kept=0):
    """Main thread: the runner's events. ``uid``: the node's when the job started; a node of that name
    with another uid (the job's node was deleted, or the script closed) is not told. ``warnings``: the
    job's logged warnings so far (printed as they come, counted on the status line when it ends).
    ``kept``: with ``failed``, the frames the job wrote before it stopped (a cancel, a dead worker)."""
    group = _node_of(name, uid)
    if group is None and uid is not None and kind not in ("done", "failed"):
        # the job's node was deleted (or its script closed) while the job runs: stop it between frames
        # (before: it ran to its end, writing a cache nobody reads and keeping the shared worker busy)
        for r in list(RUNNERS.values()):
            if getattr(r, "node_uid", None) == uid and r.is_alive():
                r.cancel()
    if group is None and script_node(name) is not None:
        return   # another node has that name now (the job's node was deleted): it is not told
    try:
        if group is not None:
            name = group.fullName()   # (renamed while the job ran)
            _update_node(group, kind, payload, job, info, scores, warnings, kept=kept)
    finally:
        # the panels are told once the node holds the event's outcome (a finished job's objects, scores)
        for fn in list(LISTENERS):
            try:
                fn(name, kind, payload)
            except Exception:  # noqa: BLE001 - a broken panel must not break the node
                pass


def _update_node(group, kind, payload, job, info, scores, warnings, *, kept=0):
    if kind == "progress":
        p = payload[0]
        r = _runner(group)
        if p.get("cancelling") or (r is not None and getattr(r, "cancelling", False)):
            # (before: the progress still reported until the worker stopped put "running: matte 52%" back)
            group["status"].setValue("cancelling...")
            return
        group["status"].setValue("running: %s %d%%%s" % (p.get("stage") or "", int(100 * (p.get("fraction") or 0)),
                                                         ", " + p["time_left"] if p.get("time_left") else ""))
    elif kind == "log":
        ev = payload[0]
        _log(group)("%s: %s" % (ev.get("level"), ev.get("message")))
        if warnings is not None:
            warnings.append(str(ev.get("message") or ""))
    elif kind == "frame":
        ev = payload[0]
        if ev.get("score") is not None and ev.get("frame") is not None:
            scores[int(ev["frame"])] = float(ev["score"])
    elif kind == "done":
        result = payload[0] or {}
        for f, s in (result.get("scores") or {}).items():
            if s is not None:   # null: a frame with no score (as the frame events); was a TypeError
                scores[int(f)] = float(s)
        _show_result(group, job, info, scores, result, warnings=warnings)
    elif kind == "failed":
        code, message = payload
        if kept:
            # the frames the job finished before it stopped are complete and current: read them back as after a
            # success, the others show as unfinished (before: a cancelled first Track & Matte left the node with no
            # matte at all, its read-back set up only when a job succeeded)
            try:
                _point_read(group, job, info)
                group["samatte_scores"].setValue(farm.encode_state({str(k): v for k, v in sorted(scores.items())}))
            except Exception as e:  # noqa: BLE001 - the job's own error is what the artist must read
                _log(group)("the frames the job finished are not read back: %s: %s" % (type(e).__name__, e))
        _fail(group, code, message)


def _point_read(group, job, info):
    """Store the job and point the internal Read at its cache, frame-aligned with the Source (main
    thread). The Read's file knob checks every frame's key when it is read (farm-safe). The job also goes
    to ``<folder>/job.json``, the file a stale frame's message tells to ``samatte run``."""
    group["samatte_job"].setValue(farm.encode_state(job))
    try:
        farm.export(job, info["folder"])
    except SamatteError as e:   # an unwritable cache: the result still shows; the message says so
        _log(group)("cannot write %s: %s" % (os.path.join(info["folder"], "job.json"), e.message))
    group["samatte_offset"].setValue(int(info["offset"]))
    # which frames the Source showed where when the job was built (farm.frame_path refuses a rendered plate's
    # mattes once that changes)
    timing = group.knob("samatte_timing")
    if timing is None:   # a node made by an older samatte
        timing = nuke.String_Knob("samatte_timing", "timing", "")
        group.addKnob(timing)
        timing.setVisible(False)
    timing.setValue(info["timing"] if "timing" in info else jobmod.time_signature(jobmod.source_node(group)))
    # which plate files the Source showed when the job was built (farm.frame_path refuses a rendered plate's
    # mattes once a Read upstream reads other files)
    plate = group.knob("samatte_plate")
    if plate is None:   # a node made by an older samatte
        plate = nuke.String_Knob("samatte_plate", "plate", "")
        group.addKnob(plate)
        plate.setVisible(False)
    plate.setValue(farm.encode_state(info["plate"] if "plate" in info else jobmod.plate_signature(jobmod.source_node(group))))
    read = _inner(group, "samatte_cache_read")
    frames = info["frames"]
    read["file"].setValue(READ_EXPR)
    # the Read's own range spans every script frame the Source shows a picture of (its file knob,
    # farm.frame_path, decides each frame's matte): with the job's span alone Nuke held the end frame's
    # matte past it wherever the file knob is evaluated. A Source Read used directly lends its range and
    # before / after (loop, bounce, black outside it: the same files, so their mattes); else hold.
    lo, hi = int(min(frames)), int(max(frames))
    before = after = "hold"
    fmap = info.get("fmap")
    rng = fmap.script_range() if fmap is not None else None
    if rng is not None:
        lo, hi = rng
        before, after = fmap.before, fmap.after
    elif info.get("source_range"):
        lo, hi = min(lo, info["source_range"][0]), max(hi, info["source_range"][1])
    read["first"].setValue(lo)
    read["last"].setValue(hi)
    for name, mode in (("before", before), ("after", after)):
        if read.knob(name) is not None:
            read[name].setValue(mode)
    read["frame_mode"].setValue("offset")
    read["frame"].setValue("0")  # the file knob maps script frames to file numbers itself
    _inner(group, "samatte_copy")["disable"].setValue(False)
    rk = read.knob("reload")
    if rk is not None:
        rk.execute()


def _show_result(group, job, info, scores, result, *, warnings=None):
    _point_read(group, job, info)
    group["samatte_scores"].setValue(farm.encode_state({str(k): v for k, v in sorted(scores.items())}))
    # scores are keyed by file frame; the artist reads script frames (a Read with an offset / start at)
    low = _script_frames((f for f, s in scores.items() if s < 0.5), info["offset"])
    group["status"].setValue("done: %d frame(s) written, %d reused%s%s" % (
        len(result.get("written") or []), len(result.get("skipped") or []),
        ("; low score on %s" % ", ".join(str(f) for f in low[:10])) if low else "",
        ("; %d warning(s), first: %s" % (len(warnings), warnings[0])) if warnings else ""))


# --- buttons (main thread) ------------------------------------------------------------------------
def _build_or_fail(group, *, popup=True, render=True, check=None):
    """``build(group)``, or ``(None, None)`` after reporting its error on the node."""
    try:
        return build(group, render=render, check=check)
    except SamatteError as e:
        _fail(group, e.code, e.message, popup=popup)
        return None, None


def _startable(group):
    """What :func:`_start` refuses, asked by Track & Matte and Matte this frame in the build's ``check`` (after the
    job's own checks, before anything is rendered): a job running on the node (BUSY) and no samatte Python to run one
    (WORKER_FAILED); raises them. Before, Track & Matte rendered the whole plate into the cache (a Source behind a
    Grade; refine only's masks) and only then said the samatte python knob names no interpreter, or that a job already
    runs (after rendering the plate of a changed graph)."""
    if _busy(group):
        from samatte.errors import BusyError
        if getattr(_runner(group), "cancelling", False):
            # (before: "Cancel it first" to an artist who had: the job stops between a frame's phases)
            raise BusyError("the job you cancelled on this node is still stopping (between a frame's phases): press "
                            "again in a moment")
        raise BusyError("a job is already running on this node (Cancel it first)")
    config.samatte_python(group["samatte_python"].value())


def on_refresh(group):
    """The objects knob's text from the prompts as they are now; nothing is rendered (the plate of a Source behind
    a Grade, refine only's masks: before, Refresh objects rendered them all into the cache, a Write over every frame,
    and failed OUTPUT_INVALID in a folder it cannot write)."""
    job, info = _build_or_fail(group, popup=False, render=False)
    if job is None:
        return None
    group["objects_info"].setValue(_objects_text(info["objects"], info["offset"]))
    return job


def on_track(group):
    job, info = _build_or_fail(group, check=lambda info: _startable(group))
    if job is None:
        return None
    group["objects_info"].setValue(_objects_text(info["objects"], info["offset"]))
    return _start(group, job, info, stage="all", frames=None, title="SAMatte %s: track & matte" % group.name())


def on_matte_frame(group):
    """Re-run matting on the current frame from the stored track (stage "matte"); no re-tracking. A frame outside
    the node's range (or one with no plate) is refused before anything is rendered (before: after the whole plate of
    a Source behind a Grade was rendered into the cache)."""
    t = int(nuke.frame())
    job, info = _build_or_fail(group, check=lambda info: (_frame_file(group, info, t), _startable(group)))
    if job is None:
        return None
    return _start(group, job, info, stage="matte", frames=str(_frame_file(group, info, t)),
                  title="SAMatte %s: matte frame %d" % (group.name(), t))


def _frame_file(group, info, t):
    """The plate file (its number) the Source shows on script frame ``t``, one of the job's (a Read looping or
    bouncing past its last frame shows one of the job's files again), as the node's read-back maps it
    (farm.shown_file); raises FRAME_MISSING (no plate there) or FRAME_RANGE_INVALID (outside the node's range)."""
    fmap = info.get("fmap")
    f = fmap.shown(t) if fmap is not None else (t - info["offset"] if t in info["frames"] else None)
    files = set(fmap.files(info["frames"])) if fmap is not None else {g - info["offset"] for g in info["frames"]}
    if f is not None and f in files:
        return f
    from samatte.errors import FrameRangeError, MissingFrameError
    hole = jobmod.unfilled_frames(jobmod.source_node(group), [t]).get(t)
    if hole is not None:   # (before: "outside the node's range", on a frame inside it)
        raise MissingFrameError("frame %d has no plate to matte: %s has no file there (%s) and its missing frames "
                                "setting is '%s'" % (t, hole[0].name(), hole[1], hole[0]["on_error"].value()))
    raise FrameRangeError("frame %d is outside the node's range" % t)


def on_cancel(group):
    r = _runner(group)
    if r is not None and r.is_alive():
        r.cancel()
        group["status"].setValue("cancelling...")


def on_clear_cache(group):
    """Delete the node's cache folder (not while a job runs)."""
    if _busy(group):
        _fail(group, "BUSY", "cancel the running job before clearing the cache")
        return
    import shutil
    source = jobmod.source_node(group)
    with jobmod.full_size(nuke.root()):   # (the Read's full-size file, as build names the plate)
        try:
            read = jobmod.untouched_read(source) if source is not None else None
        except SamatteError:
            read = None
        # another script's folder (this node was copied from it, and has not run here yet): not deleted
        try:
            folder = _own_folder(group, source, read)
        except SamatteError as e:   # a cache folder knob of another OS that nothing maps here: nothing deleted
            _fail(group, e.code, e.message)
            return
    if os.path.isdir(folder):
        try:
            shutil.rmtree(folder)
        except OSError as e:
            # a file in it open elsewhere (a farm render or another Nuke reading the mattes: NFS keeps a .nfs file
            # and the folder is not empty; Windows refuses to delete an open file), or no permission on a shared
            # cache: said on the node, which keeps its read-back (frames deleted already say missing there, and
            # Track & Matte remakes them). Before, the OSError went up as it was: a traceback, the status untold
            _fail(group, "OUTPUT_INVALID", "Clear cache could not delete all of %s: %s%s (a file in it open in another "
                  "program or render, or no permission): close what reads it and press Clear cache again; frames "
                  "deleted already are remade by Track & Matte" % (
                      folder, e.strerror or e, " (%s)" % e.filename if getattr(e, "filename", None) else ""))
            return
    group["samatte_job"].setValue("")
    group["samatte_scores"].setValue("")
    _inner(group, "samatte_copy")["disable"].setValue(True)
    group["status"].setValue("cache cleared")


def on_release(group):
    try:
        py = config.samatte_python(group["samatte_python"].value())
    except WorkerError:
        py = None
    try:
        n = POOL.release(py)
    except SamatteError as e:   # BUSY: a job runs in that worker; it goes on
        _fail(group, e.code, e.message)
        return
    group["status"].setValue("GPU released (%d worker(s))" % n)


def on_export(group):
    """Write the node's JobSpec next to its cache (farm: ``samatte run job.json`` before the comp)."""
    job, info = _build_or_fail(group)
    if job is None:
        return None
    try:
        path = farm.export(job, info["folder"])
    except SamatteError as e:   # a cache folder this machine cannot write (before: a Python traceback, no status)
        _fail(group, e.code, e.message)
        return None
    _point_read(group, job, info)   # the comp render reads what the farm's `samatte run` writes
    msg = "exported %s" % path
    try:
        python = config.samatte_python(group["samatte_python"].value())
    except SamatteError:
        python = None
    if python:
        ok, text = farm.export_openjd(python, path, os.path.join(info["folder"], "openjd"))
        msg += ("; farm template %s" % os.path.join(info["folder"], "openjd")) if ok else \
            ("; no farm template (%s)" % (text.splitlines()[-1] if text else "samatte farm export failed"))
    group["status"].setValue(msg)
    return path


def on_panel(group):
    from . import panel
    return panel.show_for(group)
