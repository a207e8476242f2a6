"""samatte: AI tracking and matting for compositors.

``import samatte`` is fast and imports no heavy module; the pipeline, IO and model stacks are loaded
on first use. The pure-Python parts (``samatte.jobspec``, ``samatte.frames``, ``samatte.errors``,
``samatte.progress``, ``samatte.protocol``, ``samatte.client``) need only the standard library and run
on Python 3.9 inside Nuke and Blender.
"""
__version__ = "0.2.20"

from .errors import SamatteError  # noqa: E402  (stdlib only)

__all__ = ["__version__", "SamatteError", "run", "run_iter"]


def run(job, *, on_progress=None, cancel=None):
    """Run a JobSpec (dict, JSON string or path to a .json file) to completion; return the result dict.

    ``on_progress`` is called with each :class:`samatte.progress.Progress`; ``cancel`` is a
    :class:`samatte.progress.CancelToken`, an event (``threading.Event()``: anything with ``is_set()``) or a
    callable that returns true to stop.
    """
    from .pipeline import run as _run
    return _run(job, on_progress=on_progress, cancel=cancel)


def run_iter(job, *, cancel=None):
    """Generator form of :func:`run`: yields Progress, returns the result dict (StopIteration.value)."""
    from .pipeline import run_iter as _run_iter
    return _run_iter(job, cancel=cancel)
