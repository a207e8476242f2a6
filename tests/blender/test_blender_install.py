"""``install.py --blender``: the add-on linked into Blender's user extensions with its defaults
(the installer's Blender part alone, without building a venv)."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "install"))
import blender as blender_install  # noqa: E402


def test_extension_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(tmp_path / "bur"))
    assert blender_install.extension_dirs() == [str(tmp_path / "bur" / "extensions" / "user_default")]
    assert blender_install.extension_dirs(str(tmp_path / "x")) == [str(tmp_path / "x")]
    monkeypatch.delenv("BLENDER_USER_RESOURCES")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert [os.path.basename(os.path.dirname(os.path.dirname(d)))
                for d in blender_install.extension_dirs()] == ["4.2", "5.0"]
        for v in ("4.1", "4.2", "5.1", "notes"):
            (tmp_path / "cfg" / "blender" / v).mkdir(parents=True)
        assert [os.path.basename(os.path.dirname(os.path.dirname(d)))
                for d in blender_install.extension_dirs()] == ["4.2", "5.1"]


@pytest.mark.parametrize("copy", [False, True])
def test_install_links_or_copies_with_defaults(tmp_path, copy):
    in_repo = os.path.join(REPO, "blender_addon", "samatte_install.json")
    before = open(in_repo).read() if os.path.exists(in_repo) else None
    target = tmp_path / "ext" / "user_default"
    (paths,) = [blender_install.install(REPO, python=sys.executable, models_dir=str(tmp_path / "m"),
                                        target=str(target), copy=copy)]
    dst = target / "samatte"
    assert paths == [str(dst)]
    assert (dst / "blender_manifest.toml").is_file() and os.path.islink(str(dst)) == (not copy)
    cfg_path = tmp_path / "ext" / ".user" / "user_default" / "samatte" / "samatte_install.json"
    assert blender_install.config_path(str(target)) == str(cfg_path)
    cfg = json.loads(cfg_path.read_text())
    assert cfg == {"python": os.path.abspath(sys.executable), "models_dir": str(tmp_path / "m")}
    after = open(in_repo).read() if os.path.exists(in_repo) else None
    assert after == before       # a linked add-on's defaults never go into the repository
    # again: replaced, not nested
    blender_install.install(REPO, python=sys.executable, models_dir="", target=str(target), copy=copy)
    assert not (dst / "samatte").exists()
    if not copy:
        os.unlink(str(dst))


def test_install_sh_help_lists_blender():
    out = subprocess.run([sys.executable, os.path.join(REPO, "install", "install.py"), "--help"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "--blender" in out and "--blender-dir" in out


def test_manifest_fields():
    try:
        import tomllib
    except ImportError:
        pytest.skip("tomllib needs Python 3.11")
    with open(os.path.join(REPO, "blender_addon", "blender_manifest.toml"), "rb") as f:
        m = tomllib.load(f)
    for key in ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                "blender_version_min", "license"):
        assert m.get(key), key
    assert m["id"].isidentifier() and m["type"] == "add-on" and len(m["tagline"]) <= 64
    assert not m["tagline"].endswith((".", "!", "?"))
    src = "".join(open(os.path.join(REPO, "blender_addon", f)).read()
                  for f in os.listdir(os.path.join(REPO, "blender_addon")) if f.endswith(".py"))
    assert "bl_ext." not in src and "__package__" in src
