"""Review s29 (QA79) of the TD fixes merged at 8227921: regression tests for what the review found."""
import json
import os

import pytest


def test_demo_rerun_after_a_first_run_cut_short_in_its_shot(tmp_path, monkeypatch):
    """A first `samatte demo` stopped while it wrote its synthetic shot (Ctrl-C, a kill, a full disk) left
    plate/plate.*.exr and no demo_params.json: the next `samatte demo` into the same (default) folder was
    refused as 'not a samatte demo folder' (OUTPUT_INVALID) until the user deleted it by hand. The folder
    is marked as the demo's before the shot is written."""
    from samatte import demo
    real = demo.make_shot

    def cut_short(folder, **kw):
        real(folder, **kw)               # the plates are on disk; the demo stops before it notes its shot
        raise KeyboardInterrupt

    out = str(tmp_path / "samatte_demo")
    monkeypatch.setattr(demo, "make_shot", cut_short)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(out, frames=3, size=(64, 64), quiet=True, tracker="flow", matte="refine")
    assert os.listdir(os.path.join(out, "plate"))
    monkeypatch.setattr(demo, "make_shot", real)
    rep = demo.run_demo(out, frames=3, size=(64, 64), quiet=True, tracker="flow", matte="refine")
    assert rep["exit_code"] == 0
    with open(os.path.join(out, "demo_params.json")) as f:
        doc = json.load(f)
    assert doc["shot"]["frames"] == [1001, 1002, 1003]
    # and the shot is reused as before by a third run with the same settings (the marker is not a shot)
    msgs = []
    demo.run_demo(out, frames=3, size=(64, 64), quiet=False, tracker="flow", matte="refine",
                  stream=type("S", (), {"write": lambda self, s: msgs.append(s), "flush": lambda self: None})())
    assert any("reusing the synthetic shot" in m for m in msgs)


def test_demo_still_refuses_a_foreign_shot_folder(tmp_path):
    """The guard holds: a folder with someone's plate/plate.####.exr and no demo marker is refused."""
    from samatte import demo
    from samatte.errors import OutputError
    out = tmp_path / "shot"
    (out / "plate").mkdir(parents=True)
    (out / "plate" / "plate.0001.exr").write_bytes(b"theirs")
    with pytest.raises(OutputError):
        demo.run_demo(str(out), frames=3, size=(64, 64), quiet=True, tracker="flow", matte="refine")
    assert (out / "plate" / "plate.0001.exr").read_bytes() == b"theirs"
