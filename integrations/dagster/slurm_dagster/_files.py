"""Files on the shared filesystem, handled as hostile: opened without following links,
checked for type and owner before use, written atomically with the modes the caller names.

Every local user (and every job) may write somewhere on a shared filesystem, so nothing read
from it is trusted for what its name says: a check here looks at the opened file itself
(``fstat``), never at the path again. Private to ``slurm_dagster``; ``slurm_core`` may grow
its own helper for the job output files, and these can then move onto it.
"""

from __future__ import annotations

import errno
import grp
import os
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path

from slurm_core import ConfigurationError, SlurmError

__all__ = ["UntrustedFileError", "open_checked", "read_checked", "resolve_gid", "write_atomic"]

# O_NONBLOCK: opening a FIFO planted under a trusted name must not hang the step.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class UntrustedFileError(SlurmError):
    """A file on the shared filesystem failed a check (link, type, owner, signature, size)
    and was not used. ``path`` names it and ``reason`` says which check failed.

    Example::

        try:
            value = io_manager.load_input(context)
        except UntrustedFileError as exc:
            print(exc.path, exc.reason)   # .../__all__.pkl  no signature (...)
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"refusing {self.path}: {reason}")


def check_fd(fd: int, path: str | os.PathLike[str], owners: Collection[int]) -> os.stat_result:
    """``fstat`` of an opened file, refused unless it is a regular file owned by one of
    ``owners`` that other users cannot write to."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedFileError(path, "not a regular file")
    if st.st_uid not in owners:
        expected = " or ".join(str(u) for u in sorted(owners))
        raise UntrustedFileError(path, f"owned by uid {st.st_uid}, expected uid {expected}")
    if st.st_mode & stat.S_IWOTH:
        raise UntrustedFileError(path, "writable by every user")
    return st


def open_checked(path: str | os.PathLike[str], owners: Collection[int]) -> int:
    """A read-only descriptor of ``path`` (never through a symbolic link) that passed
    :func:`check_fd`; the caller closes it."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a link
            raise UntrustedFileError(path, "is a symbolic link") from None
        raise
    try:
        check_fd(fd, path, owners)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_checked(
    path: str | os.PathLike[str], owners: Collection[int], limit: int | None = None
) -> bytes:
    """The bytes of ``path`` once :func:`open_checked` accepts it; more than ``limit`` bytes
    is refused (no limit when ``None``)."""
    fd = open_checked(path, owners)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise UntrustedFileError(path, f"larger than {limit} bytes")
    return data


def write_atomic(path: Path, data: bytes, mode: int, gid: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one rename; the new file has ``mode`` (and group
    ``gid``) from the start, so it is never readable more widely than asked."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            if gid is not None:
                os.fchown(fh.fileno(), -1, gid)
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_dirs(path: Path, mode: int, gid: int | None = None) -> None:
    """``mkdir -p`` where each directory made gets ``mode`` and group ``gid`` whatever the
    umask; directories that exist are left as they are."""
    missing: list[Path] = []
    for d in (path, *path.parents):
        if d.is_dir():
            break
        missing.append(d)
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by a concurrent step: not ours to re-mode
        if gid is not None:
            os.chown(d, -1, gid)
        os.chmod(d, mode)


def resolve_gid(group: str, field: str) -> int:
    """The gid of ``group`` (a name known here, or a number), for the field ``field``."""
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigurationError(
            f"{field}: no group named {group!r} on this host (give its gid as a number)"
        ) from None
