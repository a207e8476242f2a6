"""Fixes from the review of this session's changes (0.2.15): the key memo's racy-file rule, a huge
integer's error text, and a plate cache checked at both ends."""
import os
import sys
import time

import numpy as np
import pytest

from samatte import cachekey, jobspec
from samatte.errors import PromptError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "nuke_plugin"))


def test_a_file_written_just_now_is_not_memoised(tmp_path):
    """On a file system with coarse times, a same-size rewrite within one tick keeps the stat: a memo
    entry taken then would keep the old content's stamp for the whole session."""
    p = tmp_path / "m.png"
    p.write_bytes(b"a" * 100)
    memo = {}
    first = cachekey.file_stamp(str(p), memo=memo)
    assert memo == {}                                   # too recent to trust its stat
    st = os.stat(str(p))
    p.write_bytes(b"b" * 100)                           # same size, same times
    os.utime(str(p), ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cachekey.file_stamp(str(p), memo=memo) != first
    old = time.time() - 60
    os.utime(str(p), (old, old))
    stamp = cachekey.file_stamp(str(p), memo=memo)
    assert list(memo) == [str(p)] and cachekey.file_stamp(str(p), memo=memo) == stamp


def test_an_integer_past_python_s_digit_limit_is_a_coded_error():
    job = jobspec.new_job("/p/p.####.exr", "/o/o.####.exr", frames="1-2")
    jobspec.add_object(job, "a", [{"type": "points", "frame": 1, "points": [[10 ** 5000, 3]], "labels": [1]}])
    with pytest.raises(PromptError) as e:
        jobspec.validate(job)
    assert e.value.code == "PROMPT_INVALID" and "bits" in str(e.value)


class _Fmt:
    def width(self):
        return 32

    def height(self):
        return 16


class _Node:
    def format(self):
        return _Fmt()


def test_a_plate_cache_half_rendered_in_proxy_mode_is_rendered_again(tmp_path):
    """0.2.14 rendered frames 1-2 at full size, then 3 in proxy mode under the same hash: the check
    looked at the first frame only and reused frame 3 at half size."""
    from samatte.io.exr import write_image
    from samatte_nuke import job as jobmod
    pat = str(tmp_path / "plate.####.exr")
    for f, (w, h) in ((1, (32, 16)), (2, (32, 16)), (3, (16, 8))):
        write_image(pat.replace("####", "%04d" % f), np.zeros((h, w, 3), np.float32), channels=("R", "G", "B"),
                    pixel_type="half")
    assert jobmod._cached_size_ok(_Node(), pat, [1, 2, 3, 4], [4], 0) is False
    os.remove(pat.replace("####", "0003"))
    assert jobmod._cached_size_ok(_Node(), pat, [1, 2, 3, 4], [3, 4], 0) is True


def test_a_stereo_input_the_source_does_not_show_is_not_refused():
    """A disabled Merge passes its input 0 through, a Switch shows its 'which' input: a JoinViews on an
    input neither shows was refused as if the picture were stereo."""
    import nuke_env
    from samatte_nuke import job as jobmod
    nk = nuke_env.fresh()
    mono = nk.nodes.Grade()
    join = nk.nodes.JoinViews()
    merge = nk.nodes.Merge2()
    merge.setInput(0, mono)
    merge.setInput(1, join)
    assert jobmod.per_view_source(merge)[0] == join
    merge["disable"].setValue(True)
    assert jobmod.per_view_source(merge) is None
    sw = nk.nodes.Switch(which=0)          # (Foundry: Switch, knob which)
    sw.setInput(0, mono)
    sw.setInput(1, join)
    sw["which"].setValue(0)
    assert jobmod.per_view_source(sw) is None
    sw["which"].setValue(1)
    assert jobmod.per_view_source(sw)[0] == join


def test_blender_s_header_reader_refuses_a_damaged_size_field(tmp_path):
    """The add-on's own copy of the header reader read a 4 GB attribute size as asked (MemoryError under a
    memory limit, a traceback in Find objects); it now reads at most 1 MiB, as samatte.exrheader does."""
    import struct
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
    from addon_plain import plain
    convert = plain("convert")          # the add-on's plain module, without bpy
    from samatte.exrheader import windows
    from samatte.io.exr import write_image
    good = tmp_path / "good.exr"
    write_image(str(good), np.zeros((8, 16, 3), np.float32), channels=("R", "G", "B"), pixel_type="half")
    assert convert.exr_windows(str(good)) == windows(str(good))
    bad = tmp_path / "bad.exr"
    bad.write_bytes(b"\x76\x2f\x31\x01" + b"\x02\0\0\0" + b"dataWindow\0box2i\0" + struct.pack("<I", 0xFFFFFFF0))
    assert convert.exr_windows(str(bad)) is None
