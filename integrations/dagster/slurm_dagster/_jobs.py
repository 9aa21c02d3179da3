"""What the resource and the Pipes client share: turning a builder into a spec, following a
job through ``slurm_core``'s watcher into Dagster's log, cancelling an abandoned job, and
the submission key of a step, and the metadata a finished job leaves on its
materialization.

Nothing here polls, waits or cancels: :mod:`slurm_core.lifecycle`'s supervisor does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeAlias

from dagster import MetadataValue

from slurm_core import Job, SlurmError
from slurm_core.jobs import AsyncJobBuilder, JobBuilder, JobSpec, output_path

if TYPE_CHECKING:
    from dagster import AssetExecutionContext, OpExecutionContext

    from slurm_core import AsyncSlurmClient, SlurmClient
    from slurm_core.watch import JobEvent

__all__ = ["AsyncJobInput", "JobInput", "SlurmJobRun", "job_metadata"]


_KEY_LIMIT: Final = 120
"""Longest key made from a run and step (keys are at most 128 characters, room for ``-N``)."""
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._:-]")


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
    md.update(output_metadata(job))
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


def step_key(context: AssetExecutionContext | OpExecutionContext) -> str:
    """The submission key of a step's job: the root run id and the step key.

    Re-executing a run (from failure, or a chosen step) makes a new run whose root is the
    original run, so the re-executed step gets the same key and re-attaches to its job.

    Example::

        step_key(context)        # "dagster-3f2a...-my_asset"
    """
    run = context.run
    root = run.root_run_id or run.run_id
    step = context.get_step_execution_context().step.key
    safe = _UNSAFE.sub("_", step)
    key = f"dagster-{root}-{safe}"
    if safe != step or len(key) > _KEY_LIMIT:  # keep it valid, short and still unique
        digest = hashlib.sha256(step.encode()).hexdigest()[:16]
        key = f"dagster-{root}-{safe[:32]}-{digest}"
    return key


def output_metadata(job: Job) -> dict[str, MetadataValue]:
    """The job's stdout/stderr files as path metadata (as the cluster sees them).

    Example::

        output_metadata(client.jobs.get(42))["slurm_stdout"]   # MetadataValue.path(...)
    """
    md: dict[str, MetadataValue] = {}
    for stream in ("stdout", "stderr"):
        try:
            path = output_path(job, stream)
        except (SlurmError, ValueError):
            continue  # no path can be told (e.g. %N before the job started)
        md[f"slurm_{stream}"] = MetadataValue.path(str(path))
    return md
