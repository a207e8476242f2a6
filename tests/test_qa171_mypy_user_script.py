"""QA of a pipeline TD's day 7 (qa171): a TD type-checks the pipeline tool that scripts ``samatte.api``. Every
``import samatte`` was a mypy error, ``Skipping analyzing "samatte": module is installed, but missing library
stubs or py.typed marker [import-untyped]`` (so the TD's CI failed, or ignored samatte and checked none of its
calls); samatte now ships ``py.typed`` (PEP 561), so mypy reads its signatures: the calls the README shows pass,
a keyword that is not there is caught, and samatte's own unchecked internals raise nothing in the TD's run."""
import os
import subprocess
import sys

import pytest

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")

pytest.importorskip("mypy")

SCRIPT = '''
import threading
from pathlib import Path

import samatte
from samatte import api
from samatte.client import WorkerClient
from samatte.errors import SamatteError
from samatte.progress import CancelToken, Progress


def on_progress(p: Progress) -> None:
    print(p.stage, p.frame, p.done, p.total, p.fraction)


job = api.job(Path("plates/sh010.####.exr"), "mattes/sh010.####.exr", prompts={"hero": ["roto/hero.1004.png"]},
              tracker="flow", matte="refine", quality="draft")
api.save(job, Path("shots/sh010/samatte/job.json"), overwrite=True)
stop = threading.Event()
try:
    result = api.run(job, progress=on_progress, on_frame=lambda e: print(e.frame, e.score), cancel=stop,
                     frames=range(1001, 1004))
    bundle = api.export(job, "farm/sh010", chunk=3, frames="1001-1003")
    for frame, score in api.scores(job).items():
        print(frame, score)
    print(api.qc(job)["ok"], api.status(job)["frames"])
except SamatteError as e:
    print(e.code, e.message, e.details)
token = CancelToken()
token.cancel()
for p in samatte.run_iter(job, cancel=token):
    print(p)
with WorkerClient(None, cwd="/tmp", timeout=600) as worker:
    worker.run(job, on_progress=on_progress, frames="1001")
'''


def _mypy(tmp_path, text):
    script = tmp_path / "td_tool.py"
    script.write_text(text)
    env = dict(os.environ, PYTHONPATH=CORE)
    env.pop("MYPYPATH", None)
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--python-executable", sys.executable,
                           "--cache-dir", str(tmp_path / "cache"), str(script)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)


def test_a_td_s_script_using_the_api_type_checks(tmp_path):
    r = _mypy(tmp_path, SCRIPT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "import-untyped" not in r.stdout


def test_mypy_reads_samatte_s_signatures_and_catches_a_wrong_keyword(tmp_path):
    r = _mypy(tmp_path, "from samatte import api\napi.export({}, 'farm', frame='1001')\n")
    assert r.returncode == 1
    assert 'Unexpected keyword argument "frame" for "export"' in r.stdout, r.stdout
