"""samatte.names.safe_name: host names -> valid, non-reserved, unique layer names."""
import pytest

from samatte import jobspec
from samatte.names import RESERVED, is_safe_name, safe_name


@pytest.mark.parametrize("host,expected", [
    ("hero", "hero"),
    ("my roto", "my_roto"),
    ("  my   roto  ", "my_roto"),
    ("MaskLayer.001", "MaskLayer_001"),
    ("a.b.A", "a_b_A"),
    ("Café", "Cafe"),
    ("人物", "u4eba_u7269"),
    ("", "object"),
    (None, "object"),
    ("...", "object"),
    ("001", "_001"),
    ("_private", "_private"),
    ("Alpha", "Alpha_layer"),
    ("alpha", "alpha_layer"),
    ("Combined", "Combined_layer"),
    ("DEPTH", "DEPTH_layer"),
    ("Image", "Image_layer"),
    ("A", "A_layer"),
    ("rgba", "rgba_layer"),
    ("x" * 100, "x" * 64),
    ("hero-left (v2)", "hero_left_v2"),
])
def test_mapping(host, expected):
    assert safe_name(host) == expected
    assert is_safe_name(safe_name(host))


def test_unique_against_taken():
    assert safe_name("hero", taken=["hero"]) == "hero_2"
    assert safe_name("hero", taken=["HERO", "hero_2"]) == "hero_3"
    assert safe_name("MaskLayer.001", taken=["MaskLayer_001"]) == "MaskLayer_001_2"
    long = "y" * 80
    n = safe_name(long, taken=["y" * 64])
    assert n == "y" * 62 + "_2" and len(n) == 64


def test_a_host_layer_list_maps_to_distinct_valid_names():
    host = ["Mask", "Mask.001", "Mask 001", "mask_001", "Alpha", "", "", "人", "人", "Layer.Image.A"]
    taken = []
    for h in host:
        taken.append(safe_name(h, taken=taken))
    assert len({t.lower() for t in taken}) == len(taken)
    assert all(is_safe_name(t) for t in taken)


def test_deterministic_and_accepted_by_the_jobspec():
    for h in ["my roto", "MaskLayer.001", "é", "Alpha", "1"]:
        assert safe_name(h) == safe_name(h)
    names = []
    for h in ["my roto", "MaskLayer.001", "人", "Alpha", "1", "depth"]:
        names.append(safe_name(h, taken=names))
    job = jobspec.new_job("/p/plate.####.exr", "/o/m.####.exr")
    for n in names:
        jobspec.add_object(job, n, [jobspec.box_prompt(1, [0, 0, 10, 10])])
    assert [o["name"] for o in jobspec.validate(job)["objects"]] == names


def test_reserved_covers_jobspec_and_blender():
    for n in jobspec._RESERVED_NAMES:
        assert n.lower() in RESERVED
    for n in ("alpha", "combined", "depth", "image"):
        assert n in RESERVED
