"""QA (seventh pass) of the Blender add-on with many objects and an artist's corrections among them
(real bpy 5.0.1 and 4.2.23): a Movie Clip with 24 mask layers and two tracks, run; one layer's point
moved on one frame, run again; a layer renamed, run again; a layer removed, run again. What each run
rewrites (the matte files, the stored tracks), the compositor's matte sockets, the layers in the files.
A test skips when its ``.venv-bpyXX`` is absent.

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa_blender7.py CONFIG.json`` runs the
step named in CONFIG inside Blender (pytest never imports bpy).
"""
import hashlib
import os
import shutil

from bpy_common import VERSIONS, bpy_main, enable_addon, run_step_in_blender, step_scenario  # noqa: E402

N_LAYERS = 24
NAMES = ["obj %02d" % i for i in range(N_LAYERS - 3)] + ["hero.v1", "Alpha", "my roto"]


# --- the bpy side ----------------------------------------------------------------------------------

def _snapshot(root):
    """{relative path: sha256} of every file under ``root`` (hidden folders included)."""
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def step_many_layers(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    conv = addon.convert
    sc = bpy.context.scene
    clip = bpy.data.movieclips.load(cfg["plate"])
    sc.active_clip = clip
    sc.frame_start, sc.frame_end = 1, clip.frame_duration
    info = addon.gather.clip_info(clip, abspath=bpy.path.abspath)
    mask = bpy.data.masks.new("Roto")
    for i, name in enumerate(NAMES):
        layer = mask.layers.new(name=name)
        sp = layer.splines.new()
        sp.use_cyclic = True
        sp.points.add(3)
        x0, y0 = 3 + (i % 6) * 10, 3 + (i // 6) * 15
        for p in sp.points:
            p.handle_left_type = p.handle_right_type = "FREE"
        for sf in (1, clip.frame_duration):
            for j, (ax, ay) in enumerate(((0, 0), (1, 0), (1, 1), (0, 1))):
                co = conv.px_to_mask((x0 + 6 * ax, y0 + 6 * ay), info.size, info.origin)
                pt = sp.points[j]
                pt.co = pt.handle_left = pt.handle_right = co
                for attr in ("co", "handle_left", "handle_right"):
                    mask.keyframe_insert('layers["%s"].splines[0].points[%d].%s' % (name, j, attr), frame=sf)
    mask.update_tag()
    for name, (x, y) in (("obj 01 eye", (16, 6)), ("obj 02 tip", (26, 6))):
        tr = clip.tracking.tracks.new(name=name, frame=1)
        for cf in range(1, clip.frame_duration + 1):
            tr.markers.insert_frame(cf, co=(x / info.size[0], 1.0 - y / info.size[1]))
        tr.select = True
    s = sc.samatte
    s.mask = mask
    s.tracks = "SELECTED"
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(cfg["out"], "shot.blend"))
    out_root = bpy.path.abspath(s.output_dir)
    res["runs"] = []

    def run(label):
        _settings, job, _collected = addon.ops._build(bpy.context)
        r = addon.ops.start_run(bpy.context)
        r.wait(timeout=300)
        report = list(addon.ops.finish_run(bpy.context, r))
        tree = addon.compositor.existing_tree(sc)
        snap_dir = os.path.join(cfg["out"], "snap_%d" % len(res["runs"]))
        shutil.copytree(out_root, snap_dir)
        res["runs"].append({"label": label, "report": report, "files": _snapshot(out_root), "snap": snap_dir,
                            "objects": [(o["name"], o.get("host_name"), sorted({q["frame"] for q in o["prompts"]}))
                                        for o in job["objects"]],
                            "output": job["output"]["path"],
                            "sockets": addon.compositor.object_sockets(tree)})

    run("first")
    # the artist moves one point of layer "obj 05" on the last frame by 1 px
    i = NAMES.index("obj 05")
    pt = mask.layers[i].splines[0].points[0]
    sc.frame_set(clip.frame_duration)
    x0, y0 = 3 + (i % 6) * 10, 3 + (i // 6) * 15
    co = conv.px_to_mask((x0 + 1, y0), info.size, info.origin)
    pt.co = pt.handle_left = pt.handle_right = co
    for attr in ("co", "handle_left", "handle_right"):
        mask.keyframe_insert('layers["obj 05"].splines[0].points[0].%s' % attr, frame=clip.frame_duration)
    sc.frame_set(1)
    run("edit obj 05 on the last frame")
    mask.layers[NAMES.index("obj 07")].name = "car"
    run("rename obj 07 -> car")
    mask.layers.remove(mask.layers[NAMES.index("obj 03")])
    run("remove obj 03")


STEPS = {"many_layers": step_many_layers}


if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


# --- the pytest side -------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qashot7")), frames=4, size=(64, 64))


def _layers(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    try:
        spec = inp.spec()
        px = inp.read_image(0, 0, 0, spec.nchannels, "float")
    finally:
        inp.close()
    return {c: px[..., k].copy() for k, c in enumerate(spec.channelnames)}


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_many_layers_an_edit_a_rename_and_a_removal(v, tmp_path, shot):
    import numpy as np
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "many_layers")
    runs = res["runs"]
    print([(r["label"], r["report"]) for r in runs])
    first = runs[0]
    names = [n for n, _h, _f in first["objects"]]
    assert len(names) == N_LAYERS and len(set(n.lower() for n in names)) == N_LAYERS, names
    assert set(names) >= {"hero_v1", "Alpha_layer", "my_roto", "obj_00"}, names
    for n in names:                     # every object reachable in the compositor
        assert n in first["sockets"], (n, first["sockets"])
    out = first["output"]
    frames = shot["frames"]

    def exr(run, f):
        rel = os.path.relpath(out.replace("####", "%04d" % f), os.path.dirname(out))
        base = os.path.basename(os.path.dirname(out))
        return rel, os.path.join(run["snap"], base, rel) if os.path.isdir(os.path.join(run["snap"], base)) \
            else os.path.join(run["snap"], rel)

    def changed(a, b):
        return sorted(k for k in b["files"] if a["files"].get(k) != b["files"][k] and "manifest" not in k)

    # an edit of one layer's point on the last frame (an anchor): that frame and the span before it for
    # that one object's track; the other objects' layers keep their pixels
    ch = changed(runs[0], runs[1])
    print("edit rewrote:", ch)
    i5 = names.index("obj_05")
    tracks = [k for k in ch if "/track/" in k.replace(os.sep, "/")]
    assert tracks and all(k.endswith(".o%d.npz" % i5) for k in tracks), tracks
    assert not any(k.endswith("%d.exr" % frames[0]) for k in ch), ch
    for f in frames:
        a, b = _layers(exr(runs[0], f)[1]), _layers(exr(runs[1], f)[1])
        for n in names:
            if n != "obj_05":
                assert np.array_equal(a[n + ".A"], b[n + ".A"]), (f, n)
    # rename: the track is kept, every frame's layers carry the new name, the old one is gone, and the
    # compositor shows the new socket, not the old one
    ren = runs[2]
    assert "car" in [n for n, _h, _f in ren["objects"]]
    assert not [k for k in changed(runs[1], ren) if "/track/" in k.replace(os.sep, "/")]
    for f in frames:
        got = _layers(exr(ren, f)[1])
        assert "car.A" in got and "obj_07.A" not in got, (f, sorted(got))
    assert "car" in ren["sockets"] and "obj_07" not in ren["sockets"], ren["sockets"]
    # removal: the object is gone from the files, the merged A and the compositor
    rem = runs[3]
    assert "obj_03" not in [n for n, _h, _f in rem["objects"]]
    for f in frames:
        got = _layers(exr(rem, f)[1])
        assert "obj_03.A" not in got
        # the merge of the layers left (0.2.20: the union where masks overlap, their sum where they meet)
        layers = [got[c] for c in got if c.endswith(".A")]
        union = 1 - np.prod([1 - a for a in layers], axis=0)
        assert (got["A"] >= union - 2e-3).all() and (got["A"] <= np.minimum(1, sum(layers)) + 2e-3).all()
    assert "obj_03" not in rem["sockets"], rem["sockets"]
