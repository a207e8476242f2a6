"""QA of odd plate geometry and content end to end: every valid plate and prompt gives finite mattes
in [0, 1] with the plate's windows, or a coded error (never a traceback / exit 1)."""
import json

import numpy as np
import pytest

from samatte.io import exr
from qa_cli import read_exr as _read, run_cli as _run_cli


def _job(tmp_path, plate, objects, *, tracker="shapes", matte="refine"):
    doc = {"samatte_job": 1, "name": "qa", "plate": {"path": str(plate)}, "objects": objects,
           "tracker": {"backend": tracker}, "matte": {"backend": matte},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(doc))
    return p


def _box(frame, box):
    return [{"name": "o", "prompts": [{"frame": frame, "type": "box", "box": box}]}]


def _grey_frames(folder, channels, frames=2):
    """A greyscale plate (a bright 12x8 block on 0.2) stored as ``channels`` (Y first, A = 1)."""
    folder.mkdir()
    for k in range(frames):
        img = np.zeros((24, 32, len(channels)), np.float32)
        img[..., 0] = 0.2
        img[8:16, 10 + k:22 + k, 0] = 0.8
        if "A" in channels:
            img[..., list(channels).index("A")] = 1.0
        exr.write_image(str(folder / ("p.%04d.exr" % (1001 + k))), img, channels=channels)
    return folder / "p.####.exr"


def test_greyscale_exr_with_alpha_is_a_grey_plate(tmp_path, capsys):
    """A luminance-only EXR with alpha (channels Y, A: OpenEXR's greyscale RGBA layout) was
    CHANNELS_INVALID 'no R, G, B channels (give a layer)' though no layer could help, while a Y-only
    EXR worked. Its Y is now read as grey RGB, end to end."""
    plate = _grey_frames(tmp_path / "plate", ("Y", "A"))
    info = exr.read_info(str(plate).replace("####", "1001"))
    assert info.channels == ("Y",)
    frame = exr.read_frame(str(plate).replace("####", "1002"))
    assert frame.linear.shape == (24, 32, 3)
    assert np.allclose(frame.linear[10, 15], 0.8, atol=1e-3) and np.allclose(frame.linear[0, 0], 0.2, atol=1e-3)
    rc, err = _run_cli(["run", _job(tmp_path, plate, _box(1001, [10, 8, 22, 16]))], capsys)
    assert rc == 0, err
    for f in (1001, 1002):
        names, px, _ = _read(tmp_path / "out" / ("m.%d.exr" % f))
        assert np.all(np.isfinite(px))
        a = px[..., names.index("A")]
        assert 0.0 <= a.min() and a.max() <= 1.0 and a[12, 16] == 1.0 and a[0, 0] == 0.0
        rgb = px[..., [names.index(c) for c in "RGB"]]
        assert np.allclose(rgb[..., 0], rgb[..., 1]) and np.allclose(rgb[..., 0], rgb[..., 2])


def test_greyscale_layer_with_alpha(tmp_path):
    """The same inside a named layer (beauty.Y, beauty.A) or a part named beauty holding Y, A."""
    img = np.zeros((4, 5, 2), np.float32)
    img[..., 0], img[..., 1] = 0.5, 1.0
    p = tmp_path / "l.exr"
    exr.write_image(str(p), img, channels=("beauty.Y", "beauty.A"))
    assert np.allclose(exr.read_frame(str(p), layer="beauty").linear, 0.5)
    exr.write_parts(str(p), [{"pixels": img[..., :1] * 0, "channels": ("Z",), "name": "depth"},
                             {"pixels": img, "channels": ("Y", "A"), "name": "beauty"}])
    assert np.allclose(exr.read_frame(str(p), layer="beauty").linear, 0.5)


@pytest.mark.parametrize("channels", [("R", "G"), ("U", "V"), ("Z", "A")])
def test_other_channel_sets_stay_channels_invalid(tmp_path, capsys, channels):
    """Two channels that are not a greyscale Y are still a coded CHANNELS_INVALID (exit 3), nothing
    written."""
    plate = _grey_frames(tmp_path / "plate", channels)
    rc, err = _run_cli(["run", _job(tmp_path, plate, _box(1001, [10, 8, 22, 16]))], capsys)
    assert rc == 3 and "[CHANNELS_INVALID]" in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.exr"))


def test_stage_track_summary_counts_the_requested_frames(tmp_path, capsys):
    """`run --stage track --frames 1001-1002` with the only prompt on 1004 re-tracks the span 1001-1004
    that decides them; the summary said '4 tracked, -2 current'. It counts the requested frames and
    names the span's others apart."""
    plate = _grey_frames(tmp_path / "plate", ("Y",), frames=4)
    job = _job(tmp_path, plate, _box(1004, [13, 8, 25, 16]), matte="none")
    rc, err = _run_cli(["run", job, "--stage", "track", "--frames", "1001-1002"], capsys)
    assert rc == 0, err
    done = [ln for ln in err.splitlines() if ln.startswith("done")][-1]
    assert "2 tracked, 0 current (+2 frame(s) of their span)" in done, done
    rc, err = _run_cli(["run", job, "--stage", "track", "--frames", "1001-1002"], capsys)
    done = [ln for ln in err.splitlines() if ln.startswith("done")][-1]
    assert rc == 0 and "0 tracked, 2 current" in done and "-" not in done.split("2/2", 1)[1], done


@pytest.mark.parametrize("kind", ["tight", "rough"])
@pytest.mark.parametrize("width", [1, 2])
def test_refine_keeps_an_object_thinner_than_three_pixels(width, kind):
    """An object 1-2 px across (a wire, a dot) had no solid core once the band was cut: the solve had no
    foreground sample and gave alpha 0 for all of it. With no core at all (rough masks), the mask is
    the answer; a tight mask's part keeps a core however thin and is solved."""
    from samatte.matte.refine import refine_alpha
    img = np.full((64, 64, 3), 0.2, np.float32)
    img[10:54, 30:30 + width] = (0.9, 0.8, 0.7)          # a bright wire, exactly masked
    mask = np.zeros((64, 64), np.float32)
    mask[10:54, 30:30 + width] = 1.0
    info = {}
    alpha = refine_alpha(img, mask, mask=kind, info=info)
    if kind == "rough":      # no part under 3 work px keeps a core: the mask is the answer
        assert info.get("no_core") is True
        assert np.array_equal(alpha, mask)
    else:                    # tight masks keep a core however thin (RefineParams.core_depth): solved
        assert "no_core" not in info
        assert np.abs(alpha - mask).max() < 1e-3
    wide = mask.copy()
    wide[10:54, 30:36] = 1.0                             # 6 px across: a core, solved as before
    info = {}
    refine_alpha(img, wide, mask=kind, info=info)
    assert "no_core" not in info


@pytest.mark.parametrize("width", [1, 2])
def test_a_tight_mask_keeps_a_thin_separate_part_at_a_reduced_working_scale(width):
    """A wire beside a large object, exactly masked (tight): at 512 px the working scale is ~0.55, the
    wire 1-2 work px across, so it got no solid core (RefineParams.core_depth 1.0) and, its colour
    unlike the object's core, the solve erased it (alpha ~0.1). Tight masks keep it (core_depth 0.5)."""
    from samatte.matte.refine import refine_alpha
    size = 512
    img = np.full((size, size, 3), 0.2, np.float32)
    mask = np.zeros((size, size), np.float32)
    img[10:size - 10, 30:30 + width] = (0.9, 0.8, 0.7)
    mask[10:size - 10, 30:30 + width] = 1.0
    yy, xx = np.mgrid[0:size, 0:size]
    disc = np.hypot(yy - size / 2, xx - size * 0.7) < size * 0.2
    img[disc] = (0.7, 0.3, 0.2)
    mask[disc] = 1.0
    wire = (slice(10, size - 10), slice(30, 30 + width))
    a = refine_alpha(img, mask, mask="tight")
    assert a[wire].mean() > 0.9 and abs(a[disc].mean() - 1.0) < 0.01
    old = refine_alpha(img, mask, mask="tight", options={"core_depth": 1.0})
    assert old[wire].mean() < 0.5                      # what the shallower rule did
