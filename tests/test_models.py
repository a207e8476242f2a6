"""samatte.models: registry, where weights live, download/copy with checksums, safe loading."""
import hashlib
import http.server
import sys
import threading
from pathlib import Path

import pytest

from samatte import models
from samatte.errors import ModelError, WeightsCorruptError, WeightsMissingError


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Point every lookup at tmp folders (never the real ~/.samatte)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    return tmp_path


@pytest.fixture
def fake_model(monkeypatch):
    """A registry entry for a small file, with a checksum we know (or None)."""
    def make(payload, *, sha256="auto", url="http://127.0.0.1:9/fake.pt", size="auto"):
        info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt", url,
                                hashlib.sha256(payload).hexdigest() if sha256 == "auto" else sha256,
                                len(payload) if size == "auto" else size)
        monkeypatch.setitem(models.MODELS, "fake_model", info)
        return info
    return make


def test_registry_entries_are_complete():
    assert set(models.MODELS) == {"sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
                                  "sam2.1_hiera_large"}
    for name, info in models.MODELS.items():
        assert info.name == name
        assert info.config.startswith("configs/sam2.1/sam2.1_hiera_") and info.config.endswith(".yaml")
        assert info.filename == name + ".pt"
        assert info.url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/" + info.filename
        assert info.sha256 is None or (len(info.sha256) == 64 and int(info.sha256, 16) >= 0)
        assert info.size is None or info.size > 100_000_000


def test_configs_exist_in_installed_sam2():
    import importlib.util
    spec = importlib.util.find_spec("sam2")
    if spec is None:
        pytest.skip("sam2 not installed")
    root = Path(spec.origin).parent
    for info in models.MODELS.values():
        assert (root / info.config).is_file(), info.config


def test_get_model_aliases_and_unknown():
    assert models.get_model("tiny").name == "sam2.1_hiera_tiny"
    assert models.get_model("sam2.1_hiera_b+").name == "sam2.1_hiera_base_plus"
    assert models.get_model("sam2.1_hiera_large.pt").name == "sam2.1_hiera_large"
    with pytest.raises(ModelError) as e:
        models.get_model("sam3_giant")
    assert "sam2.1_hiera_tiny" in str(e.value)


def test_models_dir_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "env_models"))
    assert models.models_dir() == tmp_path / "env_models"
    monkeypatch.delenv("SAMATTE_MODELS")
    # inside a venv whose parent holds models/ (the installer's layout)
    root = tmp_path / "install"
    (root / "venv").mkdir(parents=True)
    (root / "models").mkdir()
    monkeypatch.setattr(sys, "prefix", str(root / "venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert models.models_dir() == (root / "models").resolve()
    # a venv without models/ beside it -> home folder
    (root / "models").rmdir()
    assert models.models_dir() == tmp_path / "home" / ".samatte" / "models"


def test_find_and_require_weights(isolated):
    assert models.find_weights("sam2.1_hiera_tiny") is None
    with pytest.raises(WeightsMissingError) as e:
        models.require_weights("sam2.1_hiera_tiny")
    msg = str(e.value)
    assert "sam2.1_hiera_tiny.pt" in msg
    assert str(isolated / "models") in msg
    assert "python -m samatte.models download sam2.1_hiera_tiny" in msg
    assert e.value.details["command"] == "python -m samatte.models download sam2.1_hiera_tiny"
    (isolated / "models").mkdir()
    p = isolated / "models" / "sam2.1_hiera_tiny.pt"
    p.write_bytes(b"x")
    assert models.find_weights("tiny") == p
    with pytest.raises(WeightsMissingError):
        models.require_weights("tiny", checkpoint=isolated / "nope.pt")


def test_offline_copy_verifies_checksum(isolated, fake_model):
    payload = b"weights" * 1000
    fake_model(payload)
    shelf = isolated / "shelf"
    shelf.mkdir()
    (shelf / "fake_model.pt").write_bytes(payload)
    seen = []
    p = models.download("fake_model", offline_dir=shelf, progress=seen.append)
    assert p == isolated / "models" / "fake_model.pt" and p.read_bytes() == payload
    assert seen and seen[-1].stage == "download" and seen[-1].total == len(payload)
    assert models.verify_checksum(p, models.MODELS["fake_model"].sha256) == hashlib.sha256(payload).hexdigest()
    # a bad copy on the shelf is refused and leaves nothing behind
    (shelf / "fake_model.pt").write_bytes(payload[:-1] + b"X")
    with pytest.raises(WeightsCorruptError):
        models.download("fake_model", offline_dir=shelf, dest=isolated / "other")
    assert list((isolated / "other").iterdir()) == []


def test_trust_on_first_use_when_no_published_checksum(isolated, fake_model):
    payload = b"first" * 500
    fake_model(payload, sha256=None)
    shelf = isolated / "shelf"
    shelf.mkdir()
    (shelf / "fake_model.pt").write_bytes(payload)
    p = models.download("fake_model", offline_dir=shelf)
    side = Path(str(p) + ".sha256")
    assert side.read_text().split()[0] == hashlib.sha256(payload).hexdigest()
    models.verify_checksum(p)  # against the sidecar
    p.write_bytes(b"tampered" + payload[8:])
    with pytest.raises(WeightsCorruptError):
        models.verify_checksum(p)
    # a new copy that differs from the first one is refused
    (shelf / "fake_model.pt").write_bytes(b"second" + payload[6:])
    with pytest.raises(WeightsCorruptError):
        models.download("fake_model", offline_dir=shelf, force=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *a):
        pass


@pytest.fixture
def http_server():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download_over_http_with_checksum(isolated, fake_model, http_server):
    payload = bytes(range(256)) * 5000
    _Handler.payload = payload
    url = "http://127.0.0.1:%d/fake_model.pt" % http_server.server_address[1]
    fake_model(payload, url=url)
    seen = []
    p = models.download("fake_model", progress=seen.append)
    assert p.read_bytes() == payload
    assert seen[-1].done == len(payload)
    # already installed and verified: kept
    assert models.download("fake_model") == p
    # the server now sends different bytes: checksum failure, the good file stays
    _Handler.payload = payload[:-10] + b"0123456789"
    with pytest.raises(WeightsCorruptError):
        models.download("fake_model", force=True)
    assert p.read_bytes() == payload
    assert sorted(x.name for x in p.parent.iterdir()) == ["fake_model.pt"]


def test_download_network_failure_is_a_model_error(isolated, fake_model):
    fake_model(b"abc", url="http://127.0.0.1:9/none.pt")
    with pytest.raises(ModelError) as e:
        models.download("fake_model", timeout=5)
    assert "offline" in str(e.value)


def test_load_state_dict_safely(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(3, 2)
    good = tmp_path / "good.pt"
    torch.save({"model": net.state_dict()}, str(good))
    other = torch.nn.Linear(3, 2)
    models.load_state_dict(other, good)
    assert torch.equal(other.weight, net.weight)
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[:100])
    with pytest.raises(WeightsCorruptError):
        models.load_state_dict(other, trunc)
    wrong = tmp_path / "wrong.pt"
    torch.save({"model": torch.nn.Linear(4, 2).state_dict()}, str(wrong))
    with pytest.raises(WeightsCorruptError):
        models.load_state_dict(other, wrong)
    nokey = tmp_path / "nokey.pt"
    torch.save(net.state_dict(), str(nokey))
    with pytest.raises(WeightsCorruptError):
        models.load_state_dict(other, nokey)
    evil = tmp_path / "evil.pt"
    torch.save({"model": net.state_dict(), "x": _Handler}, str(evil))  # a class: refused by weights_only
    with pytest.raises(WeightsCorruptError):
        models.load_state_dict(other, evil)


def test_resolve_device():
    torch = pytest.importorskip("torch")
    dev = models.resolve_device("auto")
    assert dev.type in ("cpu", "cuda", "mps")
    assert models.resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ModelError):
            models.resolve_device("cuda")


def test_cli_list_and_offline_download(isolated, fake_model, capsys):
    payload = b"z" * 2048
    fake_model(payload)
    shelf = isolated / "shelf"
    shelf.mkdir()
    (shelf / "fake_model.pt").write_bytes(payload)
    assert models._main(["download", "fake_model", "--offline-dir", str(shelf)]) == 0
    assert models._main(["list"]) == 0
    out = capsys.readouterr().out
    assert "fake_model.pt" in out and str(isolated / "models") in out
    assert models._main(["download", "nope_model"]) == ModelError.exit_code


def test_tracker_without_weights_names_the_fix(isolated):
    pytest.importorskip("torch")
    from samatte.track.sam2_backend import Sam2Tracker
    with pytest.raises(WeightsMissingError) as e:
        Sam2Tracker("sam2.1_hiera_small")
    assert "python -m samatte.models download sam2.1_hiera_small" in str(e.value)
