"""Jobs: slurmctld's job objects and the accounting database's job and step objects."""

from __future__ import annotations

from typing import Any

from ...models import AccountingJob, AccountingStep, Job
from ...models.accounting import TRES
from .._decode import (
    WireError,
    boolean,
    count,
    exit_code,
    flags,
    minutes,
    seconds,
    state,
    sub,
    text,
    timestamp,
    tres_list,
)
from ._common import Wire, _cpu_time, _id, _positive, _reason

__all__ = ["accounting_job", "accounting_step", "job", "job_from_accounting"]


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
