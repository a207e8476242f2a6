"""QA, documentation pass after the day of --threads, OUT_OF_MEMORY and the models checks: what the README,
docs/CONTRACTS.md and the CLI's --help say about them, held to the code.

* A bad thread count (``--threads x``, ``$SAMATTE_THREADS=nope``) keeps the CLI's documented output
  contracts: a ``--json`` document command prints the one ``error`` document (before: nothing on stdout), an
  OpenJD task (``run --openjd``, ``qc --openjd``, ``farm task``) its ``openjd_fail:`` line (before: none).
* Every command that runs a job takes ``--threads`` (its --help, the README's synopsis, the worker).
* Every flag a command's --help lists is in the README's *Command line* section.
* The top-level ``samatte --help`` lists every exit status of ``samatte.errors.EXIT_CODES``.
* The README's list of environment variables names every one samatte reads.
* ``info --json`` / ``models list --json``: the keys the README describes are the keys produced.
* docs/CONTRACTS.md names ``samatte.threads``, ``OUT_OF_MEMORY`` and ``--threads``.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import pytest

from samatte import cli, errors

from test_qa_farm_node import _env  # (the farm-node tests' child environment: no thread variables of this process)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _text(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _readme():
    return _text("README.md")


def _section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), _readme(), re.S | re.M)
    assert m, "README has no section %r" % title
    return m.group(1)


def _flat(text):
    return " ".join(text.split())


def _samatte(args, **env):
    return subprocess.run([sys.executable, "-m", "samatte"] + list(args), env=_env(**env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)


# -- a bad thread count keeps the documented output contracts (regression) -------------------------------

@pytest.mark.parametrize("args, env", [
    (["info", "--json"], {"SAMATTE_THREADS": "nope"}),
    (["qc", "job.json", "--json", "--threads", "x"], {}),
    (["status", "job.json", "--json"], {"SAMATTE_THREADS": "-1"}),
])
def test_a_bad_thread_count_with_json_is_the_one_error_document(args, env, tmp_path):
    # README (Command line): probe, status, info, models list, qc and farm export with --json print exactly one
    # JSON document: their result or the protocol's error message. Before: nothing on stdout, the error on stderr.
    p = subprocess.run([sys.executable, "-m", "samatte"] + args, env=_env(**env), cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    assert doc["type"] == "error" and doc["code"] == "JOBSPEC_INVALID", doc
    assert doc["details"]["field"] in ("--threads", "SAMATTE_THREADS")


@pytest.mark.parametrize("args", [
    ["run", "job.json", "--openjd", "--threads", "x"],
    ["qc", "job.json", "--openjd", "--threads", "x"],
    ["farm", "task", "farm.json", "--stage", "all", "--frames", "1-2", "--threads", "x"],
])
def test_a_bad_thread_count_is_an_openjd_tasks_failure_reason(args, tmp_path):
    # README (Command line): `openjd_fail: [CODE] message` once, when it fails. Before: no line, the render
    # manager's reason read only "exit status 2".
    p = subprocess.run([sys.executable, "-m", "samatte"] + args, env=_env(), cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    fails = [ln for ln in p.stdout.splitlines() if ln.startswith("openjd_fail:")]
    assert fails == ["openjd_fail: [JOBSPEC_INVALID] --threads must be a whole number of threads >= 1, or auto, "
                     "not 'x'"], p.stdout


def test_a_bad_thread_count_in_a_run_json_stream_ends_it_with_the_error():
    p = _samatte(["run", "job.json", "--json", "--threads", "0.5"])
    assert p.returncode == 2
    msg = json.loads(p.stdout.splitlines()[-1])
    assert (msg["type"], msg["code"]) == ("error", "JOBSPEC_INVALID")


# -- --threads everywhere a job runs ---------------------------------------------------------------------

def _subparser(parser, words):
    for w in words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[w]
    return parser


def _commands(parser, prefix=()):
    """Every leaf command of the parser: (words, subparser)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, p in subs[0].choices.items():
        yield from _commands(p, prefix + (name,))


JOB_COMMANDS = {("run",), ("track",), ("refine",), ("demo",), ("qc",), ("farm", "task")}


def test_every_command_that_runs_a_job_takes_threads_and_the_readme_synopsis_says_so():
    parser = cli.build_parser()
    block = re.search(r"^## Command line\n.*?```text\n(.*?)```", _readme(), re.S | re.M).group(1)
    synopsis = {}
    for text in re.split(r"\n(?=samatte )", block.strip()):
        words = text.split()[1:]
        synopsis[tuple(words[:2] if words[0] in ("models", "farm") else words[:1])] = text
    taking = set()
    for words, sub in _commands(parser):
        opts = {o for a in sub._actions for o in a.option_strings}
        if "--threads" in opts:
            taking.add(words)
            assert "[--threads N]" in synopsis[words], words
        else:
            assert "--threads" not in synopsis[words], words
    assert taking == JOB_COMMANDS
    readme = _flat(_section("Command line"))
    assert "`run`, `track`, `refine`, `demo`, `qc` and `farm task` take it" in readme
    # the worker too (hosts start it; python -m samatte.worker --threads N)
    p = subprocess.run([sys.executable, "-m", "samatte.worker", "--help"], env=_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert "--threads N" in p.stdout
    assert "python -m samatte.worker --threads N" in readme


def test_every_flag_of_every_commands_help_is_in_the_readme_command_line_section():
    parser = cli.build_parser()
    section = _section("Command line")
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", section))
    for words, sub in _commands(parser):
        opts = {o for a in sub._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
        assert opts <= documented, (words, sorted(opts - documented))


def test_the_threads_help_says_what_the_readme_says():
    run = _subparser(cli.build_parser(), ["run"])
    help_text = _flat(next(a.help for a in run._actions if "--threads" in a.option_strings))
    for word in ("$SAMATTE_THREADS", "$OMP_NUM_THREADS", "auto or 0", "cgroup", "two at a time"):
        assert word in help_text, word


# -- exit statuses ---------------------------------------------------------------------------------------

def test_the_top_level_help_lists_every_exit_status():
    text = _flat(cli.build_parser().format_help())
    statuses = sorted(set(errors.EXIT_CODES.values()) | {0})
    for status in statuses:
        codes = sorted(c for c, s in errors.EXIT_CODES.items() if s == status)
        for code in codes:
            assert re.search(r"\b%d\b[^;]*%s" % (status, code), text), (status, code, text)
    assert "OUT_OF_MEMORY" in text and "10" in text


def test_the_cli_module_docstring_lists_every_exit_status():
    doc = _flat(cli.__doc__)
    for status in sorted(set(errors.EXIT_CODES.values())):
        assert re.search(r"\b%d\b" % status, doc), status


# -- environment variables -------------------------------------------------------------------------------

def _env_vars_read():
    found = set()
    for top in ("core", "nuke_plugin", "blender_addon", "install"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    src = f.read()
                found |= set(re.findall(r"""environ(?:\.get)?[\[(]\s*["'](SAMATTE_[A-Z0-9_]+)["']""", src))
    return found


def test_the_readme_list_of_environment_variables_names_every_one_samatte_reads():
    m = re.search(r"^### Environment variables\n(.*?)(?=^##)", _readme(), re.S | re.M)
    assert m, "README has no 'Environment variables' list"
    listed = set(re.findall(r"^\| `([A-Z_0-9]+)`", m.group(1), re.M))
    read = _env_vars_read()
    assert "SAMATTE_THREADS" in read
    assert read <= listed, sorted(read - listed)
    assert {"OMP_NUM_THREADS", "OCIO"} <= listed


# -- JSON documents: the keys described are the keys produced ---------------------------------------------

def test_info_json_keys_are_the_ones_the_readme_describes():
    p = _samatte(["info", "--json"])
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    m = re.search(r"`info --json`: one object with (.*?)\.(?:\s|$)", _flat(_section("Command line")))
    assert m, "README (Command line) does not describe info --json"
    top = m.group(1)
    while re.search(r"\([^()]*\)", top):          # what a key holds, in brackets, names no top-level key
        top = re.sub(r"\([^()]*\)", "", top)
    described = set(re.findall(r"`([a-z_]+)`", top)) | {"models_error"}
    produced = set(doc)
    assert produced - {"models_error"} <= described, sorted(produced - described)
    assert described - {"models_error"} <= produced, sorted(described - produced)
    assert set(doc["threads"]) == {"threads", "source", "cpus"}
    assert doc["threads"]["source"] in ("--threads", "SAMATTE_THREADS", "OMP_NUM_THREADS", "cpus")


def test_models_list_json_keys_are_the_ones_the_readme_describes():
    p = _samatte(["models", "list", "--json"])
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    readme = _flat(_section("Command line"))
    m = re.search(r'`models list --json`: `\{"models_dir", "models": \[\{(.*?)\}\]\}`', readme)
    assert m, "README (Command line) does not describe models list --json"
    described = set(re.findall(r'"([a-z_0-9]+)"', m.group(1)))
    assert set(doc) == {"models_dir", "models"}
    for row in doc["models"]:
        assert set(row) == described, sorted(set(row) ^ described)


# -- docs/CONTRACTS.md -----------------------------------------------------------------------------------

def test_contracts_name_the_thread_budget_and_out_of_memory():
    text = _text("docs/CONTRACTS.md")
    for name in ("samatte.threads", "budget(", "configure(", "describe()", "OUT_OF_MEMORY", "known_failure",
                 "object_threads()", "weights_status("):
        assert name in text, name
    cli_rows = [ln for ln in text.splitlines() if "samatte farm task FARM_JOB.json" in ln or "CLI: `samatte run JOB" in ln]
    assert cli_rows and all("[--threads N]" in ln for ln in cli_rows)


def test_every_model_name_a_job_accepts_is_in_the_readme():
    # README (Tracking settings) said "or tiny, small, base_plus, large; another name is JOBSPEC_INVALID", but
    # t, s, base+, b+, l and the checkpoint file names are accepted too (registry.MODEL_ALIASES).
    from samatte import registry
    text = _flat(_section("Tracking settings"))
    for name in list(registry.TRACKER_MODELS) + list(registry.MODEL_ALIASES):
        if name != "sam2.1_hiera_b+":                     # the one alias that is only a spelling of a file name
            assert "`%s`" % name in text, name
        assert registry.model_name(name)
    assert "`sam2.1_hiera_tiny.pt`" in text and registry.model_name("sam2.1_hiera_tiny.pt")


def test_a_scripts_memory_error_is_turned_into_out_of_memory_as_the_readme_says():
    # README (Python API): the machine's failures reach a script as Python raised them; known_failure gives
    # the samatte error the CLI reports (OUT_OF_MEMORY, exit 10), anything else unchanged.
    assert "`samatte.errors.known_failure(e)`" in _flat(_section("Python API"))
    e = errors.known_failure(MemoryError("Unable to allocate 9.00 GiB"))
    assert isinstance(e, errors.OutOfMemoryError) and e.code == "OUT_OF_MEMORY" and e.exit_code == 10
    other = ValueError("x")
    assert errors.known_failure(other) is other
