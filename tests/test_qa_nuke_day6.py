"""QA, Nuke day 6 (the Nuke double): two gaps of the adapter's carrying of prompts.

* An animated Switch on the Source's side (the Roto drawn on a Read the Source shows through a Switch whose
  'which' is animated) counted as showing every input: the Roto's shapes were prompted on every frame, also where
  the Source shows the other input. Now they count only on the frames the Source shows the image they were drawn
  on (as the Prompts side's Switch since f07bee2); an object with no shape there is ``absent`` there.
* A same-size Transform between a Roto and the Prompts input (the Source the Read itself) was ignored: the shapes
  were read where drawn, not where the Prompts input shows them (refine only renders them moved). Now they are
  carried through it, as the Prompts input shows them.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402
from nuke_env import rp  # noqa: E402

from samatte_nuke import gather  # noqa: E402
from samatte_nuke.convert import FrameMap, Geometry  # noqa: E402

W, H = 96, 64
BOX = [(2.5, 40.5), (30.5, 40.5), (30.5, 62.5), (2.5, 62.5)]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from samatte.demo import make_shot
    return make_shot(str(tmp_path_factory.mktemp("day6")), frames=5, size=(W, H), first=1001)


@pytest.fixture
def nk():
    nuke = nuke_env.fresh()
    yield nuke
    nuke._reset()


def _roto(nk, up, keys=(1, 4)):
    roto = nk.nodes.Roto()
    roto.setInput(0, up)
    layer = rp.Layer(roto["curves"], name="hero")
    shape = nuke_env.polygon_shape(roto["curves"], BOX, keys[0], H, name="Bezier1")
    layer.append(shape)
    roto["curves"].rootLayer.append(layer)
    for k in keys[1:]:
        for cp in shape:
            pos = cp.center.getPosition(keys[0])
            cp.center.addPositionKey(k, (pos.x, pos.y))
    return roto


def _gather(sources, read):
    from samatte.names import safe_name
    return gather.gather_objects(sources, Geometry.from_node(read), FrameMap.from_read(read), [1, 2, 3, 4, 5], rp,
                                 safe_name=safe_name)


def test_a_roto_behind_the_sources_animated_switch_counts_only_where_the_source_shows_its_image(nk, shot):
    """Read A (roto keyed on 1 and 4) and Read B -> Switch ('which' 0 on 1-2, 1 on 3-5) -> Source."""
    a = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    b = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    roto = _roto(nk, a)
    sw = nk.nodes.Switch(which=0)
    sw.setInput(0, a)
    sw.setInput(1, b)
    sw["which"].setValueAt(0, 2)
    sw["which"].setValueAt(1, 3)
    logs = []
    (hero,) = _gather(gather.carry_to_source(gather.prompt_sources(roto), sw, log=logs.append), a)
    # before: prompts on 1001 and 1004, never absent (the box on frame 4, where the Source shows Read B)
    assert [q["frame"] for q in hero["prompts"]] == [1001], hero["prompts"]
    assert hero["absent"] == [1003, 1004, 1005]
    assert any("animated 'which'" in line and a.name() in line for line in logs), logs
    # the other way round: Read B shown on 1-2 only
    sw["which"].setValueAt(1, 2)
    sw["which"].setValueAt(0, 3)
    (hero,) = _gather(gather.carry_to_source(gather.prompt_sources(roto), sw), a)
    assert [q["frame"] for q in hero["prompts"]] == [1004] and hero["absent"] == [1001, 1002]


def _moved(nk, up, tx, ty):
    tr = nk.nodes.Transform()
    tr.setInput(0, up)
    tr["translate"].setValue([tx, ty])
    return tr


def _xy(ob, frame=1001):
    (q,) = [q for q in ob["prompts"] if q["frame"] == frame]
    return [(round(p[0], 3), round(p[1], 3)) for p in q["points"]]


def test_a_transform_between_the_roto_and_the_prompts_input_carries_the_shapes(nk, shot):
    """Read -> Roto -> Transform (10 px right, 6 px up) -> Prompts; Source: the Read. The Prompts input shows the
    box moved (refine only renders it so): its prompts are the moved box; before, the box where drawn."""
    read = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    roto = _roto(nk, read)
    tr = _moved(nk, roto, 10.0, 6.0)
    logs = []
    (plain,) = _gather(gather.carry_to_source(gather.prompt_sources(roto), read), read)
    (hero,) = _gather(gather.carry_to_source(gather.prompt_sources(tr), read, prompts=tr, log=logs.append), read)
    want = [(x + 10.0, y - 6.0) for x, y in _xy(plain)]      # (JobSpec: y down)
    assert _xy(hero) == [pytest.approx(p) for p in want], (_xy(hero), want)
    assert [q["frame"] for q in hero["prompts"]] == [1001, 1004]
    assert any(tr.name() in line and "as the Prompts input shows them" in line for line in logs), logs


def test_the_node_carries_the_prompts_side_transform(nk, shot, tmp_path):
    from samatte_nuke import node as snode
    read = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    roto = _roto(nk, read)
    tr = _moved(nk, roto, 10.0, 6.0)
    g = snode.create()
    g.setInput(0, read)
    g.setInput(1, tr)
    g["tracker"].setValue("shapes")
    g["cache_dir"].setValue(str(tmp_path / "cache"))
    job = snode.on_refresh(g)
    assert job is not None, g["status"].value()
    (hero,) = job["objects"]
    # before: the box where drawn, (2.5, 40.5) first
    assert _xy(hero)[0] == pytest.approx((12.5, 34.5))


def test_one_transform_below_both_inputs_is_applied_once_and_two_different_ones_are_refused(nk, shot):
    from samatte.errors import PromptError
    read = nuke_env.make_read(shot["plate"], 1001, 1005, width=W, height=H, mode="start at", value=1)
    roto = _roto(nk, read)
    tr = _moved(nk, roto, 10.0, 6.0)
    (plain,) = _gather(gather.carry_to_source(gather.prompt_sources(roto), read), read)
    # Read -> Roto -> Transform -> Source and Prompts: moved once, as the Source shows the image
    (hero,) = _gather(gather.carry_to_source(gather.prompt_sources(tr), tr, prompts=tr), read)
    assert _xy(hero) == [pytest.approx((x + 10.0, y - 6.0)) for x, y in _xy(plain)]
    # the Source behind another move than the Prompts input's: which one the artist meant is not known
    other = _moved(nk, read, -4.0, 0.0)
    with pytest.raises(PromptError) as e:
        gather.carry_to_source(gather.prompt_sources(tr), other, prompts=tr)
    assert e.value.code == "PROMPT_INVALID" and tr.name() in str(e.value) and other.name() in str(e.value)
