"""``PipesSharedFileMessageReader``: the Pipes messages a SLURM job writes to a file in its
session directory, read only from the file Dagster made and only while it stays private."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Event, Thread
from typing import Any

from dagster import PipesMessageHandler, PipesMessageReader
from dagster_pipes import PipesDefaultMessageWriter, PipesParams

from slurm_dagster._files import UntrustedFileError, check_fd

__all__ = ["PipesSharedFileMessageReader"]

_LINE_LIMIT = 1 << 20  # bytes of one Pipes message line
_MESSAGES_LIMIT = 64 << 20  # bytes of messages read from one session


class PipesSharedFileMessageReader(PipesMessageReader):
    """Reads the Pipes messages a SLURM job appends to ``path``, a file this reader creates
    (0600, never through a link) and reads through the descriptor it keeps.

    :meth:`grant` hands the file to the job's user. Messages are read only while the file is
    a regular file owned by this process's user or the granted one, and writable by no one
    else; over-long lines and sessions are cut (see the module docstring).

    Example::

        reader = PipesSharedFileMessageReader(str(session_dir / "messages.jsonl"))
        with open_pipes_session(context, injector, reader) as session:
            reader.grant(uid=1001, gid=1001)   # after learning the job's user from SLURM
    """

    def __init__(self, path: str, log: Any = None) -> None:
        self._path = path
        self._log = log
        self._fd: int | None = None
        self._owners = {os.geteuid()}

    def grant(self, uid: int | None, gid: int | None, mode: int = 0o600) -> None:
        """Let ``uid`` (and/or group ``gid``) write the message file, with ``mode``."""
        if self._fd is None:
            raise RuntimeError("grant() needs an open session")
        if uid is not None:
            # Trusted before the file changes hands: the tailing thread may look in between.
            self._owners.add(uid)
        os.fchown(self._fd, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fchmod(self._fd, mode)

    @contextmanager
    def read_messages(self, handler: PipesMessageHandler) -> Iterator[PipesParams]:
        flags = os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd = os.open(self._path, flags, 0o600)
        stop = Event()
        thread = Thread(target=self._tail, args=(handler, self._fd, stop), daemon=True)
        thread.start()
        try:
            yield {
                PipesDefaultMessageWriter.FILE_PATH_KEY: self._path,
                PipesDefaultMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: False,
            }
        finally:
            stop.set()
            thread.join()
            os.close(self._fd)
            self._fd = None
            Path(self._path).unlink(missing_ok=True)

    def no_messages_debug_text(self) -> str:
        return f"Attempted to read messages from file {self._path}."

    def _warn(self, message: str) -> None:
        if self._log is not None:
            self._log.warning(f"[pipes] {message}")

    def _tail(self, handler: PipesMessageHandler, fd: int, stop: Event) -> None:
        pending, total, skipping = b"", 0, False
        while True:
            # Seen before reading: data written before the session closed is still read.
            closing = stop.is_set()
            try:
                check_fd(fd, self._path, self._owners)
            except UntrustedFileError as exc:
                self._warn(f"ignoring further messages: {exc}")
                return
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if closing:
                    break
                stop.wait(0.05)
                continue
            total += len(chunk)
            if total > _MESSAGES_LIMIT:
                self._warn(f"ignoring messages beyond {_MESSAGES_LIMIT} bytes in {self._path}")
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if skipping:
                    skipping = False  # the end of an over-long line
                elif not self._handle(handler, line):
                    return
            if len(pending) > _LINE_LIMIT:
                self._warn(f"dropping a message line longer than {_LINE_LIMIT} bytes")
                pending, skipping = b"", True
        if pending and not skipping:
            self._handle(handler, pending)

    def _handle(self, handler: PipesMessageHandler, line: bytes) -> bool:
        if len(line) > _LINE_LIMIT:
            self._warn(f"dropping a message line longer than {_LINE_LIMIT} bytes")
            return True
        if not line.strip():
            return True
        try:
            message = json.loads(line)
        except ValueError:
            self._warn(f"dropping a line that is not JSON: {line[:80]!r}")
            return True
        if not isinstance(message, dict) or "method" not in message:
            self._warn(f"dropping a line that is not a Pipes message: {line[:80]!r}")
            return True
        try:
            handler.handle_message(message)  # type: ignore[arg-type]
        except Exception:
            handler.report_pipes_framework_exception(
                f"{type(self).__name__} reader thread", sys.exc_info()
            )
            return False
        return True
