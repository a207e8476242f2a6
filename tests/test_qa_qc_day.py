"""A supervisor's QC before comp (`samatte qc`, `samatte status`): a frame that lost an object's layer after
samatte wrote it, files samatte did not write for the job, and which object a low-scoring frame is about."""
import json
import os

import numpy as np
import pytest

from samatte import jobspec
from samatte.farm.qc import run_qc
from samatte.pipeline import frame_status, run

oiio = pytest.importorskip("OpenImageIO")


def _shot(root):
    from samatte.demo import make_shot
    s = make_shot(str(root / "plates"), frames=4, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(root / "out" / "sh.####.exr"), name="sh", tracker="shapes",
                          matte="refine", quality="draft")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    jobspec.add_object(job, "box", [jobspec.polygon_prompt(s["prompt_frame"], [[2, 2], [20, 2], [20, 14], [2, 14]])])
    run(job)
    path = str(root / "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    return job, path


def _rewrite(path, *, drop=None, attrs=None):
    """Rewrite an output frame as another tool would: the same header (samatte's key included), a channel
    dropped or attributes changed."""
    inp = oiio.ImageInput.open(path)
    spec = oiio.ImageSpec(inp.spec())
    px = np.array(inp.read_image(0, 0, 0, spec.nchannels, "float"))
    inp.close()
    names = list(spec.channelnames)
    if drop:
        k = names.index(drop)
        px = np.delete(px, k, axis=2)
        del names[k]
        spec.nchannels = len(names)
        spec.channelnames = tuple(names)
    for k, v in (attrs or {}).items():
        spec.attribute(k, v)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.ascontiguousarray(px, np.float32))
    out.close()


def _channels(path):
    inp = oiio.ImageInput.open(path)
    try:
        return list(inp.spec().channelnames)
    finally:
        inp.close()


def test_a_frame_that_lost_an_object_layer_is_not_complete_and_a_rerun_restores_it(tmp_path):
    """Before: a frame whose `box.A` layer a tool dropped (key kept) was `complete` for status, passed QC and
    was skipped by a re-run: comp read an empty box matte. Now it is stale, QC names the layer, a re-run redoes it."""
    job, _ = _shot(tmp_path)
    p = job["output"]["path"].replace("####", "1002")
    assert "box.A" in _channels(p)
    _rewrite(p, drop="box.A")
    st = frame_status(job)
    assert st["frames"]["1002"] == "stale"
    assert st["problems"]["1002"] == {"status": "stale", "problem": "missing layer(s) box.A"}
    assert all(st["frames"][str(f)] == "complete" for f in (1001, 1003, 1004))
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    assert rep["failed"] == [1002]
    assert rep["frames"]["1002"]["problem"] == "missing layer(s) box.A"
    assert rep["frames"]["1002"]["fix"] == "rerun"
    res = run(job)
    assert res["written"] == [p]
    assert "box.A" in _channels(p)
    assert run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)["ok"]


def test_a_job_without_object_layers_still_resumes(tmp_path):
    job, _ = _shot(tmp_path)
    job = json.loads(json.dumps(job))
    job["output"]["object_layers"] = False
    run(job)   # a new key: rewritten without layers
    assert "box.A" not in _channels(job["output"]["path"].replace("####", "1001"))
    assert set(frame_status(job)["frames"].values()) == {"complete"}
    assert run(job)["written"] == []


def test_qc_says_which_files_a_rerun_will_not_replace_and_what_to_do(tmp_path, capsys):
    """Before: a hand-written EXR, an empty file and another job's frame in the output folder all read
    `stale (key not current)` (or an OpenImageIO error), which says "re-run"; the re-run then refused them
    (OUTPUT_INVALID) one at a time. Now QC and status tell them apart and say what to do."""
    from samatte.cli import main
    job, path = _shot(tmp_path)
    p = job["output"]["path"].replace
    sp = oiio.ImageSpec(64, 64, 1, "half")
    sp.channelnames = ("A",)
    o = oiio.ImageOutput.create(p("####", "1001"))
    o.open(p("####", "1001"), sp)
    o.write_image(np.zeros((64, 64, 1), np.float32))
    o.close()
    open(p("####", "1002"), "wb").close()
    _rewrite(p("####", "1003"), attrs={"samatte/job": "sh020", "samatte/key": "0" * 16})
    _rewrite(p("####", "1004"), attrs={"samatte/key": "0" * 16})
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    fr = rep["frames"]
    assert fr["1001"]["problem"] == "not written by samatte (no samatte metadata)"
    assert fr["1002"]["problem"] == "an empty file"
    assert fr["1003"]["problem"] == "written by another job ('sh020')"
    assert fr["1004"]["problem"].startswith("stale (cache key differs")
    assert [fr[str(f)]["fix"] for f in (1001, 1002, 1003, 1004)] == ["remove", "remove", "remove", "rerun"]
    assert rep["fixes"]["remove"]["frames"] == "1001-1003"
    assert rep["fixes"]["rerun"]["frames"] == "1004"
    capsys.readouterr()
    assert main(["qc", path, "--report", str(tmp_path / "qc")]) == 5
    out = capsys.readouterr().out
    assert "frames 1001-1003: samatte did not write these for this job and a re-run does not replace them" in out
    assert "frames 1004: re-run the job" in out
    assert main(["status", path]) == 0
    assert "foreign 1001-1003: not this job's samatte frames" in capsys.readouterr().out


def test_a_low_scoring_frame_names_its_worst_object(tmp_path, capsys):
    """Before: QC's text said only "1 low score(s)" and qc.json gave frame and score, not which of the
    objects to look at. Now both name the frame and the object that scored lowest."""
    from samatte.cli import main
    job, path = _shot(tmp_path)
    _rewrite(job["output"]["path"].replace("####", "1003"),
             attrs={"samatte/score": 0.2, "samatte/object_scores": json.dumps({"box": 0.9, "hero": 0.2})})
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    low = [x for x in rep["low_scores"] if x["frame"] == 1003]
    assert low == [{"frame": 1003, "score": 0.2, "object": "hero"}]
    assert rep["frames"]["1003"]["object_scores"] == {"box": 0.9, "hero": 0.2}
    capsys.readouterr()
    main(["qc", path, "--report", str(tmp_path / "qc")])
    assert "low score frame 1003: 0.20 (object hero)" in capsys.readouterr().out
    assert os.path.isfile(rep["report"])


def _wide_job(tmp_path, frames=(1001, 1002), size=(1920, 1080)):
    """A 1920x1080 job whose frames samatte's writer wrote (hero: a disc, box: a square; no run: fast)."""
    from samatte.io.exr import read_info, write_image
    from samatte.io.writer import MatteWriter
    from samatte.stages import MatteFrame
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, np.full_like(xx, 0.4)], -1)
    os.makedirs(tmp_path / "plates", exist_ok=True)
    for f in frames:
        write_image(str(tmp_path / "plates" / ("p.%d.exr" % f)), img, channels=("R", "G", "B"), pixel_type="half")
    job = jobspec.new_job(str(tmp_path / "plates" / "p.####.exr"), str(tmp_path / "out" / "o.####.exr"), name="wide",
                          tracker="shapes", matte="refine")
    for n in ("hero", "box"):
        jobspec.add_object(job, n, [jobspec.polygon_prompt(frames[0], [[10, 10], [100, 10], [100, 100]])])
    writer = MatteWriter(job["output"]["path"], read_info(str(tmp_path / "plates" / "p.1001.exr")),
                         metadata={"job": "wide"})
    hero = (np.hypot(xx - 0.3 * w, yy - 0.5 * h) < 0.2 * h).astype(np.float32)
    box = ((abs(xx - 0.75 * w) < 0.1 * h) & (abs(yy - 0.5 * h) < 0.1 * h)).astype(np.float32)
    for f in frames:
        writer.write(MatteFrame(frame=f, alpha=np.maximum(hero, box), alphas={"hero": hero, "box": box},
                                score=0.9))
    return job


def _sheet(rep):
    from PIL import Image
    with Image.open(rep["contact_sheet"]) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def test_the_sheet_shows_each_object_in_its_colour_on_every_row(tmp_path):
    """Before: with several objects the sheet showed only the merged alpha: which object is which, and an
    object gone on a frame, could not be seen. Now a fourth column draws each object in its colour (the
    job's order, the same on every row, a legend above)."""
    from samatte.farm.qc import OBJECT_COLOURS
    job = _wide_job(tmp_path)
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    assert rep["sheet_frames"] == [1001, 1002]
    sheet = _sheet(rep)
    tw, th, pad, head, lab = 240, 135, 6, 22, 110
    assert sheet.shape[1] == lab + 4 * (tw + pad) + pad
    x0 = lab + pad + 3 * (tw + pad)
    for row in range(2):
        y0 = head + pad + row * (th + pad)
        hero = sheet[y0 + th // 2, x0 + int(0.3 * tw)]
        box = sheet[y0 + th // 2, x0 + int(0.75 * tw)]
        np.testing.assert_allclose(hero, np.array(OBJECT_COLOURS[0]) / 255.0, atol=2 / 255)
        np.testing.assert_allclose(box, np.array(OBJECT_COLOURS[1]) / 255.0, atol=2 / 255)
        np.testing.assert_allclose(sheet[y0 + 5, x0 + 5], 0, atol=1 / 255)   # no object there
    legend = sheet[3:18, x0:x0 + tw]
    assert (np.abs(legend - np.array(OBJECT_COLOURS[0]) / 255.0).max(-1) < 0.1).any()   # hero's name in its colour


def test_the_checkerboard_shows_on_a_large_plate(tmp_path):
    """Before: the checkerboard was drawn at the plate's size and shrunk with the comp: on a 1920x1080
    plate its 12 px squares became a flat grey (a 4K one too) and "over checkerboard" showed no
    transparency at all. Now it is drawn at the thumbnail's size."""
    job = _wide_job(tmp_path, frames=(1001,))
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    sheet = _sheet(rep)
    tw, pad, head, lab = 240, 6, 22, 110
    x0, y0 = lab + pad + 2 * (tw + pad), head + pad
    bg = sheet[y0:y0 + 48, x0:x0 + 48].mean(-1)   # top-left corner: alpha 0
    assert bg.std() > 0.12, bg.std()     # squares of 0.35 and 0.65: 0.15 (before: 0.059, mostly grey)


def _set_layer(path, channel, value):
    inp = oiio.ImageInput.open(path)
    spec = oiio.ImageSpec(inp.spec())
    px = np.array(inp.read_image(0, 0, 0, spec.nchannels, "float"))
    inp.close()
    px[..., list(spec.channelnames).index(channel)] = value
    if np.isnan(value):
        px[..., list(spec.channelnames).index(channel)] = 0
        px[3, 3, list(spec.channelnames).index(channel)] = np.nan
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.ascontiguousarray(px, np.float32))
    out.close()


def test_qc_checks_the_object_layers_and_warns_of_an_empty_or_full_object(tmp_path, capsys):
    """Before: QC read only the merged A: a NaN in `hero.A` passed (comp reads that layer), and an object
    whose layer was all 0 on a frame where it is not absent (or all 1) went unmentioned. Now each object layer
    is checked as A is (same read), and qc.json's `warnings` (printed, not a failure) name the object and frames."""
    from samatte.cli import main
    job, path = _shot(tmp_path)
    p = job["output"]["path"].replace
    _set_layer(p("####", "1002"), "hero.A", float("nan"))
    _set_layer(p("####", "1004"), "hero.A", 0.0)
    _set_layer(p("####", "1003"), "box.A", 1.0)
    rep = run_qc(job, report_dir=str(tmp_path / "qc"), raise_on_failure=False)
    assert rep["failed"] == [1002]
    assert rep["frames"]["1002"]["problem"] == "unreadable: non-finite alpha in hero.A"
    assert rep["frames"]["1004"]["status"] == "ok" and rep["frames"]["1004"]["coverage"]["hero"] == 0
    assert [(w["object"], w["kind"], w["frames"]) for w in rep["warnings"]] == [("hero", "empty", "1004"),
                                                                             ("box", "full", "1003")]
    capsys.readouterr()
    main(["qc", path, "--report", str(tmp_path / "qc")])
    out = capsys.readouterr().out
    assert "warning: object hero: alpha 0 everywhere on frame(s) 1004" in out
    # absent there: no warning
    job2 = json.loads(json.dumps(job))
    job2["objects"][0]["absent"] = "1004"
    assert not any(w["object"] == "hero" and w["kind"] == "empty" for w in
                   run_qc(job2, report_dir=str(tmp_path / "qc2"), raise_on_failure=False)["warnings"])
