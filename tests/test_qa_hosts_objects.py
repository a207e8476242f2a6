"""QA of the hosts with many objects and an artist's corrections among them: a SAMatte node (the Nuke
double, tests/nuke) fed by a Roto with 27 layers (duplicate-after-mapping, reserved, empty and nested
names, a root shape) and a Tracker4, run with a REAL worker (flow, draft, 64x64, 4 frames); then one
shape's key moved on one frame, a layer renamed, a layer removed, two layers swapped, and a rename
followed by Matte this frame. What each run rewrites (matte files and stored tracks, by content), the
layers in the files, and what the node's internal Read (``farm.frame_path``) lets a render read.
"""
import hashlib
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import farm, node as snode, runner as srunner  # noqa: E402

VENV_PY = os.path.join(nuke_env.REPO, ".venv", "bin", "python")
pytestmark = pytest.mark.skipif(not os.path.exists(VENV_PY), reason="the project venv is needed")

LAYERS = ["obj %02d" % i for i in range(20)] + ["my roto", "my_roto", "", "alpha", "rgba", "Hero", "hero"]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("hostsobj")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(monkeypatch, tmp_path):
    nuke = nuke_env.fresh()
    pool = nuke_env.use_pool(monkeypatch, srunner.WorkerPool(), tmp_path, VENV_PY)
    yield nuke
    pool.close_all()


def _square(curves, name, x0, y0, size, keys=(1, 4)):
    s = rp.Shape(curves, name=name)
    for ax, ay in ((0, 0), (1, 0), (1, 1), (0, 1)):
        cp = rp.ShapeControlPoint()
        for t in keys:
            cp.center.addPositionKey(t, (x0 + ax * size, y0 + ay * size))
        s.append(cp)
    return s


def _comp(nuke, shot, tmp_path):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    cur = roto["curves"]
    for i, name in enumerate(LAYERS):
        layer = rp.Layer(cur, name=name)
        layer.append(_square(cur, "Bezier%d" % i, 2 + (i % 7) * 9, 2 + (i // 7) * 12, 6))
        cur.rootLayer.append(layer)
    inner = rp.Layer(cur, name="inner")                 # a nested layer: part of its top layer's object
    inner.append(_square(cur, "nested", 50, 52, 5))
    list(cur.rootLayer)[0].append(inner)
    cur.rootLayer.append(_square(cur, "rootshape", 30, 52, 5))   # a root shape: the node's object
    tr = nuke.nodes.Tracker4()
    tr.setInput(0, roto)
    tr["tracks"]._add_track("obj 01/eye", {1: (13, 5), 4: (13, 5)})
    tr["tracks"]._add_track("free", {2: (40, 40)})
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, tr)
    g["tracker"].setValue("flow")
    g["quality"].setValue("draft")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    return roto, g


def _snap(folder):
    out = {}
    for d, _dirs, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _layers(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        spec = inp.spec()
        px = inp.read_image(0, 0, 0, spec.nchannels, "float")
    finally:
        inp.close()
    return {c: px[..., k].copy() for k, c in enumerate(spec.channelnames)}


def _layer(roto, name):
    return next(x for x in roto["curves"].rootLayer if getattr(x, "name", None) == name)


class _Runs:
    def __init__(self, nuke, g):
        self.nuke, self.g = nuke, g

    def run(self, how="track"):
        g = self.g
        before = self.snap() if farm.stored_job_text(g) else {}
        r = snode.on_track(g) if how == "track" else snode.on_matte_frame(g)
        outcome = nuke_env.wait_runner(self.nuke, r, 180)
        assert outcome[0] == "done", outcome
        after = self.snap()
        return sorted(k for k in after if before.get(k) != after[k] and "manifest" not in k)

    def out(self):
        return farm.stored_job(self.g)["output"]["path"]

    def snap(self):
        return _snap(os.path.dirname(self.out()))

    def frame(self, f):
        return _layers(self.out().replace("####", "%04d" % f))


def test_many_layers_edit_rename_remove_swap(nk, shot, tmp_path):
    roto, g = _comp(nk, shot, tmp_path)
    job, _info = snode.build(g)
    names = [o["name"] for o in job["objects"]]
    hosts = [o["host_name"] for o in job["objects"]]
    assert len(names) == len(LAYERS) + 2 == len(set(n.lower() for n in names)), names   # + Tracker4, + root
    assert dict(zip(hosts, names))["my_roto"] == "my_roto_2" and dict(zip(hosts, names))["hero"] == "hero_2"
    tracker = g.input(1).name()   # the double numbers nodes per process: Tracker41 when it is the first
    assert {"alpha_layer", "rgba_layer", "Hero", roto.name(), tracker} <= set(names)
    runs = _Runs(nk, g)
    runs.run()
    f1 = {f: runs.frame(f) for f in shot["frames"]}
    for f in shot["frames"]:             # every object one layer of its own (Nuke: name.alpha)
        assert sorted(c for c in f1[f] if c.endswith(".A")) == sorted(n + ".A" for n in names)

    # one shape's key on the last frame moved 1 px: that object's track from the anchor before it, those
    # frames' mattes; the other objects' layers keep their pixels
    for cp in list(_layer(roto, "obj 05"))[0]:
        p = cp.center.getPosition(4)
        cp.center.addPositionKey(4, (p.x + 1, p.y))
    changed = runs.run()
    i5 = names.index("obj_05")
    assert sorted(os.path.basename(k) for k in changed) == sorted(
        ["%d.o%d.npz" % (f, i5) for f in (1002, 1003, 1004)] + ["matte.%d.exr" % f for f in (1002, 1003, 1004)]), changed
    f2 = {f: runs.frame(f) for f in shot["frames"]}
    for f in shot["frames"]:
        for n in names:
            if n != "obj_05":
                assert np.array_equal(f1[f][n + ".A"], f2[f][n + ".A"]), (f, n)

    # a rename: no re-track; every frame carries the new layer, not the old one; same pixels
    _layer(roto, "obj 07").name = "car"
    changed = runs.run()
    assert not [k for k in changed if k.endswith(".npz")], changed
    for f in shot["frames"]:
        got = runs.frame(f)
        assert "obj_07.A" not in got and np.array_equal(got["car.A"], f2[f]["obj_07.A"])

    # removing a layer: its object leaves the files and the merged A (A = the merge of the layers left)
    roto["curves"].rootLayer._items = [x for x in roto["curves"].rootLayer if getattr(x, "name", None) != "obj 03"]
    runs.run()
    for f in shot["frames"]:
        got = runs.frame(f)
        assert "obj_03.A" not in got
        # the merge of the layers left (0.2.20: the union where masks overlap, their sum where they meet)
        layers = [got[c] for c in got if c.endswith(".A")]
        union = 1 - np.prod([1 - a for a in layers], axis=0)
        assert (got["A"] >= union - 2e-3).all() and (got["A"] <= np.minimum(1, sum(layers)) + 2e-3).all()

    # two layers swapped: same layers, same pixels
    before = {f: runs.frame(f) for f in shot["frames"]}
    items = roto["curves"].rootLayer._items
    items[5], items[9] = items[9], items[5]
    runs.run()
    for f in shot["frames"]:
        got = runs.frame(f)
        assert sorted(got) == sorted(before[f]) and all(np.array_equal(got[c], before[f][c]) for c in got)


def test_a_render_after_a_rename_and_matte_this_frame_refuses_frames_without_the_new_layer(nk, shot, tmp_path):
    """Rename a Roto layer, then Matte this frame: only the current frame is rewritten (with the new layer
    name), the stored job names the new object. The node's internal Read checked only ``samatte/key``
    (object names are in no key) and let a render read the other frames as current: they hold the old
    layer (``car.A``), so the comp's ``truck.alpha`` was black there, silently. samatte's own check
    (``samatte status``, a re-run) calls them stale; the render now refuses them the same way."""
    roto, g = _comp(nk, shot, tmp_path)
    runs = _Runs(nk, g)
    runs.run()
    _layer(roto, "obj 07").name = "truck"
    nk.frame(3)
    changed = runs.run(how="matte")
    assert changed == ["matte.1003.exr"], changed
    assert "truck" in [o["name"] for o in farm.stored_job(g)["objects"]]
    assert "truck.A" in _layers(farm.frame_path(g, 3))
    for t in (1, 2, 4):
        assert "truck.A" not in runs.frame(1000 + t)
        state, _path = farm.frame_state(farm.stored_job_text(g), 1000 + t, fresh=True)
        assert state == "stale", (t, state)
        with pytest.raises(farm.StaleFrameError):
            farm.frame_path(g, t)
    # Track & Matte remakes them (matting only: the track is current), and the render reads them
    changed = runs.run()
    assert sorted(changed) == ["matte.1001.exr", "matte.1002.exr", "matte.1004.exr"], changed
    for t in (1, 2, 3, 4):
        assert "truck.A" in _layers(farm.frame_path(g, t))
