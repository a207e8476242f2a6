"""End to end under openjd-cli: `openjd check` and `openjd run` of an exported bundle on a small demo
shot with the weights-free backends; the chunked job's frames equal one `samatte run`; a matte chunk's
process killed midway, then a re-run completes the job with byte-identical output."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from samatte import jobspec
from samatte.farm import export_openjd

OPENJD = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
pytestmark = pytest.mark.skipif(not os.path.isfile(OPENJD), reason="openjd-cli is not installed")

FRAMES = list(range(1001, 1010))


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("openjd")
    s = make_shot(str(d / "shot"), frames=len(FRAMES), size=(128, 72))
    job = jobspec.new_job(s["plate"], str(d / "out" / "sh020.####.exr"), frames="1001-1009", name="sh020",
                          quality="draft")                    # tracker/matte "auto": resolved at export
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])],
                       host_name="Bezier1")
    jobspec.save(job, str(d / "sh020.json"))
    res = export_openjd(str(d / "sh020.json"), str(d / "bundle"), chunk=3, preroll=2)
    return d, res


def _run_openjd(res, output, *, popen=False, mapped_from=None):
    params = dict(res["parameters"], Output=str(output))
    cmd = [OPENJD, "run", res["template"]]
    if mapped_from:   # the job as another machine submitted it: its folders under /studio/..., mapped here
        src, dst = mapped_from
        for k in ("Plate", "Output"):
            assert params[k].startswith(dst)
            params[k] = src + params[k][len(dst):]
        rules = {"version": "pathmapping-1.0", "path_mapping_rules": [
            {"source_path_format": "POSIX", "source_path": src, "destination_path": dst}]}
        cmd += ["--path-mapping-rules", json.dumps(rules)]
    cmd += ["-p", json.dumps(params)]
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _files(folder):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(folder, "*.exr")))}


def _descendants(pid):
    kids = {}
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(st) as f:
                parts = f.read().rsplit(")", 1)[1].split()
            kids.setdefault(int(parts[1]), []).append(int(st.split("/")[2]))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def test_openjd_check_and_run_then_kill_a_chunk_and_resume(farm):
    d, res = farm
    r = subprocess.run([OPENJD, "check", res["template"]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

    # 1. the whole job under `openjd run`: Track, three Matte chunks, QC
    r = _run_openjd(res, d / "ref")
    assert r.returncode == 0, r.stdout[-4000:]
    assert "Chunks run: 5" in r.stdout
    ref = _files(d / "ref")
    assert sorted(ref) == ["sh020.%d.exr" % f for f in FRAMES]
    rep = json.load(open(str(d / "ref" / ".samatte" / "sh020" / "sh020..exr" / "qc" / "qc.json")))
    assert rep["ok"] and rep["keys_checked"] and sorted(rep["frames"]) == [str(f) for f in FRAMES]
    assert all(isinstance(v["score"], float) for v in rep["frames"].values())
    assert os.path.getsize(rep["contact_sheet"]) > 1000

    # 2. the chunks ran in order, so each one started from its previous frame's finished matte: the
    #    same bytes as one `samatte run` of the job
    job = jobspec.load(str(d / "sh020.json"))
    job["output"]["path"] = str(d / "single" / "sh020.####.exr")
    single = str(d / "single.json")
    jobspec.save(job, single)
    r = subprocess.run([sys.executable, "-m", "samatte", "run", single], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _files(d / "single") == ref

    # 3. kill the second matte chunk's process midway (after its first frame is written)
    out = d / "killed"
    p = _run_openjd(res, out, popen=True)
    victim = None
    deadline = time.time() + 240
    try:
        while time.time() < deadline and p.poll() is None:
            if os.path.exists(str(out / "sh020.1004.exr")):
                for c in _descendants(p.pid):
                    cl = _cmdline(c)
                    if b"--stage" in cl and b"matte" in cl and b"--frames=1004-1006" in cl:
                        victim = c
                if victim:
                    os.kill(victim, signal.SIGKILL)
                    break
            time.sleep(0.01)
        p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert victim is not None, "the chunk finished before it could be killed"
    assert p.returncode != 0                                       # the session failed with the task
    assert not os.path.exists(str(out / "sh020.1006.exr"))         # killed midway: its last frame missing
    assert not os.path.exists(str(out / "sh020.1009.exr"))         # later chunks never ran
    part = _files(out)                                               # whole frames only, as in the reference
    assert {"sh020.%d.exr" % f for f in (1001, 1002, 1003, 1004)} <= set(part)
    assert all(part[n] == ref[n] for n in part)

    # 4. the re-run resumes: finished frames skipped, the chunk completed, QC passes; same bytes. It is
    #    submitted with the job folders as /studio/... and the session's path mapping puts them here.
    r = _run_openjd(res, out, mapped_from=("/studio/sh020", str(d)))
    assert r.returncode == 0, r.stdout[-4000:]
    assert "0 frame(s) written, 3 already complete" in r.stdout     # the first chunk was skipped
    assert _files(out) == ref
    leftovers = [n for n in os.listdir(str(out)) if "tmp" in n]
    assert leftovers == []
