"""Helpers shared by the wire parsers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .._decode import WireError, count, text

Wire = dict[str, Any]


def _required(d: Wire, key: str) -> Any:
    if key not in d or d[key] is None:
        raise WireError(key, "required field is missing")
    return d[key]


def _id(d: Wire, key: str) -> int:
    v = _required(d, key)
    n = count(v, key)
    if n is None:
        raise WireError(key, "required id is unset")
    return n


def _reason(v: Any, key: str) -> str | None:
    r = text(v, key)
    return None if r == "None" else r


def _positive(v: Any, key: str) -> int | None:
    n = count(v, key)
    return n if n else None


def _cpu_time(v: Any, key: str) -> timedelta | None:
    if type(v) is not dict:
        return None
    return timedelta(
        seconds=count(v.get("seconds"), key) or 0,
        microseconds=count(v.get("microseconds"), key) or 0,
    )


def _names(v: Any, key: str) -> tuple[str, ...]:
    # coordinators: [{"name": "alice", "direct": true}] or ["alice"]
    if not v:
        return ()
    if type(v) is not list:
        raise WireError(key, "expected a list")
    return tuple(str(x.get("name")) if type(x) is dict else str(x) for x in v)
