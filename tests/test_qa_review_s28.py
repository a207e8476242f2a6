"""QA review of 676d703..9fa0205 (plate colour from the EXR header, '~' paths). Tiny synthetic images.

* A job given as a dict or a JSON string (the Python API, the worker protocol) kept a '~/...' path literal:
  c94a49b expands '~' in jobspec.resolve_paths, which only a JobSpec *file* goes through. The plate was
  "missing", and with an absolute plate the output, work_dir and track cache went to a folder named '~'
  in the working directory (the result naming '~/out/o.1001.exr').
* The cache key held the header's colour attributes by their exact names, but the reading finds them in
  any case (OpenImageIO's getattribute): a plate tagged 'ColorSpace' / 'COLORINTEROPID' was read in the
  colourspace it names, yet re-tagging its first frame left every later frame 'complete'.
"""
import os

import numpy as np



def _write(path, attrs=()):
    """A half-float RGB EXR (an orange disc on blue-green) with header attributes ``attrs``: (name, OIIO
    type or None, value); test_qa_colour_header's plate."""
    from test_qa_colour_header import _write as write
    return write(str(path), attrs)


def _masks(folder, frames):
    from samatte.io.exr import write_image
    yy, xx = np.mgrid[0:12, 0:16]
    mask = ((xx - 8) ** 2 + (yy - 6) ** 2 < 20).astype(np.float32)
    for f in frames:
        write_image(os.path.join(str(folder), "m.%d.png" % f), mask, channels=["Y"], pixel_type="uint8")


def test_dict_job_home_paths_are_the_home_folder(tmp_path, monkeypatch):
    """``samatte.api.run`` / ``status`` on a job dict whose plate, masks, output and work_dir start with
    '~/': read from and written to the home folder, the same as the job saved as a file and run with
    ``samatte run`` (before: FRAME_MISSING for the plate; with the plate absolute, the frames and the track
    cache were written under '<cwd>/~/'). The caller's dict is left as it was."""
    import copy

    from samatte import api, jobspec
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    (home / "shots").mkdir(parents=True)
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    for f in (1001, 1002):
        _write(home / "shots" / ("p.%d.exr" % f))
    _masks(home / "shots", (1001, 1002))
    job = jobspec.new_job("~/shots/p.####.exr", "~/out/o.####.exr", frames="1001-1002", matte="none",
                          work_dir="~/cache")
    jobspec.add_object(job, "disc", masks="~/shots/m.####.png")
    given = copy.deepcopy(job)
    res = api.run(job)
    assert job == given
    assert sorted(os.listdir(str(home / "out"))) == ["o.1001.exr", "o.1002.exr"]
    assert (home / "cache").is_dir()
    assert not os.path.exists(str(cwd / "~"))
    assert res["written"] == [str(home / "out" / ("o.%d.exr" % f)) for f in (1001, 1002)]
    st = api.status(jobspec.dumps(job))    # a JSON string: the same
    assert st["frames"] == {"1001": "complete", "1002": "complete"}, st


def test_cache_key_holds_colour_attributes_in_any_case(tmp_path):
    """A plate whose header says 'ColorSpace' (capital C) is read in the colourspace it names; re-tagged
    (its size and time kept, as test_qa_colour_header's key test does), every frame is read another way,
    so every frame is stale (before: all 'complete', as the key held only the exact-case names)."""
    from samatte import api, jobspec
    from samatte.exrheader import colour_attributes
    tag = [("ColorSpace", None, "lin_ap0_scene")]
    p1 = _write(tmp_path / "p.1001.exr", tag)
    _write(tmp_path / "p.1002.exr", tag)
    assert colour_attributes(p1) == {"0:ColorSpace": "string:" + b"lin_ap0_scene".hex()}
    _masks(tmp_path, (1001, 1002))
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "o" / "o.####.exr"), frames="1001-1002",
                          matte="none")
    jobspec.add_object(job, "disc", masks=str(tmp_path / "m.####.png"))
    res = api.run(job)
    assert res["plate"]["colourspace"] == "ACES2065-1"
    assert api.status(job)["frames"] == {"1001": "complete", "1002": "complete"}
    st = os.stat(p1)
    _write(p1, [("COLORSPACE", None, "lin_ap1_scene")])   # the first frame re-tagged: read as ACEScg now
    os.utime(p1, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.path.getsize(p1) == st.st_size
    assert api.run(dict(job, output=dict(job["output"], path=str(tmp_path / "n" / "o.####.exr"))))[
        "plate"]["colourspace"] == "ACEScg"
    assert api.status(job)["frames"] == {"1001": "stale", "1002": "stale"}
