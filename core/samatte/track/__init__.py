"""Tracking backends: turn prompts on keyframes into a mask per object on every frame.

* ``"sam2"``: :class:`samatte.track.sam2_backend.Sam2Tracker` (needs torch, sam2 and weights).
* ``"flow"``: :class:`samatte.track.flow.FlowTracker`, weights-free optical flow + colour models +
  grabCut; the default when no SAM2 weights are installed.
* ``"shapes"``: :class:`samatte.track.shapes.ShapeTracker`, each frame takes the nearest keyframe's
  shape (no motion).
* ``"auto"``: ``"sam2"`` when :func:`samatte.models.find_weights` finds the model's weights (and the
  SAM2 stack imports), else ``"flow"``.

Backends are imported lazily: ``import samatte.track`` loads nothing heavy.
"""
import logging

from ..errors import DependencyError, JobSpecError
from ..registry import TRACKER_BACKENDS as BACKENDS
from ..registry import validate_device, validate_options

__all__ = ["get_tracker", "BACKENDS"]

log = logging.getLogger("samatte.track")


def _sam2(model, options, device):
    try:
        from .sam2_backend import Sam2Tracker
    except ImportError as e:
        raise DependencyError("the SAM2 tracker is not available (%s); install samatte with its SAM2 "
                              "extras, or use tracker backend 'flow'" % e, package="sam2") from e
    return Sam2Tracker(model, device=device, options=options)


def backend_options(backend, options, names):
    """The keys of ``options`` (a JobSpec's ``tracker.options``, a dict or None) that a weights-free
    ``backend`` knows (``names``), checked against :data:`samatte.registry.TRACKER_OPTIONS`
    (JobSpecError JOBSPEC_INVALID); keys of other backends are ignored ("auto" options)."""
    if options is not None and not isinstance(options, dict):
        raise JobSpecError("tracker options must be an object, not %s" % type(options).__name__,
                           field="tracker.options")
    return validate_options("tracker", backend, {k: v for k, v in (options or {}).items() if k in names})


def _have_weights(model):
    try:
        from ..models import find_weights
    except ImportError:
        return False
    try:
        return find_weights(model) is not None
    except Exception as e:  # a broken models dir must not stop the weights-free path
        log.warning("could not look up weights for %s: %s", model, e)
        return False


def get_tracker(backend="auto", *, model="sam2.1_hiera_tiny", options=None, device="auto"):
    """A :class:`samatte.stages.Tracker` for ``backend`` (one of :data:`BACKENDS`).

    ``options``: the JobSpec's ``tracker.options``, checked against :data:`samatte.registry.TRACKER_OPTIONS`
    (for "auto": the options of flow and sam2). Raises :class:`JobSpecError` for an unknown backend,
    option or a bad option value, and
    :class:`DependencyError` when ``"sam2"`` is asked for and its packages are missing; ``"auto"``
    falls back to ``"flow"`` (with a warning in the log) when SAM2 cannot be used.
    """
    if backend not in BACKENDS:
        raise JobSpecError("unknown tracker backend %r (one of %s)" % (backend, ", ".join(BACKENDS)),
                           field="tracker.backend")
    options = validate_options("tracker", backend, options)
    device = validate_device(device)
    if backend == "auto":
        if _have_weights(model):
            try:
                return _sam2(model, options, device)
            except DependencyError as e:
                log.warning("SAM2 weights found but SAM2 cannot run (%s); using the flow tracker", e)
        backend = "flow"
    if backend == "sam2":
        return _sam2(model, options, device)
    if backend == "flow":
        from .flow import FlowTracker
        return FlowTracker(options=options)
    from .shapes import ShapeTracker
    return ShapeTracker(options=options)
