"""Review of the day's diff (990a921..): regressions for the defects found (session 39)."""
import gc
import threading

import numpy as np

from samatte import prompts as P


def _arrays():
    return np.zeros((4, 4), bool), np.zeros((4, 4), np.float32)


def test_raster_cache_finaliser_never_waits_for_the_cache_lock():
    """A prompt in a reference cycle is freed by the cyclic collector, which runs on whichever thread allocates,
    possibly one inside the raster cache's lock (reading another prompt's raster). Its finaliser took that lock:
    the thread waited on itself for good (a job hung mid-track). Now the drop is deferred to the cache's next use."""
    was = gc.isenabled()
    gc.disable()
    try:
        p = P.LazyRasterPrompt({"type": "polygon"}, _arrays)
        p["mask_array"]                     # computed: in the cache
        token = p._token
        p["self"] = p                       # a cycle: only the collector frees it
        del p
        assert token in P._raster_cache

        def collect_inside_the_lock():
            with P._raster_lock:
                gc.collect()

        t = threading.Thread(target=collect_inside_the_lock, daemon=True)
        t.start()
        t.join(10)
        assert not t.is_alive(), "the prompt's finaliser waited for the lock its own thread held"
    finally:
        if was:
            gc.enable()
    q = P.LazyRasterPrompt({"type": "polygon"}, _arrays)
    assert q["mask_array"].shape == (4, 4)   # the cache's next use drops the collected prompt's rasters
    assert token not in P._raster_cache


def test_raster_cache_two_threads_read_prompts_at_once():
    """Two threads reading lazy prompts at once (over a cache budget that evicts) get the same bytes."""
    rng = np.random.default_rng(0)
    made = [(rng.random((64, 64)) > 0.5, rng.random((64, 64)).astype(np.float32)) for _ in range(12)]
    ps = [P.LazyRasterPrompt({"type": "mask"}, (lambda m=m: (m[0].copy(), m[1].copy()))) for m in made]
    old = P.RASTER_CACHE_BYTES
    P.RASTER_CACHE_BYTES = 3 * made[0][0].nbytes + 3 * made[0][1].nbytes
    bad = []

    def read(order):
        for _ in range(30):
            for i in order:
                if not (np.array_equal(ps[i]["mask_array"], made[i][0])
                        and np.array_equal(ps[i].get("soft_array"), made[i][1])):
                    bad.append(i)

    try:
        ts = [threading.Thread(target=read, args=(o,)) for o in (range(12), range(11, -1, -1))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    finally:
        P.RASTER_CACHE_BYTES = old
    assert not bad


# --- Nuke: a node on the Prompts path whose 'disable' is keyed (the rule of 7110e0c / df23a5d, for a Merge) -------

def _nuke():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
    import nuke_env
    from nuke_env import rp
    return nuke_env, rp


def _roto(nuke, rp, src, name, poly, frames):
    roto = nuke.nodes.Roto()
    roto.setInput(0, src)
    layer = rp.Layer(roto["curves"], name=name)
    shape = rp.Shape(roto["curves"], name="Bezier1")
    for X, Y in poly:
        cp = rp.ShapeControlPoint()
        for t in frames:
            cp.center.addPositionKey(t, (X, 64 - Y))
        shape.append(cp)
    layer.append(shape)
    roto["curves"].rootLayer.append(layer)
    return roto


def test_nuke_a_merge_keyed_off_on_the_prompts_path_shows_its_a_input_only_where_it_is_on(tmp_path):
    """Read -> Roto 'hero' (B) and Roto 'villain' (A) -> Merge2 keyed off on frames 3-4 -> Prompts. Nuke shows the
    villain's shape on frames 1-2 only (a disabled Merge passes its B input through). Before: the Merge's value on
    the frame the Viewer stood on decided for every frame: parked on 1, villain prompted on all 4 frames (tracked
    into frames where the comp shows none of it); parked on 4, villain left out of the job altogether."""
    from samatte.demo import make_shot
    nuke_env, rp = _nuke()
    from samatte_nuke import farm, node as snode
    shot = make_shot(str(tmp_path / "shot"), frames=4, size=(64, 64), first=1001)
    nk = nuke_env.fresh()
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp" / "sh_v001.nk"))
        farm._memo.clear()
        read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
        hero = _roto(nk, rp, read, "hero", shot["polygon"], (1, 2, 3, 4))
        villain = _roto(nk, rp, read, "villain", [(x + 2, y) for x, y in shot["polygon"]], (1, 2, 3, 4))
        merge = nk.nodes.Merge2()
        merge.setInput(0, hero)
        merge.setInput(1, villain)
        for t in range(1, 5):
            merge["disable"].setValueAt(1.0 if t in (3, 4) else 0.0, t)
        g = snode.create("SAMatte1")
        g.setInput(0, read)
        g.setInput(1, merge)
        g["tracker"].setValue("shapes")
        jobs = {}
        for parked in (1, 4):
            nk.frame(parked)
            assert merge["disable"].value() is (parked == 4)
            jobs[parked], _ = snode.build(g)
        for parked, job in jobs.items():
            obs = {o["name"]: o for o in job["objects"]}
            assert sorted({q["frame"] for q in obs["hero"]["prompts"]}) == [1001, 1002, 1003, 1004], parked
            assert "villain" in obs, parked
            assert sorted({q["frame"] for q in obs["villain"]["prompts"]}) == [1001, 1002], parked
            assert obs["villain"].get("absent") == "1003-1004", parked
        assert jobs[1] == jobs[4]       # the job does not depend on the frame the Viewer shows
    finally:
        nk._reset()


def test_nuke_a_roto_moved_by_a_transform_behind_a_keyed_off_merge_is_moved_whatever_frame_is_viewed(tmp_path):
    """Read -> Roto 'villain' -> Transform (10 px right) -> Merge2 input A, the Merge keyed off on frames 3-4 ->
    Prompts. Parked on frame 4 (the Merge off there), the paths the adapter follows (convert.shown_inputs) left the
    Merge's A input out: the villain's shapes were prompted where drawn, not where the Prompts input shows them
    (10 px off on frames 1-2). Now the same job whichever frame is viewed, the shapes moved."""
    from samatte.demo import make_shot
    nuke_env, rp = _nuke()
    from samatte_nuke import farm, node as snode
    shot = make_shot(str(tmp_path / "shot"), frames=4, size=(64, 64), first=1001)
    nk = nuke_env.fresh()
    try:
        nk.root()["name"].setValue(str(tmp_path / "comp" / "sh_v001.nk"))
        farm._memo.clear()
        read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
        hero = _roto(nk, rp, read, "hero", shot["polygon"], (1, 2, 3, 4))
        villain = _roto(nk, rp, read, "villain", [(x + 2, y) for x, y in shot["polygon"]], (1, 2, 3, 4))
        tr = nk.nodes.Transform()
        tr.setInput(0, villain)
        tr["translate"].setValue([10.0, 0.0])
        merge = nk.nodes.Merge2()
        merge.setInput(0, hero)
        merge.setInput(1, tr)
        g = snode.create("SAMatte1")
        g.setInput(0, read)
        g.setInput(1, merge)
        g["tracker"].setValue("shapes")
        plain = {o["name"]: o for o in snode.build(g)[0]["objects"]}   # the Merge never off
        for t in range(1, 5):
            merge["disable"].setValueAt(1.0 if t in (3, 4) else 0.0, t)
        jobs = {}
        for parked in (1, 4):
            nk.frame(parked)
            jobs[parked], _ = snode.build(g)
        assert jobs[1] == jobs[4]
        obs = {o["name"]: o for o in jobs[4]["objects"]}
        for f in (1001, 1002):
            got = [q for q in obs["villain"]["prompts"] if q["frame"] == f]
            want = [q for q in plain["villain"]["prompts"] if q["frame"] == f]
            assert got == want, f
    finally:
        nk._reset()
