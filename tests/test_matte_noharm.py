"""Do no harm: on objects whose alpha is soft over a large area (smoke, a net, a translucent sheet) or
full of fine structure, the refined matte is no worse than the coarse mask used as alpha (MAD, and
IoU of alpha >= 0.5 within 0.01). Five cases are known gaps (xfail, strict, on the assertion): they
fail today.

Small synthetic composites (<= 640 px), and cases of bench_synthstills (its 1080p proxy, and a
camouflaged shape at 480p; over DAVIS frames from ../shared/eval, skipped without them): ~20 s in all."""
import functools

import cv2
import numpy as np
import pytest

from samatte import metrics as M
from samatte.matte.refine import refine_alpha


def _iou(a, g):
    x, y = a >= 0.5, g >= 0.5
    return np.count_nonzero(x & y) / max(1, np.count_nonzero(x | y))


def _bg(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.stack([0.35 + 0.25 * np.sin(xx / 7.0) * np.cos(yy / 9.0), 0.4 + 0.2 * np.cos(xx / 5.0 + yy / 11.0),
                   0.3 + 0.2 * np.sin(yy / 6.0)], -1)
    return np.clip(bg + rng.normal(0, 0.02, bg.shape), 0, 1).astype(np.float32)


def _noise(h, w, seed, sigma):
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    return (n - n.mean()) / (n.std() + 1e-6)


def _shared_noise(rng, h, w):
    """Fine colour noise around mid-grey, (h, w, 3) in [0, 1]: the same colours wherever it is used."""
    return np.clip(0.5 + 0.5 * cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 1.0), 0, 1)


def smoke(h=160, w=200, seed=1):
    """Grey smoke: alpha 0.15-0.75 varying smoothly over most of a large blob."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.clip((60.0 - np.hypot((yy - h / 2) * 1.2, xx - w / 2)) / 25.0, 0, 1)
    alpha = np.clip(blob * (0.45 + 0.2 * _noise(h, w, seed, 6.0)), 0, 0.85).astype(np.float32)
    fg = np.full((h, w, 3), 0.85, np.float32)
    return alpha, fg


def net(h=160, w=200):
    """A net: 2-px opaque strings 9 px apart, holes between; the mask fills the whole net."""
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (np.abs(yy - h / 2) < 55) & (np.abs(xx - w / 2) < 70)
    strings = ((yy % 9) < 2) | ((xx % 9) < 2)
    alpha = cv2.GaussianBlur((inside & strings).astype(np.float32), (0, 0), 0.5)
    fg = np.zeros((h, w, 3), np.float32) + np.array([0.9, 0.85, 0.2], np.float32)
    return alpha, fg, inside.astype(np.float32)


def sheet(h=160, w=200):
    """A translucent sheet, 45 % opaque, with a soft edge: the roto covers it."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.minimum(55 - np.abs(yy - h / 2), 70 - np.abs(xx - w / 2))
    alpha = (0.45 * np.clip(d / 2.0 + 0.5, 0, 1)).astype(np.float32)
    fg = np.zeros((h, w, 3), np.float32) + np.array([0.2, 0.5, 0.9], np.float32)
    return alpha, fg, (d > 0).astype(np.float32)


def furry(h=160, w=200, seed=3):
    """Fine structure all over: an opaque body covered with thin strands that reach far out."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = np.hypot(yy - h / 2, xx - w / 2) < 35
    strands = np.zeros((h, w), np.float32)
    for _ in range(90):
        a = rng.uniform(0, 2 * np.pi)
        r0, r1 = 20.0, rng.uniform(45, 70)
        p0 = (int(w / 2 + r0 * np.cos(a)), int(h / 2 + r0 * np.sin(a)))
        a2 = a + rng.normal(0, 0.25)
        p1 = (int(w / 2 + r1 * np.cos(a2)), int(h / 2 + r1 * np.sin(a2)))
        cv2.line(strands, p0, p1, 1.0, 1, cv2.LINE_AA)
    alpha = np.clip(body + 0.8 * strands, 0, 1).astype(np.float32)
    fg = np.zeros((h, w, 3), np.float32) + np.array([0.55, 0.35, 0.2], np.float32)
    return alpha, fg


def ds(alpha, f=8):
    h, w = alpha.shape
    hard = (alpha >= 0.5).astype(np.float32)
    small = cv2.resize(hard, (w // f, h // f), interpolation=cv2.INTER_AREA)
    return (cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5).astype(np.float32)


def _case(name):
    if name == "smoke":
        alpha, fg = smoke()
        mask = ds(alpha)
    elif name == "net":
        alpha, fg, mask = net()
    elif name == "sheet":
        alpha, fg, mask = sheet()
    else:
        alpha, fg = furry()
        mask = ds(alpha)
    bg = _bg(*alpha.shape, seed=7)
    img = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    return img, alpha, mask


@pytest.mark.parametrize("name", ["smoke", "net", "furry"])
def test_refined_matte_is_no_worse_than_the_mask_mad(name):
    img, alpha, mask = _case(name)
    out = refine_alpha(img, mask, mask="auto")
    assert M.mad(out, alpha) <= M.mad(mask, alpha), name


@pytest.mark.parametrize("name", ["net", "furry", "sheet"])
def test_refined_matte_keeps_the_mask_iou(name):
    img, alpha, mask = _case(name)
    out = refine_alpha(img, mask, mask="auto")
    assert _iou(out, alpha) >= _iou(mask, alpha) - 0.01, name


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known gap (issue 15): inside smoke the mask's solid region is itself "
                   "a mix, so the samples take it for pure foreground and the refined alpha >= 0.5 region "
                   "shrinks (IoU 0.72 -> 0.70; 0.67 without RefineParams.tie)")
def test_smoke_keeps_the_mask_iou():
    img, alpha, mask = _case("smoke")
    out = refine_alpha(img, mask, mask="auto")
    assert _iou(out, alpha) >= _iou(mask, alpha) - 0.01


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known gap (issue 15): a 45 %-opaque sheet inside its roto stays "
                   "solid (its inside is far from the band) and its edge comes out ~1 % worse than the mask")
def test_translucent_sheet_no_worse_than_the_mask():
    img, alpha, mask = _case("sheet")
    out = refine_alpha(img, mask, mask="auto")
    assert M.mad(out, alpha) <= M.mad(mask, alpha)


def test_the_growth_self_check_falls_back_where_growth_did_not_close():
    # the sheet's band grows into the sheet and never closes (its inside is a 45 % mix) with the
    # sampling radius tight masks had before 0.2.4 (10; at 5 the growth closes: MAD 264.2, the mask's
    # 263.9): with the self-check on, that region falls back to the base band's answer, which is nearer
    # the truth
    img, alpha, mask = _case("sheet")
    off = refine_alpha(img, mask, mask="auto", options={"runaway": 1.0, "sm_expand": 10})
    info = {}
    on = refine_alpha(img, mask, mask="auto", options={"runaway": 0.25, "sm_expand": 10}, info=info)
    assert info.get("fallback", 0) >= 1 and info.get("fallback_px", 0) > 0
    assert M.mad(on, alpha) < M.mad(off, alpha)


def test_the_evidence_check_keeps_the_mask_label_where_the_image_does_not_explain_the_departure():
    # a mask over the left half (red object, blue background); inside it, two patches the matte
    # called background: one blue (a hole, explained by a = 0), one grey (a shadow-like colour that
    # neither a = 0 nor a = 1 explains). The check keeps the hole and restores the grey patch's label.
    from types import SimpleNamespace
    from samatte.matte.params import params_for
    from samatte.matte.refine import _colour_models, _evidence_check
    h = w = 64
    hard = np.zeros((h, w), bool)
    hard[:, :32] = True
    img = np.where(hard[..., None], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]).astype(np.float32)
    img[10:20, 20:28] = [0.1, 0.1, 0.8]
    img[40:50, 20:28] = [0.35, 0.35, 0.35]
    alpha = hard.astype(np.float32)
    alpha[10:20, 20:28] = 0.0
    alpha[40:50, 20:28] = 0.0
    k = np.ones((9, 9), np.uint8)
    fg = cv2.erode(hard.astype(np.uint8), k) > 0
    bg = cv2.erode((~hard).astype(np.uint8), k) > 0
    wk = SimpleNamespace(image=img, fg=fg, bg=bg, scale=1.0)
    c = SimpleNamespace(image=img, coarse=hard.astype(np.float32), hard=hard, base=4.0)
    p = params_for(options={"evidence": 2.0, "decisive": 0.0})
    info = {}
    out = _evidence_check(alpha, c, wk, p, _colour_models(wk, p), info)
    assert np.all(out[10:20, 20:28] < 0.05)           # the hole: explained, kept
    assert np.all(out[40:50, 20:28] >= 0.5)           # the grey patch: the mask's label restored
    assert info["evidence_px"] >= 80
    assert np.array_equal(out[:, 40:], alpha[:, 40:])  # agreement with the mask is untouched
    assert _colour_models(wk, params_for()) is None    # off by default
    # (RefineParams.decisive off above: a matte this binary is one the solve decided, and by default
    # what the solve decided stands)
    p = params_for(options={"evidence": 2.0})
    info = {}
    assert np.array_equal(_evidence_check(alpha, c, wk, p, _colour_models(wk, p), info), alpha)
    assert info["undecided"] == 0.0


def test_the_evidence_check_keeps_more_of_the_smoke():
    img, alpha, mask = _case("smoke")
    off = refine_alpha(img, mask, mask="auto", options={"auto_evidence": 0.0})
    on = refine_alpha(img, mask, mask="auto", options={"evidence": 1.0})
    assert _iou(on, alpha) > _iou(off, alpha) + 0.01


def _options_seen(opts):
    """The refiner options one RefineMatter(options=opts).frame_alpha call hands its refiner."""
    from samatte.matte.stage import RefineMatter
    seen = []

    def refiner(image, coarse, **kw):
        seen.append(kw.get("options"))
        return coarse

    obj = type("O", (), {"mask": np.ones((8, 8), np.float32), "logits": None})()
    RefineMatter(options=opts, refiner=refiner).frame_alpha(None, "o", obj, image=np.zeros((8, 8, 3), np.float32))
    return seen


def test_the_matte_option_evidence_reaches_the_refiner():
    assert _options_seen({"evidence": 1.5}) == [{"evidence": 1.5}]


def test_the_matte_option_ramp_measured_reaches_the_refiner():
    assert _options_seen({"ramp_measured": True}) == [{"ramp_measured": True}]
    assert _options_seen({"ramp_measured": False}) == [None]


def test_colour_overlap_says_how_well_colour_tells_the_object_from_its_background():
    from samatte.matte.refine import colour_overlap
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    hard = np.hypot(yy - 60, xx - 80) < 35
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.03, (h, w, 3)).astype(np.float32)
    # a red object on a blue background: disjoint colours
    clean = np.clip(np.where(hard[..., None], [0.8, 0.2, 0.1], [0.1, 0.2, 0.8]) + noise, 0, 1).astype(np.float32)
    assert colour_overlap(clean, hard) < 0.05
    # the same colour noise on both sides: colour cannot tell them apart
    tex = _shared_noise(rng, h, w)
    assert colour_overlap(tex, hard) > 0.7
    # half way: an object sharing part of its colours with the background
    mixed = clean.copy()
    mixed[hard & (xx < 80)] = clean[0, 0]
    assert 0.1 < colour_overlap(mixed, hard) < 0.6


def test_the_evidence_check_switches_itself_on_only_where_colours_overlap():
    # clean colours (the sheet on its background): the check stays off, the matte is bit-identical
    img, alpha, mask = _case("sheet")
    info = {}
    on = refine_alpha(img, mask, mask="auto", info=info)
    off = refine_alpha(img, mask, mask="auto", options={"auto_evidence": 0.0})
    assert info["distrust"] == 0.0 and np.array_equal(on, off)
    # the net: its strings and the background seen through it share the mask's rings -> no trust;
    # the check keeps the mask's label where the colours do not explain a departure
    img, alpha, mask = _case("net")
    info = {}
    on = refine_alpha(img, mask, mask="auto", info=info)
    assert info["distrust"] == 1.0 and info["overlap"] > 0.4
    assert M.mad(on, alpha) <= M.mad(mask, alpha)
    assert _iou(on, alpha) >= _iou(mask, alpha) - 0.01


def _plant(h=200, w=240, n=40, seed=5):
    """Crisp green leaves (ellipses 40-72 px long, 6-12 px wide) scattered over a blue-to-sand sky:
    a see-through plant whose colours are disjoint from what is behind it."""
    rng = np.random.default_rng(seed)
    alpha = np.zeros((h, w), np.float32)
    for _ in range(n):
        cy, cx, angle = rng.normal(h / 2, 30), rng.normal(w / 2, 38), rng.uniform(0, 180)
        axes = (int(rng.uniform(20, 36)), int(rng.uniform(3, 6)))
        cv2.ellipse(alpha, (int(cx), int(cy)), axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)
    noise = np.random.default_rng(1)
    fg = np.clip(np.array([0.25, 0.6, 0.15], np.float32) + noise.normal(0, 0.02, (h, w, 3)), 0, 1)
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32) / h
    bg = np.stack([0.45 + 0.1 * yy, 0.55 + 0.05 * yy, 0.85 - 0.3 * yy], -1)
    bg = np.clip(bg + noise.normal(0, 0.02, (h, w, 3)), 0, 1)
    return (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32), alpha


@functools.lru_cache(maxsize=1)
def _plant_refined():
    """The plant under a 16x-downsampled mask and its default matte: (image, alpha, mask, matte,
    what the refiner decided)."""
    img, alpha = _plant()
    mask = ds(alpha, 16)
    info = {}
    return img, alpha, mask, refine_alpha(img, mask, mask="auto", info=info), info


def test_the_evidence_check_leaves_what_the_solve_decided_where_the_overlap_is_the_mask_s_error():
    # a plant seen through, its mask downsampled 16x: each of the mask's rings holds leaves and sky,
    # so their colours overlap and the check switches itself on, but the colours are disjoint and the
    # solve decides most of its band; the leaves and gaps it decided stand (RefineParams.decisive)
    img, alpha, mask, on, info = _plant_refined()
    off = refine_alpha(img, mask, mask="auto", options={"decisive": 0.0})
    assert info["distrust"] > 0.5 and info["undecided"] < 0.3
    assert M.mad(on, alpha) < 0.9 * M.mad(off, alpha)
    assert M.mad(on, alpha) < 0.7 * M.mad(mask, alpha)


def test_where_the_solve_is_decisive_its_undecided_departures_in_the_background_s_colours_stand():
    # the same plant and mask: the solve decides most of its band, but leaves the narrow gaps between
    # leaves partly transparent; they show the sky, a colour of the background, and stand instead of
    # being pulled back to the mask (RefineParams.decisive_typical)
    img, alpha, mask, on, _ = _plant_refined()
    off = refine_alpha(img, mask, mask="auto", options={"decisive_typical": 0.0})
    assert M.mad(on, alpha) < 0.92 * M.mad(off, alpha)
    # a departure in the object's own colour is still pulled back: inside the mask, where the image
    # shows the leaves' green, the matte is the one without the field
    leaf = (alpha >= 0.999) & (mask >= 0.5)
    assert leaf.sum() > 1000 and np.array_equal(on[leaf], off[leaf])


def test_the_evidence_check_still_holds_where_the_solve_cannot_decide():
    # the net: colours shared by the strings' rings and the background seen through them; the solve
    # leaves much of its band half transparent, so the check pulls back as before (bit-identical)
    img, alpha, mask = _case("net")
    info = {}
    on = refine_alpha(img, mask, mask="auto", info=info)
    off = refine_alpha(img, mask, mask="auto", options={"decisive": 0.0})
    assert info["distrust"] == 1.0 and info["undecided"] >= 0.3 and info["evidence_px"] > 1000
    assert np.array_equal(on, off)


def test_the_matte_option_evidence_auto_reaches_the_refiner():
    from samatte import registry
    for opts, want in (({}, None), ({"evidence_auto": False}, {"auto_evidence": 0.0}),
                       ({"evidence_auto": False, "evidence": 1.0}, {"evidence": 1.0, "auto_evidence": 0.0})):
        assert _options_seen(opts) == [want], opts
    assert registry.option_defaults("matte", "refine")["evidence_auto"] is True


def test_colour_overlap_of_a_thin_object_is_not_taken_for_disjoint_colours():
    # a bar too thin to have an inner ring at the working scale (a bike's frame, a thin rider's polygon):
    # its own pixels are the sample, so colour noise shared with the background reads as overlap, not 0
    from samatte.matte.refine import colour_overlap
    h, w = 240, 320
    rng = np.random.default_rng(3)
    tex = _shared_noise(rng, h, w)
    hard = np.zeros((h, w), bool)
    hard[118:123, 40:280] = True
    assert colour_overlap(tex, hard) > 0.5
    clean = np.where(hard[..., None], [0.9, 0.1, 0.1], [0.1, 0.1, 0.9]).astype(np.float32)
    assert colour_overlap(clean, hard) < 0.05


def test_the_stage_reports_how_far_colour_was_trusted():
    # the matte stage's per-frame stats say what the automatic evidence check measured, per object
    from samatte.matte.stage import RefineMatter
    from samatte.stages import ObjectTrack, Plate, PlateInfo, TrackFrame, Window
    img, alpha, mask = _case("net")
    h, w = alpha.shape
    info = PlateInfo(data=Window(0, 0, w, h), display=Window(0, 0, w, h))
    mf = RefineMatter(foreground=False, quality_map=False).process(
        Plate(1, img, img, info), TrackFrame(1, {"net": ObjectTrack(mask >= 0.5)}))
    assert mf.stats["net.colour_distrust"] == 1.0 and mf.stats["net.colour_overlap"] > 0.4


def foliage(h=480, w=640, seed=5):
    """Fine structure all over at a plate's scale: ~150 opaque leaves 10-30 px long and 4-12 px wide,
    their colour the background's own (a plant against foliage), gaps between them."""
    rng = np.random.default_rng(seed)
    ss = 4
    big = np.zeros((h * ss, w * ss), np.uint8)
    for _ in range(150):
        cy, cx = rng.normal(h / 2, h / 7), rng.normal(w / 2, w / 7)
        L = rng.uniform(10, 30)
        cv2.ellipse(big, (int(cx * ss), int(cy * ss)), (int(L * ss), int(L * rng.uniform(0.2, 0.4) * ss)),
                    rng.uniform(0, 180), 0, 360, 255, -1)
    alpha = cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    bg = _bg(h, w, seed=11)
    fg = np.clip(bg.mean((0, 1)) * (1.0 + 0.25 * _noise(h, w, seed + 1, 4.0))[..., None], 0, 1)
    return alpha.astype(np.float32), fg.astype(np.float32), bg


def _foliage_case():
    alpha, fg, bg = foliage()
    img = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    return img, alpha, ds(alpha)


def test_a_mask_of_many_small_parts_keeps_its_band_narrower_than_the_parts():
    # a rough (ds8) mask of small leaves, colours the background's: a band ~1 % of the frame is as wide
    # as the leaves, so colour alone (which cannot tell them from the background) decides each leaf;
    # the band capped at the mask's mean depth cuts the error by more than a third (measured: MAD
    # 39.6 uncapped, 23.4 capped, 22.7 the mask's)
    img, alpha, mask = _foliage_case()
    capped = refine_alpha(img, mask, mask="rough")
    uncapped = refine_alpha(img, mask, mask="rough", options={"depth_cap": 0.0})
    assert M.mad(capped, alpha) < 0.7 * M.mad(uncapped, alpha)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known gap (issue 15): leaves 4-12 px wide in the background's own "
                   "colours with a ds8 mask: the capped band still comes out ~3 % worse than the mask "
                   "(MAD 23.4 vs 22.7)")
def test_small_parts_in_the_background_colours_no_worse_than_the_mask():
    img, alpha, mask = _foliage_case()
    assert M.mad(refine_alpha(img, mask, mask="rough"), alpha) <= M.mad(mask, alpha)


def rider(h=360, w=480, seed=0):
    """A thin part on a big one: an 18-px bar (a rider: white head, black vest, brown below) on a wide
    ellipse (the horse), over a cloudy sky, dark trees and sand. The head is in the clouds' colours."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = ((yy - 250) / 70) ** 2 + ((xx - 240) / 170) ** 2 < 1
    bar = (np.abs(xx - 240) < 9) & (yy > 60) & (yy < 200)
    alpha = cv2.GaussianBlur((body | bar).astype(np.float32), (0, 0), 0.7)
    fg = np.zeros((h, w, 3), np.float32) + np.array([0.55, 0.3, 0.15], np.float32)
    fg[yy < 140] = [0.05, 0.05, 0.06]
    fg[yy < 90] = [0.9, 0.9, 0.9]
    bg = np.zeros((h, w, 3), np.float32) + np.array([0.45, 0.65, 0.95], np.float32)
    cl = cv2.GaussianBlur((rng.random((h, w)) > 0.995).astype(np.float32), (0, 0), 9)
    bg = bg + (cl / cl.max())[..., None] * (np.array([0.95, 0.95, 0.97], np.float32) - bg)
    bg[yy > 300] = [0.75, 0.7, 0.6]
    bg[(yy > 180) & (xx > 400)] = [0.08, 0.12, 0.06]
    img = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    img = np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1).astype(np.float32)
    return img, alpha.astype(np.float32), bar


def test_a_thin_part_on_a_big_one_keeps_its_core_when_the_band_is_capped_part_by_part():
    # the mask's mean depth is the horse's, so the global cap leaves the rider's band as wide as the
    # rider and the head goes to the clouds; capped part by part, the rider keeps its core (measured:
    # 79 % of the bar kept, MAD 3.1 without; 99 %, MAD 0.4 with; the mask's MAD 3.9)
    from samatte.matte.regions import critical_regions, distance_to_boundary, local_limit
    img, alpha, bar = rider()
    mask = ds(alpha)
    off = refine_alpha(img, mask, mask="rough", options={"depth_local": 0.0})
    on = refine_alpha(img, mask, mask="rough", options={"depth_local": 0.75})
    assert np.mean(off[bar] >= 0.5) < 0.9
    assert np.mean(on[bar] >= 0.5) > 0.97
    assert M.mad(on, alpha) < 0.5 * M.mad(off, alpha)
    # the cap binds on the thin part only: a disc's band is left as it was
    disc = np.zeros((200, 200), bool)
    cv2.circle(disc.view(np.uint8), (100, 100), 60, 1, -1)
    assert local_limit(disc, distance_to_boundary(disc), 4.0, 0.75) is None
    hard = mask >= 0.5
    lim = local_limit(hard, distance_to_boundary(hard), 4.0, 0.75)
    assert lim is not None and lim[120, 240] < 4.0 and lim[250, 80] >= 4.0
    # it caps the base band's width (Regions.width says what was used), not what the video adds:
    # pixels the video doubts join the band however deep the part is
    doubt = np.zeros(hard.shape, np.float32)
    dist = distance_to_boundary(hard)
    ys, xs = np.nonzero(hard & (dist > lim) & (dist <= 4.0))     # in the base band, past the cap
    assert ys.size > 10
    doubt[ys[: ys.size // 2], xs[: xs.size // 2]] = 1.0
    kw = dict(base_width=4.0, adaptive=False)
    capped = critical_regions(img, mask, depth_local=0.75, **kw)
    assert (capped.width <= np.maximum(lim, 1.0) + 1e-6)[hard].all()
    assert (capped.width < 4.0).any() and not capped.unknown[ys[-1], xs[-1]]
    assert critical_regions(img, mask, depth_local=0.75, doubt=doubt, **kw).unknown[ys[0], xs[0]]


def test_the_base_band_is_capped_by_the_mask_depth_not_only_its_area():
    from samatte.matte.refine import _base_width, _part_depth
    strips = np.zeros((600, 800), bool)
    strips[100:500, 100:700] = True
    strips[:, ::20] = False                         # 19-px wide strips: depth ~ 5 px
    disc = np.zeros((600, 800), bool)
    cv2.circle(disc.view(np.uint8), (400, 300), 150, 1, -1)
    assert 4.0 < _part_depth(strips) < 6.0
    assert 45.0 < _part_depth(disc) < 55.0          # a third of the radius
    wide = _base_width(np.sqrt(strips.sum()), 600, 800, 0.01)
    assert wide == pytest.approx(10.0)              # 1 % of the diagonal: the area cap says nothing
    assert _base_width(np.sqrt(strips.sum()), 600, 800, 0.01, _part_depth(strips), 0.75) < 4.5
    assert _base_width(np.sqrt(disc.sum()), 600, 800, 0.01, _part_depth(disc), 0.75) == pytest.approx(10.0)


def _typical_inputs():
    from types import SimpleNamespace
    h, w = 40, 60
    hard = np.zeros((h, w), bool)
    hard[:, :30] = True                                  # the mask: the left half
    img = np.zeros((h, w, 3), np.float32)
    img[:, :30] = [0.8, 0.2, 0.2]                        # the object: red ...
    img[::4, :24] = [0.3, 0.3, 0.3]                      # ... with grey stripes of its own
    img[:, 30:] = [0.2, 0.3, 0.8]                        # the background: blue
    c = SimpleNamespace(coarse=hard.astype(np.float32), hard=hard, base=3.0, image=img, doubt=None)
    dist = np.abs(np.arange(w) - 29.5)[None].repeat(h, 0)
    wk = SimpleNamespace(fg=hard & (dist > 3), bg=~hard & (dist > 3), image=img)
    return c, wk, hard


def test_the_typical_colour_check_undoes_flips_in_the_colours_of_the_mask_side():
    from samatte.matte.params import params_for
    from samatte.matte.refine import _typical_check
    c, wk, hard = _typical_inputs()
    alpha = hard.astype(np.float32)
    alpha[4, 20] = 0.1                                   # a grey stripe pixel flipped to background
    alpha[5, 20] = 0.1                                   # a red pixel flipped
    alpha[6, 20] = 0.7                                   # partial alpha in the object's colour: not a flip
    alpha[8, 36] = 0.9                                   # a blue pixel outside flipped to foreground
    out = _typical_check(alpha, c, wk, params_for("default", "rough"))
    assert out[4, 20] >= 0.99 and out[5, 20] >= 0.99     # back to the ramp (1 this deep inside)
    assert out[6, 20] == pytest.approx(0.7)
    assert out[8, 36] <= 0.01
    # off: nothing changes
    assert np.array_equal(_typical_check(alpha, c, wk, params_for("default", "rough", {"typical": 0.0})), alpha)


def test_the_typical_colour_check_keeps_flips_in_colours_of_the_other_side():
    from samatte.matte.params import params_for
    from samatte.matte.refine import _typical_check
    c, wk, hard = _typical_inputs()
    c.image = c.image.copy()
    c.image[10, 20] = [0.2, 0.3, 0.8]                    # background blue seen through a hole in the object
    alpha = hard.astype(np.float32)
    alpha[10, 20] = 0.0
    out = _typical_check(alpha, c, wk, params_for("default", "rough"))
    assert out[10, 20] == 0.0


def test_the_typical_colour_check_leaves_pixels_the_video_doubts_alone():
    from samatte.matte.params import params_for
    from samatte.matte.refine import _typical_check
    c, wk, hard = _typical_inputs()
    alpha = hard.astype(np.float32)
    alpha[8, 36] = 0.9                                   # outside, flipped: a wisp the video found
    c.doubt = np.zeros(hard.shape, np.float32)
    c.doubt[8, 36] = 1.0
    assert _typical_check(alpha, c, wk, params_for("default", "rough"))[8, 36] == pytest.approx(0.9)


def test_the_ramp_the_checks_pull_back_to_is_as_wide_as_the_ramp_field_says():
    from samatte.matte.params import params_for
    from samatte.matte.refine import _typical_check
    c, wk, hard = _typical_inputs()
    c.base = 8.0
    alpha = hard.astype(np.float32)
    alpha[5, 27] = 0.1                                   # a red pixel 2.5 px inside the edge, flipped
    full = _typical_check(alpha, c, wk, params_for("default", "rough"))
    half = _typical_check(alpha, c, wk, params_for("default", "rough", {"ramp": 0.25}))
    # the ramp is 0.5 at the edge and 1 one base band (x ramp) inside: 2.5 px in, 0.5 + 2.5 / 16
    # with the full band, solid with a quarter of it (2 px)
    assert full[5, 27] == pytest.approx(0.5 + 2.5 / 16.0, abs=0.02)
    assert half[5, 27] == pytest.approx(1.0)


def _edge_crop(profile, explained=True):
    """A crop whose left part is the mask, with the matte ``profile`` (alpha by column) composited
    exactly (red over blue) when ``explained``, else over an image that does not follow it."""
    from types import SimpleNamespace
    h, w = 40, 80
    hard = np.zeros((h, w), bool)
    hard[:, :40] = True
    alpha = np.repeat(np.asarray(profile, np.float32)[None], h, 0)
    F, B = np.array([0.8, 0.2, 0.2], np.float32), np.array([0.2, 0.3, 0.8], np.float32)
    img = alpha[..., None] * F + (1.0 - alpha[..., None]) * B
    if not explained:
        img = np.full_like(img, 0.5)                     # grey: on no line between the sides
    c = SimpleNamespace(coarse=hard.astype(np.float32), hard=hard, base=20.0, image=img.astype(np.float32), doubt=None)
    models = (np.broadcast_to(F, (h, w, 3)).copy(), np.broadcast_to(B, (h, w, 3)).copy())
    return c, alpha, models


def test_the_ramp_is_measured_as_wide_as_the_object_s_own_edges_where_the_image_explains_them():
    from samatte.matte.params import params_for
    from samatte.matte.refine import _measured_half
    p = params_for("default", "rough", {"evidence": 2.0})
    x = np.arange(80)
    crisp = np.clip(40.5 - x, 0.0, 1.0)                  # 1 soft px per row: an anti-aliased edge
    soft = np.clip((50.0 - x) / 20.0, 0.0, 1.0)          # 19 soft px per row: a wide soft margin
    c, a, models = _edge_crop(crisp)
    assert _measured_half(a, c, p, models) == pytest.approx(0.5, abs=0.1)
    c, a, models = _edge_crop(soft)
    assert _measured_half(a, c, p, models) == pytest.approx(9.5, abs=1.0)
    # soft pixels the compositing equation does not explain are not the object's edges
    c, a, models = _edge_crop(soft, explained=False)
    assert _measured_half(a, c, p, models) < 1.0


def test_the_evidence_check_pulls_a_crisp_object_to_a_ramp_no_wider_than_its_edges():
    from samatte.matte.params import params_for
    from samatte.matte.refine import _evidence_check
    x = np.arange(80)
    crisp = np.clip(40.5 - x, 0.0, 1.0)
    c, truth, models = _edge_crop(crisp)
    alpha = truth.copy()
    alpha[:, 30:34] = 0.3                                # a flip 7-10 px inside that nothing explains
    c.image[:, 30:34] = [0.0, 1.0, 0.0]                  # green: on no line between the sides
    from types import SimpleNamespace
    col = np.arange(80)[None].repeat(40, 0)
    wk = SimpleNamespace(image=c.image, fg=col < 20, bg=col >= 60)   # the sides past the 20-px band
    p = params_for("default", "rough", {"evidence": 2.0, "ramp_measured": True})
    measured = _evidence_check(alpha, c, wk, p, models)
    wide = _evidence_check(alpha, c, wk, params_for("default", "rough", {"evidence": 2.0, "ramp_measured": False}),
                           models)
    # with the measured ramp (1 px: solid from 1 px inside) the flip goes back to solid; with the base
    # band's 20-px ramp it stays the ramp's 0.7-0.75 there, a soft edge the object does not have
    assert measured[:, 30:34].min() >= 0.99
    assert 0.6 < wide[:, 30:34].max() < 0.8


def _bench(name):
    """A module of the repo's bench/ (its cases and masks, read from ../shared/eval)."""
    import importlib
    import os
    import sys
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module(name)


@functools.lru_cache(maxsize=2)
def _proxy_case(kind, idx, protocol, scale=2.25, camouflaged=False):
    """bench_synthstills' case ``kind``/``idx`` at ``scale`` (2.25: 1920x1080, its held-out-like
    proxy), ``camouflaged``: in its background's colours whatever the case's draw (``--near-bg 1``):
    the display image the refiner decides on, the linear one it solves on, the exact alpha and
    bench_stills' ``protocol`` mask of it; skipped without ../shared/eval."""
    S = _bench("bench_synthstills")
    make_mask = _bench("bench_stills").make_mask
    if not S.backgrounds():
        pytest.skip("no DAVIS frames in ../shared/eval")
    from samatte.colour import srgb_oetf
    from samatte.matte.stage import exposure_gain, soft_clip
    comp, alpha, desc = S.make_case(kind, idx, scale, **({"near_bg": 1.0} if camouflaged else {}))
    if camouflaged and not desc.endswith("~bg"):
        pytest.fail("bench_synthstills did not camouflage %s%d: %s" % (kind, idx, desc))
    mask = make_mask((alpha > 0.5).astype(np.float32), protocol)
    return srgb_oetf(comp).astype(np.float32), soft_clip(comp * exposure_gain(comp)), alpha, mask


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="known gap (issue 15): a crisp shape in its background's colours with "
                   "a polygon at 1080p (bench_synthstills control7): colour cannot place its edge, and the "
                   "evidence check pulls what it does not trust to the base band's 22-px ramp, a soft edge "
                   "the shape does not have (MAD 5.1 vs the mask's 2.8; RefineParams.ramp_measured: 3.2)")
def test_a_crisp_shape_in_its_background_s_colours_at_1080p_is_no_worse_than_its_polygon():
    disp, solve, alpha, mask = _proxy_case("control", 7, "polygon")
    out = refine_alpha(disp, mask, mask="auto", solve_image=solve)
    assert M.mad(out, alpha) <= M.mad(mask, alpha)


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="known gap (issue 15): a crisp shape in its background's colours is worse than its "
                   "polygon at 480p too (bench_synthstills --near-bg 1, control6: MAD 5.4 vs the mask's 3.0; "
                   "13 of the 24 camouflaged control cases with ds32 / polygon masks): the solve leaves a "
                   "0.05-0.2 haze over the background's structure beside it and a rim below 1 inside; a band "
                   "narrowed where colours overlap fixes it but costs see-through foliage, fur and smoke "
                   "(bench/RESULTS.md round 15)")
def test_a_camouflaged_crisp_shape_at_480p_is_no_worse_than_its_polygon():
    disp, solve, alpha, mask = _proxy_case("control", 6, "polygon", scale=1.0, camouflaged=True)
    out = refine_alpha(disp, mask, mask="auto", solve_image=solve)
    assert M.mad(out, alpha) <= M.mad(mask, alpha)


def test_the_measured_ramp_halves_that_harm():
    disp, solve, alpha, mask = _proxy_case("control", 7, "polygon")
    base = M.mad(mask, alpha)
    wide = M.mad(refine_alpha(disp, mask, mask="auto", solve_image=solve), alpha) - base
    narrow = M.mad(refine_alpha(disp, mask, mask="auto", solve_image=solve, options={"ramp_measured": True}),
                   alpha) - base
    assert wide > 0 and narrow < 0.5 * wide


def test_ramp_measured_counts_a_decisive_solve_s_soft_pixels():
    # GT13 (a plant seen through, its polygon off by ~30 px): the rings overlap because the polygon is
    # off, the solve decides most of its band, and its soft pixels are the plant's leaf edges. A ramp
    # measured on the pixels the local mean colours explain comes out 1 px and makes them solid (in
    # process 0.55 -> 0.88 of the mask's MAD); measured on all of them, RefineParams.ramp_measured
    # leaves this matte within 2 % of the default's
    import os
    S = _bench("bench_stills")
    if not os.path.isfile(os.path.join(S.DATA, "input", "GT13.png")):
        pytest.skip("no alphamatting stills in ../shared/eval")
    from samatte.io.exr import srgb_eotf
    img, gt = S.load("GT13")
    mask = S.make_mask(gt, "polygon")
    info = {}
    base = refine_alpha(img, mask, mask="auto", solve_image=srgb_eotf(img), info=info)
    measured = refine_alpha(img, mask, mask="auto", solve_image=srgb_eotf(img), options={"ramp_measured": True})
    assert info["distrust"] == 1.0 and info["undecided"] < 0.3
    assert M.mad(measured, gt) < 1.02 * M.mad(base, gt) < 0.6 * M.mad(mask, gt)


def test_ties_go_to_the_mask():
    from types import SimpleNamespace
    from samatte.matte.params import params_for
    from samatte.matte.refine import BELOW_HALF, _tie_break
    hard = np.zeros((4, 6), bool)
    hard[:, :3] = True
    c = SimpleNamespace(coarse=hard.astype(np.float32), hard=hard, doubt=None)
    alpha = np.array([[0.45, 0.41, 0.39, 0.55, 0.58, 0.62],    # undecided flips, then just past the tie
                      [0.2, 0.0, 0.7, 0.4, 0.9, 1.0],          # decided flips in; partial alpha on each side
                      [0.5, 1.0, 0.49, 0.5, 0.0, 0.3],
                      [0.45, 0.45, 0.45, 0.55, 0.55, 0.55]], np.float32)
    p = params_for("default", "rough")
    assert p.tie == pytest.approx(0.1)
    info = {}
    out = _tie_break(alpha, c, p, info)
    want = alpha.copy()
    want[0, :2] = 0.5
    want[0, 3:5] = BELOW_HALF
    want[2, 2] = 0.5
    want[2, 3] = BELOW_HALF
    want[3, :3] = 0.5
    want[3, 3:] = BELOW_HALF
    assert np.array_equal(out, want) and info["tie_px"] == 12
    assert np.abs(out - alpha).max() <= p.tie + 1e-3     # nothing moves by more than the tie (and a half step)
    assert np.array_equal(out >= 0.5, np.where(np.abs(alpha - 0.5) <= p.tie, hard, alpha >= 0.5))
    # the value outside stays below the middle once written as half float (the EXR's A)
    assert float(np.float16(BELOW_HALF)) < 0.5 and float(np.float16(np.float32(BELOW_HALF))) < 0.5
    # pixels the video doubts keep what the matte said; off: nothing changes
    c.doubt = np.zeros(hard.shape, np.float32)
    c.doubt[3] = 1.0
    assert np.array_equal(_tie_break(alpha, c, p)[3], alpha[3])
    assert np.array_equal(_tie_break(alpha, c, params_for("default", "rough", {"tie": 0.0})), alpha)


def test_a_tie_widens_as_the_object_measures_soft():
    # With a tight mask the tie widens with the object's transition width on the final band's samples
    # (RefineParams.tie_crisp, bench/RESULTS.md round 20): tie x max(1, W / tie_crisp), never reaching
    # a value the refiner calls decided; rough masks (whose band holds the mask's own error), a
    # closed-form band without samples and a tie of 0 keep the plain tie.
    from dataclasses import replace
    from types import SimpleNamespace
    from samatte.matte.params import params_for
    from samatte.matte.refine import Band, _tie_width, _transition_width
    hard = np.zeros((40, 40), bool)
    hard[:, :20] = True

    def band(width):          # samples of a straight edge whose transition is ``width`` px wide
        x = np.arange(40, dtype=np.float64) + 0.5
        a = np.clip(0.5 - (x - 20.0) / width, 0.0, 1.0)
        return Band(fg=~hard, bg=hard, unknown=np.ones((40, 40), bool), alpha=np.tile(a, (40, 1)),
                    sampled=np.ones((40, 40), bool), pending=None)

    wk = SimpleNamespace(hard=hard)
    tight, rough = params_for("default", "tight"), params_for("default", "rough")
    assert tight.tie_crisp == 2.5 and rough.tie_crisp == 0.0 and tight.tie == rough.tie == 0.1
    info = {}
    assert _tie_width(wk, band(2.0), tight, info) == pytest.approx(0.1) and info["tie"] == 0.1   # crisp
    w = _transition_width(band(6.0).alpha, band(6.0).sampled, hard, tight)
    assert 5.0 <= w <= 6.0 and _tie_width(wk, band(6.0), tight) == pytest.approx(0.1 * w / 2.5)  # soft
    assert _tie_width(wk, band(30.0), tight) == pytest.approx(0.5 - tight.decided)                # capped
    assert _tie_width(wk, band(6.0), rough) == 0.1
    assert _tie_width(wk, replace(band(6.0), final=True), tight) == 0.1
    assert _tie_width(wk, band(6.0), replace(tight, tie=0.0)) == 0.0


def test_with_a_tight_mask_a_soft_object_s_ties_go_to_the_mask_and_a_crisp_one_s_stay():
    # Synthvideo frame 3 told tight: the wool (cows, W ~4.5) takes a tie of ~0.18 and comes out closer
    # to the truth (the solve under-estimates wool's partial alpha); the crisp object (bmx, W ~3) keeps
    # a tie near the plain 0.1 and a MAD within 0.5 % of the plain tie's.
    from samatte.metrics import mad
    a, g, _ = _tight("GT09_cows", 3)
    b, _, _ = _tight("GT09_cows", 3, tie_crisp=0.0)
    assert mad(a, g) < 0.995 * mad(b, g)
    a, g, _ = _tight("GT01_bmx-trees", 3)
    b, _, _ = _tight("GT01_bmx-trees", 3, tie_crisp=0.0)
    assert mad(a, g) < 1.005 * mad(b, g)


def _davis_frame(seq, name):
    """(sRGB image f32 in [0, 1], binary truth) of a DAVIS frame in ../shared/eval; skips the test
    when the frames are not there."""
    import os
    D = _bench("bench_davis_matte")
    path = os.path.join(D.EVAL, "frames", seq, name + ".jpg")
    if not os.path.isfile(path):
        pytest.skip("no DAVIS frames in ../shared/eval")
    img = np.ascontiguousarray(cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]).astype(np.float32) / 255.0
    return img, cv2.imread(os.path.join(D.EVAL, "masks", seq, name + ".png"), cv2.IMREAD_GRAYSCALE) > 127


def test_on_a_real_frame_a_tight_mask_s_label_holds_where_the_matte_is_undecided():
    # DAVIS dog/00003 (motion blur on dry grass) with a tracker-like mask, told tight: the matte put
    # the blurred edge of the muzzle and chest at 0.2-0.4 against the mask's label, and lost 0.016 IoU
    # against the mask; with the tie widened by the measured transition width (W ~5.5) it loses less
    # than 0.01, and no pixel moves by more than the widened tie
    from samatte.io.exr import srgb_eotf
    img, gt = _davis_frame("dog", "00003")
    mask = _bench("bench_davis_video").tracker_like(gt.astype(np.float32)).astype(np.float32)
    info = {}
    on = refine_alpha(img, mask, mask="tight", solve_image=srgb_eotf(img), info=info)
    off = refine_alpha(img, mask, mask="tight", solve_image=srgb_eotf(img), options={"tie_crisp": 0.0})
    loss_on, loss_off = _iou(mask, gt) - _iou(on, gt), _iou(mask, gt) - _iou(off, gt)
    assert loss_off > 0.012 and loss_on < 0.01 and 0.15 < info["tie"] < 0.35
    assert np.abs(on - off).max() <= info["tie"] + 1e-3


def _synthvideo_frame(clip, i):
    """(bench_synthvideo, linear plate, exact alpha, tracker-like mask) of frame ``i`` of a synthvideo
    clip, reading only that frame; skips the test when ../shared/eval has no such clip."""
    import os
    V = _bench("bench_synthvideo")
    d = os.path.join(V.EVAL, clip)
    if not os.path.isdir(d):
        pytest.skip("no synthvideo clip %s in ../shared/eval" % clip)
    name = sorted(os.listdir(os.path.join(d, "rgb")))[i]
    lin = np.ascontiguousarray(V.read_exr(os.path.join(d, "rgb", name))[..., :3], np.float32)
    g = V.read_exr(os.path.join(d, "alpha", name))[..., 0]
    return V, lin, g, V.coarse_mask(g).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _tight_matte(clip, i, p):
    """:func:`refine_alpha` of synthvideo frame ``i`` told tight with the record ``p``, as the stage's
    hybrid space runs it (decisions on the plate's sRGB, the solve on the linear plate): (matte,
    truth, mask), the matte read-only. Cached by the record: several tests compare with the same
    default matte of the same frame."""
    V, lin, g, m = _synthvideo_frame(clip, i)
    a = refine_alpha(V.srgb_oetf(lin), m, mask="tight", options=p, solve_image=lin)
    a.flags.writeable = False
    return a, g, m


def _tight(clip, i, **options):
    """:func:`_tight_matte` with the tight kind's record and ``options`` over it."""
    from samatte.matte.params import params_for
    return _tight_matte(clip, i, params_for("default", "tight", options))


def test_the_faint_end_of_a_soft_edge_stays_with_tight_masks():
    # The final snap zeroes faint alpha (below snap_lo) as the solve's noise; with a tight mask the pixel
    # that continues a soft edge by one step is the edge's faint end (wool, hair fading out) and stays
    # (RefineParams.snap_keep, bench/RESULTS.md round 17) where colour is trusted. Isolated faint specks
    # still go, and rough masks snap as before.
    from dataclasses import replace
    from types import SimpleNamespace
    from samatte.matte.params import params_for
    from samatte.matte.refine import _finish
    hard = np.zeros((3, 8), bool)
    hard[:, :3] = True
    c = SimpleNamespace(box=(0, 3, 0, 8))
    alpha = np.array([[1.0, 0.9, 0.5, 0.2, 0.06, 0.03, 0.02, 0.0],     # a soft edge fading out
                      [1.0, 1.0, 0.97, 0.3, 0.04, 0.0, 0.0, 0.03],     # ... and an isolated faint speck
                      [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.02, 0.0]], np.float32)
    tight, rough = params_for("default", "tight"), params_for("default", "rough")
    assert tight.snap_keep == 1.0 and rough.snap_keep == 0.0
    want = alpha.copy()
    want[0, 6] = want[1, 7] = want[2, 6] = 0.0      # two steps or more from the edge's soft pixels
    want[1, 2] = 1.0                               # near-solid snaps to 1 as before
    assert np.array_equal(_finish(alpha, hard, c, tight), want)
    want[0, 5] = want[1, 4] = 0.0                  # rough masks: every faint pixel goes
    assert np.array_equal(_finish(alpha, hard, c, rough), want)
    # ... and so do tight masks' where colour is not trusted (the evidence check runs): there a faint
    # pixel beside a crisp edge is as likely the background's haze
    assert np.array_equal(_finish(alpha, hard, c, replace(tight, evidence=0.5)), want)


def test_on_a_woollen_fringe_the_faint_end_kept_lowers_the_error():
    # synthvideo's cows clip (a woollen hat, linear EXR with exact alpha), frame 3, its tracker-like
    # mask: keeping the faint end of the edge lowers both the squared and the absolute error of the
    # frame (in process 1.183 -> 1.139 x 1e-4 and 1.010 -> 0.979 x 1e-3)
    err = {}
    for k in (1.0, 0.0):
        a, g, _ = _tight("GT09_cows", 3, snap_keep=k)
        err[k] = (float(((a - g) ** 2).mean()), float(np.abs(a - g).mean()))
    assert err[1.0][0] < 0.98 * err[0.0][0] and err[1.0][1] < 0.98 * err[0.0][1]


def test_the_transition_width_reads_a_crisp_edge_narrow_and_a_soft_one_wide():
    # RefineParams.mask_crisp's measure: the soft samples per pixel of the mask's edge
    from samatte.matte.params import params_for
    from samatte.matte.refine import _transition_width
    p = params_for("default", "tight")
    yy, xx = np.mgrid[:200, :200].astype(np.float32)
    r = np.hypot(yy - 100, xx - 100)
    hard = r < 50
    crisp = np.clip(50.5 - r, 0, 1)                  # one anti-aliased pixel
    soft = np.clip((58 - r) / 16.0, 0, 1)            # a 16-px ramp centred on the edge (wool)
    everywhere = np.ones_like(hard)
    assert _transition_width(crisp, everywhere, hard, p) < 1.5
    # 14.4 px of the ramp is soft; the 8-connected edge is ~1.27 pixels per pixel of the circle's length
    assert 10.0 < _transition_width(soft, everywhere, hard, p) < 14.4
    assert _transition_width(soft, np.zeros_like(hard), hard, p) == 0.0     # only sampled pixels count


def test_the_mask_s_label_weighs_less_across_a_soft_edge_and_more_past_a_crisp_one():
    # synthvideo frame 3 with its tracker-like mask, told tight (mask_weight 0.04, mask_crisp 2.5): on
    # the cows' woollen fringe the label weighed by the measured width lowers the squared error
    # against the same weight without it (in process 1.278 -> 1.100 x 1e-4) and against 0.2.8's
    # flat 0.02 (1.139); on the horse and rider, crisper, the error is that of the full weight
    # (0.829 -> 0.836 x 1e-3 absolute) and below 0.2.8's (0.858)
    err = {}
    for clip in ("GT09_cows", "GT18_horsejump-high"):
        for key, opts in (("width", {}), ("flat", {"mask_crisp": 0.0}),
                          ("0.2.8", {"mask_crisp": 0.0, "mask_weight": 0.02})):
            a, g, _ = _tight(clip, 3, **opts)
            err[clip, key] = (float(((a - g) ** 2).mean()), float(np.abs(a - g).mean()))
    cows = lambda k: err["GT09_cows", k]               # noqa: E731
    horse = lambda k: err["GT18_horsejump-high", k]    # noqa: E731
    assert cows("width")[0] < 0.9 * cows("flat")[0] and cows("width")[1] < 0.95 * cows("flat")[1]
    assert cows("width")[0] < 0.98 * cows("0.2.8")[0]
    assert horse("width")[1] < 0.99 * horse("0.2.8")[1] and horse("width")[1] < 1.02 * horse("flat")[1]


def test_leak_crisp_follows_a_soft_object_s_fringe_past_a_tight_mask_and_leaves_a_crisp_one():
    # RefineParams.leak_crisp (off by default: bench/RESULTS.md round 19): the floor of a leak into the
    # background falls as 1 / W, W the object's transition width as the first round's samples measure
    # it. On the cows' wool (W ~4) the growth follows the fringe out: 2-5 px outside the mask ours
    # 0.058 -> 0.065 (truth 0.095), the squared error 1.100 -> 1.041 x 1e-4 (in process); the horse and
    # rider's frame measures crisp (W 2.52: the floor moves by 1 %, no leak crosses it): the same
    # matte to the bit
    import cv2
    from samatte.matte.params import params_for
    err, fringe = {}, {}
    for clip in ("GT09_cows", "GT18_horsejump-high"):
        for key, opts in (("on", {"leak_crisp": 2.5}), ("off", {})):
            a, g, m = _tight(clip, 3, **opts)
            out = cv2.distanceTransform((m < 0.5).astype(np.uint8), cv2.DIST_L2, 3)
            ring = (out > 1.5) & (out <= 5.5)
            err[clip, key] = a, float(((a - g) ** 2).mean())
            fringe[clip, key] = float(a[ring].mean()), float(g[ring].mean())
    assert err["GT09_cows", "on"][1] < 0.97 * err["GT09_cows", "off"][1]
    on, truth = fringe["GT09_cows", "on"]
    assert fringe["GT09_cows", "off"][0] + 0.005 < on < truth
    assert np.array_equal(err["GT18_horsejump-high", "on"][0], err["GT18_horsejump-high", "off"][0])
    # a crisp anti-aliased disc on grainy colours: identical
    yy, xx = np.mgrid[:200, :200].astype(np.float32)
    alpha = np.clip(50.5 - np.hypot(yy - 100, xx - 100), 0, 1).astype(np.float32)
    img = alpha[..., None] * np.float32([0.8, 0.3, 0.2]) + (1 - alpha[..., None]) * np.float32([0.1, 0.4, 0.7])
    img = np.clip(img + np.random.default_rng(0).normal(0, 0.02, img.shape), 0, 1).astype(np.float32)
    m = (alpha >= 0.5).astype(np.float32)
    assert np.array_equal(refine_alpha(img, m, mask="tight", options={"leak_crisp": 2.5}),
                          refine_alpha(img, m, mask="tight"))
    assert params_for("default", "tight").leak_crisp == params_for("default", "rough").leak_crisp == 0.0


def test_on_a_real_frame_an_undecided_matte_does_not_overturn_the_mask():
    # DAVIS dog/00000 with a ds8 mask: the pale dog's ears, eyes and shadowed legs are coloured like the
    # dry grass, and the matte leaves most of what it takes from the mask there between 0.3 and 0.5
    # (bench/RESULTS.md round 16). Ties going to the mask take a third off the IoU it loses against the
    # mask (in process 0.040 -> 0.027), and move no pixel by more than the tie
    from samatte.io.exr import srgb_eotf
    img, gt = _davis_frame("dog", "00000")
    mask = _bench("bench_stills").make_mask(gt.astype(np.float32), "ds8")
    info = {}
    off = refine_alpha(img, mask, mask="auto", solve_image=srgb_eotf(img), options={"tie": 0.0})
    on = refine_alpha(img, mask, mask="auto", solve_image=srgb_eotf(img), info=info)
    loss_off, loss_on = _iou(mask, gt) - _iou(off, gt), _iou(mask, gt) - _iou(on, gt)
    assert loss_off > 0.03 and loss_on < 0.75 * loss_off and info["tie_px"] > 500
    assert np.abs(on - off).max() <= 0.1 + 1e-3


def test_the_matte_option_tie_reaches_the_refiner():
    from samatte.errors import JobSpecError
    from samatte.registry import validate_options
    assert _options_seen({"tie": 0.0}) == [{"tie": 0.0}]
    assert _options_seen({"tie": 0.2}) == [{"tie": 0.2}]
    assert _options_seen({}) == [None]              # the refiner's default
    assert _options_seen({"tie": None}) == [None]
    assert validate_options("matte", "refine", {"tie": 0}) == {"tie": 0.0}
    for bad in (0.7, -0.1, "x", True):
        with pytest.raises(JobSpecError) as e:
            validate_options("matte", "refine", {"tie": bad})
        assert e.value.code == "JOBSPEC_INVALID" and "tie" in str(e.value)


def test_a_matter_built_in_python_checks_its_refiner_options_before_any_frame():
    # the same schema as a JobSpec's (samatte.registry): a script's RefineMatter(options=...) with a
    # bad value fails when it is built, not on its first frame
    from samatte.errors import JobSpecError
    from samatte.matte.stage import RefineMatter
    for bad in ({"tie": 0.7}, {"tie": "x"}, {"evidence": -1}, {"ramp_measured": "yes"}):
        with pytest.raises(JobSpecError) as e:
            RefineMatter(options=bad)
        assert e.value.code == "JOBSPEC_INVALID" and e.value.details["field"] == "matte.options." + next(iter(bad))
    assert RefineMatter(options={"tie": 0}).options["tie"] == 0.0 and RefineMatter().options["tie"] is None
