"""``AuditLog``: an append-only, hash-chained JSON-lines record of a client's writes.

Each line is one JSON object with ``seq`` (1, 2, ...), ``time``, ``event`` and its
fields, ``prev`` (the SHA-256 of the previous line's bytes; 64 zeros on the first line)
and ``digest`` (SHA-256 of the line's own canonical JSON without ``digest``; HMAC-SHA256
when the log has a ``key``). Editing, inserting, deleting or reordering any line breaks
the chain; :meth:`AuditLog.verify` names the first bad line. Only a keyed log resists
someone who rewrites the whole file and recomputes every hash; truncating trailing lines
is only caught against a stored :meth:`head`.

Hooked into a client, it records every **mutating** request (any method but GET, plus
v0.0.45's ``GET .../requeue``): one ``request`` line before it is sent and one
``response`` line with the status. What it records comes from the client's redacted hook
views (method, URL without credentials, attempt) and the user name of the client's token
provider; tokens never. Request bodies are not visible to hooks, so a submission is
recorded as ``POST .../job/submit`` without the job id it got.

Example::

    from slurm_core.analytics import AuditLog

    audit = AuditLog("/var/log/slurm-client/audit.jsonl")
    auth = TokenFile("~/.slurm/token", user_name="ops")
    with SlurmClient(url, auth=auth, hooks=audit.hooks(auth=auth)) as client:
        client.jobs.cancel(42)
    assert AuditLog.verify(audit.path).ok
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from .._options import RequestHooks, RequestInfo, ResponseInfo
from ..auth import TokenProvider
from ._common import UTC

try:  # POSIX: serialize appends between processes too
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per log file
    fcntl = None  # type: ignore[assignment]

__all__ = ["AuditEntry", "AuditLog", "VerifyResult"]

GENESIS: Final = "0" * 64
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


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What :meth:`AuditLog.verify` found. ``first_bad_line`` is 1-based."""

    ok: bool
    lines: int
    first_bad_line: int | None = None
    reason: str | None = None
    head: str | None = None
    """The digest of the last good line (store it elsewhere to detect truncation)."""

    def __bool__(self) -> bool:
        return self.ok


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(obj: Mapping[str, Any], key: bytes | None) -> str:
    body = _canonical({k: v for k, v in obj.items() if k != "digest"})
    if key is not None:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


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
        if not isinstance(event, str) or not event:
            raise ValueError("event must be a non-empty string")
        clash = _RESERVED & set(fields)
        if clash:
            raise ValueError(f"reserved field names: {sorted(clash)}")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as fh:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    seq, prev = self._tail(fh)
                    entry: dict[str, Any] = {
                        "seq": seq + 1,
                        "time": datetime.now(UTC).isoformat(),
                        "event": event,
                        **fields,
                        "prev": prev,
                    }
                    entry["digest"] = _digest(entry, self._key)
                    fh.seek(0, os.SEEK_END)
                    fh.write(_canonical(entry) + b"\n")
                    fh.flush()
                    if self._fsync:
                        os.fsync(fh.fileno())
                finally:
                    if fcntl is not None:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return entry

    @staticmethod
    def _tail(fh: Any) -> tuple[int, str]:
        """``(seq, sha256 of the last line)`` of the open file (``(0, GENESIS)`` if empty)."""
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return 0, GENESIS
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
            seq = int(json.loads(last)["seq"])
        except (ValueError, KeyError, TypeError):
            seq = 0  # a damaged tail: keep chaining; verify() will point at it
        return seq, hashlib.sha256(last).hexdigest()

    def hooks(
        self, chain: RequestHooks | None = None, *, auth: TokenProvider | None = None
    ) -> RequestHooks:
        """Client hooks that record mutating requests (and call ``chain``'s hooks too).

        Hooks see requests before authentication adds its headers: pass the client's
        token provider as ``auth`` to record its user name (configured, or the token's
        ``sun`` claim); otherwise the user is an ``X-SLURM-USER-NAME`` header set on the
        client, else the log's ``actor``.

        Example::

            auth = StaticToken(jwt, user_name="ops")
            client = SlurmClient(url, auth=auth, hooks=audit.hooks(auth=auth))
        """

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
        """Check the chain; the first line that fails is named (1-based).

        Example::

            result = AuditLog.verify("audit.jsonl")
            if not result:
                print("tampered at line", result.first_bad_line, result.reason)
        """
        target = Path(path)
        if not target.exists():
            return VerifyResult(ok=True, lines=0, head=GENESIS)
        prev, head, count = GENESIS, GENESIS, 0
        with target.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                count = number
                line = raw[:-1] if raw.endswith(b"\n") else raw

                def bad(reason: str, n: int = number, last: str = head) -> VerifyResult:
                    return VerifyResult(False, n, n, reason, last)

                if not raw.endswith(b"\n"):
                    return bad("incomplete last line (no newline)")
                try:
                    obj = json.loads(line)
                except ValueError:
                    return bad("not valid JSON")
                if not isinstance(obj, dict) or not {"seq", "prev", "digest"} <= set(obj):
                    return bad("missing seq/prev/digest")
                if obj["seq"] != number:
                    return bad(f"seq {obj['seq']!r} where {number} was expected")
                if obj["prev"] != prev:
                    return bad("prev does not match the previous line (edited, removed or moved)")
                if not hmac.compare_digest(str(obj["digest"]), _digest(obj, key)):
                    return bad("digest does not match the line's content (edited)")
                prev = hashlib.sha256(line).hexdigest()
                head = str(obj["digest"])
        return VerifyResult(ok=True, lines=count, head=head)
