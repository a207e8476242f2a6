"""QC of a job's output: every frame present, readable and current; a report and a contact sheet.

``run_qc(job, *, report_dir=None, frames=None, sheet_frames=10) -> dict`` checks each frame of the job
(or of ``frames``):

* present: the output EXR exists;
* readable: it opens, has an ``A`` channel, and every alpha value is finite and in [0, 1];
* current: :func:`samatte.pipeline.frame_status` calls it ``complete`` (its stored key matches what
  the job, its input files, the resolved backends and samatte's version give now), not ``stale``.

It writes ``qc.json`` (per-frame status, problem and score, the lowest scores, counts) and
``contact_sheet.png`` (plate | alpha | over a checkerboard | the objects, each in its colour, for the
first, last, lowest-scoring and evenly spaced frames) into ``report_dir`` (default ``<work dir>/qc``, the work dir being the job's
``work_dir`` or ``<output folder>/.samatte/<job name>/<output file>/``: :func:`samatte.jobspec.default_work_dir`). :class:`QcError` (code ``QC_FAILED``, exit
status 5) when a frame fails; its details name the frames and the report.
"""
import json
import math
import os
import re

from ..errors import OutputError, QcError

__all__ = ["run_qc", "QcError", "read_scores", "default_report_dir", "LOW_SCORE", "FIX_HINTS"]

#: frames scoring below this are listed as low (the pipeline's own "flagged" threshold)
LOW_SCORE = 0.5


#: what to do about a failed frame (``qc.json``'s per-frame ``fix``; the text output says it once per kind)
FIX_RERUN = "rerun"       # missing or stale: `samatte run JOB.json` (or the farm job's Matte task) redoes it
FIX_FOREIGN = "remove"    # a file samatte did not write for this job: a re-run refuses to replace it
FIX_PIXELS = "inspect"    # current but its pixels are bad (non-finite / out of range): re-run with --overwrite
FIX_HINTS = {
    FIX_RERUN: "re-run the job (samatte run JOB.json, or the farm job's Matte step) to redo them",
    FIX_FOREIGN: "samatte did not write these for this job and a re-run does not replace them: move them "
                 "away (or re-run with --overwrite), then re-run",
    FIX_PIXELS: "current by their keys, yet their pixels are bad: re-run with --overwrite for these frames "
                "(--frames), and report it",
}


#: added to the ``rerun`` hint when some of its frames are stale, not missing: a farm job embeds the job as it was
#: exported, so after an edit of JOB.json its Matte step writes the old settings again (and QC fails again)
STALE_RERUN_HINT = ("re-run the job (samatte run JOB.json) to redo them; on the farm, if JOB.json was edited since "
                    "its bundle was exported, re-export it (samatte farm export JOB.json) and submit the new bundle: "
                    "the old bundle's Matte step keeps the frames of the settings it was exported with")


def _rerun_hint(frames, per):
    """The ``rerun`` fix's hint for ``frames``: :data:`STALE_RERUN_HINT` when one of them is stale (written from
    other settings or input files: the job may have been edited since the farm export), else the plain one."""
    if any(per[str(f)]["key"] == "stale" or str(per[str(f)]["problem"] or "").startswith("stale") for f in frames):
        return STALE_RERUN_HINT
    return FIX_HINTS[FIX_RERUN]


def _problem_text(why):
    """QC's wording of a frame's problem from :meth:`MatteWriter.file_problem` (stale ones start ``stale``,
    as before)."""
    why = str(why)
    if why.startswith("stale: "):
        return "stale (%s)" % why[len("stale: "):]
    return why


def default_report_dir(job):
    from ..trackcache import default_work_dir
    return os.path.join(default_work_dir(job), "qc")


def _object_scores(spec):
    """``{object: score}`` of a frame's ``samatte/object_scores`` ({} when absent or not readable)."""
    try:
        doc = json.loads(str(spec.getattribute("samatte/object_scores") or "{}"))
        return {str(k): float(v) for k, v in doc.items() if v is not None and math.isfinite(float(v))}
    except (TypeError, ValueError, AttributeError):
        return {}


def _check_frame(path, objects=None, layers=(), coverage=None):
    """(problem or None, score or None) for one output frame; ``objects``: a dict that
    gets the frame's per-object scores. ``layers``: the job's object names: their ``<name>.A`` layers
    the frame has are read with ``A`` (one read: a zip EXR's chunks are decompressed whole anyway) and
    checked as it is (finite, in [0, 1]: a comp reads them too); ``coverage``: a dict that gets each
    one's (mean, max) alpha."""
    import numpy as np
    import OpenImageIO as oiio
    from ..io.writer import object_channel
    if not os.path.isfile(path):
        return "missing", None
    inp = oiio.ImageInput.open(path)
    if inp is None:
        return "unreadable: %s" % (oiio.geterror() or "cannot open"), None
    try:
        spec = inp.spec()
        names = list(spec.channelnames)
        if "A" not in names:
            return "unreadable: no A channel", None
        want = ["A"] + [object_channel(n) for n in layers if object_channel(n) in names]
        idx = [names.index(c) for c in want]
        lo, hi = min(idx), max(idx) + 1
        px = inp.read_image(0, 0, lo, hi, "float")
        if px is None:
            return "unreadable: %s" % (inp.geterror() or "read failed"), None
        px = np.asarray(px, np.float32).reshape(spec.height, spec.width, hi - lo)
        try:
            v = spec.getattribute("samatte/score")
            score = float(v) if v is not None else None
        except (TypeError, ValueError):
            score = None
        obj_scores = _object_scores(spec)
    finally:
        inp.close()
    if objects is not None:
        objects.update(obj_scores)
    for c in want:
        a = px[..., names.index(c) - lo]
        if not a.size:
            continue
        where = "" if c == "A" else " in %s" % c
        # one min and one max pass: both are NaN when a value is, +-inf when one is (no isfinite array)
        mn, mx = float(a.min()), float(a.max())
        if not (math.isfinite(mn) and math.isfinite(mx)):
            return "unreadable: non-finite alpha%s" % where, score
        if mn < -1e-3 or mx > 1.001:
            return "alpha%s outside [0, 1] (%.3f..%.3f)" % (where, mn, mx), score
        if c != "A" and coverage is not None:   # the mean of every 4th pixel each way: plenty for a share
            coverage[c[:-2]] = (float(a[::4, ::4].mean(dtype=np.float64)), mx)
    return None, score


def read_scores(job, frames=None):
    """``{frame: score or None}`` from the output EXRs' ``samatte/score`` metadata (headers only), for
    the job's frames (:func:`samatte.jobspec.plate_frames`, as ``run`` and ``qc`` take them: a frame not
    written yet is None, not left out) or ``frames``, a subset of them
    (a range string such as ``"1001-1010"`` or a list, as everywhere else)."""
    import OpenImageIO as oiio
    from ..frames import parse_frames
    from ..io.sequence import SequencePattern
    from ..jobspec import plate_frames
    from ..pipeline import _subset
    seq = SequencePattern(job["output"]["path"])
    all_frames = plate_frames(job)
    if all_frames:
        frames = _subset(frames, all_frames)
    elif frames is None:
        frames = seq.frames_on_disk()
    else:
        frames = parse_frames(frames)
    out = {}
    for f in frames:
        p = seq.path(f)
        score = None
        if os.path.isfile(p):
            inp = oiio.ImageInput.open(p)
            if inp is not None:
                try:
                    v = inp.spec().getattribute("samatte/score")
                    score = float(v) if v is not None else None
                except (TypeError, ValueError):
                    score = None
                finally:
                    inp.close()
        out[int(f)] = score
    return out


def _pick_sheet_frames(frames, scores, n):
    if len(frames) <= n:
        return list(frames)
    scored = sorted((s, f) for f, s in scores.items() if s is not None)
    pick = {frames[0], frames[-1]}
    for _s, f in scored[:max(1, n // 3)]:
        pick.add(f)
    k = n - len(pick)
    for i in range(k):
        pick.add(frames[int(round((i + 1) * (len(frames) - 1) / (k + 1)))])
    return sorted(pick)[:n] if len(pick) > n else sorted(pick)


def _display_plate(job, frame, shape):
    import numpy as np
    from ..io.source import FrameSource
    from ..jobspec import plate_frames
    from ..pipeline import plate_colour
    plate = job["plate"]
    try:
        # the display image the job's models saw (an integer plate: sRGB as stored, or decoded from the
        # colourspace the job names), not the config's view of the sRGB-decoded file values
        # (and a float plate in the colourspace its first frame's header names, as the job read it)
        colour = plate_colour(plate, plate_frames(job)[0])
        with FrameSource(plate["path"], [int(frame)], layer=plate.get("layer"), colour=colour, readahead=0) as src:
            disp = np.array(src.get(int(frame)).display)
            info = src.info
    except Exception:  # noqa: BLE001 - the sheet shows what it can
        return None
    if disp.shape[:2] != tuple(shape) and (info.display.height, info.display.width) == tuple(shape):
        # a plate whose data windows vary from frame to frame: its mattes lie on the display window
        from ..io.exr import place_window
        disp = place_window(disp, info.data, info.display)
    if disp.shape[:2] != tuple(shape):
        return None
    return np.clip(disp, 0, 1)


def _pixel_aspect(path):
    """The ``PixelAspectRatio`` of an EXR's header (1.0 when absent, unreadable or not a sane number)."""
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    if inp is None:
        return 1.0
    try:
        v = inp.spec().getattribute("PixelAspectRatio")
    finally:
        inp.close()
    try:
        v = float(v)
    except (TypeError, ValueError):
        return 1.0
    return v if math.isfinite(v) and 0.01 <= v <= 100.0 else 1.0


#: the objects column's colour of each object, by its place in the job (the same on every row and every sheet)
OBJECT_COLOURS = ((255, 99, 71), (65, 155, 255), (255, 205, 50), (80, 200, 120), (200, 110, 230),
                  (60, 215, 215), (255, 150, 60), (170, 170, 170))


def _sheet_layers(path, names):
    """``{"A": alpha, "<name>.A": alpha, ...}`` (float32, full size, non-finite values made 0 / 1) of an
    output frame, ``A`` and the objects' layers it has read in one go; None when it does not read."""
    import numpy as np
    import OpenImageIO as oiio
    from ..io.writer import object_channel
    inp = oiio.ImageInput.open(path)
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        ch = list(spec.channelnames)
        if "A" not in ch:
            return None
        want = ["A"] + [object_channel(n) for n in names if object_channel(n) in ch]
        idx = [ch.index(c) for c in want]
        lo, hi = min(idx), max(idx) + 1
        px = inp.read_image(0, 0, lo, hi, "float")
        if px is None:
            inp.geterror()
            return None
        px = np.asarray(px, np.float32).reshape(spec.height, spec.width, hi - lo)
    finally:
        inp.close()
    return {c: np.clip(np.nan_to_num(px[..., ch.index(c) - lo], nan=0.0, posinf=1.0, neginf=0.0), 0, 1)
            for c in want}


def _thumb(img, tw, th):
    """``img`` (H, W) or (H, W, 3) resized to ``tw`` x ``th`` (area average when shrinking: a 4K matte's
    hair is a grey edge, not aliased speckle)."""
    import cv2
    import numpy as np
    img = np.ascontiguousarray(img, np.float32)
    shrink = tw < img.shape[1] or th < img.shape[0]
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _wrap(text, width=17, lines=3):
    words, out = str(text).split(), [""]
    for w in words:
        if out[-1] and len(out[-1]) + 1 + len(w) > width:
            out.append("")
        out[-1] = (out[-1] + " " + w).strip()
    out = [x[:width] for x in out]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][:width - 1] + "~"
    return out


def _legend(draw, x, right, colours):
    """The objects column's legend: each object's name in its colour, from ``x`` (``...`` past ``right``)."""
    for n, c in colours.items():
        if x + draw.textlength(n) > right:
            draw.text((x, 5), "...", fill=(220, 220, 220))
            break
        draw.text((x, 5), n, fill=c)
        x += int(draw.textlength(n + " "))


def _label(draw, y, th, frame, score, problem, worst):
    """A row's label: frame, score, the lowest-scoring object of a low frame, the problem (wrapped)."""
    bad = problem is not None or (score is not None and score < LOW_SCORE)
    colour = (255, 110, 100) if bad else (220, 220, 220)
    text = [str(frame), "score %s" % ("-" if score is None else "%.2f" % score)]
    if worst and score is not None and score < LOW_SCORE:
        text.append("lowest: %s" % worst)
    if problem:
        text += _wrap(problem)
    for k, t in enumerate(text):
        draw.text((6, y + th // 2 - 14 + 14 * k - 7 * max(0, len(text) - 3)), t[:18], fill=colour)


def _row_images(job, frame, lay, colours, tw, th, checker):
    """A row's thumbnails (``th`` x ``tw`` x 3 in [0, 1], or None: n/a): plate, alpha, over the
    checkerboard, objects (None when the frame has no object layers). ``lay``: the frame's shrunk layers
    and its full ``shape``."""
    import numpy as np
    from ..io.writer import object_channel
    alpha = lay["A"]
    disp = _display_plate(job, frame, lay["shape"])
    disp = None if disp is None else np.clip(_thumb(disp, tw, th), 0, 1)
    comp = None if disp is None else disp * alpha[..., None] + checker * (1 - alpha[..., None])
    objs = np.zeros((th, tw, 3), np.float32)
    for n, c in colours.items():
        if object_channel(n) in lay:   # screen: overlapping objects mix, none hides another
            c = np.asarray(c, np.float32) / 255.0
            objs = 1 - (1 - objs) * (1 - lay[object_channel(n)][..., None] * c)
    return disp, np.repeat(alpha[..., None], 3, -1), comp, (objs if len(lay) > 2 else None)


def _contact_sheet(path, job, rows, *, thumb_width=240, pixel_aspect=1.0):
    """rows: (frame, score, problem, output path or None, lowest-scoring object or None). The thumbnails
    are shaped as a host shows the plate: a ``pixel_aspect`` of 2.0 (anamorphic) makes them twice as wide
    for their height as the stored pixels (Nuke's Viewer and OpenEXR's exrdisplay scale x by the pixel
    aspect). Columns: the plate, the merged alpha, the alpha over a checkerboard (drawn at the
    thumbnail's size: 12 px squares on every plate, where a 4K plate's checkerboard, drawn at full size
    and shrunk, was a flat grey) and the objects, each in its colour (:data:`OBJECT_COLOURS`, by its
    place in the job; the legend above). Each output frame is read once here, then shrunk."""
    import numpy as np
    from PIL import Image, ImageDraw
    from ..demo import _checker
    names = [o["name"] for o in job["objects"]]
    layers, tw, th = {}, int(thumb_width), None
    for r in rows:   # each frame read once, its layers shrunk at once (10 4K frames' layers would be ~2 GB)
        got = None if r[3] is None else _sheet_layers(r[3], names)
        if got is None:
            continue
        if th is None:
            h0, w0 = got["A"].shape
            th = max(1, int(round(h0 * tw / (w0 * float(pixel_aspect or 1.0)))))
        layers[r[0]] = dict({c: _thumb(a, tw, th) for c, a in got.items()}, shape=got["A"].shape)
        del got
    if not layers:
        return None
    pad, head, lab = 6, 22, 110
    cols = ["plate (display)", "alpha", "over checkerboard", "objects"]
    W = lab + len(cols) * (tw + pad) + pad
    H = head + len(rows) * (th + pad) + pad
    sheet = Image.new("RGB", (W, H), (28, 28, 30))
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(cols):
        draw.text((lab + pad + j * (tw + pad), 5), name, fill=(220, 220, 220))
    colours = {n: OBJECT_COLOURS[i % len(OBJECT_COLOURS)] for i, n in enumerate(names)}
    _legend(draw, lab + pad + 3 * (tw + pad) + int(draw.textlength("objects: ")), W - pad, colours)
    checker = _checker(th, tw)
    for i, (frame, score, problem, _path, worst) in enumerate(rows):
        y = head + pad + i * (th + pad)
        _label(draw, y, th, frame, score, problem, worst)
        lay = layers.get(frame)
        if lay is None:
            continue
        for j, t in enumerate(_row_images(job, frame, lay, colours, tw, th, checker)):
            x = lab + pad + j * (tw + pad)
            if t is None:
                draw.text((x + 8, y + th // 2), "n/a", fill=(150, 150, 150))
                continue
            sheet.paste(Image.fromarray((np.clip(t, 0, 1) * 255 + 0.5).astype(np.uint8)), (x, y))
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("Software", _SHEET_MARK)
    _save(path, _temp(path), lambda tmp: sheet.save(tmp, format="PNG", pnginfo=info))
    return path


_SHEET_MARK = "samatte qc contact sheet"      # a PNG text chunk (Software) in every sheet samatte writes


def _own_report(path):
    """``qc.json`` of an earlier samatte QC (its report's fields), or None when it is not one."""
    try:
        from ..inputfile import open_regular
        f, _st = open_regular(path)
        with f:
            doc = json.loads(f.read(1 << 26).decode("utf-8"))
    except (OSError, ValueError):
        return None
    keys = ("job", "ok", "frames", "counts", "keys_checked")
    return doc if isinstance(doc, dict) and all(k in doc for k in keys) else None


def _own_sheet(path, report):
    """Whether ``path`` is a contact sheet samatte wrote: marked, or beside samatte's own ``qc.json`` (a
    sheet from before the mark; the report may name it under another machine's root)."""
    try:
        from ..inputfile import open_regular
        f, _st = open_regular(path)
        with f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if head.startswith(b"\x89PNG") and _SHEET_MARK.encode("ascii") in head:
        return True
    return report is not None


def check_report_dir(report_dir):
    """OutputError (before anything is written) when ``report_dir`` holds a ``qc.json`` or
    ``contact_sheet.png`` that samatte's QC did not write: `samatte qc --report DIR` never replaces
    someone's own files; its own earlier report there is replaced."""
    rpath = os.path.join(report_dir, "qc.json")
    spath = os.path.join(report_dir, "contact_sheet.png")
    report = _own_report(rpath) if os.path.lexists(rpath) else None
    for path, mine in ((rpath, report is not None),
                       (spath, os.path.lexists(spath) and _own_sheet(spath, report))):
        if os.path.lexists(path) and not mine:
            raise OutputError("%s exists and is not samatte's QC report: samatte does not replace it; choose "
                              "another report folder (--report) or remove it" % path, path=path)


def prepare_report_dir(report_dir):
    """Make ``report_dir`` (OutputError when it cannot be made or written: a read-only published output,
    another user's folder; the message says to give a writable one) and :func:`check_report_dir` it."""
    hint = "give QC a writable report folder (samatte qc --report DIR)"
    try:
        os.makedirs(report_dir, exist_ok=True)
    except OSError as e:
        raise OutputError("cannot create the QC report folder %s: %s; %s" % (report_dir, e.strerror or e, hint),
                          path=report_dir)
    if not os.access(report_dir, os.W_OK | os.X_OK):
        raise OutputError("the QC report folder %s is not writable (a read-only or locked output?); %s"
                          % (report_dir, hint), path=report_dir)
    check_report_dir(report_dir)


#: the temp names QC used until 0.2.18 (``qc.json.<pid>.tmp``, ``contact_sheet.png.<pid>.tmp.png``): no host in
#: them, so one is removed only once older than the temp age limit (it may be another machine's write)
_OLD_TMP_RX = re.compile(r"^(?P<host>)(?:qc\.json|contact_sheet\.png)\.(?P<pid>\d+)\.tmp(?:\.png)?$")


def _temp(path):
    """The temp name of a report file: the track cache's (``.<name>.<host>.<pid>.<random>.tmp``). Before,
    ``<name>.<pid>.tmp[.png]``: a QC task killed while writing (SIGKILL, a farm's cancel past its notify
    period) left it in the report folder for good, and two QC tasks of one job on two nodes with the same
    pid (containers) wrote the same temp file at once."""
    from ..trackcache import temp_name
    return temp_name(path)


def remove_stale_temps(report_dir):
    """Remove the report temps a killed QC left in ``report_dir`` (of a dead process of this host, or
    older than the temp age limit; never another machine's write in flight). Returns how many went."""
    from ..io.writer import default_temp_max_age, remove_temps
    from ..trackcache import remove_stale_temps as remove_own
    return remove_own(report_dir) + remove_temps(report_dir, _OLD_TMP_RX, default_temp_max_age(), own=False)


def _save(path, tmp, write):
    """``write(tmp)``, then ``tmp`` renamed to ``path``; a failure is an OutputError, no temp left."""
    from ..atomic import write_atomically
    write_atomically(path, tmp, write, what="QC report file")


def _dump_json(doc):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
    return write


#: an object's layer whose alpha stays below this on a whole frame is empty there; above FULL in the mean, full
EMPTY_MAX = 0.01
FULL_MEAN = 0.98


def _temp_warnings(temps):
    """qc.json ``warnings`` of kind ``temp``: the output writer's temp files in the output folder (a pre-empted
    node's frame in flight; :func:`samatte.io.writer.leftover_temps`), whose host, how old, who removes them.
    Reported, never removed: qc only reads the outputs."""
    out = []
    for t in temps:
        age = t["age_s"]
        out.append({"kind": "temp", "path": t["path"], "host": t["host"], "pid": t["pid"], "age_s": age,
                    "abandoned": t["abandoned"],
                    "message": "leftover temp file %s (host %s, pid %d, %s): not a frame; %s" % (
                        t["path"], t["host"] or "unknown", t["pid"],
                        "dated in the future" if age < 0 else "%.0f s old" % age if age < 7200 else
                        "%.1f h old" % (age / 3600), t["note"])})
    return out


def _object_warnings(job, coverage):
    """What a supervisor looks at before comp though no check fails on it (qc.json ``warnings``; not a failure):
    an object whose layer is empty (alpha below :data:`EMPTY_MAX` everywhere) on frames it is not ``absent``
    on while it shows on others (a lost track), or that covers the whole frame (:data:`FULL_MEAN`)."""
    from ..frames import format_frames
    from ..jobspec import object_absent
    out = []
    for o in job["objects"]:
        n, gone = o["name"], object_absent(o)
        cov = {f: c[n] for f, c in coverage.items() if n in c}
        empty = sorted(f for f, (_m, mx) in cov.items() if mx < EMPTY_MAX and f not in gone)
        if empty and len(empty) < len(cov):
            out.append({"object": n, "kind": "empty", "frames": format_frames(empty),
                        "message": "object %s: alpha 0 everywhere on frame(s) %s, where it is not absent and "
                                   "other frames show it: a lost track? (`absent` in the job when it is meant)"
                                   % (n, format_frames(empty))})
        full = sorted(f for f, (m, _mx) in cov.items() if m > FULL_MEAN)
        if full:
            out.append({"object": n, "kind": "full", "frames": format_frames(full),
                        "message": "object %s: alpha 1 on (almost) the whole frame on frame(s) %s"
                                   % (n, format_frames(full))})
    return out


def run_qc(job, *, report_dir=None, frames=None, sheet_frames=10, raise_on_failure=True, on_frame=None):
    """Check a job's output frames; write ``qc.json`` and ``contact_sheet.png``; return the report.
    ``on_frame(done, total, frame)``: called after each frame is checked (``qc --openjd``'s progress)."""
    from ..frames import parse_frames
    from ..io.sequence import SequencePattern
    from ..jobspec import plate_frames
    from ..pipeline import _subset, frame_status, load_job
    from ..pipeline import check_environment
    check_environment()   # before the report folder is made or a frame read (before: after every frame, the folder made)
    job = load_job(job)
    seq = SequencePattern(job["output"]["path"])
    all_frames = plate_frames(job)
    if frames is None:
        frames = list(all_frames)
    elif all_frames:
        frames = _subset(frames, all_frames)    # frames the job does not have: refused, as by run and status
    else:
        frames = parse_frames(frames)
    # the report's folder before a frame is checked: a published (read-only) output's default folder failed
    # the command only once every frame had been read, and said nothing of --report
    report_dir = os.path.abspath(report_dir or default_report_dir(job))
    prepare_report_dir(report_dir)
    # a frame the plate's render dropped is no frame of a job that names none: said, as run says it
    from ..jobspec import plate_gaps
    gap = plate_gaps(job, all_frames)
    gaps = [{"kind": "plate_gap", "message": gap}] if gap else []
    status = frame_status(job)
    fstat = status["frames"]
    per, scores, coverage = {}, {}, {}
    names = [o["name"] for o in job["objects"]]
    for f in frames:
        obj, cov = {}, {}
        problem, score = _check_frame(seq.path(f), obj, names, cov)
        coverage[f] = cov
        st = fstat.get(str(f))
        why = status["problems"].get(str(f))
        fix = None
        if why is not None:
            # not complete: what is wrong with the file (not samatte's, another job's, its size, a layer
            # gone, truncated, written from other settings), and what a supervisor does about it
            problem = _problem_text(why["problem"])
            fix = FIX_FOREIGN if why["status"] == "foreign" else FIX_RERUN
        elif problem is None and st is not None and st != "complete":
            problem = "stale (key not current)" if st == "stale" else st
        if problem is not None and fix is None:
            fix = FIX_RERUN if st in ("missing", "stale") else FIX_PIXELS
        per[str(f)] = {"path": seq.path(f), "status": "ok" if problem is None else "failed",
                       "problem": problem, "score": None if score is None else round(score, 4),
                       "key": st, "fix": fix,
                       "object_scores": {k: round(v, 4) for k, v in sorted(obj.items())},
                       "coverage": {k: round(v[0], 6) for k, v in sorted(cov.items())}}
        scores[f] = score
        if on_frame is not None:
            on_frame(len(per), len(frames), f)
    failed = [int(k) for k, v in per.items() if v["problem"] is not None]
    from ..frames import format_frames
    low = sorted(((s, f) for f, s in scores.items() if s is not None and s < LOW_SCORE))

    def worst(f):   # the object that scored lowest on frame f (the frame's score is its score, roughly)
        obj = per[str(f)]["object_scores"]
        return min(obj, key=lambda k: (obj[k], k)) if obj else None
    remove_stale_temps(report_dir)
    pick = _pick_sheet_frames(frames, scores, int(sheet_frames))
    rows = []
    aspect = None
    for f in pick:
        shown = None
        if per[str(f)]["problem"] is None or per[str(f)]["problem"].startswith("stale"):
            shown = seq.path(f)   # re-read by the sheet: only the sheet's frames, shrunk, are kept in memory
            if aspect is None:
                aspect = _pixel_aspect(seq.path(f))   # the plate's, which every output frame carries
        rows.append((f, scores.get(f), per[str(f)]["problem"], shown, worst(f)))
    sheet_path = _contact_sheet(os.path.join(report_dir, "contact_sheet.png"), job, rows,
                                pixel_aspect=aspect or 1.0)
    valid = [s for s in scores.values() if s is not None and math.isfinite(s)]
    report = {
        "job": job["name"], "ok": not failed, "frames": per,
        "counts": {"frames": len(frames), "ok": len(frames) - len(failed), "failed": len(failed),
                   "low_score": len(low)},
        "failed": failed, "low_scores": [{"frame": f, "score": round(s, 4), "object": worst(f)} for s, f in low],
        "warnings": _object_warnings(job, coverage) + _temp_warnings(status.get("temps") or []) + gaps,
        "fixes": {k: {"frames": format_frames(fs), "hint": _rerun_hint(fs, per) if k == FIX_RERUN else FIX_HINTS[k]}
                  for k, fs in
                  ((k, [f for f in failed if per[str(f)]["fix"] == k]) for k in sorted(FIX_HINTS)) if fs},
        "mean_score": round(sum(valid) / len(valid), 4) if valid else None,
        "keys_checked": True, "resolved": status["resolved"],
        "contact_sheet": sheet_path, "sheet_frames": pick, "output": job["output"]["path"],
    }
    rpath = os.path.join(report_dir, "qc.json")
    _save(rpath, _temp(rpath), _dump_json(report))
    report["report"] = rpath
    if failed and raise_on_failure:
        raise QcError("QC failed on %d of %d frame(s): %s (report %s)"
                      % (len(failed), len(frames), format_frames(failed)[:200], rpath),
                      frames=format_frames(failed), report=rpath)
    return report
