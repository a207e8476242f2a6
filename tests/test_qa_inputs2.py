"""Odd (legitimate or not) input files the way studios hand them over (QA): plates and masks in
unusual formats, channel layouts and frame namings given to ``samatte refine`` / ``run`` / ``probe``.
Either the right result, or a coded error with the documented exit status before any output frame is
written. Tiny synthetic images made here."""
import os

import numpy as np

from qa_cli import read_exr, run_cli

H, W = 24, 32


def _plate_and_object():
    rng = np.random.default_rng(0)
    img = np.full((H, W, 3), 0.1, np.float32) + rng.random((H, W, 3), dtype=np.float32) * 0.02
    yy, xx = np.mgrid[0:H, 0:W]
    obj = ((yy - H / 2) ** 2 + (xx - W / 2) ** 2) < (H / 4) ** 2
    img[obj] = [0.8, 0.3, 0.1]
    return img, obj


def _write_plate(folder, frames=(1, 2, 3)):
    from samatte.io.exr import write_image
    img, obj = _plate_and_object()
    os.makedirs(str(folder), exist_ok=True)
    for f in frames:
        write_image(str(folder / ("p.%04d.exr" % f)), img, channels=["R", "G", "B"])
    return str(folder / "p.####.exr"), obj


def _outputs(folder):
    return sorted(f for f in (os.listdir(str(folder)) if folder.exists() else []) if not f.startswith("."))


def _write_deep(path, channels):
    import OpenImageIO as oiio
    spec = oiio.ImageSpec(W, H, len(channels), oiio.HALF)
    spec.channelnames = tuple(channels)
    spec.deep = True
    assert oiio.ImageBuf(spec).write(str(path))


def test_a_still_mask_serves_every_frame_of_refine(tmp_path, capsys):
    """A mask pattern without a frame token is a still that serves every frame (as a still plate does,
    and as the same mask file does for a tracked object): a garbage matte of a locked-off shot. With
    ``--frames`` refine said ``[FRAME_MISSING] object 'object': 3 mask frame(s) missing: 1-3`` about a
    file that is there (it looked for the still among the frames found on disk, of which a still has
    none). Now every frame is matted with the one mask."""
    from samatte.io.exr import write_image
    plate, obj = _write_plate(tmp_path / "plate")
    write_image(str(tmp_path / "garbage.png"), obj.astype(np.float32), channels=["Y"], pixel_type="uint8")
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "garbage.png", "--frames", "1-3",
                       "--out", out / "m.####.exr", "--matte", "none"], capsys)
    assert rc == 0, err
    assert _outputs(out) == ["m.0001.exr", "m.0002.exr", "m.0003.exr"]
    for f in (1, 2, 3):
        names, px, _ = read_exr(out / ("m.%04d.exr" % f))
        assert np.array_equal(px[:, :, names.index("A")] > 0.5, obj), f


def test_a_missing_still_mask_is_still_frame_missing(tmp_path, capsys):
    """The still's own absence stays FRAME_MISSING (exit 3), nothing written."""
    plate, _ = _write_plate(tmp_path / "plate")
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "nothere.png", "--frames", "1-3",
                       "--out", out / "m.####.exr", "--matte", "none"], capsys)
    assert rc == 3 and "[FRAME_MISSING]" in err, err
    assert _outputs(out) == []


def test_a_deep_plate_frame_is_refused_before_any_frame_is_written(tmp_path, capsys):
    """A deep EXR (samples per pixel: a deep render handed over unflattened) as frame 3 of a plate: its
    header opened fine, so frames 1-2 were written, then reading its pixels failed with
    ``[FRAME_CORRUPT] cannot read the pixels of ... (truncated or damaged?): called
    OpenEXRInput::read_native_scanlines without an open file`` -- the file is not damaged. Now
    PLATE_INVALID (exit 3) saying it is deep, from the header check, before any frame is written;
    probe says the same."""
    plate, obj = _write_plate(tmp_path / "plate", frames=(1, 2))
    _write_deep(tmp_path / "plate" / "p.0003.exr", ("R", "G", "B", "A"))
    from samatte.io.exr import write_image
    for f in (1, 2, 3):
        write_image(str(tmp_path / ("k.%04d.png" % f)), obj.astype(np.float32), channels=["Y"], pixel_type="uint8")
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "k.####.png", "--out", out / "m.####.exr",
                       "--matte", "none"], capsys)
    assert rc == 3 and "[PLATE_INVALID]" in err and "deep" in err and "p.0003.exr" in err, err
    assert _outputs(out) == []
    rc, err = run_cli(["probe", plate, "--frames", "3"], capsys)
    assert rc == 3 and "[PLATE_INVALID]" in err and "deep" in err, err


def test_a_deep_mask_frame_is_refused_before_any_frame_is_written(tmp_path, capsys):
    """The same for a mask sequence whose frame 3 is a deep EXR: refused with PLATE_INVALID (exit 3)
    naming the file, before frames 1-2 are written (they were, then a misleading FRAME_CORRUPT)."""
    plate, obj = _write_plate(tmp_path / "plate")
    from samatte.io.exr import write_image
    for f in (1, 2):
        write_image(str(tmp_path / ("k.%04d.exr" % f)), obj.astype(np.float32), channels=["A"])
    _write_deep(tmp_path / "k.0003.exr", ("A",))
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "k.####.exr", "--out", out / "m.####.exr",
                       "--matte", "none"], capsys)
    assert rc == 3 and "[PLATE_INVALID]" in err and "deep" in err and "k.0003.exr" in err, err
    assert _outputs(out) == []


def _write_uint_exr(path, values, channels):
    """An EXR whose channels are 32-bit unsigned integers (UINT: id / index passes), values stored as given."""
    import OpenImageIO as oiio
    values = np.ascontiguousarray(values, dtype=np.uint32)
    if values.ndim == 2:
        values = values[:, :, None]
    spec = oiio.ImageSpec(values.shape[1], values.shape[0], values.shape[2], oiio.UINT)
    spec.channelnames = tuple(channels)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(values)
    out.close()


def test_a_uint_exr_mask_is_read_by_value(tmp_path, capsys):
    """An EXR mask whose channel is UINT holding 0 and 1 (a renderer's object mask written as an integer
    pass). OpenEXR converts UINT to float by value (Nuke and Blender show 0 and 1); OpenImageIO
    normalises by 2^32 - 1, so the mask read as 2.3e-10 and 0: an empty matte on every frame, silently.
    Now an EXR's UINT channels are read by value, as the hosts read them."""
    from samatte.io.masks import read_mask
    from samatte.io.exr import read_info
    plate, obj = _write_plate(tmp_path / "plate")
    for f in (1, 2, 3):
        _write_uint_exr(tmp_path / ("k.%04d.exr" % f), obj.astype(np.uint32), ["A"])
    got = read_mask(str(tmp_path / "k.0001.exr"), read_info(plate.replace("####", "0001")))
    assert np.array_equal(got, obj.astype(np.float32))
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "k.####.exr", "--out", out / "m.####.exr",
                       "--matte", "none"], capsys)
    assert rc == 0, err
    names, px, _ = read_exr(out / "m.0002.exr")
    assert np.array_equal(px[:, :, names.index("A")] > 0.5, obj)


def test_a_uint_exr_plate_is_refused_before_any_frame_is_written(tmp_path, capsys):
    """An EXR plate whose R, G, B are UINT (an id or index pass, not light) was read as a black plate
    (OpenImageIO's normalisation: 800 -> 1.9e-7, then decoded as if sRGB) and matted without a word.
    Now CHANNELS_INVALID (exit 3) naming the channels' type, before any frame is written (frame 3 of a
    half-float plate here)."""
    plate, obj = _write_plate(tmp_path / "plate", frames=(1, 2))
    img, _ = _plate_and_object()
    _write_uint_exr(tmp_path / "plate" / "p.0003.exr", (img * 1000).astype(np.uint32), ["R", "G", "B"])
    from samatte.io.exr import write_image
    for f in (1, 2, 3):
        write_image(str(tmp_path / ("k.%04d.png" % f)), obj.astype(np.float32), channels=["Y"], pixel_type="uint8")
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "k.####.png", "--out", out / "m.####.exr",
                       "--matte", "none"], capsys)
    assert rc == 3 and "[CHANNELS_INVALID]" in err and "p.0003.exr" in err and "integer" in err, err
    assert _outputs(out) == []
    from samatte.pipeline import probe  # describes the file (as for a plate without R, G, B), type included
    assert probe(plate, frames="3")["pixel_type"] == "uint"


def test_a_mask_empty_on_every_frame_is_warned_about(tmp_path, capsys, caplog):
    """An 8-bit mask saved with values 0 / 1 instead of 0 / 255 reads as 0 / 0.004: below the threshold
    on every frame, so the object's alpha is 0 everywhere. The run stays legitimate (an object may be
    out of shot) but now says so; a mask with its object on one frame of three gives no warning."""
    import logging

    from samatte.io.exr import write_image
    plate, obj = _write_plate(tmp_path / "plate")
    for f in (1, 2, 3):
        write_image(str(tmp_path / ("low.%04d.png" % f)), obj.astype(np.float32) / 255.0, channels=["Y"],
                    pixel_type="uint8")
        write_image(str(tmp_path / ("some.%04d.png" % f)), (obj & (f == 2)).astype(np.float32), channels=["Y"],
                    pixel_type="uint8")
    with caplog.at_level(logging.WARNING, logger="samatte"):
        rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "low.####.png",
                           "--out", tmp_path / "o1" / "m.####.exr", "--matte", "none"], capsys)
    assert rc == 0, err
    warned = [r.getMessage() for r in caplog.records if "no value >= 0.5" in r.getMessage()]
    assert len(warned) == 1 and "3 frame(s)" in warned[0] and "low.####.png" in warned[0], warned
    names, px, _ = read_exr(tmp_path / "o1" / "m.0002.exr")
    assert px[:, :, names.index("A")].max() == 0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="samatte"):
        rc, err = run_cli(["refine", "--plate", plate, "--masks", tmp_path / "some.####.png",
                           "--out", tmp_path / "o2" / "m.####.exr", "--matte", "none"], capsys)
    assert rc == 0, err
    assert not [r for r in caplog.records if "no value" in r.getMessage()]


def test_a_still_plate_without_frames_asks_for_them(tmp_path, capsys):
    """A plate without a frame token is a still that serves any frame; with no frames named there is no
    range to make. It said FRAME_MISSING "no frames ... were found on disk" about a file that is there;
    now FRAME_RANGE_INVALID (exit 2) asking for --frames, before anything is written. A missing still
    stays FRAME_MISSING."""
    from samatte.io.exr import write_image
    img, obj = _plate_and_object()
    write_image(str(tmp_path / "still.exr"), img, channels=["R", "G", "B"])
    write_image(str(tmp_path / "m.png"), obj.astype(np.float32), channels=["Y"], pixel_type="uint8")
    out = tmp_path / "out"
    rc, err = run_cli(["refine", "--plate", tmp_path / "still.exr", "--masks", tmp_path / "m.png",
                       "--out", out / "m.####.exr"], capsys)
    assert rc == 2 and "FRAME_RANGE_INVALID" in err and "--frames" in err, err
    assert _outputs(out) == []
    rc, err = run_cli(["refine", "--plate", tmp_path / "gone.exr", "--masks", tmp_path / "m.png",
                       "--out", out / "m.####.exr"], capsys)
    assert rc == 3 and "FRAME_MISSING" in err, err
