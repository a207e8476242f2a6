"""`samatte farm task` runs the bundle's job localised with ITS node's --root folders, from a file of its
own: before, every task wrote `samatte_job.local.json` beside the farm document, so two tasks of one bundle
running at once with different roots (a Linux and a Windows worker, a TD's shell beside the farm) could run
with each other's paths, and a bundle folder the nodes cannot write to failed every task."""
import json
import os
import sys

from samatte import cli, jobspec
from samatte.farm import run_task
from samatte.farm.openjd import export_openjd


def _bundle(tmp_path):
    plate = tmp_path / "shots" / "plate.####.exr"
    job = jobspec.new_job(str(plate), str(tmp_path / "out" / "m.####.exr"), frames="1001-1004", name="local",
                          tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1001, [2, 2, 10, 10])])
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=2, preroll=0, python=sys.executable, models_dir="/m")
    return res, os.path.join(res["bundle"], "samatte_farm_job.json")


def test_two_tasks_at_once_with_other_roots_each_run_their_own_paths(tmp_path, monkeypatch):
    res, doc = _bundle(tmp_path)
    names = sorted(res["parameters"])
    node_a = {n: "/mnt/a/%s" % n for n in names}
    node_b = {n: "/mnt/b/%s" % n for n in names}
    seen = []
    real_main = cli.main

    def fake_main(argv):
        local = argv[1]
        if not seen:                        # task A is about to read its job: task B starts meanwhile
            seen.append(None)
            assert run_task(doc, node_b, stage="matte", frames="1003-1004") == 0
        with open(local, encoding="utf-8") as f:
            seen.append(json.load(f)["output"]["path"])
        return 0
    monkeypatch.setattr(cli, "main", fake_main)
    assert run_task(doc, node_a, stage="matte", frames="1001-1002") == 0
    monkeypatch.setattr(cli, "main", real_main)
    assert seen[1].startswith("/mnt/b/") and seen[2].startswith("/mnt/a/"), seen   # B's, then A's own
    assert not [n for n in os.listdir(res["bundle"]) if n.startswith("samatte_job.local")]


def test_a_task_leaves_no_file_in_the_bundle_or_the_temp_folder(tmp_path, monkeypatch):
    res, doc = _bundle(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    before = sorted(os.listdir(res["bundle"]))
    got = []
    monkeypatch.setattr(cli, "main", lambda argv: got.append(argv) or 0)
    roots = {n: "/mnt/a/%s" % n for n in res["parameters"]}
    assert run_task(doc, roots, qc=True, frames="1001-1004") == 0
    assert got and got[0][0] == "qc" and os.path.dirname(got[0][1]) == str(tmp)
    assert sorted(os.listdir(res["bundle"])) == before and os.listdir(str(tmp)) == []
