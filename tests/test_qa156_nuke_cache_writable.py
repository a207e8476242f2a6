"""QA156 (the Nuke double): a cache folder that exists but cannot be written (a locked cache folder, a read-only
mount, a share whose ACL refuses this user) passed ``farm.make_folder``, which only caught folders that could not
be made: Track & Matte on a plate the node renders went on to ``nuke.execute`` the Write into it, which failed with
Nuke's own error, and Export JobSpec with a Python traceback. Now ``make_folder`` asks ``os.access`` and makes (and
removes) a probe file (``os.access`` says yes to root and knows nothing of read-only mounts): OUTPUT_INVALID on the
node's status line naming the folder and what to set, before anything is rendered."""
import errno
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402
from samatte.errors import OutputError  # noqa: E402
from samatte_nuke import farm, node as snode  # noqa: E402

NUKE_PLUGIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nuke_plugin")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa156nk")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path, monkeypatch):
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "sh_v001.nk"))
    farm._memo.clear()
    renders = []
    nuke._set_render_hook(lambda w, first, last: renders.append((w["file"].value(), first, last)))
    nuke._renders = renders
    monkeypatch.setenv("SAMATTE_PYTHON", sys.executable)
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    snode.RUNNERS.clear()
    yield nuke
    nuke._reset()


def _comp(nuke, shot):
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    layer = rp.Layer(roto["curves"], name="hero")
    layer.append(nuke_env.polygon_shape(roto["curves"], shot["polygon"], 2, 64, name="Bezier1"))
    roto["curves"].rootLayer.append(layer)
    g = snode.create("SAMatte1")
    g.setInput(0, read)
    g.setInput(1, roto)
    g["tracker"].setValue("shapes")
    return read, roto, g


@pytest.fixture
def locked_cache(tmp_path, monkeypatch):
    """An existing cache folder in which no file can be made, as its user sees it (the tests run as root too: a
    read-only mount refuses root as well, which ``os.access`` does not tell)."""
    locked = str(tmp_path / "cache")
    os.makedirs(locked)
    real = os.open

    def fake_open(path, flags, *a, **kw):
        if os.path.abspath(str(path)).startswith(locked + os.sep) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, flags, *a, **kw)
    monkeypatch.setattr(os, "open", fake_open)
    return locked


def test_make_folder_refuses_an_existing_folder_it_cannot_write(locked_cache):
    with pytest.raises(OutputError) as e:
        farm.make_folder(locked_cache)
    assert e.value.code == "OUTPUT_INVALID" and e.value.details["path"] == locked_cache
    assert "not writable" in e.value.message and "Read-only file system" in e.value.message
    assert "set the node's cache folder" in e.value.message
    with pytest.raises(OutputError):
        farm.make_folder(os.path.join(locked_cache, "plate_abc"))     # a new folder made inside: refused too


def test_make_folder_refuses_what_os_access_refuses(tmp_path, monkeypatch):
    d = str(tmp_path / "cache")
    os.makedirs(d)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False)
    with pytest.raises(OutputError) as e:
        farm.make_folder(d)
    assert "not writable" in e.value.message and e.value.details["path"] == d


def test_a_writable_folder_is_as_before_and_no_probe_is_left(tmp_path):
    d = str(tmp_path / "cache")
    farm.make_folder(d)
    farm.make_folder(d)
    assert os.path.isdir(d) and os.listdir(d) == []


def test_track_and_matte_into_a_locked_cache_folder_is_refused_before_rendering(nk, shot, locked_cache):
    read, roto, g = _comp(nk, shot)
    g["cache_dir"].setValue(locked_cache)
    grade = nk.nodes.Grade()
    grade.setInput(0, read)
    g.setInput(0, grade)                         # the plate is rendered into the cache folder first
    assert snode.on_track(g) is None
    st = g["status"].value()
    assert st.startswith("error [OUTPUT_INVALID] the cache folder "), st
    assert "not writable" in st and "set the node's cache folder" in st, st
    assert nk._renders == []                     # before: the Write was rendered into it
    assert not snode.RUNNERS                     # no job started


def test_export_jobspec_into_a_locked_cache_folder_says_output_invalid(nk, shot, locked_cache):
    read, roto, g = _comp(nk, shot)
    g["cache_dir"].setValue(locked_cache)
    assert snode.on_export(g) is None
    st = g["status"].value()
    assert st.startswith("error [OUTPUT_INVALID] the cache folder %s" % locked_cache), st   # (its job folder)
    assert "is not writable: Read-only file system" in st, st
    assert not g["samatte_job"].value()          # nothing stored: the read-back is not pointed anywhere


SETPRIV = shutil.which("setpriv")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or (ROOT and not SETPRIV),
                    reason="needs POSIX permissions (as root: setpriv to run without CAP_DAC_OVERRIDE)")
def test_a_read_only_folder_for_real(tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    d.chmod(0o555)
    try:
        pre = [SETPRIV, "--bounding-set=-dac_override,-fowner,-dac_read_search", "--"] if ROOT else []
        code = ("import sys; sys.path.insert(0, %r)\nfrom samatte_nuke import farm\nfrom samatte.errors import "
                "OutputError\ntry:\n    farm.make_folder(%r)\nexcept OutputError as e:\n    print(e.code, e.message)"
                % (NUKE_PLUGIN, str(d)))
        p = subprocess.run(pre + [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ))
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.startswith("OUTPUT_INVALID the cache folder") and "not writable" in p.stdout, p.stdout
    finally:
        d.chmod(0o755)
