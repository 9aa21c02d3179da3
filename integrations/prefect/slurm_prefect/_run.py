"""Running one job for Prefect: a translation onto slurm_core's job supervisor.

Nothing here polls, retries or decides to cancel: :class:`~slurm_core.lifecycle.JobSupervisor`
(and its async twin) submits or re-attaches, follows the job, tails its output and applies
the core's cancel policy (:data:`~slurm_core.lifecycle.CANCEL_POLICY`). This module
translates:

* the task run into the supervisor's durable key (:func:`supervision_key`): the flow run,
  the task, the job and how many such jobs came before, so a flow run re-executed after
  ``serve``/worker and flow processes died re-attaches to the job instead of submitting
  a second one;
* Prefect's exceptions into a :class:`~slurm_core.lifecycle.CancelReason` (``classify``):
  a ``TerminationSignal`` is how Prefect cancels a run; ``cancel_on_interrupt=False``
  turns a cancel or kill into "our process exited" (the job runs on);
* events and output lines into run-log lines, and the jobs a flow run follows into
  flow-run labels (for the ``on_cancellation`` hook) and a table artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from uuid import UUID

from prefect.context import TaskRunContext
from prefect.exceptions import TerminationSignal
from pydantic import BaseModel, ConfigDict

from slurm_core import (
    AsyncSlurmClient,
    Job,
    JobBaseState,
    JobFailedError,
    SlurmClient,
    SlurmError,
)
from slurm_core.graph import AsyncGraphRun, GraphResult, JobGraph
from slurm_core.jobs import JobSpec, SubmittedJob
from slurm_core.jobs.submission import new_submission_key
from slurm_core.lifecycle import (
    CANCEL_POLICY,
    AsyncJobSupervisor,
    CancelReason,
    JobSupervisor,
    OutputLine,
    reason_for,
)
from slurm_core.watch import JobEvent
from slurm_prefect._records import (
    LABEL_PREFIX,
    apublish,
    arecord,
    current_flow_run_id,
    publish,
    record,
    recorded_jobs,
)

if TYPE_CHECKING:
    from slurm_prefect.credentials import SlurmCredentials

__all__ = [
    "LABEL_PREFIX",
    "SlurmJobResult",
    "apublish",
    "aresult",
    "arun_job",
    "asubmit",
    "asubmit_graph",
    "await_graph",
    "await_job",
    "publish",
    "recorded_jobs",
    "result",
    "submit",
    "wait_job",
]

# A string: logging.LoggerAdapter is subscriptable at runtime only from Python 3.11.
Logger: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"
JobId: TypeAlias = int | str
S = TypeVar("S", JobSupervisor, AsyncJobSupervisor)


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
    output_path: str | None = None
    error_path: str | None = None

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
            output_path=job.standard_output or None,
            error_path=job.standard_error or None,
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


_calls: dict[tuple[UUID, str], int] = {}
_calls_lock = threading.Lock()


def supervision_key(spec: JobSpec) -> str | None:
    """The durable submission key for ``spec`` started here (``None`` outside a flow run).

    The flow run, the task (Prefect's ``task_key``: its function), the job (a digest of
    the spec, its environment left out: it may hold secrets) and how many such jobs this
    run started before. All of it repeats when the flow run is executed again, so the
    task re-attaches; Prefect's own ``dynamic_key`` does not (it is random).
    """
    flow_run_id = current_flow_run_id()
    if flow_run_id is None:
        return None
    task = TaskRunContext.get()
    job = spec.model_dump_json(exclude={"submission_key", "environment"})
    where = f"{task.task.task_key if task is not None else 'flow'}/{job}"
    with _calls_lock:
        index = _calls.get((flow_run_id, where), 0)
        _calls[(flow_run_id, where)] = index + 1
    digest = hashlib.sha256(f"{where}/{index}".encode()).hexdigest()
    return f"prefect-{flow_run_id}-{digest[:16]}"


def _keyed(spec: JobSpec) -> JobSpec:
    if spec.submission_key:
        return spec
    return spec.replace(submission_key=supervision_key(spec) or new_submission_key())


def _classifier(
    cancel_on_interrupt: bool,
    logger: Logger | None = None,
    job_id: Callable[[], int | None] = lambda: None,
) -> Callable[[BaseException], CancelReason | None]:
    """Prefect's exceptions as cancel reasons; logs when the policy will cancel the job."""

    def classify(exc: BaseException) -> CancelReason | None:
        reason = (
            CancelReason.ORCHESTRATOR_CANCELLED
            if isinstance(exc, TerminationSignal)
            else reason_for(exc)
        )
        interrupted = reason in (
            CancelReason.ORCHESTRATOR_CANCELLED,
            CancelReason.ORCHESTRATOR_KILLED,
        )
        if interrupted and not cancel_on_interrupt:
            reason = CancelReason.PROCESS_EXITED
        decision = CANCEL_POLICY[reason]
        if logger is not None and decision.cancel and not isinstance(exc, JobFailedError):
            logger.warning(
                "Cancelling SLURM job %s: %s (%s)",
                job_id() or "(its submission in flight)",
                decision.why,
                type(exc).__name__,
            )
        return reason

    return classify


def _supervise(
    make: Callable[..., S],
    client: Any,
    job: JobSpec | JobId,
    credentials: SlurmCredentials,
    logger: Logger,
    cancel_on_interrupt: bool,
) -> S:
    """A supervisor for ``job`` with the block's settings and the run logger."""
    settings = credentials.settings()
    made: list[S] = []

    def on_output(line: OutputLine) -> None:
        logger.info("SLURM job %s %s: %s", line.job_id, line.stream, line.text)

    def on_event(event: JobEvent) -> None:
        logger.info(describe_event(event))

    classify = _classifier(cancel_on_interrupt, logger, lambda: made[0].job_id if made else None)
    supervisor = make(
        client,
        job if isinstance(job, JobSpec) else int(job),
        key=job.submission_key if isinstance(job, JobSpec) else None,
        reattach_failed=False,  # a retry after a real failure runs the job again
        poll_interval=settings.poll_interval,
        default_working_directory=settings.working_directory,
        classify=classify,
        on_output=on_output,
        on_event=on_event,
    )
    made.append(supervisor)
    return supervisor


def _log_submitted(submitted: SubmittedJob, logger: Logger) -> None:
    if submitted.attached:
        logger.info("Re-attached to SLURM job %s", submitted.job_id)
    else:
        logger.info("Submitted SLURM job %s", submitted.job_id)
    for warning in submitted.warnings:
        logger.warning("slurmrestd: %s", warning)


# ------------------------------------------------------------------------------ sync ---------
def submit(
    client: SlurmClient,
    credentials: SlurmCredentials,
    spec: JobSpec,
    logger: Logger,
    *,
    cancel_on_interrupt: bool = True,
) -> SubmittedJob:
    """Submit ``spec`` (or re-attach to this task run's job), log it, record it on the run."""
    supervisor = _supervise(
        JobSupervisor, client, _keyed(spec), credentials, logger, cancel_on_interrupt
    )
    submitted = supervisor.start()
    _log_submitted(submitted, logger)
    if cancel_on_interrupt:
        record(submitted.job_id, credentials, logger)
    return submitted


def wait_job(
    client: SlurmClient,
    credentials: SlurmCredentials,
    job_id: JobId,
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> Job | None:
    """Follow ``job_id`` to its end, logging events and output; raise unless it completed.

    After ``wait_timeout`` seconds the job is cancelled and
    :class:`~slurm_core.watch.WaitTimeoutError` raised; an interruption cancels it unless
    ``cancel_on_interrupt`` is false (the core's cancel policy decides the rest).
    """
    if cancel_on_interrupt:
        record(job_id, credentials, logger)
    supervisor = _supervise(JobSupervisor, client, job_id, credentials, logger, cancel_on_interrupt)
    return supervisor.run(timeout=wait_timeout).job


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
async def asubmit(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    spec: JobSpec,
    logger: Logger,
    *,
    cancel_on_interrupt: bool = True,
) -> SubmittedJob:
    """Async :func:`submit`."""
    supervisor = _supervise(
        AsyncJobSupervisor, client, _keyed(spec), credentials, logger, cancel_on_interrupt
    )
    return await _astart(supervisor, credentials, logger, cancel_on_interrupt)


async def _astart(
    supervisor: AsyncJobSupervisor,
    credentials: SlurmCredentials,
    logger: Logger,
    cancel_on_interrupt: bool,
) -> SubmittedJob:
    """Submit or re-attach, log, record on the flow run; stopped midway, the policy applies."""
    try:
        submitted = await supervisor.start()
        _log_submitted(submitted, logger)
        if cancel_on_interrupt:
            await arecord(submitted.job_id, credentials, logger)
    except BaseException as exc:
        classify = _classifier(cancel_on_interrupt, logger, lambda: supervisor.job_id)
        with contextlib.suppress(SlurmError, TimeoutError):  # never hide what got us here
            await supervisor.cancel(classify(exc) or CancelReason.SUPERVISOR_FAILED)
        raise
    return submitted


async def await_job(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    job_id: JobId,
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> Job | None:
    """Async :func:`wait_job`."""
    if cancel_on_interrupt:
        await arecord(job_id, credentials, logger)
    supervisor = _supervise(
        AsyncJobSupervisor, client, job_id, credentials, logger, cancel_on_interrupt
    )
    return (await supervisor.run(timeout=wait_timeout)).job


async def arun_job(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    spec: JobSpec,
    logger: Logger,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
) -> int:
    """Submit ``spec`` (or re-attach to this task run's job) and follow it; its job id.

    One supervisor throughout: an interruption after submission follows the cancel policy.
    """
    supervisor = _supervise(
        AsyncJobSupervisor, client, _keyed(spec), credentials, logger, cancel_on_interrupt
    )
    submitted = await _astart(supervisor, credentials, logger, cancel_on_interrupt)
    await supervisor.run(timeout=wait_timeout)
    return submitted.job_id


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


async def _acancel(
    client: AsyncSlurmClient, job_id: int, reason: CancelReason, logger: Logger
) -> None:
    logger.warning("Cancelling SLURM job %s: %s", job_id, CANCEL_POLICY[reason].why)
    try:
        await AsyncJobSupervisor(client, job_id).cancel(reason)
    except (SlurmError, TimeoutError) as exc:  # never hide the exception that got us here
        logger.error("Could not cancel SLURM job %s: %s", job_id, exc)


def _policy_cancels(exc: BaseException, cancel_on_interrupt: bool) -> CancelReason | None:
    """The reason to cancel for ``exc`` under the core's policy, or None to leave the jobs."""
    reason = CancelReason(_classifier(cancel_on_interrupt)(exc) or reason_for(exc))
    return reason if CANCEL_POLICY[reason].cancel else None


async def asubmit_graph(
    client: AsyncSlurmClient,
    credentials: SlurmCredentials,
    graph: JobGraph,
    logger: Logger,
    *,
    cancel_on_interrupt: bool = True,
) -> dict[str, int]:
    """Submit every node of ``graph`` (each edge a Slurm dependency); ``{name: job id}``.

    Each node goes through :func:`asubmit` (logged, recorded on the flow run, keyed by the
    task run). slurm_core cancels what was submitted when a later node fails to submit; an
    interruption midway is read by the core's cancel policy.
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
        reason = _policy_cancels(exc, cancel_on_interrupt)
        if reason is not None:
            for job_id in done:
                await _acancel(client, job_id, reason, logger)
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
    nodes that can never run), logging every event with its node's name. Stopping early
    applies the core's cancel policy to what is left.
    """
    run = AsyncGraphRun(graph, client, job_ids)

    def log_event(name: str, event: JobEvent) -> None:
        logger.info("%s: %s", name, describe_event(event))

    try:
        result: GraphResult = await run.wait(
            wait_timeout, cancel_unrunnable=True, on_event=log_event
        )
    except BaseException as exc:
        reason = _policy_cancels(exc, cancel_on_interrupt)
        if reason is not None:
            for name, job_id in job_ids.items():
                state = run.states.get(name)
                if state is None or not state.is_finished:
                    await _acancel(client, job_id, reason, logger)
        raise
    for name in result.unrunnable:
        logger.warning("%s: SLURM job %s can never run (a dependency failed)", name, job_ids[name])
    return result
