"""Plates whose data window changes from frame to frame: what Nuke writes for a plate whose bbox moves
(the SAMatte node renders its Source through a Write when it is not a plain Read: behind an animated
Transform or a stabilise the bbox, and so the EXR's data window, follows the image), or a renderer's
auto-crop. They were refused (PLATE_INVALID "every frame of a plate must have the same windows")
after the node had rendered them. Now every frame is read into the display window (black outside its
own data window, as Nuke shows it), and the mattes equal those of the same pixels stored full frame.
Tiny synthetic EXRs made here."""
import json
import os

import numpy as np
import pytest

from qa_cli import read_exr, run_cli

H, W = 48, 64
FRAMES = range(1, 7)


def _frame(f):
    """The full-frame picture of frame ``f``: a dark noisy ground, a bright square moving right, and
    the square's bbox (x0, y0, x1, y1) grown by 4 px (what a Nuke bbox of a transformed element is)."""
    rng = np.random.default_rng(f)
    img = np.zeros((H, W, 3), np.float32)
    x0, y0 = 10 + 4 * f, 14
    bx0, by0, bx1, by1 = x0 - 8, y0 - 8, x0 + 20, y0 + 20
    img[by0:by1, bx0:bx1] = 0.08 + rng.random((by1 - by0, bx1 - bx0, 3), dtype=np.float32) * 0.02
    img[y0:y0 + 12, x0:x0 + 12] = [0.9, 0.5, 0.2]
    return img, (bx0, by0, bx1, by1), (x0, y0)


def _write_plates(tmp_path):
    """The same frames twice: as Nuke writes them (data window = the bbox) and full frame."""
    from samatte.io.exr import write_image
    from samatte.stages import Window
    bbox_dir, full_dir = tmp_path / "bbox", tmp_path / "full"
    bbox_dir.mkdir()
    full_dir.mkdir()
    for f in FRAMES:
        img, (bx0, by0, bx1, by1), _ = _frame(f)
        write_image(str(full_dir / ("p.%04d.exr" % f)), img, channels=["R", "G", "B"])
        write_image(str(bbox_dir / ("p.%04d.exr" % f)), img[by0:by1, bx0:bx1], channels=["R", "G", "B"],
                    data=Window(bx0, by0, bx1 - bx0, by1 - by0), display=Window(0, 0, W, H))
    return str(bbox_dir / "p.####.exr"), str(full_dir / "p.####.exr")


def _job(tmp_path, plate, tag):
    from samatte import jobspec
    _, _, (x0, y0) = _frame(1)
    job = jobspec.new_job(plate, str(tmp_path / ("out_" + tag) / "m.####.exr"), frames="1-6", tracker="flow",
                          work_dir=str(tmp_path / (tag + "_work")), name=tag)
    jobspec.add_object(job, "hero", [{"frame": 1, "type": "box", "box": [x0 - 1, y0 - 1, x0 + 13, y0 + 13]}])
    path = tmp_path / (tag + ".json")
    jobspec.save(job, str(path))
    return str(path)


def _alpha(path):
    names, px, spec = read_exr(path)
    return px[:, :, names.index("A")], spec


def test_a_plate_whose_bbox_moves_is_matted_like_the_same_pixels_full_frame(tmp_path, capsys):
    bbox_plate, full_plate = _write_plates(tmp_path)
    rc, err = run_cli(["run", _job(tmp_path, bbox_plate, "bbox")], capsys)
    assert rc == 0, err
    rc, err = run_cli(["run", _job(tmp_path, full_plate, "full")], capsys)
    assert rc == 0, err
    for f in FRAMES:
        a, spec = _alpha(tmp_path / "out_bbox" / ("m.%04d.exr" % f))
        b, _ = _alpha(tmp_path / "out_full" / ("m.%04d.exr" % f))
        # the matte lies on the display window (the canvas), as the hosts show the plate
        assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, W, H)
        assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (0, 0, W, H)
        assert np.array_equal(a, b), f
        _, _, (x0, y0) = _frame(f)
        ys, xs = np.nonzero(a >= 0.5)
        assert abs(xs.mean() + 0.5 - (x0 + 6)) < 1.0 and abs(ys.mean() + 0.5 - (y0 + 6)) < 1.0, f


def test_a_chunk_of_frames_sharing_one_bbox_works_on_the_same_canvas(tmp_path, capsys):
    """A farm chunk whose own frames happen to share a data window still reads them into the display
    window (the canvas is decided from all of the job's frames), so its frames equal the whole run's."""
    from samatte.io.exr import write_image
    from samatte.stages import Window
    bbox_plate, _ = _write_plates(tmp_path)
    folder = os.path.dirname(bbox_plate)
    # frames 4-6: one bbox for all three (an element that stopped moving)
    for f in (4, 5, 6):
        img, _, _ = _frame(f)
        write_image(os.path.join(folder, "p.%04d.exr" % f), img[2:46, 20:62], channels=["R", "G", "B"],
                    data=Window(20, 2, 42, 44), display=Window(0, 0, W, H))
    job = _job(tmp_path, bbox_plate, "bbox")
    rc, err = run_cli(["run", job, "--frames", "4-6"], capsys)
    assert rc == 0, err
    chunk = {f: _alpha(tmp_path / "out_bbox" / ("m.%04d.exr" % f)) for f in (4, 5, 6)}
    for f in (4, 5, 6):
        os.remove(str(tmp_path / "out_bbox" / ("m.%04d.exr" % f)))
    rc, err = run_cli(["run", job], capsys)
    assert rc == 0, err
    for f in (4, 5, 6):
        a, spec = _alpha(tmp_path / "out_bbox" / ("m.%04d.exr" % f))
        assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, W, H)
        assert (chunk[f][1].x, chunk[f][1].width) == (0, W)
        assert np.array_equal(a, chunk[f][0]), f


def test_a_constant_bbox_stays_the_canvas(tmp_path, capsys):
    """Frames that all share one data window (overscan, or a constant bbox) keep it, as before."""
    from samatte.io.exr import write_image
    from samatte.stages import Window
    folder = tmp_path / "const"
    folder.mkdir()
    for f in FRAMES:
        img, _, _ = _frame(f)
        write_image(str(folder / ("p.%04d.exr" % f)), img[4:44, 2:62], channels=["R", "G", "B"],
                    data=Window(2, 4, 60, 40), display=Window(0, 0, W, H))
    rc, err = run_cli(["run", _job(tmp_path, str(folder / "p.####.exr"), "const")], capsys)
    assert rc == 0, err
    _, spec = _alpha(tmp_path / "out_const" / "m.0003.exr")
    assert (spec.x, spec.y, spec.width, spec.height) == (2, 4, 60, 40)


def test_a_frame_of_another_format_is_still_refused_before_anything_is_written(tmp_path, capsys):
    from samatte.io.exr import write_image
    from samatte.stages import Window
    bbox_plate, _ = _write_plates(tmp_path)
    img, _, _ = _frame(3)
    write_image(bbox_plate.replace("####", "0003"), img, channels=["R", "G", "B"], display=Window(0, 0, W, H + 2),
                data=Window(0, 0, W, H))
    rc, err = run_cli(["run", _job(tmp_path, bbox_plate, "bbox"), "--json"], capsys)
    assert rc != 0
    out = capsys.readouterr().out
    assert "display window" in err + out and "PLATE_INVALID" in err + out
    assert not (tmp_path / "out_bbox").exists() or not os.listdir(str(tmp_path / "out_bbox"))


@pytest.mark.parametrize("src,dst", [((-3, -2, 8, 6), (0, 0, 10, 8)), ((5, 4, 10, 10), (0, 0, 10, 8)),
                                     ((20, 20, 4, 4), (0, 0, 10, 8)), ((0, 0, 10, 8), (0, 0, 10, 8))])
def test_place_window_cuts_and_pads(src, dst):
    from samatte.io.exr import place_window
    from samatte.stages import Window
    s, d = Window(*src), Window(*dst)
    arr = np.arange(s.width * s.height, dtype=np.float32).reshape(s.height, s.width) + 1
    out = place_window(arr, s, d)
    assert out.shape == (d.height, d.width)
    for y in range(d.height):
        for x in range(d.width):
            X, Y = d.x + x, d.y + y
            inside = s.x <= X < s.x + s.width and s.y <= Y < s.y + s.height
            assert out[y, x] == (arr[Y - s.y, X - s.x] if inside else 0)
    assert json.dumps(out.tolist())  # plain floats


def test_the_qc_sheet_shows_such_a_plate_on_the_mattes_window(tmp_path):
    """``samatte qc``'s contact sheet draws the plate beside each matte: a frame stored as its bbox is
    drawn on the display window the matte lies on (it was left out: shapes differ)."""
    from samatte import jobspec
    from samatte.farm.qc import _display_plate
    bbox_plate, full_plate = _write_plates(tmp_path)
    job = jobspec.load(_job(tmp_path, bbox_plate, "bbox"))
    full = jobspec.load(_job(tmp_path, full_plate, "full"))
    got = _display_plate(job, 3, (H, W))
    assert got is not None and got.shape[:2] == (H, W)
    assert np.allclose(got, _display_plate(full, 3, (H, W)), atol=1e-6)


def test_status_sees_the_frames_of_such_a_plate_as_complete(tmp_path, capsys):
    """``samatte status`` (and QC, and the hosts' reload) judge a written frame on the same canvas a
    run writes it on."""
    from samatte.pipeline import frame_status
    bbox_plate, _ = _write_plates(tmp_path)
    job = _job(tmp_path, bbox_plate, "bbox")
    rc, err = run_cli(["run", job], capsys)
    assert rc == 0, err
    st = frame_status(job)
    assert set(st["frames"].values()) == {"complete"}, st["frames"]
    assert set(st["track"].values()) == {"complete"}, st["track"]
    rc, err = run_cli(["qc", job], capsys)
    assert rc == 0, err
