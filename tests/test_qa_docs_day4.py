"""QA, documentation pass after day 4 of the 0.2.20 work (the per-output default work dir,
``output.keep_other_plates`` / ``samatte/plate``, the hosts' time left, the Blender worker's background
start, farm export's node paths, merged ``A`` adding where objects meet): what README.md,
docs/CONTRACTS.md and the JobSpec docstring say, held to the code. Cheap: no job is run.
"""
import ast
import inspect
import os
import re
import sys
import types

import numpy as np
import pytest

import samatte
from samatte import cachekey, jobspec, pipeline
from samatte.errors import JobSpecError
from samatte.farm import openjd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")


def _text(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _flat(text):
    return " ".join(text.split())


README = _flat(_text("README.md"))
CONTRACTS = _flat(_text("docs/CONTRACTS.md"))


def _section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), _text("README.md"), re.S | re.M)
    assert m, "README has no section %r" % title
    return _flat(m.group(1))


def _job(tmp_path, **output):
    job = jobspec.new_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"), frames="1-3",
                          tracker="flow", matte="refine")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1, [1, 1, 5, 5])])
    job["output"].update(output)
    return jobspec.validate(job)


# --- the default work dir ----------------------------------------------------------------------------
def test_the_default_work_dir_is_the_one_every_doc_names():
    rule = "`<output folder>/.samatte/<job name>/<output file>/`"
    assert rule in _section("Cache and resume")
    assert rule in _section("JobSpec")
    assert rule in CONTRACTS
    # the README's worked example, through the code
    assert "`/out/fg.####.exr` of job `sh010` -> `/out/.samatte/sh010/fg..exr/`" in README
    got = jobspec.default_work_dir({"name": "sh010", "output": {"path": "/out/fg.####.exr"}})
    assert got == os.path.join(os.path.abspath("/out"), ".samatte", "sh010", "fg..exr")
    # no doc still gives the 0.2.19 folder as the default
    for doc in (README, CONTRACTS):
        assert not re.search(r"default `?<output folder>/\.samatte/<job name>/`", doc)


def test_the_name_folder_examples_hold():
    assert "`sh010/hero` -> `.samatte/sh010_hero/`" in README
    assert jobspec.work_dir_name("sh010/hero") == "sh010_hero"
    assert "`.` and `..` become `_._` and `_.._`" in README
    assert (jobspec.work_dir_name("."), jobspec.work_dir_name("..")) == ("_._", "_.._")
    assert "(`sh010: hero` -> `sh010_ hero`)" in README
    assert jobspec.work_dir_name("sh010: hero") == "sh010_ hero"
    assert jobspec.work_dir_name(None) == "samatte"   # "default `samatte`"


# --- output.keep_other_plates and samatte/plate ------------------------------------------------------
def test_keep_other_plates_default_false_left_out_when_false_and_in_no_key(tmp_path):
    assert "`output.keep_other_plates` (default false, in no key; `validate` leaves it out" in README
    off, absent = _job(tmp_path, keep_other_plates=False), _job(tmp_path)
    assert "keep_other_plates" not in off["output"] and "keep_other_plates" not in absent["output"]
    on = _job(tmp_path, keep_other_plates=True)
    assert on["output"]["keep_other_plates"] is True
    with pytest.raises(JobSpecError):
        _job(tmp_path, keep_other_plates="yes")
    res = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "refine"}
    assert cachekey.frame_keys(on, resolved=res) == cachekey.frame_keys(off, resolved=res)
    assert "keep_other_plates" in _section("Cache and resume")   # listed as in no key


def test_samatte_plate_is_written_only_for_keep_other_plates_jobs(tmp_path):
    res = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "refine"}
    on = pipeline._job_metadata(_job(tmp_path, keep_other_plates=True), res)
    off = pipeline._job_metadata(_job(tmp_path), res)
    assert on["samatte/plate"] == str(tmp_path / "plate.####.exr")
    assert "samatte/plate" not in off
    out = _section("Output EXRs")
    assert "`output.keep_other_plates` (the Blender add-on's), its plate pattern (`samatte/plate`" in out
    assert "`samatte/plate` (the job's `plate.path`, written by jobs with `output.keep_other_plates`" in CONTRACTS
    # the Blender add-on is the one that sets it, as both docs say
    src = _text("blender_addon/jobs.py")
    assert 'job["output"]["keep_other_plates"] = True' in src


# --- the JobSpec docstring: "the full reference, with every field" ----------------------------------
def test_the_jobspec_docstring_names_every_field_validate_accepts():
    assert "The full reference, with every field, is the docstring of `core/samatte/jobspec.py`" in README
    doc = _flat(jobspec.__doc__)
    src = inspect.getsource(jobspec)
    names = set()
    for m in re.finditer(r"_check_unknown\(\w+, (?:common \+ )?(\([^)]*\))", src):
        names.update(ast.literal_eval(m.group(1)))
    names.update(ast.literal_eval(re.search(r"common: tuple = (\([^)]*\))", src).group(1)))
    names.add("mode")
    assert {"keep_other_plates", "overwrite", "work_dir", "feather", "invert"} <= names
    missing = sorted(n for n in names if not re.search(r'(``|")(\w+\.)?%s(``|"|:)' % re.escape(n), doc))
    assert not missing, missing


# --- merged A -------------------------------------------------------------------------------------
def test_merged_a_adds_where_masks_meet_and_is_the_union_where_drawn_through():
    from samatte.matte.stage import merge_alphas
    out = _section("Output EXRs")
    assert "the sum of their alphas, at most 1, where their masks do not overlap" in out
    assert "their union `1 - prod(1 - a_i)` near where one object's mask is drawn through another's" in out
    assert "union of the layers" not in README
    # two objects meeting on a column, each covering half of its pixels: 1 there, not 0.75
    h, w = 16, 32
    a = np.zeros((h, w), np.float32)
    b = np.zeros((h, w), np.float32)
    a[:, :16], b[:, 17:] = 1, 1
    a[:, 16] = b[:, 16] = 0.5
    ma, mb = (a >= 0.5).astype(np.float32), (b > 0.5).astype(np.float32)
    merged = merge_alphas([a, b], (h, w), masks=[ma, mb])
    assert np.allclose(merged[:, 16], 1.0)
    # one drawn through the other (masks overlap everywhere): the union
    c = np.full((h, w), 0.5, np.float32)
    merged = merge_alphas([c, c], (h, w), masks=[np.ones((h, w))] * 2)
    assert np.allclose(merged, 0.75)


# --- hosts: the time left, the Blender worker's background start --------------------------------------
class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _worker_events(clock, first=20.0, seconds=4.0, n=6):
    """The matte stage of an n-frame job as the worker sends it (as tests/test_qa_host_progress2.py's)."""
    for i in range(n):
        f = 1001 + i
        yield {"type": "progress", "stage": "matte", "frame": f, "done": i, "total": n,
               "message": "frame %d: matte hero" % f}
        clock.t += first if i == 0 else seconds
        yield {"type": "progress", "stage": "matte", "frame": f, "done": i + 1, "total": n, "message": ""}
        yield {"type": "frame", "frame": f, "status": "written", "stage": "matte", "score": 0.9}


def test_the_blender_status_bar_example_is_what_the_add_on_says():
    example = "samatte: matte 3/6 frame 11, 12s left, 4.0 s/frame"
    assert "(`%s`)" % example in _section("Blender")
    assert "`samatte: starting the worker (Esc cancels)`" in _section("Blender")
    assert '"samatte: starting the worker (Esc cancels)"' in _text("blender_addon/jobs.py")
    sys.path.insert(0, os.path.join(TESTS, "blender"))
    from addon_plain import plain
    from samatte.progress import TimeLeft
    jobs = plain("jobs")
    clock = _Clock()
    run = jobs.JobRun({}, None, scene_frame=lambda n: n - 993)   # file 1004 is scene frame 11
    run.time_left = TimeLeft(clock)
    seen = []
    for ev in _worker_events(clock):
        run.handle = types.SimpleNamespace(done=False, error=None, result=None, poll=lambda e=ev: [e])
        run.poll()
        seen.append(run.status)
    assert example in seen, seen


def test_the_nuke_progress_example_is_what_the_runner_says():
    sys.path.insert(0, os.path.join(ROOT, "nuke_plugin"))
    from samatte_nuke.runner import progress_text
    from samatte.progress import TimeLeft, duration_text
    example = "matte frame 12 (11/200 done; 4m10s left, 1.3 s/frame): matte hero"
    assert "(`%s`;" % example in _section("Nuke")
    clock = _Clock()
    tl = TimeLeft(clock)
    said = []
    for ev in _worker_events(clock, seconds=1.3225, n=200):
        if ev["type"] == "progress":
            tl.progress(ev["stage"], ev["done"], ev["total"])
            said.append(progress_text(ev, lambda f: f - 1000, tl.text()))
        else:
            tl.frame(ev["status"], ev["stage"])
    assert example in said, said[20:26]
    assert duration_text(189 * 1.3225) == "4m10s"   # 189 frames left at 1.3 s/frame (to 0.1 s): the example holds


# --- farm export's node paths ------------------------------------------------------------------------
def test_farm_export_node_paths_are_checked_as_documented(tmp_path):
    farm = _section("Farm and TD scripting")
    assert "a relative one is `JOBSPEC_INVALID` at export, naming the flag" in farm
    assert "empty: the nodes' own lookup, never the bundle's `models/`" in farm
    for value, field in (("venv/bin/python", "python"), ("models", "models_dir"), ("~/py", "python")):
        with pytest.raises(JobSpecError) as e:
            openjd.node_path(value, field, command=field == "python")
        assert e.value.code == "JOBSPEC_INVALID" and "--" + field.replace("_", "-") in e.value.message
    assert openjd.node_path("python3", "python", command=True) == "python3"    # a bare command name
    assert openjd.node_path("~/models", "models_dir") == "~/models"             # a ~/... folder
    assert openjd.node_path(r"C:\samatte\python.exe", "python", command=True) == r"C:\samatte\python.exe"
    import pathlib
    assert openjd.node_path(pathlib.PurePosixPath("/opt/samatte/models"), "models_dir") == "/opt/samatte/models"
    job = _job(tmp_path)
    r = openjd.export_openjd(job, str(tmp_path / "bundle"), models_dir="", python="/opt/samatte/bin/python")
    assert r["parameters"]["ModelsDir"] == ""
    assert not os.path.exists(str(tmp_path / "bundle" / "models"))


# --- versions -------------------------------------------------------------------------------------
def test_the_version_the_docs_name_is_this_one():
    v = samatte.__version__
    assert v == "0.2.20"
    cache = _section("Cache and resume")
    assert re.search(r"and %s \(.*?\) those written by 0\.2\.19\." % re.escape(v), cache)
    assert 'version = "%s"' % v in _text("blender_addon/blender_manifest.toml")
    assert "score MAD 6.63 (%s (" % v in README


# --- CONTRACTS: the host-side signatures that changed today ------------------------------------------
def test_contracts_name_the_blender_background_start_and_the_stdlib_modules():
    sys.path.insert(0, os.path.join(TESTS, "blender"))
    from addon_plain import plain
    jobs = plain("jobs")
    params = inspect.signature(jobs.JobRun.__init__).parameters
    assert list(params)[1:] == ["job", "settings", "frames", "stage", "scene_frame"]
    assert "background" in inspect.signature(jobs.JobRun.start).parameters
    assert callable(jobs.start_worker)
    assert ("`JobRun(job, settings, *, frames=None, stage=None, scene_frame=None).start(*, background=False)"
            in CONTRACTS)
    assert "`start_worker`" in CONTRACTS
    # samatte.atomic is one of the stdlib-only host-side modules (README's list names it too)
    from samatte import atomic
    assert inspect.signature(atomic.write_atomically).parameters["what"].default == "file"
    assert "`samatte.atomic` (`write_atomically(path, tmp, write, *, what=\"file\")`" in CONTRACTS


def test_the_nuke_section_names_every_samatte_module_the_plugin_imports():
    m = re.search(r"imports only samatte's standard-library modules \(([^)]*)\) and `nuke`", _section("Nuke"))
    assert m
    listed = set(re.findall(r"`(\w+)`", m.group(1)))
    used = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "nuke_plugin")):
        for f in files:
            if f.endswith(".py"):
                src = open(os.path.join(folder, f), encoding="utf-8").read()
                used.update(re.findall(r"(?:from|import) samatte\.(\w+)", src))
                for names in re.findall(r"from samatte import ([\w, ]+)", src):
                    used.update(n.strip().split(" as ")[0] for n in names.split(","))
    assert used and used <= listed, sorted(used - listed)
    assert "4m10s left, 1.3 s/frame): matte hero`, `track frame 5" in _section("Nuke")   # step 5 says the time left


def test_layout_lists_the_same_host_side_modules_as_the_worker_protocol_section():
    lay = re.search(r"the package \((.*?) are standard library only", _section("Layout")).group(1)
    proto = re.search(r"type-checked by mypy in CI: (.*?)\.(?: |$)", _section("Worker protocol")).group(1)
    names = lambda t: {re.sub(r"^samatte\.", "", n) for n in re.findall(r"`([a-z_.]+)`", re.sub(r"\([^)]*\)", "", t))}  # noqa: E731
    assert names(lay) == names(proto), (names(lay) ^ names(proto))


def test_an_empty_samatte_models_is_the_default_lookup(monkeypatch):
    from samatte import models
    assert "set but empty: the default; a farm job's `ModelsDir` sets it for each task when not empty" in README
    monkeypatch.delenv("SAMATTE_MODELS", raising=False)
    unset = models.models_dir()
    monkeypatch.setenv("SAMATTE_MODELS", "")
    assert models.models_dir() == unset
    assert '"--models-dir={{Param.ModelsDir}}"' in _text("core/samatte/farm/openjd.py").replace("'", '"')


def _doc_calls(text):
    """``(dotted name, [parameter names])`` of each ```samatte.x.y(...)`` call CONTRACTS writes out."""
    for m in re.finditer(r"`(samatte(?:\.\w+)+)\(", text):
        i, depth = m.end(), 1
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        parts, cur, depth = [], "", 0
        for ch in text[m.end():i - 1]:
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        names = [re.match(r"\*{0,2}(\w+)", p.strip()).group(1) for p in parts
                 if p.strip() not in ("", "*", "...") and re.match(r"\*{0,2}\w", p.strip())]
        yield m.group(1), names


def test_every_parameter_contracts_names_is_one_the_code_takes():
    import importlib
    checked, wrong = 0, []
    for dotted, names in _doc_calls(CONTRACTS):
        parts = dotted.split(".")
        for k in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:k]))
                break
            except ImportError:
                continue
        for attr in parts[k:]:
            obj = getattr(obj, attr, None)
        if obj is None:
            wrong.append((dotted, "no such name"))
            continue
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        real = sig.parameters
        if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in real.values()):
            continue
        checked += 1
        extra = [n for n in names if n not in real]
        if extra:
            wrong.append((dotted, extra, list(real)))
    assert checked > 30 and not wrong, wrong
