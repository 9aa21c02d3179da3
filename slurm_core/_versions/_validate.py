"""Checks on caller-supplied values, before anything is sent.

Errors are ``ValueError``/``TypeError`` naming the parameter (``job_id``, ``name``...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from ..models import INFINITE

__all__ = ["JobId", "as_epoch", "as_minutes", "as_name_list", "validate_job_id", "validate_name"]

JobId = int | str
"""A job id: ``42`` or ``"42"``, or an array task ``"40_2"``."""

UTC = timezone.utc


_JOB_ID = re.compile(r"^[1-9][0-9]*(?:_[0-9]+)?$")
_BAD_NAME = re.compile(r"[/?#%\s\x00-\x1f\x7f]")


def validate_job_id(job_id: object, param: str = "job_id") -> str:
    """Return ``job_id`` as a path segment: a positive int or ``"123"``/``"123_4"``."""
    if isinstance(job_id, bool) or not isinstance(job_id, (int, str)):
        raise TypeError(
            f"{param} must be an int or a str like '123_4', got {type(job_id).__name__}"
        )
    if isinstance(job_id, int):
        if job_id <= 0:
            raise ValueError(f"{param} must be a positive integer, got {job_id}")
        return str(job_id)
    if not _JOB_ID.match(job_id):
        raise ValueError(
            f"{param} must be a positive job id like '123' or an array task like '123_4', "
            f"got {job_id!r}"
        )
    return job_id


def validate_name(name: object, param: str) -> str:
    """Return ``name`` if it is usable as one path segment (non-empty, no ``/``)."""
    if not isinstance(name, str):
        raise TypeError(f"{param} must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError(f"{param} must be a non-empty string")
    if _BAD_NAME.search(name):
        raise ValueError(
            f"{param} must not contain '/', '?', '#', '%', whitespace or control characters, "
            f"got {name!r}"
        )
    return name


def as_epoch(value: datetime | int | float, param: str) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{param} must be a datetime or a UNIX timestamp")
    if isinstance(value, (int, float)):
        return str(int(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(int(value.timestamp()))
    raise TypeError(f"{param} must be a datetime or a UNIX timestamp, got {type(value).__name__}")


def as_name_list(value: str | Sequence[str] | None, param: str) -> str | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item or "," in item:
            raise ValueError(f"{param} must be names without commas, got {item!r}")
    return ",".join(items) if items else None


def as_minutes(value: object) -> int | object:
    """A time limit as whole minutes (rounded up), or ``INFINITE``."""
    if value is INFINITE:
        return INFINITE
    if isinstance(value, timedelta):
        secs = value.total_seconds()
        if secs < 0:
            raise ValueError(f"time_limit must not be negative, got {value}")
        return int(-(-secs // 60))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"time_limit must be a timedelta, whole minutes (int) or INFINITE, got {value!r}"
        )
    if value < 0:
        raise ValueError(f"time_limit must not be negative, got {value}")
    return value
