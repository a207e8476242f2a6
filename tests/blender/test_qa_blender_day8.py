"""The Blender add-on's bpy-free side (through ``addon_plain``), day 8: a .blend set up on Windows opened on
Linux / macOS. A ``//`` path with Windows separators (``//plates\\plate.1001.exr``, which Blender's own readers
take with this OS's) is read with them (``convert.native_blend_path``; before, ``bpy.path.abspath`` kept the
backslashes as part of a file name); a Windows absolute path (``Z:\\...``, ``\\\\server\\share``) is named as
such (``convert.foreign_path``): a clip there is PLATE_INVALID saying so (before: 'has no image (size (0, 0))').
The bpy side: ``test_qa_blender_day8_bpy.py``."""
import os
import re

import pytest

from addon_plain import plain

convert, gather, hosterrors = plain("convert"), plain("gather"), plain("hosterrors")


def test_a_blend_relative_path_gets_this_os_separators():
    assert convert.native_blend_path("//plates\\sh010\\plate.1001.exr", "/") == "//plates/sh010/plate.1001.exr"
    assert convert.native_blend_path("//..\\mattes\\", "/") == "//../mattes/"
    assert convert.native_blend_path("//plates/plate.1001.exr", "\\") == "//plates\\plate.1001.exr"
    # an absolute path with a backslash: Blender reads it with / too on Linux / macOS (tests/blender/
    # test_qa_review_s35_bpy.py measures it); a Windows one as given
    assert convert.native_blend_path("/shows/a\\b.exr", "/") == "/shows/a/b.exr"
    assert convert.native_blend_path("Z:\\shows\\a.exr", "/") == "Z:\\shows\\a.exr"
    assert convert.native_blend_path("C:\\a\\b.exr", "\\") == "C:\\a\\b.exr"
    assert convert.native_blend_path("", "/") == ""


def test_windows_absolute_paths_are_foreign_on_linux_and_macos():
    for p in ("Z:\\shows\\sh010\\plate.1001.exr", "z:/shows/", "\\\\server\\share\\plate.1001.exr"):
        assert convert.foreign_path(p, "/"), p
        assert not convert.foreign_path(p, "\\"), p          # on Windows they are its own
    for p in ("/shows/sh010", "//plates\\plate.1001.exr", "plates/a.exr", "Z:", "", "ZZ:\\a"):
        assert not convert.foreign_path(p, "/"), p


class _Clip:
    name = "plate.1001.exr"
    source = "SEQUENCE"
    size = (0, 0)
    frame_start, frame_offset, frame_duration = 1, 0, 0
    library = None

    def __init__(self, filepath):
        self.filepath = filepath


@pytest.mark.skipif(os.sep != "/", reason="a Windows path is this machine's own on Windows")
def test_a_clip_at_a_windows_path_says_so():
    with pytest.raises(hosterrors.HostError) as e:
        gather.clip_info(_Clip("Z:\\shows\\sh010\\plate\\plate.1001.exr"))
    assert e.value.code == "PLATE_INVALID"
    # before: "clip 'plate.1001.exr' has no image (size (0, 0)): is Z:\shows\...\plate.1001.exr readable?"
    assert "reads Z:\\shows\\sh010\\plate\\plate.1001.exr, a Windows path" in e.value.message, e.value.message
    assert "Find Missing Files" in e.value.message


# --- CPU threads: the worker a workstation starts leaves cores to Blender when the artist says so ---------------

jobs = plain("jobs")


def _environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return set(f.read().split(b"\0"))


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the worker's environment from /proc")
def test_the_worker_takes_the_cpu_threads_preference():
    import sys
    # 0 (the default): samatte's own rule, nothing set (an inherited $SAMATTE_THREADS stays)
    assert "SAMATTE_THREADS" not in jobs.worker_env(jobs.Settings(python=sys.executable))
    one = jobs.Settings(python=sys.executable, threads=1)
    assert jobs.worker_env(one) == {"SAMATTE_THREADS": "1"}
    try:
        hello, lines = jobs.check_worker(one)
        assert b"SAMATTE_THREADS=1" in _environ(hello["pid"])
        assert "CPU threads: 1 (Preferences)" in lines, lines
        # before: no such preference; the worker took every CPU (Settings had no threads: a TypeError here)
        two = jobs.get_worker(jobs.Settings(python=sys.executable, threads=2))
        assert two.hello["pid"] != hello["pid"]                 # a changed count starts a new worker
        assert b"SAMATTE_THREADS=2" in _environ(two.hello["pid"])
        assert jobs.get_worker(jobs.Settings(python=sys.executable, threads=2)) is two    # kept warm
        _h, lines0 = jobs.check_worker(jobs.Settings(python=sys.executable))
        assert any(x.startswith("CPU threads: samatte's default") for x in lines0), lines0
    finally:
        jobs.release_worker()


def test_send_to_farm_leaves_the_thread_count_to_the_farm(tmp_path):
    import sys

    from samatte import jobspec
    from samatte.demo import make_shot
    shot = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(shot["plate"], str(tmp_path / "out" / "plate" / "plate_matte.####.exr"), frames="1001-1002",
                          tracker="flow", matte="refine", quality="draft", name="plate")
    job["objects"].append({"name": "hero", "prompts": [{"frame": 1001, "type": "box", "box": [10, 10, 40, 40]}]})
    res = jobs.export_farm(job, jobs.Settings(python=sys.executable, threads=1), chunk=1)
    text = "".join(open(os.path.join(res["bundle"], n)).read() for n in sorted(os.listdir(res["bundle"])))
    # the workstation's preference is not the farm node's: the bundle names no thread count (the farm sets
    # SAMATTE_THREADS or pins its tasks: README, A farm node's resources); its Threads job parameter (every
    # task's --threads, since farm day 5) stays 0, the render node's own choice
    assert "SAMATTE_THREADS=" not in text and "OMP_NUM_THREADS=" not in text and "SAMATTE_THREADS\": " not in text
    assert res["parameters"]["Threads"] == 0
    assert set(re.findall(r"--threads=(\S+?)['\",\s]", text)) == {"{{Param.Threads}}"}


# --- samatte's newer error codes as the panel shows them (through the worker protocol) ---------------------------

_FAILING_PIPELINE = '''
import errno
from samatte import models


def run_iter(job, *, cancel=None, **kw):
    what = job["name"]
    if what == "ram":
        raise MemoryError("Unable to allocate 1.00 GiB for an array with shape (16384, 16384) and data type float32")
    if what == "unreadable":
        raise models._unreadable("/studio/models/sam2.1_hiera_tiny.pt", PermissionError(errno.EACCES,
                                 "Permission denied"))
    yield
'''


def _failed_run(tmp_path, name):
    """A JobRun of a job named ``name`` in a real worker whose pipeline fails as that name says."""
    import sys

    from samatte import client, jobspec
    (tmp_path / "failing_pipeline.py").write_text(_FAILING_PIPELINE)
    settings = jobs.Settings(python=sys.executable, threads=1)
    env = dict(jobs._process_env(settings), PYTHONPATH=os.pathsep.join(
        [str(tmp_path)] + [p for p in sys.path if p.endswith("core")]))
    w = client.WorkerClient(sys.executable, env=env, worker_args=["--pipeline", "failing_pipeline"], timeout=60)
    jobs.release_worker()
    jobs._WORKERS[(os.path.abspath(sys.executable), "", 1)] = w       # the worker get_worker(settings) gives
    assert jobs.get_worker(settings) is w
    job = jobspec.new_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "o" / "o.####.exr"), frames="1001-1002",
                          name=name)
    job["objects"].append({"name": "hero", "prompts": [{"frame": 1001, "type": "box", "box": [1, 1, 9, 9]}]})
    try:
        return jobs.JobRun(job, settings, scene_frame=lambda n: n - 1000).start().wait(timeout=60)
    finally:
        jobs.release_worker()


def test_out_of_memory_reaches_the_panel_with_what_to_do_in_blender(tmp_path):
    run = _failed_run(tmp_path, "ram")
    assert run.done and run.error_code == "OUT_OF_MEMORY", run.error
    assert run.error.startswith("[OUT_OF_MEMORY] out of memory (MemoryError: Unable to allocate"), run.error
    # before: only the farm's advice (more memory for the task, fewer tasks on the node, tracker option ram_mb,
    # which the panel does not have)
    assert "; in Blender: Release samatte (ends the worker, freeing its memory)" in run.error, run.error
    assert "Run again: finished frames are kept" in run.error, run.error
    gpu = jobs.host_hint(type("E", (), {"code": "OUT_OF_MEMORY", "message": "the GPU ran out of memory (...)"})())
    assert "pick Device CPU in the add-on's preferences" in gpu


def test_unreadable_weights_name_the_models_folder_preference(tmp_path):
    run = _failed_run(tmp_path, "unreadable")
    assert run.error_code == "MODEL_ERROR", run.error
    assert "cannot read the weights /studio/models/sam2.1_hiera_tiny.pt" in run.error, run.error
    # before: 'set SAMATTE_MODELS', which in Blender is the Models folder preference
    assert run.error.endswith("copy; in Blender: the Models folder of the add-on's preferences sets SAMATTE_MODELS"), \
        run.error
    assert jobs.host_hint(type("E", (), {"code": "MODEL_ERROR", "details": {"reason": "corrupt"}})()) == ""
