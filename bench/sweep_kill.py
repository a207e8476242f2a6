"""Crash-consistency sweep: SIGKILL samatte commands at random moments, re-run, compare with an unbroken run.

    . .venv/bin/activate && python bench/sweep_kill.py --kills 20 --commands run,refine,track,qc,farm

Makes a small demo shot (``samatte.demo.make_shot``, 8 frames of 96x64 half EXR) in a temp folder. For
each command it first times one unbroken run (the reference outputs), then for each of ``--kills`` trials
starts the command in a fresh folder, kills it (SIGKILL) after a random time in [0.3 s, the unbroken run's
time], up to three times in a row, and checks after each kill:

* no file under an output name differs from the reference's (a hidden ``.name.<host>.<pid>.tmp.exr`` is
  allowed: the next run removes it);
* for ``run``: ``samatte status`` calls no frame complete whose bytes differ from the reference's.

Then it runs the command to its end and compares every file (outputs, track cache, manifest, QC report,
farm bundle) with the reference, byte for byte. Prints one line per trial and the count of bad ones (0
expected). The suite keeps a few fixed kill points (tests/test_qa_chaos.py, tests/test_resume.py); this is
the wide random sweep (qa166: 64 kills of run / refine / track, 20 of qc and farm export: all good).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core")
ENV = dict(os.environ, PYTHONPATH=os.path.abspath(CORE))


def samatte(*args):
    return [sys.executable, "-m", "samatte", *args]


def files(folder, skip=("job.json",)):
    out = {}
    for dp, _, fn in os.walk(folder):
        for f in fn:
            p = os.path.join(dp, f)
            r = os.path.relpath(p, folder)
            if r not in skip:
                with open(p, "rb") as fh:
                    out[r] = hashlib.sha256(fh.read()).hexdigest()
    return out


def write_job(shot, folder):
    sys.path.insert(0, os.path.abspath(CORE))
    from samatte import jobspec
    job = jobspec.new_job(shot["plate"], os.path.join(folder, "m.####.exr"), frames="1001-1008", tracker="flow",
                          matte="refine", quality="draft", name="sweep")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    jobspec.add_object(job, "corner", [jobspec.box_prompt(1001, [2, 2, 24, 20])])
    job["work_dir"] = os.path.join(folder, "work")
    path = os.path.join(folder, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def command(kind, shot, folder, ref_job):
    plate, gt = shot["plate"], shot["plate"].replace("/plate/plate.", "/gt/alpha.")
    if kind == "run":
        return samatte("run", write_job(shot, folder) if not os.path.exists(os.path.join(folder, "job.json"))
                       else os.path.join(folder, "job.json"))
    if kind == "refine":
        return samatte("refine", "--plate", plate, "--out", os.path.join(folder, "r.####.exr"), "--masks", gt,
                       "--quality", "draft", "--name", "rf")
    if kind == "track":
        return samatte("track", "--plate", plate, "--out", os.path.join(folder, "t.####.exr"), "--mask-prompt",
                       "1005=" + gt.replace("####", "1005"), "--tracker", "flow", "--name", "tr")
    if kind == "qc":
        return samatte("qc", ref_job, "--report", os.path.join(folder, "qc"))
    if kind == "farm":
        return samatte("farm", "export", ref_job, "--openjd", os.path.join(folder, "bundle"), "--chunk", "2")
    raise SystemExit("unknown command %r" % kind)


def normalise(kind, got, folder):
    """qc.json names its own folder: compare it without that path."""
    if kind == "qc" and "qc/qc.json" in got:
        with open(os.path.join(folder, "qc", "qc.json")) as f:
            doc = json.load(f)
        doc.pop("contact_sheet", None)
        got["qc/qc.json"] = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10, help="trials per command")
    ap.add_argument("--commands", default="run,refine,track,qc,farm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    a = ap.parse_args()
    sys.path.insert(0, os.path.abspath(CORE))
    from samatte.demo import make_shot
    root = tempfile.mkdtemp(prefix="samatte_sweep_")
    shot = make_shot(os.path.join(root, "shot"), frames=8, size=(96, 64), seed=3)
    # the job qc and farm export read: a finished run's
    done = os.path.join(root, "done")
    os.makedirs(done)
    subprocess.run(samatte("run", write_job(shot, done)), env=ENV, check=True, capture_output=True)
    ref_job = os.path.join(done, "job.json")
    rng = random.Random(a.seed)
    bad_total = 0
    for kind in a.commands.split(","):
        ref = os.path.join(root, "ref_" + kind)
        os.makedirs(ref)
        t0 = time.time()
        subprocess.run(command(kind, shot, ref, ref_job), env=ENV, check=True, capture_output=True)
        took = time.time() - t0
        base = normalise(kind, files(ref), ref)
        print("%s: unbroken run %.2f s, %d files" % (kind, took, len(base)))
        bad = 0
        for i in range(a.kills):
            d = os.path.join(root, "%s_%d" % (kind, i))
            os.makedirs(d)
            kills, problems = [], []
            for _ in range(rng.randint(1, 3)):
                t = rng.uniform(0.3, took)
                p = subprocess.Popen(command(kind, shot, d, ref_job), env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                try:
                    p.wait(timeout=t)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                kills.append((round(t, 2), p.returncode))
                now = files(d)
                for k, v in now.items():
                    if not os.path.basename(k).startswith(".") and k in base and base[k] != v \
                            and k.endswith(".exr"):
                        problems.append("half-written %s visible" % k)
                if kind == "run":
                    st = subprocess.run(samatte("status", "--json", os.path.join(d, "job.json")), env=ENV,
                                        capture_output=True, text=True)
                    for f, s in json.loads(st.stdout or "{}").get("frames", {}).items():
                        name = "m.%s.exr" % f
                        if s == "complete" and now.get(name) != base.get(name):
                            problems.append("status calls %s complete" % f)
                if p.returncode == 0:
                    break
            r = subprocess.run(command(kind, shot, d, ref_job), env=ENV, capture_output=True, text=True)
            got = normalise(kind, files(d), d)
            diff = sorted(k for k in set(base) | set(got) if base.get(k) != got.get(k))
            if r.returncode != 0 or diff or problems:
                bad += 1
            print("  %s %2d kills %s -> rerun %d %s%s" % (kind, i, kills, r.returncode,
                                                        "OK" if not (diff or problems) else "BAD",
                                                        "" if not (diff or problems) else " %s %s" % (diff, problems)))
        print("%s: %d of %d bad" % (kind, bad, a.kills))
        bad_total += bad
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    print("bad trials: %d" % bad_total)
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
