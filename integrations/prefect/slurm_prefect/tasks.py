"""Prefect tasks for SLURM jobs: submit, wait, cancel, and run (submit + wait).

The tasks are thin ``async`` functions over :class:`~slurm_core.AsyncSlurmClient`:

* in an ``async`` flow, ``await run_slurm_job(credentials, spec)``;
* in a sync flow, ``run_slurm_job.submit(credentials, spec).result()`` (Prefect runs the
  coroutine on its task runner; calling an async task directly in a sync flow gives a
  coroutine, as for any Prefect 3 async task).

Waiting logs every state change of the job (``client.jobs.watch`` events) to the run
logger and raises :class:`~slurm_core.JobFailedError` (state, exit code, reason) when the
job did not complete successfully, so the task run fails with it. If the flow run is
cancelled or the task interrupted while waiting, the SLURM job is cancelled before the
task gives up; add :func:`slurm_prefect.flows.cancel_slurm_jobs` as the flow's
``on_cancellation`` hook to cover tasks that Prefect cannot interrupt (those running on a
worker thread of the task runner).

None of the tasks caches or retries: a second submission is a second job, and slurm-client
already retries what is safe to retry.

Example::

    from prefect import flow
    from slurm_core.jobs import JobBuilder
    from slurm_prefect import SlurmCredentials
    from slurm_prefect.tasks import run_slurm_job

    @flow
    async def hello() -> str | None:
        spec = JobBuilder().command(["hostname"]).partition("debug").to_spec()
        result = await run_slurm_job(await SlurmCredentials.aload("hpc"), spec)
        return result.stdout
"""

from __future__ import annotations

from collections.abc import Mapping

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from slurm_core.graph import GraphError, JobGraph
from slurm_core.jobs import AsyncJobBuilder, JobBuilder, JobSpec, SubmittedJob
from slurm_prefect import _run
from slurm_prefect._run import SlurmJobResult
from slurm_prefect.credentials import SlurmCredentials

__all__ = [
    "cancel_slurm_job",
    "run_slurm_job",
    "submit_slurm_graph",
    "submit_slurm_job",
    "wait_for_slurm_graph",
    "wait_for_slurm_job",
]

JobLike = JobSpec | JobBuilder | AsyncJobBuilder
JobRef = int | str | SubmittedJob


def _spec(job: JobLike) -> JobSpec:
    return job if isinstance(job, JobSpec) else job.to_spec()


def _ended(result: SlurmJobResult) -> str:
    if result.signal:
        return f"{result.state}, killed by signal {result.signal}"
    return f"{result.state} with exit code {result.exit_code}"


def _job_id(job: JobRef) -> int | str:
    return job.job_id if isinstance(job, SubmittedJob) else job


@task(name="submit-slurm-job", cache_policy=NO_CACHE)
async def submit_slurm_job(credentials: SlurmCredentials, job: JobLike) -> SubmittedJob:
    """Submit a job; returns its id (and slurmrestd's warnings) without waiting.

    ``job`` is a :class:`~slurm_core.jobs.JobSpec` or a builder (``JobBuilder()...``).

    Example::

        @flow
        async def submit_only() -> int:
            spec = JobBuilder().command(["sleep", "60"]).to_spec()
            submitted = await submit_slurm_job(await SlurmCredentials.aload("hpc"), spec)
            return submitted.job_id
    """
    async with credentials.get_async_client() as client:
        return await _run.asubmit(client, credentials, _spec(job), get_run_logger())


@task(name="wait-for-slurm-job", cache_policy=NO_CACHE)
async def wait_for_slurm_job(
    credentials: SlurmCredentials,
    job: JobRef,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
    fetch_output: bool = True,
) -> SlurmJobResult:
    """Wait for a job to end, logging its state changes; fail unless it completed.

    ``job`` is a job id or what :func:`submit_slurm_job` returned. After ``wait_timeout``
    seconds the job is cancelled and the task fails with
    :class:`~slurm_core.watch.WaitTimeoutError`. A cancelled flow run cancels the job
    unless ``cancel_on_interrupt`` is false. ``fetch_output`` reads the job's standard
    output into the result when the client can reach the file.

    Example::

        @flow
        async def submit_then_wait() -> SlurmJobResult:
            credentials = await SlurmCredentials.aload("hpc")
            submitted = await submit_slurm_job(credentials, spec)
            return await wait_for_slurm_job(credentials, submitted, wait_timeout=3600)
    """
    logger = get_run_logger()
    job_id = _job_id(job)
    async with credentials.get_async_client() as client:
        await _run.await_job(
            client,
            credentials,
            job_id,
            logger,
            wait_timeout=wait_timeout,
            cancel_on_interrupt=cancel_on_interrupt,
        )
        result = await _run.aresult(client, job_id, fetch_output=fetch_output)
    await _run.apublish([result], logger)
    return result


@task(name="cancel-slurm-job", cache_policy=NO_CACHE)
async def cancel_slurm_job(
    credentials: SlurmCredentials, job: JobRef, *, signal: int | str | None = None
) -> None:
    """Cancel a job (like ``scancel``), or send it ``signal`` (``"USR1"``, ``15``...).

    Example::

        @flow
        async def stop(job_id: int) -> None:
            await cancel_slurm_job(await SlurmCredentials.aload("hpc"), job_id)
    """
    job_id = _job_id(job)
    async with credentials.get_async_client() as client:
        await client.jobs.cancel(job_id, signal)
    what = f"Sent signal {signal} to" if signal is not None else "Cancelled"
    get_run_logger().info("%s SLURM job %s", what, job_id)


@task(name="run-slurm-job", cache_policy=NO_CACHE)
async def run_slurm_job(
    credentials: SlurmCredentials,
    job: JobLike,
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
    fetch_output: bool = True,
) -> SlurmJobResult:
    """Submit a job and wait for it: :func:`submit_slurm_job` then :func:`wait_for_slurm_job`
    in one task run (same arguments).

    Example::

        @flow
        def nightly() -> None:
            spec = JobBuilder().command(["python", "etl.py"]).time_limit("1:00:00").to_spec()
            result = run_slurm_job.submit(SlurmCredentials.load("hpc"), spec).result()
            print(result.state, result.exit_code)
    """
    logger = get_run_logger()
    async with credentials.get_async_client() as client:
        job_id = await _run.arun_job(
            client,
            credentials,
            _spec(job),
            logger,
            wait_timeout=wait_timeout,
            cancel_on_interrupt=cancel_on_interrupt,
        )
        result = await _run.aresult(client, job_id, fetch_output=fetch_output)
    await _run.apublish([result], logger)
    return result


@task(name="submit-slurm-graph", cache_policy=NO_CACHE)
async def submit_slurm_graph(credentials: SlurmCredentials, graph: JobGraph) -> dict[str, int]:
    """Submit a :class:`~slurm_core.graph.JobGraph` at once, each edge a Slurm dependency.

    Slurm starts each job when its dependencies are met: nothing waits for the flow.
    Returns ``{node name: job id}``.

    Example::

        graph = JobGraph("etl")
        extract = graph.add("extract", JobBuilder().command(["./extract.sh"]))
        graph.add("load", JobBuilder().command(["./load.sh"]), after_ok=[extract])
        job_ids = await submit_slurm_graph(credentials, graph)
    """
    async with credentials.get_async_client() as client:
        return await _run.asubmit_graph(client, credentials, graph, get_run_logger())


@task(name="wait-for-slurm-graph", cache_policy=NO_CACHE)
async def wait_for_slurm_graph(
    credentials: SlurmCredentials,
    graph: JobGraph,
    job_ids: Mapping[str, int],
    *,
    wait_timeout: float | None = None,
    cancel_on_interrupt: bool = True,
    fetch_output: bool = True,
) -> dict[str, SlurmJobResult]:
    """Wait for a submitted graph; fail unless every job completed.

    Jobs whose dependency can never be met (an ``afterok`` on a failed job) are cancelled
    rather than left pending. Returns ``{node name: result}``; raises
    :class:`~slurm_core.graph.GraphError` naming each node that failed or never ran.
    ``wait_timeout`` and interruptions cancel the jobs not finished yet.

    Example::

        results = await wait_for_slurm_graph(credentials, graph, job_ids, wait_timeout=7200)
    """
    logger = get_run_logger()
    async with credentials.get_async_client() as client:
        outcome = await _run.await_graph(
            client,
            credentials,
            graph,
            job_ids,
            logger,
            wait_timeout=wait_timeout,
            cancel_on_interrupt=cancel_on_interrupt,
        )
        results = {
            name: await _run.aresult(client, job_id, fetch_output=fetch_output)
            for name, job_id in outcome.job_ids.items()
            if name in outcome.events
        }
    await _run.apublish(list(results.values()), logger)
    if not outcome.ok:
        failed = [
            f"{name} (job {outcome.job_ids[name]}) never ran: a dependency failed"
            if name in outcome.unrunnable or name not in results
            else f"{name} (job {outcome.job_ids[name]}) {_ended(results[name])}"
            for name, state in outcome.states.items()
            if state != "COMPLETED"
        ]
        raise GraphError(
            f"job graph {graph.name!r} did not complete: {'; '.join(failed)}",
            submitted=outcome.job_ids,
        )
    return results
