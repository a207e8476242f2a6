"""Review s42 of the day's merges, Blender side (bpy-free: the add-on's modules loaded without bpy).

* jobs.host_hint (2260aa7): the WEIGHTS_MISSING hint gives the download command with the samatte Python, unquoted:
  a Python under a folder with a space (``/Volumes/Studio Tools/...``, ``C:\\Users\\Jane Doe\\...``) made a command
  that, pasted in a terminal, ran the first word of it. Quoted now where it needs it.
"""
import os
import shlex
import sys
import types

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from addon_plain import plain  # noqa: E402


def _missing():
    return types.SimpleNamespace(code="WEIGHTS_MISSING", message="SAM2 weights sam2.1_hiera_tiny.pt not found (...)",
                                 details={"model": "sam2.1_hiera_tiny", "file": "sam2.1_hiera_tiny.pt",
                                          "command": "python -m samatte.models download sam2.1_hiera_tiny"})


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell quoting")
def test_the_download_command_of_a_python_under_a_folder_with_a_space_runs_as_pasted():
    jobs = plain("jobs")
    python = "/Volumes/Studio Tools/samatte/.venv/bin/python"
    hint = jobs.host_hint(_missing(), python)
    command = hint.split("download them with ", 1)[1].split(" in a terminal", 1)[0]
    # before: ['/Volumes/Studio', 'Tools/samatte/.venv/bin/python', '-m', ...]
    assert shlex.split(command) == [python, "-m", "samatte.models", "download", "sam2.1_hiera_tiny"], command
    # a plain path stays as it was
    assert "/opt/samatte/.venv/bin/python -m samatte.models" in jobs.host_hint(_missing(), "/opt/samatte/.venv/bin/python")
