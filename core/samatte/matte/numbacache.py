"""Import pymatting where numba cannot write its cache (a studio's read-only install, a farm user
without a writable home).

pymatting compiles its numba functions with ``cache=True`` when imported. numba puts that cache in the
package's own ``__pycache__`` when it may write there, else in the user's cache folder
(``~/.cache/numba``); with neither writable -- samatte installed into a shared read-only prefix and run
by a render user whose ``HOME`` is missing or read-only -- the import raises ``RuntimeError: cannot
cache function ...: no locator available``. Callers took that for "pymatting missing" and matted with
their fallbacks: other pixels than the same job gives on a workstation, silently.

:func:`import_pymatting` retries such an import with ``NUMBA_CACHE_DIR`` set to a folder of this
user's in the temporary directory (``samatte-numba-<uid>``, mode 0700, refused when another user owns
it or it is a link; then a fresh private one). Nothing is written under the install prefix. Where numba
can write its cache, nothing changes.
"""
import importlib
import os
import stat
import sys
import tempfile

__all__ = ["import_pymatting", "private_cache_dir"]


def _no_locator(exc):
    return isinstance(exc, RuntimeError) and "no locator available" in str(exc)


def _user_name():
    try:
        import getpass
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in getpass.getuser()) or "user"
    except Exception:  # noqa: BLE001 - no USERNAME / LOGNAME and no pwd
        return "user"


def private_cache_dir():
    """A numba cache folder only this user can write: ``<tmp>/samatte-numba-<uid>``, else a new one.

    Without ``os.getuid`` (Windows) the folder is ``samatte-numba-<user name>`` in the user's own temporary
    folder, whose ACLs keep others out: ``stat`` reports no owner there and every folder's mode as 0o777 (0o555
    when read-only), so the POSIX owner and mode checks cannot apply (they refused the folder every time: a new
    one per worker, pymatting compiled again at each start, ~70 s, one folder left behind each time)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(tempfile.gettempdir(), "samatte-numba-%s" % (uid if uid is not None else _user_name()))
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return tempfile.mkdtemp(prefix="samatte-numba-")
    st = os.lstat(path)
    if (not stat.S_ISDIR(st.st_mode) or getattr(st, "st_reparse_tag", 0)      # a link (a junction on Windows)
            or (uid is not None and (st.st_uid != uid or st.st_mode & 0o022))):
        return tempfile.mkdtemp(prefix="samatte-numba-")   # someone else's, a link, or writable by others
    return path


def _use_cache_dir(path):
    os.environ["NUMBA_CACHE_DIR"] = path          # for numba imported later and for child processes
    config = sys.modules.get("numba.core.config")
    if config is not None:                        # numba read the environment already: tell it too
        config.CACHE_DIR = path


def import_pymatting(name):
    """``importlib.import_module(name)`` for a pymatting module; when numba finds nowhere to write
    pymatting's cache, once more with a private cache folder (module docstring). Other errors pass."""
    try:
        return importlib.import_module(name)
    except RuntimeError as e:
        if not _no_locator(e):
            raise
    _use_cache_dir(private_cache_dir())
    for mod in [m for m in sys.modules if m == "pymatting" or m.startswith("pymatting.")]:
        del sys.modules[mod]                      # the half-imported package of the failed attempt
    return importlib.import_module(name)
