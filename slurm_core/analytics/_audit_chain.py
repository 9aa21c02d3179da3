"""Checking an audit log: the hash chain, its head file, and what a verifier can vouch for.

The layout and the guarantees are described in :mod:`slurm_core.analytics.audit`; this
module holds the pieces the writer and :func:`verify` share (canonical JSON, digests, the
head file) and :func:`verify` itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

__all__ = [
    "ANCHOR_EVENT",
    "GENESIS",
    "AuditStatus",
    "Head",
    "VerifyResult",
    "canonical",
    "digest",
    "head_path",
    "read_head",
    "verify",
    "write_head",
]

GENESIS: Final = "0" * 64
ANCHOR_EVENT: Final = "audit_anchor_mismatch"
"""The entry a writer appends when the head file does not match the log it appends to."""

AuditStatus = Literal[
    "verified", "unauthenticated", "tampered", "truncated", "unanchored", "missing"
]
_STATUS_OK: Final = frozenset({"verified", "unauthenticated"})


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What :meth:`AuditLog.verify` found. ``first_bad_line`` is 1-based.

    ``status``: ``"verified"`` (intact, and HMACs checked with the key: ``authenticated``),
    ``"unauthenticated"`` (intact as far as plain hashes tell; anyone able to write the
    file could have rewritten it whole), ``"tampered"`` (an entry or the head file does
    not check out), ``"truncated"`` (entries are missing from the end), ``"unanchored"``
    (no head file: a cut tail cannot be ruled out), ``"missing"`` (no log file). ``ok``
    is True for the first two only.

    Example::

        result = AuditLog.verify("audit.jsonl", key=key)
        print(result.status, result.lines, result.first_bad_line, result.reason)
    """

    ok: bool
    lines: int
    first_bad_line: int | None = None
    reason: str | None = None
    head: str | None = None
    """The digest of the last good line."""
    status: AuditStatus = "unauthenticated"
    authenticated: bool = False
    """True when every line and the head file were checked against the log's key."""

    def __bool__(self) -> bool:
        return self.ok


@dataclasses.dataclass(frozen=True)
class Head:
    """The head file: how many lines the log had after the last append, and the SHA-256 of
    the last one (the ``prev`` the next line will carry); ``mac`` when keyed."""

    lines: int
    tail: str
    keyed: bool
    mac: str | None = None

    def signed(self, key: bytes | None) -> Head:
        return dataclasses.replace(self, keyed=key is not None, mac=_head_mac(self, key))

    def authentic(self, key: bytes) -> bool:
        expected = _head_mac(self, key)
        return (
            self.mac is not None
            and expected is not None
            and hmac.compare_digest(self.mac, expected)
        )


def canonical(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(obj: Mapping[str, Any], key: bytes | None) -> str:
    body = canonical({k: v for k, v in obj.items() if k != "digest"})
    if key is not None:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def _head_mac(head: Head, key: bytes | None) -> str | None:
    if key is None:
        return None
    body = canonical({"lines": head.lines, "tail": head.tail, "keyed": True})
    return hmac.new(key, b"audit-head\n" + body, hashlib.sha256).hexdigest()


def head_path(log: Path) -> Path:
    """Where ``log``'s head file lives: beside it, ``<name>.head``."""
    return log.with_name(log.name + ".head")


def read_head(log: Path) -> Head | str | None:
    """The head file of ``log``; ``None`` if absent; a reason string if unreadable."""
    try:
        raw = head_path(log).read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(raw)
        head = Head(int(obj["lines"]), str(obj["tail"]), bool(obj["keyed"]), obj.get("mac"))
    except (ValueError, KeyError, TypeError):
        return "the head file is unreadable"
    return head if head.lines >= 0 else "the head file is unreadable"


def write_head(log: Path, head: Head, *, fsync: bool) -> None:
    """Replace ``log``'s head file atomically (a reader sees the old or the new one)."""
    target = head_path(log)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    data = canonical(dataclasses.asdict(head)) + b"\n"
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, target)


def _result(
    status: AuditStatus, lines: int, bad: int | None, reason: str | None, head: str, *, key: bool
) -> VerifyResult:
    ok = status in _STATUS_OK
    return VerifyResult(ok, lines, bad, reason, head, status, ok and key)


def verify(path: str | os.PathLike[str], *, key: bytes | None = None) -> VerifyResult:
    """Check ``path``'s chain and head file (see :class:`VerifyResult` for the outcomes)."""
    target = Path(path)
    anchor = read_head(target)  # before the log: appends only move the log ahead of it
    keyed = key is not None
    if not target.exists():
        was = f" (its head file records {anchor.lines} lines)" if isinstance(anchor, Head) else ""
        return _result("missing", 0, None, f"no audit log at {target}{was}", GENESIS, key=keyed)
    if isinstance(anchor, str):
        return _result("tampered", 0, None, anchor, GENESIS, key=keyed)
    if anchor is not None and anchor.keyed and key is None:
        reason = "the log is keyed: verify it with its key"
        return VerifyResult(False, 0, None, reason, GENESIS, "unauthenticated", False)
    if anchor is not None and key is not None and not anchor.authentic(key):
        reason = "the head file's MAC does not match (forged, or another key)"
        return _result("tampered", 0, None, reason, GENESIS, key=keyed)
    prev, head, count, tail_at_anchor = GENESIS, GENESIS, 0, None
    with target.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            count = number
            line = raw[:-1] if raw.endswith(b"\n") else raw
            checked = _check_line(raw, line, number, prev, key)
            if isinstance(checked, tuple):
                status, reason = checked
                return _result(status, number, number, reason, head, key=keyed)
            prev = hashlib.sha256(line).hexdigest()
            head = str(checked["digest"])
            if anchor is not None and number == anchor.lines:
                tail_at_anchor = prev
    if anchor is None:
        if count == 0:
            return _result(
                "verified" if keyed else "unauthenticated", 0, None, None, head, key=keyed
            )
        reason = "no head file: entries cut from the end cannot be ruled out"
        return _result("unanchored", count, None, reason, head, key=keyed)
    if count < anchor.lines:
        reason = f"the head file records {anchor.lines} lines, the log has {count}"
        return _result("truncated", count, count + 1, reason, head, key=keyed)
    if anchor.lines and tail_at_anchor != anchor.tail:
        reason = f"line {anchor.lines} is not the one the head file recorded (rewritten)"
        return _result("tampered", count, anchor.lines, reason, head, key=keyed)
    return _result("verified" if keyed else "unauthenticated", count, None, None, head, key=keyed)


def _check_line(
    raw: bytes, line: bytes, number: int, prev: str, key: bytes | None
) -> tuple[AuditStatus, str] | dict[str, Any]:
    """The line's object if it checks out, else ``(status, reason)``."""
    if not raw.endswith(b"\n"):
        return "tampered", "incomplete last line (no newline)"
    try:
        obj = json.loads(line)
    except ValueError:
        return "tampered", "not valid JSON"
    if not isinstance(obj, dict) or not {"seq", "prev", "digest"} <= set(obj):
        return "tampered", "missing seq/prev/digest"
    if obj["seq"] != number:
        return "tampered", f"seq {obj['seq']!r} where {number} was expected"
    if obj["prev"] != prev:
        return "tampered", "prev does not match the previous line (edited, removed or moved)"
    if not hmac.compare_digest(str(obj["digest"]), digest(obj, key)):
        return "tampered", "digest does not match the line's content (edited)"
    if obj.get("event") == ANCHOR_EVENT:
        found = obj.get("found")
        status: AuditStatus = "unanchored" if obj.get("kind") == "missing_head" else "truncated"
        return status, f"the writer found the log did not match its head file: {found}"
    return obj
