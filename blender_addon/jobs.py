"""The job logic as plain functions (no bpy): build a JobSpec, start it in a worker, poll it, cancel,
release. The modal operator calls these from a timer; tests call them directly (in bpy as a module
``INVOKE_DEFAULT`` runs ``execute()`` and timers never fire).

Nothing here touches Blender data: the operator gathers everything on the main thread first
(:mod:`.gather`), and applies results on the main thread after :func:`JobRun.poll` says done.
"""
import os
import re
import threading

from . import link
from .hosterrors import HostError

__all__ = ["Settings", "build_job", "output_pattern", "output_dir_of", "JobRun", "get_worker", "release_worker",
           "check_worker", "worker_env", "export_farm", "farm_paths", "host_hint", "panel_chars", "panel_lines"]

_WORKERS = {}
#: the most CPU threads the worker takes (``samatte.threads.MAX_THREADS``; more is JOBSPEC_INVALID and the worker
#: refuses to start). The Preferences' CPU threads stops there (props.py), but Preferences saved by an older add-on
#: (no maximum) may hold more: :class:`Settings` clamps what it reads.
MAX_THREADS = 1024
#: worker key -> :class:`_Starter` of a worker being started off the main thread (a Run's)
_STARTING = {}


class Settings:
    """What a run needs besides the prompts (plain values, from preferences and the panel)."""

    def __init__(self, *, python, models_dir="", device="auto", tracker="auto", matte="auto",
                 quality="default", every_frame=False, output_dir="", ocio_config=None, timeout=600,
                 name=None, threads=0):
        self.python = python
        self.models_dir = models_dir or ""
        self.device = device or "auto"
        self.tracker = "shapes" if every_frame and tracker in ("auto", "") else (tracker or "auto")
        self.matte = matte or "auto"
        self.quality = quality or "default"
        self.every_frame = bool(every_frame)
        self.output_dir = output_dir
        self.ocio_config = ocio_config
        self.timeout = timeout
        self.name = name
        #: the worker's CPU threads (``SAMATTE_THREADS``): 0 leaves samatte's default (every CPU Blender may use,
        #: or ``$SAMATTE_THREADS`` / ``$OMP_NUM_THREADS`` as Blender was started with); fewer leave cores to Blender
        self.threads = min(MAX_THREADS, max(0, int(threads or 0)))


def _safe_file_part(text):
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-") or "clip"


def clip_base(info):
    """A file-safe base name for a clip: the plate pattern's name without frame number and extension
    (``plate.####.exr`` -> ``plate``), else the clip's name."""
    name = os.path.basename(info.pattern or "") or info.name
    name = os.path.splitext(name)[0].replace("#", "")
    return _safe_file_part(name or info.name)


def output_pattern(output_dir, info):
    """``<output_dir>/<clip>/<clip>_matte.####.exr`` with the plate's padding."""
    pad = max(4, info.pattern.count("#")) if info.pattern else 4
    base = clip_base(info)
    return os.path.join(os.path.abspath(output_dir), base, "%s_matte.%s.exr" % (base, "#" * pad))


def output_dir_of(pattern, info):
    """The Output folder whose :func:`output_pattern` for clip ``info`` is ``pattern`` (a matte sequence, e.g. the
    one a scene's compositor shows), or None when no Output folder makes it: mattes of other plate files (the
    clip's source was replaced by a sequence with another name since they were made)."""
    pattern = os.path.normpath(pattern)
    folder = os.path.dirname(os.path.dirname(pattern))
    return folder if os.path.normpath(output_pattern(folder, info)) == pattern else None


def build_job(info, objects, settings, *, frames, output=None):
    """A validated JobSpec dict. ``info``: :class:`gather.ClipInfo`; ``objects``: from
    :func:`gather.merge_objects`; ``frames``: the job's file numbers (a list)."""
    link.ensure_samatte(settings.python)
    from samatte import frames as sframes
    from samatte import jobspec
    from samatte.errors import SamatteError
    if not objects:
        raise HostError("PROMPT_INVALID", "no prompts: draw a closed mask shape (a layer per object) or "
                        "select tracking tracks in clip %r" % info.name)
    if not frames:
        raise HostError("FRAME_RANGE_INVALID", "no frames of clip %r in the chosen range" % info.name)
    name = settings.name or clip_base(info)
    job = jobspec.new_job(info.pattern, output or output_pattern(settings.output_dir, info),
                          frames=sframes.format_frames(sorted(frames)), colourspace=info.colourspace or None,
                          layer=getattr(info, "layer", None) or None,
                          ocio_config=settings.ocio_config or None, name=name, tracker=settings.tracker,
                          matte=settings.matte, quality=settings.quality, device=settings.device)
    supported = _object_fields()
    if "keep_other_plates" in supported:
        # the output is named after the plate's file name (output_pattern): another clip's plate of the same file
        # names (sh010/ and sh020/plate.####.exr) lands on the same files, whose frames samatte then keeps
        job["output"]["keep_other_plates"] = True
    for ob in objects:
        entry = {"name": ob["name"], "prompts": [dict(p) for p in ob["prompts"]]}
        if "host_name" in supported and ob.get("host_name") is not None:
            entry["host_name"] = ob["host_name"]
        gone = sorted(set(ob.get("absent") or ()) & set(frames))
        if gone:   # the frames where all of its layers draw nothing (gather.gather_mask_objects)
            if "absent" not in supported:
                raise HostError("JOBSPEC_INVALID", "layer %r is hidden on some frames, and this samatte cannot say "
                                "'absent' in a job: update samatte" % ob.get("host_name", ob["name"]))
            entry["absent"] = sframes.format_frames(gone)
        job["objects"].append(entry)
    off = off_picture(job, info)
    if off is not None:
        raise HostError("PROMPT_INVALID", off)
    try:
        return jobspec.validate(job)
    except SamatteError as e:
        if (getattr(e, "details", None) or {}).get("field") == "output.path" and output is None:
            # the Output folder's path has a frame token ('#' in 'job #12', the .blend's folder with a // Output):
            # say which setting to change (before: Send to farm wrote a bundle whose every task failed so)
            raise HostError(e.code, "the samatte panel's Output folder (%s; a // one lies in the .blend's folder): %s"
                            % (settings.output_dir, e.message))
        raise HostError(e.code, e.message + prompt_note(job, e.message, (getattr(e, "details", None) or {}).get("field"),
                                                        info))


_PROMPT_AT = re.compile(r"objects\[(\d+)\]\.prompts\[(\d+)\]")


def off_picture(job, info):
    """The error of the first closed shape of ``job`` that lies entirely off the clip's picture (its points and
    handles, whose hull holds the curve, all beyond one edge of the ``info.size`` frame at ``info.origin``): the
    worker refuses such a prompt, so a Run failed only once the worker had the job, and Send to farm exported a
    bundle whose every task failed so (Check mattes said 'Run to update the others'). None when there is none."""
    w, h = info.size
    ox, oy = getattr(info, "origin", (0.0, 0.0))
    for i, ob in enumerate(job.get("objects") or ()):
        for j, p in enumerate(ob.get("prompts") or ()):
            if p.get("type") not in ("bezier", "polygon") or p.get("closed") is False or not p.get("points"):
                continue
            xs = [c - ox for q in p["points"] for c in q[0::2]]
            ys = [c - oy for q in p["points"] for c in q[1::2]]
            if max(xs) <= 0 or max(ys) <= 0 or min(xs) >= w or min(ys) >= h:
                field = "objects[%d].prompts[%d]" % (i, j)
                msg = "%s prompt lies entirely outside the canvas (%dx%d) (at %s)" % (p["type"], w, h, field)
                return msg + prompt_note(job, msg, field, info)
    return None


def prompt_note(job, message, field, info):
    """What a JobSpec error about a prompt (``field``: ``objects[0].prompts[1].points``) is in Blender's words: ``":
    mask layer 'hero' on scene frame 3"`` (the object's layer, a layer cutting it, or its tracks, and the scene frame of the
    prompt's file number, ``info.scene_frame``), and for a shape with no area there what to do; "" for another
    field. Before, the artist read only ``bezier prompt has zero area (at objects[0].prompts[1].points)``: a roto
    scaled to nothing on a key (to drop the object there) failed the Run with nothing to say which layer or frame."""
    m = _PROMPT_AT.match(field or "")
    if m is None:
        return ""
    try:
        ob = job["objects"][int(m.group(1))]
        prompt = ob["prompts"][int(m.group(2))]
        frame = info.scene_frame(int(prompt["frame"]))
        shape = prompt.get("type") != "points"
        name = ob.get("host_name") or ob["name"]
        what = ("track points of object %r" % name if not shape else
                "a shape cutting object %r (a Subtract / Darken layer after it, or a hole)" % name
                if prompt.get("mode") == "subtract" else "mask layer %r" % name)
        where = ": %s on scene frame %d" % (what, frame)
    except (IndexError, KeyError, TypeError, ValueError):
        return ""
    if shape and "outside the canvas" in (message or ""):
        where += (" (its shape there lies off the clip's picture; move it onto the picture, or, where the object has "
                  "left the frame, key the layer's Hide in render there: its object is then absent)")
    if shape and "zero area" in (message or ""):
        where += (" (its shape there is collapsed onto a point or a straight line, which Blender draws as nothing; "
                  "samatte needs an object's shape to have an area: to leave the object out of frames, key the "
                  "layer's Hide in render on them instead, its object is then absent there)")
    return where


class _SceneFrames:
    """What :func:`prompt_note` needs of a clip's info: ``scene_frame(file number)``."""

    def __init__(self, scene_frame):
        self.scene_frame = scene_frame


def _object_fields():
    """Optional object fields this samatte's JobSpec accepts (older ones reject ``host_name``, ``absent``), and
    ``keep_other_plates`` when it accepts ``output.keep_other_plates``."""
    from samatte import jobspec
    out = set()
    for field, value in (("host_name", "a"), ("absent", "2")):
        probe = {"samatte_job": 1, "plate": {"path": "/p.####.exr", "frames": "1-2"}, "output": {"path": "/o.####.exr"},
                 "objects": [{"name": "a", field: value, "prompts": [
                     {"frame": 1, "type": "box", "box": [0, 0, 1, 1]}]}]}
        try:
            jobspec.validate(probe)
            out.add(field)
        except Exception:  # noqa: BLE001 - a JobSpecError: the field is unknown there
            pass
    try:
        jobspec.validate({"samatte_job": 1, "plate": {"path": "/p.####.exr", "frames": "1-2"},
                          "output": {"path": "/o.####.exr", "keep_other_plates": True},
                          "objects": [{"name": "a", "prompts": [{"frame": 1, "type": "box", "box": [0, 0, 1, 1]}]}]})
        out.add("keep_other_plates")
    except Exception:  # noqa: BLE001 - a JobSpecError: the field is unknown there
        pass
    return out


def worker_env(settings):
    env = {}
    if settings.models_dir:
        env["SAMATTE_MODELS"] = os.path.abspath(os.path.expanduser(settings.models_dir))
    if getattr(settings, "threads", 0):
        env["SAMATTE_THREADS"] = str(min(MAX_THREADS, int(settings.threads)))
    return env


def _process_env(settings):
    """The environment for samatte's own Python: Blender's without PYTHONPATH / PYTHONHOME, plus
    :func:`worker_env`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(worker_env(settings))
    return env


def _key(settings):
    python = os.path.abspath(os.path.expanduser(settings.python))   # as link.samatte_root resolves it
    # a changed models folder or thread count starts a new worker (the count is set when it starts)
    return (python, settings.models_dir, getattr(settings, "threads", 0))


class _Starter:
    """A worker being started in a thread (``WorkerClient`` waits for its hello: seconds of imports, up to its
    start-up timeout on a cold machine), so that Blender's main thread never waits for it. The thread only makes
    the client; :func:`_adopt` (main thread) puts it among the warm workers."""

    def __init__(self, key, make):
        self.key = key
        self.worker = None
        self.error = None
        self.dropped = False     # released while starting: the thread ends the worker it gets
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, args=(make,), name="samatte-worker-start", daemon=True)
        self.thread.start()

    def _run(self, make):
        try:
            w = make()
        except Exception as e:  # noqa: BLE001 - WorkerError and friends: the Run reports it
            self.error = HostError(getattr(e, "code", "WORKER_FAILED"), getattr(e, "message", str(e)))
            return
        with self._lock:
            if not self.dropped:
                self.worker = w
                return
        w.close(timeout=5)

    def ready(self):
        return not self.thread.is_alive()

    def drop(self):
        """Released while starting (Release samatte, the add-on disabled): the worker is ended, now or when it
        has started."""
        with self._lock:
            self.dropped = True
            w, self.worker = self.worker, None
        if w is not None:
            w.close(timeout=5)


def _adopt(key=None):
    """Move the workers started in threads that have started (or failed) into the warm ones (main thread)."""
    for k in [k for k, st in _STARTING.items() if (key is None or k == key) and st.ready()]:
        st = _STARTING.pop(k)
        if st.worker is not None:
            _WORKERS[k] = st.worker
            _end_others(k[0], k)


def start_worker(settings):
    """The warm worker for ``settings`` if it is running, else a :class:`_Starter` making it in a thread (the one
    already under way for these settings, if any). Never waits for a worker's hello."""
    client = link.client_module(settings.python)
    key = _key(settings)
    _adopt(key)
    w = _WORKERS.get(key)
    if w is not None and w.alive():
        _end_others(key[0], key)
        return w
    st = _STARTING.get(key)
    if st is None:
        env, timeout = _process_env(settings), settings.timeout
        st = _STARTING[key] = _Starter(key, lambda: client.WorkerClient(key[0], env=env, timeout=timeout))
    return st


def get_worker(settings, *, start=True):
    """The warm worker for ``settings.python`` (started on first use; restarted if it died)."""
    client = link.client_module(settings.python)
    key = _key(settings)
    python = key[0]
    st = _STARTING.get(key)
    if st is not None and start:
        st.thread.join()     # a Run's worker still starting (Check samatte, Check mattes): that one
    _adopt(key)
    w = _WORKERS.get(key)
    if w is not None and w.alive():
        _end_others(python, key)
        return w
    if not start:
        return None
    try:
        w = client.WorkerClient(python, env=_process_env(settings), timeout=settings.timeout)
    except Exception as e:  # noqa: BLE001 - WorkerError and friends: shown to the user
        raise HostError(getattr(e, "code", "WORKER_FAILED"), getattr(e, "message", str(e)))
    _WORKERS[key] = w
    _end_others(python, key)
    return w


def _running(w):
    """Whether worker client ``w`` is running a job now (its JobRun has not seen it end)."""
    try:
        return w.alive() and getattr(w, "_job", None) is not None
    except Exception:  # noqa: BLE001 - a client that cannot say: taken for idle
        return False


def _end_others(python, key):
    """End the workers of ``python`` started with other settings than ``key`` (models folder, CPU threads), except
    one still running a job: it is ended once that job is over (a later call, or Release samatte). Before, Check
    samatte after the CPU threads preference changed during a Run ended the Run's worker: the Run failed."""
    for old in [k for k in _WORKERS if k[0] == python and k != key]:
        if not _running(_WORKERS[old]):
            _WORKERS.pop(old).close(timeout=5)


def release_worker(python=None):
    """End the worker(s): frees their memory and GPU. Returns how many were running. One still starting is ended
    when it has started."""
    n = 0
    for key in list(_STARTING):
        if python is None or key[0] == os.path.abspath(python):
            _STARTING.pop(key).drop()
    for key in list(_WORKERS):
        if python is None or key[0] == os.path.abspath(python):
            w = _WORKERS.pop(key)
            if w.alive():
                n += 1
            try:
                if hasattr(w, "release") and w.alive():
                    w.release()
            except Exception:  # noqa: BLE001 - it is being ended anyway
                pass
            w.close(timeout=5)
    return n


def check_worker(settings):
    """Start the worker and return its hello (dict) summarised as lines for the preferences."""
    w = get_worker(settings)
    hello = w.hello or {}
    caps = hello.get("capabilities") or {}
    models = caps.get("models") or {}
    found = sorted(k for k, v in models.items() if v)
    picked = link.picked_by(settings.python)
    lines = ["samatte %s, Python %s, protocol %s, worker pid %s" % (
        hello.get("samatte"), hello.get("python"), hello.get("protocol"), hello.get("pid")),
        "devices: %s" % ", ".join(caps.get("devices") or ["?"]),
        "trackers: %s; mattes: %s" % (", ".join(caps.get("trackers") or []), ", ".join(caps.get("mattes") or [])),
        "models found: %s" % (", ".join(found) if found else "none (weights-free backends: flow + refine)"),
        "CPU threads: %s" % ("%d (Preferences)" % settings.threads if getattr(settings, "threads", 0) else
                             "samatte's default (every CPU; Preferences > CPU threads leaves some to Blender)"),
        "samatte Python %s%s" % (settings.python, " (from %s)" % picked if picked else "")]
    missing = caps.get("missing") or []
    if missing:
        # the worker starts without them (it imports them per job), so Run would fail on its first frame
        raise HostError("DEPENDENCY_MISSING", "samatte's Python %s cannot find %s: its install is incomplete "
                        "(Run would fail); run install/install.sh, or pip install samatte's requirements "
                        "into that Python" % (settings.python, ", ".join(missing)))
    return hello, lines


def scene_frame_note(error, scene_frame):
    """``" (scene frame 11)"`` for a worker error about a frame (its ``details["frame"]``: a file number,
    which its message names, if at all, by the file), ``" (scene frames 12-15)"`` for one about several
    (``details["frames"]``, a range text of file numbers: TRACK_MISSING, FRAME_MISSING of several plate or
    mask files), when the scene frames differ; else ``""``. Before, ``frames`` got no scene frames."""
    details = getattr(error, "details", None) or {}
    raw = details.get("frames") if details.get("frames") not in (None, "") else details.get("frame")
    if raw is None or raw == "":
        return ""
    try:
        from samatte.frames import format_frames, parse_frames
        files = parse_frames(raw if isinstance(raw, (int, list)) else str(raw))
        shown = sorted({int(scene_frame(int(f))) for f in files})
    except Exception:  # noqa: BLE001 - a detail we cannot read (or no samatte): the message as the worker wrote it
        return ""
    if not shown or shown == sorted(int(f) for f in files):
        return ""
    return " (scene frame%s %s)" % ("" if len(shown) == 1 else "s", format_frames(shown))


def _shell_word(path):
    """``path`` as one word of a command typed in a terminal: quoted when it holds a space or a character a shell reads
    (``C:\\Users\\Jane Doe\\...``, ``/Volumes/Studio Tools/...``: unquoted, the pasted command ran ``C:\\Users\\Jane``)."""
    if path and re.search(r"[^\w@%+=:,./\\~-]", path):
        path = os.path.expanduser(path)   # (a quoted ~ is not the home folder)
        if os.name == "nt":
            return '"%s"' % path
        return "'%s'" % path.replace("'", "'\"'\"'")
    return path


def host_hint(error, python=None):
    """What an artist does in Blender about a worker error whose own advice names what Blender does not show
    (``""`` for the others): OUT_OF_MEMORY says "give the task more memory, run fewer tasks at once on the node,
    or lower the tracker option ram_mb" (a farm's words; the panel has no ram_mb); a MODEL_ERROR for weights
    this user may not read says "set SAMATTE_MODELS", which the add-on's Models folder preference sets."""
    code = getattr(error, "code", None)
    details = getattr(error, "details", None) or {}
    if code == "OUT_OF_MEMORY":
        return ("; in Blender: Release samatte (ends the worker, freeing its memory), close what else uses the "
                "memory%s, then Run again: finished frames are kept" % (
                    " (a render or viewport on the same GPU), or pick Device CPU in the add-on's preferences"
                    if "GPU" in (getattr(error, "message", "") or "") else ""))
    if code == "OUTPUT_INVALID" and "made from another plate" in (getattr(error, "message", "") or ""):
        # two clips whose files share a name (sh010/plate.####.exr, sh020/plate.####.exr) share an output
        return "; in Blender: set another Output folder in the samatte panel for this clip (e.g. //samatte_<shot>/)"
    if code == "MODEL_ERROR" and details.get("reason") == "unreadable":
        return "; in Blender: the Models folder of the add-on's preferences sets SAMATTE_MODELS"
    if code == "WEIGHTS_MISSING":
        # the Tracker SAM 2 (or Matte SAM 2 matte) picked without its weights: samatte's advice is a shell's ('python
        # -m samatte.models download ...', 'set SAMATTE_MODELS', 'give matte.options.checkpoint'), none of it a
        # setting Blender shows; before, nothing said which Python, nor that the add-on's Models folder is the place
        model = details.get("model") or ""
        wanted = details.get("file") or ("%s.pt" % model if model else "the weights")
        steps = []
        if details.get("command") and python:
            steps.append("download them with %s in a terminal (samatte's Python)" % str(details["command"]).replace(
                "python ", "%s " % _shell_word(python), 1))
        steps.append("set the Models folder in the add-on's preferences (Edit > Preferences > Add-ons > samatte) to "
                     "the folder that holds %s" % wanted)
        return "; in Blender: %s; or pick a weights-free backend in the samatte panel (Tracker Flow, Matte Refine)" % (
            ", or ".join(steps))
    return ""


def _time_left():
    """A ``samatte.progress.TimeLeft`` (samatte is importable once a job is built), or None where this samatte has
    none (an older install: the status line without the time left)."""
    try:
        from samatte.progress import TimeLeft
    except ImportError:
        return None
    return TimeLeft()


class JobRun:
    """One job in a worker, driven by :meth:`poll` from the UI thread.

    State after each poll: ``fraction`` (0..1), ``status`` (a line for the status bar), ``scores``
    (file frame -> score), ``written`` / ``skipped`` counts, ``done``, ``result`` (dict) or ``error``
    (``"[CODE] message"``) with ``error_code``.

    ``scene_frame``: file number -> the frame the artist sees it on (:meth:`gather.ClipInfo.scene_frame`):
    ``status`` and ``error`` name that frame, never the worker's file number alone (a clip whose Start Frame
    is not its first file's number showed 'frame 1003' on scene frame 13). The job, the protocol and
    ``scores`` stay in file numbers.
    """

    def __init__(self, job, settings, *, frames=None, stage=None, scene_frame=None):
        self.job = job
        self.scene_frame = scene_frame or (lambda n: n)
        self.settings = settings
        self.frames = frames
        self.stage = stage
        self.handle = None
        self.fraction = 0.0
        self.status = "starting"
        self.scores = {}
        self.written = 0
        self.skipped = 0
        self.done = False
        self.result = None
        self.error = None
        self.error_code = None
        self.cancelled = False
        self.worker_ended = False
        self.cancel_sent = False   # Cancel pressed; the job stops between a frame's phases
        self.time_left = _time_left()   # the status line's time left in the running stage (None: samatte too old)
        self._starter = None   # the worker being started in a thread (start(background=True))

    def start(self, *, background=False):
        """Send the job to the warm worker, starting one first if none is running. ``background``: never wait for
        a worker to start (the Run operator, on Blender's main thread: a worker's start-up imports take seconds,
        up to its hello timeout on a cold machine, and Blender froze, Esc unheard): it starts in a thread, ``status``
        says so, :meth:`poll` sends the job once it is up, :meth:`cancel` before that ends the run at once (no job
        sent). Without it (scripts, tests), this waits for the worker."""
        if not background:
            self._send(get_worker(self.settings))
            return self
        got = start_worker(self.settings)
        if isinstance(got, _Starter):
            self._starter = got
            self.status = "samatte: starting the worker (Esc cancels)"
        else:
            self._send(got)
        return self

    def _send(self, w):
        kwargs = {}
        if self.frames is not None:
            kwargs["frames"] = self.frames
        if self.stage is not None:
            kwargs["stage"] = self.stage
        try:
            self.handle = w.start_job(self.job, **kwargs)
        except TypeError:
            raise HostError("WORKER_FAILED", "this samatte is too old for %s (update samatte)" % (
                "a frame subset" if self.frames is not None else "stages"))
        except Exception as e:  # noqa: BLE001 - WorkerError (dead worker, busy)
            raise HostError(getattr(e, "code", "WORKER_FAILED"), getattr(e, "message", str(e)))
        self.status = "job %s sent" % self.handle.id

    def _fail(self, code, message):
        """End the run with error ``[code] message`` (a worker that failed to start, a job it refused)."""
        self.done = True
        self.error_code = code
        self.cancelled = code == "CANCELLED"
        self.error = "[%s] %s" % (code, message)
        self.status = "samatte: cancelled" if self.cancelled else "samatte: failed " + self.error

    def _started(self):
        """The worker of a background start is up (or failed): send the job (main thread)."""
        st, self._starter = self._starter, None
        _adopt(st.key)
        if st.error is not None:
            self._fail(st.error.code, st.error.message)
        elif st.worker is None:     # released while it started (Release samatte)
            self._fail("CANCELLED", "the samatte worker was released while it started")
        else:
            try:
                self._send(st.worker)
            except HostError as e:
                self._fail(e.code, e.message)

    def poll(self):
        """Drain the worker's messages (never blocks). Returns the list of events handled."""
        if self._starter is not None and not self.done:
            if not self._starter.ready():
                return []
            self._started()
        if self.done or self.handle is None:
            return []
        events = self.handle.poll()
        for ev in events:
            t = ev.get("type")
            if t == "progress":
                self._on_progress(ev)
            elif t == "frame":
                self._on_frame(ev)
        if self.handle.done:
            self._finish()
        return events

    def _on_progress(self, ev):
        if self.cancel_sent:   # (before: the progress still reported until the worker stopped replaced it)
            self.status = "samatte: cancelling"
            return
        total = ev.get("total") or 0
        frac = ev.get("fraction")
        if frac is None and total:
            frac = float(ev.get("done") or 0) / total
        if frac is not None:
            self.fraction = max(0.0, min(1.0, float(frac)))
        where = (" frame %s" % self._scene(ev["frame"])) if ev.get("frame") is not None else ""
        left = ""
        if self.time_left is not None:   # (before: the stage and frame count, no time left)
            self.time_left.progress(ev.get("stage"), ev.get("done") or 0, total)
            left = self.time_left.text()
        self.status = "samatte: %s %s/%s%s%s" % (ev.get("stage"), ev.get("done"), total, where,
                                                  ", " + left if left else "")

    def _on_frame(self, ev):
        if self.time_left is not None:
            self.time_left.frame(ev.get("status"), ev.get("stage", "matte"))
        if ev.get("score") is not None:
            self.scores[int(ev["frame"])] = float(ev["score"])
        if ev.get("status") == "written":
            self.written += 1
        elif ev.get("status") == "skipped":
            self.skipped += 1

    def _finish(self):
        self.done = True
        if self.handle.error is not None:
            e = self.handle.error
            self.error_code = getattr(e, "code", "SAMATTE_ERROR")
            self.cancelled = self.error_code == "CANCELLED"
            # (a worker that did not stop after the cancel was ended: samatte.client.CANCEL_GRACE_S)
            self.worker_ended = bool((getattr(e, "details", None) or {}).get("worker_ended"))
            self.error = "[%s] %s" % (self.error_code, getattr(e, "message", str(e)))
            # a prompt the worker refuses (a shape off the plate on a frame) names the layer and the scene frame, as
            # build_job's errors do (a collapsed roto); before, only '(scene frame 11)' with 'objects[0].prompts[3]'
            details = getattr(e, "details", None) or {}
            note = prompt_note(self.job, getattr(e, "message", ""), details.get("field"), _SceneFrames(self._scene))
            self.error += (note or scene_frame_note(e, self._scene)) + host_hint(e, getattr(self.settings, "python",
                                                                                           None))
            self.status = "samatte: cancelled" if self.cancelled else "samatte: failed " + self.error
            return
        self.result = dict(self.handle.result or {})
        for k, v in (self.result.get("scores") or {}).items():
            if v is not None:   # null: a frame with no score (as _on_frame); before, a TypeError traceback
                self.scores[int(k)] = float(v)
        self.written = len(self.result.get("written") or []) or self.written
        self.skipped = len(self.result.get("skipped") or []) or self.skipped
        self.fraction = 1.0
        self.status = "samatte: done, %d written, %d reused" % (self.written, self.skipped)

    def ended_text(self):
        """The panel's Last result (and the report) of a job that did not finish: ``cancelled`` or its error, and
        what the artist keeps, the frames it wrote before it stopped (a worker killed, out of memory, Cancel):
        ``cancelled; 3 frames it finished are kept: Run resumes from them``. Before: ``cancelled (finished frames
        kept)`` whether it had finished any or not, and nothing after an error."""
        n = self.written
        kept = ("%d frame%s it finished %s kept: Run resumes from them" % (n, "" if n == 1 else "s",
                                                                         "is" if n == 1 else "are")) if n else \
            "no frame was finished by it (frames made before are kept)"
        if self.cancelled:
            return "cancelled%s; %s" % (" (the worker did not stop in time and was ended: the next Run starts a new "
                                        "one)" if self.worker_ended else "", kept)
        return (self.error or "") + ("; " + kept if n else "")

    def _scene(self, file_number):
        """The scene frame of a worker's file number (as given when it is not one)."""
        try:
            return self.scene_frame(int(file_number))
        except (TypeError, ValueError):
            return file_number

    def cancel(self):
        """Ask the worker to stop between frames (no half-written frame: outputs are atomic). While the worker is
        still starting, the run ends now, no job sent (the worker, once up, is kept warm for the next Run:
        Release samatte ends it)."""
        if self._starter is not None and not self.done:
            self._starter = None
            self._fail("CANCELLED", "cancelled while the samatte worker was starting: no job was sent")
            return
        if self.handle is not None and not self.done:
            self.handle.cancel()
            self.cancel_sent = True
            self.status = "samatte: cancelling"

    def wait(self, timeout=600, tick=0.05):
        """Poll until done (tests and blocking callers)."""
        import time
        end = time.monotonic() + timeout
        while not self.done and time.monotonic() < end:
            self.poll()
            time.sleep(tick)
        return self


# --- send to farm --------------------------------------------------------------------------------

#: a frame token as samatte reads one in a path (``samatte.io.sequence``): '#' runs, '@' runs, %0Nd / %d, $FN / $F
_FRAME_TOKEN = re.compile(r"#+|(?<![^\W_])(?<!@)@+|@+(?![^\W_])(?!@)|%0?\d*d|\$F\d*(?![A-Za-z_])")


def farm_paths(job):
    """``(job file, bundle folder)`` beside the job's output: ``<output folder>/<name>.samatte.json``
    and ``<output folder>/<name>_openjd/``. For an output written one folder per frame (``renders/####/m.exr``,
    a script's ``output=``) the output folder is the folder above the frame folders (``renders/``), as samatte's
    farm export takes it for the Output root; before, the job and the bundle went into a folder named ``####``."""
    path = os.path.abspath(job["output"]["path"])
    folder = os.path.dirname(path)
    tokens = list(_FRAME_TOKEN.finditer(path))
    if len(tokens) == 1 and tokens[0].start() < len(folder):
        folder = os.path.dirname(path[:tokens[0].start()])
    name = _safe_file_part(job.get("name") or "samatte")
    return os.path.join(folder, "%s.samatte.json" % name), os.path.join(folder, "%s_openjd" % name)


def export_farm(job, settings, *, bundle=None, chunk=10, timeout=300):
    """Send to farm: save ``job`` (atomic) and run ``samatte farm export JOB --openjd BUNDLE --chunk N
    --json`` in samatte's own Python (``settings.python``; the farm's template: track, matte in chunks,
    QC; auto backends resolved there). Returns the export's result dict (``bundle``, ``template``,
    ``steps``, ``parameters``, ``job_file``...). Raises HostError with samatte's code on failure."""
    import json
    import subprocess
    job_file, default_bundle = farm_paths(job)
    bundle = os.path.abspath(bundle or default_bundle)
    try:
        os.makedirs(os.path.dirname(job_file), exist_ok=True)
        tmp = "%s.%d.tmp" % (job_file, os.getpid())
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(job, f, indent=2, sort_keys=True)
        os.replace(tmp, job_file)
    except OSError as e:
        raise HostError("OUTPUT_INVALID", "cannot write the job file %s: %s" % (job_file, e))
    cmd = [settings.python, "-m", "samatte", "farm", "export", job_file, "--openjd", bundle,
           "--chunk", str(int(chunk)), "--json"]
    if settings.models_dir:
        cmd += ["--models-dir", os.path.abspath(os.path.expanduser(settings.models_dir))]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_process_env(settings),
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HostError("WORKER_FAILED", "samatte farm export could not run (%s): %s" % (settings.python, e))
    err = out.stderr.decode("utf-8", "replace").strip()
    if out.returncode != 0:
        m = re.search(r"\[([A-Z_]+)\]\s*(.*)", err)
        if m:
            raise HostError(m.group(1), m.group(2).strip())
        raise HostError("WORKER_FAILED", "samatte farm export failed (exit %d): %s" % (out.returncode, err[-500:]))
    try:
        res = json.loads(out.stdout.decode("utf-8"))
    except ValueError:
        raise HostError("WORKER_FAILED", "samatte farm export printed no result: %s" % err[-500:])
    res["job_file"] = job_file
    return res


# --- the panel's text ----------------------------------------------------------------------------

#: the width of an average character of Blender's UI font at UI scale 1, in pixels (a little wide: a line never
#: runs past the panel's edge), and the panel's margins
_CHAR_PX = 7.0
_MARGIN_PX = 40


def panel_chars(region_width, ui_scale=1.0):
    """How many characters fit on one label of a sidebar ``region_width`` pixels wide; None when the width is not
    known (a script, Blender as a module: labels are not wrapped)."""
    try:
        width = float(region_width)
    except (TypeError, ValueError):
        return None
    if width <= 0:
        return None
    return max(16, int((width - _MARGIN_PX) / (_CHAR_PX * float(ui_scale or 1.0))))


def panel_lines(text, chars=None):
    """The labels that show ``text`` (its own lines too) in a panel ``chars`` characters wide (:func:`panel_chars`):
    each line wrapped at spaces (a path longer than the panel broken inside), continuation lines indented. A Blender
    label is one line clipped at the panel's edge, so a Run's error ('[OUTPUT_INVALID] clip ... would overwrite the
    mattes of clip ... : set another Output folder ...'), the status line's time left and Check mattes' advice were
    cut to their first ~40 characters: what to do was never seen in the panel. ``chars`` None: one label a line."""
    import textwrap
    out = []
    for line in (text or "").splitlines():
        if chars is None or len(line) <= chars:
            out.append(line)
            continue
        out.extend(textwrap.wrap(line, width=chars, subsequent_indent="  ", break_long_words=True,
                                 break_on_hyphens=False) or [""])
    return out
