"""Jobs: :class:`Job` -> slurmctld job object, :class:`AccountingJob` -> slurmdbd job object.

The inverse of :mod:`.._parse.jobs`: for every value a version can carry,
``_parse.job(job(model, fmt)) == model`` (the round-trip property tests prove it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...models import AccountingJob, AccountingStep, ExitCode, Job
from ...models.accounting import TRES
from ._common import (
    Wire,
    WireFormat,
    drop_none,
    epoch,
    minutes,
    text,
    verbose_exit_code,
    wrap,
)

__all__ = ["accounting_job", "accounting_step", "job"]


def job(j: Job, fmt: WireFormat) -> Wire:
    """A slurmctld job object (``GET /slurm/<v>/jobs``) in ``fmt``'s shape."""
    num = fmt.num
    v38 = not fmt.number_wrappers
    in_array = j.array_job_id is not None
    in_het = j.het_job_id is not None
    out: Wire = {
        "job_id": j.job_id,
        "name": j.name,
        "job_state": fmt.state(j.state),
        "state_reason": j.state_reason or "None",
        "state_description": text(j.state_description),
        "user_name": text(j.user_name),
        "user_id": j.user_id,
        "group_name": text(j.group_name),
        "group_id": j.group_id,
        "account": text(j.account),
        "partition": text(j.partition),
        "qos": text(j.qos),
        "cluster": text(j.cluster),
        "comment": text(j.comment),
        "array_job_id": num(j.array_job_id or 0),
        "array_task_id": num(j.array_task_id) if in_array else num(None),
        "array_task_string": text(j.array_task_string),
        "het_job_id": num(j.het_job_id or 0),
        "het_job_offset": num(j.het_job_offset) if in_het else num(None),
        "nodes": text(j.nodes),
        "node_count": num(j.node_count),
        "cpus": num(j.cpus),
        "tasks": num(j.tasks),
        # the v0.0.38 document types cpus_per_task as a string
        "cpus_per_task": (
            str(j.cpus_per_task) if v38 and j.cpus_per_task is not None else num(j.cpus_per_task)
        ),
        "memory_per_node": num(j.memory_per_node),
        "memory_per_cpu": num(j.memory_per_cpu),
        "time_limit": num(minutes(j.time_limit)),
        "submit_time": fmt.stamp(j.submit_time),
        "eligible_time": fmt.stamp(j.eligible_time),
        "start_time": fmt.stamp(j.start_time),
        "end_time": fmt.stamp(j.end_time),
        "exit_code": fmt.exit_code(j.exit_code),
        "derived_exit_code": fmt.exit_code(j.derived_exit_code),
        "priority": num(j.priority),
        # v0.0.38 has no "hold": held means priority 0 there
        "hold": None if v38 else j.hold,
        "dependency": text(j.dependency),
        "current_working_directory": text(j.working_directory),
        "standard_output": text(j.standard_output),
        "standard_error": text(j.standard_error),
        "standard_input": text(j.standard_input),
        "batch_host": text(j.batch_host),
        "tres_req_str": text(j.tres_requested),
        "tres_alloc_str": text(j.tres_allocated),
        "flags": sorted(j.flags),
    }
    return drop_none(out)


def _tres(items: tuple[TRES, ...]) -> list[Wire]:
    return [
        drop_none({"type": t.type, "name": text(t.name), "id": t.id, "count": t.count})
        for t in items
    ]


def _acct_exit(code: ExitCode | None, fmt: WireFormat) -> Wire | None:
    if code is None:
        return None
    return verbose_exit_code(code, lists=fmt.state_lists)


def _seconds(t: timedelta | None) -> int | None:
    return None if t is None else int(t.total_seconds())


def _cpu(t: timedelta | None) -> Wire | None:
    if t is None:
        return None
    return {"seconds": t.days * 86400 + t.seconds, "microseconds": t.microseconds}


def accounting_step(s: AccountingStep, fmt: WireFormat, job_id: int) -> Wire:
    """One step of a slurmdbd job."""
    step_id: Any
    if fmt.state_lists:  # v0.0.40+: "4.batch"
        step_id = f"{job_id}.{s.step_id}"
    elif fmt.number_wrappers:  # v0.0.39: an object
        step_id = {"job_id": job_id, "step_het_component": 0, "step_id": s.step_id}
    else:  # v0.0.38: "batch"
        step_id = s.step_id
    start, end = epoch(s.start_time), epoch(s.end_time)
    return drop_none(
        {
            "step": {"id": step_id, "name": text(s.name)},
            "state": fmt.state(s.state),
            "exit_code": _acct_exit(s.exit_code, fmt),
            "time": drop_none(
                {
                    "start": wrap(start) if fmt.wrapped_times else start,
                    "end": wrap(end) if fmt.wrapped_times else end,
                    "elapsed": _seconds(s.elapsed),
                    "user": _cpu(s.cpu_time_user),
                    "system": _cpu(s.cpu_time_system),
                }
            ),
            "nodes": drop_none({"range": text(s.nodes), "count": s.node_count}),
            "tasks": drop_none({"count": s.task_count}),
            "tres": {"allocated": _tres(s.tres_allocated)},
        }
    )


def accounting_job(a: AccountingJob, fmt: WireFormat) -> Wire:
    """A slurmdbd job object (``GET /slurmdb/<v>/jobs``) in ``fmt``'s shape."""
    num = fmt.num
    in_array = a.array_job_id is not None
    nodes = a.node_count
    return drop_none(
        {
            "job_id": a.job_id,
            "name": a.name,
            "state": {"current": fmt.state(a.state), "reason": a.state_reason or "None"},
            "exit_code": _acct_exit(a.exit_code, fmt),
            "derived_exit_code": _acct_exit(a.derived_exit_code, fmt),
            "user": text(a.user),
            "group": text(a.group),
            "account": text(a.account),
            "partition": text(a.partition),
            "qos": text(a.qos),
            "cluster": text(a.cluster),
            "nodes": text(a.nodes),
            # dbv0.0.38 documents allocation_nodes as a string
            "allocation_nodes": str(nodes)
            if nodes is not None and not fmt.number_wrappers
            else nodes,
            "array": drop_none(
                {
                    "job_id": a.array_job_id or 0,
                    "task_id": num(a.array_task_id) if in_array else num(None),
                }
            ),
            "time": drop_none(
                {
                    "submission": epoch(a.submit_time),
                    "eligible": epoch(a.eligible_time),
                    "start": epoch(a.start_time),
                    "end": epoch(a.end_time),
                    "elapsed": _seconds(a.elapsed),
                    "limit": num(minutes(a.time_limit)),
                }
            ),
            "priority": num(a.priority),
            "working_directory": text(a.working_directory),
            "tres": {"allocated": _tres(a.tres_allocated), "requested": _tres(a.tres_requested)},
            "steps": [accounting_step(s, fmt, a.job_id) for s in a.steps],
            "flags": sorted(a.flags),
        }
    )
