"""The track cache: the tracking stage's answer per frame, stored in the job's work dir.

Layout (``job.work_dir``, default ``<output folder>/.samatte/<job name>/``)::

    manifest.json          {"layout": 1, "job": name, "samatte_version": ..., "resolved": {...},
                            "frames": "1001-1100"}  (rewritten atomically on every run)
    track/<frame>.npz      one frame: "meta" (JSON: track key, ref, canvas shape, per tracked object
                           its score, keyframe, edge kind, logits dtype/shape), "mask<i>" (the bool
                           mask at canvas resolution, bit-packed), "logits<i>" (the tracker's logits
                           at its own resolution, dtype kept), "soft<i>" (a soft coverage, when the
                           tracker gave one) for the i-th tracked object in job order

Every file is written to a temporary name in the same folder and renamed (atomic). A frame is used
only when its stored key equals the frame's current track key (:mod:`samatte.cachekey`); objects are
matched by their position among the job's tracked objects (names are cosmetic and not in the key).
"""
import io
import json
import os
import socket
import uuid
import zipfile

import numpy as np

from . import __version__
from .errors import OutputError
from .stages import ObjectTrack, TrackFrame

__all__ = ["TrackCache", "default_work_dir", "LAYOUT"]

LAYOUT = 1


def default_work_dir(job):
    """``job.work_dir`` or ``<output folder>/.samatte/<job name>/``."""
    if job.get("work_dir"):
        return job["work_dir"]
    from .io.sequence import SequencePattern
    folder = SequencePattern(job["output"]["path"]).directory  # before any frame token in a folder name
    return os.path.join(os.path.abspath(folder or "."), ".samatte", job.get("name") or "samatte")


def _tmp_name(path):
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c == "-")[:32] or "host"
    return os.path.join(os.path.dirname(path), ".%s.%s.%d.%s.tmp" % (os.path.basename(path)[:64], host,
                                                                     os.getpid(), uuid.uuid4().hex[:8]))


def _atomic_write(path, data):
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise OutputError("cannot write %s: %s" % (path, e.strerror or e), path=path)


class TrackCache:
    """Per-frame stored tracks in ``work_dir`` (see the module docstring)."""

    def __init__(self, work_dir, *, create=True):
        self.work_dir = os.path.abspath(os.fspath(work_dir))
        self.track_dir = os.path.join(self.work_dir, "track")
        if os.path.exists(self.work_dir) and not os.path.isdir(self.work_dir):
            raise OutputError("the work dir %s is an existing file, not a folder" % self.work_dir,
                              path=self.work_dir, field="work_dir")
        if create:
            try:
                os.makedirs(self.track_dir, exist_ok=True)
            except OSError as e:
                raise OutputError("cannot create the work dir %s: %s" % (self.track_dir, e.strerror or e),
                                  path=self.track_dir, field="work_dir")

    def path(self, frame):
        return os.path.join(self.track_dir, "%d.npz" % int(frame))

    def write_manifest(self, job, resolved, frames):
        from .frames import format_frames
        doc = {"layout": LAYOUT, "job": job.get("name"), "samatte_version": __version__,
               "resolved": resolved, "frames": format_frames(frames)}
        _atomic_write(os.path.join(self.work_dir, "manifest.json"),
                      (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))

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

    def stored_key(self, frame):
        """The track key stored for ``frame`` (None when absent or unreadable); reads only the meta."""
        try:
            with zipfile.ZipFile(self.path(frame)) as z:
                return self._meta(z).get("key")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    def is_current(self, frame, key):
        return key is not None and self.stored_key(frame) == key

    def load(self, frame, key, names):
        """The stored :class:`TrackFrame` of ``frame`` when its key is ``key`` (else None); ``names``:
        the job's tracked object names in order."""
        try:
            with np.load(self.path(frame), allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                if meta.get("key") != key or len(meta.get("objects", [])) != len(names):
                    return None
                h, w = meta["shape"]
                objs = {}
                for i, (name, om) in enumerate(zip(names, meta["objects"])):
                    mask = np.unpackbits(z["mask%d" % i], count=h * w).reshape(h, w).astype(bool)
                    logits = np.array(z["logits%d" % i]) if om.get("logits") else None
                    ot = ObjectTrack(mask=mask, logits=logits, score=float(om["score"]),
                                     keyframe=bool(om["keyframe"]), edge=om.get("edge"))
                    if om.get("soft"):
                        ot.soft = np.array(z["soft%d" % i])
                    objs[name] = ot
                return TrackFrame(frame=int(frame), objects=objs, ref=meta.get("ref"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    # -- writing ---------------------------------------------------------------------------------
    def save(self, tf, key, names):
        """Store ``tf`` (objects in the order of ``names``) under ``key``, atomically; return the path."""
        arrays = {}
        objs = []
        shape = None
        for i, name in enumerate(names):
            ot = tf.objects[name]
            m = np.asarray(ot.mask, bool)
            shape = m.shape
            arrays["mask%d" % i] = np.packbits(m)
            has = ot.logits is not None
            if has:
                arrays["logits%d" % i] = np.ascontiguousarray(ot.logits)
            soft = getattr(ot, "soft", None)
            if soft is not None:
                arrays["soft%d" % i] = np.ascontiguousarray(soft)
            objs.append({"score": float(ot.score), "keyframe": bool(ot.keyframe), "edge": ot.edge,
                         "logits": has, "soft": soft is not None})
        meta = {"key": key, "frame": int(tf.frame), "ref": tf.ref, "shape": list(shape or (0, 0)),
                "objects": objs}
        arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path = self.path(tf.frame)
        _atomic_write(path, buf.getvalue())
        return path
