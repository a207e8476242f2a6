"""The flow tracker computes each frame pair's optical flow once (samatte.track.flow.FlowCache): for
the forward and backward passes between two keyframes, for the objects of one ``track`` call, and for
the per-object passes of one job in one process (``FlowTracker.shared_flows``, opened by the
pipeline). Sharing must not change a byte of any output EXR or stored track file."""
import glob
import os

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.track import flow as flowmod

FIRST, LAST = 1001, 1008
N = LAST - FIRST + 1


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("flow_shared")
    return make_shot(str(d / "plates"), frames=N, size=(96, 64)), d


def _job(s, out, *, ram_mb=None):
    job = jobspec.new_job(s["plate"], os.path.join(str(out), "m.####.exr"), frames="%d-%d" % (FIRST, LAST),
                          name="sh040", tracker="flow", matte="refine", quality="draft",
                          work_dir=os.path.join(str(out), "work"))
    if ram_mb is not None:
        job["tracker"]["options"]["ram_mb"] = ram_mb  # cosmetic (not in the keys): flows spill to disk
    # mid-shot polygon: a backward and a forward pass
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    # two shape keyframes: a forward and a backward pass over the frames between them, then forward
    jobspec.add_object(job, "crate", [jobspec.box_prompt(FIRST, [4, 4, 30, 26]),
                                      jobspec.box_prompt(FIRST + 5, [6, 5, 32, 28])])
    # last-frame box with a click correction on another frame: backward only
    jobspec.add_object(job, "sky", [jobspec.box_prompt(LAST, [50, 2, 94, 24]),
                                    jobspec.points_prompt(FIRST + 2, [[70, 12]], [1])])
    return job


def _files(folder):
    out = {}
    for p in sorted(glob.glob(os.path.join(str(folder), "**", "*"), recursive=True)):
        if os.path.isfile(p):
            out[os.path.relpath(p, str(folder))] = open(p, "rb").read()
    return out


def _unshared(monkeypatch):
    """The code before sharing: every step of every pass computes its own two flows (``step`` without
    ``flows=``), and the pipeline opens no shared block."""
    monkeypatch.setattr(flowmod.FlowPropagator, "flows", lambda self, img_prev, img_cur, cache: None)
    monkeypatch.delattr(flowmod.FlowTracker, "shared_flows")


def _count_flows(monkeypatch):
    calls = []
    real = flowmod.dis_flow

    def counted(dis, g0, g1):
        calls.append(1)
        return real(dis, g0, g1)
    monkeypatch.setattr(flowmod, "dis_flow", counted)
    return calls


def test_outputs_identical_with_and_without_sharing(shot, tmp_path):
    s, _ = shot
    shared = tmp_path / "shared"
    spilled = tmp_path / "spilled"
    pipeline.run(_job(s, shared))
    pipeline.run(_job(s, spilled, ram_mb=0.0))  # every shared flow read back from a .npy file
    with pytest.MonkeyPatch.context() as mp:
        _unshared(mp)
        calls = _count_flows(mp)
        pipeline.run(_job(s, tmp_path / "own"))
        assert len(calls) > 2 * 2 * (N - 1)  # really the old path: the objects each computed their flows
    own, a, b = _files(tmp_path / "own"), _files(shared), _files(spilled)
    exrs = [k for k in own if k.endswith(".exr")]
    tracks = [k for k in own if k.endswith(".npz")]
    assert len(exrs) == N and len(tracks) == 3 * N
    assert sorted(a) == sorted(own) and sorted(b) == sorted(own)
    for k in own:
        assert a[k] == own[k], k
        assert b[k] == own[k], k
    # the shared block's spill folder is gone with it
    assert not glob.glob(os.path.join(str(spilled), "work", "**", "samatte_flows_*"), recursive=True)


def test_each_frame_pair_flow_computed_once_for_all_objects(shot, tmp_path, monkeypatch):
    s, _ = shot
    calls = _count_flows(monkeypatch)
    job = _job(s, tmp_path / "t")
    pipeline.run(job, stage="track")
    # 3 objects tracked one at a time (6 passes, 24 steps): each of the N - 1 frame pairs needs its two
    # flows (a->b, b->a) once; before sharing every step computed two (48 here)
    assert len(calls) == 2 * (N - 1)


def test_per_object_processes_do_not_share(shot, tmp_path, monkeypatch):
    """A per-object task (``--objects``, a farm Track task) computes its own flows: nothing survives
    from one run to the next, and its stored files are those of the whole run."""
    s, _ = shot
    whole = tmp_path / "whole"
    pipeline.run(_job(s, whole), stage="track")
    calls = _count_flows(monkeypatch)
    per = tmp_path / "per"
    job = _job(s, per)
    counts = []
    for name in ("ball", "crate", "sky"):
        before = len(calls)
        pipeline.run(job, stage="track", objects=name)
        counts.append(len(calls) - before)
    # ball: backward + forward from mid-shot; crate: its keyframe pair's forward and backward passes
    # share the pairs between them; sky: backward from the last frame. Every pair once per run.
    assert counts == [2 * (N - 1)] * 3
    a, b = _files(whole / "work"), _files(per / "work")
    tracks = [k for k in a if k.endswith(".npz")]
    assert len(tracks) == 3 * N
    for k in tracks:
        assert a[k] == b[k], k


def test_flow_cache_keys_on_the_images_and_settings():
    import cv2
    rng = np.random.default_rng(1)
    g0 = cv2.GaussianBlur((rng.random((40, 60)) * 255).astype(np.uint8), (5, 5), 1.5)
    g1 = np.roll(g0, 2, axis=1)
    opts = dict(flowmod.DEFAULTS)
    cache = flowmod.FlowCache(lambda: None, 1 << 30)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)
    f = cache.flow(dis, opts, g0, g1)
    assert cache.flow(dis, opts, g0.copy(), g1.copy()) is f and (cache.computed, cache.reused) == (1, 1)
    assert not f.flags.writeable
    fresh = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    fresh.setFinestScale(0)
    assert f.tobytes() == flowmod.dis_flow(fresh, g0, g1).tobytes()  # DIS keeps no history
    cache.flow(dis, opts, g1, g0)  # the other direction is another flow
    g2 = g1.copy()
    g2[0, 0] ^= 1
    cache.flow(dis, opts, g0, g2)  # one grey level differs: computed
    fast = dict(opts, flow_preset="fast")
    cache.flow(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST), fast, g0, g1)  # other settings
    assert (cache.computed, cache.reused) == (4, 1)


def test_the_flow_cache_keeps_no_more_on_disk_than_its_cap(tmp_path):
    """Past ``disk_bytes`` a flow is not kept (the work dir may be a share with a quota): it is
    computed again when asked for, with the same bytes."""
    import cv2
    from samatte.track.flow import FlowCache, dis_flow
    opts = {"flow_preset": cv2.DISOPTICAL_FLOW_PRESET_FAST, "flow_finest_scale": 1}
    dis = cv2.DISOpticalFlow_create(opts["flow_preset"])
    dis.setFinestScale(opts["flow_finest_scale"])
    rng = np.random.default_rng(3)
    imgs = [np.ascontiguousarray((rng.random((24, 32)) * 255).astype(np.uint8)) for _ in range(4)]
    one = dis_flow(dis, imgs[0], imgs[1]).nbytes
    cache = FlowCache(lambda: str(tmp_path), ram_bytes=0, disk_bytes=one)   # room for one spilled flow
    first = [cache.flow(dis, opts, imgs[i], imgs[i + 1]).copy() for i in range(3)]
    assert len(list(tmp_path.iterdir())) == 1
    again = [cache.flow(dis, opts, imgs[i], imgs[i + 1]) for i in range(3)]
    assert cache.reused == 1 and cache.computed == 5
    for a, b in zip(first, again):
        assert np.array_equal(a, b)
