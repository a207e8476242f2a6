"""QA168: the OCIO context variables of the job's config go with a farm job.

A studio config naming its LUT by a context variable (``src: ${SHOT_LUT}.spi1d``, ``environment: {SHOT_LUT:
a}``) converts the plate with the LUT the artist's shell names (``SHOT_LUT=b``), and the keys stamp that LUT
(QA161). The farm document carried the config (or ``$OCIO``) but not ``$SHOT_LUT``: a node without it used the
config's default ``a.spi1d`` (another display image), its QC passed, and the workstation's ``samatte status``
called every farm frame stale. The export now records the values of the context variables that config uses
(``ocio_context``; only those, never the rest of the environment) and each task sets them.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from samatte import cli, jobspec
from samatte.farm import export_openjd
from samatte.farm.openjd import ocio_context

pytest.importorskip("PyOpenColorIO")
OPENJD = os.path.join(os.path.dirname(sys.executable), "openjd")


def _lut(path, f):
    x = np.linspace(0.0, 1.0, 64)
    path.write_text("Version 1\nFrom 0.0 1.0\nLength 64\nComponents 1\n{\n"
                    + "\n".join("%.9f" % v for v in f(x)) + "\n}\n")


def _config(folder, env_block="environment:\n  SHOT_LUT: a\n  SEQ: sq010\n", src="${SHOT_LUT}.spi1d"):
    (folder / "luts").mkdir(parents=True)
    _lut(folder / "luts" / "a.spi1d", lambda v: v ** 2.2)
    _lut(folder / "luts" / "b.spi1d", lambda v: v ** 1.5)
    cfg = folder / "config.ocio"
    cfg.write_text("""ocio_profile_version: 2
# a description naming $HOME is no context variable of the config
%ssearch_path: luts
roles:
  scene_linear: linear
  data: raw
  default: linear
displays:
  sRGB:
    - !<View> {name: Standard, colorspace: show}
active_displays: []
active_views: []
colorspaces:
  - !<ColorSpace>
    name: linear
    description: see $HOME
    isdata: false
  - !<ColorSpace>
    name: show
    isdata: false
    from_scene_reference: !<FileTransform> {src: "%s", interpolation: linear, direction: inverse}
  - !<ColorSpace>
    name: raw
    isdata: true
""" % (env_block, src))
    return str(cfg)


@pytest.fixture
def shot(tmp_path, monkeypatch):
    from samatte.demo import make_shot
    s = make_shot(str(tmp_path / "sh010"), frames=2, size=(64, 64), first=1001)
    job = jobspec.new_job(s["plate"], str(tmp_path / "sh010" / "out" / "m.####.exr"), name="sh010",
                          tracker="shapes", matte="refine", quality="draft", colourspace="linear")
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(1001, s["polygon"])])
    cfg = _config(tmp_path / "show")
    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.delenv("SEQ", raising=False)
    monkeypatch.setenv("SHOT_LUT", "b")              # the artist's shell: this shot's LUT
    monkeypatch.chdir(str(tmp_path))
    return job, cfg, tmp_path


def _save(job, tmp):
    path = tmp / "sh010.json"
    path.write_text(json.dumps(job))
    return str(path)


def _status(job_path):
    from samatte.pipeline import frame_status, load_job
    st = frame_status(load_job(job_path))
    return sorted(set(st["frames"].values())), sorted(set(st["track"].values()))


def _roots(doc, res):
    out = []
    for name in json.load(open(doc))["roots"]:
        out += ["--root", "%s=%s" % (name, res["parameters"][name])]
    return out


def test_ocio_context_is_the_configs_variables_as_this_machine_resolves_them(shot, tmp_path, monkeypatch):
    _job, cfg, tmp = shot
    assert ocio_context(cfg) == {"SEQ": "sq010", "SHOT_LUT": "b"}    # declared: the environment, else the default
    # without an environment: section OCIO expands any variable: the ones its files name, from the environment
    plain = _config(tmp / "plain", env_block="", src="${SHOT_LUT}_$SEQ.spi1d")
    monkeypatch.setenv("SEQ", "sq020")
    assert ocio_context(plain) == {"SEQ": "sq020", "SHOT_LUT": "b"}
    monkeypatch.delenv("SEQ")
    assert ocio_context(plain) == {"SEQ": None, "SHOT_LUT": "b"}       # unset here: unset on the node
    # a host's Python without PyOpenColorIO reads the same from the file's text
    monkeypatch.setitem(sys.modules, "PyOpenColorIO", None)
    assert ocio_context(cfg) == {"SEQ": "sq010", "SHOT_LUT": "b"}
    assert ocio_context(plain) == {"SEQ": None, "SHOT_LUT": "b"}
    assert ocio_context("ocio://default") == {} and ocio_context(None) == {}
    assert ocio_context(_config(tmp / "none", env_block="", src="a.spi1d")) == {}


@pytest.mark.parametrize("by", ["job", "OCIO"])
def test_a_task_converts_with_the_submitters_context_and_its_frames_are_current(shot, monkeypatch, capsys, by):
    job, cfg, tmp = shot
    if by == "job":
        job["plate"]["ocio_config"] = cfg
    else:
        monkeypatch.setenv("OCIO", cfg)
    path = _save(job, tmp)
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    assert json.load(open(doc))["ocio_context"] == {"SEQ": "sq010", "SHOT_LUT": "b"}
    assert "HOME" not in json.dumps(json.load(open(doc))["ocio_context"])
    monkeypatch.delenv("SHOT_LUT")                    # a render node without it
    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.setenv("SEQ", "sq999")                # and with another shot's sequence
    assert cli.main(["farm", "task", doc] + _roots(doc, res) + ["--stage", "all", "--frames=1001-1002"]) == 0
    out = capsys.readouterr().out
    assert "SHOT_LUT" not in os.environ and os.environ["SEQ"] == "sq999"   # the node's environment, as it was
    assert cli.main(["farm", "task", doc] + _roots(doc, res) + ["--qc", "--frames=1001-1002"]) == 0
    monkeypatch.setenv("SHOT_LUT", "b")               # the workstation
    monkeypatch.delenv("SEQ")
    if by == "OCIO":
        monkeypatch.setenv("OCIO", cfg)
    assert _status(path) == (["complete"], ["complete"])
    assert "samatte farm task env: SHOT_LUT=b (the submitting machine's OCIO context; this node's: unset)" in out
    assert "samatte farm task env: SEQ=sq010 (the submitting machine's OCIO context; this node's: sq999)" in out


@pytest.mark.skipif(not os.path.exists(OPENJD), reason="openjd-cli is not installed")
def test_openjd_run_on_a_node_without_the_variable(shot):
    job, cfg, tmp = shot
    job["plate"]["ocio_config"] = cfg
    path = _save(job, tmp)
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python=sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("SHOT_LUT", "SEQ", "OCIO")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    r = subprocess.run([OPENJD, "run", res["template"], "-p", "file://" + res["openjd_params"]],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert _status(path) == (["complete"], ["complete"])   # the workstation (SHOT_LUT=b) agrees with the node
    assert "SHOT_LUT=b (the submitting machine's OCIO context" in r.stdout


def test_a_folder_in_the_context_is_the_nodes_own_when_it_has_one(shot, monkeypatch, capsys):
    """``SHOW_ROOT=/mnt/show`` (``search_path: ${SHOW_ROOT}/luts``) names the submitting machine's mount: a node
    that sets its own (a Windows node's ``S:\\show``) keeps it; one without gets the submitter's."""
    job, _cfg, tmp = shot
    show = tmp / "mnt" / "show"
    cfg = _config(show, env_block="environment:\n  SHOT_LUT: a\n  SHOW_ROOT: /nowhere\n")
    text = open(cfg).read().replace("search_path: luts", "search_path: ${SHOW_ROOT}/luts")
    open(cfg, "w").write(text)
    monkeypatch.setenv("SHOW_ROOT", str(show))
    job["plate"]["ocio_config"] = cfg
    path = _save(job, tmp)
    res = export_openjd(path, str(tmp / "bundle"), chunk=2, python="/opt/samatte/bin/python")
    doc = os.path.join(res["bundle"], "samatte_farm_job.json")
    assert json.load(open(doc))["ocio_context"] == {"SHOT_LUT": "b", "SHOW_ROOT": str(show)}
    seen = []
    real = cli.main
    monkeypatch.setattr(cli, "main", lambda argv: seen.append((os.environ.get("SHOT_LUT"),
                                                               os.environ.get("SHOW_ROOT"))) or 0)
    monkeypatch.delenv("SHOT_LUT")
    monkeypatch.setenv("SHOW_ROOT", "/net/show")       # this node mounts the show elsewhere
    assert real(["farm", "task", doc] + _roots(doc, res) + ["--stage", "track", "--frames=1001-1002"]) == 0
    monkeypatch.delenv("SHOW_ROOT")                    # this one has none
    assert real(["farm", "task", doc] + _roots(doc, res) + ["--stage", "track", "--frames=1001-1002"]) == 0
    assert seen == [("b", "/net/show"), ("b", str(show))]
    assert "samatte farm task env: SHOW_ROOT=/net/show kept (this node's; the submitting machine's: %s)" % show \
        in capsys.readouterr().out
