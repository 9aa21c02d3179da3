"""Tolerant decoders for slurmrestd's wire values, shared by every version.

The same logical field comes in several shapes across versions:

* plain numbers (v0.0.38: ``"time_limit": 5``, unset as ``null``);
* the "number with flags" wrapper (v0.0.39+: ``{"set": true, "infinite": false,
  "number": 5}``; ``set: false`` means unset, ``infinite: true`` means unlimited);
* a state as one string (``"COMPLETED"``) or a list (``["PENDING", "REQUEUED"]``);
* an exit code as a raw wait status (``768``), a wrapper around it, or a verbose object
  (``{"status": ["SIGNALED"], "return_code": {...}, "signal": {"id": {...}, "name": ...}}``).

Each decoder accepts every shape, so one parser serves all versions. Values of an
unexpected type raise :class:`WireError` carrying the field path, which the adapter turns
into the public ``ResponseValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ..models import INFINITE, ExitCode, InfiniteType, JobState
from ..models.accounting import TRES

__all__ = [
    "WireError",
    "boolean",
    "count",
    "csv",
    "exit_code",
    "flags",
    "limit",
    "minutes",
    "number",
    "seconds",
    "sub",
    "text",
    "timestamp",
    "tres_list",
]

UTC = timezone.utc
_fromtimestamp = datetime.fromtimestamp
# Slurm's sentinels for unset/infinite in the plain-integer encodings (v0.0.38):
# NO_VAL (0xfffffffe), INFINITE (0xffffffff) and their 64 bit variants (not the 16 bit
# ones: 65534 is also the uid/gid of "nobody").
_NO_VAL = frozenset({0xFFFFFFFE, 0xFFFFFFFFFFFFFFFE})
_INFINITE_INTS = frozenset({0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF})


class WireError(ValueError):
    """A wire value had a shape no version of slurmrestd sends; ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def number(v: Any, path: str = "") -> int | float | InfiniteType | None:
    """Decode a plain or wrapped number: ``None`` if unset, ``INFINITE`` if infinite."""
    if v is None:
        return None
    t = type(v)
    if t is int or t is float:
        if t is int and v in _NO_VAL:
            return None
        if t is int and v in _INFINITE_INTS:
            return INFINITE
        return v  # type: ignore[no-any-return]
    if t is dict:
        if v.get("infinite"):
            return INFINITE
        if not v.get("set"):
            return None
        n = v.get("number")
        if type(n) is int or type(n) is float:
            return n
        if n is None:
            return None
        raise WireError(path, f"expected a number in 'number', got {type(n).__name__}")
    if t is bool:
        return int(v)
    if t is str:
        if v.upper() in ("UNLIMITED", "INFINITE"):
            return INFINITE
        try:
            return int(v)
        except ValueError:
            raise WireError(path, f"expected a number, got {v!r}") from None
    raise WireError(path, f"expected a number, got {t.__name__}")


def count(v: Any, path: str = "") -> int | None:
    """A number that is never infinite in practice: infinite is reported as ``None``."""
    # Fast paths first: this runs ~20 times per job in a 10k-job listing.
    t = type(v)
    if t is dict:
        if v.get("set") and not v.get("infinite"):
            n = v.get("number")
            if type(n) is int:
                return n
        elif "set" in v:
            return None
    elif t is int and v not in _NO_VAL and v not in _INFINITE_INTS:
        return v  # type: ignore[no-any-return]
    n = number(v, path)
    if n is None or n is INFINITE:
        return None
    return int(n)


def limit(
    v: Any, path: str = "", *, negative_is_infinite: bool = True
) -> int | InfiniteType | None:
    """A count limit: ``INFINITE`` when unlimited (v0.0.38 also uses ``-1`` for that)."""
    n = number(v, path)
    if n is None or n is INFINITE:
        return n
    if n < 0 and negative_is_infinite:
        return INFINITE
    return int(n)


def timestamp(v: Any, path: str = "") -> datetime | None:
    """A UNIX timestamp as an aware UTC datetime; ``0``/unset/infinite are ``None``."""
    n = count(v, path) if type(v) is not float else v
    if n is None or n <= 0:
        return None
    try:
        return _fromtimestamp(n, UTC)
    except (OverflowError, OSError, ValueError):
        raise WireError(path, f"timestamp out of range: {n!r}") from None


def minutes(v: Any, path: str = "") -> timedelta | InfiniteType | None:
    """A duration in minutes (time limits): ``INFINITE`` when unlimited."""
    n = number(v, path)
    if n is None or n is INFINITE:
        return n
    if n < 0:
        return INFINITE
    return _minutes(n)


@lru_cache(maxsize=1024)
def _minutes(n: float) -> timedelta:
    # Time limits repeat across a listing; timedelta objects are immutable.
    return timedelta(minutes=n)


def seconds(v: Any, path: str = "") -> timedelta | None:
    """A duration in seconds; unset/infinite are ``None``."""
    n = number(v, path)
    if n is None or n is INFINITE:
        return None
    return timedelta(seconds=n)


def text(v: Any, path: str = "") -> str | None:
    """A string; ``""`` and ``null`` are ``None``."""
    if type(v) is str:
        return v or None
    if v is None:
        return None
    if type(v) is int or type(v) is float:
        return str(v)
    if type(v) is list:  # some versions send comma-separated values as lists
        return ",".join(str(x) for x in v) or None
    raise WireError(path, f"expected a string, got {type(v).__name__}")


def boolean(v: Any, path: str = "") -> bool | None:
    """A boolean (also accepts 0/1 and the strings ``"true"``/``"false"``)."""
    if v is None:
        return None
    if type(v) is bool:
        return v
    if type(v) is int:
        return v != 0
    if type(v) is str and v.lower() in ("true", "false", "yes", "no"):
        return v.lower() in ("true", "yes")
    raise WireError(path, f"expected a boolean, got {type(v).__name__}")


def csv(v: Any, path: str = "") -> tuple[str, ...]:
    """A list of names sent either as ``"a,b"`` or as ``["a", "b"]``."""
    if v is None or v == "":
        return ()
    if type(v) is str:
        return tuple(x for x in v.split(",") if x)
    if type(v) is list:
        return tuple(str(x) for x in v if x is not None and x != "")
    raise WireError(path, f"expected a list or a comma-separated string, got {type(v).__name__}")


def flags(v: Any, path: str = "") -> frozenset[str]:
    """A set of flag names, upper-cased (v0.0.38 sends some in lower case)."""
    if not v:
        return _EMPTY
    if type(v) is list:
        try:
            return _flag_set(tuple(v))
        except TypeError:  # unhashable items: not a list of names
            raise WireError(path, "expected a list of flag names") from None
    if type(v) is str:
        return frozenset(x.upper() for x in v.split(",") if x)
    raise WireError(path, f"expected a list of flags, got {type(v).__name__}")


_EMPTY: frozenset[str] = frozenset()


@lru_cache(maxsize=1024)
def _flag_set(items: tuple[Any, ...]) -> frozenset[str]:
    # One shared frozenset per distinct flag list (they repeat across a listing).
    return frozenset(str(x).upper() for x in items if x)


def state(v: Any, path: str = "") -> JobState:
    """A job state in either form (``"COMPLETED"`` or ``["PENDING", "REQUEUED"]``)."""
    if v is None or type(v) is str:
        return JobState.parse(v)
    if type(v) is list and all(type(x) is str for x in v):
        return JobState.parse(v)
    raise WireError(path, f"expected a state string or list of strings, got {v!r}")


def sub(obj: Mapping[str, Any], key: str, path: str = "") -> Mapping[str, Any]:
    """A nested object, or ``{}`` if absent/null."""
    v = obj.get(key)
    if v is None:
        return {}
    if type(v) is dict:
        return v
    raise WireError(f"{path}.{key}" if path else key, f"expected an object, got {type(v).__name__}")


def exit_code(v: Any, path: str = "") -> ExitCode | None:
    """Decode any exit code encoding; ``None`` when unset."""
    if v is None:
        return None
    t = type(v)
    if t is int:
        if v in _NO_VAL or v in _INFINITE_INTS:
            return None
        return ExitCode.from_wait_status(v)
    if t is not dict:
        raise WireError(path, f"expected an exit code, got {t.__name__}")
    if "status" not in v and ("set" in v or "number" in v):
        # v0.0.39: the raw wait status inside a number wrapper
        n = count(v, path)
        return None if n is None else ExitCode.from_wait_status(n)
    status = v.get("status")
    if type(status) is list:
        status = status[0] if status else None
    status_s = str(status).upper() if status else "INVALID"
    rc = count(v.get("return_code"), f"{path}.return_code")
    sig = v.get("signal")
    sig_id: int | None = None
    sig_name: str | None = None
    if type(sig) is dict:
        # v0.0.40+: {"id": <number>, "name": "TERM"}; dbv0.0.38: {"signal_id": 15, "name": ...}
        sig_id = count(sig.get("id", sig.get("signal_id")), f"{path}.signal.id")
        sig_name = text(sig.get("name"), f"{path}.signal.name")
    elif sig is not None:
        sig_id = count(sig, f"{path}.signal")
    if status_s in ("SIGNALED", "CORE_DUMPED"):
        rc = None
    return ExitCode.of(status_s, rc, sig_id, sig_name)


def tres_list(v: Any, path: str = "") -> tuple[TRES, ...]:
    """A list of TRES objects (``[{"type": "cpu", "name": "", "id": 1, "count": 4}]``)."""
    if not v:
        return ()
    if type(v) is not list:
        raise WireError(path, f"expected a list of TRES, got {type(v).__name__}")
    out = []
    for i, t in enumerate(v):
        if type(t) is not dict:
            raise WireError(f"{path}[{i}]", "expected a TRES object")
        out.append(
            TRES._build(
                {
                    "type": str(t.get("type") or ""),
                    "name": text(t.get("name"), f"{path}[{i}].name"),
                    "id": count(t.get("id"), f"{path}[{i}].id"),
                    "count": count(t.get("count"), f"{path}[{i}].count"),
                }
            )
        )
    return tuple(out)
