"""Start-time estimates: ``client.predictions``.

For a pending job, Slurm's own estimate comes first: the backfill scheduler sets a
pending job's ``start_time`` (``squeue --start``) once a cycle has placed it
(``method="slurm_backfill"``). Otherwise the estimate is statistical
(``method="statistical"``): the ``quantile`` of the wait times of similar jobs in the
accounting history, pushed later if the work queued ahead on the partition's nodes
needs longer (see :mod:`slurm_core.analytics._estimator` for the exact rules).
``confidence`` is the quantile used and ``basis`` the number of historical jobs behind it.

Example::

    est = client.predictions.estimate_start_time(
        JobBuilder().command(["./train"]).partition("gpu").gpus(1).time_limit("2:00:00"))
    print(est.time, est.method, est.confidence, est.basis)
    est = client.predictions.estimate_start_time(4242)       # a pending job
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol, runtime_checkable

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from .._exceptions import JobSpecError, SlurmError
from .._versions.base import JobId
from ..jobs.spec import JobSpec
from ..models import AccountingJob, Job, Partition
from ..resources.accounting import _AccountingOps
from ..resources.cluster import _PartitionsOps
from ..resources.jobs import _JobsOps
from ..resources.nodes import _NodesOps
from ._common import UTC, JobSize, as_utc, job_size, quantile
from ._estimator import History, Target, backfill_start, queue_start, wait_sample

__all__ = ["AsyncPredictions", "Predictions", "StartEstimate"]

Method = Literal["slurm_backfill", "statistical", "started"]
_BACKFILL_HORIZON: Final = timedelta(days=365)


@runtime_checkable
class _HasSpec(Protocol):
    def to_spec(self) -> JobSpec: ...


Estimable = JobSpec | _HasSpec | JobId


@dataclasses.dataclass(frozen=True)
class StartEstimate:
    """When a job is expected to start.

    ``method`` is ``"slurm_backfill"`` (Slurm's own estimate), ``"statistical"`` (history
    and queue) or ``"started"`` (the job already started: ``time`` is when).
    ``confidence`` is the quantile of historical waits used (``None`` unless
    statistical); ``basis`` the number of historical jobs it rests on; ``details`` what
    went into it (``sample``, ``history_wait_s``, ``queue_start``, ``ahead``...).

    Example::

        >>> est.method, est.confidence, est.basis, est.wait
        ('statistical', 0.8, 37, datetime.timedelta(seconds=94))
    """

    time: datetime
    confidence: float | None
    method: Method
    basis: int
    made_at: datetime
    job_id: int | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def wait(self) -> timedelta:
        """How far ahead of the moment of estimation ``time`` is."""
        return max(self.time - self.made_at, timedelta(0))


def _spec_of(what: JobSpec | _HasSpec) -> JobSpec:
    spec = what if isinstance(what, JobSpec) else what.to_spec()
    if not isinstance(spec, JobSpec):
        raise TypeError(f"to_spec() must return a JobSpec, got {type(spec).__name__}")
    return spec


def spec_size(spec: JobSpec) -> JobSize:
    """CPUs, GPUs, memory and nodes a spec asks for (Slurm's defaults where unset)."""
    nodes = spec.nodes or 1
    if spec.ntasks is not None:
        tasks = spec.ntasks
    elif spec.ntasks_per_node is not None:
        tasks = spec.ntasks_per_node * nodes
    else:
        tasks = 1
    cpus = max(tasks * (spec.cpus_per_task or 1), nodes)
    gpus = spec.gpus.count if spec.gpus is not None else 0
    gpus += sum(g.count for g in spec.gres if g.name == "gpu") * nodes
    if spec.memory_per_node is not None:
        memory = spec.memory_per_node * nodes
    else:
        memory = (spec.memory_per_cpu or 0) * cpus
    return JobSize(cpus=cpus, gpus=gpus, memory_mib=memory, nodes=nodes)


def _partition_of(name: str | None, partitions: Sequence[Partition]) -> Partition | None:
    if name is None:
        return next((p for p in partitions if p.is_default), None)
    # A job may name several partitions; it starts in the first that takes it.
    for candidate in name.split(","):
        found = next((p for p in partitions if p.name == candidate), None)
        if found is not None:
            return found
    raise JobSpecError("partition", f"unknown partition {name!r}")


def target_of_spec(spec: JobSpec, partitions: Sequence[Partition], now: datetime) -> Target:
    """The estimator's view of a job not yet submitted."""
    partition = _partition_of(spec.partition, partitions)
    limit = spec.time_limit
    if limit is None and partition is not None:
        limit = partition.default_time or partition.max_time
    return Target(
        partition=partition.name if partition else None,
        qos=spec.qos,
        size=spec_size(spec),
        time_limit=limit if isinstance(limit, timedelta) else None,
        submit_time=now,
        name=spec.name,
    )


def target_of_job(job: Job) -> Target:
    """The estimator's view of a pending job."""
    return Target(
        partition=(job.partition or "").split(",")[0] or None,
        qos=job.qos,
        size=job_size(job),
        time_limit=job.time_limit if isinstance(job.time_limit, timedelta) else None,
        submit_time=job.submit_time or datetime.now(UTC),
        user=job.user_name,
        name=job.name,
        job_id=job.job_id,
        priority=job.priority or 0,
    )


def estimate(
    target: Target,
    *,
    jobs: Sequence[Job],
    nodes: Sequence[Any],
    partitions: Sequence[Partition],
    history: Sequence[AccountingJob],
    now: datetime,
    q: float = 0.8,
    min_samples: int = 5,
) -> StartEstimate:
    """The statistical estimate for ``target`` (pure: every input passed in)."""
    hist = History(history)
    sample_name, sample = wait_sample(hist, target, min_samples)
    details: dict[str, Any] = {"sample": sample_name}
    candidates = [now]
    if sample:
        wait = quantile(sample, q)
        details["history_wait_s"] = wait
        candidates.append(target.submit_time + timedelta(seconds=wait))
    queued, info = queue_start(target, jobs, nodes, partitions, hist, now)
    details.update(info)
    if queued is None:
        details["note"] = "the job does not fit on the partition's usable nodes"
    else:
        details["queue_start"] = queued
        candidates.append(queued)
    when = max(candidates)
    details["dominant"] = ("queue" if queued == when else "history") if when > now else "now"
    return StartEstimate(
        time=when,
        confidence=q,
        method="statistical",
        basis=len(sample),
        made_at=now,
        job_id=target.job_id,
        details=details,
    )


def _check(q: float, lookback: timedelta, min_samples: int) -> None:
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0 and math.isfinite(q)):
        raise ValueError(f"quantile must be between 0 and 1 (exclusive), got {q!r}")
    if not isinstance(lookback, timedelta) or lookback <= timedelta(0):
        raise ValueError(f"lookback must be a positive timedelta, got {lookback!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(f"min_samples must be an int >= 1, got {min_samples!r}")


class _PredictionOps(BaseResource):
    def _context(
        self, now: datetime, lookback: timedelta
    ) -> Op[tuple[list[Partition], list[Any], list[Job], list[AccountingJob], str | None]]:
        partitions = yield from _PartitionsOps(self._core)._list()
        nodes = yield from _NodesOps(self._core)._list()
        jobs = yield from _JobsOps(self._core)._list(None, None, None)
        history: list[AccountingJob] = []
        problem = None
        try:
            history = yield from _AccountingOps(self._core)._jobs(now - lookback, now, None, None)
        except SlurmError as exc:  # no slurmdbd, or it refused: estimate from the queue only
            problem = f"{type(exc).__name__}: {exc}"
        return partitions, nodes, jobs, history, problem

    def _estimate(
        self, what: Estimable, q: float, lookback: timedelta, min_samples: int, now: datetime | None
    ) -> Op[StartEstimate]:
        _check(q, lookback, min_samples)
        at = as_utc(now) if now is not None else datetime.now(UTC)
        if isinstance(what, bool):
            raise TypeError("job must be a JobSpec, a builder or a job id, got a bool")
        if isinstance(what, (int, str)):
            job = yield from _JobsOps(self._core)._get(what)
            if not job.state.is_pending:
                if job.start_time is None:
                    raise ValueError(f"job {what} is {job.state} and never started")
                return StartEstimate(job.start_time, None, "started", 0, at, job.job_id)
            slurm = backfill_start(job, at, _BACKFILL_HORIZON)
            if slurm is not None:
                return StartEstimate(slurm, None, "slurm_backfill", 0, at, job.job_id)
            target = target_of_job(job)
            partitions, nodes, jobs, history, problem = yield from self._context(at, lookback)
        else:
            spec = _spec_of(what)
            partitions, nodes, jobs, history, problem = yield from self._context(at, lookback)
            target = target_of_spec(spec, partitions, at)
        result = estimate(
            target,
            jobs=jobs,
            nodes=nodes,
            partitions=partitions,
            history=history,
            now=at,
            q=q,
            min_samples=min_samples,
        )
        if problem is not None:
            result = dataclasses.replace(
                result, details={**result.details, "history_error": problem}
            )
        return result

    def _pending(
        self,
        user: str | None,
        partition: str | None,
        q: float,
        lookback: timedelta,
        min_samples: int,
        now: datetime | None,
    ) -> Op[list[StartEstimate]]:
        _check(q, lookback, min_samples)
        at = as_utc(now) if now is not None else datetime.now(UTC)
        partitions, nodes, jobs, history, problem = yield from self._context(at, lookback)
        out = []
        for job in sorted(jobs, key=lambda j: j.job_id):
            if not job.state.is_pending:
                continue
            if user is not None and job.user_name != user:
                continue
            if partition is not None and partition not in (job.partition or "").split(","):
                continue
            slurm = backfill_start(job, at, _BACKFILL_HORIZON)
            if slurm is not None:
                out.append(StartEstimate(slurm, None, "slurm_backfill", 0, at, job.job_id))
                continue
            result = estimate(
                target_of_job(job),
                jobs=jobs,
                nodes=nodes,
                partitions=partitions,
                history=history,
                now=at,
                q=q,
                min_samples=min_samples,
            )
            if problem is not None:
                result = dataclasses.replace(
                    result, details={**result.details, "history_error": problem}
                )
            out.append(result)
        return out


class Predictions(_PredictionOps, SyncResource):
    """``client.predictions``: when will a job start?

    Example::

        est = client.predictions.estimate_start_time(spec)
        for e in client.predictions.estimate_pending(user="alice"):
            print(e.job_id, e.time, e.method)
    """

    def estimate_start_time(
        self,
        job: Estimable,
        *,
        quantile: float = 0.8,
        lookback: timedelta = timedelta(days=14),
        min_samples: int = 5,
        now: datetime | None = None,
    ) -> StartEstimate:
        """Estimate when ``job`` starts: a :class:`~slurm_core.jobs.JobSpec`, a builder
        (anything with ``to_spec()``), or the id of a pending job.

        ``quantile`` of historical waits (higher: later, safer), ``lookback`` how much
        accounting history to read, ``min_samples`` how many similar jobs a group needs.

        Example::

            est = client.predictions.estimate_start_time(spec, quantile=0.9)
        """
        return self._run(self._estimate(job, quantile, lookback, min_samples, now))

    def estimate_pending(
        self,
        *,
        user: str | None = None,
        partition: str | None = None,
        quantile: float = 0.8,
        lookback: timedelta = timedelta(days=14),
        min_samples: int = 5,
        now: datetime | None = None,
    ) -> list[StartEstimate]:
        """Estimates for every pending job (of ``user``, in ``partition``), reading the
        queue and the history once.

        Example::

            soon = [e.job_id for e in client.predictions.estimate_pending() if e.wait.seconds < 60]
        """
        return self._run(self._pending(user, partition, quantile, lookback, min_samples, now))


class AsyncPredictions(_PredictionOps, AsyncResource):
    """Async twin of :class:`Predictions`."""

    async def estimate_start_time(
        self,
        job: Estimable,
        *,
        quantile: float = 0.8,
        lookback: timedelta = timedelta(days=14),
        min_samples: int = 5,
        now: datetime | None = None,
    ) -> StartEstimate:
        """See :meth:`Predictions.estimate_start_time`."""
        return await self._run(self._estimate(job, quantile, lookback, min_samples, now))

    async def estimate_pending(
        self,
        *,
        user: str | None = None,
        partition: str | None = None,
        quantile: float = 0.8,
        lookback: timedelta = timedelta(days=14),
        min_samples: int = 5,
        now: datetime | None = None,
    ) -> list[StartEstimate]:
        """See :meth:`Predictions.estimate_pending`."""
        return await self._run(self._pending(user, partition, quantile, lookback, min_samples, now))
