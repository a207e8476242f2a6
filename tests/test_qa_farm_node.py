"""A farm node's resources: several samatte tasks share one node (Deadline concurrent tasks, a cpuset,
a CPU quota, ``OMP_NUM_THREADS``). Before, samatte had no thread knob and each library it runs decided
on its own: OpenCV ignored ``OMP_NUM_THREADS``, OpenImageIO ignored both it and the affinity, numba and
three copies of OpenBLAS sized their pools separately. Now ``--threads N`` / ``$SAMATTE_THREADS``
(default ``$OMP_NUM_THREADS``, else the process's CPUs) sets every library, and outputs stay
byte-identical whatever the count."""
import json
import os
import subprocess
import sys

import pytest

from samatte import threads
from samatte.errors import JobSpecError

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")

# Runs the CLI in-process, then prints the thread counts every library was left with.
_PROBE = r"""
import json, os, sys
from samatte import cli
rc = cli.main(sys.argv[1:])
import cv2, numba, OpenImageIO as oiio
print("PROBE " + json.dumps({"rc": rc, "cv2": cv2.getNumThreads(), "oiio": oiio.get_int_attribute("threads"),
      "exr": oiio.get_int_attribute("exr_threads"), "numba": numba.config.NUMBA_NUM_THREADS,
      "omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in threads.THREAD_ENV and k not in ("SAMATTE_THREADS", "OPENIMAGEIO_OPTIONS")}
    env["PYTHONPATH"] = CORE
    env.update(extra)
    return env


def _probe(args, **env):
    p = subprocess.run([sys.executable, "-c", _PROBE] + list(args), env=_env(**env),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("PROBE ")]
    assert lines, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return json.loads(lines[-1][6:]), p.stderr


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("node")
    return make_shot(str(d), frames=3, size=(96, 64))


def _job(shot, out, path):
    from samatte import jobspec
    w, h = shot["size"]
    job = jobspec.new_job(shot["plate"], str(out), frames="1001-1003", tracker="flow", matte="refine",
                          quality="default", name="node")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    jobspec.add_object(job, "box", [jobspec.box_prompt(shot["prompt_frame"], [4, 4, w * 0.4, h * 0.5])])
    jobspec.save(job, str(path))
    return str(path)


def test_threads_flag_sets_every_library_and_outputs_are_byte_identical(shot, tmp_path):
    outs = {}
    for n in (1, 2):
        job = _job(shot, tmp_path / ("o%d" % n) / "m.####.exr", tmp_path / ("j%d.json" % n))
        res, err = _probe(["run", job, "--threads", str(n)])
        assert res["rc"] == 0, err[-2000:]
        assert (res["cv2"], res["oiio"], res["exr"], res["numba"]) == (n, n, n, n), res
        assert res["omp"] == res["openblas"] == str(n)
        outs[n] = {f: (tmp_path / ("o%d" % n) / f).read_bytes() for f in os.listdir(str(tmp_path / ("o%d" % n))) if f.endswith(".exr")}
    assert sorted(outs[1]) == ["m.1001.exr", "m.1002.exr", "m.1003.exr"]
    assert outs[1] == outs[2]          # byte for byte, two objects, flow + refine


def test_omp_num_threads_alone_reaches_opencv_and_openimageio(shot, tmp_path):
    # A TD's OMP_NUM_THREADS=1 used to leave OpenCV on the affinity and OpenImageIO on every core.
    job = _job(shot, tmp_path / "o" / "m.####.exr", tmp_path / "j.json")
    res, err = _probe(["run", job], OMP_NUM_THREADS="1")
    assert res["rc"] == 0, err[-2000:]
    assert (res["cv2"], res["oiio"], res["exr"], res["numba"]) == (1, 1, 1, 1), res


def test_samatte_threads_wins_and_a_bad_value_is_a_usage_error_before_any_frame(shot, tmp_path):
    job = _job(shot, tmp_path / "o" / "m.####.exr", tmp_path / "j.json")
    res, err = _probe(["run", job], SAMATTE_THREADS="nope")
    assert res["rc"] == 2 and "[JOBSPEC_INVALID]" in err and "SAMATTE_THREADS" in err
    res, err = _probe(["run", job, "--threads", "-1"])
    assert res["rc"] == 2 and "[JOBSPEC_INVALID]" in err and "--threads" in err
    assert not (tmp_path / "o").exists() or os.listdir(str(tmp_path / "o")) == []


def test_budget_rule():
    cpus = threads.available_cpus()
    assert cpus >= 1
    if hasattr(os, "sched_getaffinity"):
        assert cpus <= len(os.sched_getaffinity(0))
    assert threads.budget(None, {}) == (cpus, "cpus")
    assert threads.budget(None, {"OMP_NUM_THREADS": "3,1"}) == (3, "OMP_NUM_THREADS")
    assert threads.budget(None, {"OMP_NUM_THREADS": "3", "SAMATTE_THREADS": "5"}) == (5, "SAMATTE_THREADS")
    assert threads.budget("2", {"SAMATTE_THREADS": "5"}) == (2, "--threads")
    assert threads.budget("auto", {"SAMATTE_THREADS": "auto"}) == (cpus, "cpus")
    for bad in ("x", "-2", "1.5"):
        with pytest.raises(JobSpecError):
            threads.budget(bad, {})
    env = {"OPENIMAGEIO_OPTIONS": "threads=64,log_times=0"}
    assert threads.configure(4, env) == 4
    assert env["OPENIMAGEIO_OPTIONS"] == "log_times=0,threads=4,exr_threads=4"
    assert all(env[k] == "4" for k in threads.THREAD_ENV)


def test_worker_takes_the_budget_too():
    code = ("import os, sys; from samatte import worker, threads; worker.main(['--threads', '1']); "
            "sys.stderr.write('N %s %s' % (threads.configured(), os.environ['OMP_NUM_THREADS']))")
    p = subprocess.run([sys.executable, "-c", code], env=_env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert "N 1 1" in p.stderr, (p.stdout[-1000:], p.stderr[-1000:])


def test_a_script_running_jobs_in_its_own_process_follows_samatte_threads(shot, tmp_path):
    job = _job(shot, tmp_path / "o" / "m.####.exr", tmp_path / "j.json")
    code = ("import json, sys, cv2, OpenImageIO as oiio; from samatte import api; api.run(sys.argv[1]); "
            "print('PROBE ' + json.dumps([cv2.getNumThreads(), oiio.get_int_attribute('threads')]))")
    p = subprocess.run([sys.executable, "-c", code, job], env=_env(SAMATTE_THREADS="1"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert "PROBE [1, 1]" in p.stdout, (p.stdout[-1000:], p.stderr[-2000:])


def test_info_says_how_many_threads_and_why():
    p = subprocess.run([sys.executable, "-m", "samatte", "info", "--json"], env=_env(OMP_NUM_THREADS="1"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    t = json.loads(p.stdout)["threads"]
    assert t == {"threads": 1, "source": "OMP_NUM_THREADS", "cpus": threads.available_cpus()}


# -- out of memory: a node's limit (ulimit -v, a cgroup, the other tasks) is not a bug, nor a bad plate --
# Before: numpy's MemoryError was SAMATTE_ERROR, exit 1, "a bug; please report it" with a traceback, and
# OpenImageIO's std::bad_alloc while reading a plate was FRAME_CORRUPT (exit 3) naming a good frame.

def _oom_pipeline(monkeypatch):
    import numpy as np

    from samatte import pipeline
    from samatte.progress import Progress

    def run_iter(job, **kw):
        yield Progress("setup", None, 0, 1, "reading plate")
        np.empty((1 << 40, 1 << 20), np.float32)     # numpy's real "Unable to allocate 4 EiB"
        return {}
    monkeypatch.setattr(pipeline, "run_iter", run_iter)


@pytest.mark.parametrize("mode", ["", "--json", "--openjd"])
def test_out_of_memory_in_a_job_is_out_of_memory_not_a_bug(shot, tmp_path, monkeypatch, capfd, mode):
    from samatte import cli
    job = _job(shot, tmp_path / "o" / "m.####.exr", tmp_path / "j.json")
    _oom_pipeline(monkeypatch)
    rc = cli.main(["run", job] + ([mode] if mode else []))
    out, err = capfd.readouterr()
    assert rc == 10
    assert "[OUT_OF_MEMORY] out of memory (MemoryError: Unable to allocate" in err, err
    assert "Traceback" not in err and "a bug" not in err
    if mode == "--json":
        last = json.loads(out.strip().splitlines()[-1])
        assert last["type"] == "error" and last["code"] == "OUT_OF_MEMORY"
        assert last["details"]["exception"].endswith("MemoryError")
    if mode == "--openjd":
        assert "openjd_fail: [OUT_OF_MEMORY] out of memory" in out, out


def test_hosts_get_out_of_memory_through_the_worker_protocol():
    from samatte import errors, protocol
    try:
        bytearray(1 << 62)
    except MemoryError as e:
        msg = protocol.error_from_exception("j", e)
    assert msg["code"] == "OUT_OF_MEMORY" and "traceback" not in msg["details"]
    assert errors.EXIT_CODES["OUT_OF_MEMORY"] == 10
    assert errors.out_of_memory(ValueError("x")) is None and errors.known_failure(KeyError("k")).__class__ is KeyError


class _Input:
    def __init__(self, exc):
        self.exc = exc

    def read_image(self, *a):
        raise self.exc


def test_a_plate_read_that_runs_out_of_memory_is_not_frame_corrupt():
    from samatte import errors
    from samatte.io import exr
    with pytest.raises(errors.OutOfMemoryError) as ei:
        exr.read_channels(_Input(MemoryError("std::bad_alloc")), "/p/plate.1006.exr", 0, [0, 1, 2], frame=1006)
    assert ei.value.code == "OUT_OF_MEMORY" and ei.value.exit_code == 10
    assert ei.value.details["path"] == "/p/plate.1006.exr" and ei.value.details["frame"] == 1006
    with pytest.raises(errors.CorruptFrameError):       # a damaged file stays FRAME_CORRUPT
        exr.read_channels(_Input(RuntimeError("Error reading pixel data")), "/p/plate.1006.exr", 0, [0, 1, 2])


_RLIMIT = r"""
import resource, sys
from samatte.io import exr
exr.read_info(sys.argv[1])
vm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")][0] * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (16 << 20), resource.RLIM_INFINITY))   # a task's ulimit -v
try:
    exr.read_rgb(sys.argv[1])          # 1920x1080 float RGB: 25 MB
    print("RESULT ok")
except Exception as e:
    print("RESULT", getattr(e, "code", type(e).__name__))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_a_real_memory_limit_while_reading_a_good_plate_is_out_of_memory(tmp_path):
    import numpy as np

    from samatte.io.exr import write_image
    plate = str(tmp_path / "plate.1001.exr")
    write_image(plate, np.full((1080, 1920, 3), 0.5, np.float32), channels=("R", "G", "B"), pixel_type="half")
    env = _env(OPENIMAGEIO_OPTIONS="threads=1,exr_threads=1", OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", _RLIMIT, plate], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert "RESULT OUT_OF_MEMORY" in p.stdout, (p.stdout[-1000:], p.stderr[-1000:])   # before: FRAME_CORRUPT


def test_a_stored_track_that_cannot_be_loaded_for_memory_is_out_of_memory_not_track_missing(
        shot, tmp_path, monkeypatch, capfd):
    # Before: the track cache took a MemoryError for a damaged file: `--stage matte` said TRACK_MISSING
    # (exit 9, "run --stage track first") for a track that was there.
    from samatte import cli, trackcache
    job = _job(shot, tmp_path / "o" / "m.####.exr", tmp_path / "j.json")
    assert cli.main(["run", job, "--stage", "track"]) == 0

    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 7.91 MiB")
    monkeypatch.setattr(trackcache.np, "load", no_memory)
    capfd.readouterr()
    rc = cli.main(["run", job, "--stage", "matte"])
    err = capfd.readouterr().err
    assert rc == 10 and "[OUT_OF_MEMORY]" in err and "TRACK_MISSING" not in err, err
    assert not (tmp_path / "o" / "m.1001.exr").exists()


def test_pymatting_failing_to_import_for_memory_is_not_a_silent_switch_of_solver(monkeypatch):
    # Before: a MemoryError while importing pymatting was cached as "pymatting missing": every later
    # frame of the process ran the fallback solvers, different pixels with no word said.
    import types

    from samatte.matte import cfsolve, refine

    class _NoMemory(types.ModuleType):
        def __getattr__(self, name):
            raise MemoryError("std::bad_alloc")
    for mod in ("pymatting", "pymatting.preconditioner.ichol", "pymatting.solver.cg"):
        monkeypatch.setitem(sys.modules, mod, _NoMemory(mod))
    monkeypatch.setattr(cfsolve, "_PM", None)
    monkeypatch.setattr(refine, "_SM", None)
    with pytest.raises(MemoryError):
        cfsolve._pymatting_solvers()
    with pytest.raises(MemoryError):
        refine._shared_matting()
    assert cfsolve._PM is None and refine._SM is None      # nothing cached: the next call tries again


def test_a_cgroup_cpu_quota_caps_the_default(tmp_path):
    # docker --cpus / a Deadline Cloud or Kubernetes CPU limit is a quota, not an affinity: no library
    # saw it; the default now does (v2 cpu.max, v1 cfs quota), rounded up.
    root = tmp_path / "cg"
    (root / "job").mkdir(parents=True)
    (root / "job" / "cpu.max").write_text("150000 100000\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/job\n")
    assert threads._cgroup_quota(str(root), str(proc)) == 2
    (root / "job" / "cpu.max").write_text("max 100000\n")
    assert threads._cgroup_quota(str(root), str(proc)) is None
    v1 = root / "cpu,cpuacct" / "job"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("400000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    proc.write_text("4:cpu,cpuacct:/job\n3:memory:/job\n")
    assert threads._cgroup_quota(str(root), str(proc)) == 4
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads._cgroup_quota(str(root), str(proc)) is None
