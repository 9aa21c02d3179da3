"""Real Prefect flows against the real local SLURM clusters (the ``slurm_cluster`` fixture).

Jobs are short (``sleep 1``); output goes to the cluster's shared directory, which the
client reads back as the job's stdout.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import signal
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
import prefect_flows
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId
from prefect.client.schemas.objects import StateType
from prefect.runner import Runner
from prefect.settings import get_current_settings
from prefect.states import Cancelling
from prefect_helpers import eventually, flow_run_logs, job
from slurm_prefect import SlurmCredentials, SlurmJob, SlurmJobResult
from slurm_prefect.flows import run_slurm_graph
from slurm_prefect.tasks import run_slurm_job

from slurm_core import AsyncSlurmClient, JobFailedError
from slurm_core.graph import JobGraph

if TYPE_CHECKING:
    from slurm_core.testing.cluster import LocalSlurmCluster

pytestmark = pytest.mark.anyio


# ------------------------------------------------------------------------ run, fail ----------
async def test_submit_and_wait_in_an_async_flow(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    @flow
    async def pipeline() -> SlurmJobResult:
        spec = job(work_dir, "hello", "echo hello from $SLURM_JOB_ID; sleep 1").to_spec()
        return await run_slurm_job(cluster_credentials, spec)

    state = await pipeline(return_state=True)
    result = await state.aresult()
    assert (result.state, result.exit_code) == ("COMPLETED", 0)
    assert result.stdout == f"hello from {result.job_id}\n"
    assert result.nodes

    assert state.state_details.flow_run_id is not None
    logs = await flow_run_logs(state.state_details.flow_run_id)
    assert f"Submitted SLURM job {result.job_id}" in logs
    mine = [m for m in logs if m.startswith(f"SLURM job {result.job_id}:")]
    assert mine[-1].endswith("COMPLETED on " + result.nodes + ", exit code 0")


async def test_a_failing_job_fails_the_task_with_its_exit_code(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    @flow
    async def pipeline() -> SlurmJobResult:
        spec = job(work_dir, "fails", "echo about to fail; exit 3").to_spec()
        return await run_slurm_job(cluster_credentials, spec)

    state = await pipeline(return_state=True)
    assert state.is_failed()
    with pytest.raises(JobFailedError) as failed:
        await state.aresult()
    assert (failed.value.state, failed.value.exit_code) == ("FAILED", 3)

    assert state.state_details.flow_run_id is not None
    async with get_client() as prefect:
        task_runs = await prefect.read_task_runs(
            task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    assert len(task_runs) == 1
    assert task_runs[0].state is not None
    assert task_runs[0].state.type is StateType.FAILED
    assert "exit code 3" in (task_runs[0].state.message or "")


def test_slurm_job_block_in_a_sync_flow(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    block = SlurmJob.from_spec(
        job(work_dir, "block", 'echo "value=$VALUE"').environment({"VALUE": "42"}).to_spec(),
        cluster_credentials,
    )

    @flow
    def pipeline() -> SlurmJobResult:
        run = block.trigger()
        run.wait_for_completion()
        return run.fetch_result()

    result = pipeline()
    assert (result.state, result.stdout) == ("COMPLETED", "value=42\n")


# ------------------------------------------------------------------------ chaining -----------
async def test_a_graph_chains_jobs_through_slurm_dependencies(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    graph = JobGraph("chain")
    # Long enough for the whole graph to be queued first, even on a loaded machine.
    first = graph.add("first", job(work_dir, "first", "sleep 8; echo 1 > first.txt"))
    graph.add("second", job(work_dir, "second", "cat first.txt"), after_ok=[first])

    @flow
    async def pipeline() -> dict[str, SlurmJobResult]:
        return await run_slurm_graph(cluster_credentials, graph)

    results = await pipeline()
    assert results["second"].stdout == "1\n"
    first_end = results["first"].end_time
    second_start = results["second"].start_time
    assert first_end is not None
    assert second_start is not None
    assert second_start >= first_end
    async with cluster_credentials.get_async_client() as client:
        second = await client.jobs.get(results["second"].job_id)
    # Queued before the first job ended: Slurm released it, the flow never submitted late.
    assert second.submit_time is not None
    assert second.submit_time < first_end


# ------------------------------------------------------------------------ cancellation -------
async def _running_job(client: AsyncSlurmClient, name: str) -> int:
    async def check() -> int | None:
        for found in await client.jobs.list(user="alice"):
            if found.name == name and found.state.is_running:
                return found.job_id
        return None

    return await eventually(check, f"job {name} to run", within=180)


async def _ended(client: AsyncSlurmClient, job_id: int) -> str:
    try:
        await client.jobs.wait(job_id, timeout=120)
    except JobFailedError as exc:
        return exc.state
    return "COMPLETED"


async def test_cancelling_the_awaiting_task_cancels_the_job(
    cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    name = f"interrupted-{uuid.uuid4().hex[:6]}"

    @flow
    async def pipeline() -> None:
        await run_slurm_job(cluster_credentials, prefect_flows.long_job(str(work_dir), name))

    async with cluster_credentials.get_async_client() as client:
        async with anyio.create_task_group() as group:
            group.start_soon(pipeline)
            job_id = await _running_job(client, name)
            group.cancel_scope.cancel()
        assert await _ended(client, job_id) == "CANCELLED"


async def _cancel_through_the_api(
    request: pytest.FixtureRequest,
    slurm_cluster: LocalSlurmCluster,
    credentials: SlurmCredentials,
    work_dir: Path,
    deployed: Any,
) -> tuple[int, StateType, list[str]]:
    """Deploy ``deployed`` on a Runner, start a run, cancel it through the Prefect API once
    its SLURM job runs; return the job id, the flow run's final state and its logs.

    Slow (a Runner, its flow-run process, ~40 s) and the same on every release: what differs
    is Prefect's side; the SLURM side is one submission and one cancel, which the core tests
    prove on each release. So it runs once, on 26.05: the release a local run keeps too
    (conftest's ``DEFAULT_RELEASE``)."""
    if slurm_cluster.release != "26.05":
        pytest.skip("a slow orchestrator scenario, run on 26.05 only")
    await credentials.save(prefect_flows.CREDENTIALS_BLOCK, overwrite=True)
    name = f"api-cancel-{uuid.uuid4().hex[:6]}"
    runner = Runner(name=f"runner-{name}", query_seconds=1)
    # Runner.start() installs its own SIGTERM handler in the main thread: give pytest's back.
    sigterm = signal.getsignal(signal.SIGTERM)
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, sigterm))
    deployment_id = await runner.aadd_flow(deployed, name=name)
    async with get_client() as prefect, credentials.get_async_client() as client:
        flow_run = await prefect.create_flow_run_from_deployment(
            deployment_id, parameters={"work_dir": str(work_dir), "name": name}
        )

        async def recorded() -> int | None:
            labels = (await prefect.read_flow_run(flow_run.id)).labels
            ids = [int(k.rsplit(".", 1)[1]) for k in labels if k.startswith("slurm.job.")]
            return ids[0] if ids else None

        async with anyio.create_task_group() as group:
            group.start_soon(runner.start)
            job_id = await _running_job(client, name)
            # Cancel once the task waits for the running job. (Cancelled earlier, while the
            # task still records the job, the task's own guard cancels it, but the label the
            # hook reads may never be written: the assertions below need it.)
            assert await eventually(recorded, "the job on the flow run's labels", 60) == job_id
            await prefect.set_flow_run_state(flow_run.id, Cancelling())

            async def final() -> StateType | None:
                state = (await prefect.read_flow_run(flow_run.id)).state
                return state.type if state is not None and state.is_final() else None

            final_state = await eventually(final, "the flow run to end", within=120)
            ended = await _ended(client, job_id)
            await runner.astop()  # runner.start() returns
        labels = (await prefect.read_flow_run(flow_run.id)).labels
    assert labels.get(f"slurm.job.{job_id}") == slurm_cluster.rest_url
    assert ended == "CANCELLED"
    return job_id, final_state, await flow_run_logs(flow_run.id)


async def test_cancelling_a_flow_run_through_the_api_cancels_its_job(
    request: pytest.FixtureRequest,
    slurm_cluster: LocalSlurmCluster,
    cluster_credentials: SlurmCredentials,
    work_dir: Path,
) -> None:
    """The flow awaits the task and has no hook: the task itself cancels the job."""
    job_id, final_state, logs = await _cancel_through_the_api(
        request, slurm_cluster, cluster_credentials, work_dir, prefect_flows.awaits_a_long_job
    )
    assert final_state is StateType.CANCELLED
    assert any(m.startswith(f"Cancelling SLURM job {job_id}: the run was cancelled") for m in logs)


async def test_the_hook_cancels_jobs_of_tasks_prefect_cannot_interrupt(
    request: pytest.FixtureRequest,
    slurm_cluster: LocalSlurmCluster,
    cluster_credentials: SlurmCredentials,
    work_dir: Path,
) -> None:
    """A sync flow runs the async task on a worker thread: the on_cancellation hook, run by
    the Runner in its own process, cancels the job from the flow run's labels."""
    job_id, final_state, logs = await _cancel_through_the_api(
        request, slurm_cluster, cluster_credentials, work_dir, prefect_flows.submits_a_long_job
    )
    assert final_state is StateType.CANCELLED
    assert any(f"cancelling SLURM job {job_id}" in m for m in logs)


# ------------------------------------------------------------------------ secrecy ------------
def _readable(data: bytes) -> str:
    """A stored result as text: Prefect keeps results pickled and base64-encoded (inside a
    JSON record, or alone), so decode both layers; strings show verbatim in a pickle."""
    texts = [data.decode("latin-1")]
    try:
        payload = json.loads(data)["result"]
    except (ValueError, KeyError, TypeError):
        payload = data.decode("latin-1")
    with contextlib.suppress(ValueError, TypeError):
        texts.append(base64.b64decode(payload).decode("latin-1"))
    return "\n".join(texts)


async def test_the_token_appears_in_no_log_result_parameter_or_block_document(
    slurm_cluster: LocalSlurmCluster,
    cluster_credentials: SlurmCredentials,
    work_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert cluster_credentials.token is not None
    token = cluster_credentials.token.get_secret_value()
    await cluster_credentials.save("leak-check", overwrite=True)
    job_block = SlurmJob.from_spec(
        job(work_dir, "leak-b", "echo from-block").to_spec(), cluster_credentials
    )
    await job_block.save("leak-check-job", overwrite=True)

    @flow(persist_result=True)
    async def pipeline(credentials: SlurmCredentials) -> dict[str, Any]:
        ok = await run_slurm_job.with_options(persist_result=True)(
            credentials, job(work_dir, "leak-ok", "echo visible-output").to_spec()
        )
        # Prefect types return_state=True calls of async tasks as returning the state.
        failed = await cast(
            Any,
            run_slurm_job(
                credentials, job(work_dir, "leak-fail", "exit 4").to_spec(), return_state=True
            ),
        )
        loaded = cast(SlurmJob, await SlurmJob.aload("leak-check-job"))
        run = await loaded.atrigger()
        await run.await_for_completion()
        return {"ok": ok, "failed": str(failed), "block": await run.afetch_result()}

    caplog.set_level(logging.DEBUG)
    state = await pipeline(await SlurmCredentials.aload("leak-check"), return_state=True)
    outcome = await state.aresult()
    assert outcome["ok"].stdout == "visible-output\n"
    assert outcome["block"].stdout == "from-block\n"
    assert "exit code 4" in outcome["failed"]

    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    logs = await flow_run_logs(flow_run_id)
    async with get_client() as prefect:
        flow_run = await prefect.read_flow_run(flow_run_id)
        task_runs = await prefect.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
        )
        documents = await prefect.read_block_documents(include_secrets=False)
    storage = anyio.Path(get_current_settings().results.local_storage_path)
    stored = [
        _readable(await p.read_bytes()) async for p in storage.rglob("*") if await p.is_file()
    ]
    assert any("visible-output" in text for text in stored)  # the results were persisted
    assert {"leak-check", "leak-check-job"} <= {d.name for d in documents}

    seen = {
        "API logs": "\n".join(logs),
        "local logs": caplog.text,
        "flow run": flow_run.model_dump_json(),
        "task runs": json.dumps([t.model_dump(mode="json") for t in task_runs]),
        "block documents": json.dumps([d.model_dump(mode="json") for d in documents]),
        "results": "\n".join(stored),
        "return value": repr(outcome),
    }
    assert any(f"SLURM job {outcome['ok'].job_id}" in m for m in logs)
    signature = token.rsplit(".", 1)[-1]
    for where, text in seen.items():
        assert token not in text, where
        assert signature not in text, where
    assert cast(dict[str, Any], json.loads(seen["flow run"]))["parameters"]["credentials"]
