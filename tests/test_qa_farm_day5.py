"""QA of the farm as a pipeline TD puts a shot on Deadline Cloud (day 5): the thread count of a task set
from the job (the ``Threads`` job parameter reaching ``samatte farm task --threads``), checked with
openjd-cli's own validation and run."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from samatte import jobspec
from samatte.errors import JobSpecError
from samatte.farm import export_openjd

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
needs_openjd = pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("qafarm5")
    s = make_shot(str(d / "shots" / "sh010" / "plates"), frames=3, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "shots" / "sh010" / "out" / "m.####.exr"), frames="1001-1003",
                          name="sh010", tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job, d


def _template(res):
    yaml = pytest.importorskip("yaml")
    with open(res["template"], encoding="utf-8") as f:
        return yaml.safe_load(f)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("SAMATTE_THREADS", "OMP_NUM_THREADS")}
    env.update(extra)
    return env


def _threads_line(out):
    return [ln.split("samatte farm task: ", 1)[1] for ln in out.splitlines() if "samatte farm task: " in ln]


def test_the_template_has_a_threads_parameter_every_task_passes_on(shot, tmp_path):
    """A 4K shot on nodes that run several tasks at once needs each task's thread count; `--threads`
    and $SAMATTE_THREADS existed but the template had no way to set them: a TD had to edit every
    worker's environment. Now ``Threads`` (INT, default 0: the node's own choice) is a job parameter,
    and every step's command passes it as ``--threads=``."""
    job, _ = shot
    res = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2, preroll=1, threads=3)
    t = _template(res)
    params = {p["name"]: p for p in t["parameterDefinitions"]}
    assert params["Threads"]["type"] == "INT" and params["Threads"]["minValue"] == 0
    assert params["Threads"]["default"] == 3 and res["parameters"]["Threads"] == 3
    for step in t["steps"]:
        assert "--threads={{Param.Threads}}" in step["script"]["actions"]["onRun"]["args"], step["name"]
    with open(res["parameter_values"], encoding="utf-8") as f:
        assert "Threads" in f.read()
    assert json.load(open(res["openjd_params"]))["Threads"] == 3
    # the default: 0, the node's own choice
    res0 = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle0"), chunk=2)
    assert res0["parameters"]["Threads"] == 0
    assert {p["name"]: p for p in _template(res0)["parameterDefinitions"]}["Threads"]["default"] == 0
    # a count from a TD's script is a whole number >= 0, never coerced
    for bad in (True, -1, 2.5, "4"):
        with pytest.raises(JobSpecError) as e:
            export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bad"), threads=bad)
        assert e.value.code == "JOBSPEC_INVALID" and e.value.details.get("field") == "threads"


def test_farm_export_cli_sets_the_threads_value(shot, tmp_path):
    from samatte import cli
    job, _ = shot
    jobspec.save(job, str(tmp_path / "sh010.json"))
    assert cli.main(["farm", "export", str(tmp_path / "sh010.json"), "--openjd", str(tmp_path / "b"),
                     "--task-threads", "2"]) == 0
    assert json.load(open(str(tmp_path / "b" / "openjd_params.json")))["Threads"] == 2
    assert cli.main(["farm", "export", str(tmp_path / "sh010.json"), "--openjd", str(tmp_path / "c"),
                     "--task-threads", "-2"]) != 0
    assert not os.path.exists(str(tmp_path / "c" / "template.yaml"))


@needs_openjd
def test_openjd_checks_and_runs_the_threads_parameter(shot, tmp_path):
    """`openjd check` accepts the template; `openjd run` of the Track step gives the task the parameter's
    count (1), or with 0 the node's $SAMATTE_THREADS; a negative count fails the task with samatte's
    [JOBSPEC_INVALID] reason (openjd-cli 0.8.0 does not apply the parameter's minValue in `run`)."""
    job, _ = shot
    res = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2, preroll=1)
    r = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

    def run(threads, env):
        params = dict(res["parameters"], Threads=threads)
        return subprocess.run([OPENJD, "run", res["template"], "--step", "Track", "--no-run-dependencies",
                               "-p", json.dumps(params)], capture_output=True, text=True, timeout=300, env=env)
    r = run(1, _env(SAMATTE_THREADS="3"))
    assert r.returncode == 0, r.stdout[-3000:]
    lines = _threads_line(r.stdout)
    assert len(lines) == 1 and lines[0].endswith("(threads 1 from --threads)"), lines
    r = run(0, _env(SAMATTE_THREADS="3"))
    assert r.returncode == 0, r.stdout[-3000:]
    assert _threads_line(r.stdout)[0].endswith("(threads 3 from SAMATTE_THREADS)")
    r = run(-1, _env())
    assert r.returncode != 0
    assert "openjd_fail: [JOBSPEC_INVALID] --threads must be a whole number" in r.stdout
    assert not _threads_line(r.stdout)                                  # refused before the job was read


# --- a Windows submitter, Linux render nodes: the roots' path mapping --------------------------------------

#: openjd-cli run as a Deadline worker treats a PATH value: kept as the submitter gave it (openjd-cli on
#: Linux joins a "Z:\..." value to its own current folder before the session maps it; the service does
#: not), then mapped by the session's path mapping rules.
_OPENJD_AS_WORKER = r"""
import ntpath, pathlib, sys
import openjd.model._create_job as cj
class _P(type(pathlib.Path())):
    def is_absolute(self):
        return super().is_absolute() or ntpath.isabs(str(self))
if not hasattr(cj, "Path"):
    sys.exit(99)
cj.Path = _P
from openjd.cli import main
sys.argv[0] = "openjd"
sys.exit(main())
"""


def _windows_run(res, tmp_path, values, rules, *extra):
    script = tmp_path / "openjd_as_worker.py"
    script.write_text(_OPENJD_AS_WORKER)
    r = subprocess.run([sys.executable, str(script), "run", res["template"], "--path-mapping-rules",
                        json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": rules}),
                        "-p", json.dumps(values)] + list(extra),
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    if r.returncode == 99:
        pytest.skip("this openjd-model has no Path to patch")
    return r


@needs_openjd
def test_a_windows_submitters_folders_are_mapped_on_a_linux_node(shot, tmp_path):
    """The bundle's roots are PATH parameters (objectType DIRECTORY, dataFlow IN / OUT), so a WINDOWS
    path mapping rule turns the submitter's Z:\\ folders into the node's: the Track task reads the
    mapped plate and writes the track under the mapped output folder."""
    job, d = shot
    res = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2)
    t = _template(res)
    kinds = {p["name"]: (p["objectType"], p["dataFlow"]) for p in t["parameterDefinitions"] if p["type"] == "PATH"}
    assert kinds == {"Plate": ("DIRECTORY", "IN"), "Output": ("DIRECTORY", "OUT")}
    values = dict(res["parameters"])
    for k in ("Plate", "Output"):
        rel = os.path.relpath(values[k], str(d))
        values[k] = "Z:\\" + rel.replace("/", "\\")
    r = _windows_run(res, tmp_path, values, [{"source_path_format": "WINDOWS", "source_path": "Z:\\",
                                              "destination_path": str(d)}],
                     "--step", "Track", "--no-run-dependencies")
    assert r.returncode == 0, r.stdout[-3000:]
    # 3 frames tracked now or by an earlier test of this module: current either way, from the mapped plate
    assert re.search(r"sh010 done: (3 frame\(s\) tracked, 0|0 frame\(s\) tracked, 3) already current -> %s"
                     % re.escape(str(d / "shots" / "sh010" / "out" / ".samatte" / "sh010" / "m..exr")), r.stdout), r.stdout[-3000:]
    assert os.path.isdir(str(d / "shots" / "sh010" / "out" / ".samatte" / "sh010" / "m..exr" / "track"))
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith("Z:")]


def test_a_root_no_rule_mapped_fails_the_task_before_anything_is_written(shot, tmp_path, monkeypatch):
    """A Linux node given the submitter's unmapped ``Z:\\shots\\out`` (no storage-profile rule for that
    drive) took it as a folder of the task's current folder, the session's: the job succeeded, QC
    passed, and the frames went to ``<session>/Z:\\shots\\out/`` (measured under `openjd run
    --preserve`: 4/4 frames there, none in the output folder), which the worker deletes. Now the task
    stops with JOBSPEC_INVALID naming the root, and nothing is written."""
    from samatte import cli
    from samatte.farm import check_roots, foreign_root
    job, d = shot
    res = export_openjd(json.loads(json.dumps(job)), str(tmp_path / "bundle"), chunk=2)
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    session = tmp_path / "session"
    session.mkdir()
    monkeypatch.chdir(str(session))
    rc = cli.main(["farm", "task", doc, "--root", "Plate=%s" % res["parameters"]["Plate"],
                   "--root", "Output=Z:\\shots\\sh010\\out", "--stage", "track", "--frames=1001-1003"])
    assert rc == 2
    assert os.listdir(str(session)) == []
    with pytest.raises(JobSpecError) as e:
        check_roots({"Plate": "/mnt/p", "Output": "\\\\server\\share\\out"}, windows=False)
    assert e.value.code == "JOBSPEC_INVALID" and e.value.details["root"] == "Output"
    assert "--root Output=\\\\server\\share\\out is a Windows path" in e.value.message
    # this node's own paths, and relative ones (a TD's shell: --root Plate=plates) are fine
    check_roots({"Plate": "plates", "Output": "/mnt/out", "Input1": "..\\roto"}, windows=False)
    check_roots({"Plate": "Z:\\p", "Output": "\\\\server\\share", "Input1": "//server/share"}, windows=True)
    assert foreign_root("/mnt/shots", windows=True) == "POSIX" and foreign_root("C:/x", windows=False) == "Windows"


# --- a QC task killed while it writes its report ---------------------------------------------------------

_KILLED_QC = r"""
import os, signal, sys
import PIL.Image
from samatte.farm.qc import run_qc
real = PIL.Image.Image.save
def save(self, fp, *a, **kw):
    with open(fp, "wb") as f:
        f.write(b"\x89PNG half a contact sheet")
    os.kill(os.getpid(), signal.SIGKILL)      # the farm's cancel past its notify period, mid-write
PIL.Image.Image.save = save
run_qc(sys.argv[1], raise_on_failure=False)
"""


def test_a_qc_task_killed_mid_write_leaves_no_temp_for_good(shot, tmp_path):
    """A QC task killed while writing its contact sheet (SIGKILL: Deadline's cancel after its notify
    period, a node lost) left ``contact_sheet.png.<pid>.tmp.png`` in the report folder, and every later
    QC left it there (measured: 12 kills, the temp still there after a passing QC). The temp now has the
    track cache's name (host, pid, random: two QC tasks of one job with the same pid on two container
    nodes no longer write one temp file at once) and the next QC removes one a dead process left."""
    from samatte.farm.qc import run_qc
    from samatte.pipeline import run
    job, _ = shot
    job = json.loads(json.dumps(job))
    job["output"]["path"] = str(tmp_path / "out" / "m.####.exr")
    run(job)
    jobspec.save(job, str(tmp_path / "job.json"))
    script = tmp_path / "killed_qc.py"
    script.write_text(_KILLED_QC)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "job.json")], env=env, timeout=120,
                       capture_output=True, text=True)
    assert r.returncode == -9, r.stderr[-2000:]
    qc_dir = tmp_path / "out" / ".samatte" / "sh010" / "m..exr" / "qc"
    left = [n for n in os.listdir(str(qc_dir)) if n not in ("qc.json", "contact_sheet.png")]
    assert len(left) == 1 and "tmp" in left[0]                       # what the killed task left
    assert not os.path.exists(str(qc_dir / "contact_sheet.png"))     # never half a sheet under the real name
    # an earlier samatte's temp names: removed once older than the temp age limit (no host in the name)
    old = qc_dir / "qc.json.4242.tmp"
    old.write_text("{")
    os.utime(str(old), (1, 1))
    fresh = qc_dir / "contact_sheet.png.4243.tmp.png"
    fresh.write_bytes(b"\x89PNG")
    rep = run_qc(job, raise_on_failure=False)
    assert rep["ok"], rep["failed"]
    assert sorted(os.listdir(str(qc_dir))) == ["contact_sheet.png", "contact_sheet.png.4243.tmp.png", "qc.json"]


# --- a Windows workstation's JobSpec run as it is on a Linux node (a plain job array) -------------------------

def test_a_jobspec_with_windows_paths_is_refused_on_a_posix_node_not_written_to_the_current_folder(
        shot, tmp_path, monkeypatch):
    """Any other engine runs ``samatte run JOB.json`` on its nodes. A JobSpec saved on a Windows workstation
    (output ``Z:\\shots\\sh010\\out\\m.####.exr``) run as it is on a Linux node wrote four files named
    ``Z:\\shots\\sh010\\out\\m.1001.exr`` ... into the task's current folder, plus its ``.samatte`` work
    dir, and exited 0. Now JOBSPEC_INVALID naming the path, before anything is read or written."""
    from samatte import cli
    from samatte.pipeline import check_foreign_paths
    job, _ = shot
    job = json.loads(json.dumps(job))
    job["output"]["path"] = "Z:\\shots\\sh010\\out\\m.####.exr"
    node = tmp_path / "node"
    node.mkdir()
    jobspec.save(job, str(tmp_path / "job.json"))
    monkeypatch.chdir(str(node))
    assert cli.main(["run", str(tmp_path / "job.json")]) == 2
    assert os.listdir(str(node)) == []
    assert sorted(os.listdir(str(tmp_path))) == ["job.json", "node"]
    with pytest.raises(JobSpecError) as e:
        check_foreign_paths(dict(job, work_dir="\\\\server\\cache\\sh010"), windows=False)
    assert e.value.code == "JOBSPEC_INVALID" and e.value.details["path"] == job["output"]["path"]
    assert e.value.details["paths"] == [job["output"]["path"], "\\\\server\\cache\\sh010"]
    check_foreign_paths(job, windows=True)                # on Windows the same job is the machine's own
    check_foreign_paths(dict(job, output={"path": str(tmp_path / "m.####.exr")}), windows=False)
