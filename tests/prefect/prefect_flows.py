"""Flows that the cancellation tests deploy and run through a Prefect Runner.

A Runner starts each flow run in a child process that loads the flow from this file, so
the flows live in a module of their own; they take only plain parameters and load the
credentials from a saved block (a token never becomes a flow-run parameter).
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow
from slurm_prefect import SlurmCredentials, SlurmJob
from slurm_prefect.flows import cancel_slurm_jobs
from slurm_prefect.tasks import run_slurm_job

from slurm_core.jobs import JobBuilder, JobSpec

CREDENTIALS_BLOCK = "prefect-tests-cluster"


def _job(work_dir: str, name: str, script: str, output: str) -> JobSpec:
    return (
        JobBuilder()
        .script(f"#!/bin/bash\n{script}\n")
        .name(name)
        .partition("debug")
        .time_limit("10:00")
        .working_directory(work_dir)
        .output(f"{work_dir}/{output}")
        .to_spec()
    )


def long_job(work_dir: str, name: str) -> JobSpec:
    """A job that would run for five minutes unless cancelled."""
    return _job(work_dir, name, "sleep 300", "%j.out")


@flow
async def awaits_a_long_job(work_dir: str, name: str) -> None:
    """The task runs in the flow's own code: a cancelled flow run interrupts it."""
    credentials = await SlurmCredentials.aload(CREDENTIALS_BLOCK)
    await run_slurm_job(credentials, long_job(work_dir, name))


@flow(on_cancellation=[cancel_slurm_jobs(CREDENTIALS_BLOCK)])
def submits_a_long_job(work_dir: str, name: str) -> None:
    """The task runs on a task-runner thread, which Prefect cannot interrupt: the hook
    cancels the job."""
    credentials = cast(SlurmCredentials, SlurmCredentials.load(CREDENTIALS_BLOCK))
    future: Any = run_slurm_job.submit(credentials, long_job(work_dir, name))
    future.result()


@flow
def follows_a_long_job_in_sync_code(work_dir: str, name: str) -> None:
    """A sync flow following its job on the flow's own thread, with the SlurmJob block:
    between polls it sleeps, and a cancel must not wait for the next poll."""
    credentials = cast(SlurmCredentials, SlurmCredentials.load(CREDENTIALS_BLOCK))
    SlurmJob.from_spec(long_job(work_dir, name), credentials).trigger().wait_for_completion()


def restartable_job(work_dir: str, name: str) -> JobSpec:
    """A job of about half a minute that leaves its output behind."""
    return _job(work_dir, name, "sleep 30\necho done", "%x-%j.out")


@flow
async def restartable(work_dir: str, name: str) -> int:
    """One task that runs one job: what the restart test kills and runs again."""
    credentials = await SlurmCredentials.aload(CREDENTIALS_BLOCK)
    result = await run_slurm_job(credentials, restartable_job(work_dir, name))
    return result.job_id


if __name__ == "__main__":  # ``python prefect_flows.py NAME``: serve ``restartable`` as NAME
    import sys

    restartable.serve(name=sys.argv[1])
