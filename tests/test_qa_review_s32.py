"""Second review of 0.2.18 (s32): regressions for what it found."""
import os
import subprocess
import sys

from samatte import protocol

TESTS = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join(os.path.dirname(TESTS), "core")


def test_the_worker_says_hello_before_any_log_when_a_requirement_does_not_import(tmp_path):
    """README (protocol): the worker's first line is ``hello``. With a cv2 that is installed but does not
    import (libGL missing), the hello's import check logged a warning, forwarded as a ``log`` message
    before the hello: a host that reads the first line as the hello (``check_hello``) saw a log. The log
    still comes, right after the hello; the hello lists cv2 as missing."""
    site = tmp_path / "site" / "cv2"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("raise ImportError('libGL.so.1: cannot open shared object file')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), TESTS, CORE]))
    proc = subprocess.run([sys.executable, "-m", "samatte.worker"], input=b"", capture_output=True,
                          env=env, timeout=60)
    msgs = [protocol.decode(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert proc.returncode == 0, proc.stderr.decode()
    types = [m["type"] for m in msgs]
    assert types[0] == "hello", types
    assert "cv2" in msgs[0]["capabilities"]["missing"]
    logs = [m for m in msgs if m["type"] == "log"]
    assert any("cv2" in m["message"] and "does not import" in m["message"] for m in logs), msgs
    assert types[-1] == "bye"
