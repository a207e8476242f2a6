"""Helpers of tests/test_qa_farm_equivalence.py: tiny plates, a job, the exported bundle's tasks
expanded as OpenJD expands them, each run with the template's own command line (in this process,
``samatte farm task ...`` through ``samatte.cli.main``), and a file-by-file comparison."""
import os
import re

import numpy as np

from samatte import jobspec
from samatte.io import exr

W, H = 32, 24


def plate_image(i):
    rng = np.random.default_rng(7)
    img = rng.uniform(0.05, 0.3, (H, W + 30, 3)).astype(np.float32)[:, i:i + W]
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    ball = np.clip(5.5 - np.hypot(xx - 8 - 1.5 * i, yy - 12), 0, 1)[..., None]
    img = img * (1 - ball) + ball * np.array([0.9, 0.2, 0.1], np.float32)
    sq = np.zeros((H, W, 1), np.float32)
    lo = max(0, 20 - i)
    sq[4:10, lo:lo + 6] = 1
    img = img * (1 - sq) + sq * np.array([0.1, 0.3, 0.9], np.float32)
    tri = np.clip(4.0 - np.hypot(xx - 24 + 0.5 * i, yy - 18), 0, 1)[..., None]
    return img * (1 - tri) + tri * np.array([0.2, 0.8, 0.2], np.float32)


def job_frames(n, step=1):
    return [1001 + step * i for i in range(n)]


def write_plates(folder, n, step=1):
    """Plate frames 1001, 1001 + step, ... (n of them; a job on twos has files on twos only)."""
    os.makedirs(str(folder), exist_ok=True)
    for i, f in enumerate(job_frames(n, step)):
        exr.write_image(os.path.join(str(folder), "p.%04d.exr" % f), plate_image(i),
                        channels=("R", "G", "B"), pixel_type="half")
    m = np.zeros((H, W), np.float32)
    m[4:10, 19:25] = 1
    exr.write_image(os.path.join(str(folder), "sq.png"), m, pixel_type="uint8")
    return os.path.join(str(folder), "p.####.exr")


def ball_at(i):
    return 8 + 1.5 * i, 12.0


def make_job(plates, out, n, tracker, objects, step=1):
    """``objects``: list of (kind, [(position, prompt_type)]) with kind in ball/sq/tri, position in
    first/middle/last (an index into the job's frames) and prompt_type anchor/click."""
    frames = job_frames(n, step)
    job = jobspec.new_job(os.path.join(str(plates), "p.####.exr"), str(out),
                          frames="1001-%d" % frames[-1] + ("x%d" % step if step > 1 else ""),
                          tracker=tracker, matte="refine", quality="draft", name="equiv")
    for kind, prompts in objects:
        qs = []
        for pos, ptype in prompts:
            i = {"first": 0, "middle": n // 2, "last": n - 1}[pos]
            f = frames[i]
            if kind == "ball":
                cx, cy = ball_at(i)
                if ptype == "anchor":
                    qs.append(jobspec.polygon_prompt(f, [(cx - 5, cy - 5), (cx + 5, cy - 5), (cx + 5, cy + 5),
                                                         (cx - 5, cy + 5)]))
                else:
                    qs.append(jobspec.points_prompt(f, [(cx + 0.5, cy + 0.5)]))
            elif kind == "sq":
                lo = max(0, 20 - i)
                if ptype == "anchor":
                    if i == 0:
                        qs.append(jobspec.mask_prompt(f, os.path.join(str(plates), "sq.png")))
                    else:
                        qs.append(jobspec.box_prompt(f, [lo - 1, 3, lo + 7, 11]))
                else:
                    qs.append(jobspec.points_prompt(f, [(lo + 3, 7)]))
            else:
                cx, cy = 24 - 0.5 * i, 18
                if ptype == "anchor":
                    qs.append(jobspec.polygon_prompt(f, [(cx - 4, cy - 4), (cx + 4, cy - 4), (cx, cy + 4)]))
                else:
                    qs.append(jobspec.points_prompt(f, [(cx, cy)]))
        jobspec.add_object(job, kind, qs)
    return job


# --- the bundle's tasks, as OpenJD expands them ---------------------------------------------------------

def load_template(bundle):
    import yaml
    with open(os.path.join(bundle, "template.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def openjd_tasks(bundle, params):
    """{step name: [(task params, argv)]}: each step's tasks in OpenJD's own order (openjd-model's task
    iterator, CHUNK[INT] included), with the command line the template gives each one."""
    from pathlib import Path

    import yaml
    from openjd import model
    with open(os.path.join(bundle, "template.yaml"), encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    template = model.decode_job_template(template=raw, supported_extensions=["TASK_CHUNKING"])
    pv = model.preprocess_job_parameters(
        job_template=template, job_parameter_values={k: str(v) for k, v in params.items()},
        job_template_dir=Path(bundle), current_working_dir=Path(bundle))
    job = model.create_job(job_template=template, job_parameter_values=pv)
    values = {k: str(v.value) for k, v in pv.items()}
    out = {}
    for step, rstep in zip(job.steps, raw["steps"]):
        script = rstep["script"]
        args = script["actions"]["onRun"]["args"]
        emb = script["embeddedFiles"][0]
        if step.parameterSpace is None:
            tasks = [{}]
        else:
            tasks = [{k: str(v.value) for k, v in t.items()}
                     for t in model.StepParameterSpaceIterator(space=step.parameterSpace)]
        out[step.name] = [(t, args, emb) for t in tasks]
    return out, values


def _format(arg, values, task, job_file):
    def sub(m):
        expr = m.group(1).strip()
        if expr == "Task.File.Job":
            return job_file
        if expr.startswith("Param."):
            return values[expr[6:]]
        if expr.startswith("Task.Param."):
            return task[expr[11:]]
        raise AssertionError("unknown expression %r" % expr)
    return re.sub(r"\{\{(.*?)\}\}", sub, arg)


def task_argv(task, session):
    """The samatte command line of one task (after ``python -m samatte``), its embedded job file written
    into ``session`` as an OpenJD session does."""
    tparams, args, emb, values = task
    os.makedirs(session, exist_ok=True)
    job_file = os.path.join(session, emb["filename"])
    with open(job_file, "w", encoding="utf-8") as f:   # the text as the template carries it (JSON)
        f.write(emb["data"])
    argv = [_format(a, values, tparams, job_file) for a in args]
    assert argv[:2] == ["-m", "samatte"], argv
    return argv[2:]


# --- comparison ---------------------------------------------------------------------------------------

def read_frame(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    assert inp is not None, path
    try:
        spec = inp.spec()
        meta = {a.name: str(a.value) for a in spec.extra_attribs if a.name.startswith("samatte/")}
        wins = ((spec.x, spec.y, spec.width, spec.height),
                (spec.full_x, spec.full_y, spec.full_width, spec.full_height))
        px = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
        return tuple(spec.channelnames), wins, px, meta
    finally:
        inp.close()


# --- what the README's "Chunks" promises, frame by frame -------------------------------------------------

def expected_exact(refs, history, *, restorable=True):
    """Which frames the README's contract makes equal to a single run bit for bit, from the matte tasks
    as they ran: ``history`` = [(chunk frames, preroll, frames written by the task)] in the order the
    tasks ran. A chunk's frame is exact when its temporal reference is matted in the same task from an
    exact state, or is a finished frame that is exact, or the pre-roll (up to K frames, stopping at a
    finished frame) reaches a restart (a frame whose reference is None). ``restorable``: finished frames
    hold every object's alpha (object layers, or one object); else they are pre-rolled as unfinished."""
    exact = {}
    for chunk, k, written in history:
        done_before = set(exact)
        todo = [f for f in chunk if f not in done_before]
        mine = {}
        for f in todo:   # ascending: forward temporal chains (flow, shapes)
            r = refs[f]
            if r is None:
                mine[f] = True
                continue
            if r in mine:
                mine[f] = mine[r]
                continue
            g, count, ok = r, 0, False
            while True:
                if g is None:
                    ok = True
                    break
                if g in done_before and restorable:
                    ok = exact[g]
                    break
                if count == k:
                    ok = False
                    break
                count += 1
                g = refs[g]
            mine[f] = ok
        for f in written:
            exact[f] = mine[f]
    return exact
