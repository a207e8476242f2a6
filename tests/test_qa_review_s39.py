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
