"""Cluster objects: nodes, partitions, reservations, licenses, diag and ping.

The inverse of :mod:`.._parse.cluster`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...models import INFINITE, Diag, License, Node, Partition, Ping, Reservation
from ._common import Wire, WireFormat, csv, drop_none, epoch, minutes, text, wrap

__all__ = ["diag", "license_", "node", "partition", "ping", "reservation"]


def node(n: Node, fmt: WireFormat) -> Wire:
    """A node object (``GET /slurm/<v>/nodes``) in ``fmt``'s shape."""
    flag_list = sorted(n.state_flags)
    load = None if n.cpu_load is None else round(n.cpu_load * 100)
    features: Any = list(n.features) if fmt.feature_lists else csv(n.features)
    active: Any = list(n.active_features) if fmt.feature_lists else csv(n.active_features)
    out: Wire = {
        "name": n.name,
        "state": [n.state, *flag_list] if fmt.node_state_list else n.state.lower(),
        "state_flags": None if fmt.node_state_list else flag_list,
        "hostname": text(n.hostname),
        "address": text(n.address),
        "partitions": list(n.partitions),
        "cpus": n.cpus,
        "sockets": n.sockets,
        "cores": n.cores,
        "threads": n.threads,
        "boards": n.boards,
        "real_memory": n.real_memory,
        "alloc_memory": n.alloc_memory,
        "alloc_cpus": n.alloc_cpus,
        "cpu_load": wrap(load) if fmt.wrapped_cpu_load else load,
        "features": features,
        "active_features": active,
        "gres": text(n.gres),
        "gres_used": text(n.gres_used),
        "tres": text(n.tres),
        "reason": text(n.reason),
        "reason_set_by_user": text(n.reason_set_by_user),
        "reason_changed_at": fmt.stamp(n.reason_changed_at),
        "boot_time": fmt.stamp(n.boot_time),
        "slurmd_start_time": fmt.stamp(n.slurmd_start_time),
        "last_busy": fmt.stamp(n.last_busy),
        "architecture": text(n.architecture),
        "operating_system": text(n.operating_system),
        "weight": n.weight,
    }
    if fmt.number_wrappers:
        out["free_mem"] = wrap(n.free_memory)
        out["version"] = text(n.version)
    else:
        out["free_memory"] = n.free_memory
        out["slurmd_version"] = text(n.version)
    return drop_none(out)


def _limit(fmt: WireFormat, value: int | object | None) -> Any:
    # v0.0.38 writes an unlimited count as -1
    if not fmt.number_wrappers and value is INFINITE:
        return -1
    return fmt.num(value)


def _mem(fmt: WireFormat, value: int | None) -> Any:
    # 0 means "not configured" in every version
    return fmt.num(value or 0) if fmt.number_wrappers else value or None


def partition(p: Partition, fmt: WireFormat) -> Wire:
    """A partition object (``GET /slurm/<v>/partitions``) in ``fmt``'s shape."""
    if fmt.flat_partition:
        return _partition_v38(p, fmt)
    num = fmt.num
    defaults: Wire = {"time": num(minutes(p.default_time))}
    maximums: Wire = {
        "time": num(minutes(p.max_time)),
        "nodes": num(p.max_nodes_per_job),
        "cpus_per_node": num(p.max_cpus_per_node),
    }
    if fmt.partition_state:
        defaults["partition_memory_per_cpu"] = _mem(fmt, p.default_memory_per_cpu)
        defaults["partition_memory_per_node"] = _mem(fmt, p.default_memory_per_node)
        maximums["partition_memory_per_cpu"] = _mem(fmt, p.max_memory_per_cpu)
        maximums["partition_memory_per_node"] = _mem(fmt, p.max_memory_per_node)
    else:  # v0.0.39: per-CPU values only, as plain integers
        defaults["memory_per_cpu"] = p.default_memory_per_cpu or 0
        maximums["memory_per_cpu"] = p.max_memory_per_cpu or 0
    flags = set(p.flags) | ({"DEFAULT"} if p.is_default else set())
    out: Wire = {
        "name": p.name,
        "flags": sorted(flags) if fmt.partition_flags else None,
        "nodes": drop_none({"configured": text(p.nodes), "total": p.total_nodes}),
        "cpus": drop_none({"total": p.total_cpus}),
        "defaults": defaults,
        "maximums": maximums,
        "minimums": drop_none({"nodes": p.min_nodes_per_job}),
        "priority": drop_none({"tier": p.priority_tier, "job_factor": p.priority_job_factor}),
        "grace_time": None if p.grace_time is None else int(p.grace_time.total_seconds()),
        "qos": {
            "assigned": text(p.qos),
            "allowed": csv(p.allowed_qos),
            "deny": "",
        },
        "accounts": {"allowed": csv(p.allowed_accounts), "deny": csv(p.denied_accounts)},
        "groups": {"allowed": csv(p.allowed_groups)},
        "tres": {"configured": text(p.tres), "billing_weights": ""},
    }
    if fmt.partition_state and p.state is not None:
        out["partition"] = {"state": [p.state]}
    return drop_none(out)


def _partition_v38(p: Partition, fmt: WireFormat) -> Wire:
    flags = {f.lower() for f in p.flags} | ({"default"} if p.is_default else set())
    return drop_none(
        {
            "name": p.name,
            "flags": sorted(flags),
            "state": p.state,
            "nodes": text(p.nodes),
            "total_nodes": p.total_nodes,
            "total_cpus": p.total_cpus,
            "max_time_limit": fmt.num(minutes(p.max_time)),
            "default_time_limit": fmt.num(minutes(p.default_time)),
            "maximum_nodes_per_job": _limit(fmt, p.max_nodes_per_job),
            # what 22.05 sends, and the name in the v0.0.38 document
            "min nodes per job": p.min_nodes_per_job,
            "min_nodes_per_job": p.min_nodes_per_job,
            "maximum_cpus_per_node": _limit(fmt, p.max_cpus_per_node),
            "default_memory_per_cpu": _mem(fmt, p.default_memory_per_cpu),
            "default_memory_per_node": _mem(fmt, p.default_memory_per_node),
            "maximum_memory_per_cpu": _mem(fmt, p.max_memory_per_cpu),
            "maximum_memory_per_node": _mem(fmt, p.max_memory_per_node),
            "priority_tier": p.priority_tier,
            "priority_job_factor": p.priority_job_factor,
            "preemption_grace_time": (
                None if p.grace_time is None else int(p.grace_time.total_seconds())
            ),
            "qos": text(p.qos),
            "allowed_accounts": csv(p.allowed_accounts),
            "denied_accounts": csv(p.denied_accounts),
            "allowed_groups": csv(p.allowed_groups),
            "allowed_qos": csv(p.allowed_qos),
            "tres": text(p.tres),
        }
    )


def reservation(r: Reservation, fmt: WireFormat) -> Wire:
    """A reservation object (``GET /slurm/<v>/reservations``)."""
    return drop_none(
        {
            "name": r.name,
            "start_time": fmt.stamp(r.start_time),
            "end_time": fmt.stamp(r.end_time),
            "node_list": text(r.node_list),
            "node_count": r.node_count,
            "core_count": r.core_count,
            "partition": text(r.partition),
            "users": csv(r.users),
            "accounts": csv(r.accounts),
            "groups": csv(r.groups),
            "flags": sorted(r.flags),
            "features": text(r.features),
            "licenses": text(r.licenses),
            "tres": text(r.tres),
            "burst_buffer": text(r.burst_buffer),
        }
    )


def license_(lic: License, fmt: WireFormat) -> Wire:
    """A license counter (CamelCase keys in every version)."""
    out: Wire = {
        "LicenseName": lic.name,
        "Total": lic.total,
        "Used": lic.used,
        "Free": lic.free,
        "Reserved": lic.reserved,
        "Remote": lic.remote,
    }
    if fmt.number_wrappers:  # v0.0.39+
        out["LastUpdate"] = epoch(lic.last_update)
    return out


def diag(d: Diag, fmt: WireFormat) -> Wire:
    """The ``statistics`` object of ``GET /slurm/<v>/diag``."""
    out: Wire = {
        k: getattr(d, k)
        for k in (
            "server_thread_count",
            "agent_queue_size",
            "dbd_agent_queue_size",
            "jobs_submitted",
            "jobs_started",
            "jobs_completed",
            "jobs_canceled",
            "jobs_failed",
            "jobs_pending",
            "jobs_running",
            "schedule_cycle_last",
            "schedule_cycle_max",
            "schedule_cycle_mean",
            "bf_last_depth",
            "bf_active",
        )
    }
    out["req_time"] = fmt.stamp(d.req_time)
    out["req_time_start"] = fmt.stamp(d.req_time_start)
    out["bf_when_last_cycle"] = fmt.stamp(d.bf_when_last_cycle)
    return drop_none(out)


def ping(p: Ping, fmt: WireFormat) -> Wire:
    """One controller in ``GET /slurm/<v>/ping``: the shape changed four times."""
    up = "UP" if p.responding else "DOWN"
    minor = int(fmt.version.rsplit(".", 1)[1])
    latency = None if p.latency is None else p.latency // timedelta(microseconds=1)
    if minor <= 38:
        return drop_none({"hostname": p.hostname, "ping": up, "mode": p.mode, "status": 0})
    out: Wire = {"hostname": p.hostname, "latency": latency}
    if minor <= 44:
        out["pinged"] = up
        out["mode"] = p.mode
    if minor >= 42:
        out["responding"] = p.responding
        out["primary"] = p.primary
    if minor >= 45:
        out["status"] = up
    return drop_none(out)
