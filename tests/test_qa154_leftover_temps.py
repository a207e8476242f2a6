"""A pre-empted farm node's temp frame (``.<frame>.<host>.<pid>.<random>.tmp.exr``) stays in the output folder
until a later writer finds it over an hour old; `samatte qc` and `samatte status` said nothing of it (qc: 'all
frames ok'). Both now report each one: whose host and pid, how old, and that a later run removes it (or, dated in
the future by a node whose clock runs ahead, why it is kept). Reported only: qc and status never remove a file."""
import json
import os
import time

import pytest

from samatte import cli, jobspec
from samatte.farm.qc import run_qc
from samatte.io.writer import leftover_temps
from samatte.pipeline import frame_status


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte import pipeline
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("temps")
    s = make_shot(str(d / "plates"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(d / "out" / "m.####.exr"), frames="1001-1002", name="sh020",
                          tracker="shapes", matte="none")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job)
    jobspec.save(job, str(d / "job.json"))
    return d, job


def _temp(folder, name, age):
    p = os.path.join(folder, name)
    with open(p, "wb") as f:
        f.write(b"\x76\x2f\x31\x01 half a frame")
    t = time.time() - age
    os.utime(p, (t, t))
    return p


def test_qc_and_status_report_a_pre_empted_nodes_temp_and_remove_nothing(shot, capsys):
    d, job = shot
    out = str(d / "out")
    old = _temp(out, ".m.1001.exr.farmnode07-1234abcd.4242.0123abcd.tmp.exr", 600)
    ahead = _temp(out, ".m.1002.exr.farmnode09-1234abcd.77.0123abce.tmp.exr", -3 * 3600)
    gone = _temp(out, ".m.1002.exr.farmnode11-1234abcd.78.0123abcf.tmp.exr", 2 * 3600)
    try:
        temps = {t["path"]: t for t in leftover_temps(out)}
        assert set(temps) == {old, ahead, gone}
        assert temps[old]["host"] == "farmnode07-1234abcd" and temps[old]["pid"] == 4242
        assert 590 < temps[old]["age_s"] < 700 and not temps[old]["abandoned"]
        assert temps[gone]["abandoned"] and "a later samatte run writing to this folder removes it" in \
            temps[gone]["note"]
        assert temps[ahead]["age_s"] < 0 and not temps[ahead]["abandoned"] and "in the future" in temps[ahead]["note"]

        assert {t["path"] for t in frame_status(job)["temps"]} == {old, ahead, gone}
        rep = run_qc(job, report_dir=str(d / "qc"))
        assert rep["ok"]   # not a failure: the frames are whole
        warned = {w["path"]: w for w in rep["warnings"] if w["kind"] == "temp"}
        assert set(warned) == {old, ahead, gone}
        assert "host farmnode07-1234abcd, pid 4242" in warned[old]["message"]
        with open(str(d / "qc" / "qc.json"), encoding="utf-8") as f:
            assert len([w for w in json.load(f)["warnings"] if w["kind"] == "temp"]) == 3

        capsys.readouterr()
        assert cli.main(["status", str(d / "job.json")]) == 0
        text = capsys.readouterr().out
        assert "temp    %s (host farmnode07-1234abcd, pid 4242" % old in text, text
        assert cli.main(["qc", str(d / "job.json"), "--report", str(d / "qc")]) == 0
        text = capsys.readouterr().out
        assert "warning: leftover temp file %s (host farmnode11-1234abcd, pid 78, 2.0 h old)" % gone in text, text
        assert all(os.path.exists(p) for p in (old, ahead, gone))   # qc and status only read
    finally:
        for p in (old, ahead, gone):
            if os.path.exists(p):
                os.remove(p)


def test_no_temp_no_word(shot):
    d, job = shot
    assert frame_status(job)["temps"] == []
    assert not [w for w in run_qc(job, report_dir=str(d / "qc2"))["warnings"] if w["kind"] == "temp"]
