"""QA, documentation pass day 5: README.md followed by new users on a fresh machine (a TD installing samatte
for the studio, a Nuke artist, a Blender artist), what it says held to the code mechanically. Cheap: no job
is run. What the earlier docs days keep already is not repeated here (the synopsis' flags in --help and
--help's in the *Command line* section, the exit-status table, the ``SAMATTE_*`` variables, the Python and
TD examples run, ``info`` / ``models list`` JSON keys).

* ``install/install.py`` called directly (the README: "you can call it directly"; its docstring:
  ``python3 install/install.py``) with a Python the pins have no wheels for made the venv and then failed in
  pip (3.10: no scipy 1.17.1; 3.13: numpy 1.26.4 built from source, still in pip after 4 minutes), where
  ``install.sh`` refuses it up front with exit 7. Now install.py refuses it the same way, before a venv is
  made, and an existing venv of such a Python too.
* The *Installing* section names every option of install.py (``--python``, ``--nuke``, ``--blender``,
  ``--blender-dir`` and ``--blender-copy`` were only in the host sections or nowhere).
* Every flag the README gives a ``samatte`` command anywhere (prose and code blocks, not only the synopsis)
  is one that command takes.
* Every ``samatte.<module>.<name>`` the README and docs/CONTRACTS.md name exists; every repository path
  they name exists.
* ``probe --json``'s keys are the ones the README lists (``path``, ``layer``, ``pixel_type`` were not).
* Every environment variable the code, the installer or CI reads is in the README's table, or is one the
  list below says why not.
"""
import argparse
import glob
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from samatte import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLER = os.path.join(ROOT, "install", "install.py")


def _text(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


README = _text("README.md")
CONTRACTS = _text("docs/CONTRACTS.md")


def _section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), README, re.S | re.M)
    assert m, "README has no section %r" % title
    return m.group(1)


def _installer():
    spec = importlib.util.spec_from_file_location("samatte_installer_qa167", INSTALLER)
    inst = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inst)
    return inst


def _fake_python(path, version):
    """An executable that answers the installer's version question as a Python ``version`` would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho '%s'\n" % version.replace(".", " "))
    path.chmod(0o755)
    return str(path)


# --- install.py refuses a Python the pins have no wheels for, as install.sh does ------------------------
@pytest.mark.skipif(os.name == "nt", reason="a shell-script stand-in for a Python")
@pytest.mark.parametrize("version", ["3.10", "3.13"])
def test_install_py_refuses_a_venv_python_the_pins_have_no_wheels_for(tmp_path, capsys, version):
    inst = _installer()
    py = _fake_python(tmp_path / "bin" / ("python" + version), version)
    venv = tmp_path / "venv"
    with pytest.raises(SystemExit) as ei:
        inst.main(["--python", py, "--venv", str(venv), "--no-sam2", "--no-weights"])
    assert ei.value.code == 7            # before: "venv creation did not produce ..." after running it (exit 1)
    err = capsys.readouterr().err
    assert "%s (the Python that makes the venv" % py in err and "is %s, not a Python 3.11 or 3.12" % version in err
    assert "wheels" in err and not venv.exists()


@pytest.mark.skipif(os.name == "nt", reason="a shell-script stand-in for a Python")
def test_install_py_refuses_an_existing_venv_of_another_python(tmp_path, capsys):
    inst = _installer()
    venv = tmp_path / "venv"
    _fake_python(venv / "bin" / "python", "3.13")
    with pytest.raises(SystemExit) as ei:
        inst.main(["--python", sys.executable, "--venv", str(venv), "--no-sam2", "--no-weights"])
    assert ei.value.code == 7
    err = capsys.readouterr().err
    assert "the venv %s's Python is 3.13" % venv in err and "remove the venv" in err


def test_install_py_takes_the_pythons_install_sh_takes(tmp_path):
    inst = _installer()
    assert inst.VENV_PY == ((3, 11), (3, 12))
    sh = _text("install/install.sh")
    assert "(3, 11) <= sys.version_info[:2] <= (3, 12)" in sh                    # install.sh's ok_py
    inst.check_venv_python(sys.executable, "this Python", "")  # the venv's own (3.11 here): no exit
    assert sys.version_info[:2] in ((3, 11), (3, 12))
    assert inst.python_version(sys.executable) == sys.version_info[:2]
    assert inst.python_version(str(tmp_path / "no such python")) is None
    installing = " ".join(_section("Installing").split())
    assert "you can call it directly: it refuses a venv Python other than 3.11 or 3.12 the same way, exit status 7" \
        in installing


def test_the_installing_section_names_every_install_option():
    p = subprocess.run([sys.executable, INSTALLER, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    assert p.returncode == 0, p.stderr
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", p.stdout)) - {"--help"}
    assert {"--venv", "--python", "--nuke", "--blender", "--blender-dir", "--blender-copy"} <= options
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", _section("Installing")))
    assert options <= documented, sorted(options - documented)


# --- every samatte flag the README writes is real ------------------------------------------------------
def _subcommands(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _command_mentions(text):
    """(command words, the flags written after them) for each ``samatte CMD ...`` in an inline code span
    or a code block line, and each code span that starts with a command and a flag (``qc --openjd``)."""
    parser = cli.build_parser()
    commands = _subcommands(parser)
    spans = re.findall(r"`([^`\n]+)`", text)
    lines = [ln for block in re.findall(r"```(?:bash|text)\n(.*?)```", text, re.S) for ln in block.splitlines()]
    for s in spans + lines:
        for m in re.finditer(r"(?:^|[\s(])(?:\.venv/bin/)?samatte ((?:models |farm )?[a-z]+)\b([^|;#]*)", s):
            yield m.group(0).strip(), m.group(1).split(), m.group(2)
    for s in spans:
        m = re.match(r"^((?:models |farm )?[a-z]+) (--[a-z][a-z-]*)", s)
        if m and m.group(1).split()[0] in commands:
            yield s, m.group(1).split(), m.group(2)


def test_every_flag_the_readme_gives_a_command_is_one_it_takes():
    parser = cli.build_parser()
    seen = set()
    for where, words, rest in _command_mentions(README):
        sub = parser
        for w in words:
            choices = _subcommands(sub) if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions) \
                else {}
            if w not in choices:
                break
            sub = choices[w]
        if sub is parser:
            continue            # "samatte demo" in prose about the demo's folder, "samatte install" ...
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest))
        known = {o for a in sub._actions for o in a.option_strings}
        assert flags <= known, (where, sorted(flags - known))
        seen |= {(" ".join(words), f) for f in flags}
    # the check reads prose too, not only the synopsis
    assert ("status", "--json") in seen and ("qc", "--openjd") in seen and ("farm task", "--models-dir") in seen
    assert "`samatte --version` prints the version" in " ".join(README.split())
    assert cli.main.__module__ == "samatte.cli"
    with pytest.raises(SystemExit) as ei:
        cli.build_parser().parse_args(["--version"])
    assert ei.value.code == 0


# --- every samatte name and repository path the docs give exists ----------------------------------------
def _resolve(ref):
    parts = ref.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    for name in parts[i:]:
        obj = getattr(obj, name)
    return obj


NOT_NAMES = {"samatte.json", "samatte.check"}   # ~/.nuke/samatte.json, <clip>.samatte.json; bpy.ops.samatte.check


@pytest.mark.parametrize("doc", ["README.md", "docs/CONTRACTS.md"])
def test_every_samatte_name_the_docs_give_exists(doc):
    refs = set(re.findall(r"\bsamatte(?:\.[A-Za-z_][A-Za-z0-9_]*)+", _text(doc))) - NOT_NAMES
    assert len(refs) > 20
    missing = []
    for ref in sorted(refs):
        try:
            _resolve(ref)
        except (AttributeError, ImportError) as e:
            missing.append("%s (%s)" % (ref, e))
    assert not missing, missing


@pytest.mark.parametrize("doc", ["README.md", "docs/CONTRACTS.md"])
def test_every_repository_path_the_docs_give_exists(doc):
    paths = set(re.findall(r"\b((?:core|tests|bench|install|nuke_plugin|blender_addon|docs|\.ci)/[\w./*-]*\w\*?)",
                           _text(doc)))
    assert paths
    missing = [p for p in sorted(paths) if not glob.glob(os.path.join(ROOT, p))]
    assert not missing, missing


# --- probe --json: its keys are the README's ------------------------------------------------------------
def test_probe_json_keys_are_the_ones_the_readme_lists(tmp_path, capsys):
    from samatte.demo import make_shot
    shot = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    assert cli.main(["probe", shot["plate"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pixel_type"] == "half"
    coords = " ".join(_section("Coordinates and frames").split())
    m = re.search(r"`samatte probe PATTERN --json` \(or the worker's `probe` request\) returns (.*?)\n?\* ", coords + "\n* ")
    assert m, coords[-800:]
    listed = set(re.findall(r"`([a-z_]+)`", m.group(1)))
    assert set(doc) <= listed, sorted(set(doc) - listed)


# --- environment variables -----------------------------------------------------------------------------
# read by the code but not a user's setting, each with why it is not in the README's table
INTERNAL = {
    "CUDA_VISIBLE_DEVICES": "only the hello message's cheap guess whether a GPU may be there",
    "MALLOC_MMAP_THRESHOLD_": "glibc's own tuning: samatte leaves malloc alone when it is set",
    "OPENIMAGEIO_OPTIONS": "samatte adds its thread counts to what is there",
    "NUMBA_CACHE_DIR": "set by samatte for numba (README: the numba cache of a read-only install)",
    "APPDATA": "where Blender keeps its user folder on Windows (the OS's rule, not samatte's)",
    "XDG_CONFIG_HOME": "where Blender keeps its user folder on Linux (the OS's rule, not samatte's)",
}


def _env_read():
    found = set()
    pats = [r"""environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]*)["']""", r"""getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""]
    for top in ("core", "nuke_plugin", "blender_addon", "install"):
        for path in glob.glob(os.path.join(ROOT, top, "**", "*.py"), recursive=True):
            with open(path, encoding="utf-8") as f:
                src = f.read()
            for pat in pats:
                found |= set(re.findall(pat, src))
    for script in ("install/install.sh", ".ci/run"):
        found |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", _text(script)))
    return found


def test_every_environment_variable_read_is_documented_or_internal():
    m = re.search(r"^### Environment variables\n(.*?)(?=^##)", README, re.S | re.M)
    listed = set(re.findall(r"^\| `([A-Z_0-9]+)`", m.group(1), re.M))
    read = _env_read()
    assert {"PYTHON", "SAMATTE_CI_NO_BLENDER", "BLENDER_USER_RESOURCES", "SAMATTE_THREADS"} <= read
    assert read - set(INTERNAL) <= listed, sorted(read - set(INTERNAL) - listed)
    assert not set(INTERNAL) & listed


# --- the JobSpec section names every value a field takes ------------------------------------------------
def test_the_jobspec_section_names_every_choice_of_its_fields():
    """A TD writing a job by hand found no list of ``output.compression``'s values (nor ``device``'s, nor what
    ``object_layers`` / ``foreground`` / ``quality_map`` leave out) in the JobSpec section."""
    from samatte import jobspec
    section = _section("JobSpec")
    named = set(re.findall(r"`([A-Za-z0-9_:.+-]+)`", section))
    for field, choices in (("tracker.backend", jobspec.TRACKER_BACKENDS), ("matte.backend", jobspec.MATTE_BACKENDS),
                           ("matte.quality", jobspec.MATTE_QUALITIES), ("output.compression", jobspec.COMPRESSIONS),
                           ("device", jobspec.DEVICES)):
        assert set(choices) <= named, (field, sorted(set(choices) - named))
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    shown = {p["type"] for ob in example["objects"] for p in ob.get("prompts", [])}
    assert shown == set(jobspec.PROMPT_TYPES)       # the example shows every prompt type
    for field in ("object_layers", "foreground", "quality_map", "compression", "overwrite", "keep_other_plates"):
        assert "`output.%s`" % field in section, field


# --- cross references ----------------------------------------------------------------------------------
def test_every_cross_reference_names_a_heading_or_a_bold_lead():
    """``see *Cache and resume*``, ``sections "Nuke" and "Blender"``, ``[Prompts](#prompts)``: each names a
    heading of the README (its first words will do: *Quick start*) or a bold paragraph lead (**Chunks.**)."""
    text = re.sub(r"```.*?```", "", README, flags=re.S)           # code blocks: comments are no headings
    heads = [h.strip() for h in re.findall(r"^#+ (.*)$", text, re.M)]
    bold = {b.strip().rstrip(".") for b in re.findall(r"\*\*([^*]+?)\*\*", text)}
    refs = set(re.findall(r"(?<![*\w])\*([A-Z][^*\n]{2,60}?)\*(?![*\w])", text))
    refs |= set(re.findall(r"(?:[Ss]ections?|see) \"([^\"]+)\"", text))
    refs |= set(re.findall(r"(?:[Ss]ections?) \"[^\"]+\" and \"([^\"]+)\"", text))
    assert {"Cache and resume", "Farm and TD scripting", "Nuke", "Blender"} <= refs
    unknown = [r for r in sorted(refs)
               if r.rstrip(".") not in bold and not any(h == r or h.startswith(r + " ") for h in heads)]
    assert not unknown, unknown
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in heads}
    links = set(re.findall(r"\]\(#([a-z0-9-]+)\)", text))
    assert links and links <= anchors, sorted(links - anchors)


# --- the result of a job: every key is described ----------------------------------------------------------
def test_every_key_of_a_jobs_result_is_described_in_the_python_api_section(tmp_path):
    """The README's result comment ended in ``...``: ``tracked``, ``track_reused``, ``preroll``, ``keys``,
    ``plate``, ``work_dir`` were nowhere; a TD reading a chunk's result had to print it to learn them."""
    from samatte import jobspec, pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    result = pipeline.run(job)
    section = " ".join(_section("Python API").split())
    described = set(re.findall(r"\"([a-z_]+)\"", section)) | set(re.findall(r"`([a-z_]+)`", section))
    assert set(result) <= described, sorted(set(result) - described)
    for part in ("colour", "plate"):
        assert set(result[part]) <= described, (part, sorted(set(result[part]) - described))
    assert set(result["keys"]["1001"]) <= described
    assert result["tracked"] == [1001, 1002] and result["preroll"] == []
    contract = re.search(r"Result dict of a job: (.*?)\n\n", CONTRACTS, re.S).group(1)
    assert set(result) <= set(re.findall(r"\"([a-z_]+)\"", contract)) | set(re.findall(r"`([a-z_]+)`", contract))


def test_a_job_given_on_the_wire_as_a_path_is_protocol_invalid_as_the_table_says():
    from samatte import errors, protocol
    row = next(ln for ln in _section("Worker protocol").splitlines() if ln.startswith("| host → worker | `job`"))
    assert "its path or JSON text is `PROTOCOL_INVALID` on the wire, `WorkerClient` reads those for you" in row
    for kind in ("job", "validate", "status"):
        with pytest.raises(errors.ProtocolError) as ei:
            protocol.decode(json.dumps({"type": kind, "v": 1, "id": "j1", "job": "/jobs/sh010.json"}))
        assert ei.value.code == "PROTOCOL_INVALID" and ei.value.details.get("field") == "job"


def test_the_synopsis_choices_are_the_commands_choices():
    """``--stage track|matte|all``, ``--tracker auto|flow|sam2|shapes``...: each list the synopsis gives is what
    the command takes, less the reserved ``matanyone`` (DEPENDENCY_MISSING in this build)."""
    block = re.search(r"^## Command line\n.*?```text\n(.*?)```", README, re.S | re.M).group(1)
    parser = cli.build_parser()
    checked = 0
    for text in re.split(r"\n(?=samatte )", block.strip()):
        words = text.split()[1:]
        sub = parser
        for w in [words[0]] + ([words[1]] if words[0] in ("models", "farm") else []):
            sub = _subcommands(sub)[w]
        for flag, values in re.findall(r"(--[a-z-]+) ([a-z0-9]+(?:\|[a-z0-9]+)+)", text):
            action = next(a for a in sub._actions if flag in a.option_strings)
            assert set(values.split("|")) == set(action.choices) - {"matanyone"}, (words[0], flag)
            checked += 1
    assert checked >= 5


def test_the_nuke_setup_scripts_options_are_in_the_nuke_section():
    script = os.path.join(ROOT, "nuke_plugin", "samatte_nuke", "setup_nuke.py")
    p = subprocess.run([sys.executable, script, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    assert p.returncode == 0, p.stderr
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", p.stdout)) - {"--help"}
    assert options == {"--python", "--nuke-dir"}
    nuke = _section("Nuke")
    at = nuke.index("setup_nuke.py --python")
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", nuke[at:at + 200]))
    assert options <= documented, sorted(options - documented)


def test_every_option_of_every_command_says_what_it_does_in_its_help():
    """``samatte farm task --help`` listed --root, --stage, --frames, --preroll, --qc and --report with no word
    of what they do (a TD running a task by hand, or reading a failed one's command line, had only the README);
    ``track --tracker`` and ``refine --quality`` neither."""
    def walk(parser, words):
        yield words, parser
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield from walk(sub, words + [name])
    silent = [(" ".join(words), a.option_strings[0]) for words, p in walk(cli.build_parser(), [])
              for a in p._actions if a.option_strings and not a.help and "--help" not in a.option_strings]
    assert not silent, silent


def test_the_workers_options_are_in_the_worker_protocol_section():
    p = subprocess.run([sys.executable, "-m", "samatte.worker", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "core")))
    assert p.returncode == 0, p.stderr
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", p.stdout)) - {"--help"}
    assert {"--threads", "--log-level", "--pipeline"} <= options
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", _section("Worker protocol")))
    assert options <= documented, sorted(options - documented)
    assert "what its log messages carry" in " ".join(p.stdout.split())      # before: no help text


# --- the versions the README names are the pins -------------------------------------------------------
def _pins():
    pins = {}
    for req in ("install/requirements.txt", "install/requirements-sam2.txt"):
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([0-9][0-9.]*)\s*$", _text(req), re.M):
            pins[name.lower()] = version
    pins["sam2"] = re.search(r'SAM2_PIN = "sam2==([0-9.]+)"', _text("install/install.py")).group(1)
    setup = _text("tests/blender/setup_bpy.sh")
    pins["bpy"] = set(re.findall(r'spec="bpy==([0-9.]+)"', setup))
    return pins


def test_the_package_versions_the_readme_names_are_the_pins():
    """The Installing section explains the 3.11 / 3.12 rule by the pins (scipy 1.17.1, numpy 1.26.4), and the
    README names torch's, sam2's, openjd-cli's and bpy's versions: a bump of a pin must bring its sentence."""
    pins = _pins()
    flat = " ".join(README.split())
    named = re.findall(r"\b(numpy|scipy|torch|sam2|openjd-cli|bpy)(?: |==)([0-9]+\.[0-9]+\.[0-9]+)\b", flat)
    assert {n for n, _ in named} >= {"numpy", "scipy", "torch", "sam2", "openjd-cli", "bpy"}
    for name, version in named:
        want = pins[name]
        assert version in want if isinstance(want, set) else version == want, (name, version, want)
    sh = _text("install/install.sh")
    assert "scipy %s needs 3.11+, numpy %s stops at 3.12" % (pins["scipy"], pins["numpy"]) in " ".join(sh.split())


def test_every_metadata_key_a_frame_carries_is_in_the_output_exrs_section(tmp_path):
    """A TD reading a matte's metadata (Nuke's metadata viewer, oiiotool --info) found ``samatte/frame`` and the
    exact names of the version / job / tracker / matte / model keys nowhere; ``capDate`` is OpenImageIO's
    DateTime, written empty (no time stamp, as the section says)."""
    from samatte import exrheader, jobspec, pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])], host_name="Hero 1")
    result = pipeline.run(job)
    attrs = exrheader.read_attributes(result["written"][0])
    ours = {k for k in attrs if k.startswith("samatte/")}
    assert {"samatte/frame", "samatte/objects", "samatte/host_names", "samatte/model"} <= ours
    section = _section("Output EXRs")
    documented = set(re.findall(r"`(samatte/[a-z_]+)`", section))
    assert ours <= documented, sorted(ours - documented)
    assert attrs["capDate"][1] == b"" and "No time stamp" in section


def test_every_field_validate_accepts_is_in_the_readme_and_label_is_in_no_key(tmp_path):
    """The README named every JobSpec field but a prompt's ``label`` (which the Nuke node writes on every prompt
    it gathers: a TD reading its job.json met an undocumented field)."""
    import ast
    import inspect
    from samatte import cachekey, jobspec
    src = inspect.getsource(jobspec)
    names = set()
    for m in re.finditer(r"_check_unknown\(\w+, (?:common \+ )?(\([^)]*\))", src):
        names.update(ast.literal_eval(m.group(1)))
    names.update(ast.literal_eval(re.search(r"common: tuple = (\([^)]*\))", src).group(1)))
    assert "label" in names
    missing = sorted(n for n in names if not re.search(r'(`|")(\w+\.)?%s(`|"|:)' % re.escape(n), README))
    assert not missing, missing
    # "in no key", as the README says
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))

    def keys(label):
        job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
        prompt = jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])
        if label:
            prompt["label"] = label
        jobspec.add_object(job, "hero", [prompt])
        return cachekey.frame_keys(jobspec.validate(job), resolved={"tracker": "shapes", "matte": "none"})
    assert keys(None) == keys("Roto1/Bezier1")
    assert "a prompt's `label`" in _section("Cache and resume")


def test_auto_needs_torch_and_sam2_beside_the_weights_as_the_installing_table_says(monkeypatch):
    """``install.sh --no-sam2`` alone still fetched the weights (the log of a fresh install shows the download),
    which such a venv never uses: ``auto`` takes SAM 2 only where torch and sam2 import. The table says to add
    --no-weights."""
    import importlib.util as u
    from samatte import models, pipeline
    monkeypatch.setattr(models, "find_weights", lambda name: "/models/sam2.1_hiera_tiny.pt")
    real = u.find_spec
    monkeypatch.setattr(u, "find_spec", lambda name, *a: None if name in ("torch", "sam2") else real(name, *a))
    assert pipeline._sam2_available("sam2.1_hiera_tiny") is False
    row = next(ln for ln in _section("Installing").splitlines() if ln.startswith("| `--no-sam2`"))
    assert "Add `--no-weights` too" in row and "`auto` needs torch and SAM 2" in row


def test_status_json_keys_are_the_ones_the_readme_lists(tmp_path, capsys):
    from samatte import jobspec
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    path = str(tmp_path / "job.json")
    jobspec.save(job, path)
    assert cli.main(["status", path, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["frames"] == {"1001": "missing", "1002": "missing"}
    line = " ".join(_section("Command line").split())
    m = re.search(r"`status --json` is one object: (.*?)\(\*Farm and TD scripting\*\)", line)
    assert m, "no list of status --json's keys"
    assert set(doc) <= set(re.findall(r"`([a-z_]+)`", m.group(1))), sorted(set(doc))


def test_qc_json_keys_are_the_ones_the_readme_lists(tmp_path):
    from samatte import jobspec, pipeline
    from samatte.demo import make_shot
    from samatte.farm.qc import run_qc
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), tracker="shapes", matte="none")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job, frames="1001")
    report = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    assert report["failed"] == [1002] and not report["ok"]
    farm = " ".join(_section("Farm and TD scripting").split())
    start = farm.index("**QC** (`samatte qc`")
    qc = farm[start:farm.index("* `Frames` is an OpenJD range expression", start)]
    named = set(re.findall(r"`([a-z_]+)`", qc))
    assert set(report) <= named, sorted(set(report) - named)
    assert set(report["counts"]) <= named
    for entry in report["frames"].values():
        assert set(entry) <= named | {"status", "problem", "score"}, sorted(set(entry) - named)


def test_farm_export_json_keys_are_the_ones_the_readme_lists(tmp_path):
    from samatte import jobspec
    from samatte.farm import export_openjd
    job = jobspec.new_job(str(tmp_path / "plate.####.exr"), str(tmp_path / "out" / "m.####.exr"), frames="1-3",
                          tracker="flow", matte="refine")
    jobspec.add_object(job, "hero", [jobspec.box_prompt(1, [1, 1, 5, 5])])
    result = export_openjd(jobspec.validate(job), str(tmp_path / "bundle"), python="/opt/samatte/bin/python",
                           models_dir="")
    line = " ".join(_section("Command line").split())
    m = re.search(r"`farm export --json` the export's result \((.*?)\)\.", line)
    assert m
    assert set(result) <= set(re.findall(r"`([a-z_]+)`", m.group(1))), sorted(result)
