"""Registry, location, download and safe loading of model weights (SAM 2.1 checkpoints).

Standard library only at import time; torch is imported inside the functions that need it.

Where weights live (:func:`models_dir`), first match wins:

1. ``$SAMATTE_MODELS`` when set;
2. ``<sys.prefix>/../models`` when Python runs inside a virtual environment whose parent folder
   holds a ``models`` folder -- the installer's layout is ``<root>/venv`` + ``<root>/models``, so a
   studio install keeps its weights beside its venv (a developer's venv without that folder does
   not match);
3. ``~/.samatte/models``.

Install a checkpoint with::

    python -m samatte.models download sam2.1_hiera_tiny
    python -m samatte.models download sam2.1_hiera_tiny --offline-dir /studio/share/models  # no network
    python -m samatte.models list

A studio mirror: ``SAMATTE_WEIGHTS_URL=https://mirror.studio/sam2/`` (or ``file:///share/sam2/``) is
fetched from instead of Meta's address, the same file names and checksums (:func:`download_url`).

Checksums. The SHA-256 values below are the Git-LFS object ids of the files as published on the
Hugging Face hub: ``sam2.1_hiera_tiny`` from Meta's own repository ``facebook/sam2.1-hiera-tiny``;
small, base+ and large from public mirrors of Meta's 2024-09-28 release (``camenduru/sam2-1-hiera``,
with identical ids for large in several independent uploads and for tiny matching Meta's repo).
They were *not* checked against the bytes served by ``dl.fbaipublicfiles.com`` (no network where
this was written). A mismatch raises :class:`WeightsCorruptError`; for a model whose ``sha256`` is
None we use trust-on-first-use: after the first complete download (size equal to the announced
length) we write ``<file>.sha256`` and verify every later copy against it.
"""
import hashlib
import os
import re
import sys
import uuid
from collections import namedtuple
from pathlib import Path

from .errors import ModelError, WeightsCorruptError, WeightsMissingError, out_of_memory
from .progress import Progress
from .registry import MODEL_ALIASES

__all__ = ["ModelInfo", "MODELS", "ALIASES", "get_model", "models_dir", "search_dirs", "find_weights",
           "require_weights", "size_complete", "weights_status", "download", "download_url", "verify_checksum", "sha256_file", "load_state_dict",
           "resolve_device"]

#: name: registry key; config: sam2's Hydra config name; filename: checkpoint file name;
#: url: Meta's public download address; sha256: hex digest or None (trust on first use);
#: size: bytes or None.
ModelInfo = namedtuple("ModelInfo", "name config filename url sha256 size")

_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


def _info(name, config, filename, sha256, size):
    return ModelInfo(name, config, filename, _BASE_URL + filename, sha256, size)


MODELS = {
    "sam2.1_hiera_tiny": _info("sam2.1_hiera_tiny", "configs/sam2.1/sam2.1_hiera_t.yaml",
                               "sam2.1_hiera_tiny.pt",
                               "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", 156008466),
    "sam2.1_hiera_small": _info("sam2.1_hiera_small", "configs/sam2.1/sam2.1_hiera_s.yaml",
                                "sam2.1_hiera_small.pt",
                                "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", 184416285),
    "sam2.1_hiera_base_plus": _info("sam2.1_hiera_base_plus", "configs/sam2.1/sam2.1_hiera_b+.yaml",
                                    "sam2.1_hiera_base_plus.pt",
                                    "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
                                    323606802),
    "sam2.1_hiera_large": _info("sam2.1_hiera_large", "configs/sam2.1/sam2.1_hiera_l.yaml",
                                "sam2.1_hiera_large.pt",
                                "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", 898083611),
}

#: Short names accepted wherever a model name is (one table with the JobSpec's check, in the registry).
ALIASES = MODEL_ALIASES

_CHUNK = 1 << 20


def get_model(name):
    """The :class:`ModelInfo` for a registry name, alias or checkpoint file name."""
    if isinstance(name, ModelInfo):
        return name
    key = str(name).strip()
    if key.endswith(".pt"):
        key = key[:-3]
    key = ALIASES.get(key.lower(), key)
    info = MODELS.get(key)
    if info is None:
        raise ModelError("unknown model %r; known models: %s" % (name, ", ".join(sorted(MODELS))),
                         model=str(name))
    return info


#: $SAMATTE_MODELS value -> the folder it named when first read (a relative one from the then current folder)
_RESOLVED_MODELS: dict = {}


def models_dir():
    """The folder where weights are installed and looked up first (see the module docstring)."""
    env = os.environ.get("SAMATTE_MODELS")
    if env:
        # a relative one is taken from the folder this process first read it in, once: before, it was looked up
        # from whatever the current folder was at each look (and `farm export` sent it unresolved as ModelsDir,
        # which a node takes from its task's session folder)
        if env not in _RESOLVED_MODELS:
            _RESOLVED_MODELS[env] = Path(os.path.abspath(os.path.expanduser(env)))
        return _RESOLVED_MODELS[env]
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        cand = Path(sys.prefix).resolve().parent / "models"
        if cand.is_dir():
            return cand
    return Path.home() / ".samatte" / "models"


def search_dirs():
    """Folders :func:`find_weights` looks in, in order (no duplicates)."""
    out = []
    for d in (models_dir(), Path.home() / ".samatte" / "models"):
        if d not in out:
            out.append(d)
    return out


def find_weights(name):
    """Path of the installed checkpoint for ``name``, or None. Cheap: checks existence and size only."""
    info = get_model(name)
    for d in search_dirs():
        p = d / info.filename
        if p.is_file() and p.stat().st_size > 0:
            return p
    return None


def size_complete(info, size):
    """Whether an installed checkpoint of ``size`` bytes can be ``info``'s file: its published size, when
    the registry knows it (one stat, no hashing: what a job and ``samatte models list`` check)."""
    return not info.size or size == info.size


def weights_status(name):
    """What a job would find for ``name`` (one stat, no hashing): ``{"path", "installed_size",
    "complete", "readable", "problem"}`` -- ``complete`` / ``readable`` None when nothing is found,
    ``problem`` None or a short text (``INCOMPLETE ...``: WEIGHTS_CORRUPT when loaded; ``UNREADABLE
    ...``: MODEL_ERROR). The one reading of ``samatte models list`` and ``samatte info``."""
    info = get_model(name)
    path = find_weights(info.name)
    if path is None:
        return {"path": None, "installed_size": None, "complete": None, "readable": None, "problem": None}
    have = path.stat().st_size
    complete = size_complete(info, have)
    readable = os.access(str(path), os.R_OK)
    problem = None
    if not complete:
        problem = "INCOMPLETE (%d of %d bytes; download it again)" % (have, info.size)
    elif not readable:
        problem = "UNREADABLE by this user (permissions)"
    return {"path": path, "installed_size": have, "complete": complete, "readable": readable, "problem": problem}


def install_command(name):
    return "python -m samatte.models download %s" % get_model(name).name


def _unreadable(path, err, info=None):
    """The error for a weights file that exists but this user cannot read (a studio share's
    permissions, an ACL, root squash): MODEL_ERROR, not WEIGHTS_CORRUPT -- the file may well be whole,
    and it is not this user's to delete."""
    what = ("%s " % info.name) if info is not None else ""
    return ModelError("cannot read the %sweights %s: %s. The file is there but this user (uid %s) may not "
                      "read it: ask whoever owns the models folder to make it readable (chmod a+r), or set "
                      "SAMATTE_MODELS to a folder with a readable copy"
                      % (what, path, getattr(err, "strerror", None) or err,
                         os.getuid() if hasattr(os, "getuid") else "?"),
                      path=str(path), reason="unreadable", **({"model": info.name} if info is not None else {}))


def _check_readable(path, info=None):
    """Open ``path`` for reading and close it (no bytes read): raises :func:`_unreadable`'s error when
    the permissions refuse it, so a job stops when its tracker is made, not when the model loads."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise WeightsMissingError("%s does not exist" % path, path=str(path))
    except OSError as e:
        raise _unreadable(path, e, info)
    return path


def require_weights(name, checkpoint=None):
    """Path of the checkpoint to load: ``checkpoint`` when given (must exist), else the installed one.

    Raises :class:`WeightsMissingError` naming the file, the folders searched and the install command,
    and :class:`WeightsCorruptError` when the installed file's size is not the published one's.
    """
    info = get_model(name)
    if checkpoint is not None:
        p = Path(checkpoint).expanduser()
        if not p.is_file():
            raise WeightsMissingError("checkpoint file %s does not exist" % p, path=str(p), model=info.name)
        return _check_readable(p, info)
    p = find_weights(info.name)
    if p is None:
        dirs = [str(d) for d in search_dirs()]
        raise WeightsMissingError(
            "SAM2 weights %s not found (looked in %s). Install them with:  %s   (or set SAMATTE_MODELS "
            "to a folder that holds %s; without network: %s --offline-dir <folder with %s>)"
            % (info.filename, ", ".join(dirs), install_command(info.name), info.filename,
               install_command(info.name), info.filename),
            model=info.name, file=info.filename, searched=dirs, command=install_command(info.name))
    size = p.stat().st_size
    if not size_complete(info, size):  # a truncated or wrong copy: say so before torch tries to unpickle it
        raise WeightsCorruptError(
            "%s is %d bytes, but the published %s is %d bytes: an incomplete or wrong copy. Delete it and "
            "install it again:  %s" % (p, size, info.filename, info.size, install_command(info.name)),
            path=str(p), model=info.name, size=size, expected=info.size, command=install_command(info.name))
    return _check_readable(p, info)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _sidecar(path):
    return Path(str(path) + ".sha256")


def _sidecar_digest(path):
    """The SHA-256 recorded beside a weights file (``<file>.sha256``, trust on first use), or None."""
    side = _sidecar(path)
    if not side.is_file():
        return None
    return (side.read_text().split() or [None])[0]


def verify_checksum(path, sha256=None):
    """Check ``path`` against ``sha256`` (hex); with None, against its ``<file>.sha256`` sidecar if any.

    Returns the file's digest; raises :class:`WeightsCorruptError` on mismatch and
    :class:`WeightsMissingError` when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError("%s does not exist" % path, path=str(path))
    try:
        digest = sha256_file(path)
    except OSError as e:
        raise _unreadable(path, e)
    expected = sha256
    source = "registry"
    if expected is None:
        expected = _sidecar_digest(path)
        source = "sidecar %s" % _sidecar(path).name
    if expected is not None and digest.lower() != expected.lower():
        raise WeightsCorruptError("%s is corrupt: SHA-256 %s does not match the expected %s (%s); delete it "
                                  "and download it again" % (path, digest, expected, source),
                                  path=str(path), sha256=digest, expected=expected)
    return digest


def _part_prefix(filename):
    """A download in flight is ``<file>.<host>.<pid>.<random>.part`` in the destination folder (host and
    pid as in the output writer's temp names), so a later download can tell an abandoned one."""
    try:
        from .io.writer import host_tag
        host = host_tag()
    except ImportError:  # numpy missing: the name still carries the pid
        host = "host"
    return "%s.%s.%d." % (filename, host, os.getpid())


def _create_part(dest, prefix):
    """Create the partial download ``<prefix><8 random>.part`` in ``dest`` (exclusively; it never takes
    an existing file); return ``(fd, path)``. Mode 0666 less the umask, as any file a tool writes: an
    installed checkpoint is that file renamed, and a studio's shared models folder must stay readable
    by the artists and farm users who did not download it (``tempfile.mkstemp`` makes 0600 files)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        path = os.path.join(str(dest), "%s%s.part" % (prefix, uuid.uuid4().hex[:8]))
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError("no free temporary name in %s" % dest)


def _remove_stale_parts(dest):
    """Remove partial downloads of known checkpoints in ``dest`` left by a killed download (SIGTERM,
    kill -9, a crash): of a dead process of this host, or untouched for the output writer's temp age
    limit (``SAMATTE_TEMP_MAX_AGE``); never a download in flight on another machine."""
    try:
        from .io.writer import default_temp_max_age, remove_temps
    except ImportError:
        return 0
    names = "|".join(re.escape(i.filename) for i in MODELS.values())
    rx = re.compile(r"^(?:%s)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[a-z0-9_]{8}\.part$" % names)
    return remove_temps(str(dest), rx, default_temp_max_age(), own=False)


def _emit(progress, done, total, msg):
    if progress is not None:
        progress(Progress("download", None, done, total or 0, msg))


def _copy_stream(src, dst_file, hasher, total, progress, msg):
    done = 0
    last = -1
    while True:
        block = src.read(_CHUNK)
        if not block:
            break
        dst_file.write(block)
        hasher.update(block)
        done += len(block)
        step = done * 100 // total if total else done // (16 * _CHUNK)
        if step != last:
            last = step
            _emit(progress, done, total, msg)
    return done


#: the address schemes a mirror may use (what urllib opens)
_MIRROR_SCHEMES = ("http", "https", "file")


def download_url(info):
    """Where :func:`download` fetches ``info``'s file: ``$SAMATTE_WEIGHTS_URL`` (a studio mirror: an
    http(s):// or file:// folder holding the files under their published names; an absolute folder path,
    a Windows UNC one included, is taken as its file:// address) + the file name when that is set, else Meta's address. Checksums are
    verified the same either way. A value that is no such address or path is MODEL_ERROR naming the
    variable (it was an unexpected error, a traceback, after the partial file was made)."""
    base = os.environ.get("SAMATTE_WEIGHTS_URL", "").strip()
    if not base:
        return info.url
    import urllib.parse
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme not in _MIRROR_SCHEMES:
        local = os.path.expanduser(base)
        if not os.path.isabs(local):
            raise ModelError("SAMATTE_WEIGHTS_URL must be an http://, https:// or file:// address of the folder "
                             "holding the weights (or that folder's absolute path), not %r" % base,
                             field="SAMATTE_WEIGHTS_URL", url=base)
        base = Path(local).as_uri()
        if not base.startswith("file:///"):
            # a Windows UNC folder (\\server\share\sam2): pathlib's file://server/share/sam2 names a file on the
            # host "server", which urllib does not open ("file not on local host", or \share\sam2 on this drive);
            # file:////server/share/sam2 is read as the path \\server\share\sam2
            base = "file:////" + base[len("file://"):]
    return base.rstrip("/") + "/" + info.filename


def _local_path(p):
    """``--offline`` given as a file:// URL (a studio's habit) is its local path."""
    text = os.fspath(p)
    if text.startswith("file:"):
        import urllib.parse
        import urllib.request
        return urllib.request.url2pathname(urllib.parse.urlparse(text).path)
    return text


def offline_path(p):
    """An ``--offline`` value as a local path: a file:// URL (README "Model weights") is its path, a
    path is returned as given (None stays None). Callers that make it absolute do so after this, so
    ``file:///share/w`` never becomes ``<cwd>/file:/share/w``."""
    return None if p is None else _local_path(p)


def download(name, *, dest=None, offline_dir=None, progress=None, force=False, timeout=60):
    """Install the checkpoint ``name`` into ``dest`` (default :func:`models_dir`) and return its path.

    Downloads Meta's file with urllib, or with ``offline_dir`` copies it from a studio's folder of
    pre-downloaded weights instead of using the network. Data goes to a temporary name in the
    destination folder and is renamed only once complete and verified (SHA-256 against the registry,
    or trust on first use, see module docstring). An existing verified file is kept unless ``force``.
    Partial files that killed downloads left here (a dead process of this host, or untouched for
    ``SAMATTE_TEMP_MAX_AGE`` seconds) are removed first; a download in flight elsewhere is not.
    ``progress`` is called with :class:`Progress` ("download", done bytes, total bytes).
    """
    info = get_model(name)
    dest = Path(dest).expanduser() if dest is not None else models_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError("cannot create the models folder %s: %s" % (dest, e.strerror or e), path=str(dest))
    target = dest / info.filename
    if target.is_file() and not force:
        try:
            verify_checksum(target, info.sha256)
            return target
        except WeightsCorruptError:
            pass  # replace it below
    if offline_dir is None:
        download_url(info)   # a bad $SAMATTE_WEIGHTS_URL: MODEL_ERROR before anything is written
    _remove_stale_parts(dest)
    try:
        fd, tmp = _create_part(dest, _part_prefix(info.filename))
    except OSError as e:  # a read-only shared folder, a full disk
        raise ModelError("cannot write into the models folder %s: %s (use a writable --dest, or point "
                         "SAMATTE_MODELS at a folder that already holds %s)"
                         % (dest, e.strerror or e, info.filename), path=str(dest))
    hasher = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            if offline_dir is not None:
                src_path = Path(_local_path(offline_dir)).expanduser()
                if src_path.is_dir():
                    src_path = src_path / info.filename
                if not src_path.is_file():
                    raise WeightsMissingError("%s not found in the offline folder %s" % (info.filename, offline_dir),
                                              path=str(src_path), model=info.name)
                total = src_path.stat().st_size
                source = str(src_path)
                try:
                    with open(src_path, "rb") as src:
                        done = _copy_stream(src, out, hasher, total, progress, "copying %s" % info.filename)
                except OSError as e:  # an unreadable file in the offline folder, a full disk
                    raise ModelError("cannot copy %s into %s: %s" % (src_path, dest, e.strerror or e),
                                     path=str(src_path))
            else:
                import urllib.error
                import urllib.request
                source = url = download_url(info)
                req = urllib.request.Request(url, headers={"User-Agent": "samatte"})
                try:
                    resp = urllib.request.urlopen(req, timeout=timeout)
                except (urllib.error.URLError, OSError, ValueError) as e:
                    raise ModelError("cannot download %s from %s: %s (without network, copy the file into %s "
                                     "or use --offline-dir)" % (info.filename, url, getattr(e, "reason", e),
                                                                dest), url=url)
                with resp:
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else (info.size or 0)
                    try:
                        done = _copy_stream(resp, out, hasher, total, progress, "downloading %s" % info.filename)
                    except OSError as e:
                        raise ModelError("download of %s interrupted: %s" % (info.filename, e), url=url)
            out.flush()
            os.fsync(out.fileno())
        digest = hasher.hexdigest()
        expected_size = info.size or total
        if expected_size and done != expected_size:
            raise WeightsCorruptError("%s is incomplete: got %d bytes from %s, expected %d; nothing was installed"
                                      % (info.filename, done, source, expected_size),
                                      path=str(target), source=source, size=done, expected=expected_size)
        expected = info.sha256 if info.sha256 is not None else _sidecar_digest(target)
        if expected is not None and digest.lower() != expected.lower():
            raise WeightsCorruptError("%s from %s failed its checksum: SHA-256 %s, expected %s; nothing was "
                                      "installed" % (info.filename, source, digest, expected),
                                      path=str(target), source=source, sha256=digest, expected=expected)
        os.replace(tmp, target)
        tmp = None
        if info.sha256 is None and not _sidecar(target).is_file():
            _sidecar(target).write_text("%s  %s\n" % (digest, info.filename))  # trust on first use
        _emit(progress, done, total, "installed %s" % target)
        return target
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def load_state_dict(model, path, *, strict=True):
    """Load a SAM2 checkpoint into ``model`` safely (``weights_only=True``: no pickled code runs).

    Replicates ``sam2.build_sam._load_checkpoint``; any failure to read the file or a key mismatch
    raises :class:`WeightsCorruptError`.
    """
    import torch
    path = Path(path)
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsMissingError("%s does not exist" % path, path=str(path))
    except PermissionError as e:  # not this user's to read: nothing says the file is damaged
        raise _unreadable(path, e)
    except Exception as e:  # truncated zip, pickle error, not a checkpoint at all
        oom = out_of_memory(e, path=str(path))   # the memory, not the file: never "delete it"
        if oom is not None:
            raise oom from e
        raise WeightsCorruptError("cannot read checkpoint %s (%s: %s); delete it and install it again"
                                  % (path, type(e).__name__, e), path=str(path))
    sd = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise WeightsCorruptError("%s is not a SAM2 checkpoint (no 'model' state dict)" % path, path=str(path))
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # shape mismatch: wrong model size for this config
        raise WeightsCorruptError("checkpoint %s does not fit the model: %s" % (path, str(e)[:500]),
                                  path=str(path))
    if strict and (missing or unexpected):
        raise WeightsCorruptError("checkpoint %s does not fit the model (missing %s, unexpected %s)"
                                  % (path, list(missing)[:5], list(unexpected)[:5]), path=str(path))
    return model


def resolve_device(device="auto"):
    """"auto" -> "cuda" when available, else "mps", else "cpu"; other values pass through, checked: a
    CUDA device (its index among this machine's) or MPS that is not here is a :class:`ModelError`."""
    import torch
    dev = (device or "auto").strip()
    if dev != "auto":
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError("device %r requested but CUDA is not available" % dev, device=dev)
        if dev.startswith("cuda:") and dev[5:].isdigit():
            count = torch.cuda.device_count()
            if int(dev[5:]) >= count:  # a job made on a two-GPU workstation, run on a one-GPU farm node
                raise ModelError("device %r requested but this machine has %d CUDA device(s) (cuda:0%s); use "
                                 "device 'cuda' or 'auto' for the first one"
                                 % (dev, count, "-cuda:%d" % (count - 1) if count > 1 else ""),
                                 device=dev, cuda_devices=count)
        if dev == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ModelError("device 'mps' requested but MPS is not available", device=dev)
        return torch.device(dev)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m samatte.models", description="Install samatte model weights.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list known models and where they are installed")
    d = sub.add_parser("download", help="download (or copy) a checkpoint")
    d.add_argument("name", help="model name, e.g. sam2.1_hiera_tiny")
    d.add_argument("--dest", default=None, help="target folder (default: %s)" % models_dir())
    d.add_argument("--offline-dir", default=None, help="copy from this folder instead of the network")
    d.add_argument("--force", action="store_true")
    v = sub.add_parser("verify", help="verify an installed checkpoint's SHA-256")
    v.add_argument("name")
    args = ap.parse_args(argv)
    from .errors import SamatteError
    try:
        if args.cmd == "list":
            print("models folder: %s" % models_dir())
            for info in MODELS.values():
                p = find_weights(info.name)
                print("%-24s %-28s %s" % (info.name, info.filename, p if p else "(not installed)"))
        elif args.cmd == "download":
            def show(p):
                sys.stderr.write("\r%s %5.1f%%" % (p.message, 100.0 * p.fraction))
            path = download(args.name, dest=args.dest, offline_dir=args.offline_dir, progress=show,
                            force=args.force)
            sys.stderr.write("\n")
            print(path)
        elif args.cmd == "verify":
            info = get_model(args.name)
            p = require_weights(info.name)
            print("%s  %s" % (verify_checksum(p, info.sha256), p))
    except SamatteError as e:
        sys.stderr.write("%s\n" % e)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_main())
