"""Opening a local file the way a security-sensitive reader should: no symlink, no FIFO.

:func:`read_regular` opens without following a final symlink and without blocking on a
FIFO, checks what it opened (``fstat`` of the descriptor, so nothing can be swapped in
between), refuses anything but a regular file, and reads at most ``max_bytes``. Callers
add their own rules (owner, mode, where the file lies) with :func:`real_path` and the
returned :class:`LocalFile`, and turn :class:`UnsafeFileError` into their typed error.

Example::

    found = read_regular("/home/alice/.slurm/token", max_bytes=64 * 1024)
    found.data, found.stat.st_uid, found.real_path
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

__all__ = ["LocalFile", "UnsafeFileError", "read_regular"]

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class UnsafeFileError(OSError):
    """The file exists but is not one this reader will read; ``reason`` says why."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class LocalFile(NamedTuple):
    """What :func:`read_regular` read: the bytes, the descriptor's ``fstat``, its real path."""

    data: bytes
    stat: os.stat_result
    real_path: str


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(
    path: str | os.PathLike[str], *, max_bytes: int, tail: bool = False, offset: int = 0
) -> LocalFile:
    """The bytes of the regular file at ``path``, its ``fstat`` and its real path.

    Reads at most ``max_bytes``: the first ones (from ``offset``), or with ``tail`` the
    last ones (the caller compares ``st_size`` with ``max_bytes`` to tell the file was
    longer). Raises
    :class:`UnsafeFileError` for a symlink, a directory, a FIFO, a device or a socket,
    ``OSError`` for the rest (missing, permission denied). ``real_path`` is where the open
    descriptor points (``/proc/self/fd`` where there is one), with every directory symlink
    resolved, so a check of it cannot be raced by swapping a directory afterwards.

    Example::

        found = read_regular(path, max_bytes=10 * 2**20, tail=True)
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, _FLAGS)
    except OSError as exc:
        # O_NOFOLLOW answers ELOOP for a final symlink (EMLINK on FreeBSD).
        if os.path.islink(name):
            raise UnsafeFileError("it is a symbolic link (not followed)", name) from None
        raise exc from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"it is {_kind(st.st_mode)}, not a regular file", name)
        if tail and st.st_size > max_bytes:
            os.lseek(fd, st.st_size - max_bytes, os.SEEK_SET)
        elif offset:
            os.lseek(fd, offset, os.SEEK_SET)
        chunks, left = [], max_bytes
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return LocalFile(b"".join(chunks), st, _fd_path(fd, name))
    finally:
        os.close(fd)


def _fd_path(fd: int, name: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no procfs (macOS): resolve the name, the best there is
        return os.path.realpath(name)
