"""Shared test doubles for the SAM2 backend tests (no tests here).

``SyntheticSource`` stands in for :class:`samatte.io.source.FrameSource`: it makes each frame in
memory (a textured background with a moving disc), so tests hold no files and no whole shot.
``tiny_predictor`` builds SAM2.1-tiny with random weights (fixed seed) once per image size.
``_one_thread`` (autouse) and ``pred`` (SAM2.1-tiny at 128 px) are fixtures for the modules that
import them: ``from test_sam2_fakes import _one_thread, pred  # noqa: F401``.
"""
import functools
import warnings

import numpy as np
import pytest

from samatte.stages import Plate, PlateInfo, TrackerObject, Window


def disc_centre(frame, width, height):
    t = frame * 0.15
    return (width * (0.35 + 0.2 * np.sin(t)), height * (0.45 + 0.15 * np.cos(t)))


def make_display(frame, width, height, radius=None):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    bg = np.stack([0.3 + 0.2 * np.sin(xx / 7.0), 0.4 + 0.2 * np.cos(yy / 9.0),
                   0.5 + 0.1 * np.sin((xx + yy) / 11.0)], axis=-1)
    cx, cy = disc_centre(frame, width, height)
    r = radius or min(width, height) * 0.18
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    bg[inside] = (0.9, 0.25, 0.1)
    return np.clip(bg, 0, 1).astype(np.float32), inside


class SyntheticSource:
    def __init__(self, frames, width=128, height=96):
        self.frames = list(frames)
        w = Window(0, 0, width, height)
        self.info = PlateInfo(data=w, display=w)
        self.gets = []
        self.prefetched = None

    def get(self, frame):
        if frame not in self.frames:
            raise KeyError(frame)
        self.gets.append(frame)
        disp, _ = make_display(frame, self.info.width, self.info.height)
        return Plate(frame=frame, linear=disp, display=disp, info=self.info)

    def prefetch(self, frames_in_order):
        self.prefetched = list(frames_in_order)

    def mask(self, frame):
        return make_display(frame, self.info.width, self.info.height)[1]


@functools.lru_cache(maxsize=None)
def tiny_predictor(image_size=256, seed=0):
    import torch
    warnings.filterwarnings("ignore", message=".*cannot import name '_C'.*")
    from sam2.build_sam import build_sam2_video_predictor
    torch.manual_seed(seed)
    return build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu",
                                      hydra_overrides_extra=["++model.image_size=%d" % image_size])


@pytest.fixture(autouse=True)
def _one_thread():
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread is several times faster than two here
    warnings.filterwarnings("ignore", category=UserWarning)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def pred():
    return tiny_predictor(128)


#: Options that make Sam2Tracker behave exactly like upstream's propagate_in_video.
UPSTREAM_COMPAT = {"max_cond_frames": -1, "clear_mem_at_keyframes": False, "refine_points": False,
                   "fill_hole_area": 0}


def obj(name, prompts):
    return TrackerObject(name=name, prompts=prompts)
