"""QA159 (a Blender user's day 13): mask layers with long names (``sh010_hero_character_left_arm_roto_tracked_v003``,
over 49 characters) and the compositor samatte wires.

Each object's matte pass goes through a node ``samatte gated <object>``, found by that name on every wiring (Run,
Check mattes), so that the artist's links from it stay. Blender keeps 63 bytes of a node's name and cut a longer one:
the node was never found again by its name, so every Run and Check mattes removed it and made a new one, and the
artist's link from it (to a Viewer, an Erode, a File Output) was lost each time. Now a name that does not fit is its
start, ``~`` and a hash of the whole: the name set is the name stored, one per object (two objects whose names share
their first 50 characters included).

This file is also the bpy side: ``<venv-bpyXX>/bin/python test_qa159_long_names_bpy.py CONFIG.json``.
"""
from bpy_common import VERSIONS, box_mask, bpy_main, enable_addon, load_clip, run_step_in_blender, step_scenario  # noqa: E402

LONG = "sh010_hero_character_left_arm_roto_tracked_by_jo_v003"      # 53 characters
LONG2 = "sh010_hero_character_left_arm_roto_tracked_by_jo_v004"     # the same first 52


def _links(tree, to_names):
    return sorted("%s:%s -> %s" % (lk.from_node.name, lk.from_socket.name, lk.to_node.name)
                  for lk in tree.links if lk.to_node.name in to_names)


def step_long_names(cfg, res):
    import bpy
    addon = enable_addon(cfg)
    C = addon.compositor
    sc = bpy.context.scene
    clip = load_clip(cfg["plate"])
    w, h = clip.size
    mask = box_mask(addon, "Roto", LONG, [(4, 4), (w // 2 - 4, 4), (w // 2 - 4, h - 4), (4, h - 4)], (w, h))
    other = box_mask(addon, "Other", LONG2, [(w // 2 + 4, 4), (w - 4, 4), (w - 4, h - 4), (w // 2 + 4, h - 4)], (w, h))
    mask.layers.new(name=LONG2)     # the second object: a layer of the first mask, its spline copied from `other`
    sp = mask.layers[LONG2].splines.new()
    sp.use_cyclic = True
    src = other.layers[LONG2].splines[0].points
    sp.points.add(len(src) - 1)
    for a, b in zip(sp.points, src):
        a.handle_left_type = a.handle_right_type = "VECTOR"
        a.co = b.co
    mask.update_tag()
    s = sc.samatte
    s.clip, s.mask = clip, mask
    s.tracker, s.matte, s.quality = "flow", "refine", "draft"
    s.output_dir = cfg["out"]
    run, report = addon.ops.run_blocking(bpy.context)
    res["report"] = list(report)
    tree = C.existing_tree(sc)
    res["outputs"] = [o.name for o in tree.nodes[C.NODE_MATTE].outputs if o.enabled]
    viewers = []
    for i, obj in enumerate((LONG, LONG2)):     # the artist views each object's gated matte
        gated = tree.nodes.get(C.gated_node_name(obj))
        res["found_%d" % i] = gated is not None
        if gated is None:
            gated = next(n for n in tree.nodes if n.name.startswith("samatte gated " + obj[:30])
                         and all(n != v.inputs[0].links[0].from_node for v in viewers))
        v = tree.nodes.new("CompositorNodeViewer")
        v.name = "artist view %d" % i
        tree.links.new(gated.outputs[0], v.inputs[0])
        viewers.append(v)
    names = [v.name for v in viewers]
    res["links_before"] = _links(tree, names)
    res["status"] = addon.ops.matte_status(bpy.context)
    res["links_after_check"] = _links(tree, names)
    run, report = addon.ops.run_blocking(bpy.context)
    res["report2"] = list(report)
    res["links_after_run"] = _links(tree, names)
    res["gated"] = sorted(n.name for n in tree.nodes if n.name.startswith("samatte gated "))
    # what feeds each gated node: the matte node's output of that object
    res["feeds"] = sorted("%s <- %s" % (n.name, n.inputs[0].links[0].from_socket.name)
                          for n in tree.nodes if n.name.startswith("samatte gated ") and n.inputs[0].links)
    res["want"] = {obj: C.gated_node_name(obj) for obj in (LONG, LONG2, "Alpha")}


STEPS = {"long_names": step_long_names}

if __name__ == "__main__":   # the bpy side ends here (its venv has no pytest)
    bpy_main(lambda cfg: step_scenario(STEPS, cfg))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("qa159_long")), frames=2, size=(64, 64))


@pytest.mark.parametrize("v", sorted(VERSIONS))
def test_the_artists_links_from_a_long_named_objects_matte_survive_check_and_run(v, tmp_path, shot):
    res, _cfg = run_step_in_blender(__file__, v, tmp_path, shot, "long_names")
    assert res["report"][0] == "INFO" and res["report2"][0] == "INFO", res
    assert LONG in res["outputs"] and LONG2 in res["outputs"], res["outputs"]
    # the name samatte looks the node up by is the one Blender stored (before: cut at 63 bytes, never found)
    assert res["found_0"] and res["found_1"], res
    want = res["want"]
    assert want["Alpha"] == "samatte gated Alpha"      # short names as before (saved .blend files keep theirs)
    assert len({want[LONG], want[LONG2]}) == 2 and all(len(want[o].encode()) <= 63 for o in (LONG, LONG2)), want
    assert len(res["links_before"]) == 2, res
    # before: [] after Check mattes and after the next Run (the gated nodes removed and made again)
    assert res["links_after_check"] == res["links_before"], res
    assert res["links_after_run"] == res["links_before"], res
    assert "%s <- %s" % (want[LONG], LONG) in res["feeds"] and "%s <- %s" % (want[LONG2], LONG2) in res["feeds"], res
    assert len(res["gated"]) == len(set(res["gated"])) == len(res["outputs"]) - 1, res     # one each, no leftovers

