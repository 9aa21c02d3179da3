"""Cluster objects: nodes, partitions, reservations, licenses, diag and ping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...models import INFINITE, Diag, License, Node, Partition, Ping, Reservation
from .._decode import (
    WireError,
    boolean,
    count,
    csv,
    flags,
    limit,
    minutes,
    number,
    seconds,
    sub,
    text,
    timestamp,
)
from ._common import Wire, _required

__all__ = ["diag", "license_", "node", "partition", "partition_v38", "ping", "reservation"]


def _node_state(d: Wire) -> tuple[str, frozenset[str]]:
    st = d.get("state")
    tokens: list[str]
    if type(st) is list:
        tokens = [str(x).upper() for x in st if x]
    elif type(st) is str:
        tokens = [st.upper()]
    elif st is None:
        tokens = []
    else:
        raise WireError("state", f"expected a node state, got {type(st).__name__}")
    extra = flags(d.get("state_flags"), "state_flags")  # v0.0.38
    base = tokens[0] if tokens else "UNKNOWN"
    return base, frozenset(tokens[1:]) | extra


def node(d: Wire) -> Node:
    """A node (``GET /slurm/<v>/nodes``, ``/node/{name}``)."""
    g = d.get
    base, node_flags = _node_state(d)
    load = count(g("cpu_load"), "cpu_load")
    free = g("free_mem") if "free_mem" in d else g("free_memory")
    return Node._build(
        {
            "name": str(_required(d, "name")),
            "state": base,
            "state_flags": node_flags,
            "hostname": text(g("hostname"), "hostname"),
            "address": text(g("address"), "address"),
            "partitions": csv(g("partitions"), "partitions"),
            "cpus": count(g("cpus"), "cpus"),
            "sockets": count(g("sockets"), "sockets"),
            "cores": count(g("cores"), "cores"),
            "threads": count(g("threads"), "threads"),
            "boards": count(g("boards"), "boards"),
            "real_memory": count(g("real_memory"), "real_memory"),
            "free_memory": count(free, "free_mem"),
            "alloc_memory": count(g("alloc_memory"), "alloc_memory"),
            "alloc_cpus": count(g("alloc_cpus"), "alloc_cpus"),
            "cpu_load": None if load is None else load / 100,
            "features": csv(g("features"), "features"),
            "active_features": csv(g("active_features"), "active_features"),
            "gres": text(g("gres"), "gres"),
            "gres_used": text(g("gres_used"), "gres_used"),
            "tres": text(g("tres"), "tres"),
            "reason": text(g("reason"), "reason"),
            "reason_set_by_user": text(g("reason_set_by_user"), "reason_set_by_user"),
            "reason_changed_at": timestamp(g("reason_changed_at"), "reason_changed_at"),
            "boot_time": timestamp(g("boot_time"), "boot_time"),
            "slurmd_start_time": timestamp(g("slurmd_start_time"), "slurmd_start_time"),
            "last_busy": timestamp(g("last_busy"), "last_busy"),
            "architecture": text(g("architecture"), "architecture"),
            "operating_system": text(g("operating_system"), "operating_system"),
            "version": text(g("version") or g("slurmd_version"), "version"),
            "weight": count(g("weight"), "weight"),
            "raw": d,
        }
    )


def _mem(v: Any, key: str) -> int | None:
    # Memory defaults/maxima: 0 means "not configured" (UNLIMITED) in every version.
    n = number(v, key)
    if n is None or n is INFINITE or n <= 0:
        return None
    return int(n)


def partition(d: Wire) -> Partition:
    """A partition in the nested shape of v0.0.39 and later."""
    g = d.get
    maximums, defaults = sub(d, "maximums"), sub(d, "defaults")
    part_flags = flags(g("flags"), "flags")
    state_v = sub(d, "partition").get("state")
    states = csv(state_v, "partition.state")
    return Partition._build(
        {
            "name": str(_required(d, "name")),
            "state": states[0].upper() if states else None,
            "nodes": text(sub(d, "nodes").get("configured"), "nodes.configured"),
            "total_nodes": count(sub(d, "nodes").get("total"), "nodes.total"),
            "total_cpus": count(sub(d, "cpus").get("total"), "cpus.total"),
            # v0.0.40-v0.0.44 send no partition flags at all: unknown, not False.
            "is_default": "DEFAULT" in part_flags if "flags" in d else None,
            "flags": part_flags,
            "max_time": minutes(maximums.get("time"), "maximums.time"),
            "default_time": minutes(defaults.get("time"), "defaults.time"),
            "max_nodes_per_job": limit(maximums.get("nodes"), "maximums.nodes"),
            "min_nodes_per_job": count(sub(d, "minimums").get("nodes"), "minimums.nodes"),
            "max_cpus_per_node": limit(maximums.get("cpus_per_node"), "maximums.cpus_per_node"),
            "default_memory_per_cpu": _mem(
                defaults.get("partition_memory_per_cpu", defaults.get("memory_per_cpu")),
                "defaults.partition_memory_per_cpu",
            ),
            "default_memory_per_node": _mem(
                defaults.get("partition_memory_per_node"), "defaults.partition_memory_per_node"
            ),
            "max_memory_per_cpu": _mem(
                maximums.get("partition_memory_per_cpu", maximums.get("memory_per_cpu")),
                "maximums.partition_memory_per_cpu",
            ),
            "max_memory_per_node": _mem(
                maximums.get("partition_memory_per_node"), "maximums.partition_memory_per_node"
            ),
            "priority_tier": count(sub(d, "priority").get("tier"), "priority.tier"),
            "priority_job_factor": count(
                sub(d, "priority").get("job_factor"), "priority.job_factor"
            ),
            "grace_time": seconds(g("grace_time"), "grace_time"),
            "qos": text(sub(d, "qos").get("assigned"), "qos.assigned"),
            "allowed_accounts": csv(sub(d, "accounts").get("allowed"), "accounts.allowed"),
            "denied_accounts": csv(sub(d, "accounts").get("deny"), "accounts.deny"),
            "allowed_groups": csv(sub(d, "groups").get("allowed"), "groups.allowed"),
            "allowed_qos": csv(sub(d, "qos").get("allowed"), "qos.allowed"),
            "tres": text(sub(d, "tres").get("configured"), "tres.configured"),
            "raw": d,
        }
    )


def partition_v38(d: Wire) -> Partition:
    """A partition in the flat shape of v0.0.38 (Slurm 22.05)."""
    g = d.get
    part_flags = flags(g("flags"), "flags")
    return Partition._build(
        {
            "name": str(_required(d, "name")),
            "state": (text(g("state"), "state") or "").upper() or None,
            "nodes": text(g("nodes"), "nodes"),
            "total_nodes": count(g("total_nodes"), "total_nodes"),
            "total_cpus": count(g("total_cpus"), "total_cpus"),
            "is_default": "DEFAULT" in part_flags,
            "flags": part_flags,
            "max_time": minutes(g("max_time_limit"), "max_time_limit"),
            "default_time": minutes(g("default_time_limit"), "default_time_limit"),
            "max_nodes_per_job": limit(g("maximum_nodes_per_job"), "maximum_nodes_per_job"),
            "min_nodes_per_job": count(g("min nodes per job"), "min nodes per job"),
            "max_cpus_per_node": limit(g("maximum_cpus_per_node"), "maximum_cpus_per_node"),
            "default_memory_per_cpu": _mem(g("default_memory_per_cpu"), "default_memory_per_cpu"),
            "default_memory_per_node": _mem(
                g("default_memory_per_node"), "default_memory_per_node"
            ),
            "max_memory_per_cpu": _mem(g("maximum_memory_per_cpu"), "maximum_memory_per_cpu"),
            "max_memory_per_node": _mem(g("maximum_memory_per_node"), "maximum_memory_per_node"),
            "priority_tier": count(g("priority_tier"), "priority_tier"),
            "priority_job_factor": count(g("priority_job_factor"), "priority_job_factor"),
            "grace_time": seconds(g("preemption_grace_time"), "preemption_grace_time"),
            "qos": text(g("qos"), "qos"),
            "allowed_accounts": csv(g("allowed_accounts"), "allowed_accounts"),
            "denied_accounts": csv(g("denied_accounts"), "denied_accounts"),
            "allowed_groups": csv(g("allowed_groups"), "allowed_groups"),
            "allowed_qos": csv(g("allowed_qos"), "allowed_qos"),
            "tres": text(g("tres"), "tres"),
            "raw": d,
        }
    )


def reservation(d: Wire) -> Reservation:
    """A reservation (every version: only the number encoding changed)."""
    g = d.get
    return Reservation._build(
        {
            "name": str(_required(d, "name")),
            "start_time": timestamp(g("start_time"), "start_time"),
            "end_time": timestamp(g("end_time"), "end_time"),
            "node_list": text(g("node_list"), "node_list"),
            "node_count": count(g("node_count"), "node_count"),
            "core_count": count(g("core_count"), "core_count"),
            "partition": text(g("partition"), "partition"),
            "users": csv(g("users"), "users"),
            "accounts": csv(g("accounts"), "accounts"),
            "groups": csv(g("groups"), "groups"),
            "flags": flags(g("flags"), "flags"),
            "features": text(g("features"), "features"),
            "licenses": text(g("licenses"), "licenses"),
            "tres": text(g("tres"), "tres"),
            "burst_buffer": text(g("burst_buffer"), "burst_buffer"),
            "raw": d,
        }
    )


def license_(d: Wire) -> License:
    """A license counter (keys are CamelCase in every version)."""
    g = d.get
    return License._build(
        {
            "name": str(_required(d, "LicenseName")),
            "total": count(g("Total"), "Total") or 0,
            "used": count(g("Used"), "Used") or 0,
            "free": count(g("Free"), "Free") or 0,
            "reserved": count(g("Reserved"), "Reserved") or 0,
            "remote": bool(boolean(g("Remote"), "Remote")),
            "last_update": timestamp(g("LastUpdate"), "LastUpdate"),
            "raw": d,
        }
    )


def diag(d: Wire) -> Diag:
    """The ``statistics`` object of ``GET /slurm/<v>/diag``."""
    g = d.get
    values: dict[str, Any] = {
        k: count(g(k), k)
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
        )
    }
    values["req_time"] = timestamp(g("req_time"), "req_time")
    values["req_time_start"] = timestamp(g("req_time_start"), "req_time_start")
    values["bf_when_last_cycle"] = timestamp(g("bf_when_last_cycle"), "bf_when_last_cycle")
    values["bf_active"] = boolean(g("bf_active"), "bf_active")
    values["raw"] = d
    return Diag._build(values)


def ping(d: Wire) -> Ping:
    """One controller in ``GET /slurm/<v>/ping``."""
    g = d.get
    if "responding" in d:
        responding = bool(boolean(g("responding"), "responding"))
    else:  # v0.0.38: {"ping": "UP", "status": 0}
        responding = str(g("ping") or g("pinged") or "").upper() == "UP"
    latency = count(g("latency"), "latency")
    return Ping._build(
        {
            "hostname": text(g("hostname"), "hostname") or "",
            "responding": responding,
            "mode": text(g("mode"), "mode"),
            "primary": boolean(g("primary"), "primary"),
            "latency": None if latency is None else timedelta(microseconds=latency),
            "raw": d,
        }
    )
