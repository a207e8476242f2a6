"""Open an input file for reading only when it is a regular file (standard library only, Python 3.9).

Shared storage holds things that look like frames and are not: a named pipe (FIFO) under a frame's
name blocks ``open()`` for ever, a symlink to ``/dev/zero`` or ``/dev/urandom`` never reaches end of
file, a folder or a socket cannot be read. :func:`open_regular` opens without blocking (``O_NONBLOCK``
where the OS has it) and refuses anything whose ``fstat`` is not a regular file, so a reader that
goes through it returns at once whatever sits at the path. Used by the key stamps
(:mod:`samatte.cachekey`) and the hosts' header reader (:mod:`samatte.exrheader`); OpenImageIO reads
go through :func:`samatte.io.exr.open_image`, which refuses the same paths.
"""
import errno
import os
import stat

__all__ = ["NotRegularFileError", "open_regular", "file_kind"]


class NotRegularFileError(OSError):
    """The path exists but is not a regular file (a folder, FIFO, socket or device)."""


def file_kind(mode):
    """What a ``st_mode`` that is not a regular file is, in words ("a named pipe (FIFO)" ...)."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path):
    """``(binary file object, os.stat_result)`` of ``path`` opened for reading. Raises
    :class:`NotRegularFileError` (an OSError) at once when it is not a regular file (symlinks are
    followed), and OSError when it cannot be opened (missing, a symlink loop, no permission)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError as e:   # Windows cannot open a folder at all
        raise NotRegularFileError(errno.EISDIR, "%s is a folder, not a file" % os.fspath(path)) from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, "%s is %s, not a file" % (os.fspath(path), file_kind(st.st_mode)))
        return os.fdopen(fd, "rb"), st
    except BaseException:
        os.close(fd)
        raise

