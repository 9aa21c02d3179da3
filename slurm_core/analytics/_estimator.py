"""The start-time estimator's brain (pure): history quantiles plus a queue simulation.

Given a target (a pending job or a job not yet submitted), accounting history, the live
queue, nodes and partitions:

1. **History.** Wait times (``start - max(submit, eligible)``) of jobs that started, from
   the most specific group with at least ``min_samples`` jobs: same partition + QOS + size
   class, else partition + size class, else partition, else the whole cluster (or, if none
   has enough, the biggest). Its ``q`` quantile is the historical wait.
2. **Queue.** The work ahead of the target on the partition's usable nodes: running jobs
   free their CPUs/GPUs at ``start + expected runtime``; pending jobs ahead (higher
   priority, then earlier submission; held or not-yet-eligible jobs skipped) start in
   order, each when enough CPUs/GPUs are free. Expected runtimes are the median elapsed
   of finished jobs with the same user and name, else of the partition, else the cluster,
   capped at the job's time limit (:data:`DEFAULT_RUNTIME` if nothing is known).
   Strict priority order without backfill: pessimistic for small jobs. CPUs and GPUs
   are pooled over the partition's nodes (node boundaries, memory and licenses are not
   modelled): optimistic for jobs that need a whole large node.
3. The estimate is the latest of now, ``submit + historical wait`` and the queue's start.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from ..models import INFINITE, AccountingJob, Job, Node, Partition
from ._common import (
    JobSize,
    expand_hostlist,
    gpu_count,
    has_started,
    job_size,
    parse_tres_string,
    quantile,
)

__all__ = ["DEFAULT_RUNTIME", "History", "Target", "queue_start", "wait_sample"]

DEFAULT_RUNTIME: Final = timedelta(hours=1)
# Pending reasons of jobs that are not competing for resources right now.
_NOT_WAITING_FOR_RESOURCES: Final = frozenset(
    {
        "BeginTime", "Dependency", "DependencyNeverSatisfied", "JobHeldUser", "JobHeldAdmin",
        "PartitionDown", "PartitionInactive", "ReqNodeNotAvail", "InvalidAccount", "InvalidQOS",
    }
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Target:
    """The job whose start is estimated."""

    partition: str | None
    qos: str | None
    size: JobSize
    time_limit: timedelta | None
    submit_time: datetime
    user: str | None = None
    name: str | None = None
    job_id: int | None = None
    priority: int | None = None
    """``None`` for a job not yet submitted: it queues behind every pending job."""


@dataclasses.dataclass(frozen=True)
class History:
    """Finished/started jobs from the accounting database, indexed for the estimator."""

    jobs: Sequence[AccountingJob]

    def waits(self, exclude: int | None = None) -> list[tuple[AccountingJob, float]]:
        out = []
        for job in self.jobs:
            if job.start_time is None or job.submit_time is None or job.job_id == exclude:
                continue
            if not has_started(job):
                continue
            ready = max(job.submit_time, job.eligible_time or job.submit_time)
            out.append((job, max((job.start_time - ready).total_seconds(), 0.0)))
        return out

    @functools.cached_property
    def _runtimes(self) -> dict[tuple[str, ...], float]:
        """Median elapsed seconds of finished jobs by (user, name), by partition, overall."""
        groups: dict[tuple[str, ...], list[float]] = {}
        for j in self.jobs:
            if j.elapsed is None or j.end_time is None or not has_started(j):
                continue
            seconds = j.elapsed.total_seconds()
            if j.user is not None:
                groups.setdefault(("user", j.user, j.name), []).append(seconds)
            if j.partition is not None:
                groups.setdefault(("partition", j.partition), []).append(seconds)
            groups.setdefault(("all",), []).append(seconds)
        return {key: quantile(runs, 0.5) for key, runs in groups.items()}

    def runtime(self, user: str | None, name: str | None, partition: str | None) -> float | None:
        """Median elapsed seconds of finished jobs like this one (``None`` if none)."""
        medians = self._runtimes
        for key in (("user", user or "", name or ""), ("partition", partition or ""), ("all",)):
            if key in medians:
                return medians[key]
        return None


def wait_sample(history: History, target: Target, min_samples: int) -> tuple[str, list[float]]:
    """The group of similar jobs the historical wait is taken from: ``(name, waits)``."""
    waits = history.waits(exclude=target.job_id)
    size_class = target.size.size_class
    levels: list[tuple[str, list[float]]] = []
    if target.partition is not None:
        if target.qos is not None:
            levels.append(
                (
                    "partition+qos+size",
                    [
                        w
                        for j, w in waits
                        if j.partition == target.partition
                        and j.qos == target.qos
                        and job_size(j).size_class == size_class
                    ],
                )
            )
        levels.append(
            (
                "partition+size",
                [
                    w
                    for j, w in waits
                    if j.partition == target.partition and job_size(j).size_class == size_class
                ],
            )
        )
        levels.append(("partition", [w for j, w in waits if j.partition == target.partition]))
    levels.append(("cluster", [w for _, w in waits]))
    for name, sample in levels:
        if len(sample) >= min_samples:
            return name, sample
    return max(levels, key=lambda level: len(level[1]))


def _capacity(node: Node) -> tuple[int, int]:
    tres = parse_tres_string(node.tres)
    cpus = node.cpus or tres.get("cpu", 0)
    return cpus, gpu_count(tres)


def _limit(value: Any) -> timedelta | None:
    return value if isinstance(value, timedelta) else None


def _expected_runtime(history: History, job: Job | Target) -> float:
    if isinstance(job, Job):
        user, limit = job.user_name, job.time_limit
    else:
        user, limit = job.user, job.time_limit
    seen = history.runtime(user, job.name, job.partition)
    cap = _limit(limit) if limit is not INFINITE else None
    if seen is None:
        return (cap or DEFAULT_RUNTIME).total_seconds()
    return min(seen, cap.total_seconds()) if cap is not None else seen


def _sort_key(job: Job) -> tuple[int, float, int]:
    submit = job.submit_time.timestamp() if job.submit_time else 0.0
    return (-(job.priority or 0), submit, job.job_id)


def _is_ahead(job: Job, target: Target) -> bool:
    if target.priority is None:  # not submitted yet: everything pending is ahead
        return True
    submit = target.submit_time.timestamp()
    return _sort_key(job) < (-target.priority, submit, target.job_id or 0)


def queue_start(
    target: Target,
    jobs: Sequence[Job],
    nodes: Sequence[Node],
    partitions: Sequence[Partition],
    history: History,
    now: datetime,
) -> tuple[datetime | None, dict[str, Any]]:
    """When the queue simulation lets ``target`` start (``None``: it never fits), and what
    it rested on (``ahead``, ``running``, ``capacity_cpus``, ``capacity_gpus``)."""
    partition = target.partition or next((p.name for p in partitions if p.is_default), None)
    pool = {n.name: n for n in nodes if partition in n.partitions and n.is_available}
    cap_cpus = sum(_capacity(n)[0] for n in pool.values())
    cap_gpus = sum(_capacity(n)[1] for n in pool.values())
    # Partitions sharing any usable node compete for the same resources.
    rivals = {p for n in pool.values() for p in n.partitions}
    info: dict[str, Any] = {"capacity_cpus": cap_cpus, "capacity_gpus": cap_gpus}
    free_cpus, free_gpus = cap_cpus, cap_gpus
    releases: list[tuple[float, int, int]] = []
    running = ahead = 0
    t0 = now.timestamp()
    for job in jobs:
        if job.job_id == target.job_id or not job.state.is_running:
            continue
        if not set(expand_hostlist(job.nodes)) & set(pool):
            continue
        size = job_size(job)
        started = job.start_time.timestamp() if job.start_time else t0
        end = max(started + _expected_runtime(history, job), t0)
        heapq.heappush(releases, (end, size.cpus, size.gpus))
        free_cpus -= size.cpus
        free_gpus -= size.gpus
        running += 1
    queue = sorted(
        (
            j
            for j in jobs
            if j.state.is_pending
            and j.job_id != target.job_id
            and not j.hold
            and j.state_reason not in _NOT_WAITING_FOR_RESOURCES
            and set((j.partition or "").split(",")) & rivals
            and _is_ahead(j, target)
        ),
        key=_sort_key,
    )
    t = t0
    line: list[tuple[Job | None, JobSize, float]] = [
        (j, job_size(j), _expected_runtime(history, j)) for j in queue
    ]
    line.append((None, target.size, _expected_runtime(history, target)))
    for waiting, size, runtime in line:
        if size.cpus > cap_cpus or size.gpus > cap_gpus:
            if waiting is None:
                info.update(running=running, ahead=ahead)
                return None, info
            continue  # can never run here: it holds nothing up
        while (free_cpus < size.cpus or free_gpus < size.gpus) and releases:
            end, cpus, gpus = heapq.heappop(releases)
            t = max(t, end)
            free_cpus += cpus
            free_gpus += gpus
        if waiting is not None:
            ahead += 1
            heapq.heappush(releases, (t + runtime, size.cpus, size.gpus))
            free_cpus -= size.cpus
            free_gpus -= size.gpus
    info.update(running=running, ahead=ahead)
    return datetime.fromtimestamp(t, now.tzinfo), info


def backfill_start(job: Job, now: datetime, horizon: timedelta) -> datetime | None:
    """Slurm's own estimate for a pending job (set by the backfill scheduler), if usable:
    present, not stale (more than a minute in the past), and within ``horizon``."""
    if not job.state.is_pending or job.start_time is None:
        return None
    if job.submit_time is not None and job.start_time < job.submit_time:
        return None
    if job.start_time < now - timedelta(minutes=1) or job.start_time > now + horizon:
        return None
    return max(job.start_time, now)
