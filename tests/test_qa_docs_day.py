"""QA, documentation pass: README claims added on the day of 0.2.18 held against the code.

* The JobSpec example (with the new ``absent`` field) validates as printed.
* The README's list of Nuke nodes that move no pixels is the adapter's list (``gather.PIXEL_CLASSES``).
* The worker protocol table names every key of ``hello.capabilities`` (before: ``devices_probed``,
  ``sam2matte_weights`` and ``pymatting`` were sent but not documented).
* The figure in *Prompts*: ``absent`` ``1003-1004`` -> ``1003-1005`` on a 6-frame shot keyed on 1001 changes
  the keys of 1005 and 1006 only, with every tracker; an ``absent`` wholly outside the job's frames changes none.
* A Switch whose ``which`` is animated lists every input in shown_inputs (README "Nuke": followed frame by frame).
"""
import json
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def _readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def _section(title):
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), _readme(), re.S | re.M)
    assert m, "README has no section %r" % title
    return m.group(1)


def test_the_readme_jobspec_example_validates_with_its_absent_field():
    from samatte import jobspec
    blocks = re.findall(r"```json\n(.*?)```", _section("JobSpec"), re.S)
    assert len(blocks) == 1
    job = jobspec.validate(json.loads(blocks[0]))
    car = [o for o in job["objects"] if o["name"] == "car"][0]
    assert car["absent"] == "1020-1030,1041"
    assert jobspec.object_absent(car) == frozenset(range(1020, 1031)) | {1041}


def test_the_readme_list_of_nodes_that_move_no_pixels_is_the_adapters():
    sys.path.insert(0, os.path.join(ROOT, "tests", "nuke"))
    import nuke_env  # noqa: F401 - installs the Nuke double
    from samatte_nuke import gather
    m = re.search(r"Nodes that do\s+not move pixels pass: `([^`]*)`", _section("Nuke"))
    assert m
    assert m.group(1).split() == list(gather.PIXEL_CLASSES)


def test_the_protocol_table_names_every_hello_capability():
    from samatte.worker import capabilities
    row = [line for line in _section("Worker protocol").splitlines() if line.startswith("| worker → host | `hello`")]
    assert len(row) == 1
    documented = set(re.findall(r"`([a-z_0-9]+)`", row[0]))
    missing = sorted(k for k in capabilities() if k not in documented)
    assert missing == [], "hello.capabilities keys the README does not name: %s" % missing


def _demo_job(absent):
    from samatte import jobspec
    job = {"samatte_job": 1, "name": "docs", "plate": {"path": "/shots/p.####.exr", "frames": "1001-1006"},
           "objects": [{"name": "hero", "prompts": [
               {"frame": 1001, "type": "polygon", "points": [[10, 10], [40, 12], [30, 40]]}]}],
           "output": {"path": "/out/m.####.exr"}}
    if absent is not None:
        job["objects"][0]["absent"] = absent
    return jobspec.validate(job)


@pytest.mark.parametrize("tracker", ["flow", "shapes", "sam2"])
def test_the_readme_figure_for_a_changed_absent(tracker):
    from samatte import cachekey
    resolved = {"tracker": tracker, "model": "sam2.1_hiera_tiny" if tracker == "sam2" else None,
                "model_sha256": "0" * 64 if tracker == "sam2" else None, "matte": "refine"}
    assert "`1003-1004` -> `1003-1005` on a 6-frame shot keyed on 1001: 1005 and 1006" in " ".join(_readme().split())
    a = cachekey.frame_keys(_demo_job("1003-1004"), resolved=resolved)
    b = cachekey.frame_keys(_demo_job("1003-1005"), resolved=resolved)
    assert [f for f in a if a[f]["track"] != b[f]["track"]] == [1005, 1006]
    assert [f for f in a if a[f]["matte"] != b[f]["matte"]] == [1005, 1006]
    # "frames outside the job's are ignored": such an absent keeps every key of the job without it
    base = cachekey.frame_keys(_demo_job(None), resolved=resolved)
    assert cachekey.frame_keys(_demo_job("900-950,2000"), resolved=resolved) == base


def test_a_switch_with_an_animated_which_counts_every_input():
    sys.path.insert(0, os.path.join(ROOT, "tests", "nuke"))
    import nuke_env
    from samatte_nuke.convert import shown_inputs
    nk = nuke_env.fresh()
    try:
        a, b = nk.nodes.NoOp(), nk.nodes.NoOp()
        sw = nk.nodes.Switch(which=1)
        sw.setInput(0, a)
        sw.setInput(1, b)
        assert shown_inputs(sw) == [b]
        sw["which"].setValueAt(0, 1001)
        sw["which"].setValueAt(1, 1010)
        assert shown_inputs(sw) == [a, b]
        # (shown_inputs still lists both for the walk upstream; gather.prompt_sources follows 'which' frame by
        # frame since tests/test_qa_nuke_day5.py)
        assert "A Switch whose `which` is animated is followed frame by frame" in " ".join(_readme().split())
    finally:
        nk._reset()



# README "Command line": `openjd_fail: [CODE] message` "once, when it fails". A run / qc with --openjd, or a
# farm task, whose command line argparse refused printed no fail line (the render manager's reason read only
# "exit status 2"), and a farm task with neither --stage nor --qc none either; --json already got its error.
@pytest.mark.parametrize("argv, prog", [
    (["run", "job.json", "--openjd", "--preroll=abc"], "samatte run"),
    (["run", "job.json", "--op", "--stage", "nope"], "samatte run"),
    (["qc", "job.json", "--openjd", "--bogus"], "samatte"),
    (["farm", "task", "f.json", "--root", "A=/a", "--stage", "matte", "--preroll=abc"], "samatte farm task"),
])
def test_an_openjd_task_whose_command_line_is_refused_says_why(argv, prog, capsys):
    from samatte.cli import main
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("openjd_fail: [JOBSPEC_INVALID] %s: error: " % prog), out


def test_a_farm_task_without_stage_or_qc_says_why(capsys):
    from samatte.cli import main
    assert main(["farm", "task", "f.json", "--root", "A=/a"]) == 2
    assert capsys.readouterr().out == "openjd_fail: [JOBSPEC_INVALID] farm task needs --stage or --qc\n"


@pytest.mark.parametrize("argv", [
    ["run", "job.json", "--preroll=abc"],                              # no --openjd: stdout stays empty
    ["farm", "export", "job.json", "--openjd", "bundle", "--chunk", "abc"],   # --openjd DIR is not the flag
])
def test_other_refused_command_lines_print_no_openjd_line(argv, capsys):
    from samatte.cli import main
    with pytest.raises(SystemExit):
        main(argv)
    assert capsys.readouterr().out == ""
