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
