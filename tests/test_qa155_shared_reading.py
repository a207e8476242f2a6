"""qa155: the flow tracker's per-object passes of one job read the plate once (samatte.track.flow.ThumbCache,
inside ``FlowTracker.shared_flows``), not once per object.

Before, every object's pass read, decoded, colour-transformed and resized every frame of its range again: a
three-object job read each frame three times (about a third of the track time of 30 1080p half-float frames).
Now a later pass takes the working-size thumbnails (and their grey statistics) an earlier pass read, and reads
a full-resolution frame only where its keyframe's prompts need the image (grabCut on a box, clicks). The stored
tracks and output EXRs are the same bytes, with the thumbnails in RAM or spilled to disk.
"""
import glob
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.io.source import FrameSource
from samatte.track import flow as flowmod

FIRST, N = 1001, 8
LAST = FIRST + N - 1


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa155") / "plates"), frames=N, size=(96, 64), first=FIRST)


def _job(s, out, *, ram_mb=None):
    job = jobspec.new_job(s["plate"], os.path.join(str(out), "m.####.exr"), frames="%d-%d" % (FIRST, LAST),
                          name="qa155", tracker="flow", matte="refine", quality="draft",
                          work_dir=os.path.join(str(out), "work"))
    if ram_mb is not None:
        job["tracker"]["options"]["ram_mb"] = ram_mb   # not in the keys: thumbnails and flows spill to disk
    # a mid-shot polygon (no image needed on its keyframe), gone for the last two frames
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])],
                       absent="%d-%d" % (LAST - 1, LAST))
    # a mask on the first frame and a box (grabCut: the full image) on another
    gt = s["gt"].replace("####", "%04d" % FIRST)
    jobspec.add_object(job, "crate", [jobspec.mask_prompt(FIRST, gt),
                                      jobspec.box_prompt(FIRST + 5, [6, 5, 32, 28])])
    # a last-frame box with a correction click on another frame
    jobspec.add_object(job, "sky", [jobspec.box_prompt(LAST, [50, 2, 94, 24]),
                                    jobspec.points_prompt(FIRST + 2, [[70, 12]], [1])])
    return job


def _count_reads(mp):
    reads = []
    real = FrameSource.get

    def get(self, frame):
        reads.append(int(frame))
        return real(self, frame)
    mp.setattr(FrameSource, "get", get)
    return reads


def _files(folder):
    out = {}
    for p in sorted(glob.glob(os.path.join(str(folder), "**", "*"), recursive=True)):
        if os.path.isfile(p) and (p.endswith(".exr") or p.endswith(".npz")):
            out[os.path.relpath(p, str(folder))] = open(p, "rb").read()
    return out


def _unshared(mp):
    """The code before: no thumbnail is ever found in the cache (each pass reads every frame)."""
    mp.setattr(flowmod.ThumbCache, "has", lambda self, source, frame, shape: False)


def test_a_three_object_job_reads_each_frame_once(shot, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        reads = _count_reads(mp)
        pipeline.run(_job(shot, tmp_path / "a"), stage="track")
    # ball's pass reads the 8 frames; crate's and sky's read only their box keyframes again (grabCut needs the
    # full image there): 8 + 2, where it was 3 x 8 = 24 (each pass read every frame)
    assert sorted(reads) == sorted(list(range(FIRST, LAST + 1)) + [FIRST + 5, LAST]), reads


def test_outputs_identical_with_and_without_shared_reading(shot, tmp_path):
    pipeline.run(_job(shot, tmp_path / "shared"))
    pipeline.run(_job(shot, tmp_path / "spilled", ram_mb=0.0))   # every thumbnail read back from a .npy file
    with pytest.MonkeyPatch.context() as mp:
        _unshared(mp)
        reads = _count_reads(mp)
        pipeline.run(_job(shot, tmp_path / "own"))
        assert len([f for f in reads if f == FIRST + 1]) >= 3   # really the old path: each pass read the frame
    own, a, b = _files(tmp_path / "own"), _files(tmp_path / "shared"), _files(tmp_path / "spilled")
    assert len([k for k in own if k.endswith(".exr")]) == N and len([k for k in own if k.endswith(".npz")]) == 3 * N
    assert sorted(a) == sorted(own) == sorted(b)
    for k in own:
        assert a[k] == own[k], k
        assert b[k] == own[k], k
    # the shared block's spill folder (flows and thumbnails) is gone with it
    assert not glob.glob(os.path.join(str(tmp_path / "spilled"), "work", "**", "samatte_flow*"), recursive=True)


def test_a_cached_passes_reading_is_a_small_share_of_its_progress(shot, tmp_path):
    from samatte.runner import drain
    msgs = []
    drain(_job(shot, tmp_path / "p"), emit=msgs.append, stage="track")
    track = [m for m in msgs if m["type"] == "progress" and m["stage"] == "track"]
    fr = [m["fraction"] for m in track]
    assert all(b >= a for a, b in zip(fr, fr[1:])), fr
    reading = [i for i, m in enumerate(track) if m["message"] == "reading frames"]
    passes = [[reading[0]]]
    for i in reading[1:]:
        if i == passes[-1][-1] + 1:
            passes[-1].append(i)
        else:
            passes.append([i])
    # ball reads its 6 present frames, crate the 8 (6 from the cache), sky the 8 (all from the cache)
    assert [len(p) for p in passes] == [N - 2, N, N], passes
    # each pass's reading still moves the bar, but a pass served from the cache moves it much less
    spans = []
    for idx in passes:
        f = [fr[i] for i in idx]
        assert all(y > x for x, y in zip(f, f[1:])), f
        spans.append(f[-1] - (fr[idx[0] - 1] if idx[0] else 0.0))
    assert spans[2] < spans[0] / 3, spans


def test_thumb_cache_bounds_ram_then_disk(tmp_path):
    folder = flowmod.SpillFolder("samatte_flows", str(tmp_path))
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    src = object()
    tc = flowmod.ThumbCache(folder, ram_bytes=img.nbytes, disk_bytes=img.nbytes)
    for f in range(3):
        tc.put(src, f, (4, 5), img + f, (float(f), 0.5))
    assert tc.stored == 2 and folder.path is not None
    assert len(os.listdir(folder.path)) == 1            # the second spilled, the third not kept at all
    for f in range(2):
        got, stats = tc.get(src, f, (4, 5))
        assert np.array_equal(got, img + f) and stats == (float(f), 0.5)
    assert tc.get(src, 2, (4, 5)) is None and not tc.has(src, 2, (4, 5))
    assert not tc.has(object(), 0, (4, 5)) and not tc.has(src, 0, (8, 10))
    folder.remove()
    assert not os.path.exists(folder.path)


def test_thumb_cache_on_a_refusing_disk_keeps_no_more(tmp_path):
    """A spill the disk refuses (full, quota) is no error: the frame is read again when asked for."""
    gone = str(tmp_path / "no" / "such" / "folder")
    img = np.zeros((4, 5, 3), np.uint8)
    src = object()
    tc = flowmod.ThumbCache(lambda: gone, ram_bytes=0)
    tc.put(src, 1, (4, 5), img, (0.0, 0.0))
    tc.put(src, 2, (4, 5), img, (0.0, 0.0))
    assert tc.stored == 0 and not tc.has(src, 1, (4, 5)) and not tc.has(src, 2, (4, 5))


def test_cancel_in_a_cached_passes_reading_is_prompt(shot, tmp_path):
    from samatte.errors import CancelledError
    flag = []
    seen = []

    def on_progress(p):
        seen.append(p)
        # the second pass (crate) starts reading, its frames mostly from the cache: cancel there
        reading = [q for q in seen if q[4] == "reading frames"]
        if len(reading) == (N - 2) + 1:
            flag.append(1)
    with pytest.raises(CancelledError):
        pipeline.run(_job(shot, tmp_path / "c"), stage="track", on_progress=on_progress, cancel=lambda: bool(flag))
    assert len([q for q in seen if q[4] == "reading frames"]) == (N - 2) + 1   # not one frame more
