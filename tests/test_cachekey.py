"""samatte.cachekey: per-frame keys from what decides the pixels (stdlib only, no pipeline run)."""
import copy
import os
import subprocess

import pytest

from samatte import cachekey
from samatte.cachekey import file_stamp, frame_keys

FLOW = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "refine"}
FRAMES = list(range(1001, 1011))


def _poly(frame, dx=0.0):
    return {"frame": frame, "type": "polygon", "points": [[10 + dx, 10], [40 + dx, 10], [40 + dx, 40]],
            "invert": False, "feather": 0.0}


@pytest.fixture
def shot(tmp_path):
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in FRAMES:
        (plate / ("p.%04d.exr" % f)).write_bytes(b"plate %d" % f)
    (tmp_path / "hero.png").write_bytes(b"PNG one")
    roto = tmp_path / "roto"
    roto.mkdir()
    for f in FRAMES:
        (roto / ("car.%04d.png" % f)).write_bytes(b"roto %d" % f)
    job = {"samatte_job": 1, "name": "sh010",
           "plate": {"path": str(plate / "p.####.exr"), "frames": "1001-1010"},
           "objects": [{"name": "hero", "colour": [1, 0, 0],
                        "prompts": [_poly(1001), {"frame": 1004, "type": "mask", "path": str(tmp_path / "hero.png"),
                                                  "threshold": 0.5, "invert": False},
                                    _poly(1008)]},
                       {"name": "car", "masks": {"path": str(roto / "car.####.png"), "threshold": 0.5}}],
           "tracker": {"backend": "auto", "model": "sam2.1_hiera_tiny", "options": {}},
           "matte": {"backend": "auto", "quality": "default", "options": {}},
           "output": {"path": str(tmp_path / "out" / "m.####.exr"), "object_layers": True, "foreground": True,
                      "quality_map": True, "compression": "zip", "overwrite": False},
           "device": "auto", "work_dir": None}
    return tmp_path, job


def _changed(a, b, which):
    return sorted(f for f in a if f in b and a[f][which] != b[f][which])


def test_file_stamp_content_and_size(tmp_path):
    p = tmp_path / "a.png"
    p.write_bytes(b"abcd")
    s1 = file_stamp(str(p))
    st = os.stat(p)
    p.write_bytes(b"abce")  # same size, restore the mtime: the content hash still sees it
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_stamp(str(p)) != s1
    assert file_stamp(str(tmp_path / "nope")) == "missing"
    big = tmp_path / "big.exr"
    big.write_bytes(b"x" * 100)
    assert ":m" in file_stamp(str(big), small=10)  # large files: size + mtime_ns


def test_cosmetic_changes_keep_every_key(shot):
    _, job = shot
    k0 = frame_keys(job, resolved=FLOW)
    j = copy.deepcopy(job)
    j["name"] = "renamed"
    j["meta"] = {"artist": "x"}
    j["objects"][0]["colour"] = [0, 1, 0]
    j["objects"][0]["name"] = "villain"
    j["objects"][0]["host_name"] = "MaskLayer.001"
    j["objects"][0]["meta"] = {"k": 1}
    j["output"]["path"] = "/elsewhere/x.%04d.exr"
    j["output"]["overwrite"] = True
    j["work_dir"] = "/tmp/wd"
    j["tracker"]["options"] = {"ram_mb": 64}
    assert frame_keys(j, resolved=FLOW) == k0
    # a plate.frames subset: the frames both jobs have keep their keys
    j["plate"]["frames"] = "1001-1009"
    k1 = frame_keys(j, resolved=FLOW)
    assert all(k1[f] == k0[f] for f in k1)


def test_resolved_backends_model_and_version_are_in_the_key(shot, monkeypatch):
    _, job = shot
    k0 = frame_keys(job, resolved=FLOW)
    for change in ({"tracker": "sam2", "model": "sam2.1_hiera_tiny", "model_sha256": "aa"},
                   {"matte": "sam2matte"}):
        k = frame_keys(job, resolved=dict(FLOW, **change))
        assert all(k[f]["matte"] != k0[f]["matte"] for f in FRAMES)
    sam = dict(FLOW, tracker="sam2", model="sam2.1_hiera_tiny", model_sha256="aa")
    assert frame_keys(job, resolved=sam)[1005] != frame_keys(job, resolved=dict(sam, model_sha256="bb"))[1005]
    monkeypatch.setattr(cachekey, "__version__", "99.0")
    assert frame_keys(job, resolved=FLOW)[1001] != k0[1001]


def test_one_prompt_edit_touches_its_interval_only(shot):
    _, job = shot
    k0 = frame_keys(job, resolved=FLOW)
    j = copy.deepcopy(job)
    j["objects"][0]["prompts"][2] = _poly(1008, dx=2.0)  # the anchor on 1008
    k1 = frame_keys(j, resolved=FLOW)
    # 1001 and 1008 are anchors (polygons); 1004 is a mask prompt, also an anchor: the interval of
    # the frames between 1004 and 1008 and after 1008 holds the edit
    assert _changed(k0, k1, "track") == [1005, 1006, 1007, 1008, 1009, 1010]
    # the matte chain restarts at every anchor (1001, 1004, 1008): 1005-1007 change through their
    # track, 1008-1010 through theirs
    assert _changed(k0, k1, "matte") == [1005, 1006, 1007, 1008, 1009, 1010]
    # a points correction on 1002 only touches 1002-1003 (between the anchors 1001 and 1004)
    j = copy.deepcopy(job)
    j["objects"][0]["prompts"].append({"frame": 1002, "type": "points", "points": [[5, 5]], "labels": [1]})
    k2 = frame_keys(j, resolved=FLOW)
    assert _changed(k0, k2, "track") == [1002, 1003]
    assert _changed(k0, k2, "matte") == [1002, 1003]


def test_input_files_overwritten_in_place_change_the_keys(shot):
    tmp, job = shot
    k0 = frame_keys(job, resolved=FLOW)
    (tmp / "hero.png").write_bytes(b"PNG two")  # the mask prompt on 1004, same path
    k1 = frame_keys(job, resolved=FLOW)
    assert _changed(k0, k1, "track") == [1002, 1003, 1004, 1005, 1006, 1007]
    # refine-only roto frame 1006 re-rendered: its track and the matte chain until the next anchor
    (tmp / "roto" / "car.1006.png").write_bytes(b"roto again")
    k2 = frame_keys(job, resolved=FLOW)
    assert _changed(k1, k2, "track") == [1006]
    assert _changed(k1, k2, "matte") == [1006, 1007]
    # a plate frame re-rendered: the frames whose interval holds it
    (tmp / "plate" / "p.1010.exr").write_bytes(b"new plate")
    k3 = frame_keys(job, resolved=FLOW)
    assert _changed(k2, k3, "track") == [1010]
    assert _changed(k2, k3, "matte") == [1010]


def test_sam2_keys_span_the_shot(shot):
    _, job = shot
    sam = dict(FLOW, tracker="sam2", model="sam2.1_hiera_tiny", model_sha256="aa")
    k0 = frame_keys(job, resolved=sam)
    j = copy.deepcopy(job)
    j["objects"][0]["prompts"][2] = _poly(1008, dx=2.0)
    assert _changed(k0, frame_keys(j, resolved=sam), "track") == FRAMES


def test_importable_with_the_standard_library_alone_on_python_39(tmp_path):
    py = os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python")
    if not os.path.exists(py):
        pytest.skip("no Python 3.9 here")
    core = os.path.join(os.path.dirname(__file__), "..", "core")
    code = ("import sys; sys.path.insert(0, %r); import samatte.cachekey as c; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'cv2', 'OpenImageIO')]; "
            "assert not bad, bad; print(c.file_stamp(%r))" % (core, str(tmp_path / "nothing_here")))
    out = subprocess.run([py, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "missing"


def test_sam2_refs_ignore_a_prompt_on_a_frame_the_plate_lacks():
    # a prompt on a gap of the plate (1004 missing) used to make 1003 and 1005 refer to each other,
    # and the matte-key chain then failed with a KeyError (a traceback from `samatte status` / `run`)
    frames = [1001, 1002, 1003, 1005, 1006]
    job = {"objects": [{"name": "a", "prompts": [_poly(1004)]}]}
    refs = cachekey.temporal_refs(job, frames, "sam2")
    assert refs == {f: None for f in frames}
    job = {"objects": [{"name": "a", "prompts": [_poly(1004), _poly(1006)]}]}
    refs = cachekey.temporal_refs(job, frames, "sam2")
    assert refs == {1001: 1002, 1002: 1003, 1003: 1005, 1005: 1006, 1006: None}
    order = cachekey._matte_order(frames, refs)
    assert all(refs[f] is None or order.index(refs[f]) < order.index(f) for f in frames)


def test_a_prompt_on_a_gap_of_the_plate_is_a_coded_error_for_status_and_run(shot):
    from samatte import pipeline
    from samatte.errors import PromptError
    tmp, job = shot
    os.remove(str(tmp / "plate" / "p.1004.exr"))
    job = copy.deepcopy(job)
    del job["plate"]["frames"]          # the frames on disk: 1001-1003, 1005-1010
    job["tracker"]["backend"] = "sam2"
    job["objects"][0]["prompts"] = [_poly(1004)]
    for call in (lambda: pipeline.frame_status(job), lambda: pipeline.run(job)):
        with pytest.raises(PromptError) as e:
            call()
        assert e.value.code == "PROMPT_INVALID" and "1004" in e.value.message
    assert not (tmp / "out").exists()


def test_an_ocio_config_from_the_environment_counts_by_its_content(shot, tmp_path, monkeypatch):
    """$OCIO was keyed by its path: a config edited in place kept every frame current (a new display
    curve, no recompute), and a farm node reaching the same file under another path got other keys.
    Now by content, as a JobSpec's ocio_config; a built-in config (ocio://...) by its name."""
    _, job = shot
    cfg = tmp_path / "studio.ocio"
    cfg.write_text("ocio_profile_version: 2\n# v1\n")
    monkeypatch.setenv("OCIO", str(cfg))
    k1 = frame_keys(job, resolved=FLOW)[1001]["track"]
    mapped = tmp_path / "mnt" / "studio.ocio"
    mapped.parent.mkdir()
    mapped.write_bytes(cfg.read_bytes())
    monkeypatch.setenv("OCIO", str(mapped))
    assert frame_keys(job, resolved=FLOW)[1001]["track"] == k1
    cfg.write_text("ocio_profile_version: 2\n# v2: another display curve\n")
    monkeypatch.setenv("OCIO", str(cfg))
    assert frame_keys(job, resolved=FLOW)[1001]["track"] != k1
    monkeypatch.setenv("OCIO", "ocio://studio-config-latest")
    k2 = frame_keys(job, resolved=FLOW)[1001]["track"]
    monkeypatch.setenv("OCIO", "ocio://cg-config-latest")
    assert frame_keys(job, resolved=FLOW)[1001]["track"] != k2
