"""Model factories for tests: realistic :class:`Job`, :class:`Node`... without wire JSON.

Every factory fills consistent defaults (a RUNNING job has a start time and nodes, a
COMPLETED one an end time and exit code 0) and takes any model field as an override,
validated like the model itself.

Example::

    from slurm_core.testing import make_job

    job = make_job(job_id=7, state="FAILED", exit_code=3, partition="gpu")
    assert job.exit_code.return_code == 3 and job.state.is_finished
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from .._exceptions import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SlurmAPIError,
    SlurmErrorEntry,
)
from ..jobs import SubmittedJob
from ..models import (
    AccountingJob,
    ExitCode,
    Job,
    JobState,
    Node,
    Partition,
)

__all__ = [
    "make_accounting_job",
    "make_api_error",
    "make_job",
    "make_node",
    "make_partition",
    "make_submitted",
]

EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
"""The submit time of factory-made jobs (fixed, so tests are reproducible)."""
_FINAL_EXIT = {
    "COMPLETED": ExitCode.of("SUCCESS", 0),
    "CANCELLED": ExitCode.of("SIGNALED", None, 15, "TERM"),
    "TIMEOUT": ExitCode.of("SIGNALED", None, 15, "TERM"),
}


def _exit(state: JobState, exit_code: int | ExitCode | None) -> ExitCode | None:
    if isinstance(exit_code, ExitCode):
        return exit_code
    if exit_code is not None:
        return ExitCode.of("SUCCESS" if exit_code == 0 else "ERROR", exit_code)
    if not state.is_finished:
        return None
    return _FINAL_EXIT.get(str(state.base), ExitCode.of("ERROR", 1))


def make_job(
    job_id: int = 1,
    state: str | Iterable[str] | JobState = "RUNNING",
    *,
    exit_code: int | ExitCode | None = None,
    **fields: Any,
) -> Job:
    """A :class:`Job` in ``state`` (``"PENDING"``, ``["PENDING", "REQUEUED"]``...).

    ``exit_code`` may be an int (``3`` -> ``ERROR`` with return code 3); finished jobs get
    one by default. Any other :class:`Job` field can be given.

    Example::

        pending = make_job(job_id=2, state="PENDING", state_reason="Priority")
        gpu_run = make_job(job_id=3, partition="gpu", nodes="gpu1", cpus=8)
    """
    st = state if isinstance(state, JobState) else JobState.parse(state)
    started = not st.is_pending
    values: dict[str, Any] = {
        "job_id": job_id,
        "name": f"job-{job_id}",
        "state": st,
        "state_reason": "Priority" if st.is_pending else None,
        "user_name": "testuser",
        "user_id": 1000,
        "group_name": "testuser",
        "group_id": 1000,
        "account": "testacct",
        "partition": "debug",
        "qos": "normal",
        "cluster": "testcluster",
        "nodes": "node1" if started else None,
        "node_count": 1,
        "cpus": 1,
        "tasks": 1,
        "cpus_per_task": 1,
        "time_limit": timedelta(hours=1),
        "submit_time": EPOCH,
        "eligible_time": EPOCH,
        "start_time": EPOCH + timedelta(seconds=5) if started else None,
        "end_time": EPOCH + timedelta(minutes=5) if st.is_finished else None,
        "exit_code": _exit(st, exit_code),
        "priority": 1,
        "hold": False,
        "working_directory": "/home/testuser",
        "standard_output": f"/home/testuser/slurm-{job_id}.out",
        "batch_host": "node1" if started else None,
    }
    values.update(fields)
    return Job.model_validate(values)


def make_submitted(job_id: int = 1, *, warnings: Iterable[str] = ()) -> SubmittedJob:
    """What a successful submission returns.

    Example::

        mock.expect("jobs.submit").returns(make_submitted(42))
    """
    return SubmittedJob(job_id=job_id, step_id="batch", warnings=list(warnings))


def make_node(name: str = "node1", state: str = "IDLE", **fields: Any) -> Node:
    """A :class:`Node` (8 CPUs, 16000 MiB by default); flags with ``state_flags={"DRAIN"}``.

    Example::

        drained = make_node("node2", state_flags={"DRAIN"}, reason="disk")
    """
    values: dict[str, Any] = {
        "name": name,
        "state": state.upper(),
        "hostname": name,
        "address": name,
        "partitions": ("debug",),
        "cpus": 8,
        "sockets": 1,
        "cores": 8,
        "threads": 1,
        "real_memory": 16_000,
        "free_memory": 16_000,
        "alloc_memory": 0,
        "alloc_cpus": 0,
    }
    values.update(fields)
    return Node.model_validate(values)


def make_partition(name: str = "debug", **fields: Any) -> Partition:
    """A :class:`Partition` (UP, 1 hour limit; ``is_default=True`` to make it the default).

    Example::

        gpu = make_partition("gpu", max_time=timedelta(days=1), nodes="gpu[1-2]")
    """
    values: dict[str, Any] = {
        "name": name,
        "state": "UP",
        "nodes": "node[1-2]",
        "total_nodes": 2,
        "total_cpus": 16,
        "max_time": timedelta(hours=1),
    }
    values.update(fields)
    if values.get("is_default"):
        values["flags"] = frozenset(values.get("flags", ())) | {"DEFAULT"}
    return Partition.model_validate(values)


def make_accounting_job(
    job_id: int = 1, state: str | Iterable[str] = "COMPLETED", **fields: Any
) -> AccountingJob:
    """An :class:`AccountingJob` (what ``client.accounting.jobs()`` returns).

    Example::

        record = make_accounting_job(5, state="FAILED", exit_code=ExitCode.of("ERROR", 2))
    """
    st = JobState.parse(state)
    started = not st.is_pending
    values: dict[str, Any] = {
        "job_id": job_id,
        "name": f"job-{job_id}",
        "state": st,
        "user": "testuser",
        "group": "testuser",
        "account": "testacct",
        "partition": "debug",
        "qos": "normal",
        "cluster": "testcluster",
        "nodes": "node1" if started else "None assigned",
        "node_count": 1,
        "submit_time": EPOCH,
        "eligible_time": EPOCH,
        "start_time": EPOCH + timedelta(seconds=5) if started else None,
        "end_time": EPOCH + timedelta(minutes=5) if st.is_finished else None,
        "elapsed": timedelta(seconds=295) if st.is_finished else None,
        "time_limit": timedelta(hours=1),
        "exit_code": _exit(st, None),
    }
    values.update(fields)
    return AccountingJob.model_validate(values)


_ERROR_DEFAULTS: dict[type[SlurmAPIError], tuple[int, int | None, str]] = {
    NotFoundError: (404, 2017, "Invalid job id specified"),
    PermissionDeniedError: (403, 2002, "Access/permission denied"),
    AuthenticationError: (401, None, "Authentication failure"),
    InvalidRequestError: (400, None, "Invalid request"),
    RateLimitError: (429, None, "Too many requests"),
    ServerError: (500, None, "Internal error"),
}


def make_api_error(
    cls: type[SlurmAPIError] = NotFoundError,
    message: str | None = None,
    *,
    status_code: int | None = None,
    error_number: int | None = None,
) -> SlurmAPIError:
    """An API error as the client raises it, with a status and slurmrestd's error entry.

    Defaults per class: NotFoundError 404 with error 2017 ("Invalid job id specified"),
    PermissionDeniedError 403/2002, AuthenticationError 401, InvalidRequestError 400,
    RateLimitError 429, ServerError 500.

    Example::

        mock.expect("jobs.get").with_args(9).raises(make_api_error(NotFoundError))
    """
    status, number, text = _ERROR_DEFAULTS.get(cls, (500, None, "error"))
    number = error_number if error_number is not None else number
    entry = SlurmErrorEntry(error_number=number, error=text)
    return cls(
        message or text,
        status_code=status_code if status_code is not None else status,
        errors=[entry] if number is not None else [],
    )
