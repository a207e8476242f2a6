"""QA of corrections that stick: an artist edits a job and re-runs; only the frames whose result
depends on the edit are recomputed (the others are not rewritten: same inode and mtime_ns), and the
outputs equal a fresh run of the edited job. Tiny demo shot (128x72), flow tracker, draft refine."""
import copy
import hashlib
import os

import numpy as np
import pytest

from demo_shots import make_demo_shot
from samatte import jobspec, pipeline
from samatte.trackcache import TrackCache, default_work_dir

N = 6  # frames 1001-1006, the ball's polygon on 1004


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "qa_corrections_shot", N)


def _job(shot, out, frames=None):
    s, _ = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"),
                          frames=frames or "%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="flow", matte="refine", quality="draft", name="qa_corr")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def _files(folder):
    """frame -> (inode, mtime_ns, sha256) of the output frames in ``folder``."""
    out = {}
    for n in sorted(os.listdir(folder)):
        if n.startswith("m.") and n.endswith(".exr"):
            p = os.path.join(folder, n)
            st = os.stat(p)
            with open(p, "rb") as fh:
                out[int(n.split(".")[1])] = (st.st_ino, st.st_mtime_ns, hashlib.sha256(fh.read()).hexdigest())
    return out


def _pixels(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        spec = inp.spec()
        return tuple(spec.channelnames), np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
    finally:
        inp.close()


def _rewritten(before, after):
    return sorted(f for f in after if f not in before or after[f][:2] != before[f][:2])


def _assert_equals_fresh(job, out, tmp_path):
    fresh = copy.deepcopy(job)
    fresh["output"]["path"] = str(tmp_path / "fresh" / "m.####.exr")
    pipeline.run(fresh)
    names = sorted(n for n in os.listdir(str(tmp_path / "fresh")) if n.endswith(".exr"))
    assert names == sorted(n for n in os.listdir(str(out)) if n.endswith(".exr"))
    for n in names:
        ch, px = _pixels(str(out / n))
        ch_f, px_f = _pixels(str(tmp_path / "fresh" / n))
        assert ch == ch_f and np.array_equal(px, px_f), n


def test_a_correction_after_the_last_anchor_leaves_the_frames_before_it_alone(shot, tmp_path):
    """After an object's last anchor the flow tracker only carries the track forward: a correction
    on a later frame cannot change the frames between the anchor and it. Before, their keys held every
    prompt up to the object's last one, so a subtract shape on 1006 re-tracked and rewrote 1005 with
    the same pixels (and a click at the end of a long shot rewrote every frame since the last anchor)."""
    s, _ = shot
    out = tmp_path / "out"
    job = _job(shot, out)
    pipeline.run(job)
    before = _files(str(out))
    last = s["frames"][-1]
    jobspec.add_prompt(job, "ball", jobspec.polygon_prompt(last, [[0, 0], [128, 0], [128, 72], [0, 72]],
                                                           mode="subtract"))
    res = pipeline.run(job)
    after = _files(str(out))
    assert _rewritten(before, after) == [last]
    assert res["tracked"] == [last]
    _assert_equals_fresh(job, out, tmp_path)


def test_handles_added_at_the_head_rewrite_only_the_new_frames(shot, tmp_path):
    """Extending the range backward (handles at the head) when the old first frame is a restart of the
    matte (an anchor of some object): before its first anchor an object is tracked backward from it, so
    the frames after the new ones keep their track and matte. Before, every frame up to the ball's
    anchor had the job's first frame in its key and was re-tracked and rewritten unchanged."""
    s, _ = shot
    f0 = s["frames"][0]
    out = tmp_path / "out"
    job = _job(shot, out, frames="%d-%d" % (f0 + 1, s["frames"][-1]))
    jobspec.add_object(job, "patch", [jobspec.box_prompt(f0 + 1, [4, 4, 30, 24])])
    pipeline.run(job)
    before = _files(str(out))
    job["plate"]["frames"] = "%d-%d" % (f0, s["frames"][-1])
    pipeline.run(job)
    after = _files(str(out))
    assert _rewritten(before, after) == [f0]
    _assert_equals_fresh(job, out, tmp_path)


def test_a_lost_track_before_the_first_anchor_is_redone_as_a_whole_run_would(shot, tmp_path):
    """A frame before the object's first anchor, not the job's first, tracked again alone (its stored
    track and output removed): the tracker must start where a whole run's temporal reference chain
    does, so the stored track's reference and the matte equal a fresh run's."""
    s, _ = shot
    out = tmp_path / "out"
    job = _job(shot, out)
    pipeline.run(job)
    f = s["frames"][1]
    assert f < s["prompt_frame"]
    cache = TrackCache(default_work_dir(pipeline.load_job(job)))
    os.remove(cache.path(f, 0))
    os.remove(str(out / ("m.%04d.exr" % f)))
    before = _files(str(out))
    res = pipeline.run(job)
    assert f in res["tracked"]
    assert _rewritten(before, _files(str(out))) == [f]
    _assert_equals_fresh(job, out, tmp_path)


def test_a_work_dir_holding_someone_elses_manifest_is_refused_not_overwritten(shot, tmp_path):
    """``work_dir`` pointed at a folder of the pipeline's that already holds a ``manifest.json`` (a
    publish manifest): samatte replaced it with its own, silently. Now OUTPUT_INVALID naming it, before
    anything is written; samatte's own manifest there is still rewritten on every run."""
    from samatte.errors import OutputError
    out = tmp_path / "out"
    work = tmp_path / "publish"
    work.mkdir()
    theirs = work / "manifest.json"
    theirs.write_text('{"shot": "sh010", "versions": [1, 2, 3]}\n')
    job = _job(shot, out)
    job["work_dir"] = str(work)
    with pytest.raises(OutputError) as e:
        pipeline.run(job, frames=str(shot[0]["frames"][0]))
    assert str(theirs) in e.value.message and e.value.details.get("path") == str(theirs)
    assert theirs.read_text() == '{"shot": "sh010", "versions": [1, 2, 3]}\n'
    assert sorted(os.listdir(str(work))) == ["manifest.json"]
    assert not out.exists() or not _files(str(out))
    theirs.write_text("not json at all")
    with pytest.raises(OutputError):
        pipeline.run(job, stage="track")
    assert theirs.read_text() == "not json at all"
    theirs.unlink()
    pipeline.run(job, stage="track")   # samatte's own manifest: rewritten by every run
    pipeline.run(job, stage="track")
    assert json_layout(theirs) == 2
    for damaged in ("", '{"layout": 2, "samatte_ver'):   # a power cut: empty, or cut short beside its tracks
        theirs.write_text(damaged)
        pipeline.run(job, stage="track")
        assert json_layout(theirs) == 2


def json_layout(path):
    import json
    with open(str(path)) as fh:
        return json.load(fh)["layout"]
