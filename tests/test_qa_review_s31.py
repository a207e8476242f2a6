"""Review s31 of the day's change (absent, Nuke carry, openjd, hello's missing dependencies, Blender scenes):
regression tests for the defects the review fixed."""
import json
import os
import subprocess
import sys

CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core")


def test_hello_lists_a_requirement_that_is_installed_but_does_not_import(tmp_path):
    """A cv2 that is found but fails to import (a wheel for another Python, libGL missing) made the first
    frame of every Run fail while ``capabilities["missing"]`` (the worker's hello, ``samatte info``, Blender's
    Check samatte) said the install was complete: it only looked the module up."""
    broken = tmp_path / "site" / "cv2"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('libGL.so.1: cannot open shared object file')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.path.abspath(CORE)]))
    out = subprocess.run([sys.executable, "-m", "samatte", "info", "--json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["missing"] == ["cv2"]
    assert "libGL" in out.stderr


def test_hello_of_a_complete_install_lists_nothing():
    from samatte import worker
    assert worker.capabilities()["missing"] == []
