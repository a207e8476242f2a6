"""QA review s34 (the second batch of the day's change: models, Nuke day 8, farm node resources)."""
import os
import shutil
import subprocess
import sys

import pytest


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "nuke"))
import nuke_env  # noqa: E402,F401

from test_qa_nuke_day8 import _comp, _files, _track  # noqa: E402
import test_qa_nuke_day8 as day8  # noqa: E402

nk, shots = day8.nk, day8.shots   # its fixtures

_UNIT = 100   # samatte.cachekey.MTIME_UNIT_NS


def _on_100ns(plate):
    """The plate's files as a Windows / SMB client sees them: mtimes in whole 100 ns."""
    for f in range(1001, 1005):
        p = plate.replace("####", "%04d" % f)
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - st.st_mtime_ns % _UNIT))


def _mount(plate, where, extra_ns=37):
    """The plate's folder under another mount (a farm's path mapping) as a Linux NFS client sees the same
    files: the server's nanoseconds (``extra_ns`` below the 100 ns an SMB client was shown)."""
    shutil.copytree(os.path.dirname(os.path.dirname(plate)), str(where))
    for f in range(1001, 1005):
        p = str(where / "plate" / ("plate.%04d.exr" % f))
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + extra_ns))
    return str(where / "plate" / "plate.####.exr")


def test_a_path_mapped_plate_seen_with_nanosecond_mtimes_reads_back(nk, shots, tmp_path):
    """A macOS / Windows artist (the plate over SMB: mtimes in 100 ns) aligns the node; the farm's Linux node
    reads the same files through its path mapping over NFS (the server's nanoseconds). The cache keys count
    mtimes in whole 100 ns (so the key holds); samatte_plate's stamps counted raw nanoseconds, so every frame
    was refused as "another plate, or its files changed since"."""
    a, _ = shots
    _on_100ns(a["plate"])
    read, roto, g = _comp(nk, a["plate"], a["polygon"])
    _track(g)
    read["file"].setValue(_mount(a["plate"], tmp_path / "mnt" / "shA"))
    assert _files(g) == {1: 1001, 2: 1002, 3: 1003, 4: 1004}


def test_a_rendered_plate_s_path_mapped_read_with_nanosecond_mtimes_reads_back(nk, shots, tmp_path):
    """The same for a plate the node renders (Read -> Grade -> Source): farm.replated said the Read "reads other
    files" on every frame of the farm render."""
    a, _ = shots
    _on_100ns(a["plate"])

    def graded(read):
        grade = nk.nodes.Grade()
        grade.setInput(0, read)
        return grade
    read, roto, g = _comp(nk, a["plate"], a["polygon"], source=graded)
    _track(g)
    read["file"].setValue(_mount(a["plate"], tmp_path / "mnt" / "shA"))
    assert _files(g) == {1: 1, 2: 2, 3: 3, 4: 4}



# -- memory: torch's own out-of-memory is OUT_OF_MEMORY too --------------------------------------------------

_CKPT_RLIMIT = r"""
import resource, sys
import torch
from samatte import models
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(4))
vm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")][0] * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (64 << 20), resource.RLIM_INFINITY))   # a task's ulimit -v
try:
    models.load_state_dict(M(), sys.argv[1], strict=False)
    print("RESULT ok")
except Exception as e:
    print("RESULT", getattr(e, "code", type(e).__name__), str(e)[:200])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_a_good_checkpoint_loaded_under_a_memory_limit_is_out_of_memory_not_weights_corrupt(tmp_path):
    """A farm task under ``ulimit -v`` (or a node whose other tasks took the RAM) loads a whole SAM 2 checkpoint:
    torch's CPU allocator raises a RuntimeError ("DefaultCPUAllocator: can't allocate memory"), which
    load_state_dict took for a damaged file: WEIGHTS_CORRUPT, exit 6, "delete it and install it again" (a good
    900 MB download deleted by whoever follows it). Now OUT_OF_MEMORY (exit 10)."""
    torch = pytest.importorskip("torch")
    ck = str(tmp_path / "sam2.1_hiera_tiny.pt")
    torch.save({"model": {"w": torch.zeros(40 << 20)}}, ck)      # a 160 MB tensor in a whole checkpoint
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", _CKPT_RLIMIT, ck], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert "RESULT OUT_OF_MEMORY" in p.stdout, (p.stdout[-1000:], p.stderr[-1000:])   # before: WEIGHTS_CORRUPT


def test_torch_running_out_of_host_memory_is_out_of_memory_not_a_bug():
    """torch raises no OutOfMemoryError when its CPU allocator fails (SAM 2 on a CPU farm node): a plain
    RuntimeError, so the CLI said SAMATTE_ERROR, exit 1, "a bug: please report it" with a traceback. A
    RuntimeError that is not about memory stays what it was."""
    torch = pytest.importorskip("torch")
    from samatte import errors, protocol, runner
    try:
        torch.empty(1 << 60, dtype=torch.uint8)     # the allocator's real failure
    except RuntimeError as e:
        err = e
    assert errors.known_failure(err).code == "OUT_OF_MEMORY"
    assert runner.exit_code_for(err) == 10
    assert protocol.error_from_exception("j", err)["code"] == "OUT_OF_MEMORY"
    assert errors.known_failure(RuntimeError("Expected all tensors to be on the same device")).__class__ \
        is RuntimeError


def test_sam2_build_running_out_of_memory_is_not_model_error(monkeypatch):
    """build_predictor turned every failure of sam2's build (which allocates the model's parameters) into
    MODEL_ERROR "cannot build SAM2 model"; memory running out there is OUT_OF_MEMORY."""
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    from samatte import errors
    from samatte.track import sam2_backend

    def build(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 12582912 bytes. Error code 12 (Cannot allocate memory)")
    monkeypatch.setattr("sam2.build_sam.build_sam2_video_predictor", build)
    with pytest.raises(errors.OutOfMemoryError) as ei:
        sam2_backend.build_predictor("tiny", random_init=True)
    assert ei.value.details["model"] == "sam2.1_hiera_tiny"


# -- a model alias in a JobSpec ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alias", ["tiny", "t", "TINY", "sam2.1_hiera_tiny.pt"])
def test_a_model_alias_resolves_to_the_model_it_names(alias, tmp_path, monkeypatch):
    """tracker.model may be an alias since de53ce9 documented them ("tiny", ...). The resolved backends (what
    the frames' keys and metadata count) kept the alias as the model and looked its checksum up by the
    alias (none), so a job naming "tiny" keyed its frames apart from the same job naming sam2.1_hiera_tiny,
    by the weights file's size + mtime (a re-install recomputed every frame), and its EXRs named "tiny"."""
    from samatte import jobspec, models, pipeline
    monkeypatch.setenv("SAMATTE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    job = jobspec.new_job(str(tmp_path / "p.####.exr"), str(tmp_path / "o" / "m.####.exr"), frames="1-2")
    job["objects"] = [{"name": "hero", "prompts": [jobspec.box_prompt(1, [1, 1, 8, 8])]}]
    job["tracker"] = {"backend": "sam2", "model": "sam2.1_hiera_tiny"}
    full = pipeline.resolve_backends(jobspec.validate(job))
    job["tracker"]["model"] = alias
    got = pipeline.resolve_backends(jobspec.validate(job))
    assert got == full
    assert got["model"] == "sam2.1_hiera_tiny" and got["model_sha256"] == models.MODELS["sam2.1_hiera_tiny"].sha256


# -- SAM 2's Hydra in a TD's process ------------------------------------------------------------------------

def test_building_sam2_leaves_a_pipeline_s_hydra_version_base_as_it_was(tmp_path):
    """A TD's pipeline initialised Hydra for 1.1-style configs (no version_base: Hydra 1.1's behaviour).
    samatte set GlobalHydra aside and back around SAM 2's build, but sam2's initialize_config_module(...,
    version_base="1.2") also set Hydra's process-wide version base, which nothing put back: the pipeline's next
    compose ran with 1.2 rules (compose(..., strict=False) raised TypeError "got an unexpected 'strict'
    argument"; 1.1 defaults lists with `optional:` keys and job.chdir changed meaning)."""
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    pytest.importorskip("hydra")
    import warnings

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.version import VersionBase

    from samatte.track.sam2_backend import build_predictor
    gh = GlobalHydra.instance()
    host, base = gh.hydra, VersionBase.instance().getbase()
    gh.clear()
    conf = tmp_path / "td_conf"
    conf.mkdir()
    (conf / "shot.yaml").write_text("shot: sh010\nfps: 24\n")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            initialize_config_dir(config_dir=str(conf))   # no version_base: Hydra 1.1 compatibility
            theirs = VersionBase.instance().getbase()
            assert compose("shot", strict=False)["fps"] == 24
            build_predictor("tiny", random_init=True, image_size=256)
            assert VersionBase.instance().getbase() == theirs
            assert compose("shot", strict=False)["fps"] == 24      # before: TypeError
            build_predictor("tiny", random_init=True, image_size=256)   # sam2 already imported: the same
            assert VersionBase.instance().getbase() == theirs
    finally:
        gh.clear()
        if host is not None:
            gh.initialize(host)
        VersionBase.instance().setbase(base)


def test_sam2_builds_twice_in_a_fresh_process_and_leaves_hydra_as_it_found_it():
    """No Hydra in the process before (a worker, the CLI): the version base is "unspecified" there and stays so."""
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    code = ("from hydra.core.global_hydra import GlobalHydra\n"
            "from hydra.version import VersionBase, _UNSPECIFIED_\n"
            "from samatte.track.sam2_backend import build_predictor\n"
            "for _ in range(2):\n"
            "    build_predictor('tiny', random_init=True, image_size=256)\n"
            "    assert VersionBase.instance().getbase() is _UNSPECIFIED_\n"
            "    assert not GlobalHydra.instance().is_initialized()\n"
            "print('RESULT ok')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert "RESULT ok" in p.stdout, p.stderr[-2000:]
