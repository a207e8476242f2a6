"""Property-based tests (hypothesis): JobSpecs with wrong types, huge and non-finite numbers, deep
nesting, odd strings and paths. The only outcomes allowed: a valid job (and validating it again gives
the same job), or a samatte error whose code is documented (samatte.errors.ERROR_CODES)."""
import copy
import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from samatte import jobspec, registry  # noqa: E402
from samatte.errors import ERROR_CODES, SamatteError  # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

ODD_STRINGS = ["", " ", "nan", "NaN", "inf", "-inf", "1e999", "\x00", "a\x00b", "\udcff", "\ud800x", "..",
               "../../etc/passwd", "/", "C:\\plates\\p.####.exr", "####", "%04d", "$F4", "@", "#" * 300,
               "p.%d.exr", "p.$F.exr", "p.#.exr", "x" * 300, "MaskLayer.001", "\u202e\u0645", "\U0001F600",
               "cuda:abc", "cuda:", "cuda:-1", "cuda:0", "auto", "flow", "sam2", "refine", "zip", "dwaa:45",
               "1001-1010", "1010-1001", "1-100000000", "1001-1010x0", "-5--1", "1,2,,3"]


def deep(n, leaf=0):
    v = leaf
    for _ in range(n):
        v = [v]
    return v


leaves = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([float("nan"), float("inf"), -0.0, 1e308]),
    st.text(max_size=40), st.sampled_from(ODD_STRINGS),
)
json_values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
values = st.one_of(json_values, st.integers(min_value=50, max_value=3000).map(deep),
                   st.sampled_from([deep(100000), {"a": deep(5000)}]))

PATHS = [
    ("name",), ("samatte_job",), ("plate",), ("plate", "path"), ("plate", "frames"), ("plate", "colourspace"),
    ("plate", "layer"), ("plate", "on_nonfinite"), ("plate", "ocio_config"), ("objects",), ("objects", 0),
    ("objects", 0, "name"), ("objects", 0, "prompts"), ("objects", 0, "prompts", 0),
    ("objects", 0, "prompts", 0, "points"), ("objects", 0, "prompts", 0, "frame"),
    ("objects", 0, "prompts", 0, "feather"), ("objects", 0, "prompts", 0, "mode"),
    ("objects", 0, "prompts", 0, "closed"), ("objects", 0, "prompts", 0, "type"), ("objects", 0, "masks"),
    ("objects", 0, "colour"), ("objects", 0, "host_name"), ("objects", 0, "meta"), ("tracker",),
    ("tracker", "backend"), ("tracker", "model"), ("tracker", "options"), ("matte",), ("matte", "backend"),
    ("matte", "quality"), ("matte", "options"), ("output",), ("output", "path"), ("output", "compression"),
    ("output", "overwrite"), ("output", "foreground"), ("device",), ("work_dir",), ("meta",), ("extra_field",),
] + [("tracker", "options", k) for k in sorted({k for o in registry.TRACKER_OPTIONS.values() for k in o})] \
  + [("matte", "options", k) for k in sorted(registry.MATTE_OPTIONS)] + [("tracker", "options", "no_such")]


def base_job():
    job = jobspec.new_job("/plates/sh010/plate.####.exr", "/out/sh010/matte.####.exr", frames="1001-1010",
                          tracker="flow", matte="refine")
    jobspec.add_object(job, "hero", [jobspec.polygon_prompt(1005, [[10, 10], [100, 12], [50, 80]])])
    jobspec.add_object(job, "car", masks="/roto/car.####.png")
    return job


def put(doc, path, value):
    d = doc
    for k in path[:-1]:
        if isinstance(d, dict):
            d = d.setdefault(k, {})
        elif isinstance(d, list) and isinstance(k, int) and k < len(d):
            d = d[k]
        else:
            return doc
    k = path[-1]
    if isinstance(d, dict):
        d[k] = value
    elif isinstance(d, list) and isinstance(k, int) and k < len(d):
        d[k] = value
    return doc


def check_outcome(doc):
    try:
        job = jobspec.validate(doc)
    except SamatteError as e:
        assert e.code in ERROR_CODES, e.code
        assert isinstance(e.message, str) and e.message
        json.dumps(e.to_dict(), default=str)  # travels through the worker
        return "error"
    # a valid job validates to itself
    again = jobspec.validate(copy.deepcopy(job))
    assert json.dumps(again, sort_keys=True, default=repr) == json.dumps(job, sort_keys=True, default=repr)
    for kind in ("tracker", "matte"):
        for v in job[kind]["options"].values():
            assert not (isinstance(v, float) and not math.isfinite(v))
    return "ok"


@settings(max_examples=400, **SETTINGS)
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3))
def test_mutated_jobspecs_validate_or_give_a_documented_code(mutations):
    doc = base_job()
    for path, value in mutations:
        put(doc, path, value)
    check_outcome(doc)


@settings(max_examples=150, **SETTINGS)
@given(values)
def test_any_json_value_as_a_jobspec(value):
    check_outcome(value)


@settings(max_examples=150, **SETTINGS)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_as_jobspec_json(text):
    try:
        jobspec.loads(text)
    except SamatteError as e:
        assert e.code in ERROR_CODES


@settings(max_examples=300, **SETTINGS)
@given(st.sampled_from(["tracker", "matte"]),
       st.sampled_from(list(registry.TRACKER_BACKENDS) + list(registry.MATTE_BACKENDS) + ["nope"]),
       st.dictionaries(st.sampled_from(sorted({k for o in registry.TRACKER_OPTIONS.values() for k in o}
                                               | set(registry.MATTE_OPTIONS) | {"bogus"})), values, max_size=4))
def test_options_are_valid_or_refused(kind, backend, options):
    try:
        out = registry.validate_options(kind, backend, options)
    except SamatteError as e:
        assert e.code == "JOBSPEC_INVALID"
        return
    # what passes is inside the schema: finite, in range, right type
    schema = registry.option_defaults(kind, backend)
    assert set(out) <= set(schema)
    for v in out.values():
        assert v is None or isinstance(v, (bool, int, float, str))
        assert not (isinstance(v, float) and not math.isfinite(v))
