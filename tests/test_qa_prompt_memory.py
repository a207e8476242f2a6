"""QA: the memory of prepared prompts does not grow with the number of keyed polygon / bezier / mask
prompts (a roto keyed on every frame of a long shot held ~10 MB per key at 1080p: every key's bool
``mask_array`` and float32 ``soft_array`` at plate resolution, for the whole job). The rasters are now
computed when a tracker reads them (samatte.prompts.LazyRasterPrompt), with the same bytes, and the
checks that refuse an empty prompt still run up front."""
import tracemalloc

import numpy as np
import pytest

from samatte import prompts as P
from samatte.errors import PromptError
from samatte.prompts import prepare_objects
from samatte.stages import PlateInfo, Window

W, H = 320, 240
INFO = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))


def _poly(i):
    a = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    return [[float(120 + i % 40 + 70 * np.cos(t)), float(120 + 50 * np.sin(t))] for t in a]


def _objects(n, ptype="polygon"):
    ps = []
    for i in range(n):
        pts = _poly(i)
        if ptype == "bezier":
            pts = [[x, y, x - 3, y - 2, x + 3, y + 2] for x, y in pts]
        ps.append({"frame": 1001 + i, "type": ptype, "points": pts, "feather": 3.0, "invert": False,
                   "mode": "add", "closed": True})
    return [{"name": "hero", "prompts": ps}]


def _peak(fn):
    getattr(P, "clear_raster_cache", lambda: None)()
    tracemalloc.start()
    try:
        keep = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del keep
    return peak


@pytest.mark.parametrize("ptype", ["polygon", "bezier"])
def test_prepare_objects_peak_does_not_grow_with_the_keys(ptype):
    one = _peak(lambda: prepare_objects(_objects(1, ptype), INFO, range(1001, 1002)))
    many = _peak(lambda: prepare_objects(_objects(200, ptype), INFO, range(1001, 1201)))
    raster = H * W * 5  # one key's bool mask + float32 soft
    # before: ~200 rasters held (77 MB here); now the geometry of 200 keys and one raster at a time
    assert many < one + 30 * raster, (one, many)


def test_reading_every_key_keeps_the_cache_bounded_and_the_bytes(monkeypatch):
    monkeypatch.setattr(P, "RASTER_CACHE_BYTES", 3 * H * W * 5)
    objs = prepare_objects(_objects(40), INFO, range(1001, 1041))
    qs = [ql[0] for _, ql in sorted(objs[0].prompts.items())]
    first = {}
    for i, q in enumerate(qs):
        assert "mask_array" in q and "soft_array" in q
        m, s = q["mask_array"], q.get("soft_array")
        assert m.dtype == bool and m.shape == (H, W) and s.dtype == np.float32 and s.shape == (H, W)
        assert m.any() and (s[m] >= 0.5).all()
        first[i] = (m.tobytes(), s.tobytes())
    assert len(P._raster_cache) <= 3
    # computed again (dropped from the cache): the same bytes
    for i, q in enumerate(qs):
        assert q["mask_array"].tobytes() == first[i][0] and q["soft_array"].tobytes() == first[i][1]
    # as the eager code made them
    m, s = P._shape_arrays(np.asarray(qs[7]["points"], np.float64), (H, W), 3.0, False)
    assert m.tobytes() == first[7][0] and s.tobytes() == first[7][1]
    # a plain dict with both arrays for a caller that wants one
    d = qs[3].materialise()
    assert type(d) is dict and d["mask_array"].tobytes() == first[3][0]


def test_a_mask_prompt_read_again_gives_the_same_bytes(tmp_path):
    cv2 = pytest.importorskip("cv2")
    img = np.zeros((H, W), np.uint8)
    cv2.circle(img, (150, 110), 60, 255, -1)
    img = cv2.GaussianBlur(img, (0, 0), 4)
    path = str(tmp_path / "m.png")
    cv2.imwrite(path, img)
    objs = prepare_objects([{"name": "a", "prompts": [{"frame": 1, "type": "mask", "path": path,
                                                       "threshold": 0.3, "invert": True, "mode": "add"}]}],
                           INFO, [1])
    q = objs[0].prompts[1][0]
    m0, s0 = q["mask_array"].copy(), q["soft_array"].copy()
    P.clear_raster_cache()
    assert np.array_equal(q["mask_array"], m0) and q["soft_array"].tobytes() == s0.tobytes()


def test_the_empty_prompt_checks_still_come_up_front(tmp_path):
    # an inverted shape over the whole canvas, and a shape that covers no pixel centre: refused by
    # prepare_objects, before any tracker reads a raster
    full = [[-5.0, -5.0], [W + 5.0, -5.0], [W + 5.0, H + 5.0], [-5.0, H + 5.0]]
    with pytest.raises(PromptError, match="inverted polygon prompt leaves no pixel"):
        prepare_objects([{"name": "a", "prompts": [{"frame": 1, "type": "polygon", "points": full,
                                                    "invert": True}]}], INFO, [1])
    sliver = [[10.1, 10.1], [10.4, 10.1], [10.4, 10.4]]
    with pytest.raises(PromptError, match="covers no pixel"):
        prepare_objects([{"name": "a", "prompts": [{"frame": 1, "type": "polygon", "points": sliver}]}], INFO, [1])
    cv2 = pytest.importorskip("cv2")
    path = str(tmp_path / "empty.png")
    cv2.imwrite(path, np.zeros((H, W), np.uint8))
    with pytest.raises(PromptError, match="is empty at threshold"):
        prepare_objects([{"name": "a", "prompts": [{"frame": 1, "type": "mask", "path": path}]}], INFO, [1])


def test_sam2_prompt_collection_holds_no_mask_per_keyed_frame(monkeypatch):
    """The SAM 2 backend checked every keyed frame's combined prompts up front and kept each frame's
    full-resolution mask (and a correction's subtract shapes) for the whole job; it now makes them again
    when the session adds them, with the same bytes."""
    from samatte.stages import TrackerObject
    from samatte.track import sam2_backend as S
    n = 120
    frames = list(range(1001, 1001 + n))
    box = [[0.0, 0.0], [60.0, 0.0], [60.0, 240.0], [0.0, 240.0]]
    ps = _objects(n)[0]["prompts"] + [{"frame": f, "type": "polygon", "points": box, "mode": "subtract"}
                                      for f in frames[::10]]
    ps.append({"frame": frames[-1] + 1, "type": "polygon", "points": box, "mode": "subtract"})  # a correction
    frames.append(frames[-1] + 1)
    tob = prepare_objects([{"name": "hero", "prompts": ps}], INFO, frames)[0]
    tob = TrackerObject(name=tob.name, prompts=tob.prompts)
    tr = S.Sam2Tracker(predictor=object())
    idx = {f: i for i, f in enumerate(frames)}
    getattr(P, "clear_raster_cache", lambda: None)()
    monkeypatch.setattr(P, "RASTER_CACHE_BYTES", 2 * H * W * 5, raising=False)  # (the prompts' own cache)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ops = tr._collect_prompts([tob], idx, INFO.shape)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 20 * H * W, held   # before: a bool (H, W) mask per keyed frame, 120 of them
    op = ops[0]
    assert len(op.anchors) == n and sorted(op.corrections) == [n]
    for i in (0, 10, n - 1):
        got = S._resolve(op.anchors[i]["mask"])
        want = S._combine(tob.prompts[frames[i]], INFO.shape, "hero", frames[i])[0]
        assert got.dtype == bool and np.array_equal(got, want)
    sub = S._resolve(op.corrections[n][2])
    assert sub is not None and sub[:, :60].all() and not sub[:, 60:].any()
