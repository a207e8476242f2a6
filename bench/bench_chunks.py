"""How far pre-rolled matte chunks differ from a single run, and how fast "matte this frame" is.

Command (from the repository root, venv active)::

    python bench/bench_chunks.py                      # demo shot + the dev synthvideo clips, K = 0 1 2 4 8
    python bench/bench_chunks.py --preroll 0,4 --chunk 4 --no-synthvideo
    python bench/bench_chunks.py --latency            # also: matte one frame of a 1080p shot
    python bench/bench_chunks.py --edit --only        # frames recomputed after one-frame edits

A farm matte task gets a chunk of frames and the stored track (``samatte run JOB --stage matte
--frames A-B --preroll K``). When the frame before the chunk is finished, the chunk seeds its
temporal state from it and equals a single run bit for bit (tests/test_stages_run.py). When it is not
(chunks running in parallel), the chunk mattes K frames before A without writing them. This script
mattes every chunk into its own output folder (so no chunk sees another's frames), sharing one
stored track, and compares each frame's alphas (``A`` and every ``<object>.A``) with a single run:
per frame the mean and the max absolute difference, then over the clip the mean of the per-frame
means and the largest per-frame max, for the first frame of each chunk after the first (where the
pre-roll matters) and for all frames.

Shots: the demo shot (``samatte.demo.make_shot``, 24 frames 640x360, flow tracker, polygon prompt
on the middle frame: its temporal state restarts on that keyframe) and the dev clips of
../shared/eval/synthvideo (12 frames 854x480, refine-only with the benchmark's coarse masks: one
temporal chain over the whole clip), default matte quality.

``--latency``: a 1920x1080 demo shot; the track is stored, frame F-1 is finished; then the time from
the request to the written frame F, in this process (warm: modules imported and JIT code compiled by
a first frame) and through a warm worker (``samatte.client.WorkerClient``, second job on it).
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def read_alphas(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        spec = inp.spec()
        names = list(spec.channelnames)
        px = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
        return {n: px[:, :, i] for i, n in enumerate(names) if n == "A" or n.endswith(".A")}
    finally:
        inp.close()


def chunk_ranges(frames, size):
    return [frames[i:i + size] for i in range(0, len(frames), size)]


def compare(job, frames, chunk, prerolls, tmp, label):
    """Rows of (label, K, first-frame mean, first-frame max, all mean, all max, seconds)."""
    from samatte import pipeline
    single = dict(job, output=dict(job["output"], path=os.path.join(tmp, "single", "m.####.exr")))
    pipeline.run(single)   # tracks (stores the track in the shared work dir) and mattes
    ref = {f: read_alphas(single["output"]["path"].replace("####", "%04d" % f)) for f in frames}
    rows = []
    for k in prerolls:
        diffs = {}
        t0 = time.perf_counter()
        for ci, ch in enumerate(chunk_ranges(frames, chunk)):
            out = os.path.join(tmp, "k%d_c%d" % (k, ci), "m.####.exr")
            j = dict(job, output=dict(job["output"], path=out))
            pipeline.run(j, stage="matte", frames=[int(f) for f in ch], preroll=k)
            for f in ch:
                got = read_alphas(out.replace("####", "%04d" % f))
                d = [np.abs(got[n] - ref[f][n]) for n in ref[f]]
                diffs[f] = (float(np.mean([x.mean() for x in d])), float(max(x.max() for x in d)))
        secs = time.perf_counter() - t0
        firsts = [ch[0] for ch in chunk_ranges(frames, chunk)[1:]]
        fm = [diffs[f] for f in firsts]
        rows.append((label, k, np.mean([m for m, _ in fm]), max(x for _, x in fm),
                     np.mean([m for m, _ in diffs.values()]), max(x for _, x in diffs.values()), secs))
        print("%-22s K=%-2d  chunk starts: mean %.5f max %.4f   all frames: mean %.5f max %.4f   (%.0f s)"
              % rows[-1], flush=True)
    return rows


def demo_job(tmp, frames=24, size=(640, 360)):
    from samatte import jobspec
    from samatte.demo import make_shot
    s = make_shot(os.path.join(tmp, "shot"), frames=frames, size=size)
    job = jobspec.new_job(s["plate"], os.path.join(tmp, "single", "m.####.exr"),
                          frames="%d-%d" % (s["frames"][0], s["frames"][-1]), tracker="flow", matte="refine",
                          name="bench_chunks", work_dir=os.path.join(tmp, "work"))
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return jobspec.validate(job), s


def synth_job(clip, tmp):
    import cv2
    from bench_synthvideo import EVAL, coarse_mask, load_clip
    from samatte import jobspec
    _, gt = load_clip(clip)
    mdir = os.path.join(tmp, "masks")
    os.makedirs(mdir, exist_ok=True)
    for i, g in enumerate(gt):
        cv2.imwrite(os.path.join(mdir, "m.%05d.png" % i), coarse_mask(g).astype(np.uint8) * 255)
    job = jobspec.new_job(os.path.join(EVAL, clip, "rgb", "#####.exr"), os.path.join(tmp, "single", "m.####.exr"),
                          frames="0-%d" % (len(gt) - 1), matte="refine", name="bench_chunks",
                          work_dir=os.path.join(tmp, "work"))
    jobspec.add_object(job, "object", masks={"path": os.path.join(mdir, "m.#####.png")})
    return jobspec.validate(job), list(range(len(gt)))


def latency(tmp):
    from samatte import pipeline
    job, s = demo_job(tmp, frames=6, size=(1920, 1080))
    frames = s["frames"]
    f = frames[-1]
    pipeline.run(job, stage="track")                          # the stored track
    pipeline.run(job, frames="%d-%d" % (frames[0], f - 1))   # mattes all but F (and warms up)
    t = time.perf_counter()
    r = pipeline.run(job, stage="matte", frames=[f])
    dt = time.perf_counter() - t
    assert len(r["written"]) == 1
    print("matte-this-frame 1920x1080, in process (warm), F-1 finished: %.2f s" % dt, flush=True)
    try:
        from samatte.client import WorkerClient
    except ImportError:
        return
    os.remove(r["written"][0])
    with WorkerClient(sys.executable) as w:
        w.run(job, stage="matte", frames=[f])            # first job: imports, JIT
        os.remove(r["written"][0])
        t = time.perf_counter()
        res = w.run(job, stage="matte", frames=[f])
        dt = time.perf_counter() - t
        assert len(res["written"]) == 1
    print("matte-this-frame 1920x1080, warm worker (second job), F-1 finished: %.2f s" % dt, flush=True)


def edit_counts(tmp):
    """Frames re-tracked and re-matted after one-frame edits of a 24-frame demo job with mask prompts
    (from the true alpha) on 1001, 1009, 1017 and 1024."""
    import copy

    import cv2
    from bench_synthvideo import read_exr
    from samatte import jobspec, pipeline
    from samatte.demo import make_shot
    s = make_shot(os.path.join(tmp, "shot"), frames=24, size=(640, 360))
    keys = [1001, 1009, 1017, 1024]
    pngs = {}
    for f in keys:
        a = read_exr(s["gt"].replace("####", "%04d" % f))[..., 0]
        pngs[f] = os.path.join(tmp, "prompt.%d.png" % f)
        cv2.imwrite(pngs[f], (a >= 0.5).astype(np.uint8) * 255)
    job = jobspec.new_job(s["plate"], os.path.join(tmp, "out", "m.####.exr"), frames="1001-1024",
                          tracker="flow", matte="refine", name="bench_edit")
    jobspec.add_object(job, "ball", [jobspec.mask_prompt(f, pngs[f]) for f in keys])
    r = pipeline.run(job)
    print("first run: %d tracked, %d matted" % (len(r["tracked"]), len(r["written"])), flush=True)
    m = cv2.imread(pngs[1017], cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(pngs[1017], cv2.dilate(m, np.ones((7, 7), np.uint8)))   # the roto of 1017 re-rendered
    r = pipeline.run(job)
    print("mask prompt of 1017 overwritten: %d re-tracked (%s), %d re-matted" % (
        len(r["tracked"]), _span(r["tracked"]), len(r["written"])), flush=True)
    a = read_exr(s["gt"].replace("####", "%04d" % 1020))[..., 0]
    ys, xs = np.nonzero(a >= 0.5)
    j = copy.deepcopy(job)
    jobspec.add_prompt(j, "ball", jobspec.points_prompt(1020, [(float(xs.mean()), float(ys.mean()))]))
    r = pipeline.run(j)
    print("a points correction added on 1020: %d re-tracked (%s), %d re-matted" % (
        len(r["tracked"]), _span(r["tracked"]), len(r["written"])), flush=True)
    j["objects"][0]["colour"] = [1.0, 0.5, 0.0]
    r = pipeline.run(j)
    print("object colour changed: %d re-tracked, %d re-matted" % (len(r["tracked"]), len(r["written"])), flush=True)


def _tmpdir(prefix):
    return tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True)


def _span(frames):
    from samatte.frames import format_frames
    return format_frames(frames) if frames else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preroll", default="0,1,2,4,8")
    ap.add_argument("--chunk", type=int, default=0, help="chunk size (default: 6 demo, 4 synthvideo)")
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--no-synthvideo", action="store_true")
    ap.add_argument("--clips", default="GT01_bmx-trees,GT09_cows,GT18_horsejump-high")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--edit", action="store_true", help="also: frames recomputed after one-frame edits")
    ap.add_argument("--only", action="store_true", help="only the --edit / --latency parts")
    a = ap.parse_args(argv)
    if a.only:
        a.no_demo = a.no_synthvideo = True
    ks = [int(x) for x in a.preroll.split(",")]
    rows = []
    if not a.no_demo:
        with _tmpdir("samatte_chunks_") as tmp:
            job, s = demo_job(tmp)
            rows += compare(job, s["frames"], a.chunk or 6, ks, tmp, "demo 640x360")
    if not a.no_synthvideo:
        for clip in a.clips.split(","):
            with _tmpdir("samatte_chunks_") as tmp:
                job, frames = synth_job(clip, tmp)
                rows += compare(job, frames, a.chunk or 4, ks, tmp, clip)
    if rows:
        print("\nmean over shots (x1e3): K, chunk-start mean / max, all-frames mean / max")
        for k in ks:
            r = [x for x in rows if x[1] == k]
            print("K=%-2d  %.2f / %.1f   %.2f / %.1f" % (k, 1e3 * np.mean([x[2] for x in r]),
                                                          1e3 * max(x[3] for x in r),
                                                          1e3 * np.mean([x[4] for x in r]),
                                                          1e3 * max(x[5] for x in r)))
    if a.edit:
        with _tmpdir("samatte_edit_") as tmp:
            edit_counts(tmp)
    if a.latency:
        with _tmpdir("samatte_latency_") as tmp:
            latency(tmp)


if __name__ == "__main__":
    main()
