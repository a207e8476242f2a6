"""The flow tracker's temporary folders (spilled frames, logits, flows) left by a killed run: before, a
kill -9 or a pre-empted farm task left ``samatte_flow_*`` (0700, hundreds of MB a long shot) in the
work dir or $TMPDIR for ever. A new run on the same machine removes those of dead processes, and
keeps those of live processes and of other machines."""
import os
import subprocess
import sys

import numpy as np

from samatte.io.writer import host_tag
from samatte.track import flow


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_run_s_spill_folder_is_removed_by_the_next(tmp_path):
    me = host_tag()
    dead = tmp_path / ("samatte_flow_%s.%d.abcd1234" % (me, _dead_pid()))
    dead_flows = tmp_path / ("samatte_flows_%s.%d.x_y9" % (me, _dead_pid()))
    live = tmp_path / ("samatte_flow_%s.%d.live0000" % (me, os.getppid()))   # a live process (pytest's parent)
    other = tmp_path / ("samatte_flow_otherhost-12345678.%d.abcd1234" % _dead_pid())
    mine = tmp_path / "samatte_flow_notes"          # not one of ours: never touched
    for d in (dead, dead_flows, live, other, mine):
        d.mkdir()
        np.zeros(1000, np.float16).tofile(str(d / "logits.npy"))
    new = flow.spill_folder("samatte_flow", str(tmp_path))
    assert not dead.exists() and not dead_flows.exists()
    assert live.exists() and other.exists() and mine.exists()
    name = os.path.basename(new)
    assert flow._SPILL_RX.match(name) and name.startswith("samatte_flow_%s.%d." % (me, os.getpid())), name
    # a second tracker of this process (two jobs in two threads) keeps the first one's folder
    flow.spill_folder("samatte_flows", str(tmp_path))
    assert os.path.isdir(new)


def test_the_flow_tracker_spills_into_such_a_folder_and_removes_it(tmp_path):
    from samatte import jobspec, pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "shot"), frames=3, size=(64, 64))
    wd = tmp_path / "work"
    wd.mkdir()
    stale = wd / ("samatte_flow_%s.%d.abcd1234" % (host_tag(), _dead_pid()))
    stale.mkdir()
    job = jobspec.new_job(s["plate"], str(tmp_path / "o" / "m.####.exr"), frames="1001-1003", name="sp",
                          tracker="flow", matte="none")
    job["work_dir"] = str(wd)
    job["tracker"]["options"] = {"ram_mb": 0}     # spill everything
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    assert pipeline.run(job)["status"] == "done"
    left = [n for n in os.listdir(str(wd)) if n.startswith("samatte_flow")]
    assert left == [], left
