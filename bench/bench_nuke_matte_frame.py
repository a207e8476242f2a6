"""Matte this frame through the SAMatte node (Nuke double + real worker): button to written frame.

    .venv/bin/python bench/bench_nuke_matte_frame.py [--size 1920x1080] [--frames 3]

Makes a demo shot, runs Track & Matte (shapes tracker), then changes the matte quality and presses
Matte this frame on the middle frame (warm worker, stored track): prints both times.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "nuke"))
import nuke_env  # noqa: E402


def wait(nuke, r):
    while r.is_alive():
        nuke._process_main_queue(timeout=0.01)
    r.join()
    nuke._process_main_queue()
    return r.outcome


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=3)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    from samatte.demo import make_shot
    from samatte_nuke import node as snode
    os.environ.setdefault("SAMATTE_PYTHON", sys.executable)
    tmp = tempfile.mkdtemp(prefix="bench_nuke_")
    t0 = time.monotonic()
    shot = make_shot(os.path.join(tmp, "shot"), frames=a.frames, size=(w, h), first=1001)
    print("shot %dx%d x%d made in %.1f s" % (w, h, a.frames, time.monotonic() - t0))
    nuke = nuke_env.fresh()
    read = nuke_env.make_read(shot["plate"], 1001, 1000 + a.frames, width=w, height=h, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    t = shot["prompt_frame"] - 1000
    shape = nuke_env.polygon_shape(roto["curves"], shot["polygon"], t, h, name="B")
    roto["curves"].rootLayer.append(shape)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(os.path.join(tmp, "cache"))
    t0 = time.monotonic()
    out = wait(nuke, snode.on_track(g))
    print("Track & Matte (cold worker): %.2f s %s" % (time.monotonic() - t0, out[0]))
    nuke.frame(t)
    for q in ("draft", "high", "default"):
        g["quality"].setValue(q)
        t0 = time.monotonic()
        out = wait(nuke, snode.on_matte_frame(g))
        print("Matte this frame, quality %s (warm worker): %.2f s, written %s" % (
            q, time.monotonic() - t0, [os.path.basename(p) for p in (out[1] or {}).get("written", [])]
            if out[0] == "done" else out))
    snode.POOL.close_all()


if __name__ == "__main__":
    main()
