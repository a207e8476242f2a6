"""``install.py --blender``: put the samatte add-on into Blender's user extensions and tell it where
the samatte Python and models are (standard library only).

Where: ``--blender-dir DIR`` (an extensions repository folder, e.g. ``.../extensions/user_default``);
else ``$BLENDER_USER_RESOURCES/extensions/user_default``; else ``extensions/user_default`` of every
Blender 4.2+ version folder in the user's Blender config (Linux ``~/.config/blender/X.Y``, macOS
``~/Library/Application Support/Blender/X.Y``, Windows ``%APPDATA%/Blender Foundation/Blender/X.Y``),
or, when there is none yet, of 4.2 and 5.0. The add-on folder is linked (so ``git pull`` updates it;
a copy on Windows, or with ``--blender-copy``) as ``samatte``; Blender then lists it as
``bl_ext.user_default.samatte``: enable it once in Preferences > Add-ons. Its preferences are filled
the first time they are empty from ``samatte_install.json`` (the venv's python, the models folder),
written in the extension's user folder, ``<extensions>/.user/user_default/samatte/`` (what
``bpy.utils.extension_path_user`` returns), so a linked add-on never writes into the repository.
"""
import json
import os
import re
import shutil
import sys

ADDON_ID = "samatte"
CONFIG = "samatte_install.json"
FALLBACK_VERSIONS = ("4.2", "5.0")


def blender_config_root():
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/Blender")
    if os.name == "nt":
        return os.path.join(os.environ.get("APPDATA", os.path.expanduser("~")), "Blender Foundation", "Blender")
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.path.join(base, "blender")


def extension_dirs(explicit=None):
    """The extensions repository folders to install into."""
    if explicit:
        return [os.path.abspath(explicit)]
    bur = os.environ.get("BLENDER_USER_RESOURCES")
    if bur:
        return [os.path.join(bur, "extensions", "user_default")]
    root = blender_config_root()
    versions = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            m = re.match(r"^(\d+)\.(\d+)$", name)
            if m and (int(m.group(1)), int(m.group(2))) >= (4, 2):
                versions.append(name)
    versions = sorted(versions) or list(FALLBACK_VERSIONS)
    return [os.path.join(root, v, "extensions", "user_default") for v in versions]


def config_path(ext):
    """Where the add-on's defaults go for the extensions repository folder ``ext``."""
    ext = os.path.abspath(ext)
    return os.path.join(os.path.dirname(ext), ".user", os.path.basename(ext), ADDON_ID, CONFIG)


def install(repo, *, python, models_dir, target=None, copy=False):
    """Link or copy ``<repo>/blender_addon`` into each extensions folder; write its config. Returns
    the installed paths."""
    src = os.path.join(repo, "blender_addon")
    config = {"python": os.path.abspath(python), "models_dir": os.path.abspath(models_dir) if models_dir else ""}
    copy = copy or os.name == "nt"
    done = []
    for ext in extension_dirs(target):
        os.makedirs(ext, exist_ok=True)
        dst = os.path.join(ext, ADDON_ID)
        if os.path.islink(dst):
            os.unlink(dst)
        elif os.path.isdir(dst):
            shutil.rmtree(dst)
        if copy:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", CONFIG))
        else:
            os.symlink(src, dst, target_is_directory=True)
        cfg = config_path(ext)
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        with open(cfg, "w") as f:
            json.dump(config, f, indent=1)
        done.append(dst)
    return done
