"""Pieces the analytics modules share: time ranges, TRES arithmetic, hostlists, quantiles.

Everything here is pure (no I/O) and works on the public models.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final

from ..models import TRES, AccountingJob, Job

__all__ = [
    "UTC",
    "JobSize",
    "TimeRange",
    "as_utc",
    "expand_hostlist",
    "gpu_count",
    "has_started",
    "job_size",
    "parse_tres_string",
    "quantile",
    "tres_counts",
]

UTC: Final = timezone.utc


def as_utc(value: datetime | float | int, name: str = "time") -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC) or a UNIX timestamp."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a datetime or a UNIX timestamp, got a bool")
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    raise TypeError(f"{name} must be a datetime or a UNIX timestamp, got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class TimeRange:
    """A half-open time interval ``[start, end)`` in UTC (naive datetimes are taken as UTC).

    Example::

        >>> from datetime import datetime
        >>> r = TimeRange(datetime(2026, 1, 1), datetime(2026, 2, 1))
        >>> r.duration.days
        31
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start, end = as_utc(self.start, "start"), as_utc(self.end, "end")
        if end <= start:
            raise ValueError(f"a time range must end after it starts: {start} .. {end}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def last(cls, period: timedelta, *, now: datetime | None = None) -> TimeRange:
        """The ``period`` up to ``now`` (default: the current time).

        Example::

            TimeRange.last(timedelta(days=7))
        """
        end = as_utc(now) if now is not None else datetime.now(UTC)
        return cls(end - period, end)

    @property
    def duration(self) -> timedelta:
        """``end - start``."""
        return self.end - self.start

    def __contains__(self, when: object) -> bool:
        return isinstance(when, datetime) and self.start <= as_utc(when) < self.end

    def overlap(self, start: datetime, end: datetime) -> timedelta:
        """How much of ``[start, end)`` falls inside this range."""
        lo, hi = max(self.start, as_utc(start)), min(self.end, as_utc(end))
        return max(hi - lo, timedelta(0))


# --------------------------------------------------------------------------- TRES ------
def has_started(job: AccountingJob) -> bool:
    """True if the accounted job really started. slurmdbd 22.05 (dbv0.0.38) reports a
    pending job's start and end as the time of the query: those are not starts."""
    return job.start_time is not None and not job.state.is_pending


def tres_counts(tres: Iterable[TRES]) -> dict[str, int]:
    """``{"cpu": 2, "mem": 200, "gres/gpu": 1, ...}``; unset and negative counts (the
    database's "not measured", e.g. ``energy=-2``) are left out."""
    return {t.key: t.count for t in tres if t.count is not None and t.count >= 0}


def parse_tres_string(text: str | None) -> dict[str, int]:
    """``"cpu=2,mem=1G,node=1,gres/gpu=1"`` (slurmctld's ``tres_*_str``) -> counts.

    Memory becomes MiB (``M``, ``G``, ``T`` suffixes); unparsable items are skipped.

    Example::

        >>> parse_tres_string("cpu=2,mem=1G,gres/gpu:fake=1")
        {'cpu': 2, 'mem': 1024, 'gres/gpu:fake': 1}
    """
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        key, _, value = item.strip().partition("=")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTP]?)", value.strip(), re.IGNORECASE)
        if not key or match is None:
            continue
        number, unit = float(match[1]), match[2].upper()
        if key == "mem":
            number *= {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}[unit]
        out[key] = math.ceil(number)
    return out


def gpu_count(counts: dict[str, int]) -> int:
    """GPUs in a TRES count map: ``gres/gpu``, else the sum of the typed ``gres/gpu:<type>``."""
    if "gres/gpu" in counts:
        return counts["gres/gpu"]
    return sum(v for k, v in counts.items() if k.startswith("gres/gpu:"))


@dataclasses.dataclass(frozen=True)
class JobSize:
    """What a job occupies: CPUs, GPUs, memory (MiB) and nodes."""

    cpus: int = 1
    gpus: int = 0
    memory_mib: int = 0
    nodes: int = 1

    @property
    def size_class(self) -> str:
        """A coarse class for comparing jobs: ``"cpu:2-4"``, ``"gpu:1"``, ``"cpu:1"``..."""
        if self.gpus:
            return f"gpu:{_bucket(self.gpus)}"
        return f"cpu:{_bucket(self.cpus)}"


_BUCKETS: Final = ((1, "1"), (4, "2-4"), (16, "5-16"), (64, "17-64"))


def _bucket(n: int) -> str:
    for limit, name in _BUCKETS:
        if n <= limit:
            return name
    return "65+"


def job_size(job: Job | AccountingJob) -> JobSize:
    """The resources of a live or accounted job (allocated if known, else requested)."""
    if isinstance(job, AccountingJob):
        counts = tres_counts(job.tres_allocated) or tres_counts(job.tres_requested)
        nodes = counts.get("node") or job.node_count or 1
    else:
        counts = parse_tres_string(job.tres_allocated) or parse_tres_string(job.tres_requested)
        nodes = counts.get("node") or job.node_count or 1
        counts.setdefault("cpu", job.cpus or 1)
    return JobSize(
        cpus=max(counts.get("cpu", 1), 1),
        gpus=gpu_count(counts),
        memory_mib=counts.get("mem", 0),
        nodes=max(nodes, 1),
    )


# --------------------------------------------------------------------------- hostlists -
_RANGE = re.compile(r"^(?P<prefix>[^\[\],]*)\[(?P<body>[^\]]+)\](?P<rest>.*)$")


def expand_hostlist(text: str | None) -> list[str]:
    """Expand a Slurm hostlist: ``"node[1-3,7],gpu01"`` -> ``['node1', 'node2', 'node3',
    'node7', 'gpu01']`` (zero padding kept; one bracket group per name).

    Example::

        >>> expand_hostlist("n[01-02],x")
        ['n01', 'n02', 'x']
    """
    if not text or text.strip() in ("", "(null)", "None assigned"):
        return []
    names: list[str] = []
    for part in _split_top(text.strip()):
        match = _RANGE.match(part)
        if match is None:
            names.append(part)
            continue
        prefix, rest = match["prefix"], match["rest"]
        for item in match["body"].split(","):
            lo, _, hi = item.partition("-")
            if not hi:
                names.append(f"{prefix}{lo}{rest}")
                continue
            width = len(lo) if lo.startswith("0") else 0
            for n in range(int(lo), int(hi) + 1):
                names.append(f"{prefix}{n:0{width}d}{rest}")
    return names


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]


# --------------------------------------------------------------------------- statistics -
def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between order statistics.

    Example::

        >>> quantile([10, 20, 30, 40], 0.5)
        25.0
    """
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within 0..1, got {q}")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))
