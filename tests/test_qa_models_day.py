"""QA "models day": weights management and SAM 2 as a studio runs them (a TD's pipeline in the same
Python, shared models folders, farm workers). SAM 2 with random weights at image size 256."""
import pytest

pytest.importorskip("torch")
pytest.importorskip("sam2")
pytest.importorskip("hydra")

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from samatte.track.sam2_backend import build_predictor  # noqa: E402


@pytest.fixture()
def hydra_of_the_host():
    """Leave Hydra's process-wide state as this test found it."""
    gh = GlobalHydra.instance()
    before = gh.hydra
    gh.clear()
    yield gh
    gh.clear()
    if before is not None:
        gh.initialize(before)


def _td_config(tmp_path):
    conf = tmp_path / "td_conf"
    conf.mkdir()
    (conf / "shot.yaml").write_text("shot: sh010\nfps: 24\n")
    return str(conf)


def test_sam2_builds_in_a_process_whose_hydra_a_td_pipeline_initialised(tmp_path, hydra_of_the_host):
    """A TD's pipeline initialised Hydra with its own configs: SAM 2 used to fail with MODEL_ERROR
    "Cannot find primary config 'configs/sam2.1/sam2.1_hiera_t.yaml'" (sam2 initialises Hydra only
    when nobody has); now it builds, and the pipeline's Hydra is untouched afterwards."""
    gh = hydra_of_the_host
    initialize_config_dir(config_dir=_td_config(tmp_path), version_base="1.2")
    theirs = gh.hydra
    pred = build_predictor("tiny", random_init=True, image_size=256)
    assert type(pred).__name__ == "SAM2VideoPredictor" and pred.image_size == 256
    assert gh.hydra is theirs
    assert compose("shot")["shot"] == "sh010"
    build_predictor("tiny", random_init=True, image_size=256)  # a second job in the same process
    assert gh.hydra is theirs and compose("shot")["fps"] == 24


def test_building_sam2_leaves_hydra_free_for_a_pipeline_that_starts_later(tmp_path, hydra_of_the_host):
    """samatte built SAM 2 first (an api.run in a TD's session): the pipeline initialising Hydra after it
    used to get "GlobalHydra is already initialized" (sam2 left its own Hydra set process-wide)."""
    gh = hydra_of_the_host
    build_predictor("tiny", random_init=True, image_size=256)
    assert not gh.is_initialized()
    initialize_config_dir(config_dir=_td_config(tmp_path), version_base="1.2")
    assert compose("shot")["shot"] == "sh010"
