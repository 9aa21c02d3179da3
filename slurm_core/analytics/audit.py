"""``AuditLog``: an append-only, hash-chained JSON-lines record of a client's writes.

**Layout.** Two files side by side:

* ``audit.jsonl``: one JSON object per line with ``seq`` (1, 2, ...), ``time``, ``event``
  and its fields, ``prev`` (the SHA-256 of the previous line's bytes; 64 zeros on the
  first line) and ``digest`` (SHA-256 of the line's own canonical JSON without
  ``digest``; HMAC-SHA256 when the log has a ``key``);
* ``audit.jsonl.head``: the anchor, one JSON object ``{"lines": N, "tail": <SHA-256 of
  line N>, "keyed": bool, "mac": <HMAC-SHA256 of the three, keyed logs only>}``, replaced
  atomically (write, then rename) after every append while the log is locked.

**What :meth:`AuditLog.verify` guarantees** (its ``status``):

* editing, inserting, deleting or reordering a line breaks the chain: ``"tampered"``,
  with the first bad line named;
* cutting lines off the end leaves fewer lines than the head file records:
  ``"truncated"``; a head file that is gone while the log has lines: ``"unanchored"``;
  a deleted log: ``"missing"``. A writer that finds the log and the head file apart
  appends an ``audit_anchor_mismatch`` entry saying what it found, so the next append
  does not hide the damage, and verification keeps reporting it;
* only a key authenticates: without one anyone who can write the files can rewrite both
  with recomputed hashes, so an intact unkeyed log is ``"unauthenticated"``
  (``ok`` but ``authenticated=False``). With the key, recomputed hashes and a forged head
  file fail (``"verified"`` means intact *and* authenticated). Removing both files, or
  cutting a keyed log back to an older copy of itself with its older head file, is only
  caught by keeping :meth:`head` (or the head file) somewhere else as well.

A log written before the head file existed verifies as ``"unanchored"``: start a new file.

Hooked into a client, it records every **mutating** request (any method but GET, plus
v0.0.45's ``GET .../requeue``): one ``request`` line before it is sent and one
``response`` line with the status. What it records comes from the client's redacted hook
views (method, URL without credentials, attempt) and the user name of the client's token
provider; tokens never. Request bodies are not visible to hooks, so a submission is
recorded as ``POST .../job/submit`` without the job id it got.

Example::

    from slurm_core.analytics import AuditLog

    audit = AuditLog("/var/log/slurm-client/audit.jsonl", key=key_bytes)
    auth = TokenFile("~/.slurm/token", user_name="ops")
    with SlurmClient(url, auth=auth, hooks=audit.hooks(auth=auth)) as client:
        client.jobs.cancel(42)
    assert AuditLog.verify(audit.path, key=key_bytes).status == "verified"
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from .._options import RequestHooks, RequestInfo, ResponseInfo
from ..auth import TokenProvider
from ._audit_chain import (
    ANCHOR_EVENT,
    GENESIS,
    AuditStatus,
    Head,
    VerifyResult,
    canonical,
    digest,
    read_head,
    verify,
    write_head,
)
from ._common import UTC

try:  # POSIX: serialize appends between processes too
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per log file
    fcntl = None  # type: ignore[assignment]

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "AuditStatus", "VerifyResult"]

_RESERVED: Final = frozenset({"seq", "time", "event", "prev", "digest"})
_USER_HEADER: Final = "x-slurm-user-name"


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    """One parsed line of an audit log."""

    line: int
    seq: int
    time: datetime
    event: str
    fields: Mapping[str, Any]


def _is_mutating(method: str, url: str) -> bool:
    path = url.split("?", 1)[0].rstrip("/")
    return method.upper() != "GET" or path.endswith("/requeue")


class AuditLog:
    """An append-only audit log file (see the module docstring for the format).

    ``actor`` is recorded when a request carries no ``X-SLURM-USER-NAME`` header (bearer
    tokens); ``key`` makes digests HMACs; ``fsync`` syncs every line to disk.
    Thread-safe; appends are also locked between processes (``flock``) on POSIX.

    Example::

        audit = AuditLog("audit.jsonl")
        client = SlurmClient(url, auth=auth, hooks=audit.hooks())
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        actor: str | None = None,
        key: bytes | None = None,
        fsync: bool = False,
    ) -> None:
        self.path = Path(path)
        self.actor = actor
        self._key = key
        self._fsync = fsync
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, actor={self.actor!r}, keyed={self._key is not None})"

    # ------------------------------------------------------------------ writing ----------
    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry (``fields`` must be JSON-serializable); returns it.

        Example::

            audit.record("scaling", partition="gpu", action="drain", nodes=["n7"])
        """
        if not isinstance(event, str) or not event or event == ANCHOR_EVENT:
            raise ValueError(f"event must be a non-empty string other than {ANCHOR_EVENT!r}")
        clash = _RESERVED & set(fields)
        if clash:
            raise ValueError(f"reserved field names: {sorted(clash)}")
        with self._locked() as fh:
            seq, prev, last_prev = self._tail(fh)
            mismatch = self._anchor_mismatch(seq, prev, last_prev)
            if mismatch is not None:
                kind, found = mismatch
                seq, prev, _ = self._append(fh, seq, prev, ANCHOR_EVENT, kind=kind, found=found)
            seq, prev, entry = self._append(fh, seq, prev, event, **fields)
            write_head(self.path, Head(seq, prev, False).signed(self._key), fsync=self._fsync)
        return entry

    def create(self) -> None:
        """Create the empty log and its head file, unless the log exists already.

        Example::

            AuditLog("audit.jsonl", key=key).create()   # verifies as an empty log
        """
        with self._locked() as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0 and read_head(self.path) is None:
                write_head(self.path, Head(0, GENESIS, False).signed(self._key), fsync=self._fsync)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        """The log open for appending, locked against other threads and processes."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as fh:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield fh
                finally:
                    if fcntl is not None:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _append(
        self, fh: Any, seq: int, prev: str, event: str, **fields: Any
    ) -> tuple[int, str, dict[str, Any]]:
        entry: dict[str, Any] = {
            "seq": seq + 1,
            "time": datetime.now(UTC).isoformat(),
            "event": event,
            **fields,
            "prev": prev,
        }
        entry["digest"] = digest(entry, self._key)
        line = canonical(entry)
        fh.seek(0, os.SEEK_END)
        fh.write(line + b"\n")
        fh.flush()
        if self._fsync:
            os.fsync(fh.fileno())
        return seq + 1, hashlib.sha256(line).hexdigest(), entry

    def _anchor_mismatch(
        self, seq: int, prev: str, last_prev: str | None
    ) -> tuple[str, str] | None:
        """``(kind, what was found)`` when the head file does not match the log's tail."""
        head = read_head(self.path)
        if isinstance(head, str):
            return "head_unreadable", head
        if head is None:
            return None if seq == 0 else ("missing_head", f"no head file for {seq} lines")
        if self._key is not None and not head.authentic(self._key):
            return "head_forged", "the head file's MAC does not match"
        if (seq, prev) == (head.lines, head.tail):
            return None
        if seq == head.lines + 1 and last_prev == head.tail:
            return None  # the previous append stopped before its head update
        kind = "truncated" if seq < head.lines else "replaced"
        return kind, f"the head file records {head.lines} lines, the log ends at seq {seq}"

    @staticmethod
    def _tail(fh: Any) -> tuple[int, str, str | None]:
        """``(seq, sha256, prev)`` of the open file's last line (``(0, GENESIS, None)`` if
        empty)."""
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return 0, GENESIS, None
        chunk = 4096
        while True:
            start = max(size - chunk, 0)
            fh.seek(start)
            data = fh.read(size - start)
            body = data[:-1] if data.endswith(b"\n") else data
            cut = body.rfind(b"\n")
            if cut >= 0 or start == 0:
                last = body[cut + 1 :]
                break
            chunk *= 4
        try:
            obj = json.loads(last)
            seq, last_prev = int(obj["seq"]), str(obj["prev"])
        except (ValueError, KeyError, TypeError):
            seq, last_prev = 0, None  # a damaged tail: keep chaining; verify() names it
        return seq, hashlib.sha256(last).hexdigest(), last_prev

    def hooks(
        self, chain: RequestHooks | None = None, *, auth: TokenProvider | None = None
    ) -> RequestHooks:
        """Client hooks that record mutating requests (and call ``chain``'s hooks too).

        Hooks see requests before authentication adds its headers: pass the client's
        token provider as ``auth`` to record its user name (configured, or the token's
        ``sun`` claim); otherwise the user is an ``X-SLURM-USER-NAME`` header set on the
        client, else the log's ``actor``.

        The log and its head file are created now if absent, so that a log nobody wrote
        to yet verifies as empty rather than missing.

        Example::

            auth = StaticToken(jwt, user_name="ops")
            client = SlurmClient(url, auth=auth, hooks=audit.hooks(auth=auth))
        """
        self.create()

        def user(info: RequestInfo) -> str | None:
            headers = {k.lower(): v for k, v in info.headers.items()}
            named = auth.header_user_name if auth is not None else None
            return headers.get(_USER_HEADER) or named or self.actor

        def on_request(info: RequestInfo) -> Any:
            if _is_mutating(info.method, info.url):
                self.record("request", **self._fields(info), user=user(info))
            return chain.on_request(info) if chain and chain.on_request else None

        def on_response(info: ResponseInfo) -> Any:
            req = info.request
            if _is_mutating(req.method, req.url):
                self.record(
                    "response",
                    **self._fields(req),
                    user=user(req),
                    status=info.status_code,
                    elapsed_ms=round(info.elapsed * 1000.0, 3),
                )
            return chain.on_response(info) if chain and chain.on_response else None

        return RequestHooks(on_request=on_request, on_response=on_response)

    @staticmethod
    def _fields(info: RequestInfo) -> dict[str, Any]:
        return {"method": info.method, "url": info.url, "attempt": info.attempt}

    # ------------------------------------------------------------------ reading ----------
    def head(self) -> str:
        """The digest of the last line (``GENESIS`` for an empty log)."""
        result = self.verify(self.path, key=self._key)
        return result.head or GENESIS

    def entries(self, *, verify: bool = True) -> Iterator[AuditEntry]:
        """The entries in order. With ``verify`` (default) the chain is checked first and a
        broken one raises ``ValueError`` naming the first bad line; without, unreadable
        lines are skipped (filter on ``entry.line`` to keep only a trusted prefix).

        Example::

            writes = [e for e in audit.entries() if e.event == "response"]
        """
        if verify:
            result = self.verify(self.path, key=self._key)
            if not result.ok:
                raise ValueError(f"{self.path}: line {result.first_bad_line}: {result.reason}")
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    obj = json.loads(raw)
                    fields = {k: v for k, v in obj.items() if k not in _RESERVED}
                    when = datetime.fromisoformat(obj["time"])
                    entry = AuditEntry(number, int(obj["seq"]), when, str(obj["event"]), fields)
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # unreadable (only reachable with verify=False)
                yield entry

    @staticmethod
    def verify(path: str | os.PathLike[str], *, key: bytes | None = None) -> VerifyResult:
        """Check the chain and the head file; the first line that fails is named (1-based).

        ``status`` says what was found (see the module docstring); pass the log's ``key``
        to authenticate it: without one an intact log is only ``"unauthenticated"``.

        Example::

            result = AuditLog.verify("audit.jsonl", key=key)
            if result.status != "verified":
                print(result.status, "at line", result.first_bad_line, result.reason)
        """
        return verify(path, key=key)
