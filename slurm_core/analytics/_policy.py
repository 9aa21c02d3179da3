"""The scaling policy (pure): observe a partition, decide how many nodes it should have.

* **Active** nodes can take work (up, not drained, not powered down). **Resumable** nodes
  are the ones the optimizer may bring back: drained with the optimizer's own reason
  (:data:`REASON_PREFIX`), or powered down by power saving; nodes an admin drained for
  their own reasons are never touched. **Idle** active nodes (nothing allocated, not
  ``PLANNED`` by the backfill scheduler for a pending job) are the only ones released.
* **Demand**: CPUs and GPUs of the partition's running plus pending jobs (held and
  not-yet-eligible jobs left out), in nodes of the partition's typical size (median
  CPUs/GPUs); at least the busy nodes (with ``drain_busy``: the nodes running this
  partition's jobs) and the widest pending job.
* **Target**: demand within ``[min_nodes, max_nodes]``, at most the nodes that exist,
  and at most what the hourly cost target affords (``min_nodes`` wins over the cost).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from ..models import Job, Node
from ._common import expand_hostlist, gpu_count, job_size, parse_tres_string

__all__ = ["REASON_PREFIX", "Observation", "observe", "target_nodes"]

REASON_PREFIX: Final = "slurm-client autoscaler"
_INACTIVE_FLAGS: Final = frozenset(
    {"DRAIN", "POWERED_DOWN", "POWERING_DOWN", "POWER_DOWN", "FAIL", "MAINTENANCE",
     "NOT_RESPONDING", "REBOOT_REQUESTED"}
)  # fmt: skip
_POWERED_OFF: Final = frozenset({"POWERED_DOWN", "POWER_DOWN"})
_NOT_WAITING: Final = frozenset(
    {"BeginTime", "Dependency", "DependencyNeverSatisfied", "JobHeldUser", "JobHeldAdmin"}
)


def node_capacity(node: Node) -> tuple[int, int, int]:
    """``(cpus, gpus, memory MiB)`` of a node."""
    tres = parse_tres_string(node.tres)
    return (
        node.cpus or tres.get("cpu", 0),
        gpu_count(tres),
        node.real_memory or tres.get("mem", 0),
    )


def is_active(node: Node) -> bool:
    """Up and schedulable: not down, drained, failing or powered down."""
    return node.state in ("IDLE", "MIXED", "ALLOCATED", "COMPLETING") and not (
        node.state_flags & _INACTIVE_FLAGS
    )


def is_resumable(node: Node) -> bool:
    """Drained by this optimizer, or powered down by power saving (and not failing)."""
    if is_active(node) or node.state_flags & {"FAIL", "NOT_RESPONDING"}:
        return False
    if node.state_flags & _POWERED_OFF:
        return True
    return "DRAIN" in node.state_flags and (node.reason or "").startswith(REASON_PREFIX)


def is_idle(node: Node) -> bool:
    """Active with nothing allocated, and not ``PLANNED`` (the backfill scheduler has
    reserved it for a pending job, maybe of a partition nobody monitors)."""
    return (
        is_active(node)
        and node.state == "IDLE"
        and not node.alloc_cpus
        and "PLANNED" not in node.state_flags
    )


@dataclasses.dataclass(frozen=True)
class Observation:
    """What the optimizer saw of one partition."""

    partition: str
    nodes: tuple[str, ...]
    active: tuple[str, ...]
    idle: tuple[str, ...]
    resumable: tuple[str, ...]
    busy: tuple[str, ...]
    """Active nodes that are not idle (running anyone's jobs, or planned for one)."""
    own_busy: tuple[str, ...]
    """Nodes running jobs of this partition."""
    pending: int
    pending_cpus: int
    pending_gpus: int
    running_cpus: int
    running_gpus: int
    widest_job: int
    node_cpus: int
    node_gpus: int
    node_memory: int


def _in_partition(job: Job, partition: str) -> bool:
    return partition in (job.partition or "").split(",")


def observe(partition: str, nodes: Sequence[Node], jobs: Sequence[Job]) -> Observation:
    """Summarize ``partition`` from the node and job listings."""
    mine = sorted((n for n in nodes if partition in n.partitions), key=lambda n: n.name)
    names = {n.name for n in mine}
    pending = [
        j
        for j in jobs
        if j.state.is_pending
        and _in_partition(j, partition)
        and not j.hold
        and j.state_reason not in _NOT_WAITING
    ]
    running = [
        j
        for j in jobs
        if j.state.is_running
        and _in_partition(j, partition)
        and set(expand_hostlist(j.nodes)) & names
    ]
    own = {n for j in running for n in expand_hostlist(j.nodes)} & names
    sizes = [job_size(j) for j in pending]
    run_sizes = [job_size(j) for j in running]
    caps = [node_capacity(n) for n in mine] or [(1, 0, 0)]
    return Observation(
        partition=partition,
        nodes=tuple(n.name for n in mine),
        active=tuple(n.name for n in mine if is_active(n)),
        idle=tuple(n.name for n in mine if is_idle(n)),
        resumable=tuple(n.name for n in mine if is_resumable(n)),
        busy=tuple(n.name for n in mine if is_active(n) and not is_idle(n)),
        own_busy=tuple(sorted(own)),
        pending=len(pending),
        pending_cpus=sum(s.cpus for s in sizes),
        pending_gpus=sum(s.gpus for s in sizes),
        running_cpus=sum(s.cpus for s in run_sizes),
        running_gpus=sum(s.gpus for s in run_sizes),
        widest_job=max((s.nodes for s in sizes), default=0),
        node_cpus=max(int(statistics.median(c[0] for c in caps)), 1),
        node_gpus=int(statistics.median(c[1] for c in caps)),
        node_memory=int(statistics.median(c[2] for c in caps)),
    )


def target_nodes(
    obs: Observation,
    *,
    min_nodes: int,
    max_nodes: int,
    node_cost: Decimal | None = None,
    budget: Decimal | None = None,
    drain_busy: bool = False,
) -> tuple[int, int, str]:
    """``(desired, target, why)``: the demand in nodes and the bounded target. Nodes busy
    with other partitions' work count as demand unless ``drain_busy``."""
    cpu_nodes = math.ceil((obs.running_cpus + obs.pending_cpus) / obs.node_cpus)
    gpu_demand = obs.running_gpus + obs.pending_gpus
    gpu_nodes = math.ceil(gpu_demand / obs.node_gpus) if obs.node_gpus else 0
    floor = len(obs.own_busy) if drain_busy else len(obs.busy)
    desired = max(cpu_nodes, gpu_nodes, floor, obs.widest_job)
    why = [
        f"{obs.pending} pending job(s) want {obs.pending_cpus} CPU(s)/{obs.pending_gpus} GPU(s), "
        f"running use {obs.running_cpus}/{obs.running_gpus}: {desired} node(s) of "
        f"{obs.node_cpus} CPU(s)/{obs.node_gpus} GPU(s)"
    ]
    target = min(max(desired, min_nodes), max_nodes)
    if target != desired:
        why.append(f"bounded to [{min_nodes}, {max_nodes}]")
    exist = len(obs.active) + len(obs.resumable)
    if target > exist:
        why.append(f"only {exist} node(s) can be active")
        target = exist
    if budget is not None and node_cost is not None and node_cost > 0:
        affordable = int(budget // node_cost)
        if target > affordable:
            target = max(affordable, min_nodes)
            why.append(
                f"cost target {budget}/h affords {affordable} node(s) at {node_cost}/h"
                + (" (min_nodes wins)" if target > affordable else "")
            )
    return desired, target, "; ".join(why)
