"""The fake scheduler: dependencies, resources, and moving jobs along the clock.

A scheduling pass (:func:`schedule`) looks at pending jobs in priority order and starts
every one whose hold, begin time, dependency, array throttle and resources allow it
(greedy, no reservations: a small job may overtake a big one). :func:`run_until` replays
the time between two instants event by event (job ends, begin times), so a dependent job
starts the second its dependency is satisfied even inside one big ``advance()``.

The scheduler works on any :class:`Schedulable` (what it needs of the cluster), so it
never imports :class:`~._cluster.FakeCluster`, which calls it.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

from ...jobs import DependencyKind, DependencyOperator, DependencyTerm, JobRef
from ...models import INFINITE, ExitCode
from ._state import FakeJob, FakeNode, FakePartition, Outcome

__all__ = [
    "Schedulable",
    "allocate",
    "evaluate_dependency",
    "finish",
    "run_until",
    "schedule",
    "targets",
]

Verdict = Literal["ok", "wait", "never"]
TermState = Literal["fulfilled", "unfulfilled", "failed"]
DEF_MEM_PER_CPU = 100
"""MiB per CPU when a job names no memory (``DefMemPerCPU``)."""
_ACTIVE = ("RUNNING", "SUSPENDED")


class Schedulable(Protocol):
    """What the scheduler needs of the cluster (:class:`~._cluster.FakeCluster` is one)."""

    jobs: dict[int, FakeJob]
    nodes: dict[str, FakeNode]
    partitions: dict[str, FakePartition]
    stats: dict[str, int]
    default_runtime: float
    min_job_age: int
    applied: int
    """Fake time up to which events were processed."""

    def touch(self, job: FakeJob, now: int) -> None:
        """Record a change of ``job`` at ``now``."""

    def usage(self, node: str) -> tuple[int, int, int]:
        """CPUs, MiB and GPUs in use on ``node``."""

    def outcome_for(self, job: FakeJob) -> Outcome:
        """How ``job`` is to end."""


# ----------------------------------------------------------------- dependencies -------------
def targets(c: Schedulable, ref: JobRef) -> list[FakeJob]:
    """The job records a dependency reference names (all tasks for a whole array)."""
    task = ref.array_task_id
    if task == "*":
        return [j for j in c.jobs.values() if j.array_job_id == ref.job_id]
    if isinstance(task, int):
        return [
            j for j in c.jobs.values() if j.array_job_id == ref.job_id and j.array_task_id == task
        ]
    job = c.jobs.get(ref.job_id)
    if job is not None and job.array_job_id == job.job_id:  # a whole array by its id
        return [j for j in c.jobs.values() if j.array_job_id == job.job_id]
    return [job] if job is not None else []


def _ref_state(kind: DependencyKind, target: FakeJob, delay: int | None, now: int) -> TermState:
    if kind is DependencyKind.AFTER:
        started = target.start_time and now >= target.start_time + 60 * (delay or 0)
        return "fulfilled" if started or target.finished else "unfulfilled"
    if not target.finished:
        return "unfulfilled"
    ok = target.state == "COMPLETED"
    if kind in (DependencyKind.AFTEROK, DependencyKind.AFTERCORR):
        return "fulfilled" if ok else "failed"
    if kind is DependencyKind.AFTERNOTOK:
        return "failed" if ok else "fulfilled"
    return "fulfilled"  # afterany, afterburstbuffer


def _term_state(c: Schedulable, job: FakeJob, term: DependencyTerm, now: int) -> TermState:
    if term.kind is DependencyKind.SINGLETON:
        for other in c.jobs.values():
            same = other is not job and other.name == job.name
            if same and other.user_name == job.user_name:
                earlier = other.state == "PENDING" and other.job_id < job.job_id
                if other.state in _ACTIVE or earlier:
                    return "unfulfilled"
        return "fulfilled"
    states: list[TermState] = []
    for ref in term.job_ids:
        found = targets(c, ref)
        if term.kind is DependencyKind.AFTERCORR and job.array_task_id is not None:
            found = [t for t in found if t.array_task_id == job.array_task_id]
        states += [_ref_state(term.kind, t, ref.delay, now) for t in found]
    if "failed" in states:
        return "failed"
    return "fulfilled" if all(s == "fulfilled" for s in states) else "unfulfilled"


def evaluate_dependency(c: Schedulable, job: FakeJob, now: int) -> tuple[Verdict, str]:
    """Whether ``job``'s dependency holds, and the text slurmctld shows for it."""
    dep = job.dependency
    if dep is None:
        return "ok", ""
    states = [_term_state(c, job, term, now) for term in dep.terms]
    text = dep.kind.separator.join(f"{t}({s})" for t, s in zip(dep.terms, states, strict=True))
    if dep.kind is DependencyOperator.OR:
        if "fulfilled" in states:
            return "ok", text
        return ("never" if all(s == "failed" for s in states) else "wait"), text
    if "failed" in states:
        return "never", text
    return ("ok" if all(s == "fulfilled" for s in states) else "wait"), text


# -------------------------------------------------------------------- resources --------------
def _needs(job: FakeJob) -> tuple[int, int, int]:
    """CPUs, MiB and GPUs the job needs on each of its nodes."""
    nodes = max(job.min_nodes, 1)
    cpus = math.ceil(job.cpus / nodes)
    if job.memory_per_node is not None:
        mem = job.memory_per_node
    else:
        mem = (job.memory_per_cpu or DEF_MEM_PER_CPU) * cpus
    return cpus, mem, math.ceil(job.gpus / nodes)


def allocate(c: Schedulable, job: FakeJob, *, empty: bool = False) -> dict[str, int] | None:
    """Nodes and CPUs for ``job`` now (or on an idle cluster with ``empty``), or ``None``."""
    cpus, mem, gpus = _needs(job)
    part = c.partitions[job.partition]
    chosen: dict[str, int] = {}
    for name in part.nodes:
        node = c.nodes[name]
        if not empty and not node.usable:
            continue
        used_cpus, used_mem, used_gpus = (0, 0, 0) if empty else c.usage(name)
        if (
            node.cpus - used_cpus >= cpus
            and node.memory - used_mem >= mem
            and node.gpus - used_gpus >= gpus
        ):
            chosen[name] = cpus
            if len(chosen) == max(job.min_nodes, 1):
                return chosen
    return None


# ------------------------------------------------------------------- transitions ------------
def _limit_seconds(c: Schedulable, job: FakeJob) -> float | None:
    part = c.partitions[job.partition]
    limit = job.time_limit if job.time_limit is not None else part.default_time
    if limit is None:
        limit = part.max_time
    if limit is None or limit is INFINITE:
        return None
    return 60.0 * int(limit)


def _start(c: Schedulable, job: FakeJob, alloc: dict[str, int], now: int) -> None:
    outcome = c.outcome_for(job)
    runtime = outcome.runtime if outcome.runtime is not None else c.default_runtime
    limit = _limit_seconds(c, job)
    final = outcome.state
    if limit is not None and runtime > limit:
        runtime, final = limit, "TIMEOUT"
    _, mem, gpus = _needs(job)
    job.state, job.reason = "RUNNING", "None"
    job.flags.discard("REQUEUED")
    job.start_time = now
    job.eligible_time = job.eligible_time or now
    job.cores = {n: _free_cores(c, n, k) for n, k in alloc.items()}
    job.alloc = alloc
    job.alloc_memory = {n: mem for n in alloc}
    job.alloc_gpus = {n: gpus for n in alloc}
    job.final_state = final
    job.outcome = outcome
    job.finish_at = now + max(1, math.ceil(runtime))
    c.stats["jobs_started"] += 1
    c.touch(job, now)


def _free_cores(c: Schedulable, node: str, count: int) -> tuple[int, ...]:
    """The first ``count`` cores of ``node`` no active job holds."""
    held = {i for j in c.jobs.values() if j.state in _ACTIVE for i in j.cores.get(node, ())}
    free = [i for i in range(c.nodes[node].cpus) if i not in held]
    return tuple(free[:count])


def _exit_for(state: str, outcome: Outcome | None) -> ExitCode:
    if state == "TIMEOUT" or (state == "CANCELLED" and (outcome is None or outcome.signal is None)):
        return ExitCode.of("SIGNALED", None, 15, "TERM")
    if outcome is None:
        return ExitCode.of("SUCCESS", 0)
    if state == "FAILED" and outcome.exit_code == 0 and outcome.signal is None:
        return ExitCode.of("ERROR", 1)
    return outcome.exit()


def finish(c: Schedulable, job: FakeJob, state: str, now: int) -> None:
    """End ``job`` in ``state`` at ``now`` (freeing its nodes)."""
    was_running = job.state in _ACTIVE
    job.state, job.end_time = state, now
    if not was_running:  # cancelled while pending: 24.11 reports 0 and keeps the reason
        job.start_time = now
        job.exit_code = ExitCode.of("SUCCESS", 0)
    else:
        job.reason = "None"
        job.exit_code = _exit_for(state, job.outcome)
    failed = state in ("FAILED", "OUT_OF_MEMORY", "NODE_FAIL")
    job.derived_exit_code = job.exit_code if failed else ExitCode.of("SUCCESS", 0)
    if not was_running:  # never started: nothing allocated (a finished job keeps its own)
        job.alloc, job.alloc_memory, job.alloc_gpus = {}, {}, {}
    job.finish_at = None
    key = {"COMPLETED": "jobs_completed", "CANCELLED": "jobs_canceled"}.get(state, "jobs_failed")
    c.stats[key] += 1
    c.touch(job, now)


def _set_reason(c: Schedulable, job: FakeJob, reason: str, now: int) -> None:
    if job.reason != reason:
        job.reason = reason
        c.touch(job, now)


def schedule(c: Schedulable, now: int) -> None:
    """One scheduling pass at ``now``."""
    pending = sorted(
        (j for j in c.jobs.values() if j.state == "PENDING" and not j.purged),
        key=lambda j: (-j.priority, j.job_id),
    )
    blocked = False
    for job in pending:
        if job.hold:
            _set_reason(c, job, "JobHeldUser", now)
            continue
        if job.begin_time > now:
            _set_reason(c, job, "BeginTime", now)
            continue
        if job.dependency is not None:
            verdict, text = evaluate_dependency(c, job, now)
            if text != job.dependency_text:
                job.dependency_text = text
                c.touch(job, now)
            if verdict != "ok":
                reason = "Dependency" if verdict == "wait" else "DependencyNeverSatisfied"
                _set_reason(c, job, reason, now)
                continue
            job.dependency, job.dependency_text, job.eligible_time = None, "", now
        if c.partitions[job.partition].state != "UP":
            _set_reason(c, job, "PartitionDown", now)
            continue
        if _over_partition_limit(c, job):  # EnforcePartLimits=NO: accepted, never started
            _set_reason(c, job, "PartitionTimeLimit", now)
            continue
        if job.array_throttle is not None:
            running = sum(
                1
                for j in c.jobs.values()
                if j.array_job_id == job.array_job_id and j.state in _ACTIVE
            )
            if running >= job.array_throttle:
                _set_reason(c, job, "JobArrayTaskLimit", now)
                continue
        alloc = allocate(c, job)
        if alloc is None:
            _set_reason(c, job, "Priority" if blocked else "Resources", now)
            blocked = True
            continue
        _start(c, job, alloc, now)


def _over_partition_limit(c: Schedulable, job: FakeJob) -> bool:
    most = c.partitions[job.partition].max_time
    if most is None or job.time_limit is None:
        return False
    return job.time_limit is INFINITE or int(job.time_limit) > most


def _next_event(c: Schedulable, after: int) -> int | None:
    times = [j.finish_at for j in c.jobs.values() if j.finish_at is not None]
    times += [j.begin_time for j in c.jobs.values() if j.state == "PENDING" and j.begin_time]
    later = [int(t) for t in times if t > after]
    return min(later) if later else None


def run_until(c: Schedulable, target: int, *, force: bool = False) -> None:
    """Process every event up to ``target`` (jobs end, dependents start...).

    Nothing happens unless time moved (or ``force``): the scheduler runs when the clock
    does, so a job submitted now stays PENDING until the next ``advance()``.
    """
    now = c.applied
    if target < now or (target == now and not force):
        return
    schedule(c, now)
    while True:
        nxt = _next_event(c, now)
        due = [j for j in c.jobs.values() if j.finish_at is not None and j.finish_at <= now]
        for job in due:
            finish(c, job, job.final_state or "COMPLETED", int(job.finish_at or now))
        if due:
            schedule(c, now)
            continue
        if nxt is None or nxt > target:
            break
        now = nxt
        schedule(c, now)
    c.applied = target
    schedule(c, target)
    for job in c.jobs.values():
        if job.finished and not job.purged and job.end_time + c.min_job_age <= target:
            job.purged = True
