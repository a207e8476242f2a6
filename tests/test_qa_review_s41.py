"""Review of a day's changes (s41): neighbouring cases the day's fixes did not try.

* ``SAMATTE_LOG_LEVEL`` was checked against a list of six names (DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL):
  ``fatal`` and ``notset``, logging's own names which the CLI and the worker took before (``getattr(logging,
  ...)``), became "not a level" with a warning and the default level.
* ``WorkerClient(startup_timeout=...)``: the day made ``timeout`` None / 0 or less = no limit and anything but a
  number JOBSPEC_INVALID before a worker starts ("as startup_timeout's 0"), but ``startup_timeout=-1`` failed at
  once ("[WORKER_FAILED] the samatte worker did not start within -1 s", the worker started and killed) and
  ``startup_timeout="60"`` (a config file's text) started a worker, then raised a bare TypeError.
"""
import logging
import subprocess
import sys

import pytest

from samatte.errors import JobSpecError


@pytest.mark.parametrize("value,level", [("fatal", logging.CRITICAL), ("FATAL", logging.CRITICAL),
                                         ("notset", logging.NOTSET), ("critical", logging.CRITICAL),
                                         ("warn", logging.WARNING), ("Debug", logging.DEBUG), ("15", 15)])
def test_every_name_logging_knows_is_a_level_without_a_warning(value, level):
    from samatte.cli import log_level
    assert log_level(value) == (level, None)
    assert log_level(value, logging.INFO) == (level, None)


@pytest.mark.parametrize("value", ["verbose", "trace", "BASIC_FORMAT", "Level 5", "root"])
def test_what_is_no_level_is_still_the_default_with_a_warning(value):
    from samatte.cli import log_level
    level, problem = log_level(value, logging.INFO)
    assert level == logging.INFO and problem and repr(value) in problem


def test_the_cli_at_fatal_is_quiet_and_says_nothing_of_its_level(tmp_path):
    """``SAMATTE_LOG_LEVEL=fatal samatte ...``: no 'is not a level' warning on stderr (it was one, at WARNING)."""
    import os
    env = dict(os.environ, SAMATTE_LOG_LEVEL="fatal", PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, "-m", "samatte", "validate", str(tmp_path / "none.json")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0            # (no such file: an error, which is printed whatever the level)
    assert "not a level" not in p.stderr, p.stderr


@pytest.fixture
def popen_calls(monkeypatch):
    calls = []
    real = subprocess.Popen

    def spy(*a, **kw):
        calls.append(a)
        return real(*a, **kw)
    monkeypatch.setattr(subprocess, "Popen", spy)
    return calls


@pytest.mark.parametrize("value", ["60", True, [60]])
def test_a_startup_timeout_that_is_no_number_is_refused_before_a_worker_starts(popen_calls, value):
    from samatte.client import WorkerClient
    with pytest.raises(JobSpecError) as e:
        WorkerClient(sys.executable, startup_timeout=value)
    assert e.value.code == "JOBSPEC_INVALID" and e.value.details["field"] == "startup_timeout"
    assert "seconds" in e.value.message
    assert popen_calls == []


@pytest.mark.parametrize("value", [-1, 0, None])
def test_a_startup_timeout_of_zero_or_less_is_no_limit(popen_calls, value):
    from samatte.client import WorkerClient
    with WorkerClient(sys.executable, startup_timeout=value) as w:
        assert w.alive() and w.hello["type"] == "hello"
    assert len(popen_calls) == 1


# --- SAMATTE_WEIGHTS_URL given as a Windows folder path -------------------------------------------------------
@pytest.mark.parametrize("folder,local", [
    (r"\\server\share\sam2", r"\\server\share\sam2\fake_model.pt"),          # a UNC share
    (r"\\server\share\sam2" + "\\", r"\\server\share\sam2\fake_model.pt"),
    (r"Z:\share\sam2", r"Z:\share\sam2\fake_model.pt"),                       # a mapped drive (as before)
])
def test_a_windows_mirror_folder_is_an_address_urllib_opens_there(monkeypatch, folder, local):
    """Today's "an absolute folder path is its file:// address" on Windows: a UNC share ``\\\\server\\share\\sam2``
    (a studio's usual mirror) became pathlib's ``file://server/share/sam2/...``, a file on the host "server" to
    urllib, which opens only local files (``FileHandler``: "file not on local host", after reading ``\\share\\...``
    on the current drive): MODEL_ERROR 'cannot download'. Windows is simulated: ``ntpath`` and ``PureWindowsPath``
    in ``samatte.models``, and urllib's own Windows reading of the address (``nturl2path``)."""
    import ntpath
    import nturl2path
    import os
    import pathlib
    import types
    import urllib.request

    from samatte import models
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake.pt", "0" * 64, 1)
    monkeypatch.setattr(models, "os", types.SimpleNamespace(environ={"SAMATTE_WEIGHTS_URL": folder}, path=ntpath,
                                                            fspath=os.fspath))
    monkeypatch.setattr(models, "Path", pathlib.PureWindowsPath)
    url = models.download_url(info)
    req = urllib.request.Request(url)
    # urllib.request.FileHandler opens url2pathname(selector) only for an address with no host (or localhost)
    assert req.type == "file" and req.host in ("", "localhost"), url
    assert nturl2path.url2pathname(req.selector) == local, url


# --- a request's own timeout ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def worker():
    from samatte.client import WorkerClient
    with WorkerClient(sys.executable) as w:
        yield w


@pytest.mark.parametrize("value", [0, -1, 0.0])
def test_a_request_timeout_of_zero_or_less_is_no_limit(worker, value):
    """``w.status(job, timeout=0)`` failed at once ("[WORKER_FAILED] the samatte worker did not answer a 'status'
    request within 0 s"), ``timeout=-1`` was a bare ValueError from queue.get, both after the request was sent:
    as the client's ``timeout`` since today, 0 or less is no limit."""
    res = worker.validate({"samatte_job": 1}, timeout=value)     # the worker's answer: a job with no plate
    assert res["valid"] is False and "plate" in res["error"]["message"]
    assert worker.release(timeout=value) == [] and worker.alive()


@pytest.mark.parametrize("value", ["5", True, [5]])
def test_a_request_timeout_that_is_no_number_is_refused_before_it_is_sent(worker, monkeypatch, value):
    from samatte.errors import JobSpecError
    sent = []
    monkeypatch.setattr(worker, "_send", sent.append)
    with pytest.raises(JobSpecError) as e:
        worker.validate({"samatte_job": 1}, timeout=value)
    assert e.value.details["field"] == "timeout" and "seconds" in e.value.message
    assert sent == []


# --- Nuke: a SAMatte node on another's Prompts input, in track mode ----------------------------------------------
@pytest.fixture(scope="module")
def nuke_shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("s41nk")), frames=4, size=(64, 64), first=1001)


@pytest.fixture
def nk(tmp_path, monkeypatch):
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
    import nuke_env
    from samatte_nuke import farm, node as snode
    nuke = nuke_env.fresh()
    nuke.root()["name"].setValue(str(tmp_path / "sh_v001.nk"))
    farm._memo.clear()
    renders = []
    nuke._set_render_hook(lambda w, first, last: renders.append((w["file"].value(), first, last)))
    nuke._renders = renders
    monkeypatch.setenv("SAMATTE_PYTHON", sys.executable)
    monkeypatch.setenv("SAMATTE_NUKE_CONFIG", str(tmp_path / "none.json"))
    snode.RUNNERS.clear()
    yield nuke, nuke_env, snode
    nuke._reset()


def _nuke_pair(nk, shot):
    """Read1 -> SAMatte1 (Prompts: Roto1 on Read1 with layers 'hero' and 'car'; car skipped) and SAMatte2 (hero
    skipped), its inputs left to the test."""
    nuke, nuke_env, snode = nk
    read = nuke_env.make_read(shot["plate"], 1001, 1004, width=64, height=64, mode="start at", value=1)
    roto = nuke.nodes.Roto()
    roto.setInput(0, read)
    for i, name in enumerate(("hero", "car")):
        layer = nuke_env.rp.Layer(roto["curves"], name=name)
        poly = [(x + 3 * i, y) for x, y in shot["polygon"]]
        layer.append(nuke_env.polygon_shape(roto["curves"], poly, 2, 64, name="Bezier_%s" % name))
        roto["curves"].rootLayer.append(layer)
    g1 = snode.create("SAMatte1")
    g1.setInput(0, read)
    g1.setInput(1, roto)
    g1["skip_objects"].setValue("car")
    g2 = snode.create("SAMatte2")
    g2["skip_objects"].setValue("hero")
    for g in (g1, g2):
        g["tracker"].setValue("shapes")
    return read, roto, g1, g2


@pytest.mark.parametrize("source", ["read", "samatte1"])
def test_a_samatte_node_on_the_prompts_input_lends_its_own_roto(nk, nuke_shot, source):
    """SAMatte2's Prompts on SAMatte1 (one node per object from the roto SAMatte1 uses; or the chain Read1 ->
    SAMatte1 -> SAMatte2 with both inputs dragged from SAMatte1): since today's 'a SAMatte node shows its Source's
    picture only' it was PROMPT_INVALID "no enabled Roto, RotoPaint or Tracker4 node found upstream of the Prompts
    input" (the first took SAMatte1's Roto1 the day before). Its job is now the one Prompts on Roto1 makes."""
    nuke, nuke_env, snode = nk
    read, roto, g1, g2 = _nuke_pair(nk, nuke_shot)
    g2.setInput(0, read if source == "read" else g1)
    g2.setInput(1, roto)
    want, _ = snode.build(g2)
    g2.setInput(1, g1)
    job, _ = snode.build(g2)
    assert [o["name"] for o in job["objects"]] == ["car"]
    assert job == want and job["plate"]["path"] == nuke_shot["plate"] and nuke._renders == []


def test_refine_only_still_takes_the_samatte_node_s_matte_and_a_disabled_one_lends_nothing(nk, nuke_shot):
    import os
    nuke, nuke_env, snode = nk
    read, roto, g1, g2 = _nuke_pair(nk, nuke_shot)
    g2.setInput(0, read)
    g2.setInput(1, g1)
    g2["roto_mode"].setValue(snode.REFINE_ONLY)
    job, _ = snode.build(g2)
    (ob,) = job["objects"]
    assert ob["name"] == "SAMatte1" and "%sroto_" % os.sep in ob["masks"]["path"]
    g2["roto_mode"].setValue(snode.ROTO_MODES[0])
    g1["disable"].setValue(True)            # a disabled SAMatte node shows its Source: no roto
    with pytest.raises(Exception) as e:
        snode.build(g2)
    assert getattr(e.value, "code", None) == "PROMPT_INVALID"
