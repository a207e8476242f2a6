"""The track cache: the tracking stage's answer per frame and object, stored in the job's work dir.

Layout (``job.work_dir``, default ``<output folder>/.samatte/<job name>/<output file name>/``:
:func:`samatte.jobspec.default_work_dir`), layout 2::

    manifest.json            {"layout": 2, "job": name, "samatte_version": ..., "resolved": {...},
                              "frames": "1001-1100", "output_file": "fg.####.exr"}  (written whole and
                              atomically by every run; no run reads and rewrites it, so concurrent runs
                              cannot lose each other's work; output_file: the output's file name, absent
                              in older manifests)
    track/<frame>.o<i>.npz   the i-th tracked object (job order) on one frame (members deflated; stored
                             ones, as 0.2.18 wrote them, read the same): "meta" (JSON: the
                             object's track key, the tracker's ref, canvas shape, the canvas window
                             ``canvas`` [x, y, w, h], score, keyframe, edge
                             kind, logits dtype/shape), "mask" (the bool mask at canvas resolution,
                             bit-packed), "logits" (the tracker's logits at its own resolution, dtype
                             kept), "soft" (a soft coverage, when the tracker gave one)

One file per object and frame, each written to a temporary name in the same folder and renamed (atomic),
so tracking tasks of different objects (``samatte run --stage track --objects NAME``) can run at once
on shared storage. A file is used only when its stored key equals the object's current track key on
that frame (``track_objects`` of :func:`samatte.cachekey.frame_keys`); objects are matched by their
position among the job's tracked objects (names are cosmetic and not in the key). Layout 1 (one
``track/<frame>.npz`` per frame, all objects) is never read: its frames are simply stale and tracked
again; :meth:`TrackCache.write_manifest` removes those files once the manifest moves to layout 2.

A stored track is current only on the canvas it was made on (``TrackCache(canvas=...)``: the plate's
canvas window, :func:`samatte.io.source.plate_canvas`). The canvas is decided by the headers of every
frame of the job (a plate whose data windows vary is read into its display window), not by a frame's
key: one plate frame re-rendered with another data window changes the canvas of every frame, while the
keys of frames whose interval does not hold it stay. Before, such frames' stored tracks (masks of the
old canvas) were taken as current and every later run failed with PLATE_INVALID ("mask of object ... is
(48, 56), the plate is (40, 48)"), or, on a canvas of the same size at another origin, matted with the
masks shifted. A track stored by an earlier version (no ``canvas`` in its meta) is compared by its shape.
"""
import io
import json
import os
import re
import uuid
import zipfile

import numpy as np

from . import __version__
from .errors import OutputError
from .stages import ObjectTrack, TrackFrame

__all__ = ["TrackCache", "default_work_dir", "LAYOUT"]

LAYOUT = 2


def default_work_dir(job):
    """``job.work_dir`` or ``<output folder>/.samatte/<job name>/<output file name>/``
    (:func:`samatte.jobspec.default_work_dir`, standard library only: the hosts use it too)."""
    from .jobspec import default_work_dir as rule
    return rule(job)


def output_file(job):
    """The file name of the job's output pattern (``fg.####.exr``; None when it has none), the manifest's
    ``output_file``: what tells two jobs of one name apart in a work dir they share (an explicit one), the same
    bytes wherever the output folder lies."""
    path = (job.get("output") or {}).get("path")
    return os.path.basename(path.replace("\\", "/")) if isinstance(path, str) else None


def _tmp_name(path):
    from .io.writer import host_tag  # the output writer's rule for temp names
    host = host_tag()
    return os.path.join(os.path.dirname(path), ".%s.%s.%d.%s.tmp" % (os.path.basename(path)[:64], host,
                                                                     os.getpid(), uuid.uuid4().hex[:8]))


def temp_name(path):
    """The temp name (in ``path``'s folder) samatte writes ``path`` under before renaming it:
    ``.<name>.<host>.<pid>.<random>.tmp``; :func:`remove_stale_temps` removes those a killed process left."""
    return _tmp_name(path)


_TMP_RX = re.compile(r"^\.(?P<base>.+?)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def remove_stale_temps(folder):
    """Remove the temp files of :func:`_tmp_name` in ``folder`` that the output writer would remove
    (:meth:`samatte.io.writer.MatteWriter.remove_stale_temps`): of a dead process of this host, or older
    than its age limit; never another machine's write in flight. Returns how many went."""
    from .io.writer import default_temp_max_age, remove_temps
    return remove_temps(folder, _TMP_RX, default_temp_max_age(), own=False)


def _savez(buf, arrays):
    """``np.savez`` with each member deflated at level 1 (what ``np.load`` reads, as it reads the stored files
    of earlier versions): a bit-packed 4K mask is 1080 KiB stored, 12 KiB deflated (+5 ms to write, +1 ms to
    read), so a farm's track folder (tasks on shared storage, Deadline Cloud's job attachments uploading and
    downloading it for every Matte task) is ~60x smaller."""
    from numpy.lib import format as npformat
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, a in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                npformat.write_array(f, np.asanyarray(a), allow_pickle=False)


def _atomic_write(path, data):
    from .atomic import write_atomically

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    write_atomically(path, _tmp_name(path), write, what="track cache file")


class TrackCache:
    """Per-frame stored tracks in ``work_dir`` (see the module docstring)."""

    def __init__(self, work_dir, *, create=True, canvas=None, shared=None):
        """``shared``: a work dir of earlier versions shared by jobs of one name
        (:func:`samatte.jobspec.shared_work_dir`): its stored tracks are read when this job's own are
        absent or stale and their keys are current; nothing is written there."""
        self.work_dir = os.path.abspath(os.fspath(work_dir))
        #: the canvas window ``(x, y, w, h)`` tracks are made on now (None: not checked); see the module docstring
        self.canvas = None if canvas is None else tuple(int(v) for v in canvas)
        self.track_dir = os.path.join(self.work_dir, "track")
        self.shared_track_dir = os.path.join(os.path.abspath(os.fspath(shared)), "track") if shared else None
        if os.path.exists(self.work_dir) and not os.path.isdir(self.work_dir):
            raise OutputError("the work dir %s is an existing file, not a folder" % self.work_dir,
                              path=self.work_dir, field="work_dir")
        if create:
            self._check_manifest()  # before anything is created in a folder that may be someone else's
            try:
                os.makedirs(self.track_dir, exist_ok=True)
            except OSError as e:
                raise OutputError("cannot create the work dir %s: %s" % (self.track_dir, e.strerror or e),
                                  path=self.track_dir, field="work_dir")
            for d in (self.work_dir, self.track_dir):  # left by a killed run (kill -9 mid-write)
                remove_stale_temps(d)

    def path(self, frame, index=0):
        """The stored track of the ``index``-th tracked object on ``frame``."""
        return os.path.join(self.track_dir, "%d.o%d.npz" % (int(frame), int(index)))

    def _check_manifest(self):
        """OutputError when the work dir holds a ``manifest.json`` that samatte did not write (a work_dir
        pointed at a folder of the pipeline's): samatte never replaces a file it does not own."""
        path = os.path.join(self.work_dir, "manifest.json")
        if not os.path.lexists(path):
            return
        doc = self.read_manifest()
        if doc is None and (os.path.getsize(path) == 0 or os.path.isdir(self.track_dir)):
            return  # samatte's own, damaged (a power cut before the write reached the disk): rewritten
        if not (isinstance(doc, dict) and "layout" in doc and "samatte_version" in doc):
            raise OutputError("the work dir %s holds a manifest.json that samatte did not write (%s): samatte "
                              "does not replace it; choose another work_dir" % (self.work_dir, path),
                              path=path, field="work_dir")

    def write_manifest(self, job, resolved, frames):
        """Write this job's manifest; returns the one it replaced (a dict, or None)."""
        from .frames import format_frames
        self._check_manifest()
        old = self.read_manifest()
        doc = {"layout": LAYOUT, "job": job.get("name"), "samatte_version": __version__,
               "resolved": resolved, "frames": format_frames(frames),
               "output_file": output_file(job)}
        if old == doc:
            # the manifest says this already: nothing written (a re-run of a published shot, its output folder
            # read-only, failed here before it found every frame current)
            return old
        _atomic_write(os.path.join(self.work_dir, "manifest.json"),
                      (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        if old is not None and old.get("layout") == 1:  # the one-file-per-frame layout: never read again
            try:
                names = os.listdir(self.track_dir)
            except OSError:
                names = []
            for n in names:
                if n.endswith(".npz") and n[:-4].lstrip("-").isdigit():
                    try:
                        os.remove(os.path.join(self.track_dir, n))
                    except OSError:
                        pass
        return old if isinstance(old, dict) else None

    def read_manifest(self):
        try:
            with open(os.path.join(self.work_dir, "manifest.json"), "r", encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    # -- reading ---------------------------------------------------------------------------------
    @staticmethod
    def _meta(z):
        return json.loads(bytes(np.load(io.BytesIO(z.read("meta.npy")), allow_pickle=False)).decode("utf-8"))

    def _paths(self, frame, index, shared=True):
        """Where object ``index``'s stored track of ``frame`` may be: this work dir's file, then (``shared``)
        the shared work dir's of earlier versions."""
        own = self.path(frame, index)
        if self.shared_track_dir is None or not shared:
            return [own]
        return [own, os.path.join(self.shared_track_dir, os.path.basename(own))]

    def _metas(self, frame, index, shared=True):
        """The metas of object ``index``'s stored tracks of ``frame`` that can be read (:meth:`_paths`' order)."""
        for path in self._paths(frame, index, shared):
            try:
                with zipfile.ZipFile(path) as z:
                    yield self._meta(z)
            except MemoryError:   # out of memory (OUT_OF_MEMORY), not a damaged file: never TRACK_MISSING
                raise
            except Exception:  # absent or damaged (any error of zipfile/numpy on bad bytes): no stored key
                continue

    def stored_key(self, frame, index=0, key=None, *, shared=True):
        """The track key stored for object ``index`` on ``frame`` (None when absent or unreadable);
        reads only the meta. With ``key``: ``key`` when any stored file (this work dir's, the shared one's)
        holds it. ``shared=False``: this work dir's file only."""
        found = None
        for meta in self._metas(frame, index, shared):
            got = meta.get("key")
            if key is None or got == key:
                return got
            found = got if found is None else found
        return found

    def _on_canvas(self, meta):
        """Whether a stored track (its ``meta``) was made on this cache's canvas (True when none is set)."""
        if self.canvas is None:
            return True
        if meta.get("canvas") is not None:
            return [int(v) for v in meta["canvas"]] == list(self.canvas)
        return [int(v) for v in meta.get("shape") or ()] == [self.canvas[3], self.canvas[2]]

    def has(self, frame, index, key, *, shared=True):
        """True when a stored track of object ``index`` on ``frame`` (this work dir's, else with ``shared`` the
        shared one's) has ``key`` and was made on this cache's canvas; reads only the meta (a damaged body
        is found by :meth:`load_object`)."""
        return key is not None and any(meta.get("key") == key and self._on_canvas(meta)
                                       for meta in self._metas(frame, index, shared))

    def stale_objects(self, frame, keys):
        """Indices of the tracked objects whose stored track of ``frame`` is not ``keys[i]``, or
        cannot be read whole (a damaged file whose meta still reads: tracked again, not a
        TRACK_MISSING on every later run)."""
        return [i for i, k in enumerate(keys) if not self.has(frame, i, k) or self.load_object(frame, i, k) is None]

    def is_current(self, frame, keys):
        """Every object's stored track of ``frame`` has its key in ``keys`` (one per tracked object)."""
        return not self.stale_objects(frame, keys)

    def load_object(self, frame, index, key):
        """``(ObjectTrack, ref)`` of object ``index`` on ``frame`` when its stored key is ``key`` (this work dir's
        file, else the shared one's), else None."""
        for path in self._paths(frame, index):
            got = self._load_file(path, key)
            if got is not None:
                return got
        return None

    def _load_file(self, path, key):
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                if key is None or meta.get("key") != key or not self._on_canvas(meta):
                    return None
                h, w = meta["shape"]
                mask = np.unpackbits(z["mask"], count=h * w).reshape(h, w).astype(bool)
                logits = np.array(z["logits"]) if meta.get("logits") else None
                ot = ObjectTrack(mask=mask, logits=logits, score=float(meta["score"]),
                                 keyframe=bool(meta["keyframe"]), edge=meta.get("edge"))
                if meta.get("soft"):
                    ot.soft = np.array(z["soft"])
                return ot, meta.get("ref")
        except MemoryError:   # out of memory (OUT_OF_MEMORY), not a damaged file: never TRACK_MISSING
            raise
        except Exception:  # absent or damaged (bad CRC, header, compression method...): no stored track
            return None

    def load(self, frame, keys, names, *, absent=(), ref=None):
        """The stored :class:`TrackFrame` of ``frame`` when every object's key is current (else None);
        ``keys``: the objects' track keys, ``names``: the job's tracked object names, both in order.
        Its ``ref`` is None when any object's stored one is None (the temporal state restarts where any
        object's track does, as the trackers do with all objects at once), else the first object's.
        ``absent``: names of the objects absent on ``frame`` (JobSpec ``absent``): their stored ref has
        no say (it depends on where the range that tracked them began: its first frame has none; their
        alpha is 0 there, and a return after a span restarts by the keyed chain,
        ``samatte.cachekey.temporal_refs``); when every object is absent, ``ref`` (the keyed one) is the
        frame's."""
        if len(keys) != len(names):
            return None
        objs = {}
        refs = []
        for i, (name, key) in enumerate(zip(names, keys)):
            got = self.load_object(frame, i, key)
            if got is None:
                return None
            objs[name] = got[0]
            if name not in absent:
                refs.append(got[1])
        if refs:
            ref = None if any(r is None for r in refs) else refs[0]
        return TrackFrame(frame=int(frame), objects=objs, ref=ref)

    # -- writing ---------------------------------------------------------------------------------
    def save_object(self, frame, index, ot, key, ref):
        """Store one object's track of ``frame`` under ``key``, atomically; return the path."""
        m = np.asarray(ot.mask, bool)
        arrays = {"mask": np.packbits(m)}
        has = ot.logits is not None
        if has:
            arrays["logits"] = np.ascontiguousarray(ot.logits)
        soft = getattr(ot, "soft", None)
        if soft is not None:
            arrays["soft"] = np.ascontiguousarray(soft)
        meta = {"key": key, "frame": int(frame), "ref": ref, "shape": list(m.shape), "score": float(ot.score),
                "canvas": list(self.canvas) if self.canvas is not None else None,
                "keyframe": bool(ot.keyframe), "edge": ot.edge, "logits": has, "soft": soft is not None}
        arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
        buf = io.BytesIO()
        _savez(buf, arrays)
        path = self.path(frame, index)
        _atomic_write(path, buf.getvalue())
        return path

    def save(self, tf, keys, names, only=None):
        """Store the objects of ``tf`` (``names[i]`` under ``keys[i]``; only the indices in ``only``
        when given); return the paths."""
        out = []
        for i, name in enumerate(names):
            if (only is None or i in only) and name in tf.objects:
                out.append(self.save_object(tf.frame, i, tf.objects[name], keys[i], tf.ref))
        return out
