"""The SAMatte node under the script-level modes an artist uses: proxy mode, stereo (multi-view) scripts.

Sources (Foundry):
* Proxy mode (getting_started/managing_scripts/proxy_mode.html): "In proxy mode ... All images and all x/y
  positions are scaled by this factor"; a Read's proxy file is read instead of the full-size one.
  Roto shapes and tracks are stored in full-size coordinates (their knobs; Nuke scales them when it renders).
* Write (reference_guide/image_nodes/write.html): "this node executes all renders at the currently active
  scale: either full- or proxy-resolution".
* OneView (reference_guide/views_nodes): takes one view of its input and shows it on every view; a Read
  whose file name holds ``%V`` / ``%v`` reads one file per view; JoinViews makes one stream of several views.

The double (tests/nuke) records the scale each ``nuke.execute`` runs at (``_state["render_scales"]``); the
render hook below writes the plate at that scale, as Nuke would.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte.errors import SamatteError  # noqa: E402
from samatte.exrheader import windows  # noqa: E402
from samatte_nuke import node as snode  # noqa: E402

W, H = 96, 64


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("modeshot")
    return make_shot(str(d), frames=3, size=(W, H), first=1001)


def _scaled_render_hook(nuke, shot):
    """What nuke.execute of the node's Write writes: the Source (the demo plate behind an identity Grade)
    or the Prompts' alpha (the true alpha), at the scale Nuke renders at (proxy mode halves it)."""
    from samatte.io.exr import read_rgb, write_image

    def hook(w, first, last):
        sx, sy = nuke._state["render_scales"][-1]
        src = w.input(0).name()
        k = int(w["frame"].value() or 0) if w["frame_mode"].value() == "offset" else 0
        for t in range(first, last + 1):
            out = w["file"].value().replace("####", "%04d" % (t + k))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            if src == "Source":
                img = read_rgb(shot["plate"].replace("####", "%04d" % (t + 1000)))
            else:
                img = read_rgb(shot["gt"].replace("####", "%04d" % (t + 1000)))[..., :1]
            h, w_ = int(round(H * sy)), int(round(W * sx))
            ys = (np.arange(h) * H // h)[:, None]
            xs = (np.arange(w_) * W // w_)[None, :]
            small = np.ascontiguousarray(img[ys, xs])
            write_image(out, small, channels=("R", "G", "B") if src == "Source" else ("A",), pixel_type="half")
    nuke._set_render_hook(hook)


def _roto(nuke, read):
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    s = rp.Shape(roto["curves"], name="B")
    for x, y in ((10, 10), (80, 12), (50, 55)):         # full-size Nuke coordinates (bottom-left origin)
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(2, (x, y))
        s.append(cp)
    roto["curves"].rootLayer.append(s)
    return roto


def _graded_node(nuke, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H, mode="offset", value=-1000)
    grade = nuke.nodes.Grade()
    grade.setInput(0, read)
    roto = _roto(nuke, read)
    g = snode.create()
    g.setInput(0, grade)
    g.setInput(1, roto)
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return g


@pytest.fixture
def nk():
    return nuke_env.fresh()


@pytest.mark.parametrize("proxy_type", ["scale", "format"])
def test_proxy_mode_renders_the_plate_at_full_size_where_the_prompts_are(nk, shot, tmp_path, proxy_type):
    """A Source that is not a plain Read (a Grade) is rendered by the node's Write; in proxy mode Nuke
    renders at the proxy scale. Before: a 48x32 plate under full-size prompts (the shape's point
    (80, 12) lay outside it) and the node's matte at half size; toggling proxy kept that plate."""
    _scaled_render_hook(nk, shot)
    g = _graded_node(nk, shot, tmp_path)
    nk.root()["proxy_type"].setValue(proxy_type)
    nk.root()["proxy_format"]._value = nk.Format(48, 32, 1.0, "half")
    nk.root()["format"]._value = nk.Format(W, H, 1.0, "full")
    nk.root()["proxy"].setValue(True)
    job_px, _ = snode.build(g)
    assert nk._state["render_scales"] == [(1.0, 1.0)]
    assert nk.root()["proxy"].value() is True                  # the artist's proxy mode is left as it was
    plate = job_px["plate"]["path"].replace("####", "0002")
    assert list(windows(plate)["display_window"]) == [0, 0, W, H]
    pts = job_px["objects"][0]["prompts"][0]["points"]
    assert [p[:2] for p in pts] == [[10.0, 54.0], [80.0, 52.0], [50.0, 9.0]]
    nk.root()["proxy"].setValue(False)
    job_full, _ = snode.build(g)
    assert job_full == job_px                                  # toggling proxy changes nothing: no recompute
    assert len(nk._state["executed"]) == 1


def test_a_proxy_scale_plate_cached_by_an_older_samatte_is_rendered_again(nk, shot, tmp_path, monkeypatch):
    """samatte 0.2.14 rendered the plate at the proxy scale under the same upstream hash: that cached
    half-size plate is not reused under full-size prompts, it is rendered again at full size."""
    import contextlib
    _scaled_render_hook(nk, shot)
    g = _graded_node(nk, shot, tmp_path)
    nk.root()["proxy_format"]._value = nk.Format(48, 32, 1.0, "half")
    nk.root()["format"]._value = nk.Format(W, H, 1.0, "full")
    nk.root()["proxy"].setValue(True)
    monkeypatch.setattr(snode.jobmod, "full_size", lambda root: contextlib.nullcontext())   # the old build
    old, _ = snode.build(g)
    plate = old["plate"]["path"].replace("####", "0002")
    assert list(windows(plate)["display_window"]) == [0, 0, 48, 32]
    monkeypatch.undo()
    _scaled_render_hook(nk, shot)
    job, _ = snode.build(g)
    assert job["plate"]["path"] == old["plate"]["path"]        # the same hash, the same folder
    assert list(windows(plate)["display_window"]) == [0, 0, W, H]
    assert nk._state["render_scales"][-1] == (1.0, 1.0)
    n = len(nk._state["executed"])
    snode.build(g)                                             # full size now: reused
    assert len(nk._state["executed"]) == n


def test_proxy_mode_renders_refine_only_masks_at_full_size(nk, shot, tmp_path):
    _scaled_render_hook(nk, shot)
    g = _graded_node(nk, shot, tmp_path)
    g["roto_mode"].setValue(snode.REFINE_ONLY)
    nk.root()["proxy"].setValue(True)
    job, _ = snode.build(g)
    masks = job["objects"][0]["masks"]["path"]
    assert list(windows(masks.replace("####", "0001"))["display_window"]) == [0, 0, W, H]
    assert set(nk._state["render_scales"]) == {(1.0, 1.0)}
    assert nk.root()["proxy"].value() is True


def test_proxy_mode_with_a_proxy_file_still_reads_the_full_size_files(nk, shot, tmp_path, monkeypatch):
    """A Read whose file name holds TCL is expanded with nuke.filename, which names the proxy file in
    proxy mode. Before: the Read was not used directly in proxy mode (its plate was rendered, and the
    job's plate path changed, so toggling proxy re-tracked and re-matted every frame)."""
    _scaled_render_hook(nk, shot)
    folder, name = os.path.split(shot["plate"])
    monkeypatch.setenv("SAMATTE_QA_SHOT", folder)
    read = nuke_env.make_read("$env(SAMATTE_QA_SHOT)/" + name, 1001, 1003, width=W, height=H)
    read["proxy"].setValue(str(tmp_path / "proxy" / "plate_half.####.exr"))
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, _roto(nk, read))
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job_full, _ = snode.build(g)
    nk.root()["proxy"].setValue(True)
    job_px, _ = snode.build(g)
    assert job_px == job_full and job_px["plate"]["path"] == shot["plate"]
    assert not nk._state["executed"]
    assert nk.root()["proxy"].value() is True


# --- stereo / multi-view ------------------------------------------------------------------------------
def _stereo_read(nuke, shot):
    path = shot["plate"].replace("plate.####", "plate_%V.####")
    return nuke_env.make_read(path, 1001, 1003, width=W, height=H, mode="offset", value=-1000)


def _node_on(nuke, source, prompt_input, tmp_path):
    g = snode.create()
    g.setInput(0, source)
    g.setInput(1, _roto(nuke, prompt_input))
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return g


def test_a_per_view_read_behind_a_grade_is_refused_before_anything_is_rendered(nk, shot, tmp_path):
    """Before: only a %V Read plugged straight into Source was refused; behind a Grade (or any node) the
    plate was rendered with nuke.execute for every view (Foundry: views "Default is None. Execute for all")
    into one file name, and the node showed that one matte on the left and the right eye alike."""
    _scaled_render_hook(nk, shot)
    read = _stereo_read(nk, shot)
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g = _node_on(nk, grade, read, tmp_path)
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    assert e.value.code == "PLATE_INVALID"
    msg = e.value.message
    assert read.name() in msg and "%V" in msg and "OneView" in msg and grade.name() in msg
    assert not nk._state["executed"]
    assert snode.on_track(g) is None and "PLATE_INVALID" in g["status"].value()


def test_join_views_is_refused_and_a_one_view_makes_the_script_mattable(nk, shot, tmp_path):
    _scaled_render_hook(nk, shot)
    left = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H, mode="offset", value=-1000)
    right = nuke_env.make_read(shot["plate"], 1001, 1003, width=W, height=H, mode="offset", value=-1000)
    join = nk.nodes.JoinViews()
    join.setInput(0, left)
    join.setInput(1, right)
    g = _node_on(nk, join, left, tmp_path)
    with pytest.raises(SamatteError) as e:
        snode.build(g)
    assert e.value.code == "PLATE_INVALID" and join.name() in e.value.message
    one = nk.nodes.OneView()
    one.setInput(0, join)
    g.setInput(0, one)
    job, _ = snode.build(g)                                    # one view on every view: rendered, matted
    assert "/plate_" in job["plate"]["path"].replace("\\", "/")
    one["disable"].setValue(True)                              # a disabled OneView passes every view
    with pytest.raises(SamatteError):
        snode.build(g)
    # a %V Read behind an enabled OneView is fine too
    stereo = _stereo_read(nk, shot)
    one2 = nk.nodes.OneView()
    one2.setInput(0, stereo)
    grade = nk.nodes.Grade()
    grade.setInput(0, one2)
    g.setInput(0, grade)
    assert snode.build(g)[0]["objects"]


# --- Roto lifetime --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ltt, ltn, ltm, first", [(4, 3, 7, 3), (2, 5, 5, 5), (4, 2, 9, 2)])
def test_a_shape_whose_keys_all_lie_outside_its_lifetime_is_prompted_where_it_lives(nk, ltt, ltn, ltm, first):
    """Keys on 1 and 10, lifetime (Roto's Lifetime tab: ``ltt`` 4 frame range / 2 single frame, ``ltn``
    from, ``ltm`` to) inside them: Nuke draws the shape, interpolated, on the frames it lives.
    Before: its keyed frames were all skipped as outside the lifetime and the shape gave no prompt at all
    (the object vanished, or a '-' garbage shape was silently not removed)."""
    from samatte_nuke import convert, gather
    roto = nk.nodes.Roto()
    s = rp.Shape(roto["curves"], name="B")
    for (x0, y0), (x1, y1) in (((10, 10), (19, 10)), ((50, 10), (59, 10)), ((30, 40), (39, 40))):
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(1, (x0, y0))
        cp.center.addPositionKey(10, (x1, y1))
        s.append(cp)
    a = s.getAttributes()
    a.set("ltt", ltt)
    a.set("ltn", ltn)
    a.set("ltm", ltm)
    roto["curves"].rootLayer.append(s)
    out = gather.gather_roto(roto, convert.Geometry(W, H), convert.FrameMap(0), list(range(1, 11)), rp)
    (q,) = out[roto.name()]
    assert q["frame"] == first
    assert q["points"][0][:2] == [10.0 + (first - 1), H - 10.0]     # the shape as Nuke draws it there
