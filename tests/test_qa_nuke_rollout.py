"""QA: a studio rollout with one samatte install per version on a share (``<share>/0.2.18``, ``<share>/0.2.19``, each
with its venv beside ``nuke_plugin``), a show's ``NUKE_PATH`` naming one version's plugin, and the machine's
``~/.nuke/samatte.json`` written by the last install made on it (another version's).

Before: with no ``$SAMATTE_PYTHON`` the node ran the interpreter of ``~/.nuke/samatte.json``, not the install of the
plugin Nuke loaded: an artist on a 0.2.19 show whose machine last installed 0.2.18 got 0.2.18's worker (the version
mismatch error on every button, or the wrong version's mattes). Now: knob > ``$SAMATTE_PYTHON`` > the loaded plugin's
install > ``samatte.json``, and the messages name the rule. Stub interpreters (executable shell scripts): no worker.
"""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

from samatte.errors import WorkerError  # noqa: E402
from samatte_nuke import config, runner  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _stub(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _install(share, version, *, venv=True):
    root = os.path.join(str(share), version)
    os.makedirs(os.path.join(root, "nuke_plugin"), exist_ok=True)
    py = _stub(os.path.join(root, ".venv", "bin", "python")) if venv else None
    return os.path.join(root, "nuke_plugin"), py


@pytest.fixture
def studio(tmp_path, monkeypatch):
    """Two installs side by side; this machine's samatte.json from installing 0.2.18; Nuke loaded 0.2.19's plugin."""
    old_plugin, old_py = _install(tmp_path / "share", "0.2.18")
    new_plugin, new_py = _install(tmp_path / "share", "0.2.19")
    cfg = tmp_path / "home" / ".nuke" / "samatte.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"python": old_py, "plugin": old_plugin, "core": os.path.dirname(old_plugin) + "/core"}))
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(cfg))
    monkeypatch.delenv("SAMATTE_PYTHON", raising=False)
    monkeypatch.setattr(config, "PLUGIN_DIR", new_plugin)
    return {"old_py": old_py, "new_py": new_py, "old_plugin": old_plugin, "new_plugin": new_plugin, "cfg": cfg,
            "share": tmp_path / "share"}


def test_the_loaded_plugin_s_install_beats_the_machine_s_last_install(studio):
    py, rule, words = config.find_python("")
    assert (py, rule) == (studio["new_py"], config.RULE_INSTALL)
    assert studio["new_plugin"] in words and "venv beside" in words
    assert config.samatte_python("") == studio["new_py"]


def test_samatte_python_and_the_knob_still_win(studio, tmp_path):
    env_py = _stub(str(tmp_path / "td" / "python"))
    os.environ["SAMATTE_PYTHON"] = env_py
    try:
        assert config.find_python("")[:2] == (env_py, config.RULE_ENV)
        assert config.find_python(studio["old_py"])[:2] == (studio["old_py"], config.RULE_KNOB)
    finally:
        del os.environ["SAMATTE_PYTHON"]


def test_an_interpreter_recorded_for_this_very_plugin_serves_a_custom_venv(studio, tmp_path):
    """install.py --venv elsewhere --nuke: samatte.json's ``plugin`` is the loaded one (through a symlink too)."""
    custom = _stub(str(tmp_path / "venvs" / "v19" / "bin" / "python"))
    shutil.rmtree(os.path.join(os.path.dirname(studio["new_plugin"]), ".venv"))
    link = str(tmp_path / "current")
    os.symlink(os.path.dirname(studio["new_plugin"]), link)
    studio["cfg"].write_text(json.dumps({"python": custom, "plugin": os.path.join(link, "nuke_plugin")}))
    py, rule, words = config.find_python("")
    assert (py, rule) == (custom, config.RULE_INSTALL) and "recorded for this plugin" in words


def test_with_no_install_beside_the_plugin_the_config_serves_and_says_so(studio):
    shutil.rmtree(os.path.join(os.path.dirname(studio["new_plugin"]), ".venv"))
    py, rule, words = config.find_python("")
    assert (py, rule) == (studio["old_py"], config.RULE_CONFIG)
    assert str(studio["cfg"]) in words and studio["old_plugin"] in words and studio["new_plugin"] in words


def test_a_broken_pick_names_the_rule(studio):
    os.remove(studio["new_py"])
    os.symlink(os.path.join(str(studio["share"]), "gone", "python"), studio["new_py"])   # a venv whose base went
    py, rule, _ = config.find_python("")
    assert rule == config.RULE_CONFIG                      # a dead venv beside the plugin is skipped, not picked
    os.environ["SAMATTE_PYTHON"] = str(studio["share"] / "nope" / "python")
    try:
        with pytest.raises(WorkerError) as ei:
            config.find_python("")
        assert "$SAMATTE_PYTHON" in ei.value.message and "not an executable file" in ei.value.message
        assert ei.value.details.get("python_rule") == config.RULE_ENV
    finally:
        del os.environ["SAMATTE_PYTHON"]


def test_the_version_mismatch_names_the_rule_that_picked_the_worker(studio):
    """The worker of the config's 0.2.18 install under a session that loaded another version: the message says where
    that interpreter came from, so a TD knows what to fix."""
    shutil.rmtree(os.path.join(os.path.dirname(studio["new_plugin"]), ".venv"))
    py = config.samatte_python("")

    class Client(object):
        hello = {"samatte": "0.0.1-other"}
    with pytest.raises(WorkerError) as ei:
        runner.check_versions(Client(), py)
    assert str(studio["cfg"]) in ei.value.message and ei.value.details.get("python_rule")


def test_the_real_plugin_tree_finds_the_venv_beside_it(tmp_path):
    """The plugin as Nuke loads it from a version's folder on the share (no monkeypatching: ``__file__`` decides)."""
    root = tmp_path / "share" / "0.2.19"
    shutil.copytree(os.path.join(REPO, "nuke_plugin"), str(root / "nuke_plugin"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    py = _stub(str(root / ".venv" / "bin" / "python"))
    other = _stub(str(tmp_path / "share" / "0.2.18" / ".venv" / "bin" / "python"))
    cfg = tmp_path / "samatte.json"
    cfg.write_text(json.dumps({"python": other, "plugin": str(tmp_path / "share" / "0.2.18" / "nuke_plugin")}))
    env = {k: v for k, v in os.environ.items() if k != "SAMATTE_PYTHON"}
    env.update(SAMATTE_NUKE_CONFIG=str(cfg), PYTHONPATH=os.pathsep.join(
        [str(root / "nuke_plugin"), os.path.join(REPO, "tests", "nuke"), os.path.join(REPO, "core")]))
    out = subprocess.run([sys.executable, "-c", "from samatte_nuke import config; print(config.find_python('')[0])"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == py


def _plugin_tree(root):
    os.makedirs(os.path.join(root, "nuke_plugin", "samatte_nuke"))
    open(os.path.join(root, "nuke_plugin", "samatte_nuke", "__init__.py"), "w").close()
    return os.path.join(root, "nuke_plugin")


@pytest.fixture
def plugin_path():
    import nuke
    saved, saved_sys = list(nuke._plugin_paths), list(sys.path)
    nuke._plugin_paths[:] = []
    yield nuke
    nuke._plugin_paths[:] = saved
    sys.path[:] = saved_sys


def test_the_home_init_block_leaves_a_show_s_nuke_path_version_in_front(tmp_path, plugin_path, capsys):
    """Nuke runs ``~/.nuke/init.py`` after the NUKE_PATH folders' (Foundry: init scripts in reverse order of the
    plugin path). Before: the block of this machine's last ``install.sh --nuke`` (0.2.18) put its plugin in front
    of the show's 0.2.19 on NUKE_PATH, so the show ran 0.2.18 (plugin, core and now its venv) without a word."""
    from samatte_nuke import setup_nuke
    nuke = plugin_path
    mine = _plugin_tree(str(tmp_path / "share" / "0.2.18"))
    show = _plugin_tree(str(tmp_path / "share" / "0.2.19"))
    home = tmp_path / "home" / ".nuke"
    init, _cfg = setup_nuke.install(str(home), "/x/python", plugin_dir=mine)
    code = compile(open(init).read(), init, "exec")
    nuke._plugin_paths[:] = [str(home), show]                 # ~/.nuke, then NUKE_PATH
    exec(code, {"__file__": init})
    assert nuke.pluginPath()[0] == str(home) and mine not in nuke.pluginPath()
    assert "leaves %s out" % mine in capsys.readouterr().out
    nuke._plugin_paths[:] = [str(home)]                       # no show pin: the personal install loads as before
    exec(code, {"__file__": init})
    assert nuke.pluginPath()[0] == mine
    nuke._plugin_paths[:] = [str(home), mine]                 # NUKE_PATH names the same plugin: nothing to say
    exec(code, {"__file__": init})
    assert nuke.pluginPath() == [str(home), mine] and "leaves" not in capsys.readouterr().out
