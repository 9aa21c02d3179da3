"""What the resource and the Pipes client share: turning a builder into a spec, following a
job through ``slurm_core``'s watcher into Dagster's log, cancelling an abandoned job, and
the metadata a finished job leaves on its materialization.

Nothing here polls: ``client.jobs.watch``/``wait`` (the project's one polling loop) do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeAlias

from dagster import MetadataValue

from slurm_core import Job, SlurmError
from slurm_core.jobs import AsyncJobBuilder, JobBuilder, JobSpec

# wait()'s verdict for a final event, so one watch both logs and decides.
from slurm_core.watch import outcome

if TYPE_CHECKING:
    from slurm_core import AsyncSlurmClient, SlurmClient
    from slurm_core.watch import JobEvent

__all__ = ["AsyncJobInput", "JobInput", "SlurmJobRun", "job_metadata"]


class _Log(Protocol):
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...


JobInput: TypeAlias = "JobSpec | JobBuilder | Callable[[SlurmClient], JobBuilder]"
"""What ``run_job`` and the Pipes client accept: a spec, a builder, or a function that makes a
builder from the step's client (``lambda c: c.jobs.submit(TrainingJob)...``); the latter
submits through the builder's own ``execute()`` (so presets keep their version fallbacks)."""

AsyncJobInput: TypeAlias = (
    "JobSpec | JobBuilder | AsyncJobBuilder | Callable[[AsyncSlurmClient], AsyncJobBuilder]"
)


def to_spec(job: JobSpec | JobBuilder | AsyncJobBuilder) -> JobSpec:
    """The validated spec of ``job`` (a :class:`JobSpec` or any job builder)."""
    if isinstance(job, JobSpec):
        return job
    if isinstance(job, (JobBuilder, AsyncJobBuilder)):
        return job.to_spec()
    raise TypeError(f"expected a JobSpec or a job builder, got {type(job).__name__}")


def bind(client: SlurmClient, job: JobInput) -> JobBuilder:
    """A builder whose ``execute()`` submits ``job`` through ``client``."""
    if isinstance(job, (JobSpec, JobBuilder, AsyncJobBuilder)):
        return JobBuilder.from_spec(to_spec(job), submitter=client.jobs.submit_spec)
    if callable(job):
        made = job(client)
        if not isinstance(made, JobBuilder):
            raise TypeError(f"the job factory returned {type(made).__name__}, not a JobBuilder")
        return made
    raise TypeError(f"expected a JobSpec, a job builder or a factory, got {type(job).__name__}")


def abind(client: AsyncSlurmClient, job: AsyncJobInput) -> AsyncJobBuilder:
    """Async twin of :func:`bind`."""
    if isinstance(job, (JobSpec, JobBuilder, AsyncJobBuilder)):
        return AsyncJobBuilder.from_spec(to_spec(job), submitter=client.jobs.submit_spec)
    if callable(job):
        made = job(client)
        if not isinstance(made, AsyncJobBuilder):
            raise TypeError(
                f"the job factory returned {type(made).__name__}, not an AsyncJobBuilder"
            )
        return made
    raise TypeError(f"expected a JobSpec, a job builder or a factory, got {type(job).__name__}")


def elapsed_seconds(job: Job) -> float | None:
    """Run time as SLURM recorded it (start to end), or ``None`` if it never started."""
    if job.start_time is None or job.end_time is None:
        return None
    return max(0.0, (job.end_time - job.start_time).total_seconds())


def job_metadata(job: Job) -> dict[str, MetadataValue]:
    """Materialization metadata of a finished job: id, state, exit code, nodes, elapsed time.

    Example::

        job_metadata(client.jobs.get(42))["slurm_job_id"]     # MetadataValue.int(42)
    """
    md: dict[str, MetadataValue] = {
        "slurm_job_id": MetadataValue.int(job.job_id),
        "slurm_job_name": MetadataValue.text(job.name),
        "slurm_state": MetadataValue.text(str(job.state)),
    }
    code = job.exit_code
    if code is not None:
        if code.return_code is not None:
            md["slurm_exit_code"] = MetadataValue.int(code.return_code)
        if code.signal is not None:
            md["slurm_exit_signal"] = MetadataValue.int(code.signal)
        md["slurm_exit_status"] = MetadataValue.text(code.status)
    if job.nodes:
        md["slurm_nodes"] = MetadataValue.text(job.nodes)
    if job.partition:
        md["slurm_partition"] = MetadataValue.text(job.partition)
    elapsed = elapsed_seconds(job)
    if elapsed is not None:
        md["slurm_elapsed_seconds"] = MetadataValue.float(elapsed)
    return md


def failure_metadata(
    job_id: int, state: str, exit_code: int | None, reason: str | None
) -> dict[str, MetadataValue]:
    """Metadata of a job that ended badly (what :class:`~slurm_core.JobFailedError` carries)."""
    md: dict[str, MetadataValue] = {
        "slurm_job_id": MetadataValue.int(int(job_id)),
        "slurm_state": MetadataValue.text(str(state)),
    }
    if exit_code is not None:
        md["slurm_exit_code"] = MetadataValue.int(exit_code)
    if reason:
        md["slurm_reason"] = MetadataValue.text(reason)
    return md


@dataclass(frozen=True)
class SlurmJobRun:
    """A finished SLURM job as a Dagster step saw it.

    Attributes: ``job`` (the final :class:`~slurm_core.Job`), ``job_id`` and ``metadata``
    (what :meth:`SlurmResource.run_job` attached to the step's output).

    Example::

        run = slurm.run_job(spec, context)
        return MaterializeResult(metadata=run.metadata)
    """

    job: Job
    metadata: dict[str, MetadataValue] = field(default_factory=dict)

    @property
    def job_id(self) -> int:
        return self.job.job_id


def describe_event(event: JobEvent) -> str:
    """One log line for a watch event (state change, nodes, exit code, reason)."""
    text = f"SLURM job {event.job_id} {event.type.value}"
    old, new = event.old_state, event.new_state
    if new is not None:
        text += f": {old} -> {new}" if old is not None else f": {new}"
    if event.nodes:
        text += f" on {event.nodes}"
    code = event.exit_code
    if code is not None:
        text += f", exit code {code.return_code if code.return_code is not None else code.status}"
    if event.reason and event.reason.lower() != "none":
        text += f" (reason: {event.reason})"
    return text


def follow(client: SlurmClient, job_id: int, log: _Log, timeout: float | None) -> Job:
    """Log each watch event of ``job_id`` and return the finished job.

    Raises :class:`~slurm_core.JobFailedError` when the job ends in a failed state (the
    verdict ``client.jobs.wait`` gives, taken from the same watch's final event),
    :class:`~slurm_core.watch.WaitTimeoutError` after ``timeout`` seconds.
    """
    events = client.jobs.watch(job_id, timeout=timeout)
    try:
        for event in events:
            log.info(describe_event(event))
            if event.final:
                return outcome(event)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    return client.jobs.wait(job_id, timeout=timeout)  # pragma: no cover - watch ends final


async def afollow(client: AsyncSlurmClient, job_id: int, log: _Log, timeout: float | None) -> Job:
    """Async twin of :func:`follow`."""
    events = client.jobs.watch(job_id, timeout=timeout)
    try:
        async for event in events:
            log.info(describe_event(event))
            if event.final:
                return outcome(event)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    return await client.jobs.wait(job_id, timeout=timeout)  # pragma: no cover


def cancel_quietly(client: SlurmClient, job_id: int, log: _Log, why: str) -> None:
    """Cancel a job the step is abandoning; a failure to cancel is logged, never raised
    (the exception that made us abandon it is the one to report)."""
    log.info(f"{why}: cancelling SLURM job {job_id}")
    try:
        client.jobs.cancel(job_id)
    except SlurmError as exc:
        log.warning(f"could not cancel SLURM job {job_id}: {exc}")


async def acancel_quietly(client: AsyncSlurmClient, job_id: int, log: _Log, why: str) -> None:
    """Async twin of :func:`cancel_quietly`."""
    log.info(f"{why}: cancelling SLURM job {job_id}")
    try:
        await client.jobs.cancel(job_id)
    except SlurmError as exc:
        log.warning(f"could not cancel SLURM job {job_id}: {exc}")
