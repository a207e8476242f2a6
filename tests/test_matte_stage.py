"""The matting stage's backends and factory (get_matter)."""
import importlib

import numpy as np
import pytest

from samatte.errors import DependencyError, JobSpecError, PlateError, WeightsMissingError
from samatte.matte import get_matter
from samatte.matte import stage as S
from samatte.stages import MatteFrame, ObjectTrack, Plate, PlateInfo, TrackFrame, Window

H, W = 40, 60


def _plate(frame=1):
    rng = np.random.default_rng(frame)
    lin = rng.random((H, W, 3)).astype(np.float32)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    return Plate(frame, lin, np.clip(lin, 0, 1) ** (1 / 2.2), info)


def _mask(x0, x1):
    m = np.zeros((H, W), bool)
    m[10:30, x0:x1] = True
    return m


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """Point the model registry (when it exists) at an empty folder."""
    try:
        models = importlib.import_module("samatte.models")
    except ImportError:
        return tmp_path
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path))
    if hasattr(models, "models_dir"):
        monkeypatch.setattr(models, "models_dir", lambda *a, **k: tmp_path)
    if hasattr(models, "search_dirs"):
        monkeypatch.setattr(models, "search_dirs", lambda *a, **k: [tmp_path])
    if hasattr(models, "find_weights"):
        monkeypatch.setattr(models, "find_weights", lambda *a, **k: None)
    return tmp_path


def test_none_backend_returns_the_mask():
    m = get_matter("none")
    assert m.name == "none"
    mask = _mask(5, 25)
    p = _plate()
    mf = m.process(p, TrackFrame(1, {"a": ObjectTrack(mask=mask, score=0.9)}))
    assert isinstance(mf, MatteFrame)
    np.testing.assert_array_equal(mf.alphas["a"], mask.astype(np.float32))
    np.testing.assert_array_equal(mf.alpha, mask.astype(np.float32))
    np.testing.assert_allclose(mf.foreground, p.linear * mask[..., None])
    assert mf.quality is None and 0.85 <= mf.score <= 0.9


def test_sam2matte_without_weights_raises(no_weights):
    with pytest.raises(WeightsMissingError) as ei:
        get_matter("sam2matte")
    assert ei.value.code == "WEIGHTS_MISSING"
    assert "sam2matte.pt" in str(ei.value)


def test_auto_without_weights_is_refine(no_weights):
    m = get_matter("auto")
    assert type(m) is S.RefineMatter and m.name == "refine"


def test_auto_finds_sam2matte_weights_in_models_dir(no_weights):
    (no_weights / "sam2matte.pt").write_bytes(b"x")
    assert get_matter("auto").name == "sam2matte"


def test_sam2matte_head_is_sigmoid_of_upsampled_logits(tmp_path):
    ckpt = tmp_path / "sam2matte.pt"
    ckpt.write_bytes(b"not really weights")
    m = get_matter("sam2matte", options={"checkpoint": str(ckpt)}, foreground=False, quality_map=False)
    assert m.name == "sam2matte"
    logits = np.full((H // 2, W // 2), -8.0, np.float32)
    logits[5:15, 5:15] = 8.0
    mf = m.process(_plate(), TrackFrame(1, {"a": ObjectTrack(mask=_mask(10, 30), logits=logits)}))
    assert mf.alpha[20, 20] > 0.99 and mf.alpha[2, 2] < 0.01
    assert np.any((mf.alpha > 0.05) & (mf.alpha < 0.95))  # soft where the upsampled logits cross 0


def test_matanyone_is_a_slot_with_a_clear_error():
    with pytest.raises(DependencyError) as ei:
        get_matter("matanyone")
    assert "MatAnyone" in str(ei.value)


def test_unknown_backend_and_option():
    with pytest.raises(JobSpecError):
        get_matter("magic")
    with pytest.raises(JobSpecError):
        get_matter("refine", options={"no_such_option": 1})
    with pytest.raises(JobSpecError):
        get_matter("refine", options={"blend": 2.0})


def test_merged_alpha_is_union_and_object_alphas_kept():
    a = np.full((H, W), 0.5, np.float32)
    b = np.zeros((H, W), np.float32)
    b[:, :30] = 0.5
    m = S.merge_alphas([a, b], (H, W))
    assert np.allclose(m[:, :30], 0.75) and np.allclose(m[:, 30:], 0.5)

    def refiner(image, coarse, **kw):
        return coarse * 0.6

    mt = S.RefineMatter(refiner=refiner)
    mf = mt.process(_plate(), TrackFrame(1, {"a": ObjectTrack(_mask(5, 30)), "b": ObjectTrack(_mask(20, 50))}))
    np.testing.assert_allclose(mf.alphas["a"], _mask(5, 30) * 0.6)
    np.testing.assert_allclose(mf.alphas["b"], _mask(20, 50) * 0.6)
    assert np.allclose(mf.alpha[20, 25], 1 - 0.4 * 0.4)
    assert mf.foreground.shape == (H, W, 3) and mf.quality.shape == (H, W)


def test_mask_size_mismatch_raises():
    with pytest.raises(PlateError):
        get_matter("none").process(_plate(), TrackFrame(1, {"a": ObjectTrack(np.zeros((H + 1, W), bool))}))


def test_no_objects_gives_empty_matte():
    mf = S.RefineMatter(refiner=lambda i, c, **k: c).process(_plate(), TrackFrame(1, {}))
    assert mf.alpha.shape == (H, W) and not mf.alpha.any() and mf.score == 1.0


def test_restore_gives_the_state_for_resume():
    calls = []

    def refiner(image, coarse, **kw):
        calls.append(1)
        return coarse

    m = S.RefineMatter(refiner=refiner, foreground=False, quality_map=False)
    tf1 = TrackFrame(1, {"a": ObjectTrack(_mask(5, 25))})
    st = m.restore(1, {"a": _mask(5, 25).astype(np.float32)}, _plate(1), tf1)
    assert not calls and st.frame == 1   # the frame is not matted again
    mf, _ = m.step(_plate(1), TrackFrame(2, {"a": ObjectTrack(_mask(5, 25))}, ref=1), st)
    assert "a.carried" in mf.stats
    assert not hasattr(m, "seed")        # the pipeline owns the state (issue 15)


def test_process_keeps_a_restart_state_when_a_frame_misses_its_reference():
    # process (scripts, benches): a frame whose reference was never matted starts afresh but must not
    # take the (re)start slot, or the restart's backward chain loses its state
    m = S.RefineMatter(refiner=lambda image, coarse, **kw: coarse, foreground=False, quality_map=False)
    m.process(_plate(10), TrackFrame(10, {"a": ObjectTrack(_mask(5, 25))}))
    m.process(_plate(5), TrackFrame(5, {"a": ObjectTrack(_mask(5, 25))}, ref=4))
    mf = m.process(_plate(9), TrackFrame(9, {"a": ObjectTrack(_mask(5, 25))}, ref=10))
    assert "a.carried" in mf.stats       # frame 9 continued from frame 10's state


def test_default_refiner_runs_when_available():
    pytest.importorskip("samatte.matte.refine")
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    a = np.clip((12 - np.hypot(x - 30, y - 20)) / 2.0 + 0.5, 0, 1).astype(np.float32)
    lin = (a[..., None] * np.array([0.9, 0.5, 0.2], np.float32) + (1 - a[..., None]) * 0.1).astype(np.float32)
    p = _plate()
    p = Plate(1, lin, lin ** (1 / 2.2), p.info)
    m = get_matter("refine")
    mf = m.process(p, TrackFrame(1, {"a": ObjectTrack(a >= 0.5)}))
    assert mf.alpha.shape == (H, W) and mf.alpha.dtype == np.float32
    assert mf.alpha.min() >= 0 and mf.alpha.max() <= 1
    assert np.abs(mf.alpha - a).mean() < 0.05


def _moving_disc(frame):
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    a = np.clip((11 - np.hypot(x - 24 - 2 * frame, y - 20)) / 2.0 + 0.5, 0, 1).astype(np.float32)
    lin = (a[..., None] * np.array([0.9, 0.5, 0.2], np.float32) + (1 - a[..., None]) * 0.1).astype(np.float32)
    info = PlateInfo(data=Window(0, 0, W, H), display=Window(0, 0, W, H))
    return Plate(frame, lin, lin ** (1 / 2.2), info), a >= 0.5


def test_step_with_caller_owned_state_equals_process_and_restores_from_a_written_frame():
    # process() keeps the state inside the matter; step() hands it to the caller. Same frames, same
    # answers; and a state restored from the written (half-float) alpha continues exactly as the
    # unbroken run (what resume and the farm's chunks do)
    frames = [_moving_disc(f) for f in (1, 2, 3)]
    m1 = get_matter("refine", foreground=False, quality_map=False)
    run = [m1.process(p, TrackFrame(p.frame, {"a": ObjectTrack(mk)}, ref=(p.frame - 1) if i else None))
           for i, (p, mk) in enumerate(frames)]
    m2 = get_matter("refine", foreground=False, quality_map=False)
    state, stepped = None, []
    for i, (p, mk) in enumerate(frames):
        mf, state = m2.step(p, TrackFrame(p.frame, {"a": ObjectTrack(mk)}, ref=(p.frame - 1) if i else None), state)
        stepped.append(mf)
    assert len(m2._store) == 0          # the caller owns the state
    for a, b in zip(run, stepped):
        assert np.array_equal(a.alpha, b.alpha)
    # restore frame 2 from its written alpha and step frame 3
    p2, mk2 = frames[1]
    written = {"a": run[1].alphas["a"].astype(np.float16).astype(np.float32)}
    m3 = get_matter("refine", foreground=False, quality_map=False)
    st = m3.restore(2, written, p2, TrackFrame(2, {"a": ObjectTrack(mk2)}))
    p3, mk3 = frames[2]
    mf3, _ = m3.step(p3, TrackFrame(3, {"a": ObjectTrack(mk3)}, ref=2), st)
    assert np.array_equal(mf3.alpha, run[2].alpha)
    with pytest.raises(PlateError):
        m3.step(p3, TrackFrame(3, {"a": ObjectTrack(mk3)}, ref=1), st)
