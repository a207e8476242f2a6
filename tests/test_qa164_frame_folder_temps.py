"""QA of a pipeline TD's day 9: an output written one folder per frame (``renders/####/m.exr``) and a farm node
killed while writing frame 1002 (its temp ``.m.exr.<host>.<pid>.<random>.tmp.exr`` left in ``renders/1002/``).

``status`` and ``qc`` listed that temp as "a later samatte run writing to this folder removes it", but the
writer swept only the pattern's own folder (``renders``): the re-run wrote 1002 beside the temp and left it
there for good. Now the writer sweeps each frame's folder the first time it writes there (the same rule: a dead
process of this host, or older than SAMATTE_TEMP_MAX_AGE; another machine's recent temp is kept)."""
import os
import subprocess
import sys

import pytest

from samatte import jobspec


@pytest.fixture
def rendered(tmp_path):
    from samatte import pipeline
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "src"), frames=3, size=(64, 64), first=1001)
    job = jobspec.new_job(s["plate"], str(tmp_path / "renders" / "####" / "m.exr"), name="sh010", tracker="flow",
                          matte="none")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    pipeline.run(job)
    return job, tmp_path / "renders"


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_writers_temp_in_a_frames_folder_is_removed_by_the_rerun(rendered):
    from samatte import pipeline
    from samatte.io.writer import host_tag
    job, renders = rendered
    os.remove(str(renders / "1002" / "m.exr"))   # the frame the killed node was writing
    dead = renders / "1002" / (".m.exr.%s.%d.0123abcd.tmp.exr" % (host_tag(), _dead_pid()))
    other = renders / "1002" / ".m.exr.othernode-0000aaaa.4242.0123abcd.tmp.exr"   # another machine's, just now
    dead.write_bytes(b"half a frame")
    other.write_bytes(b"a frame in flight")
    st = pipeline.frame_status(job)
    assert {t["path"] for t in st["temps"] if t["abandoned"]} == {str(dead)}
    r = pipeline.run(job)
    assert r["written"] == [str(renders / "1002" / "m.exr")]
    assert not dead.exists()            # its process is gone: removed, as the status said
    assert other.exists()               # maybe a write in flight on another node: kept
    assert [t["path"] for t in pipeline.frame_status(job)["temps"]] == [str(other)]
