"""The README's TD examples (section "Farm and TD scripting") are executed as written, in a folder
holding the files they name, so they cannot rot."""
import os
import re
import shutil

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _section(title):
    text = open(README, encoding="utf-8").read()
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text, re.S | re.M)
    assert m, "README has no section %r" % title
    return m.group(1)


def _python_blocks(section):
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def td_folder(tmp_path, monkeypatch):
    """plates/sh010.####.exr (1001-1006) and roto/hero.1004.png, as the README says."""
    import numpy as np
    from PIL import Image
    from samatte.demo import make_shot, read_alpha
    s = make_shot(str(tmp_path / "src"), frames=6, size=(96, 64))
    (tmp_path / "plates").mkdir()
    (tmp_path / "roto").mkdir()
    for f in s["frames"]:
        shutil.copy(s["plate"].replace("####", "%04d" % f), str(tmp_path / "plates" / ("sh010.%04d.exr" % f)))
    a = read_alpha(s["gt"].replace("####", "%04d" % s["prompt_frame"]))
    roto = tmp_path / "roto" / ("hero.%d.png" % s["prompt_frame"])
    Image.fromarray(((a > 0.5) * 255).astype(np.uint8)).save(str(roto))
    assert s["prompt_frame"] == 1004
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_farm_and_td_examples_run(td_folder, capsys):
    blocks = _python_blocks(_section("Farm and TD scripting"))
    assert len(blocks) >= 2
    ns = {}
    for code in blocks:
        exec(compile(code, "README.md (Farm and TD scripting)", "exec"), ns)
    out = capsys.readouterr().out
    # what the examples claim: a run with progress, scores per frame, a passing QC, a bundle
    assert ns["result"]["status"] == "done" and len(ns["result"]["frames"]) == 6
    assert "matte" in out
    scores = ns["api"].scores(ns["job"])
    assert sorted(scores) == list(range(1001, 1007)) and all(isinstance(v, float) for v in scores.values())
    assert ns["report"]["ok"] is True and os.path.isfile(ns["report"]["contact_sheet"])
    files = sorted(os.listdir(ns["bundle"]))
    for name in ("template.yaml", "parameter_values.yaml", "asset_references.yaml", "openjd_params.json"):
        assert name in files
    assert os.path.isfile(td_folder / "sh010.json")
