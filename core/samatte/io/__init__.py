"""Image I/O for samatte: frame sequences, EXR plates, the frame source, masks and the matte writer.

Modules: :mod:`.sequence` (path patterns), :mod:`.exr` (reading plates with OpenImageIO),
:mod:`.source` (FrameSource: lazy, cached, read-ahead), :mod:`.masks` (mask files on the canvas),
:mod:`.writer` (MatteWriter: atomic, resumable EXR output). Importing this package imports numpy
only; OpenImageIO is loaded on first use.
"""
from .sequence import SequencePattern, as_pattern

__all__ = ["SequencePattern", "as_pattern", "FrameSource", "MatteWriter", "read_mask", "MaskSequence",
           "read_info", "read_rgb"]


def __getattr__(name):  # lazy re-exports (PEP 562)
    if name == "FrameSource":
        from .source import FrameSource
        return FrameSource
    if name == "MatteWriter":
        from .writer import MatteWriter
        return MatteWriter
    if name in ("read_mask", "MaskSequence"):
        from . import masks
        return getattr(masks, name)
    if name in ("read_info", "read_rgb"):
        from . import exr
        return getattr(exr, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
