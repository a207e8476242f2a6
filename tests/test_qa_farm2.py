"""QA of the farm run end to end, as a TD runs it: `samatte farm export` then `openjd run` (or
`samatte farm task`) on tiny demo shots; chunking of jobs on twos, keys of a job run under path
mapping."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.farm import export_openjd

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
needs_openjd = pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qafarm2")
    return make_shot(str(d / "plates"), frames=9, size=(64, 64)), d


def _twos_job(shot, out):
    s, _ = shot
    job = jobspec.new_job(s["plate"], str(out / "m.####.exr"), frames="1001-1009x2", name="twos",
                          tracker="shapes", matte="none")
    jobspec.add_object(job, "box", [jobspec.box_prompt(1009, [5, 5, 30, 25])])
    return job


def _matte_chunks(res):
    """The Matte step's chunks as OpenJD itself divides them (openjd-model's task iterator)."""
    model = pytest.importorskip("openjd.model")
    yaml = pytest.importorskip("yaml")
    with open(res["template"], encoding="utf-8") as f:
        template = model.decode_job_template(template=yaml.safe_load(f),
                                             supported_extensions=["TASK_CHUNKING"])
    folder = os.path.dirname(res["template"])
    from pathlib import Path
    params = model.preprocess_job_parameters(
        job_template=template, job_parameter_values={k: str(v) for k, v in res["parameters"].items()},
        job_template_dir=Path(folder), current_working_dir=Path(folder))
    job = model.create_job(job_template=template, job_parameter_values=params)
    step = [s for s in job.steps if s.name == "Matte"][0]
    it = model.StepParameterSpaceIterator(space=step.parameterSpace)
    return [t["Frames"].value for t in it]


def test_a_job_on_twos_is_chunked_by_chunk_size(shot, tmp_path):
    """A job on twos ('1001-1009:2') was cut into one-frame Matte tasks whatever --chunk said: the
    chunks were CONTIGUOUS, and no two frames on twos are consecutive integers. Each task then paid the
    per-task start and its own pre-roll, five times the work at --chunk 10."""
    res = export_openjd(_twos_job(shot, tmp_path / "out"), str(tmp_path / "b"), chunk=3,
                        python=sys.executable, models_dir=str(tmp_path / "models"))
    assert res["frames"] == "1001-1009:2"
    chunks = _matte_chunks(res)
    from samatte.frames import parse_frames
    assert [parse_frames(c) for c in chunks] == [[1001, 1003, 1005], [1007, 1009]]
    # a plain range keeps CONTIGUOUS chunks (the template as before)
    s, _ = shot
    job = _twos_job(shot, tmp_path / "out2")
    job["plate"]["frames"] = "1001-1009"
    res = export_openjd(job, str(tmp_path / "b2"), chunk=4, python=sys.executable, models_dir="/m")
    assert _matte_chunks(res) == ["1001-1003", "1004-1006", "1007-1009"]
    with open(res["template"], encoding="utf-8") as f:
        assert '"rangeConstraint": "CONTIGUOUS"' in f.read()


@needs_openjd
def test_openjd_run_of_a_job_on_twos_in_chunks_equals_one_run(shot, tmp_path):
    ref = tmp_path / "ref"
    job = _twos_job(shot, ref)
    from samatte.pipeline import run
    run(job)
    res = export_openjd(job, str(tmp_path / "b"), chunk=2, preroll=1, python=sys.executable,
                        models_dir=str(tmp_path / "models"))
    out = tmp_path / "farm"
    params = dict(res["parameters"], Output=str(out))
    r = subprocess.run([OPENJD, "run", res["template"], "-p", json.dumps(params)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "--stage matte --frames=1001,1003 " in r.stdout, r.stdout[-4000:]
    assert "Chunks run: 5" in r.stdout                   # Track, Matte x3 (2 + 2 + 1 frames), QC
    names = sorted(n for n in os.listdir(str(ref)) if n.endswith(".exr"))
    assert names == ["m.%d.exr" % f for f in (1001, 1003, 1005, 1007, 1009)]
    for n in names:
        assert (out / n).read_bytes() == (ref / n).read_bytes(), n


def _mapped_job(shot, root):
    """A job with a roto mask prompt and an OCIO config file (both travel as Input folders)."""
    import numpy as np
    from PIL import Image
    s, _ = shot
    (root / "roto").mkdir(parents=True)
    m = np.zeros((64, 64), np.uint8)
    m[10:40, 12:44] = 255
    Image.fromarray(m).save(str(root / "roto" / "hero.1009.png"))
    (root / "ocio").mkdir()
    ocio = pytest.importorskip("PyOpenColorIO")
    cfg = ocio.Config.CreateFromBuiltinConfig("cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    (root / "ocio" / "config.ocio").write_text(cfg.serialize(), encoding="utf-8")
    job = jobspec.new_job(s["plate"], str(root / "out" / "m.####.exr"), frames="1001-1009", name="mapped",
                          tracker="shapes", matte="none", ocio_config=str(root / "ocio" / "config.ocio"),
                          colourspace="Linear Rec.709 (sRGB)")
    jobspec.add_object(job, "hero", [jobspec.mask_prompt(1009, str(root / "roto" / "hero.1009.png"))])
    return job


def test_frames_a_node_writes_under_mapped_paths_are_current_for_the_submitting_host(shot, tmp_path):
    """A node reaches the job's folders under other paths (path mapping: here the same folders
    through a symlink). The key held the OCIO config's and the mask prompts' paths, so every frame
    the farm wrote (and its QC passed) was 'stale' for `samatte status` / QC / a re-run on the
    submitting machine, which would matte the whole job again."""
    from samatte.farm import run_task
    from samatte.pipeline import frame_status
    root = tmp_path / "job"
    job = _mapped_job(shot, root)
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=5, preroll=0, python=sys.executable, models_dir="/m")
    node = tmp_path / "node_mount"
    os.symlink(str(tmp_path), str(node))      # the node's mount of the same storage
    roots = {n: res["parameters"][n].replace(str(tmp_path), str(node)) for n in ("Plate", "Output", "Input1", "Input2")}
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    assert run_task(doc, roots, stage="track", frames=res["frames"]) == 0
    for chunk in ("1001-1005", "1006-1009"):
        assert run_task(doc, roots, stage="matte", frames=chunk, preroll=0) == 0
    assert run_task(doc, roots, qc=True, frames=res["frames"]) == 0
    st = frame_status(job)                   # the submitting machine's own job and paths
    assert set(st["frames"].values()) == {"complete"}, st["frames"]
    assert set(st["track"].values()) == {"complete"}, st["track"]


def test_farm_task_takes_relative_roots_from_the_current_folder(shot, tmp_path, monkeypatch):
    """`samatte farm task DOC --root Output=out` run by hand in a shell: the relative root was joined
    to the saved job's folder (the bundle, or openjd's session folder that is deleted afterwards),
    so the plate was not found and the frames went to the wrong place."""
    from samatte import cli
    s, _ = shot
    job = _twos_job(shot, tmp_path / "out")
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=5, python=sys.executable, models_dir="/m")
    shutil.copytree(os.path.dirname(s["plate"]), str(tmp_path / "plates"))
    monkeypatch.chdir(str(tmp_path))
    doc = os.path.join("bundle", "samatte_farm_job.json")
    for argv in (["--stage", "track", "--frames", res["frames"]],
                 ["--stage", "matte", "--frames", res["frames"], "--preroll", "0"]):
        assert cli.main(["farm", "task", doc, "--root", "Plate=plates", "--root", "Output=out"] + argv) == 0
    assert sorted(os.listdir(str(tmp_path / "out"))) == [".samatte"] + ["m.%d.exr" % f for f in range(1001, 1010, 2)]
    assert not os.path.exists(str(tmp_path / "bundle" / "out"))
