"""Running one job for Prefect: submit, log ``client.jobs.watch`` events, cancel if abandoned.

Nothing here polls or retries: ``client.jobs.watch`` (slurm_core's one polling loop) and the
client's submission (no duplicates on retry) do. This module turns events into run-log
lines, records the jobs a flow run started, decides which exits abandon a job, and builds
the :class:`SlurmJobResult` a task returns.

A job is *abandoned*, and cancelled, when the code that owns it stops before the job ends:

* the flow run was cancelled or the task interrupted (``asyncio.CancelledError``, Prefect's
  ``TerminationSignal``, ``KeyboardInterrupt``: any ``BaseException`` that is not an
  ``Exception``), unless ``cancel_on_interrupt`` is false;
* the wait's own ``wait_timeout`` passed.

An API error does not cancel: the job may be fine, and a retried task can wait again. The
guard covers every step after the job exists, and the submission itself: an interruption
while the submit request is in flight looks the job up by its submission key.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import anyio
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext
from pydantic import BaseModel, ConfigDict

from slurm_core import AsyncSlurmClient, Job, JobBaseState, SlurmClient, SlurmError
from slurm_core.graph import AsyncGraphRun, GraphResult, JobGraph
from slurm_core.jobs import JobSpec, SubmittedJob
from slurm_core.jobs.submission import new_submission_key
from slurm_core.watch import JobEvent, WaitTimeoutError, outcome

if TYPE_CHECKING:
    from slurm_prefect.credentials import SlurmCredentials

__all__ = [
    "LABEL_PREFIX",
    "SlurmJobResult",
    "aresult",
    "arun_job",
    "asubmit",
    "asubmit_graph",
    "await_graph",
    "await_job",
    "recorded_jobs",
    "result",
    "submit",
    "wait_job",
]

# A string: logging.LoggerAdapter is subscriptable at runtime only from Python 3.11.
Logger: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"
JobId: TypeAlias = int | str

_CANCEL_GRACE = 30.0
"""Seconds an interrupted task may spend asking slurmrestd to cancel its job."""


class SlurmJobResult(BaseModel):
    """How a SLURM job ended (what the tasks and ``SlurmJobRun.fetch_result`` return).

    ``state`` is Slurm's base state (``"COMPLETED"``, ``"FAILED"``, ``"CANCELLED"``...);
    ``exit_code`` the job's exit status (``None`` if it was killed by a signal, then
    ``signal`` is set); ``stdout`` the job's standard output if the client could read it.
    """

    model_config = ConfigDict(frozen=True)

    job_id: int
    name: str | None = None
    state: str
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    nodes: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    stdout: str | None = None

    @property
    def ok(self) -> bool:
        """True for a job that completed with exit status 0."""
        return self.state == JobBaseState.COMPLETED.value and self.exit_code in (0, None)

    @classmethod
    def from_job(cls, job: Job, stdout: str | None = None) -> SlurmJobResult:
        """A result from a :class:`~slurm_core.Job` snapshot."""
        code = job.exit_code
        reason = job.state_reason
        return cls(
            job_id=job.job_id,
            name=job.name,
            state=str(job.state.base),
            exit_code=code.return_code if code else None,
            signal=code.signal if code else None,
            reason=reason if reason and reason.lower() != "none" else None,
            nodes=job.nodes or None,
            start_time=job.start_time,
            end_time=job.end_time,
            stdout=stdout,
        )


def describe_event(event: JobEvent) -> str:
    """One log line for a watch event: the change, where it runs, how it ended, why."""
    old = f"{event.old_state} -> " if event.old_state is not None else ""
    line = f"SLURM job {event.job_id}: {old}{event.new_state or event.type}"
    if event.nodes:
        line += f" on {event.nodes}"
    if event.exit_code is not None and event.final:
        code = event.exit_code
        if code.signal:
            line += f", killed by signal {code.signal}"
        else:
            line += f", exit code {code.return_code}"
    if event.reason and event.reason.lower() != "none":
        line += f" (reason: {event.reason})"
    return line


def _keyed(spec: JobSpec) -> JobSpec:
    return spec if spec.submission_key else spec.replace(submission_key=new_submission_key())


def _interrupted(exc: BaseException) -> bool:
    return not isinstance(exc, Exception)


# ------------------------------------------------------------------------------ sync ---------
def _cancel(client: SlurmClient, job_id: JobId, logger: Logger, why: str) -> None:
    logger.warning("Cancelling SLURM job %s: %s", job_id, why)
    try:
        client.jobs.cancel(job_id)
    except SlurmError as exc:  # never hide the exception that got us here
        logger.error("Could not cancel SLURM job %s: %s", job_id, exc)


@contextmanager
def _owned(
    client: SlurmClient, job_id: JobId, logger: Logger, cancel_on_interrupt: bool
) -> Iterator[None]:
    """Cancel ``job_id`` if the block is left by a wait timeout or an interruption."""
    try:
        yield
    except WaitTimeoutError:
        _cancel(client, job_id, logger, "the wait timed out")
        raise
    except BaseException as exc:
        if _interrupted(exc) and cancel_on_interrupt:
            _cancel(client, job_id, logger, f"the task was interrupted ({type(exc).__name__})")
        raise


def submit(
    client: SlurmClient,
    credentials: SlurmCredentials,
    spec: JobSpec,
    logger: Logger,
    *,
    cancel_on_interrupt: bool = True,
) -> SubmittedJob:
    """Submit ``spec``, log it, and record it on the flow run; an interruption cancels it."""
    spec = _keyed(spec)
    try:
        submitted = client.jobs.submit_spec(spec)
    except BaseException as exc:
        if _interrupted(exc) and cancel_on_interrupt:
            assert spec.submission_key is not None
            try:
                job_id = client.jobs.find_submission(spec.submission_key)
            except SlurmError:
                job_id = None
            if job_id is not None:
                _cancel(client, job_id, logger, "interrupted while submitting")
        raise
    with _owned(client, submitted.job_id, logger, cancel_on_interrupt):
        _log_submitted(submitted, logger)
        if cancel_on_interrupt:
            record(submitted.job_id, credentials, logger)
    return submitted


def _follow(client: SlurmClient, job_id: JobId, logger: Logger, wait_timeout: float | None) -> Job:
    with client.jobs.watch(job_id, timeout=wait_timeout) as events:
        for event in events:
            logger.info(describe_event(event))
            if event.final:
                return outcome(event)
    raise AssertionError(f"the watch of job {job_id} ended without a final event")


def wait_job(
    client: SlurmClient,
    credentials: SlurmCredentials,
    job_id: JobId,
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> Job:
    """Log each event of ``job_id`` until it ends; raise ``JobFailedError`` unless it succeeded.

    Returns the finished job. After ``wait_timeout`` seconds the job is cancelled and
    :class:`~slurm_core.watch.WaitTimeoutError` raised; an interruption cancels it too
    unless ``cancel_on_interrupt`` is false.
    """
    with _owned(client, job_id, logger, cancel_on_interrupt):
        if cancel_on_interrupt:
            record(job_id, credentials, logger)
        return _follow(client, job_id, logger, wait_timeout)


def result(client: SlurmClient, job_id: JobId, *, fetch_output: bool = True) -> SlurmJobResult:
    """The job as it is now, with its standard output if wanted and readable."""
    job = client.jobs.get(job_id)
    stdout = None
    if fetch_output and job.state.is_finished:
        try:
            stdout = client.jobs.output(job_id, stream="stdout")
        except (SlurmError, OSError):
            stdout = None
    return SlurmJobResult.from_job(job, stdout)


# ------------------------------------------------------------------------------ async --------
async def _acancel(client: AsyncSlurmClient, job_id: JobId, logger: Logger, why: str) -> None:
    logger.warning("Cancelling SLURM job %s: %s", job_id, why)
    # Shielded: the surrounding scope is being cancelled, the request must still go out.
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_GRACE):
        try:
            await client.jobs.cancel(job_id)
        except SlurmError as exc:
            logger.error("Could not cancel SLURM job %s: %s", job_id, exc)


@asynccontextmanager
async def _aowned(
    client: AsyncSlurmClient, job_id: JobId, logger: Logger, cancel_on_interrupt: bool
) -> AsyncIterator[None]:
    try:
        yield
    except WaitTimeoutError:
        await _acancel(client, job_id, logger, "the wait timed out")
        raise
    except BaseException as exc:
        if _interrupted(exc) and cancel_on_interrupt:
            why = f"the task was interrupted ({type(exc).__name__})"
            await _acancel(client, job_id, logger, why)
        raise


async def asubmit(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    spec: JobSpec,
    logger: Logger,
    *,
    cancel_on_interrupt: bool = True,
) -> SubmittedJob:
    """Async :func:`submit`."""
    spec = _keyed(spec)
    try:
        submitted = await client.jobs.submit_spec(spec)
    except BaseException as exc:
        if _interrupted(exc) and cancel_on_interrupt:
            assert spec.submission_key is not None
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_GRACE):
                try:
                    job_id = await client.jobs.find_submission(spec.submission_key)
                except SlurmError:
                    job_id = None
                if job_id is not None:
                    await _acancel(client, job_id, logger, "interrupted while submitting")
        raise
    async with _aowned(client, submitted.job_id, logger, cancel_on_interrupt):
        _log_submitted(submitted, logger)
        if cancel_on_interrupt:
            await arecord(submitted.job_id, credentials, logger)
    return submitted


async def _afollow(
    client: AsyncSlurmClient, job_id: JobId, logger: Logger, wait_timeout: float | None
) -> Job:
    async with client.jobs.watch(job_id, timeout=wait_timeout) as events:
        async for event in events:
            logger.info(describe_event(event))
            if event.final:
                return outcome(event)
    raise AssertionError(f"the watch of job {job_id} ended without a final event")


async def await_job(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    job_id: JobId,
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> Job:
    """Async :func:`wait_job`."""
    async with _aowned(client, job_id, logger, cancel_on_interrupt):
        if cancel_on_interrupt:
            await arecord(job_id, credentials, logger)
        return await _afollow(client, job_id, logger, wait_timeout)


async def arun_job(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    spec: JobSpec,
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> Job:
    """Submit ``spec`` and wait for it (:func:`asubmit` then the wait, one guard throughout)."""
    submitted = await asubmit(
        client, credentials, spec, logger, cancel_on_interrupt=cancel_on_interrupt
    )
    async with _aowned(client, submitted.job_id, logger, cancel_on_interrupt):
        return await _afollow(client, submitted.job_id, logger, wait_timeout)


async def aresult(
    client: AsyncSlurmClient, job_id: JobId, *, fetch_output: bool = True
) -> SlurmJobResult:
    """Async :func:`result`."""
    job = await client.jobs.get(job_id)
    stdout = None
    if fetch_output and job.state.is_finished:
        try:
            stdout = await client.jobs.output(job_id, stream="stdout")
        except (SlurmError, OSError):
            stdout = None
    return SlurmJobResult.from_job(job, stdout)


async def asubmit_graph(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    graph: JobGraph,
    logger: Logger,
    *,
    cancel_on_interrupt: bool = True,
) -> dict[str, int]:
    """Submit every node of ``graph`` (each edge a Slurm dependency); ``{name: job id}``.

    Each node goes through :func:`asubmit` (logged, recorded on the flow run). slurm_core
    cancels what was submitted when a later node fails to submit; an interruption midway
    cancels it here.
    """
    done: list[int] = []

    async def submit_one(spec: JobSpec) -> SubmittedJob:
        job = await asubmit(
            client, credentials, spec, logger, cancel_on_interrupt=cancel_on_interrupt
        )
        done.append(job.job_id)
        return job

    try:
        run = await graph.asubmit(client, submit=submit_one)
    except BaseException as exc:
        if _interrupted(exc) and cancel_on_interrupt:
            for job_id in done:
                await _acancel(client, job_id, logger, "interrupted while submitting the graph")
        raise
    job_ids = dict(run.job_ids)
    logger.info(
        "Submitted job graph %r: %s",
        graph.name,
        ", ".join(f"{name}={job_id}" for name, job_id in job_ids.items()),
    )
    return job_ids


async def await_graph(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    graph: JobGraph,
    job_ids: Mapping[str, int],
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> GraphResult:
    """Follow a submitted graph to its end (slurm_core's ``GraphRun.wait``, cancelling
    nodes that can never run), logging every event with its node's name. Abandoning it
    cancels what is left.
    """
    run = AsyncGraphRun(graph, client, job_ids)

    def log_event(name: str, event: JobEvent) -> None:
        logger.info("%s: %s", name, describe_event(event))

    try:
        result: GraphResult = await run.wait(
            wait_timeout, cancel_unrunnable=True, on_event=log_event
        )
    except BaseException as exc:
        timed_out = isinstance(exc, WaitTimeoutError)
        if timed_out or (_interrupted(exc) and cancel_on_interrupt):
            why = "the wait timed out" if timed_out else f"interrupted ({type(exc).__name__})"
            for name, job_id in job_ids.items():
                state = run.states.get(name)
                if state is None or not state.is_finished:
                    await _acancel(client, job_id, logger, f"{name}: {why}")
        raise
    for name in result.unrunnable:
        logger.warning("%s: SLURM job %s can never run (a dependency failed)", name, job_ids[name])
    return result


def _log_submitted(submitted: SubmittedJob, logger: Logger) -> None:
    logger.info("Submitted SLURM job %s", submitted.job_id)
    for warning in submitted.warnings:
        logger.warning("slurmrestd: %s", warning)


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
