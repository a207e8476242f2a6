"""QA review s34 (the second batch of the day's change: models, Nuke day 8, farm node resources)."""
import os
import shutil
import sys


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

from test_qa_nuke_day8 import _comp, _files, _track  # noqa: E402
import test_qa_nuke_day8 as day8  # noqa: E402

nk, shots = day8.nk, day8.shots   # its fixtures

_UNIT = 100   # samatte.cachekey.MTIME_UNIT_NS


def _on_100ns(plate):
    """The plate's files as a Windows / SMB client sees them: mtimes in whole 100 ns."""
    for f in range(1001, 1005):
        p = plate.replace("####", "%04d" % f)
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - st.st_mtime_ns % _UNIT))


def _mount(plate, where, extra_ns=37):
    """The plate's folder under another mount (a farm's path mapping) as a Linux NFS client sees the same
    files: the server's nanoseconds (``extra_ns`` below the 100 ns an SMB client was shown)."""
    shutil.copytree(os.path.dirname(os.path.dirname(plate)), str(where))
    for f in range(1001, 1005):
        p = str(where / "plate" / ("plate.%04d.exr" % f))
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + extra_ns))
    return str(where / "plate" / "plate.####.exr")


def test_a_path_mapped_plate_seen_with_nanosecond_mtimes_reads_back(nk, shots, tmp_path):
    """A macOS / Windows artist (the plate over SMB: mtimes in 100 ns) aligns the node; the farm's Linux node
    reads the same files through its path mapping over NFS (the server's nanoseconds). The cache keys count
    mtimes in whole 100 ns (so the key holds); samatte_plate's stamps counted raw nanoseconds, so every frame
    was refused as "another plate, or its files changed since"."""
    a, _ = shots
    _on_100ns(a["plate"])
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    read["file"].setValue(_mount(a["plate"], tmp_path / "mnt" / "shA"))
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}


def test_a_rendered_plate_s_path_mapped_read_with_nanosecond_mtimes_reads_back(nk, shots, tmp_path):
    """The same for a plate the node renders (Read -> Grade -> Source): farm.replated said the Read "reads other
    files" on every frame of the farm render."""
    a, _ = shots
    _on_100ns(a["plate"])

    def graded(read):
        grade = nk.nodes.Grade()
        grade.setInput(0, read)
        return grade
    read, roto, g = _comp(nk, a["plate"], a["polygon"], source=graded)
    _track(g)
    read["file"].setValue(_mount(a["plate"], tmp_path / "mnt" / "shA"))
    assert _files(g) == {1: 1, 2: 2, 3: 3, 4: 4}

