"""Review s42 of the day's merges (d7b1d47..): regressions the review found, each with its case.

* Nuke (7be6e0e): a Read's path is joined to the project directory when relative, but a Windows path on Linux /
  macOS (``Z:/shows/...``, a script made on Windows, no Path Substitutions row for the plate share) is not absolute
  here and was joined too: ``<script dir>/Z:/shows/...``. Track & Matte then stopped FRAME_MISSING asking the
  artist to restore files of that made-up path (before the change: the plate rendered, Nuke naming its own path).
  A path starting with ``~`` likewise is left to Nuke (rendered, as before).
* api.job (996efa1): a bare ``(frame, path)`` pair is one prompt, but not with its frame as text (``("1004",
  "roto/hero.png")``, a CSV's), which a list's pair takes: it was two files, ``./1004`` among them.
* api.job (996efa1): a Windows path given on Linux / macOS (a job built for Windows nodes) was joined to the
  current folder, since 996efa1 a prompt or ``masks`` dict's too (kept before): kept, as ``jobspec.resolve_paths`` does.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

import test_qa158_nuke_day12 as day12  # noqa: E402
from samatte_nuke import job as jobmod, node as snode  # noqa: E402

nk, shot, _comp = day12.nk, day12.shot, day12._comp   # its fixtures


@pytest.mark.skipif(os.name == "nt", reason="a Windows path is this OS's own there")
@pytest.mark.parametrize("typed", ["Z:/shows/sh010/plate/plate.####.exr", "~/plates/sh010/plate.####.exr"])
def test_a_foreign_or_home_read_path_is_not_joined_to_the_project_directory(nk, shot, tmp_path, typed):
    nk.root()["name"].setValue(str(tmp_path / "comp" / "sh_v001.nk"))
    nk.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    read, roto, g = _comp(nk, shot)
    read["file"].setValue(typed)
    assert jobmod.read_path(read) == typed   # before: <script dir>/Z:/shows/... (or <script dir>/~/...)
    job, info = snode.build(g)   # before: FRAME_MISSING "... <script dir>/Z:/shows/.../plate.1001.exr is missing"
    assert "plate_" in job["plate"]["path"] and len(nk._renders) == 1   # rendered, as before 7be6e0e


def test_a_relative_read_path_is_still_joined_to_the_project_directory(nk, shot, tmp_path):
    nk.root()["project_directory"].setValue(str(tmp_path / "proj"))
    read, roto, g = _comp(nk, shot)
    read["file"].setValue("plate/plate.####.exr")
    assert jobmod.read_path(read) == os.path.join(str(tmp_path / "proj"), "plate", "plate.####.exr")


# --- api.job (996efa1): a bare (frame, path) pair whose frame is its text ------------------------------------------

def test_a_bare_pair_with_the_frame_as_text_is_one_prompt_as_in_a_list(tmp_path, monkeypatch):
    """``prompts={"hero": ("1004", "roto/hero.png")}`` (frames read from a CSV are text): a list's pair takes the
    text of a whole frame, the bare pair was two files, ``./1004`` (frame 1004 from its name, validated) and
    ``roto/hero.png`` (PROMPT_INVALID: no frame number in its name)."""
    from samatte import api
    monkeypatch.chdir(tmp_path)
    want = api.job("plate.####.exr", "out/o.####.exr", prompts={"hero": [("1004", "roto/hero.png")]},
                   frames="1001-1010")["objects"][0]["prompts"]
    got = api.job("plate.####.exr", "out/o.####.exr", prompts={"hero": ("1004", "roto/hero.png")},
                  frames="1001-1010")["objects"][0]["prompts"]
    assert got == want and [(q["frame"], q["path"]) for q in got] == [(1004, str(tmp_path / "roto" / "hero.png"))]
    # two files stay two files
    two = api.job("plate.####.exr", "out/o.####.exr", prompts={"hero": ("hero.1001.png", "hero.1005.png")},
                  frames="1001-1010")["objects"][0]["prompts"]
    assert [q["frame"] for q in two] == [1001, 1005]


# --- api.job (996efa1): a Windows path given on Linux / macOS ---------------------------------------------------------

@pytest.mark.skipif(os.name == "nt", reason="a Windows path is this OS's own there")
def test_api_job_keeps_windows_paths_on_linux_and_farm_export_maps_them(tmp_path, monkeypatch):
    """A Linux submission script building a job for Windows nodes: its paths were joined to the current folder
    (``<cwd>/Z:\\\\shows\\\\...``: one file name here), since 996efa1 those of prompt and ``masks`` dicts too (kept
    before); ``farm export`` then made the current folder a root. They are kept, as ``jobspec.resolve_paths`` keeps a
    saved Windows job's, and the export's roots are the Windows folders."""
    from samatte import api, jobspec
    from samatte.farm import farm_document
    monkeypatch.chdir(tmp_path)
    plate, out = "Z:\\shows\\sh010\\plate\\p.####.exr", "Z:\\shows\\sh010\\matte\\m.####.exr"
    roto, fx = "Z:\\shows\\sh010\\roto\\hero.1004.png", "\\\\server\\share\\fx\\m.####.png"
    j = api.job(plate, out, prompts={"hero": [jobspec.mask_prompt(1004, roto)]},
                masks={"fx": {"path": fx, "channel": "A"}}, frames="1001-1010")
    assert j["plate"]["path"] == plate and j["output"]["path"] == out
    assert j["objects"][0]["prompts"][0]["path"] == roto and j["objects"][1]["masks"]["path"] == fx
    doc = farm_document(j)
    dirs = sorted(r["dir"] for r in doc["roots"].values())
    assert str(tmp_path) not in dirs and "Z:\\shows\\sh010\\plate" in dirs and "\\\\server\\share\\fx" in dirs, dirs
    # a relative path is still made absolute from the current folder
    k = api.job("plate/p.####.exr", "out/o.####.exr", prompts={"hero": ["roto/hero.1004.png"]}, frames="1001-1010")
    assert k["plate"]["path"] == str(tmp_path / "plate" / "p.####.exr")
