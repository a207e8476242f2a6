"""QA review of session 27's fixes (git diff 4eb86cf^ 676d703): bugs found, each with its regression test."""
import os

import pytest

from samatte import jobspec, pipeline
from samatte.demo import make_shot


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_shot(str(tmp_path_factory.mktemp("s27") / "shot"), frames=3, size=(64, 64))


def _job(s, out, **kw):
    job = jobspec.new_job(s["plate"], os.path.join(out, "m.####.exr"), frames="1001-1003", name="s27", **kw)
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


def test_a_home_relative_tracker_work_dir_spills_in_the_home_folder(shot, tmp_path, monkeypatch):
    """tracker.options.work_dir "~/scr": jobspec.resolve_paths leaves a "~/..." path option for this
    machine's home (5f17a66), but the flow tracker made its spill folder in a literal "~/scr" relative to
    the working directory: the run failed with OUTPUT_INVALID "the flow tracker cannot spill to ~/scr"."""
    home = tmp_path / "home"
    (home / "scr").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(str(cwd))
    from samatte.track import flow
    made = []
    real = flow.spill_folder

    def spy(prefix, work_dir=None):
        path = real(prefix, work_dir)
        made.append(path)
        return path
    monkeypatch.setattr(flow, "spill_folder", spy)
    job = _job(shot, str(tmp_path / "out"), tracker="flow", matte="refine")
    job["tracker"]["options"] = {"ram_mb": 0, "work_dir": "~/scr"}
    assert pipeline.run(job)["status"] == "done"
    assert made and all(os.path.dirname(p) == str(home / "scr") for p in made), made
    assert os.listdir(str(cwd)) == [] and os.listdir(str(home / "scr")) == []   # no "~" folder, spills removed


def test_a_home_relative_matte_checkpoint_counts_by_its_content(shot, tmp_path, monkeypatch):
    """matte.options.checkpoint "~/w.pt" is read from the home folder (find_sam2matte_weights expands it)
    but the keys stamped the literal path: "stamp:missing" whatever the file held, so a retrained
    checkpoint at the same path left every frame "complete" with the old weights' pixels."""
    from samatte.cachekey import frame_keys
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    job = jobspec.validate(_job(shot, str(tmp_path / "out"), matte="refine"))
    job["matte"]["options"] = {"checkpoint": "~/w.pt"}

    def keys():
        return frame_keys(job, resolved=pipeline.resolve_backends(job))[1001]["matte"]
    (home / "w.pt").write_bytes(b"weights one")
    one = keys()
    (home / "w.pt").write_bytes(b"weights two, retrained")
    two = keys()
    assert one != two
    job["matte"]["options"] = {"checkpoint": str(home / "w.pt")}
    assert keys() == two   # the same file, named either way, is the same key


# --- Blender: a cutting layer keyed only outside the range (or unkeyed, the current frame outside it) ------

def _blender_plain():
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
    import test_blender_plain as bp
    return bp


@pytest.mark.parametrize("blend, invert", [("MERGE_SUBTRACT", False), ("DARKEN", True), ("REPLACE", True),
                                           ("DIFFERENCE", False)])
@pytest.mark.parametrize("keys", [[20], [], [-4, 30]])
def test_blender_a_cutting_layer_keyed_outside_the_range_cuts_the_earlier_objects(blend, invert, keys):
    """Layer 'hero' keyed on scene frames 3 and 6, then a cutting layer keyed only outside the job's frames
    1-8 (a static garbage matte keyed once on frame 20, or on -4 and 30), or unkeyed with the current frame
    outside the range. Blender draws it on every frame, held from its nearest key (or static), so it cuts
    hero on 3 and 6 as when it is keyed on 4 (436695c / f97b086's rule), and it is read on the range's frame
    nearest its keys (or the current frame) as any layer keyed only outside the range. Before, such a layer was skipped
    ("has no keys inside the frame range: skipped"): hero's matte kept the garbage area on every frame."""
    bp = _blender_plain()
    info = bp.info_landscape()
    hero = bp.ns(name="hero", hide_render=False, blend="MERGE_ADD", use_fill_holes=False,
                 splines=[bp.spline(bp.SQUARE, info)])
    cut = bp.ns(name="cut", hide_render=False, blend=blend, use_fill_holes=False, invert=False,
                splines=[bp.spline(bp.HOLE, info)])
    mask = bp.make_mask([hero, cut], {"hero": [3, 6], **({"cut": keys} if keys else {})})
    objs, _sub, notes = bp.gather.gather_mask_objects(mask, info, scene_frames=range(1, 9),
                                                      read_mask_at=lambda f: mask, current_frame=12,
                                                      sample_shape_keys=False)
    got = {o["host_name"]: sorted((p["frame"], p.get("mode", "add"), bool(p.get("invert"))) for p in o["prompts"])
           for o in objs}
    # and on the job's frame nearest its keys (8 for a key on 20; 1 for -4 and 30) or, unkeyed, nearest the
    # current frame 12 (8), where Blender draws it too: a correction of hero there (a Replace / Difference
    # layer, an object itself, is prompted there as well)
    extra = 1001 if keys == [-4, 30] else 1008
    assert got.pop("hero") == sorted([(1003, "add", False), (1003, "subtract", invert),
                                      (1006, "add", False), (1006, "subtract", invert), (extra, "subtract", invert)])
    assert all(fr == extra for prompts in got.values() for fr, _m, _i in prompts), got
    assert not any("skipped" in n for n in notes), notes
    assert any(("frame %d" % (extra - 1000)) in n for n in notes), notes


def test_farm_export_maps_home_relative_path_options_to_the_home_folder(shot, tmp_path, monkeypatch):
    """samatte farm export of a job with tracker.options.work_dir "~/scr" and matte.options.checkpoint
    "~/w.pt": the farm document's roots named "<cwd>/~/scr" and "<cwd>/~" (abspath of the literal "~"),
    folders that do not exist, so every task (whose --root defaults are those folders) spilled into a missing
    folder (OUTPUT_INVALID) and looked for the checkpoint in the wrong place (other keys than the host's)."""
    from samatte.farm.openjd import farm_document, localize
    home = tmp_path / "home"
    (home / "scr").mkdir(parents=True)
    (home / "w.pt").write_bytes(b"weights")
    monkeypatch.setenv("HOME", str(home))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(str(cwd))
    job = _job(shot, str(tmp_path / "out"), tracker="flow", matte="refine")
    job["tracker"]["options"] = {"work_dir": "~/scr"}
    job["matte"]["options"] = {"checkpoint": "~/w.pt"}
    doc = farm_document(job)
    dirs = {r["dir"] for r in doc["roots"].values()}
    assert str(home / "scr") in dirs and not any("~" in d for d in dirs), doc["roots"]
    local = localize(doc, {n: r["dir"] for n, r in doc["roots"].items()})
    assert local["tracker"]["options"]["work_dir"] == str(home / "scr")
    assert local["matte"]["options"]["checkpoint"] == str(home / "w.pt")


def test_home_relative_job_paths_are_the_home_folder(shot, tmp_path, monkeypatch):
    """A JobSpec whose plate, output and work_dir start with "~/" (a TD's job in their home): resolve_paths
    joined the literal "~" to the JobSpec's folder ("<base>/~/shots/p.####.exr"), so `samatte run` said
    the plate was missing; "~" is the home folder in every path of a job, path options included."""
    import shutil
    import subprocess
    import sys
    home = tmp_path / "home"
    shutil.copytree(os.path.dirname(shot["plate"]), str(home / "shots"))
    monkeypatch.setenv("HOME", str(home))
    plate = "~/shots/" + os.path.basename(shot["plate"])
    job = jobspec.new_job(plate, "~/out/m.####.exr", frames="1001-1003", name="s27",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    job["tracker"]["options"] = {"work_dir": "~/scr"}
    r = jobspec.resolve_paths(job, str(tmp_path / "jobs"))
    assert r["plate"]["path"] == str(home / "shots" / os.path.basename(shot["plate"]))
    assert r["output"]["path"] == str(home / "out" / "m.####.exr")
    assert r["tracker"]["options"]["work_dir"] == str(home / "scr")
    (home / "scr").mkdir()
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "job.json").write_text(jobspec.dumps(job))
    env = dict(os.environ, HOME=str(home),
               PYTHONPATH=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core"))
    p = subprocess.run([sys.executable, "-m", "samatte", "run", str(jobs / "job.json")], cwd=str(jobs), env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert [f for f in sorted(os.listdir(str(home / "out"))) if f.endswith(".exr")] == ["m.1001.exr", "m.1002.exr", "m.1003.exr"]
    assert not os.path.exists(str(jobs / "~"))
