"""What Nuke and Blender do, on Python 3.9 with the standard library only: drive a real worker (the
venv's interpreter, the real pipeline) through samatte.client: hello, probe, validate, status, a job
with frame events and progress fractions, BUSY, release. Skipped where no Python 3.9 is installed."""
import json
import os
import subprocess
import sys

import pytest

from demo_shots import demo_job, make_demo_shot

PY39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")

HOST = r'''
import json, sys
from samatte.client import WorkerClient
from samatte.errors import BusyError
from samatte import jobspec, names
assert sys.version_info[:2] == (3, 9)
job = json.loads(sys.argv[2])
job["objects"][0]["name"] = names.safe_name("Ball.001 (roto)")
jobspec.validate(job)
out = {}
with WorkerClient(sys.argv[1], timeout=300) as w:
    out["hello"] = [w.hello["protocol"], w.hello["protocol_min"], sorted(w.hello["requests"])]
    out["probe"] = w.probe(job["plate"]["path"])["display_window"]
    out["valid"] = w.validate(job)["valid"]
    out["invalid"] = w.validate(dict(job, device="cuda:abc"))["error"]["code"]
    out["status_before"] = sorted(set(w.status(job)["frames"].values()))
    h = w.start_job(job)
    try:
        w.release()
        out["busy"] = None
    except BusyError as e:
        out["busy"] = e.code
    events = []
    for ev in h.events():
        events.append(ev)
    out["result"] = h.result["status"] if h.result else repr(h.error)
    out["frames"] = sorted(e["frame"] for e in events if e["type"] == "frame" and e.get("stage") == "matte")
    out["fraction"] = [e.get("fraction") for e in events if e["type"] == "progress"][-1]
    out["status_after"] = sorted(set(w.status(job)["frames"].values()))
    out["released"] = isinstance(w.release(), list)
out["numpy"] = "numpy" in sys.modules
print("RESULT " + json.dumps(out))
'''


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(PY39), reason="no Python 3.9 at " + PY39)
def test_python39_host_drives_a_real_worker(tmp_path_factory, tmp_path):
    shot = make_demo_shot(tmp_path_factory, "py39_shot", 4)
    job = demo_job(shot, tmp_path / "m" / "matte.####.exr", name="py39")
    import samatte
    core = os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))
    script = tmp_path / "host.py"
    script.write_text(HOST)
    p = subprocess.run([PY39, "-I", "-c", "import sys; sys.path.insert(0, %r); sys.argv = sys.argv[1:]; "
                        "exec(open(sys.argv[0]).read())" % core, str(script), sys.executable, json.dumps(job)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout.split("RESULT ", 1)[1])
    assert out["hello"][:2] == [1, 1] and {"probe", "validate", "status", "release"} <= set(out["hello"][2])
    assert out["probe"] == [0, 0, 128, 72]
    assert out["valid"] is True and out["invalid"] == "JOBSPEC_INVALID"
    assert out["status_before"] == ["missing"] and out["status_after"] == ["complete"]
    assert out["busy"] == "BUSY"
    assert out["result"] == "done" and out["frames"] == [1001, 1002, 1003, 1004] and out["fraction"] == 1.0
    assert out["released"] is True and out["numpy"] is False
