"""Check samatte (Blender's preferences button) on a samatte Python that lacks one of samatte's own
requirements. The worker starts without them (it imports numpy, OpenImageIO, ... per job), so before this
check the button said the worker was healthy and the artist learned otherwise from Run's first frame
(DEPENDENCY_MISSING). The worker's ``hello`` now lists what its Python cannot find (``capabilities
["missing"]``), ``samatte info`` says so, and Check samatte fails with the package's name."""
import json
import os
import subprocess
import sys

import pytest

from addon_plain import plain

jobs = plain("jobs")
hosterrors = plain("hosterrors")


def _python_without(tmp_path, module):
    """A wrapper 'python' (as a broken venv would be) whose interpreter cannot find ``module``."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules[%r] = None\n" % module)
    py = tmp_path / "python"
    py.write_text('#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s" "$@"\n' % (hide, sys.executable))
    py.chmod(0o755)
    return str(py)


def test_worker_capabilities_name_what_its_python_lacks(monkeypatch):
    from samatte import worker
    assert worker.capabilities()["missing"] == []         # this venv is complete
    real = worker._has_module
    monkeypatch.setattr(worker, "_has_module", lambda name: name not in ("numpy", "cv2") and real(name))
    assert worker.capabilities()["missing"] == ["numpy", "cv2"]


def test_check_samatte_says_the_install_is_incomplete(tmp_path):
    py = _python_without(tmp_path, "numpy")
    try:
        with pytest.raises(hosterrors.HostError) as e:
            jobs.check_worker(jobs.Settings(python=py))
        assert e.value.code == "DEPENDENCY_MISSING"
        assert "numpy" in e.value.message and py in e.value.message
        # a complete Python still passes, its lines as before
        _hello, lines = jobs.check_worker(jobs.Settings(python=sys.executable))
        assert lines[0].startswith("samatte ")
    finally:
        jobs.release_worker()


def test_samatte_info_lists_the_missing_package(tmp_path):
    py = _python_without(tmp_path, "scipy")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p.endswith("core")))
    out = subprocess.run([py, "-m", "samatte", "info", "--json"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["missing"] == ["scipy"]
    txt = subprocess.run([py, "-m", "samatte", "info"], capture_output=True, text=True, env=env, timeout=120)
    assert "missing:  scipy" in txt.stdout
