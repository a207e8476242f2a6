"""Test helper: put the Nuke double (tests/nuke) and the plugin (nuke_plugin) on sys.path."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLUGIN = os.path.join(REPO, "nuke_plugin")
for p in (HERE, PLUGIN):
    if p not in sys.path:
        sys.path.insert(0, p)

import nuke  # noqa: E402  (the double)
import nuke.rotopaint as rp  # noqa: E402,F401  (re-exported for the tests)


def fresh():
    nuke._reset()
    return nuke


def make_read(path, first, last, *, width, height, pixel_aspect=1.0, mode="", value="", bbox=None,
              colourspace="default"):
    """A Read as Nuke makes it for an EXR sequence: first/last in file numbers [doc: Read node]."""
    r = nuke.nodes.Read(file=path, first=first, last=last, origfirst=first, origlast=last)
    r["format"]._value = nuke.Format(width, height, pixel_aspect)
    if mode:
        r["frame_mode"].setValue(mode)
        r["frame"].setValue(str(value))
    r["colorspace"].setValue(colourspace)
    if bbox is not None:
        r._set_bbox(*bbox)
    return r


def polygon_shape(curves, polygon, t, height, *, name):
    """A Roto shape keyed on frame ``t`` through ``polygon`` (JobSpec pixels, top-left origin), its
    points flipped to Nuke's bottom-left origin."""
    shape = rp.Shape(curves, name=name)
    for X, Y in polygon:
        cp = rp.ShapeControlPoint()
        cp.center.addPositionKey(t, (X, height - Y))
        shape.append(cp)
    return shape


def use_pool(monkeypatch, pool, tmp_path, python):
    """The SAMatte node's jobs in ``pool`` (a ``runner.WorkerPool``) with samatte's Python ``python``
    and no user config: the pool of ``samatte_nuke.runner`` and ``.node`` and every new JobRunner's
    default; the node's runners cleared."""
    from samatte_nuke import node as snode, runner as srunner
    monkeypatch.setenv("SAMATTE_PYTHON", python)
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    monkeypatch.setattr(srunner, "POOL", pool)
    monkeypatch.setattr(snode, "POOL", pool)
    real_init = srunner.JobRunner.__init__

    def init(self, *a, **kw):
        kw.setdefault("pool", pool)
        real_init(self, *a, **kw)
    monkeypatch.setattr(srunner.JobRunner, "__init__", init)
    snode.RUNNERS.clear()
    return pool


def wait_runner(nuke, runner, timeout=180):
    """Run Nuke's main-thread queue until ``runner`` (a JobRunner) ends; its outcome."""
    import time
    t0 = time.monotonic()
    while runner.is_alive():
        nuke._process_main_queue(timeout=0.05)
        assert time.monotonic() - t0 < timeout, "job did not finish"
    runner.join()
    nuke._process_main_queue()
    return runner.outcome
