"""QA review of the host progress/cancel pass (d6d9779..6805896) and the QC day (1de3d01..1280736).

* The client's stderr reader keeps each line's first 2000 and last 500 bytes; a line of 2001-2499 bytes lost
  its end (up to 499 bytes, where a crash's own words are) with nothing said: nothing was "left out" so the
  kept end was never printed. Such a line is now kept whole.
* A frame that lost an object's layer after samatte wrote it (a tool rewrote it, key kept) is stale for status,
  QC and a re-run since 1de3d01, but Nuke's read-back of the node's cached frames (``farm.frame_state``) still
  said complete and showed it, that layer black in comp. It now applies the same rule
  (``samatte.names.missing_object_layers``, the channel list read by ``samatte.exrheader.channel_names``).
* The cancel grace ends a worker stuck in a system call, but such a process outlives SIGKILL until the call
  returns: the client still said ``alive()``, and Nuke's pool / Blender's get_worker gave the next job to it,
  where it waited for good. A client that ended its worker is no longer alive.
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


# --- Nuke's read-back and samatte's status on a frame that lost an object layer ---------------------------
def _two_object_job(root, *, object_layers=True):
    from samatte import jobspec
    from samatte.demo import make_shot
    from samatte.pipeline import run
    s = make_shot(str(root / "plates"), frames=3, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(root / "out" / "sh.####.exr"), name="sh", tracker="shapes",
                          matte="refine", quality="draft", object_layers=object_layers)
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    jobspec.add_object(job, "box", [jobspec.polygon_prompt(s["prompt_frame"], [[2, 2], [20, 2], [20, 14], [2, 14]])])
    run(job)
    return job


def _drop_channel(path, name):
    """Rewrite ``path`` as another tool would: the same header (samatte's key kept), channel ``name`` gone."""
    import numpy as np
    oiio = pytest.importorskip("OpenImageIO")
    inp = oiio.ImageInput.open(path)
    spec = oiio.ImageSpec(inp.spec())
    px = np.array(inp.read_image(0, 0, 0, spec.nchannels, "float"))
    inp.close()
    names = list(spec.channelnames)
    k = names.index(name)
    px = np.delete(px, k, axis=2)
    del names[k]
    spec.nchannels = len(names)
    spec.channelnames = tuple(names)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.ascontiguousarray(px, np.float32))
    out.close()


def _nuke_farm():
    sys.path.insert(0, os.path.join(os.path.dirname(TESTS), "nuke_plugin"))
    from samatte_nuke import farm
    return farm


def test_nuke_read_back_agrees_with_status_on_a_frame_that_lost_an_object_layer(tmp_path):
    """1de3d01 made such a frame stale for status, QC and a re-run; Nuke's farm-safe read-back (frame_state, the
    SAMatte node's cached frames) still said complete and showed the frame, its box layer black in comp."""
    import json
    from samatte.pipeline import frame_status
    farm = _nuke_farm()
    job = _two_object_job(tmp_path)
    text = json.dumps(job, sort_keys=True)
    assert [farm.frame_state(text, f, fresh=True)[0] for f in (1001, 1002, 1003)] == ["complete"] * 3
    _drop_channel(job["output"]["path"].replace("####", "1002"), "box.A")
    assert frame_status(job)["frames"]["1002"] == "stale"
    assert [farm.frame_state(text, f, fresh=True)[0] for f in (1001, 1002, 1003)] == \
        ["complete", "stale", "complete"]


def test_nuke_read_back_of_a_job_without_object_layers_is_complete(tmp_path):
    import json
    from samatte.pipeline import frame_status
    farm = _nuke_farm()
    job = _two_object_job(tmp_path, object_layers=False)
    text = json.dumps(job, sort_keys=True)
    assert set(frame_status(job)["frames"].values()) == {"complete"}
    assert [farm.frame_state(text, f, fresh=True)[0] for f in (1001, 1002, 1003)] == ["complete"] * 3


def test_exr_channel_names_read_with_the_standard_library(tmp_path):
    from samatte.exrheader import channel_names
    oiio = pytest.importorskip("OpenImageIO")
    job = _two_object_job(tmp_path)
    p = job["output"]["path"].replace("####", "1001")
    inp = oiio.ImageInput.open(p)
    want = sorted(inp.spec().channelnames)
    inp.close()
    assert sorted(channel_names(p)) == want and "hero.A" in want and "box.A" in want


# --- a worker ended by the cancel grace that outlives its kill -------------------------------------------
def test_a_worker_ended_after_the_cancel_grace_is_never_given_another_job(monkeypatch):
    """The cancel grace is for a worker stuck in a library call: a hung network file system or GPU driver, where
    the process sits in the kernel and outlives SIGKILL until that call returns. The job ended CANCELLED
    ("the next job starts a new worker"), but the client still said alive(): Nuke's pool and Blender's
    get_worker kept it, the next Track & Matte / Run (or a node queued behind the cancelled one) was sent to
    it and waited forever (Nuke has no timeout). A client that ended its worker is no longer alive; the
    hosts start a new worker."""
    import signal
    import time
    sys.path.insert(0, os.path.join(os.path.dirname(TESTS), "nuke_plugin"))
    from samatte.errors import WorkerError
    from samatte_nuke import runner as srunner
    env = {"PYTHONPATH": TESTS + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def factory(python=None):
        return WorkerClient(sys.executable, env=env, worker_args=["--pipeline", "cli_fake_pipeline"],
                            startup_timeout=60)
    pool = srunner.WorkerPool(factory=factory)
    w = pool.get("py")
    job = {"samatte_job": 1, "name": "fake", "plate": {"path": "/plates/p.####.exr", "frames": "1001-1004"},
           "objects": [{"name": "hero", "masks": "/roto/hero.####.png"}], "output": {"path": "/out/m.####.exr"},
           "meta": {"fake": {"frames": 4, "hang": 60}}}
    kills = []
    # the stuck process does not go at SIGKILL (it does once its system call returns: here, at the test's end)
    monkeypatch.setattr(w._proc, "kill", lambda: kills.append(time.monotonic()))
    try:
        h = w.start_job(job)
        h.cancel_grace = 0.3
        time.sleep(0.2)
        h.cancel()
        t0 = time.monotonic()
        while not h.done:
            h.poll()
            time.sleep(0.05)
            assert time.monotonic() - t0 < 20
        assert h.error.code == "CANCELLED" and h.error.details["worker_ended"] and kills
        assert w._proc.poll() is None            # (the process is still there)
        assert not w.alive()
        with pytest.raises(WorkerError) as e:     # never sent to it, never BUSY
            w.start_job(dict(job, meta={"fake": {"frames": 1}}))
        assert e.value.code == "WORKER_FAILED" and "ended" in e.value.message
        w2 = pool.get("py")
        assert w2 is not w and w2.alive()
        assert w2.run(dict(job, meta={"fake": {"frames": 2}})) is not None
    finally:
        try:
            os.kill(w.pid, signal.SIGKILL)
        except OSError:
            pass
        pool.close_all()
        w.close()
