"""Property-based test (hypothesis) of whole jobs: any tracker/matte option values the registry
accepts, any device, compression, frame subset and stage, run on a tiny real plate, end in success or
a samatte error with a documented code, never another exception. Few examples (each is a real job)."""
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from samatte import jobspec, registry  # noqa: E402
from samatte.errors import ERROR_CODES, SamatteError  # noqa: E402


def option_values(opt):
    if opt.type == "bool":
        s = st.booleans()
    elif opt.type in ("int", "float"):
        lo = opt.min if opt.min is not None else -1000
        hi = opt.max if opt.max is not None else 1000
        hi = min(hi, 4096 if opt.type == "int" else 1000.0)
        if opt.type == "int":
            s = st.integers(int(lo) + (1 if opt.min_open else 0), int(hi))
            if opt.multiple_of:
                s = s.map(lambda v, m=opt.multiple_of: max(m, v - v % m))
        else:
            s = st.floats(lo, hi, exclude_min=opt.min_open, exclude_max=opt.max_open, allow_nan=False)
        s = st.one_of(s, st.sampled_from([v for v in (opt.min, opt.max, opt.default) if v is not None]))
    elif opt.choices:
        s = st.sampled_from(list(opt.choices))
    else:
        s = st.sampled_from([opt.default]) if opt.default is not None else st.none()
    if opt.nullable:
        s = st.one_of(st.none(), s)
    return s


def options_for(schema, skip=()):
    names = sorted(k for k in schema if k not in skip)
    return st.lists(st.sampled_from(names), max_size=4, unique=True).flatmap(
        lambda ks: st.fixed_dictionaries({k: option_values(schema[k]) for k in ks}))


# slow knobs kept in a fast range (a test, not a benchmark); paths are not generated
TRACKER = dict(registry.TRACKER_OPTIONS["flow"])
TRACKER["grabcut_iters"] = TRACKER["grabcut_iters"]._replace(max=4)
MATTE = dict(registry.MATTE_OPTIONS)
MATTE["band"] = MATTE["band"]._replace(max=64.0)


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    from samatte.demo import make_shot
    d = tmp_path_factory.mktemp("prop_pipe")
    return make_shot(str(d), frames=3, size=(64, 64)), d


_n = [0]


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(tracker=st.sampled_from(["flow", "shapes"]),
       topts=options_for(TRACKER, skip=("work_dir",)),
       matte=st.sampled_from(["refine", "none", "auto"]),
       mopts=options_for(MATTE, skip=("checkpoint",)),
       quality=st.sampled_from(registry.MATTE_QUALITIES),
       compression=st.sampled_from(list(registry.COMPRESSIONS) + ["dwaa:45", "zip:1"]),
       device=st.sampled_from(["auto", "cpu", "cuda:3", "mps"]),
       stage=st.sampled_from([None, "all", "track", "matte"]),
       frames=st.sampled_from([None, "1001", "1002-1003", [1003], "999-1001"]))
def test_jobs_with_any_accepted_values_succeed_or_give_a_documented_code(plate, tracker, topts, matte, mopts,
                                                                          quality, compression, device, stage,
                                                                          frames):
    from samatte.runner import drain
    shot, d = plate
    _n[0] += 1
    job = jobspec.new_job(shot["plate"], str(d / ("out%d" % _n[0]) / "m.####.exr"), frames="1001-1003",
                          tracker=tracker, matte=matte, quality=quality, compression=compression, device=device)
    jobspec.add_object(job, "ball", [jobspec.polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    job["tracker"]["options"] = topts if tracker == "flow" else {k: v for k, v in topts.items() if k == "work_size"}
    job["matte"]["options"] = mopts
    sent = []
    try:
        res = drain(job, emit=sent.append, job_id="p", stage=stage, frames=frames)
    except SamatteError as e:
        assert e.code in ERROR_CODES, e
        return
    assert res["status"] == "done"
    assert all(math.isfinite(v) for v in res.get("scores", {}).values() if v is not None)
