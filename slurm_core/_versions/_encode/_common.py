"""What differs between versions on the *response* side, and the value encoders.

:class:`WireFormat` is the response-side twin of an adapter's class attributes: where the
adapter knows how a version wants *requests*, this knows how the version writes
*responses*. Number wrappers come from the adapter itself (``Adapter.number_wrappers``),
so the two cannot disagree; the rest is checked against the OpenAPI documents by the
fake server's schema tests and against the parsers by the round-trip property tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from ...models import INFINITE, ExitCode, JobState
from .._responses import ResponseParser
from ..adapters import ADAPTERS

__all__ = ["NO_VAL", "UNLIMITED", "Wire", "WireFormat", "drop_none", "wire_format"]

Wire = dict[str, Any]
NO_VAL = 0xFFFFFFFE
"""Slurm's 32 bit "not set" marker."""
UNLIMITED = 0xFFFFFFFF
"""Slurm's 32 bit "infinite" marker (what v0.0.38 sends for an unlimited time)."""


def _minor(version: str) -> int:
    return int(version.rsplit(".", 1)[1])


@dataclasses.dataclass(frozen=True)
class WireFormat:
    """How one REST API version writes the objects the parsers read."""

    version: str
    number_wrappers: bool
    """v0.0.39+: ``{"set", "infinite", "number"}`` (from the adapter)."""
    state_lists: bool
    """v0.0.40+: job states (and exit code statuses) as lists; before: one string."""
    node_state_list: bool
    """v0.0.39+: node state as a list; v0.0.38: lower-case string + ``state_flags``."""
    verbose_exit_code: bool
    """v0.0.40+: ``{"status": [...], "return_code": ..., "signal": {...}}``; before: wait status."""
    wrapped_times: bool
    """v0.0.40+: slurmctld timestamps in number wrappers; before: plain integers."""
    flat_partition: bool
    """v0.0.38: the flat partition object."""
    partition_state: bool
    """v0.0.40+: ``partition.state``; v0.0.39 does not report it."""
    feature_lists: bool
    """v0.0.39+: node features as lists; v0.0.38: comma-separated strings."""
    partition_flags: bool
    """v0.0.38 and v0.0.45+ report partition flags (``DEFAULT``...); v0.0.39-44 do not."""
    wrapped_cpu_load: bool
    """v0.0.39 only: ``cpu_load`` in a number wrapper."""

    def num(self, value: int | float | object | None) -> Any:
        """A number field: wrapped in v0.0.39+, plain (``None``: omitted) in v0.0.38."""
        if self.number_wrappers:
            return wrap(value)
        if value is INFINITE:
            return UNLIMITED
        return value

    def stamp(self, when: datetime | None) -> Any:
        """A slurmctld timestamp (``0`` when unset, as slurmctld sends it)."""
        n = epoch(when)
        return wrap(n) if self.wrapped_times else n

    def exit_code(self, code: ExitCode | None) -> Any:
        """A slurmctld exit code (``None``: omitted)."""
        if code is None:
            return None
        if self.verbose_exit_code:
            return verbose_exit_code(code, lists=True)
        status = wait_status(code)
        return wrap(status) if self.number_wrappers else status

    def state(self, state: JobState) -> Any:
        """A job state: ``["PENDING", "REQUEUED"]`` or ``"PENDING"``."""
        tokens = [str(state.base), *sorted(state.flags)]
        return tokens if self.state_lists else tokens[0]


def wrap(value: int | float | object | None) -> Wire:
    """The number wrapper: unset for ``None``, infinite for ``INFINITE``."""
    if value is None:
        return {"set": False, "infinite": False, "number": 0}
    if value is INFINITE:
        return {"set": False, "infinite": True, "number": 0}
    return {"set": True, "infinite": False, "number": value}


def epoch(when: datetime | None) -> int:
    """Whole UNIX seconds; ``0`` for ``None``."""
    return 0 if when is None else int(when.timestamp())


def minutes(value: timedelta | object | None) -> int | object | None:
    """A time limit as whole minutes (``INFINITE`` and ``None`` pass through)."""
    if isinstance(value, timedelta):
        return int(value.total_seconds() // 60)
    return value


def wait_status(code: ExitCode) -> int:
    """The POSIX wait status that :meth:`ExitCode.from_wait_status` decodes to ``code``."""
    if code.signal is not None and code.status in ("SIGNALED", "CORE_DUMPED"):
        return (code.signal & 0x7F) | (0x80 if code.status == "CORE_DUMPED" else 0)
    return ((code.return_code or 0) & 0xFF) << 8


def verbose_exit_code(code: ExitCode, *, lists: bool) -> Wire:
    """The verbose exit code object (v0.0.40+; accounting from v0.0.38 with ``lists=False``)."""
    if lists:
        return {
            "status": [code.status],
            "return_code": wrap(code.return_code),
            "signal": {"id": wrap(code.signal), "name": code.signal_name or ""},
        }
    return {
        "status": code.status,
        "return_code": code.return_code if code.return_code is not None else 0,
        "signal": {"signal_id": code.signal or 0, "name": code.signal_name or ""},
    }


def text(value: str | None) -> str:
    """A string field: ``""`` for unset, as slurmrestd sends it."""
    return value or ""


def csv(values: Iterable[str]) -> str:
    """Names joined by commas (the v0.0.38 form of several lists)."""
    return ",".join(values)


def drop_none(d: Wire) -> Wire:
    """``d`` without the keys whose value is ``None`` (fields the version leaves out)."""
    return {k: v for k, v in d.items() if v is not None}


@cache
def wire_format(version: str) -> WireFormat:
    """The response format of ``version`` (``KeyError`` for a version we do not speak)."""
    adapter = ADAPTERS[version]
    minor = _minor(version)
    return WireFormat(
        version=version,
        number_wrappers=adapter.number_wrappers,
        state_lists=minor >= 40,
        node_state_list=minor >= 39,
        verbose_exit_code=minor >= 40,
        wrapped_times=minor >= 40,
        # the adapter that parses the flat shape overrides partition_item (v0.0.38)
        flat_partition=adapter.partition_item is not ResponseParser.partition_item,
        partition_state=minor >= 40,
        feature_lists=minor >= 39,
        partition_flags=minor <= 38 or minor >= 45,
        wrapped_cpu_load=minor == 39,
    )
