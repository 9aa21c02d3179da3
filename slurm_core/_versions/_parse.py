"""Wire object -> public model, written once for every slurmrestd version.

The decoders in :mod:`._decode` accept every encoding a field has had since v0.0.38,
so these functions need no version switches except where an object changed shape
entirely (the v0.0.38 partition, see :func:`partition_v38`). Field-path errors are
raised as :class:`~._decode.WireError` with the path relative to the object; the
adapter prefixes the list index (``jobs[3].time_limit``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..models import (
    INFINITE,
    QOS,
    Account,
    AccountingJob,
    AccountingStep,
    Association,
    Diag,
    Job,
    License,
    Node,
    Partition,
    Ping,
    Reservation,
    User,
)
from ..models.accounting import TRES
from ._decode import (
    WireError,
    boolean,
    count,
    csv,
    exit_code,
    flags,
    limit,
    minutes,
    number,
    seconds,
    state,
    sub,
    text,
    timestamp,
    tres_list,
)

Wire = dict[str, Any]


def _required(d: Wire, key: str) -> Any:
    if key not in d or d[key] is None:
        raise WireError(key, "required field is missing")
    return d[key]


def _id(d: Wire, key: str) -> int:
    v = _required(d, key)
    n = count(v, key)
    if n is None:
        raise WireError(key, "required id is unset")
    return n


def _reason(v: Any, key: str) -> str | None:
    r = text(v, key)
    return None if r == "None" else r


def _positive(v: Any, key: str) -> int | None:
    n = count(v, key)
    return n if n else None


def _cpu_time(v: Any, key: str) -> timedelta | None:
    if type(v) is not dict:
        return None
    return timedelta(
        seconds=count(v.get("seconds"), key) or 0,
        microseconds=count(v.get("microseconds"), key) or 0,
    )


def job(d: Wire) -> Job:
    """A slurmctld job (``GET /slurm/<v>/jobs``, ``/job/{id}``)."""
    g = d.get
    priority = count(g("priority"), "priority")
    hold = boolean(g("hold"), "hold") if "hold" in d else None
    if hold is None and priority is not None:
        hold = priority == 0
    array_job_id = _positive(g("array_job_id"), "array_job_id")
    het_job_id = _positive(g("het_job_id"), "het_job_id")
    return Job._build(
        {
            "job_id": _id(d, "job_id"),
            "name": text(g("name"), "name") or "",
            "state": state(g("job_state"), "job_state"),
            "state_reason": _reason(g("state_reason"), "state_reason"),
            "state_description": text(g("state_description"), "state_description"),
            "user_name": text(g("user_name"), "user_name"),
            "user_id": count(g("user_id"), "user_id"),
            "group_name": text(g("group_name"), "group_name"),
            "group_id": count(g("group_id"), "group_id"),
            "account": text(g("account"), "account"),
            "partition": text(g("partition"), "partition"),
            "qos": text(g("qos"), "qos"),
            "cluster": text(g("cluster"), "cluster"),
            "comment": text(g("comment"), "comment"),
            "array_job_id": array_job_id,
            "array_task_id": count(g("array_task_id"), "array_task_id") if array_job_id else None,
            "array_task_string": text(g("array_task_string"), "array_task_string"),
            "het_job_id": het_job_id,
            "het_job_offset": count(g("het_job_offset"), "het_job_offset") if het_job_id else None,
            "nodes": text(g("nodes"), "nodes"),
            "node_count": count(g("node_count"), "node_count"),
            "cpus": count(g("cpus"), "cpus"),
            "tasks": count(g("tasks"), "tasks"),
            "cpus_per_task": count(g("cpus_per_task"), "cpus_per_task"),
            "memory_per_node": _positive(g("memory_per_node"), "memory_per_node"),
            "memory_per_cpu": _positive(g("memory_per_cpu"), "memory_per_cpu"),
            "time_limit": minutes(g("time_limit"), "time_limit"),
            "submit_time": timestamp(g("submit_time"), "submit_time"),
            "eligible_time": timestamp(g("eligible_time"), "eligible_time"),
            "start_time": timestamp(g("start_time"), "start_time"),
            "end_time": timestamp(g("end_time"), "end_time"),
            "exit_code": exit_code(g("exit_code"), "exit_code"),
            "derived_exit_code": exit_code(g("derived_exit_code"), "derived_exit_code"),
            "priority": priority,
            "hold": hold,
            "dependency": text(g("dependency"), "dependency"),
            "working_directory": text(g("current_working_directory"), "current_working_directory"),
            "standard_output": text(g("standard_output"), "standard_output"),
            "standard_error": text(g("standard_error"), "standard_error"),
            "standard_input": text(g("standard_input"), "standard_input"),
            "batch_host": text(g("batch_host"), "batch_host"),
            "tres_requested": text(g("tres_req_str"), "tres_req_str"),
            "tres_allocated": text(g("tres_alloc_str"), "tres_alloc_str"),
            "flags": flags(g("flags"), "flags"),
            "source": "slurmctld",
            "raw": d,
        }
    )


def _tres_string(tres: tuple[TRES, ...]) -> str | None:
    # Same format as slurmctld's tres_req_str: "cpu=1,mem=100M,node=1"; skips the
    # negative/unset counts the database uses for "not measured" (energy=-2).
    parts = [
        f"{t.key}={t.count}M" if t.key == "mem" else f"{t.key}={t.count}"
        for t in tres
        if t.count is not None and t.count >= 0
    ]
    return ",".join(parts) or None


def job_from_accounting(a: AccountingJob) -> Job:
    """The :class:`Job` view of an accounting record (for jobs slurmctld has purged)."""
    tres_req = _tres_string(a.tres_requested)
    tres_alloc = _tres_string(a.tres_allocated)
    raw = a.raw
    return Job._build(
        {
            "job_id": a.job_id,
            "name": a.name,
            "state": a.state,
            "state_reason": a.state_reason,
            "state_description": None,
            "user_name": a.user,
            "user_id": None,
            "group_name": a.group,
            "group_id": None,
            "account": a.account,
            "partition": a.partition,
            "qos": a.qos,
            "cluster": a.cluster,
            "comment": text(sub(raw, "comment").get("job"), "comment.job"),
            "array_job_id": a.array_job_id,
            "array_task_id": a.array_task_id,
            "array_task_string": None,
            "het_job_id": _positive(sub(raw, "het").get("job_id"), "het.job_id"),
            "het_job_offset": None,
            "nodes": a.nodes,
            "node_count": a.node_count,
            "cpus": count(sub(raw, "required").get("CPUs"), "required.CPUs"),
            "tasks": None,
            "cpus_per_task": None,
            "memory_per_node": _positive(
                sub(raw, "required").get("memory_per_node"), "required.memory_per_node"
            ),
            "memory_per_cpu": _positive(
                sub(raw, "required").get("memory_per_cpu"), "required.memory_per_cpu"
            ),
            "time_limit": a.time_limit,
            "submit_time": a.submit_time,
            "eligible_time": a.eligible_time,
            "start_time": a.start_time,
            "end_time": a.end_time,
            "exit_code": a.exit_code,
            "derived_exit_code": a.derived_exit_code,
            "priority": a.priority,
            "hold": boolean(raw.get("hold"), "hold"),
            "dependency": None,
            "working_directory": a.working_directory,
            "standard_output": text(raw.get("stdout"), "stdout"),
            "standard_error": text(raw.get("stderr"), "stderr"),
            "standard_input": text(raw.get("stdin"), "stdin"),
            "batch_host": None,
            "tres_requested": tres_req,
            "tres_allocated": tres_alloc,
            "flags": a.flags,
            "source": "accounting",
            "raw": raw,
        }
    )


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
            "is_default": "DEFAULT" in part_flags,
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


def _step_id(step: Any) -> str:
    sid = step.get("id") if type(step) is dict else step
    if type(sid) is dict:  # v0.0.39: {"job_id": 4, "step_het_component": 0, "step_id": "batch"}
        sid = sid.get("step_id")
    s = "" if sid is None else str(sid)
    # v0.0.40+ prefixes the job id ("4.batch"); v0.0.38 does not ("batch").
    return s.split(".", 1)[1] if "." in s else s


def accounting_step(d: Wire) -> AccountingStep:
    """A step inside an accounting job."""
    g = d.get
    t = sub(d, "time")
    step = sub(d, "step")
    nodes = sub(d, "nodes")
    return AccountingStep._build(
        {
            "step_id": _step_id(step),
            "name": text(step.get("name"), "step.name"),
            "state": state(g("state"), "state"),
            "exit_code": exit_code(g("exit_code"), "exit_code"),
            "start_time": timestamp(t.get("start"), "time.start"),
            "end_time": timestamp(t.get("end"), "time.end"),
            "elapsed": seconds(t.get("elapsed"), "time.elapsed"),
            "nodes": text(nodes.get("range"), "nodes.range"),
            "node_count": count(nodes.get("count"), "nodes.count"),
            "task_count": count(sub(d, "tasks").get("count"), "tasks.count"),
            "cpu_time_user": _cpu_time(t.get("user"), "time.user"),
            "cpu_time_system": _cpu_time(t.get("system"), "time.system"),
            "tres_allocated": tres_list(sub(d, "tres").get("allocated"), "tres.allocated"),
            "raw": d,
        }
    )


def accounting_job(d: Wire) -> AccountingJob:
    """A job from the accounting database (``GET /slurmdb/<v>/jobs``, ``/job/{id}``)."""
    g = d.get
    t, st, arr, tres = sub(d, "time"), sub(d, "state"), sub(d, "array"), sub(d, "tres")
    steps = g("steps") or []
    if type(steps) is not list:
        raise WireError("steps", "expected a list")
    out_steps = []
    for i, s in enumerate(steps):
        if type(s) is not dict:
            raise WireError(f"steps[{i}]", "expected an object")
        try:
            out_steps.append(accounting_step(s))
        except WireError as e:
            raise WireError(f"steps[{i}].{e.path}", e.message) from None
    array_job_id = _positive(arr.get("job_id"), "array.job_id")
    return AccountingJob._build(
        {
            "job_id": _id(d, "job_id"),
            "name": text(g("name"), "name") or "",
            "state": state(st.get("current"), "state.current"),
            "state_reason": _reason(st.get("reason"), "state.reason"),
            "exit_code": exit_code(g("exit_code"), "exit_code"),
            "derived_exit_code": exit_code(g("derived_exit_code"), "derived_exit_code"),
            "user": text(g("user"), "user"),
            "group": text(g("group"), "group"),
            "account": text(g("account"), "account"),
            "partition": text(g("partition"), "partition"),
            "qos": text(g("qos"), "qos"),
            "cluster": text(g("cluster"), "cluster"),
            "nodes": text(g("nodes"), "nodes"),
            "node_count": count(g("allocation_nodes"), "allocation_nodes"),
            "array_job_id": array_job_id,
            "array_task_id": count(arr.get("task_id"), "array.task_id") if array_job_id else None,
            "submit_time": timestamp(t.get("submission"), "time.submission"),
            "eligible_time": timestamp(t.get("eligible"), "time.eligible"),
            "start_time": timestamp(t.get("start"), "time.start"),
            "end_time": timestamp(t.get("end"), "time.end"),
            "elapsed": seconds(t.get("elapsed"), "time.elapsed"),
            "time_limit": minutes(t.get("limit"), "time.limit"),
            "priority": count(g("priority"), "priority"),
            "working_directory": text(g("working_directory"), "working_directory"),
            "tres_allocated": tres_list(tres.get("allocated"), "tres.allocated"),
            "tres_requested": tres_list(tres.get("requested"), "tres.requested"),
            "steps": tuple(out_steps),
            "flags": flags(g("flags"), "flags"),
            "raw": d,
        }
    )


def _names(v: Any, key: str) -> tuple[str, ...]:
    # coordinators: [{"name": "alice", "direct": true}] or ["alice"]
    if not v:
        return ()
    if type(v) is not list:
        raise WireError(key, "expected a list")
    return tuple(str(x.get("name")) if type(x) is dict else str(x) for x in v)


def account(d: Wire) -> Account:
    """An account (``GET /slurmdb/<v>/accounts``)."""
    g = d.get
    return Account._build(
        {
            "name": str(_required(d, "name")),
            "description": text(g("description"), "description"),
            "organization": text(g("organization"), "organization"),
            "coordinators": _names(g("coordinators"), "coordinators"),
            "flags": flags(g("flags"), "flags"),
            "raw": d,
        }
    )


def user(d: Wire) -> User:
    """A user (``GET /slurmdb/<v>/users``)."""
    g = d.get
    default = sub(d, "default")
    return User._build(
        {
            "name": str(_required(d, "name")),
            "default_account": text(default.get("account"), "default.account"),
            "default_wckey": text(default.get("wckey"), "default.wckey"),
            "admin_level": text(g("administrator_level"), "administrator_level"),
            "coordinators": _names(g("coordinators"), "coordinators"),
            "flags": flags(g("flags"), "flags") - {"NONE"},
            "raw": d,
        }
    )


def association(d: Wire) -> Association:
    """An association (``GET /slurmdb/<v>/associations``)."""
    g = d.get
    jobs = sub(sub(d, "max"), "jobs")
    assoc_id = g("id")
    if type(assoc_id) is dict:  # some versions nest the id: {"id": {"id": 3, ...}}
        assoc_id = assoc_id.get("id")
    return Association._build(
        {
            "id": count(assoc_id, "id"),
            "cluster": text(g("cluster"), "cluster"),
            "account": text(g("account"), "account"),
            "user": text(g("user"), "user"),
            "partition": text(g("partition"), "partition"),
            "parent_account": text(g("parent_account"), "parent_account"),
            "is_default": bool(boolean(g("is_default"), "is_default")),
            "qos": csv(g("qos"), "qos"),
            "default_qos": text(sub(d, "default").get("qos"), "default.qos"),
            "shares_raw": count(g("shares_raw"), "shares_raw"),
            "priority": limit(g("priority"), "priority"),
            "max_jobs": limit(jobs.get("active"), "max.jobs.active"),
            "max_submit_jobs": limit(jobs.get("total"), "max.jobs.total"),
            "max_wall_per_job": minutes(
                sub(jobs, "per").get("wall_clock"), "max.jobs.per.wall_clock"
            ),
            "raw": d,
        }
    )


def qos(d: Wire) -> QOS:
    """A QOS (``GET /slurmdb/<v>/qos``)."""
    g = d.get
    mx = sub(sub(d, "limits"), "max")
    jobs = sub(mx, "jobs")
    usage = number(g("usage_factor"), "usage_factor")
    return QOS._build(
        {
            "name": str(_required(d, "name")),
            "id": count(g("id"), "id"),
            "description": text(g("description"), "description"),
            "priority": limit(g("priority"), "priority"),
            "flags": flags(g("flags"), "flags"),
            "preempt_mode": csv(sub(d, "preempt").get("mode"), "preempt.mode"),
            "usage_factor": None if usage is None or usage is INFINITE else float(usage),
            "max_wall_per_job": minutes(
                sub(sub(mx, "wall_clock"), "per").get("job"), "limits.max.wall_clock.per.job"
            ),
            "max_jobs_per_user": limit(
                sub(sub(jobs, "active_jobs"), "per").get("user"),
                "limits.max.jobs.active_jobs.per.user",
            ),
            "max_submit_jobs_per_user": limit(
                sub(jobs, "per").get("user"), "limits.max.jobs.per.user"
            ),
            "raw": d,
        }
    )


__all__ = [
    "account",
    "accounting_job",
    "accounting_step",
    "association",
    "diag",
    "job",
    "job_from_accounting",
    "license_",
    "node",
    "partition",
    "partition_v38",
    "ping",
    "qos",
    "reservation",
    "user",
]
