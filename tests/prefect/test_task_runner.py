"""``SlurmTaskRunner`` on real Slurm and a real Prefect server: each task a job, ``.map`` one
array, the task engine in the job (it reports to the API), retries, remote tracebacks, cancel.

The jobs run this very interpreter (``share_python``) as the cluster's user, so Prefect and
cloudpickle are there; they reach the test's Prefect server on the loopback address.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter
from prefect.states import State
from slurm_prefect import SlurmCredentials
from slurm_prefect.task_runner import JOB_TAG_PREFIX, SlurmTaskRunner

from slurm_core.testing.cluster import LocalSlurmCluster

# The tasks of this module travel by value: the jobs need not import the test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SLOW_RELEASE = "24.11"


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
        memory_per_cpu="300M",
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
    def pipeline() -> str:
        items = load.submit(5)
        squares = square.map(items)  # waits for `load` (it maps over its result)
        s = total.submit(squares)
        return describe.submit(5, s).result()

    state: State[str] = pipeline(return_state=True)
    assert state.result() == "5 items, sum of squares 30"

    import anyio

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
