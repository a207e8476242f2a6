"""QA review of the matting stage's plumbing (samatte.matte.stage): tiny real plates through
``get_matter("refine").step``.

An object's subtract shapes (``ObjectTrack.cut``) are the artist's word: its alpha is 0 there. The matte
was still judged against the *uncut* mask, so where the mask covers the cut (a mask file, which wins over
the tracked mask on its frames; a custom tracker; an absent object whose mask is held) the cut counted as
the matte contradicting the mask: the frame scored ~0 (``<name>.disagreement`` 0.34 -> score 0.0), the next
frame did not carry the matte over (``temporal_skipped``), and ``quality.Y`` showed the cut as doubt
(304 of 428 cut pixels above 0.5; an absent object's whole held mask at 1.0)."""
import numpy as np
import pytest

from samatte.matte import get_matter
from samatte.matte import stage as S
from samatte.stages import ObjectTrack, Plate, PlateInfo, TrackFrame, Window

H, W = 64, 80


def _plate(frame, shift=0):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    bg = np.stack([0.2 + 0.1 * np.sin(xx / 5), 0.3 + 0.1 * np.cos(yy / 7), 0.25 + 0 * xx], -1)
    a = np.clip(18 - np.hypot(xx - (35 + shift), yy - 32), 0, 1)[..., None]
    lin = (a * np.array([0.9, 0.5, 0.1], np.float32) + (1 - a) * bg).astype(np.float32)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H), pixel_type="half")
    return Plate(frame, lin, (np.clip(lin, 0, 1) ** (1 / 2.2)).astype(np.float32), info)


def _disc(cx, r=17):
    yy, xx = np.mgrid[0:H, 0:W]
    return np.hypot(xx - cx, yy - 32) < r


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setattr(S, "OBJECT_THREADS", 1)


def _run(cuts):
    """Three frames of a disc moving 1 px a frame, the mask never cut; ``cuts``: frame index -> cut."""
    m = get_matter("refine")
    st, out = None, []
    for i, f in enumerate(range(1001, 1004)):
        tr = TrackFrame(f, {"a": ObjectTrack(mask=_disc(35 + i), cut=cuts.get(i))}, ref=None if i == 0 else f - 1)
        mf, st = m.step(_plate(f, shift=i), tr, st)
        out.append((mf, st))
    return out


def test_a_garbage_matte_over_an_uncut_mask_is_no_disagreement():
    cut = np.zeros((H, W), np.float32)
    cut[:, :36] = 1.0   # the left half of the object, on the middle frame
    out = _run({1: cut})
    mf, st = out[1]
    inside = (cut > 0) & _disc(36)
    assert not mf.alphas["a"][cut > 0].any()                      # the cut holds
    assert mf.stats["a.disagreement"] == 0.0                      # before: 0.344
    assert mf.score > 0.9 and st.objects["a"]["score"] > 0.9      # before: 0.0
    assert int((mf.quality[inside] > 0.5).sum()) == 0             # before: 304 of 428
    nxt = out[2][0]
    assert "a.temporal_skipped" not in nxt.stats and nxt.stats["a.carried"] > 0   # before: skipped


def test_an_absent_object_with_a_held_mask_shows_no_doubt_and_carries_nothing():
    out = _run({1: np.ones((H, W), np.float32)})   # cut whole (JobSpec absent), its mask held by the tracker
    mf, st = out[1]
    assert not mf.alpha.any() and "a.score" not in mf.stats
    assert float(mf.quality.max()) == 0.0          # before: 1.0 over the whole held mask
    assert mf.score == 1.0
    assert st.objects["a"]["score"] == 0.0         # nothing of an absent frame is carried to the next
    assert out[2][0].stats.get("a.temporal_skipped") == 1.0


def test_the_state_restored_from_a_cut_frame_is_the_one_carried_in_memory():
    cut = np.zeros((H, W), np.float32)
    cut[:, :36] = 1.0
    out = _run({1: cut})
    m = get_matter("refine")
    mf, st = out[1]
    tr = TrackFrame(1002, {"a": ObjectTrack(mask=_disc(36), cut=cut)}, ref=1001)
    alphas = {n: a.astype(np.float16).astype(np.float32) for n, a in mf.alphas.items()}
    rs = m.restore(1002, alphas, _plate(1002, shift=1), tr, scores={"a": mf.stats["a.score"]}, state=out[0][1])
    assert np.array_equal(rs.image, st.image) and np.array_equal(rs.alphas["a"], st.alphas["a"])
    assert rs.objects["a"]["trusted"] == st.objects["a"]["trusted"]
    tr3 = TrackFrame(1003, {"a": ObjectTrack(mask=_disc(37))}, ref=1002)
    a, _ = m.step(_plate(1003, shift=2), tr3, st)
    b, _ = m.step(_plate(1003, shift=2), tr3, rs)
    assert np.array_equal(a.alpha, b.alpha) and a.score == b.score


def test_a_subtract_shape_on_a_mask_file_frame_through_the_pipeline(tmp_path):
    """The real path: an object with mask files (the mask wins on their frames) and a garbage matte on one
    frame. Before: on that frame 193 px of the cut object read quality.Y > 0.5 and it scored 2.3e-09 (the
    next frame 7.8e-05: a fast demo ball's jumps); now no doubt there and a score like the next one's."""
    import json

    from samatte import jobspec, pipeline
    from samatte.demo import _roto_polygon, make_shot
    from samatte.io.exr import read_info
    from samatte.io.masks import read_mask
    from test_qa_absent import _read

    s = make_shot(str(tmp_path / "shot"), frames=3, size=(128, 72))
    info = read_info(s["plate"].replace("####", "1001"))
    gt = {f: read_mask(s["gt"].replace("####", "%04d" % f), info) > 0.5 for f in (1001, 1002, 1003)}
    cx = float(np.nonzero(gt[1002])[1].mean())
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="1001-1003", tracker="flow",
                          matte="refine", quality="draft", name="qa_stage_review")
    jobspec.add_object(job, "ball", [
        jobspec.polygon_prompt(1001, [list(map(float, p)) for p in _roto_polygon(gt[1001].astype(np.float32))]),
        jobspec.polygon_prompt(1002, [[0.0, 0.0], [cx, 0.0], [cx, 72.0], [0.0, 72.0]], mode="subtract")],
        masks=s["gt"])
    pipeline.run(job)
    scores = {}
    for f in (1001, 1002, 1003):
        ch, meta = _read(tmp_path / "out", f)
        scores[f] = json.loads(meta["samatte/object_scores"])["ball"]
        if f == 1002:
            left = np.zeros(gt[f].shape, bool)
            left[:, :int(cx)] = True
            assert not ch["ball.A"][left].any()                                  # the cut holds
            assert int((ch["quality.Y"][left & gt[f]] > 0.5).sum()) == 0, "the cut shown as doubt"
    assert scores[1002] > 0.5 * min(scores[1001], scores[1003]), scores


@pytest.mark.parametrize("method", ["ml", "pymatting"])
def test_the_foreground_keeps_a_negative_channel_on_the_edge_band(method):
    """Scene-linear plates have negatives (saturated ACEScg colours). ``foreground_method: "pymatting"``
    scaled only highlights into pymatting's [0, 1] and clipped the negative channel of F to 0 on the edge
    band: 0.21 off in F, 0.175 in the premultiplied R,G,B written with the matte ("ml": exact)."""
    from samatte.matte.foreground import estimate_foreground, premultiplied_foreground
    xx = np.mgrid[0:24, 0:40][1].astype(np.float32)
    a = np.clip((xx - 16) / 8, 0, 1).astype(np.float32)
    fg, bg = np.array([0.8, 0.4, -0.2], np.float32), np.array([0.1, 0.3, 0.6], np.float32)
    img = (a[..., None] * fg + (1 - a[..., None]) * bg).astype(np.float32)
    band = (a > 0.05) & (a < 0.95)
    F, B = estimate_foreground(img, a, method=method)
    p = premultiplied_foreground(img, a, method=method)
    assert np.abs(F[band] - fg).max() < 1e-3 and np.abs(B[band] - bg).max() < 1e-3
    assert np.abs(p[band] - a[band, None] * fg).max() < 1e-3
    assert np.isfinite(p).all() and not p[a == 0].any()
