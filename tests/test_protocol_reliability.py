"""The command line's side of issue 11 (items 2-3): odd values and odd streams give coded errors,
never tracebacks, and a closed stdout is not a job failure."""
import copy
import json
import os
import subprocess
import sys

import pytest

from demo_shots import demo_job, make_demo_shot
from samatte import protocol


def samatte(*args, timeout=300, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, "-m", "samatte"] + [a if isinstance(a, bytes) else str(a) for a in args],
                          stdout=stdout, stderr=subprocess.PIPE, timeout=timeout)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory, "reliability_shot", 3)


def write_job(path, job):
    path.write_text(json.dumps(job))
    return path


def assert_coded(p, code, exit_status):
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == exit_status, err
    assert "[%s]" % code in err and "Traceback" not in err and "unexpected error" not in err


def test_deeply_nested_jobspec_run_and_validate(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text('{"samatte_job": 1, "meta": ' + "[" * 100000 + "]" * 100000 + "}")
    for cmd in ("run", "validate"):
        assert_coded(samatte(cmd, f), "JOBSPEC_INVALID", 2)


def test_deeply_nested_jobspec_dict_in_process():
    from samatte import jobspec
    from samatte.errors import JobSpecError
    d = x = []
    for _ in range(100000):
        x.append([])
        x = x[0]
    job = jobspec.new_job("/p/p.####.exr", "/o/m.####.exr")
    jobspec.add_object(job, "a", [jobspec.box_prompt(1, [0, 0, 4, 4])])
    job["meta"] = {"deep": d}
    with pytest.raises(JobSpecError):
        jobspec.validate(job)


def test_nesting_limit_does_not_depend_on_the_callers_stack():
    # whether a JobSpec is refused for its nesting is decided by a fixed limit (MAX_DEPTH), not by how
    # deep the Python stack happens to be when validate is called (a job accepted at one stack depth
    # used to be refused at another, and a caller's own deepcopy of an accepted job could overflow)
    from samatte import jobspec
    from samatte.errors import JobSpecError

    def nested(n):
        v = 0
        for _ in range(n):
            v = [v]
        return v

    def job_with(meta):
        job = jobspec.new_job("/p/p.####.exr", "/o/m.####.exr")
        jobspec.add_object(job, "a", [jobspec.box_prompt(1, [0, 0, 4, 4])])
        job["meta"] = {"deep": meta}
        return job

    ok = jobspec.validate(job_with(nested(jobspec.MAX_DEPTH - 3)))
    assert copy.deepcopy(ok) == ok

    def at_depth(k, fn):
        return fn() if k == 0 else at_depth(k - 1, fn)

    for n in (jobspec.MAX_DEPTH + 1, 500, 990):
        for stack in (0, 300):
            with pytest.raises(JobSpecError) as e:
                at_depth(stack, lambda: jobspec.validate(job_with(nested(n))))
            assert e.value.code == "JOBSPEC_INVALID"
    cyclic = []
    cyclic.append(cyclic)
    with pytest.raises(JobSpecError):
        jobspec.validate(job_with(cyclic))


def test_nesting_check_walks_a_shared_part_once():
    # an in-process JobSpec may share a list in several places of its meta: the nesting check walks
    # each container once per depth it is found at, not once per path to it (k lists each holding the
    # next one twice are 2^k paths: the check used to hang where copy.deepcopy takes no time)
    from samatte import jobspec

    class Counted(list):
        walks = 0

        def __iter__(self):
            Counted.walks += 1
            return super().__iter__()

    x = Counted([0])
    for _ in range(16):
        x = Counted([x, x])
    assert not jobspec._depth_over(x, jobspec.MAX_DEPTH)
    assert Counted.walks <= 2 * 17
    cyclic = Counted()
    cyclic.extend([cyclic, cyclic])
    assert jobspec._depth_over(cyclic, jobspec.MAX_DEPTH)
    job = jobspec.new_job("/p/p.####.exr", "/o/m.####.exr")
    jobspec.add_object(job, "a", [jobspec.box_prompt(1, [0, 0, 4, 4])])
    job["meta"] = {"shared": x}
    assert jobspec.validate(job)["meta"] == {"shared": x}


def test_jobspec_file_with_a_byte_that_is_not_utf8(tmp_path, shot):
    f = tmp_path / "latin1.json"
    text = json.dumps(demo_job(shot, tmp_path / "o.####.exr", name="caf\u00e9"), ensure_ascii=False)
    f.write_bytes(text.encode("latin-1"))
    p = samatte("run", f)
    assert_coded(p, "JOBSPEC_INVALID", 2)
    assert b"not UTF-8" in p.stderr


def test_plate_path_with_a_byte_that_is_not_utf8(tmp_path, shot):
    # from the command line (the byte arrives as a surrogate escape) and from a JobSpec ("\udcff")
    p = samatte("refine", "--plate", os.fsencode(str(tmp_path)) + b"/pl\xffte.####.exr", "--masks",
                tmp_path / "m.####.png", "--out", tmp_path / "o.####.exr", "--frames", "1001-1002")
    assert_coded(p, "JOBSPEC_INVALID", 2)
    job = demo_job(shot, tmp_path / "o.####.exr")
    job["plate"]["path"] = str(tmp_path) + "/pl\udcffte.####.exr"
    f = tmp_path / "j.json"
    f.write_text(json.dumps(job))  # json escapes the surrogate: "\udcff"
    assert_coded(samatte("run", f), "JOBSPEC_INVALID", 2)


def test_demo_out_naming_an_existing_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("mine")
    p = samatte("demo", "--out", f, "--frames", "2", "--size", "64x64", "--quiet")
    assert_coded(p, "OUTPUT_INVALID", 5)
    assert f.read_text() == "mine"


@pytest.mark.parametrize("where,value", [
    (("tracker", "options", "work_size"), "big"), (("tracker", "options", "work_size"), 0),
    (("tracker", "options", "work_size"), -1), (("matte", "options", "band"), -5),
    (("matte", "options", "band"), 0), (("matte", "options", "tau"), "nan"), (("matte", "options", "prior"), "nan"),
    (("tracker", "options", "no_such_option"), 1), (("device",), "cuda:abc"),
])
def test_bad_values_fail_before_the_first_frame(tmp_path, shot, where, value):
    out = tmp_path / "m" / "matte.####.exr"
    job = demo_job(shot, out)
    d = job
    for k in where[:-1]:
        d = d.setdefault(k, {})
    d[where[-1]] = value
    p = samatte("run", write_job(tmp_path / "j.json", job))
    assert_coded(p, "JOBSPEC_INVALID", 2)
    assert not (tmp_path / "m").exists() or not os.listdir(tmp_path / "m")


@pytest.mark.slow
@pytest.mark.parametrize("json_mode", [False, True])
def test_closed_stdout_is_not_a_job_failure(tmp_path, shot, json_mode):
    out = tmp_path / "m" / "matte.####.exr"
    f = write_job(tmp_path / "j.json", demo_job(shot, out))
    r, w = os.pipe()
    os.close(r)   # `| head -c 0`: nobody reads our stdout
    try:
        p = samatte("run", f, *(["--json"] if json_mode else []), stdout=w)
    finally:
        os.close(w)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert [n for n in sorted(os.listdir(tmp_path / "m")) if n.endswith(".exr")] == [
        "matte.1001.exr", "matte.1002.exr", "matte.1003.exr"]


@pytest.mark.slow
def test_run_json_stream_has_frames_and_fraction(tmp_path, shot):
    f = write_job(tmp_path / "j.json", demo_job(shot, tmp_path / "m" / "matte.####.exr"))
    p = samatte("run", f, "--json")
    assert p.returncode == 0, p.stderr.decode()
    msgs = [protocol.decode(x) for x in p.stdout.splitlines() if x.strip()]
    assert msgs[-1]["type"] == "result"
    assert sorted(m["frame"] for m in msgs if m["type"] == "frame" and m.get("stage") == "matte") == [1001, 1002, 1003]
    fr = [m["fraction"] for m in msgs if m["type"] == "progress"]
    assert fr == sorted(fr) and fr[-1] == 1.0
