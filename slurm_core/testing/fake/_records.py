"""What slurmctld's records carry beyond the public models, with the values the fake knows.

The public models (:mod:`._models`) hold what the client reads; slurmctld sends far more
(``requeue``, ``restart_cnt``, the GPU request as submitted, ``job_resources``, node boot
times, RPC counts in ``diag``...). These functions give those values, versionless
(``None``: unset, :data:`~slurm_core.models.INFINITE`); :func:`._shapes.thicken` writes
each in the form the version's real records have at its key and leaves out the keys a
version does not have. Values follow the answers recorded on 24.11.5 and 26.05.5
(``tests/data/responses/``), e.g. ``thread_spec`` 32766 and ``tasks_per_core`` infinite
for a job that names neither.
"""

from __future__ import annotations

from typing import Any

from ..._versions import _encode as enc
from ...models import INFINITE, Reservation
from . import _models, _shapes, _wire
from ._cluster import FakeCluster
from ._state import FakeJob, FakeNode, FakePartition

__all__ = [
    "count_rpc",
    "diag_extras",
    "job_extras",
    "job_wire",
    "message_type",
    "node_extras",
    "partition_extras",
    "reservation_extras",
]

_NOT_SET16 = 32766
"""What slurmctld reports for an unset 16 bit count (``thread_spec``)."""
# (method, path after /slurm/<version>/) -> the slurmctld RPC it stands for (ids as recorded)
_RPCS = {
    ("GET", "ping"): (1008, "REQUEST_PING"),
    ("GET", "licenses"): (1021, "REQUEST_LICENSE_INFO"),
    ("GET", "jobs"): (2003, "REQUEST_JOB_INFO"),
    ("GET", "job/{job_id}"): (2021, "REQUEST_JOB_INFO_SINGLE"),
    ("GET", "nodes"): (2007, "REQUEST_NODE_INFO"),
    ("GET", "node/{node_name}"): (2007, "REQUEST_NODE_INFO"),
    ("GET", "partitions"): (2009, "REQUEST_PARTITION_INFO"),
    ("GET", "partition/{partition_name}"): (2009, "REQUEST_PARTITION_INFO"),
    ("GET", "reservations"): (2024, "REQUEST_RESERVATION_INFO"),
    ("GET", "reservation/{reservation_name}"): (2024, "REQUEST_RESERVATION_INFO"),
    ("GET", "diag"): (2035, "REQUEST_STATS_INFO"),
    ("POST", "job/{job_id}"): (3001, "REQUEST_UPDATE_JOB"),
    ("POST", "node/{node_name}"): (3002, "REQUEST_UPDATE_NODE"),
    ("POST", "job/submit"): (4003, "REQUEST_SUBMIT_BATCH_JOB"),
    ("GET", "job/{job_id}/requeue"): (5023, "REQUEST_JOB_REQUEUE"),
    ("DELETE", "job/{job_id}"): (5032, "REQUEST_KILL_JOB"),
}
_USEC_PER_RPC = 100
"""Microseconds the fake says each RPC took (it answers in about that)."""


def message_type(method: str, template: str) -> str | None:
    """``"2003 REQUEST_JOB_INFO"`` for ``GET /slurm/<v>/jobs`` (``None``: not a slurmctld RPC)."""
    head, _, rest = template.lstrip("/").partition("/")  # slurm, then v0.0.42/jobs
    if head != "slurm":
        return None
    found = _RPCS.get((method, rest.partition("/")[2]))
    return None if found is None else f"{found[0]} {found[1]}"


_MAX_RPC_KEYS = 4096
"""Distinct (message type, user) pairs kept: user names come from request headers."""


def count_rpc(c: FakeCluster, method: str, template: str, user: str | None) -> None:
    """Count a request ``diag`` reports (``user``: ``None`` for one refused unauthenticated)."""
    kind = message_type(method, template)
    if kind is None or user is None:
        return
    key = (kind, user)
    if key in c.rpcs or len(c.rpcs) < _MAX_RPC_KEYS:
        c.rpcs[key] = c.rpcs.get(key, 0) + 1


# -------------------------------------------------------------------------- jobs ---------
def job_wire(c: FakeCluster, job: FakeJob, version: str) -> dict[str, Any]:
    """The job record ``version`` sends: the model encoded, then every other real key."""
    minor = _wire.minor(version)
    wire = enc.encode_job(_models.job_model(c, job, version), enc.wire_format(version))
    wire = _wire.log_paths(version, job, wire)
    wire = _shapes.thicken(version, "job", wire, job_extras(c, job, minor))
    if "job_resources" in wire and not job.alloc:
        # never ran (job_get_cancelled.json, cancelled pending): {} on v0.0.40, then null
        wire["job_resources"] = {} if minor <= 40 else None
    return wire


def job_extras(c: FakeCluster, job: FakeJob, minor: int) -> dict[str, Any]:
    """The job record's keys beyond :class:`~slurm_core.models.Job` (``minor``: 42 for v0.0.42)."""
    nodes = sorted(job.alloc)
    running = not job.finished and bool(nodes)
    gres = [  # while it runs, as scontrol shows it: gpu:<type>:<count>(IDX:<indexes>)
        f"gpu:{c.nodes[n].gpu_type}:{k}(IDX:{_indexes(k)})"
        for n, k in sorted(job.alloc_gpus.items())
        if k and running and n in c.nodes
    ]
    out: dict[str, Any] = {
        "accrue_time": 0 if job.hold else job.eligible_time,
        "allocating_node": "localhost",
        "array_max_tasks": job.array_throttle or 0,
        "batch_flag": True,
        "billable_tres": float(job.cpus),
        "gres_detail": gres,
        "last_sched_evaluation": job.start_time or job.eligible_time,
        "mail_user": job.user_name,
        "minimum_cpus_per_node": -(-job.cpus // max(job.min_nodes, 1)),
        "oversubscribe": True,  # v0.0.39-41 (recorded: true for a job that names nothing)
        "profile": ["NOT_SET"],
        # recorded: what 22.05 asked for, empty from 23.11 on
        "show_flags": ["SHOW_ALL", "SHOW_DETAIL", "SHOW_LOCAL"] if minor <= 38 else [],
        "requeue": job.requeue,
        "restart_cnt": job.restart_count,
        "features": job.features,
        "licenses": job.licenses,
        "resv_name": job.reservation,
        "required_nodes": ",".join(job.required_nodes),
        "tasks_per_core": INFINITE,
        "tasks_per_socket": INFINITE,
        "thread_spec": _NOT_SET16,
        "job_resources": _job_resources(c, job, minor) if nodes else None,
        "step_id": {
            "job_id": job.job_id,
            "step_het_component": None,
            "step_id": "entire",
            "sluid": sluid(c.name, job.job_id),
        },
    }
    for scope in ("job", "node", "task", "socket"):
        out[f"tres_per_{scope}"] = job.tres_per.get(scope, "")
    for key in _ZERO_JOB:  # set, and zero: what slurmctld reports when nothing asked for it
        out[key] = 0
    return out


_ZERO_JOB = (
    "deadline",
    "delay_boot",
    "max_cpus",
    "max_nodes",
    "minimum_tmp_disk_per_node",
    "pre_sus_time",
    "preempt_time",
    "preemptable_time",
    "resize_time",
    "suspend_time",
    "tasks_per_board",
    "tasks_per_node",
    "tasks_per_tres",
    "time_minimum",
    "het_job_offset",
)


def _job_resources(c: FakeCluster, job: FakeJob, minor: int) -> dict[str, Any]:
    """The allocation per node: the cores it holds on each node's one socket."""
    nodes = sorted(job.alloc)
    if minor <= 40:  # the older shape: only the allocated cores, by index
        return {
            "nodes": ",".join(nodes),
            "allocated_cores": sum(job.alloc.values()),
            "allocated_cpus": 0,  # recorded: 0 beside allocated_cores 1
            "allocated_hosts": len(nodes),
            "allocated_nodes": [
                {
                    "sockets": {"0": {"cores": {str(k): "allocated" for k in _cores(job, n)}}},
                    "nodename": n,
                    "cpus_used": 0,
                    "memory_used": 0,
                    "memory_allocated": job.alloc_memory.get(n, 0),
                }
                for n in nodes
            ],
        }
    allocation = []
    for index, name in enumerate(nodes):
        node = c.nodes.get(name)
        cores = node.cpus if node is not None else job.alloc[name]
        held = _cores(job, name)
        status = [["ALLOCATED" if k in held else "UNALLOCATED"] for k in range(cores)]
        allocation.append(
            {
                "index": index,
                "name": name,
                "cpus": {"count": job.alloc[name], "used": 0},
                "memory": {"used": 0, "allocated": job.alloc_memory.get(name, 0)},
                "sockets": [
                    {"index": 0, "cores": [{"index": k, "status": s} for k, s in enumerate(status)]}
                ],
            }
        )
    return {
        # recorded: v0.0.45 names the select parameters, the others the kind of resource
        "select_type": ["CR_CORE_MEMORY"] if minor >= 45 else ["CORE"],
        "nodes": {
            "count": len(nodes),
            "select_type": ["ONE_ROW"],
            "list": ",".join(nodes),
            "whole": False,
            "allocation": allocation,
        },
        "cpus": sum(job.alloc.values()),
        "threads_per_core": None,
    }


def _cores(job: FakeJob, node: str) -> tuple[int, ...]:
    return job.cores.get(node) or tuple(range(job.alloc[node]))


def _indexes(count: int) -> str:
    return "N/A" if count == 0 else "0" if count == 1 else f"0-{count - 1}"


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def sluid(cluster: str, job_id: int) -> str:
    """A stable, SLUID-like id (``s`` and 13 Crockford base32 digits) for a job of ``cluster``."""
    number = (sum(cluster.encode()) << 40) | job_id
    digits = ""
    for _ in range(13):
        number, rest = divmod(number, 32)
        digits = _CROCKFORD[rest] + digits
    return f"s{digits}"


# ------------------------------------------------------------------ cluster --------------
def node_extras(c: FakeCluster, node: FakeNode, release: str, minor: int) -> dict[str, Any]:
    """The node record's keys beyond :class:`~slurm_core.models.Node`."""
    cpus, _, gpus = c.usage(node.name)
    ends = [j.end_time for j in c.jobs.values() if node.name in j.alloc and j.finished]
    out: dict[str, Any] = {
        "alloc_idle_cpus": node.cpus - cpus,
        "boot_time": c.started,
        "slurmd_start_time": c.started,
        "last_busy": c.applied if cpus else max([c.started, *ends]),
        "effective_cpus": node.cpus,
        "energy": {"current_watts": 0},
        "next_state_after_reboot": ["INVALID"] if minor >= 39 else "invalid",
        "port": 6818,
        "resume_after": 0,
        "suspend_time": INFINITE,
        "tls_cert_last_renewal": 0,
        "version": release,
    }
    if node.gpus:
        out["gres_drained"] = "N/A"
        out["gres_used"] = f"gpu:{node.gpu_type}:{gpus}(IDX:{_indexes(gpus)})"
    return out


def partition_extras(part: FakePartition, minor: int) -> dict[str, Any]:
    """The partition record's keys beyond :class:`~slurm_core.models.Partition`."""
    shares = 0 if minor >= 45 else 1  # recorded: 1 by 24.11, 0 by 26.05's v0.0.45
    return {
        "maximums": {
            "cpus_per_socket": INFINITE,
            "oversubscribe": {"jobs": shares},
            "shares": shares,
        },
        "node_sets": ",".join(part.nodes),
        "partition": {"exclusive": "NO", "oversubscribe": "NO"},
        "preempt_mode": ["CLUSTER_GLOBAL"],
        "preemption_mode": ["disabled"],  # v0.0.38's name for it
        "select_type": ["NONE"] if minor >= 45 else [],  # recorded: [] before v0.0.45
    }


def diag_extras(c: FakeCluster, now: int, uids: dict[str, int]) -> dict[str, Any]:
    """What ``diag`` counts beyond :class:`~slurm_core.models.Diag`: the RPCs served."""
    by_type: dict[str, int] = {}
    by_user: dict[str, int] = {}
    for (kind, user), count in c.rpcs.items():
        by_type[kind] = by_type.get(kind, 0) + count
        by_user[user] = by_user.get(user, 0) + count
    types = []
    for kind, count in sorted(by_type.items(), key=lambda kv: int(kv[0].split()[0])):
        type_id, name = kind.split()
        types.append(
            {
                "type_id": int(type_id),
                "message_type": name,
                "count": count,
                "queued": 0,
                "dropped": 0,
                "cycle_last": 0,
                "cycle_max": 0,
                "total_time": count * _USEC_PER_RPC,
                "average_time": _USEC_PER_RPC,
            }
        )
    users = [
        {
            "user": user,
            "user_id": uids.get(user, 0),
            "count": count,
            "total_time": count * _USEC_PER_RPC,
            "average_time": _USEC_PER_RPC,
        }
        for user, count in sorted(by_user.items())
    ]
    return {
        "rpcs_by_message_type": types,
        "rpcs_by_user": users,
        "job_states_ts": now,
        "schedule_queue_length": sum(1 for j in c.visible() if j.state == "PENDING"),
    }


def reservation_extras(c: FakeCluster, r: Reservation) -> dict[str, Any]:
    """The reservation record's keys beyond :class:`~slurm_core.models.Reservation`."""
    names = list(c.nodes) if r.node_list in (None, "", "ALL") else str(r.node_list).split(",")
    known = [c.nodes[n] for n in names if n in c.nodes]
    return {
        "node_count": len(known),
        "core_count": sum(n.cpus for n in known),
        "max_start_delay": 0,
        "purge_completed": {"time": None},
    }
