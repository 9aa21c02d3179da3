"""Cost attribution from accounting data: ``client.costs``.

Allocated TRES x charged hours x a :class:`RateCard`, per job, broken down by user, account,
partition, QOS and resource. Money is ``decimal.Decimal``; totals are sums of the per-job
rows, so they reconcile exactly (the rules are in :mod:`slurm_core.analytics._usage`).

Example::

    from slurm_core.analytics import RateCard

    costs = (client.costs.for_user("alice")
             .in_time_range(start, end)
             .with_rates(RateCard(cpu_hour=0.02, gpu_hour=1.5, mem_gb_hour=0.005))
             .with_breakdown()
             .get())
    print(costs.total, costs.by_resource, costs.by_account)
    costs.to_csv("alice.csv")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from ..resources.accounting import _AccountingOps
from ._common import UTC, TimeRange, as_utc
from ._export import csv_text, json_text, write_text
from ._rates import RESOURCES, RateCard, to_decimal
from ._usage import DEFAULT_PRECISION, CostRow, cost_row, sum_by

__all__ = ["AsyncCostQuery", "AsyncCosts", "CostQuery", "CostReport", "CostRow", "Costs"]

DIMENSIONS: Final = ("user", "account", "partition", "qos")
_ROW_FIELDS: Final = (
    "job_id",
    "name",
    "user",
    "account",
    "partition",
    "qos",
    "start_time",
    "end_time",
    "seconds",
)
Names = str | Sequence[str]


@dataclasses.dataclass(frozen=True)
class CostReport:
    """Costs of the jobs in a time range. ``rows`` holds one :class:`CostRow` per job.

    ``total`` and ``by_resource`` are always there; ``by_user``, ``by_account``,
    ``by_partition`` and ``by_qos`` need :meth:`CostQuery.with_breakdown` (otherwise they
    raise ``ValueError`` rather than pretend nobody spent anything). Every breakdown sums
    exactly to ``total``.

    Example::

        assert sum(costs.by_user.values()) == costs.total
        costs.to_csv("jobs.csv"); costs.to_csv("users.csv", breakdown="user")
    """

    range: TimeRange
    rates: RateCard
    rows: tuple[CostRow, ...]
    total: Decimal
    by_resource: Mapping[str, Decimal]
    breakdowns: Mapping[str, Mapping[str, Decimal]]
    precision: Decimal = DEFAULT_PRECISION

    def _breakdown(self, dimension: str) -> Mapping[str, Decimal]:
        if dimension not in self.breakdowns:
            raise ValueError(f"no breakdown by {dimension}: ask for it with .with_breakdown()")
        return self.breakdowns[dimension]

    @property
    def by_user(self) -> Mapping[str, Decimal]:
        """Cost per user (needs ``with_breakdown``)."""
        return self._breakdown("user")

    @property
    def by_account(self) -> Mapping[str, Decimal]:
        """Cost per account (needs ``with_breakdown``)."""
        return self._breakdown("account")

    @property
    def by_partition(self) -> Mapping[str, Decimal]:
        """Cost per partition (needs ``with_breakdown``)."""
        return self._breakdown("partition")

    @property
    def by_qos(self) -> Mapping[str, Decimal]:
        """Cost per QOS (needs ``with_breakdown``)."""
        return self._breakdown("qos")

    def to_dict(self) -> dict[str, Any]:
        """Plain data: range, rates, totals, breakdowns and rows (decimals as strings)."""
        return {
            "range": {"start": self.range.start, "end": self.range.end},
            "rates": self.rates.to_dict(),
            "precision": self.precision,
            "total": self.total,
            "by_resource": dict(self.by_resource),
            **{f"by_{d}": dict(v) for d, v in self.breakdowns.items()},
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text (decimals as strings, times in ISO 8601 UTC).

        Example::

            Path("costs.json").write_text(costs.to_json())
        """
        return json_text(self.to_dict(), indent=indent)

    def to_csv(self, path: str | None = None, *, breakdown: str | None = None) -> str:
        """Per-job rows as CSV (or one breakdown: ``"user"``, ``"resource"``...);
        written to ``path`` if given, and returned.

        Example::

            costs.to_csv("alice-jobs.csv")
        """
        if breakdown is not None:
            table = self.by_resource if breakdown == "resource" else self._breakdown(breakdown)
            text = csv_text([breakdown, "cost"], [[k, v] for k, v in table.items()])
        else:
            extra = sorted({k for r in self.rows for k in r.costs} - set(RESOURCES))
            resources = [*RESOURCES, *extra]
            header = [
                *_ROW_FIELDS,
                *(f"{r}_hours" for r in RESOURCES),
                *(f"cost_{r}" for r in resources),
                "total",
            ]
            rows = [
                [
                    *(getattr(r, f) for f in _ROW_FIELDS),
                    *(r.usage.get(x, Decimal(0)) for x in RESOURCES),
                    *(r.costs.get(x, Decimal(0)) for x in resources),
                    r.total,
                ]
                for r in self.rows
            ]
            text = csv_text(header, rows)
        if path is not None:
            write_text(path, text)
        return text


def build_report(
    jobs: Sequence[Any],
    window: TimeRange,
    card: RateCard,
    *,
    now: datetime,
    dimensions: Sequence[str] = (),
    precision: Decimal = DEFAULT_PRECISION,
    partitions: frozenset[str] | None = None,
) -> CostReport:
    """The report for accounting ``jobs`` (pure; what :meth:`CostQuery.get` computes)."""
    rows = []
    for job in sorted(jobs, key=lambda j: j.job_id):
        if partitions is not None and job.partition not in partitions:
            continue
        row = cost_row(job, window, card, now=now, precision=precision)
        if row is not None:
            rows.append(row)
    return CostReport(
        range=window,
        rates=card,
        rows=tuple(rows),
        total=sum((r.total for r in rows), Decimal(0)),
        by_resource=sum_by(rows, "resource"),
        breakdowns={d: sum_by(rows, d) for d in dimensions},
        precision=precision,
    )


@dataclasses.dataclass(frozen=True)
class _Spec:
    users: tuple[str, ...] | None = None
    accounts: tuple[str, ...] | None = None
    partitions: frozenset[str] | None = None
    window: TimeRange | None = None
    rates: RateCard | None = None
    dimensions: tuple[str, ...] = ()
    precision: Decimal = DEFAULT_PRECISION
    now: datetime | None = None


def _names(value: Names, what: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ValueError(f"{what} must be one or more non-empty names, got {value!r}")
    return items


class _CostsOps(BaseResource):
    def _report(self, spec: _Spec) -> Op[CostReport]:
        if spec.window is None:
            raise ValueError("costs need a time range: .in_time_range(start, end)")
        if spec.rates is None:
            raise ValueError("costs need a rate card: .with_rates(RateCard(cpu_hour=...))")
        now = spec.now or datetime.now(UTC)
        ops = _AccountingOps(self._core)
        jobs = yield from ops._jobs(spec.window.start, spec.window.end, spec.users, spec.accounts)
        return build_report(
            jobs,
            spec.window,
            spec.rates,
            now=now,
            dimensions=spec.dimensions,
            precision=spec.precision,
            partitions=spec.partitions,
        )


Q = TypeVar("Q")


class _QueryMethods(Generic[Q]):
    """The builder steps shared by the sync and async query and entry point; ``Q`` is the
    query type each step returns."""

    _spec: _Spec

    def _with(self, **changes: Any) -> Q:
        raise NotImplementedError  # each concrete class knows how to make its query

    def for_user(self, user: Names) -> Q:
        """Only jobs of ``user`` (a name or several)."""
        return self._with(users=_names(user, "user"))

    for_users = for_user

    def for_account(self, account: Names) -> Q:
        """Only jobs charged to ``account`` (a name or several)."""
        return self._with(accounts=_names(account, "account"))

    def in_partition(self, partition: Names) -> Q:
        """Only jobs that ran in ``partition`` (a name or several)."""
        return self._with(partitions=frozenset(_names(partition, "partition")))

    def in_time_range(
        self, start: datetime | float | TimeRange, end: datetime | float | None = None
    ) -> Q:
        """Charge usage within ``[start, end)`` (or a :class:`TimeRange`)."""
        if isinstance(start, TimeRange):
            if end is not None:
                raise TypeError("pass a TimeRange or start and end, not both")
            return self._with(window=start)
        if end is None:
            raise TypeError("in_time_range needs an end (or a TimeRange)")
        return self._with(window=TimeRange(as_utc(start, "start"), as_utc(end, "end")))

    def with_rates(self, rates: RateCard) -> Q:
        """Price usage with ``rates``."""
        if not isinstance(rates, RateCard):
            raise TypeError(f"rates must be a RateCard, got {type(rates).__name__}")
        return self._with(rates=rates)

    def with_breakdown(self, *dimensions: str) -> Q:
        """Break the total down by ``dimensions`` (default: user, account, partition, qos)."""
        wanted = dimensions or DIMENSIONS
        unknown = [d for d in wanted if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown breakdown {unknown}; choose from {list(DIMENSIONS)}")
        return self._with(dimensions=tuple(dict.fromkeys(wanted)))

    def with_precision(self, precision: Decimal | str) -> Q:
        """Round each job's cost per resource to ``precision`` (default ``0.000001``)."""
        value = to_decimal(precision, "precision")
        if value <= 0:
            raise ValueError("precision must be > 0, e.g. Decimal('0.01')")
        return self._with(precision=value)

    def as_of(self, now: datetime) -> Q:
        """Treat ``now`` as the current time (charges running jobs up to it)."""
        return self._with(now=as_utc(now, "now"))


class CostQuery(_QueryMethods["CostQuery"]):
    """A cost query being built (immutable: each step returns a new query); :meth:`get`
    runs it. Made by ``client.costs``."""

    def __init__(self, resource: Costs, spec: _Spec) -> None:
        self._resource = resource
        self._spec = spec

    def _with(self, **changes: Any) -> CostQuery:
        return CostQuery(self._resource, dataclasses.replace(self._spec, **changes))

    def get(self) -> CostReport:
        """Fetch the jobs from the accounting database and price them.

        Example::

            report = client.costs.in_time_range(start, end).with_rates(card).get()
        """
        return self._resource._run(self._resource._report(self._spec))


class AsyncCostQuery(_QueryMethods["AsyncCostQuery"]):
    """Async twin of :class:`CostQuery`: ``await query.get()``."""

    def __init__(self, resource: AsyncCosts, spec: _Spec) -> None:
        self._resource = resource
        self._spec = spec

    def _with(self, **changes: Any) -> AsyncCostQuery:
        return AsyncCostQuery(self._resource, dataclasses.replace(self._spec, **changes))

    async def get(self) -> CostReport:
        """See :meth:`CostQuery.get`."""
        return await self._resource._run(self._resource._report(self._spec))


class Costs(_CostsOps, _QueryMethods[CostQuery], SyncResource):
    """``client.costs``: where cost queries start (every builder step is available here).

    Example::

        report = (client.costs.for_account("physics")
                  .in_time_range(datetime(2026, 1, 1), datetime(2026, 2, 1))
                  .with_rates(RateCard(cpu_hour=0.02)).with_breakdown("user").get())
    """

    _spec = _Spec()

    def _with(self, **changes: Any) -> CostQuery:
        return CostQuery(self, dataclasses.replace(self._spec, **changes))

    def query(self) -> CostQuery:
        """An empty query (all users and accounts)."""
        return CostQuery(self, self._spec)


class AsyncCosts(_CostsOps, _QueryMethods[AsyncCostQuery], AsyncResource):
    """Async twin of :class:`Costs`: ``await client.costs.for_user("a")....get()``."""

    _spec = _Spec()

    def _with(self, **changes: Any) -> AsyncCostQuery:
        return AsyncCostQuery(self, dataclasses.replace(self._spec, **changes))

    def query(self) -> AsyncCostQuery:
        """An empty query (all users and accounts)."""
        return AsyncCostQuery(self, self._spec)
