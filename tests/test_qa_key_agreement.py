"""QA: hosts and the worker agree on which frames are current.

A property test (hypothesis, bounded; 24x16 plates) generates JobSpecs across the schema (every prompt type
with add / subtract / invert / threshold / soft, mask prompt files, refine-only and mixed objects, frames
with gaps and steps, tracker and matte options and qualities, an OCIO config, a plate layer, output
channel flags and compressions, a work_dir), runs each (flow / shapes tracker, refine / none matte) and
checks that the keys written into every EXR (``samatte/key``, ``samatte/track_key``) are those
``cachekey.frame_keys`` computes in process and in a real Python 3.9 started with ``-S`` and only the
standard-library modules on its path (as Nuke and Blender run them), and that ``samatte status``, qc,
the Nuke adapter's ``farm.frame_state`` (in both Pythons) and the Blender add-on's status summary all say
``complete`` for every frame; then, after one mutation (a prompt moved, a mask file replaced, an option
changed, a plate frame re-rendered), ``stale`` for exactly the frames the key rules say, and a re-run
rewrites exactly those.
"""
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samatte import cachekey, jobspec, pipeline
from samatte.exrheader import string_attributes
from samatte.io import exr

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "nuke_plugin"))
from samatte_nuke import farm as nuke_farm  # noqa: E402  (stdlib only: no Nuke needed)

PY39 = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")
W, H = 24, 16
ALL = list(range(1001, 1009))
STDLIB_MODULES = ("__init__", "errors", "frames", "registry", "jobspec", "names", "cachekey", "inputfile", "exrheader",
                  "io/__init__", "io/sequence")

_LINLOG = """ocio_profile_version: 2

roles:
  default: lin
  scene_linear: lin
displays:
  sRGB:
    - !<View> {name: Standard, colorspace: srgb_display}

colorspaces:
  - !<ColorSpace>
    name: lin
    encoding: scene-linear
  - !<ColorSpace>
    name: srgb_display
    encoding: sdr-video
    from_scene_reference: !<ExponentWithLinearTransform> {gamma: 2.4, offset: 0.055, direction: inverse}
"""


def _plate(i):
    rng = np.random.default_rng(7)
    img = rng.uniform(0.05, 0.3, (H, W + 16, 3)).astype(np.float32)[:, i:i + W]
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    ball = np.clip(4.5 - np.hypot(xx - 7 - i, yy - 8), 0, 1)[..., None]
    return img * (1 - ball) + ball * np.array([0.9, 0.2, 0.1], np.float32)


def _mask(i, shift=0):
    m = np.zeros((H, W), np.float32)
    m[4:12, 3 + i + shift:11 + i + shift] = 1
    m[3, 3 + i:11 + i] = 0.5
    return m


def _other_mask():
    """A mask no _mask() is (row 13 set): a replaced file."""
    m = _mask(3)
    m[13, 2:20] = 1
    return m


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("key_agreement")
    for i, f in enumerate(ALL):
        px = _plate(i)
        exr.write_image(str(d / ("p.%04d.exr" % f)), np.concatenate([px, px[..., ::-1]], axis=2),
                        channels=("R", "G", "B", "bg.R", "bg.G", "bg.B"), pixel_type="half")
        exr.write_image(str(d / ("r.%04d.png" % f)), _mask(i), pixel_type="uint8")
    (d / "lin.ocio").write_text(_LINLOG)
    lib = d / "lib"
    for m in STDLIB_MODULES:
        src = os.path.join(REPO, "core", "samatte", m + ".py")
        dst = lib / "samatte" / (m + ".py")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, str(dst))
    shutil.copytree(os.path.join(REPO, "nuke_plugin", "samatte_nuke"), str(lib / "samatte_nuke"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return d


# ---- the generated jobs ----

def _poly(dx, dy, n=4):
    base = [(4, 4), (12, 4), (12, 12), (4, 12), (8, 14), (3, 8)][:n]
    return [(x + dx, y + dy) for x, y in base]


@st.composite
def prompt_recipes(draw, frames, first):
    """(kind, frame index, extras) of one prompt; the first of an object says where it is."""
    kinds = ["polygon", "bezier", "box", "points", "mask"] if first else \
        ["polygon", "bezier", "box", "points", "mask", "polygon-", "bezier-", "box-", "mask-", "open", "neg"]
    kind = draw(st.sampled_from(kinds))
    return {"kind": kind, "frame": draw(st.sampled_from(frames)), "dx": draw(st.integers(0, 4)),
            "dy": draw(st.integers(-1, 2)), "invert": draw(st.booleans()) and kind in ("polygon", "bezier", "mask"),
            "feather": draw(st.sampled_from([0.0, 0.0, 1.5])), "threshold": draw(st.sampled_from([0.5, 0.25])),
            "channel": draw(st.sampled_from([None, "Y"]))}


@st.composite
def recipes(draw):
    shape = draw(st.sampled_from(["range", "step", "gap", "short"]))
    frames = {"range": ALL[:5], "step": ALL[0:7:2], "gap": [1001, 1002, 1005, 1006], "short": ALL[2:5]}[shape]
    spec = {"range": "1001-1005", "step": "1001-1007x2", "gap": "1001-1002,1005-1006", "short": "1003-1005"}[shape]
    objects = []
    for o in range(draw(st.integers(1, 3))):
        role = draw(st.sampled_from(["tracked", "tracked", "tracked", "both", "masks"])) if o else \
            draw(st.sampled_from(["tracked", "tracked", "both"]))
        prompts = []
        if role != "masks":
            for j in range(draw(st.integers(1, 3))):
                prompts.append(draw(prompt_recipes(frames, j == 0)))
        objects.append({"role": role, "prompts": prompts, "soft": draw(st.booleans()),
                        "mthreshold": draw(st.sampled_from([0.5, 0.3]))})
    tracker = draw(st.sampled_from(["flow", "shapes"]))
    topts = {}
    if tracker == "flow":
        topts = draw(st.fixed_dictionaries({}, optional={
            "work_size": st.sampled_from([32, 48]), "flow_preset": st.sampled_from(["ultrafast", "medium"]),
            "fb_check": st.booleans(), "colour": st.booleans(), "grabcut": st.booleans()}))
    elif draw(st.booleans()):
        topts = {"work_size": draw(st.sampled_from([32, 64]))}
    matte = draw(st.sampled_from(["refine", "refine", "none"]))
    mopts = draw(st.fixed_dictionaries({}, optional={
        "temporal": st.booleans(), "flow": st.booleans(), "prior": st.sampled_from([0.0, 0.05]),
        "masks": st.sampled_from(["auto", "tight"])})) if matte == "refine" else {}
    return {"frames": frames, "spec": spec, "objects": objects, "tracker": tracker, "topts": topts,
            "matte": matte, "mopts": mopts, "quality": draw(st.sampled_from(["draft", "draft", "default"])),
            "ocio": draw(st.booleans()), "layer": draw(st.sampled_from([None, "bg"])),
            "object_layers": draw(st.booleans()), "foreground": draw(st.booleans()),
            "quality_map": draw(st.booleans()),
            "compression": draw(st.sampled_from(["zip", "piz", "b44", "dwaa:30", "none", "zips:3"])),
            "work_dir": draw(st.booleans()),
            "mutation": draw(st.sampled_from(["prompt", "prompt", "maskfile", "option", "plate"])),
            "which": draw(st.integers(0, 1000))}


def _build(r, shot, d):
    for f in ALL:   # the example's own plate and mask files: a mutation touches no other example
        for name in ("p.%04d.exr" % f, "r.%04d.png" % f):
            shutil.copy(str(shot / name), os.path.join(d, name))
    job = jobspec.new_job(os.path.join(d, "p.####.exr"), os.path.join(d, "out", "m.####.exr"), frames=r["spec"],
                          tracker=r["tracker"], matte=r["matte"], quality=r["quality"], name="agree",
                          ocio_config=str(shot / "lin.ocio") if r["ocio"] else None,
                          colourspace="lin" if r["ocio"] else None, layer=r["layer"],
                          object_layers=r["object_layers"], foreground=r["foreground"],
                          quality_map=r["quality_map"], compression=r["compression"],
                          work_dir=os.path.join(d, "wd") if r["work_dir"] else None)
    job["tracker"]["options"] = dict(r["topts"])
    job["matte"]["options"] = dict(r["mopts"])
    for o, ob in enumerate(r["objects"]):
        prompts = []
        for j, p in enumerate(ob["prompts"]):
            k, f = p["kind"], p["frame"]
            mode = "subtract" if k.endswith("-") else "add"
            k = k.rstrip("-")
            pts = _poly(p["dx"], p["dy"]) if mode == "add" else [(4, 4), (6, 4), (6, 6), (4, 6)]   # a hole
            if k == "polygon":
                prompts.append(jobspec.polygon_prompt(f, pts, mode=mode, invert=p["invert"] and mode == "add",
                                                      feather=p["feather"]))
            elif k == "bezier":
                prompts.append(jobspec.bezier_prompt(f, [(x, y, x - 1, y, x + 1, y) for x, y in pts], mode=mode,
                                                     feather=p["feather"]))
            elif k == "open":
                prompts.append(jobspec.polygon_prompt(f, pts[:3], closed=False))
            elif k == "box":
                box = [3 + p["dx"], 4, 12 + p["dx"], 12] if mode == "add" else [4, 4, 6, 6]
                prompts.append(jobspec.box_prompt(f, box, mode=mode))
            elif k == "points":
                prompts.append(jobspec.points_prompt(f, [(7.5 + p["dx"], 8.5), (20.5, 2.5)], [1, 0]))
            elif k == "neg":
                prompts.append(jobspec.points_prompt(f, [(20.5 + p["dy"], 2.5)], [0]))
            else:   # a mask file of this example (so that replacing it touches no other example)
                path = os.path.join(d, "hint%d_%d.png" % (o, j))
                m = _mask(ALL.index(f), p["dx"])
                if mode == "subtract":
                    m[:, 8:] = 0
                exr.write_image(path, m, pixel_type="uint8")
                prompts.append(jobspec.mask_prompt(f, path, threshold=p["threshold"], invert=p["invert"],
                                                   mode=mode, channel=p["channel"]))
        masks = None
        if ob["role"] in ("masks", "both"):
            masks = {"path": os.path.join(d, "r.####.png"), "soft": ob["soft"], "threshold": ob["mthreshold"]}
        jobspec.add_object(job, "o%d" % o, prompts or None, masks=masks, host_name="Obj %d" % o)
    return jobspec.validate(job)


# ---- the key rules, written out again (README "Cache and resume") ----

def _anchors(obj, tracker):
    ps = obj.get("prompts") or []
    shapes = sorted({q["frame"] for q in ps if q["type"] in ("mask", "polygon", "bezier", "box")
                     and q.get("mode", "add") == "add" and q.get("closed", True)})
    if shapes:
        return shapes
    pos = [q["frame"] for q in ps if (q["type"] == "points" and any(q["labels"]))
           or (q["type"] in ("polygon", "bezier") and not q.get("closed", True) and q.get("mode", "add") == "add")]
    return [min(pos)] if pos else []


def _interval(f, obj, tracker):
    an = _anchors(obj, tracker)
    if f in an:
        return f, f
    before = [a for a in an if a < f]
    after = [a for a in an if a > f]
    return (before[-1] if before else f), (after[0] if after else f)


def _expected(job, frames, tracker, *, objects=(), at=None, mask_frame=None, all_track=False, all_matte=False,
              plate=None):
    """(frames whose track (tracked objects' keys) is stale, frames whose matte is stale) after an edit:
    of the prompts of ``objects`` on frame ``at``, of the mask sequence's frame ``mask_frame``, of every
    track (a tracker option) or matte setting, or of plate frame ``plate``."""
    obs = job["objects"]
    track, whole = set(), set()
    for f in frames:
        for i, o in enumerate(obs):
            lo, hi = _interval(f, o, tracker) if o.get("prompts") else (f, f)
            if o.get("prompts") and (all_track or (i in objects and lo <= at <= hi)
                                     or (plate is not None and lo <= plate <= hi)
                                     or (mask_frame is not None and o.get("masks") and lo <= mask_frame <= hi)):
                track.add(f)
            if mask_frame == f and o.get("masks"):
                whole.add(f)
    whole |= track
    restart = {a for o in obs if o.get("prompts") for a in _anchors(o, tracker)}
    matte, prev = set(), None
    for f in frames:
        ref = None if (prev is None or f in restart) else prev
        if all_matte or f in whole or f == plate or (ref is not None and ref in matte):
            matte.add(f)
        prev = f
    return track, matte


# ---- what each side says ----

def _blender_summary():
    """blender_addon.ops.summarise_status, a plain function, taken out of the bpy module."""
    src = open(os.path.join(REPO, "blender_addon", "ops.py"), encoding="utf-8").read()
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "summarise_status")
    ns = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "ops.py", "exec"), ns)
    return ns["summarise_status"]


class _ClipInfo:   # the add-on's ClipInfo as summarise_status uses it: clip frame 11 shows file 1001
    @staticmethod
    def scene_frame(f):
        return f - 990


PY39_SIDE = r"""
import json, sys
sys.path[:] = [sys.argv[1]] + [p for p in sys.path if "site-packages" not in p]
from samatte import cachekey
from samatte_nuke import farm
job, resolved = json.loads(sys.argv[2]), json.loads(sys.argv[3])
keys = cachekey.frame_keys(job, resolved=resolved)
text = json.dumps(job, sort_keys=True)
states = {str(f): farm.frame_state(text, f, fresh=True)[0] for f in keys}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "OpenImageIO", "cv2", "torch"))
print(json.dumps({"keys": {str(f): k for f, k in keys.items()}, "nuke": states, "heavy": heavy,
                  "py": list(sys.version_info[:2])}))
"""


def _py39(lib, job, resolved):
    p = subprocess.run([PY39, "-S", "-c", PY39_SIDE, str(lib), json.dumps(job), json.dumps(resolved)],
                       capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    assert out["py"] == [3, 9] and out["heavy"] == []
    return out


def _sides(job, lib):
    """frame -> {side: what it says}, plus the keys in the files and those computed in process."""
    resolved = pipeline.resolve_backends(job)
    keys = cachekey.frame_keys(job, resolved=resolved)
    status = pipeline.frame_status(job)
    frames = sorted(int(f) for f in status["frames"])
    from samatte.farm.qc import run_qc
    qc = run_qc(job, raise_on_failure=False, sheet_frames=0)
    text = json.dumps(job, sort_keys=True)
    say = {}
    for f in frames:
        say[f] = {"status": status["frames"][str(f)], "track": status["track"][str(f)],
                  "qc": "complete" if qc["frames"][str(f)]["problem"] is None else qc["frames"][str(f)]["key"],
                  "nuke": nuke_farm.frame_state(text, f, fresh=True)[0]}
    if os.path.exists(PY39):
        py = _py39(lib, job, resolved)
        assert py["keys"] == {str(f): k for f, k in keys.items()}, "Python 3.9 keys differ from the worker's"
        for f in frames:
            say[f]["nuke39"] = py["nuke"][str(f)]
    return say, keys, _blender_summary()(status, _ClipInfo())


def _file_keys(job, f):
    path = job["output"]["path"].replace("####", "%04d" % f)
    a = string_attributes(path)
    return a.get("samatte/key"), a.get("samatte/track_key")


def _mutate(r, job, d):
    """(edited job, expected (track, matte) stale frames, what was done)."""
    frames = jobspec.job_frames(job)
    tracker = r["tracker"]
    e = copy.deepcopy(job)
    w = r["which"]
    tracked = [i for i, o in enumerate(job["objects"]) if o.get("prompts")]
    mask_prompts = [(i, j) for i, o in enumerate(job["objects"]) for j, q in enumerate(o.get("prompts") or [])
                    if q["type"] == "mask"]
    kind = r["mutation"]
    if kind == "maskfile" and mask_prompts:
        i, j = mask_prompts[w % len(mask_prompts)]
        q = e["objects"][i]["prompts"][j]
        exr.write_image(q["path"], _other_mask(), pixel_type="uint8")
        return e, _expected(job, frames, tracker, objects=(i,), at=q["frame"]), "mask prompt file %s" % q["path"]
    if kind == "maskfile" and any(o.get("masks") for o in job["objects"]):
        f = frames[w % len(frames)]
        exr.write_image(os.path.join(d, "r.%04d.png" % f), _other_mask(), pixel_type="uint8")
        return e, _expected(job, frames, tracker, mask_frame=f), "mask sequence frame %d" % f
    if kind == "plate":
        f = frames[w % len(frames)]
        p = os.path.join(d, "p.%04d.exr" % f)
        st_ = os.stat(p)
        os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5 * 10 ** 9))
        return e, _expected(job, frames, tracker, plate=f), "plate frame %d re-rendered" % f
    if kind == "option":
        if w % 3 == 0 and tracker == "flow":
            e["tracker"]["options"]["occluded_trust"] = 0.5
            return e, _expected(job, frames, tracker, all_track=True, all_matte=True), "tracker option"
        if w % 3 == 1:
            e["output"]["compression"] = "rle" if job["output"]["compression"] != "rle" else "zip"
            return e, _expected(job, frames, tracker, all_matte=True), "compression"
        e["matte"]["quality"] = "high" if job["matte"]["quality"] != "high" else "draft"
        return e, _expected(job, frames, tracker, all_matte=True), "quality"
    i = tracked[w % len(tracked)]
    ps = e["objects"][i]["prompts"]
    j = (w // 7) % len(ps)
    q = ps[j]
    if q["type"] == "box":
        q["box"][2] += 1.0
    elif q["type"] == "mask":
        exr.write_image(q["path"], _other_mask(), pixel_type="uint8")
    else:
        q["points"][0][0] += 1.0
    return e, _expected(job, frames, tracker, objects=(i,), at=q["frame"]), "prompt %d.%d moved" % (i, j)


def _written(res):
    return sorted(int(os.path.basename(p).split(".")[-2]) for p in res["written"])


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("SAMATTE_QA_EXAMPLES", "6")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(r=recipes())
def test_every_side_agrees_on_which_frames_are_current(shot, r):
    with tempfile.TemporaryDirectory() as d:
        job = _build(r, shot, d)
        frames = jobspec.job_frames(job)
        res = pipeline.run(copy.deepcopy(job))
        assert _written(res) == frames
        say, keys, lines = _sides(job, shot / "lib")
        for f in frames:
            assert _file_keys(job, f) == (keys[f]["matte"], keys[f]["track"]), f
            assert set(say[f].values()) == {"complete"}, (f, say[f])
        assert lines == ["mattes: all %d frames current" % len(frames)]

        edited, (track, matte), what = _mutate(r, job, d)
        say, keys, lines = _sides(edited, shot / "lib")
        for f in frames:
            want = "stale" if f in matte else "complete"
            got = {k: v for k, v in say[f].items() if k != "track"}
            assert set(got.values()) == {want}, (what, f, want, say[f], sorted(matte))
            assert say[f]["track"] == ("stale" if f in track else "complete"), (what, f, sorted(track))
        if matte and len(matte) < len(frames):
            assert any(str(min(matte) - 990) in ln for ln in lines), lines
        res = pipeline.run(copy.deepcopy(edited))
        assert _written(res) == sorted(matte), what
        say, keys, _ = _sides(edited, shot / "lib")
        for f in frames:
            assert _file_keys(edited, f) == (keys[f]["matte"], keys[f]["track"]), f
            assert set(say[f].values()) == {"complete"}, (what, f, say[f])


# ---- a plate pattern that names its own frames ----

@pytest.mark.parametrize("pattern,want", [("p.1001-1003####.exr", [1001, 1002, 1003]),
                                          ("p.1002-1006x2####.exr", [1002, 1004, 1006])])
def test_a_plate_pattern_with_its_own_range_is_the_same_frames_everywhere(shot, tmp_path, pattern, want):
    """A job with no ``plate.frames`` over ``p.1001-1003####.exr`` (fileseq's range before the token) makes
    the pattern's frames: run, ``samatte status`` and the keys (Nuke's and a host's Python 3.9 too) said
    1001-1003, but qc and the farm export took every plate file on disk (1001-1008): qc failed (exit 5)
    for five frames the job never makes (``missing``), ``api.scores`` listed them, and the exported
    bundle scheduled Matte tasks for them (refused by the run). Now all take the pattern's range."""
    from samatte import api
    from samatte.farm import export_openjd
    from samatte.farm.qc import run_qc
    for f in ALL:
        shutil.copy(str(shot / ("p.%04d.exr" % f)), str(tmp_path / ("p.%04d.exr" % f)))
    job = jobspec.new_job(str(tmp_path / pattern), str(tmp_path / "out" / "m.####.exr"), tracker="shapes",
                          matte="none", name="own_range")
    jobspec.add_object(job, "a", [jobspec.box_prompt(want[0], [3, 4, 11, 12])])
    job = jobspec.validate(job)
    assert job["plate"]["frames"] is None and jobspec.plate_frames(job) == want
    assert pipeline.run(copy.deepcopy(job))["frames"] == want
    say, keys, lines = _sides(job, shot / "lib")
    assert sorted(keys) == want and sorted(say) == want
    assert all(set(v.values()) == {"complete"} for v in say.values()), say
    assert lines == ["mattes: all 3 frames current"]
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    assert rep["ok"] and sorted(int(f) for f in rep["frames"]) == want, (rep["failed"], rep["counts"])
    assert sorted(api.scores(job)) == want
    bundle = export_openjd(job, str(tmp_path / "bundle"), chunk=2)
    from samatte.frames import parse_frames
    assert parse_frames(bundle["frames"].replace(":", "x")) == want
