"""How many CPU threads a samatte process uses: one knob for every library it runs.

A farm node runs several samatte tasks at once, each pinned to some cores (Deadline's concurrent tasks
with CPU affinity, ``taskset``, a cgroup cpuset or a CPU quota such as ``docker --cpus``), and a TD sets
``OMP_NUM_THREADS``. The libraries samatte uses each decide on their own: OpenBLAS (numpy's, and
SciPy's own copy) and PyTorch follow ``OMP_NUM_THREADS``, OpenCV follows the affinity but not
``OMP_NUM_THREADS``, OpenImageIO (and the OpenEXR pool it drives) takes every core of the machine
whatever the affinity, numba (PyMatting) the affinity; none of them sees a CPU quota. So eight tasks on
a 64-core node could start hundreds of threads.

``budget()`` is the one rule: ``--threads N`` (the CLI, the worker), else ``$SAMATTE_THREADS``, else
``$OMP_NUM_THREADS``, else the CPUs the process may run on (its affinity, capped by a cgroup CPU quota).
``configure(n)`` applies it to every library: environment variables for those not yet loaded (read when
they load) and their own calls for those already loaded. The CLI and the worker call it once at start;
a script that runs ``samatte.pipeline`` in its own process may call it too. It is not part of a job or its
cache keys: the flow tracker and the refine matte are byte-identical at any thread count; SAM 2 on the CPU
(torch) is not bit-exact across counts, as it is not across machines.

Standard library only (imported by the CLI before anything heavy loads).
"""
import math
import os
import sys

from .errors import JobSpecError

#: Environment variables set to the budget (each read by a library when it loads).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "NUMBA_NUM_THREADS", "OPENCV_FOR_THREADS_NUM", "VECLIB_MAXIMUM_THREADS")

#: The most threads a count may ask for: every library starts a pool of that many (OpenCV's at once), so a
#: typo such as ``--threads 99999`` spent minutes starting threads on a 2-CPU machine, printed one OpenCV
#: error per thread it could not start, then failed as DEPENDENCY_MISSING (an import out of memory).
MAX_THREADS = 1024

_configured = None


def parse_threads(value, *, field="--threads"):
    """A thread count from a flag or the environment: a whole number from 1 to :data:`MAX_THREADS`, or
    ``auto`` / ``0`` (None: the default). Anything else is JOBSPEC_INVALID naming ``field``."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "auto", "0"):
        return None
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 1:
        raise JobSpecError("%s must be a whole number of threads >= 1, or auto, not %r" % (field, value),
                           field=field)
    if n > MAX_THREADS:
        raise JobSpecError("%s asks for %d threads: at most %d (auto or 0: the CPUs the process may use)"
                           % (field, n, MAX_THREADS), field=field)
    return n


def _omp_threads(environ):
    """OMP_NUM_THREADS's first level (``4`` or ``4,2``; at most :data:`MAX_THREADS`), or None when unset or
    not a number."""
    raw = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(raw)
    except ValueError:
        return None
    return min(n, MAX_THREADS) if n >= 1 else None


def _read_quota(quota_file, period_file=None):
    """CPUs of one cgroup quota file (v2 ``cpu.max``: "QUOTA PERIOD" or "max PERIOD"; v1: the quota and
    period files), rounded up; None when unlimited or unreadable."""
    try:
        with open(quota_file) as f:
            fields = f.read().split()
        if period_file:
            with open(period_file) as f:
                fields = fields[:1] + f.read().split()[:1]
        quota, period = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None          # "max", -1 or no such file: no quota
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def _cgroup_quota(root="/sys/fs/cgroup", proc="/proc/self/cgroup"):
    """CPUs allowed by the process's cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``; the
    process's own cgroup, else the root one a container sees), rounded up, or None (no quota, not
    Linux)."""
    try:
        with open(proc) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    tries = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, ctrl, path = parts
        path = path.rstrip("/")
        if hid == "0" and ctrl == "":
            tries += [(root + path + "/cpu.max", None), (root + "/cpu.max", None)]
        elif "cpu" in ctrl.split(","):
            for base in (root + "/" + ctrl, root + "/cpu"):
                tries += [(base + path + "/cpu.cfs_quota_us", base + path + "/cpu.cfs_period_us"),
                          (base + "/cpu.cfs_quota_us", base + "/cpu.cfs_period_us")]
    found = [n for n in (_read_quota(q, p) for q, p in tries) if n]
    return min(found) if found else None


def available_cpus():
    """The CPUs this process may run on: its affinity (``taskset``, a cpuset), capped by a cgroup CPU
    quota; ``os.cpu_count()`` where there is no affinity call."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(n, quota) if quota else n)


def budget(threads=None, environ=None):
    """(threads, source): ``threads`` (a flag's value) when given, else ``$SAMATTE_THREADS``, else
    ``$OMP_NUM_THREADS``, else ``available_cpus()``; source is ``"--threads"``, ``"SAMATTE_THREADS"``,
    ``"OMP_NUM_THREADS"`` or ``"cpus"``."""
    environ = os.environ if environ is None else environ
    n = parse_threads(threads)
    if n is not None:
        return n, "--threads"
    n = parse_threads(environ.get("SAMATTE_THREADS"), field="SAMATTE_THREADS")
    if n is not None:
        return n, "SAMATTE_THREADS"
    n = _omp_threads(environ)
    if n is not None:
        return n, "OMP_NUM_THREADS"
    return available_cpus(), "cpus"


def _openblas_libs():
    """Paths of the OpenBLAS libraries loaded in this process (numpy's and SciPy's own)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if os.path.isfile(p))


def _apply_loaded(n):
    """Set ``n`` threads in the libraries already imported (best effort: a library's own failure to
    take it leaves that library as it was)."""
    mods = sys.modules
    if "cv2" in mods:
        try:
            mods["cv2"].setNumThreads(n)
        except Exception:  # noqa: BLE001 - best effort
            pass
    if "OpenImageIO" in mods:
        try:
            mods["OpenImageIO"].attribute("threads", n)
            mods["OpenImageIO"].attribute("exr_threads", n)
        except Exception:  # noqa: BLE001
            pass
    if "torch" in mods:
        torch = mods["torch"]
        try:
            torch.set_num_threads(n)
        except Exception:  # noqa: BLE001
            pass
    if "numba" in mods:
        try:
            numba = mods["numba"]
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        except Exception:  # noqa: BLE001
            pass
    if "numpy" in mods or "scipy" in mods:
        import ctypes
        for path in _openblas_libs():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for sym in ("openblas_set_num_threads", "openblas_set_num_threads64_",
                        "scipy_openblas_set_num_threads", "scipy_openblas_set_num_threads64_"):
                fn = getattr(lib, sym, None)
                if fn is not None:
                    fn.argtypes = [ctypes.c_int]
                    fn.restype = None
                    fn(n)
                    break


def configure(threads=None, environ=None):
    """Use ``budget(threads)`` threads in every library samatte runs, in this process and the processes
    it starts; returns the count. Idempotent."""
    global _configured
    environ = os.environ if environ is None else environ
    n, source = budget(threads, environ)
    for name in THREAD_ENV:
        environ[name] = str(n)
    environ["SAMATTE_THREADS"] = str(n)
    opts = "threads=%d,exr_threads=%d" % (n, n)
    prior = [o for o in environ.get("OPENIMAGEIO_OPTIONS", "").split(",")
             if o.strip() and o.split("=")[0].strip() not in ("threads", "exr_threads")]
    environ["OPENIMAGEIO_OPTIONS"] = ",".join(prior + [opts])
    _apply_loaded(n)
    _configured = (n, source)
    return n


def configured():
    """The count ``configure`` last applied, or None."""
    return _configured[0] if _configured else None


def describe():
    """``{"threads", "source", "cpus"}``: the count in use (``configure``'s, else the budget) and where it
    came from, and ``available_cpus()`` (``samatte info``)."""
    n, source = _configured or budget()
    return {"threads": n, "source": source, "cpus": available_cpus()}
