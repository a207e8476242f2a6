"""samatte farm export / farm task / qc: the OpenJD job bundle (checked by openjd-cli's own `openjd
check`), portable paths, jobs as the Nuke node and the Blender add-on build them, QC failures."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.errors import FrameRangeError, JobSpecError, OutputError
from samatte.farm import export_openjd, localize, load_farm_document

yaml = pytest.importorskip("yaml")

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
HAVE_OPENJD = os.path.isfile(OPENJD)
needs_openjd = pytest.mark.skipif(not HAVE_OPENJD, reason="openjd-cli is not installed (install/requirements.txt)")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("farmshot")
    return make_shot(str(d / "plates"), frames=6, size=(96, 64)), d


def _host_job(shot, root):
    """A job as a host adapter writes it: polygon and bezier prompts, host names with dots, spaces
    and unicode, a mask prompt in a roto folder, a refine-only object, auto backends."""
    s, d = shot
    roto = root / "roto folder"
    roto.mkdir(parents=True, exist_ok=True)
    import numpy as np
    from PIL import Image
    m = np.zeros((64, 96), np.uint8)
    m[20:44, 30:60] = 255
    Image.fromarray(m).save(str(roto / "ball.1002.png"))
    for f in s["frames"]:
        Image.fromarray(m).save(str(roto / ("garbage.%04d.png" % f)))
    job = jobspec.new_job(s["plate"], str(root / "out" / "sh010_matte.####.exr"), frames="1001-1006",
                          name="sh010")
    jobspec.add_object(job, "MaskLayer_001", [
        jobspec.polygon_prompt(s["prompt_frame"], s["polygon"]),
        jobspec.bezier_prompt(1001, [[30, 20, 28, 20, 32, 20], [60, 22, 60, 20, 60, 24], [45, 44, 47, 44, 43, 44]]),
        jobspec.mask_prompt(1002, str(roto / "ball.1002.png")),
    ], host_name="MaskLayer.001 ✓ ball")
    jobspec.add_object(job, "Roto1", masks=str(roto / "garbage.####.png"), host_name="Roto1 (garbage)")
    return job


def _template(bundle):
    with open(os.path.join(bundle, "template.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def _embedded_doc(step):
    data = step["script"]["embeddedFiles"][0]["data"]
    return json.loads(data)


def test_export_bundle_shape_and_portability(shot, tmp_path):
    job = _host_job(shot, tmp_path)
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=2, preroll=3, python="/opt/samatte/bin/python",
                        models_dir="/studio/models")
    t = _template(res["bundle"])
    assert t["specificationVersion"] == "jobtemplate-2023-09"
    assert t["extensions"] == ["TASK_CHUNKING"]
    assert [s["name"] for s in t["steps"]] == ["Track", "Matte", "QC"]
    track, matte, qc = t["steps"]
    assert "parameterSpace" not in track                                   # one task: all frames
    assert matte["dependencies"] == [{"dependsOn": "Track"}]
    assert qc["dependencies"] == [{"dependsOn": "Matte"}]
    tp = matte["parameterSpace"]["taskParameterDefinitions"][0]
    assert tp["type"] == "CHUNK[INT]" and tp["range"] == "{{Param.Frames}}"
    assert tp["chunks"] == {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"}
    args = matte["script"]["actions"]["onRun"]["args"]
    assert args[:5] == ["-m", "samatte", "farm", "task", "{{Task.File.Job}}"]
    assert args[-5:] == ["--stage", "matte", "--frames={{Task.Param.Frames}}", "--preroll", "{{Param.Preroll}}"]
    assert track["script"]["actions"]["onRun"]["args"][-3:] == ["--stage", "track", "--frames={{Param.Frames}}"]
    assert matte["script"]["actions"]["onRun"]["command"] == "{{Param.SamattePython}}"
    # job paths are PATH parameters; the interpreter and models folder are parameters too
    params = {p["name"]: p for p in t["parameterDefinitions"]}
    assert params["Plate"]["type"] == "PATH" and params["Plate"]["dataFlow"] == "IN"
    assert params["Output"]["type"] == "PATH" and params["Output"]["dataFlow"] == "OUT"
    assert params["Input1"]["type"] == "PATH"
    # ... of the render nodes: STRING (a PATH would be a Deadline job attachment, mapped into the session)
    assert params["SamattePython"]["type"] == "STRING" and params["ModelsDir"]["type"] == "STRING"
    assert params["ChunkSize"]["default"] == 2 and params["Preroll"]["default"] == 3
    # ModelsDir reaches each task as --models-dir (qa160: a job environment variable replaced the node's own)
    assert all("--models-dir={{Param.ModelsDir}}" in s["script"]["actions"]["onRun"]["args"] for s in t["steps"])
    assert "SAMATTE_MODELS" not in t["jobEnvironments"][0]["variables"]
    # no folder of the submitting machine in the template: not the home folder, not the job's folders
    text = open(os.path.join(res["bundle"], "template.yaml"), encoding="utf-8").read()
    for forbidden in (os.path.expanduser("~"), str(tmp_path), os.path.dirname(shot[0]["plate"])):
        assert forbidden not in text
    # the values live in parameter_values.yaml, with every template parameter given
    with open(os.path.join(res["bundle"], "parameter_values.yaml"), encoding="utf-8") as f:
        pv = {d["name"]: d["value"] for d in yaml.safe_load(f)["parameterValues"]}
    assert set(pv) == set(params)
    assert pv["Plate"] == os.path.dirname(shot[0]["plate"])
    assert pv["Output"] == str(tmp_path / "out")
    assert pv["Input1"] == str(tmp_path / "roto folder")
    assert pv["SamattePython"] == "/opt/samatte/bin/python" and pv["ModelsDir"] == "/studio/models"
    with open(os.path.join(res["bundle"], "asset_references.yaml"), encoding="utf-8") as f:
        ar = yaml.safe_load(f)["assetReferences"]
    assert sorted(ar["inputs"]["directories"]) == sorted([pv["Plate"], pv["Input1"]])
    assert ar["outputs"]["directories"] == [pv["Output"]]
    # auto resolved at export (no weights here: flow + refine), the same document in every step
    doc = _embedded_doc(matte)
    assert doc == _embedded_doc(track) == _embedded_doc(qc)
    assert doc["job"]["tracker"]["backend"] == "flow" and doc["job"]["matte"]["backend"] == "refine"
    assert doc["resolved"]["tracker"] == "flow" and res["resolved"]["matte"] == "refine"
    assert doc["job"]["plate"]["path"] == "<Plate>/plate.####.exr"
    assert doc["job"]["objects"][0]["host_name"] == "MaskLayer.001 ✓ ball"
    assert [q["path"] for q in doc["job"]["objects"][0]["prompts"] if q["type"] == "mask"] == ["<Input1>/ball.1002.png"]
    assert doc["job"]["objects"][1]["masks"]["path"] == "<Input1>/garbage.####.png"


def test_localize_maps_roots_to_the_render_node(shot, tmp_path):
    job = _host_job(shot, tmp_path)
    res = export_openjd(job, str(tmp_path / "bundle"))
    doc = load_farm_document(os.path.join(res["bundle"], "samatte_farm_job.json"))
    win = localize(doc, {"Plate": "Z:\\shots\\sh010\\plates", "Output": "Z:\\out", "Input1": "Z:\\roto"})
    assert win["plate"]["path"] == "Z:\\shots\\sh010\\plates\\plate.####.exr"
    assert win["objects"][1]["masks"]["path"] == "Z:\\roto\\garbage.####.png"
    lin = localize(doc, {"Plate": "/mnt/p", "Output": "/mnt/o/", "Input1": "/mnt/r"})
    assert lin["output"]["path"] == "/mnt/o/sh010_matte.####.exr"
    assert [q["path"] for q in jobspec.validate(lin)["objects"][0]["prompts"] if q["type"] == "mask"] == [
        "/mnt/r/ball.1002.png"]
    with pytest.raises(JobSpecError) as e:
        localize(doc, {"Plate": "/mnt/p"})
    assert e.value.code == "JOBSPEC_INVALID" and "Input1" in e.value.message


@needs_openjd
def test_openjd_check_passes_even_with_braces_in_paths(shot, tmp_path):
    job = _host_job(shot, tmp_path)
    job["objects"][0]["host_name"] = "weird {{Param.Plate}} }}name{{"
    res = export_openjd(job, str(tmp_path / "b"), chunk=3)
    r = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = _embedded_doc(_template(res["bundle"])["steps"][1])
    assert doc["job"]["objects"][0]["host_name"] == "weird {{Param.Plate}} }}name{{"


def test_refine_only_job_has_no_track_step(shot, tmp_path):
    s, _ = shot
    job = jobspec.new_job(s["plate"], str(tmp_path / "o" / "m.####.exr"), frames="1001-1006", name="ro")
    jobspec.add_object(job, "car", masks=s["gt"])
    res = export_openjd(job, str(tmp_path / "b"), chunk=4)
    t = _template(res["bundle"])
    assert [x["name"] for x in t["steps"]] == ["Matte", "QC"]
    assert "dependencies" not in t["steps"][0]
    assert "all" in t["steps"][0]["script"]["actions"]["onRun"]["args"]


def test_export_errors(shot, tmp_path):
    job = _host_job(shot, tmp_path)
    with pytest.raises(JobSpecError):
        export_openjd(job, str(tmp_path / "b"), chunk=0)
    with pytest.raises(FrameRangeError) as e:   # the code `samatte run --frames` gives for the same range
        export_openjd(job, str(tmp_path / "b"), frames="990-1001")
    assert e.value.code == "FRAME_RANGE_INVALID" and e.value.details["field"] == "frames"
    assert not os.path.exists(str(tmp_path / "b"))
    with pytest.raises(OutputError):      # a bundle must not be written into the job's own folders
        export_openjd(job, os.path.dirname(shot[0]["plate"]))
    with pytest.raises(OutputError):
        export_openjd(job, str(tmp_path))


def test_cli_export_and_qc_failure(shot, tmp_path):
    job = _host_job(shot, tmp_path)
    path = str(tmp_path / "job.json")
    jobspec.save(job, path)
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "samatte", "farm", "export", path, "--openjd", str(tmp_path / "b"),
                        "--chunk", "2", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["steps"] == ["Track", "Matte", "QC"] and out["parameters"]["ChunkSize"] == 2
    # nothing rendered yet: QC names every frame missing, exits with the output status (5)
    r = subprocess.run([sys.executable, "-m", "samatte", "qc", path, "--report", str(tmp_path / "qc")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 5, r.stdout + r.stderr
    assert "QC_FAILED" in r.stderr
    rep = json.load(open(str(tmp_path / "qc" / "qc.json")))
    assert rep["ok"] is False and rep["failed"] == [1001, 1002, 1003, 1004, 1005, 1006]
    assert rep["frames"]["1003"]["problem"] == "missing"


PY39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")


@pytest.mark.skipif(not os.path.isfile(PY39), reason="no Python 3.9 under pyenv here")
def test_export_runs_in_a_host_python_with_the_standard_library_only(shot, tmp_path):
    """A Nuke or Blender "send to farm" button can export in the host's own Python 3.9 (no numpy, no
    OpenImageIO): the bundle is the same as the venv's."""
    job = _host_job(shot, tmp_path)
    path = str(tmp_path / "job.json")
    jobspec.save(job, path)
    core = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")
    code = ("import sys, samatte.farm as F; F.export_openjd(sys.argv[1], sys.argv[2], chunk=2, python='/opt/py', "
            "models_dir='/m'); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'cv2', 'OpenImageIO', 'yaml', 'PIL')))")
    env = dict(os.environ, PYTHONPATH=core)
    r = subprocess.run([PY39, "-S", "-c", code, path, str(tmp_path / "b39")], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    export_openjd(path, str(tmp_path / "b311"), chunk=2, python="/opt/py", models_dir="/m")
    for name in ("template.yaml", "parameter_values.yaml", "asset_references.yaml"):
        assert open(str(tmp_path / "b39" / name), "rb").read() == open(str(tmp_path / "b311" / name), "rb").read()


def _roundtrip(job, tmp_path, name):
    """Export ``job``; `openjd check` the template; the embedded job, localised with the submitting
    machine's own folders, is the host's job with its auto backends resolved."""
    res = export_openjd(job, str(tmp_path / name), chunk=5)
    if HAVE_OPENJD:
        r = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    t = _template(res["bundle"])
    doc = _embedded_doc(t["steps"][-1])
    back = localize(doc, {n: res["parameters"][n] for n in doc["roots"]})
    want = jobspec.validate(job)
    for sect in ("tracker", "matte"):
        want[sect]["backend"] = back[sect]["backend"]
    assert back == want
    return res, t


def test_export_jobs_the_nuke_node_and_the_blender_addon_build(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "nuke_plugin"))
    sys.path.insert(0, os.path.join(root, "tests", "blender"))
    try:
        nuke_job = pytest.importorskip("samatte_nuke.job")
        from addon_plain import plain
    finally:
        sys.path.pop(0)
        sys.path.pop(0)
    bez = [[50, 20, 48, 20, 52, 20], [150, 20, 150, 18, 150, 22], [150, 80, 152, 80, 148, 80]]
    job = nuke_job.build_job(
        name="sh030_SAMatte1", plate_path="/shots/sh030/plate/sh030.####.exr", file_frames=range(1001, 1021),
        colourspace="ACES - ACEScg", ocio="/studio/ocio/config.ocio",
        objects=[{"name": "Bezier1", "host_name": "Bezier1", "prompts": [
                     {"frame": 1005, "type": "bezier", "points": bez},
                     {"frame": 1012, "type": "points", "points": [[100, 50]], "labels": [1]}]},
                 {"name": "Roto_hole", "host_name": "Roto hole.001", "prompts": [
                     {"frame": 1005, "type": "polygon", "points": [[10, 10], [60, 10], [35, 60]]}]}],
        output="/comp/cache/sh030/SAMatte1/matte.####.exr", tracker="auto", model="sam2.1_hiera_tiny",
        quality="default", device="auto")
    res, t = _roundtrip(job, tmp_path, "nuke")
    assert [p["name"] for p in t["parameterDefinitions"][:3]] == ["Plate", "Output", "Input1"]
    assert res["parameters"]["Input1"] == "/studio/ocio"              # the OCIO config travels as a folder
    assert [s["name"] for s in t["steps"]] == ["Track", "Matte", "QC"]

    jobs = plain("jobs")
    gather = plain("gather")
    info = gather.ClipInfo(size=(200, 100), first_file=1001, duration=10, pattern="/shots/bl010/plate.####.exr",
                           name="plate")
    st = jobs.Settings(python=sys.executable, output_dir=str(tmp_path / "blout"), tracker="auto", matte="auto",
                       quality="draft")
    objs = [{"name": "MaskLayer_001", "host_name": "MaskLayer.001",
             "prompts": [{"frame": 1002, "type": "bezier", "points": bez},
                         {"frame": 1006, "type": "polygon", "points": [[60, 30], [90, 30], [75, 60]],
                          "mode": "subtract"}]},
            {"name": "Track_1", "host_name": "Track.001 ✓",
             "prompts": [{"frame": f, "type": "points", "points": [[100, 50]], "labels": [1]} for f in (1002, 1003)]}]
    bjob = jobs.build_job(info, objs, st, frames=list(range(1001, 1011)))
    res, t = _roundtrip(bjob, tmp_path, "blender")
    assert res["parameters"]["Output"] == os.path.dirname(bjob["output"]["path"])
    assert _embedded_doc(t["steps"][0])["job"]["objects"][1]["host_name"] == "Track.001 ✓"


def test_export_inside_a_host_needs_the_samatte_python(shot, tmp_path, monkeypatch):
    import types
    monkeypatch.setitem(sys.modules, "bpy", types.ModuleType("bpy"))     # as inside Blender
    job = _host_job(shot, tmp_path)
    with pytest.raises(JobSpecError) as e:
        export_openjd(job, str(tmp_path / "b"))
    assert "samatte's Python" in e.value.message
    res = export_openjd(job, str(tmp_path / "b"), python="/opt/samatte/.venv/bin/python")
    assert res["parameters"]["SamattePython"] == "/opt/samatte/.venv/bin/python"


def test_export_a_subset_keeps_the_job_range(shot, tmp_path):
    job = _host_job(shot, tmp_path)
    res = export_openjd(job, str(tmp_path / "b"), frames="1005-1006")
    t = _template(res["bundle"])
    params = {p["name"]: p for p in t["parameterDefinitions"]}
    assert params["Frames"]["default"] == "1005-1006" and res["parameters"]["Frames"] == "1005-1006"
    doc = _embedded_doc(t["steps"][0])
    assert doc["job"]["plate"]["frames"] == "1001-1006"      # the prompts on 1001-1004 stay in range
