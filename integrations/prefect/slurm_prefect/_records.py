"""What a flow run keeps of its SLURM jobs: flow-run labels (for the cancellation hook) and
a table artifact per run (job ids, states, exit codes, nodes, output paths)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from prefect.artifacts import acreate_table_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext

if TYPE_CHECKING:
    from slurm_prefect.credentials import SlurmCredentials

__all__ = [
    "LABEL_PREFIX",
    "apublish",
    "arecord",
    "cluster_tag",
    "current_flow_run_id",
    "publish",
    "record",
    "recorded_jobs",
]

# A string: logging.LoggerAdapter is subscriptable at runtime only from Python 3.11.
Logger: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"
JobId: TypeAlias = int | str


class SlurmJobResult(Protocol):
    """What a row of the artifact shows (``slurm_prefect.SlurmJobResult`` has it)."""

    @property
    def job_id(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def nodes(self) -> str | None: ...
    @property
    def output_path(self) -> str | None: ...
    @property
    def error_path(self) -> str | None: ...


# ------------------------------------------------------------------- artifacts --------------
def _table(results: list[SlurmJobResult]) -> list[dict[str, Any]]:
    return [
        {
            "job id": r.job_id,
            "name": r.name or "",
            "state": r.state,
            "exit code": "" if r.exit_code is None else r.exit_code,
            "nodes": r.nodes or "",
            "stdout": r.output_path or "",
            "stderr": r.error_path or "",
        }
        for r in results
    ]


def _describe(results: list[SlurmJobResult]) -> str:
    return "SLURM job " + ", ".join(str(r.job_id) for r in results)


async def apublish(results: list[SlurmJobResult], logger: Logger) -> None:
    """A table artifact on the current run: job ids, states, exit codes, nodes, output paths."""
    if TaskRunContext.get() is None and FlowRunContext.get() is None:
        return
    try:
        await acreate_table_artifact(_table(results), description=_describe(results))
    except Exception as exc:  # the jobs ran regardless; only the artifact is missing
        logger.warning("Could not create the SLURM job artifact: %s", exc)


def publish(results: list[SlurmJobResult], logger: Logger) -> None:
    """Blocking :func:`apublish`."""
    if TaskRunContext.get() is None and FlowRunContext.get() is None:
        return
    try:
        create_table_artifact(_table(results), description=_describe(results))
    except Exception as exc:
        logger.warning("Could not create the SLURM job artifact: %s", exc)


# ------------------------------------------------------------------- job records ------------
LABEL_PREFIX = "slurm.job."
"""Flow-run label ``slurm.job.<job id>`` = slurmrestd URL: the jobs a flow run started.

Written when a task submits or waits for a job, read by the ``on_cancellation`` hook
(:func:`slurm_prefect.flows.cancel_slurm_jobs`), which runs in whichever process owns the
cancellation (usually the runner or worker, not the flow run's own process).
"""


def current_flow_run_id() -> UUID | None:
    """The id of the flow run this code runs in (a task's flow run), if any."""
    task_run = TaskRunContext.get()
    if task_run is not None and task_run.task_run.flow_run_id is not None:
        return task_run.task_run.flow_run_id
    flow_run = FlowRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        return flow_run.flow_run.id
    return None


def cluster_tag(url: str) -> str:
    """``url`` without user info, query or fragment: which slurmrestd a label refers to."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _labels(job_id: JobId, credentials: SlurmCredentials) -> dict[str, str | int | float | bool]:
    return {f"{LABEL_PREFIX}{job_id}": cluster_tag(credentials.url)}


def recorded_jobs(labels: Mapping[str, object], url: str) -> list[JobId]:
    """The job ids recorded in a flow run's ``labels`` for the slurmrestd at ``url``."""
    tag = cluster_tag(url)
    ids: list[JobId] = []
    for key, value in labels.items():
        if key.startswith(LABEL_PREFIX) and value == tag:
            raw = key[len(LABEL_PREFIX) :]
            ids.append(int(raw) if raw.isdigit() else raw)
    return ids


async def arecord(job_id: JobId, credentials: SlurmCredentials, logger: Logger) -> None:
    """Record ``job_id`` on the current flow run (nothing outside a flow run)."""
    flow_run_id = current_flow_run_id()
    if flow_run_id is None:
        return
    try:
        async with get_client() as prefect:
            await prefect.update_flow_run_labels(flow_run_id, _labels(job_id, credentials))
    except Exception as exc:  # the job runs regardless; only the hook would miss it
        logger.warning("Could not record SLURM job %s on the flow run: %s", job_id, exc)


def record(job_id: JobId, credentials: SlurmCredentials, logger: Logger) -> None:
    """Blocking :func:`arecord`."""
    flow_run_id = current_flow_run_id()
    if flow_run_id is None:
        return
    try:
        with get_client(sync_client=True) as prefect:
            prefect.update_flow_run_labels(flow_run_id, _labels(job_id, credentials))
    except Exception as exc:
        logger.warning("Could not record SLURM job %s on the flow run: %s", job_id, exc)
