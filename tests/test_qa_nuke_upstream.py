"""QA: a prompt node drawn on an image the Source shows through other nodes of the *same size* (the Nuke double).

The artist draws the Roto / Tracker4 on the Read; the Source goes through a Transform, a TimeOffset, a FrameHold
(the plate samatte mattes is moved or retimed), or through a node whose mapping is not documented (Retime,
CornerPin2D, a Crop with 'reformat', a Tracker4 that match-moves, an unknown node). Before: the shapes were read
as the Source's pixels and frames, no message, a misplaced matte. Now a Transform / TimeOffset / FrameHold is
carried (its matrix and frame mapping applied to the shapes and tracks), anything else that may move pixels is
refused (PROMPT_INVALID, naming the node) before anything is rendered, and pixel-only nodes (Grade, Blur, Dot, a
Crop keeping the format, ...) are accepted as before.
"""
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import node as snode  # noqa: E402
from samatte_nuke.convert import apply_matrix, transform_matrix  # noqa: E402

W, H = 96, 64
# the Transform of the tests: 10 px right, 6 px down, 8 degrees counter-clockwise, scaled 0.9 about the centre
MOVE = dict(translate=(10.0, -6.0), rotate=8.0, scale=(0.9, 0.9), skew=(0.0, 0.0), center=(48.0, 32.0))


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("upstream")), frames=3, size=(W, H), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _set_transform(t, *, translate, rotate, scale, skew, center):
    t["translate"].setValue(list(translate))
    t["rotate"].setValue(rotate)
    t["scale"].setValue(list(scale))
    t["skewX"].setValue(skew[0])
    t["skewY"].setValue(skew[1])
    t["center"].setValue(list(center))


def _job_xy(m, X, Y):
    """A JobSpec point (top-left origin) through a Nuke-space matrix."""
    x, y = apply_matrix(m, X, H - Y)
    return x, H - y


def _warp(img, m):
    """``img`` (rows top-down) as a Nuke Transform of matrix ``m`` shows it (nearest pixel, black outside)."""
    inv = transform_matrix(**MOVE, invert=True)
    assert np.allclose(np.array(m).reshape(4, 4) @ np.array(inv).reshape(4, 4), np.eye(4), atol=1e-9)
    rows, cols = np.mgrid[0:H, 0:W]
    x, y = cols + 0.5, H - rows - 0.5
    xs = inv[0] * x + inv[1] * y + inv[3]
    ys = inv[4] * x + inv[5] * y + inv[7]
    i, r = np.floor(xs).astype(int), np.floor(H - ys).astype(int)
    ok = (i >= 0) & (i < W) & (r >= 0) & (r < H)
    out = np.zeros_like(img)
    out[ok] = img[r[ok], i[ok]]
    return out


def _hook(nuke, shot, m):
    """nuke.execute of the node's Write: the Source is the plate through the Transform."""
    from samatte.io.exr import read_rgb, write_image

    def hook(w, first, last):
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            rgb = _warp(read_rgb(shot["plate"].replace("####", "%04d" % t)), m)
            write_image(out, np.ascontiguousarray(rgb), channels=("R", "G", "B"), pixel_type="half")
    nuke._set_render_hook(hook)


def _roto(nk, up, polygon, key):
    roto = nk.nodes.Roto()
    if up is not None:
        roto.setInput(0, up)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], polygon, key, H, name="B"))
    roto["curves"].rootLayer.append(layer)
    return roto


def _node(nk, source, prompts, tmp_path, shot=None):
    if shot is not None and nk._state["render_hook"] is None:
        _hook(nk, shot, transform_matrix(**MOVE))   # the plate, moved (the pixels do not matter there)
    g = snode.create()
    g.setInput(0, source)
    g.setInput(1, prompts)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return g


def _points(job):
    return [(q["frame"], [tuple(p[:2]) for p in q["points"]]) for ob in job["objects"] for q in ob["prompts"]]


def _matte_iou(job, shot, m):
    from samatte import pipeline
    from samatte.io.exr import read_info, read_rgb
    from samatte.io.writer import MatteWriter
    pipeline.run(job)
    f = shot["prompt_frame"]
    info = read_info(job["plate"]["path"].replace("####", "%04d" % f))
    alpha = MatteWriter(job["output"]["path"], info).read_alphas(f)
    a = alpha[job["objects"][0]["name"]] if isinstance(alpha, dict) else alpha
    truth = _warp(read_rgb(shot["gt"].replace("####", "%04d" % f))[..., :1], m)[..., 0]
    got, want = np.asarray(a) >= 0.5, truth >= 0.5
    return (got & want).sum() / float((got | want).sum())


def test_transform_matrix_follows_foundrys_knobs():
    # rotate: degrees, counter-clockwise (y up), about the centre
    m = transform_matrix((0, 0), 90, (1, 1), (0, 0), (10, 10))
    assert apply_matrix(m, 11, 10) == pytest.approx((10, 11))
    # scale about the centre, then translate
    m = transform_matrix((5, -1), 0, (2, 3), (0, 0), (10, 10))
    assert apply_matrix(m, 11, 11) == pytest.approx((17, 12))
    # skew X moves x by skewX * y (order XY: [[1 + sx sy, sx], [sy, 1]])
    m = transform_matrix((0, 0), 0, (1, 1), (0.5, 0), (0, 0))
    assert apply_matrix(m, 0, 2) == pytest.approx((1, 2))
    m = transform_matrix((0, 0), 0, (1, 1), (0.5, 0.25), (0, 0), skew_order_yx=True)
    assert apply_matrix(m, 1, 1) == pytest.approx((1.5, 1.0 + 0.25 * 1.0 + 0.125 * 1.0))
    # invert undoes it
    fwd = transform_matrix(**MOVE)
    back = transform_matrix(**MOVE, invert=True)
    assert apply_matrix(back, *apply_matrix(fwd, 30.0, 20.0)) == pytest.approx((30.0, 20.0))


def test_a_roto_on_the_read_behind_a_transform_is_matted_where_the_source_shows_the_object(nk, shot, tmp_path):
    """Read -> Transform -> SAMatte <- Roto (on the Read). Before: the Roto's points went into the job as they are
    (the matte where the object was before the Transform); now through the Transform's matrix, and the matte's
    IoU against the moved truth is that of a Roto drawn on the Transform itself."""
    m = transform_matrix(**MOVE)
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    tr = nk.nodes.Transform()
    tr.setInput(0, read)
    _set_transform(tr, **MOVE)
    f = shot["prompt_frame"]
    g = _node(nk, tr, _roto(nk, read, shot["polygon"], f), tmp_path / "a")
    _hook(nk, shot, m)
    job, _ = snode.build(g)
    (frame, pts), = _points(job)
    assert frame == f
    want = [_job_xy(m, X, Y) for X, Y in shot["polygon"]]
    assert pts == [pytest.approx(p) for p in want]
    iou_read = _matte_iou(job, shot, m)
    # the same shape drawn on the Source (the Roto connected to the Transform, the polygon where it shows)
    g2 = _node(nk, tr, _roto(nk, tr, want, f), tmp_path / "b")
    job2, _ = snode.build(g2)
    assert _points(job2) == [(f, [pytest.approx(p) for p in want])]
    iou_source = _matte_iou(job2, shot, m)
    print("IoU against the moved truth: roto on the Read %.3f, roto on the Source %.3f" % (iou_read, iou_source))
    assert iou_read >= 0.7 and iou_read >= iou_source - 0.01, (iou_read, iou_source)


def test_an_animated_transform_behind_a_time_offset_and_a_tracker(nk, shot, tmp_path):
    """Read -> TimeOffset(+1) -> Transform (translate keyed) -> Source; a Roto and a Tracker4 on the Read keyed on
    file frame 1002: Nuke shows that frame at 1003, moved by the Transform's value there."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    to = nk.nodes.TimeOffset()
    to.setInput(0, read)
    to["time_offset"].setValue(1)
    tr = nk.nodes.Transform()
    tr.setInput(0, to)
    _set_transform(tr, **dict(MOVE, rotate=0.0))
    for t, dx in ((1001, 0.0), (1003, 8.0)):
        tr["translate"].setValueAt(dx, t, 0)
    tr["rotate"].setValueAt(0.0, 1001)
    tr["rotate"].setValueAt(30.0, 1003)
    roto = _roto(nk, read, shot["polygon"], 1002)
    tk = nk.nodes.Tracker4()
    tk.setInput(0, roto)
    tk["tracks"]._add_track("hero/eye", {1002: (40.0, 30.0)})
    g = _node(nk, tr, tk, tmp_path, shot)
    job, _ = snode.build(g)
    m = transform_matrix((8.0, -6.0), 30.0, (0.9, 0.9), (0, 0), (48.0, 32.0))
    got = {q["type"]: q for ob in job["objects"] for q in ob["prompts"]}
    assert got["bezier"]["frame"] == 1003 and got["points"]["frame"] == 1003
    assert [tuple(p[:2]) for p in got["bezier"]["points"]] == [pytest.approx(_job_xy(m, X, Y))
                                                               for X, Y in shot["polygon"]]
    x, y = apply_matrix(m, 40.0, 30.0)
    assert got["points"]["points"] == [pytest.approx([x, H - y])]
    # a FrameHold on 1002 instead: the key shows on every frame; prompted once, on the first (1001)
    fh = nk.nodes.FrameHold()
    fh.setInput(0, read)
    fh["first_frame"].setValue(1002)
    tr.setInput(0, fh)
    job, _ = snode.build(g)
    m1 = transform_matrix((0.0, -6.0), 0.0, (0.9, 0.9), (0, 0), (48.0, 32.0))
    got = {q["type"]: q for ob in job["objects"] for q in ob["prompts"]}
    assert got["bezier"]["frame"] == 1001
    assert [tuple(p[:2]) for p in got["bezier"]["points"]] == [pytest.approx(_job_xy(m1, X, Y))
                                                               for X, Y in shot["polygon"]]


@pytest.mark.parametrize("cls,knobs", [
    ("Retime", {}), ("CornerPin2D", {}), ("Kronos", {}), ("Mirror2", {}), ("LensDistortion2", {}),
    ("Crop", {"reformat": True}), ("Reformat", {"type": "scale"}), ("Tracker4", {"transform": "match-move"}), ("TimeOffset", {"reverse_input": True}),
])
def test_a_node_that_may_move_pixels_is_refused_before_anything_is_rendered(nk, shot, tmp_path, cls, knobs):
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    mover = getattr(nk.nodes, cls)(**knobs)
    mover.setInput(0, read)
    if cls == "Reformat":   # 'scale' (by 1 here) keeps the size, but such a Reformat may move pixels
        mover["format"].setValue(nk.Format(W, H, 1.0))
    grade = nk.nodes.Grade()
    grade.setInput(0, mover)
    roto = _roto(nk, read, shot["polygon"], 1002)
    g = _node(nk, grade, roto, tmp_path)
    with pytest.raises(Exception) as e:
        snode.build(g)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID", e.value
    for word in (roto.name(), read.name(), mover.name(), grade.name(), "connect"):
        assert word in str(e.value), e.value
    assert nk._state["executed"] == []
    assert not os.path.exists(str(tmp_path / "cache"))
    # the fix it names: the Roto connected to the node the Source shows (a Tracker4 that match-moves the plate
    # is itself upstream of the Prompts input then, its tracks in the Read's pixels: refused in its turn)
    if cls == "Tracker4":
        return
    roto.setInput(0, grade)
    _hook(nk, shot, transform_matrix(**MOVE))
    job, _ = snode.build(g)
    assert _points(job) == [(1002, [pytest.approx(p) for p in shot["polygon"]])]


def test_a_tracker_behind_a_corner_pin_is_refused_too(nk, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    pin = nk.nodes.CornerPin2D()
    pin.setInput(0, read)
    tk = nk.nodes.Tracker4()
    tk.setInput(0, read)
    tk["tracks"]._add_track("hero/eye", {1002: (20.0, 10.0)})
    g = _node(nk, pin, tk, tmp_path)
    with pytest.raises(Exception) as e:
        snode.build(g)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID" and pin.name() in str(e.value), e.value


def test_pixel_only_nodes_and_the_source_s_own_node_change_nothing(nk, shot, tmp_path):
    """Grade, Blur, Dot, a Crop keeping the format, a disabled Transform, a Tracker4 with transform none: the
    Roto on the Read is prompted as drawn, as a Roto on the Source is; a Roto with no input and one connected
    to the Source's own node as before."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    up = read
    for cls in ("Grade", "Blur", "Dot", "Crop", "Transform", "Tracker4", "ColorCorrect", "Denoise2", "Reformat"):
        n = getattr(nk.nodes, cls)()
        n.setInput(0, up)
        if cls == "Reformat":   # to the plate's own format: the identity
            n["format"].setValue(nk.Format(W, H, 1.0))
        up = n
        if cls == "Transform":
            _set_transform(n, **MOVE)
            n["disable"].setValue(True)
    want = [(1002, [pytest.approx(p) for p in shot["polygon"]])]
    for base in (read, up, None):
        roto = _roto(nk, base, shot["polygon"], 1002)
        job, _ = snode.build(_node(nk, up, roto, tmp_path, shot))
        assert _points(job) == want, base
    # the Source is a moved image, the Roto drawn on it (or on no image): nothing is carried
    tr = nk.nodes.Transform()
    tr.setInput(0, read)
    _set_transform(tr, **MOVE)
    for base in (tr, None):
        job, _ = snode.build(_node(nk, tr, _roto(nk, base, shot["polygon"], 1002), tmp_path, shot))
        assert _points(job) == want
    assert not math.isnan(W)


@pytest.mark.parametrize("moved_input", [0, 1])
def test_a_source_showing_the_drawn_image_through_two_paths_one_moved_is_refused(nk, shot, tmp_path, moved_input):
    """Merge2 of the Read and a Transform of it: the object is in the plate twice; the Roto on the Read cannot be
    placed on one of them (before: prompted where the unmoved copy is, or as moved, depending on the inputs).
    A Merge of the Read and a Grade of it moves nothing: prompted as drawn."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    tr = nk.nodes.Transform()
    tr.setInput(0, read)
    _set_transform(tr, **MOVE)
    merge = nk.nodes.Merge2()
    merge.setInput(moved_input, tr)
    merge.setInput(1 - moved_input, read)
    roto = _roto(nk, read, shot["polygon"], 1002)
    g = _node(nk, merge, roto, tmp_path, shot)
    with pytest.raises(Exception) as e:
        snode.build(g)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID" and tr.name() in str(e.value), e.value
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    merge.setInput(moved_input, grade)
    job, _ = snode.build(g)
    assert _points(job) == [(1002, [pytest.approx(p) for p in shot["polygon"]])]


def test_refine_only_refuses_a_roto_the_source_shows_moved_unless_the_prompts_input_is_moved_alike(nk, shot, tmp_path):
    """Refine only renders the Prompts input's alpha as it is: a Roto on the Read under a Source behind a Transform
    gave a mask where the Roto was drawn (before: rendered, silently misplaced). Both inputs below the same
    Transform (Read -> Roto -> Transform -> Source and Prompts) is right and accepted."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    tr = nk.nodes.Transform()
    tr.setInput(0, read)
    _set_transform(tr, **MOVE)
    roto = _roto(nk, read, shot["polygon"], 1002)
    g = _node(nk, tr, roto, tmp_path)
    g["roto_mode"].setValue(snode.REFINE_ONLY)
    with pytest.raises(Exception) as e:
        snode.build(g)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID" and tr.name() in str(e.value), e.value
    assert nk._state["executed"] == []
    tr.setInput(0, roto)
    g.setInput(1, tr)

    def hook(w, first, last):
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % t)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            open(out, "wb").close()
    nk._set_render_hook(hook)
    job, _ = snode.build(g)
    assert job["objects"][0]["masks"]["soft"] is True


def test_a_time_offset_on_both_inputs_is_applied_once(nk, shot, tmp_path):
    """Read -> TimeOffset(+1) -> Source and Read -> Roto -> TimeOffset(+1) -> Prompts (the artist offset both): the
    key on 1002 is seen on 1003 on both inputs; prompted on 1003, not 1004 (the two offsets are not added). With
    the Source's TimeOffset alone, 1003 too (before: 1002, the frame the Roto was drawn on)."""
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H)
    src = nk.nodes.TimeOffset(time_offset=1)
    src.setInput(0, read)
    roto = _roto(nk, read, shot["polygon"], 1002)
    pr = nk.nodes.TimeOffset(time_offset=1)
    pr.setInput(0, roto)
    g = _node(nk, src, pr, tmp_path, shot)
    job, _ = snode.build(g)
    assert [f for f, _ in _points(job)] == [1003]
    g.setInput(1, roto)
    job, _ = snode.build(g)
    assert [f for f, _ in _points(job)] == [1003]
