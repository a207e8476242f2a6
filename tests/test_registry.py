"""samatte.registry: one list of names, option schemas that match what the backends read."""
import math

import pytest

from samatte import jobspec, registry
from samatte.errors import JobSpecError
from samatte.registry import validate_options


def test_option_names_match_the_flow_tracker():
    from samatte.track import flow
    schema = registry.TRACKER_OPTIONS["flow"]
    assert set(schema) == set(flow.DEFAULTS)
    for name, default in flow.DEFAULTS.items():
        assert schema[name].default == default, name


def test_option_names_match_the_sam2_tracker():
    from samatte.track import sam2_backend
    schema = registry.TRACKER_OPTIONS["sam2"]
    # image_size is read by the constructor, work_dir is every tracker's (the pipeline sets it)
    assert set(schema) == set(sam2_backend.DEFAULT_OPTIONS) | {"image_size", "work_dir"}
    for name, default in sam2_backend.DEFAULT_OPTIONS.items():
        assert schema[name].default == default, name


def test_option_names_match_the_shape_tracker():
    from samatte.track.shapes import ShapeTracker
    assert set(registry.TRACKER_OPTIONS["shapes"]) == {"work_size", "work_dir"}
    assert ShapeTracker(options={"work_size": 320}).work_size == 320


def test_option_names_match_the_matte_stage():
    # Strict on purpose: when the matte stage adds, renames or drops an option (or changes a default),
    # registry.MATTE_OPTIONS must follow in the same change.
    from samatte.matte import stage
    schema = registry.MATTE_OPTIONS
    assert set(schema) == set(stage.OPTIONS)
    for name, default in stage.OPTIONS.items():
        assert schema[name].default == default, name
    for name, opt in schema.items():
        if opt.choices:
            assert opt.default in opt.choices


def test_one_list_of_names_everywhere():
    from samatte.io import writer
    from samatte import matte, track
    assert tuple(writer.COMPRESSIONS) == registry.COMPRESSIONS
    assert jobspec.COMPRESSIONS == registry.COMPRESSIONS
    assert jobspec.TRACKER_BACKENDS == registry.TRACKER_BACKENDS == tuple(track.BACKENDS)
    assert set(matte.BACKENDS) == set(registry.MATTE_BACKENDS) == set(jobspec.MATTE_BACKENDS)
    assert jobspec.MATTE_QUALITIES == registry.MATTE_QUALITIES
    from samatte.matte.refine import QUALITIES
    assert set(QUALITIES) == set(registry.MATTE_QUALITIES)
    assert jobspec.DEVICES == registry.DEVICES


def test_defaults_validate():
    for b in registry.TRACKER_OPTIONS:
        d = {k: v for k, v in registry.option_defaults("tracker", b).items()}
        assert validate_options("tracker", b, d) == d
    d = registry.option_defaults("matte", "refine")
    assert validate_options("matte", "refine", d) == d


@pytest.mark.parametrize("kind,backend,opts,field", [
    ("tracker", "flow", {"work_size": "big"}, "work_size"),
    ("tracker", "flow", {"work_size": 0}, "work_size"),
    ("tracker", "flow", {"work_size": -1}, "work_size"),
    ("tracker", "flow", {"work_size": True}, "work_size"),
    ("tracker", "flow", {"work_size": 640.5}, "work_size"),
    ("tracker", "flow", {"band": -5}, "band"),
    ("tracker", "flow", {"band": 0}, "band"),
    ("tracker", "flow", {"band": float("nan")}, "band"),
    ("tracker", "flow", {"band": "nan"}, "band"),
    ("tracker", "flow", {"logit_clip": float("inf")}, "logit_clip"),
    ("tracker", "flow", {"fb_check": 1}, "fb_check"),
    ("tracker", "flow", {"flow_preset": "slow"}, "flow_preset"),
    ("tracker", "flow", {"no_such": 1}, "no_such"),
    ("tracker", "flow", {"max_cond_frames": 3}, "max_cond_frames"),   # a sam2 option, flow asked for
    ("tracker", "auto", {"no_such": 1}, "no_such"),
    ("tracker", "auto", {"work_size": 10 ** 400}, "work_size"),
    ("tracker", "sam2", {"max_cond_frames": 1}, "max_cond_frames"),
    ("tracker", "sam2", {"image_size": 100}, "image_size"),
    ("tracker", "shapes", {"work_size": [640]}, "work_size"),
    ("matte", "refine", {"band": -5}, "band"),
    ("matte", "refine", {"band": 0}, "band"),
    ("matte", "refine", {"tau": "nan"}, "tau"),
    ("matte", "refine", {"prior": "nan"}, "prior"),
    ("matte", "refine", {"prior": 1e400}, "prior"),
    ("matte", "refine", {"blend": 1.0}, "blend"),
    ("matte", "refine", {"masks": "soft"}, "masks"),
    ("matte", "refine", {"checkpoint": ""}, "checkpoint"),
    ("matte", "auto", {"no_such_option": 1}, "no_such_option"),
    ("matte", "refine", {"see_through": 10 ** 400}, "see_through"),
])
def test_bad_options_are_refused_with_the_field(kind, backend, opts, field):
    with pytest.raises(JobSpecError) as ei:
        validate_options(kind, backend, opts)
    assert ei.value.code == "JOBSPEC_INVALID"
    assert ei.value.details["field"] == "%s.options.%s" % (kind, field)


def test_auto_tracker_takes_flow_and_sam2_options():
    out = validate_options("tracker", "auto", {"work_size": 512.0, "max_cond_frames": -1, "band": 0.05})
    assert out == {"work_size": 512, "max_cond_frames": -1, "band": 0.05}
    assert isinstance(out["work_size"], int) and isinstance(out["band"], float)


def test_non_dict_options_and_unknown_backends():
    with pytest.raises(JobSpecError):
        validate_options("tracker", "flow", [1, 2])
    with pytest.raises(JobSpecError):
        validate_options("tracker", "nope", {})
    with pytest.raises(JobSpecError):
        validate_options("matte", "nope", {})
    assert validate_options("matte", "none", None) == {}


@pytest.mark.parametrize("dev", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_devices_ok(dev):
    assert registry.validate_device(dev) == dev


@pytest.mark.parametrize("dev", ["cuda:abc", "cuda:", "cuda:-1", "gpu", "", "CPU", "mps:0", 0, None, True,
                                 "cuda:0 ", "cpu\x00"])
def test_devices_refused(dev):
    with pytest.raises(JobSpecError) as ei:
        registry.validate_device(dev)
    assert ei.value.code == "JOBSPEC_INVALID"


@pytest.mark.parametrize("comp,ok", [("zip", True), ("dwaa:45", True), ("zip:9", True), ("zip:10", False),
                                     ("piz:3", False), ("dwab:x", False), ("lzw", False), (3, False),
                                     ("b44a", True), ("dwaa:", False)])
def test_compressions(comp, ok):
    if ok:
        assert registry.validate_compression(comp) == comp
    else:
        with pytest.raises(JobSpecError):
            registry.validate_compression(comp)


def test_describe_is_json():
    import json
    d = json.loads(json.dumps(registry.describe(), allow_nan=False))
    assert d["tracker_options"]["flow"]["work_size"]["default"] == 640
    assert d["matte_options"]["band"]["nullable"] is True
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in d["tracker_options"]["flow"])
