"""What the command line prints where farms and TDs read it: a unicode path on a console whose encoding
cannot hold it, a closed stdout or stderr, and the usage of a command group named without its
subcommand."""
import json
import os
import subprocess
import sys

import pytest

from samatte import cli

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core")


def _shot_job(folder):
    """A 4-frame 96x64 demo shot and its job (flow tracker, draft matte) under ``folder``."""
    from samatte import jobspec
    from samatte.demo import make_shot
    s = make_shot(str(folder), frames=4, size=(96, 64))
    job = jobspec.new_job(s["plate"], str(folder / "out" / "m.####.exr"), frames="1001-1004",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    path = folder / "job.json"
    jobspec.save(job, str(path))
    return s, path


def _samatte(args, *, env=None, shell_redirect=""):
    env = dict(os.environ, PYTHONPATH=CORE, **(env or {}))
    env.pop("SAMATTE_LOG_LEVEL", None)
    cmd = [sys.executable, "-m", "samatte"] + [str(a) for a in args]
    if shell_redirect:
        cmd = ["sh", "-c", 'exec "$@" ' + shell_redirect, "sh"] + cmd
    return subprocess.run(cmd, capture_output=True, env=env, timeout=300)


def _no_traceback(p):
    err = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
    assert "Traceback" not in err and "unexpected error" not in err, err


def test_unicode_paths_on_a_console_that_cannot_encode_them(tmp_path):
    """A shot under a folder named in Japanese, stdout/stderr in cp1252 (a Windows console or a farm log
    redirected there): `probe`, `qc` and `farm export` died with UnicodeEncodeError (exit 1, a traceback)
    and `run` dropped its summary line silently. Now the characters are written as backslash escapes."""
    folder = tmp_path / "日本"
    folder.mkdir()
    s, job = _shot_job(folder)
    narrow = {"PYTHONIOENCODING": "cp1252"}
    p = _samatte(["probe", s["plate"]], env=narrow)
    _no_traceback(p)
    assert p.returncode == 0 and b"\\u65e5\\u672c" in p.stdout
    p = _samatte(["run", job], env=narrow)
    _no_traceback(p)
    assert p.returncode == 0 and b"4 frame(s) written" in p.stdout and b"\\u65e5\\u672c" in p.stdout
    p = _samatte(["qc", job], env=narrow)
    _no_traceback(p)
    assert p.returncode == 0 and b"4/4 frames ok" in p.stdout
    p = _samatte(["farm", "export", job, "--openjd", tmp_path / "bundle"], env=narrow)
    _no_traceback(p)
    assert p.returncode == 0 and b"job bundle" in p.stdout


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_closed_stdout_does_not_fail_the_job(tmp_path, json_mode):
    """`samatte run job.json >&-` (a detached process, a farm wrapper closing the pipe): Python gives
    sys.stdout None; the summary raised AttributeError after every frame was written (exit 1, a
    traceback), and with --json the job failed before starting."""
    s, job = _shot_job(tmp_path)
    p = _samatte(["run", job] + (["--json"] if json_mode else []), shell_redirect=">&-")
    _no_traceback(p)
    assert p.returncode == 0, p.stderr
    assert sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".exr")) == \
        ["m.%d.exr" % f for f in range(1001, 1005)]


def test_a_closed_stderr_does_not_fail_the_job(tmp_path):
    """`samatte run job.json 2>&-`: the progress printer wrote to None, the job failed as "unexpected
    error (a bug)" on stdout, exit 1, with no frame written."""
    s, job = _shot_job(tmp_path)
    p = _samatte(["run", job], shell_redirect="2>&-")
    _no_traceback(p)
    assert p.returncode == 0 and b"4 frame(s) written" in p.stdout
    p = _samatte(["run", job, "--json", "--overwrite"], shell_redirect="2>&-")
    _no_traceback(p)
    lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert p.returncode == 0 and lines[-1]["type"] == "result"


@pytest.mark.parametrize("group", ["models", "farm"])
def test_a_command_group_without_its_subcommand_is_a_usage_error(group, capsys):
    """`samatte models` printed its help on stdout and exited 0 (its `return 2` was unreachable after
    argparse's --help exit); `samatte farm` printed it on stdout. Like `samatte` alone: the help on
    stderr, exit 2 (command-line usage), nothing on stdout."""
    assert cli.main([group]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: samatte %s" % group in err
