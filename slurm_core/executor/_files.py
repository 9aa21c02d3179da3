"""The executor's directory: payloads out, authenticated results in. No network I/O.

Layout (``<workspace>/slurm-executor-<random>/``, mode 0700, owned by the job's user)::

    runner.py          a copy of :mod:`._runner` (the cluster needs no slurm-client)
    B.key              batch B's key (hex, 0600): derived from the executor's master key
    B.I.in / B.I.out   call and result of task I of batch B (0600)
    B.I.log            the job's output

The master key never leaves this process. Each batch key is HMAC(master, batch id), and
each task's key HMAC(batch key, index), so a job can sign only its own batch's results,
and a result signed for one task does not verify for another. A result is read without
following links, only when it is a regular file owned by the job's user (or this
process's) and writable by no one else, and at most ``max_result_bytes``; its MAC is
checked before anything is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.resources
import itertools
import json
import os
import pickle
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._localfile import UnsafeFileError, read_regular
from ._errors import (
    ExecutorError,
    RemoteTraceback,
    ResultAuthenticationError,
    VersionMismatchError,
)
from ._runner import FrameError, item_key, pack, python_version, unpack

__all__ = ["Batch", "Workspace", "client_versions"]

_LOG_TAIL = 4096


def client_versions() -> dict[str, str | None]:
    """This process's Python major.minor and cloudpickle version (cloudpickle is imported)."""
    import cloudpickle

    return {"python": python_version(), "cloudpickle": cloudpickle.__version__}


@dataclass(frozen=True)
class Batch:
    """One submission: a single call (index ``"0"``) or the tasks of one array."""

    id: str
    key: bytes
    size: int
    checkpoint: bool = False


class Workspace:
    """The executor's private directory under ``workspace`` (see the module docstring)."""

    def __init__(
        self,
        workspace: str | os.PathLike[str],
        *,
        uid: int,
        gid: int,
        max_result_bytes: int,
    ) -> None:
        base = Path(workspace)
        if not base.is_absolute():
            raise ValueError(f"workspace must be an absolute path, got {str(base)!r}")
        if not base.is_dir():
            raise ValueError(f"workspace {str(base)!r} is not a directory")
        self.uid, self.gid = uid, gid
        self.max_result_bytes = max_result_bytes
        self._master = secrets.token_bytes(32)
        self._counter = itertools.count()
        self.path = base / f"slurm-executor-{secrets.token_hex(8)}"
        self.path.mkdir(mode=0o700)  # fails if it exists: never reuse someone's directory
        os.chmod(self.path, 0o700)  # whatever the umask
        self._own(self.path)
        runner = importlib.resources.files(__package__).joinpath("_runner.py").read_bytes()
        self.runner = self.path / "runner.py"
        self._write(self.runner, runner)
        self.versions = client_versions()

    # -- writing --------------------------------------------------------------------------
    def _own(self, path: Path) -> None:
        if self.uid != os.geteuid():
            os.chown(path, self.uid, self.gid)

    def _write(self, path: Path, data: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            if self.uid != os.geteuid():
                os.fchown(fd, self.uid, self.gid)
            with os.fdopen(fd, "wb", closefd=False) as fh:
                fh.write(data)
        finally:
            os.close(fd)

    def new_batch(self, size: int, checkpoint: bool = False) -> Batch:
        """A fresh batch of ``size`` tasks with its key file written."""
        batch_id = f"b{next(self._counter)}-{secrets.token_hex(4)}"
        key = hmac.new(self._master, batch_id.encode(), hashlib.sha256).digest()
        self._write(self.path / f"{batch_id}.key", key.hex().encode())
        return Batch(batch_id, key, size, checkpoint)

    def write_call(self, batch: Batch, index: int, body: bytes) -> None:
        """Write task ``index``'s call (``body`` is the cloudpickled ``(fn, args, kwargs)``)."""
        header = {**self.versions, "task": f"{batch.id}.{index}", "checkpoint": batch.checkpoint}
        frame = pack(item_key(batch.key, str(index)), b"in", header, body)
        self._write(self.path / f"{batch.id}.{index}.in", frame)

    def log_path(self, batch: Batch, array: bool) -> str:
        return str(self.path / f"{batch.id}.{'%a' if array else '0'}.log")

    # -- reading --------------------------------------------------------------------------
    def has_result(self, batch: Batch, index: int) -> bool:
        return os.path.lexists(self.path / f"{batch.id}.{index}.out")

    def read_result(self, batch: Batch, index: int, job_id: int | str) -> tuple[bool, Any]:
        """``(True, value)`` or ``(False, exception)`` from task ``index``'s result file.

        Raises :class:`ResultAuthenticationError` for a file this executor's job did not
        write, :class:`VersionMismatchError`, or :class:`ExecutorError`.
        """
        path = self.path / f"{batch.id}.{index}.out"
        try:
            found = read_regular(path, max_bytes=self.max_result_bytes + 1)
        except UnsafeFileError as exc:
            raise ResultAuthenticationError(
                f"job {job_id}: result file {path} refused: {exc.reason}", job_id
            ) from None
        except OSError as exc:
            raise ExecutorError(f"job {job_id}: cannot read {path}: {exc}", job_id) from None
        st = found.stat
        if st.st_uid not in (self.uid, os.geteuid()) or st.st_mode & 0o022:
            raise ResultAuthenticationError(
                f"job {job_id}: result file {path} refused: owned by uid {st.st_uid} with "
                f"mode {st.st_mode & 0o777:o} (expected the job's user, writable by no one else)",
                job_id,
            )
        if len(found.data) > self.max_result_bytes:
            raise ExecutorError(
                f"job {job_id}: result larger than max_result_bytes={self.max_result_bytes}", job_id
            )
        try:
            header, body = unpack(item_key(batch.key, str(index)), b"out", found.data)
        except FrameError as exc:
            raise ResultAuthenticationError(
                f"job {job_id}: result file {path} refused, not unpickled: {exc}", job_id
            ) from None
        if header.get("task") != f"{batch.id}.{index}":
            raise ResultAuthenticationError(
                f"job {job_id}: result file {path} belongs to another task", job_id
            )
        status = header.get("status")
        job_side = {"python": header.get("python"), "cloudpickle": header.get("cloudpickle")}
        if status == "mismatch" or (job_side != self.versions and status in ("ok", "error")):
            raise VersionMismatchError(job_id, dict(self.versions), job_side)
        if status == "missing":
            raise ExecutorError(f"job {job_id}: {json.loads(body)}", job_id)
        if status not in ("ok", "error"):
            raise ExecutorError(f"job {job_id}: unknown result status {status!r}", job_id)
        try:
            value = pickle.loads(body)  # noqa: S301 (authenticated above: this task's job wrote it)
        except Exception as exc:  # e.g. an exception class whose __init__ needs more arguments
            raise ExecutorError(
                f"job {job_id}: its {'result' if status == 'ok' else 'exception'} cannot be "
                f"unpickled here: {type(exc).__name__}: {exc}",
                job_id,
            ) from None
        if status == "ok":
            return True, value
        error, tb = value
        error.__cause__ = RemoteTraceback(tb)
        return False, error

    def log_tail(self, batch: Batch, index: int | str) -> str:
        """The end of a task's output (for errors); empty if unreadable."""
        try:
            found = read_regular(
                self.path / f"{batch.id}.{index}.log", max_bytes=_LOG_TAIL, tail=True
            )
        except OSError:
            return ""
        return found.data.decode(errors="replace").strip()

    def forget(self, batch: Batch, index: int) -> None:
        """Remove a finished task's files (the batch key stays until the executor closes)."""
        for suffix in ("in", "out", "log"):
            with contextlib.suppress(OSError):
                os.unlink(self.path / f"{batch.id}.{index}.{suffix}")

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
