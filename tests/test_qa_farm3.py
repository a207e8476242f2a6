"""QA of the exported bundle as a studio submits it to Deadline Cloud: its job attachments (asset
references, dataFlow), the path mapping a worker's session gets from them, and Deadline's own client
(``deadline``, tests skip without it) reading the bundle. The `openjd run` tests need no AWS account:
they reproduce what a Deadline worker does around each task (inputs copied into the session folder,
the submitting machine's asset root mapped there)."""
import glob
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
    d = tmp_path_factory.mktemp("qafarm3")
    s = make_shot(str(d / "shots" / "sh040" / "plates"), frames=6, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "shots" / "sh040" / "out" / "m.####.exr"), frames="1001-1006",
                          name="sh040", tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job, d


def _template(res):
    yaml = pytest.importorskip("yaml")
    with open(res["template"], encoding="utf-8") as f:
        return yaml.safe_load(f)


def _deadline_asset_root(template, values):
    """The asset root Deadline Cloud's client gives a bundle without storage profile: every PATH job
    parameter with a value goes into the job's asset references (deadline.client.job_bundle.parameters.
    apply_job_parameters: IN -> inputs, OUT -> outputs, NONE -> referencedPaths), and the paths outside
    any storage-profile location make one group whose root is their common path. The worker maps that
    root to a folder of its session (path mapping rule root -> session/assetroot-...)."""
    paths = [str(values[p["name"]]) for p in template["parameterDefinitions"]
             if p["type"] == "PATH" and values.get(p["name"])]
    return os.path.commonpath(paths)


def _files(folder):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(str(folder), "*.exr")))}


@needs_openjd
def test_a_job_attachments_session_runs_the_job(shot, tmp_path):
    """On a Deadline Cloud queue with job attachments, the render nodes' samatte Python and models
    folder were PATH parameters: Deadline's client put them in the job's referencedPaths, so the asset
    root became '/' and the worker mapped them into its session folder, where no interpreter is.
    Every task failed (exit 127, '.../assetroot-.../usr/.../python: not found')."""
    job, d = shot
    job = json.loads(json.dumps(job))
    res = export_openjd(job, str(tmp_path / "bundle"), chunk=4, preroll=1, python=sys.executable,
                        models_dir=str(tmp_path / "nodes" / "models"))
    values = res["parameters"]
    root = _deadline_asset_root(_template(res), values)
    # the worker's session: the job's input files copied under the mapped root
    dest = tmp_path / "session" / "assetroot-0"
    shutil.copytree(values["Plate"], str(dest / os.path.relpath(values["Plate"], root)))
    rules = {"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": root, "destination_path": str(dest)}]}
    r = subprocess.run([OPENJD, "run", res["template"], "--path-mapping-rules", json.dumps(rules),
                        "-p", json.dumps(values)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    out = dest / os.path.relpath(values["Output"], root)
    farm = _files(out)
    assert sorted(farm) == ["m.%d.exr" % f for f in range(1001, 1007)]
    # the same bytes as one `samatte run` on the submitting machine
    from samatte.pipeline import run
    job["output"]["path"] = str(tmp_path / "local" / "m.####.exr")
    run(job)
    assert _files(tmp_path / "local") == farm
    assert not os.path.exists(values["Output"])          # nothing written outside the session


def _stub_job(tmp_path):
    """A job whose export needs the standard library only (the `deadline` package's venv has no numpy)."""
    plates = tmp_path / "shots" / "sh050" / "plates"
    plates.mkdir(parents=True)
    for f in range(1001, 1005):
        (plates / ("p.%d.exr" % f)).write_bytes(b"not read by the export")
    job = jobspec.new_job(str(plates / "p.####.exr"), str(tmp_path / "shots" / "sh050" / "out" / "m.####.exr"),
                          frames="1001-1004", name="sh050", tracker="shapes", matte="none")
    jobspec.add_object(job, "a", [jobspec.box_prompt(1001, [2, 2, 20, 20])])
    jobspec.add_object(job, "b", [jobspec.box_prompt(1001, [30, 30, 50, 50])])
    return job, str(plates), str(tmp_path / "shots" / "sh050" / "out")


def test_deadline_client_reads_the_bundle_and_attaches_only_the_job_folders(tmp_path):
    """Deadline Cloud's own client (``pip install deadline``) reads the bundle as `deadline bundle
    submit` does: the parameters validate, the plate folder is the job's input, the output folder its
    output, and nothing else is attached (the render nodes' interpreter and models folder were
    referencedPaths that made the asset root '/' and were mapped into the worker's session)."""
    pytest.importorskip("deadline.client.job_bundle.parameters")
    from deadline.client.job_bundle.loader import read_yaml_or_json_object
    from deadline.client.job_bundle.parameters import apply_job_parameters, read_job_bundle_parameters
    from deadline.client.job_bundle.submission import AssetReferences
    from deadline.job_attachments.upload import S3AssetManager

    job, plates, out = _stub_job(tmp_path)
    bundle = str(tmp_path / "bundle")
    export_openjd(job, bundle, chunk=2, python="/opt/samatte/.venv/bin/python", models_dir="/opt/samatte/models")
    params = read_job_bundle_parameters(bundle)
    refs = AssetReferences.from_dict(read_yaml_or_json_object(bundle, "asset_references", False))
    apply_job_parameters([{"name": "Preroll", "value": 3}], bundle, params, refs)
    values = {p["name"]: p["value"] for p in params}
    assert values["SamattePython"] == "/opt/samatte/.venv/bin/python" and values["Preroll"] == 3
    assert refs.input_directories == {plates} and refs.output_directories == {out}
    assert refs.referenced_paths == set() and refs.input_filenames == set()
    # the job attachments' asset root: the job's shot folder, mapped as a whole into the session
    inputs = [os.path.join(plates, n) for n in sorted(os.listdir(plates))]
    groups = S3AssetManager().prepare_paths_for_upload(
        input_paths=inputs, output_paths=sorted(refs.output_directories),
        referenced_paths=sorted(refs.referenced_paths)).asset_groups
    assert [g.root_path for g in groups] == [str(tmp_path / "shots" / "sh050")]
