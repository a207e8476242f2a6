"""QA: the installer's PYTHON check and the demo's argument check (both run before anything is done)."""
import json
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL_SH = os.path.join(REPO, "install", "install.sh")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is needed")
@pytest.mark.parametrize("kind", ["missing", "fails", "too old"])
def test_install_sh_refuses_a_PYTHON_that_is_not_3_9(tmp_path, kind):
    """PYTHON=<python2 / 3.8 / a typo> used to reach install.py (a SyntaxError traceback, exit 1) or exec
    (exit 127); now it is refused like 'no Python found' (exit 7), with the path in the message."""
    py = tmp_path / "python3"
    if kind != "missing":
        # 'fails': any interpreter that cannot run the check (python2's print, a broken binary);
        # 'too old': one that answers the version check with 'no'.
        py.write_text("#!/bin/sh\n%s\n" % ("echo 'SyntaxError' >&2; exit 1" if kind == "fails" else "exit 1"))
        py.chmod(0o755)
    env = dict(os.environ, PYTHON=str(py))
    p = subprocess.run(["bash", INSTALL_SH, "--no-sam2", "--no-weights", "--venv", str(tmp_path / "venv")],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "PYTHON=%s" % py in p.stderr and "3.9" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.parametrize("kw", [{"frames": 1}, {"size": (32, 32)}])
def test_rejected_demo_run_keeps_the_previous_demo(tmp_path, kw):
    """`samatte demo --frames 1` (or a too small --size) in a folder holding an earlier demo used to delete
    that demo's plate and matte frames before refusing the arguments."""
    pytest.importorskip("numpy")
    from samatte.demo import run_demo
    from samatte.errors import JobSpecError
    out = tmp_path / "demo dir"
    for sub, name in (("plate", "plate.1001.exr"), ("gt", "alpha.1001.exr"), ("matte", "matte.1001.exr")):
        (out / sub).mkdir(parents=True)
        (out / sub / name).write_bytes(b"earlier demo")
    (out / "demo_params.json").write_text(json.dumps({"params": {"frames": 24}, "shot": {}}))
    args = dict({"frames": 8, "size": (96, 64)}, **kw)
    with pytest.raises(JobSpecError):
        run_demo(str(out), quiet=True, **args)
    for sub, name in (("plate", "plate.1001.exr"), ("gt", "alpha.1001.exr"), ("matte", "matte.1001.exr")):
        assert (out / sub / name).read_bytes() == b"earlier demo"
