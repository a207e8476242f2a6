"""``samatte demo``: a synthetic scene-linear EXR shot with known alpha, matted end to end.

The shot: a furry orange ball with a semi-transparent trailing fin drifts across a textured,
slowly panning background (scene-linear, half float RGB; highlights on the ball and two lamps in the
background go well above 1.0). Hairs make the edge soft and partly transparent; the fin is about
40 % opaque. Because the shot is composited as ``I = a*F + (1-a)*B`` the true alpha is known exactly
and written beside the plate.

The demo writes, under ``--out`` (default ``./samatte_demo``)::

    plate/plate.####.exr      the plate (half RGB, zip)
    gt/alpha.####.exr         the true alpha (half, channel A)
    job.json                  the JobSpec (one polygon prompt, drawn around the subject on the middle
                              frame, so the tracker runs both ways)
    matte/matte.####.exr      samatte's output
    contact_sheet.png         rows of frames: plate | true alpha | samatte alpha | composite over a checkerboard;
                              a last row zooms into the prompt frame's hair edge at full resolution (x2)
    report.json               paths, backends, timings and the error against the true alpha

MAD is reported as mean|alpha - true| x 1000 over whole frames (the RobustVideoMatting convention).
"""
import json
import math
import os
import sys
import time

import numpy as np

from . import __version__
from .errors import JobSpecError, OutputError

__all__ = ["make_shot", "run_demo", "contact_sheet", "read_alpha"]

_PARAMS_FILE = "demo_params.json"


# --- the synthetic shot ---------------------------------------------------------------------------

def _smooth_noise(rng, h, w, cells):
    """Band-limited noise in [0, 1]: random values on a coarse grid, bicubically upsampled."""
    import cv2
    gh, gw = max(2, int(round(h / cells))), max(2, int(round(w / cells)))
    g = rng.random((gh + 3, gw + 3)).astype(np.float32)
    up = cv2.resize(g, (w + 3 * cells, h + 3 * cells), interpolation=cv2.INTER_CUBIC)
    up = up[cells:cells + h, cells:cells + w]
    lo, hi = float(up.min()), float(up.max())
    return (up - lo) / max(hi - lo, 1e-6)


def _background(rng, h, w):
    """A textured scene-linear background, wider than the frame so that it can pan."""
    tex = (0.45 * _smooth_noise(rng, h, w, 48) + 0.35 * _smooth_noise(rng, h, w, 12)
           + 0.20 * _smooth_noise(rng, h, w, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin(xx * 0.09 + 2.0 * np.sin(yy * 0.013))
    base = 0.04 + 0.32 * tex + 0.06 * stripes
    bg = np.stack([base * 0.75, base * 0.95, base * 1.15], axis=-1)  # cool greenish-blue set
    # two practical lamps: small hot spots well above 1.0
    for cx, cy, r, gain in ((0.18, 0.22, 0.025, 6.0), (0.83, 0.3, 0.018, 4.0)):
        d2 = ((xx - cx * w) ** 2 + (yy - cy * h) ** 2) / (r * min(h, w) * 4) ** 2
        glow = np.exp(-d2 * 4.0)[..., None]
        bg += gain * glow * np.array([1.0, 0.85, 0.6], np.float32)
    return bg.astype(np.float32)


class _Subject:
    """The furry ball + fin, parameterised so that any frame can be rendered exactly."""

    def __init__(self, rng, w, h):
        self.w, self.h = w, h
        self.radius = 0.2 * min(w, h)
        self.hair_len = 0.28 * self.radius
        n = 7
        self.wobble = [(int(k), float(rng.uniform(0.02, 0.05)), float(rng.uniform(0, 2 * math.pi)))
                       for k in rng.choice(np.arange(3, 9), size=3, replace=False)]
        self.hair_freqs = rng.uniform(40, 90, size=n)
        self.hair_phase = rng.uniform(0, 2 * math.pi, size=n)

    def centre(self, u):
        """Centre at normalised time u in [0, 1]: left to right with a gentle bob."""
        cx = self.w * (0.28 + 0.44 * u)
        cy = self.h * (0.55 + 0.08 * math.sin(2 * math.pi * u))
        return cx, cy

    def edge_radius(self, theta, u):
        r = np.ones_like(theta)
        for k, amp, ph in self.wobble:
            r = r + amp * np.sin(k * theta + ph + 1.5 * u)
        return self.radius * r

    def render(self, u):
        """(alpha, premultiplied colour) of the subject at time u."""
        h, w = self.h, self.w
        cx, cy = self.centre(u)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx, dy = xx - cx, yy - cy
        r = np.sqrt(dx * dx + dy * dy)
        theta = np.arctan2(dy, dx)
        redge = self.edge_radius(theta, u)
        # body: a 1.5 px anti-aliased edge
        body = np.clip((redge - r) / 1.5 + 0.5, 0.0, 1.0)
        # hair: thin angular strands fading outwards, partly transparent
        strands = np.zeros_like(r)
        for f, ph in zip(self.hair_freqs, self.hair_phase):
            strands += np.sin(theta * f + ph + 0.3 * np.sin(r * 0.15))
        strands = np.clip(strands / len(self.hair_freqs) * 2.2 + 0.15, 0.0, 1.0) ** 1.5
        t = (r - redge) / self.hair_len
        hair = np.where((t > 0) & (t < 1), strands * np.clip(1.0 - t, 0.0, 1.0) ** 1.3 * 0.9, 0.0)
        a_body = np.clip(np.maximum(body, hair), 0.0, 1.0).astype(np.float32)
        # shading: a key light from the top left with a highlight well above 1.0
        lx, ly = cx - 0.45 * self.radius, cy - 0.5 * self.radius
        spec = np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (0.22 * self.radius) ** 2)
        shade = np.clip(1.0 - 0.6 * (r / (1.3 * self.radius)) ** 2, 0.15, 1.0)
        body_rgb = (np.stack([1.05 * shade, 0.42 * shade, 0.12 * shade], axis=-1)
                    + 3.0 * spec[..., None] * np.array([1.0, 0.9, 0.8], np.float32))
        hair_rgb = np.array([1.25, 0.62, 0.25], np.float32)
        mix = np.clip(hair / np.maximum(a_body, 1e-4), 0, 1)[..., None] * (body < 0.5)[..., None]
        col_body = body_rgb * (1 - mix) + hair_rgb * mix
        # fin: a ~40 % opaque ellipse trailing behind (to the left), soft edged
        fx, fy = cx - 1.25 * self.radius, cy + 0.1 * self.radius
        ex = (xx - fx) / (0.75 * self.radius)
        ey = (yy - fy) / (0.32 * self.radius)
        d = np.sqrt(ex * ex + ey * ey)
        a_fin = (0.4 * np.clip((1.0 - d) / 0.15, 0.0, 1.0)).astype(np.float32)
        fin_rgb = np.array([0.15, 0.55, 0.9], np.float32)
        # body over fin
        a = a_body + (1 - a_body) * a_fin
        premult = a_body[..., None] * col_body + ((1 - a_body) * a_fin)[..., None] * fin_rgb
        return a.astype(np.float32), premult.astype(np.float32)


def _check_shot(frames, size):
    """(width, height) of a valid demo shot; JobSpecError for sizes or frame counts out of range."""
    w, h = int(size[0]), int(size[1])
    if w < 64 or h < 64 or w > 8192 or h > 8192:
        raise JobSpecError("demo size must be between 64 and 8192 pixels a side, got %dx%d" % (w, h))
    if frames < 2 or frames > 1000:
        raise JobSpecError("demo frames must be between 2 and 1000, got %d" % frames)
    return w, h


def make_shot(folder, *, frames=24, size=(640, 360), first=1001, seed=7):
    """Write the synthetic plate and its true alpha under ``folder``; return a dict of paths, frames
    and the polygon prompt (display-window pixels) drawn on the middle frame."""
    from .io.exr import write_image
    w, h = _check_shot(frames, size)
    rng = np.random.default_rng(seed)
    pan = 3  # background pan, pixels per frame
    big_bg = _background(rng, h, w + pan * frames + 1)
    subject = _Subject(rng, w, h)
    plate_dir = os.path.join(folder, "plate")
    gt_dir = os.path.join(folder, "gt")
    os.makedirs(plate_dir, exist_ok=True)
    os.makedirs(gt_dir, exist_ok=True)
    plate = os.path.join(plate_dir, "plate.####.exr")
    gt = os.path.join(gt_dir, "alpha.####.exr")
    frame_list = list(range(first, first + frames))
    mid = frame_list[len(frame_list) // 2]
    prompt = None
    for i, f in enumerate(frame_list):
        u = i / max(1, frames - 1)
        bg = big_bg[:, i * pan:i * pan + w]
        a, premult = subject.render(u)
        img = premult + (1.0 - a)[..., None] * bg
        write_image(plate.replace("####", "%04d" % f), img, channels=("R", "G", "B"), pixel_type="half",
                    metadata={"samatte/demo": "plate"})
        write_image(gt.replace("####", "%04d" % f), a, channels=("A",), pixel_type="half",
                    metadata={"samatte/demo": "true alpha"})
        if f == mid:
            prompt = _roto_polygon(a)
    return {"plate": plate, "gt": gt, "frames": frame_list, "prompt_frame": mid, "polygon": prompt,
            "size": [w, h]}


def _roto_polygon(alpha, threshold=0.2):
    """What an artist would draw: a polygon around the whole subject (the semi-transparent fin
    included, hair strands not), simplified to a few dozen points."""
    import cv2
    mask = (alpha > threshold).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)  # an artist draws around strands, not along them
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        raise OutputError("demo: the subject is not visible on the prompt frame")
    c = max(contours, key=cv2.contourArea)
    poly = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2)
    return [[float(x) + 0.5, float(y) + 0.5] for x, y in poly]


# --- reading results, contact sheet ----------------------------------------------------------------

def read_alpha(path):
    """The ``A`` channel of an EXR (the merged matte in samatte's output) as float32 (H, W)."""
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise OutputError("cannot read %s: %s" % (path, oiio.geterror()), path=path)
    try:
        spec = inp.spec()
        names = list(spec.channelnames)
        if "A" not in names:
            raise OutputError("%s has no A channel (channels: %s)" % (path, ", ".join(names)), path=path)
        k = names.index("A")
        px = inp.read_image(0, 0, k, k + 1, "float")
    finally:
        inp.close()
    return np.asarray(px, dtype=np.float32).reshape(spec.height, spec.width)


def _checker(h, w, size=12):
    yy, xx = np.mgrid[0:h, 0:w]
    c = ((yy // size + xx // size) % 2).astype(np.float32)
    return (0.35 + 0.3 * c)[..., None] * np.ones(3, np.float32)


def edge_crop_box(gt, alpha, ch, cw):
    """(y0, x0) of the ch x cw crop holding the most fine alpha structure (the hair edge): the
    Laplacian's magnitude of the true alpha when known, else of ours (a uniformly translucent part
    has none inside). A downscaled sheet shows none of the hair; this crop shows it at full
    resolution."""
    import cv2
    ref = np.asarray(gt if gt is not None else alpha, np.float32)
    h, w = ref.shape
    ch, cw = min(ch, h), min(cw, w)
    frac = np.abs(cv2.Laplacian(ref, cv2.CV_32F, ksize=3))
    dens = cv2.boxFilter(frac, -1, (cw, ch), normalize=False, borderType=cv2.BORDER_CONSTANT)
    # centres whose crop lies inside the frame
    dens[:ch // 2, :] = -1
    dens[h - (ch - ch // 2) + 1:, :] = -1
    dens[:, :cw // 2] = -1
    dens[:, w - (cw - cw // 2) + 1:] = -1
    cy, cx = np.unravel_index(int(np.argmax(dens)), dens.shape)
    return int(np.clip(cy - ch // 2, 0, h - ch)), int(np.clip(cx - cw // 2, 0, w - cw))


def contact_sheet(path, rows, *, thumb_width=240, zoom=2):
    """Write a PNG contact sheet. ``rows``: list of (label, display_rgb, true_alpha or None, alpha),
    display_rgb in [0, 1]. Columns: plate | true alpha | samatte alpha | composite over a checkerboard.
    With ``zoom`` (>= 1), a last row shows a crop of the first row whose label ends in "*" (else the
    last row) at full resolution, magnified ``zoom`` times with nearest-neighbour pixels: the edge
    with the most fine structure in its alpha (hair), where the downscaled rows show none of it."""
    from PIL import Image, ImageDraw
    h0, w0 = rows[0][1].shape[:2]
    tw = int(thumb_width)
    th = max(1, int(round(h0 * tw / w0)))
    pad, head, lab = 6, 22, 64
    cols = ["plate (display)", "true alpha", "samatte alpha", "over checkerboard"]
    zrow = None
    if zoom and rows:
        zrow = next((r for r in rows if str(r[0]).endswith("*")), rows[-1])
    n_rows = len(rows) + (1 if zrow is not None else 0)
    W = lab + len(cols) * (tw + pad) + pad
    H = head + n_rows * (th + pad) + pad
    sheet = Image.new("RGB", (W, H), (28, 28, 30))
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(cols):
        draw.text((lab + pad + j * (tw + pad), 5), name, fill=(220, 220, 220))

    def tiles_of(disp, gt, alpha):
        comp = disp * alpha[..., None] + _checker(*alpha.shape) * (1.0 - alpha[..., None])
        return [disp, None if gt is None else np.repeat(gt[..., None], 3, -1),
                np.repeat(alpha[..., None], 3, -1), comp]

    def paste_row(i, label, tiles, resample):
        y = head + pad + i * (th + pad)
        draw.text((6, y + th // 2 - 6), str(label), fill=(220, 220, 220))
        for j, t in enumerate(tiles):
            x = lab + pad + j * (tw + pad)
            if t is None:
                draw.text((x + 8, y + th // 2), "n/a", fill=(150, 150, 150))
                continue
            im = Image.fromarray((np.clip(t, 0, 1) * 255 + 0.5).astype(np.uint8))
            sheet.paste(im.resize((tw, th), resample), (x, y))

    for i, (label, disp, gt, alpha) in enumerate(rows):
        paste_row(i, label, tiles_of(disp, gt, alpha), Image.BILINEAR)
    if zrow is not None:
        label, disp, gt, alpha = zrow
        z = max(1, int(zoom))
        ch, cw = max(1, th // z), max(1, tw // z)
        y0, x0 = edge_crop_box(gt, alpha, ch, cw)
        sl = (slice(y0, y0 + ch), slice(x0, x0 + cw))
        crop = tiles_of(disp[sl], None if gt is None else gt[sl], alpha[sl])
        paste_row(len(rows), "%s\nedge\n1:1 x%d" % (str(label).rstrip("*"), z), crop, Image.NEAREST)
    tmp = path + ".tmp.png"
    sheet.save(tmp)
    os.replace(tmp, path)
    return path


# --- the command ------------------------------------------------------------------------------------

def _clear_previous(out):
    """Remove the demo's own generated sequences (only the files the demo writes)."""
    for sub, prefix in (("plate", "plate."), ("gt", "alpha."), ("matte", "matte.")):
        d = os.path.join(out, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name.startswith(prefix) and name.endswith(".exr"):
                os.remove(os.path.join(d, name))


# what the demo writes (or clears) in its folder, besides the frame folders of _clear_previous
_DEMO_FILES = ("job.json", "contact_sheet.png", "report.json", _PARAMS_FILE)


def _is_demo_params(doc):
    return (isinstance(doc, dict) and isinstance(doc.get("params"), dict) and "version" in doc["params"]
            and isinstance(doc.get("shot"), dict) and "plate" in doc["shot"])


def _check_demo_folder(out):
    """OUTPUT_INVALID (before anything is cleared or written) when ``out`` is not samatte's demo folder
    (no demo_params.json of the demo's) and holds a file the demo would replace or remove: someone's
    ``job.json``, or a real shot's ``plate/plate.####.exr``, is never touched."""
    pfile = os.path.join(out, _PARAMS_FILE)
    if os.path.isfile(pfile):
        try:
            with open(pfile, encoding="utf-8") as f:
                if _is_demo_params(json.load(f)):
                    return
        except (OSError, ValueError):
            pass
    theirs = [os.path.join(out, n) for n in _DEMO_FILES if os.path.lexists(os.path.join(out, n))]
    for sub, prefix in (("plate", "plate."), ("gt", "alpha."), ("matte", "matte.")):
        d = os.path.join(out, sub)
        if os.path.isdir(d):
            theirs += [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.startswith(prefix) and n.endswith(".exr")]
    if theirs:
        raise OutputError("demo --out %s is not a samatte demo folder and holds %s (and %d more file(s)), which the "
                          "demo would replace or remove: give an empty or new folder"
                          % (out, theirs[0], len(theirs) - 1), path=theirs[0])


def _write_params(pfile, doc):
    """demo_params.json, atomically (a demo killed while writing it leaves the one before, never half a file)."""
    from .atomic import write_atomically

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
    write_atomically(pfile, "%s.%d.tmp" % (pfile, os.getpid()), write, what="demo parameters file")


def _output_folder(out):
    """The demo's folder, made if needed; OUTPUT_INVALID when it names an existing file (or cannot be
    made), never a traceback."""
    out = os.path.abspath(os.path.expanduser(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError("demo --out %s is an existing file, not a folder: give a folder (it is created "
                          "if missing)" % out, path=out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot create the demo folder %s: %s" % (out, e.strerror or e), path=out)
    return out


def run_demo(out="samatte_demo", *, frames=24, size=(640, 360), first=1001, quiet=False, overwrite=False,
             tracker="auto", matte="auto", stream=None):
    """Make the demo shot (unless it is already there with the same parameters), run the job, write
    the contact sheet and report. Returns the report dict (``exit_code`` 0 on success)."""
    from .jobspec import add_object, new_job, polygon_prompt, save, validate
    from .runner import execute

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=stream or sys.stdout, flush=True))
    _check_shot(int(frames), size)  # before anything in --out is cleared (a rejected run keeps the last demo)
    out = _output_folder(out)
    _check_demo_folder(out)
    params = {"frames": int(frames), "size": [int(size[0]), int(size[1])], "first": int(first),
              "version": 1}
    pfile = os.path.join(out, _PARAMS_FILE)
    old = None
    if os.path.exists(pfile):
        try:
            with open(pfile) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
    t0 = time.monotonic()
    if old and old.get("params") == params and all(
            os.path.exists(old["shot"]["plate"].replace("####", "%04d" % f)) for f in old["shot"]["frames"]):
        shot = old["shot"]
        say("samatte demo: reusing the synthetic shot in %s" % out)
    else:
        # the folder is marked as the demo's before anything is cleared or written (a shot not yet complete:
        # never reused): a first run stopped while it wrote its shot (Ctrl-C, a kill, a full disk) left
        # plate/plate.*.exr with no mark, and the next demo there refused samatte's own folder as foreign
        _write_params(pfile, {"params": dict(params, complete=False),
                              "shot": {"plate": os.path.join(out, "plate", "plate.####.exr")}})
        _clear_previous(out)
        say("samatte demo: writing a %d-frame %dx%d synthetic EXR shot to %s" % (frames, size[0], size[1], out))
        shot = make_shot(out, frames=frames, size=size, first=first)
        _write_params(pfile, {"params": params, "shot": shot})
    t_shot = time.monotonic() - t0

    job = new_job(shot["plate"], os.path.join(out, "matte", "matte.####.exr"),
                  frames="%d-%d" % (shot["frames"][0], shot["frames"][-1]), name="samatte_demo",
                  tracker=tracker, matte=matte, overwrite=overwrite)
    add_object(job, "ball", [polygon_prompt(shot["prompt_frame"], shot["polygon"])])
    job = validate(job)
    job_path = save(job, os.path.join(out, "job.json"))
    say("samatte demo: running %s (prompt: a %d-point polygon on frame %d)"
        % (job_path, len(shot["polygon"]), shot["prompt_frame"]))
    t1 = time.monotonic()
    code, result = execute(job, quiet=quiet, summary=False)
    t_job = time.monotonic() - t1
    report = {"exit_code": code, "out": out, "job": job_path, "plate": shot["plate"], "true_alpha": shot["gt"],
              "samatte_version": __version__, "shot_s": round(t_shot, 2), "job_s": round(t_job, 2)}
    if code != 0:
        say("samatte demo: the job failed (exit status %d); see the error above" % code)
        return report

    # Compare with the true alpha; build the contact sheet.
    from .colour import ColourTransform
    from .io.exr import read_rgb
    ct = ColourTransform()
    frames_l = shot["frames"]
    mads, binary_mads = {}, {}
    for f in frames_l:
        gt = read_alpha(shot["gt"].replace("####", "%04d" % f))
        a = read_alpha(job["output"]["path"].replace("####", "%04d" % f))
        mads[str(f)] = round(float(np.mean(np.abs(a - gt)) * 1e3), 3)
        binary_mads[str(f)] = round(float(np.mean(np.abs((gt > 0.5).astype(np.float32) - gt)) * 1e3), 3)
    n_rows = min(6, len(frames_l))
    picks = sorted({frames_l[int(round(k * (len(frames_l) - 1) / max(1, n_rows - 1)))] for k in range(n_rows)}
                   | {shot["prompt_frame"]})
    rows = []
    for f in picks:
        disp = ct.to_display(read_rgb(shot["plate"].replace("####", "%04d" % f)))
        gt = read_alpha(shot["gt"].replace("####", "%04d" % f))
        a = read_alpha(job["output"]["path"].replace("####", "%04d" % f))
        label = "%d%s" % (f, "*" if f == shot["prompt_frame"] else "")
        rows.append((label, disp, gt, a))
    sheet = contact_sheet(os.path.join(out, "contact_sheet.png"), rows)
    mad = float(np.mean(list(mads.values())))
    report.update({
        "matte": job["output"]["path"], "contact_sheet": sheet, "frames": frames_l,
        "prompt_frame": shot["prompt_frame"], "tracker": result.get("tracker"), "matte_backend": result.get("matte"),
        "written": len(result.get("written") or []), "skipped": len(result.get("skipped") or []),
        "mad": round(mad, 3), "mad_per_frame": mads,
        "mad_of_thresholded_true_alpha": round(float(np.mean(list(binary_mads.values()))), 3),
        "scores": result.get("scores"), "colour": ct.describe(),
    })
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    say("")
    say("samatte demo done in %.1f s (shot %.1f s, job %.1f s; tracker %s, matte %s)"
        % (time.monotonic() - t0, t_shot, t_job, report["tracker"], report["matte_backend"]))
    say("  plate:          %s" % shot["plate"])
    say("  true alpha:     %s" % shot["gt"])
    say("  job:            %s" % job_path)
    say("  matte:          %s  (%d written, %d already complete)" % (job["output"]["path"], report["written"],
                                                                    report["skipped"]))
    say("  contact sheet:  %s" % sheet)
    say("  report:         %s" % os.path.join(out, "report.json"))
    say("  MAD vs true alpha: %.2f (x1e-3, mean over %d frames; worst frame %.2f; a perfect hard mask "
        "would score %.2f)" % (mad, len(frames_l), max(mads.values()), report["mad_of_thresholded_true_alpha"]))
    return report
