"""Two jobs of one name whose outputs share a folder (``/out/fg.####.exr`` and ``/out/bg.####.exr``, both
``sh010``; the CLI's default name ``samatte`` too) each get their own default work dir,
``<output folder>/.samatte/<name>/<output file name>/``, whichever runs first. Before, both used
``.samatte/sh010/`` and replaced each other's ``track/<frame>.o<i>.npz`` and ``manifest.json``: A's
``--stage matte`` after B's ``--stage track`` failed with TRACK_MISSING (3 frames of 3). A work dir left by
earlier versions (``.samatte/<name>/track/``) still resumes a job unchanged since then, and is never
written."""
import json
import os
import sys

import pytest

from samatte import jobspec, pipeline
from samatte.errors import TrackMissingError

from qa_cli import run_cli


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("wdid_shot")), frames=3, size=(64, 64))


def _job(s, out, dx=0, name="sh010"):
    job = jobspec.new_job(s["plate"], str(out), frames="1001-1003", name=name, tracker="shapes",
                          matte="refine", quality="draft")
    poly = [[x + dx, y] for x, y in s["polygon"]]
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], poly)])
    return job


def _tree(folder):
    """{relative path: (size, mtime_ns)} of the files an old work dir holds (the jobs' own folders left out)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        if root == folder:
            dirs[:] = [d for d in dirs if d in ("track", "qc")]
        for n in files:
            p = os.path.join(root, n)
            st = os.stat(p)
            out[os.path.relpath(p, folder)] = (st.st_size, st.st_mtime_ns)
    return out


def test_two_jobs_of_one_name_in_one_folder_keep_their_own_tracks(shot, tmp_path):
    a = _job(shot, tmp_path / "out" / "fg.####.exr")
    b = _job(shot, tmp_path / "out" / "bg.####.exr", dx=3)
    wa = pipeline.run(a, stage="track")["work_dir"]
    wb = pipeline.run(b, stage="track")["work_dir"]
    res = pipeline.run(a, stage="matte")         # before: TRACK_MISSING, 3 frame(s): B had replaced A's tracks
    assert res["status"] == "done" and len(res["written"]) == 3 and res["track_reused"] == [1001, 1002, 1003]
    assert wa != wb and (wa, wb) == (jobspec.default_work_dir(a), jobspec.default_work_dir(b))
    assert os.path.dirname(wa) == os.path.dirname(wb) == str(tmp_path / "out" / ".samatte" / "sh010")
    res = pipeline.run(b, stage="matte")
    assert len(res["written"]) == 3
    # each manifest is its own job's; status and the QC report folder agree with the run
    for job, wd in ((a, wa), (b, wb)):
        with open(os.path.join(wd, "manifest.json"), encoding="utf-8") as f:
            assert json.load(f)["output_file"] == os.path.basename(job["output"]["path"])
        st = pipeline.frame_status(job)
        assert st["work_dir"] == wd and set(st["track"].values()) == {"complete"}, st["track"]
        from samatte.farm.qc import default_report_dir
        assert default_report_dir(job) == os.path.join(wd, "qc")


def test_the_work_dir_does_not_depend_on_run_order(shot, tmp_path):
    a = _job(shot, tmp_path / "out" / "fg.####.exr")
    b = _job(shot, tmp_path / "out" / "bg.####.exr", dx=3)
    before = (jobspec.default_work_dir(a), jobspec.default_work_dir(b))
    pipeline.run(b, stage="track")
    pipeline.run(a, stage="track")
    assert (jobspec.default_work_dir(a), jobspec.default_work_dir(b)) == before
    assert pipeline.frame_status(a)["work_dir"] == before[0]
    # the output spelled %04d is the same sequence, the same work dir; an explicit work_dir is kept as given
    a2 = dict(a, output=dict(a["output"], path=str(tmp_path / "out" / "fg.%04d.exr")))
    assert jobspec.default_work_dir(a2) == before[0]
    assert jobspec.default_work_dir(dict(a, work_dir=str(tmp_path / "w"))) == str(tmp_path / "w")
    # an output file name that is a folder of an old shared work dir never lands on it
    t = _job(shot, tmp_path / "out" / "track####")
    assert os.path.basename(jobspec.default_work_dir(t)) == "_track"


def test_cli_stages_of_two_jobs_of_one_name(shot, tmp_path, capsys):
    files = []
    for i, (stem, dx) in enumerate((("fg", 0), ("bg", 3))):
        p = tmp_path / ("job%d.json" % i)
        jobspec.save(_job(shot, tmp_path / "out" / ("%s.####.exr" % stem), dx=dx), str(p))
        files.append(p)
    for p in files:
        assert run_cli(["run", p, "--stage", "track"], capsys)[0] == 0
    rc, err = run_cli(["run", files[0], "--stage", "matte"], capsys)
    assert rc == 0, err                          # before: exit 9, TRACK_MISSING ... 3 frame(s)
    assert sorted(os.listdir(tmp_path / "out")) == [".samatte", "fg.1001.exr", "fg.1002.exr", "fg.1003.exr"]


def test_a_work_dir_of_earlier_versions_still_resumes(shot, tmp_path):
    a = _job(shot, tmp_path / "out" / "fg.####.exr")
    old = jobspec.shared_work_dir(a)
    assert old == str(tmp_path / "out" / ".samatte" / "sh010")
    pipeline.run(dict(a, work_dir=old), stage="track")     # what 0.2.19's default wrote for this job
    seen = _tree(old)
    res = pipeline.run(a, stage="matte")          # no track stage since the upgrade: the old tracks serve
    assert len(res["written"]) == 3 and res["track_reused"] == [1001, 1002, 1003]
    res = pipeline.run(a, stage="track")
    assert res["tracked"] == [], res["tracked"]   # nothing re-tracked for the upgrade
    assert set(pipeline.frame_status(a)["track"].values()) == {"complete"}
    assert _tree(old) == seen                     # the old folder is read, never written
    # the other job of that name finds the old tracks stale (not its own): it tracks into its own folder
    b = _job(shot, tmp_path / "out" / "bg.####.exr", dx=3)
    res = pipeline.run(b)
    assert res["tracked"] == [1001, 1002, 1003] and len(res["written"]) == 3
    assert _tree(old) == seen


def test_a_shared_explicit_work_dir_names_the_other_output(shot, tmp_path):
    wd = str(tmp_path / "shared")
    a = dict(_job(shot, tmp_path / "out" / "fg.####.exr"), work_dir=wd)
    b = dict(_job(shot, tmp_path / "out" / "bg.####.exr", dx=3), work_dir=wd)
    pipeline.run(a, stage="track")
    pipeline.run(b, stage="track")
    with pytest.raises(TrackMissingError) as e:
        pipeline.run(a, stage="matte")
    assert "last used by job 'sh010' (output bg.####.exr)" in str(e.value), str(e.value)


def test_nuke_reads_the_manifest_of_its_own_job(shot, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
    import nuke_env  # noqa: F401
    from samatte_nuke import farm
    a = _job(shot, tmp_path / "out" / "fg.####.exr")
    b = _job(shot, tmp_path / "out" / "bg.####.exr", dx=3)
    pipeline.run(a, stage="track")
    pipeline.run(b, stage="track")
    assert farm._manifest(a)["output_file"] == "fg.####.exr"
    assert farm._manifest(b)["output_file"] == "bg.####.exr"
