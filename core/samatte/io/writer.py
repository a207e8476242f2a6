"""MatteWriter: the output EXR frames — atomic, resumable, readable as layers in Nuke and Blender.

One single-part scanline EXR per frame, half float, ``zip`` compression by default (``zips``,
``dwaa``, ``dwab``, ``piz``, ``rle``, ``pxr24``, ``b44``, ``none`` as options), with the plate's data
window, display window and pixel aspect. Channels::

    R, G, B        foreground colour, scene-linear, premultiplied by A  (optional)
    A              the merged matte of all objects
    <object>.A     one layer per object, e.g. hero.A, car.A              (optional)
    quality.Y      per-pixel doubt in [0, 1], 0 = confident              (optional)

Why ``<object>.A`` (one dot): OpenEXR's layer convention is ``layer.channel``.

* Nuke splits a channel name at its last dot into layer and channel and shows ``R/G/B/A`` of any
  layer as ``red/green/blue/alpha``: the file shows layers ``rgba``, ``hero`` (``hero.alpha``), ...,
  and ``quality``; a Shuffle picks an object's matte by layer name. Names with more than one dot
  (``samatte.hero.A``) are not Nuke's ``layer.channel`` form and get mangled into one layer name.
* Blender (``imb_exr_split_channel_name`` in ``openexr_api.cpp``) reads the last token as the
  channel, the token before it as the *pass* and anything before that as the *layer*; a file with any
  dotted channel is opened as multilayer. So ``hero.A`` is pass ``hero`` (one channel, shown as a
  float/grey pass) of the unnamed layer, and the plain ``R,G,B,A`` are its ``Combined`` pass: in the
  Image editor and the compositor's Image node each object is one selectable pass/socket.
  ``layer.pass.channel`` (``samatte.hero.A``) would suit Blender alone.

Object names are JobSpec names (``[A-Za-z_][A-Za-z0-9_]*``, never ``quality``/``rgba``/``R``...), so
channel names cannot clash.

Metadata (EXR string attributes, shown by Nuke as ``exr/samatte/...``): ``samatte/version``,
``samatte/frame``, ``samatte/objects``, ``samatte/score``, ``samatte/object_scores`` (JSON: object name ->
its score on the frame; an object with no score there, one absent on the frame, is left out: the
``<name>.score`` entries of the frame's stats), plus every entry of ``metadata`` (keys
without a ``/`` get the ``samatte/`` prefix: ``job``, ``job_hash``, ``tracker``, ``matte``, ...).

Atomic: each frame is written to ``.<name>.<host>.<pid>.<random>.tmp.exr`` in the output folder
(``<name>`` shortened, with a hash of the full name, when the temp name would pass 255 bytes) and
renamed over the final name with :func:`os.replace` once its last scanline reads back (a disk that
fills up mid-frame is an error, not a truncated frame; with ``write(claim=...)``, as the pipeline writes, a
free name is taken with a hard link instead, no-clobber: :func:`_place`); a killed job leaves whole frames and, at worst,
hidden temp files. A writer removes only temp files that are its own (a write that fails; not other
temps of this process, where another job may be writing), those of a process of this host that is gone (POSIX only: ``os.kill(pid, 0)`` is no liveness test on
Windows), and abandoned ones older than ``temp_max_age`` seconds (default 3600, environment
``SAMATTE_TEMP_MAX_AGE``): never another machine's frame in flight on a shared folder. (No fsync: a
rename is atomic against the process dying, not against the machine losing power.)

Byte-identical re-runs: the files carry no time stamp (OpenImageIO's ``DateTime`` header is
suppressed), so the same job on the same machine writes the same bytes.

Resume: :meth:`MatteWriter.is_complete` is True when the frame's file is a readable EXR of the
expected windows with an ``A`` channel, written by samatte with the frame's cache key
(``samatte/key``, see :mod:`samatte.cachekey`; or the same ``job_hash`` for older callers) and the
same objects and each object's ``<name>.A`` layer (when the job writes them), whose last scanline
reads; a re-run skips those. ``overwrite=True`` never skips.
:meth:`MatteWriter.file_status` tells ``"missing"``, ``"complete"``, ``"stale"`` (a samatte frame of
this job, other key) or ``"foreign"`` (anything else: never replaced without ``overwrite``).
"""
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import sys
import time
import uuid

import numpy as np

from .. import __version__
from ..errors import JobSpecError, OutputError
from ..names import missing_object_layers, object_channel
from ..stages import MatteFrame, PlateInfo
from .sequence import as_pattern

__all__ = ["MatteWriter", "COMPRESSIONS", "QUALITY_CHANNEL", "object_channel", "job_hash", "temp_name",
           "host_tag", "TEMP_MAX_AGE", "is_locked", "locked_error", "sticky_owner", "sticky_error"]

log = logging.getLogger("samatte.io")

from ..registry import COMPRESSIONS  # noqa: E402 - one list (samatte.registry)
#: the channel holding the quality (doubt) map
QUALITY_CHANNEL = "quality.Y"
_TMP_RX = re.compile(r"^\.(?P<base>.+?)(?:\.(?P<host>[A-Za-z0-9-]+))?\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp\.exr$")
#: temp files older than this (seconds) are abandoned whoever wrote them
TEMP_MAX_AGE = 3600.0
_NAME_MAX = 255


def _pid_namespace():
    """The PID namespace of this process (Linux: ``pid:[inode]``), or "" where there is none to read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except (OSError, AttributeError):
        return ""


def default_temp_max_age():
    """Seconds after which another process's temp file counts as abandoned: ``$SAMATTE_TEMP_MAX_AGE``
    (a number > 0; ``inf``: never by age) or, unset or empty, :data:`TEMP_MAX_AGE`. Any other value is
    JOBSPEC_INVALID naming the variable: ``abc`` was the default without a word, and ``0`` or a negative
    age made every temp in the folder abandoned, another machine's frame in flight too (its write
    then failed)."""
    raw = os.environ.get("SAMATTE_TEMP_MAX_AGE", "")
    if not raw.strip():
        return TEMP_MAX_AGE
    try:
        v = float(raw)
    except ValueError:
        v = float("nan")
    if not v > 0:
        raise JobSpecError("SAMATTE_TEMP_MAX_AGE must be a number of seconds > 0 after which another "
                           "process's temp file counts as abandoned (inf: never by age; unset: %d), not %r"
                           % (TEMP_MAX_AGE, raw), field="SAMATTE_TEMP_MAX_AGE")
    return v


def _temp_files(folder, rx, now):
    """(path, name match, age in seconds at ``now``) of each file in ``folder`` whose name ``rx`` matches, in
    name order; one that cannot be listed or stat'ed is left out (the folder: none)."""
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return
    for n in names:
        m = rx.match(n)
        if not m:
            continue
        p = os.path.join(folder, n)
        try:
            age = now - os.stat(p).st_mtime
        except OSError:
            continue
        yield p, m, age


def remove_temps(folder, rx, max_age, *, own=True):
    """Remove the temp files in ``folder`` whose names match ``rx`` (groups ``host`` and ``pid``) that
    are abandoned: older than ``max_age`` seconds, or of a dead process of this host, or (``own``)
    of this process; never a live or recent temp of another machine. Returns how many went."""
    me, removed = host_tag(), 0
    for p, m, age in _temp_files(folder, rx, time.time()):
        pid = int(m.group("pid"))
        mine = m.group("host") == me and (pid != os.getpid() and not _pid_alive(pid) or own and pid == os.getpid())
        if age > max_age or mine:
            try:
                if os.path.isdir(p) and not os.path.islink(p):   # a temporary folder (flow spills)
                    shutil.rmtree(p)
                else:
                    os.remove(p)
                removed += 1
            except OSError:
                pass
    return removed


def leftover_temps(folder, max_age=None, *, now=None):
    """The output writer's temp files in ``folder`` (a frame being written, or one a killed or pre-empted writer
    left), for ``qc`` and ``status`` to report; nothing is removed. Each: ``{"path", "host", "pid", "age_s",
    "abandoned", "note"}``; ``abandoned``: a later run's writer in that folder removes it (of a dead process of
    this host, or older than ``max_age``, default :func:`default_temp_max_age`); else it may be a write in flight.
    A temp dated in the future (its writer's clock ahead) is not removed by age until that time has passed."""
    max_age = default_temp_max_age() if max_age is None else float(max_age)
    me, out = host_tag(), []
    for p, m, age in _temp_files(folder, _TMP_RX, time.time() if now is None else now):
        host, pid = m.group("host") or "", int(m.group("pid"))
        dead = host == me and pid != os.getpid() and not _pid_alive(pid)
        abandoned = dead or age > max_age
        if abandoned:
            note = "a later samatte run writing to this folder removes it"
        elif age < 0:
            note = ("dated %s in the future (its writer's clock runs ahead): kept while it may be a write in flight; "
                    "a later run removes it %s after that time, or remove it by hand when no job writes here"
                    % (_age_text(-age), _age_text(max_age)))
        else:
            note = ("may be a frame being written (%s); a later run removes it once it is %s old"
                    % ("a live process of this machine" if host == me else "another machine's", _age_text(max_age)))
        out.append({"path": p, "host": host or None, "pid": pid, "age_s": round(age, 1), "abandoned": abandoned,
                    "note": note})
    return out


def _age_text(s):
    s = abs(float(s))
    if s == float("inf"):
        return "never"
    return "%.0f s" % s if s < 120 else "%.0f min" % (s / 60) if s < 7200 else "%.1f h" % (s / 3600)


def host_tag():
    """This machine's name as it appears in temp file names ([A-Za-z0-9-], at most 32): the start of
    the host name and a hash of the whole name and of the PID namespace. Its pids are only comparable
    with its own: farm pods whose names share their first 32 characters, or containers that share the
    host's name (host networking) but not its pids, get distinct tags, so no writer takes another's
    live temp for its own or for a dead process's."""
    name = socket.gethostname()
    short = "".join(c for c in name if c.isalnum() and c.isascii() or c == "-")[:23] or "host"
    digest = hashlib.sha256(("%s\0%s" % (name, _pid_namespace())).encode("utf-8", "surrogateescape"))
    return "%s-%s" % (short, digest.hexdigest()[:8])


def is_locked(path):
    """True when ``path`` is a file that nobody may write: no write bit at all (``chmod a-w``, 0444; on
    Windows the read-only attribute). A studio locks approved frames that way; a rename replaces such a
    file all the same on POSIX (only the folder's permissions count), so samatte asks before it does.
    A file that only other users may write (another artist's 0644 frame in a group folder) is not
    locked."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222


def _may_override_sticky():
    """Whether this process may replace another user's file in a sticky folder: CAP_FOWNER in its effective
    capabilities (Linux), else being root."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 3))   # CAP_FOWNER
    except (OSError, ValueError, IndexError):
        pass
    return hasattr(os, "geteuid") and os.geteuid() == 0


def sticky_owner(path):
    """The uid of the file at ``path`` when this process may not replace it because its folder has the sticky
    bit (a shared scratch folder, mode 1777 like /tmp) and neither the file nor the folder is this user's
    (POSIX: only they, or a process with CAP_FOWNER, may rename over it); else None."""
    if not hasattr(os, "geteuid"):
        return None
    try:
        st = os.lstat(path)
        dst = os.stat(os.path.dirname(os.path.abspath(path)))
    except (OSError, ValueError):
        return None
    me = os.geteuid()
    if not dst.st_mode & stat.S_ISVTX or me in (st.st_uid, dst.st_uid) or _may_override_sticky():
        return None
    return st.st_uid


def sticky_error(path, uid, frame=None):
    """The OutputError for a frame :func:`sticky_owner` says this process may not replace."""
    return OutputError("%s belongs to another user (uid %d) and its folder has the sticky bit: only they (or the "
                       "folder's owner) may replace or remove it; ask them to remove it, or choose another output "
                       "path" % (path, uid), path=str(path), frame=frame, owner=uid)


def locked_error(path, frame=None):
    """The OutputError for a locked (read-only) frame at ``path``."""
    return OutputError("%s is read-only (mode %04o): samatte does not replace a locked frame, not even with "
                       "--overwrite; make it writable (chmod u+w) to let the job redo it, or choose another "
                       "output path" % (path, stat.S_IMODE(os.lstat(path).st_mode)), path=str(path),
                       frame=frame)


def temp_name(path):
    """The temp file name (in the same folder) of an output file: ``.<name>.<host>.<pid>.<rand>.tmp.exr``,
    at most 255 bytes (a long name is cut and followed by ``~`` and a hash of the whole name)."""
    d, base = os.path.split(path)
    tail = ".%s.%d.%s.tmp.exr" % (host_tag(), os.getpid(), uuid.uuid4().hex[:8])
    from ..jobspec import fit_file_name
    base = fit_file_name(base, _NAME_MAX - 1 - len(tail.encode("utf-8")))
    return os.path.join(d, "." + base + tail)


def job_hash(job):
    """A short stable hash of what decides a job's output pixels (plate, frames' source, objects,
    tracker, matte, and the output's channel choices), for ``metadata={"job_hash": ...}``: a re-run
    of the same job resumes, a changed job rewrites. ``job`` is a validated JobSpec dict."""
    import hashlib
    out = dict(job.get("output") or {})
    out.pop("overwrite", None)
    out.pop("path", None)
    key = {k: job.get(k) for k in ("plate", "objects", "tracker", "matte")}
    key["output"] = out
    blob = json.dumps(key, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    if sys.platform.startswith("win"):
        return True  # no liveness test there: such temps go by age only
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _meta_key(k):
    k = str(k)
    return k if ("/" in k or ":" in k) else "samatte/" + k


def _meta_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return v
    try:
        return json.dumps(v, sort_keys=True)
    except (TypeError, ValueError):
        return str(v)


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return "?"


class MatteWriter:
    """Writes :class:`samatte.stages.MatteFrame` s as EXR frames (see the module docstring).

    ``MatteWriter(pattern, info, *, compression="zip", metadata=None, overwrite=False)``. Creates
    missing output folders; OutputError when the folder cannot be made or written.
    """

    def __init__(self, pattern, info, *, compression="zip", metadata=None, overwrite=False, temp_max_age=None,
                 prepare=True, object_layers=None):
        self.pattern = as_pattern(pattern)
        if not self.pattern.has_frame_token:
            raise OutputError("output path %r has no frame number token (use ####, %%04d, $F4 or @)"
                              % self.pattern.source, path=self.pattern.source)
        if not isinstance(info, PlateInfo):
            raise OutputError("MatteWriter needs the plate's PlateInfo, not %s" % type(info).__name__)
        comp = str(compression or "none").lower()
        if comp.split(":")[0] not in COMPRESSIONS:
            raise OutputError("unknown EXR compression %r (one of %s)" % (compression, ", ".join(COMPRESSIONS)),
                              compression=str(compression))
        self.info = info
        self.compression = comp
        self.overwrite = bool(overwrite)
        # True: a finished frame holds every object's ``<name>.A`` layer (the job's output.object_layers);
        # None (unknown): a frame holding some of its objects' layers must hold them all
        self.object_layers = None if object_layers is None else bool(object_layers)
        self.metadata = {_meta_key(k): _meta_value(v) for k, v in (metadata or {}).items()}
        self.metadata["samatte/version"] = __version__
        self.job_hash = self.metadata.get("samatte/job_hash")
        if temp_max_age is None:
            temp_max_age = default_temp_max_age()
        self.temp_max_age = float(temp_max_age)
        self._checked_dirs = set()
        self._swept = set()   # the folders whose abandoned temps this writer has removed
        if prepare:  # prepare=False: a read-only look (status), no side effects
            self.prepare()

    def prepare(self):
        """Make the output folder (when the pattern names one folder), OutputError when it is not writable, and
        remove the temps killed writers left there: what ``prepare=True`` does when the writer is made."""
        d = self.pattern.directory
        if d and "%" not in d:
            self._ensure_dir(d)
            self.remove_stale_temps(d)
            self._swept.add(d)

    # -- paths -----------------------------------------------------------------------------------
    def path(self, frame):
        return self.pattern.path(frame)

    def _ensure_dir(self, d):
        d = d or "."
        if d in self._checked_dirs:
            return
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise OutputError("cannot create the output folder %s: %s" % (d, e.strerror or e), path=d)
        if not os.path.isdir(d) or not os.access(d, os.W_OK | os.X_OK):
            raise OutputError("the output folder %s is not writable" % d, path=d)
        self._checked_dirs.add(d)

    def remove_stale_temps(self, d=None):
        """Remove temp files of dead processes of this host (POSIX), and any older than
        ``temp_max_age`` seconds; never a live or recent temp of another machine, nor one of this
        process (another job running in it, a thread of a TD's script, may have a frame in flight:
        a failed write removes its own temp)."""
        d = d if d is not None else (self.pattern.directory or ".")
        return remove_temps(d, _TMP_RX, self.temp_max_age, own=False)

    # -- resume ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _existing(self, frame):
        """The open ImageInput of frame's output file, or None when it is missing or unreadable."""
        path = self.path(frame)
        inp = None
        if os.path.isfile(path):
            import OpenImageIO as oiio
            inp = oiio.ImageInput.open(path)
            if inp is None:
                oiio.geterror()
        try:
            yield inp
        finally:
            if inp is not None:
                inp.close()

    def is_complete(self, frame, key=None, objects=None):
        """True when a finished frame of this job is already there (see the module docstring):
        ``key`` the frame's cache key (``samatte/key``), ``objects`` the job's object names."""
        if self.overwrite:
            return False
        return self.file_status(frame, key=key, objects=objects) == "complete"

    def file_status(self, frame, key=None, objects=None, job=None, plate=None):
        """``"missing"``, ``"complete"`` (see :meth:`is_complete`; whatever job name it carries: the name
        is not part of any key, so a renamed job's finished frames are still its own), ``"stale"`` (a
        samatte frame, written for the job named ``job`` when given, from the plate ``plate`` when given (see
        :func:`same_plate`), that is not complete) or ``"foreign"``."""
        return self.file_problem(frame, key=key, objects=objects, job=job, plate=plate)[0]

    def file_problem(self, frame, key=None, objects=None, job=None, plate=None):
        """``(status, why)``: :meth:`file_status`'s status and, when it is not ``"complete"``, what is
        wrong with the file in a few words (``"missing"``, ``"not written by samatte ..."``, ``"stale:
        ..."``, ``"truncated ..."``, ``"made from another plate (...)"``); ``why`` is None for a complete
        frame."""
        path = self.path(frame)
        if not os.path.lexists(path):
            return "missing", "missing"
        if not os.path.isfile(path):
            return "foreign", "not a file"
        with self._existing(frame) as inp:
            if inp is None:
                size = _size(path)
                return "foreign", ("an empty file" if size == 0 else
                                   "not an EXR samatte can open (%s bytes: another tool's file, or cut short)" % size)
            try:
                spec = inp.spec()
                if spec.getattribute("samatte/version") is None:
                    return "foreign", "not written by samatte (no samatte metadata)"
                why = self._incomplete(inp, key, objects)
                if why is None:
                    return "complete", None
                other = spec.getattribute("samatte/job")
                if job is not None and str(other) != str(job):
                    return "foreign", "written by another job (%r)" % other
                theirs = spec.getattribute("samatte/plate")
                if plate is not None and theirs is not None and not same_plate(str(theirs), str(plate)):
                    # two shots whose plates share a file name (sh010/plate.####.exr, sh020/plate.####.exr) and
                    # so a job name and output: before, the second silently re-matted over the first's frames
                    return "foreign", "made from another plate (%s)" % theirs
            except Exception as e:  # noqa: BLE001 - an unreadable header: not ours to replace
                return "foreign", "unreadable header (%s)" % e
            return "stale", why

    def _complete(self, inp, key=None, objects=None):
        """The checks of :meth:`is_complete` on the open file ``inp`` (one open per status query)."""
        return self._incomplete(inp, key, objects) is None

    def _incomplete(self, inp, key=None, objects=None):
        """Why the open samatte frame ``inp`` is not complete (see :meth:`is_complete`), or None."""
        try:
            spec = inp.spec()
            data, d = self.info.data, self.info.display
            if (spec.x, spec.y, spec.width, spec.height) != (data.x, data.y, data.width, data.height) or \
                    (spec.full_x, spec.full_y, spec.full_width, spec.full_height) != (d.x, d.y, d.width, d.height):
                return "wrong size: %dx%d at (%d, %d), the plate's is %dx%d at (%d, %d)" % (
                    spec.width, spec.height, spec.x, spec.y, data.width, data.height, data.x, data.y)
            if "A" not in spec.channelnames:
                return "no A channel"
            version = spec.getattribute("samatte/version")
            if version is None:
                return "not written by samatte (no samatte metadata)"
            if self.job_hash is not None and str(spec.getattribute("samatte/job_hash")) != str(self.job_hash):
                return "stale: written for other job settings"
            if key is not None and str(spec.getattribute("samatte/key")) != str(key):
                if str(version) != __version__:
                    return "stale: written by samatte %s (this is %s)" % (version, __version__)
                return "stale: cache key differs, written from other settings or input files"
            if objects is not None and str(spec.getattribute("samatte/objects") or "") != ",".join(objects):
                return "stale: written for objects %s (the job's: %s)" % (
                    spec.getattribute("samatte/objects") or "none", ",".join(objects) or "none")
            missing = self.missing_layers(spec, objects) if objects is not None else []
            if missing:
                return "missing layer(s) %s" % ", ".join(missing)
            last = inp.read_scanline(spec.y + spec.height - 1, 0, "float")
            if last is None:
                inp.geterror()
                return "truncated (its last scanline does not read)"
            return None
        except Exception as e:  # noqa: BLE001
            return "unreadable (%s)" % e

    def missing_layers(self, spec, objects):
        """The ``<name>.A`` channels of ``objects`` a frame's header (``spec``) lacks: all of them when the
        job writes object layers (``object_layers``), else (unknown) those missing beside some present. A
        frame whose layer was dropped after samatte wrote it (a tool rewriting the file with fewer
        channels) keeps its key, but a comp reading that object's layer gets nothing: not complete."""
        return missing_object_layers(spec.channelnames, objects, self.object_layers)

    def read_state(self, frame):
        """What a resumed job needs of a written frame, in one open and one read:
        ``({object name: float32 (H, W) alpha}, {object name: score})``. The alphas come from the
        ``<name>.A`` layers (when the frame was written without object layers and names one object,
        that object gets the merged ``A``), the scores from ``samatte/object_scores`` ({} when
        absent). Errors as for plates."""
        from .exr import open_image, read_channels
        path = self.path(frame)
        inp = open_image(path, frame=int(frame))
        try:
            spec = inp.spec()
            names = list(spec.channelnames)
            objects = [o for o in str(spec.getattribute("samatte/objects") or "").split(",") if o]
            out = {}
            for i, n in enumerate(names):
                if n.endswith(".A") and n != QUALITY_CHANNEL:
                    out[n[:-2]] = i
            if not out and len(objects) == 1 and "A" in names:
                out[objects[0]] = names.index("A")
            res = {}
            if out:
                px = read_channels(inp, path, 0, list(out.values()), int(frame))
                res = {name: np.ascontiguousarray(px[:, :, k]) for k, name in enumerate(out)}
            return res, _object_scores(spec)
        finally:
            inp.close()

    def read_alphas(self, frame):
        """The per-object alphas of a written frame (see :meth:`read_state`)."""
        return self.read_state(frame)[0]

    def read_object_scores(self, frame):
        """The per-object scores stored in a written frame (``samatte/object_scores``), or {}. An object of
        ``samatte/objects`` that is not a key has no score there (absent on that frame)."""
        with self._existing(frame) as inp:
            return {} if inp is None else _object_scores(inp.spec())

    def read_attribute(self, frame, name):
        """A metadata attribute of a written frame (a string, number or None)."""
        with self._existing(frame) as inp:
            if inp is None:
                return None
            try:
                return inp.spec().getattribute(name)
            except Exception:
                return None

    def read_score(self, frame):
        """The per-frame score stored in a written frame (``samatte/score``), or None."""
        with self._existing(frame) as inp:
            if inp is None:
                return None
            try:
                v = inp.spec().getattribute("samatte/score")
                return float(v) if v is not None else None
            except (TypeError, ValueError):
                return None

    # -- writing ---------------------------------------------------------------------------------
    def channels_for(self, mf, *, object_layers=True, foreground=True, quality_map=True):
        """The channel names a frame would be written with, in order."""
        ch = []
        if foreground and mf.foreground is not None:
            ch += ["R", "G", "B"]
        ch.append("A")
        if object_layers:
            ch += [object_channel(n) for n in mf.alphas]
        if quality_map and mf.quality is not None:
            ch.append(QUALITY_CHANNEL)
        return ch

    def write(self, mf, *, object_layers=True, foreground=True, quality_map=True, metadata=None, claim=None):
        """Write one frame atomically; return its path. ``metadata``: extra attributes of this frame
        (e.g. ``{"key": ..., "track_key": ...}``, prefixed like the writer's own). ``claim``: a callable
        asked just before the finished temp file takes the frame's name, that raises (OutputError) when
        the file now there must not be replaced (another job's frame); with it a free name is taken with
        a hard link, which fails when another writer (thread, process, machine) takes the name at the
        same time, so of two jobs on one output only one gets a frame and the other is asked again
        (:func:`_place`)."""
        if not isinstance(mf, MatteFrame):
            raise OutputError("MatteWriter.write needs a MatteFrame, not %s" % type(mf).__name__)
        shape = self.info.shape
        frame = int(mf.frame)

        def check(a, what, nd=2):
            a = np.asarray(a)
            want = shape if nd == 2 else shape + (3,)
            if a.shape != want:
                raise OutputError("frame %d: %s has shape %s, the plate's canvas is %s"
                                  % (frame, what, a.shape, want), frame=frame)
            return a

        chans = self.channels_for(mf, object_layers=object_layers, foreground=foreground, quality_map=quality_map)
        # The buffer is half float already: OpenImageIO writes it without a conversion pass, and each
        # channel is clipped while it is copied in (one pass over the data, no float32 staging copy).
        buf = np.empty(shape + (len(chans),), dtype=np.float16)
        k = 0
        if chans[0] == "R":
            fg = check(mf.foreground, "foreground", 3)
            with np.errstate(over="ignore", invalid="ignore"):
                np.copyto(buf[:, :, 0:3], fg, casting="same_kind")
            fgv = buf[:, :, 0:3]
            if not np.isfinite(np.add.reduce(fgv, axis=None, dtype=np.float32)):
                # NaN/inf in the foreground, or values beyond half's range: clamp, never write inf
                fgv[...] = np.nan_to_num(np.clip(np.asarray(fg, np.float32), -HALF_MAX, HALF_MAX),
                                         nan=0.0, posinf=0.0, neginf=0.0)
            k = 3
        _clip01_into(check(mf.alpha, "alpha"), buf[:, :, k])
        k += 1
        if object_layers:
            for name, a in mf.alphas.items():
                _clip01_into(check(a, "alpha of object %r" % name), buf[:, :, k])
                k += 1
        if chans[-1] == QUALITY_CHANNEL:
            _clip01_into(check(mf.quality, "quality map"), buf[:, :, k])
        meta = dict(self.metadata)
        meta["samatte/frame"] = frame
        meta["samatte/objects"] = ",".join(mf.alphas)
        meta["samatte/score"] = float(mf.score)
        obj_scores = {n: float(mf.stats[n + ".score"]) for n in mf.alphas
                      if isinstance(getattr(mf, "stats", None), dict) and n + ".score" in mf.stats}
        if obj_scores:
            meta["samatte/object_scores"] = json.dumps(obj_scores, sort_keys=True)
        for k, v in (metadata or {}).items():
            meta[_meta_key(k)] = _meta_value(v)
        path = self.path(frame)
        d = os.path.dirname(path)
        self._ensure_dir(d)
        if d and d not in self._swept:
            # a folder per frame (renders/####/m.exr): the frame's own folder is where a killed writer left its
            # temp; only the pattern's folder above them was swept, and `status` / `qc` said of such a temp "a
            # later samatte run writing to this folder removes it" while every later run left it there
            self._swept.add(d)
            self.remove_stale_temps(d)
        if is_locked(path):  # locked since the run began: checked again before the rename below
            raise locked_error(path, frame)
        tmp = temp_name(path)
        try:
            _write_exr(tmp, buf, chans, self.info, self.compression, meta)
            _check_whole(tmp)
            _place(tmp, path, claim)
        except BaseException as e:
            try:
                os.remove(tmp)
            except OSError:
                pass
            if not isinstance(e, Exception):
                raise
            if isinstance(e, OutputError) and e.details.get("path") != tmp:
                raise
            # the error names the frame and its final path, not the temp file just removed
            why = (e.message if isinstance(e, OutputError) else str(e)).replace(tmp, "its temporary file")
            raise OutputError("cannot write frame %d to %s: %s%s" % (frame, path, why, _free_space_note(d)),
                              path=path, frame=frame) from None
        return path

    def __repr__(self):
        return "MatteWriter(%r)" % self.pattern.source


HALF_MAX = 65504.0


def _clip01_into(src, dst):
    """dst[...] = clip(src, 0, 1) with NaN -> 0, converting to dst's dtype on the way."""
    src = np.asarray(src)
    if src.dtype == bool:
        np.copyto(dst, src, casting="unsafe")
        return
    # fmax/fmin ignore NaN (NaN -> the bound); the second call writes straight into the half buffer
    tmp = np.fmax(src, np.float32(0.0), dtype=np.float32)
    np.fmin(tmp, np.float32(1.0), out=dst, casting="same_kind")


def _object_scores(spec):
    try:
        v = spec.getattribute("samatte/object_scores")
        # a null (no score) is left out as a missing key is, not a reason to drop every object's score
        return {str(k): float(x) for k, x in json.loads(v).items() if x is not None} if v else {}
    except (TypeError, ValueError, AttributeError):
        return {}


def _free_space_note(folder):
    """``" (the disk holding <folder> is full)"`` when its file system has (almost) no room left, else "":
    a full disk shows up in OpenImageIO's errors as a short or unreadable file, not as ENOSPC."""
    try:
        st = os.statvfs(folder or ".")
    except (OSError, AttributeError):
        return ""
    free = st.f_bavail * st.f_frsize
    return " (the disk holding %s is full: %d bytes free)" % (folder or ".", free) if free < 1 << 20 else ""


def _place(tmp, path, claim=None):
    """Rename the finished ``tmp`` to ``path``. With ``claim`` (see :meth:`MatteWriter.write`): the name
    is taken with :func:`os.link` (no-clobber) and the temp name removed; when a file is at the name
    (EEXIST) ``claim`` is asked about the file actually there before the rename replaces it (a file
    system without hard links: asked, then renamed). Before, two jobs that both found the name free
    each replaced the other's frame (both reported it written)."""
    if claim is None:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        claim()   # a file is at the name (one of this job's, or another writer's that arrived since)
    except (OSError, NotImplementedError, AttributeError):
        claim()   # no hard links here (FAT, some SMB mounts): a look, then the rename below
    else:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        return
    os.replace(tmp, path)


def same_plate(a, b):
    """Whether plate patterns ``a`` and ``b`` (a frame's ``samatte/plate``, a job's ``plate.path``) name one plate
    for the "written by another job" check: the same file pattern in a folder of the same name. Whole paths would
    differ for one plate seen from a farm node's path mapping (``Z:\\shots`` / ``/mnt/shots``) or a project
    moved with its mattes; ``sh010/plate.####.exr`` and ``sh020/plate.####.exr`` are two plates. Where either is a
    Windows path (a drive letter, UNC, or backslashes) the names compare without case, as Windows opens them
    (``D:\\Shots\\SH010`` and ``d:\\shots\\sh010`` are one folder); two POSIX paths compare exactly."""
    def tail(p):
        parts = [x for x in re.split(r"[\\/]+", p.strip()) if x not in ("", ".")]
        # one frame token whatever its spelling (####, %04d, $F4, @): Blender and Nuke write them differently
        return [re.sub(r"%0?\d*d|\$F\d*|#+|@+", "#", x) for x in parts[-2:]]
    ta, tb = tail(a), tail(b)
    if _windows_path(a) or _windows_path(b):
        return [x.casefold() for x in ta] == [x.casefold() for x in tb]
    return ta == tb


def _windows_path(p):
    """Whether ``p`` reads as a Windows path: a drive letter (``D:``), a UNC path (``\\\\server``) or a backslash."""
    p = p.strip()
    return "\\" in p or re.match(r"[A-Za-z]:/", p) is not None


def _check_whole(path):
    """OutputError unless the EXR at ``path`` reads to its last scanline. OpenImageIO's ``close()``
    reports success when the file system refused the last buffered bytes (disk full, quota): the
    truncated file must not be renamed to its final name."""
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise OutputError("%s cannot be read back after writing: %s" % (path, oiio.geterror()), path=path)
    try:
        spec = inp.spec()
        if inp.read_scanline(spec.y + spec.height - 1, 0, "float") is None:
            raise OutputError("%s was not written whole (disk full?): %s" % (path, inp.geterror()), path=path)
    finally:
        inp.close()


def _write_exr(path, buf, chans, info, compression, meta):
    import OpenImageIO as oiio
    from .exr import _make_spec
    h, w, _ = buf.shape
    spec = _make_spec(w, h, chans, "half", data_xy=(info.data.x, info.data.y), display=info.display,
                      pixel_aspect=info.pixel_aspect, compression=compression, metadata=meta)
    spec.attribute("DateTime", "")  # OpenImageIO stamps the time otherwise: re-runs must be byte-identical
    out = oiio.ImageOutput.create("exr")
    if out is None:
        raise OutputError("OpenImageIO has no EXR writer: %s" % oiio.geterror())
    if not out.open(path, spec):
        raise OutputError("cannot open %s for writing: %s" % (path, out.geterror() or oiio.geterror()), path=path)
    try:
        if not out.write_image(buf):
            raise OutputError("cannot write %s: %s" % (path, out.geterror()), path=path)
    finally:
        if not out.close():
            raise OutputError("cannot finish %s: %s" % (path, out.geterror()), path=path)
