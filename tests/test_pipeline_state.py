"""The pipeline owns the matter's temporal state (issue 15): ``Matter.step(plate, track, state) ->
(frame, state)`` and ``Matter.restore(...)`` from a written frame, so an unbroken run, a resumed one and
the farm's chunks go through the same code. A matter with only ``step``/``restore`` (no ``seed``, no
``_store``) resumes exactly; a stateless one (``process`` only) still works."""
import hashlib
import os
import shutil
from dataclasses import dataclass, field

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.stages import MatteFrame, Matter, StateStore

N = 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("state_shot")
    return make_shot(str(d), frames=N, size=(128, 72))


def _job(s, out):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft", name="state")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["frames"][0], s["polygon"])])
    return job


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _written(res):
    return sorted(int(os.path.basename(p).split(".")[1]) for p in res["written"])


@dataclass
class CarryState:
    frame: int
    alphas: dict
    objects: dict = field(default_factory=dict)   # written with the frame as samatte/state


class CarryMatter(Matter):
    """Half this frame's mask, half the previous frame's alpha; the score falls with the frames since
    the track started (a count kept in the state's ``objects`` records, which only ``samatte/state``
    gives back on resume). Only step and restore: the state is the caller's."""

    name = "carry"

    def __init__(self):
        self.stepped, self.restored = [], []

    def step(self, plate, track, state=None):
        self.stepped.append(plate.frame)
        prev = None
        if state is not None and track.ref is not None:
            assert state.frame == track.ref
            prev = state
        alphas, recs, stats = {}, {}, {}
        for n, o in track.objects.items():
            a = np.asarray(o.mask, np.float32)
            if prev is not None and n in prev.alphas:
                a = 0.5 * a + 0.5 * prev.alphas[n]
            alphas[n] = a
            count = prev.objects[n]["count"] + 1 if prev is not None and n in prev.objects else 0
            recs[n] = {"count": count}
            stats[n + ".score"] = 1.0 / (1.0 + count)
        merged = np.maximum.reduce(list(alphas.values())) if alphas else np.zeros(plate.display.shape[:2], np.float32)
        mf = MatteFrame(frame=plate.frame, alphas=alphas, alpha=merged, score=min(stats.values(), default=1.0),
                        stats=stats)
        # the carried alpha at the precision the writer stores (half), as a restored one is
        kept = {n: a.astype(np.float16).astype(np.float32) for n, a in alphas.items()}
        return mf, CarryState(plate.frame, kept, recs)

    def restore(self, frame, alphas, plate, track, scores=None, state=None):
        self.restored.append(frame)
        # the counts are not in the alphas: the pipeline puts the written samatte/state records back
        return CarryState(frame, {n: np.asarray(alphas[n], np.float32) for n in track.objects},
                          {n: {"count": -100} for n in track.objects})


def _killed_run(tmp_path, frames):
    """``re/``: the frames of ``single/`` that a run killed after ``frames`` left."""
    (tmp_path / "re").mkdir()
    for f in frames:
        shutil.copy(str(tmp_path / "single" / ("m.%04d.exr" % f)), str(tmp_path / "re"))


def test_caller_owned_state_resumes_and_chunks_as_an_unbroken_run(shot, tmp_path):
    s = shot
    frames = s["frames"]
    single = CarryMatter()
    r = pipeline.run(_job(s, tmp_path / "single" / "m.####.exr"), matter=single)
    assert _written(r) == frames and single.restored == [] and single.stepped == frames
    assert len({r["scores"][str(f)] for f in frames}) > 1   # the state matters to the output

    # resume: what a killed run left, then a re-run (frame 3's state restored from its file)
    _killed_run(tmp_path, frames[:4])
    m = CarryMatter()
    r = pipeline.run(_job(s, tmp_path / "re" / "m.####.exr"), matter=m)
    assert _written(r) == frames[4:]
    assert m.restored == [frames[3]] and m.stepped == frames[4:]

    # farm chunks, out of order: a pre-roll for the later chunk, then a chunk seeded from a written frame
    job = _job(s, tmp_path / "chunks" / "m.####.exr")
    pipeline.run(job, stage="track")
    m = CarryMatter()
    r = pipeline.run(job, stage="matte", frames="%d-%d" % (frames[6], frames[7]), preroll=N, matter=m)
    assert r["preroll"] == frames[:6] and _written(r) == frames[6:] and m.restored == []
    pipeline.run(job, stage="matte", frames="%d-%d" % (frames[0], frames[3]), matter=CarryMatter())
    m = CarryMatter()
    r = pipeline.run(job, stage="matte", frames="%d-%d" % (frames[4], frames[5]), matter=m)
    assert r["preroll"] == [] and m.restored == [frames[3]] and m.stepped == frames[4:6]

    for d in ("re", "chunks"):
        for f in frames:
            a = str(tmp_path / "single" / ("m.%04d.exr" % f))
            assert _digest(a) == _digest(str(tmp_path / d / ("m.%04d.exr" % f))), (d, f)


class StatelessMatter(Matter):
    """``process`` only: Matter.step's default (state None), Matter.restore's (None)."""

    name = "stateless"

    def __init__(self):
        self.processed = []

    def process(self, plate, track):
        self.processed.append(plate.frame)
        alphas = {n: np.asarray(o.mask, np.float32) for n, o in track.objects.items()}
        return MatteFrame(frame=plate.frame, alphas=alphas, alpha=np.maximum.reduce(list(alphas.values())))


class DuckMatter:
    """Not a Matter at all (as bench_pipeline's NoopMatter): ``process`` and ``close``."""

    name = "stateless"

    def __init__(self):
        self.processed = []

    process = StatelessMatter.process

    def close(self):
        pass


@pytest.mark.parametrize("kind", [StatelessMatter, DuckMatter])
def test_stateless_matter_still_works(shot, tmp_path, kind):
    s = shot
    frames = s["frames"]
    pipeline.run(_job(s, tmp_path / "single" / "m.####.exr"), matter=kind())
    _killed_run(tmp_path, frames[:4])
    m = kind()
    r = pipeline.run(_job(s, tmp_path / "re" / "m.####.exr"), matter=m)
    assert _written(r) == frames[4:]
    # the frame whose state the next one would start from cannot be restored: matted again, not written
    assert m.processed == frames[3:]
    for f in frames:
        a = str(tmp_path / "single" / ("m.%04d.exr" % f))
        assert _digest(a) == _digest(str(tmp_path / "re" / ("m.%04d.exr" % f))), f


def test_matter_defaults_and_state_store():
    m = StatelessMatter()
    assert m.restore(1, {}, None, None) is None
    st = StateStore()
    st.put(object(), ref=None, frame=10)           # any state: the frame is given
    for f in range(11, 20):
        st.put(CarryState(f, {}), ref=f - 1)       # or read from the state
    st.put(CarryState(9, {}), ref=10)
    assert len(st) == 3 and st.get(10) is not None and st.get(19).frame == 19 and st.get(9).frame == 9
    assert st.get(15) is None and st.get(None) is None
