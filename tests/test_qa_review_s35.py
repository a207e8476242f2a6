"""QA review (session 35) of the day's last batch (7bb84c1..3cc41e1): regressions for what the review found.

Nuke across OSes: on Linux / macOS a ``\\`` is a character of a POSIX path's file or folder name, a separator only in a
Windows path (``Z:\\...``, ``\\\\server\\share``): a POSIX path is given to the studio's filename filters and matched
against Path Substitutions as written, never with its ``\\`` turned into folders.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

import pytest  # noqa: E402

import nuke  # noqa: E402
from samatte_nuke import job as jobmod  # noqa: E402


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr(os, "name", "posix")
    monkeypatch.setattr(sys, "platform", "linux")
    nuke.filenameFilters.clear()
    prefs = nuke.toNode("preferences")
    old = prefs["platformPathRemaps"].toScript()
    yield prefs
    nuke.filenameFilters.clear()
    prefs["platformPathRemaps"].fromScript(old)


def test_a_posix_path_with_a_backslash_is_not_given_to_the_filters_as_folders(linux):
    """A filter mapping /mnt/old/ -> /mnt/new/; the file ``/mnt/old\\x.exr`` (a file named ``old\\x.exr`` in /mnt) is
    not under /mnt/old/. Before: its ``\\`` tried as a ``/``, mapped to /mnt/new/x.exr, another file."""
    linux["platformPathRemaps"].fromScript("")
    nuke.addFilenameFilter(lambda p: "/mnt/new/" + p[len("/mnt/old/"):] if p.startswith("/mnt/old/") else None)
    assert jobmod.host_path("/mnt/old\\x.exr") == "/mnt/old\\x.exr"
    assert jobmod.host_path("/mnt/old/a\\b.exr") == "/mnt/new/a\\b.exr"       # mapped, its name as it is
    assert jobmod.host_path("Z:\\shows\\x.exr") == "Z:/shows/x.exr"           # a Windows path: still with /
    assert not jobmod.foreign_path("/mnt/old\\x.exr")


def test_path_substitutions_keep_a_backslash_of_a_mac_path_s_file_name(linux):
    """A Mac path mapped to Linux keeps its file name: /Volumes/shows/sh010/a\\b.####.exr is
    /mnt/shows/sh010/a\\b.####.exr (before: /mnt/shows/sh010/a/b.####.exr, a folder ``a`` that is not there)."""
    linux["platformPathRemaps"].fromScript("Z:/shows;/Volumes/shows;/mnt/shows;")
    hp = jobmod.host_path
    assert hp("/Volumes/shows/sh010/a\\b.####.exr") == "/mnt/shows/sh010/a\\b.####.exr"
    assert hp("Z:\\shows\\sh010\\p.####.exr") == "/mnt/shows/sh010/p.####.exr"   # Windows: \\ still a separator
    assert hp("\\\\server\\x") == "\\\\server/x"
