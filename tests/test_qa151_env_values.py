"""QA of a pipeline TD's day 7: samatte's documented environment variables (README, *Environment
variables*) set to values a farm's or a workstation's environment really carries, and what each does."""
import hashlib
import os

import pytest

from samatte import models


@pytest.fixture
def shelf(tmp_path, monkeypatch):
    """A registry entry ``fake_model`` of 1 MiB, published on a studio shelf (``tmp_path/shelf``)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    payload = os.urandom(1 << 20)
    info = models.ModelInfo("fake_model", "configs/sam2.1/sam2.1_hiera_t.yaml", "fake_model.pt",
                            "http://127.0.0.1:9/fake.pt", hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(models.MODELS, "fake_model", info)
    d = tmp_path / "shelf"
    d.mkdir()
    (d / "fake_model.pt").write_bytes(payload)
    return d


def test_a_weights_mirror_given_as_a_folder_path_is_that_folder(shelf, tmp_path, monkeypatch):
    """``SAMATTE_WEIGHTS_URL=/studio/share/sam2`` (the shared folder, without ``file://``) was an
    unexpected error: urllib's ``ValueError: unknown url type`` escaped as SAMATTE_ERROR with a
    traceback ("a bug"). An absolute folder path is that folder's file:// address."""
    monkeypatch.setenv("SAMATTE_WEIGHTS_URL", str(shelf) + "/")
    assert models.download_url(models.MODELS["fake_model"]) == shelf.as_uri() + "/fake_model.pt"
    path = models.download("fake_model", dest=str(tmp_path / "d1"))
    assert (tmp_path / "d1" / "fake_model.pt").read_bytes() == (shelf / "fake_model.pt").read_bytes()
    assert str(path) == str(tmp_path / "d1" / "fake_model.pt")


@pytest.mark.parametrize("value", ["notaurl", "studio/share/sam2", "ftp:/x", "mirror.studio/sam2/"])
def test_a_weights_mirror_that_is_no_address_is_a_model_error_naming_the_variable(shelf, tmp_path, monkeypatch,
                                                                                  capsys, value):
    """Anything else that is no http(s):// or file:// address is MODEL_ERROR (exit 6) naming
    SAMATTE_WEIGHTS_URL, before a partial file is made in the models folder."""
    from samatte import cli
    monkeypatch.setenv("SAMATTE_WEIGHTS_URL", value)
    with pytest.raises(models.ModelError) as e:
        models.download("fake_model", dest=str(tmp_path / "d2"))
    assert e.value.code == "MODEL_ERROR" and "SAMATTE_WEIGHTS_URL" in e.value.message
    assert e.value.details["field"] == "SAMATTE_WEIGHTS_URL"
    assert os.listdir(str(tmp_path / "d2")) == []
    rc = cli.main(["models", "download", "fake_model", "--dest", str(tmp_path / "d3")])
    err = capsys.readouterr().err
    assert rc == 6 and "[MODEL_ERROR]" in err and "SAMATTE_WEIGHTS_URL" in err, err
    assert "Traceback" not in err and os.listdir(str(tmp_path / "d3")) == []
    # --offline-dir does not use the mirror: a bad variable does not stand in its way
    assert os.path.isfile(str(models.download("fake_model", dest=str(tmp_path / "d4"), offline_dir=str(shelf))))
