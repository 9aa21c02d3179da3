"""Fake records -> the public models (what the client should see after parsing).

The wire is then produced from these models by :mod:`slurm_core._versions._encode`,
whose round trip through the client's parsers is property-tested; so for any version
``client.jobs.get(n)`` equals :func:`job_model` up to what that version can carry.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ...models import (
    INFINITE,
    QOS,
    TRES,
    Account,
    AccountingJob,
    AccountingStep,
    Association,
    Diag,
    Job,
    JobState,
    License,
    Node,
    Partition,
    Ping,
    Reservation,
    User,
)
from . import _acctstats
from ._cluster import FakeCluster
from ._sched import DEF_MEM_PER_CPU
from ._state import FakeJob, FakeNode, FakePartition

__all__ = [
    "accounting_model",
    "diag_model",
    "job_model",
    "node_model",
    "partition_model",
    "static_accounting",
]

UTC = timezone.utc
_TRES_IDS = {"cpu": 1, "mem": 2, "energy": 3, "node": 4, "billing": 5, "gres/gpu": 1001}


def _time(epoch: int) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None


def _hostlist(names: list[str]) -> str | None:
    return ",".join(names) or None


def _tres(job: FakeJob, nodes: int, *, allocated: bool) -> dict[str, int]:
    cpus = job.cpus
    per_node_mem = job.memory_per_node
    mem = per_node_mem * nodes if per_node_mem else (job.memory_per_cpu or DEF_MEM_PER_CPU) * cpus
    tres = {"cpu": cpus, "mem": mem, "node": nodes, "billing": cpus}
    if job.gpus:
        tres["gres/gpu"] = job.gpus
    if allocated and not job.alloc:
        return {}
    return tres


def _tres_text(tres: dict[str, int]) -> str | None:
    parts = [f"{k}={v}M" if k == "mem" else f"{k}={v}" for k, v in tres.items()]
    return ",".join(parts) or None


def _limit(c: FakeCluster, job: FakeJob) -> timedelta | object | None:
    limit = job.time_limit
    if limit is None:
        part = c.partitions[job.partition]
        limit = part.default_time if part.default_time is not None else part.max_time
    if limit is None or limit is INFINITE:
        return INFINITE
    return timedelta(minutes=int(limit))


def log_paths(version: str | None, job: FakeJob) -> tuple[str | None, str | None, str | None]:
    """stdout, stderr and stdin as ``version`` shows them (recorded on 22.05/24.11/26.05).

    22.05 sends the patterns as submitted (nothing when none); 24.11 (and the versionless
    view, ``None``) the expanded paths, the default ``<cwd>/slurm-%j.out``, stderr to
    stdout; 26.05 the patterns, with the relative ``slurm-%j.out`` by default (the expanded
    paths go to ``std*_expanded``, added by :func:`._wire.log_paths`).
    """
    out, err, inp = job.patterns
    minor = int(version.rsplit(".", 1)[1]) if version else 42
    if minor <= 38:
        return out, err, inp
    if minor >= 43:
        default = "slurm-%A_%a.out" if job.array_job_id is not None else "slurm-%j.out"
        return out or default, err, inp
    return job.standard_output, job.standard_error, job.standard_input


def job_model(c: FakeCluster, job: FakeJob, version: str | None = None) -> Job:
    """The :class:`Job` slurmctld reports for ``job`` now (log paths as ``version`` shows)."""
    stdout, stderr, stdin = log_paths(version, job)
    minor = int(version.rsplit(".", 1)[1]) if version else 42
    nodes = sorted(job.alloc)
    node_count = len(nodes) or job.min_nodes
    return Job.model_validate(
        {
            "job_id": job.job_id,
            "name": job.name,
            "state": JobState.parse([job.state, *sorted(job.flags)]),
            "state_reason": None if job.reason == "None" else job.reason,
            "user_name": job.user_name,
            "user_id": job.user_id,
            "group_name": job.user_name,
            "group_id": job.user_id,
            "account": job.account,
            "partition": job.partition,
            "qos": job.qos,
            "cluster": c.name,
            "comment": job.comment,
            "array_job_id": job.array_job_id,
            "array_task_id": job.array_task_id,
            "nodes": _hostlist(nodes),
            "node_count": node_count,
            "cpus": job.cpus,
            "tasks": job.tasks,
            "cpus_per_task": job.cpus_per_task,
            "memory_per_node": job.memory_per_node,
            # DefMemPerCPU applies when the job names no memory (recorded: 100)
            "memory_per_cpu": (
                (job.memory_per_cpu or DEF_MEM_PER_CPU) if job.memory_per_node is None else None
            ),
            "time_limit": _limit(c, job),
            "submit_time": _time(job.submit_time),
            "eligible_time": _time(job.eligible_time),
            "start_time": _time(job.start_time),
            "end_time": _time(job.end_time),
            "exit_code": job.exit_code,
            "derived_exit_code": job.derived_exit_code,
            "priority": job.priority,
            "hold": job.hold,
            "dependency": job.dependency_text or None,
            "working_directory": job.working_directory,
            "standard_output": stdout,
            "standard_error": stderr,
            "standard_input": stdin,
            "batch_host": nodes[0] if nodes else None,
            "tres_requested": _tres_text(_tres(job, node_count, allocated=False)),
            "tres_allocated": _tres_text(_tres(job, node_count, allocated=True)),
            # recorded from 23.11 (v0.0.39) on; 22.05 reports none
            "flags": frozenset(f"USING_DEFAULT_{w}" for w in job.defaulted if minor >= 39),
        }
    )


def _tres_models(tres: dict[str, int]) -> tuple[TRES, ...]:
    out = []
    for key, count in tres.items():
        kind, _, name = key.partition("/")
        out.append(TRES(type=kind, name=name or None, id=_TRES_IDS[key], count=count))
    return tuple(out)


def accounting_model(c: FakeCluster, job: FakeJob, now: int) -> AccountingJob:
    """The :class:`AccountingJob` slurmdbd records for ``job`` (with a batch step once started)."""
    nodes = sorted(job.alloc) or None
    end = job.end_time or (now if job.start_time else 0)
    elapsed = timedelta(seconds=max(0, end - job.start_time)) if job.start_time else None
    state = JobState.parse([job.state, *sorted(job.flags)])
    steps: tuple[AccountingStep, ...] = ()
    if job.start_time and job.state != "PENDING":
        batch = nodes[0] if nodes else None
        usage = _acctstats.batch_usage(job)
        step_tres = {
            "cpu": job.alloc.get(batch, job.cpus_per_task) if batch else job.cpus_per_task,
            "mem": job.alloc_memory.get(batch, 0) if batch else 0,
            "node": 1,
        }
        steps = (
            AccountingStep(
                step_id="batch",
                name="batch",
                state=JobState.parse(job.state),
                exit_code=job.exit_code,
                start_time=_time(job.start_time),
                end_time=_time(job.end_time),
                elapsed=elapsed,
                nodes=batch,
                node_count=1,
                task_count=1,
                cpu_time_user=usage.user if usage else None,
                cpu_time_system=usage.system if usage else None,
                tres_allocated=_tres_models({k: v for k, v in step_tres.items() if v}),
            ),
        )
    return AccountingJob.model_validate(
        {
            "job_id": job.job_id,
            "name": job.name,
            "state": state,
            "state_reason": None if job.reason == "None" else job.reason,
            "exit_code": job.exit_code,
            "derived_exit_code": job.derived_exit_code,
            "user": job.user_name,
            "group": job.user_name,
            "account": job.account,
            "partition": job.partition,
            "qos": job.qos,
            "cluster": c.name,
            "nodes": ",".join(nodes) if nodes else "None assigned",
            "node_count": len(nodes) if nodes else job.min_nodes,
            "array_job_id": job.array_job_id,
            "array_task_id": job.array_task_id,
            "submit_time": _time(job.submit_time),
            "eligible_time": _time(job.eligible_time),
            "start_time": _time(job.start_time),
            "end_time": _time(job.end_time),
            "elapsed": elapsed,
            "time_limit": _limit(c, job),
            "priority": job.priority,
            "working_directory": job.working_directory,
            "tres_allocated": _tres_models(_tres(job, len(nodes or ()), allocated=True)),
            "tres_requested": _tres_models(_tres(job, job.min_nodes, allocated=False)),
            "steps": steps,
        }
    )


def node_model(c: FakeCluster, node: FakeNode) -> Node:
    """The :class:`Node` slurmctld reports for ``node`` now (MIXED/ALLOCATED from usage)."""
    cpus, mem, gpus = c.usage(node.name)
    if node.state == "DOWN":
        state = "DOWN"
    elif cpus == 0:
        state = "IDLE"
    else:
        state = "ALLOCATED" if cpus >= node.cpus else "MIXED"
    gres = f"gpu:{node.gpu_type}:{node.gpus}" if node.gpus else None
    tres = f"cpu={node.cpus},mem={node.memory}M,billing={node.cpus}"
    return Node.model_validate(
        {
            "name": node.name,
            "state": state,
            "state_flags": frozenset(node.flags),
            "hostname": node.name,
            "address": node.name,
            "partitions": tuple(p.name for p in c.partitions.values() if node.name in p.nodes),
            "cpus": node.cpus,
            "sockets": 1,
            "cores": node.cpus,
            "threads": 1,
            "boards": 1,
            "real_memory": node.memory,
            "free_memory": node.memory - mem,
            "alloc_memory": mem,
            "alloc_cpus": cpus,
            "cpu_load": float(cpus),
            "features": node.features,
            "active_features": node.features,
            "gres": gres,
            "gres_used": f"gpu:{node.gpu_type}:{gpus}" if node.gpus else None,
            "tres": tres + (f",gres/gpu={node.gpus}" if node.gpus else ""),
            "reason": node.reason,
            "architecture": "x86_64",
            "operating_system": "Linux (fake)",
            "version": "fake",
            "weight": node.weight,
        }
    )


def partition_model(c: FakeCluster, part: FakePartition, *, report_state: bool) -> Partition:
    """The :class:`Partition` slurmctld reports (``report_state``: v0.0.39 has none)."""
    nodes = [c.nodes[n] for n in part.nodes]
    return Partition.model_validate(
        {
            "name": part.name,
            "state": part.state if report_state else None,
            "nodes": ",".join(part.nodes),
            "total_nodes": len(nodes),
            "total_cpus": sum(n.cpus for n in nodes),
            "is_default": part.default,
            "flags": frozenset({"DEFAULT"}) if part.default else frozenset(),
            "max_time": INFINITE if part.max_time is None else timedelta(minutes=part.max_time),
            "default_time": (
                None if part.default_time is None else timedelta(minutes=part.default_time)
            ),
            "max_nodes_per_job": INFINITE,
            "min_nodes_per_job": 0,
            "max_cpus_per_node": INFINITE,
            "priority_tier": 1,
            "priority_job_factor": 1,
            "grace_time": timedelta(0),
            "tres": _partition_tres(nodes),
        }
    )


def _partition_tres(nodes: list[FakeNode]) -> str:
    """``tres.configured`` as slurmctld sums it: cpu, mem, node, billing, then GPUs."""
    cpus, gpus = sum(n.cpus for n in nodes), sum(n.gpus for n in nodes)
    tres = f"cpu={cpus},mem={sum(n.memory for n in nodes)}M,node={len(nodes)},billing={cpus}"
    return tres + (f",gres/gpu={gpus}" if gpus else "")


def diag_model(c: FakeCluster, now: int) -> Diag:
    """Scheduler statistics (counts of what the fake did)."""
    jobs = c.visible()
    return Diag.model_validate(
        {
            **c.stats,
            "req_time": _time(now),
            "req_time_start": _time(c.applied),
            "server_thread_count": 1,
            "agent_queue_size": 0,
            "dbd_agent_queue_size": 0,
            "jobs_pending": sum(1 for j in jobs if j.state == "PENDING"),
            "jobs_running": sum(1 for j in jobs if j.state == "RUNNING"),
            "schedule_cycle_last": 10,
            "schedule_cycle_max": 10,
            "schedule_cycle_mean": 10,
            "bf_active": False,
            "bf_last_depth": 0,
        }
    )


def ping_models(responding: bool) -> list[Ping]:
    """One primary controller."""
    return [
        Ping(
            hostname="fake-slurmctld",
            responding=responding,
            mode="primary",
            primary=True,
            latency=timedelta(microseconds=100),
        )
    ]


def static_accounting(c: FakeCluster, user: str) -> dict[str, list[object]]:
    """The accounts, users, associations, QOS and TRES of the fake database."""
    account = c.default_account
    root = (
        []
        if user == "root"
        else [User(name="root", default_account="root", admin_level="Administrator")]
    )
    return {
        "accounts": [
            Account(name="root", description="default root account", organization="root"),
            Account(name=account, description="fake account", organization="fake"),
        ],
        "users": [*root, User(name=user, default_account=account, admin_level="None")],
        "associations": [  # as sacctmgr makes a cluster: root's account, root under it
            Association(id=1, cluster=c.name, account="root", is_default=False, qos=("normal",)),
            Association(
                id=3, cluster=c.name, account="root", user="root", is_default=True, qos=("normal",)
            ),
            Association(
                id=2, cluster=c.name, account=account, user=user, is_default=True, qos=("normal",)
            ),
        ],
        "qos": [  # slurmdbd's own: preemption off ("DISABLED", recorded)
            QOS(
                name="normal",
                id=1,
                description="Normal QOS default",
                priority=0,
                preempt_mode=("DISABLED",),
            )
        ],
        "tres": [
            TRES(type=k.partition("/")[0], name=k.partition("/")[2] or None, id=i)
            for k, i in _TRES_IDS.items()
        ],
    }


def default_licenses() -> list[License]:
    """One license counter."""
    return [License(name="matlab", total=4, used=0, free=4)]


def default_reservations(now: int) -> list[Reservation]:
    """A maintenance reservation a week from the fake's start."""
    start = now + 7 * 86400
    return [
        Reservation(
            name="maint",
            start_time=_time(start),
            end_time=_time(start + 4 * 3600),
            node_list="ALL",
            flags=frozenset({"MAINT"}),
            users=("root",),
        )
    ]
