"""Fault injection: statuses, delays, dropped connections and broken bodies, on demand.

Each rule applies to the next ``times`` matching requests (``path`` is a regular
expression searched in the URL path, ``method`` an HTTP method), then expires. Rules of
different kinds combine: a request can be delayed *and* get a truncated body.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from typing import Any, Literal

__all__ = ["Dropped", "Fault", "FaultKind", "Faults", "Plan", "RecordedRequest"]

FaultKind = Literal["status", "delay", "drop", "corrupt"]
DropKind = Literal["connect", "read", "timeout"]
CorruptKind = Literal["malformed", "truncated", "empty"]


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: ``query`` maps names to lists of values."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    status: int | None
    """The status answered, ``None`` when the connection was dropped."""
    faults: tuple[str, ...] = ()

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return json.loads(self.body)


class Dropped(Exception):
    """The connection is dropped: before the request reached the server (``connect``) or
    after it was processed, before the response arrived (``read``, ``timeout``)."""

    def __init__(self, kind: DropKind) -> None:
        super().__init__(kind)
        self.kind: DropKind = kind


@dataclasses.dataclass
class Fault:
    """One rule; see :meth:`FakeSlurmServer.fail_next` and friends."""

    kind: FaultKind
    times: int = 1
    path: re.Pattern[str] | None = None
    method: str | None = None
    status: int = 503
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    drop: DropKind = "read"
    corrupt: CorruptKind = "truncated"

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to the request."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None


@dataclasses.dataclass
class Plan:
    """The faults picked for one request."""

    delay: float = 0.0
    status: Fault | None = None
    drop: Fault | None = None
    corrupt: Fault | None = None

    @property
    def names(self) -> list[str]:
        """Short names of the faults applied (recorded with the request)."""
        out = [f"delay {self.delay:g}s"] if self.delay else []
        if self.status is not None:
            out.append(f"status {self.status.status}")
        if self.drop is not None:
            out.append(f"drop {self.drop.drop}")
        if self.corrupt is not None:
            out.append(f"corrupt {self.corrupt.corrupt}")
        return out


class Faults:
    """The pending rules, thread-safe (the HTTP server answers from several threads)."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Queue a rule."""
        if fault.times < 1:
            raise ValueError(f"times must be at least 1, got {fault.times}")
        with self._lock:
            self._rules.append(fault)

    def clear(self) -> None:
        """Forget every pending rule."""
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> list[Fault]:
        """Rules not used up yet."""
        with self._lock:
            return list(self._rules)

    def plan(self, method: str, path: str) -> Plan:
        """Take the first matching rule of each kind for this request."""
        plan = Plan()
        with self._lock:
            for fault in list(self._rules):
                if not fault.matches(method, path):
                    continue
                if fault.kind == "delay":
                    if plan.delay:
                        continue
                    plan.delay = fault.seconds
                elif getattr(plan, fault.kind) is None:
                    setattr(plan, fault.kind, fault)
                else:
                    continue
                fault.times -= 1
                if fault.times == 0:
                    self._rules.remove(fault)
        return plan


def status_body(fault: Fault) -> bytes:
    """The body of an injected status: the given one, or a slurmrestd-like error list."""
    if isinstance(fault.body, bytes):
        return fault.body
    if isinstance(fault.body, str):
        return fault.body.encode()
    body = fault.body
    if body is None:
        error = {"description": "injected by FakeSlurmServer", "error": "fault", "source": "fake"}
        body = {"errors": [error], "warnings": []}
    return json.dumps(body).encode()


def corrupted(body: bytes, kind: CorruptKind) -> bytes:
    """``body`` broken the requested way."""
    if kind == "empty":
        return b""
    if kind == "malformed":
        return b"{'jobs': [<not json>"
    return body[: max(1, len(body) // 2)]
