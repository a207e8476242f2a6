"""The matting stage: turns a track (per-object binary masks + logits) into soft alpha mattes.

``get_matter(backend)`` builds a :class:`samatte.stages.Matter` (one per job). Backends:

- ``"refine"`` (weights-free default): per object, single-frame refinement
  (:func:`samatte.matte.refine.refine_alpha`) of the tracker's mask and logits, then temporal
  stability (:mod:`samatte.matte.temporal`), foreground un-mixing (:mod:`samatte.matte.foreground`)
  and a ground-truth-free quality map (:mod:`samatte.matte.quality`).
- ``"none"``: alpha = the tracker's binary mask (used by ``samatte track``).
- ``"sam2matte"``: learned-head slot (sigmoid of SAM2-Matte logits), needs ``sam2matte.pt``.
- ``"matanyone"``: slot, not available in this build (raises a clear error).
- ``"auto"``: ``"sam2matte"`` when its weights are found, else ``"refine"``.

Submodules import numpy/cv2 at top level; heavy packages (torch, pymatting) are imported lazily.
"""

from ..registry import MATTE_BACKENDS as BACKENDS

__all__ = ["get_matter", "BACKENDS"]


def get_matter(backend="auto", *, quality="default", options=None, device="auto", foreground=True,
               quality_map=True):
    """Build a Matter for one job. See :func:`samatte.matte.stage.get_matter`. ``options`` are checked
    against :data:`samatte.registry.MATTE_OPTIONS` first (JobSpecError for unknown names, wrong types,
    out-of-range or non-finite values)."""
    from ..registry import validate_device, validate_options
    options = validate_options("matte", backend, options)
    device = validate_device(device)
    from .stage import get_matter as _get_matter
    return _get_matter(backend, quality=quality, options=options, device=device,
                       foreground=foreground, quality_map=quality_map)
