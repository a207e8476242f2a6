"""QA: the Blender add-on's samatte Python in a rollout with one install per version (``<share>/0.2.18``,
``<share>/0.2.19``). bpy-free (``link.pick_python`` / ``follow_installer``) and in real bpy 5.0.1 / 4.2.23 (skips
without its ``.venv-bpyXX``).

Before: the preferences' samatte Python was filled from the installer's ``samatte_install.json`` once, when empty,
and kept: after ``install.sh --blender`` of 0.2.19 (the add-on relinked to 0.2.19, its config rewritten) Blender
still ran 0.2.18's Python, whose samatte the add-on imports; ``$SAMATTE_PYTHON`` was never read. Now a value the
installer filled in follows the next install (one set by hand stays), ``$SAMATTE_PYTHON`` beats it, the venv beside a
linked add-on's install serves when nothing else names one, and errors and Check name the rule."""
import json
import os
import stat
import subprocess

import pytest

from addon_plain import plain
from bpy_common import MOD, REPO, VERSIONS, bpy_python

link = plain("link")
HostError = plain("hosterrors").HostError


def _stub(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexit 3\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def test_a_value_the_installer_filled_follows_the_next_install_one_set_by_hand_stays():
    old, new, mine = "/s/0.2.18/.venv/bin/python", "/s/0.2.19/.venv/bin/python", "/home/me/venv/bin/python"
    assert link.follow_installer("", "", old) == (old, old)                     # first fill
    assert link.follow_installer(old, old, new) == (new, new)                   # before: stayed old
    assert link.follow_installer(old, "", new) == (old, "")                     # legacy prefs unmarked: kept...
    assert link.follow_installer(old, "", old) == (old, old)                    # ...until marked as the installer's
    assert link.follow_installer(mine, old, new) == (mine, old)                 # set by hand: stays
    assert link.follow_installer(mine, old, "") == (mine, old)                  # no installer config


def test_pick_python_order_and_words(tmp_path, monkeypatch):
    install = tmp_path / "share" / "0.2.19"
    (install / "blender_addon").mkdir(parents=True)
    beside = _stub(str(install / ".venv" / "bin" / "python"))
    monkeypatch.setattr(link, "ADDON_DIR", str(install / "blender_addon"))
    env = {"SAMATTE_PYTHON": "/td/python"}
    assert link.pick_python("/mine/python", environ=env)[0] == "/mine/python"              # set by hand
    assert link.pick_python("/auto/python", auto=True, environ=env) == ("/td/python", "$SAMATTE_PYTHON")
    py, words = link.pick_python("/auto/python", auto=True, environ={})
    assert py == "/auto/python" and "installer" in words
    py, words = link.pick_python("", environ={})
    assert py == beside and str(install) in words
    (install / ".venv" / "bin" / "python").unlink()
    assert link.pick_python("", environ={}) == ("", None)


def test_errors_name_the_rule_that_picked_the_python(tmp_path):
    gone = str(tmp_path / "gone" / "python")
    link.pick_python("", environ={"SAMATTE_PYTHON": gone})
    with pytest.raises(HostError) as ei:
        link.samatte_root(gone)
    assert "$SAMATTE_PYTHON" in str(ei.value) and "does not exist" in str(ei.value)


_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[2], "install"))
import bpy
import addon_utils
import blender as blender_install
cfg = json.load(open(sys.argv[1]))
res = {}
blender_install.install(sys.argv[2], python=cfg["old"], models_dir=cfg["old_models"])
addon_utils.enable(%(mod)r, default_set=True, handle_error=None)
addon = sys.modules[%(mod)r]
p = addon.props.prefs()
res["first"] = [p.python, p.models_dir]
blender_install.install(sys.argv[2], python=cfg["new"], models_dir=cfg["new_models"])   # 0.2.19's install.sh --blender
p = addon.props.prefs()
res["after_update"] = [p.python, p.models_dir]
os.environ["SAMATTE_PYTHON"] = cfg["td"]
res["env_over_filled"] = addon.ops.samatte_python(p)
p.python = cfg["mine"]
res["mine_over_env"] = addon.ops.samatte_python(p)
blender_install.install(sys.argv[2], python=cfg["old"], models_dir=cfg["old_models"])
res["mine_stays"] = addon.props.prefs().python
print("RES" + json.dumps(res))
""" % {"mod": MOD}


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_in_blender_the_preferences_follow_a_new_install(v, tmp_path):
    py = bpy_python(v)
    if py is None:
        pytest.skip("no .venv-bpy%s (bash tests/blender/setup_bpy.sh)" % v)
    cfg = {k: str(tmp_path / k / "python") for k in ("old", "new", "td", "mine")}
    cfg.update(old_models=str(tmp_path / "m18"), new_models=str(tmp_path / "m19"))
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = {k: val for k, val in os.environ.items() if not k.startswith(("PYTHON", "BLENDER", "SAMATTE"))}
    env.update(HOME=str(tmp_path), BLENDER_USER_RESOURCES=str(tmp_path / "blender"))
    proc = subprocess.run([py, "-c", _SCRIPT, str(tmp_path / "cfg.json"), REPO], env=env, capture_output=True,
                          text=True, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RES")]
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(line[0][3:])
    assert res["first"] == [cfg["old"], cfg["old_models"]]
    assert res["after_update"] == [cfg["new"], cfg["new_models"]]        # before: 0.2.18's stayed
    assert res["env_over_filled"] == cfg["td"]                            # before: $SAMATTE_PYTHON unread
    assert res["mine_over_env"] == res["mine_stays"] == cfg["mine"]
