"""QA (a TD rolling samatte out to a studio): samatte installed into a shared read-only prefix and run by a
render user without a writable home.

pymatting compiles its numba functions with ``cache=True`` on import; numba writes that cache into the
package's ``__pycache__`` or ``~/.cache/numba``. With neither writable the import raised ``RuntimeError: no
locator available``, which the matte stage took for "pymatting missing": the job silently matted with its
fallbacks (measured on the demo's frame 1012: alpha differed by up to 0.53, 3796 pixels by more than 0.01,
from the same job on a workstation). Now the import is retried with a private numba cache in the temporary
folder, and nothing is written under the prefix.

The read-only prefix and home are simulated inside numba (these tests may run as root, whom permissions do
not stop): its cache locators may write only under the cache folder samatte chose. A tiny stand-in
``pymatting`` (real numba, ``cache=True``) keeps the test fast.
"""
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(REPO, "core")

pytest.importorskip("numba")

FAKE_PYMATTING = {
    "__init__.py": """
        from numba import njit

        @njit("f8(f8)", cache=True)
        def _twice(x):
            return 2.0 * x

        def estimate_alpha_sm(*a, **k):
            return _twice(1.5)

        def estimate_foreground_ml(image, alpha, return_background=False):
            return image * _twice(0.5), image * _twice(0.0)
        """,
    "preconditioner/__init__.py": "",
    "preconditioner/ichol.py": """
        from numba import njit

        @njit("f8(f8)", cache=True)
        def ichol(x):
            return x + 1.0
        """,
    "solver/__init__.py": "",
    "solver/cg.py": "def cg(*a, **k):\n    return 'cg'\n",
}

# numba may write a cache only under the folder samatte gave it: the install prefix (the package's own
# __pycache__) and the user's ~/.cache/numba are read-only, as for a render user on a shared install.
READ_ONLY = """
import os
import numba.core.caching as caching
from numba.core import config
_orig = caching._CacheLocator.ensure_cache_path
def ensure_cache_path(self):
    allowed = config.CACHE_DIR
    if not allowed or not os.path.abspath(self.get_cache_path()).startswith(os.path.abspath(allowed)):
        raise PermissionError(13, "Permission denied (read-only install and home)", self.get_cache_path())
    return _orig(self)
caching._CacheLocator.ensure_cache_path = ensure_cache_path
"""


@pytest.fixture
def studio(tmp_path):
    prefix = tmp_path / "read only prefix" / "site-packages"
    for rel, text in FAKE_PYMATTING.items():
        p = prefix / "pymatting" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(prefix), CORE]), TMPDIR=str(tmp),
               HOME=str(tmp_path / "no home"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("NUMBA_CACHE_DIR", None)
    return prefix, tmp, env


def _run(code, env):
    proc = subprocess.run([sys.executable, "-c", READ_ONLY + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


def _written_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
                  if not f.endswith(".py"))


def test_matte_stage_uses_pymatting_where_numba_cannot_cache_in_the_prefix_or_home(studio):
    prefix, tmp, env = studio
    out = _run("""
        import numba  # the matte stage imports numba (threads) before pymatting: its config is read already
        from samatte.matte import cfsolve, foreground, refine
        sm = refine._shared_matting()
        solvers = cfsolve._pymatting_solvers()
        print(sm is not None and sm(), solvers is not None and solvers[0](1.0), solvers is not None and solvers[1]())
        import numpy as np
        F, B = foreground._estimate_fb_pymatting(np.full((2, 2, 3), 0.25), np.ones((2, 2)))
        print(F.max(), B.max())
        """, env)
    # before: False False False (RuntimeError "no locator available" taken for "no pymatting": fallbacks)
    assert out == ["3.0", "2.0", "cg", "0.25", "0.0"]
    assert _written_under(prefix) == []                      # nothing under the install prefix
    cache = tmp / ("samatte-numba-%d" % os.getuid())
    assert cache.is_dir() and oct(cache.stat().st_mode & 0o777) == oct(0o700)
    assert any(f.endswith(".nbi") for f in _written_under(cache))
    # a second process reuses that cache (no compile), and still writes nothing under the prefix
    assert _run("from samatte.matte.numbacache import import_pymatting\n"
                "print(import_pymatting('pymatting').estimate_alpha_sm())", env) == ["3.0"]
    assert _written_under(prefix) == []


def test_a_shared_cache_folder_that_others_may_write_is_not_used(studio):
    prefix, tmp, env = studio
    squatted = tmp / ("samatte-numba-%d" % os.getuid())
    squatted.mkdir()
    os.chmod(squatted, 0o777)                                # made by someone else on a shared /tmp
    out = _run("""
        import os
        from samatte.matte.numbacache import import_pymatting
        print(import_pymatting('pymatting').estimate_alpha_sm(), os.environ['NUMBA_CACHE_DIR'])
        """, env)
    assert out[0] == "3.0"
    assert os.path.dirname(out[1]) == str(tmp) and out[1] != str(squatted)
    assert list(squatted.iterdir()) == []


def test_other_import_errors_of_pymatting_are_not_swallowed_by_the_retry(studio):
    prefix, tmp, env = studio
    (prefix / "pymatting" / "__init__.py").write_text("raise RuntimeError('broken build')\n")
    out = _run("""
        from samatte.matte.numbacache import import_pymatting
        try:
            import_pymatting('pymatting')
        except RuntimeError as e:
            print('raised', 'broken' in str(e))
        """, env)
    assert out == ["raised", "True"]
    assert not (tmp / ("samatte-numba-%d" % os.getuid())).exists()


# --- the Blender add-on as an extension a TD rolls out (zip, a studio extensions repository) ---------------

ADDON = os.path.join(REPO, "blender_addon")


def _manifest():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ADDON, "blender_manifest.toml"), "rb") as f:
        return tomllib.load(f)


def _samatte_version():
    import ast
    with open(os.path.join(CORE, "samatte", "__init__.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            return node.value.value
    raise AssertionError("no __version__")


def test_the_extension_declares_the_samatte_version_it_ships():
    # before: 0.1.0 for every release: Blender's Extensions list showed samatte 0.1.0 whatever was installed,
    # `extension build` named every release samatte-0.1.0.zip, and a studio extensions repository never
    # offered artists the update (Blender compares these versions)
    assert _manifest()["version"] == _samatte_version()


def _blender_ext_tools():
    import glob
    found = sorted(glob.glob(os.path.join(REPO, ".venv-bpy*", "lib", "python3*", "site-packages", "bpy", "*",
                                          "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")))
    return found or [pytest.param(None, marks=pytest.mark.skip(reason="no bpy venv (.venv-bpy42/.venv-bpy50)"))]


@pytest.mark.parametrize("tool", _blender_ext_tools())
def test_blender_validates_and_builds_the_extension_zip(tool, tmp_path):
    """What ``blender --command extension validate / build`` run (Blender's own blender_ext.py, 4.2 and 5.0)."""
    ok = subprocess.run([sys.executable, tool, "validate", ADDON], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    built = subprocess.run([sys.executable, tool, "build", "--source-dir", ADDON, "--output-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stdout + built.stderr
    import zipfile
    zips = os.listdir(str(tmp_path))
    assert zips == ["samatte-%s.zip" % _samatte_version()]
    names = zipfile.ZipFile(str(tmp_path / zips[0])).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".json")]


# --- an upgrade in place under a running worker (an artist's Nuke / Blender keeps its worker) ---------------

def _worker_from_copy(tmp_path):
    import shutil
    core = tmp_path / "share" / "core"
    shutil.copytree(os.path.join(CORE, "samatte"), str(core / "samatte"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    from samatte.client import WorkerClient
    env = dict(os.environ, PYTHONPATH=str(core), PYTHONDONTWRITEBYTECODE="1")
    return core / "samatte", WorkerClient(sys.executable, env=env, timeout=60)


def _tiny_job(tmp_path):
    return {"samatte_job": 1, "name": "sh010", "plate": {"path": str(tmp_path / "plate.####.exr"),
                                                        "frames": "1001-1002"},
            "objects": [{"name": "hero", "prompts": [{"frame": 1001, "type": "box", "box": [1, 1, 5, 5]}]}],
            "output": {"path": str(tmp_path / "out" / "matte.####.exr")}}


def test_a_worker_whose_samatte_was_updated_under_it_stops_with_a_clear_error(tmp_path):
    from samatte.errors import WorkerError
    pkg, w = _worker_from_copy(tmp_path)
    try:
        job = _tiny_job(tmp_path)
        assert w.validate(job)["valid"] is True          # files unchanged: served as before
        assert w.validate(job)["valid"] is True
        # the TD updates the share in place (git pull / rsync): a new version, a module that moved on
        init = pkg / "__init__.py"
        init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.'))
        with open(str(pkg / "registry.py"), "a") as f:
            f.write("\n\ndef added_by_the_new_version():\n    return 1\n")
        # before: the old process imported the new files lazily; a real 0.2.18 worker under 0.2.19's files
        # failed its next job with "[SAMATTE_ERROR] ImportError: cannot import name 'validate_model' from
        # 'samatte.registry'", and the host kept that worker for every later run
        with pytest.raises(WorkerError) as ei:
            w.validate(job)
        err = ei.value
        assert err.details.get("reason") == "updated"
        assert err.details.get("installed_version", "").startswith("9.")
        assert err.details.get("worker_version") == _samatte_version()
        assert "run again" in str(err)
        import time
        deadline = time.monotonic() + 20
        while w.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not w.alive()                             # the host's next run starts a worker of the new version
    finally:
        w.kill()
