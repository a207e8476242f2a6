"""QA review of the host progress/cancel pass (d6d9779..6805896) and the QC day (1de3d01..1280736).

* The client's stderr reader keeps each line's first 2000 and last 500 bytes; a line of 2001-2499 bytes lost
  its end (up to 499 bytes, where a crash's own words are) with nothing said: nothing was "left out" so the
  kept end was never printed. Such a line is now kept whole.
"""
import collections
import io
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))

from samatte.client import WorkerClient, _read_stderr  # noqa: E402


def _stderr_lines(data):
    tail = collections.deque()
    _read_stderr(tail, io.BytesIO(data))
    return list(tail)


@pytest.mark.parametrize("size", [1999, 2000, 2001, 2100, 2300, 2499, 2500])
def test_a_stderr_line_up_to_head_plus_end_is_kept_whole(size):
    line = b"x" * (size - len(b" CUDA error: out of memory")) + b" CUDA error: out of memory"
    got = _stderr_lines(line + b"\n" + b"next line\n")
    assert got[0] == line.decode() and got[1] == "next line", (len(got[0]), got[0][-40:])


def test_a_longer_stderr_line_keeps_its_start_and_end_and_says_what_was_left_out():
    line = b"start " + b"x" * 10000 + b" the end"
    got = _stderr_lines(line + b"\n")
    assert got[0].startswith("start ") and got[0].endswith(" the end")
    assert "[%d bytes of this line left out]" % (len(line) - 2500) in got[0]


def test_a_worker_crash_after_a_2300_byte_stderr_line_keeps_its_end(tmp_path):
    """Through the real client and worker: the line's end is in the WORKER_FAILED message's stderr tail."""
    from samatte.errors import WorkerError
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}
    w = WorkerClient(sys.executable, env=env, worker_args=["--pipeline", "cli_fake_pipeline"], startup_timeout=60)
    try:
        job = {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1004"},
               "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}], "output": {"path": "/out/m.####.exr"},
               "meta": {"fake": {"frames": 4, "crash_at": 1, "stderr_junk": 2300}}}
        with pytest.raises(WorkerError) as e:
            w.run(job)
    finally:
        w.close()
    tail = e.value.details["stderr_tail"].splitlines()
    junk = [t for t in tail if t.startswith("junk ")]
    assert junk == ["junk " + "x" * 2300], [len(t) for t in junk]
    assert "simulated crash in frame 1002" in e.value.message
