"""Quality map and per-frame score without ground truth."""
import cv2
import numpy as np
import pytest

from samatte.matte import quality as Q
from samatte.matte.stage import RefineMatter
from samatte.stages import ObjectTrack, Plate, PlateInfo, TrackFrame, Window

H, W = 96, 128


def _clip(n=8, step=3.0, seed=0):
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), 2.0)
    bg = 0.1 + 0.6 * (bg - bg.min()) / (bg.max() - bg.min())
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(n):
        a = np.clip((20 - np.hypot(x - 40 - step * i, y - 48)) / 2.0 + 0.5, 0, 1).astype(np.float32)
        lin = a[..., None] * np.array([0.9, 0.4, 0.2], np.float32) + (1 - a[..., None]) * bg
        out.append((a, lin.astype(np.float32), (np.clip(lin, 0, 1) ** (1 / 2.2)).astype(np.float32)))
    return out


def _soft(image, coarse, **kw):
    """Stand-in refiner: a slightly blurred mask."""
    return cv2.GaussianBlur(coarse.astype(np.float32), (0, 0), 1.0)


@pytest.mark.parametrize("broken", ["half", "blob", "empty"])
def test_broken_frame_scores_clearly_worse_than_neighbours(broken):
    clip = _clip()
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    m = RefineMatter(refiner=_soft)
    scores = []
    for i, (a, lin, disp) in enumerate(clip):
        mask = a >= 0.5
        if i == 4:
            mask = mask.copy()
            if broken == "half":
                mask[:, : int(40 + 3 * i)] = False
            elif broken == "blob":
                mask[5:40, 80:125] = True
            else:
                mask[:] = False
        tf = TrackFrame(1001 + i, {"obj": ObjectTrack(mask=mask, score=0.95)}, ref=1000 + i if i else None)
        mf = m.process(Plate(1001 + i, lin, disp, info), tf)
        assert 0.0 <= mf.score <= 1.0
        assert mf.quality is not None and mf.quality.shape == (H, W) and mf.quality.dtype == np.float32
        assert mf.quality.min() >= 0.0 and mf.quality.max() <= 1.0
        for k in ("obj.jump", "obj.area_jump", "obj.shift", "obj.tracker_score", "quality.band_doubt"):
            assert k in mf.stats
        scores.append(mf.score)
    good = [s for i, s in enumerate(scores) if i != 4]
    assert min(good) > 0.7, scores
    assert scores[4] < 0.5 * min(scores[3], scores[5]), scores


def test_tracker_score_lowers_frame_score():
    clip = _clip(2)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    a, lin, disp = clip[0]
    hi = RefineMatter(refiner=_soft).process(Plate(1, lin, disp, info), TrackFrame(1, {"o": ObjectTrack(a >= .5, score=1.0)}))
    lo = RefineMatter(refiner=_soft).process(Plate(1, lin, disp, info), TrackFrame(1, {"o": ObjectTrack(a >= .5, score=0.3)}))
    assert lo.score < 0.5 * hi.score


def test_pixel_doubt_flags_wrong_alpha_on_edges():
    clip = _clip(1)
    a, lin, _ = clip[0]
    from samatte.matte.foreground import premultiplied_foreground
    wrong = np.clip(a + 0.4 * ((a > 0) & (a < 1)) * np.sin(np.arange(W) / 2.0)[None, :], 0, 1).astype(np.float32)
    d = {}
    for name, alpha in (("right", a), ("wrong", wrong)):
        P, (box, F, B) = premultiplied_foreground(lin, alpha, return_background=True)
        doubt, stats = Q.pixel_doubt(lin, alpha, F, B, box=box)
        d[name] = stats["residual"]
    assert d["wrong"] > d["right"]


def test_jump_score_components():
    g0 = {"area": 1000, "cx": 50.0, "cy": 50.0}
    assert Q.jump_score(g0, None) == (1.0, 0.0, 0.0)
    s_same, _, _ = Q.jump_score(dict(g0, cx=52.0), g0)
    s_big, aj, _ = Q.jump_score(dict(g0, area=500), g0)
    assert s_same > 0.9 and s_big < 0.1 and abs(aj - 0.5) < 1e-9
    assert Q.jump_score({"area": 0, "cx": None, "cy": None}, g0)[0] == 0.0


def test_steady_fast_motion_is_not_a_jump():
    g0 = {"area": 400, "cx": 50.0, "cy": 50.0}
    g1 = dict(g0, cx=62.0)                        # 12 px/frame on a 20 px object
    assert Q.jump_score(g1, g0, frame_gap=1)[0] < 0.5
    assert Q.jump_score(g1, g0, frame_gap=1, velocity=(12.0, 0.0))[0] > 0.99
    # backward pass: the same velocity predicts the other way
    g_back = dict(g0, cx=38.0)
    assert Q.jump_score(g_back, g0, frame_gap=-1, velocity=(12.0, 0.0))[0] > 0.99


def test_broken_frame_on_fast_steady_motion():
    clip = _clip(n=8, step=6.0)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    m = RefineMatter(refiner=_soft, quality_map=False)
    scores = []
    for i, (a, lin, disp) in enumerate(clip):
        mask = a >= 0.5
        if i == 5:
            mask = np.roll(mask, 15, axis=0)          # the tracker jumped onto something else
        tf = TrackFrame(1001 + i, {"obj": ObjectTrack(mask=mask)}, ref=1000 + i if i else None)
        scores.append(m.process(Plate(1001 + i, lin, disp, info), tf).score)
    assert min(scores[2:5] + scores[6:]) > 0.9, scores
    assert scores[5] < 0.5 * min(scores[4], scores[6]), scores


def test_matte_contradicting_the_mask_lowers_the_score():
    clip = _clip(n=6)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    state = {"i": 0}

    def refiner(image, coarse, **kw):
        a = _soft(image, coarse)
        if state["i"] == 3:                       # the refiner lost the top half of the object
            a[: H // 2] = 0.0
        return a

    def run(temporal):
        m = RefineMatter(refiner=refiner, quality_map=False, options={"temporal": temporal})
        out = []
        for i, (a, lin, disp) in enumerate(clip):
            state["i"] = i
            tf = TrackFrame(1001 + i, {"obj": ObjectTrack(mask=a >= 0.5)}, ref=1000 + i if i else None)
            out.append(m.process(Plate(1001 + i, lin, disp, info), tf))
        return out

    # per-frame matte only: the dropout is seen and the frame is flagged
    out = run(False)
    scores = [mf.score for mf in out]
    assert out[3].stats["obj.disagreement"] > 0.3
    assert scores[3] < 0.5 * min(scores[2], scores[4]), scores
    # with temporal fusion the core carried over from the previous frame repairs most of the dropout
    out_t = run(True)
    assert out_t[3].stats["obj.disagreement"] < 0.5 * out[3].stats["obj.disagreement"]
    gt3 = clip[3][0]
    assert np.abs(out_t[3].alpha - gt3).mean() < 0.5 * np.abs(out[3].alpha - gt3).mean()
    share, s = Q.disagreement(np.zeros((H, W), np.float32), np.zeros((H, W), bool))
    assert share == 0.0 and s == 1.0


def test_a_flagged_frame_is_not_carried_over_and_does_not_become_the_reference():
    """A shifted mask on one frame (the tracker slipped): the frame is flagged; the next frame's
    matte is made from its own mask only (the flagged matte is not fused into it), and its score is
    judged against the last good frame, not the slipped one."""
    clip = _clip(n=8, step=3.0)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))

    def run(slip):
        m = RefineMatter(refiner=_soft, quality_map=False)
        out = []
        for i, (a, lin, disp) in enumerate(clip):
            mask = a >= 0.5
            if slip and i == 4:
                mask = np.roll(mask, 12, axis=1)
            tf = TrackFrame(1001 + i, {"obj": ObjectTrack(mask=mask)}, ref=1000 + i if i else None)
            out.append(m.process(Plate(1001 + i, lin, disp, info), tf))
        return out

    clean, slipped = run(False), run(True)
    scores = [mf.score for mf in slipped]
    assert scores[4] < 0.5 and min(scores[:4] + scores[5:]) > 0.8, scores
    assert slipped[5].stats.get("obj.temporal_skipped") == 1.0
    assert "obj.temporal_skipped" not in clean[5].stats
    # the frame after the slip is as close to the clean run's as a frame without history can be
    fresh = RefineMatter(refiner=_soft, quality_map=False)
    a5, lin5, disp5 = clip[5]
    alone = fresh.process(Plate(1006, lin5, disp5, info), TrackFrame(1006, {"obj": ObjectTrack(mask=a5 >= 0.5)}))
    assert np.array_equal(slipped[5].alpha, alone.alpha)
    assert np.abs(slipped[5].alpha - clean[5].alpha).max() <= np.abs(alone.alpha - clean[5].alpha).max() + 1e-6
