"""Write a file whole or not at all (standard library only): to a temporary name, then renamed."""
import os

from .errors import OutputError

__all__ = ["write_atomically"]


def write_atomically(path, tmp, write, *, what="file"):
    """``write(tmp)``, then rename ``tmp`` over ``path``. A failure (a full disk, no permission, a
    folder in the way) is an :class:`OutputError` naming ``what`` and ``path``, and leaves no temp file
    behind; ``path`` keeps what it held. Anything else that stops the write (Ctrl-C in a TD's session,
    an error of ``write``) goes on as it was raised, the temp file removed all the same."""
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if not isinstance(e, OSError):
            raise
        raise OutputError("cannot write the %s %s: %s" % (what, path, e.strerror or e), path=str(path))
