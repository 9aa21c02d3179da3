"""The job lifecycle under real Prefect flows on the real clusters (issue #17's done-when).

Live output in the run log, an ``afterok`` chain whose upstream fails, the table
artifact, and a flow process that exits (``SystemExit``) mid-job. The restart test
(SIGKILL of ``serve`` and the flow process) is in test_restart.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, cast

import anyio
import prefect_flows
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import StateType
from prefect.runner import Runner
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from prefect.states import Cancelling, Scheduled
from prefect_helpers import eventually, flow_run_logs, job
from slurm_prefect import SlurmCredentials
from slurm_prefect.tasks import run_slurm_job, submit_slurm_job

from slurm_core import AsyncSlurmClient
from slurm_core.lifecycle import DependencyNeverSatisfiedError
from slurm_core.testing.cluster import LocalSlurmCluster


@pytest.fixture(autouse=True)
def _one_release(slurm_cluster: Any) -> None:
    """Slow scenarios, the same on every release: run once (on 24.11)."""
    if slurm_cluster.release != "24.11":
        pytest.skip("a slow orchestrator scenario, run on 24.11 only")


pytestmark = pytest.mark.anyio


async def test_stderr_reaches_the_run_log_while_the_job_runs(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    name = f"live-{uuid.uuid4().hex[:6]}"
    marker = f"progress-{uuid.uuid4().hex[:8]}"
    credentials = cluster_credentials.model_copy(update={"poll_interval": 1.0})
    spec = job(work_dir, name, f"echo {marker} >&2; sleep 120").to_spec()
    runs: list[Any] = []

    @flow
    async def pipeline() -> None:
        runs.append(flow_run.id)
        await run_slurm_job(credentials, spec)

    async with credentials.get_async_client() as client, anyio.create_task_group() as group:
        group.start_soon(pipeline)
        await eventually(lambda: _first(runs), "the flow run to start", within=60)

        async def logged() -> str | None:
            found = [m for m in await flow_run_logs(runs[0]) if marker in m]
            return found[0] if found else None

        line = await eventually(logged, "the job's stderr in the run log", within=120)
        running = [j for j in await client.jobs.list(user="alice") if j.name == name]
        assert len(running) == 1
        assert running[0].state.is_running  # the line came while the job ran
        assert line == f"SLURM job {running[0].job_id} stderr: {marker}"
        group.cancel_scope.cancel()  # the cancel policy ends the job
    async with credentials.get_async_client() as client:
        assert (await client.jobs.get(running[0].job_id)).state.base == "CANCELLED"


async def _first(items: list[Any]) -> Any:
    return items[0] if items else None


async def test_an_afterok_upstream_failure_fails_the_downstream_task_naming_the_upstream(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    poll = 3.0
    credentials = cluster_credentials.model_copy(update={"poll_interval": poll})
    failed_at: list[float] = []

    @flow
    async def pipeline() -> int:
        upstream = await submit_slurm_job(
            credentials, job(work_dir, "upstream", "sleep 2; exit 2").to_spec()
        )
        downstream = (
            job(work_dir, "downstream", "echo never").depends_on(afterok=[upstream.job_id])
        ).to_spec()
        try:
            await run_slurm_job(credentials, downstream)
        except DependencyNeverSatisfiedError:
            failed_at.append(time.time())
            raise
        return upstream.job_id

    state = await pipeline(return_state=True)
    assert state.is_failed()
    with pytest.raises(DependencyNeverSatisfiedError) as caught:
        await state.aresult()
    error = caught.value
    assert "depends on job" in str(error)
    async with credentials.get_async_client() as client:
        upstream = await client.jobs.get(error.upstream_job_id)
        downstream = await client.jobs.get(error.job_id)
    assert upstream.name == "upstream"
    assert (error.upstream_state, error.upstream_exit_code) == ("FAILED", 2)
    assert f"job {upstream.job_id}" in str(error)
    assert downstream.state.base == "CANCELLED"  # it would have pended forever
    assert upstream.end_time is not None
    # Slurm's end time has whole seconds: one more second of slack.
    assert failed_at[0] - upstream.end_time.timestamp() <= 2 * poll + 1


async def test_each_run_gets_a_table_of_its_jobs(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    @flow
    async def pipeline() -> int:
        result = await run_slurm_job(cluster_credentials, job(work_dir, "table", "true").to_spec())
        return result.job_id

    state = await pipeline(return_state=True)
    job_id = await state.aresult()
    async with get_client() as prefect:
        artifacts = await prefect.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    tables = [a for a in artifacts if a.type == "table"]
    assert len(tables) == 1
    rows = cast(list[dict[str, Any]], _rows(tables[0].data))
    assert rows[0]["job id"] == job_id
    assert rows[0]["state"] == "COMPLETED"
    assert rows[0]["exit code"] == 0
    assert rows[0]["nodes"]
    assert rows[0]["stdout"] == f"{work_dir}/table-{job_id}.out"
    assert rows[0]["stderr"] == f"{work_dir}/table-{job_id}.err"


def _rows(data: Any) -> Any:
    return json.loads(data) if isinstance(data, str) else data


async def test_a_sync_flow_cancelled_through_the_api_ends_cancelled_within_one_poll(
    request: pytest.FixtureRequest, cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    """Cancelled through Prefect's API while its sync code sleeps between two polls, the
    run's job is CANCELLED at slurmctld within one poll interval (plus the Runner's own
    1 s look for cancelled runs and a margin), and the flow run ends Cancelled, not
    Crashed."""
    poll = 8.0
    credentials = cluster_credentials.model_copy(update={"poll_interval": poll})
    await credentials.save(prefect_flows.CREDENTIALS_BLOCK, overwrite=True)
    name = f"sync-cancel-{uuid.uuid4().hex[:6]}"
    runner = Runner(name=f"runner-{name}", query_seconds=1)
    # Runner.start() installs its own SIGTERM handler in the main thread: give pytest's back.
    sigterm = signal.getsignal(signal.SIGTERM)
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, sigterm))
    deployment_id = await runner.aadd_flow(prefect_flows.follows_a_long_job_in_sync_code, name=name)
    async with get_client() as prefect, credentials.get_async_client() as client:
        run = await prefect.create_flow_run_from_deployment(
            deployment_id, parameters={"work_dir": str(work_dir), "name": name}
        )

        async def following() -> int | None:
            jobs = [j for j in await client.jobs.list(user="alice") if j.name == name]
            if not (jobs and jobs[0].state.is_running):
                return None
            # The run logs the RUNNING state once its supervisor saw it: it now follows.
            seen = f"SLURM job {jobs[0].job_id}: "
            logs = await flow_run_logs(run.id)
            followed = any(m.startswith(seen) and "RUNNING" in m for m in logs)
            return jobs[0].job_id if followed else None

        async with anyio.create_task_group() as group:
            group.start_soon(runner.start)
            job_id = await eventually(following, "the flow to follow its running job", 180)
            await anyio.sleep(1.0)  # well inside a poll interval: the flow sleeps
            asked = time.monotonic()
            await prefect.set_flow_run_state(run.id, Cancelling())

            async def cancelled() -> float | None:
                state = (await client.jobs.get(job_id)).state
                return time.monotonic() - asked if state.base == "CANCELLED" else None

            took = await eventually(cancelled, "the job to be cancelled", within=60)

            async def final() -> StateType | None:
                state = (await prefect.read_flow_run(run.id)).state
                return state.type if state is not None and state.is_final() else None

            ended = await eventually(final, "the flow run to end", within=60)
            await runner.astop()
    logs = await flow_run_logs(run.id)
    assert ended is StateType.CANCELLED, logs
    assert any(m.startswith(f"Cancelling SLURM job {job_id}: the run was cancelled") for m in logs)
    print(f"job cancelled {took:.1f} s after the cancel request (poll interval {poll:g} s)")
    assert took <= poll + 2.0, f"the job was cancelled {took:.1f}s after the request"


# One attempt of a flow run in a process of its own, as Prefect's engine runs it; SIGUSR1
# makes that process exit (``sys.exit``: a shutdown handler, a library calling exit).
_ATTEMPT = """
import asyncio, signal, sys
from uuid import UUID
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
import prefect_flows

signal.signal(signal.SIGUSR1, lambda signo, frame: sys.exit(3))
with get_client(sync_client=True) as prefect:
    flow_run = prefect.read_flow_run(UUID(sys.argv[1]))
state = asyncio.run(run_flow(prefect_flows.restartable, flow_run=flow_run, return_type="state"))
print("FINAL STATE", state.type.value, flush=True)
"""


def _attempt(flow_run_id: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _ATTEMPT, str(flow_run_id)],
        cwd=Path(__file__).parent,
        env=dict(os.environ, PREFECT_API_URL=str(get_current_settings().api.url)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _jobs_named(client: AsyncSlurmClient, name: str) -> list[int]:
    return [j.job_id for j in await client.jobs.list(user="alice") if j.name == name]


async def test_a_flow_process_exiting_mid_job_leaves_the_job_to_the_next_attempt(
    slurm_cluster: LocalSlurmCluster, cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    """``SystemExit`` is not a cancel (docs/concepts/lifecycle.md, ``PROCESS_EXITED``): the
    job runs on, and the flow run's next attempt re-attaches to it and completes."""
    credentials = cluster_credentials.model_copy(update={"poll_interval": 1.0})
    await credentials.save(prefect_flows.CREDENTIALS_BLOCK, overwrite=True)
    name = f"exits-{uuid.uuid4().hex[:6]}"
    processes: list[subprocess.Popen[str]] = []
    async with get_client() as prefect, credentials.get_async_client() as client:
        try:
            run = await prefect.create_flow_run(
                prefect_flows.restartable, parameters={"work_dir": str(work_dir), "name": name}
            )
            processes.append(first := _attempt(run.id))

            async def following() -> int | None:
                jobs = await _jobs_named(client, name)
                if not (jobs and (await client.jobs.get(jobs[0])).state.is_running):
                    return None
                seen = f"SLURM job {jobs[0]}: "  # the run logs RUNNING once it follows it
                logs = await flow_run_logs(run.id)
                return jobs[0] if any(m.startswith(seen) and "RUNNING" in m for m in logs) else None

            job_id = await eventually(following, "the flow to follow its running job", 180)
            first.send_signal(signal.SIGUSR1)
            out, _ = await anyio.to_thread.run_sync(lambda: first.communicate(timeout=60))
            assert first.returncode == 3, out[-3000:]  # the process exited, mid-job
            logs = await flow_run_logs(run.id)
            assert not any(m.startswith("Cancelling SLURM job") for m in logs), logs
            # Not cancelled: it runs on (or, on a slow machine, has completed meanwhile).
            assert (await client.jobs.get(job_id)).state.base in ("RUNNING", "COMPLETED")

            # The next attempt of the same flow run (what Prefect's rescheduling does).
            await prefect.set_flow_run_state(run.id, Scheduled(), force=True)
            processes.append(second := _attempt(run.id))
            out, _ = await anyio.to_thread.run_sync(lambda: second.communicate(timeout=180))
            assert "FINAL STATE COMPLETED" in out, out[-3000:]
            assert f"Re-attached to SLURM job {job_id}" in await flow_run_logs(run.id)
            assert await _jobs_named(client, name) == [job_id]  # one job
            assert (await client.jobs.get(job_id)).state.base == "COMPLETED"
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            # Never leave a job behind (by slurmctld itself: slurmrestd may be what failed).
            slurm_cluster.run(["scancel", "--name", name])
