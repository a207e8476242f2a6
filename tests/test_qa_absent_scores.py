"""QA: an object's ``absent`` frames have no per-object score. The frame score (``samatte/score``, the
result's ``scores``, QC) leaves an absent object out since b4cf373; ``samatte/object_scores`` still wrote
0.0 for it on those frames (a TD reading per-object scores saw the shot's worst score on frames whose alpha
is 0 by the artist's word). Now the object is left out of that JSON there (README "Output EXRs"), and a
resumed run and farm chunks in any order still write one run's pixels and ``samatte/*`` metadata."""
import json

import numpy as np
import pytest

from demo_shots import make_demo_shot
from samatte import jobspec, pipeline
from test_qa_absent import _read  # (the one EXR reader of these tests: channels and samatte/ metadata)

FRAMES = range(1001, 1007)
GONE = (1003, 1004)
WALL = [[4.0, 4.0], [40.0, 4.0], [40.0, 30.0], [4.0, 30.0]]   # a static patch, present on every frame


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import _roto_polygon
    from samatte.io.exr import read_info
    from samatte.io.masks import read_mask
    s, _ = make_demo_shot(tmp_path_factory, "qa_absent_scores", 6)
    info = read_info(s["plate"].replace("####", "1001"))
    polys = {f: [list(map(float, p)) for p in _roto_polygon(read_mask(s["gt"].replace("####", "%04d" % f), info))]
             for f in (1001, 1006)}
    return s, polys


def _job(shot, out, compression="zip"):
    s, polys = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1006", tracker="flow",
                          matte="refine", quality="draft", name="qa_absent_scores")
    job["output"]["compression"] = compression
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(k, polys[k]) for k in (1001, 1006)],
                       absent="1003-1004")
    jobspec.add_object(job, "wall", [jobspec.polygon_prompt(1001, WALL)])
    return job


def _same(a_dir, b_dir):
    for f in FRAMES:
        (a, ma), (b, mb) = _read(a_dir, f), _read(b_dir, f)
        assert set(a) == set(b) and all(np.array_equal(a[c], b[c]) for c in a), f
        assert ma == mb, (f, {k: (ma.get(k), mb.get(k)) for k in set(ma) | set(mb) if ma.get(k) != mb.get(k)})


def _killed_after(job, n):
    """A run killed once ``n`` frames are written (the generator closed mid-run, as a killed worker stops)."""
    it = pipeline.run_iter(job, events=True)
    written = 0
    for ev in it:
        if getattr(ev, "status", None) == "written" and getattr(ev, "stage", None) == "matte":
            written += 1
            if written == n:
                it.close()
                return
    raise AssertionError("the run ended before %d frames were written" % n)


@pytest.fixture(scope="module")
def one(shot, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    res = pipeline.run(_job(shot, out))
    return out, res


def test_an_absent_object_has_no_per_object_score_on_its_absent_frames(shot, one):
    from samatte.io.exr import read_info
    from samatte.io.writer import MatteWriter
    out, res = one
    w = MatteWriter(str(out / "m.####.exr"), read_info(shot[0]["plate"].replace("####", "1001")))
    for f in FRAMES:
        _, meta = _read(out, f)
        assert meta["samatte/objects"] == "ball,wall"
        per = json.loads(meta["samatte/object_scores"])
        if f in GONE:   # before: {"ball": 0.0, "wall": ...}, the shot's worst per-object score
            assert set(per) == {"wall"}, (f, per)
        else:
            assert set(per) == {"ball", "wall"} and per["ball"] > 0.0, (f, per)
        assert set(w.read_object_scores(f)) == set(per)
        # the frame's score is its scored objects' worst (times the band doubt): never below them
        assert float(meta["samatte/score"]) <= min(per.values()) + 1e-6
        assert res["scores"][str(f)] == pytest.approx(float(meta["samatte/score"]), abs=1e-4)


@pytest.mark.parametrize("compression", ["zip", "b44"])
def test_resumed_runs_and_farm_chunks_equal_one_run(shot, one, tmp_path, compression):
    """Killed after 1002 and after 1004 (resumed from 1003 and 1005), and matte chunks out of order: one run's
    pixels and samatte/* metadata, object_scores included (b44: the state restored from the written file)."""
    ref = one[0]
    if compression != "zip":
        ref = tmp_path / "one"
        pipeline.run(_job(shot, ref, compression))
    for n in (2, 4):
        out = tmp_path / ("resumed%d" % n)
        job = _job(shot, out, compression)
        _killed_after(job, n)
        assert sorted(p.name for p in out.glob("m.*.exr")) == ["m.%d.exr" % f for f in range(1001, 1001 + n)]
        r = pipeline.run(job)
        assert [int(p.split(".")[-2]) for p in r["written"]] == list(range(1001 + n, 1007))
        _same(ref, out)
    farm = tmp_path / "farm"
    job = _job(shot, farm, compression)
    pipeline.run(job, stage="track")
    for chunk in ("1005-1006", "1003-1004", "1001-1002"):   # the farm runs chunks in any order
        pipeline.run(job, stage="matte", frames=chunk)
    _same(ref, farm)


def test_a_null_object_score_is_read_as_no_score_not_as_no_scores(tmp_path):
    """A reader that meets ``null`` for one object keeps the others' scores (before: {} for the frame)."""
    from samatte.io.writer import _object_scores

    class Spec:
        def getattribute(self, name):
            return json.dumps({"ball": None, "wall": 0.8})
    assert _object_scores(Spec()) == {"wall": 0.8}
