"""QA160 (pipeline TD, day 8): a job that names no OCIO config, exported where ``$OCIO`` is set.

Such a job is read with ``$OCIO`` (README *Environment variables*), and its keys count that config. The
farm nodes' environment is not the submitter's: measured with ``openjd run`` of a 6-frame shot exported
with ``OCIO=<studio config>`` and run without it, every task passed (QC "6/6 frames ok") while the
submitting workstation's ``samatte status`` said ``output stale 9998-10003`` / ``track stale`` (and the
frames were made with another colour config than the artist's: the built-in default). The export now
records the exporting machine's ``$OCIO`` in the farm document (``ocio_env``: a config file as
``<InputN>/config.ocio`` under a root the farm maps like the others, an ``ocio://`` URI as it is, None
when unset) and each task sets (or unsets) ``$OCIO`` to it; a job naming its own ``ocio_config`` and a
farm document of an earlier samatte leave the node's environment as it is.
"""
import json
import os

import pytest

from samatte import cli, jobspec
from samatte.farm import export_openjd, ocio_environment

ocio = pytest.importorskip("PyOpenColorIO")


@pytest.fixture
def shot(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "sh010"), frames=2, size=(64, 64), first=1001)
    job = jobspec.new_job(s["plate"], str(tmp_path / "sh010" / "out" / "m.####.exr"), name="sh010",
                          tracker="flow", matte="refine", quality="draft")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    path = tmp_path / "sh010.json"
    path.write_text(json.dumps(job))
    cfg = tmp_path / "studio" / "config.ocio"
    cfg.parent.mkdir()
    cfg.write_text(ocio.Config.CreateFromBuiltinConfig("ocio://studio-config-latest").serialize())
    monkeypatch.chdir(str(tmp_path))
    return str(path), str(cfg), tmp_path


def _task(doc, res, *args):
    roots = []
    for name in json.load(open(doc))["roots"]:
        roots += ["--root", "%s=%s" % (name, res["parameters"][name])]
    return cli.main(["farm", "task", doc] + roots + list(args))


def _status(job_path):
    from samatte.pipeline import frame_status, load_job
    st = frame_status(load_job(job_path))
    return sorted(set(st["frames"].values())), sorted(set(st["track"].values()))


def test_the_submitters_ocio_config_goes_with_the_job(shot, monkeypatch, capsys):
    path, cfg, tmp = shot
    monkeypatch.setenv("OCIO", cfg)                  # the workstation
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    with open(doc) as f:
        d = json.load(f)
    (name,) = [n for n, r in d["roots"].items() if res["parameters"][n] == os.path.dirname(cfg)]
    assert d["ocio_env"] == "<%s>/config.ocio" % name and d["roots"][name]["flow"] == "IN"
    assert ocio_environment(d, {name: "/mnt/studio"}) == (True, "/mnt/studio/config.ocio")
    monkeypatch.delenv("OCIO")                       # a render node without it
    assert _task(doc, res, "--stage", "all", "--frames=1001-1002") == 0
    assert "OCIO" not in os.environ                  # the node's environment, as it was
    assert "samatte farm task env: OCIO=%s (the submitting machine's; this node's: unset)" % cfg in capsys.readouterr().out
    monkeypatch.setenv("OCIO", cfg)                  # the workstation: the farm's frames are current
    assert _status(path) == (["complete"], ["complete"])


def test_a_submitter_without_ocio_unsets_the_nodes(shot, monkeypatch):
    path, cfg, tmp = shot
    monkeypatch.delenv("OCIO", raising=False)
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    assert json.load(open(doc))["ocio_env"] is None
    monkeypatch.setenv("OCIO", cfg)                  # a node whose environment names a config
    assert _task(doc, res, "--stage", "all", "--frames=1001-1002") == 0
    assert os.environ["OCIO"] == cfg
    monkeypatch.delenv("OCIO")
    assert _status(path) == (["complete"], ["complete"])


def test_a_job_naming_its_config_or_an_older_document_leaves_the_node_as_it_is(shot, monkeypatch):
    path, cfg, tmp = shot
    monkeypatch.setenv("OCIO", cfg)
    job = jobspec.load(path)
    job["plate"]["ocio_config"] = "ocio://default"
    res = export_openjd(job, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    d = json.load(open(os.path.join(res["bundle"], "samatte_farm_job.json")))
    assert "ocio_env" not in d and ocio_environment(d, {}) == (False, None)
    assert ocio_environment({"job": {}}, {}) == (False, None)          # exported by samatte up to d7b1d47 (no ocio_env)
    monkeypatch.setenv("OCIO", "ocio://cg-config-latest")
    res = export_openjd(path, str(tmp / "bundle2"), chunk=2, python="/opt/samatte/bin/python")
    d = json.load(open(os.path.join(res["bundle"], "samatte_farm_job.json")))
    assert d["ocio_env"] == "ocio://cg-config-latest" and ocio_environment(d, {}) == (True, "ocio://cg-config-latest")


def test_a_config_the_node_cannot_reach_leaves_the_nodes_own_and_says_so(shot, monkeypatch, capsys):
    from samatte import cli as cli_module
    path, cfg, tmp = shot
    monkeypatch.setenv("OCIO", cfg)
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    roots = []
    for name in json.load(open(doc))["roots"]:
        folder = res["parameters"][name]
        roots += ["--root", "%s=%s" % (name, str(tmp / "elsewhere") if folder == os.path.dirname(cfg) else folder)]
    monkeypatch.setenv("OCIO", "ocio://default")      # the node's own
    got = []
    real = cli_module.main
    monkeypatch.setattr(cli_module, "main", lambda argv: got.append(os.environ.get("OCIO")) or 0)
    assert real(["farm", "task", doc] + roots + ["--stage", "track", "--frames=1001-1002"]) == 0
    assert got == ["ocio://default"]
    err = capsys.readouterr().err
    assert "OCIO config %s is not a file on this node" % str(tmp / "elsewhere" / "config.ocio") in err


def test_a_config_share_no_rule_maps_is_no_reason_to_fail_the_task(shot, monkeypatch, capsys):
    """A Windows artist's ``OCIO=Z:\\ocio\\config.ocio`` with no path mapping rule for that share: the other
    roots are mapped, so the task runs with the node's own ``$OCIO`` (as before the config went with the job),
    saying so; an unmapped root of the job's own files is still refused."""
    from samatte import cli as cli_module
    path, cfg, tmp = shot
    monkeypatch.setenv("OCIO", cfg)
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    (cfg_root,) = [n for n in json.load(open(doc))["roots"] if res["parameters"][n] == os.path.dirname(cfg)]
    roots = []
    for name in json.load(open(doc))["roots"]:
        roots += ["--root", "%s=%s" % (name, "Z:\\ocio" if name == cfg_root else res["parameters"][name])]
    monkeypatch.setenv("OCIO", "ocio://default")
    got = []
    real = cli_module.main
    monkeypatch.setattr(cli_module, "main", lambda argv: got.append(os.environ.get("OCIO")) or 0)
    assert real(["farm", "task", doc] + roots + ["--stage", "track", "--frames=1001-1002"]) == 0
    assert got == ["ocio://default"]
    assert "OCIO config Z:\\ocio\\config.ocio is not a file on this node" in capsys.readouterr().err
    roots[roots.index("Plate=%s" % res["parameters"]["Plate"])] = "Plate=Z:\\shots\\plate"
    assert real(["farm", "task", doc] + roots + ["--stage", "track", "--frames=1001-1002"]) == 2
    assert got == ["ocio://default"]
