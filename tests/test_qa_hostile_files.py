"""Input files that lie or misbehave, as they turn up on shared storage: a named pipe or a symlink to
/dev/zero under a frame's name, a header that declares a 20000 x 20000 image in a file of a few MB, a
file with thousands of parts, a header whose attribute sizes are damaged. Every body that could hang
(a FIFO blocks ``open()`` for ever, /dev/zero never ends) runs in a subprocess with a timeout, so a
regression fails here instead of hanging the suite. Each test failed before its fix."""
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import samatte

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes (POSIX)")

CORE = os.path.dirname(os.path.dirname(os.path.abspath(samatte.__file__)))
ADDON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blender_addon")


def _python(code, *, timeout=60, mem_gb=None, env=None):
    """(exit status, stdout, stderr) of ``code`` in a fresh Python with samatte importable; a hang
    fails the test after ``timeout`` s; ``mem_gb`` caps the address space (a bomb fails to allocate
    instead of taking the machine's memory)."""
    pre = "import sys; sys.path.insert(0, %r)\n" % CORE
    if mem_gb:
        pre += "import resource; resource.setrlimit(resource.RLIMIT_AS, (%d << 30, %d << 30))\n" % (mem_gb, mem_gb)
    try:
        p = subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        pytest.fail("hung for %d s (a named pipe or a device read as a file?)" % timeout)
    return p.returncode, p.stdout, p.stderr


def _plate(folder, frames=(1001, 1002), size=(32, 24)):
    from samatte.io.exr import write_image
    os.makedirs(folder, exist_ok=True)
    w, h = size
    for i, f in enumerate(frames):
        img = np.full((h, w, 3), 0.2, np.float32)
        img[6:18, 8 + i:20 + i] = 0.8
        write_image(os.path.join(folder, "p.%d.exr" % f), img, channels=("R", "G", "B"))
    return os.path.join(folder, "p.####.exr")


def _job(tmp_path, **plate):
    j = {"samatte_job": 1, "name": "qa", "plate": dict({"path": _plate(str(tmp_path / "plate"))}, **plate),
         "objects": [{"name": "o", "prompts": [{"frame": 1001, "type": "box", "box": [6, 4, 22, 20]}]}],
         "tracker": {"backend": "flow"}, "matte": {"backend": "none"},
         "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    return j


def _hostile(path, kind):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        os.symlink("/dev/zero", path)
    elif kind == "urandom":
        os.symlink("/dev/urandom", path)
    elif kind == "folder":
        os.mkdir(path)


# -- the key stamps: a named pipe or a device as a mask / OCIO config hung status and run ---------------

@pytest.mark.parametrize("kind", ["fifo", "devzero", "urandom"])
def test_a_mask_prompt_that_is_a_pipe_or_device_fails_fast(tmp_path, kind):
    """A mask prompt path that is a FIFO blocked ``samatte status`` and ``samatte run`` for ever (the key
    stamp opened it to hash it: open() of a FIFO waits for a writer); a symlink to /dev/zero or
    /dev/urandom spun a CPU for ever (the hash read until end of file). Nuke's farm-safe Read calls the
    same keys from its file knob: the Nuke UI froze. Now the stamp is ``notfile`` and the run refuses
    the prompt, PROMPT_INVALID naming the path, in well under a second."""
    job = _job(tmp_path)
    mask = str(tmp_path / "roto.exr")
    _hostile(mask, kind)
    job["objects"][0]["prompts"] = [{"frame": 1001, "type": "mask", "path": mask}]
    jf = str(tmp_path / "job.json")
    with open(jf, "w") as f:
        json.dump(job, f)
    rc, out, err = _python("""
        import json, sys
        from samatte import cachekey, cli, pipeline
        print(json.dumps({"stamp": cachekey.file_stamp(%r),
                          "status": sorted(set(pipeline.frame_status(%r)["frames"].values()))}))
        sys.stdout.flush()
        sys.exit(cli.main(["run", %r]))
        """ % (mask, jf, jf), timeout=30)
    res = json.loads(out.strip().splitlines()[0])
    assert res["stamp"] == "notfile"
    assert res["status"] == ["missing"]
    assert rc == 2 and "PROMPT_INVALID" in err and mask in err and "Traceback" not in err, err
    assert not os.path.exists(str(tmp_path / "out" / "m.1001.exr"))


def test_a_mask_sequence_frame_that_is_a_pipe_fails_fast(tmp_path):
    """The same for a frame of an object's mask sequence (``samatte status`` hung)."""
    from samatte.io.exr import write_image
    job = _job(tmp_path)
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((24, 32), np.float32)
    m[6:18, 8:20] = 1
    write_image(str(masks / "m.1001.exr"), m, channels=("A",))
    _hostile(str(masks / "m.1002.exr"), "fifo")
    job["objects"].append({"name": "r", "masks": {"path": str(masks / "m.####.exr")}})
    jf = str(tmp_path / "job.json")
    with open(jf, "w") as f:
        json.dump(job, f)
    rc, out, err = _python("""
        import sys
        from samatte import cli
        assert cli.main(["status", %r]) == 0
        sys.exit(cli.main(["run", %r]))
        """ % (jf, jf), timeout=30)
    assert rc == 3 and "FRAME_CORRUPT" in err and "named pipe" in err and "m.1002.exr" in err, err


def test_an_ocio_config_that_is_a_pipe_does_not_hang_status(tmp_path):
    cfg = str(tmp_path / "config.ocio")
    _hostile(cfg, "fifo")
    job = _job(tmp_path, ocio_config=cfg)
    jf = str(tmp_path / "job.json")
    with open(jf, "w") as f:
        json.dump(job, f)
    rc, out, err = _python("""
        import sys
        from samatte import cachekey, cli
        print(cachekey.config_stamp(%r))
        sys.exit(cli.main(["status", %r]))
        """ % (cfg, jf), timeout=30)
    assert rc == 0 and out.splitlines()[0] == "notfile", err


def test_the_stamp_of_a_regular_file_is_unchanged(tmp_path):
    """Keys must not move: a regular file's stamp is still ``size:sha256[:32]`` of its bytes."""
    import hashlib

    from samatte.cachekey import file_stamp
    p = tmp_path / "roto.exr"
    data = bytes(range(256)) * 3000
    p.write_bytes(data)
    assert file_stamp(str(p)) == "%d:%s" % (len(data), hashlib.sha256(data).hexdigest()[:32])
    assert file_stamp(str(tmp_path / "nope.exr")) == "missing"


# -- OpenImageIO reads: a decompression bomb, thousands of parts, not-a-file frames ---------------------

def _bomb(path, w, h):
    """A valid ZIP-compressed scanline EXR, w x h half RGB, of a few MB: every 16-row chunk is the same
    few KB of zlib (zeros). Read as float it is w * h * 12 bytes."""
    def attr(name, typ, value):
        return name + b"\0" + typ + b"\0" + struct.pack("<i", len(value)) + value
    chans = b"".join(c + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for c in (b"B", b"G", b"R")) + b"\0"
    head = (struct.pack("<ii", 20000630, 2) + attr(b"channels", b"chlist", chans)
            + attr(b"compression", b"compression", b"\3")
            + attr(b"dataWindow", b"box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
            + attr(b"displayWindow", b"box2i", struct.pack("<4i", 0, 0, w - 1, h - 1))
            + attr(b"lineOrder", b"lineOrder", b"\0") + attr(b"pixelAspectRatio", b"float", struct.pack("<f", 1))
            + attr(b"screenWindowCenter", b"v2f", struct.pack("<2f", 0, 0))
            + attr(b"screenWindowWidth", b"float", struct.pack("<f", 1)) + b"\0")
    n = (h + 15) // 16
    comp = zlib.compress(b"\0" * (w * 3 * 2 * 16), 9)
    off = len(head) + 8 * n
    table, body = [], []
    for i in range(n):
        c = comp if 16 * (i + 1) <= h else zlib.compress(b"\0" * (w * 3 * 2 * (h - 16 * i)), 9)
        table.append(struct.pack("<Q", off))
        blk = struct.pack("<ii", 16 * i, len(c)) + c
        body.append(blk)
        off += len(blk)
    with open(path, "wb") as f:
        f.write(head + b"".join(table) + b"".join(body))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS caps memory on Linux")
def test_a_decompression_bomb_plate_is_refused_from_its_header(tmp_path):
    """A 2 MB EXR declaring 20000 x 16000 pixels: ``samatte run`` decoded it (about a minute, 9.5 GB
    resident for 20000 x 20000) and then died with "unexpected error (a bug)" (numpy could not allocate
    the float copy); under a memory cap it was FRAME_CORRUPT "std::bad_alloc". Now PLATE_INVALID from the
    header, naming the file and its size, before a pixel is read."""
    folder = tmp_path / "plate"
    folder.mkdir()
    for f in (1001, 1002):
        _bomb(str(folder / ("p.%d.exr" % f)), 20000, 16000)
    assert os.path.getsize(str(folder / "p.1001.exr")) < 4 << 20
    job = {"samatte_job": 1, "name": "qa", "plate": {"path": str(folder / "p.####.exr")},
           "objects": [{"name": "o", "prompts": [{"frame": 1001, "type": "box", "box": [6, 4, 22, 20]}]}],
           "tracker": {"backend": "flow"}, "matte": {"backend": "none"},
           "output": {"path": str(tmp_path / "out" / "m.####.exr")}}
    jf = str(tmp_path / "job.json")
    with open(jf, "w") as f:
        json.dump(job, f)
    rc, out, err = _python("""
        import resource, sys, time
        from samatte import cli
        t = time.time()
        rc = cli.main(["run", %r])
        # the peak of this process's own memory (VmHWM: ru_maxrss also counts the forked pytest's, which a
        # full test run makes over 1 GB)
        hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
        print(time.time() - t, int(hwm) // 1024)
        sys.exit(rc)
        """ % jf, timeout=60, mem_gb=3)
    assert rc == 3, err
    assert "PLATE_INVALID" in err and "p.1001.exr" in err and "20000 x 16000" in err and "MAX_PIXELS" in err, err
    secs, rss_mb = out.split()
    assert float(secs) < 30 and int(rss_mb) < 1000, (secs, rss_mb)   # before: 63 s, 9.5 GB (time: a loaded CI machine)
    assert not os.path.exists(str(tmp_path / "out" / "m.1001.exr"))


def test_max_pixels_can_be_raised_or_lowered(tmp_path, monkeypatch):
    from samatte.errors import PlateError
    from samatte.io import exr
    p = _plate(str(tmp_path)).replace("####", "1001")
    assert exr.read_info(p).data.width == 32
    monkeypatch.setenv("SAMATTE_MAX_PIXELS", "700")      # 32 x 24 = 768
    with pytest.raises(PlateError) as e:
        exr.read_info(p)
    assert e.value.code == "PLATE_INVALID" and e.value.details["width"] == 32
    assert "at most 700 pixels (SAMATTE_MAX_PIXELS)" in e.value.message
    monkeypatch.setenv("SAMATTE_MAX_PIXELS", "")
    assert exr.max_pixels() == exr.MAX_PIXELS
    # a value that is no whole number > 0 is refused naming the variable (it was the default, silently):
    # tests/test_qa151_env_values.py


def test_a_file_with_thousands_of_parts_is_refused(tmp_path):
    """1100 parts: probe and run opened every part's spec again and again (10000 parts: 1 GB resident,
    8 s for three frames; memory grows with the count). Now PLATE_INVALID as soon as it opens."""
    from samatte.errors import PlateError
    from samatte.io.exr import MAX_PARTS, write_parts
    from samatte.pipeline import probe
    from samatte.stages import Window
    p = str(tmp_path / "many.exr")
    parts = [{"pixels": np.zeros((1, 1, 1), np.float32), "channels": ("Y",), "name": "p%d" % i,
              "display": Window(0, 0, 1, 1)} for i in range(MAX_PARTS + 1)]
    write_parts(p, parts, compression="none")
    with pytest.raises(PlateError) as e:
        probe(p)
    assert e.value.code == "PLATE_INVALID" and "parts" in e.value.message and p in e.value.message


@pytest.mark.parametrize("kind, words", [("fifo", "named pipe"), ("devzero", "character device"),
                                         ("folder", "folder")])
def test_a_plate_frame_that_is_not_a_file_says_what_it_is(tmp_path, kind, words):
    job = _job(tmp_path)
    frame = str(tmp_path / "plate" / "p.1002.exr")
    os.remove(frame)
    _hostile(frame, kind)
    jf = str(tmp_path / "job.json")
    with open(jf, "w") as f:
        json.dump(job, f)
    rc, out, err = _python("import sys; from samatte import cli; sys.exit(cli.main(['run', %r]))" % jf, timeout=30)
    assert rc == 3 and "FRAME_CORRUPT" in err and words in err and frame in err, err


# -- the hosts' stdlib header reader (runs inside Nuke and Blender) -----------------------------------------

def _header(*attrs):
    out = struct.pack("<ii", 20000630, 2)
    for name, typ, value in attrs:
        out += name + b"\0" + typ + b"\0" + struct.pack("<i", len(value)) + value
    return out + b"\0"


def _win(*v):
    return struct.pack("<4i", *v)


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_exrheader_never_blocks_on_a_pipe_or_device(tmp_path, kind):
    """``samatte.exrheader`` (Nuke's farm-safe Read, the Source checks) and the Blender add-on's own copy
    opened a FIFO with open(): Nuke / Blender froze. Now None / OSError at once."""
    p = str(tmp_path / "f.exr")
    _hostile(p, kind)
    rc, out, err = _python("""
        import importlib.util
        from samatte import exrheader
        spec = importlib.util.spec_from_file_location("convert", %r)
        convert = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(convert)
        assert exrheader.windows(%r) is None
        assert convert.exr_windows(%r) is None
        for fn in (exrheader.read_attributes, exrheader.string_attributes):
            try:
                fn(%r)
            except OSError as e:
                print(e)
            else:
                raise SystemExit("no OSError")
        """ % (os.path.join(ADDON, "convert.py"), p, p, p), timeout=20)
    assert rc == 0, err
    assert ("named pipe" if kind == "fifo" else "device") in out


def test_exrheader_negative_attribute_size_does_not_loop(tmp_path):
    """An attribute size field of -13 sent the reader back to the same attribute: an endless loop at
    100% CPU inside the host on a 90-byte file. Now ValueError."""
    p = str(tmp_path / "neg.exr")
    head = struct.pack("<ii", 20000630, 2) + b"a\0string\0"
    with open(p, "wb") as f:
        f.write(head + struct.pack("<i", -(len(head) - 8 + 4)) + b"\0" * 64)
    rc, out, err = _python("""
        from samatte import exrheader
        assert exrheader.windows(%r) is None
        try:
            exrheader.read_attributes(%r)
        except ValueError as e:
            print(e)
        """ % (p, p), timeout=20)
    assert rc == 0 and "negative size" in out, err


def test_exrheader_damaged_headers(tmp_path):
    """Damage gives what the docstrings promise: ValueError (a cut size field raised struct.error, which
    Nuke's frame_state does not catch), None from windows() (a short window raised struct.error), an
    inverted window is no window, and a NaN / zero pixel aspect reads as 1.0 (as the worker reads it)."""
    from samatte import exrheader

    def put(name, data):
        p = str(tmp_path / name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    cut = put("cut.exr", struct.pack("<ii", 20000630, 2) + b"a\0string\0\1")
    with pytest.raises(ValueError):
        exrheader.read_attributes(cut)
    past = put("past.exr", struct.pack("<ii", 20000630, 2) + b"a\0string\0" + struct.pack("<i", 1 << 30) + b"x")
    with pytest.raises(ValueError):
        exrheader.string_attributes(past)
    good = (b"displayWindow", b"box2i", _win(0, 0, 63, 35))
    assert exrheader.windows(put("short.exr", _header(good, (b"dataWindow", b"box2i", b"\0\0")))) is None
    assert exrheader.windows(put("inv.exr", _header(good, (b"dataWindow", b"box2i", _win(10, 10, 0, 0))))) is None
    for pa in (float("nan"), 0.0, -2.0, float("inf")):
        w = exrheader.windows(put("pa.exr", _header(good, (b"dataWindow", b"box2i", _win(-4, -4, 67, 39)),
                                                    (b"pixelAspectRatio", b"float", struct.pack("<f", pa)))))
        assert w == {"display_window": (0, 0, 64, 36), "data_window": (-4, -4, 72, 44), "pixel_aspect": 1.0}


def test_inputfile_is_python39_stdlib():
    import ast
    path = os.path.join(CORE, "samatte", "inputfile.py")
    with open(path) as f:
        ast.parse(f.read(), feature_version=(3, 9))
    rc, out, err = _python("import sys, samatte.inputfile, samatte.exrheader, samatte.cachekey; "
                           "print([m for m in ('numpy', 'OpenImageIO') if m in sys.modules])")
    assert rc == 0 and out.strip() == "[]", err
