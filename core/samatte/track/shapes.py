"""The shape tracker (``backend="shapes"``): weights-free and motion-free.

Each frame takes, per object, the mask of that object's nearest shape keyframe (ties -> the earlier
one): dense prompts (mask, polygon, bezier) as given, boxes as filled rectangles, an object with no
shape a grabCut segmentation seeded from its first clicks (see :mod:`samatte.track.seed`). On a hint
frame (points or subtract shapes only) that mask is corrected for that frame alone
(:func:`samatte.track.seed.hint_mask`: a click changes it only where the mask contradicts it). Useful
for static subjects, for roto that already follows the object (a keyframe on every frame) and as a
reference.

Frames are yielded in ascending order with ``ref`` = the previous frame (None on the first frame and
on any object's keyframe). Only two keyframe masks per object are held at once. Overlapping objects
are left overlapping (the artist drew them so). ``logits`` is None (no soft evidence).
"""

import numpy as np

from ..errors import PromptError
from ..progress import Progress, check_cancel
from ..stages import ObjectTrack, Tracker, TrackFrame
from .seed import hint_mask, keyframe_mask, object_roles

__all__ = ["ShapeTracker", "nearest_keyframe"]


def nearest_keyframe(frame, keyframes):
    """The keyframe nearest to ``frame`` (host numbers); ties go to the earlier keyframe."""
    best = None
    for k in keyframes:
        if best is None or abs(k - frame) < abs(best - frame) or (abs(k - frame) == abs(best - frame)
                                                                   and k < best):
            best = k
    return best


def absent_keyframe(frames, keyframes, absent):
    """frame -> the keyframe whose shape the frame holds, for an object absent on ``absent`` (README
    "Prompts"): the nearest keyframe in the frame's run of present frames; in a run without one, that of
    the last present frame before it (after the first keyframe) or the first after it (before it). Absent
    frames are left out (their mask is empty)."""
    from ..jobspec import absent_segments
    segs = absent_segments(sorted(frames), absent)
    out: dict = {}
    firsts = sorted(keyframes)
    own = [[k for k in firsts if seg[0] <= k <= seg[-1]] for seg in segs]
    for k, seg in enumerate(segs):       # runs with keyframes
        if own[k]:
            out.update({f: nearest_keyframe(f, own[k]) for f in seg})
    for k, seg in enumerate(segs):       # after the first keyframe: on from the run before
        if not own[k] and firsts and firsts[0] < seg[0]:
            out.update({f: out[segs[k - 1][-1]] for f in seg})
    for k in reversed(range(len(segs))):   # before it: back from the run after
        seg = segs[k]
        if not own[k] and firsts and firsts[0] > seg[-1]:
            out.update({f: out[segs[k + 1][0]] for f in seg})
    return out


class ShapeTracker(Tracker):
    name = "shapes"

    def __init__(self, *, options=None, work_size=640):
        from . import backend_options
        known = backend_options("shapes", options, ("work_size",))
        self.work_size = int(known.get("work_size", work_size))

    def track(self, source, objects, frames, *, cancel=None):
        frames = sorted(set(int(f) for f in frames))
        objects = list(objects)
        if not objects:
            raise PromptError("the shape tracker needs at least one object with prompts")
        info = source.info
        shape = info.shape
        keys, hints = [], []
        for ob in objects:
            ks, hs = object_roles(ob)
            keys.append(ks)
            hints.append(set(hs))
        kset = set(k for ks in keys for k in ks)
        held = [absent_keyframe(frames, keys[o], set(ob.absent)) if getattr(ob, "absent", None) else None
                for o, ob in enumerate(objects)]
        # a frame after an absent span restarts the matte's temporal state (samatte.cachekey.temporal_refs)
        from ..jobspec import absent_returns
        restart = {f for ob in objects for f in absent_returns(frames, getattr(ob, "absent", ()))}
        cache = [dict() for _ in objects]  # per object: keyframe -> bool mask (at most 2 held)
        n = len(frames)
        for i, f in enumerate(frames):
            check_cancel(cancel)
            objs = {}
            for o, ob in enumerate(objects):
                if held[o] is not None and f not in held[o]:   # absent here: nothing
                    objs[ob.name] = ObjectTrack(mask=np.zeros(shape, bool), logits=None, score=0.0, keyframe=False,
                                                edge="rough")
                    continue
                k = nearest_keyframe(f, keys[o]) if held[o] is None else held[o][f]
                if k not in cache[o]:
                    def image(k=k):
                        return source.get(k).display
                    _, m = keyframe_mask(ob, k, shape, image=image, work_size=self.work_size, box_mode="rect")
                    for old in [x for x in cache[o] if x < k]:
                        del cache[o][old]  # frames ascend: earlier keyframes are never nearest again
                    cache[o][k] = m
                m = cache[o][k]
                if f in hints[o]:
                    m = hint_mask(m, ob.prompts[f], shape, image=lambda f=f: source.get(f).display,
                                  work_size=self.work_size)
                objs[ob.name] = ObjectTrack(mask=m.copy(), logits=None, score=1.0, keyframe=(k == f),
                                            edge="rough")  # the artist's roto shape itself
            ref = None if (i == 0 or f in kset or f in restart) else frames[i - 1]
            yield Progress("track", f, i + 1, n, "frame %d" % f)
            yield TrackFrame(frame=f, objects=objs, ref=ref)
