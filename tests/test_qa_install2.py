"""QA (a studio admin installing samatte and its weights): partial downloads, the installer's models
folder, the host installers' handling of the user's own config files."""
import hashlib
import os
import signal
import subprocess
import sys

import pytest

from samatte import models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(REPO, "core")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A registry entry ``fake_model`` of 3 MiB, published on a studio shelf (``tmp_path/shelf``)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    payload = os.urandom(3 << 20)
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake.pt", hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(models.MODELS, "fake_model", info)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "fake_model.pt").write_bytes(payload)
    return shelf


_KILLED_COPY = r"""
import os, signal, sys
sys.path.insert(0, %(core)r)
from samatte import models
models.MODELS["fake_model"] = models.ModelInfo("fake_model", "c", "fake_model.pt", "http://127.0.0.1:9/x",
                                               %(sha)r, %(size)d)
def dying(src, dst, hasher, total, progress, msg):
    dst.write(src.read(1 << 20))
    dst.flush()
    os.kill(os.getpid(), signal.%(sig)s)   # SIGTERM's default action, or kill -9: no finally runs
models._copy_stream = dying
models.download("fake_model", dest=%(dest)r, offline_dir=%(shelf)r)
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_killed_download_leaves_no_partial_file_after_the_next_download(fake, tmp_path, sig):
    """A download killed by SIGTERM (a farm's timeout, systemd) or kill -9 left its 'fake_model.pt.XXXX.part'
    (here 1 MiB; 156-898 MB for the real checkpoints) in the models folder for good: the next download
    installed the file beside it and never removed it. Now the next download removes the partial files
    of dead processes."""
    dest = tmp_path / "dest"
    dest.mkdir()
    info = models.MODELS["fake_model"]
    code = _KILLED_COPY % {"core": CORE, "sha": info.sha256, "size": info.size, "sig": sig, "dest": str(dest),
                           "shelf": str(fake)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == -getattr(signal, sig), p.stderr
    left = os.listdir(str(dest))
    assert len(left) == 1 and left[0].endswith(".part") and os.path.getsize(str(dest / left[0])) == 1 << 20
    path = models.download("fake_model", dest=str(dest), offline_dir=str(fake))
    assert sorted(os.listdir(str(dest))) == ["fake_model.pt"]
    assert models.verify_checksum(path, info.sha256) == info.sha256


def test_a_download_in_flight_in_another_process_is_left_alone(fake, tmp_path):
    """Two processes downloading into one folder: the second never removes the first's partial file."""
    from samatte.io.writer import host_tag
    dest = tmp_path / "dest"
    dest.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        part = dest / ("fake_model.pt.%s.%d.abcd_123.part" % (host_tag(), other.pid))
        part.write_bytes(b"x" * 1000)
        models.download("fake_model", dest=str(dest), offline_dir=str(fake))
        assert part.exists()
    finally:
        other.kill()
        other.wait()
    models.download("fake_model", dest=str(dest), offline_dir=str(fake), force=True)
    assert sorted(os.listdir(str(dest))) == ["fake_model.pt"]


def _installer(monkeypatch, tmp_path):
    """install/install.py as a module, its venv and package steps stubbed (the venv's python is this one)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("samatte_installer_qa2", os.path.join(REPO, "install", "install.py"))
    inst = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inst)
    monkeypatch.setattr(inst, "make_venv", lambda venv, python: sys.executable)
    monkeypatch.setattr(inst, "read_stamp", lambda venv: inst.stamp_key(type("A", (), {"no_sam2": True})()))
    monkeypatch.setattr(inst, "imports_ok", lambda py, sam2: True)
    monkeypatch.setattr(inst, "install_packages", lambda py, args: (_ for _ in ()).throw(AssertionError("no pip")))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYTHONPATH", CORE)
    monkeypatch.delenv("SAMATTE_MODELS", raising=False)
    return inst


def test_installer_says_when_samatte_will_not_find_its_models_dir(tmp_path, monkeypatch, capsys):
    """`install.sh --models-dir /studio/models` put the weights where samatte never looks (it looks in
    $SAMATTE_MODELS, <venv>/../models, ~/.samatte/models): 'weights ready: /studio/models/...' and then
    `samatte models list` said 'not downloaded' and every 'auto' job tracked with 'flow', without a word.
    Now the installer says so and names SAMATTE_MODELS."""
    inst = _installer(monkeypatch, tmp_path)
    studio = tmp_path / "studio models"
    rc = inst.main(["--venv", str(tmp_path / "opt" / "venv"), "--no-sam2", "--no-weights", "--models-dir", str(studio)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "samatte does not look for weights in %s" % studio in out and "SAMATTE_MODELS=%s" % studio in out
    # where samatte does look, nothing is said: SAMATTE_MODELS set, or the default folder beside the venv
    monkeypatch.setenv("SAMATTE_MODELS", str(studio))
    assert inst.main(["--venv", str(tmp_path / "opt" / "venv"), "--no-sam2", "--no-weights", "--models-dir",
                      str(studio)]) == 0
    assert "does not look" not in capsys.readouterr().out
    monkeypatch.delenv("SAMATTE_MODELS")
    assert inst.models_dir_note(sys.executable, str(tmp_path / "home" / ".samatte" / "models")) is None


# --- Nuke: the user's own ~/.nuke/init.py ----------------------------------------------------------
sys.path.insert(0, os.path.join(REPO, "nuke_plugin", "samatte_nuke"))
import setup_nuke  # noqa: E402


def test_nuke_init_with_a_deleted_end_marker_keeps_the_users_lines(tmp_path):
    """A samatte block whose end line the user deleted, followed by their own lines: the first re-install
    appended a second block, the second replaced everything from the first begin marker to the new
    block's end: 'nuke.pluginAddPath("/my/own/tools")' and 'import mystudio' were gone. Now it is
    refused, naming the file and the missing line, and the file is left as it was."""
    d = tmp_path / ".nuke"
    setup_nuke.install(str(d), "/p/python")
    init = d / "init.py"
    text = init.read_text().replace(setup_nuke.END + "\n", "") + 'nuke.pluginAddPath("/my/own/tools")\nimport mystudio\n'
    init.write_text(text)
    for _ in range(2):
        with pytest.raises(setup_nuke.SetupError) as ei:
            setup_nuke.install(str(d), "/p/python")
        assert str(init) in str(ei.value) and setup_nuke.END in str(ei.value)
        assert init.read_text() == text
    assert setup_nuke.main(["--python", "/p/python", "--nuke-dir", str(d)]) == 1


@pytest.mark.parametrize("raw", [b"# r\xe9glages du studio (cp1252)\r\nimport nuke\r\n",
                                 b"import nuke\r\nnuke.pluginAddPath('/studio')\r\n"])
def test_nuke_init_bytes_outside_the_block_are_kept(tmp_path, raw):
    """An init.py in cp1252 (a Windows studio's) made the installer die with a UnicodeDecodeError traceback
    after the venv was built; CRLF line endings were rewritten to LF. Now every byte outside samatte's
    block stays as it was, and re-running changes nothing."""
    d = tmp_path / ".nuke"
    d.mkdir()
    (d / "init.py").write_bytes(raw)
    setup_nuke.install(str(d), "/p/python")
    first = (d / "init.py").read_bytes()
    assert first.startswith(raw) and first.count(setup_nuke.BEGIN.encode()) == 1
    setup_nuke.install(str(d), "/p/python")
    assert (d / "init.py").read_bytes() == first


def test_nuke_init_that_is_a_symlink_stays_one(tmp_path):
    """~/.nuke/init.py linked to a dotfiles repo's file was replaced by a copy (the link gone: later
    edits of the repo's file no longer reached Nuke). Now the block is written into the link's target."""
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "nuke_init.py").write_text("import nuke\nnuke.pluginAddPath('/mine')\n")
    d = tmp_path / ".nuke"
    d.mkdir()
    os.symlink(str(dotfiles / "nuke_init.py"), str(d / "init.py"))
    setup_nuke.install(str(d), "/p/python")
    assert os.path.islink(str(d / "init.py"))
    text = (dotfiles / "nuke_init.py").read_text()
    assert text.startswith("import nuke\nnuke.pluginAddPath('/mine')\n") and setup_nuke.BEGIN in text


def test_installer_nuke_or_blender_step_failing_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    """install.py --nuke into a ~/.nuke it cannot write (or --blender into such an extensions folder)
    ended in a PermissionError traceback after the venv was built; now a one-line reason."""
    inst = _installer(monkeypatch, tmp_path)

    def denied(*a, **kw):
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro"))
    monkeypatch.setattr(setup_nuke, "install", denied)
    sys.path.insert(0, os.path.join(REPO, "install"))
    import blender
    monkeypatch.setattr(blender, "install", denied)
    base = ["--venv", str(tmp_path / "venv"), "--no-sam2", "--no-weights"]
    for extra, host in ((["--nuke", str(tmp_path / "ro")], "Nuke"), (["--blender"], "Blender")):
        with pytest.raises(SystemExit) as ei:
            inst.main(base + extra)
        msg = str(ei.value.code)
        assert msg.startswith("[samatte install] %s: cannot" % host) and "Permission denied" in msg


@pytest.mark.parametrize("damage", ["truncated", "wrong bytes"])
def test_a_refused_offline_copy_names_the_studio_file(fake, tmp_path, damage, capsys):
    """`samatte models download NAME --offline /studio/share` with a bad file on the shelf said
    'fake_model.pt failed its checksum' with details naming <dest>/fake_model.pt, a file that does not
    exist: the admin was not told which copy is bad. Now the message names the shelf's file."""
    from samatte import cli
    shelf_file = fake / "fake_model.pt"
    data = shelf_file.read_bytes()
    shelf_file.write_bytes(data[:1000] if damage == "truncated" else bytes([data[0] ^ 0xFF]) + data[1:])
    dest = tmp_path / "dest"
    rc = cli.main(["models", "download", "fake_model", "--offline", str(fake), "--dest", str(dest)])
    err = capsys.readouterr().err
    assert rc == 6 and "[WEIGHTS_CORRUPT]" in err and "from %s" % shelf_file in err, err
    assert os.listdir(str(dest)) == []


def test_auto_tracker_with_a_truncated_checkpoint_says_so_before_loading(tmp_path, monkeypatch):
    """A truncated sam2.1_hiera_tiny.pt (an interrupted manual copy onto the share, 5000 bytes) made 'auto'
    pick SAM 2 and fail inside torch.load with torch's UnpicklingError text, which advises 'Re-running
    torch.load with weights_only set to False will likely succeed' (arbitrary code execution). Now the
    tracker is refused when it is made (WEIGHTS_CORRUPT, exit 6) with both sizes and the install command."""
    from samatte.errors import WeightsCorruptError
    from samatte.track import get_tracker
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    bad = tmp_path / "models" / "sam2.1_hiera_tiny.pt"
    bad.write_bytes(os.urandom(5000))
    with pytest.raises(WeightsCorruptError) as ei:
        get_tracker("auto", model="sam2.1_hiera_tiny")
    msg = str(ei.value)
    assert ei.value.exit_code == 6 and str(bad) in msg and "5000 bytes" in msg and "156008466" in msg
    assert "samatte.models download sam2.1_hiera_tiny" in msg and "weights_only" not in msg


def test_installer_models_dir_that_cannot_be_made_is_a_message(tmp_path, monkeypatch):
    """`install.sh --models-dir /mnt/share/models` where the share is read-only or not mounted ended in
    a FileNotFoundError / PermissionError traceback from os.makedirs after the venv was built."""
    inst = _installer(monkeypatch, tmp_path)
    blocker = tmp_path / "share"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(SystemExit) as ei:
        inst.main(["--venv", str(tmp_path / "venv"), "--no-sam2", "--no-weights", "--models-dir",
                   str(blocker / "models")])
    msg = str(ei.value.code)
    assert msg.startswith("[samatte install] cannot create the models folder %s" % (blocker / "models")), msg


_PYS = {v: os.path.expanduser("~/.pyenv/versions/%s/bin/python" % v) for v in ("3.10.13", "3.13.0", "3.9.18")}


@pytest.mark.parametrize("version", sorted(_PYS))
def test_install_sh_refuses_a_python_the_pins_have_no_wheels_for(tmp_path, version):
    """README: 'Python 3.9+'. With PYTHON=python3.10 (or 3.9) install.sh made the venv and then pip failed
    on 'No matching distribution found for scipy==1.17.1' (scipy 1.17 needs 3.11+); with 3.13 on numpy
    1.26.4 (no wheels past 3.12); a PATH with python3.10 and python3.11 missing picked 3.10. Now such a
    Python is refused up front (exit 7, like a missing one), with its version and why, and no venv is made."""
    py = _PYS[version]
    if not os.path.exists(py):
        pytest.skip("%s is not installed here" % py)
    env = dict(os.environ, PYTHON=py)
    p = subprocess.run(["bash", os.path.join(REPO, "install", "install.sh"), "--no-sam2", "--no-weights",
                        "--venv", str(tmp_path / "venv")], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "is %s, not a Python 3.11 or 3.12" % version.rsplit(".", 1)[0] in p.stderr and "wheels" in p.stderr
    assert not (tmp_path / "venv").exists()


def test_a_studio_mirror_url_is_fetched_from_and_still_checked(fake, tmp_path, monkeypatch):
    """SAMATTE_WEIGHTS_URL points downloads at a studio mirror (http:// or file://) instead of Meta's
    address (there was no way to use one: a file:// --offline was a mangled path); the checksum is
    checked the same, and a wrong file on the mirror is refused naming the mirror's URL."""
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(fake))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SAMATTE_WEIGHTS_URL", "http://127.0.0.1:%d/" % srv.server_address[1])
        path = models.download("fake_model", dest=str(tmp_path / "d1"))
        assert models.verify_checksum(path, models.MODELS["fake_model"].sha256)
    finally:
        srv.shutdown()
        srv.server_close()
    monkeypatch.setenv("SAMATTE_WEIGHTS_URL", fake.as_uri())
    assert models.download_url(models.MODELS["fake_model"]) == fake.as_uri() + "/fake_model.pt"
    assert os.path.getsize(str(models.download("fake_model", dest=str(tmp_path / "d2")))) == 3 << 20
    monkeypatch.delenv("SAMATTE_WEIGHTS_URL")
    assert os.path.isfile(str(models.download("fake_model", dest=str(tmp_path / "d3"), offline_dir=fake.as_uri())))
    bad = tmp_path / "badshelf"
    bad.mkdir()
    (bad / "fake_model.pt").write_bytes(os.urandom(3 << 20))
    monkeypatch.setenv("SAMATTE_WEIGHTS_URL", bad.as_uri())
    with pytest.raises(models.WeightsCorruptError) as e:
        models.download("fake_model", dest=str(tmp_path / "d4"))
    assert bad.as_uri() in e.value.message and os.listdir(str(tmp_path / "d4")) == []


def test_models_list_marks_a_truncated_checkpoint(tmp_path, monkeypatch, capsys):
    """`samatte models list` showed a truncated checkpoint as installed (a job then failed
    WEIGHTS_CORRUPT); it is now marked INCOMPLETE, and --json says complete: false."""
    import json
    from samatte import cli
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path))
    (tmp_path / models.MODELS["sam2.1_hiera_tiny"].filename).write_bytes(b"x" * 5000)
    assert cli.main(["models", "list"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if "sam2.1_hiera_tiny" in ln][0]
    assert "INCOMPLETE (5000 of" in line
    assert cli.main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["sam2.1_hiera_tiny"]["complete"] is False and rows["sam2.1_hiera_small"]["complete"] is None
