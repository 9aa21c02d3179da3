"""The tasks and SlurmJob under real Prefect flows, against slurm_core's FakeSlurmServer.

The fake is served over real HTTP, so the blocks build their clients exactly as in
production (URL + token). Its clock runs ``SPEED`` times faster than the wall clock: a job
takes about three real seconds, enough for the watch (which polls every second) to see it
run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import anyio
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Cancelling
from prefect_helpers import eventually, flow_run_logs
from slurm_prefect import SlurmCredentials, SlurmJob, SlurmJobResult
from slurm_prefect.flows import cancel_slurm_jobs, run_slurm_graph
from slurm_prefect.tasks import (
    cancel_slurm_job,
    run_slurm_job,
    submit_slurm_job,
    wait_for_slurm_job,
)

from slurm_core import JobFailedError
from slurm_core.graph import GraphError, JobGraph
from slurm_core.jobs import JobBuilder, JobSpec
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import WaitTimeoutError

pytestmark = pytest.mark.anyio

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.ZmFrZS1zaWduYXR1cmU"
SPEED = 30.0


@pytest.fixture
def fake() -> FakeSlurmServer:
    server = FakeSlurmServer(
        realtime=True,
        speed=SPEED,
        default_runtime=3 * SPEED,
        token=TOKEN,
        require_token=True,
        user="alice",
    )
    server.set_job_outcome(name="fails-*", state="FAILED", exit_code=3)
    server.set_job_outcome(name="slow-*", runtime=3600 * SPEED)  # an hour of real time
    return server


@pytest.fixture
def credentials(fake: FakeSlurmServer) -> Iterator[SlurmCredentials]:
    with fake.serve() as url:
        yield SlurmCredentials(url=url, token=TOKEN, user_name="alice", working_directory="/tmp")


def spec(name: str, *command: str) -> JobSpec:
    return JobBuilder().command(list(command) or ["true"]).name(name).partition("debug").to_spec()


def state_of(fake: FakeSlurmServer, job_id: int) -> str:
    return str(fake.job(job_id).state.base)


async def running(fake: FakeSlurmServer, name: str) -> int:
    """The id of the job called ``name`` once the fake runs it."""

    async def check() -> int | None:
        for job in fake.jobs():
            if job.name == name and job.state.is_running:
                return job.job_id
        return None

    return await eventually(check, f"job {name} to run", within=30)


# ------------------------------------------------------------------------ async flows --------
async def test_run_slurm_job_completes_and_logs_each_transition(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def pipeline() -> SlurmJobResult:
        return await run_slurm_job(credentials, spec("ok-1", "python", "train.py"))

    state = await pipeline(return_state=True)
    result = await state.aresult()
    assert isinstance(result, SlurmJobResult)
    assert (result.state, result.exit_code, result.ok) == ("COMPLETED", 0, True)
    assert fake.script(result.job_id) == "#!/bin/bash\nexec python train.py\n"

    assert state.state_details.flow_run_id is not None
    logs = await flow_run_logs(state.state_details.flow_run_id)
    assert f"Submitted SLURM job {result.job_id}" in logs
    transitions = [m for m in logs if m.startswith(f"SLURM job {result.job_id}:")]
    assert any(m.endswith("RUNNING on node1") for m in transitions)
    assert transitions[-1].startswith(f"SLURM job {result.job_id}: RUNNING -> COMPLETED")
    assert transitions[-1].endswith("exit code 0")


async def test_a_failing_job_fails_the_task_with_its_exit_code(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def pipeline() -> SlurmJobResult:
        return await run_slurm_job(credentials, spec("fails-1"))

    state = await pipeline(return_state=True)
    assert state.is_failed()
    with pytest.raises(JobFailedError) as failed:
        await state.aresult()
    assert (failed.value.state, failed.value.exit_code) == ("FAILED", 3)
    assert "exit code 3" in str(failed.value)

    async with get_client() as prefect:
        task_runs = await prefect.read_task_runs()
    mine = [t for t in task_runs if t.flow_run_id == state.state_details.flow_run_id]
    assert len(mine) == 1
    assert mine[0].state is not None
    assert mine[0].state.is_failed()
    assert "exit code 3" in (mine[0].state.message or "")


async def test_wait_timeout_cancels_the_job(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def pipeline() -> SlurmJobResult:
        return await run_slurm_job(credentials, spec("slow-timeout"), wait_timeout=2)

    state = await pipeline(return_state=True)
    with pytest.raises(WaitTimeoutError):
        await state.aresult()
    (job,) = [j for j in fake.jobs() if j.name == "slow-timeout"]
    assert str(job.state.base) == "CANCELLED"


@pytest.mark.parametrize("cancel_on_interrupt", [True, False])
async def test_interrupting_the_flow_cancels_the_job_unless_told_not_to(
    fake: FakeSlurmServer, credentials: SlurmCredentials, cancel_on_interrupt: bool
) -> None:
    name = f"slow-interrupt-{cancel_on_interrupt}"

    @flow
    async def pipeline() -> None:
        await run_slurm_job(credentials, spec(name), cancel_on_interrupt=cancel_on_interrupt)

    async with anyio.create_task_group() as group:
        group.start_soon(pipeline)
        job_id = await running(fake, name)
        group.cancel_scope.cancel()  # what a cancelled flow run does to an awaited task

    assert state_of(fake, job_id) == ("CANCELLED" if cancel_on_interrupt else "RUNNING")


async def test_submit_wait_and_cancel_tasks(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def pipeline() -> tuple[SlurmJobResult, int]:
        first = await submit_slurm_job(credentials, spec("ok-submit"))
        done = await wait_for_slurm_job(credentials, first)
        slow = await submit_slurm_job(credentials, JobBuilder().command(["sleep", "1"]).name("x"))
        await cancel_slurm_job(credentials, slow, signal="USR1")
        await cancel_slurm_job(credentials, slow.job_id)
        return done, slow.job_id

    done, cancelled = await pipeline()
    assert done.state == "COMPLETED"
    assert fake.signals(cancelled) == ["USR1"]
    assert state_of(fake, cancelled) == "CANCELLED"


async def test_stdout_is_none_when_the_output_file_is_unreachable(
    credentials: SlurmCredentials,
) -> None:
    @flow
    async def pipeline() -> SlurmJobResult:
        return await run_slurm_job(credentials, spec("ok-nooutput"))

    result = await pipeline()
    assert result.ok
    assert result.stdout is None


# ------------------------------------------------------------------------ sync flows ---------
def test_sync_flow_runs_the_async_tasks_through_submit(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    def pipeline() -> SlurmJobResult:
        # Prefect types an async task's future as holding a coroutine; it holds the result.
        submitted: Any = submit_slurm_job.submit(credentials, spec("ok-sync"))
        waited: Any = wait_for_slurm_job.submit(credentials, submitted)  # a future as input
        return cast(SlurmJobResult, waited.result())

    result = pipeline()
    assert result.state == "COMPLETED"
    assert result.exit_code == 0


def test_sync_flow_fails_with_the_job(credentials: SlurmCredentials) -> None:
    @flow
    def pipeline() -> SlurmJobResult:
        return cast(SlurmJobResult, run_slurm_job.submit(credentials, spec("fails-sync")).result())

    with pytest.raises(JobFailedError, match="exit code 3"):
        pipeline()


# ------------------------------------------------------------------------ SlurmJob block -----
def test_slurm_job_block_sync(fake: FakeSlurmServer, credentials: SlurmCredentials) -> None:
    block = SlurmJob(
        credentials=credentials,
        command=["python", "etl.py"],
        job_name="ok-block",
        secret_environment={"API_KEY": "s3cret"},
    )

    @flow
    def pipeline() -> SlurmJobResult:
        run = block.trigger()
        run.wait_for_completion()
        return run.fetch_result()

    result = pipeline()
    assert (result.state, result.exit_code, result.name) == ("COMPLETED", 0, "ok-block")
    assert fake.environment(result.job_id)["API_KEY"] == "s3cret"


async def test_slurm_job_block_async_failure_and_cancel(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    failing = SlurmJob(credentials=credentials, command=["false"], job_name="fails-block")
    slow = SlurmJob(credentials=credentials, command=["sleep", "1d"], job_name="slow-block")

    @flow
    async def pipeline() -> int:
        run = await failing.atrigger()
        with pytest.raises(JobFailedError, match="exit code 3"):
            await run.await_for_completion()
        assert (await run.afetch_result()).exit_code == 3
        other = await slow.atrigger()
        await other.acancel()
        return int(other.job_id)

    cancelled = await pipeline()
    assert state_of(fake, cancelled) == "CANCELLED"


async def test_slurm_job_block_wait_timeout_cancels(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    block = SlurmJob(
        credentials=credentials, command=["sleep", "1d"], job_name="slow-b", wait_timeout=1
    )

    @flow
    async def pipeline() -> None:
        await (await block.atrigger()).await_for_completion()

    with pytest.raises(WaitTimeoutError):
        await pipeline()
    (job,) = [j for j in fake.jobs() if j.name == "slow-b"]
    assert str(job.state.base) == "CANCELLED"


# ------------------------------------------------------------------------ the hook -----------
async def _flow_run(state: State[Any]) -> FlowRun:
    assert state.state_details.flow_run_id is not None
    async with get_client() as prefect:
        return await prefect.read_flow_run(state.state_details.flow_run_id)


async def test_jobs_are_recorded_on_the_flow_run_and_the_hook_cancels_unfinished_ones(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def launcher() -> tuple[int, int]:
        done = await run_slurm_job(credentials, spec("ok-hook"))
        slow = await submit_slurm_job(credentials, spec("slow-hook"))
        return int(done.job_id), slow.job_id

    state = await launcher(return_state=True)
    done, slow = await state.aresult()
    flow_run = await _flow_run(state)
    assert {k: v for k, v in flow_run.labels.items() if k.startswith("slurm.job.")} == {
        f"slurm.job.{done}": credentials.url,
        f"slurm.job.{slow}": credentials.url,
    }
    await running(fake, "slow-hook")

    other_cluster = SlurmCredentials(url="http://elsewhere:6820", token=TOKEN)
    await anyio.to_thread.run_sync(
        cancel_slurm_jobs(other_cluster), launcher, flow_run, Cancelling()
    )
    assert state_of(fake, slow) == "RUNNING"  # recorded for another slurmrestd: untouched

    await anyio.to_thread.run_sync(cancel_slurm_jobs(credentials), launcher, flow_run, Cancelling())
    assert state_of(fake, slow) == "CANCELLED"
    assert state_of(fake, done) == "COMPLETED"  # finished jobs are left alone

    logs = await flow_run_logs(flow_run.id)
    assert any(f"cancelling SLURM job {slow}" in m for m in logs)
    assert not any(f"cancelling SLURM job {done}" in m for m in logs)


async def test_the_hook_loads_saved_credentials_by_name(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    await credentials.save("hook-credentials", overwrite=True)

    @flow
    async def launcher() -> int:
        return (await submit_slurm_job(credentials, spec("slow-named"))).job_id

    state = await launcher(return_state=True)
    slow = await state.aresult()
    flow_run = await _flow_run(state)
    hook = cancel_slurm_jobs("hook-credentials")
    await anyio.to_thread.run_sync(hook, launcher, flow_run, Cancelling())
    assert state_of(fake, slow) == "CANCELLED"


# ------------------------------------------------------------------------ graphs -------------
def _graph(first: str, second: str, third: str) -> JobGraph:
    graph = JobGraph("chain")
    a = graph.add("a", JobBuilder().command(["./a.sh"]).name(first))
    b = graph.add("b", JobBuilder().command(["./b.sh"]).name(second), after_ok=[a])
    graph.add("c", JobBuilder().command(["./c.sh"]).name(third), after_ok=[b])
    return graph


async def test_a_graph_is_submitted_at_once_with_slurm_dependencies(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def pipeline() -> dict[str, SlurmJobResult]:
        return await run_slurm_graph(credentials, _graph("ok-a", "ok-b", "ok-c"))

    state = await pipeline(return_state=True)
    results = await state.aresult()
    assert state.state_details.flow_run_id is not None
    logs = await flow_run_logs(state.state_details.flow_run_id)
    for name, result in results.items():  # every node's changes, live, under its name
        mine = [m for m in logs if m.startswith(f"{name}: SLURM job {result.job_id}: ")]
        assert any("-> RUNNING" in m or m.endswith("RUNNING on node1") for m in mine)
        assert mine[-1].split(": ", 2)[2].startswith("RUNNING -> COMPLETED")
        assert mine[-1].endswith("exit code 0")
    assert {name: r.state for name, r in results.items()} == dict.fromkeys("abc", "COMPLETED")
    jobs = {name: fake.job(r.job_id) for name, r in results.items()}
    # Every job was queued before the first one ended: Slurm chained them, not the flow.
    assert jobs["a"].end_time is not None
    assert all(
        j.submit_time is not None and j.submit_time <= jobs["a"].end_time for j in jobs.values()
    )
    assert jobs["b"].start_time is not None
    assert jobs["b"].start_time >= jobs["a"].end_time
    assert jobs["c"].start_time is not None
    assert jobs["b"].end_time is not None
    assert jobs["c"].start_time >= jobs["b"].end_time


async def test_a_failed_node_fails_the_graph_and_its_dependents_are_cancelled(
    fake: FakeSlurmServer, credentials: SlurmCredentials
) -> None:
    @flow
    async def pipeline() -> dict[str, SlurmJobResult]:
        return await run_slurm_graph(credentials, _graph("ok-g1", "fails-g2", "ok-g3"))

    state = await pipeline(return_state=True)
    with pytest.raises(GraphError) as failed:
        await state.aresult()
    ids = failed.value.submitted
    assert "b (job" in str(failed.value)
    assert "FAILED with exit code 3" in str(failed.value)
    assert f"c (job {ids['c']}) never ran: a dependency failed" in str(failed.value)
    assert state_of(fake, ids["a"]) == "COMPLETED"
    assert state_of(fake, ids["b"]) == "FAILED"
    assert state_of(fake, ids["c"]) == "CANCELLED"  # could never run: not left pending
    assert state.state_details.flow_run_id is not None
    logs = await flow_run_logs(state.state_details.flow_run_id)
    assert f"c: SLURM job {ids['c']} can never run (a dependency failed)" in logs
