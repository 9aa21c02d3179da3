"""``SlurmTaskRunner`` on real Slurm and a real Prefect server: each task a job, ``.map`` one
array, the task engine in the job (it reports to the API), retries, remote tracebacks, cancel.

The jobs run this very interpreter (``share_python``) as the cluster's user, so Prefect and
cloudpickle are there; they reach the test's Prefect server on the loopback address.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import cloudpickle
import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter
from prefect.states import State
from prefect_helpers import eventually, flow_run_logs, load_module
from slurm_prefect import SlurmCredentials
from slurm_prefect.task_runner import JOB_TAG_PREFIX, SlurmTaskRunner

from slurm_core import JobFailedError
from slurm_core.testing.cluster import LocalSlurmCluster, Preemption

# The tasks of this module travel by value: the jobs need not import the test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SLOW_RELEASE = "24.11"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prefect" / "ml_pipeline.py"


@pytest.fixture
def runner(
    slurm_cluster: LocalSlurmCluster, cluster_credentials: SlurmCredentials, work_dir: Path
) -> SlurmTaskRunner:
    slurm_cluster.share_python()
    return SlurmTaskRunner(
        cluster_credentials,
        workspace=work_dir,
        job_user=slurm_cluster.uid(slurm_cluster.user_name),
        time_limit="5:00",
        memory_per_cpu="200M",
    )


async def _task_runs(flow_run_id: Any) -> list[Any]:
    async with get_client() as prefect:
        return await prefect.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(),
        )


def _job_of(tags: list[str]) -> str:
    (job,) = [t[len(JOB_TAG_PREFIX) :] for t in tags if t.startswith(JOB_TAG_PREFIX)]
    return job


@task
def load(n: int) -> list[int]:
    return list(range(n))


@task
def square(x: int) -> int:
    return x * x


@task
def total(values: list[int]) -> int:
    return sum(values)


@task
def describe(n: int, s: int) -> str:
    return f"{n} items, sum of squares {s}"


def test_three_tasks_and_a_map_are_four_jobs_one_an_array(runner: SlurmTaskRunner) -> None:
    @flow(task_runner=runner)
    def pipeline() -> tuple[list[int], int, str]:
        items = load.submit(5)
        squares = square.map(range(5))
        text = describe.submit(5, 30)
        s = total.submit(squares)  # after the array (its upstreams' results as input)
        return items.result(), s.result(), text.result()

    state: State[Any] = pipeline(return_state=True)
    assert state.result() == ([0, 1, 2, 3, 4], 30, "5 items, sum of squares 30")

    runs = anyio.run(_task_runs, state.state_details.flow_run_id)
    jobs = {r.name: _job_of(r.tags) for r in runs}
    assert len(runs) == 8, jobs
    assert all(r.state_type.value == "COMPLETED" for r in runs)
    mapped = sorted(j for n, j in jobs.items() if n.startswith("square"))
    arrays = {j.partition("_")[0] for j in mapped}
    assert len(arrays) == 1, mapped  # ONE array
    assert sorted(j.partition("_")[2] for j in mapped) == ["0", "1", "2", "3", "4"]
    singles = [j for n, j in jobs.items() if not n.startswith("square")]
    assert len(set(singles)) == 3
    assert all(j.isdigit() for j in singles)
    assert arrays.isdisjoint(singles)  # 4 jobs in all, each task's id distinct
    assert len(set(jobs.values())) == 8


@task(retries=1)
def fails(n: int) -> None:
    raise KeyError(f"missing {n}")


def test_a_failing_task_shows_its_exception_and_traceback_and_is_retried(
    runner: SlurmTaskRunner,
) -> None:
    @flow(task_runner=runner)
    def pipeline() -> None:
        fails.submit(3).result()

    state: State[None] = pipeline(return_state=True)
    assert state.is_failed()
    with pytest.raises(KeyError, match="missing 3"):  # the function's own exception
        state.result()

    runs = anyio.run(_task_runs, state.state_details.flow_run_id)
    (run,) = runs
    assert run.run_count == 2  # retries=1: two attempts, in the job
    assert run.state_type.value == "FAILED"
    assert _job_of(run.tags).isdigit()
    logs = anyio.run(flow_run_logs, state.state_details.flow_run_id)
    text = "\n".join(logs)
    assert "Retry 1/1" in text
    assert "KeyError: 'missing 3'" in text
    assert "in fails\nKeyError: 'missing 3'" in text  # the traceback, logged by the job


@task
def sleeps(seconds: int) -> int:
    time.sleep(seconds)
    return seconds


@pytest.mark.anyio
async def test_cancelling_the_flow_run_cancels_its_running_job(
    slurm_cluster: LocalSlurmCluster, cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    """Prefect cancels an in-process flow run by interrupting its code: the runner's exit
    cancels the job (as when a Runner's SIGTERM unwinds a deployed flow run)."""
    if slurm_cluster.release != SLOW_RELEASE:
        pytest.skip(f"a slow orchestrator scenario, run on {SLOW_RELEASE} only")
    slurm_cluster.share_python()
    name = f"cancelled-{uuid.uuid4().hex[:6]}"
    runner = SlurmTaskRunner(
        cluster_credentials,
        workspace=work_dir,
        job_user=slurm_cluster.uid(slurm_cluster.user_name),
        time_limit="10:00",
        memory_per_cpu="200M",
        name=name,
    )

    @flow(task_runner=runner)
    async def pipeline() -> None:
        sleeps.submit(300)
        await anyio.sleep(600)

    async with cluster_credentials.get_async_client() as client:

        async def running() -> int | None:
            for job in await client.jobs.list(user=slurm_cluster.user_name):
                if job.name == name and job.state.is_running:
                    return job.job_id
            return None

        async with anyio.create_task_group() as group:
            group.start_soon(pipeline)
            job_id = await eventually(running, "the task's job to run", within=180)
            group.cancel_scope.cancel()
        with pytest.raises(JobFailedError) as ended:  # not completed: it did not run on
            await client.jobs.wait(job_id, timeout=120)
    assert ended.value.state == "CANCELLED"


def test_the_example_trains_on_a_gpu_and_resumes_after_a_preemption(
    slurm_cluster: LocalSlurmCluster, cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    """The example's GPU step, preempted after a few epochs (as near its time limit): the
    task's job is requeued, Prefect's task engine runs the task again in it, and the
    function resumes from its checkpoint."""
    if slurm_cluster.release != SLOW_RELEASE:
        pytest.skip(f"the GPU example, run on {SLOW_RELEASE} only")
    slurm_cluster.share_python()
    example = load_module("prefect_ml_pipeline_gpu_step", EXAMPLE)
    name = f"gpu-step-{uuid.uuid4().hex[:6]}"

    def job_id() -> int | None:
        with cluster_credentials.get_client() as client:
            jobs = client.jobs.list(user=slurm_cluster.user_name)
        return next((j.job_id for j in jobs if j.name == name and j.state.is_running), None)

    def epochs_done(_: int) -> bool:  # the example's checkpoint after each epoch
        for state in work_dir.rglob("state.json"):
            with contextlib.suppress(ValueError):  # caught mid-write
                if json.loads(state.read_text())["epoch"] >= 3:
                    return True
        return False

    with Preemption(slurm_cluster, job_id, epochs_done) as preempted:
        result = example.run_gpu_training(
            str(work_dir),
            cluster_credentials,
            epochs=12,  # long enough to be preempted
            job_user=slurm_cluster.uid(slurm_cluster.user_name),
            memory_per_cpu="200M",
            name=name,
        )
    assert preempted.job_id is not None
    assert result["epochs"] == 12
    assert result["resumed_at"] >= 3, result  # from its checkpoint, not from scratch
    assert result["gpus"] == "0"
