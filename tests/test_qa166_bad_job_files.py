"""QA reliability day (qa166): a job that is no JobSpec gets JOBSPEC_INVALID, at once and without a traceback.

* A JobSpec file larger than ``jobspec.MAX_FILE_BYTES`` (a movie or a plate given by mistake) was read
  whole before JSON refused it: a 3 GB file took 58 s and 6.3 GB of memory, ``/dev/zero`` ran until the
  machine ran out of memory. Now its size refuses it before a byte is read (a pipe: once it passes it).
* ``samatte farm task`` on a farm document nested past Python's stack: a RecursionError traceback, exit
  status 1. Now JOBSPEC_INVALID (exit 2), as a JobSpec file nested too deeply.
* ``samatte.api.run(None)`` (any job that is no dict, JSON text or path; bytes too): SAMATTE_ERROR,
  exit status 1. Now JOBSPEC_INVALID.
* ``samatte.api.job`` given a prompt list nested thousands deep: a RecursionError while writing the
  error message. Now PROMPT_INVALID.
"""
import json
import os
import subprocess
import sys
import threading

import pytest

from samatte import api, jobspec, pipeline
from samatte.errors import JobSpecError, PromptError

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


def _deep(n):
    v = 0
    for _ in range(n):
        v = [v]
    return v


def _good_job(tmp_path):
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "out" / "m.####.exr"), frames="1-3",
                          tracker="flow", matte="refine")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1, [2, 2, 20, 20])])
    return job


def test_a_job_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "shot.mov"
    with open(big, "wb") as f:          # sparse: 3 GB on the file system, nothing on the disk
        f.truncate(3 * 1024 ** 3)
    reads = []
    real_open = open

    class Spy:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def read(self, n=-1):
            reads.append(n)
            return self.f.read(n)

    monkeypatch.setattr("builtins.open", lambda p, *a, **k: Spy(real_open(p, *a, **k)) if str(p) == str(big)
                        else real_open(p, *a, **k))
    with pytest.raises(JobSpecError) as ei:
        jobspec.load(str(big))
    assert ei.value.code == "JOBSPEC_INVALID" and "larger than 256 MiB" in ei.value.message, ei.value.message
    assert ei.value.details["path"] == str(big)
    assert reads == []                  # refused from its size: not one byte read (before: all 3 GB)


def test_a_pipe_longer_than_the_limit_is_refused_once_it_passes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(jobspec, "MAX_FILE_BYTES", 1000)
    fifo = str(tmp_path / "job.fifo")
    os.mkfifo(fifo)

    def feed(data):
        try:
            with open(fifo, "wb") as f:
                f.write(data)
        except BrokenPipeError:
            pass

    t = threading.Thread(target=feed, args=(b" " * 5000,))   # as /dev/zero: more than the limit
    t.start()
    with pytest.raises(JobSpecError) as ei:
        jobspec.load(fifo)
    t.join(10)
    assert "larger than" in ei.value.message
    # a JobSpec under the limit still comes through a pipe (a shell's <(...))
    small = json.dumps(_good_job(tmp_path)).encode()
    monkeypatch.setattr(jobspec, "MAX_FILE_BYTES", len(small) + 10)
    t = threading.Thread(target=feed, args=(small,))
    t.start()
    job = jobspec.load(fifo)
    t.join(10)
    assert job["objects"][0]["name"] == "hero"


def test_a_job_file_at_the_limit_is_read(tmp_path, monkeypatch):
    text = json.dumps(_good_job(tmp_path))
    p = tmp_path / "job.json"
    p.write_text(text)
    monkeypatch.setattr(jobspec, "MAX_FILE_BYTES", len(text.encode()))
    assert jobspec.load(str(p))["objects"][0]["name"] == "hero"
    monkeypatch.setattr(jobspec, "MAX_FILE_BYTES", len(text.encode()) - 1)
    with pytest.raises(JobSpecError):
        jobspec.load(str(p))


def test_farm_task_on_a_deeply_nested_document_is_jobspec_invalid(tmp_path):
    doc = tmp_path / "samatte_farm_job.json"
    doc.write_text("[" * 100000 + "]" * 100000)
    env = dict(os.environ, PYTHONPATH=CORE)
    r = subprocess.run([sys.executable, "-m", "samatte", "farm", "task", str(doc), "--qc"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "[JOBSPEC_INVALID]" in r.stderr and "nested too deeply" in r.stderr


def test_farm_document_larger_than_the_limit(tmp_path, monkeypatch):
    from samatte.farm import load_farm_document
    doc = tmp_path / "samatte_farm_job.json"
    doc.write_text(json.dumps({"samatte_farm": 1, "job": {}, "pad": "x" * 2000}))
    monkeypatch.setattr(jobspec, "MAX_FILE_BYTES", 1000)
    with pytest.raises(JobSpecError) as ei:
        load_farm_document(str(doc))
    assert "larger than" in ei.value.message and "farm job" in ei.value.message


@pytest.mark.parametrize("job", [None, 123, 1.5, ["a"], b'{"samatte_job": 1}'])
def test_a_job_of_the_wrong_type_is_jobspec_invalid(job):
    for call in (lambda: pipeline.load_job(job), lambda: api.status(job), lambda: api.scores(job)):
        with pytest.raises(JobSpecError) as ei:
            call()
        assert ei.value.code == "JOBSPEC_INVALID" and ei.value.exit_code == 2, ei.value.code


@pytest.mark.parametrize("prompts", [
    {"hero": [_deep(5000)]},               # one prompt nested thousands deep
    {"hero": [(1001, _deep(5000))]},       # the path of a (frame, path) pair
    {"hero": [[_deep(5000), "/roto/h.png"]]},
])
def test_api_job_with_a_deeply_nested_prompt_is_prompt_invalid(tmp_path, prompts):
    with pytest.raises(PromptError) as ei:
        api.job(str(tmp_path / "p.####.exr"), str(tmp_path / "m.####.exr"), prompts=prompts)
    assert ei.value.code == "PROMPT_INVALID" and "nested too deeply" in ei.value.message


def test_api_job_messages_still_show_the_bad_prompt(tmp_path):
    with pytest.raises(PromptError) as ei:
        api.job(str(tmp_path / "p.####.exr"), str(tmp_path / "m.####.exr"),
                prompts={"hero": [(1004.5, "/shots/sh010/roto/a_long_folder_name/hero_roto.1004.png")]})
    assert "(1004.5, '/shots/sh010/roto/a_long_folder_name/hero_roto.1004.png')" in ei.value.message
