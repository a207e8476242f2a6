"""QA, documentation pass after day 3 of the 0.2.19 work (farm threads, whole-ms plate stamps, the deflated
track cache, QC day, host progress / cancel grace): what README.md, docs/CONTRACTS.md and .ci/run say, held
to the code.

* ``farm export --task-threads N`` / ``api.export(threads=N)`` set the template's ``Threads`` parameter,
  which every task passes as ``--threads={{Param.Threads}}``; a bad count is ``JOBSPEC_INVALID``.
* ``status --json``'s ``problems`` and ``qc.json``'s ``problem`` / ``fix`` / ``fixes`` say what the README
  says, for a frame missing an object's layer, a truncated frame and a file samatte did not write.
* The stored track files are deflated, as the docs now say; plate stamps count whole milliseconds.
* ``samatte.client.CANCEL_GRACE_S`` and the stderr line cut are the figures the README gives.
* No "until <this version>" phrase (this version is the one that changed it), the version paragraph names it.
* .ci/run runs the README's two Quick start commands (before: it never ran ``samatte demo``).
"""
import inspect
import json
import os
import re
import subprocess
import sys
import zipfile

import pytest

import samatte
from samatte import api, cachekey, client

from test_qa_farm_node import _env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _text(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _flat(text):
    return " ".join(text.split())


def _section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), _text("README.md"), re.S | re.M)
    assert m, "README has no section %r" % title
    return m.group(1)


def _samatte(args, cwd):
    return subprocess.run([sys.executable, "-m", "samatte"] + list(args), env=_env(), cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A 4-frame 96x64 two-object flow job, run; then frame 1002 loses ``wall.A`` (a tool rewrote it, key
    kept), 1003 is cut in half and 1004 is a plate frame (not samatte's)."""
    from samatte.demo import make_shot
    import OpenImageIO as oiio
    tmp = tmp_path_factory.mktemp("docs_day3")
    s = make_shot(str(tmp / "src"), frames=4, size=(96, 64))
    k = s["prompt_frame"]
    job = api.job(s["plate"], str(tmp / "out" / "m.####.exr"),
                  prompts={"hero": [{"type": "box", "frame": k, "box": [20, 10, 70, 50]}],
                           "wall": [{"type": "box", "frame": k, "box": [0, 0, 20, 20]}]},
                  tracker="flow", matte="refine", quality="draft")
    api.save(job, str(tmp / "job.json"))
    api.run(job)
    track = sorted(os.listdir(str(tmp / "out" / ".samatte" / "m" / "m..exr" / "track")))
    out = tmp / "out"
    src = str(out / "m.1002.exr")
    inp = oiio.ImageInput.open(src)
    spec, px = inp.spec(), inp.read_image(oiio.FLOAT)
    inp.close()
    names = list(spec.channelnames)
    keep = [i for i, n in enumerate(names) if n != "wall.A"]
    ns = oiio.ImageSpec(spec)
    ns.nchannels, ns.channelnames = len(keep), tuple(names[i] for i in keep)
    o = oiio.ImageOutput.create(src)
    o.open(src + ".x.exr", ns)
    o.write_image(px[:, :, keep])
    o.close()
    os.replace(src + ".x.exr", src)
    with open(str(out / "m.1003.exr"), "rb") as f:
        data = f.read()
    with open(str(out / "m.1003.exr"), "wb") as f:
        f.write(data[:len(data) // 2])
    with open(s["plate"].replace("####", "1004"), "rb") as f:
        data = f.read()
    with open(str(out / "m.1004.exr"), "wb") as f:
        f.write(data)
    return {"dir": tmp, "job": job, "track": track}


# -- farm export --task-threads / Threads -------------------------------------------------------------

def test_task_threads_sets_the_Threads_parameter_every_task_passes(shot, tmp_path):
    # README (Farm and TD scripting): `Threads` (INT job parameter, default 0 or --task-threads N /
    # export_openjd(..., threads=N)): every task runs `samatte farm task ... --threads={{Param.Threads}}`.
    synopsis = _flat(_section("Command line"))
    assert "[--task-threads N]" in synopsis
    farm = _flat(_section("Farm and TD scripting"))
    assert "--threads={{Param.Threads}}" in farm and "--task-threads N" in farm
    p = _samatte(["farm", "export", "job.json", "--openjd", str(tmp_path / "b"), "--task-threads", "3", "--json"],
                 shot["dir"])
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    assert doc["parameters"]["Threads"] == 3
    template = open(str(tmp_path / "b" / "template.yaml"), encoding="utf-8").read()
    m = re.search(r'- "name": "Threads"\n    "type": "INT"\n    "default": (\d+)', template)
    assert m and m.group(1) == "3", template[:2000]
    assert template.count('"--threads={{Param.Threads}}"') == len(doc["steps"]) >= 2, doc["steps"]
    # the API's spelling, as the README and CONTRACTS give it, and 0 (the default) for the node's own choice
    bundle = api.export(str(shot["dir"] / "job.json"), str(tmp_path / "c"), threads=2)
    assert json.load(open(os.path.join(bundle, "openjd_params.json")))["Threads"] == 2
    bundle = api.export(str(shot["dir"] / "job.json"), str(tmp_path / "d"))
    assert json.load(open(os.path.join(bundle, "openjd_params.json")))["Threads"] == 0
    contracts = _flat(_text("docs/CONTRACTS.md"))
    assert "[--task-threads N]" in contracts and "`Threads` (INT" in contracts
    assert "task_timeout=None, threads=0) -> dict" in contracts


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_a_bad_task_thread_count_is_jobspec_invalid_naming_the_flag_before_anything_is_written(shot, tmp_path,
                                                                                                value):
    # before: `x` / `1.5` an argparse usage message, `-1` an error naming the field `threads`, not the flag
    p = _samatte(["farm", "export", "job.json", "--openjd", str(tmp_path / "b"), "--task-threads=" + value, "--json"],
                 shot["dir"])
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["code"] == "JOBSPEC_INVALID" and doc["details"]["field"] == "--task-threads", doc
    assert not os.path.exists(str(tmp_path / "b"))


def test_task_threads_auto_is_the_nodes_own_choice_as_for_threads(shot, tmp_path):
    # README: `--threads N` (`auto` or `0`: the default); `--task-threads` reads the same words (before: `auto`
    # was an argparse usage error, exit 2, for the value `--threads` takes)
    p = _samatte(["farm", "export", "job.json", "--openjd", str(tmp_path / "b"), "--task-threads", "auto", "--json"],
                 shot["dir"])
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["parameters"]["Threads"] == 0
    assert "`--task-threads N` (`auto` or `0` as for `--threads`)" in _flat(_section("Farm and TD scripting"))


def test_the_api_signatures_the_readme_gives_are_the_code_s():
    # README (Farm and TD scripting) spells out api.job / run / export / scores / qc: their keyword
    # arguments and defaults are the code's (api.export's threads=0 was missing from both docs).
    text = _flat(_section("Farm and TD scripting"))
    contracts = _flat(_text("docs/CONTRACTS.md"))
    for name in ("job", "run", "export", "scores", "qc", "save", "status"):
        sig = inspect.signature(getattr(api, name))
        m = re.search(r"`api\.%s\(([^`]*)\)`" % name, text)
        assert m, name
        documented = [("**" if a.strip().startswith("**") else a.strip())
                      for a in m.group(1).split(",") if a.strip() and a.strip() != "*"]
        code = ["**" if p.kind is p.VAR_KEYWORD else
                (p.name if p.default is p.empty else "%s=%s" % (p.name, json.dumps(p.default) if isinstance(p.default, str) else p.default))
                for p in sig.parameters.values()]
        # positional names may differ (job_ for job); keywords and defaults may not
        assert [d for d in documented if "=" in d or d.startswith("**")] == \
            [c for c in code if "=" in c or c.startswith("**")], (name, documented, code)
        assert len(documented) == len(code), (name, documented, code)
    assert "models_dir=None, threads=0, frames=None) -> bundle folder" in contracts


# -- status --json problems, qc.json fixes -------------------------------------------------------------

def test_status_json_problems_say_what_the_readme_says(shot):
    p = _samatte(["status", "job.json", "--json"], shot["dir"])
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    assert doc["frames"] == {"1001": "complete", "1002": "stale", "1003": "stale", "1004": "stale"}
    probs = doc["problems"]
    assert set(probs) == {"1002", "1003", "1004"}
    assert probs["1002"] == {"problem": "missing layer(s) wall.A", "status": "stale"}
    assert probs["1003"]["problem"].startswith("truncated") and probs["1003"]["status"] == "stale"
    assert probs["1004"]["status"] == "foreign"
    readme = _flat(_section("Command line"))
    for words in ('"missing layer(s) box.A"', '"truncated ..."', "`foreign`", "`problems`"):
        assert words in readme
    text = _samatte(["status", "job.json"], shot["dir"])
    assert re.search(r"^foreign 1004: ", text.stdout, re.M), text.stdout


def test_qc_json_problem_fix_and_fixes_are_what_the_readme_lists(shot):
    p = _samatte(["qc", "job.json", "--report", "qcr"], shot["dir"])
    assert p.returncode == 5, p.stderr[-2000:]
    report = json.load(open(str(shot["dir"] / "qcr" / "qc.json")))
    frames = report["frames"]
    assert [frames[f]["fix"] for f in ("1001", "1002", "1003", "1004")] == [None, "rerun", "rerun", "remove"]
    assert frames["1002"]["problem"] == "missing layer(s) wall.A"
    assert set(frames["1001"]["object_scores"]) == set(frames["1001"]["coverage"]) == {"hero", "wall"}
    assert report["fixes"]["rerun"]["frames"] == "1002-1003" and report["fixes"]["remove"]["frames"] == "1004"
    for kind, fix in report["fixes"].items():
        assert set(fix) == {"frames", "hint"} and fix["hint"] in p.stdout   # "which the text output prints too"
    assert isinstance(report["warnings"], list) and isinstance(report["low_scores"], list)
    readme = _flat(_section("Farm and TD scripting"))
    for key in ("`fix` (`rerun`, `remove`", "`inspect`", "`fixes`", "`low_scores`", "`coverage`", "`warnings`",
                "per-object scores"):
        assert key in readme, key
    contracts = _flat(_text("docs/CONTRACTS.md"))
    assert "`fixes`: kind -> `{\"frames\", \"hint\"}`" in contracts and "`problems`: frame ->" in contracts


# -- the track cache, plate stamps ---------------------------------------------------------------------

def test_stored_track_files_are_deflated_npz_as_documented(shot):
    track_dir = str(shot["dir"] / "out" / ".samatte" / "m" / "m..exr" / "track")
    assert shot["track"] and all(re.match(r"^\d+\.o[01]\.npz$", n) for n in shot["track"]), shot["track"]
    with zipfile.ZipFile(os.path.join(track_dir, shot["track"][0])) as z:
        assert z.infolist() and all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    assert "each member deflated" in _flat(_section("Cache and resume"))
    assert "deflated at level 1" in _text("docs/CONTRACTS.md")


def test_plate_stamps_count_whole_milliseconds_as_the_docs_say():
    assert cachekey.MTIME_UNIT_NS == 1_000_000 and cachekey.KEY_VERSION == 3
    cache = _flat(_section("Cache and resume"))
    # (the release that made it: 0.2.19, not whatever version is current; 0.2.20 failed here)
    assert "The mtime counts in whole milliseconds (since 0.2.19, KEY_VERSION %d)" % cachekey.KEY_VERSION in cache
    assert "1 ms since KEY_VERSION 3" in _text("docs/CONTRACTS.md")
    # nothing says a current stamp counts 100 ns
    for doc in (_flat(_text("README.md")), _flat(_text("docs/CONTRACTS.md"))):
        assert "whole 100 ns" not in doc and "mtimes in whole 100" not in doc


# -- the client: cancel grace, stderr lines ------------------------------------------------------------

def test_cancel_grace_and_the_stderr_line_cut_are_the_readme_s_figures():
    proto = _flat(_section("Worker protocol"))
    m = re.search(r"`samatte\.client\.CANCEL_GRACE_S`, (\d+)", proto)
    assert m and float(m.group(1)) == client.CANCEL_GRACE_S
    assert "`alive()`" in proto and "details `worker_ended`" in proto
    assert "a line over %d bytes cut to its first %d and last %d" % (
        client._STDERR_HEAD + client._STDERR_END, client._STDERR_HEAD, client._STDERR_END) in proto
    # the handle's own default is the constant
    assert "self.cancel_grace = CANCEL_GRACE_S" in inspect.getsource(client.JobHandle.__init__)
    assert "CANCEL_GRACE_S" in _text("docs/CONTRACTS.md")
    # the reader keeps a line of exactly head + end bytes whole, and cuts one a byte longer
    import collections
    import io
    n = client._STDERR_HEAD + client._STDERR_END
    for size, kept in ((n, n), (n + 1, n)):
        tail = collections.deque()
        client._read_stderr(tail, io.BytesIO(b"x" * size + b"\n"))
        text = "".join(str(x) for x in tail)
        assert text.count("x") == kept, (size, text.count("x"))
        assert ("left out" in text) == (size > n), text[-200:]


# -- versions ------------------------------------------------------------------------------------------

def test_no_until_this_version_phrase_and_the_version_paragraph_names_it():
    # "until 0.2.13 the first listed took it": the README's 'until X' names the version that changed it.
    # 'until <this version>' then says this version still does the old thing (it does not).
    v = samatte.__version__
    parts = [int(x) for x in v.split(".")]
    for name in ("README.md", "docs/CONTRACTS.md"):
        doc = _flat(_text(name))
        for m in re.finditer(r"\b(?:until|since) (\d+)\.(\d+)\.(\d+)\b", doc, re.I):
            said = [int(m.group(i)) for i in (1, 2, 3)]
            assert said <= parts, (name, m.group(0), v)
            if m.group(0).lower().startswith("until"):
                assert said < parts, (name, doc[max(0, m.start() - 80):m.end() + 80])
    cache = _flat(_section("Cache and resume"))
    prev = "%d.%d.%d" % (parts[0], parts[1], parts[2] - 1)
    assert re.search(r"and %s \(.*?\) those written by %s\." % (re.escape(v), re.escape(prev)), cache), v


# -- the README's two commands are CI's ----------------------------------------------------------------

def test_ci_runs_the_readme_quick_start_commands_as_written():
    quick = _section("Quick start (two commands)")
    blocks = re.findall(r"```bash\n(.*?)```", quick, re.S)
    assert [b.strip() for b in blocks] == ["bash install/install.sh && .venv/bin/samatte demo",
                                          ".venv/bin/python -m pytest -q"]
    ci = [ln.strip() for ln in _text(".ci/run").splitlines() if ln.strip() and not ln.strip().startswith("#")]
    install = [ln for ln in ci if ln.startswith("bash install/install.sh")]
    assert install == ["bash install/install.sh --no-weights"]      # the README says why: no network there
    assert "`--no-weights`" in quick
    demo = ci.index(".venv/bin/samatte demo")                      # before: CI never ran the demo
    assert ci.index(install[0]) < demo
    tests = [i for i, ln in enumerate(ci) if ln.endswith(".venv/bin/python -m pytest -q")]
    assert len(tests) == 1 and tests[0] > demo
    assert ci[tests[0]] in (".venv/bin/python -m pytest -q", "timeout 4200 .venv/bin/python -m pytest -q")
    assert "/samatte_demo/" in _text(".gitignore").splitlines()     # the demo's folder in the checkout


def test_the_readme_s_list_of_type_checked_host_side_modules_is_ci_s():
    # README (Worker protocol): the host-side modules "type-checked by mypy in CI: ..." (before: exrheader, which
    # both adapters read EXR headers with, inputfile and atomic were checked but not listed)
    proto = _flat(_section("Worker protocol"))
    m = re.search(r"type-checked by mypy in CI: (.*?)\.(?: |$)", proto)
    assert m, proto[:600]
    listed = {re.sub(r"^samatte\.", "", n) for n in re.findall(r"`([a-z_.]+)`", re.sub(r"\([^)]*\)", "", m.group(1)))}
    cfg = _text("pyproject.toml")
    files = re.search(r"^\[tool\.mypy\].*?^files = \[(.*?)\]", cfg, re.S | re.M).group(1)
    checked = {os.path.splitext(os.path.basename(f))[0] for f in re.findall(r'"([^"]+)"', files)}
    assert listed == checked, (sorted(listed - checked), sorted(checked - listed))
