"""samatte never overwrites what a user owns (issue 11 item 1) and its temp files are safe on shared
storage (issue 10 item 2). Each clash test replaced the plate (exit 0) before the real-path check."""
import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from samatte import jobspec, pipeline
from samatte.errors import OutputError
from samatte.io.writer import MatteWriter, host_tag, temp_name
from samatte.stages import MatteFrame, PlateInfo, Window


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("safety_shot")
    return make_shot(str(d), frames=3, size=(96, 64))


def _digests(folder):
    out = {}
    for n in sorted(os.listdir(folder)):
        p = os.path.join(folder, n)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                out[n] = hashlib.sha256(f.read()).hexdigest()
    return out


def _job(s, out, **kw):
    job = jobspec.new_job(s["plate"], str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]),
                          tracker="shapes", matte="none", **kw)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


@pytest.mark.parametrize("spelling", ["plate.%d.exr", "plate.$F.exr", "plate.#.exr", "plate.@.exr",
                                      "plate.$F4.exr", "plate.%04d.exr"])
def test_other_spellings_of_the_plate_are_refused(shot, spelling):
    folder = os.path.dirname(shot["plate"])
    before = _digests(folder)
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, os.path.join(folder, spelling)))
    assert e.value.code == "OUTPUT_INVALID"
    assert "plate.%04d.exr" % shot["frames"][0] in str(e.value) or "plate.%d.exr" % shot["frames"][0] in str(e.value)
    assert _digests(folder) == before
    assert ".samatte" not in os.listdir(folder)  # nothing created there either


def test_plate_spelled_unpadded_and_output_padded(shot, tmp_path):
    folder = os.path.dirname(shot["plate"])
    s = dict(shot, plate=os.path.join(folder, "plate.%d.exr"))  # frame 1001 needs no padding
    with pytest.raises(OutputError):
        pipeline.run(_job(s, os.path.join(folder, "plate.####.exr")))


def test_output_through_a_symlinked_folder(shot, tmp_path):
    folder = os.path.dirname(shot["plate"])
    link = tmp_path / "link"
    os.symlink(folder, str(link))
    before = _digests(folder)
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, link / "plate.####.exr"))
    assert str(link) in str(e.value) and folder in str(e.value)
    assert _digests(folder) == before


def test_hard_link_of_a_plate_frame(shot, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    f0 = shot["frames"][0]
    os.link(shot["plate"].replace("####", "%04d" % f0), str(out / ("m.%04d.exr" % f0)))
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, out / "m.####.exr", overwrite=True))
    assert "same file" in str(e.value)


def test_output_frame_that_is_a_mask_prompt_file(shot, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    f = shot["prompt_frame"]
    prompt_file = out / ("m.%04d.exr" % f)
    prompt_file.write_bytes(b"a roto the artist made")
    job = jobspec.new_job(shot["plate"], str(out / "m.####.exr"),
                          frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]), tracker="shapes", matte="none")
    jobspec.add_object(job, "ball", [jobspec.mask_prompt(f, str(prompt_file))])
    with pytest.raises(OutputError) as e:
        pipeline.run(job)
    assert "mask prompt" in str(e.value)
    assert prompt_file.read_bytes() == b"a roto the artist made"


def test_refine_out_equal_to_its_masks(shot, tmp_path):
    masks = tmp_path / "roto"
    masks.mkdir()
    for f in shot["frames"]:
        (masks / ("m.%04d.exr" % f)).write_bytes(b"roto %d" % f)
    before = _digests(str(masks))
    pat = str(masks / "m.####.exr")
    proc = subprocess.run([sys.executable, "-m", "samatte", "refine", "--plate", shot["plate"], "--masks", pat,
                           "--out", str(masks / "m.%d.exr"), "--frames",
                           "%d-%d" % (shot["frames"][0], shot["frames"][-1])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert "OUTPUT_INVALID" in proc.stderr or "same file" in proc.stderr
    assert _digests(str(masks)) == before


def test_foreign_file_at_an_output_name_needs_overwrite(shot, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    f0 = shot["frames"][0]
    mine = out / ("m.%04d.exr" % f0)
    mine.write_bytes(b"the user's own file")
    with pytest.raises(OutputError) as e:
        pipeline.run(_job(shot, out / "m.####.exr"))
    assert "overwrite" in str(e.value) and str(mine) in str(e.value)
    assert mine.read_bytes() == b"the user's own file"
    r = pipeline.run(_job(shot, out / "m.####.exr", overwrite=True))
    assert len(r["written"]) == len(shot["frames"])
    # samatte's own frames of this job are replaced when stale, without overwrite
    job = _job(shot, out / "m.####.exr")
    job["matte"]["quality"] = "draft"
    assert len(pipeline.run(job)["written"]) == len(shot["frames"])
    # ... but not another job's
    other = _job(shot, out / "m.####.exr", name="someone_else")
    with pytest.raises(OutputError):
        pipeline.run(other)


# -- temp files -----------------------------------------------------------------------------------------

INFO = PlateInfo(data=Window(0, 0, 8, 4), display=Window(0, 0, 8, 4))


def _mf(frame=1001):
    a = np.full((4, 8), 0.5, np.float32)
    return MatteFrame(frame, {"hero": a}, a)


def test_temp_name_of_a_244_character_output_name(tmp_path):
    name = "x" * 235 + ".####.exr"            # 244 characters once the frame is in
    assert len(name.replace("####", "1001")) == 244
    w = MatteWriter(str(tmp_path / name), INFO)
    t = os.path.basename(temp_name(w.path(1001)))
    assert len(t.encode("utf-8")) <= 255 and t.startswith(".") and host_tag() in t
    p = w.write(_mf())
    assert os.path.basename(p) == "x" * 235 + ".1001.exr"
    assert os.listdir(str(tmp_path)) == [os.path.basename(p)]


def test_only_own_or_abandoned_temps_are_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    me = host_tag()
    dead = 2 ** 22 + 4321
    keep_other = out / (".m.1002.exr.otherhost.%d.0123abcd.tmp.exr" % 12)
    keep_live = out / (".m.1003.exr.%s.%d.0123abcd.tmp.exr" % (me, os.getppid()))
    gone_dead = out / (".m.1004.exr.%s.%d.0123abcd.tmp.exr" % (me, dead))
    gone_old = out / (".m.1005.exr.otherhost.%d.0123abcd.tmp.exr" % 13)
    for p in (keep_other, keep_live, gone_dead, gone_old):
        p.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(str(gone_old), (old, old))
    MatteWriter(str(out / "m.####.exr"), INFO)
    left = sorted(os.listdir(str(out)))
    assert left == sorted([keep_other.name, keep_live.name])
    # a shorter age makes the other machine's temp abandoned
    os.utime(str(keep_other), (time.time() - 120, time.time() - 120))
    MatteWriter(str(out / "m.####.exr"), INFO, temp_max_age=60)
    assert sorted(os.listdir(str(out))) == [keep_live.name]
