"""QA of a studio with Windows (and macOS) artist workstations and a Linux render farm.

This machine is Linux, so a Windows workstation is simulated: ``ntpath`` where the code calls
``os.path`` (a bundle exported "on Windows"), JobSpec text as Windows writes it (backslashes, drive
letters, UNC), and the same file seen by two clients of shared storage (a Linux NFS client sees the
server's nanosecond mtimes; Windows, and any client over SMB, 100 ns units, truncated by Samba).
"""
import json
import ntpath
import os
import re
import shutil
import subprocess
import sys
import types

import pytest

from samatte import cachekey, jobspec

_WIN_BAD = re.compile(r'[<>:"|?*\x00-\x1f]')
_WIN_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {"COM%d" % i for i in range(10)} | {"LPT%d" % i for i in range(10)}


def _windows_can_create(name):
    """A file or folder name Windows creates and opens by that very name."""
    return (bool(name) and not _WIN_BAD.search(name) and "/" not in name and "\\" not in name
            and not name.endswith((".", " ")) and name.split(".")[0].rstrip(" ").upper() not in _WIN_DEVICES)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("crossos")
    return make_shot(str(d / "shots"), frames=4, size=(64, 64)), d


def _job(s, plate, out, name="sh010"):
    job = jobspec.new_job(plate, str(out), frames="%d-%d" % (s["frames"][0], s["frames"][-1]), name=name,
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(s["prompt_frame"], s["polygon"])])
    return job


# --- 3. cache keys across OSes ------------------------------------------------------------------------

def test_frames_a_linux_node_wrote_are_current_for_a_windows_artist_over_smb(shot, tmp_path):
    """A plate frame counts by size + mtime_ns. The same file on a share reads with the server's
    nanoseconds on a Linux NFS client (the farm) and in 100 ns units on Windows (FILETIME; Samba
    truncates), so every plate stamp differed and `samatte status` on the submitting Windows machine
    called every frame the farm wrote stale (4 of 4 here; a re-run there re-matted them all), against
    the README's "current for the submitting machine". Now an mtime counts in whole 100 ns."""
    s, d = shot
    share = tmp_path / "share"
    shutil.copytree(os.path.dirname(s["plate"]), str(share / "plate"))
    plate = str(share / "plate" / "plate.####.exr")
    frames = s["frames"]
    for i, f in enumerate(frames):    # a plate rendered on Linux: mtimes with nanoseconds
        p = plate.replace("####", str(f))
        os.utime(p, ns=(1_700_000_000_123_456_789 + i * 1_000_000_007, 1_700_000_000_123_456_789 + i * 1_000_000_007))
    os.symlink(str(share), str(tmp_path / "mnt"))     # the farm node's mapped path of the same share
    farm_job = _job(s, str(tmp_path / "mnt" / "plate" / "plate.####.exr"), tmp_path / "mnt" / "out" / "m.####.exr")
    from samatte.pipeline import frame_status, run
    run(farm_job)
    # the Windows artist's view of the share: the same files, mtimes in 100 ns units
    for f in frames:
        p = plate.replace("####", str(f))
        ns = os.stat(p).st_mtime_ns
        os.utime(p, ns=(ns - ns % 100, ns - ns % 100))
    mine = _job(s, plate, share / "out" / "m.####.exr")
    st = frame_status(mine)
    assert set(st["frames"].values()) == {"complete"}, st["frames"]
    assert set(st["track"].values()) == {"complete"}, st["track"]


def test_file_stamp_counts_mtime_in_whole_units(tmp_path):
    """100 ns (SMB) and the server's nanoseconds (NFS) of one file agree (the unit is whole ms since
    KEY_VERSION 3, for Deadline's microsecond copies: tests/test_qa_farm_attach.py)."""
    assert cachekey.MTIME_UNIT_NS % 100 == 0
    p = tmp_path / "big.bin"
    p.write_bytes(b"x" * 10)
    os.utime(str(p), ns=(1_700_000_000_987_654_321, 1_700_000_000_987_654_321))
    a = cachekey.file_stamp(str(p), small=0)
    os.utime(str(p), ns=(1_700_000_000_987_654_300, 1_700_000_000_987_654_300))
    assert cachekey.file_stamp(str(p), small=0) == a
    os.utime(str(p), ns=(1_700_000_000_988_654_400, 1_700_000_000_988_654_400))   # a re-rendered plate
    assert cachekey.file_stamp(str(p), small=0) != a


def test_a_matte_checkpoint_counts_by_its_stamp_not_its_mapped_path(shot, tmp_path):
    """`farm export` makes the matte's `checkpoint` a PATH root (mapped on the node), but the matte key
    held its path: a mapped job's keys differed from the submitter's (every frame stale there). Now it
    counts by its stamp, as the plate, masks and OCIO config do."""
    s, _ = shot
    ck = tmp_path / "models" / "sam2matte.pt"
    ck.parent.mkdir()
    ck.write_bytes(b"weights")
    os.symlink(str(tmp_path / "models"), str(tmp_path / "mapped"))
    res = {"tracker": "flow", "model": None, "model_sha256": None, "matte": "sam2matte"}
    keys = []
    for folder in ("models", "mapped"):
        job = _job(s, s["plate"], tmp_path / "out" / "m.####.exr")
        job["matte"]["options"]["checkpoint"] = str(tmp_path / folder / "sam2matte.pt")
        keys.append(cachekey.frame_keys(jobspec.validate(job), resolved=res))
    assert keys[0] == keys[1]
    ck.write_bytes(b"other weights")   # other weights at the same path: recomputed
    job = _job(s, s["plate"], tmp_path / "out" / "m.####.exr")
    job["matte"]["options"]["checkpoint"] = str(ck)
    assert cachekey.frame_keys(jobspec.validate(job), resolved=res) != keys[0]


# --- 2. relative paths written on Windows -------------------------------------------------------------

def test_a_relative_windows_path_resolves_against_the_jobspec_folder_on_linux(shot, tmp_path):
    """`..\\plates\\p.####.exr` in a JobSpec written on Windows was one file name in the job's folder
    on Linux (`/shots/jobs/..\\plates\\p.####.exr`: no frames found); now a backslash in a relative path
    is a separator, and a Windows absolute path is not joined to the job's folder."""
    s, _ = shot
    root = tmp_path / "sh010"
    shutil.copytree(os.path.dirname(s["plate"]), str(root / "plates"))
    (root / "jobs").mkdir()
    doc = _job(s, "..\\plates\\plate.####.exr", "..\\out\\m.####.exr")
    doc["work_dir"] = "C:\\cache\\sh010"
    (root / "jobs" / "j.json").write_text(json.dumps(doc))
    job = jobspec.load(str(root / "jobs" / "j.json"))
    assert job["plate"]["path"] == str(root / "plates" / "plate.####.exr")
    assert job["output"]["path"] == str(root / "out" / "m.####.exr")
    assert job["work_dir"] == "C:\\cache\\sh010"
    for p in ("C:/cache", "\\\\server\\share\\x", "d:\\x"):
        assert jobspec.resolve_paths(dict(job, work_dir=p), str(root))["work_dir"] == p
    from samatte.pipeline import frame_status
    del doc["work_dir"]
    (root / "jobs" / "j.json").write_text(json.dumps(doc))
    st = frame_status(str(root / "jobs" / "j.json"))
    assert sorted(st["frames"]) == [str(f) for f in s["frames"]]


# --- 5. names Windows cannot open --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sh010: hero", "hero?", "a<b>|c*", 'say "hi"', "CON", "aux", "com1.v2",
                                  "NUL", "lpt9", "hero.", "hero ", "..", ".", "tab\there"])
def test_the_default_work_dir_folder_is_a_name_windows_can_open(name):
    """The job's name (any text: Blender's job name field, api.job(name=...)) named the default work
    dir's folder with only `/` and `\\` replaced: 'sh010: hero' made `.samatte/sh010: hero/` on the Linux
    farm, which Windows cannot open by that name (a `:` names an NTFS stream; `?*<>|"` are refused;
    CON, AUX, NUL... are devices; a trailing dot or space is dropped), so `samatte status` on the
    artist's Windows machine could not read the farm's track cache (and a run there could not create
    it). Now the folder is a name Windows can create; ordinary names are unchanged."""
    folder = jobspec.work_dir_name(name)
    assert _windows_can_create(folder), folder
    assert jobspec.work_dir_name("sh010_hero") == "sh010_hero"
    assert jobspec.work_dir_name("Console") == "Console" and jobspec.work_dir_name("sh010 v2.1") == "sh010 v2.1"


# --- 1 and 4. a bundle exported on Windows, run on Linux ---------------------------------------------

def _windows_os():
    m = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    m.path, m.sep, m.getcwd = ntpath, "\\", (lambda: "C:\\work")
    return m


def _windows_farm_document(monkeypatch, job):
    import samatte.farm.openjd as oj
    w = _windows_os()
    with monkeypatch.context() as mp:
        mp.setattr(oj, "os", w)
        mp.setattr(jobspec, "os", w)
        return oj.farm_document(job)


def test_a_windows_farm_document_maps_every_path_to_clean_linux_paths(monkeypatch, tmp_path):
    """Fine before and after: every path field of a job exported on Windows (drive letters, `/` and `\\`
    mixed, UNC, `####` / `%04d` / `$F4`) becomes `<Root>/rel` with `/`, its folder a PATH parameter value,
    and `--root` puts the node's folders back with no backslash or drive letter left."""
    from samatte.farm import build_template, localize
    from samatte.farm import yamlout
    job = {"samatte_job": 1, "name": "sh010",
           "plate": {"path": "C:\\shots\\sh010\\plates\\plate.####.exr", "frames": "1001-1003",
                     "ocio_config": "\\\\server\\share\\ocio\\config.ocio"},
           "objects": [{"name": "hero", "prompts": [{"frame": 1001, "type": "mask",
                                                     "path": "C:/shots/sh010/roto\\hero.1001.png"}]},
                       {"name": "car", "masks": {"path": "\\\\server\\share\\roto\\car.%04d.png"}}],
           "tracker": {"backend": "flow"}, "matte": {"backend": "refine"},
           "output": {"path": "C:/shots/sh010/out/matte.$F4.exr"}, "work_dir": "D:\\cache\\sh010\\"}
    doc = _windows_farm_document(monkeypatch, job)
    text = json.dumps(doc["job"])
    assert "\\\\" not in text and "C:" not in text and "D:" not in text, text
    assert {r["dir"] for r in doc["roots"].values()} >= {"C:\\shots\\sh010\\plates", "C:\\shots\\sh010\\out",
                                                        "\\\\server\\share\\ocio", "D:\\cache\\sh010"}
    node = localize(doc, {n: "/mnt/studio/" + n.lower() for n in doc["roots"]})
    paths = [node["plate"]["path"], node["plate"]["ocio_config"], node["output"]["path"], node["work_dir"],
             node["objects"][0]["prompts"][0]["path"], node["objects"][1]["masks"]["path"]]
    assert all(p.startswith("/mnt/studio/") and "\\" not in p and ":" not in p for p in paths), paths
    assert node["plate"]["path"].endswith("/plate.####.exr") and node["output"]["path"].endswith("/matte.$F4.exr")
    assert node["objects"][1]["masks"]["path"].endswith("/car.%04d.png")
    tpl = build_template(doc, chunk=2)
    ytext = yamlout.dumps(tpl)
    assert "C:" not in ytext and "server" not in ytext and "D:" not in ytext
    assert all(p["objectType"] == "DIRECTORY" for p in tpl["parameterDefinitions"] if p["type"] == "PATH")
    openjd = os.path.join(os.path.dirname(sys.executable), "openjd")
    if os.path.exists(openjd):
        (tmp_path / "template.yaml").write_text(ytext)
        r = subprocess.run([openjd, "check", str(tmp_path / "template.yaml")], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        assert r.returncode == 0, r.stdout.decode()
