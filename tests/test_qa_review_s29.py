"""Review s29 (QA79) of the TD fixes merged at 8227921: regression tests for what the review found."""
import json
import math
import os

import pytest

from samatte import jobspec


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


# --- Blender: a layer's opacity / visibility keys are not its shape keys ------------------------------------

def _blender_gather():
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "blender"))
    from addon_plain import plain
    return plain("convert"), plain("gather")


@pytest.mark.parametrize("prop, keys", [("alpha", [-5, 0]), ("alpha", [5]), ("hide_render", [50])])
def test_blender_layer_property_keys_are_not_shape_keys(prop, keys):
    """A mask layer animated with shape keys (the I key: Python cannot see them, so the add-on samples its
    motion) whose Opacity (or render visibility) is keyed too: layer_keyframes took the property's keys
    for shape keys (any F-curve under layers["a"]), so the shape was read only on those frames (an
    opacity fade keyed on 0 before a range 1-40: one prompt on frame 1; keyed on 5: one prompt on 5) and
    its motion was never sampled: the object was prompted with one frame's shape. README: prompts sit on
    the frames of F-curves on its points or of its shape keys. Now the keys at 3, 10 and 20 (bpy 5.0.1:
    keyframe_insert('alpha') makes the F-curve 'layers["a"].alpha')."""
    import types
    convert, gather = _blender_gather()
    ns = types.SimpleNamespace
    info = gather.ClipInfo(size=(200, 100), first_file=1001, frame_start=1, frame_offset=0, duration=40,
                           pattern="/shots/plate.####.exr", name="plate")
    pts = []
    for ax, ay in ((0, 0), (1, 0), (1, 1), (0, 1)):
        co = convert.px_to_mask((10 + 20 * ax, 10 + 20 * ay), info.size, info.origin)
        pts.append(ns(co=co, handle_left=co, handle_right=co))
    layer = ns(name="a", hide_render=False, alpha=1.0, blend="MERGE_ADD", use_fill_holes=False,
               splines=[ns(points=pts, use_cyclic=True, use_fill=True)])
    base = [tuple(p.co) for p in pts]
    shape_keys = {3: 0.0, 10: 30.0, 20: 10.0}       # x offset in pixels, linear between, held outside

    def x_at(f):
        ks = sorted(shape_keys)
        if f <= ks[0] or f >= ks[-1]:
            return shape_keys[ks[0] if f <= ks[0] else ks[-1]]
        k0, k1 = max(k for k in ks if k <= f), min(k for k in ks if k > f)
        return shape_keys[k0] + (shape_keys[k1] - shape_keys[k0]) * (f - k0) / (k1 - k0)
    fc = ns(data_path='layers["a"].%s' % prop, keyframe_points=[ns(co=(f, 1.0)) for f in keys])
    mask = ns(layers=[layer], animation_data=ns(action=ns(fcurves=[fc])))

    class Layers(list):
        def __getitem__(self, k):
            return next(x for x in self if x.name == k) if isinstance(k, str) else list.__getitem__(self, k)
    mask.layers = Layers(mask.layers)

    def read_at(f):
        dx = x_at(f) / info.size[0]
        for p, (x, y) in zip(pts, base):
            p.co = p.handle_left = p.handle_right = (x + dx, y)
        return mask
    objs, _sub, notes = gather.gather_mask_objects(mask, info, scene_frames=range(1, 41), read_mask_at=read_at,
                                                   current_frame=7)
    assert len(objs) == 1, notes
    got = sorted({q["frame"] for q in objs[0]["prompts"]})
    assert got == [info.file(f) for f in (3, 10, 20)], (got, notes)
    on10 = next(q for q in objs[0]["prompts"] if q["frame"] == info.file(10))
    assert min(pt[0] for pt in on10["points"]) == pytest.approx(10 + 30, abs=1e-6)
    # F-curves on the points stay the layer's keys (read there, not sampled)
    fc.data_path = 'layers["a"].splines[0].points[0].co'
    objs, _sub, _notes = gather.gather_mask_objects(mask, info, scene_frames=range(1, 41), read_mask_at=read_at,
                                                    current_frame=7)
    assert sorted({q["frame"] for q in objs[0]["prompts"]}) == (
        [info.file(f) for f in keys if 1 <= f <= 40] or [info.file(1 if max(keys) < 1 else 40)])


# --- farm export: a re-export of a large job into its own bundle ---------------------------------------------

def test_farm_reexport_of_a_large_job_into_its_own_bundle(tmp_path):
    """check_bundle_folder recognised samatte's bundle by '"samatte_farm"' in the farm document's first 4 MiB;
    the document is written with sorted keys and an indent, so that key comes after the whole embedded job:
    a job with dense rotos (here 5 MB of farm document) exported fine once, then every re-export into its
    own bundle folder was OUTPUT_INVALID 'samatte_farm_job.json exists and is not a file of a samatte job
    bundle'. A foreign file at that name is still refused."""
    from samatte.demo import make_shot
    from samatte.errors import OutputError
    from samatte.farm import export_openjd
    s = make_shot(str(tmp_path / "shot"), frames=2, size=(64, 64))
    job = jobspec.new_job(s["plate"], str(tmp_path / "out" / "m.####.exr"), frames="1001-1002", name="big")
    ring = [[32 + 20 * math.cos(2 * math.pi * i / 3000), 32 + 20 * math.sin(2 * math.pi * i / 3000)]
            for i in range(3000)]
    for k in range(8):
        jobspec.add_object(job, "o%d" % k, [jobspec.polygon_prompt(f, ring) for f in (1001, 1002)])
    jobspec.save(job, str(tmp_path / "big.json"))
    bundle = tmp_path / "bundle"
    export_openjd(str(tmp_path / "big.json"), str(bundle))
    doc = bundle / "samatte_farm_job.json"
    assert doc.stat().st_size > (1 << 22) and doc.read_text().find('"samatte_farm"') > (1 << 22)
    res = export_openjd(str(tmp_path / "big.json"), str(bundle))          # its own bundle: replaced
    assert res["bundle"] == str(bundle)
    doc.write_text('{"frames": "1-2", "job": {}, "note": "' + "x" * (1 << 22) + '", "samatte_farm": 2}\n')
    with pytest.raises(OutputError):                                      # not samatte's (version 2): kept
        export_openjd(str(tmp_path / "big.json"), str(bundle))
    assert doc.read_text().endswith('"samatte_farm": 2}\n')
