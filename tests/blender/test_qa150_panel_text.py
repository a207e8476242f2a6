"""QA150 (a Blender user's day 12): the samatte panel's text when things go wrong, readable in the sidebar (bpy-free
and in real bpy 5.0.1 / 4.2.23, where a test skips without its ``.venv-bpyXX``).

A Blender label is one line, clipped at the panel's edge. The panel drew each result as one label: Find objects'
``[PLATE_INVALID] samatte needs an image sequence ... : render it to an image sequence ...`` (230 characters), a Run's
``[OUTPUT_INVALID] clip ... would overwrite the mattes of clip ...: set another Output folder ...``, Check mattes'
advice, the status line's time left: in a 300 px sidebar the artist read the first ~40 characters, never what to
do (only the Info editor had the rest). Now every line is wrapped to the region's width (continuations indented).
Without a region (a script, Blender as a module) a line stays one label, as before.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa150_panel_text.py CONFIG.json``.
"""
import types

from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, step_scenario  # noqa: E402


class _Layout:
    """A UILayout stand-in that keeps the labels."""

    def __init__(self, labels):
        self.labels = labels
        self.enabled = self.active = True

    def column(self, **kw):
        return self

    row = box = column

    def prop(self, *a, **kw):
        pass

    def operator(self, *a, **kw):
        return types.SimpleNamespace()

    def label(self, text="", **kw):
        self.labels.append(text)


def step_panel(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["still"])
    sc.active_clip = clip
    sc.samatte.mask = box_mask(addon, "Roto", "hero", [(4, 4), (20, 4), (20, 20), (4, 20)], tuple(clip.size))
    res["scan"] = addon.ops.scan(bpy.context)
    sc.samatte.last_result = cfg["last"]
    prefs = bpy.context.preferences
    for key, region in (("narrow", types.SimpleNamespace(width=300)), ("none", None)):
        labels = []
        ctx = types.SimpleNamespace(scene=sc, preferences=prefs, space_data=None, region=region)
        addon.panels.draw_panel(_Layout(labels), ctx)
        res[key] = labels
    res["chars"] = getattr(addon.panels, "region_chars", lambda c: None)(types.SimpleNamespace(region=types.SimpleNamespace(width=300),
                                                                   preferences=prefs))
    # the preferences' Check samatte result, drawn by the add-on's preferences class
    plabels = []
    ctx = types.SimpleNamespace(region=types.SimpleNamespace(width=300), preferences=prefs)
    addon.props.SAMATTE_AP_preferences.draw(types.SimpleNamespace(layout=_Layout(plabels), check_result=cfg["last"],
                                                                  python="", models_dir="", device="cpu", threads=0), ctx)
    res["prefs"] = plabels
    hidpi = types.SimpleNamespace(system=types.SimpleNamespace(ui_scale=2.0), view=prefs.view)   # a 2x display
    res["chars_hidpi"] = getattr(addon.panels, "region_chars", lambda c: None)(
        types.SimpleNamespace(region=types.SimpleNamespace(width=600), preferences=hidpi))


STEPS = {"panel": step_panel}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402

from addon_plain import plain  # noqa: E402

jobs = plain("jobs")

_LAST = ("[OUTPUT_INVALID] clip 'sh020' (/shots/sh020/plate.####.exr) would overwrite the mattes of clip 'sh010' "
         "(/shots/sh010/plate.####.exr) in /proj/samatte/plate, shown in scene 'Shot': their files have the same "
         "names. Set another Output folder in the samatte panel for this one (e.g. //samatte_sh020/)")


def _words(lines):
    return " ".join(lines).split()


def _chars(text):
    """``text`` without its white space: what a wrap that may break inside a long path must keep."""
    return "".join(text.split())


def test_panel_lines_wrap_each_line_to_the_width_and_keep_every_word():
    text = _LAST + "\nmattes: 2 of 4 frames current"
    lines = jobs.panel_lines(text, 40)
    assert all(len(line) <= 40 for line in lines), lines
    assert _words(lines) == text.split()
    assert lines[-1] == "mattes: 2 of 4 frames current"     # a short line stays one label
    assert all(line.startswith("  ") for line in lines[1:-1])    # continuations indented
    assert jobs.panel_lines(text, None) == text.splitlines()    # no width known: one label a line, as before
    assert jobs.panel_lines("", 40) == []
    # a path longer than the panel is broken inside, never past the edge
    long_path = "/very/long/" + "x" * 120 + "/plate.####.exr"
    assert all(len(line) <= 40 for line in jobs.panel_lines(long_path, 40))


def test_panel_chars_from_the_region_width_and_ui_scale():
    assert jobs.panel_chars(None) is None and jobs.panel_chars(0) is None
    assert jobs.panel_chars(300) == 37
    assert jobs.panel_chars(300, 2.0) == 18     # the same pixels hold half the characters at UI scale 2
    assert jobs.panel_chars(60) == 16           # never fewer


@pytest.fixture(scope="module")
def still(tmp_path_factory):
    cv2 = pytest.importorskip("cv2")
    import numpy as np
    p = str(tmp_path_factory.mktemp("qa150_panel") / "still.png")
    cv2.imwrite(p, np.full((24, 32, 3), 128, np.uint8))
    return p


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_in_blender_the_panel_shows_a_whole_error_within_its_width(v, tmp_path, still):
    import sys
    from bpy_common import run_script_in_blender
    cfg = {"python": sys.executable, "out": str(tmp_path / "out"), "result": str(tmp_path / "res.json"),
           "step": "panel", "still": still, "last": _LAST}
    res, _home = run_script_in_blender(__file__, v, tmp_path, cfg, samatte_core=True)
    chars = 37      # jobs.panel_chars(300) at UI scale 1
    assert res["scan"].startswith("[PLATE_INVALID]") and len(res["scan"]) > 3 * chars, res["scan"]
    narrow = res["narrow"]
    # before: the error and the last result were one label each (230 and 300 characters), clipped at the edge
    assert all(len(line) <= chars for line in narrow), [line for line in narrow if len(line) > chars]
    assert _chars(" ".join(narrow)) == _chars(res["scan"] + _LAST), narrow
    assert res["none"] == [res["scan"], _LAST]      # no region: as before
    assert res["chars"] == chars, res["chars"]      # the region's width at Blender's UI scale
    assert res["chars_hidpi"] == jobs.panel_chars(600, 2.0), res["chars_hidpi"]     # Blender's effective UI scale
    assert all(len(line) <= chars for line in res["prefs"]), res["prefs"]      # the preferences' Check result too
    assert _chars(" ".join(res["prefs"])) == _chars(_LAST), res["prefs"]
