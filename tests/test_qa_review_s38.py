"""Review of the batch 03d3a41..30eea27 (session 38).

- The worker's update check (``worker.package_stamp``: path, mtime, size of samatte's ``.py`` files) took a
  touch for an update: a TD's ``git checkout`` back to the same commit, ``git stash && git stash pop``, an
  editor saving an unchanged file, a share re-copied without its times or ``pip install`` of the same version
  rewriting the files gave the artist's next job ``[WORKER_FAILED] samatte was updated while this worker
  ran`` (the job not run, the worker gone: model reload) although the code on disk was byte for byte what
  the worker runs. Now a changed stamp is checked against a digest of the files' bytes taken at start
  (``worker.package_digest``, ~3 ms for samatte's 54 files, 1.1 MB); only changed bytes stop the worker.
"""
import os
import shutil
import sys
import time


def _copy_package(tmp_path):
    import samatte   # the samatte under test (PYTHONPATH), copied to a share the worker runs from
    core = tmp_path / "share" / "core"
    shutil.copytree(os.path.dirname(os.path.abspath(samatte.__file__)), str(core / "samatte"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return core, core / "samatte"


def _tiny_job(tmp_path):
    return {"samatte_job": 1, "name": "sh010", "plate": {"path": str(tmp_path / "plate.####.exr"),
                                                        "frames": "1001-1002"},
            "objects": [{"name": "hero", "prompts": [{"frame": 1001, "type": "box", "box": [1, 1, 5, 5]}]}],
            "output": {"path": str(tmp_path / "out" / "matte.####.exr")}}


def _touch_all(pkg):
    later = time.time() + 120
    for folder, _dirs, files in os.walk(str(pkg)):
        for name in files:
            if name.endswith(".py"):
                os.utime(os.path.join(folder, name), (later, later))


def test_package_digest_tells_bytes_from_times(tmp_path):
    from samatte.worker import package_digest, package_stamp
    _core, pkg = _copy_package(tmp_path)
    stamp, digest = package_stamp(str(pkg)), package_digest(str(pkg))
    _touch_all(pkg)
    reg = pkg / "registry.py"
    reg.write_bytes(reg.read_bytes())                     # rewritten, same bytes (a checkout back, a re-copy)
    assert package_stamp(str(pkg)) != stamp               # the times moved ...
    assert package_digest(str(pkg)) == digest             # ... the code did not
    with open(str(reg), "a") as f:
        f.write("\n# one more line\n")
    assert package_digest(str(pkg)) != digest
    (pkg / "registry.py").rename(pkg / "registry2.py")      # a module renamed, same bytes: another package
    assert package_digest(str(pkg)) != digest


def test_a_worker_keeps_serving_when_its_files_are_only_touched(tmp_path):
    from samatte.client import WorkerClient
    from samatte.errors import WorkerError
    core, pkg = _copy_package(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(core), PYTHONDONTWRITEBYTECODE="1")
    w = WorkerClient(sys.executable, env=env, timeout=60)
    try:
        job = _tiny_job(tmp_path)
        assert w.validate(job)["valid"] is True
        # a TD's `git stash && git stash pop` / `git checkout` back / an unchanged re-copy of the share
        _touch_all(pkg)
        for name in ("__init__.py", "registry.py", "jobspec.py"):
            p = pkg / name
            p.write_bytes(p.read_bytes())
        # before: "[WORKER_FAILED] samatte was updated while this worker ran ... installed now: samatte 0.2.19,
        # this worker: 0.2.19" and the worker exited
        assert w.validate(job)["valid"] is True
        assert w.validate(job)["valid"] is True
        assert w.alive()
        # a real change is still caught, after the touch as before it
        with open(str(pkg / "registry.py"), "a") as f:
            f.write("\n\ndef added_by_the_new_version():\n    return 1\n")
        try:
            w.validate(job)
        except WorkerError as e:
            assert e.details.get("reason") == "updated"
        else:
            raise AssertionError("a changed module was not reported")
    finally:
        w.kill()


# --- the numba cache fallback where os.getuid does not exist (Windows) ---------------------------------------

def _windows_like(monkeypatch, tmp_path):
    """os as Windows has it: no getuid, and lstat reporting every folder 0o777 with no owner (st_uid 0)."""
    import stat
    import tempfile
    monkeypatch.delattr(os, "getuid", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("USERNAME", "comp artist")
    monkeypatch.setenv("LOGNAME", "comp artist")
    real_lstat = os.lstat

    def lstat(path, *a, **k):
        st = real_lstat(path, *a, **k)
        if stat.S_ISDIR(st.st_mode):
            fields = list(st)
            fields[0], fields[4] = stat.S_IFDIR | 0o777, 0
            return os.stat_result(fields)
        return st
    monkeypatch.setattr(os, "lstat", lstat)


def test_the_numba_cache_folder_is_reused_where_there_is_no_getuid(monkeypatch, tmp_path):
    from samatte.matte.numbacache import private_cache_dir
    _windows_like(monkeypatch, tmp_path)
    first = private_cache_dir()
    # before: every call (every worker's pymatting import) refused its own folder for the 0o777 that Windows
    # reports for every folder and made a new one: pymatting compiled again at each worker start (73 s here
    # vs 2.3 s from the cache), a samatte-numba-XXXX folder left in %TEMP% each time
    assert private_cache_dir() == first
    assert os.path.basename(first) == "samatte-numba-comp_artist"
    assert os.listdir(str(tmp_path)) == ["samatte-numba-comp_artist"]


def test_a_file_in_place_of_the_numba_cache_folder_is_still_refused_without_getuid(monkeypatch, tmp_path):
    from samatte.matte.numbacache import private_cache_dir
    _windows_like(monkeypatch, tmp_path)
    (tmp_path / "samatte-numba-comp_artist").write_text("not a folder")
    got = private_cache_dir()
    assert os.path.isdir(got) and os.path.basename(got) != "samatte-numba-comp_artist"
