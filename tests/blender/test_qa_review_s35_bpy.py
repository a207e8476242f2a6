"""QA review (session 35), measured in real bpy 5.0.1 and 4.2.23 (skips without its ``.venv-bpyXX``): on Linux /
macOS Blender's readers take a ``\\`` in an *absolute* path for a separator too, not only in a ``//`` one. A clip
``<dir>/a\\b.png`` shows ``<dir>/a/b.png``; the add-on (``convert.native_blend_path``, under ``ops.abspath``) now
names that file. Before: it kept the backslash, so samatte read the file ``a\\b.png`` (another picture where one
exists: the matte of another plate under the clip; else 'no plate file' of a clip Blender shows)."""
import json
import os
import subprocess

import pytest

from addon_plain import plain
from bpy_common import VERSIONS, bpy_python

convert = plain("convert")

_MEASURE = r"""
import json, sys
import bpy
clip = bpy.data.movieclips.load(sys.argv[1])
print("SIZE" + json.dumps([clip.filepath, list(clip.size)]))
"""


@pytest.mark.skipif(os.sep != "/", reason="Linux / macOS reading")
@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_an_absolute_clip_path_with_a_backslash_is_the_file_blender_shows(v, tmp_path):
    py = bpy_python(v)
    if py is None:
        pytest.skip("no .venv-bpy%s (bash tests/blender/setup_bpy.sh)" % v)
    import numpy as np
    from PIL import Image
    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((4, 6, 3), 10, np.uint8)).save(str(tmp_path / "a" / "b.png"))        # 6 x 4
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(str(tmp_path / "a\\b.png"))          # 8 x 8
    given = str(tmp_path) + "/a\\b.png"
    env = {k: val for k, val in os.environ.items() if not k.startswith(("PYTHON", "BLENDER"))}
    env.update(HOME=str(tmp_path), BLENDER_USER_RESOURCES=str(tmp_path / "blender"))
    proc = subprocess.run([py, "-c", _MEASURE, given], env=env, capture_output=True, text=True, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("SIZE")]
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    filepath, size = json.loads(line[0][4:])
    assert filepath == given and size == [6, 4]                 # Blender shows a/b.png
    ours = convert.native_blend_path(given, "/")
    with Image.open(ours) as im:
        assert list(im.size) == size, ours                      # before: a\b.png, 8 x 8, another picture
