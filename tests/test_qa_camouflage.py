"""RefineParams.consensus (mask-perturbation consensus, off by default): what it may change."""
import numpy as np

from samatte.matte.params import DEFAULT
from samatte.matte.refine import refine_alpha


def _scene(seed=0):
    """A 72x72 grey-noise background, a disk of another colour with a notch of the background's colour
    at its edge (a camouflaged part), and a rough square mask around the disk."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:72, :72]
    disk = (yy - 36) ** 2 + (xx - 36) ** 2 <= 18 ** 2
    notch = disk & (xx > 44) & (abs(yy - 36) < 5)
    img = np.full((72, 72, 3), 0.35, np.float32) + rng.normal(0, 0.02, (72, 72, 3)).astype(np.float32)
    img[disk & ~notch] = (0.8, 0.3, 0.2)
    mask = np.zeros((72, 72), np.float32)
    mask[16:57, 16:57] = 1.0
    return np.clip(img, 0, 1), mask


def test_consensus_off_by_default_and_identical():
    assert DEFAULT.consensus == 0.0
    img, mask = _scene()
    a = refine_alpha(img, mask)
    b = refine_alpha(img, mask, options={"consensus": 0.0})
    assert np.array_equal(a, b)


def test_consensus_only_takes_back_flips():
    img, mask = _scene()
    hard = mask >= 0.5
    a = refine_alpha(img, mask)
    info = {}
    c = refine_alpha(img, mask, options={"consensus": 2}, info=info)
    changed = a != c
    flipped = np.where(hard, a < 0.5, a >= 0.5)
    assert flipped.any()                       # the scene has flips to judge
    assert not (changed & ~flipped).any()      # nothing but a flip changes
    # a changed pixel goes back to the mask's side of 0.5
    assert np.all(np.where(hard, c >= 0.5, c < 0.5)[changed])
    assert info["consensus_px"] == int(np.count_nonzero(changed))
