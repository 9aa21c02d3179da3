"""The job lifecycle under real Prefect flows on the real clusters (issue #17's done-when).

Live output in the run log, an ``afterok`` chain whose upstream fails, and the table
artifact. The restart test (SIGKILL of ``serve`` and the flow process) is in
test_restart.py.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.runtime import flow_run
from prefect_helpers import eventually, flow_run_logs, job
from slurm_prefect import SlurmCredentials
from slurm_prefect.tasks import run_slurm_job, submit_slurm_job

from slurm_core.lifecycle import DependencyNeverSatisfiedError


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
