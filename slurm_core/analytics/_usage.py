"""Usage and cost of accounted jobs: allocated TRES x charged time x rates, in ``Decimal``.

The rules, in one place:

* a job is charged for its **allocated** TRES (``tres_allocated``), over the part of its
  run inside the time range: its accounted ``elapsed`` when it ran wholly inside (that
  excludes suspended time), else the overlap of ``[start, end or now)`` with the range;
* jobs that never started, or ran for 0 s inside the range, are left out;
* ``cpu`` counts CPUs, ``gpu`` the ``gres/gpu`` count (or the sum of the typed
  ``gres/gpu:<type>`` counts if only those are tracked), ``mem`` GiB (Slurm's MiB / 1024),
  ``node`` nodes; any other TRES key is priced if the rate card names it;
* each resource's cost on a job is rounded once, half-even, to the report's precision;
  a job's total and every breakdown are sums of those rounded amounts, so they add up
  exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from ..models import AccountingJob
from ._common import TimeRange, gpu_count, has_started, tres_counts
from ._rates import RESOURCES, RateCard

__all__ = ["DEFAULT_PRECISION", "CostRow", "charged_seconds", "cost_row", "resource_units"]

DEFAULT_PRECISION: Final = Decimal("0.000001")
_HOUR: Final = Decimal(3600)
_MIB_PER_GIB: Final = Decimal(1024)
# Never priced by default and not resources one pays for.
_NOT_PRICED: Final = frozenset({"energy", "fs/disk", "vmem", "pages"})


@dataclasses.dataclass(frozen=True)
class CostRow:
    """One job's charged usage and cost.

    ``usage`` is in resource-hours (``cpu``: CPU-hours, ``mem``: GiB-hours...), rounded
    to 6 places for display; ``costs`` per resource and ``total`` are exact sums at the
    report's precision.
    """

    job_id: int
    name: str
    user: str | None
    account: str | None
    partition: str | None
    qos: str | None
    start_time: datetime | None
    end_time: datetime | None
    seconds: int
    tres: Mapping[str, int]
    usage: Mapping[str, Decimal]
    costs: Mapping[str, Decimal]
    total: Decimal

    def key(self, dimension: str) -> str:
        """The row's value for a breakdown dimension (``user``, ``account``, ...)."""
        value = getattr(self, dimension)
        return value if isinstance(value, str) and value else "(none)"


def charged_seconds(job: AccountingJob, window: TimeRange, now: datetime) -> int:
    """Seconds of ``job``'s run to charge within ``window`` (see the module rules)."""
    start = job.start_time
    if start is None or not has_started(job):
        return 0
    end = job.end_time or now
    inside = start >= window.start and job.end_time is not None and job.end_time <= window.end
    if inside and job.elapsed is not None:
        return max(int(job.elapsed.total_seconds()), 0)
    return int(window.overlap(start, max(end, start)).total_seconds())


def resource_units(job: AccountingJob) -> dict[str, Decimal]:
    """Units per resource held by ``job`` (``mem`` in GiB): what one hour is priced on."""
    counts = tres_counts(job.tres_allocated)
    units: dict[str, Decimal] = {
        "cpu": Decimal(counts.get("cpu", 0)),
        "gpu": Decimal(gpu_count(counts)),
        "mem": Decimal(counts.get("mem", 0)) / _MIB_PER_GIB,
        "node": Decimal(counts.get("node", 0)),
    }
    for key, value in counts.items():
        named = key in ("cpu", "mem", "node") or key.startswith("gres/gpu")
        if not named and key not in _NOT_PRICED:
            units[key] = Decimal(value)
    return units


def cost_row(
    job: AccountingJob,
    window: TimeRange,
    card: RateCard,
    *,
    now: datetime,
    precision: Decimal = DEFAULT_PRECISION,
) -> CostRow | None:
    """The cost row of ``job``, or ``None`` if it used no time inside ``window``."""
    seconds = charged_seconds(job, window, now)
    if seconds <= 0:
        return None
    rates = card.rates(partition=job.partition, qos=job.qos)
    units = resource_units(job)
    usage: dict[str, Decimal] = {}
    costs: dict[str, Decimal] = {}
    secs = Decimal(seconds)
    for resource, amount in units.items():
        unit_seconds = amount * secs
        usage[resource] = (unit_seconds / _HOUR).quantize(DEFAULT_PRECISION, ROUND_HALF_EVEN)
        rate = rates.get(resource)
        if rate is None:
            continue
        costs[resource] = (unit_seconds * rate / _HOUR).quantize(precision, ROUND_HALF_EVEN)
    return CostRow(
        job_id=job.job_id,
        name=job.name,
        user=job.user,
        account=job.account,
        partition=job.partition,
        qos=job.qos,
        start_time=job.start_time,
        end_time=job.end_time,
        seconds=seconds,
        tres=tres_counts(job.tres_allocated),
        usage=usage,
        costs=costs,
        total=sum(costs.values(), Decimal(0)),
    )


def sum_by(rows: Iterable[CostRow], dimension: str) -> dict[str, Decimal]:
    """Total cost per value of ``dimension`` (``"resource"`` sums each row's ``costs``)."""
    out: dict[str, Decimal] = {}
    for row in rows:
        if dimension == "resource":
            for resource, amount in row.costs.items():
                out[resource] = out.get(resource, Decimal(0)) + amount
        else:
            key = row.key(dimension)
            out[key] = out.get(key, Decimal(0)) + row.total
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def usage_by(rows: Iterable[CostRow], dimension: str) -> dict[str, dict[str, Decimal]]:
    """Resource-hours per value of ``dimension``: ``{"alice": {"cpu": ..., "gpu": ...}}``."""
    out: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        bucket = out.setdefault(row.key(dimension), {r: Decimal(0) for r in RESOURCES})
        for resource, hours in row.usage.items():
            bucket[resource] = bucket.get(resource, Decimal(0)) + hours
    return dict(sorted(out.items()))
