"""Scene-linear plate pixels -> display-referred RGB in [0, 1] for the models, with OpenColorIO.

The models are trained on sRGB photos, so they should see the plate roughly as a photo: the artist's
own OCIO config turns the plate's colourspace into an sRGB display image.

Choices (all visible in :meth:`ColourTransform.describe`):

* **config**: the ``config`` argument (a path, an ``ocio://`` URI such as ``ocio://default`` or
  ``ocio://cg-config-latest``, or a ``PyOpenColorIO.Config``), else ``$OCIO``, else OCIO's built-in
  ``ocio://default`` (the ACES CG config).
* **colourspace** of the plate: the ``colourspace`` argument (a name, alias or role), else what a
  float OpenEXR's header (``header``) names and the config resolves (:func:`resolve_header`), else the
  config's ``scene_linear`` role (ACEScg in the built-in config).
* **display**: the first display whose name starts with / contains "sRGB", else the config's default
  display. **view**: on that display, an un-tone-mapped view when there is one ("Un-tone-mapped" in
  the ACES configs, "Standard" in Blender's, "sRGB" in nuke-default), never "Raw"/"Log"; else the
  display's default view. Both can be forced with ``display=`` / ``view=``.

Output values are clipped to [0, 1] (NaN -> 0). Processing is float32 through OCIO's CPU processor
on packed images, straight from the plate's array into the output array (no intermediate copy; OCIO
releases the GIL meanwhile): about 40-100 ms for 2048x1080 on this 2-core machine, depending on load.
"""
import difflib
import os
import threading

import numpy as np

from .errors import ColourError

__all__ = ["ColourTransform", "srgb_oetf", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = "ocio://default"

# views that show the plate without a tone curve, in order of preference (lower-case, substring)
_UNTONEMAPPED = ("un-tone-mapped", "untone-mapped", "untonemapped", "standard", "srgb", "video (colorimetric)")
_NOT_VIEWS = ("raw", "log", "none", "data", "false color", "false colour")


#: OCIO colourspace encodings whose values are not scene-linear light
NONLINEAR_ENCODINGS = ("log", "sdr-video", "hdr-video")


def _encoding(cs):
    """A colourspace's OCIO 2 ``encoding`` ('' when the config does not say, as v1 configs)."""
    try:
        return str(cs.getEncoding() or "")
    except AttributeError:  # noqa: BLE001 - an OCIO without encodings
        return ""


def _ocio():
    try:
        import PyOpenColorIO as ocio
    except ImportError as e:  # opencolorio is a hard dependency: say which Python lacks it (as for the others)
        from .errors import DependencyError, missing_dependency
        raise missing_dependency(e) or DependencyError("PyOpenColorIO is not installed: %s" % e,
                                                       package="PyOpenColorIO")
    return ocio


def _load_config(config):
    ocio = _ocio()
    if config is not None and not isinstance(config, (str, os.PathLike)):
        if hasattr(config, "getColorSpaceNames"):
            return config, "<Config %s>" % (config.getName() or "unnamed")
        raise ColourError("ocio config must be a path, an ocio:// URI or a Config, not %s" % type(config).__name__)
    source = os.fspath(config) if config is not None else None
    origin = ""
    if not source:
        source = os.environ.get("OCIO") or DEFAULT_CONFIG
        # a config nobody named in the job: say where it came from, or the artist looks in the job
        origin = " (from $OCIO)" if os.environ.get("OCIO") else ""
    try:
        if source.startswith("ocio://"):
            cfg = ocio.Config.CreateFromFile(source)
        else:
            if os.path.isdir(source):
                raise ColourError("OCIO config %s%s is a folder, not a config file (name its .ocio file, e.g. %s)"
                                  % (source, origin, os.path.join(source, "config.ocio")), config=source)
            if not os.path.isfile(source):
                raise ColourError("OCIO config file not found: %s%s" % (source, origin), config=source)
            cfg = ocio.Config.CreateFromFile(source)
    except ColourError:
        raise
    except Exception as e:
        hint = ""
        if source.startswith("ocio://"):
            names = [c[0] for c in ocio.BuiltinConfigRegistry().getBuiltinConfigs()]
            hint = " (built-in configs: ocio://default, ocio://cg-config-latest, ocio://studio-config-latest, %s)" % (
                ", ".join("ocio://" + n for n in names[-3:]))
        raise ColourError("cannot load OCIO config %s%s: %s%s" % (source, origin, str(e).strip(), hint),
                          config=source)
    return cfg, source


def _suggest(name, names, n=6):
    """Up to ``n`` of ``names`` nearest ``name``, compared without regard to case or surrounding spaces
    (OCIO looks names up so), then the rest in their order."""
    lower = {}
    for x in names:
        lower.setdefault(x.strip().lower(), x)
    close = [lower[c] for c in difflib.get_close_matches(str(name).strip().lower(), list(lower), n=n, cutoff=0.4)]
    rest = [x for x in names if x not in close]
    return (close + rest)[:n]


def _colourspace_names(cfg):
    """What a job may name a colourspace of ``cfg`` by, for suggestions: its scene-referred colourspaces'
    names (those a plate is stored in), its roles, the other colourspaces (display-referred ones) and
    then every alias."""
    scene, other, aliases = [], [], []
    for name in cfg.getColorSpaceNames():
        cs = cfg.getColorSpace(name)
        try:
            display = cs.getReferenceSpaceType() != _ocio().REFERENCE_SPACE_SCENE
        except AttributeError:  # noqa: BLE001 - an OCIO without reference spaces (v1)
            display = False
        (other if display else scene).append(name)
        try:
            aliases.extend(cs.getAliases())
        except AttributeError:  # noqa: BLE001 - an OCIO without aliases
            pass
    try:
        roles = list(cfg.getRoleNames())
    except AttributeError:  # noqa: BLE001
        roles = []
    seen, out = set(), []
    for x in scene + roles + other + aliases:
        if x and x not in seen:
            seen.add(x)
            out.append(x)
    return out


#: gamuts an EXR's ``chromaticities`` may name: CIE xy of red, green, blue and white, and the names of
#: their scene-linear colourspace a config may know it by (the Color Interop Forum's ID, which OCIO
#: 2.5+ configs resolve, then the aliases the ACES configs and Blender's bundled config share)
PRIMARIES = {
    "AP0": ((0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770, 0.32168, 0.33767), ("lin_ap0_scene", "lin_ap0")),
    "AP1": ((0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767), ("lin_ap1_scene", "lin_ap1")),
    "Rec.709": ((0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290), ("lin_rec709_scene", "lin_rec709", "lin_srgb")),
    "P3-D65": ((0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290), ("lin_p3d65_scene", "lin_p3d65")),
    "Rec.2020": ((0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290), ("lin_rec2020_scene", "lin_rec2020")),
}
#: how far (CIE xy, each coordinate) a header's chromaticities may be from a gamut's and still name it
CHROMATICITY_TOLERANCE = 0.002


def match_primaries(chromaticities):
    """The name in :data:`PRIMARIES` of the gamut 8 chromaticities (R, G, B, white xy) name, or None."""
    if chromaticities is None or len(chromaticities) != 8:
        return None
    for name, (xy, _ids) in PRIMARIES.items():
        if all(abs(float(a) - b) <= CHROMATICITY_TOLERANCE for a, b in zip(chromaticities, xy)):
            return name
    return None


def _lookup(cfg, name):
    """A config's colourspace for ``name`` (a name, alias, role or, with OCIO 2.5+, interop ID), trying
    an interop ID's older alias (``lin_rec709_scene`` -> ``lin_rec709``) in configs that predate IDs."""
    cs = cfg.getColorSpace(name)
    if cs is None and name.endswith("_scene"):
        cs = cfg.getColorSpace(name[:-len("_scene")])
    return cs


def _scene_linear(cfg, cs):
    """Whether ``cs`` holds scene-linear light: its OCIO encoding says so, or (a config without encodings)
    its conversion to the config's scene_linear role is linear."""
    enc = _encoding(cs)
    if enc:
        return enc == "scene-linear"
    try:
        if cs.isData():
            return False
    except AttributeError:  # noqa: BLE001 - an OCIO without isData
        pass
    lin = cfg.getColorSpace("scene_linear")
    if lin is None or lin.getName() == cs.getName():
        return lin is not None
    try:
        ocio = _ocio()
        cpu = cfg.getProcessor(cs.getName(), lin.getName()).getOptimizedCPUProcessor(
            ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_DEFAULT)
    except Exception:  # noqa: BLE001 - no conversion: not a colourspace to read a plate in
        return False
    x = np.array([[[0.02, 0.05, 0.1], [0.18, 0.25, 0.3], [0.4, 0.45, 0.5]]], np.float32)
    fx, f2x = _apply(cpu, x, None), _apply(cpu, x * 2, None)
    return bool(np.all(np.isfinite(fx)) and np.all(np.isfinite(f2x))
                and np.allclose(f2x, 2 * fx, rtol=1e-3, atol=1e-5))


def resolve_header(cfg, header, config_source=""):
    """``(colourspace name or None, how, warning or None)``: the colourspace of ``cfg`` a float plate's
    header names (``header``: :func:`samatte.io.exr.header_colour`'s dict). An explicit ``colorInteropID``
    / ``colorSpace`` attribute decides alone: the config's colourspace of that name, alias or interop ID
    (not a data one). Else ``chromaticities`` (or the ACES container flag: AP0) matching a gamut of
    :data:`PRIMARIES` within :data:`CHROMATICITY_TOLERANCE`, when the config has exactly one scene-linear
    colourspace under that gamut's names. None: the plate is read as the config's scene_linear, as when
    the header says nothing; ``warning`` says why when the header names something the config cannot
    resolve (an unknown name, primaries matching no known gamut or none of the config's colourspaces,
    a contradiction)."""
    if not header:
        return None, None, None
    where = " of OCIO config %s" % config_source if config_source else ""
    fallback = "samatte reads it as the config's scene_linear; name its colourspace (--colourspace / plate.colourspace)"
    name = header.get("name")
    if name:
        what = "%s %r" % (header.get("attribute") or "colourspace attribute", name)
        cs = _lookup(cfg, name)
        if cs is None:
            return None, None, "the plate's header names %s, which is not a colourspace%s: %s" % (what, where, fallback)
        try:
            data = cs.isData()
        except AttributeError:  # noqa: BLE001
            data = False
        if data:
            return None, None, "the plate's header names %s, a data colourspace%s: %s" % (what, where, fallback)
        return cs.getName(), "header %s" % what, None
    chroma = header.get("chromaticities")
    gamut = match_primaries(chroma)
    if header.get("aces_container"):
        if chroma is not None and gamut != "AP0":
            return None, None, ("the plate's header is an ACES container (acesImageContainerFlag) whose chromaticities "
                                "are not AP0 (%s): %s" % (", ".join("%g" % c for c in chroma), fallback))
        gamut = "AP0"
        how = "header acesImageContainerFlag (AP0)"
    else:
        how = "header chromaticities (%s)" % gamut
    if gamut is None:
        return None, None, ("the plate's header chromaticities (%s) match none of %s: %s"
                            % (", ".join("%g" % c for c in chroma), ", ".join(PRIMARIES), fallback))
    found = []
    for n in PRIMARIES[gamut][1]:
        cs = cfg.getColorSpace(n)
        if cs is not None and cs.getName() not in found and _scene_linear(cfg, cs):
            found.append(cs.getName())
    if len(found) != 1:
        return None, None, ("the plate's header chromaticities are %s, but OCIO config %s has %s scene-linear "
                            "colourspace for them (by the names %s): %s"
                            % (gamut, config_source or "in use", "no" if not found else "more than one (%s)"
                               % ", ".join(found), ", ".join(PRIMARIES[gamut][1]), fallback))
    return found[0], how, None


class ColourTransform:
    """Scene-linear (plate colourspace) -> display-referred sRGB in [0, 1].

    ``ColourTransform(config=None, colourspace=None, *, display=None, view=None, header=None)``; see the module
    docstring for how each is chosen. Raises ColourError for an unloadable config or an unknown
    colourspace/display/view (listing valid names). Thread-safe: :meth:`to_display` may be called from
    several threads at once.
    """

    def __init__(self, config=None, colourspace=None, *, display=None, view=None, header=None):
        ocio = _ocio()
        self.config, self.config_source = _load_config(config)
        cfg = self.config
        names = list(cfg.getColorSpaceNames())
        #: what the plate's header says, when the job names no colourspace (``header``: a float
        #: OpenEXR's :func:`samatte.io.exr.header_colour`): how it decided, or why it could not
        self.header_how = self.header_warning = None
        if colourspace:
            cs = cfg.getColorSpace(colourspace)
            if cs is None and colourspace.strip() != colourspace and colourspace.strip():
                # "ACEScg " pasted from a host's knob: OCIO matches names exactly but for case
                cs = cfg.getColorSpace(colourspace.strip())
            if cs is None:
                raise ColourError("colourspace %r is not in OCIO config %s; valid names include: %s"
                                  % (colourspace, self.config_source,
                                     ", ".join(_suggest(colourspace, _colourspace_names(cfg)))),
                                  colourspace=colourspace, config=self.config_source)
            self.colourspace_from = "job"
        else:
            name, self.header_how, self.header_warning = resolve_header(cfg, header, self.config_source)
            cs = cfg.getColorSpace(name) if name else None
            self.colourspace_from = "header" if cs is not None else "scene_linear"
        if cs is None:
            cs = cfg.getColorSpace("scene_linear")
            if cs is None:
                raise ColourError("OCIO config %s has no scene_linear role; give the plate's colourspace "
                                  "(valid names include: %s)" % (self.config_source, ", ".join(names[:6])),
                                  config=self.config_source)
        #: ``"job"`` (the colourspace argument), ``"header"`` (the plate's header) or ``"scene_linear"``
        #: (the config's role: neither named one); the first two are the plate's own, explicit colourspace
        self.colourspace_explicit = self.colourspace_from != "scene_linear"
        self.colourspace = cs.getName()
        self._linear_cpu = None  # colourspace -> scene_linear, made when first needed (to_scene_linear)
        #: a colourspace the job names whose pixels are not scene-linear (the config marks its encoding
        #: ``log``, ``sdr-video`` or ``hdr-video``: ACEScct, an sRGB-encoded EXR; in a config without
        #: encodings, its conversion to scene_linear is not linear: see _is_nonlinear): a float plate in it
        #: is made scene-linear on reading (``FrameSource``), as the linear solves and the foreground need
        self.nonlinear = bool(self.colourspace_explicit) and self._is_nonlinear(cs)
        if self.nonlinear and cfg.getColorSpace("scene_linear") is None:
            # without the role its values would be kept as they are: log or video code values taken
            # for light by the linear solves and written as the (scene-linear) foreground
            raise ColourError("colourspace %r is %s-encoded, but OCIO config %s has no scene_linear role to make "
                              "the plate scene-linear in; add a scene_linear role to the config"
                              % (self.colourspace, _encoding(cs), self.config_source),
                              colourspace=self.colourspace, config=self.config_source)
        self.display, self.view = self._choose_display_view(display, view)
        try:
            tr = ocio.DisplayViewTransform(src=self.colourspace, display=self.display, view=self.view)
            self._processor = cfg.getProcessor(tr)
            self._cpu = self._processor.getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32,
                                                                 ocio.OPTIMIZATION_DEFAULT)
        except Exception as e:
            raise ColourError("OCIO cannot build %s -> %s / %s from %s: %s"
                              % (self.colourspace, self.display, self.view, self.config_source, str(e).strip()),
                              config=self.config_source)

    def _is_nonlinear(self, cs):
        """Whether ``cs`` holds code values rather than scene-linear light: the config's OCIO 2 encoding
        when it gives one (``log``, ``sdr-video``, ``hdr-video``), else measured: a colourspace whose
        conversion to the ``scene_linear`` role is not linear (f(2x) != 2 f(x)). OCIO v1 configs (Nuke's
        nuke-default and aces_1.2) and Blender's bundled config give no encodings, so their sRGB,
        Cineon, AgX Log, ACEScct were taken for linear light. Data colourspaces never are."""
        enc = _encoding(cs)
        if enc:
            return enc in NONLINEAR_ENCODINGS
        try:
            if cs.isData():
                return False
        except AttributeError:  # noqa: BLE001 - an OCIO without isData
            pass
        lin = self.config.getColorSpace("scene_linear")
        if lin is None or lin.getName() == cs.getName():
            return False
        try:
            ocio = _ocio()
            cpu = self.config.getProcessor(cs.getName(), lin.getName()).getOptimizedCPUProcessor(
                ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_DEFAULT)
        except Exception as e:
            # no conversion (a LUT file of the config missing: a show LUT folder not mapped on a farm
            # node, a context variable naming another shot's file): its values cannot be told linear or
            # decoded, and taking code values for light would matte the plate wrongly without a word
            raise ColourError("OCIO cannot convert colourspace %r to scene_linear (%s) with config %s, to tell "
                              "whether its values are linear light: %s"
                              % (cs.getName(), lin.getName(), self.config_source, str(e).strip()),
                              colourspace=cs.getName(), config=self.config_source)
        x = np.array([[[0.02, 0.05, 0.1], [0.18, 0.25, 0.3], [0.4, 0.45, 0.5]]], np.float32)
        fx = _apply(cpu, x, None)
        f2x = _apply(cpu, x * 2, None)
        if not (np.all(np.isfinite(fx)) and np.all(np.isfinite(f2x))):
            return True
        self._linear_cpu = cpu
        return not np.allclose(f2x, 2 * fx, rtol=1e-3, atol=1e-5)

    def _choose_display_view(self, display, view):
        cfg = self.config
        displays = list(cfg.getDisplays())
        if not displays:
            raise ColourError("OCIO config %s has no displays" % self.config_source, config=self.config_source)
        if display:
            if display not in displays:
                raise ColourError("display %r is not in OCIO config %s; displays: %s"
                                  % (display, self.config_source, ", ".join(_suggest(display, displays))),
                                  config=self.config_source)
        else:
            srgb = [d for d in displays if d.lower().startswith("srgb")] or \
                   [d for d in displays if "srgb" in d.lower()]
            display = srgb[0] if srgb else cfg.getDefaultDisplay()
        views = list(cfg.getViews(display))
        if view:
            if view not in views:
                raise ColourError("view %r is not a view of display %r in %s; views: %s"
                                  % (view, display, self.config_source, ", ".join(views)),
                                  config=self.config_source)
            return display, view
        for pref in _UNTONEMAPPED:
            for v in views:
                lv = v.lower()
                if pref in lv and not any(lv.startswith(b) for b in _NOT_VIEWS):
                    return display, v
        return display, cfg.getDefaultView(display)

    def describe(self):
        """``{"config", "config_name", "colourspace", "colourspace_from", "display", "view"}`` — what this
        transform does (``colourspace_from``: ``job``, ``header`` or ``scene_linear``)."""
        return {"config": self.config_source, "config_name": self.config.getName() or "",
                "colourspace": self.colourspace, "colourspace_from": self.colourspace_from,
                "display": self.display, "view": self.view}

    def to_display(self, linear, *, out=None):
        """float32 (H, W, 3) scene-linear -> a new float32 (H, W, 3) array in [0, 1] (or into ``out``,
        which may be ``linear`` itself to work in place)."""
        linear = np.asarray(linear)
        if linear.ndim != 3 or linear.shape[2] != 3:
            raise ColourError("to_display needs an (H, W, 3) array, got shape %s" % (linear.shape,))
        out = _apply(self._cpu, linear, out)
        _clip01(out)
        return out

    __call__ = to_display

    def to_scene_linear(self, values, *, out=None):
        """float32 (H, W, 3) pixels in the plate's colourspace -> the config's ``scene_linear`` role (a
        new array, or ``out``), not clipped: how an integer plate named in a colourspace (a log DPX, a
        linear 16-bit TIFF) is decoded. Without a ``scene_linear`` role the values are returned as
        they are (a copy, or in ``out``); a colourspace the config marks log or video is refused
        then, when the transform is made."""
        values = np.asarray(values)
        if values.ndim != 3 or values.shape[2] != 3:
            raise ColourError("to_scene_linear needs an (H, W, 3) array, got shape %s" % (values.shape,))
        if self._linear_cpu is None:
            ocio = _ocio()
            lin = self.config.getColorSpace("scene_linear")
            try:
                proc = self.config.getProcessor(self.colourspace, lin.getName()) if lin is not None else None
                self._linear_cpu = proc.getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32,
                                                                 ocio.OPTIMIZATION_DEFAULT) if proc else False
            except Exception as e:
                raise ColourError("OCIO cannot build %s -> scene_linear from %s: %s"
                                  % (self.colourspace, self.config_source, str(e).strip()), config=self.config_source)
        if self._linear_cpu is False:
            if out is None:
                return np.array(values, dtype=np.float32)
            np.copyto(out, values, casting="unsafe")
            return out
        return _apply(self._linear_cpu, values, out)

    def __repr__(self):
        d = self.describe()
        return "ColourTransform(%s: %s -> %s / %s)" % (d["config"], d["colourspace"], d["display"], d["view"])


def _apply(cpu, src, out):
    """Run an OCIO CPU processor on float32 (H, W, 3) ``src`` into ``out`` (new when None; may be
    ``src`` itself): straight from source to destination, no intermediate copy."""
    ocio = _ocio()
    h, w = src.shape[:2]
    if out is None:
        out = np.empty((h, w, 3), dtype=np.float32)
    elif out.shape != src.shape or out.dtype != np.float32 or not out.flags["C_CONTIGUOUS"]:
        raise ColourError("output must be a C-contiguous float32 array of shape %s" % (src.shape,))
    if not (h and w):
        return out
    if src.dtype != np.float32 or not src.flags["C_CONTIGUOUS"]:
        np.copyto(out, src, casting="unsafe")
        src = out
    if src is out:
        cpu.apply(ocio.PackedImageDesc(out, w, h, 3))
    else:
        cpu.apply(ocio.PackedImageDesc(src, w, h, 3), ocio.PackedImageDesc(out, w, h, 3))
    return out


def _clip01(a):
    np.fmax(a, 0.0, out=a)  # fmax drops NaN -> 0
    np.fmin(a, 1.0, out=a)
    return a


_SRGB_LOCK = threading.Lock()
_SRGB_CPU = None


def _srgb_cpu():
    global _SRGB_CPU
    with _SRGB_LOCK:
        if _SRGB_CPU is None:
            ocio = _ocio()
            raw = ocio.Config.CreateRaw()
            tr = ocio.ExponentWithLinearTransform(gamma=[2.4, 2.4, 2.4, 1.0], offset=[0.055, 0.055, 0.055, 0.0],
                                                  direction=ocio.TRANSFORM_DIR_INVERSE)
            _SRGB_CPU = raw.getProcessor(tr).getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32,
                                                                      ocio.OPTIMIZATION_DEFAULT)
        return _SRGB_CPU


def srgb_oetf(linear, *, out=None):
    """The plain sRGB OETF (IEC 61966-2-1) of ``clip(linear, 0, 1)``: float32 (H, W, 3) in [0, 1].

    Used when no OCIO config is involved. Returns a new array unless ``out`` is given (``out`` may
    be ``linear`` itself).
    """
    linear = np.asarray(linear)
    if linear.ndim == 3 and linear.shape[2] == 3:
        # the curve is monotonic with f(0) = 0, f(1) = 1: clipping after it equals clipping before
        out = _apply(_srgb_cpu(), linear, out)
        _clip01(out)
        return out
    c = np.clip(np.nan_to_num(linear.astype(np.float32), nan=0.0), 0.0, 1.0)
    res = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055).astype(np.float32)
    if out is None:
        return res
    out[...] = res
    return out
